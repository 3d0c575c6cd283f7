/* domain/proc-dirty.c -- dirty-page tracking through PAGEMAP_SCAN or
 * soft-dirty bits (see proc-dirty.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LOG_PREFIX "proc: "
#include "log.h"
#include "util.h"
#include "proc-dirty.h"
#include "proc-kernel.h"

/* Regions per PAGEMAP_SCAN call.  A run of contiguous written pages is one
 * region, so 64 Ki regions cover any dirty set of a 512 MiB arena in one
 * call and of any arena in a few (24 bytes each: 1.5 MiB). */
#define SCAN_VEC_MAX	65536
/* Pagemap entries per pread in soft-dirty mode (8 bytes each). */
#define PM_CHUNK	65536

/* A second thread walks part of a large arena while we walk the rest
 * (see scan_parallel).  Chunks are claimed with one CAS on a word that
 * holds the job's generation and the next chunk, so a helper that wakes
 * late can neither take a chunk of a finished job nor hold us up: we take
 * every chunk it has not claimed yet, and wait at most for the one it is
 * walking. */
#define SCAN_CHUNK_PAGES	32768	/* 128 MiB of 4 KiB pages */

struct scan_helper {
	pthread_t		thread;
	pthread_mutex_t		mu;
	pthread_cond_t		cv;
	uint32_t		gen;		/* jobs posted (under mu) */
	int			quit;		/* under mu */
	_Atomic uint64_t	claim;		/* gen << 32 | next chunk */
	_Atomic uint64_t	done;		/* chunks finished, this job */
	_Atomic uint64_t	found;		/* pages found by the helper */
	_Atomic int		err;		/* errno of a failed walk */
	uint64_t		nchunks;	/* stable while a job runs */
	uint64_t		*bitmap;
	struct page_region	*vec;
};

struct proc_dirty {
	enum proc_dirty_method	method;
	pid_t			pid;
	uint64_t		base;
	uint64_t		nr_pages;
	uint32_t		page_size;
	unsigned		page_shift;
	int			pagemap_fd;
	int			clear_refs_fd;	/* soft-dirty only */
	struct page_region	*vec;		/* pagemap-scan only */
	size_t			vec_len;
	uint64_t		*pm_buf;	/* soft-dirty only */
	struct scan_helper	*helper;	/* pagemap-scan, big arenas */
};

const char *
proc_dirty_name(enum proc_dirty_method m)
{
	switch (m) {
	case PROC_DIRTY_AUTO:
		return "auto";
	case PROC_DIRTY_PAGEMAP_SCAN:
		return "pagemap-scan";
	case PROC_DIRTY_SOFTDIRTY:
		return "softdirty";
	}
	return "?";
}

