/* fuzz_reference.c - libFuzzer target for the reference parser.
 *
 * Run without a corpus (from the top of the tree):
 *   make fuzz && build-fuzz/fuzz_reference -max_total_time=60 -max_len=512
 *
 * Besides memory errors it checks what a successful parse promises: every
 * field fits and is NUL-terminated, the parts are each valid on their own,
 * and parsing the normalised form again gives the same parts.
 */
#include "reference.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parsed(const struct dfs_reference *r)
{
	struct dfs_reference again;
	char canon[1024];

	if (strlen(r->name) > DFS_NAME_MAX || strlen(r->path) > DFS_NAME_MAX ||
	    strlen(r->domain) > DFS_NAME_MAX || strlen(r->tag) > DFS_TAG_MAX ||
	    strlen(r->digest) > DFS_DIGEST_MAX || !r->domain[0] || !r->path[0])
		abort();
	if (r->tag[0] && dfs_tag_check(r->tag, NULL))
		abort();
	if (r->digest[0] && dfs_digest_check(r->digest, NULL))
		abort();
	if (!dfs_reference_registry_host(r)[0])
		abort();

	/* domain/path[:tag][@digest] is canonical: it parses to itself */
	snprintf(canon, sizeof(canon), "%s/%s%s%s%s%s", r->domain, r->path,
		 r->tag[0] ? ":" : "", r->tag, r->digest[0] ? "@" : "", r->digest);
	if (strlen(r->domain) + 1 + strlen(r->path) > DFS_NAME_MAX)
		return;         /* the canonical name may exceed the limit */
	if (dfs_reference_parse(canon, &again, NULL) ||
	    strcmp(again.domain, r->domain) || strcmp(again.path, r->path) ||
	    strcmp(again.tag, r->tag) || strcmp(again.digest, r->digest))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfs_reference r;
	struct dfs_error err;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	err.code = 0;
	if (dfs_reference_parse(s, &r, &err) == 0)
		check_parsed(&r);
	else if (err.code == 0 || !err.msg[0] || strchr(err.msg, '\n'))
		abort();
	if (dfs_reference_parse_name(s, &r, &err) == 0) {
		check_parsed(&r);
		if (r.tag[0] || r.digest[0] || strcmp(r.name, s))
			abort();
	}
	dfs_tag_check(s, &err);
	dfs_digest_check(s, &err);
	free(s);
	return 0;
}
