/* checkpoint/backup.c -- the receiver: buffer an epoch, apply it whole.
 *
 * Bytes from the primary go through the pure reader (stream-read.c).  The
 * open epoch lives in this process only: each page is decoded into a
 * pending slot (an XOR delta against the pending copy if the epoch already
 * carried that page, else against the replica's committed page).  When
 * EPOCH_END(n) validates (count and CRC), and only then, the pending pages
 * are copied into the replica, the replica and every backup device commit
 * n, and ACK(n) goes back.
 *
 * What follows the end of a stream is not decided here: the loss of the
 * primary, a local error and END each go to the backup policy
 * (failover/fo-backup.c, docs/failover.md B1-B6), which acts through the
 * ops near the end of this file (drop the open epoch, stand down, fence,
 * activate).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ev.h>

#define LOG_PREFIX "backup: "
#include "backup.h"
#include "checkpoint.h"
#include "codec.h"
#include "compiler.h"
#include "domain.h"
#include "fault.h"
#include "fence.h"
#include "fo-backup.h"
#include "log.h"
#include "peer.h"
#include "stream.h"
#include "util.h"

/* The biggest input: a record of the longest length the format allows,
 * or the header with the biggest configuration. */
#define IN_MAX		(STREAM_REC_LENGTH_MAX + 4096)
#define FLUSH_LAST_MS	2000		/* last words before a close */
/* Until HELLO the primary may still be setting up its devices (netbuf
 * rules, disks) after it connected: allow it its connect timeout, then
 * our T applies. */
#define HELLO_WAIT_MS	5000
#define PENDING_KEEP	(64u << 20)	/* pending area kept between epochs */
#define HEARTBEAT_MS_MAX 200
/* Limits on what a peer may make us hold (backup_config's defaults). */
#define MAX_GUEST_MEM_DEFAULT	(64ull << 30)
/* A peer that trickles bytes is silent all the same: without a whole
 * record, or this many bytes, for the progress deadline it is dropped. */
#define PROGRESS_MS_MIN		5000
#define PROGRESS_BYTES		(256u << 10)
/* What an open epoch may hold beyond its pages (guest state, device
 * records the devices keep in memory). */
#define EPOCH_EXTRA_MAX		(256ull << 20)
#define MAX_DISK_DEFAULT	(1ull << 40)

struct bdev {
	const struct ckpt_backup_device_ops *ops;
	void		*dev;
};

/* The session's commit thread (backup_config.commit_thread): it runs the
 * replica's commit_pages of the open epoch while the loop serves the
 * other sessions; the session's own input is paused meanwhile, so
 * nothing touches the pending area, the replica or the epoch's fields
 * but the thread.  Lock: mu guards job, done, quit, rc, err. */
struct bworker {
	pthread_t	 thr;
	int		 started;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 job;		/* loop -> thread: commit b->epoch */
	int		 done;		/* thread -> loop: rc and err are in */
	int		 quit;
	int		 rc, err;
	ev_async	 wake;		/* done, to the loop */
};

struct backup {
	struct ev_loop	*loop;
	struct peer	*link;		/* to the primary */
	struct backup_config cfg;
	char		 peer[64];
	char		 name[STREAM_NAME_LEN + 1];	/* HELLO's guest name */

	const struct replica_ops *rops;
	struct replica	*rep;
	struct domain_info info;
	/* The header, kept until HELLO names the guest (its replica is
	 * built then, in the guest's own directory). */
	char		 driver[STREAM_DRIVER_LEN + 1];
	void		*config;
	uint32_t	 config_len;
	int		 have_hello;
	int		 in_hello;	/* in cfg.hello: backup_set_fence may */
	int		 refused;	/* HELLO refused: said in one line */
	ev_timer	 hello_timer;	/* header + HELLO deadline */
	ev_timer	 prog_timer;	/* progress deadline */
	uint64_t	 prog_records;	/* records seen at the last check */
	uint64_t	 prog_bytes;	/* bytes received at the last check */
	uint64_t	 prog_ms;	/* when progress was last seen */
	uint64_t	 records;
	uint64_t	 epoch_extra;	/* open epoch's guest state bytes */
	uint64_t	 epoch_disk;	/* open epoch's device record bytes */

	/* The open epoch. */
	int		 in_epoch;
	uint64_t	 epoch;
	uint32_t	*slot;		/* per pfn: 0 none, else index + 1 */
	uint64_t	*plist;		/* pfn of each pending slot */
	uint8_t		*pzero;		/* slot holds a zero page: its
					 * memory is not used (not faulted) */
	uint8_t		*zpage;		/* page_size zero bytes */
	uint8_t		*pending;	/* npend pages */
	size_t		 npend, pend_cap;
	uint8_t		*state;
	size_t		 state_len, state_cap;
	/* The open epoch's DEVICE_STATE (a guest with a device model:
	 * STREAM_FEAT_DEVICE_MODEL, one in every epoch, the reader sees to
	 * that), handed to the replica with the commit. */
	int		 devmodel;
	uint32_t	 dev_kind;
	uint8_t		*dev;
	size_t		 dev_len, dev_cap;
	uint64_t	 committed;
	/* The session resumed a replica an earlier one committed
	 * (replica_ops resume, PAGE_HASHES sent): its first epoch must be a
	 * RESYNC one, and its base is that replica, not zeros. */
	int		 resumed;
	uint64_t	 resumed_epoch;

	struct fo_backup fo;		/* the failover policy (B1-B6) */
	ev_timer	 fo_timer;	/* its ops->arm */
	struct fence	*fence;		/* --fence, or NULL */
	uint32_t	 fence_ms;	/* F as announced in WELCOME */

	struct bdev	*devs;
	size_t		 ndevs;

	struct bworker	 wk;
	int		 committing;	/* the thread has the open epoch */
	uint64_t	 commit_t0;	/* when it was handed over (us) */

	struct backup_counters ctr;	/* backup_get_counters */
	char		 why[160];	/* what made the open epoch unusable */
	backup_admit_fn	*admit;		/* remusd's prepare check, or NULL */
	void		*admit_arg;
	int		 admitted;	/* checked (first EPOCH_BEGIN) */
	int		 have_cookie;
	uint8_t		 cookie[STREAM_COOKIE_LEN];
	int		 have_so_cookie; /* the switchover's, before it */
	uint8_t		 so_cookie[STREAM_COOKIE_LEN];
	uint32_t	 hello_flags;	/* HELLO's: what the primary asks */
	int		 declared;	/* devices' declare called (DISKS, or
					 * none before the first epoch) */
	enum backup_result result;
	int		 finished;
	backup_done_fn	*done;
	void		*arg;
};

static void	finish(struct backup *, enum backup_result);
static void	settle(struct backup *);
static void	local_error(struct backup *, int code, const char *why);
static int	op_activate(void *);

/* ---- Back channel ---------------------------------------------------- */

/* A failed send is the primary's loss, not ours: the link reports it. */
static int
bc_send(struct backup *b, uint32_t type, uint64_t value)
{
	if (stream_write_ctl(peer_writer(b->link), type, value) == -1)
		return -1;
	return peer_flush(b->link);
}

static void
bc_error(struct backup *b, int code, const char *reason)
{
	if (stream_write_error(peer_writer(b->link), (uint32_t)code,
	    reason) == 0)
		peer_flush(b->link);
}

/* ---- The open epoch -------------------------------------------------- */

static void
pending_reset(struct backup *b)
{
	size_t i, ps = b->info.page_size;

	for (i = 0; i < b->npend; i++)
		b->slot[b->plist[i]] = 0;
	b->npend = 0;
	b->state_len = 0;
	b->dev_len = 0;
	/* Epoch 1 holds all memory: do not keep that much around. */
	if (b->pend_cap * ps > PENDING_KEEP) {
		munmap(b->pending, b->pend_cap * ps);
		free(b->plist);
		free(b->pzero);
		b->pending = NULL;
		b->plist = NULL;
		b->pzero = NULL;
		b->pend_cap = 0;
	}
}

