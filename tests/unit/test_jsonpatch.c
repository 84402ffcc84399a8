/* test_jsonpatch.c - RFC 6902/6901 against the json-patch-tests suite, the
 * RFC's appendix examples and our own cases (data/jsonpatch/). */
#include "jsonpatch.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

static char *dump(const json_t *j)
{
	return json_dumps(j, JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_COMPACT);
}

static void run_record(const char *file, size_t i, json_t *rec)
{
	json_t *doc = json_object_get(rec, "doc");
	json_t *patch = json_object_get(rec, "patch");
	json_t *expected = json_object_get(rec, "expected");
	json_t *res;
	const char *comment = json_string_value(json_object_get(rec, "comment"));
	struct dfs_error err = { 0, "untouched" };
	char *before, *after, *got;

	before = dump(doc);
	res = jsonpatch_apply(doc, patch, &err);
	after = dump(doc);
	CHECK_STR(after, before);       /* doc is never modified */

	if (json_object_get(rec, "error")) {
		if (res) {
			got = dump(res);
			fprintf(stderr, "%s #%zu (%s): applied, want an error: %s\n",
				file, i, comment ? comment : "", got);
			free(got);
		}
		CHECK(res == NULL);
		CHECK_INT(err.code, EINVAL);
		CHECK(strncmp(err.msg, "patch", 5) == 0);
	} else {
		if (!res)
			fprintf(stderr, "%s #%zu (%s): %s\n", file, i,
				comment ? comment : "", err.msg);
		CHECK(res != NULL);
		CHECK_STR(err.msg, "untouched");
		if (res && expected && !json_equal(res, expected)) {
			got = dump(res);
			fprintf(stderr, "%s #%zu (%s): got %s\n", file, i,
				comment ? comment : "", got);
			free(got);
			unit_fail++;
		} else {
			unit_pass++;
		}
	}
	json_decref(res);
	free(before);
	free(after);
}

static int run_file(const char *path)
{
	json_error_t jerr;
	json_t *all = json_load_file(path, JSON_ALLOW_NUL, &jerr), *rec;
	size_t i;
	int n = 0;

	if (!all) {
		fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
		unit_fail++;
		return 0;
	}
	json_array_foreach(all, i, rec) {
		if (!json_object_get(rec, "doc") ||
		    json_is_true(json_object_get(rec, "disabled")))
			continue;
		run_record(path, i, rec);
		n++;
	}
	json_decref(all);
	return n;
}

static void test_pointer(void)
{
	json_t *doc = json_loads("{\"a\":[10,{\"b/c\":1,\"d~e\":2}],\"\":3}", 0, NULL);
	char buf[16];

	CHECK(jsonpointer_get(doc, "") == doc);
	CHECK_INT(json_integer_value(jsonpointer_get(doc, "/a/0")), 10);
	CHECK_INT(json_integer_value(jsonpointer_get(doc, "/a/1/b~1c")), 1);
	CHECK_INT(json_integer_value(jsonpointer_get(doc, "/a/1/d~0e")), 2);
	CHECK_INT(json_integer_value(jsonpointer_get(doc, "/")), 3);
	CHECK(jsonpointer_get(doc, "/a/01") == NULL);
	CHECK(jsonpointer_get(doc, "/a/2") == NULL);
	CHECK(jsonpointer_get(doc, "/a/-") == NULL);
	CHECK(jsonpointer_get(doc, "/a/1/d~2e") == NULL);
	CHECK(jsonpointer_get(doc, "a") == NULL);
	CHECK(jsonpointer_get(doc, "/a/0/x") == NULL);
	CHECK(jsonpointer_get(doc, NULL) == NULL);
	CHECK(jsonpointer_get(NULL, "") == NULL);
	json_decref(doc);

	CHECK_INT(jsonpointer_escape("a/b~c", buf, sizeof(buf)), 7);
	CHECK_STR(buf, "a~1b~0c");
	CHECK_INT(jsonpointer_escape("", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	CHECK_INT(jsonpointer_escape("abcdefghijklmno", buf, sizeof(buf)), 15);
	CHECK_INT(jsonpointer_escape("abcdefghijklmnop", buf, sizeof(buf)),
		  -ENAMETOOLONG);
	CHECK_STR(buf, "");
	CHECK_INT(jsonpointer_escape("abcdefghijklmn/", buf, sizeof(buf)),
		  -ENAMETOOLONG);
	CHECK_INT(jsonpointer_escape("x", buf, 1), -ENAMETOOLONG);
	CHECK_INT(jsonpointer_escape("x", buf, 0), -ENAMETOOLONG);
}

static void test_append(void)
{
	json_t *patch = json_array(), *doc, *res;
	struct dfs_error err;
	char *s;

	CHECK_INT(jsonpatch_append(patch, "add", "/os_distro",
				   json_string("debian")), 0);
	CHECK_INT(jsonpatch_append(patch, "remove", "/os_version", NULL), 0);
	CHECK_INT(jsonpatch_append(patch, "add", "/min_ram", json_integer(512)), 0);
	s = json_dumps(patch, JSON_COMPACT);
	CHECK_STR(s, "[{\"op\":\"add\",\"path\":\"/os_distro\",\"value\":\"debian\"},"
		  "{\"op\":\"remove\",\"path\":\"/os_version\"},"
		  "{\"op\":\"add\",\"path\":\"/min_ram\",\"value\":512}]");
	free(s);

	/* Misuse is EINVAL, and value is still consumed (valgrind sees it). */
	CHECK_INT(jsonpatch_append(NULL, "add", "/x", json_string("v")), -EINVAL);
	CHECK_INT(jsonpatch_append(patch, "add", "/\xff", json_string("v")),
		  -EINVAL);
	CHECK_INT(json_array_size(patch), 3);

	doc = json_loads("{\"os_version\":\"12\",\"min_ram\":0,\"name\":\"n\"}", 0, NULL);
	res = jsonpatch_apply(doc, patch, &err);
	s = json_dumps(res, JSON_COMPACT);
	/* replace and add keep an existing key where it was */
	CHECK_STR(s, "{\"min_ram\":512,\"name\":\"n\",\"os_distro\":\"debian\"}");
	free(s);
	json_decref(res);

	/* The error line names the operation and says why. */
	json_array_clear(patch);
	jsonpatch_append(patch, "test", "/name", json_string("n"));
	jsonpatch_append(patch, "replace", "/nope", json_string("x"));
	CHECK(jsonpatch_apply(doc, patch, &err) == NULL);
	CHECK_STR(err.msg, "patch operation 1 (replace /nope): path does not exist");
	CHECK(jsonpatch_apply(NULL, patch, &err) == NULL);
	CHECK_INT(err.code, EINVAL);
	CHECK(jsonpatch_apply(doc, NULL, NULL) == NULL);

	json_decref(doc);
	json_decref(patch);
}

int main(void)
{
	int n = 0;

	n += run_file("data/jsonpatch/spec_tests.json");
	n += run_file("data/jsonpatch/tests.json");
	n += run_file("data/jsonpatch/deployfs.json");
	printf("jsonpatch: %d data cases\n", n);
	test_pointer();
	test_append();
	return unit_done("test_jsonpatch");
}
