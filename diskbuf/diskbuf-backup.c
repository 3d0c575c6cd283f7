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
 * Single-threaded: the backup receiver calls everything from its loop.
 */
#define LOG_PREFIX "diskbuf: backup: "

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
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
};

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
		b->open = wlog_new(epoch, b->mem_limit, b->spill_dir);
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

int
diskbuf_backup_commit(struct diskbuf_backup *b, uint64_t epoch)
{
	struct wlog *w = b->open, *undo = NULL;
	uint8_t *scratch = NULL, *old = NULL;
	size_t scratch_len = 0, old_len = 0, i = 0;
	const void *data;
	const char *what = "apply";
	int err;

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
	if (w == NULL || w->epoch != epoch) {
		/* No disk writes in this epoch. */
		b->committed = epoch;
		return 0;
	}
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
		    i == w->n / 2) {
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
	free(scratch);
	free(old);
	wlog_free(undo);
	wlog_free(w);
	b->open = NULL;
	b->committed = epoch;
	return 0;
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
		    "epoch %" PRIu64, epoch, b->image, b->committed);
	free(scratch);
	free(old);
	wlog_free(undo);
	wlog_free(w);
	b->open = NULL;
	errno = err;
	return -1;
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
	if (b == NULL)
		return;
	wlog_free(b->open);
	if (b->fd != -1)
		close(b->fd);
	free(b->image);
	free(b->spill_dir);
	free(b);
}
