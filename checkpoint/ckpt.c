/* checkpoint/ckpt.c -- the epoch engine: the whole epoch is in this file.
 *
 *   epoch n (n >= 2), from the epoch timer:
 *
 *   [pre-copy: dirty_read_clear -> copy_pages to staging, guest running]
 *   suspend -> dirty_read_clear -> copy_pages to staging -> save_state
 *   [-> save_devices] -> postsuspend* -> preresume* -> resume
 *   '------- guest paused: memcpy, no I/O but the driver's -----------'
 *   (the driver's: its hypercalls, and for a guest with a device model
 *   the model's own save over QMP, as libxl's checkpoint does)
 *   -> EPOCH_BEGIN(n) -> encode staging (codec) -> PAGE_BATCH*
 *   -> GUEST_STATE [-> DEVICE_STATE] -> device save* -> EPOCH_END(n)
 *   -> send queue
 *   ... the writer ev_io drains the queue while the next interval runs ...
 *   -> ACK(n) on the back channel -> commit* (netbuf releases epoch n)
 *
 *   epoch 1 (FULL): reset the dirty log, EPOCH_BEGIN(1, FULL), then copy,
 *   encode and queue every page in chunks WHILE THE GUEST RUNS (a chunk is
 *   produced only when the send queue is below a low-water mark, so staging
 *   and queue memory stay bounded), then the paused part above for the
 *   pages dirtied meanwhile, all inside epoch 1: the backup never commits
 *   a torn state.
 *
 *   A session's first epoch is RESYNC instead of FULL when the backup
 *   resumed a replica it kept and sent a hash per page (PAGE_HASHES,
 *   docs/failover.md "Incremental resync"): the same pass, but a page
 *   whose hash matches is not queued; the paused part still sends every
 *   page dirtied since the log was reset, before the hashing.
 *
 * Pre-copy (--precopy, a driver whose dirty log may be read while the
 * guest runs; by default when the last epoch had CKPT_PRECOPY_MIN_PAGES
 * or more): just before the suspend the log is read and cleared and the
 * pages it names are copied while the guest still runs; the paused pass
 * then reads the log again and copies only what was written since -- the
 * pages the pre-copy did not have, and those it had but that were written
 * again (see precopy and take_checkpoint for why that is exact).  On a
 * 1 GiB proc guest this takes the write-protect and the copy of the bulk
 * of an epoch's pages out of the pause; the walk of the page tables stays
 * (bench-epoch, bench/README).  The timer fires early by the pre-copy's
 * mean duration, so the suspend stays on time.
 *
 * The period is measured suspend to suspend.  With --trigger output
 * (Kemari) an epoch is also cut early, as soon as the open epoch holds
 * guest output and a minimum gap since the last suspend has passed (the
 * whole timing: epoch_delay_us, schedule_epoch, epoch_due).  At most one
 * epoch is unacknowledged while the next one runs: if ACK(n) has not
 * arrived when epoch n + 2 would start, the engine waits (and counts the
 * wait), it never queues a second one, because sch_plug holds only one
 * pending epoch.
 *
 * Sessions.  The engine outlives its link: each session is a new stream
 * (header, HELLO; WELCOME, READY) over a new peer, starting with a FULL
 * epoch whose number continues the engine's count (the stream allows any
 * first number; devices see epochs only ever increase).  What happens
 * when the backup is lost, the guest fails, or a signal arrives is not
 * decided here: every such event goes to the primary policy
 * (failover/fo-primary.c, docs/failover.md P1-P6), and the policy acts
 * through the ops at the end of this file (abort the link, release or
 * discard held output, reconnect).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <ev.h>

#define LOG_PREFIX "ckpt: "
#include "checkpoint.h"
#include "codec.h"
#include "compiler.h"
#include "domain.h"
#include "fault.h"
#include "fence.h"
#include "fo-primary.h"
#include "log.h"
#include "peer.h"
#include "resync.h"
#include "stream.h"
#include "transport.h"
#include "util.h"

#define FULL_CHUNK_DEFAULT	1024u		/* pages per full-epoch chunk */
#define QUEUE_LOW_WATER		(8u << 20)	/* produce more below this */
#define HEARTBEAT_MS_MAX	200	/* idle period between HEARTBEATs */
/* Back channel records are small; the biggest is PAGE_HASHES (64 KiB of
 * hashes and its header). */
#define BACK_BUF		(128u << 10)
#define STATE_MAX		(1u << 20)	/* guest state record cap */
_Static_assert(DOMAIN_DEVSTATE_QEMU == STREAM_DEVSTATE_QEMU,
    "domain.h's device state kinds are the stream's");
#define CONFIG_BUF		STREAM_CONFIG_MAX
#define INFLIGHT		4		/* ring; at most 2 in use */
#define STOP_FLUSH_MS		2000
#define FULL_CHUNKS_PER_CALL	16		/* then back to the loop */
#define TIMER_SLACK_US		1500		/* see schedule_epoch */
#define FINE_MIN_US		20		/* see epoch_due */
#define PRECOPY_SLICE		1024		/* pages, then a heartbeat */
#define SWITCHOVER_WAIT_MS	30000	/* for ACTIVATED, beyond T */

/* A planned switchover's progress (ckpt_switchover). */
enum so_state {
	SO_NONE,
	SO_REQUESTED,		/* the next epoch is the final one */
	SO_SENT,		/* final epoch and SWITCHOVER queued; the guest
				 * stays suspended from here on */
	SO_ACKED,		/* ACK(final): its output released */
	SO_UNKNOWN,		/* the answer was lost: suspended, waiting for
				 * ckpt_stop */
};

/* Where the engine is.  The per-epoch states of STYLE V4 are the span of
 * one call to take_checkpoint (SUSPENDED..RESUMED, synchronous) and the
 * inflight ring (SENT, ACKED). */
enum ckpt_phase {
	PHASE_INIT,
	PHASE_IDLE,		/* no session: link aborted, reconnecting */
	PHASE_HANDSHAKE,	/* header sent, waiting for READY */
	PHASE_FULL,		/* epoch 1: pages streamed while running */
	PHASE_RUNNING,		/* periodic epochs */
	PHASE_DONE,
};

static const char *const phase_names[] = {
	[PHASE_INIT] = "INIT", [PHASE_IDLE] = "IDLE",
	[PHASE_HANDSHAKE] = "HANDSHAKE",
	[PHASE_FULL] = "FULL", [PHASE_RUNNING] = "RUNNING",
	[PHASE_DONE] = "DONE",
};

/* One epoch's life (STYLE V4), logged at debug level:
 *   RUNNING -> SUSPENDED -> COPIED -> RESUMED    (take_checkpoint)
 *           -> QUEUED (encoded) -> SENT (last byte written) -> ACKED */
enum epoch_state {
	EPOCH_RUNNING,
	EPOCH_SUSPENDED,
	EPOCH_COPIED,
	EPOCH_RESUMED,
	EPOCH_QUEUED,
	EPOCH_SENT,
	EPOCH_ACKED,
};

static const char *const epoch_state_names[] = {
	[EPOCH_RUNNING] = "RUNNING", [EPOCH_SUSPENDED] = "SUSPENDED",
	[EPOCH_COPIED] = "COPIED", [EPOCH_RESUMED] = "RESUMED",
	[EPOCH_QUEUED] = "QUEUED", [EPOCH_SENT] = "SENT",
	[EPOCH_ACKED] = "ACKED",
};

struct ckpt_dev {
	const struct ckpt_device_ops *ops;
	void		*dev;
};

/* An epoch queued but not yet acknowledged. */
struct inflight {
	enum epoch_state state;
	struct ckpt_epoch_stats st;
	uint64_t	end_off;	/* stream offset just past EPOCH_END */
	uint64_t	queued_us;	/* its bytes entered the queue */
	uint64_t	written_us;	/* its last byte left (0: not yet) */
	int		used;
};

struct ckpt {
	struct ev_loop	*loop;
	const struct domain_ops *dops;
	struct domain	*dom;
	struct domain_info info;
	struct transport *tp;
	struct ckpt_config cfg;
	const char	*guest;

	struct ckpt_dev	*devs;
	size_t		 ndevs;

	struct codec	*codec;
	struct peer	*peer;		/* the link to the backup */
	struct stream_writer *w;	/* its output queue: epochs go here */

	/* Staging: dirty pages copied while paused (and pre-copied). */
	uint64_t	*bitmap;
	size_t		 bitmap_words;
	uint64_t	*pfns;
	uint8_t		*staging;
	size_t		 staging_pages;	/* capacity */
	/* Pre-copy: PRE_N pages copied to staging[0 .. pre_n) before the
	 * suspend, their pfns in pfns[0 .. pre_n) ascending and their bits
	 * in prebitmap; pending until a paused pass took them (a refused
	 * suspend leaves them pending for the next try). */
	int		 precopy;	/* the guest's log allows it, not off */
	int		 precopy_always;	/* --precopy on */
	uint64_t	 last_dirty;	/* pages of the last epoch (auto) */
	uint64_t	*prebitmap;
	uint64_t	 pre_n;
	int		 pre_pending;
	int		 pre_ready;	/* pre-copied for the next suspend:
					 * go to it (cleared if it is refused,
					 * so that the next try reads again) */
	uint64_t	 pre_us;	/* its figures, for the epoch's stats */
	uint64_t	 precopy_avg_us; /* EWMA 1/2: how early to start */
	uint8_t		*state;		/* save_state buffer */
	/* The device model's state of the epoch being sent (the driver's
	 * buffer, DOMAIN_INFO_DEVICE_MODEL): saved while suspended, sent
	 * after the resume. */
	uint32_t	 dev_kind;
	const void	*dev_state;
	size_t		 dev_len;
	uint8_t		*dev_packed;	/* its LZ4 form (codec_blob_pack) */
	size_t		 dev_packed_cap;

	struct ckpt_timing timing;	/* agreed in the handshake (WELCOME) */
	uint32_t	 hb_ms;		/* H we propose */

	enum ckpt_phase	 phase;
	uint64_t	 epoch;		/* last epoch begun */
	uint64_t	 acked;		/* last epoch acknowledged */
	uint64_t	 last_ack_us;	/* when (ckpt_get_info) */
	uint64_t	 last_suspend_us;
	uint64_t	 full_next;	/* next pfn of the full copy */
	uint64_t	 full_pages;	/* pages the first epoch sent so far */
	uint64_t	 full_raw, full_start_us, full_q0;
	/* Incremental resync (the backup resumed a replica and sent its page
	 * hashes): the first epoch sends only pages whose hash differs. */
	int		 resync;
	uint8_t		*rhash;		/* nr_pages * STREAM_HASH_LEN */
	uint64_t	 rhash_n;	/* hashes received this session */
	uint64_t	 first_epoch;	/* the session's first, for its log */
	uint64_t	 session_us;	/* when the session was opened */
	int		 waiting;	/* epoch due, blocked on an ACK */
	uint64_t	 wait_start_us;
	uint64_t	 waits, wait_us;	/* for the next epoch's stats */
	int		 suspended;	/* we hold the guest paused */
	/* --trigger output: epoch numbers are those of the open epoch
	 * (c->epoch + 1), so a value from an earlier epoch is stale. */
	uint64_t	 output_epoch;	/* it holds output (a device said) */
	uint64_t	 watch_epoch;	/* the devices watch it for output */
	uint64_t	 pause_avg_us;	/* mean pause (EWMA 1/8), for the gap */
	uint64_t	 gap_us;	/* current minimum gap */
	struct inflight	 infl[INFLIGHT];

	ev_timer	 epoch_timer;
	/* The last stretch before a suspend, to the microsecond: the
	 * loop's own timers fire up to 1 ms late (its poll counts whole
	 * milliseconds), and sleeping that off would block the loop:
	 * ACKs and held packets would wait too. */
	int		 fine_fd;	/* timerfd, CLOCK_MONOTONIC */
	ev_io		 fine_io;
	ev_idle		 pump_idle;	/* full epoch on a never-blocking fd */
	struct fo_primary fo;		/* the failover policy (P1-P6) */
	ev_timer	 fo_timer;	/* its ops->arm */
	struct fence	*fence;		/* --fence-backup, or NULL */
	struct transport rtp;		/* reconnects' transport */
	ckpt_connect_fn	*connect;
	void		*connect_arg;
	int		 stopping;	/* ckpt_stop while output is held */
	int		 ever_protected;
	/* Devices released output (P3): the next session must hold it
	 * again (reprotect) before its first epoch. */
	int		 released;

