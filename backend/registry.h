/* registry.h - does this image exist in its registry? (DESIGN.md, Registry check)
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

/* Credentials of a registry object, borrowed for one call. Any may be NULL;
 * token wins over username+password. */
struct dfs_registry_creds {
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
 * creds: the app's registry object, or NULL to use the docker config.
 * With a tag and a digest, the tag must resolve to that digest.
 * On 0, digest (DFS_DIGEST_MAX + 1 bytes) holds Docker-Content-Digest.
 * Returns, always with err filled on failure:
 *   0              found
 *   -ENOENT        no such manifest or repository (404), or the tag resolves
 *                  to another digest than the one pinned
 *   -ENOKEY        the registry wants credentials we do not have (an
 *                  anonymous 401 or DENIED: "not found, or private")
 *   -EACCES        the registry refused the credentials we sent
 *   -ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT, -EIO (unparsable answer,
 *                  5xx, TLS failure)
 */
int dfs_registry_check(struct dfs_registry_client *c, const struct dfs_reference *ref,
		       const struct dfs_registry_creds *creds, int64_t deadline_ns,
		       char *digest, struct dfs_error *err);

#endif
