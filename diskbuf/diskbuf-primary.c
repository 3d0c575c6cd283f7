/* diskbuf/diskbuf-primary.c -- the primary half: apply each guest write to
 * the image and log it for the backup, tagged with its epoch.
 *
 * Epoch tagging: a write belongs to the epoch whose postsuspend comes
 * after it was applied.  p->lock is held across "apply to the image +
 * append to the open log", and epoch_close() takes the same lock, so the
 * cut is exact: every write applied before postsuspend(n) is in log n,
 * every later one in n + 1, and the image content under the lock at
 * postsuspend(n) is exactly what the backup holds once n commits.  A
 * request still in flight when the guest was paused (issued but not yet
 * applied) lands in n + 1; the guest in checkpoint n has not seen it
 * complete, and a block frontend reissues unfinished requests after a
 * failover, so that is consistent too.
 *
 * Locks: p->lock (this file) protects cur, closed, protect, lost and the
 * statistics, and orders writes to the image.  The NBD server's list lock
 * is never held while calling into this file; the two never nest.  FUA
 * and FLUSH fdatasync outside p->lock, so a flush never blocks other
 * clients' writes or a checkpoint.
 */
#define LOG_PREFIX "diskbuf: "

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
#include <linux/falloc.h>

#include "diskbuf.h"
#include "diskbuf-int.h"
#include "log.h"

struct diskbuf_primary {
	int		fd;
	uint64_t	size;
	uint16_t	disk;
	char		*image;
	char		*name;		/* "" unnamed */
	char		*export;	/* its NBD export's name */
	char		*spill_dir;
	uint64_t	mem_limit;
	struct nbd_server *srv;
	struct nbd_kernel *kdev;	/* /dev/nbdN, if attached */

	pthread_mutex_t	lock;		/* see the comment at the top */
	int		protect;	/* writes are logged */
	int		lost;		/* protection lost on an error */
	struct wlog	*cur;		/* open epoch */
	struct wlog	*closed;	/* closed, not yet saved; oldest first */
	uint64_t	acked;
	unsigned	connected;	/* clients in transmission now */

	/* Live initial sync (a thread with its own fd and socket). */
	atomic_int	sync_state;	/* 0 none, 1 running, 2 done, 3 failed */
	atomic_int	sync_sock;
	atomic_int	sync_cancel;	/* its backup is gone: give up */
	int		syncs;		/* started so far: the first is the
					 * initial sync, later ones resyncs */
	int		sync_thr_started;
	pthread_t	sync_thr;
	char		*sync_addr;
	char		*sync_name;
	int		sync_progress;
	/* The sync thread's figures; the live ones read by others. */
	struct diskbuf_sync_stats sync_st;
	struct diskbuf_stats st;
};

static uint32_t
nbd_errno(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	default:
		return NBD_EIO;
	}
}

/* Called with p->lock held.  Protection degrades loudly; the guest keeps
 * its disk. */
static void
lose_protection_locked(struct diskbuf_primary *p, const char *why)
{
	struct wlog *w;

	if (!p->protect)
		return;
	p->protect = 0;
	p->lost = 1;
	wlog_free(p->cur);
	p->cur = NULL;
	while ((w = p->closed) != NULL) {
		p->closed = w->next;
		wlog_free(w);
	}
	log_warnx("%s: disk protection LOST: %s; the primary keeps serving "
	    "the disk unprotected", p->image, why);
}

/* Log one applied change (p->lock held).  A failure here costs the
 * protection, never the guest's write. */
