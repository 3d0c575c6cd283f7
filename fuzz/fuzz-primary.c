/* fuzz/fuzz-primary.c -- libFuzzer target for the primary's side of the
 * link: what a hostile or broken backup can send (WELCOME with any T, H
 * and F, READY, ACKs, heartbeats, ERROR, garbage, EOF).
 *
 * Input: one control byte, then the backup -> primary bytes.  It drives
 * the real epoch engine (checkpoint/ckpt.c over checkpoint/peer.c, the
 * primary policy failover/fo-primary.c, the codec) protecting a small
 * in-memory guest (a faithful domain_ops: 16 pages whose content and
 * dirty log change each epoch) over a fake peer_io_ops table, as
 * fuzz-session.c does for the backup.  Control bits 0-5 seed the chunk
 * sizes in which the backup's bytes arrive (0: one record at a time, as
 * a real backup answers, cut where the reader finds a record's end,
 * the rest at once when it finds none); bit 6 ends
 * the input with EOF (the backup closed) instead of silence; bit 7 makes
 * the link congested (every third write refused, every third short).
 *
 * Determinism: the engine's clock (now_us, also behind peer_now_ms) is
 * wrapped at link time and virtual: it stands still but for the engine's
 * own usleep (wrapped too), which advances it instead of sleeping.  So no
 * silence, heartbeat, hold or release decision depends on how fast this
 * machine runs: libev timers that fire in real time find that no virtual
 * time has passed and re-arm.  The epoch interval is 1 ms, so the epoch
 * timer is always due at once and the engine runs epochs back to back as
 * far as ACKs let it (at most one unacknowledged while the next runs),
 * each "sleeping" the rest of its 1 ms.  The next chunk of input is
 * delivered only when the engine has nothing left to do (an idle watcher
 * at the lowest priority runs): the full epoch is streamed in 4-page
 * chunks from the engine's own idle watcher, and later epochs wait for
 * an ACK, so chunks interleave with them the same way every time.  When
 * the input is consumed and the engine is idle, the harness stops it
 * (ckpt_stop) and frees it; a loss holds output until a release that the
 * virtual clock never reaches, so then it is freed while holding
 * (ckpt_free takes an engine in any state: remus frees it when its loop
 * ends, whatever ended it).
 *
 * Inputs the harness declines: a WELCOME with T below 100 ms or H below
 * 50 ms.  The link's silence and heartbeat timers are armed for T and H
 * of real time and judge by the virtual clock, which epochs move by 1 ms
 * each; with a T of a few ms a timer could fire during an input (its
 * iteration takes about a millisecond) and the outcome would depend on
 * the machine's speed.  The code that takes T and H is the same for any
 * value (welcome_received); only their timing is left out.
 *
 * Oracles, besides ASan/UBSan/LSan: output is released (the device's
 * commit hook: netbuf would let epoch N's packets out) only for an epoch
 * whose EPOCH_END the primary wrote, in increasing order, never after a
 * discard_all; the forward stream it wrote parses (the pure reader's
 * rules); the engine leaves no watcher in the loop and no descriptor
 * open after ckpt_free.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <ev.h>

#include "fuzz-chunk.h"
#include "checkpoint.h"
#include "domain.h"
#include "log.h"
#include "peer.h"
#include "stream.h"
#include "transport.h"

#define NPAGES		16u
#define PS		4096u
#define OUT_MAX		(4u << 20)	/* forward bytes parsed */

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- The frozen clock ---------------------------------------------------- */

uint64_t	__real_now_us(void);
uint64_t	__wrap_now_us(void);
int	__wrap_usleep(useconds_t us);
static uint64_t frozen_us;

uint64_t
__wrap_now_us(void)
{
	return frozen_us;
}

int
__wrap_usleep(useconds_t us)
{
	frozen_us += us;
	return 0;
}

/* ---- The guest ------------------------------------------------------- */

struct domain {
	uint8_t		mem[NPAGES * PS];
	uint64_t	gen;
};

static void
dom_info(struct domain *d, struct domain_info *i)
{
	(void)d;
	i->page_size = PS;
	i->nr_pages = NPAGES;
	i->flags = 0;
}

