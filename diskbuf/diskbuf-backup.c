/* diskbuf/diskbuf-backup.c -- the backup half: buffer each epoch's writes
 * and apply them only when the epoch commits.
 *
 * Durability policy: commit(n) applies n's writes in order, then
 * fdatasync()s the image, and only then returns, so the ACK(n) the engine
 * sends afterwards promises that n's disk writes survive a crash of the
 * backup host as well as of the primary.
 *
 * Nothing committed is lost: before a record overwrites a range, the old
 * content of the range goes into an undo log (memory, then a spill file,
 * like the epoch buffer).  If applying fails half-way (ENOSPC on a sparse
 * image, EIO, a short write), the applied records are undone in reverse
 * order, the image is back at n - 1, and the commit fails; the engine
 * then sends no ACK and the primary degrades.  Only if the undo itself
 * fails is the image marked inconsistent, and activation refuses it.
 *
 * Live initial sync (diskbuf_backup_sync_listen): while a sync thread
 * copies the primary's disk into the image, committed epochs are not
 * applied but kept, fdatasync'ed, in a backlog (the primary logs every
 * write from the moment it starts serving, so replaying the backlog in
 * order on top of the finished copy gives exactly the primary's disk);
 * the first commit after the copy completes applies the backlog.  Until
 * then the disk is not consistent and activation is refused.
 *
 * The backup receiver calls everything from its loop thread; the sync
 * thread touches only its own fd and sync_state (atomic), and the loop
 * never writes the image while the sync runs.
 */
#define LOG_PREFIX "diskbuf: backup: "

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskbuf.h"
#include "diskbuf-int.h"
#include "fault.h"
#include "log.h"

struct diskbuf_backup {
	int		fd;
	uint64_t	size;
	uint16_t	disk;
	char		*image;
	char		*spill_dir;
	uint64_t	mem_limit;
	struct wlog	*open;		/* the open epoch's writes, or NULL */
	uint64_t	committed;	/* last committed epoch (0: none) */
	int		broken;		/* a rollback failed */

	/* Live initial sync: its receiver (struct diskbuf_sync_rx, one per
	 * session for all of a guest's disks) sets sync_state from its
	 * thread; the rest is the loop thread's. */
	atomic_int	sync_state;	/* enum sync_state */
	struct diskbuf_sync_rx *own_rx;	/* diskbuf_backup_sync_listen's */
	struct wlog	*backlog;	/* committed, unapplied; oldest first */
	int		caught_up;	/* the "sync complete" line was logged */
	uint64_t	applied;	/* last epoch the image holds */

	/* Between prepare(n) and finish(n) / abort(n): what undoes n. */
	uint64_t	prepared;	/* n, or 0 */
	struct wlog	*undo;		/* n's applied writes' old content */
	struct wlog	*staged;	/* n's writes, for the backlog */
	int		staged_sync;	/* n went to the backlog (sync ran) */
};

/* The receiver of a session's initial syncs: one listening socket, one
 * thread taking the senders one after the other, each routed to its disk
 * by the name in its hello. */
struct diskbuf_sync_rx {
	int		lfd;
	atomic_int	sock;		/* the sender being served, or -1 */
	pthread_t	thr;
	int		started;
	size_t		n;
	struct diskbuf_backup *disk[DISKBUF_DISKS_MAX];
	char		name[DISKBUF_DISKS_MAX][DISKBUF_SYNC_NAME_LEN];
};

enum sync_state { SYNC_NONE, SYNC_RUNNING, SYNC_DONE, SYNC_FAILED };

