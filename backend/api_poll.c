/* api_poll.c - changes made elsewhere on the apps API (api.h): every poll
 * seconds one pass (the environments, then one app list per environment,
 * pages followed) compared with the last state; differences go to the
 * change callback. While the API is down a pass fails quietly: one log
 * line when it goes away, one when it answers again.
 */
#include "api_internal.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whether doc is an older state than cur by version (a view read before
 * a write of ours that the API has already answered). */
static int older(const json_t *doc, const json_t *cur)
{
	json_t *x = json_object_get(doc, "version"), *y = json_object_get(cur, "version");

	return json_is_integer(x) && json_is_integer(y) &&
	       json_integer_value(x) < json_integer_value(y);
}

/* a->mu held. Make kind k (apps of env when env is set) what the pass
 * read, reporting each difference; entries a write stored after the pass
 * began (seq > seq0) are newer than what it read and stay. */
static void reconcile(struct api *a, enum dfs_kind k, json_t *docs, uint64_t seq0)
{
	struct dfs_map *seen = dfs_map_new();
	struct api_entry *e;
	const char *id;
	json_t *doc;
	size_t i, pos = 0;
	char **dead = NULL;
	size_t ndead = 0;

	json_array_foreach(docs, i, doc) {
		id = api_str(doc, "id");
		if (!seen || dfs_map_put(seen, id, (void *)1) < 0)
			goto out;   /* out of memory: no deletions from a partial view */
		e = dfs_map_get(a->objs[k], id);
		if (e && (e->seq > seq0 || (e->doc && (json_equal(e->doc, doc) ||
						       older(doc, e->doc)))))
			continue;
		api_store(a, k, id, doc, k == DFS_APP ? api_str(doc, "envIdRef") : NULL, NULL);
		api_report(a, k, id, doc);
	}
	while ((e = dfs_map_next(a->objs[k], &pos, &id))) {
		char **v;

		if (dfs_map_get(seen, id) || e->seq > seq0 || !e->doc)
			continue;
		v = realloc(dead, (ndead + 1) * sizeof(*v));
		if (!v)
			break;
		dead = v;
		dead[ndead++] = strdup(id);
	}
	for (i = 0; i < ndead; i++) {
		if (dead[i]) {
			api_entry_free(dfs_map_del(a->objs[k], dead[i]));
			api_report(a, k, dead[i], NULL);
		}
		free(dead[i]);
	}
out:
	free(dead);
	dfs_map_free(seen);
}

static void poll_once(struct api *a)
{
	struct dfs_error err = { 0 };
	json_t *envs = NULL, *apps = json_array(), *env;
	uint64_t seq0;
	size_t i;
	int ret;

	pthread_mutex_lock(&a->mu);
	seq0 = a->seq;
	pthread_mutex_unlock(&a->mu);
	ret = api_fetch_envs(a, &envs, &err);
	json_array_foreach(envs, i, env) {
		json_t *some = NULL;

		if (ret < 0)
			break;
		ret = api_fetch_apps(a, api_str(env, "id"), &some, &err);
		if (ret == -ENOENT)   /* deleted since the first list: no apps */
			ret = 0;
		if (some)
			json_array_extend(apps, some);
		json_decref(some);
	}
	if (ret < 0) {
		/* reads are served from the last state; say it once */
		if (!a->down && ret != -ECANCELED)
			log_warnx("%s; serving the last known state until it answers", err.msg);
		a->down = 1;
		goto out;
	}
	if (a->down)
		log_info("apps API answers again");
	a->down = 0;
	pthread_mutex_lock(&a->mu);
	reconcile(a, DFS_ENV, envs, seq0);
	reconcile(a, DFS_APP, apps, seq0);
	pthread_mutex_unlock(&a->mu);
	api_learn_registries(a, 1, NULL);
out:
	json_decref(envs);
	json_decref(apps);
}

/* Wait seconds, or until stop: 1 when stopping. */
static int wait_stop(struct api *a, double seconds)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)seconds;
	ts.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&a->stop_mu);
	while (!a->stop && pthread_cond_timedwait(&a->stop_cv, &a->stop_mu, &ts) == 0)
		;
	stop = a->stop;
	pthread_mutex_unlock(&a->stop_mu);
	return stop || dfs_cancelled();
}

static void *poll_thread(void *arg)
{
	struct api *a = arg;

	while (!wait_stop(a, a->poll))
		poll_once(a);
	return NULL;
}

int api_watch(struct dfs_backend *b, dfs_change_cb cb, void *arg)
{
	struct api *a = api_of(b);

	a->cb = cb;
	a->cb_arg = arg;
	if (pthread_create(&a->thread, NULL, poll_thread, a) != 0)
		return -EAGAIN;
	a->watching = 1;
	return 0;
}
