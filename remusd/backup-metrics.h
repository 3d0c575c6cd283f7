/* remusd/backup-metrics.h -- remusd's figures, per guest, for Prometheus.
 *
 * A remusd serves many guests, one session each at a time, and a guest's
 * sessions come and go (the primary reconnects, remus is restarted).
 * The counters are per guest (the name its primary announces in HELLO),
 * summed over its sessions since remusd started: those over (kept here)
 * and those running (read from their struct backup at each scrape).
 * Served by metrics.c (--metrics, --metrics-file) as counters with a
 * guest label.
 */
#ifndef REMUS_BACKUP_METRICS_H
#define REMUS_BACKUP_METRICS_H

#include <stddef.h>

struct backup_counters;
struct bmetrics;

struct bmetrics	*bmetrics_new(void);
void		 bmetrics_free(struct bmetrics *);	/* NULL ok */

/* A session is over: add its counts to its guest's.  0, or -1 with
 * errno (ENOMEM; the counts are lost, said once). */
int		 bmetrics_add(struct bmetrics *, const struct backup_counters *);

/* The exposition into BUF (LEN bytes, NUL-terminated when LEN > 0) of
 * the kept counts plus LIVE[0..NLIVE-1], the sessions running now.
 * Returns the whole text's length, as snprintf. */
size_t		 bmetrics_format(char *buf, size_t len,
		    const struct bmetrics *, const struct backup_counters *live,
		    size_t nlive);

#endif /* REMUS_BACKUP_METRICS_H */
