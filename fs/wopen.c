/* wopen.c - the state of an open of a value file for writing (wopen.h).
 *
 * A value normally comes whole in the first write(2), which commits it.
 * Two kinds of writer send one value in pieces, and their pieces are
 * gathered and committed once:
 * - emacs writes its buffer up to its gap and then the rest ("1.25-b",
 *   "lpine\n"), so a first write that holds no line end and did not come
 *   after a shell's early FLUSH (below) may be a prefix; its value is
 *   committed at the piece that ends a line, else at fsync or close;
 * - shells write one line per write(2) (their stdout is line-buffered), so
 *   a multi-line value (tags) is committed at the close, each line checked
 *   as it comes so that the shell still sees a bad one at its write.
 * A shell's redirection opens the file, dup2()s it and closes the original
 * before the command writes: that FLUSH before any write marks a writer
 * that ignores errors from close, whose single-line value is committed at
 * its first write however it ends. The shell's children (a command
 * substitution, the commands of a loop) share the open and close it too,
 * from another process: FLUSH's lock owner tells their closes from the
 * shell's own.
 */
#include "wopen.h"
#include "fs.h"
#include "tree.h"
#include "notify.h"
#include "handles.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct dfs_wopen {
	int truncated;   /* O_TRUNC or ftruncate(0): closing with no write removes */
	int written;     /* the value was committed */
	int failed;      /* errno of a refused write: every later write gets it */
	int early_flush; /* a FLUSH came before any write (a shell's redirection) */
	uint64_t owner;  /* its lock owner: the shell */
	int closed;      /* the close-time removal or refusal has been done */
	char *buf;       /* a value arriving in pieces, not committed yet */
	size_t len;
	dfs_wopen_changed_fn *changed;
	struct dfs_handle link;
};

void dfs_wopen_free(struct dfs_wopen *w)
{
	if (!w)
		return;
	dfs_handle_del(&w->link);
	free(w->buf);
	free(w);
}

static void wopen_free_handle(struct dfs_handle *l)
{
	dfs_wopen_free((struct dfs_wopen *)((char *)l - offsetof(struct dfs_wopen, link)));
}

struct dfs_wopen *dfs_wopen_new(const struct dfs_node *n, int flags, int created,
				dfs_wopen_changed_fn *changed)
{
	struct dfs_wopen *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	dfs_handle_add(&w->link, wopen_free_handle);
	w->truncated = (flags & O_TRUNC) || (created && !n->pending);
	w->changed = changed;
	return w;
}

/* Commit the whole value of this open. */
static int settle(struct dfs_fs *fs, struct dfs_node *n, struct dfs_wopen *w, const char *buf,
		  size_t size)
{
	int ret = dfs_tree_commit(fs->tree, n, buf, size);

	if (ret < 0)
		w->failed = -ret;
	else
		w->written = 1;
	return ret;
}

/* Pieces of a value have been gathered, and neither committed nor refused. */
static int pieces_waiting(const struct dfs_wopen *w)
{
	return w->len && !w->written && !w->failed;
}

/* Commit the pieces gathered, at a FLUSH, FSYNC or RELEASE. */
static int settle_pieces(struct dfs_fs *fs, struct dfs_node *n, struct dfs_wopen *w)
{
	int ret = settle(fs, n, w, w->buf, w->len);

	w->changed(fs, n);
	return ret;
}

static int ends_line(const char *buf, size_t size)
{
	return size && buf[size - 1] == '\n';
}

/* Bytes at the end of buf that a commit may drop: "\n" or "\r\n", or a
 * "\r" that a later "\n" would make a line end. */
static size_t line_end(const char *buf, size_t size)
{
	if (size >= 2 && buf[size - 2] == '\r' && buf[size - 1] == '\n')
		return 2;
	return size && (buf[size - 1] == '\n' || buf[size - 1] == '\r');
}

int dfs_wopen_write(struct dfs_wopen *w, struct dfs_fs *fs, struct dfs_node *n,
		    const char *buf, size_t size, off_t off)
{
	const char *what = n->prop ? n->prop : n->attr->name;
	const char *nl;
	char *p;
	int ret;

	if (!w)
		return -EBADF;
	if (w->failed)   /* the error file already says why; a retry gets the same */
		return -w->failed;
	if (w->written || w->closed || off != (off_t)w->len) {
		w->failed = EINVAL;
		dfs_tree_fail(fs->tree, n, EINVAL, "%s: write the whole value in one write "
			      "(a second write or an append changes nothing)", what);
		return -EINVAL;
	}
	if (w->len + size - line_end(buf, size) > DFS_VALUE_MAX) {
		w->failed = EFBIG;
		dfs_tree_fail(fs->tree, n, EFBIG, "%s: a value holds at most %d bytes",
			      what, DFS_VALUE_MAX);
		return -EFBIG;
	}
	if (!w->len && !n->attr->multiline && (w->early_flush || ends_line(buf, size)))
		return settle(fs, n, w, buf, size);   /* the whole value, in one write */

	/* a piece of a value (see the top of this file) */
	p = realloc(w->buf, w->len + size);
	if (!p)
		return -ENOMEM;
	memcpy(p + w->len, buf, size);
	w->buf = p;
	w->len += size;
	if (!n->attr->multiline)
		return ends_line(w->buf, w->len) ? settle(fs, n, w, w->buf, w->len) : 0;
	/* the lines complete so far must hold, so that a shell sees a bad one now */
	nl = memrchr(w->buf, '\n', w->len);
	if (nl) {
		ret = dfs_tree_check(fs->tree, n, w->buf, (size_t)(nl - w->buf) + 1);
		if (ret < 0) {
			w->failed = -ret;
			return ret;
		}
	}
	return 0;
}

