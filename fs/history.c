/* history.c - journals of changes, the history files, rollback and the
 * audit log (history.h). */
#include "history.h"
#include "fs.h"
#include "journal.h"
#include "log.h"
#include "map.h"
#include "notify.h"
#include "schema.h"
#include "tree.h"
#include "who.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A change made elsewhere waits this long before it is recorded, so that
 * the daemon that made it has written its own line by then. */
#define SEEN_DELAY_NS 1000000000LL
/* At most this many changes wait; past it they are recorded at once. */
#define SEEN_QUEUE_MAX 4096

struct seen {
	struct seen *next;
	enum dfs_kind kind;
	char *id;
	json_t *entries;
	char after[17];
	int64_t due_ns;
};

/* The one history of the process: the schema's rows have no other way
 * to it. Set by dfs_history_start before the mount, cleared by
 * dfs_history_stop after it. */
static struct {
	struct dfs_fs *fs;
	struct dfs_journal *local, *remote;
	unsigned remote_mask;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;      /* the queue below; a leaf */
	pthread_cond_t cv;
	struct seen *head, **tail;
	size_t queued;
	int stop;
} H = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void rendered_free_all(void);

static struct dfs_journal *journal_of(enum dfs_kind k)
{
	return H.remote_mask & (1u << k) ? H.remote : H.local;
}

static void journal_name(enum dfs_kind k, const char *id, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s-%s", dfs_kind_dir(k), id);
}

static int has_history(enum dfs_kind k)
{
	return k == DFS_APP || k == DFS_IMAGE;
}

/* ---- lines ---- */

static void now_iso(char *out, size_t outsz)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ts.tv_nsec / 1000000));
}

/* The key of a document: the same for the same content, whoever parsed it. */
static void after_key(const json_t *doc, char out[17])
{
	char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	uint64_t h = s ? dfs_fnv1a(s, strlen(s)) : 0;
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, h >>= 4)
		out[i] = hex[h & 15];
	out[16] = '\0';
	free(s);
}

/* A file's content as a history value: its final newline dropped; an
 * empty file (an unset value) is NULL. */
