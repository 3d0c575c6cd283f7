/* domain/domain.h -- the guest driver ops tables.
 *
 * A guest driver ("proc", "xen", ...) is one file implementing two tables:
 * struct domain_ops for the primary (attach, dirty log, suspend, copy,
 * resume) and struct replica_ops for the backup (hold committed memory,
 * activate on failover).  The epoch engine and the backup receiver drive
 * guests only through these tables; nothing above domain/ knows which
 * driver runs (STYLE L3).  This header depends on nothing but libc so that
 * checkpoint/ may include it.
 *
 * Primary, one epoch (all calls from the engine's thread):
 *
 *   suspend -> dirty_read_clear -> copy_pages (+ save_state) -> resume
 *   '------------------- guest paused ---------------------'
 *
 * The first epoch sends every page: the engine calls dirty_read_clear once
 * to reset the log, then copies all pages while the guest runs, then runs a
 * normal paused epoch for what changed meanwhile.
 *
 * Every int function returns 0, or -1 with errno set and the reason
 * already logged (E1, E4).
 */
#ifndef REMUS_DOMAIN_H
#define REMUS_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

struct domain;			/* per-driver private state */
struct replica;			/* per-driver private state */

/* A driver's settings, from flags or remus.conf(5), handed to open and
 * create (not read from the environment deep inside a driver).  NULL, or
 * a zeroed struct, means every default; a driver reads the fields that
 * concern it. */
struct domain_opts {
	const char	*dirty_method;	/* proc: "pagemap-scan", "softdirty",
					 * "auto" or NULL: choose */
	unsigned	 scan_threads;	/* proc: page-table walkers, 1 or 2;
					 * 0: 2 when there are 2 CPUs */
	int		 xen_mapcache;	/* xen: keep 4 MiB chunk mappings
					 * across epochs */
	const char	*proc_listen;	/* proc replica: the activated guest
					 * listens here (if it listened) */
	int		 proc_sync;	/* proc replica: commits durable
					 * across a crash of the host */
	/* Timeouts in ms; 0: the driver's default. */
	uint32_t	 suspend_timeout_ms; /* proc: suspend answered (and
					 * hello), 3000; xen: a suspend the
					 * guest took reached, 10000 */
	uint32_t	 xen_ack_timeout_ms; /* xen: suspend request taken,
					 * else the epoch is skipped, 500 */
	uint32_t	 xen_refuse_grace_ms; /* xen: skipped epochs before it
					 * is a failure, 120000 */
	uint32_t	 activate_timeout_ms; /* proc replica: the activated
					 * guest says it runs, 10000 */
};

/* The guest an activate started (replica_ops.activated), for remusd's
 * finish: enough to find it again after the replica is gone. */
struct replica_guest {
	const char	*id_kind;	/* "pid" (proc), "domid" (xen) */
	uint64_t	 id;
	uint64_t	 start;		/* proc: its start time (clock ticks
					 * after boot), so that a reused pid
					 * is not taken for it; 0: none */
	char		 name[80];	/* what it runs as here ("": the
					 * HELLO name) */
};

struct domain_info {
	uint32_t	page_size;	/* bytes, a power of two */
	uint64_t	nr_pages;	/* pfns are 0 .. nr_pages - 1 */
	uint32_t	flags;		/* DOMAIN_INFO_* (0 on the backup) */
};

/* dirty_read_clear may run while the guest runs: the read and the clear
 * of each page are one step, so a write that lands after a page was read
 * shows in the next read (proc: PAGEMAP_SCAN's write-protect, atomic per
 * page table; not soft-dirty, whose read and clear are two passes).  The
 * engine then pre-copies: it reads the log and copies what it names just
 * before the suspend, and the paused pass copies only what was written
 * since (checkpoint/ckpt.c, precopy). */
#define DOMAIN_INFO_LIVE_DIRTY_LOG	0x1u
/* The guest has a device model (Xen HVM: QEMU emulating its platform and
 * devices) whose state belongs to every checkpoint as much as its memory:
 * save_devices gives it, the engine sends it in each epoch (DEVICE_STATE,
 * docs/stream-format.md), and the backup's replica takes it with the
 * epoch's commit (replica_ops.commit_devices). */
#define DOMAIN_INFO_DEVICE_MODEL	0x2u

/* save_devices' kinds: the stream's STREAM_DEVSTATE_* (the engine checks
 * they agree), here so that drivers need not include checkpoint/. */
#define DOMAIN_DEVSTATE_QEMU		1u	/* xen-save-devices-state */

