/* api.c - the apps API backend (see api.h): the state every part shares,
 * lists, reads, and an app's image patch. Registries made by mkdir are in
 * api_registry.c, the poll thread in api_poll.c, the wire in api_http.c.
 *
 * What the backend holds (struct api, api_internal.h), all under a->mu:
 *   objs[k]  id -> struct api_entry: each environment, app and registry as the
 *            API last showed it (registries by the server's id);
 *   drafts   local id -> struct api_draft: registries made by mkdir, in memory
 *            until their url is written, then created on the API; the
 *            object keeps its local id in this mount;
 *   alias    server id -> local id of a created draft, so the poll never
 *            shows it twice;
 *   seq      bumped by every store of ours (a write's answer, a get): an
 *            entry stored after a poll pass began (entry->seq > the pass's
 *            seq0) is newer than what that pass read, and the pass leaves
 *            it alone.
 *
 * Locks, in order: (the model's obj->wlock, held by our callers across
 * patch/remove) -> a->mu -> (the model lock, inside the change callback)
 * -> c->token_lock. a->mu is never held across a network request. It is
 * held across the change callback so that a pass's report and a write's
 * store of the same object come in one order (the model never sees an
 * older version after a newer one); that is safe because the model never
 * calls a backend with its own lock held. stop_mu guards only stop.
 */
#include "api.h"
#include "api_internal.h"
#include "jsonpatch.h"
#include "log.h"
#include "map.h"
#include "storedoc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFETCH_NS 1000000000LL   /* a cached app older than this is fetched
				   * again before a write (README, Apps API) */

struct api *api_of(struct dfs_backend *b)
{
	return (struct api *)b;
}

void api_entry_free(struct api_entry *e)
{
	if (!e)
		return;
	json_decref(e->doc);
	free(e->env);
	free(e->company);
	free(e);
}

void api_draft_free(struct api_draft *d)
{
	if (!d)
		return;
	json_decref(d->doc);   /* holds credentials: freed, never logged */
	free(d->company);
	free(d->server_id);
	free(d);
}

/* a->mu held. The id the mount knows a registry by. */
static const char *local_id(struct api *a, enum dfs_kind k, const char *id)
{
	const char *l = k == DFS_REGISTRY ? dfs_map_get(a->alias, id) : NULL;

	return l ? l : id;
}

/* a->mu held. Store doc (new reference taken) as object id of kind k. */
int api_store(struct api *a, enum dfs_kind k, const char *id, json_t *doc, const char *env,
		 const char *company)
{
	struct api_entry *e = dfs_map_get(a->objs[k], id);

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || dfs_map_put(a->objs[k], id, e) < 0) {
			free(e);
			return -ENOMEM;
		}
	}
	json_decref(e->doc);
	e->doc = json_incref(doc);
	if (env && (!e->env || strcmp(e->env, env))) {
		free(e->env);
		e->env = strdup(env);
	}
	if (company && (!e->company || strcmp(e->company, company))) {
		free(e->company);
		e->company = strdup(company);
	}
	e->fetched_ns = dfs_now_ns();
	e->seq = ++a->seq;
	return 0;
}

/* a->mu held. Tell the model (when it listens). */
void api_report(struct api *a, enum dfs_kind k, const char *id, const json_t *doc)
{
	if (a->cb)
		a->cb(a->cb_arg, k, local_id(a, k, id), doc);
}

/* The object is gone on the API (404): forget it and tell the model, so
 * its directory goes. */
void api_gone(struct api *a, enum dfs_kind k, const char *id)
{
	pthread_mutex_lock(&a->mu);
	api_entry_free(dfs_map_del(a->objs[k], id));
	api_report(a, k, id, NULL);
	pthread_mutex_unlock(&a->mu);
}

