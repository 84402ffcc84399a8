/* drift.c - the drift thread (drift.h says what it does).
 *
 * Each pass copies, under the model lock, every app's reference (name,
 * tag, registry object), asks the registry once per distinct reference
 * (no lock held), and then judges each app under its write lock and the
 * model lock (so that a write, or a change made elsewhere, between the
 * question and the answer is seen), recording in d->mu what it found.
 */
#include "drift.h"
#include "echo.h"
#include "events.h"
#include "fs.h"
#include "jsonpatch.h"
#include "log.h"
#include "map.h"
#include "regopts.h"
#include "tree.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REF_MAX (DFS_NAME_MAX + DFS_TAG_MAX + 300)

/* What is known of one app: d->mu. */
struct rec {
	char ref[REF_MAX];                 /* the reference the record is for */
	char base[DFS_DIGEST_MAX + 1];     /* the deployed digest; "" until recorded */
	char cur[DFS_DIGEST_MAX + 1];      /* what the tag resolves to, while drifting */
	char since[32];                    /* when the drift was first seen */
	int drifting;
};

struct dfs_drift {
	struct dfs_fs *fs;
	struct dfs_registry_client *client;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;                  /* mu */
	struct dfs_map *recs;      /* mu: app id -> struct rec * */
	struct dfs_map *failing;   /* the thread's: references whose check fails */
};

/* The one drift state of the process, for dfs_show_drift (a show
 * function has no daemon to ask). Set before the thread starts, cleared
 * after it ended. */
static struct dfs_drift *the_drift;

/* One app as a pass sees it. */
struct item {
	struct dfs_obj *o;
	char *id;
	char ref[REF_MAX];          /* name:tag|registry id */
	char image[DFS_NAME_MAX + DFS_TAG_MAX + 2];
	json_t *regdoc;             /* its registry object, or NULL */
	int ret;                    /* the registry's answer */
	char digest[DFS_DIGEST_MAX + 1];
	struct dfs_error err;
};

/* Model lock held. The app's reference as "name:tag|registry" into ref,
 * and "name:tag" into image; 0 when it has no image name (nothing to
 * check). */
static int app_ref(const json_t *doc, char *ref, size_t refsz, char *image, size_t imagesz)
{
	const char *name = json_string_value(jsonpointer_get(doc, "/source/image/name"));
	const char *tag = json_string_value(jsonpointer_get(doc, "/source/image/tag"));
	const char *reg = json_string_value(jsonpointer_get(doc,
				"/source/containerRegistryConfigIdRef"));

	if (!name || !*name || json_is_true(json_object_get(doc, "isDeleted")))
		return 0;
	snprintf(image, imagesz, "%s:%s", name, tag && *tag ? tag : "latest");
	snprintf(ref, refsz, "%s|%s", image, reg ? reg : "");
	return 1;
}

static void now_iso(char *out, size_t outsz)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* d->mu held. The record of app id, made when missing; NULL on ENOMEM. */
static struct rec *rec_get(struct dfs_drift *d, const char *id)
{
	struct rec *r = dfs_map_get(d->recs, id);

	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (r && dfs_map_put(d->recs, id, r) < 0) {
		free(r);
		r = NULL;
	}
	return r;
}

char *dfs_show_drift(const struct dfs_attr *a, const struct dfs_obj *o, const char *prop,
		     size_t *len)
{
	struct dfs_drift *d = __atomic_load_n(&the_drift, __ATOMIC_ACQUIRE);
	struct rec *r;
	char *out = NULL;
	int n = 0;

	if (d) {
		pthread_mutex_lock(&d->mu);
		r = dfs_map_get(d->recs, o->id);
		if (r && r->drifting)
			n = asprintf(&out, "since %s from %s to %s\n", r->since, r->base, r->cur);
		pthread_mutex_unlock(&d->mu);
	}
	if (n < 0)
		return NULL;
	if (!out)
		out = strdup("");
	if (out)
		*len = (size_t)n;
	return out;
}

