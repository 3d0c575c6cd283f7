/* checkpoint/ratelimit.c -- a token bucket for the replication link (see
 * ratelimit.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit.h"
#include "util.h"

#define BURST_MIN	(64u << 10)
/* 100 ms of the rate: a loop that wakes late (a loaded host schedules
 * remus away for tens of milliseconds) keeps what accrued meanwhile, and
 * the cap still holds over any second.  At 20 ms, a 40 Mbit/s cap carried
 * 35 on a busy machine. */
#define BURST_US	100000

struct ratelimit {
	pthread_mutex_t	lock;
	uint64_t	rate;		/* bytes per second */
	double		burst;
	double		tokens;		/* may go negative: debt */
	uint64_t	last_us;	/* tokens were refilled up to here */
	uint64_t	held_us;
};

struct ratelimit *
ratelimit_new(uint64_t bytes_per_s)
{
	struct ratelimit *r;

	if (bytes_per_s == 0) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->rate = bytes_per_s;
	r->burst = (double)bytes_per_s * BURST_US / 1e6;
	if (r->burst < BURST_MIN)
		r->burst = BURST_MIN;
	r->tokens = r->burst;
	r->last_us = now_us();
	return r;
}

void
ratelimit_free(struct ratelimit *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int
ratelimit_parse_mbit(const char *s, uint64_t *bytes_per_s)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		goto inval;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || v != v)
		goto inval;
	/* 1 kbit/s .. 1 Tbit/s. */
	if (v < 0.001 || v > 1000000.)
		goto inval;
	*bytes_per_s = (uint64_t)(v * 125000. + 0.5);
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

/* Called with the lock held. */
static void
refill(struct ratelimit *r, uint64_t now)
{
	if (now <= r->last_us)
		return;
	r->tokens += (double)(now - r->last_us) * (double)r->rate / 1e6;
	if (r->tokens > r->burst)
		r->tokens = r->burst;
	r->last_us = now;
}

/* What a grant waits for: a quarter burst, or WANT if smaller. */
static double
grant_min(const struct ratelimit *r, size_t want)
{
	double target = r->burst / 4;

	if ((double)want < target)
		target = (double)want;
	return target < 1 ? 1 : target;
}

size_t
ratelimit_grant(struct ratelimit *r, uint64_t now, size_t want)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	refill(r, now);
	/* Nothing below grant_min: a writer granted whatever accrued since
	 * its last write (a few bytes per microsecond) never found the
	 * bucket empty, spun through syscalls of tens of bytes, and never
	 * waited on the timer that counts the time the cap held it. */
	n = r->tokens < grant_min(r, want) ? 0 :
	    r->tokens < (double)want ? (size_t)r->tokens : want;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void
ratelimit_charge(struct ratelimit *r, uint64_t now, size_t sent)
{
	pthread_mutex_lock(&r->lock);
	refill(r, now);
	r->tokens -= (double)sent;
	pthread_mutex_unlock(&r->lock);
}

uint64_t
ratelimit_wait_us(struct ratelimit *r, uint64_t now, size_t want)
{
	double need;
	uint64_t us;

	pthread_mutex_lock(&r->lock);
	refill(r, now);
	need = grant_min(r, want) - r->tokens;
	us = need <= 0 ? 0 : (uint64_t)(need * 1e6 / (double)r->rate) + 1;
	pthread_mutex_unlock(&r->lock);
	return us;
}

void
ratelimit_take(struct ratelimit *r, size_t n)
{
	uint64_t us, t0 = now_us(), held = 0;
	struct timespec ts;

	while ((us = ratelimit_wait_us(r, now_us(), n)) > 0) {
		ts.tv_sec = (time_t)(us / 1000000);
		ts.tv_nsec = (long)(us % 1000000) * 1000;
		nanosleep(&ts, NULL);
		held = now_us() - t0;
	}
	ratelimit_charge(r, now_us(), n);
	if (held)
		ratelimit_add_held(r, held);
}

uint64_t
ratelimit_rate(const struct ratelimit *r)
{
	return r->rate;
}

uint64_t
ratelimit_held_us(struct ratelimit *r)
{
	uint64_t h;

	pthread_mutex_lock(&r->lock);
	h = r->held_us;
	pthread_mutex_unlock(&r->lock);
	return h;
}

void
ratelimit_add_held(struct ratelimit *r, uint64_t held_us)
{
	pthread_mutex_lock(&r->lock);
	r->held_us += held_us;
	pthread_mutex_unlock(&r->lock);
}
