/* jsonpatch.h - RFC 6902 JSON Patch and RFC 6901 JSON Pointer.
 *
 * The one change language of deployfs: the FS layer turns every write into
 * a patch; the local store applies it, the Glance client sends it as is, the
 * apps API client reads the new image fields from the patched document.
 */
#ifndef DEPLOYFS_JSONPATCH_H
#define DEPLOYFS_JSONPATCH_H

#include <stddef.h>
#include <jansson.h>
#include "error.h"

/* Apply patch (a JSON array of operations: add, remove, replace, move, copy,
 * test) to a deep copy of doc. Returns a new reference to the patched
 * document, or NULL with err filled (EINVAL for a malformed patch, a path
 * that does not resolve, a failed test; ENOMEM). doc is never modified: a
 * patch applies whole or not at all. */
json_t *jsonpatch_apply(const json_t *doc, const json_t *patch,
			struct dfs_error *err);

/* Append {"op":op,"path":path[,"value":value]} to the array patch.
 * Steals value (may be NULL for remove). Returns 0, -ENOMEM, or -EINVAL
 * when patch is not an array or path is not UTF-8. */
int jsonpatch_append(json_t *patch, const char *op, const char *path,
		     json_t *value);

/* Resolve an RFC 6901 pointer ("" is the whole document). Returns a
 * borrowed reference, or NULL when the pointer does not resolve, is
 * malformed, or memory ran out. */
json_t *jsonpointer_get(const json_t *doc, const char *pointer);

/* Escape one reference token ("~" -> "~0", "/" -> "~1") into out.
 * Returns the length written, or -ENAMETOOLONG when outsz is too small
 * (out is then an empty string). */
int jsonpointer_escape(const char *token, char *out, size_t outsz);

#endif
