/* registry.c - does this image exist in its registry? (registry.h)
 *
 * One check is a HEAD of the manifest, following the registry's auth
 * challenge once:
 *
 *   HEAD /v2/<path>/manifests/<ref>      (Authorization from the cache, if any)
 *     200 + Docker-Content-Digest  -> found
 *     200 without it, or 405       -> the same as GET (digest header, else
 *                                     sha256 of the body)
 *     401 WWW-Authenticate: Bearer -> token from the realm (anonymous, Basic
 *                                     credentials, or an OAuth2 refresh
 *                                     token), cached per (endpoint, scope,
 *                                     identity) until it expires; retry
 *     401 WWW-Authenticate: Basic  -> retry with the credentials
 *     404 -> ENOENT; 401/403 after that -> ENOKEY (anonymous) or EACCES
 *
 * Accept always names the two OCI and two Docker types: a distribution 2.8
 * registry answers an OCI manifest with 404 when Accept lacks the OCI types,
 * and rewrites a Docker v2 manifest to schema1 (another digest) when it
 * lacks the Docker ones (measured on Debian's docker-registry 2.8.2; never
 * ask for schema1).
 *
 * Credentials: an app's registry object is first checked to name the
 * image's registry (dfs_registry_object_check), before any request; a token
 * realm that is not https gets none (registry_auth.c, registry.h).
 *
 * insecure_registry: https with verification off; if the TLS handshake
 * itself fails (the server speaks plain HTTP) the check falls back to http
 * and remembers that for the endpoint, as docker does.
 *
 * This file is the flow; where a check goes is registry_endpoint.c, how it
 * gets in (challenges, credentials, tokens and their cache) registry_auth.c
 * (registry_internal.h).
 */
#include "registry.h"
#include "registry_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

#define ACCEPT_MANIFESTS "Accept: application/vnd.oci.image.index.v1+json, " \
	"application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.docker.distribution.manifest.v2+json"

#define MANIFEST_MAX    ((size_t)4 << 20)  /* OCI: registries refuse more */

/* ------------------------------------------------------------- the client */

struct dfs_registry_client *dfs_registry_client_new(const struct dfs_registry_opts *opts,
						    struct dfs_error *err)
{
	static const struct dfs_registry_opts none;
	struct dfs_registry_client *c;

	if (!opts)
		opts = &none;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto oom;
	pthread_mutex_init(&c->lock, NULL);
	if ((opts->cacert && !(c->cacert = strdup(opts->cacert))) ||
	    (opts->docker_config_dir && !(c->docker_config_dir = strdup(opts->docker_config_dir))))
		goto oom;
	if (dfs_registry_endpoints_init(c, opts, err) < 0)
		goto fail;
	c->http = dfs_http_new(err);
	if (!c->http)
		goto fail;
	return c;
oom:
	dfs_error_set(err, ENOMEM, "out of memory creating the registry client");
fail:
	dfs_registry_client_free(c);
	return NULL;
}

