/* journal.c - append-only journals of changes (journal.h). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAIL_MAX (4 * DFS_JOURNAL_LINE_MAX)   /* what an append reads back */
#define READ_MAX (8 << 20)                      /* what a reader reads at most */

struct dfs_journal {
	char *dir;
	int dirfd;
};

struct dfs_journal *dfs_journal_open(const char *dir, struct dfs_error *err)
{
	struct dfs_journal *j;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		dfs_error_set(err, errno, "journal %s: %s", dir, strerror(errno));
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = strdup(dir))) {
		free(j);
		dfs_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (j->dirfd < 0) {
		dfs_error_set(err, errno, "journal %s: %s", dir, strerror(errno));
		dfs_journal_free(j);
		return NULL;
	}
	return j;
}

void dfs_journal_free(struct dfs_journal *j)
{
	if (!j)
		return;
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j->dir);
	free(j);
}

const char *dfs_journal_dir(const struct dfs_journal *j)
{
	return j->dir;
}

static int file_name(const char *name, char *out, size_t outsz, struct dfs_error *err)
{
	if (!*name || name[0] == '.' || strchr(name, '/') ||
	    (size_t)snprintf(out, outsz, "%s.log", name) >= outsz)
		return dfs_error_set(err, EINVAL, "journal: bad name \"%.64s\"", name);
	return 0;
}

/* Read up to max bytes of fd from off into a malloc'd NUL-terminated
 * buffer. */
