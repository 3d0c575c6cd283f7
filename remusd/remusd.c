/* remusd/remusd.c -- remusd(8): the backup end of remus.
 *
 * remusd --receive serves one protected guest on stdin/stdout (started by
 * remus -s, as xl migrate-receive -r is started by xl remus).  remusd
 * --listen ADDR[:PORT] accepts TCP connections from remus, one protected
 * guest per connection, all in one EV_DEFAULT loop.  Each stream is a
 * struct backup (checkpoint/backup.c); this file only wires it up.
 */
#include <dirent.h>
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
#include "backup-metrics.h"
#include "caps.h"
#include "compiler.h"
#include "conf.h"
#include "ctl.h"
#include "ctl-backup.h"
#include "devices.h"
#include "diskmap.h"
#include "domain.h"
#include "fault.h"
#include "guests.h"
#include "log.h"
#include "pidfile.h"
#include "metrics.h"
#include "peer.h"
#include "tls.h"
#include "transport.h"
#include "uri.h"
#include "util.h"
#include "xen-policy.h"

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
/* Sessions (receiving or failing over) at once, unless --max-sessions. */
#define SESSIONS_MAX_DEFAULT	64
/* accept() failing for want of descriptors or memory: wait this long,
 * doubling up to the max, instead of spinning on a listener that stays
 * readable. */
/* Entries per --allow-* list. */
#define POLICY_MAX		32
/* --disk-sync-listen's, one per guest at most. */
#define SYNC_LISTEN_MAX		64
#define ACCEPT_BACKOFF_MS	100
#define ACCEPT_BACKOFF_MAX_MS	2000

enum {
	OPT_RECEIVE = 256, OPT_LISTEN, OPT_TIMEOUT, OPT_NO_ACTIVATE, OPT_DISK,
	OPT_VERSION, OPT_FENCE, OPT_NO_FENCE, OPT_FENCE_TIMEOUT,
	OPT_PSK_FILE, OPT_TLS_CREDS, OPT_INSECURE,
	OPT_CONFIG, OPT_DISK_SYNC_LISTEN, OPT_CTL_SOCKET, OPT_RUN_DIR,
	OPT_PROC_LISTEN, OPT_PROC_SYNC,
	OPT_METRICS, OPT_METRICS_FILE, OPT_ACTIVATE_TIMEOUT,
	/* Trust and limits (guests.c, the session code below). */
	OPT_GUEST, OPT_MAX_SESSIONS, OPT_MAX_GUEST_MEM, OPT_MAX_DISK,
	OPT_HELLO_TIMEOUT, OPT_ALLOW_BRIDGE, OPT_ALLOW_KERNEL,
	OPT_ALLOW_DEVICE_MODEL, OPT_ALLOW_SCRIPT,
	/* Issue 13: the link's management surface. */
	OPT_DEVICE_TOOL, OPT_DEVICE_TOOL_TIMEOUT, OPT_CAPABILITIES, OPT_DNAME,
	/* Issue 15: many guests per backup. */
	OPT_NO_COMMIT_THREAD,
	/* Who may feed which guest, and with what. */
	OPT_GUEST_PEER, OPT_ANY_PEER, OPT_ALLOW_RESIZE,
	/* Issue 14: a guest's own fence (remus.conf [guest NAME] fence). */
	OPT_GUEST_FENCE, OPT_GUEST_FENCE_TIMEOUT,
	/* Issue 16: HVM guests. */
	OPT_ALLOW_HVM,
};

