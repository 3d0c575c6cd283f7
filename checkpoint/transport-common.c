/* checkpoint/transport-common.c -- transport open/close, address parsing,
 * and the blackhole (-b). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "transport: "
#include "log.h"
#include "transport.h"

int
transport_open(struct transport *t, const struct transport_ops *ops,
    const char *arg, const char *cmd, unsigned timeout_ms)
{
	memset(t, 0, sizeof *t);
	t->rfd = t->wfd = -1;
	t->pid = -1;
	t->ops = ops;
	return ops->open(t, arg, cmd, timeout_ms);
}

void
transport_from_fds(struct transport *t, int rfd, int wfd, const char *desc)
{
	memset(t, 0, sizeof *t);
	t->rfd = rfd;
	t->wfd = wfd;
	t->pid = -1;
	snprintf(t->desc, sizeof t->desc, "%s", desc ? desc : "fd");
}

void
transport_close(struct transport *t)
{
	if (t == NULL)
		return;
	if (t->ops && t->ops->close) {
		t->ops->close(t);
	} else {
		if (t->rfd >= 0 && t->rfd != t->wfd)
			close(t->rfd);
		if (t->wfd >= 0)
			close(t->wfd);
	}
	t->rfd = t->wfd = -1;
}

int
transport_parse_addr(const char *spec, char *host, size_t hostlen,
    char *port, size_t portlen)
{
	const char *p, *colon;
	unsigned long pn;
	size_t hl;

	if (spec == NULL || *spec == '\0')
		goto inval;
	snprintf(port, portlen, "%s", TRANSPORT_DEFAULT_PORT_STR);
	if (spec[0] == '[') {
		/* [v6addr] or [v6addr]:port */
		p = strchr(spec, ']');
		if (p == NULL)
			goto inval;
		hl = (size_t)(p - spec - 1);
		if (p[1] == ':') {
			if (p[2] == '\0')
				goto inval;
			snprintf(port, portlen, "%s", p + 2);
		} else if (p[1] != '\0')
			goto inval;
		spec++;
	} else {
		colon = strchr(spec, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;		/* a bare IPv6 address */
		hl = colon ? (size_t)(colon - spec) : strlen(spec);
		if (colon) {
			if (colon[1] == '\0')
				goto inval;
			snprintf(port, portlen, "%s", colon + 1);
		}
	}
	if (hl >= hostlen)
		goto inval;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	/* getaddrinfo() takes "70000" and connects to or binds 4464 (the
	 * port modulo 65536): check the range here, where every address is
	 * parsed. */
	for (p = port; *p; p++)
		if (*p < '0' || *p > '9')
			goto inval;
	pn = strtoul(port, NULL, 10);
	if (port[0] == '\0' || strlen(port) > 5 || pn < 1 || pn > 65535)
		goto inval;
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

/* ---- Blackhole: xl remus -b ---------------------------------------- */

static int
blackhole_open(struct transport *t, const char *arg, const char *cmd,
    unsigned timeout_ms)
{
	/* A character device cannot be polled with epoll: the engine writes
	 * to it synchronously (t->blackhole). */
	t->wfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (t->wfd == -1) {
		log_warn("open /dev/null");
		return -1;
	}
	t->rfd = -1;
	t->blackhole = 1;
	snprintf(t->desc, sizeof t->desc, "blackhole");
	return 0;
}

static void
blackhole_close(struct transport *t)
{
	if (t->wfd >= 0)
		close(t->wfd);
	t->wfd = -1;
}

const struct transport_ops transport_blackhole_ops = {
	.name = "blackhole",
	.open = blackhole_open,
	.close = blackhole_close,
};