	struct {
		enum so_state	 state;
		ckpt_switchover_fn *fn;	/* until called */
		void		*arg;
		uint64_t	 epoch;		/* the final one */
		uint64_t	 suspend_us;	/* its suspend: downtime from */
		ev_timer	 deadline;	/* for ACTIVATED */
		int		 have_cookie;	/* prepared: COOKIE first */
		uint8_t		 cookie[STREAM_COOKIE_LEN];
	} so;

	enum ckpt_result result;
	ckpt_stats_fn	*stats_cb;
	ckpt_done_fn	*done_cb;
	void		*cb_arg;
};

static void	finish(struct ckpt *, enum ckpt_result);
static int	lost(struct ckpt *, const char *);
static void	guest_failed(struct ckpt *, const char *);
static void	op_abort_link(void *);
static void	devices_release_all(struct ckpt *);
static void	settle(struct ckpt *);
static int	flush_queue(struct ckpt *);
static void	schedule_epoch(struct ckpt *);
static void	full_pump(struct ckpt *);
static int	switchover_queue(struct ckpt *, uint64_t epoch);
static void	switchover_unknown(struct ckpt *, const char *why);
static void	switchover_refused(struct ckpt *, const char *why);
static void	switchover_activated(struct ckpt *, uint64_t epoch);
static void	switchover_report(struct ckpt *, int ok, const char *why);

/* ---- Small helpers ------------------------------------------------- */

uint64_t
ckpt_next_delay_us(uint64_t last_suspend_us, uint32_t interval_ms,
    uint64_t now)
{
	uint64_t due;

	if (last_suspend_us == 0)
		return 0;
	due = last_suspend_us + (uint64_t)interval_ms * 1000;
	return now >= due ? 0 : due - now;
}

uint64_t
ckpt_output_gap_us(uint64_t pause_us, uint32_t max_paused_pct,
    uint32_t max_rate_hz, uint32_t interval_ms)
{
	uint64_t gap = 1000000u / (max_rate_hz ? max_rate_hz : 1);
	uint64_t share = max_paused_pct ? max_paused_pct : 1;

	/* pause / period <= pct / 100  <=>  period >= pause * 100 / pct */
	if (pause_us * 100 / share > gap)
		gap = pause_us * 100 / share;
	if (gap > (uint64_t)interval_ms * 1000)
		gap = (uint64_t)interval_ms * 1000;
	return gap;
}

static void
set_phase(struct ckpt *c, enum ckpt_phase to)
{
	log_debug("epoch %" PRIu64 ": engine %s -> %s", c->epoch,
	    phase_names[c->phase], phase_names[to]);
	c->phase = to;
}

static void
epoch_state(uint64_t epoch, enum epoch_state *cur, enum epoch_state to)
{
	log_debug("epoch %" PRIu64 ": state change %s -> %s, reason: %s",
	    epoch, epoch_state_names[*cur], epoch_state_names[to],
	    to == EPOCH_ACKED ? "ACK" : "engine");
	*cur = to;
}

static struct inflight *
inflight_get(struct ckpt *c, uint64_t epoch)
{
	struct inflight *f = &c->infl[epoch % INFLIGHT];

	return f->used && f->st.epoch == epoch ? f : NULL;
}

/* A session is under way (the link is open, epochs may flow). */
static int
live(const struct ckpt *c)
{
	return c->phase == PHASE_HANDSHAKE || c->phase == PHASE_FULL ||
	    c->phase == PHASE_RUNNING;
}

/* The backup is lost (P1): the policy decides what follows. */
static int
lost(struct ckpt *c, const char *what)
{
	if (!live(c))
		return 0;
	if (c->so.state >= SO_SENT) {
		/* The backup may be activating: never resume here. */
		switchover_unknown(c, what);
		return 0;
	}
	if (!c->ever_protected) {
		/* The first backup never answered: there was no protection
		 * to lose and nothing for the policy to decide.  One line,
		 * exit 3, as for a refused connect. */
		log_warnx("backup %s: handshake failed: %s", c->tp->desc, what);
		op_abort_link(c);
		devices_release_all(c);
		finish(c, CKPT_HANDSHAKE_FAILED);
		return 0;
	}
	log_warnx("backup %s lost: %s (last acknowledged epoch %" PRIu64 ")",
	    c->tp->desc, what, c->acked);
	fo_primary_lost(&c->fo, now_us() / 1000, what);
	settle(c);
	return 0;
}

/* The guest failed here (P5): its held output never leaves. */
static void
guest_failed(struct ckpt *c, const char *why)
{
	fo_primary_guest_failed(&c->fo, now_us() / 1000, why);
	settle(c);
}

/* Grow the staging area to N pages, keeping what it holds (the paused
 * pass appends to the pre-copied pages).  mmap so that a big first dirty
 * epoch does not fault in memory it never touches again. */
static int
staging_reserve(struct ckpt *c, size_t n)
{
	size_t ps = c->info.page_size;
	void *p;

	if (n <= c->staging_pages)
		return 0;
	n = ALIGN_UP(n, (size_t)256);
	if (n > c->info.nr_pages)
		n = c->info.nr_pages;
	if (c->staging)
		p = mremap(c->staging, c->staging_pages * ps, n * ps,
		    MREMAP_MAYMOVE);
	else
		p = mmap(NULL, n * ps, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_warn("staging: %zu pages", n);
		return -1;
	}
	c->staging = p;
	c->staging_pages = n;
	return 0;
}

/* The pfns of the bits of BITMAP into OUT, ascending; their count.  Bits
 * past the guest's last page are ignored (trust the bitmap, not a
 * driver's count). */
static uint64_t
bitmap_pfns(const struct ckpt *c, const uint64_t *bitmap, uint64_t *out)
{
	uint64_t n = 0, i;
	size_t w;

	for (w = 0; w < c->bitmap_words; w++) {
		uint64_t bits = bitmap[w];

		while (bits) {
			i = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (i < c->info.nr_pages)
				out[n++] = i;
		}
	}
	return n;
}

/* Where pre-copied page PFN sits in staging: its index in pfns[0 ..
 * pre_n), which is ascending and holds it. */
static uint64_t
precopy_slot(const struct ckpt *c, uint64_t pfn)
{
	uint64_t lo = 0, hi = c->pre_n;

	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (c->pfns[mid] <= pfn)
			lo = mid;
		else
			hi = mid;
	}
	assert(c->pfns[lo] == pfn);
	return lo;
}

/* Whether the next periodic epoch pre-copies: --precopy on, or auto and
 * the last epoch had enough pages for it to matter. */
static int
want_precopy(const struct ckpt *c)
{
	return c->precopy && (c->precopy_always ||
	    c->last_dirty >= CKPT_PRECOPY_MIN_PAGES);
}

/* How long before the suspend the epoch timer fires, for a pre-copy still
 * to run: its recent duration, at most a quarter of the interval. */
static uint64_t
precopy_lead_us(const struct ckpt *c)
{
	uint64_t cap = (uint64_t)c->cfg.interval_ms * 250;

	if (!want_precopy(c) || c->pre_ready)
		return 0;
	return c->precopy_avg_us < cap ? c->precopy_avg_us : cap;
}

static int
devices_hook(struct ckpt *c, const char *hook, uint64_t epoch)
{
	size_t i;
	int rc;

	for (i = 0; i < c->ndevs; i++) {
		const struct ckpt_device_ops *o = c->devs[i].ops;
		int (*fn)(void *, uint64_t) = NULL;

		if (strcmp(hook, "postsuspend") == 0)
			fn = o->postsuspend;
		else if (strcmp(hook, "preresume") == 0)
			fn = o->preresume;
		else if (strcmp(hook, "commit") == 0)
			fn = o->commit;
		if (fn == NULL)
			continue;
		rc = fn(c->devs[i].dev, epoch);
		if (rc == -1) {
			log_warn("epoch %" PRIu64 ": device %s: %s failed",
			    epoch, o->name, hook);
			return -1;
		}
	}
	return 0;
}

static void
devices_release_all(struct ckpt *c)
{
	size_t i;

	for (i = 0; i < c->ndevs; i++)
		if (c->devs[i].ops->release_all)
			c->devs[i].ops->release_all(c->devs[i].dev);
	c->released = 1;
}

/* The device that cannot hold output again after a release, or NULL. */
static const struct ckpt_device_ops *
device_cannot_reprotect(const struct ckpt *c)
{
	size_t i;

	for (i = 0; i < c->ndevs; i++)
		if (c->devs[i].ops->reprotect == NULL)
			return c->devs[i].ops;
	return NULL;
}

/* A new session after a release: every device holds output again before
 * its first epoch EPOCH begins, so what the guest sends from now on
 * leaves only on ACK(EPOCH) or later.  All or nothing: on a failure the
 * devices reprotected so far are released again by the caller. */
static int
devices_reprotect(struct ckpt *c, uint64_t epoch)
{
	size_t i;

	for (i = 0; i < c->ndevs; i++) {
		const struct ckpt_device_ops *o = c->devs[i].ops;

		if (o->reprotect == NULL) {
			errno = EOPNOTSUPP;
			log_warnx("%s: %s", o->name, o->no_reprotect ?
			    o->no_reprotect : "cannot hold output again");
			return -1;
		}
		if (o->reprotect(c->devs[i].dev, epoch) == -1) {
			log_warn("epoch %" PRIu64 ": device %s: reprotect "
			    "failed", epoch, o->name);
			return -1;
		}
	}
	c->released = 0;
	return 0;
}

/* The guest failed here: what it produced since the last ACK is output of
 * state that only this host had.  Drop it (devices that cannot drop,
 * release). */
static void
devices_discard_all(struct ckpt *c)
{
	size_t i;

	for (i = 0; i < c->ndevs; i++)
		if (c->devs[i].ops->discard_all)
			c->devs[i].ops->discard_all(c->devs[i].dev);
		else if (c->devs[i].ops->release_all)
			c->devs[i].ops->release_all(c->devs[i].dev);
}

/* Add one page to the open epoch, encoding straight into the writer. */
static int
queue_page(struct ckpt *c, uint64_t pfn, const void *src)
{
	uint32_t len;
	uint16_t enc;
	void *dst;

	dst = stream_write_page_reserve(c->w, c->info.page_size);
	if (dst == NULL)
		return -1;
	if (codec_encode(c->codec, pfn, src, dst, &len, &enc) == -1)
		return -1;
	return stream_write_page_commit(c->w, pfn, enc, len);
}

/* The guest shut itself down (poweroff, reboot) at the suspend that
 * would have begun EPOCH.  That is its owner's decision, not a lost host:
 * the backup must not start its copy.  END says so.  Output held since the
 * last checkpoint came from the only copy that will ever run, so it is
 * released, not dropped.  During the full epoch 1 nothing is committed on
 * the backup, so closing the stream (no END possible mid-epoch) is as
 * safe. */
static void
guest_shut_down(struct ckpt *c, uint64_t epoch)
{
	c->epoch = epoch - 1;
	if (c->phase == PHASE_RUNNING && !c->w->in_epoch) {
		log_info("guest shut down after epoch %" PRIu64 ": protection "
		    "ended, END sent (the backup does not start its copy)",
		    c->epoch);
		if (stream_write_ctl(c->w, STREAM_REC_END, c->epoch) == 0)
			peer_flush_blocking(c->peer, STOP_FLUSH_MS);
	} else
		log_info("guest shut down during epoch %" PRIu64 ": protection "
		    "ended", epoch);
	devices_release_all(c);
	fo_primary_stop(&c->fo, now_us() / 1000);
	finish(c, CKPT_GUEST_SHUTDOWN);
}

/* ---- The paused part of an epoch ----------------------------------- */

/* The pre-copy, the guest running: read and clear the dirty log and copy
 * the pages it names to staging.  Exact because the driver's read and
 * clear are one step per page (DOMAIN_INFO_LIVE_DIRTY_LOG): a page is
 * copied only after its log entry was cleared, so a write to it that the
 * copy may have missed (or torn) lands after the clear and shows in the
 * paused pass's log, which copies the page again; a page that log does
 * not name was not written since its clear, so its copy is what it holds
 * at the suspend.  Pages first written after the pre-copy read the log
 * are in the paused pass's log too.  So the pages of the pre-copy and of
 * the paused pass together are every page written since the last paused
 * pass, each with its content at the suspend.
 *
 * A pre-copy whose suspend was refused (SKIPPED) stays pending: its pages
 * are cleared from the log, so the next pre-copy adds what it reads to
 * them and copies them all again (their old copies may be stale), or,
 * without one (auto), the paused pass takes them as they are: those
 * written since their copy are in its log, as above.
 *
 * The callers return to the loop between the pre-copy and the suspend
 * (pre_ready): the link's heartbeats and reads go on, so that the two
 * together never hold the loop as long as one did, and the timer brings
 * the suspend back to its due time.  0, or -1 (result already set).  A
 * failed pre-copy ends the session (a guest failure, a lost link, no
 * memory): the log entries it cleared are not lost, because the next
 * session starts with a full epoch (full_begin drops the pending one). */
