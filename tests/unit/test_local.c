/* test_local.c - the local store (backend/local.c): README, "The local
 * store" and "Cleanup at mount".
 *
 * A patch bumps the version (apps) or updated_at (images) and leaves no
 * temp file; a temp file left by a killed write is removed at open unless
 * its lock is held; a write waits for the object's flock and gives up at
 * its deadline; the watcher reports a change made by someone else and not
 * the store's own writes.
 */
#include "unit.h"
#include "unit_store.h"
#include "local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static int exists(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", store, rel);
	return access(path, F_OK) == 0;
}

/* How many dotfiles (temp files) the folder holds. */
static int temp_files(const char *dir)
{
	char path[256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", store, dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static int set_tag(struct dfs_backend *b, const char *tag, int64_t deadline, json_t **out,
		   struct dfs_error *err)
{
	json_t *patch = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path", "/source/image/tag",
				  "value", tag);
	int ret = b->ops->patch(b, DFS_APP, APP_ID, patch, out, deadline, err);

	json_decref(patch);
	return ret;
}

/* Version bump, on disk too, and no temp file left behind. */
static void test_patch(struct dfs_backend *b)
{
	struct dfs_error err = { 0 };
	json_t *after = NULL, *disk = NULL;
	const char *upd;

	CHECK_INT(set_tag(b, "1.26", dfs_deadline_ns(5), &after, &err), 0);
	CHECK_INT(json_integer_value(json_object_get(after, "version")), 3);
	CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(after,
		"source"), "image"), "tag")), "1.26");
	json_decref(after);
	CHECK_INT(b->ops->get(b, DFS_APP, APP_ID, &disk, dfs_deadline_ns(5), &err), 0);
	CHECK_INT(json_integer_value(json_object_get(disk, "version")), 3);
	json_decref(disk);
	CHECK_INT(temp_files("apps"), 0);

	/* images: updated_at, to the second */
	after = NULL;
	{
		json_t *patch = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path", "/os_distro",
					  "value", "ubuntu");

		CHECK_INT(b->ops->patch(b, DFS_IMAGE, IMG_ID, patch, &after, dfs_deadline_ns(5),
					&err), 0);
		json_decref(patch);
	}
	upd = json_string_value(json_object_get(after, "updated_at"));
	CHECK(upd && strcmp(upd, "2026-11-01T10:00:00Z") > 0);
	json_decref(after);
	CHECK_INT(temp_files("images"), 0);

	/* an object that does not exist */
	CHECK_INT(b->ops->get(b, DFS_APP, "no-such-app", &disk, dfs_deadline_ns(5), &err), -ENOENT);
}

/* Another holder of the object's flock (another daemon): a write waits
 * for it, and gives up at its deadline. */
static void test_lock(struct dfs_backend *b)
{
	struct dfs_error err = { 0 };
	json_t *after = NULL;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/.lock/apps-" APP_ID, store);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0);
	CHECK_INT(flock(fd, LOCK_EX | LOCK_NB), 0);
	CHECK_INT(set_tag(b, "1.27", dfs_deadline_ns(0.1), &after, &err), -ETIMEDOUT);
	CHECK(strstr(err.msg, "locked by another writer") != NULL);
	CHECK_INT(temp_files("apps"), 0);
	close(fd);   /* the other writer is done */
	CHECK_INT(set_tag(b, "1.27", dfs_deadline_ns(5), &after, &err), 0);
	CHECK_INT(json_integer_value(json_object_get(after, "version")), 4);
	json_decref(after);
}

/* A temp file of a killed write goes at the next open, unless another
 * daemon still holds the object's lock (its write is in flight). */
