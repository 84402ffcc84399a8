/* dockercfg.c - credentials for one registry from docker's config.json:
 * its credential helper, else its "auths" entry. */
#include "dockercfg.h"
#include "credhelper.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

const char *dfs_dockercfg_normal_host(const char *host)
{
	if (strcmp(host, "index.docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0 ||
	    strcmp(host, "docker.io") == 0)
		return "docker.io";
	return host;
}

void dfs_docker_cred_clear(struct dfs_docker_cred *c)
{
	char **f[3];
	size_t i;

	if (!c)
		return;
	f[0] = &c->username;
	f[1] = &c->password;
	f[2] = &c->identitytoken;
	for (i = 0; i < 3; i++) {
		if (*f[i]) {
			explicit_bzero(*f[i], strlen(*f[i]));
			free(*f[i]);
			*f[i] = NULL;
		}
	}
}

/* config.json's path: config_dir, $DOCKER_CONFIG, $HOME/.docker, or the
 * home of the user database when HOME is unset (daemons started by init). */
static int config_path(const char *config_dir, char *out, size_t outsz)
{
	const char *home;
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	int n;

	if (!config_dir || !*config_dir)
		config_dir = getenv("DOCKER_CONFIG");
	if (config_dir && *config_dir) {
		n = snprintf(out, outsz, "%s/config.json", config_dir);
	} else {
		home = getenv("HOME");
		if ((!home || !*home) &&
		    getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
			home = pw.pw_dir;
		if (!home || !*home)
			return -ENOENT;
		n = snprintf(out, outsz, "%s/.docker/config.json", home);
	}
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* Read the whole file, at most DFS_DOCKERCFG_MAX bytes. Caller wipes and
 * frees *buf: it holds secrets. */
static int read_file(const char *path, char **buf, size_t *len, struct dfs_error *err)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return dfs_error_set(err, ENOENT, "no docker config at %s", path);
		return dfs_error_set(err, EIO, "cannot read docker config %s: %s",
				     path, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = dfs_error_set(err, EIO, "docker config %s is not a regular file", path);
		goto close_fd;
	}
	if (st.st_size > DFS_DOCKERCFG_MAX) {
		ret = dfs_error_set(err, EINVAL, "docker config %s is larger than %d bytes",
				    path, DFS_DOCKERCFG_MAX);
		goto close_fd;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		ret = dfs_error_set(err, ENOMEM, "out of memory reading %s", path);
		goto close_fd;
	}
	/* the size may change under us: never read past what was allocated */
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = dfs_error_set(err, EIO, "cannot read docker config %s: %s",
					    path, strerror(errno));
			explicit_bzero(*buf, got);
			free(*buf);
			*buf = NULL;
			goto close_fd;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	(*buf)[got] = '\0';
	*len = got;
	ret = 0;
close_fd:
	close(fd);
	return ret;
}

/* Standard base64 (padding optional) into a new NUL-terminated string,
 * decoded by libcrypto's EVP_DecodeBlock, which wants whole quanta: the
 * padding is put back first. NULL on a bad character or no memory. */
static char *b64_decode(const char *in)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = strlen(in), pad;
	char *quanta, *out;
	int n;

	while (len && (in[len - 1] == '=' || in[len - 1] == '\n'))
		len--;
	pad = (4 - len % 4) % 4;
	if (strspn(in, alphabet) < len || pad == 3 || len > INT_MAX / 2)
		return NULL;
	quanta = malloc(len + pad + 1);
	out = malloc((len + pad) / 4 * 3 + 1);
	if (!quanta || !out) {
		free(quanta);
		free(out);
		return NULL;
	}
	memcpy(quanta, in, len);
	memset(quanta + len, '=', pad);
	n = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)quanta, (int)(len + pad));
	explicit_bzero(quanta, len);
	free(quanta);
	if (n < 0) {
		free(out);
		return NULL;
	}
	out[(size_t)n - pad] = '\0';   /* EVP_DecodeBlock counts the padding as zero bytes */
	return out;
}

/* The host a key of "auths" names: scheme and path dropped, docker.io
 * spellings folded. Written into out. */
static void key_host(const char *key, char *out, size_t outsz)
{
	const char *s = key;
	size_t n;

	if (strncasecmp(s, "https://", 8) == 0)
		s += 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		s += 7;
	n = strcspn(s, "/");
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	if (dfs_dockercfg_normal_host(out) != out)
		snprintf(out, outsz, "%s", "docker.io");
}

static json_t *find_entry(json_t *auths, const char *host)
{
	const char *want = dfs_dockercfg_normal_host(host), *key;
	char kh[512];
	json_t *v, *loose = NULL;

	if (strcmp(want, "docker.io") == 0) {
		v = json_object_get(auths, "https://index.docker.io/v1/");
		if (json_is_object(v))
			return v;
	}
	v = json_object_get(auths, host);
	if (json_is_object(v))
		return v;
	json_object_foreach(auths, key, v) {
		if (!json_is_object(v))
			continue;
		key_host(key, kh, sizeof(kh));
		if (strcasecmp(kh, want) == 0) {
			loose = v;
			break;
		}
	}
	return loose;
}

