/* schema.h - one table of attributes per kind of object (after configfs).
 *
 * Each row is a file: its name, its mode, a show function that renders the
 * file's content from the object, and a store function that validates a
 * written value and turns it into JSON Patch operations. Adding an
 * attribute is adding a row and a validator; the FUSE layer never tests
 * file names.
 */
#ifndef DEPLOYFS_SCHEMA_H
#define DEPLOYFS_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "backend.h"
#include "error.h"
#include "model.h"
#include "reference.h"

struct dfs_attr;
struct dfs_image_checker;

/* What a store function works with (write.c fills it in): the object as
 * it is now, and what the function may use, never the daemon. The caller
 * holds obj->wlock and no other lock. */
struct dfs_store_ctx {
	struct dfs_model *model;       /* other objects (take its lock to read them) */
	struct dfs_obj *obj;
	const json_t *doc;             /* the object as it is now (borrowed) */
	const struct dfs_attr *attr;
	const char *prop;              /* custom property key, or NULL */
	json_t *patch;                 /* store appends its operations here */
	int64_t deadline_ns;
	const struct dfs_image_checker *check;   /* the registry check (write.h) */
	char digest[DFS_DIGEST_MAX + 1];   /* set by a registry check */
	int append;                    /* an O_APPEND write of a list (tags): adds its lines */
};

/* Render the file: a malloc'd string (caller frees) of *len bytes, or NULL
 * on ENOMEM. obj is NULL for files that belong to no object. Model lock
 * held (read). */
typedef char *(*dfs_show_fn)(const struct dfs_attr *a, const struct dfs_obj *o,
			     const char *prop, size_t *len);

/* Validate value (whole, trailing newline already dropped; "" is an empty
 * file: a removal where the attribute allows one) and append the patch.
 * 0 or -errno with err: one line naming the value and what is accepted. */
typedef int (*dfs_store_fn)(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);

struct dfs_attr {
	const char *name;
	mode_t mode;              /* 0444 read-only, 0644 read-write, 0200 write-only */
	const char *ptr;          /* JSON pointer the generic show/store use */
	dfs_show_fn show;
	dfs_store_fn store;       /* NULL for read-only files */
	int empty_ok;             /* an empty value is valid: a removal, or "none" */
	int multiline;            /* one item a line (tags): shells write it a line at a time */
};

/* The tables, NULL-name terminated. */
extern const struct dfs_attr dfs_env_attrs[];
extern const struct dfs_attr dfs_app_attrs[];
extern const struct dfs_attr dfs_resource_attrs[];
extern const struct dfs_attr dfs_image_attrs[];
extern const struct dfs_attr dfs_registry_attrs[];
extern const struct dfs_attr dfs_meta_attrs[];
/* The row of a custom property file under images/<id>/properties/. */
extern const struct dfs_attr dfs_property_attr;

/* Row called name in table, or NULL. */
const struct dfs_attr *dfs_attr_find(const struct dfs_attr *table, const char *name);

/* A file's content as one value, for .deployfs/events and history: its
 * final newline dropped; NULL for an empty file (an unset value) or out
 * of memory. Caller frees. Model lock held as for show, or o a stand-in
 * whose cache is the document. */
char *dfs_attr_value(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop);

/* Shared show helpers. */
char *dfs_show_ptr(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop, size_t *len);
/* Render a JSON value as a file: string + "\n", integer, true/false, an
 * array of strings one a line, null or absent as an empty file. */
char *dfs_render_value(const json_t *v, size_t *len);

/* The store functions of the app rows (schema_app.c): each changes one
 * part of the app's image, checked in its registry. */
int dfs_store_app_name(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_app_tag(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_app_ref(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_app_registry(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
char *dfs_show_app_ref(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop, size_t *len);
/* The store functions of the image rows (schema_image.c), by the kind of
 * value; the row's ptr says where it goes and empty_ok whether an empty
 * value removes it. */
int dfs_store_image_name(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_image_text(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_image_tags(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_image_bool(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_image_uint31(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_image_container_format(struct dfs_store_ctx *c, const char *value,
				     struct dfs_error *err);
int dfs_store_image_disk_format(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_image_ami_id(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
int dfs_store_image_property(struct dfs_store_ctx *c, const char *value, struct dfs_error *err);
/* Custom property keys of an image document: 1 when key is one. */
int dfs_image_is_property(const char *key, const json_t *value);

/* 1 for the names editors and tools use for scratch files beside a value
 * file (README, "Writing values"): .*, *~, #*#, 4913, sed??????, XX??????,
 * tmp????????. */
int dfs_is_scratch_name(const char *name);

#endif
