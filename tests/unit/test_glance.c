/* test_glance.c - the pure parts of the Glance client (glance_internal.h):
 * the endpoint, next links, list pages, error bodies, request headers. */
#include "glance_internal.h"
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

static void endpoint_case(const char *url, int want_ret, const char *want_base,
			  const char *want_origin)
{
	char base[256] = "", origin[256] = "";
	int ret = dfs_glance_endpoint(url, base, sizeof(base), origin, sizeof(origin));

	CHECK_INT(ret, want_ret);
	if (ret == 0) {
		CHECK_STR(base, want_base);
		CHECK_STR(origin, want_origin);
	}
}

static void test_endpoint(void)
{
	endpoint_case("http://127.0.0.1:9292", 0, "http://127.0.0.1:9292", "http://127.0.0.1:9292");
	endpoint_case("http://127.0.0.1:9292/", 0, "http://127.0.0.1:9292",
		      "http://127.0.0.1:9292");
	endpoint_case("http://127.0.0.1:9292/v2", 0, "http://127.0.0.1:9292",
		      "http://127.0.0.1:9292");
	endpoint_case("http://127.0.0.1:9292/v2/", 0, "http://127.0.0.1:9292",
		      "http://127.0.0.1:9292");
	endpoint_case("https://cloud.example/image", 0, "https://cloud.example/image",
		      "https://cloud.example:443");
	endpoint_case("https://cloud.example/image/v2", 0, "https://cloud.example/image",
		      "https://cloud.example:443");
	/* a host called v2 is a host, not a version */
	endpoint_case("http://v2", 0, "http://v2", "http://v2:80");
	endpoint_case("HTTP://Glance.Example:80/", 0, "HTTP://Glance.Example:80",
		      "http://glance.example:80");
	endpoint_case("ftp://h/", -EINVAL, NULL, NULL);
	endpoint_case("http://user:pw@h:9292", -EINVAL, NULL, NULL);
	endpoint_case("http://h:9292/?x=1", -EINVAL, NULL, NULL);
	endpoint_case("http://h:9292/#f", -EINVAL, NULL, NULL);
	endpoint_case("http://h 1:9292", -EINVAL, NULL, NULL);
	endpoint_case("127.0.0.1:9292", -EINVAL, NULL, NULL);
	endpoint_case("", -EINVAL, NULL, NULL);
}

static void next_case(const char *base, const char *page, const char *next, int want_ret,
		      const char *want)
{
	char origin[256], b[256], out[512] = "";
	int ret;

	if (dfs_glance_endpoint(base, b, sizeof(b), origin, sizeof(origin)) < 0) {
		CHECK(0);
		return;
	}
	ret = dfs_glance_next_url(b, origin, page, next, out, sizeof(out));
	CHECK_INT(ret, want_ret);
	if (ret == 0)
		CHECK_STR(out, want);
}

static void test_next_links(void)
{
	const char *g = "http://127.0.0.1:9292";
	const char *p1 = "http://127.0.0.1:9292/v2/images?limit=1000";

	/* what Glance writes: a path from the endpoint */
	next_case(g, p1, "/v2/images?limit=1000&marker=abc", 0,
		  "http://127.0.0.1:9292/v2/images?limit=1000&marker=abc");
	/* an endpoint with a path keeps it (glanceclient reads next so) */
	next_case("https://c.example/image", "https://c.example/image/v2/images?limit=2",
		  "/v2/images?limit=2&marker=m", 0,
		  "https://c.example/image/v2/images?limit=2&marker=m");
	/* absolute, on the same origin: followed */
	next_case(g, p1, "http://127.0.0.1:9292/v2/images?marker=x", 0,
		  "http://127.0.0.1:9292/v2/images?marker=x");
	/* query-only and relative forms resolve against the page */
	next_case(g, p1, "?limit=1000&marker=y", 0,
		  "http://127.0.0.1:9292/v2/images?limit=1000&marker=y");
	next_case(g, p1, "images?marker=z", 0, "http://127.0.0.1:9292/v2/images?marker=z");
	/* a fragment is not sent */
	next_case(g, p1, "/v2/images?marker=a#frag", 0,
		  "http://127.0.0.1:9292/v2/images?marker=a");
	/* another origin: never */
	next_case(g, p1, "http://evil.example:9292/v2/images?marker=a", -EINVAL, NULL);
	next_case(g, p1, "//evil.example/v2/images", -EINVAL, NULL);
	next_case(g, p1, "https://127.0.0.1:9292/v2/images", -EINVAL, NULL);
	next_case(g, p1, "http://127.0.0.1:9293/v2/images", -EINVAL, NULL);
	next_case(g, p1, "http://u@127.0.0.1:9292/v2/images", -EINVAL, NULL);
	/* junk */
	next_case(g, p1, "/v2/images?marker=a b", -EINVAL, NULL);
	next_case(g, p1, "/v2/images?marker=a\r\nX-Evil: 1", -EINVAL, NULL);
	next_case("https://c.example/image", "https://c.example/image/v2/images",
		  "/v2/../../secret", -EINVAL, NULL);
	next_case("https://c.example/image", "https://c.example/image/v2/images",
		  "/v2/./images", -EINVAL, NULL);
}

