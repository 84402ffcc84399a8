/* namespace.c - create, unlink, symlink and rename in the mounted tree.
 *
 * What a name in a directory may become is the directory type's to say
 * (dirtype.c); what editors and tools make beside value files lives in
 * the scratch store (scratch.c). Renaming a scratch file over a value file
 * writes that value; renaming a value file to a scratch name (vim's
 * rename-style save) hides the value file until it is created again, and
 * that creation plus its write is the one change; between two objects'
 * files of one name, a rename copies the value. In properties/, any other
 * name created is a new property at its first write. mkdir and rmdir are
 * mkdir.c's.
 */
#include "tree_int.h"
#include "dirtype.h"
#include "fs.h"
#include "write.h"
#include "log.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value file name in dir, also when an editor renamed it away: then it
 * is back from now on, with a fresh inode (its old one is the scratch file
 * it was renamed to). */
static struct dfs_node *recreate(struct dfs_tree *t, struct dfs_node *dir, const char *name)
{
	struct dfs_node *n;
	int hidden;

	n = tree_find_hidden(t, dir, name, &hidden);
	if (n && hidden)
		dfs_map_del(t->hidden, n->key);
	return n;
}

int dfs_tree_create(struct dfs_tree *t, struct dfs_node *dir, const char *name, mode_t mode,
		    struct dfs_node **out)
{
	struct dfs_node *n;
	struct dfs_error err = { 0 };
	int ret = 0;

	tree_lock_both(t);
	n = recreate(t, dir, name);
	if (n)
		goto found;
	if (!scratch_allowed(dir)) {
		ret = -EACCES;
		goto out;
	}
	if (scratch_count(t, dir->ino) >= DFS_SCRATCH_MAX_PER_DIR) {
		ret = -ENOSPC;
		goto out;
	}
	if (dfs_is_scratch_name(name)) {
		n = scratch_new(t, dir, name, S_IFREG | (mode & 07777));
	} else if (scratch_new_names(dir)) {
		char key[DFS_NODE_KEY_MAX];

		ret = dfs_check_property_key(name, &err);
		if (ret == 0 && dfs_node_key(key, sizeof(key), dir->key, NULL, name) < 0)
			ret = -ENAMETOOLONG;
		if (ret < 0)
			goto out;
		n = scratch_new(t, dir, name, 0);
		if (n) {
			/* a property file that exists in memory until its first write */
			n->type = DFS_N_VALUE;
			n->attr = &dfs_property_attr;
			n->prop = strdup(name);
			n->pending = 1;
			n->key = strdup(key);
			dfs_map_put(t->bykey, key, n);
		}
	} else {
		ret = -EACCES;   /* only the contract's files, and scratch files */
		goto out;
	}
	if (!n) {
		ret = -ENOMEM;
		goto out;
	}
found:
	n->nlookup++;
	*out = n;
out:
	tree_unlock_both(t);
	if (err.code) {
		struct dfs_node tmp = *dir;

		tmp.prop = (char *)name;
		dfs_write_fail(t->fs, &tmp, err.code, "%s", err.msg);
	}
	return ret;
}

int dfs_tree_symlink(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		     const char *target, struct dfs_node **out)
{
	struct dfs_node *n = NULL;
	int ret = 0;

	tree_lock_both(t);
	if (tree_find_child(t, dir, name))
		ret = -EEXIST;
	else if (!scratch_allowed(dir) || !dfs_is_scratch_name(name))
		ret = -EACCES;
	else if (scratch_count(t, dir->ino) >= DFS_SCRATCH_MAX_PER_DIR)
		ret = -ENOSPC;
	else if (!(n = scratch_new(t, dir, name, S_IFLNK | 0777)) || !(n->link = strdup(target)))
		ret = -ENOMEM;
	if (ret == 0) {
		n->nlookup++;
		*out = n;
	}
	tree_unlock_both(t);
	return ret;
}

int dfs_tree_unlink(struct dfs_tree *t, struct dfs_node *dir, const char *name)
{
	struct dfs_node *n;
	int ret = 0;

	tree_lock_both(t);
	n = tree_find_child(t, dir, name);
	if (!n)
		ret = -ENOENT;
	else if (n->type == DFS_N_SCRATCH || n->pending)
		scratch_drop(t, dir->ino, name);
	else if (n->type == DFS_N_VALUE && scratch_new_names(dir))
		ret = 1;   /* a property: unlink removes it, below */
	else
		ret = n->type == DFS_N_DIR ? -EISDIR : -EPERM;
	tree_unlock_both(t);
	if (ret == 1)
		ret = dfs_write_commit(t->fs, n, "", 0);
	return ret;
}

/* A rename between directories. A value file onto the same file of another
 * object (`mv staging/apps/web/tag prod/apps/web/tag`) is a write of its
 * value there; the source keeps its value, as a value file cannot be
 * removed. A value file onto another kind of value file is EPERM, as within
 * one directory. Anything else is EXDEV, so mv(1) copies (a property moved
 * to an image without it is created there and removed here). */
