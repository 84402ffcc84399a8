/* model.h - the daemon's copy of deployment state: one dfs_obj per object.
 *
 * FUSE handlers read documents from here and never from the store: the
 * store is read once at mount and then only when it changes (a write of
 * ours, or the backend's watcher). Locking (fs/LOCKING lists every lock
 * in its order):
 *   - the model lock (rwlock) protects the maps and every dfs_obj field
 *     marked "model lock"; it is held only for memory work, never across
 *     disk or network I/O;
 *   - obj->wlock serialises writes to one object and is held across the
 *     backend call; take it before the model lock, never after.
 * Objects are never freed while the model lives (a deleted one is marked
 * gone), so a dfs_obj pointer stays valid once found.
 */
#ifndef DEPLOYFS_MODEL_H
#define DEPLOYFS_MODEL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include "backend.h"
#include "error.h"
#include "reference.h"

struct dfs_obj {
	enum dfs_kind kind;
	int gone;                          /* model lock */
	int deleted;                       /* model lock; the document's isDeleted */
	char *id;                          /* immutable */
	char *name;                        /* model lock; its "name" string, or NULL */
	char *text;                        /* model lock; the document, compact JSON;
					    * replaced, never modified */
	json_t *cache;                     /* the document parsed (dfs_obj_doc), or
					    * NULL; set by readers, dropped under
					    * the model write-lock */
	unsigned char used;                /* read since the cache was last trimmed */
	uint64_t gen;                      /* model lock; bumped at each change */
	struct timespec mtime;             /* model lock; time of the last change */
	const char *error;                 /* model lock; "" after a success */
	const char *digest;                /* model lock; last registry answer, or "" */
	pthread_mutex_t wlock;
};

/* Model lock held (read or write). The object's document: borrowed, valid
 * until the model lock is released; NULL only out of memory. The model
 * holds each document as compact text (a third of its parsed size) and
 * keeps a bounded set of recently read ones parsed: reading a document
 * parses it at most once while it stays in use. */
const json_t *dfs_obj_doc(const struct dfs_obj *o);

/* Called after every change the model makes itself (a load, a backend's
 * watcher, dfs_model_create and dfs_model_remove; a commit's change is
 * published by the writer's post-commit hook instead), from the thread that
 * made it (a FUSE worker for "mount", the backend's thread for "store" and
 * "remote"), with neither the model lock nor the tree mutex held. Held may
 * be: the caller's obj->wlock (dfs_model_remove), or the backend's report
 * lock (a watcher), so the callback must not take an object's write lock
 * (fs/LOCKING, "The change callback"). old or new_ is NULL for a created
 * or deleted object. */
typedef void (*dfs_model_change_cb)(void *arg, enum dfs_kind k, const char *id,
				    const json_t *old, const json_t *new_, const char *origin);

struct dfs_model;

/* backends[k] serves kind k (the same backend may serve several kinds);
 * borrowed, must outlive the model. */
struct dfs_model *dfs_model_new(struct dfs_backend *const backends[DFS_KIND_COUNT],
				dfs_model_change_cb cb, void *cb_arg);
void dfs_model_free(struct dfs_model *m);   /* accepts NULL */

/* Read every object from the backends. 0 or -errno with err. The apps
 * and images of a store read file by file (the local store) are left to
 * dfs_model_watch, which reads them in threads of its own: call it after
 * fuse_daemonize. */
int dfs_model_load(struct dfs_model *m, int64_t deadline_ns, struct dfs_error *err);
/* Read what dfs_model_load left, then start the backends' watchers
 * (changes made elsewhere). Returns at once: until the reading is done,
 * dfs_model_rdlock waits for it. */
int dfs_model_watch(struct dfs_model *m);
/* Read what dfs_model_load left, in this thread, without watching: for a
 * program that does not mount (the unit tests). 0 or -errno with err. */
int dfs_model_load_rest(struct dfs_model *m, struct dfs_error *err);
/* fn(arg) runs once the reading that dfs_model_watch starts is done,
 * before the requests waiting for it go on, from a thread that holds no
 * lock: let it take the model's with dfs_model_rdlock_now. Before
 * dfs_model_watch. */
void dfs_model_set_loaded(struct dfs_model *m, void (*fn)(void *arg), void *arg);
/* Stop reading and wait for the readers: before the backends are freed.
 * dfs_model_free does it too. */
void dfs_model_stop(struct dfs_model *m);

/* Wait until every object is read (see dfs_model_watch), then lock. */
void dfs_model_rdlock(struct dfs_model *m);
/* Lock now, read or not: for what needs only environments and
 * registries, which dfs_model_load reads before the mount. */
