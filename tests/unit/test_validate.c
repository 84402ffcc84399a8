/* test_validate.c - value grammars and Glance's rules. */
#include "validate.h"
#include "unit.h"

#include <errno.h>

static void test_uint31(void)
{
	static const char *const good[] = { "0", "1", "512", "2147483647" };
	static const char *const bad[] = {
		"", "-1", "+1", "01", "00", " 1", "1 ", "1.0", "1e3", "0x10",
		"2147483648", "4294967296", "99999999999999999999", "abc", "１",
	};
	struct dfs_error err = { 0, "untouched" };
	int64_t v = -1;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(*good); i++)
		CHECK_INT(dfs_check_uint31("min_ram", good[i], &v, &err), 0);
	CHECK_INT(v, 2147483647);
	CHECK_STR(err.msg, "untouched");
	CHECK_INT(dfs_check_uint31("min_disk", "0", &v, NULL), 0);
	CHECK_INT(v, 0);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		v = 7;
		CHECK_INT(dfs_check_uint31("min_ram", bad[i], &v, &err), -EINVAL);
		CHECK_INT(v, 7);
	}
	CHECK_INT(dfs_check_uint31("min_ram", NULL, &v, &err), -EINVAL);
	dfs_check_uint31("min_ram", "abc", &v, &err);
	CHECK_STR(err.msg, "min_ram \"abc\": a whole number from 0 to 2147483647");
	CHECK_INT(err.code, EINVAL);
}

static void test_bool(void)
{
	struct dfs_error err;
	int b = -1;

	CHECK_INT(dfs_check_bool("protected", "true", &b, &err), 0);
	CHECK_INT(b, 1);
	CHECK_INT(dfs_check_bool("protected", "false", &b, &err), 0);
	CHECK_INT(b, 0);
	CHECK_INT(dfs_check_bool("protected", "True", &b, &err), -EINVAL);
	CHECK_INT(dfs_check_bool("protected", "1", &b, &err), -EINVAL);
	CHECK_INT(dfs_check_bool("protected", "yes", &b, &err), -EINVAL);
	CHECK_INT(dfs_check_bool("protected", "", &b, &err), -EINVAL);
	CHECK_INT(dfs_check_bool("protected", "true ", &b, &err), -EINVAL);
	CHECK_INT(dfs_check_bool("protected", NULL, &b, &err), -EINVAL);
	dfs_check_bool("protected", "yes", &b, &err);
	CHECK_STR(err.msg, "protected \"yes\": true or false");
}

static void test_formats(void)
{
	static const char *const cf[] = {
		"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"
	};
	static const char *const df[] = {
		"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi",
		"iso", "ploop"
	};
	struct dfs_error err;
	size_t i;

	for (i = 0; i < sizeof(cf) / sizeof(*cf); i++)
		CHECK_INT(dfs_check_container_format(cf[i], &err), 0);
	for (i = 0; i < sizeof(df) / sizeof(*df); i++)
		CHECK_INT(dfs_check_disk_format(df[i], &err), 0);
	CHECK_INT(dfs_check_container_format("qcow2", &err), -EINVAL);
	CHECK_STR(err.msg, "container_format \"qcow2\": one of ami, ari, aki, "
		  "bare, ovf, ova, docker, compressed");
	CHECK_INT(dfs_check_disk_format("bare", &err), -EINVAL);
	CHECK_STR(err.msg, "disk_format \"bare\": one of ami, ari, aki, vhd, "
		  "vhdx, vmdk, raw, qcow2, vdi, iso, ploop");
	CHECK_INT(dfs_check_disk_format("QCOW2", &err), -EINVAL);
	CHECK_INT(dfs_check_disk_format("", &err), -EINVAL);
	CHECK_INT(dfs_check_disk_format(NULL, &err), -EINVAL);
	CHECK_INT(dfs_check_container_format("bare\n", &err), -EINVAL);
	CHECK_STR(err.msg, "container_format \"bare\\x0a\": one of ami, ari, aki, "
		  "bare, ovf, ova, docker, compressed");
}

