/* model.c - the in-memory copy of deployment state (see model.h). */
#include "model.h"
#include "map.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The objects one directory lists: the apps of one environment (by their
 * envIdRef), or all objects of another kind. Kept up to date by set_doc,
 * so that naming a directory costs its own objects, never the store's.
 * Model lock; a group is never freed before the model (an emptied one
 * keeps its generation). */
struct group {
	struct dfs_map *objs;                   /* id -> struct dfs_obj * (borrowed) */
	uint64_t names_gen;                     /* see dfs_model_names_gen */
	struct dfs_obj *added;                  /* made by the last names change */
};

struct dfs_model {
	pthread_rwlock_t lock;
	struct dfs_backend *backends[DFS_KIND_COUNT];
	struct dfs_map *objs[DFS_KIND_COUNT];   /* id -> struct dfs_obj *, live ones */
	struct dfs_map *groups[DFS_KIND_COUNT]; /* group key -> struct group * */
	struct dfs_obj **graveyard;             /* gone objects, freed with the model */
	size_t ngrave;
	uint64_t gen;
	dfs_model_change_cb cb;
	void *cb_arg;
};

/* The group key of a document of kind k: an app's envIdRef ("" when it
 * has none, a group no directory lists), "" for the other kinds. */
static const char *group_key(enum dfs_kind k, const json_t *doc)
{
	const char *e;

	if (k != DFS_APP)
		return "";
	e = json_string_value(json_object_get(doc, "envIdRef"));
	return e ? e : "";
}

/* Model lock held. The group called key, or NULL when it never had an
 * object. */
static struct group *group_find(struct dfs_model *m, enum dfs_kind k, const char *parent)
{
	return dfs_map_get(m->groups[k], parent ? parent : "");
}

/* Model write-lock held. The group called key, made when missing. A new
 * group starts at generation 1, what dfs_model_names_gen said of it while
 * it did not exist; adding its first object moves it on. */
static struct group *group_get(struct dfs_model *m, enum dfs_kind k, const char *key)
{
	struct group *g = dfs_map_get(m->groups[k], key);

	if (g)
		return g;
	g = calloc(1, sizeof(*g));
	if (!g || !(g->objs = dfs_map_new()) || dfs_map_put(m->groups[k], key, g) < 0) {
		if (g)
			dfs_map_free(g->objs);
		free(g);
		return NULL;
	}
	g->names_gen = 1;
	return g;
}

/* Model write-lock held. o joins or leaves the group of doc; the group's
 * names may have changed either way. */
static void group_join(struct dfs_model *m, struct dfs_obj *o, const json_t *doc)
{
	struct group *g = group_get(m, o->kind, group_key(o->kind, doc));

	if (!g || dfs_map_put(g->objs, o->id, o) < 0) {
		log_warnx("out of memory: %s %s may be missing from its directory",
			  dfs_kind_dir(o->kind), o->id);
		return;
	}
	g->names_gen++;
	g->added = o;
}

static void group_leave(struct dfs_model *m, struct dfs_obj *o, const json_t *doc)
{
	struct group *g = group_find(m, o->kind, group_key(o->kind, doc));

	if (!g)
		return;
	dfs_map_del(g->objs, o->id);
	g->names_gen++;
	g->added = NULL;
}

static struct dfs_obj *obj_new(enum dfs_kind k, const char *id, json_t *doc)
{
	struct dfs_obj *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->kind = k;
	o->id = strdup(id);
	o->doc = doc;
	o->gen = 1;
	clock_gettime(CLOCK_REALTIME, &o->mtime);
	pthread_mutex_init(&o->wlock, NULL);
	return o;
}

static void obj_free(struct dfs_obj *o)
{
	if (!o)
		return;
	json_decref(o->doc);
	pthread_mutex_destroy(&o->wlock);
	free(o->id);
	free(o);
}

struct dfs_model *dfs_model_new(struct dfs_backend *const backends[DFS_KIND_COUNT],
				dfs_model_change_cb cb, void *cb_arg)
{
	struct dfs_model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_rwlock_init(&m->lock, NULL);
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		m->backends[k] = backends[k];
		m->objs[k] = dfs_map_new();
		m->groups[k] = dfs_map_new();
		if (!m->objs[k] || !m->groups[k]) {
			dfs_model_free(m);
			return NULL;
		}
	}
	m->cb = cb;
	m->cb_arg = cb_arg;
	m->gen = 1;
	return m;
}

