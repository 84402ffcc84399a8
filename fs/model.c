/* model.c - the in-memory copy of deployment state (see model.h). */
#include "model.h"
#include "map.h"
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Parsed documents kept beyond this many are dropped, those not read
 * since the last trim first (dfs_obj_doc): a full walk of a large store
 * parses each document once while it reads that object's files, and
 * memory stays flat. */
#define DOC_CACHE_MAX 2048

/* How long the reading of a store after the mount may take. */
#define DFS_LOAD_TIMEOUT_S 600

/* Documents parsed and cached, over every model (one per daemon). */
static atomic_size_t ncached;

/* The objects one directory lists: the apps of one environment (by their
 * envIdRef), or all objects of another kind. Kept up to date by set_doc,
 * so that naming a directory costs its own objects, never the store's.
 * Model lock; a group is never freed before the model (an emptied one
 * keeps its generation). */
#define NAMES_LOG 8

struct group {
	struct dfs_map *objs;                   /* id -> struct dfs_obj * (borrowed) */
	uint64_t names_gen;                     /* see dfs_model_names_gen */
	/* the last names changes: log[gen % NAMES_LOG] made generation gen */
	struct dfs_names_change log[NAMES_LOG];
};

struct dfs_model {
	pthread_rwlock_t lock;
	struct dfs_backend *backends[DFS_KIND_COUNT];
	struct dfs_map *objs[DFS_KIND_COUNT];   /* id -> struct dfs_obj *, live ones */
	struct dfs_map *groups[DFS_KIND_COUNT]; /* group key -> struct group * */
	struct dfs_obj **graveyard;             /* gone objects, freed with the model */
	size_t ngrave;
	uint64_t gen;
	/* Loading in the background (dfs_model_watch): load_mu guards these. */
	pthread_mutex_t load_mu;
	pthread_cond_t load_cv;
	unsigned deferred;                      /* kinds dfs_model_watch loads */
	int regs_loaded;                        /* apps' references can be checked */
	int running;                            /* loader threads not done */
	atomic_int loading;                     /* running > 0, read without load_mu */
	int stop;                               /* the daemon is ending: stop reading */
	pthread_t loaders[DFS_KIND_COUNT];
	unsigned started;                       /* kinds with a loader thread */
	void (*loaded_cb)(void *arg);           /* dfs_model_set_loaded */
	void *loaded_arg;
	struct loader *ld;
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
	if (!g || !(g->objs = dfs_map_new_borrowed()) || dfs_map_put(m->groups[k], key, g) < 0) {
		if (g)
			dfs_map_free(g->objs);
		free(g);
		return NULL;
	}
	g->names_gen = 1;
	return g;
}

/* Model write-lock held. The group's names moved on by one change. */
static void group_log(struct group *g, int added, struct dfs_obj *o)
{
	g->names_gen++;
	g->log[g->names_gen % NAMES_LOG] = (struct dfs_names_change){ .added = added, .obj = o };
}

/* Model write-lock held. o joins or leaves the group of doc; the group's
 * names may have changed either way. */
static void group_join(struct dfs_model *m, struct dfs_obj *o, const json_t *doc)
{
	struct group *g = group_get(m, o->kind, group_key(o->kind, doc));

	if (!g || dfs_map_put(g->objs, o->id, o) < 0) {
		log_warnx("out of memory: %s %s may be missing from its directory",
			  dfs_kind_dir(o->kind), o->id);
		if (g)
			group_log(g, 0, NULL);   /* no change to follow: rebuild */
		return;
	}
	group_log(g, 1, o);
}

static void group_leave(struct dfs_model *m, struct dfs_obj *o, const json_t *doc)
{
	struct group *g = group_find(m, o->kind, group_key(o->kind, doc));

	if (!g)
		return;
	dfs_map_del(g->objs, o->id);
	group_log(g, 0, o);
}

static const char empty[] = "";

/* Free a string of the model's that may be the shared empty one. */
static void free_str(const char *s)
{
	if (s != empty)
		free((char *)s);
}

/* Model write-lock held. Replace *slot (a model string) with a copy of v. */
static void set_str(const char **slot, const char *v)
{
	char *copy = v && *v ? strdup(v) : NULL;

	free_str(*slot);
	*slot = copy ? copy : empty;
}

/* Model write-lock held. Give o the document doc: its compact text, the
 * fields that name it, and doc itself as the parsed copy when keep. */