static void test_text(void)
{
	struct dfs_error err = { 0, "untouched" };
	char big[300];

	CHECK_INT(dfs_check_text("name", "Debian 12", 255, &err), 0);
	CHECK_INT(dfs_check_text("name", "", 255, &err), 0);
	CHECK_INT(dfs_check_text("name", "tab\tok", 255, &err), 0);
	CHECK_INT(dfs_check_text("name", "d\xc3\xa9" "bian \xe2\x82\xac \xf0\x9f\x90\xb3", 255, &err), 0);
	CHECK_INT(dfs_check_text("name", "\xef\xbf\xbf", 255, &err), 0);   /* U+FFFF */
	CHECK_INT(dfs_check_text("name", "\xf4\x8f\xbf\xbf", 255, &err), 0); /* U+10FFFF */
	CHECK_STR(err.msg, "untouched");

	/* controls */
	CHECK_INT(dfs_check_text("name", "a\nb", 255, &err), -EINVAL);
	CHECK_STR(err.msg, "name \"a\\x0ab\": control characters are not allowed (tab is)");
	CHECK_INT(dfs_check_text("name", "a\rb", 255, &err), -EINVAL);
	CHECK_INT(dfs_check_text("name", "\x1b[31m", 255, &err), -EINVAL);
	CHECK_INT(dfs_check_text("name", "del\x7f", 255, &err), -EINVAL);
	CHECK_INT(dfs_check_text("name", "c1\xc2\x85", 255, &err), -EINVAL);
	CHECK_INT(dfs_check_text("name", "nbsp\xc2\xa0", 255, &err), 0);

	/* not UTF-8 */
	CHECK_INT(dfs_check_text("name", "\xff", 255, &err), -EINVAL);
	CHECK_STR(err.msg, "name \"\\xff\": not valid UTF-8");
	CHECK_INT(dfs_check_text("name", "\xc3", 255, &err), -EINVAL);        /* cut */
	CHECK_INT(dfs_check_text("name", "\xc3(", 255, &err), -EINVAL);
	CHECK_INT(dfs_check_text("name", "\xc0\xaf", 255, &err), -EINVAL);    /* overlong / */
	CHECK_INT(dfs_check_text("name", "\xe0\x80\xaf", 255, &err), -EINVAL);
	CHECK_INT(dfs_check_text("name", "\xf0\x80\x80\xaf", 255, &err), -EINVAL);
	CHECK_INT(dfs_check_text("name", "\xed\xa0\x80", 255, &err), -EINVAL); /* surrogate */
	CHECK_INT(dfs_check_text("name", "\xf4\x90\x80\x80", 255, &err), -EINVAL);
	CHECK_INT(dfs_check_text("name", "\xf8\x88\x80\x80\x80", 255, &err), -EINVAL);
	CHECK_INT(dfs_check_text("name", "\x80", 255, &err), -EINVAL);

	/* length counts characters, not bytes */
	memset(big, 'x', 255);
	big[255] = '\0';
	CHECK_INT(dfs_check_text("name", big, 255, &err), 0);
	big[255] = 'x';
	big[256] = '\0';
	CHECK_INT(dfs_check_text("name", big, 255, &err), -EINVAL);
	CHECK(strstr(err.msg, "x...\": at most 255 characters (this one has 256)") != NULL);
	{
		char e[255 * 2 + 1];
		int i;

		for (i = 0; i < 255; i++)
			memcpy(e + 2 * i, "\xc3\xa9", 2);
		e[510] = '\0';
		CHECK_INT(dfs_check_text("os_version", e, 255, &err), 0);
		CHECK_INT(dfs_check_text("os_version", e, 254, &err), -EINVAL);
		/* the message does not cut a character in two */
		CHECK(strstr(err.msg, "\xc3\xa9...\"") != NULL);
	}
	CHECK_INT(dfs_check_text("name", NULL, 255, &err), 0);
}

