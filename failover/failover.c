/* failover/failover.c -- silence timeout, heartbeats, idempotent trigger
 * (STYLE V5, V7). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX ""
#include "compiler.h"
#include "failover.h"
#include "log.h"

static const char *const state_names[] = {
	[FAILOVER_NONE] = "NONE",
	[FAILOVER_REQUESTED] = "REQUESTED",
	[FAILOVER_HANDLING] = "HANDLING",
	[FAILOVER_DONE] = "DONE",
};

const char *
failover_state_str(enum failover_state s)
{
	return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

static void
set_state(struct failover *f, enum failover_state to)
{
	log_info("%s: state change %s -> %s, reason: %s, epoch %" PRIu64,
	    f->what, failover_state_str(f->state), failover_state_str(to),
	    f->reason, f->epoch);
	f->state = to;
}

static void
idle_timeout(struct failover *f)
{
	/* A long callback elsewhere in the loop (a big epoch being applied
	 * or encoded) can delay reading: ask the owner to look before
	 * declaring the peer dead. */
	if (f->recheck && f->recheck(f, f->arg) == 1) {
		failover_alive(f);
		return;
	}
	if (f->state != FAILOVER_NONE)
		return;
	failover_trigger(f, "heartbeat timeout (%.0f ms of silence)",
	    f->idle.repeat * 1000.0);
}

static void
idle_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	idle_timeout(container_of(w, struct failover, idle));
}

static void
heartbeat_due(struct failover *f)
{
	ev_tstamp now = ev_now(f->loop);

	/* Only when idle: any stream bytes already prove we are alive. */
	if (now - f->last_sent >= f->hb.repeat * 0.9) {
		if (f->send && f->send(f, f->arg) == 0)
			f->last_sent = now;
	}
}

static void
hb_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	heartbeat_due(container_of(w, struct failover, hb));
}

void
failover_init(struct failover *f, struct ev_loop *loop, const char *what,
    uint32_t timeout_ms, failover_handler_fn *handler, failover_send_fn *send,
    failover_recheck_fn *recheck, void *arg)
{
	memset(f, 0, sizeof *f);
	f->loop = loop;
	f->what = what;
	f->handler = handler;
	f->send = send;
	f->recheck = recheck;
	f->arg = arg;
	snprintf(f->reason, sizeof f->reason, "none");
	ev_init(&f->idle, idle_cb);
	f->idle.repeat = timeout_ms / 1000.0;
	ev_init(&f->hb, hb_cb);
}

void
failover_start(struct failover *f, uint32_t hb_ms)
{
	if (f->idle.repeat > 0)
		ev_timer_again(f->loop, &f->idle);
	if (f->send && hb_ms > 0) {
		f->hb.repeat = hb_ms / 1000.0;
		f->last_sent = ev_now(f->loop);
		ev_timer_again(f->loop, &f->hb);
	}
}

void
failover_stop(struct failover *f)
{
	ev_timer_stop(f->loop, &f->idle);
	ev_timer_stop(f->loop, &f->hb);
}

void
failover_alive(struct failover *f)
{
	if (f->idle.repeat > 0 && f->state == FAILOVER_NONE) {
		/* ev_timer_again counts from the loop's cached time, which
		 * is stale after a long callback (applying a big epoch):
		 * the timer would expire at once. */
		ev_now_update(f->loop);
		ev_timer_again(f->loop, &f->idle);
	}
}

void
failover_sent(struct failover *f)
{
	ev_now_update(f->loop);
	f->last_sent = ev_now(f->loop);
}

void
failover_set_epoch(struct failover *f, uint64_t epoch)
{
	f->epoch = epoch;
}

int
failover_trigger(struct failover *f, const char *fmt, ...)
{
	char why[sizeof f->reason];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (f->state != FAILOVER_NONE) {
		log_debug("%s: already %s, ignoring: %s", f->what,
		    failover_state_str(f->state), why);
		return 0;
	}
	memcpy(f->reason, why, sizeof f->reason);
	failover_stop(f);
	set_state(f, FAILOVER_REQUESTED);
	set_state(f, FAILOVER_HANDLING);
	f->result = f->handler ? f->handler(f, f->arg) : 0;
	set_state(f, FAILOVER_DONE);
	return f->result;
}
