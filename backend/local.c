/* local.c - the local store (see local.h for the layout and guarantees). */
#include "local.h"
#include "jsonpatch.h"
#include "log.h"
#include "map.h"
#include "storedoc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_NAME_MAX 300   /* "<kind>-<id>" under .lock/ */

struct local {
	struct dfs_backend base;
	char *root;
	int dirfd[DFS_KIND_COUNT];   /* O_DIRECTORY fds of the kind folders */
	unsigned serves;             /* kinds watched: 1u << k (local.h) */
	int lockdir;
	/* watcher */
	pthread_t thread;
	int watching;
	int inofd;
	int wd[DFS_KIND_COUNT];
	int stop_pipe[2];
	dfs_change_cb cb;
	void *cb_arg;
	/* What this process last wrote, per "<kind>/<id>": its own writes come
	 * back through inotify and are not changes made elsewhere. */
	pthread_mutex_t written_mu;
	struct dfs_map *written;
	/* Held while a document of ours takes its name (rename, unlink) and
	 * while the watcher checks that what it read still has its name and
	 * reports it: so the watcher never reports a version older than one
	 * this process has already returned, nor one it read before a later
	 * change. Never held across a lock of another layer that a writer
	 * holds while it waits here (the model lock is taken under it). */
	pthread_mutex_t current_mu;
};

static struct local *L(struct dfs_backend *b)
{
	return (struct local *)b;
}

int dfs_local_id_ok(const char *id)
{
	return dfs_storedoc_id_ok(id);
}

static int bad_id(const char *id, struct dfs_error *err)
{
	return dfs_error_set(err, EINVAL, "object id \"%.64s\" cannot name a document", id ? id : "");
}

/* The id of a document file name "<id>.json" into id; 0 when fname is not
 * one (dotfiles are temp files, anything else is not ours). */
static int doc_id(const char *fname, char id[256])
{
	size_t n = strlen(fname);

	if (fname[0] == '.' || n <= 5 || n - 5 >= 256 || strcmp(fname + n - 5, ".json"))
		return 0;
	memcpy(id, fname, n - 5);
	id[n - 5] = '\0';
	return 1;
}

static const char *file_type(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symbolic link" :
	       S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" :
	       S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" :
	       "not a regular file";
}

/* Open kind/<name> for reading if it is a regular file, never blocking and
 * never following a symlink: a FIFO, a device or a socket named *.json
 * would hang or disturb whoever opens it. Returns the fd or -errno with err
 * (-ENOENT when absent, -EIO with the file's type when it is not a regular
 * file). */
static int open_regular(struct local *l, enum dfs_kind k, const char *name,
			struct stat *st, struct dfs_error *err)
{
	const char *dir = dfs_kind_dir(k);
	int fd;

