/* bench/epoch.c -- bench-epoch: what an epoch costs the guest.
 *
 * Drives the real engine in-process, in blackhole mode (the whole epoch
 * loop, acknowledged locally), against a real proc guest: remus-dirtier
 * with a 1 GiB arena (--arena-size), which writes exactly N distinct pages
 * per epoch.  Measured side by side in one run:
 *
 *   - memcpy bandwidth of this machine (64 MiB blocks, and 4 KiB pages
 *     gathered at random from 1 GiB, the engine's access pattern);
 *   - per N in 100 .. 20,000: the pause (suspend .. resume) p50/p99 and
 *     the copy rate it implies, N * 4 KiB / pause;
 *   - per N in {200, 2000}: the highest epoch rate that holds its period
 *     (p50 within 10% of the interval), its period jitter, and the CPU the
 *     engine spends per epoch (encode with compression on);
 *   - per N in {0, 100, 2000} and writer (burst: N pages right after each
 *     resume, as above; steady: --rate, N pages per interval spread over
 *     it, so that pages are written during the pre-copy too): the paused
 *     pass without and with --precopy, in alternating runs of the same
 *     guest setup (load on the machine hits both alike), with where the
 *     pause went and what the pre-copy took while the guest ran (0
 *     pages, burst only: the floor, a suspend and a walk of the page
 *     tables with nothing written).
 *
 * Targets (issue 3): pause <= 1 ms + dirty copy at >= 50% of memcpy;
 * 40 Hz sustained at 2,000 pages per epoch, 100 Hz at 200.  Issue 15:
 * pause p50 <= 0.5 ms at 2,000 dirty pages on 1 GiB.
 *
 * Output: human lines, then one line per case:
 *   BENCH epoch dirty_pages=N pause_us_p50=X pause_us_p99=X copy_GBps=X
 *         memcpy_GBps=X suspend_us_p50=X dirtylog_us_p50=X target_us=X ok=0|1
 *   (copy_GBps: the staging copy alone; memcpy_GBps: 4 KiB pages gathered
 *   from 1 GiB, the same access pattern)
 *   BENCH rate dirty_pages=N hz=X period_jitter_us_p99=X
 *         cpu_us_per_epoch=X target_hz=X ok=0|1
 *   BENCH epoch dirty_pages=N writer=burst|steady precopy=off|on
 *         pause_ms_p50=X pause_ms_p99=X suspend_ms_p50=X dirtylog_ms_p50=X
 *         copy_ms_p50=X other_ms_p50=X precopy_ms_p50=X
 *         precopy_pages_p50=X recopy_pages_p50=X paused_pages_p50=X
 *   BENCH epoch dirty_pages=N writer=W pause_ms_p50_off=X
 *         pause_ms_p50_on=X ratio=X default=on|off target_ms=0.5 ok=0|1
 *   (precopy=on is --precopy on; default: what the default, auto, does
 *   at N pages, whose pause ok compares with the target)
 *   (other: the pause's rest -- the device hooks, the stats, resume's
 *   wake-up; paused_pages: those the paused pass copied)
 * Not a ctest test: run `bench-epoch` (root: the proc driver) by hand;
 * `bench-epoch --precopy-only` runs the last part alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "checkpoint.h"
#include "codec.h"
#include "compiler.h"
#include "domain.h"
#include "log.h"
#include "transport.h"
#include "util.h"

#define MAX_SAMPLES	4096

struct run {
	struct ev_loop	*loop;
	struct ckpt	*c;
	uint64_t	 skip;		/* epochs to ignore (1 = the full one) */
	uint64_t	 want;		/* stop after this many measured */
	uint64_t	 n;
	uint64_t	 pause[MAX_SAMPLES], period[MAX_SAMPLES];
	uint64_t	 susp[MAX_SAMPLES], dlog[MAX_SAMPLES], copy[MAX_SAMPLES];
	uint64_t	 pre[MAX_SAMPLES], pre_pages[MAX_SAMPLES];
	uint64_t	 re_pages[MAX_SAMPLES], paused_pages[MAX_SAMPLES];
	uint64_t	 dirty, raw;
	int		 done;
	enum ckpt_result result;
	struct rusage	 ru0;
	uint64_t	 t0;
};

