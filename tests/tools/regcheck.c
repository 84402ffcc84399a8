/* regcheck - run the registry check of backend/registry.c on one reference.
 *
 *   regcheck [options] REFERENCE
 *     --mirror HOST=URL        registry_mirror (repeatable)
 *     --insecure HOST[:PORT]   insecure_registry (repeatable)
 *     --cacert FILE            extra CA bundle
 *     --timeout SECONDS        deadline of each check (default 10, fractions ok)
 *     --docker-config DIR      instead of $DOCKER_CONFIG / ~/.docker
 *     --creds-file FILE        lines username=, password=, token=
 *     --creds-env              $REGCHECK_USERNAME, $REGCHECK_PASSWORD, $REGCHECK_TOKEN
 *     --repeat N               check N times on one client; timings on stderr
 *     --debug                  log_debug lines on stderr
 *
 * Prints the digest, or "ERRNAME: error line", on stdout; exits with 0 or
 * the errno. Secrets never come from argv (ps shows it to everyone).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "reference.h"
#include "registry.h"

#define LIST_MAX 16

static void usage(void)
{
	fprintf(stderr, "usage: regcheck [--mirror HOST=URL] [--insecure HOST[:PORT]] [--cacert FILE]\n"
		"                [--timeout SECONDS] [--docker-config DIR]\n"
		"                [--creds-file FILE | --creds-env] [--repeat N] [--debug] REFERENCE\n");
}

static int fail(int code, const char *msg)
{
	const char *name = strerrorname_np(code);

	printf("%s: %s\n", name ? name : "E?", msg);
	return code;
}

/* key=value lines; the values are secrets, so the buffer is wiped later */
static int read_creds_file(const char *path, char *buf, size_t bufsz,
			   struct dfs_registry_creds *cr)
{
	FILE *f = fopen(path, "r");
	size_t n;
	char *line, *save = NULL;

	if (!f)
		return -errno;
	n = fread(buf, 1, bufsz - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		if (strncmp(line, "username=", 9) == 0)
			cr->username = line + 9;
		else if (strncmp(line, "password=", 9) == 0)
			cr->password = line + 9;
		else if (strncmp(line, "token=", 6) == 0)
			cr->token = line + 6;
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *mirrors[LIST_MAX], *insecure[LIST_MAX];
	struct dfs_registry_opts opts = { .mirrors = mirrors, .insecure = insecure };
	struct dfs_registry_creds creds = { 0 }, *cp = NULL;
	struct dfs_registry_client *c;
	struct dfs_reference ref;
	struct dfs_error err = { 0 };
	char digest[DFS_DIGEST_MAX + 1], credbuf[4096];
	const char *refstr = NULL;
	double timeout = 10;
	long repeat = 1, i;
	int64_t *lat = NULL, t0;
	int debug = 0, ret = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--creds-env") == 0) {
			creds.username = getenv("REGCHECK_USERNAME");
			creds.password = getenv("REGCHECK_PASSWORD");
			creds.token = getenv("REGCHECK_TOKEN");
			cp = &creds;
		} else if (strcmp(a, "--debug") == 0) {
			debug = 1;
		} else if (a[0] == '-' && a[1] == '-') {
			if (!v) {
				usage();
				return EINVAL;
			}
			i++;
			if (strcmp(a, "--mirror") == 0 && opts.n_mirrors < LIST_MAX)
				mirrors[opts.n_mirrors++] = v;
			else if (strcmp(a, "--insecure") == 0 && opts.n_insecure < LIST_MAX)
				insecure[opts.n_insecure++] = v;
			else if (strcmp(a, "--cacert") == 0)
				opts.cacert = v;
			else if (strcmp(a, "--docker-config") == 0)
				opts.docker_config_dir = v;
			else if (strcmp(a, "--timeout") == 0)
				timeout = atof(v);
			else if (strcmp(a, "--repeat") == 0)
				repeat = atol(v);
			else if (strcmp(a, "--creds-file") == 0) {
				if (read_creds_file(v, credbuf, sizeof(credbuf), &creds) < 0)
					return fail(EINVAL, "cannot read the credentials file");
				cp = &creds;
			} else {
				usage();
				return EINVAL;
			}
		} else if (!refstr) {
			refstr = a;
		} else {
			usage();
			return EINVAL;
		}
	}
	if (!refstr || timeout <= 0 || repeat < 1) {
		usage();
		return EINVAL;
	}
	log_init(1, debug);
	if (dfs_reference_parse(refstr, &ref, &err) < 0)
		return fail(err.code, err.msg);
	c = dfs_registry_client_new(&opts, &err);
	if (!c)
		return fail(err.code, err.msg);
	lat = calloc((size_t)repeat, sizeof(*lat));
	if (!lat) {
		dfs_registry_client_free(c);
		return fail(ENOMEM, "out of memory");
	}
	for (i = 0; i < repeat; i++) {
		t0 = dfs_http_now_ns();
		ret = dfs_registry_check(c, &ref, cp, t0 + (int64_t)(timeout * 1e9), digest, &err);
		lat[i] = dfs_http_now_ns() - t0;
		if (ret < 0)
			break;
	}
	if (ret < 0)
		ret = fail(err.code, err.msg);
	else
		printf("%s\n", digest);
	if (repeat > 1 && ret == 0) {
		/* the first check opens the connection and gets the token */
		t0 = lat[0];
		qsort(lat, (size_t)repeat, sizeof(*lat), cmp_i64);
		fprintf(stderr, "checks %ld first_us %.1f min_us %.1f median_us %.1f p90_us %.1f\n",
			repeat, t0 / 1e3, lat[0] / 1e3, lat[repeat / 2] / 1e3,
			lat[repeat * 9 / 10] / 1e3);
	}
	free(lat);
	dfs_registry_client_free(c);
	explicit_bzero(credbuf, sizeof(credbuf));
	return ret;
}
