/* test_api.c - the pure parts of the apps API client (api_internal.h): list
 * shapes, next links and their resolution, error bodies, the PATCH body. */
#include "api_internal.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

static json_t *J(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	if (!j)
		fprintf(stderr, "bad test JSON: %s\n", text);
	return j;
}

static void list_case(const char *body, int want_ret, int want_n, const char *want_next)
{
	json_t *doc = J(body), *items = NULL;
	const char *next = NULL;
	struct dfs_error err = { 0 };
	int ret = dfs_api_list_items(doc, &items, &next, &err);

	CHECK_INT(ret, want_ret);
	if (ret == 0) {
		CHECK_INT((long long)json_array_size(items), want_n);
		if (want_next)
			CHECK_STR(next, want_next);
		else
			CHECK(next == NULL);
	} else {
		CHECK_INT(err.code, EIO);
		CHECK(strncmp(err.msg, "apps API: ", 10) == 0);
	}
	json_decref(doc);
}

static void test_list_shapes(void)
{
	list_case("[]", 0, 0, NULL);
	list_case("[{\"id\":\"a\"},{\"id\":\"b\"}]", 0, 2, NULL);
	list_case("{\"items\":[{\"id\":\"a\"}],\"next\":\"/api/v1/x?page=2\"}", 0, 1,
		  "/api/v1/x?page=2");
	list_case("{\"items\":[{\"id\":\"a\"}],\"next\":null}", 0, 1, NULL);
	list_case("{\"data\":[1,2,3],\"total\":3}", 0, 3, NULL);
	list_case("{\"results\":[1],\"links\":{\"next\":\"?page=2\"}}", 0, 1, "?page=2");
	list_case("{\"content\":[1],\"_links\":{\"next\":{\"href\":\"p2\"}}}", 0, 1, "p2");
	list_case("{\"environments\":[1,2]}", 0, 2, NULL);
	list_case("{\"items\":[], \"next\":\"\"}", 0, 0, NULL);
	list_case("{\"a\":[1],\"b\":[2]}", -EIO, 0, NULL);
	list_case("{\"a\":1}", -EIO, 0, NULL);
	list_case("\"text\"", -EIO, 0, NULL);
	list_case("42", -EIO, 0, NULL);
}

static void link_case(const char *header, int want_ret, const char *want)
{
	char out[256] = "";
	int ret = dfs_api_link_next(header, out, sizeof(out));

	CHECK_INT(ret, want_ret);
	if (ret == 0)
		CHECK_STR(out, want);
}

static void test_link_header(void)
{
	link_case("</api/v1/environments?page=2>; rel=\"next\"", 0, "/api/v1/environments?page=2");
	link_case("<https://h/p?page=1>; rel=\"prev\", <https://h/p?page=3>; rel=\"next\"", 0,
		  "https://h/p?page=3");
	link_case("<p3>; rel=next", 0, "p3");
	link_case("<p3>;rel=\"last next\";title=\"x, y\"", 0, "p3");
	link_case("<p3>; REL=\"Next\"", 0, "p3");
	link_case("<p1>; rel=\"prev\"", -ENOENT, NULL);
	link_case("<p1>; rel=\"nextpage\"", -ENOENT, NULL);
	link_case("garbage", -ENOENT, NULL);
	link_case("<unterminated; rel=next", -ENOENT, NULL);
	link_case("", -ENOENT, NULL);
}

static void origin_case(const char *url, int want_ret, const char *want)
{
	char out[DFS_API_ORIGIN_MAX] = "";
	int ret = dfs_api_origin(url, out, sizeof(out));

	CHECK_INT(ret, want_ret);
	if (ret == 0)
		CHECK_STR(out, want);
}

static void resolve_case(const char *page, const char *ref, int want_ret, const char *want)
{
	char origin[DFS_API_ORIGIN_MAX], out[DFS_API_URL_MAX] = "";
	int ret;

	dfs_api_origin("http://api.example:8080/api/v1", origin, sizeof(origin));
	ret = dfs_api_resolve(origin, page, ref, out, sizeof(out));
	if (ret != want_ret)
		fprintf(stderr, "resolve %s + %s: %d %s\n", page, ref, ret, out);
	CHECK_INT(ret, want_ret);
	if (ret == 0)
		CHECK_STR(out, want);
}