static char *file_value(const struct dfs_attr *a, enum dfs_kind k, const char *id,
			const json_t *doc, const char *prop)
{
	struct dfs_obj o = { .kind = k, .id = (char *)id, .cache = (json_t *)doc,
			     .error = "", .digest = "" };

	return doc ? dfs_attr_value(a, &o, prop) : NULL;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* One line of a file's change: old and new (NULL: unset). */
static void add_entry(json_t *out, const char *file, const char *old, const char *new_)
{
	json_t *e = json_pack("{s:s, s:o, s:o}", "file", file, "old", str_or_null(old),
			      "new", str_or_null(new_));

	if (e)
		json_array_append_new(out, e);
}

static void diff_file(json_t *out, const struct dfs_attr *a, const char *file, enum dfs_kind k,
		      const char *id, const json_t *old, const json_t *new_, const char *prop)
{
	char *o = file_value(a, k, id, old, prop), *n = file_value(a, k, id, new_, prop);

	if (!(o == n || (o && n && strcmp(o, n) == 0)))
		add_entry(out, file, o, n);
	free(o);
	free(n);
}

/* The values a person changes: the rows with a store function that can be
 * read. An app's image is one line, its ref (image and tag are parts of
 * it); an image's custom properties are properties/KEY. */
static int recorded(enum dfs_kind k, const struct dfs_attr *a)
{
	if (!a->store || !(a->mode & 0444))
		return 0;
	return !(k == DFS_APP && (strcmp(a->name, "image") == 0 || strcmp(a->name, "tag") == 0 ||
				  strcmp(a->name, "rollback") == 0));
}

static json_t *diff(enum dfs_kind k, const char *id, const json_t *old, const json_t *new_)
{
	const struct dfs_attr *table = k == DFS_APP ? dfs_app_attrs : dfs_image_attrs;
	const json_t *side[2] = { old, new_ };
	json_t *out = json_array();
	char file[300];
	const char *key;
	json_t *v;

	if (!out || !has_history(k))
		return out;
	for (; table->name; table++)
		if (recorded(k, table))
			diff_file(out, table, table->name, k, id, old, new_, NULL);
	if (k != DFS_IMAGE)
		return out;
	for (int i = 0; i < 2; i++) {
		json_object_foreach((json_t *)side[i], key, v) {
			/* a key in both is looked at once, from the old side */
			if (i == 1 && json_object_get(old, key))
				continue;
			if (!dfs_image_is_property(key, v) &&
			    !dfs_image_is_property(key, json_object_get(side[!i], key)))
				continue;
			snprintf(file, sizeof(file), "properties/%s", key);
			diff_file(out, &dfs_property_attr, file, k, id, old, new_, key);
		}
	}
	return out;
}

/* Fill in what every line of one change carries. */
static void stamp(json_t *entries, const struct dfs_who *who, const char *origin,
		  const char *digest, const char *after)
{
	char when[64];
	size_t i;
	json_t *e;

	now_iso(when, sizeof(when));
	json_array_foreach(entries, i, e) {
		json_t *line = json_pack("{s:s, s:o, s:o, s:o, s:s}", "time", when,
					 "user", who && who->known ? json_string(who->user) : json_null(),
					 "uid", who && who->known ? json_integer(who->uid) : json_null(),
					 "command", who && who->known && who->comm[0] ?
						json_string(who->comm) : json_null(),
					 "origin", origin);
		const char *file = json_string_value(json_object_get(e, "file"));

		if (!line)
			continue;
		json_object_update(line, e);
		json_object_set_new(line, "digest", digest && *digest && file &&
				    strcmp(file, "ref") == 0 ? json_string(digest) : json_null());
		json_object_set_new(line, "after", json_string(after));
		json_array_set_new(entries, i, line);
	}
}

/* The history files of (k, id) show new lines now: a new generation for
 * the object (the files' cached content goes), and the kernel's pages of
 * them dropped by the notifier (from a thread with no lock held). */
static void inval_inode(void *arg, struct dfs_node *n)
{
	struct dfs_fs *fs = arg;

	if (fs->notifier)
		dfs_notifier_inval_inode(fs->notifier, n->ino);
}

static void touch(struct dfs_fs *fs, enum dfs_kind k, const char *id, int from_request)
{
	dfs_model_touch(fs->model, k, id);
	/* from inside a request, the write path drops attributes itself */
	if (!from_request && fs->tree)
		dfs_tree_changed_nodes(fs->tree, k, id, NULL, NULL, inval_inode, fs);
}

/* ---- the audit log ---- */

static void who_text(const struct dfs_who *who, char *out, size_t outsz)
{
	if (!who || !who->known)
		snprintf(out, outsz, "someone unknown");
	else
		snprintf(out, outsz, "%s (uid %lu, %s)", who->user, (unsigned long)who->uid,
			 who->comm[0] ? who->comm : "command unknown");
}

static void quoted(const json_t *v, char *out, size_t outsz)
{
	if (json_is_string(v))
		snprintf(out, outsz, "\"%s\"", json_string_value(v));
	else
		snprintf(out, outsz, "unset");
}

/* One info line for a commit through the mount: the file written, as
 * the user sees it, its value before and after, who, and the registry's
 * digest. When the file itself shows no change (rollback reads empty; the
 * value written again), the line names the value the history recorded. */
static void audit(enum dfs_kind k, const char *id, const char *dir, const char *file,
		  const json_t *old, const json_t *new_, json_t *entries,
		  const struct dfs_who *who, const char *digest)
{
	const struct dfs_attr *a = NULL;
	char w[160], o[600], n[600], what[320] = "";
	json_t *ov = NULL, *nv = NULL;

	if (strncmp(file, "properties/", 11) == 0)
		a = &dfs_property_attr;
	else if (k < DFS_KIND_COUNT)
		a = dfs_attr_find(k == DFS_APP ? dfs_app_attrs : k == DFS_IMAGE ? dfs_image_attrs :
				  k == DFS_ENV ? dfs_env_attrs : dfs_registry_attrs, file);
	if (a && (a->mode & 0444) && old && new_) {
		const char *prop = a == &dfs_property_attr ? file + 11 : NULL;
		char *ovs = file_value(a, k, id, old, prop), *nvs = file_value(a, k, id, new_, prop);

		if (!(ovs == nvs || (ovs && nvs && strcmp(ovs, nvs) == 0))) {
			ov = str_or_null(ovs);
			nv = str_or_null(nvs);
		}
		free(ovs);
		free(nvs);
	}
	if (!ov && json_array_size(entries)) {
		json_t *e = json_array_get(entries, 0);

		ov = json_incref(json_object_get(e, "old"));
		nv = json_incref(json_object_get(e, "new"));
		snprintf(what, sizeof(what), "%s ", json_string_value(json_object_get(e, "file")));
	}
	who_text(who, w, sizeof(w));
	if (!ov && a && !(a->mode & 0444)) {
		/* a secret (password, token): its value is never logged */
		log_info("%s/%s: changed (a secret: its value is never logged) by %s", dir, file, w);
		return;
	}
	quoted(ov, o, sizeof(o));
	quoted(nv, n, sizeof(n));
	log_info("%s/%s: %s%s -> %s by %s%s%s", dir, file, what, o, n, w,
		 digest && *digest ? "; digest " : "", digest && *digest ? digest : "");
	json_decref(ov);
	json_decref(nv);
}

void dfs_history_refused(const char *path, const struct dfs_who *who, const char *why)
{
	char w[160];

	if (who && who->known) {
		who_text(who, w, sizeof(w));
		/* "PATH: WHY" first, as the error file says it, for grep */
		log_warnx("%s: %s (refused; written by %s)", path, why, w);
	} else {
		log_warnx("%s: %s", path, why);
	}
}

void dfs_history_node_path(struct dfs_fs *fs, const struct dfs_node *n, char *out, size_t outsz)
{
	const char *file = n->prop ? n->prop : n->attr ? n->attr->name : n->name ? n->name : "?";
	json_t *doc = NULL;
	char dir[1024];

	if (!n->has_obj || !fs->tree) {
		dfs_tree_path(fs->tree, (struct dfs_node *)n, out, outsz);
		return;
	}
	dfs_model_rdlock(fs->model);
	{
		struct dfs_obj *o = dfs_model_find(fs->model, n->kind, n->oid);

		doc = o ? json_incref((json_t *)dfs_obj_doc(o)) : NULL;
	}
	dfs_model_unlock(fs->model);
	dfs_tree_object_dir(fs->tree, n->kind, n->oid, doc, dir, sizeof(dir));
	json_decref(doc);
	snprintf(out, outsz, "%s/%s%s", dir, n->prop ? "properties/" : "", file);
}

/* ---- recording ---- */

static void append(enum dfs_kind k, const char *id, json_t *entries, const char *dedup,
		   int *appended)
{
	struct dfs_journal *j = journal_of(k);
	struct dfs_error err = { 0 };
	char name[300];

	*appended = 0;
	if (!j)
		return;
	journal_name(k, id, name, sizeof(name));
	if (dfs_journal_append(j, name, entries, dedup ? "after" : NULL, dedup, appended, &err) < 0)
		log_warnx("history of %s/%s: %s; this change is not in it", dfs_kind_dir(k), id,
			  err.msg);
}

void dfs_history_commit(struct dfs_fs *fs, enum dfs_kind k, const char *id, const char *file,
			const json_t *old, const json_t *new_, const struct dfs_who *who,
			const char *digest)
{
	const char *written = file;
	json_t *entries, *cur = NULL;
	char dir[1024], after[17];
	int appended;

	dfs_model_rdlock(fs->model);
	{
		struct dfs_obj *obj = dfs_model_find(fs->model, k, id);

		cur = obj ? json_incref((json_t *)dfs_obj_doc(obj)) : NULL;
	}
	dfs_model_unlock(fs->model);
	entries = new_ ? diff(k, id, old, new_) : json_array();
	if (entries && !json_array_size(entries) && has_history(k)) {
		/* the value the file held, written again: still a change */
		const struct dfs_attr *a = NULL;
		char *v;

		if (k == DFS_APP && (strcmp(file, "image") == 0 || strcmp(file, "tag") == 0 ||
				     strcmp(file, "rollback") == 0))
			file = "ref";
		if (strncmp(file, "properties/", 11) == 0)
			a = &dfs_property_attr;
		else
			a = dfs_attr_find(k == DFS_APP ? dfs_app_attrs : dfs_image_attrs, file);
		v = a ? file_value(a, k, id, cur, a == &dfs_property_attr ? file + 11 : NULL) : NULL;
		if (a)
			add_entry(entries, file, v, v);
		free(v);
	}
	dfs_tree_object_dir(fs->tree, k, id, new_ ? new_ : cur, dir, sizeof(dir));
	if (!entries) {
		json_decref(cur);
		return;
	}
	after_key(new_ ? new_ : cur, after);
	stamp(entries, who, "mount", digest, after);
	audit(k, id, dir, written, old, new_, entries, who, digest);
	if (has_history(k)) {
		append(k, id, entries, NULL, &appended);
		if (appended)
			touch(fs, k, id, 1);
	}
	json_decref(entries);
	json_decref(cur);
}

static void record_seen(struct seen *s)
{
	int appended;

	append(s->kind, s->id, s->entries, s->after, &appended);
	/* appended or not (another daemon recorded it), the journal has
	 * changed since this object's files were last rendered */
	if (H.fs)
		touch(H.fs, s->kind, s->id, 0);
}

static void free_seen(struct seen *s)
{
	json_decref(s->entries);
	free(s->id);
	free(s);
}

static void *recorder_main(void *arg)
{
	pthread_mutex_lock(&H.mu);
	for (;;) {
		struct seen *s;

		while (!H.head && !H.stop)
			pthread_cond_wait(&H.cv, &H.mu);
		if (!H.head)
			break;   /* stopping, and nothing is left */
		s = H.head;
		if (!H.stop && H.queued <= SEEN_QUEUE_MAX && dfs_now_ns() < s->due_ns) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50000000;   /* 50 ms: due times are a second apart at most */
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&H.cv, &H.mu, &ts);
			continue;
		}
		H.head = s->next;
		if (!H.head)
			H.tail = &H.head;
		H.queued--;
		pthread_mutex_unlock(&H.mu);
		record_seen(s);   /* no lock held: the journal's flock, then the model's */
		free_seen(s);
		pthread_mutex_lock(&H.mu);
	}
	pthread_mutex_unlock(&H.mu);
	return NULL;
}

