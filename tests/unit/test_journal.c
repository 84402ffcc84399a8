/* test_journal.c - the append-only journal (backend/journal.h): numbers,
 * a torn last line, the dedup key, the bound and its compaction. */
#include "journal.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/deployfs-journal-XXXXXX";

static int append1(struct dfs_journal *j, const char *name, const char *v, const char *key)
{
	json_t *e = json_pack("[{s:s, s:s}]", "new", v, "after", key ? key : v);
	struct dfs_error err = { 0 };
	int appended = -1, ret;

	ret = dfs_journal_append(j, name, e, key ? "after" : NULL, key, &appended, &err);
	json_decref(e);
	return ret < 0 ? ret : appended;
}

static json_t *all(struct dfs_journal *j, const char *name)
{
	struct dfs_error err = { 0 };
	json_t *out = NULL;

	CHECK_INT(dfs_journal_read(j, name, &out, &err), 0);
	return out;
}

static json_int_t n_of(json_t *a, size_t i)
{
	return json_integer_value(json_object_get(json_array_get(a, i), "n"));
}

static const char *new_of(json_t *a, size_t i)
{
	return json_string_value(json_object_get(json_array_get(a, i), "new"));
}

static void raw_append(const char *name, const char *bytes)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/j/%s.log", dir, name);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, bytes, strlen(bytes)) == (ssize_t)strlen(bytes));
	close(fd);
}

