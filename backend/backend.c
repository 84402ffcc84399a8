/* backend.c - what every backend shares. */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *dfs_kind_dir(enum dfs_kind k)
{
	static const char *const dirs[DFS_KIND_COUNT] = {
		[DFS_ENV] = "environments",
		[DFS_APP] = "apps",
		[DFS_REGISTRY] = "registries",
		[DFS_IMAGE] = "images",
	};
	return (unsigned)k < DFS_KIND_COUNT ? dirs[k] : "?";
}

int64_t dfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t dfs_deadline_ns(double seconds)
{
	return dfs_now_ns() + (int64_t)(seconds * 1e9);
}

void dfs_new_uuid(char out[37])
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)rand();
	r[6] = (r[6] & 0x0f) | 0x40;   /* version 4 */
	r[8] = (r[8] & 0x3f) | 0x80;   /* variant 1 */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
		 r[12], r[13], r[14], r[15]);
}

int dfs_token_ok(const char *t)
{
	if (!t || !*t)
		return 0;
	for (; *t; t++)
		if ((unsigned char)*t <= ' ' || (unsigned char)*t >= 0x7f)
			return 0;
	return 1;
}

int dfs_token_read_file(const char *path, const char *option, char **out, struct dfs_error *err)
{
	char buf[DFS_TOKEN_MAX + 2];
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return dfs_error_set(err, errno, "%s %s: %s", option, path, strerror(errno));
	while (n < sizeof(buf) - 1) {
		ssize_t got = read(fd, buf + n, sizeof(buf) - 1 - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	buf[n] = '\0';
	if (n > DFS_TOKEN_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return dfs_error_set(err, EINVAL, "%s %s: over %d bytes; a token is one line",
				     option, path, DFS_TOKEN_MAX);
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
		     buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (!dfs_token_ok(buf)) {
		explicit_bzero(buf, sizeof(buf));
		return dfs_error_set(err, EINVAL, "%s %s: not a token (one line of visible ASCII "
				     "characters)", option, path);
	}
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *out ? 0 : dfs_error_set(err, ENOMEM, "out of memory");
}

void dfs_secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int dfs_token_load(const char *file, const char *option, const char *env, char **out,
		   struct dfs_error *err)
{
	const char *v;

	*out = NULL;
	if (file)
		return dfs_token_read_file(file, option, out, err);
	v = getenv(env);
	if (!v || !*v)
		return 0;
	if (!dfs_token_ok(v))
		return dfs_error_set(err, EINVAL, "%s: not a token (one line of visible ASCII "
				     "characters)", env);
	*out = strdup(v);
	return *out ? 0 : dfs_error_set(err, ENOMEM, "out of memory");
}

int dfs_sleep_until(int64_t until_ns, struct dfs_error *err)
{
	for (;;) {
		int64_t left = until_ns - dfs_now_ns();
		struct timespec ts;

		if (dfs_cancelled())
			return dfs_error_set(err, ECANCELED, "%s", DFS_CANCELLED_MSG);
		if (left <= 0)
			return 0;
		if (left > DFS_SLEEP_SLICE_NS)
			left = DFS_SLEEP_SLICE_NS;
		ts.tv_sec = 0;
		ts.tv_nsec = left;
		nanosleep(&ts, NULL);
	}
}

/* ---- the operations, checked once ---- */

static int check_deadline(int64_t deadline_ns, struct dfs_error *err)
{
	if (dfs_now_ns() >= deadline_ns)
		return dfs_error_set(err, ETIMEDOUT, "the time for this operation ran out before "
				     "the store was asked");
	return 0;
}

static int check_id(enum dfs_kind k, const char *id, struct dfs_error *err)
{
	if (!id || !*id || strlen(id) > DFS_ID_MAX)
		return dfs_error_set(err, EINVAL, "%s: an id of 1 to %d bytes is needed",
				     dfs_kind_dir(k), DFS_ID_MAX);
	return 0;
}

int dfs_backend_list(struct dfs_backend *b, enum dfs_kind k, json_t **out, int64_t deadline_ns,
		     struct dfs_error *err)
{
	int ret = check_deadline(deadline_ns, err);

	return ret < 0 ? ret : b->ops->list(b, k, out, deadline_ns, err);
}

int dfs_backend_list_each(struct dfs_backend *b, enum dfs_kind k,
			  int (*fn)(void *arg, json_t *doc), void *arg, int64_t deadline_ns,
			  struct dfs_error *err)
{
	int ret = check_deadline(deadline_ns, err);

	if (ret == 0 && !b->ops->list_each)
		ret = dfs_error_set(err, ENOSYS, "%s: this store lists whole", dfs_kind_dir(k));
	return ret < 0 ? ret : b->ops->list_each(b, k, fn, arg, deadline_ns, err);
}

int dfs_backend_patch(struct dfs_backend *b, enum dfs_kind k, const char *id,
		      const json_t *patch, json_t **out, int64_t deadline_ns,
		      struct dfs_error *err)
{
	int ret = check_id(k, id, err);

	if (ret == 0)
		ret = check_deadline(deadline_ns, err);
	return ret < 0 ? ret : b->ops->patch(b, k, id, patch, out, deadline_ns, err);
}

int dfs_backend_create(struct dfs_backend *b, enum dfs_kind k, const json_t *doc, json_t **out,
		       int64_t deadline_ns, struct dfs_error *err)
{
	int ret = check_deadline(deadline_ns, err);

	if (ret == 0 && !b->ops->create)
		ret = dfs_error_set(err, EPERM, "this store cannot create %s", dfs_kind_dir(k));
	return ret < 0 ? ret : b->ops->create(b, k, doc, out, deadline_ns, err);
}

int dfs_backend_remove(struct dfs_backend *b, enum dfs_kind k, const char *id,
		       int64_t deadline_ns, struct dfs_error *err)
{
	int ret = check_id(k, id, err);

	if (ret == 0)
		ret = check_deadline(deadline_ns, err);
	if (ret == 0 && !b->ops->remove)
		ret = dfs_error_set(err, EPERM, "this store cannot delete %s", dfs_kind_dir(k));
	return ret < 0 ? ret : b->ops->remove(b, k, id, deadline_ns, err);
}

const char *dfs_backend_origin(const struct dfs_backend *b)
{
	return b && b->ops->origin ? b->ops->origin : "store";
}

void dfs_backend_free(struct dfs_backend *b)
{
	if (b)
		b->ops->free(b);
}
