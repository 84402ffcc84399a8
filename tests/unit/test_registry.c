/* test_registry.c - the parts of the registry check that need no network:
 * WWW-Authenticate parsing, mirror and insecure matching, URL authorities,
 * the sha256 of a manifest, docker config lookups, the argument checks
 * of the client, and that no request starts after dfs_cancel_all(). The protocol itself is tested against a real registry in
 * tests/integration/test_registry_client.py. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dockercfg.h"
#include "http.h"
#include "reference.h"
#include "registry_internal.h"
#include "sha256.h"
#include "unit.h"

/* ------------------------------------------------------------ challenges */

struct chal_case {
	const char *value;
	int ret;
	size_t n;
	struct { const char *scheme, *realm, *service, *scope, *error; } want[3];
};

static const struct chal_case chal_cases[] = {
	{ "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
	  "scope=\"repository:library/nginx:pull\"", 0, 1,
	  { { "bearer", "https://auth.docker.io/token", "registry.docker.io",
	      "repository:library/nginx:pull", "" } } },
	/* commas inside quotes; error parameter */
	{ "Bearer realm=\"http://127.0.0.1:5001/token\",service=\"svc, with comma\","
	  "scope=\"repository:a/b:pull,push\",error=\"insufficient_scope\"", 0, 1,
	  { { "bearer", "http://127.0.0.1:5001/token", "svc, with comma",
	      "repository:a/b:pull,push", "insufficient_scope" } } },
	{ "Basic realm=\"deployfs-test\"", 0, 1,
	  { { "basic", "deployfs-test", "", "", "" } } },
	/* two challenges in one header */
	{ "Basic realm=\"a\", Bearer realm=\"b\",service=\"s\"", 0, 2,
	  { { "basic", "a", "", "", "" }, { "bearer", "b", "s", "", "" } } },
	/* names are case-insensitive, blanks around '=' and ',' */
	{ "bEaReR REALM = \"x\" ,  Service=\"y\"", 0, 1,
	  { { "bearer", "x", "y", "", "" } } },
	/* backslash escapes in quoted strings */
	{ "Bearer realm=\"a\\\"b\\\\c\"", 0, 1, { { "bearer", "a\"b\\c", "", "", "" } } },
	/* unquoted values, URLs included */
	{ "Bearer realm=https://x/token,service=svc", 0, 1,
	  { { "bearer", "https://x/token", "svc", "", "" } } },
	/* a token68 challenge before a parameter one */
	{ "Negotiate abc==, Basic realm=\"r\"", 0, 2,
	  { { "negotiate", "", "", "", "" }, { "basic", "r", "", "", "" } } },
	/* unknown parameters are skipped, doubled commas tolerated */
	{ "Bearer realm=\"a\",,charset=\"UTF-8\",service=\"s\"", 0, 1,
	  { { "bearer", "a", "s", "", "" } } },
	{ "", 0, 0, { { 0 } } },
	{ "Bearer", 0, 1, { { "bearer", "", "", "", "" } } },
	/* malformed */
	{ "Bearer realm=\"unterminated", -EINVAL, 0, { { 0 } } },
	{ "Bearer realm=\"a\" service=\"s\"", -EINVAL, 0, { { 0 } } },
	{ "Basic realm=\"ok\", Bearer realm=\"a\" service=\"s\"", -EINVAL, 1,
	  { { "basic", "ok", "", "", "" } } },
	{ "\"Bearer\" realm=\"a\"", -EINVAL, 0, { { 0 } } },
};

static void test_challenges(void)
{
	struct dfs_auth_challenge ch[3];
	size_t i, j, n;
	int ret;

	for (i = 0; i < sizeof(chal_cases) / sizeof(chal_cases[0]); i++) {
		const struct chal_case *c = &chal_cases[i];

		n = 0;
		ret = dfs_registry_parse_challenges(c->value, ch, 3, &n);
		CHECK_INT(ret, c->ret);
		CHECK_INT(n, c->n);
		for (j = 0; j < c->n && j < n; j++) {
			CHECK_STR(ch[j].scheme, c->want[j].scheme);
			CHECK_STR(ch[j].realm, c->want[j].realm);
			CHECK_STR(ch[j].service, c->want[j].service);
			CHECK_STR(ch[j].scope, c->want[j].scope);
			CHECK_STR(ch[j].error, c->want[j].error);
		}
	}
}

