/* tree.c - node ids, directory contents and lookups (see tree.h). */
#include "tree_int.h"
#include "fs.h"
#include "map.h"
#include "model.h"
#include "names.h"
#include "dirtype.h"
#include "notify.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* ---- node table (tree mutex held) ---- */

struct tree_names;
static void names_clear(struct tree_names *c);

struct dfs_node *tree_node_alloc(struct dfs_tree *t)
{
	struct dfs_node *n;

	if (t->nino == t->capino) {
		size_t cap = t->capino ? t->capino * 2 : 1024;
		struct dfs_node **v = realloc(t->byino, cap * sizeof(*v));

		if (!v)
			return NULL;
		memset(v + t->capino, 0, (cap - t->capino) * sizeof(*v));
		t->byino = v;
		t->capino = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	/* an ino the kernel forgot is given again: the table stays as large
	 * as the nodes alive, not as every node ever made */
	if (t->nfree) {
		n->ino = t->free_inos[--t->nfree];
		t->byino[n->ino] = n;
		return n;
	}
	n->ino = t->nino;
	t->byino[t->nino++] = n;
	return n;
}

void tree_node_set_parent(struct dfs_tree *t, struct dfs_node *n, fuse_ino_t parent)
{
	struct dfs_node *p = parent < t->nino ? t->byino[parent] : NULL;

	n->parent = parent;
	if (!p || n->indexed_parent == parent)
		return;
	/* the old parent's kids keep n until they are next read */
	if (p->nkids == p->capkids) {
		size_t cap = p->capkids ? p->capkids * 2 : 8;
		fuse_ino_t *v = realloc(p->kids, cap * sizeof(*v));

		if (!v) {
			log_warnx("out of memory: a renamed entry may stay visible");
			return;
		}
		p->kids = v;
		p->capkids = cap;
	}
	p->kids[p->nkids++] = n->ino;
	n->indexed_parent = parent;
}

void tree_node_free(struct dfs_tree *t, struct dfs_node *n)
{
	if (!n)
		return;
	t->scratch_bytes -= n->size;
	free(n->kids);
	free(n->key);
	free(n->oid);
	free(n->prop);
	free(n->link);
	free(n->name);
	free(n->data);
	free(n->origin_key);
	free(n);
}

/* Put n at the head of *list (newest first) and free what has been on it
 * for longer than grace, giving its ino back. */
static void retire_on(struct dfs_tree *t, struct dfs_node **list, struct dfs_node *n,
		      int64_t grace)
{
	int64_t now = dfs_now_ns();
	struct dfs_node **p = list;

	t->byino[n->ino] = NULL;
	n->retired_at = now;
	n->retired_next = *list;
	*list = n;
	/* newest first: cut the list where the grace has passed */
	while (*p && now - (*p)->retired_at < grace)
		p = &(*p)->retired_next;
	while (*p) {
		struct dfs_node *old = *p;

		*p = old->retired_next;
		if (t->nfree == t->capfree) {
			size_t cap = t->capfree ? t->capfree * 2 : 1024;
			fuse_ino_t *v = realloc(t->free_inos, cap * sizeof(*v));

			if (v) {
				t->free_inos = v;
				t->capfree = cap;
			}
		}
		if (t->nfree < t->capfree)
			t->free_inos[t->nfree++] = old->ino;
		tree_node_free(t, old);
	}
}

void tree_node_retire(struct dfs_tree *t, struct dfs_node *n)
{
	retire_on(t, &t->retired, n, DFS_NODE_GRACE_NS);
}

/* ---- the bound on nodes ----
 *
 * The kernel keeps an inode, and so its node here, for every file looked
 * up until it forgets it, which a machine with free memory never does: a
 * walk of 100,000 objects' 1.9 million files would hold a node for each.
 * Past max_nodes, the least recently used nodes are let go: one the
 * kernel does not know (forgotten, or only listed) is freed; one it knows
 * has its entry invalidated (by the notifier thread), which makes the
 * kernel drop an unused dentry and inode and forget it. A file in use
 * (open, a cwd, an inotify watch) keeps its inode and its node: found by
 * its key, it keeps its ino too. */

static int droppable(const struct dfs_node *n)
{
	return n->ino != FUSE_ROOT_ID && n->key && n->type != DFS_N_SCRATCH && !n->pending;
}

static void lru_unlink(struct dfs_tree *t, struct dfs_node *n)
{
	if (!n->in_lru)
		return;
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else
		t->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else
		t->lru_tail = n->lru_prev;
	n->lru_prev = n->lru_next = NULL;
	n->in_lru = 0;
	t->nlru--;
}

/* Tree mutex held. n was used: it goes to the head. */
static void lru_touch(struct dfs_tree *t, struct dfs_node *n)
{
	if (!droppable(n) || t->lru_head == n)
		return;
	lru_unlink(t, n);
	n->lru_next = t->lru_head;
	if (t->lru_head)
		t->lru_head->lru_prev = n;
	t->lru_head = n;
	if (!t->lru_tail)
		t->lru_tail = n;
	n->in_lru = 1;
	t->nlru++;
}

/* Tree mutex held. Free n now that it is off every index. */
static void drop_node(struct dfs_tree *t, struct dfs_node *n)
{
	lru_unlink(t, n);
	if (dfs_map_get(t->bykey, n->key) == n)
		dfs_map_del(t->bykey, n->key);
	retire_on(t, &t->dropped, n, DFS_DROP_GRACE_NS);
}

/* Tree mutex held. Past max_nodes, let go of the least recently used
 * nodes, a bounded number per call (a lookup pays for a few). */
#define TRIM_STEP 64
static void tree_trim(struct dfs_tree *t)
{
	struct dfs_notifier *nt = t->fs ? t->fs->notifier : NULL;

	for (int i = 0; i < TRIM_STEP && t->max_nodes && t->nlru > t->max_nodes; i++) {
		struct dfs_node *n = t->lru_tail;

		if (!n)
			break;
		if (n->nlookup == 0) {
			drop_node(t, n);
			continue;
		}
		/* known to the kernel: ask it to let go (it forgets, and a
		 * later trim frees the node); meanwhile it is used again */
		if (nt && n->parent && n->name)
			dfs_notifier_inval_entry(nt, n->parent, n->name);
		lru_touch(t, n);
	}
}

/* The node for a listed entry: found by key, or made. */
static struct dfs_node *node_for(struct dfs_tree *t, const struct ent *e)
{
	struct dfs_node *n;