static void test_cleanup(void)
{
	struct dfs_error err = { 0 };
	struct dfs_backend *b;
	char path[256];
	int fd;

	put("apps/." APP_ID ".0123abcd.tmp", "{\"torn");
	put("environments/." ENV_ID ".89abcdef.tmp", "{\"torn");
	snprintf(path, sizeof(path), "%s/.lock/environments-" ENV_ID, store);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
	b = dfs_local_new(store, &err);
	CHECK(b != NULL);
	CHECK(!exists("apps/." APP_ID ".0123abcd.tmp"));
	CHECK(exists("environments/." ENV_ID ".89abcdef.tmp"));
	CHECK(exists("apps/" APP_ID ".json"));
	if (b)
		b->ops->free(b);
	close(fd);
}

/* What the watcher reported, for the test to wait on. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t seen_cv = PTHREAD_COND_INITIALIZER;
static char seen_env_name[64];
static int seen_app_tags[8], n_seen_app;

static void on_change(void *arg, enum dfs_kind k, const char *id, const json_t *doc)
{
	pthread_mutex_lock(&seen_mu);
	if (k == DFS_ENV && doc)
		snprintf(seen_env_name, sizeof(seen_env_name), "%s",
			 json_string_value(json_object_get(doc, "name")) ?: "");
	if (k == DFS_APP && doc && n_seen_app < 8)
		seen_app_tags[n_seen_app++] = (int)json_integer_value(json_object_get(doc, "version"));
	pthread_cond_broadcast(&seen_cv);
	pthread_mutex_unlock(&seen_mu);
}

/* Wait (at most 5 s) until the watcher reported the environment named name. */
static int wait_env_name(const char *name)
{
	struct timespec until;
	int ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&seen_mu);
	while (strcmp(seen_env_name, name) != 0 &&
	       pthread_cond_timedwait(&seen_cv, &seen_mu, &until) == 0)
		;
	ok = strcmp(seen_env_name, name) == 0;
	pthread_mutex_unlock(&seen_mu);
	return ok;
}

/* The store's own write is recognised and not reported; a hand edit is.
 * inotify events come in order, so once the edit made after our write is
 * reported, our write's own events have been seen. */
static void test_own_writes(struct dfs_backend *b)
{
	struct dfs_error err = { 0 };
	json_t *after = NULL;

	CHECK_INT(b->ops->watch(b, on_change, NULL), 0);
	CHECK_INT(set_tag(b, "1.28", dfs_deadline_ns(5), &after, &err), 0);
	json_decref(after);
	put("environments/" ENV_ID ".json",
	    "{\"id\": \"" ENV_ID "\", \"name\": \"production\", \"version\": 2}");
	CHECK(wait_env_name("production"));
	pthread_mutex_lock(&seen_mu);
	CHECK_INT(n_seen_app, 0);
	pthread_mutex_unlock(&seen_mu);

	/* a hand edit of the app is reported, with its document */
	put("apps/" APP_ID ".json",
	    "{\"id\": \"" APP_ID "\", \"name\": \"web\", \"envIdRef\": \"" ENV_ID "\","
	    " \"source\": {\"image\": {\"name\": \"nginx\", \"tag\": \"1.29\"}}, \"version\": 9}");
	put("environments/" ENV_ID ".json",
	    "{\"id\": \"" ENV_ID "\", \"name\": \"prod\", \"version\": 3}");
	CHECK(wait_env_name("prod"));
	pthread_mutex_lock(&seen_mu);
	CHECK_INT(n_seen_app, 1);
	CHECK_INT(seen_app_tags[0], 9);
	pthread_mutex_unlock(&seen_mu);
}

int main(void)
{
	struct dfs_error err = { 0 };
	struct dfs_backend *b;

	store_mkdtemp("test-local");
	b = dfs_local_new(store, &err);
	if (!b) {
		fprintf(stderr, "dfs_local_new: %s\n", err.msg);
		return 1;
	}
	store_seed();
	test_patch(b);
	test_lock(b);
	test_cleanup();
	test_own_writes(b);
	b->ops->free(b);
	store_remove();
	return unit_done("test_local");
}