void dfs_history_seen(struct dfs_fs *fs, enum dfs_kind k, const char *id, const json_t *old,
		      const json_t *new_, const char *origin)
{
	struct dfs_who nobody = { 0 };
	struct seen *s;
	json_t *entries;

	if (!has_history(k) || !new_ || !old || !H.started)
		return;
	entries = diff(k, id, old, new_);
	if (!entries || !json_array_size(entries)) {
		json_decref(entries);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->id = strdup(id))) {
		free(s);
		json_decref(entries);
		log_warnx("history of %s/%s: out of memory; a change is not in it", dfs_kind_dir(k), id);
		return;
	}
	if (k == DFS_APP) {
		/* the apps API says who changed an app: its modifiedBy */
		const char *by = json_string_value(json_object_get(new_, "modifiedBy"));

		if (by && strcmp(origin, "remote") == 0 && strlen(by) <= DFS_WHO_USER_MAX) {
			nobody.known = 0;
			snprintf(nobody.user, sizeof(nobody.user), "%s", by);
		}
	}
	after_key(new_, s->after);
	stamp(entries, NULL, origin, NULL, s->after);
	if (nobody.user[0]) {
		size_t i;
		json_t *e;

		json_array_foreach(entries, i, e)
			json_object_set_new(e, "user", json_string(nobody.user));
	}
	s->kind = k;
	s->entries = entries;
	s->due_ns = dfs_now_ns() + SEEN_DELAY_NS;
	(void)fs;
	pthread_mutex_lock(&H.mu);
	*H.tail = s;
	H.tail = &s->next;
	H.queued++;
	pthread_cond_signal(&H.cv);
	pthread_mutex_unlock(&H.mu);
}