static void page_case(const char *body, int want_ret, int want_n, const char *want_next)
{
	json_t *doc = J(body), *items = NULL;
	const char *next = NULL;
	struct dfs_error err = { 0 };
	int ret = dfs_glance_page(doc, &items, &next, &err);

	CHECK_INT(ret, want_ret);
	if (ret == 0) {
		CHECK_INT((long long)json_array_size(items), want_n);
		if (want_next)
			CHECK_STR(next, want_next);
		else
			CHECK(next == NULL);
	} else {
		CHECK_INT(err.code, EIO);
		CHECK(strncmp(err.msg, "Glance: ", 8) == 0);
	}
	json_decref(doc);
}

static void test_pages(void)
{
	page_case("{\"images\":[], \"first\":\"/v2/images\", \"schema\":\"/v2/schemas/images\"}", 0,
		  0, NULL);
	page_case("{\"images\":[{\"id\":\"a\"},{\"id\":\"b\"}],\"first\":\"/v2/images?limit=2\","
		  "\"next\":\"/v2/images?limit=2&marker=b\"}", 0, 2,
		  "/v2/images?limit=2&marker=b");
	page_case("{\"images\":[{\"id\":\"a\"}],\"next\":null}", 0, 1, NULL);
	page_case("{\"images\":[{\"id\":\"a\"}],\"next\":\"\"}", 0, 1, NULL);
	page_case("{\"images\":[1],\"next\":42}", -EIO, 0, NULL);
	page_case("{\"images\":{}}", -EIO, 0, NULL);
	page_case("{\"items\":[]}", -EIO, 0, NULL);
	page_case("[{\"id\":\"a\"}]", -EIO, 0, NULL);
	page_case("\"text\"", -EIO, 0, NULL);
	page_case("null", -EIO, 0, NULL);
}

static void clean_case(const char *in, const char *want)
{
	char out[DFS_GLANCE_MSG_MAX + 1];

	dfs_glance_clean_message(in, out, sizeof(out));
	CHECK_STR(out, want);
}

static void test_clean_messages(void)
{
	/* as Glance 25 writes them (notes measured on a real one) */
	clean_case("Attribute 'status' is read-only.<br /><br />\n\n\n",
		   "Attribute 'status' is read-only.");
	clean_case("Access was denied to this resource.<br /><br />\nProperty name may not be "
		   "removed.\n\n", "Access was denied to this resource. Property name may not be "
		   "removed.");
	clean_case("The request media type application/json is not supported by this "
		   "server.\n<br /><br />\n", "The request media type application/json is not "
		   "supported by this server.");
	clean_case("There was a conflict when trying to complete your request.<br /><br />\n"
		   "Property nokey does not exist.\n\n", "There was a conflict when trying to "
		   "complete your request. Property nokey does not exist.");
	clean_case("  <BR>a<br/>b<br  />c\t\td  ", "a b c d");
	clean_case("Attribute &#x27;x&#x27; &amp; &quot;y&quot; &lt;z&gt; &#39;w&#39;",
		   "Attribute 'x' & \"y\" <z> 'w'");
	clean_case("<br /><br />\n\n", "");
	clean_case("", "");
	/* other tags stay as they are: only the line breaks are junk */
	clean_case("<b>bold</b>", "<b>bold</b>");
	clean_case("an unfinished <br", "an unfinished <br");
	/* control characters and bad UTF-8 are made safe */
	clean_case("a\x01" "b\x1b[31mc", "a b [31mc");
	clean_case("bad \xff utf8", "bad ? utf8");
	clean_case("caf\xc3\xa9", "caf\xc3\xa9");
	{
		/* bounded: at most DFS_GLANCE_MSG_MAX bytes, never half a character */
		char big[4000], out[DFS_GLANCE_MSG_MAX + 1];
		size_t i;

		for (i = 0; i + 2 < sizeof(big); i += 2) {
			big[i] = (char)0xc3;
			big[i + 1] = (char)0xa9;
		}
		big[i] = '\0';
		dfs_glance_clean_message(big, out, sizeof(out));
		CHECK(strlen(out) <= DFS_GLANCE_MSG_MAX);
		CHECK(strlen(out) % 2 == 0);
		dfs_glance_clean_message("a <br /> b", out, 4);
		CHECK_STR(out, "a b");
	}
}

static void error_case(long status, const char *body, int want_errno, const char *want_msg)
{
	struct dfs_error err = { 0 };
	int ret = dfs_glance_error(status, body, body ? strlen(body) : 0, &err);

	CHECK_INT(ret, -want_errno);
	CHECK_INT(err.code, want_errno);
	CHECK_STR(err.msg, want_msg);
}

