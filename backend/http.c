/* http.c - libcurl easy handles from a pool, one shared connection cache.
 *
 * Why a pool and a share: an easy handle is not thread-safe, so each request
 * borrows one for its duration; the connection cache, DNS cache and TLS
 * session cache live in a CURLSH so a connection opened by one handle is
 * reused by whichever handle asks that server next. The pool only saves the
 * cost of curl_easy_init; correctness does not depend on which handle a
 * request gets.
 *
 * Why a multi handle per easy handle: a request must stop soon after
 * dfs_cancel_all() (error.h), and curl_easy_perform only returns at the end
 * or at the deadline (its progress callback runs about once a second while
 * no data flows). Each pooled easy handle comes with its own multi handle
 * (what curl_easy_perform makes internally), and perform() waits on it in
 * slices of CANCEL_POLL_MS, looking at the flag between them.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define POOL_MAX   8        /* idle easy handles kept; more are freed */
#define HTTP_MAXCONNECTS 128 /* idle connections kept, all servers together:
			      * above the daemon's worker threads (64) */
#define PEER_MAX   300      /* "server " + host[:port] */
#define CANCEL_POLL_MS 50   /* how long a transfer may miss dfs_cancel_all() */

/* curl 8.6 names an oversized header line CURLE_TOO_LARGE; 7.88 calls it
 * out of memory (http_fail) */
#if LIBCURL_VERSION_NUM >= 0x080600
#define CURLE_TOO_LARGE_COMPAT CURLE_TOO_LARGE
#else
#define CURLE_TOO_LARGE_COMPAT CURLE_OUT_OF_MEMORY
#endif

/* An easy handle and the multi handle that runs it. */
struct xfer {
	CURL *e;
	CURLM *m;
};

struct dfs_http {
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST]; /* one per data kind */
	pthread_mutex_t pool_lock;
	struct xfer idle[POOL_MAX]; /* protected by pool_lock */
	size_t n_idle;          /* protected by pool_lock */
	/* cacert= is an *extra* bundle: the system's CAs and it, as one blob,
	 * built at the first request that names it (ca_lock) */
	pthread_mutex_t ca_lock;
	char *ca_path;
	char *ca_blob;
	size_t ca_len;
};

/* curl_global_init is not safe to race with other curl calls: refcount it
 * under a lock so the first client initialises and the last cleans up. */
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned global_users;

int64_t dfs_http_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void share_lock(CURL *e, curl_lock_data d, curl_lock_access a, void *ud)
{
	struct dfs_http *h = ud;

	(void)e; (void)a;
	pthread_mutex_lock(&h->share_locks[d < CURL_LOCK_DATA_LAST ? d : 0]);
}

static void share_unlock(CURL *e, curl_lock_data d, void *ud)
{
	struct dfs_http *h = ud;

	(void)e;
	pthread_mutex_unlock(&h->share_locks[d < CURL_LOCK_DATA_LAST ? d : 0]);
}

static void global_put(void)
{
	pthread_mutex_lock(&global_lock);
	if (--global_users == 0)
		curl_global_cleanup();
	pthread_mutex_unlock(&global_lock);
}

/* Free h (its share already cleaned up) and drop its hold on libcurl. */
static void release(struct dfs_http *h)
{
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_locks[i]);
	pthread_mutex_destroy(&h->pool_lock);
	pthread_mutex_destroy(&h->ca_lock);
	free(h->ca_path);
	free(h->ca_blob);
	free(h);
	global_put();
}

struct dfs_http *dfs_http_new(struct dfs_error *err)
{
	struct dfs_http *h;
	int i;

	pthread_mutex_lock(&global_lock);
	if (global_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		pthread_mutex_unlock(&global_lock);
		dfs_error_set(err, EIO, "cannot initialise libcurl");
		return NULL;
	}
	global_users++;
	pthread_mutex_unlock(&global_lock);

