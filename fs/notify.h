/* notify.h - telling the kernel about changes made elsewhere.
 *
 * Invalidations for changes that did not come through the mount (another
 * daemon on the same store, a person editing the JSON, the remote API),
 * and every page or entry invalidation, are queued here and sent by one
 * notifier thread: never from inside a request handler, never while
 * holding a lock a handler needs (either deadlocks the mount). The one
 * exception, attribute-only invalidations (a negative offset, no page
 * lock) sent from inside a request by the write path and a read-only
 * open, is described in fs/LOCKING, "Talking to the kernel".
 */
#ifndef DEPLOYFS_NOTIFY_H
#define DEPLOYFS_NOTIFY_H

#include <fuse_lowlevel.h>
#include <jansson.h>
#include "backend.h"

struct dfs_fs;
struct dfs_notifier;

/* Start the notifier thread. NULL on failure. */
struct dfs_notifier *dfs_notifier_new(struct fuse_session *se);
/* Stop the thread, dropping what is queued and what comes later, and wait
 * for it. Call it while the session still serves requests: a notification
 * may wait in the kernel for a request to be answered. Accepts NULL. */
void dfs_notifier_stop(struct dfs_notifier *n);
/* Stop the thread (dropping what is queued) and free. Accepts NULL. */
void dfs_notifier_free(struct dfs_notifier *n);

/* Queue: drop ino's attributes and cached pages. */
void dfs_notifier_inval_inode(struct dfs_notifier *n, fuse_ino_t ino);
/* Queue: drop the entry name in parent. */
void dfs_notifier_inval_entry(struct dfs_notifier *n, fuse_ino_t parent, const char *name);

/* The change fan-out (fanout.c), the model's change callback (a
 * dfs_model_change_cb; arg is the struct dfs_fs), also called after a
 * commit through the mount: publishes the change and queues what a
 * change made elsewhere invalidates. */
void dfs_on_change(void *arg, enum dfs_kind k, const char *id, const json_t *old,
		   const json_t *new_, const char *origin);

#endif