const char *api_str(const json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

/* A document from the API, checked before it is served: an object with a
 * usable id (want_id when given) that passes storedoc.h. */
int api_check_doc(enum dfs_kind k, const json_t *doc, const char *want_id,
		     struct dfs_error *err)
{
	char shown[80];
	struct dfs_error e = { 0 };
	const char *id = api_str(doc, "id");

	if (!json_is_object(doc))
		return dfs_error_set(err, EIO, "apps API: %s: an entry is not a JSON object",
				     dfs_kind_dir(k));
	if (!id || !dfs_storedoc_id_ok(id)) {
		dfs_api_sanitise(id ? id : "", shown, sizeof(shown));
		return dfs_error_set(err, EIO, "apps API: %s: \"%s\" is not a usable id",
				     dfs_kind_dir(k), shown);
	}
	if (want_id && strcmp(id, want_id))
		return dfs_error_set(err, EIO, "apps API: %s/%s: the answer is another object",
				     dfs_kind_dir(k), want_id);
	if (dfs_storedoc_check(k, doc, &e) < 0)
		return dfs_error_set(err, EIO, "apps API: %s/%s: %s", dfs_kind_dir(k), id, e.msg);
	return 0;
}

int api_hidden(const json_t *doc)
{
	return json_is_true(json_object_get(doc, "isDeleted"));
}

/* The good, live entries of a list; bad ones are logged and skipped. An
 * app must be in the environment whose list holds it. */
static json_t *keep_good(enum dfs_kind k, json_t *items, const char *env)
{
	json_t *out = json_array(), *doc;
	size_t i;

	json_array_foreach(items, i, doc) {
		struct dfs_error e = { 0 };
		const char *ref;

		if (api_check_doc(k, doc, NULL, &e) < 0) {
			log_warnx("%s; skipped", e.msg);
			continue;
		}
		if (api_hidden(doc))
			continue;
		if (env) {
			ref = api_str(doc, "envIdRef");
			if (ref && strcmp(ref, env)) {
				log_warnx("apps API: app %s is listed in environment %s but names "
					  "%s; skipped", api_str(doc, "id"), env, ref);
				continue;
			}
			if (!ref) {
				doc = json_deep_copy(doc);
				json_object_set_new(doc, "envIdRef", json_string(env));
				json_array_append_new(out, doc);
				continue;
			}
		}
		json_array_append(out, doc);
	}
	return out;
}

int api_fetch_envs(struct api *a, json_t **out, struct dfs_error *err)
{
	json_t *items;
	int ret = dfs_api_get_list(&a->cl, "/environments", &items,
				   dfs_deadline_ns(a->timeout), err);

	if (ret < 0)
		return ret;
	*out = keep_good(DFS_ENV, items, NULL);
	json_decref(items);
	return 0;
}

int api_fetch_apps(struct api *a, const char *env, json_t **out, struct dfs_error *err)
{
	char seg[DFS_API_SEG_MAX], path[DFS_API_SEG_MAX + 32];
	json_t *items;
	int ret;

	dfs_api_segment(env, seg, sizeof(seg));
	snprintf(path, sizeof(path), "/environments/%s/app", seg);
	ret = dfs_api_get_list(&a->cl, path, &items, dfs_deadline_ns(a->timeout), err);
	if (ret < 0)
		return ret;
	*out = keep_good(DFS_APP, items, env);
	json_decref(items);
	return 0;
}

/* GET one object; *out a checked new reference. -ENOENT also when it is
 * marked deleted. */
static int fetch_one(struct api *a, enum dfs_kind k, const char *path, const char *id,
		     json_t **out, int64_t deadline_ns, struct dfs_error *err)
{
	json_t *doc = NULL;
	int ret = dfs_api_call(&a->cl, "GET", path, NULL, NULL, &doc, NULL, NULL, deadline_ns,
			       err);

	if (ret < 0)
		return ret;
	ret = api_check_doc(k, doc, id, err);
	if (ret == 0 && api_hidden(doc))
		ret = dfs_error_set(err, ENOENT, "apps API: %s/%s is deleted", dfs_kind_dir(k), id);
	if (ret < 0) {
		json_decref(doc);
		return ret;
	}
	*out = doc;
	return 0;
}

static int fetch_app(struct api *a, const char *env, const char *id, json_t **out,
		     int64_t deadline_ns, struct dfs_error *err)
{
	char s1[DFS_API_SEG_MAX], s2[DFS_API_SEG_MAX], path[2 * DFS_API_SEG_MAX + 32];
	const char *ref;
	int ret;

	dfs_api_segment(env, s1, sizeof(s1));
	dfs_api_segment(id, s2, sizeof(s2));
	snprintf(path, sizeof(path), "/environments/%s/app/%s", s1, s2);
	ret = fetch_one(a, DFS_APP, path, id, out, deadline_ns, err);
	if (ret == 0 && (ref = api_str(*out, "envIdRef")) && strcmp(ref, env)) {
		json_decref(*out);
		return dfs_error_set(err, EIO, "apps API: app %s now names environment %s", id,
				     ref);
	}
	if (ret == 0 && !api_str(*out, "envIdRef"))
		json_object_set_new(*out, "envIdRef", json_string(env));
	return ret;
}

static int fetch_registry(struct api *a, const char *company, const char *id, json_t **out,
			  int64_t deadline_ns, struct dfs_error *err)
{
	char s1[DFS_API_SEG_MAX], s2[DFS_API_SEG_MAX], path[2 * DFS_API_SEG_MAX + 32];

	if (dfs_api_segment(company, s1, sizeof(s1)) < 0)
		return dfs_error_set(err, EIO, "apps API: a company id over %d bytes",
				     DFS_STOREDOC_ID_MAX);
	dfs_api_segment(id, s2, sizeof(s2));
	snprintf(path, sizeof(path), "/%s/container-registries/%s", s1, s2);
	return fetch_one(a, DFS_REGISTRY, path, id, out, deadline_ns, err);
}

/* a->mu held. The company registries are created in: company=, else the
 * one every environment names. NULL with err (EINVAL) otherwise. */
const char *api_company_of(struct api *a, struct dfs_error *err)
{
	const char *found = NULL, *c;
	struct api_entry *e;
	size_t pos = 0;

	if (a->company)
		return a->company;
	while ((e = dfs_map_next(a->objs[DFS_ENV], &pos, NULL))) {
		c = e->doc ? api_str(e->doc, "companyIdRef") : NULL;
		if (!c)
			continue;
		if (found && strcmp(found, c)) {
			dfs_error_set(err, EINVAL, "apps API: the environments belong to several "
				      "companies (%.64s, %.64s): mount with -o company=ID", found, c);
			return NULL;
		}
		found = c;
	}
	if (!found)
		dfs_error_set(err, EINVAL, "apps API: no environment names its company "
			      "(companyIdRef): mount with -o company=ID");
	return found;
}

/* ---------------------------------------------------------------- list */

static json_t *docs_of(struct api *a, enum dfs_kind k)
{
	json_t *out = json_array();
	struct api_entry *e;
	const char *id;
	size_t pos = 0;

	while ((e = dfs_map_next(a->objs[k], &pos, &id))) {
		json_t *doc = e->doc;

		if (!doc)
			continue;
		if (k == DFS_REGISTRY && dfs_map_get(a->alias, id))
			continue;   /* shown as its draft's local id, below */
		json_array_append(out, doc);
	}
	return out;
}

static int list_envs(struct api *a, struct dfs_error *err)
{
	json_t *envs, *doc;
	size_t i;
	int ret = api_fetch_envs(a, &envs, err);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&a->mu);
	json_array_foreach(envs, i, doc)
		api_store(a, DFS_ENV, api_str(doc, "id"), doc, NULL, NULL);
	a->envs_loaded = 1;
	pthread_mutex_unlock(&a->mu);
	json_decref(envs);
	return 0;
}

