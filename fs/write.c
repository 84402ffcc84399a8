/* write.c - the one write path (write.h).
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
 *
 * Every commit, and every refusal, ends in post_commit(): the one place
 * that publishes a change made through the mount and tells the kernel.
 */
#include "write.h"
#include "handles.h"
#include "history.h"
#include "jsonpatch.h"
#include "log.h"
#include "notify.h"
#include "registry.h"
#include "schema.h"
#include "shutdown.h"
#include "tree.h"
#include "drift.h"
#include "regopts.h"
#include "who.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dfs_write_handle {
	struct dfs_handle link;   /* first: fi->fh points here, kind DFS_H_WRITE */
	int truncated;   /* O_TRUNC or ftruncate(0): closing with no write removes */
	int written;     /* the value was committed */
	int failed;      /* errno of a refused write: every later write gets it */
	int early_flush; /* a FLUSH came before any write (a shell's redirection) */
	uint64_t owner;  /* its lock owner: the shell */
	int closed;      /* the close-time removal or refusal has been done */
	char *buf;       /* a value arriving in pieces, not committed yet */
	size_t len;
	int append;      /* O_APPEND on a list (tags): its lines are added */
	struct dfs_who who;   /* the opener: its commits are attributed to it */
};

/* ---- the commit ---- */

static const char *what(const struct dfs_node *n)
{
	return n->prop ? n->prop : n->attr ? n->attr->name : "value";
}

/* Bytes at the end of buf that are the value's line end, dropped before
 * it is stored: "\n", "\r\n", or a "\r" that a later "\n" would make a
 * line end. */
static size_t line_end(const char *buf, size_t size)
{
	size_t n = size && buf[size - 1] == '\n';

	if (size > n && buf[size - 1 - n] == '\r')
		n++;
	return n;
}

/* The one normalisation of a written value: line end dropped, size and
 * NUL checked. A malloc'd NUL-terminated copy in *value. 0 or -errno with
 * err. */
static int normalise(const struct dfs_node *n, const char *buf, size_t size, char **value,
		     struct dfs_error *err)
{
	size_t len = size - line_end(buf, size);

	if (len > DFS_VALUE_MAX)
		return dfs_error_set(err, EFBIG, "%s: a value holds at most %d bytes", what(n),
				     DFS_VALUE_MAX);
	if (memchr(buf, '\0', len))
		return dfs_error_set(err, EINVAL, "%s: the value holds a NUL byte", what(n));
	*value = strndup(buf, len);
	return *value ? 0 : dfs_error_set(err, ENOMEM, "out of memory");
}

static struct dfs_obj *find_obj(struct dfs_fs *fs, const struct dfs_node *n)
{
	struct dfs_obj *o;

	dfs_model_rdlock(fs->model);
	o = n->has_obj ? dfs_model_find(fs->model, n->kind, n->oid) : NULL;
	dfs_model_unlock(fs->model);
	return o;
}

static void inval_attr(void *arg, struct dfs_node *n)
{
	struct dfs_fs *fs = arg;

	fuse_lowlevel_notify_inval_inode(fs->se, n->ino, -1, 0);
}

void dfs_write_invalidate(struct dfs_fs *fs, struct dfs_node *n)
{
	/* attributes only (a negative offset): no page lock, so it is safe
	 * from inside the request. Pages go at the next open, which comes
	 * without keep_cache. */
	if (fs->se && n->has_obj)
		dfs_tree_changed_nodes(fs->tree, n->kind, n->oid, NULL, NULL, inval_attr, fs);
}

/* The post-commit hook, once per commit or refusal (o->wlock held when
 * the commit took it, so that changes of one object are published in
 * order): the change on .deployfs/events and stale entries (old and new_,
 * when the document changed), a pending property that exists now, and the
 * kernel's attributes of the object's changed files (the value, the error
 * file). */
static void post_commit(struct dfs_fs *fs, struct dfs_node *n, const json_t *old,
			const json_t *new_, int committed, const struct dfs_who *who,
			const char *digest)
{
	/* the journal and the audit log first: the history files' new
	 * content is then part of what the invalidation below finds changed */
	if (committed && n->has_obj) {
		char file[300];

		snprintf(file, sizeof(file), "%s%s", n->prop ? "properties/" : "", what(n));
		dfs_history_commit(fs, n->kind, n->oid, file, old, new_, who, digest);
	}
	dfs_who_begin(who);   /* .deployfs/events lines of this change carry it */
	if (new_ && n->has_obj)
		dfs_on_change(fs, n->kind, n->oid, old, new_, "mount");
	dfs_who_end();
	if (committed && n->pending)
		dfs_tree_settle_pending(fs->tree, n);   /* listed from the document now */
	dfs_write_invalidate(fs, n);
}

