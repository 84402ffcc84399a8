/* glance_http.c - one request to Glance (glance_internal.h): the
 * X-Auth-Token, a re-read of the token file after a 401, 503 retries
 * inside the deadline, and the listing followed page by page.
 *
 * The token lives in c->token (token_lock) and in the X-Auth-Token header
 * of the request in flight, which is wiped after it; it is never logged,
 * never in an error line (http.h never quotes header values).
 */
#include "glance_internal.h"
#include "api_internal.h"   /* dfs_api_retry_after */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_FIRST_NS  100000000LL   /* 100 ms */
#define BACKOFF_MAX_NS   2000000000LL   /* 2 s */

/* After a 401: read the token file again. 1 when the token changed (the
 * request is worth sending again), else 0. */
static int reload_token(struct dfs_glance_client *c)
{
	struct dfs_error e = { 0 };
	char *fresh = NULL;
	int changed;

	if (!c->token_file)
		return 0;
	if (dfs_token_read_file(c->token_file, "glance_token_file", &fresh, &e) < 0) {
		log_warnx("%s", e.msg);
		return 0;
	}
	pthread_mutex_lock(&c->token_lock);
	changed = !c->token || strcmp(c->token, fresh) != 0;
	if (changed) {
		dfs_secret_free(c->token);
		c->token = fresh;
		fresh = NULL;
	}
	pthread_mutex_unlock(&c->token_lock);
	dfs_secret_free(fresh);
	if (changed)
		log_info("Glance: read glance_token_file again after a 401; sending again");
	return changed;
}

int dfs_glance_client_init(struct dfs_glance_client *c, const char *url,
			   const char *token_file, const char *cacert, struct dfs_error *err)
{
	int ret;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->token_lock, NULL);
	if (dfs_glance_endpoint(url, c->base, sizeof(c->base), c->origin, sizeof(c->origin)) < 0)
		return dfs_error_set(err, EINVAL, "glance=%.200s: use the endpoint's http:// or "
				     "https:// URL without credentials, query or fragment, such "
				     "as http://127.0.0.1:9292", url);
	snprintf(c->peer, sizeof(c->peer), "Glance %s", strstr(c->origin, "://") + 3);
	if (cacert && !(c->cacert = strdup(cacert)))
		return dfs_error_set(err, ENOMEM, "out of memory");
	if (token_file && !(c->token_file = strdup(token_file)))
		return dfs_error_set(err, ENOMEM, "out of memory");
	ret = dfs_token_load(token_file, "glance_token_file", "OS_TOKEN", &c->token, err);
	if (ret < 0)
		return ret;
	/* none is normal for a Glance without Keystone; a 401 says where one goes */
	if (!c->token)
		log_debug("Glance: no token (glance_token_file= or OS_TOKEN); requests go "
			  "without X-Auth-Token");
	c->http = dfs_http_new(err);
	return c->http ? 0 : -(err && err->code ? err->code : ENOMEM);
}

void dfs_glance_client_destroy(struct dfs_glance_client *c)
{
	dfs_http_free(c->http);
	free(c->cacert);
	free(c->token_file);
	dfs_secret_free(c->token);
	pthread_mutex_destroy(&c->token_lock);
	memset(c, 0, sizeof(*c));
}

/* Send once. The X-Auth-Token header is built here and wiped after. */
static int send_once(struct dfs_glance_client *c, const char *method, const char *url,
		     const char *text, struct dfs_http_response *resp, int64_t deadline_ns,
		     struct dfs_error *err)
{
	char auth[DFS_GLANCE_TOKEN_MAX + 32];
	const char *headers[5];
	size_t n = 0;
	int ret;

	pthread_mutex_lock(&c->token_lock);
	ret = dfs_glance_headers(c->token, text != NULL, auth, sizeof(auth), headers, &n);
	pthread_mutex_unlock(&c->token_lock);
	if (ret < 0)
		return dfs_error_set(err, EINVAL, "Glance: the token is too long");
	struct dfs_http_request req = {
		.method = method,
		.url = url,
		.headers = headers,
		.n_headers = n,
		.body = text,
		.body_len = text ? strlen(text) : 0,
		.deadline_ns = deadline_ns,
		.cacert = c->cacert,
		.max_body = DFS_GLANCE_BODY_MAX,
		.peer = c->peer,
	};
	ret = dfs_http_request(c->http, &req, resp, err);
	explicit_bzero(auth, sizeof(auth));
	return ret;
}

