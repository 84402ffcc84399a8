/* glance_poll.c - changes made elsewhere on Glance (glance.h): every poll
 * seconds one listing pass (pages followed) compared with the last state;
 * new, changed and deleted images go to the change callback. While Glance
 * is down a pass fails quietly: one log line when it goes away, one when it
 * answers again.
 */
#include "glance_internal.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whether doc is an older state than cur by updated_at (ISO 8601 UTC, so
 * the strings order as the times do; a tie is not older). */
static int older(const json_t *doc, const json_t *cur)
{
	const char *a = json_string_value(json_object_get(doc, "updated_at"));
	const char *b = json_string_value(json_object_get(cur, "updated_at"));

	return a && b && strcmp(a, b) < 0;
}

/* g->mu held. Make the cache what the pass read, reporting each difference;
 * entries a request stored after the pass began (seq > seq0) are newer than
 * what it read and stay. */
static void reconcile(struct glance *g, json_t *docs, uint64_t seq0)
{
	struct dfs_map *seen = dfs_map_new();
	struct glance_entry *e;
	const char *id;
	json_t *doc;
	size_t i, pos = 0, ndead = 0;
	char **dead = NULL;

	json_array_foreach(docs, i, doc) {
		id = json_string_value(json_object_get(doc, "id"));
		if (!seen || dfs_map_put(seen, id, (void *)1) < 0)
			goto out;   /* out of memory: no deletions from a partial view */
		e = dfs_map_get(g->objs, id);
		if (e && (e->seq > seq0 || json_equal(e->doc, doc) || older(doc, e->doc)))
			continue;
		if (glance_store(g, id, doc) == 0)
			glance_report(g, id, doc);
	}
	while ((e = dfs_map_next(g->objs, &pos, &id))) {
		char **v;

		if (dfs_map_get(seen, id) || e->seq > seq0)
			continue;
		v = realloc(dead, (ndead + 1) * sizeof(*v));
		if (!v)
			break;
		dead = v;
		dead[ndead++] = strdup(id);
	}
	for (i = 0; i < ndead; i++) {
		if (dead[i]) {
			glance_entry_free(dfs_map_del(g->objs, dead[i]));
			glance_report(g, dead[i], NULL);
		}
		free(dead[i]);
	}
out:
	free(dead);
	dfs_map_free(seen);
}

static void poll_once(struct glance *g)
{
	struct dfs_error err = { 0 };
	json_t *all = NULL;
	uint64_t seq0;
	int ret;

	pthread_mutex_lock(&g->mu);
	seq0 = g->seq;
	pthread_mutex_unlock(&g->mu);
	ret = glance_fetch_all(g, &all, dfs_deadline_ns(g->timeout), &err);
	if (ret < 0) {
		/* reads are served from the last state; say it once */
		if (!g->down && ret != -ECANCELED)
			log_warnx("%s; serving the last known images until it answers", err.msg);
		g->down = 1;
		return;
	}
	if (g->down)
		log_info("Glance answers again");
	g->down = 0;
	pthread_mutex_lock(&g->mu);
	reconcile(g, all, seq0);
	pthread_mutex_unlock(&g->mu);
	json_decref(all);
}

/* Wait seconds, or until stop: 1 when stopping. */
static int wait_stop(struct glance *g, double seconds)
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
	pthread_mutex_lock(&g->stop_mu);
	while (!g->stop && pthread_cond_timedwait(&g->stop_cv, &g->stop_mu, &ts) == 0)
		;
	stop = g->stop;
	pthread_mutex_unlock(&g->stop_mu);
	return stop || dfs_cancelled();
}

static void *poll_thread(void *arg)
{
	struct glance *g = arg;

	while (!wait_stop(g, g->poll))
		poll_once(g);
	return NULL;
}

int glance_watch(struct dfs_backend *b, dfs_change_cb cb, void *arg)
{
	struct glance *g = (struct glance *)b;

	g->cb = cb;
	g->cb_arg = arg;
	if (pthread_create(&g->thread, NULL, poll_thread, g) != 0)
		return -EAGAIN;
	g->watching = 1;
	return 0;
}