void dfs_model_free(struct dfs_model *m)
{
	if (!m)
		return;
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		size_t pos = 0;
		struct dfs_obj *o;

		struct group *g;

		if (m->groups[k]) {
			while ((g = dfs_map_next(m->groups[k], &pos, NULL))) {
				dfs_map_free(g->objs);
				free(g);
			}
			dfs_map_free(m->groups[k]);
		}
		pos = 0;
		if (!m->objs[k])
			continue;
		while ((o = dfs_map_next(m->objs[k], &pos, NULL)))
			obj_free(o);
		dfs_map_free(m->objs[k]);
	}
	for (size_t i = 0; i < m->ngrave; i++)
		obj_free(m->graveyard[i]);
	free(m->graveyard);
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

void dfs_model_rdlock(struct dfs_model *m) { pthread_rwlock_rdlock(&m->lock); }
void dfs_model_wrlock(struct dfs_model *m) { pthread_rwlock_wrlock(&m->lock); }
void dfs_model_unlock(struct dfs_model *m) { pthread_rwlock_unlock(&m->lock); }

struct dfs_obj *dfs_model_find(struct dfs_model *m, enum dfs_kind k, const char *id)
{
	return dfs_map_get(m->objs[k], id);
}

static int cmp_obj_id(const void *a, const void *b)
{
	return strcmp((*(struct dfs_obj *const *)a)->id, (*(struct dfs_obj *const *)b)->id);
}

/* The objects of map, sorted by id: a stable order, so listings and name
 * assignment don't churn. */
static struct dfs_obj **sorted(const struct dfs_map *map, size_t *n)
{
	size_t pos = 0, i = 0, count = map ? dfs_map_count(map) : 0;
	struct dfs_obj **v = malloc((count ? count : 1) * sizeof(*v));
	struct dfs_obj *o;

	if (!v) {
		*n = 0;
		return NULL;
	}
	while (map && (o = dfs_map_next(map, &pos, NULL)))
		v[i++] = o;
	qsort(v, i, sizeof(*v), cmp_obj_id);
	*n = i;
	return v;
}

struct dfs_obj **dfs_model_list(struct dfs_model *m, enum dfs_kind k, size_t *n)
{
	return sorted(m->objs[k], n);
}

struct dfs_obj **dfs_model_children(struct dfs_model *m, enum dfs_kind k, const char *parent,
				    size_t *n)
{
	struct group *g = group_find(m, k, parent);

	return sorted(g ? g->objs : NULL, n);
}

uint64_t dfs_model_gen(struct dfs_model *m)
{
	return m->gen;
}

uint64_t dfs_model_names_gen(struct dfs_model *m, enum dfs_kind k, const char *parent)
{
	struct group *g = group_find(m, k, parent);

	return g ? g->names_gen : 1;
}

struct dfs_obj *dfs_model_names_added(struct dfs_model *m, enum dfs_kind k, const char *parent,
				      uint64_t since)
{
	struct group *g = group_find(m, k, parent);

	return g && since + 1 == g->names_gen ? g->added : NULL;
}

/* Whether a change from old to doc may rename, move or hide a directory. */
static int names_differ(const json_t *old, const json_t *doc)
{
	static const char *const keys[] = { "name", "envIdRef", "isDeleted" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *a = json_object_get(old, keys[i]), *b = json_object_get(doc, keys[i]);

		if (!(a == b || (a && b && json_equal(a, b))))
			return 1;
	}
	return 0;
}

static void bury(struct dfs_model *m, struct dfs_obj *o)
{
	struct dfs_obj **g = realloc(m->graveyard, (m->ngrave + 1) * sizeof(*g));

	o->gone = 1;
	if (!g)
		return;   /* leak it rather than free what a writer may hold */
	m->graveyard = g;
	m->graveyard[m->ngrave++] = o;
}

/* Whether doc is an older state of the object than cur, by the version
 * the store bumps at each change (apps, environments, registries) or by
 * updated_at (images, to the second: a tie is not older). */
static int older(const json_t *doc, const json_t *cur)
{
	json_t *a = json_object_get(doc, "version"), *b = json_object_get(cur, "version");

	if (json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) < json_integer_value(b);
	a = json_object_get(doc, "updated_at");
	b = json_object_get(cur, "updated_at");
	if (json_is_string(a) && json_is_string(b))
		return strcmp(json_string_value(a), json_string_value(b)) < 0;
	return 0;
}

/* Model write-lock held. Replace (or create, or delete when doc is NULL)
 * the object; returns the old document (a reference the caller drops), and
 * sets *changed when anything differs. newer_only: keep what is held when
 * doc is an older version of it. */
