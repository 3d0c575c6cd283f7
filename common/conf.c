/* common/conf.c -- remus.conf(5): read, check, and turn into flags.
 *
 * One table (conf_keys) says which keys each section takes, the type and
 * range of each value, and the flag it becomes; remus.conf(5) is written
 * from it.  Values are checked here so that a bad one is reported with
 * the file's line; the program's option parser checks them again.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compiler.h"
#include "conf.h"
#include "util.h"

/* Where a key may appear. */
#define IN_REMUS	0x1	/* [remus] */
#define IN_REMUSD	0x2	/* [remusd] */
#define IN_GUEST	0x4	/* [guest NAME] */

enum conf_type {
	T_STR,		/* any non-empty string */
	T_UINT,		/* decimal in [min, max] */
	T_SIZE,		/* bytes, K/M/G suffixes, >= min */
	T_BOOL,		/* yes/no/true/false/on/off/1/0 */
	T_ENUM,		/* one of choices, '|'-separated */
	T_ADDR,		/* host[:port], [v6]:port, :port, * */
	T_ADDR_PORT,	/* host:port, the port required */
	T_COUNT,	/* 0..9: the flag that many times (-v) */
	T_DECIMAL,	/* a positive decimal number, a fraction allowed */
	T_TOOL,		/* TYPE=PATH (--device-tool; the path checked by
			 * the program, which runs it) */
};

/* Exclusion groups (see conf.h). */
enum {
	G_NONE, G_CHANNEL, G_FENCE, G_MODE,
};

/* What a key becomes. */
enum {
	K_FLAG,		/* OPT VALUE, or OPT alone for a true T_BOOL */
	K_FLAG_IF_NO,	/* T_BOOL: OPT alone when false (compress = no) */
	K_DOMAIN,	/* the guest's domain operand */
	K_BACKUP,	/* the guest's backup operand */
	K_COMMAND,	/* remusd --guest NAME=VALUE */
	K_GUEST_DISK,	/* remusd --disk NAME:VALUE (NAME:=VALUE unnamed) */
	K_GUEST_SYNC,	/* remusd --disk-sync-listen NAME=VALUE */
	K_GUEST_PEER,	/* remusd --guest-peer NAME=VALUE */
	K_GUEST_FENCE,	/* remusd --guest-fence[-timeout] NAME=VALUE */
	K_RESERVED,	/* refused: not implemented */
};

/* conf_key.multi: how often a key may be given in one section. */
enum {
	M_ONCE,		/* once */
	M_REPEAT,	/* once per flag (its flag is repeatable: --disk) */
	M_LIST,		/* M_REPEAT, and a value may hold several, split
			 * at blanks and commas (allow-bridge = br0 br1):
			 * names and paths that need neither */
};

struct conf_key {
	const char	*name;
	unsigned	 where;
	enum conf_type	 type;
	int		 kind;
	const char	*opt;		/* "--timeout", "-i" */
	uint64_t	 min, max;
	const char	*choices;
	int		 group;
	const char	*why;		/* K_RESERVED: the line said */
	int		 multi;		/* M_ONCE, M_REPEAT (1: its flag is
					 * repeatable, --disk) or M_LIST */
};

#define PRI	(IN_REMUS | IN_GUEST)
#define MS	3600000

