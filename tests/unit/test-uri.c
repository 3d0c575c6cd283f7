/* tests/unit/test-uri.c -- every address form uri_parse takes, and every
 * refusal, with the one line it gives. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "uri.h"

struct good;
struct bad;
static void	check_good(const struct good *);
static void	check_bad(const struct bad *);

struct good {
	const char	*in;
	int		 flags;
	enum uri_scheme	 scheme;
	const char	*user, *host, *port;
	int		 ipv6;
	const char	*addr;	/* uri_addr */
};

static const struct good goods[] = {
	{ "backup1", 0, URI_BARE, "", "backup1", "5270", 0, "backup1:5270" },
	{ "backup1:6000", 0, URI_BARE, "", "backup1", "6000", 0,
	    "backup1:6000" },
	{ "192.0.2.7:1", 0, URI_BARE, "", "192.0.2.7", "1", 0,
	    "192.0.2.7:1" },
	{ "[2001:db8::1]:65535", 0, URI_BARE, "", "2001:db8::1", "65535", 1,
	    "[2001:db8::1]:65535" },
	{ "[::1]", 0, URI_BARE, "", "::1", "5270", 1, "[::1]:5270" },
	{ "::1", 0, URI_BARE, "", "::1", "5270", 1, "[::1]:5270" },
	{ "[10.9.8.7]:99", 0, URI_BARE, "", "10.9.8.7", "99", 0, "10.9.8.7:99" },
	{ "[fe80::1%eth0]:7", 0, URI_BARE, "", "fe80::1%eth0", "7", 1,
	    "[fe80::1%eth0]:7" },
	{ "tcp://backup1:6000/", 0, URI_TCP, "", "backup1", "6000", 0,
	    "backup1:6000" },
	{ "tcp://backup1:6000", 0, URI_TCP, "", "backup1", "6000", 0,
	    "backup1:6000" },
	{ "tcp://backup1/", 0, URI_TCP, "", "backup1", "5270", 0,
	    "backup1:5270" },
	{ "tcp://[::1]:6000/", 0, URI_TCP, "", "::1", "6000", 1,
	    "[::1]:6000" },
	{ "tls://b.example.org:6001/", 0, URI_TLS, "", "b.example.org",
	    "6001", 0, "b.example.org:6001" },
	{ "tls://[2001:db8::2]/", 0, URI_TLS, "", "2001:db8::2", "5270", 1,
	    "[2001:db8::2]:5270" },
	{ "ssh://backup1/", 0, URI_SSH, "", "backup1", "", 0, "backup1:5270" },
	{ "ssh://root@backup1:2222/", 0, URI_SSH, "root", "backup1", "2222",
	    0, "backup1:2222" },
	{ "ssh://remus_op@[::1]/", 0, URI_SSH, "remus_op", "::1", "", 1,
	    "[::1]:5270" },
	/* Brackets around IPv4 or a name, as before URIs. */
	{ "[10.91.3.2]:5270", 0, URI_BARE, "", "10.91.3.2", "5270", 0,
	    "10.91.3.2:5270" },
	{ "tcp://[backup1]:7/", 0, URI_TCP, "", "backup1", "7", 0,
	    "backup1:7" },
	/* A listener's "every address". */
	{ ":6000", URI_EMPTY_HOST, URI_BARE, "", "", "6000", 0, ":6000" },
	{ "*:6000", URI_EMPTY_HOST, URI_BARE, "", "*", "6000", 0, "*:6000" },
	{ "tcp://:6000/", URI_EMPTY_HOST, URI_TCP, "", "", "6000", 0,
	    ":6000" },
};

/* One test over the table (Criterion's parameters cannot carry the
 * tables' string pointers into its workers). */
Test(uri, accepts)
{
	for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++)
		check_good(&goods[i]);
}

static void
check_good(const struct good *g)
{
	struct uri u;
	char err[URI_ERR_MAX], addr[300];

	cr_assert(eq(int, uri_parse(g->in, g->flags, &u, err, sizeof err), 0),
	    "%s: refused: %s", g->in, err);
	cr_expect(eq(int, (int)u.scheme, (int)g->scheme), "%s", g->in);
	cr_expect(eq(str, u.user, (char *)g->user), "%s", g->in);
	cr_expect(eq(str, u.host, (char *)g->host), "%s", g->in);
	cr_expect(eq(str, u.port, (char *)g->port), "%s", g->in);
	cr_expect(eq(int, u.ipv6, g->ipv6), "%s", g->in);
	cr_assert(eq(int, uri_addr(&u, addr, sizeof addr), 0));
	cr_expect(eq(str, addr, (char *)g->addr), "%s", g->in);
}

struct bad {
	const char	*in;
	int		 flags;
	const char	*why;	/* a part of the one line */
};

