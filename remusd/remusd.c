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
#include "compiler.h"
#include "devices.h"
#include "fault.h"
#include "log.h"
#include "transport.h"
#include "util.h"

/* Exit statuses (documented in --help and remusd.8). */
#define EXIT_OK		0	/* clean END from the primary, or a signal */
#define EXIT_USAGE	1
#define EXIT_CONFIG	2	/* state directory or listen address unusable */
#define EXIT_NOTHING	3	/* stream lost before any epoch committed */
#define EXIT_FAILOVER	4	/* failed over: guest activated */
#define EXIT_FAILED	5	/* failover failed, or internal error */
#define EXIT_PASSIVE	6	/* primary lost but not activated: not fenced
				 * within the window, or stood down */

#define STATEDIR_DEFAULT	"/var/lib/remus"

enum {
	OPT_RECEIVE = 256, OPT_LISTEN, OPT_TIMEOUT, OPT_NO_ACTIVATE, OPT_DISK,
	OPT_VERSION, OPT_FENCE, OPT_NO_FENCE, OPT_FENCE_TIMEOUT,
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
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
"usage: remusd [-denv] [-D statedir] [-t ms] [--timeout ms] [--no-activate]\n"
"              [--disk image] --fence cmd [--fence-timeout ms] | --no-fence\n"
"              --receive | --listen addr[:port]\n";

static const char help_text[] =
"The backup end of remus: hold a replica of a protected guest, commit\n"
"each complete epoch, and activate the guest when the primary is lost.\n"
"\n"
"  --receive         one guest on stdin/stdout (remus -s starts it so)\n"
"  --listen addr[:port]  accept remus over TCP (default port 5270; \"*\"\n"
"                    or \":port\" for every address), one guest per connection\n"
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
"  -d, -e            stay in the foreground, log to stderr (always so with\n"
"                    --receive)\n"
"  -n                check the configuration and exit\n"
"  -v                more verbose (repeat for more)\n"
"  -h, --help        this text;  --version  the version\n"
"\n"
"Environment: REMUS_FAULT, REMUS_FAULT_EPOCH (fault injection, tests).\n"
"\n"
"Exit status (--receive; --listen exits 0 on a signal):\n"
"  0  the primary ended protection cleanly (END): not activated\n"
"  1  usage error (bad flag or argument)\n"
"  2  state directory or listen address unusable\n"
"  3  stream lost before any epoch was committed: nothing to activate\n"
"  4  primary lost: failed over, guest activated from the last epoch\n"
"  5  failover failed, or internal error\n"
"  6  primary lost but not activated (not fenced within the window, or\n"
"     stood down)\n";

struct session {
	struct remusd	*d;
	struct backup	*b;
	struct session	*next;
	char		*dir;		/* its replica directory, if not -D's */
	int		 over;
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
reap_sessions(struct remusd *d)
{
	struct session **sp = &d->sessions, *s;

	while ((s = *sp) != NULL) {
		if (s->over) {
			*sp = s->next;
			backup_free(s->b);
			free(s->dir);
			free(s);
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

static int
session_start(struct remusd *d, int rfd, int wfd, const char *peer)
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
	}
	s->b = backup_new(d->loop, rfd, wfd, &cfg, session_done, s);
	if (s->b == NULL)
		goto err;
	backup_set_peer(s->b, peer);
	if (dev_diskbuf_backup_attach(s->b, &dopts) == -1) {
		log_warnx("%s: disk device setup failed", peer);
		backup_free(s->b);
		free(s->dir);
		free(s);
		return -1;
	}
	s->next = d->sessions;
	d->sessions = s;
	log_info("%s: connected", peer);
	return backup_start(s->b);
err:
	log_warn("%s: session", peer);
	if (s)
		free(s->dir);
	free(s);
	close(rfd);
	if (wfd != rfd)
		close(wfd);
	return -1;
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
	session_start(d, fd, fd, peer);
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

static int
check_statedir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("state directory %s", dir);
		return -1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    access(dir, W_OK | X_OK) == -1) {
		if (errno == 0)
			errno = ENOTDIR;
		log_warn("state directory %s", dir);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct remusd d;
	const char *listen_addr = NULL;
	uint64_t v;
	int ch, receive = 0, config_test = 0, verbose = 0, status;
	int no_fence = 0;

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
		case 'e':
			break;		/* foreground is the only mode */
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
	/* B5: running without a fence is a decision, said out loud. */
	if (d.cfg.fence_cmd == NULL && !no_fence)
		usage("no --fence command: give --fence CMD to fence a lost "
		    "primary before activating, or --no-fence to activate "
		    "without");
	if (d.cfg.fence_cmd != NULL && no_fence)
		usage("--fence and --no-fence exclude each other");

	log_init("remusd", 1, verbose);
	if (fault_init() == -1) {
		fprintf(stderr, "remusd: REMUS_FAULT=%s: unknown fault name\n",
		    getenv("REMUS_FAULT") ? getenv("REMUS_FAULT") : "");
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if (check_statedir(d.cfg.state_dir) == -1)
		return EXIT_CONFIG;
	if (listen_addr) {
		d.listen_fd = transport_tcp_listen(listen_addr);
		if (d.listen_fd == -1)
			return EXIT_CONFIG;
	}
	if (config_test) {
		fprintf(stderr, "remusd: configuration OK (state directory %s,"
		    " %s%s, timeout %u ms)\n", d.cfg.state_dir,
		    receive ? "--receive" : "--listen ",
		    receive ? "" : listen_addr, d.cfg.timeout_ms);
		if (d.listen_fd >= 0)
			close(d.listen_fd);
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
		if (session_start(&d, rfd, wfd, "stdin") == -1)
			return EXIT_FAILED;
	} else {
		ev_io_init(&d.accept_io, accept_cb, d.listen_fd, EV_READ);
		ev_io_start(d.loop, &d.accept_io);
		log_info("listening on %s, state directory %s", listen_addr,
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
		backup_free(s->b);
		free(s->dir);
		free(s);
	}
	if (d.listen_fd >= 0)
		close(d.listen_fd);
	return status;
}
