/* failover/fo-backup.h -- the backup's failover policy (docs/failover.md
 * B1-B6), as a pure state machine.
 *
 * As fo-primary.h: no I/O, no clock; the owner (checkpoint/backup.c, wired
 * by remusd/remusd.c) reports events with the monotonic time in ms.
 *
 *            lost() (silence, EOF, reset; committed > 0, no END)
 *  RECEIVING ----------------------------> FENCING --fence ok, in window--> ACTIVATING
 *     |  local_error() / bad stream             |  fence failed: retry each   |
 *     v                                         |  second while in window     v
 *  STOOD_DOWN (ERROR sent, replica kept)        '--window closed--> PASSIVE  ACTIVATED
 *  end() -> ENDED;  lost() with nothing committed -> NOTHING             (or FAILED)
 */
#ifndef REMUS_FO_BACKUP_H
#define REMUS_FO_BACKUP_H

#include <stdint.h>

#include "fo-primary.h"		/* struct fo_timing, fo_margin_ms */

enum fo_b_state {
	FOB_RECEIVING = 0,
	FOB_FENCING,		/* primary lost, fence running or retrying */
	FOB_ACTIVATING,
	FOB_ACTIVATED,		/* final: guest runs here */
	FOB_FAILED,		/* final: activation failed */
	FOB_PASSIVE,		/* final: not fenced in the window, replica kept */
	FOB_STOOD_DOWN,		/* final: local error or bad stream, ERROR sent */
	FOB_ENDED,		/* final: END from the primary */
	FOB_NOTHING,		/* final: lost before any commit */
};

struct fo_backup_cfg {
	int		no_fence;	/* --no-fence */
	uint32_t	fence_retry_ms;	/* between fence attempts (1000) */
};

struct fo_backup_ops {
	/* Drop the open epoch (devices discard it too). */
	void	(*discard_open)(void *arg);
	/* Send ERROR(code, why) if the link still takes it, then close. */
	void	(*stand_down)(void *arg, int code, const char *why);
	/* Start the fence command, attempt ATTEMPT (1, 2, ...), bounded by
	 * timing.fence_ms; the owner reports fo_backup_fence_done(). */
	void	(*fence)(void *arg, unsigned attempt);
	/* Activate devices then the guest; 0 or -1. */
	int	(*activate)(void *arg);
	/* As fo_primary_ops.arm. */
	void	(*arm)(void *arg, uint64_t at_ms);
};

struct fo_backup {
	enum fo_b_state	 state;
	struct fo_backup_cfg cfg;
	const struct fo_backup_ops *ops;
	void		*arg;
	struct fo_timing timing;	/* agreed in the handshake */
	uint64_t	 last_rx_ms;	/* conservative: see docs/failover.md */
	uint64_t	 window_end_ms;	/* last_rx + T + F */
	uint64_t	 committed;	/* last committed epoch */
	unsigned	 attempts;	/* fence attempts so far */
	int		 fence_running;
	char		 reason[160];
};

void	fo_backup_init(struct fo_backup *, const struct fo_backup_cfg *,
	    const struct fo_timing *, const struct fo_backup_ops *, void *arg);
/* The first call (make it at the handshake) arms the silence tick. */
void	fo_backup_heard(struct fo_backup *, uint64_t last_rx);
void	fo_backup_committed(struct fo_backup *, uint64_t epoch);
/* Silence for T, EOF or reset (B1): the owner tells which in WHY. */
void	fo_backup_lost(struct fo_backup *, uint64_t now, const char *why);
/* A local failure (ENOSPC, EPERM, ...) or a corrupt stream: stand down. */
void	fo_backup_local_error(struct fo_backup *, uint64_t now, int code,
	    const char *why);
void	fo_backup_end(struct fo_backup *, uint64_t now);
void	fo_backup_fence_done(struct fo_backup *, uint64_t now, int ok);
void	fo_backup_tick(struct fo_backup *, uint64_t now);
int	fo_backup_final(const struct fo_backup *);	/* 1 in a final state */
const char *fo_backup_state_str(enum fo_b_state);

#endif /* REMUS_FO_BACKUP_H */
