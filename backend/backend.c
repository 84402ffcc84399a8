/* backend.c - what every backend shares. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

const char *dfs_kind_dir(enum dfs_kind k)
{
	static const char *const dirs[DFS_KIND_COUNT] = {
		[DFS_ENV] = "environments",
		[DFS_APP] = "apps",
		[DFS_REGISTRY] = "registries",
		[DFS_IMAGE] = "images",
	};
	return (unsigned)k < DFS_KIND_COUNT ? dirs[k] : "?";
}

int64_t dfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t dfs_deadline_ns(double seconds)
{
	return dfs_now_ns() + (int64_t)(seconds * 1e9);
}

void dfs_new_uuid(char out[37])
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)rand();
	r[6] = (r[6] & 0x0f) | 0x40;   /* version 4 */
	r[8] = (r[8] & 0x3f) | 0x80;   /* variant 1 */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
		 r[12], r[13], r[14], r[15]);
}