static const char *dirtier_path;
static const char *arena = "1G";
/* The next run_engine's guest and engine (the pre-copy comparison). */
static enum ckpt_precopy run_precopy = CKPT_PRECOPY_OFF;
static uint64_t run_rate;	/* dirtier --rate: writes/s; 0: burst */
static struct domain_opts dom_opts;	/* --scan-threads */
static char rundir[] = "/tmp/bench-epoch.XXXXXX";

static double
gbps(uint64_t bytes, uint64_t us)
{
	return us ? (double)bytes / (double)us / 1e3 : 0;
}

/* ---- memcpy bandwidth ---------------------------------------------- */

static double
memcpy_block_gbps(void)
{
	size_t sz = 64u << 20;
	uint8_t *a = malloc(sz), *b = malloc(sz);
	uint64_t t, best = UINT64_MAX;
	int i;

	if (!a || !b)
		exit(1);
	memset(a, 1, sz);
	memset(b, 2, sz);
	for (i = 0; i < 5; i++) {
		t = now_us();
		memcpy(b, a, sz);
		t = now_us() - t;
		if (t < best)
			best = t;
	}
	__asm__ volatile("" : : "r"(b) : "memory");
	free(a);
	free(b);
	return gbps(sz, best);
}

/* 4 KiB pages from random places of a 1 GiB area: what copy_pages does. */
static double
memcpy_gather_gbps(void)
{
	size_t big = 1u << 30, n = 8192, ps = 4096, i;
	uint8_t *src, *dst;
	uint64_t t, best = UINT64_MAX;
	int r;

	src = mmap(NULL, big, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = malloc(n * ps);
	if (src == MAP_FAILED || !dst)
		exit(1);
	for (i = 0; i < big; i += ps)
		src[i] = (uint8_t)i;
	for (r = 0; r < 5; r++) {
		t = now_us();
		for (i = 0; i < n; i++)
			memcpy(dst + i * ps, src + ((size_t)rand() % (big / ps)) * ps, ps);
		t = now_us() - t;
		if (t < best)
			best = t;
	}
	munmap(src, big);
	free(dst);
	return gbps(n * ps, best);
}

/* ---- The guest ---------------------------------------------------------- */

static pid_t
start_dirtier(uint64_t pages, char *pidfile, size_t len)
{
	char np[32], ws[32];
	uint64_t t;
	pid_t pid;
	FILE *f;
	int gp = 0;

	snprintf(pidfile, len, "%s/dirtier.pid", rundir);
	unlink(pidfile);
	snprintf(np, sizeof np, "%" PRIu64, pages);
	/* Working set: all of a 20,000-page epoch fits, and repeats less. */
	snprintf(ws, sizeof ws, "%" PRIu64, pages * 4 > 40000 ? pages * 4 : 40000);
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		char rate[32];

		dup2(nul, 1);
		snprintf(rate, sizeof rate, "%" PRIu64, run_rate);
		if (run_rate)
			execl(dirtier_path, "remus-dirtier", "--rate", rate,
			    "--working-set", ws, "--arena-size", arena,
			    "--pidfile", pidfile, (char *)NULL);
		else
			execl(dirtier_path, "remus-dirtier", "--pages", np,
			    "--working-set", ws, "--arena-size", arena,
			    "--pidfile", pidfile, (char *)NULL);
		_exit(127);
	}
	for (t = now_us(); now_us() - t < 20000000;) {
		f = fopen(pidfile, "r");
		if (f && fscanf(f, "%d", &gp) == 1 && gp > 0) {
			fclose(f);
			return pid;
		}
		if (f)
			fclose(f);
		usleep(20000);
	}
	fprintf(stderr, "bench-epoch: %s did not start\n", dirtier_path);
	exit(1);
}

