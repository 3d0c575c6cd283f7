/* remusd/stats.h -- per-epoch figures: live status, -v lines, JSON, summary.
 *
 * remus feeds every acknowledged epoch's struct ckpt_epoch_stats here:
 *  - on a terminal (and without -v), one status line rewritten with \r at
 *    most ten times a second;
 *  - with -v, one log line per epoch;
 *  - with --stats-json FILE, one JSON object per line per epoch, flushed;
 *  - stats_summary() prints totals and percentiles at exit;
 *  - totals and histograms for the metrics (metrics.h).
 * Its size is fixed: histograms (hist.h), not samples.
 */
#ifndef REMUS_STATS_H
#define REMUS_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "hist.h"

struct ckpt_epoch_stats;
struct stats;

/* Counters since start (sums over every acknowledged epoch). */
struct stats_totals {
	uint64_t	epochs;		/* acknowledged */
	uint64_t	full_epochs;	/* of which full copies */
	uint64_t	dirty_pages, raw_bytes, wire_bytes;
	uint64_t	waits, wait_us;	/* for an ACK before an epoch */
	uint64_t	last_epoch;	/* number of the last acknowledged */
	uint64_t	last_ack_rtt_us;
	uint64_t	output_epochs;	/* cut by output (--trigger output) */
	uint64_t	paused_us, period_us;	/* periodic epochs: sums */
};

/* Histograms, all in the unit of their ckpt_epoch_stats field.  Pause,
 * period and dirty pages leave out full epochs. */
enum stats_hist {
	STATS_PAUSE,		/* us */
	STATS_PERIOD,		/* us, suspend to suspend */
	STATS_ACK_RTT,		/* us, end of send to ACK */
	STATS_SEND,		/* us */
	STATS_DIRTY,		/* pages */
	STATS_NHIST
};

/* JSON_PATH NULL: no JSON; "-" is stdout.  TTY: draw the status line on
 * stderr.  VERBOSE: one line per epoch.  NULL with errno on failure (the
 * JSON file could not be opened: logged). */
struct stats	*stats_new(const char *json_path, int tty, int verbose);
void		 stats_epoch(struct stats *, const struct ckpt_epoch_stats *);
/* Print the summary (several lines) to OUT; also ends the status line. */
void		 stats_summary(struct stats *, FILE *out);
uint64_t	 stats_epochs(const struct stats *);
void		 stats_get_totals(const struct stats *, struct stats_totals *);
const struct hist *stats_hist(const struct stats *, enum stats_hist);
void		 stats_free(struct stats *);	/* NULL ok; closes the JSON */

#endif /* REMUS_STATS_H */
