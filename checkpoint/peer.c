/* checkpoint/peer.c -- the replication link (see peer.h for its life
 * cycle).  Transport bytes only: what a record means is the owner's.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#define LOG_PREFIX "peer: "
#include "compiler.h"
#include "log.h"
#include "peer.h"
#include "ratelimit.h"
#include "util.h"

#define IN_MAX_DEFAULT	(64u << 10)
#define IN_CAP_INIT	(1u << 20)
#define IN_READ_MAX	(16u << 20)	/* per callback, then back to the loop */
#define IN_READ_CHUNK	65536

struct peer {
	struct ev_loop	*loop;
	int		 rfd, wfd;
	struct peer_config cfg;
	struct peer_callbacks cb;
	void		*arg;
	char		 desc[128];

	/* Input. */
	struct stream_reader rd;
	uint8_t		*in;
	size_t		 in_len, in_cap;
	int		 reading;	/* the owner still wants records */
	int		 paused;	/* peer_pause: none until peer_resume */
	int		 in_parse;	/* inside the owner's record callback */

	/* Output. */
	struct stream_writer w;
	size_t		 w_off;		/* bytes of w.buf already written */
	uint64_t	 w_total;	/* stream bytes ever written */
	uint64_t	 r_total;	/* bytes ever read */
	uint64_t	 hb_seq;
	uint64_t	 last_tx_ms;
	int		 wr_err;	/* a write failed; told after the read */
	/* --bandwidth (cfg.rl): a write that met EAGAIN is repeated with
	 * the same length, whatever the bucket says (TLS sealed it); while
	 * the bucket is empty the throttle timer stands in for wr_io. */
	size_t		 w_again;
	ev_timer	 throttle;
	uint64_t	 throttled_at;	/* when the timer was armed (us) */

	/* Time: see "last_rx" in peer.h. */
	uint64_t	 woke_ms;	/* when the last poll returned */
	uint64_t	 listen_from;	/* silence counts from here at the earliest */
	uint64_t	 last_rx_ms;
	uint64_t	 drained_ms;	/* a read began then and found the input
					 * empty: later bytes arrived after it */

	ev_io		 rd_io, wr_io;
	ev_timer	 silence, hb;
	ev_prepare	 prep;
	ev_check	 chk;

	int		 open;		/* descriptors open */
	int		 started;
	int		 failed;	/* lost() was called */
};

static ssize_t
plain_read(void *ctx __unused, int fd, void *buf, size_t len)
{
	return read(fd, buf, len);
}

static ssize_t
plain_write(void *ctx __unused, int fd, const void *buf, size_t len)
{
	return write(fd, buf, len);
}

const struct peer_io_ops peer_io_plain = {
	.name = "plain",
	.read = plain_read,
	.write = plain_write,
};

uint64_t
peer_now_ms(void)
{
	return now_us() / 1000;
}

const char *
peer_loss_str(enum peer_loss k)
{
	switch (k) {
	case PEER_LOST_SILENCE:		return "silence";
	case PEER_LOST_EOF:		return "EOF";
	case PEER_LOST_RESET:		return "reset";
	case PEER_LOST_WRITE:		return "write error";
	case PEER_LOST_PROTOCOL:	return "protocol error";
	case PEER_LOST_ERROR:		return "ERROR received";
	}
	return "?";
}

/* ---- Watchers ------------------------------------------------------ */

/* The prepare and check watchers must not keep the loop alive on their
 * own: the libev idiom is unref after start, ref before stop. */
static void
stop_watchers(struct peer *p)
{
	if (!p->started)
		return;
	p->started = 0;
	if (p->rfd >= 0)
		ev_io_stop(p->loop, &p->rd_io);
	if (!p->cfg.blackhole)
		ev_io_stop(p->loop, &p->wr_io);
	ev_timer_stop(p->loop, &p->silence);
	ev_timer_stop(p->loop, &p->hb);
	ev_timer_stop(p->loop, &p->throttle);
	ev_ref(p->loop);
	ev_prepare_stop(p->loop, &p->prep);
	ev_ref(p->loop);
	ev_check_stop(p->loop, &p->chk);
}

