/* tree_int.h - what tree.c shares with scratch.c; not for
 * the FUSE layer. */
#ifndef DEPLOYFS_TREE_INT_H
#define DEPLOYFS_TREE_INT_H

#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include "tree.h"
#include "map.h"

struct dfs_tree {
	struct dfs_fs *fs;
	pthread_mutex_t mu;          /* everything below, and node fields so marked */
	struct dfs_node **byino;     /* index: ino */
	size_t nino, capino;
	struct dfs_map *bykey;       /* key -> node */
	struct dfs_map *scratch;     /* "<parent ino>/<name>" -> scratch or pending node */
	struct dfs_map *hidden;      /* keys of value files renamed away (vim) */
	struct dfs_map *names;       /* "<kind>/<env id>" -> struct tree_names *:
				      * the names of one directory's objects */
	size_t scratch_bytes;        /* sum of every node's size (scratch data) */
	struct dfs_node *retired;    /* forgotten scratch nodes, oldest last:
				      * freed DFS_NODE_GRACE_NS after (below) */
	struct dfs_node *dropped;    /* nodes tree_trim dropped, oldest last:
				      * freed DFS_DROP_GRACE_NS after */
	struct dfs_node *lru_head, *lru_tail;
	size_t nlru;                 /* nodes on that list */
	size_t max_nodes;            /* tree_trim keeps nlru near it; 0: no bound */
	fuse_ino_t *free_inos;       /* inos of freed nodes, given out again */
	size_t nfree, capfree;
	struct timespec born;
	uid_t uid;
	gid_t gid;
};

/* One entry of a directory listing, before it has a node. */
struct ent {
	const char *name;
	const char *key;
	enum dfs_ntype type;
	enum dfs_dtype dtype;
	int has_obj;
	enum dfs_kind kind;
	const char *oid;
	const struct dfs_attr *attr;
	const char *prop;
	const char *link;
	struct dfs_node *node;       /* scratch files and pending properties */
};

/* Return nonzero to stop the listing. */
typedef int (*ent_fn)(void *arg, const struct ent *e);

/* The scratch map's key of name in the directory parent. */
static inline void tree_scratch_key(char *out, size_t outsz, fuse_ino_t parent, const char *name)
{
	snprintf(out, outsz, "%lu/%s", (unsigned long)parent, name);
}

/* Node table, tree mutex held. */
struct dfs_node *tree_node_alloc(struct dfs_tree *t);
/* Frees n and takes its scratch data off t->scratch_bytes. */
void tree_node_free(struct dfs_tree *t, struct dfs_node *n);
/* Tree mutex held. Take n out of the node table and free it later: a
 * handler that fetched n just before (dfs_tree_get hands out pointers
 * without a reference) may still read it for a moment. Also frees what
 * was retired more than DFS_NODE_GRACE_NS ago. */
#define DFS_NODE_GRACE_NS (10LL * 1000000000)
void tree_node_retire(struct dfs_tree *t, struct dfs_node *n);
/* A node the kernel no longer knows (or never knew: listed, never looked
 * up) is only read by the thread that holds the tree mutex, or by a
 * handler finishing its reply: a second is plenty. */
#define DFS_DROP_GRACE_NS (1LL * 1000000000)
/* Tree mutex held. n's parent becomes the directory parent (0: none);
 * every assignment of n->parent goes through here, so that the index by
 * parent (dfs_node.kids) holds every node that has one. */
void tree_node_set_parent(struct dfs_tree *t, struct dfs_node *n, fuse_ino_t parent);
/* Model lock and tree mutex held: the child called name, or NULL. */
struct dfs_node *tree_find_child(struct dfs_tree *t, struct dfs_node *dir, const char *name);
/* The same, also when an editor renamed it away (*hidden is then 1). */
struct dfs_node *tree_find_hidden(struct dfs_tree *t, struct dfs_node *dir, const char *name,
				  int *hidden);
/* Model lock held: render a value file. */
int tree_render(struct dfs_tree *t, struct dfs_node *n, char **buf, size_t *len);
void tree_lock_both(struct dfs_tree *t);

/* The scratch store (scratch.c). Tree mutex held. */
/* Whether editors may leave scratch files in dir, and whether another name
 * made in it is a new property (the directory type's say). */
int scratch_allowed(const struct dfs_node *dir);
int scratch_new_names(const struct dfs_node *dir);
/* The scratch entries of the directory parent. */
size_t scratch_count(struct dfs_tree *t, fuse_ino_t parent);
/* A new scratch node called name in dir (NULL out of memory). */
struct dfs_node *scratch_new(struct dfs_tree *t, struct dfs_node *dir, const char *name,
			     mode_t mode);
/* Forget a scratch entry by name (it stays alive while the kernel still
 * knows its inode). */
void scratch_drop(struct dfs_tree *t, fuse_ino_t parent, const char *name);
/* The value file src renamed to the scratch name newname in dir, holding
 * content: the value file is hidden until it is created again. */
void scratch_from_value(struct dfs_tree *t, struct dfs_node *dir, struct dfs_node *src,
			const char *newname, char *content, size_t len);
/* The scratch file src renamed over the value file dst, whose value it
 * wrote: src's entry is gone, dst is shown again. */
void scratch_to_value(struct dfs_tree *t, struct dfs_node *dir, struct dfs_node *src,
		      struct dfs_node *dst);
/* Keep n (and its node) while the locks are let go: a node nobody holds
 * may be let go (tree_trim), a scratch one retired. A pinned node is found
 * again by name before it is used after. */
void tree_pin(struct dfs_node *n);
void tree_unpin(struct dfs_node *n);

/* mkdir and rmdir in the directories that make objects (mkdir.c; the
 * directory types, dirtype.c, say which). */
int dfs_make_registry(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		      struct dfs_node **out);
int dfs_drop_registry(struct dfs_tree *t, struct dfs_node *dir, const char *name);
int dfs_make_env(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		 struct dfs_node **out);
int dfs_drop_env(struct dfs_tree *t, struct dfs_node *dir, const char *name);
int dfs_make_app(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		 struct dfs_node **out);
int dfs_drop_app(struct dfs_tree *t, struct dfs_node *dir, const char *name);
void tree_unlock_both(struct dfs_tree *t);

#endif
