/* test_write.c - the write state machine (fs/write.c) without FUSE.
 *
 * Every open/write/flush/release order the README's "Writing values"
 * lists, driven as the FUSE handlers drive it, against a model over a
 * local store in a temporary directory (registry_check=off: no network).
 * Each case checks what a user sees: the errno of each call, the value
 * file's content, the error file, and whether the store's version moved.
 */
#include "unit.h"
#include "unit_store.h"
#include "fs.h"
#include "handles.h"
#include "model.h"
#include "local.h"
#include "notify.h"
#include "tree.h"
#include "write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the shell's and a child's lock owners */
#define SHELL 1
#define CHILD 2

static struct dfs_fs fs;
static struct dfs_node *app_dir, *img_dir;

static struct dfs_node *lookup(struct dfs_node *dir, const char *name)
{
	struct dfs_node *n = NULL;

	if (!dir || dfs_tree_lookup(fs.tree, dir, name, &n) < 0) {
		fprintf(stderr, "lookup %s failed\n", name);
		exit(1);
	}
	return n;
}

static void setup(void)
{
	struct dfs_backend *local;
	struct dfs_error err = { 0 };
	struct dfs_node *d;

	store_mkdtemp("test-write");
	local = dfs_local_new(store, &err);
	if (!local) {
		fprintf(stderr, "dfs_local_new: %s\n", err.msg);
		exit(1);
	}
	store_seed();
	fs.cfg.registry_check = DFS_CHECK_OFF;
	fs.cfg.timeout = 5;
	for (int k = 0; k < DFS_KIND_COUNT; k++)
		fs.backends[k] = local;
	fs.model = dfs_model_new(fs.backends, dfs_on_change, &fs);
	fs.tree = dfs_tree_new(&fs);
	if (!fs.model || !fs.tree || dfs_model_load(fs.model, dfs_deadline_ns(5), &err) < 0 ||
	    dfs_model_load_rest(fs.model, &err) < 0) {
		fprintf(stderr, "model: %s\n", err.msg);
		exit(1);
	}
	d = lookup(dfs_tree_get(fs.tree, FUSE_ROOT_ID), "environments");
	app_dir = lookup(lookup(lookup(d, "prod"), "apps"), "web");
	img_dir = lookup(lookup(dfs_tree_get(fs.tree, FUSE_ROOT_ID), "images"), IMG_ID);
}

static void teardown(void)
{
	dfs_tree_free(fs.tree);
	dfs_model_free(fs.model);
	fs.backends[0]->ops->free(fs.backends[0]);
	store_remove();
}

/* The file's content as a string (static buffer). */
static const char *content(struct dfs_node *n)
{
	static char out[8192];
	char *buf = NULL;
	size_t len = 0;

	if (dfs_tree_read(fs.tree, n, &buf, &len) < 0)
		return "(unreadable)";
	snprintf(out, sizeof(out), "%.*s", (int)len, buf);
	free(buf);
	return out;
}

static const char *app_file(const char *name)
{
	return content(lookup(app_dir, name));
}

/* The app's version in the store's document, as the model holds it. */
static long long app_version(void)
{
	struct dfs_obj *o;
	long long v;

	dfs_model_rdlock(fs.model);
	o = dfs_model_find(fs.model, DFS_APP, APP_ID);
	v = json_integer_value(json_object_get(dfs_obj_doc(o), "version"));
	dfs_model_unlock(fs.model);
	return v;
}

static struct dfs_write_handle *open_w(struct dfs_node *n, int flags)
{
	struct dfs_write_handle *w = dfs_write_open(n, O_WRONLY | flags, 0);

	CHECK(w != NULL);
	return w;
}

static int wr(struct dfs_write_handle *w, struct dfs_node *n, const char *s, off_t off)
{
	return dfs_write_data(w, &fs, n, s, strlen(s), off);
}

/* echo 1.26 > tag: the shell opens, dup2()s and closes the original (an
 * early FLUSH), writes once, and closes. */
static void test_shell_single_write(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	long long v = app_version();
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);

	/* dup2's close of a truncated tag: EINVAL, which bash ignores */
	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), -EINVAL);
	CHECK_INT(wr(w, tag, "1.26\n", 0), 0);
	CHECK_STR(app_file("tag"), "1.26\n");
	CHECK_STR(app_file("ref"), "nginx:1.26\n");
	CHECK_INT(app_version(), v + 1);
	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), 0);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_INT(app_version(), v + 1);   /* one change */
	CHECK_STR(app_file("error"), "");
}