static const struct bad bads[] = {
	{ "", 0, "empty address" },
	{ "ftp://backup1/", 0, "unknown scheme \"ftp\"" },
	{ "http://backup1:80/", 0, "unknown scheme \"http\"" },
	{ "TCP://backup1/", 0, "unknown scheme \"TCP\"" },
	{ "://backup1/", 0, "unknown scheme" },
	{ "averyveryverylongscheme://x/", 0, "unknown scheme" },
	{ "backup1:0", 0, "port 0: want a number in 1..65535" },
	{ "backup1:65536", 0, "port 65536: want a number in 1..65535" },
	{ "backup1:99999999", 0, "want a number in 1..65535" },
	{ "backup1:", 0, "empty port" },
	{ "backup1:x1", 0, "port \"x1\"" },
	{ "backup1:-1", 0, "port \"-1\"" },
	{ "tcp://backup1:0/", 0, "port 0" },
	{ "tls://backup1:70000/", 0, "port 70000" },
	{ "ssh://backup1:0/", 0, "port 0" },
	{ "[::1]:0", 0, "port 0" },
	{ ":6000", 0, "empty host" },
	{ "*:6000", 0, "empty host" },
	{ "tcp:///", 0, "empty host" },
	{ "tcp://:6000/", 0, "empty host" },
	{ "tls://", 0, "empty host" },
	{ "ssh://root@/", 0, "empty host" },
	/* An ssh:// is never a listener's. */
	{ "ssh://:22/", URI_EMPTY_HOST, "empty host" },
	{ "[::1", 0, "missing ']'" },
	{ "[::1]x", 0, "unexpected 'x' after ']'" },
	{ "[::1x]:5", 0, "not an IPv6 address" },
	{ "[a b]:5", 0, "unexpected character ' '" },
	{ "tcp://backup1:6000/guest", 0, "path \"/guest\"" },
	{ "tcp://backup1//", 0, "path \"//\"" },
	{ "backup1/", 0, "unexpected '/'" },
	{ "root@backup1", 0, "only goes with ssh://" },
	{ "tcp://root@backup1/", 0, "only goes with ssh://" },
	{ "tls://u@backup1:5/", 0, "only goes with ssh://" },
	{ "ssh://@backup1/", 0, "empty user name" },
	{ "ssh://r;m@backup1/", 0, "unexpected character ';'" },
	{ "ssh://backup1;reboot/", 0, "unexpected character ';'" },
	{ "ssh://back$(id)/", 0, "unexpected character '$'" },
	{ "back up", 0, "unexpected character ' '" },
	{ "tcp://backup1:6000/?x", 0, "path" },
	{ "tcp://backup1?x", 0, "queries" },
};

Test(uri, refuses)
{
	for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++)
		check_bad(&bads[i]);
}

static void
check_bad(const struct bad *b)
{
	struct uri u;
	char err[URI_ERR_MAX];

	errno = 0;
	cr_assert(eq(int, uri_parse(b->in, b->flags, &u, err, sizeof err),
	    -1), "%s: accepted", b->in);
	cr_expect(eq(int, errno, EINVAL));
	cr_expect(strstr(err, b->why) != NULL, "%s: \"%s\" does not say "
	    "\"%s\"", b->in, err, b->why);
	cr_expect(strchr(err, '\n') == NULL, "one line");
}

Test(uri, ssh_target)
{
	struct uri u;
	char t[300], p[16];

	cr_assert(eq(int, uri_parse("ssh://root@backup1:2222/", 0, &u, NULL,
	    0), 0));
	cr_assert(eq(int, uri_ssh_target(&u, t, sizeof t, p, sizeof p), 0));
	cr_expect(eq(str, t, "root@backup1"));
	cr_expect(eq(str, p, "-p 2222"));
	cr_assert(eq(int, uri_parse("ssh://backup1", 0, &u, NULL, 0), 0));
	cr_assert(eq(int, uri_ssh_target(&u, t, sizeof t, p, sizeof p), 0));
	cr_expect(eq(str, t, "backup1"));
	cr_expect(eq(str, p, ""));
}

Test(uri, scheme_names_match_the_parser)
{
	struct uri u;
	char in[64];

	for (int i = 0; uri_schemes[i] != NULL; i++) {
		snprintf(in, sizeof in, "%s://h:1/", uri_schemes[i]);
		cr_assert(eq(int, uri_parse(in, 0, &u, NULL, 0), 0), "%s", in);
		cr_expect(eq(str, (char *)uri_scheme_name(u.scheme),
		    (char *)uri_schemes[i]));
	}
}

Test(uri, too_long_is_refused)
{
	char in[600], err[URI_ERR_MAX];
	struct uri u;

	memset(in, 'a', sizeof in - 1);
	in[sizeof in - 1] = '\0';
	cr_assert(eq(int, uri_parse(in, 0, &u, err, sizeof err), -1));
	cr_expect(strstr(err, "longer than") != NULL, "%s", err);
}
