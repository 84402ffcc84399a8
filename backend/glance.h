/* glance.h - OpenStack Glance v2 as a backend: the images (README, Mount
 * options: glance=; Glance).
 *
 * Reads:  GET /v2/images?limit=1000, then Glance's `next` links (relative
 *         to the endpoint, or absolute on its own origin), one request per
 *         page, at most DFS_GLANCE_PAGES_MAX pages; GET /v2/images/{id}.
 * Writes: a patch of an image is ONE PATCH /v2/images/{id} whose body is
 *         the JSON Patch the caller built (fs/schema_image.c judged every
 *         value), with Content-Type application/openstack-images-v2.1-json-patch;
 *         its 200 answer is the image after, checked and returned (no GET
 *         after it). Nothing else (create, delete, other kinds) is served.
 * Documents are Glance's own image JSON, the shape the local store keeps
 * (custom properties as top-level string keys). Every image Glance returns
 * is checked (storedoc.h) before it is served: a malformed answer is EIO
 * (one image) or an entry skipped with a log line (a list).
 *
 * PATCHes of one image must not overlap: Glance rewrites the property set
 * and silently loses one of two concurrent updates. The model's obj->wlock,
 * held by every caller of patch, serialises them within this mount; this
 * backend never holds a lock of its own across a request, so different
 * images are patched in parallel.
 *
 * watch() starts a poll thread: every `poll` seconds one listing pass,
 * compared with the last state; new, changed and deleted images go to the
 * change callback (origin "remote"). A 404 from any request removes the
 * image the same way.
 *
 * Thread-safe, as backend.h requires. The token (X-Auth-Token) is never
 * logged, never in an error line, never readable through the mount.
 */
#ifndef DEPLOYFS_GLANCE_H
#define DEPLOYFS_GLANCE_H

#include "backend.h"

struct dfs_glance_opts {
	const char *url;          /* the endpoint: http://HOST:9292 (a trailing
				   * /v2 or / is dropped) */
	const char *token_file;   /* X-Auth-Token file, or NULL: $OS_TOKEN */
	const char *cacert;       /* extra CA bundle, or NULL */
	double timeout;           /* seconds: the deadline of one poll pass */
	double poll;              /* seconds between two polls */
};

/* A new Glance backend (no request is made yet: the first list is the test
 * that Glance answers). Serves DFS_IMAGE only; everything o points to is
 * copied. NULL with err (EINVAL for a bad URL or token, ENOMEM). Free with
 * backend->ops->free. */
struct dfs_backend *dfs_glance_new(const struct dfs_glance_opts *o, struct dfs_error *err);

#endif