static int
precopy(struct ckpt *c, uint64_t epoch)
{
	uint64_t t0 = now_us(), t1, count = 0, n, i, k;
	size_t w;

	/* A pause of ours: the backup hears from us first. */
	if (c->peer && peer_heartbeat(c->peer, 1) == -1)
		return -1;
	if (!c->pre_pending)
		memset(c->prebitmap, 0, c->bitmap_words * sizeof *c->prebitmap);
	c->pre_pending = 1;
	c->pre_n = 0;
	memset(c->bitmap, 0, c->bitmap_words * sizeof *c->bitmap);
	if (c->dops->dirty_read_clear(c->dom, c->bitmap, &count) == -1) {
		log_warn("epoch %" PRIu64 ": dirty log (pre-copy)", epoch);
		guest_failed(c, "dirty log failed");
		return -1;
	}
	t1 = now_us();
	for (w = 0; w < c->bitmap_words; w++)
		c->prebitmap[w] |= c->bitmap[w];
	n = bitmap_pfns(c, c->prebitmap, c->pfns);
	if (staging_reserve(c, n) == -1) {
		finish(c, CKPT_INTERNAL);
		return -1;
	}
	/* In slices, with the link's heartbeat between them: a big first
	 * pre-copy into staging that grew (its first touch faults) takes
	 * long, and the backup must hear from us meanwhile. */
	for (i = 0; i < n; i += k) {
		k = n - i < PRECOPY_SLICE ? n - i : PRECOPY_SLICE;
		if (c->dops->copy_pages(c->dom, c->pfns + i, k,
		    c->staging + i * c->info.page_size) == -1) {
			log_warn("epoch %" PRIu64 ": pre-copy %" PRIu64
			    " pages", epoch, n);
			guest_failed(c, "page copy failed");
			return -1;
		}
		if (c->peer && peer_heartbeat(c->peer, 0) == -1)
			return -1;	/* the link is lost: reported */
	}
	c->pre_n = n;
	c->pre_ready = 1;
	c->pre_us = now_us() - t0;
	log_debug("epoch %" PRIu64 ": pre-copied %" PRIu64 " pages in %"
	    PRIu64 " us (dirty log %" PRIu64 " us)", epoch, n, c->pre_us,
	    t1 - t0);
	if (fault_injected_epoch(FI_PRECOPY_SLOW, epoch)) {
		/* The guest writes on meanwhile, to pages just copied too. */
		log_debug("epoch %" PRIu64 ": fault precopy-slow", epoch);
		usleep(20000);
	}
	return 0;
}

/* The paused pass after a pre-copy: the pages of the log just read
 * (c->bitmap) that the pre-copy had are copied again in their staging
 * slots, the others appended to pfns and staging after its pages.  The
 * epoch's pages are then pfns[0 .. n), each once.  Returns n, or -1
 * (errno set, the caller fails the guest) or -2 (result set). */
static int64_t
recopy(struct ckpt *c, struct ckpt_epoch_stats *st)
{
	size_t ps = c->info.page_size;
	uint64_t n = c->pre_n, rs = 0, rn = 0, slot, p, nre = 0;
	size_t w;

	for (w = 0; w < c->bitmap_words; w++) {
		uint64_t bits = c->bitmap[w];

		while (bits) {
			p = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (p >= c->info.nr_pages)
				continue;
			if (!(c->prebitmap[w] & (1ull << (p % 64)))) {
				c->pfns[n++] = p;
				continue;
			}
			/* Written again: copy it again, in runs of
			 * neighbouring slots. */
			nre++;
			slot = precopy_slot(c, p);
			if (rn && slot == rs + rn) {
				rn++;
				continue;
			}
			if (rn && c->dops->copy_pages(c->dom, c->pfns + rs,
			    rn, c->staging + rs * ps) == -1)
				return -1;
			rs = slot;
			rn = 1;
		}
	}
	if (rn && c->dops->copy_pages(c->dom, c->pfns + rs, rn,
	    c->staging + rs * ps) == -1)
		return -1;
	if (staging_reserve(c, n) == -1) {
		finish(c, CKPT_INTERNAL);
		return -2;
	}
	if (n > c->pre_n && c->dops->copy_pages(c->dom, c->pfns + c->pre_n,
	    n - c->pre_n, c->staging + c->pre_n * ps) == -1)
		return -1;
	st->recopy_pages = nre;
	return (int64_t)n;
}

/* Suspend, read and clear the dirty log, copy dirty pages to staging (only
 * what was written since, after a pre-copy), run the device hooks,
 * resume.  Returns the number of dirty pages, -1 (result already set), or
 * SKIPPED: the guest did not take the suspend request (busy, or shutting
 * down), nothing was suspended, try again later (a pending pre-copy is
 * then read again first).  Nothing here does I/O but the driver's. */
#define SKIPPED		(-2)
static int64_t
take_checkpoint(struct ckpt *c, uint64_t epoch, struct ckpt_epoch_stats *st,
    size_t *state_len)
{
	enum epoch_state es = EPOCH_RUNNING;
	const char *why;
	uint64_t t0, t1, count = 0, n;
	int64_t rn;

	c->pre_ready = 0;
	t0 = now_us();
	if (c->dops->suspend(c->dom) == -1) {
		if (errno == ESHUTDOWN) {
			guest_shut_down(c, epoch);
			return -1;
		}
		if (errno == EAGAIN) {
			/* The driver said why; the period restarts here. */
			c->last_suspend_us = t0;
			return SKIPPED;
		}
		log_warn("epoch %" PRIu64 ": suspend failed", epoch);
		why = "suspend failed";
		goto guest_err;
	}
	c->suspended = 1;
	epoch_state(epoch, &es, EPOCH_SUSPENDED);
	t1 = now_us();
	st->suspend_us = t1 - t0;
	st->start_us = t0;
	st->period_us = c->last_suspend_us ? t0 - c->last_suspend_us : 0;
	c->last_suspend_us = t0;

	memset(c->bitmap, 0, c->bitmap_words * sizeof *c->bitmap);
	if (c->dops->dirty_read_clear(c->dom, c->bitmap, &count) == -1) {
		log_warn("epoch %" PRIu64 ": dirty log", epoch);
		why = "dirty log failed";
		goto guest_err;
	}
	st->dirtylog_us = now_us() - t1;
	t1 = now_us();
	if (c->pre_pending) {
		rn = recopy(c, st);
		if (rn == -2)
			return -1;
		if (rn == -1) {
			log_warn("epoch %" PRIu64 ": copy after the pre-copy",
			    epoch);
			why = "page copy failed";
			goto guest_err;
		}
		n = (uint64_t)rn;
		c->pre_pending = 0;
		st->precopy_us = c->pre_us;
		st->precopy_pages = c->pre_n;
	} else {
		n = bitmap_pfns(c, c->bitmap, c->pfns);
		if (staging_reserve(c, n) == -1) {
			finish(c, CKPT_INTERNAL);
			return -1;
		}
		if (n && c->dops->copy_pages(c->dom, c->pfns, n,
		    c->staging) == -1) {
			log_warn("epoch %" PRIu64 ": copy %" PRIu64 " pages",
			    epoch, n);
			why = "page copy failed";
			goto guest_err;
		}
	}
	st->copy_us = now_us() - t1;
	epoch_state(epoch, &es, EPOCH_COPIED);
	t1 = now_us();
	*state_len = STATE_MAX;
	if (c->dops->save_state == NULL)
		*state_len = 0;
	else if (c->dops->save_state(c->dom, c->state, state_len) == -1) {
		log_warn("epoch %" PRIu64 ": guest state", epoch);
		why = "guest state failed";
		goto guest_err;
	}
	if ((c->info.flags & DOMAIN_INFO_DEVICE_MODEL) &&
	    (c->dops->save_devices(c->dom, &c->dev_kind, &c->dev_state,
	    &c->dev_len) == -1 || c->dev_len == 0 ||
	    c->dev_len > STREAM_REC_LENGTH_MAX -
	    sizeof(struct stream_device_state))) {
		log_warn("epoch %" PRIu64 ": device model state (%zu bytes)",
		    epoch, c->dev_len);
		why = "device model state failed";
		goto guest_err;
	}
	st->state_us = now_us() - t1;
	if (devices_hook(c, "postsuspend", epoch) == -1 ||
	    devices_hook(c, "preresume", epoch) == -1) {
		lost(c, "device hook failed");
		return -1;
	}
	/* The pause ends when the guest is told to run: measured here,
	 * because waking it may hand it this CPU before resume returns. */
	st->pause_us = now_us() - t0;
	if (c->so.state == SO_REQUESTED) {
		/* The final epoch: the guest next runs on the backup. */
		c->so.suspend_us = t0;
		st->dirty_pages += n;
		st->raw_bytes += n * c->info.page_size;
		return (int64_t)n;
	}
	t1 = now_us();
	if (c->dops->resume(c->dom) == -1) {
		log_warn("epoch %" PRIu64 ": resume failed", epoch);
		c->suspended = 0;
		why = "resume failed";
		goto guest_err;
	}
	st->resume_us = now_us() - t1;
	c->suspended = 0;
	epoch_state(epoch, &es, EPOCH_RESUMED);
	st->dirty_pages += n;
	st->raw_bytes += n * c->info.page_size;
	return (int64_t)n;
guest_err:
	guest_failed(c, why);
	return -1;
}

/* The epoch's device model state, packed when that is smaller (QEMU's
 * is mostly zeros: 200 KB with an e1000 packs to a few KB), else -- or
 * with compression off (remus -u) -- as it is.  Packed here, after the
 * resume, so that the pause does not pay for it. */
static int
send_devices(struct ckpt *c, uint64_t epoch)
{
	size_t n = 0, bound = codec_blob_bound(c->dev_len);
	int bad = fault_injected_epoch(FI_DEVSTATE_BAD_LZ4, epoch);
	int packed = (c->cfg.compress || bad) && bound != 0 &&
	    buf_reserve(&c->dev_packed, &c->dev_packed_cap, bound) == 0 &&
	    codec_blob_pack(c->dev_state, c->dev_len, c->dev_packed,
	    &n) == 0;

	if (bad) {
		/* Half of the packed block: the record well framed, the
		 * block cut short, so that LZ4 cannot decode it. */
		if (!packed)
			return -1;
		log_info("epoch %" PRIu64 ": fault devstate-bad-lz4: device "
		    "state sent as half an LZ4 block", epoch);
		return stream_write_device_state(c->w, c->dev_kind,
		    STREAM_DEVSTATE_LZ4, c->dev_packed, (uint32_t)(n / 2));
	}
	if (packed && n < c->dev_len)
		return stream_write_device_state(c->w, c->dev_kind,
		    STREAM_DEVSTATE_LZ4, c->dev_packed, (uint32_t)n);
	return stream_write_device_state(c->w, c->dev_kind,
	    STREAM_DEVSTATE_RAW, c->dev_state, (uint32_t)c->dev_len);
}

/* After resume: encode the staged pages and close epoch EPOCH. */
static int
queue_epoch_tail(struct ckpt *c, uint64_t epoch, uint64_t n,
    size_t state_len)
{
	size_t ps = c->info.page_size, i;

	for (i = 0; i < n; i++)
		if (queue_page(c, c->pfns[i], c->staging + i * ps) == -1)
			goto err;
	if (state_len && stream_write_blob(c->w, STREAM_REC_GUEST_STATE,
	    c->state, (uint32_t)state_len) == -1)
		goto err;
	if ((c->info.flags & DOMAIN_INFO_DEVICE_MODEL) &&
	    send_devices(c, epoch) == -1)
		goto err;
	for (i = 0; i < c->ndevs; i++) {
		const struct ckpt_device_ops *o = c->devs[i].ops;

		if (o->save && o->save(c->devs[i].dev, epoch, c->w) == -1) {
			log_warn("epoch %" PRIu64 ": device %s: save", epoch,
			    o->name);
			lost(c, "device save failed");
			return -1;
		}
	}
	if (stream_write_epoch_end(c->w) == -1)
		goto err;
	return 0;
err:
	log_warn("epoch %" PRIu64 ": encode", epoch);
	finish(c, CKPT_INTERNAL);
	return -1;
}

