/* tests/unit/test-backup-metrics.c -- remusd's per-guest counters
 * (remusd/backup-metrics.c): sessions over are summed per guest, live
 * ones added at each format without being kept, label values escaped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "backup.h"
#include "backup-metrics.h"

static char *
format(const struct bmetrics *bm, const struct backup_counters *live,
    size_t nlive)
{
	size_t n = bmetrics_format(NULL, 0, bm, live, nlive);
	char *buf = malloc(n + 1);

	cr_assert_not_null(buf);
	cr_assert_eq(bmetrics_format(buf, n + 1, bm, live, nlive), n);
	cr_assert_eq(strlen(buf), n);
	return buf;
}

static void
has(const char *text, const char *line)
{
	char want[256];

	snprintf(want, sizeof want, "\n%s\n", line);
	cr_assert_not_null(strstr(text, want), "no line \"%s\" in:\n%s", line,
	    text);
}

Test(backup_metrics, sums_per_guest)
{
	struct bmetrics *bm = bmetrics_new();
	struct backup_counters a = { .name = "web1", .epochs = 10,
	    .bytes = 1000, .acks = 10, .failovers = 0, .fence_runs = 2,
	    .fence_ok = 1 };
	struct backup_counters b = { .name = "web1", .epochs = 5,
	    .bytes = 500, .acks = 4, .failovers = 1, .fence_runs = 1,
	    .fence_ok = 1 };
	struct backup_counters nohello = { .name = "" , .bytes = 16 };
	struct backup_counters live = { .name = "db", .epochs = 3,
	    .acks = 3 };
	char *t;

	cr_assert_not_null(bm);
	cr_assert_eq(bmetrics_add(bm, &a), 0);
	cr_assert_eq(bmetrics_add(bm, &b), 0);
	cr_assert_eq(bmetrics_add(bm, &nohello), 0);
	t = format(bm, &live, 1);
	has(t, "remusd_sessions 1");
	has(t, "remusd_sessions_total{guest=\"web1\"} 2");
	has(t, "remusd_sessions_total{guest=\"db\"} 1");
	has(t, "remusd_epochs_total{guest=\"web1\"} 15");
	has(t, "remusd_epochs_total{guest=\"db\"} 3");
	has(t, "remusd_stream_bytes_total{guest=\"web1\"} 1500");
	has(t, "remusd_acks_total{guest=\"web1\"} 14");
	has(t, "remusd_failovers_total{guest=\"web1\"} 1");
	has(t, "remusd_fence_runs_total{guest=\"web1\",result=\"fenced\"} 2");
	has(t, "remusd_fence_runs_total{guest=\"web1\",result=\"failed\"} 1");
	/* A connection without HELLO is no guest. */
	cr_assert_null(strstr(t, "guest=\"\""));
	free(t);
	/* The live session was not kept. */
	t = format(bm, NULL, 0);
	has(t, "remusd_sessions 0");
	cr_assert_null(strstr(t, "db"), "%s", t);
	free(t);
	bmetrics_free(bm);
}

Test(backup_metrics, label_escaped)
{
	struct bmetrics *bm = bmetrics_new();
	struct backup_counters a = { .name = "a\"b\\c\nd", .epochs = 1 };
	char *t;

	cr_assert_eq(bmetrics_add(bm, &a), 0);
	t = format(bm, NULL, 0);
	has(t, "remusd_epochs_total{guest=\"a\\\"b\\\\c\\nd\"} 1");
	free(t);
	bmetrics_free(bm);
}

Test(backup_metrics, truncates_like_snprintf)
{
	struct bmetrics *bm = bmetrics_new();
	struct backup_counters a = { .name = "web1", .epochs = 1 };
	char small[16];
	size_t n;

	cr_assert_eq(bmetrics_add(bm, &a), 0);
	n = bmetrics_format(small, sizeof small, bm, NULL, 0);
	cr_assert_gt(n, sizeof small);
	cr_assert_eq(strlen(small), sizeof small - 1);
	bmetrics_free(bm);
}
