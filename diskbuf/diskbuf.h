/* diskbuf/diskbuf.h -- replicate the guest's disk with per-epoch buffering.
 *
 * Primary: an NBD server (fixed newstyle) exports a local image file to the
 * guest's block backend (QEMU nbd://, Linux nbd-client, libnbd).  Every
 * write is applied to the image and appended to the write log of the open
 * epoch; postsuspend(n) closes epoch n's log; save(n) hands its records to
 * the stream (DISK_WRITE records inside epoch n).
 *
 *   guest write --> pwrite(image) + log[n] --(postsuspend n)--> log[n] closed
 *                                         save(n) --> DISK_WRITE records
 *
 * Backup: records of the open epoch are buffered (memory, then a spill file
 * past a limit); commit(n) applies them to the backup image in order and
 * fdatasyncs before the ACK; discard / activate drop the open epoch, so
 * the activated guest's disk is the committed state.
 *
 * Threads: the NBD server runs its own threads (one accepting, one per
 * client) with blocking I/O, so the engine's libev loop never waits on a
 * guest request and a slow client never delays a checkpoint.  Every other
 * function here is called from the engine's thread.
 *
 * Every int function returns 0, or -1 with errno set and the reason
 * already logged.  Pointers are borrowed unless said otherwise.
 */
#ifndef REMUS_DISKBUF_H
#define REMUS_DISKBUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct stream_disk_write;

#define DISKBUF_MEM_LIMIT_DEFAULT	(64ull << 20)	/* per epoch, then spill */
#define DISKBUF_DISKS_MAX		16	/* disks of one guest */
#define DISKBUF_NBD_MAX_LEN		(32u << 20)	/* largest request */

/* ---- Primary ------------------------------------------------------ */

struct diskbuf_primary;

struct diskbuf_primary_cfg {
	const char	*image;		/* existing image file (raw) */
	const char	*name;		/* the disk's name, as DISKS and the
					 * initial sync carry it; NULL or ""
					 * for the one unnamed disk */
	const char	*export_name;	/* NULL: "disk"; "" is accepted when it
					 * is the only export */
	uint16_t	disk;		/* disk index in DISK_WRITE records */
	int		protect;	/* 0: serve only, log nothing */
	uint64_t	mem_limit;	/* log bytes in memory per epoch; 0 = default */
	const char	*spill_dir;	/* NULL: $TMPDIR or /tmp */
};

/* Open the image and start logging writes into epoch 1 (every write from
 * now on reaches the backup, which is what lets the initial sync copy a
 * disk that is in use: see docs/diskbuf.md).  NULL with errno set. */
struct diskbuf_primary	*diskbuf_primary_new(const struct diskbuf_primary_cfg *);

/* Serve NBD on ADDR: "HOST:PORT", "[V6]:PORT", ":PORT" or "unix:PATH".
 * Starts the server threads; returns once the socket listens. */
int	diskbuf_primary_listen(struct diskbuf_primary *, const char *addr);

/* Serve OTHER's export on P's address too (call before
 * diskbuf_primary_listen): one NBD address for all of a guest's disks,
 * each chosen by its export name.  P's server then serves OTHER: free
 * OTHER only after P. */
int	diskbuf_primary_share(struct diskbuf_primary *p,
	    struct diskbuf_primary *other);

/* Serve one already connected client (takes ownership of FD); tests use
 * a socketpair. */
int	diskbuf_primary_serve_fd(struct diskbuf_primary *, int fd);

/* Also make the export the kernel block device DEV (/dev/nbdN), served
 * in this process without an nbd-client: what a Xen vbd needs.  The
 * device is disconnected by diskbuf_primary_free. */
int	diskbuf_primary_attach_device(struct diskbuf_primary *, const char *dev);

