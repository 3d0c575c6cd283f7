/* tests/lab/xen/xen-drvtest.c -- drive the xen guest driver directly, in
 * the lab's dom0, without the epoch engine or the network.
 *
 *   xen-drvtest open SPEC
 *       open and close; prints "open ok nr_pages=N" or fails with the
 *       driver's one line (for the refusal checks).
 *   xen-drvtest replicate SPEC SECONDS INTERVAL_MS
 *       primary and backup in one process: build the backup twin from
 *       get_config, copy every page into it, then run epochs (suspend,
 *       dirty, copy, save_state, resume; apply to the twin; commit) for
 *       SECONDS.  Then it stops taking checkpoints and waits: on stdin EOF
 *       or a line it activates the twin (failover) and exits.  Prints
 *       "@@DRV epoch ..." lines and a summary with the pause p50.
 *
 * The program touches the driver only through domain_ops/replica_ops.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "drvtest: "
#include "log.h"
#include "util.h"
#include "domain.h"

#define BATCH	1024

static int
full_copy(const struct domain_ops *d, struct domain *dom,
    const struct replica_ops *r, struct replica *rep, uint64_t nr,
    uint8_t *buf)
{
	uint64_t pfns[BATCH], p = 0;
	size_t n, i;

	while (p < nr) {
		for (n = 0; n < BATCH && p < nr; n++)
			pfns[n] = p++;
		if (d->copy_pages(dom, pfns, n, buf) == -1)
			return -1;
		for (i = 0; i < n; i++) {
			void *dst = r->page(rep, pfns[i]);
			if (dst == NULL) {
				log_warnx("replica page %" PRIu64, pfns[i]);
				return -1;
			}
			memcpy(dst, buf + i * 4096, 4096);
		}
	}
	return 0;
}

static int
epoch(const struct domain_ops *d, struct domain *dom,
    const struct replica_ops *r, struct replica *rep, uint64_t nr,
    uint64_t *bitmap, uint8_t *staging, uint8_t *state, uint64_t e,
    uint64_t *pause_us, uint64_t *dirty)
{
	uint64_t t0, count, *pfns, k = 0, w;
	size_t slen = 1 << 20;

	memset(bitmap, 0, (nr + 63) / 64 * 8);
	t0 = now_us();
	if (d->suspend(dom) == -1)
		return -1;
	if (d->dirty_read_clear(dom, bitmap, &count) == -1)
		goto err;
	pfns = malloc((count + 1) * sizeof(*pfns));
	if (pfns == NULL)
		goto err;
	for (w = 0; w < (nr + 63) / 64; w++) {
		uint64_t b = bitmap[w];
		while (b) {
			pfns[k++] = w * 64 + (uint64_t)__builtin_ctzll(b);
			b &= b - 1;
		}
	}
	if (d->copy_pages(dom, pfns, k, staging) == -1 ||
	    d->save_state(dom, state, &slen) == -1) {
		free(pfns);
		goto err;
	}
	if (d->resume(dom) == -1) {
		free(pfns);
		return -1;
	}
	*pause_us = now_us() - t0;
	/* The backup's half: apply, then commit. */
	for (uint64_t i = 0; i < k; i++)
		memcpy(r->page(rep, pfns[i]), staging + i * 4096, 4096);
	*dirty = k;
	{
		int rc = r->commit(rep, e, pfns, k, state, slen);

		free(pfns);
		return rc;
	}
