/* tests/unit/test-failover.c -- the failover policies (failover/fo-*.c)
 * against a fake clock (a plain uint64 the test advances) and recording
 * fake ops: every action appends a word to a string and the tests assert
 * the exact sequence.  The last test drives both machines through a grid of
 * two-sided timelines and checks the window invariant of docs/failover.md.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "compiler.h"
#include "fo-backup.h"
#include "fo-primary.h"

/* T = 1 s, F = 10 s: M = 500 ms, T + F + M = 11500 ms. */
static const struct fo_timing TIMING = {
	.timeout_ms = 1000, .hb_ms = 200, .fence_ms = 10000,
};

static char rec[8192];

static void __attribute__((format(printf, 1, 2)))
rec_add(const char *fmt, ...)
{
	size_t len = strlen(rec);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rec + len, sizeof rec - len, fmt, ap);
	va_end(ap);
}

/* Return what was recorded since the last call, and start afresh. */
static const char *
took(void)
{
	static char out[sizeof rec];

	memcpy(out, rec, sizeof rec);
	rec[0] = '\0';
	return out;
}

/* Recording fake ops for the primary. */
static void
p_abort(void *arg)
{
	rec_add("abort ");
}

static void
p_release(void *arg)
{
	rec_add("release ");
}

static void
p_discard(void *arg)
{
	rec_add("discard ");
}

static void
p_fence(void *arg)
{
	rec_add("fence_backup ");
}

static void
p_reconnect(void *arg)
{
	rec_add("reconnect ");
}

static void
p_arm(void *arg, uint64_t at)
{
	rec_add("arm:%" PRIu64 " ", at);
}

static const struct fo_primary_ops pops = {
	.abort_link = p_abort, .release_all = p_release,
	.discard_all = p_discard, .fence_backup = NULL,
	.reconnect = p_reconnect, .arm = p_arm,
};
static const struct fo_primary_ops pops_fence = {
	.abort_link = p_abort, .release_all = p_release,
	.discard_all = p_discard, .fence_backup = p_fence,
	.reconnect = p_reconnect, .arm = p_arm,
};

/* Recording fake ops for the backup. */
static int activate_rc;
static void
b_discard(void *arg)
{
	rec_add("discard ");
}

static void
b_stand_down(void *arg, int code, const char *why)
{
	rec_add("stand_down:%d ", code);
}

static void
b_fence(void *arg, unsigned attempt)
{
	rec_add("fence:%u ", attempt);
}

static int
b_activate(void *arg)
{
	rec_add("activate ");
	return activate_rc;
}

static void
b_arm(void *arg, uint64_t at)
{
	rec_add("arm:%" PRIu64 " ", at);
}

static const struct fo_backup_ops bops = {
	.discard_open = b_discard, .stand_down = b_stand_down,
	.fence = b_fence, .activate = b_activate, .arm = b_arm,
};

/* The log goes to stderr (common/log.c, foreground); catch it in a file
 * to count state-change lines. */
static int cap_fd = -1;

static void
capture_start(void)
{
	char path[] = "/tmp/test-failover.XXXXXX";

	cap_fd = mkstemp(path);
	cr_assert(cap_fd >= 0);
	unlink(path);
	cr_assert(dup2(cap_fd, STDERR_FILENO) == STDERR_FILENO);
}

