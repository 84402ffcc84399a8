/* registry.c - does this image exist in its registry? (registry.h)
 *
 * One check is a HEAD of the manifest, following the registry's auth
 * challenge once:
 *
 *   HEAD /v2/<path>/manifests/<ref>      (Authorization from the cache, if any)
 *     200 + Docker-Content-Digest  -> found
 *     200 without it, or 405       -> the same as GET (digest header, else
 *                                     sha256 of the body)
 *     401 WWW-Authenticate: Bearer -> token from the realm (anonymous, Basic
 *                                     credentials, or an OAuth2 refresh
 *                                     token), cached per (endpoint, scope,
 *                                     identity) until it expires; retry
 *     401 WWW-Authenticate: Basic  -> retry with the credentials
 *     404 -> ENOENT; 401/403 after that -> ENOKEY (anonymous) or EACCES
 *
 * Accept always names the two OCI and two Docker types: a distribution 2.8
 * registry answers an OCI manifest with 404 when Accept lacks the OCI types,
 * and rewrites a Docker v2 manifest to schema1 (another digest) when it
 * lacks the Docker ones (notes/registry.md).
 *
 * insecure_registry: https with verification off; if the TLS handshake
 * itself fails (the server speaks plain HTTP) the check falls back to http
 * and remembers that for the endpoint, as docker does.
 */
#include "registry.h"
#include "registry_internal.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dockercfg.h"
#include "http.h"
#include "log.h"

#define ACCEPT_MANIFESTS "Accept: application/vnd.oci.image.index.v1+json, " \
	"application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.docker.distribution.manifest.v2+json"

#define MANIFEST_MAX    ((size_t)4 << 20)  /* OCI: registries refuse more */
#define TOKEN_BODY_MAX  ((size_t)1 << 20)
#define TOKEN_MAX       ((size_t)64 << 10)
#define TOKEN_TTL_S     60                 /* when expires_in is absent */
#define AUTH_CACHE_MAX  64
#define PLAIN_MAX       64
#define URL_MAX         2048
#define LABEL_MAX       600

/* ---------------------------------------------------------------- sha256 */
/* Only for a registry that sends neither HEAD nor GET Docker-Content-Digest
 * (the header is optional in the OCI spec): the digest is then the hash of
 * the manifest bytes. */

static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(uint32_t h[8], const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++)
		w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
		       w[i - 7] + (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
	a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; k = h[7];
	for (i = 0; i < 64; i++) {
		t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

void dfs_registry_sha256(const void *data, size_t len, char *out)
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	const unsigned char *p = data;
	unsigned char tail[128] = { 0 };
	uint64_t bits = (uint64_t)len * 8;
	size_t rest, tl, i;

	for (; len >= 64; p += 64, len -= 64)
		sha_block(h, p);
	rest = len;
	memcpy(tail, p, rest);
	tail[rest] = 0x80;
	tl = rest < 56 ? 64 : 128;
	for (i = 0; i < 8; i++)
		tail[tl - 1 - i] = (unsigned char)(bits >> (8 * i));
	sha_block(h, tail);
	if (tl == 128)
		sha_block(h, tail + 64);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < 8; i++)
		sprintf(out + 7 + 8 * i, "%08x", h[i]);
}

/* ------------------------------------------------ WWW-Authenticate parsing */