int dfs_history_start(struct dfs_fs *fs, const char *store, unsigned remote_mask,
		      struct dfs_error *err)
{
	char dir[PATH_MAX];

	H.fs = fs;
	H.remote_mask = remote_mask;
	H.tail = &H.head;
	snprintf(dir, sizeof(dir), "%s/.journal", store);
	H.local = dfs_journal_open(dir, err);
	if (!H.local)
		return -err->code;
	if (remote_mask) {
		snprintf(dir, sizeof(dir), "%s/.journal/remote", store);
		H.remote = dfs_journal_open(dir, err);
		if (!H.remote)
			return -err->code;
	}
	if (pthread_create(&H.thread, NULL, recorder_main, NULL) != 0)
		return dfs_error_set(err, EAGAIN, "history: cannot start its thread");
	H.started = 1;
	return 0;
}

void dfs_history_stop(void)
{
	if (H.started) {
		pthread_mutex_lock(&H.mu);
		H.stop = 1;
		pthread_cond_signal(&H.cv);
		pthread_mutex_unlock(&H.mu);
		pthread_join(H.thread, NULL);
		H.started = 0;
	}
	while (H.head) {
		struct seen *s = H.head;

		H.head = s->next;
		free_seen(s);
	}
	H.tail = &H.head;
	H.queued = 0;
	dfs_journal_free(H.local);
	dfs_journal_free(H.remote);
	H.local = H.remote = NULL;
	rendered_free_all();
	H.fs = NULL;
}

