/*
 * writelat - time `echo TAG > tag` on a deployfs mount, and the reference
 * it is compared with: a bare keep-alive HEAD of the manifest and a
 * crash-safe write of the same document on the same file system.
 *
 *   writelat tag  PATH VALUE_A VALUE_B N [DEADLINE]
 *   writelat head URL_A URL_B N [DEADLINE]
 *   writelat fsw  DIR DOC N [DEADLINE]
 *   writelat ref  URL_A URL_B DIR DOC N [DEADLINE]
 *
 * tag   open(PATH, O_WRONLY|O_TRUNC) + one write(2) of "VALUE\n" + close(2),
 *       what bash's `echo VALUE > PATH` asks of the file system. PATH must
 *       hold VALUE_A or VALUE_B; every write is the other one, so every
 *       write is a real change (registry check + commit), never a no-op.
 * head  HEAD URL_A, HEAD URL_B, ... on one libcurl handle (one connection,
 *       kept alive), with the Accept header deployfs sends (the four
 *       manifest media types); each answer must be 200 with a
 *       Docker-Content-Digest.
 * fsw   the local store's write of one document: the bytes of the file DOC
 *       written to DIR/.NAME.<n>.tmp (O_CREAT|O_EXCL), fsync, close, rename
 *       to DIR/NAME (NAME = DOC's base name), fsync of DIR (opened once, as
 *       the store keeps its folders open).
 * ref   head then fsw, timed together: the reference of the write bench.
 *
 * One untimed operation comes first (the connection opened, the dentries
 * and the daemon's token or connection warm), then N timed ones. Prints one
 * line of key=value pairs on stdout:
 *
 *   median_ns=812345 p25_ns=... p75_ns=... min_ns=... max_ns=... ops=N
 *   writes=N+1 new_conns=0
 *
 * (writes: changes written through PATH or to DIR, the untimed one
 * included; new_conns: connections libcurl opened during the timed HEADs,
 * 0 when the connection was kept alive). Exit 0, or 1 with a message on
 * stderr when an operation fails: a refused write, a HEAD that is not 200,
 * a failed fsync. DEADLINE (seconds) bounds the run as in warmread.c:
 * SIGALRM at its default action ends even a FUSE request that never gets
 * an answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define VALUE_MAX 4096          /* a value file holds at most 4 KiB */
#define DOC_MAX (1 << 20)

#define ACCEPT_MANIFESTS "Accept: application/vnd.oci.image.index.v1+json, " \
	"application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.docker.distribution.manifest.v2+json"

static const char *prog = "writelat";

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

/* ------------------------------------------------------------ tag */

struct tag {
	const char *path;
	const char *value[2];
	int next;               /* index of the value to write next */
	long writes;
};

static void tag_setup(struct tag *t)
{
	char cur[VALUE_MAX + 2];
	ssize_t n;
	int fd = open(t->path, O_RDONLY);

	if (fd < 0)
		die("open %s: %s", t->path, strerror(errno));
	n = read(fd, cur, sizeof(cur) - 1);
	if (n < 0)
		die("read %s: %s", t->path, strerror(errno));
	close(fd);
	cur[n] = '\0';
	cur[strcspn(cur, "\n")] = '\0';
	if (!strcmp(t->value[0], t->value[1]))
		die("the two values must differ (%s, %s)", t->value[0], t->value[1]);
	if (!strcmp(cur, t->value[0]))
		t->next = 1;
	else if (!strcmp(cur, t->value[1]))
		t->next = 0;
	else
		die("%s holds \"%s\", neither value", t->path, cur);
}

/* echo VALUE > PATH: open with O_TRUNC, one write, close. Every error of
 * the three is a failed write (deployfs reports refusals from write(2)). */
static void tag_once(struct tag *t)
{
	char line[VALUE_MAX + 2];
	const char *v = t->value[t->next];
	size_t len = (size_t)snprintf(line, sizeof(line), "%s\n", v);
	ssize_t n;
	int fd = open(t->path, O_WRONLY | O_TRUNC);

	if (fd < 0)
		die("open %s: %s", t->path, strerror(errno));
	n = write(fd, line, len);
	if (n < 0)
		die("write %s to %s: %s (see the app's error file)", v, t->path, strerror(errno));
	if ((size_t)n != len)
		die("write %s to %s: short write", v, t->path);
	if (close(fd) < 0)
		die("close %s: %s", t->path, strerror(errno));
	t->next ^= 1;
	t->writes++;
}

/* ------------------------------------------------------------ head */

struct head {
	const char *url[2];
	int next;
	CURL *curl;
	struct curl_slist *hdrs;
	int have_digest;
	long new_conns;
};

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct head *h = ud;
	static const char name[] = "docker-content-digest:";

	if (size * n > sizeof(name) && !strncasecmp(p, name, sizeof(name) - 1))
		h->have_digest = 1;
	return size * n;
}

static void head_setup(struct head *h)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    !(h->curl = curl_easy_init()) ||
	    !(h->hdrs = curl_slist_append(NULL, ACCEPT_MANIFESTS)))
		die("cannot set up libcurl");
	curl_easy_setopt(h->curl, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 10L);
}

static void head_once(struct head *h)
{
	const char *url = h->url[h->next];
	long code = 0, conns = 0;
	CURLcode rc;

	h->have_digest = 0;
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	rc = curl_easy_perform(h->curl);
	if (rc != CURLE_OK)
		die("HEAD %s: %s", url, curl_easy_strerror(rc));
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200 || !h->have_digest)
		die("HEAD %s: %s", url, code != 200 ? "not 200" : "no Docker-Content-Digest");
	curl_easy_getinfo(h->curl, CURLINFO_NUM_CONNECTS, &conns);
	h->new_conns += conns;
	h->next ^= 1;
}

