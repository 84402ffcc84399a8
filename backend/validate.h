/* validate.h - value grammars and Glance's rules, shared by every backend.
 *
 * Each check returns 0, or -errno with err holding one human line that says
 * what was wrong and what would be accepted; what the checks name is the
 * attribute as the user sees it (`min_ram "abc": a whole number from 0 to
 * 2147483647`).
 */
#ifndef DEPLOYFS_VALIDATE_H
#define DEPLOYFS_VALIDATE_H

#include <stdint.h>
#include "error.h"

/* Decimal integer in [0, 2147483647], no sign, no spaces, no leading zeros
 * except "0" itself. -EINVAL otherwise. *out set on success. */
int dfs_check_uint31(const char *attr, const char *s, int64_t *out,
		     struct dfs_error *err);

/* "true" or "false" -> 1 / 0 in *out; -EINVAL otherwise. */
int dfs_check_bool(const char *attr, const char *s, int *out,
		   struct dfs_error *err);

/* Glance's container_format: ami ari aki bare ovf ova docker compressed. */
int dfs_check_container_format(const char *s, struct dfs_error *err);

/* Glance's disk_format: ami ari aki vhd vhdx vmdk raw qcow2 vdi iso ploop. */
int dfs_check_disk_format(const char *s, struct dfs_error *err);

/* Glance's image status: queued saving uploading importing active
 * deactivated killed deleted pending_delete. */
int dfs_check_image_status(const char *s, struct dfs_error *err);

/* Glance's visibility: public private shared community. */
int dfs_check_visibility(const char *s, struct dfs_error *err);

/* A string property value: valid UTF-8, no control characters other than
 * tab, at most max characters (code points). -EINVAL otherwise. */
int dfs_check_text(const char *attr, const char *s, size_t max,
		   struct dfs_error *err);

/* A custom property key: -EPERM for the prefixes com.rackspace,
 * org.openstack and os_glance; -ENAMETOOLONG over 255 bytes; -EINVAL for an
 * empty key, one that is not UTF-8 or holds a control character, and for
 * a key that names one of Glance's own image attributes (name, tags, id,
 * os_distro, ... : those have files of their own). */
int dfs_check_property_key(const char *key, struct dfs_error *err);

/* 1 when key is one of Glance's own image attributes (base schema and the
 * standard properties deployfs shows as files), else 0. */
int dfs_is_glance_attribute(const char *key);

/* A UUID in canonical 8-4-4-4-12 lowercase-or-uppercase hex form. 1/0. */
int dfs_is_uuid(const char *s);

#endif