	/* look before opening: opening a device can have side effects */
	if (fstatat(l->dirfd[k], name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return dfs_error_set(err, errno, "store %s/%s: %s", dir, name, strerror(errno));
	if (!S_ISREG(st->st_mode))
		return dfs_error_set(err, EIO, "store %s/%s: %s, not a regular file", dir, name,
				     file_type(st->st_mode));
	fd = openat(l->dirfd[k], name,
		    O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)   /* replaced by a symlink since the look */
			return dfs_error_set(err, EIO, "store %s/%s: a symbolic link, not a "
					     "regular file", dir, name);
		return dfs_error_set(err, errno, "store %s/%s: %s", dir, name, strerror(errno));
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		int e = S_ISREG(st->st_mode) ? errno : 0;

		close(fd);
		return dfs_error_set(err, EIO, "store %s/%s: %s", dir, name,
				     e ? strerror(e) : "not a regular file");
	}
	return fd;
}

/* Read kind/<id>.json whole: malloc'd *text of *len bytes. -ENOENT when
 * absent; -EIO for a file that is not a regular one or is larger than
 * DFS_STOREDOC_MAX (never read: a bound on what one edit can cost). */
/* keep_fd: on success the file stays open and *keep_fd is its fd (the
 * caller closes it), so that its inode number cannot be given to another
 * file while the caller compares it with what the name holds. */
static int read_text_at(struct local *l, enum dfs_kind k, const char *id, char **text,
			size_t *len, int *keep_fd, struct dfs_error *err)
{
	const char *dir = dfs_kind_dir(k);
	char name[256];
	struct stat st;
	char *buf;
	size_t n = 0, size;
	int fd, ret = 0;

	snprintf(name, sizeof(name), "%s.json", id);
	fd = open_regular(l, k, name, &st, err);
	if (fd < 0)
		return fd;
	if (st.st_size > DFS_STOREDOC_MAX) {
		close(fd);
		return dfs_error_set(err, EIO, "store %s/%s: %lld bytes; a document holds at most "
				     "%d (1 MiB)", dir, name, (long long)st.st_size,
				     DFS_STOREDOC_MAX);
	}
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (!buf) {
		close(fd);
		return dfs_error_set(err, ENOMEM, "out of memory");
	}
	while (n < size) {
		ssize_t got = read(fd, buf + n, size - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	if (n < size) {
		ret = dfs_error_set(err, EIO, "store %s/%s: short read", dir, name);
		free(buf);
		buf = NULL;
	}
	if (keep_fd && ret == 0)
		*keep_fd = fd;
	else
		close(fd);
	*text = buf;
	*len = n;
	return ret;
}

static int read_text(struct local *l, enum dfs_kind k, const char *id, char **text, size_t *len,
		     struct dfs_error *err)
{
	return read_text_at(l, k, id, text, len, NULL, err);
}

/* Read and check kind/<id>.json (storedoc.h): *out is a new reference. */
static int read_doc(struct local *l, enum dfs_kind k, const char *id, json_t **out,
		    struct dfs_error *err)
{
	char *text;
	size_t len;
	int ret = read_text(l, k, id, &text, &len, err);

	if (ret < 0)
		return ret;
	*out = dfs_storedoc_load(k, id, text, len, err);
	free(text);
	return *out ? 0 : -EIO;
}

static uint64_t text_hash(const char *s, size_t len)
{
	return dfs_fnv1a(s, len) | 1;   /* never 0: 0 is "nothing recorded" */
}

static void remember_written(struct local *l, enum dfs_kind k, const char *id, uint64_t h)
{
	char key[300];

	snprintf(key, sizeof(key), "%d/%s", (int)k, id);
	pthread_mutex_lock(&l->written_mu);
	dfs_map_put(l->written, key, (void *)(uintptr_t)h);
	pthread_mutex_unlock(&l->written_mu);
}

static int was_written(struct local *l, enum dfs_kind k, const char *id, uint64_t h)
{
	char key[300];
	int ret;

	snprintf(key, sizeof(key), "%d/%s", (int)k, id);
	pthread_mutex_lock(&l->written_mu);
	ret = (uintptr_t)dfs_map_get(l->written, key) == h;
	pthread_mutex_unlock(&l->written_mu);
	return ret;
}

/* Write doc as kind/<id>.json: temp dotfile, fsync, rename, fsync dir. */
static int write_doc(struct local *l, enum dfs_kind k, const char *id, const json_t *doc,
		     int noreplace, struct dfs_error *err)
{
	char tmp[256], name[256];
	char *text;
	size_t len, off = 0;
	int fd, ret;

	snprintf(name, sizeof(name), "%s.json", id);
	text = json_dumps(doc, JSON_INDENT(2));
	if (!text)
		return dfs_error_set(err, ENOMEM, "out of memory");
	len = strlen(text);
	{
		char *grown = realloc(text, len + 2);   /* room for the final newline */

		if (!grown) {
			free(text);
			return dfs_error_set(err, ENOMEM, "out of memory");
		}
		text = grown;
	}
	for (int i = 0; i < 100; i++) {
		unsigned r;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (unsigned)rand();
		snprintf(tmp, sizeof(tmp), ".%s.%08x.tmp", id, r);
		fd = openat(l->dirfd[k], tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		ret = dfs_error_set(err, errno, "store %s: cannot create a temp file: %s",
				    dfs_kind_dir(k), strerror(errno));
		goto out_free;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = dfs_error_set(err, errno, "store: write %s: %s", name, strerror(errno));
			goto out_unlink;
		}
		off += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		ret = dfs_error_set(err, errno ? errno : EIO, "store: fsync %s: %s", name, strerror(errno));
		goto out_unlink;
	}
	close(fd);
	fd = -1;
	/* Known as ours before it appears under its name: the watcher may wake
	 * on the rename before this thread runs again. The file holds the
	 * text and the newline written above. */
	text[len] = '\n';
	remember_written(l, k, id, text_hash(text, len + 1));
	pthread_mutex_lock(&l->current_mu);
	if (noreplace)
		ret = renameat2(l->dirfd[k], tmp, l->dirfd[k], name, RENAME_NOREPLACE);
	else
		ret = renameat(l->dirfd[k], tmp, l->dirfd[k], name);
	pthread_mutex_unlock(&l->current_mu);
	if (ret < 0) {
		ret = dfs_error_set(err, errno, "store: rename to %s: %s", name, strerror(errno));
		goto out_unlink;
	}
	if (fsync(l->dirfd[k]) < 0)
		log_warn("store: fsync of %s", dfs_kind_dir(k));
	free(text);
	return 0;
out_unlink:
	if (fd >= 0)
		close(fd);
	unlinkat(l->dirfd[k], tmp, 0);
out_free:
	free(text);
	return ret;
}

static void lock_name(enum dfs_kind k, const char *id, char name[LOCK_NAME_MAX])
{
	snprintf(name, LOCK_NAME_MAX, "%s-%s", dfs_kind_dir(k), id);
}

/* Take the object's flock (.lock/<kind>-<id>), waiting at most until
 * deadline_ns, or not at all when deadline_ns is 0 (-EWOULDBLOCK when
 * another writer holds it). Returns the lock fd (give it to unlock_object)
 * or -errno.
 *
 * Lock files are removed with their objects (unlock_object), so a lock
 * taken on an fd whose path was unlinked (or replaced) meanwhile is a lock
 * on nothing: after flock succeeds, the path must still name the fd's
 * inode, else open it again. This way two processes never hold "the lock"
 * on two different inodes. */
static int lock_object(struct local *l, enum dfs_kind k, const char *id, int64_t deadline_ns,
		       struct dfs_error *err)
{
	char name[LOCK_NAME_MAX];
	struct stat fst, pst;
	int fd;

	lock_name(k, id, name);
	for (;;) {
		fd = openat(l->lockdir, name,
			    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
		if (fd < 0)
			return dfs_error_set(err, errno, "store: lock %s: %s", name, strerror(errno));
		if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode)) {
			close(fd);
			return dfs_error_set(err, EIO, "store: lock .lock/%s: not a regular file", name);
		}
		while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno != EWOULDBLOCK && errno != EINTR) {
				int e = errno;

				close(fd);
				return dfs_error_set(err, e, "store: lock %s: %s", name, strerror(e));
			}
			if (deadline_ns == 0) {
				close(fd);
				return dfs_error_set(err, EWOULDBLOCK, "store: %s is locked", name);
			}
			if (dfs_now_ns() > deadline_ns) {
				close(fd);
				return dfs_error_set(err, ETIMEDOUT, "store: %s is locked by another writer", name);
			}
			if (dfs_cancelled()) {
				close(fd);
				return dfs_error_set(err, ECANCELED, "%s", DFS_CANCELLED_MSG);
			}
			usleep(1000);
		}
		if (fstatat(l->lockdir, name, &pst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    pst.st_dev == fst.st_dev && pst.st_ino == fst.st_ino)
			return fd;
		/* the holder removed it with its object: a fresh file */
		close(fd);
	}
}

/* Release a lock from lock_object. drop: the object has no document (any
 * more), so its lock file goes too; unlinked while held, as lock_object
 * expects. */
static void unlock_object(struct local *l, enum dfs_kind k, const char *id, int fd, int drop)
{
	char name[LOCK_NAME_MAX];

	if (drop) {
		lock_name(k, id, name);
		if (unlinkat(l->lockdir, name, 0) < 0 && errno != ENOENT)
			log_warn("store: remove .lock/%s", name);
	}
	close(fd);
}

static void bump_version(enum dfs_kind k, json_t *doc)
{
	if (k == DFS_IMAGE) {
		char when[32];
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(doc, "updated_at", json_string(when));
	} else {
		json_t *v = json_object_get(doc, "version");

		json_object_set_new(doc, "version",
				    json_integer(json_is_integer(v) ? json_integer_value(v) + 1 : 1));
	}
}

static int local_list_each(struct dfs_backend *b, enum dfs_kind k,
			   int (*fn)(void *arg, json_t *doc), void *arg, int64_t deadline_ns,
			   struct dfs_error *err)
{
	struct local *l = L(b);
	struct dirent *de;
	DIR *d;
	int fd, stop;