void dfs_model_rdlock_now(struct dfs_model *m);
void dfs_model_wrlock(struct dfs_model *m);
void dfs_model_unlock(struct dfs_model *m);

/* Model lock held. Borrowed; NULL when unknown or gone. */
struct dfs_obj *dfs_model_find(struct dfs_model *m, enum dfs_kind k, const char *id);
/* Model lock held. A malloc'd array of the live objects of kind k (caller
 * frees the array, the pointers are borrowed); *n its length. */
struct dfs_obj **dfs_model_list(struct dfs_model *m, enum dfs_kind k, size_t *n);
/* Model lock held. The live objects of kind k in one directory, sorted
 * by id, like dfs_model_list: parent is the environment's id for apps
 * (the apps whose envIdRef it is), NULL for the other kinds (all of
 * them). Costs the directory's objects, not the store's: the model keeps
 * them grouped as they change. */
struct dfs_obj **dfs_model_children(struct dfs_model *m, enum dfs_kind k, const char *parent,
				    size_t *n);
/* What serves kind k: "store" (the local store) or "remote" (an API). */
const char *dfs_model_origin(struct dfs_model *m, enum dfs_kind k);
/* Bumped by every change; model lock held. */
uint64_t dfs_model_gen(struct dfs_model *m);
/* The generation of the names of one directory's objects (parent as for
 * dfs_model_children): bumped when the set of names there may have
 * changed: an object created or deleted, or its name, envIdRef or
 * isDeleted changed (for a move between environments, in both). Never 0;
 * a directory that never had an object is at 1. Model lock held. */
uint64_t dfs_model_names_gen(struct dfs_model *m, enum dfs_kind k, const char *parent);
/* One change of a directory's names: obj joined it (added) or left it. */
struct dfs_names_change {
	int added;
	struct dfs_obj *obj;                /* borrowed; its state is the current one */
};
#define DFS_NAMES_SINCE_MAX 8
/* Model lock held. The changes of one directory's names from generation
 * since to now, oldest first, into out: their number, or -1 when the
 * model no longer knows them all (then anything may have changed). Lets
 * an index of names follow a creation, a deletion or a rename at the cost
 * of that change instead of being built again. */
int dfs_model_names_since(struct dfs_model *m, enum dfs_kind k, const char *parent,
			  uint64_t since, struct dfs_names_change out[DFS_NAMES_SINCE_MAX]);

/* Lock obj->wlock, waiting at most until deadline: 0 or -ETIMEDOUT. */
int dfs_obj_wlock(struct dfs_obj *o, int64_t deadline_ns, struct dfs_error *err);
void dfs_obj_wunlock(struct dfs_obj *o);

/* obj->wlock held, model lock not held. One write's outcome as one model
 * update: patch goes to the backend (an empty patch is nothing to change:
 * no request, no new version), then under one write lock the backend's
 * new document (unless it is older than the one held), the error file
 * cleared, digest recorded (when neither NULL nor ""), and the object's
 * and the model's generations bumped once. The change callback is not
 * called: the writer's post-commit hook publishes (write.c). When the
 * document changed, *old and *new_ are new references to it before and
 * after (caller drops them), else NULL. On failure nothing changes and
 * err says why. */
int dfs_model_commit(struct dfs_model *m, struct dfs_obj *o, const json_t *patch,
		     const char *digest, int64_t deadline_ns, struct dfs_error *err,
		     json_t **old, json_t **new_);

/* Create an object from doc through the backend. On success *id_out is a
 * malloc'd copy of its id (caller frees). */
int dfs_model_create(struct dfs_model *m, enum dfs_kind k, const json_t *doc,
		     char **id_out, int64_t deadline_ns, struct dfs_error *err);
/* obj->wlock held. Delete through the backend. */
int dfs_model_remove(struct dfs_model *m, struct dfs_obj *o, int64_t deadline_ns,
		     struct dfs_error *err);

/* A new generation for object (k, id), its document unchanged: what its
 * files show has changed otherwise (its history). No lock held; takes the
 * model lock for writing. Nothing when it is unknown. */
void dfs_model_touch(struct dfs_model *m, enum dfs_kind k, const char *id);

/* Record the last write's failure (e NULL or e->code 0: clear it). */
void dfs_model_set_error(struct dfs_model *m, struct dfs_obj *o, const struct dfs_error *e);
void dfs_model_set_digest(struct dfs_model *m, struct dfs_obj *o, const char *digest);

#endif
