/* checkpoint/ratelimit.h -- a token bucket for the replication link
 * (remus --bandwidth MBIT).
 *
 * Tokens are bytes; they accrue at the rate up to a burst of 100 ms worth
 * (at least 64 KiB).  A writer asks for a grant, writes at most that,
 * and charges what it wrote; a write that must repeat its bytes (TLS
 * sealed them into a record already) may overdraw, and the debt delays
 * the next grant.  One bucket is shared by the link (peer.c, in the loop
 * thread) and the disk sync (its own thread, ratelimit_take), so the cap
 * holds for what both send together: every call takes a mutex.
 */
#ifndef REMUS_RATELIMIT_H
#define REMUS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* A bucket of BYTES_PER_S (> 0), full.  NULL + errno. */
struct ratelimit *ratelimit_new(uint64_t bytes_per_s);
void	ratelimit_free(struct ratelimit *);		/* NULL ok */

/* "MBIT" (megabits per second, decimal: 1 Mbit = 125,000 bytes, as
 * libvirt's bandwidth and network links count; a fraction such as 0.5 is
 * fine) into bytes per second, 1 kbit/s .. 1 Tbit/s.  0 / -1 + EINVAL. */
int	ratelimit_parse_mbit(const char *s, uint64_t *bytes_per_s);

/* How many of WANT bytes may go at NOW_US (monotonic): 0 until the
 * bucket holds a quarter burst (or WANT if smaller), so writes come in
 * chunks and a writer waits rather than trickles. */
size_t	ratelimit_grant(struct ratelimit *, uint64_t now_us, size_t want);
/* SENT bytes went at NOW_US. */
void	ratelimit_charge(struct ratelimit *, uint64_t now_us, size_t sent);
/* Microseconds from NOW_US until a grant of some of WANT is worth
 * waiting for (a quarter burst, or WANT if smaller); 0 if now. */
uint64_t ratelimit_wait_us(struct ratelimit *, uint64_t now_us, size_t want);
/* Blocking, for a thread: sleep until N bytes may go, then charge them. */
void	ratelimit_take(struct ratelimit *, size_t n);

/* The rate, and the total time writers were told to wait (microseconds,
 * counted once per wait that ran: the stretched time, for reports). */
uint64_t ratelimit_rate(const struct ratelimit *);
uint64_t ratelimit_held_us(struct ratelimit *);
/* A writer waited HELD_US (the loop's timer ran that long). */
void	ratelimit_add_held(struct ratelimit *, uint64_t held_us);

#endif /* REMUS_RATELIMIT_H */