/* A failure: the log (the mount path, who, why) and the object's error
 * file (one model update). */
static void record(struct dfs_fs *fs, struct dfs_node *n, struct dfs_obj *o,
		   const struct dfs_error *err, const struct dfs_who *who)
{
	char path[1400];

	dfs_history_node_path(fs, n, path, sizeof(path));
	dfs_history_refused(path, who, err->msg);
	if (o)
		dfs_model_set_error(fs->model, o, err);
}

static void vfail(struct dfs_fs *fs, struct dfs_node *n, const struct dfs_who *who, int code,
		  const char *fmt, va_list ap)
{
	struct dfs_error err = { .code = code };

	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	record(fs, n, find_obj(fs, n), &err, who);
	post_commit(fs, n, NULL, NULL, 0, who, NULL);
}

void dfs_write_fail(struct dfs_fs *fs, struct dfs_node *n, int code, const char *fmt, ...)
{
	struct dfs_who who;
	va_list ap;

	dfs_who_request(&who);
	va_start(ap, fmt);
	vfail(fs, n, &who, code, fmt, ap);
	va_end(ap);
}

/* A failure of the open w: attributed to its opener. */
static void __attribute__((format(printf, 5, 6)))
fail(struct dfs_fs *fs, struct dfs_node *n, const struct dfs_write_handle *w, int code,
     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(fs, n, &w->who, code, fmt, ap);
	va_end(ap);
}

/* Validate the value in buf as n's and, unless dry, commit it: the store
 * function builds the patch under the object's write lock, and the model
 * takes its outcome as one update. who made it (its modifiedBy on the
 * local store, its history line, its log line); append: w's O_APPEND
 * lines of a list. */
static int run(struct dfs_fs *fs, struct dfs_node *n, const char *buf, size_t size, int dry,
	       const struct dfs_who *who, int append)
{
	struct dfs_image_checker check = {
		.registry = fs->registry, .mode = fs->cfg.registry_check, .api = !!fs->cfg.api,
	};
	struct dfs_store_ctx c = {
		.model = fs->model, .attr = n->attr, .prop = n->prop, .check = &check,
		.append = append,
	};
	struct dfs_error err = { 0 };
	json_t *old = NULL, *new_ = NULL;
	char *value = NULL;
	struct dfs_obj *o;
	int ret, locked = 0;

	if (n->type != DFS_N_VALUE || !n->attr->store)
		return -EACCES;
	o = find_obj(fs, n);
	if (!o)
		return -ENOENT;
	ret = normalise(n, buf, size, &value, &err);
	if (ret < 0)
		goto out;
	c.patch = json_array();
	if (!c.patch) {
		ret = dfs_error_set(&err, ENOMEM, "out of memory");
		goto out;
	}
	c.deadline_ns = dfs_deadline_ns(fs->cfg.timeout);
	ret = dfs_obj_wlock(o, c.deadline_ns, &err);
	if (ret < 0)
		goto out;
	locked = 1;
	c.obj = o;
	dfs_model_rdlock(fs->model);
	c.doc = o->gone ? NULL : json_incref((json_t *)dfs_obj_doc(o));
	dfs_model_unlock(fs->model);
	if (!c.doc) {
		ret = dfs_error_set(&err, ENOENT, "the object is gone");
		goto out;
	}
	ret = n->attr->store(&c, value, &err);
	/* the local store keeps who changed an app, as the apps API does
	 * from its token's user */
	if (ret == 0 && !dry && n->kind == DFS_APP && !fs->cfg.api && who && who->known &&
	    json_array_size(c.patch) &&
	    jsonpatch_append(c.patch, "add", "/modifiedBy", json_string(who->user)) < 0)
		ret = dfs_error_set(&err, ENOMEM, "out of memory");
	if (ret == 0 && !dry)
		ret = dfs_model_commit(fs->model, o, c.patch, c.digest, c.deadline_ns, &err,
				       &old, &new_);
	if (ret == 0 && !dry)
		dfs_drift_deployed(fs->drift, o, c.digest);   /* the deployed digest now */
	json_decref((json_t *)c.doc);
out:
	if (ret < 0) {
		if (!err.code)
			dfs_error_set(&err, -ret, "%s", strerror(-ret));
		record(fs, n, o, &err, who);
	}
	if (ret < 0 || !dry)
		post_commit(fs, n, old, new_, ret == 0 && !dry, who, c.digest);
	if (locked)
		dfs_obj_wunlock(o);
	json_decref(old);
	json_decref(new_);
	json_decref(c.patch);
	free(value);
	return ret;
}