static int list_apps(struct api *a, struct dfs_error *err)
{
	json_t *envs, *env;
	size_t i;
	int ret = 0;

	if (!a->envs_loaded && (ret = list_envs(a, err)) < 0)
		return ret;
	pthread_mutex_lock(&a->mu);
	envs = docs_of(a, DFS_ENV);
	pthread_mutex_unlock(&a->mu);
	json_array_foreach(envs, i, env) {
		const char *eid = api_str(env, "id");
		json_t *apps, *doc;
		size_t j;

		ret = api_fetch_apps(a, eid, &apps, err);
		if (ret < 0)
			break;
		pthread_mutex_lock(&a->mu);
		json_array_foreach(apps, j, doc)
			api_store(a, DFS_APP, api_str(doc, "id"), doc, eid, NULL);
		pthread_mutex_unlock(&a->mu);
		json_decref(apps);
	}
	json_decref(envs);
	if (ret == 0)
		a->apps_loaded = 1;
	return ret;
}

/* Registries the apps name and we have not asked for yet: one GET each
 * (the API lists none). A registry that is missing or forbidden is
 * remembered as missing and logged; report: tell the model. */
int api_learn_registries(struct api *a, int report_new, struct dfs_error *err)
{
	json_t *want = json_array(), *w;
	struct api_entry *e;
	size_t pos = 0, i;
	int ret = 0;

	pthread_mutex_lock(&a->mu);
	while ((e = dfs_map_next(a->objs[DFS_APP], &pos, NULL))) {
		const char *rid = json_string_value(jsonpointer_get(e->doc,
						"/source/containerRegistryConfigIdRef"));
		const char *company = api_str(e->doc, "companyIdRef");
		struct dfs_error ce = { 0 };

		if (!rid || !*rid || dfs_map_get(a->objs[DFS_REGISTRY], rid) ||
		    dfs_map_get(a->drafts, rid))
			continue;
		if (!company)
			company = api_company_of(a, &ce);
		if (!company) {
			log_warnx("app %s: registry %s: %s", api_str(e->doc, "id"), rid, ce.msg);
			continue;
		}
		json_array_append_new(want, json_pack("[s,s]", rid, company));
	}
	pthread_mutex_unlock(&a->mu);
	json_array_foreach(want, i, w) {
		const char *rid = json_string_value(json_array_get(w, 0));
		const char *company = json_string_value(json_array_get(w, 1));
		struct dfs_error e2 = { 0 };
		json_t *doc = NULL;

		ret = fetch_registry(a, company, rid, &doc, dfs_deadline_ns(a->timeout), &e2);
		if (ret < 0 && ret != -ENOENT && ret != -EPERM && ret != -EIO) {
			if (err)
				*err = e2;
			break;
		}
		if (ret < 0)
			log_warnx("registry %s: %s; its apps' images are checked without it", rid,
				  e2.msg);
		ret = 0;
		pthread_mutex_lock(&a->mu);
		if (!dfs_map_get(a->objs[DFS_REGISTRY], rid)) {
			api_store(a, DFS_REGISTRY, rid, doc, NULL, company);
			if (doc && report_new)
				api_report(a, DFS_REGISTRY, rid, doc);
		}
		pthread_mutex_unlock(&a->mu);
		json_decref(doc);
	}
	json_decref(want);
	return ret;
}

