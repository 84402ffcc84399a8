/* registry_auth.c - how a registry check gets in (registry_internal.h).
 *
 * A 401 carries WWW-Authenticate challenges. Bearer: a token from the realm
 * (anonymous, Basic credentials, or an OAuth2 refresh token), cached per
 * (endpoint, scope, identity) until it expires. Basic: the credentials on
 * the request itself; the cache then remembers to send them at once.
 *
 * Where credentials may go (registry.h): a registry object's only to the
 * registry its url names (or that registry's mirror), checked before any
 * request; any credentials to a token realm only over https, or over plain
 * http when the realm is the endpoint itself and it may speak plain http. A
 * realm is whatever URL the registry's answer names, so without that rule a
 * registry (or whoever sits on its plain-http path) could send them
 * anywhere in clear text.
 *
 * Secrets (passwords, tokens, the identity key, Authorization headers) are
 * wiped before they are freed and never go into an error line.
 */
#include "registry_internal.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define TOKEN_BODY_MAX  ((size_t)1 << 20)
#define TOKEN_MAX       ((size_t)64 << 10)
#define AUTH_CACHE_MAX  64

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

const struct dfs_auth_challenge *dfs_registry_pick_challenge(const struct dfs_http_response *r,
							     struct dfs_auth_challenge chs[4],
							     size_t *n)
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

/* ------------------------------------------------------------ credentials */

void dfs_registry_wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int dfs_registry_object_check(const struct dfs_registry_ctx *k,
			      const struct dfs_registry_creds *creds, struct dfs_error *err)
{
	const char *name = creds->name && *creds->name ? creds->name : "object";
	char want[256], have[256];

	/* the url is never put in the line: it may hold user:pass@ */
	if (!creds->url || !*creds->url)
		return dfs_error_set(err, EINVAL,
				     "image %s: registry %s has no url, and its credentials are sent only to the registry its url names: write its url",
				     k->image, name);
	if (dfs_registry_object_host(creds->url, want, sizeof(want)) < 0)
		return dfs_error_set(err, EINVAL,
				     "image %s: the url of registry %s names no registry (expected HOST[:PORT], optionally after https://)",
				     k->image, name);
	dfs_registry_domain_key(k->ref->domain, have, sizeof(have));
	if (strcmp(have, want) != 0)
		return dfs_error_set(err, EINVAL,
				     "image %s is not on registry %s (%s): its credentials are sent only there",
				     k->image, name, want);
	return 0;
}

int dfs_registry_have_creds(const struct dfs_registry_ctx *k)
{
	return k->token || (k->user && k->pass);
}

/* A broken docker config is logged, not failed: a public image still
 * passes anonymously. A failing credential helper fails the check, as it
 * does docker's pull: taking it for "no credentials" would hide it. A
 * mirror gets its own docker config entry, never the mirrored registry's:
 * those would leak to a third party. */
int dfs_registry_pick_creds(struct dfs_registry_ctx *k, const struct dfs_registry_creds *creds,
			    struct dfs_error *err)
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
		ret = dfs_dockercfg_lookup(k->c->docker_config_dir, key, k->deadline, &k->dc, &e);
		if (ret == -EACCES || ret == -ETIMEDOUT || ret == -ECANCELED)
			return dfs_error_set(err, -ret, "%s", e.msg);
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
		return dfs_error_set(err, ENOMEM, "out of memory");
	snprintf(k->who, n, "%c%s\n%s\n%s", dfs_registry_have_creds(k) ? 'c' : 'a',
		 k->user ? k->user : "", k->pass ? k->pass : "", k->token ? k->token : "");
	return 0;
}

void dfs_registry_creds_release(struct dfs_registry_ctx *k)
{
	dfs_registry_wipe_free(k->who);
	k->who = NULL;
	dfs_docker_cred_clear(&k->dc);
}

void dfs_registry_basic_creds(struct dfs_registry_ctx *k, struct dfs_http_request *req)
{
	if (!dfs_registry_have_creds(k))
		return;
	req->username = k->token ? (k->user ? k->user : "<token>") : k->user;
	req->password = k->token ? k->token : k->pass;
	k->sent_creds = 1;
}

int dfs_registry_refused(const struct dfs_registry_ctx *k, struct dfs_error *err)
{
	if (k->withheld[0])
		return dfs_error_set(err, EACCES,
				     "registry %s refused anonymous access to %s: the credentials were withheld from its token server %s because it is not HTTPS",
				     k->label, k->image, k->withheld);
	if (k->sent_creds)
		return dfs_error_set(err, EACCES, "registry %s refused the credentials%s%s for %s",
				     k->label, k->user ? " of user " : "", k->user ? k->user : "",
				     k->image);
	return dfs_error_set(err, ENOKEY,
			     "image %s not found, or private, in registry %s: add credentials to the registry object or the docker config",
			     k->image, k->label);
}

/* ------------------------------------------------------------ token cache */

/* A remembered Authorization for (base, scope, who). */
struct dfs_registry_auth_entry {
	struct dfs_registry_auth_entry *next;
	char *base;
	char *scope;
	char *who;              /* identity the auth belongs to (secret) */
	char *header;           /* "Authorization: Bearer ..." (secret), or
				 * NULL: send the Basic credentials at once */
	int64_t expires_ns;
};

static void auth_entry_free(struct dfs_registry_auth_entry *a)
{
	free(a->base);
	free(a->scope);
	dfs_registry_wipe_free(a->who);
	dfs_registry_wipe_free(a->header);
	free(a);
}