static int
dom_get_config(struct domain *d, void *buf, size_t *len)
{
	static const char cfg[] = "fuzz guest";

	(void)d;
	if (*len < sizeof cfg) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(buf, cfg, sizeof cfg);
	*len = sizeof cfg;
	return 0;
}

static int
dom_ok(struct domain *d)
{
	(void)d;
	return 0;
}

/* Two pages written since the last call, their content changed. */
static int
dom_dirty(struct domain *d, uint64_t *bitmap, uint64_t *count)
{
	uint64_t a = d->gen % NPAGES, b = (d->gen * 7 + 3) % NPAGES;

	d->gen++;
	memset(d->mem + a * PS + d->gen % PS, (int)d->gen, 64);
	memset(d->mem + b * PS, (int)(d->gen >> 3), PS / 2);
	bitmap[a / 64] |= 1ull << (a % 64);
	bitmap[b / 64] |= 1ull << (b % 64);
	*count = a == b ? 1 : 2;
	return 0;
}

static int
dom_copy(struct domain *d, const uint64_t *pfns, size_t n, void *dst)
{
	for (size_t i = 0; i < n; i++) {
		if (pfns[i] >= NPAGES) {
			fprintf(stderr, "fuzz-primary: copy of pfn %llu\n",
			    (unsigned long long)pfns[i]);
			abort();
		}
		memcpy((uint8_t *)dst + i * PS, d->mem + pfns[i] * PS, PS);
	}
	return 0;
}