struct diskbuf_backup *
diskbuf_backup_new(const struct diskbuf_backup_cfg *cfg)
{
	struct diskbuf_backup *b;
	struct stat st;
	int err;

	b = calloc(1, sizeof *b);
	if (b == NULL)
		return NULL;
	b->fd = -1;
	atomic_init(&b->sync_state, SYNC_NONE);
	b->disk = cfg->disk;
	b->mem_limit = cfg->mem_limit ? cfg->mem_limit : DISKBUF_MEM_LIMIT_DEFAULT;
	b->image = strdup(cfg->image);
	if (b->image == NULL)
		goto err;
	if (cfg->spill_dir && (b->spill_dir = strdup(cfg->spill_dir)) == NULL)
		goto err;
	b->fd = open(cfg->image, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (b->fd == -1 || fstat(b->fd, &st) == -1) {
		log_warn("image %s", cfg->image);
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("image %s: not a regular file", cfg->image);
		errno = EINVAL;
		goto err;
	}
	if (st.st_size == 0 && cfg->size > 0) {
		if (ftruncate(b->fd, (off_t)cfg->size) == -1) {
			log_warn("image %s: set size %" PRIu64, cfg->image,
			    cfg->size);
			goto err;
		}
		st.st_size = (off_t)cfg->size;
	}
	if (cfg->size > 0 && (uint64_t)st.st_size != cfg->size) {
		log_warnx("image %s: image size mismatch: the backup image is "
		    "%" PRIu64 " bytes, the primary's disk %" PRIu64 " bytes",
		    cfg->image, (uint64_t)st.st_size, cfg->size);
		errno = EINVAL;
		goto err;
	}
	b->size = (uint64_t)st.st_size;
	return b;
err:
	err = errno;
	diskbuf_backup_free(b);
	errno = err;
	return NULL;
}

int
diskbuf_backup_record(struct diskbuf_backup *b, uint64_t epoch,
    const struct stream_disk_write *h, const void *data, size_t len)
{
	size_t want = h->op == STREAM_DISK_WRITE ? h->length : 0;

	if (h->disk != b->disk)
		return 0;		/* another diskbuf instance's disk */
	if (h->op > STREAM_DISK_TRIM) {
		log_warnx("epoch %" PRIu64 ": DISK_WRITE with unknown op %u",
		    epoch, h->op);
		goto inval;
	}
	if (h->flags & ~STREAM_DISK_FLAG_FUA) {
		log_warnx("epoch %" PRIu64 ": DISK_WRITE with unknown flags "
		    "0x%x", epoch, h->flags);
		goto inval;
	}
	if (h->offset > b->size || h->length > b->size - h->offset) {
		log_warnx("epoch %" PRIu64 ": DISK_WRITE %s offset %" PRIu64
		    " length %u beyond the end of the %" PRIu64 "-byte image "
		    "(image size mismatch?)", epoch, diskbuf_op_name(h->op),
		    h->offset, h->length, b->size);
		goto inval;
	}
	if (len != want) {
		log_warnx("epoch %" PRIu64 ": DISK_WRITE %s carries %zu data "
		    "bytes, expected %zu", epoch, diskbuf_op_name(h->op), len,
		    want);
		goto inval;
	}
	if (epoch <= b->committed) {
		log_warnx("epoch %" PRIu64 ": DISK_WRITE for an epoch already "
		    "committed (%" PRIu64 ")", epoch, b->committed);
		goto inval;
	}
	if (b->open && b->open->epoch != epoch) {
		/* The receiver moved on without a discard: the old epoch
		 * can never commit now. */
		log_debug("epoch %" PRIu64 ": dropping %zu writes of "
		    "uncommitted epoch %" PRIu64, epoch, b->open->n,
		    b->open->epoch);
		wlog_free(b->open);
		b->open = NULL;
	}
	if (b->open == NULL) {
		/* While a sync runs, committed epochs wait on disk: spill
		 * everything so commit can make them durable. */
		b->open = wlog_new(epoch, atomic_load(&b->sync_state) ==
		    SYNC_RUNNING ? 0 : b->mem_limit, b->spill_dir);
		if (b->open == NULL) {
			log_warn("epoch %" PRIu64 ": write buffer", epoch);
			return -1;
		}
	}
	if (wlog_append(b->open, h, data) == -1) {
		log_warn("epoch %" PRIu64 ": buffering a %u-byte %s failed "
		    "(spill directory %s)", epoch, h->length,
		    diskbuf_op_name(h->op), b->spill_dir ? b->spill_dir :
		    "$TMPDIR");
		return -1;
	}
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

static int
all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Put back what UNDO saved for entries [0, n) in reverse order. */
static int
rollback(struct diskbuf_backup *b, struct wlog *undo, size_t n)
{
	uint8_t *scratch = NULL;
	size_t scratch_len = 0;
	const void *data;
	int rc = 0;

	while (n-- > 0) {
		if (wlog_data(undo, n, &data, &scratch, &scratch_len) == -1 ||
		    diskbuf_apply(b->fd, &undo->ents[n].hdr, data) == -1) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && fdatasync(b->fd) == -1)
		rc = -1;
	free(scratch);
	return rc;
}

/* Apply W (epoch EPOCH) in order and fdatasync; on failure undo what was
 * applied so the image stays as it was.  Frees nothing but its own undo
 * log, which with UNDO_OUT it hands over on success instead (prepare: the
 * guest's other disks may still fail epoch EPOCH).  0 / -1. */
static int
apply_log(struct diskbuf_backup *b, struct wlog *w, uint64_t epoch,
    struct wlog **undo_out)
{
	struct wlog *undo = NULL;
	uint8_t *scratch = NULL, *old = NULL;
	size_t scratch_len = 0, old_len = 0, i = 0;
	const void *data;
	const char *what = "apply";
	int err, rc = -1;

	undo = wlog_new(epoch, b->mem_limit, b->spill_dir);
	if (undo == NULL)
		goto fail;
	for (i = 0; i < w->n; i++) {
		struct stream_disk_write uh = w->ents[i].hdr;

		what = "read buffered write";
		if (wlog_data(w, i, &data, &scratch, &scratch_len) == -1)
			goto fail;
		/* Save the range's old content first. */
		what = "save old content";
		if (old_len < uh.length) {
			uint8_t *np = realloc(old, uh.length);

			if (np == NULL)
				goto fail;
			old = np;
			old_len = uh.length;
		}
		if (pread_full(b->fd, old, uh.length, uh.offset) == -1)
			goto fail;
		/* Zeroes (often a hole) are undone by punching, which
		 * needs no space on a full disk. */
		uh.op = all_zero(old, uh.length) ? STREAM_DISK_TRIM :
		    STREAM_DISK_WRITE;
		uh.flags = 0;
		if (wlog_append(undo, &uh, old) == -1)
			goto fail;
		what = "apply";
		if (fault_injected_epoch(FI_DISKBUF_EIO, epoch) &&
		    fault_disk_ok(b->disk) && i == w->n / 2) {
			errno = EIO;
			goto fail;
		}
		if (diskbuf_apply(b->fd, &w->ents[i].hdr, data) == -1)
			goto fail;
	}
	what = "fdatasync";
	if (fdatasync(b->fd) == -1)
		goto fail;
	log_debug("epoch %" PRIu64 ": applied %zu disk writes, %" PRIu64
	    " bytes", epoch, w->n, w->bytes);
	rc = 0;
	if (undo_out != NULL) {
		*undo_out = undo;
		undo = NULL;
	}
	goto out;
fail:
	err = errno;
	if (i < w->n)
		log_warnx("epoch %" PRIu64 ": %s of %s at offset %" PRIu64
		    " length %u on %s failed: %s", epoch, what,
		    diskbuf_op_name(w->ents[i].hdr.op), w->ents[i].hdr.offset,
		    w->ents[i].hdr.length, b->image, strerror(err));
	else
		log_warnx("epoch %" PRIu64 ": %s of %s failed: %s", epoch,
		    what, b->image, strerror(err));
	/* Entry i's undo may or may not have been saved: undo what was. */
	if (undo && rollback(b, undo, undo->n) == -1) {
		b->broken = 1;
		log_warn("epoch %" PRIu64 ": rollback of %s FAILED, the image "
		    "is inconsistent", epoch, b->image);
	} else
		log_warnx("epoch %" PRIu64 ": %s rolled back to committed "
		    "epoch %" PRIu64, epoch, b->image, b->applied);
	errno = err;
out:
	err = errno;
	free(scratch);
	free(old);
	wlog_free(undo);
	errno = err;
	return rc;
}

/* The sync finished: apply the backlog, oldest first.  0 / -1 (the
 * image then holds the last backlog epoch applied). */
static int
catch_up(struct diskbuf_backup *b)
{
	struct wlog *w;
	size_t n = 0;

	while ((w = b->backlog) != NULL) {
		if (apply_log(b, w, w->epoch, NULL) == -1)
			return -1;
		b->applied = w->epoch;
		b->backlog = w->next;
		wlog_free(w);
		n++;
	}
	/* Epochs without disk writes left nothing in the backlog. */
	b->applied = b->committed;
	if (!b->caught_up) {
		b->caught_up = 1;
		log_info("initial sync complete: applied %zu backlogged epochs, "
		    "%s holds committed epoch %" PRIu64, n, b->image,
		    b->applied);
	}
	return 0;
}

int
diskbuf_backup_prepare(struct diskbuf_backup *b, uint64_t epoch)
{
	struct wlog *w = b->open;
	int st = atomic_load(&b->sync_state), rc;

	if (b->prepared != 0) {
		log_warnx("epoch %" PRIu64 ": epoch %" PRIu64 " of %s is still "
		    "being committed", epoch, b->prepared, b->image);
		errno = EINVAL;
		return -1;
	}
	if (b->broken) {
		log_warnx("epoch %" PRIu64 ": image %s is inconsistent after a "
		    "failed rollback, refusing to commit", epoch, b->image);
		errno = EIO;
		return -1;
	}
	if (epoch <= b->committed) {
		log_warnx("epoch %" PRIu64 ": already committed (%" PRIu64 ")",
		    epoch, b->committed);
		errno = EINVAL;
		return -1;
	}
	if (st == SYNC_FAILED) {
		log_warnx("epoch %" PRIu64 ": the initial disk sync of %s "
		    "failed, the backup's disk cannot be made consistent",
		    epoch, b->image);
		errno = EIO;
		return -1;
	}
	if (w != NULL && w->epoch != epoch)
		w = NULL;		/* stale: dropped below */
	if (st == SYNC_RUNNING) {
		/* Kept, durably, for after the copy; it joins the backlog
		 * in finish (abort drops it). */
		if (w && w->spill_fd != -1 && fdatasync(w->spill_fd) == -1) {
			log_warn("epoch %" PRIu64 ": fdatasync backlog", epoch);
			return -1;
		}
		if (w != NULL)
			b->open = NULL;
		else {
			wlog_free(b->open);
			b->open = NULL;
		}
		b->staged = w;
		b->staged_sync = 1;
		b->prepared = epoch;
		return 0;
	}
	/* The copy is complete: what it kept waiting is applied first.
	 * Those epochs are committed already; an abort of this one does
	 * not take them back. */
	if (st == SYNC_DONE && catch_up(b) == -1)
		return -1;
	b->staged_sync = 0;
	if (w == NULL) {
		/* No disk writes in this epoch. */
		wlog_free(b->open);
		b->open = NULL;
		b->prepared = epoch;
		return 0;
	}
	rc = apply_log(b, w, epoch, &b->undo);
	wlog_free(w);
	b->open = NULL;
	if (rc == 0)
		b->prepared = epoch;
	return rc;
}

void
diskbuf_backup_finish(struct diskbuf_backup *b, uint64_t epoch)
{
	struct wlog **pp;

	if (b->prepared != epoch)
		return;
	if (b->staged != NULL) {
		for (pp = &b->backlog; *pp; pp = &(*pp)->next)
			;
		*pp = b->staged;
		b->staged->next = NULL;
		b->staged = NULL;
	}
	wlog_free(b->undo);
	b->undo = NULL;
	b->committed = epoch;
	if (!b->staged_sync)
		b->applied = epoch;
	b->prepared = 0;
}

void
diskbuf_backup_abort(struct diskbuf_backup *b, uint64_t epoch)
{
	if (b->prepared != epoch)
		return;
	if (b->undo != NULL) {
		if (rollback(b, b->undo, b->undo->n) == -1) {
			b->broken = 1;
			log_warn("epoch %" PRIu64 ": rollback of %s FAILED, the "
			    "image is inconsistent", epoch, b->image);
		} else
			log_warnx("epoch %" PRIu64 ": %s rolled back to "
			    "committed epoch %" PRIu64 " (another disk of the "
			    "guest could not commit)", epoch, b->image,
			    b->applied);
	}
	wlog_free(b->undo);
	b->undo = NULL;
	wlog_free(b->staged);
	b->staged = NULL;
	b->prepared = 0;
}

int
diskbuf_backup_commit(struct diskbuf_backup *b, uint64_t epoch)
{
	return diskbuf_backup_commit_set(&b, 1, epoch);
}

int
diskbuf_backup_commit_set(struct diskbuf_backup *const *v, size_t n,
    uint64_t epoch)
{
	size_t i, j;

	/* All of them, or none: a disk that cannot take epoch N (a full
	 * or failing backup disk) takes the others back to N - 1 with it,
	 * so that the guest's disks always belong to one checkpoint. */
	for (i = 0; i < n; i++) {
		if (diskbuf_backup_prepare(v[i], epoch) == 0)
			continue;
		for (j = i; j-- > 0;)
			diskbuf_backup_abort(v[j], epoch);
		return -1;
	}
	for (i = 0; i < n; i++)
		diskbuf_backup_finish(v[i], epoch);
	return 0;
}

void
diskbuf_backup_discard(struct diskbuf_backup *b, uint64_t epoch)
{
	if (b->open == NULL || b->open->epoch != epoch)
		return;
	log_debug("epoch %" PRIu64 ": discarded %zu disk writes", epoch,
	    b->open->n);
	wlog_free(b->open);
	b->open = NULL;
}

int
diskbuf_backup_activate(struct diskbuf_backup *b)
{
	if (b->open) {
		log_info("failover: dropped %zu disk writes (%" PRIu64
		    " bytes) of uncommitted epoch %" PRIu64, b->open->n,
		    b->open->bytes, b->open->epoch);
		wlog_free(b->open);
		b->open = NULL;
	}
	switch (atomic_load(&b->sync_state)) {
	case SYNC_RUNNING:
	case SYNC_FAILED:
		log_warnx("failover: the initial disk sync of %s is not "
		    "complete: its disk is not consistent, not activating",
		    b->image);
		errno = EIO;
		return -1;
	case SYNC_DONE:
		if (catch_up(b) == -1) {
			log_warnx("failover: %s holds only epoch %" PRIu64 " of "
			    "committed %" PRIu64 ", not activating", b->image,
			    b->applied, b->committed);
			errno = EIO;
			return -1;
		}
		break;
	}
	if (b->broken) {
		log_warnx("failover: image %s is inconsistent (a rollback "
		    "failed), not activating it", b->image);
		errno = EIO;
		return -1;
	}
	if (fdatasync(b->fd) == -1) {
		log_warn("failover: fdatasync %s", b->image);
		return -1;
	}
	log_info("failover: %s holds the disk of committed epoch %" PRIu64,
	    b->image, b->committed);
	return 0;
}

int
diskbuf_backup_sync_expect(struct diskbuf_backup *b)
{
	if (b->committed != 0 || b->open != NULL) {
		log_warnx("initial sync must start before the first epoch");
		errno = EINVAL;
		return -1;
	}
	atomic_store(&b->sync_state, SYNC_RUNNING);
	return 0;
}

/* Copy the sender on SOCK (hello H read) into disk B.  0 / -1. */
static int
rx_one(struct diskbuf_backup *b, int sock, const struct diskbuf_sync_hello *h)
{
	struct diskbuf_sync_stats st;
	int fd, rc;

	/* Its own fd: the loop thread's offsets and errors stay apart. */
	fd = open(b->image, O_RDWR | O_CLOEXEC);
	if (fd == -1) {
		log_warn("initial sync: %s", b->image);
		diskbuf_sync_refuse(sock, errno, b->size);
		return -1;
	}
	rc = diskbuf_sync_recv_from(sock, h, fd, b->size, 0, &st);
	close(fd);
	if (rc == 0)
		log_info("initial sync: received %" PRIu64 " of %" PRIu64
		    " blocks (%" PRIu64 " bytes) into %s", st.blocks_sent,
		    st.blocks, st.bytes_sent, b->image);
	return rc;
}

static void *
rx_main(void *arg)
{
	struct diskbuf_sync_rx *rx = arg;
	struct diskbuf_sync_hello h;
	size_t done = 0, i;
	int sock, ok = 1;

	while (ok && done < rx->n) {
		sock = accept4(rx->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (sock == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_warn("initial sync: accept");
			break;
		}
		/* Kept open until free: shutdown there must not hit a
		 * recycled fd. */
		if (atomic_load(&rx->sock) != -1)
			close(atomic_load(&rx->sock));
		atomic_store(&rx->sock, sock);
		if (diskbuf_sync_recv_hello(sock, &h) == -1) {
			ok = 0;
			break;
		}
		/* By the primary's name for the disk (DISKS); one disk
		 * takes any name. */
		for (i = 0; i < rx->n; i++)
			if (rx->n == 1 || strcmp(rx->name[i], h.name) == 0)
				break;
		if (i == rx->n || atomic_load(&rx->disk[i]->sync_state) !=
		    SYNC_RUNNING) {
			log_warnx("initial sync: the primary sent disk \"%s\","
			    " which %s", h.name, i == rx->n ? "this guest does "
			    "not have here" : "was copied already");
			diskbuf_sync_refuse(sock, ENOENT, h.size);
			ok = 0;
			break;
		}
		if (rx_one(rx->disk[i], sock, &h) == -1) {
			atomic_store(&rx->disk[i]->sync_state, SYNC_FAILED);
			log_warnx("initial sync of %s FAILED: the backup's disk "
			    "is not consistent; protection cannot be "
			    "established", rx->disk[i]->image);
			ok = 0;
			break;
		}
		atomic_store(&rx->disk[i]->sync_state, SYNC_DONE);
		done++;
	}
	/* A disk whose copy never came is not consistent either. */
	for (i = 0; i < rx->n; i++) {
		int running = SYNC_RUNNING;

		if (atomic_compare_exchange_strong(&rx->disk[i]->sync_state,
		    &running, SYNC_FAILED))
			log_warnx("initial sync of %s FAILED: no copy came; "
			    "protection cannot be established",
			    rx->disk[i]->image);
	}
	return NULL;
}

struct diskbuf_sync_rx *
diskbuf_sync_rx_start(const char *addr, struct diskbuf_backup *const *disks,
    const char *const *names, size_t n)
{
	struct diskbuf_sync_rx *rx;
	size_t i;
	int rc;

	if (n == 0 || n > DISKBUF_DISKS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	rx = calloc(1, sizeof *rx);
	if (rx == NULL)
		return NULL;
	atomic_init(&rx->sock, -1);
	rx->lfd = -1;
	rx->n = n;
	for (i = 0; i < n; i++) {
		if (diskbuf_backup_sync_expect(disks[i]) == -1)
			goto err;
		rx->disk[i] = disks[i];
		snprintf(rx->name[i], sizeof rx->name[i], "%s",
		    names && names[i] ? names[i] : "");
	}
	rx->lfd = diskbuf_listen_tcp(addr);
	if (rx->lfd == -1)
		goto err;
	rc = pthread_create(&rx->thr, NULL, rx_main, rx);
	if (rc != 0) {
		errno = rc;
		log_warn("initial sync thread");
		goto err;
	}
	rx->started = 1;
	log_info("initial sync: waiting for the primary on %s (%zu disk%s); "
	    "epochs are kept until the copy is complete", addr, n,
	    n == 1 ? "" : "s");
	return rx;
err:
	rc = errno;
	for (i = 0; i < n; i++)
		atomic_store(&disks[i]->sync_state, SYNC_FAILED);
	if (rx->lfd != -1)
		close(rx->lfd);
	free(rx);
	errno = rc;
	return NULL;
}

void
diskbuf_sync_rx_free(struct diskbuf_sync_rx *rx)
{
	if (rx == NULL)
		return;
	if (rx->started) {
		/* Wake the thread wherever it blocks: accept or a copy. */
		shutdown(rx->lfd, SHUT_RDWR);
		if (atomic_load(&rx->sock) != -1)
			shutdown(atomic_load(&rx->sock), SHUT_RDWR);
		pthread_join(rx->thr, NULL);
	}
	if (atomic_load(&rx->sock) != -1)
		close(atomic_load(&rx->sock));
	close(rx->lfd);
	free(rx);
}

int
diskbuf_backup_sync_listen(struct diskbuf_backup *b, const char *addr)
{
	if (b->own_rx != NULL) {
		errno = EBUSY;
		return -1;
	}
	b->own_rx = diskbuf_sync_rx_start(addr, &b, NULL, 1);
	return b->own_rx == NULL ? -1 : 0;
}

int
diskbuf_backup_sync_done(struct diskbuf_backup *b)
{
	switch (atomic_load(&b->sync_state)) {
	case SYNC_RUNNING:
		return 0;
	case SYNC_FAILED:
		return -1;
	default:
		return 1;
	}
}

uint64_t
diskbuf_backup_committed(const struct diskbuf_backup *b)
{
	return b->committed;
}

uint64_t
diskbuf_backup_size(const struct diskbuf_backup *b)
{
	return b->size;
}

void
diskbuf_backup_free(struct diskbuf_backup *b)
{
	struct wlog *w;

	if (b == NULL)
		return;
	diskbuf_sync_rx_free(b->own_rx);
	while ((w = b->backlog) != NULL) {
		b->backlog = w->next;
		wlog_free(w);
	}
	wlog_free(b->open);
	wlog_free(b->undo);
	wlog_free(b->staged);
	if (b->fd != -1)
		close(b->fd);
	free(b->image);
	free(b->spill_dir);
	free(b);
}
