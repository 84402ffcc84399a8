/*
 * apilat - the reference of `echo TAG > tag` on an api= mount with
 * registry_check=strict: what the write needs on the wire, done by libcurl
 * with keep-alive connections and nothing else.
 *
 *   apilat patch PATCH_URL BODY_A BODY_B TOKEN_FILE N [DEADLINE]
 *   apilat ref   HEAD_URL_A HEAD_URL_B PATCH_URL BODY_A BODY_B TOKEN_FILE N [DEADLINE]
 *
 * patch  PATCH PATCH_URL with BODY_A, then BODY_B, ... (JSON, the bodies
 *        deployfs sends), `Authorization: Bearer` the first line of
 *        TOKEN_FILE; each answer must be 200.
 * ref    HEAD HEAD_URL_A (the manifest, with the Accept header deployfs
 *        sends; 200 with a Docker-Content-Digest) then PATCH with BODY_A,
 *        then the B pair, ...: the registry check and the commit, timed
 *        together.
 *
 * The registry and the API each get their own easy handle, so each keeps
 * its connection alive. One untimed operation comes first (connections
 * opened), then N timed ones. Prints one line, as tests/bench/writelat.c:
 *
 *   median_ns=... p25_ns=... p75_ns=... min_ns=... max_ns=... ops=N new_conns=0
 *
 * new_conns: connections opened during the timed operations (0: kept
 * alive). Exit 0, or 1 with a message when an answer is not the expected
 * one. DEADLINE (seconds): SIGALRM at its default action ends the run.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define ACCEPT_MANIFESTS "Accept: application/vnd.oci.image.index.v1+json, " \
	"application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.docker.distribution.manifest.v2+json"

static const char *prog = "apilat";

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

struct op {
	CURL *head, *patch;
	struct curl_slist *head_hdrs, *patch_hdrs;
	const char *head_url[2], *patch_url, *body[2];
	int next, have_digest;
	long new_conns;
};

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct op *o = ud;
	static const char name[] = "docker-content-digest:";

	if (size * n > sizeof(name) && !strncasecmp(p, name, sizeof(name) - 1))
		o->have_digest = 1;
	return size * n;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static CURL *handle(void)
{
	CURL *c = curl_easy_init();

	if (!c)
		die("cannot set up libcurl");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	return c;
}

static void setup(struct op *o, int with_head, const char *token_file)
{
	char token[4096], auth[4200];
	FILE *f = fopen(token_file, "r");

	if (!f || !fgets(token, sizeof(token), f))
		die("cannot read a token from %s", token_file);
	fclose(f);
	token[strcspn(token, "\r\n")] = '\0';
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("cannot set up libcurl");
	o->patch = handle();
	o->patch_hdrs = curl_slist_append(NULL, auth);
	o->patch_hdrs = curl_slist_append(o->patch_hdrs, "Content-Type: application/json");
	o->patch_hdrs = curl_slist_append(o->patch_hdrs, "Accept: application/json");
	if (!o->patch_hdrs)
		die("out of memory");
	curl_easy_setopt(o->patch, CURLOPT_URL, o->patch_url);
	curl_easy_setopt(o->patch, CURLOPT_CUSTOMREQUEST, "PATCH");
	curl_easy_setopt(o->patch, CURLOPT_HTTPHEADER, o->patch_hdrs);
	if (!with_head)
		return;
	o->head = handle();
	if (!(o->head_hdrs = curl_slist_append(NULL, ACCEPT_MANIFESTS)))
		die("out of memory");
	curl_easy_setopt(o->head, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(o->head, CURLOPT_HTTPHEADER, o->head_hdrs);
	curl_easy_setopt(o->head, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(o->head, CURLOPT_HEADERDATA, o);
}

static void perform(CURL *c, const char *what, const char *url, int *have_digest)
{
	long code = 0;
	CURLcode rc = curl_easy_perform(c);

	if (rc != CURLE_OK)
		die("%s %s: %s", what, url, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		die("%s %s: answered %ld", what, url, code);
	if (have_digest && !*have_digest)
		die("%s %s: no Docker-Content-Digest", what, url);
}

static void once(struct op *o)
{
	long conns = 0;

	if (o->head) {
		o->have_digest = 0;
		curl_easy_setopt(o->head, CURLOPT_URL, o->head_url[o->next]);
		perform(o->head, "HEAD", o->head_url[o->next], &o->have_digest);
		curl_easy_getinfo(o->head, CURLINFO_NUM_CONNECTS, &conns);
		o->new_conns += conns;
	}
	curl_easy_setopt(o->patch, CURLOPT_POSTFIELDS, o->body[o->next]);
	perform(o->patch, "PATCH", o->patch_url, NULL);
	curl_easy_getinfo(o->patch, CURLINFO_NUM_CONNECTS, &conns);
	o->new_conns += conns;
	o->next ^= 1;
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

static void usage(void) __attribute__((noreturn));

static void usage(void)
{
	fprintf(stderr,
		"usage: %s patch PATCH_URL BODY_A BODY_B TOKEN_FILE N [DEADLINE]\n"
		"       %s ref HEAD_URL_A HEAD_URL_B PATCH_URL BODY_A BODY_B TOKEN_FILE N [DEADLINE]\n",
		prog, prog);
	exit(1);
}

int main(int argc, char *argv[])
{
	struct op o;
	double *t, t0;
	int with_head, a;
	long n, i;

	memset(&o, 0, sizeof(o));
	if (argc < 2)
		usage();
	with_head = !strcmp(argv[1], "ref");
	if (!with_head && strcmp(argv[1], "patch"))
		usage();
	a = with_head ? 4 : 2;
	if (argc != a + 5 && argc != a + 6)
		usage();
	if (with_head) {
		o.head_url[0] = argv[2];
		o.head_url[1] = argv[3];
	}
	o.patch_url = argv[a];
	o.body[0] = argv[a + 1];
	o.body[1] = argv[a + 2];
	n = number(argv[a + 4], 1, 1000000, "operation count");
	if (argc == a + 6) {
		signal(SIGALRM, SIG_DFL);
		alarm((unsigned int)number(argv[a + 5], 1, 86400, "deadline"));
	}
	setup(&o, with_head, argv[a + 3]);

	t = malloc((size_t)n * sizeof(*t));
	if (!t)
		die("out of memory");
	once(&o);               /* warm: the connections */
	o.new_conns = 0;
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		once(&o);
		t[i] = now_ns() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("median_ns=%.0f p25_ns=%.0f p75_ns=%.0f min_ns=%.0f max_ns=%.0f ops=%ld "
	       "new_conns=%ld\n",
	       quantile(t, n, 0.5), quantile(t, n, 0.25), quantile(t, n, 0.75), t[0], t[n - 1],
	       n, o.new_conns);
	free(t);
	curl_easy_cleanup(o.patch);
	curl_slist_free_all(o.patch_hdrs);
	if (o.head) {
		curl_easy_cleanup(o.head);
		curl_slist_free_all(o.head_hdrs);
	}
	curl_global_cleanup();
	return 0;
}
