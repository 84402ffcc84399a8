/* ops.c - the FUSE low-level operations: thin glue over tree.c and write.c.
 *
 * Caching (README, "Reads and caching"): entries and attributes are valid
 * for an hour; a read-only open of a value file sets noflush and keeps the
 * page cache unless the content changed since the file's last open, so a
 * warm cat costs OPEN + RELEASE here and nothing else.
 *
 * Writes (README, "Writing values"): a value file takes its whole value in
 * the first write(2) at offset 0, which validates and commits it, so the
 * writer (bash included) sees any failure. The state of an open for
 * writing, and the commit with its post-commit hook (which drops the
 * kernel's attributes of what changed), live in write.c. fi->fh is 0 or a
 * tagged handle (handles.h), and every handle given to the kernel is on
 * the list of handles.c.
 */
#include "fs.h"
#include "tree.h"
#include "events.h"
#include "handles.h"
#include "notify.h"
#include "who.h"
#include "write.h"
#include "echo.h"
#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/statvfs.h>

#define TIMEOUT 3600.0

static void op_destroy(void *userdata)
{
	dfs_handles_free_all();
}

static struct dfs_fs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct dfs_node *NODE(fuse_req_t req, fuse_ino_t ino)
{
	return dfs_tree_get(FS(req)->tree, ino);
}

/* fi's handle, or NULL (none, or no fi). */
static struct dfs_handle *HANDLE(const struct fuse_file_info *fi)
{
	return fi ? dfs_handle_of(fi->fh) : NULL;
}

/* fi's write handle, or NULL (none, another kind, or no fi). */
static struct dfs_write_handle *WRITER(const struct fuse_file_info *fi)
{
	return dfs_write_handle_of(HANDLE(fi));
}

/* A reader of .deployfs/events. */
struct evh {
	struct dfs_handle link;   /* first: kind DFS_H_EVENTS */
	struct dfs_events_reader *r;
};

/* At the session's end: the reader itself went with dfs_events_free. */
static void evh_free_handle(struct dfs_handle *l)
{
	dfs_handle_del(l);
	free(l);
}

