/* diskbuf/sync.c -- the initial disk sync: make the backup's image equal
 * to the primary's before protection starts, moving only blocks that
 * differ.
 *
 * Wire (own TCP connection, little-endian; see docs/diskbuf.md):
 *
 *   sender   -> HELLO  { "RMSDSYNC", version, block, size, name }
 *   receiver -> WELCOME{ status, size }          (status: errno, 0 = ok)
 *   receiver -> nblocks x 16-byte block hash of its copy
 *   sender   -> BLOCK  { index, len } + data     for each block that differs
 *   sender   -> BLOCK  { UINT64_MAX, 0 }         done
 *   receiver -> RESULT { status, blocks written } after fdatasync
 *
 * The receiver sends all hashes before reading any block, and the sender
 * reads all hashes before sending any block, so neither can block the
 * other with full socket buffers.  Every block the receiver gets is
 * written at once, so an interrupted sync leaves a partial copy that the
 * next run compares block by block and completes: that is the resume.
 *
 * Version 2 added the disk's name: a receiver of several disks (remusd,
 * for a guest with several) routes each connection by it; a receiver of
 * one image (remus-disksync recv) takes any.
 */
#define LOG_PREFIX "disksync: "

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diskbuf.h"
#include "diskbuf-int.h"
#include "diskmap.h"
#include "log.h"
#include "util.h"

#define SYNC_MAGIC	"RMSDSYNC"
#define SYNC_VERSION	2u	/* 2: the disk's name */
#define SYNC_BLOCK_MIN	4096u
#define SYNC_BLOCK_MAX	(16u << 20)
#define SYNC_DONE	UINT64_MAX

struct sync_hello {
	uint8_t		magic[8];
	uint32_t	version;
	uint32_t	block;
	uint64_t	size;
	char		name[DISKBUF_SYNC_NAME_LEN];	/* NUL-padded */
};
_Static_assert(sizeof(struct sync_hello) == 48, "sync hello is 48 bytes");
_Static_assert(DISKBUF_SYNC_NAME_LEN == DISKMAP_NAME_MAX + 1,
    "a sync names a disk as diskmap does");

struct sync_status {
	uint32_t	status;
	uint32_t	reserved;
	uint64_t	value;		/* WELCOME: size; RESULT: blocks */
};
_Static_assert(sizeof(struct sync_status) == 16, "sync status is 16 bytes");

struct sync_block {
	uint64_t	index;
	uint32_t	len;
	uint32_t	reserved;
};
_Static_assert(sizeof(struct sync_block) == 16, "sync block is 16 bytes");

static uint64_t sync_rate;	/* bytes per second, 0 = unlimited */
/* remus --bandwidth: the link's shared budget, taken before each block. */
static void	(*sync_take)(void *, size_t);
static void	*sync_take_arg;

void
diskbuf_sync_set_rate(uint64_t bytes_per_s)
{
	sync_rate = bytes_per_s;
}

void
diskbuf_sync_set_budget(void (*take)(void *arg, size_t bytes), void *arg)
{
	sync_take = take;
	sync_take_arg = arg;
}

/* Sleep until BYTES sent since T0 fit the rate. */
static void
throttle(uint64_t t0, uint64_t bytes)
{
	uint64_t due, now;

	if (sync_rate == 0)
		return;
	due = t0 + bytes * 1000000 / sync_rate;
	now = now_us();
	if (due > now)
		usleep((useconds_t)(due - now < 1000000 ? due - now : 1000000));
}

static int
send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* On a terminal, a line rewritten in place about once a second, with
 * the time left at the rate the image is compared so far.  Elsewhere (a
 * log): ON == DISKBUF_PROGRESS_TTY (remus) only the final line;
 * DISKBUF_PROGRESS (remus-disksync, whose lines tests read) one a
 * second. */
static void
progress(int on, int final, uint64_t done, uint64_t total, uint64_t sent,
    uint64_t bytes, uint64_t t0, uint64_t *last)
{
	uint64_t now = now_us();
	double secs = (double)(now - t0) / 1e6;
	char eta[32] = "";
	int tty = isatty(2);

	if (!on || (!final && (now - *last < 1000000 ||
	    (!tty && on == DISKBUF_PROGRESS_TTY))))
		return;
	*last = now;
	if (!final && done > 0 && done < total && secs > 0)
		snprintf(eta, sizeof eta, ", ETA %.0f s", (double)(total -
		    done) * secs / (double)done);
	fprintf(stderr, "%sdisksync: %" PRIu64 "/%" PRIu64 " MiB compared "
	    "(%3.0f%%), %" PRIu64 " blocks sent (%" PRIu64 " MiB), "
	    "%.1f MiB/s%s%s", tty ? "\r" : "", done >> 20, total >> 20,
	    total ? 100.0 * (double)done / (double)total : 100.0, sent,
	    bytes >> 20, secs > 0 ? (double)bytes / 1048576.0 / secs : 0.0,
	    eta, !tty ? "\n" : final ? "\033[K\n" : "\033[K\r");
}