static const struct conf_key conf_keys[] = {
	/* [guest NAME] only. */
	{ "domain", IN_GUEST, T_STR, K_DOMAIN, NULL, 0, 0, NULL, 0, NULL, 0 },
	{ "backup", IN_GUEST, T_STR, K_BACKUP, NULL, 0, 0, NULL, 0, NULL, 0 },
	{ "command", IN_GUEST, T_STR, K_COMMAND, "--guest", 0, 0, NULL, 0,
	    NULL, 0 },
	/* remusd's, for this guest: its disk images and its sync address. */
	{ "backup-disk", IN_GUEST, T_STR, K_GUEST_DISK, "--disk", 0, 0, NULL,
	    0, NULL, 1 },
	{ "disk-sync-listen", IN_GUEST, T_ADDR_PORT, K_GUEST_SYNC,
	    "--disk-sync-listen", 0, 0, NULL, 0, NULL, 0 },
	/* remusd's: who may feed this guest (TLS identities). */
	{ "peer", IN_GUEST, T_STR, K_GUEST_PEER, "--guest-peer", 0, 0, NULL,
	    0, NULL, M_REPEAT },
	/* remusd's, for this guest's sessions: its own fence (the guests
	 * without one have [remusd]'s fence or no-fence). */
	{ "fence", IN_GUEST, T_STR, K_GUEST_FENCE, "--guest-fence", 0, 0,
	    NULL, 0, NULL, 0 },
	{ "fence-timeout", IN_GUEST, T_UINT, K_GUEST_FENCE,
	    "--guest-fence-timeout", 1, MS, NULL, 0, NULL, 0 },
	/* remus, in [remus] (every guest) or [guest NAME]. */
	{ "interval", PRI, T_UINT, K_FLAG, "-i", 25, 60000, NULL, 0, NULL, 0 },
	{ "compress", PRI, T_BOOL, K_FLAG_IF_NO, "-u", 0, 0, NULL, 0, NULL, 0 },
	{ "backup-command", PRI, T_STR, K_FLAG, "-s", 0, 0, NULL, G_CHANNEL,
	    NULL, 0 },
	{ "blackhole", PRI, T_BOOL, K_FLAG, "-b", 0, 0, NULL, G_CHANNEL,
	    NULL, 0 },
	{ "network-buffering", PRI, T_BOOL, K_FLAG_IF_NO, "-n", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "disk-replication", PRI, T_BOOL, K_FLAG_IF_NO, "-d", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "allow-unsafe", PRI, T_BOOL, K_FLAG, "-F", 0, 0, NULL, 0, NULL, 0 },
	{ "verbose", PRI | IN_REMUSD, T_COUNT, K_FLAG, "-v", 0, 9, NULL, 0,
	    NULL, 0 },
	{ "timeout", PRI, T_UINT, K_FLAG, "--timeout", 100, MS, NULL, 0,
	    NULL, 0 },
	{ "stats-json", PRI, T_STR, K_FLAG, "--stats-json", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "netbuf-if", PRI, T_STR, K_FLAG, "--netbuf-if", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "netbuf-driver", PRI, T_ENUM, K_FLAG, "--netbuf-driver", 0, 0,
	    "plug|nfqueue|auto", 0, NULL, 0 },
	{ "netbuf-limit", PRI, T_SIZE, K_FLAG, "--netbuf-limit", 1, 0, NULL,
	    0, NULL, 0 },
	{ "disk", PRI, T_STR, K_FLAG, "--disk", 0, 0, NULL, 0, NULL, 1 },
	{ "nbd-listen", PRI, T_STR, K_FLAG, "--nbd-listen", 0, 0, NULL, 0,
	    NULL, 0 },	/* host:port or unix:PATH */
	{ "disk-server", PRI, T_STR, K_FLAG, "--disk-server", 0, 0, NULL, 0,
	    NULL, 1 },
	{ "disk-sync", PRI, T_ADDR_PORT, K_FLAG, "--disk-sync", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "disk-sync-rate", PRI, T_SIZE, K_FLAG, "--disk-sync-rate", 0, 0,
	    NULL, 0, NULL, 0 },
	{ "dirty-method", PRI, T_ENUM, K_FLAG, "--dirty-method", 0, 0,
	    "auto|pagemap-scan|softdirty", 0, NULL, 0 },
	{ "scan-threads", PRI, T_UINT, K_FLAG, "--scan-threads", 1, 2, NULL,
	    0, NULL, 0 },
	{ "precopy", PRI, T_ENUM, K_FLAG, "--precopy", 0, 0, "auto|on|off", 0,
	    NULL, 0 },
	{ "xen-mapcache", PRI, T_BOOL, K_FLAG, "--xen-mapcache", 0, 0, NULL,
	    0, NULL, 0 },
	{ "suspend-timeout", PRI, T_UINT, K_FLAG, "--suspend-timeout", 1, MS,
	    NULL, 0, NULL, 0 },
	{ "xen-ack-timeout", PRI, T_UINT, K_FLAG, "--xen-ack-timeout", 1, MS,
	    NULL, 0, NULL, 0 },
	{ "xen-refuse-grace", PRI, T_UINT, K_FLAG, "--xen-refuse-grace", 1,
	    MS, NULL, 0, NULL, 0 },
	{ "metrics", PRI, T_ADDR_PORT, K_FLAG, "--metrics", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "metrics-file", PRI, T_STR, K_FLAG, "--metrics-file", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "run-dir", PRI, T_STR, K_FLAG, "--run-dir", 0, 0, NULL, 0, NULL, 0 },
	{ "reconnect-interval", PRI, T_UINT, K_FLAG, "--reconnect-interval",
	    0, MS, NULL, 0, NULL, 0 },
	{ "reconnect-limit", PRI, T_UINT, K_FLAG, "--reconnect-limit", 0,
	    UINT32_MAX, NULL, 0, NULL, 0 },
	{ "fence-backup", PRI, T_STR, K_FLAG, "--fence-backup", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "psk-file", PRI, T_STR, K_FLAG, "--psk-file", 0, 0, NULL, G_CHANNEL,
	    NULL, 0 },
	{ "psk-identity", PRI, T_STR, K_FLAG, "--psk-identity", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "tls-creds", PRI, T_STR, K_FLAG, "--tls-creds", 0, 0, NULL,
	    G_CHANNEL, NULL, 0 },
	{ "tls-hostname", PRI, T_STR, K_FLAG, "--tls-hostname", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "insecure", PRI, T_BOOL, K_FLAG, "--insecure", 0, 0, NULL,
	    G_CHANNEL, NULL, 0 },
	{ "remusd-args", PRI, T_STR, K_FLAG, "--remusd-args", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "no-guardian", PRI, T_BOOL, K_FLAG, "-e", 0, 0, NULL, 0, NULL, 0 },
	{ "ctl-socket", PRI, T_STR, K_FLAG, "--ctl-socket", 0, 0, NULL, 0,
	    NULL, 0 },	/* a path, or none */
	{ "trigger", PRI, T_ENUM, K_FLAG, "--trigger", 0, 0, "output|interval",
	    0, NULL, 0 },
	{ "max-paused-pct", PRI, T_UINT, K_FLAG, "--max-paused-pct", 1, 90,
	    NULL, 0, NULL, 0 },
	{ "max-rate", PRI, T_UINT, K_FLAG, "--max-rate", 1, 2000, NULL, 0,
	    NULL, 0 },
	{ "bandwidth", PRI, T_DECIMAL, K_FLAG, "--bandwidth", 0, 0, NULL, 0,
	    NULL, 0 },	/* megabits a second */
	{ "dname", PRI, T_STR, K_FLAG, "--dname", 0, 0, NULL, 0, NULL, 0 },
	{ "device-tool", PRI, T_TOOL, K_FLAG, "--device-tool", 0, 0, NULL, 0,
	    NULL, M_REPEAT },
	{ "device-tool-timeout", PRI, T_UINT, K_FLAG, "--device-tool-timeout",
	    1, MS, NULL, 0, NULL, 0 },
	/* remusd, in [remusd]. */
	{ "listen", IN_REMUSD, T_ADDR, K_FLAG, "--listen", 0, 0, NULL, G_MODE,
	    NULL, 0 },
	{ "psk-file", IN_REMUSD, T_STR, K_FLAG, "--psk-file", 0, 0, NULL,
	    G_CHANNEL, NULL, 0 },
	{ "tls-creds", IN_REMUSD, T_STR, K_FLAG, "--tls-creds", 0, 0, NULL,
	    G_CHANNEL, NULL, 0 },
	{ "insecure", IN_REMUSD, T_BOOL, K_FLAG, "--insecure", 0, 0, NULL,
	    G_CHANNEL, NULL, 0 },
	{ "state-dir", IN_REMUSD, T_STR, K_FLAG, "-D", 0, 0, NULL, 0, NULL, 0 },
	{ "timeout", IN_REMUSD, T_UINT, K_FLAG, "-t", 50, MS, NULL, 0, NULL, 0 },
	{ "no-activate", IN_REMUSD, T_BOOL, K_FLAG, "--no-activate", 0, 0,
	    NULL, 0, NULL, 0 },
	{ "disk", IN_REMUSD, T_STR, K_FLAG, "--disk", 0, 0, NULL, 0, NULL, 1 },
	{ "disk-sync-listen", IN_REMUSD, T_ADDR_PORT, K_FLAG,
	    "--disk-sync-listen", 0, 0, NULL, 0, NULL, 0 },
	{ "proc-listen", IN_REMUSD, T_ADDR_PORT, K_FLAG, "--proc-listen", 0, 0,
	    NULL, 0, NULL, 0 },
	{ "proc-sync", IN_REMUSD, T_BOOL, K_FLAG, "--proc-sync", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "no-commit-thread", IN_REMUSD, T_BOOL, K_FLAG, "--no-commit-thread",
	    0, 0, NULL, 0, NULL, 0 },
	{ "metrics", IN_REMUSD, T_ADDR_PORT, K_FLAG, "--metrics", 0, 0, NULL,
	    0, NULL, 0 },
	{ "metrics-file", IN_REMUSD, T_STR, K_FLAG, "--metrics-file", 0, 0,
	    NULL, 0, NULL, 0 },
	{ "activate-timeout", IN_REMUSD, T_UINT, K_FLAG, "--activate-timeout",
	    1, MS, NULL, 0, NULL, 0 },
	{ "fence", IN_REMUSD, T_STR, K_FLAG, "--fence", 0, 0, NULL, G_FENCE,
	    NULL, 0 },
	{ "no-fence", IN_REMUSD, T_BOOL, K_FLAG, "--no-fence", 0, 0, NULL,
	    G_FENCE, NULL, 0 },
	{ "fence-timeout", IN_REMUSD, T_UINT, K_FLAG, "--fence-timeout", 1, MS,
	    NULL, 0, NULL, 0 },
	{ "any-peer", IN_REMUSD, T_BOOL, K_FLAG, "--any-peer", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "allow-resize", IN_REMUSD, T_BOOL, K_FLAG, "--allow-resize", 0, 0,
	    NULL, 0, NULL, 0 },
	{ "allow-hvm", IN_REMUSD, T_BOOL, K_FLAG, "--allow-hvm", 0, 0,
	    NULL, 0, NULL, 0 },
	{ "no-guardian", IN_REMUSD, T_BOOL, K_FLAG, "-e", 0, 0, NULL, 0, NULL,
	    0 },
	{ "run-dir", IN_REMUSD, T_STR, K_FLAG, "--run-dir", 0, 0, NULL, 0,
	    NULL, 0 },
	{ "ctl-socket", IN_REMUSD, T_STR, K_FLAG, "--ctl-socket", 0, 0, NULL,
	    0, NULL, 0 },
	{ "max-sessions", IN_REMUSD, T_UINT, K_FLAG, "--max-sessions", 1,
	    100000, NULL, 0, NULL, 0 },
	{ "max-guest-mem", IN_REMUSD, T_SIZE, K_FLAG, "--max-guest-mem",
	    1u << 20, 0, NULL, 0, NULL, 0 },
	{ "max-disk", IN_REMUSD, T_SIZE, K_FLAG, "--max-disk", 1u << 20, 0,
	    NULL, 0, NULL, 0 },
	{ "hello-timeout", IN_REMUSD, T_UINT, K_FLAG, "--hello-timeout", 100,
	    600000, NULL, 0, NULL, 0 },
	/* What a Xen twin may use (domain/xen-policy.c): one value a key,
	 * the key repeated, or a list. */
	{ "allow-bridge", IN_REMUSD, T_STR, K_FLAG, "--allow-bridge", 0, 0,
	    NULL, 0, NULL, M_LIST },
	{ "allow-kernel", IN_REMUSD, T_STR, K_FLAG, "--allow-kernel", 0, 0,
	    NULL, 0, NULL, M_LIST },
	{ "allow-device-model", IN_REMUSD, T_STR, K_FLAG,
	    "--allow-device-model", 0, 0, NULL, 0, NULL, M_LIST },
	{ "allow-script", IN_REMUSD, T_STR, K_FLAG, "--allow-script", 0, 0,
	    NULL, 0, NULL, M_LIST },
	{ "device-tool", IN_REMUSD, T_TOOL, K_FLAG, "--device-tool", 0, 0, NULL,
	    0, NULL, M_REPEAT },
	{ "device-tool-timeout", IN_REMUSD, T_UINT, K_FLAG,
	    "--device-tool-timeout", 1, MS, NULL, 0, NULL, 0 },
	{ "dname", IN_REMUSD, T_STR, K_FLAG, "--dname", 0, 0, NULL, 0, NULL,
	    0 },
};