/* Report the loss once; the descriptors stay open so that the owner can
 * still say its last words (an ERROR) before it closes. */
static void
report_lost(struct peer *p, enum peer_loss kind, const char *fmt, ...)
    __printf(3, 4);

static void
report_lost(struct peer *p, enum peer_loss kind, const char *fmt, ...)
{
	char why[STREAM_ERROR_REASON_MAX + 64];
	va_list ap;

	if (p->failed)
		return;
	p->failed = 1;
	p->reading = 0;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	stop_watchers(p);
	log_debug("%s: lost (%s): %s", p->desc, peer_loss_str(kind), why);
	if (p->cb.lost)
		p->cb.lost(p, kind, why, p->arg);
}

static void
prep_cb(struct ev_loop *loop __unused, ev_prepare *w, int revents __unused)
{
	struct peer *p = container_of(w, struct peer, prep);
	uint64_t now = peer_now_ms();

	/* Our own callbacks kept us from listening for a while (a big
	 * epoch committed): silence counts only from now on. */
	if (p->woke_ms && now - p->woke_ms > p->cfg.timeout_ms / 4)
		p->listen_from = now;
}

static void
chk_cb(struct ev_loop *loop __unused, ev_check *w, int revents __unused)
{
	container_of(w, struct peer, chk)->woke_ms = peer_now_ms();
}

/* ---- Input ----------------------------------------------------------- */

static void
stop_reading(struct peer *p)
{
	p->reading = 0;
	if (p->rfd >= 0)
		ev_io_stop(p->loop, &p->rd_io);
	ev_timer_stop(p->loop, &p->silence);
}

/* Hand every complete record to the owner.  0, or -1 when reading
 * stopped (the owner said so, or the input is bad: lost reported). */
static int
parse_input(struct peer *p)
{
	struct stream_header_info hi;
	struct stream_rec rec;
	enum stream_status s;
	size_t off = 0, used = 0;
	int rc = 0;

	while (p->reading && !p->paused && off < p->in_len) {
		if (p->cfg.rdir == STREAM_DIR_FORWARD && !p->rd.have_header) {
			s = stream_read_header(&p->rd, p->in + off,
			    p->in_len - off, &used, &hi);
			if (s == STREAM_OK) {
				off += used;
				if (p->cb.header &&
				    p->cb.header(p, &hi, p->arg) == -1)
					stop_reading(p);
				continue;
			}
		} else {
			s = stream_read_record(&p->rd, p->in + off,
			    p->in_len - off, &used, &rec);
			if (s == STREAM_OK && rec.type == STREAM_REC_ERROR) {
				off += used;
				report_lost(p, PEER_LOST_ERROR,
				    "reported error %u: %.*s", rec.u.error.code,
				    (int)rec.u.error.reason_len,
				    rec.u.error.reason);
				continue;
			}
			if (s == STREAM_OK) {
				off += used;
				if (p->cb.record &&
				    p->cb.record(p, &rec, p->arg) == -1)
					stop_reading(p);
				continue;
			}
			if (s == STREAM_SKIPPED) {
				off += used;
				continue;
			}
		}
		if (s == STREAM_NEED_MORE)
			break;
		report_lost(p, PEER_LOST_PROTOCOL, "%s error at offset %"
		    PRIu64 ": %s", p->cfg.rdir == STREAM_DIR_FORWARD ?
		    "stream" : "back channel", p->rd.offset,
		    stream_strerror(s));
		break;
	}
	if (off > 0) {
		memmove(p->in, p->in + off, p->in_len - off);
		p->in_len -= off;
	}
	if (!p->reading)
		rc = -1;
	return rc;
}

/* Room for the record the reader waits for (its size is known from its
 * 8-byte header, already checked against the format's limits).  The
 * buffer grows with what arrives, at most doubling what it holds, not
 * to the size announced at once: a peer that announces a 64 MiB record
 * and sends a byte of it must not make us allocate 64 MiB (issue 12). */