int dfs_wopen_truncate(struct dfs_wopen *w, const struct dfs_node *n, off_t size)
{
	if (!(n->attr->mode & 0222))
		return -EACCES;
	if (size != 0)
		return -EINVAL;   /* only the whole value can be replaced */
	if (w) {
		w->truncated = 1;   /* a transient empty value: never committed as such */
		w->len = 0;         /* pieces gathered so far are gone */
	}
	/* A truncate on its own, without an open, changes nothing. */
	return 0;
}

/* A committed value is durable already; pieces of a value are committed
 * now (vim and nano fsync before they close, and report its error). */
int dfs_wopen_fsync(struct dfs_wopen *w, struct dfs_fs *fs, struct dfs_node *n)
{
	if (w && pieces_waiting(w))
		return settle_pieces(fs, n, w);
	return 0;
}

/* Truncated and never written: `: > os_version`. */
static int truncated_empty(const struct dfs_node *n, const struct dfs_wopen *w)
{
	return w->truncated && !w->written && !w->failed && !w->len && !w->closed &&
	       !n->pending;
}

/* The value of a truncated open closed without a write: a removal where
 * the value may be empty, else refused. 0 or -errno. */
static int close_empty(struct dfs_fs *fs, struct dfs_node *n, struct dfs_wopen *w)
{
	int ret = -EINVAL;

	w->closed = 1;
	if (n->attr->empty_ok)
		ret = dfs_tree_commit(fs->tree, n, "", 0);
	else
		dfs_tree_fail(fs->tree, n, EINVAL, "%s: truncated and closed without a "
			      "value; it cannot be empty, nothing changed",
			      n->prop ? n->prop : n->attr->name);
	return ret;
}

/* A property created and never given a value is dropped from the listing. */
static void drop_pending(struct dfs_fs *fs, struct dfs_node *n)
{
	char *name;
	fuse_ino_t parent;

	if (!n->pending)
		return;
	name = n->name ? strdup(n->name) : NULL;
	parent = n->parent;
	dfs_tree_drop_pending(fs->tree, n);
	if (name)
		dfs_notifier_inval_entry(fs->notifier, parent, name);
	free(name);
}

/* FLUSH comes at every close(2) of a descriptor, and a shell closes one
 * right after opening (it dup2()s the file onto stdout), before the write.
 * So a truncated open with no write is refused here (EINVAL for a value
 * that cannot be empty, for tools that check close), and acted on at the
 * shell's next close of it (after `: > os_version`; close(2) waits for
 * FLUSH, so it is done when the shell goes on) or else at RELEASE, the
 * last close, which the kernel sends without waiting. Pieces of a value
 * (see the top of this file) are committed at the next FLUSH, on a shell's
 * open at the shell's own. */
int dfs_wopen_flush(struct dfs_wopen *w, struct dfs_fs *fs, struct dfs_node *n,
		    uint64_t lock_owner)
{
	int ret = 0, child;

	if (!w)
		return 0;
	/* a close by another process than the shell: the shell still has it */
	child = w->early_flush && lock_owner != w->owner;
	if (pieces_waiting(w)) {
		if (!child)
			ret = settle_pieces(fs, n, w);
	} else if (truncated_empty(n, w)) {
		if (w->early_flush && !child) {
			ret = close_empty(fs, n, w);
			w->changed(fs, n);
		} else if (!n->attr->empty_ok) {
			ret = -EINVAL;
		}
	}
	if (!w->early_flush && !w->len && !w->written && !w->failed) {
		w->early_flush = 1;
		w->owner = lock_owner;
	}
	if (w->failed)
		drop_pending(fs, n);
	return ret;
}

int dfs_wopen_release(struct dfs_wopen *w, struct dfs_fs *fs, struct dfs_node *n)
{
	int ret = 0;

	if (!w)
		return 0;
	if (pieces_waiting(w)) {
		ret = settle_pieces(fs, n, w);
	} else if (truncated_empty(n, w)) {
		ret = close_empty(fs, n, w);
		w->changed(fs, n);
	}
	drop_pending(fs, n);
	dfs_wopen_free(w);
	return ret;
}
