/* test_credhelper.c - docker credential helpers: which one docker's config
 * picks, and what deployfs makes of each answer. The helpers are small
 * shell scripts put first on PATH; each records the server it was asked
 * for, so the test sees what went on its stdin. */
#include "credhelper.h"
#include "dockercfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

static char dir[64];

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		CHECK(!"fopen");
		return;
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* docker-credential-NAME running body (sh) after saving its stdin in
 * asked-NAME. */
static void helper(const char *name, const char *body)
{
	char file[96], text[1024];

	snprintf(file, sizeof(file), "docker-credential-%s", name);
	snprintf(text, sizeof(text), "#!/bin/sh\n[ \"$1\" = get ] || exit 9\n"
		 "cat > \"%s/asked-%s\"\n%s\n", dir, name, body);
	write_file(file, text, 0755);
}

static const char *asked(const char *name)
{
	static char buf[256];
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/asked-%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return "";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	return buf;
}

/* A lookup whose answer should be user/pass (NULL user: ret expected),
 * never showing the secret in err. */
static void lookup(const char *host, int ret, const char *user, const char *pass,
		   const char *idtoken, const char *msg)
{
	struct dfs_docker_cred c;
	struct dfs_error err = { 0 };

	CHECK_INT(dfs_dockercfg_lookup(dir, host, 0, &c, &err), ret);
	if (ret == 0) {
		CHECK_STR(c.username ? c.username : "", user ? user : "");
		CHECK_STR(c.password ? c.password : "", pass ? pass : "");
		CHECK_STR(c.identitytoken ? c.identitytoken : "", idtoken ? idtoken : "");
	} else {
		CHECK(!c.username && !c.password && !c.identitytoken);
		CHECK_INT(err.code, -ret);
		if (msg)
			CHECK_STR(err.msg, msg);
		CHECK(!strstr(err.msg, "s3cret"));
	}
	dfs_docker_cred_clear(&c);
}

static void test_precedence(void)
{
	helper("store", "echo '{\"ServerURL\":\"x\",\"Username\":\"from-store\",\"Secret\":\"s3cret-store\"}'");
	helper("per", "echo '{\"ServerURL\":\"x\",\"Username\":\"from-per\",\"Secret\":\"s3cret-per\"}'");
	write_file("config.json",
		   "{\"auths\": {\"a.example\": {\"username\": \"file\", \"password\": \"p\"},"
		   "             \"c.example\": {\"username\": \"file\", \"password\": \"p\"}},"
		   " \"credsStore\": \"store\","
		   " \"credHelpers\": {\"c.example\": \"per\", \"https://d.example:5000\": \"per\","
		   "                   \"https://index.docker.io/v1/\": \"per\"}}", 0600);
	/* credHelpers for its host wins over credsStore and auths */
	lookup("c.example", 0, "from-per", "s3cret-per", NULL, NULL);
	CHECK_STR(asked("per"), "c.example");
	/* a key naming the same host another way */
	lookup("d.example:5000", 0, "from-per", "s3cret-per", NULL, NULL);
	CHECK_STR(asked("per"), "d.example:5000");
	/* Docker Hub is asked for by docker's own server address */
	lookup("registry-1.docker.io", 0, "from-per", "s3cret-per", NULL, NULL);
	CHECK_STR(asked("per"), "https://index.docker.io/v1/");
	/* credsStore wins over auths (docker reads auths only without one) */
	lookup("a.example", 0, "from-store", "s3cret-store", NULL, NULL);
	CHECK_STR(asked("store"), "a.example");
	lookup("127.0.0.1:5000", 0, "from-store", "s3cret-store", NULL, NULL);
	CHECK_STR(asked("store"), "127.0.0.1:5000");

	/* without a credsStore, auths for hosts credHelpers does not name */
	write_file("config.json",
		   "{\"auths\": {\"a.example\": {\"username\": \"file\", \"password\": \"p\"}},"
		   " \"credsStore\": \"\", \"credHelpers\": {\"c.example\": \"per\"}}", 0600);
	lookup("a.example", 0, "file", "p", NULL, NULL);
	CHECK_STR(asked("per"), "");
	lookup("b.example", -ENOENT, NULL, NULL, NULL, NULL);
}

static void test_answers(void)
{
	write_file("config.json", "{\"credsStore\": \"t\"}", 0600);
	helper("t", "echo '{\"ServerURL\":\"x\",\"Username\":\"<token>\",\"Secret\":\"s3cret-refresh\"}'");
	lookup("h.example", 0, NULL, NULL, "s3cret-refresh", NULL);

	/* docker's "not found": anonymous, not a failure */
	helper("t", "echo 'credentials not found in native keychain'; exit 1");
	lookup("h.example", -ENOENT, NULL, NULL, NULL,
	       "credential helper docker-credential-t has no credentials for h.example");

	helper("t", "echo 'pass store is locked' >&2; exit 3");
	lookup("h.example", -EACCES, NULL, NULL, NULL,
	       "credential helper docker-credential-t for h.example failed (exit 3): pass store is locked");

	helper("t", "printf 'error\\033[31m: no\\n second line\\n'; exit 1");
	lookup("h.example", -EACCES, NULL, NULL, NULL,
	       "credential helper docker-credential-t for h.example failed (exit 1): error[31m: no");

	/* not the JSON of the protocol: never quoted (it may hold the secret) */
	helper("t", "echo 's3cret-half {'");
	lookup("h.example", -EACCES, NULL, NULL, NULL,
	       "credential helper docker-credential-t for h.example answered something that is not {\"Username\", \"Secret\"} JSON");
	helper("t", "echo '{\"Username\":\"u\"}'");
	lookup("h.example", -EACCES, NULL, NULL, NULL, NULL);

	helper("t", "kill -KILL $$");
	lookup("h.example", -EACCES, NULL, NULL, NULL,
	       "credential helper docker-credential-t for h.example was killed by signal 9");

	write_file("config.json", "{\"credsStore\": \"missing\"}", 0600);
	lookup("h.example", -EACCES, NULL, NULL, NULL,
	       "credential helper docker-credential-missing for h.example: not found on PATH");

	write_file("config.json", "{\"credsStore\": \"../../bin/sh\"}", 0600);
	lookup("h.example", -EINVAL, NULL, NULL, NULL, NULL);
}

static void test_timeout(void)
{
	struct dfs_docker_cred c;
	struct dfs_error err = { 0 };
	int64_t t0;

	/* it hangs, and so does a child holding its stdout: both killed */
	helper("slow", "sleep 30 & sleep 30");
	t0 = mono_ns();
	CHECK_INT(dfs_credhelper_get("slow", "h.example", t0 + 300000000, &c, &err), -ETIMEDOUT);
	CHECK(mono_ns() - t0 < 2000000000LL);
	CHECK_STR(err.msg, "credential helper docker-credential-slow for h.example did not answer in time; killed");
}

int main(void)
{
	char path[4096];
	const char *old = getenv("PATH");

	snprintf(dir, sizeof(dir), "/tmp/deployfs-test-credhelper-XXXXXX");
	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return unit_done("test_credhelper");
	}
	snprintf(path, sizeof(path), "%s:%s", dir, old ? old : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	test_precedence();
	test_answers();
	test_timeout();
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		CHECK(!"rm -rf");
	return unit_done("test_credhelper");
}