/* A shell's write is committed at the write, whatever it ends with. */
static void test_shell_write_without_newline(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);

	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), -EINVAL);
	CHECK_INT(wr(w, tag, "1.27", 0), 0);
	CHECK_STR(app_file("tag"), "1.27\n");
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
}

/* A refused value: the write's errno, the error file's line, and the same
 * errno for a retry on the open; nothing changes. */
static void test_refused_and_retry(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	long long v = app_version();
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);

	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), -EINVAL);
	CHECK_INT(wr(w, tag, "v2 beta\n", 0), -EINVAL);
	CHECK(strstr(app_file("error"), "tag \"v2 beta\"") != NULL);
	CHECK_INT(wr(w, tag, "1.28\n", 0), -EINVAL);   /* a write after the error */
	CHECK(strstr(app_file("error"), "tag \"v2 beta\"") != NULL);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_STR(app_file("tag"), "1.27\n");
	CHECK_INT(app_version(), v);
	/* the next good write clears it */
	w = open_w(tag, O_TRUNC);
	CHECK_INT(wr(w, tag, "1.28\n", 0), 0);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_STR(app_file("error"), "");
}

/* A second write after the commit, and an append, change nothing. */
static void test_second_write_and_append(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);
	long long v;

	CHECK_INT(wr(w, tag, "1.29\n", 0), 0);
	v = app_version();
	CHECK_INT(wr(w, tag, "1.30\n", 5), -EINVAL);
	CHECK(strstr(app_file("error"), "write the whole value in one write") != NULL);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_STR(app_file("tag"), "1.29\n");
	CHECK_INT(app_version(), v);

	w = open_w(tag, O_APPEND);   /* >> : the first write is not at offset 0 */
	CHECK_INT(wr(w, tag, "x\n", 5), -EINVAL);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_STR(app_file("tag"), "1.29\n");
}

/* emacs: two write(2)s split at its last edit, committed once at the
 * piece that ends the line. */
static void test_pieces_gathered(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	long long v = app_version();
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);

	CHECK_INT(wr(w, tag, "1.25-b", 0), 0);
	CHECK_STR(app_file("tag"), "1.29\n");   /* held */
	CHECK_INT(wr(w, tag, "lpine\n", 6), 0);
	CHECK_STR(app_file("tag"), "1.25-blpine\n");
	CHECK_INT(app_version(), v + 1);
	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), 0);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_INT(app_version(), v + 1);
}

/* Python, /usr/bin/printf: a write that ends no line is committed at the
 * close (FLUSH), and the close reports a refusal. */
static void test_piece_then_flush(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);

	CHECK_INT(wr(w, tag, "1.30", 0), 0);
	CHECK_STR(app_file("tag"), "1.25-blpine\n");
	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), 0);
	CHECK_STR(app_file("tag"), "1.30\n");
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);

	w = open_w(tag, O_TRUNC);
	CHECK_INT(wr(w, tag, "bad tag", 0), 0);
	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), -EINVAL);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_STR(app_file("tag"), "1.30\n");
}

/* fsync commits a value still arriving in pieces, and otherwise succeeds. */
static void test_fsync(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);
	long long v = app_version();

	CHECK_INT(dfs_write_fsync(w, &fs, tag), 0);   /* nothing waits */
	CHECK_INT(app_version(), v);
	CHECK_INT(wr(w, tag, "1.31", 0), 0);
	CHECK_INT(dfs_write_fsync(w, &fs, tag), 0);
	CHECK_STR(app_file("tag"), "1.31\n");
	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), 0);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_INT(app_version(), v + 1);
	CHECK_INT(dfs_write_fsync(NULL, &fs, tag), 0);
}

/* A last close (RELEASE) with no FLUSH before it still commits. */
static void test_release_without_flush(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);

	CHECK_INT(wr(w, tag, "1.32", 0), 0);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_STR(app_file("tag"), "1.32\n");
}

/* Writing the value a file already holds is still a change. */
static void test_same_value_is_a_change(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	long long v = app_version();
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);

	CHECK_INT(wr(w, tag, "1.32\n", 0), 0);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_INT(app_version(), v + 1);
}

