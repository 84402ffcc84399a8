/* storedoc.c - the shape of a local store document (see storedoc.h).
 *
 * One table of fields per kind, after configfs's attribute tables: a row
 * names a field by its dotted path (as the error line shows it), its JSON
 * type, a limit, and the grammar its value must match. The grammars are the
 * write path's own (validate.c, reference.c), so a document deployfs wrote
 * always passes, and what it serves is what a write could have produced.
 */
#include "storedoc.h"
#include "reference.h"
#include "validate.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define GLANCE_TEXT_MAX       255
#define GLANCE_MAX_TAGS       128
#define GLANCE_MAX_PROPERTIES 128
#define REGISTRY_TEXT_MAX     2048   /* url, username: as the write path allows */
#define PATH_MAX_DEPTH        4
/* Versions are bumped by one at each write: room for that, and what a
 * JavaScript API can count exactly (2^53 - 1). */
#define VERSION_MAX           9007199254740991LL

enum ftype {
	F_OBJECT,    /* a JSON object: its own rows check what is inside */
	F_TEXT,      /* a string: max characters, at most VALUE_MAX bytes, grammar */
	F_SECRET,    /* a password or token: never quoted in an error line */
	F_INT,       /* a whole number from 0 to max */
	F_NUMBER,    /* any number from 0 up */
	F_BOOL,
	F_TAGS,      /* an array of at most GLANCE_MAX_TAGS strings of max characters */
};

struct field {
	const char *path;   /* dotted: "source.image.tag" */
	enum ftype type;
	int64_t max;        /* F_TEXT, F_TAGS: characters; F_INT: largest value */
	/* F_TEXT: the value's grammar (it checks the length too); NULL: text */
	int (*grammar)(const char *path, const char *s, struct dfs_error *err);
};

int dfs_storedoc_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	return n > 0 && n <= DFS_STOREDOC_ID_MAX && id[0] != '.' && !strchr(id, '/');
}

static int g_image_name(const char *path, const char *s, struct dfs_error *err)
{
	struct dfs_reference ref;
	struct dfs_error e = { 0 };

	if (dfs_reference_parse_name(s, &ref, &e) < 0)
		return dfs_error_set(err, EINVAL, "%s: %s", path, e.msg);
	return 0;
}

static int g_tag(const char *path, const char *s, struct dfs_error *err)
{
	struct dfs_error e = { 0 };

	if (dfs_tag_check(s, &e) < 0)
		return dfs_error_set(err, EINVAL, "%s: %s", path, e.msg);
	return 0;
}

static int g_id(const char *path, const char *s, struct dfs_error *err)
{
	if (!dfs_storedoc_id_ok(s))
		return dfs_error_set(err, EINVAL, "%s: not an object id (1 to %d bytes, no '/', "
				     "not starting with '.')", path, DFS_STOREDOC_ID_MAX);
	return 0;
}

/* An app's registry: an id, or "" for none (what the write path treats as
 * a public image). */
static int g_registry_ref(const char *path, const char *s, struct dfs_error *err)
{
	return *s ? g_id(path, s, err) : 0;
}

static int g_uuid(const char *path, const char *s, struct dfs_error *err)
{
	if (!dfs_is_uuid(s))
		return dfs_error_set(err, EINVAL, "%s: not an image id (a UUID)", path);
	return 0;
}

static int g_status(const char *path, const char *s, struct dfs_error *err)
{
	return dfs_check_image_status(s, err);
}

static int g_visibility(const char *path, const char *s, struct dfs_error *err)
{
	return dfs_check_visibility(s, err);
}

static int g_container_format(const char *path, const char *s, struct dfs_error *err)
{
	return dfs_check_container_format(s, err);
}

static int g_disk_format(const char *path, const char *s, struct dfs_error *err)
{
	return dfs_check_disk_format(s, err);
}

/* The rules store_registry (fs/schema.c) applies to a written url. */
static int g_url(const char *path, const char *s, struct dfs_error *err)
{
	int ret = dfs_check_text(path, s, REGISTRY_TEXT_MAX, err);

	if (ret == 0 && strpbrk(s, " \t"))
		return dfs_error_set(err, EINVAL, "%s: a registry address has no spaces", path);
	return ret;
}

