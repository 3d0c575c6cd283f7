/* tests/unit/test-peer.c -- the replication link (checkpoint/peer.c) over
 * a socketpair (a TCP loopback pair where a reset is the point).
 *
 * The peer under test is the primary's end (it reads the back channel)
 * unless said otherwise; the test plays the other end by writing records
 * into the pair itself, or from a child process when the other end must
 * keep talking while this process is busy.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <ev.h>

#include "compiler.h"
#include "log.h"
#include "peer.h"
#include "stream.h"
#include "util.h"

#define MAX_RECS	64

struct harness {
	struct ev_loop	*loop;
	struct peer	*p;
	int		 other;		/* the test's end */
	ev_timer	 deadline;
	uint32_t	 types[MAX_RECS];
	uint64_t	 values[MAX_RECS];
	int		 nrecs;
	int		 lost;
	enum peer_loss	 kind;
	char		 why[256];
	uint64_t	 lost_at;	/* ms */
	pid_t		 child;
	int		 pause_at;	/* peer_pause after this many records */
	int		 nrecs_lost;	/* records delivered when lost came */
};

static struct harness H;

static int
on_record(struct peer *p, const struct stream_rec *rec,
    void *arg __unused)
{
	if (H.nrecs < MAX_RECS) {
		H.types[H.nrecs] = rec->type;
		H.values[H.nrecs] = rec->u.ctl.value;
		H.nrecs++;
	}
	if (H.pause_at && H.nrecs == H.pause_at)
		peer_pause(p);
	return 0;
}

static void
on_lost(struct peer *p __unused, enum peer_loss kind, const char *why,
    void *arg __unused)
{
	H.lost++;
	H.nrecs_lost = H.nrecs;
	H.kind = kind;
	H.lost_at = peer_now_ms();
	snprintf(H.why, sizeof H.why, "%s", why);
	ev_break(H.loop, EVBREAK_ALL);
}

static const struct peer_callbacks cbs = {
	.record = on_record,
	.lost = on_lost,
};

static void
deadline_cb(struct ev_loop *l, ev_timer *w __unused, int r __unused)
{
	ev_break(l, EVBREAK_ALL);
}

static void
run_for(double secs)
{
	ev_timer_init(&H.deadline, deadline_cb, secs, 0.);
	ev_timer_start(H.loop, &H.deadline);
	ev_run(H.loop, 0);
	ev_timer_stop(H.loop, &H.deadline);
}

static void
setup(void)
{
	memset(&H, 0, sizeof H);
	H.other = -1;
	H.child = -1;
	signal(SIGPIPE, SIG_IGN);
	log_init("test-peer", 1, 0);
	H.loop = ev_loop_new(EVFLAG_AUTO);
}

static void
teardown(void)
{
	if (H.child > 0) {
		kill(H.child, SIGKILL);
		waitpid(H.child, NULL, 0);
	}
	peer_free(H.p);
	if (H.other >= 0)
		close(H.other);
	ev_loop_destroy(H.loop);
}

TestSuite(peer, .init = setup, .fini = teardown, .timeout = 30);

/* A peer on one end of a socketpair; the test keeps the other. */
static void
start_peer(enum stream_dir rdir, uint32_t timeout_ms, uint32_t hb_ms)
{
	struct peer_config pc = {
		.rdir = rdir,
		.timeout_ms = timeout_ms,
		.hb_ms = hb_ms,
		.desc = "test",
	};
	int sv[2];

	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	H.other = sv[1];
	H.p = peer_new(H.loop, sv[0], sv[0], &pc, &cbs, NULL);
	cr_assert(H.p != NULL);
	cr_assert(peer_start(H.p) == 0);
}

/* Encode one control record of the back channel into BUF. */
static size_t
encode_ctl(uint8_t *buf, size_t cap, uint32_t type, uint64_t value)
{
	struct stream_writer w;
	size_t n;

	stream_writer_init(&w, 4096);
	cr_assert(stream_write_ctl(&w, type, value) == 0);
	n = stream_writer_ready(&w);
	cr_assert(n <= cap);
	memcpy(buf, w.buf, n);
	stream_writer_free(&w);
	return n;
}