static void test_challenge_limits(void)
{
	struct dfs_auth_challenge ch[2];
	char big[1200 + 32];
	size_t n = 0;

	/* more challenges than room: parsed, the extra ones dropped */
	CHECK_INT(dfs_registry_parse_challenges("A x=\"1\", B y=\"2\", C z=\"3\", Basic realm=\"r\"",
						ch, 2, &n), 0);
	CHECK_INT(n, 2);
	CHECK_STR(ch[1].scheme, "b");

	/* a realm longer than its field is an error, never cut */
	strcpy(big, "Bearer realm=\"");
	memset(big + 14, 'x', 1200);
	strcpy(big + 14 + 1200, "\"");
	n = 0;
	CHECK_INT(dfs_registry_parse_challenges(big, ch, 2, &n), -EINVAL);
}

/* ------------------------------------------------------ endpoints, opts */

static struct dfs_registry_client *client(const char *const *mirrors, size_t nm,
					  const char *const *insecure, size_t ni,
					  struct dfs_error *err)
{
	struct dfs_registry_opts o = { .mirrors = mirrors, .n_mirrors = nm,
				       .insecure = insecure, .n_insecure = ni };

	return dfs_registry_client_new(&o, err);
}

static void test_mirrors(void)
{
	static const char *const m[] = { "docker.io=http://127.0.0.1:5001/",
					 "ghcr.io=https://m.example:8443/prefix" };
	static const char *const m2[] = { "registry-1.docker.io=http://x:1" };
	static const char *const bad[] = { "docker.io", "=http://x", "docker.io=ftp://x",
					   "docker.io=http://u:p@x", "docker.io=http://",
					   "a/b=http://x" };
	struct dfs_registry_client *c;
	struct dfs_error err = { 0 };
	size_t i;

	c = client(m, 2, NULL, 0, &err);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(dfs_registry_mirror_for(c, "docker.io"), "http://127.0.0.1:5001");
		CHECK_STR(dfs_registry_mirror_for(c, "index.docker.io"), "http://127.0.0.1:5001");
		CHECK_STR(dfs_registry_mirror_for(c, "ghcr.io"), "https://m.example:8443/prefix");
		CHECK(dfs_registry_mirror_for(c, "quay.io") == NULL);
		CHECK(dfs_registry_mirror_for(c, "ghcr.io:443") == NULL);
	}
	dfs_registry_client_free(c);

	c = client(m2, 1, NULL, 0, &err);
	CHECK(c && dfs_registry_mirror_for(c, "docker.io") &&
	      strcmp(dfs_registry_mirror_for(c, "docker.io"), "http://x:1") == 0);
	dfs_registry_client_free(c);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dfs_error_clear(&err);
		c = client(&bad[i], 1, NULL, 0, &err);
		CHECK(c == NULL);
		CHECK_INT(err.code, EINVAL);
		CHECK(strstr(err.msg, "registry_mirror=") != NULL);
		/* the line quotes the option, so a URL with a password would
		 * leak: such a URL is refused, but the line is still the
		 * user's own text, shown to the user */
		dfs_registry_client_free(c);
	}
}

static void test_insecure(void)
{
	static const char *const ins[] = { "127.0.0.1:5000", "localhost", "docker.io", "[::1]:5000" };
	static const char *const bad[] = { "http://x", "a/b", "", "u@h" };
	struct dfs_registry_client *c;
	struct dfs_error err = { 0 };
	size_t i;

	c = client(NULL, 0, ins, 4, &err);
	CHECK(c != NULL);
	if (c) {
		CHECK_INT(dfs_registry_is_insecure(c, "127.0.0.1:5000"), 1);
		CHECK_INT(dfs_registry_is_insecure(c, "127.0.0.1:5001"), 0);
		CHECK_INT(dfs_registry_is_insecure(c, "127.0.0.1"), 0);
		CHECK_INT(dfs_registry_is_insecure(c, "localhost"), 1);
		CHECK_INT(dfs_registry_is_insecure(c, "localhost:9999"), 1);
		CHECK_INT(dfs_registry_is_insecure(c, "LOCALHOST:1"), 1);
		CHECK_INT(dfs_registry_is_insecure(c, "registry-1.docker.io"), 1);
		CHECK_INT(dfs_registry_is_insecure(c, "index.docker.io"), 1);
		CHECK_INT(dfs_registry_is_insecure(c, "[::1]:5000"), 1);
		CHECK_INT(dfs_registry_is_insecure(c, "[::1]:5001"), 0);
		CHECK_INT(dfs_registry_is_insecure(c, "ghcr.io"), 0);
	}
	dfs_registry_client_free(c);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dfs_error_clear(&err);
		c = client(NULL, 0, &bad[i], 1, &err);
		CHECK(c == NULL);
		CHECK_INT(err.code, EINVAL);
		dfs_registry_client_free(c);
	}
}