static int g_registry_text(const char *path, const char *s, struct dfs_error *err)
{
	return dfs_check_text(path, s, REGISTRY_TEXT_MAX, err);
}

static const struct field env_fields[] = {
	{ "name",       F_TEXT, DFS_STOREDOC_VALUE_MAX, NULL },
	{ "isDeleted",  F_BOOL, 0, NULL },
	{ "createdBy",  F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "modifiedBy", F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "version",    F_INT,  VERSION_MAX, NULL },
	{ NULL }
};

static const struct field app_fields[] = {
	{ "name",              F_TEXT,   DFS_STOREDOC_VALUE_MAX, NULL },
	{ "envIdRef",          F_TEXT,   0, g_id },
	{ "source",            F_OBJECT, 0, NULL },
	{ "source.image",      F_OBJECT, 0, NULL },
	{ "source.image.name", F_TEXT,   0, g_image_name },
	{ "source.image.tag",  F_TEXT,   0, g_tag },
	{ "source.containerRegistryConfigIdRef", F_TEXT, 0, g_registry_ref },
	{ "resources",         F_OBJECT, 0, NULL },
	{ "resources.cpu",     F_NUMBER, 0, NULL },
	{ "resources.memory",  F_NUMBER, 0, NULL },
	{ "resources.storage", F_NUMBER, 0, NULL },
	{ "hostname",          F_TEXT,   GLANCE_TEXT_MAX, NULL },
	{ "port",              F_INT,    65535, NULL },
	{ "isDeleted",         F_BOOL,   0, NULL },
	{ "createdBy",         F_TEXT,   GLANCE_TEXT_MAX, NULL },
	{ "modifiedBy",        F_TEXT,   GLANCE_TEXT_MAX, NULL },
	{ "version",           F_INT,    VERSION_MAX, NULL },
	{ NULL }
};

static const struct field registry_fields[] = {
	{ "name",     F_TEXT,   DFS_STOREDOC_VALUE_MAX, NULL },
	{ "url",      F_TEXT,   0, g_url },
	{ "username", F_TEXT,   0, g_registry_text },
	{ "password", F_SECRET, 0, NULL },
	{ "token",    F_SECRET, 0, NULL },
	{ NULL }
};

static const struct field image_fields[] = {
	{ "name",             F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "tags",             F_TAGS, GLANCE_TEXT_MAX, NULL },
	{ "os_distro",        F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "os_version",       F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "protected",        F_BOOL, 0, NULL },
	{ "container_format", F_TEXT, 0, g_container_format },
	{ "disk_format",      F_TEXT, 0, g_disk_format },
	{ "min_disk",         F_INT,  INT32_MAX, NULL },
	{ "min_ram",          F_INT,  INT32_MAX, NULL },
	{ "ramdisk_id",       F_TEXT, 0, g_uuid },
	{ "kernel_id",        F_TEXT, 0, g_uuid },
	{ "status",           F_TEXT, 0, g_status },
	{ "visibility",       F_TEXT, 0, g_visibility },
	{ "checksum",         F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "size",             F_INT,  INT64_MAX, NULL },
	{ "virtual_size",     F_INT,  INT64_MAX, NULL },
	{ "owner",            F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "created_at",       F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "updated_at",       F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "os_hidden",        F_BOOL, 0, NULL },
	{ "os_hash_algo",     F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ "os_hash_value",    F_TEXT, GLANCE_TEXT_MAX, NULL },
	{ NULL }
};

static const struct field *const tables[DFS_KIND_COUNT] = {
	[DFS_ENV] = env_fields,
	[DFS_APP] = app_fields,
	[DFS_REGISTRY] = registry_fields,
	[DFS_IMAGE] = image_fields,
};

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:  return "an object";
	case JSON_ARRAY:   return "an array";
	case JSON_STRING:  return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL:    return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:   return "a boolean";
	case JSON_NULL:    return "null";
	}
	return "?";
}

