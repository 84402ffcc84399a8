/* notify.c - the notifier thread: the one that tells the kernel about
 * changes made elsewhere (notify.h). What a change makes stale is worked
 * out by the change fan-out (fanout.c). */
#include "notify.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct job {
	struct job *next;
	fuse_ino_t ino;        /* inval_inode when name is NULL */
	char *name;            /* else inval_entry(ino, name) */
};

struct dfs_notifier {
	struct fuse_session *se;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail;
	int stop;
	int joined;            /* mu; the thread has ended */
};

static void *notifier_main(void *arg)
{
	struct dfs_notifier *n = arg;

	pthread_mutex_lock(&n->mu);
	for (;;) {
		struct job *j;

		while (!n->head && !n->stop)
			pthread_cond_wait(&n->cv, &n->mu);
		if (n->stop)
			break;
		j = n->head;
		n->head = j->next;
		if (!n->head)
			n->tail = &n->head;
		pthread_mutex_unlock(&n->mu);
		/* no lock held: the kernel may call back into handlers */
		if (j->name)
			fuse_lowlevel_notify_inval_entry(n->se, j->ino, j->name, strlen(j->name));
		else
			fuse_lowlevel_notify_inval_inode(n->se, j->ino, 0, 0);
		free(j->name);
		free(j);
		pthread_mutex_lock(&n->mu);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

struct dfs_notifier *dfs_notifier_new(struct fuse_session *se)
{
	struct dfs_notifier *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->se = se;
	n->tail = &n->head;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	if (pthread_create(&n->thread, NULL, notifier_main, n) != 0) {
		free(n);
		return NULL;
	}
	return n;
}

void dfs_notifier_stop(struct dfs_notifier *n)
{
	int join;

	if (!n)
		return;
	pthread_mutex_lock(&n->mu);
	n->stop = 1;
	join = !n->joined;
	n->joined = 1;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (join)
		pthread_join(n->thread, NULL);
}

void dfs_notifier_free(struct dfs_notifier *n)
{
	if (!n)
		return;
	dfs_notifier_stop(n);
	while (n->head) {
		struct job *j = n->head;

		n->head = j->next;
		free(j->name);
		free(j);
	}
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

static void push(struct dfs_notifier *n, fuse_ino_t ino, const char *name)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j || (name && !(j->name = strdup(name)))) {
		free(j);
		log_warnx("notifier: out of memory; the kernel may show stale data");
		return;
	}
	j->ino = ino;
	pthread_mutex_lock(&n->mu);
	if (n->stop) {   /* shutting down: the kernel's caches go with the mount */
		pthread_mutex_unlock(&n->mu);
		free(j->name);
		free(j);
		return;
	}
	*n->tail = j;
	n->tail = &j->next;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

void dfs_notifier_inval_inode(struct dfs_notifier *n, fuse_ino_t ino)
{
	push(n, ino, NULL);
}

void dfs_notifier_inval_entry(struct dfs_notifier *n, fuse_ino_t parent, const char *name)
{
	push(n, parent, name);
}