static const char *
captured(void)
{
	static char buf[16384];
	ssize_t n;

	n = pread(cap_fd, buf, sizeof buf - 1, 0);
	cr_assert(n >= 0);
	buf[n] = '\0';
	return buf;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
p_start(struct fo_primary *p, const struct fo_primary_ops *ops,
    uint32_t reconnect_ms, uint32_t limit, uint64_t now)
{
	struct fo_primary_cfg cfg = {
		.reconnect_ms = reconnect_ms, .reconnect_limit = limit,
		.fence_backup = ops->fence_backup != NULL,
	};

	rec[0] = '\0';
	fo_primary_init(p, &cfg, ops, NULL);
	cr_assert(eq(str, (char *)took(), ""));
	fo_primary_connected(p, now, &TIMING);
	cr_assert(eq(int, p->state, FOP_PROTECTED));
	cr_assert(eq(str, (char *)took(), "arm:11000 "));
}

Test(failover, margin_is_max_of_500_and_a_fiftieth, .timeout = 5)
{
	struct fo_timing t = { .timeout_ms = 1000, .fence_ms = 10000 };

	cr_assert(eq(u64, fo_margin_ms(&t), 500));
	t.fence_ms = 60000;
	cr_assert(eq(u64, fo_margin_ms(&t), 1220));
	t.fence_ms = 0;
	cr_assert(eq(u64, fo_margin_ms(&t), 500));
}

Test(failover, primary_silence_holds_then_releases_at_t_f_m, .timeout = 5)
{
	struct fo_primary p;
	const char *log;

	capture_start();
	p_start(&p, &pops, 5000, 0, 10000);
	fo_primary_sent(&p, 1);
	fo_primary_acked(&p, 1);
	fo_primary_tick(&p, 10999);		/* early: re-arm only */
	cr_assert(eq(str, (char *)took(), "arm:11000 "));
	fo_primary_tick(&p, 11000);		/* X = 11000 */
	cr_assert(eq(str, (char *)took(), "abort arm:22500 "));
	cr_assert(eq(int, p.state, FOP_HOLDING));
	cr_assert(eq(u64, p.lost_ms, 11000));
	cr_assert(eq(u64, p.release_ms, 22500));
	fo_primary_lost(&p, 11001, "EOF");	/* a second loss: nothing */
	cr_assert(eq(str, (char *)took(), ""));
	fo_primary_tick(&p, 22499);		/* 1 ms early: still held */
	cr_assert(eq(str, (char *)took(), "arm:22500 "));
	cr_assert(eq(int, p.state, FOP_HOLDING));
	fo_primary_tick(&p, 22500);
	cr_assert(eq(str, (char *)took(), "release arm:27500 "));
	cr_assert(eq(int, p.state, FOP_UNPROTECTED));
	fo_primary_tick(&p, 22500);		/* a repeated tick: nothing */
	cr_assert(eq(str, (char *)took(), "arm:27500 "));

	log = captured();
	cr_assert(strstr(log, "failover: PROTECTED -> HOLDING: silence for "
	    "1000 ms; output held until 11500 ms from now (T+F+M") != NULL,
	    "%s", log);
	cr_assert(eq(int, count(log, " -> "), 3), "%s", log);
	cr_assert(eq(int, count(log, "HOLDING -> UNPROTECTED"), 1), "%s", log);
}

Test(failover, primary_error_releases_at_once, .timeout = 5)
{
	struct fo_primary p;

	p_start(&p, &pops, 5000, 0, 10000);
	fo_primary_acked(&p, 7);
	fo_primary_stood_down(&p, 10500, "ENOSPC on the backup");
	cr_assert(eq(str, (char *)took(), "abort release arm:15500 "));
	cr_assert(eq(int, p.state, FOP_UNPROTECTED));
	fo_primary_lost(&p, 10501, "EOF");	/* the close after ERROR */
	fo_primary_stood_down(&p, 10501, "again");
	cr_assert(eq(str, (char *)took(), ""));

	/* ERROR read after the link was already lost: B6 makes it safe. */
	p_start(&p, &pops, 5000, 0, 10000);
	fo_primary_acked(&p, 7);
	fo_primary_lost(&p, 10200, "reset");
	cr_assert(eq(str, (char *)took(), "abort arm:21700 "));
	fo_primary_stood_down(&p, 10300, "ENOSPC");
	cr_assert(eq(str, (char *)took(), "release arm:15300 "));
}

Test(failover, primary_nothing_sent_or_acked_releases_at_once, .timeout = 5)
{
	struct fo_primary p;

	p_start(&p, &pops, 5000, 0, 10000);
	fo_primary_lost(&p, 10200, "EOF");
	cr_assert(eq(str, (char *)took(), "abort release arm:15200 "));
	cr_assert(eq(int, p.state, FOP_UNPROTECTED));

	/* Epoch 1 left whole but its ACK did not come back: the backup may
	 * have committed it, so hold. */
	p_start(&p, &pops, 5000, 0, 10000);
	fo_primary_sent(&p, 1);
	fo_primary_lost(&p, 10200, "EOF");
	cr_assert(eq(str, (char *)took(), "abort arm:21700 "));
	cr_assert(eq(int, p.state, FOP_HOLDING));
}

Test(failover, primary_guest_failure_drops_and_never_releases, .timeout = 5)
{
	struct fo_primary p;

	p_start(&p, &pops, 5000, 0, 10000);
	fo_primary_acked(&p, 2);
	fo_primary_guest_failed(&p, 10100, "suspend failed");
	/* P5: dropped before the link is told (the backup fences at once). */
	cr_assert(eq(str, (char *)took(), "discard abort arm:0 "));
	cr_assert(eq(int, p.state, FOP_GUEST_FAILED));
	fo_primary_stood_down(&p, 10200, "ENOSPC");
	fo_primary_lost(&p, 10200, "EOF");
	fo_primary_fence_done(&p, 10300, 1);
	fo_primary_tick(&p, 100000);
	fo_primary_connected(&p, 100001, &TIMING);
	fo_primary_stop(&p, 100002);
	fo_primary_guest_failed(&p, 100003, "again");
	cr_assert(eq(str, (char *)took(), ""));
	cr_assert(eq(int, p.state, FOP_GUEST_FAILED));

	/* In HOLDING the link is already gone: drop, no second abort. */
	p_start(&p, &pops, 5000, 0, 10000);
	fo_primary_acked(&p, 2);
	fo_primary_lost(&p, 10000, "reset");
	cr_assert(eq(str, (char *)took(), "abort arm:21500 "));
	fo_primary_guest_failed(&p, 12000, "guest died");
	cr_assert(eq(str, (char *)took(), "discard arm:0 "));
	fo_primary_tick(&p, 21500);
	fo_primary_stood_down(&p, 21501, "ERROR");
	cr_assert(eq(str, (char *)took(), ""));
}

Test(failover, primary_fence_backup_success_releases_early, .timeout = 5)
{
	struct fo_primary p;

	p_start(&p, &pops_fence, 5000, 0, 10000);
	fo_primary_acked(&p, 3);
	fo_primary_lost(&p, 10500, "silence");
	cr_assert(eq(str, (char *)took(), "abort arm:22000 fence_backup "));
	fo_primary_fence_done(&p, 11000, 0);	/* failed: keep holding */
	cr_assert(eq(str, (char *)took(), ""));
	cr_assert(eq(int, p.state, FOP_HOLDING));
	fo_primary_fence_done(&p, 12000, 1);
	cr_assert(eq(str, (char *)took(), "release arm:17000 "));
	cr_assert(eq(int, p.state, FOP_UNPROTECTED));
	fo_primary_fence_done(&p, 12001, 1);	/* late duplicate */
	cr_assert(eq(str, (char *)took(), ""));
}

Test(failover, primary_reconnect_schedule_and_limit, .timeout = 5)
{
	struct fo_primary p;

	p_start(&p, &pops, 5000, 2, 10000);
	fo_primary_stood_down(&p, 10000, "ERROR");
	cr_assert(eq(str, (char *)took(), "abort release arm:15000 "));
	fo_primary_tick(&p, 14999);
	cr_assert(eq(str, (char *)took(), "arm:15000 "));
	fo_primary_tick(&p, 15000);
	cr_assert(eq(str, (char *)took(), "reconnect "));
	cr_assert(eq(u32, p.attempts, 1));
	fo_primary_tick(&p, 15001);		/* attempt under way */
	cr_assert(eq(str, (char *)took(), ""));
	fo_primary_connect_failed(&p, 15100, "refused");
	cr_assert(eq(str, (char *)took(), "arm:20100 "));
	fo_primary_connect_failed(&p, 15100, "duplicate");
	cr_assert(eq(str, (char *)took(), ""));
	fo_primary_tick(&p, 20100);
	cr_assert(eq(str, (char *)took(), "reconnect "));
	fo_primary_connect_failed(&p, 20200, "refused");
	cr_assert(eq(str, (char *)took(), "arm:0 "));
	cr_assert(eq(int, p.state, FOP_STOPPED));
	fo_primary_tick(&p, 30000);
	fo_primary_connected(&p, 30000, &TIMING);
	cr_assert(eq(str, (char *)took(), ""));

	/* A backup answers on the second attempt: protected again, the
	 * count starts over, the silence deadline runs from now. */
	p_start(&p, &pops, 5000, 3, 10000);
	fo_primary_stood_down(&p, 10000, "ERROR");
	fo_primary_tick(&p, 15000);
	fo_primary_connect_failed(&p, 15100, "refused");
	fo_primary_tick(&p, 20100);
	cr_assert(eq(str, (char *)took(),
	    "abort release arm:15000 reconnect arm:20100 reconnect "));
	fo_primary_connected(&p, 20300, &TIMING);
	cr_assert(eq(str, (char *)took(), "arm:21300 "));
	cr_assert(eq(int, p.state, FOP_PROTECTED));
	cr_assert(eq(u32, p.attempts, 0));
	cr_assert(eq(u64, p.acked, 0));

	/* reconnect_ms 0: released, never reconnects. */
	p_start(&p, &pops, 0, 0, 10000);
	fo_primary_stood_down(&p, 10000, "ERROR");
	cr_assert(eq(str, (char *)took(), "abort release arm:0 "));
	fo_primary_tick(&p, 99999);
	cr_assert(eq(str, (char *)took(), ""));
	cr_assert(eq(int, p.state, FOP_UNPROTECTED));
}

Test(failover, primary_heard_postpones_silence, .timeout = 5)
{
	struct fo_primary p;

	p_start(&p, &pops, 5000, 0, 10000);
	fo_primary_acked(&p, 1);
	fo_primary_heard(&p, 10600);
	fo_primary_heard(&p, 10500);		/* older: ignored */
	fo_primary_tick(&p, 11000);
	cr_assert(eq(str, (char *)took(), "arm:11600 "));
	cr_assert(eq(int, p.state, FOP_PROTECTED));
	fo_primary_tick(&p, 11599);
	cr_assert(eq(str, (char *)took(), "arm:11600 "));
	fo_primary_tick(&p, 11600);
	cr_assert(eq(str, (char *)took(), "abort arm:23100 "));
	cr_assert(eq(u64, p.lost_ms, 11600));
}

Test(failover, primary_stray_connection_logs_one_line, .timeout = 5)
{
	struct fo_primary p;
	struct fo_primary_cfg cfg = { .reconnect_ms = 5000 };
	const char *log;

	capture_start();
	fo_primary_init(&p, &cfg, &pops, NULL);
	rec[0] = '\0';
	/* The first link opens, never handshakes, and dies: the owner
	 * reports it twice. */
	fo_primary_lost(&p, 10000, "EOF before WELCOME");
	fo_primary_connect_failed(&p, 10000, "handshake failed");
	cr_assert(eq(str, (char *)took(), "abort release arm:15000 "));
	cr_assert(eq(int, p.state, FOP_UNPROTECTED));
	/* A reconnect attempt does the same. */
	fo_primary_tick(&p, 15000);
	fo_primary_lost(&p, 15100, "EOF before WELCOME");
	fo_primary_connect_failed(&p, 15100, "handshake failed");
	fo_primary_stood_down(&p, 15100, "late ERROR");
	cr_assert(eq(str, (char *)took(), "reconnect abort arm:20100 "));
	log = captured();
	cr_assert(eq(int, count(log, " -> "), 1), "%s", log);
	cr_assert(eq(int, count(log, "CONNECTING -> UNPROTECTED"), 1), "%s",
	    log);
	cr_assert(eq(int, count(log, "reconnect attempt 1 failed"), 1), "%s",
	    log);
}

Test(failover, primary_stop_is_final, .timeout = 5)
{
	struct fo_primary p;

	p_start(&p, &pops, 5000, 0, 10000);
	fo_primary_acked(&p, 1);
	fo_primary_lost(&p, 10000, "EOF");
	cr_assert(eq(str, (char *)took(), "abort arm:21500 "));
	fo_primary_stop(&p, 10100);
	cr_assert(eq(str, (char *)took(), "arm:0 "));
	cr_assert(eq(int, p.state, FOP_STOPPED));
	fo_primary_tick(&p, 21500);
	fo_primary_stood_down(&p, 21500, "ERROR");
	fo_primary_guest_failed(&p, 21500, "died");
	cr_assert(eq(str, (char *)took(), ""));
}

/* Backup. */

static void
b_start(struct fo_backup *b, int no_fence, uint64_t heard, uint64_t epoch)
{
	struct fo_backup_cfg cfg = { .no_fence = no_fence,
	    .fence_retry_ms = 1000 };
	struct fo_timing t = TIMING;

	if (no_fence)
		t.fence_ms = 0;
	rec[0] = '\0';
	activate_rc = 0;
	fo_backup_init(b, &cfg, &t, &bops, NULL);
	cr_assert(eq(str, (char *)took(), ""));
	fo_backup_heard(b, heard);
	cr_assert(eq(u64, b->last_rx_ms, heard));
	rec[0] = '\0';
	if (epoch)
		fo_backup_committed(b, epoch);
}

Test(failover, backup_lost_with_nothing_committed, .timeout = 5)
{
	struct fo_backup b;

	b_start(&b, 0, 10000, 0);
	fo_backup_lost(&b, 10500, "EOF");
	cr_assert(eq(str, (char *)took(), "discard arm:0 "));
	cr_assert(eq(int, b.state, FOB_NOTHING));
	cr_assert(fo_backup_final(&b));
	fo_backup_fence_done(&b, 10600, 1);
	fo_backup_tick(&b, 30000);
	cr_assert(eq(str, (char *)took(), ""));
}

Test(failover, backup_fence_ok_inside_window_activates, .timeout = 5)
{
	struct fo_backup b;

	capture_start();
	b_start(&b, 0, 10000, 4);
	fo_backup_heard(&b, 10400);
	fo_backup_tick(&b, 11000);		/* silence moved: re-arm */
	cr_assert(eq(str, (char *)took(), "arm:11400 "));
	fo_backup_tick(&b, 11400);
	cr_assert(eq(str, (char *)took(), "discard arm:21400 fence:1 "));
	cr_assert(eq(int, b.state, FOB_FENCING));
	cr_assert(eq(u64, b.window_end_ms, 21400));
	fo_backup_heard(&b, 11500);		/* bytes after the loss: no */
	fo_backup_lost(&b, 11500, "reset");	/* a second loss: nothing */
	cr_assert(eq(str, (char *)took(), ""));
	cr_assert(eq(u64, b.last_rx_ms, 10400));
	fo_backup_fence_done(&b, 21400, 1);	/* the window's last ms */
	cr_assert(eq(str, (char *)took(), "activate arm:0 "));
	cr_assert(eq(int, b.state, FOB_ACTIVATED));
	cr_assert(eq(int, count(captured(), " -> "), 3), "%s", captured());
}

Test(failover, backup_activation_failure_is_final, .timeout = 5)
{
	struct fo_backup b;

	b_start(&b, 0, 10000, 1);
	activate_rc = -1;
	fo_backup_lost(&b, 10100, "EOF");
	fo_backup_fence_done(&b, 10200, 1);
	cr_assert(eq(str, (char *)took(),
	    "discard arm:21000 fence:1 activate arm:0 "));
	cr_assert(eq(int, b.state, FOB_FAILED));
}

Test(failover, backup_fence_ok_after_window_stays_passive, .timeout = 5)
{
	struct fo_backup b;
	const char *log;

	capture_start();
	b_start(&b, 0, 10000, 9);
	fo_backup_lost(&b, 10500, "reset");
	cr_assert(eq(str, (char *)took(), "discard arm:21000 fence:1 "));
	fo_backup_tick(&b, 21000);		/* fence still runs: wait */
	cr_assert(eq(str, (char *)took(), ""));
	cr_assert(eq(int, b.state, FOB_FENCING));
	fo_backup_fence_done(&b, 21001, 1);
	cr_assert(eq(str, (char *)took(), "arm:0 "));
	cr_assert(eq(int, b.state, FOB_PASSIVE));
	log = captured();
	cr_assert(strstr(log, "fenced at +11001 ms, after the window closed "
	    "at +11000 ms: not activating; replica kept at epoch 9") != NULL,
	    "%s", log);
}

Test(failover, backup_fence_fails_retries_then_succeeds, .timeout = 5)
{
	struct fo_backup b;

	b_start(&b, 0, 10000, 2);
	fo_backup_lost(&b, 10500, "reset");
	cr_assert(eq(str, (char *)took(), "discard arm:21000 fence:1 "));
	fo_backup_fence_done(&b, 12000, 0);
	cr_assert(eq(str, (char *)took(), "arm:13000 "));
	cr_assert(eq(int, b.state, FOB_FENCING));
	fo_backup_tick(&b, 13000);
	cr_assert(eq(str, (char *)took(), "arm:21000 fence:2 "));
	fo_backup_fence_done(&b, 13500, 1);
	cr_assert(eq(str, (char *)took(), "activate arm:0 "));
	cr_assert(eq(int, b.state, FOB_ACTIVATED));
	cr_assert(eq(u32, b.attempts, 2));
}

Test(failover, backup_fence_keeps_failing_until_window_end, .timeout = 5)
{
	struct fo_backup b;
	uint64_t now = 10500;
	unsigned n = 0;

	/* Each attempt fails after 100 ms; retries 1 s later while the
	 * retry starts before the window end (21000): attempts start at
	 * 10500 + 1100 k, the last at 20400. */
	b_start(&b, 0, 10000, 2);
	fo_backup_lost(&b, now, "silence");
	while (b.state == FOB_FENCING && n++ < 100) {
		now += 100;
		fo_backup_fence_done(&b, now, 0);
		if (b.state != FOB_FENCING)
			break;
		now += 1000;
		fo_backup_tick(&b, now);
	}
	cr_assert(eq(int, b.state, FOB_PASSIVE));
	cr_assert(eq(u32, b.attempts, 10));
	cr_assert(eq(u64, now, 20500));
	cr_assert(strstr(took(), "activate") == NULL);

	/* A tick that comes late, at the window end, with no fence
	 * running: passive, no further attempt. */
	b_start(&b, 0, 10000, 2);
	fo_backup_lost(&b, 10500, "silence");
	fo_backup_fence_done(&b, 19500, 0);
	cr_assert(eq(str, (char *)took(), "discard arm:21000 fence:1 "
	    "arm:20500 "));
	fo_backup_tick(&b, 21000);
	cr_assert(eq(str, (char *)took(), "arm:0 "));
	cr_assert(eq(int, b.state, FOB_PASSIVE));
}

Test(failover, backup_no_fence_activates_inside_window, .timeout = 5)
{
	struct fo_backup b;

	capture_start();
	b_start(&b, 1, 10000, 3);
	fo_backup_lost(&b, 11000, "silence");	/* window: 10000 + T + 0 */
	cr_assert(eq(str, (char *)took(), "discard activate arm:0 "));
	cr_assert(eq(int, b.state, FOB_ACTIVATED));
	cr_assert(strstr(captured(), "--no-fence: no fence ran") != NULL);
	cr_assert(strstr(captured(), "RECEIVING -> ACTIVATING") != NULL);

	/* Noticed after its window (a stalled remusd): passive. */
	b_start(&b, 1, 10000, 3);
	fo_backup_lost(&b, 11001, "reset");
	cr_assert(eq(str, (char *)took(), "discard arm:0 "));
	cr_assert(eq(int, b.state, FOB_PASSIVE));
}

Test(failover, backup_stalled_past_window_does_not_fence, .timeout = 5)
{
	struct fo_backup b;

	b_start(&b, 0, 10000, 5);
	fo_backup_lost(&b, 21001, "reset");
	cr_assert(eq(str, (char *)took(), "discard arm:0 "));
	cr_assert(eq(int, b.state, FOB_PASSIVE));
}

Test(failover, backup_local_error_stands_down_never_activates, .timeout = 5)
{
	struct fo_backup b;

	b_start(&b, 0, 10000, 3);
	fo_backup_local_error(&b, 10500, 28, "commit of epoch 4: ENOSPC");
	cr_assert(eq(str, (char *)took(), "discard stand_down:28 arm:0 "));
	cr_assert(eq(int, b.state, FOB_STOOD_DOWN));
	fo_backup_lost(&b, 10600, "EOF");
	fo_backup_tick(&b, 30000);
	fo_backup_fence_done(&b, 30000, 1);
	fo_backup_local_error(&b, 30001, 5, "again");
	cr_assert(eq(str, (char *)took(), ""));
	cr_assert(eq(int, b.state, FOB_STOOD_DOWN));
}

Test(failover, backup_end_then_lost_does_not_activate, .timeout = 5)
{
	struct fo_backup b;

	b_start(&b, 0, 10000, 3);
	fo_backup_end(&b, 10500);
	cr_assert(eq(str, (char *)took(), "arm:0 "));
	cr_assert(eq(int, b.state, FOB_ENDED));
	fo_backup_lost(&b, 10600, "EOF");
	fo_backup_tick(&b, 30000);
	cr_assert(eq(str, (char *)took(), ""));
	cr_assert(eq(int, b.state, FOB_ENDED));
}

/*
 * Two-sided timelines.  One fake clock; each side wakes only when it has
 * something due (a tick it asked for, its heartbeat, an arrival), as an
 * event loop does, and reports last_rx as the time of its previous wake
 * (docs/failover.md, "stalls").  Each direction delivers after a fixed
 * transit; a cut direction loses what is sent from the cut on (what was in
 * flight still arrives: the worse case).  A side's close (the primary's
 * abortive close at X, the backup's close on loss) reaches the peer as a
 * loss unless the direction is cut.  A stalled side does nothing until the
 * stall ends.  A successful fence kills the primary when the command ends
 * (the latest moment it can have killed it): no event after that.
 * Checked: never (backup activated at t_a, primary released at t_r <= t_a).
 */
#define SIM_H		50		/* heartbeat period of both sides */
#define SIM_QMAX	512

struct sim_cfg {
	uint32_t	T, F;
	int		no_fence;
	uint64_t	cut;		/* partition start */
	int		kind;		/* bit 0: p->b cut, bit 1: b->p cut */
	uint64_t	d_pb, d_bp;	/* transit */
	int		stall_side;	/* 0 none, 1 primary, 2 backup */
	uint64_t	stall_len;	/* from CUT */
	unsigned	fence_ok_at;	/* attempt that succeeds, 0: none */
	uint64_t	fence_dur;
};

struct chan {
	uint64_t	sent[SIM_QMAX], epoch[SIM_QMAX];
	unsigned	head, tail;
	uint64_t	d;
	int		cut;		/* this direction is cut at cfg.cut */
	uint64_t	close_at;	/* arrival of the close, 0: none */
};

struct sim {
	struct sim_cfg	c;
	uint64_t	now;
	struct fo_primary p;
	struct fo_backup b;
	uint64_t	p_arm, b_arm, p_prev, b_prev, p_hb, b_hb;
	uint64_t	p_seq, p_epoch;
	struct chan	pb, bp;
	int		b_closed;
	int		fence_running;
	unsigned	fence_attempt;
	uint64_t	fence_done_at;
	uint64_t	dead_at, t_act, t_rel;
};

static void
chan_send(struct sim *s, struct chan *ch, uint64_t epoch)
{
	if (ch->cut && s->now >= s->c.cut)
		return;
	cr_assert(ch->tail - ch->head < SIM_QMAX);
	ch->sent[ch->tail % SIM_QMAX] = s->now;
	ch->epoch[ch->tail % SIM_QMAX] = epoch;
	ch->tail++;
}

static void
chan_close(struct sim *s, struct chan *ch)
{
	if (ch->cut && s->now >= s->c.cut)
		return;
	ch->close_at = s->now + ch->d;
}

static uint64_t
chan_due(const struct chan *ch)
{
	uint64_t due = UINT64_MAX;

	if (ch->head != ch->tail)
		due = ch->sent[ch->head % SIM_QMAX] + ch->d;
	if (ch->close_at && ch->close_at < due)
		due = ch->close_at;
	return due;
}

static void
s_abort(void *arg)
{
	struct sim *s = arg;

	chan_close(s, &s->pb);
}

static void
s_release(void *arg)
{
	struct sim *s = arg;

	if (!s->t_rel)
		s->t_rel = s->now;
}

static void
s_discard_all(void *arg)
{
	(void)arg;
}

static void
s_reconnect(void *arg)
{
	cr_fail("no reconnects");
}

static void
s_parm(void *arg, uint64_t at)
{
	((struct sim *)arg)->p_arm = at;
}

static const struct fo_primary_ops sim_pops = {
	.abort_link = s_abort, .release_all = s_release,
	.discard_all = s_discard_all, .reconnect = s_reconnect,
	.arm = s_parm,
};

static void
s_discard_open(void *arg)
{
	(void)arg;
}

static void
s_stand_down(void *arg, int code, const char *why)
{
	cr_fail("no local errors here");
}

static void
s_fence(void *arg, unsigned attempt)
{
	struct sim *s = arg;

	cr_assert(s->fence_running == 0);
	s->fence_running = 1;
	s->fence_attempt = attempt;
	s->fence_done_at = s->now + s->c.fence_dur;
}

static int
s_activate(void *arg)
{
	struct sim *s = arg;

	s->t_act = s->now;
	return 0;
}

static void
s_barm(void *arg, uint64_t at)
{
	((struct sim *)arg)->b_arm = at;
}

static const struct fo_backup_ops sim_bops = {
	.discard_open = s_discard_open, .stand_down = s_stand_down,
	.fence = s_fence, .activate = s_activate, .arm = s_barm,
};

static int
sim_fence_ok(const struct sim *s)
{
	return s->c.fence_ok_at && s->fence_attempt >= s->c.fence_ok_at;
}

static int
stalled(const struct sim *s, int side, uint64_t t)
{
	return s->c.stall_side == side && t >= s->c.cut &&
	    t < s->c.cut + s->c.stall_len;
}

static uint64_t
min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t
p_due(const struct sim *s)
{
	uint64_t due = UINT64_MAX;

	if (s->dead_at)
		return UINT64_MAX;
	if (s->p_arm)
		due = s->p_arm;
	if (s->p.state == FOP_PROTECTED) {
		due = min64(due, s->p_hb);
		due = min64(due, chan_due(&s->bp));
	}
	return due;
}

static uint64_t
b_due(const struct sim *s)
{
	uint64_t due = UINT64_MAX;

	if (s->b_arm)
		due = s->b_arm;
	if (s->fence_running)
		due = min64(due, s->fence_done_at);
	if (s->b.state == FOB_RECEIVING) {
		due = min64(due, s->b_hb);
		due = min64(due, chan_due(&s->pb));
	}
	return due;
}

static void
p_wake(struct sim *s)
{
	struct chan *ch = &s->bp;
	uint64_t t = s->now, ack = 0;
	int any = 0;

	if (s->p.state == FOP_PROTECTED) {
		while (ch->head != ch->tail &&
		    ch->sent[ch->head % SIM_QMAX] + ch->d <= t) {
			if (ch->epoch[ch->head % SIM_QMAX] > ack)
				ack = ch->epoch[ch->head % SIM_QMAX];
			ch->head++;
			any = 1;
		}
		if (any)
			fo_primary_heard(&s->p, s->p_prev);
		if (ack)
			fo_primary_acked(&s->p, ack);
		if (ch->close_at && ch->close_at <= t) {
			ch->close_at = 0;
			fo_primary_lost(&s->p, t, "EOF");
		}
	}
	if (s->p_arm && s->p_arm <= t) {
		s->p_arm = 0;		/* one-shot, as an ev_timer */
		fo_primary_tick(&s->p, t);
	}
	if (s->p.state == FOP_PROTECTED && s->p_hb <= t) {
		/* Every second message carries a whole epoch. */
		if (++s->p_seq % 2 == 0) {
			s->p_epoch++;
			chan_send(s, &s->pb, s->p_epoch);
			fo_primary_sent(&s->p, s->p_epoch);
		} else
			chan_send(s, &s->pb, 0);
		while (s->p_hb <= t)
			s->p_hb += SIM_H;
	}
	s->p_prev = t;
}

static void
b_wake(struct sim *s)
{
	struct chan *ch = &s->pb;
	uint64_t t = s->now, epoch = 0;
	int any = 0;

	if (s->fence_running && s->fence_done_at <= t) {
		s->fence_running = 0;
		fo_backup_fence_done(&s->b, t, sim_fence_ok(s));
	}
	if (s->b.state == FOB_RECEIVING) {
		while (ch->head != ch->tail &&
		    ch->sent[ch->head % SIM_QMAX] + ch->d <= t) {
			uint64_t e = ch->epoch[ch->head % SIM_QMAX];

			if (e > epoch)
				epoch = e;
			if (e)
				chan_send(s, &s->bp, e);	/* ACK */
			ch->head++;
			any = 1;
		}
		if (any)
			fo_backup_heard(&s->b, s->b_prev);
		if (epoch)
			fo_backup_committed(&s->b, epoch);
		if (ch->close_at && ch->close_at <= t) {
			ch->close_at = 0;
			fo_backup_lost(&s->b, t, "reset");
		}
	}
	if (s->b_arm && s->b_arm <= t) {
		s->b_arm = 0;
		fo_backup_tick(&s->b, t);
	}
	if (s->b.state == FOB_RECEIVING && s->b_hb <= t) {
		chan_send(s, &s->bp, 0);
		while (s->b_hb <= t)
			s->b_hb += SIM_H;
	}
	if (s->b.state != FOB_RECEIVING && !s->b_closed) {
		s->b_closed = 1;
		chan_close(s, &s->bp);
	}
	s->b_prev = t;
}

struct sim_stats {
	unsigned	timelines, activated, released, passive, fenced_dead;
	int64_t		min_slack;	/* t_r - window end, over all */
};

/* Run one timeline; 0 if the invariant held. */
static int
sim_run(const struct sim_cfg *c, struct sim_stats *st)
{
	static struct sim s;
	struct fo_primary_cfg pcfg = { .reconnect_ms = 0 };
	struct fo_backup_cfg bcfg = { .no_fence = c->no_fence,
	    .fence_retry_ms = 1000 };
	struct fo_timing tm = { .timeout_ms = c->T, .hb_ms = SIM_H,
	    .fence_ms = c->no_fence ? 0 : c->F };
	uint64_t t0 = 1000, end;

	memset(&s, 0, sizeof s);
	s.c = *c;
	s.pb.d = c->d_pb;
	s.pb.cut = c->kind & 1;
	s.bp.d = c->d_bp;
	s.bp.cut = (c->kind & 2) != 0;
	fo_primary_init(&s.p, &pcfg, &sim_pops, &s);
	fo_backup_init(&s.b, &bcfg, &tm, &sim_bops, &s);
	s.now = t0;
	fo_primary_connected(&s.p, t0, &tm);
	fo_backup_heard(&s.b, t0);
	s.p_prev = s.b_prev = t0;
	s.p_hb = s.b_hb = t0 + SIM_H;
	end = c->cut + c->stall_len + 4 * ((uint64_t)c->T + c->F + 1000) +
	    10 * (c->fence_dur + 1000);

	while (s.now <= end) {
		uint64_t t = s.now, next, np, nb;

		if (s.fence_running && s.fence_done_at <= t && sim_fence_ok(&s)
		    && !s.dead_at)
			s.dead_at = s.fence_done_at;
		if (!s.dead_at && p_due(&s) <= t && !stalled(&s, 1, t))
			p_wake(&s);
		if (b_due(&s) <= t && !stalled(&s, 2, t))
			b_wake(&s);
		if (fo_backup_final(&s.b) && (s.dead_at ||
		    (s.p.state != FOP_PROTECTED && s.p.state != FOP_HOLDING)))
			break;

		/* A stalled side's events wait for the end of the stall; the
		 * fence command runs on regardless (it kills at its end). */
		np = p_due(&s);
		if (stalled(&s, 1, np))
			np = c->cut + c->stall_len;
		nb = b_due(&s);
		if (stalled(&s, 2, nb))
			nb = c->cut + c->stall_len;
		next = min64(np, nb);
		if (s.fence_running && s.fence_done_at > t)
			next = min64(next, s.fence_done_at);
		s.now = next > t ? next : t + 1;
	}

	st->timelines++;
	if (s.t_act)
		st->activated++;
	if (s.t_rel)
		st->released++;
	if (s.b.state == FOB_PASSIVE)
		st->passive++;
	if (s.dead_at && !s.t_rel)
		st->fenced_dead++;
	if (s.t_rel && s.b.window_end_ms) {
		int64_t slack = (int64_t)s.t_rel - (int64_t)s.b.window_end_ms;

		if (slack < st->min_slack)
			st->min_slack = slack;
	}
	if (s.t_act && s.t_rel && s.t_rel <= s.t_act) {
		cr_log_error("violation: T %u F %u no_fence %d cut %" PRIu64
		    " kind %d d_pb %" PRIu64 " d_bp %" PRIu64 " stall %d/%"
		    PRIu64 " fence ok at %u dur %" PRIu64 ": released at %"
		    PRIu64 ", activated at %" PRIu64 " (window end %" PRIu64
		    ", X %" PRIu64 ")", c->T, c->F, c->no_fence, c->cut,
		    c->kind, c->d_pb, c->d_bp, c->stall_side, c->stall_len,
		    c->fence_ok_at, c->fence_dur, s.t_rel, s.t_act,
		    s.b.window_end_ms, s.p.lost_ms);
		return -1;
	}
	return 0;
}

Test(failover, two_sided_timelines_keep_the_window_invariant, .timeout = 5)
{
	static const uint32_t Ts[] = { 200, 1000 };
	static const uint32_t Fs[] = { 0, 1000, 10000 };
	static const uint64_t cuts[] = { 30, 120, 160, 260, 520, 2000 };
	static const int stall_sides[] = { 0, 1, 2 };
	static const unsigned oks[] = { 1, 2, 0 };
	struct sim_stats st = { .min_slack = INT64_MAX };
	unsigned bad = 0;

	/* Tens of thousands of timelines log ~4 lines each: drop them. */
	capture_start();

	for (unsigned ti = 0; ti < ARRAY_SIZE(Ts); ti++)
	for (unsigned fi = 0; fi < ARRAY_SIZE(Fs); fi++) {
		/* M as docs/failover.md defines it, not as the code does:
		 * shortening the code's M must fail here. */
		uint64_t m_doc = (Ts[ti] + Fs[fi]) / 50 > 500 ?
		    (Ts[ti] + Fs[fi]) / 50 : 500;
		const uint64_t dpbs[] = { 0, m_doc / 4, m_doc / 2 - 1 };
		const uint64_t dbps[] = { 0, m_doc / 2 - 1 };
		const uint64_t stalls[] = { 2 * (uint64_t)Ts[ti],
		    Ts[ti] + Fs[fi] + m_doc };
		const uint64_t durs[] = { 1, Fs[fi] / 2, Fs[fi] };

		for (unsigned ci = 0; ci < ARRAY_SIZE(cuts); ci++)
		for (int kind = 0; kind < 4; kind++)
		for (unsigned a = 0; a < ARRAY_SIZE(dpbs); a++)
		for (unsigned bb = 0; bb < ARRAY_SIZE(dbps); bb++)
		for (unsigned si = 0; si < ARRAY_SIZE(stall_sides); si++)
		for (unsigned sl = 0; sl < ARRAY_SIZE(stalls); sl++)
		for (unsigned oi = 0; oi < ARRAY_SIZE(oks); oi++)
		for (unsigned di = 0; di < ARRAY_SIZE(durs); di++) {
			struct sim_cfg c = {
				.T = Ts[ti], .F = Fs[fi], .no_fence = Fs[fi] == 0,
				.cut = 1000 + cuts[ci], .kind = kind,
				.d_pb = dpbs[a], .d_bp = dbps[bb],
				.stall_side = stall_sides[si],
				.stall_len = stalls[sl],
				.fence_ok_at = oks[oi], .fence_dur = durs[di],
			};

			if (kind == 0 && c.stall_side == 0)
				continue;	/* nothing happens */
			if (c.stall_side == 0 && sl > 0)
				continue;
			if (c.no_fence && (oi > 0 || di > 0))
				continue;
			if (sim_run(&c, &st) != 0 && ++bad >= 5)
				goto out;
		}
	}
out:
	cr_log_info("failover: %u two-sided timelines checked: %u activated, "
	    "%u released, %u passive, %u primaries fenced before release; "
	    "smallest release - window end: %" PRId64 " ms", st.timelines,
	    st.activated, st.released, st.passive, st.fenced_dead,
	    st.min_slack);
	cr_assert(eq(u32, bad, 0), "%u timelines broke the invariant", bad);
	/* Not vacuous: each outcome happened. */
	cr_assert(st.activated > 100 && st.released > 100 &&
	    st.passive > 100 && st.fenced_dead > 100);
}
