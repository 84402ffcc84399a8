/* credhelper.c - `docker-credential-NAME get`, bounded in time and size. */
#include "credhelper.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define NOT_FOUND_MSG "credentials not found in native keychain"
#define ERR_MAX 4096          /* what is kept of the helper's stderr */
#define QUOTE_MAX 200         /* what of its message an error line quotes */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int plain_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return 0;
	return n > 0 && n <= 64 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* What a line may quote of the helper's message: its first line, control
 * characters dropped, cut at QUOTE_MAX bytes. */
static void quote(const char *in, size_t len, char *out, size_t outsz)
{
	size_t i, o = 0;

	while (len && (*in == ' ' || *in == '\n' || *in == '\r' || *in == '\t')) {
		in++;
		len--;
	}
	for (i = 0; i < len && in[i] != '\n' && o + 1 < outsz && o < QUOTE_MAX; i++)
		if ((unsigned char)in[i] >= 0x20 && in[i] != 0x7f)
			out[o++] = in[i];
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* A bounded buffer the child's output is read into. */
struct sink {
	int fd;
	char *buf;
	size_t len, max;
	int over;   /* more came than max: refused */
};

static void sink_read(struct sink *s)
{
	char scratch[4096];
	ssize_t n;

	for (;;) {
		if (s->len < s->max)
			n = read(s->fd, s->buf + s->len, s->max - s->len);
		else
			n = read(s->fd, scratch, sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {   /* EOF or error: done with it */
			close(s->fd);
			s->fd = -1;
			return;
		}
		if (s->len < s->max)
			s->len += (size_t)n;
		else
			s->over = 1;
	}
}

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	p[0] = p[1] = -1;
}

/* Start the helper with in/out/err on pipes; the parent's ends are
 * returned nonblocking. */
static int spawn(const char *prog, pid_t *pid, int *to_child, int *from_out, int *from_err)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char *argv[] = { (char *)prog, (char *)"get", NULL };
	int ret;

	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 ||
	    pipe2(perr, O_CLOEXEC) < 0) {
		ret = errno;
		goto close_pipes;
	}
	if ((ret = posix_spawn_file_actions_init(&fa)) != 0)
		goto close_pipes;
	if ((ret = posix_spawnattr_init(&attr)) != 0)
		goto destroy_fa;
	sigemptyset(&none);
	sigfillset(&all);
	/* the dup2s clear O_CLOEXEC on 0, 1 and 2 only; the child's own
	 * process group, so a kill reaches what it starts; default signals
	 * (libfuse ignores SIGPIPE) and none blocked */
	if ((ret = posix_spawn_file_actions_adddup2(&fa, pin[0], 0)) != 0 ||
	    (ret = posix_spawn_file_actions_adddup2(&fa, pout[1], 1)) != 0 ||
	    (ret = posix_spawn_file_actions_adddup2(&fa, perr[1], 2)) != 0 ||
	    (ret = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (ret = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
	    (ret = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (ret = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF)) != 0)
		goto destroy_attr;
	ret = posix_spawnp(pid, prog, &fa, &attr, argv, environ);
destroy_attr:
	posix_spawnattr_destroy(&attr);
destroy_fa:
	posix_spawn_file_actions_destroy(&fa);
	if (ret == 0) {
		close(pin[0]);
		close(pout[1]);
		close(perr[1]);
		*to_child = pin[1];
		*from_out = pout[0];
		*from_err = perr[0];
		fcntl(pout[0], F_SETFL, O_NONBLOCK);
		fcntl(perr[0], F_SETFL, O_NONBLOCK);
		return 0;
	}
close_pipes:
	close_pair(pin);
	close_pair(pout);
	close_pair(perr);
	return -ret;
}

/* Write all of s to fd (a short string: fits the pipe; EPIPE when the
 * helper exits without reading it is not an error of ours). */
static void feed(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;
	ssize_t n;

	while (off < len) {
		n = write(fd, s + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
}

static int parse_answer(const char *label, const char *server, const char *buf, size_t len,
			struct dfs_docker_cred *out, struct dfs_error *err)
{
	json_t *root = json_loadb(buf, len, 0, NULL);
	const char *user, *secret;
	int ret = 0;

	user = json_string_value(json_object_get(root, "Username"));
	secret = json_string_value(json_object_get(root, "Secret"));
	if (!json_is_object(root) || !secret || (!user && json_object_get(root, "Username"))) {
		/* never quoted: it may hold the secret */
		ret = dfs_error_set(err, EACCES,
				    "credential helper %s for %s answered something that is not "
				    "{\"Username\", \"Secret\"} JSON", label, server);
		goto out;
	}
	if (!*secret) {
		ret = dfs_error_set(err, ENOENT, "credential helper %s has no credentials for %s",
				    label, server);
		goto out;
	}
	if (user && strcmp(user, "<token>") == 0) {
		out->identitytoken = strdup(secret);
		if (!out->identitytoken)
			ret = -ENOMEM;
	} else {
		out->username = strdup(user ? user : "");
		out->password = strdup(secret);
		if (!out->username || !out->password)
			ret = -ENOMEM;
	}
	if (ret == -ENOMEM)
		dfs_error_set(err, ENOMEM, "out of memory");
out:
	/* jansson holds copies of the strings: wipe before freeing */
	if (json_is_object(root)) {
		const char *key;
		json_t *v;

		json_object_foreach(root, key, v)
			if (json_is_string(v))
				explicit_bzero((char *)json_string_value(v), json_string_length(v));
	}
	json_decref(root);
	return ret;
}

int dfs_credhelper_get(const char *helper, const char *server, int64_t deadline_ns,
		       struct dfs_docker_cred *out, struct dfs_error *err)
{
	char prog[96], label[96], msg[QUOTE_MAX + 1], errbuf[ERR_MAX];
	struct sink so = { .fd = -1, .max = DFS_CREDHELPER_OUT_MAX };
	struct sink se = { .fd = -1, .buf = errbuf, .max = sizeof(errbuf) };
	struct pollfd pfd[2];
	struct timespec nap = { 0, 5 * 1000000 };
	int to_child = -1, status = 0, ret, reaped = 0, timed_out = 0, cancelled = 0;
	pid_t pid;
	int64_t left;

	memset(out, 0, sizeof(*out));
	if (!plain_name(helper))
		return dfs_error_set(err, EINVAL,
				     "docker config: credential helper name \"%.64s\" is not a plain name "
				     "([A-Za-z0-9._-])", helper);
	snprintf(prog, sizeof(prog), "docker-credential-%s", helper);
	snprintf(label, sizeof(label), "%s", prog);
	if (!deadline_ns)
		deadline_ns = now_ns() + 10 * (int64_t)1000000000;
	so.buf = malloc(so.max);
	if (!so.buf)
		return dfs_error_set(err, ENOMEM, "out of memory");
	ret = spawn(prog, &pid, &to_child, &so.fd, &se.fd);
	if (ret == -ENOENT || ret == -EACCES || ret == -ENOEXEC || ret == -ENOTDIR) {
		ret = dfs_error_set(err, EACCES, "credential helper %s for %s: %s on PATH", label,
				    server, ret == -ENOENT || ret == -ENOTDIR ? "not found" :
				    "cannot be run");
		goto free_out;
	}
	if (ret < 0) {
		ret = dfs_error_set(err, -ret == ENOMEM ? ENOMEM : EIO,
				    "credential helper %s for %s: cannot start it: %s", label,
				    server, strerror(-ret));
		goto free_out;
	}
	feed(to_child, server);

	while (so.fd >= 0 || se.fd >= 0 || !reaped) {
		left = deadline_ns - now_ns();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (dfs_cancelled()) {
			cancelled = 1;
			break;
		}
		if (so.fd < 0 && se.fd < 0) {
			/* both closed: wait for the exit, still bounded */
			pid_t w = waitpid(pid, &status, WNOHANG);

			if (w == pid || (w < 0 && errno != EINTR)) {
				reaped = 1;
				break;
			}
			nanosleep(&nap, NULL);
			continue;
		}
		pfd[0].fd = so.fd;
		pfd[1].fd = se.fd;
		pfd[0].events = pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		/* slices of at most 50 ms, for a shutdown to be seen */
		if (poll(pfd, 2, left > 50000000 ? 50 : (int)(left / 1000000) + 1) < 0 &&
		    errno != EINTR)
			break;
		if (so.fd >= 0 && pfd[0].revents)
			sink_read(&so);
		if (se.fd >= 0 && pfd[1].revents)
			sink_read(&se);
	}
	if (!reaped) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (so.fd >= 0)
		close(so.fd);
	if (se.fd >= 0)
		close(se.fd);

	if (cancelled) {
		ret = dfs_error_set(err, ECANCELED, "%s", DFS_CANCELLED_MSG);
	} else if (timed_out) {
		ret = dfs_error_set(err, ETIMEDOUT,
				    "credential helper %s for %s did not answer in time; killed",
				    label, server);
	} else if (!reaped) {
		ret = dfs_error_set(err, EIO, "credential helper %s for %s: poll failed", label,
				    server);
	} else if (WIFSIGNALED(status)) {
		ret = dfs_error_set(err, EACCES, "credential helper %s for %s was killed by signal %d",
				    label, server, WTERMSIG(status));
	} else if (WEXITSTATUS(status) != 0) {
		/* the protocol puts the message on stdout; some helpers use stderr */
		quote(so.buf, so.len, msg, sizeof(msg));
		if (!msg[0])
			quote(se.buf, se.len, msg, sizeof(msg));
		if (strcmp(msg, NOT_FOUND_MSG) == 0)
			ret = dfs_error_set(err, ENOENT, "credential helper %s has no credentials for %s",
					    label, server);
		else
			ret = dfs_error_set(err, EACCES, "credential helper %s for %s failed (exit %d)%s%s",
					    label, server, WEXITSTATUS(status), msg[0] ? ": " : "",
					    msg);
	} else if (so.over) {
		ret = dfs_error_set(err, EACCES, "credential helper %s for %s answered over %d bytes",
				    label, server, DFS_CREDHELPER_OUT_MAX);
	} else {
		ret = parse_answer(label, server, so.buf, so.len, out, err);
	}
	explicit_bzero(errbuf, sizeof(errbuf));
free_out:
	explicit_bzero(so.buf, so.max);
	free(so.buf);
	if (ret < 0)
		dfs_docker_cred_clear(out);
	return ret;
}