static void
stop_dirtier(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- One engine run ----------------------------------------------------- */

static void
on_stats(const struct ckpt_epoch_stats *s, void *arg)
{
	struct run *r = arg;

	if (s->epoch == r->skip) {
		getrusage(RUSAGE_SELF, &r->ru0);
		r->t0 = now_us();
	}
	if (s->epoch <= r->skip || r->n >= MAX_SAMPLES)
		return;
	r->pause[r->n] = s->pause_us;
	r->period[r->n] = s->period_us;
	r->susp[r->n] = s->suspend_us;
	r->dlog[r->n] = s->dirtylog_us;
	r->copy[r->n] = s->copy_us;
	r->pre[r->n] = s->precopy_us;
	r->pre_pages[r->n] = s->precopy_pages;
	r->re_pages[r->n] = s->recopy_pages;
	r->paused_pages[r->n] = s->dirty_pages - s->precopy_pages +
	    s->recopy_pages;
	r->dirty += s->dirty_pages;
	r->raw += s->raw_bytes;
	r->n++;
	if (r->n >= r->want)
		ckpt_stop(r->c);
}

static void
on_done(struct ckpt *c __unused, enum ckpt_result res, void *arg)
{
	struct run *r = arg;

	r->result = res;
	r->done = 1;
	ev_break(r->loop, EVBREAK_ALL);
}

/* Protect a dirtier writing PAGES per epoch at INTERVAL_US; measure WANT
 * epochs after the first SKIP.  Returns CPU microseconds per epoch. */
static double
run_engine(uint64_t pages, uint32_t interval_us, int compress, uint64_t want,
    struct run *r)
{
	const struct domain_ops *ops;
	struct ckpt_config cfg;
	struct transport tp;
	struct domain *dom;
	struct rusage ru1;
	char pidfile[PATH_MAX], spec[64];
	const char *rest;
	pid_t pid;
	int gp;
	FILE *f;
	double cpu;

	pid = start_dirtier(pages, pidfile, sizeof pidfile);
	f = fopen(pidfile, "r");
	if (!f || fscanf(f, "%d", &gp) != 1)
		exit(1);
	fclose(f);
	snprintf(spec, sizeof spec, "proc:%d", gp);
	ops = domain_ops_lookup(spec, &rest);
	dom = ops ? ops->open(rest, &dom_opts) : NULL;
	if (dom == NULL) {
		fprintf(stderr, "bench-epoch: cannot attach to %s\n", spec);
		stop_dirtier(pid);
		exit(1);
	}
	memset(r, 0, sizeof *r);
	r->loop = ev_loop_new(EVFLAG_AUTO);
	r->skip = 2;		/* the full epoch, and the one right after */
	r->want = want;
	transport_open(&tp, &transport_blackhole_ops, "", NULL, 0);
	memset(&cfg, 0, sizeof cfg);
	/* The CLI takes whole milliseconds >= 25; the bench goes finer. */
	cfg.interval_ms = interval_us / 1000 ? interval_us / 1000 : 1;
	cfg.compress = compress;
	cfg.cache_bytes = compress ? CODEC_CACHE_DEFAULT : 0;
	cfg.timeout_ms = 10000;
	cfg.guest_name = spec;
	cfg.precopy = run_precopy;
	r->c = ckpt_new(r->loop, ops, dom, &tp, &cfg);
	if (r->c == NULL)
		exit(1);
	ckpt_set_callbacks(r->c, on_stats, on_done, r);
	if (ckpt_start(r->c) == -1)
		exit(1);
	if (!r->done)
		ev_run(r->loop, 0);
	getrusage(RUSAGE_SELF, &ru1);
	cpu = (double)((ru1.ru_utime.tv_sec - r->ru0.ru_utime.tv_sec) * 1000000 +
	    (ru1.ru_utime.tv_usec - r->ru0.ru_utime.tv_usec) +
	    (ru1.ru_stime.tv_sec - r->ru0.ru_stime.tv_sec) * 1000000 +
	    (ru1.ru_stime.tv_usec - r->ru0.ru_stime.tv_usec));
	ckpt_free(r->c);
	ev_loop_destroy(r->loop);
	transport_close(&tp);
	ops->close(dom);
	stop_dirtier(pid);
	if (r->result != CKPT_STOPPED) {
		fprintf(stderr, "bench-epoch: engine ended: %s\n",
		    ckpt_result_str(r->result));
		exit(1);
	}
	return r->n ? cpu / (double)r->n : 0;
}

static int
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: bench-epoch [--arena-size SIZE] [--quick] [--precopy-only]\n"
	    "                   [--scan-threads N]\n"
	    "  (root; runs remus-dirtier from the same directory)\n");
	return status;
}