static void
send_ctl(int fd, uint32_t type, uint64_t value)
{
	uint8_t buf[64];
	size_t n = encode_ctl(buf, sizeof buf, type, value);

	cr_assert(write_full(fd, buf, n) == 0);
}

/* Count the records of type TYPE the test's end has received so far. */
static int
count_received(int fd, enum stream_dir dir, uint32_t type)
{
	static uint8_t buf[1 << 16];
	struct stream_reader rd;
	struct stream_rec rec;
	size_t len = 0, off = 0, used;
	ssize_t n;
	int count = 0;

	fd_set_nonblock(fd, 1);
	while ((n = read(fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	stream_reader_init(&rd, dir);
	while (stream_read_record(&rd, buf + off, len - off, &used, &rec) ==
	    STREAM_OK) {
		off += used;
		count += rec.type == type;
	}
	return count;
}

/* ---- Heartbeats ----------------------------------------------------------- */

Test(peer, heartbeats_go_out_when_idle_only)
{
	int n;

	/* The backup's end: it sends BC_HEARTBEAT.  H = 50 ms, 0.5 s idle:
	 * about ten heartbeats (the loaded machine may lose a few). */
	start_peer(STREAM_DIR_FORWARD, 0, 50);
	run_for(0.5);
	n = count_received(H.other, STREAM_DIR_BACK, STREAM_REC_BC_HEARTBEAT);
	cr_assert(ge(int, n, 4), "%d heartbeats in 0.5 s at H = 50 ms", n);
	cr_assert(le(int, n, 11), "%d heartbeats in 0.5 s at H = 50 ms", n);
}

static void
busy_writer_cb(struct ev_loop *l __unused, ev_timer *w, int r __unused)
{
	struct peer *p = w->data;
	static uint64_t ack;

	/* The owner talks every 10 ms: heartbeats are not needed. */
	if (ack == 0) {
		struct stream_welcome wl = { .timeout_ms = 1000, .hb_ms = 50 };

		cr_assert(stream_write_welcome(peer_writer(p), &wl) == 0);
		cr_assert(stream_write_ctl(peer_writer(p), STREAM_REC_READY,
		    0) == 0);
	} else
		cr_assert(stream_write_ctl(peer_writer(p), STREAM_REC_ACK,
		    ack) == 0);
	ack++;
	cr_assert(peer_flush(p) == 0);
}

Test(peer, no_heartbeats_while_the_owner_talks)
{
	ev_timer t;
	int hb;

	start_peer(STREAM_DIR_FORWARD, 0, 50);
	ev_timer_init(&t, busy_writer_cb, 0.01, 0.01);
	t.data = H.p;
	ev_timer_start(H.loop, &t);
	run_for(0.5);
	ev_timer_stop(H.loop, &t);
	hb = count_received(H.other, STREAM_DIR_BACK, STREAM_REC_BC_HEARTBEAT);
	cr_assert(le(int, hb, 1), "%d heartbeats while the owner wrote", hb);
}

/* ---- Silence ---------------------------------------------------------------- */

Test(peer, silence_is_reported_after_t_and_not_before)
{
	uint64_t t0;

	start_peer(STREAM_DIR_BACK, 300, 0);
	t0 = peer_now_ms();
	run_for(3);
	cr_assert(eq(int, H.lost, 1));
	cr_assert(eq(int, H.kind, PEER_LOST_SILENCE), "%s", H.why);
	cr_assert(ge(u64, H.lost_at - t0, 300), "after %llu ms",
	    (unsigned long long)(H.lost_at - t0));
	cr_assert(lt(u64, H.lost_at - t0, 1300), "after %llu ms",
	    (unsigned long long)(H.lost_at - t0));
	cr_assert(strstr(H.why, "heartbeat timeout") != NULL, "%s", H.why);
}

static void
talker_cb(struct ev_loop *l __unused, ev_timer *w __unused, int r __unused)
{
	static uint64_t seq;

	send_ctl(H.other, STREAM_REC_BC_HEARTBEAT, ++seq);
}

Test(peer, a_talking_peer_is_never_silent)
{
	ev_timer t;

	start_peer(STREAM_DIR_BACK, 300, 0);
	ev_timer_init(&t, talker_cb, 0.1, 0.1);
	ev_timer_start(H.loop, &t);
	run_for(1.5);
	ev_timer_stop(H.loop, &t);
	cr_assert(eq(int, H.lost, 0), "lost: %s", H.why);
	cr_assert(ge(int, H.nrecs, 10));
	/* And once it stops talking, it is. */
	run_for(3);
	cr_assert(eq(int, H.lost, 1));
	cr_assert(eq(int, H.kind, PEER_LOST_SILENCE));
}

/* The other end keeps talking from a child process while this process is
 * stuck in a callback for longer than T: that is our stall, not the
 * peer's silence. */
static void
stuck_cb(struct ev_loop *l __unused, ev_timer *w __unused, int r __unused)
{
	usleep(700 * 1000);
}

Test(peer, our_own_long_callback_is_not_the_peers_silence)
{
	ev_timer t;
	uint8_t hb[64];
	size_t n;

	start_peer(STREAM_DIR_BACK, 200, 0);
	n = encode_ctl(hb, sizeof hb, STREAM_REC_BC_HEARTBEAT, 1);
	H.child = fork();
	cr_assert(H.child >= 0);
	if (H.child == 0) {
		for (;;) {
			if (write_full(H.other, hb, n) == -1)
				_exit(0);
			usleep(30 * 1000);
		}
	}
	ev_timer_init(&t, stuck_cb, 0.1, 0.);
	ev_timer_start(H.loop, &t);
	run_for(1.2);
	cr_assert(eq(int, H.lost, 0), "lost: %s", H.why);
	cr_assert(gt(int, H.nrecs, 5));
}

/* ---- Input ------------------------------------------------------------------ */

static void
resume_cb(struct ev_loop *l __unused, ev_timer *w __unused, int r __unused)
{
	cr_assert(eq(int, peer_resume(H.p), 0));
}

/* The same where the resume finds the link gone. */
static void
resume_lost_cb(struct ev_loop *l __unused, ev_timer *w __unused,
    int r __unused)
{
	cr_assert(eq(int, peer_resume(H.p), -1));
}

/* A write that fails while paused (the other end is gone) is not the
 * loss yet: the records read before it come first, as they would have
 * without the pause (an orderly END among them ends the session, a
 * write error after a clean END is no loss). */
Test(peer, write_error_while_paused_comes_after_the_buffered_records)
{
	ev_timer t;

	start_peer(STREAM_DIR_BACK, 5000, 0);
	H.pause_at = 1;
	send_ctl(H.other, STREAM_REC_BC_HEARTBEAT, 1);
	send_ctl(H.other, STREAM_REC_BC_HEARTBEAT, 2);
	run_for(0.2);
	cr_assert(eq(int, H.nrecs, 1));
	/* Gone, both ways: the next write fails. */
	close(H.other);
	H.other = -1;
	cr_assert(stream_write_ctl(peer_writer(H.p), STREAM_REC_HEARTBEAT, 9)
	    == 0);
	cr_assert(eq(int, peer_flush(H.p), -1));
	cr_assert(eq(int, H.lost, 0), "told while paused: %s", H.why);
	H.pause_at = 0;
	ev_timer_init(&t, resume_lost_cb, 0.01, 0.);
	ev_timer_start(H.loop, &t);
	run_for(2);
	cr_assert(eq(int, H.lost, 1));
	cr_assert(eq(int, H.nrecs_lost, 2), "lost after %d records",
	    H.nrecs_lost);
}

/* The write fails while the peer reads normally; the reading that must
 * come first (an END explains a close better than EPIPE) meets a record
 * whose callback pauses the input (the backup commits on its thread):
 * the loss waits for the resume and the records still unread, as the
 * END of an orderly stop over a pipe would. */
Test(peer, write_error_waits_for_a_pause_that_its_own_reading_caused)
{
	ev_timer t;

	start_peer(STREAM_DIR_BACK, 5000, 0);
	H.pause_at = 1;
	/* Unread when the write fails: the loop has not run yet. */
	send_ctl(H.other, STREAM_REC_BC_HEARTBEAT, 1);
	send_ctl(H.other, STREAM_REC_BC_HEARTBEAT, 2);
	close(H.other);
	H.other = -1;
	cr_assert(stream_write_ctl(peer_writer(H.p), STREAM_REC_HEARTBEAT, 9)
	    == 0);
	cr_assert(eq(int, peer_flush(H.p), -1));
	cr_assert(eq(int, H.nrecs, 1), "the reading before the loss");
	cr_assert(eq(int, H.lost, 0), "told while paused: %s", H.why);
	H.pause_at = 0;
	ev_timer_init(&t, resume_lost_cb, 0.01, 0.);
	ev_timer_start(H.loop, &t);
	run_for(2);
	cr_assert(eq(int, H.lost, 1));
	cr_assert(eq(int, H.nrecs_lost, 2), "lost after %d records",
	    H.nrecs_lost);
}

/* A paused peer hands over nothing more (what it read stays buffered)
 * and does not call the other end silent however long the pause; on
 * resume the buffered records come in order, then silence counts again
 * from the resume. */
Test(peer, paused_input_waits_whole_and_is_not_silence)
{
	uint64_t t0;
	ev_timer t;
	int i;

	start_peer(STREAM_DIR_BACK, 200, 0);
	H.pause_at = 2;
	for (i = 1; i <= 5; i++)
		send_ctl(H.other, STREAM_REC_BC_HEARTBEAT, (uint64_t)i);
	run_for(0.6);		/* 3 T */
	cr_assert(eq(int, H.lost, 0), "lost while paused: %s", H.why);
	cr_assert(eq(int, H.nrecs, 2));
	cr_assert(eq(int, peer_poll_input(H.p), 0));
	cr_assert(eq(int, H.nrecs, 2), "read while paused");
	/* Resumed from the loop (a timer), as the owner does. */
	H.pause_at = 0;
	ev_timer_init(&t, resume_cb, 0.01, 0.);
	ev_timer_start(H.loop, &t);
	t0 = peer_now_ms();
	run_for(3);
	cr_assert(eq(int, H.nrecs, 5));
	for (i = 0; i < 5; i++)
		cr_assert(eq(u64, H.values[i], (uint64_t)i + 1));
	cr_assert(eq(int, H.lost, 1));
	cr_assert(eq(int, H.kind, PEER_LOST_SILENCE), "%s", H.why);
	cr_assert(ge(u64, H.lost_at - t0, 200), "silent %llu ms after the "
	    "resume", (unsigned long long)(H.lost_at - t0));
}

static uint8_t split_buf[128];
static size_t split_len, split_off;

static void
dribble_cb(struct ev_loop *l __unused, ev_timer *w, int r __unused)
{
	size_t k = split_len - split_off < 3 ? split_len - split_off : 3;

	cr_assert(write_full(H.other, split_buf + split_off, k) == 0);
	split_off += k;
	if (split_off == split_len)
		ev_timer_stop(H.loop, w);
}

Test(peer, a_record_split_across_reads_arrives_whole)
{
	struct stream_welcome wl = { .timeout_ms = 1000, .hb_ms = 200 };
	struct stream_writer w;
	ev_timer t;

	stream_writer_init(&w, 4096);
	cr_assert(stream_write_welcome(&w, &wl) == 0);
	cr_assert(stream_write_ctl(&w, STREAM_REC_READY, 0) == 0);
	cr_assert(stream_write_ctl(&w, STREAM_REC_ACK, 7) == 0);
	split_len = stream_writer_ready(&w);
	cr_assert(split_len <= sizeof split_buf);
	memcpy(split_buf, w.buf, split_len);
	stream_writer_free(&w);
	start_peer(STREAM_DIR_BACK, 5000, 0);
	/* Three bytes every 5 ms: every record takes several reads. */
	ev_timer_init(&t, dribble_cb, 0.005, 0.005);
	ev_timer_start(H.loop, &t);
	run_for(0.8);
	ev_timer_stop(H.loop, &t);
	cr_assert(eq(sz, split_off, split_len));
	cr_assert(eq(int, H.lost, 0), "lost: %s", H.why);
	cr_assert(eq(int, H.nrecs, 3));
	cr_assert(eq(u32, H.types[0], STREAM_REC_WELCOME));
	cr_assert(eq(u32, H.types[1], STREAM_REC_READY));
	cr_assert(eq(u32, H.types[2], STREAM_REC_ACK));
	cr_assert(eq(u64, H.values[2], 7));
}

Test(peer, eof_and_bad_input_are_told_apart)
{
	uint8_t junk[16] = { 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0 };

	start_peer(STREAM_DIR_BACK, 5000, 0);
	cr_assert(write_full(H.other, junk, sizeof junk) == 0);
	run_for(1);
	cr_assert(eq(int, H.lost, 1));
	cr_assert(eq(int, H.kind, PEER_LOST_PROTOCOL), "%s", H.why);

	peer_free(H.p);
	close(H.other);
	memset(&H.lost, 0, sizeof H.lost);
	start_peer(STREAM_DIR_BACK, 5000, 0);
	close(H.other);
	H.other = -1;
	run_for(1);
	cr_assert(eq(int, H.lost, 1));
	cr_assert(eq(int, H.kind, PEER_LOST_EOF), "%s", H.why);
}

/* ---- Abortive close ------------------------------------------------------- */

/* A connected TCP pair on the loopback: AF_UNIX sockets have no reset. */
static void
tcp_pair(int *ap, int *bp)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int l, a, b;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(l >= 0);
	cr_assert(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0);
	cr_assert(listen(l, 1) == 0);
	cr_assert(getsockname(l, (struct sockaddr *)&sa, &len) == 0);
	a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(a >= 0);
	cr_assert(connect(a, (struct sockaddr *)&sa, sizeof sa) == 0);
	b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert(b >= 0);
	close(l);
	*ap = a;
	*bp = b;
}

static int
read_outcome(int fd)
{
	uint8_t buf[4096];
	ssize_t n;

	fd_set_nonblock(fd, 0);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		;
	return n == 0 ? 0 : errno;
}

Test(peer, abortive_close_resets_the_other_end)
{
	struct peer_config pc = { .rdir = STREAM_DIR_BACK, .desc = "tcp" };
	int a, b;

	tcp_pair(&a, &b);
	H.other = b;
	H.p = peer_new(H.loop, a, a, &pc, &cbs, NULL);
	cr_assert(H.p != NULL);
	cr_assert(peer_start(H.p) == 0);
	peer_abort(H.p);
	cr_assert(not(peer_is_open(H.p)));
	cr_assert(eq(int, read_outcome(b), ECONNRESET));
	cr_assert(eq(int, H.lost, 0), "abort is not a loss the peer reports");
}

Test(peer, orderly_close_is_an_eof)
{
	struct peer_config pc = { .rdir = STREAM_DIR_BACK, .desc = "tcp" };
	int a, b;

	/* The control for the test above: the same pair closed in order. */
	tcp_pair(&a, &b);
	H.other = b;
	H.p = peer_new(H.loop, a, a, &pc, &cbs, NULL);
	cr_assert(peer_start(H.p) == 0);
	peer_close(H.p);
	cr_assert(eq(int, read_outcome(b), 0));
}

/* ---- last_rx across a stall ----------------------------------------------- */

static uint64_t stall_before;

static void
stall_cb(struct ev_loop *l __unused, ev_timer *w __unused, int r __unused)
{
	/* The process is stuck (think SIGSTOP) while the other end
	 * writes; the bytes are read only once it runs again. */
	stall_before = peer_now_ms();
	usleep(150 * 1000);
	send_ctl(H.other, STREAM_REC_BC_HEARTBEAT, 1);
	usleep(150 * 1000);
}

Test(peer, last_rx_does_not_advance_across_a_stall)
{
	ev_timer t;
	uint64_t after;

	start_peer(STREAM_DIR_BACK, 10000, 0);
	run_for(0.05);
	ev_timer_init(&t, stall_cb, 0.01, 0.);
	ev_timer_start(H.loop, &t);
	run_for(0.2);
	cr_assert(eq(int, H.nrecs, 1));
	cr_assert(le(u64, peer_last_rx(H.p), stall_before),
	    "last_rx %llu ms after the stall began",
	    (unsigned long long)(peer_last_rx(H.p) - stall_before));

	/* Without a stall it does advance (so the check above can fail). */
	after = peer_now_ms();
	run_for(0.05);
	send_ctl(H.other, STREAM_REC_BC_HEARTBEAT, 2);
	run_for(0.1);
	cr_assert(eq(int, H.nrecs, 2));
	cr_assert(ge(u64, peer_last_rx(H.p), after));
}
