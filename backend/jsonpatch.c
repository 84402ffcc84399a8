/* jsonpatch.c - RFC 6902 JSON Patch over RFC 6901 JSON Pointer, on jansson.
 *
 * A patch is applied to a deep copy, one operation after another; the first
 * failure drops the copy, so the caller's document is never half patched.
 * Pointers are resolved token by token straight from the pointer string
 * (no token array), so a pointer's length is the only limit on its depth.
 */
#include "jsonpatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* How much of a pointer an error line shows: enough to recognise it. */
#define PTR_SHOW 120

/* Decode the reference token at p (up to the next '/' or the end) into a
 * malloc'd string; *next is set past it. NULL on a bad "~" escape
 * (RFC 6901 knows only ~0 and ~1) or on ENOMEM. */
static char *token_decode(const char *p, const char **next)
{
	size_t len = strcspn(p, "/"), i, o = 0;
	char *tok = malloc(len + 1);

	if (!tok)
		return NULL;
	for (i = 0; i < len; i++) {
		if (p[i] != '~') {
			tok[o++] = p[i];
		} else if (i + 1 < len && (p[i + 1] == '0' || p[i + 1] == '1')) {
			tok[o++] = p[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			free(tok);
			return NULL;
		}
	}
	tok[o] = '\0';
	*next = p + len;
	return tok;
}

/* An array index: "0", or digits without a leading zero, below limit.
 * Returns the index, or -1. */
static long array_index(const char *tok, size_t limit)
{
	size_t i, v = 0;

	if (!tok[0] || (tok[0] == '0' && tok[1]))
		return -1;
	for (i = 0; tok[i]; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return -1;
		v = v * 10 + (size_t)(tok[i] - '0');
		if (v >= limit)
			return -1;
	}
	return (long)v;
}

/* RFC 6901 syntax: "" or "/"-led tokens whose '~' is always ~0 or ~1. */
static int pointer_ok(const char *p)
{
	if (*p && *p != '/')
		return 0;
	for (; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return 0;
	return 1;
}

/* Step from node into child tok. Borrowed, or NULL. */
static json_t *child(json_t *node, const char *tok)
{
	long idx;

	if (json_is_object(node))
		return json_object_get(node, tok);
	if (json_is_array(node)) {
		idx = array_index(tok, json_array_size(node));
		return idx < 0 ? NULL : json_array_get(node, (size_t)idx);
	}
	return NULL;
}

json_t *jsonpointer_get(const json_t *doc, const char *pointer)
{
	json_t *node = (json_t *)doc;    /* jansson's getters are not const */
	const char *p = pointer;
	char *tok;

	if (!doc || !pointer || (*p && *p != '/'))
		return NULL;
	while (*p && node) {
		tok = token_decode(p + 1, &p);
		if (!tok)
			return NULL;
		node = child(node, tok);
		free(tok);
	}
	return node;
}

/* Split pointer into the container its last token lives in (borrowed,
 * in doc) and that last token (malloc'd, caller frees). NULL when the
 * pointer is "" (no parent), malformed, or the parent does not resolve. */
static json_t *resolve_parent(json_t *doc, const char *pointer, char **last)
{
	const char *slash = strrchr(pointer, '/');
	const char *end;
	char *head;
	json_t *parent;

	*last = NULL;
	if (!slash || pointer[0] != '/')
		return NULL;
	head = strndup(pointer, (size_t)(slash - pointer));
	if (!head)
		return NULL;
	parent = jsonpointer_get(doc, head);
	free(head);
	if (!parent)
		return NULL;
	*last = token_decode(slash + 1, &end);
	return *last ? parent : NULL;
}

/* RFC 6902 4.1 add: upsert into an object; insert into an array at an
 * index up to its size, or at "-" (the end). Steals value. *why is
 * refined when the index is what is wrong. */
static int op_add(json_t **doc, const char *path, json_t *value,
		  const char **why)
{
	json_t *parent;
	char *tok;
	long idx;
	int ret = -EINVAL;

	if (!*path) {
		json_decref(*doc);
		*doc = value;
		return 0;
	}
	parent = resolve_parent(*doc, path, &tok);
	if (!parent)
		goto out_value;
	if (json_is_object(parent)) {
		ret = json_object_set_new(parent, tok, value) ? -ENOMEM : 0;
		goto out_tok;
	}
	if (json_is_array(parent)) {
		if (strcmp(tok, "-") == 0) {
			ret = json_array_append_new(parent, value) ? -ENOMEM : 0;
			goto out_tok;
		}
		idx = array_index(tok, json_array_size(parent) + 1);
		if (idx >= 0) {
			ret = json_array_insert_new(parent, (size_t)idx, value) ?
			      -ENOMEM : 0;
			goto out_tok;
		}
		*why = "an array index is 0 to the array's size, without leading zeros, or -";
	}
out_value:
	json_decref(value);
out_tok:
	free(tok);
	return ret;
}

/* RFC 6902 4.2 remove. The whole document cannot be removed: there is
 * nothing to leave in its place. If taken is not NULL, the removed value
 * is handed back to it (a new reference), for move. */
static int op_remove(json_t *doc, const char *path, json_t **taken)
{
	json_t *parent, *target;
	char *tok;
	long idx;
	int ret = -EINVAL;

	parent = resolve_parent(doc, path, &tok);
	if (!parent)
		goto out_tok;
	target = child(parent, tok);
	if (!target)
		goto out_tok;
	if (taken)
		*taken = json_incref(target);
	if (json_is_object(parent)) {
		json_object_del(parent, tok);
	} else {
		idx = array_index(tok, json_array_size(parent));
		json_array_remove(parent, (size_t)idx);
	}
	ret = 0;
out_tok:
	free(tok);
	return ret;
}

/* RFC 6902 4.3 replace: the target must exist; it is changed in place so
 * that an object keeps its key order and an array its length. Steals
 * value. */
static int op_replace(json_t **doc, const char *path, json_t *value)
{
	json_t *parent;
	char *tok;
	int ret = -EINVAL;

	if (!*path) {
		json_decref(*doc);
		*doc = value;
		return 0;
	}
	parent = resolve_parent(*doc, path, &tok);
	if (!parent || !child(parent, tok)) {
		json_decref(value);
		goto out_tok;
	}
	if (json_is_object(parent))
		ret = json_object_set_new(parent, tok, value) ? -ENOMEM : 0;
	else
		ret = json_array_set_new(parent, (size_t)array_index(tok,
				json_array_size(parent)), value) ? -ENOMEM : 0;
out_tok:
	free(tok);
	return ret;
}

/* RFC 6902 4.6: numbers are equal by value, whatever their JSON type;
 * jansson's json_equal() would call 1 and 1.0 different. */
static int json_same(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *va;
	size_t i, klen;

	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (i = 0; i < json_array_size(a); i++)
			if (!json_same(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		/* keylen: a key may hold NUL (JSON "\u0000") */
		json_object_keylen_foreach((json_t *)a, key, klen, va) {
			json_t *vb = json_object_getn(b, key, klen);

			if (!vb || !json_same(va, vb))
				return 0;
		}
		return 1;
	}
	return json_equal(a, b);  /* strings, true, false, null */
}

static const char *const op_names[] = {
	"add", "remove", "replace", "move", "copy", "test", NULL
};

/* Apply one operation to *doc (which it may replace). 0 or -errno;
 * *why says what went wrong for the error line. */
static int apply_one(json_t **doc, const json_t *op, const char **why)
{
	json_t *jpath = json_object_get(op, "path"), *jfrom;
	json_t *value = json_object_get(op, "value"), *src, *moved = NULL;
	const char *name, *path, *from = NULL;
	size_t k, flen;

	name = json_string_value(json_object_get(op, "op"));
	path = json_string_value(jpath);
	*why = "needs \"op\" and \"path\" strings";
	if (!name || !path)
		return -EINVAL;
	for (k = 0; op_names[k] && strcmp(name, op_names[k]) != 0; k++)
		;
	*why = "op is not add, remove, replace, move, copy or test";
	if (!op_names[k])
		return -EINVAL;
	*why = "a pointer is \"\" or /-separated tokens, with ~0 for ~ and ~1 for /";
	if (strlen(path) != json_string_length(jpath) || !pointer_ok(path))
		return -EINVAL;
	if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
		jfrom = json_object_get(op, "from");
		from = json_string_value(jfrom);
		if (!from) {
			*why = "needs a \"from\" string";
			return -EINVAL;
		}
		*why = "\"from\" is \"\" or /-separated tokens, with ~0 for ~ and ~1 for /";
		if (strlen(from) != json_string_length(jfrom) || !pointer_ok(from))
			return -EINVAL;
	} else if (strcmp(name, "remove") != 0) {
		*why = "needs a \"value\"";
		if (!value)
			return -EINVAL;
	}

	*why = "path does not exist";
	if (strcmp(name, "add") == 0)
		return op_add(doc, path, json_deep_copy(value), why);
	if (strcmp(name, "remove") == 0) {
		if (!*path)
			*why = "cannot remove the whole document";
		return op_remove(*doc, path, NULL);
	}
	if (strcmp(name, "replace") == 0)
		return op_replace(doc, path, json_deep_copy(value));
	if (strcmp(name, "test") == 0) {
		src = jsonpointer_get(*doc, path);
		if (src)
			*why = "test failed: the value differs";
		return src && json_same(src, value) ? 0 : -EINVAL;
	}

	/* move and copy */
	*why = "\"from\" does not exist";
	src = jsonpointer_get(*doc, from);
	if (!src)
		return -EINVAL;
	*why = "path does not exist";
	if (strcmp(name, "copy") == 0)
		return op_add(doc, path, json_deep_copy(src), why);
	flen = strlen(from);
	*why = "cannot move a value into itself";
	if (strncmp(path, from, flen) == 0 && path[flen] == '/')
		return -EINVAL;
	if (strcmp(path, from) == 0)
		return 0;
	/* from is not "" here: "" is a prefix of every other path */
	if (op_remove(*doc, from, &moved))
		return -EINVAL;
	*why = "path does not exist";
	return op_add(doc, path, moved, why);
}

json_t *jsonpatch_apply(const json_t *doc, const json_t *patch,
			struct dfs_error *err)
{
	json_t *copy, *op;
	const char *why, *name, *path;
	size_t i;
	int ret;

	if (!doc || !json_is_array(patch)) {
		dfs_error_set(err, EINVAL, "patch: a JSON array of operations is required");
		return NULL;
	}
	copy = json_deep_copy(doc);
	if (!copy) {
		dfs_error_set(err, ENOMEM, "patch: out of memory");
		return NULL;
	}
	json_array_foreach(patch, i, op) {
		why = "is not an object";
		ret = json_is_object(op) ? apply_one(&copy, op, &why) : -EINVAL;
		if (ret == 0 && !copy)
			ret = -ENOMEM;
		if (ret == 0)
			continue;
		name = json_string_value(json_object_get(op, "op"));
		path = json_string_value(json_object_get(op, "path"));
		if (ret == -ENOMEM)
			why = "out of memory";
		if (!path || !*path)
			path = "\"\"";
		dfs_error_set(err, -ret, "patch operation %zu (%s %.*s): %s", i,
			      name ? name : "?", PTR_SHOW, path, why);
		json_decref(copy);
		return NULL;
	}
	return copy;
}

/* json_string() fails both for a lack of memory and for a string that is
 * not UTF-8; the second is the caller's error and deserves EINVAL. */
static int string_error(const char *str)
{
	json_t *t = json_string_nocheck(str);

	json_decref(t);
	return t ? -EINVAL : -ENOMEM;
}

int jsonpatch_append(json_t *patch, const char *op, const char *path,
		     json_t *value)
{
	json_t *o, *s;
	int ret = -EINVAL;

	if (!json_is_array(patch) || !op || !path)
		goto out_value;
	ret = -ENOMEM;
	o = json_object();
	if (!o)
		goto out_value;
	/* json_object_set_new() steals the value even when it fails. */
	if (!(s = json_string(op))) {
		ret = string_error(op);
		goto out_object;
	}
	if (json_object_set_new(o, "op", s))
		goto out_object;
	if (!(s = json_string(path))) {
		ret = string_error(path);
		goto out_object;
	}
	if (json_object_set_new(o, "path", s))
		goto out_object;
	if (value) {
		s = value;
		value = NULL;
		if (json_object_set_new(o, "value", s))
			goto out_object;
	}
	return json_array_append_new(patch, o) ? -ENOMEM : 0;

out_object:
	json_decref(o);
out_value:
	json_decref(value);
	return ret;
}

int jsonpointer_escape(const char *token, char *out, size_t outsz)
{
	size_t o = 0;
	const char *p;

	for (p = token; *p; p++) {
		const char *rep = *p == '~' ? "~0" : *p == '/' ? "~1" : NULL;
		size_t n = rep ? 2 : 1;

		if (o + n >= outsz)
			goto too_long;
		if (rep)
			memcpy(out + o, rep, 2);
		else
			out[o] = *p;
		o += n;
	}
	if (o >= outsz)
		goto too_long;
	out[o] = '\0';
	return (int)o;

too_long:
	if (outsz)
		out[0] = '\0';
	return -ENAMETOOLONG;
}