static int is_tchar(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static const char *skip_token(const char *p)
{
	while (is_tchar((unsigned char)*p))
		p++;
	return p;
}

/* A token or quoted-string at *pp into out (unescaped). -EINVAL when it
 * is malformed or does not fit. */
static int read_value(const char **pp, char *out, size_t outsz)
{
	const char *p = *pp;
	size_t o = 0;

	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (o + 1 >= outsz)
				return -EINVAL;
			out[o++] = *p;
		}
		if (*p != '"')
			return -EINVAL;
		p++;
	} else {
		for (; is_tchar((unsigned char)*p) || *p == '/' || *p == ':'; p++) {
			/* '/' and ':' are not tchars, but unquoted realms with
			 * them exist in the wild; taking them is harmless */
			if (o + 1 >= outsz)
				return -EINVAL;
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	*pp = p;
	return 0;
}

/* Does p start "name = value" (a parameter), rather than a new scheme or
 * a token68 ("abc==", "abc=" followed by ',' or the end)? */
static int at_param(const char *p)
{
	const char *e = skip_token(p);

	if (e == p || *(e = skip_ws(e)) != '=')
		return 0;
	e = skip_ws(e + 1);
	return *e && *e != '=' && *e != ',';
}

int dfs_registry_parse_challenges(const char *value, struct dfs_auth_challenge *out,
				  size_t max, size_t *n)
{
	struct dfs_auth_challenge scratch, *ch;
	const char *p = value, *e;
	char *field, discard[sizeof(scratch.realm)];
	size_t fsz, len, i;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			return 0;
		e = skip_token(p);
		len = (size_t)(e - p);
		if (len == 0 || len >= sizeof(scratch.scheme))
			return -EINVAL;
		ch = *n < max ? &out[*n] : &scratch;
		memset(ch, 0, sizeof(*ch));
		for (i = 0; i < len; i++)
			ch->scheme[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
		p = skip_ws(e);
		if (*p && *p != ',' && !at_param(p)) {
			/* a token68 ("Negotiate abc=="): registries use none */
			p += strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
			p = skip_ws(p + strspn(p, "="));
			if (*p && *p != ',')
				return -EINVAL;
			if (ch != &scratch)
				(*n)++;
			continue;
		}
		/* parameters: name = value, separated by commas, until a token
		 * that is not followed by '=' starts the next challenge */
		while (at_param(p)) {
			e = skip_token(p);
			len = (size_t)(e - p);
			if (len == 5 && strncasecmp(p, "realm", 5) == 0)
				field = ch->realm, fsz = sizeof(ch->realm);
			else if (len == 7 && strncasecmp(p, "service", 7) == 0)
				field = ch->service, fsz = sizeof(ch->service);
			else if (len == 5 && strncasecmp(p, "scope", 5) == 0)
				field = ch->scope, fsz = sizeof(ch->scope);
			else if (len == 5 && strncasecmp(p, "error", 5) == 0)
				field = ch->error, fsz = sizeof(ch->error);
			else
				field = discard, fsz = sizeof(discard);
			p = skip_ws(skip_ws(e) + 1); /* past '=' */
			if (read_value(&p, field, fsz) < 0)
				return -EINVAL;
			p = skip_ws(p);
			if (*p && *p != ',')
				return -EINVAL;
			while (*p == ',' || *p == ' ' || *p == '\t')
				p++;
		}
		if (ch != &scratch) /* counted only once whole */
			(*n)++;
	}
}

/* ------------------------------------------------------- endpoints, opts */

struct mirror {
	char *domain;           /* normalised: docker.io */
	char *url;              /* scheme://authority[/prefix], no trailing '/' */
};

/* A remembered Authorization for (base, scope, who). */
struct auth_entry {
	struct auth_entry *next;
	char *base;
	char *scope;
	char *who;              /* identity the auth belongs to (secret) */
	char *header;           /* "Authorization: Bearer ..." (secret), or
				 * NULL: send the Basic credentials at once */
	int64_t expires_ns;
};

struct dfs_registry_client {
	struct dfs_http *http;
	char *cacert;
	char *docker_config_dir;
	struct mirror *mirrors;
	size_t n_mirrors;
	char **insecure;
	size_t n_insecure;
	pthread_mutex_t lock;
	struct auth_entry *auths;   /* protected by lock; newest first */
	size_t n_auths;             /* protected by lock */
	char *plain[PLAIN_MAX];     /* protected by lock: endpoints where https
				     * failed and http worked (insecure only) */
	size_t n_plain;             /* protected by lock */
};

int dfs_registry_url_authority(const char *url, char *out, size_t outsz)
{
	const char *s;
	size_t n;

	if (strncmp(url, "https://", 8) == 0)
		s = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		s = url + 7;
	else
		return -EINVAL;
	n = strcspn(s, "/?#");
	if (n == 0 || n >= outsz || memchr(s, '@', n))
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Split "host[:port]" / "[v6][:port]"; port "" when none. */
static void split_authority(const char *a, char *host, size_t hsz, const char **port)
{
	const char *colon;
	size_t n;

	if (a[0] == '[') {
		colon = strchr(a, ']');
		colon = colon && colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = strchr(a, ':');
	}
	n = colon ? (size_t)(colon - a) : strlen(a);
	if (n >= hsz)
		n = hsz - 1;
	memcpy(host, a, n);
	host[n] = '\0';
	*port = colon ? colon + 1 : "";
}

int dfs_registry_is_insecure(const struct dfs_registry_client *c, const char *authority)
{
	char host[256], eh[256];
	const char *port, *eport;
	size_t i;

	split_authority(authority, host, sizeof(host), &port);
	for (i = 0; i < c->n_insecure; i++) {
		split_authority(c->insecure[i], eh, sizeof(eh), &eport);
		if (strcasecmp(dfs_dockercfg_normal_host(eh), dfs_dockercfg_normal_host(host)) == 0 &&
		    (!*eport || strcmp(eport, port) == 0))
			return 1;
	}
	return 0;
}

const char *dfs_registry_mirror_for(const struct dfs_registry_client *c, const char *domain)
{
	const char *d = dfs_dockercfg_normal_host(domain);
	size_t i;

	for (i = 0; i < c->n_mirrors; i++)
		if (strcasecmp(c->mirrors[i].domain, d) == 0)
			return c->mirrors[i].url;
	return NULL;
}

static int add_mirror(struct dfs_registry_client *c, const char *spec, struct dfs_error *err)
{
	const char *eq = strchr(spec, '=');
	char auth[256], host[256];
	struct mirror *m = &c->mirrors[c->n_mirrors];
	size_t hl, ul;

	hl = eq ? (size_t)(eq - spec) : 0;
	if (!eq || hl == 0 || hl >= sizeof(host) || memchr(spec, '/', hl) ||
	    dfs_registry_url_authority(eq + 1, auth, sizeof(auth)) < 0)
		return dfs_error_set(err, EINVAL,
				     "registry_mirror=%s: expected HOST=URL, URL starting http:// or https:// (no credentials in it)",
				     spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	ul = strlen(eq + 1);
	while (ul > 0 && eq[ul] == '/') /* eq[ul] is the URL's last char */
		ul--;
	m->domain = strdup(dfs_dockercfg_normal_host(host));
	m->url = strndup(eq + 1, ul);
	if (!m->domain || !m->url) {
		free(m->domain);
		free(m->url);
		return dfs_error_set(err, ENOMEM, "out of memory");
	}
	c->n_mirrors++;
	return 0;
}

static int add_insecure(struct dfs_registry_client *c, const char *spec, struct dfs_error *err)
{
	if (!*spec || strpbrk(spec, "/@ ") || strlen(spec) >= 256)
		return dfs_error_set(err, EINVAL,
				     "insecure_registry=%s: expected HOST or HOST:PORT", spec);
	c->insecure[c->n_insecure] = strdup(spec);
	if (!c->insecure[c->n_insecure])
		return dfs_error_set(err, ENOMEM, "out of memory");
	c->n_insecure++;
	return 0;
}

struct dfs_registry_client *dfs_registry_client_new(const struct dfs_registry_opts *opts,
						    struct dfs_error *err)
{
	static const struct dfs_registry_opts none;
	struct dfs_registry_client *c;
	size_t i;

	if (!opts)
		opts = &none;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto oom;
	pthread_mutex_init(&c->lock, NULL);
	if ((opts->cacert && !(c->cacert = strdup(opts->cacert))) ||
	    (opts->docker_config_dir && !(c->docker_config_dir = strdup(opts->docker_config_dir))))
		goto oom;
	c->mirrors = calloc(opts->n_mirrors + 1, sizeof(*c->mirrors));
	c->insecure = calloc(opts->n_insecure + 1, sizeof(*c->insecure));
	if (!c->mirrors || !c->insecure)
		goto oom;
	for (i = 0; i < opts->n_mirrors; i++)
		if (add_mirror(c, opts->mirrors[i], err) < 0)
			goto fail;
	for (i = 0; i < opts->n_insecure; i++)
		if (add_insecure(c, opts->insecure[i], err) < 0)
			goto fail;
	c->http = dfs_http_new(err);
	if (!c->http)
		goto fail;
	return c;
oom:
	dfs_error_set(err, ENOMEM, "out of memory creating the registry client");
fail:
	dfs_registry_client_free(c);
	return NULL;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void auth_entry_free(struct auth_entry *a)
{
	free(a->base);
	free(a->scope);
	wipe_free(a->who);
	wipe_free(a->header);
	free(a);
}

void dfs_registry_client_free(struct dfs_registry_client *c)
{
	struct auth_entry *a, *next;
	size_t i;

	if (!c)
		return;
	dfs_http_free(c->http);
	for (a = c->auths; a; a = next) {
		next = a->next;
		auth_entry_free(a);
	}
	for (i = 0; i < c->n_plain; i++)
		free(c->plain[i]);
	for (i = 0; i < c->n_mirrors; i++) {
		free(c->mirrors[i].domain);
		free(c->mirrors[i].url);
	}
	for (i = 0; i < c->n_insecure; i++)
		free(c->insecure[i]);
	free(c->mirrors);
	free(c->insecure);
	free(c->cacert);
	free(c->docker_config_dir);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ------------------------------------------------------------- the caches */

/* The cached auth for (base, scope, who): *header gets a copy (NULL for
 * Basic). Returns 1 when found, 0 when not (or no memory: ask afresh). */
static int auth_get(struct dfs_registry_client *c, const char *base, const char *scope,
		    const char *who, char **header)
{
	struct auth_entry **pp, *a;
	int64_t now = dfs_http_now_ns();
	int found = 0;

	*header = NULL;
	pthread_mutex_lock(&c->lock);
	for (pp = &c->auths; (a = *pp); ) {
		if (a->expires_ns <= now) {
			*pp = a->next;
			auth_entry_free(a);
			c->n_auths--;
			continue;
		}
		if (!found && strcmp(a->base, base) == 0 && strcmp(a->scope, scope) == 0 &&
		    strcmp(a->who, who) == 0) {
			found = 1;
			if (a->header && !(*header = strdup(a->header)))
				found = 0;
		}
		pp = &a->next;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

static void auth_drop(struct dfs_registry_client *c, const char *base, const char *scope,
		      const char *who)
{
	struct auth_entry **pp, *a;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->auths; (a = *pp); ) {
		if (strcmp(a->base, base) == 0 && strcmp(a->scope, scope) == 0 &&
		    strcmp(a->who, who) == 0) {
			*pp = a->next;
			auth_entry_free(a);
			c->n_auths--;
			continue;
		}
		pp = &a->next;
	}
	pthread_mutex_unlock(&c->lock);
}

/* Remember header (copied; NULL = Basic) until expires_ns. Best effort:
 * without memory the next check just asks again. */
static void auth_put(struct dfs_registry_client *c, const char *base, const char *scope,
		     const char *who, const char *header, int64_t expires_ns)
{
	struct auth_entry *a, **pp;

	auth_drop(c, base, scope, who);
	a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->base = strdup(base);
	a->scope = strdup(scope);
	a->who = strdup(who);
	a->header = header ? strdup(header) : NULL;
	a->expires_ns = expires_ns;
	if (!a->base || !a->scope || !a->who || (header && !a->header)) {
		auth_entry_free(a);
		return;
	}
	pthread_mutex_lock(&c->lock);
	a->next = c->auths;
	c->auths = a;
	if (++c->n_auths > AUTH_CACHE_MAX) {
		/* drop the oldest: the list is newest first */
		for (pp = &c->auths; (*pp)->next; pp = &(*pp)->next)
			;
		auth_entry_free(*pp);
		*pp = NULL;
		c->n_auths--;
	}
	pthread_mutex_unlock(&c->lock);
}

static int plain_known(struct dfs_registry_client *c, const char *authority)
{
	size_t i;
	int found = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n_plain && !found; i++)
		found = strcmp(c->plain[i], authority) == 0;
	pthread_mutex_unlock(&c->lock);
	return found;
}

static void plain_add(struct dfs_registry_client *c, const char *authority)
{
	char *s = strdup(authority);

	pthread_mutex_lock(&c->lock);
	if (s && c->n_plain < PLAIN_MAX) {
		c->plain[c->n_plain++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	free(s);
}

/* -------------------------------------------------------------- one check */

struct check {
	struct dfs_registry_client *c;
	const struct dfs_reference *ref;
	int64_t deadline;
	char image[DFS_NAME_MAX + DFS_TAG_MAX + DFS_DIGEST_MAX + 4]; /* for lines */
	char label[LABEL_MAX];       /* "ghcr.io", "docker.io (mirror 127.0.0.1:5001)" */
	char peer[LABEL_MAX + 16];   /* "registry <label>" */
	char authority[256];         /* host[:port] asked */
	char base[URL_MAX];          /* scheme://authority[/prefix] */
	char scope[DFS_NAME_MAX + 32];
	int insecure, mirrored;
	/* credentials, borrowed from the caller's creds or from dc */
	const char *user, *pass, *token;
	struct dfs_docker_cred dc;
	char *who;                   /* identity key of the cache (secret) */
	int sent_creds;              /* credentials went out in this check */
};

static int have_creds(const struct check *k)
{
	return k->token || (k->user && k->pass);
}

static int resolve_endpoint(struct check *k, struct dfs_error *err)
{
	const struct dfs_reference *ref = k->ref;
	const char *mirror = dfs_registry_mirror_for(k->c, ref->domain), *host;
	int n;

	if (mirror) {
		if (dfs_registry_url_authority(mirror, k->authority, sizeof(k->authority)) < 0)
			return dfs_error_set(err, EINVAL, "bad mirror URL for %s", ref->domain);
		k->mirrored = 1;
		k->insecure = dfs_registry_is_insecure(k->c, k->authority);
		snprintf(k->label, sizeof(k->label), "%s (mirror %s)", ref->domain, k->authority);
		n = snprintf(k->base, sizeof(k->base), "%s", mirror);
	} else {
		host = dfs_reference_registry_host(ref);
		if (strlen(host) >= sizeof(k->authority))
			return dfs_error_set(err, EINVAL, "registry name too long");
		strcpy(k->authority, host);
		k->insecure = dfs_registry_is_insecure(k->c, k->authority);
		snprintf(k->label, sizeof(k->label), "%s", ref->domain);
		n = snprintf(k->base, sizeof(k->base), "%s://%s",
			     k->insecure && plain_known(k->c, k->authority) ? "http" : "https",
			     k->authority);
	}
	snprintf(k->peer, sizeof(k->peer), "registry %s", k->label);
	return n < 0 || (size_t)n >= sizeof(k->base) ? dfs_error_set(err, EINVAL, "URL too long") : 0;
}

/* Credentials: the caller's when it holds some (a token wins over a
 * password), else the docker config's for the endpoint asked (a mirror
 * gets its own, never the mirrored registry's: those would leak to a third
 * party). A broken docker config is logged, and the check goes on
 * anonymously: a public image still passes. */
static int pick_creds(struct check *k, const struct dfs_registry_creds *creds)
{
	struct dfs_error e = { 0 };
	const char *key;
	size_t n;
	int ret;

	if (creds && (creds->token || (creds->username && creds->password))) {
		k->user = creds->username;
		k->token = creds->token;
		k->pass = creds->token ? NULL : creds->password;
	} else {
		key = k->mirrored ? k->authority : k->ref->domain;
		ret = dfs_dockercfg_lookup(k->c->docker_config_dir, key, &k->dc, &e);
		if (ret < 0 && ret != -ENOENT)
			log_warnx("%s; checking %s without credentials", e.msg, k->image);
		k->user = k->dc.username;
		k->pass = k->dc.password;
		k->token = k->dc.identitytoken;
	}
	/* who: the identity a cached token belongs to, so one app's token is
	 * never used for another app's credentials */
	n = 8 + (k->user ? strlen(k->user) : 0) + (k->pass ? strlen(k->pass) : 0) +
	    (k->token ? strlen(k->token) : 0);
	k->who = malloc(n);
	if (!k->who)
		return -ENOMEM;
	snprintf(k->who, n, "%c%s\n%s\n%s", have_creds(k) ? 'c' : 'a', k->user ? k->user : "",
		 k->pass ? k->pass : "", k->token ? k->token : "");
	return 0;
}

/* Percent-encode s (RFC 3986 unreserved kept) onto out at *o. */
static int url_escape(char *out, size_t outsz, size_t *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char ch;

	for (; *s; s++) {
		ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			if (*o + 1 >= outsz)
				return -1;
			out[(*o)++] = (char)ch;
		} else {
			if (*o + 3 >= outsz)
				return -1;
			out[(*o)++] = '%';
			out[(*o)++] = hex[ch >> 4];
			out[(*o)++] = hex[ch & 15];
		}
	}
	out[*o] = '\0';
	return 0;
}

/* "a=x&b=y" with values escaped; pairs with a NULL or empty value skipped. */
static int form(char *out, size_t outsz, const char *const *kv, size_t n)
{
	size_t o = 0, i;

	out[0] = '\0';
	for (i = 0; i + 1 < n; i += 2) {
		if (!kv[i + 1] || !*kv[i + 1])
			continue;
		if (o + strlen(kv[i]) + 2 >= outsz)
			return -1;
		o += (size_t)sprintf(out + o, "%s%s=", o ? "&" : "", kv[i]);
		if (url_escape(out, outsz, &o, kv[i + 1]) < 0)
			return -1;
	}
	return 0;
}

static int token_chars_ok(const char *t)
{
	/* RFC 6750 b64token: it goes into a header, so nothing else passes */
	for (; *t; t++)
		if (!is_tchar((unsigned char)*t) && *t != '/' && *t != '=')
			return 0;
	return 1;
}

static int refused(struct check *k, struct dfs_error *err)
{
	if (k->sent_creds)
		return dfs_error_set(err, EACCES, "registry %s refused the credentials%s%s for %s",
				     k->label, k->user ? " of user " : "", k->user ? k->user : "",
				     k->image);
	return dfs_error_set(err, ENOKEY,
			     "image %s not found, or private, in registry %s: add credentials to the registry object or the docker config",
			     k->image, k->label);
}

/* Basic credentials as the request takes them: a token goes as the
 * password (of the user named, or docker's "<token>"). */
static void basic_creds(struct check *k, struct dfs_http_request *req)
{
	if (!have_creds(k))
		return;
	req->username = k->token ? (k->user ? k->user : "<token>") : k->user;
	req->password = k->token ? k->token : k->pass;
	k->sent_creds = 1;
}

/* Ask the realm: an identity token is an OAuth2 refresh token, POSTed as
 * docker does; a realm that does not do OAuth2 (400/404/405) gets it as a
 * Basic password on the usual GET, like a username and password. */
static int ask_realm(struct check *k, const struct dfs_auth_challenge *ch, const char *scope,
		     const char *peer, int insecure, struct dfs_http_response *r,
		     struct dfs_error *err)
{
	static const char *const ctype = "Content-Type: application/x-www-form-urlencoded";
	const char *kv[] = { "service", ch->service, "scope", scope,
			     "grant_type", "refresh_token", "client_id", "deployfs",
			     "refresh_token", k->token };
	struct dfs_http_request req = {
		.deadline_ns = k->deadline, .cacert = k->c->cacert, .insecure = insecure,
		.max_body = TOKEN_BODY_MAX, .peer = peer,
	};
	char url[URL_MAX + 2048], params[2048], *body;
	size_t blen;
	int ret;

	if (k->token) {
		blen = 3 * (strlen(k->token) + strlen(scope) + strlen(ch->service)) + 128;
		body = malloc(blen);
		if (!body || form(body, blen, kv, 10) < 0) {
			free(body);
			return dfs_error_set(err, ENOMEM, "out of memory");
		}
		req.method = "POST";
		req.url = ch->realm;
		req.headers = &ctype;
		req.n_headers = 1;
		req.body = body;
		req.body_len = strlen(body);
		k->sent_creds = 1;
		ret = dfs_http_request(k->c->http, &req, r, err);
		wipe_free(body);
		if (ret < 0 || (r->status != 400 && r->status != 404 && r->status != 405))
			return ret;
		dfs_http_response_release(r);
		req = (struct dfs_http_request){
			.deadline_ns = k->deadline, .cacert = k->c->cacert, .insecure = insecure,
			.max_body = TOKEN_BODY_MAX, .peer = peer,
		};
	}
	if (form(params, sizeof(params), kv, 4) < 0 ||
	    snprintf(url, sizeof(url), "%s%c%s", ch->realm, strchr(ch->realm, '?') ? '&' : '?',
		     params) >= (int)sizeof(url))
		return dfs_error_set(err, EIO, "%s: token realm URL too long", k->peer);
	req.url = url;
	basic_creds(k, &req);
	return dfs_http_request(k->c->http, &req, r, err);
}

/* Get a Bearer token from ch's realm: *header = "Authorization: Bearer T"
 * (caller wipes and frees) and *expires, when to stop using it. */
static int fetch_token(struct check *k, const struct dfs_auth_challenge *ch,
		       char **header, int64_t *expires, struct dfs_error *err)
{
	char realm_auth[256], peer[LABEL_MAX + 300];
	const char *scope = ch->scope[0] ? ch->scope : k->scope;
	struct dfs_http_response r = { 0 };
	json_t *root = NULL, *v;
	const char *tok;
	long long ttl;
	int ret;

	if (dfs_registry_url_authority(ch->realm, realm_auth, sizeof(realm_auth)) < 0)
		return dfs_error_set(err, EIO, "%s sent a token realm that is not an http(s) URL",
				     k->peer);
	snprintf(peer, sizeof(peer), "token server %s of registry %s", realm_auth, k->label);
	ret = ask_realm(k, ch, scope, peer, dfs_registry_is_insecure(k->c, realm_auth), &r, err);
	if (ret < 0)
		goto out;
	if (r.status == 401 || r.status == 403) {
		ret = refused(k, err);
		goto out;
	}
	if (r.status != 200) {
		ret = dfs_error_set(err, r.status == 429 ? EAGAIN : EIO, "%s answered HTTP %ld",
				    peer, r.status);
		goto out;
	}
	root = json_loadb(r.body, r.body_len, 0, NULL);
	tok = json_string_value(json_object_get(root, "token"));
	if (!tok || !*tok)
		tok = json_string_value(json_object_get(root, "access_token"));
	if (!tok || !*tok || strlen(tok) > TOKEN_MAX || !token_chars_ok(tok)) {
		ret = dfs_error_set(err, EIO, "%s answered without a usable token", peer);
		goto out;
	}
	v = json_object_get(root, "expires_in");
	ttl = json_is_integer(v) ? json_integer_value(v) : 0;
	if (ttl <= 0 || ttl > 24 * 3600)
		ttl = TOKEN_TTL_S;
	/* stop using it a little early: it must not expire in flight */
	*expires = dfs_http_now_ns() + (ttl > 10 ? ttl - 2 : ttl) * 1000000000LL;
	if (asprintf(header, "Authorization: Bearer %s", tok) < 0) {
		*header = NULL;
		ret = dfs_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	ret = 0;
out:
	json_decref(root);
	dfs_http_response_release(&r);
	return ret;
}

/* Pick the challenge to answer: Bearer over Basic, the first of each. */
static const struct dfs_auth_challenge *pick_challenge(const struct dfs_http_response *r,
						       struct dfs_auth_challenge *chs, size_t *n)
{
	const char *v;
	size_t it = 0, i;

	*n = 0;
	while ((v = dfs_http_header(r, "WWW-Authenticate", &it)))
		dfs_registry_parse_challenges(v, chs, 4, n); /* keep what parsed */
	for (i = 0; i < *n; i++)
		if (strcmp(chs[i].scheme, "bearer") == 0 && chs[i].realm[0])
			return &chs[i];
	for (i = 0; i < *n; i++)
		if (strcmp(chs[i].scheme, "basic") == 0)
			return &chs[i];
	return NULL;
}

static int valid_digest(const char *d)
{
	return d && strlen(d) <= DFS_DIGEST_MAX && dfs_digest_check(d, NULL) == 0;
}

/* The manifest is there: find its digest (header, else the body's hash). */
static int found(struct check *k, const struct dfs_http_response *r, char *digest,
		 struct dfs_error *err)
{
	const char *d = dfs_http_header(r, "Docker-Content-Digest", NULL);
	char sum[80];

	if (!d) {
		dfs_registry_sha256(r->body, r->body_len, sum);
		d = sum;
		if (k->ref->digest[0] && strncmp(k->ref->digest, "sha256:", 7) != 0)
			d = k->ref->digest; /* we can only hash sha256: trust the ask */
	}
	if (!valid_digest(d))
		return dfs_error_set(err, EIO, "%s answered an invalid digest for %s",
				     k->peer, k->image);
	if (k->ref->digest[0] && strcmp(d, k->ref->digest) != 0) {
		if (k->ref->tag[0])
			return dfs_error_set(err, ENOENT,
					     "image %s:%s resolves to %s in registry %s, not to the pinned %s",
					     k->ref->name, k->ref->tag, d, k->label, k->ref->digest);
		return dfs_error_set(err, EIO, "%s answered digest %s when asked for %s",
				     k->peer, d, k->ref->digest);
	}
	strcpy(digest, d);
	return 0;
}

static int safe_chars(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return 0;
	return 1;
}

static int check_ref(struct check *k, const struct dfs_reference *ref, struct dfs_error *err)
{
	/* The reference was parsed by reference.c; these guards only keep a
	 * caller's mistake from turning into a strange URL or a 500. */
	if (!ref->domain[0] || !ref->path[0] || !safe_chars(ref->path, "._-/") ||
	    !safe_chars(ref->domain, ".-:[]") || !safe_chars(ref->tag, "._-"))
		return dfs_error_set(err, EINVAL, "image %s: not a parsed reference", ref->name);
	if (ref->digest[0] && dfs_digest_check(ref->digest, err) < 0)
		return -EINVAL;
	snprintf(k->image, sizeof(k->image), "%s%s%s%s%s", ref->name,
		 ref->tag[0] || !ref->digest[0] ? ":" : "",
		 ref->tag[0] ? ref->tag : ref->digest[0] ? "" : "latest",
		 ref->digest[0] ? "@" : "", ref->digest);
	snprintf(k->scope, sizeof(k->scope), "repository:%s:pull", ref->path);
	return 0;
}

int dfs_registry_check(struct dfs_registry_client *c, const struct dfs_reference *ref,
		       const struct dfs_registry_creds *creds, int64_t deadline_ns,
		       char *digest, struct dfs_error *err)
{
	struct check k = { .c = c, .ref = ref, .deadline = deadline_ns };
	struct dfs_http_request req = { 0 };
	struct dfs_http_response r = { 0 };
	struct dfs_auth_challenge chs[4];
	const struct dfs_auth_challenge *ch;
	const char *hdrs[2] = { ACCEPT_MANIFESTS, NULL };
	const char *method = "HEAD";
	char url[URL_MAX + DFS_NAME_MAX + DFS_DIGEST_MAX + 32];
	char *authz = NULL;
	int basic = 0, cached, challenged = 0, ret, attempt;
	int64_t expires = 0;
	size_t n;

	ret = check_ref(&k, ref, err);
	if (ret < 0)
		return ret;
	ret = resolve_endpoint(&k, err);
	if (ret < 0)
		return ret;
	if (pick_creds(&k, creds) < 0) {
		ret = dfs_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	cached = auth_get(c, k.base, k.scope, k.who, &authz);
	basic = cached && !authz;

	/* Bounded: at most a scheme fallback, a stale cached token, one
	 * challenge and a HEAD-to-GET switch. */
	for (attempt = 0; attempt < 6; attempt++) {
		snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s", k.base, ref->path,
			 ref->tag[0] ? ref->tag : ref->digest[0] ? ref->digest : "latest");
		hdrs[1] = authz;
		memset(&req, 0, sizeof(req));
		req.method = method;
		req.url = url;
		req.headers = hdrs;
		req.n_headers = authz ? 2 : 1;
		req.deadline_ns = deadline_ns;
		req.cacert = c->cacert;
		req.insecure = k.insecure;
		req.max_body = MANIFEST_MAX;
		req.peer = k.peer;
		if (basic)
			basic_creds(&k, &req);
		dfs_http_response_release(&r);
		ret = dfs_http_request(c->http, &req, &r, err);
		if (ret < 0) {
			if (r.tls_failed && k.insecure && !k.mirrored &&
			    strncmp(k.base, "https://", 8) == 0) {
				/* plain-HTTP registry: the same request on http */
				snprintf(k.base, sizeof(k.base), "http://%s", k.authority);
				plain_add(c, k.authority);
				continue;
			}
			if (r.tls_failed && !k.insecure && !k.mirrored && err &&
			    strlen(err->msg) + strlen(k.authority) + 64 < sizeof(err->msg))
				snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
					 " (a plain-http registry needs insecure_registry=%s)",
					 k.authority);
			goto out;
		}
		switch (r.status) {
		case 200:
			if (!dfs_http_header(&r, "Docker-Content-Digest", NULL) &&
			    strcmp(method, "HEAD") == 0) {
				method = "GET";
				continue;
			}
			ret = found(&k, &r, digest, err);
			goto out;
		case 405:
			if (strcmp(method, "HEAD") == 0) {
				method = "GET";
				continue;
			}
			break;
		case 404:
			ret = dfs_error_set(err, ENOENT, "image %s not found in registry %s",
					    k.image, k.label);
			goto out;
		case 401:
			if (cached) {
				/* the cached token expired early or was revoked */
				auth_drop(c, k.base, k.scope, k.who);
				cached = 0;
			} else if (challenged) {
				ret = refused(&k, err);
				goto out;
			}
			challenged = 1;
			wipe_free(authz);
			authz = NULL;
			basic = 0;
			ch = pick_challenge(&r, chs, &n);
			if (!ch) {
				ret = dfs_error_set(err, EIO,
						    "%s answered 401 without a usable WWW-Authenticate challenge",
						    k.peer);
				goto out;
			}
			if (strcmp(ch->scheme, "bearer") == 0) {
				ret = fetch_token(&k, ch, &authz, &expires, err);
				if (ret < 0)
					goto out;
				auth_put(c, k.base, k.scope, k.who, authz, expires);
			} else {
				if (!have_creds(&k)) {
					ret = refused(&k, err);
					goto out;
				}
				basic = 1;
				auth_put(c, k.base, k.scope, k.who, NULL,
					 dfs_http_now_ns() + TOKEN_TTL_S * 1000000000LL);
			}
			continue;
		case 403:
			ret = refused(&k, err);
			goto out;
		case 429:
			ret = dfs_error_set(err, EAGAIN, "%s is limiting requests (HTTP 429), try again later",
					    k.peer);
			goto out;
		default:
			break;
		}
		ret = dfs_error_set(err, EIO, "%s answered HTTP %ld for %s", k.peer, r.status, k.image);
		goto out;
	}
	ret = dfs_error_set(err, EIO, "%s: no answer after %d requests for %s", k.peer, attempt,
			    k.image);
out:
	if (ret == -EACCES) /* never reuse what was just refused */
		auth_drop(c, k.base, k.scope, k.who);
	dfs_http_response_release(&r);
	wipe_free(authz);
	wipe_free(k.who);
	dfs_docker_cred_clear(&k.dc);
	return ret;
}