	if (e->node)
		return e->node;
	n = dfs_map_get(t->bykey, e->key);
	if (n) {
		lru_touch(t, n);
		return n;
	}
	n = tree_node_alloc(t);
	if (!n)
		return NULL;
	n->type = e->type;
	n->dtype = e->dtype;
	n->key = strdup(e->key);
	n->has_obj = e->has_obj;
	n->kind = e->kind;
	n->oid = e->oid ? strdup(e->oid) : NULL;
	n->attr = e->attr;
	n->prop = e->prop ? strdup(e->prop) : NULL;
	n->link = e->link ? strdup(e->link) : NULL;
	n->name = strdup(e->name);
	if (!n->key || dfs_map_put(t->bykey, n->key, n) < 0)
		return NULL;
	lru_touch(t, n);
	return n;
}

struct dfs_tree *dfs_tree_new(struct dfs_fs *fs)
{
	struct dfs_tree *t = calloc(1, sizeof(*t));
	struct dfs_node *unused, *root;

	if (!t)
		return NULL;
	t->fs = fs;
	t->max_nodes = fs ? fs->cfg.max_nodes : 0;
	pthread_mutex_init(&t->mu, NULL);
	t->bykey = dfs_map_new();
	t->scratch = dfs_map_new();
	t->hidden = dfs_map_new();
	t->names = dfs_map_new();
	clock_gettime(CLOCK_REALTIME, &t->born);
	t->uid = getuid();
	t->gid = getgid();
	unused = tree_node_alloc(t);           /* ino 0 is no inode */
	root = tree_node_alloc(t);             /* ino 1 is FUSE_ROOT_ID */
	if (!t->bykey || !t->scratch || !t->hidden || !t->names || !unused || !root) {
		dfs_tree_free(t);
		return NULL;
	}
	root->type = DFS_N_DIR;
	root->dtype = DFS_D_ROOT;
	root->key = strdup("/");
	root->nlookup = 1;
	dfs_map_put(t->bykey, "/", root);
	return t;
}

void dfs_tree_free(struct dfs_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nino; i++)
		tree_node_free(t, t->byino[i]);
	for (struct dfs_node **list = &t->retired; list; list = list == &t->retired ?
								&t->dropped : NULL) {
		while (*list) {
			struct dfs_node *n = *list;

			*list = n->retired_next;
			tree_node_free(t, n);
		}
	}
	free(t->free_inos);
	free(t->byino);
	dfs_map_free(t->bykey);
	dfs_map_free(t->scratch);
	dfs_map_free(t->hidden);
	if (t->names) {
		size_t pos = 0;
		struct tree_names *c;

		while ((c = dfs_map_next(t->names, &pos, NULL))) {
			names_clear(c);
			free(c);
		}
		dfs_map_free(t->names);
	}
	pthread_mutex_destroy(&t->mu);
	free(t);
}

struct dfs_node *dfs_tree_get(struct dfs_tree *t, fuse_ino_t ino)
{
	struct dfs_node *n = NULL;

	pthread_mutex_lock(&t->mu);
	if (ino < t->nino)
		n = t->byino[ino];
	pthread_mutex_unlock(&t->mu);
	return n;
}

/* ---- listings (model lock held; tree mutex held by the callers that
 * need the scratch map) ---- */

static int list_attrs(const struct dfs_attr *table, const char *dirkey, int has_obj,
		      enum dfs_kind k, const char *oid, ent_fn fn, void *arg)
{
	char key[DFS_NODE_KEY_MAX];

	for (; table->name; table++) {
		struct ent e = {
			.name = table->name, .key = key, .type = DFS_N_VALUE,
			.dtype = DFS_D_NONE, .has_obj = has_obj, .kind = k, .oid = oid,
			.attr = table,
		};

		if (dfs_node_key(key, sizeof(key), dirkey, NULL, table->name) < 0)
			continue;
		if (fn(arg, &e))
			return 1;
	}
	return 0;
}

static int list_sub(const char *name, const char *key, enum dfs_dtype dt, int has_obj,
		    enum dfs_kind k, const char *oid, ent_fn fn, void *arg)
{
	struct ent e = {
		.name = name, .key = key, .type = DFS_N_DIR, .dtype = dt,
		.has_obj = has_obj, .kind = k, .oid = oid,
	};
	return fn(arg, &e);
}

static int list_scratch(struct dfs_tree *t, struct dfs_node *dir, ent_fn fn, void *arg,
			const json_t *doc)
{
	size_t pos = 0;
	struct dfs_node *n;

	while ((n = dfs_map_next(t->scratch, &pos, NULL))) {
		struct ent e = { .name = n->name, .node = n, .type = n->type };

		if (n->parent != dir->ino)
			continue;
		/* a pending property that has been written is listed from the doc */
		if (n->pending && doc && json_object_get(doc, n->prop))
			continue;
		if (fn(arg, &e))
			return 1;
	}
	return 0;
}

/* The names of one directory's objects, assigned once per change of the
 * set (the model's names generation), not at every lookup: a lookup or a
 * mkdir costs one pass over the directory's own entries. */
struct tree_names {
	uint64_t gen;                /* dfs_model_names_gen when built; 0: never */
	size_t count;
	const char **ids;            /* borrowed from the model's objects */
	char **names;                /* malloc'd */
	struct dfs_map *byname;      /* name -> index + 1 (keys: names[]) */
	struct dfs_map *byid;        /* id -> index + 1 (keys: ids[]) */
	struct dfs_map *raw;         /* the objects' own names -> 1; NULL when
				      * one holds a NUL (then never grown) */
	const char *grown_by;        /* the id the last update added alone
				      * (borrowed), NULL after a rebuild */
	/* by-name/ only, which lists a name only while one image has it: */
	struct dfs_map *idname;      /* id -> its name (malloc'd), every named image */
	struct dfs_map *counts;      /* name -> how many images have it */
};

static void names_clear(struct tree_names *c)
{
	for (size_t i = 0; i < c->count; i++)
		free(c->names[i]);
	free(c->names);
	free(c->ids);
	dfs_map_free(c->byname);
	dfs_map_free(c->byid);
	dfs_map_free(c->raw);
	if (c->idname) {
		size_t pos = 0;
		char *name;

		while ((name = dfs_map_next(c->idname, &pos, NULL)))
			free(name);
	}
	dfs_map_free(c->idname);
	dfs_map_free(c->counts);
	c->byname = c->byid = c->raw = c->idname = c->counts = NULL;
	c->names = NULL;
	c->grown_by = NULL;
	c->ids = NULL;
	c->count = 0;
	c->gen = 0;
}

/* Both locks held. The cached names of the directory key, fresh at gen,
 * or NULL (then build them). */
static struct tree_names *names_cached(struct dfs_tree *t, const char *key, uint64_t gen,
				       struct tree_names **slot)
{
	struct tree_names *c = dfs_map_get(t->names, key);

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c || dfs_map_put(t->names, key, c) < 0) {
			free(c);
			*slot = NULL;
			return NULL;
		}
	}
	*slot = c;
	if (c->gen == gen)
		return c;
	return NULL;
}

