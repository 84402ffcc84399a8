/* backend.c - what every backend shares. */
#include "backend.h"

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
