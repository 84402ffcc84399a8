/* mkdir.c - objects made by mkdir and deleted by rmdir.
 *
 * The directory types (dirtype.c) say where: registries/ makes and deletes
 * registries; environments/ environments, and an environment's apps/ its
 * apps (README, "Making and deleting objects"). A registry is deleted from
 * the store; an environment or an app is marked deleted (isDeleted, as the
 * apps API does), which hides it, and an environment only when it has no
 * apps left. The apps API documents no way to make or delete either: there
 * they are EPERM, with a log line that says so.
 */
#include "tree_int.h"
#include "dirtype.h"
#include "fs.h"
#include "log.h"
#include "notify.h"
#include "shutdown.h"
#include "validate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An entry name already there: EEXIST (the lookup's reference dropped). */
static int taken(struct dfs_tree *t, struct dfs_node *dir, const char *name)
{
	struct dfs_node *n;

	if (dfs_tree_lookup(t, dir, name, &n) < 0)
		return 0;
	dfs_tree_forget(t, n->ino, 1);
	return 1;
}

/* The mount path of dir: "environments", "environments/prod/apps". */
static void dir_path(struct dfs_tree *t, struct dfs_node *dir, char *out, size_t outsz)
{
	const struct dfs_dir_type *dt = dfs_dir_type(dir->dtype);
	char obj[512];

	if (!dt->has_obj) {
		snprintf(out, outsz, "%s", dt->path);
		return;
	}
	/* a subdirectory of an object's (an environment's apps/) */
	dfs_tree_object_dir(t, dir->kind, dir->oid, NULL, obj, sizeof(obj));
	snprintf(out, outsz, "%s/%s", obj, dir->name ? dir->name : "?");
}

/* The path of name in dir, for log lines: "environments/prod/apps/web". */
static void path_of(struct dfs_tree *t, struct dfs_node *dir, const char *name, char *out,
		    size_t outsz)
{
	char d[700];

	dir_path(t, dir, d, sizeof(d));
	snprintf(out, outsz, "%s/%s", d, name);
}

/* Make an object of kind k from doc, then look up its directory. */
static int make(struct dfs_tree *t, struct dfs_node *dir, const char *name, enum dfs_kind k,
		json_t *doc, struct dfs_node **out)
{
	struct dfs_error err = { 0 };
	char path[1024];
	char *id = NULL;
	int ret;

	path_of(t, dir, name, path, sizeof(path));
	if (!doc)
		return -ENOMEM;
	dfs_busy_enter();
	ret = dfs_model_create(t->fs->model, k, doc, &id, dfs_deadline_ns(t->fs->cfg.timeout),
			       &err);
	dfs_busy_leave();
	json_decref(doc);
	free(id);
	if (ret < 0) {
		log_warnx("mkdir %s: %s", path, err.msg);
		return ret;
	}
	log_info("mkdir %s: made", path);
	return dfs_tree_lookup(t, dir, name, out);
}

/* A name mkdir can give: the grammar of names (no control characters, at
 * most 255 bytes); the directory's name is then the object's own. */
static int name_ok(struct dfs_tree *t, struct dfs_node *dir, const char *name, enum dfs_kind k)
{
	static const char *const label[DFS_KIND_COUNT] = {
		[DFS_ENV] = "environment name", [DFS_APP] = "app name",
		[DFS_REGISTRY] = "registry name", [DFS_IMAGE] = "image name",
	};
	struct dfs_error err = { 0 };
	char path[1024];
	int ret = dfs_check_text(label[k], name, 255, &err);

	if (ret < 0) {
		/* the name failed the check: only the message quotes it safely */
		dir_path(t, dir, path, sizeof(path));
		log_warnx("mkdir in %s/: %s", path, err.msg);
	}
	return ret;
}

/* The object called name in dir, or NULL (model lock not held). */
static struct dfs_obj *child_obj(struct dfs_tree *t, struct dfs_node *dir, const char *name)
{
	struct dfs_node *n;
	struct dfs_obj *o = NULL;

