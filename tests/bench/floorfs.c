/*
 * floorfs - the per-open floor for tests/bench/run.
 *
 * A minimal low-level FUSE filesystem that serves, read-only and from
 * memory, a copy of a small directory tree, with the caching deployfs
 * promises for value files (README, "Reads and caching"):
 *
 *   - entry and attribute timeouts of 3600 s,
 *   - keep_cache and noflush on every open,
 *   - libfuse's multithreaded loop (fuse_session_loop_mt).
 *
 * Nothing else: no locks on the request path, no per-open state. What a
 * warm open + read + close costs here is what any FUSE filesystem with that
 * caching pays per open on this machine, so deployfs is compared with it.
 *
 * It counts the requests it sees. The file ".floorfs-stats" in the root
 * reads as one "NAME count" line per request type, and requests for that
 * file itself are not counted, so a reader can take the difference of two
 * reads around N warm cats.
 *
 *   floorfs SRCDIR MOUNTPOINT [FUSE options, e.g. -f]
 *
 * SRCDIR is read once at start: directories, and regular files up to
 * MAX_FILE bytes (others are skipped with a warning). Exit 0 after an
 * unmount, 1 on error.
 */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif

#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TIMEOUT     3600.0
#define MAX_NODES   4096
#define MAX_FILE    (1 << 20)
#define STATS_NAME  ".floorfs-stats"

/*
 * One file or directory. Node i has inode number i + 1, so the root
 * (index 0) is FUSE_ROOT_ID. The table is filled before the session starts
 * and never changes afterwards: handlers read it without a lock.
 */
struct node {
	char *name;             /* "" for the root */
	fuse_ino_t parent;
	struct stat st;         /* st_ino is the FUSE inode number */
	char *data;             /* regular files: st.st_size bytes */
	int is_stats;           /* the counters file */
};

static struct node nodes[MAX_NODES];
static size_t n_nodes;

enum op {
	OP_LOOKUP, OP_FORGET, OP_GETATTR, OP_ACCESS, OP_OPEN, OP_READ,
	OP_FLUSH, OP_RELEASE, OP_OPENDIR, OP_READDIR, OP_RELEASEDIR,
	OP_STATFS, OP_GETXATTR, OP_LISTXATTR, OP_MAX
};

static const char *const op_names[OP_MAX] = {
	"LOOKUP", "FORGET", "GETATTR", "ACCESS", "OPEN", "READ",
	"FLUSH", "RELEASE", "OPENDIR", "READDIR", "RELEASEDIR",
	"STATFS", "GETXATTR", "LISTXATTR",
};

/* Relaxed atomics: worker threads only add; a reader wants totals. */
static atomic_ulong counts[OP_MAX];

static struct node *node_of(fuse_ino_t ino)
{
	if (ino < 1 || ino > n_nodes)
		return NULL;
	return &nodes[ino - 1];
}

/* Count a request, unless it concerns the counters file. */
static void count(enum op op, const struct node *n)
{
	if (n && n->is_stats)
		return;
	atomic_fetch_add_explicit(&counts[op], 1, memory_order_relaxed);
}

/* Append a node; returns its inode number, or 0 if the table is full. */
static fuse_ino_t add_node(const char *name, fuse_ino_t parent,
			   const struct stat *st)
{
	struct node *n;

	if (n_nodes == MAX_NODES) {
		fprintf(stderr, "floorfs: more than %d nodes\n", MAX_NODES);
		return 0;
	}
	n = &nodes[n_nodes++];
	n->name = strdup(name);
	if (!n->name) {
		perror("floorfs: strdup");
		exit(1);
	}
	n->parent = parent;
	n->st = *st;
	n->st.st_ino = n_nodes;
	n->st.st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	return n_nodes;
}

