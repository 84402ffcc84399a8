/* regopts.h - the registry client and its credentials as the mount
 * configures them, for every caller of the registry client (the write
 * path's check, the drift check). */
#ifndef DEPLOYFS_REGOPTS_H
#define DEPLOYFS_REGOPTS_H

#include <jansson.h>
#include "registry.h"

struct dfs_config;

/* The client options of the mount's options (cacert=, registry_mirror=,
 * insecure_registry=). Borrows from cfg: valid while cfg is. Can't fail. */
struct dfs_registry_opts dfs_registry_opts_of(const struct dfs_config *cfg);

/* The credentials of an app's registry object regdoc (its name, else its
 * id, for error lines; url, username, password, token), borrowed from
 * regdoc: valid while the caller holds a reference to it. Can't fail. */
struct dfs_registry_creds dfs_registry_creds_of(const json_t *regdoc);

#endif
