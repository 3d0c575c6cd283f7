/* tests/unit/test-ratelimit.c -- the link's token bucket (--bandwidth):
 * parsing, grants, debt, waits, and the rate it keeps over a simulated
 * second of writes on a fake clock. */
#include <errno.h>
#include <stdint.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "ratelimit.h"
#include "util.h"

Test(ratelimit, parses_megabits)
{
	uint64_t v;

	cr_assert(eq(int, ratelimit_parse_mbit("100", &v), 0));
	cr_expect(eq(u64, v, 12500000));
	cr_assert(eq(int, ratelimit_parse_mbit("0.5", &v), 0));
	cr_expect(eq(u64, v, 62500));
	cr_assert(eq(int, ratelimit_parse_mbit("0.001", &v), 0));
	cr_expect(eq(u64, v, 125));
	cr_assert(eq(int, ratelimit_parse_mbit("1000000", &v), 0));
	cr_expect(eq(u64, v, 125000000000ull));
}

Test(ratelimit, refuses_nonsense)
{
	const char *bad[] = { "", "0", "-5", "+5", "10x", "1e9", "0.0001",
	    "nan", "inf", "1 ", NULL };
	uint64_t v;

	for (int i = 0; bad[i]; i++) {
		errno = 0;
		cr_expect(eq(int, ratelimit_parse_mbit(bad[i], &v), -1), "%s",
		    bad[i]);
		cr_expect(eq(int, errno, EINVAL), "%s", bad[i]);
	}
}

Test(ratelimit, grants_a_burst_then_waits)
{
	/* 10 MB/s: a 100 ms burst is 1,000,000 bytes. */
	struct ratelimit *r = ratelimit_new(10000000);
	uint64_t t = now_us();
	size_t g;

	cr_assert(r != NULL);
	g = ratelimit_grant(r, t, 1u << 30);
	cr_expect(eq(sz, g, 1000000));
	ratelimit_charge(r, t, g);
	cr_expect(eq(sz, ratelimit_grant(r, t, 1000), 0));
	/* A quarter burst (250,000 bytes) takes 25 ms to come. */
	cr_expect(eq(u64, ratelimit_wait_us(r, t, 1u << 30), 25001));
	g = ratelimit_grant(r, t + 25000, 1u << 30);
	cr_expect(eq(sz, g, 250000));
	ratelimit_charge(r, t + 25000, g);
	/* Less than a quarter burst wanted: wait for that only. */
	cr_expect(eq(u64, ratelimit_wait_us(r, t + 25000, 1000), 101));
	ratelimit_free(r);
}

Test(ratelimit, no_trickle_below_a_quarter_burst)
{
	/* 10 MB/s, burst 1,000,000: what accrues in 10 us (100 bytes) is
	 * not granted for a large write, only for a small one. */
	struct ratelimit *r = ratelimit_new(10000000);
	uint64_t t = now_us();

	cr_assert(r != NULL);
	ratelimit_charge(r, t, ratelimit_grant(r, t, 1u << 30));
	cr_expect(eq(sz, ratelimit_grant(r, t + 10, 1u << 30), 0));
	cr_expect(eq(sz, ratelimit_grant(r, t + 10, 50), 50));
	cr_expect(eq(sz, ratelimit_grant(r, t + 24999, 1u << 30), 0));
	cr_expect(eq(sz, ratelimit_grant(r, t + 25000, 1u << 30), 250000));
	ratelimit_free(r);
}

Test(ratelimit, debt_delays_the_next_grant)
{
	struct ratelimit *r = ratelimit_new(1000000);	/* 1 MB/s */
	uint64_t t = now_us();

	/* A TLS record repeated after EAGAIN overdraws by 100,000 (the
	 * burst at 1 MB/s is 100,000). */
	ratelimit_charge(r, t, 100000 + 100000);
	cr_expect(eq(sz, ratelimit_grant(r, t + 99000, 10), 0));
	cr_expect(gt(sz, ratelimit_grant(r, t + 101000, 10), 0));
	ratelimit_free(r);
}

Test(ratelimit, keeps_the_rate_over_a_second)
{
	/* A writer that takes whatever it is granted, 1 ms apart, for a
	 * simulated second: at most the rate plus one burst. */
	struct ratelimit *r = ratelimit_new(5000000);
	uint64_t t = now_us(), sent = 0;

	for (int ms = 0; ms < 1000; ms++) {
		size_t g = ratelimit_grant(r, t + ms * 1000ull, 1u << 20);

		ratelimit_charge(r, t + ms * 1000ull, g);
		sent += g;
	}
	cr_expect(ge(u64, sent, 4990000));
	cr_expect(le(u64, sent, 5000000 + 500000 + 5000));
	ratelimit_free(r);
}

Test(ratelimit, take_sleeps_for_its_bytes)
{
	struct ratelimit *r = ratelimit_new(1000000);	/* 1 MB/s */
	uint64_t t0 = now_us();

	/* 300,000 bytes: the first 100,000 burst at once, each take waits
	 * for at least a quarter burst and repays what it overdrew, so
	 * the whole can go no faster than (300,000 - 100,000 - 25,000) / 1
	 * MB/s, 175 ms. */
	for (int i = 0; i < 15; i++)
		ratelimit_take(r, 20000);
	cr_expect(ge(u64, now_us() - t0, 165000));
	cr_expect(gt(u64, ratelimit_held_us(r), 0));
	ratelimit_free(r);
}