static int api_list(struct dfs_backend *b, enum dfs_kind k, json_t **out, int64_t deadline_ns,
		    struct dfs_error *err)
{
	struct api *a = api_of(b);
	int ret = 0;

	switch (k) {
	case DFS_ENV:
		ret = list_envs(a, err);
		break;
	case DFS_APP:
		ret = list_apps(a, err);
		break;
	case DFS_REGISTRY:
		if (!a->apps_loaded)
			ret = list_apps(a, err);
		if (ret == 0)
			ret = api_learn_registries(a, 0, err);
		break;
	default:
		return dfs_error_set(err, ENOSYS, "the apps API serves no %s", dfs_kind_dir(k));
	}
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&a->mu);
	*out = docs_of(a, k);
	if (k == DFS_REGISTRY) {
		/* Drafts not created yet. (A created one is known to the model
		 * by its local id, which a list, keyed by "id", cannot say;
		 * lists run at mount, before any draft exists.) */
		size_t pos = 0;
		struct api_draft *d;

		while ((d = dfs_map_next(a->drafts, &pos, NULL)))
			if (!d->server_id)
				json_array_append(*out, d->doc);
	}
	pthread_mutex_unlock(&a->mu);
	return 0;
}

/* ----------------------------------------------------------------- get */

static int api_get(struct dfs_backend *b, enum dfs_kind k, const char *id, json_t **out,
		   int64_t deadline_ns, struct dfs_error *err)
{
	struct api *a = api_of(b);
	char seg[DFS_API_SEG_MAX], path[DFS_API_SEG_MAX + 32], *env = NULL, *company = NULL, *sid = NULL;
	struct api_entry *e;
	struct api_draft *d;
	json_t *doc = NULL;
	int ret;

	if (!dfs_storedoc_id_ok(id))
		return dfs_error_set(err, EINVAL, "object id \"%.64s\" is not usable", id);
	pthread_mutex_lock(&a->mu);
	if (k == DFS_REGISTRY && (d = dfs_map_get(a->drafts, id))) {
		if (!d->server_id) {
			*out = json_incref(d->doc);
			pthread_mutex_unlock(&a->mu);
			return 0;
		}
		sid = strdup(d->server_id);
	}
	e = dfs_map_get(a->objs[k], sid ? sid : id);
	if (e && e->env)
		env = strdup(e->env);
	if (e && e->company)
		company = strdup(e->company);
	pthread_mutex_unlock(&a->mu);

	switch (k) {
	case DFS_ENV:
		dfs_api_segment(id, seg, sizeof(seg));
		snprintf(path, sizeof(path), "/environments/%s", seg);
		ret = fetch_one(a, k, path, id, &doc, deadline_ns, err);
		break;
	case DFS_APP:
		ret = env ? fetch_app(a, env, id, &doc, deadline_ns, err) :
			    dfs_error_set(err, ENOENT, "apps API: app %s is in no known environment",
					  id);
		break;
	case DFS_REGISTRY:
		ret = company ? fetch_registry(a, company, sid ? sid : id, &doc, deadline_ns, err) :
				dfs_error_set(err, ENOENT, "apps API: no app names registry %s", id);
		break;
	default:
		ret = dfs_error_set(err, ENOSYS, "the apps API serves no %s", dfs_kind_dir(k));
	}
	if (ret == -ENOENT && e) {
		api_gone(a, k, sid ? sid : id);
	} else if (ret == 0) {
		pthread_mutex_lock(&a->mu);
		api_store(a, k, sid ? sid : id, doc, env, company);
		pthread_mutex_unlock(&a->mu);
		*out = doc;
	}
	free(env);
	free(company);
	free(sid);
	return ret;
}