static int commit_as(struct dfs_fs *fs, struct dfs_node *n, const char *buf, size_t size,
		     const struct dfs_who *who, int append)
{
	int ret;

	dfs_busy_enter();
	ret = run(fs, n, buf, size, 0, who, append);
	dfs_busy_leave();
	return ret;
}

/* A commit without an open (a rename, an unlink): the request's who. */
int dfs_write_commit(struct dfs_fs *fs, struct dfs_node *n, const char *buf, size_t size)
{
	struct dfs_who who;

	dfs_who_request(&who);
	return commit_as(fs, n, buf, size, &who, 0);
}

/* Validate as a commit of w would, and change nothing but the error file. */
static int check_only(struct dfs_fs *fs, struct dfs_node *n, const struct dfs_write_handle *w,
		      const char *buf, size_t size)
{
	int ret;

	dfs_busy_enter();
	ret = run(fs, n, buf, size, 1, &w->who, w->append);
	dfs_busy_leave();
	return ret;
}

/* ---- the registry check ---- */

int dfs_check_image(const struct dfs_image_checker *c, const struct dfs_reference *ref,
		    const json_t *regdoc, int64_t deadline_ns, char *digest,
		    struct dfs_error *err)
{
	struct dfs_registry_creds creds;
	struct dfs_error e = { 0 };
	int ret;