static void
log_change_locked(struct diskbuf_primary *p, uint8_t op, uint64_t off,
    uint32_t len, int fua, const void *data)
{
	struct stream_disk_write h = {
		.offset = off, .length = len, .disk = p->disk, .op = op,
		.flags = fua ? STREAM_DISK_FLAG_FUA : 0,
	};
	char why[160];
	uint64_t spilled;

	/* The stream has no zero-length records; such a request changes
	 * nothing anyway. */
	if (!p->protect || len == 0)
		return;
	spilled = p->cur->spill_len;
	if (wlog_append(p->cur, &h, data) == -1) {
		snprintf(why, sizeof why, "epoch %" PRIu64 ": logging a %u-byte "
		    "%s at offset %" PRIu64 " failed: %s", p->cur->epoch, len,
		    diskbuf_op_name(op), off, strerror(errno));
		lose_protection_locked(p, why);
		return;
	}
	p->st.logged_records++;
	if (op == STREAM_DISK_WRITE)
		p->st.logged_bytes += len;
	p->st.spilled_bytes += p->cur->spill_len - spilled;
}

static uint64_t
be_size(struct diskbuf_primary *p)
{
	return p->size;
}

static uint32_t
be_pread(struct diskbuf_primary *p, void *buf, uint32_t len, uint64_t off)
{
	if (pread_full(p->fd, buf, len, off) == -1) {
		log_warn("%s: read %u bytes at %" PRIu64, p->image, len, off);
		return nbd_errno(errno);
	}
	pthread_mutex_lock(&p->lock);
	p->st.reads++;
	p->st.bytes_read += len;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static uint32_t
sync_if(struct diskbuf_primary *p, int fua)
{
	/* The guest is told "durable" only once the primary's storage
	 * says so; the backup's copy becomes durable when the epoch is
	 * acknowledged (docs/diskbuf.md). */
	if (fua && fdatasync(p->fd) == -1) {
		log_warn("%s: fdatasync", p->image);
		return nbd_errno(errno);
	}
	return 0;
}

static uint32_t
be_pwrite(struct diskbuf_primary *p, const void *buf, uint32_t len,
    uint64_t off, int fua)
{
	pthread_mutex_lock(&p->lock);
	if (pwrite_full(p->fd, buf, len, off) == -1) {
		int err = errno;

		pthread_mutex_unlock(&p->lock);
		errno = err;
		log_warn("%s: write %u bytes at %" PRIu64, p->image, len, off);
		return nbd_errno(err);
	}
	log_change_locked(p, STREAM_DISK_WRITE, off, len, fua, buf);
	p->st.writes++;
	p->st.bytes_written += len;
	if (fua)
		p->st.fua++;
	pthread_mutex_unlock(&p->lock);
	return sync_if(p, fua);
}

static uint32_t
be_zero(struct diskbuf_primary *p, uint32_t len, uint64_t off, int may_trim,
    int fua)
{
	struct stream_disk_write h = {
		.offset = off, .length = len, .op = STREAM_DISK_ZERO,
	};

	(void)may_trim;		/* zero_range keeps allocation when it can */
	pthread_mutex_lock(&p->lock);
	if (diskbuf_apply(p->fd, &h, NULL) == -1) {
		int err = errno;

		pthread_mutex_unlock(&p->lock);
		errno = err;
		log_warn("%s: zero %u bytes at %" PRIu64, p->image, len, off);
		return nbd_errno(err);
	}
	log_change_locked(p, STREAM_DISK_ZERO, off, len, fua, NULL);
	p->st.zeroes++;
	pthread_mutex_unlock(&p->lock);
	return sync_if(p, fua);
}

static uint32_t
be_trim(struct diskbuf_primary *p, uint32_t len, uint64_t off, int fua)
{
	pthread_mutex_lock(&p->lock);
	if (len > 0 && fallocate(p->fd, FALLOC_FL_PUNCH_HOLE |
	    FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == -1) {
		int err = errno;

		pthread_mutex_unlock(&p->lock);
		/* TRIM is advisory: if the file system cannot punch, the
		 * data stays and nothing changed that the backup needs. */
		if (err == EOPNOTSUPP || err == ENOSYS)
			return 0;
		errno = err;
		log_warn("%s: trim %u bytes at %" PRIu64, p->image, len, off);
		return nbd_errno(err);
	}
	log_change_locked(p, STREAM_DISK_TRIM, off, len, fua, NULL);
	p->st.trims++;
	pthread_mutex_unlock(&p->lock);
	return sync_if(p, fua);
}

static uint32_t
be_flush(struct diskbuf_primary *p)
{
	pthread_mutex_lock(&p->lock);
	p->st.flushes++;
	pthread_mutex_unlock(&p->lock);
	return sync_if(p, 1);
}

static void
be_bad_request(struct diskbuf_primary *p)
{
	pthread_mutex_lock(&p->lock);
	p->st.bad_requests++;
	pthread_mutex_unlock(&p->lock);
}

static void
be_client(struct diskbuf_primary *p, int connected)
{
	pthread_mutex_lock(&p->lock);
	if (connected) {
		p->st.clients++;
		p->connected++;
	} else
		p->connected--;
	pthread_mutex_unlock(&p->lock);
}

static const struct nbd_backend primary_backend = {
	.size = be_size,
	.pread = be_pread,
	.pwrite = be_pwrite,
	.zero = be_zero,
	.trim = be_trim,
	.flush = be_flush,
	.bad_request = be_bad_request,
	.client = be_client,
};

struct diskbuf_primary *
diskbuf_primary_new(const struct diskbuf_primary_cfg *cfg)
{
	struct diskbuf_primary *p;
	struct stat st;
	int err;

	p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	p->fd = -1;
	atomic_init(&p->sync_sock, -1);
	atomic_init(&p->sync_state, 0);
	atomic_init(&p->sync_cancel, 0);
	pthread_mutex_init(&p->lock, NULL);
	p->disk = cfg->disk;
	p->mem_limit = cfg->mem_limit ? cfg->mem_limit : DISKBUF_MEM_LIMIT_DEFAULT;
	p->image = strdup(cfg->image);
	p->name = strdup(cfg->name ? cfg->name : "");
	if (p->image == NULL || p->name == NULL)
		goto err;
	if (cfg->spill_dir && (p->spill_dir = strdup(cfg->spill_dir)) == NULL)
		goto err;
	p->fd = open(cfg->image, O_RDWR | O_CLOEXEC);
	if (p->fd == -1) {
		log_warn("image %s", cfg->image);
		goto err;
	}
	if (fstat(p->fd, &st) == -1) {
		log_warn("image %s", cfg->image);
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("image %s: not a regular file", cfg->image);
		errno = EINVAL;
		goto err;
	}
	p->size = (uint64_t)st.st_size;
	if (cfg->protect) {
		p->cur = wlog_new(1, p->mem_limit, p->spill_dir);
		if (p->cur == NULL)
			goto err;
		p->protect = 1;
	}
	/* The export is named after the disk, "disk" when unnamed. */
	p->export = strdup(cfg->export_name ? cfg->export_name : *p->name ?
	    p->name : "disk");
	if (p->export == NULL)
		goto err;
	p->srv = nbd_server_new(&primary_backend, p, p->export);
	if (p->srv == NULL)
		goto err;
	log_info("%s: %" PRIu64 " bytes, disk %u, %s", p->image, p->size,
	    p->disk, p->protect ? "protected (writes logged from epoch 1)" :
	    "unprotected");
	return p;
err:
	err = errno;
	diskbuf_primary_free(p);
	errno = err;
	return NULL;
}

int
diskbuf_primary_listen(struct diskbuf_primary *p, const char *addr)
{
	return nbd_server_listen(p->srv, addr);
}

int
diskbuf_primary_share(struct diskbuf_primary *p, struct diskbuf_primary *other)
{
	if (nbd_server_add_export(p->srv, other, other->export) == -1) {
		log_warn("%s: serve %s beside it", p->image, other->image);
		return -1;
	}
	return 0;
}

int
diskbuf_primary_serve_fd(struct diskbuf_primary *p, int fd)
{
	return nbd_server_serve_fd(p->srv, fd);
}

uint64_t
diskbuf_primary_size(const struct diskbuf_primary *p)
{
	return p->size;
}

int
diskbuf_primary_protected(struct diskbuf_primary *p)
{
	int r;

	pthread_mutex_lock(&p->lock);
	r = p->protect;
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* Called with p->lock held. */
static void
epoch_close_locked(struct diskbuf_primary *p, uint64_t epoch)
{
	struct wlog *w, **pp;

	if (!p->protect)
		return;
	/* Whatever number the engine starts from, the writes since the
	 * last close are this epoch's. */
	w = wlog_new(epoch + 1, p->mem_limit, p->spill_dir);
	if (w == NULL) {
		/* save() reports it with the epoch */
		lose_protection_locked(p, "no memory for the next epoch's log");
		return;
	}
	p->cur->epoch = epoch;
	for (pp = &p->closed; *pp; pp = &(*pp)->next)
		;
	*pp = p->cur;
	p->cur = w;
	log_debug("epoch %" PRIu64 ": log closed, %zu records, %" PRIu64
	    " bytes", epoch, (*pp)->n, (*pp)->bytes);
}

int
diskbuf_primary_epoch_close(struct diskbuf_primary *p, uint64_t epoch)
{
	pthread_mutex_lock(&p->lock);
	epoch_close_locked(p, epoch);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int
diskbuf_primary_epoch_close_digest(struct diskbuf_primary *p, uint64_t epoch,
    uint8_t out[16])
{
	int rc;

	/* One lock hold for both: a write arriving between the close and
	 * the digest would belong to N + 1 yet be in N's digest. */
	pthread_mutex_lock(&p->lock);
	epoch_close_locked(p, epoch);
	rc = diskbuf_hash_fd(p->fd, p->size, out);
	pthread_mutex_unlock(&p->lock);
	if (rc == -1)
		log_warn("%s: digest", p->image);
	return rc;
}

int
diskbuf_primary_save(struct diskbuf_primary *p, uint64_t epoch,
    diskbuf_emit_fn emit, void *arg)
{
	struct wlog *w = NULL, **pp;
	uint8_t *scratch = NULL;
	size_t scratch_len = 0, i;
	const void *data;
	int lost, rc = -1, err;

	if (diskbuf_primary_sync_done(p) == -1) {
		/* Without the copy the backup's disk can never be right:
		 * fail the epoch so the engine ends protection, loudly. */
		log_warnx("%s: epoch %" PRIu64 ": the initial sync failed, "
		    "cannot protect the disk", p->image, epoch);
		errno = EIO;
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	for (pp = &p->closed; *pp; pp = &(*pp)->next)
		if ((*pp)->epoch == epoch) {
			w = *pp;
			*pp = w->next;
			break;
		}
	lost = p->lost;
	pthread_mutex_unlock(&p->lock);
	if (w == NULL) {
		if (lost)
			log_warnx("%s: epoch %" PRIu64 ": the write log was "
			    "lost with the protection, cannot send its disk "
			    "writes", p->image, epoch);
		else
			log_warnx("%s: epoch %" PRIu64 ": no closed write log "
			    "(postsuspend not called?)", p->image, epoch);
		errno = lost ? EIO : EINVAL;
		return -1;
	}
	for (i = 0; i < w->n; i++) {
		if (wlog_data(w, i, &data, &scratch, &scratch_len) == -1) {
			log_warn("%s: epoch %" PRIu64 ": read spilled write log",
			    p->image, epoch);
			goto out;
		}
		if (emit(arg, &w->ents[i].hdr, data) == -1)
			goto out;
	}
	rc = 0;
out:
	err = errno;
	free(scratch);
	wlog_free(w);
	errno = err;
	return rc;
}

int
diskbuf_primary_commit(struct diskbuf_primary *p, uint64_t epoch)
{
	pthread_mutex_lock(&p->lock);
	if (epoch > p->acked)
		p->acked = epoch;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void
diskbuf_primary_unprotect(struct diskbuf_primary *p, const char *reason)
{
	struct wlog *w;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->protect || p->closed) {
		log_statechange(p->image, "protected", "unprotected", reason);
		p->protect = 0;
		wlog_free(p->cur);
		p->cur = NULL;
		while ((w = p->closed) != NULL) {
			p->closed = w->next;
			wlog_free(w);
		}
	}
	pthread_mutex_unlock(&p->lock);
}

int
diskbuf_primary_digest(struct diskbuf_primary *p, uint8_t out[16])
{
	int rc;

	pthread_mutex_lock(&p->lock);
	rc = diskbuf_hash_fd(p->fd, p->size, out);
	pthread_mutex_unlock(&p->lock);
	if (rc == -1)
		log_warn("%s: digest", p->image);
	return rc;
}

static void *
sync_main(void *arg)
{
	struct diskbuf_primary *p = arg;
	struct diskbuf_sync_stats *st = &p->sync_st;
	const char *what = p->syncs > 1 ? "disk resync" : "initial sync";
	int fd, sock, ok = 0;

	/* Its own fd: reads race with the guest's writes, which is fine --
	 * every write since logging began is replayed on the backup after
	 * the copy (docs/diskbuf.md).  A resync is the same copy: logging
	 * began again (diskbuf_primary_protect) before this thread, so a
	 * write the guest made while unprotected is in the image this
	 * reads, and every later one in the logs. */
	fd = open(p->image, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		log_warn("%s: %s", what, p->image);
		goto out;
	}
	sock = diskbuf_connect_tcp_until(p->sync_addr, 30, &p->sync_cancel);
	if (sock == -1)
		goto out;
	atomic_store(&p->sync_sock, sock);
	/* A cancel between the connect and the store found no socket to
	 * shut down. */
	if (atomic_load(&p->sync_cancel))
		shutdown(sock, SHUT_RDWR);
	log_info("%s of %s to %s started", what, p->image, p->sync_addr);
	if (diskbuf_sync_send(sock, fd, p->size, 1u << 20, p->sync_name,
	    p->sync_progress, st) == 0) {
		ok = 1;
		log_info("%s of %s done: %" PRIu64 " of %" PRIu64
		    " blocks sent (%" PRIu64 " bytes); the disk is protected "
		    "from now on", what, p->image, st->blocks_sent, st->blocks,
		    st->bytes_sent);
	}
out:
	if (fd != -1)
		close(fd);
	atomic_store(&p->sync_state, ok ? 2 : 3);
	if (!ok)
		log_warnx("%s of %s to %s FAILED: the disk is NOT "
		    "protected", what, p->image, p->sync_addr);
	return NULL;
}

int
diskbuf_primary_sync_start(struct diskbuf_primary *p, const char *addr,
    const char *name, int progress)
{
	int rc;

	if (p->sync_thr_started) {
		errno = EBUSY;
		return -1;
	}
	p->sync_addr = strdup(addr);
	p->sync_name = strdup(name ? name : p->name);
	if (p->sync_addr == NULL || p->sync_name == NULL)
		return -1;
	p->sync_progress = progress;
	p->syncs++;
	/* Not the last sync's figures while this one connects. */
	atomic_store(&p->sync_st.live_done, 0);
	atomic_store(&p->sync_st.live_sent, 0);
	atomic_store(&p->sync_st.live_start_us, 0);
	atomic_store(&p->sync_cancel, 0);
	atomic_store(&p->sync_state, 1);
	rc = pthread_create(&p->sync_thr, NULL, sync_main, p);
	if (rc != 0) {
		errno = rc;
		log_warn("initial sync thread");
		atomic_store(&p->sync_state, 3);
		return -1;
	}
	p->sync_thr_started = 1;
	return 0;
}

void
diskbuf_primary_sync_cancel(struct diskbuf_primary *p)
{
	int sock;

	if (p == NULL || !p->sync_thr_started)
		return;
	atomic_store(&p->sync_cancel, 1);
	sock = atomic_load(&p->sync_sock);
	if (sock != -1)
		shutdown(sock, SHUT_RDWR);
}

/* Join a finished (or stop a running) sync thread, so that a later
 * protection can start its own copy. */
static void
sync_stop(struct diskbuf_primary *p)
{
	if (p->sync_thr_started) {
		if (atomic_load(&p->sync_state) == 1)
			log_warnx("%s: %s interrupted", p->image, p->syncs > 1 ?
			    "disk resync" : "initial sync");
		/* The connect loop too, which has no socket yet. */
		atomic_store(&p->sync_cancel, 1);
		if (atomic_load(&p->sync_sock) != -1)
			shutdown(atomic_load(&p->sync_sock), SHUT_RDWR);
		pthread_join(p->sync_thr, NULL);
		p->sync_thr_started = 0;
	}
	if (atomic_load(&p->sync_sock) != -1)
		close(atomic_load(&p->sync_sock));
	atomic_store(&p->sync_sock, -1);
	atomic_store(&p->sync_state, 0);
	atomic_store(&p->sync_cancel, 0);
	free(p->sync_addr);
	p->sync_addr = NULL;
	free(p->sync_name);
	p->sync_name = NULL;
}

int
diskbuf_primary_protect(struct diskbuf_primary *p)
{
	struct wlog *w;

	sync_stop(p);
	w = wlog_new(1, p->mem_limit, p->spill_dir);
	if (w == NULL) {
		log_warn("%s: write log", p->image);
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	if (p->protect) {
		pthread_mutex_unlock(&p->lock);
		wlog_free(w);
		log_warnx("%s: already protected", p->image);
		errno = EBUSY;
		return -1;
	}
	p->cur = w;
	p->protect = 1;
	p->lost = 0;
	p->acked = 0;
	pthread_mutex_unlock(&p->lock);
	log_statechange(p->image, "unprotected", "protected",
	    "writes logged from epoch 1");
	return 0;
}

int
diskbuf_primary_attach_device(struct diskbuf_primary *p, const char *dev)
{
	if (p->kdev != NULL) {
		errno = EBUSY;
		return -1;
	}
	p->kdev = nbd_kernel_attach(p->srv, dev, p->size);
	return p->kdev == NULL ? -1 : 0;
}

int
diskbuf_primary_sync_done(struct diskbuf_primary *p)
{
	switch (atomic_load(&p->sync_state)) {
	case 1:
		return 0;
	case 3:
		return -1;
	default:
		return 1;
	}
}

int
diskbuf_primary_sync_progress(struct diskbuf_primary *p,
    struct diskbuf_sync_progress *out)
{
	memset(out, 0, sizeof *out);
	if (atomic_load(&p->sync_state) == 0)
		return 1;
	out->total = p->size;
	out->done = atomic_load(&p->sync_st.live_done);
	out->sent = atomic_load(&p->sync_st.live_sent);
	out->start_us = atomic_load(&p->sync_st.live_start_us);
	return diskbuf_primary_sync_done(p);
}

unsigned
diskbuf_primary_clients(struct diskbuf_primary *p)
{
	unsigned n;

	pthread_mutex_lock(&p->lock);
	n = p->connected;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
diskbuf_primary_stats(struct diskbuf_primary *p, struct diskbuf_stats *st)
{
	pthread_mutex_lock(&p->lock);
	*st = p->st;
	pthread_mutex_unlock(&p->lock);
}

void
diskbuf_primary_free(struct diskbuf_primary *p)
{
	struct wlog *w;

	if (p == NULL)
		return;
	sync_stop(p);
	/* The device first (its requests drain through the server), then
	 * the server: no client thread may touch p after this. */
	nbd_kernel_detach(p->kdev);
	p->kdev = NULL;
	nbd_server_free(p->srv);
	p->srv = NULL;
	wlog_free(p->cur);
	while ((w = p->closed) != NULL) {
		p->closed = w->next;
		wlog_free(w);
	}
	if (p->fd != -1) {
		if (fdatasync(p->fd) == -1)
			log_warn("%s: fdatasync", p->image);
		close(p->fd);
	}
	pthread_mutex_destroy(&p->lock);
	free(p->image);
	free(p->name);
	free(p->export);
	free(p->spill_dir);
	free(p);
}