/* Ask the registry about it->image (the answer goes into it). */
static void ask(struct dfs_drift *d, struct item *it)
{
	struct dfs_registry_creds creds;
	struct dfs_reference ref;
	const json_t *rd = it->regdoc;

	it->ret = dfs_reference_parse(it->image, &ref, &it->err);
	if (it->ret < 0)
		return;
	creds = dfs_registry_creds_of(rd);   /* as the write path's check */
	it->ret = dfs_registry_check(d->client, &ref, rd ? &creds : NULL,
				     dfs_deadline_ns(d->fs->cfg.timeout), it->digest, &it->err);
}

/* Log a reference's check failing (once, until it answers again). */
static void note_failure(struct dfs_drift *d, const struct item *it)
{
	if (it->ret == -ECANCELED)
		return;
	if (it->ret == 0) {
		if (dfs_map_del(d->failing, it->ref))
			log_info("drift check of %s: the registry answers again", it->image);
		return;
	}
	if (dfs_map_get(d->failing, it->ref))
		return;
	if (dfs_map_put(d->failing, it->ref, (void *)1) == 0)
		log_warnx("drift check of %s: %s; not checked until it answers (no drift is "
			  "shown for it)", it->image, it->err.msg);
}

enum verdict { SAME, RECORD, DRIFT, BACK };

/* Judge one app on its answer; on DRIFT or BACK, old and new are what
 * `digest` showed and shows now, text the drift file's new content. */
static enum verdict judge(struct dfs_drift *d, struct item *it, char *old, char *text,
			  size_t textsz, json_t **doc)
{
	struct dfs_model *m = d->fs->model;
	enum verdict v = SAME;
	char ref[REF_MAX], image[sizeof(it->image)];
	struct dfs_error err = { 0 };
	struct rec *r;

	if (dfs_obj_wlock(it->o, dfs_deadline_ns(d->fs->cfg.timeout), &err) < 0)
		return SAME;   /* a write holds it: the next pass judges */
	dfs_model_rdlock(m);
	/* changed since the question (a write, a change made elsewhere): the
	 * answer is about another reference */
	if (it->o->gone || !app_ref(dfs_obj_doc(it->o), ref, sizeof(ref), image, sizeof(image)) ||
	    strcmp(ref, it->ref) != 0)
		goto out_unlock_model;
	snprintf(old, DFS_DIGEST_MAX + 1, "%s", it->o->digest);
	pthread_mutex_lock(&d->mu);
	r = rec_get(d, it->o->id);
	if (!r)
		goto out_unlock_all;
	if (strcmp(r->ref, it->ref) != 0) {
		/* first seen, or its reference changed: nothing recorded yet */
		snprintf(r->ref, sizeof(r->ref), "%s", it->ref);
		r->base[0] = '\0';
		r->drifting = 0;
	}
	if (!r->base[0]) {
		snprintf(r->base, sizeof(r->base), "%s", it->digest);
		v = strcmp(old, it->digest) ? RECORD : SAME;
	} else if (strcmp(it->digest, r->base) != 0) {
		if (!r->drifting) {
			r->drifting = 1;
			now_iso(r->since, sizeof(r->since));
		}
		snprintf(r->cur, sizeof(r->cur), "%s", it->digest);
		v = strcmp(old, it->digest) ? DRIFT : SAME;
		snprintf(text, textsz, "since %s from %s to %s\n", r->since, r->base, r->cur);
	} else if (r->drifting) {
		r->drifting = 0;
		v = BACK;
		text[0] = '\0';
	} else if (strcmp(old, it->digest) != 0) {
		v = RECORD;   /* digest showed an older answer */
	}
	if (v != SAME)
		*doc = json_incref((json_t *)dfs_obj_doc(it->o));
out_unlock_all:
	pthread_mutex_unlock(&d->mu);
out_unlock_model:
	dfs_model_unlock(m);
	/* after the record: a reader that renders in between caches the new
	 * content under the old generation, never the other way round */
	if (v != SAME)
		dfs_model_set_digest(m, it->o, it->digest);
	dfs_obj_wunlock(it->o);
	return v;
}

