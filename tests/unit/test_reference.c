/* test_reference.c - the reference grammar against distribution/reference's
 * own test tables (data/reference/valid.txt and invalid.txt). */
#include "reference.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#define LINE_MAX_ 4096
#define FIELDS 5

/* Split line at tabs into at most FIELDS fields (in place). */
static int split(char *line, char **f)
{
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	f[n++] = line;
	while (n < FIELDS && (line = strchr(line, '\t'))) {
		*line++ = '\0';
		f[n++] = line;
	}
	return n;
}

/* Decode \xHH in place, so the data files can hold spaces and controls. */
static void unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] == 'x' && s[2] && s[3]) {
			char hex[3] = { s[2], s[3], 0 };

			*o++ = (char)strtol(hex, NULL, 16);
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

static void valid_case(char **f)
{
	struct dfs_reference r, rn;
	struct dfs_error err = { 0, "untouched" };
	int ret;

	ret = dfs_reference_parse(f[0], &r, &err);
	if (ret != 0)
		fprintf(stderr, "valid \"%s\": %s\n", f[0], err.msg);
	CHECK_INT(ret, 0);
	CHECK_STR(err.msg, "untouched");
	if (ret != 0)
		return;
	CHECK_STR(r.domain, f[1]);
	CHECK_STR(r.path, f[2]);
	CHECK_STR(r.tag, f[3]);
	CHECK_STR(r.digest, f[4]);

	/* The same name without tag and digest is what the image file takes,
	 * unless it is 64 hex digits on its own: an image id. */
	ret = dfs_reference_parse_name(r.name, &rn, NULL);
	if (strlen(r.name) == 64 &&
	    strspn(r.name, "0123456789abcdef") == 64) {
		CHECK_INT(ret, -EINVAL);
		return;
	}
	CHECK_INT(ret, 0);
	CHECK_STR(rn.name, r.name);
	CHECK_STR(rn.domain, f[1]);
	CHECK_STR(rn.path, f[2]);
	CHECK_STR(rn.tag, "");
	CHECK_STR(rn.digest, "");
	if (f[3][0] || f[4][0])
		CHECK_INT(dfs_reference_parse_name(f[0], &rn, NULL), -EINVAL);
	if (f[3][0])
		CHECK_INT(dfs_tag_check(f[3], NULL), 0);
	if (f[4][0])
		CHECK_INT(dfs_digest_check(f[4], NULL), 0);
}

static void invalid_case(char **f)
{
	struct dfs_reference r;
	struct dfs_error err = { 0, "" };
	int ret;

	unescape(f[1]);
	if (strcmp(f[0], "ref") == 0)
		ret = dfs_reference_parse(f[1], &r, &err);
	else if (strcmp(f[0], "name") == 0)
		ret = dfs_reference_parse_name(f[1], &r, &err);
	else if (strcmp(f[0], "tag") == 0)
		ret = dfs_tag_check(f[1], &err);
	else
		ret = dfs_digest_check(f[1], &err);
	CHECK_INT(ret, -EINVAL);
	CHECK_INT(err.code, EINVAL);
	if (!strstr(err.msg, f[2])) {
		fprintf(stderr, "%s \"%.80s\": got \"%s\", want \"%s\"\n",
			f[0], f[1], err.msg, f[2]);
		unit_fail++;
	} else {
		unit_pass++;
	}
	/* One line, and short enough to keep its explanation. */
	CHECK(!strchr(err.msg, '\n'));
	CHECK(strlen(err.msg) < DFS_ERROR_MSG_MAX - 1);
}

static int run_file(const char *path, int want_fields,
		    void (*fn)(char **f))
{
	char line[LINE_MAX_], *f[FIELDS];
	int cases = 0;
	FILE *fp = fopen(path, "r");

	if (!fp) {
		perror(path);
		unit_fail++;
		return 0;
	}
	while (fgets(line, sizeof(line), fp)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (split(line, f) != want_fields) {
			fprintf(stderr, "%s: bad line \"%s\"\n", path, line);
			unit_fail++;
			continue;
		}
		fn(f);
		cases++;
	}
	fclose(fp);
	return cases;
}

static void test_misc(void)
{
	struct dfs_reference r;
	struct dfs_error err = { 0, "" };

	CHECK_INT(dfs_reference_parse("nginx", &r, NULL), 0);
	CHECK_STR(r.name, "nginx");
	CHECK_STR(r.tag, "");           /* the caller defaults to latest */
	CHECK_STR(dfs_reference_registry_host(&r), "registry-1.docker.io");
	CHECK_INT(dfs_reference_parse("index.docker.io/x/y:1", &r, NULL), 0);
	CHECK_STR(r.name, "index.docker.io/x/y");
	CHECK_STR(dfs_reference_registry_host(&r), "registry-1.docker.io");
	CHECK_INT(dfs_reference_parse("ghcr.io/org/app:v9", &r, NULL), 0);
	CHECK_STR(dfs_reference_registry_host(&r), "ghcr.io");
	CHECK_INT(dfs_reference_parse("[::1]:5000/x", &r, NULL), 0);
	CHECK_STR(dfs_reference_registry_host(&r), "[::1]:5000");

	CHECK_INT(dfs_reference_parse(NULL, &r, &err), -EINVAL);
	CHECK_INT(dfs_tag_check(NULL, &err), -EINVAL);
	CHECK_INT(dfs_digest_check(NULL, &err), -EINVAL);

	/* The exact lines a writer reads in error (the README quotes the tag one). */
	dfs_reference_parse_name("Nginx", &r, &err);
	CHECK_STR(err.msg, "image \"Nginx\": repository names are lowercase "
		  "letters, digits and separators (. _ __ -)");
	dfs_tag_check("v2 beta", &err);
	CHECK_STR(err.msg, "tag \"v2 beta\": tags are "
		  "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");

	/* A long value is cut in the message, the rule is not. */
	{
		char big[400];

		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		CHECK_INT(dfs_tag_check(big, &err), -EINVAL);
		CHECK(strstr(err.msg, "...\": tags are [A-Za-z0-9_]") != NULL);
	}
}

int main(void)
{
	int nv, ni;

	nv = run_file("data/reference/valid.txt", 5, valid_case);
	ni = run_file("data/reference/invalid.txt", 3, invalid_case);
	printf("reference: %d valid and %d invalid cases\n", nv, ni);
	CHECK(nv >= 60);
	CHECK(ni >= 40);
	test_misc();
	return unit_done("test_reference");
}
