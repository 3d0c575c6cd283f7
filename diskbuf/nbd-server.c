/* diskbuf/nbd-server.c -- a small NBD server (fixed newstyle handshake,
 * simple replies) for the guest's disk.
 *
 * One thread accepts; each client gets a thread that reads a request,
 * executes it through struct nbd_backend and replies, with blocking I/O.
 * Requests of one client are handled in order; clients run in parallel
 * (the backend serialises writes, see diskbuf-primary.c).  A client that
 * breaks the protocol is disconnected with one log line; the others keep
 * being served.
 *
 * Threads and locks: srv->lock protects the client list only and is never
 * held while calling the backend, so it never nests with the primary's
 * write lock.  A client thread never closes its own fd: the accept thread
 * (or nbd_server_free) joins finished threads and closes their fds, so a
 * shutdown() from free() can never hit a recycled descriptor.
 */
#define LOG_PREFIX "nbd: "

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "diskbuf.h"
#include "diskbuf-int.h"
#include "log.h"
#include "util.h"

#define NBD_MAX_CLIENTS		64
#define NBD_EXPORTS_MAX		16	/* a guest's disks (DISKMAP_MAX) */
#define NBD_HANDSHAKE_TIMEOUT_S	30	/* a silent half-open client goes */

struct nbd_client {
	struct nbd_server *srv;
	int		fd;
	unsigned	id;
	char		peer[128];
	pthread_t	thr;
	int		done;		/* thread finished: join, close fd */
	int		no_zeroes;
	int		no_handshake;	/* the kernel's nbd: options done */
	struct diskbuf_primary *p;	/* the export it chose */
	uint8_t		*buf;		/* request payload, grown as needed */
	size_t		buf_len;
	struct nbd_client *next;
};

/* One server may serve several disks, each an export of its own name
 * (remus --disk NAME=IMAGE ...: one --nbd-listen for all of a guest's
 * disks).  Fixed before the server listens; read-only afterwards. */
struct nbd_export {
	char		*name;
	struct diskbuf_primary *p;
};

struct nbd_server {
	const struct nbd_backend *be;
	struct nbd_export exp[NBD_EXPORTS_MAX];
	size_t		nexp;
	int		lfd;		/* listening socket, or -1 */
	char		*unix_path;	/* unlinked on free, if still ours */
	dev_t		unix_dev;
	ino_t		unix_ino;
	int		stop_efd;	/* wakes the accept thread */
	pthread_t	accept_thr;
	int		accepting;
	pthread_mutex_t	lock;		/* protects clients, next_id, nr */
	struct nbd_client *clients;
	unsigned	next_id;
	unsigned	nr;
};

static const char *
cmd_name(unsigned type)
{
	switch (type) {
	case NBD_CMD_READ:
		return "READ";
	case NBD_CMD_WRITE:
		return "WRITE";
	case NBD_CMD_DISC:
		return "DISC";
	case NBD_CMD_FLUSH:
		return "FLUSH";
	case NBD_CMD_TRIM:
		return "TRIM";
	case NBD_CMD_CACHE:
		return "CACHE";
	case NBD_CMD_WRITE_ZEROES:
		return "WRITE_ZEROES";
	default:
		return "unknown";
	}
}

/* send() with MSG_NOSIGNAL: a client that went away must not SIGPIPE us. */
static int
send_full(int fd, const void *buf, size_t len, int more)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
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

static int
recv_full(struct nbd_client *c, void *buf, size_t len)
{
	return read_full(c->fd, buf, len, NULL);
}

static int
discard_bytes(struct nbd_client *c, size_t len)
{
	uint8_t tmp[4096];
	size_t n;

	while (len > 0) {
		n = len < sizeof tmp ? len : sizeof tmp;
		if (recv_full(c, tmp, n) == -1)
			return -1;
		len -= n;
	}
	return 0;
}