static int read_at(int fd, off_t off, size_t max, char **out, size_t *len)
{
	char *buf = malloc(max + 1);
	size_t got = 0;

	if (!buf)
		return -ENOMEM;
	while (got < max) {
		ssize_t n = pread(fd, buf + got, max - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* The line's object when it is a whole journal line (an object with a
 * number "n"), else NULL. New reference. */
static json_t *parse_line(const char *s, size_t len)
{
	json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);

	if (!json_is_object(o) || !json_is_integer(json_object_get(o, "n")) ||
	    json_integer_value(json_object_get(o, "n")) < 1) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Every whole line of buf (len bytes) as objects, oldest first. partial:
 * buf starts in the middle of the file, so its first line may be cut and
 * is dropped. A last line without its "\n" is torn: dropped. */
static json_t *parse_lines(const char *buf, size_t len, int partial)
{
	json_t *all = json_array();
	const char *p = buf, *end = buf + len;

	if (partial) {
		const char *nl = memchr(p, '\n', len);

		p = nl ? nl + 1 : end;
	}
	while (all && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		json_t *o;

		if (!nl)
			break;   /* torn: no line end */
		o = parse_line(p, (size_t)(nl - p));
		if (o)
			json_array_append_new(all, o);
		p = nl + 1;
	}
	return all;
}

/* The last max whole lines of buf (len bytes) as objects, oldest first:
 * an append needs no more (the last number, the dedup key), and parsing
 * only these keeps its cost that of a few lines, not of the journal. A
 * line cut by the window's start (partial) and a torn last line are
 * never whole. */
static json_t *parse_last(const char *buf, size_t len, int partial, size_t max)
{
	json_t *out = json_array();
	const char *end = buf + len, *nl;
	size_t found = 0;

	if (!out)
		return NULL;
	/* the end of the last whole line */
	while (end > buf && end[-1] != '\n')
		end--;
	while (end > buf && found < max) {
		const char *start = end - 1;   /* its "\n" */
		json_t *o;

		while (start > buf && start[-1] != '\n')
			start--;
		if (start == buf && partial)
			break;   /* may be cut */
		nl = end - 1;
		o = parse_line(start, (size_t)(nl - start));
		if (o) {
			json_array_insert_new(out, 0, o);
			found++;
		}
		end = start;
	}
	return out;
}

/* Lock name's journal file: an O_APPEND descriptor holding its flock,
 * on the file the path still names. -errno. */
static int lock_file(struct dfs_journal *j, const char *fname)
{
	struct stat fst, pst;
	int fd;

	for (;;) {
		fd = openat(j->dirfd, fname,
			    O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
			    0600);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode)) {
			close(fd);
			return -EIO;
		}
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				int e = errno;

				close(fd);
				return -e;
			}
		}
		if (fstatat(j->dirfd, fname, &pst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    pst.st_dev == fst.st_dev && pst.st_ino == fst.st_ino)
			return fd;
		close(fd);   /* a compaction replaced it: lock the new file */
	}
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Keep the newest DFS_JOURNAL_KEEP lines (the file's flock held). */
static int compact(struct dfs_journal *j, const char *fname, int fd, struct dfs_error *err)
{
	struct stat st;
	json_t *all;
	char *buf, tmp[PATH_MAX];
	size_t len, n, from;
	int ret, tfd;

	if (fstat(fd, &st) < 0)
		return dfs_error_set(err, errno, "journal %s: %s", fname, strerror(errno));
	/* a line is at most DFS_JOURNAL_LINE_MAX: 2 * KEEP + 1 of them at most */
	ret = read_at(fd, 0, (size_t)st.st_size, &buf, &len);
	if (ret < 0)
		return dfs_error_set(err, -ret, "journal %s: %s", fname, strerror(-ret));
	all = parse_lines(buf, len, 0);
	free(buf);
	if (!all)
		return dfs_error_set(err, ENOMEM, "out of memory");
	n = json_array_size(all);
	from = n > DFS_JOURNAL_KEEP ? n - DFS_JOURNAL_KEEP : 0;
	snprintf(tmp, sizeof(tmp), ".%s.tmp", fname);
	tfd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (tfd < 0) {
		json_decref(all);
		return dfs_error_set(err, errno, "journal %s: %s", tmp, strerror(errno));
	}
	ret = 0;
	for (size_t i = from; i < n && ret == 0; i++) {
		char *line = json_dumps(json_array_get(all, i), JSON_COMPACT | JSON_PRESERVE_ORDER);

		ret = line ? write_all(tfd, line, strlen(line)) : -ENOMEM;
		if (ret == 0)
			ret = write_all(tfd, "\n", 1);
		free(line);
	}
	json_decref(all);
	if (ret == 0 && fsync(tfd) < 0)
		ret = -errno;
	close(tfd);
	if (ret == 0 && renameat(j->dirfd, tmp, j->dirfd, fname) < 0)
		ret = -errno;
	if (ret < 0) {
		unlinkat(j->dirfd, tmp, 0);
		return dfs_error_set(err, -ret, "journal %s: compaction: %s", fname, strerror(-ret));
	}
	fsync(j->dirfd);
	return 0;
}

/* The number of the first line of the file (0 when none is whole). */
static json_int_t first_number(int fd)
{
	char *buf;
	size_t len;
	const char *nl;
	json_int_t n = 0;

	if (read_at(fd, 0, DFS_JOURNAL_LINE_MAX + 1, &buf, &len) < 0)
		return 0;
	nl = memchr(buf, '\n', len);
	if (nl) {
		json_t *o = parse_line(buf, (size_t)(nl - buf));

		n = o ? json_integer_value(json_object_get(o, "n")) : 0;
		json_decref(o);
	}
	free(buf);
	return n;
}

/* A change seen by a watcher: its "old" is what the journal says the
 * file held last ("new" of the newest line of the same "file"), not what
 * this process saw last, which may be older (two changes in a row read
 * as one). An entry whose old and new are then equal is dropped. */
static void chain(const json_t *recent, json_t *entries)
{
	for (size_t i = 0; i < json_array_size(entries);) {
		json_t *e = json_array_get(entries, i);
		const char *file = json_string_value(json_object_get(e, "file"));
		size_t r = json_array_size(recent);

		while (file && r-- > 0) {
			json_t *l = json_array_get(recent, r);
			const char *lf = json_string_value(json_object_get(l, "file"));

			if (lf && strcmp(lf, file) == 0) {
				json_t *was = json_object_get(l, "new");

				json_object_set(e, "old", was ? was : json_null());
				break;
			}
		}
		if (json_equal(json_object_get(e, "old"), json_object_get(e, "new")))
			json_array_remove(entries, i);
		else
			i++;
	}
}

int dfs_journal_append(struct dfs_journal *j, const char *name, json_t *entries,
		       const char *field, const char *key, int *appended, struct dfs_error *err)
{
	char fname[300], *tail = NULL, *out = NULL;
	size_t tlen = 0, olen = 0, cap = 0;
	json_int_t last = 0, first;
	json_t *recent = NULL;
	struct stat st;
	off_t from;
	int fd, ret, torn;

	if (appended)
		*appended = 0;
	if (!json_array_size(entries))
		return 0;
	ret = file_name(name, fname, sizeof(fname), err);
	if (ret < 0)
		return ret;
	fd = lock_file(j, fname);
	if (fd < 0)
		return dfs_error_set(err, -fd, "journal %s: %s", fname, strerror(-fd));
	if (fstat(fd, &st) < 0) {
		ret = dfs_error_set(err, errno, "journal %s: %s", fname, strerror(errno));
		goto unlock;
	}
	/* the newest lines: the last number, the dedup key, a torn end */
	from = st.st_size > TAIL_MAX ? st.st_size - TAIL_MAX : 0;
	ret = read_at(fd, from, (size_t)(st.st_size - from), &tail, &tlen);
	if (ret < 0) {
		ret = dfs_error_set(err, -ret, "journal %s: %s", fname, strerror(-ret));
		goto unlock;
	}
	torn = tlen && tail[tlen - 1] != '\n';
	recent = parse_last(tail, tlen, from > 0, DFS_JOURNAL_DEDUP);
	if (!recent) {
		ret = dfs_error_set(err, ENOMEM, "out of memory");
		goto unlock;
	}
	if (json_array_size(recent))
		last = json_integer_value(json_object_get(
			json_array_get(recent, json_array_size(recent) - 1), "n"));
	if (field && key) {
		size_t n = json_array_size(recent);

		for (size_t i = n > DFS_JOURNAL_DEDUP ? n - DFS_JOURNAL_DEDUP : 0; i < n; i++) {
			const char *v = json_string_value(json_object_get(json_array_get(recent, i), field));

			if (v && strcmp(v, key) == 0)
				goto unlock;   /* recorded already: ret is 0 */
		}
		chain(recent, entries);
		if (!json_array_size(entries))
			goto unlock;   /* nothing the journal does not say already */
	}
	/* every line in one buffer, for one write(2) */
	if (torn) {
		out = strdup("\n");
		if (!out) {
			ret = dfs_error_set(err, ENOMEM, "out of memory");
			goto unlock;
		}
		olen = cap = 1;
	}
	for (size_t i = 0; i < json_array_size(entries); i++) {
		json_t *e = json_array_get(entries, i);
		char *line;
		size_t l;

		json_t *o = json_pack("{s:I}", "n", (json_int_t)(last + 1 + (json_int_t)i));

		/* "n" first, then the entry's own fields in their order */
		if (o)
			json_object_update(o, e);
		json_object_set_new(e, "n", json_integer(last + 1 + (json_int_t)i));
		line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(o);
		if (!line) {
			ret = dfs_error_set(err, ENOMEM, "out of memory");
			goto unlock;
		}
		l = strlen(line);
		if (l + 1 > DFS_JOURNAL_LINE_MAX) {
			free(line);
			ret = dfs_error_set(err, EFBIG, "journal %s: a line over %d bytes", fname,
					    DFS_JOURNAL_LINE_MAX);
			goto unlock;
		}
		if (olen + l + 1 > cap) {
			char *p = realloc(out, (olen + l + 1) * 2);

			if (!p) {
				free(line);
				ret = dfs_error_set(err, ENOMEM, "out of memory");
				goto unlock;
			}
			out = p;
			cap = (olen + l + 1) * 2;
		}
		memcpy(out + olen, line, l);
		out[olen + l] = '\n';
		olen += l + 1;
		free(line);
	}
	{
		ssize_t n;

		do
			n = write(fd, out, olen);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)olen) {
			/* a short write is a torn line, which the next append ends */
			ret = dfs_error_set(err, n < 0 ? errno : EIO, "journal %s: %s", fname,
					    n < 0 ? strerror(errno) : "short write");
			goto unlock;
		}
	}
	if (appended)
		*appended = 1;
	last += (json_int_t)json_array_size(entries);
	/* numbers run on without a gap, so last - first + 1 counts the lines */
	if (last > 2 * DFS_JOURNAL_KEEP) {
		first = first_number(fd);
		if (first > 0 && last - first + 1 > 2 * DFS_JOURNAL_KEEP)
			ret = compact(j, fname, fd, err);
	}
