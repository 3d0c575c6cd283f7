/* checkpoint/checkpoint.h -- the epoch engine and the devices it drives.
 *
 *   epoch n:
 *   suspend -> dirty log -> copy to staging -> postsuspend* -> preresume*
 *   -> resume            (guest paused only in this span; no I/O in it)
 *   -> encode + send n (EPOCH_BEGIN .. pages .. device records .. EPOCH_END)
 *   -> ACK(n) from the backup -> commit* (netbuf releases epoch n's output)
 *
 *   (* = every registered device, in registration order)
 *
 * Devices (netbuf, diskbuf) plug in through struct ckpt_device_ops, the
 * vocabulary of libxl's checkpoint devices.  The engine includes none of
 * their headers: remusd/ adapts each module to this table.
 */
#ifndef REMUS_CHECKPOINT_H
#define REMUS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

struct stream_writer;
struct stream_rec;
struct ratelimit;

/* --trigger output: a device calls this (from the engine's loop) when the
 * open epoch starts holding output, after output_watch armed it. */
typedef void	ckpt_output_fn(void *arg);

/* Primary-side device.  Every hook returns 0, or -1 with errno set (already
 * logged).  A hook may be NULL. */
struct ckpt_device_ops {
	const char *name;

	/* A new session's stream, after HELLO and before its first epoch:
	 * append this device's session records (diskbuf: DISKS, the disks
	 * the epochs' DISK_WRITE records refer to). */
	int	(*declare)(void *dev, struct stream_writer *w);

	/* The guest is paused at the end of epoch N: start buffering
	 * epoch N + 1's output (netbuf: TCQ_PLUG_BUFFER; diskbuf: tag
	 * later writes N + 1). */
	int	(*postsuspend)(void *dev, uint64_t epoch);

	/* Just before the guest resumes. */
	int	(*preresume)(void *dev, uint64_t epoch);

	/* After the guest resumed, while epoch N is being sent: append this
	 * device's records for epoch N (diskbuf: DISK_WRITE records). */
	int	(*save)(void *dev, uint64_t epoch, struct stream_writer *w);

	/* The backup acknowledged epoch N: release what it produced. */
	int	(*commit)(void *dev, uint64_t epoch);

	/* Protection ended (backup lost, or shutdown): release everything
	 * held and stop buffering.  Must not fail in a way that keeps
	 * output held. */
	void	(*release_all)(void *dev);

	/* After release_all, a new session is about to send its first
	 * (full) epoch EPOCH: hold output again from now, as at setup, so
	 * that what follows is released only on ACK(EPOCH) or later.
	 * (diskbuf: log the disks again and resync them to the new
	 * session's backup.)  NULL: this device cannot protect again
	 * (diskbuf without --disk-sync), and the engine does not reconnect
	 * after a release (docs/failover.md P4). */
	int	(*reprotect)(void *dev, uint64_t epoch);
	/* With reprotect NULL: why, for the one line at the release. */
	const char *no_reprotect;

	/* The guest failed on this host (it died, or would not suspend or
	 * resume): drop everything held.  That output came from state the
	 * backup may not have, and the backup takes over from the last
	 * acknowledged epoch, so releasing it could show clients output
	 * of lost state.  NULL: release_all is called instead. */
	void	(*discard_all)(void *dev);

	/* --trigger output (Kemari): does the open epoch (since the last
	 * postsuspend) hold output?  FN non-NULL: 1 if it does already (FN
	 * will not be called), 0 if not, then FN(ARG) is called once, from
	 * the engine's loop, when it starts to (netbuf: the first packet
	 * held), until the next postsuspend or a call with FN NULL, which
	 * disarms (returns 0).  -1 with errno set on error: the engine then
	 * cuts epochs on the interval only.  NULL: this device never
	 * triggers an epoch. */
	int	(*output_watch)(void *dev, ckpt_output_fn *fn, void *arg);

	/* Called even if setup failed (C3). */
	void	(*teardown)(void *dev);
};

/* Backup-side device: sees its records of the open epoch, and the outcome. */
struct ckpt_backup_device_ops {
	const char *name;
	/* STREAM record types this device consumes (0-terminated). */
	const uint32_t *rec_types;
	/* Once per session, before its first epoch: REC is the record that
	 * declares what the session carries for this device (diskbuf: DISKS,
	 * one of rec_types), or NULL when the primary declared nothing.
	 * Check it against this backup's own configuration for the guest:
	 * -1 with one line in WHY refuses the session (nothing was
	 * committed).  NULL: nothing to declare. */
	int	(*declare)(void *dev, const struct stream_rec *rec, char *why,
		    size_t whylen);
	/* A record of open epoch N (already length- and CRC-checked only
	 * when N commits: buffer it, do not apply it). */
	int	(*record)(void *dev, uint64_t epoch, const struct stream_rec *);
	/* EPOCH_END(N) validated: apply and make durable before the ACK. */
	int	(*commit)(void *dev, uint64_t epoch);
	/* Epoch N will never commit (stream lost or corrupt): drop it. */
	void	(*discard)(void *dev, uint64_t epoch);
	/* Failover. */
	int	(*activate)(void *dev);
	void	(*teardown)(void *dev);
};