static int rename_across(struct dfs_tree *t, struct dfs_node *dir, const char *name,
			 struct dfs_node *newdir, const char *newname, unsigned flags)
{
	struct dfs_node *src, *dst;
	char *content = NULL;
	size_t len = 0;
	int ret;

	tree_lock_both(t);
	src = tree_find_child(t, dir, name);
	dst = tree_find_child(t, newdir, newname);
	if (!src) {
		ret = -ENOENT;
	} else if (!dst || src->type != DFS_N_VALUE || dst->type != DFS_N_VALUE ||
		   src->pending || dst->pending) {
		ret = -EXDEV;
	} else if (src->attr != dst->attr || strcmp(name, newname) != 0) {
		ret = -EPERM;   /* as between two value names of one object */
	} else if (flags & RENAME_NOREPLACE) {
		ret = -EEXIST;
	} else if (!dst->attr->store || !(src->attr->mode & 0444)) {
		ret = -EACCES;   /* read-only, or a secret that is never read */
	} else {
		ret = tree_render(t, src, &content, &len);
	}
	if (ret == 0)
		tree_pin(dst);
	tree_unlock_both(t);
	if (ret == 0) {
		ret = dfs_write_commit(t->fs, dst, content, len);
		pthread_mutex_lock(&t->mu);
		tree_unpin(dst);
		pthread_mutex_unlock(&t->mu);
	}
	free(content);
	return ret;
}

int dfs_tree_rename(struct dfs_tree *t, struct dfs_node *dir, const char *name,
		    struct dfs_node *newdir, const char *newname, unsigned flags)
{
	struct dfs_node *src, *dst, *made = NULL;
	char *content = NULL;
	size_t len = 0;
	int hidden = 0, ret = 0, unchanged = 0;

	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL;
	if (dir != newdir)
		return rename_across(t, dir, name, newdir, newname, flags);
	tree_lock_both(t);
	src = tree_find_child(t, dir, name);
	dst = tree_find_hidden(t, dir, newname, &hidden);
	if (!src) {
		ret = -ENOENT;
		goto out;
	}
	if (src == dst)
		goto out;
	if (dst && !hidden && (flags & RENAME_NOREPLACE)) {
		ret = -EEXIST;
		goto out;
	}
	if (src->type == DFS_N_SCRATCH && dfs_is_scratch_name(newname) &&
	    dir->dtype != DFS_D_NONE) {
		char key[600];

		/* scratch to scratch: just a new name */
		scratch_drop(t, dir->ino, newname);
		tree_scratch_key(key, sizeof(key), dir->ino, name);
		dfs_map_del(t->scratch, key);
		free(src->name);
		src->name = strdup(newname);
		tree_scratch_key(key, sizeof(key), dir->ino, newname);
		dfs_map_put(t->scratch, key, src);
		goto out;
	}
	if (src->type == DFS_N_VALUE && !src->pending && dfs_is_scratch_name(newname) &&
	    scratch_allowed(dir)) {
		if (!src->attr->store) {
			ret = -EACCES;
			goto out;
		}
		ret = tree_render(t, src, &content, &len);
		if (ret == 0)
			scratch_from_value(t, dir, src, newname, content, len);
		goto out;
	}
	if (src->type == DFS_N_SCRATCH && !src->link) {
		if (!dst && scratch_new_names(dir) && !dfs_is_scratch_name(newname)) {
			/* a new property by atomic replace: a pending one to commit
			 * (made with a reference: it is dropped at the end) */
			tree_pin(src);
			tree_unlock_both(t);
			ret = dfs_tree_create(t, dir, newname, 0644, &made);
			tree_lock_both(t);
			tree_unpin(src);
			if (ret < 0)
				goto out;
			if (tree_find_child(t, dir, name) != src) {
				ret = -ENOENT;   /* unlinked or renamed meanwhile */
				goto out;
			}
			dst = made;
		}
		if (!dst || dst->type != DFS_N_VALUE) {
			ret = dst ? -EISDIR : -EPERM;
			goto out;
		}
		content = malloc(src->size ? src->size : 1);
		if (!content) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(content, src->data, src->size);
		len = src->size;
		/* vim putting the original back after a failed write */
		unchanged = src->origin_key && dst->key && !strcmp(src->origin_key, dst->key) &&
			    src->origin_hash == dfs_fnv1a(content, len);
		/* the commit may wait on a registry: both nodes stay alive
		 * meanwhile, and are found again before they are touched */
		tree_pin(src);
		tree_pin(dst);
		tree_unlock_both(t);
		ret = unchanged ? 0 : dfs_write_commit(t->fs, dst, content, len);
		tree_lock_both(t);
		tree_unpin(src);
		tree_unpin(dst);
		if (ret == 0 && tree_find_child(t, dir, name) == src &&
		    tree_find_hidden(t, dir, newname, &hidden) == dst)
			scratch_to_value(t, dir, src, dst);
		else if (ret < 0 && made)
			scratch_drop(t, dir->ino, newname);
		free(content);
		goto out;
	}
	ret = -EPERM;
out:
	if (made)
		made->nlookup--;   /* dfs_tree_create's reference */
	tree_unlock_both(t);
	return ret;
}