/* ---- Pre-copy: the paused pass without and with it ------------------- */

#define PC_MAX	(MAX_SAMPLES / 2)

/* One side's samples over its runs. */
struct pc_side {
	size_t		 n;
	uint64_t	 pause[PC_MAX], susp[PC_MAX], dlog[PC_MAX], copy[PC_MAX];
	uint64_t	 other[PC_MAX], pre[PC_MAX], pre_pages[PC_MAX];
	uint64_t	 re_pages[PC_MAX], paused_pages[PC_MAX];
};

static void
pc_add(struct pc_side *p, const struct run *r)
{
	size_t i;

	for (i = 0; i < r->n && p->n < PC_MAX; i++, p->n++) {
		uint64_t parts = r->susp[i] + r->dlog[i] + r->copy[i];

		p->pause[p->n] = r->pause[i];
		p->susp[p->n] = r->susp[i];
		p->dlog[p->n] = r->dlog[i];
		p->copy[p->n] = r->copy[i];
		p->other[p->n] = r->pause[i] > parts ? r->pause[i] - parts : 0;
		p->pre[p->n] = r->pre[i];
		p->pre_pages[p->n] = r->pre_pages[i];
		p->re_pages[p->n] = r->re_pages[i];
		p->paused_pages[p->n] = r->paused_pages[i];
	}
}

static double
p50_ms(uint64_t *v, size_t n)
{
	return (double)percentile_u64(v, n, 50) / 1000.0;
}

static void
pc_print(uint64_t pages, const char *writer, const char *name,
    struct pc_side *p)
{
	printf("%5" PRIu64 " pages, %-6s writer, pre-copy %-3s: pause p50 "
	    "%.3f ms p99 %.3f (suspend %.3f, dirty log %.3f, copy %.3f, "
	    "rest %.3f; %" PRIu64 " pages copied paused); pre-copy %.3f ms "
	    "for %" PRIu64 " pages, %" PRIu64 " written again (%zu epochs)\n",
	    pages, writer, name, p50_ms(p->pause, p->n),
	    (double)percentile_u64(p->pause, p->n, 99) / 1000.0,
	    p50_ms(p->susp, p->n), p50_ms(p->dlog, p->n),
	    p50_ms(p->copy, p->n), p50_ms(p->other, p->n),
	    percentile_u64(p->paused_pages, p->n, 50), p50_ms(p->pre, p->n),
	    percentile_u64(p->pre_pages, p->n, 50),
	    percentile_u64(p->re_pages, p->n, 50), p->n);
	printf("BENCH epoch dirty_pages=%" PRIu64 " writer=%s precopy=%s "
	    "pause_ms_p50=%.3f pause_ms_p99=%.3f suspend_ms_p50=%.3f "
	    "dirtylog_ms_p50=%.3f copy_ms_p50=%.3f other_ms_p50=%.3f "
	    "precopy_ms_p50=%.3f precopy_pages_p50=%" PRIu64
	    " recopy_pages_p50=%" PRIu64 " paused_pages_p50=%" PRIu64 "\n",
	    pages, writer, name, p50_ms(p->pause, p->n),
	    (double)percentile_u64(p->pause, p->n, 99) / 1000.0,
	    p50_ms(p->susp, p->n), p50_ms(p->dlog, p->n),
	    p50_ms(p->copy, p->n), p50_ms(p->other, p->n),
	    p50_ms(p->pre, p->n), percentile_u64(p->pre_pages, p->n, 50),
	    percentile_u64(p->re_pages, p->n, 50),
	    percentile_u64(p->paused_pages, p->n, 50));
}

/* The paused pass at PAGES dirty pages per 200 ms epoch, pre-copy off and
 * on, in ROUNDS alternating pairs of runs of WANT epochs each. */
static void
precopy_case(uint64_t pages, int steady, int rounds, uint64_t want,
    struct run *r)
{
	static struct pc_side side[2];
	const char *writer = steady ? "steady" : "burst";
	double off, on;
	int k, j, v;

