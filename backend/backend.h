/* backend.h - where deployment state lives, behind a small vtable.
 *
 * The FS layer calls backend->ops->list/get/patch/create/remove and never
 * knows which store it talks to: the local store on disk (local.c), the apps
 * API (api.c, over http.c), Glance (later). Every change is an RFC 6902 JSON Patch
 * against the object's document (jsonpatch.h); each backend turns it into
 * what its store takes. Documents have the remote APIs' own shapes.
 *
 * Every function returns 0 or -errno and fills err on failure; deadline_ns
 * is an absolute CLOCK_MONOTONIC time that network backends must honour.
 * All functions are called from FUSE worker threads concurrently: backends
 * are thread-safe.
 */
#ifndef DEPLOYFS_BACKEND_H
#define DEPLOYFS_BACKEND_H

#include <stdint.h>
#include <jansson.h>
#include "error.h"

enum dfs_kind {
	DFS_ENV,
	DFS_APP,
	DFS_REGISTRY,
	DFS_IMAGE,
	DFS_KIND_COUNT
};

/* "environments", "apps", "registries", "images": the store's folder names.
 * Borrowed, can't fail. */
const char *dfs_kind_dir(enum dfs_kind k);

struct dfs_backend;

/* Called from the backend's own thread when an object changed elsewhere:
 * doc is the new document (borrowed for the call), or NULL when the object
 * is gone. */
typedef void (*dfs_change_cb)(void *arg, enum dfs_kind k, const char *id,
			      const json_t *doc);

struct dfs_backend_ops {
	const char *name;
	/* What .deployfs/events calls a change this backend's watcher reports:
	 * "store" (the local store) or "remote". */
	const char *origin;
	/* All objects of kind k: *out = new reference to a JSON array. */
	int (*list)(struct dfs_backend *b, enum dfs_kind k, json_t **out,
		    int64_t deadline_ns, struct dfs_error *err);
	/* The same, one document at a time: fn(arg, doc) for each (doc is
	 * borrowed for the call; fn returns nonzero to stop), so that a large
	 * store is never held twice in memory. Must be safe to run for two
	 * kinds at once, from two threads. NULL: the model calls list. */
	int (*list_each)(struct dfs_backend *b, enum dfs_kind k,
			 int (*fn)(void *arg, json_t *doc), void *arg,
			 int64_t deadline_ns, struct dfs_error *err);
	/* One object: *out = new reference; -ENOENT when it is gone. */
	int (*get)(struct dfs_backend *b, enum dfs_kind k, const char *id,
		   json_t **out, int64_t deadline_ns, struct dfs_error *err);
	/* Apply patch to the object as the store holds it now (not as the
	 * caller last saw it: no lost updates), bump its version / updated_at,
	 * and commit. *out = new reference to the whole document after. */
	int (*patch)(struct dfs_backend *b, enum dfs_kind k, const char *id,
		     const json_t *patch, json_t **out, int64_t deadline_ns,
		     struct dfs_error *err);
	/* Create an object from doc (no id: the store assigns it).
	 * *out = new reference to the created document. NULL: not supported. */
	int (*create)(struct dfs_backend *b, enum dfs_kind k, const json_t *doc,
		      json_t **out, int64_t deadline_ns, struct dfs_error *err);
	/* Delete an object. NULL: not supported. */
	int (*remove)(struct dfs_backend *b, enum dfs_kind k, const char *id,
		      int64_t deadline_ns, struct dfs_error *err);
	/* Start reporting changes made elsewhere through cb, from a thread
	 * of the backend's own. NULL: changes are not watched. */
	int (*watch)(struct dfs_backend *b, dfs_change_cb cb, void *arg);
	/* Stop watching and free everything. Accepts NULL. */
	void (*free)(struct dfs_backend *b);
};

struct dfs_backend {
	const struct dfs_backend_ops *ops;
};

/* A fresh random (version 4) UUID, as the stores' ids are: 36 characters
 * and a NUL into out. Can't fail. */
void dfs_new_uuid(char out[37]);

/* Tokens of the remote backends (api_token_file=, glance_token_file=). */
#define DFS_TOKEN_MAX 8192
/* 1 when t can go into a header: one line of visible ASCII. */
int dfs_token_ok(const char *t);
/* Read the token file path (named option in error lines): a malloc'd
 * token in *out (free it with dfs_secret_free), trailing blanks and the
 * newline dropped. 0 or -errno with err; never quotes the content. */
int dfs_token_read_file(const char *path, const char *option, char **out, struct dfs_error *err);
/* The token of a remote backend: read from file (named option in error
 * lines) when given, else taken from the environment variable env. *out is
 * a malloc'd token (dfs_secret_free), or NULL when there is none. 0 or
 * -errno with err. */
int dfs_token_load(const char *file, const char *option, const char *env, char **out,
		   struct dfs_error *err);

/* The backend's operations, called through these: each checks once what
 * every backend would (an id given and at most DFS_ID_MAX bytes, the
 * deadline not passed, the operation supported: EPERM when not) and then
 * calls the backend's. */
#define DFS_ID_MAX 255
int dfs_backend_list(struct dfs_backend *b, enum dfs_kind k, json_t **out, int64_t deadline_ns,
		     struct dfs_error *err);
int dfs_backend_list_each(struct dfs_backend *b, enum dfs_kind k,
			  int (*fn)(void *arg, json_t *doc), void *arg, int64_t deadline_ns,
			  struct dfs_error *err);
int dfs_backend_patch(struct dfs_backend *b, enum dfs_kind k, const char *id,
		      const json_t *patch, json_t **out, int64_t deadline_ns,
		      struct dfs_error *err);
int dfs_backend_create(struct dfs_backend *b, enum dfs_kind k, const json_t *doc, json_t **out,
		       int64_t deadline_ns, struct dfs_error *err);
int dfs_backend_remove(struct dfs_backend *b, enum dfs_kind k, const char *id,
		       int64_t deadline_ns, struct dfs_error *err);
/* "store" or "remote": what .deployfs/events calls its changes. */
const char *dfs_backend_origin(const struct dfs_backend *b);
/* Stop watching and free. Accepts NULL. */
void dfs_backend_free(struct dfs_backend *b);

/* Sleep until until_ns (dfs_now_ns's clock) in slices of at most
 * DFS_SLEEP_SLICE_NS: 0, or -ECANCELED with err once dfs_cancel_all() was
 * called. */
#define DFS_SLEEP_SLICE_NS 20000000LL
int dfs_sleep_until(int64_t until_ns, struct dfs_error *err);

/* Wipe and free a secret. Accepts NULL. */
void dfs_secret_free(char *s);

/* Monotonic clock in ns, and a deadline seconds from now. Can't fail. */
int64_t dfs_now_ns(void);
int64_t dfs_deadline_ns(double seconds);

#endif
