/* glance_internal.h - what the files of the Glance backend share, and the
 * pure parts tests/unit/test_glance.c reaches. Not an API: nothing but
 * backend/glance*.c and that test includes it.
 *
 * The backend (glance.h) is four files, one concern each:
 *   glance.c       the vtable: the cache, list, get, patch
 *   glance_poll.c  the poll thread: changes made elsewhere
 *   glance_http.c  the wire: one request with the token, 401 re-read, 503
 *                  retries, the listing followed page by page
 *   glance_wire.c  pure: the endpoint, next links, list pages, error
 *                  bodies, the request headers
 * The URL and message helpers the apps API client has (dfs_api_origin,
 * dfs_api_resolve, dfs_api_sanitise, dfs_api_retry_after,
 * dfs_api_segment, api_internal.h) are shared, not copied.
 *
 * Errors follow error.h: 0 or -errno, err (may be NULL) filled on failure
 * and untouched on success.
 */
#ifndef DEPLOYFS_GLANCE_INTERNAL_H
#define DEPLOYFS_GLANCE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "backend.h"
#include "error.h"
#include "http.h"
#include "map.h"

#define DFS_GLANCE_URL_MAX      4096
#define DFS_GLANCE_ORIGIN_MAX   512
#define DFS_GLANCE_MSG_MAX      240        /* bytes of a server message quoted */
#define DFS_GLANCE_TOKEN_MAX    8192
#define DFS_GLANCE_PAGE_LIMIT   1000       /* ?limit= of a list page: Glance's cap */
#define DFS_GLANCE_PAGES_MAX    1000       /* pages of one listing */
#define DFS_GLANCE_BODY_MAX     ((size_t)16 << 20)  /* one answer */
#define DFS_GLANCE_LIST_MAX     ((size_t)64 << 20)  /* all pages of one listing */
#define DFS_GLANCE_503_TRIES    8
#define DFS_GLANCE_PATCH_TYPE   "application/openstack-images-v2.1-json-patch"
#define DFS_GLANCE_SEG_MAX      (3 * 200 + 1)       /* a percent-encoded image id */

/* --------------------------------------------------------- glance_wire.c */

/* The endpoint from glance=: an http(s) URL without credentials, query or
 * fragment; trailing '/' and one trailing "/v2" dropped (the endpoint an
 * OpenStack catalogue names has no version; users often add it). base:
 * the endpoint, origin: its "scheme://host:port" (dfs_api_origin).
 * -EINVAL for anything else, -ENAMETOOLONG. */
int dfs_glance_endpoint(const char *url, char *base, size_t basesz, char *origin,
			size_t originsz);

/* The URL of the next list page. Glance writes `next` as a path from the
 * endpoint ("/v2/images?limit=N&marker=ID"), as glanceclient reads it: a
 * next that starts with "/v2/" is appended to base (so an endpoint with a
 * path prefix keeps it). Anything else is resolved against page_url
 * (RFC 3986) and must land on origin. -EINVAL for a link with control
 * characters or spaces, or one that leaves the origin; -ENAMETOOLONG. */
int dfs_glance_next_url(const char *base, const char *origin, const char *page_url,
			const char *next, char *out, size_t outsz);

/* One list page: {"images": [...], "next": "..."?}. *images and *next are
 * borrowed from body (*next NULL when absent, null or ""). -EIO with err
 * when body has no "images" array or a "next" that is not a string. */
int dfs_glance_page(const json_t *body, json_t **images, const char **next,
		    struct dfs_error *err);

/* A message from a Glance error body, made fit for an error line: Glance
 * (webob) wraps it in HTML line breaks and blank lines ("Attribute 'status'
 * is read-only.<br /><br />\n\n\n"). <br>, <br/>, <br /> (any case) and
 * runs of white space become one space, &amp; &lt; &gt; &quot; &#39;
 * &#x27; are decoded, the ends trimmed, then dfs_api_sanitise: no control
 * characters, invalid UTF-8 as '?', at most DFS_GLANCE_MSG_MAX bytes (and
 * outsz) without splitting a character. */
void dfs_glance_clean_message(const char *in, char *out, size_t outsz);

/* The errno and error line of a Glance answer with a status that is not a
 * success: error.h's one table (dfs_errno_from_http: 400/415 EINVAL, 401
 * EACCES, 403/405 EPERM, 404 ENOENT, 409 EEXIST, 413 EDQUOT, 429/503
 * EAGAIN, else EIO) and the line `Glance: <message>`, the message being
 * the JSON body's "message" cleaned (above), else its "title", else
 * "HTTP <status>". A 401 adds where the token comes from. Returns -errno. */