static uint8_t *
pending_slot(struct backup *b, uint64_t pfn, int *fresh)
{
	size_t ps = b->info.page_size, ncap;
	uint64_t *pl;
	uint8_t *pz;
	void *p;

	if (b->slot[pfn]) {
		*fresh = 0;
		return b->pending + (size_t)(b->slot[pfn] - 1) * ps;
	}
	if (b->npend == b->pend_cap) {
		ncap = b->pend_cap ? b->pend_cap * 2 : 1024;
		if (ncap > b->info.nr_pages)
			ncap = b->info.nr_pages;
		if (b->pending)
			p = mremap(b->pending, b->pend_cap * ps, ncap * ps,
			    MREMAP_MAYMOVE);
		else
			p = mmap(NULL, ncap * ps, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		b->pending = p;
		pl = realloc(b->plist, ncap * sizeof *pl);
		if (pl == NULL)
			return NULL;
		b->plist = pl;
		pz = realloc(b->pzero, ncap);
		if (pz == NULL)
			return NULL;
		b->pzero = pz;
		b->pend_cap = ncap;
	}
	b->pzero[b->npend] = 0;
	b->plist[b->npend] = pfn;
	b->slot[pfn] = (uint32_t)++b->npend;
	*fresh = 1;
	return b->pending + (b->npend - 1) * ps;
}

/* Decode one PAGE_BATCH into pending slots.  0, or -1 (logged). */
static int
take_batch(struct backup *b, const struct stream_rec *rec)
{
	struct stream_batch_iter it;
	struct stream_page pg;
	const uint8_t *data;
	const void *base;
	uint8_t *out;
	size_t idx;
	int fresh;

	stream_batch_iter_init(&it, rec);
	while (stream_batch_next(&it, &pg, &data)) {
		out = pending_slot(b, pg.pfn, &fresh);
		if (out == NULL) {
			log_warn("epoch %" PRIu64 ": pending memory", b->epoch);
			return -1;
		}
		idx = b->slot[pg.pfn] - 1;
		/* Zero pages (most of a full epoch) only set a flag: the
		 * slot's memory is never touched. */
		if (pg.encoding == STREAM_ENC_ZERO && pg.length == 0) {
			b->pzero[idx] = 1;
			continue;
		}
		/* XOR deltas are against what the primary last sent for this
		 * page: the pending copy if this epoch has one already. */
		if (b->pzero[idx])
			base = b->zpage;
		else
			base = fresh ? b->rops->page(b->rep, pg.pfn) : out;
		if (codec_decode(pg.encoding, data, pg.length, base, out,
		    b->info.page_size) == -1) {
			snprintf(b->why, sizeof b->why, "stream error at "
			    "offset %" PRIu64 ": page %" PRIu64 ": bad %s data",
			    peer_reader(b->link)->offset, pg.pfn,
			    stream_enc_name(pg.encoding) ?
			    stream_enc_name(pg.encoding) : "?");
			return -1;
		}
		b->pzero[idx] = 0;
	}
	return 0;
}

static struct bdev *
device_for(struct backup *b, uint32_t type)
{
	size_t i;
	const uint32_t *t;

	for (i = 0; i < b->ndevs; i++)
		for (t = b->devs[i].ops->rec_types; t && *t; t++)
			if (*t == type)
				return &b->devs[i];
	return NULL;
}

static void
devices_discard(struct backup *b, uint64_t epoch)
{
	size_t i;

	for (i = 0; i < b->ndevs; i++)
		if (b->devs[i].ops->discard)
			b->devs[i].ops->discard(b->devs[i].dev, epoch);
}

static int
page_is_zero(const void *p, size_t len)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / sizeof *w; i++)
		if (w[i])
			return 0;
	return 1;
}

/* The open epoch's pages and state into the replica, committed, in the
 * loop.  The driver takes them from the pending area itself when it can
 * (commit_pages: proc, whose working copy would cost a copy-on-write
 * fault per page); else each page is copied through page().  A session's
 * first full epoch goes the second way: its copy loop keeps the primary
 * told we live (heartbeats) while all memory is applied.  (On the commit
 * thread the loop sends the heartbeats meanwhile.) */
static int
commit_replica(struct backup *b)
{
	size_t i, ps = b->info.page_size;

	if (b->rops->commit_pages != NULL && (b->committed != 0 ||
	    b->resumed))
		return b->rops->commit_pages(b->rep, b->epoch, b->plist,
		    b->npend, b->pending, b->pzero, b->state, b->state_len);
	for (i = 0; i < b->npend; i++) {
		void *dst;

		/* A big epoch (the full one: all memory) takes a while to
		 * apply: keep the primary from thinking us dead. */
		if ((i & 4095) == 4095)
			peer_heartbeat(b->link, 0);
		/* The first commit lands on the empty replica create() gave
		 * us (domain.h): its zero pages are there already.  Not so
		 * on a resumed one. */
		if (b->pzero[i] && b->committed == 0 && !b->resumed)
			continue;
		dst = b->rops->page(b->rep, b->plist[i]);
		if (dst == NULL) {
			log_warnx("epoch %" PRIu64 ": replica page %" PRIu64
			    " unavailable", b->epoch, b->plist[i]);
			return -1;
		}
		if (!b->pzero[i])
			memcpy(dst, b->pending + i * ps, ps);
		else if (!page_is_zero(dst, ps))
			memset(dst, 0, ps);	/* do not dirty a zero page */
	}
	return b->rops->commit(b->rep, b->epoch, b->plist, b->npend,
	    b->state, b->state_len);
}

/* Epoch n is the committed checkpoint now: say so (policy, counters),
 * make room for the next, then ACK(n). */
static void
commit_done(struct backup *b, uint64_t t0)
{
	b->committed = b->epoch;
	b->ctr.epochs++;
	fo_backup_committed(&b->fo, b->committed);
	log_debug("epoch %" PRIu64 ": committed %zu pages in %" PRIu64 " us",
	    b->epoch, b->npend, now_us() - t0);
	if (b->epoch == 1 || log_verbose > 1)
		log_info("epoch %" PRIu64 ": committed (%zu pages)", b->epoch,
		    b->npend);
	pending_reset(b);
	b->in_epoch = 0;
	if (fault_injected_epoch(FI_ACK_DROP, b->epoch)) {
		log_info("epoch %" PRIu64 ": fault ack-drop: no ACK", b->epoch);
		return;
	}
	/* A failed ACK is the primary's loss, not this epoch's: the read
	 * side sees it next (EOF, reset). */
	if (bc_send(b, STREAM_REC_ACK, b->committed) == -1)
		log_debug("epoch %" PRIu64 ": ACK not sent: %s", b->epoch,
		    strerror(errno));
	else
		b->ctr.acks++;
}

/* ---- The commit thread -------------------------------------------------- */

static void *
worker_main(void *arg)
{
	struct backup *b = arg;
	int rc, e;

	pthread_mutex_lock(&b->wk.mu);
	for (;;) {
		while (!b->wk.job && !b->wk.quit)
			pthread_cond_wait(&b->wk.cv, &b->wk.mu);
		if (!b->wk.job)
			break;
		pthread_mutex_unlock(&b->wk.mu);
		errno = 0;
		rc = b->rops->commit_pages(b->rep, b->epoch, b->plist,
		    b->npend, b->pending, b->pzero, b->state, b->state_len);
		e = errno;
		pthread_mutex_lock(&b->wk.mu);
		b->wk.job = 0;
		b->wk.rc = rc;
		b->wk.err = e;
		b->wk.done = 1;
		pthread_cond_broadcast(&b->wk.cv);
		ev_async_send(b->loop, &b->wk.wake);
	}
	pthread_mutex_unlock(&b->wk.mu);
	return NULL;
}

/* The thread's commit of the open epoch is over (b->wk.done): finish it
 * here, in the loop.  Failed: a local error, as for a commit in the
 * loop (B1: stand down, never activate).  0 / -1. */
