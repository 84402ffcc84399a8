/* drift.h - tag drift: has an app's tag moved to another image since it
 * was deployed? (README, Tag drift)
 *
 * With drift=SECONDS one thread re-checks, every SECONDS, each app's
 * image reference in its registry (one HEAD per distinct reference and
 * registry object per pass, each bounded by timeout=). The digest it is
 * compared with is the one recorded at deploy: the digest the registry
 * check of the last write of the app's image through this mount answered,
 * else (nothing recorded: mounted since, a change made elsewhere, or a
 * write with registry_check=off) the first drift check's answer, which is
 * recorded and is not drift. When the registry answers another digest:
 *   - the app's `digest` shows it,
 *   - its `drift` file says "since TIME from OLD to NEW",
 *   - .deployfs/events gets a line for `digest` with origin "registry",
 *   - watchers of `digest` and `drift` get IN_MODIFY (echo.h).
 * When the tag comes back to the recorded digest, all four say so again.
 * A registry that fails (down, refusing, unknown image) is logged, once
 * when it starts failing and once when it answers again, and never shows
 * as drift. Nothing is ever written to the store.
 *
 * Locking: the drift state has its own mutex (d->mu), taken inside the
 * model lock by dfs_show_drift, so the thread never takes the model lock
 * while holding it. The thread takes an app's write lock (obj->wlock)
 * around updating its digest, as a write does.
 */
#ifndef DEPLOYFS_DRIFT_H
#define DEPLOYFS_DRIFT_H

#include <stddef.h>
#include <jansson.h>
#include "backend.h"

struct dfs_fs;
struct dfs_obj;
struct dfs_attr;
struct dfs_drift;

/* Start the drift thread (fs->cfg.drift > 0), with its own registry
 * client built from the mount's registry options. NULL on failure, with
 * a log line. */
struct dfs_drift *dfs_drift_new(struct dfs_fs *fs);
/* Stop the thread (a registry request in flight is cancelled: call it
 * only when deployfs is exiting) and free. Accepts NULL. */
void dfs_drift_free(struct dfs_drift *d);

/* A write through the mount committed to app o, whose registry check
 * answered digest ("" when it was skipped): that is the app's deployed
 * digest now, and any drift shown is over. o->wlock held, model lock not
 * held. d may be NULL; anything but an app is ignored. */
void dfs_drift_deployed(struct dfs_drift *d, struct dfs_obj *o, const char *digest);

/* The model's change hook (fanout.c): an app's image changed elsewhere
 * (origin "store" or "remote"): what was recorded for it no longer
 * applies, and the next check records anew. No lock held. d may be NULL. */
void dfs_drift_changed(struct dfs_drift *d, enum dfs_kind k, const char *id, const json_t *old,
		       const json_t *new_, const char *origin);

/* The `drift` file of an app (a dfs_show_fn): "since 2026-12-02T14:06:52Z
 * from sha256:... to sha256:...\n", or empty when its tag has not moved
 * (or drift= is off). Model lock held. */
char *dfs_show_drift(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
		     size_t *len);

#endif
