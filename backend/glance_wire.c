/* glance_wire.c - the pure parts of the Glance client (glance_internal.h):
 * the endpoint, where the next list page is, what a list page and an error
 * answer hold, and the headers of a request. No I/O, no state. */
#include "glance_internal.h"
#include "api_internal.h"   /* the shared URL and message helpers */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int dfs_glance_endpoint(const char *url, char *base, size_t basesz, char *origin,
			size_t originsz)
{
	const char *auth;
	size_t n, path;

	if (!url || strpbrk(url, "?#") || dfs_api_origin(url, origin, originsz) < 0)
		return -EINVAL;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -EINVAL;
	auth = strstr(url, "://") + 3;
	path = (size_t)(auth - url) + strcspn(auth, "/");   /* where the path starts */
	n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	if (n >= path + 3 && strncasecmp(url + n - 3, "/v2", 3) == 0)
		n -= 3;
	while (n && url[n - 1] == '/')
		n--;
	if (n + 1 > basesz)
		return -ENAMETOOLONG;
	memcpy(base, url, n);
	base[n] = '\0';
	/* what is left must still be a URL with a host */
	return strstr(base, "://") && dfs_api_origin(base, origin, originsz) == 0 ? 0 : -EINVAL;
}

int dfs_glance_next_url(const char *base, const char *origin, const char *page_url,
			const char *next, char *out, size_t outsz)
{
	char joined[DFS_GLANCE_URL_MAX];

	for (const char *p = next; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -EINVAL;
	if (strncmp(next, "/v2/", 4) == 0) {
		/* from the endpoint, as glanceclient reads it; resolved again
		 * below so that dot segments cannot climb out of it */
		if ((size_t)snprintf(joined, sizeof(joined), "%s%s", base, next) >= sizeof(joined))
			return -ENAMETOOLONG;
		if (strstr(next, "/../") || strstr(next, "/./"))
			return -EINVAL;
		next = joined;
	}
	return dfs_api_resolve(origin, page_url, next, out, outsz);
}

int dfs_glance_page(const json_t *body, json_t **images, const char **next,
		    struct dfs_error *err)
{
	json_t *arr = json_object_get(body, "images"), *v = json_object_get(body, "next");

	*images = NULL;
	*next = NULL;
	if (!json_is_object(body) || !json_is_array(arr))
		return dfs_error_set(err, EIO, "Glance: a list answer without an \"images\" array");
	if (v && !json_is_null(v) && !json_is_string(v))
		return dfs_error_set(err, EIO, "Glance: a list answer whose \"next\" is not a "
				     "string");
	*images = arr;
	if (json_is_string(v) && *json_string_value(v))
		*next = json_string_value(v);
	return 0;
}

/* Length of the HTML line break at p (<br>, <br/>, <br />, any case), or 0. */
static size_t br_len(const char *p)
{
	size_t i = 3;

	if (strncasecmp(p, "<br", 3) != 0)
		return 0;
	while (p[i] == ' ')
		i++;
	if (p[i] == '/')
		i++;
	return p[i] == '>' ? i + 1 : 0;
}

/* The entity at p and its length, or 0. */
static size_t entity(const char *p, char *ch)
{
	static const struct { const char *name; char ch; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
		{ "&#39;", '\'' }, { "&#x27;", '\'' }, { "&#X27;", '\'' },
	};

	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		size_t n = strlen(ents[i].name);

		if (strncmp(p, ents[i].name, n) == 0) {
			*ch = ents[i].ch;
			return n;
		}
	}
	return 0;
}

void dfs_glance_clean_message(const char *in, char *out, size_t outsz)
{
	/* the message, bounded before it is cleaned: an answer may be huge */
	char buf[4 * DFS_GLANCE_MSG_MAX + 8];
	size_t o = 0, n;
	int space = 0;
	char ch;

	for (const char *p = in; *p && o + 1 < sizeof(buf);) {
		if ((n = br_len(p)) || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		    *p == '\f' || *p == '\v') {
			space = 1;
			p += n ? n : 1;
			continue;
		}
		if (space && o)
			buf[o++] = ' ';
		space = 0;
		if (o + 1 >= sizeof(buf))
			break;
		if (*p == '&' && (n = entity(p, &ch))) {
			buf[o++] = ch;
			p += n;
		} else {
			buf[o++] = *p++;
		}
	}
	buf[o] = '\0';
	dfs_api_sanitise(buf, out, outsz);
	/* a cut may leave a trailing space */
	for (n = strlen(out); n && out[n - 1] == ' ';)
		out[--n] = '\0';
}

int dfs_glance_error(long status, const char *body, size_t len, struct dfs_error *err)
{
	char msg[DFS_GLANCE_MSG_MAX + 1] = "";
	int e = dfs_errno_from_http(status);
	json_t *doc = NULL, *v;

	if (body && len && len <= ((size_t)64 << 10))
		doc = json_loadb(body, len, 0, NULL);
	v = json_object_get(doc, "message");
	if (json_is_string(v))
		dfs_glance_clean_message(json_string_value(v), msg, sizeof(msg));
	if (!msg[0] && json_is_string(v = json_object_get(doc, "title")))
		dfs_glance_clean_message(json_string_value(v), msg, sizeof(msg));
	json_decref(doc);
	if (!msg[0])
		snprintf(msg, sizeof(msg), "HTTP %ld", status);
	if (status == 401)
		return dfs_error_set(err, e, "Glance: %s (the token was refused: check "
				     "glance_token_file or OS_TOKEN)", msg);
	return dfs_error_set(err, e, "Glance: %s", msg);
}

int dfs_glance_headers(const char *token, int patch, char *auth, size_t authsz,
		       const char *out[5], size_t *n)
{
	size_t i = 0;

	if (token) {
		if ((size_t)snprintf(auth, authsz, "X-Auth-Token: %s", token) >= authsz)
			return -ENAMETOOLONG;
		out[i++] = auth;
	}
	out[i++] = "Accept: application/json";
	out[i++] = "Expect:";   /* no 100-continue round trip for a body */
	if (patch)
		out[i++] = "Content-Type: " DFS_GLANCE_PATCH_TYPE;
	*n = i;
	return 0;
}