/* Assign names to the count siblings in in[] into c (ids borrowed). */
static int names_build(struct tree_names *c, const struct dfs_name_in *in, size_t count,
		       uint64_t gen)
{
	c->ids = calloc(count ? count : 1, sizeof(*c->ids));
	c->names = calloc(count ? count : 1, sizeof(*c->names));
	if (!c->ids || !c->names || dfs_names_assign(in, count, c->names) < 0) {
		free(c->names);   /* dfs_names_assign set none of them */
		c->names = NULL;
		names_clear(c);
		return -ENOMEM;
	}
	c->count = count;
	/* a few hundred bytes an object at most: 100,000 objects' names are
	 * held whole from the mount on (dfs_tree_warm) */
	c->byname = dfs_map_new_borrowed();
	c->byid = dfs_map_new_borrowed();
	c->raw = dfs_map_new();
	if (!c->byname || !c->byid || !c->raw)
		goto fail;
	for (size_t i = 0; i < count && c->raw; i++) {
		if (strlen(in[i].name) != in[i].len) {
			dfs_map_free(c->raw);
			c->raw = NULL;
		} else if (dfs_map_put(c->raw, in[i].name, (void *)1) < 0) {
			goto fail;
		}
	}
	for (size_t i = 0; i < count; i++) {
		void *pos = (void *)(uintptr_t)(i + 1);

		c->ids[i] = in[i].id;
		if (dfs_map_put(c->byname, c->names[i], pos) < 0 ||
		    dfs_map_put(c->byid, in[i].id, pos) < 0)
			goto fail;
	}
	c->gen = gen;
	return 0;
fail:
	names_clear(c);
	return -ENOMEM;
}

/* The name of o's directory before any suffix: an image's id, another
 * object's name (NULL when it has none). */
static const char *obj_dir_name(const struct dfs_obj *o)
{
	return dfs_kind_desc(o->kind)->named_by_id ? o->id : o->name;
}

/* Both locks held. Grow c by the object o, created since c was built,
 * when that changes no other sibling's name: o's own name is safe as it
 * is and no sibling has it or shows it. 0, or -1: build c again. */
static int names_add_one(struct tree_names *c, const char *nm, const char *id)
{
	struct dfs_name_in in;
	char *assigned = NULL, **names;
	const char **ids;
	void *pos = (void *)(uintptr_t)(c->count + 1);

	if (!c->raw || !nm)
		return -1;
	in.name = nm;
	in.len = strlen(nm);
	in.id = id;
	if (dfs_map_get(c->raw, in.name) ||
	    dfs_map_get(c->byname, in.name) || dfs_names_assign(&in, 1, &assigned) < 0)
		return -1;
	if (strcmp(assigned, in.name) != 0)
		goto fail;   /* escaped or cut: not its own name */
	ids = realloc(c->ids, (c->count + 1) * sizeof(*ids));
	if (ids)
		c->ids = ids;
	names = realloc(c->names, (c->count + 1) * sizeof(*names));
	if (names)
		c->names = names;
	if (!ids || !names || dfs_map_put(c->raw, in.name, (void *)1) < 0)
		goto fail;
	c->ids[c->count] = id;
	c->names[c->count] = assigned;
	c->count++;
	if (dfs_map_put(c->byname, assigned, pos) < 0 || dfs_map_put(c->byid, id, pos) < 0)
		return -1;   /* built again: names_clear frees assigned */
	return 0;
fail:
	free(assigned);
	return -1;   /* the maps may hold the new name: rebuilt anyway */
}

static int names_add(struct tree_names *c, const struct dfs_obj *o)
{
	if (o->deleted)
		return 0;   /* not listed: nothing to add */
	return names_add_one(c, obj_dir_name(o), o->id);
}

/* Both locks held. Take the object id out of c, when that changes no
 * other sibling's name: its name is its own (not escaped, no suffix) and
 * has no '@', so that no sibling's suffix climbed past it (names.c). 0
 * (also when c does not hold it), or -1: build c again. */
static int names_remove(struct tree_names *c, const char *id)
{
	uintptr_t i = (uintptr_t)dfs_map_get(c->byid, id), last = c->count;
	char *name;

	if (!i--)
		return 0;
	name = c->names[i];
	if (!c->raw || strchr(name, '@') || !dfs_map_get(c->raw, name))
		return -1;
	dfs_map_del(c->byname, name);
	dfs_map_del(c->byid, id);
	dfs_map_del(c->raw, name);
	free(name);
	if (i != --last) {
		/* the last one takes its place */
		void *pos = (void *)(i + 1);

		c->ids[i] = c->ids[last];
		c->names[i] = c->names[last];
		if (dfs_map_put(c->byname, c->names[i], pos) < 0 ||
		    dfs_map_put(c->byid, c->ids[i], pos) < 0) {
			c->count = last;
			return -1;
		}
	}
	c->count = last;
	return 0;
}

/* Both locks held. The names of the objects of kind k (of env_id's apps
 * when env_id is set), from the cache or built now. NULL on ENOMEM. */
static struct tree_names *byname_names(struct dfs_tree *t);

static struct tree_names *object_names(struct dfs_tree *t, enum dfs_kind k, const char *env_id)
{
	struct dfs_model *m = t->fs->model;
	uint64_t gen = dfs_model_names_gen(m, k, env_id);
	struct tree_names *c, *slot;
	struct dfs_name_in *in = NULL;
	struct dfs_obj **all = NULL;
	size_t n = 0, count = 0;
	char key[300];

	snprintf(key, sizeof(key), "%d/%.200s", (int)k, env_id ? env_id : "");
	c = names_cached(t, key, gen, &slot);
	if (c || !slot)
		return c;
	/* a few changes since (a mkdir, a new app, a rename, a deletion):
	 * most often each only adds or takes away its own name, and then
	 * costs the same at any size */
	if (slot->gen) {
		struct dfs_names_change ch[DFS_NAMES_SINCE_MAX];
		int nch = dfs_model_names_since(m, k, env_id, slot->gen, ch), i;

		for (i = 0; i < nch; i++)
			if ((ch[i].added ? names_add(slot, ch[i].obj) :
			     names_remove(slot, ch[i].obj->id)) < 0)
				break;
		if (nch > 0 && i == nch) {
			slot->gen = gen;
			slot->grown_by = nch == 1 && ch[0].added ? ch[0].obj->id : NULL;
			return slot;
		}
	}
	names_clear(slot);
	/* the directory's own objects: an environment's apps, not all apps */
	all = dfs_model_children(m, k, env_id, &n);
	in = calloc(n ? n : 1, sizeof(*in));
	if (!all || !in)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const char *nm = obj_dir_name(all[i]);

		/* dfs_model_children gave this environment's apps only */
		if (all[i]->deleted)
			continue;
		in[count].name = nm ? nm : "";
		in[count].len = nm ? strlen(nm) : 0;
		in[count].id = all[i]->id;
		count++;
	}
	if (names_build(slot, in, count, gen) == 0)
		c = slot;