#define NKEYS	(sizeof conf_keys / sizeof conf_keys[0])

struct conf_entry {
	const struct conf_key *key;
	char		*value;
	unsigned	 line;
};

struct conf_section {
	unsigned	 where;		/* IN_REMUS, IN_REMUSD or IN_GUEST */
	char		*name;		/* "remus", "remusd", the guest's */
	unsigned	 line;
	struct conf_entry *e;
	size_t		 n;
};

struct conf {
	char		*path;
	struct conf_section *s;
	size_t		 n;
};

static int	fail(char *, size_t, const char *, ...) __printf(3, 4);

static int
fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	errno = EINVAL;
	return -1;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
enum_has(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;

	while (p != NULL) {
		if (strncmp(p, v, n) == 0 && (p[n] == '|' || p[n] == '\0'))
			return 1;
		p = strchr(p, '|');
		if (p)
			p++;
	}
	return 0;
}

/* host[:port], [v6addr][:port], :port, "*"; with NEED_PORT the port must
 * be there.  Only the shape: the name is resolved by whoever uses it. */
static int
check_addr(const char *v, int need_port)
{
	const char *port = NULL;
	uint64_t p;

	if (v[0] == '[') {
		const char *rb = strchr(v, ']');

		if (rb == NULL || rb == v + 1)
			return -1;
		if (rb[1] == ':')
			port = rb + 2;
		else if (rb[1] != '\0')
			return -1;
	} else if (strcmp(v, "*") != 0) {
		const char *c = strrchr(v, ':');

		if (c && strchr(v, ':') != c)
			return -1;	/* a bare IPv6 address: use [] */
		if (c)
			port = c + 1;
	}
	if (port == NULL)
		return need_port ? -1 : 0;
	return parse_uint(port, 1, 65535, &p);
}