/* Start protection of an export created with protect = 0 (remus-diskd,
 * when a remus attaches), or again after diskbuf_primary_unprotect (a
 * new backup: remus reprotects): writes from now on are logged into
 * epoch 1.  EBUSY if protected already.  A previous protection's sync
 * is stopped first.  The writes made while unprotected are in no log:
 * only a sync started after this call (diskbuf_primary_sync_start)
 * brings them to the backup. */
int	diskbuf_primary_protect(struct diskbuf_primary *);

/* Bytes of the image (the export size). */
uint64_t diskbuf_primary_size(const struct diskbuf_primary *);

/* postsuspend(N): close epoch N's log; later writes belong to N + 1. */
int	diskbuf_primary_epoch_close(struct diskbuf_primary *, uint64_t epoch);
/* Test hook: epoch_close(N) and the digest of the whole image in one hold
 * of the write lock, so the digest is exactly what the backup must hold
 * once N commits, even while clients keep writing. */
int	diskbuf_primary_epoch_close_digest(struct diskbuf_primary *,
	    uint64_t epoch, uint8_t out[16]);

/* Hand each record of closed epoch N to EMIT in the order the writes were
 * applied, then free the log.  DATA is NULL for ZERO and TRIM, valid only
 * during the call.  EMIT returns 0 or -1 (then this returns -1).  Fails
 * with EIO when protection was lost (the records are gone). */
typedef int (*diskbuf_emit_fn)(void *arg, const struct stream_disk_write *,
	    const void *data);
int	diskbuf_primary_save(struct diskbuf_primary *, uint64_t epoch,
	    diskbuf_emit_fn emit, void *arg);

/* The backup acknowledged epoch N (bookkeeping and statistics only: the
 * primary's image already holds the writes). */
int	diskbuf_primary_commit(struct diskbuf_primary *, uint64_t epoch);

/* Protection ended: stop logging, drop every log, keep serving.  Logged
 * once as a state change with REASON.  Idempotent. */
void	diskbuf_primary_unprotect(struct diskbuf_primary *, const char *reason);

/* 1 while writes are logged for the backup. */
int	diskbuf_primary_protected(struct diskbuf_primary *);

/* Test hook: digest of the whole image taken under the write lock, so it
 * is exactly the content as of the writes applied so far, which with
 * clients writing may include writes of the open epoch.  For the state
 * the backup must hold once N commits, use epoch_close_digest. */
int	diskbuf_primary_digest(struct diskbuf_primary *, uint8_t out[16]);

struct diskbuf_stats {
	uint64_t	reads, writes, zeroes, trims, flushes, fua;
	uint64_t	bytes_read, bytes_written;
	uint64_t	bad_requests, clients;
	uint64_t	logged_records, logged_bytes, spilled_bytes;
};
void	diskbuf_primary_stats(struct diskbuf_primary *, struct diskbuf_stats *);

/* Live initial sync: copy the image to a receiver at ADDR (remusd's
 * diskbuf_backup_sync_listen, or remus-disksync recv) in a thread, while
 * the guest may write (those writes are in the epoch logs and replayed on
 * the backup after the copy).  The sync names the disk NAME (NULL: the
 * cfg's name), which the receiver routes it by.  PROGRESS: a line on
 * stderr each second. */
int	diskbuf_primary_sync_start(struct diskbuf_primary *, const char *addr,
	    const char *name, int progress);
/* 1 when no sync runs or it completed, 0 while it runs, -1 if it failed. */
int	diskbuf_primary_sync_done(struct diskbuf_primary *);
/* How far the sync is, from any thread: bytes of the image compared so
 * far (DONE) of TOTAL, bytes sent (SENT), and when the comparing began
 * (START_US, 0 while it connects).  The return is diskbuf_primary_sync_
 * done's; no sync ever started: 1 with everything 0. */
struct diskbuf_sync_progress {
	uint64_t	done, total, sent, start_us;
};
int	diskbuf_primary_sync_progress(struct diskbuf_primary *,
	    struct diskbuf_sync_progress *);