int
proc_dirty_parse(const char *env, enum proc_dirty_method *out)
{
	*out = PROC_DIRTY_AUTO;
	if (env == NULL || *env == '\0' || strcmp(env, "auto") == 0)
		return 0;
	if (strcmp(env, "pagemap-scan") == 0)
		*out = PROC_DIRTY_PAGEMAP_SCAN;
	else if (strcmp(env, "softdirty") == 0 ||
	    strcmp(env, "soft-dirty") == 0)
		*out = PROC_DIRTY_SOFTDIRTY;
	else {
		log_warnx("dirty method %s: expected pagemap-scan, softdirty "
		    "or auto", env);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int
open_proc_file(pid_t pid, const char *name, int flags)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	return open(path, flags | O_CLOEXEC);
}

static int
pagemap_entry(int fd, const void *addr, uint64_t *ent)
{
	long ps = sysconf(_SC_PAGESIZE);
	off_t off = (off_t)((uintptr_t)addr / (uintptr_t)ps) * 8;

	if (pread(fd, ent, sizeof *ent, off) != (ssize_t)sizeof *ent)
		return -1;
	return 0;
}

static int
probe_softdirty(void)
{
	volatile char *page;
	long ps = sysconf(_SC_PAGESIZE);
	int pm = -1, cr = -1, ok = 0;
	uint64_t e1, e2;

	page = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return 0;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (pm == -1 || cr == -1)
		goto out;
	page[0] = 1;
	/* Without CONFIG_MEM_SOFT_DIRTY the write succeeds and does
	 * nothing, so only the bits tell. */
	if (write(cr, CLEAR_REFS_SOFT_DIRTY_STR, 1) != 1)
		goto out;
	if (pagemap_entry(pm, (const void *)page, &e1) == -1)
		goto out;
	page[0] = 2;
	if (pagemap_entry(pm, (const void *)page, &e2) == -1)
		goto out;
	ok = !(e1 & PM_ENTRY_SOFT_DIRTY) && (e2 & PM_ENTRY_SOFT_DIRTY);
out:
	if (pm != -1)
		close(pm);
	if (cr != -1)
		close(cr);
	munmap((void *)page, (size_t)ps);
	return ok;
}

int
proc_dirty_softdirty_supported(void)
{
	static int cached = -1;

	if (cached == -1)
		cached = probe_softdirty();
	return cached;
}

int
proc_dirty_scan_supported(pid_t pid, uint64_t base, uint64_t len,
    const char **why)
{
	struct page_region r;
	struct pm_scan_arg arg;
	int fd, rc, saved;

	*why = NULL;
	fd = open_proc_file(pid, "pagemap", O_RDONLY);
	if (fd == -1) {
		*why = "cannot open /proc/PID/pagemap";
		return 0;
	}
	memset(&arg, 0, sizeof arg);
	arg.size = sizeof arg;
	arg.flags = PM_SCAN_CHECK_WPASYNC;	/* read only: no WP_MATCHING */
	arg.start = base;
	arg.end = base + len;
	arg.vec = (uintptr_t)&r;
	arg.vec_len = 1;
	arg.max_pages = 1;
	arg.category_mask = PAGE_IS_WRITTEN;
	arg.return_mask = PAGE_IS_WRITTEN;
	rc = ioctl(fd, PAGEMAP_SCAN, &arg);
	saved = errno;
	close(fd);
	if (rc >= 0)
		return 1;
	if (saved == ENOTTY || saved == EINVAL || saved == EOPNOTSUPP)
		*why = "the kernel has no PAGEMAP_SCAN (Linux >= 6.7)";
	else if (saved == EPERM)
		*why = "the guest's arena is not registered for async "
		    "userfaultfd write-protect (UFFD_FEATURE_WP_ASYNC, "
		    "Linux >= 6.7)";
	else
		*why = strerror(saved);
	return 0;
}

static void *helper_main(void *);

/* Walk arenas of two chunks or more with a second thread, where there is
 * a second CPU: the walk of the page tables is most of what a dirty log
 * read costs (about 0.25 to 0.8 ms per GiB even with nothing written,
 * cache-cold), and the guest's own CPU idles while it is suspended.
 * --scan-threads 1 turns it off.  Best effort: on any failure we walk
 * alone. */
static void
start_helper(struct proc_dirty *d, unsigned threads)
{
	struct scan_helper *h;
	sigset_t all, old;
	int rc;

	if (d->nr_pages < 2 * SCAN_CHUNK_PAGES ||
	    sysconf(_SC_NPROCESSORS_ONLN) < 2 || threads == 1)
		return;
	h = calloc(1, sizeof *h);
	if (h == NULL)
		return;
	h->vec = calloc(d->vec_len, sizeof *h->vec);
	if (h->vec == NULL) {
		free(h);
		return;
	}
	h->nchunks = (d->nr_pages + SCAN_CHUNK_PAGES - 1) / SCAN_CHUNK_PAGES;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	d->helper = h;
	/* No signals for the helper: the program's handlers run on its
	 * main thread, as they would without us. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&h->thread, NULL, helper_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_debug("pid %d: scan helper thread: %s", (int)d->pid,
		    strerror(rc));
		d->helper = NULL;
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv);
		free(h->vec);
		free(h);
	}
}

static void
stop_helper(struct proc_dirty *d)
{
	struct scan_helper *h = d->helper;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->quit = 1;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h->vec);
	free(h);
	d->helper = NULL;
}

struct proc_dirty *
proc_dirty_open(pid_t pid, uint64_t base, uint64_t nr_pages,
    uint32_t page_size, enum proc_dirty_method method, unsigned threads)
{
	struct proc_dirty *d;
	const char *why = NULL, *env;
	uint64_t v;
	int saved;

	if (nr_pages == 0 || page_size == 0 ||
	    (page_size & (page_size - 1)) != 0 || base % page_size != 0) {
		log_warnx("pid %d: bad arena geometry", (int)pid);
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->pid = pid;
	d->base = base;
	d->nr_pages = nr_pages;
	d->page_size = page_size;
	d->page_shift = (unsigned)__builtin_ctz(page_size);
	d->pagemap_fd = -1;
	d->clear_refs_fd = -1;

	if (method == PROC_DIRTY_AUTO || method == PROC_DIRTY_PAGEMAP_SCAN) {
		if (proc_dirty_scan_supported(pid, base,
		    nr_pages * page_size, &why))
			method = PROC_DIRTY_PAGEMAP_SCAN;
		else if (method == PROC_DIRTY_PAGEMAP_SCAN) {
			log_warnx("pid %d: dirty tracking %s forced by %s: "
			    "unavailable: %s", (int)pid,
			    proc_dirty_name(method), "--dirty-method", why);
			errno = ENOTSUP;
			goto err;
		}
	}
	if (method == PROC_DIRTY_AUTO || method == PROC_DIRTY_SOFTDIRTY) {
		if (proc_dirty_softdirty_supported())
			method = PROC_DIRTY_SOFTDIRTY;
		else {
			if (method == PROC_DIRTY_SOFTDIRTY)
				log_warnx("pid %d: dirty tracking softdirty "
				    "forced by %s: the kernel keeps no "
				    "soft-dirty bits (CONFIG_MEM_SOFT_DIRTY)",
				    (int)pid, "--dirty-method");
			else
				log_warnx("pid %d: no dirty tracking: needs "
				    "Linux >= 6.7 with userfaultfd WP_ASYNC "
				    "and PAGEMAP_SCAN (%s), or a kernel with "
				    "CONFIG_MEM_SOFT_DIRTY", (int)pid,
				    why ? why : "?");
			errno = ENOTSUP;
			goto err;
		}
	}
	d->method = method;

	d->pagemap_fd = open_proc_file(pid, "pagemap", O_RDONLY);
	if (d->pagemap_fd == -1) {
		log_warn("pid %d: open /proc/%d/pagemap", (int)pid, (int)pid);
		goto err;
	}
	if (method == PROC_DIRTY_PAGEMAP_SCAN) {
		d->vec_len = nr_pages / 2 + 1;
		if (d->vec_len > SCAN_VEC_MAX)
			d->vec_len = SCAN_VEC_MAX;
		/* Tests shrink the vector to exercise the continuation
		 * of a walk that filled it. */
		env = getenv("REMUS_PROC_SCAN_VEC");
		if (env && parse_uint(env, 1, SCAN_VEC_MAX, &v) == 0)
			d->vec_len = v;
		d->vec = calloc(d->vec_len, sizeof *d->vec);
		if (d->vec == NULL)
			goto err;
		start_helper(d, threads);
	} else {
		d->clear_refs_fd = open_proc_file(pid, "clear_refs", O_WRONLY);
		if (d->clear_refs_fd == -1) {
			log_warn("pid %d: open /proc/%d/clear_refs", (int)pid,
			    (int)pid);
			goto err;
		}
		d->pm_buf = malloc(PM_CHUNK * sizeof *d->pm_buf);
		if (d->pm_buf == NULL)
			goto err;
	}
	log_debug("pid %d: dirty tracking %s", (int)pid,
	    proc_dirty_name(method));
	return d;
err:
	saved = errno;
	proc_dirty_close(d);
	errno = saved;
	return NULL;
}