int dfs_glance_error(long status, const char *body, size_t len, struct dfs_error *err);

/* The header lines of one request, in out[] (at most 5), *n of them:
 * "X-Auth-Token: <token>" when token is non-NULL (written into auth,
 * which the caller wipes), "Accept: application/json", "Expect:" and, when
 * patch, "Content-Type: " DFS_GLANCE_PATCH_TYPE. -ENAMETOOLONG when the
 * token does not fit in auth. */
int dfs_glance_headers(const char *token, int patch, char *auth, size_t authsz,
		       const char *out[5], size_t *n);


/* ------------------------------------------------------- glance_http.c */

struct dfs_glance_client {
	struct dfs_http *http;
	char base[DFS_GLANCE_URL_MAX];          /* the endpoint, no trailing '/' */
	char origin[DFS_GLANCE_ORIGIN_MAX];     /* of base: next links stay on it */
	char peer[DFS_GLANCE_ORIGIN_MAX + 16];  /* "Glance host:port" */
	char *cacert;
	char *token_file;                       /* NULL: the token came from OS_TOKEN */
	pthread_mutex_t token_lock;             /* leaf lock */
	char *token;                            /* token_lock; NULL: none */
};

/* Fill c and read the token: from token_file, else $OS_TOKEN; none is
 * allowed (a Glance without Keystone takes requests without one). 0 or
 * -errno with err. */
int dfs_glance_client_init(struct dfs_glance_client *c, const char *url,
			   const char *token_file, const char *cacert, struct dfs_error *err);
void dfs_glance_client_destroy(struct dfs_glance_client *c);

/* One call: method on base + path (path starts with '/'), or on url when
 * path is NULL (a next link, already checked). patch (may be NULL) is a
 * JSON Patch sent with the 2.1 json-patch media type. On a 2xx, *out is
 * the parsed answer (new reference; NULL for an empty body) and, when
 * resp_bytes is not NULL, *resp_bytes the body's size. Otherwise -errno
 * with err: transport failures as http.h says, statuses by
 * dfs_glance_error. A 401 with a token file re-reads it and, if the token
 * changed, sends once more; a 503 is sent again after its Retry-After (or
 * 100 ms doubling to 2 s), at most DFS_GLANCE_503_TRIES times and never
 * past deadline_ns, then -EAGAIN. Thread-safe; takes only token_lock. */
int dfs_glance_call(struct dfs_glance_client *c, const char *method, const char *path,
		    const char *url, const json_t *patch, json_t **out, size_t *resp_bytes,
		    int64_t deadline_ns, struct dfs_error *err);

/* Every image: GET /v2/images?limit=DFS_GLANCE_PAGE_LIMIT and each next
 * page (dfs_glance_next_url), at most DFS_GLANCE_PAGES_MAX pages and
 * DFS_GLANCE_LIST_MAX bytes. *images: a new array, unchecked entries. */
int dfs_glance_get_list(struct dfs_glance_client *c, json_t **images, int64_t deadline_ns,
			struct dfs_error *err);

/* --------------------------------------------- glance.c, glance_poll.c */

struct glance_entry {
	json_t *doc;
	uint64_t seq;       /* g->seq when stored */
};

/* The backend. Locks and what they guard: glance.c's opening comment. */
struct glance {
	struct dfs_backend base;
	struct dfs_glance_client cl;
	double timeout, poll;
	pthread_mutex_t mu;
	struct dfs_map *objs;   /* mu: id -> struct glance_entry */
	uint64_t seq;           /* mu: bumped by every store */
	dfs_change_cb cb;       /* set once by watch, before the thread starts */
	void *cb_arg;
	int down;               /* poll thread only */
	pthread_t thread;
	int watching;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int stop;               /* stop_mu */
};

/* g->mu held. Store doc (a new reference is taken) as image id, its seq the
 * next one. 0 or -ENOMEM. */
int glance_store(struct glance *g, const char *id, json_t *doc);
/* g->mu held. Tell the model (when it listens). */
void glance_report(struct glance *g, const char *id, const json_t *doc);
/* Takes g->mu. The image is gone (a 404): forget it, tell the model. */
void glance_gone(struct glance *g, const char *id);
void glance_entry_free(struct glance_entry *e);
/* Every image, checked; bad entries logged and skipped. *out: new array.
 * No lock held. */
int glance_fetch_all(struct glance *g, json_t **out, int64_t deadline_ns,
		     struct dfs_error *err);

/* glance_poll.c */
int glance_watch(struct dfs_backend *b, dfs_change_cb cb, void *arg);

#endif