/* Fault injection: damage epoch EPOCH's bytes in the queue. */
static void
inject_faults(struct ckpt *c, uint64_t epoch, size_t off0)
{
	size_t ready = stream_writer_ready(c->w);

	if (fault_injected_epoch(FI_STREAM_CORRUPT, epoch) && ready > off0) {
		size_t at = off0 + (ready - off0) / 2;

		c->w->buf[at] ^= 0x5a;
		log_info("epoch %" PRIu64 ": fault stream-corrupt: flipped "
		    "stream byte %" PRIu64, epoch,
		    peer_queued(c->peer) - (ready - at));
	}
	if (fault_injected_epoch(FI_STREAM_TRUNCATE, epoch) && ready > off0) {
		log_info("epoch %" PRIu64 ": fault stream-truncate: "
		    "exiting mid-epoch", epoch);
		/* Send half the epoch, then vanish as a crash would. */
		peer_flush_prefix(c->peer, off0 + (ready - off0) / 2 -
		    (ready - peer_backlog(c->peer)));
		_exit(5);
	}
}

static void
epoch_queued(struct ckpt *c, uint64_t epoch, struct ckpt_epoch_stats *st,
    uint64_t q0, uint64_t t_enc)
{
	struct inflight *f = &c->infl[epoch % INFLIGHT];

	assert(!f->used);
	memset(f, 0, sizeof *f);
	f->used = 1;
	f->state = EPOCH_RESUMED;
	epoch_state(epoch, &f->state, EPOCH_QUEUED);
	f->st = *st;
	f->st.epoch = epoch;
	f->st.wire_bytes = peer_queued(c->peer) - q0;
	f->st.encode_us = now_us() - t_enc;
	f->end_off = peer_queued(c->peer);
	f->queued_us = t_enc;
	log_debug("epoch %" PRIu64 ": queued, %" PRIu64 " pages, %" PRIu64
	    " bytes", epoch, st->dirty_pages, f->st.wire_bytes);
}

/* --trigger output: arm (FN non-NULL) or disarm every device's output
 * watch for the open epoch.  1 if a device holds output of it already, 0
 * otherwise.  A device whose watch fails no longer triggers: the
 * interval still cuts its epochs, so that is logged once, not fatal. */
static void	output_cb(void *);

static int
devices_output_watch(struct ckpt *c, int arm)
{
	size_t i;
	int pending = 0, rc;

	for (i = 0; i < c->ndevs; i++) {
		const struct ckpt_device_ops *o = c->devs[i].ops;

		if (o->output_watch == NULL)
			continue;
		rc = o->output_watch(c->devs[i].dev, arm ? output_cb : NULL,
		    c);
		if (rc == -1)
			log_warnx_once("device %s: output watch failed (%s): "
			    "its output waits for the interval", o->name,
			    strerror(errno));
		else if (rc == 1)
			pending = 1;
	}
	return pending;
}

/* A device: the open epoch holds output now. */
static void
output_cb(void *arg)
{
	struct ckpt *c = arg;

	if (c->watch_epoch != c->epoch + 1)
		return;		/* armed for an epoch that is closed */
	c->watch_epoch = 0;
	c->output_epoch = c->epoch + 1;
	if (!c->waiting)
		schedule_epoch(c);	/* ack_received restarts a waiting one */
}

/* One periodic epoch, from the timer. */
static void
epoch_run(struct ckpt *c)
{
	struct ckpt_epoch_stats st;
	uint64_t epoch = c->epoch + 1, q0, t_enc;
	size_t state_len = 0, off0;
	int64_t n;

	memset(&st, 0, sizeof st);
	st.waits = c->waits;
	st.wait_us = c->wait_us;
	c->waits = c->wait_us = 0;
	st.trigger = c->output_epoch == epoch ? CKPT_TRIGGER_OUTPUT :
	    CKPT_TRIGGER_INTERVAL;
	if (c->watch_epoch == epoch) {
		/* Cut by the interval while watching: postsuspend ends the
		 * watch in the device too, but say so before. */
		(void)devices_output_watch(c, 0);
		c->watch_epoch = 0;
	}
	c->epoch = epoch;

	/* The guest may take a while to reach its safe point, and nothing
	 * goes out meanwhile: restart the backup's silence timer now. */
	if (peer_heartbeat(c->peer, 1) == -1)
		return;
	n = take_checkpoint(c, epoch, &st, &state_len);
	if (n == SKIPPED) {
		c->epoch = epoch - 1;
		schedule_epoch(c);	/* a pending pre-copy stays */
		return;
	}
	if (n < 0)
		return;
	c->last_dirty = (uint64_t)n;
	/* The next gap keeps the mean pause under --max-paused-pct. */
	c->pause_avg_us = c->pause_avg_us ?
	    (7 * c->pause_avg_us + st.pause_us) / 8 : st.pause_us;
	if (st.precopy_us)
		c->precopy_avg_us = c->precopy_avg_us ?
		    (c->precopy_avg_us + st.precopy_us) / 2 : st.precopy_us;
	c->gap_us = ckpt_output_gap_us(c->pause_avg_us, c->cfg.max_paused_pct,
	    c->cfg.max_rate_hz, c->cfg.interval_ms);
	/* The guest runs again: from here on, encode and queue. */
	q0 = peer_queued(c->peer);
	off0 = stream_writer_ready(c->w);
	t_enc = now_us();
	if (stream_write_epoch_begin(c->w, epoch, 0) == -1) {
		log_warn("epoch %" PRIu64 ": begin", epoch);
		finish(c, CKPT_INTERNAL);
		return;
	}
	if (queue_epoch_tail(c, epoch, (uint64_t)n, state_len) == -1)
		return;
	inject_faults(c, epoch, off0);
	epoch_queued(c, epoch, &st, q0, t_enc);
	if (c->so.state == SO_REQUESTED && switchover_queue(c, epoch) == -1)
		return;
	if (flush_queue(c) == -1)
		return;
	schedule_epoch(c);
}

/* Microseconds from NOW until the next suspend: the interval after the
 * last one, or with --trigger output and output held in the open epoch,
 * the gap after it.  *GAP_CHECK: the gap comes before the interval but
 * no output is known yet (the timer then arms the devices' watch). */
static uint64_t
epoch_delay_us(const struct ckpt *c, uint64_t now, int *gap_check)
{
	uint64_t left = ckpt_next_delay_us(c->last_suspend_us,
	    c->cfg.interval_ms, now), gap_at;

	*gap_check = 0;
	if (c->cfg.trigger != CKPT_TRIGGER_OUTPUT || c->last_suspend_us == 0 ||
	    c->gap_us >= (uint64_t)c->cfg.interval_ms * 1000)
		return left;
	gap_at = c->last_suspend_us + c->gap_us;
	if (c->output_epoch == c->epoch + 1)
		return now >= gap_at ? 0 : gap_at - now;
	if (c->watch_epoch != c->epoch + 1) {
		*gap_check = 1;
		return now >= gap_at ? 0 : gap_at - now;
	}
	return left;
}

/* Disarm both epoch timers. */
static void
epoch_timer_stop(struct ckpt *c)
{
	static const struct itimerspec off;

	ev_timer_stop(c->loop, &c->epoch_timer);
	if (ev_is_active(&c->fine_io)) {
		ev_io_stop(c->loop, &c->fine_io);
		(void)timerfd_settime(c->fine_fd, 0, &off, NULL);
	}
}

/* Run epoch_due again in US microseconds (> 0), to the microsecond. */
static int
epoch_timer_fine(struct ckpt *c, uint64_t us)
{
	struct itimerspec its = { .it_value = {
		.tv_sec = (time_t)(us / 1000000),
		.tv_nsec = (long)(us % 1000000) * 1000 } };

	if (c->fine_fd == -1 || timerfd_settime(c->fine_fd, 0, &its,
	    NULL) == -1)
		return -1;
	ev_io_start(c->loop, &c->fine_io);
	return 0;
}

/* Arm the epoch timer for the next suspend (suspend-to-suspend), or with
 * --trigger output for the gap, to watch for output from then on.
 * Watching only after the gap costs nothing where a device must poll
 * (sch_plug), and an epoch cannot be cut before it anyway. */
static void
schedule_epoch(struct ckpt *c)
{
	uint64_t delay, lead;
	int gap_check;

	if (c->phase != PHASE_RUNNING || c->so.state >= SO_SENT)
		return;
	/* ev_timer counts from the loop's cached time, which is stale
	 * after a long epoch: refresh it or the period shrinks. */
	ev_now_update(c->loop);
	delay = epoch_delay_us(c, now_us(), &gap_check);
	/* The loop's poll rounds its timeout up to whole milliseconds, so
	 * a timer fires up to 1 ms late: aim early, epoch_due waits out
	 * the rest on the fine timer.  The pre-copy runs before the
	 * suspend: earlier still by its length. */
	lead = TIMER_SLACK_US + precopy_lead_us(c);
	delay = delay > lead ? delay - lead : 0;
	epoch_timer_stop(c);
	ev_timer_set(&c->epoch_timer, delay / 1e6, 0.);
	ev_timer_start(c->loop, &c->epoch_timer);
}

/* The timer fired: run epoch n + 1 unless ACK(n - 1) is still missing. */
static void
epoch_due(struct ckpt *c)
{
	uint64_t left, lead = precopy_lead_us(c);
	int gap_check;

	if (c->phase != PHASE_RUNNING || c->so.state >= SO_SENT)
		return;
	left = epoch_delay_us(c, now_us(), &gap_check);
	if (c->so.state == SO_REQUESTED)	/* the final epoch: now */
		left = gap_check = 0;
	if (left > lead + TIMER_SLACK_US + 500) {
		schedule_epoch(c);	/* woke far too early */
		return;
	}
	if (gap_check) {
		/* The gap passed: from now on, output cuts the epoch. */
		c->watch_epoch = c->epoch + 1;
		if (devices_output_watch(c, 1)) {
			c->watch_epoch = 0;
			c->output_epoch = c->epoch + 1;
		}
		if (c->output_epoch != c->epoch + 1) {
			schedule_epoch(c);	/* the interval, or output */
			return;
		}
	}
	/* The rest, until the pre-copy is due (the suspend, without
	 * one), on the fine timer: the loop goes on meanwhile (an ACK or a
	 * held packet is not kept waiting behind a sleep).  A few
	 * microseconds are not worth a round through the loop. */
	if (left > lead + FINE_MIN_US && !c->waiting) {
		epoch_timer_stop(c);
		if (epoch_timer_fine(c, left - lead) == 0)
			return;
		usleep((useconds_t)(left - lead));	/* no timerfd */
	}
	if (c->epoch >= c->acked + 2) {
		/* Two unacknowledged epochs would follow: wait for the ACK
		 * (ack_received reschedules us). */
		if (!c->waiting) {
			c->waiting = 1;
			c->wait_start_us = now_us();
			c->waits++;
			log_debug("epoch %" PRIu64 ": waiting for ACK(%" PRIu64
			    ")", c->epoch + 1, c->acked + 1);
		}
		return;
	}
	if (want_precopy(c) && !c->pre_ready) {
		/* The pre-copy, then back to the loop; the timer brings
		 * us back for the suspend, at its due time. */
		if (precopy(c, c->epoch + 1) == 0)
			schedule_epoch(c);
		return;
	}
	epoch_run(c);
}

static void
epoch_timer_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	epoch_due(container_of(w, struct ckpt, epoch_timer));
}

static void
fine_io_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	struct ckpt *c = container_of(w, struct ckpt, fine_io);
	uint64_t n;

	(void)!read(c->fine_fd, &n, sizeof n);	/* EAGAIN: fired already */
	ev_io_stop(c->loop, &c->fine_io);
	epoch_due(c);
}

/* ---- The full epoch 1 ---------------------------------------------- */

