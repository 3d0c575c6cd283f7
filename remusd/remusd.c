/* remusd/remusd.c -- remusd(8): the backup end of remus.
 *
 * remusd --receive serves one protected guest on stdin/stdout (started by
 * remus -s, as xl migrate-receive -r is started by xl remus).  remusd
 * --listen ADDR[:PORT] accepts TCP connections from remus, one protected
 * guest per connection, all in one EV_DEFAULT loop.  Each stream is a
 * struct backup (checkpoint/backup.c); this file only wires it up.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#define LOG_PREFIX ""
#include "backup.h"
#include "caps.h"
#include "compiler.h"
#include "devices.h"
#include "domain.h"
#include "fault.h"
#include "log.h"
#include "peer.h"
#include "tls.h"
#include "transport.h"
#include "uri.h"
#include "util.h"

/* Exit statuses (documented in --help and remusd.8). */
#define EXIT_OK		0	/* clean END from the primary, or a signal */
#define EXIT_USAGE	1
#define EXIT_CONFIG	2	/* state directory, listen address or TLS
				 * credentials unusable */
#define EXIT_NOTHING	3	/* stream lost before any epoch committed */
#define EXIT_FAILOVER	4	/* failed over: guest activated */
#define EXIT_FAILED	5	/* failover failed, or internal error */
#define EXIT_PASSIVE	6	/* primary lost but not activated: not fenced
				 * within the window, or stood down */

#define STATEDIR_DEFAULT	"/var/lib/remus"

/* A TLS client has this long to finish its handshake, and at most this
 * many may be at it at once: a slow or hostile one cannot hold the
 * listener, nor pile up sessions. */
#define HANDSHAKE_TIMEOUT_MS	10000
#define HANDSHAKE_MAX		64

enum {
	OPT_RECEIVE = 256, OPT_LISTEN, OPT_TIMEOUT, OPT_NO_ACTIVATE, OPT_DISK,
	OPT_VERSION, OPT_FENCE, OPT_NO_FENCE, OPT_FENCE_TIMEOUT,
	OPT_PSK_FILE, OPT_TLS_CREDS, OPT_INSECURE,
	/* Issue 13: the link's management surface. */
	OPT_DEVICE_TOOL, OPT_DEVICE_TOOL_TIMEOUT, OPT_CAPABILITIES, OPT_DNAME,
};

static const struct option longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, OPT_VERSION },
	{ "receive",		no_argument,		NULL, OPT_RECEIVE },
	{ "listen",		required_argument,	NULL, OPT_LISTEN },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "no-activate",	no_argument,		NULL, OPT_NO_ACTIVATE },
	{ "disk",		required_argument,	NULL, OPT_DISK },
	{ "fence",		required_argument,	NULL, OPT_FENCE },
	{ "no-fence",		no_argument,		NULL, OPT_NO_FENCE },
	{ "fence-timeout",	required_argument,	NULL, OPT_FENCE_TIMEOUT },
	{ "psk-file",		required_argument,	NULL, OPT_PSK_FILE },
	{ "tls-creds",		required_argument,	NULL, OPT_TLS_CREDS },
	{ "insecure",		no_argument,		NULL, OPT_INSECURE },
	{ "device-tool",	required_argument,	NULL, OPT_DEVICE_TOOL },
	{ "device-tool-timeout", required_argument,	NULL,
	    OPT_DEVICE_TOOL_TIMEOUT },
	{ "capabilities",	no_argument,		NULL, OPT_CAPABILITIES },
	{ "dname",		required_argument,	NULL, OPT_DNAME },
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
"usage: remusd [-dnv] [-D statedir] [-t ms] [--timeout ms] [--no-activate]\n"
"              [--disk image] --fence cmd [--fence-timeout ms] | --no-fence\n"
"              --receive |\n"
"              --listen addr[:port] --psk-file file | --tls-creds dir |\n"
"              --insecure\n"
"              [--device-tool type=path ...] [--device-tool-timeout ms]\n"
"              [--dname name]\n"
"       remusd --capabilities\n";

