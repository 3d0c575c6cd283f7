/* failover/failover.h -- loss detection and the one way into failover.
 *
 * Both ends of a stream watch the other with the libev inactivity idiom:
 * failover_alive() on every byte received re-arms a timer of TIMEOUT; when
 * it expires, or on EOF or a stream error, the owner calls
 * failover_trigger(reason).  The trigger is idempotent and is the only way
 * into the handler; a state enum guards it:
 *
 *   NONE -> REQUESTED -> HANDLING -> DONE
 *
 * Every transition is logged as
 *   "failover: state change A -> B, reason: R, epoch N"
 * where N is the last committed (backup) or acknowledged (primary) epoch.
 *
 * The module also sends heartbeats: failover_heartbeat_start() calls SEND
 * every PERIOD while the owner has been idle for that long (the owner calls
 * failover_sent() whenever it writes).
 */
#ifndef REMUS_FAILOVER_H
#define REMUS_FAILOVER_H

#include <stdint.h>

#include <ev.h>

enum failover_state {
	FAILOVER_NONE = 0,
	FAILOVER_REQUESTED,
	FAILOVER_HANDLING,
	FAILOVER_DONE,
};

struct failover;

/* Runs once, in the loop thread, with the state HANDLING; the reason is
 * f->reason.  Returns 0 if the failover (or release) succeeded. */
typedef int	failover_handler_fn(struct failover *, void *arg);
/* Sends one heartbeat; returns 0 or -1 (the owner handles errors). */
typedef int	failover_send_fn(struct failover *, void *arg);
/* Asked by the timeout before it fires: return 1 if the peer turned out
 * to be alive after all (data waiting that a long callback delayed). */
typedef int	failover_recheck_fn(struct failover *, void *arg);

struct failover {
	struct ev_loop	*loop;
	const char	*what;		/* log tag: "failover" */
	enum failover_state state;
	uint64_t	 epoch;		/* for the log lines */
	char		 reason[256];
	int		 result;	/* handler's return value */
	ev_timer	 idle;		/* peer silence */
	ev_timer	 hb;		/* our heartbeats */
	ev_tstamp	 last_sent;
	failover_handler_fn *handler;
	failover_send_fn *send;
	failover_recheck_fn *recheck;
	void		*arg;
};

/* Set up F (embedded in its owner).  TIMEOUT_MS 0 disables the silence
 * timer.  Nothing runs until failover_start(). */
void	failover_init(struct failover *f, struct ev_loop *loop,
	    const char *what, uint32_t timeout_ms,
	    failover_handler_fn *handler, failover_send_fn *send,
	    failover_recheck_fn *recheck, void *arg);
/* Arm the silence timer and, if SEND is set and HB_MS > 0, heartbeats. */
void	failover_start(struct failover *f, uint32_t hb_ms);
/* Stop both timers (the state stays). */
void	failover_stop(struct failover *f);

/* The peer spoke: restart the silence timer. */
void	failover_alive(struct failover *f);
/* We wrote to the peer: no heartbeat needed for a period. */
void	failover_sent(struct failover *f);
void	failover_set_epoch(struct failover *f, uint64_t epoch);

/* Idempotent: the first call runs the handler; later calls (any state but
 * NONE) only log at debug level.  Returns the handler's result, or 0 if
 * already handled. */
int	failover_trigger(struct failover *f, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

const char *failover_state_str(enum failover_state);

#endif /* REMUS_FAILOVER_H */
