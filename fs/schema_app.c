/* schema_app.c - image, tag, ref and registry: one image change of an app.
 *
 * Each of the four files changes part of (name, tag, registry); the write
 * computes the whole new triple from the app as it is now, parses it by the
 * distribution reference grammar, checks it in its registry, and turns it
 * into one patch of /source (the apps API takes it as one PATCH .../image).
 */
#include "schema.h"
#include "write.h"
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

/* The app's image after this write: the current one with the parts the
 * write sets replaced. */
struct image {
	char name[DFS_NAME_MAX + 1];
	char tag[DFS_TAG_MAX + 1];
	char reg[256];
	int has_reg;
	const char *pin;     /* ref's digest: the tag must resolve to it */
	int sets_name, sets_tag, sets_reg;
};

static void current(const json_t *doc, struct image *x)
{
	const char *cur = json_string_value(jsonpointer_get(doc, P_REG));

	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", json_string_value(jsonpointer_get(doc, P_NAME)) ?: "");
	snprintf(x->tag, sizeof(x->tag), "%s", json_string_value(jsonpointer_get(doc, P_TAG)) ?: "latest");
	x->has_reg = cur && *cur;
	if (x->has_reg)
		snprintf(x->reg, sizeof(x->reg), "%s", cur);
}

/* The new image as one reference, checked in its registry, then the patch
 * of what this write changes. */
static int change_image(struct dfs_store_ctx *c, struct image *x, struct dfs_error *err)
{
	struct dfs_reference ref;
	char full[600];
	json_t *regdoc = NULL;
	int ret;

	if (!x->name[0])
		return dfs_error_set(err, EINVAL, "%s: the app has no image name yet; write ref "
				     "(name:tag) first", c->attr->name);
	/* The whole reference must hold as one: a tag written alone is checked
	 * together with the current name. */
	if (x->pin)
		snprintf(full, sizeof(full), "%s:%s@%s", x->name, x->tag, x->pin);
	else
		snprintf(full, sizeof(full), "%s:%s", x->name, x->tag);
	ret = dfs_reference_parse(full, &ref, err);
	if (ret < 0)
		return ret;

	if (x->has_reg) {
		struct dfs_obj *r;

		dfs_model_rdlock(c->model);
		r = dfs_model_find(c->model, DFS_REGISTRY, x->reg);
		regdoc = r ? json_incref((json_t *)dfs_obj_doc(r)) : NULL;
		dfs_model_unlock(c->model);
	}
	ret = dfs_check_image(c->check, &ref, regdoc, c->deadline_ns, c->digest, err);
	json_decref(regdoc);
	if (ret < 0)
		return ret;

	if (!jsonpointer_get(c->doc, "/source"))
		jsonpatch_append(c->patch, "add", "/source", json_object());
	if (!jsonpointer_get(c->doc, "/source/image"))
		jsonpatch_append(c->patch, "add", "/source/image", json_object());
	/* Patch only what this write changes. The other fields were filled in
	 * from our copy of the app, which another writer (a second daemon on
	 * the same store, a person editing it) may have changed since: sending
	 * them back would silently undo that change. */
	if (((x->sets_name || !jsonpointer_get(c->doc, P_NAME)) &&
	     append_set(c->patch, c->doc, P_NAME, x->name) < 0) ||
	    ((x->sets_tag || !jsonpointer_get(c->doc, P_TAG)) &&
	     append_set(c->patch, c->doc, P_TAG, x->tag) < 0) ||
	    (x->sets_reg && append_set(c->patch, c->doc, P_REG, x->has_reg ? x->reg : NULL) < 0))
		return dfs_error_set(err, ENOMEM, "out of memory");
	return 0;
}

int dfs_store_app_name(struct dfs_store_ctx *c, const char *value, struct dfs_error *err)
{
	struct dfs_reference ref;
	struct image x;
	int ret;

	current(c->doc, &x);
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
	snprintf(x.name, sizeof(x.name), "%s", value);
	x.sets_name = 1;
	return change_image(c, &x, err);
}

int dfs_store_app_tag(struct dfs_store_ctx *c, const char *value, struct dfs_error *err)
{
	struct image x;
	int ret;

	current(c->doc, &x);
	ret = dfs_tag_check(value, err);
	if (ret < 0)
		return ret;
	snprintf(x.tag, sizeof(x.tag), "%s", value);
	x.sets_tag = 1;
	return change_image(c, &x, err);
}

int dfs_store_app_ref(struct dfs_store_ctx *c, const char *value, struct dfs_error *err)
{
	struct dfs_reference ref;
	struct image x;
	int ret;

	current(c->doc, &x);
	ret = dfs_reference_parse(value, &ref, err);
	if (ret < 0)
		return ret;
	if (ref.digest[0] && !ref.tag[0])
		return dfs_error_set(err, EINVAL,
				     "ref \"%s\": a digest-only reference cannot be stored "
				     "(apps store a name and a tag); write name:tag@digest "
				     "to pin the tag to that digest", value);
	snprintf(x.name, sizeof(x.name), "%s", ref.name);
	snprintf(x.tag, sizeof(x.tag), "%s", ref.tag[0] ? ref.tag : "latest");
	x.pin = ref.digest[0] ? ref.digest : NULL;
	x.sets_name = x.sets_tag = 1;
	return change_image(c, &x, err);
}

/* registry: an id, a name, or empty for a public image */
int dfs_store_app_registry(struct dfs_store_ctx *c, const char *value, struct dfs_error *err)
{
	struct image x;

	current(c->doc, &x);
	x.has_reg = 0;
	if (*value) {
		struct dfs_obj *r;

		dfs_model_rdlock(c->model);
		r = find_registry(c->model, value);
		if (r)
			snprintf(x.reg, sizeof(x.reg), "%s", r->id);
		dfs_model_unlock(c->model);
		if (!r)
			return dfs_error_set(err, EINVAL,
					     "registry \"%s\": no container registry has "
					     "that id or name (see registries/), or write "
					     "an empty value for a public image", value);
		x.has_reg = 1;
	}
	x.sets_reg = 1;
	return change_image(c, &x, err);
}