static void test_url_authority(void)
{
	char a[64];

	CHECK_INT(dfs_registry_url_authority("https://ghcr.io/token?x=1", a, sizeof(a)), 0);
	CHECK_STR(a, "ghcr.io");
	CHECK_INT(dfs_registry_url_authority("http://127.0.0.1:5000", a, sizeof(a)), 0);
	CHECK_STR(a, "127.0.0.1:5000");
	CHECK_INT(dfs_registry_url_authority("http://[::1]:80/x", a, sizeof(a)), 0);
	CHECK_STR(a, "[::1]:80");
	CHECK_INT(dfs_registry_url_authority("ftp://x/", a, sizeof(a)), -EINVAL);
	CHECK_INT(dfs_registry_url_authority("http://u:p@x/", a, sizeof(a)), -EINVAL);
	CHECK_INT(dfs_registry_url_authority("http:///x", a, sizeof(a)), -EINVAL);
	CHECK_INT(dfs_registry_url_authority("x", a, sizeof(a)), -EINVAL);
	CHECK_INT(dfs_registry_url_authority("http://a-very-long-host-name.example", a, 8), -EINVAL);
}

/* ---------------------------------------------------------------- sha256 */

/* A registry object's url as the registry it names; a reference's domain
 * as the same kind of key. */
