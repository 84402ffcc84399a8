/* storedoc.h - the shape of a local store document, checked when it is read.
 *
 * A document in the store may have been written by anyone (a person with an
 * editor, another tool), so before deployfs serves one it checks what
 * deployfs reads from it: the type of every such field, the value grammars
 * the write path enforces (tags, image names, Glance's enumerations and
 * limits, property keys) and the sizes (a value file holds at most
 * DFS_STOREDOC_VALUE_MAX bytes; a document at most DFS_STOREDOC_MAX). Every
 * field may be absent or null; fields deployfs does not read are not
 * checked. The README (The local store) lists the rules.
 *
 * Thread-safe; no state.
 */
#ifndef DEPLOYFS_STOREDOC_H
#define DEPLOYFS_STOREDOC_H

#include <stddef.h>
#include <jansson.h>
#include "backend.h"

#define DFS_STOREDOC_MAX       (1 << 20)   /* bytes of one document file */
#define DFS_STOREDOC_VALUE_MAX 4096        /* bytes of one value shown as a file */
#define DFS_STOREDOC_ID_MAX    200         /* bytes of an object id */

/* 1 when id can name a document file: non-empty, at most
 * DFS_STOREDOC_ID_MAX bytes, no '/', not starting with '.'. Can't fail. */
int dfs_storedoc_id_ok(const char *id);

/* Check doc as a document of kind k. 0, or -EINVAL with err holding one
 * line that names the field and what is wrong
 * (`source.image.tag is an object, not a string`); never quotes a
 * password or a token. doc is borrowed and not changed. */
int dfs_storedoc_check(enum dfs_kind k, const json_t *doc, struct dfs_error *err);

/* Parse len bytes of text as the document of object id (kind k) and check
 * it: new reference to the object with "id" set to id (the file name is the
 * id), or NULL with err (EIO) saying
 * `store <kind>/<id>.json: <what is wrong>`. text needs no NUL. */
json_t *dfs_storedoc_load(enum dfs_kind k, const char *id, const char *text, size_t len,
			  struct dfs_error *err);

#endif
