/* fuzz_storedoc.c - libFuzzer target for the store document loader.
 *
 * Input: one byte for the kind (environments, apps, registries, images),
 * the rest the bytes of a document. Run from the top of the tree:
 *   make fuzz && build-fuzz/fuzz_storedoc -max_total_time=60 tests/fuzz/corpus_storedoc
 *
 * Besides memory errors it checks what the loader promises: a refusal has
 * one line that names the file; an accepted document is an object whose id
 * is the file name, passes the check again, and passes it once more after
 * a round trip through the text the store itself writes.
 */
#include "storedoc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfs_error err = { 0 };
	enum dfs_kind k;
	json_t *doc, *again;
	char *text;

	if (size < 1)
		return 0;
	k = (enum dfs_kind)(data[0] % DFS_KIND_COUNT);
	doc = dfs_storedoc_load(k, "x", (const char *)data + 1, size - 1, &err);
	if (!doc) {
		if (err.code == 0 || strncmp(err.msg, "store ", 6) || strchr(err.msg, '\n') ||
		    strlen(err.msg) >= DFS_ERROR_MSG_MAX)
			abort();
		return 0;
	}
	if (!json_is_object(doc) || strcmp(json_string_value(json_object_get(doc, "id")), "x") ||
	    dfs_storedoc_check(k, doc, NULL) != 0)
		abort();
	/* what write_doc would write reads back as the same document */
	text = json_dumps(doc, JSON_INDENT(2));
	if (!text)
		abort();
	again = dfs_storedoc_load(k, "x", text, strlen(text), &err);
	if (!again || !json_equal(again, doc))
		abort();
	json_decref(again);
	free(text);
	json_decref(doc);
	return 0;
}