enum proc_dirty_method
proc_dirty_method(const struct proc_dirty *d)
{
	return d->method;
}

/* Set bits [S, E) of BM. */
static void
bitmap_set_range(uint64_t *bm, uint64_t s, uint64_t e)
{
	uint64_t sw = s / 64, ew = e / 64;

	if (s >= e)
		return;
	if (sw == ew) {
		bm[sw] |= (~0ull << (s % 64)) & ~(~0ull << (e % 64));
		return;
	}
	bm[sw] |= ~0ull << (s % 64);
	for (sw++; sw < ew; sw++)
		bm[sw] = ~0ull;
	if (e % 64)
		bm[ew] |= ~(~0ull << (e % 64));
}

/* One pass of PAGEMAP_SCAN with WP_MATCHING over pages [FIRST, LAST) of
 * the arena: report the written pages into BITMAP (if not NULL) and
 * write-protect them.  VEC is this thread's region buffer. */
static int
scan_range(struct proc_dirty *d, uint64_t first, uint64_t last,
    struct page_region *vec, uint64_t *bitmap, uint64_t *count)
{
	struct pm_scan_arg arg;
	uint64_t start = d->base + (first << d->page_shift);
	uint64_t end = d->base + (last << d->page_shift);
	uint64_t n = 0, s, e;
	long rc, i;