out:
	free(in);
	free(all);
	return c;
}

/* Siblings named after objects: envs, apps of one env, images, registries. */
static int list_objects(struct dfs_tree *t, enum dfs_kind k, const char *env_id, ent_fn fn,
			void *arg)
{
	struct tree_names *c = object_names(t, k, env_id);
	enum dfs_dtype dt = dfs_kind_desc(k)->object;
	int stop = 0;

	char key[DFS_NODE_KEY_MAX];

	for (size_t i = 0; c && i < c->count && !stop; i++)
		if (dfs_node_key(key, sizeof(key), dfs_kind_desc(k)->prefix, c->ids[i], NULL) == 0)
			stop = list_sub(c->names[i], key, dt, 1, k, c->ids[i], fn, arg);
	return stop;
}

void dfs_tree_warm(struct dfs_tree *t)
{
	struct dfs_model *m = t->fs->model;
	struct dfs_obj **envs;
	size_t n;

	dfs_model_rdlock_now(m);   /* the reader that calls this holds the others */
	pthread_mutex_lock(&t->mu);
	envs = dfs_model_list(m, DFS_ENV, &n);
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		if (!dfs_kind_desc((enum dfs_kind)k)->parent_is_env)
			object_names(t, (enum dfs_kind)k, NULL);
		for (size_t i = 0; envs && i < n && dfs_kind_desc((enum dfs_kind)k)->parent_is_env;
		     i++)
			object_names(t, (enum dfs_kind)k, envs[i]->id);
	}
	free(envs);
	byname_names(t);
	tree_unlock_both(t);
}

/* The environment an object of kind k is listed in (its envIdRef), or
 * NULL for a kind listed in a top-level folder. *listed: it is listed
 * somewhere (an app without an envIdRef is not). */
static const char *parent_of(enum dfs_kind k, const json_t *doc, int *listed)
{
	const char *env_id = NULL;

	*listed = 1;
	if (dfs_kind_desc(k)->parent_is_env)
		*listed = !!(env_id = json_string_value(json_object_get(doc, "envIdRef")));
	return env_id;
}

int dfs_tree_only_added(struct dfs_tree *t, enum dfs_kind k, const char *id, const json_t *doc)
{
	struct tree_names *c;
	int listed, ret;
	const char *env_id = parent_of(k, doc, &listed);

	if (!listed)
		return 0;
	tree_lock_both(t);
	c = object_names(t, k, env_id);
	ret = c && c->grown_by && strcmp(c->grown_by, id) == 0;
	tree_unlock_both(t);
	return ret;
}

/* Both locks held. The entry called name among the objects listed in dir,
 * through the index: 1 when dir lists objects and *e is filled (e->name
 * NULL when no object has that name), 0 when dir is another kind. */
static int object_entry(struct dfs_tree *t, struct dfs_node *dir, const char *name,
			const char *id, struct ent *e, char key[DFS_NODE_KEY_MAX])
{
	const struct dfs_dir_type *dt = dfs_dir_type(dir->dtype);
	const struct dfs_kind_desc *kd = dt->objects;
	const char *env_id = NULL;
	struct tree_names *c;
	uintptr_t i;

	if (dt->lists != DFS_L_OBJECTS)
		return 0;
	memset(e, 0, sizeof(*e));
	if (kd->parent_is_env) {
		if (!dfs_model_find(t->fs->model, dir->kind, dir->oid))
			return 1;   /* its environment is gone */
		env_id = dir->oid;
	}
	c = object_names(t, kd->kind, env_id);
	if (!c)
		return 1;
	i = (uintptr_t)dfs_map_get(name ? c->byname : c->byid, name ? name : id);
	if (!i-- || dfs_node_key(key, DFS_NODE_KEY_MAX, kd->prefix, c->ids[i], NULL) < 0)
		return 1;
	e->name = c->names[i];
	e->key = key;
	e->type = DFS_N_DIR;
	e->dtype = kd->object;
	e->has_obj = 1;
	e->kind = kd->kind;
	e->oid = c->ids[i];
	return 1;
}

static int cmp_name_in(const void *a, const void *b)
{
	const struct dfs_name_in *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->id, y->id);
}

/* The images that have name, in c->counts. */
static uintptr_t name_count(const struct tree_names *c, const char *name)
{
	return (uintptr_t)dfs_map_get(c->counts, name);
}

static int set_count(struct tree_names *c, const char *name, uintptr_t n)
{
	if (!n) {
		dfs_map_del(c->counts, name);
		return 0;
	}
	return dfs_map_put(c->counts, name, (void *)n);
}

/* Both locks held. Follow one change of the images in by-name/: an image
 * that joined (added) or left. A name is listed while exactly one image
 * has it. 0, or -1: build by-name/ again (also when the change would move
 * another name's escape or suffix, or a name comes back to a single image:
 * which one it is, only a whole pass says). */
static int byname_follow(struct tree_names *c, const struct dfs_names_change *ch)
{
	const struct dfs_obj *o = ch->obj;
	char *old = dfs_map_get(c->idname, o->id);
	uintptr_t n;

	if (!ch->added) {
		if (!old)
			return 0;   /* it had no name */
		dfs_map_del(c->idname, o->id);
		n = name_count(c, old);
		if (set_count(c, old, n ? n - 1 : 0) < 0 || n == 2 ||
		    (n == 1 && names_remove(c, o->id) < 0)) {
			free(old);
			return -1;
		}
		free(old);
		return 0;
	}
	if (old || o->deleted || !o->name || !*o->name)
		return old ? -1 : 0;
	if (!(old = strdup(o->name)) || dfs_map_put(c->idname, o->id, old) < 0) {
		free(old);
		return -1;
	}
	n = name_count(c, old) + 1;
	if (set_count(c, old, n) < 0)
		return -1;
	if (n == 1)
		return names_add_one(c, old, o->id);
	if (n == 2) {
		/* the image that had it alone loses its link */
		uintptr_t i = (uintptr_t)dfs_map_get(c->byname, old);

		return i ? names_remove(c, c->ids[i - 1]) : -1;
	}
	return 0;
}

/* Both locks held. The names of images/by-name/: a symlink for each name
 * no other image has; from the cache, following the changes since, or
 * built now. NULL on ENOMEM. */
static struct tree_names *byname_names(struct dfs_tree *t)
{
	struct dfs_model *m = t->fs->model;
	uint64_t gen = dfs_model_names_gen(m, DFS_IMAGE, NULL);
	struct tree_names *c, *slot;

