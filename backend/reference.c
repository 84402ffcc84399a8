/* reference.c - distribution/reference's grammar and normalisation, by hand.
 *
 * This follows ParseNormalizedNamed (normalize.go) of distribution/reference:
 * split the domain off the first component, add docker.io and library/,
 * then check the result against the grammar of regexp.go. It is written as
 * small scanners rather than regex(3) so that each failure can say which part
 * was wrong, and so that the time spent is linear in the input.
 *
 * Where this differs from upstream, on purpose:
 * - The name as written is at most 255 characters, and so is the normalised
 *   path (upstream checks only the path). Our struct holds both in 256 bytes.
 * - A first component that contains "." or ":" but is not a valid host is
 *   refused; upstream then quietly reads it as a path with no domain.
 * - Digests follow the OCI grammar (any algorithm of
 *   [a-z0-9]+([+._-][a-z0-9]+)* with at least 32 characters of encoding)
 *   with the lengths of sha256 and sha512 enforced; upstream accepts only
 *   the algorithms compiled into the binary.
 */
#include "reference.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PATH_RULE "repository names are lowercase letters, digits and separators (. _ __ -)"
#define TAG_RULE  "tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"

/* Room for a quoted value in an error line: long enough to recognise the
 * value, short enough that the explanation after it is never cut. */
#define QUOTE_MAX 96
#define QBUF (QUOTE_MAX + 8)

/* Copy about QUOTE_MAX bytes of s into buf for an error line, with bytes
 * outside printable ASCII (and " and \) escaped, since the line is shown
 * in a file and a log. */
static const char *quote(const char *s, size_t len, char buf[QBUF])
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o >= QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, QBUF - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* component := [a-z0-9]+ (([._]|__|-+) [a-z0-9]+)* */
static int component_ok(const char *s, size_t len)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while (i < len && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return 0;       /* empty, or a separator at the edge */
		if (i == len)
			return 1;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (i < len && s[i] == '-')
				i++;
		else
			return 0;
	}
}