/* --------------------------------------------------------------- patch */

static int patch_app(struct api *a, const char *id, const json_t *patch, json_t **out,
		     int64_t deadline_ns, struct dfs_error *err)
{
	char s1[DFS_API_SEG_MAX], s2[DFS_API_SEG_MAX], path[2 * DFS_API_SEG_MAX + 32], *env = NULL;
	json_t *doc = NULL, *body = NULL, *after = NULL;
	const char *reg;
	struct api_entry *e;
	int64_t age = 0;
	int ret;

	pthread_mutex_lock(&a->mu);
	e = dfs_map_get(a->objs[DFS_APP], id);
	if (e && e->doc && e->env) {
		doc = json_incref(e->doc);
		env = strdup(e->env);
		age = dfs_now_ns() - e->fetched_ns;
	}
	pthread_mutex_unlock(&a->mu);
	if (!doc || !env) {
		json_decref(doc);
		free(env);
		return dfs_error_set(err, ENOENT, "apps API: app %s is gone", id);
	}
	/* the values filled in must be current: never send back an old one */
	if (age > REFETCH_NS) {
		json_t *fresh = NULL;

		ret = fetch_app(a, env, id, &fresh, deadline_ns, err);
		if (ret == -ENOENT)
			api_gone(a, DFS_APP, id);
		if (ret < 0)
			goto out;
		json_decref(doc);
		doc = fresh;
		pthread_mutex_lock(&a->mu);
		api_store(a, DFS_APP, id, doc, env, NULL);
		pthread_mutex_unlock(&a->mu);
	}
	ret = dfs_api_patch_body(doc, patch, &body, err);
	if (ret < 0)
		goto out;
	/* a registry made in this mount is known by its local id */
	reg = api_str(body, "containerRegistryId");
	if (reg) {
		struct api_draft *d;
		int draft;

		pthread_mutex_lock(&a->mu);
		d = dfs_map_get(a->drafts, reg);
		draft = d && !d->server_id;
		if (d && d->server_id)
			json_object_set_new(body, "containerRegistryId", json_string(d->server_id));
		pthread_mutex_unlock(&a->mu);
		if (draft) {
			ret = dfs_error_set(err, EINVAL, "registry %s is a draft: write its url to "
					    "create it on the apps API first", reg);
			goto out;
		}
	}
	dfs_api_segment(env, s1, sizeof(s1));
	dfs_api_segment(id, s2, sizeof(s2));
	snprintf(path, sizeof(path), "/environments/%s/app/%s/image", s1, s2);
	ret = dfs_api_call(&a->cl, "PATCH", path, NULL, body, &after, NULL, NULL, deadline_ns, err);
	if (ret == -ENOENT)
		api_gone(a, DFS_APP, id);
	if (ret < 0)
		goto out;
	ret = api_check_doc(DFS_APP, after, id, err);
	if (ret < 0)
		goto out;
	if (!api_str(after, "envIdRef"))
		json_object_set_new(after, "envIdRef", json_string(env));
	pthread_mutex_lock(&a->mu);
	api_store(a, DFS_APP, id, after, env, NULL);
	pthread_mutex_unlock(&a->mu);
	*out = after;
	after = NULL;
out:
	json_decref(after);
	json_decref(body);
	json_decref(doc);
	free(env);
	return ret;
}

