/* failover/fo-primary.c -- the primary's failover policy (docs/failover.md
 * P1-P6) as a pure state machine: no I/O, no clock, no libev.
 *
 * Decisions where docs/failover.md is silent (the owner relies on these):
 *
 * - Silence uses the lazy-timer idiom: heard() only moves last_rx; the one
 *   tick armed at connected() finds the deadline moved and re-arms it for
 *   last_rx + T.  Silence is "now - last_rx >= T".
 * - "Nothing acknowledged" (P3's release at once) is counted per session:
 *   connected() resets acked and sent, because a replica kept from an
 *   earlier session is never activated by a later one before it committed
 *   its own first epoch.  It also requires that no epoch was handed whole
 *   to the link (fo_primary_sent()): the backup commits on the CHECKPOINT
 *   record and may activate it even if its ACK is lost with the link, so
 *   "nothing acked" alone is not "nothing to activate".  An owner that
 *   never calls fo_primary_sent() gets the contract's plain rule.
 * - Reconnect attempts run in UNPROTECTED (p->trying); they are not state
 *   changes.  A failed attempt logs one line (the first after a release at
 *   info level, later ones at debug) and schedules the next one.
 *   reconnect_ms == 0 means: released, stay UNPROTECTED, nothing armed.
 *   Past reconnect_limit attempts: STOPPED (output stays released).
 * - CONNECTING is the first link only.  If it fails (connect_failed(), or
 *   lost()/stood_down() before the handshake) that is one state change to
 *   UNPROTECTED: release_all() (nothing was acknowledged, so nothing held
 *   can be activated elsewhere) and the reconnect schedule.  A report that
 *   follows for the same attempt (connect_failed after lost) is ignored, so
 *   a stray connection that never handshook logs one line, not three.
 * - lost()/stood_down() while a link may be open (PROTECTED, CONNECTING, an
 *   attempt under way) call abort_link() first (P2); abort_link() must be
 *   harmless when nothing is open.  connect_failed() does not: the owner
 *   reports an attempt that already ended.
 * - stood_down() (ERROR) releases at once also in HOLDING: ERROR means the
 *   backup will not activate from this session (B6).  lost() in HOLDING,
 *   and in UNPROTECTED with no attempt under way, is ignored.
 * - fence_done(ok) only matters in HOLDING; a failed fence keeps holding
 *   until release_ms (logged as a warning, not a state change).
 * - Entering a final state (GUEST_FAILED, STOPPED) cancels the tick with
 *   arm(0).  stop() in HOLDING does not release: release_ms stays the
 *   earliest moment output may leave (P6: the owner that exits must not
 *   release earlier).
 * - A tick earlier than the armed time re-arms it and does nothing else.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX "failover: "
#include "compiler.h"
#include "fo-primary.h"
#include "log.h"

static const char *const p_state_names[] = {
	[FOP_CONNECTING] = "CONNECTING",
	[FOP_PROTECTED] = "PROTECTED",
	[FOP_HOLDING] = "HOLDING",
	[FOP_UNPROTECTED] = "UNPROTECTED",
	[FOP_GUEST_FAILED] = "GUEST_FAILED",
	[FOP_STOPPED] = "STOPPED",
};

const char *
fo_primary_state_str(enum fo_p_state s)
{
	if ((unsigned)s >= ARRAY_SIZE(p_state_names) || !p_state_names[s])
		return "?";
	return p_state_names[s];
}

uint64_t
fo_margin_ms(const struct fo_timing *t)
{
	uint64_t m = ((uint64_t)t->timeout_ms + t->fence_ms) / 50;

	return m > 500 ? m : 500;
}

static int
p_final(const struct fo_primary *p)
{
	return p->state == FOP_GUEST_FAILED || p->state == FOP_STOPPED;
}

/* The one place a state changes: one info line "A -> B: what". */
static void __printf(3, 4)
p_change(struct fo_primary *p, enum fo_p_state to, const char *fmt, ...)
{
	enum fo_p_state from = p->state;
	char what[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	p->state = to;
	log_info("%s -> %s: %s", fo_primary_state_str(from),
	    fo_primary_state_str(to), what);
}

void
fo_primary_init(struct fo_primary *p, const struct fo_primary_cfg *cfg,
    const struct fo_primary_ops *ops, void *arg)
{
	memset(p, 0, sizeof *p);
	p->state = FOP_CONNECTING;
	p->cfg = *cfg;
	p->ops = ops;
	p->arg = arg;
}

/* Output goes out now (P3) and reconnecting starts (P4).  HOW says why,
 * as the start of the log line. */
static void
p_release(struct fo_primary *p, uint64_t now, const char *how)
{
	p->ops->release_all(p->arg);
	p->attempts = 0;
	p->trying = 0;
	if (p->cfg.reconnect_ms == 0) {
		p->next_try_ms = 0;
		p_change(p, FOP_UNPROTECTED, "%s; output released, not "
		    "reconnecting (reconnecting disabled)", how);
		p->ops->arm(p->arg, 0);
		return;
	}
	p->next_try_ms = now + p->cfg.reconnect_ms;
	p_change(p, FOP_UNPROTECTED, "%s; output released, reconnecting in "
	    "%" PRIu32 " ms", how, p->cfg.reconnect_ms);
	p->ops->arm(p->arg, p->next_try_ms);
}

/* The attempt under way (or the first link) ended without a handshake. */
static void
p_attempt_failed(struct fo_primary *p, uint64_t now, const char *why)
{
	char how[256];

	if (p->state == FOP_CONNECTING) {
		snprintf(how, sizeof how, "no backup: %s", why);
		p_release(p, now, how);
		return;
	}
	p->trying = 0;
	if (p->cfg.reconnect_limit != 0 &&
	    p->attempts >= p->cfg.reconnect_limit) {
		p->next_try_ms = 0;
		p_change(p, FOP_STOPPED, "reconnect attempt %" PRIu32 " of %"
		    PRIu32 " failed: %s; giving up, running unprotected",
		    p->attempts, p->cfg.reconnect_limit, why);
		p->ops->arm(p->arg, 0);
		return;
	}
	p->next_try_ms = now + p->cfg.reconnect_ms;
	if (p->attempts <= 1)
		log_info("reconnect attempt %" PRIu32 " failed: %s; retrying "
		    "every %" PRIu32 " ms", p->attempts, why,
		    p->cfg.reconnect_ms);
	else
		log_debug("reconnect attempt %" PRIu32 " failed: %s",
		    p->attempts, why);
	p->ops->arm(p->arg, p->next_try_ms);
}

/* P1-P3: the backup is lost (STOOD_DOWN: it said so with ERROR). */
static void
p_lose(struct fo_primary *p, uint64_t now, const char *why, int stood_down)
{
	uint64_t t, f, m;
	char how[256];

	switch (p->state) {
	case FOP_PROTECTED:
		break;
	case FOP_CONNECTING:
		p->ops->abort_link(p->arg);
		p_attempt_failed(p, now, why);
		return;
	case FOP_UNPROTECTED:
		if (!p->trying)
			return;		/* no link: nothing to lose */
		p->ops->abort_link(p->arg);
		p_attempt_failed(p, now, why);
		return;
	case FOP_HOLDING:
		if (stood_down) {
			snprintf(how, sizeof how, "backup stood down: %s", why);
			p_release(p, now, how);
		}
		return;
	default:
		return;
	}

	/* P2: stop talking at once, so no byte queued before X refreshes
	 * the backup's last_rx later. */
	p->ops->abort_link(p->arg);
	snprintf(p->reason, sizeof p->reason, "%s%s",
	    stood_down ? "backup stood down: " : "", why);
	t = p->timing.timeout_ms;
	f = p->timing.fence_ms;
	m = fo_margin_ms(&p->timing);
	p->lost_ms = now;
	p->release_ms = now + t + f + m;
	if (stood_down) {
		p_release(p, now, p->reason);
		return;
	}
	if (p->acked == 0 && p->sent == 0) {
		snprintf(how, sizeof how, "%s; no epoch ever sent or "
		    "acknowledged, the backup has nothing to activate",
		    p->reason);
		p_release(p, now, how);
		return;
	}
	p->ops->arm(p->arg, p->release_ms);
	p_change(p, FOP_HOLDING, "%s; output held until %" PRIu64 " ms from "
	    "now (T+F+M = %" PRIu64 "+%" PRIu64 "+%" PRIu64 "), last "
	    "acknowledged epoch %" PRIu64 "%s", p->reason, t + f + m, t, f, m,
	    p->acked, p->cfg.fence_backup && p->ops->fence_backup ?
	    "; fencing the backup" : "");
	/* Last: the owner may report fence_done() from inside. */
	if (p->cfg.fence_backup && p->ops->fence_backup)
		p->ops->fence_backup(p->arg);
}

void
fo_primary_connected(struct fo_primary *p, uint64_t now,
    const struct fo_timing *timing)
{
	if (p->state != FOP_CONNECTING && p->state != FOP_UNPROTECTED) {
		log_debug("connected() ignored in %s",
		    fo_primary_state_str(p->state));
		return;
	}
	p->timing = *timing;
	p->last_rx_ms = now;
	p->acked = 0;
	p->sent = 0;
	p->attempts = 0;
	p->trying = 0;
	p->next_try_ms = 0;
	p_change(p, FOP_PROTECTED, "backup answered (T %" PRIu32 " ms, H %"
	    PRIu32 " ms, F %" PRIu32 " ms); output held until acknowledged",
	    timing->timeout_ms, timing->hb_ms, timing->fence_ms);
	p->ops->arm(p->arg, now + timing->timeout_ms);
}

void
fo_primary_connect_failed(struct fo_primary *p, uint64_t now,
    const char *why)
{
	if (p->state == FOP_CONNECTING ||
	    (p->state == FOP_UNPROTECTED && p->trying))
		p_attempt_failed(p, now, why);
}

void
fo_primary_heard(struct fo_primary *p, uint64_t last_rx)
{
	if (p->state == FOP_PROTECTED && last_rx > p->last_rx_ms)
		p->last_rx_ms = last_rx;
}

void
fo_primary_acked(struct fo_primary *p, uint64_t epoch)
{
	if (p->state != FOP_PROTECTED)
		return;
	if (epoch > p->acked)
		p->acked = epoch;
	if (epoch > p->sent)
		p->sent = epoch;
}

void
fo_primary_sent(struct fo_primary *p, uint64_t epoch)
{
	if (p->state == FOP_PROTECTED && epoch > p->sent)
		p->sent = epoch;
}

void
fo_primary_lost(struct fo_primary *p, uint64_t now, const char *why)
{
	p_lose(p, now, why, 0);
}

void
fo_primary_stood_down(struct fo_primary *p, uint64_t now, const char *why)
{
	p_lose(p, now, why, 1);
}

void
fo_primary_fence_done(struct fo_primary *p, uint64_t now, int ok)
{
	if (p->state != FOP_HOLDING)
		return;
	if (!ok) {
		log_warnx("fencing the backup failed; output held until %"
		    PRIu64 " ms from now", p->release_ms > now ?
		    p->release_ms - now : 0);
		return;
	}
	p_release(p, now, "the backup is fenced (--fence-backup)");
}

void
fo_primary_guest_failed(struct fo_primary *p, uint64_t now, const char *why)
{
	if (p_final(p))
		return;
	int link = p->state == FOP_PROTECTED || p->state == FOP_CONNECTING ||
	    (p->state == FOP_UNPROTECTED && p->trying);

	/* P5: what the failed guest did since the last ACK never leaves.
	 * Dropped (and said so) before the link is told: the backup fences
	 * the moment it sees the abort, and its fence kills this process;
	 * told first, remus could die with the output not yet dropped. */
	p->ops->discard_all(p->arg);
	p->trying = 0;
	p_change(p, FOP_GUEST_FAILED, "guest failed: %s; held output "
	    "dropped, never released", why);
	if (link)
		p->ops->abort_link(p->arg);
	p->ops->arm(p->arg, 0);
}

void
fo_primary_stop(struct fo_primary *p, uint64_t now)
{
	if (p_final(p))
		return;
	p->trying = 0;
	if (p->state == FOP_HOLDING)
		p_change(p, FOP_STOPPED, "orderly stop; output held, not to "
		    "be released before %" PRIu64 " ms from now",
		    p->release_ms > now ? p->release_ms - now : 0);
	else
		p_change(p, FOP_STOPPED, "orderly stop");
	p->ops->arm(p->arg, 0);
}

void
fo_primary_tick(struct fo_primary *p, uint64_t now)
{
	uint64_t deadline;
	char why[96];

	switch (p->state) {
	case FOP_PROTECTED:
		deadline = p->last_rx_ms + p->timing.timeout_ms;
		if (now < deadline) {
			p->ops->arm(p->arg, deadline);
			return;
		}
		snprintf(why, sizeof why, "silence for %" PRIu64 " ms",
		    now - p->last_rx_ms);
		p_lose(p, now, why, 0);
		return;
	case FOP_HOLDING:
		if (now < p->release_ms) {
			p->ops->arm(p->arg, p->release_ms);
			return;
		}
		snprintf(why, sizeof why, "held %" PRIu64 " ms since the loss "
		    "(T+F+M)", now - p->lost_ms);
		p_release(p, now, why);
		return;
	case FOP_UNPROTECTED:
		if (p->trying || p->next_try_ms == 0)
			return;
		if (now < p->next_try_ms) {
			p->ops->arm(p->arg, p->next_try_ms);
			return;
		}
		p->attempts++;
		p->trying = 1;
		log_debug("reconnect attempt %" PRIu32, p->attempts);
		/* Last: the owner may report the outcome from inside. */
		p->ops->reconnect(p->arg);
		return;
	default:
		return;
	}
}
