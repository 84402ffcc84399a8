/* log.h - a small logging API (after OpenBSD's log_warn/log_warnx).
 *
 * Where the log goes is chosen once at start (README, Mount options; the
 * man page's LOGGING): a file (log=FILE), standard error (-f), syslog, or,
 * with no syslog socket, the standard error the daemon was started with
 * when that is a regular file, else a file in the user's state directory. Lines written to a file or stderr carry a UTC time, a level,
 * and the pid: "2026-12-02T14:06:52.897Z warning deployfs[1234]: text".
 * log_warn appends strerror(errno); log_warnx does not. Never pass a
 * secret to these. */
#ifndef DEPLOYFS_LOG_H
#define DEPLOYFS_LOG_H

#include <stddef.h>

/* Call once before threads start (these set process-wide state).
 * to_stderr != 0: stderr, else syslog. debug != 0 enables log_debug. */
void log_init(int to_stderr, int debug);

/* Log to path instead: opened O_APPEND|O_CLOEXEC, created 0600 (an
 * existing file keeps its mode). Returns 0, or -errno with nothing
 * changed. */
int log_to_file(const char *path, int debug);

/* For a daemon started without -f and without log=: syslog when a syslog
 * socket (/dev/log) takes a connection; else a copy of the current stderr
 * (kept across the detach, which points fd 2 at /dev/null) when it is a
 * regular file; else the file log_fallback_path names.
 * Writes into where (size wsz) what was chosen, for one line to the user:
 * "syslog", "standard error", or the file's path. Returns 0, or -errno
 * when the fallback file could not be opened (the log then stays on the
 * current stderr). */
int log_for_daemon(int debug, char *where, size_t wsz);

/* $XDG_STATE_HOME/deployfs/deployfs.log, else ~/.local/state/deployfs/
 * deployfs.log (home from $HOME, else the user database). -ENOENT when no
 * home is known, -ENAMETOOLONG. */
int log_fallback_path(char *out, size_t outsz);

/* 1 when where the log goes is syslog, else 0. */
int log_is_syslog(void);

/* One line at level ("debug", "info", "warning", "error"); for libfuse's
 * messages. Trailing newlines in text are dropped. */
void log_line(const char *level, const char *text);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