static int
check_value(const struct conf_key *k, const char *v, char *why, size_t len)
{
	uint64_t n;
	int b;

	switch (k->type) {
	case T_STR:
		return 0;
	case T_UINT:
	case T_COUNT:
		if (parse_uint(v, k->min, k->type == T_COUNT ? 9 : k->max,
		    &n) == 0)
			return 0;
		snprintf(why, len, "want a number in %" PRIu64 "..%" PRIu64,
		    k->min, k->type == T_COUNT ? (uint64_t)9 : k->max);
		return -1;
	case T_SIZE:
		if (parse_size(v, &n) == 0 && n >= k->min)
			return 0;
		if (k->min > 1)
			snprintf(why, len, "want a size in bytes (K/M/G "
			    "suffixes), at least %" PRIu64 "K", k->min >> 10);
		else
			snprintf(why, len, "want a size in bytes (K/M/G "
			    "suffixes)%s", k->min ? ", not 0" : "");
		return -1;
	case T_BOOL:
		if (parse_bool(v, &b) == 0)
			return 0;
		snprintf(why, len, "want yes or no");
		return -1;
	case T_ENUM:
		if (enum_has(k->choices, v))
			return 0;
		snprintf(why, len, "want one of %s", k->choices);
		return -1;
	case T_DECIMAL: {
		size_t d = strspn(v, "0123456789");

		if (d > 0 && (v[d] == '\0' || (v[d] == '.' && v[d + 1] &&
		    strspn(v + d + 1, "0123456789") == strlen(v + d + 1))) &&
		    strspn(v, "0.") != strlen(v))
			return 0;
		snprintf(why, len, "want a positive decimal number");
		return -1;
	}
	case T_TOOL: {
		const char *eq = strchr(v, '=');

		if (eq != NULL && eq != v && eq[1] != '\0')
			return 0;
		snprintf(why, len, "want TYPE=PATH");
		return -1;
	}
	case T_ADDR:
	case T_ADDR_PORT:
		if (check_addr(v, k->type == T_ADDR_PORT) == 0)
			return 0;
		snprintf(why, len, "want %s with a port in 1..65535",
		    k->type == T_ADDR_PORT ? "host:port" : "host[:port]");
		return -1;
	}
	return -1;
}