static const char help_text[] =
"The backup end of remus: hold a replica of a protected guest, commit\n"
"each complete epoch, and activate the guest when the primary is lost.\n"
"\n"
"  --receive         one guest on stdin/stdout (remus -s starts it so)\n"
"  --listen addr[:port]  accept remus over TCP (default port 5270; \"*\"\n"
"                    or \":port\" for every address), one guest per connection;\n"
"                    also tcp://addr:port/, or tls://addr:port/ (TLS required)\n"
"  --psk-file file   TLS 1.3 with pre-shared keys: \"identity:hexkey\" lines\n"
"                    (psktool's format), one per primary allowed in\n"
"  --tls-creds dir   TLS 1.3 with X.509 certificates: dir holds ca-cert.pem,\n"
"                    server-cert.pem, server-key.pem; primaries must show a\n"
"                    client certificate signed by that CA\n"
"  --insecure        --listen without TLS: anyone who reaches the port can\n"
"                    replicate here, and the stream crosses in clear\n"
"  -D statedir       replica files (default " STATEDIR_DEFAULT ")\n"
"  -t ms, --timeout ms   primary silent this long counts as lost (default\n"
"                    1000)\n"
"  --no-activate     on failover keep the replica but do not start the guest\n"
"  --fence cmd       run cmd (/bin/sh -c) to fence a lost primary before\n"
"                    activating; only exit status 0 means fenced\n"
"  --fence-timeout ms  longest a fence may take, F (default 10000)\n"
"  --no-fence        activate without fencing (during a partition both\n"
"                    copies may run); one of --fence and --no-fence is\n"
"                    required\n"
"  --disk image      the backup's copy of a replicated disk\n"
"  --device-tool type=path  an external device tool (repeatable): at\n"
"                    failover, before the guest starts, \"path -type type\n"
"                    -step activate -host primary -domname name\"; failing,\n"
"                    the failover fails (type=coproc:path: one line)\n"
"  --device-tool-timeout ms  longest it may take (default 2000)\n"
"  -d                log to stderr even when it is not a terminal (remusd\n"
"                    always stays in the foreground)\n"
"  -e                xl's flag: refused, with one line saying why\n"
"  -n                check the configuration, finish or drop a commit a\n"
"                    crash interrupted in the state directory, and exit\n"
"  -v                more verbose (repeat for more)\n"
"  --dname name      the name an activated guest gets (Xen: instead of its\n"
"                    own; proc: logged and pidfile'd as statedir/name.pid);\n"
"                    with --listen a second concurrent guest gets name-2 ...\n"
"  --capabilities    what this build can do, as JSON, and exit\n"
"  -h, --help        this text;  --version  the version\n"
"\n"
"Environment: REMUS_FAULT, REMUS_FAULT_EPOCH (fault injection, tests).\n"
"\n"
"Exit status (--receive; --listen exits 0 on a signal):\n"
"  0  the primary ended protection cleanly (END): not activated\n"
"  1  usage error (bad flag or argument)\n"
"  2  state directory, listen address or TLS credentials unusable\n"
"  3  stream lost before any epoch was committed: nothing to activate\n"
"  4  primary lost: failed over, guest activated from the last epoch\n"
"  5  failover failed, or internal error\n"
"  6  primary lost but not activated (not fenced within the window, or\n"
"     stood down)\n";

struct session {
	struct remusd	*d;
	struct backup	*b;
	struct tls	*tls;		/* NULL: --insecure or --receive */
	struct session	*next;
	char		*dir;		/* its replica directory, if not -D's */
	char		*dname;		/* --dname NAME-N, if not NAME */
	int		 over;
};

/* An accepted TLS connection until its handshake is done. */
struct handshake {
	struct remusd	*d;
	struct handshake *next;
	int		 fd;
	struct tls	*tls;
	ev_io		 io;
	ev_timer	 deadline;
	char		 peer[NI_MAXHOST + NI_MAXSERV + 4];
};

struct remusd {
	struct ev_loop	*loop;
	struct backup_config cfg;
	struct remus_devopts dopts;
	int		 receive;
	int		 listen_fd;
	ev_io		 accept_io;
	ev_signal	 sigint, sigterm, sigquit, sigusr1;
	ev_check	 reap;		/* frees finished sessions */
	struct session	*sessions;
	struct tls_creds *creds;	/* NULL: --insecure */
	struct handshake *handshakes;
	unsigned	 nhandshakes;
	enum backup_result last;
	int		 stopping;
	unsigned	 nguests;	/* sessions ever started */
};

/* One line naming what was wrong (getopt has printed its own for a bad
 * flag), status 1. */
static __dead void usage(const char *fmt, ...) __printf(1, 2);

