/* api_internal.h - what the files of the apps API backend share, and the
 * pure parts tests/unit/test_api.c reaches. Not an API: nothing but
 * backend/api*.c, that test, and the Glance client (backend/glance*.c,
 * which shares the URL and message helpers of api_wire.c) includes it.
 *
 * The backend (api.h) is five files, one concern each:
 *   api.c       the vtable: caches, lists, reads, an app's image patch
 *   api_registry.c  registries: drafts made by mkdir, created by their url
 *   api_poll.c  the poll thread: changes made elsewhere
 *   api_http.c  the wire: one request with the token, 401 re-read, 503
 *               retries, lists followed page by page
 *   api_wire.c  pure: list shapes, next links, error bodies, the PATCH body
 *
 * Errors follow error.h: 0 or -errno, err (may be NULL) filled on failure
 * and untouched on success.
 */
#ifndef DEPLOYFS_API_INTERNAL_H
#define DEPLOYFS_API_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "backend.h"
#include "error.h"
#include "http.h"
#include "map.h"

#define DFS_API_URL_MAX      4096
#define DFS_API_ORIGIN_MAX   512
#define DFS_API_MSG_MAX      240        /* bytes of a server message quoted */
#define DFS_API_TOKEN_MAX    8192
#define DFS_API_PAGES_MAX    1000       /* pages of one list */
#define DFS_API_BODY_MAX     ((size_t)16 << 20)  /* one answer */
#define DFS_API_LIST_MAX     ((size_t)64 << 20)  /* all pages of one list */
#define DFS_API_503_TRIES    8

/* ------------------------------------------------------------ api_wire.c */

/* The items of one list page and its next link. body is an array, or an
 * object holding one under "items", "data", "results" or "content" (else
 * its only array member). The next link is body's "next" (a string), or
 * "links"/"_links" holding "next" as a string or {"href": string}; null or
 * absent: none. *items: borrowed from body. *next: borrowed from body, or
 * NULL. -EIO with err when body is no list. */
int dfs_api_list_items(const json_t *body, json_t **items, const char **next,
		       struct dfs_error *err);

/* The target of rel="next" in a Link header value (RFC 8288:
 * `<url>; rel="next", <url2>; rel="prev"`), copied into out. 0, or -ENOENT
 * when there is none, -ENAMETOOLONG when it does not fit. */
int dfs_api_link_next(const char *header, char *out, size_t outsz);

/* "scheme://host:port" of an http(s) URL, lower-cased, the default port
 * made explicit (80, 443). -EINVAL for anything else, including a URL with
 * credentials (user@host). */
int dfs_api_origin(const char *url, char *out, size_t outsz);

/* Resolve ref (absolute, scheme-relative, absolute-path, query-only or
 * relative-path) against the URL of the page it came from (RFC 3986 5.2,
 * fragments dropped) into out. -EINVAL when ref is malformed (control
 * characters, spaces) or lands on another origin than origin (a next link
 * may only lead back to the API), -ENAMETOOLONG when too long. */
int dfs_api_resolve(const char *origin, const char *page_url, const char *ref, char *out,
		    size_t outsz);

/* The errno and error line of an API answer with a status that is not a
 * success: the one table of error.h (dfs_errno_from_http), with the
 * server's JSON {"code","message"} in the line: `apps API: <message>`,
 * sanitised (no control characters, cut at DFS_API_MSG_MAX bytes on a
 * UTF-8 boundary). 403 with code 2fa_required says the token needs 2FA;
 * 401 says the token was refused. Returns -errno. */
int dfs_api_error(long status, const char *body, size_t len, struct dfs_error *err);

/* Copy s into out as a safe quoted message: control characters become
 * spaces, invalid UTF-8 becomes '?', cut at DFS_API_MSG_MAX bytes (and
 * outsz) without splitting a character. */
void dfs_api_sanitise(const char *s, char *out, size_t outsz);

/* Seconds a Retry-After value asks for (delta-seconds only; an HTTP date
 * or garbage gives -1). Capped at 3600. */
int dfs_api_retry_after(const char *value);

/* The one JSON Patch of an app the apps API can take: ops on
 * /source/image/name, /source/image/tag, /source/containerRegistryConfigIdRef
 * (and an "add" of an empty object at /source or /source/image that is
 * already there, which is skipped; "test" anywhere). Applies it to app and
 * returns the PATCH .../image body {"imageName","imageTag",
 * "containerRegistryId"?} in *body (new reference; imageTag "latest" when
 * the app has none). -EPERM with a line naming the path for anything else,
 * -EINVAL when the result has no image name or a test fails. The registry
 * id in the body is the one the patched app holds: the caller translates
 * local ids. */
int dfs_api_patch_body(const json_t *app, const json_t *patch, json_t **body,
		       struct dfs_error *err);

/* Percent-encode one path segment (RFC 3986 unreserved kept) into out.
 * -ENAMETOOLONG when it does not fit. */
int dfs_api_segment(const char *s, char *out, size_t outsz);

/* ------------------------------------------------------------ api_http.c */

struct dfs_api_client {
	struct dfs_http *http;
	char *base;                        /* ends in /api/v1, no trailing '/' */
	char origin[DFS_API_ORIGIN_MAX];   /* of base: next links stay on it */
	char peer[DFS_API_ORIGIN_MAX + 16];/* "apps API host:port" */
	char *cacert;
	double timeout;
	char *token_file;                  /* NULL: the token came from the env */
	pthread_mutex_t token_lock;        /* leaf lock */
	char *token;                       /* token_lock; NULL: none */
};

