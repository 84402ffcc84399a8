/* error.h - how deployfs reports a failure.
 *
 * Functions return 0 or -errno. Those that must explain themselves take a
 * caller-provided struct dfs_error, which they fill on failure and leave
 * untouched on success (git's api-error-handling, jansson's json_error_t).
 * Its message is one human line: what was wrong and what would be accepted.
 * It ends up in the object's `error` file and in the log, so it must never
 * contain a secret.
 */
#ifndef DEPLOYFS_ERROR_H
#define DEPLOYFS_ERROR_H

#include <stddef.h>

#define DFS_ERROR_MSG_MAX 512

struct dfs_error {
	int code;                      /* positive errno, 0 = no error */
	char msg[DFS_ERROR_MSG_MAX];   /* one line, NUL-terminated, no '\n' */
};

/* Fill e (may be NULL) with code and a printf-style message; newlines in the
 * message are replaced by spaces and it is cut at DFS_ERROR_MSG_MAX.
 * Returns -code, so callers can write `return dfs_error_set(e, EINVAL, ...)`. */
int dfs_error_set(struct dfs_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reset e to "no error". */
void dfs_error_clear(struct dfs_error *e);

/* The one table that maps the outside world's failures to errno
 * (README, "Errors"). Returns a positive errno for an HTTP status of an
 * API answer: 400 and 415 EINVAL, 401 EACCES, 403 and 405 EPERM, 404
 * ENOENT, 409 EEXIST, 413 EDQUOT, 429/503 EAGAIN, other 5xx and anything
 * unexpected EIO. */
int dfs_errno_from_http(long status);

/* Shutdown. dfs_cancel_all() makes every HTTP transfer in flight fail with
 * -ECANCELED and DFS_CANCELLED_MSG within about 100 ms, and every later one
 * fail the same way before it connects (http.h). It only sets a lock-free
 * atomic flag, so it is async-signal-safe (a SIGTERM handler may call it);
 * it cannot fail and cannot be undone: the process is going away.
 * dfs_cancelled() returns 1 once it was called, else 0; any thread. */
#define DFS_CANCELLED_MSG "cancelled: deployfs is shutting down"
void dfs_cancel_all(void);
int dfs_cancelled(void);

#endif
