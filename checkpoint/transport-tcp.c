/* checkpoint/transport-tcp.c -- own TCP transport (IPv4 and IPv6). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_PREFIX "transport: "
#include "log.h"
#include "transport.h"
#include "util.h"

/* An epoch of 20,000 dirty pages is ~80 MiB raw; big buffers let the
 * kernel carry a good part of it while the loop does other work. */
#define TCP_BUF_BYTES	(4 << 20)

int
transport_tcp_tune(int fd)
{
	int one = 1, sz = TCP_BUF_BYTES;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == -1)
		log_debug("TCP_NODELAY: %s", strerror(errno));
	/* A short cut of the link (well under T) must not look like T of
	 * silence: with exponential backoff a few lost retransmits push the
	 * next one past the heal (rto 816 ms, backoff 2 after a 0.5 s cut
	 * was seen).  Heartbeats and ACKs are thin streams, for which Linux
	 * can keep the retransmit timeout linear instead. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, &one,
	    sizeof one) == -1)
		log_debug("TCP_THIN_LINEAR_TIMEOUTS: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == -1)
		log_debug("SO_SNDBUF: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) == -1)
		log_debug("SO_RCVBUF: %s", strerror(errno));
	return fd_set_nonblock(fd, 1);
}

/* Nonblocking connect bounded by TIMEOUT_MS. */
static int
connect_one(const struct addrinfo *ai, unsigned timeout_ms)
{
	struct pollfd pfd;
	socklen_t len;
	int fd, err, n;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto err;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do {
		n = poll(&pfd, 1, (int)timeout_ms);
	} while (n == -1 && errno == EINTR);
	if (n == 0) {
		errno = ETIMEDOUT;
		goto err;
	}
	if (n == -1)
		goto err;
	len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		goto err;
	if (err != 0) {
		errno = err;
		goto err;
	}
	return fd;
err:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int
tcp_open(struct transport *t, const char *arg, const char *cmd,
    unsigned timeout_ms)
{
	char host[256], port[32];
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, rc, err = ECONNREFUSED;

	if (transport_parse_addr(arg, host, sizeof host, port,
	    sizeof port) == -1) {
		log_warnx("bad backup address \"%s\" (want host[:port])", arg);
		errno = EINVAL;
		return -1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		log_warnx("%s: %s", host, gai_strerror(rc));
		errno = EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
		err = errno;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		errno = err;
		log_warn("connect to %s port %s", host, port);
		return -1;
	}
	transport_tcp_tune(fd);
	t->rfd = t->wfd = fd;
	snprintf(t->desc, sizeof t->desc, "tcp:%.200s:%.16s", host, port);
	return 0;
}

static void
tcp_close(struct transport *t)
{
	if (t->wfd >= 0)
		close(t->wfd);
	t->rfd = t->wfd = -1;
}

const struct transport_ops transport_tcp_ops = {
	.name = "tcp",
	.open = tcp_open,
	.close = tcp_close,
};

int
transport_tcp_listen(const char *spec)
{
	char host[256], port[32];
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, one = 1, rc, err = EADDRNOTAVAIL;

	/* ":5270", "*:5270", "*": every address.  The same parser as for
	 * connecting, so the port is checked (1..65535) here too. */
	if (transport_parse_addr(spec, host, sizeof host, port,
	    sizeof port) == -1) {
		log_warnx("bad listen address \"%s\" (want ADDR[:PORT], "
		    "PORT 1..65535)", spec);
		errno = EINVAL;
		return -1;
	}
	if (strcmp(host, "*") == 0)
		host[0] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		log_warnx("listen %s: %s", spec, gai_strerror(rc));
		errno = EADDRNOTAVAIL;
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 16) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		errno = err;
		log_warn("listen on %s", spec);
	}
	return fd;
}
