/* failover/fo-backup.c -- the backup's failover policy (docs/failover.md
 * B1-B6) as a pure state machine: no I/O, no clock, no libev.
 *
 * Decisions where docs/failover.md is silent (the owner relies on these):
 *
 * - Silence uses the lazy-timer idiom: the first heard() arms the tick for
 *   last_rx + T (call it at the handshake); later ones only move last_rx
 *   and the tick re-arms itself.  Silence is "now - last_rx >= T".
 * - The window is "now <= last_rx + T + F" (B3), times as reported by the
 *   owner (last_rx conservative: the loop iteration before the read).  Log
 *   lines give times as "+N ms" from last_rx.
 * - A loss reported after the window already closed (a stalled remusd)
 *   goes to PASSIVE without fencing: the primary may already run released,
 *   and killing it then would leave no copy running.
 * - A failed fence is retried fence_retry_ms later (0: 1000) only if that
 *   is before the window end; an attempt that would start at or after the
 *   window end could not succeed inside it, so the backup goes PASSIVE at
 *   once.  While an attempt runs, the tick at the window end does nothing:
 *   the attempt is bounded by F and its outcome is judged by the window
 *   rule when it ends (ok after the window: PASSIVE).
 * - local_error() drops the open epoch (discard_open) before stand_down():
 *   B1 rolls it back and keeps the last committed replica.  It only acts in
 *   RECEIVING; once fencing started, the decision is the window's.
 * - --no-fence goes RECEIVING -> ACTIVATING directly (no FENCING state, no
 *   fence ran) and logs a warning each time.
 * - Entering a final state cancels the tick with arm(0) (after activate()
 *   returned, for ACTIVATED and FAILED).
 * - A tick earlier than the armed time re-arms it (RECEIVING) or is taken
 *   as the retry time (FENCING: the owner ticks only when asked).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX "failover: "
#include "compiler.h"
#include "fo-backup.h"
#include "log.h"

static const char *const b_state_names[] = {
	[FOB_RECEIVING] = "RECEIVING",
	[FOB_FENCING] = "FENCING",
	[FOB_ACTIVATING] = "ACTIVATING",
	[FOB_ACTIVATED] = "ACTIVATED",
	[FOB_FAILED] = "FAILED",
	[FOB_PASSIVE] = "PASSIVE",
	[FOB_STOOD_DOWN] = "STOOD_DOWN",
	[FOB_ENDED] = "ENDED",
	[FOB_NOTHING] = "NOTHING",
};

const char *
fo_backup_state_str(enum fo_b_state s)
{
	if ((unsigned)s >= ARRAY_SIZE(b_state_names) || !b_state_names[s])
		return "?";
	return b_state_names[s];
}

int
fo_backup_final(const struct fo_backup *b)
{
	switch (b->state) {
	case FOB_ACTIVATED:
	case FOB_FAILED:
	case FOB_PASSIVE:
	case FOB_STOOD_DOWN:
	case FOB_ENDED:
	case FOB_NOTHING:
		return 1;
	default:
		return 0;
	}
}

/* The one place a state changes: one info line "A -> B: what". */
static void __printf(3, 4)
b_change(struct fo_backup *b, enum fo_b_state to, const char *fmt, ...)
{
	enum fo_b_state from = b->state;
	char what[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	b->state = to;
	log_info("%s -> %s: %s", fo_backup_state_str(from),
	    fo_backup_state_str(to), what);
	if (fo_backup_final(b))
		b->ops->arm(b->arg, 0);
}

static uint64_t
b_rel(const struct fo_backup *b, uint64_t t)
{
	return t > b->last_rx_ms ? t - b->last_rx_ms : 0;
}

void
fo_backup_init(struct fo_backup *b, const struct fo_backup_cfg *cfg,
    const struct fo_timing *timing, const struct fo_backup_ops *ops,
    void *arg)
{
	memset(b, 0, sizeof *b);
	b->state = FOB_RECEIVING;
	b->cfg = *cfg;
	if (b->cfg.fence_retry_ms == 0)
		b->cfg.fence_retry_ms = 1000;
	b->timing = *timing;
	b->ops = ops;
	b->arg = arg;
}

void
fo_backup_heard(struct fo_backup *b, uint64_t last_rx)
{
	int first = b->last_rx_ms == 0;

	if (b->state != FOB_RECEIVING || last_rx <= b->last_rx_ms)
		return;
	b->last_rx_ms = last_rx;
	if (first)
		b->ops->arm(b->arg, last_rx + b->timing.timeout_ms);
}

void
fo_backup_committed(struct fo_backup *b, uint64_t epoch)
{
	if (b->state == FOB_RECEIVING && epoch > b->committed)
		b->committed = epoch;
}

/* B4: the fence succeeded in the window (or --no-fence). */
static void
b_activate(struct fo_backup *b, const char *what)
{
	b_change(b, FOB_ACTIVATING, "%s", what);
	if (b->ops->activate(b->arg) == 0)
		b_change(b, FOB_ACTIVATED, "guest runs here from epoch %"
		    PRIu64, b->committed);
	else
		b_change(b, FOB_FAILED, "activation of epoch %" PRIu64
		    " failed; replica kept", b->committed);
}

static void
b_start_fence(struct fo_backup *b)
{
	b->attempts++;
	b->fence_running = 1;
	b->ops->arm(b->arg, b->window_end_ms);
	/* Last: the owner may report fence_done() from inside. */
	b->ops->fence(b->arg, b->attempts);
}

void
fo_backup_lost(struct fo_backup *b, uint64_t now, const char *why)
{
	uint64_t tf;
	char what[320];

	if (b->state != FOB_RECEIVING)
		return;
	/* B2: the open epoch never becomes the replica. */
	b->ops->discard_open(b->arg);
	snprintf(b->reason, sizeof b->reason, "%s", why);
	if (b->committed == 0) {
		b_change(b, FOB_NOTHING, "%s; nothing committed in this "
		    "session, nothing to activate", why);
		return;
	}
	tf = (uint64_t)b->timing.timeout_ms + b->timing.fence_ms;
	b->window_end_ms = b->last_rx_ms + tf;
	if (now > b->window_end_ms) {
		b_change(b, FOB_PASSIVE, "%s; noticed at +%" PRIu64 " ms, after "
		    "the window closed at +%" PRIu64 " ms: not fencing, not "
		    "activating; replica kept at epoch %" PRIu64, why,
		    b_rel(b, now), tf, b->committed);
		return;
	}
	if (b->cfg.no_fence) {
		log_warnx("--no-fence: no fence ran; if the primary still runs, "
		    "both copies run now");
		snprintf(what, sizeof what, "%s; --no-fence, activating at +%"
		    PRIu64 " ms, inside the window (+%" PRIu64 " ms)", why,
		    b_rel(b, now), tf);
		b_activate(b, what);
		return;
	}
	b_change(b, FOB_FENCING, "%s; fencing the primary, the window closes "
	    "in %" PRIu64 " ms (at +%" PRIu64 " ms)", why,
	    b->window_end_ms - now, tf);
	b_start_fence(b);
}

void
fo_backup_local_error(struct fo_backup *b, uint64_t now, int code,
    const char *why)
{
	if (b->state != FOB_RECEIVING)
		return;
	b->ops->discard_open(b->arg);
	snprintf(b->reason, sizeof b->reason, "%s", why);
	b->ops->stand_down(b->arg, code, why);
	b_change(b, FOB_STOOD_DOWN, "%s (error %d); ERROR sent, replica kept "
	    "at epoch %" PRIu64 ", never activating from this session", why,
	    code, b->committed);
}

void
fo_backup_end(struct fo_backup *b, uint64_t now)
{
	if (b->state != FOB_RECEIVING)
		return;
	b_change(b, FOB_ENDED, "END from the primary; replica kept at epoch %"
	    PRIu64, b->committed);
}

void
fo_backup_fence_done(struct fo_backup *b, uint64_t now, int ok)
{
	uint64_t tf = b->window_end_ms - b->last_rx_ms;
	char what[320];

	if (b->state != FOB_FENCING || !b->fence_running)
		return;
	b->fence_running = 0;
	if (ok && now <= b->window_end_ms) {
		snprintf(what, sizeof what, "fenced at +%" PRIu64 " ms (attempt "
		    "%u), inside the window (+%" PRIu64 " ms)", b_rel(b, now),
		    b->attempts, tf);
		b_activate(b, what);
		return;
	}
	if (ok) {
		b_change(b, FOB_PASSIVE, "fenced at +%" PRIu64 " ms, after the "
		    "window closed at +%" PRIu64 " ms: not activating; replica "
		    "kept at epoch %" PRIu64, b_rel(b, now), tf, b->committed);
		return;
	}
	if (now + b->cfg.fence_retry_ms < b->window_end_ms) {
		log_info("fence attempt %u failed; retrying in %" PRIu32 " ms, "
		    "the window closes in %" PRIu64 " ms", b->attempts,
		    b->cfg.fence_retry_ms, b->window_end_ms - now);
		b->ops->arm(b->arg, now + b->cfg.fence_retry_ms);
		return;
	}
	b_change(b, FOB_PASSIVE, "fence attempt %u failed at +%" PRIu64 " ms; "
	    "the window closes at +%" PRIu64 " ms, before another attempt "
	    "could start: not activating; replica kept at epoch %" PRIu64,
	    b->attempts, b_rel(b, now), tf, b->committed);
}

void
fo_backup_tick(struct fo_backup *b, uint64_t now)
{
	uint64_t deadline;
	char why[96];

	switch (b->state) {
	case FOB_RECEIVING:
		deadline = b->last_rx_ms + b->timing.timeout_ms;
		if (now < deadline) {
			b->ops->arm(b->arg, deadline);
			return;
		}
		snprintf(why, sizeof why, "silence for %" PRIu64 " ms",
		    now - b->last_rx_ms);
		fo_backup_lost(b, now, why);
		return;
	case FOB_FENCING:
		if (b->fence_running)
			return;		/* bounded by F; its done decides */
		if (now >= b->window_end_ms) {
			b_change(b, FOB_PASSIVE, "not fenced in %u attempts; the "
			    "window closed at +%" PRIu64 " ms: not activating; "
			    "replica kept at epoch %" PRIu64, b->attempts,
			    b->window_end_ms - b->last_rx_ms, b->committed);
			return;
		}
		b_start_fence(b);
		return;
	default:
		return;
	}
}
