/* who.c - who made a change through the mount (who.h). */
#include "who.h"

#include <fuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* the request this thread serves now (uid, pid), and the commit it
 * publishes: both thread-local, so no lock */
static __thread struct { int known; uid_t uid; pid_t pid; } req_now;
static __thread const struct dfs_who *commit_now;

void dfs_who_enter(struct fuse_req *req)
{
	const struct fuse_ctx *ctx = req ? fuse_req_ctx(req) : NULL;

	if (!ctx)
		return;
	req_now.known = 1;
	req_now.uid = ctx->uid;
	req_now.pid = ctx->pid;
}

/* /proc/<pid>/comm: at most 16 bytes, its newline dropped; "" when the
 * process is gone or the file cannot be read. Never blocks: a procfs file. */
static void read_comm(pid_t pid, char *out, size_t outsz)
{
	char path[64];
	ssize_t n;
	int fd;

	out[0] = '\0';
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	do
		n = read(fd, out, outsz - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	/* a command name is the process's own choice (prctl): keep it printable */
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f || *p == '"' || *p == '\\')
			*p = '?';
}

void dfs_who_resolve(struct dfs_who *w)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwuid_r(w->uid, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name &&
	    strlen(res->pw_name) <= DFS_WHO_USER_MAX && res->pw_name[0])
		snprintf(w->user, sizeof(w->user), "%s", res->pw_name);
	else
		snprintf(w->user, sizeof(w->user), "%lu", (unsigned long)w->uid);
	read_comm(w->pid, w->comm, sizeof(w->comm));
}

void dfs_who_request(struct dfs_who *out)
{
	memset(out, 0, sizeof(*out));
	if (!req_now.known)
		return;
	out->known = 1;
	out->uid = req_now.uid;
	out->pid = req_now.pid;
	dfs_who_resolve(out);
}

void dfs_who_begin(const struct dfs_who *w)
{
	commit_now = w && w->known ? w : NULL;
}

void dfs_who_end(void)
{
	commit_now = NULL;
}

const struct dfs_who *dfs_who_committing(void)
{
	return commit_now;
}
