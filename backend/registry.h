/* registry.h - does this image exist in its registry? (README, "The registry check")
 *
 * HEAD /v2/<path>/manifests/<tag|digest> with the OCI and Docker manifest
 * and index media types in Accept, following the registry's auth challenge
 * (anonymous Bearer token, Basic, Bearer with credentials). Thread-safe: one
 * client serves every FUSE worker; connections and tokens are reused.
 */
#ifndef DEPLOYFS_REGISTRY_H
#define DEPLOYFS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "reference.h"

struct dfs_registry_opts {
	const char *cacert;            /* extra CA bundle, or NULL */
	const char *const *mirrors;    /* "HOST=URL" strings, n_mirrors of them */
	size_t n_mirrors;
	const char *const *insecure;   /* "HOST[:PORT]" strings */
	size_t n_insecure;
	const char *docker_config_dir; /* NULL: $DOCKER_CONFIG, else ~/.docker */
};

/* An app's registry object, borrowed for one call. Its credentials go
 * only to the registry its url names (dfs_registry_check). Any field may
 * be NULL; token wins over username+password. */
struct dfs_registry_creds {
	const char *name;              /* how error lines name it: "acme" */
	const char *url;               /* "registry.acme.example", "host:5000",
					* "https://host/v2/": its HOST[:PORT] */
	const char *username;
	const char *password;
	const char *token;
};

struct dfs_registry_client;

/* New client; copies what it needs from opts. NULL with err on failure. */
struct dfs_registry_client *dfs_registry_client_new(const struct dfs_registry_opts *opts,
						    struct dfs_error *err);
/* Accepts NULL. */
void dfs_registry_client_free(struct dfs_registry_client *c);

/* Check ref in its registry, before deadline_ns (CLOCK_MONOTONIC, ns).
 * With a tag and a digest, the tag must resolve to that digest.
 * On 0, digest (DFS_DIGEST_MAX + 1 bytes) holds Docker-Content-Digest.
 *
 * Where credentials go. creds is the app's registry object, or NULL for
 * none. With an object, ref's registry (its normalised domain; docker.io,
 * index.docker.io and registry-1.docker.io are one) must be the HOST[:PORT]
 * the object's url names, or the check is refused before any request; the
 * object's credentials then go to that registry, or to the registry_mirror
 * configured for it (the operator's own redirection). Without an object, or
 * when it holds no credentials, the docker config's entry for the host
 * asked (the mirror's own for a mirror) is used. A Bearer token realm gets
 * the credentials only over https, or over plain http when the realm is
 * the registry endpoint itself and that endpoint may speak plain http
 * (insecure_registry, or a mirror URL given as http://); otherwise the
 * token is asked for anonymously. Redirects are never followed (http.h).
 *
 * Returns, always with err filled on failure:
 *   0              found
 *   -EINVAL        refused before any request: ref is not on the host of
 *                  the registry object (or it has no usable url), or ref did
 *                  not come from the parser
 *   -ENOENT        no such manifest or repository (404), or the tag resolves
 *                  to another digest than the one pinned
 *   -ENOKEY        the registry wants credentials we do not have (an
 *                  anonymous 401 or DENIED: "not found, or private")
 *   -EACCES        the registry refused the credentials we sent, or refused
 *                  anonymous access after we withheld them from a token
 *                  realm that is not https (the line says so)
 *   -ECANCELED     dfs_cancel_all() was called (error.h)
 *   -ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT, -EIO (unparsable answer,
 *                  5xx, TLS failure, headers over 64 KiB)
 */
int dfs_registry_check(struct dfs_registry_client *c, const struct dfs_reference *ref,
		       const struct dfs_registry_creds *creds, int64_t deadline_ns,
		       char *digest, struct dfs_error *err);

#endif
