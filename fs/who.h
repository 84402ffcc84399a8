/* who.h - who made a change through the mount (README, "History, audit
 * and rollback").
 *
 * A change is attributed to the process that wrote it: its user id and
 * user name, from the FUSE request (fuse_req_ctx), and its command name
 * (/proc/<pid>/comm, read once, bounded). Request handlers that may
 * commit (open, create, rename, unlink) note the request with
 * dfs_who_enter; a write handle keeps the who of its open (its later
 * requests may come from another process: a shell's child, the kernel's
 * RELEASE), and a commit names its who for the time of its post-commit
 * hook with dfs_who_begin/dfs_who_end, so that .deployfs/events lines of
 * that change carry it. Thread-local: no lock.
 */
#ifndef DEPLOYFS_WHO_H
#define DEPLOYFS_WHO_H

#include <sys/types.h>

struct fuse_req;

#define DFS_WHO_USER_MAX 64
#define DFS_WHO_COMM_MAX 16   /* TASK_COMM_LEN - 1 */

struct dfs_who {
	int known;                          /* 0: who is unknown (a change made elsewhere) */
	uid_t uid;
	pid_t pid;
	char user[DFS_WHO_USER_MAX + 1];    /* the user name, else the uid in decimal */
	char comm[DFS_WHO_COMM_MAX + 1];    /* the command name, or "" when it ended */
};

/* Note the request being served by this thread (its uid and pid); the
 * name and command are looked up only by dfs_who_request. req may be
 * NULL: nothing noted. */
void dfs_who_enter(struct fuse_req *req);
/* The who of the request this thread noted last, resolved (user name
 * from the user database, command from /proc): into out. out->known is 0
 * when no request was noted. Can't fail. */
void dfs_who_request(struct dfs_who *out);
/* Resolve uid and pid into the user name and command name of w. */
void dfs_who_resolve(struct dfs_who *w);

/* The who of the commit this thread is publishing (borrowed; w must live
 * until dfs_who_end), or NULL outside a commit. */
void dfs_who_begin(const struct dfs_who *w);
void dfs_who_end(void);
const struct dfs_who *dfs_who_committing(void);

#endif
