/* domain/proc-dirty.h -- dirty-page tracking of another process's memory
 * range, for the proc driver.
 *
 * Two kernel mechanisms, chosen at run time:
 *
 *  pagemap-scan  The guest registered the range with userfaultfd in async
 *                write-protect mode (UFFD_FEATURE_WP_ASYNC); a write to a
 *                protected page unprotects it without any handler.  One
 *                PAGEMAP_SCAN ioctl on /proc/PID/pagemap lists the written
 *                (unprotected) pages and protects them again, atomically
 *                per page table.  Linux >= 6.7.
 *  softdirty     Bit 55 of /proc/PID/pagemap entries; writing "4" to
 *                /proc/PID/clear_refs clears them.  CONFIG_MEM_SOFT_DIRTY
 *                (Debian's 6.1 kernel has it, many newer ones do not).
 *
 * remus --dirty-method pagemap-scan|softdirty forces one; "auto" prefers
 * pagemap-scan.  REMUS_PROC_SCAN_VEC=N (tests only) caps the regions per
 * PAGEMAP_SCAN call, to exercise a walk that fills them.
 *
 * While the guest is paused no write can fall between a read and its
 * clear, whatever the method.  While it runs only pagemap-scan is exact:
 * PAGEMAP_SCAN reads and write-protects each page table under its lock,
 * so a write lands either before (and is reported now) or after (and
 * unprotects the page again, reported next time).  Soft-dirty reads the
 * pagemap, then clears every bit in a second pass: a write between the
 * two is lost, so the engine never pre-copies with it (proc_dirty_live).
 */
#ifndef REMUS_PROC_DIRTY_H
#define REMUS_PROC_DIRTY_H

#include <stdint.h>
#include <sys/types.h>

enum proc_dirty_method {
	PROC_DIRTY_AUTO = 0,
	PROC_DIRTY_PAGEMAP_SCAN,
	PROC_DIRTY_SOFTDIRTY,
};

struct proc_dirty;

const char	*proc_dirty_name(enum proc_dirty_method);

/* The method NAME names ("pagemap-scan", "softdirty", "auto"; NULL or ""
 * is auto).  0, or -1 with errno = EINVAL for an unknown name (logged). */
int	proc_dirty_parse(const char *name, enum proc_dirty_method *);

/* Whether this kernel keeps soft-dirty bits (probed once on a page of our
 * own: write, clear, check, write, check).  1 or 0. */
int	proc_dirty_softdirty_supported(void);

/* Whether this kernel has PAGEMAP_SCAN and the range [BASE, BASE+LEN) of
 * PID is registered for async uffd-wp.  1 or 0; *WHY gets a reason
 * (static string) when 0. */
int	proc_dirty_scan_supported(pid_t pid, uint64_t base, uint64_t len,
	    const char **why);

/* Track NR_PAGES pages of PAGE_SIZE at BASE in process PID with METHOD
 * (PROC_DIRTY_AUTO: choose), walking page tables with THREADS threads (1
 * or 2; 0: 2 when there are 2 CPUs).  The log is not cleared yet.  Returns NULL
 * with errno set and one line logged: ENOTSUP when the kernel (or the
 * guest's registration) offers no usable method, naming the requirement. */
struct proc_dirty *proc_dirty_open(pid_t pid, uint64_t base,
	    uint64_t nr_pages, uint32_t page_size,
	    enum proc_dirty_method method, unsigned threads);
enum proc_dirty_method proc_dirty_method(const struct proc_dirty *);

/* Whether proc_dirty_read_clear may run while the guest runs (its read
 * and clear are one step per page: pagemap-scan, not softdirty).  1 or 0. */
int	proc_dirty_live(const struct proc_dirty *);

/* Forget what was written so far.  0 / -1 + errno. */
int	proc_dirty_clear(struct proc_dirty *);

/* Set a bit in BITMAP (nr_pages bits, zeroed by the caller) for each page
 * written since the last clear, count them in *COUNT, and clear the log.
 * 0 / -1 + errno (logged). */
int	proc_dirty_read_clear(struct proc_dirty *, uint64_t *bitmap,
	    uint64_t *count);

/* NULL ok. */
void	proc_dirty_close(struct proc_dirty *);

#endif /* REMUS_PROC_DIRTY_H */