static const struct conf_key *
key_find(const char *name, unsigned where, int *elsewhere)
{
	size_t i;

	*elsewhere = 0;
	for (i = 0; i < NKEYS; i++) {
		if (strcmp(conf_keys[i].name, name) != 0)
			continue;
		if (conf_keys[i].where & where)
			return &conf_keys[i];
		*elsewhere = 1;
	}
	return NULL;
}

static const char *
where_name(unsigned where)
{
	return where == IN_REMUS ? "[remus]" : where == IN_REMUSD ?
	    "[remusd]" : "[guest]";
}

static int
add_section(struct conf *c, char *hdr, unsigned line, char *err,
    size_t len)
{
	struct conf_section *s, *ns;
	unsigned where;
	char *name;
	size_t i;

	if (strcmp(hdr, "remus") == 0) {
		where = IN_REMUS;
		name = hdr;
	} else if (strcmp(hdr, "remusd") == 0) {
		where = IN_REMUSD;
		name = hdr;
	} else if (strncmp(hdr, "guest", 5) == 0 &&
	    (hdr[5] == ' ' || hdr[5] == '\t')) {
		where = IN_GUEST;
		name = trim(hdr + 5);
		if (name[0] == '"' && name[1] != '\0' &&
		    name[strlen(name) - 1] == '"') {
			name[strlen(name) - 1] = '\0';
			name++;
		}
		if (*name == '\0' || strpbrk(name, " \t\"[]=") != NULL)
			return fail(err, len, "%s:%u: [guest %s]: want a guest "
			    "name without blanks, quotes, brackets or =",
			    c->path, line, name);
	} else
		return fail(err, len, "%s:%u: unknown section [%s] (want "
		    "[remus], [remusd] or [guest NAME])", c->path, line, hdr);
	for (i = 0; i < c->n; i++)
		if (c->s[i].where == where && strcmp(c->s[i].name, name) == 0)
			return fail(err, len, "%s:%u: duplicate section [%s%s] "
			    "(first at line %u)", c->path, line,
			    where == IN_GUEST ? "guest " : "", name,
			    c->s[i].line);
	ns = realloc(c->s, (c->n + 1) * sizeof *c->s);
	if (ns == NULL)
		return fail(err, len, "%s: %s", c->path, strerror(errno));
	c->s = ns;
	s = &c->s[c->n];
	memset(s, 0, sizeof *s);
	s->where = where;
	s->line = line;
	if ((s->name = strdup(name)) == NULL)
		return fail(err, len, "%s: %s", c->path, strerror(errno));
	c->n++;
	return 0;
}

static int
add_entry(struct conf *c, char *line_s, unsigned line, char *err,
    size_t len)
{
	struct conf_section *s;
	const struct conf_key *k;
	struct conf_entry *ne;
	char *eq, *key, *val, why[128];
	int elsewhere;
	size_t i, vl;

	eq = strchr(line_s, '=');
	if (eq == NULL)
		return fail(err, len, "%s:%u: \"%s\": want key = value",
		    c->path, line, line_s);
	*eq = '\0';
	key = trim(line_s);
	val = trim(eq + 1);
	if (c->n == 0)
		return fail(err, len, "%s:%u: %s: outside any section (start "
		    "with [remus], [remusd] or [guest NAME])", c->path, line,
		    key);
	s = &c->s[c->n - 1];
	k = key_find(key, s->where, &elsewhere);
	if (k == NULL && elsewhere)
		return fail(err, len, "%s:%u: %s: not a key of %s", c->path,
		    line, key, where_name(s->where));
	if (k == NULL)
		return fail(err, len, "%s:%u: unknown key \"%s\"", c->path,
		    line, key);
	if (k->kind == K_RESERVED)
		return fail(err, len, "%s:%u: %s", c->path, line, k->why);
	/* "..." keeps blanks at either end (a command). */
	vl = strlen(val);
	if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
		val[vl - 1] = '\0';
		val++;
	}
	if (*val == '\0')
		return fail(err, len, "%s:%u: %s: empty value", c->path, line,
		    key);
	if (k->multi == M_LIST && strspn(val, " \t,") == strlen(val))
		return fail(err, len, "%s:%u: %s: an empty list", c->path,
		    line, key);
	if (check_value(k, val, why, sizeof why) == -1)
		return fail(err, len, "%s:%u: %s = %s: %s", c->path, line,
		    key, val, why);
	for (i = 0; !k->multi && i < s->n; i++)
		if (s->e[i].key == k)
			return fail(err, len, "%s:%u: %s given twice in this "
			    "section (first at line %u)", c->path, line, key,
			    s->e[i].line);
	ne = realloc(s->e, (s->n + 1) * sizeof *s->e);
	if (ne == NULL)
		return fail(err, len, "%s: %s", c->path, strerror(errno));
	s->e = ne;
	s->e[s->n].key = k;
	s->e[s->n].line = line;
	if ((s->e[s->n].value = strdup(val)) == NULL)
		return fail(err, len, "%s: %s", c->path, strerror(errno));
	s->n++;
	return 0;
}