static int
input_room(struct peer *p)
{
	size_t want, ncap, step;
	uint8_t *n;

	want = p->rd.need > p->in_len ? p->rd.need : p->in_len + 1;
	step = p->in_len > IN_READ_CHUNK ? p->in_len : IN_READ_CHUNK;
	if (want > p->in_len + step)
		want = p->in_len + step;
	if (want < p->in_len + IN_READ_CHUNK)
		want = p->in_len + IN_READ_CHUNK;
	if (want > p->cfg.in_max)
		want = p->cfg.in_max;
	if (p->rd.need > p->cfg.in_max || p->in_len == p->cfg.in_max) {
		report_lost(p, PEER_LOST_PROTOCOL, "oversized record (%zu "
		    "bytes, at most %zu here)", p->rd.need, p->cfg.in_max);
		return -1;
	}
	if (want <= p->in_cap)
		return 0;
	ncap = p->in_cap * 2 > want ? p->in_cap * 2 : want;
	if (ncap > p->cfg.in_max)
		ncap = p->cfg.in_max;
	n = realloc(p->in, ncap);
	if (n == NULL) {
		/* Our failure, not the peer's: the owner decides. */
		report_lost(p, PEER_LOST_PROTOCOL, "input buffer of %zu bytes:"
		    " %s", ncap, strerror(errno));
		return -1;
	}
	p->in = n;
	p->in_cap = ncap;
	return 0;
}

static void	deliver_write_error(struct peer *);
static void	arm_silence(struct peer *, uint64_t);

/* Read and parse.  1 if bytes arrived, 0 if none, -1 if reading stopped
 * (loss reported, or the owner stopped it). */
static int
read_some(struct peer *p)
{
	size_t total = 0;
	ssize_t n;
	int got = 0, rc;

	while (p->reading && !p->paused && total < IN_READ_MAX) {
		uint64_t before;
		size_t room;

		if (input_room(p) == -1)
			return -1;
		room = p->in_cap - p->in_len;
		before = peer_now_ms();
		n = p->cfg.io->read(p->cfg.io_ctx, p->rfd, p->in + p->in_len,
		    room);
		if (n > 0) {
			/* These bytes were not there when the input was last
			 * found empty: that is the latest time we provably
			 * heard nothing newer.  Not the time of this read: a
			 * process stopped (or busy) since then would think it
			 * heard the primary later than it did.  A short read
			 * of a plain descriptor empties the socket too; a TLS
			 * read returns one record, which proves nothing. */
			p->last_rx_ms = p->drained_ms;
			if ((size_t)n < room && p->cfg.io == &peer_io_plain)
				p->drained_ms = before;
			p->in_len += (size_t)n;
			p->r_total += (size_t)n;
			total += (size_t)n;
			got = 1;
			p->in_parse++;
			rc = parse_input(p);
			p->in_parse--;
			if (rc == -1)
				return -1;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			p->drained_ms = before;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return got;
		if (n == 0)
			report_lost(p, PEER_LOST_EOF, "connection closed");
		else
			report_lost(p, PEER_LOST_RESET, "%s", strerror(errno));
		return -1;
	}
	/* Back to the loop with input left inside the io layer (TLS):
	 * the fd may never turn readable for it, so ask for another go. */
	if (p->reading && !p->paused && p->cfg.io->pending != NULL &&
	    p->cfg.io->pending(p->cfg.io_ctx) > 0)
		ev_feed_event(p->loop, &p->rd_io, EV_READ);
	return p->reading ? got : -1;
}

static int
read_input(struct peer *p)
{
	int r = read_some(p);

	if (p->wr_err && !p->in_parse)
		deliver_write_error(p);
	return p->failed ? -1 : r;
}

static void
rd_io_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	read_input(container_of(w, struct peer, rd_io));
}

