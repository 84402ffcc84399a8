/* events.c - the broadcast ring behind .deployfs/events (see events.h).
 *
 * One ring of the last DFS_EVENTS_BACKLOG lines, numbered; each reader
 * holds the number of the next line it wants. A reader further behind
 * than the ring reaches is told how many it lost. Replies to deferred
 * READs are sent under ev->mu, which no FUSE handler holds while waiting
 * on anything else, so that nothing can answer a request twice.
 */
#include "who.h"
#include "events.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

struct dfs_events_reader {
	struct dfs_events_reader *next;
	uint64_t seq;              /* next line wanted */
	size_t partial;            /* bytes of line seq already read */
	fuse_req_t req;            /* a blocked READ, or NULL */
	size_t req_size;
	struct fuse_pollhandle *ph;
	struct dfs_events *ev;
};

struct dfs_events {
	pthread_mutex_t mu;
	char *ring[DFS_EVENTS_BACKLOG];   /* line seq lives at ring[seq % BACKLOG] */
	uint64_t first;                   /* number of the oldest line held */
	uint64_t next;                    /* number of the next line published */
	size_t bytes;                     /* held in ring[first..next) */
	struct dfs_events_reader *readers;
};

struct dfs_events *dfs_events_new(void)
{
	struct dfs_events *ev = calloc(1, sizeof(*ev));

	if (ev)
		pthread_mutex_init(&ev->mu, NULL);
	return ev;
}

void dfs_events_free(struct dfs_events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->mu);
	while (ev->readers) {
		struct dfs_events_reader *r = ev->readers;

		ev->readers = r->next;
		if (r->req)
			fuse_reply_err(r->req, EINTR);
		if (r->ph)
			fuse_pollhandle_destroy(r->ph);
		free(r);
	}
	pthread_mutex_unlock(&ev->mu);
	for (size_t i = 0; i < DFS_EVENTS_BACKLOG; i++)
		free(ev->ring[i]);
	pthread_mutex_destroy(&ev->mu);
	free(ev);
}

static uint64_t oldest(const struct dfs_events *ev)
{
	return ev->first;
}

/* ev->mu held. Forget the oldest line. */
static void drop_oldest(struct dfs_events *ev)
{
	char **slot = &ev->ring[ev->first % DFS_EVENTS_BACKLOG];

	ev->bytes -= strlen(*slot);
	free(*slot);
	*slot = NULL;
	ev->first++;
}

static int ready(const struct dfs_events *ev, const struct dfs_events_reader *r)
{
	return r->seq < ev->next;
}

/* ev->mu held. Fill buf with whole lines (or the rest of a partial one)
 * for r, up to size bytes; advance r. Returns the length. */
static size_t take(struct dfs_events *ev, struct dfs_events_reader *r, char *buf, size_t size)
{
	size_t used = 0;

	if (r->seq < oldest(ev)) {
		char note[64];
		int n = snprintf(note, sizeof(note), "{\"dropped\":%llu}\n",
				 (unsigned long long)(oldest(ev) - r->seq));

		if ((size_t)n > size)
			return 0;
		memcpy(buf, note, (size_t)n);
		used = (size_t)n;
		r->seq = oldest(ev);
		r->partial = 0;
	}
	while (r->seq < ev->next && used < size) {
		const char *line = ev->ring[r->seq % DFS_EVENTS_BACKLOG];
		size_t len = strlen(line) - r->partial, n = len;

		if (n > size - used) {
			/* a line longer than the read: hand over a part, as a
			 * pipe would, but only when nothing else fits */
			if (used)
				break;
			n = size - used;
		}
		memcpy(buf + used, line + r->partial, n);
		used += n;
		if (n == len) {
			r->seq++;
			r->partial = 0;
		} else {
			r->partial += n;
		}
	}
	return used;
}

/* ev->mu held. Answer r's blocked read if it can be. */
static void serve(struct dfs_events *ev, struct dfs_events_reader *r)
{
	char *buf;
	size_t n;

	if (!r->req || !ready(ev, r))
		return;
	buf = malloc(r->req_size ? r->req_size : 1);
	if (!buf) {
		fuse_reply_err(r->req, ENOMEM);
		r->req = NULL;
		return;
	}
	n = take(ev, r, buf, r->req_size);
	fuse_reply_buf(r->req, buf, n);
	r->req = NULL;
	free(buf);
}

void dfs_events_publish(struct dfs_events *ev, const char *line)
{
	char *copy;
	size_t len = strlen(line);

	if (!ev)
		return;
	if (len + 1 > DFS_EVENTS_BYTES) {
		log_warnx("events: a line of %zu bytes is over the %d bytes held; not published",
			  len, DFS_EVENTS_BYTES);
		return;
	}
	copy = malloc(len + 2);
	if (!copy)
		return;
	memcpy(copy, line, len);
	copy[len] = '\n';
	copy[len + 1] = '\0';
	pthread_mutex_lock(&ev->mu);
	/* bounded by lines and by bytes: readers behind lose the oldest */
	while (ev->next - ev->first >= DFS_EVENTS_BACKLOG ||
	       (ev->next > ev->first && ev->bytes + len + 1 > DFS_EVENTS_BYTES))
		drop_oldest(ev);
	ev->ring[ev->next % DFS_EVENTS_BACKLOG] = copy;
	ev->bytes += len + 1;
	ev->next++;
	for (struct dfs_events_reader *r = ev->readers; r; r = r->next) {
		/* a reader in the middle of the line being overwritten loses it */
		if (r->partial && r->seq < oldest(ev))
			r->partial = 0;
		serve(ev, r);
		if (r->ph) {
			fuse_lowlevel_notify_poll(r->ph);
			fuse_pollhandle_destroy(r->ph);
			r->ph = NULL;
		}
	}
	pthread_mutex_unlock(&ev->mu);
}