/* ---- The epoch engine (checkpoint/ckpt.c) -------------------------- */

struct ev_loop;
struct domain;
struct domain_ops;
struct transport;
struct ckpt;

/* What cut an epoch (--trigger, and ckpt_epoch_stats.trigger). */
enum ckpt_trigger {
	CKPT_TRIGGER_INTERVAL = 0,	/* the -i timer */
	CKPT_TRIGGER_OUTPUT,		/* output held (after the gap) */
};

/* --precopy: read the dirty log and copy what it names while the guest
 * still runs, just before each suspend, so that the paused pass reads
 * and copies only what was written since (where the driver's log allows
 * it: DOMAIN_INFO_LIVE_DIRTY_LOG). */
enum ckpt_precopy {
	CKPT_PRECOPY_AUTO = 0,		/* the default: when the last epoch
					 * had CKPT_PRECOPY_MIN_PAGES or more,
					 * and for the full epoch's paused
					 * part */
	CKPT_PRECOPY_ON,		/* before every suspend */
	CKPT_PRECOPY_OFF,
};
/* Below this many dirty pages an epoch's write-protect and copy cost less
 * than the noise of its pause (bench-epoch: 100 pages copy in ~0.05 ms
 * of a ~1 ms pause), and a pre-copy would walk the page tables twice for
 * nothing; from a few hundred on they are a good part of it. */
#define CKPT_PRECOPY_MIN_PAGES	256

#define CKPT_MAX_PAUSED_PCT_DEFAULT	20
/* A CPU guard more than a latency one: every epoch costs remus and
 * remusd about the same (bench/service: ~66 us of their CPU per request
 * at 16 clients, at 500 and at 1000 Hz alike), so the rate only caps how
 * many requests a chatty guest gets served; the guest's own cost is
 * --max-paused-pct's to bound.  2000, the top of the range: on an idle
 * machine 16 closed-loop clients got 23-27% of unprotected throughput at
 * 1000 Hz and 42-51% at 2000 (bench/README), for about 38% of a CPU in
 * remus and 20% in remusd instead of 21-30% and 10-14%. */
#define CKPT_MAX_RATE_DEFAULT		2000	/* Hz */

struct ckpt_config {
	uint32_t	interval_ms;	/* suspend-to-suspend period (-i) */
	int		compress;	/* 0: ZERO/RAW pages only (-u) */
	uint32_t	timeout_ms;	/* backup silent this long: lost, until
					 * WELCOME; then the longest T we
					 * accept from the backup */
	size_t		cache_bytes;	/* codec XOR cache budget */
	uint32_t	full_chunk_pages; /* full epoch: pages per chunk; 0 = default */
	const char	*guest_name;	/* for messages ("proc:123") */
	uint32_t	reconnect_ms;	/* --reconnect-interval; 0: never (the
					 * engine ends once output is released) */
	uint32_t	reconnect_limit; /* --reconnect-limit; 0: for ever */
	const char	*fence_backup;	/* --fence-backup CMD, or NULL */
	const uint8_t	*cookie;	/* --cookie (16 bytes): sent in the
					 * first session only, or NULL */
	uint32_t	hello_flags;	/* STREAM_HELLO_* flags every session's
					 * HELLO carries (-e: NO_GUARDIAN) */
	/* --trigger output: with output held, cut the epoch once the gap
	 * since the last suspend has passed; the gap is the larger of
	 * 1/max_rate_hz and the mean pause / max_paused_pct, so the guest
	 * is paused at most that share of the time.  0 = the defaults. */
	enum ckpt_trigger trigger;
	uint32_t	max_paused_pct;	/* --max-paused-pct (1..90) */
	uint32_t	max_rate_hz;	/* --max-rate */
	struct ratelimit *ratelimit;	/* --bandwidth: the link's token
					 * bucket (ratelimit.h), borrowed;
					 * NULL: no cap */
	enum ckpt_precopy precopy;	/* --precopy */
};