static void test_errors(void)
{
	error_case(400, "{\"message\": \"Provided object does not match schema 'image': 'x' is "
		   "not of type 'integer'<br /><br />\\n\\n\\n\", \"code\": \"400 Bad Request\", "
		   "\"title\": \"Bad Request\"}", EINVAL,
		   "Glance: Provided object does not match schema 'image': 'x' is not of type "
		   "'integer'");
	error_case(401, "{\"message\": \"This server could not verify that you are authorized"
		   "<br /><br />\\n\", \"code\": \"401 Unauthorized\"}", EACCES,
		   "Glance: This server could not verify that you are authorized (the token was "
		   "refused: check glance_token_file or OS_TOKEN)");
	error_case(403, "{\"message\": \"Attribute 'status' is read-only.<br /><br />\\n\\n\\n\", "
		   "\"code\": \"403 Forbidden\", \"title\": \"Forbidden\"}", EPERM,
		   "Glance: Attribute 'status' is read-only.");
	error_case(404, "{\"message\": \"No image found with ID x<br /><br />\\n\\n\\n\"}", ENOENT,
		   "Glance: No image found with ID x");
	error_case(405, NULL, EPERM, "Glance: HTTP 405");
	error_case(409, "{\"message\": \"Property nokey does not exist.\"}", EEXIST,
		   "Glance: Property nokey does not exist.");
	error_case(413, "{\"message\": \"Maximum number of properties exceeded\", \"title\": "
		   "\"Request Entity Too Large\"}", EDQUOT,
		   "Glance: Maximum number of properties exceeded");
	error_case(415, "{\"message\": \"The request media type application/json is not "
		   "supported by this server.\\n<br /><br />\\n\"}", EINVAL,
		   "Glance: The request media type application/json is not supported by this "
		   "server.");
	error_case(429, "{\"title\": \"Too Many Requests\"}", EAGAIN, "Glance: Too Many Requests");
	error_case(500, "<html><body>500 Internal Server Error</body></html>", EIO,
		   "Glance: HTTP 500");
	error_case(503, "{\"message\": \"\"}", EAGAIN, "Glance: HTTP 503");
	error_case(502, "{\"message\": 42, \"title\": [1]}", EIO, "Glance: HTTP 502");
	error_case(400, "{\"message\": \"a\\u0001b\\nc\"}", EINVAL, "Glance: a b c");
	/* a body jansson will not take (a NUL inside a string) says the status */
	error_case(400, "{\"message\": \"a\\u0000b\"}", EINVAL, "Glance: HTTP 400");
	{
		/* a long message is cut, and the line stays one line */
		char body[3000];
		struct dfs_error err = { 0 };

		snprintf(body, sizeof(body), "{\"message\": \"%0*d\\n\\n<br />\"}", 2000, 7);
		dfs_glance_error(400, body, strlen(body), &err);
		CHECK(strlen(err.msg) <= strlen("Glance: ") + DFS_GLANCE_MSG_MAX);
		CHECK(strchr(err.msg, '\n') == NULL);
	}
}

static void test_headers(void)
{
	char auth[64];
	const char *h[5];
	size_t n = 0;

	/* a token goes in X-Auth-Token, never in Authorization */
	CHECK_INT(dfs_glance_headers("f064c46a782c444cb4ba4b6434288f7c", 1, auth, sizeof(auth), h,
				     &n), 0);
	CHECK_INT((long long)n, 4);
	CHECK_STR(h[0], "X-Auth-Token: f064c46a782c444cb4ba4b6434288f7c");
	CHECK_STR(h[1], "Accept: application/json");
	CHECK_STR(h[2], "Expect:");
	CHECK_STR(h[3], "Content-Type: application/openstack-images-v2.1-json-patch");
	/* no token, a GET: no X-Auth-Token, no Content-Type */
	CHECK_INT(dfs_glance_headers(NULL, 0, auth, sizeof(auth), h, &n), 0);
	CHECK_INT((long long)n, 2);
	CHECK_STR(h[0], "Accept: application/json");
	CHECK_STR(h[1], "Expect:");
	for (size_t i = 0; i < n; i++)
		CHECK(strncasecmp(h[i], "X-Auth-Token", 12) != 0);
	/* a token that does not fit is refused, not cut */
	CHECK_INT(dfs_glance_headers("0123456789012345678901234567890123456789012345678901234567",
				     0, auth, sizeof(auth), h, &n), -ENAMETOOLONG);
	CHECK(dfs_token_ok("gAAAAABk-_x.y~z"));
	CHECK(!dfs_token_ok(""));
	CHECK(!dfs_token_ok(NULL));
	CHECK(!dfs_token_ok("a b"));
	CHECK(!dfs_token_ok("a\r\nX-Evil: 1"));
	CHECK(!dfs_token_ok("caf\xc3\xa9"));
}

int main(void)
{
	test_endpoint();
	test_next_links();
	test_pages();
	test_clean_messages();
	test_errors();
	test_headers();
	return unit_done("test_glance");
}