static int
commit_collect(struct backup *b)
{
	char msg[sizeof b->why + 64];
	int rc, code;

	pthread_mutex_lock(&b->wk.mu);
	rc = b->wk.rc;
	code = b->wk.err ? b->wk.err : EIO;
	b->wk.done = 0;
	pthread_mutex_unlock(&b->wk.mu);
	b->committing = 0;
	if (rc == 0) {
		commit_done(b, b->commit_t0);
		return 0;
	}
	errno = code;
	log_warn("epoch %" PRIu64 ": replica commit", b->epoch);
	snprintf(msg, sizeof msg, "epoch %" PRIu64 ": %s", b->epoch,
	    strerror(code));
	log_warnx("%s; dropping epoch %" PRIu64 ", keeping epoch %" PRIu64,
	    msg, b->epoch, b->committed);
	local_error(b, code, msg);
	return -1;
}

/* Wait for the thread's commit, then finish it (a loss, a manual
 * failover, the end of the session: the replica is needed whole). */
static int
commit_wait(struct backup *b)
{
	if (!b->committing)
		return 0;
	pthread_mutex_lock(&b->wk.mu);
	while (!b->wk.done)
		pthread_cond_wait(&b->wk.cv, &b->wk.mu);
	pthread_mutex_unlock(&b->wk.mu);
	return commit_collect(b);
}

static void
worker_wake_cb(struct ev_loop *loop __unused, ev_async *w,
    int revents __unused)
{
	struct backup *b = container_of(w, struct backup, wk.wake);
	int done;

	pthread_mutex_lock(&b->wk.mu);
	done = b->wk.done;
	pthread_mutex_unlock(&b->wk.mu);
	if (!done || !b->committing || commit_collect(b) == -1 ||
	    b->finished)
		return;
	/* The commit was this session's progress. */
	b->prog_ms = peer_now_ms();
	peer_resume(b->link);
}

/* Hand the open epoch to the thread (started on first use) and pause the
 * input until it is committed.  -1 (errno) when no thread can start:
 * the caller commits in the loop. */
static int
commit_handoff(struct backup *b)
{
	int rc;

	if (!b->wk.started) {
		rc = pthread_create(&b->wk.thr, NULL, worker_main, b);
		if (rc != 0) {
			log_warnx("commit thread: %s: commits run in the loop",
			    strerror(rc));
			b->cfg.commit_thread = 0;
			return -1;
		}
		b->wk.started = 1;
		ev_async_start(b->loop, &b->wk.wake);
	}
	b->committing = 1;
	b->commit_t0 = now_us();
	pthread_mutex_lock(&b->wk.mu);
	b->wk.job = 1;
	pthread_cond_signal(&b->wk.cv);
	pthread_mutex_unlock(&b->wk.mu);
	peer_pause(b->link);
	return 0;
}

static void
worker_stop(struct backup *b)
{
	if (!b->wk.started)
		return;
	pthread_mutex_lock(&b->wk.mu);
	b->wk.quit = 1;
	pthread_cond_signal(&b->wk.cv);
	pthread_mutex_unlock(&b->wk.mu);
	pthread_join(b->wk.thr, NULL);	/* after a commit it runs */
	b->wk.started = 0;
	ev_async_stop(b->loop, &b->wk.wake);
}

/* EPOCH_END(n) validated: make n the committed checkpoint, then ACK.
 * With a commit thread, the replica's part runs there and the ACK is
 * sent when it is over (commit_collect): 0 then means handed over. */
static int
commit_epoch(struct backup *b)
{
	size_t i;
	uint64_t t0 = now_us();

	/* Devices first: a device that cannot commit (a full or failing
	 * backup disk) rolls itself back to epoch n - 1, and the memory must
	 * then still be n - 1 too, so that a failover activates a guest
	 * whose disk and memory belong to the same checkpoint. */
	for (i = 0; i < b->ndevs; i++) {
		const struct ckpt_backup_device_ops *o = b->devs[i].ops;

		if (o->commit && o->commit(b->devs[i].dev, b->epoch) == -1) {
			log_warn("epoch %" PRIu64 ": device %s: commit",
			    b->epoch, o->name);
			return -1;
		}
	}
	/* The device model's state goes with the memory: pending in the
	 * replica until the commit below succeeds (domain.h). */
	if (b->devmodel && b->rops->commit_devices(b->rep, b->epoch,
	    b->dev_kind, b->dev, b->dev_len) == -1) {
		log_warn("epoch %" PRIu64 ": device model state", b->epoch);
		return -1;
	}
	if (b->cfg.commit_thread && b->rops->commit_pages != NULL &&
	    commit_handoff(b) == 0)
		return 0;
	if (commit_replica(b) == -1) {
		log_warn("epoch %" PRIu64 ": replica commit", b->epoch);
		return -1;
	}
	commit_done(b, t0);
	return 0;
}

/* ---- Input ----------------------------------------------------------- */

/* The stream header: what is checked from it alone (driver, size);
 * nothing is built before HELLO names the guest. */
static int
take_header(struct backup *b, const struct stream_header_info *hi)
{
	uint64_t max = b->cfg.max_guest_mem ? b->cfg.max_guest_mem :
	    MAX_GUEST_MEM_DEFAULT;

	b->rops = replica_ops_lookup(hi->driver);
	if (b->rops == NULL) {
		log_warnx("%s: guest driver \"%s\" not built into this remusd",
		    b->peer, hi->driver);
		bc_error(b, ENOTSUP, "unknown guest driver");
		return -1;
	}
	if (hi->nr_pages > UINT32_MAX - 1 ||
	    hi->nr_pages > max / hi->page_size) {
		log_warnx("%s: refused: a guest of %" PRIu64 " MiB, at most %"
		    PRIu64 " MiB accepted here (--max-guest-mem)", b->peer,
		    (hi->nr_pages * hi->page_size) >> 20, max >> 20);
		bc_error(b, EFBIG, "guest too large for this backup");
		errno = EFBIG;
		return -1;
	}
	/* A guest with a device model needs a driver that keeps its state
	 * with each commit; activating one without it would start the
	 * guest's memory with freshly reset devices. */
	b->devmodel = (hi->features & STREAM_FEAT_DEVICE_MODEL) != 0;
	if (b->devmodel && b->rops->commit_devices == NULL) {
		log_warnx("%s: refused: the guest has a device model, and "
		    "this remusd's %s driver cannot keep its state", b->peer,
		    hi->driver);
		bc_error(b, ENOTSUP, "device model state not supported");
		errno = ENOTSUP;
		return -1;
	}
	b->info.page_size = hi->page_size;
	b->info.nr_pages = hi->nr_pages;
	snprintf(b->driver, sizeof b->driver, "%s", hi->driver);
	b->config = malloc(hi->config_len ? hi->config_len : 1);
	if (b->config == NULL) {
		log_warn("%s: stream header", b->peer);
		bc_error(b, ENOMEM, "out of memory");
		return -1;
	}
	memcpy(b->config, hi->config, hi->config_len);
	b->config_len = hi->config_len;
	return 0;
}

/* The replica kept in DIR (an earlier session's, the one a failover now
 * would start) is of another memory size than this session's guest: a
 * resized guest, or a stream that only claims the guest's name.  Its
 * first commit would replace the kept replica with an image of another
 * guest than the one protected so far, so it is refused unless the
 * operator allowed it (--allow-resize); nothing is built, the kept
 * replica stays.  0 (same size, nothing kept, allowed), or -1 with one
 * line logged and sent as ERROR. */