/* The receiver is gone (protection ended): make a running sync give up
 * soon, without waiting for it (the engine's thread calls this).  The
 * next diskbuf_primary_protect joins it.  NULL ok. */
void	diskbuf_primary_sync_cancel(struct diskbuf_primary *);

/* NBD clients connected right now (past the handshake). */
unsigned diskbuf_primary_clients(struct diskbuf_primary *);

/* Stop the server (disconnects clients, joins threads), free the logs,
 * close the image.  NULL ok. */
void	diskbuf_primary_free(struct diskbuf_primary *);

/* ---- Backup ------------------------------------------------------- */

struct diskbuf_backup;

struct diskbuf_backup_cfg {
	const char	*image;		/* backup image (created if missing) */
	uint16_t	disk;		/* records for other disks are ignored */
	uint64_t	size;		/* expected size; 0 = take the file's */
	uint64_t	mem_limit;	/* per epoch; 0 = default */
	const char	*spill_dir;	/* NULL: $TMPDIR or /tmp */
};

/* Open (or create with SIZE) the backup image.  A size that differs from
 * SIZE is an error (EINVAL, "image size mismatch").  NULL with errno. */
struct diskbuf_backup	*diskbuf_backup_new(const struct diskbuf_backup_cfg *);

/* Buffer one DISK_WRITE record of open epoch N (DATA: LEN bytes, the
 * record's data after the header).  Validates op, flags, range and LEN;
 * applies nothing.  A new epoch number drops an uncommitted older one. */
int	diskbuf_backup_record(struct diskbuf_backup *, uint64_t epoch,
	    const struct stream_disk_write *, const void *data, size_t len);

/* EPOCH_END(N) validated: apply N's writes in order, fdatasync, then the
 * caller may ACK.  If applying fails (ENOSPC, EIO, short write) the
 * writes already applied are rolled back from an undo log, so the image
 * stays at N - 1 (the committed state) and -1 is returned. */
int	diskbuf_backup_commit(struct diskbuf_backup *, uint64_t epoch);

/* The same for all N disks of a guest at once: epoch N is applied to
 * every disk or to none.  Each is prepared (applied and fdatasync'ed,
 * its undo log kept); if one fails, those prepared before it are rolled
 * back (abort), so every disk stays at N - 1 and -1 is returned; else
 * all finish.  (A crash of the backup in between leaves the disks
 * between two epochs, as a crash inside a one-disk apply does: the
 * primary then has no backup, and the next protection syncs the disks
 * again: docs/diskbuf.md.) */
int	diskbuf_backup_commit_set(struct diskbuf_backup *const *, size_t n,
	    uint64_t epoch);
/* Its steps.  prepare(N): apply N (or, while the initial sync runs, make
 * its buffer durable for the backlog); finish(N): N is committed, drop
 * the undo log; abort(N): undo N (the image is the committed epoch's
 * again; if that fails the image is marked inconsistent). */
int	diskbuf_backup_prepare(struct diskbuf_backup *, uint64_t epoch);
void	diskbuf_backup_finish(struct diskbuf_backup *, uint64_t epoch);
void	diskbuf_backup_abort(struct diskbuf_backup *, uint64_t epoch);

/* Epoch N will never commit: drop its buffer. */
void	diskbuf_backup_discard(struct diskbuf_backup *, uint64_t epoch);

/* Failover: drop the open epoch, fdatasync; the image is then exactly the
 * last committed epoch's disk. */
int	diskbuf_backup_activate(struct diskbuf_backup *);

/* Live initial sync: listen on ADDR ("HOST:PORT", ":PORT") for one
 * remus-disksync style sender, and copy into the image in a thread.  Until
 * the copy is complete, committed epochs are kept (durably) instead of
 * applied, and activate() refuses.  Call before the first record. */
int	diskbuf_backup_sync_listen(struct diskbuf_backup *, const char *addr);