/* Tell the events stream and the watchers. No lock held. */
static void report(struct dfs_drift *d, const struct item *it, enum verdict v, const char *old,
		   const char *text, const json_t *doc)
{
	struct dfs_fs *fs = d->fs;
	char dir[1024], path[1100], content[DFS_DIGEST_MAX + 2];

	dfs_tree_object_dir(fs->tree, DFS_APP, it->o->id, doc, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/digest", dir);
	snprintf(content, sizeof(content), "%s\n", it->digest);
	if (v == DRIFT)
		log_warnx("drift: %s: %s now resolves to %s (deployed: %s)", dir, it->image,
			  it->digest, old[0] ? old : "unknown");
	else
		log_info("drift: %s: %s resolves to its deployed digest %s again", dir,
			 it->image, it->digest);
	dfs_events_change(fs->events, path, old[0] ? old : NULL, it->digest, "registry");
	dfs_echo_file(fs->echo, DFS_APP, it->o->id, "digest", 0, path, content, strlen(content));
	snprintf(path, sizeof(path), "%s/drift", dir);
	dfs_echo_file(fs->echo, DFS_APP, it->o->id, "drift", 0, path, text, strlen(text));
}

static void item_free(struct item *it)
{
	free(it->id);
	json_decref(it->regdoc);
}

static int stopping(struct dfs_drift *d)
{
	int s;

	pthread_mutex_lock(&d->mu);
	s = d->stop;
	pthread_mutex_unlock(&d->mu);
	return s || dfs_cancelled();
}

static void pass(struct dfs_drift *d)
{
	struct dfs_model *m = d->fs->model;
	struct dfs_map *asked = dfs_map_new();   /* reference -> its first item */
	struct dfs_obj **apps;
	struct item *items;
	size_t n, k = 0;

	dfs_model_rdlock(m);
	apps = dfs_model_list(m, DFS_APP, &n);
	items = calloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; apps && items && i < n; i++) {
		struct item *it = &items[k];
		const char *reg;

		if (!app_ref(dfs_obj_doc(apps[i]), it->ref, sizeof(it->ref), it->image, sizeof(it->image)))
			continue;
		it->o = apps[i];
		it->id = strdup(apps[i]->id);
		reg = json_string_value(jsonpointer_get(dfs_obj_doc(apps[i]),
				"/source/containerRegistryConfigIdRef"));
		if (reg && *reg) {
			struct dfs_obj *r = dfs_model_find(m, DFS_REGISTRY, reg);

			it->regdoc = r ? json_incref((json_t *)dfs_obj_doc(r)) : NULL;
		}
		k++;
	}
	dfs_model_unlock(m);
	free(apps);
	if (!items || !asked)
		goto out_free;
	for (size_t i = 0; i < k && !stopping(d); i++) {
		struct item *it = &items[i], *first = dfs_map_get(asked, it->ref);
		char old[DFS_DIGEST_MAX + 1] = "", text[3 * DFS_DIGEST_MAX];
		json_t *doc = NULL;
		enum verdict v;

		if (first) {
			/* one HEAD per distinct reference per pass */
			it->ret = first->ret;
			it->err = first->err;
			memcpy(it->digest, first->digest, sizeof(it->digest));
		} else {
			ask(d, it);
			dfs_map_put(asked, it->ref, it);
			note_failure(d, it);
		}
		if (it->ret < 0 || !it->digest[0])
			continue;   /* an error is never drift */
		v = judge(d, it, old, text, sizeof(text), &doc);
		if (v == DRIFT || v == BACK)
			report(d, it, v, old, text, doc);
		json_decref(doc);
	}
out_free:
	for (size_t i = 0; items && i < k; i++)
		item_free(&items[i]);
	free(items);
	dfs_map_free(asked);
}