	tree_lock_both(t);
	n = tree_find_child(t, dir, name);
	if (n && n->has_obj)
		o = dfs_model_find(t->fs->model, n->kind, n->oid);
	tree_unlock_both(t);
	return o;
}

/* The remote apps API has no endpoint to make or delete environments and
 * apps: say so before asking it anything. */
static int remote(struct dfs_tree *t, enum dfs_kind k, const char *op, const char *path)
{
	if (strcmp(dfs_model_origin(t->fs->model, k), "remote") != 0)
		return 0;
	log_warnx("%s %s: the apps API has no endpoint to %s %s; do it there", op, path,
		  op[0] == 'm' ? "create" : "delete", dfs_kind_dir(k));
	return -EPERM;
}

/* ---- registries ---- */

int dfs_make_registry(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		      struct dfs_node **out)
{
	int ret;

	if (taken(t, dir, name))
		return -EEXIST;
	ret = name_ok(t, dir, name, DFS_REGISTRY);
	if (ret < 0)
		return ret;
	/* no url yet: url reads empty */
	return make(t, dir, name, DFS_REGISTRY, json_pack("{s:s}", "name", name), out);
}

int dfs_drop_registry(struct dfs_tree *t, struct dfs_node *dir, const char *name)
{
	struct dfs_error err = { 0 };
	struct dfs_obj *o = child_obj(t, dir, name);
	int64_t deadline = dfs_deadline_ns(t->fs->cfg.timeout);
	int ret;

	if (!o)
		return -ENOENT;
	dfs_busy_enter();
	ret = dfs_obj_wlock(o, deadline, &err);
	if (ret == 0) {
		ret = dfs_model_remove(t->fs->model, o, deadline, &err);
		dfs_obj_wunlock(o);
	}
	dfs_busy_leave();
	if (ret < 0)
		log_warnx("rmdir registries/%s: %s", name, err.msg);
	return ret;
}

/* ---- environments and apps ---- */

/* Model lock held. The companyIdRef every environment shares, or NULL. */
static const char *common_company(struct dfs_model *m)
{
	struct dfs_obj **envs;
	const char *company = NULL;
	size_t n;
	int mixed = 0;

	envs = dfs_model_list(m, DFS_ENV, &n);
	for (size_t i = 0; envs && i < n && !mixed; i++) {
		const char *c = json_string_value(json_object_get(dfs_obj_doc(envs[i]),
								  "companyIdRef"));

		if (c && company && strcmp(c, company) != 0)
			mixed = 1;
		else if (c)
			company = c;
	}
	free(envs);
	return mixed ? NULL : company;
}

/* What every mkdir of a kind k checks first: a store that can make it, a
 * name not shown yet, a name of the names' grammar. */
static int may_make(struct dfs_tree *t, struct dfs_node *dir, const char *name, enum dfs_kind k)
{
	char path[1024];
	int ret;

	path_of(t, dir, name, path, sizeof(path));
	ret = remote(t, k, "mkdir", path);
	if (ret < 0)
		return ret;
	if (taken(t, dir, name))
		return -EEXIST;
	return name_ok(t, dir, name, k);
}

int dfs_make_env(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		 struct dfs_node **out)
{
	struct dfs_model *m = t->fs->model;
	const char *company;
	json_t *doc;
	int ret = may_make(t, dir, name, DFS_ENV);

	if (ret < 0)
		return ret;
	doc = json_pack("{s:s, s:b, s:i}", "name", name, "isDeleted", 0, "version", 1);
	dfs_model_rdlock(m);
	company = t->fs->cfg.company ? t->fs->cfg.company : common_company(m);
	if (doc && company)
		json_object_set_new(doc, "companyIdRef", json_string(company));
	dfs_model_unlock(m);
	return make(t, dir, name, DFS_ENV, doc, out);
}

