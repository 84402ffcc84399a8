/* names.h - directory names for server-provided object names.
 *
 * Escaping touches only unsafe or duplicate names ("Debian 12" stays as it
 * is). A name is unsafe when it is empty, contains '/' or NUL, is "." or
 * "..", or is over 255 bytes. In an unsafe name '%' becomes "%25", '/'
 * "%2F", NUL "%00", and "." / ".." become "%2E" / "%2E%2E"; an empty name
 * becomes the object's id. A name over 255 bytes (after escaping) is cut
 * and gets the suffix "@" + the first 8 characters of the id. A name that
 * several siblings share gets that suffix too ("web@3f2a9c1d"). The result
 * is deterministic: it depends only on the set of (name, id) pairs, never
 * on their order, and no two siblings ever get the same name.
 */
#ifndef DEPLOYFS_NAMES_H
#define DEPLOYFS_NAMES_H

#include <stddef.h>

#define DFS_FILENAME_MAX 255

/* One sibling: its name (len bytes, may contain NUL) and its id. */
struct dfs_name_in {
	const char *name;
	size_t len;
	const char *id;
};

/* Assign file names to n siblings. out[i] receives a malloc'd,
 * NUL-terminated file name of at most 255 bytes for in[i]; the caller frees
 * each. Returns 0, or -ENOMEM (then no out[i] is set). */
int dfs_names_assign(const struct dfs_name_in *in, size_t n, char **out);

#endif