int
peer_poll_input(struct peer *p)
{
	if (!p->open || p->failed || !p->reading || p->paused || p->rfd < 0)
		return p->failed ? -1 : 0;
	return read_input(p);
}

void
peer_pause(struct peer *p)
{
	if (!p->reading || p->paused)
		return;
	p->paused = 1;
	if (p->rfd >= 0)
		ev_io_stop(p->loop, &p->rd_io);
	/* Not listening: silence cannot be told from our own wait. */
	ev_timer_stop(p->loop, &p->silence);
}

int
peer_resume(struct peer *p)
{
	if (!p->paused)
		return 0;
	p->paused = 0;
	if (!p->open || p->failed || !p->reading)
		return p->failed ? -1 : 0;
	/* Silence counts from now, as after a long callback of ours. */
	p->listen_from = peer_now_ms();
	if (p->cfg.timeout_ms)
		arm_silence(p, p->cfg.timeout_ms);
	ev_io_start(p->loop, &p->rd_io);
	/* The records already read first, then whatever came meanwhile. */
	p->in_parse++;
	(void)parse_input(p);
	p->in_parse--;
	if (p->wr_err && !p->in_parse)
		deliver_write_error(p);
	if (p->failed)
		return -1;
	if (p->reading && !p->paused)
		ev_feed_event(p->loop, &p->rd_io, EV_READ);
	return 0;
}

/* ---- Silence ----------------------------------------------------------- */

static void
arm_silence(struct peer *p, uint64_t delay_ms)
{
	ev_timer_stop(p->loop, &p->silence);
	ev_timer_set(&p->silence, delay_ms / 1000.0, 0.);
	ev_timer_start(p->loop, &p->silence);
}

static void
silence_check(struct peer *p)
{
	uint64_t now = peer_now_ms(), from, deadline;
	int r;

	from = p->last_rx_ms > p->listen_from ? p->last_rx_ms : p->listen_from;
	deadline = from + p->cfg.timeout_ms;
	if (now < deadline) {
		arm_silence(p, deadline - now);
		return;
	}
	/* Look once more before declaring the peer dead: its bytes may be
	 * waiting behind a long callback of ours. */
	r = read_input(p);
	if (r == -1)
		return;
	if (r == 1) {
		/* It spoke: alive, whenever exactly that was.  Look again
		 * in a heartbeat period. */
		arm_silence(p, p->cfg.hb_ms ? p->cfg.hb_ms :
		    p->cfg.timeout_ms / 4 + 1);
		return;
	}
	report_lost(p, PEER_LOST_SILENCE, "heartbeat timeout (%" PRIu64
	    " ms of silence)", now - from);
}

static void
silence_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	silence_check(container_of(w, struct peer, silence));
}

/* ---- Output ---------------------------------------------------------- */

/* Write queued bytes until the queue is empty or the descriptor is full.
 * 0: all written; 1: it would block; 2: the bandwidth cap holds it back
 * (cfg.rl); -1: a write error, errno set.  It reports nothing:
 * write_some reports the loss once, and peer_flush_blocking also runs
 * after a loss, to say last words. */