/* Fill c from the options (api.h) and read the token: from token_file,
 * else DEPLOYFS_API_TOKEN. The token is never logged nor put in an error
 * line. 0 or -errno with err. */
int dfs_api_client_init(struct dfs_api_client *c, const char *base, const char *token_file,
			const char *cacert, double timeout, struct dfs_error *err);
void dfs_api_client_destroy(struct dfs_api_client *c);

/* One call: method on base + path (path starts with '/'), or on url when
 * path is NULL (a next link, already checked). body (borrowed) is sent as
 * JSON. On a 2xx, *out is the parsed answer (new reference; NULL for an
 * empty body) and *status its status; resp (may be NULL) receives the
 * answer for its headers (caller releases it). Otherwise -errno with err:
 * transport failures as http.h says, statuses by dfs_api_error. A 401 with
 * a token file re-reads it and, if the token changed, retries once; a 503
 * is retried after its Retry-After (or a backoff from 100 ms doubling to
 * 2 s), at most DFS_API_503_TRIES times and never past deadline_ns, then
 * -EAGAIN. Waits honour dfs_cancelled(). Thread-safe. */
int dfs_api_call(struct dfs_api_client *c, const char *method, const char *path,
		 const char *url, const json_t *body, json_t **out, long *status,
		 struct dfs_http_response *resp, int64_t deadline_ns, struct dfs_error *err);

/* GET path and every page after it (next links on the API's origin, at
 * most DFS_API_PAGES_MAX pages and DFS_API_LIST_MAX bytes): *items is a
 * new array of every page's items, in order. */
int dfs_api_get_list(struct dfs_api_client *c, const char *path, json_t **items,
		     int64_t deadline_ns, struct dfs_error *err);

/* ------------------------------------------- api.c, api_registry.c, api_poll.c */

#define DFS_API_SEG_MAX (3 * 200 + 1)   /* a percent-encoded object id */

struct api_entry {
	json_t *doc;        /* NULL: known to be missing (a registry's 404) */
	char *env;          /* apps: the environment whose list holds it */
	char *company;      /* registries: where its GET goes */
	int64_t fetched_ns;
	uint64_t seq;
};

struct api_draft {
	json_t *doc;        /* {"id","name",url?,username?,password?,token?} */
	char *company;      /* where its POST goes */
	char *server_id;    /* once created: its entry is objs[DFS_REGISTRY][it] */
};

/* The backend. Locks and what they guard: api.c's opening comment. */
struct api {
	struct dfs_backend base;
	struct dfs_api_client cl;
	char *company;      /* company=, or NULL */
	double timeout, poll;
	pthread_mutex_t mu;
	struct dfs_map *objs[DFS_KIND_COUNT];
	struct dfs_map *drafts;
	struct dfs_map *alias;
	uint64_t seq;
	int envs_loaded, apps_loaded;
	dfs_change_cb cb;   /* set once by watch, before the thread starts */
	void *cb_arg;
	int down;           /* poll thread only */
	pthread_t thread;
	int watching;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int stop;           /* stop_mu */
};

struct api *api_of(struct dfs_backend *b);
void api_entry_free(struct api_entry *e);
void api_draft_free(struct api_draft *d);
const char *api_str(const json_t *doc, const char *key);
int api_hidden(const json_t *doc);

/* a->mu held. Store doc (a new reference is taken) as object id of kind k,
 * its fetch time now and its seq the next one. 0 or -ENOMEM. */
int api_store(struct api *a, enum dfs_kind k, const char *id, json_t *doc, const char *env,
	      const char *company);
/* a->mu held. Tell the model (when it listens) under the mount's id. */
void api_report(struct api *a, enum dfs_kind k, const char *id, const json_t *doc);
/* Takes a->mu. The object is gone on the API: forget it, tell the model. */
void api_gone(struct api *a, enum dfs_kind k, const char *id);
/* A document from the API, checked (storedoc.h) before it is served: 0 or
 * -EIO with a line naming the object. */
int api_check_doc(enum dfs_kind k, const json_t *doc, const char *want_id,
		  struct dfs_error *err);
/* Lists, pages followed; bad entries logged and skipped, deleted ones left
 * out. *out: a new array. No lock held. */
int api_fetch_envs(struct api *a, json_t **out, struct dfs_error *err);
int api_fetch_apps(struct api *a, const char *env, json_t **out, struct dfs_error *err);
/* a->mu held. company=, else the environments' common companyIdRef, else
 * NULL with err (EINVAL). Borrowed. */
const char *api_company_of(struct api *a, struct dfs_error *err);
/* No lock held. GET the registries apps name that are not known yet;
 * report_new: tell the model about each. */
int api_learn_registries(struct api *a, int report_new, struct dfs_error *err);

/* api_registry.c: drafts made by mkdir, created by their url */
int api_patch_registry(struct api *a, const char *id, const json_t *patch, json_t **out,
		       int64_t deadline_ns, struct dfs_error *err);
int api_create(struct dfs_backend *b, enum dfs_kind k, const json_t *doc, json_t **out,
	       int64_t deadline_ns, struct dfs_error *err);
int api_remove(struct dfs_backend *b, enum dfs_kind k, const char *id, int64_t deadline_ns,
	       struct dfs_error *err);

/* api_poll.c: the poll thread */
int api_watch(struct dfs_backend *b, dfs_change_cb cb, void *arg);

#endif