	digest[0] = '\0';
	if (c->mode == DFS_CHECK_OFF)
		return 0;
	if (!c->registry)
		return dfs_error_set(err, EIO, "the registry check is not available");
	creds = dfs_registry_creds_of(regdoc);   /* regopts.h */
	ret = dfs_registry_check(c->registry, ref, regdoc ? &creds : NULL, deadline_ns, digest, &e);
	if (ret == 0)
		return 0;
	if (ret == -ENOKEY && c->api) {
		/* the apps API holds credentials we never see: let it decide */
		log_info("registry check skipped: %s; the apps API checks it itself", e.msg);
		return 0;
	}
	/* warn overrides what the registry said, not a refusal made before
	 * any request (-EINVAL: the image is not on the app's registry
	 * object's host) nor a shutdown (-ECANCELED) */
	if (c->mode == DFS_CHECK_WARN && ret != -EINVAL && ret != -ECANCELED) {
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

/* ---- the state machine of a write handle ---- */

void dfs_write_free(struct dfs_write_handle *w)
{
	if (!w)
		return;
	dfs_handle_del(&w->link);
	free(w->buf);
	free(w);
}

static void free_handle(struct dfs_handle *h)
{
	dfs_write_free(dfs_write_handle_of(h));
}

struct dfs_write_handle *dfs_write_open(const struct dfs_node *n, int flags, int created)
{
	struct dfs_write_handle *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	dfs_handle_add(&w->link, DFS_H_WRITE, free_handle);
	w->truncated = (flags & O_TRUNC) || (created && !n->pending);
	/* `echo t >> tags` adds a line; an append elsewhere is refused */
	w->append = (flags & O_APPEND) && n->attr->multiline && !w->truncated;
	/* the opener, while it is there to ask: later requests of this
	 * open may come from another process (a shell's child, RELEASE) */
	dfs_who_request(&w->who);
	return w;
}

struct dfs_handle *dfs_write_handle_link(struct dfs_write_handle *w)
{
	return w ? &w->link : NULL;
}

struct dfs_write_handle *dfs_write_handle_of(struct dfs_handle *h)
{
	if (!h || h->kind != DFS_H_WRITE)
		return NULL;
	return (struct dfs_write_handle *)((char *)h - offsetof(struct dfs_write_handle, link));
}

/* Commit the whole value of this open. */
static int settle(struct dfs_fs *fs, struct dfs_node *n, struct dfs_write_handle *w,
		  const char *buf, size_t size)
{
	int ret = commit_as(fs, n, buf, size, &w->who, w->append);

	if (ret < 0)
		w->failed = -ret;
	else
		w->written = 1;
	return ret;
}

/* Pieces of a value have been gathered, and neither committed nor refused. */
static int pieces_waiting(const struct dfs_write_handle *w)
{
	return w->len && !w->written && !w->failed;
}

static int ends_line(const char *buf, size_t size)
{
	return size && buf[size - 1] == '\n';
}

int dfs_write_data(struct dfs_write_handle *w, struct dfs_fs *fs, struct dfs_node *n,
		   const char *buf, size_t size, off_t off)
{
	const char *nl;
	char *p;
	int ret;

	if (!w)
		return -EBADF;
	if (w->failed)   /* the error file already says why; a retry gets the same */
		return -w->failed;
	/* an append's offset is the end of the file as the kernel knows it:
	 * its lines are gathered from 0 whatever it is */
	if (w->written || w->closed || (!w->append && off != (off_t)w->len)) {
		w->failed = EINVAL;
		fail(fs, n, w, EINVAL, "%s: write the whole value in one write "
		     "(a second write or an append changes nothing)", what(n));
		return -EINVAL;
	}
	if (w->len + size - line_end(buf, size) > DFS_VALUE_MAX) {
		w->failed = EFBIG;
		fail(fs, n, w, EFBIG, "%s: a value holds at most %d bytes", what(n), DFS_VALUE_MAX);
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
		ret = check_only(fs, n, w, w->buf, (size_t)(nl - w->buf) + 1);
		if (ret < 0) {
			w->failed = -ret;
			return ret;
		}
	}
	return 0;
}

int dfs_write_truncate(struct dfs_write_handle *w, const struct dfs_node *n, off_t size)
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
int dfs_write_fsync(struct dfs_write_handle *w, struct dfs_fs *fs, struct dfs_node *n)
{
	if (w && pieces_waiting(w))
		return settle(fs, n, w, w->buf, w->len);
	return 0;
}

/* Truncated and never written: `: > os_version`. */
static int truncated_empty(const struct dfs_node *n, const struct dfs_write_handle *w)
{
	return w->truncated && !w->written && !w->failed && !w->len && !w->closed &&
	       !n->pending;
}

/* The value of a truncated open closed without a write: a removal where
 * the value may be empty, else refused. 0 or -errno. */
static int close_empty(struct dfs_fs *fs, struct dfs_node *n, struct dfs_write_handle *w)
{
	w->closed = 1;
	if (n->attr->empty_ok)
		return commit_as(fs, n, "", 0, &w->who, 0);
	fail(fs, n, w, EINVAL, "%s: truncated and closed without a value; it cannot "
	     "be empty, nothing changed", what(n));
	return -EINVAL;
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
	if (name && fs->notifier)
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
int dfs_write_flush(struct dfs_write_handle *w, struct dfs_fs *fs, struct dfs_node *n,
		    uint64_t lock_owner)
{
	int ret = 0, child;

	if (!w)
		return 0;
	/* a close by another process than the shell: the shell still has it */
	child = w->early_flush && lock_owner != w->owner;
	if (pieces_waiting(w)) {
		if (!child)
			ret = settle(fs, n, w, w->buf, w->len);
	} else if (truncated_empty(n, w)) {
		if (w->early_flush && !child)
			ret = close_empty(fs, n, w);
		else if (!n->attr->empty_ok)
			ret = -EINVAL;
	}
	if (!w->early_flush && !w->len && !w->written && !w->failed) {
		w->early_flush = 1;
		w->owner = lock_owner;
	}
	if (w->failed)
		drop_pending(fs, n);
	return ret;
}

int dfs_write_release(struct dfs_write_handle *w, struct dfs_fs *fs, struct dfs_node *n)
{
	int ret = 0;

	if (!w)
		return 0;
	if (pieces_waiting(w))
		ret = settle(fs, n, w, w->buf, w->len);
	else if (truncated_empty(n, w))
		ret = close_empty(fs, n, w);
	drop_pending(fs, n);
	dfs_write_free(w);
	return ret;
}