	memset(&arg, 0, sizeof arg);
	arg.size = sizeof arg;
	arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
	arg.start = start;
	arg.end = end;
	arg.vec = (uintptr_t)vec;
	arg.vec_len = d->vec_len;
	arg.category_mask = PAGE_IS_WRITTEN;
	arg.return_mask = PAGE_IS_WRITTEN;
	for (;;) {
		rc = ioctl(d->pagemap_fd, PAGEMAP_SCAN, &arg);
		if (rc == -1) {
			if (errno == EINTR)
				continue;
			log_warn("pid %d: PAGEMAP_SCAN", (int)d->pid);
			return -1;
		}
		for (i = 0; i < rc; i++) {
			if (vec[i].start < start || vec[i].end > end ||
			    vec[i].start >= vec[i].end) {
				log_warnx("pid %d: PAGEMAP_SCAN returned a "
				    "region outside the arena", (int)d->pid);
				errno = EIO;
				return -1;
			}
			s = (vec[i].start - d->base) >> d->page_shift;
			e = (vec[i].end - d->base) >> d->page_shift;
			if (bitmap)
				bitmap_set_range(bitmap, s, e);
			n += e - s;
		}
		if (arg.walk_end >= end)
			break;
		/* The vector filled up: go on from where the walk
		 * stopped; it must have moved, or we would spin. */
		if (arg.walk_end <= arg.start) {
			log_warnx("pid %d: PAGEMAP_SCAN made no progress",
			    (int)d->pid);
			errno = EIO;
			return -1;
		}
		arg.start = arg.walk_end;
	}
	*count = n;
	return 0;
}

/* Claim the next chunk of job GEN: its index, or -1 when none is left
 * (or the job is not GEN any more). */
static int64_t
claim_chunk(struct scan_helper *h, uint32_t gen)
{
	uint64_t cur = atomic_load(&h->claim);

	for (;;) {
		if ((uint32_t)(cur >> 32) != gen ||
		    (cur & 0xffffffffu) >= h->nchunks)
			return -1;
		if (atomic_compare_exchange_weak(&h->claim, &cur, cur + 1))
			return (int64_t)(cur & 0xffffffffu);
	}
}

/* Walk chunk C (of SCAN_CHUNK_PAGES pages): its count, then its "done",
 * so that whoever sees every chunk done sees every count. */
static void
walk_chunk(struct proc_dirty *d, struct scan_helper *h, uint64_t c,
    struct page_region *vec)
{
	uint64_t first = c * SCAN_CHUNK_PAGES, last = first + SCAN_CHUNK_PAGES;
	uint64_t n = 0;

	if (last > d->nr_pages)
		last = d->nr_pages;
	if (scan_range(d, first, last, vec, h->bitmap, &n) == -1)
		atomic_store(&h->err, errno ? errno : EIO);
	atomic_fetch_add(&h->found, n);
	atomic_fetch_add(&h->done, 1);
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void *
helper_main(void *arg)
{
	struct proc_dirty *d = arg;
	struct scan_helper *h = d->helper;
	uint32_t seen = 0, gen;
	int64_t c;

	for (;;) {
		pthread_mutex_lock(&h->mu);
		while (!h->quit && h->gen == seen)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->quit) {
			pthread_mutex_unlock(&h->mu);
			return NULL;
		}
		gen = seen = h->gen;
		pthread_mutex_unlock(&h->mu);
		while ((c = claim_chunk(h, gen)) >= 0)
			walk_chunk(d, h, (uint64_t)c, h->vec);
	}
}