static __dead void
usage(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fputs("remusd: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputs(" (see remusd --help)\n", stderr);
	}
	exit(EXIT_USAGE);
}

static int
exit_status(enum backup_result r)
{
	switch (r) {
	case BACKUP_END:		return EXIT_OK;
	case BACKUP_FAILED_OVER:	return EXIT_FAILOVER;
	case BACKUP_NOTHING:		return EXIT_NOTHING;
	case BACKUP_PASSIVE:
	case BACKUP_STOOD_DOWN:		return EXIT_PASSIVE;
	case BACKUP_RUNNING:
	case BACKUP_FAILOVER_FAILED:	break;
	}
	return EXIT_FAILED;
}

/* A session finished (called from inside its callbacks: free it later,
 * from the ev_check watcher). */
static void
session_done(struct backup *b, enum backup_result r, void *arg)
{
	struct session *s = arg;
	struct remusd *d = s->d;

	log_info("%s: session over: %s, last committed epoch %" PRIu64,
	    backup_peer(b), backup_result_str(r), backup_committed(b));
	s->over = 1;
	d->last = r;
	ev_check_start(d->loop, &d->reap);
	if (d->receive)
		ev_break(d->loop, EVBREAK_ALL);
}

static void
session_free(struct session *s)
{
	backup_free(s->b);	/* closes the fd the TLS session ran on */
	tls_free(s->tls);
	free(s->dir);
	free(s->dname);
	free(s);
}

static void
reap_sessions(struct remusd *d)
{
	struct session **sp = &d->sessions, *s;

	while ((s = *sp) != NULL) {
		if (s->over) {
			*sp = s->next;
			session_free(s);
		} else
			sp = &s->next;
	}
	ev_check_stop(d->loop, &d->reap);
}

static void
reap_cb(struct ev_loop *loop __unused, ev_check *w, int revents __unused)
{
	reap_sessions(container_of(w, struct remusd, reap));
}

/* Serve one primary on RFD/WFD (taken over), through TLS (taken over
 * too) unless it is NULL. */
static int
session_start(struct remusd *d, int rfd, int wfd, const char *peer,
    struct tls *tls)
{
	struct session *s;

	struct backup_config cfg = d->cfg;
	struct remus_devopts dopts = d->dopts;
	struct session *t;
	int busy = 0;

	s = calloc(1, sizeof *s);
	if (s == NULL)
		goto err;
	s->d = d;
	s->tls = tls;
	if (tls != NULL) {
		cfg.io = &peer_io_tls;
		cfg.io_ctx = tls;
	}
	/* One guest per connection: while one is protected here, the next
	 * gets a directory of its own, STATEDIR/guest-N. */
	for (t = d->sessions; t; t = t->next)
		busy += !t->over;
	d->nguests++;
	if (busy) {
		if (asprintf(&s->dir, "%s/guest-%u", d->cfg.state_dir,
		    d->nguests) < 0) {
			s->dir = NULL;
			goto err;
		}
		cfg.state_dir = dopts.state_dir = s->dir;
		log_info("%s: replica in %s", peer, s->dir);
		/* Two guests activated under one --dname would clash. */
		if (d->cfg.dname != NULL) {
			if (asprintf(&s->dname, "%s-%u", d->cfg.dname,
			    d->nguests) < 0) {
				s->dname = NULL;
				goto err;
			}
			cfg.dname = dopts.domname = s->dname;
		}
	}
	s->b = backup_new(d->loop, rfd, wfd, &cfg, session_done, s);
	if (s->b == NULL)
		goto err;
	backup_set_peer(s->b, peer);
	if (dev_diskbuf_backup_attach(s->b, &dopts) == -1 ||
	    dev_tool_backup_attach(s->b, &dopts) == -1) {
		log_warnx("%s: device setup failed", peer);
		session_free(s);
		return -1;
	}
	s->next = d->sessions;
	d->sessions = s;
	log_info("%s: connected", peer);
	return backup_start(s->b);
err:
	log_warn("%s: session", peer);
	if (s) {
		free(s->dir);
		free(s->dname);
	}
	free(s);
	tls_free(tls);
	close(rfd);
	if (wfd != rfd)
		close(wfd);
	return -1;
}

/* ---- TLS handshakes, one watcher and one deadline each ---------------- */

