/* bench/replica-commit.c -- what a crash-consistent commit of the proc
 * replica costs (domain/proc-store.c), with and without fdatasync.
 *
 *   bench-replica-commit [-d DIR] [-s SIZE] [-n EPOCHS] [-w WS] [PAGES...]
 *
 * For each dirty-page count (default 200 2000), a replica of SIZE
 * (default 512M) in DIR (default /var/tmp) takes EPOCHS (default 50)
 * epochs of that many random pages of a working set of WS pages (default
 * 8192: 32 MiB, a guest writes some of its memory, not all), five ways:
 * "inplace-before" (the replica before the journal: stores into a shared
 * mapping of the image, commit = write proc-epoch), "journal" and
 * "journal-sync" (proc-store.c without and with remusd --proc-sync, the
 * pages stored into the working copy, then store_commit), "pages" and
 * "pages-sync" (the pages handed over from the caller's buffer,
 * store_commit_pages, as the receiver does).  One BENCH line each: the commit's
 * median and 90th percentile, the median of stores + commit (what the
 * receiver spends per epoch), its CPU time, and the first full commit.
 * A benchmark, run by hand. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc-store.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: bench-replica-commit [-d dir] [-s size] "
	    "[-n epochs] [-w ws] [pages...]\n");
	exit(2);
}

static uint64_t ws = 8192;	/* working set: pages drawn from 0 .. ws-1 */

static uint64_t
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void
report(const char *mode, uint64_t dirty, uint64_t nr_pages, uint32_t ps,
    unsigned epochs, uint64_t *commit, uint64_t *total, uint64_t *cpu,
    uint64_t full)
{
	printf("BENCH replica-commit mode=%s pages=%" PRIu64 " size_mib=%"
	    PRIu64 " epochs=%u commit_median_us=%" PRIu64 " commit_p90_us=%"
	    PRIu64 " store+commit_median_us=%" PRIu64 " cpu_median_us=%"
	    PRIu64 " first_full_ms=%" PRIu64 "\n", mode, dirty,
	    nr_pages * ps >> 20, epochs, percentile_u64(commit, epochs, 50),
	    percentile_u64(commit, epochs, 90),
	    percentile_u64(total, epochs, 50), percentile_u64(cpu, epochs, 50),
	    full / 1000);
	fflush(stdout);
}

/* The replica before this branch, for comparison: stores straight into
 * a shared mapping of the image, commit = proc-epoch (tmp + rename). */
static int
run_inplace(const char *dir, uint64_t nr_pages, uint32_t ps, uint64_t dirty,
    unsigned epochs)
{
	uint64_t *commit, *total, *cpu, i, e, x = 88172645463325252ull, t0, t1;
	uint64_t c0, p;
	char img[PATH_MAX + 16], ep[PATH_MAX + 16], tmp[PATH_MAX + 16];
	char line[32];
	uint8_t *map;
	int fd;

	(void)!mkdir(dir, 0700);
	snprintf(img, sizeof img, "%s/img", dir);
	snprintf(ep, sizeof ep, "%s/epoch", dir);
	snprintf(tmp, sizeof tmp, "%s/epoch.tmp", dir);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || ftruncate(fd, (off_t)(nr_pages * ps)) == -1 ||
	    posix_fallocate(fd, 0, (off_t)(nr_pages * ps)) != 0)
		return -1;
	map = mmap(NULL, nr_pages * ps, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (map == MAP_FAILED)
		return -1;
	commit = calloc(epochs, 8);
	total = calloc(epochs, 8);
	cpu = calloc(epochs, 8);
	if (commit == NULL || total == NULL || cpu == NULL)
		fatal("out of memory");
	for (i = 0; i < nr_pages; i++)
		memset(map + i * ps, (int)(i * 31 + 1), ps);
	for (e = 2; e < epochs + 2; e++) {
		t0 = now_us();
		c0 = cpu_us();
		for (i = 0; i < dirty; i++) {
			p = next(&x) % ws;
			memset(map + p * ps, (int)(e + i), ps);
		}
		t1 = now_us();
		snprintf(line, sizeof line, "%" PRIu64 "\n", e);
		{
			int efd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			if (efd == -1 || write_full(efd, line, strlen(line))
			    == -1 || close(efd) == -1 || rename(tmp, ep) == -1)
				return -1;
		}
		commit[e - 2] = now_us() - t1;
		total[e - 2] = now_us() - t0;
		cpu[e - 2] = cpu_us() - c0;
	}
	report("inplace-before", dirty, nr_pages, ps, epochs, commit, total,
	    cpu, 0);
	munmap(map, nr_pages * ps);
	close(fd);
	free(commit);
	free(total);
	free(cpu);
	return 0;
}