static void test_next_links(void)
{
	const char *page = "http://api.example:8080/api/v1/environments?page=1";

	origin_case("http://API.example:8080/api/v1", 0, "http://api.example:8080");
	origin_case("http://api.example/api/v1", 0, "http://api.example:80");
	origin_case("https://api.example/", 0, "https://api.example:443");
	origin_case("https://[::1]:9/x", 0, "https://[::1]:9");
	origin_case("http://user:pw@api.example/", -EINVAL, NULL);
	origin_case("ftp://api.example/", -EINVAL, NULL);
	origin_case("http://api.example:99999/", -EINVAL, NULL);
	origin_case("http:///x", -EINVAL, NULL);

	resolve_case(page, "/api/v1/environments?page=2", 0,
		     "http://api.example:8080/api/v1/environments?page=2");
	resolve_case(page, "?page=2", 0, "http://api.example:8080/api/v1/environments?page=2");
	resolve_case(page, "environments?page=2", 0,
		     "http://api.example:8080/api/v1/environments?page=2");
	resolve_case(page, "../v2/x", 0, "http://api.example:8080/api/v2/x");
	resolve_case(page, "../../../../x", 0, "http://api.example:8080/x");
	resolve_case(page, "http://api.example:8080/api/v1/environments?page=2#frag", 0,
		     "http://api.example:8080/api/v1/environments?page=2");
	resolve_case(page, "HTTP://API.EXAMPLE:8080/api/v1/e?page=2", 0,
		     "HTTP://API.EXAMPLE:8080/api/v1/e?page=2");
	resolve_case(page, "//api.example:8080/api/v1/e?page=3", 0,
		     "http://api.example:8080/api/v1/e?page=3");
	resolve_case(page, "/api/./v1/./e/.", 0, "http://api.example:8080/api/v1/e/");
	/* other origins: never followed */
	resolve_case(page, "https://api.example:8080/api/v1/e?page=2", -EINVAL, NULL);
	resolve_case(page, "http://api.example:8081/api/v1/e?page=2", -EINVAL, NULL);
	resolve_case(page, "http://evil.example:8080/api/v1/e", -EINVAL, NULL);
	resolve_case(page, "//evil.example/x", -EINVAL, NULL);
	resolve_case(page, "http://api.example:8080@evil.example/x", -EINVAL, NULL);
	resolve_case(page, "http://x@api.example:8080/x", -EINVAL, NULL);
	resolve_case(page, "file:///etc/passwd", -EINVAL, NULL);
	resolve_case(page, "/a b", -EINVAL, NULL);
	resolve_case(page, "/a\r\nX-Evil: 1", -EINVAL, NULL);
}

static void error_case(long status, const char *body, int want_errno, const char *want)
{
	struct dfs_error err = { 0 };
	int ret = dfs_api_error(status, body, body ? strlen(body) : 0, &err);

	CHECK_INT(ret, -want_errno);
	CHECK_INT(err.code, want_errno);
	CHECK_STR(err.msg, want);
}