void dfs_registry_client_free(struct dfs_registry_client *c)
{
	if (!c)
		return;
	dfs_http_free(c->http);
	dfs_registry_auth_clear(c);
	dfs_registry_endpoints_release(c);
	free(c->cacert);
	free(c->docker_config_dir);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* -------------------------------------------------------------- one check */

static int valid_digest(const char *d)
{
	return d && strlen(d) <= DFS_DIGEST_MAX && dfs_digest_check(d, NULL) == 0;
}

/* The manifest is there: find its digest (header, else the body's hash). */
static int found(struct dfs_registry_ctx *k, const struct dfs_http_response *r, char *digest,
		 struct dfs_error *err)
{
	const char *d = dfs_http_header(r, "Docker-Content-Digest", NULL);
	char sum[DFS_SHA256_DIGEST_SIZE];

	if (!d) {
		dfs_sha256_digest(r->body, r->body_len, sum);
		d = sum;
		if (k->ref->digest[0] && strncmp(k->ref->digest, "sha256:", 7) != 0)
			d = k->ref->digest; /* we can only hash sha256: trust the ask */
	}
	if (!valid_digest(d))
		return dfs_error_set(err, EIO, "%s answered an invalid digest for %s",
				     k->peer, k->image);
	if (k->ref->digest[0] && strcmp(d, k->ref->digest) != 0) {
		if (k->ref->tag[0])
			return dfs_error_set(err, ENOENT,
					     "image %s:%s resolves to %s in registry %s, not to the pinned %s",
					     k->ref->name, k->ref->tag, d, k->label, k->ref->digest);
		return dfs_error_set(err, EIO, "%s answered digest %s when asked for %s",
				     k->peer, d, k->ref->digest);
	}
	strcpy(digest, d);
	return 0;
}

static int safe_chars(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return 0;
	return 1;
}

static int check_ref(struct dfs_registry_ctx *k, const struct dfs_reference *ref, struct dfs_error *err)
{
	/* The reference was parsed by reference.c; these guards only keep a
	 * caller's mistake from turning into a strange URL or a 500. */
	if (!ref->domain[0] || !ref->path[0] || !safe_chars(ref->path, "._-/") ||
	    !safe_chars(ref->domain, ".-:[]") || !safe_chars(ref->tag, "._-"))
		return dfs_error_set(err, EINVAL, "image %s: not a parsed reference", ref->name);
	if (ref->digest[0] && dfs_digest_check(ref->digest, err) < 0)
		return -EINVAL;
	snprintf(k->image, sizeof(k->image), "%s%s%s%s%s", ref->name,
		 ref->tag[0] || !ref->digest[0] ? ":" : "",
		 ref->tag[0] ? ref->tag : ref->digest[0] ? "" : "latest",
		 ref->digest[0] ? "@" : "", ref->digest);
	snprintf(k->scope, sizeof(k->scope), "repository:%s:pull", ref->path);
	return 0;
}

int dfs_registry_check(struct dfs_registry_client *c, const struct dfs_reference *ref,
		       const struct dfs_registry_creds *creds, int64_t deadline_ns,
		       char *digest, struct dfs_error *err)
{
	struct dfs_registry_ctx k = { .c = c, .ref = ref, .deadline = deadline_ns };
	struct dfs_http_request req = { 0 };
	struct dfs_http_response r = { 0 };
	struct dfs_auth_challenge chs[4];
	const struct dfs_auth_challenge *ch;
	const char *hdrs[2] = { ACCEPT_MANIFESTS, NULL };
	const char *method = "HEAD";
	char url[DFS_REGISTRY_URL_MAX + DFS_NAME_MAX + DFS_DIGEST_MAX + 32];
	char *authz = NULL;
	int basic = 0, cached, challenged = 0, ret, attempt;
	int64_t expires = 0;
	size_t n;

	ret = check_ref(&k, ref, err);
	if (ret < 0)
		return ret;
	if (creds) {   /* before any request: its credentials go nowhere else */
		ret = dfs_registry_object_check(&k, creds, err);
		if (ret < 0)
			return ret;
	}
	ret = dfs_registry_resolve_endpoint(&k, err);
	if (ret < 0)
		return ret;
	ret = dfs_registry_pick_creds(&k, creds, err);
	if (ret < 0)
		goto out;
	cached = dfs_registry_auth_get(c, k.base, k.scope, k.who, &authz);
	basic = cached && !authz;

	/* Bounded: at most a scheme fallback, a stale cached token, one
	 * challenge and a HEAD-to-GET switch. */
	for (attempt = 0; attempt < 6; attempt++) {
		snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", k.base, ref->path,
			 ref->tag[0] ? ref->tag : ref->digest[0] ? ref->digest : "latest");
		hdrs[1] = authz;
		memset(&req, 0, sizeof(req));
		req.method = method;
		req.url = url;
		req.headers = hdrs;
		req.n_headers = authz ? 2 : 1;
		req.deadline_ns = deadline_ns;
		req.cacert = c->cacert;
		req.insecure = k.insecure;
		req.max_body = MANIFEST_MAX;
		req.peer = k.peer;
		if (basic)
			dfs_registry_basic_creds(&k, &req);
		dfs_http_response_release(&r);
		ret = dfs_http_request(c->http, &req, &r, err);
		if (ret < 0) {
			if (r.tls_failed && k.insecure && !k.mirrored &&
			    strncmp(k.base, "https://", 8) == 0) {
				/* plain-HTTP registry: the same request on http */
				snprintf(k.base, sizeof(k.base), "http://%s", k.authority);
				dfs_registry_plain_add(c, k.authority);
				continue;
			}
			if (r.tls_failed && !k.insecure && !k.mirrored && err &&
			    strlen(err->msg) + strlen(k.authority) + 64 < sizeof(err->msg))
				snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
					 " (a plain-http registry needs insecure_registry=%s)",
					 k.authority);
			goto out;
		}
		switch (r.status) {
		case 200:
			if (!dfs_http_header(&r, "Docker-Content-Digest", NULL) &&
			    strcmp(method, "HEAD") == 0) {
				method = "GET";
				continue;
			}
			ret = found(&k, &r, digest, err);
			goto out;
		case 405:
			if (strcmp(method, "HEAD") == 0) {
				method = "GET";
				continue;
			}
			break;
		case 404:
			ret = dfs_error_set(err, ENOENT, "image %s not found in registry %s",
					    k.image, k.label);
			goto out;
		case 401:
			if (cached) {
				/* the cached token expired early or was revoked */
				dfs_registry_auth_drop(c, k.base, k.scope, k.who);
				cached = 0;
			} else if (challenged) {
				ret = dfs_registry_refused(&k, err);
				goto out;
			}
			challenged = 1;
			dfs_registry_wipe_free(authz);
			authz = NULL;
			basic = 0;
			ch = dfs_registry_pick_challenge(&r, chs, &n);
			if (!ch) {
				ret = dfs_error_set(err, EIO,
						    "%s answered 401 without a usable WWW-Authenticate challenge",
						    k.peer);
				goto out;
			}
			if (strcmp(ch->scheme, "bearer") == 0) {
				ret = dfs_registry_fetch_token(&k, ch, &authz, &expires, err);
				if (ret < 0)
					goto out;
				dfs_registry_auth_put(c, k.base, k.scope, k.who, authz, expires);
			} else {
				if (!dfs_registry_have_creds(&k)) {
					ret = dfs_registry_refused(&k, err);
					goto out;
				}
				basic = 1;
				dfs_registry_auth_put(c, k.base, k.scope, k.who, NULL,
						      dfs_http_now_ns() +
						      DFS_REGISTRY_TOKEN_TTL_S * 1000000000LL);
			}
			continue;
		case 403:
			ret = dfs_registry_refused(&k, err);
			goto out;
		case 429:
			ret = dfs_error_set(err, EAGAIN, "%s is limiting requests (HTTP 429), try again later",
					    k.peer);
			goto out;
		default:
			break;
		}
		ret = dfs_error_set(err, EIO, "%s answered HTTP %ld for %s", k.peer, r.status, k.image);
		goto out;
	}
	ret = dfs_error_set(err, EIO, "%s: no answer after %d requests for %s", k.peer, attempt,
			    k.image);
out:
	if (ret == -EACCES) /* never reuse what was just refused */
		dfs_registry_auth_drop(c, k.base, k.scope, k.who);
	dfs_http_response_release(&r);
	dfs_registry_wipe_free(authz);
	dfs_registry_creds_release(&k);
	return ret;
}