static const char *const wanted[] = {
	[F_OBJECT] = "an object", [F_TEXT] = "a string", [F_SECRET] = "a string",
	[F_INT] = "an integer", [F_NUMBER] = "a number", [F_BOOL] = "a boolean",
	[F_TAGS] = "an array of strings",
};

/* The value at a dotted path; NULL when it or a parent is absent, null or
 * not an object (a parent's own row reports that). */
static const json_t *lookup(const json_t *doc, const char *path)
{
	char key[64];
	const char *dot;

	for (int depth = 0; depth < PATH_MAX_DEPTH && doc; depth++) {
		size_t n;

		dot = strchr(path, '.');
		n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key) || !json_is_object(doc))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		doc = json_object_get(doc, key);
		if (!dot)
			return doc;
		path = dot + 1;
	}
	return NULL;
}

/* A string's bytes: a value file's limit, and no NUL inside. */
static int check_bytes(const char *path, const json_t *v, struct dfs_error *err)
{
	size_t n = json_string_length(v);

	if (n > DFS_STOREDOC_VALUE_MAX)
		return dfs_error_set(err, EINVAL, "%s is %zu bytes long; a value holds at most %d",
				     path, n, DFS_STOREDOC_VALUE_MAX);
	if (strlen(json_string_value(v)) != n)
		return dfs_error_set(err, EINVAL, "%s holds a NUL character", path);
	return 0;
}

static int check_text(const char *path, const json_t *v, int64_t max,
		      int (*grammar)(const char *, const char *, struct dfs_error *),
		      struct dfs_error *err)
{
	int ret = check_bytes(path, v, err);

	if (ret < 0)
		return ret;
	if (grammar)
		return grammar(path, json_string_value(v), err);
	return dfs_check_text(path, json_string_value(v), (size_t)max, err);
}