/* One trailing "\n" or "\r\n" is dropped; 4 KiB at most; no NUL. */
static void test_normalisation(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag"), *name = lookup(img_dir, "name");
	struct dfs_write_handle *w;
	char big[DFS_VALUE_MAX + 3];

	w = open_w(tag, O_TRUNC);
	CHECK_INT(wr(w, tag, "1.33\r\n", 0), 0);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_STR(app_file("tag"), "1.33\n");

	memset(big, 'a', DFS_VALUE_MAX);
	strcpy(big + DFS_VALUE_MAX, "\n");
	w = open_w(name, O_TRUNC);
	CHECK_INT(dfs_write_data(w, &fs, name, big, DFS_VALUE_MAX + 1, 0), -EINVAL);  /* > 255 */
	CHECK_INT(dfs_write_release(w, &fs, name), 0);
	strcpy(big + DFS_VALUE_MAX, "a\n");
	w = open_w(name, O_TRUNC);
	CHECK_INT(dfs_write_data(w, &fs, name, big, DFS_VALUE_MAX + 2, 0), -EFBIG);
	CHECK(strstr(content(lookup(img_dir, "error")), "at most 4096 bytes") != NULL);
	CHECK_INT(dfs_write_release(w, &fs, name), 0);

	w = open_w(name, O_TRUNC);
	CHECK_INT(dfs_write_data(w, &fs, name, "a\0b\n", 4, 0), -EINVAL);
	CHECK(strstr(content(lookup(img_dir, "error")), "NUL byte") != NULL);
	CHECK_INT(dfs_write_release(w, &fs, name), 0);
	CHECK_STR(content(name), "Ubuntu 24.04\n");
}

/* A truncate on its own never commits; only size 0; read-only: EACCES. */
static void test_truncate(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	struct dfs_write_handle *w = open_w(tag, 0);
	long long v = app_version();

	CHECK_INT(dfs_write_truncate(NULL, tag, 0), 0);
	CHECK_INT(dfs_write_truncate(w, tag, 3), -EINVAL);
	CHECK_INT(dfs_write_truncate(NULL, lookup(app_dir, "id"), 0), -EACCES);
	CHECK_INT(wr(w, tag, "1.3", 0), 0);            /* a piece... */
	CHECK_INT(dfs_write_truncate(w, tag, 0), 0);   /* ...dropped */
	CHECK_INT(wr(w, tag, "1.34\n", 0), 0);
	CHECK_STR(app_file("tag"), "1.34\n");
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_INT(app_version(), v + 1);
	CHECK_INT(wr(NULL, tag, "x\n", 0), -EBADF);
}

/* `: > os_version`: an O_TRUNC open closed with no write removes the value
 * by the time the shell's close returns; elsewhere close is EINVAL. */
static void test_trunc_then_close(void)
{
	struct dfs_node *distro = lookup(img_dir, "os_distro"), *tag = lookup(app_dir, "tag");
	struct dfs_write_handle *w;
	long long v;

	w = open_w(distro, O_TRUNC);
	CHECK_INT(dfs_write_flush(w, &fs, distro, SHELL), 0);   /* dup2's close */
	CHECK_STR(content(distro), "ubuntu\n");
	CHECK_INT(dfs_write_flush(w, &fs, distro, SHELL), 0);   /* the shell's close */
	CHECK_STR(content(distro), "");
	CHECK_INT(dfs_write_release(w, &fs, distro), 0);

	/* a tool that opens and closes once (Python): at RELEASE */
	w = open_w(distro, O_TRUNC);
	CHECK_INT(dfs_write_flush(w, &fs, distro, SHELL), 0);
	CHECK_INT(dfs_write_release(w, &fs, distro), 0);
	CHECK_STR(content(distro), "");

	/* a value that cannot be empty: EINVAL at close, the error says why */
	v = app_version();
	w = open_w(tag, O_TRUNC);
	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), -EINVAL);
	CHECK_INT(dfs_write_release(w, &fs, tag), -EINVAL);
	CHECK(strstr(app_file("error"), "truncated and closed without a value") != NULL);
	CHECK_STR(app_file("tag"), "1.34\n");
	CHECK_INT(app_version(), v);

	/* `{ cmd; } > f`: a child's close is not the shell's */
	w = open_w(lookup(img_dir, "os_version"), O_TRUNC);
	CHECK_INT(dfs_write_flush(w, &fs, lookup(img_dir, "os_version"), SHELL), 0);
	CHECK_INT(dfs_write_flush(w, &fs, lookup(img_dir, "os_version"), CHILD), 0);
	CHECK_INT(dfs_write_release(w, &fs, lookup(img_dir, "os_version")), 0);
}

