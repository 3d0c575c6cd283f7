/* tests/unit/test-stats.c -- remus's statistics keep a fixed size.
 *
 * The stats module used to keep five samples per epoch for the exit
 * percentiles (17 MB a day at -i 200).  These tests feed it 100,000
 * epochs and check that the heap does not grow, and that the histogram
 * percentiles stay within a bucket of the exact ones.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "checkpoint.h"
#include "hist.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"
#include "util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
make_epoch(struct ckpt_epoch_stats *e, uint64_t n)
{
	memset(e, 0, sizeof *e);
	e->epoch = n;
	e->full = n == 1;
	e->start_us = 1000000 + n * 200000;
	e->period_us = n == 1 ? 0 : 200000 + next_rand() % 5000;
	e->pause_us = 500 + next_rand() % 20000;
	e->dirty_pages = next_rand() % 4096;
	e->raw_bytes = e->dirty_pages * 4096;
	e->wire_bytes = e->raw_bytes / 3;
	e->send_us = 100 + next_rand() % 1000;
	e->ack_rtt_us = 50 + next_rand() % 3000;
}

static size_t
heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* The process's resident set (VmRSS), in KiB; 0 if unreadable. */
static size_t
rss_kib(void)
{
	char line[128];
	size_t kib = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %zu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void
setup(void)
{
	log_init("test-stats", 1, 0);
}

Test(stats, memory_stays_flat_over_100000_epochs, .init = setup,
    .timeout = 60)
{
	struct ckpt_epoch_stats e;
	struct stats *s;
	size_t before, after, rss_before, rss_after;
	uint64_t n;

	s = stats_new(NULL, 0, 0);
	cr_assert(s != NULL);
	for (n = 1; n <= 1000; n++) {
		make_epoch(&e, n);
		stats_epoch(s, &e);
	}
	before = heap_in_use();
	rss_before = rss_kib();
	for (; n <= 101000; n++) {
		make_epoch(&e, n);
		stats_epoch(s, &e);
	}
	after = heap_in_use();
	rss_after = rss_kib();
	cr_assert(rss_before > 0 && rss_after > 0,
	    "no VmRSS in /proc/self/status");
#ifndef __SANITIZE_ADDRESS__
	/* The process as the kernel sees it, too: 4 MB of samples would show;
	 * 256 KiB leaves room for page-granular noise.  (Not under ASan,
	 * whose quarantine keeps freed blocks resident on purpose.) */
	cr_assert(rss_after <= rss_before + 256, "RSS grew from %zu to %zu KiB "
	    "over 100000 epochs", rss_before, rss_after);
#endif
	cr_assert(eq(u64, stats_epochs(s), 101000));
	/* Five 8-byte samples per epoch would be 4 MB here. */
	cr_assert(after <= before + 4096, "heap grew from %zu to %zu bytes "
	    "over 100000 epochs", before, after);
	stats_free(s);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The exact nearest-rank percentile of V (sorted). */
static uint64_t
exact_pct(const uint64_t *v, size_t n, double p)
{
	size_t r = (size_t)(p / 100.0 * (double)n + 0.999999);

	return v[(r < 1 ? 1 : r) - 1];
}

Test(stats, percentiles_within_a_bucket_of_exact, .timeout = 20)
{
	static uint64_t v[50000];
	static const double ps[] = { 1, 10, 50, 90, 99, 99.9 };
	struct hist h;
	size_t i, k;

	memset(&h, 0, sizeof h);
	for (i = 0; i < 50000; i++) {
		/* Log-uniform over 1 us .. 10 s, as pauses and periods
		 * of very different guests would be. */
		v[i] = (uint64_t)1 << (next_rand() % 24);
		v[i] += next_rand() % v[i];
		hist_add(&h, v[i]);
	}
	qsort(v, 50000, sizeof v[0], cmp_u64);
	for (k = 0; k < sizeof ps / sizeof ps[0]; k++) {
		uint64_t want = exact_pct(v, 50000, ps[k]);
		uint64_t got = hist_pct(&h, ps[k]);

		/* A bucket is at most 25% wide (8 to 10). */
		cr_assert(got * 100 >= want * 75 && got * 100 <= want * 125,
		    "p%g: %" PRIu64 ", exact %" PRIu64, ps[k], got, want);
	}
	cr_assert(eq(u64, hist_pct(&h, 100), v[49999]));
	cr_assert(eq(u64, h.min, v[0]));
	cr_assert(eq(u64, h.count, 50000));
}

Test(stats, hist_edges)
{
	struct hist h;
	size_t i;

	memset(&h, 0, sizeof h);
	cr_assert(eq(u64, hist_pct(&h, 50), 0));
	hist_add(&h, 7);
	cr_assert(eq(u64, hist_pct(&h, 1), 7));
	cr_assert(eq(u64, hist_pct(&h, 50), 7));
	cr_assert(eq(u64, hist_pct(&h, 100), 7));
	hist_add(&h, UINT64_MAX / 2);		/* beyond the last bound */
	cr_assert(eq(u64, hist_pct(&h, 100), UINT64_MAX / 2));
	cr_assert(eq(u64, hist_count_le(&h, hist_bound(HIST_NBOUNDS - 1)), 1));
	/* Bounds increase, and 1, 2.5, 5 x 10^k are among them. */
	for (i = 1; i < HIST_NBOUNDS; i++)
		cr_assert(hist_bound(i) > hist_bound(i - 1));
	cr_assert(eq(u64, hist_count_le(&h, 6), 0));
	cr_assert(eq(u64, hist_count_le(&h, 7), 1));
	memset(&h, 0, sizeof h);
	for (i = 0; i < 1000; i++)
		hist_add(&h, i);
	cr_assert(eq(u64, hist_count_le(&h, 250), 251));
	cr_assert(eq(u64, hist_count_le(&h, 500), 501));
	cr_assert(eq(u64, hist_count_le(&h, 100), 101));
}

Test(stats, summary_reads_the_histograms, .init = setup)
{
	struct ckpt_epoch_stats e;
	struct stats *s;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	uint64_t n;

	s = stats_new(NULL, 0, 0);
	cr_assert(s != NULL);
	for (n = 1; n <= 100; n++) {
		memset(&e, 0, sizeof e);
		e.epoch = n;
		e.full = n == 1;
		e.start_us = n * 100000;
		e.period_us = 100000;
		e.pause_us = n == 1 ? 999999 : 2000;	/* full: left out */
		e.dirty_pages = 10;
		e.raw_bytes = 1 << 20;
		e.wire_bytes = 1 << 19;
		stats_epoch(s, &e);
	}
	f = open_memstream(&buf, &len);
	cr_assert(f != NULL);
	stats_summary(s, f);
	fclose(f);
	cr_assert(strstr(buf, "100 epochs acknowledged") != NULL, "%s", buf);
	cr_assert(strstr(buf, "pause us p50 2000 p99 2000 max 2000;") != NULL,
	    "%s", buf);
	cr_assert(strstr(buf, "period us p50 100000 p99 100000") != NULL,
	    "%s", buf);
	cr_assert(strstr(buf, "100 MiB raw -> 50 MiB on the wire (2.00x)") !=
	    NULL, "%s", buf);
	free(buf);
	stats_free(s);
}

/* The exposition's counters are the totals, each histogram's buckets are
 * cumulative and end in +Inf = _count; the whole text fits the size
 * metrics_format reports. */
Test(stats, metrics_format_matches_the_totals, .init = setup)
{
	struct ckpt_epoch_stats e;
	struct stats *s;
	uint64_t n, prev = 0, v, raw = 0;
	size_t len, len2;
	char *buf, *p, line[256];
	int buckets = 0;

	s = stats_new(NULL, 0, 0);
	cr_assert(s != NULL);
	for (n = 1; n <= 500; n++) {
		make_epoch(&e, n);
		raw += e.raw_bytes;
		stats_epoch(s, &e);
	}
	len = metrics_format(NULL, 0, s);
	cr_assert(len > 1000);
	buf = malloc(len + 1);
	cr_assert(buf != NULL);
	len2 = metrics_format(buf, len + 1, s);
	cr_assert(eq(sz, len, len2));
	cr_assert(eq(sz, strlen(buf), len));
	cr_assert(strstr(buf, "\nremus_epochs_total 500\n") != NULL);
	cr_assert(strstr(buf, "\nremus_full_epochs_total 1\n") != NULL);
	snprintf(line, sizeof line, "\nremus_raw_bytes_total %" PRIu64 "\n",
	    raw);
	cr_assert(strstr(buf, line) != NULL, "no \"%s\"", line + 1);
	for (p = strstr(buf, "remus_pause_seconds_bucket"); p != NULL &&
	    strncmp(p, "remus_pause_seconds_bucket", 26) == 0;
	    p = strchr(p, '\n') + 1) {
		cr_assert(sscanf(strchr(p, '}') + 1, "%" SCNu64, &v) == 1);
		cr_assert(v >= prev, "not cumulative: %.60s", p);
		prev = v;
		buckets++;
	}
	cr_assert(buckets >= 10);
	cr_assert(strstr(buf, "remus_pause_seconds_bucket{le=\"+Inf\"} 499\n")
	    != NULL);
	cr_assert(strstr(buf, "remus_pause_seconds_count 499\n") != NULL);
	cr_assert(strstr(buf, "remus_pause_seconds_bucket{le=\"0.001\"} ") !=
	    NULL);
	/* A short buffer is cut, NUL-terminated, and the length still
	 * says how much was needed. */
	cr_assert(eq(sz, metrics_format(buf, 10, s), len));
	cr_assert(eq(sz, strlen(buf), 9));
	free(buf);
	stats_free(s);
}
