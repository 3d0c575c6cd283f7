/* bench/wp-fault.c -- bench-wp-fault: what one tracked page write costs on
 * this machine, the floor under any proc guest's dirty rate.
 *
 * A proc guest's arena is a memfd registered for async userfaultfd
 * write-protect (proc-guest.c); each epoch remus's PAGEMAP_SCAN reads the
 * written pages and write-protects them again (proc-dirty.c), so the
 * guest's first write to each page in the next epoch takes a write-protect
 * fault.  Here one process does both on an arena of its own, as the two
 * do: per round, a PAGEMAP_SCAN with PM_SCAN_WP_MATCHING over the arena,
 * then N writes to distinct pages in remus-dirtier's order (a stride
 * coprime to the working set); then the same writes with the arena no
 * longer registered.  Measured side by side in one run:
 *
 *   bench-wp-fault [-n PAGES] [-w WORKING_SET] [-r ROUNDS] [-i MS]
 *
 *   BENCH wp-fault pages=N tracked_us_per_page=X untracked_us_per_page=X
 *     write_ms_p50=X scan_ms_p50=X pages_per_interval=N interval_ms=MS
 *
 * pages_per_interval: the most distinct pages one writer can dirty in an
 * epoch of -i MS (default 25) at the tracked cost, with nothing else
 * running: the ceiling on a proc guest's dirty pages per epoch here.
 * Defaults: 2,000 pages, a working set of 40,000, 21 rounds.  Linux >= 6.7.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "proc-kernel.h"
#include "util.h"

#define PS	4096u

static uint64_t
gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* N writes to distinct pages from *POS on (remus-dirtier's order). */
static void
write_pages(volatile uint8_t *a, uint64_t ws, uint64_t stride, uint64_t *pos,
    uint64_t n)
{
	uint64_t i, idx;

	for (i = 0; i < n; i++) {
		idx = (*pos)++ * stride % ws;
		a[idx * PS + (i % (PS / 8)) * 8]++;
	}
}

int
main(int argc, char **argv)
{
	uint64_t n = 2000, ws = 40000, rounds = 21, ims = 25, stride, pos = 0;
	uint64_t *wr, *sc, t0, t1, t2, untracked, k;
	struct uffdio_api api;
	struct uffdio_register reg;
	struct uffdio_range rng;
	struct pm_scan_arg arg;
	struct page_region *vec;
	uint8_t *a;
	int ch, mfd, uffd, pm;

	log_init("bench-wp-fault", 1, 0);
	while ((ch = getopt(argc, argv, "n:w:r:i:")) != -1) {
		switch (ch) {
		case 'n': if (parse_uint(optarg, 1, 1u << 24, &n)) goto usage;
			break;
		case 'w': if (parse_uint(optarg, 1, 1u << 24, &ws)) goto usage;
			break;
		case 'r': if (parse_uint(optarg, 2, 10000, &rounds))
				goto usage;
			break;
		case 'i': if (parse_uint(optarg, 1, 60000, &ims)) goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (n > ws)
		fatalx("-n %llu exceeds -w %llu: the pages must be distinct",
		    (unsigned long long)n, (unsigned long long)ws);
	/* As remus-dirtier picks it: coprime to the working set, so any
	 * WS consecutive writes are distinct. */
	for (stride = 1000003; gcd(stride, ws) != 1; stride += 2)
		;
	/* The arena as proc-guest.c makes it: a memfd, shared. */
	mfd = memfd_create("bench-wp-fault", MFD_CLOEXEC);
	if (mfd == -1 || ftruncate(mfd, (off_t)(ws * PS)) == -1)
		fatal("memfd");
	a = mmap(NULL, ws * PS, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (a == MAP_FAILED)
		fatal("mmap");
	memset(a, 1, ws * PS);		/* every page present */
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK |
	    UFFD_USER_MODE_ONLY);
	if (uffd == -1)
		fatal("userfaultfd");
	memset(&api, 0, sizeof api);
	api.api = UFFD_API;
	api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
	if (ioctl(uffd, UFFDIO_API, &api) == -1)
		fatal("userfaultfd: async write-protect for shmem (Linux >= 6.7)");
	memset(&reg, 0, sizeof reg);
	reg.range.start = (uintptr_t)a;
	reg.range.len = ws * PS;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) == -1)
		fatal("userfaultfd: register");
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	vec = calloc(ws, sizeof *vec);
	wr = calloc(rounds, sizeof *wr);
	sc = calloc(rounds, sizeof *sc);
	if (pm == -1 || vec == NULL || wr == NULL || sc == NULL)
		fatal("pagemap");
	/* Round 0 write-protects the arena for the first time: not
	 * counted. */
	for (k = 0; k <= rounds; k++) {
		memset(&arg, 0, sizeof arg);
		arg.size = sizeof arg;
		arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
		arg.start = (uintptr_t)a;
		arg.end = (uintptr_t)a + ws * PS;
		arg.vec = (uintptr_t)vec;
		arg.vec_len = ws;
		arg.category_mask = PAGE_IS_WRITTEN;
		arg.return_mask = PAGE_IS_WRITTEN;
		t0 = now_us();
		if (ioctl(pm, PAGEMAP_SCAN, &arg) == -1)
			fatal("PAGEMAP_SCAN");
		t1 = now_us();
		write_pages(a, ws, stride, &pos, n);
		t2 = now_us();
		if (k > 0) {
			sc[k - 1] = t1 - t0;
			wr[k - 1] = t2 - t1;
		}
	}
	/* The same writes with no tracking. */
	rng.start = (uintptr_t)a;
	rng.len = ws * PS;
	if (ioctl(uffd, UFFDIO_UNREGISTER, &rng) == -1)
		fatal("userfaultfd: unregister");
	/* Every page once first: unregistering leaves the pages read-only
	 * until their next write fault. */
	write_pages(a, ws, stride, &pos, ws);
	t0 = now_us();
	write_pages(a, ws, stride, &pos, n * rounds);
	untracked = now_us() - t0;
	t0 = percentile_u64(wr, rounds, 50);
	printf("BENCH wp-fault pages=%llu tracked_us_per_page=%.2f "
	    "untracked_us_per_page=%.3f write_ms_p50=%.2f scan_ms_p50=%.2f "
	    "pages_per_interval=%llu interval_ms=%llu\n",
	    (unsigned long long)n, (double)t0 / (double)n,
	    (double)untracked / (double)(n * rounds), (double)t0 / 1000,
	    (double)percentile_u64(sc, rounds, 50) / 1000,
	    (unsigned long long)(t0 ? ims * 1000 * n / t0 : 0),
	    (unsigned long long)ims);
	return 0;
usage:
	fprintf(stderr, "usage: bench-wp-fault [-n PAGES] [-w WORKING_SET] "
	    "[-r ROUNDS] [-i MS]\n");
	return 2;
}
