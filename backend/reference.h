/* reference.h - container image references, as distribution/reference
 * parses and normalises them.
 *
 *   reference := name [":" tag] ["@" digest]
 *   name      := [domain "/"] component ("/" component)*
 *   component := [a-z0-9]+ (([._]|__|-+) [a-z0-9]+)*
 *   domain    := host [":" port]    host: DNS labels joined by "." or "[ipv6]"
 *   tag       := [\w][\w.-]{0,127}
 *   digest    := algorithm ":" encoded  (OCI grammar; sha256: 64 lowercase
 *                hex, sha512: 128)
 *
 * The whole name (with domain) is at most 255 characters. The first
 * component is a domain when it is "localhost", contains "." or ":", or
 * has an uppercase letter (as upstream does: "Myorg/app" names host Myorg);
 * otherwise the domain is docker.io, and a one-component path gets
 * "library/". index.docker.io is docker.io.
 */
#ifndef DEPLOYFS_REFERENCE_H
#define DEPLOYFS_REFERENCE_H

#include "error.h"

#define DFS_NAME_MAX   255
#define DFS_TAG_MAX    128
#define DFS_DIGEST_MAX 160

struct dfs_reference {
	char name[DFS_NAME_MAX + 1];     /* as written, no tag/digest: "nginx" */
	char domain[DFS_NAME_MAX + 1];   /* normalised: "docker.io", "localhost:5000" */
	char path[DFS_NAME_MAX + 1];     /* repository path: "library/nginx" */
	char tag[DFS_TAG_MAX + 1];       /* "" when none was written */
	char digest[DFS_DIGEST_MAX + 1]; /* "sha256:<hex>", "" when none */
};

/* Parse a full reference "name[:tag][@digest]" into *out.
 * Returns 0, or -EINVAL with err saying what is wrong and what the grammar
 * accepts (e.g. `image "Nginx": repository names are lowercase ...`).
 * *out is undefined on failure. */
int dfs_reference_parse(const char *s, struct dfs_reference *out,
			struct dfs_error *err);

/* Parse only a name (no tag, no digest): what the `image` file takes.
 * Same contract as dfs_reference_parse; out->tag and out->digest are "". */
int dfs_reference_parse_name(const char *s, struct dfs_reference *out,
			     struct dfs_error *err);

/* 0 when tag matches [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, else -EINVAL with
 * err: `tag "v2 beta": tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. */
int dfs_tag_check(const char *tag, struct dfs_error *err);

/* 0 when digest is algorithm ":" hex as the grammar says (sha256 needs 64
 * lowercase hex digits, sha512 128), else -EINVAL with err. */
int dfs_digest_check(const char *digest, struct dfs_error *err);

/* The host to contact for a normalised domain: "docker.io" gives
 * "registry-1.docker.io", anything else itself. Borrowed, can't fail. */
const char *dfs_reference_registry_host(const struct dfs_reference *ref);

#endif