static void reply_entry(fuse_req_t req, struct dfs_fs *fs, struct dfs_node *n)
{
	struct fuse_entry_param e = { 0 };
	int ret = dfs_tree_stat(fs->tree, n, &e.attr);

	if (ret < 0) {
		dfs_tree_forget(fs->tree, n->ino, 1);
		fuse_reply_err(req, -ret);
		return;
	}
	e.ino = n->ino;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = TIMEOUT;
	if (fuse_reply_entry(req, &e) == -ENOENT)   /* the lookup was interrupted */
		dfs_tree_forget(fs->tree, n->ino, 1);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* values are committed in write(2): the kernel must not hold them back */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->want &= ~FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_fs *fs = FS(req);
	struct dfs_node *dir = NODE(req, parent), *n;
	int ret;

	if (!dir) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	ret = dfs_tree_lookup(fs->tree, dir, name, &n);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, fs, n);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	dfs_tree_forget(FS(req)->tree, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		dfs_tree_forget(FS(req)->tree, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_node *n = NODE(req, ino);
	struct stat st;
	int ret = n ? dfs_tree_stat(FS(req)->tree, n, &st) : -ENOENT;

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, TIMEOUT);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct dfs_fs *fs = FS(req);
	struct dfs_node *n = NODE(req, ino);
	struct stat st;
	int ret = 0;

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (n->type == DFS_N_SCRATCH) {
		if (to_set & FUSE_SET_ATTR_SIZE)
			ret = dfs_tree_scratch_truncate(fs->tree, n, attr->st_size);
		if (to_set & FUSE_SET_ATTR_MODE)
			dfs_tree_scratch_chmod(fs->tree, n, attr->st_mode);
	} else if (n->type == DFS_N_VALUE && (to_set & FUSE_SET_ATTR_SIZE)) {
		ret = dfs_write_truncate(WRITER(fi), n, attr->st_size);
	}
	/* mode, owner and times of value files are not the user's to set;
	 * editors' fchmod must not fail the save, so it succeeds and is a no-op */
	if (ret == 0)
		ret = dfs_tree_stat(fs->tree, n, &st);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (n->type == DFS_N_VALUE && (to_set & FUSE_SET_ATTR_SIZE) && WRITER(fi))
		st.st_size = 0;   /* this open sees the file truncated */
	fuse_reply_attr(req, &st, TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct dfs_node *n = NODE(req, ino);

	if (n && n->link)
		fuse_reply_readlink(req, n->link);
	else
		fuse_reply_err(req, EINVAL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct dfs_fs *fs = FS(req);
	struct dfs_node *dir = NODE(req, parent), *n;
	int ret = dir ? dfs_tree_mkdir(fs->tree, dir, name, &n) : -ENOENT;

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, fs, n);
}

/* FIFOs, sockets and devices: deployfs holds values, and regular files
 * are made by CREATE. EPERM, as for a name nothing may be created under. */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, NODE(req, parent) ? EPERM : ENOENT);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_node *dir = NODE(req, parent);
	int ret;

	dfs_who_enter(req);   /* a commit here is the requester's */
	/* a property removed is a commit: write.c tells the kernel */
	ret = dir ? dfs_tree_unlink(FS(req)->tree, dir, name) : -ENOENT;

	fuse_reply_err(req, -ret);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct dfs_node *dir = NODE(req, parent);
	int ret = dir ? dfs_tree_rmdir(FS(req)->tree, dir, name) : -ENOENT;

	fuse_reply_err(req, -ret);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct dfs_fs *fs = FS(req);
	struct dfs_node *dir = NODE(req, parent), *n;
	int ret = dir ? dfs_tree_symlink(fs->tree, dir, name, link, &n) : -ENOENT;

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, fs, n);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct dfs_fs *fs = FS(req);
	struct dfs_node *dir = NODE(req, parent), *newdir = NODE(req, newparent);
	struct dfs_node *moved;
	int ret;

	dfs_who_enter(req);   /* a commit here is the requester's */
	ret = dir && newdir ? dfs_tree_rename(fs->tree, dir, name, newdir, newname, flags) : -ENOENT;

	/* a scratch file renamed over a value file was a write of that value
	 * (committed, and told to the kernel, by write.c), and its inode is
	 * the value file's now */
	if (ret == 0 && dfs_tree_lookup(fs->tree, newdir, newname, &moved) == 0) {
		if (moved->type == DFS_N_VALUE)
			dfs_write_invalidate(fs, moved);
		dfs_tree_forget(fs->tree, moved->ino, 1);
	}
	/* a value copied to another object's file: both stay where they are,
	 * but the kernel has moved the source's entry onto the target's name.
	 * Dropped by the notifier after this reply (from here it deadlocks on
	 * the directories the rename holds). */
	if (ret == 0 && dir != newdir && fs->notifier) {
		dfs_notifier_inval_entry(fs->notifier, newparent, newname);
		dfs_notifier_inval_entry(fs->notifier, parent, name);
	}
	fuse_reply_err(req, -ret);
}

/* Open a value file. */
static int open_value(struct dfs_fs *fs, struct dfs_node *n, struct fuse_file_info *fi,
		      int created)
{
	int acc = fi->flags & O_ACCMODE;

	if (acc != O_RDONLY && !(n->attr->mode & 0222))
		return -EACCES;   /* for root too */
	if (acc != O_WRONLY && !(n->attr->mode & 0444))
		return -EACCES;   /* password, token: never readable */
	if (acc != O_RDONLY) {
		struct dfs_write_handle *w = dfs_write_open(n, fi->flags, created);

		if (!w)
			return -ENOMEM;
		fi->fh = (uintptr_t)dfs_write_handle_link(w);
		fi->keep_cache = 0;
		return 0;
	} else {
		uint64_t h;
		int ret = dfs_tree_hash(fs->tree, n, &h);

		if (ret < 0)
			return ret;
		/* keep the kernel's pages only if they hold what we would serve */
		fi->keep_cache = __atomic_exchange_n(&n->seen_hash, h, __ATOMIC_RELAXED) == h;
		/* and when they do not, its attributes (the size) may be older
		 * too: a change made elsewhere is invalidated by the notifier,
		 * which skips a file whose new content an open like this one has
		 * already recorded. Attributes only: safe from inside a request
		 * (model.h, "Locking"). */
		if (!fi->keep_cache && fs->se)
			fuse_lowlevel_notify_inval_inode(fs->se, n->ino, -1, 0);
		fi->noflush = 1;
		fi->fh = 0;
	}
	return 0;
}