struct domain_ops {
	const char	*name;		/* "proc", "xen": the spec prefix */

	/* Attach to the guest named by SPEC (the part after "name:").
	 * OPTS: its settings (NULL: defaults).  Returns the driver state,
	 * or NULL with errno set (ENOENT: no such guest; ENOTSUP: kernel or
	 * hypervisor lacks a feature; EINVAL: a bad setting). */
	struct domain	*(*open)(const char *spec,
		    const struct domain_opts *);

	void	(*info)(struct domain *, struct domain_info *);

	/* Opaque configuration the backup needs to build the replica
	 * (carried in the stream header).  *LEN is in/out: buffer size in,
	 * bytes used out.  ENOSPC if the buffer is too small. */
	int	(*get_config)(struct domain *, void *buf, size_t *len);

	/* Start dirty tracking (and clear the log). */
	int	(*logdirty_enable)(struct domain *);

	/* Bring the guest to a safe point and keep it there.  Bounded: a
	 * guest that does not acknowledge within the driver's timeout is an
	 * error (ETIMEDOUT).  ESHUTDOWN: the guest shut itself down
	 * (poweroff, reboot) -- a deliberate end, not a failure: the engine
	 * ends protection with END and the backup does not start its copy.
	 * A guest that crashed or vanished is an error like any other, and
	 * the backup fails over.  EAGAIN: the guest did not take the request
	 * (busy, or shutting down and ignoring it); nothing is suspended and
	 * the engine tries again an interval later.  The driver bounds how
	 * long it answers EAGAIN before it reports ETIMEDOUT. */
	int	(*suspend)(struct domain *);

	/* Fill BITMAP (nr_pages bits, caller-allocated and zeroed) with the
	 * pages written since the last call, and clear the log.  Returns
	 * the number of dirty pages in *COUNT.  Called while suspended, and
	 * while the guest runs to reset the log before the full copy; with
	 * DOMAIN_INFO_LIVE_DIRTY_LOG also for the pre-copy, whose result
	 * counts. */
	int	(*dirty_read_clear)(struct domain *, uint64_t *bitmap,
		    uint64_t *count);

	/* Copy N pages (pfns ascending) into DST, N * page_size bytes.
	 * Called while suspended for dirty epochs, and while running for
	 * the first, full epoch. */
	int	(*copy_pages)(struct domain *, const uint64_t *pfns, size_t n,
		    void *dst);

	/* Guest state other than memory (vCPU context, ...) while
	 * suspended.  *LEN in/out as for get_config; 0 bytes is fine. */
	int	(*save_state)(struct domain *, void *buf, size_t *len);

	/* With DOMAIN_INFO_DEVICE_MODEL (required then, else unused): the
	 * device model's state while suspended, after save_state.  *BUF
	 * points at *LEN >= 1 bytes the driver owns until its next call or
	 * close (the engine sends them after the resume); *KIND is their
	 * layout (DOMAIN_DEVSTATE_*).  A
	 * failure is the guest's, as a failed copy is. */
	int	(*save_devices)(struct domain *, uint32_t *kind,
		    const void **buf, size_t *len);

	/* Let the guest run again. */
	int	(*resume)(struct domain *);

	/* Stop dirty tracking and detach; the guest keeps running.  NULL
	 * ok.  Safe after any failure, including a failed open. */
	void	(*close)(struct domain *);

	/* Optional.  The host-side network interfaces that carry the
	 * guest's output (Xen: its vifs), comma-separated into BUF of LEN
	 * bytes; "" when it has none.  remus buffers them when no
	 * --netbuf-if is given.  NULL: the driver cannot tell. */
	int	(*net_ifaces)(struct domain *, char *buf, size_t len);

	/* Optional.  A planned switchover: the backup runs the guest now,
	 * from the state this suspended guest had; end this copy for good
	 * (proc: SIGKILL, waited for), so that close does not resume it.
	 * NULL: the driver cannot, and switchover is refused. */
	int	(*destroy)(struct domain *);

	/* Optional.  A switchover whose answer was lost: the backup may run
	 * the guest, so this suspended copy must not run again, even after
	 * remus is gone, until an operator says (proc: SIGSTOP, so that its
	 * control socket closing does not set it going).  NULL: the driver
	 * keeps it suspended only while remus holds it. */
	int	(*hold)(struct domain *);

	/* Optional.  The guest's disks the driver knows of ("xvda=path",
	 * comma-separated) into BUF of LEN bytes; "" when none.  remus
	 * refuses to protect a guest with disks it does not replicate
	 * unless told (-F -d).  NULL: the driver cannot tell. */
	int	(*disks)(struct domain *, char *buf, size_t len);
};