	fd = openat(l->dirfd[k], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return dfs_error_set(err, errno, "store %s: %s", dfs_kind_dir(k), strerror(errno));
	}
	while ((de = readdir(d))) {
		char id[256];
		struct dfs_error e2;
		json_t *doc;

		if (!doc_id(de->d_name, id))
			continue;
		if (read_doc(l, k, id, &doc, &e2) < 0) {
			/* hidden until a good version appears (the watcher) */
			if (e2.code != ENOENT)
				log_warnx("%s; skipped", e2.msg);
			continue;
		}
		stop = fn(arg, doc);
		json_decref(doc);
		if (stop)
			break;
	}
	closedir(d);
	return 0;
}

static int append_doc(void *arg, json_t *doc)
{
	return json_array_append(arg, doc) < 0;
}

static int local_list(struct dfs_backend *b, enum dfs_kind k, json_t **out, int64_t deadline_ns,
		      struct dfs_error *err)
{
	json_t *arr = json_array();
	int ret;

	if (!arr)
		return dfs_error_set(err, ENOMEM, "out of memory");
	ret = local_list_each(b, k, append_doc, arr, deadline_ns, err);
	if (ret < 0) {
		json_decref(arr);
		return ret;
	}
	*out = arr;
	return 0;
}

static int local_get(struct dfs_backend *b, enum dfs_kind k, const char *id, json_t **out,
		     int64_t deadline_ns, struct dfs_error *err)
{
	if (!dfs_local_id_ok(id))
		return bad_id(id, err);
	return read_doc(L(b), k, id, out, err);
}

static int local_patch(struct dfs_backend *b, enum dfs_kind k, const char *id, const json_t *patch,
		       json_t **out, int64_t deadline_ns, struct dfs_error *err)
{
	struct local *l = L(b);
	json_t *doc = NULL, *after;
	int lock, ret;

	if (!dfs_local_id_ok(id))
		return bad_id(id, err);
	lock = lock_object(l, k, id, deadline_ns, err);
	if (lock < 0)
		return lock;
	ret = read_doc(l, k, id, &doc, err);
	if (ret < 0)
		goto out_unlock;
	after = jsonpatch_apply(doc, patch, err);
	if (!after) {
		ret = -(err && err->code ? err->code : EINVAL);
		goto out_unlock;
	}
	bump_version(k, after);
	/* never write what the store would refuse to read back */
	ret = dfs_storedoc_check(k, after, err);
	if (ret == 0)
		ret = write_doc(l, k, id, after, 0, err);
	if (ret < 0) {
		json_decref(after);
		goto out_unlock;
	}
	*out = after;
out_unlock:
	json_decref(doc);
	unlock_object(l, k, id, lock, ret == -ENOENT);
	return ret;
}

static int local_create(struct dfs_backend *b, enum dfs_kind k, const json_t *doc, json_t **out,
			int64_t deadline_ns, struct dfs_error *err)
{
	struct local *l = L(b);
	char id[37];
	json_t *created;
	int lock, ret;

	dfs_new_uuid(id);
	created = json_deep_copy(doc);
	if (!created)
		return dfs_error_set(err, ENOMEM, "out of memory");
	json_object_set_new(created, "id", json_string(id));
	ret = dfs_storedoc_check(k, created, err);
	if (ret < 0)
		goto out_free;
	/* held while the temp file exists: the cleanup at mount removes only
	 * temp files whose object nobody holds */
	lock = lock_object(l, k, id, deadline_ns, err);
	if (lock < 0) {
		ret = lock;
		goto out_free;
	}
	ret = write_doc(l, k, id, created, 1, err);
	unlock_object(l, k, id, lock, ret < 0);
	if (ret < 0)
		goto out_free;
	*out = created;
	return 0;
out_free:
	json_decref(created);
	return ret;
}

static int local_remove(struct dfs_backend *b, enum dfs_kind k, const char *id, int64_t deadline_ns,
			struct dfs_error *err)
{
	struct local *l = L(b);
	char name[256];
	int lock, ret = 0;