static int
push_queue(struct peer *p)
{
	ssize_t n;
	size_t len;

	while (p->w_off < stream_writer_ready(&p->w)) {
		len = stream_writer_ready(&p->w) - p->w_off;
		if (p->cfg.rl != NULL && p->w_again != 0 && p->w_again <= len)
			len = p->w_again;
		else if (p->cfg.rl != NULL &&
		    (len = ratelimit_grant(p->cfg.rl, now_us(), len)) == 0)
			return 2;
		n = p->cfg.io->write(p->cfg.io_ctx, p->wfd,
		    p->w.buf + p->w_off, len);
		if (n > 0) {
			p->w_off += (size_t)n;
			p->w_total += (uint64_t)n;
			p->last_tx_ms = peer_now_ms();
			p->w_again = 0;
			if (p->cfg.rl != NULL)
				ratelimit_charge(p->cfg.rl, now_us(),
				    (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			p->w_again = len;
			return 1;
		}
		if (n == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

/* Write what the descriptor takes.  0, or -1 on a write error (reported
 * once). */
static int
write_some(struct peer *p)
{
	int rc = push_queue(p);

	if (rc == -1) {
		p->wr_err = errno;
		if (!p->cfg.blackhole)
			ev_io_stop(p->loop, &p->wr_io);
		/* Not from inside a record callback: the input it parses is
		 * in use.  The reader tells it when the callback returned.
		 * Nor while paused: peer_resume tells it, after the records
		 * read before it (an END among them is an orderly end, as
		 * it would have been without the pause). */
		if (!p->in_parse && !p->paused)
			deliver_write_error(p);
		return -1;
	}
	if (p->w_off > 0 && p->w_off == stream_writer_ready(&p->w)) {
		stream_writer_consume(&p->w, p->w_off);
		p->w_off = 0;
	}
	if (!p->cfg.blackhole && p->started) {
		if (rc == 2) {
			/* Held back by the cap: the timer, not the fd,
			 * says when to go on. */
			uint64_t us = ratelimit_wait_us(p->cfg.rl, now_us(),
			    stream_writer_ready(&p->w) - p->w_off);

			ev_io_stop(p->loop, &p->wr_io);
			if (!ev_is_active(&p->throttle))
				p->throttled_at = now_us();
			ev_timer_stop(p->loop, &p->throttle);
			ev_timer_set(&p->throttle, (double)(us ? us : 1) / 1e6,
			    0.);
			ev_timer_start(p->loop, &p->throttle);
		} else if (p->w_off < stream_writer_ready(&p->w))
			ev_io_start(p->loop, &p->wr_io);
		else
			ev_io_stop(p->loop, &p->wr_io);
	}
	return 0;
}

/* The other end closed: read what it said before (an END, an ERROR
 * explain the close better than our EPIPE), then report the write error
 * unless that reading already ended the session. */
static void
deliver_write_error(struct peer *p)
{
	int err = p->wr_err, i;

	if (p->failed || !p->open)
		return;
	if (p->reading && p->rfd >= 0) {
		p->wr_err = 0;
		/* All of it: read_some stops after IN_READ_MAX bytes, and
		 * the END may come after a last epoch larger than that.  A
		 * peer gone leaves only what the kernel buffered; one that
		 * writes on forever is cut off after 16 rounds. */
		for (i = 0; i < 16 && read_some(p) == 1 && p->reading &&
		    !p->paused; i++)
			;
		/* A record read above paused the input (the backup commits
		 * an epoch on its thread): what is still unread may hold
		 * the END.  peer_resume delivers the error after it. */
		if (p->paused && p->open && !p->failed) {
			p->wr_err = err;
			return;
		}
	}
	if (p->open && !p->failed && err)
		report_lost(p, PEER_LOST_WRITE, "%s", strerror(err));
	p->wr_err = 0;
}

static void
wr_io_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	struct peer *p = container_of(w, struct peer, wr_io);

	if (write_some(p) == 0 && p->cb.written)
		p->cb.written(p, p->arg);
}

/* The bandwidth cap's wait is over: go on writing. */
static void
throttle_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	struct peer *p = container_of(w, struct peer, throttle);

	ratelimit_add_held(p->cfg.rl, now_us() - p->throttled_at);
	if (write_some(p) == 0 && p->cb.written)
		p->cb.written(p, p->arg);
}

int
peer_flush(struct peer *p)
{
	if (!p->open || p->failed || p->wr_err) {
		errno = EPIPE;
		return -1;
	}
	return write_some(p);
}

int
peer_flush_prefix(struct peer *p, size_t n)
{
	size_t end = p->w_off + n;

	if (!p->open || end > stream_writer_ready(&p->w)) {
		errno = EINVAL;
		return -1;
	}
	fd_set_nonblock(p->wfd, 0);
	while (p->w_off < end) {
		ssize_t k = p->cfg.io->write(p->cfg.io_ctx, p->wfd,
		    p->w.buf + p->w_off, end - p->w_off);

		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p->w_off += (size_t)k;
		p->w_total += (uint64_t)k;
	}
	return 0;
}

int
peer_flush_blocking(struct peer *p, uint32_t deadline_ms)
{
	uint64_t end = peer_now_ms() + deadline_ms;
	struct pollfd pfd = { .fd = p->wfd, .events = POLLOUT };
	int rc;

	if (!p->open)
		return -1;
	while ((rc = push_queue(p)) >= 1 && peer_now_ms() < end)
		poll(rc == 1 ? &pfd : NULL, rc == 1, rc == 1 ? 100 : 1);
	if (rc != 0)
		return -1;
	if (p->w_off > 0) {
		stream_writer_consume(&p->w, p->w_off);
		p->w_off = 0;
	}
	return 0;
}

int
peer_heartbeat(struct peer *p, int force)
{
	uint32_t type = p->cfg.rdir == STREAM_DIR_FORWARD ?
	    STREAM_REC_BC_HEARTBEAT : STREAM_REC_HEARTBEAT;

	if (!p->open || p->failed)
		return -1;
	if (p->cfg.blackhole || p->w.in_epoch || p->w.ended ||
	    p->w_off < stream_writer_ready(&p->w))
		return 0;
	if (!force && p->cfg.hb_ms &&
	    peer_now_ms() - p->last_tx_ms < p->cfg.hb_ms)
		return 0;
	if (stream_write_ctl(&p->w, type, ++p->hb_seq) == -1)
		return 0;
	return write_some(p);
}

static void
hb_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	struct peer *p = container_of(w, struct peer, hb);

	/* Timer slack: a period "almost" over counts as over, or a loop
	 * that wakes a little early would skip a whole period. */
	if (peer_now_ms() - p->last_tx_ms + p->cfg.hb_ms / 10 >= p->cfg.hb_ms)
		peer_heartbeat(p, 1);
}

/* ---- Life cycle ------------------------------------------------------ */

struct peer *
peer_new(struct ev_loop *loop, int rfd, int wfd, const struct peer_config *cfg,
    const struct peer_callbacks *cb, void *arg)
{
	struct peer *p;

	p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	p->loop = loop;
	p->rfd = rfd;
	p->wfd = wfd;
	p->cfg = *cfg;
	p->cb = *cb;
	p->arg = arg;
	if (p->cfg.io == NULL)
		p->cfg.io = &peer_io_plain;
	if (p->cfg.in_max == 0)
		p->cfg.in_max = IN_MAX_DEFAULT;
	if (p->cfg.blackhole)
		p->cfg.rl = NULL;	/* no link to cap */
	snprintf(p->desc, sizeof p->desc, "%s", cfg->desc ? cfg->desc : "peer");
	p->cfg.desc = p->desc;
	stream_reader_init(&p->rd, cfg->rdir);
	stream_reader_set_pages(&p->rd, cfg->nr_pages);
	stream_writer_init(&p->w, cfg->page_size ? cfg->page_size : 4096);
	p->in_cap = p->cfg.in_max < IN_CAP_INIT ? p->cfg.in_max : IN_CAP_INIT;
	if (rfd >= 0) {
		p->in = malloc(p->in_cap);
		if (p->in == NULL) {
			free(p);
			return NULL;
		}
	}
	if (rfd >= 0)
		fd_set_nonblock(rfd, 1);
	if (!cfg->blackhole && wfd != rfd)
		fd_set_nonblock(wfd, 1);
	if (rfd >= 0)
		ev_io_init(&p->rd_io, rd_io_cb, rfd, EV_READ);
	if (!cfg->blackhole)
		ev_io_init(&p->wr_io, wr_io_cb, wfd, EV_WRITE);
	ev_init(&p->silence, silence_cb);
	ev_init(&p->hb, hb_cb);
	ev_init(&p->throttle, throttle_cb);
	ev_prepare_init(&p->prep, prep_cb);
	ev_check_init(&p->chk, chk_cb);
	/* The check stamp is the end of the poll: before any callback. */
	ev_set_priority(&p->chk, EV_MAXPRI);
	p->open = 1;
	p->reading = rfd >= 0;
	p->last_rx_ms = p->listen_from =
	    p->last_tx_ms = p->drained_ms = peer_now_ms();
	return p;
}

static void
start_timers(struct peer *p)
{
	ev_timer_stop(p->loop, &p->hb);
	if (p->cfg.hb_ms && !p->cfg.blackhole) {
		ev_timer_set(&p->hb, p->cfg.hb_ms / 1000.0,
		    p->cfg.hb_ms / 1000.0);
		ev_timer_start(p->loop, &p->hb);
	}
	ev_timer_stop(p->loop, &p->silence);
	if (p->cfg.timeout_ms && p->reading && !p->paused)
		arm_silence(p, p->cfg.timeout_ms);
}

int
peer_start(struct peer *p)
{
	if (!p->open || p->failed || p->started) {
		errno = EINVAL;
		return -1;
	}
	p->started = 1;
	ev_prepare_start(p->loop, &p->prep);
	ev_unref(p->loop);
	ev_check_start(p->loop, &p->chk);
	ev_unref(p->loop);
	if (p->reading && !p->paused)
		ev_io_start(p->loop, &p->rd_io);
	p->listen_from = peer_now_ms();
	start_timers(p);
	return write_some(p);
}

void
peer_set_timing(struct peer *p, uint32_t timeout_ms, uint32_t hb_ms)
{
	p->cfg.timeout_ms = timeout_ms;
	p->cfg.hb_ms = hb_ms;
	p->listen_from = peer_now_ms();
	if (p->started)
		start_timers(p);
}

struct stream_writer *
peer_writer(struct peer *p)
{
	return &p->w;
}

uint64_t
peer_queued(const struct peer *p)
{
	return p->w_total + (stream_writer_ready(&p->w) - p->w_off);
}

uint64_t
peer_written(const struct peer *p)
{
	return p->w_total;
}

size_t
peer_backlog(const struct peer *p)
{
	return stream_writer_ready(&p->w) - p->w_off;
}

uint64_t
peer_received(const struct peer *p)
{
	return p->r_total;
}

uint64_t
peer_last_rx(const struct peer *p)
{
	return p->last_rx_ms;
}

const struct stream_reader *
peer_reader(const struct peer *p)
{
	return &p->rd;
}

const char *
peer_desc(const struct peer *p)
{
	return p->desc;
}

int
peer_is_open(const struct peer *p)
{
	return p->open && !p->failed;
}

static void
close_fds(struct peer *p, int abortive)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	stop_watchers(p);
	p->reading = 0;
	if (!p->open)
		return;
	p->open = 0;
	if (!abortive && p->cfg.io->bye != NULL)
		p->cfg.io->bye(p->cfg.io_ctx);
	/* Not a socket (a pipe, /dev/null): ENOTSOCK, nothing to abort. */
	if (abortive) {
		if (p->rfd >= 0)
			setsockopt(p->rfd, SOL_SOCKET, SO_LINGER, &lg,
			    sizeof lg);
		if (p->wfd >= 0 && p->wfd != p->rfd)
			setsockopt(p->wfd, SOL_SOCKET, SO_LINGER, &lg,
			    sizeof lg);
	}
	if (p->rfd >= 0)
		close(p->rfd);
	if (p->wfd >= 0 && p->wfd != p->rfd)
		close(p->wfd);
	p->rfd = p->wfd = -1;
}

void
peer_close(struct peer *p)
{
	close_fds(p, 0);
}

void
peer_abort(struct peer *p)
{
	close_fds(p, 1);
}

void
peer_free(struct peer *p)
{
	if (p == NULL)
		return;
	close_fds(p, 0);
	stream_writer_free(&p->w);
	free(p->in);
	free(p);
}