/* Read a regular file of at most MAX_FILE bytes whole. 0 or -1. */
static int load_file(int dirfd, const char *name, struct node *n)
{
	size_t size = (size_t)n->st.st_size, got = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n->data = malloc(size ? size : 1);
	if (!n->data)
		goto err_close;
	while (got < size) {
		ssize_t r = read(fd, n->data + got, size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto err_free;
		got += (size_t)r;
	}
	close(fd);
	return 0;

err_free:
	free(n->data);
	n->data = NULL;
err_close:
	close(fd);
	return -1;
}

/* Load the directory dirfd (inode ino) recursively. Closes dirfd. 0 or -1. */
static int load_dir(int dirfd, fuse_ino_t ino)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;
	int ret = 0;

	if (!d) {
		close(dirfd);
		return -1;
	}
	while (ret == 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		fuse_ino_t child;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, STATS_NAME))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = -1;
			break;
		}
		if (S_ISREG(st.st_mode) && st.st_size <= MAX_FILE) {
			child = add_node(de->d_name, ino, &st);
			if (!child || load_file(dirfd, de->d_name,
						&nodes[child - 1]) < 0)
				ret = -1;
		} else if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, de->d_name,
					O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			child = add_node(de->d_name, ino, &st);
			if (!child || fd < 0 || load_dir(fd, child) < 0)
				ret = -1;
		} else {
			fprintf(stderr, "floorfs: skipping %s\n", de->d_name);
		}
	}
	closedir(d);
	return ret;
}

/* Build the node table from srcdir, plus the counters file. 0 or -1. */
static int load_tree(const char *srcdir)
{
	struct stat st;
	int fd = open(srcdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(srcdir);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	add_node("", FUSE_ROOT_ID, &st);
	if (load_dir(fd, FUSE_ROOT_ID) < 0) {
		perror(srcdir);
		return -1;
	}
	st.st_mode = S_IFREG | 0444;
	st.st_size = 0;         /* read with direct_io: the size is not used */
	if (!add_node(STATS_NAME, FUSE_ROOT_ID, &st))
		return -1;
	nodes[n_nodes - 1].is_stats = 1;
	return 0;
}

static void floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	size_t i;

	for (i = 1; i < n_nodes; i++)
		if (nodes[i].parent == parent && !strcmp(nodes[i].name, name))
			break;
	count(OP_LOOKUP, i < n_nodes ? &nodes[i] : NULL);
	if (i == n_nodes) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = nodes[i].st.st_ino;
	e.attr = nodes[i].st;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void floor_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)nlookup;
	count(OP_FORGET, node_of(ino));
	fuse_reply_none(req);
}

static void floor_forget_multi(fuse_req_t req, size_t n,
			       struct fuse_forget_data *forgets)
{
	(void)n;
	(void)forgets;
	count(OP_FORGET, NULL);
	fuse_reply_none(req);
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);

	(void)fi;
	count(OP_GETATTR, n);
	if (!n)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &n->st, TIMEOUT);
}

static void floor_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	(void)mask;
	count(OP_ACCESS, node_of(ino));
	fuse_reply_err(req, ENOSYS);    /* what libfuse answers by default */
}

/* The counters as text; caller frees. NULL on allocation failure. */
static char *format_counts(size_t *len)
{
	char *buf = malloc(64 * OP_MAX);
	size_t off = 0;
	int i;

	if (!buf)
		return NULL;
	for (i = 0; i < OP_MAX; i++)
		off += (size_t)snprintf(buf + off, 64, "%s %lu\n", op_names[i],
					atomic_load_explicit(&counts[i],
							     memory_order_relaxed));
	*len = off;
	return buf;
}

/* The counters file's snapshot, taken at open, lives in fi->fh. */
struct snapshot {
	size_t len;
	char *text;
};

static void floor_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);
	struct snapshot *s;

	count(OP_OPEN, n);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (S_ISDIR(n->st.st_mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (n->is_stats) {
		s = malloc(sizeof(*s));
		if (!s || !(s->text = format_counts(&s->len))) {
			free(s);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		fi->fh = (uintptr_t)s;
		fi->direct_io = 1;
	} else {
		fi->keep_cache = 1;
		fi->noflush = 1;
	}
	fuse_reply_open(req, fi);
}

static void reply_slice(fuse_req_t req, const char *buf, size_t len,
			off_t off, size_t size)
{
	if (off < 0 || (size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, buf + off,
			       len - (size_t)off < size ? len - (size_t)off : size);
}

static void floor_read(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);
	struct snapshot *s;

	count(OP_READ, n);
	if (!n) {
		fuse_reply_err(req, ENOENT);
	} else if (n->is_stats) {
		s = (struct snapshot *)(uintptr_t)fi->fh;
		reply_slice(req, s->text, s->len, off, size);
	} else {
		reply_slice(req, n->data, (size_t)n->st.st_size, off, size);
	}
}

static void floor_flush(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	(void)fi;
	count(OP_FLUSH, node_of(ino));
	fuse_reply_err(req, 0);
}

static void floor_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);
	struct snapshot *s;

	count(OP_RELEASE, n);
	if (n && n->is_stats) {
		s = (struct snapshot *)(uintptr_t)fi->fh;
		free(s->text);
		free(s);
	}
	fuse_reply_err(req, 0);
}