/* The same for the N disks of a guest on one address: a thread takes the
 * senders one after the other and copies each into the disk whose NAMES
 * entry (the primary's name for it, as DISKS gave it) its hello names;
 * with one disk any name goes.  A sender for no disk, or for one copied
 * already, fails the sync; so does a copy that fails: every disk not yet
 * copied is then failed too.  Free it before the disks.  NULL with
 * errno (the disks are then marked failed). */
struct diskbuf_sync_rx;
struct diskbuf_sync_rx *diskbuf_sync_rx_start(const char *addr,
	    struct diskbuf_backup *const *disks, const char *const *names,
	    size_t n);
void	diskbuf_sync_rx_free(struct diskbuf_sync_rx *);
/* Mark the disk as waiting for its copy (rx_start does it): epochs are
 * kept from now on.  Before the first record. */
int	diskbuf_backup_sync_expect(struct diskbuf_backup *);
/* 1 when no sync runs or it completed, 0 while it runs, -1 if it failed. */
int	diskbuf_backup_sync_done(struct diskbuf_backup *);

uint64_t diskbuf_backup_committed(const struct diskbuf_backup *);
uint64_t diskbuf_backup_size(const struct diskbuf_backup *);
void	diskbuf_backup_free(struct diskbuf_backup *);

/* ---- A disk server of its own: remus-diskd (ctl.c) ----------------- */

/* A Xen guest's disk must exist before the guest and outlive any remus,
 * so remus-diskd serves it (as /dev/nbdN) unprotected, and a remus
 * attaches over a local control socket for as long as it protects the
 * guest; the connection is the protection (when it closes, the server
 * drops its logs and serves on).  The epoch calls mirror
 * diskbuf_primary_epoch_close/save/commit. */
#define DISKBUF_CTL_DIR	"/run/remus"

/* The control socket of the server of device DEV: "/dev/nbd0" ->
 * DISKBUF_CTL_DIR "/diskd-nbd0.sock". */
int	diskbuf_ctl_path(const char *dev, char *buf, size_t len);

/* Server: listen on PATH (owner only; a stale socket is replaced, a live
 * one is EADDRINUSE).  The fd, or -1. */
int	diskbuf_ctl_listen(const char *path);
/* Server: read one request of the remus connected on FD (the caller
 * polled it readable) and answer it.  0, or -1: EPIPE when the remus
 * went away, EPROTO for garbage, else an I/O error; the caller then
 * unprotects P and closes FD.  IMAGE names the disk in the answer. */
int	diskbuf_ctl_serve_one(struct diskbuf_primary *p, int fd,
	    const char *image);
/* Server: turn away a connection with the one-line reason WHY (the
 * client's open fails with it). */
int	diskbuf_ctl_refuse(int fd, const char *why);

/* Client: connect to the server at PATH and start protection (SYNC_ADDR:
 * the live initial sync's receiver, or NULL; SYNC_NAME: the disk's name
 * it sends, which the receiver routes by (NULL: unnamed); SYNC_RATE: its
 * bytes per second, 0 = unlimited).  Both ends are of one build (the
 * messages are native).  NULL with errno set. */
struct diskbuf_ctl;
struct diskbuf_ctl *diskbuf_ctl_open(const char *path, const char *sync_addr,
	    const char *sync_name, uint64_t sync_rate);
uint64_t diskbuf_ctl_size(const struct diskbuf_ctl *);
/* DIGEST, if not NULL, gets what diskbuf_primary_epoch_close_digest
 * gives (tests). */
int	diskbuf_ctl_epoch_close(struct diskbuf_ctl *, uint64_t epoch,
	    uint8_t digest[16]);
int	diskbuf_ctl_save(struct diskbuf_ctl *, uint64_t epoch,
	    diskbuf_emit_fn emit, void *arg);
int	diskbuf_ctl_commit(struct diskbuf_ctl *, uint64_t epoch);
int	diskbuf_ctl_digest(struct diskbuf_ctl *, uint8_t out[16]);
/* Disconnect: protection ends, the server serves on; later calls fail
 * with ENOTCONN.  diskbuf_ctl_free detaches too.  NULL ok. */
