/* fuzz_jsonpatch.c - libFuzzer target for JSON Patch and JSON Pointer.
 *
 * Run without a corpus (from the top of the tree):
 *   make fuzz && build-fuzz/fuzz_jsonpatch -max_total_time=60 -max_len=4096 \
 *       -dict=tests/fuzz/fuzz_jsonpatch.dict
 * (the dictionary only helps the text mode; it works without it too)
 *
 * Two modes, by the first byte, because random bytes seldom form a valid
 * document and patch:
 *   even: text mode, "doc\npatch" as JSON text, which also fuzzes whatever
 *         a client could send;
 *   odd:  built mode, the bytes pick operations, pointers (any bytes, NUL
 *         included) and values to run against a fixed nested document.
 * Besides memory errors and leaks it checks the header's promises: the
 * document is never modified, a failure fills the error, and a result
 * tests equal to itself.
 */
#include "jsonpatch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = {
	"add", "remove", "replace", "move", "copy", "test", "nope"
};

static const char base_doc[] =
	"{\"a\":{\"b\":[1,2,{\"c\":\"d\"}],\"e~f\":null,\"g/h\":true},"
	"\"arr\":[[],{},[0,[1,[2]]]],\"\":0,\"n\":1.5,\"01\":\"x\"}";

/* Take bytes up to the next '\n' (or the end) from *p. */
static json_t *take_string(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	const uint8_t *stop = nl ? nl : end;
	json_t *s = json_stringn_nocheck((const char *)*p, (size_t)(stop - *p));

	*p = nl ? nl + 1 : end;
	return s;
}

static json_t *pick_value(uint8_t b, json_t *doc)
{
	switch (b % 6) {
	case 0: return json_integer(b);
	case 1: return json_real(1.0);
	case 2: return json_string("x");
	case 3: return json_null();
	case 4: return json_pack("{s:[i,{}]}", "k", 1);
	default: return json_deep_copy(doc);
	}
}

static json_t *build_patch(const uint8_t *p, const uint8_t *end, json_t *doc)
{
	json_t *patch = json_array(), *op;
	uint8_t b;

	while (p < end && json_array_size(patch) < 16) {
		b = *p++;
		op = json_object();
		json_object_set_new(op, "op", json_string(ops[b % 7]));
		if (b & 0x80 || p == end)   /* sometimes no path at all */
			json_object_set_new(op, "path", take_string(&p, end));
		if ((b >> 3) % 7 == 3 || (b >> 3) % 7 == 4)
			json_object_set_new(op, "from", take_string(&p, end));
		if (b & 0x40)
			json_object_set_new(op, "value", pick_value(b >> 3, doc));
		json_array_append_new(patch, op);
	}
	return patch;
}

static void check_apply(json_t *doc, json_t *patch)
{
	json_t *res, *probe, *same;
	struct dfs_error err;
	char *before, *after;

	before = json_dumps(doc, JSON_ENCODE_ANY | JSON_SORT_KEYS);
	err.code = 0;
	res = jsonpatch_apply(doc, patch, &err);
	after = json_dumps(doc, JSON_ENCODE_ANY | JSON_SORT_KEYS);
	if (!before || !after || strcmp(before, after))
		abort();
	if (!res && (err.code == 0 || !err.msg[0]))
		abort();
	if (res) {
		probe = json_array();
		jsonpatch_append(probe, "test", "", json_deep_copy(res));
		same = jsonpatch_apply(res, probe, NULL);
		if (!same)
			abort();
		json_decref(same);
		json_decref(probe);
	}
	json_decref(res);
	free(before);
	free(after);
}

static void check_pointer(json_t *doc, const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size), esc[64];
	int n;

	if (!s)
		return;
	n = jsonpointer_escape(s, esc, sizeof(esc));
	if (n >= 0 && (size_t)n != strlen(esc))
		abort();
	jsonpointer_get(doc, s);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl;
	json_t *doc = NULL, *patch = NULL;
	size_t dlen;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		doc = json_loads(base_doc, 0, NULL);
		patch = build_patch(data + 1, data + size, doc);
	} else {
		nl = memchr(data + 1, '\n', size - 1);
		if (!nl)
			return 0;
		dlen = (size_t)(nl - data - 1);
		doc = json_loadb((const char *)data + 1, dlen,
				 JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		patch = json_loadb((const char *)nl + 1, size - dlen - 2,
				   JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	}
	if (doc && patch) {
		check_apply(doc, patch);
		check_pointer(doc, data + 1, size - 1);
	}
	json_decref(doc);
	json_decref(patch);
	return 0;
}
