/* test_names.c - directory names: escaping, cutting, duplicates, and
 * independence from input order. */
#include "names.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#define ID1 "3f2a9c1d-5b6e-4f70-8a9b-0c1d2e3f4a5b"
#define ID2 "77aa01bb-0000-4000-8000-000000000001"

/* Assign names to n siblings given as name/id pairs, NUL-terminated
 * names; returns the malloc'd outputs (caller frees with free_all). */
static char **assign(size_t n, const char *const *names, const char *const *ids)
{
	struct dfs_name_in *in = calloc(n, sizeof(*in));
	char **out = calloc(n, sizeof(*out));
	size_t i;

	for (i = 0; i < n; i++) {
		in[i].name = names[i];
		in[i].len = strlen(names[i]);
		in[i].id = ids[i];
	}
	CHECK_INT(dfs_names_assign(in, n, out), 0);
	free(in);
	return out;
}

static void free_all(char **out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(out[i]);
	free(out);
}

/* One name alone. */
static void one(const char *name, size_t len, const char *id, const char *want)
{
	struct dfs_name_in in = { name, len, id };
	char *out = NULL;

	CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
	CHECK_STR(out, want);
	free(out);
}

static int valid_utf8(const unsigned char *s)
{
	while (*s) {
		int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 :
			(*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;

		if (n < 0)
			return 0;
		for (s++; n > 0; n--, s++)
			if ((*s & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* What every output must be, whatever the input. */
static void check_invariants(char **out, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		size_t len = strlen(out[i]);

		CHECK(len > 0 && len <= DFS_FILENAME_MAX);
		CHECK(!strchr(out[i], '/'));
		CHECK(strcmp(out[i], ".") && strcmp(out[i], ".."));
		for (j = 0; j < i; j++)
			if (strcmp(out[i], out[j]) == 0) {
				fprintf(stderr, "duplicate output \"%s\"\n", out[i]);
				unit_fail++;
			}
	}
}

static void test_safe(void)
{
	char n255[256];

	one("Debian 12", 9, ID1, "Debian 12");
	one("100%", 4, ID1, "100%");
	one("a%2Fb", 5, ID1, "a%2Fb");
	one("...", 3, ID1, "...");
	one(".hidden", 7, ID1, ".hidden");
	one("web@3f2a9c1d", 12, ID1, "web@3f2a9c1d");
	one(" ", 1, ID1, " ");
	one("tab\there", 8, ID1, "tab\there");
	one("d\xc3\xa9" "bian \xe2\x82\xac", 11, ID1, "d\xc3\xa9" "bian \xe2\x82\xac");
	memset(n255, 'n', 255);
	n255[255] = '\0';
	one(n255, 255, ID1, n255);
}

static void test_unsafe(void)
{
	one("a/b", 3, ID1, "a%2Fb");
	one("100%/x", 6, ID1, "100%25%2Fx");
	one("/", 1, ID1, "%2F");
	one(".", 1, ID1, "%2E");
	one("..", 2, ID1, "%2E%2E");
	one("a\0b", 3, ID1, "a%00b");
	one("\0", 1, ID1, "%00");
	one("", 0, ID1, ID1);
	one(NULL, 0, ID1, ID1);
	one("", 0, "id/with/slash", "id%2Fwith%2Fslash");
	one("", 0, "..", "%2E%2E");
	one("", 0, "", "@");
	one("", 0, NULL, "@");
}

static void test_long(void)
{
	char name[400], want[300], *out;
	struct dfs_name_in in = { name, 0, ID1 };
	int i;

	/* plain: 246 bytes + "@" + 8 = 255 */
	memset(name, 'a', 300);
	in.len = 300;
	memset(want, 'a', 246);
	strcpy(want + 246, "@3f2a9c1d");
	CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
	CHECK_STR(out, want);
	CHECK_INT(strlen(out), 255);
	free(out);

	/* "x" + 100 x 3-byte euro signs: a cut at 246 would split one */
	name[0] = 'x';
	for (i = 0; i < 100; i++)
		memcpy(name + 1 + 3 * i, "\xe2\x82\xac", 3);
	in.len = 301;
	CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
	CHECK_INT(strlen(out), 1 + 81 * 3 + 9);
	CHECK(valid_utf8((unsigned char *)out));
	CHECK_STR(out + 1 + 81 * 3, "@3f2a9c1d");
	free(out);

	/* 4-byte sequences, every offset */
	for (i = 0; i < 4; i++) {
		int k;

		memset(name, 'y', (size_t)i);
		for (k = 0; k < 80; k++)
			memcpy(name + i + 4 * k, "\xf0\x9f\x90\xb3", 4);
		in.len = (size_t)i + 320;
		CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
		CHECK(strlen(out) <= 255 && strlen(out) >= 252);
		CHECK(valid_utf8((unsigned char *)out));
		free(out);
	}

	/* "a" + 100 slashes: 1 + 300 bytes escaped; never cut inside %2F */
	name[0] = 'a';
	memset(name + 1, '/', 100);
	in.len = 101;
	CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
	CHECK_INT(strlen(out), 1 + 81 * 3 + 9);
	CHECK(strncmp(out + 1 + 80 * 3, "%2F@3f2a9c1d", 12) == 0);
	free(out);

	/* long and '%': escaped, because a long name is unsafe */
	memset(name, '%', 300);
	in.len = 300;
	CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
	CHECK(strncmp(out, "%25%25", 6) == 0);
	CHECK_INT(strlen(out), 82 * 3 + 9);
	free(out);

	/* Exactly 255 is kept; 256 is cut. */
	memset(name, 'b', 256);
	in.len = 255;
	CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
	CHECK_INT(strlen(out), 255);
	CHECK(!strchr(out, '@'));
	free(out);
	in.len = 256;
	CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
	CHECK_INT(strlen(out), 255);
	CHECK_STR(out + 246, "@3f2a9c1d");
	free(out);

	/* A huge id does not crowd the name out. */
	{
		char id[600];

		memset(id, 'f', sizeof(id) - 1);
		id[sizeof(id) - 1] = '\0';
		in.id = id;
		in.len = 300;
		memset(name, 'c', 300);
		CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
		CHECK_INT(strlen(out), 255 - 9 + 9);
		free(out);
		in.name = "";
		in.len = 0;
		CHECK_INT(dfs_names_assign(&in, 1, &out), 0);
		CHECK(strlen(out) <= 255);
		CHECK(strchr(out, '@') != NULL);
		free(out);
		in.name = name;
		in.id = ID1;
	}
}

static void test_duplicates(void)
{
	char **out;

	{
		const char *names[] = { "web", "web", "api" };
		const char *ids[] = { ID1, ID2, "abc" };

		out = assign(3, names, ids);
		CHECK_STR(out[0], "web@3f2a9c1d");
		CHECK_STR(out[1], "web@77aa01bb");
		CHECK_STR(out[2], "api");
		free_all(out, 3);
	}
	{       /* the literal keeps its name; the suffixed one climbs */
		const char *names[] = { "web", "web@3f2a9c1d", "web" };
		const char *ids[] = { ID1, "zz", ID2 };

		out = assign(3, names, ids);
		CHECK_STR(out[0], "web@3f2a9c1d-5b6e-4f");
		CHECK_STR(out[1], "web@3f2a9c1d");
		CHECK_STR(out[2], "web@77aa01bb");
		check_invariants(out, 3);
		free_all(out, 3);
	}
	{       /* literals at every rung: the suffixed one climbs past all */
		const char *names[] = { "web", "web", "web@3f2a9c1d",
					"web@3f2a9c1d-5b6e-4f",
					"web@3f2a9c1d-5b6e-4f70-8a9b-0c1d2e3f",
					"web@" ID1 };
		const char *ids[] = { ID1, ID2, "a", "b", "c", "d" };

		out = assign(6, names, ids);
		CHECK_STR(out[0], "web@" ID1 "~1");
		CHECK_STR(out[1], "web@77aa01bb");
		CHECK_STR(out[2], names[2]);
		CHECK_STR(out[3], names[3]);
		CHECK_STR(out[4], names[4]);
		CHECK_STR(out[5], names[5]);
		free_all(out, 6);
	}
	{       /* ids that share 8, then 16 characters */
		const char *names[] = { "web", "web", "web" };
		const char *ids[] = { "3f2a9c1d00000000aaaa", "3f2a9c1d00000000bbbb",
				      "3f2a9c1d11111111" };

		out = assign(3, names, ids);
		CHECK_STR(out[0], "web@3f2a9c1d00000000aaaa");
		CHECK_STR(out[1], "web@3f2a9c1d00000000bbbb");
		CHECK_STR(out[2], "web@3f2a9c1d11111111");
		free_all(out, 3);
	}
	{       /* same name, same id: a counter */
		const char *names[] = { "web", "web", "web" };
		const char *ids[] = { "abc", "abc", "abc" };

		out = assign(3, names, ids);
		check_invariants(out, 3);
		CHECK(strncmp(out[0], "web@abc~", 8) == 0);
		CHECK(strncmp(out[1], "web@abc~", 8) == 0);
		CHECK(strncmp(out[2], "web@abc~", 8) == 0);
		free_all(out, 3);
	}
	{       /* a counter name that is taken literally */
		const char *names[] = { "web", "web", "web@abc~1" };
		const char *ids[] = { "abc", "abc", "q" };

		out = assign(3, names, ids);
		check_invariants(out, 3);
		CHECK_STR(out[2], "web@abc~1");
		CHECK(!strcmp(out[0], "web@abc~2") || !strcmp(out[0], "web@abc~3"));
		free_all(out, 3);
	}
	{       /* an escaped name meets the literal it escapes to */
		const char *names[] = { "a/b", "a%2Fb", ".", "%2E" };
		const char *ids[] = { "11111111x", "22222222x", "33333333x", "44444444x" };

		out = assign(4, names, ids);
		CHECK_STR(out[0], "a%2Fb@11111111");
		CHECK_STR(out[1], "a%2Fb@22222222");
		CHECK_STR(out[2], "%2E@33333333");
		CHECK_STR(out[3], "%2E@44444444");
		free_all(out, 4);
	}
	{       /* an empty name becomes an id a sibling has as its name */
		const char *names[] = { "", "x1" };
		const char *ids[] = { "x1", "y" };

		out = assign(2, names, ids);
		CHECK_STR(out[0], "x1@x1");
		CHECK_STR(out[1], "x1@y");
		free_all(out, 2);
	}
	{       /* nameless and id-less twice */
		const char *names[] = { "", "" };
		const char *ids[] = { "", "" };

		out = assign(2, names, ids);
		check_invariants(out, 2);
		CHECK(!strcmp(out[0], "@~1") || !strcmp(out[0], "@~2"));
		free_all(out, 2);
	}
	{       /* long names equal in their first 246 bytes, same id prefix */
		char a[300], b[300];
		const char *names[] = { a, b };
		const char *ids[] = { "3f2a9c1d00000000aaaa", "3f2a9c1d00000000bbbb" };

		memset(a, 'L', 299);
		a[299] = '\0';
		memcpy(b, a, 300);
		b[290] = 'M';
		out = assign(2, names, ids);
		check_invariants(out, 2);
		CHECK(strstr(out[0], "@3f2a9c1d00000000aaaa") != NULL);
		CHECK(strstr(out[1], "@3f2a9c1d00000000bbbb") != NULL);
		free_all(out, 2);
	}
}

/* A small generator, so runs are repeatable. */
static unsigned long rng_state = 12345;

static unsigned long rng(void)
{
	rng_state = rng_state * 6364136223846793005ul + 1442695040888963407ul;
	return rng_state >> 33;
}

/* Random sibling sets with many collisions: outputs must be the same for
 * each (name, id) pair in every order. */
static void test_permutations(void)
{
	static const char *const pool_names[] = {
		"web", "web", "api", "", ".", "..", "a/b", "a%2Fb", "%2E",
		"web@3f2a9c1d", "web@abc~1", "web@3f2a9c1d-5b6e-4f", "@", "x1",
	};
	static const char *const pool_ids[] = {
		ID1, ID2, "abc", "x1", "3f2a9c1d", "3f2a9c1d-5b6e-4f70", "",
	};
	const size_t np = sizeof(pool_names) / sizeof(*pool_names);
	const size_t ni = sizeof(pool_ids) / sizeof(*pool_ids);
	struct dfs_name_in in[12], sh[12];
	char *out[12], *out2[12];
	size_t perm[12];
	int round, s;

	for (round = 0; round < 300; round++) {
		size_t n = 1 + rng() % 12, i, j;

		for (i = 0; i < n; i++) {
			in[i].name = pool_names[rng() % np];
			in[i].len = strlen(in[i].name);
			in[i].id = pool_ids[rng() % ni];
		}
		CHECK_INT(dfs_names_assign(in, n, out), 0);
		check_invariants(out, n);
		for (s = 0; s < 20; s++) {
			for (i = 0; i < n; i++)
				perm[i] = i;
			for (i = n - 1; i > 0; i--) {
				size_t t;

				j = rng() % (i + 1);
				t = perm[i], perm[i] = perm[j], perm[j] = t;
			}
			for (i = 0; i < n; i++)
				sh[i] = in[perm[i]];
			CHECK_INT(dfs_names_assign(sh, n, out2), 0);
			/* same pair, same name; identical pairs may swap */
			for (i = 0; i < n; i++) {
				int found = 0;

				for (j = 0; j < n && !found; j++)
					found = sh[j].name == in[i].name &&
						sh[j].id == in[i].id &&
						!strcmp(out2[j], out[i]);
				CHECK(found);
			}
			for (i = 0; i < n; i++)
				free(out2[i]);
		}
		for (i = 0; i < n; i++)
			free(out[i]);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_many(void)
{
	enum { N = 20000 };
	struct dfs_name_in *in = calloc(N, sizeof(*in));
	char **out = calloc(N, sizeof(*out));
	char (*ids)[16] = calloc(N, sizeof(*ids));
	size_t i;

	/* half identical pairs, half distinct ids, all named "web" */
	for (i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%08zx", i < N / 2 ? (size_t)0 : i);
		in[i].name = "web";
		in[i].len = 3;
		in[i].id = ids[i];
	}
	CHECK_INT(dfs_names_assign(in, N, out), 0);
	{
		/* distinct: sort and compare neighbours */
		int dup = 0;

		qsort(out, N, sizeof(*out), cmp_str);
		for (i = 1; i < N; i++)
			dup += strcmp(out[i - 1], out[i]) == 0;
		CHECK_INT(dup, 0);
	}
	for (i = 0; i < N; i++)
		free(out[i]);
	free(out);
	free(ids);
	free(in);
}

int main(void)
{
	CHECK_INT(dfs_names_assign(NULL, 0, NULL), 0);
	test_safe();
	test_unsafe();
	test_long();
	test_duplicates();
	test_permutations();
	test_many();
	return unit_done("test_names");
}
