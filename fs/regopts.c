/* regopts.c - the registry client's options and credentials (regopts.h). */
#include "regopts.h"
#include "fs.h"

struct dfs_registry_opts dfs_registry_opts_of(const struct dfs_config *cfg)
{
	struct dfs_registry_opts ro = {
		.cacert = cfg->cacert,
		.mirrors = (const char *const *)cfg->mirrors,
		.n_mirrors = cfg->n_mirrors,
		.insecure = (const char *const *)cfg->insecure,
		.n_insecure = cfg->n_insecure,
	};

	return ro;
}

struct dfs_registry_creds dfs_registry_creds_of(const json_t *regdoc)
{
	struct dfs_registry_creds c = { 0 };

	/* name and url too: its credentials go only to its url's host */
	c.name = json_string_value(json_object_get(regdoc, "name"));
	if (!c.name || !*c.name)
		c.name = json_string_value(json_object_get(regdoc, "id"));
	c.url = json_string_value(json_object_get(regdoc, "url"));
	c.username = json_string_value(json_object_get(regdoc, "username"));
	c.password = json_string_value(json_object_get(regdoc, "password"));
	c.token = json_string_value(json_object_get(regdoc, "token"));
	return c;
}