static void
handshake_free(struct handshake *h, int close_fd)
{
	struct remusd *d = h->d;
	struct handshake **hp;

	ev_io_stop(d->loop, &h->io);
	ev_timer_stop(d->loop, &h->deadline);
	for (hp = &d->handshakes; *hp; hp = &(*hp)->next)
		if (*hp == h) {
			*hp = h->next;
			break;
		}
	d->nhandshakes--;
	if (close_fd) {
		tls_free(h->tls);
		close(h->fd);
	}
	free(h);
}

/* Drive H's handshake one step; on success the session starts. */
static void
handshake_step(struct handshake *h)
{
	struct remusd *d = h->d;
	int rc, events;

	rc = tls_handshake(h->tls);
	if (rc == -1) {
		/* tls_handshake said why, with the peer's address; nothing
		 * was created for it. */
		handshake_free(h, 1);
		return;
	}
	if (rc == TLS_DONE) {
		struct tls *tls = h->tls;
		char peer[sizeof h->peer];
		int fd = h->fd;

		snprintf(peer, sizeof peer, "%s", h->peer);
		log_info("%s: TLS 1.3, authenticated %s", peer,
		    tls_peer_name(tls));
		handshake_free(h, 0);
		session_start(d, fd, fd, peer, tls);
		return;
	}
	events = rc == TLS_WANT_WRITE ? EV_WRITE : EV_READ;
	if ((h->io.events & (EV_READ | EV_WRITE)) != events) {
		ev_io_stop(d->loop, &h->io);
		ev_io_set(&h->io, h->fd, events);
		ev_io_start(d->loop, &h->io);
	}
}

static void
handshake_io_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	handshake_step(container_of(w, struct handshake, io));
}

static void
handshake_deadline_cb(struct ev_loop *loop __unused, ev_timer *w,
    int revents __unused)
{
	struct handshake *h = container_of(w, struct handshake, deadline);

	log_warnx("TLS handshake with %s failed: not done in %u ms", h->peer,
	    HANDSHAKE_TIMEOUT_MS);
	handshake_free(h, 1);
}

static void
handshake_start(struct remusd *d, int fd, const char *peer)
{
	struct handshake *h;

	if (d->nhandshakes >= HANDSHAKE_MAX) {
		log_warnx("%s: refused: %u TLS handshakes already under way",
		    peer, d->nhandshakes);
		close(fd);
		return;
	}
	h = calloc(1, sizeof *h);
	if (h == NULL) {
		log_warn("%s: TLS handshake", peer);
		close(fd);
		return;
	}
	h->d = d;
	h->fd = fd;
	snprintf(h->peer, sizeof h->peer, "%s", peer);
	h->tls = tls_new(d->creds, fd, fd, peer, NULL);
	if (h->tls == NULL) {
		close(fd);
		free(h);
		return;
	}
	h->next = d->handshakes;
	d->handshakes = h;
	d->nhandshakes++;
	ev_io_init(&h->io, handshake_io_cb, fd, EV_READ);
	ev_io_start(d->loop, &h->io);
	ev_timer_init(&h->deadline, handshake_deadline_cb,
	    HANDSHAKE_TIMEOUT_MS / 1000., 0.);
	ev_timer_start(d->loop, &h->deadline);
	handshake_step(h);
}

static void
accept_conn(struct remusd *d)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[NI_MAXHOST], serv[NI_MAXSERV], peer[NI_MAXHOST + NI_MAXSERV + 4];
	int fd;

	fd = accept4(d->listen_fd, (struct sockaddr *)&ss, &len,
	    SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("accept");
		return;
	}
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv,
	    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(peer, sizeof peer, "fd %d", fd);
	else
		snprintf(peer, sizeof peer, "%s:%s", host, serv);
	transport_tcp_tune(fd);
	if (d->creds != NULL) {
		handshake_start(d, fd, peer);
		return;
	}
	log_warnx("%s: insecure connection (--insecure): the peer is not "
	    "authenticated and the stream crosses in clear", peer);
	session_start(d, fd, fd, peer, NULL);
}

static void
accept_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	accept_conn(container_of(w, struct remusd, accept_io));
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents __unused)
{
	log_info("%s: exiting without activating", strsignal(w->signum));
	ev_break(loop, EVBREAK_ALL);
}