/* One epoch's figures, reported once it is acknowledged. */
struct ckpt_epoch_stats {
	uint64_t	epoch;
	uint32_t	full;		/* 1 for the first, full epoch */
	uint32_t	trigger;	/* enum ckpt_trigger: what cut it */
	uint64_t	start_us;	/* suspend time, monotonic clock */
	uint64_t	period_us;	/* since the previous suspend (0: first) */
	uint64_t	pause_us;	/* suspend .. resume */
	uint64_t	dirty_pages;	/* pages sent (full: all + dirty) */
	uint64_t	raw_bytes;	/* pages * page size */
	uint64_t	wire_bytes;	/* stream bytes of this epoch */
	uint64_t	encode_us;	/* codec + writer, after resume */
	uint64_t	send_us;	/* first byte queued .. last byte written */
	uint64_t	ack_rtt_us;	/* last byte written .. ACK received */
	uint64_t	waits;		/* times this epoch waited for an ACK */
	uint64_t	wait_us;	/* time it waited */
	/* Where the pause went: */
	uint64_t	suspend_us;	/* the guest reaching its safe point */
	uint64_t	dirtylog_us;	/* reading and clearing the dirty log */
	uint64_t	copy_us;	/* copying dirty pages to staging */
	uint64_t	state_us;	/* the guest's state and its device
					 * model's (HVM: QEMU's save) */
	uint64_t	resume_us;	/* resume: guest told to run .. back */
	/* The pre-copy, before the suspend, the guest running (0: none): */
	uint64_t	precopy_us;	/* reading the log and copying */
	uint64_t	precopy_pages;	/* pages it copied */
	uint64_t	recopy_pages;	/* of those, written again before the
					 * suspend: copied again, paused */
};

enum ckpt_result {
	CKPT_RUNNING = 0,
	CKPT_STOPPED,		/* orderly shutdown (ckpt_stop), END sent */
	CKPT_HANDSHAKE_FAILED,	/* backup never became READY (no reconnect) */
	CKPT_BACKUP_LOST,	/* released, unprotected, not reconnecting
				 * (no interval, or the limit reached) */
	CKPT_GUEST_FAILED,	/* suspend/copy/resume failed */
	CKPT_GUEST_SHUTDOWN,	/* the guest shut itself down, END sent */
	CKPT_INTERNAL,		/* out of memory, bug */
	CKPT_SWITCHED_OVER,	/* planned switchover: the guest runs on the
				 * backup, this copy destroyed */
	CKPT_SWITCHOVER_UNKNOWN, /* the backup's answer to SWITCHOVER was
				 * lost: the guest is left suspended here */
};

typedef void	ckpt_stats_fn(const struct ckpt_epoch_stats *, void *arg);
/* Called once when the engine stops for good (any result but RUNNING). */
typedef void	ckpt_done_fn(struct ckpt *, enum ckpt_result, void *arg);

/* Build an engine for the guest DOM (driven through OPS) and the
 * transport TP, in LOOP.  DOM, TP and CFG's strings are borrowed and must
 * outlive the engine; ckpt_start takes TP's descriptors over (TP keeps
 * its description and child).  Returns NULL with errno set. */
struct ckpt	*ckpt_new(struct ev_loop *loop, const struct domain_ops *ops,
		    struct domain *dom, struct transport *tp,
		    const struct ckpt_config *cfg);

/* Register a device; hooks run in registration order.  The engine calls
 * teardown(dev) in ckpt_free (also when ckpt_start failed). */
int	ckpt_add_device(struct ckpt *, const struct ckpt_device_ops *,
	    void *dev);

void	ckpt_set_callbacks(struct ckpt *, ckpt_stats_fn *, ckpt_done_fn *,
	    void *arg);

/* Open a new transport to the backup into TP (initialised, fds -1) for a
 * reconnect (docs/failover.md P4).  0, or -1 with errno set (logged).
 * Without one the engine cannot reconnect. */
typedef int	ckpt_connect_fn(struct transport *tp, void *arg);
void	ckpt_set_connect(struct ckpt *, ckpt_connect_fn *, void *arg);

/* Where the engine is, for the control socket (remusd/ctl-primary.c). */
struct ckpt_info {
	const char	*phase;		/* engine: HANDSHAKE, FULL, RUNNING... */
	const char	*state;		/* policy: PROTECTED, HOLDING... */
	const char	*backup;	/* the link's description */
	uint64_t	 epoch;		/* last begun */
	uint64_t	 acked;		/* last acknowledged */
	uint64_t	 last_ack_us;	/* monotonic; 0: none yet */
	uint64_t	 held_since_us;	/* suspend of the oldest unacked epoch
					 * (0: none) */
	uint32_t	 interval_ms;
	uint32_t	 page_size;	/* the guest's (bytes to pages) */
	const char	*switchover;	/* none, requested, sent, acked,
					 * unknown */
};
void	ckpt_get_info(const struct ckpt *, struct ckpt_info *);

/* One line for SIGUSR1: policy state, epoch, acked, held since. */
void	ckpt_status(const struct ckpt *, char *buf, size_t len);

/* Enable dirty logging, send the stream header and start the loop's
 * watchers: the handshake, the full epoch 1 and the periodic epochs then
 * run from LOOP.  0, or -1 with errno set (logged). */