static void *drift_main(void *arg)
{
	struct dfs_drift *d = arg;
	int64_t period = (int64_t)(d->fs->cfg.drift * 1e9), next = dfs_now_ns();

	pthread_mutex_lock(&d->mu);
	while (!d->stop) {
		int64_t now = dfs_now_ns();

		if (now < next) {
			struct timespec ts = { next / 1000000000, next % 1000000000 };

			pthread_cond_timedwait(&d->cv, &d->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&d->mu);
		pass(d);
		pthread_mutex_lock(&d->mu);
		/* a period from start to start; a pass longer than that is
		 * followed by the next at once */
		next += period;
		if (next < dfs_now_ns())
			next = dfs_now_ns();
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

struct dfs_drift *dfs_drift_new(struct dfs_fs *fs)
{
	struct dfs_registry_opts ro = dfs_registry_opts_of(&fs->cfg);
	struct dfs_error err = { 0 };
	struct dfs_drift *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	sigset_t all, old;
	int ret;

	if (!d)
		goto out_fail;
	d->fs = fs;
	d->recs = dfs_map_new();
	d->failing = dfs_map_new();
	d->client = dfs_registry_client_new(&ro, &err);
	if (!d->recs || !d->failing || !d->client)
		goto out_free;
	pthread_mutex_init(&d->mu, NULL);
	/* dfs_now_ns's clock, for the wait between passes */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	__atomic_store_n(&the_drift, d, __ATOMIC_RELEASE);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&d->thread, NULL, drift_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret == 0) {
		log_info("drift: every %g s, one registry HEAD per image reference", fs->cfg.drift);
		return d;
	}
	__atomic_store_n(&the_drift, NULL, __ATOMIC_RELEASE);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
out_free:
	dfs_registry_client_free(d->client);
	dfs_map_free(d->recs);
	dfs_map_free(d->failing);
	free(d);
out_fail:
	log_warnx("drift=: cannot start the drift check%s%s", err.msg[0] ? ": " : "", err.msg);
	return NULL;
}

void dfs_drift_free(struct dfs_drift *d)
{
	struct rec *r;
	size_t pos = 0;

	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = 1;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	/* the process is exiting: a HEAD in flight ends now, not at its deadline */
	dfs_cancel_all();
	pthread_join(d->thread, NULL);
	__atomic_store_n(&the_drift, NULL, __ATOMIC_RELEASE);
	while ((r = dfs_map_next(d->recs, &pos, NULL)))
		free(r);
	dfs_map_free(d->recs);
	dfs_map_free(d->failing);
	dfs_registry_client_free(d->client);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

/* d->mu held. Forget what was recorded for id; 1 when it was drifting. */
static int forget(struct dfs_drift *d, const char *id, const char *ref, const char *digest)
{
	struct rec *r = rec_get(d, id);
	int was;

	if (!r)
		return 0;
	was = r->drifting;
	snprintf(r->ref, sizeof(r->ref), "%s", ref);
	snprintf(r->base, sizeof(r->base), "%s", digest);
	r->drifting = 0;
	return was;
}

void dfs_drift_deployed(struct dfs_drift *d, struct dfs_obj *o, const char *digest)
{
	struct dfs_model *m;
	char ref[REF_MAX], image[DFS_NAME_MAX + DFS_TAG_MAX + 2];
	int ok, was = 0;

	if (!d || o->kind != DFS_APP)
		return;
	m = d->fs->model;
	dfs_model_rdlock(m);
	ok = !o->gone && app_ref(dfs_obj_doc(o), ref, sizeof(ref), image, sizeof(image));
	if (ok) {
		pthread_mutex_lock(&d->mu);
		was = forget(d, o->id, ref, digest);
		pthread_mutex_unlock(&d->mu);
	}
	dfs_model_unlock(m);
	/* the drift file's content changed: a new generation after it */
	if (ok && was)
		dfs_model_set_digest(m, o, digest);
}

void dfs_drift_changed(struct dfs_drift *d, enum dfs_kind k, const char *id, const json_t *old,
		       const json_t *new_, const char *origin)
{
	char a[REF_MAX], b[REF_MAX], image[DFS_NAME_MAX + DFS_TAG_MAX + 2];
	struct dfs_obj *o;
	int was;

	if (!d || k != DFS_APP || !old || !new_ || strcmp(origin, "mount") == 0)
		return;
	if (!app_ref(old, a, sizeof(a), image, sizeof(image)))
		a[0] = '\0';
	if (!app_ref(new_, b, sizeof(b), image, sizeof(image)) || strcmp(a, b) == 0)
		return;
	/* deployed elsewhere: the digest recorded here was another image's */
	pthread_mutex_lock(&d->mu);
	was = forget(d, id, b, "");
	pthread_mutex_unlock(&d->mu);
	if (!was)
		return;
	dfs_model_rdlock(d->fs->model);
	o = dfs_model_find(d->fs->model, DFS_APP, id);
	dfs_model_unlock(d->fs->model);
	if (o)
		dfs_model_set_digest(d->fs->model, o, "");
}