static int open_node(struct dfs_fs *fs, struct dfs_node *n, struct fuse_file_info *fi,
		     int created)
{
	switch (n->type) {
	case DFS_N_VALUE:
		return open_value(fs, n, fi, created);
	case DFS_N_SCRATCH:
		if (n->link)
			return -ELOOP;
		if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY)
			dfs_tree_scratch_truncate(fs->tree, n, 0);
		fi->direct_io = 1;   /* scratch data lives here, not in the page cache */
		fi->fh = 0;
		return 0;
	case DFS_N_EVENTS: {
		struct evh *h;

		if ((fi->flags & O_ACCMODE) != O_RDONLY)
			return -EACCES;
		h = calloc(1, sizeof(*h));
		if (!h || !(h->r = dfs_events_open(fs->events))) {
			free(h);
			return -ENOMEM;
		}
		dfs_handle_add(&h->link, DFS_H_EVENTS, evh_free_handle);
		/* a stream: no page cache, no size, no seeking */
		fi->direct_io = 1;
		fi->nonseekable = 1;
		fi->fh = (uintptr_t)&h->link;
		return 0;
	}
	case DFS_N_DIR:
		return -EISDIR;
	case DFS_N_LINK:
		return -ELOOP;
	}
	return -EIO;
}

/* The end of fi's handle: RELEASE, or an open the kernel never got. */
static void close_handle(struct dfs_fs *fs, struct dfs_node *n, struct fuse_file_info *fi,
			 int released)
{
	struct dfs_handle *h = HANDLE(fi);

	if (!h)
		return;   /* a read-only open or a scratch file: no state */
	switch (h->kind) {
	case DFS_H_WRITE:
		/* the kernel does not wait for RELEASE: a failed commit is in
		 * the error file, and the reply is 0 */
		if (released && n && n->type == DFS_N_VALUE)
			dfs_write_release(WRITER(fi), fs, n);
		else
			dfs_write_free(WRITER(fi));
		break;
	case DFS_H_EVENTS:
		dfs_events_close(fs->events, ((struct evh *)h)->r);
		evh_free_handle(h);
		break;
	case DFS_H_DIR:
		break;   /* RELEASEDIR's */
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_node *n = NODE(req, ino);
	int ret;

	dfs_who_enter(req);   /* a write handle keeps its opener */
	ret = !n ? -ENOENT : dfs_echo_open(FS(req), req, n, fi) ? 0 : open_node(FS(req), n, fi, 0);

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_open(req, fi) == -ENOENT)
		close_handle(FS(req), n, fi, 0);   /* interrupted: no RELEASE comes */
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct dfs_fs *fs = FS(req);
	struct dfs_node *dir = NODE(req, parent), *n;
	struct fuse_entry_param e = { 0 };
	int ret;

	dfs_who_enter(req);   /* a write handle keeps its opener */
	ret = dir ? dfs_tree_create(fs->tree, dir, name, mode, &n) : -ENOENT;

	if (ret == 0) {
		ret = open_node(fs, n, fi, 1);
		if (ret == 0)
			ret = dfs_tree_stat(fs->tree, n, &e.attr);
		if (ret < 0)
			dfs_tree_forget(fs->tree, n->ino, 1);
	}
	if (ret < 0) {
		fuse_reply_err(req, -ret);   /* a refused property: write.c recorded why */
		return;
	}
	if (n->type == DFS_N_VALUE)
		e.attr.st_size = 0;   /* created: empty until written */
	e.ino = n->ino;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = TIMEOUT;
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		close_handle(fs, n, fi, 0);
		dfs_tree_forget(fs->tree, n->ino, 1);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct dfs_handle *h = HANDLE(fi);
	struct dfs_node *n = NODE(req, ino);
	char *buf = NULL;
	size_t len = 0;
	int ret;

	if (h && h->kind == DFS_H_EVENTS) {
		/* answered now, or later when a line comes: no thread waits */
		dfs_events_read(FS(req)->events, ((struct evh *)h)->r, req, size,
				!!(fi->flags & O_NONBLOCK));
		return;
	}
	ret = n ? dfs_tree_read(FS(req)->tree, n, &buf, &len) : -ENOENT;
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, buf + off, len - (size_t)off < size ? len - (size_t)off : size);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct dfs_fs *fs = FS(req);
	struct dfs_node *n = NODE(req, ino);
	struct dfs_write_handle *w = WRITER(fi);
	int ret;

	if (!n)
		ret = -ENOENT;
	else if (w && n->type == DFS_N_VALUE)   /* write.c tells the kernel what changed */
		ret = dfs_write_data(w, fs, n, buf, size, off);
	else if (n->type == DFS_N_SCRATCH)
		/* a scratch file, or a value file an editor renamed to a scratch
		 * name since this open (a descriptor follows its inode) */
		ret = dfs_tree_scratch_write(fs->tree, n, buf, size, off);
	else if (!w && n->type == DFS_N_VALUE)   /* the echo thread's (echo.h): commits nothing */
		ret = dfs_echo_write(fs, req, n, buf, size, off);
	else
		ret = n->type == DFS_N_VALUE ? -EBADF : -EISDIR;
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

