/* credhelper.h - run a docker credential helper, as docker, skopeo and
 * crane do (README, The registry check).
 *
 * The protocol: `docker-credential-NAME get` (found on the daemon's PATH;
 * no shell) reads the server address on stdin and answers on stdout with
 * {"ServerURL","Username","Secret"} and exit status 0; a Username of
 * "<token>" means Secret is an identity token. On failure it prints a
 * message on stdout and exits non-zero; "credentials not found in native
 * keychain" means it holds nothing for that server.
 *
 * The secret only travels through the helper's stdout pipe: it is never
 * put on a command line, in the environment, in err or in a log line.
 */
#ifndef DEPLOYFS_CREDHELPER_H
#define DEPLOYFS_CREDHELPER_H

#include <stdint.h>

#include "dockercfg.h"
#include "error.h"

#define DFS_CREDHELPER_OUT_MAX (64 * 1024)   /* a longer answer is refused */

/* Run docker-credential-<helper> get with server on its stdin and wait for
 * it until deadline_ns (CLOCK_MONOTONIC; 0: 10 s from now). A helper still
 * running then is killed with SIGKILL (its whole process group) and reaped.
 * Returns 0 with *out filled (free with dfs_docker_cred_clear);
 *   -ENOENT     the helper has no credentials for server (not a failure:
 *               go on anonymously); err says so
 *   -EACCES     the helper is not on PATH, cannot run, exits non-zero with
 *               another message, is killed, or answers something that is
 *               not its JSON; err names the helper and server, and quotes
 *               the helper's own message (cut, control characters dropped),
 *               never its answer
 *   -EINVAL     helper is not a plain name ([A-Za-z0-9._-], at most 64)
 *   -ETIMEDOUT  it did not finish by deadline_ns
 *   -ECANCELED  dfs_cancel_all() was called while it ran (checked every
 *               50 ms); it was killed
 *   -ENOMEM, -EIO (no pipe or process could be made)
 * *out is empty on failure. Thread-safe: posix_spawn, pipes made
 * O_CLOEXEC so no other helper or connection leaks into the child. */
int dfs_credhelper_get(const char *helper, const char *server, int64_t deadline_ns,
		       struct dfs_docker_cred *out, struct dfs_error *err);

#endif