int
conf_load(const char *path, struct conf **out, char *err, size_t len)
{
	struct conf *c;
	FILE *f;
	char *buf = NULL, *l, *rb;
	size_t cap = 0;
	ssize_t n;
	unsigned line = 0;
	int saved;

	*out = NULL;
	c = calloc(1, sizeof *c);
	if (c == NULL || (c->path = strdup(path)) == NULL) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		free(c);
		return -1;
	}
	f = fopen(path, "re");
	if (f == NULL) {
		saved = errno;
		snprintf(err, len, "%s: %s", path, strerror(errno));
		conf_free(c);
		errno = saved;
		return -1;
	}
	while ((n = getline(&buf, &cap, f)) != -1) {
		line++;
		if (memchr(buf, '\0', (size_t)n) != NULL) {
			fail(err, len, "%s:%u: a NUL byte (not a text file?)",
			    path, line);
			goto err;
		}
		l = trim(buf);
		if (*l == '\0' || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			rb = strchr(l, ']');
			if (rb == NULL || *trim(rb + 1) != '\0') {
				fail(err, len, "%s:%u: \"%s\": want [section]",
				    path, line, l);
				goto err;
			}
			*rb = '\0';
			if (add_section(c, trim(l + 1), line, err, len) == -1)
				goto err;
			continue;
		}
		if (add_entry(c, l, line, err, len) == -1)
			goto err;
	}
	if (ferror(f)) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		goto err;
	}
	free(buf);
	fclose(f);
	*out = c;
	return 0;
err:
	saved = errno ? errno : EINVAL;
	free(buf);
	fclose(f);
	conf_free(c);
	errno = saved;
	return -1;
}

void
conf_free(struct conf *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		for (j = 0; j < c->s[i].n; j++)
			free(c->s[i].e[j].value);
		free(c->s[i].e);
		free(c->s[i].name);
	}
	free(c->s);
	free(c->path);
	free(c);
}

static const struct conf_section *
section_find(const struct conf *c, unsigned where, const char *name)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->s[i].where == where && strcmp(c->s[i].name, name) == 0)
			return &c->s[i];
	return NULL;
}

size_t
conf_nguests(const struct conf *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		n += c->s[i].where == IN_GUEST;
	return n;
}

const char *
conf_guest_name(const struct conf *c, size_t idx)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->s[i].where == IN_GUEST && idx-- == 0)
			return c->s[i].name;
	return NULL;
}

static const char *
entry_get(const struct conf_section *s, const char *key)
{
	size_t i;

	for (i = 0; s && i < s->n; i++)
		if (strcmp(s->e[i].key->name, key) == 0)
			return s->e[i].value;
	return NULL;
}

const char *
conf_get(const struct conf *c, const char *section, const char *key)
{
	const struct conf_section *s;

	if (strcmp(section, "remus") == 0)
		s = section_find(c, IN_REMUS, section);
	else if (strcmp(section, "remusd") == 0)
		s = section_find(c, IN_REMUSD, section);
	else
		s = section_find(c, IN_GUEST, section);
	return entry_get(s, key);
}

/* ---- the command line ----------------------------------------------- */

/* What the command line holds: its operands (indices into argv), the
 * --config value, and which flags it gives (to drop the file's members of
 * their groups). */
struct scan {
	int		*operands;
	int		 noperands;
	const char	*config;
	const char	**flags;	/* "--name" or "-c", as in conf_keys */
	int		 nflags;
	int		 dashdash;	/* argv index of "--", or 0 */
};

static const struct option *
long_find(const struct option *lo, const char *name, size_t n)
{
	for (; lo->name; lo++)
		if (strlen(lo->name) == n && strncmp(lo->name, name, n) == 0)
			return lo;
	return NULL;
}

/* As getopt_long takes it: the exact name, else a unique prefix. */
static const struct option *
long_match(const struct option *lo, const char *name, size_t n)
{
	const struct option *hit = long_find(lo, name, n), *o;

	if (hit != NULL || n == 0)
		return hit;
	for (o = lo; o->name; o++)
		if (strncmp(o->name, name, n) == 0) {
			if (hit != NULL)
				return NULL;	/* ambiguous: getopt says */
			hit = o;
		}
	return hit;
}

static int
scan_args(int argc, char **argv, const char *optstring,
    const struct option *longopts, struct scan *sc)
{
	static char shorts[256][3];
	static char longs[64][40];	/* "--name" of abbreviated ones */
	size_t cap = 1, nlongs = 0;
	int i;

	memset(sc, 0, sizeof *sc);
	/* A flag per character at most (clustered short flags). */
	for (i = 1; i < argc; i++)
		cap += strlen(argv[i]) + 1;
	sc->operands = calloc((size_t)argc + 1, sizeof *sc->operands);
	sc->flags = calloc(cap, sizeof *sc->flags);
	if (sc->operands == NULL || sc->flags == NULL)
		return -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			sc->dashdash = i;
			while (++i < argc)
				sc->operands[sc->noperands++] = i;
			break;
		}
		if (strncmp(a, "--", 2) == 0) {
			const char *eq = strchr(a, '=');
			size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			const struct option *lo = long_match(longopts, a + 2, n);
			const char *val = eq ? eq + 1 : NULL;

			if (lo == NULL)
				continue;	/* getopt will say */
			/* By its full name, as conf_keys has it. */
			if (strlen(lo->name) != n && nlongs < 64 &&
			    strlen(lo->name) + 3 <= sizeof longs[0]) {
				snprintf(longs[nlongs], sizeof longs[0], "--%s",
				    lo->name);
				sc->flags[sc->nflags++] = longs[nlongs++];
			} else
				sc->flags[sc->nflags++] = a;
			if (lo->has_arg == required_argument && !eq &&
			    i + 1 < argc)
				val = argv[++i];
			if (strcmp(lo->name, "config") == 0)
				sc->config = val;
			continue;
		}
		if (a[0] == '-' && a[1] != '\0') {
			const char *p;

			for (p = a + 1; *p; p++) {
				const char *o = strchr(optstring, *p);

				shorts[(unsigned char)*p][0] = '-';
				shorts[(unsigned char)*p][1] = *p;
				sc->flags[sc->nflags++] =
				    shorts[(unsigned char)*p];
				if (o && o[1] == ':') {
					if (p[1] == '\0')
						i++;
					break;
				}
			}
			continue;
		}
		sc->operands[sc->noperands++] = i;
	}
	return 0;
}

