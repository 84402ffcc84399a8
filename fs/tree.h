/* tree.h - the mounted tree: stable node ids over the model.
 *
 * Every file and directory the contract names is a node with a stable key
 * ("a:<app id>/tag", "i:<image id>/p/<key>", ...) and an inode number that
 * never changes for that key and is never reused. Directory contents are
 * computed from the model when asked (lookups are rare: the kernel caches
 * entries for an hour). Scratch files (editor swap files, sed's temp files)
 * live here, in memory only.
 *
 * Locking: the tree has one mutex for its node tables and scratch data.
 * Functions that read the model take the model lock first and the tree
 * mutex inside it, never the other way round.
 */
#ifndef DEPLOYFS_TREE_H
#define DEPLOYFS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <fuse_lowlevel.h>
#include "backend.h"
#include "schema.h"

enum dfs_ntype { DFS_N_DIR, DFS_N_VALUE, DFS_N_LINK, DFS_N_SCRATCH, DFS_N_EVENTS };

enum dfs_dtype {
	DFS_D_ROOT, DFS_D_ENVS, DFS_D_ENV, DFS_D_APPS, DFS_D_APP, DFS_D_RES,
	DFS_D_IMAGES, DFS_D_BYNAME, DFS_D_IMAGE, DFS_D_PROPS, DFS_D_REGS, DFS_D_REG,
	DFS_D_META, DFS_D_NONE
};

#define DFS_SCRATCH_MAX_PER_DIR 64
#define DFS_SCRATCH_MAX_SIZE (1 << 20)
#define DFS_SCRATCH_MAX_TOTAL (64 << 20)   /* all scratch data of the mount */
#define DFS_VALUE_MAX 4096

struct dfs_node {
	fuse_ino_t ino;                 /* immutable */
	uint64_t nlookup;               /* tree mutex */
	enum dfs_ntype type;
	enum dfs_dtype dtype;           /* directories */
	char *key;                      /* NULL for scratch files */
	int has_obj;
	enum dfs_kind kind;             /* the object it belongs to, if has_obj */
	char *oid;
	const struct dfs_attr *attr;    /* value files */
	char *prop;                     /* custom property key */
	char *link;                     /* symlink target */
	uint64_t seen_hash;             /* content the kernel was last given (atomic) */
	uint64_t hash_gen, hash_val;    /* content hash at object gen (atomic; see
					 * dfs_tree_hash) */
	int pending;                    /* a property created, not written yet */
	/* scratch files, and pending properties: tree mutex */
	fuse_ino_t parent;
	char *name;
	char *data;
	size_t size;
	mode_t mode;
	struct timespec mtime;
	int unlinked;
	char *origin_key;               /* a value file renamed to this scratch name */
	uint64_t origin_hash;           /* its content then */
	struct dfs_node *retired_next;  /* tree mutex: see tree_node_retire */
	int64_t retired_at;
	/* tree mutex: the nodes that can be dropped, least recently used last
	 * (tree_trim); not scratch or pending ones, not the root */
	struct dfs_node *lru_prev, *lru_next;
	int in_lru;
	/* tree mutex: the index by parent (tree_node_set_parent). kids: the
	 * inos of the nodes that were given this directory as parent, a
	 * superset of those that have it now, pruned as it is read. */
	fuse_ino_t indexed_parent;      /* the parent whose kids hold this node */
	fuse_ino_t *kids;
	size_t nkids, capkids;
};

struct dfs_fs;
struct dfs_tree;

struct dfs_tree *dfs_tree_new(struct dfs_fs *fs);
void dfs_tree_free(struct dfs_tree *t);

/* The node of ino, or NULL. Nodes live as long as the kernel knows them. */
struct dfs_node *dfs_tree_get(struct dfs_tree *t, fuse_ino_t ino);

/* Resolve name in dir; on 0 *out is the node and its lookup count is
 * raised by one (the reply hands a reference to the kernel). -ENOENT. */
int dfs_tree_lookup(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		    struct dfs_node **out);
void dfs_tree_forget(struct dfs_tree *t, fuse_ino_t ino, uint64_t n);

/* stat of a node. 0 or -ENOENT (its object is gone). */
int dfs_tree_stat(struct dfs_tree *t, struct dfs_node *n, struct stat *st);

/* Render a value file: malloc'd *buf (caller frees) of *len bytes. Also
 * works for scratch files (a copy of their data). 0 or -errno. */