	h = calloc(1, sizeof(*h));
	if (!h)
		goto undo_global;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_locks[i], NULL);
	pthread_mutex_init(&h->pool_lock, NULL);
	pthread_mutex_init(&h->ca_lock, NULL);
	h->share = curl_share_init();
	if (!h->share)
		goto free_h;
	if (curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION))
		goto free_share;
	return h;

free_share:
	curl_share_cleanup(h->share);
free_h:
	release(h);
	dfs_error_set(err, ENOMEM, "out of memory creating the HTTP client");
	return NULL;
undo_global:
	global_put();
	dfs_error_set(err, ENOMEM, "out of memory creating the HTTP client");
	return NULL;
}

void dfs_http_free(struct dfs_http *h)
{
	size_t i;

	if (!h)
		return;
	/* every easy handle must be gone before the share they point at */
	for (i = 0; i < h->n_idle; i++) {
		curl_multi_cleanup(h->idle[i].m);
		curl_easy_cleanup(h->idle[i].e);
	}
	curl_share_cleanup(h->share);
	release(h);
}

/* A handle pair for one request: 0, or -ENOMEM with *x empty. */
static int pool_get(struct dfs_http *h, struct xfer *x)
{
	x->e = NULL;
	x->m = NULL;
	pthread_mutex_lock(&h->pool_lock);
	if (h->n_idle)
		*x = h->idle[--h->n_idle];
	pthread_mutex_unlock(&h->pool_lock);
	if (x->e) {
		curl_easy_reset(x->e); /* options go; the shared caches stay */
		return 0;
	}
	x->e = curl_easy_init();
	x->m = curl_multi_init();
	/* The shared connection cache is pruned to the limit of the multi
	 * handle a transfer runs in, which is 4 x its easy handles (1) by
	 * default: with more than 4 requests at once, nearly every one opened
	 * a new connection. */
	if (x->e && x->m &&
	    curl_multi_setopt(x->m, CURLMOPT_MAXCONNECTS, (long)HTTP_MAXCONNECTS) == CURLM_OK)
		return 0;
	curl_easy_cleanup(x->e);
	curl_multi_cleanup(x->m);
	x->e = NULL;
	x->m = NULL;
	return -ENOMEM;
}

/* Give back a pair from pool_get; its easy handle is in no multi handle. */
static void pool_put(struct dfs_http *h, struct xfer *x)
{
	pthread_mutex_lock(&h->pool_lock);
	if (h->n_idle < POOL_MAX) {
		h->idle[h->n_idle++] = *x;
		x->e = NULL;
		x->m = NULL;
	}
	pthread_mutex_unlock(&h->pool_lock);
	curl_multi_cleanup(x->m);
	curl_easy_cleanup(x->e);
}

/* What the callbacks collect while curl runs. */
struct collect {
	char *body;
	size_t len, cap, max;
	struct dfs_http_header *hdr;
	size_t n_hdr;
	size_t hdr_bytes;       /* every header line so far, interim answers'
				 * too: bounded by DFS_HTTP_HEADER_BYTES_MAX */
	int hdr_done;           /* the blank line ending a header block came */
	int too_big;            /* body over max */
	int hdrs_too_big;       /* header lines over DFS_HTTP_HEADER_BYTES_MAX */
	int too_many;           /* more than DFS_HTTP_HEADERS_MAX header lines */
	int oom;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct collect *c = ud;
	size_t add = size * n, cap;
	char *nb;

	if (add > c->max - c->len) {
		c->too_big = 1;
		return 0; /* short count: curl stops with CURLE_WRITE_ERROR */
	}
	if (c->len + add + 1 > c->cap) {
		cap = c->cap ? c->cap : 4096;
		while (cap < c->len + add + 1)
			cap *= 2;
		if (cap > c->max + 1)
			cap = c->max + 1;
		nb = realloc(c->body, cap);
		if (!nb) {
			c->oom = 1;
			return 0;
		}
		c->body = nb;
		c->cap = cap;
	}
	memcpy(c->body + c->len, p, add);
	c->len += add;
	c->body[c->len] = '\0';
	return add;
}