/* Does the command line give OPT ("--name" or "-c")? */
static int
scan_has(const struct scan *sc, const char *opt)
{
	size_t n = strlen(opt);
	int i;

	for (i = 0; i < sc->nflags; i++)
		if (strncmp(sc->flags[i], opt, n) == 0 &&
		    (sc->flags[i][n] == '\0' || sc->flags[i][n] == '='))
			return 1;
	return 0;
}

static int
scan_has_group(const struct scan *sc, int group)
{
	size_t i;

	for (i = 0; group != G_NONE && i < NKEYS; i++)
		if (conf_keys[i].group == group && conf_keys[i].opt &&
		    scan_has(sc, conf_keys[i].opt))
			return 1;
	return 0;
}

static int
section_has_group(const struct conf_section *s, int group)
{
	size_t i;

	for (i = 0; s && group != G_NONE && i < s->n; i++)
		if (s->e[i].key->group == group)
			return 1;
	return 0;
}

struct argv_out {
	char	**v;
	int	  n, cap;
};

static int
push(struct argv_out *o, const char *s)
{
	char **nv;

	if (o->n + 2 > o->cap) {
		o->cap = o->cap ? o->cap * 2 : 32;
		nv = realloc(o->v, (size_t)o->cap * sizeof *nv);
		if (nv == NULL)
			return -1;
		o->v = nv;
	}
	if ((o->v[o->n] = strdup(s)) == NULL)
		return -1;
	o->n++;
	o->v[o->n] = NULL;
	return 0;
}

/* OPT once for each item of LIST (blank- or comma-separated). */
static int
push_list(struct argv_out *o, const char *opt, const char *list)
{
	static const char sep[] = " \t,";
	const char *p = list;
	char *item;
	size_t n;

	for (p += strspn(p, sep); *p; p += strspn(p, sep)) {
		n = strcspn(p, sep);
		if ((item = strndup(p, n)) == NULL)
			return -1;
		if (push(o, opt) == -1 || push(o, item) == -1) {
			free(item);
			return -1;
		}
		free(item);
		p += n;
	}
	return 0;
}

/* The flags of section S, except the members of groups that OVER (a
 * section read later) or the command line give. */
static int
push_section(struct argv_out *o, const struct conf_section *s,
    const struct conf_section *over, const struct scan *sc, unsigned drop)
{
	size_t i;
	int b, j;

	for (i = 0; s && i < s->n; i++) {
		const struct conf_entry *e = &s->e[i];
		const struct conf_key *k = e->key;

		if (k->kind != K_FLAG && k->kind != K_FLAG_IF_NO)
			continue;
		if (k->group != G_NONE && (scan_has_group(sc, k->group) ||
		    section_has_group(over, k->group) ||
		    (drop & 1u << k->group)))
			continue;
		if (k->type == T_BOOL) {
			parse_bool(e->value, &b);
			if (b == (k->kind == K_FLAG) && push(o, k->opt) == -1)
				return -1;
		} else if (k->type == T_COUNT) {
			for (j = atoi(e->value); j > 0; j--)
				if (push(o, k->opt) == -1)
					return -1;
		} else if (k->multi == M_LIST) {
			if (push_list(o, k->opt, e->value) == -1)
				return -1;
		} else if (push(o, k->opt) == -1 || push(o, e->value) == -1)
			return -1;
	}
	return 0;
}

static char **conf_argv_kept;