/*
 * Backup.  The receiver buffers epoch n in its own memory, validates
 * EPOCH_END(n), and only then writes pages into the replica's working copy
 * and calls commit(n).  A failure before commit leaves the replica at
 * n - 1.  A driver whose replica outlives remusd (proc: files in the state
 * directory) makes commit atomic with respect to a crash of remusd or of
 * the backup host, and recovers an interrupted commit before it offers or
 * activates anything (docs/failover.md, "Crash-consistent replica").
 */
struct xen_policy;
struct diskmap;

/* The backup's own settings for one guest, never the stream's (remusd
 * --guest, --disk, the Xen policy flags). */
struct replica_conf {
	const char	*name;		/* the guest's name, as announced */
	/* The backup's copies of the guest's replicated disks, by name
	 * (remusd --disk [GUEST:]NAME=IMAGE, common/diskmap.h), which the
	 * replica uses in place of the primary's (Xen: each vbd of the
	 * twin, matched by its vdev), or NULL.  Their content is
	 * diskbuf's. */
	const struct diskmap *disks;
	/* Activated, the guest gets no guardian carrying out its
	 * on_poweroff/on_reboot/on_crash (xl's -e: remus -e, remusd -e). */
	int		 no_guardian;
	/* proc: the program and arguments the backup runs on activation
	 * (remusd --guest NAME=COMMAND), NULL-terminated; NULL: the guest
	 * is not configured here and its stream is refused. */
	char *const	*argv;
	/* xen: what a twin may use; NULL refuses every Xen stream. */
	const struct xen_policy *xen;
};

struct replica_ops {
	const char	*name;

	/* Build an empty replica from the stream header's fields, with the
	 * settings OPTS (NULL: defaults).  DIR is
	 * the guest's state directory (remusd: STATEDIR/<guest>).  CONF is
	 * what the backup itself decided for this guest (struct
	 * replica_conf): the driver builds and starts only what CONF allows,
	 * and refuses (EPERM, one line naming the field) a CONFIG that asks
	 * for anything else.  CONF NULL is for local tools that read CONFIG
	 * from a guest on this host (remus-proc-snap, unit tests), never
	 * for a stream.  A replica an earlier session left in DIR is
	 * recovered (see recover) and stays the committed one on disk until
	 * this session's first commit replaces it; it is not this session's:
	 * page() reads zeros until then, and activate() refuses it. */
	struct replica	*(*create)(const char *dir,
		    const struct replica_conf *conf,
		    const void *config, size_t config_len,
		    const struct domain_info *, const struct domain_opts *);

	/* Page PFN of the replica's working copy: its committed content
	 * (for XOR-delta decoding) until written.  Writing it changes
	 * nothing durable until commit() returns 0.  The pointer stays
	 * valid until close; NULL with errno set for a pfn out of range or
	 * after a failed commit. */
	void	*(*page)(struct replica *, uint64_t pfn);

	/* Epoch EPOCH has been written into the working copy: PFNS (NPFNS
	 * of them) are the pages written through page() since the last
	 * commit, in the order first written, each once; for the first,
	 * full epoch every page the epoch carried (possibly all).  STATE,
	 * if any, is its guest state.  Make it the committed checkpoint,
	 * atomically: after a crash anywhere in here the replica recovers
	 * to exactly EPOCH or to the previous commit.  After a failed
	 * commit the replica is only good for close. */
	int	(*commit)(struct replica *, uint64_t epoch, const uint64_t *pfns,
		    size_t npfns, const void *state, size_t state_len);

	/* Optional (NULL: the receiver writes every page through page()
	 * and calls commit).  The same commit with the pages in the
	 * caller's memory: page PFNS[I] is PAGES + I * page_size, or zeros
	 * when ZERO (may be NULL) has ZERO[I] set (that slot is not read);
	 * each pfn once.  For a driver whose working copy costs a fault per
	 * page written (proc: copy-on-write of the image's mapping), this
	 * writes each page where it goes, once.  Nothing of PAGES is kept.
	 * page() afterwards reads the committed content.  An epoch is
	 * committed one way or the other, never half through page(). */
	int	(*commit_pages)(struct replica *, uint64_t epoch,
		    const uint64_t *pfns, size_t npfns, const uint8_t *pages,
		    const uint8_t *zero, const void *state, size_t state_len);

