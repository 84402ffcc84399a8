/* schema.c - the attribute tables, and the files every kind shares. */
#include "schema.h"
#include "history.h"
#include "jsonpatch.h"
#include "validate.h"
#include "drift.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_len(const char *s, size_t n, size_t *len)
{
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	*len = n;
	return p;
}

char *dfs_render_value(const json_t *v, size_t *len)
{
	char *out = NULL;
	int n = -1;

	switch (json_typeof(v ? v : json_null())) {
	case JSON_STRING:
		n = asprintf(&out, "%s\n", json_string_value(v));
		break;
	case JSON_INTEGER:
		n = asprintf(&out, "%" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
		break;
	case JSON_REAL:
		n = asprintf(&out, "%.17g\n", json_real_value(v));
		break;
	case JSON_TRUE:
		return dup_len("true\n", 5, len);
	case JSON_FALSE:
		return dup_len("false\n", 6, len);
	case JSON_NULL:
		return dup_len("", 0, len);
	case JSON_ARRAY: {
		size_t i, total = 0;
		json_t *e;
		char *p;

		json_array_foreach(v, i, e)
			total += json_is_string(e) ? json_string_length(e) + 1 : 0;
		out = malloc(total + 1);
		if (!out)
			return NULL;
		p = out;
		json_array_foreach(v, i, e) {
			if (!json_is_string(e))
				continue;
			memcpy(p, json_string_value(e), json_string_length(e));
			p += json_string_length(e);
			*p++ = '\n';
		}
		*p = '\0';
		*len = total;
		return out;
	}
	case JSON_OBJECT: {
		char *s = json_dumps(v, JSON_COMPACT);

		if (!s)
			return NULL;
		n = asprintf(&out, "%s\n", s);
		free(s);
		break;
	}
	}
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return out;
}

char *dfs_show_ptr(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop, size_t *len)
{
	return dfs_render_value(jsonpointer_get(dfs_obj_doc(o), a->ptr), len);
}

/* app.json, image.json: the whole object as the backend holds it. The
 * registry documents are never shown whole: they hold credentials. */
static char *show_json(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
		       size_t *len)
{
	char *s = json_dumps(dfs_obj_doc(o), JSON_INDENT(2));
	char *out;

	if (!s)
		return NULL;
	*len = strlen(s) + 1;
	out = realloc(s, *len + 1);
	if (!out) {
		free(s);
		return NULL;
	}
	out[*len - 1] = '\n';
	out[*len] = '\0';
	return out;
}

char *dfs_attr_value(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop)
{
	size_t len;
	char *v = a->show(a, o, prop, &len);

	if (!v || !len) {
		free(v);
		return NULL;
	}
	if (v[len - 1] == '\n')
		v[len - 1] = '\0';
	return v;
}

static char *show_line(const char *s, size_t *len)
{
	char *out;

	if (!*s)
		return dup_len("", 0, len);
	if (asprintf(&out, "%s\n", s) < 0)
		return NULL;
	*len = strlen(out);
	return out;
}

static char *show_error(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
			size_t *len)
{
	return show_line(o->error, len);
}

static char *show_digest(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
			 size_t *len)
{
	char d[DFS_DIGEST_MAX + 1];

	if (*o->digest)
		return show_line(o->digest, len);
	/* after a restart: what the journal recorded for the current image */
	dfs_history_digest(o, d, sizeof(d));
	return show_line(d, len);
}

static char *show_version(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
			  size_t *len)
{
	return show_line("deployfs " DEPLOYFS_VERSION, len);
}

/* Write-only files (password, token) are never rendered. */
static char *show_nothing(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
			  size_t *len)
{
	return dup_len("", 0, len);
}

/* Registries: url and username are plain strings; password and token are
 * secrets, accepted and never shown. An empty value removes the key: 1
 * when value is not empty, else 0 or -ENOMEM. */
static int registry_removal(struct dfs_store_ctx *w, const char *value)
{
	if (*value)
		return 1;
	if (!jsonpointer_get(w->doc, w->attr->ptr))
		return 0;
	return jsonpatch_append(w->patch, "remove", w->attr->ptr, NULL);
}

static int store_registry_text(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	int ret = registry_removal(w, value);

	if (ret <= 0)
		return ret;
	ret = dfs_check_text(w->attr->name, value, 2048, err);
	if (ret < 0)
		return ret;
	return jsonpatch_append(w->patch, "add", w->attr->ptr, json_string(value));
}

static int store_registry_url(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	if (*value && dfs_check_text(w->attr->name, value, 2048, NULL) == 0 &&
	    strpbrk(value, " \t"))
		return dfs_error_set(err, EINVAL,
				     "url \"%s\": a registry address such as "
				     "registry.example.com, host:5000 or https://host/",
				     value);
	return store_registry_text(w, value, err);
}

static int store_registry_secret(struct dfs_store_ctx *w, const char *value, struct dfs_error *err)
{
	size_t max = 4096;
	int ret = registry_removal(w, value);

	if (ret <= 0)
		return ret;
	/* never quote a secret back, not even in an error line */
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return dfs_error_set(err, EINVAL, "%s: control characters are not allowed",
					     w->attr->name);
	if (strlen(value) > max)
		return dfs_error_set(err, EINVAL, "%s: at most %zu characters", w->attr->name, max);
	return jsonpatch_append(w->patch, "add", w->attr->ptr, json_string(value));
}

const struct dfs_attr dfs_env_attrs[] = {
	{ "id",   0444, "/id",   dfs_show_ptr, NULL, 0, 0 },
	{ "name", 0444, "/name", dfs_show_ptr, NULL, 0, 0 },
	{ NULL }
};

const struct dfs_attr dfs_app_attrs[] = {
	{ "image",       0644, "/source/image/name",                 dfs_show_ptr,     dfs_store_app_name, 0, 0 },
	{ "tag",         0644, "/source/image/tag",                  dfs_show_ptr,     dfs_store_app_tag, 0, 0 },
	{ "ref",         0644, NULL,                                 dfs_show_app_ref, dfs_store_app_ref, 0, 0 },
	{ "registry",    0644, "/source/containerRegistryConfigIdRef", dfs_show_ptr,   dfs_store_app_registry, 1, 0 },
	{ "digest",      0444, NULL,        show_digest,  NULL, 0, 0 },
	{ "drift",       0444, NULL,        dfs_show_drift, NULL, 0, 0 },
	{ "id",          0444, "/id",       dfs_show_ptr, NULL, 0, 0 },
	{ "name",        0444, "/name",     dfs_show_ptr, NULL, 0, 0 },
	{ "hostname",    0444, "/hostname", dfs_show_ptr, NULL, 0, 0 },
	{ "port",        0444, "/port",     dfs_show_ptr, NULL, 0, 0 },
	{ "version",     0444, "/version",  dfs_show_ptr, NULL, 0, 0 },
	{ "created_by",  0444, "/createdBy",  dfs_show_ptr, NULL, 0, 0 },
	{ "modified_by", 0444, "/modifiedBy", dfs_show_ptr, NULL, 0, 0 },
	{ "app.json",    0444, NULL,        show_json,    NULL, 0, 0 },
	{ "error",       0444, NULL,        show_error,   NULL, 0, 0 },
	{ "history",      0444, NULL,       dfs_show_history,      NULL, 0, 0 },
	{ "history.json", 0444, NULL,       dfs_show_history_json, NULL, 0, 0 },
	{ "rollback",     0644, NULL,       show_nothing, dfs_store_app_rollback, 0, 0 },
	{ NULL }
};

const struct dfs_attr dfs_resource_attrs[] = {
	{ "cpu",     0444, "/resources/cpu",     dfs_show_ptr, NULL, 0, 0 },
	{ "memory",  0444, "/resources/memory",  dfs_show_ptr, NULL, 0, 0 },
	{ "storage", 0444, "/resources/storage", dfs_show_ptr, NULL, 0, 0 },
	{ NULL }
};

const struct dfs_attr dfs_image_attrs[] = {
	{ "name",             0644, "/name",             dfs_show_ptr, dfs_store_image_name, 0, 0 },
	{ "tags",             0644, "/tags",             dfs_show_ptr, dfs_store_image_tags, 1, 1 },
	{ "os_distro",        0644, "/os_distro",        dfs_show_ptr, dfs_store_image_text, 1, 0 },
	{ "os_version",       0644, "/os_version",       dfs_show_ptr, dfs_store_image_text, 1, 0 },
	{ "protected",        0644, "/protected",        dfs_show_ptr, dfs_store_image_bool, 0, 0 },
	{ "container_format", 0644, "/container_format", dfs_show_ptr, dfs_store_image_container_format, 0, 0 },
	{ "disk_format",      0644, "/disk_format",      dfs_show_ptr, dfs_store_image_disk_format, 0, 0 },
	{ "min_disk",         0644, "/min_disk",         dfs_show_ptr, dfs_store_image_uint31, 0, 0 },
	{ "min_ram",          0644, "/min_ram",          dfs_show_ptr, dfs_store_image_uint31, 0, 0 },
	{ "ramdisk_id",       0644, "/ramdisk_id",       dfs_show_ptr, dfs_store_image_ami_id, 1, 0 },
	{ "kernel_id",        0644, "/kernel_id",        dfs_show_ptr, dfs_store_image_ami_id, 1, 0 },
	{ "id",          0444, "/id",          dfs_show_ptr, NULL, 0, 0 },
	{ "status",      0444, "/status",      dfs_show_ptr, NULL, 0, 0 },
	{ "visibility",  0444, "/visibility",  dfs_show_ptr, NULL, 0, 0 },
	{ "checksum",    0444, "/checksum",    dfs_show_ptr, NULL, 0, 0 },
	{ "size",        0444, "/size",        dfs_show_ptr, NULL, 0, 0 },
	{ "owner",       0444, "/owner",       dfs_show_ptr, NULL, 0, 0 },
	{ "created_at",  0444, "/created_at",  dfs_show_ptr, NULL, 0, 0 },
	{ "updated_at",  0444, "/updated_at",  dfs_show_ptr, NULL, 0, 0 },
	{ "image.json",  0444, NULL,           show_json,    NULL, 0, 0 },
	{ "error",       0444, NULL,           show_error,   NULL, 0, 0 },
	{ "history",      0444, NULL,          dfs_show_history,      NULL, 0, 0 },
	{ "history.json", 0444, NULL,          dfs_show_history_json, NULL, 0, 0 },
	{ NULL }
};

const struct dfs_attr dfs_registry_attrs[] = {
	{ "id",       0444, "/id",       dfs_show_ptr, NULL, 0, 0 },
	{ "url",      0644, "/url",      dfs_show_ptr, store_registry_url, 0, 0 },
	{ "username", 0644, "/username", dfs_show_ptr, store_registry_text, 1, 0 },
	{ "password", 0200, "/password", show_nothing, store_registry_secret, 1, 0 },
	{ "token",    0200, "/token",    show_nothing, store_registry_secret, 1, 0 },
	{ "error",    0444, NULL,        show_error,   NULL, 0, 0 },
	{ NULL }
};

const struct dfs_attr dfs_meta_attrs[] = {
	{ "version", 0444, NULL, show_version, NULL, 0, 0 },
	{ NULL }
};

static char *show_property(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
			   size_t *len)
{
	return dfs_render_value(json_object_get(dfs_obj_doc(o), prop), len);
}

const struct dfs_attr dfs_property_attr = {
	"(property)", 0644, NULL, show_property, dfs_store_image_property, 1, 0
};

const struct dfs_attr *dfs_attr_find(const struct dfs_attr *table, const char *name)
{
	for (; table->name; table++)
		if (strcmp(table->name, name) == 0)
			return table;
	return NULL;
}

static int all_in(const char *s, size_t n, int (*pred)(int))
{
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !pred((unsigned char)s[i]))
			return 0;
	return s[n] == '\0';
}

static int is_any(int c)
{
	return c != 0;
}

int dfs_is_scratch_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.' || (n > 1 && name[n - 1] == '~'))
		return 1;
	if (n >= 2 && name[0] == '#' && name[n - 1] == '#')
		return 1;
	if (strcmp(name, "4913") == 0)
		return 1;
	if (n == 9 && strncmp(name, "sed", 3) == 0 && all_in(name + 3, 6, is_any))
		return 1;
	if (n == 8 && strncmp(name, "XX", 2) == 0 && all_in(name + 2, 6, is_any))
		return 1;
	if (n == 11 && strncmp(name, "tmp", 3) == 0 && all_in(name + 3, 8, is_any))
		return 1;
	return 0;
}