static int api_patch(struct dfs_backend *b, enum dfs_kind k, const char *id, const json_t *patch,
		     json_t **out, int64_t deadline_ns, struct dfs_error *err)
{
	if (!json_is_array(patch))
		return dfs_error_set(err, EINVAL, "a patch is a JSON array");
	if (k == DFS_APP)
		return patch_app(api_of(b), id, patch, out, deadline_ns, err);
	if (k == DFS_REGISTRY)
		return api_patch_registry(api_of(b), id, patch, out, deadline_ns, err);
	return dfs_error_set(err, EPERM, "apps API: %s cannot be changed (the API has no "
			     "endpoint for it)", dfs_kind_dir(k));
}


static void free_map(struct dfs_map *m, void (*fn)(void *))
{
	size_t pos = 0;
	void *v;

	if (!m)
		return;
	while ((v = dfs_map_next(m, &pos, NULL)))
		fn(v);
	dfs_map_free(m);
}

static void entry_free_v(void *v) { api_entry_free(v); }
static void draft_free_v(void *v) { api_draft_free(v); }

static void api_free(struct dfs_backend *b)
{
	struct api *a = api_of(b);

	if (!a)
		return;
	if (a->watching) {
		pthread_mutex_lock(&a->stop_mu);
		a->stop = 1;
		pthread_cond_signal(&a->stop_cv);
		pthread_mutex_unlock(&a->stop_mu);
		/* a request in flight ends at its deadline, or at once after
		 * dfs_cancel_all() (a signal) */
		pthread_join(a->thread, NULL);
	}
	for (int k = 0; k < DFS_KIND_COUNT; k++)
		free_map(a->objs[k], entry_free_v);
	free_map(a->drafts, draft_free_v);
	free_map(a->alias, free);
	dfs_api_client_destroy(&a->cl);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->stop_mu);
	pthread_cond_destroy(&a->stop_cv);
	free(a->company);
	free(a);
}

static const struct dfs_backend_ops api_ops = {
	.name = "apps API",
	.origin = "remote",
	.list = api_list,
	.get = api_get,
	.patch = api_patch,
	.create = api_create,
	.remove = api_remove,
	.watch = api_watch,
	.free = api_free,
};

struct dfs_backend *dfs_api_new(const struct dfs_api_opts *o, struct dfs_error *err)
{
	struct api *a = calloc(1, sizeof(*a));
	pthread_condattr_t ca;

	if (!a) {
		dfs_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	a->base.ops = &api_ops;
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->stop_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->stop_cv, &ca);
	pthread_condattr_destroy(&ca);
	a->timeout = o->timeout > 0 ? o->timeout : 10;
	a->poll = o->poll > 0 ? o->poll : 10;
	for (int k = 0; k < DFS_KIND_COUNT; k++)
		if (!(a->objs[k] = dfs_map_new()))
			goto nomem;
	if (!(a->drafts = dfs_map_new()) || !(a->alias = dfs_map_new()))
		goto nomem;
	if (o->company && !(a->company = strdup(o->company)))
		goto nomem;
	if (dfs_api_client_init(&a->cl, o->url, o->token_file, o->cacert, a->timeout, err) < 0)
		goto fail;
	return &a->base;
nomem:
	dfs_error_set(err, ENOMEM, "out of memory");
fail:
	api_free(&a->base);
	return NULL;
}