static int obj_set(struct dfs_obj *o, json_t *doc, int keep)
{
	char *text = json_dumps(doc, JSON_COMPACT), *name = NULL;
	const char *nm = json_string_value(json_object_get(doc, "name"));

	if (!text || (nm && !(name = strdup(nm)))) {
		free(text);
		return -ENOMEM;
	}
	free(o->text);
	free(o->name);
	o->text = text;
	o->name = name;
	o->deleted = json_is_true(json_object_get(doc, "isDeleted"));
	if (o->cache) {
		json_decref(o->cache);
		atomic_fetch_sub(&ncached, 1);
	}
	o->cache = keep ? json_incref(doc) : NULL;
	if (keep)
		atomic_fetch_add(&ncached, 1);
	o->used = 1;
	return 0;
}

static void obj_free(struct dfs_obj *o)
{
	if (!o)
		return;
	if (o->cache) {
		json_decref(o->cache);
		atomic_fetch_sub(&ncached, 1);
	}
	free(o->text);
	free(o->name);
	free_str(o->error);
	free_str(o->digest);
	pthread_mutex_destroy(&o->wlock);
	free(o->id);
	free(o);
}

static struct dfs_obj *obj_new(enum dfs_kind k, const char *id, json_t *doc, int keep)
{
	struct dfs_obj *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->kind = k;
	o->gen = 1;
	o->error = empty;
	o->digest = empty;
	clock_gettime(CLOCK_REALTIME, &o->mtime);
	pthread_mutex_init(&o->wlock, NULL);
	if (!(o->id = strdup(id)) || obj_set(o, doc, keep) < 0) {
		obj_free(o);
		return NULL;
	}
	return o;
}

const json_t *dfs_obj_doc(const struct dfs_obj *co)
{
	struct dfs_obj *o = (struct dfs_obj *)co;   /* the cache is not the state */
	json_t *doc = __atomic_load_n(&o->cache, __ATOMIC_ACQUIRE), *none = NULL;

	if (!doc && o->text) {
		doc = json_loads(o->text, 0, NULL);
		if (!doc)
			return NULL;
		/* two readers may parse at once: the first one's copy stays */
		if (__atomic_compare_exchange_n(&o->cache, &none, doc, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			atomic_fetch_add(&ncached, 1);
		} else {
			json_decref(doc);
			doc = none;
		}
	}
	if (!__atomic_load_n(&o->used, __ATOMIC_RELAXED))
		__atomic_store_n(&o->used, 1, __ATOMIC_RELAXED);
	return doc;
}

/* Model write-lock held. Drop the parsed copies not read since the last
 * trim; mark the others unread. */
static void trim_cache(struct dfs_model *m)
{
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		size_t pos = 0;
		struct dfs_obj *o;

		while ((o = dfs_map_next(m->objs[k], &pos, NULL))) {
			if (!o->cache)
				continue;
			if (o->used) {
				o->used = 0;
				continue;
			}
			json_decref(o->cache);
			o->cache = NULL;
			atomic_fetch_sub(&ncached, 1);
		}
	}
}

