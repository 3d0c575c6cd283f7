/* remusd/progress.h -- remus's progress line for the full first
 * checkpoint (every session's epoch 1: all of the guest's memory).
 *
 * On a terminal, one line rewritten in place ("\r") a few times a second:
 * bytes done of the total, the rate, the time left; then one final line.
 * Elsewhere (a log, the journal), only the final line.  The live disk
 * sync has its own line, from diskbuf (--disk-sync).
 */
#ifndef REMUS_PROGRESS_H
#define REMUS_PROGRESS_H

#include <stdint.h>

#include <ev.h>

struct ckpt;
struct progress;

/* Watch C from LOOP; TTY: stderr is a terminal.  NULL with errno (the
 * caller goes on without a progress line). */
struct progress	*progress_new(struct ev_loop *, const struct ckpt *c, int tty);
void		 progress_free(struct progress *);	/* NULL ok */

/* The line for DONE of TOTAL bytes, started at START_US, now NOW_US, into
 * BUF: "full checkpoint: 512/2048 MiB (25%), 640.0 MiB/s, ETA 2.4 s".  FINAL:
 * "full checkpoint: 2048 MiB in 3.2 s (640.0 MiB/s)". */
void	progress_format(char *buf, size_t len, uint64_t done, uint64_t total,
	    uint64_t start_us, uint64_t now_us, int final);

#endif /* REMUS_PROGRESS_H */
