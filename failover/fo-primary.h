/* failover/fo-primary.h -- the primary's failover policy (docs/failover.md
 * P1-P6), as a pure state machine.
 *
 * No I/O, no libev, no clock of its own: the owner (checkpoint/ckpt.c,
 * wired by remusd/remus.c) reports events with the current monotonic time
 * in milliseconds, and the policy answers through its ops table.  So the
 * unit tests drive it with a fake clock and a fake link.
 *
 *            connected()            lost()                deadline / ERROR
 *  CONNECTING ---------> PROTECTED --------> HOLDING --------------------->
 *                            ^               (link aborted, output held)
 *                            | connected()                          |
 *                            '--------- UNPROTECTED <---------------'
 *                                      (output released; reconnect
 *                                      attempts run in this state)
 *  guest_failed() from any state -> GUEST_FAILED (output dropped, final)
 *  stop() from any state -> STOPPED (final)
 */
#ifndef REMUS_FO_PRIMARY_H
#define REMUS_FO_PRIMARY_H

#include <stdint.h>

enum fo_p_state {
	FOP_CONNECTING = 0,	/* link opening, handshake not done */
	FOP_PROTECTED,		/* epochs flow, output held until ACK */
	FOP_HOLDING,		/* backup lost: link aborted, output held */
	FOP_UNPROTECTED,	/* output released, reconnecting */
	FOP_GUEST_FAILED,	/* output dropped for good (final) */
	FOP_STOPPED,		/* orderly stop or reconnect limit (final) */
};

/* What the handshake agreed (WELCOME). */
struct fo_timing {
	uint32_t	timeout_ms;	/* T */
	uint32_t	hb_ms;		/* H */
	uint32_t	fence_ms;	/* F: 0 when the backup does not fence */
};

struct fo_primary_cfg {
	uint32_t	reconnect_ms;	/* --reconnect-interval, 0: never */
	uint32_t	reconnect_limit; /* attempts, 0: for ever */
	int		fence_backup;	/* --fence-backup given */
};

/* Actions.  Each runs synchronously inside the event call that caused it;
 * none may call back into the policy except where noted. */
struct fo_primary_ops {
	/* Close the link abortively (SO_LINGER 0) and stop epochs; output
	 * stays held. */
	void	(*abort_link)(void *arg);
	/* Release everything held and pass output through (unprotected). */
	void	(*release_all)(void *arg);
	/* Drop everything held and keep dropping (P5). */
	void	(*discard_all)(void *arg);
	/* Start --fence-backup; the owner reports the outcome with
	 * fo_primary_fence_done().  NULL when not configured. */
	void	(*fence_backup)(void *arg);
	/* Try to open a new link now; the owner reports connected() or
	 * connect_failed(). */
	void	(*reconnect)(void *arg);
	/* Call fo_primary_tick() at AT_MS (absolute); replaces any earlier
	 * request.  0: no tick wanted. */
	void	(*arm)(void *arg, uint64_t at_ms);
};

struct fo_primary {
	enum fo_p_state	 state;
	struct fo_primary_cfg cfg;
	const struct fo_primary_ops *ops;
	void		*arg;
	struct fo_timing timing;	/* of the current/last session */
	uint64_t	 last_rx_ms;	/* last byte from the backup */
	uint64_t	 lost_ms;	/* X: when the link was aborted */
	uint64_t	 release_ms;	/* X + T + F + M */
	uint64_t	 next_try_ms;	/* next reconnect */
	uint64_t	 acked;		/* last acknowledged epoch */
	uint64_t	 sent;		/* last epoch handed whole to the link */
	uint32_t	 attempts;	/* reconnects since the last loss */
	int		 trying;	/* a reconnect attempt is under way */
	char		 reason[160];	/* why the backup was lost */
};

void	fo_primary_init(struct fo_primary *, const struct fo_primary_cfg *,
	    const struct fo_primary_ops *, void *arg);

/* The handshake completed with TIMING: PROTECTED; the silence deadline
 * runs from NOW. */
void	fo_primary_connected(struct fo_primary *, uint64_t now,
	    const struct fo_timing *timing);
/* A connect or handshake attempt failed (only in CONNECTING or
 * UNPROTECTED). */
void	fo_primary_connect_failed(struct fo_primary *, uint64_t now,
	    const char *why);
/* Bytes arrived from the backup; LAST_RX is the conservative receive
 * time (docs/failover.md, stalls). */
void	fo_primary_heard(struct fo_primary *, uint64_t last_rx);
/* ACK(epoch) arrived. */
void	fo_primary_acked(struct fo_primary *, uint64_t epoch);
/* The last record of EPOCH (its CHECKPOINT) was handed to the link: from
 * now on the backup may commit it even if its ACK never arrives, so a loss
 * must hold output (P3's "nothing acknowledged" shortcut is only safe when
 * no epoch was sent whole). */
void	fo_primary_sent(struct fo_primary *, uint64_t epoch);
/* The link reported loss (EOF, reset, write error, protocol error): P1. */
void	fo_primary_lost(struct fo_primary *, uint64_t now, const char *why);
/* The backup sent ERROR: it stood down (B6), release at once. */
void	fo_primary_stood_down(struct fo_primary *, uint64_t now,
	    const char *why);
/* --fence-backup finished: OK != 0 means the backup is fenced. */
void	fo_primary_fence_done(struct fo_primary *, uint64_t now, int ok);
/* The guest failed here (P5). */
void	fo_primary_guest_failed(struct fo_primary *, uint64_t now,
	    const char *why);
/* Orderly stop (the owner sends END itself while PROTECTED). */
void	fo_primary_stop(struct fo_primary *, uint64_t now);
/* The time the owner asked for through ops->arm() has come (or later). */
void	fo_primary_tick(struct fo_primary *, uint64_t now);

/* M for the given timing (docs/failover.md). */
uint64_t fo_margin_ms(const struct fo_timing *);
const char *fo_primary_state_str(enum fo_p_state);

#endif /* REMUS_FO_PRIMARY_H */
