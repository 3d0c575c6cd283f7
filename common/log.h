/* common/log.h -- the one logging module (STYLE G1-G5).
 *
 * log_warn appends ": strerror(errno)", log_warnx does not.  Every function
 * preserves errno, so "log then goto err" keeps the caller's errno intact.
 * Output goes to stderr (timestamped, with the priority) when asked (-d), or
 * when stderr is a terminal, file, pipe or socket; to the journal when
 * stderr is the journal's stream or is closed or /dev/null (with
 * libsystemd), else to syslog.  log.c says why.  Define LOG_PREFIX
 * ("netbuf: ") before including this header to tag a file's messages.
 */
#ifndef REMUS_LOG_H
#define REMUS_LOG_H

#include <stdarg.h>

#include "compiler.h"

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

extern int log_verbose;		/* -v count; log_debug prints when > 0 */

enum log_dest {
	LOG_DEST_STDERR,	/* "<UTC time> ident: <priority>: message" */
	LOG_DEST_STDERR_PRI,	/* "<N>ident: message", for the journal */
	LOG_DEST_JOURNAL,	/* sd_journal_send() */
	LOG_DEST_SYSLOG,	/* syslog(3), facility daemon */
};

/* Call once from main().  IDENT names the program everywhere.  TO_STDERR
 * (-d): stderr whatever it is; 0: decide as above.  Returns the choice. */
enum log_dest	log_init(const char *ident, int to_stderr, int verbose);
/* What log_init(..., TO_STDERR, ...) would choose now; changes nothing. */
enum log_dest	log_pick_dest(int to_stderr);
void	log_setverbose(int verbose);

void	log_msg(int pri, int with_errno, const char *fmt, ...) __printf(3, 4);
void	log_vmsg(int pri, int with_errno, const char *fmt, va_list ap)
	    __printf(3, 0);
void	fatal_msg(int with_errno, const char *fmt, ...) __printf(2, 3) __dead;

#include <syslog.h>

#define log_warn(fmt, ...)  log_msg(LOG_ERR, 1, LOG_PREFIX fmt, ##__VA_ARGS__)
#define log_warnx(fmt, ...) log_msg(LOG_ERR, 0, LOG_PREFIX fmt, ##__VA_ARGS__)
#define log_info(fmt, ...)  log_msg(LOG_INFO, 0, LOG_PREFIX fmt, ##__VA_ARGS__)
#define log_debug(fmt, ...)						\
	do {								\
		if (unlikely(log_verbose > 0))				\
			log_msg(LOG_DEBUG, 0, LOG_PREFIX fmt, ##__VA_ARGS__); \
	} while (0)
#define fatal(fmt, ...)  fatal_msg(1, LOG_PREFIX fmt, ##__VA_ARGS__)
#define fatalx(fmt, ...) fatal_msg(0, LOG_PREFIX fmt, ##__VA_ARGS__)

/* Warn once per call site (rate limit for repeated data-path warnings). */
#define log_warnx_once(fmt, ...)					\
	do {								\
		static int _once;					\
		if (!_once) {						\
			_once = 1;					\
			log_warnx(fmt, ##__VA_ARGS__);			\
		}							\
	} while (0)

/* Rate-limited: KEY names the kind of message ("accept", one constant
 * per call site); a few lines per window each, the rest counted and the
 * count said with the next line that gets out.  For errors a peer can
 * repeat at will.  FMT is logged as is (no LOG_PREFIX, no errno). */
void	log_rate(int pri, const char *key, const char *fmt, ...)
	    __printf(3, 4);
void	log_rate_v(int pri, const char *key, const char *fmt, va_list ap)
	    __printf(3, 0);

/* G5: "<what>: state change A -> B, reason: R" -- one format for all. */
#define log_statechange(what, from, to, reason)				\
	log_info("%s: state change %s -> %s, reason: %s",		\
	    (what), (from), (to), (reason))

#endif /* REMUS_LOG_H */