	c = names_cached(t, "B", gen, &slot);
	if (c || !slot)
		return c;
	if (slot->gen && slot->idname) {
		struct dfs_names_change ch[DFS_NAMES_SINCE_MAX];
		int nch = dfs_model_names_since(m, DFS_IMAGE, NULL, slot->gen, ch), i;

		for (i = 0; i < nch; i++)
			if (byname_follow(slot, &ch[i]) < 0)
				break;
		if (nch > 0 && i == nch) {
			slot->gen = gen;
			return slot;
		}
	}
	names_clear(slot);
	size_t n = 0, count = 0, kept = 0;
	struct dfs_obj **all = dfs_model_children(m, DFS_IMAGE, NULL, &n);
	struct dfs_name_in *in = calloc(n ? n : 1, sizeof(*in));
	struct dfs_map *idname = dfs_map_new_borrowed(), *counts = dfs_map_new();

	for (size_t i = 0; all && in && idname && i < n; i++) {
		const char *name = all[i]->name;
		char *copy;

		if (!name || !*name || all[i]->deleted)
			continue;
		in[count].name = name;
		in[count].len = strlen(name);
		in[count].id = all[i]->id;
		count++;
		if (!(copy = strdup(name)) || dfs_map_put(idname, all[i]->id, copy) < 0) {
			free(copy);
			dfs_map_free(idname);   /* its names leak: out of memory anyway */
			idname = NULL;
		}
	}
	/* sorted by name, a name that several images share is a run */
	if (in)
		qsort(in, count, sizeof(*in), cmp_name_in);
	for (size_t i = 0, run = 1; in && i < count; i++, run++) {
		int dup = (i > 0 && !strcmp(in[i].name, in[i - 1].name)) ||
			  (i + 1 < count && !strcmp(in[i].name, in[i + 1].name));

		if (i > 0 && strcmp(in[i].name, in[i - 1].name))
			run = 1;
		if (counts && dfs_map_put(counts, in[i].name, (void *)(uintptr_t)run) < 0) {
			dfs_map_free(counts);
			counts = NULL;
		}
		if (!dup)
			in[kept++] = in[i];
	}
	if (all && in && names_build(slot, in, kept, gen) == 0) {
		c = slot;
		/* without both, the next change builds it again */
		if (idname && counts) {
			c->idname = idname;
			c->counts = counts;
			idname = counts = NULL;
		}
	}
	if (idname) {
		size_t pos = 0;
		char *name;

		while ((name = dfs_map_next(idname, &pos, NULL)))
			free(name);
	}
	dfs_map_free(idname);
	dfs_map_free(counts);
	free(in);
	free(all);
	return c;
}

/* Call fn with the by-name entry i of c. */
static int byname_entry(const struct tree_names *c, size_t i, ent_fn fn, void *arg)
{
	char target[DFS_NODE_KEY_MAX], key[DFS_NODE_KEY_MAX], link[300];
	struct ent e = { .name = c->names[i], .key = key, .type = DFS_N_LINK, .link = link };

	/* the target is part of the key: a name that comes to point at
	 * another image is another node, never a stale link */
	if (dfs_node_key(target, sizeof(target), "B", NULL, c->ids[i]) < 0 ||
	    dfs_node_key(key, sizeof(key), target, NULL, c->names[i]) < 0)
		return 0;
	snprintf(link, sizeof(link), "../%s", c->ids[i]);
	return fn(arg, &e);
}

static int list_byname(struct dfs_tree *t, ent_fn fn, void *arg)
{
	struct tree_names *c = byname_names(t);
	int stop = 0;

	for (size_t i = 0; c && i < c->count && !stop; i++)
		stop = byname_entry(c, i, fn, arg);
	return stop;
}

static int safe_prop_name(const char *key)
{
	size_t n = strlen(key);

	return n > 0 && n <= 255 && !strchr(key, '/') && strcmp(key, ".") && strcmp(key, "..") &&
	       !dfs_is_scratch_name(key);
}

static int list_props(struct dfs_tree *t, struct dfs_node *dir, const json_t *doc, ent_fn fn,
		      void *arg)
{
	const char *key;
	json_t *v;
	char nkey[DFS_NODE_KEY_MAX];

	json_object_foreach((json_t *)doc, key, v) {
		struct ent e = {
			.name = key, .key = nkey, .type = DFS_N_VALUE, .dtype = DFS_D_NONE,
			.has_obj = 1, .kind = DFS_IMAGE, .oid = dir->oid,
			.attr = &dfs_property_attr, .prop = key,
		};

		if (!dfs_image_is_property(key, v) || !safe_prop_name(key) ||
		    dfs_node_key(nkey, sizeof(nkey), dir->key, NULL, key) < 0)
			continue;
		if (fn(arg, &e))
			return 1;
	}
	return list_scratch(t, dir, fn, arg, doc);
}

/* List dir, as its type says: its value files, what it lists, its
 * subdirectories, then the scratch files left in it. Model lock and tree
 * mutex held. */
static int list_dir(struct dfs_tree *t, struct dfs_node *dir, ent_fn fn, void *arg)
{
	const struct dfs_dir_type *dt = dfs_dir_type(dir->dtype);
	const char *oid = dt->has_obj ? dir->oid : NULL;
	struct dfs_obj *o = NULL;
	char key[DFS_NODE_KEY_MAX];

	if (dt->has_obj && !(o = dfs_model_find(t->fs->model, dir->kind, dir->oid)))
		return 0;
	if (dt->attrs && list_attrs(dt->attrs, dir->key, dt->has_obj, dt->kind, oid, fn, arg))
		return 1;
	switch (dt->lists) {
	case DFS_L_NONE:
		break;
	case DFS_L_OBJECTS: {
		const struct dfs_kind_desc *kd = dt->objects;

		if (list_objects(t, kd->kind, kd->parent_is_env ? o->id : NULL, fn, arg))
			return 1;
		break;
	}
	case DFS_L_BYNAME:
		if (list_byname(t, fn, arg))
			return 1;
		break;
	case DFS_L_PROPS:
		/* its pending properties are its scratch entries */
		return list_props(t, dir, dfs_obj_doc(o), fn, arg);
	case DFS_L_EVENTS: {
		struct ent e = { .name = "events", .key = key, .type = DFS_N_EVENTS };

		if (dfs_node_key(key, sizeof(key), dir->key, NULL, "events") == 0 && fn(arg, &e))
			return 1;
		break;
	}
	}
	for (const struct dfs_subdir *sd = dt->subdirs; sd && sd->name; sd++) {
		if (dfs_node_key(key, sizeof(key), sd->prefix, oid, NULL) < 0)
			continue;
		if (list_sub(sd->name, key, sd->type, dt->has_obj, dt->kind, oid, fn, arg))
			return 1;
	}
	return dt->scratch ? list_scratch(t, dir, fn, arg, NULL) : 0;
}

/* ---- lookup ---- */

struct find_arg {
	struct dfs_tree *t;
	const char *name;
	int include_hidden;
	struct dfs_node *found;
	int hidden;
	int err;
};