	if (!dfs_local_id_ok(id))
		return bad_id(id, err);
	lock = lock_object(l, k, id, deadline_ns, err);
	if (lock < 0)
		return lock;
	snprintf(name, sizeof(name), "%s.json", id);
	pthread_mutex_lock(&l->current_mu);
	if (unlinkat(l->dirfd[k], name, 0) < 0)
		ret = dfs_error_set(err, errno, "store: remove %s/%s: %s", dfs_kind_dir(k), name,
				    strerror(errno));
	pthread_mutex_unlock(&l->current_mu);
	if (ret == 0)
		fsync(l->dirfd[k]);
	/* no document, no lock file: deleted objects leave nothing behind */
	unlock_object(l, k, id, lock, ret == 0 || ret == -ENOENT);
	return ret;
}

/* The watcher: one inotify fd over the kind folders. Our own writes come
 * back here too; the model drops a document equal to what it holds. A
 * document that cannot be read or fails its checks (storedoc.h) is logged
 * once per event and not reported: the model keeps the last good version,
 * and an object that never had one stays hidden. */
static void report(struct local *l, enum dfs_kind k, const char *fname)
{
	char id[256];
	struct dfs_error e;
	struct stat was, now;
	json_t *doc = NULL;
	char *text = NULL;
	size_t len = 0;
	int ret, current, fd = -1;

	if (!doc_id(fname, id))
		return;
	ret = read_text_at(l, k, id, &text, &len, &fd, &e);
	if (ret == 0) {
		int ours = was_written(l, k, id, text_hash(text, len));

		if (!ours && !(doc = dfs_storedoc_load(k, id, text, len, &e))) {
			/* a person mid-edit, or a broken file: keep what we have */
			log_warnx("%s; keeping the last good version", e.msg);
			ours = 1;
		}
		free(text);
		if (ours || fstat(fd, &was) < 0) {
			close(fd);
			json_decref(doc);
			return;
		}
	} else if (e.code != ENOENT) {
		log_warnx("%s; keeping the last good version", e.msg);
		return;
	}
	/* Report it only if the name still holds what was read (or still
	 * nothing): else a later change replaced it, and its own event comes.
	 * An older version of ours, read before our next write renamed over
	 * it, is such a stale read too. */
	pthread_mutex_lock(&l->current_mu);
	if (fstatat(l->dirfd[k], fname, &now, AT_SYMLINK_NOFOLLOW) == 0)
		current = ret == 0 && now.st_dev == was.st_dev && now.st_ino == was.st_ino;
	else
		current = ret < 0 && errno == ENOENT;
	if (current)
		l->cb(l->cb_arg, k, id, doc);
	pthread_mutex_unlock(&l->current_mu);
	if (fd >= 0)
		close(fd);   /* only now may its inode number name another file */
	json_decref(doc);
}

/* IN_CREATE: a regular file is read at its IN_CLOSE_WRITE; anything else
 * named like a document (a FIFO, a symlink, a directory...) never gets
 * one, so it is logged here, once, and never opened. */
static void created(struct local *l, enum dfs_kind k, const char *fname)
{
	char id[256];
	struct stat st;

	if (!doc_id(fname, id) || fstatat(l->dirfd[k], fname, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    S_ISREG(st.st_mode))
		return;
	log_warnx("store %s/%s: %s, not a regular file; skipped", dfs_kind_dir(k), fname,
		  file_type(st.st_mode));
}

static void *watch_thread(void *arg)
{
	struct local *l = arg;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = l->inofd, .events = POLLIN },
			{ .fd = l->stop_pipe[0], .events = POLLIN },
		};
		ssize_t len;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("store watcher: poll");
			break;
		}
		if (pfd[1].revents)
			break;
		len = read(l->inofd, buf, sizeof(buf));
		if (len <= 0)
			continue;
		for (char *p = buf; p < buf + len;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warnx("store watcher: inotify queue overflowed; changes may be missed");
				continue;
			}
			if (!ev->len)
				continue;
			for (int k = 0; k < DFS_KIND_COUNT; k++) {
				if (l->wd[k] != ev->wd)
					continue;
				if (ev->mask & IN_CREATE)
					created(l, (enum dfs_kind)k, ev->name);
				else
					report(l, (enum dfs_kind)k, ev->name);
			}
		}
	}
	return NULL;
}

