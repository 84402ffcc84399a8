/* dirtype.h - what each kind of directory is, in one table.
 *
 * As configfs's config_item_type bundles a directory's attributes with its
 * make and drop operations, one struct dfs_dir_type says all there is to
 * know about one kind of directory: its mode, its value files, its
 * subdirectories, what it lists (objects, by-name links, properties),
 * whether editors may leave scratch files in it, and what mkdir and rmdir
 * do in it. One struct dfs_kind_desc per kind of object says where its
 * objects live and which files they have. The tree (listing, lookup,
 * attributes), the scratch rules, the change fan-out and the events stream
 * read these tables; none of them switches on directory types.
 *
 * Node keys name every node the tree can make, stable across lookups:
 * "<prefix>" for a directory of no object ("E" environments/, "M"
 * .deployfs/), "<prefix>:<id>" for one of an object ("a:<id>" an app's
 * directory, "A:<env id>" an environment's apps/), and "<dir key>/<name>"
 * for a file in it. dfs_node_key builds them all.
 */
#ifndef DEPLOYFS_DIRTYPE_H
#define DEPLOYFS_DIRTYPE_H

#include <stddef.h>
#include <sys/types.h>
#include "backend.h"
#include "schema.h"
#include "tree.h"

/* One table of value files of an object: in its directory, or in a
 * subdirectory of it (an app's resources/). */
struct dfs_file_table {
	const struct dfs_attr *attrs;      /* NULL ends a list of tables */
	const char *prefix;                /* key prefix of the directory holding them */
	const char *sub;                   /* their path under the object's directory */
};

/* Where the objects of one kind live, and the files each one has. */
struct dfs_kind_desc {
	enum dfs_kind kind;
	const char *folder;                /* its top-level folder ("apps" for apps, which
					    * live under environments: a gone one's path) */
	enum dfs_dtype container;          /* the directory that lists them */
	enum dfs_dtype object;             /* the directory of each one */
	const char *prefix;                /* key prefix of each one's directory */
	const struct dfs_file_table *tables;
	int parent_is_env;                 /* listed in its environment's apps/ */
	int named_by_id;                   /* its directory's name is its id */
	int properties;                    /* properties/: every custom key a file */
	int by_name;                       /* images/by-name/ follows their names */
};

/* A subdirectory a directory always has. */
struct dfs_subdir {
	const char *name;                  /* NULL ends the list */
	enum dfs_dtype type;
	const char *prefix;                /* its key: prefix, or prefix:<object id> */
};

enum dfs_listing {
	DFS_L_NONE,
	DFS_L_OBJECTS,                     /* the objects of a kind (objects) */
	DFS_L_BYNAME,                      /* images/by-name/ links */
	DFS_L_PROPS,                       /* an image's custom properties */
	DFS_L_EVENTS,                      /* .deployfs/events */
};

struct dfs_tree;
struct dfs_node;

struct dfs_dir_type {
	enum dfs_dtype type;
	const char *path;                  /* for messages: "environments/<env>/apps" */
	mode_t mode;                       /* permission bits */
	int has_obj;                       /* it belongs to an object of kind */
	enum dfs_kind kind;
	const struct dfs_attr *attrs;      /* its value files, or NULL */
	const struct dfs_subdir *subdirs;  /* NULL, or ended by a NULL name */
	enum dfs_listing lists;
	const struct dfs_kind_desc *objects;   /* DFS_L_OBJECTS: of which kind */
	int scratch;                       /* editors' scratch files may be made in it */
	int new_names;                     /* another name made in it is a new property */
	int needs_all;                     /* waits for the apps and images that a large
					    * store reads after the mount */
	/* mkdir and rmdir of name in dir; NULL: EACCES */
	int (*make)(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		    struct dfs_node **out);
	int (*drop)(struct dfs_tree *t, struct dfs_node *dir, const char *name);
};

/* The table of dt; never NULL (DFS_D_NONE has an empty one). */
const struct dfs_dir_type *dfs_dir_type(enum dfs_dtype dt);
/* The description of kind k; never NULL for a valid kind. */
const struct dfs_kind_desc *dfs_kind_desc(enum dfs_kind k);

/* A node key into out: prefix; prefix:id when id is set; then /name when
 * name is set. 0, or -ENAMETOOLONG when it does not fit (out is then "",
 * which names no node). */
int dfs_node_key(char *out, size_t outsz, const char *prefix, const char *id, const char *name);
/* The largest key a node may have: a prefix, an id and a file name. */
#define DFS_NODE_KEY_MAX 600

#endif
