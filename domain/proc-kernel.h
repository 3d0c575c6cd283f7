/* domain/proc-kernel.h -- kernel interfaces the proc driver needs that
 * Debian 12's linux-libc-dev (6.1) does not define yet.
 *
 * userfaultfd async write-protect (UFFD_FEATURE_WP_ASYNC, Linux 6.7) and the
 * PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7).  The values are UAPI
 * and fixed (include/uapi/linux/userfaultfd.h, include/uapi/linux/fs.h); each
 * is guarded so that newer headers win.  Whether the running kernel has them
 * is decided at run time, never here.
 */
#ifndef REMUS_PROC_KERNEL_H
#define REMUS_PROC_KERNEL_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY		1
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM	(1u << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED	(1u << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC		(1u << 15)
#endif

#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED	(1u << 0)
#define PAGE_IS_WRITTEN		(1u << 1)
#define PAGE_IS_FILE		(1u << 2)
#define PAGE_IS_PRESENT		(1u << 3)
#define PAGE_IS_SWAPPED		(1u << 4)
#define PAGE_IS_PFNZERO		(1u << 5)
#define PAGE_IS_HUGE		(1u << 6)

struct page_region {
	uint64_t	start;
	uint64_t	end;		/* exclusive */
	uint64_t	categories;
};

#define PM_SCAN_WP_MATCHING	(1u << 0)	/* write-protect what matched */
#define PM_SCAN_CHECK_WPASYNC	(1u << 1)	/* EPERM on a non-async-wp vma */

struct pm_scan_arg {
	uint64_t	size;		/* sizeof(struct pm_scan_arg) */
	uint64_t	flags;
	uint64_t	start;
	uint64_t	end;
	uint64_t	walk_end;	/* out: where the walk stopped */
	uint64_t	vec;		/* struct page_region[vec_len] */
	uint64_t	vec_len;
	uint64_t	max_pages;	/* 0: no limit */
	uint64_t	category_inverted;
	uint64_t	category_mask;
	uint64_t	category_anyof_mask;
	uint64_t	return_mask;
};

#define PAGEMAP_SCAN		_IOWR('f', 16, struct pm_scan_arg)
#endif /* PAGEMAP_SCAN */

_Static_assert(sizeof(struct pm_scan_arg) == 96, "pm_scan_arg is UAPI");
_Static_assert(sizeof(struct page_region) == 24, "page_region is UAPI");

/* /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_ENTRY_SOFT_DIRTY	(1ull << 55)
#define PM_ENTRY_EXCLUSIVE	(1ull << 56)
#define PM_ENTRY_UFFD_WP	(1ull << 57)
#define PM_ENTRY_FILE_SHARED	(1ull << 61)
#define PM_ENTRY_SWAPPED	(1ull << 62)
#define PM_ENTRY_PRESENT	(1ull << 63)

/* clear_refs value that clears the soft-dirty bits of every pte. */
#define CLEAR_REFS_SOFT_DIRTY_STR	"4"

#endif /* REMUS_PROC_KERNEL_H */
