/* api_http.c - one request to the apps API (api_internal.h): the Bearer
 * token, a re-read of the token file after a 401, 503 retries inside the
 * deadline, and lists followed page by page.
 *
 * The token lives in c->token (token_lock) and in the Authorization header
 * of the request in flight, which is wiped after it; it is never logged,
 * never in an error line (http.h never quotes header values).
 */
#include "api_internal.h"
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
 * request is worth retrying), else 0. */
static int reload_token(struct dfs_api_client *c)
{
	struct dfs_error e = { 0 };
	char *fresh = NULL;
	int changed;

	if (!c->token_file)
		return 0;
	if (dfs_token_read_file(c->token_file, "api_token_file", &fresh, &e) < 0) {
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
		log_info("apps API: read api_token_file again after a 401; retrying");
	return changed;
}

int dfs_api_client_init(struct dfs_api_client *c, const char *base, const char *token_file,
			const char *cacert, double timeout, struct dfs_error *err)
{
	size_t n = strlen(base);
	int ret;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->token_lock, NULL);
	while (n && base[n - 1] == '/')
		n--;
	c->base = strndup(base, n);
	if (!c->base)
		return dfs_error_set(err, ENOMEM, "out of memory");
	if (dfs_api_origin(c->base, c->origin, sizeof(c->origin)) < 0 || strchr(c->base, '?') ||
	    strchr(c->base, '#'))
		return dfs_error_set(err, EINVAL, "api=%s: use an http:// or https:// URL without "
				     "credentials, query or fragment, such as "
				     "https://api.example.com/api/v1", c->base);
	snprintf(c->peer, sizeof(c->peer), "apps API %s", strstr(c->origin, "://") + 3);
	c->timeout = timeout;
	if (cacert && !(c->cacert = strdup(cacert)))
		return dfs_error_set(err, ENOMEM, "out of memory");
	if (token_file && !(c->token_file = strdup(token_file)))
		return dfs_error_set(err, ENOMEM, "out of memory");
	ret = dfs_token_load(token_file, "api_token_file", "DEPLOYFS_API_TOKEN", &c->token, err);
	if (ret < 0)
		return ret;
	if (!c->token)
		log_warnx("apps API: no token (api_token_file= or DEPLOYFS_API_TOKEN); requests "
			  "go without Authorization");
	c->http = dfs_http_new(err);
	return c->http ? 0 : -(err && err->code ? err->code : ENOMEM);
}

void dfs_api_client_destroy(struct dfs_api_client *c)
{
	dfs_http_free(c->http);
	free(c->base);
	free(c->cacert);
	free(c->token_file);
	dfs_secret_free(c->token);
	pthread_mutex_destroy(&c->token_lock);
	memset(c, 0, sizeof(*c));
}

/* Send once. The Authorization header is built here and wiped after. */
static int send_once(struct dfs_api_client *c, const char *method, const char *url,
		     const char *text, struct dfs_http_response *resp, int64_t deadline_ns,
		     struct dfs_error *err)
{
	const char *headers[4];
	char *auth = NULL;
	size_t n = 0;
	int ret;

	pthread_mutex_lock(&c->token_lock);
	if (c->token && asprintf(&auth, "Authorization: Bearer %s", c->token) < 0)
		auth = NULL;
	pthread_mutex_unlock(&c->token_lock);
	if (auth)
		headers[n++] = auth;
	headers[n++] = "Accept: application/json";
	headers[n++] = "Expect:";   /* no 100-continue round trip for a body */
	if (text)
		headers[n++] = "Content-Type: application/json";
	struct dfs_http_request req = {
		.method = method,
		.url = url,
		.headers = headers,
		.n_headers = n,
		.body = text,
		.body_len = text ? strlen(text) : 0,
		.deadline_ns = deadline_ns,
		.cacert = c->cacert,
		.max_body = DFS_API_BODY_MAX,
		.peer = c->peer,
	};
	ret = dfs_http_request(c->http, &req, resp, err);
	dfs_secret_free(auth);
	return ret;
}