/* path := component ("/" component)* */
static int path_ok(const char *s, size_t len)
{
	size_t start = 0, i;

	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			if (!component_ok(s + start, i - start))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

/* label := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static int label_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return 0;
	for (i = 1; i + 1 < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* domain := (label ("." label)* | "[" [a-fA-F0-9:]+ "]") (":" [0-9]+)? */
static int domain_ok(const char *s, size_t len)
{
	size_t i = 0, start;

	if (len > 0 && s[0] == '[') {
		for (i = 1; i < len && (is_hex(s[i]) || s[i] == ':'); i++)
			;
		if (i == 1 || i == len || s[i] != ']')
			return 0;
		i++;
	} else {
		for (start = 0;; i++) {
			if (i == len || s[i] == '.' || s[i] == ':') {
				if (!label_ok(s + start, i - start))
					return 0;
				if (i == len || s[i] == ':')
					break;
				start = i + 1;
			}
		}
	}
	if (i == len)
		return 1;
	if (s[i++] != ':' || i == len)
		return 0;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int tag_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > DFS_TAG_MAX || !is_word(s[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

int dfs_tag_check(const char *tag, struct dfs_error *err)
{
	char q[QBUF];

	if (!tag || !tag_ok(tag, strlen(tag)))
		return dfs_error_set(err, EINVAL, "tag \"%s\": " TAG_RULE,
				     quote(tag ? tag : "", tag ? strlen(tag) : 0, q));
	return 0;
}

/* algorithm := [a-z0-9]+ ([+._-] [a-z0-9]+)* */
static int algorithm_ok(const char *s, size_t len)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while (i < len && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return 0;
		if (i == len)
			return 1;
		if (!strchr("+._-", s[i]))
			return 0;
		i++;
	}
}

/* The encodings whose length and alphabet the OCI spec fixes. */
static const struct {
	const char *alg;
	size_t hexlen;
} fixed_digests[] = {
	{ "sha256", 64 },
	{ "sha512", 128 },
};

int dfs_digest_check(const char *digest, struct dfs_error *err)
{
	char q[QBUF];
	const char *colon, *enc;
	size_t alen, elen, i, k;

	if (!digest)
		digest = "";
	quote(digest, strlen(digest), q);
	if (strlen(digest) > DFS_DIGEST_MAX)
		return dfs_error_set(err, EINVAL,
				     "digest \"%s\": digests are at most %d characters",
				     q, DFS_DIGEST_MAX);
	colon = strchr(digest, ':');
	if (!colon || !algorithm_ok(digest, (size_t)(colon - digest)))
		return dfs_error_set(err, EINVAL,
				     "digest \"%s\": digests are algorithm:encoded, e.g. sha256:<64 hex digits>",
				     q);
	alen = (size_t)(colon - digest);
	enc = colon + 1;
	elen = strlen(enc);

	for (k = 0; k < sizeof(fixed_digests) / sizeof(fixed_digests[0]); k++) {
		if (strlen(fixed_digests[k].alg) != alen ||
		    memcmp(fixed_digests[k].alg, digest, alen) != 0)
			continue;
		for (i = 0; i < elen; i++)
			if (!((enc[i] >= '0' && enc[i] <= '9') ||
			      (enc[i] >= 'a' && enc[i] <= 'f')))
				break;
		if (i != elen || elen != fixed_digests[k].hexlen)
			return dfs_error_set(err, EINVAL,
					     "digest \"%s\": %s digests are %zu lowercase hex digits",
					     q, fixed_digests[k].alg,
					     fixed_digests[k].hexlen);
		return 0;
	}

	for (i = 0; i < elen; i++)
		if (!is_alnum(enc[i]) && !strchr("=_-", enc[i]))
			break;
	if (i != elen || elen < 32)
		return dfs_error_set(err, EINVAL,
				     "digest \"%s\": the encoded part is at least 32 of [a-zA-Z0-9=_-]",
				     q);
	return 0;
}

static int has_upper(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return 1;
	return 0;
}

/* A whole input of 64 lowercase hex digits is an image id, which docker
 * refuses as a reference so that ids and names can never be confused
 * (with a tag or a domain it is a name again). */
static int is_identifier(const char *s, size_t len, struct dfs_error *err)
{
	char q[QBUF];
	size_t i;

	if (len != 64)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	dfs_error_set(err, EINVAL,
		      "image \"%s\": 64 hex digits are an image id, not a name",
		      quote(s, len, q));
	return 1;
}

/* splitDockerDomain: is the first component (before the first '/') a
 * domain? Uppercase counts because repository paths never have it. */
static int looks_like_domain(const char *s, size_t len)
{
	if (len == 9 && memcmp(s, "localhost", 9) == 0)
		return 1;
	return memchr(s, '.', len) || memchr(s, ':', len) || has_upper(s, len);
}

/* Check and normalise the name s[0..len) into out->name/domain/path. */
static int parse_name(const char *s, size_t len, struct dfs_reference *out,
		      struct dfs_error *err)
{
	char q[QBUF], qd[QBUF];
	const char *slash, *path = s;
	size_t plen = len, dlen;
	int library;

	quote(s, len, q);
	if (len == 0)
		return dfs_error_set(err, EINVAL,
				     "image \"%s\": a name is required, e.g. nginx or ghcr.io/org/app",
				     q);
	if (len > DFS_NAME_MAX)
		return dfs_error_set(err, EINVAL,
				     "image \"%s\": names are at most %d characters (this one has %zu)",
				     q, DFS_NAME_MAX, len);
	memcpy(out->name, s, len);
	out->name[len] = '\0';
	strcpy(out->domain, "docker.io");

	slash = memchr(s, '/', len);
	if (slash && looks_like_domain(s, (size_t)(slash - s))) {
		dlen = (size_t)(slash - s);
		if (!domain_ok(s, dlen))
			return dfs_error_set(err, EINVAL,
					     "image \"%s\": registry \"%s\" is not host[:port] (DNS names, IPv4 or [IPv6])",
					     q, quote(s, dlen, qd));
		if (!(dlen == 15 && memcmp(s, "index.docker.io", 15) == 0)) {
			memcpy(out->domain, s, dlen);
			out->domain[dlen] = '\0';
		}
		path = slash + 1;
		plen = len - dlen - 1;
	}

	if (!path_ok(path, plen))
		return dfs_error_set(err, EINVAL, "image \"%s\": " PATH_RULE, q);

	library = strcmp(out->domain, "docker.io") == 0 && !memchr(path, '/', plen);
	if (plen + (library ? 8 : 0) > DFS_NAME_MAX)
		return dfs_error_set(err, EINVAL,
				     "image \"%s\": repository paths are at most %d characters",
				     q, DFS_NAME_MAX);
	snprintf(out->path, sizeof(out->path), "%s%.*s",
		 library ? "library/" : "", (int)plen, path);
	return 0;
}

int dfs_reference_parse(const char *s, struct dfs_reference *out,
			struct dfs_error *err)
{
	const char *at, *colon, *slash;
	size_t nlen;
	int ret;

	if (!s)
		s = "";
	memset(out, 0, sizeof(*out));
	if (is_identifier(s, strlen(s), err))
		return -EINVAL;

	/* '@' and ':' appear nowhere in a name or tag but as these separators
	 * (a port's ':' comes before a '/'), so splitting first is exact. */
	at = strchr(s, '@');
	nlen = at ? (size_t)(at - s) : strlen(s);
	if (at) {
		ret = dfs_digest_check(at + 1, err);
		if (ret)
			return ret;
		strcpy(out->digest, at + 1);
	}

	colon = memrchr(s, ':', nlen);
	slash = memrchr(s, '/', nlen);
	if (colon && (!slash || colon > slash)) {
		size_t tlen = nlen - (size_t)(colon - s) - 1;
		char q[QBUF];

		if (!tag_ok(colon + 1, tlen))
			return dfs_error_set(err, EINVAL, "tag \"%s\": " TAG_RULE,
					     quote(colon + 1, tlen, q));
		memcpy(out->tag, colon + 1, tlen);
		out->tag[tlen] = '\0';
		nlen = (size_t)(colon - s);
	}
	return parse_name(s, nlen, out, err);
}

int dfs_reference_parse_name(const char *s, struct dfs_reference *out,
			     struct dfs_error *err)
{
	char q[QBUF];
	const char *slash;

	if (!s)
		s = "";
	memset(out, 0, sizeof(*out));
	if (is_identifier(s, strlen(s), err))
		return -EINVAL;

	/* A ':' after the last '/' is a tag, a ':' before it a port. */
	slash = strrchr(s, '/');
	if (strchr(s, '@') || strchr(slash ? slash : s, ':'))
		return dfs_error_set(err, EINVAL,
				     "image \"%s\": a name only; the tag goes in the tag file, or write name:tag to ref",
				     quote(s, strlen(s), q));
	return parse_name(s, strlen(s), out, err);
}

const char *dfs_reference_registry_host(const struct dfs_reference *ref)
{
	if (strcmp(ref->domain, "docker.io") == 0)
		return "registry-1.docker.io";
	return ref->domain;
}
