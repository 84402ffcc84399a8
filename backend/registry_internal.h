/* registry_internal.h - the pure parts of registry.c, exposed for
 * tests/unit/test_registry.c only. Not an API: nothing else includes it. */
#ifndef DEPLOYFS_REGISTRY_INTERNAL_H
#define DEPLOYFS_REGISTRY_INTERNAL_H

#include <stddef.h>
#include "registry.h"

/* One challenge of a WWW-Authenticate header (RFC 7235), the parameters a
 * registry uses. Missing parameters are "". */
struct dfs_auth_challenge {
	char scheme[16];      /* lowercased: "bearer", "basic", ... */
	char realm[1024];
	char service[256];
	char scope[1024];     /* may hold several scopes, space-separated */
	char error[64];       /* "invalid_token", "insufficient_scope" */
};

/* Parse one header value, which may hold several challenges
 * (`Basic realm="a", Bearer realm="b",scope="x:y:pull,push"`), appending
 * them to out[*n] while *n < max (later ones are parsed and dropped).
 * Quoted strings may hold commas and backslash escapes; names are
 * case-insensitive. Returns 0, or -EINVAL for a malformed value or a
 * parameter longer than its field (nothing is silently cut); the
 * challenges parsed whole before the error stay in out and are counted. */
int dfs_registry_parse_challenges(const char *value, struct dfs_auth_challenge *out,
				  size_t max, size_t *n);

/* "HOST[:PORT]" of an http(s) URL into out; -EINVAL when url is not
 * http:// or https://, has no host, carries userinfo, or does not fit. */
int dfs_registry_url_authority(const char *url, char *out, size_t outsz);

/* The mirror URL (no trailing '/') configured for a normalised domain
 * ("docker.io" also for mirrors given as index.docker.io or
 * registry-1.docker.io), or NULL. Borrowed from c. */
const char *dfs_registry_mirror_for(const struct dfs_registry_client *c, const char *domain);

/* 1 when authority ("host" or "host:port", docker.io spellings folded)
 * matches an insecure_registry entry: an entry with a port matches that
 * port only, one without matches every port of the host. Else 0. */
int dfs_registry_is_insecure(const struct dfs_registry_client *c, const char *authority);

/* "sha256:<64 hex>" of data into out (72 bytes at least). */
void dfs_registry_sha256(const void *data, size_t len, char *out);

#endif
