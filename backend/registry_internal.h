/* registry_internal.h - what the files of the registry client share, and
 * the pure parts tests/unit/test_registry.c reaches. Not an API: nothing
 * but backend/registry*.c and that test includes it.
 *
 * The client (registry.h) is three files, one concern each:
 *   registry.c           the check flow: dfs_registry_check, client new/free
 *   registry_endpoint.c  where a check goes: mirrors, insecure registries,
 *                        the plain-http fallback, URL authorities
 *   registry_auth.c      how it gets in: WWW-Authenticate challenges, the
 *                        credentials, the token cache, fetching tokens
 * and sha256.c hashes a manifest when the registry names no digest.
 *
 * Errors follow error.h: 0 or -errno, err (may be NULL) filled on failure
 * and untouched on success. Functions that take c->lock say so; no function
 * here may be called with it held.
 */
#ifndef DEPLOYFS_REGISTRY_INTERNAL_H
#define DEPLOYFS_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dockercfg.h"
#include "error.h"
#include "http.h"
#include "reference.h"
#include "registry.h"

#define DFS_REGISTRY_URL_MAX     2048
#define DFS_REGISTRY_LABEL_MAX   600
#define DFS_REGISTRY_PLAIN_MAX   64
#define DFS_REGISTRY_TOKEN_TTL_S 60   /* a token without expires_in, and a
				       * remembered "send Basic at once" */

/* ------------------------------------------------------------ the client */

struct dfs_registry_mirror {
	char *domain;           /* normalised: docker.io */
	char *url;              /* scheme://authority[/prefix], no trailing '/' */
};

struct dfs_registry_auth_entry; /* registry_auth.c */

/* Fields up to lock are set by dfs_registry_client_new and read-only after
 * it; the rest is shared by every FUSE worker. */
struct dfs_registry_client {
	struct dfs_http *http;
	char *cacert;
	char *docker_config_dir;
	struct dfs_registry_mirror *mirrors;   /* registry_endpoint.c */
	size_t n_mirrors;
	char **insecure;                       /* registry_endpoint.c */
	size_t n_insecure;
	pthread_mutex_t lock;
	struct dfs_registry_auth_entry *auths; /* protected by lock; newest
						* first (registry_auth.c) */
	size_t n_auths;                        /* protected by lock */
	char *plain[DFS_REGISTRY_PLAIN_MAX];   /* protected by lock: endpoints
						* where https failed and http
						* worked, insecure only
						* (registry_endpoint.c) */
	size_t n_plain;                        /* protected by lock */
};

/* One dfs_registry_check call, on its stack. Not shared between threads. */
struct dfs_registry_ctx {
	struct dfs_registry_client *c;
	const struct dfs_reference *ref;
	int64_t deadline;
	char image[DFS_NAME_MAX + DFS_TAG_MAX + DFS_DIGEST_MAX + 4]; /* for lines */
	char label[DFS_REGISTRY_LABEL_MAX]; /* "ghcr.io", "docker.io (mirror 127.0.0.1:5001)" */
	char peer[DFS_REGISTRY_LABEL_MAX + 16]; /* "registry <label>" */
	char authority[256];         /* host[:port] asked */
	char base[DFS_REGISTRY_URL_MAX]; /* scheme://authority[/prefix] */
	char scope[DFS_NAME_MAX + 32];
	int insecure, mirrored;
	/* credentials, borrowed from the caller's creds or from dc */
	const char *user, *pass, *token;
	struct dfs_docker_cred dc;
	char *who;                   /* identity key of the cache (secret) */
	int sent_creds;              /* credentials went out in this check */
	char withheld[256];          /* token realm HOST[:PORT] the credentials
				      * were kept from (not https), or "" */
};

/* ---------------------------------------------- endpoints (registry_endpoint.c) */

/* "HOST[:PORT]" of an http(s) URL into out; -EINVAL when url is not
 * http:// or https://, has no host, carries userinfo, or does not fit.
 * Pure; out is unspecified on failure. */
int dfs_registry_url_authority(const char *url, char *out, size_t outsz);

/* The registry a registry object's url names, as a key to compare with
 * dfs_registry_domain_key: "HOST[:PORT]" with any http:// or https:// and
 * any path dropped, lowercased, docker.io spellings folded to "docker.io".
 * -EINVAL when it names no host, carries userinfo, has another scheme or
 * does not fit. Pure; out is unspecified on failure. */
int dfs_registry_object_host(const char *url, char *out, size_t outsz);

/* A reference's normalised domain as the same kind of key. Pure. */
void dfs_registry_domain_key(const char *domain, char *out, size_t outsz);

/* The mirror URL (no trailing '/') configured for a normalised domain
 * ("docker.io" also for mirrors given as index.docker.io or
 * registry-1.docker.io), or NULL. Borrowed from c. No lock (read-only). */
const char *dfs_registry_mirror_for(const struct dfs_registry_client *c, const char *domain);

/* 1 when authority ("host" or "host:port", docker.io spellings folded)
 * matches an insecure_registry entry: an entry with a port matches that
 * port only, one without matches every port of the host. Else 0.
 * No lock (read-only). */
int dfs_registry_is_insecure(const struct dfs_registry_client *c, const char *authority);

/* Copy opts' mirrors and insecure registries into c (zeroed by the caller),
 * checking each: -EINVAL naming the bad entry, or -ENOMEM. On failure what
 * was copied stays in c for dfs_registry_endpoints_release. */
int dfs_registry_endpoints_init(struct dfs_registry_client *c,
				const struct dfs_registry_opts *opts, struct dfs_error *err);

