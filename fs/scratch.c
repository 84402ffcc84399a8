/* scratch.c - what editors and tools do beside a value file.
 *
 * Scratch files (vim's .tag.swp, emacs' #tag# and .#tag, sed's sedXXXXXX,
 * Python's tmpXXXXXXXX) live in memory only, at most 64 per directory, and
 * are never sent anywhere. Renaming one over a value file writes that
 * value; renaming a value file to a scratch name (vim's rename-style save)
 * hides the value file until it is created again, and that creation plus
 * its write is the one change. In properties/, any other name created is a
 * new property at its first write.
 */
#include "tree_int.h"
#include "dirtype.h"
#include "shutdown.h"
#include "fs.h"
#include "write.h"
#include "log.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int scratch_dir(const struct dfs_node *dir)
{
	return dir->type == DFS_N_DIR && dfs_dir_type(dir->dtype)->scratch;
}

/* Whether a name made in dir that is neither a value file nor a scratch
 * name is a new property (written at its first write). */
static int new_names_dir(const struct dfs_node *dir)
{
	return dir->type == DFS_N_DIR && dfs_dir_type(dir->dtype)->new_names;
}

static size_t count_scratch(struct dfs_tree *t, fuse_ino_t parent)
{
	size_t pos = 0, count = 0;
	struct dfs_node *n;

	while ((n = dfs_map_next(t->scratch, &pos, NULL)))
		count += n->parent == parent;
	return count;
}

/* Tree mutex held. A new scratch node called name in dir. */
static struct dfs_node *new_scratch(struct dfs_tree *t, struct dfs_node *dir, const char *name,
				    mode_t mode)
{
	struct dfs_node *n = tree_node_alloc(t);
	char key[600];

	if (!n)
		return NULL;
	n->type = DFS_N_SCRATCH;
	n->has_obj = dir->has_obj;
	n->kind = dir->kind;
	n->oid = dir->oid ? strdup(dir->oid) : NULL;
	tree_node_set_parent(t, n, dir->ino);
	n->name = strdup(name);
	n->mode = mode;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	tree_scratch_key(key, sizeof(key), dir->ino, name);
	dfs_map_put(t->scratch, key, n);
	return n;
}

/* Tree mutex held. Forget a scratch entry by name (it stays alive while
 * the kernel still knows its inode). */
static void drop_scratch(struct dfs_tree *t, fuse_ino_t parent, const char *name)
{
	char key[600];
	struct dfs_node *n;

	tree_scratch_key(key, sizeof(key), parent, name);
	n = dfs_map_del(t->scratch, key);
	if (!n)
		return;
	n->unlinked = 1;
	if (n->pending)
		n->pending = 0;
	if (n->nlookup == 0 && n->type == DFS_N_SCRATCH)
		tree_node_retire(t, n);
}

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
	if (!scratch_dir(dir)) {
		ret = -EACCES;
		goto out;
	}
	if (count_scratch(t, dir->ino) >= DFS_SCRATCH_MAX_PER_DIR) {
		ret = -ENOSPC;
		goto out;
	}
	if (dfs_is_scratch_name(name)) {
		n = new_scratch(t, dir, name, S_IFREG | (mode & 07777));
	} else if (new_names_dir(dir)) {
		char key[DFS_NODE_KEY_MAX];

		ret = dfs_check_property_key(name, &err);
		if (ret == 0 && dfs_node_key(key, sizeof(key), dir->key, NULL, name) < 0)
			ret = -ENAMETOOLONG;
		if (ret < 0)
			goto out;
		n = new_scratch(t, dir, name, 0);
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
	else if (!scratch_dir(dir) || !dfs_is_scratch_name(name))
		ret = -EACCES;
	else if (count_scratch(t, dir->ino) >= DFS_SCRATCH_MAX_PER_DIR)
		ret = -ENOSPC;
	else if (!(n = new_scratch(t, dir, name, S_IFLNK | 0777)) || !(n->link = strdup(target)))
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
		drop_scratch(t, dir->ino, name);
	else if (n->type == DFS_N_VALUE && new_names_dir(dir))
		ret = 1;   /* a property: unlink removes it, below */
	else
		ret = n->type == DFS_N_DIR ? -EISDIR : -EPERM;
	tree_unlock_both(t);
	if (ret == 1)
		ret = dfs_write_commit(t->fs, n, "", 0);
	return ret;
}

