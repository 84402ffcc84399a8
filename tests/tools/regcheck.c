/* regcheck - run the registry check of backend/registry.c on one reference.
 *
 *   regcheck [options] REFERENCE
 *     --mirror HOST=URL        registry_mirror (repeatable)
 *     --insecure HOST[:PORT]   insecure_registry (repeatable)
 *     --cacert FILE            extra CA bundle
 *     --timeout SECONDS        deadline of each check (default 10, fractions ok)
 *     --docker-config DIR      instead of $DOCKER_CONFIG / ~/.docker
 *     --creds-file FILE        a registry object: lines name=, url=, username=,
 *                              password=, token=
 *     --creds-env              the same from $REGCHECK_NAME, $REGCHECK_URL,
 *                              $REGCHECK_USERNAME, $REGCHECK_PASSWORD, $REGCHECK_TOKEN
 *     --repeat N               check N times on one client; timings on stderr
 *     --threads T              T threads share the client, each checks N times
 *     --debug                  log_debug lines on stderr
 *     --cancel-on-sigterm      SIGTERM calls dfs_cancel_all(), as the daemon's
 *                              handler does; the checks run on threads that
 *                              block SIGTERM (so no signal interrupts their
 *                              waits: they must see the flag), and stderr
 *                              gets "cancel_to_return_ms X", from the signal
 *                              to the last check's return
 *
 * Prints the digest, or "ERRNAME: error line", on stdout; exits with 0 or
 * the errno. Secrets never come from argv (ps shows it to everyone).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "reference.h"
#include "registry.h"

#define LIST_MAX 16

/* when SIGTERM came, CLOCK_MONOTONIC ns; 0: not yet */
static atomic_llong sigterm_ns;