int dfs_glance_call(struct dfs_glance_client *c, const char *method, const char *path,
		    const char *url, const json_t *patch, json_t **out, size_t *resp_bytes,
		    int64_t deadline_ns, struct dfs_error *err)
{
	char full[DFS_GLANCE_URL_MAX];
	struct dfs_http_response resp = { 0 };
	int64_t backoff = BACKOFF_FIRST_NS;
	char *text = NULL;
	int tried_401 = 0, tries = 0, ret;

	*out = NULL;
	if (path) {
		if ((size_t)snprintf(full, sizeof(full), "%s%s", c->base, path) >= sizeof(full))
			return dfs_error_set(err, ENAMETOOLONG, "Glance: a URL over %d bytes",
					     DFS_GLANCE_URL_MAX);
		url = full;
	}
	if (patch && !(text = json_dumps(patch, JSON_COMPACT)))
		return dfs_error_set(err, ENOMEM, "out of memory");
	for (;;) {
		long st;

		ret = send_once(c, method, url, text, &resp, deadline_ns, err);
		if (ret < 0)
			goto out;
		st = resp.status;
		if (st >= 200 && st <= 299) {
			json_error_t jerr;

			if (resp.body_len) {
				*out = json_loadb(resp.body, resp.body_len, JSON_REJECT_DUPLICATES,
						  &jerr);
				if (!*out) {
					ret = dfs_error_set(err, EIO, "Glance: %s %s: the answer is "
							    "not JSON (line %d)", method,
							    path ? path : "(next page)", jerr.line);
					goto out;
				}
			}
			if (resp_bytes)
				*resp_bytes = resp.body_len;
			ret = 0;
			goto out;
		}
		if (st == 401 && !tried_401 && reload_token(c)) {
			tried_401 = 1;
			dfs_http_response_release(&resp);
			continue;
		}
		if (st == 503 && ++tries < DFS_GLANCE_503_TRIES) {
			int after = dfs_api_retry_after(dfs_http_header(&resp, "Retry-After", NULL));
			int64_t wait = after >= 0 ? (int64_t)after * 1000000000LL : backoff;

			if (dfs_http_now_ns() + wait < deadline_ns) {
				dfs_http_response_release(&resp);
				ret = dfs_sleep_until(dfs_now_ns() + wait, err);
				if (ret < 0)
					goto out;
				backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff * 2;
				continue;
			}
		}
		ret = dfs_glance_error(st, resp.body, resp.body_len, err);
		if (st == 503 && err) {
			char msg[DFS_ERROR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			dfs_error_set(err, EAGAIN, "%s (unavailable after %d tries; try again later)",
				      msg, tries);
		}
		goto out;
	}
out:
	dfs_http_response_release(&resp);
	free(text);
	return ret;
}

int dfs_glance_get_list(struct dfs_glance_client *c, json_t **images, int64_t deadline_ns,
			struct dfs_error *err)
{
	char url[DFS_GLANCE_URL_MAX], shown[120];
	json_t *all = json_array();
	size_t total = 0;
	int ret = 0;

	if (!all)
		return dfs_error_set(err, ENOMEM, "out of memory");
	if ((size_t)snprintf(url, sizeof(url), "%s/v2/images?limit=%d", c->base,
			     DFS_GLANCE_PAGE_LIMIT) >= sizeof(url)) {
		ret = dfs_error_set(err, ENAMETOOLONG, "Glance: a URL over %d bytes",
				    DFS_GLANCE_URL_MAX);
		goto fail;
	}
	for (int page = 0;; page++) {
		const char *next = NULL;
		json_t *doc = NULL, *arr;
		size_t bytes = 0;

		if (page >= DFS_GLANCE_PAGES_MAX) {
			ret = dfs_error_set(err, EIO, "Glance: GET /v2/images: more than %d pages",
					    DFS_GLANCE_PAGES_MAX);
			goto fail;
		}
		ret = dfs_glance_call(c, "GET", NULL, url, NULL, &doc, &bytes, deadline_ns, err);
		if (ret < 0)
			goto fail;
		total += bytes;
		if (total > DFS_GLANCE_LIST_MAX) {
			ret = dfs_error_set(err, EIO, "Glance: GET /v2/images: the list is over "
					    "%zu MiB", DFS_GLANCE_LIST_MAX >> 20);
		} else if ((ret = dfs_glance_page(doc, &arr, &next, err)) == 0) {
			json_array_extend(all, arr);
			if (next) {
				char to[DFS_GLANCE_URL_MAX];

				if (dfs_glance_next_url(c->base, c->origin, url, next, to,
							sizeof(to)) < 0) {
					dfs_api_sanitise(next, shown, sizeof(shown));
					ret = dfs_error_set(err, EIO, "Glance: GET /v2/images: the "
							    "next page %s is not on %s; not "
							    "followed", shown, c->origin);
				} else if (strcmp(to, url) == 0) {
					ret = dfs_error_set(err, EIO, "Glance: GET /v2/images: the "
							    "next page is the page itself");
				} else {
					memcpy(url, to, strlen(to) + 1);
				}
			}
		}
		json_decref(doc);
		if (ret < 0)
			goto fail;
		if (!next)
			break;
	}
	*images = all;
	return 0;
fail:
	json_decref(all);
	return ret;
}
