/* echo.c - the echo thread: inotify events for changes made elsewhere
 * (echo.h says why and how).
 *
 * Where it writes: the mount's root is opened O_PATH for each file and
 * checked to be this mount (its mount id, recorded when the thread
 * started, just after the mount); the file is opened beneath it with RESOLVE_NO_XDEV and
 * RESOLVE_NO_SYMLINKS and never O_CREAT, so after an unmount (the path then
 * names the directory underneath) nothing is written anywhere. The file
 * is opened through a private detached copy of the mount (clone_of), so
 * it never keeps the mount point busy; no descriptor is held between two
 * files.
 *
 * The kernel's copy: the open uses direct_io, so the write never puts
 * bytes in the page cache; the kernel extends its size to the write's end
 * and drops its attributes, and a shorter new content is read short and
 * the size follows (the notifier drops pages and attributes as for any
 * change made elsewhere).
 *
 * Requests: the checks of the root use statx with AT_STATX_DONT_SYNC,
 * which never asks the daemon; the open is noflush, so the close sends
 * no FLUSH. So the thread's only requests are the LOOKUPs its path needs,
 * the OPEN and the WRITE (and an asynchronous RELEASE). Under valgrind,
 * whose big lock stays held across system calls it does not know may
 * block (statfs, close), that is also what keeps the daemon from waiting
 * on itself.
 */
#include "echo.h"
#include "fs.h"
#include "tree_int.h"
#include "notify.h"
#include "schema.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U   /* Linux 6.8; older kernels give STATX_MNT_ID */
#endif
/* unexpected failures logged before going quiet */
#define LOG_MAX 10

struct job {
	struct job *next;
	char *path;        /* mount-relative; also the key in e->byp */
	char *content;
	size_t len;
};

struct dfs_echo {
	struct dfs_fs *fs;
	char *mnt;
	pthread_t thread;
	pid_t tid;             /* atomic: the thread's id, what its requests carry */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail;   /* mu: FIFO of files to write */
	struct dfs_map *byp;        /* mu: path -> its job in the FIFO */
	size_t n;                   /* mu: jobs queued */
	size_t dropped;             /* mu: changes not queued since the last log line */
	int stop, joined;           /* mu */
	int readonly;               /* atomic: the mount refused a write with EROFS */
	uint64_t mnt_id;            /* immutable: this mount's id */
	dev_t dev;                  /* immutable: its file system's device */
	int logged, no_openat2, no_clone;   /* the thread's own */
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->path);
	free(j->content);
	free(j);
}

/* The id of the mount that dirfd/path is on and its file system's
 * device, without a request to any FUSE daemon. 0 or -errno. */
static int mount_id(int dirfd, const char *path, uint64_t *id, dev_t *dev)
{
	struct statx sx;
	int flags = AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT | (*path ? 0 : AT_EMPTY_PATH);

	if (statx(dirfd, path, flags, STATX_MNT_ID | STATX_MNT_ID_UNIQUE, &sx) < 0)
		return -errno;
	if (!(sx.stx_mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE)))
		return -ENOSYS;
	*id = sx.stx_mnt_id;
	*dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	return 0;
}

/* The mount's root as an O_PATH descriptor, or -1 when the mount point
 * no longer is this mount (unmounted). */
