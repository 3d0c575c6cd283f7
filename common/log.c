/* common/log.c -- the one logging module: stderr, the journal or syslog,
 * errno preserved (STYLE G1, G2).
 *
 * Where lines go is decided once, in log_init():
 *  - stderr when asked (-d), or when stderr is a terminal, or a file, pipe
 *    or socket someone opened to read it (tests, scripts, xl-style use:
 *    "remus ... 2>log");
 *  - the journal when stderr is the journal's own stream (JOURNAL_STREAM,
 *    a systemd unit): natively with libsystemd, so each line keeps its
 *    priority and fields; without it, as "<N>" prefixed lines, which the
 *    journal reads as priorities;
 *  - otherwise (stderr closed or /dev/null: a daemon started by an init
 *    script) the journal if its socket exists and libsystemd is built in,
 *    else syslog(3).
 * On stderr each line carries a UTC timestamp and the priority's name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#ifdef REMUS_HAVE_SYSTEMD
#define SD_JOURNAL_SUPPRESS_LOCATION	/* log.c's line says nothing */
#include <systemd/sd-journal.h>
#endif

#include "log.h"

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

int log_verbose;
static enum log_dest log_dest = LOG_DEST_STDERR;
static const char *log_ident = "remus";

static const char *const pri_names[] = {
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* Is fd 2 the stream systemd connected to the journal?  systemd says so
 * in JOURNAL_STREAM="DEV:INODE" (systemd.exec(5)). */
static int
stderr_is_journal(const struct stat *st)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	return (unsigned long long)st->st_dev == dev &&
	    (unsigned long long)st->st_ino == ino;
}

enum log_dest
log_pick_dest(int to_stderr)
{
	struct stat st;
	int have_fd2;

	if (to_stderr)
		return LOG_DEST_STDERR;
	have_fd2 = fstat(STDERR_FILENO, &st) == 0;
	if (have_fd2 && isatty(STDERR_FILENO))
		return LOG_DEST_STDERR;
	if (have_fd2 && stderr_is_journal(&st)) {
#ifdef REMUS_HAVE_SYSTEMD
		return LOG_DEST_JOURNAL;
#else
		return LOG_DEST_STDERR_PRI;
#endif
	}
	/* A file, pipe or socket: whoever redirected stderr reads it. */
	if (have_fd2 && !S_ISCHR(st.st_mode))
		return LOG_DEST_STDERR;
#ifdef REMUS_HAVE_SYSTEMD
	if (access(JOURNAL_SOCKET, W_OK) == 0)
		return LOG_DEST_JOURNAL;
#endif
	return LOG_DEST_SYSLOG;
}

enum log_dest
log_init(const char *ident, int to_stderr, int verbose)
{
	int err = errno;

	log_ident = ident;
	log_verbose = verbose;
	log_dest = log_pick_dest(to_stderr);
	if (log_dest == LOG_DEST_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	errno = err;
	return log_dest;
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

static void
write_stderr(int pri, const char *msg)
{
	char line[1300], ts[32];
	struct timespec now;
	struct tm tm;
	int m;

	if (log_dest == LOG_DEST_STDERR_PRI) {
		/* The journal stamps the time itself. */
		m = snprintf(line, sizeof line, "<%d>%s: %s\n", pri, log_ident,
		    msg);
	} else {
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
		m = snprintf(line, sizeof line, "%s.%03ldZ %s: %s: %s\n", ts,
		    now.tv_nsec / 1000000, log_ident, pri_names[pri & 7], msg);
	}
	/* One write per line so concurrent writers do not interleave. */
	if (m > 0) {
		ssize_t w = write(STDERR_FILENO, line,
		    (size_t)m < sizeof line ? (size_t)m : sizeof line - 1);
		(void)w;
	}
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
	switch (log_dest) {
	case LOG_DEST_STDERR:
	case LOG_DEST_STDERR_PRI:
		write_stderr(pri, buf);
		break;
	case LOG_DEST_JOURNAL:
#ifdef REMUS_HAVE_SYSTEMD
		/* ERRNO is the journal's own field for it; a lost journal
		 * (journald restarting) falls back to syslog for the line. */
		if ((with_errno && err != 0 ?
		    sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", pri,
		    "SYSLOG_IDENTIFIER=%s", log_ident, "SYSLOG_FACILITY=%d",
		    LOG_DAEMON >> 3, "ERRNO=%d", err, NULL) :
		    sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", pri,
		    "SYSLOG_IDENTIFIER=%s", log_ident, "SYSLOG_FACILITY=%d",
		    LOG_DAEMON >> 3, NULL)) >= 0)
			break;
#endif
		/* FALLTHROUGH */
	case LOG_DEST_SYSLOG:
		syslog(LOG_DAEMON | pri, "%s", buf);
		break;
	}
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

/* ---- Rate limiting ---------------------------------------------------- */

/* Each KEY (a string constant: its address and text name the kind of
 * message) may log LOG_RATE_BURST lines per LOG_RATE_WINDOW_S; the rest
 * are counted, and the first line of the next window says how many were
 * left out.  A peer that makes the same error happen in a loop (a flood
 * of bad connections, accept() failing) then costs a few lines a window,
 * not the disk. */
#define LOG_RATE_KEYS		32
#define LOG_RATE_BURST		5
#define LOG_RATE_WINDOW_S	10

static struct {
	const char	*key;
	time_t		 start;
	unsigned	 n;
	unsigned long	 dropped;
} log_rates[LOG_RATE_KEYS];

void
log_rate_v(int pri, const char *key, const char *fmt, va_list ap)
{
	struct timespec ts;
	unsigned long dropped;
	size_t i, slot = LOG_RATE_KEYS;
	char buf[1024];
	int err = errno;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (i = 0; i < LOG_RATE_KEYS; i++) {
		if (log_rates[i].key == NULL || strcmp(log_rates[i].key,
		    key) == 0) {
			slot = i;
			break;
		}
	}
	if (slot == LOG_RATE_KEYS)	/* full: share the last one */
		slot = LOG_RATE_KEYS - 1;
	if (log_rates[slot].key == NULL || strcmp(log_rates[slot].key,
	    key) != 0) {
		log_rates[slot].key = key;
		log_rates[slot].start = ts.tv_sec;
		log_rates[slot].n = 0;
		log_rates[slot].dropped = 0;
	}
	if (ts.tv_sec - log_rates[slot].start >= LOG_RATE_WINDOW_S) {
		log_rates[slot].start = ts.tv_sec;
		log_rates[slot].n = 0;
	}
	if (log_rates[slot].n >= LOG_RATE_BURST) {
		log_rates[slot].dropped++;
		errno = err;
		return;
	}
	log_rates[slot].n++;
	dropped = log_rates[slot].dropped;
	log_rates[slot].dropped = 0;
	vsnprintf(buf, sizeof buf, fmt, ap);
	if (dropped)
		log_msg(pri, 0, "%s (%lu more like it not logged in the last "
		    "%d s)", buf, dropped, LOG_RATE_WINDOW_S);
	else
		log_msg(pri, 0, "%s", buf);
	errno = err;
}

void
log_rate(int pri, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_rate_v(pri, key, fmt, ap);
	va_end(ap);
}
