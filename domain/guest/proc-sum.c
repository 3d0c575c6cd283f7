/* domain/guest/proc-sum.c -- the arena checksum through libxxhash. */
#include "proc-sum.h"

void
proc_sum_init(struct proc_sum *s)
{
	XXH64_reset(&s->st, 0);
}

void
proc_sum_update(struct proc_sum *s, const void *data, size_t len)
{
	XXH64_update(&s->st, data, len);
}

uint64_t
proc_sum_final(const struct proc_sum *s)
{
	return XXH64_digest(&s->st);
}

uint64_t
proc_sum(const void *data, size_t len)
{
	return XXH64(data, len, 0);
}