	/* Optional (NULL: the driver keeps no device model, and the backup
	 * refuses a stream of a guest that has one).  Epoch EPOCH's device
	 * model state, KIND and LEN >= 1 bytes at BUF (borrowed), given
	 * just before that epoch's commit or commit_pages: the driver keeps
	 * it as pending, and it becomes the committed device state exactly
	 * when that commit succeeds, so that activate never pairs one
	 * epoch's memory with another epoch's devices.  -1 (a kind or
	 * content the driver cannot use) fails the epoch like a failed
	 * commit. */
	int	(*commit_devices)(struct replica *, uint64_t epoch,
		    uint32_t kind, const void *buf, size_t len);

	/* Failover: start the guest from the last checkpoint this replica
	 * (this session) committed; never from one an earlier session
	 * left.  Returns once it runs; its identity (pid, domid) is
	 * logged. */
	int	(*activate)(struct replica *);

	/* Optional (NULL: the driver cannot rename): the name the guest
	 * gets when activated (remusd --dname), set once, before any
	 * activate.  proc: logged and pidfile'd under it (DIR/NAME.pid
	 * beside proc-guest.pid); xen: the twin takes NAME at activation
	 * instead of the primary's name.  0 / -1 + errno. */
	int	(*set_name)(struct replica *, const char *name);

	/* Optional (NULL: the driver cannot say; both or neither).  After
	 * a successful activate: the guest it started, into G (0; -1 with
	 * errno ENOENT when nothing was activated).  guest_runs: whether G
	 * runs now (1), is gone (0), or -1 with errno; it needs no replica
	 * (remusd asks after the session, and the replica, ended). */
	int	(*activated)(struct replica *, struct replica_guest *g);
	int	(*guest_runs)(const struct replica_guest *g);

	void	(*close)(struct replica *);

	/* Optional (NULL: every session starts from an empty replica, and
	 * the first epoch is a full checkpoint).  Called once, after
	 * create() and before any page() or commit(): HELLO named the guest
	 * NAME.  The replica records the name with its first commit.  If
	 * ALLOW (the primary can resync) and DIR holds a committed replica an
	 * earlier session left of the same guest (NAME, page size, nr_pages),
	 * the session resumes it: page() reads its content (the base of the
	 * first epoch's deltas), the first commit adds to it, and it stays
	 * the committed replica until then, across a crash too.  1 with
	 * *EPOCH its epoch when resumed, 0 when not, -1 with errno set. */
	int	(*resume)(struct replica *, const char *name, int allow,
		    uint64_t *epoch);

	/* Optional, after resume() returned 1 and before the first commit:
	 * hashes of the resumed replica's pages FIRST .. FIRST + N - 1 into
	 * OUT, 16 bytes each, XXH3-128 (seed 0) low then high 64 bits, each
	 * little-endian (the stream's PAGE_HASHES). */
	int	(*hash_pages)(struct replica *, uint64_t first, size_t n,
		    uint8_t *out);

	/* Optional (NULL: nothing of the replica survives remusd).  Finish
	 * or drop a commit a crash interrupted in the replica kept in DIR,
	 * without creating anything.  1 and *EPOCH when DIR then holds a
	 * committed replica, 0 when it holds none, -1 with errno set
	 * (EBUSY: a running remusd holds DIR). */
	int	(*recover)(const char *dir, uint64_t *epoch);

	/* Optional (NULL: nothing is kept in DIR between sessions).  What
	 * DIR keeps, read only: 1 with *BYTES the guest memory size of its
	 * committed replica and *EPOCH its epoch, 0 when none, -1 with
	 * errno set.  The backup refuses a session that would replace it
	 * with a replica of another size (remusd --allow-resize). */
	int	(*kept)(const char *dir, uint64_t *bytes, uint64_t *epoch);
};

/* Run every driver's recover on DIR and log what each holds.  0, or -1
 * if one failed (logged); a DIR held by a running remusd is skipped with
 * a line. */
int	replica_recover_dir(const char *dir);

/* Drivers built into this binary, looked up by spec prefix ("proc:123",
 * "xen:guest1"); a spec without a prefix names a Xen domain, as on the xl
 * remus command line.  Returns NULL with errno = ENOENT for an unknown
 * prefix (or a bare name without the xen driver); *REST points past the
 * colon. */
const struct domain_ops	 *domain_ops_lookup(const char *spec, const char **rest);
const struct replica_ops *replica_ops_lookup(const char *name);
/* The I-th driver built in (0, 1, ...), NULL past the last: what a build
 * really has, for capabilities (remusd/caps.c). */
const struct domain_ops	 *domain_ops_nth(size_t i);
const struct replica_ops *replica_ops_nth(size_t i);

#endif /* REMUS_DOMAIN_H */