static int find_fn(void *arg, const struct ent *e)
{
	struct find_arg *a = arg;

	if (strcmp(e->name, a->name) != 0)
		return 0;
	if (e->key && dfs_map_get(a->t->hidden, e->key)) {
		a->hidden = 1;
		if (!a->include_hidden)
			return 1;   /* renamed away by an editor, not re-created yet */
	}
	a->found = node_for(a->t, e);
	if (!a->found)
		a->err = -ENOMEM;
	return 1;
}

/* Both locks held. Objects and by-name links are searched through their
 * index, and then a directory of objects has only its subdirectories; the
 * other directories are short and listed. */
static void find(struct dfs_tree *t, struct dfs_node *dir, struct find_arg *a)
{
	const struct dfs_dir_type *dt = dfs_dir_type(dir->dtype);
	char key[DFS_NODE_KEY_MAX];
	struct ent e;

	if (dt->lists == DFS_L_BYNAME) {
		struct tree_names *c = byname_names(t);
		uintptr_t i = c ? (uintptr_t)dfs_map_get(c->byname, a->name) : 0;

		if (i)
			byname_entry(c, i - 1, find_fn, a);
		return;
	}
	if (!object_entry(t, dir, a->name, NULL, &e, key)) {
		list_dir(t, dir, find_fn, a);
		return;
	}
	if (e.name) {
		find_fn(a, &e);
		return;
	}
	for (const struct dfs_subdir *sd = dt->subdirs; sd && sd->name; sd++) {
		const char *oid = dt->has_obj ? dir->oid : NULL;

		if (strcmp(sd->name, a->name) == 0 &&
		    dfs_node_key(key, sizeof(key), sd->prefix, oid, NULL) == 0)
			list_sub(sd->name, key, sd->type, dt->has_obj, dt->kind, oid, find_fn, a);
	}
}

struct dfs_node *tree_find_child(struct dfs_tree *t, struct dfs_node *dir, const char *name)
{
	struct find_arg a = { .t = t, .name = name };

	find(t, dir, &a);
	return a.found;
}

struct dfs_node *tree_find_hidden(struct dfs_tree *t, struct dfs_node *dir, const char *name,
				  int *hidden)
{
	struct find_arg a = { .t = t, .name = name, .include_hidden = 1 };

	find(t, dir, &a);
	*hidden = a.hidden;
	return a.found;
}

void tree_lock_both(struct dfs_tree *t)
{
	dfs_model_rdlock(t->fs->model);
	pthread_mutex_lock(&t->mu);
}

/* Whether a request on n needs the apps and images, which a large store
 * reads after the mount (dfs_model_watch): the root, environments and
 * registries answer while they are read. */
static int needs_all(const struct dfs_node *n)
{
	if (n->type == DFS_N_DIR)
		return dfs_dir_type(n->dtype)->needs_all;
	/* a file of an object read before the mount needs nothing more */
	return !n->has_obj || !(n->kind == DFS_ENV || n->kind == DFS_REGISTRY);
}

/* The model lock for a request on n: waits for the store's reading only
 * when n needs it. */
static void model_lock_for(struct dfs_tree *t, const struct dfs_node *n)
{
	if (needs_all(n))
		dfs_model_rdlock(t->fs->model);
	else
		dfs_model_rdlock_now(t->fs->model);
}

static void tree_lock_for(struct dfs_tree *t, const struct dfs_node *n)
{
	model_lock_for(t, n);
	pthread_mutex_lock(&t->mu);
}

void tree_unlock_both(struct dfs_tree *t)
{
	pthread_mutex_unlock(&t->mu);
	dfs_model_unlock(t->fs->model);
}

int dfs_tree_lookup(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		    struct dfs_node **out)
{
	struct dfs_node *n;

	if (dir->type != DFS_N_DIR)
		return -ENOTDIR;
	tree_lock_for(t, dir);
	n = tree_find_child(t, dir, name);
	if (n) {
		n->nlookup++;
		tree_trim(t);
		/* remember the name and parent the kernel knows it by, to tell
		 * it when a change elsewhere takes that name away */
		if (n->type != DFS_N_SCRATCH && !n->pending) {
			tree_node_set_parent(t, n, dir->ino);
			if (!n->name || strcmp(n->name, name)) {
				free(n->name);
				n->name = strdup(name);
			}
		}
	}
	tree_unlock_both(t);
	*out = n;
	return n ? 0 : -ENOENT;
}

void dfs_tree_forget(struct dfs_tree *t, fuse_ino_t ino, uint64_t count)
{
	struct dfs_node *n;

	pthread_mutex_lock(&t->mu);
	n = ino < t->nino ? t->byino[ino] : NULL;
	if (n) {
		n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
		/* an unlinked scratch file nobody knows any more is gone for good */
		if (n->type == DFS_N_SCRATCH && n->unlinked && n->nlookup == 0)
			tree_node_retire(t, n);
		/* a file the kernel let go of: made again (same key, another
		 * ino) if it is looked up again */
		else if (n->nlookup == 0 && n->in_lru)
			drop_node(t, n);
	}
	pthread_mutex_unlock(&t->mu);
}

/* ---- content and attributes ---- */

/* Model lock held. */
int tree_render(struct dfs_tree *t, struct dfs_node *n, char **buf, size_t *len)
{
	struct dfs_obj *o = NULL;

	if (n->has_obj) {
		o = dfs_model_find(t->fs->model, n->kind, n->oid);
		if (!o)
			return -ENOENT;
	}
	*buf = n->attr->show(n->attr, o, n->prop, len);
	return *buf ? 0 : -ENOMEM;
}

int dfs_tree_read(struct dfs_tree *t, struct dfs_node *n, char **buf, size_t *len)
{
	int ret = 0;

	if (n->type == DFS_N_SCRATCH) {
		pthread_mutex_lock(&t->mu);
		*buf = malloc(n->size ? n->size : 1);
		if (*buf) {
			memcpy(*buf, n->data, n->size);
			*len = n->size;
		} else {
			ret = -ENOMEM;
		}
		pthread_mutex_unlock(&t->mu);
		return ret;
	}
	if (n->type != DFS_N_VALUE)
		return -EISDIR;
	model_lock_for(t, n);
	ret = tree_render(t, n, buf, len);
	dfs_model_unlock(t->fs->model);
	return ret;
}

/* Model lock held (read). Every thread that renders here sees the same
 * object gen (a writer needs the write lock to move it), so all store the
 * same (gen, hash) pair; the release/acquire pair keeps a reader from
 * taking a new gen with an old hash. */