static int
ensure_buf(struct nbd_client *c, size_t len)
{
	uint8_t *p;

	if (c->buf_len >= len)
		return 0;
	p = realloc(c->buf, len);
	if (p == NULL)
		return -1;
	c->buf = p;
	c->buf_len = len;
	return 0;
}

/* ---- Handshake ---------------------------------------------------- */

static int
opt_reply(struct nbd_client *c, uint32_t opt, uint32_t type,
    const void *data, uint32_t len)
{
	struct nbd_opt_reply r = {
		.magic = htobe64(NBD_REP_MAGIC),
		.option = htobe32(opt),
		.type = htobe32(type),
		.length = htobe32(len),
	};

	if (send_full(c->fd, &r, sizeof r, len > 0) == -1)
		return -1;
	if (len > 0 && send_full(c->fd, data, len, 0) == -1)
		return -1;
	return 0;
}

/* The export NAME (LEN bytes, no NUL) asks for, or NULL.  The empty
 * name is the default export, which exists only when there is one. */
static struct diskbuf_primary *
export_find(struct nbd_client *c, const char *name, size_t len)
{
	struct nbd_server *srv = c->srv;
	size_t i;

	if (len == 0)
		return srv->nexp == 1 ? srv->exp[0].p : NULL;
	for (i = 0; i < srv->nexp; i++)
		if (strlen(srv->exp[i].name) == len &&
		    memcmp(srv->exp[i].name, name, len) == 0)
			return srv->exp[i].p;
	return NULL;
}

uint16_t
nbd_transmission_flags(void)
{
	/* MULTI_CONN: every connection shares one fd and a FLUSH is an
	 * fdatasync of that fd, so a flush covers writes from all clients. */
	return NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
	    NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
	    NBD_FLAG_CAN_MULTI_CONN;
}

static int
send_info_export(struct nbd_client *c, uint32_t opt, struct diskbuf_primary *p)
{
	uint8_t b[12];
	uint16_t t = htobe16(NBD_INFO_EXPORT), fl = htobe16(nbd_transmission_flags());
	uint64_t sz = htobe64(c->srv->be->size(p));

	memcpy(b, &t, 2);
	memcpy(b + 2, &sz, 8);
	memcpy(b + 10, &fl, 2);
	return opt_reply(c, opt, NBD_REP_INFO, b, sizeof b);
}

static int
send_info_block_size(struct nbd_client *c, uint32_t opt)
{
	uint8_t b[14];
	uint16_t t = htobe16(NBD_INFO_BLOCK_SIZE);
	uint32_t mn = htobe32(1), pref = htobe32(4096),
	    mx = htobe32(DISKBUF_NBD_MAX_LEN);

	memcpy(b, &t, 2);
	memcpy(b + 2, &mn, 4);
	memcpy(b + 6, &pref, 4);
	memcpy(b + 10, &mx, 4);
	return opt_reply(c, opt, NBD_REP_INFO, b, sizeof b);
}

/* NBD_OPT_INFO / NBD_OPT_GO.  Returns 1 to enter transmission, 0 to go on
 * negotiating, -1 to drop the client. */
