/* api.h - the apps API (the Thevenin PaaS API) as a backend: environments,
 * apps and container registries (README, Mount options: api=).
 *
 * Reads:  GET /environments, GET /environments/{envId}/app (lists, pages
 *         followed), GET /environments/{id}, GET /environments/{envId}/app/{id},
 *         GET /{companyId}/container-registries/{id} for the registries
 *         apps name (source.containerRegistryConfigIdRef).
 * Writes: an app's image is one PATCH /environments/{envId}/app/{appId}/image
 *         {"imageName","imageTag","containerRegistryId"?}, with the app
 *         fetched again first when our copy is older than one second; a
 *         registry is a draft in memory until its url is written, which
 *         sends POST /{companyId}/containerRegistryConfig. Nothing else can
 *         be changed (EPERM).
 * Every document the API returns is checked (storedoc.h) before it is
 * served: a malformed answer is EIO (one object) or skipped with a log line
 * (an entry of a list). Objects with isDeleted true are not shown.
 *
 * watch() starts a poll thread: every `poll` seconds one pass over the
 * environments and one app list per environment, compared with the last
 * state; differences go to the change callback. While the API is down the
 * poll logs once that it went away and once that it is back.
 *
 * Thread-safe, as backend.h requires. The token is never logged, never in
 * an error line.
 */
#ifndef DEPLOYFS_API_H
#define DEPLOYFS_API_H

#include "backend.h"

struct dfs_api_opts {
	const char *url;          /* base URL, ending in /api/v1 */
	const char *token_file;   /* Bearer token file, or NULL: DEPLOYFS_API_TOKEN */
	const char *company;      /* company id for registry creation, or NULL:
				   * the environments' common companyIdRef */
	const char *cacert;       /* extra CA bundle, or NULL */
	double timeout;           /* seconds: the deadline of one poll request */
	double poll;              /* seconds between two polls */
};

/* A new apps API backend (no request is made yet: the first list is the
 * test that the API answers). Serves DFS_ENV, DFS_APP and DFS_REGISTRY;
 * everything o points to is copied. NULL with err (EINVAL for a bad URL or
 * token file, ENOMEM). Free with backend->ops->free. */
struct dfs_backend *dfs_api_new(const struct dfs_api_opts *o, struct dfs_error *err);

#endif