static void test_error_bodies(void)
{
	error_case(400, "{\"code\":\"VALIDATION_FAILED\",\"message\":\"image nginx:9.9 not found "
		   "in registry docker.io\",\"details\":{}}", EINVAL,
		   "apps API: image nginx:9.9 not found in registry docker.io");
	error_case(401, "{\"code\":\"UNAUTHORIZED\",\"message\":\"invalid token\"}", EACCES,
		   "apps API: invalid token (the token was refused: check api_token_file or "
		   "DEPLOYFS_API_TOKEN)");
	error_case(403, "{\"code\":\"2fa_required\",\"message\":\"2FA required\"}", EPERM,
		   "apps API: 2FA required (the token needs 2FA: use a token of an account with "
		   "two-factor authentication)");
	error_case(403, "{\"code\":\"FORBIDDEN\",\"message\":\"not yours\"}", EPERM,
		   "apps API: not yours");
	error_case(404, "{\"code\":\"NOT_FOUND\",\"message\":\"no such app\"}", ENOENT,
		   "apps API: no such app");
	error_case(409, "{\"code\":\"CONFLICT\",\"message\":\"url exists\"}", EEXIST,
		   "apps API: url exists");
	error_case(429, "{\"message\":\"slow down\"}", EAGAIN, "apps API: slow down");
	error_case(500, "{\"code\":\"INTERNAL_ERROR\",\"message\":\"boom\"}", EIO,
		   "apps API: boom");
	error_case(500, "<html>oops</html>", EIO, "apps API: HTTP 500");
	error_case(502, NULL, EIO, "apps API: HTTP 502");
	error_case(418, "{\"code\":\"TEAPOT\"}", EIO, "apps API: TEAPOT, HTTP 418");
	error_case(302, "", EIO, "apps API: HTTP 302");
	/* control characters and newlines never reach the error line */
	error_case(400, "{\"message\":\"line1\\nline2\\u0007\\u001b[31m\"}", EINVAL,
		   "apps API: line1 line2  [31m");
	/* a message is bounded, cut on a character boundary */
	{
		char body[2000], want[400];
		struct dfs_error err = { 0 };
		size_t o = 0;

		o += (size_t)snprintf(body, sizeof(body), "{\"message\":\"");
		for (int i = 0; i < 300; i++)
			o += (size_t)snprintf(body + o, sizeof(body) - o, "\xc3\xa9");
		snprintf(body + o, sizeof(body) - o, "\"}");
		dfs_api_error(400, body, strlen(body), &err);
		CHECK_INT((long long)strlen(err.msg), 10 + DFS_API_MSG_MAX);
		snprintf(want, sizeof(want), "apps API: %.*s", DFS_API_MSG_MAX, body + 12);
		CHECK_STR(err.msg, want);
	}
	{
		char out[16];

		dfs_api_sanitise("ab\xff\xfe" "cd\xe2\x80\xa8" "e", out, sizeof(out));
		CHECK_STR(out, "ab??cd e");
	}
	CHECK_INT(dfs_api_retry_after("3"), 3);
	CHECK_INT(dfs_api_retry_after(" 0 "), 0);
	CHECK_INT(dfs_api_retry_after("99999999999"), 3600);
	CHECK_INT(dfs_api_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
	CHECK_INT(dfs_api_retry_after(""), -1);
	CHECK_INT(dfs_api_retry_after(NULL), -1);
}

static const char *APP = "{\"id\":\"a1\",\"envIdRef\":\"e1\",\"source\":{\"image\":"
			 "{\"name\":\"nginx\",\"tag\":\"1.25\"},\"containerRegistryConfigIdRef\":"
			 "\"r1\"},\"resources\":{\"cpu\":1},\"version\":3}";

static void body_case(const char *app, const char *patch, int want_ret, const char *want)
{
	json_t *a = J(app), *p = J(patch), *body = NULL, *w;
	struct dfs_error err = { 0 };
	int ret = dfs_api_patch_body(a, p, &body, &err);

	if (ret != want_ret)
		fprintf(stderr, "patch %s: %d %s\n", patch, ret, err.msg);
	CHECK_INT(ret, want_ret);
	if (ret == 0) {
		char *got = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT);

		w = J(want);
		CHECK(json_equal(body, w));
		if (!json_equal(body, w))
			fprintf(stderr, "got %s\n", got);
		free(got);
		json_decref(w);
	} else if (want) {
		CHECK_STR(err.msg, want);
	}
	json_decref(body);
	json_decref(a);
	json_decref(p);
}

