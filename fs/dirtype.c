/* dirtype.c - the directory-type and object-kind tables (dirtype.h). */
#include "dirtype.h"
#include "tree_int.h"

#include <errno.h>
#include <string.h>

static const struct dfs_file_table env_files[] = {
	{ dfs_env_attrs, "e", "" },
	{ NULL, NULL, NULL },
};

static const struct dfs_file_table app_files[] = {
	{ dfs_app_attrs, "a", "" },
	{ dfs_resource_attrs, "r", "resources/" },
	{ NULL, NULL, NULL },
};

static const struct dfs_file_table image_files[] = {
	{ dfs_image_attrs, "i", "" },
	{ NULL, NULL, NULL },
};

static const struct dfs_file_table registry_files[] = {
	{ dfs_registry_attrs, "g", "" },
	{ NULL, NULL, NULL },
};

static const struct dfs_kind_desc kinds[DFS_KIND_COUNT] = {
	[DFS_ENV] = {
		.kind = DFS_ENV, .folder = "environments", .container = DFS_D_ENVS,
		.object = DFS_D_ENV, .prefix = "e", .tables = env_files,
	},
	[DFS_APP] = {
		.kind = DFS_APP, .folder = "apps", .container = DFS_D_APPS,
		.object = DFS_D_APP, .prefix = "a", .tables = app_files, .parent_is_env = 1,
	},
	[DFS_REGISTRY] = {
		.kind = DFS_REGISTRY, .folder = "registries", .container = DFS_D_REGS,
		.object = DFS_D_REG, .prefix = "g", .tables = registry_files,
	},
	[DFS_IMAGE] = {
		.kind = DFS_IMAGE, .folder = "images", .container = DFS_D_IMAGES,
		.object = DFS_D_IMAGE, .prefix = "i", .tables = image_files,
		.named_by_id = 1, .properties = 1, .by_name = 1,
	},
};

static const struct dfs_subdir root_subdirs[] = {
	{ "environments", DFS_D_ENVS, "E" },
	{ "images", DFS_D_IMAGES, "I" },
	{ "registries", DFS_D_REGS, "R" },
	{ ".deployfs", DFS_D_META, "M" },
	{ NULL, DFS_D_NONE, NULL },
};
static const struct dfs_subdir env_subdirs[] = {
	{ "apps", DFS_D_APPS, "A" },
	{ NULL, DFS_D_NONE, NULL },
};
static const struct dfs_subdir app_subdirs[] = {
	{ "resources", DFS_D_RES, "r" },
	{ NULL, DFS_D_NONE, NULL },
};
static const struct dfs_subdir images_subdirs[] = {
	{ "by-name", DFS_D_BYNAME, "B" },
	{ NULL, DFS_D_NONE, NULL },
};
static const struct dfs_subdir image_subdirs[] = {
	{ "properties", DFS_D_PROPS, "p" },
	{ NULL, DFS_D_NONE, NULL },
};

/* Modes: a directory where something can be made (scratch files, new
 * objects, new properties) is writable; the others are not, and say so. */
static const struct dfs_dir_type types[] = {
	[DFS_D_ROOT] = {
		.type = DFS_D_ROOT, .path = "", .mode = 0555, .subdirs = root_subdirs,
	},
	[DFS_D_ENVS] = {
		.type = DFS_D_ENVS, .path = "environments", .mode = 0755,
		.lists = DFS_L_OBJECTS, .objects = &kinds[DFS_ENV],
		.make = dfs_make_env, .drop = dfs_drop_env,
	},
	[DFS_D_ENV] = {
		.type = DFS_D_ENV, .path = "environments/<env>", .mode = 0555,
		.has_obj = 1, .kind = DFS_ENV, .attrs = dfs_env_attrs, .subdirs = env_subdirs,
	},
	[DFS_D_APPS] = {
		.type = DFS_D_APPS, .path = "environments/<env>/apps", .mode = 0755,
		.has_obj = 1, .kind = DFS_ENV, .lists = DFS_L_OBJECTS, .objects = &kinds[DFS_APP],
		.needs_all = 1, .make = dfs_make_app, .drop = dfs_drop_app,
	},
	[DFS_D_APP] = {
		.type = DFS_D_APP, .path = "environments/<env>/apps/<app>", .mode = 0755,
		.has_obj = 1, .kind = DFS_APP, .attrs = dfs_app_attrs, .subdirs = app_subdirs,
		.scratch = 1, .needs_all = 1,
	},
	[DFS_D_RES] = {
		.type = DFS_D_RES, .path = "environments/<env>/apps/<app>/resources", .mode = 0555,
		.has_obj = 1, .kind = DFS_APP, .attrs = dfs_resource_attrs, .needs_all = 1,
	},
	[DFS_D_IMAGES] = {
		.type = DFS_D_IMAGES, .path = "images", .mode = 0555,
		.lists = DFS_L_OBJECTS, .objects = &kinds[DFS_IMAGE], .subdirs = images_subdirs,
		.needs_all = 1,
	},
	[DFS_D_BYNAME] = {
		.type = DFS_D_BYNAME, .path = "images/by-name", .mode = 0555,
		.lists = DFS_L_BYNAME, .needs_all = 1,
	},
	[DFS_D_IMAGE] = {
		.type = DFS_D_IMAGE, .path = "images/<id>", .mode = 0755,
		.has_obj = 1, .kind = DFS_IMAGE, .attrs = dfs_image_attrs, .subdirs = image_subdirs,
		.scratch = 1, .needs_all = 1,
	},
	[DFS_D_PROPS] = {
		.type = DFS_D_PROPS, .path = "images/<id>/properties", .mode = 0755,
		.has_obj = 1, .kind = DFS_IMAGE, .lists = DFS_L_PROPS,
		.scratch = 1, .new_names = 1, .needs_all = 1,
	},
	[DFS_D_REGS] = {
		.type = DFS_D_REGS, .path = "registries", .mode = 0755,
		.lists = DFS_L_OBJECTS, .objects = &kinds[DFS_REGISTRY],
		.make = dfs_make_registry, .drop = dfs_drop_registry,
	},
	[DFS_D_REG] = {
		.type = DFS_D_REG, .path = "registries/<name>", .mode = 0755,
		.has_obj = 1, .kind = DFS_REGISTRY, .attrs = dfs_registry_attrs, .scratch = 1,
	},
	[DFS_D_META] = {
		.type = DFS_D_META, .path = ".deployfs", .mode = 0555,
		.attrs = dfs_meta_attrs, .lists = DFS_L_EVENTS, .needs_all = 1,
	},
	[DFS_D_NONE] = {
		.type = DFS_D_NONE, .path = "", .mode = 0555,
	},
};

const struct dfs_dir_type *dfs_dir_type(enum dfs_dtype dt)
{
	if ((size_t)dt >= sizeof(types) / sizeof(types[0]))
		dt = DFS_D_NONE;
	return &types[dt];
}

const struct dfs_kind_desc *dfs_kind_desc(enum dfs_kind k)
{
	return &kinds[(size_t)k < DFS_KIND_COUNT ? k : 0];
}

int dfs_node_key(char *out, size_t outsz, const char *prefix, const char *id, const char *name)
{
	int n = snprintf(out, outsz, "%s%s%s%s%s", prefix, id ? ":" : "", id ? id : "",
			 name ? "/" : "", name ? name : "");

	if (n < 0 || (size_t)n >= outsz) {
		if (outsz)
			out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}