static const char optstring[] = "D:dehnt:v";

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
	/* remus.conf(5), and settings that were environment variables. */
	{ "config",		required_argument,	NULL, OPT_CONFIG },
	{ "disk-sync-listen",	required_argument,	NULL,
	    OPT_DISK_SYNC_LISTEN },
	{ "ctl-socket",		required_argument,	NULL, OPT_CTL_SOCKET },
	{ "run-dir",		required_argument,	NULL, OPT_RUN_DIR },
	{ "proc-listen",	required_argument,	NULL, OPT_PROC_LISTEN },
	{ "proc-sync",		no_argument,		NULL, OPT_PROC_SYNC },
	{ "no-commit-thread",	no_argument,		NULL, OPT_NO_COMMIT_THREAD },
	{ "activate-timeout",	required_argument,	NULL,
	    OPT_ACTIVATE_TIMEOUT },
	{ "metrics",		required_argument,	NULL, OPT_METRICS },
	{ "metrics-file",	required_argument,	NULL, OPT_METRICS_FILE },
	{ "guest",		required_argument,	NULL, OPT_GUEST },
	{ "guest-peer",		required_argument,	NULL, OPT_GUEST_PEER },
	{ "any-peer",		no_argument,		NULL, OPT_ANY_PEER },
	{ "allow-resize",	no_argument,		NULL, OPT_ALLOW_RESIZE },
	{ "allow-hvm",		no_argument,		NULL, OPT_ALLOW_HVM },
	{ "max-sessions",	required_argument,	NULL, OPT_MAX_SESSIONS },
	{ "max-guest-mem",	required_argument,	NULL, OPT_MAX_GUEST_MEM },
	{ "max-disk",		required_argument,	NULL, OPT_MAX_DISK },
	{ "hello-timeout",	required_argument,	NULL, OPT_HELLO_TIMEOUT },
	{ "allow-bridge",	required_argument,	NULL, OPT_ALLOW_BRIDGE },
	{ "allow-kernel",	required_argument,	NULL, OPT_ALLOW_KERNEL },
	{ "allow-device-model",	required_argument,	NULL,
	    OPT_ALLOW_DEVICE_MODEL },
	{ "allow-script",	required_argument,	NULL, OPT_ALLOW_SCRIPT },
	{ "device-tool",	required_argument,	NULL, OPT_DEVICE_TOOL },
	{ "device-tool-timeout", required_argument,	NULL,
	    OPT_DEVICE_TOOL_TIMEOUT },
	{ "capabilities",	no_argument,		NULL, OPT_CAPABILITIES },
	{ "dname",		required_argument,	NULL, OPT_DNAME },
	{ "guest-fence",	required_argument,	NULL, OPT_GUEST_FENCE },
	{ "guest-fence-timeout", required_argument,	NULL,
	    OPT_GUEST_FENCE_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
"usage: remusd [-dnv] [-D statedir] [-t ms] [--timeout ms] [--no-activate]\n"
"              [--guest name=command]... [--guest-peer name=id[,id...]]...\n"
"              [--any-peer] [--allow-resize] [--allow-hvm]\n"
"              [--max-sessions n]\n"
"              [--max-guest-mem size] [--max-disk size] [--hello-timeout ms]\n"
"              [--allow-bridge br] [--allow-kernel file]\n"
"              [--allow-device-model prog] [--allow-script prog]\n"
"              [--disk [guest:][name=]image ...]\n"
"              --fence cmd [--fence-timeout ms] | --no-fence\n"
"              [--guest-fence name=cmd ...] [--guest-fence-timeout name=ms ...]\n"
"              --receive |\n"
"              --listen addr[:port] --psk-file file | --tls-creds dir |\n"
"              --insecure\n"
"              [--disk-sync-listen [guest=]addr ...] [--proc-listen addr]\n"
"              [--proc-sync]\n"
"              [--activate-timeout ms] [--no-commit-thread]\n"
"              [--metrics addr] [--metrics-file file] [--config file]\n"
"              [--run-dir dir] [--ctl-socket path|none]\n"
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
"  -D statedir       replica files, one directory per guest, named as the\n"
"                    primary names the guest (default " STATEDIR_DEFAULT ")\n"
"  --guest name=command  protect the guest the primary calls name; on\n"
"                    failover run command (program found in PATH, then\n"
"                    its arguments, split at blanks) with --resume; a\n"
"                    proc guest not given here, or whose stream names\n"
"                    another program, is refused (repeat for more guests)\n"
"  --guest-peer name=id[,id...]  with TLS, who may feed guest name: PSK\n"
"                    identities or client certificate CNs (or one whole\n"
"                    subject DN, \"CN=..,O=..\"); any other is refused at\n"
"                    HELLO; every --guest needs one (repeatable)\n"
"  --any-peer        with TLS, a guest without --guest-peer may be fed by\n"
"                    any peer the credentials let in (logged at start)\n"
"  --allow-resize    a guest's new session may replace its kept replica\n"
"                    with one of another memory size (else refused)\n"
"  --allow-hvm       Xen HVM guests may be replicated: their twin's device\n"
"                    model (qemu-xen) runs as root here (else refused)\n"
"  --max-sessions n  guests protected at once (default 64)\n"
"  --max-guest-mem size  largest guest memory accepted (default 64G)\n"
"  --max-disk size   most disk data one epoch may carry (default 1024G)\n"
"  --hello-timeout ms  a connection must send its stream header and\n"
"                    HELLO within this (default 5000); after it, one\n"
"                    with no whole record for max(T, 5 s) is dropped\n"
"  --allow-bridge br, --allow-kernel file, --allow-device-model prog,\n"
"  --allow-script prog  what a Xen twin may join, boot (kernel, ramdisk,\n"
"                    device tree, PVH shim), run as device model, and run\n"
"                    as a hotplug script (besides Xen's own); its disks\n"
"                    are --disk's; a member of the primary's config the\n"
"                    policy does not know (bootloader, QEMU arguments,\n"
"                    stub domains, host devices...) is refused (repeatable)\n"
"  -t ms, --timeout ms   primary silent this long counts as lost (default\n"
"                    1000)\n"
"  --no-activate     on failover keep the replica but do not start the guest\n"
"  --fence cmd       run cmd (/bin/sh -c) to fence a lost primary before\n"
"                    activating; only exit status 0 means fenced\n"
"  --fence-timeout ms  longest a fence may take, F (default 10000)\n"
"  --no-fence        activate without fencing (during a partition both\n"
"                    copies may run); one of --fence and --no-fence is\n"
"                    required (for the guests without their own)\n"
"  --guest-fence name=cmd  guest name's own fence, instead of --fence's\n"
"                    or --no-fence (repeatable, one per guest)\n"
"  --guest-fence-timeout name=ms  its F (default --fence-timeout's)\n"
"  --disk [guest:][name=]image  the backup's copy of a replicated disk:\n"
"                    of guest (else of every guest without its own),\n"
"                    the disk the primary names name (its vdev on Xen;\n"
"                    unnamed: a one-disk guest's disk); repeat for each\n"
"                    disk; each disk of the primary must have its image\n"
"  --disk-sync-listen [guest=]addr  take remus --disk-sync's live initial\n"
"                    copy of each disk into its --disk image, at addr\n"
"                    (host:port); of guest, else of every guest\n"
"  --metrics addr    serve Prometheus metrics per guest at\n"
"                    http://addr/metrics\n"
"  --metrics-file file  write them there too (node_exporter textfile),\n"
"                    every second and at exit\n"
"  --proc-listen addr  an activated proc guest that listened listens at\n"
"                    addr instead (two copies of a service on one host)\n"
"  --proc-sync       make each proc replica commit durable across a crash\n"
"                    of this host (fdatasync), not only of remusd\n"
"  --activate-timeout ms  longest an activated proc guest may take to say\n"
"                    it runs (default 10000)\n"
"  --no-commit-thread  commit every guest's replica in the one loop (by\n"
"                    default each guest commits on a thread of its own,\n"
"                    so that one guest's commit does not delay another's\n"
"                    ACK)\n"
"  --config file     read settings from file (default\n"
"                    " CONF_DEFAULT_PATH " if it exists): its [remusd]\n"
"                    section; flags given here override the file\n"
"  --run-dir dir     where the control socket goes (default " PIDFILE_RUN_DIR ")\n"
"  --ctl-socket path the control socket for remusctl (default with\n"
"                    --listen: dir/remusd.sock, skipped with a warning if\n"
"                    another remusd serves it; with --receive: none)\n"
"  --device-tool type=path  an external device tool (repeatable): at\n"
"                    failover, before the guest starts, \"path -type type\n"
"                    -step activate -host primary -domname name\"; failing,\n"
"                    the failover fails (type=coproc:path: one line)\n"
"  --device-tool-timeout ms  longest it may take (default 2000)\n"
"  -d                log to stderr even when it is not a terminal (remusd\n"
"                    always stays in the foreground)\n"
"  -e                no activated guest gets a guardian that waits for its\n"
"                    death and carries out its on_poweroff/on_reboot/\n"
"                    on_crash (xl migrate-receive -e; remus -e asks it\n"
"                    per guest)\n"
"  -n                check the configuration, finish or drop a commit a\n"
"                    crash interrupted in the state directory, and exit\n"
"  -v                more verbose (repeat for more)\n"
"  --dname name      the name an activated guest gets (Xen: instead of its\n"
"                    own; proc: logged and pidfile'd as statedir/name.pid);\n"
"                    with --listen a second concurrent guest gets name-2 ...\n"
"  --capabilities    what this build can do, as JSON, and exit\n"
"  -h, --help        this text;  --version  the version\n"
"\n"
"Environment: REMUS_FAULT, REMUS_FAULT_EPOCH, REMUS_FAULT_DISK (fault\n"
"injection, tests).\n"
"\n"
"Exit status (--receive; --listen exits 0 on a signal):\n"
"  0  the primary ended protection cleanly (END): not activated\n"
"  1  usage error (bad flag or argument)\n"
"  2  state directory, listen address, TLS credentials, control\n"
"     socket, or metrics address or file unusable\n"
"  3  stream lost before any epoch was committed: nothing to activate\n"
"  4  primary lost: failed over, guest activated from the last epoch\n"
"     (or a planned switchover: remusctl switchover)\n"
"  5  failover failed, or internal error\n"
"  6  primary lost but not activated (not fenced within the window, or\n"
"     stood down)\n"
"  78 the configuration file cannot be read or is wrong (one line:\n"
"     FILE:LINE: what)\n";

struct session {
	struct remusd	*d;
	struct backup	*b;
	struct tls	*tls;		/* NULL: --insecure or --receive */
	struct session	*next;
	char		 name[72];	/* the guest's, from HELLO; "" before */
	char		*dir;		/* STATEDIR/name, from HELLO */
	int		 made_dir;	/* this session created it */
	int		 over;
	char		*dname;		/* --dname NAME-N, if not NAME */
	struct diskmap	 disks;		/* the guest's images (--disk), from
					 * HELLO; borrowed from d->disks */
	struct xen_policy xen;		/* d->xen with those disks */
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
	struct domain_opts ropts;	/* the replica driver's settings */
	int		 receive;
	int		 listen_fd;
	ev_io		 accept_io;
	ev_signal	 sigint, sigterm, sigquit, sigusr1;
	ev_check	 reap;		/* frees finished sessions */
	ev_idle		 reap_now;	/* ... without waiting for an event */
	struct session	*sessions;
	struct tls_creds *creds;	/* NULL: --insecure */
	struct handshake *handshakes;
	unsigned	 nhandshakes;
	enum backup_result last;
	int		 stopping;
	struct ctl_backup *ctl;		/* NULL: no control socket */
	/* --metrics, --metrics-file: per guest (backup-metrics.h). */
	struct metrics	*metrics;
	struct bmetrics	*bm;
	ev_timer	 metrics_tick;	/* the textfile, once a second */
	/* Trust and limits. */
	struct guest_table guests;	/* --guest */
	struct peer_table peers;	/* --guest-peer */
	int		 any_peer;	/* --any-peer */
	struct diskmap	 disks;		/* --disk [GUEST:][NAME=]IMAGE */
	/* --disk-sync-listen [GUEST=]ADDR: for one guest, or (guest NULL)
	 * for every other. */
	struct {
		char	*guest;
		const char *addr;
	}		 sync_listen[SYNC_LISTEN_MAX];
	size_t		 nsync_listen;
	/* --guest-fence NAME=CMD, --guest-fence-timeout NAME=MS: a guest's
	 * own fence (remus.conf's [guest NAME] fence); the others have
	 * --fence's, or none with --no-fence. */
	struct guest_fence {
		char	*name;
		const char *cmd;	/* NULL: --fence's */
		uint32_t ms;		/* 0: --fence-timeout's */
	}		*gfence;
	size_t		 ngfence;
	struct xen_policy xen;		/* --allow-* (the disks per guest) */
	const char	*allow[4][POLICY_MAX + 1];	/* NULL-terminated */
	unsigned	 nallow[4];
	unsigned	 max_sessions;
	unsigned	 nlive;		/* sessions not over */
	unsigned	 nconn;		/* sessions ever started (--dname -N) */
	ev_timer	 accept_wait;	/* accept() backing off */
	uint32_t	 accept_backoff_ms;
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
	case BACKUP_FAILED_OVER:
	case BACKUP_SWITCHED_OVER:	return EXIT_FAILOVER;
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
	if (!s->over)
		d->nlive--;
	s->over = 1;
	d->last = r;
	ctl_backup_session_over(d->ctl, b, r);
	ev_check_start(d->loop, &d->reap);
	ev_idle_start(d->loop, &d->reap_now);
	if (d->receive)
		ev_break(d->loop, EVBREAK_ALL);
}

/* A guest directory this session made and never committed into holds
 * nothing anyone needs (a replica is only ever committed): remove it, so
 * that a flood of sessions that never commit leaves nothing behind. */
static void
session_remove_dir(struct session *s, uint64_t committed)
{
	struct dirent *de;
	DIR *dir;
	int dfd;

	if (s->dir == NULL || !s->made_dir || committed != 0)
		return;
	dir = opendir(s->dir);
	if (dir == NULL)
		return;
	dfd = dirfd(dir);
	while ((de = readdir(dir)) != NULL)
		if (de->d_type == DT_REG)
			(void)unlinkat(dfd, de->d_name, 0);
	closedir(dir);
	if (rmdir(s->dir) == -1)
		log_warn("%s: remove %s", s->name, s->dir);
}

static void
session_free(struct session *s)
{
	uint64_t committed = s->b ? backup_committed(s->b) : 0;

	/* The replica is closed (its files released) before its
	 * directory may go. */
	backup_free(s->b);	/* closes the fd the TLS session ran on */
	session_remove_dir(s, committed);
	tls_free(s->tls);
	free(s->dir);
	free(s->dname);
	diskmap_free(&s->disks);
	free(s);
}

/* Free S, its counts kept in its guest's totals first. */
static void
session_retire(struct remusd *d, struct session *s)
{
	struct backup_counters c;

	if (d->bm != NULL && s->b != NULL) {
		backup_get_counters(s->b, &c);
		bmetrics_add(d->bm, &c);
	}
	session_free(s);
}

/* metrics_format_fn: the kept totals and the running sessions'. */
static size_t
format_metrics(char *buf, size_t len, void *arg)
{
	struct remusd *d = arg;
	struct backup_counters *lv;
	struct session *s;
	size_t n = 0, cap = 0, r;

	for (s = d->sessions; s; s = s->next)
		cap += !s->over;
	if ((lv = calloc(cap + 1, sizeof *lv)) == NULL)
		return bmetrics_format(buf, len, d->bm, NULL, 0);
	for (s = d->sessions; s && n < cap; s = s->next)
		if (!s->over)
			backup_get_counters(s->b, &lv[n++]);
	r = bmetrics_format(buf, len, d->bm, lv, n);
	free(lv);
	return r;
}

static void
metrics_tick_cb(struct ev_loop *loop __unused, ev_timer *w,
    int revents __unused)
{
	metrics_epoch(container_of(w, struct remusd, metrics_tick)->metrics);
}

/* The pid of a guest this backup activated from DIR that still runs
 * (its copy runs from the replica files: a new session would write over
 * them), or 0.  The proc driver's record: proc-guest.pid, or
 * proc-guest.pid.new while (or if) the activation was not completed;
 * the same test as remusd.service's ExecStartPre. */
static long
activated_here(const char *dir)
{
	static const char *const files[] = { "proc-guest.pid",
	    "proc-guest.pid.new" };
	char *path, buf[32];
	long pid;
	size_t i;
	FILE *f;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (asprintf(&path, "%s/%s", dir, files[i]) == -1)
			return 0;
		f = fopen(path, "re");
		free(path);
		if (f == NULL)
			continue;
		pid = 0;
		if (fgets(buf, sizeof buf, f) != NULL)
			pid = strtol(buf, NULL, 10);
		fclose(f);
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			return pid;
	}
	return 0;
}