/* FLUSH, RELEASE and FSYNC of an open of a value file for writing are
 * write.c's: why a shell's early FLUSH or a child's close is special is
 * told there. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_node *n = NODE(req, ino);
	int ret = 0;

	if (n && n->type == DFS_N_VALUE)
		ret = dfs_write_flush(WRITER(fi), FS(req), n, fi->lock_owner);
	fuse_reply_err(req, -ret);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	close_handle(FS(req), NODE(req, ino), fi, 1);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct dfs_node *n = NODE(req, ino);
	int ret = 0;

	/* scratch files live in memory by design: nothing to do */
	if (n && n->type == DFS_N_VALUE)
		ret = dfs_write_fsync(WRITER(fi), FS(req), n);
	fuse_reply_err(req, -ret);
}

struct dirh {
	struct dfs_handle link;   /* first: kind DFS_H_DIR */
	struct dfs_dirent *e;
	size_t n;
};

static void dirh_free(struct dirh *d)
{
	if (!d)
		return;
	dfs_handle_del(&d->link);
	dfs_tree_entries_free(d->e, d->n);
	free(d);
}

static void dirh_free_handle(struct dfs_handle *l)
{
	dirh_free((struct dirh *)((char *)l - offsetof(struct dirh, link)));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_node *n = NODE(req, ino);
	struct dirh *d = calloc(1, sizeof(*d));
	int ret;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = n ? dfs_tree_entries(FS(req)->tree, n, &d->e, &d->n) : -ENOENT;
	if (ret < 0) {
		free(d);
		fuse_reply_err(req, -ret);
		return;
	}
	/* .deployfs is reachable by its path but listed nowhere, as
	 * /proc/self's hidden entries: tree walkers (cp -r, tar, grep -r,
	 * rsync, find) would otherwise block forever on .deployfs/events */
	if (ino == FUSE_ROOT_ID)
		for (size_t i = 0; i < d->n; i++)
			if (strcmp(d->e[i].name, ".deployfs") == 0) {
				free(d->e[i].name);
				memmove(&d->e[i], &d->e[i + 1], (d->n - i - 1) * sizeof(d->e[i]));
				d->n--;
				break;
			}
	dfs_handle_add(&d->link, DFS_H_DIR, dirh_free_handle);
	fi->fh = (uintptr_t)&d->link;
	if (fuse_reply_open(req, fi) == -ENOENT)
		dirh_free(d);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* offsets: 1 is ".", 2 "..", 3 + i the i-th entry */
	for (off_t i = off; (size_t)i < d->n + 2; i++) {
		struct stat st = { 0 };
		const char *name;
		size_t need;

		if (i == 0) {
			name = ".";
			st.st_ino = ino;
			st.st_mode = S_IFDIR;
		} else if (i == 1) {
			name = "..";
			st.st_ino = 1;
			st.st_mode = S_IFDIR;
		} else {
			name = d->e[i - 2].name;
			st.st_ino = d->e[i - 2].ino;
			st.st_mode = d->e[i - 2].mode;
		}
		need = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dirh_free((struct dirh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255 };

	fuse_reply_statfs(req, &st);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct dfs_node *n = NODE(req, ino);
	int ret = 0;

	if (!n)
		ret = ENOENT;
	else if (n->type == DFS_N_VALUE && (mask & W_OK) && !(n->attr->mode & 0222))
		ret = EACCES;
	else if (n->type == DFS_N_VALUE && (mask & R_OK) && !(n->attr->mode & 0444))
		ret = EACCES;
	fuse_reply_err(req, ret);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	fuse_reply_err(req, ENOTSUP);   /* vim's ACL copy ignores this */
}

/* ENOSYS: the kernel stops asking for the whole connection. With ENODATA
 * it asked for security.capability at every open for writing and every
 * write (FUSE inodes never get S_NOSEC), two round trips per echo. */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	fuse_reply_err(req, ENOSYS);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct dfs_handle *h = HANDLE(fi);

	if (h && h->kind == DFS_H_EVENTS) {
		dfs_events_poll(FS(req)->events, ((struct evh *)h)->r, req, ph);
		return;
	}
	/* everything else is always ready */
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
}

const struct fuse_lowlevel_ops dfs_ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.access = op_access,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.poll = op_poll,
};