static int hash_locked(struct dfs_tree *t, struct dfs_node *n, uint64_t *out)
{
	struct dfs_obj *o;
	uint64_t gen = 1;
	char *buf;
	size_t len;
	int ret;

	if (n->has_obj) {
		o = dfs_model_find(t->fs->model, n->kind, n->oid);
		if (!o)
			return -ENOENT;
		gen = o->gen;
	}
	if (__atomic_load_n(&n->hash_gen, __ATOMIC_ACQUIRE) == gen) {
		*out = __atomic_load_n(&n->hash_val, __ATOMIC_RELAXED);
		return 0;
	}
	ret = tree_render(t, n, &buf, &len);
	if (ret < 0)
		return ret;
	*out = dfs_fnv1a(buf, len);
	free(buf);
	__atomic_store_n(&n->hash_val, *out, __ATOMIC_RELAXED);
	__atomic_store_n(&n->hash_gen, gen, __ATOMIC_RELEASE);
	return 0;
}

int dfs_tree_hash(struct dfs_tree *t, struct dfs_node *n, uint64_t *out)
{
	int ret;

	if (n->type != DFS_N_VALUE)
		return -EINVAL;
	model_lock_for(t, n);
	ret = hash_locked(t, n, out);
	dfs_model_unlock(t->fs->model);
	return ret;
}

int dfs_tree_stat(struct dfs_tree *t, struct dfs_node *n, struct stat *st)
{
	struct dfs_obj *o = NULL;
	int ret = 0;

	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = t->uid;
	st->st_gid = t->gid;
	st->st_blksize = 4096;
	st->st_mtim = st->st_ctim = st->st_atim = t->born;
	model_lock_for(t, n);
	if (n->has_obj) {
		o = dfs_model_find(t->fs->model, n->kind, n->oid);
		if (!o && !(n->type == DFS_N_SCRATCH)) {
			ret = -ENOENT;
			goto out;
		}
		if (o)
			st->st_mtim = st->st_ctim = o->mtime;
	}
	switch (n->type) {
	case DFS_N_DIR:
		st->st_nlink = 2;
		st->st_mode = S_IFDIR | dfs_dir_type(n->dtype)->mode;
		break;
	case DFS_N_EVENTS:
		st->st_nlink = 1;
		st->st_mode = S_IFREG | 0444;   /* a stream: no size */
		break;
	case DFS_N_LINK:
		st->st_nlink = 1;
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)strlen(n->link);
		break;
	case DFS_N_SCRATCH:
		pthread_mutex_lock(&t->mu);
		st->st_nlink = n->unlinked ? 0 : 1;
		st->st_mode = n->mode;
		st->st_size = (off_t)(n->link ? strlen(n->link) : n->size);
		st->st_mtim = st->st_ctim = n->mtime;
		pthread_mutex_unlock(&t->mu);
		break;
	case DFS_N_VALUE: {
		char *buf;
		size_t len;

		st->st_nlink = 1;
		st->st_mode = S_IFREG | n->attr->mode;
		ret = tree_render(t, n, &buf, &len);
		if (ret < 0)
			goto out;
		st->st_size = (off_t)len;
		free(buf);
		break;
	}
	}
	st->st_blocks = (st->st_size + 511) / 512;
out:
	dfs_model_unlock(t->fs->model);
	return ret;
}

/* ---- readdir ---- */

struct collect {
	struct dfs_tree *t;
	struct dfs_dirent *v;
	size_t n, cap;
	int err;
};

static int collect_fn(void *arg, const struct ent *e)
{
	struct collect *c = arg;
	struct dfs_node *n;

	if (e->key && dfs_map_get(c->t->hidden, e->key))
		return 0;
	n = node_for(c->t, e);
	if (!n) {
		c->err = -ENOMEM;
		return 1;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct dfs_dirent *v = realloc(c->v, cap * sizeof(*v));

		if (!v) {
			c->err = -ENOMEM;
			return 1;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].name = strdup(e->name);
	c->v[c->n].ino = n->ino;
	c->v[c->n].mode = n->type == DFS_N_DIR ? S_IFDIR : n->type == DFS_N_LINK ? S_IFLNK :
			  (n->type == DFS_N_SCRATCH && n->link) ? S_IFLNK : S_IFREG;
	c->n++;
	return 0;
}

int dfs_tree_entries(struct dfs_tree *t, struct dfs_node *dir, struct dfs_dirent **out,
		     size_t *count)
{
	struct collect c = { .t = t };

	if (dir->type != DFS_N_DIR)
		return -ENOTDIR;
	tree_lock_for(t, dir);
	list_dir(t, dir, collect_fn, &c);
	tree_unlock_both(t);
	if (c.err) {
		dfs_tree_entries_free(c.v, c.n);
		return c.err;
	}
	*out = c.v;
	*count = c.n;
	return 0;
}

void dfs_tree_entries_free(struct dfs_dirent *e, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(e[i].name);
	free(e);
}

/* ---- paths, for the log ---- */

void dfs_tree_path(struct dfs_tree *t, struct dfs_node *n, char *out, size_t outsz)
{
	const char *kind = n->has_obj ? dfs_kind_dir(n->kind) : ".deployfs";
	const char *file = n->prop ? n->prop : n->attr ? n->attr->name : n->name ? n->name : "?";

	snprintf(out, outsz, "%s/%s%s/%s", kind, n->oid ? n->oid : "",
		 n->prop ? "/properties" : "", file);
}

/* ---- change detection ---- */

struct changed {
	fuse_ino_t *v;
	size_t n, cap;
};

/* Model lock and tree mutex held. */
static void check_key(struct dfs_tree *t, const char *key, struct changed *c)
{
	struct dfs_node *n = dfs_map_get(t->bykey, key);
	uint64_t h;

	if (!n || n->type != DFS_N_VALUE || !n->nlookup)
		return;   /* not a value, or the kernel holds no inode for it */
	/* the same cached hash an open uses: rendered once per object change */
	if (hash_locked(t, n, &h) == 0 && h == __atomic_load_n(&n->seen_hash, __ATOMIC_RELAXED))
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		fuse_ino_t *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = n->ino;
}

static void check_table(struct dfs_tree *t, const struct dfs_file_table *ft, const char *id,
			struct changed *c)
{
	char dir[DFS_NODE_KEY_MAX], key[DFS_NODE_KEY_MAX];

	if (dfs_node_key(dir, sizeof(dir), ft->prefix, id, NULL) < 0)
		return;
	for (const struct dfs_attr *a = ft->attrs; a->name; a++)
		if (dfs_node_key(key, sizeof(key), dir, NULL, a->name) == 0)
			check_key(t, key, c);
}

static void check_props(struct dfs_tree *t, const char *id, const json_t *doc, struct changed *c)
{
	const char *k;
	json_t *v;
	char dir[DFS_NODE_KEY_MAX], key[DFS_NODE_KEY_MAX];

	if (!doc || dfs_node_key(dir, sizeof(dir), "p", id, NULL) < 0)
		return;
	json_object_foreach((json_t *)doc, k, v)
		if (dfs_node_key(key, sizeof(key), dir, NULL, k) == 0)
			check_key(t, key, c);
}

void dfs_tree_changed_nodes(struct dfs_tree *t, enum dfs_kind k, const char *id,
			    const json_t *old, const json_t *new_,
			    void (*fn)(void *arg, struct dfs_node *n), void *arg)
{
	const struct dfs_kind_desc *kd = dfs_kind_desc(k);
	struct changed c = { 0 };

	tree_lock_both(t);
	for (const struct dfs_file_table *ft = kd->tables; ft->attrs; ft++)
		check_table(t, ft, id, &c);
	if (kd->properties) {
		check_props(t, id, old, &c);
		check_props(t, id, new_, &c);
	}
	tree_unlock_both(t);
	/* no lock held while the caller talks to the kernel */
	for (size_t i = 0; i < c.n; i++) {
		struct dfs_node *n = dfs_tree_get(t, c.v[i]);

		if (n)
			fn(arg, n);
	}
	free(c.v);
}

/* ---- names a change elsewhere took away ---- */

struct stale {
	fuse_ino_t parent;
	char *name;
};

struct stale_list {
	struct stale *v;
	size_t n, cap;
};

/* Both locks held. Add to out every node the kernel knows as a child of
 * the directory with node key dirkey whose name there no longer leads to
 * it. Reads the directory's index by parent, and prunes from it the
 * nodes that left it (retired, or given another parent). */
static void stale_in(struct dfs_tree *t, const char *dirkey, struct stale_list *out)
{
	struct dfs_node *p = dfs_map_get(t->bykey, dirkey);
	size_t kept = 0;

	if (!p || p->type != DFS_N_DIR)
		return;
	for (size_t i = 0; i < p->nkids; i++) {
		fuse_ino_t ino = p->kids[i];
		struct dfs_node *n = ino < t->nino ? t->byino[ino] : NULL;

		if (!n || n->indexed_parent != p->ino)
			continue;   /* pruned */
		p->kids[kept++] = ino;
		if (n->parent != p->ino || !n->nlookup || !n->key || n->pending || !n->name)
			continue;
		if (tree_find_child(t, p, n->name) == n)
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 16;
			struct stale *v = realloc(out->v, cap * sizeof(*v));

			if (!v)
				continue;
			out->v = v;
			out->cap = cap;
		}
		out->v[out->n].parent = n->parent;
		out->v[out->n].name = strdup(n->name);
		out->n++;
	}
	p->nkids = kept;
}

