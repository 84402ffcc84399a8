/* registry_endpoint.c - where a registry check goes (registry_internal.h).
 *
 * A reference's registry is asked directly on https, unless registry_mirror
 * names a mirror for its domain (then the mirror URL is asked, prefix and
 * all, on its own scheme). insecure_registry: https with verification off;
 * if the TLS handshake itself fails (the server speaks plain HTTP) the check
 * falls back to http, and the endpoint is remembered as plain here so the
 * next check starts on http, as docker does.
 */
#include "registry_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int dfs_registry_object_host(const char *url, char *out, size_t outsz)
{
	const char *s = url;
	size_t n;

	if (strncasecmp(s, "https://", 8) == 0)
		s += 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		s += 7;
	else if (strstr(s, "://"))
		return -EINVAL;
	n = strcspn(s, "/?#");
	if (n == 0 || n >= outsz || memchr(s, '@', n) || memchr(s, ' ', n))
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = '\0';
	dfs_registry_domain_key(out, out, outsz);
	return 0;
}

void dfs_registry_domain_key(const char *domain, char *out, size_t outsz)
{
	size_t i;

	for (i = 0; domain[i] && i + 1 < outsz; i++)
		out[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] + 32 : domain[i]);
	out[i] = '\0';
	if (dfs_dockercfg_normal_host(out) != out)
		snprintf(out, outsz, "%s", "docker.io");
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

/* ------------------------------------------------------------ the options */

static int add_mirror(struct dfs_registry_client *c, const char *spec, struct dfs_error *err)
{
	const char *eq = strchr(spec, '=');
	char auth[256], host[256];
	struct dfs_registry_mirror *m = &c->mirrors[c->n_mirrors];
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

int dfs_registry_endpoints_init(struct dfs_registry_client *c,
				const struct dfs_registry_opts *opts, struct dfs_error *err)
{
	size_t i;
	int ret;

	c->mirrors = calloc(opts->n_mirrors + 1, sizeof(*c->mirrors));
	c->insecure = calloc(opts->n_insecure + 1, sizeof(*c->insecure));
	if (!c->mirrors || !c->insecure)
		return dfs_error_set(err, ENOMEM, "out of memory creating the registry client");
	for (i = 0; i < opts->n_mirrors; i++)
		if ((ret = add_mirror(c, opts->mirrors[i], err)) < 0)
			return ret;
	for (i = 0; i < opts->n_insecure; i++)
		if ((ret = add_insecure(c, opts->insecure[i], err)) < 0)
			return ret;
	return 0;
}

void dfs_registry_endpoints_release(struct dfs_registry_client *c)
{
	size_t i;

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
}

/* ----------------------------------------------------- plain-http memory */

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

void dfs_registry_plain_add(struct dfs_registry_client *c, const char *authority)
{
	char *s = strdup(authority);

	pthread_mutex_lock(&c->lock);
	if (s && c->n_plain < DFS_REGISTRY_PLAIN_MAX) {
		c->plain[c->n_plain++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	free(s);
}

/* ------------------------------------------------------- one check's URL */

int dfs_registry_resolve_endpoint(struct dfs_registry_ctx *k, struct dfs_error *err)
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
