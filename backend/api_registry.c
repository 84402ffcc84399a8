/* api_registry.c - registries on the apps API (api.h, api_internal.h).
 *
 * The API has no list of registries, no update and no delete: mkdir makes
 * a draft in memory (a local UUID), its username/password/token stay in
 * memory (never logged), and writing its url sends
 * POST /{companyId}/containerRegistryConfig. The object then keeps its
 * local id in this mount (a->alias maps the server's id to it) and its
 * document is the server's, without credentials. Changing or deleting a
 * created registry is EPERM; removing a draft just drops it.
 */
#include "api_internal.h"
#include "jsonpatch.h"
#include "log.h"
#include "storedoc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* The fields a draft takes; "/name" is its directory's name. */
static int draft_path_ok(const char *p)
{
	return p && (!strcmp(p, "/url") || !strcmp(p, "/username") || !strcmp(p, "/password") ||
		     !strcmp(p, "/token"));
}

/* Create the draft on the API: POST /{companyId}/containerRegistryConfig
 * with its name, url and credentials. *out: the server's object. */
static int create_draft(struct api *a, const char *id, const json_t *draft,
			const char *company, json_t **out, int64_t deadline_ns,
			struct dfs_error *err)
{
	static const char *const keys[] = { "name", "url", "username", "password", "token" };
	char seg[DFS_API_SEG_MAX], path[DFS_API_SEG_MAX + 40];
	json_t *body = json_object(), *created = NULL;
	struct api_draft *d;
	const char *sid;
	long status = 0;
	int ret;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (api_str(draft, keys[i]))
			json_object_set(body, keys[i], json_object_get(draft, keys[i]));
	if (dfs_api_segment(company, seg, sizeof(seg)) < 0) {
		json_decref(body);
		return dfs_error_set(err, EINVAL, "apps API: the company id is too long");
	}
	snprintf(path, sizeof(path), "/%s/containerRegistryConfig", seg);
	ret = dfs_api_call(&a->cl, "POST", path, NULL, body, &created, &status, NULL, deadline_ns,
			   err);
	json_decref(body);
	if (ret < 0)
		return ret;
	ret = api_check_doc(DFS_REGISTRY, created, NULL, err);
	if (ret < 0) {
		json_decref(created);
		return ret;
	}
	sid = api_str(created, "id");
	pthread_mutex_lock(&a->mu);
	d = dfs_map_get(a->drafts, id);
	if (d && !d->server_id && (d->server_id = strdup(sid)) &&
	    dfs_map_put(a->alias, sid, strdup(id)) == 0) {
		/* the credentials were sent; the API never shows them again */
		json_decref(d->doc);
		d->doc = json_pack("{s:s}", "id", id);
		api_store(a, DFS_REGISTRY, sid, created, NULL, company);
	}
	pthread_mutex_unlock(&a->mu);
	log_info("apps API: created container registry %s (%s) as %s", api_str(created, "name"),
		 api_str(created, "url"), sid);
	*out = created;
	return 0;
}

int api_patch_registry(struct api *a, const char *id, const json_t *patch, json_t **out,
			  int64_t deadline_ns, struct dfs_error *err)
{
	json_t *after, *op;
	char *company = NULL;
	struct api_draft *d;
	int sets_url = 0, ret;
	size_t i;

	json_array_foreach(patch, i, op) {
		const char *p = api_str(op, "path"), *what = api_str(op, "op");

		if (!draft_path_ok(p) && !(what && !strcmp(what, "test")))
			return dfs_error_set(err, EPERM, "apps API: a registry takes url, username, "
					     "password and token only");
		if (p && !strcmp(p, "/url") && what && (!strcmp(what, "add") ||
							!strcmp(what, "replace")))
			sets_url = 1;
	}
	pthread_mutex_lock(&a->mu);
	d = dfs_map_get(a->drafts, id);
	if (!d || d->server_id) {
		pthread_mutex_unlock(&a->mu);
		return dfs_error_set(err, EPERM, "apps API: a container registry cannot be changed "
				     "once created (the API has no endpoint for it)");
	}
	after = jsonpatch_apply(d->doc, patch, err);
	if (!after) {
		pthread_mutex_unlock(&a->mu);
		return -(err && err->code ? err->code : EINVAL);
	}
	ret = dfs_storedoc_check(DFS_REGISTRY, after, err);
	if (ret == 0 && sets_url && api_str(after, "url")) {
		/* obj->wlock (our caller) keeps the draft as it is meanwhile */
		company = strdup(d->company);
		pthread_mutex_unlock(&a->mu);
		ret = company ? create_draft(a, id, after, company, out, deadline_ns, err) :
				dfs_error_set(err, ENOMEM, "out of memory");
		free(company);
		json_decref(after);
		return ret;
	}
	if (ret == 0) {
		json_decref(d->doc);
		d->doc = json_incref(after);
		*out = after;
		after = NULL;
	}
	pthread_mutex_unlock(&a->mu);
	json_decref(after);
	return ret;
}

/* ------------------------------------------------------ create, remove */

int api_create(struct dfs_backend *b, enum dfs_kind k, const json_t *doc, json_t **out,
		      int64_t deadline_ns, struct dfs_error *err)
{
	struct api *a = api_of(b);
	const char *name = api_str(doc, "name"), *company;
	struct api_draft *d;
	char id[37];
	int ret = 0;

	if (k != DFS_REGISTRY)
		return dfs_error_set(err, EPERM, "apps API: %s cannot be created here",
				     dfs_kind_dir(k));
	if (!name || json_object_size(doc) != 1)
		return dfs_error_set(err, EINVAL, "a new registry takes a name only");
	d = calloc(1, sizeof(*d));
	if (!d)
		return dfs_error_set(err, ENOMEM, "out of memory");
	dfs_new_uuid(id);
	pthread_mutex_lock(&a->mu);
	company = api_company_of(a, err);
	if (!company) {
		ret = -EINVAL;
		log_warnx("mkdir registries/%s: %s", name, err ? err->msg : "no company");
	} else if (!(d->company = strdup(company)) ||
		   !(d->doc = json_pack("{s:s, s:s}", "id", id, "name", name)) ||
		   dfs_map_put(a->drafts, id, d) < 0) {
		ret = dfs_error_set(err, ENOMEM, "out of memory");
	}
	if (ret == 0)
		*out = json_incref(d->doc);
	pthread_mutex_unlock(&a->mu);
	if (ret < 0)
		api_draft_free(d);
	return ret;
}

int api_remove(struct dfs_backend *b, enum dfs_kind k, const char *id, int64_t deadline_ns,
		      struct dfs_error *err)
{
	struct api *a = api_of(b);
	struct api_draft *d = NULL;

	pthread_mutex_lock(&a->mu);
	if (k == DFS_REGISTRY && (d = dfs_map_get(a->drafts, id)) && !d->server_id)
		dfs_map_del(a->drafts, id);
	else
		d = NULL;
	pthread_mutex_unlock(&a->mu);
	if (d) {
		api_draft_free(d);   /* a draft was never sent: dropping it is all */
		return 0;
	}
	return dfs_error_set(err, EPERM, "apps API: %s cannot be deleted through the apps API "
			     "(it has no endpoint for it)", k == DFS_REGISTRY ?
			     "a container registry" : dfs_kind_dir(k));
}
