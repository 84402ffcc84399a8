/* notify.c - the notifier thread and the model's change callback. */
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

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct job {
	struct job *next;
	fuse_ino_t ino;        /* inval_inode when name is NULL */
	char *name;            /* else inval_entry(ino, name) */
};

struct dfs_notifier {
	struct fuse_session *se;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail;
	int stop;
	int joined;            /* mu; the thread has ended */
};

static void *notifier_main(void *arg)
{
	struct dfs_notifier *n = arg;

	pthread_mutex_lock(&n->mu);
	for (;;) {
		struct job *j;

		while (!n->head && !n->stop)
			pthread_cond_wait(&n->cv, &n->mu);
		if (n->stop)
			break;
		j = n->head;
		n->head = j->next;
		if (!n->head)
			n->tail = &n->head;
		pthread_mutex_unlock(&n->mu);
		/* no lock held: the kernel may call back into handlers */
		if (j->name)
			fuse_lowlevel_notify_inval_entry(n->se, j->ino, j->name, strlen(j->name));
		else
			fuse_lowlevel_notify_inval_inode(n->se, j->ino, 0, 0);
		free(j->name);
		free(j);
		pthread_mutex_lock(&n->mu);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

struct dfs_notifier *dfs_notifier_new(struct fuse_session *se)
{
	struct dfs_notifier *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->se = se;
	n->tail = &n->head;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	if (pthread_create(&n->thread, NULL, notifier_main, n) != 0) {
		free(n);
		return NULL;
	}
	return n;
}

void dfs_notifier_stop(struct dfs_notifier *n)
{
	int join;

	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->stop = 1;
	join = !n->joined;
	n->joined = 1;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (join)
		pthread_join(n->thread, NULL);
}

void dfs_notifier_free(struct dfs_notifier *n)
{
	if (!n)
		return;
	dfs_notifier_stop(n);
	while (n->head) {
		struct job *j = n->head;

		n->head = j->next;
		free(j->name);
		free(j);
	}
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

static void push(struct dfs_notifier *n, fuse_ino_t ino, const char *name)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j || (name && !(j->name = strdup(name)))) {
		free(j);
		log_warnx("notifier: out of memory; the kernel may show stale data");
		return;
	}
	j->ino = ino;
	pthread_mutex_lock(&n->mu);
	if (n->stop) {   /* shutting down: the kernel's caches go with the mount */
		pthread_mutex_unlock(&n->mu);
		free(j->name);
		free(j);
		return;
	}
	*n->tail = j;
	n->tail = &j->next;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

void dfs_notifier_inval_inode(struct dfs_notifier *n, fuse_ino_t ino)
{
	push(n, ino, NULL);
}

void dfs_notifier_inval_entry(struct dfs_notifier *n, fuse_ino_t parent, const char *name)
{
	push(n, parent, name);
}

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
