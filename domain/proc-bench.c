/* bench-proc-dirty -- what the proc driver costs inside the pause, by part,
 * on a remus-dirtier guest: suspend round trip, dirty_read_clear (one
 * PAGEMAP_SCAN pass or a soft-dirty read + clear), copy_pages, resume --
 * with a plain memcpy of the same bytes between warm buffers measured in
 * the same run for comparison (the same pages in the same order, from a
 * cold 1 GiB buffer of our own).  Not a ctest; prints figures and one line
 *
 *   BENCH proc-dirty method=<m> arena_MiB=<a> dirty_pages=<n> suspend_us_p50=..
 *     scan_us_p50=.. scan_us_p99=.. copy_us_p50=.. copy_GBps=.. memcpy_GBps=..
 *     resume_us_p50=.. pause_us_p50=.. pause_us_p99=.. rescan_us_p50=..
 *
 * per dirty-page count.  rescan: a second read of the log right after
 * the first, still paused: the walk of the page tables alone, hot, with
 * nothing written -- the floor of a paused pass after a pre-copy (remus
 * --precopy) and what no pre-copy can take out of the pause.
 *
 *   bench-proc-dirty [-a ARENA] [-e EPOCHS] [-g CPU] [-r CPU] [-m METHOD]
 *       [-t THREADS] [N ...]
 *
 * -m pagemap-scan|softdirty forces a tracking method (remus
 * --dirty-method); the guest registers for uffd-wp unless its own
 * REMUS_PROC_DIRTY=softdirty says not to.  -t 1|2: page-table walkers
 * (remus --scan-threads).
 *
 * -g pins the guest to a CPU and -r this process to another (a guest on
 * its own CPU, as a VM's vCPU would be; without it, the woken guest may
 * preempt remus inside resume on a busy machine).
 *
 * Defaults: a 1 GiB arena, 15 epochs, N = 0 100 1000 5000 20000.  The
 * dirtier writes N distinct pages after each resume; the bench waits long
 * enough between epochs for that (and reports the count it saw).
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "domain.h"
#include "proc-dirty.h"

static struct domain_opts bopts;	/* -m */

#define MAX_EPOCHS	1000

static char dirtier[PATH_MAX];
static int guest_cpu = -1;	/* -g: pin the guest, as a vCPU would be */

static void
pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) == -1)
		fatal("pin to CPU %d", cpu);
}

