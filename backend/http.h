/* http.h - a small HTTP client on libcurl, shared by the registry check, the
 * apps API and the Glance client.
 *
 * One struct dfs_http serves every thread: it keeps a pool of curl easy
 * handles and one connection cache shared between them, so consecutive
 * requests to a server reuse an open (keep-alive, TLS-resumed) connection.
 * Every request runs to an absolute CLOCK_MONOTONIC deadline and never hangs
 * past it. Transport failures become -errno and one human line through one
 * mapping (README, "Errors"):
 *   connection refused                          ECONNREFUSED
 *   host unknown, network or host unreachable   EHOSTUNREACH
 *   deadline reached (connect or answer)        ETIMEDOUT
 *   TLS failure, broken or oversized answer     EIO
 *   malformed URL or request                    EINVAL
 *   out of memory                               ENOMEM
 *   dfs_cancel_all() was called (error.h)       ECANCELED
 * An answer is oversized when its header lines pass DFS_HTTP_HEADER_BYTES_MAX
 * ("response headers over 64 KiB"), it has more than DFS_HTTP_HEADERS_MAX of
 * them, or its body passes the request's max_body; the transfer stops there,
 * so no such answer is ever held whole.
 * HTTP statuses are not failures here: any complete answer is returned with
 * its status, and the caller maps it (dfs_errno_from_http, or its own table).
 * Redirects are not followed (a 3xx is an answer like any other, so no
 * credential or Authorization header ever goes to a host a Location names),
 * and only http and https are spoken.
 *
 * Shutdown: once dfs_cancel_all() is called, a request in flight stops
 * within about 50 ms and one not yet started makes no connection; both
 * return -ECANCELED with the line DFS_CANCELLED_MSG.
 *
 * Secrets: header values, the Basic password and the body are never logged
 * nor put in an error line. The URL and the peer label may be (they name the
 * server in the line the user reads), so a URL must never carry credentials.
 */
#ifndef DEPLOYFS_HTTP_H
#define DEPLOYFS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define DFS_HTTP_BODY_MAX    ((size_t)64 << 20) /* README, "Limits and memory": larger is EIO */
#define DFS_HTTP_HEADERS_MAX 128                /* response header lines kept */
#define DFS_HTTP_HEADER_BYTES_MAX ((size_t)64 << 10) /* all header lines of a
						  * response; more is EIO */

struct dfs_http;

/* One request. Everything is borrowed for the duration of the call. */
struct dfs_http_request {
	const char *method;            /* "GET" (NULL), "HEAD", "POST", "PUT",
					* "PATCH", "DELETE", ... */
	const char *url;               /* http:// or https://, no credentials */
	const char *const *headers;    /* "Name: value" lines, n_headers of them;
					* they replace curl's defaults of the
					* same name, "Name:" removes one */
	size_t n_headers;
	const char *username;          /* HTTP Basic when non-NULL; the */
	const char *password;          /*   password may be NULL ("")   */
	const void *body;              /* request body, or NULL for none; set */
	size_t body_len;               /*   Content-Type in headers yourself */
	int64_t deadline_ns;           /* CLOCK_MONOTONIC; connect and answer
					* must both finish before it */
	const char *cacert;            /* extra CA bundle file, trusted besides
					* the system's CAs, or NULL: system */
	int insecure;                  /* 1: do not verify the TLS peer or name */
	size_t max_body;               /* 0: DFS_HTTP_BODY_MAX; larger is EIO */
	const char *peer;              /* how error lines name the server, e.g.
					* "registry ghcr.io"; NULL: "server
					* HOST[:PORT]" taken from the URL */
};

struct dfs_http_header {
	char *name;                    /* as sent, e.g. "Www-Authenticate" */
	char *value;                   /* trimmed of surrounding blanks */
};

/* The answer. Owned by the caller after dfs_http_request; release it with
 * dfs_http_response_release (also after a failure: it is then empty). */
struct dfs_http_response {
	long status;                   /* 200, 404, ...; 0 when no answer */
	char *body;                    /* NUL-terminated; "" for none (HEAD) */
	size_t body_len;               /* without the NUL */
	struct dfs_http_header *headers; /* of the final answer only */
	size_t n_headers;
	int tls_failed;                /* set with -EIO when the TLS handshake
					* failed, e.g. the server speaks plain
					* HTTP: lets a caller fall back to http */
};

/* Monotonic clock now, in ns: what deadline_ns is measured against. */
int64_t dfs_http_now_ns(void);

/* New client (libcurl is initialised with the first one). Thread-safe once
 * made. NULL with err (ENOMEM, EIO) on failure. */
struct dfs_http *dfs_http_new(struct dfs_error *err);

/* Close connections and free. Accepts NULL. No request may be in flight. */
void dfs_http_free(struct dfs_http *h);

/* Send req and wait for the whole answer, or until req->deadline_ns.
 * Safe to call from any number of threads at once on one client.
 * Returns 0 when an answer came (whatever its status) with *resp filled;
 * else -errno as in the table above, err filled, *resp empty but still to be
 * released. A deadline already past is -ETIMEDOUT without a request. */
int dfs_http_request(struct dfs_http *h, const struct dfs_http_request *req,
		     struct dfs_http_response *resp, struct dfs_error *err);

/* Free what resp holds and empty it. Accepts NULL and an empty response. */
void dfs_http_response_release(struct dfs_http_response *resp);

/* Value of response header name (case-insensitive), borrowed from resp.
 * iter NULL: the first one. Otherwise *iter (start at 0) is where the search
 * resumes and is advanced past the match, so a loop visits repeated headers
 * such as WWW-Authenticate in order. NULL when there is no (further) one. */
const char *dfs_http_header(const struct dfs_http_response *resp,
			    const char *name, size_t *iter);

#endif