static int
opt_info_go(struct nbd_client *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
	struct diskbuf_primary *p;
	uint32_t namelen;
	uint16_t nreq, i, t;
	int want_bs = 0;

	if (len < 6)
		goto invalid;
	memcpy(&namelen, d, 4);
	namelen = be32toh(namelen);
	if (namelen > len - 6)
		goto invalid;
	memcpy(&nreq, d + 4 + namelen, 2);
	nreq = be16toh(nreq);
	if ((uint64_t)len != 6ull + namelen + 2ull * nreq)
		goto invalid;
	for (i = 0; i < nreq; i++) {
		memcpy(&t, d + 6 + namelen + 2 * i, 2);
		if (be16toh(t) == NBD_INFO_BLOCK_SIZE)
			want_bs = 1;
	}
	p = export_find(c, (const char *)d + 4, namelen);
	if (p == NULL) {
		log_warnx("client %u (%s): unknown export \"%.*s\"%s", c->id,
		    c->peer, (int)(namelen > 64 ? 64 : namelen),
		    (const char *)d + 4, namelen == 0 ? " (several disks: "
		    "name one)" : "");
		return opt_reply(c, opt, NBD_REP_ERR_UNKNOWN, NULL, 0);
	}
	if (send_info_export(c, opt, p) == -1)
		return -1;
	if (want_bs && send_info_block_size(c, opt) == -1)
		return -1;
	if (opt_reply(c, opt, NBD_REP_ACK, NULL, 0) == -1)
		return -1;
	if (opt != NBD_OPT_GO)
		return 0;
	c->p = p;
	return 1;
invalid:
	log_warnx("client %u (%s): malformed NBD_OPT_%s (length %u)", c->id,
	    c->peer, opt == NBD_OPT_GO ? "GO" : "INFO", len);
	return opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
}

/* 0: go to transmission; -1: drop the client (already logged). */
static int
handshake(struct nbd_client *c)
{
	struct {
		uint64_t magic, opt;
		uint16_t flags;
	} __attribute__((packed)) hello = {
		htobe64(NBD_MAGIC), htobe64(NBD_IHAVEOPT),
		htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES),
	};
	struct nbd_opt_hdr oh;
	uint32_t cflags, opt, len;
	uint8_t data[NBD_OPT_MAX_LEN];
	int r;

	if (send_full(c->fd, &hello, sizeof hello, 0) == -1)
		goto io;
	if (recv_full(c, &cflags, 4) == -1)
		goto io;
	cflags = be32toh(cflags);
	if (cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
		log_warnx("client %u (%s): unknown client flags 0x%x, "
		    "disconnecting", c->id, c->peer, cflags);
		return -1;
	}
	c->no_zeroes = !!(cflags & NBD_FLAG_C_NO_ZEROES);
	for (;;) {
		if (recv_full(c, &oh, sizeof oh) == -1)
			goto io;
		opt = be32toh(oh.option);
		len = be32toh(oh.length);
		if (be64toh(oh.magic) != NBD_IHAVEOPT) {
			log_warnx("client %u (%s): bad option magic 0x%016"
			    PRIx64 ", disconnecting", c->id, c->peer,
			    be64toh(oh.magic));
			return -1;
		}
		if (len > sizeof data) {
			/* Skip a modest oversize option politely; a huge
			 * one is an attack on our time. */
			log_warnx("client %u (%s): option %u length %u over "
			    "%u", c->id, c->peer, opt, len, NBD_OPT_MAX_LEN);
			if (len > 16 * NBD_OPT_MAX_LEN ||
			    discard_bytes(c, len) == -1)
				return -1;
			if (opt_reply(c, opt, NBD_REP_ERR_TOO_BIG, NULL, 0) == -1)
				goto io;
			continue;
		}
		if (len > 0 && recv_full(c, data, len) == -1)
			goto io;
		switch (opt) {
		case NBD_OPT_EXPORT_NAME: {
			struct {
				uint64_t size;
				uint16_t flags;
			} __attribute__((packed)) ex;
			static const uint8_t zeroes[124];
			struct diskbuf_primary *p = export_find(c,
			    (const char *)data, len);

			if (p == NULL) {
				/* The protocol has no error reply here. */
				log_warnx("client %u (%s): unknown export "
				    "\"%.*s\", disconnecting", c->id, c->peer,
				    (int)(len > 64 ? 64 : len), data);
				return -1;
			}
			c->p = p;
			ex.size = htobe64(c->srv->be->size(p));
			ex.flags = htobe16(nbd_transmission_flags());
			if (send_full(c->fd, &ex, sizeof ex, !c->no_zeroes) == -1)
				goto io;
			if (!c->no_zeroes &&
			    send_full(c->fd, zeroes, sizeof zeroes, 0) == -1)
				goto io;
			return 0;
		}
		case NBD_OPT_ABORT:
			opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
			log_debug("client %u (%s): aborted negotiation", c->id,
			    c->peer);
			return -1;
		case NBD_OPT_LIST: {
			uint8_t b[4 + 256];
			size_t i, n;
			uint32_t be;

			if (len != 0) {
				r = opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
				break;
			}
			for (i = 0, r = 0; r == 0 && i < c->srv->nexp; i++) {
				n = strlen(c->srv->exp[i].name);
				be = htobe32((uint32_t)n);
				memcpy(b, &be, 4);
				memcpy(b + 4, c->srv->exp[i].name, n);
				r = opt_reply(c, opt, NBD_REP_SERVER, b,
				    4 + (uint32_t)n);
			}
			if (r == 0)
				r = opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
			break;
		}
		case NBD_OPT_INFO:
		case NBD_OPT_GO:
			r = opt_info_go(c, opt, data, len);
			if (r == 1)
				return 0;
			break;
		default:
			/* STARTTLS, STRUCTURED_REPLY, meta contexts, ...: we
			 * speak simple replies without TLS (the guest's disk
			 * is served on the host). */
			r = opt_reply(c, opt, NBD_REP_ERR_UNSUP, NULL, 0);
			break;
		}
		if (r == -1)
			goto io;
	}