/* The arena's walk in chunks, shared with the helper thread. */
static int
scan_parallel(struct proc_dirty *d, uint64_t *bitmap, uint64_t *count)
{
	struct scan_helper *h = d->helper;
	uint32_t gen;
	int64_t c;
	int err;

	pthread_mutex_lock(&h->mu);
	gen = ++h->gen;
	h->bitmap = bitmap;
	atomic_store(&h->done, 0);
	atomic_store(&h->found, 0);
	atomic_store(&h->err, 0);
	/* Publishes the job (seq_cst: after the fields above). */
	atomic_store(&h->claim, (uint64_t)gen << 32);
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);

	while ((c = claim_chunk(h, gen)) >= 0)
		walk_chunk(d, h, (uint64_t)c, d->vec);
	/* Every chunk is claimed; wait for the one the helper may still be
	 * walking (one chunk's time at most). */
	while (atomic_load(&h->done) < h->nchunks)
		cpu_relax();
	err = atomic_load(&h->err);
	if (err) {
		errno = err;
		return -1;
	}
	*count = atomic_load(&h->found);
	return 0;
}

static int
scan_read_clear(struct proc_dirty *d, uint64_t *bitmap, uint64_t *count)
{
	uint64_t n = 0;

	if (d->helper)
		return scan_parallel(d, bitmap, count ? count : &n);
	return scan_range(d, 0, d->nr_pages, d->vec, bitmap, count ? count : &n);
}

static int
softdirty_clear(struct proc_dirty *d)
{
	ssize_t n;

	do
		n = pwrite(d->clear_refs_fd, CLEAR_REFS_SOFT_DIRTY_STR, 1, 0);
	while (n == -1 && errno == EINTR);
	if (n != 1) {
		log_warn("pid %d: clear soft-dirty bits", (int)d->pid);
		return -1;
	}
	return 0;
}

static int
softdirty_read_clear(struct proc_dirty *d, uint64_t *bitmap,
    uint64_t *count)
{
	uint64_t pfn = 0, chunk, i, n = 0;
	off_t off;
	ssize_t got;

	while (pfn < d->nr_pages) {
		chunk = d->nr_pages - pfn;
		if (chunk > PM_CHUNK)
			chunk = PM_CHUNK;
		off = (off_t)(((d->base >> d->page_shift) + pfn) * 8);
		got = pread(d->pagemap_fd, d->pm_buf, chunk * 8, off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0 || got % 8 != 0) {
			if (got >= 0)
				errno = EIO;
			log_warn("pid %d: read /proc/%d/pagemap", (int)d->pid,
			    (int)d->pid);
			return -1;
		}
		chunk = (uint64_t)got / 8;
		for (i = 0; i < chunk; i++) {
			if (d->pm_buf[i] & PM_ENTRY_SOFT_DIRTY) {
				bitmap[(pfn + i) / 64] |= 1ull << ((pfn + i) % 64);
				n++;
			}
		}
		pfn += chunk;
	}
	if (softdirty_clear(d) == -1)
		return -1;
	*count = n;
	return 0;
}

int
proc_dirty_live(const struct proc_dirty *d)
{
	return d->method == PROC_DIRTY_PAGEMAP_SCAN;
}

int
proc_dirty_clear(struct proc_dirty *d)
{
	if (d->method == PROC_DIRTY_PAGEMAP_SCAN)
		return scan_read_clear(d, NULL, NULL);
	return softdirty_clear(d);
}

int
proc_dirty_read_clear(struct proc_dirty *d, uint64_t *bitmap,
    uint64_t *count)
{
	if (d->method == PROC_DIRTY_PAGEMAP_SCAN)
		return scan_read_clear(d, bitmap, count);
	return softdirty_read_clear(d, bitmap, count);
}

void
proc_dirty_close(struct proc_dirty *d)
{
	if (d == NULL)
		return;
	stop_helper(d);
	if (d->pagemap_fd != -1)
		close(d->pagemap_fd);
	if (d->clear_refs_fd != -1)
		close(d->clear_refs_fd);
	free(d->vec);
	free(d->pm_buf);
	free(d);
}
