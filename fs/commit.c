/* commit.c - a value written to a file becomes one validated change.
 *
 * The whole write path: drop one trailing newline, take the object's write
 * lock, let the attribute's store function validate the value (grammar,
 * Glance's rules, the registry check) and build a JSON Patch, send it to
 * the backend, and record the outcome in the object's error file and the
 * log. A rejected value changes nothing.
 */
#include "tree_int.h"
#include "fs.h"
#include "jsonpatch.h"
#include "log.h"
#include "shutdown.h"
#include "drift.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct dfs_obj *find_obj(struct dfs_tree *t, struct dfs_node *n)
{
	struct dfs_obj *o;

	dfs_model_rdlock(t->fs->model);
	o = n->has_obj ? dfs_model_find(t->fs->model, n->kind, n->oid) : NULL;
	dfs_model_unlock(t->fs->model);
	return o;
}

static void record(struct dfs_tree *t, struct dfs_node *n, struct dfs_obj *o,
		   const struct dfs_error *err)
{
	char path[512];

	dfs_tree_path(t, n, path, sizeof(path));
	log_warnx("%s: %s", path, err->msg);
	if (o)
		dfs_model_set_error(t->fs->model, o, err);
}

void dfs_tree_fail(struct dfs_tree *t, struct dfs_node *n, int code, const char *fmt, ...)
{
	struct dfs_error err = { .code = code };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	record(t, n, find_obj(t, n), &err);
}

/* Validate buf as a value of n and, unless dry, commit it. */
static int run(struct dfs_tree *t, struct dfs_node *n, const char *buf, size_t len, int dry)
{
	struct dfs_fs *fs = t->fs;
	struct dfs_error err = { 0 };
	struct dfs_write w = { .fs = fs, .attr = n->attr, .prop = n->prop };
	struct dfs_obj *o;
	char *value;
	int ret;

	if (n->type != DFS_N_VALUE || !n->attr->store)
		return -EACCES;
	o = find_obj(t, n);
	if (!o)
		return -ENOENT;
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	if (len > DFS_VALUE_MAX) {
		dfs_tree_fail(t, n, EFBIG, "%s: a value holds at most %d bytes",
			      n->prop ? n->prop : n->attr->name, DFS_VALUE_MAX);
		return -EFBIG;
	}
	if (memchr(buf, '\0', len)) {
		dfs_tree_fail(t, n, EINVAL, "%s: the value holds a NUL byte",
			      n->prop ? n->prop : n->attr->name);
		return -EINVAL;
	}
	value = strndup(buf, len);
	w.patch = json_array();
	if (!value || !w.patch) {
		ret = -ENOMEM;
		goto out_free;
	}
	w.deadline_ns = dfs_deadline_ns(fs->cfg.timeout);
	ret = dfs_obj_wlock(o, w.deadline_ns, &err);
	if (ret < 0)
		goto out_record;
	dfs_model_rdlock(fs->model);
	w.obj = o;
	w.doc = o->gone ? NULL : json_incref(o->doc);
	dfs_model_unlock(fs->model);
	if (!w.doc) {
		ret = dfs_error_set(&err, ENOENT, "the object is gone");
		goto out_unlock;
	}
	ret = n->attr->store(&w, value, &err);
	if (dry)
		goto out_doc;
	if (ret == 0 && json_array_size(w.patch) == 0)
		dfs_model_set_error(fs->model, o, NULL);   /* nothing to change: no new version */
	else if (ret == 0)
		ret = dfs_model_patch(fs->model, o, w.patch, w.deadline_ns, &err);
	if (ret == 0 && w.digest[0])
		dfs_model_set_digest(fs->model, o, w.digest);
	if (ret == 0)
		dfs_drift_deployed(fs->drift, o, w.digest);   /* the deployed digest now */
out_doc:
	json_decref((json_t *)w.doc);
out_unlock:
	dfs_obj_wunlock(o);
out_record:
	if (ret < 0) {
		if (!err.code)
			dfs_error_set(&err, -ret, "%s", strerror(-ret));
		record(t, n, o, &err);
	} else if (n->pending && !dry) {
		/* a new property exists now: it is listed from the document */
		char key[600];

		pthread_mutex_lock(&t->mu);
		tree_scratch_key(key, sizeof(key), n->parent, n->name);
		dfs_map_del(t->scratch, key);
		n->pending = 0;
		pthread_mutex_unlock(&t->mu);
	}
out_free:
	json_decref(w.patch);
	free(value);
	return ret;
}

int dfs_tree_commit(struct dfs_tree *t, struct dfs_node *n, const char *buf, size_t len)
{
	int ret;

	dfs_busy_enter();
	ret = run(t, n, buf, len, 0);
	dfs_busy_leave();
	return ret;
}

int dfs_tree_check(struct dfs_tree *t, struct dfs_node *n, const char *buf, size_t len)
{
	int ret;

	dfs_busy_enter();
	ret = run(t, n, buf, len, 1);
	dfs_busy_leave();
	return ret;
}