io:
	log_debug("client %u (%s): gone during handshake: %s", c->id,
	    c->peer, strerror(errno));
	return -1;
}

/* ---- Transmission ------------------------------------------------- */

static int
reply(struct nbd_client *c, uint64_t handle, uint32_t error,
    const void *data, size_t len)
{
	struct nbd_simple_reply r = {
		.magic = htobe32(NBD_SIMPLE_REPLY_MAGIC),
		.error = htobe32(error),
		.handle = handle,	/* opaque: echo the bytes as sent */
	};

	if (error)
		len = 0;
	if (send_full(c->fd, &r, sizeof r, len > 0) == -1)
		return -1;
	if (len > 0 && send_full(c->fd, data, len, 0) == -1)
		return -1;
	return 0;
}

static void
bad(struct nbd_client *c)
{
	if (c->srv->be->bad_request)
		c->srv->be->bad_request(c->p);
}

/* Serve requests until the client leaves or breaks the protocol. */
static void
transmission(struct nbd_client *c)
{
	const struct nbd_backend *be = c->srv->be;
	struct diskbuf_primary *p = c->p;
	struct nbd_request rq;
	uint64_t size = be->size(p), off;
	uint32_t len, err, allowed;
	uint16_t type, flags;

	for (;;) {
		if (recv_full(c, &rq, sizeof rq) == -1) {
			if (errno == EPIPE)
				log_info("client %u (%s): disconnected "
				    "without NBD_CMD_DISC", c->id, c->peer);
			else
				log_warn("client %u (%s): read", c->id, c->peer);
			return;
		}
		if (be32toh(rq.magic) != NBD_REQUEST_MAGIC) {
			/* Without the magic we cannot find the next request:
			 * the only safe thing is to drop the connection. */
			log_warnx("client %u (%s): bad request magic 0x%08x, "
			    "disconnecting", c->id, c->peer, be32toh(rq.magic));
			bad(c);
			return;
		}
		type = be16toh(rq.type);
		flags = be16toh(rq.flags);
		off = be64toh(rq.offset);
		len = be32toh(rq.length);
		err = 0;

		if (type == NBD_CMD_DISC) {
			log_debug("client %u (%s): NBD_CMD_DISC", c->id, c->peer);
			return;
		}
		if (type == NBD_CMD_WRITE) {
			if (len > DISKBUF_NBD_MAX_LEN) {
				/* Its payload follows and we will not read
				 * it: the stream cannot be resynchronised. */
				log_warnx("client %u (%s): bad request: WRITE "
				    "length %u over the maximum %u, "
				    "disconnecting", c->id, c->peer, len,
				    DISKBUF_NBD_MAX_LEN);
				bad(c);
				return;
			}
			if (ensure_buf(c, len ? len : 1) == -1 ||
			    recv_full(c, c->buf, len) == -1) {
				log_warn("client %u (%s): WRITE payload",
				    c->id, c->peer);
				return;
			}
		}
		switch (type) {
		case NBD_CMD_READ:
		case NBD_CMD_WRITE:
			allowed = NBD_CMD_FLAG_FUA;
			break;
		case NBD_CMD_WRITE_ZEROES:
			allowed = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE;
			break;
		case NBD_CMD_TRIM:
			allowed = NBD_CMD_FLAG_FUA;
			break;
		case NBD_CMD_FLUSH:
			allowed = 0;
			break;
		default:
			log_warnx("client %u (%s): bad request: unknown "
			    "command %u", c->id, c->peer, type);
			bad(c);
			err = NBD_EINVAL;
			goto send;
		}
		if (flags & ~allowed) {
			log_warnx("client %u (%s): bad request: %s with "
			    "unknown flags 0x%x", c->id, c->peer,
			    cmd_name(type), flags);
			bad(c);
			err = NBD_EINVAL;
			goto send;
		}
		if (type != NBD_CMD_FLUSH &&
		    (off > size || len > size - off)) {
			log_warnx("client %u (%s): bad request: %s offset %"
			    PRIu64 " length %u beyond the end of the %" PRIu64
			    "-byte export", c->id, c->peer, cmd_name(type),
			    off, len, size);
			bad(c);
			/* As the NBD spec asks: ENOSPC for writes. */
			err = type == NBD_CMD_WRITE ||
			    type == NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC :
			    NBD_EINVAL;
			goto send;
		}
		switch (type) {
		case NBD_CMD_READ:
			if (len > DISKBUF_NBD_MAX_LEN) {
				log_warnx("client %u (%s): bad request: READ "
				    "length %u over the maximum %u", c->id,
				    c->peer, len, DISKBUF_NBD_MAX_LEN);
				bad(c);
				err = NBD_EINVAL;
				break;
			}
			if (ensure_buf(c, len ? len : 1) == -1) {
				err = NBD_ENOMEM;
				break;
			}
			err = be->pread(p, c->buf, len, off);
			if (reply(c, rq.handle, err, c->buf, len) == -1)
				goto gone;
			continue;
		case NBD_CMD_WRITE:
			err = be->pwrite(p, c->buf, len, off,
			    flags & NBD_CMD_FLAG_FUA);
			break;
		case NBD_CMD_WRITE_ZEROES:
			err = be->zero(p, len, off,
			    !(flags & NBD_CMD_FLAG_NO_HOLE),
			    flags & NBD_CMD_FLAG_FUA);
			break;
		case NBD_CMD_TRIM:
			err = be->trim(p, len, off, flags & NBD_CMD_FLAG_FUA);
			break;
		case NBD_CMD_FLUSH:
			err = be->flush(p);
			break;
		}
send:
		if (reply(c, rq.handle, err, NULL, 0) == -1)
			goto gone;
	}
gone:
	log_warn("client %u (%s): reply", c->id, c->peer);
}

