/* diskbuf/wlog.c -- one epoch's write log (memory, then a spill file), and
 * the small I/O helpers both halves share. */
#define LOG_PREFIX "diskbuf: "

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>

#include "diskbuf-int.h"
#include "log.h"

int
diskbuf_tmpfile(const char *dir)
{
	char path[4096];
	int fd;

	if (dir == NULL) {
		dir = getenv("TMPDIR");
		if (dir == NULL || *dir == '\0')
			dir = "/tmp";
	}
	/* O_TMPFILE: nothing to clean up after a crash. */
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		goto err;
	if ((size_t)snprintf(path, sizeof path, "%s/diskbuf-XXXXXX", dir) >=
	    sizeof path) {
		errno = ENAMETOOLONG;
		goto err;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd == -1)
		goto err;
	unlink(path);
	return fd;
err:
	log_warn("spill file in %s", dir);
	return -1;
}

const char *
diskbuf_op_name(unsigned op)
{
	switch (op) {
	case STREAM_DISK_WRITE:
		return "write";
	case STREAM_DISK_ZERO:
		return "zero";
	case STREAM_DISK_TRIM:
		return "trim";
	default:
		return "?";
	}
}

static int
write_zeroes(int fd, uint64_t len, uint64_t off)
{
	static const uint8_t zero[65536];
	size_t n;

	while (len > 0) {
		n = len < sizeof zero ? (size_t)len : sizeof zero;
		if (pwrite_full(fd, zero, n, off) == -1)
			return -1;
		len -= n;
		off += n;
	}
	return 0;
}

/* Zero a range.  ZERO_RANGE keeps the blocks allocated (no ENOSPC later);
 * PUNCH_HOLE is the fallback; plain zero writes the last resort.  The
 * result reads as zeroes either way, which is all NBD promises. */
static int
zero_range(int fd, uint64_t len, uint64_t off, int may_trim)
{
	if (len == 0)
		return 0;
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
	    (off_t)off, (off_t)len) == 0)
		return 0;
	if (may_trim && fallocate(fd, FALLOC_FL_PUNCH_HOLE |
	    FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
		return -1;
	return write_zeroes(fd, len, off);
}

int
diskbuf_apply(int fd, const struct stream_disk_write *hdr, const void *data)
{
	switch (hdr->op) {
	case STREAM_DISK_WRITE:
		return pwrite_full(fd, data, hdr->length, hdr->offset);
	case STREAM_DISK_ZERO:
		return zero_range(fd, hdr->length, hdr->offset, 0);
	case STREAM_DISK_TRIM:
		/* The primary logs a TRIM only when its punch succeeded, so
		 * its range reads as zeroes there: make it so here too. */
		if (hdr->length == 0)
			return 0;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		    (off_t)hdr->offset, (off_t)hdr->length) == 0)
			return 0;
		return zero_range(fd, hdr->length, hdr->offset, 1);
	default:
		errno = EINVAL;
		return -1;
	}
}

struct wlog *
wlog_new(uint64_t epoch, uint64_t mem_limit, const char *spill_dir)
{
	struct wlog *w = calloc(1, sizeof *w);

	if (w == NULL)
		return NULL;
	w->epoch = epoch;
	w->mem_limit = mem_limit;
	w->spill_dir = spill_dir;
	w->spill_fd = -1;
	return w;
}

void
wlog_free(struct wlog *w)
{
	if (w == NULL)
		return;
	if (w->spill_fd != -1)
		close(w->spill_fd);
	free(w->ents);
	free(w->mem);
	free(w);
}

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem) {
			errno = ENOMEM;
			return -1;
		}
		ncap *= 2;
	}
	np = realloc(*p, ncap * elem);
	if (np == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

int
wlog_append(struct wlog *w, const struct stream_disk_write *hdr,
    const void *data)
{
	struct wlog_ent *e;
	size_t len = hdr->op == STREAM_DISK_WRITE ? hdr->length : 0;

	if (grow((void **)&w->ents, &w->cap, w->n + 1, sizeof *w->ents) == -1)
		return -1;
	e = &w->ents[w->n];
	e->hdr = *hdr;
	e->in_file = 0;
	e->data_off = 0;
	if (len > 0) {
		if (w->mem_len + len <= w->mem_limit) {
			if (grow((void **)&w->mem, &w->mem_cap,
			    w->mem_len + len, 1) == -1)
				return -1;
			memcpy(w->mem + w->mem_len, data, len);
			e->data_off = w->mem_len;
			w->mem_len += len;
		} else {
			if (w->spill_fd == -1) {
				w->spill_fd = diskbuf_tmpfile(w->spill_dir);
				if (w->spill_fd == -1)
					return -1;
			}
			/* ENOSPC here is "the spill disk is full": the caller
			 * names the epoch and gives up on it. */
			if (pwrite_full(w->spill_fd, data, len,
			    w->spill_len) == -1)
				return -1;
			e->in_file = 1;
			e->data_off = w->spill_len;
			w->spill_len += len;
		}
	}
	w->bytes += len;
	w->n++;
	return 0;
}

int
wlog_data(struct wlog *w, size_t i, const void **data, uint8_t **scratch,
    size_t *scratch_len)
{
	struct wlog_ent *e = &w->ents[i];
	size_t len = e->hdr.op == STREAM_DISK_WRITE ? e->hdr.length : 0;

	if (len == 0) {
		*data = NULL;
		return 0;
	}
	if (!e->in_file) {
		*data = w->mem + e->data_off;
		return 0;
	}
	if (*scratch_len < len) {
		uint8_t *p = realloc(*scratch, len);

		if (p == NULL)
			return -1;
		*scratch = p;
		*scratch_len = len;
	}
	if (pread_full(w->spill_fd, *scratch, len, e->data_off) == -1)
		return -1;
	*data = *scratch;
	return 0;
}