/* printf 'a\nb\n' > tags: one line a write(2), each checked as it comes,
 * committed at the shell's close, not at a child's. */
static void test_multiline(void)
{
	struct dfs_node *tags = lookup(img_dir, "tags");
	struct dfs_write_handle *w = open_w(tags, O_TRUNC);

	CHECK_INT(dfs_write_flush(w, &fs, tags, SHELL), 0);
	CHECK_INT(wr(w, tags, "a\n", 0), 0);
	CHECK_INT(wr(w, tags, "b\n", 2), 0);
	CHECK_STR(content(tags), "base\n");
	CHECK_INT(dfs_write_flush(w, &fs, tags, CHILD), 0);
	CHECK_STR(content(tags), "base\n");
	CHECK_INT(dfs_write_flush(w, &fs, tags, SHELL), 0);
	CHECK_STR(content(tags), "a\nb\n");
	CHECK_INT(dfs_write_release(w, &fs, tags), 0);

	/* a bad line is refused at its own write, and the rest with it */
	w = open_w(tags, O_TRUNC);
	CHECK_INT(dfs_write_flush(w, &fs, tags, SHELL), 0);
	CHECK_INT(wr(w, tags, "c\n", 0), 0);
	CHECK_INT(wr(w, tags, "d\te\x01\n", 2), -EINVAL);
	CHECK_INT(wr(w, tags, "f\n", 7), -EINVAL);
	CHECK_INT(dfs_write_flush(w, &fs, tags, SHELL), 0);
	CHECK_INT(dfs_write_release(w, &fs, tags), 0);
	CHECK_STR(content(tags), "a\nb\n");

	/* : > tags empties them */
	w = open_w(tags, O_TRUNC);
	CHECK_INT(dfs_write_flush(w, &fs, tags, SHELL), 0);
	CHECK_INT(dfs_write_flush(w, &fs, tags, SHELL), 0);
	CHECK_INT(dfs_write_release(w, &fs, tags), 0);
	CHECK_STR(content(tags), "");
}

/* A write after the close-time commit is refused. */
static void test_write_after_close_commit(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	struct dfs_write_handle *w = open_w(tag, O_TRUNC);

	CHECK_INT(wr(w, tag, "1.35", 0), 0);
	CHECK_INT(dfs_write_flush(w, &fs, tag, SHELL), 0);
	CHECK_INT(wr(w, tag, "1.36\n", 4), -EINVAL);
	CHECK_INT(dfs_write_release(w, &fs, tag), 0);
	CHECK_STR(app_file("tag"), "1.35\n");
}

/* Read-only files are not writable; the handle says what it is. */
static void test_read_only_and_handle(void)
{
	struct dfs_node *tag = lookup(app_dir, "tag");
	struct dfs_write_handle *w = open_w(tag, 0);
	struct dfs_handle *h = dfs_write_handle_link(w);

	CHECK(h != NULL && h->kind == DFS_H_WRITE);
	CHECK(dfs_write_handle_of(h) == w);
	CHECK(dfs_write_handle_of(NULL) == NULL);
	dfs_write_free(w);
	CHECK_INT(dfs_write_commit(&fs, lookup(app_dir, "version"), "3", 1), -EACCES);
	CHECK_INT(dfs_write_commit(&fs, app_dir, "3", 1), -EACCES);
}

int main(void)
{
	setup();
	test_shell_single_write();
	test_shell_write_without_newline();
	test_refused_and_retry();
	test_second_write_and_append();
	test_pieces_gathered();
	test_piece_then_flush();
	test_fsync();
	test_release_without_flush();
	test_same_value_is_a_change();
	test_normalisation();
	test_truncate();
	test_trunc_then_close();
	test_multiline();
	test_write_after_close_commit();
	test_read_only_and_handle();
	teardown();
	return unit_done("test_write");
}