static int auth_entry_is(const struct dfs_registry_auth_entry *a, const char *base,
			 const char *scope, const char *who)
{
	return strcmp(a->base, base) == 0 && strcmp(a->scope, scope) == 0 &&
	       strcmp(a->who, who) == 0;
}

int dfs_registry_auth_get(struct dfs_registry_client *c, const char *base, const char *scope,
			  const char *who, char **header)
{
	struct dfs_registry_auth_entry **pp, *a;
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
		if (!found && auth_entry_is(a, base, scope, who)) {
			found = 1;
			if (a->header && !(*header = strdup(a->header)))
				found = 0;
		}
		pp = &a->next;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

void dfs_registry_auth_drop(struct dfs_registry_client *c, const char *base, const char *scope,
			    const char *who)
{
	struct dfs_registry_auth_entry **pp, *a;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->auths; (a = *pp); ) {
		if (auth_entry_is(a, base, scope, who)) {
			*pp = a->next;
			auth_entry_free(a);
			c->n_auths--;
			continue;
		}
		pp = &a->next;
	}
	pthread_mutex_unlock(&c->lock);
}

void dfs_registry_auth_put(struct dfs_registry_client *c, const char *base, const char *scope,
			   const char *who, const char *header, int64_t expires_ns)
{
	struct dfs_registry_auth_entry *a, **pp;

	dfs_registry_auth_drop(c, base, scope, who);
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

void dfs_registry_auth_clear(struct dfs_registry_client *c)
{
	struct dfs_registry_auth_entry *a, *next;

	for (a = c->auths; a; a = next) {
		next = a->next;
		auth_entry_free(a);
	}
	c->auths = NULL;
	c->n_auths = 0;
}

/* ------------------------------------------------------------ the tokens */

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

/* Ask the realm: an identity token is an OAuth2 refresh token, POSTed as
 * docker does; a realm that does not do OAuth2 (400/404/405) gets it as a
 * Basic password on the usual GET, like a username and password. */
static int ask_realm(struct dfs_registry_ctx *k, const struct dfs_auth_challenge *ch,
		     const char *scope, const char *peer, int insecure, int send_creds,
		     struct dfs_http_response *r, struct dfs_error *err)
{
	static const char *const ctype = "Content-Type: application/x-www-form-urlencoded";
	const char *kv[] = { "service", ch->service, "scope", scope,
			     "grant_type", "refresh_token", "client_id", "deployfs",
			     "refresh_token", k->token };
	const struct dfs_http_request blank = {
		.deadline_ns = k->deadline, .cacert = k->c->cacert, .insecure = insecure,
		.max_body = TOKEN_BODY_MAX, .peer = peer,
	};
	struct dfs_http_request req = blank;
	char url[DFS_REGISTRY_URL_MAX + 2048], params[2048], *body;
	size_t blen;
	int ret;

	if (k->token && send_creds) {
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
		dfs_registry_wipe_free(body);
		if (ret < 0 || (r->status != 400 && r->status != 404 && r->status != 405))
			return ret;
		dfs_http_response_release(r);
		req = blank;
	}
	if (form(params, sizeof(params), kv, 4) < 0 ||
	    snprintf(url, sizeof(url), "%s%c%s", ch->realm, strchr(ch->realm, '?') ? '&' : '?',
		     params) >= (int)sizeof(url))
		return dfs_error_set(err, EIO, "%s: token realm URL too long", k->peer);
	req.url = url;
	if (send_creds)
		dfs_registry_basic_creds(k, &req);
	return dfs_http_request(k->c->http, &req, r, err);
}

/* May k's credentials go to the realm at realm_auth? Over https, yes; over
 * plain http only to k's endpoint itself when it may speak plain http:
 * insecure_registry names it, or it is a mirror the operator gave as
 * http:// (the manifest requests carry the credentials there anyway). */
static int realm_gets_creds(const struct dfs_registry_ctx *k, const char *realm,
			    const char *realm_auth)
{
	if (strncmp(realm, "https://", 8) == 0)
		return 1;
	return strcasecmp(realm_auth, k->authority) == 0 &&
	       (k->insecure || (k->mirrored && strncmp(k->base, "http://", 7) == 0));
}

int dfs_registry_fetch_token(struct dfs_registry_ctx *k, const struct dfs_auth_challenge *ch,
			     char **header, int64_t *expires, struct dfs_error *err)
{
	char realm_auth[256], peer[DFS_REGISTRY_LABEL_MAX + 300];
	const char *scope = ch->scope[0] ? ch->scope : k->scope;
	struct dfs_http_response r = { 0 };
	json_t *root = NULL, *v;
	const char *tok;
	long long ttl;
	int ret, send;

	if (dfs_registry_url_authority(ch->realm, realm_auth, sizeof(realm_auth)) < 0)
		return dfs_error_set(err, EIO, "%s sent a token realm that is not an http(s) URL",
				     k->peer);
	snprintf(peer, sizeof(peer), "token server %s of registry %s", realm_auth, k->label);
	send = realm_gets_creds(k, ch->realm, realm_auth);
	if (!send && dfs_registry_have_creds(k))
		snprintf(k->withheld, sizeof(k->withheld), "%s", realm_auth);
	ret = ask_realm(k, ch, scope, peer, dfs_registry_is_insecure(k->c, realm_auth), send,
			&r, err);
	if (ret < 0)
		goto out;
	if (r.status == 401 || r.status == 403) {
		ret = dfs_registry_refused(k, err);
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
		ttl = DFS_REGISTRY_TOKEN_TTL_S;
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