static void headers_clear(struct collect *c)
{
	size_t i;

	for (i = 0; i < c->n_hdr; i++) {
		free(c->hdr[i].name);
		free(c->hdr[i].value);
	}
	free(c->hdr);
	c->hdr = NULL;
	c->n_hdr = 0;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct collect *c = ud;
	size_t len = size * n, nl, vl;
	const char *colon, *v, *end = p + len;
	struct dfs_http_header *nh;

	/* Every line counts, so no answer (nor a run of interim ones) makes
	 * us hold more than the bound; over it, the short count makes curl
	 * stop at once with CURLE_WRITE_ERROR. */
	c->hdr_bytes += len;
	if (c->hdr_bytes > DFS_HTTP_HEADER_BYTES_MAX) {
		c->hdrs_too_big = 1;
		return 0;
	}
	/* A status line starts a new answer (after 100 Continue, a proxy's
	 * CONNECT, ...): keep only the final answer's headers. */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		headers_clear(c);
		c->hdr_done = 0;
		return len;
	}
	if (len == 0 || (p[0] == '\r' || p[0] == '\n')) {
		c->hdr_done = 1;
		return len;
	}
	if (is_blank(p[0]))
		return len; /* an obsolete folded line */
	colon = memchr(p, ':', len);
	if (!colon)
		return len;
	if (c->n_hdr == DFS_HTTP_HEADERS_MAX) {
		c->too_many = 1;
		return 0;
	}
	nl = (size_t)(colon - p);
	for (v = colon + 1; v < end && is_blank(*v); v++)
		;
	while (end > v && is_blank(end[-1]))
		end--;
	vl = (size_t)(end - v);

	nh = realloc(c->hdr, (c->n_hdr + 1) * sizeof(*nh));
	if (!nh)
		goto oom;
	c->hdr = nh;
	nh[c->n_hdr].name = strndup(p, nl);
	nh[c->n_hdr].value = strndup(v, vl);
	if (!nh[c->n_hdr].name || !nh[c->n_hdr].value) {
		free(nh[c->n_hdr].name);
		free(nh[c->n_hdr].value);
		goto oom;
	}
	c->n_hdr++;
	return len;
oom:
	c->oom = 1;
	return 0;
}

/* "server HOST[:PORT]" from a URL, for error lines when the caller gave no
 * peer label. Userinfo is dropped even though URLs must not carry any. */
static void peer_from_url(const char *url, char *out, size_t outsz)
{
	const char *s = strstr(url, "://"), *e, *at;

	s = s ? s + 3 : url;
	e = s + strcspn(s, "/?#");
	at = memchr(s, '@', (size_t)(e - s));
	if (at)
		s = at + 1;
	snprintf(out, outsz, "server %.*s", (int)(e - s), s);
}

/* The budget a request had, for "did not answer within N s". */
static void format_seconds(int64_t ns, char *out, size_t outsz)
{
	long long tenths = (ns + 50000000) / 100000000;

	if (tenths % 10 == 0)
		snprintf(out, outsz, "%lld s", tenths / 10);
	else
		snprintf(out, outsz, "%lld.%lld s", tenths / 10, tenths % 10);
}

/* The one place where a transport failure becomes an errno and a line.
 * budget_ns: what the request had left when it started. detail: curl's
 * error buffer (names hosts and certificates, never headers or bodies). */
