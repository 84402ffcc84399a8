/* shutdown.h - SIGTERM, SIGINT and SIGHUP: a prompt, clean exit.
 *
 * On the first signal, network waits in flight are cancelled
 * (dfs_cancel_all: those writes fail and commit nothing), commits to the
 * store already under way finish, and requests keep being served; once no
 * write is in flight (at most DFS_SHUTDOWN_GRACE_MS later) the session
 * loop is ended as libfuse's own handler ends it, and main unmounts. A
 * second signal ends the loop at once.
 */
#ifndef DEPLOYFS_SHUTDOWN_H
#define DEPLOYFS_SHUTDOWN_H

#define DFS_SHUTDOWN_GRACE_MS 2000

struct dfs_fs;

/* After fuse_set_signal_handlers() and fuse_daemonize(), from the thread
 * that will run the session loop. 0 or -errno. */
int dfs_shutdown_start(struct dfs_fs *fs);
/* After the loop: stop the thread and give libfuse its handlers back.
 * Safe when dfs_shutdown_start was not called or failed. */
void dfs_shutdown_stop(void);

/* Around anything that may wait on the network or commit (a write, mkdir,
 * rmdir): the shutdown waits for these to end. Any thread; can't fail. */
void dfs_busy_enter(void);
void dfs_busy_leave(void);

#endif