static int open_root(struct dfs_echo *e)
{
	int fd = open(e->mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	uint64_t id;
	dev_t dev;

	if (fd < 0)
		return -1;
	if (mount_id(fd, "", &id, &dev) == 0 && id == e->mnt_id)
		return fd;
	close(fd);
	return -1;
}

/* The base to open a file beneath, -1 when the mount point no longer is
 * this mount: a private copy of the mount (open_tree's OPEN_TREE_CLONE, detached:
 * in no namespace, gone with its last reference) to open one file
 * through. The file then holds the copy, not the mount point's mount, so
 * an unmount of the mount point never finds the echo busy, and the
 * superblock it keeps alive for that instant goes with the file's close.
 * Without CAP_SYS_ADMIN (EPERM), or open_tree (ENOSYS: Linux before 5.2,
 * valgrind 3.19), root itself: once, the log says so. */
static int open_clone(struct dfs_echo *e)
{
	uint64_t id;
	dev_t dev;
	int fd;

	/* from the path, not from a descriptor of the mount point's mount,
	 * which would hold it */
	fd = (int)syscall(SYS_open_tree, AT_FDCWD, e->mnt, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd >= 0) {
		/* a copy of this file system, or the mount point no longer is it */
		if (mount_id(fd, "", &id, &dev) == 0 && dev == e->dev)
			return fd;
		close(fd);
		return -1;
	}
	if (errno == EPERM || errno == ENOSYS || errno == EINVAL) {
		e->no_clone = 1;
		log_info("inotify echo: no private copy of the mount (%s): a plain umount "
			 "that meets an echo in flight gets EBUSY (umount -l never does)",
			 strerror(errno));
		return open_root(e);
	}
	return -1;
}

/* Not truncated (but for an empty content, which a truncation is): a
 * reader in between would see an empty file; the one write at offset 0
 * makes the IN_MODIFY. */
static void write_one(struct dfs_echo *e, const struct job *j)
{
	struct open_how how = {
		.flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (j->len ? 0 : O_TRUNC),
		.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH,
	};
	int base = e->no_clone ? open_root(e) : open_clone(e), fd, err = 0;

	if (base < 0)
		return;   /* unmounted: nobody watches any more */
	fd = e->no_openat2 ? -1 : (int)syscall(SYS_openat2, base, j->path, &how, sizeof(how));
	if (fd < 0 && (e->no_openat2 || errno == ENOSYS)) {
		/* no openat2 (valgrind 3.19 has none): the path is the tree's own,
		 * its names escaped (no "..", no "/"), and no symlink on the way */
		e->no_openat2 = 1;
		fd = openat(base, j->path, (int)how.flags);
	}
	close(base);   /* a clone stays while the file is open, and then goes */
	if (fd < 0) {
		err = errno;
	} else {
		if (j->len && write(fd, j->content, j->len) < 0)
			err = errno;
		if (close(fd) < 0 && !err)
			err = errno;
	}
	switch (err) {
	case 0:
	case ENOENT:   /* renamed or deleted since: its directory changed too */
	case ESTALE:   /* changed again since: that change has its own echo */
	case ENOTCONN:
	case ENODEV:   /* the connection is going away */
		return;
	case EROFS:
		__atomic_store_n(&e->readonly, 1, __ATOMIC_RELAXED);
		log_info("read-only mount: watchers get no inotify event for changes made "
			 "elsewhere (.deployfs/events still has them)");
		return;
	}
	if (e->logged++ < LOG_MAX)
		log_warnx("inotify echo of %s: %s%s", j->path, strerror(err),
			  e->logged == LOG_MAX ? " (no more such lines)" : "");
}

static void *echo_main(void *arg)
{
	struct dfs_echo *e = arg;

	__atomic_store_n(&e->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&e->mu);
	for (;;) {
		struct job *j;
		size_t dropped;

		while (!e->head && !e->stop)
			pthread_cond_wait(&e->cv, &e->mu);
		if (e->stop)
			break;
		j = e->head;
		e->head = j->next;
		if (!e->head)
			e->tail = &e->head;
		dfs_map_del(e->byp, j->path);
		e->n--;
		dropped = e->n ? 0 : e->dropped;
		if (!e->n)
			e->dropped = 0;
		pthread_mutex_unlock(&e->mu);
		/* no lock held: the write goes through the FUSE handlers */
		if (!__atomic_load_n(&e->readonly, __ATOMIC_RELAXED))
			write_one(e, j);
		if (dropped)
			log_warnx("inotify: %zu changes made elsewhere got no event: more than %d "
				  "files were waiting", dropped, DFS_ECHO_MAX);
		job_free(j);
		pthread_mutex_lock(&e->mu);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

struct dfs_echo *dfs_echo_new(struct dfs_fs *fs, const char *mountpoint)
{
	struct dfs_echo *e = calloc(1, sizeof(*e));
	sigset_t all, old;
	int ret;

	if (!e)
		goto out_nomem;
	e->fs = fs;
	e->tail = &e->head;
	e->mnt = strdup(mountpoint);
	e->byp = dfs_map_new();
	if (!e->mnt || !e->byp)
		goto out_free;
	/* just mounted: the mount at mountpoint is this one */
	ret = mount_id(AT_FDCWD, mountpoint, &e->mnt_id, &e->dev);
	if (ret < 0) {
		log_warnx("%s: cannot get its mount id: %s", mountpoint, strerror(-ret));
		goto out_free;
	}
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	/* signals go to the loop's threads, never here: this thread's system
	 * calls on the mount must not be interrupted */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&e->thread, NULL, echo_main, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		pthread_cond_destroy(&e->cv);
		pthread_mutex_destroy(&e->mu);
		goto out_free;
	}
	return e;
out_free:
	if (e) {
		dfs_map_free(e->byp);
		free(e->mnt);
		free(e);
	}
out_nomem:
	log_warnx("cannot start the inotify echo thread: watchers get no event for changes "
		  "made elsewhere");
	return NULL;
}

void dfs_echo_stop(struct dfs_echo *e)
{
	int join;

	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	e->stop = 1;
	join = !e->joined;
	e->joined = 1;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	if (join)
		pthread_join(e->thread, NULL);
}

void dfs_echo_free(struct dfs_echo *e)
{
	if (!e)
		return;
	dfs_echo_stop(e);
	while (e->head) {
		struct job *j = e->head;

		e->head = j->next;
		job_free(j);
	}
	dfs_map_free(e->byp);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e->mnt);
	free(e);
}

/* Whether the kernel holds the inode of key or of dirkey (a watch on the
 * file, or on its directory, holds one). */
static int held(struct dfs_tree *t, const char *key, const char *dirkey)
{
	struct dfs_node *n, *d;
	int ret;

	pthread_mutex_lock(&t->mu);
	n = dfs_map_get(t->bykey, key);
	d = dfs_map_get(t->bykey, dirkey);
	ret = (n && n->nlookup) || (d && d->nlookup);
	pthread_mutex_unlock(&t->mu);
	return ret;
}

void dfs_echo_file(struct dfs_echo *e, enum dfs_kind k, const char *id, const char *name,
		   int prop, const char *path, const char *content, size_t len)
{
	static const char prefix[DFS_KIND_COUNT] = {
		[DFS_ENV] = 'e', [DFS_APP] = 'a', [DFS_REGISTRY] = 'g', [DFS_IMAGE] = 'i',
	};
	char key[600], dirkey[300];
	struct job *j;

	if (!e || __atomic_load_n(&e->readonly, __ATOMIC_RELAXED))
		return;
	/* the tree's node keys (tree.c): "a:<id>/tag", "p:<id>/<key>" */
	snprintf(dirkey, sizeof(dirkey), "%c:%s", prop ? 'p' : prefix[k], id);
	snprintf(key, sizeof(key), "%s/%s", dirkey, name);
	if (!held(e->fs->tree, key, dirkey))
		return;
	pthread_mutex_lock(&e->mu);
	if (e->stop)
		goto out_unlock;
	j = dfs_map_get(e->byp, path);
	if (j) {
		/* waiting already: written once, with the newest content */
		char *c = malloc(len ? len : 1);

		if (c) {
			memcpy(c, content, len);
			free(j->content);
			j->content = c;
			j->len = len;
		}
		goto out_unlock;
	}
	if (e->n >= DFS_ECHO_MAX) {
		e->dropped++;
		goto out_unlock;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(path)) || !(j->content = malloc(len ? len : 1)) ||
	    dfs_map_put(e->byp, path, j) < 0) {
		job_free(j);
		e->dropped++;
		goto out_unlock;
	}
	memcpy(j->content, content, len);
	j->len = len;
	*e->tail = j;
	e->tail = &j->next;
	e->n++;
	pthread_cond_signal(&e->cv);
out_unlock:
	pthread_mutex_unlock(&e->mu);
}

