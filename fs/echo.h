/* echo.h - inotify events for changes made elsewhere (README, inotify).
 *
 * The kernel makes IN_MODIFY and IN_CLOSE_WRITE only for a write that
 * passes through it; no notification a FUSE daemon can send makes them.
 * So when a value file's content changes elsewhere (another daemon on the
 * store, a hand edit, a poll of the apps API or Glance, a drift check),
 * one echo thread writes the new content into that file through the mount
 * (open O_WRONLY, one write at offset 0, close; O_TRUNC and no write for an
 * empty content), and the write path knows that
 * thread's requests by their pid, which the kernel fills with the id of
 * the thread that made the call (gettid(), not getpid()): such an open
 * gets no write state (dfs_echo_open), its write commits nothing and
 * only checks that it wrote what the file holds now (dfs_echo_write). The
 * watchers get OPEN, MODIFY and CLOSE_WRITE, as for a write through the
 * mount (whose truncation is a second MODIFY). No truncation: a reader
 * never sees the file empty in between.
 *
 * Queue: one entry per file (keyed by its path) holding the latest
 * content; a file changed again before its turn is written once, with
 * its newest content. At most DFS_ECHO_MAX files wait; changes to more
 * files than that get no inotify event (the log counts them).
 *
 * Only files a watch can be on are written: a watch holds its inode, so a
 * file neither of whose inode nor its directory's the kernel holds has no
 * watcher (its directory's key, or its own, has a lookup count).
 *
 * Locking: e->mu protects the queue; it is never held while talking to
 * the kernel. dfs_echo_file and dfs_echo_change take it and the tree
 * mutex (inside the model lock if the caller holds that); they never
 * wait on the mount, so any thread may call them, a FUSE handler too.
 * The thread itself must never be waited for by a handler.
 */
#ifndef DEPLOYFS_ECHO_H
#define DEPLOYFS_ECHO_H

#include <stddef.h>
#include <sys/types.h>
#include <fuse_lowlevel.h>
#include "backend.h"

#define DFS_ECHO_MAX 4096

struct dfs_fs;
struct dfs_obj;
struct dfs_attr;
struct dfs_node;
struct dfs_echo;

/* Start the echo thread, writing under mountpoint (absolute; copied).
 * NULL on failure (the log says why). */
struct dfs_echo *dfs_echo_new(struct dfs_fs *fs, const char *mountpoint);
/* Stop the thread, dropping what is queued and what comes later, and
 * wait for it. Call it while the session still serves requests: the
 * thread may be inside a system call on the mount. Accepts NULL. */
void dfs_echo_stop(struct dfs_echo *e);
/* Stop and free. Accepts NULL. */
void dfs_echo_free(struct dfs_echo *e);

/* Queue the file name of object (k, id) at path (mount-relative) to be
 * written with content (len bytes, copied): the latest content wins.
 * name is an attribute's name, or a custom property's key when prop is
 * set. Nothing when the kernel holds neither the file nor its directory,
 * when the mount is read-only, or after dfs_echo_stop. e may be NULL. */
void dfs_echo_file(struct dfs_echo *e, enum dfs_kind k, const char *id, const char *name,
		   int prop, const char *path, const char *content, size_t len);

/* The hook of the events publisher (fanout.c): the file of attribute a
 * (custom property prop) of object o at path changed to value (the event
 * value: without its last newline, NULL when empty) by a change from
 * origin. Queues it unless origin is "mount" (the writer's own write made
 * the events). */
void dfs_echo_change(struct dfs_fs *fs, const struct dfs_obj *o, const struct dfs_attr *a,
		     const char *prop, const char *path, const char *value, const char *origin);

/* OPEN of n (any file) by req: 1 when it is the echo thread opening a
 * value file for writing; fi is then set up (no write state, direct_io)
 * and the caller replies with it. 0: any other open, fi untouched. */
int dfs_echo_open(struct dfs_fs *fs, fuse_req_t req, struct dfs_node *n,
		  struct fuse_file_info *fi);

/* WRITE to value file n on an open with no write state: 0 when req is
 * the echo thread's and buf is what n holds now (nothing is committed);
 * -ESTALE when n changed again since (the kernel's copy of n is dropped;
 * the newer change has its own echo); -EBADF when req is not the echo
 * thread's (what such a write got before). */
int dfs_echo_write(struct dfs_fs *fs, fuse_req_t req, struct dfs_node *n, const char *buf,
		   size_t size, off_t off);

#endif
