/* domain/guest/proc-sum.h -- the arena checksum (XXH64, seed 0).
 *
 * remus-dirtier records it at each suspend; remus-arena-sum prints it for a
 * replica file; tests compare the two.  XXH64 because it runs at memory
 * speed (a 1 GiB arena in well under a second, while the guest is paused
 * only in tests) and is a published, checkable function (xxhsum -H1).
 * libxxhash computes it; this header only names the use.
 */
#ifndef REMUS_PROC_SUM_H
#define REMUS_PROC_SUM_H

#include <stddef.h>
#include <stdint.h>

#define XXH_STATIC_LINKING_ONLY	/* XXH64_state_t on the stack */
#include <xxhash.h>

struct proc_sum {
	XXH64_state_t	st;
};

void		proc_sum_init(struct proc_sum *);
void		proc_sum_update(struct proc_sum *, const void *, size_t);
uint64_t	proc_sum_final(const struct proc_sum *);

/* One-shot. */
uint64_t	proc_sum(const void *, size_t);

#endif /* REMUS_PROC_SUM_H */
