/*
 * warmread - time warm stat(2) or warm open + read + close of one file.
 *
 *   warmread PATH ITERATIONS stat|cat [DEADLINE]
 *
 * Does one untimed operation first (so the dentry, the attributes and, for
 * cat, the page cache are warm), then ITERATIONS timed ones, and prints
 *
 *   <ns per operation> ns/op
 *
 * on stdout, e.g. "17512.3 ns/op". cat is open(O_RDONLY) + one read(2)
 * into a buffer larger than the file + close(2), and every read must return
 * as many bytes as the warm-up read did. Exit 0, or 1 with a message on
 * stderr if an operation fails or the arguments are wrong.
 *
 * DEADLINE, in seconds, bounds the whole run: SIGALRM, left at its default
 * action, then kills the process even in the middle of a FUSE request that
 * never gets an answer (a fatal signal ends the wait). A caller's shell
 * sees a death by SIGALRM, and a Ctrl-C still kills this process by SIGINT,
 * which is what lets the calling script's own SIGINT trap run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)    /* value files hold at most 4 KiB */

static char buf[BUF_SIZE];

/* One open + read + close; bytes read, or -1 with errno set. */
static ssize_t cat_once(const char *path)
{
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf));
	if (close(fd) < 0 && n >= 0)
		return -1;
	return n;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char *argv[])
{
	const char *path;
	char *end;
	long iters, deadline = 0, i;
	struct stat st;
	ssize_t want;
	double t0, t1;

	if (argc < 4 || argc > 5 ||
	    (strcmp(argv[3], "stat") && strcmp(argv[3], "cat"))) {
		fprintf(stderr, "usage: %s PATH ITERATIONS stat|cat [DEADLINE]\n",
			argv[0]);
		return 1;
	}
	path = argv[1];
	errno = 0;
	iters = strtol(argv[2], &end, 10);
	if (errno || *end || end == argv[2] || iters < 1) {
		fprintf(stderr, "warmread: bad iteration count %s\n", argv[2]);
		return 1;
	}
	if (argc == 5) {
		errno = 0;
		deadline = strtol(argv[4], &end, 10);
		if (errno || *end || end == argv[4] || deadline < 1 ||
		    deadline > 86400) {
			fprintf(stderr, "warmread: bad deadline %s\n", argv[4]);
			return 1;
		}
		signal(SIGALRM, SIG_DFL);
		alarm((unsigned int)deadline);
	}

	if (!strcmp(argv[3], "stat")) {
		if (stat(path, &st) < 0)
			goto fail;
		t0 = now_ns();
		for (i = 0; i < iters; i++)
			if (stat(path, &st) < 0)
				goto fail;
		t1 = now_ns();
	} else {
		want = cat_once(path);
		if (want < 0)
			goto fail;
		t0 = now_ns();
		for (i = 0; i < iters; i++) {
			ssize_t got = cat_once(path);

			if (got < 0)
				goto fail;
			if (got != want) {
				fprintf(stderr, "warmread: %s: read %zd bytes, "
					"then %zd\n", path, want, got);
				return 1;
			}
		}
		t1 = now_ns();
	}
	printf("%.1f ns/op\n", (t1 - t0) / (double)iters);
	return 0;

fail:
	fprintf(stderr, "warmread: %s %s: %s\n", argv[3], path, strerror(errno));
	return 1;
}
