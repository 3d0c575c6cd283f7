/* domain/proc-dirty.c -- dirty-page tracking through PAGEMAP_SCAN or
 * soft-dirty bits (see proc-dirty.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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
proc_dirty_forced(enum proc_dirty_method *out)
{
	const char *env = getenv(PROC_DIRTY_ENV);

	*out = PROC_DIRTY_AUTO;
	if (env == NULL || *env == '\0' || strcmp(env, "auto") == 0)
		return 0;
	if (strcmp(env, "pagemap-scan") == 0)
		*out = PROC_DIRTY_PAGEMAP_SCAN;
	else if (strcmp(env, "softdirty") == 0 ||
	    strcmp(env, "soft-dirty") == 0)
		*out = PROC_DIRTY_SOFTDIRTY;
	else {
		log_warnx("%s=%s: expected pagemap-scan, softdirty or auto",
		    PROC_DIRTY_ENV, env);
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

struct proc_dirty *
proc_dirty_open(pid_t pid, uint64_t base, uint64_t nr_pages,
    uint32_t page_size, enum proc_dirty_method method)
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
			    proc_dirty_name(method), PROC_DIRTY_ENV, why);
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
				    (int)pid, PROC_DIRTY_ENV);
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

/* One pass of PAGEMAP_SCAN with WP_MATCHING over the arena: report the
 * written pages into BITMAP (if not NULL) and write-protect them. */
static int
scan_read_clear(struct proc_dirty *d, uint64_t *bitmap, uint64_t *count)
{
	struct pm_scan_arg arg;
	uint64_t end = d->base + (d->nr_pages << d->page_shift);
	uint64_t n = 0, s, e;
	long rc, i;

	memset(&arg, 0, sizeof arg);
	arg.size = sizeof arg;
	arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
	arg.start = d->base;
	arg.end = end;
	arg.vec = (uintptr_t)d->vec;
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
			if (d->vec[i].start < d->base || d->vec[i].end > end ||
			    d->vec[i].start >= d->vec[i].end) {
				log_warnx("pid %d: PAGEMAP_SCAN returned a "
				    "region outside the arena", (int)d->pid);
				errno = EIO;
				return -1;
			}
			s = (d->vec[i].start - d->base) >> d->page_shift;
			e = (d->vec[i].end - d->base) >> d->page_shift;
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
	if (count)
		*count = n;
	return 0;
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
	if (d->pagemap_fd != -1)
		close(d->pagemap_fd);
	if (d->clear_refs_fd != -1)
		close(d->clear_refs_fd);
	free(d->vec);
	free(d->pm_buf);
	free(d);
}
