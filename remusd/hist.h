/* remusd/hist.h -- fixed-size histograms for per-epoch figures.
 *
 * A process meant to run for months cannot keep every sample: a struct
 * hist is about 1 KiB whatever it counts.  Its buckets are fixed and
 * log-spaced, the same for every histogram: 0..9 one by one, then ten per
 * decade (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times 10^k) up to 8e12, then
 * one bucket for anything larger.  A percentile is interpolated inside its
 * bucket and kept within the exact min and max, so it is off by at most
 * the bucket's width (25% of the value at worst, 20% mostly).  Prometheus
 * histograms are read off the same buckets (hist_count_le), so every
 * "le" they print is an exact bucket bound.
 */
#ifndef REMUS_HIST_H
#define REMUS_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_NBOUNDS	130			/* finite bucket bounds */

struct hist {
	uint64_t	count, sum, min, max;
	/* bucket[i]: values in (bound(i-1), bound(i)]; bucket[HIST_NBOUNDS]:
	 * values above the last bound. */
	uint64_t	bucket[HIST_NBOUNDS + 1];
};

/* Count V.  Never allocates; a zeroed struct hist is an empty one. */
void		hist_add(struct hist *, uint64_t v);
/* The P-th percentile (0..100) of what was counted; 0 when empty, the
 * exact max for P = 100. */
uint64_t	hist_pct(const struct hist *, double p);
/* Bucket bound I (0 <= I < HIST_NBOUNDS), increasing. */
uint64_t	hist_bound(size_t i);
/* How many values are <= BOUND, exactly when BOUND is a bucket bound
 * (otherwise of the bounds below it). */
uint64_t	hist_count_le(const struct hist *, uint64_t bound);

#endif /* REMUS_HIST_H */
