/* checkpoint/uri.c -- the backup's address forms (see uri.h).
 *
 * Hosts and users are restricted to the characters a host name, an IP
 * address or a login can hold: an ssh:// URI becomes part of a /bin/sh
 * command line (transport-cmd.c), so nothing a shell would read as
 * syntax may pass.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "util.h"
#include "transport.h"
#include "uri.h"

const char *const uri_schemes[] = { "tcp", "tls", "ssh", NULL };

const char *
uri_scheme_name(enum uri_scheme s)
{
	switch (s) {
	case URI_BARE:	return "";
	case URI_TCP:	return "tcp";
	case URI_TLS:	return "tls";
	case URI_SSH:	return "ssh";
	}
	return "?";
}

static int
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* An IPv6 literal: hex digits, colons, an embedded IPv4's dots, and a
 * zone ("%eth0") of name characters. */
static int
check_v6(const char *h, size_t n)
{
	size_t i, colons = 0;
	int zone = 0;

	for (i = 0; i < n; i++) {
		char c = h[i];

		if (zone) {
			if (!is_name_char(c))
				return -1;
		} else if (c == '%') {
			zone = 1;
		} else if (c == ':') {
			colons++;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F') || c == '.')) {
			return -1;
		}
	}
	return colons >= 2 ? 0 : -1;
}

/* Host H (N bytes, brackets removed; V6: they were there) into U. */
static int
set_host(struct uri *u, const char *h, size_t n, int v6, int flags,
    char *err, size_t errlen)
{
	size_t i;

	if (n == 0 || (n == 1 && h[0] == '*')) {
		if (!(flags & URI_EMPTY_HOST))
			return util_refuse(err, errlen, EINVAL, "empty host");
	} else if (v6 && memchr(h, ':', n) != NULL) {
		if (check_v6(h, n) == -1)
			return util_refuse(err, errlen, EINVAL,
			    "\"%.*s\" is not an IPv6 "
			    "address", (int)(n > 64 ? 64 : n), h);
	} else {
		/* Brackets around a name or an IPv4 address are taken, as
		 * transport_parse_addr always did. */
		v6 = 0;
		for (i = 0; i < n; i++)
			if (!is_name_char(h[i]))
				return util_refuse(err, errlen, EINVAL,
				    "host \"%.*s\": "
				    "unexpected character '%c'", (int)(n > 64 ?
				    64 : n), h, h[i]);
	}
	if (n >= sizeof u->host)
		return util_refuse(err, errlen, EINVAL,
		    "host name longer than %zu bytes",
		    sizeof u->host - 1);
	memcpy(u->host, h, n);
	u->host[n] = '\0';
	u->ipv6 = v6;
	return 0;
}

/* Port P (N bytes): digits, 1..65535. */
static int
set_port(struct uri *u, const char *p, size_t n, char *err, size_t errlen)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0)
		return util_refuse(err, errlen, EINVAL, "empty port after ':'");
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9' || i >= 5)
			return util_refuse(err, errlen, EINVAL,
			    "port \"%.*s\": want a "
			    "number in 1..65535", (int)(n > 16 ? 16 : n), p);
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return util_refuse(err, errlen, EINVAL,
		    "port %lu: want a number in "
		    "1..65535", v);
	snprintf(u->port, sizeof u->port, "%lu", v);
	return 0;
}

/* "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address, in
 * S[0..N).  DEFPORT when none is given ("" for ssh). */
static int
parse_hostport(struct uri *u, const char *s, size_t n, int flags,
    const char *defport, char *err, size_t errlen)
{
	const char *colon, *end = s + n, *rb;

	snprintf(u->port, sizeof u->port, "%s", defport);
	if (n > 0 && s[0] == '[') {
		rb = memchr(s, ']', n);
		if (rb == NULL)
			return util_refuse(err, errlen, EINVAL,
			    "missing ']' after an IPv6 "
			    "address");
		if (set_host(u, s + 1, (size_t)(rb - s - 1), 1, flags, err,
		    errlen) == -1)
			return -1;
		if (rb + 1 == end)
			return 0;
		if (rb[1] != ':')
			return util_refuse(err, errlen, EINVAL,
			    "unexpected '%c' after ']'",
			    rb[1]);
		return set_port(u, rb + 2, (size_t)(end - rb - 2), err, errlen);
	}
	colon = memchr(s, ':', n);
	if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
		/* Two colons or more: a bare IPv6 address, no port. */
		return set_host(u, s, n, 1, flags, err, errlen);
	}
	if (colon == NULL)
		return set_host(u, s, n, 0, flags, err, errlen);
	if (set_host(u, s, (size_t)(colon - s), 0, flags, err, errlen) == -1)
		return -1;
	return set_port(u, colon + 1, (size_t)(end - colon - 1), err, errlen);
}

