/* schema_image.c - Glance image properties: grammar, Glance's own rules
 * (README, "Images") and the Rackspace prefix rules, then one JSON Patch.
 *
 * Setting is "add" (an upsert under the 2.1 media type; "replace" fails on
 * an absent key), an empty value is "remove" where the property is
 * optional.
 */
#include "schema.h"
#include "jsonpatch.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GLANCE_TEXT_MAX 255
#define GLANCE_MAX_TAGS 128
#define GLANCE_MAX_PROPERTIES 128

/* Standard properties deployfs shows as files at the image's top level, and
 * which count towards Glance's property quota. */
static const char *const extra_props[] = { "os_distro", "os_version", "ramdisk_id", "kernel_id" };

int dfs_image_is_property(const char *key, const json_t *value)
{
	return json_is_string(value) && !dfs_is_glance_attribute(key);
}

static size_t count_properties(const json_t *doc)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)doc, key, v) {
		if (dfs_image_is_property(key, v))
			n++;
	}
	for (size_t i = 0; i < sizeof(extra_props) / sizeof(extra_props[0]); i++)
		n += json_object_get(doc, extra_props[i]) != NULL;
	return n;
}

static int remove_if_set(struct dfs_store_ctx *w, const char *path)
{
	if (!jsonpointer_get(w->doc, path))
		return 0;   /* already absent: nothing to send, nothing to change */
	return jsonpatch_append(w->patch, "remove", path, NULL);
}

static int set(struct dfs_store_ctx *w, const char *path, json_t *v)
{
	return jsonpatch_append(w->patch, "add", path, v) < 0 ? -ENOMEM : 0;
}

static int new_property_quota(struct dfs_store_ctx *w, const char *key, struct dfs_error *err)
{
	if (json_object_get(w->doc, key) || count_properties(w->doc) < GLANCE_MAX_PROPERTIES)
		return 0;
	return dfs_error_set(err, EDQUOT, "%s: the image already has %d properties, Glance's limit",
			     key, GLANCE_MAX_PROPERTIES);
}

/* tags: one a line, blank lines and duplicates dropped; "" empties them */
int dfs_store_image_tags(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	json_t *tags = json_array();
	char *copy = strdup(value), *line, *save = NULL;
	int ret = 0;

	if (!tags || !copy) {
		ret = dfs_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if (w->append) {
		/* `echo t >> tags`: the tags as they are now, then the new lines */
		json_t *cur = json_object_get(w->doc, "tags"), *e;
		size_t i;

		json_array_foreach(cur, i, e)
			if (json_is_string(e))
				json_array_append(tags, e);
	}
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line), i;
		json_t *e;
		int dup = 0;

		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		if (!n)
			continue;
		ret = dfs_check_text("tag", line, GLANCE_TEXT_MAX, err);
		if (ret < 0)
			goto out;
		json_array_foreach(tags, i, e)
			dup |= strcmp(json_string_value(e), line) == 0;
		if (!dup)
			json_array_append_new(tags, json_string(line));
	}
	if (json_array_size(tags) > GLANCE_MAX_TAGS) {
		ret = dfs_error_set(err, EDQUOT, "tags: %zu tags; Glance allows at most %d",
				    json_array_size(tags), GLANCE_MAX_TAGS);
		goto out;
	}
	ret = set(w, "/tags", json_incref(tags));
out:
	json_decref(tags);
	free(copy);
	return ret;
}

/* disk_format and container_format: Glance changes them only while the
 * image is queued (it answers 403 after). */
static int check_format_change(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	const char *status = json_string_value(json_object_get(w->doc, "status"));
	const char *cur = json_string_value(jsonpointer_get(w->doc, w->attr->ptr));

	if (cur && strcmp(cur, value) == 0)
		return 0;
	if (status && strcmp(status, "queued") != 0)
		return dfs_error_set(err, EPERM, "%s: can change only while the image is queued "
				     "(its status is %s)", w->attr->name, status);
	return 0;
}