void dfs_tree_drop_pending(struct dfs_tree *t, struct dfs_node *n)
{
	tree_lock_both(t);
	if (n->pending)
		drop_scratch(t, n->parent, n->name);
	tree_unlock_both(t);
}

void dfs_tree_settle_pending(struct dfs_tree *t, struct dfs_node *n)
{
	char key[600];

	pthread_mutex_lock(&t->mu);
	if (n->pending) {
		tree_scratch_key(key, sizeof(key), n->parent, n->name);
		dfs_map_del(t->scratch, key);
		n->pending = 0;
	}
	pthread_mutex_unlock(&t->mu);
}

void dfs_tree_scratch_chmod(struct dfs_tree *t, struct dfs_node *n, mode_t mode)
{
	pthread_mutex_lock(&t->mu);
	n->mode = (n->mode & S_IFMT) | (mode & 07777);
	pthread_mutex_unlock(&t->mu);
}

int dfs_tree_scratch_write(struct dfs_tree *t, struct dfs_node *n, const char *buf, size_t len,
			   off_t off)
{
	int ret = 0;

	pthread_mutex_lock(&t->mu);
	if (off < 0 || (size_t)off + len > DFS_SCRATCH_MAX_SIZE) {
		ret = -EFBIG;
	} else {
		size_t end = (size_t)off + len;

		if (end > n->size) {
			char *p;

			if (t->scratch_bytes + (end - n->size) > DFS_SCRATCH_MAX_TOTAL) {
				ret = -ENOSPC;
				goto out;
			}
			p = realloc(n->data, end);
			if (!p) {
				ret = -ENOMEM;
				goto out;
			}
			memset(p + n->size, 0, end - n->size);
			t->scratch_bytes += end - n->size;
			n->data = p;
			n->size = end;
		}
		memcpy(n->data + off, buf, len);
		clock_gettime(CLOCK_REALTIME, &n->mtime);
	}
out:
	pthread_mutex_unlock(&t->mu);
	return ret;
}

int dfs_tree_scratch_truncate(struct dfs_tree *t, struct dfs_node *n, off_t size)
{
	int ret = 0;

	pthread_mutex_lock(&t->mu);
	if (size < 0 || size > DFS_SCRATCH_MAX_SIZE) {
		ret = -EFBIG;
	} else if ((size_t)size > n->size &&
		   t->scratch_bytes + ((size_t)size - n->size) > DFS_SCRATCH_MAX_TOTAL) {
		ret = -ENOSPC;
	} else if ((size_t)size != n->size) {
		/* shrunk too: the memory goes back, not only the count */
		char *p = size ? realloc(n->data, (size_t)size) : NULL;

		if (size && !p) {
			ret = -ENOMEM;
		} else {
			if (!size)
				free(n->data);
			if ((size_t)size > n->size)
				memset(p + n->size, 0, (size_t)size - n->size);
			t->scratch_bytes = t->scratch_bytes - n->size + (size_t)size;
			n->data = p;
			n->size = (size_t)size;
		}
	}
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	pthread_mutex_unlock(&t->mu);
	return ret;
}

/* Tree mutex held: value node src becomes the scratch file newname. */
static void value_to_scratch(struct dfs_tree *t, struct dfs_node *dir, struct dfs_node *src,
			     const char *newname, char *content, size_t len)
{
	char key[600];

	drop_scratch(t, dir->ino, newname);
	dfs_map_put(t->hidden, src->key, src);   /* the value file is away now */
	dfs_map_del(t->bykey, src->key);
	src->origin_key = src->key;
	src->key = NULL;
	src->origin_hash = dfs_fnv1a(content, len);
	src->type = DFS_N_SCRATCH;
	src->mode = S_IFREG | (src->attr->mode & 0666);
	src->attr = NULL;
	free(src->prop);
	src->prop = NULL;
	free(src->data);
	t->scratch_bytes = t->scratch_bytes - src->size + len;
	src->data = content;
	src->size = len;
	tree_node_set_parent(t, src, dir->ino);
	free(src->name);
	src->name = strdup(newname);
	clock_gettime(CLOCK_REALTIME, &src->mtime);
	tree_scratch_key(key, sizeof(key), dir->ino, newname);
	dfs_map_put(t->scratch, key, src);
}

