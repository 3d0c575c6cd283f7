/* common/log.c -- stderr or syslog, errno preserved (STYLE G1, G2). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_verbose;
static int log_foreground = 1;
static const char *log_ident = "remus";

void
log_init(const char *ident, int foreground, int verbose)
{
	int err = errno;

	log_ident = ident;
	log_foreground = foreground;
	log_verbose = verbose;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	errno = err;
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

void
log_vmsg(int pri, int with_errno, const char *fmt, va_list ap)
{
	int err = errno;	/* must be first: callers log, then goto err */
	char buf[1024];
	int n;

	n = vsnprintf(buf, sizeof buf, fmt, ap);
	if (n < 0)
		buf[0] = '\0';
	if (with_errno && err != 0) {
		size_t len = strlen(buf);

		snprintf(buf + len, sizeof buf - len, ": %s", strerror(err));
	}
	if (log_foreground) {
		/* One write per line so concurrent writers do not interleave. */
		char line[1200];
		int m = snprintf(line, sizeof line, "%s: %s\n", log_ident, buf);

		if (m > 0) {
			ssize_t w = write(STDERR_FILENO, line,
			    (size_t)m < sizeof line ? (size_t)m : sizeof line - 1);
			(void)w;
		}
	} else
		syslog(pri, "%s", buf);
	errno = err;
}

void
log_msg(int pri, int with_errno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(pri, with_errno, fmt, ap);
	va_end(ap);
}

void
fatal_msg(int with_errno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, with_errno, fmt, ap);
	va_end(ap);
	exit(1);
}
