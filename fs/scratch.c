/* scratch.c - the scratch store: what editors and tools leave beside a
 * value file.
 *
 * Scratch files (vim's .tag.swp, emacs' #tag# and .#tag, sed's sedXXXXXX,
 * Python's tmpXXXXXXXX) live in memory only, at most 64 per directory, and
 * are never sent anywhere; pending properties (made in properties/, not
 * written yet) live here too. The namespace operations that make, remove
 * and rename them are namespace.c's.
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

int scratch_allowed(const struct dfs_node *dir)
{
	return dir->type == DFS_N_DIR && dfs_dir_type(dir->dtype)->scratch;
}

/* Whether a name made in dir that is neither a value file nor a scratch
 * name is a new property (written at its first write). */
int scratch_new_names(const struct dfs_node *dir)
{
	return dir->type == DFS_N_DIR && dfs_dir_type(dir->dtype)->new_names;
}

size_t scratch_count(struct dfs_tree *t, fuse_ino_t parent)
{
	size_t pos = 0, count = 0;
	struct dfs_node *n;

	while ((n = dfs_map_next(t->scratch, &pos, NULL)))
		count += n->parent == parent;
	return count;
}

/* Tree mutex held. A new scratch node called name in dir. */
struct dfs_node *scratch_new(struct dfs_tree *t, struct dfs_node *dir, const char *name,
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
void scratch_drop(struct dfs_tree *t, fuse_ino_t parent, const char *name)
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





void dfs_tree_drop_pending(struct dfs_tree *t, struct dfs_node *n)
{
	tree_lock_both(t);
	if (n->pending)
		scratch_drop(t, n->parent, n->name);
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
void scratch_from_value(struct dfs_tree *t, struct dfs_node *dir, struct dfs_node *src,
			     const char *newname, char *content, size_t len)
{
	char key[600];

	scratch_drop(t, dir->ino, newname);
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
void scratch_to_value(struct dfs_tree *t, struct dfs_node *dir, struct dfs_node *src,
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

void tree_pin(struct dfs_node *n)
{
	n->nlookup++;
}

void tree_unpin(struct dfs_node *n)
{
	if (n->nlookup)
		n->nlookup--;
}