static void
full_begin(struct ckpt *c)
{
	uint64_t count;

	/* A session's first epoch is FULL; its number continues ours. */
	c->epoch++;
	set_phase(c, PHASE_FULL);
	/* The full copy sends every page: a pre-copy left pending by an
	 * earlier session has nothing to add (and staging is reused). */
	c->pre_pending = c->pre_ready = 0;
	/* Reset the log: what is dirtied from here on is resent by the
	 * paused part at the end of the full epoch. */
	memset(c->bitmap, 0, c->bitmap_words * sizeof *c->bitmap);
	if (c->dops->dirty_read_clear(c->dom, c->bitmap, &count) == -1) {
		log_warn("epoch %" PRIu64 ": dirty log reset", c->epoch);
		guest_failed(c, "dirty log reset failed");
		return;
	}
	c->full_q0 = peer_queued(c->peer);
	c->full_start_us = now_us();
	c->full_next = 0;
	c->full_pages = 0;
	c->first_epoch = c->epoch;
	if (stream_write_epoch_begin(c->w, c->epoch, c->resync ?
	    STREAM_EPOCH_RESYNC : STREAM_EPOCH_FULL) == -1) {
		log_warn("epoch %" PRIu64 ": begin", c->epoch);
		finish(c, CKPT_INTERNAL);
		return;
	}
	log_info("epoch %" PRIu64 ": %s of %" PRIu64 " pages started",
	    c->epoch, c->resync ? "incremental resync" : "full checkpoint",
	    c->info.nr_pages);
	full_pump(c);
}

/* Copy and queue chunks of the full epoch while the queue is short; when
 * every page went out, finish the full epoch with a paused checkpoint. */
static void
full_pump(struct ckpt *c)
{
	struct ckpt_epoch_stats st;
	size_t ps = c->info.page_size, state_len = 0, off0;
	uint64_t chunk = c->cfg.full_chunk_pages, i, n;
	int64_t nd;
	int budget = FULL_CHUNKS_PER_CALL;

	while (c->phase == PHASE_FULL && budget-- > 0 &&
	    peer_backlog(c->peer) < QUEUE_LOW_WATER) {
		if (c->full_next >= c->info.nr_pages)
			break;
		n = c->info.nr_pages - c->full_next;
		if (n > chunk)
			n = chunk;
		for (i = 0; i < n; i++)
			c->pfns[i] = c->full_next + i;
		if (c->dops->copy_pages(c->dom, c->pfns, n, c->staging) == -1) {
			log_warn("epoch %" PRIu64 ": copy at pfn %" PRIu64,
			    c->epoch, c->full_next);
			guest_failed(c, "page copy failed");
			return;
		}
		for (i = 0; i < n; i++) {
			const uint8_t *pg = c->staging + i * ps;

			/* Resync: a page the backup's replica holds already
			 * is not sent.  If the guest wrote it since the
			 * dirty log was reset, the paused part below sends
			 * it anyway.  The codec cache learns only what is
			 * sent, so it never disagrees with the backup. */
			if (c->resync && resync_page_matches(pg, ps,
			    c->rhash + c->pfns[i] * STREAM_HASH_LEN))
				continue;
			if (queue_page(c, c->pfns[i], pg) == -1) {
				log_warn("epoch %" PRIu64 ": encode", c->epoch);
				finish(c, CKPT_INTERNAL);
				return;
			}
			c->full_pages++;
		}
		/* Close the batch so the chunk becomes sendable. */
		if (stream_write_batch_end(c->w) == -1) {
			finish(c, CKPT_INTERNAL);
			return;
		}
		c->full_next += n;
		if (flush_queue(c) == -1)
			return;
	}
	if (c->phase != PHASE_FULL)
		return;
	if (c->full_next < c->info.nr_pages) {
		/* Blocked on the socket: the writer watcher calls us again
		 * when the queue drains.  Out of budget: let the loop breathe
		 * (acks, heartbeats, signals) and come back when idle. */
		if (peer_backlog(c->peer) < QUEUE_LOW_WATER)
			ev_idle_start(c->loop, &c->pump_idle);
		return;
	}
	if (peer_backlog(c->peer) >= QUEUE_LOW_WATER)
		return;

	/* Every page went out once: pre-copy what was written meanwhile
	 * (a long copy: many pages, whatever the last epoch had), let the
	 * loop run, then the paused part of the full epoch. */
	if (c->precopy && !c->pre_ready) {
		if (precopy(c, c->epoch) == 0)
			ev_idle_start(c->loop, &c->pump_idle);
		return;
	}
	if (peer_heartbeat(c->peer, 1) == -1)
		return;
	memset(&st, 0, sizeof st);
	st.full = 1;
	st.dirty_pages = c->full_pages;
	st.raw_bytes = c->full_pages * ps;
	nd = take_checkpoint(c, c->epoch, &st, &state_len);
	if (nd == SKIPPED) {
		ev_idle_start(c->loop, &c->pump_idle);	/* try again */
		return;
	}
	if (nd < 0)
		return;
	c->last_dirty = (uint64_t)nd;
	off0 = stream_writer_ready(c->w);
	if (queue_epoch_tail(c, c->epoch, (uint64_t)nd, state_len) == -1)
		return;
	inject_faults(c, c->epoch, off0);
	epoch_queued(c, c->epoch, &st, c->full_q0, c->full_start_us);
	log_info("epoch %" PRIu64 ": %s queued: %" PRIu64
	    " pages%s, %" PRIu64 " dirtied meanwhile, pause %" PRIu64 " us "
	    "(suspend %" PRIu64 ", dirty log %" PRIu64 ", copy %" PRIu64 ")",
	    c->epoch, c->resync ? "incremental resync" : "full checkpoint",
	    c->full_pages, c->resync ? " whose hash differed" : "",
	    (uint64_t)nd, st.pause_us, st.suspend_us, st.dirtylog_us,
	    st.copy_us);
	set_phase(c, PHASE_RUNNING);
	if (flush_queue(c) == -1)
		return;
	schedule_epoch(c);
}

static void
pump_idle_cb(struct ev_loop *loop, ev_idle *w, int revents __unused)
{
	struct ckpt *c = container_of(w, struct ckpt, pump_idle);

	ev_idle_stop(loop, w);
	full_pump(c);
}

/* ---- ACKs ----------------------------------------------------------- */

/* The session's first epoch is on the backup: one line with what it cost
 * (bench/resync reads it). */
static void
first_epoch_acked(struct ckpt *c, const struct inflight *f)
{
	uint64_t us = now_us() - c->session_us;

	if (c->resync)
		log_info("epoch %" PRIu64 ": incremental resync committed: "
		    "%" PRIu64 " of %" PRIu64 " pages differed, %" PRIu64
		    " dirtied meanwhile, %" PRIu64 " bytes sent, %" PRIu64
		    " bytes of hashes received, %" PRIu64 ".%03" PRIu64 " s",
		    f->st.epoch, c->full_pages, c->info.nr_pages,
		    f->st.dirty_pages - c->full_pages, f->st.wire_bytes,
		    c->rhash_n * STREAM_HASH_LEN, us / 1000000,
		    us / 1000 % 1000);
	else
		log_info("epoch %" PRIu64 ": full checkpoint committed: %"
		    PRIu64 " pages, %" PRIu64 " bytes sent, %" PRIu64 ".%03"
		    PRIu64 " s", f->st.epoch, c->info.nr_pages,
		    f->st.wire_bytes, us / 1000000, us / 1000 % 1000);
}

/* ACK(n) is cumulative: it acknowledges every epoch up to n (a backup
 * that skipped one ACK still committed in order). */
static void
ack_received(struct ckpt *c, uint64_t epoch)
{
	struct inflight *f;
	uint64_t now = now_us(), e;
	char why[128];

	f = inflight_get(c, epoch);
	if (epoch <= c->acked || epoch > c->epoch || f == NULL ||
	    f->written_us == 0) {
		snprintf(why, sizeof why, "protocol error: ACK(%" PRIu64
		    ") while expecting ACK(%" PRIu64 ")", epoch, c->acked + 1);
		lost(c, why);
		return;
	}
	for (e = c->acked + 1; e <= epoch; e++) {
		f = inflight_get(c, e);
		assert(f != NULL && f->written_us != 0);
		c->acked = e;
		c->last_ack_us = now;
		epoch_state(e, &f->state, EPOCH_ACKED);
		f->st.ack_rtt_us = now - f->written_us;
		if (devices_hook(c, "commit", e) == -1) {
			lost(c, "device commit failed");
			return;
		}
		fo_primary_acked(&c->fo, e);
		if (e == c->first_epoch)
			first_epoch_acked(c, f);
		f->used = 0;
		log_debug("epoch %" PRIu64 ": acked, rtt %" PRIu64 " us", e,
		    f->st.ack_rtt_us);
		if (c->stats_cb)
			c->stats_cb(&f->st, c->cb_arg);
		if (!live(c))
			return;		/* the stats callback stopped us */
	}
	if (c->so.state == SO_SENT && c->acked >= c->so.epoch) {
		c->so.state = SO_ACKED;
		log_info("switchover: final epoch %" PRIu64 " acknowledged, its "
		    "output released; waiting for the backup to run the guest",
		    c->so.epoch);
	}
	if (c->waiting) {
		c->waiting = 0;
		c->wait_us += now - c->wait_start_us;
		/* Start the blocked epoch from the loop, not from here. */
		epoch_timer_stop(c);
		ev_timer_set(&c->epoch_timer, 0., 0.);
		ev_timer_start(c->loop, &c->epoch_timer);
	}
}

/* ---- Send queue ------------------------------------------------------ */

/* Bytes up to w_total were written: mark finished epochs; the blackhole
 * acknowledges them itself. */
static void
note_written(struct ckpt *c)
{
	uint64_t e, now = 0;

	for (e = c->acked + 1; e <= c->epoch; e++) {
		struct inflight *f = inflight_get(c, e);

		if (f == NULL || f->written_us ||
		    f->end_off > peer_written(c->peer))
			continue;
		if (now == 0)
			now = now_us();
		f->written_us = now;
		f->st.send_us = now - f->queued_us;
		epoch_state(e, &f->state, EPOCH_SENT);
		/* Whole in the kernel: the backup may commit it now even
		 * if its ACK never comes back. */
		fo_primary_sent(&c->fo, e);
		if (c->tp->blackhole)
			ack_received(c, e);
	}
}

/* Write as much of the queue as the link takes now (the peer's write
 * watcher sends the rest).  0, or -1 when the backup is lost (handled)
 * or the engine stopped. */
static int
flush_queue(struct ckpt *c)
{
	if (peer_flush(c->peer) == -1)
		return -1;
	note_written(c);
	return live(c) ? 0 : -1;
}

/* ---- The handshake ---------------------------------------------------- */

/* WELCOME: the backup's T is the session's.  Ours (--timeout) was an
 * upper bound: a backup that would wait longer than that before acting on
 * our loss could still be waiting when we have given it up, so the
 * session is refused. */
static void
welcome_received(struct ckpt *c, const struct stream_welcome *wl)
{
	if (wl->timeout_ms > c->cfg.timeout_ms) {
		log_warnx("backup %s: refusing the session: the backup's "
		    "timeout %u ms is longer than --timeout %u ms",
		    c->tp->desc, wl->timeout_ms, c->cfg.timeout_ms);
		fo_primary_lost(&c->fo, now_us() / 1000, "session refused");
		settle(c);
		return;
	}
	c->timing.timeout_ms = wl->timeout_ms;
	c->timing.hb_ms = wl->hb_ms;
	c->timing.fence_ms = wl->fence_ms;
	c->timing.resume_epoch = wl->resume_epoch;
	peer_set_timing(c->peer, wl->timeout_ms, wl->hb_ms);
	if (wl->flags & STREAM_WELCOME_HASHES) {
		/* The backup resumes its replica of epoch resume_epoch and
		 * sends its page hashes before READY.  Our epoch numbers go
		 * on as they were (a guest's suspend count is its epoch
		 * number, which tests and tools rely on), even below
		 * resume_epoch after a restart of remus. */
		if (c->rhash == NULL)
			c->rhash = malloc(c->info.nr_pages * STREAM_HASH_LEN);
		if (c->rhash == NULL) {
			log_warn("backup %s: page hashes", c->tp->desc);
			fo_primary_lost(&c->fo, now_us() / 1000,
			    "out of memory");
			settle(c);
			return;
		}
		c->resync = 1;
		log_info("backup %s holds the replica of epoch %" PRIu64
		    ": incremental resync", c->tp->desc, wl->resume_epoch);
	}
	log_debug("backup %s: timeout %u ms, heartbeat %u ms, fence %u ms%s",
	    c->tp->desc, wl->timeout_ms, wl->hb_ms, wl->fence_ms,
	    wl->fence_ms ? "" : " (the backup does not fence)");
}