unlock:
	json_decref(recent);
	free(tail);
	free(out);
	close(fd);   /* releases the flock */
	return ret;
}

int dfs_journal_read_since(struct dfs_journal *j, const char *name, struct dfs_journal_pos *pos,
			   int *restart, json_t **out, struct dfs_error *err)
{
	char fname[300], *buf;
	const char *last_nl;
	struct stat st;
	size_t len;
	off_t from;
	int fd, ret, partial = 0;

	*out = NULL;
	*restart = 1;
	ret = file_name(name, fname, sizeof(fname), err);
	if (ret < 0)
		return ret;
	fd = openat(j->dirfd, fname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		memset(pos, 0, sizeof(*pos));
		*out = json_array();
		return *out ? 0 : dfs_error_set(err, ENOMEM, "out of memory");
	}
	if (fd < 0)
		return dfs_error_set(err, errno, "journal %s: %s", fname, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return dfs_error_set(err, EIO, "journal %s: not a regular file", fname);
	}
	if (pos->end > 0 && pos->dev == st.st_dev && pos->ino == st.st_ino &&
	    st.st_size >= pos->end) {
		from = pos->end;   /* appended since: only the new lines */
		*restart = 0;
	} else {
		from = st.st_size > READ_MAX ? st.st_size - READ_MAX : 0;
		partial = from > 0;
	}
	ret = read_at(fd, from, (size_t)(st.st_size - from), &buf, &len);
	close(fd);
	if (ret < 0)
		return dfs_error_set(err, -ret, "journal %s: %s", fname, strerror(-ret));
	*out = parse_lines(buf, len, partial);
	last_nl = len ? memrchr(buf, '\n', len) : NULL;
	pos->dev = st.st_dev;
	pos->ino = st.st_ino;
	pos->end = last_nl ? from + (off_t)(last_nl - buf) + 1 : from;
	free(buf);
	return *out ? 0 : dfs_error_set(err, ENOMEM, "out of memory");
}

int dfs_journal_read(struct dfs_journal *j, const char *name, json_t **out,
		     struct dfs_error *err)
{
	struct dfs_journal_pos pos = { 0 };
	json_t *all;
	size_t n;
	int ret, restart;

	ret = dfs_journal_read_since(j, name, &pos, &restart, &all, err);
	*out = NULL;
	if (ret < 0)
		return ret;
	n = json_array_size(all);
	if (n > DFS_JOURNAL_KEEP) {
		json_t *keep = json_array();

		for (size_t i = n - DFS_JOURNAL_KEEP; keep && i < n; i++)
			json_array_append(keep, json_array_get(all, i));
		json_decref(all);
		all = keep;
		if (!all)
			return dfs_error_set(err, ENOMEM, "out of memory");
	}
	*out = all;
	return 0;
}
