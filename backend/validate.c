/* validate.c - value grammars and Glance's rules (README, "Images"; the
 * facts about Glance are checked by tests/integration/test_glance_server.py).
 *
 * Every check runs before anything is sent, so a refused write changes
 * nothing and its error line names the attribute and what is accepted.
 * Some rules here are ours rather than Glance's: vanilla Glance takes
 * com.rackspace.* keys and values of any length, Rackspace does not.
 */
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define QUOTE_MAX 64            /* bytes of a value an error line shows */
#define QBUF (QUOTE_MAX + 24)   /* room for one more escaped sequence and ... */
#define KEY_MAX 255

/* Decode one UTF-8 sequence at s (len bytes left) into *cp. Returns its
 * length, or -1 when it is not well-formed (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF). */
static int utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	static const uint32_t min[] = { 0, 0x80, 0x800, 0x10000 };
	int n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 :
	    (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (!n || (size_t)n > len)
		return -1;
	*cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min[n - 1] || *cp > 0x10ffff ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return -1;
	return n;
}

/* C0 controls but tab, DEL, and the C1 controls. */
static int is_control(uint32_t cp)
{
	return (cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp <= 0x9f);
}

/* About QUOTE_MAX bytes of s for an error line: well-formed UTF-8 stays
 * readable, controls, '"', '\' and broken bytes become \xHH, since the
 * line goes to a file and a log. */
static const char *quote(const char *s, char buf[QBUF])
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, o = 0;
	uint32_t cp;
	int n;

	while (i < len) {
		if (o >= QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		n = utf8_next(p + i, len - i, &cp);
		if (n < 0 || is_control(cp) || cp == '"' || cp == '\\') {
			for (n = n < 0 ? 1 : n; n > 0; n--)
				o += (size_t)snprintf(buf + o, QBUF - o, "\\x%02x", p[i++]);
		} else {
			memcpy(buf + o, p + i, (size_t)n);
			o += (size_t)n;
			i += (size_t)n;
		}
	}
	buf[o] = '\0';
	return buf;
}

int dfs_check_uint31(const char *attr, const char *s, int64_t *out,
		     struct dfs_error *err)
{
	char q[QBUF];
	int64_t v = 0;
	size_t i;

	if (!s)
		s = "";
	for (i = 0; s[i] >= '0' && s[i] <= '9' && v <= INT32_MAX; i++)
		v = v * 10 + (s[i] - '0');
	if (i == 0 || s[i] || v > INT32_MAX || (s[0] == '0' && s[1]))
		return dfs_error_set(err, EINVAL,
				     "%s \"%s\": a whole number from 0 to 2147483647",
				     attr, quote(s, q));
	*out = v;
	return 0;
}

int dfs_check_bool(const char *attr, const char *s, int *out,
		   struct dfs_error *err)
{
	char q[QBUF];

	if (s && strcmp(s, "true") == 0)
		*out = 1;
	else if (s && strcmp(s, "false") == 0)
		*out = 0;
	else
		return dfs_error_set(err, EINVAL, "%s \"%s\": true or false",
				     attr, quote(s ? s : "", q));
	return 0;
}

static const char *const container_formats[] = {
	"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed", NULL
};

static const char *const disk_formats[] = {
	"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi",
	"iso", "ploop", NULL
};

static const char *const image_statuses[] = {
	"queued", "saving", "uploading", "importing", "active", "deactivated",
	"killed", "deleted", "pending_delete", NULL
};

static const char *const visibilities[] = {
	"public", "private", "shared", "community", NULL
};

static int check_enum(const char *attr, const char *s,
		      const char *const *allowed, struct dfs_error *err)
{
	char q[QBUF], list[160];
	size_t i, o = 0;

	for (i = 0; s && allowed[i]; i++)
		if (strcmp(s, allowed[i]) == 0)
			return 0;
	for (i = 0; allowed[i]; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
				      i ? ", " : "", allowed[i]);
	return dfs_error_set(err, EINVAL, "%s \"%s\": one of %s", attr,
			     quote(s ? s : "", q), list);
}

int dfs_check_container_format(const char *s, struct dfs_error *err)
{
	return check_enum("container_format", s, container_formats, err);
}

int dfs_check_disk_format(const char *s, struct dfs_error *err)
{
	return check_enum("disk_format", s, disk_formats, err);
}