static pid_t
spawn_dirtier(uint64_t pages, uint64_t ws, uint64_t arena, const char *pidf)
{
	char a1[32], a2[32], a3[32];
	pid_t pid;
	int fd;

	snprintf(a1, sizeof a1, "%llu", (unsigned long long)pages);
	snprintf(a2, sizeof a2, "%llu", (unsigned long long)ws);
	snprintf(a3, sizeof a3, "%llu", (unsigned long long)arena);
	unlink(pidf);
	pid = fork();
	if (pid == 0) {
		if (guest_cpu >= 0)
			pin(guest_cpu);
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		dup2(fd, 1);
		execl(dirtier, dirtier, "--pages", a1, "--working-set", a2,
		    "--arena-size", a3, "--slice-ms", "1000", "--pidfile",
		    pidf, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int
wait_pidfile(const char *pidf, pid_t pid)
{
	FILE *fp;
	int i, got;

	for (i = 0; i < 3000; i++) {
		fp = fopen(pidf, "r");
		if (fp) {
			got = 0;
			if (fscanf(fp, "%d", &got) != 1)
				got = 0;
			fclose(fp);
			if (got == pid)
				return 0;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(10000);
	}
	return -1;
}

static double
gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0.0;
}

static void
run(uint64_t npages, uint64_t arena, int epochs)
{
	static uint64_t sus[MAX_EPOCHS], scan[MAX_EPOCHS], cp[MAX_EPOCHS];
	static uint64_t res[MAX_EPOCHS], pause[MAX_EPOCHS], mc[MAX_EPOCHS];
	static uint64_t rescan[MAX_EPOCHS];
	const struct domain_ops *ops;
	const char *rest;
	char pidf[64], spec[32];
	struct domain_info info;
	struct domain *d;
	uint64_t *bm, *pfns, count, i, k, t0, t1, t2, t3, t4, ws, seen = 0;
	uint64_t r0, c2;
	uint64_t bytes = 0, copy_ns = 0, memcpy_ns = 0;
	uint8_t *stage, *dst, *other;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), words;
	struct rusage ru0, ru1;
	uint64_t faults = 0;
	pid_t pid;
	int e, n = 0;

	ops = domain_ops_lookup("proc:0", &rest);
	ws = arena / ps - 64;
	snprintf(pidf, sizeof pidf, "/tmp/bench-proc-dirty.%d.pid", (int)getpid());
	pid = spawn_dirtier(npages, ws, arena, pidf);
	if (pid == -1 || wait_pidfile(pidf, pid) == -1)
		fatalx("cannot start %s", dirtier);
	snprintf(spec, sizeof spec, "%d", (int)pid);
	d = ops->open(spec, &bopts);
	if (d == NULL)
		fatalx("cannot attach to the dirtier");
	ops->info(d, &info);
	words = (info.nr_pages + 63) / 64;
	bm = calloc(words, 8);
	pfns = malloc(info.nr_pages * 8);
	/* Staging big enough for the full copy, touched once now: first
	 * touches are not the driver's cost. */
	stage = malloc(info.nr_pages * ps);
	dst = malloc((npages + 64) * ps);
	other = malloc((npages + 64) * ps);
	if (bm == NULL || pfns == NULL || stage == NULL || dst == NULL ||
	    other == NULL)
		fatal("out of memory");
	memset(stage, 1, info.nr_pages * ps);
	memset(dst, 1, (npages + 64) * ps);
	memset(other, 1, (npages + 64) * ps);
	if (ops->logdirty_enable(d) == -1)
		fatalx("logdirty_enable");
	/* The engine's full copy maps every page into remus. */
	for (i = 0; i < info.nr_pages; i++)
		pfns[i] = i;
	if (ops->copy_pages(d, pfns, info.nr_pages, stage) == -1)
		fatalx("full copy");

	for (e = 0; e <= epochs; e++) {
		/* The dirtier writes after each resume: give it time
		 * (a generous 5 us a page, at least 100 ms). */
		usleep((useconds_t)(100000 + npages * 5));
		memset(bm, 0, words * 8);
		t0 = now_ns();
		if (ops->suspend(d) == -1)
			fatalx("suspend");
		t1 = now_ns();
		if (ops->dirty_read_clear(d, bm, &count) == -1)
			fatalx("dirty_read_clear");
		t2 = now_ns();
		for (i = 0, k = 0; i < words; i++) {
			uint64_t w = bm[i];

			while (w) {
				pfns[k++] = i * 64 + (uint64_t)__builtin_ctzll(w);
				w &= w - 1;
			}
		}
		getrusage(RUSAGE_SELF, &ru0);
		t3 = now_ns();
		if (ops->copy_pages(d, pfns, k, dst) == -1)
			fatalx("copy_pages");
		t4 = now_ns();
		getrusage(RUSAGE_SELF, &ru1);
		/* Again, still paused: nothing can have been written.  Not
		 * counted in the pause or the resume below. */
		memset(bm, 0, words * 8);
		r0 = now_ns();
		if (ops->dirty_read_clear(d, bm, &c2) == -1)
			fatalx("dirty_read_clear");
		r0 = now_ns() - r0;
		faults += (uint64_t)(ru1.ru_minflt - ru0.ru_minflt);
		if (ops->resume(d) == -1)
			fatalx("resume");
		if (e == 0)
			continue;	/* the first includes the full copy's tail */
		sus[n] = (t1 - t0) / 1000;
		scan[n] = (t2 - t1) / 1000;
		cp[n] = (t4 - t3) / 1000;
		rescan[n] = r0 / 1000;
		res[n] = (now_ns() - t4 - r0) / 1000;
		/* The pause without our bitmap walk (the engine's). */
		pause[n] = (now_ns() - t0 - (t3 - t2) - r0) / 1000;
		copy_ns += t4 - t3;
		bytes += k * ps;
		seen += count;
		/* The same pages, same order, with plain memcpy from a
		 * 1 GiB buffer of our own (the full copy's, cold by now):
		 * the difference is the driver's. */
		t0 = now_ns();
		for (i = 0; i < k; i++)
			memcpy(other + i * ps, stage + pfns[i] * ps, ps);
		mc[n] = now_ns() - t0;
		memcpy_ns += mc[n];
		n++;
	}
	printf("dirty %6llu (saw %.0f/epoch): suspend %4llu us, scan %5llu us "
	    "(p99 %llu), copy %5llu us = %.2f GB/s (memcpy %.2f GB/s), "
	    "resume %llu us, pause %llu us (p99 %llu), %.1f faults/epoch "
	    "in copy; rescan %llu us\n",
	    (unsigned long long)npages, (double)seen / n,
	    (unsigned long long)percentile_u64(sus, (size_t)n, 50),
	    (unsigned long long)percentile_u64(scan, (size_t)n, 50),
	    (unsigned long long)percentile_u64(scan, (size_t)n, 99),
	    (unsigned long long)percentile_u64(cp, (size_t)n, 50),
	    gbps(bytes, copy_ns), gbps(bytes, memcpy_ns),
	    (unsigned long long)percentile_u64(res, (size_t)n, 50),
	    (unsigned long long)percentile_u64(pause, (size_t)n, 50),
	    (unsigned long long)percentile_u64(pause, (size_t)n, 99),
	    (double)faults / n,
	    (unsigned long long)percentile_u64(rescan, (size_t)n, 50));
	printf("BENCH proc-dirty method=%s arena_MiB=%llu dirty_pages=%llu "
	    "suspend_us_p50=%llu scan_us_p50=%llu scan_us_p99=%llu "
	    "copy_us_p50=%llu copy_GBps=%.2f memcpy_GBps=%.2f "
	    "resume_us_p50=%llu pause_us_p50=%llu pause_us_p99=%llu "
	    "rescan_us_p50=%llu\n",
	    bopts.dirty_method ? bopts.dirty_method : "auto",
	    (unsigned long long)(arena >> 20), (unsigned long long)npages,
	    (unsigned long long)percentile_u64(sus, (size_t)n, 50),
	    (unsigned long long)percentile_u64(scan, (size_t)n, 50),
	    (unsigned long long)percentile_u64(scan, (size_t)n, 99),
	    (unsigned long long)percentile_u64(cp, (size_t)n, 50),
	    gbps(bytes, copy_ns), gbps(bytes, memcpy_ns),
	    (unsigned long long)percentile_u64(res, (size_t)n, 50),
	    (unsigned long long)percentile_u64(pause, (size_t)n, 50),
	    (unsigned long long)percentile_u64(pause, (size_t)n, 99),
	    (unsigned long long)percentile_u64(rescan, (size_t)n, 50));
	fflush(stdout);
	ops->close(d);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(pidf);
	free(bm);
	free(pfns);
	free(stage);
	free(dst);
	free(other);
}

int
main(int argc, char **argv)
{
	static const uint64_t defaults[] = { 0, 100, 1000, 5000, 20000 };
	uint64_t arena = 1ull << 30, epochs = 15, v;
	char self[PATH_MAX - 32];
	ssize_t len;
	int c, i;

	log_init("bench-proc-dirty", 1, 0);
	while ((c = getopt(argc, argv, "a:e:g:m:r:t:")) != -1) {
		switch (c) {
		case 't':
			if (parse_uint(optarg, 1, 2, &v) == -1)
				fatalx("-t %s: 1 or 2 threads", optarg);
			bopts.scan_threads = (unsigned)v;
			break;
		case 'm':
			bopts.dirty_method = optarg;
			break;
		case 'g':
		case 'r':
			if (parse_uint(optarg, 0, CPU_SETSIZE - 1, &v) == -1)
				fatalx("-%c %s: a CPU number", c, optarg);
			if (c == 'g')
				guest_cpu = (int)v;
			else
				pin((int)v);
			break;
		case 'a':
			if (parse_size(optarg, &arena) == -1 || arena < (8 << 20))
				fatalx("-a %s: an arena size of 8M or more",
				    optarg);
			break;
		case 'e':
			if (parse_uint(optarg, 1, MAX_EPOCHS - 1, &epochs) == -1)
				fatalx("-e %s: 1 to %d epochs", optarg,
				    MAX_EPOCHS - 1);
			break;
		default:
			fprintf(stderr, "usage: bench-proc-dirty [-a ARENA] "
			    "[-e EPOCHS] [-g GUEST_CPU] [-r REMUS_CPU] "
			    "[-m METHOD] [-t THREADS] [N ...]\n");
			return 2;
		}
	}
	len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len <= 0)
		fatal("readlink /proc/self/exe");
	self[len] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(dirtier, sizeof dirtier, "%s/remus-dirtier", self);
	if (access(dirtier, X_OK) == -1)
		fatal("%s", dirtier);
	printf("proc driver, %llu MiB arena, %llu epochs per case, method %s\n",
	    (unsigned long long)(arena >> 20), (unsigned long long)epochs,
	    bopts.dirty_method ? bopts.dirty_method : "auto");
	if (optind == argc) {
		for (i = 0; i < (int)(sizeof defaults / sizeof defaults[0]); i++)
			run(defaults[i], arena, (int)epochs);
		return 0;
	}
	for (i = optind; i < argc; i++) {
		if (parse_uint(argv[i], 0, arena / 4096 / 2, &v) == -1)
			fatalx("%s: a dirty page count (at most half the arena)",
			    argv[i]);
		run(v, arena, (int)epochs);
	}
	return 0;
}
