/* api_wire.c - the pure parts of the apps API client (api_internal.h):
 * what a list answer looks like, where its next page is, what an error
 * answer says, and what one image change sends. No I/O, no state. */
#include "api_internal.h"
#include "jsonpatch.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int dfs_api_list_items(const json_t *body, json_t **items, const char **next,
		       struct dfs_error *err)
{
	static const char *const wrappers[] = { "items", "data", "results", "content" };
	json_t *arr = NULL, *links, *v;
	const char *key;

	*items = NULL;
	*next = NULL;
	if (json_is_array(body)) {
		*items = (json_t *)body;
		return 0;
	}
	if (!json_is_object(body))
		return dfs_error_set(err, EIO, "apps API: a list answer is neither an array nor an "
				     "object holding one");
	for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]) && !arr; i++)
		if (json_is_array(json_object_get(body, wrappers[i])))
			arr = json_object_get(body, wrappers[i]);
	if (!arr) {
		/* an object with exactly one array: {"environments": [...]} */
		int count = 0;

		json_object_foreach((json_t *)body, key, v)
			if (json_is_array(v)) {
				arr = v;
				count++;
			}
		if (count != 1)
			return dfs_error_set(err, EIO, "apps API: a list answer holds %s array",
					     count ? "more than one" : "no");
	}
	*items = arr;
	v = json_object_get(body, "next");
	if (!json_is_string(v)) {
		links = json_object_get(body, "links");
		if (!json_is_object(links))
			links = json_object_get(body, "_links");
		v = json_object_get(links, "next");
		if (json_is_object(v))
			v = json_object_get(v, "href");
	}
	if (json_is_string(v) && *json_string_value(v))
		*next = json_string_value(v);
	return 0;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Whether the space-separated relation types in v[0..n) include "next". */
static int rel_has_next(const char *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && v[j] != ' ')
			j++;
		if (j - i == 4 && strncasecmp(v + i, "next", 4) == 0)
			return 1;
		i = j + 1;
	}
	return 0;
}

