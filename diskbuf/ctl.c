/* diskbuf/ctl.c -- remus attaching to a disk server that runs on its own
 * (remus-diskd), over a local control socket.
 *
 * Why a separate server: a Xen guest's disk must exist when `xl create`
 * runs and must keep working when protection stops (remus ends, or dies),
 * so the NBD export cannot live inside remus the way it does for --disk.
 * remus-diskd serves the image from the guest's creation on, unprotected;
 * a remus connects and the connection *is* the protection:
 *
 *   remus                              remus-diskd
 *   PROTECT rate name [addr] ---->     diskbuf_primary_protect (+ sync)
 *                         <-------     OK  size, disk, image
 *   CLOSE n (guest paused)------->     diskbuf_primary_epoch_close(n)
 *                                      (CLOSE_DIGEST: and the test digest)
 *                         <-------     OK
 *   SAVE n                ------->     diskbuf_primary_save(n):
 *                         <-------     RECORD ... RECORD, OK
 *   COMMIT n              ------->     diskbuf_primary_commit(n)
 *                         <-------     OK
 *   (close, for any reason)            diskbuf_primary_unprotect
 *
 * Strictly request/response, one request at a time, so neither side needs
 * more than a blocking read with a timeout.  Both ends are on one host and
 * the same build, so integers are native; every length is still checked
 * before use, as for any input from another process.
 */
#define LOG_PREFIX "diskbuf: "

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "diskbuf.h"
#include "diskbuf-int.h"
#include "log.h"
#include "util.h"

#define CTL_MAGIC	0x4b534452u	/* "RDSK" */
#define CTL_PROTECT	1u
#define CTL_CLOSE	2u
#define CTL_SAVE	3u
#define CTL_COMMIT	4u
#define CTL_DIGEST	5u
#define CTL_CLOSE_DIGEST 6u		/* CLOSE, answered with the digest */
#define CTL_OK		16u
#define CTL_ERR		17u
#define CTL_RECORD	18u

#define CTL_SMALL_MAX	4096u		/* every payload but RECORD */
#define CTL_TIMEOUT_S	10		/* a hung peer is an error */

struct ctl_msg {
	uint32_t	magic;
	uint16_t	type;
	uint16_t	zero;
	uint64_t	epoch;
	uint32_t	len;		/* payload bytes that follow */
	uint32_t	pad;
};
_Static_assert(sizeof(struct ctl_msg) == 24, "ctl message header is 24 bytes");

struct ctl_protect {			/* PROTECT payload */
	uint64_t	sync_rate;	/* bytes/s, 0 = unlimited */
	char		sync_name[DISKBUF_SYNC_NAME_LEN];	/* the disk's
					 * name for the sync (remus's), NUL-
					 * padded; "" unnamed */
	/* sync address follows, no NUL; none: no initial sync */
};
_Static_assert(sizeof(struct ctl_protect) == 32, "ctl protect is 32 bytes");

struct ctl_protected {			/* OK payload of PROTECT */
	uint64_t	size;
	uint16_t	disk;
	uint16_t	pad[3];
	/* image path follows, no NUL */
};
_Static_assert(sizeof(struct ctl_protected) == 16, "ctl protected is 16 bytes");