/* Free the mirrors, insecure entries and plain-http endpoints of c, also
 * after a failed init. No lock: only when no check can be running. */
void dfs_registry_endpoints_release(struct dfs_registry_client *c);

/* Fill k's authority, base URL, label, peer, insecure and mirrored for
 * k->ref: its mirror if one is configured, else its registry on https (on
 * http when insecure and remembered as plain). -EINVAL when the mirror URL,
 * the registry name or the URL is too long or malformed. Takes c->lock. */
int dfs_registry_resolve_endpoint(struct dfs_registry_ctx *k, struct dfs_error *err);

/* Remember that authority speaks plain http (copied; best effort: without
 * memory or past DFS_REGISTRY_PLAIN_MAX the next check just tries https
 * again). Takes c->lock. */
void dfs_registry_plain_add(struct dfs_registry_client *c, const char *authority);

/* ------------------------------------------------ challenges (registry_auth.c) */

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
 * challenges parsed whole before the error stay in out and are counted.
 * Pure. */
int dfs_registry_parse_challenges(const char *value, struct dfs_auth_challenge *out,
				  size_t max, size_t *n);

/* The challenge of r's WWW-Authenticate headers to answer: Bearer (with a
 * realm) over Basic, the first of each; NULL when there is none. Parses
 * into chs (4 of them), *n the number kept; the result points into chs. */
const struct dfs_auth_challenge *dfs_registry_pick_challenge(const struct dfs_http_response *r,
							     struct dfs_auth_challenge chs[4],
							     size_t *n);

/* ----------------------------------------------- credentials (registry_auth.c) */

/* -EINVAL with err when k's image is not on the host creds->url names (or
 * the url names none): the registry object's credentials go nowhere else
 * (registry.h). 0 when it is. Needs check_ref done (k->image). */
int dfs_registry_object_check(const struct dfs_registry_ctx *k,
			      const struct dfs_registry_creds *creds, struct dfs_error *err);

/* Set k's credentials: the caller's creds when they hold some (a token wins
 * over a password), else the docker config's for the endpoint (a mirror's
 * own, never the mirrored registry's); a broken docker config is logged and
 * the check goes anonymous; a docker credential helper that fails
 * (dockercfg.h) fails the check. Sets k->who. Needs the endpoint resolved
 * and, for creds, dfs_registry_object_check passed; the helper runs until
 * k->deadline at most.
 * Returns 0, -EACCES / -ETIMEDOUT / -ECANCELED (a failing helper: err
 * names it and the host) or -ENOMEM; either way, release with
 * dfs_registry_creds_release. */
int dfs_registry_pick_creds(struct dfs_registry_ctx *k, const struct dfs_registry_creds *creds,
			    struct dfs_error *err);

/* Wipe and free what dfs_registry_pick_creds set. Accepts a k it never saw. */
void dfs_registry_creds_release(struct dfs_registry_ctx *k);

/* 1 when k has credentials to send (a token, or a username and password). */
int dfs_registry_have_creds(const struct dfs_registry_ctx *k);

/* Put k's credentials on req as HTTP Basic, if it has any (a token goes as
 * the password); notes that they went out. req borrows them from k. */
void dfs_registry_basic_creds(struct dfs_registry_ctx *k, struct dfs_http_request *req);

/* The registry said no: -EACCES when k sent credentials ("refused the
 * credentials") or withheld them from a realm that is not https (the line
 * says so), else -ENOKEY ("not found, or private"), err filled. */
int dfs_registry_refused(const struct dfs_registry_ctx *k, struct dfs_error *err);

/* explicit_bzero s, then free it. Accepts NULL. */
void dfs_registry_wipe_free(char *s);

/* ----------------------------------------------- token cache (registry_auth.c) */

/* The Authorization cached for (base, scope, who), dropping expired
 * entries on the way: *header gets a copy (caller wipes and frees), NULL
 * for "send Basic". Returns 1 when found, 0 when not (or no memory: ask
 * afresh). Takes c->lock. */
int dfs_registry_auth_get(struct dfs_registry_client *c, const char *base, const char *scope,
			  const char *who, char **header);

/* Forget the entry for (base, scope, who), if any. Takes c->lock. */
void dfs_registry_auth_drop(struct dfs_registry_client *c, const char *base, const char *scope,
			    const char *who);

/* Remember header (copied; NULL = send Basic) for (base, scope, who) until
 * expires_ns, replacing any entry for them and dropping the oldest past the
 * cache's size. Best effort: without memory the next check asks again.
 * Takes c->lock. */
void dfs_registry_auth_put(struct dfs_registry_client *c, const char *base, const char *scope,
			   const char *who, const char *header, int64_t expires_ns);

/* Free every entry. No lock: only when no check can be running. */
void dfs_registry_auth_clear(struct dfs_registry_client *c);

/* ------------------------------------------------ tokens (registry_auth.c) */

/* A Bearer token for k from ch's realm (anonymous, Basic credentials, or an
 * OAuth2 refresh token): *header = "Authorization: Bearer T" (caller wipes
 * and frees) and *expires, when to stop using it. k's credentials go to the
 * realm only over https, or over http when the realm is k's endpoint and it
 * may speak plain http; otherwise the token is asked for anonymously and
 * k->withheld names the realm. Returns 0, or with err:
 * -EACCES/-ENOKEY (the realm said 401/403), -EAGAIN (429), -EIO (not an
 * http(s) realm, another status, no usable token), -ENOMEM, or the
 * transport's errors (http.h). Does not touch the cache. */
int dfs_registry_fetch_token(struct dfs_registry_ctx *k, const struct dfs_auth_challenge *ch,
			     char **header, int64_t *expires, struct dfs_error *err);

#endif
