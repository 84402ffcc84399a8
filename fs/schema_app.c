/* schema_app.c - image, tag, ref and registry: one image change of an app.
 *
 * Each of the four files changes part of (name, tag, registry); the write
 * computes the whole new triple from the app as it is now, parses it by the
 * distribution reference grammar, checks it in its registry, and turns it
 * into one patch of /source (the apps API takes it as one PATCH .../image).
 */
#include "fs.h"
#include "schema.h"
#include "jsonpatch.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_NAME "/source/image/name"
#define P_TAG  "/source/image/tag"
#define P_REG  "/source/containerRegistryConfigIdRef"

char *dfs_show_app_ref(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
		       size_t *len)
{
	const char *name = json_string_value(jsonpointer_get(dfs_obj_doc(o), P_NAME));
	const char *tag = json_string_value(jsonpointer_get(dfs_obj_doc(o), P_TAG));
	char *out;
	int n;

	if (!name)
		return dfs_render_value(NULL, len);
	n = tag ? asprintf(&out, "%s:%s\n", name, tag) : asprintf(&out, "%s\n", name);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return out;
}

/* The registry object named by value: an id, or a registry's name. Model
 * lock held. */
static struct dfs_obj *find_registry(struct dfs_model *m, const char *value)
{
	struct dfs_obj *o = dfs_model_find(m, DFS_REGISTRY, value), **all;
	size_t n;

	if (o)
		return o;
	all = dfs_model_list(m, DFS_REGISTRY, &n);
	for (size_t i = 0; i < n && !o; i++) {
		const char *name = all[i]->name;

		if (name && strcmp(name, value) == 0)
			o = all[i];
	}
	free(all);
	return o;
}

static int append_set(json_t *patch, const json_t *doc, const char *path, const char *value)
{
	if (!value)
		return jsonpointer_get(doc, path) ? jsonpatch_append(patch, "remove", path, NULL) : 0;
	return jsonpatch_append(patch, "add", path, json_string(value));
}

int dfs_store_app_image(struct dfs_write *w, const char *value, struct dfs_error *err)
{
	const char *what = w->attr->name;
	struct dfs_model *m = w->fs->model;
	struct dfs_reference ref;
	char name[DFS_NAME_MAX + 1], tag[DFS_TAG_MAX + 1], full[600];
	char reg[256] = "";
	const char *cur;
	json_t *regdoc = NULL;
	int has_reg, ret;
	int is_ref = strcmp(what, "ref") == 0;
	int is_name = is_ref || strcmp(what, "image") == 0;
	int is_tag = is_ref || strcmp(what, "tag") == 0;
	int is_reg = strcmp(what, "registry") == 0;

	snprintf(name, sizeof(name), "%s", json_string_value(jsonpointer_get(w->doc, P_NAME)) ?: "");
	snprintf(tag, sizeof(tag), "%s", json_string_value(jsonpointer_get(w->doc, P_TAG)) ?: "latest");
	cur = json_string_value(jsonpointer_get(w->doc, P_REG));
	has_reg = cur && *cur;
	if (has_reg)
		snprintf(reg, sizeof(reg), "%s", cur);

	if (strcmp(what, "image") == 0) {
		ret = dfs_reference_parse_name(value, &ref, err);
		if (ret < 0) {
			/* say what to do when a whole reference was written here */
			struct dfs_reference whole;

			if (dfs_reference_parse(value, &whole, NULL) == 0 &&
			    (whole.tag[0] || whole.digest[0]))
				return dfs_error_set(err, EINVAL,
						     "image \"%s\": image takes a name only "
						     "(nginx, ghcr.io/org/repo); write ref for name:tag",
						     value);
			return ret;
		}
		snprintf(name, sizeof(name), "%s", value);
	} else if (strcmp(what, "tag") == 0) {
		ret = dfs_tag_check(value, err);
		if (ret < 0)
			return ret;
		snprintf(tag, sizeof(tag), "%s", value);
	} else if (strcmp(what, "ref") == 0) {
		ret = dfs_reference_parse(value, &ref, err);
		if (ret < 0)
			return ret;
		if (ref.digest[0] && !ref.tag[0])
			return dfs_error_set(err, EINVAL,
					     "ref \"%s\": a digest-only reference cannot be stored "
					     "(apps store a name and a tag); write name:tag@digest "
					     "to pin the tag to that digest", value);
		snprintf(name, sizeof(name), "%s", ref.name);
		snprintf(tag, sizeof(tag), "%s", ref.tag[0] ? ref.tag : "latest");
	} else {   /* registry: an id, a name, or empty for a public image */
		has_reg = 0;
		if (*value) {
			struct dfs_obj *r;

			dfs_model_rdlock(m);
			r = find_registry(m, value);
			if (r)
				snprintf(reg, sizeof(reg), "%s", r->id);
			dfs_model_unlock(m);
			if (!r)
				return dfs_error_set(err, EINVAL,
						     "registry \"%s\": no container registry has "
						     "that id or name (see registries/), or write "
						     "an empty value for a public image", value);
			has_reg = 1;
		}
	}
	if (!name[0])
		return dfs_error_set(err, EINVAL, "%s: the app has no image name yet; write ref "
				     "(name:tag) first", what);

	/* The whole reference must hold as one: a tag written alone is checked
	 * together with the current name. */
	if (strcmp(what, "ref") == 0 && ref.digest[0])
		snprintf(full, sizeof(full), "%s:%s@%s", name, tag, ref.digest);
	else
		snprintf(full, sizeof(full), "%s:%s", name, tag);
	ret = dfs_reference_parse(full, &ref, err);
	if (ret < 0)
		return ret;

	if (has_reg) {
		struct dfs_obj *r;

		dfs_model_rdlock(m);
		r = dfs_model_find(m, DFS_REGISTRY, reg);
		regdoc = r ? json_incref((json_t *)dfs_obj_doc(r)) : NULL;
		dfs_model_unlock(m);
	}
	ret = dfs_check_image(w->fs, &ref, regdoc, w->deadline_ns, w->digest, err);
	json_decref(regdoc);
	if (ret < 0)
		return ret;

	if (!jsonpointer_get(w->doc, "/source"))
		jsonpatch_append(w->patch, "add", "/source", json_object());
	if (!jsonpointer_get(w->doc, "/source/image"))
		jsonpatch_append(w->patch, "add", "/source/image", json_object());
	/* Patch only what this write changes. The other fields were filled in
	 * from our copy of the app, which another writer (a second daemon on
	 * the same store, a person editing it) may have changed since: sending
	 * them back would silently undo that change. */
	if (((is_name || !jsonpointer_get(w->doc, P_NAME)) &&
	     append_set(w->patch, w->doc, P_NAME, name) < 0) ||
	    ((is_tag || !jsonpointer_get(w->doc, P_TAG)) &&
	     append_set(w->patch, w->doc, P_TAG, tag) < 0) ||
	    (is_reg && append_set(w->patch, w->doc, P_REG, has_reg ? reg : NULL) < 0))
		return dfs_error_set(err, ENOMEM, "out of memory");
	return 0;
}