struct dfs_model *dfs_model_new(struct dfs_backend *const backends[DFS_KIND_COUNT],
				dfs_model_change_cb cb, void *cb_arg)
{
	struct dfs_model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_rwlock_init(&m->lock, NULL);
	pthread_mutex_init(&m->load_mu, NULL);
	pthread_cond_init(&m->load_cv, NULL);
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		m->backends[k] = backends[k];
		m->objs[k] = dfs_map_new_borrowed();   /* keyed by o->id: objects outlive their entries */
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
	dfs_model_stop(m);
	free(m->ld);
	pthread_mutex_destroy(&m->load_mu);
	pthread_cond_destroy(&m->load_cv);
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

void dfs_model_rdlock_now(struct dfs_model *m) { pthread_rwlock_rdlock(&m->lock); }

static void wait_loaded(struct dfs_model *m);

void dfs_model_rdlock(struct dfs_model *m)
{
	wait_loaded(m);
	pthread_rwlock_rdlock(&m->lock);
}
void dfs_model_wrlock(struct dfs_model *m) { pthread_rwlock_wrlock(&m->lock); }

void dfs_model_unlock(struct dfs_model *m)
{
	pthread_rwlock_unlock(&m->lock);
	/* Readers only add to the cache; trimming needs the write lock. It
	 * is taken when free (a walk reads one request at a time), and
	 * waited for when readers never let go. */
	if (atomic_load(&ncached) > DOC_CACHE_MAX) {
		int got = atomic_load(&ncached) > 4 * DOC_CACHE_MAX ?
			  pthread_rwlock_wrlock(&m->lock) : pthread_rwlock_trywrlock(&m->lock);

		if (got == 0) {
			trim_cache(m);
			pthread_rwlock_unlock(&m->lock);
		}
	}
}

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

const char *dfs_model_origin(struct dfs_model *m, enum dfs_kind k)
{
	struct dfs_backend *b = m->backends[k];

	return dfs_backend_origin(b);
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

int dfs_model_names_since(struct dfs_model *m, enum dfs_kind k, const char *parent,
			  uint64_t since, struct dfs_names_change out[DFS_NAMES_SINCE_MAX])
{
	struct group *g = group_find(m, k, parent);
	uint64_t n;

	if (!g || since == 0 || since > g->names_gen)
		return -1;
	n = g->names_gen - since;
	if (n > DFS_NAMES_SINCE_MAX || n > NAMES_LOG)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		out[i] = g->log[(since + 1 + i) % NAMES_LOG];
		if (!out[i].obj)
			return -1;
	}
	return (int)n;
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
	/* nobody reads a gone object's document: the text goes now */
	free(o->text);
	o->text = NULL;
	if (o->cache) {
		json_decref(o->cache);
		o->cache = NULL;
		atomic_fetch_sub(&ncached, 1);
	}
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
 * doc is an older version of it. keep: hold doc parsed too (a change that
 * a reader is about to look at); the load does not. */
static json_t *set_doc(struct dfs_model *m, enum dfs_kind k, const char *id, json_t *doc,
		       int newer_only, int keep, int *changed)
{
	struct dfs_obj *o = dfs_map_get(m->objs[k], id);
	json_t *old;

	*changed = 0;
	if (!o) {
		if (!doc)
			return NULL;
		o = obj_new(k, id, doc, keep);
		if (!o || dfs_map_put(m->objs[k], o->id, o) < 0) {
			log_warnx("out of memory: %s %s is not shown", dfs_kind_dir(k), id);
			obj_free(o);
			return NULL;
		}
		*changed = 1;
		m->gen++;
		group_join(m, o, doc);
		return NULL;
	}
	old = json_incref((json_t *)dfs_obj_doc(o));
	if (!old) {
		log_warnx("out of memory: %s %s not updated", dfs_kind_dir(k), id);
		return NULL;
	}
	if (newer_only && doc && older(doc, old))
		return old;
	if (!doc) {
		dfs_map_del(m->objs[k], id);
		group_leave(m, o, old);
		bury(m, o);
		*changed = 1;
		m->gen++;
		return old;
	}
	if (json_equal(old, doc))
		return old;
	if (obj_set(o, doc, keep) < 0) {
		log_warnx("out of memory: %s %s not updated", dfs_kind_dir(k), id);
		return old;
	}
	if (names_differ(old, doc)) {
		/* out of its directory (or its names' set) and into the new one
		 * (the same one for a rename): one change in each */
		group_leave(m, o, old);
		group_join(m, o, doc);
	}
	o->gen++;
	clock_gettime(CLOCK_REALTIME, &o->mtime);
	/* error is empty after a change made elsewhere, too */
	free_str(o->error);
	o->error = empty;
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
	old = set_doc(m, k, id, (json_t *)doc, newer_only, 1, &changed);
	if (changed && doc && k == DFS_APP)
		check_refs(m, id, doc);
	dfs_model_unlock(m);
	if (changed && m->cb)
		m->cb(m->cb_arg, k, id, old, doc, origin);
	json_decref(old);
}

#define LOAD_BATCH 256

struct loader {
	struct dfs_model *m;
	enum dfs_kind kind;
	int64_t deadline_ns;
	int ret;
	struct dfs_error err;
	pthread_t thread;
	size_t n;                    /* documents read, not yet in the model */
	json_t *docs[LOAD_BATCH];
	struct dfs_obj *objs[LOAD_BATCH];
};

/* Put what ld read into the model, under one lock: two loaders (apps and
 * images) would otherwise take turns at it for every document. The
 * references of apps are checked now, while their documents are parsed:
 * environments and registries are loaded before them. */
static void load_flush(struct loader *ld)
{
	struct dfs_model *m = ld->m;

	dfs_model_wrlock(m);
	for (size_t i = 0; i < ld->n; i++) {
		struct dfs_obj *o = ld->objs[i];
		int changed = 0;

		if (!o || dfs_map_get(m->objs[ld->kind], o->id) ||
		    dfs_map_put(m->objs[ld->kind], o->id, o) < 0) {
			/* out of memory, or a second document with its id */
			json_decref(set_doc(m, ld->kind, json_string_value(json_object_get(
				ld->docs[i], "id")), ld->docs[i], 0, 0, &changed));
			obj_free(o);
		} else {
			group_join(m, o, ld->docs[i]);
			m->gen++;
			changed = 1;
		}
		if (changed && ld->kind == DFS_APP && m->regs_loaded)
			check_refs(m, json_string_value(json_object_get(ld->docs[i], "id")),
				   ld->docs[i]);
	}
	pthread_rwlock_unlock(&m->lock);
	for (size_t i = 0; i < ld->n; i++)
		json_decref(ld->docs[i]);
	ld->n = 0;
}

/* One document read at mount: held as text, not parsed (the first read
 * of one of its files parses it again). Nonzero: stop reading. */
static int load_doc(void *arg, json_t *doc)
{
	struct loader *ld = arg;
	const char *id = json_string_value(json_object_get(doc, "id"));

	if (__atomic_load_n(&ld->m->stop, __ATOMIC_RELAXED))
		return 1;
	if (!id) {
		log_warnx("%s: an object without an id; ignored", dfs_kind_dir(ld->kind));
		return 0;
	}
	ld->docs[ld->n] = json_incref(doc);
	ld->objs[ld->n] = obj_new(ld->kind, id, doc, 0);
	if (++ld->n == LOAD_BATCH)
		load_flush(ld);
	return 0;
}

static void load_kind(struct loader *ld)
{
	struct dfs_backend *b = ld->m->backends[ld->kind];
	json_t *arr, *doc;
	size_t i;

	if (b->ops->list_each) {
		ld->ret = dfs_backend_list_each(b, ld->kind, load_doc, ld, ld->deadline_ns,
					       &ld->err);
	} else {
		ld->ret = dfs_backend_list(b, ld->kind, &arr, ld->deadline_ns, &ld->err);
		if (ld->ret < 0)
			return;
		json_array_foreach(arr, i, doc) {
			if (load_doc(ld, doc))
				break;
		}
		json_decref(arr);
	}
	load_flush(ld);
}

/* Apps read before the registries: their references, checked now. */
static void check_all_refs(struct dfs_model *m)
{
	size_t pos = 0;
	struct dfs_obj *o;

	pthread_rwlock_rdlock(&m->lock);
	while ((o = dfs_map_next(m->objs[DFS_APP], &pos, NULL))) {
		json_t *doc = o->text ? json_loads(o->text, 0, NULL) : NULL;

		if (doc)
			check_refs(m, o->id, doc);
		json_decref(doc);
	}
	pthread_rwlock_unlock(&m->lock);
}

/* Wait until the reading of the store after the mount is done. */
static void wait_loaded(struct dfs_model *m)
{
	if (!atomic_load(&m->loading))
		return;
	pthread_mutex_lock(&m->load_mu);
	while (m->running)
		pthread_cond_wait(&m->load_cv, &m->load_mu);
	pthread_mutex_unlock(&m->load_mu);
}

/* A kind read after the mount: the last reader to finish lets the
 * waiting requests (and the watchers' changes) in. */
static void *load_thread(void *arg)
{
	struct loader *ld = arg;
	struct dfs_model *m = ld->m;

	load_kind(ld);
	if (ld->ret < 0)
		log_warnx("cannot read the store's %s: %s; they are not shown",
			  dfs_kind_dir(ld->kind), ld->err.msg);
	pthread_mutex_lock(&m->load_mu);
	if (--m->running == 0) {
		/* before the waiting requests come in */
		if (m->loaded_cb && !m->stop)
			m->loaded_cb(m->loaded_arg);
		atomic_store(&m->loading, 0);
		pthread_cond_broadcast(&m->load_cv);
	}
	pthread_mutex_unlock(&m->load_mu);
	return NULL;
}

int dfs_model_load(struct dfs_model *m, int64_t deadline_ns, struct dfs_error *err)
{
	int apps_now = 0;

	if (!m->ld && !(m->ld = calloc(DFS_KIND_COUNT, sizeof(*m->ld))))
		return dfs_error_set(err, ENOMEM, "out of memory");
	/* in the kinds' order: the apps API learns registries from apps */
	for (int i = 0; i < DFS_KIND_COUNT; i++) {
		enum dfs_kind k = (enum dfs_kind)i;
		struct loader *ld = &m->ld[k];
		struct dfs_backend *b = m->backends[k];

		if (!b)
			continue;
		ld->m = m;
		ld->kind = k;
		ld->deadline_ns = deadline_ns;
		/* The large kinds of a store read file by file (the local
		 * store) are read after the mount, by dfs_model_watch, two
		 * kinds at once: the root answers at once, and a request that
		 * needs them waits (dfs_model_rdlock). A remote backend's are
		 * read now: its failure fails the mount. */
		if ((k == DFS_APP || k == DFS_IMAGE) && b->ops->list_each) {
			m->deferred |= 1u << k;
			continue;
		}
		load_kind(ld);
		if (ld->ret < 0) {
			*err = ld->err;
			return ld->ret;
		}
		apps_now |= k == DFS_APP;
		if (k == DFS_REGISTRY)
			m->regs_loaded = 1;
	}
	m->regs_loaded = 1;
	if (apps_now)
		check_all_refs(m);
	return 0;
}

static void on_store_change(void *arg, enum dfs_kind k, const char *id, const json_t *doc)
{
	struct dfs_model *m = arg;
	const char *origin = dfs_backend_origin(m->backends[k]);

	/* A change seen while the store is still being read waits for the
	 * reading: then it reads the file again (the watchers report what the
	 * store holds when they look), and nothing read earlier can undo it. */
	wait_loaded(m);
	apply(m, k, id, doc, 0, origin);
}

static int start_watchers(struct dfs_model *m)
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

int dfs_model_watch(struct dfs_model *m)
{
	pthread_mutex_lock(&m->load_mu);
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		if (!(m->deferred & (1u << k)))
			continue;
		m->deferred &= ~(1u << k);
		/* read from now on: the mount's deadline is long past */
		m->ld[k].deadline_ns = dfs_deadline_ns(DFS_LOAD_TIMEOUT_S);
		if (pthread_create(&m->loaders[k], NULL, load_thread, &m->ld[k]) == 0) {
			m->started |= 1u << k;
			m->running++;
			atomic_store(&m->loading, 1);
		} else {
			load_kind(&m->ld[k]);
		}
	}
	pthread_mutex_unlock(&m->load_mu);
	/* watching from before the reading: nothing changed in between is
	 * missed (on_store_change holds the changes until it is done) */
	return start_watchers(m);
}

int dfs_model_load_rest(struct dfs_model *m, struct dfs_error *err)
{
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		if (!(m->deferred & (1u << k)))
			continue;
		m->deferred &= ~(1u << k);
		load_kind(&m->ld[k]);
		if (m->ld[k].ret < 0) {
			*err = m->ld[k].err;
			return m->ld[k].ret;
		}
	}
	return 0;
}

