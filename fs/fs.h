/* fs.h - the daemon's one context, shared by every FUSE handler. */
#ifndef DEPLOYFS_FS_H
#define DEPLOYFS_FS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "backend.h"
#include "error.h"
#include "model.h"
#include "reference.h"

enum dfs_check_mode { DFS_CHECK_STRICT, DFS_CHECK_WARN, DFS_CHECK_OFF };

/* Mount options (README, "Mount options"; deployfs(8)). Strings are malloc'd. */
struct dfs_config {
	char *state;
	char *api, *api_token_file;
	char *glance, *glance_token_file;
	char *cacert;
	char *company;
	enum dfs_check_mode registry_check;
	char **mirrors;       /* "HOST=URL" */
	size_t n_mirrors;
	char **insecure;      /* "HOST[:PORT]" */
	size_t n_insecure;
	double timeout;       /* seconds, for a whole system call */
	double poll;
	size_t max_nodes;     /* max_nodes=: see tree_trim; 0: no bound */
	double drift;         /* seconds between drift checks; 0: off */
};

/* The default of max_nodes=: ~16 MB of nodes. A directory with more
 * entries still lists whole; its entries are looked up again. */
#define DFS_MAX_NODES 32768
#define DFS_MIN_NODES 1024

struct fuse_session;
struct dfs_tree;
struct dfs_notifier;
struct dfs_events;
struct dfs_registry_client;
struct dfs_echo;
struct dfs_drift;

struct dfs_fs {
	struct fuse_session *se;
	struct dfs_config cfg;
	struct dfs_model *model;
	struct dfs_tree *tree;
	struct dfs_notifier *notifier;
	struct dfs_events *events;              /* .deployfs/events */
	struct dfs_registry_client *registry;   /* NULL when registry_check=off */
	struct dfs_backend *backends[DFS_KIND_COUNT];
	struct dfs_echo *echo;                  /* inotify for changes made elsewhere */
	struct dfs_drift *drift;                /* NULL unless drift= */
};

/* The FUSE operations table (ops.c). */
struct fuse_lowlevel_ops;
extern const struct fuse_lowlevel_ops dfs_ops;

#endif