/* An empty value: a removal where the row allows one (empty_ok). 1 when
 * value is not empty, else 0 or -errno. */
static int removal(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	if (*value)
		return 1;
	if (w->attr->empty_ok)
		return remove_if_set(w, w->attr->ptr);
	return dfs_error_set(err, EINVAL, "%s: cannot be removed; write a value", w->attr->name);
}

/* min_ram, min_disk */
int dfs_store_image_uint31(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	int64_t n;
	int ret = removal(w, value, err);

	if (ret <= 0)
		return ret;
	ret = dfs_check_uint31(w->attr->name, value, &n, err);
	return ret < 0 ? ret : set(w, w->attr->ptr, json_integer(n));
}

int dfs_store_image_bool(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	int b, ret = removal(w, value, err);

	if (ret <= 0)
		return ret;
	ret = dfs_check_bool(w->attr->name, value, &b, err);
	return ret < 0 ? ret : set(w, w->attr->ptr, json_boolean(b));
}

static int store_format(struct dfs_store_ctx *w, const char *value, struct dfs_error *err,
			int (*check)(const char *s, struct dfs_error *err))
{
	int ret = removal(w, value, err);

	if (ret <= 0)
		return ret;
	ret = check(value, err);
	if (ret == 0)
		ret = check_format_change(w, value, err);
	return ret < 0 ? ret : set(w, w->attr->ptr, json_string(value));
}

int dfs_store_image_container_format(struct dfs_store_ctx *w, const char *value,
				     struct dfs_error *err)
{
	return store_format(w, value, err, dfs_check_container_format);
}

int dfs_store_image_disk_format(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	return store_format(w, value, err, dfs_check_disk_format);
}

/* ramdisk_id, kernel_id: image ids, with disk_format ami */
int dfs_store_image_ami_id(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	const char *name = w->attr->name, *df;
	int ret = removal(w, value, err);

	if (ret <= 0)
		return ret;
	df = json_string_value(json_object_get(w->doc, "disk_format"));
	if (!df || strcmp(df, "ami") != 0)
		return dfs_error_set(err, EINVAL, "%s: applies only when disk_format is ami "
				     "(it is %s)", name, df ? df : "unset");
	if (!dfs_is_uuid(value))
		return dfs_error_set(err, EINVAL, "%s \"%.64s\": an image id (UUID)", name, value);
	ret = new_property_quota(w, name, err);
	return ret < 0 ? ret : set(w, w->attr->ptr, json_string(value));
}

/* A string of at most GLANCE_TEXT_MAX characters; quota: it counts
 * towards Glance's property quota. */
static int store_string(struct dfs_store_ctx *w, const char *value, int quota,
			struct dfs_error *err)
{
	int ret = removal(w, value, err);

	if (ret <= 0)
		return ret;
	ret = dfs_check_text(w->attr->name, value, GLANCE_TEXT_MAX, err);
	if (ret == 0 && quota)
		ret = new_property_quota(w, w->attr->name, err);
	return ret < 0 ? ret : set(w, w->attr->ptr, json_string(value));
}

/* name: a string */
int dfs_store_image_name(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	return store_string(w, value, 0, err);
}

/* os_distro, os_version: strings that count towards the property quota */
int dfs_store_image_text(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	return store_string(w, value, 1, err);
}

int dfs_store_image_property(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	char path[1024] = "/";
	int ret;

	ret = dfs_check_property_key(w->prop, err);
	if (ret < 0)
		return ret;
	if (jsonpointer_escape(w->prop, path + 1, sizeof(path) - 1) < 0)
		return dfs_error_set(err, ENAMETOOLONG, "property key too long");
	if (!*value)
		return remove_if_set(w, path);
	ret = dfs_check_text(w->prop, value, GLANCE_TEXT_MAX, err);
	if (ret == 0)
		ret = new_property_quota(w, w->prop, err);
	return ret < 0 ? ret : set(w, path, json_string(value));
}
