/* glance.c - the Glance backend (see glance.h): the cache, the listing,
 * one image's GET, and its PATCH. The poll thread is in glance_poll.c,
 * the wire in glance_http.c and glance_wire.c.
 *
 * What the backend holds (struct glance, glance_internal.h), under g->mu:
 *   objs  image id -> struct glance_entry: each image as Glance last
 *         showed it (a list, a GET, a PATCH's answer);
 *   seq   bumped by every store: an entry stored after a poll pass began
 *         (entry->seq > the pass's seq0) is newer than what that pass read,
 *         and the pass leaves it alone.
 *
 * Locks, in order: (the model's obj->wlock, held by our callers across
 * patch: it is what keeps two PATCHes of one image from overlapping) ->
 * g->mu -> (the model lock, inside the change callback) -> cl.token_lock.
 * g->mu is never held across a request, so one image's PATCH never waits
 * for another's. It is held across the change callback so that a poll's
 * report and a write's store of one image come in one order; that is safe
 * because the model never calls a backend with its own lock held.
 * stop_mu guards only stop.
 */
#include "glance.h"
#include "glance_internal.h"
#include "api_internal.h"   /* dfs_api_segment, dfs_api_sanitise */
#include "log.h"
#include "storedoc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct glance *G(struct dfs_backend *b)
{
	return (struct glance *)b;
}

void glance_entry_free(struct glance_entry *e)
{
	if (!e)
		return;
	json_decref(e->doc);
	free(e);
}

int glance_store(struct glance *g, const char *id, json_t *doc)
{
	struct glance_entry *e = dfs_map_get(g->objs, id);

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || dfs_map_put(g->objs, id, e) < 0) {
			free(e);
			return -ENOMEM;
		}
	}
	json_decref(e->doc);
	e->doc = json_incref(doc);
	e->seq = ++g->seq;
	return 0;
}

void glance_report(struct glance *g, const char *id, const json_t *doc)
{
	if (g->cb)
		g->cb(g->cb_arg, DFS_IMAGE, id, doc);
}

void glance_gone(struct glance *g, const char *id)
{
	pthread_mutex_lock(&g->mu);
	glance_entry_free(dfs_map_del(g->objs, id));
	glance_report(g, id, NULL);
	pthread_mutex_unlock(&g->mu);
}

/* An image from Glance, checked before it is served: an object with a
 * usable id (want_id when given) that passes storedoc.h. */
static int check_image(const json_t *doc, const char *want_id, struct dfs_error *err)
{
	const char *id = json_string_value(json_object_get(doc, "id"));
	struct dfs_error e = { 0 };
	char shown[80];

	if (!json_is_object(doc))
		return dfs_error_set(err, EIO, "Glance: an image is not a JSON object");
	if (!id || !dfs_storedoc_id_ok(id)) {
		dfs_api_sanitise(id ? id : "", shown, sizeof(shown));
		return dfs_error_set(err, EIO, "Glance: \"%s\" is not a usable image id", shown);
	}
	if (want_id && strcmp(id, want_id))
		return dfs_error_set(err, EIO, "Glance: images/%s: the answer is another image",
				     want_id);
	if (dfs_storedoc_check(DFS_IMAGE, doc, &e) < 0)
		return dfs_error_set(err, EIO, "Glance: images/%s: %s", id, e.msg);
	return 0;
}

int glance_fetch_all(struct glance *g, json_t **out, int64_t deadline_ns,
		     struct dfs_error *err)
{
	json_t *items, *good, *doc, *seen;
	size_t i;
	int ret = dfs_glance_get_list(&g->cl, &items, deadline_ns, err);

	if (ret < 0)
		return ret;
	good = json_array();
	seen = json_object();
	json_array_foreach(items, i, doc) {
		struct dfs_error e = { 0 };
		const char *id;

		if (check_image(doc, NULL, &e) < 0) {
			log_warnx("%s; skipped", e.msg);
			continue;
		}
		/* pages read while images come and go may repeat one */
		id = json_string_value(json_object_get(doc, "id"));
		if (json_object_get(seen, id))
			continue;
		json_object_set_new(seen, id, json_true());
		json_array_append(good, doc);
	}
	json_decref(seen);
	json_decref(items);
	*out = good;
	return 0;
}

/* ---------------------------------------------------------------- list */

static int glance_list(struct dfs_backend *b, enum dfs_kind k, json_t **out,
		       int64_t deadline_ns, struct dfs_error *err)
{
	struct glance *g = G(b);
	json_t *all, *doc;
	size_t i;
	int ret;

	if (k != DFS_IMAGE)
		return dfs_error_set(err, ENOSYS, "Glance serves no %s", dfs_kind_dir(k));
	ret = glance_fetch_all(g, &all, deadline_ns, err);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&g->mu);
	json_array_foreach(all, i, doc)
		glance_store(g, json_string_value(json_object_get(doc, "id")), doc);
	pthread_mutex_unlock(&g->mu);
	*out = all;
	return 0;
}

/* ----------------------------------------------------------------- get */