err:
	d->resume(dom);
	return -1;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const struct domain_ops *d;
	const struct replica_ops *r;
	struct domain *dom;
	struct replica *rep;
	struct domain_info di;
	const char *rest;
	char spec[128];
	static uint8_t config[64 << 10];
	size_t clen = sizeof(config);
	uint64_t *bitmap, *pauses, e, dirty, total_dirty = 0;
	uint8_t *staging, *state;
	int secs, interval;

	log_init("xen-drvtest", 1, getenv("DRV_VERBOSE") ? 1 : 0);
	if (argc < 3) {
		fprintf(stderr, "usage: xen-drvtest open SPEC | "
		    "replicate SPEC SECONDS INTERVAL_MS\n");
		return 2;
	}
	snprintf(spec, sizeof(spec), "xen:%s", argv[2]);
	d = domain_ops_lookup(spec, &rest);
	r = replica_ops_lookup("xen");
	if (d == NULL || r == NULL) {
		fprintf(stderr, "xen-drvtest: no xen driver in this build\n");
		return 1;
	}
	dom = d->open(rest, NULL);
	if (dom == NULL)
		return 1;
	d->info(dom, &di);
	if (strcmp(argv[1], "open") == 0) {
		printf("open ok nr_pages=%" PRIu64 "\n", di.nr_pages);
		d->close(dom);
		return 0;
	}
	if (argc != 5 || strcmp(argv[1], "replicate") != 0) {
		fprintf(stderr, "xen-drvtest: bad arguments\n");
		return 2;
	}
	secs = atoi(argv[3]);
	interval = atoi(argv[4]);
	if (d->get_config(dom, config, &clen) == -1)
		return 1;
	rep = r->create("/tmp", NULL, config, clen, &di, NULL);
	if (rep == NULL)
		return 1;
	printf("@@DRV twin created, %zu config bytes, %" PRIu64 " pages\n",
	    clen, di.nr_pages);
	fflush(stdout);
	bitmap = calloc((di.nr_pages + 63) / 64, 8);
	staging = malloc(di.nr_pages * 4096 > (64u << 20) ? (64u << 20) :
	    di.nr_pages * 4096);
	state = malloc(1 << 20);
	pauses = calloc(100000, sizeof(*pauses));
	if (bitmap == NULL || staging == NULL || state == NULL ||
	    pauses == NULL)
		return 1;
	uint64_t t0 = now_us(), cnt;
	if (d->logdirty_enable(dom) == -1 ||
	    d->dirty_read_clear(dom, bitmap, &cnt) == -1 ||
	    full_copy(d, dom, r, rep, di.nr_pages, staging) == -1)
		return 1;
	printf("@@DRV full copy in %.1f s\n", (double)(now_us() - t0) / 1e6);
	fflush(stdout);
	t0 = now_us();
	for (e = 1; e < 100000 &&
	    now_us() - t0 < (uint64_t)secs * 1000000; e++) {
		uint64_t te = now_us();
		if (epoch(d, dom, r, rep, di.nr_pages, bitmap, staging, state,
		    e, &pauses[e - 1], &dirty) == -1) {
			printf("@@DRV epoch %" PRIu64 " failed\n", e);
			return 1;
		}
		total_dirty += dirty;
		if (e <= 3 || e % 20 == 0)
			printf("@@DRV epoch %" PRIu64 " pause_ms=%.1f dirty=%"
			    PRIu64 "\n", e, (double)pauses[e - 1] / 1e3,
			    dirty);
		fflush(stdout);
		uint64_t spent = now_us() - te;
		if (spent < (uint64_t)interval * 1000)
			usleep((useconds_t)((uint64_t)interval * 1000 - spent));
	}
	e--;
	double el = (double)(now_us() - t0) / 1e6;
	qsort(pauses, e, sizeof(*pauses), cmp_u64);
	printf("@@DRV summary epochs=%" PRIu64 " hz=%.2f pause_ms_p50=%.1f "
	    "pause_ms_max=%.1f dirty_per_epoch=%" PRIu64 "\n", e, e / el,
	    e ? pauses[e / 2] / 1e3 : 0.0, e ? pauses[e - 1] / 1e3 : 0.0,
	    e ? total_dirty / e : 0);
	printf("@@DRV committed epoch %" PRIu64 "; waiting for failover\n", e);
	fflush(stdout);
	/* The lab kills the primary, then tells us to fail over. */
	char line[16];
	if (fgets(line, sizeof(line), stdin) == NULL)
		(void)0;
	d->close(dom);
	t0 = now_us();
	if (r->activate(rep) == -1) {
		printf("@@DRV activate failed\n");
		return 1;
	}
	printf("@@DRV activated in %.2f s\n", (double)(now_us() - t0) / 1e6);
	fflush(stdout);
	r->close(rep);
	return 0;
}