int
uri_parse(const char *s, int flags, struct uri *u, char *err, size_t errlen)
{
	const char *sep, *auth, *slash, *at;
	char scheme[16];
	size_t n, alen;

	memset(u, 0, sizeof *u);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (s == NULL || *s == '\0')
		return util_refuse(err, errlen, EINVAL, "empty address");
	sep = strstr(s, "://");
	if (sep == NULL) {
		u->scheme = URI_BARE;
		if (strchr(s, '/') != NULL)
			return util_refuse(err, errlen, EINVAL,
			    "unexpected '/' (want "
			    "host[:port], or a URI such as tcp://host:port/)");
		if (strchr(s, '@') != NULL)
			return util_refuse(err, errlen, EINVAL,
			    "a user (user@) only goes "
			    "with ssh://");
		return parse_hostport(u, s, strlen(s), flags, TRANSPORT_DEFAULT_PORT_STR, err,
		    errlen);
	}
	n = (size_t)(sep - s);
	if (n == 0 || n >= sizeof scheme)
		return util_refuse(err, errlen, EINVAL,
		    "unknown scheme \"%.*s\" (want "
		    "tcp://, tls://, ssh://, or host[:port])",
		    (int)(n > 15 ? 15 : n), s);
	memcpy(scheme, s, n);
	scheme[n] = '\0';
	if (strcmp(scheme, "tcp") == 0)
		u->scheme = URI_TCP;
	else if (strcmp(scheme, "tls") == 0)
		u->scheme = URI_TLS;
	else if (strcmp(scheme, "ssh") == 0)
		u->scheme = URI_SSH;
	else
		return util_refuse(err, errlen, EINVAL,
		    "unknown scheme \"%s\" (want "
		    "tcp://, tls://, ssh://, or host[:port])", scheme);

	auth = sep + 3;
	/* The authority ends at the path; a '/' inside brackets cannot
	 * occur (set_host refuses it), so the first one is the path's. */
	slash = strchr(auth, '/');
	alen = slash ? (size_t)(slash - auth) : strlen(auth);
	if (slash != NULL && slash[1] != '\0')
		return util_refuse(err, errlen, EINVAL,
		    "path \"%.32s\": want nothing or "
		    "\"/\" after the host", slash);
	if (memchr(auth, '?', alen) || memchr(auth, '#', alen))
		return util_refuse(err, errlen, EINVAL,
		    "queries and fragments (?, #) "
		    "mean nothing here");
	at = NULL;
	for (const char *p = auth; p < auth + alen; p++)
		if (*p == '@')
			at = p;
	if (at != NULL) {
		size_t ulen = (size_t)(at - auth);

		if (u->scheme != URI_SSH)
			return util_refuse(err, errlen, EINVAL,
			    "a user (user@) only goes "
			    "with ssh://");
		if (ulen == 0)
			return util_refuse(err, errlen, EINVAL,
			    "empty user name before "
			    "'@'");
		if (ulen >= sizeof u->user)
			return util_refuse(err, errlen, EINVAL,
			    "user name longer than %zu "
			    "bytes", sizeof u->user - 1);
		for (size_t i = 0; i < ulen; i++)
			if (!is_name_char(auth[i]))
				return util_refuse(err, errlen, EINVAL,
				    "user \"%.*s\": "
				    "unexpected character '%c'", (int)ulen,
				    auth, auth[i]);
		memcpy(u->user, auth, ulen);
		u->user[ulen] = '\0';
		alen -= ulen + 1;
		auth = at + 1;
	}
	/* ssh:// connects to remusd through ssh: no listener there. */
	return parse_hostport(u, auth, alen, u->scheme == URI_SSH ? 0 : flags,
	    u->scheme == URI_SSH ? "" : TRANSPORT_DEFAULT_PORT_STR, err, errlen);
}

int
uri_addr(const struct uri *u, char *buf, size_t len)
{
	int n;

	n = snprintf(buf, len, u->ipv6 ? "[%s]:%s" : "%s:%s", u->host,
	    u->port[0] ? u->port : TRANSPORT_DEFAULT_PORT_STR);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
uri_ssh_target(const struct uri *u, char *buf, size_t len, char *portarg,
    size_t portlen)
{
	int n, m;

	n = snprintf(buf, len, "%s%s%s", u->user, u->user[0] ? "@" : "",
	    u->host);
	m = snprintf(portarg, portlen, u->port[0] ? "-p %s" : "%s", u->port);
	if (n < 0 || (size_t)n >= len || m < 0 || (size_t)m >= portlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