static int
kept_other_size(struct backup *b, const char *dir)
{
	uint64_t bytes = 0, epoch = 0, want;
	char why[256];
	int rc;

	if (b->rops->kept == NULL)
		return 0;
	want = b->info.nr_pages * b->info.page_size;
	rc = b->rops->kept(dir, &bytes, &epoch);
	if (rc == -1) {
		log_warn("%s: guest \"%s\": the replica kept in %s", b->peer,
		    b->name, dir);
		bc_error(b, EIO, "cannot read the kept replica");
		errno = EIO;
		return -1;
	}
	if (rc == 0 || bytes == want)
		return 0;
	if (b->cfg.allow_resize) {
		log_info("%s: guest \"%s\": the kept replica (epoch %" PRIu64
		    ", %" PRIu64 " bytes) is replaced by one of %" PRIu64
		    " bytes at this session's first commit (--allow-resize)",
		    b->peer, b->name, epoch, bytes, want);
		return 0;
	}
	snprintf(why, sizeof why, "its replica kept here (epoch %" PRIu64
	    ", %" PRIu64 " KiB) is of another size than this stream's "
	    "(%" PRIu64 " pages of %u, %" PRIu64 " KiB): not replaced "
	    "(--allow-resize, or remove %s)", epoch, bytes >> 10,
	    b->info.nr_pages, b->info.page_size, want >> 10, dir);
	log_warnx("%s: guest \"%s\" refused: %s", b->peer, b->name, why);
	bc_error(b, EEXIST, "the backup keeps a replica of this guest of "
	    "another memory size (remusd --allow-resize)");
	errno = EEXIST;
	return -1;
}

/* HELLO names the guest: the owner says where its replica lives and what
 * it may be (or refuses it), and the replica is built.  0, or -1 with
 * the refusal said in one line and sent as ERROR. */
static int
make_replica(struct backup *b)
{
	struct replica_conf conf = { .name = b->name,
	    .no_guardian = b->cfg.no_guardian ||
	    (b->hello_flags & STREAM_HELLO_NO_GUARDIAN) != 0 };
	const char *dir = b->cfg.state_dir;
	char why[256] = "";
	int rc;

	b->in_hello = 1;
	rc = b->cfg.hello ? b->cfg.hello(b, b->name, b->driver, &dir, &conf,
	    why, sizeof why, b->cfg.hello_arg) : 0;
	b->in_hello = 0;
	if (rc == -1) {
		int code = errno ? errno : EPERM;

		log_warnx("%s: guest \"%s\" refused: %s", b->peer, b->name,
		    why);
		bc_error(b, code, why);
		errno = code;
		return -1;
	}
	if (kept_other_size(b, dir) == -1)
		return -1;
	b->slot = calloc(b->info.nr_pages, sizeof *b->slot);
	b->zpage = calloc(1, b->info.page_size);
	if (b->slot == NULL || b->zpage == NULL) {
		log_warn("%s: slot table", b->peer);
		bc_error(b, ENOMEM, "out of memory");
		return -1;
	}
	errno = 0;
	b->rep = b->rops->create(dir, &conf, b->config, b->config_len,
	    &b->info, b->cfg.replica_opts);
	if (b->rep == NULL) {
		int code = errno ? errno : EIO;

		/* The driver said why (a refusal names the field). */
		log_warnx("%s: guest \"%s\": no replica: %s", b->peer,
		    b->name, strerror(code));
		bc_error(b, code, code == EPERM ? "refused by the backup's "
		    "configuration" : "cannot create the replica");
		errno = code;
		return -1;
	}
	free(b->config);
	b->config = NULL;
	/* --dname: this backup's configuration names the guest it would
	 * activate; a driver that cannot refuses the session now, not at
	 * failover. */
	if (b->cfg.dname != NULL && (b->rops->set_name == NULL ||
	    b->rops->set_name(b->rep, b->cfg.dname) == -1)) {
		log_warnx("%s: --dname %s: the %s driver cannot give the guest"
		    " that name", b->peer, b->cfg.dname, b->driver);
		bc_error(b, EINVAL, "cannot rename the guest");
		return -1;
	}
	log_info("%s: protecting %s guest \"%s\" in %s: %" PRIu64 " pages "
	    "of %u bytes", b->peer, b->driver, b->name, dir,
	    b->info.nr_pages, b->info.page_size);
	return 0;
}

/* The replica's page hashes after WELCOME, in records of at most
 * STREAM_HASHES_MAX.  Hashing 1 GiB takes a fraction of a second; the
 * primary hears heartbeats meanwhile.  0, or -1 with errno set. */
static int
send_hashes(struct backup *b)
{
	uint8_t *h;
	uint64_t first, n, nr = b->info.nr_pages;
	uint64_t t0 = now_us();
	int rc = -1;

	h = malloc((size_t)STREAM_HASHES_MAX * STREAM_HASH_LEN);
	if (h == NULL)
		return -1;
	for (first = 0; first < nr; first += n) {
		n = nr - first < STREAM_HASHES_MAX ? nr - first :
		    STREAM_HASHES_MAX;
		if (b->rops->hash_pages(b->rep, first, (size_t)n, h) == -1) {
			log_warn("%s: hashes of the replica at pfn %" PRIu64,
			    b->peer, first);
			goto out;
		}
		if (stream_write_page_hashes(peer_writer(b->link), first,
		    (uint32_t)n, h) == -1) {
			log_warn("%s: PAGE_HASHES", b->peer);
			goto out;
		}
		/* A failed send is the link's to report. */
		(void)peer_flush(b->link);
		peer_heartbeat(b->link, 0);
	}
	log_info("%s: sent the hashes of %" PRIu64 " pages of the replica of "
	    "epoch %" PRIu64 " (%" PRIu64 " bytes, %" PRIu64 " ms)", b->peer,
	    nr, b->resumed_epoch, nr * STREAM_HASH_LEN,
	    (now_us() - t0) / 1000);
	rc = 0;
out:
	free(h);
	return rc;
}

/* Resume the replica an earlier session left, if the primary can resync
 * and the replica is of this guest (the driver says).  Sets b->resumed.
 * 0, or -1 (logged). */
static int
try_resume(struct backup *b, const struct stream_rec *rec)
{
	uint64_t e = 0;
	int allow, rc;

	if (b->rops->resume == NULL)
		return 0;
	/* A replica that cannot hash its pages (the Xen twin) cannot be
	 * resynced: the driver only records the name, and the primary
	 * sends a full checkpoint. */
	allow = (rec->u.hello.features & STREAM_HELLO_RESYNC) != 0 &&
	    b->rops->hash_pages != NULL;
	rc = b->rops->resume(b->rep, b->name, allow, &e);
	if (rc == -1) {
		log_warn("%s: resume the replica", b->peer);
		return -1;
	}
	if (rc == 1 && e != 0) {
		b->resumed = 1;
		b->resumed_epoch = e;
	}
	return 0;
}

/* HELLO: build the replica, answer with what this backup agrees to, then
 * READY.  Our -t is the session's T; a primary whose --timeout is shorter
 * refuses it on WELCOME.  Building the replica may take long (the Xen
 * driver builds a domain): that was our time, not the primary's silence,
 * and the link counts it so.  When the replica resumes an earlier
 * session's, its page hashes go between WELCOME and READY
 * (docs/stream-format.md 7.1). */
static int
take_hello(struct backup *b, const struct stream_rec *rec)
{
	struct stream_welcome wl;
	uint32_t t = b->cfg.timeout_ms;

	snprintf(b->name, sizeof b->name, "%s", rec->u.hello.name);
	b->have_hello = 1;
	b->hello_flags = rec->u.hello.flags;
	if (b->hello_flags & STREAM_HELLO_NO_GUARDIAN)
		log_info("%s: guest %s: the primary asks that no guardian "
		    "watch it once activated here (remus -e)", b->peer,
		    rec->u.hello.name);
	ev_timer_stop(b->loop, &b->hello_timer);
	if (make_replica(b) == -1) {
		b->refused = 1;
		return -1;
	}
	memset(&wl, 0, sizeof wl);
	wl.timeout_ms = t;
	wl.hb_ms = t / 4 < HEARTBEAT_MS_MAX ? (t / 4 ? t / 4 : 1) :
	    HEARTBEAT_MS_MAX;
	/* F: how long our fence may take; the primary holds for T + F + M. */
	wl.fence_ms = b->fence_ms;
	wl.flags = wl.fence_ms ? STREAM_WELCOME_FENCES : 0;
	if (rec->u.hello.timeout_ms < t)
		log_warnx("%s: the primary accepts at most a %u ms timeout, "
		    "ours is %u ms: it will refuse the session", b->peer,
		    rec->u.hello.timeout_ms, t);
	log_info("%s: guest %s, timeout %u ms, heartbeat %u ms", b->peer,
	    b->name, wl.timeout_ms, wl.hb_ms);
	peer_set_timing(b->link, wl.timeout_ms, wl.hb_ms);
	if (try_resume(b, rec) == -1)
		return -1;
	if (b->resumed) {
		wl.resume_epoch = b->resumed_epoch;
		wl.flags |= STREAM_WELCOME_HASHES;
		stream_writer_set_hashes(peer_writer(b->link),
		    b->info.nr_pages);
	}
	/* A failed send is the link's to report. */
	if (stream_write_welcome(peer_writer(b->link), &wl) == -1)
		return 0;
	if (b->resumed && send_hashes(b) == -1)
		return -1;
	bc_send(b, STREAM_REC_READY, STREAM_VERSION);
	return 0;
}

