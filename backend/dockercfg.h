/* dockercfg.h - registry credentials from docker's config.json, as docker,
 * skopeo and crane read them (README, "The registry check").
 *
 * The file is $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json
 * ($HOME unset: the user database's home). Its "auths" object is keyed by
 * registry in any of docker's spellings: "https://index.docker.io/v1/" for
 * docker.io, "host", "host:port", "https://host", "http://host/v2/".
 * An entry holds "auth" (base64 of "user:pass"), or "username" and
 * "password", and optionally "identitytoken" (an OAuth2 refresh token).
 * A credential helper named by "credHelpers" (per registry) or
 * "credsStore" is run instead, in docker's order: credHelpers, then
 * credsStore, then "auths" (credhelper.h).
 *
 * The file is read at each lookup, so a `docker login` takes effect at
 * once. Nothing here logs; the secrets found are never put in err.
 */
#ifndef DEPLOYFS_DOCKERCFG_H
#define DEPLOYFS_DOCKERCFG_H

#include <stdint.h>

#include "error.h"

#define DFS_DOCKERCFG_MAX (1 << 20)   /* a larger config.json is refused */

/* Credentials found for one registry. Owned strings, NULL when absent. */
struct dfs_docker_cred {
	char *username;
	char *password;
	char *identitytoken;
};

/* Look up credentials for host ("docker.io", "ghcr.io", "127.0.0.1:5000";
 * index.docker.io and registry-1.docker.io mean docker.io) in config_dir
 * (NULL: $DOCKER_CONFIG, else ~/.docker). An exact key wins over a key that
 * only names the same host another way. A helper is asked for the server
 * address docker uses ("https://index.docker.io/v1/" for docker.io, else
 * host) and runs until deadline_ns at most (CLOCK_MONOTONIC; 0: 10 s).
 * Returns 0 with *out filled (free with dfs_docker_cred_clear);
 *   -ENOENT  no config file, no usable entry for host, or the helper has
 *            none: not a failure for a caller that then goes on
 *            anonymously (err says which)
 *   -EINVAL  the file is not JSON, too large, an "auth" is not base64
 *            of "user:pass", or a helper name is not a plain name (err
 *            names the file, never a secret)
 *   -EIO     the file exists but cannot be read
 *   -EACCES, -ETIMEDOUT, -ECANCELED  the helper failed (credhelper.h):
 *            a failure, never to be taken for "no credentials"
 *   -ENOMEM
 * *out is empty (all NULL) on failure. Thread-safe (no shared state). */
int dfs_dockercfg_lookup(const char *config_dir, const char *host, int64_t deadline_ns,
			 struct dfs_docker_cred *out, struct dfs_error *err);

/* Wipe the secrets, free, and empty c. Accepts NULL and an empty c. */
void dfs_docker_cred_clear(struct dfs_docker_cred *c);

/* The docker.io spellings folded: "index.docker.io", "registry-1.docker.io"
 * and "docker.io" give "docker.io"; anything else is returned as given.
 * Borrowed (host itself or a literal), can't fail. */
const char *dfs_dockercfg_normal_host(const char *host);

#endif