void dfs_local_serve_only(struct dfs_backend *b, unsigned mask)
{
	L(b)->serves = mask;
}

static int local_watch(struct dfs_backend *b, dfs_change_cb cb, void *arg)
{
	struct local *l = L(b);
	char path[4096];

	l->cb = cb;
	l->cb_arg = arg;
	l->inofd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (l->inofd < 0)
		return -errno;
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		l->wd[k] = -1;
		if (!(l->serves & (1u << k)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", l->root, dfs_kind_dir((enum dfs_kind)k));
		l->wd[k] = inotify_add_watch(l->inofd, path,
					     IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
					     IN_CREATE);
		if (l->wd[k] < 0)
			return -errno;
	}
	if (pipe2(l->stop_pipe, O_CLOEXEC) < 0)
		return -errno;
	if (pthread_create(&l->thread, NULL, watch_thread, l) != 0)
		return -EAGAIN;
	l->watching = 1;
	return 0;
}

static void local_free(struct dfs_backend *b)
{
	struct local *l = L(b);

	if (!l)
		return;
	if (l->watching) {
		if (write(l->stop_pipe[1], "x", 1) < 0)
			log_warn("store watcher: stop");
		pthread_join(l->thread, NULL);
		close(l->stop_pipe[0]);
		close(l->stop_pipe[1]);
	}
	if (l->inofd >= 0)
		close(l->inofd);
	for (int k = 0; k < DFS_KIND_COUNT; k++)
		if (l->dirfd[k] >= 0)
			close(l->dirfd[k]);
	if (l->lockdir >= 0)
		close(l->lockdir);
	dfs_map_free(l->written);
	pthread_mutex_destroy(&l->written_mu);
	pthread_mutex_destroy(&l->current_mu);
	free(l->root);
	free(l);
}

/* The id of a temp file name ".<id>.<8 hex>.tmp" (write_doc) into id; 0
 * when fname is not one. */
static int temp_id(const char *fname, char id[256])
{
	size_t n = strlen(fname);

	if (fname[0] != '.' || n < 1 + 1 + 1 + 8 + 4 || n - 14 >= 256 ||
	    strcmp(fname + n - 4, ".tmp") || fname[n - 13] != '.')
		return 0;
	for (size_t i = n - 12; i < n - 4; i++)
		if (!strchr("0123456789abcdef", fname[i]))
			return 0;
	memcpy(id, fname + 1, n - 14);
	id[n - 14] = '\0';
	return dfs_storedoc_id_ok(id);
}

static int has_doc(struct local *l, enum dfs_kind k, const char *id)
{
	char name[256];
	struct stat st;

	snprintf(name, sizeof(name), "%s.json", id);
	return fstatat(l->dirfd[k], name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

static DIR *open_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d && fd >= 0)
		close(fd);
	return d;
}

/* Temp files of writes that were killed: a writer holds the object's lock
 * while its temp file exists (write_doc runs under it), so a temp file
 * whose lock we can take at once is stale. Another daemon's write in
 * flight keeps its temp file. */
static void clean_temps(struct local *l, enum dfs_kind k)
{
	const char *dir = dfs_kind_dir(k);
	struct dirent *de;
	DIR *d = open_dir(l->dirfd[k]);

	if (!d) {
		log_warn("store %s: cleanup", dir);
		return;
	}
	while ((de = readdir(d))) {
		char id[256];
		struct stat st;
		int lock;

		if (!temp_id(de->d_name, id) ||
		    fstatat(l->dirfd[k], de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		lock = lock_object(l, k, id, 0, NULL);
		if (lock < 0) {
			if (lock == -EWOULDBLOCK)
				log_debug("store %s/%s: a write in flight; kept", dir, de->d_name);
			continue;
		}
		if (unlinkat(l->dirfd[k], de->d_name, 0) == 0)
			log_info("store %s/%s: removed the temp file of an interrupted write", dir,
				 de->d_name);
		else if (errno != ENOENT)
			log_warn("store %s/%s: remove", dir, de->d_name);
		unlock_object(l, k, id, lock, !has_doc(l, k, id));
	}
	closedir(d);
}

/* Lock files of objects that have no document: deleted by hand or by a
 * version of deployfs that left them. A lock someone holds is kept. */
static void clean_locks(struct local *l)
{
	struct dirent *de;
	DIR *d = open_dir(l->lockdir);

	if (!d) {
		log_warn("store .lock: cleanup");
		return;
	}
	while ((de = readdir(d))) {
		for (int k = 0; k < DFS_KIND_COUNT; k++) {
			const char *dir = dfs_kind_dir((enum dfs_kind)k);
			size_t n = strlen(dir);
			const char *id = de->d_name + n + 1;
			int lock;

			if (strncmp(de->d_name, dir, n) || de->d_name[n] != '-' ||
			    !dfs_storedoc_id_ok(id) || has_doc(l, (enum dfs_kind)k, id))
				continue;
			lock = lock_object(l, (enum dfs_kind)k, id, 0, NULL);
			if (lock < 0)
				continue;
			/* under the lock, a document may have been created since */
			if (has_doc(l, (enum dfs_kind)k, id)) {
				unlock_object(l, (enum dfs_kind)k, id, lock, 0);
				continue;
			}
			unlock_object(l, (enum dfs_kind)k, id, lock, 1);
			log_info("store .lock/%s: removed the lock file of an object with no document",
				 de->d_name);
		}
	}
	closedir(d);
}

static const struct dfs_backend_ops local_ops = {
	.name = "local",
	.origin = "store",
	.list = local_list,
	.list_each = local_list_each,
	.get = local_get,
	.patch = local_patch,
	.create = local_create,
	.remove = local_remove,
	.watch = local_watch,
	.free = local_free,
};

static int open_subdir(int parent, const char *name)
{
	if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
		return -1;
	return openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

struct dfs_backend *dfs_local_new(const char *dir, struct dfs_error *err)
{
	struct local *l;
	int rootfd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		dfs_error_set(err, errno, "store %s: %s", dir, strerror(errno));
		return NULL;
	}
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		dfs_error_set(err, errno, "store %s: %s", dir, strerror(errno));
		return NULL;
	}
	/* credentials live here: nobody else may read the store */
	if (fchmod(rootfd, 0700) < 0)
		log_warn("store %s: chmod 0700", dir);
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(rootfd);
		dfs_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	l->base.ops = &local_ops;
	pthread_mutex_init(&l->written_mu, NULL);
	pthread_mutex_init(&l->current_mu, NULL);
	l->written = dfs_map_new();
	l->serves = (1u << DFS_KIND_COUNT) - 1;
	l->inofd = -1;
	l->lockdir = -1;
	for (int k = 0; k < DFS_KIND_COUNT; k++)
		l->dirfd[k] = -1;
	l->root = realpath(dir, NULL);
	for (int k = 0; k < DFS_KIND_COUNT; k++) {
		l->dirfd[k] = open_subdir(rootfd, dfs_kind_dir((enum dfs_kind)k));
		if (l->dirfd[k] < 0)
			goto fail;
	}
	l->lockdir = open_subdir(rootfd, ".lock");
	if (l->lockdir < 0 || !l->root)
		goto fail;
	close(rootfd);
	for (int k = 0; k < DFS_KIND_COUNT; k++)
		clean_temps(l, (enum dfs_kind)k);
	clean_locks(l);
	return &l->base;
fail:
	dfs_error_set(err, errno, "store %s: %s", dir, strerror(errno));
	close(rootfd);
	local_free(&l->base);
	return NULL;
}