/* SWITCHOVER(n) (docs/stream-format.md, docs/control.md): the primary
 * holds its guest suspended after the final epoch n, which we committed
 * and acknowledged.  Activate (devices, then the guest) and say so with
 * ACTIVATED(n): only then does the primary destroy its copy.  No fence:
 * the primary asked and waits.  If we cannot activate, ERROR (through the
 * caller's stand-down) lets the primary resume its guest.  0 (the session
 * is over, switched over), or -1 with b->why set. */
static int
take_switchover(struct backup *b, uint64_t epoch)
{
	if (epoch != b->committed || b->rep == NULL) {
		snprintf(b->why, sizeof b->why, "SWITCHOVER(%" PRIu64 ") but "
		    "the committed epoch is %" PRIu64, epoch, b->committed);
		errno = EPROTO;
		return -1;
	}
	if (b->cfg.no_activate) {
		snprintf(b->why, sizeof b->why, "switchover refused: "
		    "--no-activate");
		errno = EPERM;
		return -1;
	}
	/* remusd's prepare for it, if any (docs/control.md): before
	 * anything is activated, so that a refusal changes nothing here. */
	if (b->admit != NULL && b->admit(b->admit_arg, b, b->name,
	    b->have_so_cookie ? b->so_cookie : NULL, 1, b->why,
	    sizeof b->why) == -1) {
		errno = EPERM;
		return -1;
	}
	log_info("%s: switchover: activating from epoch %" PRIu64 " (the "
	    "primary's guest is suspended)", b->peer, epoch);
	if (op_activate(b) == -1) {
		snprintf(b->why, sizeof b->why, "switchover: activation from "
		    "epoch %" PRIu64 " failed", epoch);
		return -1;
	}
	/* A failed send is the primary's to notice: it never destroys its
	 * copy without this record. */
	if (fault_injected(FI_ACTIVATED_DROP)) {
		log_info("%s: fault activated-drop: cutting the link instead "
		    "of ACTIVATED", b->peer);
		peer_abort(b->link);
	} else if (stream_write_ctl(peer_writer(b->link),
	    STREAM_REC_ACTIVATED, epoch) == 0)
		peer_flush_blocking(b->link, FLUSH_LAST_MS);
	log_info("%s: switched over: the guest runs here from epoch %" PRIu64,
	    b->peer, epoch);
	finish(b, BACKUP_SWITCHED_OVER);
	return 0;
}

/* The first epoch of a session: FULL onto an empty replica, RESYNC onto
 * a resumed one (the reader checked it is one of the two). */
static int
first_epoch_ok(struct backup *b, const struct stream_rec *rec)
{
	int resync = (rec->u.begin.flags & STREAM_EPOCH_RESYNC) != 0;

	if (b->committed != 0 || resync == b->resumed)
		return 0;
	snprintf(b->why, sizeof b->why, "a %s first epoch %s", resync ?
	    "RESYNC" : "FULL", resync ? "but no replica was resumed" :
	    "onto the resumed replica (the primary got its hashes)");
	errno = EPROTO;
	return -1;
}

/* An open epoch holds its pages (at most the guest's memory, itself at
 * most --max-guest-mem), guest state up to EPOCH_EXTRA_MAX in memory, and
 * disk writes (the disk device spills them to the state directory) up to
 * --max-disk: a peer cannot make us buffer without bound. */
static int
epoch_extra(struct backup *b, int disk, size_t len)
{
	uint64_t max = disk ? (b->cfg.max_disk ? b->cfg.max_disk :
	    MAX_DISK_DEFAULT) : EPOCH_EXTRA_MAX;
	uint64_t *n = disk ? &b->epoch_disk : &b->epoch_extra;

	*n += len;
	if (*n <= max)
		return 0;
	snprintf(b->why, sizeof b->why, "more than %" PRIu64 " MiB of %s in "
	    "one epoch (%s)", max >> 20, disk ? "device records" :
	    "guest state", disk ? "--max-disk" : "the limit");
	errno = EFBIG;
	return -1;
}

/* The open epoch's DEVICE_STATE, unpacked: its raw length counts against
 * the epoch's limit before anything is allocated, and a block that does
 * not decode to exactly that length is a corrupt epoch (never applied). */
static int
take_devices(struct backup *b, const struct stream_rec *rec)
{
	size_t raw = rec->u.devstate.len;

	if (rec->u.devstate.encoding == STREAM_DEVSTATE_LZ4 &&
	    codec_blob_len(rec->u.devstate.data, rec->u.devstate.len,
	    &raw) == -1)
		goto bad;
	if (epoch_extra(b, 0, raw) == -1 ||
	    buf_reserve(&b->dev, &b->dev_cap, raw) == -1)
		return -1;
	if (rec->u.devstate.encoding == STREAM_DEVSTATE_LZ4) {
		if (codec_blob_unpack(rec->u.devstate.data,
		    rec->u.devstate.len, b->dev, raw) == -1)
			goto bad;
	} else
		memcpy(b->dev, rec->u.devstate.data, raw);
	b->dev_len = raw;
	b->dev_kind = rec->u.devstate.kind;
	return 0;
bad:
	/* The caller says which epoch. */
	snprintf(b->why, sizeof b->why, "DEVICE_STATE: bad LZ4 block (%"
	    PRIu32 " bytes)", rec->u.devstate.len);
	errno = EPROTO;
	return -1;
}

/* What the session carries for the devices (DISKS, or NULL: nothing
 * declared, at the first epoch): each device checks it against this
 * backup's configuration for the guest.  Once per session.  0, or -1
 * with b->why set. */
