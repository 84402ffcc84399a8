/* error.c - the error struct and the one HTTP status to errno table. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
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
