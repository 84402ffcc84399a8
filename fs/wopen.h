/* wopen.h - an open of a value file for writing, from OPEN to RELEASE.
 *
 * A value file takes its whole value in the first write(2) at offset 0,
 * which validates and commits it, so the writer (bash included) sees any
 * failure. Writers that send one value in pieces (emacs, a shell's loop
 * writing tags line by line) have them gathered and committed once; a
 * truncated open closed without a write removes the value or is refused.
 * wopen.c explains each case, and how a shell's close is told from its
 * children's.
 *
 * The functions take the open (w), the value file of the request (n,
 * DFS_N_VALUE) and, where they may commit, the daemon (fs); n and fs are
 * borrowed. Commits and refusals go through dfs_tree_commit,
 * dfs_tree_check and dfs_tree_fail, so the object's error file and the
 * log say why something failed.
 *
 * Locking: the tree functions called take the model and tree locks
 * themselves, so the caller holds none. An open's state has no lock of its
 * own: nothing here serialises two requests of one open that FUSE's worker
 * threads carry at once (ops.c never did either). The handle list
 * (handles.h) has its own mutex.
 */
#ifndef DEPLOYFS_WOPEN_H
#define DEPLOYFS_WOPEN_H

#include <stdint.h>
#include <sys/types.h>

struct dfs_fs;
struct dfs_node;
struct dfs_wopen;

/* Called, from inside the request, after a FLUSH, FSYNC or RELEASE
 * committed or refused n's value: n's object's files (the value, its error
 * file) may show something new, and the kernel's attributes must go. */
typedef void dfs_wopen_changed_fn(struct dfs_fs *fs, struct dfs_node *n);

/* A new open of n for writing, with open(2) flags. It starts truncated
 * with O_TRUNC, or when created (the open is a CREATE) and n is not a
 * pending property. changed is kept for the open's life. The open is on
 * the handle list, so dfs_handles_free_all frees it if its RELEASE never
 * comes. Caller owns the result (store it in fi->fh; free it with
 * dfs_wopen_release or dfs_wopen_free). NULL on ENOMEM. */
struct dfs_wopen *dfs_wopen_new(const struct dfs_node *n, int flags, int created,
				dfs_wopen_changed_fn *changed);
/* Free w without committing anything (a failed reply to OPEN or CREATE,
 * or the session's end). Accepts NULL. */
void dfs_wopen_free(struct dfs_wopen *w);

/* WRITE of size bytes at off: commits the whole value, or gathers a piece
 * (checking the lines complete so far of a multi-line value). Does not
 * call changed: the caller drops n's object's attributes after every
 * write, refused or not. 0 when the whole write was taken; -EBADF when w
 * is NULL; -EINVAL for a second write, an append or a write after the
 * close-time commit; -EFBIG past DFS_VALUE_MAX; -ENOMEM; else the commit's
 * -errno. Once refused, every later write of w gets the same -errno. */
int dfs_wopen_write(struct dfs_wopen *w, struct dfs_fs *fs, struct dfs_node *n,
		    const char *buf, size_t size, off_t off);

/* SETATTR of the size: only 0 is allowed, and it makes w's value a
 * transient empty one (never committed as such) and drops the pieces
 * gathered so far. w may be NULL (a truncate(2) without an open): then it
 * checks and changes nothing. 0, -EACCES for a read-only value, -EINVAL
 * for a size other than 0. Changes nothing in the tree. */
int dfs_wopen_truncate(struct dfs_wopen *w, const struct dfs_node *n, off_t size);

/* FSYNC: commits the pieces gathered so far, if any. 0 (also when w is
 * NULL or nothing waits) or the commit's -errno. */
int dfs_wopen_fsync(struct dfs_wopen *w, struct dfs_fs *fs, struct dfs_node *n);

/* FLUSH, at every close(2) of a descriptor of the open; lock_owner is the
 * request's fi->lock_owner. Commits gathered pieces, or removes or refuses
 * a truncated value with no write, unless the close is a shell's child's.
 * A FLUSH before any write marks a shell's redirection. Drops n from the
 * listing if it is a pending property whose value was refused. 0 (also
 * when w is NULL), -EINVAL for a truncated open with no write of a value
 * that cannot be empty, or the commit's -errno. */
int dfs_wopen_flush(struct dfs_wopen *w, struct dfs_fs *fs, struct dfs_node *n,
		    uint64_t lock_owner);

/* RELEASE, the last close: commits what is still gathered, or removes or
 * refuses a truncated value with no write, drops n from the listing if it
 * is a pending property still without a value, then frees w (steals it;
 * NULL is accepted). The kernel does not wait for RELEASE, so the result
 * (0 or the commit's -errno, also in the error file) is for the log only. */
int dfs_wopen_release(struct dfs_wopen *w, struct dfs_fs *fs, struct dfs_node *n);

#endif