static void test_object_host(void)
{
	static const struct { const char *url, *want; } ok[] = {
		{ "registry.acme.example", "registry.acme.example" },
		{ "https://Registry.Acme.Example/v2/", "registry.acme.example" },
		{ "HTTP://127.0.0.1:5000", "127.0.0.1:5000" },
		{ "127.0.0.1:5000/", "127.0.0.1:5000" },
		{ "https://index.docker.io/v1/", "docker.io" },
		{ "registry-1.docker.io", "docker.io" },
		{ "docker.io", "docker.io" },
		{ "[::1]:5000", "[::1]:5000" },
	};
	static const char *const bad[] = {
		"", "https://", "/v2/", "ftp://host", "https://u:p@host", "user@host", "a b",
	};
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_INT(dfs_registry_object_host(ok[i].url, out, sizeof(out)), 0);
		CHECK_STR(out, ok[i].want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(dfs_registry_object_host(bad[i], out, sizeof(out)), -EINVAL);
	CHECK_INT(dfs_registry_object_host("a-very-long-host-name.example", out, 8), -EINVAL);
	dfs_registry_domain_key("docker.io", out, sizeof(out));
	CHECK_STR(out, "docker.io");
	dfs_registry_domain_key("Index.Docker.IO", out, sizeof(out));
	CHECK_STR(out, "docker.io");
	dfs_registry_domain_key("GHCR.io", out, sizeof(out));
	CHECK_STR(out, "ghcr.io");
}

static void test_sha256(void)
{
	static const struct { size_t n; const char *hex; } v[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
		{ 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
		{ 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
		{ 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
		{ 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
	};
	char out[80], want[80], *a = malloc(1000000);
	size_t i;

	dfs_sha256_digest("", 0, out);
	CHECK_STR(out, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	dfs_sha256_digest("abc", 3, out);
	CHECK_STR(out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	if (!a)
		return;
	memset(a, 'a', 1000000);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		dfs_sha256_digest(a, v[i].n, out);
		snprintf(want, sizeof(want), "sha256:%s", v[i].hex);
		CHECK_STR(out, want);
	}
	free(a);
}

/* --------------------------------------------------------- docker config */

static char tmpdir[64];

static void write_config(const char *json)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config.json", tmpdir);
	f = fopen(path, "w");
	if (f) {
		fputs(json, f);
		fclose(f);
	}
}

/* Look host up; check the user (NULL: expect ret) and that err never
 * holds the secret. */
static void lookup(const char *host, int ret, const char *user, const char *pass,
		   const char *idtoken)
{
	struct dfs_docker_cred c;
	struct dfs_error err = { 0 };

	CHECK_INT(dfs_dockercfg_lookup(tmpdir, host, 0, &c, &err), ret);
	if (ret == 0) {
		CHECK_STR(c.username ? c.username : "", user ? user : "");
		CHECK_STR(c.password ? c.password : "", pass ? pass : "");
		CHECK_STR(c.identitytoken ? c.identitytoken : "", idtoken ? idtoken : "");
	} else {
		CHECK(c.username == NULL && c.password == NULL && c.identitytoken == NULL);
		CHECK_INT(err.code, -ret);
		CHECK(strstr(err.msg, "secret") == NULL && strstr(err.msg, "pa:ss") == NULL);
	}
	dfs_docker_cred_clear(&c);
}

static void test_dockercfg(void)
{
	char path[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/deployfs-test-registry-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		CHECK(!"mkdtemp");
		return;
	}
	/* absent file: quiet -ENOENT */
	lookup("docker.io", -ENOENT, NULL, NULL, NULL);

	write_config("{\"auths\": {"
		     " \"https://index.docker.io/v1/\": {\"auth\": \"dXNlcjpwYTpzcw==\"},"
		     " \"127.0.0.1:5000\": {\"username\": \"a\", \"password\": \"b\"},"
		     " \"https://ghcr.io\": {\"auth\": \"dXNlcjpwYTpzcw==\"},"
		     " \"http://h:5000/v2/\": {\"username\": \"h\", \"password\": \"p\"},"
		     " \"https://q:1\": {\"username\": \"loose\", \"password\": \"p\"},"
		     " \"q:1\": {\"username\": \"exact\", \"password\": \"p\"},"
		     " \"tok.example\": {\"auth\": \"PHRva2VuPjo=\", \"identitytoken\": \"secret-refresh\"},"
		     " \"bad.example\": {\"auth\": \"bm9jb2xvbg==\"},"
		     " \"bad64.example\": {\"auth\": \"!!!\"},"
		     " \"nopad.example\": {\"auth\": \"dXNlcjpwYTpzcw\"},"
		     " \"midpad.example\": {\"auth\": \"dXNl=cjpwYTpzcw==\"},"
		     " \"short.example\": {\"auth\": \"dXNlcjpwYTpzc\"},"
		     " \"empty.example\": {}"
		     "}}");
	lookup("docker.io", 0, "user", "pa:ss", NULL);
	lookup("registry-1.docker.io", 0, "user", "pa:ss", NULL);
	lookup("index.docker.io", 0, "user", "pa:ss", NULL);
	lookup("127.0.0.1:5000", 0, "a", "b", NULL);
	lookup("127.0.0.1:5001", -ENOENT, NULL, NULL, NULL);
	lookup("ghcr.io", 0, "user", "pa:ss", NULL);
	lookup("h:5000", 0, "h", "p", NULL);
	lookup("q:1", 0, "exact", "p", NULL);
	lookup("tok.example", 0, "<token>", "", "secret-refresh");
	lookup("bad.example", -EINVAL, NULL, NULL, NULL);
	lookup("bad64.example", -EINVAL, NULL, NULL, NULL);
	lookup("nopad.example", 0, "user", "pa:ss", NULL);     /* padding is optional */
	lookup("midpad.example", -EINVAL, NULL, NULL, NULL);   /* '=' only at the end */
	lookup("short.example", -EINVAL, NULL, NULL, NULL);    /* a lone 6 bits */
	lookup("empty.example", -ENOENT, NULL, NULL, NULL);

	/* not JSON: the line must not quote the text near the error */
	write_config("{\"auths\": {\"x\": {\"password\": \"secret\" \"oops\"}}}");
	lookup("x", -EINVAL, NULL, NULL, NULL);

	/* $DOCKER_CONFIG when no directory is given */
	write_config("{\"auths\": {\"env.example\": {\"username\": \"e\", \"password\": \"v\"}}}");
	{
		struct dfs_docker_cred c;

		setenv("DOCKER_CONFIG", tmpdir, 1);
		CHECK_INT(dfs_dockercfg_lookup(NULL, "env.example", 0, &c, NULL), 0);
		CHECK_STR(c.username ? c.username : "", "e");
		dfs_docker_cred_clear(&c);
		unsetenv("DOCKER_CONFIG");
	}
	CHECK_STR(dfs_dockercfg_normal_host("registry-1.docker.io"), "docker.io");
	CHECK_STR(dfs_dockercfg_normal_host("ghcr.io"), "ghcr.io");

	snprintf(path, sizeof(path), "%s/config.json", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

/* ------------------------------------------------ checks that ask no one */

static void test_check_without_network(void)
{
	static const char *const m[] = { "docker.io=http://127.0.0.1:1" };
	struct dfs_registry_client *c = client(m, 1, NULL, 0, NULL);
	struct dfs_reference ref;
	struct dfs_error err = { 0 };
	char digest[DFS_DIGEST_MAX + 1];

	CHECK(c != NULL);
	if (!c)
		return;
	/* a deadline already past: ETIMEDOUT, and the line names the mirror */
	CHECK_INT(dfs_reference_parse("nginx:1.25", &ref, NULL), 0);
	CHECK_INT(dfs_registry_check(c, &ref, NULL, dfs_http_now_ns() - 1, digest, &err),
		  -ETIMEDOUT);
	CHECK_INT(err.code, ETIMEDOUT);
	CHECK(strstr(err.msg, "registry docker.io (mirror 127.0.0.1:1)") != NULL);

	/* a struct that did not come from the parser is refused */
	memset(&ref, 0, sizeof(ref));
	strcpy(ref.name, "x");
	strcpy(ref.domain, "docker.io");
	strcpy(ref.path, "library/x?y");
	dfs_error_clear(&err);
	CHECK_INT(dfs_registry_check(c, &ref, NULL, dfs_http_now_ns() + 1000000000, digest, &err),
		  -EINVAL);
	dfs_registry_client_free(c);
}

/* After dfs_cancel_all() no transfer starts: no connection reaches a
 * listening server, and the check fails with the shutdown line. Runs last:
 * the flag cannot be cleared. */
static void test_cancelled_before_start(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	struct dfs_registry_client *c;
	struct dfs_reference ref;
	struct dfs_error err = { 0 };
	char digest[DFS_DIGEST_MAX + 1], mirror[64];
	const char *mp = mirror;
	int s;

	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(s >= 0);
	CHECK_INT(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_INT(listen(s, 4), 0);
	CHECK_INT(getsockname(s, (struct sockaddr *)&sa, &salen), 0);
	snprintf(mirror, sizeof(mirror), "docker.io=http://127.0.0.1:%d", ntohs(sa.sin_port));
	c = client(&mp, 1, NULL, 0, NULL);
	CHECK(c != NULL);
	CHECK_INT(dfs_cancelled(), 0);
	dfs_cancel_all();
	CHECK_INT(dfs_cancelled(), 1);
	dfs_cancel_all();   /* idempotent */
	CHECK_INT(dfs_cancelled(), 1);
	if (c) {
		CHECK_INT(dfs_reference_parse("nginx:1.25", &ref, NULL), 0);
		CHECK_INT(dfs_registry_check(c, &ref, NULL, dfs_http_now_ns() + 5000000000LL,
					     digest, &err), -ECANCELED);
		CHECK_INT(err.code, ECANCELED);
		CHECK_STR(err.msg, "cancelled: deployfs is shutting down");
		dfs_registry_client_free(c);
	}
	/* nothing connected (a connection would be queued, accepted at once) */
	CHECK(accept(s, NULL, NULL) < 0 && errno == EAGAIN);
	close(s);
}

int main(void)
{
	test_challenges();
	test_challenge_limits();
	test_mirrors();
	test_insecure();
	test_url_authority();
	test_object_host();
	test_sha256();
	test_dockercfg();
	test_check_without_network();
	test_cancelled_before_start();   /* last: it cannot be undone */
	return unit_done("test_registry");
}