static json_t *set_doc(struct dfs_model *m, enum dfs_kind k, const char *id, json_t *doc,
		       int newer_only, int *changed)
{
	struct dfs_obj *o = dfs_map_get(m->objs[k], id);
	json_t *old;

	*changed = 0;
	if (newer_only && o && doc && older(doc, o->doc))
		return NULL;
	if (!o) {
		if (!doc)
			return NULL;
		o = obj_new(k, id, json_incref(doc));
		if (!o || dfs_map_put(m->objs[k], id, o) < 0) {
			obj_free(o);
			return NULL;
		}
		*changed = 1;
		m->gen++;
		group_join(m, o, doc);
		return NULL;
	}
	old = o->doc;
	if (!doc) {
		dfs_map_del(m->objs[k], id);
		group_leave(m, o, old);
		bury(m, o);
		o->doc = NULL;
		*changed = 1;
		m->gen++;
		return old;
	}
	if (json_equal(old, doc))
		return json_incref(old);
	if (names_differ(old, doc)) {
		/* out of its directory (or its names' set) and into the new one:
		 * both generations move, and neither is a pure addition */
		group_leave(m, o, old);
		group_join(m, o, doc);
		group_find(m, k, group_key(k, doc))->added = NULL;
	}
	o->doc = json_incref(doc);
	o->gen++;
	clock_gettime(CLOCK_REALTIME, &o->mtime);
	/* error is empty after a change made elsewhere, too */
	o->error[0] = '\0';
	*changed = 1;
	m->gen++;
	return old;
}

/* Model lock held. Log what an app refers to that does not exist: an app
 * whose environment is missing has no directory, and would vanish
 * silently. */
static void check_refs(struct dfs_model *m, const char *id, const json_t *doc)
{
	const char *env = json_string_value(json_object_get(doc, "envIdRef"));
	const char *reg = json_string_value(json_object_get(json_object_get(doc, "source"),
							    "containerRegistryConfigIdRef"));

	if (json_is_true(json_object_get(doc, "isDeleted")))
		return;
	if (!env || !dfs_model_find(m, DFS_ENV, env))
		log_warnx("app %s: its environment (envIdRef \"%.64s\") does not exist; "
			  "the app is not shown", id, env ? env : "");
	if (reg && *reg && !dfs_model_find(m, DFS_REGISTRY, reg))
		log_warnx("app %s: its registry (containerRegistryConfigIdRef \"%.64s\") does "
			  "not exist; its image cannot be checked with credentials", id, reg);
}

static void apply(struct dfs_model *m, enum dfs_kind k, const char *id, const json_t *doc,
		  int newer_only, const char *origin)
{
	json_t *old;
	int changed;

	dfs_model_wrlock(m);
	old = set_doc(m, k, id, (json_t *)doc, newer_only, &changed);
	if (changed && doc && k == DFS_APP)
		check_refs(m, id, doc);
	dfs_model_unlock(m);
	if (changed && m->cb)
		m->cb(m->cb_arg, k, id, old, doc, origin);
	json_decref(old);
}

int dfs_model_load(struct dfs_model *m, int64_t deadline_ns, struct dfs_error *err)
{
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		json_t *arr, *doc;
		size_t i;
		int ret;

		if (!m->backends[k])
			continue;
		ret = m->backends[k]->ops->list(m->backends[k], (enum dfs_kind)k, &arr,
						deadline_ns, err);
		if (ret < 0)
			return ret;
		dfs_model_wrlock(m);
		json_array_foreach(arr, i, doc) {
			const char *id = json_string_value(json_object_get(doc, "id"));
			int changed;

			if (!id) {
				log_warnx("%s: an object without an id; ignored", dfs_kind_dir(k));
				continue;
			}
			json_decref(set_doc(m, (enum dfs_kind)k, id, doc, 0, &changed));
		}
		dfs_model_unlock(m);
		json_decref(arr);
	}
	/* once every kind is loaded: apps come before registries */
	dfs_model_rdlock(m);
	{
		size_t pos = 0;
		struct dfs_obj *o;

		while ((o = dfs_map_next(m->objs[DFS_APP], &pos, NULL)))
			check_refs(m, o->id, o->doc);
	}
	dfs_model_unlock(m);
	return 0;
}

static void on_store_change(void *arg, enum dfs_kind k, const char *id, const json_t *doc)
{
	struct dfs_model *m = arg;
	const char *origin = m->backends[k] ? m->backends[k]->ops->origin : NULL;

	apply(m, k, id, doc, 0, origin ? origin : "store");
}

