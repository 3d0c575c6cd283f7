/* diskbuf/net.c -- TCP addresses "HOST:PORT", "[V6]:PORT", ":PORT". */
#define LOG_PREFIX "diskbuf: "

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "diskbuf-int.h"
#include "log.h"
#include "util.h"

static int
split_addr(const char *addr, char *host, size_t hlen, const char **port)
{
	const char *colon = strrchr(addr, ':');
	size_t hl;

	if (colon == NULL || colon[1] == '\0' ||
	    (hl = (size_t)(colon - addr)) >= hlen) {
		log_warnx("bad address \"%s\": expected HOST:PORT or :PORT",
		    addr);
		errno = EINVAL;
		return -1;
	}
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	*port = colon + 1;
	return 0;
}

static int
resolve(const char *addr, int passive, struct addrinfo **res)
{
	char host[256];
	const char *port;
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	int rc;

	if (split_addr(addr, host, sizeof host, &port) == -1)
		return -1;
	rc = getaddrinfo(*host ? host : NULL, port, &hints, res);
	if (rc != 0) {
		log_warnx("address \"%s\": %s", addr, gai_strerror(rc));
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
diskbuf_listen_tcp(const char *addr)
{
	struct addrinfo *res, *ai;
	int fd = -1, one = 1;

	if (resolve(addr, 1, &res) == -1)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 16) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		log_warn("listen on %s", addr);
	freeaddrinfo(res);
	return fd;
}

int
diskbuf_connect_tcp(const char *addr, int wait_s)
{
	return diskbuf_connect_tcp_until(addr, wait_s, NULL);
}

int
diskbuf_connect_tcp_until(const char *addr, int wait_s, atomic_int *stop)
{
	/* A connect to a host that drops SYNs would block for minutes
	 * before the next look at STOP: Linux bounds connect() by the send
	 * timeout, lifted again once connected. */
	struct timeval step = { 1, 0 }, none = { 0, 0 };
	struct addrinfo *res, *ai;
	uint64_t deadline = now_us() + (uint64_t)wait_s * 1000000;
	int fd = -1, one = 1;

	if (resolve(addr, 0, &res) == -1)
		return -1;
	for (;;) {
		for (ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype |
			    SOCK_CLOEXEC, ai->ai_protocol);
			if (fd == -1)
				continue;
			if (stop != NULL)
				setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &step,
				    sizeof step);
			if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
				if (stop != NULL)
					setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO,
					    &none, sizeof none);
				goto done;
			}
			close(fd);
			fd = -1;
		}
		if (now_us() >= deadline || (stop && atomic_load(stop))) {
			if (stop && atomic_load(stop))
				errno = ECANCELED;
			break;
		}
		usleep(100000);
	}
	log_warn("connect to %s", addr);
done:
	if (fd != -1)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	freeaddrinfo(res);
	return fd;
}
