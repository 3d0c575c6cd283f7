/* remusd/ctl.h -- the control socket of remus and remusd (docs/control.md).
 *
 * A unix-domain SOCK_STREAM socket, mode 0600, served from the one libev
 * loop.  A client writes one JSON object per line, {"verb": "status", ...};
 * the program answers each with one JSON object per line, {"ok": true, ...}
 * or {"ok": false, "error": "..."}.  Nothing here may stall the epoch loop:
 * every descriptor is non-blocking, a line is at most CTL_LINE_MAX bytes,
 * at most CTL_CLIENTS_MAX clients are served at once, and a client that
 * has not sent a whole request (or not read its answer) within
 * CTL_DEADLINE_MS is dropped.  Only the socket's owner (and root) may use
 * it: the mode says so, and SO_PEERCRED checks it again at accept.
 *
 * The verbs are the program's (remusd/ctl-primary.c for remus,
 * remusd/ctl-backup.c for remusd); this module only frames and parses.
 */
#ifndef REMUS_CTL_H
#define REMUS_CTL_H

#include <stddef.h>

#include "compiler.h"

#define CTL_LINE_MAX	4096	/* a request line, newline included */
#define CTL_CLIENTS_MAX	8
#define CTL_DEADLINE_MS	5000	/* to send a request, or to read an answer */

struct ev_loop;
struct json_object;
struct ctl;
struct ctl_req;			/* one request awaiting its answer */

/* A request arrived: VERB is the "verb" member, ARGS the whole object
 * (borrowed until the answer).  The handler must answer exactly once,
 * with ctl_reply or ctl_reply_error, now or later (from the loop): the
 * client sends nothing more meanwhile. */
typedef void	ctl_handler_fn(struct ctl_req *, const char *verb,
		    struct json_object *args, void *arg);

/* Serve PATH in LOOP.  A stale socket at PATH (nobody accepts on it) is
 * replaced; a live one, or anything that is not a socket, is refused
 * (EADDRINUSE / EEXIST).  NULL with errno set, the reason logged. */
struct ctl	*ctl_new(struct ev_loop *loop, const char *path,
		    ctl_handler_fn *fn, void *arg);

/* Answer with RESP (taken; NULL means {}), to which "ok": true is added
 * unless it has "ok" already.  If the client went away meanwhile the
 * answer is dropped. */
void	ctl_reply(struct ctl_req *, struct json_object *resp);
void	ctl_reply_error(struct ctl_req *, const char *fmt, ...) __printf(2, 3);

/* Parse one request line of LEN bytes (no newline; need not be
 * NUL-terminated): one JSON object with a string "verb", nothing but
 * blanks after it.  0 with *REQ (the caller's, json_object_put) and *VERB
 * (borrowed from *REQ), or -1 with the one-line reason in ERR.  Pure: no
 * I/O, no state (fuzz/fuzz-ctl.c). */
int	ctl_parse_request(const char *line, size_t len, struct json_object **req,
	    const char **verb, char *err, size_t errlen);

/* Where it listens. */
const char	*ctl_path(const struct ctl *);

/* Write what answers are still queued (best effort, never blocking), close
 * every client and the socket, unlink PATH.  NULL ok. */
void	ctl_free(struct ctl *);

/* The default socket path of remus for guest SPEC: RUN_DIR/remus-NAME.sock,
 * NAME the spec with ':' and '/' made '_' (as the pids file's).  0, or -1
 * with ENAMETOOLONG when it does not fit a sockaddr_un. */
int	ctl_default_path(char *buf, size_t len, const char *run_dir,
	    const char *prefix, const char *name);

#endif /* REMUS_CTL_H */