	memset(side, 0, sizeof side);
	run_rate = steady ? pages * 5 : 0;	/* pages per 200 ms */
	for (k = 0; k < rounds; k++) {
		for (j = 0; j < 2; j++) {
			/* off, on; then on, off: neither always goes
			 * first on a machine whose load drifts. */
			v = (k % 2) ? 1 - j : j;
			run_precopy = v ? CKPT_PRECOPY_ON : CKPT_PRECOPY_OFF;
			run_engine(pages, 200000, 0, want, r);
			pc_add(&side[v], r);
		}
	}
	run_rate = 0;
	run_precopy = CKPT_PRECOPY_OFF;
	pc_print(pages, writer, "off", &side[0]);
	pc_print(pages, writer, "on", &side[1]);
	off = p50_ms(side[0].pause, side[0].n);
	on = p50_ms(side[1].pause, side[1].n);
	/* The default (auto) pre-copies from CKPT_PRECOPY_MIN_PAGES on:
	 * its pause is the "on" one there, the "off" one below. */
	printf("BENCH epoch dirty_pages=%" PRIu64 " writer=%s "
	    "pause_ms_p50_off=%.3f pause_ms_p50_on=%.3f ratio=%.2f "
	    "default=%s target_ms=0.5 ok=%d\n\n", pages, writer, off, on,
	    off > 0 ? on / off : 0,
	    pages >= CKPT_PRECOPY_MIN_PAGES ? "on" : "off",
	    (pages >= CKPT_PRECOPY_MIN_PAGES ? on : off) <= 0.5);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static const uint64_t sweep[] = { 100, 500, 1000, 2000, 5000, 10000,
	    20000 };
	static const uint32_t intervals_us[] = { 100000, 50000, 40000, 25000,
	    20000, 15000, 10000, 7000, 5000 };
	static const struct option lo[] = {
		{ "arena-size", required_argument, NULL, 'a' },
		{ "quick", no_argument, NULL, 'q' },
		{ "precopy-only", no_argument, NULL, 'p' },
		{ "scan-threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char self[PATH_MAX], path[PATH_MAX + 32];
	struct run *r;
	double mc, mg, cpu;
	uint64_t measured, v;
	size_t i, j;
	int ch, quick = 0, only_precopy = 0;
	ssize_t n;

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'a':
			arena = optarg;
			break;
		case 'q':
			quick = 1;
			break;
		case 'p':
			only_precopy = 1;
			break;
		case 't':
			if (parse_uint(optarg, 1, 2, &v) == -1)
				return usage(1);
			dom_opts.scan_threads = (unsigned)v;
			break;
		case 'h':
			return usage(0);
		default:
			return usage(1);
		}
	}
	log_init("bench-epoch", 1, 0);
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	snprintf(path, sizeof path, "%s/remus-dirtier", dirname(self));
	dirtier_path = path;
	if (access(dirtier_path, X_OK) == -1) {
		fprintf(stderr, "bench-epoch: %s: %s\n", dirtier_path,
		    strerror(errno));
		return 1;
	}
	if (mkdtemp(rundir) == NULL)
		return 1;
	setenv("REMUS_PROC_RUNDIR", rundir, 1);
	r = calloc(1, sizeof *r);
	measured = quick ? 10 : 30;

	mc = memcpy_block_gbps();
	mg = memcpy_gather_gbps();
	printf("memcpy: %.2f GB/s in 64 MiB blocks, %.2f GB/s gathering "
	    "4 KiB pages from 1 GiB\n", mc, mg);
	printf("guest: remus-dirtier, arena %s; engine in blackhole mode\n\n",
	    arena);
	if (only_precopy)
		goto precopy;
	printf("pause vs dirty pages, --precopy off (every page copied "
	    "paused):\n");

