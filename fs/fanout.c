/* fanout.c - what one change of an object sets off (notify.h,
 * dfs_on_change): a line on .deployfs/events for each file whose value
 * changed, the history's record of a change made elsewhere, the drift
 * checker's news, the echo that gives watchers inotify events, and the
 * invalidations queued to the notifier thread (the object's changed
 * files, and the names a change took away). Called by the model for a
 * change made elsewhere, and by the write path and mkdir after a commit.
 */
#include "notify.h"
#include "fs.h"
#include "tree.h"
#include "dirtype.h"
#include "events.h"
#include "history.h"
#include "schema.h"
#include "echo.h"
#include "drift.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static void queue_inode(void *arg, struct dfs_node *node)
{
	dfs_notifier_inval_inode(((struct dfs_fs *)arg)->notifier, node->ino);
}

static void queue_entry(void *arg, fuse_ino_t parent, const char *name)
{
	dfs_notifier_inval_entry(((struct dfs_fs *)arg)->notifier, parent, name);
}

static int renamed(const json_t *old, const json_t *new_)
{
	return !old || !new_ ||
	       !json_equal(json_object_get(old, "name"), json_object_get(new_, "name")) ||
	       !json_equal(json_object_get(old, "envIdRef"), json_object_get(new_, "envIdRef")) ||
	       !json_equal(json_object_get(old, "isDeleted"), json_object_get(new_, "isDeleted"));
}

static void publish_file(struct dfs_fs *fs, const char *path, const struct dfs_attr *a,
			 const struct dfs_obj *before, const struct dfs_obj *after,
			 const char *prop, const char *origin)
{
	/* an empty file (an unset value) is null */
	char *o = dfs_attr_value(a, before, prop), *n = dfs_attr_value(a, after, prop);

	if (!(o == n || (o && n && strcmp(o, n) == 0))) {
		dfs_events_change(fs->events, path, o, n, origin);
		dfs_echo_change(fs, after, a, prop, path, n, origin);   /* inotify, if made elsewhere */
	}
	free(o);
	free(n);
}

static void publish_table(struct dfs_fs *fs, const char *dir, const char *sub,
			  const struct dfs_attr *table, const struct dfs_obj *before,
			  const struct dfs_obj *after, const char *origin)
{
	char path[1400];

	for (; table->name; table++) {
		/* values, not what derives from them (app.json, error, digest),
		 * and never a secret */
		if (!(table->store || table->ptr) || !(table->mode & 0444))
			continue;
		snprintf(path, sizeof(path), "%s/%s%s", dir, sub, table->name);
		publish_file(fs, path, table, before, after, NULL, origin);
	}
}

static void publish_properties(struct dfs_fs *fs, const char *dir, const struct dfs_obj *before,
			       const struct dfs_obj *after, const char *origin)
{
	const struct dfs_obj *side[2] = { before, after };
	char path[1400];
	const char *key;
	json_t *v;

	for (int i = 0; i < 2; i++) {
		json_object_foreach((json_t *)dfs_obj_doc(side[i]), key, v) {
			/* a key in both is published once, from the old side */
			if (i == 1 && json_object_get(dfs_obj_doc(before), key))
				continue;
			if (!dfs_image_is_property(key, v) &&
			    !dfs_image_is_property(key, json_object_get(dfs_obj_doc(side[!i]), key)))
				continue;
			snprintf(path, sizeof(path), "%s/properties/%s", dir, key);
			publish_file(fs, path, &dfs_property_attr, before, after, key, origin);
		}
	}
}

/* One line on .deployfs/events for each file whose value changed; one for
 * the object's directory when it was created (old null) or deleted (new
 * null), its id standing for the other side. */
static void publish(struct dfs_fs *fs, enum dfs_kind k, const char *id, const json_t *old,
		    const json_t *new_, const char *origin)
{
	struct dfs_obj before = { .kind = k, .id = (char *)id, .cache = (json_t *)old,
				  .error = "", .digest = "" };
	struct dfs_obj after = { .kind = k, .id = (char *)id, .cache = (json_t *)new_,
				 .error = "", .digest = "" };
	const struct dfs_kind_desc *kd = dfs_kind_desc(k);
	char dir[1024];

	if (!fs->events)
		return;
	dfs_tree_object_dir(fs->tree, k, id, new_ ? new_ : old, dir, sizeof(dir));
	if (!old || !new_) {
		dfs_events_change(fs->events, dir, old ? id : NULL, new_ ? id : NULL, origin);
		return;
	}
	for (const struct dfs_file_table *ft = kd->tables; ft->attrs; ft++)
		publish_table(fs, dir, ft->sub, ft->attrs, &before, &after, origin);
	if (kd->properties)
		publish_properties(fs, dir, &before, &after, origin);
}

void dfs_on_change(void *arg, enum dfs_kind k, const char *id, const json_t *old,
		   const json_t *new_, const char *origin)
{
	struct dfs_fs *fs = arg;

	log_debug("change %s/%s from %s", dfs_kind_dir(k), id, origin);
	if (!fs->tree)
		return;
	publish(fs, k, id, old, new_, origin);
	dfs_drift_changed(fs->drift, k, id, old, new_, origin);
	/* made elsewhere: its history line (a change through the mount was
	 * recorded by its writer) */
	if (strcmp(origin, "mount") != 0)
		dfs_history_seen(fs, k, id, old, new_, origin);
	if (!fs->notifier)
		return;
	/* a change through the mount was invalidated by its own handler */
	if (strcmp(origin, "mount") != 0)
		dfs_tree_changed_nodes(fs->tree, k, id, old, new_, queue_inode, fs);
	/* names elsewhere in the tree (images/by-name/) follow either way; a
	 * new object that changed no other name leaves nothing stale */
	if (dfs_kind_desc(k)->by_name ||
	    (renamed(old, new_) && !(!old && dfs_tree_only_added(fs->tree, k, id, new_))))
		dfs_tree_stale_entries(fs->tree, k, id, old, new_, queue_entry, fs);
}