static void test_keys(void)
{
	static const char *const base[] = {
		"id", "name", "status", "visibility", "protected", "checksum",
		"owner", "size", "virtual_size", "min_ram", "min_disk",
		"container_format", "disk_format", "created_at", "updated_at",
		"tags", "self", "file", "schema", "direct_url", "locations",
		"os_hidden", "os_hash_algo", "os_hash_value", "os_distro",
		"os_version", "ramdisk_id", "kernel_id",
	};
	struct dfs_error err = { 0, "untouched" };
	char key[300];
	size_t i;

	for (i = 0; i < sizeof(base) / sizeof(*base); i++) {
		CHECK_INT(dfs_is_glance_attribute(base[i]), 1);
		CHECK_INT(dfs_check_property_key(base[i], &err), -EINVAL);
	}
	dfs_check_property_key("os_distro", &err);
	CHECK_STR(err.msg, "property \"os_distro\": an image attribute, not a "
		  "custom property; write the image's os_distro file");
	CHECK_INT(dfs_is_glance_attribute("Name"), 0);
	CHECK_INT(dfs_is_glance_attribute("hw_disk_bus"), 0);
	CHECK_INT(dfs_is_glance_attribute(""), 0);
	CHECK_INT(dfs_is_glance_attribute(NULL), 0);

	err.code = 0;
	strcpy(err.msg, "untouched");
	CHECK_INT(dfs_check_property_key("hw_disk_bus", &err), 0);
	CHECK_INT(dfs_check_property_key("com.example.owner team", &err), 0);
	CHECK_INT(dfs_check_property_key("clé", &err), 0);
	CHECK_INT(dfs_check_property_key("com.rackspac", &err), 0);
	CHECK_INT(dfs_check_property_key("os_glancy", &err), 0);
	CHECK_STR(err.msg, "untouched");

	CHECK_INT(dfs_check_property_key("com.rackspace__1__build_core", &err), -EPERM);
	CHECK_INT(err.code, EPERM);
	CHECK_STR(err.msg, "property \"com.rackspace__1__build_core\": keys "
		  "starting with com.rackspace, org.openstack or os_glance are reserved");
	CHECK_INT(dfs_check_property_key("com.rackspace", &err), -EPERM);
	CHECK_INT(dfs_check_property_key("org.openstack__1__os_distro", &err), -EPERM);
	CHECK_INT(dfs_check_property_key("os_glance_importing_to_stores", &err), -EPERM);

	CHECK_INT(dfs_check_property_key("", &err), -EINVAL);
	CHECK_INT(dfs_check_property_key(NULL, &err), -EINVAL);
	CHECK_INT(dfs_check_property_key("a\nb", &err), -EINVAL);
	CHECK_INT(dfs_check_property_key("a\x01", &err), -EINVAL);
	CHECK_INT(dfs_check_property_key("\xff", &err), -EINVAL);

	memset(key, 'k', 255);
	key[255] = '\0';
	CHECK_INT(dfs_check_property_key(key, &err), 0);
	key[255] = 'k';
	key[256] = '\0';
	CHECK_INT(dfs_check_property_key(key, &err), -ENAMETOOLONG);
	CHECK_INT(err.code, ENAMETOOLONG);
	CHECK(strstr(err.msg, "keys are at most 255 bytes (this one has 256)") != NULL);
	/* over 255 bytes though fewer characters: bytes count */
	for (i = 0; i < 128; i++)
		memcpy(key + 2 * i, "\xc3\xa9", 2);
	key[256] = '\0';
	CHECK_INT(dfs_check_property_key(key, &err), -ENAMETOOLONG);
}

static void test_uuid(void)
{
	CHECK_INT(dfs_is_uuid("3f2a9c1d-5b6e-4f70-8a9b-0c1d2e3f4a5b"), 1);
	CHECK_INT(dfs_is_uuid("3F2A9C1D-5B6E-4F70-8A9B-0C1D2E3F4A5B"), 1);
	CHECK_INT(dfs_is_uuid("00000000-0000-0000-0000-000000000000"), 1);
	CHECK_INT(dfs_is_uuid("3f2a9c1d5b6e4f708a9b0c1d2e3f4a5b"), 0);
	CHECK_INT(dfs_is_uuid("3f2a9c1d-5b6e-4f70-8a9b-0c1d2e3f4a5"), 0);
	CHECK_INT(dfs_is_uuid("3f2a9c1d-5b6e-4f70-8a9b-0c1d2e3f4a5b0"), 0);
	CHECK_INT(dfs_is_uuid("3f2a9c1d-5b6e-4f70-8a9b_0c1d2e3f4a5b"), 0);
	CHECK_INT(dfs_is_uuid("3f2a9c1g-5b6e-4f70-8a9b-0c1d2e3f4a5b"), 0);
	CHECK_INT(dfs_is_uuid("{3f2a9c1d-5b6e-4f70-8a9b-0c1d2e3f4a5}"), 0);
	CHECK_INT(dfs_is_uuid("3f2a9c1-d5b6e-4f70-8a9b-0c1d2e3f4a5b"), 0);
	CHECK_INT(dfs_is_uuid(""), 0);
	CHECK_INT(dfs_is_uuid(NULL), 0);
}

int main(void)
{
	test_uint31();
	test_bool();
	test_formats();
	test_text();
	test_keys();
	test_uuid();
	return unit_done("test_validate");
}