void dfs_model_set_loaded(struct dfs_model *m, void (*fn)(void *arg), void *arg)
{
	m->loaded_cb = fn;
	m->loaded_arg = arg;
}

void dfs_model_stop(struct dfs_model *m)
{
	pthread_mutex_lock(&m->load_mu);
	__atomic_store_n(&m->stop, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&m->load_mu);
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		if (m->started & (1u << k))
			pthread_join(m->loaders[k], NULL);
	}
	m->started = 0;
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
		ret = dfs_backend_patch(b, o->kind, o->id, patch, &after, deadline_ns, err);
		if (ret < 0)
			return ret;
	}
	dfs_model_wrlock(m);
	/* The store may have moved on while this thread was away from it
	 * (another daemon's write, seen by the watcher): never show an older
	 * version after a newer one. Checked under the lock that applies it. */
	if (after)
		before = set_doc(m, o->kind, o->id, after, 1, 1, &changed);
	if (changed && o->kind == DFS_APP)
		check_refs(m, o->id, after);
	set_str(&o->error, NULL);
	if (digest && *digest)
		set_str(&o->digest, digest);
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

	ret = dfs_backend_create(b, k, doc, &created, deadline_ns, err);
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

	ret = dfs_backend_remove(b, o->kind, o->id, deadline_ns, err);
	if (ret < 0)
		return ret;
	apply(m, o->kind, o->id, NULL, 0, "mount");
	return 0;
}

void dfs_model_touch(struct dfs_model *m, enum dfs_kind k, const char *id)
{
	struct dfs_obj *o;

	dfs_model_wrlock(m);
	o = dfs_model_find(m, k, id);
	if (o)
		o->gen++;
	dfs_model_unlock(m);
}

void dfs_model_set_error(struct dfs_model *m, struct dfs_obj *o, const struct dfs_error *e)
{
	dfs_model_wrlock(m);
	set_str(&o->error, e && e->code ? e->msg : NULL);
	o->gen++;   /* the error file's content changed */
	m->gen++;
	dfs_model_unlock(m);
}

void dfs_model_set_digest(struct dfs_model *m, struct dfs_obj *o, const char *digest)
{
	dfs_model_wrlock(m);
	set_str(&o->digest, digest);
	o->gen++;
	m->gen++;
	dfs_model_unlock(m);
}
