/* remusd/stats.h -- per-epoch figures: live status, -v lines, JSON, summary.
 *
 * remus feeds every acknowledged epoch's struct ckpt_epoch_stats here:
 *  - on a terminal (and without -v), one status line rewritten with \r at
 *    most ten times a second;
 *  - with -v, one log line per epoch;
 *  - with --stats-json FILE, one JSON object per line per epoch, flushed;
 *  - stats_summary() prints totals and percentiles at exit.
 */
#ifndef REMUS_STATS_H
#define REMUS_STATS_H

#include <stdint.h>
#include <stdio.h>

struct ckpt_epoch_stats;
struct stats;

/* JSON_PATH NULL: no JSON; "-" is stdout.  TTY: draw the status line on
 * stderr.  VERBOSE: one line per epoch.  NULL with errno on failure (the
 * JSON file could not be opened: logged). */
struct stats	*stats_new(const char *json_path, int tty, int verbose);
void		 stats_epoch(struct stats *, const struct ckpt_epoch_stats *);
/* Print the summary (several lines) to OUT; also ends the status line. */
void		 stats_summary(struct stats *, FILE *out);
uint64_t	 stats_epochs(const struct stats *);
void		 stats_free(struct stats *);	/* NULL ok; closes the JSON */

#endif /* REMUS_STATS_H */