static void *
client_main(void *arg)
{
	struct nbd_client *c = arg;
	struct nbd_server *srv = c->srv;
	struct timeval tv = { NBD_HANDSHAKE_TIMEOUT_S, 0 }, none = { 0, 0 };

	if (!c->no_handshake)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (c->no_handshake || handshake(c) == 0) {
		/* A guest may stay idle for hours: no timeout from here. */
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
		log_info("client %u (%s): connected", c->id, c->peer);
		if (srv->be->client)
			srv->be->client(c->p, 1);
		transmission(c);
		if (srv->be->client)
			srv->be->client(c->p, 0);
	}
	shutdown(c->fd, SHUT_RDWR);
	free(c->buf);
	c->buf = NULL;
	pthread_mutex_lock(&srv->lock);
	c->done = 1;
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Join finished client threads and close their fds.  ALL: every client,
 * after shutting its socket down. */
static void
reap_clients(struct nbd_server *srv, int all)
{
	struct nbd_client **pp, *c, *dead = NULL;

	pthread_mutex_lock(&srv->lock);
	for (pp = &srv->clients; (c = *pp) != NULL;) {
		if (all && !c->done)
			shutdown(c->fd, SHUT_RDWR);
		if (all || c->done) {
			*pp = c->next;
			c->next = dead;
			dead = c;
			srv->nr--;
		} else
			pp = &c->next;
	}
	pthread_mutex_unlock(&srv->lock);
	while ((c = dead) != NULL) {
		dead = c->next;
		pthread_join(c->thr, NULL);
		close(c->fd);
		free(c);
	}
}

static void
describe_peer(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[64], serv[16];

	snprintf(out, len, "fd %d", fd);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	if (ss.ss_family == AF_UNIX) {
		snprintf(out, len, "unix");
		return;
	}
	if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv,
	    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(out, len, "%s:%s", host, serv);
}

static int
serve_fd(struct nbd_server *srv, int fd, int no_handshake)
{
	struct nbd_client *c;
	int one = 1, rc;

	reap_clients(srv, 0);
	pthread_mutex_lock(&srv->lock);
	if (srv->nr >= NBD_MAX_CLIENTS) {
		pthread_mutex_unlock(&srv->lock);
		log_warnx("too many clients (%d), refusing one", NBD_MAX_CLIENTS);
		close(fd);
		errno = EMFILE;
		return -1;
	}
	pthread_mutex_unlock(&srv->lock);
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		close(fd);
		return -1;
	}
	c->srv = srv;
	c->fd = fd;
	c->no_handshake = no_handshake;
	/* The kernel's nbd skips the options: the first export, which
	 * remus-diskd's one disk is. */
	c->p = srv->exp[0].p;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	describe_peer(fd, c->peer, sizeof c->peer);
	pthread_mutex_lock(&srv->lock);
	c->id = ++srv->next_id;
	rc = pthread_create(&c->thr, NULL, client_main, c);
	if (rc == 0) {
		c->next = srv->clients;
		srv->clients = c;
		srv->nr++;
	}
	pthread_mutex_unlock(&srv->lock);
	if (rc != 0) {
		errno = rc;
		log_warn("client thread");
		close(fd);
		free(c);
		return -1;
	}
	return 0;
}