static int http_fail(struct dfs_error *err, CURLcode rc, long os_errno,
		     const struct collect *c, const char *peer,
		     int64_t budget_ns, const char *detail)
{
	char secs[32];

	if (!detail || !*detail)
		detail = curl_easy_strerror(rc);
	if (c && c->oom)
		return dfs_error_set(err, ENOMEM, "%s: out of memory reading the answer", peer);
	if (c && c->too_big)
		return dfs_error_set(err, EIO, "%s: answer larger than %zu bytes", peer, c->max);
	/* curl keeps a header line in a buffer of its own, up to 100 KiB, and
	 * reports a longer one as out of memory (7.88; CURLE_TOO_LARGE since
	 * 8.6) before on_header sees it: such a line is over our bound too.
	 * A real allocation failure of curl's in the headers reads the same
	 * way; that is rare enough to word it by the likely cause. */
	if (c && (c->hdrs_too_big ||
		  (!c->hdr_done && (rc == CURLE_OUT_OF_MEMORY || rc == CURLE_TOO_LARGE_COMPAT))))
		return dfs_error_set(err, EIO, "%s: response headers over %zu KiB", peer,
				     DFS_HTTP_HEADER_BYTES_MAX >> 10);
	if (c && c->too_many)
		return dfs_error_set(err, EIO, "%s: answer has more than %d header lines",
				     peer, DFS_HTTP_HEADERS_MAX);
	/* a connection the server reset or closed mid-way is one failure,
	 * whichever step of curl's saw it first (timing decides that) */
	if (os_errno == ECONNRESET || os_errno == EPIPE || rc == CURLE_GOT_NOTHING ||
	    rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR)
		return dfs_error_set(err, EIO, "%s closed the connection without an answer", peer);
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		if (budget_ns <= 0)
			return dfs_error_set(err, ETIMEDOUT, "%s was not asked: no time was left",
					     peer);
		format_seconds(budget_ns, secs, sizeof(secs));
		return dfs_error_set(err, ETIMEDOUT, "%s did not answer within %s", peer, secs);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return dfs_error_set(err, EHOSTUNREACH, "%s: host unknown (%s)", peer, detail);
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ECONNREFUSED)
			return dfs_error_set(err, ECONNREFUSED, "%s refused the connection", peer);
		if (os_errno == ETIMEDOUT) {
			format_seconds(budget_ns, secs, sizeof(secs));
			return dfs_error_set(err, ETIMEDOUT, "%s did not answer within %s", peer, secs);
		}
		return dfs_error_set(err, EHOSTUNREACH, "%s is unreachable (%s)", peer, detail);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		return dfs_error_set(err, EIO, "%s: TLS failed: %s", peer, detail);
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return dfs_error_set(err, EINVAL, "%s: bad request: %s", peer, detail);
	case CURLE_OUT_OF_MEMORY:
		return dfs_error_set(err, ENOMEM, "%s: out of memory", peer);
	default:
		return dfs_error_set(err, EIO, "%s: %s", peer, detail);
	}
}

static int is_tls_failure(CURLcode rc)
{
	return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
	       rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CIPHER ||
	       rc == CURLE_SSL_ISSUER_ERROR;
}

/* Request headers as a curl list. Body requests also send "Expect:" so curl
 * never waits a second for a 100 Continue a server may not send. */
static int build_headers(const struct dfs_http_request *req, struct curl_slist **out)
{
	struct curl_slist *l = NULL, *t;
	size_t i;

	for (i = 0; i < req->n_headers; i++) {
		t = curl_slist_append(l, req->headers[i]);
		if (!t)
			goto oom;
		l = t;
	}
	if (req->body) {
		t = curl_slist_append(l, "Expect:");
		if (!t)
			goto oom;
		l = t;
	}
	*out = l;
	return 0;
oom:
	curl_slist_free_all(l);
	return -ENOMEM;
}

/* Append the file at path to *buf. 0 or -errno. */
static int slurp(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "re");
	char chunk[16384];
	size_t n;

	if (!f)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		char *p = realloc(*buf, *len + n + 2);

		if (!p) {
			fclose(f);
			return -ENOMEM;
		}
		*buf = p;
		memcpy(*buf + *len, chunk, n);
		*len += n;
	}
	fclose(f);
	(*buf)[(*len)++] = '\n';   /* a bundle may lack its last newline */
	return 0;
}

/* The system's CAs plus the extra bundle at path, as one PEM blob (cached;
 * the blob lives as long as h). 0 or -errno with err. */