/* Is PATH the same file as any of the images M holds? */
static int
same_image(const char *path, const struct diskmap *m)
{
	struct stat a, b;
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (strcmp(path, m->v[i].path) == 0)
			return 1;
		if (stat(path, &a) == 0 && stat(m->v[i].path, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return 1;
	}
	return 0;
}

/* The --disk-sync-listen for guest NAME: its own, else the one for every
 * guest, else NULL. */
static const char *
sync_listen_for(const struct remusd *d, const char *name)
{
	const char *any = NULL;
	size_t i;

	for (i = 0; i < d->nsync_listen; i++) {
		if (d->sync_listen[i].guest == NULL)
			any = d->sync_listen[i].addr;
		else if (strcmp(d->sync_listen[i].guest, name) == 0)
			return d->sync_listen[i].addr;
	}
	return any;
}

/* The guest S->name's disks (its own --disk GUEST:..., else those given
 * for every guest), registered with its session: refused when another
 * session being fed uses one of the images (two guests, or one guest
 * twice, writing one image would corrupt both). */
static int
session_disks(struct session *s, char *why, size_t len)
{
	struct remusd *d = s->d;
	struct remus_devopts dopts = d->dopts;
	struct session *t;
	size_t i;

	if (diskmap_select(&d->disks, s->name, &s->disks) == -1) {
		snprintf(why, len, "%s", strerror(errno));
		return -1;
	}
	for (t = d->sessions; t; t = t->next) {
		if (t == s || t->over)
			continue;
		for (i = 0; i < s->disks.n; i++)
			if (same_image(s->disks.v[i].path, &t->disks)) {
				snprintf(why, len, "disk image %s is in use by "
				    "guest %s's session (%s): give each guest "
				    "its own (--disk GUEST:NAME=IMAGE)",
				    s->disks.v[i].path, t->name,
				    backup_peer(t->b));
				errno = EBUSY;
				return -1;
			}
	}
	dopts.disks = &s->disks;
	dopts.disk_sync_listen = sync_listen_for(d, s->name);
	if (dev_diskbuf_backup_attach(s->b, &dopts) == -1) {
		snprintf(why, len, "disk device: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* May the peer of TLS feed guest NAME: one of its --guest-peer IDs, or
 * none listed and --any-peer. */
static int
peer_allowed(const struct remusd *d, const char *name, const struct tls *tls)
{
	const struct guest_peers *p = guest_peers_find(&d->peers, name);
	size_t i;

	if (p == NULL)
		return d->any_peer;
	for (i = 0; i < p->n; i++)
		if (tls_peer_is(tls, p->ids[i]))
			return 1;
	return 0;
}

static struct guest_fence *
guest_fence_find(struct remusd *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->ngfence; i++)
		if (strcmp(d->gfence[i].name, name) == 0)
			return &d->gfence[i];
	return NULL;
}

/* The guest's own fence (--guest-fence), or its own F for --fence's
 * command: the session's, before WELCOME announces F. */
static int
session_fence(struct remusd *d, struct backup *b, const char *name,
    char *why, size_t len)
{
	const struct guest_fence *g = guest_fence_find(d, name);
	const char *cmd;

	if (g == NULL)
		return 0;
	cmd = g->cmd ? g->cmd : d->cfg.fence_cmd;
	if (backup_set_fence(b, cmd, g->ms ? g->ms : d->cfg.fence_ms) == -1) {
		snprintf(why, len, "its fence: %s", strerror(errno));
		return -1;
	}
	log_info("guest %s: fenced by %s%s, F %u ms", name,
	    g->cmd ? "its own --guest-fence " : "--fence ", cmd,
	    g->ms ? g->ms : d->cfg.fence_ms);
	return 0;
}

/* HELLO named the guest (backup_config.hello): the session is that
 * guest's, in STATEDIR/NAME, or refused with one line in WHY. */
static int
session_hello(struct backup *b, const char *name,
    const char *driver, const char **dirp, struct replica_conf *conf,
    char *why, size_t len, void *arg)
{
	struct session *s = arg, *t;
	struct remusd *d = s->d;
	const struct guest_conf *g;
	long pid;

	if (!guest_name_ok(name)) {
		snprintf(why, len, "guest name not usable as a directory name "
		    "(1..64 of A-Z a-z 0-9 . _ : @ + -, not starting with .)");
		errno = EINVAL;
		return -1;
	}
	/* Before anything of the guest's is looked at or touched. */
	if (s->tls != NULL && !peer_allowed(d, name, s->tls)) {
		snprintf(why, len, "%s may not feed guest %s (--guest-peer)",
		    tls_peer_name(s->tls), name);
		errno = EACCES;
		return -1;
	}
	for (t = d->sessions; t; t = t->next)
		if (t != s && !t->over && strcmp(t->name, name) == 0) {
			snprintf(why, len, "guest %s is already being fed by "
			    "%s", name, backup_peer(t->b));
			errno = EBUSY;
			return -1;
		}
	g = guest_conf_find(&d->guests, name);
	/* The proc driver starts a program: only the one configured.  The
	 * Xen driver builds a domain from the stream's config, checked
	 * against the backup's policy by the driver. */
	if (g == NULL && strcmp(driver, "proc") == 0) {
		snprintf(why, len, "not configured here (no --guest "
		    "%s=COMMAND)", name);
		errno = EPERM;
		return -1;
	}
	snprintf(s->name, sizeof s->name, "%s", name);
	if (asprintf(&s->dir, "%s/%s", d->cfg.state_dir, name) < 0) {
		s->dir = NULL;
		snprintf(why, len, "%s", strerror(ENOMEM));
		errno = ENOMEM;
		return -1;
	}
	if ((pid = activated_here(s->dir)) != 0) {
		snprintf(why, len, "activated here (pid %ld runs from %s): this "
		    "host runs it now, nothing replicates over it", pid, s->dir);
		errno = EBUSY;
		return -1;
	}
	if (mkdir(s->dir, 0700) == 0)
		s->made_dir = 1;
	else if (errno != EEXIST) {
		snprintf(why, len, "state directory %s: %s", s->dir,
		    strerror(errno));
		return -1;
	}
	if (session_disks(s, why, len) == -1)
		return -1;
	if (session_fence(d, b, name, why, len) == -1)
		return -1;
	*dirp = s->dir;
	conf->argv = g ? g->argv : NULL;
	conf->disks = &s->disks;
	s->xen = d->xen;
	s->xen.disks = &s->disks;
	conf->xen = &s->xen;
	return 0;
}

static void
reap_sessions(struct remusd *d)
{
	struct session **sp = &d->sessions, *s;

	while ((s = *sp) != NULL) {
		if (s->over) {
			*sp = s->next;
			session_retire(d, s);
		} else
			sp = &s->next;
	}
	ev_check_stop(d->loop, &d->reap);
	ev_idle_stop(d->loop, &d->reap_now);
}

/* A check watcher runs after the loop's next poll, which, with no other
 * watcher due, would wait for the next event: a session over would keep
 * its replica open (and a session that never committed its half-built
 * image, proc-arena.new) until some peer spoke.  An idle watcher makes
 * that poll not wait; it does nothing itself. */
static void
reap_now_cb(struct ev_loop *loop __unused, ev_idle *w __unused,
    int revents __unused)
{
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

	s = calloc(1, sizeof *s);
	if (s == NULL)
		goto err;
	s->d = d;
	s->tls = tls;
	if (tls != NULL) {
		cfg.io = &peer_io_tls;
		cfg.io_ctx = tls;
	}
	/* Two guests activated under one --dname would clash (two Xen
	 * domains of one name): one fed while another is gets NAME-N. */
	d->nconn++;
	if (d->cfg.dname != NULL && d->nlive > 0) {
		if (asprintf(&s->dname, "%s-%u", d->cfg.dname, d->nconn) < 0) {
			s->dname = NULL;
			goto err;
		}
		cfg.dname = dopts.domname = s->dname;
	}
	/* The guest's directory is known at HELLO (session_hello). */
	cfg.hello = session_hello;
	cfg.hello_arg = s;
	s->b = backup_new(d->loop, rfd, wfd, &cfg, session_done, s);
	if (s->b == NULL)
		goto err;
	backup_set_peer(s->b, peer);
	if (d->ctl != NULL)
		backup_set_admit(s->b, ctl_backup_admit, d->ctl);
	/* The disks are the guest's: attached at HELLO (session_disks). */
	if (dev_tool_backup_attach(s->b, &dopts) == -1) {
		log_warnx("%s: device setup failed", peer);
		session_free(s);
		return -1;
	}
	s->next = d->sessions;
	d->sessions = s;
	d->nlive++;
	log_info("%s: connected", peer);
	return backup_start(s->b);
err:
	log_warn("%s: session", peer);
	if (s != NULL)
		free(s->dname);
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

	log_rate(LOG_ERR, "tls-handshake", "TLS handshake with %s "
	    "failed: not done in %u ms", h->peer, HANDSHAKE_TIMEOUT_MS);
	handshake_free(h, 1);
}

static void
handshake_start(struct remusd *d, int fd, const char *peer)
{
	struct handshake *h;

	if (d->nhandshakes >= HANDSHAKE_MAX) {
		log_rate(LOG_ERR, "tls-handshakes-max", "%s: refused: %u "
		    "TLS handshakes already under way", peer, d->nhandshakes);
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

/* Out of descriptors (or memory): the pending connection stays queued
 * and the listener readable, so accepting again at once would spin.
 * Stop listening for a while (doubling), then try again; the log says so
 * a few times per window, not once per try. */
static void
accept_backoff(struct remusd *d)
{
	int e = errno;

	d->accept_backoff_ms = d->accept_backoff_ms == 0 ? ACCEPT_BACKOFF_MS :
	    d->accept_backoff_ms * 2;
	if (d->accept_backoff_ms > ACCEPT_BACKOFF_MAX_MS)
		d->accept_backoff_ms = ACCEPT_BACKOFF_MAX_MS;
	log_rate(LOG_ERR, "accept-backoff", "accept: %s: not accepting for "
	    "%u ms", strerror(e), d->accept_backoff_ms);
	ev_io_stop(d->loop, &d->accept_io);
	ev_timer_set(&d->accept_wait, d->accept_backoff_ms / 1000., 0.);
	ev_timer_start(d->loop, &d->accept_wait);
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
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			accept_backoff(d);
			return;
		}
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_rate(LOG_ERR, "accept", "accept: %s",
			    strerror(errno));
		return;
	}
	d->accept_backoff_ms = 0;
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv,
	    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(peer, sizeof peer, "fd %d", fd);
	else
		snprintf(peer, sizeof peer, "%s:%s", host, serv);
	/* Handshakes under way become sessions: they count too. */
	if (d->nlive + d->nhandshakes >= d->max_sessions) {
		log_rate(LOG_ERR, "max-sessions", "%s: refused: %u sessions "
		    "already (--max-sessions %u)", peer,
		    d->nlive + d->nhandshakes, d->max_sessions);
		close(fd);
		return;
	}
	transport_tcp_tune(fd);
	if (d->creds != NULL) {
		handshake_start(d, fd, peer);
		return;
	}
	/* Said of every connection; a flood of them costs a few lines a
	 * window and a count (log_rate), not the disk. */
	log_rate(LOG_ERR, "insecure", "%s: insecure connection "
	    "(--insecure): the peer is not authenticated and the stream "
	    "crosses in clear", peer);
	session_start(d, fd, fd, peer, NULL);
}

static void
accept_wait_cb(struct ev_loop *loop __unused, ev_timer *w,
    int revents __unused)
{
	struct remusd *d = container_of(w, struct remusd, accept_wait);

	ev_io_start(d->loop, &d->accept_io);
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

/* The control socket's view of the sessions (ctl-backup.h). */
static void
ctl_each(void *arg, int (*fn)(struct backup *, int, void *), void *fnarg)
{
	struct remusd *d = arg;
	struct session *s;

	for (s = d->sessions; s; s = s->next)
		if (fn(s->b, s->over, fnarg) != 0)
			break;
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
 * before anyone starts a guest from them by hand).  Each guest's
 * directory (STATEDIR/NAME), and DIR itself (replicas of an older remusd
 * that kept one guest there). */
static int
recover_statedir(const char *dir)
{
	glob_t g;
	char *pat;
	size_t i;
	int rc;

	rc = replica_recover_dir(dir);
	if (asprintf(&pat, "%s/*", dir) == -1)
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

/* --guest's and --disk's tables, freed at any exit (a usage error after
 * them, -n). */
static struct remusd *tables_at_exit;

static void
free_tables(void)
{
	size_t i;

	guest_table_free(&tables_at_exit->guests);
	peer_table_free(&tables_at_exit->peers);
	diskmap_free(&tables_at_exit->disks);
	for (i = 0; i < tables_at_exit->nsync_listen; i++)
		free(tables_at_exit->sync_listen[i].guest);
	for (i = 0; i < tables_at_exit->ngfence; i++)
		free(tables_at_exit->gfence[i].name);
	free(tables_at_exit->gfence);
}

/* --guest-fence NAME=CMD, or (TIMEOUT) --guest-fence-timeout NAME=MS;
 * given again for a guest, the last wins.  0, or -1 with one line in
 * ERR. */
static int
add_guest_fence(struct remusd *d, const char *arg, int timeout, char *err,
    size_t len)
{
	const char *opt = timeout ? "--guest-fence-timeout" : "--guest-fence";
	const char *eq = strchr(arg, '=');
	struct guest_fence *g, *ng;
	char name[80];
	uint64_t v = 0;

	if (eq == NULL || (size_t)(eq - arg) >= sizeof name) {
		snprintf(err, len, "%s %s: want NAME=%s", opt, arg,
		    timeout ? "MS" : "COMMAND");
		return -1;
	}
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	if (!guest_name_ok(name)) {
		snprintf(err, len, "%s %s: want a guest name before '='", opt,
		    arg);
		return -1;
	}
	if (timeout && parse_uint(eq + 1, 1, 3600000, &v) == -1) {
		snprintf(err, len, "%s %s: want milliseconds in 1..3600000",
		    opt, arg);
		return -1;
	}
	if (!timeout && eq[1] == '\0') {
		snprintf(err, len, "%s %s: empty command", opt, arg);
		return -1;
	}
	if ((g = guest_fence_find(d, name)) == NULL) {
		ng = realloc(d->gfence, (d->ngfence + 1) * sizeof *ng);
		if (ng == NULL)
			goto nomem;
		d->gfence = ng;
		g = &d->gfence[d->ngfence];
		memset(g, 0, sizeof *g);
		if ((g->name = strdup(name)) == NULL)
			goto nomem;
		d->ngfence++;
	}
	if (timeout)
		g->ms = (uint32_t)v;
	else
		g->cmd = eq + 1;
	return 0;
nomem:
	snprintf(err, len, "%s: %s", opt, strerror(errno));
	return -1;
}

/* Who may feed which guest.  With TLS every session has an identity, and
 * a backup that let any identity its credentials accept feed any guest
 * would let one primary's key overwrite (and, at failover, start)
 * another's guest: so each --guest names its peers (--guest-peer), or
 * --any-peer says that is not wanted, as DRBD names each resource's
 * peers.  Without TLS (--insecure, --receive) no peer has an identity
 * here to check: a list would be a promise not kept, so it is refused. */
static void
check_peers(struct remusd *d, int tls)
{
	size_t i;

	if (!tls && d->peers.n > 0)
		usage("--guest-peer %s=...: without --psk-file or --tls-creds "
		    "no peer has an identity to check", d->peers.v[0].name);
	if (!tls || d->any_peer)
		return;
	for (i = 0; i < d->guests.n; i++)
		if (guest_peers_find(&d->peers, d->guests.v[i].name) == NULL)
			usage("guest %s: no --guest-peer %s=ID: with TLS, say "
			    "which PSK identity or certificate CN may feed it "
			    "(or --any-peer for any)", d->guests.v[i].name,
			    d->guests.v[i].name);
}

/* --disk-sync-listen [GUEST=]ADDR: one per guest, and one for every
 * guest without its own.  0, or -1 with one line in ERR. */
static int
add_sync_listen(struct remusd *d, const char *arg, char *err, size_t len)
{
	const char *eq = strchr(arg, '='), *addr = eq ? eq + 1 : arg;
	char hbuf[256], pbuf[16], *guest = NULL;
	size_t i;

	if (transport_parse_addr(addr, hbuf, sizeof hbuf, pbuf,
	    sizeof pbuf) == -1) {
		snprintf(err, len, "--disk-sync-listen %s: want [GUEST=]"
		    "host:port", arg);
		return -1;
	}
	if (eq != NULL && ((guest = strndup(arg, (size_t)(eq - arg))) == NULL ||
	    !guest_name_ok(guest))) {
		snprintf(err, len, "--disk-sync-listen %s: want a guest name "
		    "before '='", arg);
		free(guest);
		return -1;
	}
	for (i = 0; i < d->nsync_listen; i++) {
		const char *g = d->sync_listen[i].guest;

		if ((g == NULL && guest == NULL) ||
		    (g != NULL && guest != NULL && strcmp(g, guest) == 0)) {
			/* The last one given wins, as for any flag (the
			 * command line over the file). */
			free(guest);
			d->sync_listen[i].addr = addr;
			return 0;
		}
	}
	if (d->nsync_listen == sizeof d->sync_listen /
	    sizeof d->sync_listen[0]) {
		snprintf(err, len, "--disk-sync-listen %s: too many", arg);
		free(guest);
		return -1;
	}
	d->sync_listen[d->nsync_listen].guest = guest;
	d->sync_listen[d->nsync_listen++].addr = addr;
	return 0;
}

int
main(int argc, char **argv)
{
	/* Static: free_tables runs after main has returned. */
	static struct remusd d;
	const char *listen_addr = NULL, *psk_file = NULL, *tls_dir = NULL;
	const char *metrics_addr = NULL, *metrics_file = NULL;
	uint64_t v;
	char hbuf[256], pbuf[16];
	int ch, receive = 0, config_test = 0, verbose = 0, foreground = 0;
	int status, no_fence = 0, insecure = 0;
	char cerr[512];
	const char *run_dir = PIDFILE_RUN_DIR, *ctl_socket = NULL;
	char ctl_buf[128];
	char err[512];
	static const char *tools[DEVICE_TOOLS_MAX + 1];
	size_t ntools = 0;
	char terr[256];

	memset(&d, 0, sizeof d);
	d.listen_fd = -1;
	d.cfg.state_dir = STATEDIR_DEFAULT;
	d.cfg.timeout_ms = 1000;
	d.cfg.fence_ms = 10000;
	d.cfg.replica_opts = &d.ropts;
	/* Each session commits on a thread of its own: one guest's commit
	 * (a stall in the kernel, an fdatasync with --proc-sync) does not
	 * hold up the others' ACKs (bench/scale). */
	d.cfg.commit_thread = 1;
	d.max_sessions = SESSIONS_MAX_DEFAULT;
	tables_at_exit = &d;
	atexit(free_tables);

	/* remus.conf(5): the file's settings go in front of ours, as flags. */
	if (conf_apply(CONF_PROG_REMUSD, optstring, longopts, &argc, &argv,
	    cerr, sizeof cerr) == -1) {
		fprintf(stderr, "%s\n", cerr);
		return CONF_EXIT;
	}
	while ((ch = getopt_long(argc, argv, optstring, longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'D':
			d.cfg.state_dir = optarg;
			break;
		case 'd':
			foreground = 1;
			break;
		case 'e':
			/* xl migrate-receive -e: nobody stays behind. */
			d.cfg.no_guardian = 1;
			break;
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
		case OPT_DISK: {
			size_t last = d.disks.n;

			if (diskmap_add(&d.disks, optarg, 1, 0, "--disk", err,
			    sizeof err) == -1)
				usage("%s", err);
			if (d.disks.v[last].guest != NULL &&
			    !guest_name_ok(d.disks.v[last].guest))
				usage("--disk %s: guest name \"%.80s\": want "
				    "1..64 of A-Z a-z 0-9 . _ : @ + - (not "
				    "starting with .)", optarg,
				    d.disks.v[last].guest);
			break;
		}
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
		case OPT_CONFIG:
			break;		/* read by conf_apply */
		case OPT_PROC_LISTEN:
			if (transport_parse_addr(optarg, hbuf, sizeof hbuf,
			    pbuf, sizeof pbuf) == -1)
				usage("--proc-listen %s: want host:port",
				    optarg);
			d.ropts.proc_listen = optarg;
			break;
		case OPT_PROC_SYNC:
			d.ropts.proc_sync = 1;
			break;
		case OPT_NO_COMMIT_THREAD:
			d.cfg.commit_thread = 0;
			break;
		case OPT_ACTIVATE_TIMEOUT:
			if (parse_uint(optarg, 1, 3600000, &v) == -1)
				usage("--activate-timeout %s: want milliseconds "
				    "in 1..3600000", optarg);
			d.ropts.activate_timeout_ms = (uint32_t)v;
			break;
		case OPT_METRICS:
			if (transport_parse_addr(optarg, hbuf, sizeof hbuf,
			    pbuf, sizeof pbuf) == -1)
				usage("--metrics %s: want addr:port with a "
				    "port in 1..65535", optarg);
			metrics_addr = optarg;
			break;
		case OPT_METRICS_FILE:
			metrics_file = optarg;
			break;
		case OPT_DISK_SYNC_LISTEN:
			if (add_sync_listen(&d, optarg, err, sizeof err) == -1)
				usage("%s", err);
			break;
		case OPT_GUEST_FENCE:
		case OPT_GUEST_FENCE_TIMEOUT:
			if (add_guest_fence(&d, optarg,
			    ch == OPT_GUEST_FENCE_TIMEOUT, err,
			    sizeof err) == -1)
				usage("%s", err);
			break;
		case OPT_CTL_SOCKET:
			ctl_socket = optarg;
			break;
		case OPT_RUN_DIR:
			run_dir = optarg;
			break;
		case OPT_GUEST:
			if (guest_conf_parse(&d.guests, optarg, err,
			    sizeof err) == -1)
				usage("%s", err);
			break;
		case OPT_GUEST_PEER:
			if (guest_peers_parse(&d.peers, optarg, err,
			    sizeof err) == -1)
				usage("%s", err);
			break;
		case OPT_ANY_PEER:
			d.any_peer = 1;
			break;
		case OPT_ALLOW_RESIZE:
			d.cfg.allow_resize = 1;
			break;
		case OPT_ALLOW_HVM:
			d.xen.allow_hvm = 1;
			break;
		case OPT_MAX_SESSIONS:
			if (parse_uint(optarg, 1, 100000, &v) == -1)
				usage("--max-sessions %s: want 1..100000",
				    optarg);
			d.max_sessions = (unsigned)v;
			break;
		case OPT_MAX_GUEST_MEM:
			if (parse_size(optarg, &v) == -1 || v < (1u << 20))
				usage("--max-guest-mem %s: want a size of at "
				    "least 1M (suffix K, M, G)", optarg);
			d.cfg.max_guest_mem = v;
			break;
		case OPT_MAX_DISK:
			if (parse_size(optarg, &v) == -1 || v < (1u << 20))
				usage("--max-disk %s: want a size of at least "
				    "1M (suffix K, M, G)", optarg);
			d.cfg.max_disk = v;
			break;
		case OPT_HELLO_TIMEOUT:
			if (parse_uint(optarg, 100, 600000, &v) == -1)
				usage("--hello-timeout %s: want milliseconds "
				    "in 100..600000", optarg);
			d.cfg.hello_ms = (uint32_t)v;
			break;
		case OPT_ALLOW_BRIDGE:
		case OPT_ALLOW_KERNEL:
		case OPT_ALLOW_DEVICE_MODEL:
		case OPT_ALLOW_SCRIPT: {
			unsigned k = (unsigned)(ch - OPT_ALLOW_BRIDGE);

			if (d.nallow[k] == POLICY_MAX)
				usage("%s: at most %d of each --allow-* flag",
				    optarg, POLICY_MAX);
			if (*optarg == '\0')
				usage("--allow-*: empty argument");
			d.allow[k][d.nallow[k]++] = optarg;
			break;
		}
		case OPT_DEVICE_TOOL:
			if (ntools == DEVICE_TOOLS_MAX)
				usage("--device-tool: at most %d tools",
				    DEVICE_TOOLS_MAX);
			if (dev_tool_check_arg(optarg, terr, sizeof terr) == -1)
				usage("--device-tool %s: %s", optarg, terr);
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
	if (d.nsync_listen > 0 && d.disks.n == 0)
		usage("--disk-sync-listen without --disk");
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
	for (size_t i = 0; i < d.ngfence; i++)
		if (d.gfence[i].cmd == NULL && no_fence)
			usage("--guest-fence-timeout %s=%u: guest %s has no "
			    "fence to time (--no-fence, no --guest-fence)",
			    d.gfence[i].name, d.gfence[i].ms, d.gfence[i].name);
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
	check_peers(&d, psk_file || tls_dir);

	d.xen.bridges = d.allow[OPT_ALLOW_BRIDGE - OPT_ALLOW_BRIDGE];
	d.xen.kernels = d.allow[OPT_ALLOW_KERNEL - OPT_ALLOW_BRIDGE];
	d.xen.device_models = d.allow[OPT_ALLOW_DEVICE_MODEL - OPT_ALLOW_BRIDGE];
	d.xen.scripts = d.allow[OPT_ALLOW_SCRIPT - OPT_ALLOW_BRIDGE];
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
	/* Bound and written now: a bad address or path is said before any
	 * primary connects. */
	if ((metrics_addr || metrics_file) && !config_test &&
	    ((d.bm = bmetrics_new()) == NULL ||
	    (d.metrics = metrics_new_fn(EV_DEFAULT, format_metrics, &d,
	    metrics_addr, metrics_file)) == NULL))
		return EXIT_CONFIG;
	if (config_test) {
		fprintf(stderr, "remusd: configuration OK (state directory %s,"
		    " %s%s%s, timeout %u ms)\n", d.cfg.state_dir,
		    receive ? "--receive" : "--listen ",
		    receive ? "" : listen_addr, receive ? "" : d.creds ?
		    (tls_dir ? " with TLS x509" : " with TLS psk") :
		    " insecure", d.cfg.timeout_ms);
		for (size_t i = 0; i < d.ngfence; i++)
			fprintf(stderr, "remusd: guest %s: fence %s, F %u ms\n",
			    d.gfence[i].name, d.gfence[i].cmd ?
			    d.gfence[i].cmd : d.cfg.fence_cmd, d.gfence[i].ms ?
			    d.gfence[i].ms : d.cfg.fence_ms);
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
	if (d.any_peer && d.creds != NULL)
		log_warnx("--any-peer: a guest without --guest-peer may be fed "
		    "by any peer the %s credentials let in",
		    tls_creds_kind(d.creds));
	if (d.cfg.no_guardian)
		log_info("-e: no guest activated here gets a guardian for its "
		    "on_poweroff/on_reboot/on_crash");
	d.loop = EV_DEFAULT;
	d.receive = receive;
	d.dopts.loop = d.loop;
	d.dopts.state_dir = d.cfg.state_dir;
	d.dopts.device_tools = tools;
	ev_check_init(&d.reap, reap_cb);
	ev_idle_init(&d.reap_now, reap_now_cb);
	ev_init(&d.accept_wait, accept_wait_cb);
	ev_signal_init(&d.sigint, signal_cb, SIGINT);
	ev_signal_init(&d.sigterm, signal_cb, SIGTERM);
	ev_signal_init(&d.sigquit, signal_cb, SIGQUIT);
	ev_signal_init(&d.sigusr1, status_cb, SIGUSR1);
	d.sigusr1.data = &d;
	ev_signal_start(d.loop, &d.sigint);
	ev_signal_start(d.loop, &d.sigterm);
	ev_signal_start(d.loop, &d.sigquit);
	ev_signal_start(d.loop, &d.sigusr1);
	if (metrics_file != NULL) {
		ev_timer_init(&d.metrics_tick, metrics_tick_cb, 1., 1.);
		ev_timer_start(d.loop, &d.metrics_tick);
	}
	/* A closed terminal or a stray signal changes nothing. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);

	/* The control socket: one per daemon.  The default one is a
	 * convenience (one remusd --listen per host): if another remusd
	 * serves it, this one goes on without; a path given is a must. */
	if (ctl_socket == NULL && !receive) {
		if (mkdir(run_dir, 0755) == -1 && errno != EEXIST)
			log_warn("%s", run_dir);
		if (ctl_default_path(ctl_buf, sizeof ctl_buf, run_dir, "",
		    "remusd") == 0 && (d.ctl = ctl_backup_new(d.loop, ctl_buf,
		    ctl_each, &d)) == NULL)
			log_warnx("no control socket (--ctl-socket to give "
			    "one)");
	} else if (ctl_socket != NULL && strcmp(ctl_socket, "none") != 0 &&
	    (d.ctl = ctl_backup_new(d.loop, ctl_socket, ctl_each, &d)) ==
	    NULL)
		return EXIT_CONFIG;	/* it said why */
	ctl_backup_set_listen(d.ctl, listen_addr);

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
		session_retire(&d, s);
	}
	if (d.metrics)
		ev_timer_stop(d.loop, &d.metrics_tick);
	metrics_free(d.metrics);	/* the textfile's final figures */
	bmetrics_free(d.bm);
	while (d.handshakes)
		handshake_free(d.handshakes, 1);
	ctl_backup_free(d.ctl);
	ev_timer_stop(d.loop, &d.accept_wait);
	tls_creds_free(d.creds);
	if (d.listen_fd >= 0)
		close(d.listen_fd);
	return status;
}