int dfs_api_call(struct dfs_api_client *c, const char *method, const char *path,
		 const char *url, const json_t *body, json_t **out, long *status,
		 struct dfs_http_response *resp_out, int64_t deadline_ns, struct dfs_error *err)
{
	char full[DFS_API_URL_MAX];
	struct dfs_http_response resp;
	int64_t backoff = BACKOFF_FIRST_NS;
	char *text = NULL;
	int tried_401 = 0, tries = 0, ret;

	*out = NULL;
	if (path) {
		if ((size_t)snprintf(full, sizeof(full), "%s%s", c->base, path) >= sizeof(full))
			return dfs_error_set(err, ENAMETOOLONG, "apps API: a URL over %d bytes",
					     DFS_API_URL_MAX);
		url = full;
	}
	if (body && !(text = json_dumps(body, JSON_COMPACT)))
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
					ret = dfs_error_set(err, EIO, "apps API: %s %s: the answer "
							    "is not JSON (line %d)", method,
							    path ? path : "(next page)", jerr.line);
					goto out;
				}
			}
			if (status)
				*status = st;
			if (resp_out) {
				*resp_out = resp;
				memset(&resp, 0, sizeof(resp));
			}
			ret = 0;
			goto out;
		}
		if (st == 401 && !tried_401 && reload_token(c)) {
			tried_401 = 1;
			dfs_http_response_release(&resp);
			continue;
		}
		if (st == 503 && ++tries < DFS_API_503_TRIES) {
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
		ret = dfs_api_error(st, resp.body, resp.body_len, err);
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

int dfs_api_get_list(struct dfs_api_client *c, const char *path, json_t **items,
		     int64_t deadline_ns, struct dfs_error *err)
{
	char url[DFS_API_URL_MAX], next[DFS_API_URL_MAX], shown[120];
	json_t *all = json_array();
	size_t total = 0;
	int ret = 0;

	if (!all)
		return dfs_error_set(err, ENOMEM, "out of memory");
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >= sizeof(url)) {
		ret = dfs_error_set(err, ENAMETOOLONG, "apps API: a URL over %d bytes",
				    DFS_API_URL_MAX);
		goto fail;
	}
	for (int page = 0;; page++) {
		struct dfs_http_response resp = { 0 };
		const char *link = NULL, *hdr;
		json_t *doc = NULL, *arr;

		if (page >= DFS_API_PAGES_MAX) {
			ret = dfs_error_set(err, EIO, "apps API: GET %s: more than %d pages", path,
					    DFS_API_PAGES_MAX);
			goto fail;
		}
		ret = dfs_api_call(c, "GET", NULL, url, NULL, &doc, NULL, &resp, deadline_ns, err);
		if (ret < 0)
			goto fail;
		total += resp.body_len;
		if (total > DFS_API_LIST_MAX) {
			ret = dfs_error_set(err, EIO, "apps API: GET %s: the list is over %zu MiB",
					    path, DFS_API_LIST_MAX >> 20);
		} else if ((ret = dfs_api_list_items(doc, &arr, &link, err)) == 0) {
			json_array_extend(all, arr);
			if (!link && (hdr = dfs_http_header(&resp, "Link", NULL)) &&
			    dfs_api_link_next(hdr, next, sizeof(next)) == 0)
				link = next;
			if (link) {
				char to[DFS_API_URL_MAX];

				if (dfs_api_resolve(c->origin, url, link, to, sizeof(to)) < 0) {
					dfs_api_sanitise(link, shown, sizeof(shown));
					ret = dfs_error_set(err, EIO, "apps API: GET %s: the next "
							    "page %s is not on %s; not followed",
							    path, shown, c->origin);
				} else if (strcmp(to, url) == 0) {
					ret = dfs_error_set(err, EIO, "apps API: GET %s: the next "
							    "page is the page itself", path);
				} else {
					memcpy(url, to, strlen(to) + 1);
				}
			}
		}
		json_decref(doc);
		dfs_http_response_release(&resp);
		if (ret < 0)
			goto fail;
		if (!link)
			break;
	}
	*items = all;
	return 0;
fail:
	json_decref(all);
	return ret;
}