/* ---- the files ---- */

/* The journal of o as an array (new reference), or NULL. */
static json_t *read_journal(const struct dfs_obj *o)
{
	struct dfs_journal *j = journal_of(o->kind);
	struct dfs_error err = { 0 };
	char name[300];
	json_t *all;

	if (!j)
		return NULL;
	journal_name(o->kind, o->id, name, sizeof(name));
	if (dfs_journal_read(j, name, &all, &err) < 0) {
		log_warnx("history of %s/%s: %s", dfs_kind_dir(o->kind), o->id, err.msg);
		return NULL;
	}
	return all;
}

/* Two lines of one change: the writer's, and the one a watcher wrote
 * before the writer's came (their "after" is the same). The later of a
 * run of such lines with a known user stands for all of them. */
static int superseded(json_t *all, size_t i)
{
	json_t *e = json_array_get(all, i);
	const char *key = json_string_value(json_object_get(e, "after"));

	if (!key || !json_is_null(json_object_get(e, "uid")))
		return 0;
	for (size_t k = i + 1; k < json_array_size(all) && k <= i + DFS_JOURNAL_DEDUP; k++) {
		json_t *f = json_array_get(all, k);
		const char *fk = json_string_value(json_object_get(f, "after"));

		if (fk && strcmp(fk, key) == 0 && !json_is_null(json_object_get(f, "uid")))
			return 1;
	}
	return 0;
}

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* A tab-separated field: "\" "\t" "\n" "\r" escaped as \\ \t \n \r, so
 * a field never holds a tab or a line end; absent (null) is empty. */
static void put_field(struct buf *b, const json_t *v, int first)
{
	char num[32];
	const char *s = num;

	if (!first)
		put(b, "\t", 1);
	if (json_is_integer(v))
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_string(v))
		s = json_string_value(v);
	else
		return;
	while (*s) {
		size_t run = strcspn(s, "\\\t\n\r");   /* copied as it is */

		put(b, s, run);
		s += run;
		if (!*s)
			break;
		put(b, *s == '\\' ? "\\\\" : *s == '\t' ? "\\t" : *s == '\n' ? "\\n" : "\\r", 2);
		s++;
	}
}

static const char *const columns[] = {
	"n", "time", "user", "uid", "command", "origin", "file", "old", "new", "digest", NULL
};

