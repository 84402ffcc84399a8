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

/* Mount options (DESIGN.md, Mount options). Strings are malloc'd. */
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
	double drift;         /* seconds between drift checks; 0: off */
};

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

/* The registry check as the mount's policy wants it (check.c): ref must
 * exist in its registry. regdoc is the app's registry object (credentials),
 * or NULL. On 0, digest holds what the registry answered ("" when the
 * check was skipped). -EINVAL with err for a missing or private image;
 * other -errno as registry.h says. */
int dfs_check_image(struct dfs_fs *fs, const struct dfs_reference *ref, const json_t *regdoc,
		    int64_t deadline_ns, char *digest, struct dfs_error *err);

/* The FUSE operations table (ops.c). */
struct fuse_lowlevel_ops;
extern const struct fuse_lowlevel_ops dfs_ops;

#endif