static int ca_blob(struct dfs_http *h, const char *path, struct curl_blob *blob,
		   struct dfs_error *err)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	const char *system = v && v->cainfo ? v->cainfo : "/etc/ssl/certs/ca-certificates.crt";
	char *buf = NULL;
	size_t len = 0;
	int ret = 0;

	pthread_mutex_lock(&h->ca_lock);
	if (!h->ca_path || strcmp(h->ca_path, path) != 0) {
		ret = slurp(path, &buf, &len);
		if (ret < 0) {
			dfs_error_set(err, -ret, "cacert %s: %s", path, strerror(-ret));
			goto out;
		}
		if (slurp(system, &buf, &len) == -ENOMEM) {   /* no system bundle: just ours */
			ret = dfs_error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		free(h->ca_path);
		free(h->ca_blob);
		h->ca_path = strdup(path);
		h->ca_blob = buf;
		h->ca_len = len;
		buf = NULL;
	}
	blob->data = h->ca_blob;
	blob->len = h->ca_len;
	blob->flags = CURL_BLOB_NOCOPY;
out:
	free(buf);
	pthread_mutex_unlock(&h->ca_lock);
	return ret;
}

/* Run x's easy handle to its end, looking at the shutdown flag at least
 * every CANCEL_POLL_MS (curl_multi_poll also wakes for curl's own timers,
 * so CURLOPT_TIMEOUT_MS still ends it at the deadline). Returns curl's
 * result; on cancellation CURLE_ABORTED_BY_CALLBACK with *cancelled = 1.
 * The easy handle is out of the multi handle again on return. */
