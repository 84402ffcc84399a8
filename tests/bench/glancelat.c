/*
 * glancelat - the reference of a property write on a glance= mount
 * (`echo VALUE > images/<id>/properties/<key>`): the one request the write
 * needs on the wire, done by libcurl on a keep-alive connection and
 * nothing else.
 *
 *   glancelat PATCH_URL BODY_A BODY_B N [DEADLINE]
 *
 * PATCH PATCH_URL (http://HOST:PORT/v2/images/<id>) with BODY_A, then
 * BODY_B, then BODY_A, ...: JSON Patches, the bytes deployfs sends, with
 * the headers deployfs sends (Content-Type:
 * application/openstack-images-v2.1-json-patch, Accept: application/json,
 * no Expect: 100-continue); each answer must be 200. One handle, so one
 * connection kept alive. One untimed PATCH (BODY_A) comes first (the
 * connection opened), then N timed ones (BODY_B, BODY_A, ...): N + 1 PATCHes
 * in all, the last one BODY_A when N is even, BODY_B when N is odd.
 * Prints one line, as tests/bench/writelat.c and apilat.c:
 *
 *   median_ns=... p25_ns=... p75_ns=... min_ns=... max_ns=... ops=N new_conns=0
 *
 * new_conns: connections opened during the timed PATCHes (0: kept alive).
 * Exit 0, or 1 with a message when an answer is not 200. DEADLINE
 * (seconds): SIGALRM at its default action ends the run.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

static const char *prog = "glancelat";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long number(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		die("bad %s %s", what, s);
	return v;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* One PATCH; the connections it opened (0 when the last one was reused). */
static long patch(CURL *c, const char *url, const char *body)
{
	long code = 0, conns = 0;
	CURLcode rc;

	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		die("PATCH %s: %s", url, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		die("PATCH %s: answered %ld", url, code);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
	return conns;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double quantile(const double *v, long n, double q)
{
	double h = (double)(n - 1) * q;
	long i = (long)h;

	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (h - (double)i) * (v[i + 1] - v[i]);
}

int main(int argc, char *argv[])
{
	const char *url, *body[2];
	struct curl_slist *hdrs = NULL;
	double *t, t0;
	long n, i, new_conns = 0;
	CURL *c;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: %s PATCH_URL BODY_A BODY_B N [DEADLINE]\n", prog);
		return 1;
	}
	url = argv[1];
	body[0] = argv[2];
	body[1] = argv[3];
	n = number(argv[4], 1, 1000000, "operation count");
	if (argc == 6) {
		signal(SIGALRM, SIG_DFL);
		alarm((unsigned int)number(argv[5], 1, 86400, "deadline"));
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c = curl_easy_init()))
		die("cannot set up libcurl");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	hdrs = curl_slist_append(hdrs,
				 "Content-Type: application/openstack-images-v2.1-json-patch");
	if (!hdrs)
		die("out of memory");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	t = malloc((size_t)n * sizeof(*t));
	if (!t)
		die("out of memory");
	patch(c, url, body[0]);         /* warm: the connection */
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		new_conns += patch(c, url, body[(i + 1) % 2]);
		t[i] = now_ns() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("median_ns=%.0f p25_ns=%.0f p75_ns=%.0f min_ns=%.0f max_ns=%.0f ops=%ld "
	       "new_conns=%ld\n",
	       quantile(t, n, 0.5), quantile(t, n, 0.25), quantile(t, n, 0.75), t[0], t[n - 1],
	       n, new_conns);
	free(t);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	return 0;
}