static char *render_lines(json_t *all, int as_json, size_t *len)
{
	struct buf b = { 0 };
	json_t *e;
	size_t i;

	put(&b, "", 0);
	json_array_foreach(all, i, e) {
		if (superseded(all, i))
			continue;
		if (as_json) {
			json_t *line = json_object();
			char *s;

			for (int c = 0; columns[c] && line; c++) {
				json_t *v = json_object_get(e, columns[c]);

				json_object_set(line, columns[c], v ? v : json_null());
			}
			s = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
			json_decref(line);
			if (!s) {
				b.failed = 1;
				break;
			}
			put(&b, s, strlen(s));
			free(s);
		} else {
			for (int c = 0; columns[c]; c++)
				put_field(&b, json_object_get(e, columns[c]), c == 0);
		}
		put(&b, "\n", 1);
	}
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* The histories read last, parsed, so that a change reads and parses only
 * the lines appended since (the tree renders a history file whose inode
 * the kernel holds at every change of its object, under its locks). At
 * most RENDERED_MAX objects, each its journal's last DFS_JOURNAL_KEEP
 * lines parsed (about 1 MB at 1,000 lines) and its two texts. */
#define RENDERED_MAX 8

struct rendered {
	enum dfs_kind kind;
	char *id;                      /* NULL: a free slot */
	struct dfs_journal_pos pos;
	json_t *lines;
	char *text[2];                 /* history, history.json; NULL: to render */
	size_t len[2];
	uint64_t used;
};

static pthread_mutex_t rendered_mu = PTHREAD_MUTEX_INITIALIZER;   /* a leaf */
static struct rendered rendered[RENDERED_MAX];
static uint64_t rendered_clock;

static void rendered_clear(struct rendered *r)
{
	free(r->id);
	json_decref(r->lines);
	free(r->text[0]);
	free(r->text[1]);
	memset(r, 0, sizeof(*r));
}

static void rendered_free_all(void)
{
	pthread_mutex_lock(&rendered_mu);
	for (int i = 0; i < RENDERED_MAX; i++)
		rendered_clear(&rendered[i]);
	pthread_mutex_unlock(&rendered_mu);
}

/* rendered_mu held. The slot of (k, id), or the least recently used one
 * made free for it. NULL out of memory. */
static struct rendered *rendered_slot(enum dfs_kind k, const char *id)
{
	struct rendered *lru = &rendered[0];

	for (int i = 0; i < RENDERED_MAX; i++) {
		struct rendered *r = &rendered[i];

		if (r->id && r->kind == k && strcmp(r->id, id) == 0)
			return r;
		if (!r->id || (lru->id && r->used < lru->used))
			lru = r;
	}
	rendered_clear(lru);
	lru->kind = k;
	lru->id = strdup(id);
	return lru->id ? lru : NULL;
}

/* rendered_mu held. Take in the lines read since r's position. */
static int rendered_update(struct rendered *r, json_t *add, int restart)
{
	size_t n;

	if (restart || !r->lines) {
		json_decref(r->lines);
		r->lines = json_incref(add);
	} else if (json_array_size(add)) {
		json_array_extend(r->lines, add);
	} else {
		return 0;   /* nothing new */
	}
	n = json_array_size(r->lines);
	if (n > DFS_JOURNAL_KEEP) {
		json_t *keep = json_array();

		for (size_t i = n - DFS_JOURNAL_KEEP; keep && i < n; i++)
			json_array_append(keep, json_array_get(r->lines, i));
		json_decref(r->lines);
		r->lines = keep;
	}
	for (int t = 0; t < 2; t++) {
		free(r->text[t]);
		r->text[t] = NULL;
	}
	return r->lines ? 1 : -ENOMEM;
}

static char *render(const struct dfs_obj *o, int as_json, size_t *len)
{
	struct dfs_journal *j = journal_of(o->kind);
	struct dfs_error err = { 0 };
	struct rendered *r;
	json_t *add = NULL;
	char name[300], *out = NULL;
	int restart;

	if (!j) {
		*len = 0;
		return strdup("");
	}
	journal_name(o->kind, o->id, name, sizeof(name));
	pthread_mutex_lock(&rendered_mu);
	r = rendered_slot(o->kind, o->id);
	if (!r)
		goto out;
	r->used = ++rendered_clock;
	if (dfs_journal_read_since(j, name, &r->pos, &restart, &add, &err) < 0) {
		log_warnx("history of %s/%s: %s", dfs_kind_dir(o->kind), o->id, err.msg);
		rendered_clear(r);
		out = strdup("");
		*len = 0;
		goto out;
	}
	if (rendered_update(r, add, restart) < 0) {
		rendered_clear(r);
		goto out;
	}
	if (!r->text[as_json])
		r->text[as_json] = render_lines(r->lines, as_json, &r->len[as_json]);
	if (r->text[as_json]) {
		out = malloc(r->len[as_json] + 1);
		if (out) {
			memcpy(out, r->text[as_json], r->len[as_json] + 1);
			*len = r->len[as_json];
		}
	}
out:
	pthread_mutex_unlock(&rendered_mu);
	json_decref(add);
	return out;
}

char *dfs_show_history(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
		       size_t *len)
{
	return render(o, 0, len);
}

char *dfs_show_history_json(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
			    size_t *len)
{
	return render(o, 1, len);
}

void dfs_history_digest(const struct dfs_obj *o, char *out, size_t outsz)
{
	const struct dfs_attr *ref = dfs_attr_find(dfs_app_attrs, "ref");
	json_t *all, *e;
	char *cur;
	size_t i;

	out[0] = '\0';
	if (o->kind != DFS_APP || !ref)
		return;
	cur = file_value(ref, o->kind, o->id, dfs_obj_doc(o), NULL);
	all = cur ? read_journal(o) : NULL;
	/* the newest line that set the image the app has now */
	for (i = json_array_size(all); i-- > 0;) {
		const char *file, *new_, *d;

		e = json_array_get(all, i);
		file = json_string_value(json_object_get(e, "file"));
		new_ = json_string_value(json_object_get(e, "new"));
		if (!file || strcmp(file, "ref") != 0)
			continue;
		if (!new_ || strcmp(new_, cur) != 0)
			break;   /* the image changed since without a digest */
		d = json_string_value(json_object_get(e, "digest"));
		if (d) {
			snprintf(out, outsz, "%s", d);
			break;
		}
	}
	json_decref(all);
	free(cur);
}

/* rollback: N, the number of a history line of the app's image */
int dfs_store_app_rollback(struct dfs_store_ctx *c, const char *value, struct dfs_error *err)
{
	json_t *all = NULL, *e, *hit = NULL;
	struct dfs_obj *o = c->obj;
	char ref[700], *end;
	unsigned long long n;
	const char *new_, *d;
	size_t i;
	int ret;

	errno = 0;
	n = strtoull(value, &end, 10);
	if (!*value || *end || errno || value[0] == '-' || value[0] == '+' || n == 0 ||
	    n > (1ULL << 53))
		return dfs_error_set(err, EINVAL, "rollback \"%.64s\": write the number of a line "
				     "of history (its first column)", value);
	all = read_journal(o);
	if (!all)
		return dfs_error_set(err, EIO, "rollback %llu: the history cannot be read", n);
	json_array_foreach(all, i, e)
		if ((unsigned long long)json_integer_value(json_object_get(e, "n")) == n)
			hit = e;
	if (!hit) {
		json_decref(all);
		return dfs_error_set(err, EINVAL, "rollback %llu: history has no line %llu", n, n);
	}
	new_ = json_string_value(json_object_get(hit, "new"));
	d = json_string_value(json_object_get(hit, "digest"));
	if (!json_is_string(json_object_get(hit, "file")) ||
	    strcmp(json_string_value(json_object_get(hit, "file")), "ref") != 0 || !new_) {
		json_decref(all);
		return dfs_error_set(err, EINVAL, "rollback %llu: line %llu is not a change of the "
				     "app's image (ref)", n, n);
	}
	/* pinned to the digest the registry answered then: refused if the
	 * tag has moved since */
	if (d)
		snprintf(ref, sizeof(ref), "%s@%s", new_, d);
	else
		snprintf(ref, sizeof(ref), "%s", new_);
	json_decref(all);
	ret = dfs_store_app_ref(c, ref, err);
	if (ret < 0 && err->code) {
		char msg[sizeof(err->msg)];
		int k = snprintf(msg, sizeof(msg), "rollback %llu: ", n);

		if (k > 0 && (size_t)k < sizeof(msg)) {
			snprintf(msg + k, sizeof(msg) - (size_t)k, "%.*s", (int)(sizeof(msg) - (size_t)k - 1),
				 err->msg);
			memcpy(err->msg, msg, sizeof(msg));
		}
	}
	return ret;
}