int
nbd_server_serve_fd(struct nbd_server *srv, int fd)
{
	return serve_fd(srv, fd, 0);
}

int
nbd_server_serve_kernel(struct nbd_server *srv, int fd)
{
	return serve_fd(srv, fd, 1);
}

static void *
accept_main(void *arg)
{
	struct nbd_server *srv = arg;
	struct pollfd pfd[2] = {
		{ .fd = srv->lfd, .events = POLLIN },
		{ .fd = srv->stop_efd, .events = POLLIN },
	};
	int fd;

	for (;;) {
		/* The timeout only bounds how long finished clients wait
		 * to be reaped. */
		if (poll(pfd, 2, 1000) == -1 && errno != EINTR) {
			log_warn("poll");
			break;
		}
		if (pfd[1].revents)
			break;
		reap_clients(srv, 0);
		if (!(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EINTR && errno != EAGAIN &&
			    errno != ECONNABORTED)
				log_warn("accept");
			if (errno == EMFILE || errno == ENFILE)
				usleep(100000);
			continue;
		}
		nbd_server_serve_fd(srv, fd);
	}
	return NULL;
}

static int
listen_unix(struct nbd_server *srv, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		log_warn("unix socket %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		goto err;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fd, 16) == -1)
		goto err;
	srv->unix_path = strdup(path);
	/* Remember which file is ours: a successor may bind the same path
	 * before we exit, and we must not unlink its socket. */
	if (stat(path, &st) == 0) {
		srv->unix_dev = st.st_dev;
		srv->unix_ino = st.st_ino;
	}
	return fd;
err:
	log_warn("listen on unix:%s", path);
	if (fd != -1)
		close(fd);
	return -1;
}

struct nbd_server *
nbd_server_new(const struct nbd_backend *be, struct diskbuf_primary *p,
    const char *export_name)
{
	struct nbd_server *srv = calloc(1, sizeof *srv);

	if (srv == NULL)
		return NULL;
	srv->be = be;
	srv->lfd = -1;
	srv->stop_efd = -1;
	pthread_mutex_init(&srv->lock, NULL);
	if (nbd_server_add_export(srv, p, export_name) == -1) {
		pthread_mutex_destroy(&srv->lock);
		free(srv);
		return NULL;
	}
	return srv;
}

int
nbd_server_add_export(struct nbd_server *srv, struct diskbuf_primary *p,
    const char *name)
{
	size_t i;

	if (srv->accepting || srv->nexp == NBD_EXPORTS_MAX) {
		errno = srv->accepting ? EBUSY : ENOSPC;
		return -1;
	}
	if (strlen(name) > 256) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (i = 0; i < srv->nexp; i++)
		if (strcmp(srv->exp[i].name, name) == 0) {
			errno = EEXIST;
			return -1;
		}
	if ((srv->exp[srv->nexp].name = strdup(name)) == NULL)
		return -1;
	srv->exp[srv->nexp++].p = p;
	return 0;
}

int
nbd_server_listen(struct nbd_server *srv, const char *addr)
{
	int rc;

	if (srv->lfd != -1) {
		errno = EBUSY;
		return -1;
	}
	if (strncmp(addr, "unix:", 5) == 0)
		srv->lfd = listen_unix(srv, addr + 5);
	else
		srv->lfd = diskbuf_listen_tcp(addr);
	if (srv->lfd == -1)
		return -1;
	/* poll() then accept(): a connection reset in between must not
	 * block the accept thread. */
	if (fd_set_nonblock(srv->lfd, 1) == -1) {
		log_warn("listen socket");
		return -1;
	}
	srv->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->stop_efd == -1) {
		log_warn("eventfd");
		return -1;
	}
	rc = pthread_create(&srv->accept_thr, NULL, accept_main, srv);
	if (rc != 0) {
		errno = rc;
		log_warn("accept thread");
		return -1;
	}
	srv->accepting = 1;
	for (size_t i = 0; i < srv->nexp; i++)
		log_info("serving NBD export \"%s\" on %s", srv->exp[i].name,
		    addr);
	return 0;
}

void
nbd_server_free(struct nbd_server *srv)
{
	uint64_t one = 1;

	if (srv == NULL)
		return;
	if (srv->accepting) {
		if (write(srv->stop_efd, &one, sizeof one) == -1)
			log_warn("stop accept thread");
		pthread_join(srv->accept_thr, NULL);
	}
	reap_clients(srv, 1);
	if (srv->lfd != -1)
		close(srv->lfd);
	if (srv->stop_efd != -1)
		close(srv->stop_efd);
	if (srv->unix_path) {
		struct stat st;

		if (stat(srv->unix_path, &st) == 0 &&
		    st.st_dev == srv->unix_dev && st.st_ino == srv->unix_ino)
			unlink(srv->unix_path);
		free(srv->unix_path);
	}
	pthread_mutex_destroy(&srv->lock);
	for (size_t i = 0; i < srv->nexp; i++)
		free(srv->exp[i].name);
	free(srv);
}