static CURLcode perform(struct xfer *x, int *cancelled)
{
	CURLcode rc = CURLE_FAILED_INIT;
	CURLMcode mc;
	CURLMsg *msg;
	int running = 1, queued;

	*cancelled = 0;
	mc = curl_multi_add_handle(x->m, x->e);
	if (mc != CURLM_OK)
		return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
	for (;;) {
		mc = curl_multi_perform(x->m, &running);
		if (mc != CURLM_OK)
			break;
		if (!running) {
			while ((msg = curl_multi_info_read(x->m, &queued)))
				if (msg->msg == CURLMSG_DONE && msg->easy_handle == x->e)
					rc = msg->data.result;
			break;
		}
		if (dfs_cancelled()) {
			*cancelled = 1;
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		mc = curl_multi_poll(x->m, NULL, 0, CANCEL_POLL_MS, NULL);
		if (mc != CURLM_OK)
			break;
	}
	if (mc == CURLM_OUT_OF_MEMORY)
		rc = CURLE_OUT_OF_MEMORY;
	/* mid-transfer, this closes the connection: it is not reusable */
	curl_multi_remove_handle(x->m, x->e);
	return rc;
}

#define SETOPT(e, opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) goto bad_opt; } while (0)

int dfs_http_request(struct dfs_http *h, const struct dfs_http_request *req,
		     struct dfs_http_response *resp, struct dfs_error *err)
{
	const char *method = req->method ? req->method : "GET";
	char peer_buf[PEER_MAX], errbuf[CURL_ERROR_SIZE];
	const char *peer = req->peer;
	struct collect c = { .max = req->max_body ? req->max_body : DFS_HTTP_BODY_MAX };
	struct curl_slist *hdrs = NULL;
	int64_t left = req->deadline_ns - dfs_http_now_ns();
	long ms, os_errno = 0;
	struct xfer x;
	CURLcode rc;
	CURL *e;
	int ret, cancelled;

	memset(resp, 0, sizeof(*resp));
	if (dfs_cancelled())   /* no new transfer once shutting down */
		return dfs_error_set(err, ECANCELED, "%s", DFS_CANCELLED_MSG);
	if (!peer) {
		peer_from_url(req->url, peer_buf, sizeof(peer_buf));
		peer = peer_buf;
	}
	if (left <= 0)
		return http_fail(err, CURLE_OPERATION_TIMEDOUT, 0, NULL, peer, 0, NULL);
	/* curl reads 0 as "no timeout": never let a short budget round to it */
	ms = (long)((left + 999999) / 1000000);

	if (build_headers(req, &hdrs) < 0)
		return dfs_error_set(err, ENOMEM, "%s: out of memory", peer);
	if (pool_get(h, &x) < 0) {
		curl_slist_free_all(hdrs);
		return dfs_error_set(err, ENOMEM, "%s: out of memory", peer);
	}
	e = x.e;
	errbuf[0] = '\0';
	SETOPT(e, CURLOPT_SHARE, h->share);
	SETOPT(e, CURLOPT_URL, req->url);
	SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(e, CURLOPT_NOSIGNAL, 1L);     /* threads: no SIGALRM for DNS */
	SETOPT(e, CURLOPT_TIMEOUT_MS, ms);
	SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
	SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(e, CURLOPT_USERAGENT, "deployfs/" DEPLOYFS_VERSION);
	SETOPT(e, CURLOPT_HTTPHEADER, hdrs);
	SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(e, CURLOPT_WRITEDATA, &c);
	SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(e, CURLOPT_HEADERDATA, &c);
	/* A 3xx is an answer: curl makes no second request, so neither the
	 * Basic credentials nor an Authorization header in hdrs can follow a
	 * redirect to another host. Both are curl's defaults after
	 * curl_easy_reset; said here so no one turns redirects on unaware. */
	SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
	if (req->cacert) {
		struct curl_blob blob;

		ret = ca_blob(h, req->cacert, &blob, err);
		if (ret < 0) {
			pool_put(h, &x);
			curl_slist_free_all(hdrs);
			return ret;
		}
		SETOPT(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (req->insecure) {
		SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (req->username) {
		SETOPT(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(e, CURLOPT_USERNAME, req->username);
		SETOPT(e, CURLOPT_PASSWORD, req->password ? req->password : "");
	}
	if (strcmp(method, "HEAD") == 0) {
		SETOPT(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0 || req->body) {
		if (strcmp(method, "POST") != 0)
			SETOPT(e, CURLOPT_CUSTOMREQUEST, method);
		if (req->body || strcmp(method, "DELETE") != 0) {
			/* a body-less PUT/PATCH/POST still says Content-Length: 0 */
			SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			SETOPT(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		}
	}

	rc = perform(&x, &cancelled);
	if (cancelled) {
		ret = dfs_error_set(err, ECANCELED, "%s", DFS_CANCELLED_MSG);
		goto out;
	}
	if (rc != CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
		resp->tls_failed = is_tls_failure(rc);
		ret = http_fail(err, rc, os_errno, &c, peer, left, errbuf);
		goto out;
	}
	if (!c.body && !(c.body = strdup(""))) {
		ret = dfs_error_set(err, ENOMEM, "%s: out of memory", peer);
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->body = c.body;
	resp->body_len = c.len;
	resp->headers = c.hdr;
	resp->n_headers = c.n_hdr;
	c.body = NULL;
	c.hdr = NULL;
	c.n_hdr = 0;
	ret = 0;
	goto out;

bad_opt:
	ret = http_fail(err, CURLE_BAD_FUNCTION_ARGUMENT, 0, NULL, peer, left, NULL);
out:
	/* the handle must not keep pointers into this stack frame */
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
	pool_put(h, &x);
	curl_slist_free_all(hdrs);
	free(c.body);
	headers_clear(&c);
	return ret;
}

void dfs_http_response_release(struct dfs_http_response *resp)
{
	size_t i;

	if (!resp)
		return;
	for (i = 0; i < resp->n_headers; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

const char *dfs_http_header(const struct dfs_http_response *resp,
			    const char *name, size_t *iter)
{
	size_t i = iter ? *iter : 0;

	for (; resp && i < resp->n_headers; i++) {
		if (strcasecmp(resp->headers[i].name, name) == 0) {
			if (iter)
				*iter = i + 1;
			return resp->headers[i].value;
		}
	}
	if (iter)
		*iter = i;
	return NULL;
}
