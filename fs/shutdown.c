/* shutdown.c - a prompt, clean exit on a signal (see shutdown.h).
 *
 * The handler only sets flags and posts a semaphore (both async-signal-
 * safe). A thread of ours does the waiting, then sends the signal to the
 * loop's thread, where libfuse's handler (kept in prev[]) ends the loop
 * and the signal interrupts the loop's wait.
 */
#include "shutdown.h"
#include "fs.h"
#include "notify.h"
#include "echo.h"
#include "error.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
#define NSIGS (sizeof(sigs) / sizeof(sigs[0]))

static struct sigaction prev[NSIGS];   /* libfuse's handlers */
static volatile sig_atomic_t got;      /* the first signal, 0 before it */
static int busy;                       /* atomic: writes in flight */
static sem_t wake;
static pthread_t thread, loop_thread;
static struct dfs_fs *the_fs;
static int started;

void dfs_busy_enter(void)
{
	__atomic_add_fetch(&busy, 1, __ATOMIC_SEQ_CST);
}

void dfs_busy_leave(void)
{
	__atomic_sub_fetch(&busy, 1, __ATOMIC_SEQ_CST);
}

static void pass_on(int sig)
{
	for (size_t i = 0; i < NSIGS; i++) {
		if (sigs[i] != sig)
			continue;
		if (prev[i].sa_flags & SA_SIGINFO)
			prev[i].sa_sigaction(sig, NULL, NULL);
		else if (prev[i].sa_handler != SIG_IGN && prev[i].sa_handler != SIG_DFL)
			prev[i].sa_handler(sig);
	}
}

static void on_signal(int sig)
{
	int saved = errno;

	if (got) {
		pass_on(sig);   /* the second one, or ours to the loop: end it */
	} else {
		got = sig;
		dfs_cancel_all();
		sem_post(&wake);
	}
	errno = saved;
}

static void *shutdown_thread(void *arg)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	int waited = 0;

	while (sem_wait(&wake) < 0 && errno == EINTR)
		;
	if (!got)
		return NULL;   /* dfs_shutdown_stop: the loop ended by itself */
	log_info("%s: unmounting (network waits cancelled, writes in flight finish)",
		 strsignal(got));
	while (__atomic_load_n(&busy, __ATOMIC_SEQ_CST) > 0 && waited < DFS_SHUTDOWN_GRACE_MS) {
		nanosleep(&tick, NULL);
		waited += 5;
	}
	if (waited >= DFS_SHUTDOWN_GRACE_MS)
		log_warnx("writes still in flight after %d ms; exiting anyway", waited);
	/* while requests are still answered: a notification may be waiting
	 * in the kernel for one (a directory lock held by a caller) */
	dfs_notifier_stop(the_fs->notifier);
	dfs_echo_stop(the_fs->echo);
	pthread_kill(loop_thread, got);
	return NULL;
}

int dfs_shutdown_start(struct dfs_fs *fs)
{
	struct sigaction sa;
	sigset_t all, old;
	int ret;

	the_fs = fs;
	if (sem_init(&wake, 0, 0) < 0)
		return -errno;
	loop_thread = pthread_self();
	/* the thread never takes these signals itself: they must reach a
	 * thread whose wait they interrupt */
	sigemptyset(&all);
	for (size_t i = 0; i < NSIGS; i++)
		sigaddset(&all, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&thread, NULL, shutdown_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		sem_destroy(&wake);
		return -ret;
	}
	started = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSIGS; i++) {
		struct sigaction cur;

		/* a signal ignored when we started stays ignored, as libfuse does */
		if (sigaction(sigs[i], NULL, &cur) == 0 && cur.sa_handler == SIG_IGN) {
			prev[i] = cur;
			continue;
		}
		sigaction(sigs[i], &sa, &prev[i]);
	}
	return 0;
}

void dfs_shutdown_stop(void)
{
	if (!started)
		return;
	for (size_t i = 0; i < NSIGS; i++)
		if (prev[i].sa_handler != SIG_IGN)
			sigaction(sigs[i], &prev[i], NULL);
	sem_post(&wake);   /* ends the thread if no signal came */
	pthread_join(thread, NULL);
	sem_destroy(&wake);
	started = 0;
}
