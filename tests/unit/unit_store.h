/* unit_store.h - a local store in a temporary directory, for the tests
 * that need real documents on disk (test_local.c, test_write.c): an
 * environment "prod", its app "web" (nginx:1.25-alpine, version 2) and an
 * image "Ubuntu 24.04" (active, raw/bare, os_distro ubuntu, tag "base"). */
#ifndef DEPLOYFS_UNIT_STORE_H
#define DEPLOYFS_UNIT_STORE_H

#include <stdio.h>
#include <stdlib.h>

#define ENV_ID "660e8400-e29b-41d4-a716-446655440001"
#define APP_ID "550e8400-e29b-41d4-a716-446655440000"
#define IMG_ID "a1b2c3d4-0000-4000-8000-000000000001"

static char store[64];

/* Write json to the store's file rel (e.g. "apps/<id>.json"); exits on
 * failure. */
static void put(const char *rel, const char *json)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", store, rel);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(json, f);
	fclose(f);
}

/* A new empty directory in store, named after the test; exits on failure. */
static void store_mkdtemp(const char *test)
{
	snprintf(store, sizeof(store), "/tmp/deployfs-%s.XXXXXX", test);
	if (!mkdtemp(store)) {
		perror("mkdtemp");
		exit(1);
	}
}

/* The three documents; the store's folders must exist (dfs_local_new). */
static void store_seed(void)
{
	put("environments/" ENV_ID ".json",
	    "{\"id\": \"" ENV_ID "\", \"name\": \"prod\", \"version\": 1}");
	put("apps/" APP_ID ".json",
	    "{\"id\": \"" APP_ID "\", \"name\": \"web\", \"envIdRef\": \"" ENV_ID "\","
	    " \"source\": {\"image\": {\"name\": \"nginx\", \"tag\": \"1.25-alpine\"}},"
	    " \"version\": 2}");
	put("images/" IMG_ID ".json",
	    "{\"id\": \"" IMG_ID "\", \"name\": \"Ubuntu 24.04\", \"status\": \"active\","
	    " \"disk_format\": \"raw\", \"container_format\": \"bare\", \"os_distro\": \"ubuntu\","
	    " \"tags\": [\"base\"], \"updated_at\": \"2026-11-01T10:00:00Z\"}");
}

/* rm -rf the store. */
static void store_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", store);
}

#endif