static void
handshake_done(struct ckpt *c)
{
	struct fo_timing t = {
		.timeout_ms = c->timing.timeout_ms,
		.hb_ms = c->timing.hb_ms,
		.fence_ms = c->timing.fence_ms,
	};

	/* Output since the release went out unheld, but the full epoch
	 * copies the state that produced it.  From here on it is held
	 * again: it belongs to the full epoch c->epoch + 1 or later. */
	if (c->released && devices_reprotect(c, c->epoch + 1) == -1) {
		log_warnx("guest %s: cannot hold output again: not "
		    "protecting it with backup %s; restart remus to protect "
		    "again", c->guest, c->tp->desc);
		op_abort_link(c);
		devices_release_all(c);
		fo_primary_stop(&c->fo, now_us() / 1000);
		finish(c, CKPT_BACKUP_LOST);
		return;
	}
	c->ever_protected = 1;
	fo_primary_connected(&c->fo, now_us() / 1000, &t);
	log_info("protecting %s: backup %s ready", c->guest, c->tp->desc);
	full_begin(c);
}

/* ---- The link's callbacks ---------------------------------------------- */

static int
link_record(struct peer *p __unused, const struct stream_rec *rec, void *arg)
{
	struct ckpt *c = arg;

	/* Heard now: the policy's own silence check then never runs ahead
	 * of the link's, which knows when we were not listening. */
	fo_primary_heard(&c->fo, now_us() / 1000);
	switch (rec->type) {
	case STREAM_REC_WELCOME:
		if (c->phase == PHASE_HANDSHAKE)
			welcome_received(c, &rec->u.welcome);
		break;
	case STREAM_REC_PAGE_HASHES:
		/* The reader checked the order and the range (and lets READY
		 * through only once all came). */
		if (c->phase == PHASE_HANDSHAKE && c->resync) {
			memcpy(c->rhash + rec->u.hashes.first *
			    STREAM_HASH_LEN, rec->u.hashes.hashes,
			    (size_t)rec->u.hashes.count * STREAM_HASH_LEN);
			c->rhash_n += rec->u.hashes.count;
		}
		break;
	case STREAM_REC_READY:
		/* The reader let it through only after WELCOME. */
		if (c->phase == PHASE_HANDSHAKE)
			handshake_done(c);
		break;
	case STREAM_REC_ACK:
		ack_received(c, rec->u.ctl.value);
		break;
	case STREAM_REC_ACTIVATED:
		switchover_activated(c, rec->u.ctl.value);
		break;
	default:
		break;		/* BC_HEARTBEAT: being heard is all */
	}
	return live(c) ? 0 : -1;
}

/* The write watcher drained some of the queue. */
static void
link_written(struct peer *p __unused, void *arg)
{
	struct ckpt *c = arg;

	note_written(c);
	if (c->phase == PHASE_FULL)
		full_pump(c);
}

static void
link_lost(struct peer *p __unused, enum peer_loss kind, const char *why,
    void *arg)
{
	struct ckpt *c = arg;
	char msg[STREAM_ERROR_REASON_MAX + 96];

	switch (kind) {
	case PEER_LOST_EOF:
		snprintf(msg, sizeof msg, "backup closed the connection");
		break;
	case PEER_LOST_ERROR:
		/* B6: this backup will not activate from this session. */
		snprintf(msg, sizeof msg, "backup %s", why);
		log_warnx("backup %s stood down: %s", c->tp->desc, msg);
		if (c->so.state >= SO_SENT)
			switchover_refused(c, msg);
		fo_primary_stood_down(&c->fo, now_us() / 1000, msg);
		settle(c);
		return;
	case PEER_LOST_RESET:
	case PEER_LOST_WRITE:
		snprintf(msg, sizeof msg, "%s backup: %s",
		    kind == PEER_LOST_RESET ? "read from" : "write to", why);
		break;
	default:
		snprintf(msg, sizeof msg, "%s", why);
		break;
	}
	lost(c, msg);
}

static const struct peer_callbacks link_cbs = {
	.record = link_record,
	.written = link_written,
	.lost = link_lost,
};

/* ---- The policy's ops (failover/fo-primary.h) ------------------------ */

/* End the session: epochs stop, the guest runs on (resumed if we held
 * it), and the link closes abortively (P2: nothing queued before now
 * reaches the backup later).  Devices are not touched: held output stays
 * held until the policy says release or discard. */
static void
op_abort_link(void *arg)
{
	struct ckpt *c = arg;

	/* After SWITCHOVER the backup may run the guest: it stays
	 * suspended here (switchover_refused clears the state first). */
	if (c->suspended && c->so.state < SO_SENT &&
	    c->dops->resume(c->dom) == 0)
		c->suspended = 0;
	epoch_timer_stop(c);
	ev_idle_stop(c->loop, &c->pump_idle);
	c->waiting = 0;
	if (c->peer)
		peer_abort(c->peer);	/* freed by the next session */
	if (live(c))
		set_phase(c, PHASE_IDLE);
}

static void
op_release_all(void *arg)
{
	struct ckpt *c = arg;
	const struct ckpt_device_ops *o;

	devices_release_all(c);
	log_warnx("guest %s continues unprotected (last acknowledged epoch %"
	    PRIu64 ")", c->guest, c->acked);
	/* A device that cannot hold output again would make a new session
	 * run with output unheld: do not even try (the policy reads the
	 * interval after this call, settle() ends the engine). */
	o = device_cannot_reprotect(c);
	if (o != NULL && c->cfg.reconnect_ms != 0 && c->ever_protected) {
		log_warnx("%s: %s: not reconnecting; restart remus to protect "
		    "again", o->name, o->no_reprotect ? o->no_reprotect :
		    "cannot hold output again after a release");
		c->cfg.reconnect_ms = 0;
		c->fo.cfg.reconnect_ms = 0;
	}
}

static void
op_discard_all(void *arg)
{
	devices_discard_all(arg);
}

static void
fence_done(struct fence *f __unused, int ok, const char *why, void *arg)
{
	struct ckpt *c = arg;

	log_info("--fence-backup: %s", why);
	fo_primary_fence_done(&c->fo, now_us() / 1000, ok);
	settle(c);
}

static void
op_fence_backup(void *arg)
{
	struct ckpt *c = arg;
	struct fence_env env = {
		.guest = c->guest, .name = c->guest, .primary = "local",
		.epoch = c->acked, .attempt = 1,
		.timeout_ms = c->timing.timeout_ms + c->timing.fence_ms,
	};

	if (fence_start(c->fence, &env, fence_done, c) == -1) {
		log_warn("--fence-backup");
		fo_primary_fence_done(&c->fo, now_us() / 1000, 0);
	}
}

static int	session_open(struct ckpt *);

/* P4: a new transport, a new session (a new stream, a full epoch). */
static void
op_reconnect(void *arg)
{
	struct ckpt *c = arg;
	char why[128];

	if (c->connect == NULL) {
		fo_primary_connect_failed(&c->fo, now_us() / 1000,
		    "no way to reconnect");
		return;
	}
	if (c->tp == &c->rtp)
		transport_close(&c->rtp);
	memset(&c->rtp, 0, sizeof c->rtp);
	c->rtp.rfd = c->rtp.wfd = -1;
	if (c->connect(&c->rtp, c->connect_arg) == -1 ||
	    (c->tp = &c->rtp, session_open(c) == -1)) {
		snprintf(why, sizeof why, "%s", strerror(errno));
		fo_primary_connect_failed(&c->fo, now_us() / 1000, why);
	}
}

static void
op_arm(void *arg, uint64_t at_ms)
{
	struct ckpt *c = arg;
	uint64_t now = now_us() / 1000;

	ev_timer_stop(c->loop, &c->fo_timer);
	if (at_ms == 0)
		return;
	ev_timer_set(&c->fo_timer, at_ms > now ? (at_ms - now) / 1000.0 : 0.,
	    0.);
	ev_timer_start(c->loop, &c->fo_timer);
}

static void
fo_timer_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	struct ckpt *c = container_of(w, struct ckpt, fo_timer);

	/* While a switchover is in flight its own deadline judges the
	 * backup's silence (the policy would resume the guest). */
	if (c->so.state >= SO_SENT)
		return;
	/* Bytes may wait behind a long callback of ours: read them first,
	 * so that a silence tick never judges on stale input.  The
	 * blackhole answers for itself: never silent. */
	if (live(c) && c->tp->blackhole)
		fo_primary_heard(&c->fo, now_us() / 1000);
	else if (live(c))
		peer_poll_input(c->peer);
	fo_primary_tick(&c->fo, now_us() / 1000);
	settle(c);
}

static const struct fo_primary_ops fo_ops = {
	.abort_link = op_abort_link,
	.release_all = op_release_all,
	.discard_all = op_discard_all,
	.fence_backup = op_fence_backup,
	.reconnect = op_reconnect,
	.arm = op_arm,
};

/* After every policy event: does the engine end?  It does not on the
 * loss of the backup (it reconnects), except without a reconnect interval
 * (exit once released, as remus always did), past the reconnect limit,
 * for a failed guest, when a stop waited for the hold to end, or when the
 * first backup never completed the handshake. */
static void
settle(struct ckpt *c)
{
	if (c->phase == PHASE_DONE)
		return;
	switch (c->fo.state) {
	case FOP_GUEST_FAILED:
		finish(c, CKPT_GUEST_FAILED);
		break;
	case FOP_STOPPED:
		finish(c, c->stopping ? CKPT_STOPPED : CKPT_BACKUP_LOST);
		break;
	case FOP_UNPROTECTED:
		if (c->stopping) {
			fo_primary_stop(&c->fo, now_us() / 1000);
			finish(c, CKPT_STOPPED);
		} else if (!c->ever_protected) {
			/* The first backup never answered: as unreachable
			 * as a refused connect (exit 3), not a loss. */
			fo_primary_stop(&c->fo, now_us() / 1000);
			finish(c, CKPT_HANDSHAKE_FAILED);
		} else if (c->cfg.reconnect_ms == 0)
			finish(c, CKPT_BACKUP_LOST);
		break;
	default:
		break;
	}
}

/* ---- Planned switchover (docs/control.md) ------------------------------
 *
 *   ckpt_switchover -> the next epoch n is the final one: suspend, copy,
 *   NO resume -> EPOCH n .. EPOCH_END(n), SWITCHOVER(n) -> ACK(n): devices
 *   commit n (its output leaves: the backup has the state that made it)
 *   -> ACTIVATED(n): the guest runs on the backup -> destroy it here.
 *
 * Between SWITCHOVER and ACTIVATED the guest never runs here: on ERROR
 * (the backup did not activate) it resumes; on a loss it stays suspended
 * (the backup may be running it) and its held output is dropped. */

static void
switchover_report(struct ckpt *c, int ok, const char *why)
{
	ckpt_switchover_fn *fn = c->so.fn;
	uint64_t down = ok && c->so.suspend_us ? now_us() - c->so.suspend_us :
	    0;

	c->so.fn = NULL;
	if (fn != NULL)
		fn(c->so.arg, ok, c->so.epoch, down, why);
}

static void
switchover_deadline_cb(struct ev_loop *loop __unused, ev_timer *w,
    int revents __unused)
{
	struct ckpt *c = container_of(w, struct ckpt, so.deadline);
	char why[96];

	snprintf(why, sizeof why, "no ACTIVATED from the backup within %u ms",
	    SWITCHOVER_WAIT_MS + c->timing.timeout_ms);
	switchover_unknown(c, why);
}

int
ckpt_switchover(struct ckpt *c, const uint8_t *cookie, ckpt_switchover_fn *fn,
    void *arg)
{
	if (c->so.state != SO_NONE) {
		errno = EALREADY;
		return -1;
	}
	if (c->dops->destroy == NULL) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (c->phase != PHASE_RUNNING || c->fo.state != FOP_PROTECTED ||
	    c->stopping || c->tp->blackhole) {
		errno = EAGAIN;
		return -1;
	}
	c->so.state = SO_REQUESTED;
	c->so.fn = fn;
	c->so.arg = arg;
	c->so.have_cookie = cookie != NULL;
	if (cookie != NULL)
		memcpy(c->so.cookie, cookie, sizeof c->so.cookie);
	log_info("switchover requested: epoch %" PRIu64 " is the final one",
	    c->epoch + 1);
	if (!c->waiting) {
		epoch_timer_stop(c);
		ev_timer_set(&c->epoch_timer, 0., 0.);
		ev_timer_start(c->loop, &c->epoch_timer);
	}
	return 0;
}