/* ------------------------------------------------------------ fsw */

struct fsw {
	const char *dir;
	char name[NAME_MAX + 1];
	char *doc;
	size_t len;
	int dirfd;
	long seq, writes;
};

static void fsw_setup(struct fsw *f, const char *docpath)
{
	const char *base = strrchr(docpath, '/') ? strrchr(docpath, '/') + 1 : docpath;
	struct stat st;
	ssize_t n;
	int fd;

	if (!*base || strlen(base) > NAME_MAX - 20)
		die("bad document name %s", docpath);
	snprintf(f->name, sizeof(f->name), "%s", base);
	fd = open(docpath, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", docpath, strerror(errno));
	if (st.st_size < 1 || st.st_size > DOC_MAX)
		die("%s: empty or too large", docpath);
	f->len = (size_t)st.st_size;
	f->doc = malloc(f->len);
	if (!f->doc)
		die("out of memory");
	n = read(fd, f->doc, f->len);
	if (n < 0 || (size_t)n != f->len)
		die("read %s: %s", docpath, n < 0 ? strerror(errno) : "short read");
	close(fd);
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0)
		die("%s: %s", f->dir, strerror(errno));
}

/* write temp, fsync, rename, fsync dir: what a crash cannot tear */
static void fsw_once(struct fsw *f)
{
	char tmp[NAME_MAX + 1];
	size_t off = 0;
	int fd;

	snprintf(tmp, sizeof(tmp), ".%.200s.%08lx.tmp", f->name, f->seq++);
	fd = openat(f->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		die("create %s: %s", tmp, strerror(errno));
	while (off < f->len) {
		ssize_t n = write(fd, f->doc + off, f->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write %s: %s", tmp, strerror(errno));
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		die("fsync %s: %s", tmp, strerror(errno));
	if (close(fd) < 0)
		die("close %s: %s", tmp, strerror(errno));
	if (renameat(f->dirfd, tmp, f->dirfd, f->name) < 0)
		die("rename %s: %s", tmp, strerror(errno));
	if (fsync(f->dirfd) < 0)
		die("fsync %s: %s", f->dir, strerror(errno));
	f->writes++;
}

/* ------------------------------------------------------------ main */

enum mode { M_TAG, M_HEAD, M_FSW, M_REF };

struct bench {
	enum mode mode;
	struct tag tag;
	struct head head;
	struct fsw fsw;
};

static void once(struct bench *b)
{
	switch (b->mode) {
	case M_TAG:
		tag_once(&b->tag);
		break;
	case M_HEAD:
		head_once(&b->head);
		break;
	case M_FSW:
		fsw_once(&b->fsw);
		break;
	case M_REF:
		head_once(&b->head);
		fsw_once(&b->fsw);
		break;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* linear interpolation between order statistics, as tests/bench/run does */
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
		"usage: %s tag  PATH VALUE_A VALUE_B N [DEADLINE]\n"
		"       %s head URL_A URL_B N [DEADLINE]\n"
		"       %s fsw  DIR DOC N [DEADLINE]\n"
		"       %s ref  URL_A URL_B DIR DOC N [DEADLINE]\n",
		prog, prog, prog, prog);
	exit(1);
}

int main(int argc, char *argv[])
{
	struct bench b;
	double *t, t0;
	long n, i;
	int nargs;

	memset(&b, 0, sizeof(b));
	b.fsw.dirfd = -1;
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "tag")) {
		b.mode = M_TAG;
		nargs = 4;
	} else if (!strcmp(argv[1], "head")) {
		b.mode = M_HEAD;
		nargs = 3;
	} else if (!strcmp(argv[1], "fsw")) {
		b.mode = M_FSW;
		nargs = 3;
	} else if (!strcmp(argv[1], "ref")) {
		b.mode = M_REF;
		nargs = 5;
	} else {
		usage();
	}
	if (argc != 2 + nargs && argc != 3 + nargs)
		usage();
	n = number(argv[1 + nargs], 1, 1000000, "operation count");
	if (argc == 3 + nargs) {
		signal(SIGALRM, SIG_DFL);
		alarm((unsigned int)number(argv[2 + nargs], 1, 86400, "deadline"));
	}

	switch (b.mode) {
	case M_TAG:
		b.tag.path = argv[2];
		b.tag.value[0] = argv[3];
		b.tag.value[1] = argv[4];
		tag_setup(&b.tag);
		break;
	case M_FSW:
		b.fsw.dir = argv[2];
		fsw_setup(&b.fsw, argv[3]);
		break;
	case M_REF:
		b.fsw.dir = argv[4];
		fsw_setup(&b.fsw, argv[5]);
		/* fall through */
	case M_HEAD:
		b.head.url[0] = argv[2];
		b.head.url[1] = argv[3];
		head_setup(&b.head);
		break;
	}

	t = malloc((size_t)n * sizeof(*t));
	if (!t)
		die("out of memory");
	once(&b);               /* warm: connection, dentries, token */
	b.head.new_conns = 0;
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		once(&b);
		t[i] = now_ns() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("median_ns=%.0f p25_ns=%.0f p75_ns=%.0f min_ns=%.0f max_ns=%.0f ops=%ld "
	       "writes=%ld new_conns=%ld\n",
	       quantile(t, n, 0.5), quantile(t, n, 0.25), quantile(t, n, 0.75), t[0], t[n - 1],
	       n, b.tag.writes + b.fsw.writes, b.head.new_conns);
	free(t);
	if (b.head.curl) {
		curl_easy_cleanup(b.head.curl);
		curl_slist_free_all(b.head.hdrs);
		curl_global_cleanup();
	}
	free(b.fsw.doc);
	if (b.fsw.dirfd >= 0)
		close(b.fsw.dirfd);
	return 0;
}
