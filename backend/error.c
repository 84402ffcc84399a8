/* error.c - the error struct, the one HTTP status to errno table, and the
 * shutdown flag. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

int dfs_error_set(struct dfs_error *e, int code, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (!e)
		return -code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	for (p = e->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return -code;
}

void dfs_error_clear(struct dfs_error *e)
{
	if (!e)
		return;
	e->code = 0;
	e->msg[0] = '\0';
}

int dfs_errno_from_http(long status)
{
	switch (status) {
	case 400: return EINVAL;
	case 401: return EACCES;
	case 403: return EPERM;
	case 404: return ENOENT;
	case 405: return EPERM;
	case 409: return EEXIST;
	case 413: return EDQUOT;
	case 415: return EINVAL;
	case 429: return EAGAIN;
	case 503: return EAGAIN;
	default:  return EIO;
	}
}

/* A signal handler may set it while any thread reads it: it must be a
 * lock-free atomic, never a mutex (error.h). */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "dfs_cancel_all needs a lock-free atomic int");
static atomic_int cancelled;

void dfs_cancel_all(void)
{
	atomic_store_explicit(&cancelled, 1, memory_order_release);
}

int dfs_cancelled(void)
{
	return atomic_load_explicit(&cancelled, memory_order_acquire);
}