/* FROM: the epochs' pages are handed over from a buffer of the caller's
 * (store_commit_pages, as the receiver does) instead of written into the
 * working copy (store_page + store_commit). */
static int
run(const char *dir, uint64_t nr_pages, uint32_t ps, uint64_t dirty,
    unsigned epochs, int durable, int from)
{
	struct store *s;
	uint64_t *pfns, *commit, *total, *cpu, i, e, x = 88172645463325252ull;
	uint64_t t0, t1, c0, full;
	uint8_t *buf;
	uint64_t *seen;

	s = store_open(dir, nr_pages, ps, durable, NULL);
	if (s == NULL)
		return -1;
	pfns = malloc(nr_pages * sizeof *pfns);
	commit = calloc(epochs, 8);
	total = calloc(epochs, 8);
	cpu = calloc(epochs, 8);
	buf = malloc(dirty * ps);
	seen = calloc(ws, sizeof *seen);
	if (pfns == NULL || commit == NULL || total == NULL || cpu == NULL ||
	    buf == NULL || seen == NULL)
		fatal("out of memory");
	for (i = 0; i < nr_pages; i++) {
		memset(store_page(s, i), (int)(i * 31 + 1), ps);
		pfns[i] = i;
	}
	t0 = now_us();
	if (store_commit(s, 1, pfns, nr_pages) == -1)
		return -1;
	full = now_us() - t0;
	for (e = 2; e < epochs + 2; e++) {
		t0 = now_us();
		c0 = cpu_us();
		for (i = 0; i < dirty; i++) {
			/* Each page once: the receiver's epochs list a page
			 * once (store_commit would dedupe, this one refuses). */
			do
				pfns[i] = next(&x) % ws;
			while (seen[pfns[i]] == e && dirty < ws);
			seen[pfns[i]] = e;
			memset(from ? buf + i * ps : store_page(s, pfns[i]),
			    (int)(e + i), ps);
		}
		t1 = now_us();
		if ((from ? store_commit_pages(s, e, pfns, dirty, buf, NULL) :
		    store_commit(s, e, pfns, dirty)) == -1)
			return -1;
		commit[e - 2] = now_us() - t1;
		total[e - 2] = now_us() - t0;
		cpu[e - 2] = cpu_us() - c0;
	}
	report(from ? (durable ? "pages-sync" : "pages") :
	    (durable ? "journal-sync" : "journal"), dirty, nr_pages, ps,
	    epochs, commit, total, cpu, full);
	store_close(s);
	free(buf);
	free(seen);
	free(pfns);
	free(commit);
	free(total);
	free(cpu);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *base = "/var/tmp";
	char dir[PATH_MAX], cmd[PATH_MAX + 16];
	uint64_t size = 512ull << 20, v, counts[16] = { 200, 2000 };
	uint32_t ps = (uint32_t)sysconf(_SC_PAGESIZE);
	unsigned epochs = 50, ncounts = 2, i;
	int ch, sync, from;

	while ((ch = getopt(argc, argv, "d:s:n:w:")) != -1) {
		switch (ch) {
		case 'd':
			base = optarg;
			break;
		case 's':
			if (parse_size(optarg, &size) == -1 || size < ps)
				usage();
			break;
		case 'n':
			if (parse_uint(optarg, 1, 100000, &v) == -1)
				usage();
			epochs = (unsigned)v;
			break;
		case 'w':
			if (parse_uint(optarg, 1, UINT64_MAX, &ws) == -1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind < argc) {
		for (ncounts = 0; optind < argc && ncounts < 16; optind++)
			if (parse_uint(argv[optind], 1, size / ps,
			    &counts[ncounts++]) == -1)
				usage();
	}
	if (ws > size / ps)
		ws = size / ps;
	log_init("bench-replica-commit", 1, 0);
	snprintf(dir, sizeof dir, "%s/bench-replica-commit.%d", base,
	    (int)getpid());
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	for (i = 0; i < ncounts; i++) {
		(void)!system(cmd);
		if (run_inplace(dir, size / ps, ps, counts[i], epochs) == -1)
			fatal("image in %s", dir);
		for (sync = 0; sync <= 1; sync++)
			for (from = 0; from <= 1; from++) {
				(void)!system(cmd);
				if (run(dir, size / ps, ps, counts[i], epochs,
				    sync, from) == -1)
					fatal("store in %s", dir);
			}
	}
	(void)!system(cmd);
	return 0;
}
