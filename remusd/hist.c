/* remusd/hist.c -- fixed-size log-spaced histograms (hist.h). */
#include <stdint.h>

#include "hist.h"

#define DECADE(k)	10 * (k), 12 * (k), 15 * (k), 20 * (k), 25 * (k), \
			30 * (k), 40 * (k), 50 * (k), 60 * (k), 80 * (k)

/* 1, 2, 2.5 and 5 times 10^k are all bounds, so the usual Prometheus
 * bucket series can be printed exactly. */
static const uint64_t bounds[HIST_NBOUNDS] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
	DECADE(1ull), DECADE(10ull), DECADE(100ull), DECADE(1000ull),
	DECADE(10000ull), DECADE(100000ull), DECADE(1000000ull),
	DECADE(10000000ull), DECADE(100000000ull), DECADE(1000000000ull),
	DECADE(10000000000ull), DECADE(100000000000ull),
};

_Static_assert(sizeof bounds / sizeof bounds[0] == HIST_NBOUNDS,
    "HIST_NBOUNDS must match the bounds table");

/* The first bucket whose bound is >= V; HIST_NBOUNDS when above all. */
static size_t
bucket_of(uint64_t v)
{
	size_t lo = 0, hi = HIST_NBOUNDS;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bounds[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
hist_add(struct hist *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
	h->bucket[bucket_of(v)]++;
}

uint64_t
hist_bound(size_t i)
{
	return i < HIST_NBOUNDS ? bounds[i] : UINT64_MAX;
}

uint64_t
hist_count_le(const struct hist *h, uint64_t bound)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < HIST_NBOUNDS && bounds[i] <= bound; i++)
		n += h->bucket[i];
	return n;
}

uint64_t
hist_pct(const struct hist *h, double p)
{
	uint64_t rank, cum = 0, lo, hi, v;
	size_t i;

	if (h->count == 0)
		return 0;
	if (p >= 100)
		return h->max;
	/* Nearest rank, 1-based. */
	rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	for (i = 0; i <= HIST_NBOUNDS; i++) {
		if (cum + h->bucket[i] >= rank)
			break;
		cum += h->bucket[i];
	}
	if (i > HIST_NBOUNDS)		/* cannot be: counts add up */
		return h->max;
	/* The rank-th value lies in (lo, hi]: spread the bucket's values
	 * evenly over it, then keep within what was really seen. */
	lo = i == 0 ? 0 : bounds[i - 1];
	hi = i < HIST_NBOUNDS ? bounds[i] : h->max;
	if (i == 0 || hi <= lo)
		v = hi;
	else
		v = lo + (uint64_t)((double)(hi - lo) *
		    (double)(rank - cum) / (double)h->bucket[i]);
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}