int
diskbuf_ctl_path(const char *dev, char *buf, size_t len)
{
	const char *base = strrchr(dev, '/');
	int n;

	base = base ? base + 1 : dev;
	if (*base == '\0') {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(buf, len, "%s/diskd-%s.sock", DISKBUF_CTL_DIR, base);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
send_msg(int fd, uint16_t type, uint64_t epoch, const void *a, size_t alen,
    const void *b, size_t blen)
{
	struct ctl_msg m = {
		.magic = CTL_MAGIC, .type = type, .epoch = epoch,
		.len = (uint32_t)(alen + blen),
	};
	struct iovec iov[3] = {
		{ &m, sizeof m }, { (void *)a, alen }, { (void *)b, blen },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };
	size_t left = sizeof m + alen + blen;
	ssize_t n;

	while (left > 0) {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		left -= (size_t)n;
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* Read one message; its payload into *BUF (grown as needed, up to MAX
 * bytes).  EPIPE on a clean close before the header, EPROTO on garbage. */
static int
recv_msg(int fd, struct ctl_msg *m, uint8_t **buf, size_t *cap, size_t max)
{
	uint8_t *nb;

	if (read_full(fd, m, sizeof *m, NULL) == -1)
		return -1;
	if (m->magic != CTL_MAGIC || m->zero != 0 || m->pad != 0 ||
	    m->len > max) {
		errno = EPROTO;
		return -1;
	}
	if (m->len > *cap) {
		nb = realloc(*buf, m->len);
		if (nb == NULL)
			return -1;
		*buf = nb;
		*cap = m->len;
	}
	if (m->len > 0 && read_full(fd, *buf, m->len, NULL) == -1) {
		if (errno == EPIPE)
			errno = EPROTO;		/* cut inside a message */
		return -1;
	}
	return 0;
}

static void
set_timeout(int fd, int s)
{
	struct timeval tv = { s, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* ---- Server side (remus-diskd) ------------------------------------ */

int
diskbuf_ctl_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, probe;

	if (strlen(path) >= sizeof sa.sun_path) {
		log_warnx("control socket %s: path too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A socket file that nobody answers on is a leftover of a server
	 * that died; one that answers is a live server of the same disk. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe != -1 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
		close(probe);
		log_warnx("control socket %s: another remus-diskd serves it",
		    path);
		errno = EADDRINUSE;
		return -1;
	}
	if (probe != -1)
		close(probe);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("control socket");
		return -1;
	}
	/* Owner only: whoever connects may read every guest write. */
	if (fchmod(fd, 0600) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1 ||
	    chmod(path, 0600) == -1 || listen(fd, 4) == -1) {
		log_warn("control socket %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

struct emit_ctx {
	int		fd;
	uint64_t	epoch;
};

static int
emit_ctl(void *arg, const struct stream_disk_write *h, const void *data)
{
	struct emit_ctx *e = arg;
	size_t dlen = h->op == STREAM_DISK_WRITE ? h->length : 0;

	return send_msg(e->fd, CTL_RECORD, e->epoch, h, sizeof *h, data, dlen);
}

static int
reply_err(int fd, uint64_t epoch, int err)
{
	const char *s = strerror(err);

	return send_msg(fd, CTL_ERR, epoch, s, strlen(s), NULL, 0);
}

int
diskbuf_ctl_serve_one(struct diskbuf_primary *p, int fd, const char *image)
{
	struct ctl_msg m;
	uint8_t small[CTL_SMALL_MAX], *buf = small, dg[16];
	size_t cap = sizeof small;
	struct ctl_protected ok = { 0 };
	struct emit_ctx e = { fd, 0 };
	char addr[257];
	int r;

	/* The caller polled FD: a request is there or coming. */
	set_timeout(fd, CTL_TIMEOUT_S);
	if (recv_msg(fd, &m, &buf, &cap, CTL_SMALL_MAX) == -1)
		return -1;		/* EPIPE: the remus went away */
	switch (m.type) {
	case CTL_PROTECT: {
		struct ctl_protect pr;

		if (m.len < sizeof pr || m.len - sizeof pr >= sizeof addr) {
			errno = EPROTO;
			return -1;
		}
		memcpy(&pr, buf, sizeof pr);
		memcpy(addr, buf + sizeof pr, m.len - sizeof pr);
		addr[m.len - sizeof pr] = '\0';
		if (memchr(pr.sync_name, '\0', sizeof pr.sync_name) == NULL) {
			errno = EPROTO;
			return -1;
		}
		/* The rate is process-wide: one remus at a time here. */
		diskbuf_sync_set_rate(pr.sync_rate);
		if (diskbuf_primary_protect(p) == -1 ||
		    (*addr && diskbuf_primary_sync_start(p, addr,
		    pr.sync_name, 0) == -1))
			return reply_err(fd, 0, errno);
		ok.size = diskbuf_primary_size(p);
		return send_msg(fd, CTL_OK, 0, &ok, sizeof ok, image,
		    strlen(image));
	}
	case CTL_CLOSE_DIGEST:
		return diskbuf_primary_epoch_close_digest(p, m.epoch, dg) == -1 ?
		    reply_err(fd, m.epoch, errno) :
		    send_msg(fd, CTL_OK, m.epoch, dg, sizeof dg, NULL, 0);
	case CTL_CLOSE:
	case CTL_COMMIT:
		r = m.type == CTL_CLOSE ?
		    diskbuf_primary_epoch_close(p, m.epoch) :
		    diskbuf_primary_commit(p, m.epoch);
		return r == -1 ? reply_err(fd, m.epoch, errno) :
		    send_msg(fd, CTL_OK, m.epoch, NULL, 0, NULL, 0);
	case CTL_SAVE:
		e.epoch = m.epoch;
		if (diskbuf_primary_save(p, m.epoch, emit_ctl, &e) == -1) {
			/* A send that failed leaves the connection cut
			 * mid-record: drop it. */
			if (errno == EPIPE || errno == ECONNRESET ||
			    errno == EAGAIN)
				return -1;
			return reply_err(fd, m.epoch, errno);
		}
		return send_msg(fd, CTL_OK, m.epoch, NULL, 0, NULL, 0);
	case CTL_DIGEST:
		return diskbuf_primary_digest(p, dg) == -1 ?
		    reply_err(fd, 0, errno) :
		    send_msg(fd, CTL_OK, 0, dg, sizeof dg, NULL, 0);
	default:
		errno = EPROTO;
		return -1;
	}
}

int
diskbuf_ctl_refuse(int fd, const char *why)
{
	set_timeout(fd, 1);
	return send_msg(fd, CTL_ERR, 0, why, strlen(why), NULL, 0);
}

/* ---- Client side (remus) ------------------------------------------ */

struct diskbuf_ctl {
	int		fd;
	char		*path;
	char		*image;
	uint64_t	size;
	uint8_t		*buf;
	size_t		cap;
};

static const char *
epoch_str(uint64_t epoch)
{
	static __thread char buf[40];

	if (epoch == 0)
		return "";
	snprintf(buf, sizeof buf, ", epoch %" PRIu64, epoch);
	return buf;
}

/* Wait for the answer to a request: OK (payload in c->buf), or ERR, which
 * becomes -1 with a message naming the server. */
static int
await_ok(struct diskbuf_ctl *c, const char *what, uint64_t epoch,
    struct ctl_msg *m)
{
	if (recv_msg(c->fd, m, &c->buf, &c->cap,
	    sizeof(struct stream_disk_write) + DISKBUF_NBD_MAX_LEN) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			log_warnx("disk server %s: %s%s: no answer within %d s",
			    c->path, what, epoch_str(epoch), CTL_TIMEOUT_S);
			errno = ETIMEDOUT;
			return -1;
		}
		log_warn("disk server %s: %s%s", c->path, what,
		    epoch_str(epoch));
		if (errno == EPIPE)
			errno = ECONNRESET;
		return -1;
	}
	if (m->type == CTL_ERR) {
		log_warnx("disk server %s: %s%s: %.*s", c->path, what,
		    epoch_str(epoch), (int)(m->len > 200 ? 200 : m->len),
		    (const char *)c->buf);
		errno = EIO;
		return -1;
	}
	if (m->type != CTL_OK && m->type != CTL_RECORD) {
		log_warnx("disk server %s: %s: unexpected reply %u", c->path,
		    what, m->type);
		errno = EPROTO;
		return -1;
	}
	if (m->epoch != epoch) {
		log_warnx("disk server %s: %s: reply for epoch %" PRIu64
		    ", expected %" PRIu64, c->path, what, m->epoch, epoch);
		errno = EPROTO;
		return -1;
	}
	return 0;
}

struct diskbuf_ctl *
diskbuf_ctl_open(const char *path, const char *sync_addr, const char *sync_name,
    uint64_t sync_rate)
{
	struct ctl_protect pr = { .sync_rate = sync_rate };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct diskbuf_ctl *c;
	struct ctl_protected ok;
	struct ctl_msg m;
	size_t alen = sync_addr ? strlen(sync_addr) : 0;
	int err;

	c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->fd = -1;
	if ((c->path = strdup(path)) == NULL)
		goto err;
	if (strlen(path) >= sizeof sa.sun_path || alen > 256 ||
	    (sync_name && strlen(sync_name) >= sizeof pr.sync_name)) {
		log_warnx("disk server %s: path, sync address or disk name too "
		    "long", path);
		errno = ENAMETOOLONG;
		goto err;
	}
	if (sync_name)
		memcpy(pr.sync_name, sync_name, strlen(sync_name));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		goto err;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		log_warn("disk server %s (is remus-diskd running?)", path);
		goto err;
	}
	set_timeout(c->fd, CTL_TIMEOUT_S);
	if (send_msg(c->fd, CTL_PROTECT, 0, &pr, sizeof pr, sync_addr,
	    alen) == -1) {
		log_warn("disk server %s", path);
		goto err;
	}
	if (await_ok(c, "protect", 0, &m) == -1)
		goto err;
	if (m.type != CTL_OK || m.len < sizeof ok) {
		log_warnx("disk server %s: short answer to protect", path);
		errno = EPROTO;
		goto err;
	}
	memcpy(&ok, c->buf, sizeof ok);
	c->size = ok.size;
	c->image = strndup((char *)c->buf + sizeof ok, m.len - sizeof ok);
	if (c->image == NULL)
		goto err;
	log_info("disk server %s: %s, %" PRIu64 " bytes, protected from "
	    "epoch 1", path, c->image, c->size);
	return c;
err:
	err = errno;
	diskbuf_ctl_free(c);
	errno = err;
	return NULL;
}

uint64_t
diskbuf_ctl_size(const struct diskbuf_ctl *c)
{
	return c->size;
}

/* Send request TYPE (no payload) for EPOCH.  ENOTCONN once detached. */
static int
ask(struct diskbuf_ctl *c, uint16_t type, const char *what, uint64_t epoch)
{
	if (c->fd == -1) {
		errno = ENOTCONN;
		return -1;
	}
	if (send_msg(c->fd, type, epoch, NULL, 0, NULL, 0) == -1) {
		log_warn("disk server %s: %s%s", c->path, what,
		    epoch_str(epoch));
		return -1;
	}
	return 0;
}

/* One round trip: request TYPE, then an OK carrying exactly LEN bytes,
 * copied to OUT. */
static int
call(struct diskbuf_ctl *c, uint16_t type, const char *what, uint64_t epoch,
    void *out, size_t len)
{
	struct ctl_msg m;

	if (ask(c, type, what, epoch) == -1 ||
	    await_ok(c, what, epoch, &m) == -1)
		return -1;
	if (m.type != CTL_OK || m.len != len) {
		log_warnx("disk server %s: %s: unexpected reply %u (%u bytes)",
		    c->path, what, m.type, m.len);
		errno = EPROTO;
		return -1;
	}
	if (len > 0)
		memcpy(out, c->buf, len);
	return 0;
}

int
diskbuf_ctl_epoch_close(struct diskbuf_ctl *c, uint64_t epoch,
    uint8_t digest[16])
{
	if (digest == NULL)
		return call(c, CTL_CLOSE, "close", epoch, NULL, 0);
	return call(c, CTL_CLOSE_DIGEST, "close", epoch, digest, 16);
}

int
diskbuf_ctl_commit(struct diskbuf_ctl *c, uint64_t epoch)
{
	return call(c, CTL_COMMIT, "commit", epoch, NULL, 0);
}

int
diskbuf_ctl_save(struct diskbuf_ctl *c, uint64_t epoch, diskbuf_emit_fn emit,
    void *arg)
{
	struct stream_disk_write h;
	struct ctl_msg m;
	size_t dlen;

	if (ask(c, CTL_SAVE, "save", epoch) == -1)
		return -1;
	for (;;) {
		if (await_ok(c, "save", epoch, &m) == -1)
			return -1;
		if (m.type == CTL_OK)
			return 0;
		/* RECORD: a header and exactly the data its op carries. */
		if (m.len < sizeof h)
			goto bad;
		memcpy(&h, c->buf, sizeof h);
		dlen = h.op == STREAM_DISK_WRITE ? h.length : 0;
		if (h.op >= STREAM_DISK_OP_MAX || h.length == 0 ||
		    h.length > DISKBUF_NBD_MAX_LEN || m.len != sizeof h + dlen ||
		    h.offset + h.length < h.offset ||
		    h.offset + h.length > c->size)
			goto bad;
		if (emit(arg, &h, dlen ? c->buf + sizeof h : NULL) == -1)
			return -1;
	}
bad:
	log_warnx("disk server %s: epoch %" PRIu64 ": malformed disk record "
	    "(%u bytes)", c->path, epoch, m.len);
	errno = EPROTO;
	return -1;
}

int
diskbuf_ctl_digest(struct diskbuf_ctl *c, uint8_t out[16])
{
	return call(c, CTL_DIGEST, "digest", 0, out, 16);
}

void
diskbuf_ctl_detach(struct diskbuf_ctl *c)
{
	if (c != NULL && c->fd != -1) {
		close(c->fd);
		c->fd = -1;
		log_info("disk server %s: detached, the disk is served on "
		    "unprotected", c->path);
	}
}

void
diskbuf_ctl_free(struct diskbuf_ctl *c)
{
	if (c == NULL)
		return;
	/* Closing is the end of protection: the server unprotects. */
	if (c->fd != -1)
		close(c->fd);
	free(c->path);
	free(c->image);
	free(c->buf);
	free(c);
}