/* The final epoch EPOCH is queued: SWITCHOVER after it. */
static int
switchover_queue(struct ckpt *c, uint64_t epoch)
{
	/* The prepare's cookie, which the backup checks before it
	 * activates anything. */
	if ((c->so.have_cookie && stream_write_cookie(c->w, c->so.cookie) ==
	    -1) || stream_write_ctl(c->w, STREAM_REC_SWITCHOVER, epoch) == -1) {
		log_warn("epoch %" PRIu64 ": SWITCHOVER", epoch);
		/* Nothing asked the backup to activate yet: resume. */
		c->so.state = SO_NONE;
		switchover_report(c, 0, "could not queue SWITCHOVER");
		finish(c, CKPT_INTERNAL);
		return -1;
	}
	c->so.state = SO_SENT;
	c->so.epoch = epoch;
	/* The backup is silent while it activates (a Xen twin takes long):
	 * only the switchover's deadline judges that silence now, and EOF
	 * or a reset still end it at once.  We keep sending heartbeats. */
	peer_set_timing(c->peer, 0, c->timing.hb_ms);
	ev_timer_stop(c->loop, &c->fo_timer);
	ev_timer_set(&c->so.deadline, (SWITCHOVER_WAIT_MS +
	    c->timing.timeout_ms) / 1000., 0.);
	ev_timer_start(c->loop, &c->so.deadline);
	log_info("switchover: final epoch %" PRIu64 " and SWITCHOVER queued; "
	    "the guest stays suspended", epoch);
	return flush_queue(c);
}

static void
switchover_activated(struct ckpt *c, uint64_t epoch)
{
	char why[128];

	if (c->so.state != SO_ACKED || epoch != c->so.epoch) {
		snprintf(why, sizeof why, "protocol error: ACTIVATED(%" PRIu64
		    ") while %s", epoch, c->so.state == SO_ACKED ?
		    "another epoch was final" : "not switching over");
		switchover_unknown(c, why);
		return;
	}
	ev_timer_stop(c->loop, &c->so.deadline);
	log_info("switchover: the backup runs the guest from epoch %" PRIu64
	    ", %.1f ms after it was suspended here", epoch,
	    (now_us() - c->so.suspend_us) / 1000.);
	if (c->dops->destroy(c->dom) == -1)
		log_warnx("switchover: this copy could not be destroyed: it "
		    "stays suspended");
	else
		c->suspended = 0;
	/* Nothing is held any more (ACK(final) released the last of it). */
	devices_release_all(c);
	fo_primary_stop(&c->fo, now_us() / 1000);
	switchover_report(c, 1, NULL);
	finish(c, CKPT_SWITCHED_OVER);
}

/* ERROR after SWITCHOVER: the backup did not activate.  The guest runs
 * here again; the stand-down goes on through the policy as usual. */
static void
switchover_refused(struct ckpt *c, const char *why)
{
	ev_timer_stop(c->loop, &c->so.deadline);
	c->so.state = SO_NONE;
	log_warnx("switchover refused: %s; the guest resumes here", why);
	switchover_report(c, 0, why);
}

/* The link ended between SWITCHOVER and ACTIVATED: the backup may have
 * activated (its answer lost) or not.  The guest stays suspended here and
 * its held output is dropped; the operator decides (docs/control.md). */
static void
switchover_unknown(struct ckpt *c, const char *why)
{
	char msg[256];

	if (c->so.state == SO_UNKNOWN)
		return;
	c->so.state = SO_UNKNOWN;
	ev_timer_stop(c->loop, &c->so.deadline);
	ev_timer_stop(c->loop, &c->fo_timer);
	log_warnx("switchover: %s: outcome unknown; the guest stays "
	    "suspended here, its held output dropped; find out whether the "
	    "backup runs it, then stop remus", why);
	op_abort_link(c);
	devices_discard_all(c);
	/* Beyond our lifetime too, where the driver can. */
	if (c->dops->hold != NULL)
		(void)c->dops->hold(c->dom);
	snprintf(msg, sizeof msg, "outcome unknown (%s): the guest is "
	    "suspended here and may run on the backup", why);
	switchover_report(c, 0, msg);
}

/* ---- Life cycle ----------------------------------------------------- */

/* The link over TP's descriptors, which it takes over (TP keeps its
 * description and, for the cmd transport, its child). */
static int
link_open(struct ckpt *c)
{
	struct peer_config pc;
	uint32_t hb = c->cfg.timeout_ms / 4;

	/* Heartbeat often enough for a backup with a short timeout. */
	if (hb > HEARTBEAT_MS_MAX)
		hb = HEARTBEAT_MS_MAX;
	memset(&pc, 0, sizeof pc);
	pc.rdir = STREAM_DIR_BACK;
	pc.timeout_ms = c->tp->blackhole ? 0 : c->cfg.timeout_ms;
	c->hb_ms = hb ? hb : 1;
	pc.hb_ms = c->tp->blackhole ? 0 : c->hb_ms;
	pc.page_size = c->info.page_size;
	pc.nr_pages = c->info.nr_pages;
	pc.in_max = BACK_BUF;
	pc.blackhole = c->tp->blackhole;
	pc.desc = c->tp->desc;
	pc.io = c->tp->io;
	pc.io_ctx = c->tp->io_ctx;
	pc.rl = c->cfg.ratelimit;
	c->peer = peer_new(c->loop, c->tp->rfd, c->tp->wfd, &pc, &link_cbs, c);
	if (c->peer == NULL)
		return -1;
	c->tp->rfd = c->tp->wfd = -1;
	c->w = peer_writer(c->peer);
	return 0;
}

struct ckpt *
ckpt_new(struct ev_loop *loop, const struct domain_ops *ops,
    struct domain *dom, struct transport *tp, const struct ckpt_config *cfg)
{
	struct ckpt *c;
	int err;

	c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->fine_fd = -1;
	c->dops = ops;
	c->dom = dom;
	c->tp = tp;
	c->cfg = *cfg;
	c->guest = cfg->guest_name ? cfg->guest_name : ops->name;
	if (c->cfg.full_chunk_pages == 0)
		c->cfg.full_chunk_pages = FULL_CHUNK_DEFAULT;
	if (c->cfg.interval_ms == 0)
		c->cfg.interval_ms = 200;
	if (c->cfg.max_paused_pct == 0)
		c->cfg.max_paused_pct = CKPT_MAX_PAUSED_PCT_DEFAULT;
	if (c->cfg.max_rate_hz == 0)
		c->cfg.max_rate_hz = CKPT_MAX_RATE_DEFAULT;
	c->gap_us = ckpt_output_gap_us(0, c->cfg.max_paused_pct,
	    c->cfg.max_rate_hz, c->cfg.interval_ms);
	ops->info(dom, &c->info);
	if (c->info.nr_pages == 0 || c->info.page_size < 4096 ||
	    (c->info.page_size & (c->info.page_size - 1))) {
		log_warnx("%s: bad geometry: %" PRIu64 " pages of %u bytes",
		    c->guest, c->info.nr_pages, c->info.page_size);
		errno = EINVAL;
		goto err;
	}
	c->codec = codec_new(c->info.page_size, c->cfg.cache_bytes,
	    c->cfg.compress);
	if (c->codec == NULL)
		goto err;
	c->bitmap_words = (c->info.nr_pages + 63) / 64;
	c->bitmap = calloc(c->bitmap_words, sizeof *c->bitmap);
	c->pfns = calloc(c->info.nr_pages > c->cfg.full_chunk_pages ?
	    c->info.nr_pages : c->cfg.full_chunk_pages, sizeof *c->pfns);
	c->state = malloc(STATE_MAX);
	if (!c->bitmap || !c->pfns || !c->state)
		goto err;
	if ((c->info.flags & DOMAIN_INFO_DEVICE_MODEL) &&
	    c->dops->save_devices == NULL) {
		log_warnx("%s: driver %s says the guest has a device model "
		    "but cannot save it", c->guest, ops->name);
		errno = EINVAL;
		goto err;
	}
	if (c->cfg.precopy != CKPT_PRECOPY_OFF &&
	    (c->info.flags & DOMAIN_INFO_LIVE_DIRTY_LOG)) {
		c->prebitmap = calloc(c->bitmap_words, sizeof *c->prebitmap);
		if (c->prebitmap == NULL)
			goto err;
		c->precopy = 1;
		c->precopy_always = c->cfg.precopy == CKPT_PRECOPY_ON;
		log_debug("%s: pre-copy on: the dirty log is read and copied "
		    "while the guest runs, before each suspend", c->guest);
	} else if (c->cfg.precopy != CKPT_PRECOPY_OFF)
		log_info("%s: no pre-copy: this guest's dirty log cannot be "
		    "read while it runs (%s)", c->guest, ops->name);
	if (staging_reserve(c, c->cfg.full_chunk_pages) == -1)
		goto err;
	ev_init(&c->epoch_timer, epoch_timer_cb);
	/* Without a timerfd, epoch_due sleeps the last stretch instead. */
	c->fine_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC);
	if (c->fine_fd == -1)
		log_warn("timerfd: epochs are timed by sleeping");
	ev_io_init(&c->fine_io, fine_io_cb, c->fine_fd, EV_READ);
	ev_idle_init(&c->pump_idle, pump_idle_cb);
	ev_init(&c->fo_timer, fo_timer_cb);
	ev_init(&c->so.deadline, switchover_deadline_cb);
	if (cfg->fence_backup != NULL) {
		c->fence = fence_new(loop, cfg->fence_backup);
		if (c->fence == NULL) {
			log_warn("--fence-backup");
			goto err;
		}
	}
	fo_primary_init(&c->fo, &(struct fo_primary_cfg){
		.reconnect_ms = cfg->reconnect_ms,
		.reconnect_limit = cfg->reconnect_limit,
		.fence_backup = cfg->fence_backup != NULL,
	}, &fo_ops, c);
	return c;
err:
	err = errno;
	ckpt_free(c);
	errno = err ? err : ENOMEM;
	return NULL;
}

int
ckpt_add_device(struct ckpt *c, const struct ckpt_device_ops *ops, void *dev)
{
	struct ckpt_dev *d;

	d = realloc(c->devs, (c->ndevs + 1) * sizeof *d);
	if (d == NULL)
		return -1;
	c->devs = d;
	d[c->ndevs].ops = ops;
	d[c->ndevs].dev = dev;
	c->ndevs++;
	log_debug("device %s registered", ops->name);
	return 0;
}

void
ckpt_set_callbacks(struct ckpt *c, ckpt_stats_fn *stats, ckpt_done_fn *done,
    void *arg)
{
	c->stats_cb = stats;
	c->done_cb = done;
	c->cb_arg = arg;
}

/* The guest's name as HELLO carries it: printable, at most 64 bytes. */
static void
hello_name(const char *guest, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; guest[i] != '\0' && i + 1 < outlen &&
	    i < STREAM_NAME_LEN; i++)
		out[i] = guest[i] >= 0x20 && guest[i] <= 0x7e ? guest[i] : '?';
	out[i] = '\0';
	if (i == 0)
		snprintf(out, outlen, "guest");
}

/* A new session over c->tp: a new link, a new stream (header, HELLO),
 * then WELCOME and READY start the full epoch.  0, or -1 with errno set
 * (a loss during the first write is reported to the policy instead). */