int dfs_model_watch(struct dfs_model *m)
{
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		struct dfs_backend *b = m->backends[k];
		int seen = 0;

		if (!b || !b->ops->watch)
			continue;
		for (int j = 0; j < k; j++)   /* one watcher per backend */
			seen |= m->backends[j] == b;
		if (!seen) {
			int ret = b->ops->watch(b, on_store_change, m);

			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

int dfs_obj_wlock(struct dfs_obj *o, int64_t deadline_ns, struct dfs_error *err)
{
	struct timespec ts;
	int64_t left = deadline_ns - dfs_now_ns();
	int ret;

	if (pthread_mutex_trylock(&o->wlock) == 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (left < 0)
		left = 0;
	ts.tv_sec += left / 1000000000;
	ts.tv_nsec += left % 1000000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	ret = pthread_mutex_timedlock(&o->wlock, &ts);
	if (ret)
		return dfs_error_set(err, ETIMEDOUT, "another write to this object is still running");
	return 0;
}

void dfs_obj_wunlock(struct dfs_obj *o)
{
	pthread_mutex_unlock(&o->wlock);
}

int dfs_model_commit(struct dfs_model *m, struct dfs_obj *o, const json_t *patch,
		     const char *digest, int64_t deadline_ns, struct dfs_error *err,
		     json_t **old, json_t **new_)
{
	struct dfs_backend *b = m->backends[o->kind];
	json_t *after = NULL, *before = NULL;
	int ret, changed = 0;

	*old = *new_ = NULL;
	if (patch && json_array_size(patch)) {
		ret = b->ops->patch(b, o->kind, o->id, patch, &after, deadline_ns, err);
		if (ret < 0)
			return ret;
	}
	dfs_model_wrlock(m);
	/* The store may have moved on while this thread was away from it
	 * (another daemon's write, seen by the watcher): never show an older
	 * version after a newer one. Checked under the lock that applies it. */
	if (after)
		before = set_doc(m, o->kind, o->id, after, 1, &changed);
	if (changed && o->kind == DFS_APP)
		check_refs(m, o->id, after);
	o->error[0] = '\0';
	if (digest && *digest)
		snprintf(o->digest, sizeof(o->digest), "%s", digest);
	if (!changed) {   /* set_doc bumps them when the document changed */
		o->gen++;
		m->gen++;
	}
	dfs_model_unlock(m);
	if (changed) {
		*old = before;
		*new_ = after;
	} else {
		json_decref(before);
		json_decref(after);
	}
	return 0;
}

int dfs_model_create(struct dfs_model *m, enum dfs_kind k, const json_t *doc, char **id_out,
		     int64_t deadline_ns, struct dfs_error *err)
{
	struct dfs_backend *b = m->backends[k];
	json_t *created = NULL;
	const char *id;
	int ret;

	if (!b->ops->create)
		return dfs_error_set(err, EPERM, "this backend cannot create %s", dfs_kind_dir(k));
	ret = b->ops->create(b, k, doc, &created, deadline_ns, err);
	if (ret < 0)
		return ret;
	id = json_string_value(json_object_get(created, "id"));
	if (!id) {
		json_decref(created);
		return dfs_error_set(err, EIO, "the backend created an object without an id");
	}
	*id_out = strdup(id);
	apply(m, k, id, created, 0, "mount");
	json_decref(created);
	return *id_out ? 0 : -ENOMEM;
}

int dfs_model_remove(struct dfs_model *m, struct dfs_obj *o, int64_t deadline_ns,
		     struct dfs_error *err)
{
	struct dfs_backend *b = m->backends[o->kind];
	int ret;

	if (!b->ops->remove)
		return dfs_error_set(err, EPERM, "this backend cannot delete %s", dfs_kind_dir(o->kind));
	ret = b->ops->remove(b, o->kind, o->id, deadline_ns, err);
	if (ret < 0)
		return ret;
	apply(m, o->kind, o->id, NULL, 0, "mount");
	return 0;
}

void dfs_model_set_error(struct dfs_model *m, struct dfs_obj *o, const struct dfs_error *e)
{
	dfs_model_wrlock(m);
	if (e && e->code)
		snprintf(o->error, sizeof(o->error), "%s", e->msg);
	else
		o->error[0] = '\0';
	o->gen++;   /* the error file's content changed */
	m->gen++;
	dfs_model_unlock(m);
}

void dfs_model_set_digest(struct dfs_model *m, struct dfs_obj *o, const char *digest)
{
	dfs_model_wrlock(m);
	snprintf(o->digest, sizeof(o->digest), "%s", digest ? digest : "");
	o->gen++;
	m->gen++;
	dfs_model_unlock(m);
}
