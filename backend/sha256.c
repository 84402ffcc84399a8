/* sha256.c - SHA-256 of a buffer as an OCI digest string (sha256.h),
 * computed by libcrypto (EVP_Digest): the registry check hashes a manifest
 * only when the registry did not name its digest. */
#include "sha256.h"

#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

void dfs_sha256_digest(const void *data, size_t len, char out[DFS_SHA256_DIGEST_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	/* EVP_Digest fails only without memory or a SHA-256 provider: then
	 * the digest is one that no manifest has, and the check refuses */
	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32) {
		snprintf(out, DFS_SHA256_DIGEST_SIZE, "sha256:%064d", 0);
		return;
	}
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}
