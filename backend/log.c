/* log.c - stderr or syslog; one line per call, safe from any thread. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static int log_stderr = 1;
static int log_verbose;

void log_init(int to_stderr, int debug)
{
	log_stderr = to_stderr;
	log_verbose = debug;
	if (!to_stderr)
		openlog("deployfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void vlog(int pri, const char *errstr, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_stderr) {
		/* one fprintf per line: stdio locks the stream, lines don't mix */
		if (errstr)
			fprintf(stderr, "deployfs: %s: %s\n", line, errstr);
		else
			fprintf(stderr, "deployfs: %s\n", line);
	} else {
		if (errstr)
			syslog(pri, "%s: %s", line, errstr);
		else
			syslog(pri, "%s", line);
	}
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	const char *desc = strerrordesc_np(saved);
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, desc ? desc : "unknown error", fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}