	/* Pause vs dirty pages: no compression, so the interval is not
	 * bound by encoding; the pause does not depend on it anyway. */
	for (i = 0; i < ARRAY_SIZE(sweep); i++) {
		uint64_t p50, p99, target;
		double copy;

		run_engine(sweep[i], 200000, 0, measured, r);
		p50 = percentile_u64(r->pause, r->n, 50);
		p99 = percentile_u64(r->pause, r->n, 99);
		/* The copy itself; the pause also holds the suspend handshake
		 * and the dirty log. */
		copy = gbps(sweep[i] * 4096, percentile_u64(r->copy, r->n, 50));
		target = 1000 + (uint64_t)((double)sweep[i] * 4096 /
		    (0.5 * mg * 1e3));
		printf("%6" PRIu64 " dirty pages: pause p50 %" PRIu64 " us, p99 %"
		    PRIu64 " us (suspend %" PRIu64 ", dirty log %" PRIu64
		    ", copy %" PRIu64 " us), copy %.2f GB/s (%.0f%% of gather "
		    "memcpy); target %" PRIu64 " us\n", sweep[i], p50, p99,
		    percentile_u64(r->susp, r->n, 50),
		    percentile_u64(r->dlog, r->n, 50),
		    percentile_u64(r->copy, r->n, 50),
		    gbps(sweep[i] * 4096, percentile_u64(r->copy, r->n, 50)),
		    100 * gbps(sweep[i] * 4096,
		    percentile_u64(r->copy, r->n, 50)) / mg, target);
		printf("BENCH epoch dirty_pages=%" PRIu64 " pause_us_p50=%"
		    PRIu64 " pause_us_p99=%" PRIu64 " copy_GBps=%.2f "
		    "memcpy_GBps=%.2f suspend_us_p50=%" PRIu64 " dirtylog_us_p50=%"
		    PRIu64 " target_us=%" PRIu64 " ok=%d\n", sweep[i],
		    p50, p99, copy, mg, percentile_u64(r->susp, r->n, 50),
		    percentile_u64(r->dlog, r->n, 50), target, p50 <= target);
		fflush(stdout);
	}
	printf("\n");

	/* Highest sustained rate, compression on (the real cost). */
	for (i = 0; i < 2; i++) {
		uint64_t pages = i == 0 ? 200 : 2000;
		double target_hz = i == 0 ? 100 : 40, best_hz = 0, best_cpu = 0;
		uint64_t best_jit = 0;

		for (j = 0; j < ARRAY_SIZE(intervals_us); j++) {
			uint64_t p50, jit, k, *dev;
			double hz;

			cpu = run_engine(pages, intervals_us[j], 1,
			    quick ? 20 : 60, r);
			p50 = percentile_u64(r->period, r->n, 50);
			dev = calloc(r->n, sizeof *dev);
			for (k = 0; k < r->n; k++)
				dev[k] = r->period[k] > intervals_us[j] ?
				    r->period[k] - intervals_us[j] :
				    intervals_us[j] - r->period[k];
			jit = percentile_u64(dev, r->n, 99);
			free(dev);
			hz = p50 ? 1e6 / (double)p50 : 0;
			printf("%5" PRIu64 " pages at %5.1f Hz asked: period p50 %"
			    PRIu64 " us (%.1f Hz), jitter p99 %" PRIu64 " us, "
			    "cpu %.0f us/epoch\n", pages, 1e6 / intervals_us[j],
			    p50, hz, jit, cpu);
			if (p50 > intervals_us[j] * 11 / 10)
				break;		/* not sustained: stop here */
			best_hz = hz;
			best_jit = jit;
			best_cpu = cpu;
		}
		printf("BENCH rate dirty_pages=%" PRIu64 " hz=%.1f "
		    "period_jitter_us_p99=%" PRIu64 " cpu_us_per_epoch=%.0f "
		    "target_hz=%.0f ok=%d\n", pages, best_hz, best_jit,
		    best_cpu, target_hz, best_hz >= target_hz * 0.95);
		fflush(stdout);
	}
	printf("\n");
precopy:
	/* The paused pass without and with the pre-copy, 200 ms epochs,
	 * compression off (as the sweep). */
	printf("paused pass, --precopy off vs on (alternating runs):\n");
	/* 0 pages: what a paused pass costs with nothing to copy (the
	 * suspend and the walk of the page tables): the floor. */
	precopy_case(0, 0, quick ? 2 : 3, quick ? 10 : 20, r);
	for (i = 0; i < 2; i++)
		for (j = 0; j < 2; j++)
			precopy_case(i == 0 ? 100 : 2000, (int)j,
			    quick ? 2 : 3, quick ? 10 : 20, r);
	rmdir(rundir);
	free(r);
	return 0;
}
