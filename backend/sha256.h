/* sha256.h - SHA-256 (FIPS 180-4) of a buffer, as an OCI digest string.
 *
 * The registry check needs it only for a registry that sends no
 * Docker-Content-Digest (the header is optional in the OCI distribution
 * spec): a manifest's digest is then the hash of its bytes. One shot over
 * a buffer in memory; no streaming API, no other algorithm. libcrypto's
 * EVP_Digest does the hashing.
 */
#ifndef DEPLOYFS_SHA256_H
#define DEPLOYFS_SHA256_H

#include <stddef.h>

/* "sha256:" + 64 hex digits + NUL */
#define DFS_SHA256_DIGEST_SIZE 72

/* "sha256:<64 lowercase hex digits>" of the len bytes at data, written to
 * out NUL-terminated (DFS_SHA256_DIGEST_SIZE bytes at least). data must be
 * a valid pointer even when len is 0. Keeps no state, so it is thread-safe.
 * Without memory for libcrypto it writes "sha256:" and 64 zeros, a digest
 * no manifest has. */
void dfs_sha256_digest(const void *data, size_t len, char out[DFS_SHA256_DIGEST_SIZE]);

#endif