/* Both locks held. stale_in for the directory listing objects of kind k
 * in environment env_id (NULL: its top-level folder). */
static void stale_in_container(struct dfs_tree *t, const struct dfs_kind_desc *kd,
			       const char *env_id, struct stale_list *out)
{
	const struct dfs_dir_type *dt = dfs_dir_type(kd->container);
	char key[DFS_NODE_KEY_MAX];
	const char *prefix = NULL;

	/* the container's key: a top-level folder's, or its environment's
	 * subdirectory's ("A:<env id>") */
	if (!kd->parent_is_env) {
		for (const struct dfs_subdir *sd = dfs_dir_type(DFS_D_ROOT)->subdirs; sd->name; sd++)
			if (sd->type == dt->type)
				prefix = sd->prefix;
	} else {
		for (const struct dfs_subdir *sd = dfs_dir_type(DFS_D_ENV)->subdirs; sd->name; sd++)
			if (sd->type == dt->type)
				prefix = sd->prefix;
	}
	if (prefix && dfs_node_key(key, sizeof(key), prefix, env_id, NULL) == 0)
		stale_in(t, key, out);
}

void dfs_tree_stale_entries(struct dfs_tree *t, enum dfs_kind k, const char *id,
			    const json_t *old, const json_t *new_,
			    void (*fn)(void *arg, fuse_ino_t parent, const char *name), void *arg)
{
	const struct dfs_kind_desc *kd = dfs_kind_desc(k);
	struct stale_list l = { 0 };
	char key[DFS_NODE_KEY_MAX];
	int la, lb;
	const char *a = parent_of(k, old, &la), *b = parent_of(k, new_, &lb);

	tree_lock_both(t);
	/* the directory it left and the one it is in (the same one but for a
	 * move); one whose names are ids changes only by a creation or a
	 * deletion */
	if (!kd->named_by_id || !old || !new_) {
		if (la)
			stale_in_container(t, kd, a, &l);
		if (lb && !(la && (a == b || (a && b && strcmp(a, b) == 0))))
			stale_in_container(t, kd, b, &l);
	}
	/* by-name/ follows the images' names */
	if (kd->by_name && (!old || !new_ ||
			    !json_equal(json_object_get(old, "name"), json_object_get(new_, "name"))))
		stale_in(t, "B", &l);
	if (kd->properties && dfs_node_key(key, sizeof(key), "p", id, NULL) == 0)
		stale_in(t, key, &l);
	tree_unlock_both(t);
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].name)
			fn(arg, l.v[i].parent, l.v[i].name);
		free(l.v[i].name);
	}
	free(l.v);
}

/* ---- where an object lives in the tree, for the events stream ---- */

/* Both locks held. The name of object id in a container directory of type
 * dt (whose own object, for apps/, is env_id), through its index. */
static int name_in(struct dfs_tree *t, enum dfs_dtype dt, const char *env_id, const char *id,
		   char *out, size_t outsz)
{
	struct dfs_node dir = { .type = DFS_N_DIR, .dtype = dt };
	struct ent e;

	if (env_id) {
		dir.has_obj = 1;
		dir.kind = DFS_ENV;
		dir.oid = (char *)env_id;
	}
	char key[DFS_NODE_KEY_MAX];

	if (!object_entry(t, &dir, NULL, id, &e, key) || !e.name)
		return 0;
	snprintf(out, outsz, "%s", e.name);
	return 1;
}

void dfs_tree_object_dir(struct dfs_tree *t, enum dfs_kind k, const char *id,
			 const json_t *doc, char *out, size_t outsz)
{
	const struct dfs_kind_desc *kd = dfs_kind_desc(k), *ed = dfs_kind_desc(DFS_ENV);
	const char *sub = "";
	char name[DFS_FILENAME_MAX + 1], env[DFS_FILENAME_MAX + 1];
	int found, listed;
	const char *env_id = parent_of(k, doc, &listed);

	for (const struct dfs_subdir *sd = dfs_dir_type(ed->object)->subdirs; sd && sd->name; sd++)
		if (sd->type == kd->container)
			sub = sd->name;
	tree_lock_both(t);
	found = listed && name_in(t, kd->container, env_id, id, name, sizeof(name));
	if (found && env_id)
		found = name_in(t, ed->container, NULL, env_id, env, sizeof(env));
	tree_unlock_both(t);
	if (!found)   /* gone: the id names it, where no listing can */
		snprintf(out, outsz, "%s/%s", kd->folder, id);
	else if (env_id)
		snprintf(out, outsz, "%s/%s/%s/%s", ed->folder, env, sub, name);
	else
		snprintf(out, outsz, "%s/%s", kd->folder, name);
}