int dfs_tree_read(struct dfs_tree *t, struct dfs_node *n, char **buf, size_t *len);

/* Hash of a value file's content as served now: rendered only when its
 * object changed since the last call. 0 or -errno. */
int dfs_tree_hash(struct dfs_tree *t, struct dfs_node *n, uint64_t *out);


/* A snapshot of dir's entries for readdir: an array of *count entries
 * (caller frees with dfs_tree_entries_free). */
struct dfs_dirent {
	char *name;
	fuse_ino_t ino;
	mode_t mode;
};
int dfs_tree_entries(struct dfs_tree *t, struct dfs_node *dir, struct dfs_dirent **out,
		     size_t *count);
void dfs_tree_entries_free(struct dfs_dirent *e, size_t count);

/* Scratch files and pending properties. All return 0 or -errno. */
int dfs_tree_create(struct dfs_tree *t, struct dfs_node *dir, const char *name, mode_t mode,
		    struct dfs_node **out);
int dfs_tree_symlink(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		     const char *target, struct dfs_node **out);
int dfs_tree_unlink(struct dfs_tree *t, struct dfs_node *dir, const char *name);
int dfs_tree_rename(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		    struct dfs_node *newdir, const char *newname, unsigned flags);
int dfs_tree_scratch_write(struct dfs_tree *t, struct dfs_node *n, const char *buf, size_t len,
			   off_t off);
int dfs_tree_scratch_truncate(struct dfs_tree *t, struct dfs_node *n, off_t size);
/* mkdir/rmdir: registries only. */
int dfs_tree_mkdir(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		   struct dfs_node **out);
int dfs_tree_rmdir(struct dfs_tree *t, struct dfs_node *dir, const char *name);

/* A property created in properties/ and never written is no property: it
 * leaves the listing (and its scratch slot), and the kernel is told. */
void dfs_tree_drop_pending(struct dfs_tree *t, struct dfs_node *n);
/* A pending property was committed: it is listed from the document now,
 * and leaves its scratch slot. */
void dfs_tree_settle_pending(struct dfs_tree *t, struct dfs_node *n);
/* chmod of a scratch file (the mode is the tree's, under its mutex). */
void dfs_tree_scratch_chmod(struct dfs_tree *t, struct dfs_node *n, mode_t mode);

/* Call fn for every node of object (k, id) that the kernel may cache and
 * whose content now differs from what the kernel was last given, judging
 * the properties by both documents (old may be NULL). */
void dfs_tree_changed_nodes(struct dfs_tree *t, enum dfs_kind k, const char *id,
			    const json_t *old, const json_t *new_,
			    void (*fn)(void *arg, struct dfs_node *n), void *arg);

/* Assign the names of every directory of objects now, not at its first
 * lookup: called once the store is read (dfs_model_set_loaded), so that a
 * first lookup costs the same in a large directory as in a small one. */
void dfs_tree_warm(struct dfs_tree *t);

/* 1 when the creation of object id (kind k, document doc) added its name
 * to its directory and changed no other name there: then no entry the
 * kernel holds went stale. 0 when it may have (or it is not known). */
int dfs_tree_only_added(struct dfs_tree *t, enum dfs_kind k, const char *id, const json_t *doc);

/* Call fn(parent, name) for every entry the kernel may hold whose name no
 * longer leads to the same node after the change of object (k, id) from
 * old to new_ (either NULL for a creation or deletion): an object deleted
 * or renamed, a property removed. Only the directories that change can
 * touch are searched, through the index by parent: the cost is their
 * entries the kernel knows, not the store's. No lock is held while fn
 * runs. */
void dfs_tree_stale_entries(struct dfs_tree *t, enum dfs_kind k, const char *id,
			    const json_t *old, const json_t *new_,
			    void (*fn)(void *arg, fuse_ino_t parent, const char *name), void *arg);

/* The mount-relative directory of object (k, id) as the tree names it now
 * ("environments/prod/apps/web"); for an object that is gone, from doc (its
 * last document). Always fills out. */
void dfs_tree_object_dir(struct dfs_tree *t, enum dfs_kind k, const char *id,
			 const json_t *doc, char *out, size_t outsz);

/* The mount-relative path of a value file, for the log and events. */
void dfs_tree_path(struct dfs_tree *t, struct dfs_node *n, char *out, size_t outsz);

#endif
