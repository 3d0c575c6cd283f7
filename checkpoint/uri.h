/* checkpoint/uri.h -- where the backup is: the address forms remus takes.
 *
 *   host  host:port  [v6addr]:port  v6addr     TCP, TLS or not as the
 *                                              flags say (--psk-file,
 *                                              --tls-creds, --insecure)
 *   tcp://host[:port]/                         the same, spelled out
 *   tls://host[:port]/                         TCP that must be TLS: no
 *                                              --insecure, credentials
 *                                              required
 *   ssh://[user@]host[:port]/                  remusd started over ssh
 *                                              (remus -s ssh), its stdin
 *                                              and stdout the link
 *
 * The port is 1..65535 (default 5270; for ssh://, ssh's own default when
 * none is given); a host is never empty (except where a listener takes
 * every address: URI_EMPTY_HOST); the path is empty or "/".  Anything
 * else is refused with one line saying what (libvirt's migration URIs,
 * docs/link.md).  A pure parser: no lookups, no I/O.
 */
#ifndef REMUS_URI_H
#define REMUS_URI_H

#include <stddef.h>

#define URI_HOST_MAX	256
#define URI_USER_MAX	64
#define URI_PORT_MAX	8
#define URI_ERR_MAX	160

enum uri_scheme {
	URI_BARE = 0,	/* host[:port], no scheme */
	URI_TCP,
	URI_TLS,
	URI_SSH,
};

struct uri {
	enum uri_scheme	scheme;
	char	user[URI_USER_MAX];	/* ssh:// only; "" = none */
	char	host[URI_HOST_MAX];	/* brackets of an IPv6 address removed */
	char	port[URI_PORT_MAX];	/* digits; ssh:// without one: "" */
	int	ipv6;			/* host is an IPv6 address literal */
};

/* Flags for uri_parse. */
#define URI_EMPTY_HOST	0x1	/* "" and "*" are hosts (a listener's "every
				 * address"): ":5270", "tcp://:5270/" */

/* Parse S into U.  0, or -1 with errno EINVAL and ERR (ERRLEN bytes,
 * may be NULL) holding one line naming what is wrong, without S itself
 * (the caller names the argument it came from). */
int	uri_parse(const char *s, int flags, struct uri *u, char *err,
	    size_t errlen);

/* The scheme's name ("" for URI_BARE). */
const char *uri_scheme_name(enum uri_scheme);

/* Every scheme uri_parse accepts, NULL-terminated (for capabilities). */
extern const char *const uri_schemes[];

/* U's address as transport_parse_addr and the TCP transport take it:
 * "host:port" or "[v6]:port".  0, or -1 with errno ENAMETOOLONG. */
int	uri_addr(const struct uri *u, char *buf, size_t len);

/* The ssh destination of an ssh:// U: "[user@]host", and in PORTARG the
 * option naming its port ("-p PORT", or ""). 0 / -1 + ENAMETOOLONG. */
int	uri_ssh_target(const struct uri *u, char *buf, size_t len,
	    char *portarg, size_t portlen);

#endif /* REMUS_URI_H */
