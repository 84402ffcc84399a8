/* log.h - a small logging API (after OpenBSD's log_warn/log_warnx).
 *
 * With -f the log goes to stderr, otherwise to syslog. log_warn appends
 * strerror(errno); log_warnx does not. Never pass a secret to these. */
#ifndef DEPLOYFS_LOG_H
#define DEPLOYFS_LOG_H

/* Call once before threads start. to_stderr != 0: stderr, else syslog.
 * debug != 0 enables log_debug. */
void log_init(int to_stderr, int debug);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