static int
declare(struct backup *b, const struct stream_rec *rec)
{
	const uint32_t *t;
	size_t i;
	int taken = 0;

	b->declared = 1;
	for (i = 0; i < b->ndevs; i++) {
		const struct ckpt_backup_device_ops *o = b->devs[i].ops;

		if (o->declare == NULL)
			continue;
		for (t = o->rec_types; rec && t && *t; t++)
			taken |= *t == rec->type;
		if (o->declare(b->devs[i].dev, rec, b->why,
		    sizeof b->why) == -1) {
			errno = EPERM;
			return -1;
		}
	}
	if (rec != NULL && !taken) {
		/* Where the primary's disks would go is this backup's
		 * choice, per guest: none was made for this one. */
		snprintf(b->why, sizeof b->why, "the primary replicates %u "
		    "disk%s, this backup holds none for guest %s (remusd "
		    "--disk)", rec->u.disks.count, rec->u.disks.count == 1 ?
		    "" : "s", b->name);
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* Act on one record.  0, 1 for END, -1 on error (logged). */
static int
take_record(struct backup *b, const struct stream_rec *rec)
{
	struct bdev *d;

	switch (rec->type) {
	case STREAM_REC_COOKIE:
		/* Between epochs (the reader saw to it): a switchover's. */
		if (b->admitted) {
			memcpy(b->so_cookie, rec->u.cookie.cookie,
			    sizeof b->so_cookie);
			b->have_so_cookie = 1;
			return 0;
		}
		memcpy(b->cookie, rec->u.cookie.cookie, sizeof b->cookie);
		b->have_cookie = 1;
		return 0;
	case STREAM_REC_DISKS:
		return declare(b, rec);
	case STREAM_REC_EPOCH_BEGIN:
		/* Before anything of this session is committed: is it the
		 * one remusd expects for this guest? */
		if (!b->admitted) {
			b->admitted = 1;
			if (b->admit != NULL && b->admit(b->admit_arg, b,
			    b->name, b->have_cookie ? b->cookie : NULL, 0,
			    b->why, sizeof b->why) == -1) {
				errno = EPERM;
				return -1;
			}
		}
		if (!b->declared && declare(b, NULL) == -1)
			return -1;
		if (first_epoch_ok(b, rec) == -1)
			return -1;
		pending_reset(b);
		b->epoch_extra = b->epoch_disk = 0;
		b->in_epoch = 1;
		b->epoch = rec->u.begin.epoch;
		return 0;
	case STREAM_REC_PAGE_BATCH:
		return take_batch(b, rec);
	case STREAM_REC_GUEST_STATE:
		if (epoch_extra(b, 0, rec->length) == -1)
			return -1;
		if (buf_reserve(&b->state, &b->state_cap, rec->length) == -1)
			return -1;
		/* An empty state is legal; the buffer may not exist yet. */
		if (rec->length > 0)
			memcpy(b->state, rec->body, rec->length);
		b->state_len = rec->length;
		return 0;
	case STREAM_REC_DEVICE_STATE:
		return take_devices(b, rec);
	case STREAM_REC_EPOCH_END:
		return commit_epoch(b);
	case STREAM_REC_HELLO:
		return take_hello(b, rec);
	case STREAM_REC_HEARTBEAT:
		return 0;
	case STREAM_REC_SWITCHOVER:
		return take_switchover(b, rec->u.ctl.value);
	case STREAM_REC_END:
		/* What becomes of the replica is the driver's to say when
		 * it closes (proc keeps its file, Xen destroys the twin:
		 * the primary runs on). */
		log_info("%s: primary ended protection after epoch %" PRIu64
		    "; replica at epoch %" PRIu64 " not activated",
		    b->peer, rec->u.ctl.value, b->committed);
		return 1;
	default:
		d = device_for(b, rec->type);
		if (d == NULL) {
			snprintf(b->why, sizeof b->why, "%s record but no "
			    "device on this backup takes it",
			    stream_rec_name(rec->type) ?
			    stream_rec_name(rec->type) : "unknown");
			return -1;
		}
		if (epoch_extra(b, 1, rec->length) == -1)
			return -1;
		if (d->ops->record(d->dev, b->epoch, rec) == -1) {
			log_warn("epoch %" PRIu64 ": device %s", b->epoch,
			    d->ops->name);
			return -1;
		}
		return 0;
	}
}

/* ---- The link's callbacks ---------------------------------------------- */

static int
link_header(struct peer *p __unused, const struct stream_header_info *hi,
    void *arg)
{
	struct backup *b = arg;

	b->records++;
	if (take_header(b, hi) == -1) {
		local_error(b, errno ? errno : EPROTO, "stream header refused");
		return -1;
	}
	return 0;
}

static int
link_record(struct peer *p __unused, const struct stream_rec *rec, void *arg)
{
	struct backup *b = arg;
	int rc;

	errno = 0;
	/* As on the wire: header, body, padding (remus's wire_bytes). */
	b->ctr.bytes += sizeof(struct stream_rhdr) + ((rec->length +
	    STREAM_REC_ALIGN - 1) & ~(uint64_t)(STREAM_REC_ALIGN - 1));
	b->records++;
	rc = take_record(b, rec);
	if (rc == -1 && b->refused) {
		/* Said in one line already; nothing was built. */
		local_error(b, errno ? errno : EPERM, "guest refused");
		return -1;
	}
	if (b->finished)
		return -1;	/* switched over */
	if (rc == 1) {
		fo_backup_end(&b->fo, now_us() / 1000);
		settle(b);
		return -1;
	}
	if (rc == -1) {
		/* Ours (a commit that failed, ENOSPC, EROFS, ENOMEM) or the
		 * epoch's (bad page data): never the primary's loss (B1). */
		int code = errno ? errno : EPROTO;
		char msg[sizeof b->why + 64];

		if (b->epoch == 0) {
			/* Before any epoch (DISKS refused): nothing to
			 * drop or keep. */
			snprintf(msg, sizeof msg, "%s", b->why[0] ? b->why :
			    strerror(code));
			log_warnx("%s: refused before the first epoch: %s",
			    b->peer, msg);
			b->why[0] = '\0';
			local_error(b, code, msg);
			return -1;
		}
		snprintf(msg, sizeof msg, "epoch %" PRIu64 ": %s", b->epoch,
		    b->why[0] ? b->why : strerror(code));
		/* One line: what, and what is kept. */
		log_warnx("%s; dropping epoch %" PRIu64 ", keeping epoch %"
		    PRIu64, msg, b->epoch, b->committed);
		b->why[0] = '\0';
		local_error(b, code, msg);
		return -1;
	}
	/* A long stretch of records (the full epoch) is no reason for
	 * the primary to think us dead. */
	peer_heartbeat(b->link, 0);
	/* Progress; the time this record took us (a commit) is ours. */
	b->prog_records = b->records;
	b->prog_bytes = peer_received(b->link);
	b->prog_ms = peer_now_ms();
	return b->finished ? -1 : 0;
}

static void
link_lost(struct peer *p, enum peer_loss kind, const char *why, void *arg)
{
	struct backup *b = arg;
	char msg[sizeof b->why + 64];

	/* An epoch the commit thread has is committed first (or its
	 * failure stands us down): the policy acts on a whole replica. */
	if (commit_wait(b) == -1 || b->finished)
		return;
	ev_timer_stop(b->loop, &b->hello_timer);
	ev_timer_stop(b->loop, &b->prog_timer);
	if (kind == PEER_LOST_PROTOCOL) {
		/* A primary that sends bytes is alive: a corrupt or malformed
		 * stream is a reason to stand down, never to activate (B1).
		 * One line naming the error and saying what is kept. */
		snprintf(msg, sizeof msg, "epoch %" PRIu64 ": %s",
		    peer_reader(p)->epoch, why);
		log_warnx("%s; dropping epoch %" PRIu64 ", keeping epoch %"
		    PRIu64, msg, peer_reader(p)->epoch, b->committed);
		local_error(b, EPROTO, msg);
		return;
	}
	/* Silence, EOF, a reset (or a write error: the primary closed):
	 * the loss of the primary, judged from the conservative last_rx. */
	if (b->in_epoch)
		log_warnx("epoch %" PRIu64 ": stream ended mid-epoch (%s); "
		    "dropping it, keeping epoch %" PRIu64, b->epoch,
		    kind == PEER_LOST_EOF ? "EOF" : why, b->committed);
	switch (kind) {
	case PEER_LOST_EOF:
		snprintf(msg, sizeof msg, "EOF from primary");
		break;
	case PEER_LOST_RESET:
		snprintf(msg, sizeof msg, "read from primary: %s", why);
		break;
	case PEER_LOST_WRITE:
		snprintf(msg, sizeof msg, "write to primary: %s", why);
		break;
	default:
		snprintf(msg, sizeof msg, "%s", why);
		break;
	}
	log_warnx("%s: primary lost: %s (last committed epoch %" PRIu64 ")",
	    b->peer, msg, b->committed);
	/* The link detects silence (it knows when we were not listening);
	 * the policy learns last_rx with the loss, for the window. */
	fo_backup_heard(&b->fo, peer_last_rx(p));
	fo_backup_lost(&b->fo, peer_now_ms(), msg);
	settle(b);
}

static const struct peer_callbacks link_cbs = {
	.header = link_header,
	.record = link_record,
	.lost = link_lost,
};

/* ---- The policy's ops (failover/fo-backup.h) ------------------------- */

static void
local_error(struct backup *b, int code, const char *why)
{
	fo_backup_local_error(&b->fo, peer_now_ms(), code, why);
	settle(b);
}

static void
op_discard_open(void *arg)
{
	struct backup *b = arg;

	if (b->in_epoch) {
		devices_discard(b, b->epoch);
		pending_reset(b);
		b->in_epoch = 0;
	}
}

/* B1: ERROR to the primary (it releases at once), then close. */
static void
op_stand_down(void *arg, int code, const char *why)
{
	struct backup *b = arg;

	if (!peer_writer(b->link)->ended)
		bc_error(b, code, why);
	peer_flush_blocking(b->link, FLUSH_LAST_MS);
	peer_close(b->link);
}

static void
fence_done(struct fence *f __unused, int ok, const char *why, void *arg)
{
	struct backup *b = arg;

	log_info("%s: fence: %s", b->peer, why);
	b->ctr.fence_ok += ok != 0;
	fo_backup_fence_done(&b->fo, peer_now_ms(), ok);
	settle(b);
}

static void
op_fence(void *arg, unsigned attempt)
{
	struct backup *b = arg;
	struct fence_env env = {
		.guest = b->name, .name = b->name, .primary = b->peer,
		.epoch = b->committed, .attempt = attempt,
		.timeout_ms = b->fence_ms,
	};

	b->ctr.fence_runs++;
	if (b->fence == NULL || fence_start(b->fence, &env, fence_done,
	    b) == -1) {
		log_warn("%s: fence attempt %u", b->peer, attempt);
		fo_backup_fence_done(&b->fo, peer_now_ms(), 0);
	}
}

/* B4: devices first (the disk is the committed epoch's), then the guest. */
static int
op_activate(void *arg)
{
	struct backup *b = arg;
	size_t i;

	if (b->rep == NULL)
		return -1;
	if (b->cfg.no_activate) {
		log_info("%s: replica kept at epoch %" PRIu64 " (--no-activate)",
		    b->peer, b->committed);
		return 0;
	}
	for (i = 0; i < b->ndevs; i++) {
		const struct ckpt_backup_device_ops *o = b->devs[i].ops;

		if (o->activate && o->activate(b->devs[i].dev) == -1) {
			log_warn("failover: device %s: activate", o->name);
			return -1;
		}
	}
	if (b->rops->activate(b->rep) == -1) {
		log_warn("failover: activate epoch %" PRIu64, b->committed);
		return -1;
	}
	log_info("failover: guest activated from epoch %" PRIu64,
	    b->committed);
	b->ctr.failovers++;
	return 0;
}

static void
op_arm(void *arg, uint64_t at_ms)
{
	struct backup *b = arg;
	uint64_t now = peer_now_ms();

	ev_timer_stop(b->loop, &b->fo_timer);
	if (at_ms == 0)
		return;
	ev_timer_set(&b->fo_timer, at_ms > now ? (at_ms - now) / 1000.0 : 0.,
	    0.);
	ev_timer_start(b->loop, &b->fo_timer);
}

static void
fo_timer_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	struct backup *b = container_of(w, struct backup, fo_timer);

	fo_backup_tick(&b->fo, peer_now_ms());
	settle(b);
}

static const struct fo_backup_ops fo_ops = {
	.discard_open = op_discard_open,
	.stand_down = op_stand_down,
	.fence = op_fence,
	.activate = op_activate,
	.arm = op_arm,
};

/* After every policy event: a final state ends the session. */
static void
settle(struct backup *b)
{
	switch (b->fo.state) {
	case FOB_ACTIVATED:	finish(b, BACKUP_FAILED_OVER); break;
	case FOB_FAILED:	finish(b, BACKUP_FAILOVER_FAILED); break;
	case FOB_PASSIVE:	finish(b, BACKUP_PASSIVE); break;
	case FOB_STOOD_DOWN:	finish(b, BACKUP_STOOD_DOWN); break;
	case FOB_ENDED:		finish(b, BACKUP_END); break;
	case FOB_NOTHING:	finish(b, BACKUP_NOTHING); break;
	default:		break;
	}
}

/* ---- Deadlines on the peer ---------------------------------------------- */

/* No stream header and HELLO in time: whoever it is, it is dropped
 * before anything was built for it. */
static void
hello_timer_cb(struct ev_loop *loop __unused, ev_timer *w,
    int revents __unused)
{
	struct backup *b = container_of(w, struct backup, hello_timer);
	char msg[96];

	if (b->have_hello || b->finished)
		return;
	snprintf(msg, sizeof msg, "no stream header and HELLO within %u ms",
	    b->cfg.hello_ms);
	log_rate(LOG_ERR, "hello-deadline", "%s: dropped: %s", b->peer, msg);
	local_error(b, ETIMEDOUT, msg);
}

/* A peer that sends a byte now and then is not silent (the link's
 * silence timer counts bytes) but makes no progress: a whole record, or
 * PROGRESS_BYTES of one, within the progress deadline, or it is
 * dropped.  A primary that sends bytes is alive: this stands down (B1),
 * it does not activate. */
static void
prog_timer_cb(struct ev_loop *loop __unused, ev_timer *w,
    int revents __unused)
{
	struct backup *b = container_of(w, struct backup, prog_timer);
	uint64_t now = peer_now_ms(), rx = peer_received(b->link);
	char msg[128];

	if (b->finished)
		return;
	if (b->committing || b->records != b->prog_records ||
	    rx - b->prog_bytes >= PROGRESS_BYTES) {
		/* A commit on the thread is our wait, not the peer's. */
		b->prog_records = b->records;
		b->prog_bytes = rx;
		b->prog_ms = now;
	} else if (now - b->prog_ms >= b->cfg.progress_ms) {
		snprintf(msg, sizeof msg, "no progress for %" PRIu64 " ms (%"
		    PRIu64 " bytes, no whole record)", now - b->prog_ms,
		    rx - b->prog_bytes);
		log_rate(LOG_ERR, "progress-deadline", "%s: dropped: %s",
		    b->peer, msg);
		local_error(b, ETIMEDOUT, msg);
		return;
	}
	ev_timer_again(b->loop, &b->prog_timer);
}

/* ---- Life cycle ------------------------------------------------------ */

struct backup *
backup_new(struct ev_loop *loop, int rfd, int wfd,
    const struct backup_config *cfg, backup_done_fn *done, void *arg)
{
	struct peer_config pc;
	struct backup *b;
	uint32_t hb;

	b = calloc(1, sizeof *b);
	if (b == NULL)
		return NULL;
	b->loop = loop;
	b->cfg = *cfg;
	pthread_mutex_init(&b->wk.mu, NULL);
	pthread_cond_init(&b->wk.cv, NULL);
	ev_async_init(&b->wk.wake, worker_wake_cb);
	if (b->cfg.timeout_ms == 0)
		b->cfg.timeout_ms = 1000;
	b->done = done;
	b->arg = arg;
	snprintf(b->peer, sizeof b->peer, "fd %d", rfd);
	hb = b->cfg.timeout_ms / 4;
	if (hb > HEARTBEAT_MS_MAX)
		hb = HEARTBEAT_MS_MAX;
	memset(&pc, 0, sizeof pc);
	pc.rdir = STREAM_DIR_FORWARD;
	pc.timeout_ms = b->cfg.timeout_ms > HELLO_WAIT_MS ?
	    b->cfg.timeout_ms : HELLO_WAIT_MS;
	pc.hb_ms = hb ? hb : 1;
	pc.in_max = IN_MAX;
	pc.desc = b->peer;
	pc.io = b->cfg.io;
	pc.io_ctx = b->cfg.io_ctx;
	b->link = peer_new(loop, rfd, wfd, &pc, &link_cbs, b);
	if (b->link == NULL) {
		free(b);
		return NULL;
	}
	if (b->cfg.fence_cmd != NULL) {
		b->fence = fence_new(loop, b->cfg.fence_cmd);
		if (b->fence == NULL) {
			peer_free(b->link);
			free(b);
			return NULL;
		}
	}
	ev_init(&b->fo_timer, fo_timer_cb);
	if (b->cfg.hello_ms == 0)
		b->cfg.hello_ms = HELLO_WAIT_MS;
	if (b->cfg.progress_ms == 0)
		b->cfg.progress_ms = b->cfg.timeout_ms > PROGRESS_MS_MIN ?
		    b->cfg.timeout_ms : PROGRESS_MS_MIN;
	ev_timer_init(&b->hello_timer, hello_timer_cb,
	    b->cfg.hello_ms / 1000., 0.);
	ev_timer_init(&b->prog_timer, prog_timer_cb, 0.,
	    b->cfg.progress_ms / 4000.);
	/* The window is last_rx + T + F (B3), but silence for T can only be
	 * noticed a little after last_rx + T: with F = 0 (--no-fence) a
	 * silent primary would always be noticed past the window.  The
	 * policy gets one heartbeat period H more to notice it in.  Safe:
	 * the primary releases at X + T + F + M, and M (>= 500 ms) exceeds H
	 * (<= 200 ms) plus transit; WELCOME still announces F itself. */
	b->fence_ms = b->cfg.fence_cmd ? b->cfg.fence_ms : 0;
	fo_backup_init(&b->fo, &(struct fo_backup_cfg){
		.no_fence = b->cfg.fence_cmd == NULL,
		.fence_retry_ms = 1000,
	}, &(struct fo_timing){
		.timeout_ms = b->cfg.timeout_ms,
		.hb_ms = pc.hb_ms,
		.fence_ms = b->fence_ms + pc.hb_ms,
	}, &fo_ops, b);
	return b;
}

int
backup_set_fence(struct backup *b, const char *cmd, uint32_t ms)
{
	struct fence *f;

	if (cmd == NULL || ms == 0 || !b->in_hello) {
		errno = EINVAL;
		return -1;
	}
	if ((f = fence_new(b->loop, cmd)) == NULL)
		return -1;
	fence_free(b->fence);
	b->fence = f;
	b->cfg.fence_cmd = cmd;
	b->cfg.fence_ms = ms;
	b->fence_ms = ms;
	/* As backup_new set them: the policy's F is one heartbeat longer
	 * (see there).  Nothing has run the policy yet: the session is in
	 * its handshake, and the window is computed at loss. */
	b->fo.cfg.no_fence = 0;
	b->fo.timing.fence_ms = ms + b->fo.timing.hb_ms;
	return 0;
}

void
backup_set_peer(struct backup *b, const char *peer)
{
	snprintf(b->peer, sizeof b->peer, "%s", peer);
}

int
backup_add_device(struct backup *b, const struct ckpt_backup_device_ops *ops,
    void *dev)
{
	struct bdev *d;

	d = realloc(b->devs, (b->ndevs + 1) * sizeof *d);
	if (d == NULL)
		return -1;
	b->devs = d;
	d[b->ndevs].ops = ops;
	d[b->ndevs].dev = dev;
	b->ndevs++;
	return 0;
}

int
backup_start(struct backup *b)
{
	b->prog_ms = peer_now_ms();
	ev_timer_start(b->loop, &b->hello_timer);
	ev_timer_again(b->loop, &b->prog_timer);
	return peer_start(b->link);
}

static void
finish(struct backup *b, enum backup_result r)
{
	if (b->finished)
		return;
	/* Not while the thread has the replica (every path here waited
	 * for it already; this one would finish its commit). */
	if (b->committing && commit_wait(b) == -1)
		return;		/* commit_collect stood down: finished */
	if (b->finished)
		return;
	b->finished = 1;
	b->result = r;
	/* Last words (an ERROR, the final ACK) go out before the close. */
	peer_flush_blocking(b->link, FLUSH_LAST_MS);
	peer_close(b->link);
	ev_timer_stop(b->loop, &b->fo_timer);
	ev_timer_stop(b->loop, &b->hello_timer);
	ev_timer_stop(b->loop, &b->prog_timer);
	fence_cancel(b->fence);
	if (b->done)
		b->done(b, r, b->arg);
}

int
backup_activated(const struct backup *b, struct replica_guest *g,
    int (**runs)(const struct replica_guest *))
{
	if (b->rep == NULL || b->rops == NULL) {
		errno = ENOENT;
		return -1;
	}
	if (b->rops->activated == NULL || b->rops->guest_runs == NULL) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (b->rops->activated(b->rep, g) == -1)
		return -1;
	*runs = b->rops->guest_runs;
	return 0;
}

enum backup_result
backup_get_result(const struct backup *b)
{
	return b->result;
}

const char *
backup_result_str(enum backup_result r)
{
	switch (r) {
	case BACKUP_RUNNING:		return "running";
	case BACKUP_END:		return "clean end";
	case BACKUP_FAILED_OVER:	return "failed over";
	case BACKUP_NOTHING:		return "nothing committed";
	case BACKUP_FAILOVER_FAILED:	return "failover failed";
	case BACKUP_PASSIVE:		return "primary lost, not activated "
					    "(not fenced within the window)";
	case BACKUP_STOOD_DOWN:		return "stood down (ERROR sent), not "
					    "activated";
	case BACKUP_SWITCHED_OVER:	return "switched over";
	}
	return "?";
}

uint64_t
backup_committed(const struct backup *b)
{
	return b->committed;
}

void
backup_get_info(const struct backup *b, struct backup_info *bi)
{
	uint64_t now = peer_now_ms(), rx = b->link ? peer_last_rx(b->link) : 0;

	memset(bi, 0, sizeof *bi);
	bi->guest = b->name;
	bi->peer = b->peer;
	bi->state = fo_backup_state_str(b->fo.state);
	bi->committed = b->committed;
	bi->last_rx_age_ms = rx && now > rx ? now - rx : 0;
}

void
backup_set_admit(struct backup *b, backup_admit_fn *fn, void *arg)
{
	b->admit = fn;
	b->admit_arg = arg;
}

int
backup_failover(struct backup *b, const char *why)
{
	if (b->finished || b->fo.state != FOB_RECEIVING) {
		errno = EALREADY;
		return -1;
	}
	if (commit_wait(b) == -1 || b->finished) {
		errno = EALREADY;	/* stood down instead */
		return -1;
	}
	log_warnx("%s: %s: failing over (last committed epoch %" PRIu64 ")",
	    b->peer, why, b->committed);
	/* Abortive: nothing more from this primary is read, and it sees
	 * the loss as any other (it holds its output, P2). */
	if (b->in_epoch)
		log_warnx("epoch %" PRIu64 ": dropped, keeping epoch %" PRIu64,
		    b->epoch, b->committed);
	fo_backup_heard(&b->fo, peer_last_rx(b->link));
	peer_abort(b->link);
	fo_backup_lost(&b->fo, peer_now_ms(), why);
	settle(b);
	return 0;
}

void
backup_get_counters(const struct backup *b, struct backup_counters *c)
{
	*c = b->ctr;
	c->name = b->name;
}

const char *
backup_peer(const struct backup *b)
{
	return b->peer;
}

const char *
backup_name(const struct backup *b)
{
	return b->name;
}

void
backup_free(struct backup *b)
{
	size_t i;

	if (b == NULL)
		return;
	worker_stop(b);
	pthread_mutex_destroy(&b->wk.mu);
	pthread_cond_destroy(&b->wk.cv);
	peer_free(b->link);
	ev_timer_stop(b->loop, &b->fo_timer);
	ev_timer_stop(b->loop, &b->hello_timer);
	ev_timer_stop(b->loop, &b->prog_timer);
	fence_free(b->fence);
	free(b->config);
	for (i = 0; i < b->ndevs; i++)
		if (b->devs[i].ops->teardown)
			b->devs[i].ops->teardown(b->devs[i].dev);
	free(b->devs);
	if (b->rep && b->rops->close)
		b->rops->close(b->rep);
	if (b->pending)
		munmap(b->pending, b->pend_cap * b->info.page_size);
	free(b->plist);
	free(b->pzero);
	free(b->zpage);
	free(b->slot);
	free(b->state);
	free(b->dev);
	free(b);
}