static int dup_field(json_t *entry, const char *name, char **out)
{
	const char *s = json_string_value(json_object_get(entry, name));

	if (!s || !*s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int fill_cred(json_t *entry, const char *path, const char *host,
		     struct dfs_docker_cred *out, struct dfs_error *err)
{
	const char *auth = json_string_value(json_object_get(entry, "auth"));
	char *plain, *colon;

	if (auth && *auth) {
		plain = b64_decode(auth);
		colon = plain ? strchr(plain, ':') : NULL;
		if (!colon) {
			if (plain) {
				explicit_bzero(plain, strlen(plain));
				free(plain);
			}
			return dfs_error_set(err, EINVAL,
					     "docker config %s: \"auth\" for %s is not base64 of user:password",
					     path, host);
		}
		*colon = '\0';
		out->username = strdup(plain);
		out->password = strdup(colon + 1);
		explicit_bzero(colon + 1, strlen(colon + 1));
		free(plain);
		if (!out->username || !out->password)
			goto oom;
	} else if (dup_field(entry, "username", &out->username) < 0 ||
		   dup_field(entry, "password", &out->password) < 0) {
		goto oom;
	}
	if (dup_field(entry, "identitytoken", &out->identitytoken) < 0)
		goto oom;
	if (!out->identitytoken && !(out->username && out->password))
		return dfs_error_set(err, ENOENT, "docker config %s: no credentials for %s",
				     path, host);
	return 0;
oom:
	return dfs_error_set(err, ENOMEM, "out of memory reading %s", path);
}

/* The server address docker hands a helper and keys credHelpers by:
 * Docker Hub's historical URL, else host[:port] as asked. */
static const char *server_address(const char *host)
{
	return strcmp(dfs_dockercfg_normal_host(host), "docker.io") == 0 ?
	       "https://index.docker.io/v1/" : host;
}

/* docker's order (cli/config/configfile: getConfiguredCredentialStore):
 * credHelpers[server] wins, then credsStore; "auths" only when neither is
 * set. credHelpers is matched like "auths": the exact key, then any key
 * naming the same host. Borrowed from root; NULL for none. */
static const char *pick_helper(json_t *root, const char *host, const char **from)
{
	json_t *helpers = json_object_get(root, "credHelpers"), *v;
	const char *want = dfs_dockercfg_normal_host(host), *key, *s;
	char kh[512];

	if (json_is_object(helpers)) {
		*from = "credHelpers";
		s = json_string_value(json_object_get(helpers, server_address(host)));
		if (s && *s)
			return s;
		s = json_string_value(json_object_get(helpers, host));
		if (s && *s)
			return s;
		json_object_foreach(helpers, key, v) {
			key_host(key, kh, sizeof(kh));
			s = json_string_value(v);
			if (s && *s && strcasecmp(kh, want) == 0)
				return s;
		}
	}
	*from = "credsStore";
	s = json_string_value(json_object_get(root, "credsStore"));
	return s && *s ? s : NULL;
}

int dfs_dockercfg_lookup(const char *config_dir, const char *host, int64_t deadline_ns,
			 struct dfs_docker_cred *out, struct dfs_error *err)
{
	char path[PATH_MAX], *buf = NULL, *helper = NULL;
	const char *from = NULL, *h;
	size_t len = 0;
	json_error_t jerr;
	json_t *root, *entry;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = config_path(config_dir, path, sizeof(path));
	if (ret == -ENOENT)
		return dfs_error_set(err, ENOENT, "no docker config: HOME is not set");
	if (ret < 0)
		return dfs_error_set(err, ENAMETOOLONG, "docker config path too long");
	ret = read_file(path, &buf, &len, err);
	if (ret < 0)
		return ret;
	root = json_loadb(buf, len, 0, &jerr);
	explicit_bzero(buf, len);
	free(buf);
	if (!root)
		/* not jerr.text: it quotes the text near the error, a secret maybe */
		return dfs_error_set(err, EINVAL, "docker config %s is not JSON (line %d)",
				     path, jerr.line);
	h = pick_helper(root, host, &from);
	if (h) {
		helper = strdup(h);
		json_decref(root);
		if (!helper)
			return dfs_error_set(err, ENOMEM, "out of memory");
		/* the helper runs without the file held open or parsed */
		ret = dfs_credhelper_get(helper, server_address(host), deadline_ns, out, err);
		if (ret == -EINVAL)
			ret = dfs_error_set(err, EINVAL, "docker config %s: %s \"%.64s\" is not a "
					    "plain helper name", path, from, helper);
		free(helper);
		return ret;
	}
	entry = json_object_get(root, "auths");
	entry = json_is_object(entry) ? find_entry(entry, host) : NULL;
	if (!entry)
		ret = dfs_error_set(err, ENOENT, "docker config %s: no credentials for %s",
				    path, host);
	else
		ret = fill_cred(entry, path, host, out, err);
	json_decref(root);
	if (ret < 0)
		dfs_docker_cred_clear(out);
	return ret;
}
