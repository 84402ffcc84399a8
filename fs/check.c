/* check.c - the registry check as the mount's policy wants it. */
#include "fs.h"
#include "log.h"
#include "regopts.h"

#include <errno.h>
#include <string.h>

int dfs_check_image(struct dfs_fs *fs, const struct dfs_reference *ref, const json_t *regdoc,
		    int64_t deadline_ns, char *digest, struct dfs_error *err)
{
	struct dfs_registry_creds creds;
	struct dfs_error e = { 0 };
	int ret;

	digest[0] = '\0';
	if (fs->cfg.registry_check == DFS_CHECK_OFF)
		return 0;
	if (!fs->registry)
		return dfs_error_set(err, EIO, "the registry check is not available");
	creds = dfs_registry_creds_of(regdoc);   /* regopts.h */
	ret = dfs_registry_check(fs->registry, ref, regdoc ? &creds : NULL, deadline_ns, digest, &e);
	if (ret == 0)
		return 0;
	if (ret == -ENOKEY && fs->cfg.api) {
		/* the apps API holds credentials we never see: let it decide */
		log_info("registry check skipped: %s; the apps API checks it itself", e.msg);
		return 0;
	}
	/* warn overrides what the registry said, not a refusal made before
	 * any request (-EINVAL: the image is not on the app's registry
	 * object's host) nor a shutdown (-ECANCELED) */
	if (fs->cfg.registry_check == DFS_CHECK_WARN && ret != -EINVAL && ret != -ECANCELED) {
		log_warnx("registry check: %s (registry_check=warn: going on)", e.msg);
		digest[0] = '\0';
		return 0;
	}
	switch (-ret) {
	case ENOENT:
		return dfs_error_set(err, EINVAL, "%s", e.msg);
	case ENOKEY:
		return dfs_error_set(err, EINVAL, "%s: not found, or private: add credentials to "
				     "the registry object or the docker config", e.msg);
	default:
		return dfs_error_set(err, -ret, "%s", e.msg);
	}
}