int dfs_make_app(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		 struct dfs_node **out)
{
	struct dfs_model *m = t->fs->model;
	struct dfs_obj *env;
	const char *company = NULL;
	json_t *doc;
	int ret = may_make(t, dir, name, DFS_APP);

	if (ret < 0)
		return ret;
	/* its image comes with the first write of ref (or image and tag) */
	doc = json_pack("{s:s, s:s, s:b, s:i}", "name", name, "envIdRef", dir->oid,
			"isDeleted", 0, "version", 1);
	dfs_model_rdlock(m);
	env = dfs_model_find(m, DFS_ENV, dir->oid);
	if (env)
		company = json_string_value(json_object_get(dfs_obj_doc(env), "companyIdRef"));
	if (doc && company)
		json_object_set_new(doc, "companyIdRef", json_string(company));
	dfs_model_unlock(m);
	if (!env) {
		json_decref(doc);
		return -ENOENT;
	}
	return make(t, dir, name, DFS_APP, doc, out);
}

/* Model lock held. Whether environment env_id has an app not deleted. */
static int has_apps(struct dfs_model *m, const char *env_id)
{
	size_t n;
	struct dfs_obj **apps = dfs_model_children(m, DFS_APP, env_id, &n);
	int any = 0;

	for (size_t i = 0; apps && i < n && !any; i++)
		any = !apps[i]->deleted;
	free(apps);
	return any;
}

/* Mark the object called name in dir deleted: one change, published as
 * a write's is. */
static int mark_deleted(struct dfs_tree *t, struct dfs_node *dir, const char *name,
			enum dfs_kind k)
{
	struct dfs_fs *fs = t->fs;
	struct dfs_error err = { 0 };
	struct dfs_obj *o;
	int64_t deadline = dfs_deadline_ns(fs->cfg.timeout);
	json_t *patch, *old = NULL, *new_ = NULL;
	char path[1024];
	int ret;

	path_of(t, dir, name, path, sizeof(path));
	ret = remote(t, k, "rmdir", path);
	if (ret < 0)
		return ret;
	o = child_obj(t, dir, name);
	if (!o)
		return -ENOENT;
	patch = json_pack("[{s:s, s:s, s:b}]", "op", "add", "path", "/isDeleted", "value", 1);
	if (!patch)
		return -ENOMEM;
	dfs_busy_enter();
	ret = dfs_obj_wlock(o, deadline, &err);
	if (ret == 0) {
		dfs_model_rdlock(fs->model);
		if (k == DFS_ENV && has_apps(fs->model, o->id))
			ret = dfs_error_set(&err, ENOTEMPTY, "it still has apps: rmdir them first");
		dfs_model_unlock(fs->model);
		if (ret == 0)
			ret = dfs_model_commit(fs->model, o, patch, NULL, deadline, &err, &old, &new_);
		if (ret == 0 && new_)
			dfs_on_change(fs, k, o->id, old, new_, "mount");
		dfs_obj_wunlock(o);
	}
	dfs_busy_leave();
	json_decref(patch);
	json_decref(old);
	json_decref(new_);
	if (ret < 0)
		log_warnx("rmdir %s: %s", path, err.msg);
	else
		log_info("rmdir %s: marked deleted", path);
	return ret;
}

int dfs_drop_env(struct dfs_tree *t, struct dfs_node *dir, const char *name)
{
	return mark_deleted(t, dir, name, DFS_ENV);
}

int dfs_drop_app(struct dfs_tree *t, struct dfs_node *dir, const char *name)
{
	return mark_deleted(t, dir, name, DFS_APP);
}

/* ---- the FUSE entry points ---- */

int dfs_tree_mkdir(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		   struct dfs_node **out)
{
	const struct dfs_dir_type *dt = dir->type == DFS_N_DIR ? dfs_dir_type(dir->dtype) : NULL;

	return dt && dt->make ? dt->make(t, dir, name, out) : -EACCES;
}

int dfs_tree_rmdir(struct dfs_tree *t, struct dfs_node *dir, const char *name)
{
	const struct dfs_dir_type *dt = dir->type == DFS_N_DIR ? dfs_dir_type(dir->dtype) : NULL;

	return dt && dt->drop ? dt->drop(t, dir, name) : -EACCES;
}