static int
session_open(struct ckpt *c)
{
	struct stream_header_info hi;
	uint8_t *config = NULL;
	size_t clen = CONFIG_BUF;
	char name[STREAM_NAME_LEN + 1];
	int err;

	peer_free(c->peer);
	c->peer = NULL;
	c->w = NULL;
	memset(&hi, 0, sizeof hi);
	config = malloc(CONFIG_BUF);
	if (config == NULL)
		goto err;
	if (c->dops->get_config == NULL)
		clen = 0;
	else if (c->dops->get_config(c->dom, config, &clen) == -1) {
		log_warn("%s: driver configuration", c->guest);
		goto err;
	}
	hi.page_size = c->info.page_size;
	hi.nr_pages = c->info.nr_pages;
	hi.features = c->cfg.compress ? STREAM_FEAT_COMPRESS : 0;
	if (c->info.flags & DOMAIN_INFO_DEVICE_MODEL)
		hi.features |= STREAM_FEAT_DEVICE_MODEL;
	snprintf(hi.driver, sizeof hi.driver, "%s", c->dops->name);
	hi.config = config;
	hi.config_len = (uint32_t)clen;
	if (link_open(c) == -1)
		goto err;
	if (stream_write_header(c->w, &hi) == -1) {
		log_warn("stream header");
		goto err;
	}
	/* Our --timeout is a proposal the backup may only shorten. */
	hello_name(c->guest, name, sizeof name);
	/* We can resync from a replica the backup kept (PAGE_HASHES). */
	if (stream_write_hello(c->w, name, c->cfg.timeout_ms, c->hb_ms,
	    STREAM_HELLO_RESYNC, c->cfg.hello_flags) == -1) {
		log_warn("stream HELLO");
		goto err;
	}
	/* The prepared session is the first one (docs/control.md): a
	 * reconnect is a session of its own. */
	if (c->cfg.cookie != NULL) {
		if (stream_write_cookie(c->w, c->cfg.cookie) == -1) {
			log_warn("stream COOKIE");
			goto err;
		}
		c->cfg.cookie = NULL;
	}
	/* What the devices' epoch records will refer to (diskbuf: the
	 * disks), before the first epoch. */
	for (size_t i = 0; i < c->ndevs; i++) {
		const struct ckpt_device_ops *o = c->devs[i].ops;

		if (o->declare && o->declare(c->devs[i].dev, c->w) == -1) {
			log_warn("device %s: declare", o->name);
			goto err;
		}
	}
	free(config);
	config = NULL;
	/* A new backup holds none of what the codec cache remembers, and
	 * the epochs of the last session that were never acknowledged are
	 * abandoned with it. */
	codec_reset(c->codec);
	memset(c->infl, 0, sizeof c->infl);
	c->acked = c->epoch;
	c->waiting = 0;
	memset(&c->timing, 0, sizeof c->timing);
	c->resync = 0;
	c->rhash_n = 0;
	c->session_us = now_us();
	set_phase(c, PHASE_HANDSHAKE);
	peer_start(c->peer);	/* a write error goes to the policy */
	return 0;
err:
	err = errno;
	free(config);
	errno = err ? err : EIO;
	return -1;
}

int
ckpt_start(struct ckpt *c)
{
	if (c->dops->logdirty_enable(c->dom) == -1) {
		log_warn("%s: dirty tracking", c->guest);
		return -1;
	}
	if (session_open(c) == -1)
		return -1;
	if (c->phase == PHASE_DONE)
		return -1;
	if (c->tp->blackhole && live(c)) {
		/* Nobody to say WELCOME or READY. */
		c->timing.timeout_ms = c->cfg.timeout_ms;
		c->timing.hb_ms = c->hb_ms;
		handshake_done(c);
	}
	return 0;
}

/* Stop for good: watchers off, result set, owner told (once). */
static void
finish(struct ckpt *c, enum ckpt_result r)
{
	if (c->phase == PHASE_DONE)
		return;
	if (c->suspended && c->so.state < SO_SENT &&
	    c->dops->resume(c->dom) == 0)
		c->suspended = 0;
	if (c->so.fn != NULL)
		switchover_report(c, 0, ckpt_result_str(r));
	ev_timer_stop(c->loop, &c->so.deadline);
	/* Every other end has had its devices handled by the policy or
	 * the caller.  An internal error while output is held fails closed:
	 * the backup may activate from what it has. */
	if (r == CKPT_INTERNAL) {
		if (c->fo.state == FOP_PROTECTED || c->fo.state == FOP_HOLDING)
			devices_discard_all(c);
		else
			devices_release_all(c);
	}
	set_phase(c, PHASE_DONE);
	c->result = r;
	epoch_timer_stop(c);
	ev_idle_stop(c->loop, &c->pump_idle);
	ev_timer_stop(c->loop, &c->fo_timer);
	fence_cancel(c->fence);
	if (c->peer)
		peer_close(c->peer);
	if (c->done_cb)
		c->done_cb(c, r, c->cb_arg);
}

void
ckpt_stop(struct ckpt *c)
{
	if (c == NULL || c->phase == PHASE_DONE)
		return;
	if (c->so.state == SO_SENT || c->so.state == SO_ACKED) {
		log_info("stop: a switchover is under way; its outcome decides");
		return;
	}
	if (c->so.state == SO_UNKNOWN) {
		log_warnx("stopping with the guest suspended: the backup may "
		    "run it (switchover outcome unknown)");
		finish(c, CKPT_SWITCHOVER_UNKNOWN);
		return;
	}
	if (c->so.state == SO_REQUESTED) {
		switchover_report(c, 0, "stopped before the final epoch");
		c->so.state = SO_NONE;
	}
	if (c->fo.state == FOP_HOLDING) {
		/* P6: no signal releases output earlier than the policy
		 * would; the stop completes when it does (settle). */
		if (!c->stopping)
			log_info("stopping once the held output may leave, in %"
			    PRIu64 " ms", c->fo.release_ms > now_us() / 1000 ?
			    c->fo.release_ms - now_us() / 1000 : 0);
		c->stopping = 1;
		return;
	}
	log_info("stopping: last epoch %" PRIu64 ", last acknowledged %"
	    PRIu64, c->epoch, c->acked);
	c->stopping = 1;
	epoch_timer_stop(c);
	if (c->phase == PHASE_RUNNING && !c->w->in_epoch) {
		/* END after the last complete epoch: the backup keeps its
		 * replica and does not activate it. */
		if (stream_write_ctl(c->w, STREAM_REC_END, c->epoch) == 0)
			peer_flush_blocking(c->peer, STOP_FLUSH_MS);
	} else if (live(c))
		log_info("epoch %" PRIu64 " incomplete: no END sent", c->epoch);
	devices_release_all(c);
	fo_primary_stop(&c->fo, now_us() / 1000);
	finish(c, CKPT_STOPPED);
}

int
ckpt_new_backup(struct ckpt *c, const char *why)
{
	if (c->phase == PHASE_DONE || c->stopping) {
		errno = ESHUTDOWN;
		return -1;
	}
	if (c->cfg.reconnect_ms == 0 || c->connect == NULL ||
	    device_cannot_reprotect(c) != NULL) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (c->fo.state != FOP_PROTECTED)
		return 0;	/* the next attempt goes to the new one */
	if (c->phase == PHASE_RUNNING && !c->w->in_epoch) {
		/* The old backup keeps its replica and does not activate.
		 * The link is then closed in order, not reset: a reset can
		 * reach the backup before it has read END (its next write
		 * fails first), and it would take that for a loss and fail
		 * over (seen with TLS, whose records it reads later). */
		epoch_timer_stop(c);
		if (stream_write_ctl(c->w, STREAM_REC_END, c->epoch) == 0 &&
		    peer_flush_blocking(c->peer, STOP_FLUSH_MS) == 0)
			peer_close(c->peer);
	}
	/* Mid-way through the first, full epoch (or the handshake) the old
	 * backup has committed nothing of this session: it cannot
	 * activate, an abort is as clean. */
	op_abort_link(c);
	fo_primary_stood_down(&c->fo, now_us() / 1000, why);
	settle(c);
	return 0;
}

enum ckpt_result
ckpt_get_result(const struct ckpt *c)
{
	return c->result;
}

int
ckpt_full_progress(const struct ckpt *c, uint64_t *done, uint64_t *total,
    uint64_t *start_us)
{
	if (c->phase != PHASE_FULL)
		return 0;
	*done = c->full_pages * c->info.page_size;
	*total = c->info.nr_pages * c->info.page_size;
	*start_us = c->full_start_us;
	return 1;
}

const char *
ckpt_result_str(enum ckpt_result r)
{
	switch (r) {
	case CKPT_RUNNING:		return "running";
	case CKPT_STOPPED:		return "stopped";
	case CKPT_HANDSHAKE_FAILED:	return "handshake failed";
	case CKPT_BACKUP_LOST:		return "backup lost";
	case CKPT_GUEST_FAILED:		return "guest failed";
	case CKPT_GUEST_SHUTDOWN:	return "guest shut down";
	case CKPT_INTERNAL:		return "internal error";
	case CKPT_SWITCHED_OVER:	return "switched over";
	case CKPT_SWITCHOVER_UNKNOWN:	return "switchover outcome unknown";
	}
	return "?";
}

const char *
ckpt_trigger_str(enum ckpt_trigger t)
{
	return t == CKPT_TRIGGER_OUTPUT ? "output" : "interval";
}

int
ckpt_trigger_parse(const char *s, enum ckpt_trigger *out)
{
	if (strcmp(s, "interval") == 0)
		*out = CKPT_TRIGGER_INTERVAL;
	else if (strcmp(s, "output") == 0)
		*out = CKPT_TRIGGER_OUTPUT;
	else {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
ckpt_precopy_parse(const char *s, enum ckpt_precopy *out)
{
	if (strcmp(s, "auto") == 0)
		*out = CKPT_PRECOPY_AUTO;
	else if (strcmp(s, "on") == 0)
		*out = CKPT_PRECOPY_ON;
	else if (strcmp(s, "off") == 0)
		*out = CKPT_PRECOPY_OFF;
	else {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

uint64_t
ckpt_last_acked(const struct ckpt *c)
{
	return c->acked;
}

const struct ckpt_timing *
ckpt_get_timing(const struct ckpt *c)
{
	return &c->timing;
}

void
ckpt_set_connect(struct ckpt *c, ckpt_connect_fn *fn, void *arg)
{
	c->connect = fn;
	c->connect_arg = arg;
}

void
ckpt_get_info(const struct ckpt *c, struct ckpt_info *ci)
{
	uint64_t e;

	memset(ci, 0, sizeof *ci);
	ci->phase = phase_names[c->phase];
	ci->state = fo_primary_state_str(c->fo.state);
	ci->backup = c->tp ? c->tp->desc : "";
	ci->epoch = c->epoch;
	ci->acked = c->acked;
	ci->last_ack_us = c->last_ack_us;
	ci->interval_ms = c->cfg.interval_ms;
	ci->page_size = (uint32_t)c->info.page_size;
	ci->switchover = (const char *const[]){ "none", "requested", "sent",
	    "acked", "unknown" }[c->so.state];
	for (e = c->acked + 1; e <= c->epoch; e++) {
		const struct inflight *f = &c->infl[e % INFLIGHT];

		if (f->used && f->st.epoch == e) {
			ci->held_since_us = f->st.start_us;
			break;
		}
	}
}

void
ckpt_status(const struct ckpt *c, char *buf, size_t len)
{
	const struct inflight *f = NULL;
	uint64_t now = now_us(), e;

	/* The oldest epoch whose output is still held: the one after the
	 * last ACK, if it ran. */
	for (e = c->acked + 1; e <= c->epoch && f == NULL; e++) {
		f = &c->infl[e % INFLIGHT];
		if (!f->used || f->st.epoch != e)
			f = NULL;
	}
	if (c->fo.state == FOP_HOLDING)
		snprintf(buf, len, "state HOLDING, epoch %" PRIu64 ", acked %"
		    PRIu64 ", held since the loss %" PRIu64 " ms ago (release "
		    "in %" PRIu64 " ms)", c->epoch, c->acked,
		    now / 1000 - c->fo.lost_ms, c->fo.release_ms > now / 1000 ?
		    c->fo.release_ms - now / 1000 : 0);
	else if (f != NULL)
		snprintf(buf, len, "state %s, epoch %" PRIu64 ", acked %" PRIu64
		    ", held since %" PRIu64 " ms ago (epoch %" PRIu64 ")",
		    fo_primary_state_str(c->fo.state), c->epoch, c->acked,
		    (now - f->st.start_us) / 1000, f->st.epoch);
	else
		snprintf(buf, len, "state %s, epoch %" PRIu64 ", acked %" PRIu64
		    ", nothing held", fo_primary_state_str(c->fo.state),
		    c->epoch, c->acked);
	if (c->cfg.trigger == CKPT_TRIGGER_OUTPUT && strlen(buf) + 1 < len)
		snprintf(buf + strlen(buf), len - strlen(buf), ", trigger "
		    "output (gap %" PRIu64 " us)", c->gap_us);
}

void
ckpt_free(struct ckpt *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->loop) {
		epoch_timer_stop(c);
		ev_idle_stop(c->loop, &c->pump_idle);
		ev_timer_stop(c->loop, &c->fo_timer);
		ev_timer_stop(c->loop, &c->so.deadline);
	}
	if (c->fine_fd != -1)
		close(c->fine_fd);
	fence_free(c->fence);
	peer_free(c->peer);
	if (c->tp == &c->rtp)
		transport_close(&c->rtp);
	for (i = 0; i < c->ndevs; i++)
		if (c->devs[i].ops->teardown)
			c->devs[i].ops->teardown(c->devs[i].dev);
	free(c->devs);
	codec_free(c->codec);
	if (c->staging)
		munmap(c->staging, c->staging_pages * c->info.page_size);
	free(c->bitmap);
	free(c->prebitmap);
	free(c->rhash);
	free(c->pfns);
	free(c->state);
	free(c->dev_packed);
	free(c);
}