static void floor_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);

	count(OP_OPENDIR, n);
	if (!n)
		fuse_reply_err(req, ENOENT);
	else if (!S_ISDIR(n->st.st_mode))
		fuse_reply_err(req, ENOTDIR);
	else
		fuse_reply_open(req, fi);
}

/*
 * Directory offsets are node indexes + 1: entry at offset o is the first
 * child with index >= o. "." and ".." are left to the kernel's callers,
 * which do not need them from a FUSE filesystem.
 */
static void floor_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	char *buf = malloc(size);
	size_t used = 0, i;

	(void)fi;
	count(OP_READDIR, NULL);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (i = off > 0 ? (size_t)off : 1; i < n_nodes; i++) {
		size_t len;

		if (nodes[i].parent != ino || i == 0)
			continue;
		len = fuse_add_direntry(req, buf + used, size - used,
					nodes[i].name, &nodes[i].st,
					(off_t)(i + 1));
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void floor_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	count(OP_RELEASEDIR, NULL);
	fuse_reply_err(req, 0);
}

static void floor_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	count(OP_STATFS, NULL);
	memset(&sv, 0, sizeof(sv));
	sv.f_namemax = 255;
	sv.f_bsize = 512;
	fuse_reply_statfs(req, &sv);
}

static void floor_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	(void)name;
	(void)size;
	count(OP_GETXATTR, node_of(ino));
	fuse_reply_err(req, ENOSYS);
}

static void floor_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)size;
	count(OP_LISTXATTR, node_of(ino));
	fuse_reply_err(req, ENOSYS);
}

static const struct fuse_lowlevel_ops floor_ops = {
	.lookup       = floor_lookup,
	.forget       = floor_forget,
	.forget_multi = floor_forget_multi,
	.getattr      = floor_getattr,
	.access       = floor_access,
	.open         = floor_open,
	.read         = floor_read,
	.flush        = floor_flush,
	.release      = floor_release,
	.opendir      = floor_opendir,
	.readdir      = floor_readdir,
	.releasedir   = floor_releasedir,
	.statfs       = floor_statfs,
	.getxattr     = floor_getxattr,
	.listxattr    = floor_listxattr,
};

int main(int argc, char *argv[])
{
	struct fuse_args args;
	struct fuse_cmdline_opts opts;
	struct fuse_loop_config *config;
	struct fuse_session *se;
	int ret = 1;

	if (argc < 3 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s SRCDIR MOUNTPOINT [FUSE options]\n",
			argv[0]);
		return 1;
	}
	if (load_tree(argv[1]) < 0)
		return 1;

	/* Hand libfuse argv without SRCDIR. */
	argv[1] = argv[0];
	args = (struct fuse_args)FUSE_ARGS_INIT(argc - 1, argv + 1);
	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 1;
	if (!opts.mountpoint) {
		fprintf(stderr, "floorfs: no mount point\n");
		goto out_args;
	}

	se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(opts.foreground);

	config = fuse_loop_cfg_create();
	if (!config)
		goto out_unmount;
	fuse_loop_cfg_set_clone_fd(config, (unsigned int)opts.clone_fd);
	fuse_loop_cfg_set_max_threads(config, opts.max_threads);
	if (opts.max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(config, opts.max_idle_threads);
	/* 0, -errno, or the number of the signal that ended the loop */
	ret = fuse_session_loop_mt(se, config) < 0 ? 1 : 0;
	fuse_loop_cfg_destroy(config);

out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