static int image_path(const char *id, char *out, size_t outsz, struct dfs_error *err)
{
	char seg[DFS_GLANCE_SEG_MAX];

	if (!dfs_storedoc_id_ok(id) || dfs_api_segment(id, seg, sizeof(seg)) < 0)
		return dfs_error_set(err, EINVAL, "image id \"%.64s\" is not usable", id);
	snprintf(out, outsz, "/v2/images/%s", seg);
	return 0;
}

static int glance_get(struct dfs_backend *b, enum dfs_kind k, const char *id, json_t **out,
		      int64_t deadline_ns, struct dfs_error *err)
{
	struct glance *g = G(b);
	char path[DFS_GLANCE_SEG_MAX + 16];
	json_t *doc = NULL;
	int ret;

	if (k != DFS_IMAGE)
		return dfs_error_set(err, ENOSYS, "Glance serves no %s", dfs_kind_dir(k));
	if ((ret = image_path(id, path, sizeof(path), err)) < 0)
		return ret;
	ret = dfs_glance_call(&g->cl, "GET", path, NULL, NULL, &doc, NULL, deadline_ns, err);
	if (ret == 0)
		ret = check_image(doc, id, err);
	if (ret == -ENOENT)
		glance_gone(g, id);
	if (ret < 0) {
		json_decref(doc);
		return ret;
	}
	pthread_mutex_lock(&g->mu);
	glance_store(g, id, doc);
	pthread_mutex_unlock(&g->mu);
	*out = doc;
	return 0;
}

/* --------------------------------------------------------------- patch */

/* The caller holds the image's obj->wlock (glance.h): this is the one
 * PATCH of this image in flight from this mount. */
static int glance_patch(struct dfs_backend *b, enum dfs_kind k, const char *id,
			const json_t *patch, json_t **out, int64_t deadline_ns,
			struct dfs_error *err)
{
	struct glance *g = G(b);
	char path[DFS_GLANCE_SEG_MAX + 16];
	json_t *after = NULL;
	int ret;

	if (k != DFS_IMAGE)
		return dfs_error_set(err, EPERM, "Glance: %s cannot be changed here",
				     dfs_kind_dir(k));
	if (!json_is_array(patch))
		return dfs_error_set(err, EINVAL, "a patch is a JSON array");
	if ((ret = image_path(id, path, sizeof(path), err)) < 0)
		return ret;
	ret = dfs_glance_call(&g->cl, "PATCH", path, NULL, patch, &after, NULL, deadline_ns, err);
	if (ret == -ENOENT)
		glance_gone(g, id);
	if (ret == 0 && !after)
		ret = dfs_error_set(err, EIO, "Glance: PATCH images/%s: an empty answer", id);
	if (ret == 0)
		ret = check_image(after, id, err);
	if (ret < 0) {
		json_decref(after);
		return ret;
	}
	pthread_mutex_lock(&g->mu);
	glance_store(g, id, after);
	pthread_mutex_unlock(&g->mu);
	*out = after;
	return 0;
}

/* ---------------------------------------------------------------- free */

static void glance_free(struct dfs_backend *b)
{
	struct glance *g = G(b);
	struct glance_entry *e;
	size_t pos = 0;

	if (!g)
		return;
	if (g->watching) {
		pthread_mutex_lock(&g->stop_mu);
		g->stop = 1;
		pthread_cond_signal(&g->stop_cv);
		pthread_mutex_unlock(&g->stop_mu);
		/* a pass in flight ends at its deadline, or at once after
		 * dfs_cancel_all() (a signal) */
		pthread_join(g->thread, NULL);
	}
	if (g->objs) {
		while ((e = dfs_map_next(g->objs, &pos, NULL)))
			glance_entry_free(e);
		dfs_map_free(g->objs);
	}
	dfs_glance_client_destroy(&g->cl);
	pthread_mutex_destroy(&g->mu);
	pthread_mutex_destroy(&g->stop_mu);
	pthread_cond_destroy(&g->stop_cv);
	free(g);
}

static const struct dfs_backend_ops glance_ops = {
	.name = "Glance",
	.origin = "remote",
	.list = glance_list,
	.get = glance_get,
	.patch = glance_patch,
	.create = NULL,
	.remove = NULL,
	.watch = glance_watch,
	.free = glance_free,
};

struct dfs_backend *dfs_glance_new(const struct dfs_glance_opts *o, struct dfs_error *err)
{
	struct glance *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;

	if (!g) {
		dfs_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	g->base.ops = &glance_ops;
	pthread_mutex_init(&g->mu, NULL);
	pthread_mutex_init(&g->stop_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->stop_cv, &ca);
	pthread_condattr_destroy(&ca);
	g->timeout = o->timeout > 0 ? o->timeout : 10;
	g->poll = o->poll > 0 ? o->poll : 10;
	if (!(g->objs = dfs_map_new())) {
		dfs_error_set(err, ENOMEM, "out of memory");
		goto fail;
	}
	if (dfs_glance_client_init(&g->cl, o->url, o->token_file, o->cacert, err) < 0)
		goto fail;
	return &g->base;
fail:
	glance_free(&g->base);
	return NULL;
}