int dfs_check_image_status(const char *s, struct dfs_error *err)
{
	return check_enum("status", s, image_statuses, err);
}

int dfs_check_visibility(const char *s, struct dfs_error *err)
{
	return check_enum("visibility", s, visibilities, err);
}

/* 0 when s is well-formed UTF-8 without controls (tab allowed), with its
 * code point count in *count; else -EINVAL with err saying which. */
static int text_ok(const char *what, const char *s, size_t *count,
		   struct dfs_error *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0;
	char q[QBUF];
	uint32_t cp;
	int n;

	for (*count = 0; i < len; i += (size_t)n, (*count)++) {
		n = utf8_next(p + i, len - i, &cp);
		if (n < 0)
			return dfs_error_set(err, EINVAL, "%s \"%s\": not valid UTF-8",
					     what, quote(s, q));
		if (is_control(cp))
			return dfs_error_set(err, EINVAL,
					     "%s \"%s\": control characters are not allowed (tab is)",
					     what, quote(s, q));
	}
	return 0;
}

int dfs_check_text(const char *attr, const char *s, size_t max,
		   struct dfs_error *err)
{
	char q[QBUF];
	size_t count;
	int ret;

	if (!s)
		s = "";
	ret = text_ok(attr, s, &count, err);
	if (ret)
		return ret;
	if (count > max)
		return dfs_error_set(err, EINVAL,
				     "%s \"%s\": at most %zu characters (this one has %zu)",
				     attr, quote(s, q), max, count);
	return 0;
}

/* Reserved by Rackspace (com.rackspace, org.openstack) and by Glance
 * itself (os_glance: Glance answers 403). */
static const char *const reserved_prefixes[] = {
	"com.rackspace", "org.openstack", "os_glance", NULL
};

/* Keys Glance keeps for itself (403 "Attribute 'deleted' is reserved."). */
static const char *const reserved_keys[] = { "deleted", "deleted_at", NULL };

int dfs_check_property_key(const char *key, struct dfs_error *err)
{
	char q[QBUF];
	size_t i, count;
	int ret;

	if (!key || !*key)
		return dfs_error_set(err, EINVAL, "property \"\": a key cannot be empty");
	if (strlen(key) > KEY_MAX)
		return dfs_error_set(err, ENAMETOOLONG,
				     "property \"%s\": keys are at most %d bytes (this one has %zu)",
				     quote(key, q), KEY_MAX, strlen(key));
	ret = text_ok("property", key, &count, err);
	if (ret)
		return ret;
	for (i = 0; reserved_prefixes[i]; i++)
		if (strncmp(key, reserved_prefixes[i],
			    strlen(reserved_prefixes[i])) == 0)
			return dfs_error_set(err, EPERM,
					     "property \"%s\": keys starting with com.rackspace, org.openstack or os_glance are reserved",
					     quote(key, q));
	for (i = 0; reserved_keys[i]; i++)
		if (strcmp(key, reserved_keys[i]) == 0)
			return dfs_error_set(err, EPERM, "property \"%s\": reserved by Glance",
					     quote(key, q));
	if (dfs_is_glance_attribute(key)) {
		quote(key, q);
		return dfs_error_set(err, EINVAL,
				     "property \"%s\": an image attribute, not a custom property; write the image's %s file",
				     q, q);
	}
	return 0;
}

/* Glance's base image schema (glance/api/v2/images.py) and the standard
 * properties deployfs shows as files of their own. */
static const char *const glance_attributes[] = {
	"id", "name", "status", "visibility", "protected", "checksum", "owner",
	"size", "virtual_size", "min_ram", "min_disk", "container_format",
	"disk_format", "created_at", "updated_at", "tags", "self", "file",
	"schema", "direct_url", "locations", "stores", "os_hidden",
	"os_hash_algo", "os_hash_value",
	"os_distro", "os_version", "ramdisk_id", "kernel_id",
	NULL
};

int dfs_is_glance_attribute(const char *key)
{
	size_t i;

	for (i = 0; key && glance_attributes[i]; i++)
		if (strcmp(key, glance_attributes[i]) == 0)
			return 1;
	return 0;
}

int dfs_is_uuid(const char *s)
{
	size_t i;

	if (!s || strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];

		if (dash ? c != '-' :
		    !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		      (c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}
