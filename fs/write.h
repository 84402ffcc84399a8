/* write.h - the one write path: a value written to a file, from OPEN to
 * RELEASE, becomes one validated change (README, "Writing values").
 *
 * An open of a value file for writing is a write handle. A value normally
 * comes whole in the first write(2) at offset 0, which validates and
 * commits it, so the writer (bash included) sees any failure. Writers that
 * send one value in pieces (emacs, a shell's loop writing tags line by
 * line) have them gathered and committed once; a truncated open closed
 * without a write removes the value or is refused. write.c explains each
 * case, and how a shell's close is told from its children's.
 *
 * A commit: the value is normalised once (one trailing "\n" or "\r\n"
 * dropped, at most DFS_VALUE_MAX bytes, no NUL), the object's write lock
 * taken, the attribute's store function (schema.h) given a narrow context
 * (struct dfs_store_ctx) to validate it and build a JSON Patch, the patch
 * sent to the backend, and the outcome recorded as one model update
 * (dfs_model_commit, or dfs_model_set_error for a refusal). Then one
 * post-commit hook publishes the change (.deployfs/events, stale entries)
 * and drops the kernel's attributes of the object's changed files: from
 * inside the request, attributes only (a negative offset takes no page
 * lock; see "Locking" in model.h).
 *
 * The functions take the handle (w), the value file of the request (n,
 * DFS_N_VALUE) and, where they may commit, the daemon (fs); n and fs are
 * borrowed.
 *
 * Locking: the caller holds no lock; a commit takes obj->wlock, then the
 * model and tree locks as model.h orders them. A handle's state has no
 * lock of its own: nothing here serialises two requests of one open that
 * FUSE's worker threads carry at once (ops.c never did either). The
 * handle list (handles.h) has its own mutex.
 */
#ifndef DEPLOYFS_WRITE_H
#define DEPLOYFS_WRITE_H

#include <stdint.h>
#include <sys/types.h>
#include "fs.h"

struct dfs_node;
struct dfs_handle;
struct dfs_write_handle;

/* ---- the open -> write -> flush -> release state machine ---- */

/* A new write handle for n, opened with open(2) flags. It starts
 * truncated with O_TRUNC, or when created (the open is a CREATE) and n is
 * not a pending property. It is on the handle list (kind DFS_H_WRITE), so
 * dfs_handles_free_all frees it if its RELEASE never comes. Caller owns the
 * result: fi->fh = (uintptr_t)dfs_write_handle_link(w); free it with
 * dfs_write_release or dfs_write_free. NULL on ENOMEM. */
struct dfs_write_handle *dfs_write_open(const struct dfs_node *n, int flags, int created);
/* The tagged handle to give the kernel (its first field says DFS_H_WRITE),
 * and back: NULL when h is NULL or not a write handle. */
struct dfs_handle *dfs_write_handle_link(struct dfs_write_handle *w);
struct dfs_write_handle *dfs_write_handle_of(struct dfs_handle *h);
/* Free w without committing anything (a failed reply to OPEN or CREATE,
 * or the session's end). Accepts NULL. */
void dfs_write_free(struct dfs_write_handle *w);

/* WRITE of size bytes at off: commits the whole value, or gathers a piece
 * (checking the lines complete so far of a multi-line value). 0 when the
 * whole write was taken; -EBADF when w is NULL; -EINVAL for a second
 * write, an append or a write after the close-time commit; -EFBIG past
 * DFS_VALUE_MAX; -ENOMEM; else the commit's -errno. Once refused, every
 * later write of w gets the same -errno. */
int dfs_write_data(struct dfs_write_handle *w, struct dfs_fs *fs, struct dfs_node *n,
		   const char *buf, size_t size, off_t off);

/* SETATTR of the size: only 0 is allowed, and it makes w's value a
 * transient empty one (never committed as such) and drops the pieces
 * gathered so far. w may be NULL (a truncate(2) without an open): then it
 * checks and changes nothing. 0, -EACCES for a read-only value, -EINVAL
 * for a size other than 0. Changes nothing in the tree. */
int dfs_write_truncate(struct dfs_write_handle *w, const struct dfs_node *n, off_t size);

/* FSYNC: commits the pieces gathered so far, if any. 0 (also when w is
 * NULL or nothing waits) or the commit's -errno. */
int dfs_write_fsync(struct dfs_write_handle *w, struct dfs_fs *fs, struct dfs_node *n);

/* FLUSH, at every close(2) of a descriptor of the open; lock_owner is the
 * request's fi->lock_owner. Commits gathered pieces, or removes or refuses
 * a truncated value with no write, unless the close is a shell's child's.
 * A FLUSH before any write marks a shell's redirection. Drops n from the
 * listing if it is a pending property whose value was refused. 0 (also
 * when w is NULL), -EINVAL for a truncated open with no write of a value
 * that cannot be empty, or the commit's -errno. */
int dfs_write_flush(struct dfs_write_handle *w, struct dfs_fs *fs, struct dfs_node *n,
		    uint64_t lock_owner);

/* RELEASE, the last close: commits what is still gathered, or removes or
 * refuses a truncated value with no write, drops n from the listing if it
 * is a pending property still without a value, then frees w (steals it;
 * NULL is accepted). The kernel does not wait for RELEASE, so the result
 * (0 or the commit's -errno, also in the error file) is for the log only. */
int dfs_write_release(struct dfs_write_handle *w, struct dfs_fs *fs, struct dfs_node *n);

/* ---- commits without an open (renames, unlink of a property) ---- */

/* Commit the value in buf (size bytes, the file's whole content) to the
 * value file n: normalise, validate, check, patch, record, post-commit
 * hook. 0 or -errno; on failure the object's error file and the log say
 * why, and nothing else changed. -EACCES when n is not a writable value
 * file, -ENOENT when its object is gone. */
int dfs_write_commit(struct dfs_fs *fs, struct dfs_node *n, const char *buf, size_t size);
/* Record a failure that happened before any commit (a second write, EFBIG,
 * a bad property name): the log, n's object's error file, and the
 * post-commit hook's invalidation. n may be a directory (its object). */
void dfs_write_fail(struct dfs_fs *fs, struct dfs_node *n, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The post-commit hook's invalidation alone: drop the kernel's attributes
 * of n's object's files whose content changed. For a rename that made a
 * scratch file the value file (its inode changed kind). No lock held. */
void dfs_write_invalidate(struct dfs_fs *fs, struct dfs_node *n);

/* ---- the registry check, as the mount's policy wants it ---- */

struct dfs_registry_client;

/* What a store function may ask of the registry: set from the mount's
 * options for each commit. */
struct dfs_image_checker {
	struct dfs_registry_client *registry;   /* NULL when registry_check=off */
	enum dfs_check_mode mode;
	int api;             /* the apps API checks private images itself */
};

/* ref must exist in its registry. regdoc is the app's registry object
 * (credentials), or NULL. On 0, digest (DFS_DIGEST_MAX + 1 bytes) holds
 * what the registry answered ("" when the check was skipped). -EINVAL
 * with err for a missing or private image; other -errno as registry.h
 * says. */
int dfs_check_image(const struct dfs_image_checker *c, const struct dfs_reference *ref,
		    const json_t *regdoc, int64_t deadline_ns, char *digest,
		    struct dfs_error *err);

#endif
