/* test_storedoc.c - the shape checks of store documents: the cases in
 * data/storedoc/cases.json, every document of examples/demo-store, and the
 * limits that are easier to build here than to write down. */
#include "storedoc.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#define DEMO "../../examples/demo-store"

static enum dfs_kind kind_of(const char *dir)
{
	for (int k = 0; k < DFS_KIND_COUNT; k++)
		if (strcmp(dfs_kind_dir((enum dfs_kind)k), dir) == 0)
			return (enum dfs_kind)k;
	return DFS_KIND_COUNT;
}

static void run_case(size_t i, json_t *rec)
{
	const char *comment = json_string_value(json_object_get(rec, "comment"));
	enum dfs_kind k = kind_of(json_string_value(json_object_get(rec, "kind")));
	json_t *want = json_object_get(rec, "error");
	json_t *doc = json_object_get(rec, "doc");
	struct dfs_error err = { 0, "untouched" };
	char *text;
	json_t *got;

	CHECK(k != DFS_KIND_COUNT);
	if (doc)
		text = json_dumps(doc, JSON_COMPACT);
	else
		text = strdup(json_string_value(json_object_get(rec, "text")));
	got = dfs_storedoc_load(k, "x", text, strlen(text), &err);
	if (!want) {
		if (!got)
			fprintf(stderr, "case %zu (%s): refused: %s\n", i, comment, err.msg);
		CHECK(got != NULL);
		CHECK_STR(err.msg, "untouched");
		CHECK_STR(json_string_value(json_object_get(got, "id")), "x");
	} else {
		if (got)
			fprintf(stderr, "case %zu (%s): accepted\n", i, comment);
		CHECK(got == NULL);
		CHECK_INT(err.code, EIO);
		CHECK(strchr(err.msg, '\n') == NULL);
		if (json_is_string(want))
			CHECK_STR(err.msg, json_string_value(want));
		else    /* any message, as long as it names the file */
			CHECK(strncmp(err.msg, "store ", 6) == 0 && strstr(err.msg, "/x.json: "));
		/* a secret is never quoted back */
		CHECK(strstr(err.msg, "s3cr") == NULL);
	}
	json_decref(got);
	free(text);
}

static int run_cases(const char *path)
{
	json_error_t jerr;
	json_t *all = json_load_file(path, 0, &jerr), *rec;
	size_t i;

	if (!all) {
		fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
		unit_fail++;
		return 0;
	}
	json_array_foreach(all, i, rec)
		run_case(i, rec);
	i = json_array_size(all);
	json_decref(all);
	return (int)i;
}

/* Every document of the demo store loads as it is. */
static int demo_store(void)
{
	int n = 0;

	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		char dir[256], path[600];
		struct dirent *de;
		DIR *d;

		snprintf(dir, sizeof(dir), DEMO "/%s", dfs_kind_dir((enum dfs_kind)k));
		d = opendir(dir);
		CHECK(d != NULL);
		while (d && (de = readdir(d))) {
			struct dfs_error err = { 0 };
			size_t len = strlen(de->d_name);
			json_error_t jerr;
			char id[256], *text;
			json_t *doc, *got;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			snprintf(id, sizeof(id), "%.*s", (int)(len - 5), de->d_name);
			doc = json_load_file(path, 0, &jerr);
			text = json_dumps(doc, 0);
			got = dfs_storedoc_load((enum dfs_kind)k, id, text, strlen(text), &err);
			if (!got)
				fprintf(stderr, "%s: %s\n", path, err.msg);
			CHECK(got != NULL && json_equal(got, doc));
			json_decref(got);
			json_decref(doc);
			free(text);
			n++;
		}
		if (d)
			closedir(d);
	}
	return n;
}

static void limits(void)
{
	struct dfs_error err = { 0 };
	size_t big = DFS_STOREDOC_MAX;
	char *text = malloc(big + 2);
	json_t *doc;

	/* exactly 1 MiB: accepted (spaces are JSON) */
	memset(text, ' ', big);
	memcpy(text, "{}", 2);
	doc = dfs_storedoc_load(DFS_APP, "x", text, big, &err);
	CHECK(doc != NULL);
	json_decref(doc);
	/* one byte more: refused before it is parsed */
	doc = dfs_storedoc_load(DFS_APP, "x", text, big + 1, &err);
	CHECK(doc == NULL);
	CHECK_STR(err.msg, "store apps/x.json: 1048577 bytes; a document holds at most 1048576 (1 MiB)");
	free(text);

	/* the file name is the id, whatever the document says */
	doc = dfs_storedoc_load(DFS_APP, "abc", "{\"id\": \"other\"}", 15, &err);
	CHECK_STR(json_string_value(json_object_get(doc, "id")), "abc");
	json_decref(doc);
	doc = dfs_storedoc_load(DFS_APP, "abc", "{\"id\": {\"x\": 1}}", 16, &err);
	CHECK_STR(json_string_value(json_object_get(doc, "id")), "abc");
	json_decref(doc);
	/* names that cannot be ids */
	CHECK(dfs_storedoc_load(DFS_APP, ".hidden", "{}", 2, &err) == NULL);
	CHECK_STR(err.msg, "store apps: \".hidden\" cannot name a document");
	CHECK(dfs_storedoc_load(DFS_APP, "", "{}", 2, &err) == NULL);
	CHECK(dfs_storedoc_load(DFS_APP, "a\xff", "{}", 2, &err) == NULL);
	CHECK_STR(err.msg, "store apps/a\xff.json: the file name is not UTF-8");
	CHECK_INT(err.code, EIO);

	CHECK(dfs_storedoc_id_ok("550e8400-e29b-41d4-a716-446655440000"));
	CHECK(!dfs_storedoc_id_ok("a/b"));
	CHECK(!dfs_storedoc_id_ok(NULL));
	text = malloc(202);
	memset(text, 'a', 201);
	text[201] = '\0';
	CHECK(!dfs_storedoc_id_ok(text));
	text[200] = '\0';
	CHECK(dfs_storedoc_id_ok(text));
	free(text);

	/* check() on its own: no "store" prefix, -EINVAL */
	doc = json_pack("{s:{s:{s:i}}}", "source", "image", "tag", 5);
	CHECK_INT(dfs_storedoc_check(DFS_APP, doc, &err), -EINVAL);
	CHECK_STR(err.msg, "source.image.tag is an integer, not a string");
	CHECK_INT(dfs_storedoc_check(DFS_ENV, doc, &err), 0);   /* not read there */
	CHECK_INT(dfs_storedoc_check(DFS_KIND_COUNT, doc, &err), -EINVAL);
	json_decref(doc);
	CHECK_INT(dfs_storedoc_check(DFS_APP, json_null(), &err), -EINVAL);
	CHECK_STR(err.msg, "not a JSON object");
	CHECK_INT(dfs_storedoc_check(DFS_APP, NULL, NULL), -EINVAL);
}

int main(void)
{
	int n = run_cases("data/storedoc/cases.json");

	CHECK(n > 70);
	CHECK(demo_store() == 10);
	limits();
	return unit_done("storedoc");
}