void dfs_events_change(struct dfs_events *ev, const char *path, const char *old,
		       const char *new_, const char *origin)
{
	const struct dfs_who *who;
	struct timespec ts;
	struct tm tm;
	char when[64];
	json_t *o;
	char *line;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ts.tv_nsec / 1000000));
	o = json_pack("{s:s, s:s, s:o, s:o, s:s}", "time", when, "path", path,
		      "old", old ? json_string(old) : json_null(),
		      "new", new_ ? json_string(new_) : json_null(), "origin", origin);
	if (!o)
		return;
	/* a change written through this mount says by whom */
	who = strcmp(origin, "mount") == 0 ? dfs_who_committing() : NULL;
	if (who) {
		json_object_set_new(o, "user", json_string(who->user));
		json_object_set_new(o, "uid", json_integer(who->uid));
		json_object_set_new(o, "command", who->comm[0] ? json_string(who->comm) : json_null());
	}
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (line)
		dfs_events_publish(ev, line);
	free(line);
}

struct dfs_events_reader *dfs_events_open(struct dfs_events *ev)
{
	struct dfs_events_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->ev = ev;
	pthread_mutex_lock(&ev->mu);
	r->seq = ev->next;
	r->next = ev->readers;
	ev->readers = r;
	pthread_mutex_unlock(&ev->mu);
	return r;
}

void dfs_events_close(struct dfs_events *ev, struct dfs_events_reader *r)
{
	struct dfs_events_reader **p;

	if (!r)
		return;
	pthread_mutex_lock(&ev->mu);
	for (p = &ev->readers; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	if (r->req)
		fuse_reply_err(r->req, EINTR);
	if (r->ph)
		fuse_pollhandle_destroy(r->ph);
	pthread_mutex_unlock(&ev->mu);
	free(r);
}

/* Ctrl-C on a blocked reader: end its read at once.
 *
 * libfuse calls this with the request's own lock held, either from the
 * thread that reads the INTERRUPT (the request is kept alive for the call)
 * or at once from fuse_req_interrupt_func() when the interrupt came first.
 * data is the events object, which outlives the session, never a reader: a
 * reader may be closed and freed while an interrupt for its last request
 * is on its way. The request is answered only if a reader still holds it,
 * so it is answered exactly once. */
static void interrupted(fuse_req_t req, void *data)
{
	struct dfs_events *ev = data;

	pthread_mutex_lock(&ev->mu);
	for (struct dfs_events_reader *r = ev->readers; r; r = r->next)
		if (r->req == req) {
			r->req = NULL;
			fuse_reply_err(req, EINTR);
			break;
		}
	pthread_mutex_unlock(&ev->mu);
}

void dfs_events_read(struct dfs_events *ev, struct dfs_events_reader *r, fuse_req_t req,
		     size_t size, int nonblock)
{
	/* Registered before req is visible to a publisher, which may answer
	 * (and so free) it the moment it is stored in r. Called at once if the
	 * interrupt already came: it finds no reader holding req and does
	 * nothing, and the check below answers it. */
	if (!nonblock)
		fuse_req_interrupt_func(req, interrupted, ev);
	pthread_mutex_lock(&ev->mu);
	if (r->req) {
		/* one blocked read per open: a second one waits its turn in the
		 * kernel normally; refuse rather than lose the first */
		pthread_mutex_unlock(&ev->mu);
		fuse_reply_err(req, EBUSY);
		return;
	}
	if (ready(ev, r)) {
		r->req = req;
		r->req_size = size;
		serve(ev, r);
	} else if (nonblock) {
		fuse_reply_err(req, EAGAIN);
	} else if (fuse_req_interrupted(req)) {
		/* the interrupt came before r held req: interrupted() saw
		 * nothing to answer. Checked under ev->mu, so an interrupt that
		 * comes later finds r->req set. */
		fuse_reply_err(req, EINTR);
	} else {
		r->req = req;
		r->req_size = size;
	}
	pthread_mutex_unlock(&ev->mu);
}

void dfs_events_poll(struct dfs_events *ev, struct dfs_events_reader *r, fuse_req_t req,
		     struct fuse_pollhandle *ph)
{
	unsigned revents = 0;

	pthread_mutex_lock(&ev->mu);
	if (ready(ev, r))
		revents = POLLIN | POLLRDNORM;
	if (ph) {
		if (r->ph)
			fuse_pollhandle_destroy(r->ph);
		r->ph = revents ? NULL : ph;
		if (revents)
			fuse_pollhandle_destroy(ph);
	}
	pthread_mutex_unlock(&ev->mu);
	fuse_reply_poll(req, revents);
}