int
diskbuf_sync_send(int sock, int fd, uint64_t size, uint32_t block,
    const char *name, int show, struct diskbuf_sync_stats *st)
{
	struct sync_hello h = { .version = htole32(SYNC_VERSION),
	    .block = htole32(block), .size = htole64(size) };
	struct sync_status w, r;
	struct sync_block bh;
	uint8_t *hashes = NULL, *buf = NULL, mine[16];
	uint64_t nblk, i, t0 = now_us(), last = 0;
	int rc = -1, err;

	/* Field by field: another thread may read the live ones. */
	st->blocks = st->blocks_sent = st->bytes_sent = 0;
	atomic_store(&st->live_done, 0);
	atomic_store(&st->live_sent, 0);
	atomic_store(&st->live_start_us, 0);
	if (block < SYNC_BLOCK_MIN || block > SYNC_BLOCK_MAX ||
	    (block & (block - 1))) {
		log_warnx("block size %u: must be a power of two in %u..%u",
		    block, SYNC_BLOCK_MIN, SYNC_BLOCK_MAX);
		errno = EINVAL;
		return -1;
	}
	if (name == NULL)
		name = "";
	if (*name != '\0' && !diskmap_name_ok(name)) {
		log_warnx("disk name \"%.40s\": not a usable name", name);
		errno = EINVAL;
		return -1;
	}
	nblk = (size + block - 1) / block;
	st->blocks = nblk;
	memcpy(h.magic, SYNC_MAGIC, 8);
	memcpy(h.name, name, strlen(name));
	if (send_all(sock, &h, sizeof h) == -1 ||
	    read_full(sock, &w, sizeof w, NULL) == -1) {
		log_warn("handshake with the receiver");
		return -1;
	}
	if (w.status != 0) {
		errno = (int)le32toh(w.status);
		if (errno == EINVAL && le64toh(w.value) != size)
			log_warnx("image size mismatch: ours is %" PRIu64
			    " bytes, the receiver's %" PRIu64 " bytes",
			    size, le64toh(w.value));
		else if (errno == ENOENT)
			log_warnx("the receiver has no disk named \"%s\" to "
			    "sync", name);
		else
			log_warn("receiver refused the sync");
		return -1;
	}
	hashes = malloc(nblk ? nblk * 16 : 1);
	buf = malloc(block);
	if (hashes == NULL || buf == NULL)
		goto out;
	if (nblk && read_full(sock, hashes, nblk * 16, NULL) == -1) {
		log_warn("reading the receiver's block hashes");
		goto out;
	}
	/* The rate counts from the first block: a receiver busy with
	 * another disk first must not earn this one a burst. */
	t0 = now_us();
	atomic_store(&st->live_start_us, t0);
	for (i = 0; i < nblk; i++) {
		uint64_t off = i * block;
		uint32_t n = size - off < block ? (uint32_t)(size - off) : block;

		if (pread_full(fd, buf, n, off) == -1) {
			log_warn("read block %" PRIu64, i);
			goto out;
		}
		diskbuf_hash(buf, n, mine);
		if (memcmp(mine, hashes + i * 16, 16) != 0) {
			bh.index = htole64(i);
			bh.len = htole32(n);
			bh.reserved = 0;
			if (sync_take != NULL)
				sync_take(sync_take_arg, sizeof bh + n);
			if (send_all(sock, &bh, sizeof bh) == -1 ||
			    send_all(sock, buf, n) == -1)
				goto peer;
			st->blocks_sent++;
			st->bytes_sent += n;
			throttle(t0, st->bytes_sent);
		}
		atomic_store(&st->live_done, off + n);
		atomic_store(&st->live_sent, st->bytes_sent);
		progress(show, 0, off + n, size, st->blocks_sent,
		    st->bytes_sent, t0, &last);
	}
	bh.index = htole64(SYNC_DONE);
	bh.len = 0;
	bh.reserved = 0;
	if (send_all(sock, &bh, sizeof bh) == -1)
		goto peer;
	if (read_full(sock, &r, sizeof r, NULL) == -1) {
		log_warn("waiting for the receiver's result");
		goto out;
	}
	if (r.status != 0) {
		errno = (int)le32toh(r.status);
		log_warn("the receiver failed");
		goto out;
	}
	progress(show, 1, size, size, st->blocks_sent, st->bytes_sent, t0,
	    &last);
	rc = 0;
	goto out;
peer:
	/* The receiver may have said why before closing. */
	err = errno;
	if (read_full(sock, &r, sizeof r, NULL) == 0 && r.status != 0) {
		errno = (int)le32toh(r.status);
		log_warn("the receiver failed");
	} else {
		errno = err;
		log_warn("sending to the receiver");
	}
out:
	err = errno;
	free(hashes);
	free(buf);
	errno = err;
	return rc;
}

static void
send_status(int sock, int status, uint64_t value)
{
	struct sync_status s = { .status = htole32((uint32_t)status),
	    .value = htole64(value) };

	if (send_all(sock, &s, sizeof s) == -1)
		log_debug("send status: %s", strerror(errno));
}