/* SIGUSR1: one line per session, nothing else. */
static void
status_cb(struct ev_loop *loop __unused, ev_signal *w, int revents __unused)
{
	struct remusd *d = w->data;
	struct session *s;
	int n = 0;

	for (s = d->sessions; s; s = s->next, n++)
		log_info("status: %s: %s, last committed epoch %" PRIu64,
		    backup_peer(s->b), s->over ? "over" : "receiving",
		    backup_committed(s->b));
	if (n == 0)
		log_info("status: no session");
}

/* --dname: a name every driver, a pidfile and a shell take as it is. */
static int
dname_check(const char *n)
{
	size_t i, len = strlen(n);

	if (len == 0 || len > 63 || n[0] == '.' || n[0] == '-')
		return -1;
	for (i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') ||
		    (n[i] >= 'A' && n[i] <= 'Z') ||
		    (n[i] >= '0' && n[i] <= '9') || n[i] == '.' ||
		    n[i] == '_' || n[i] == '-'))
			return -1;
	return 0;
}

static int
check_statedir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("state directory %s", dir);
		return -1;
	}
	/* mkdir's EEXIST is still in errno for a file of that name: say
	 * what is wrong with it instead. */
	if (stat(dir, &st) == -1)
		goto err;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto err;
	}
	if (access(dir, W_OK | X_OK) == -1)
		goto err;
	return 0;
err:
	log_warn("state directory %s", dir);
	return -1;
}

/* A remusd killed mid-commit left its replicas as they were: finish or
 * drop those commits now, before anything offers or activates them (and
 * before anyone starts a guest from them by hand).  DIR and the
 * guest-N directories of concurrent sessions. */
static int
recover_statedir(const char *dir)
{
	glob_t g;
	char *pat;
	size_t i;
	int rc;

	rc = replica_recover_dir(dir);
	if (asprintf(&pat, "%s/guest-*", dir) == -1)
		return -1;
	if (glob(pat, GLOB_ONLYDIR | GLOB_NOSORT, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++)
			if (replica_recover_dir(g.gl_pathv[i]) == -1)
				rc = -1;
		globfree(&g);
	}
	free(pat);
	return rc;
}