static void test_patch_body(void)
{
	body_case(APP, "[{\"op\":\"add\",\"path\":\"/source/image/tag\",\"value\":\"1.27\"}]", 0,
		  "{\"imageName\":\"nginx\",\"imageTag\":\"1.27\",\"containerRegistryId\":\"r1\"}");
	body_case(APP, "[{\"op\":\"replace\",\"path\":\"/source/image/name\",\"value\":"
		  "\"ghcr.io/o/r\"},{\"op\":\"add\",\"path\":\"/source/image/tag\",\"value\":\"v2\"}]",
		  0, "{\"imageName\":\"ghcr.io/o/r\",\"imageTag\":\"v2\",\"containerRegistryId\":\"r1\"}");
	/* public: the registry removed, so no containerRegistryId */
	body_case(APP, "[{\"op\":\"remove\",\"path\":\"/source/containerRegistryConfigIdRef\"}]", 0,
		  "{\"imageName\":\"nginx\",\"imageTag\":\"1.25\"}");
	body_case(APP, "[{\"op\":\"add\",\"path\":\"/source/containerRegistryConfigIdRef\","
		  "\"value\":\"\"}]", 0, "{\"imageName\":\"nginx\",\"imageTag\":\"1.25\"}");
	body_case(APP, "[{\"op\":\"add\",\"path\":\"/source/containerRegistryConfigIdRef\","
		  "\"value\":\"r2\"}]", 0,
		  "{\"imageName\":\"nginx\",\"imageTag\":\"1.25\",\"containerRegistryId\":\"r2\"}");
	/* an app without source: the parents are added, then the fields */
	body_case("{\"id\":\"a\"}", "[{\"op\":\"add\",\"path\":\"/source\",\"value\":{}},"
		  "{\"op\":\"add\",\"path\":\"/source/image\",\"value\":{}},"
		  "{\"op\":\"add\",\"path\":\"/source/image/name\",\"value\":\"redis\"},"
		  "{\"op\":\"add\",\"path\":\"/source/image/tag\",\"value\":\"7\"}]", 0,
		  "{\"imageName\":\"redis\",\"imageTag\":\"7\"}");
	/* a parent that exists now (the app was fetched again) is kept */
	body_case(APP, "[{\"op\":\"add\",\"path\":\"/source\",\"value\":{}},"
		  "{\"op\":\"add\",\"path\":\"/source/image/tag\",\"value\":\"9\"}]", 0,
		  "{\"imageName\":\"nginx\",\"imageTag\":\"9\",\"containerRegistryId\":\"r1\"}");
	/* no tag: latest */
	body_case("{\"id\":\"a\",\"source\":{\"image\":{\"name\":\"redis\"}}}",
		  "[{\"op\":\"add\",\"path\":\"/source/containerRegistryConfigIdRef\","
		  "\"value\":\"r\"}]", 0,
		  "{\"imageName\":\"redis\",\"imageTag\":\"latest\",\"containerRegistryId\":\"r\"}");
	/* anything else is EPERM, and says what */
	body_case(APP, "[{\"op\":\"add\",\"path\":\"/name\",\"value\":\"x\"}]", -EPERM,
		  "apps API: only an app's image (name, tag, registry) can be changed, not /name");
	body_case(APP, "[{\"op\":\"add\",\"path\":\"/source/image/tag\",\"value\":\"2\"},"
		  "{\"op\":\"replace\",\"path\":\"/resources/cpu\",\"value\":2}]", -EPERM, NULL);
	body_case(APP, "[{\"op\":\"add\",\"path\":\"/source\",\"value\":{\"x\":1}}]", -EPERM, NULL);
	body_case(APP, "[{\"op\":\"copy\",\"from\":\"/name\",\"path\":\"/source/image/tag\"}]",
		  -EPERM, NULL);
	/* a failed test, or no name at all */
	body_case(APP, "[{\"op\":\"test\",\"path\":\"/version\",\"value\":2},"
		  "{\"op\":\"add\",\"path\":\"/source/image/tag\",\"value\":\"2\"}]", -EINVAL, NULL);
	body_case("{\"id\":\"a\",\"source\":{\"image\":{}}}",
		  "[{\"op\":\"add\",\"path\":\"/source/image/tag\",\"value\":\"2\"}]", -EINVAL,
		  "the app has no image name");
	body_case(APP, "{}", -EINVAL, NULL);
}

static void test_segments(void)
{
	char out[64];

	CHECK_INT(dfs_api_segment("550e8400-e29b", out, sizeof(out)), 0);
	CHECK_STR(out, "550e8400-e29b");
	CHECK_INT(dfs_api_segment("a b/c?d#e%", out, sizeof(out)), 0);
	CHECK_STR(out, "a%20b%2Fc%3Fd%23e%25");
	CHECK_INT(dfs_api_segment("..", out, sizeof(out)), 0);
	CHECK_STR(out, "%2E%2E");
	CHECK_INT(dfs_api_segment("a.b", out, sizeof(out)), 0);
	CHECK_STR(out, "a.b");
	CHECK_INT(dfs_api_segment("////", out, 8), -ENAMETOOLONG);
}

int main(void)
{
	test_list_shapes();
	test_link_header();
	test_next_links();
	test_error_bodies();
	test_patch_body();
	test_segments();
	return unit_done("test_api");
}