static off_t size_of(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/j/%s.log", dir, name);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

int main(void)
{
	struct dfs_error err = { 0 };
	struct dfs_journal *j;
	char path[512];
	json_t *a;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/j", dir);
	j = dfs_journal_open(path, &err);
	CHECK(j != NULL);

	/* no journal yet: empty */
	a = all(j, "apps-x");
	CHECK_INT(json_array_size(a), 0);
	json_decref(a);

	/* numbers from 1, oldest first, "n" first on the line */
	CHECK_INT(append1(j, "apps-x", "a", NULL), 1);
	CHECK_INT(append1(j, "apps-x", "b", NULL), 1);
	a = all(j, "apps-x");
	CHECK_INT(json_array_size(a), 2);
	CHECK_INT(n_of(a, 0), 1);
	CHECK_STR(new_of(a, 1), "b");
	CHECK_INT(n_of(a, 1), 2);
	json_decref(a);

	/* a torn last line (a crash in the middle of a write) is ignored by
	 * readers, and the next append starts a line of its own */
	raw_append("apps-x", "{\"n\":3,\"new\":\"tor");
	a = all(j, "apps-x");
	CHECK_INT(json_array_size(a), 2);
	json_decref(a);
	CHECK_INT(append1(j, "apps-x", "c", NULL), 1);
	a = all(j, "apps-x");
	CHECK_INT(json_array_size(a), 3);
	CHECK_STR(new_of(a, 2), "c");
	CHECK_INT(n_of(a, 2), 3);
	json_decref(a);
	/* garbage lines in the middle are skipped, never fatal */
	raw_append("apps-x", "not json\n[1,2]\n{\"n\":\"x\"}\n");
	CHECK_INT(append1(j, "apps-x", "d", NULL), 1);
	a = all(j, "apps-x");
	CHECK_INT(json_array_size(a), 4);
	CHECK_INT(n_of(a, 3), 4);
	json_decref(a);

	/* the dedup key: a change recorded already (by its writer, or by
	 * another watcher) is not appended again */
	CHECK_INT(append1(j, "apps-x", "e", "k-e"), 1);
	CHECK_INT(append1(j, "apps-x", "e", "k-e"), 0);
	CHECK_INT(append1(j, "apps-x", "d", "d"), 0);   /* among the last 16 */
	a = all(j, "apps-x");
	CHECK_INT(json_array_size(a), 5);
	json_decref(a);

	/* a reader that follows: only what was appended since, a torn
	 * line left for later */
	{
		struct dfs_journal_pos pos = { 0 };
		json_t *got = NULL;
		int restart = -1;

		CHECK_INT(dfs_journal_read_since(j, "apps-x", &pos, &restart, &got, &err), 0);
		CHECK_INT(restart, 1);
		CHECK_INT(json_array_size(got), 5);
		json_decref(got);
		CHECK_INT(dfs_journal_read_since(j, "apps-x", &pos, &restart, &got, &err), 0);
		CHECK_INT(restart, 0);
		CHECK_INT(json_array_size(got), 0);
		json_decref(got);
		raw_append("apps-x", "{\"n\":6,\"new\":\"half");
		CHECK_INT(dfs_journal_read_since(j, "apps-x", &pos, &restart, &got, &err), 0);
		CHECK_INT(json_array_size(got), 0);
		json_decref(got);
		CHECK_INT(append1(j, "apps-x", "f", NULL), 1);
		CHECK_INT(dfs_journal_read_since(j, "apps-x", &pos, &restart, &got, &err), 0);
		CHECK_INT(restart, 0);
		CHECK_INT(json_array_size(got), 1);
		CHECK_STR(new_of(got, 0), "f");
		CHECK_INT(n_of(got, 0), 6);
		json_decref(got);
	}

	/* bad names */
	CHECK_INT(append1(j, "../x", "a", NULL), -EINVAL);
	CHECK_INT(append1(j, ".x", "a", NULL), -EINVAL);

	/* the bound: past 2 * KEEP lines, an append keeps the newest KEEP;
	 * numbers stay with their lines; readers get at most KEEP */
	for (int i = 1; i <= 2 * DFS_JOURNAL_KEEP; i++) {
		char v[32];

		snprintf(v, sizeof(v), "v%d", i);
		if (append1(j, "images-y", v, NULL) != 1) {
			CHECK(0);
			break;
		}
	}
	a = all(j, "images-y");
	CHECK_INT(json_array_size(a), DFS_JOURNAL_KEEP);
	CHECK_INT(n_of(a, 0), DFS_JOURNAL_KEEP + 1);
	CHECK_STR(new_of(a, DFS_JOURNAL_KEEP - 1), "v2000");
	json_decref(a);
	{
		off_t full = size_of("images-y");
		struct dfs_journal_pos pos = { 0 };
		json_t *got = NULL;
		int restart = -1;

		CHECK_INT(dfs_journal_read_since(j, "images-y", &pos, &restart, &got, &err), 0);
		json_decref(got);
		CHECK_INT(append1(j, "images-y", "v2001", NULL), 1);   /* compacts */
		/* a follower of the old file starts again on the new one */
		CHECK_INT(dfs_journal_read_since(j, "images-y", &pos, &restart, &got, &err), 0);
		CHECK_INT(restart, 1);
		CHECK_INT(json_array_size(got), DFS_JOURNAL_KEEP);
		json_decref(got);
		CHECK(size_of("images-y") < full * 3 / 5);   /* the newer half: longer numbers */
	}
	a = all(j, "images-y");
	CHECK_INT(json_array_size(a), DFS_JOURNAL_KEEP);
	CHECK_INT(n_of(a, 0), DFS_JOURNAL_KEEP + 2);
	CHECK_INT(n_of(a, DFS_JOURNAL_KEEP - 1), 2 * DFS_JOURNAL_KEEP + 1);
	json_decref(a);
	CHECK_INT(append1(j, "images-y", "v2002", NULL), 1);
	a = all(j, "images-y");
	CHECK_INT(n_of(a, DFS_JOURNAL_KEEP - 1), 2 * DFS_JOURNAL_KEEP + 2);
	json_decref(a);
	/* no temp file is left */
	snprintf(path, sizeof(path), "%s/j/.images-y.log.tmp", dir);
	CHECK(access(path, F_OK) < 0);

	dfs_journal_free(j);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK(system(path) == 0);
	return unit_done("test_journal");
}