int
main(int argc, char **argv)
{
	struct remusd d;
	const char *listen_addr = NULL, *psk_file = NULL, *tls_dir = NULL;
	uint64_t v;
	char hbuf[256], pbuf[16];
	int ch, receive = 0, config_test = 0, verbose = 0, foreground = 0;
	int status, no_fence = 0, insecure = 0;
	static const char *tools[DEVICE_TOOLS_MAX + 1];
	size_t ntools = 0;
	const char *tool;

	memset(&d, 0, sizeof d);
	d.listen_fd = -1;
	d.cfg.state_dir = STATEDIR_DEFAULT;
	d.cfg.timeout_ms = 1000;
	d.cfg.fence_ms = 10000;

	while ((ch = getopt_long(argc, argv, "D:dehnt:v", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'D':
			d.cfg.state_dir = optarg;
			break;
		case 'd':
			foreground = 1;
			break;
		case 'e':
			usage("-e: not supported: an activated Xen guest "
			    "always gets a guardian that carries out its "
			    "on_poweroff/on_reboot (docs/xen.md)");
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			return EXIT_OK;
		case 'n':
			config_test = 1;
			break;
		case 't':
		case OPT_TIMEOUT:
			if (parse_uint(optarg, 50, 3600000, &v) == -1)
				usage("timeout %s: want milliseconds in "
				    "50..3600000", optarg);
			d.cfg.timeout_ms = (uint32_t)v;
			break;
		case 'v':
			verbose++;
			break;
		case OPT_RECEIVE:
			receive = 1;
			break;
		case OPT_LISTEN:
			listen_addr = optarg;
			break;
		case OPT_NO_ACTIVATE:
			d.cfg.no_activate = 1;
			break;
		case OPT_DISK:
			d.dopts.disk_image = d.cfg.disk_image = optarg;
			break;
		case OPT_FENCE:
			d.cfg.fence_cmd = optarg;
			break;
		case OPT_NO_FENCE:
			no_fence = 1;
			break;
		case OPT_FENCE_TIMEOUT:
			if (parse_uint(optarg, 1, 3600000, &v) == -1)
				usage("--fence-timeout %s: want milliseconds in "
				    "1..3600000", optarg);
			d.cfg.fence_ms = (uint32_t)v;
			break;
		case OPT_PSK_FILE:
			psk_file = optarg;
			break;
		case OPT_TLS_CREDS:
			tls_dir = optarg;
			break;
		case OPT_INSECURE:
			insecure = 1;
			break;
		case OPT_DEVICE_TOOL:
			if (ntools == DEVICE_TOOLS_MAX)
				usage("--device-tool: at most %d tools",
				    DEVICE_TOOLS_MAX);
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				usage("--device-tool %s: want TYPE=PATH",
				    optarg);
			/* A typo is said now, not at attach or failover. */
			tool = strchr(optarg, '=') + 1;
			if (strncmp(tool, "coproc:", 7) == 0)
				tool += 7;
			if (access(tool, X_OK) == -1)
				usage("--device-tool %s: %s: not an executable "
				    "file (%s)", optarg, tool, strerror(errno));
			tools[ntools++] = optarg;
			break;
		case OPT_DNAME:
			if (dname_check(optarg) == -1)
				usage("--dname %s: want 1..63 letters, digits, "
				    "'.', '_' or '-', not starting with '.' or "
				    "'-'", optarg);
			d.cfg.dname = d.dopts.domname = optarg;
			break;
		case OPT_DEVICE_TOOL_TIMEOUT:
			if (parse_uint(optarg, 1, 3600000, &v) == -1)
				usage("--device-tool-timeout %s: want "
				    "milliseconds in 1..3600000", optarg);
			d.dopts.device_tool_timeout_ms = (uint32_t)v;
			break;
		case OPT_CAPABILITIES:
			return caps_print(stdout, "remusd") == 0 ? EXIT_OK :
			    EXIT_FAILED;
		case OPT_VERSION:
			printf("remusd %s\n", REMUS_VERSION);
			return EXIT_OK;
		default:
			usage(NULL);
		}
	}
	if (optind < argc)
		usage("unexpected argument \"%s\"", argv[optind]);
	if (receive == (listen_addr != NULL))
		usage("give exactly one of --receive and --listen");
	/* --listen takes remus's address forms where they mean a listener
	 * (checkpoint/uri.h): addr[:port], tcp://, and tls://, which
	 * insists on credentials; an ssh:// backup is --receive. */
	if (listen_addr) {
		static char laddr[URI_HOST_MAX + 16];
		char uerr[URI_ERR_MAX];
		struct uri lu;

		if (uri_parse(listen_addr, URI_EMPTY_HOST, &lu, uerr,
		    sizeof uerr) == -1)
			usage("--listen %s: %s", listen_addr, uerr);
		if (lu.scheme == URI_SSH)
			usage("--listen %s: ssh starts remusd --receive itself"
			    " (remus ssh://...): nothing to listen for",
			    listen_addr);
		if (lu.scheme == URI_TLS && (insecure || (!psk_file &&
		    !tls_dir)))
			usage("--listen %s: tls:// needs --psk-file or "
			    "--tls-creds, not --insecure", listen_addr);
		if (lu.scheme != URI_BARE) {
			if (uri_addr(&lu, laddr, sizeof laddr) == -1)
				usage("--listen %s: too long", listen_addr);
			listen_addr = laddr;
		}
	}
	if (listen_addr && transport_parse_addr(listen_addr, hbuf, sizeof hbuf,
	    pbuf, sizeof pbuf) == -1)
		usage("--listen %s: want addr[:port] with a port in 1..65535",
		    listen_addr);
	/* B5: running without a fence is a decision, said out loud. */
	if (d.cfg.fence_cmd == NULL && !no_fence)
		usage("no --fence command: give --fence CMD to fence a lost "
		    "primary before activating, or --no-fence to activate "
		    "without");
	if (d.cfg.fence_cmd != NULL && no_fence)
		usage("--fence and --no-fence exclude each other");
	if (psk_file && tls_dir)
		usage("--psk-file and --tls-creds exclude each other");
	if (insecure && (psk_file || tls_dir))
		usage("--insecure and --%s exclude each other",
		    psk_file ? "psk-file" : "tls-creds");
	if (receive && (psk_file || tls_dir || insecure))
		usage("--receive talks over the channel of the command that "
		    "started it (ssh): no --psk-file, --tls-creds or "
		    "--insecure");
	if (listen_addr && !psk_file && !tls_dir && !insecure)
		usage("--listen without TLS credentials (--psk-file or "
		    "--tls-creds) would accept anyone: give --insecure to "
		    "mean it");

	log_init("remusd", foreground, verbose);
	if (fault_init() == -1) {
		fprintf(stderr, "remusd: REMUS_FAULT=%s: unknown fault name\n",
		    getenv("REMUS_FAULT") ? getenv("REMUS_FAULT") : "");
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if (check_statedir(d.cfg.state_dir) == -1 ||
	    recover_statedir(d.cfg.state_dir) == -1)
		return EXIT_CONFIG;
	if (psk_file)
		d.creds = tls_creds_psk(psk_file, TLS_SERVER, NULL);
	else if (tls_dir)
		d.creds = tls_creds_x509(tls_dir, TLS_SERVER);
	if ((psk_file || tls_dir) && d.creds == NULL)
		return EXIT_CONFIG;	/* tls_creds_* said why */
	if (listen_addr) {
		d.listen_fd = transport_tcp_listen(listen_addr);
		if (d.listen_fd == -1)
			return EXIT_CONFIG;
	}
	if (config_test) {
		fprintf(stderr, "remusd: configuration OK (state directory %s,"
		    " %s%s%s, timeout %u ms)\n", d.cfg.state_dir,
		    receive ? "--receive" : "--listen ",
		    receive ? "" : listen_addr, receive ? "" : d.creds ?
		    (tls_dir ? " with TLS x509" : " with TLS psk") :
		    " insecure", d.cfg.timeout_ms);
		if (d.listen_fd >= 0)
			close(d.listen_fd);
		tls_creds_free(d.creds);
		return EXIT_OK;
	}

	/* B5: said once the service starts (and at every failover, by the
	 * policy). */
	if (no_fence)
		log_warnx("--no-fence: a lost primary is not fenced before "
		    "activation; during a partition both copies may run");
	d.loop = EV_DEFAULT;
	d.receive = receive;
	d.dopts.loop = d.loop;
	d.dopts.state_dir = d.cfg.state_dir;
	d.dopts.device_tools = tools;
	ev_check_init(&d.reap, reap_cb);
	ev_signal_init(&d.sigint, signal_cb, SIGINT);
	ev_signal_init(&d.sigterm, signal_cb, SIGTERM);
	ev_signal_init(&d.sigquit, signal_cb, SIGQUIT);
	ev_signal_init(&d.sigusr1, status_cb, SIGUSR1);
	d.sigusr1.data = &d;
	ev_signal_start(d.loop, &d.sigint);
	ev_signal_start(d.loop, &d.sigterm);
	ev_signal_start(d.loop, &d.sigquit);
	ev_signal_start(d.loop, &d.sigusr1);
	/* A closed terminal or a stray signal changes nothing. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);

	if (receive) {
		int rfd = fcntl(0, F_DUPFD_CLOEXEC, 3);
		int wfd = fcntl(1, F_DUPFD_CLOEXEC, 3);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* The stream leaves fd 0 and 1, so that an activated guest
		 * (a child) cannot hold the channel open or write into it. */
		if (rfd == -1 || wfd == -1 || nul == -1) {
			log_warn("stdin/stdout");
			return EXIT_FAILED;
		}
		dup2(nul, 0);
		dup2(nul, 1);
		close(nul);
		d.last = BACKUP_RUNNING;
		if (session_start(&d, rfd, wfd, "stdin", NULL) == -1)
			return EXIT_FAILED;
	} else {
		ev_io_init(&d.accept_io, accept_cb, d.listen_fd, EV_READ);
		ev_io_start(d.loop, &d.accept_io);
		log_info("listening on %s (%s), state directory %s",
		    listen_addr, d.creds == NULL ? "INSECURE: no TLS" :
		    tls_dir ? "TLS 1.3, X.509" : "TLS 1.3, PSK",
		    d.cfg.state_dir);
	}
	ev_run(d.loop, 0);

	status = receive ? exit_status(d.last) : EXIT_OK;
	if (receive && d.last == BACKUP_RUNNING)
		status = EXIT_OK;	/* a signal */
	reap_sessions(&d);
	while (d.sessions) {
		struct session *s = d.sessions;

		d.sessions = s->next;
		session_free(s);
	}
	while (d.handshakes)
		handshake_free(d.handshakes, 1);
	tls_creds_free(d.creds);
	if (d.listen_fd >= 0)
		close(d.listen_fd);
	return status;
}
