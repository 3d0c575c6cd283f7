/* tests/lab/xen/pausemeter.c -- how long a domain stands still, seen from
 * the hypervisor, whatever tool checkpoints it.
 *
 *   xen-pausemeter DOMID SECONDS [PERIOD_US]
 *
 * Polls Xen's domain info every PERIOD_US (default 1000) for SECONDS and
 * times each stretch in which the domain is shut down for suspend or
 * paused: the part of a checkpoint in which the guest cannot run.  remus
 * reports its own pauses, xl remus none; this one instrument measures both
 * the same way, so bench/xen's pause figures compare.  Stretches already
 * under way at the start or still open at the end are not counted.
 *
 * Prints one line:
 *   @@PAUSE n=N p50_ms=X p90_ms=X max_ms=X stopped_frac=X
 * (p50 etc. are "na" when no pause was seen).  Exit 1 if the domain is
 * gone or Xen cannot be asked.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xenctrl.h>

#define MAX_PAUSES	100000

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* 1: stopped (suspended or paused), 0: may run, -1: gone. */
static int
stopped(xc_interface *xch, uint32_t domid)
{
	xc_dominfo_t info;

	if (xc_domain_getinfo(xch, domid, 1, &info) != 1 ||
	    info.domid != domid || info.dying)
		return -1;
	if (info.paused)
		return 1;
	return info.shutdown && info.shutdown_reason == SHUTDOWN_suspend;
}

int
main(int argc, char **argv)
{
	static uint64_t pauses[MAX_PAUSES];
	xc_interface *xch;
	uint64_t t0, t, since = 0, total = 0, secs, period = 1000;
	size_t n = 0;
	uint32_t domid;
	int s, was = -1;
	char *end;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: xen-pausemeter DOMID SECONDS "
		    "[PERIOD_US]\n");
		return 2;
	}
	errno = 0;
	domid = (uint32_t)strtoul(argv[1], &end, 10);
	if (errno || *end || end == argv[1]) {
		fprintf(stderr, "xen-pausemeter: bad domid '%s'\n", argv[1]);
		return 2;
	}
	secs = strtoull(argv[2], &end, 10);
	if (*end || secs == 0 || (argc == 4 &&
	    (period = strtoull(argv[3], &end, 10)) == 0)) {
		fprintf(stderr, "xen-pausemeter: bad seconds or period\n");
		return 2;
	}
	xch = xc_interface_open(NULL, NULL, 0);
	if (xch == NULL) {
		fprintf(stderr, "xen-pausemeter: cannot open Xen's control "
		    "interface: %s\n", strerror(errno));
		return 1;
	}
	t0 = mono_us();
	for (t = t0; t - t0 < secs * 1000000; t = mono_us()) {
		s = stopped(xch, domid);
		if (s == -1) {
			fprintf(stderr, "xen-pausemeter: domain %u is gone\n",
			    domid);
			xc_interface_close(xch);
			return 1;
		}
		/* A stretch counts from the first poll that saw it to the
		 * first that did not: resolution one period. */
		if (s == 1 && was == 0)
			since = t;
		else if (s == 0 && was == 1 && since != 0 && n < MAX_PAUSES) {
			pauses[n++] = t - since;
			total += t - since;
		}
		was = s;
		usleep((useconds_t)period);
	}
	xc_interface_close(xch);
	if (n == 0) {
		printf("@@PAUSE n=0 p50_ms=na p90_ms=na max_ms=na "
		    "stopped_frac=0\n");
		return 0;
	}
	qsort(pauses, n, sizeof(pauses[0]), cmp_u64);
	printf("@@PAUSE n=%zu p50_ms=%.1f p90_ms=%.1f max_ms=%.1f "
	    "stopped_frac=%.3f\n", n, pauses[n / 2] / 1e3,
	    pauses[n * 9 / 10] / 1e3, pauses[n - 1] / 1e3,
	    (double)total / (double)(t - t0));
	return 0;
}