void
diskbuf_sync_refuse(int sock, int err, uint64_t value)
{
	send_status(sock, err, value);
}

int
diskbuf_sync_recv_hello(int sock, struct diskbuf_sync_hello *out)
{
	struct sync_hello h;
	uint32_t block;
	size_t n;

	memset(out, 0, sizeof *out);
	if (read_full(sock, &h, sizeof h, NULL) == -1) {
		log_warn("reading the sender's hello");
		return -1;
	}
	if (memcmp(h.magic, SYNC_MAGIC, 8) != 0 ||
	    le32toh(h.version) != SYNC_VERSION) {
		log_warnx("the peer is not a remus-disksync sender (version "
		    "%u)", SYNC_VERSION);
		send_status(sock, EPROTO, 0);
		errno = EPROTO;
		return -1;
	}
	block = le32toh(h.block);
	if (block < SYNC_BLOCK_MIN || block > SYNC_BLOCK_MAX ||
	    (block & (block - 1))) {
		log_warnx("the sender's block size %u is out of range", block);
		/* Its own size back: not to be read as a size mismatch. */
		send_status(sock, EINVAL, le64toh(h.size));
		errno = EINVAL;
		return -1;
	}
	n = strnlen(h.name, sizeof h.name);
	if (n == sizeof h.name || (n > 0 && !diskmap_name_ok(h.name))) {
		log_warnx("the sender's disk name is not a usable name");
		send_status(sock, EINVAL, le64toh(h.size));
		errno = EINVAL;
		return -1;
	}
	memcpy(out->name, h.name, n);
	out->block = block;
	out->size = le64toh(h.size);
	return 0;
}

int
diskbuf_sync_recv(int sock, int fd, uint64_t size, int create,
    struct diskbuf_sync_stats *st)
{
	struct diskbuf_sync_hello h;

	memset(st, 0, sizeof *st);
	if (diskbuf_sync_recv_hello(sock, &h) == -1)
		return -1;
	return diskbuf_sync_recv_from(sock, &h, fd, size, create, st);
}

int
diskbuf_sync_recv_from(int sock, const struct diskbuf_sync_hello *h, int fd,
    uint64_t size, int create, struct diskbuf_sync_stats *st)
{
	struct sync_block bh;
	uint8_t *buf = NULL, hash[16];
	uint64_t psize = h->size, nblk, i, idx;
	uint32_t block = h->block, len;
	int rc = -1, err;

	memset(st, 0, sizeof *st);
	if (psize != size) {
		if (!create) {
			log_warnx("image size mismatch: ours is %" PRIu64
			    " bytes, the sender's %" PRIu64 " bytes", size,
			    psize);
			send_status(sock, EINVAL, size);
			errno = EINVAL;
			return -1;
		}
		if (ftruncate(fd, (off_t)psize) == -1) {
			log_warn("resize the image to %" PRIu64 " bytes", psize);
			send_status(sock, errno, size);
			return -1;
		}
		size = psize;
	}
	send_status(sock, 0, size);
	nblk = (size + block - 1) / block;
	st->blocks = nblk;
	buf = malloc(block);
	if (buf == NULL)
		goto fail;
	for (i = 0; i < nblk; i++) {
		uint64_t off = i * block;
		uint32_t n = size - off < block ? (uint32_t)(size - off) : block;

		if (pread_full(fd, buf, n, off) == -1) {
			log_warn("read block %" PRIu64, i);
			goto fail;
		}
		diskbuf_hash(buf, n, hash);
		if (send_all(sock, hash, 16) == -1) {
			log_warn("send block hashes");
			goto out;
		}
	}
	for (;;) {
		if (read_full(sock, &bh, sizeof bh, NULL) == -1) {
			log_warn("sync interrupted after %" PRIu64 " blocks "
			    "(run it again: it resumes)", st->blocks_sent);
			fdatasync(fd);
			goto out;
		}
		idx = le64toh(bh.index);
		len = le32toh(bh.len);
		if (idx == SYNC_DONE)
			break;
		if (idx >= nblk || bh.reserved != 0 ||
		    len != (size - idx * block < block ?
		    size - idx * block : block)) {
			log_warnx("malformed block record (index %" PRIu64
			    ", length %u)", idx, len);
			errno = EPROTO;
			goto fail;
		}
		if (read_full(sock, buf, len, NULL) == -1) {
			log_warn("sync interrupted in block %" PRIu64, idx);
			fdatasync(fd);
			goto out;
		}
		if (pwrite_full(fd, buf, len, idx * block) == -1) {
			log_warn("write block %" PRIu64 " (%u bytes)", idx, len);
			goto fail;
		}
		st->blocks_sent++;
		st->bytes_sent += len;
	}
	if (fdatasync(fd) == -1) {
		log_warn("fdatasync");
		goto fail;
	}
	send_status(sock, 0, st->blocks_sent);
	rc = 0;
	goto out;
fail:
	err = errno;
	send_status(sock, err ? err : EIO, 0);
	errno = err;
out:
	err = errno;
	free(buf);
	errno = err;
	return rc;
}