int dfs_api_link_next(const char *header, char *out, size_t outsz)
{
	const char *p = header;

	while (p && *p) {
		const char *uri, *end;
		size_t ulen;
		int next = 0;

		p = skip_ws(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p != '<')
			return -ENOENT;   /* not a link-value: give up, no guessing */
		uri = p + 1;
		end = strchr(uri, '>');
		if (!end)
			return -ENOENT;
		ulen = (size_t)(end - uri);
		p = end + 1;
		/* parameters up to the next top-level ',' */
		while (*p && *p != ',') {
			const char *name, *val;
			size_t nlen, vlen;

			p = skip_ws(p);
			if (*p != ';')
				break;
			p = skip_ws(p + 1);
			name = p;
			while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
				p++;
			nlen = (size_t)(p - name);
			p = skip_ws(p);
			val = "";
			vlen = 0;
			if (*p == '=') {
				p = skip_ws(p + 1);
				if (*p == '"') {
					val = ++p;
					while (*p && *p != '"')
						p++;
					vlen = (size_t)(p - val);
					if (*p == '"')
						p++;
				} else {
					val = p;
					while (*p && *p != ';' && *p != ',' && *p != ' ')
						p++;
					vlen = (size_t)(p - val);
				}
			}
			if (nlen == 3 && strncasecmp(name, "rel", 3) == 0 && rel_has_next(val, vlen))
				next = 1;
		}
		if (next) {
			if (ulen + 1 > outsz)
				return -ENAMETOOLONG;
			memcpy(out, uri, ulen);
			out[ulen] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

/* Split url into scheme (lower-cased into scheme[]) and the authority
 * [a0, a1); *rest points after the authority. -EINVAL unless http(s). */
static int split_url(const char *url, char scheme[8], const char **a0, const char **a1,
		     const char **rest)
{
	const char *p = strstr(url, "://");
	size_t n;

	if (!p || (n = (size_t)(p - url)) == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		scheme[i] = (char)tolower((unsigned char)url[i]);
	scheme[n] = '\0';
	if (strcmp(scheme, "http") && strcmp(scheme, "https"))
		return -EINVAL;
	*a0 = p + 3;
	*a1 = *a0 + strcspn(*a0, "/?#");
	*rest = *a1;
	return 0;
}

int dfs_api_origin(const char *url, char *out, size_t outsz)
{
	char scheme[8], host[300];
	const char *a0, *a1, *rest, *colon, *hend;
	size_t hlen;
	long port;

	if (!url || split_url(url, scheme, &a0, &a1, &rest) < 0 || a1 == a0)
		return -EINVAL;
	if (memchr(a0, '@', (size_t)(a1 - a0)))
		return -EINVAL;   /* credentials never live in a URL */
	if (*a0 == '[') {
		hend = memchr(a0, ']', (size_t)(a1 - a0));
		if (!hend)
			return -EINVAL;
		hend++;
	} else {
		hend = memchr(a0, ':', (size_t)(a1 - a0));
		if (!hend)
			hend = a1;
	}
	hlen = (size_t)(hend - a0);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	for (size_t i = 0; i < hlen; i++) {
		unsigned char ch = (unsigned char)a0[i];

		if (ch <= ' ' || ch == 0x7f)
			return -EINVAL;
		host[i] = (char)tolower(ch);
	}
	host[hlen] = '\0';
	port = strcmp(scheme, "https") == 0 ? 443 : 80;
	colon = hend;
	if (colon < a1) {
		char *end;

		if (*colon != ':' || colon + 1 == a1)
			return -EINVAL;
		port = strtol(colon + 1, &end, 10);
		if (end != a1 || port <= 0 || port > 65535)
			return -EINVAL;
	}
	if ((size_t)snprintf(out, outsz, "%s://%s:%ld", scheme, host, port) >= outsz)
		return -ENAMETOOLONG;
	return 0;
}

/* Append path (with its query: everything up to the end) to out at *olen
 * with dot segments removed (RFC 3986 5.2.4). */
static int append_path(const char *path, char *out, size_t *olen, size_t outsz)
{
	size_t plen = strcspn(path, "?"), base = *olen, o = base;
	const char *p = path;

	if (*p != '/')
		return -EINVAL;
	while (p < path + plen) {
		const char *seg = p + 1, *end = seg;
		size_t n;
		int last;

		while (end < path + plen && *end != '/')
			end++;
		n = (size_t)(end - seg);
		last = end >= path + plen;
		if (n == 1 && seg[0] == '.') {
			if (last) {
				if (o + 1 >= outsz)
					return -ENAMETOOLONG;
				out[o++] = '/';
			}
		} else if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > base && out[o - 1] != '/')
				o--;
			if (o > base)
				o--;   /* the '/' before the dropped segment */
			if (last) {
				if (o + 1 >= outsz)
					return -ENAMETOOLONG;
				out[o++] = '/';
			}
		} else {
			if (o + 1 + n >= outsz)
				return -ENAMETOOLONG;
			out[o++] = '/';
			memcpy(out + o, seg, n);
			o += n;
		}
		p = end;
	}
	if (o == base) {
		if (o + 1 >= outsz)
			return -ENAMETOOLONG;
		out[o++] = '/';
	}
	if (o + strlen(path + plen) >= outsz)
		return -ENAMETOOLONG;
	strcpy(out + o, path + plen);
	*olen = o + strlen(path + plen);
	return 0;
}

int dfs_api_resolve(const char *origin, const char *page_url, const char *ref, char *out,
		    size_t outsz)
{
	char target[DFS_API_URL_MAX], scheme[8], got[DFS_API_ORIGIN_MAX], path[DFS_API_URL_MAX];
	const char *a0, *a1, *rest, *p;
	size_t reflen, olen;
	int ret;

	for (p = ref; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -EINVAL;
	reflen = strcspn(ref, "#");   /* a fragment is not sent */
	if (split_url(page_url, scheme, &a0, &a1, &rest) < 0)
		return -EINVAL;
	/* a scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
	p = ref;
	if (isalpha((unsigned char)*p)) {
		while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
			p++;
	}
	if (p > ref && *p == ':') {
		ret = snprintf(target, sizeof(target), "%.*s", (int)reflen, ref);
	} else if (ref[0] == '/' && ref[1] == '/') {
		ret = snprintf(target, sizeof(target), "%s:%.*s", scheme, (int)reflen, ref);
	} else if (ref[0] == '/') {
		ret = snprintf(target, sizeof(target), "%.*s%.*s", (int)(a1 - page_url), page_url,
			       (int)reflen, ref);
	} else if (ref[0] == '?' || reflen == 0) {
		size_t keep = (size_t)(a1 - page_url) + strcspn(a1, "?#");

		ret = snprintf(target, sizeof(target), "%.*s%.*s", (int)keep, page_url,
			       (int)reflen, ref);
	} else {
		/* relative path: beside the last segment of the page's path */
		size_t plen = strcspn(a1, "?#"), dir = 0;

		for (size_t i = 0; i < plen; i++)
			if (a1[i] == '/')
				dir = i + 1;
		ret = snprintf(target, sizeof(target), "%.*s%s%.*s%.*s", (int)(a1 - page_url),
			       page_url, dir ? "" : "/", (int)dir, a1, (int)reflen, ref);
	}
	if (ret < 0 || (size_t)ret >= sizeof(target))
		return -ENAMETOOLONG;
	if (dfs_api_origin(target, got, sizeof(got)) < 0 || strcmp(got, origin) != 0)
		return -EINVAL;
	/* normalise the path: "a/../../x" must not climb out of the origin */
	if (split_url(target, scheme, &a0, &a1, &rest) < 0)
		return -EINVAL;
	olen = (size_t)(a1 - target);
	if (olen >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, target, olen);
	path[olen] = '\0';
	if (*rest == '\0' || *rest == '?') {
		char with_slash[DFS_API_URL_MAX];

		if ((size_t)snprintf(with_slash, sizeof(with_slash), "/%s", rest) >=
		    sizeof(with_slash))
			return -ENAMETOOLONG;
		ret = append_path(with_slash, path, &olen, sizeof(path));
	} else {
		ret = append_path(rest, path, &olen, sizeof(path));
	}
	if (ret < 0)
		return ret;
	if (olen + 1 > outsz)
		return -ENAMETOOLONG;
	memcpy(out, path, olen + 1);
	return 0;
}

/* Length of the UTF-8 sequence at s (1..4) and its code point, or 0 when
 * it is not a valid one. */
static size_t utf8_seq(const unsigned char *s, unsigned *cp)
{
	size_t n;
	unsigned c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

void dfs_api_sanitise(const char *s, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, max = outsz ? outsz - 1 : 0;

	if (max > DFS_API_MSG_MAX)
		max = DFS_API_MSG_MAX;
	while (*p) {
		unsigned cp;
		size_t n = utf8_seq(p, &cp);

		if (n == 0) {
			if (o + 1 > max)
				break;
			out[o++] = '?';
			p++;
			continue;
		}
		if (o + n > max)
			break;
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
		    cp == 0x2028 || cp == 0x2029) {
			out[o++] = ' ';
		} else {
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	if (outsz)
		out[o] = '\0';
}

int dfs_api_error(long status, const char *body, size_t len, struct dfs_error *err)
{
	char msg[DFS_API_MSG_MAX + 1] = "", code[64] = "";
	int e = dfs_errno_from_http(status);
	json_t *doc = NULL, *v;

	if (body && len && len <= ((size_t)64 << 10))
		doc = json_loadb(body, len, 0, NULL);
	v = json_object_get(doc, "message");
	if (json_is_string(v))
		dfs_api_sanitise(json_string_value(v), msg, sizeof(msg));
	v = json_object_get(doc, "code");
	if (json_is_string(v))
		dfs_api_sanitise(json_string_value(v), code, sizeof(code));
	json_decref(doc);
	if (!msg[0])
		snprintf(msg, sizeof(msg), "%s%sHTTP %ld", code, code[0] ? ", " : "", status);
	if (status == 401)
		return dfs_error_set(err, e, "apps API: %s (the token was refused: check "
				     "api_token_file or DEPLOYFS_API_TOKEN)", msg);
	if (status == 403 && strcasecmp(code, "2fa_required") == 0)
		return dfs_error_set(err, e, "apps API: %s (the token needs 2FA: use a token of "
				     "an account with two-factor authentication)", msg);
	return dfs_error_set(err, e, "apps API: %s", msg);
}

int dfs_api_retry_after(const char *value)
{
	long n = 0;
	const char *p = value;

	if (!p)
		return -1;
	p = skip_ws(p);
	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (n < 3600)
			n = n * 10 + (*p - '0');
		p++;
	}
	p = skip_ws(p);
	if (*p)
		return -1;
	return n > 3600 ? 3600 : (int)n;
}

#define P_NAME "/source/image/name"
#define P_TAG  "/source/image/tag"
#define P_REG  "/source/containerRegistryConfigIdRef"

int dfs_api_patch_body(const json_t *app, const json_t *patch, json_t **body,
		       struct dfs_error *err)
{
	json_t *ops, *after, *op, *out;
	const char *name, *reg;
	json_t *tagv;
	size_t i;

	if (!json_is_array(patch))
		return dfs_error_set(err, EINVAL, "a patch is a JSON array");
	ops = json_array();
	if (!ops)
		return dfs_error_set(err, ENOMEM, "out of memory");
	json_array_foreach(patch, i, op) {
		const char *what = json_string_value(json_object_get(op, "op"));
		const char *path = json_string_value(json_object_get(op, "path"));
		json_t *value = json_object_get(op, "value");
		char shown[80];

		if (!what || !path) {
			json_decref(ops);
			return dfs_error_set(err, EINVAL, "a patch operation without op or path");
		}
		if (strcmp(what, "test") == 0 || strcmp(path, P_NAME) == 0 ||
		    strcmp(path, P_TAG) == 0 || strcmp(path, P_REG) == 0) {
			if (strcmp(what, "move") && strcmp(what, "copy")) {
				json_array_append(ops, op);
				continue;
			}
		} else if ((strcmp(path, "/source") == 0 || strcmp(path, "/source/image") == 0) &&
			   strcmp(what, "add") == 0 && json_is_object(value) &&
			   json_object_size(value) == 0) {
			/* the parents of the image fields: only where missing */
			if (!json_is_object(jsonpointer_get(app, path)))
				json_array_append(ops, op);
			continue;
		}
		dfs_api_sanitise(path, shown, sizeof(shown));
		json_decref(ops);
		return dfs_error_set(err, EPERM, "apps API: only an app's image (name, tag, "
				     "registry) can be changed, not %s", shown);
	}
	after = jsonpatch_apply(app, ops, err);
	json_decref(ops);
	if (!after)
		return -(err && err->code ? err->code : EINVAL);
	name = json_string_value(jsonpointer_get(after, P_NAME));
	tagv = jsonpointer_get(after, P_TAG);
	reg = json_string_value(jsonpointer_get(after, P_REG));
	if (!name || !*name) {
		json_decref(after);
		return dfs_error_set(err, EINVAL, "the app has no image name");
	}
	if (tagv && !json_is_null(tagv) && !json_is_string(tagv)) {
		json_decref(after);
		return dfs_error_set(err, EINVAL, "the app's image tag is not a string");
	}
	out = json_pack("{s:s, s:s}", "imageName", name, "imageTag",
			json_is_string(tagv) && *json_string_value(tagv) ?
			json_string_value(tagv) : "latest");
	if (out && reg && *reg)
		json_object_set_new(out, "containerRegistryId", json_string(reg));
	json_decref(after);
	if (!out)
		return dfs_error_set(err, ENOMEM, "out of memory");
	*body = out;
	return 0;
}

int dfs_api_segment(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	/* "." and ".." would be dot segments: encoded whole */
	int dots = strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || (*p == '.' && !dots) || *p == '_' || *p == '~') {
			if (o + 1 >= outsz)
				return -ENAMETOOLONG;
			out[o++] = (char)*p;
		} else {
			if (o + 3 >= outsz)
				return -ENAMETOOLONG;
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (!outsz)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}