int
conf_apply(enum conf_prog prog, const char *optstring,
    const struct option *longopts, int *argcp, char ***argvp, char *err,
    size_t len)
{
	struct conf *c = NULL;
	struct scan sc;
	struct argv_out o = { NULL, 0, 0 };
	const struct conf_section *g = NULL, *top;
	const char *path, *v;
	char **argv = *argvp, *gv = NULL;
	int argc = *argcp, i, j, rc = -1;
	size_t k;

	if (scan_args(argc, argv, optstring, longopts, &sc) == -1) {
		snprintf(err, len, "%s", strerror(errno));
		goto out;
	}
	/* --help and --version answer whatever the file says. */
	if (scan_has(&sc, "--help") || scan_has(&sc, "-h") ||
	    scan_has(&sc, "--version")) {
		rc = 0;
		goto out;
	}
	path = sc.config;
	if (path == NULL) {
		/* The default file is optional; one named is not. */
		if (access(CONF_DEFAULT_PATH, F_OK) == -1) {
			rc = 0;
			goto out;
		}
		path = CONF_DEFAULT_PATH;
	}
	if (conf_load(path, &c, err, len) == -1)
		goto out;

	if (push(&o, argv[0]) == -1)
		goto nomem;
	if (prog == CONF_PROG_REMUS) {
		top = section_find(c, IN_REMUS, "remus");
		if (sc.noperands >= 1)
			g = section_find(c, IN_GUEST, argv[sc.operands[0]]);
		else if (conf_nguests(c) == 1)
			g = section_find(c, IN_GUEST, conf_guest_name(c, 0));
		else if (conf_nguests(c) > 1) {
			fail(err, len, "%s: %zu [guest] sections: name the "
			    "guest to protect", c->path, conf_nguests(c));
			goto out;
		}
		if (push_section(&o, top, g, &sc, 0) == -1 ||
		    push_section(&o, g, NULL, &sc, 0) == -1)
			goto nomem;
		/* The guest is announced under its section's name, the one
		 * remusd's [guest NAME] (--guest NAME=...) knows it by, where
		 * remus has --name and the command line does not give one. */
		if (g && long_find(longopts, "name", 4) != NULL &&
		    !scan_has(&sc, "--name") && (push(&o, "--name") == -1 ||
		    push(&o, g->name) == -1))
			goto nomem;
	} else {
		top = section_find(c, IN_REMUSD, "remusd");
		/* --receive talks over its starter's channel: the file's
		 * --listen and its credentials are not for it. */
		if (push_section(&o, top, NULL, &sc, scan_has(&sc,
		    "--receive") ? 1u << G_MODE | 1u << G_CHANNEL : 0) == -1)
			goto nomem;
		for (k = 0; k < c->n; k++) {
			const struct conf_section *s = &c->s[k];
			size_t e;

			for (e = 0; s->where == IN_GUEST && e < s->n; e++) {
				const struct conf_key *ky = s->e[e].key;
				const char *val = s->e[e].value, *eq;
				int r;

				if (ky->kind != K_COMMAND &&
				    ky->kind != K_GUEST_DISK &&
				    ky->kind != K_GUEST_SYNC &&
				    ky->kind != K_GUEST_PEER &&
				    ky->kind != K_GUEST_FENCE)
					continue;
				/* Peers are TLS identities: a remusd told on
				 * its command line to run without TLS (ssh's
				 * --receive, --insecure) has none to check,
				 * and refuses --guest-peer; the file's are for
				 * its --listen with credentials. */
				if (ky->kind == K_GUEST_PEER &&
				    (scan_has(&sc, "--receive") ||
				    scan_has(&sc, "--insecure")))
					continue;
				if (long_find(longopts, ky->opt + 2,
				    strlen(ky->opt + 2)) == NULL) {
					fail(err, len, "%s:%u: %s: this remusd "
					    "has no %s to take it", c->path,
					    s->e[e].line, ky->name, ky->opt);
					goto out;
				}
				/* The guest's own: NAME=COMMAND, NAME=ADDR,
				 * NAME=FENCE, NAME=MS, NAME:DISK=IMAGE, or NAME:=IMAGE for its one
				 * unnamed disk (what precedes '=' in a value
				 * with a '/' is part of the path). */
				eq = strchr(val, '=');
				if (ky->kind == K_GUEST_DISK && (eq == NULL ||
				    memchr(val, '/', (size_t)(eq - val)) != NULL))
					r = asprintf(&gv, "%s:=%s", s->name, val);
				else
					r = asprintf(&gv, "%s%c%s", s->name,
					    ky->kind == K_GUEST_DISK ? ':' : '=',
					    val);
				if (r < 0) {
					gv = NULL;
					goto nomem;
				}
				if (push(&o, ky->opt) == -1 ||
				    push(&o, gv) == -1)
					goto nomem;
				free(gv);
				gv = NULL;
			}
		}
	}
	/* The command line; with a guest section, its operands go last,
	 * the guest's name replaced by its domain, after a "--" (a domain
	 * spec or a backup command may start with '-'). */
	for (i = 1; i < argc; i++) {
		int operand = i == sc.dashdash;

		for (j = 0; g && j < sc.noperands; j++)
			operand |= i == sc.operands[j];
		if (g && operand)
			continue;
		if (push(&o, argv[i]) == -1)
			goto nomem;
	}
	if (g) {
		v = entry_get(g, "domain");
		if (push(&o, "--") == -1 || push(&o, v ? v : g->name) == -1)
			goto nomem;
		for (j = 1; j < sc.noperands; j++)
			if (push(&o, argv[sc.operands[j]]) == -1)
				goto nomem;
		v = entry_get(g, "backup");
		if (sc.noperands < 2 && v && push(&o, v) == -1)
			goto nomem;
	}
	*argcp = o.n;
	*argvp = o.v;
	/* It lives as long as the program, like the argv it replaces. */
	conf_argv_kept = o.v;
	o.v = NULL;
	rc = 0;
	goto out;
nomem:
	snprintf(err, len, "%s", strerror(ENOMEM));
out:
	free(gv);
	if (o.v) {
		for (i = 0; i < o.n; i++)
			free(o.v[i]);
		free(o.v);
	}
	free(sc.operands);
	free(sc.flags);
	conf_free(c);
	return rc;
}