void dfs_echo_change(struct dfs_fs *fs, const struct dfs_obj *o, const struct dfs_attr *a,
		     const char *prop, const char *path, const char *value, const char *origin)
{
	char *content = NULL;
	size_t len = 0;

	if (!fs->echo || strcmp(origin, "mount") == 0)
		return;
	/* the event value is the content without its last newline */
	if (value) {
		len = strlen(value) + 1;
		content = malloc(len);
		if (!content)
			return;
		memcpy(content, value, len - 1);
		content[len - 1] = '\n';
	}
	dfs_echo_file(fs->echo, o->kind, o->id, prop ? prop : a->name, !!prop, path,
		      content ? content : "", len);
	free(content);
}

static int is_echo(const struct dfs_echo *e, fuse_req_t req)
{
	pid_t tid;

	if (!e)
		return 0;
	tid = __atomic_load_n(&e->tid, __ATOMIC_SEQ_CST);
	return tid && fuse_req_ctx(req)->pid == tid;
}

int dfs_echo_open(struct dfs_fs *fs, fuse_req_t req, struct dfs_node *n,
		  struct fuse_file_info *fi)
{
	if (n->type != DFS_N_VALUE || (fi->flags & O_ACCMODE) != O_WRONLY ||
	    !is_echo(fs->echo, req))
		return 0;
	/* no write state: FLUSH and RELEASE find none and commit nothing
	 * (a truncated open closed without a write would remove the value);
	 * direct_io: the page cache never holds bytes the daemon did not serve */
	fi->fh = 0;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;   /* nothing to do at its close: no FLUSH to wait for */
	return 1;
}

int dfs_echo_write(struct dfs_fs *fs, fuse_req_t req, struct dfs_node *n, const char *buf,
		   size_t size, off_t off)
{
	char *cur = NULL;
	size_t len = 0;
	int same;

	if (!is_echo(fs->echo, req))
		return -EBADF;
	if (dfs_tree_read(fs->tree, n, &cur, &len) < 0)
		return -ESTALE;
	same = off == 0 && len == size && memcmp(cur, buf, size) == 0;
	free(cur);
	if (same)
		return 0;
	/* the kernel took the open's truncation and may keep this write's
	 * size: its copy goes, after this request (never from inside it) */
	if (fs->notifier)
		dfs_notifier_inval_inode(fs->notifier, n->ino);
	return -ESTALE;
}