int	ckpt_start(struct ckpt *);

/* Orderly shutdown (SIGINT/SIGTERM/SIGQUIT, P6): stop epochs, send END
 * after the last complete epoch, release every device.  While output is
 * held after a loss (P2), the stop completes when the policy releases it,
 * never earlier.  Idempotent. */
void	ckpt_stop(struct ckpt *);

/* The backup changes (remusctl reprotect): end the current session
 * cleanly -- END after the last complete epoch, so the old backup keeps
 * its replica and never activates it; output is released as when a
 * backup stands down -- and let the policy reconnect (P4) through the
 * connect callback, which by then reaches the new backup.  Without a
 * session (holding, reconnecting) nothing changes but where the next
 * attempt goes.  -1 with EOPNOTSUPP when this engine never reconnects
 * (--reconnect-interval 0, a device that cannot hold output again). */
int	ckpt_new_backup(struct ckpt *, const char *why);

/* Planned switchover (remusctl switchover, docs/control.md): the next
 * epoch is the final one; the guest stays suspended after it, SWITCHOVER
 * follows it, ACK(n) releases its output, ACTIVATED(n) from the backup
 * says the guest runs there, and only then is this copy destroyed and the
 * engine finished (CKPT_SWITCHED_OVER).  FN is called once with the
 * outcome: OK, the final EPOCH and the guest's DOWNTIME_US (suspend here
 * to ACTIVATED read here), or WHY it failed (the guest then runs here
 * again, protected or not as the policy decided) -- except when the
 * answer was lost after SWITCHOVER left: the guest stays suspended here
 * (the backup may run it) until ckpt_stop (CKPT_SWITCHOVER_UNKNOWN).
 * COOKIE (NULL: none) is remusd's prepare for this switchover (the
 * perform of prepare / perform / finish): it goes in a COOKIE record
 * right before SWITCHOVER, and a backup that refuses it answers ERROR
 * like any refusal (the guest resumes here).
 * -1 with errno: EALREADY, EOPNOTSUPP (the driver cannot destroy),
 * EAGAIN (not protected now). */
typedef void	ckpt_switchover_fn(void *arg, int ok, uint64_t epoch,
		    uint64_t downtime_us, const char *why);
int	ckpt_switchover(struct ckpt *, const uint8_t *cookie,
	    ckpt_switchover_fn *, void *arg);

enum ckpt_result ckpt_get_result(const struct ckpt *);

/* The full epoch (a session's first) while it is copied: bytes of guest
 * memory queued so far in *DONE of *TOTAL, since *START_US (now_us()).
 * 1 while it runs, 0 otherwise (for remus's progress line). */
int	ckpt_full_progress(const struct ckpt *, uint64_t *done,
	    uint64_t *total, uint64_t *start_us);
const char	*ckpt_result_str(enum ckpt_result);
/* "interval", "output"; and the parser (0, or -1 with errno EINVAL). */
const char	*ckpt_trigger_str(enum ckpt_trigger);
int		 ckpt_trigger_parse(const char *, enum ckpt_trigger *);
/* "auto" / "on" / "off": 0, or -1 with errno = EINVAL. */
int		 ckpt_precopy_parse(const char *, enum ckpt_precopy *);
uint64_t	 ckpt_last_acked(const struct ckpt *);

/* What the handshake agreed (WELCOME); zeros before it. */
struct ckpt_timing {
	uint32_t	timeout_ms;	/* T: the backup's */
	uint32_t	hb_ms;		/* H */
	uint32_t	fence_ms;	/* F: 0 when the backup does not fence */
	uint64_t	resume_epoch;	/* committed replica it holds (0: none) */
};
const struct ckpt_timing *ckpt_get_timing(const struct ckpt *);

/* Teardown devices and free.  The domain and transport stay the caller's.
 * NULL ok. */
void	ckpt_free(struct ckpt *);

/* Microseconds until the next suspend: the period runs suspend to suspend
 * (LAST_SUSPEND_US, 0 = none yet), so work after resume does not stretch
 * it.  Exposed for the unit test. */
uint64_t ckpt_next_delay_us(uint64_t last_suspend_us, uint32_t interval_ms,
	    uint64_t now);

/* --trigger output: the shortest suspend-to-suspend gap, in microseconds,
 * for a mean pause of PAUSE_US: at least 1/MAX_RATE_HZ, and long enough
 * that PAUSE_US is at most MAX_PAUSED_PCT % of it; never above
 * INTERVAL_MS.  Exposed for the unit test. */
uint64_t ckpt_output_gap_us(uint64_t pause_us, uint32_t max_paused_pct,
	    uint32_t max_rate_hz, uint32_t interval_ms);

#endif /* REMUS_CHECKPOINT_H */