/* Passwords and tokens: the write path's rules, and never a quote. */
static int check_secret(const char *path, const json_t *v, struct dfs_error *err)
{
	int ret = check_bytes(path, v, err);

	if (ret < 0)
		return ret;
	for (const char *p = json_string_value(v); *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return dfs_error_set(err, EINVAL, "%s: control characters are not allowed",
					     path);
	return 0;
}

static int check_tags(const char *path, const json_t *v, int64_t max, struct dfs_error *err)
{
	char what[80];
	size_t i;
	json_t *e;

	if (json_array_size(v) > GLANCE_MAX_TAGS)
		return dfs_error_set(err, EINVAL, "%s holds %zu tags; Glance allows at most %d",
				     path, json_array_size(v), GLANCE_MAX_TAGS);
	json_array_foreach(v, i, e) {
		int ret;

		snprintf(what, sizeof(what), "%s[%zu]", path, i);
		if (!json_is_string(e))
			return dfs_error_set(err, EINVAL, "%s is %s, not a string", what,
					     type_name(e));
		ret = check_text(what, e, max, NULL, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int check_field(const struct field *f, const json_t *v, struct dfs_error *err)
{
	int ok;

	switch (f->type) {
	case F_OBJECT: ok = json_is_object(v); break;
	case F_TEXT:
	case F_SECRET: ok = json_is_string(v); break;
	case F_INT:    ok = json_is_integer(v); break;
	case F_NUMBER: ok = json_is_number(v); break;
	case F_BOOL:   ok = json_is_boolean(v); break;
	case F_TAGS:   ok = json_is_array(v); break;
	default:       ok = 0; break;
	}
	if (!ok)
		return dfs_error_set(err, EINVAL, "%s is %s, not %s", f->path, type_name(v),
				     wanted[f->type]);
	switch (f->type) {
	case F_TEXT:
		return check_text(f->path, v, f->max, f->grammar, err);
	case F_SECRET:
		return check_secret(f->path, v, err);
	case F_TAGS:
		return check_tags(f->path, v, f->max, err);
	case F_INT:
		if (json_integer_value(v) < 0 || json_integer_value(v) > f->max)
			return dfs_error_set(err, EINVAL,
					     "%s is %" JSON_INTEGER_FORMAT ", not a whole number "
					     "from 0 to %lld", f->path, json_integer_value(v),
					     (long long)f->max);
		return 0;
	case F_NUMBER:
		if (!(json_number_value(v) >= 0))
			return dfs_error_set(err, EINVAL, "%s is %g, not a number from 0 up",
					     f->path, json_number_value(v));
		return 0;
	default:
		return 0;
	}
}

/* An image's custom properties: every string that is not one of Glance's
 * own attributes. Keys follow the write path's rules but for the reserved
 * prefixes (Glance and Rackspace set those themselves), values are
 * Glance text, and there are at most GLANCE_MAX_PROPERTIES of them,
 * counting the standard properties deployfs shows at the top level. */
static int check_properties(const json_t *doc, struct dfs_error *err)
{
	static const char *const standard[] = { "os_distro", "os_version", "ramdisk_id",
						"kernel_id" };
	size_t count = 0;
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)doc, key, v) {
		struct dfs_error e = { 0 };
		int ret;

		if (dfs_is_glance_attribute(key) || !json_is_string(v))
			continue;
		ret = dfs_check_property_key(key, &e);
		if (ret < 0 && ret != -EPERM)
			return dfs_error_set(err, EINVAL, "%s", e.msg);
		ret = check_text(key, v, GLANCE_TEXT_MAX, NULL, err);
		if (ret < 0)
			return ret;
		count++;
	}
	for (size_t i = 0; i < sizeof(standard) / sizeof(standard[0]); i++) {
		v = json_object_get(doc, standard[i]);
		count += v && !json_is_null(v);
	}
	if (count > GLANCE_MAX_PROPERTIES)
		return dfs_error_set(err, EINVAL, "%zu properties; Glance allows at most %d",
				     count, GLANCE_MAX_PROPERTIES);
	return 0;
}

int dfs_storedoc_check(enum dfs_kind k, const json_t *doc, struct dfs_error *err)
{
	const struct field *f;

	if ((unsigned)k >= DFS_KIND_COUNT)
		return dfs_error_set(err, EINVAL, "no such kind of object");
	if (!json_is_object(doc))
		return dfs_error_set(err, EINVAL, "not a JSON object");
	for (f = tables[k]; f->path; f++) {
		const json_t *v = lookup(doc, f->path);
		int ret;

		if (!v || json_is_null(v))
			continue;   /* every field is optional */
		ret = check_field(f, v, err);
		if (ret < 0)
			return ret;
	}
	return k == DFS_IMAGE ? check_properties(doc, err) : 0;
}

json_t *dfs_storedoc_load(enum dfs_kind k, const char *id, const char *text, size_t len,
			  struct dfs_error *err)
{
	const char *dir = dfs_kind_dir(k);
	struct dfs_error e = { 0 };
	json_error_t jerr;
	json_t *doc, *idv;

	if (!dfs_storedoc_id_ok(id)) {
		dfs_error_set(err, EIO, "store %s: \"%.64s\" cannot name a document", dir,
			      id ? id : "");
		return NULL;
	}
	if (len > DFS_STOREDOC_MAX) {
		dfs_error_set(err, EIO, "store %s/%s.json: %zu bytes; a document holds at most "
			      "%d (1 MiB)", dir, id, len, DFS_STOREDOC_MAX);
		return NULL;
	}
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		dfs_error_set(err, EIO, "store %s/%s.json: not a JSON object (line %d: %s)", dir, id,
			      jerr.line, jerr.text);
		return NULL;
	}
	if (!json_is_object(doc)) {
		dfs_error_set(err, EIO, "store %s/%s.json: not a JSON object (%s)", dir, id,
			      type_name(doc));
		goto out_free;
	}
	if (dfs_storedoc_check(k, doc, &e) < 0) {
		dfs_error_set(err, EIO, "store %s/%s.json: %s", dir, id, e.msg);
		goto out_free;
	}
	/* the file name is the id: a document cannot claim another object's */
	idv = json_string(id);
	if (!idv || json_object_set_new(doc, "id", idv) < 0) {
		dfs_error_set(err, EIO, "store %s/%s.json: the file name is not UTF-8", dir, id);
		goto out_free;
	}
	return doc;
out_free:
	json_decref(doc);
	return NULL;
}