/* Tree mutex held: scratch node src takes the place of value node dst. */
static void scratch_to_value(struct dfs_tree *t, struct dfs_node *dir, struct dfs_node *src,
			     struct dfs_node *dst)
{
	char key[600];

	tree_scratch_key(key, sizeof(key), dir->ino, src->name);
	dfs_map_del(t->scratch, key);
	dfs_map_del(t->hidden, dst->key);
	src->type = DFS_N_VALUE;
	src->attr = dst->attr;
	free(src->key);
	src->key = strdup(dst->key);
	free(src->prop);
	src->prop = dst->prop ? strdup(dst->prop) : NULL;
	src->has_obj = dst->has_obj;
	src->kind = dst->kind;
	free(src->name);
	src->name = dst->name ? strdup(dst->name) : NULL;
	free(src->data);
	t->scratch_bytes -= src->size;
	src->data = NULL;
	src->size = 0;
	free(src->origin_key);
	src->origin_key = NULL;
	src->pending = 0;
	if (dst->pending) {
		tree_scratch_key(key, sizeof(key), dir->ino, dst->name);
		dfs_map_del(t->scratch, key);
		dst->pending = 0;
	}
	dfs_map_put(t->bykey, src->key, src);
}

/* A rename between directories. A value file onto the same file of another
 * object (`mv staging/apps/web/tag prod/apps/web/tag`) is a write of its
 * value there; the source keeps its value, as a value file cannot be
 * removed. A value file onto another kind of value file is EPERM, as within
 * one directory. Anything else is EXDEV, so mv(1) copies (a property moved
 * to an image without it is created there and removed here). */
/* Tree mutex held. Keep n (and its node) while the locks are let go: a
 * node nobody holds may be let go (tree_trim), a scratch one retired. A
 * pinned node is found again by name before it is used after. */
static void pin(struct dfs_node *n)
{
	n->nlookup++;
}

static void unpin(struct dfs_node *n)
{
	if (n->nlookup)
		n->nlookup--;
}

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
		pin(dst);
	tree_unlock_both(t);
	if (ret == 0) {
		ret = dfs_write_commit(t->fs, dst, content, len);
		pthread_mutex_lock(&t->mu);
		unpin(dst);
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
		drop_scratch(t, dir->ino, newname);
		tree_scratch_key(key, sizeof(key), dir->ino, name);
		dfs_map_del(t->scratch, key);
		free(src->name);
		src->name = strdup(newname);
		tree_scratch_key(key, sizeof(key), dir->ino, newname);
		dfs_map_put(t->scratch, key, src);
		goto out;
	}
	if (src->type == DFS_N_VALUE && !src->pending && dfs_is_scratch_name(newname) &&
	    scratch_dir(dir)) {
		if (!src->attr->store) {
			ret = -EACCES;
			goto out;
		}
		ret = tree_render(t, src, &content, &len);
		if (ret == 0)
			value_to_scratch(t, dir, src, newname, content, len);
		goto out;
	}
	if (src->type == DFS_N_SCRATCH && !src->link) {
		if (!dst && new_names_dir(dir) && !dfs_is_scratch_name(newname)) {
			/* a new property by atomic replace: a pending one to commit
			 * (made with a reference: it is dropped at the end) */
			pin(src);
			tree_unlock_both(t);
			ret = dfs_tree_create(t, dir, newname, 0644, &made);
			tree_lock_both(t);
			unpin(src);
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
		pin(src);
		pin(dst);
		tree_unlock_both(t);
		ret = unchanged ? 0 : dfs_write_commit(t->fs, dst, content, len);
		tree_lock_both(t);
		unpin(src);
		unpin(dst);
		if (ret == 0 && tree_find_child(t, dir, name) == src &&
		    tree_find_hidden(t, dir, newname, &hidden) == dst)
			scratch_to_value(t, dir, src, dst);
		else if (ret < 0 && made)
			drop_scratch(t, dir->ino, newname);
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
