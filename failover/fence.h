/* failover/fence.h -- run a fence command, bounded, from the event loop
 * (docs/failover.md, "Fencing").
 *
 * fence_start() forks /bin/sh -c CMD in a process group of its own with
 * the REMUS_FENCE_* variables added to the environment, and returns at
 * once; the loop watches the child (ev_child) and a timer.  DONE runs once:
 * OK = 1 only for exit status 0; a non-zero status, a signal, or the
 * timeout (the whole process group is then killed with SIGKILL) is OK = 0,
 * with the reason in one line in WHY.  Output of the command goes to the
 * program's log, one line each, prefixed "fence: ".
 */
#ifndef REMUS_FENCE_H
#define REMUS_FENCE_H

#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

struct fence;
typedef void	fence_done_fn(struct fence *, int ok, const char *why,
		    void *arg);

struct fence_env {
	const char	*guest;		/* REMUS_FENCE_GUEST */
	const char	*name;		/* REMUS_FENCE_NAME */
	const char	*primary;	/* REMUS_FENCE_PRIMARY */
	uint64_t	 epoch;		/* REMUS_FENCE_EPOCH */
	unsigned	 attempt;	/* REMUS_FENCE_ATTEMPT */
	uint32_t	 timeout_ms;	/* REMUS_FENCE_TIMEOUT_MS */
};

/* A fence runner for CMD (borrowed; must outlive it).  NULL + errno.
 * LOOP must be libev's default loop (EV_DEFAULT): ev_child works only
 * there (its SIGCHLD handler reaps every child); EINVAL otherwise. */
struct fence	*fence_new(struct ev_loop *loop, const char *cmd);
/* Start one attempt.  -1 + errno (EBUSY if one runs; fork failures). */
int	fence_start(struct fence *, const struct fence_env *,
	    fence_done_fn *done, void *arg);
int	fence_running(const struct fence *);
/* Kill a running attempt (its group), without calling DONE.  NULL ok. */
void	fence_cancel(struct fence *);
void	fence_free(struct fence *);		/* cancels; NULL ok */

#endif /* REMUS_FENCE_H */