static int
dom_save_state(struct domain *d, void *buf, size_t *len)
{
	int n = snprintf(buf, *len, "gen=%llu", (unsigned long long)d->gen);

	if (n < 0 || (size_t)n >= *len) {
		errno = ENOSPC;
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

static const struct domain_ops dom_ops = {
	.name = "fuzz",
	.info = dom_info,
	.get_config = dom_get_config,
	.logdirty_enable = dom_ok,
	.suspend = dom_ok,
	.dirty_read_clear = dom_dirty,
	.copy_pages = dom_copy,
	.save_state = dom_save_state,
	.resume = dom_ok,
};

/* ---- The fake link ------------------------------------------------- */

struct fake {
	const uint8_t	*data;
	size_t		 size, off;
	uint32_t	 rng;
	struct stream_reader split;	/* rng 0: where records end */
	int		 eof, congested;
	int		 sig;		/* a dup of the link's eventfd (the
					 * engine closes its own): made
					 * readable when a chunk is due */
	size_t		 due;		/* bytes the next reads may return */
	unsigned	 nwrite;
	/* The forward stream, parsed as it is written. */
	struct stream_reader fwd;
	uint8_t		*out;
	size_t		 out_len;
	int		 out_bad;	/* past OUT_MAX: stop checking */
	uint64_t	 ended;		/* last epoch whose EPOCH_END was written */
	/* The device's view. */
	uint64_t	 released;	/* last epoch committed (output let out) */
	int		 discarded;
};

static const uint32_t chunk_max[4] = { 7, 32, 256, 4096 };

static ssize_t
fake_read(void *ctx, int fd, void *buf, size_t len)
{
	struct fake *f = ctx;
	uint64_t v;
	size_t n;

	(void)fd;
	if (f->due == 0) {
		if (f->off == f->size && f->eof)
			return 0;
		/* Drained: not readable until the next chunk is due. */
		if (read(f->sig, &v, sizeof v) == -1 && errno != EAGAIN)
			abort();
		errno = EAGAIN;
		return -1;
	}
	n = f->due < len ? f->due : len;
	memcpy(buf, f->data + f->off, n);
	f->off += n;
	f->due -= n;
	return (ssize_t)n;
}

/* Parse what the primary wrote so far; record the last EPOCH_END. */
static void
parse_forward(struct fake *f)
{
	struct stream_header_info hi;
	struct stream_rec rec;
	enum stream_status st;
	size_t off = 0, used;

	while (!f->out_bad && off < f->out_len) {
		if (!f->fwd.have_header)
			st = stream_read_header(&f->fwd, f->out + off,
			    f->out_len - off, &used, &hi);
		else
			st = stream_read_record(&f->fwd, f->out + off,
			    f->out_len - off, &used, &rec);
		if (st == STREAM_NEED_MORE)
			break;
		if (st != STREAM_OK && st != STREAM_SKIPPED) {
			fprintf(stderr, "fuzz-primary: the primary wrote a bad "
			    "stream at offset %llu: %s\n",
			    (unsigned long long)f->fwd.offset,
			    stream_strerror(st));
			abort();
		}
		if (st == STREAM_OK && f->fwd.have_header && used > 0 &&
		    rec.type == STREAM_REC_EPOCH_END)
			f->ended = rec.u.end.epoch;
		off += used;
	}
	memmove(f->out, f->out + off, f->out_len - off);
	f->out_len -= off;
}

static ssize_t
fake_write(void *ctx, int fd, const void *buf, size_t len)
{
	struct fake *f = ctx;
	size_t n = len;

	(void)fd;
	if (f->congested) {
		switch (f->nwrite++ % 3) {
		case 0:
			errno = EAGAIN;
			return -1;
		case 1:
			n = len > 1 ? len / 2 : len;
			break;
		default:
			break;
		}
	}
	if (!f->out_bad) {
		if (f->out_len + n > OUT_MAX) {
			f->out_bad = 1;
		} else {
			memcpy(f->out + f->out_len, buf, n);
			f->out_len += n;
			parse_forward(f);
		}
	}
	return (ssize_t)n;
}

static const struct peer_io_ops fake_io = {
	.name = "fuzz",
	.read = fake_read,
	.write = fake_write,
};

/* ---- The device: what netbuf would release --------------------------- */

static int
dev_commit(void *dev, uint64_t epoch)
{
	struct fake *f = dev;

	if (epoch <= f->released || epoch > f->ended || f->discarded) {
		fprintf(stderr, "fuzz-primary: output of epoch %llu released "
		    "(last released %llu, last written whole %llu%s)\n",
		    (unsigned long long)epoch,
		    (unsigned long long)f->released,
		    (unsigned long long)f->ended,
		    f->discarded ? ", after a discard" : "");
		abort();
	}
	f->released = epoch;
	return 0;
}

static void
dev_discard_all(void *dev)
{
	((struct fake *)dev)->discarded = 1;
}

static const struct ckpt_device_ops dev_ops = {
	.name = "fuzz-netbuf",
	.commit = dev_commit,
	.discard_all = dev_discard_all,
};

/* ---- The loop -------------------------------------------------------- */

/* 1 if the harness runs this input (see the top of the file). */
static int
acceptable(const uint8_t *data, size_t size)
{
	struct stream_reader r;
	struct stream_rec rec;
	size_t off = 0, used;
	enum stream_status st;

	stream_reader_init(&r, STREAM_DIR_BACK);
	while (off < size) {
		st = stream_read_record(&r, data + off, size - off, &used, &rec);
		if (st != STREAM_OK && st != STREAM_SKIPPED)
			break;
		if (st == STREAM_OK && rec.type == STREAM_REC_WELCOME &&
		    (rec.u.welcome.timeout_ms < 100 || rec.u.welcome.hb_ms < 50))
			return 0;
		off += used;
	}
	return 1;
}

static struct ev_loop *loop;

struct run {
	struct fake	*f;
	ev_idle		 idle;
	int		 quiet;		/* the engine had nothing to do */
	int		 done;
};

/* Lowest priority: runs only when nothing else is pending. */
static void
idle_cb(struct ev_loop *l, ev_idle *w, int revents)
{
	struct run *r = (struct run *)((char *)w - offsetof(struct run, idle));
	struct fake *f = r->f;
	uint64_t one = 1;

	(void)revents;
	if (f->due == 0 && f->off < f->size) {
		struct stream_rec rec;
		size_t used;
		enum stream_status st;

		if (f->rng) {
			f->due = fuzz_next_chunk(&f->rng, chunk_max);
		} else {
			st = stream_read_record(&f->split, f->data + f->off,
			    f->size - f->off, &used, &rec);
			f->due = (st == STREAM_OK || st == STREAM_SKIPPED) &&
			    used > 0 ? used : f->size - f->off;
		}
		if (f->due > f->size - f->off)
			f->due = f->size - f->off;
		if (write(f->sig, &one, sizeof one) != sizeof one)
			abort();
		return;
	}
	if (f->eof == 1) {
		/* All delivered: make the reader look once more, for EOF. */
		f->eof = 2;
		if (write(f->sig, &one, sizeof one) != sizeof one)
			abort();
		return;
	}
	r->quiet = 1;
	ev_break(l, EVBREAK_ONE);
}

static void
engine_done(struct ckpt *c, enum ckpt_result res, void *arg)
{
	(void)c;
	(void)res;
	((struct run *)arg)->done = 1;
}

/* Run until the engine is quiet with all input delivered (or done). */
static void
run_until_quiet(struct run *r)
{
	for (;;) {
		r->quiet = 0;
		ev_run(loop, 0);
		if (r->done)
			return;
		if (r->quiet)
			return;
	}
}

/* The lowest free descriptor: the same after an input as before it, or
 * the input left one open. */
static int
lowest_free_fd(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);

	if (fd == -1)
		abort();
	close(fd);
	return fd;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz-primary", 1, 0);
	frozen_us = __real_now_us() + 1000000000ull;
	loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	if (loop == NULL) {
		fprintf(stderr, "fuzz-primary: no event loop\n");
		exit(1);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct domain dom;
	struct fake f;
	struct run r;
	struct transport tp;
	struct ckpt_config cfg;
	struct ckpt *c;
	int rfd, wfd, fd0;

	if (loop == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 1)
		return 0;
	memset(&f, 0, sizeof f);
	f.rng = (data[0] & 0x3f) ? (data[0] & 0x3f) * 2654435761u : 0;
	f.eof = (data[0] >> 6) & 1;
	f.congested = data[0] >> 7;
	f.data = data + 1;
	f.size = size - 1;
	if (!acceptable(f.data, f.size))
		return 0;
	stream_reader_init(&f.fwd, STREAM_DIR_FORWARD);
	stream_reader_init(&f.split, STREAM_DIR_BACK);
	fd0 = lowest_free_fd();
	f.out = malloc(OUT_MAX);
	memset(&dom, 0, sizeof dom);
	rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	wfd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);	/* always writable */
	if (f.out == NULL || rfd == -1 || wfd == -1 ||
	    (f.sig = fcntl(rfd, F_DUPFD_CLOEXEC, 0)) == -1)
		abort();

	transport_from_fds(&tp, rfd, wfd, "fuzz");
	tp.io = &fake_io;
	tp.io_ctx = &f;
	memset(&cfg, 0, sizeof cfg);
	cfg.interval_ms = 1;
	cfg.compress = 1;
	cfg.timeout_ms = 60000;
	cfg.cache_bytes = 1u << 20;
	cfg.full_chunk_pages = 4;
	cfg.guest_name = "fuzz";
	c = ckpt_new(loop, &dom_ops, &dom, &tp, &cfg);
	if (c == NULL || ckpt_add_device(c, &dev_ops, &f) == -1)
		abort();
	memset(&r, 0, sizeof r);
	r.f = &f;
	ckpt_set_callbacks(c, NULL, engine_done, &r);
	ev_idle_init(&r.idle, idle_cb);
	ev_set_priority(&r.idle, EV_MINPRI);
	ev_idle_start(loop, &r.idle);

	if (ckpt_start(c) == 0) {
		run_until_quiet(&r);
		if (!r.done) {
			ckpt_stop(c);
			run_until_quiet(&r);
		}
	}
	ev_idle_stop(loop, &r.idle);
	ckpt_free(c);
	transport_close(&tp);
	if (ev_run(loop, EVRUN_NOWAIT)) {
		fprintf(stderr, "fuzz-primary: watchers left after ckpt_free\n");
		abort();
	}
	close(f.sig);
	if (lowest_free_fd() != fd0) {
		fprintf(stderr, "fuzz-primary: descriptor %d left open\n", fd0);
		abort();
	}
	free(f.out);
	return 0;
}