void	diskbuf_ctl_detach(struct diskbuf_ctl *);
void	diskbuf_ctl_free(struct diskbuf_ctl *);

/* ---- Helpers ------------------------------------------------------ */

/* 128-bit non-cryptographic digest (two XXH64 lanes) of LEN bytes; used for
 * block comparison in the initial sync and by the tests.  The backup
 * trusts the primary anyway, so collisions only need to be unlikely for
 * accidental differences. */
void	diskbuf_hash(const void *buf, size_t len, uint8_t out[16]);
/* Digest of a whole file, read in blocks; 0 or -1 with errno. */
int	diskbuf_hash_fd(int fd, uint64_t size, uint8_t out[16]);
/* 32 hex digits + NUL. */
void	diskbuf_hash_hex(const uint8_t in[16], char out[33]);

/* ---- Initial sync (sync.c) ----------------------------------------- */

/* Sender side: make the peer's copy of image FD (SIZE bytes) equal to
 * ours.  SOCK is a connected stream socket.  The receiver sends the hash
 * of each BLOCK of its copy, the sender answers with the blocks that
 * differ, so a resumed or repeated sync moves only what changed.  With
 * PROGRESS, a progress line goes to stderr about once a second (in place
 * on a terminal, with the time left); DISKBUF_PROGRESS_TTY: not on a
 * terminal, only the final line. */
#define DISKBUF_PROGRESS	1
#define DISKBUF_PROGRESS_TTY	2
struct diskbuf_sync_stats {
	uint64_t	blocks, blocks_sent, bytes_sent;
	/* The sender's, read by other threads while it runs (status,
	 * metrics): bytes compared, bytes sent, when the comparing began. */
	atomic_uint_fast64_t live_done, live_sent, live_start_us;
};
/* NAME: the disk's ("" or NULL: unnamed), which a receiver of several
 * disks routes the copy by (diskbuf_sync_rx_start). */
#define DISKBUF_SYNC_NAME_LEN	24
int	diskbuf_sync_send(int sock, int fd, uint64_t size, uint32_t block,
	    const char *name, int progress, struct diskbuf_sync_stats *);
/* Limit diskbuf_sync_send to BYTES_PER_S (0 = unlimited), so the initial
 * copy does not starve the guest or the network. */
void	diskbuf_sync_set_rate(uint64_t bytes_per_s);
/* A budget shared with other traffic (remus --bandwidth): TAKE(ARG, N)
 * returns when N more bytes may go (it may sleep; it runs in the sync's
 * thread).  NULL: none. */
void	diskbuf_sync_set_budget(void (*take)(void *arg, size_t bytes),
	    void *arg);

/* Receiver side: FD is the backup image (opened read-write).  SIZE is its
 * size; a sender with another size is refused ("image size mismatch")
 * unless CREATE, which then resizes the file.  Any disk name is taken. */
int	diskbuf_sync_recv(int sock, int fd, uint64_t size, int create,
	    struct diskbuf_sync_stats *);

/* The same in two steps, for a receiver that picks the image by the
 * sender's disk name: read and check the sender's hello, then copy into
 * FD, or refuse the sender (ERR, an errno: ENOENT for a name it does not
 * have; VALUE: our size, or the sender's when sizes are not the
 * matter). */
struct diskbuf_sync_hello {
	char		name[DISKBUF_SYNC_NAME_LEN];	/* NUL-terminated */
	uint32_t	block;
	uint64_t	size;
};
int	diskbuf_sync_recv_hello(int sock, struct diskbuf_sync_hello *);
int	diskbuf_sync_recv_from(int sock, const struct diskbuf_sync_hello *,
	    int fd, uint64_t size, int create, struct diskbuf_sync_stats *);
void	diskbuf_sync_refuse(int sock, int err, uint64_t value);

#endif /* REMUS_DISKBUF_H */