static void on_sigterm(int sig)
{
	struct timespec ts;

	(void)sig;
	dfs_cancel_all();
	clock_gettime(CLOCK_MONOTONIC, &ts);   /* async-signal-safe */
	atomic_store(&sigterm_ns, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

static void usage(void)
{
	fprintf(stderr, "usage: regcheck [--mirror HOST=URL] [--insecure HOST[:PORT]] [--cacert FILE]\n"
		"                [--timeout SECONDS] [--docker-config DIR]\n"
		"                [--creds-file FILE | --creds-env] [--repeat N] [--threads T]\n"
		"                [--debug] [--cancel-on-sigterm] REFERENCE\n");
}

static int fail(int code, const char *msg)
{
	const char *name = strerrorname_np(code);

	printf("%s: %s\n", name ? name : "E?", msg);
	return code;
}

/* key=value lines; the values are secrets, so the buffer is wiped later */
static int read_creds_file(const char *path, char *buf, size_t bufsz,
			   struct dfs_registry_creds *cr)
{
	FILE *f = fopen(path, "r");
	size_t n;
	char *line, *save = NULL;

	if (!f)
		return -errno;
	n = fread(buf, 1, bufsz - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		if (strncmp(line, "name=", 5) == 0)
			cr->name = line + 5;
		else if (strncmp(line, "url=", 4) == 0)
			cr->url = line + 4;
		else if (strncmp(line, "username=", 9) == 0)
			cr->username = line + 9;
		else if (strncmp(line, "password=", 9) == 0)
			cr->password = line + 9;
		else if (strncmp(line, "token=", 6) == 0)
			cr->token = line + 6;
	}
	return 0;
}

/* One thread's share of the work: repeat checks, timed into lat. */
struct worker {
	struct dfs_registry_client *c;
	const struct dfs_reference *ref;
	const struct dfs_registry_creds *creds;
	double timeout;
	long repeat;
	int64_t *lat;
	int ret;
	struct dfs_error err;
	char digest[DFS_DIGEST_MAX + 1];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	int64_t t0;
	long i;

	for (i = 0; i < w->repeat; i++) {
		t0 = dfs_http_now_ns();
		w->ret = dfs_registry_check(w->c, w->ref, w->creds,
					    t0 + (int64_t)(w->timeout * 1e9), w->digest, &w->err);
		w->lat[i] = dfs_http_now_ns() - t0;
		if (w->ret < 0)
			break;
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *mirrors[LIST_MAX], *insecure[LIST_MAX];
	struct dfs_registry_opts opts = { .mirrors = mirrors, .insecure = insecure };
	struct dfs_registry_creds creds = { 0 }, *cp = NULL;
	struct dfs_registry_client *c;
	struct dfs_reference ref;
	struct dfs_error err = { 0 };
	struct worker *w = NULL;
	pthread_t *tid = NULL;
	char credbuf[4096];
	const char *refstr = NULL;
	double timeout = 10;
	long repeat = 1, threads = 1, n, i;
	int64_t *lat = NULL, first;
	int debug = 0, ret = 0, cancel_on_sigterm = 0, on_threads;
	sigset_t term;
	int64_t done_ns;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--creds-env") == 0) {
			creds.name = getenv("REGCHECK_NAME");
			creds.url = getenv("REGCHECK_URL");
			creds.username = getenv("REGCHECK_USERNAME");
			creds.password = getenv("REGCHECK_PASSWORD");
			creds.token = getenv("REGCHECK_TOKEN");
			cp = &creds;
		} else if (strcmp(a, "--debug") == 0) {
			debug = 1;
		} else if (strcmp(a, "--cancel-on-sigterm") == 0) {
			cancel_on_sigterm = 1;
		} else if (a[0] == '-' && a[1] == '-') {
			if (!v) {
				usage();
				return EINVAL;
			}
			i++;
			if (strcmp(a, "--mirror") == 0 && opts.n_mirrors < LIST_MAX)
				mirrors[opts.n_mirrors++] = v;
			else if (strcmp(a, "--insecure") == 0 && opts.n_insecure < LIST_MAX)
				insecure[opts.n_insecure++] = v;
			else if (strcmp(a, "--cacert") == 0)
				opts.cacert = v;
			else if (strcmp(a, "--docker-config") == 0)
				opts.docker_config_dir = v;
			else if (strcmp(a, "--timeout") == 0)
				timeout = atof(v);
			else if (strcmp(a, "--repeat") == 0)
				repeat = atol(v);
			else if (strcmp(a, "--threads") == 0)
				threads = atol(v);
			else if (strcmp(a, "--creds-file") == 0) {
				if (read_creds_file(v, credbuf, sizeof(credbuf), &creds) < 0)
					return fail(EINVAL, "cannot read the credentials file");
				cp = &creds;
			} else {
				usage();
				return EINVAL;
			}
		} else if (!refstr) {
			refstr = a;
		} else {
			usage();
			return EINVAL;
		}
	}
	if (!refstr || timeout <= 0 || repeat < 1 || threads < 1 || threads > 64) {
		usage();
		return EINVAL;
	}
	log_init(1, debug);
	if (cancel_on_sigterm) {
		struct sigaction sa = { .sa_handler = on_sigterm };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
	}
	if (dfs_reference_parse(refstr, &ref, &err) < 0)
		return fail(err.code, err.msg);
	c = dfs_registry_client_new(&opts, &err);
	if (!c)
		return fail(err.code, err.msg);
	n = repeat * threads;
	lat = calloc((size_t)n, sizeof(*lat));
	w = calloc((size_t)threads, sizeof(*w));
	tid = calloc((size_t)threads, sizeof(*tid));
	if (!lat || !w || !tid) {
		ret = fail(ENOMEM, "out of memory");
		goto out;
	}
	if (cancel_on_sigterm) {   /* the threads inherit the mask */
		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &term, NULL);
	}
	on_threads = threads > 1 || cancel_on_sigterm;
	for (i = 0; i < threads; i++) {
		w[i] = (struct worker){ .c = c, .ref = &ref, .creds = cp, .timeout = timeout,
					.repeat = repeat, .lat = lat + i * repeat };
		if (on_threads && pthread_create(&tid[i], NULL, work, &w[i]) != 0) {
			threads = i; /* join those started, then fail */
			ret = fail(EAGAIN, "cannot start a thread");
			break;
		}
	}
	if (cancel_on_sigterm)
		pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	if (!on_threads && ret == 0)
		work(&w[0]);
	else
		for (i = 0; i < threads; i++)
			pthread_join(tid[i], NULL);
	done_ns = dfs_http_now_ns();
	if (atomic_load(&sigterm_ns))
		fprintf(stderr, "cancel_to_return_ms %.1f\n",
			(done_ns - atomic_load(&sigterm_ns)) / 1e6);
	for (i = 0; i < threads && ret == 0; i++) {
		if (w[i].ret < 0)
			ret = fail(w[i].err.code, w[i].err.msg);
		else if (strcmp(w[i].digest, w[0].digest) != 0)
			ret = fail(EIO, "threads saw different digests");
	}
	if (ret == 0)
		printf("%s\n", w[0].digest);
	if (n > 1 && ret == 0) {
		/* the first check opens the connection and gets the token */
		first = lat[0];
		qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
		fprintf(stderr, "checks %ld first_us %.1f min_us %.1f median_us %.1f p90_us %.1f\n",
			n, first / 1e3, lat[0] / 1e3, lat[n / 2] / 1e3, lat[n * 9 / 10] / 1e3);
	}
out:
	free(tid);
	free(w);
	free(lat);
	dfs_registry_client_free(c);
	explicit_bzero(credbuf, sizeof(credbuf));
	return ret;
}
