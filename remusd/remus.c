/* remusd/remus.c -- remus(8): protect a running guest (the primary).
 *
 * A thin main(): parse the flags (xl remus's, see man/remus.8), attach to
 * the guest through domain_ops, open the transport, plug in the devices
 * (devices.h), and run the epoch engine in the one EV_DEFAULT loop until
 * a signal, the loss of the backup, or a guest failure.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#define LOG_PREFIX ""
#include "caps.h"
#include "checkpoint.h"
#include "codec.h"
#include "compiler.h"
#include "conf.h"
#include "ctl.h"
#include "ctl-primary.h"
#include "devices.h"
#include "diskmap.h"
#include "domain.h"
#include "fault.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "pidfile.h"
#include "progress.h"
#include "ratelimit.h"
#include "stats.h"
#include "tls.h"
#include "transport.h"
#include "uri.h"
#include "util.h"

/* Exit statuses (documented in --help and remus.8). */
#define EXIT_OK		0	/* stopped by SIGINT/SIGTERM, END sent */
#define EXIT_USAGE	1
#define EXIT_DOMAIN	2	/* no such guest / unsupported */
#define EXIT_BACKUP	3	/* backup unreachable / handshake failed */
#define EXIT_LOST	4	/* released, unprotected, not reconnecting */
#define EXIT_INTERNAL	5
#define EXIT_GUEST	6	/* the guest failed (suspend/resume/exit) */
#define EXIT_DEVICE	7	/* netbuf / diskbuf setup refused */
#define EXIT_SHUTDOWN	8	/* the guest shut itself down, END sent */
#define EXIT_SWITCHOVER	9	/* switchover outcome unknown: the guest
				 * left suspended here */

#define CONNECT_TIMEOUT_MS	5000
#define TIMEOUT_DEFAULT_MS	3000
#define RECONNECT_DEFAULT_MS	5000

enum {
	OPT_TIMEOUT = 256, OPT_STATS_JSON, OPT_NETBUF_IF, OPT_NETBUF_DRIVER,
	OPT_NETBUF_LIMIT, OPT_DISK, OPT_NBD_LISTEN, OPT_DISK_SERVER, OPT_VERSION,
	OPT_METRICS, OPT_METRICS_FILE, OPT_RUN_DIR, OPT_RECONNECT_INTERVAL,
	OPT_RECONNECT_LIMIT, OPT_FENCE_BACKUP,
	OPT_PSK_FILE, OPT_PSK_IDENTITY, OPT_TLS_CREDS, OPT_TLS_HOSTNAME,
	OPT_INSECURE, OPT_REMUSD_ARGS,
	OPT_CONFIG, OPT_DISK_SYNC, OPT_DISK_SYNC_RATE, OPT_CTL_SOCKET, OPT_COOKIE,
	OPT_TRIGGER, OPT_MAX_PAUSED_PCT, OPT_MAX_RATE,
	OPT_DIRTY_METHOD, OPT_PRECOPY,
	OPT_SCAN_THREADS, OPT_XEN_MAPCACHE, OPT_SUSPEND_TIMEOUT,
	OPT_XEN_ACK_TIMEOUT, OPT_XEN_REFUSE_GRACE,
	OPT_NAME,	/* the guest's name for the backup (trust) */
	/* Issue 13: the link's management surface. */
	OPT_DEVICE_TOOL, OPT_DEVICE_TOOL_TIMEOUT, OPT_BANDWIDTH,
	OPT_CAPABILITIES, OPT_DNAME,
};

static const char optstring[] = "bcdeFhi:N:npus:v";

static const struct option longopts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, OPT_VERSION },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "stats-json",		required_argument,	NULL, OPT_STATS_JSON },
	{ "netbuf-if",		required_argument,	NULL, OPT_NETBUF_IF },
	{ "netbuf-driver",	required_argument,	NULL, OPT_NETBUF_DRIVER },
	{ "netbuf-limit",	required_argument,	NULL, OPT_NETBUF_LIMIT },
	{ "disk",		required_argument,	NULL, OPT_DISK },
	{ "nbd-listen",		required_argument,	NULL, OPT_NBD_LISTEN },
	{ "disk-server",	required_argument,	NULL, OPT_DISK_SERVER },
	{ "metrics",		required_argument,	NULL, OPT_METRICS },
	{ "metrics-file",	required_argument,	NULL, OPT_METRICS_FILE },
	{ "run-dir",		required_argument,	NULL, OPT_RUN_DIR },
	{ "reconnect-interval",	required_argument,	NULL,
	    OPT_RECONNECT_INTERVAL },
	{ "reconnect-limit",	required_argument,	NULL, OPT_RECONNECT_LIMIT },
	{ "fence-backup",	required_argument,	NULL, OPT_FENCE_BACKUP },
	{ "psk-file",		required_argument,	NULL, OPT_PSK_FILE },
	{ "psk-identity",	required_argument,	NULL, OPT_PSK_IDENTITY },
	{ "tls-creds",		required_argument,	NULL, OPT_TLS_CREDS },
	{ "tls-hostname",	required_argument,	NULL, OPT_TLS_HOSTNAME },
	{ "insecure",		no_argument,		NULL, OPT_INSECURE },
	{ "remusd-args",	required_argument,	NULL, OPT_REMUSD_ARGS },
	/* remus.conf(5), and settings that were environment variables. */
	{ "config",		required_argument,	NULL, OPT_CONFIG },
	{ "disk-sync",		required_argument,	NULL, OPT_DISK_SYNC },
	{ "disk-sync-rate",	required_argument,	NULL,
	    OPT_DISK_SYNC_RATE },
	{ "ctl-socket",		required_argument,	NULL, OPT_CTL_SOCKET },
	{ "cookie",		required_argument,	NULL, OPT_COOKIE },
	{ "trigger",		required_argument,	NULL, OPT_TRIGGER },
	{ "max-paused-pct",	required_argument,	NULL, OPT_MAX_PAUSED_PCT },
	{ "max-rate",		required_argument,	NULL, OPT_MAX_RATE },
	{ "dirty-method",	required_argument,	NULL, OPT_DIRTY_METHOD },
	{ "precopy",		required_argument,	NULL, OPT_PRECOPY },
	{ "scan-threads",	required_argument,	NULL, OPT_SCAN_THREADS },
	{ "xen-mapcache",	no_argument,		NULL, OPT_XEN_MAPCACHE },
	{ "suspend-timeout",	required_argument,	NULL,
	    OPT_SUSPEND_TIMEOUT },
	{ "xen-ack-timeout",	required_argument,	NULL,
	    OPT_XEN_ACK_TIMEOUT },
	{ "xen-refuse-grace",	required_argument,	NULL,
	    OPT_XEN_REFUSE_GRACE },
	{ "name",		required_argument,	NULL, OPT_NAME },
	{ "device-tool",	required_argument,	NULL, OPT_DEVICE_TOOL },
	{ "device-tool-timeout", required_argument,	NULL,
	    OPT_DEVICE_TOOL_TIMEOUT },
	{ "capabilities",	no_argument,		NULL, OPT_CAPABILITIES },
	{ "dname",		required_argument,	NULL, OPT_DNAME },
	{ "bandwidth",		required_argument,	NULL, OPT_BANDWIDTH },
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
"usage: remus [-bdFnuv] [-i ms] [-s cmd] [--timeout ms] [--stats-json file]\n"
"             [--netbuf-if ifname] [--netbuf-driver plug|nfqueue|auto]\n"
"             [--netbuf-limit bytes] [--disk [name=]image ...]\n"
"             [--nbd-listen addr] [--disk-server [name=]socket ...]\n"
"             [--metrics addr] [--metrics-file file]\n"
"             [--run-dir dir] [--reconnect-interval ms] [--reconnect-limit n]\n"
"             [--fence-backup cmd]\n"
"             [--psk-file file [--psk-identity name] |\n"
"              --tls-creds dir [--tls-hostname name] | --insecure]\n"
"             [--remusd-args args] [--ctl-socket path|none]\n"
"             [--name name]\n"
"             [--device-tool type=path ...] [--device-tool-timeout ms]\n"
"             [--bandwidth mbit] [--dname name]\n"
"             [--cookie hex]\n"
"             [--trigger output|interval] [--max-paused-pct pct]\n"
"             [--max-rate hz]\n"
"             [--disk-sync addr [--disk-sync-rate bytes]] [--config file]\n"
"             [--dirty-method method] [--scan-threads n]\n"
"             [--precopy auto|on|off]\n"
"             [--xen-mapcache]\n"
"             [--suspend-timeout ms] [--xen-ack-timeout ms]\n"
"             [--xen-refuse-grace ms]\n"
"             domain [backup] | guest [backup]\n"
"       remus --capabilities\n";

static const char help_text[] =
"Protect a running guest by checkpointing it to a backup (Remus).\n"
"\n"
"  domain            proc:PID (a cooperating process), xen:DOMID|NAME,\n"
"                    or a bare Xen domain name or domid (as for xl remus)\n"
"  backup            where remusd runs: host, host:port, [v6addr]:port or\n"
"                    tcp://host[:port]/ (TCP to remusd --listen, default\n"
"                    port 5270), tls://host[:port]/ (the same, TLS\n"
"                    required), ssh://[user@]host[:port]/ (as -s ssh:\n"
"                    \"ssh [-p port] [user@]host remusd --receive\"); with\n"
"                    -s cmd a host (or an ssh:// URI) for cmd\n"
"  -i ms             checkpoint interval, suspend to suspend (25..60000,\n"
"                    default 200)\n"
"  -u                no memory compression (pages go ZERO or RAW)\n"
"  -s cmd            start the backup with \"cmd host remusd --receive\"\n"
"                    (plus --remusd-args)\n"
"                    (e.g. ssh) and talk over its stdin/stdout; -s \"\" runs\n"
"                    host itself as the command\n"
"  -e                xl's: the backup does not wait in the background for\n"
"                    the activated guest's death (no guardian carries out\n"
"                    its on_poweroff/on_reboot/on_crash; Xen)\n"
"  -N script, -p, -c xl remus flags with no meaning here: refused with one\n"
"                    line saying why\n"
"  -b                blackhole: replicate to /dev/null (no host needed)\n"
"  -n                no network buffering (needs -F)\n"
"  -d                no disk replication (needs -F)\n"
"  -F                allow the unsafe settings -n and -d\n"
"  -v                one line per epoch (more -v: more detail)\n"
"  --timeout ms      the longest silence timeout accepted from the backup\n"
"                    (whose -t is the session's; default 3000)\n"
"  --reconnect-interval ms  after losing the backup, try a new session this\n"
"                    often (default 5000; 0: never, exit 4 once released;\n"
"                    never with --disk/--disk-server: not re-synced)\n"
"  --reconnect-limit n      give up after n attempts, exit 4 (default 0:\n"
"                    for ever)\n"
"  --fence-backup cmd       run cmd (/bin/sh -c) to fence a lost backup:\n"
"                    held output is released as soon as it succeeds\n"
"  --stats-json file one JSON object per epoch, one per line (- = stdout)\n"
"  --netbuf-if ifname       buffer this interface's output until the ACK\n"
"  --netbuf-driver drv      plug, nfqueue or auto (default auto)\n"
"  --netbuf-limit bytes     netbuf queue limit (K/M/G suffixes)\n"
"  --disk [name=]image  replicate this disk image, served by remus\n"
"                    (repeatable: one per disk, each named; the backup's\n"
"                    remusd --disk takes each by its name)\n"
"  --nbd-listen addr serve the replicated disks to the guest over NBD here,\n"
"                    each as the export of its name (default \"disk\")\n"
"  --disk-server [name=]socket  replicate the disk remus-diskd serves,\n"
"                    attaching at its control socket (repeatable; found by\n"
"                    itself for each disk of a Xen guest that is\n"
"                    phy:/dev/nbdN of a remus-diskd, named by its vdev)\n"
"  --metrics addr    serve Prometheus metrics at http://addr/metrics\n"
"  --metrics-file file  write them there too (node_exporter textfile),\n"
"                    at most once a second and at exit\n"
"  --run-dir dir     keep dir/NAME.pids there for fence-remus-proc (default\n"
"                    /run/remus)\n"
"  --psk-file file   TLS 1.3 to the backup with a pre-shared key from file\n"
"                    (\"identity:hexkey\" lines, psktool's format)\n"
"  --psk-identity name  the line of file to use (default: the first)\n"
"  --tls-creds dir   TLS 1.3 with X.509 certificates: dir holds ca-cert.pem,\n"
"                    client-cert.pem, client-key.pem; the backup's\n"
"                    certificate must be signed by that CA and name host\n"
"  --tls-hostname name  the name the backup's certificate must carry\n"
"                    (default: host as given)\n"
"  --insecure        TCP without TLS: the stream crosses in clear and the\n"
"                    backup is not authenticated (-s and -b need no TLS)\n"
"  --remusd-args args  with -s: added to \"remusd --receive\" on the backup,\n"
"                    for what only the backup decides: its fencing, its\n"
"                    state directory (see remusd --help)\n"
"  --disk-sync addr  copy each disk live to the backup's remusd\n"
"                    --disk-sync-listen addr before protecting it, and\n"
"                    resync it so at each reconnect (only what differs)\n"
"  --disk-sync-rate bytes  at most this many bytes a second per disk\n"
"                    (K/M/G)\n"
"  --dirty-method m  proc guests: pagemap-scan, softdirty or auto (default:\n"
"                    pagemap-scan where the kernel has it)\n"
"  --scan-threads n  proc guests: 1 walks the page tables alone, 2 (the\n"
"                    default with 2 CPUs) adds a helper thread\n"
"  --precopy auto|on|off  just before each suspend, read the dirty log\n"
"                    and copy its pages while the guest runs; the pause\n"
"                    copies only what was written since (proc guests with\n"
"                    pagemap-scan).  auto (default): when the last epoch\n"
"                    had 256 pages or more\n"
"  --xen-mapcache    Xen guests: keep 4 MiB chunk mappings across epochs\n"
"  --suspend-timeout ms  longest a guest may take to suspend: proc, to\n"
"                    answer (default 3000); Xen, once it took the request\n"
"                    (default 10000); longer is a guest failure\n"
"  --xen-ack-timeout ms  a Xen guest that does not take a suspend request\n"
"                    this soon is skipped for the epoch (default 500)\n"
"  --xen-refuse-grace ms  skipped epochs for this long are a failure\n"
"                    (default 120000)\n"
"  --config file     read settings from file (default\n"
"                    " CONF_DEFAULT_PATH " if it exists): [remus] and,\n"
"                    when the first operand names one, its [guest NAME]\n"
"                    section; flags given here override the file\n"
"  --cookie hex      the cookie remusd's prepare returned (32 hex\n"
"                    digits): the first session is the prepared one\n"
"  --ctl-socket path the control socket for remusctl (default\n"
"                    dir/remus-NAME.sock of --run-dir, NAME the domain\n"
"                    with ':' and '/' made '_'; none: no socket)\n"
"  --trigger output|interval  what ends an epoch early: output (default:\n"
"                    as soon as the guest's output is held, once the gap\n"
"                    below has passed; -i when it sends nothing) or the\n"
"                    interval only\n"
"  --max-paused-pct pct  with --trigger output, keep the guest paused at\n"
"                    most this share of the time (1..90, default 20)\n"
"  --max-rate hz     with --trigger output, at most this many epochs a\n"
"                    second (1..2000, default 2000)\n"
"  --name name       the guest's name for the backup (its state directory\n"
"                    and its remusd --guest entry there): 1..64 of A-Z a-z\n"
"                    0-9 . _ : @ + - (default: domain as given)\n"
"  --device-tool type=path  an external device tool (repeatable), run as\n"
"                    \"path -type type -step N -host backup -domname name\n"
"                    [-epoch E]\": step 0 before connecting (non-zero\n"
"                    refuses protection), 1 before the first checkpoint,\n"
"                    2 at each suspend, 3 before the epoch's output is\n"
"                    released;\n"
"                    type=coproc:path runs it once, one line per step\n"
"  --device-tool-timeout ms  longest a step may take (default 2000)\n"
"  --bandwidth mbit  cap what goes to the backup at mbit megabits per second\n"
"                    (a token bucket: the full first checkpoint, every\n"
"                    epoch and the disk sync together); an epoch it\n"
"                    stretches beyond the interval is reported\n"
"  --dname name      ask the backup to activate the guest under this name:\n"
"                    with -s or ssh:// it is added to remusd --receive's\n"
"                    flags; a remusd --listen decides with its own --dname\n"
"  --capabilities    what this build can do, as JSON, and exit\n"
"  -h, --help        this text;  --version  the version\n"
"\n"
"Environment: REMUS_FAULT, REMUS_FAULT_EPOCH, REMUS_FAULT_DISK (fault\n"
"injection, tests).\n"
"\n"
"Exit status:\n"
"  0  stopped by SIGINT, SIGTERM or SIGQUIT (END sent, devices released),\n"
"     or switched over (remusctl switchover: the guest runs on the\n"
"     backup, this copy destroyed)\n"
"  1  usage error (bad flag or argument, unusable TLS credentials, or\n"
"     a --stats-json, --metrics, --metrics-file or control socket that\n"
"     cannot be opened)\n"
"  2  guest not found or not supported (kernel feature missing), or\n"
"     already protected by another remus\n"
"  3  backup unreachable, or its handshake (TLS or stream) failed\n"
"  4  backup lost, output released, and no more reconnecting (interval\n"
"     0, the reconnect limit reached, or replicated disks without\n"
"     --disk-sync): the guest continues unprotected\n"
"  5  internal error\n"
"  6  the guest failed (did not suspend or resume, or exited)\n"
"  7  a network or disk buffer could not be set up (no such interface,\n"
"     no CAP_NET_ADMIN, kernel lacks sch_plug and NFQUEUE, bad image,\n"
"     or a Xen guest's disk not served by remus-diskd, without -F -d),\n"
"     or a device tool refused protection (step 0) or failed step 1\n"
"  8  the guest shut itself down (poweroff, reboot): END sent, the\n"
"     backup does not start its copy\n"
"  9  a switchover lost the backup's answer: the guest was left\n"
"     suspended here and may run on the backup\n"
"  78 the configuration file cannot be read or is wrong (one line:\n"
"     FILE:LINE: what)\n";

struct remus {
	struct ev_loop	*loop;
	struct ckpt	*ckpt;
	struct stats	*stats;
	struct metrics	*metrics;	/* NULL: no --metrics* */
	struct ctl_primary *ctl;	/* NULL: --ctl-socket none */
	struct progress	*progress;	/* the full checkpoint's line */
	ev_signal	 sigint, sigterm, sigquit, sigusr1;
	struct transport_spec {
		const struct transport_ops *ops;
		const char	*host, *cmd;
		const struct tls_creds *creds;	/* NULL: no TLS */
		const char	*tls_host;	/* the name its certificate bears */
		int		 tls_host_from_host; /* no --tls-hostname */
		struct tls	*tls;		/* the current session's */
	} backup;
	enum ckpt_result result;
	const char	*unbuffered;	/* warn at the first epoch: the spec */
	/* --bandwidth: the bucket, and what on_stats reports of it. */
	struct ratelimit *rl;
	const char	*bandwidth;	/* as given, for messages */
	uint32_t	 interval_ms;
	/* --disk-sync with replicated disks: where each session's disk
	 * resync goes, which a new backup host must be (ctl_reprotect). */
	const char	*disk_sync;
	uint64_t	 rl_held;	/* ratelimit_held_us at the last epoch */
	uint64_t	 rl_said_us;	/* last stretched-period line */
	unsigned	 rl_stretched;	/* stretched epochs since that line */
};

/* One line naming what was wrong (getopt has printed its own for a bad
 * flag), status 1. */
static __dead void usage(const char *fmt, ...) __printf(1, 2);

static __dead void
usage(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fputs("remus: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputs(" (see remus --help)\n", stderr);
	}
	exit(EXIT_USAGE);
}

/* --bandwidth: what the cap did to epoch ST, said, not hidden: the full
 * checkpoint's rate, and every period the cap stretched beyond the
 * interval (the first at once, then at most one line per 5 s, counting
 * the ones in between). */
static void
bandwidth_report(struct remus *r, const struct ckpt_epoch_stats *st)
{
	uint64_t held = ratelimit_held_us(r->rl), d = held - r->rl_held;
	uint64_t now = now_us();

	r->rl_held = held;
	if (st->full) {
		log_info("epoch %" PRIu64 " (full): %" PRIu64 " bytes sent in "
		    "%.2f s, %.1f Mbit/s under --bandwidth %s (held %.2f s "
		    "by the cap)", st->epoch, st->wire_bytes,
		    st->send_us / 1e6, st->send_us ? st->wire_bytes * 8. /
		    st->send_us : 0., r->bandwidth, d / 1e6);
		return;
	}
	if (st->period_us <= (uint64_t)r->interval_ms * 1050 || d == 0)
		return;
	r->rl_stretched++;
	if (r->rl_said_us != 0 && now - r->rl_said_us < 5000000)
		return;
	log_warnx("epoch %" PRIu64 ": period %.1f ms for an interval of %u "
	    "ms: stretched by --bandwidth %s (%" PRIu64 " bytes, held %.1f "
	    "ms by the cap; %u stretched epochs since the last such line)",
	    st->epoch, st->period_us / 1e3, r->interval_ms, r->bandwidth,
	    st->wire_bytes, d / 1e3, r->rl_stretched);
	r->rl_said_us = now;
	r->rl_stretched = 0;
}

static void
on_stats(const struct ckpt_epoch_stats *st, void *arg)
{
	struct remus *r = arg;

	if (r->rl != NULL)
		bandwidth_report(r, st);

	/* Said once protection runs, not on the way to another error. */
	if (r->unbuffered != NULL) {
		log_warnx("%s: no network interface to buffer (--netbuf-if): "
		    "the guest's output is not held until the backup has "
		    "its state", r->unbuffered);
		r->unbuffered = NULL;
	}
	stats_epoch(r->stats, st);
	metrics_epoch(r->metrics);
	ctl_primary_epoch(r->ctl, st);
}

static void
on_done(struct ckpt *c __unused, enum ckpt_result res, void *arg)
{
	struct remus *r = arg;

	r->result = res;
	ev_break(r->loop, EVBREAK_ALL);
}

/* INT, TERM or QUIT that came while remus was still attaching the guest
 * and its devices, before the loop's watchers took over (P6): kept, and
 * raised again once they have, so that a stop asked right after start
 * (a cluster manager's demote) ends in order instead of by the default
 * action halfway through a device's setup (exit 143, and netbuf's rules
 * half made).  A handler, not a blocked mask: the tools spawned meanwhile
 * must not inherit blocked signals. */
static volatile sig_atomic_t early_signal;

static void
early_signal_cb(int sig)
{
	early_signal = sig;
}

static void
signal_cb(struct ev_loop *loop __unused, ev_signal *w, int revents __unused)
{
	struct remus *r = w->data;

	log_info("%s: orderly shutdown", strsignal(w->signum));
	ckpt_stop(r->ckpt);	/* -> on_done -> ev_break */
}

/* SIGUSR1: one status line, nothing else (P6). */
static void
status_cb(struct ev_loop *loop __unused, ev_signal *w, int revents __unused)
{
	struct remus *r = w->data;
	char line[256], full[160] = "";
	uint64_t done, total, start;

	ckpt_status(r->ckpt, line, sizeof line);
	/* The full checkpoint under way, if one is. */
	if (ckpt_full_progress(r->ckpt, &done, &total, &start)) {
		full[0] = ';';
		full[1] = ' ';
		progress_format(full + 2, sizeof full - 2, done, total, start,
		    now_us(), 0);
	}
	log_info("status: %s%s", line, full);
}

/* P4: the engine asks for a new transport to the same backup. */
/* Open the channel to the backup into TP: the transport, then, with
 * credentials, a TLS 1.3 handshake bounded by the connect timeout, so that
 * the stream, its ACKs and heartbeats all travel inside TLS.  The first
 * connection and every reconnect (P4) go through here.  0, or -1 with
 * errno set (the reason logged). */
static int
backup_connect(struct remus *r, struct transport *tp)
{
	struct tls *tls;

	if (transport_open(tp, r->backup.ops, r->backup.host, r->backup.cmd,
	    CONNECT_TIMEOUT_MS) == -1)
		return -1;
	if (r->backup.creds == NULL) {
		if (r->backup.cmd == NULL && tp->rfd >= 0)
			log_warnx("%s: insecure connection (--insecure): the "
			    "backup is not authenticated and the stream "
			    "crosses in clear", tp->desc);
		return 0;
	}
	tls = tls_new(r->backup.creds, tp->rfd, tp->wfd, tp->desc,
	    r->backup.tls_host);
	if (tls == NULL || tls_handshake_wait(tls, CONNECT_TIMEOUT_MS) == -1) {
		tls_free(tls);		/* it said why, with the peer */
		transport_close(tp);
		errno = ECONNREFUSED;
		return -1;
	}
	log_info("%s: TLS 1.3, authenticated %s", tp->desc,
	    tls_peer_name(tls));
	/* The previous session's link is gone by now (the engine closes
	 * it before it reconnects): its TLS state goes with it. */
	tls_free(r->backup.tls);
	r->backup.tls = tls;
	tp->io = &peer_io_tls;
	tp->io_ctx = tls;
	return 0;
}

static int
reconnect(struct transport *tp, void *arg)
{
	return backup_connect(arg, tp);
}

/* remusctl reprotect HOST: the next session goes to HOST (the current
 * one, if any, ends cleanly first: ckpt_new_backup).  HOST is a URI as on
 * the command line (checkpoint/uri.h), with the command line's
 * refusals. */
static int
ctl_reprotect(void *arg, const char *host, char *why, size_t whylen)
{
	static char hosts[2][URI_HOST_MAX + 16], names[2][URI_HOST_MAX];
	static int which;
	struct remus *r = arg;
	struct uri u;
	char uerr[URI_ERR_MAX], addr[URI_HOST_MAX + 16];

	if (r->backup.cmd != NULL || r->backup.ops == &transport_blackhole_ops) {
		snprintf(why, whylen, "only a TCP backup can change (not -s or "
		    "-b)");
		return -1;
	}
	if (uri_parse(host, 0, &u, uerr, sizeof uerr) == -1) {
		snprintf(why, whylen, "%s", uerr);
		return -1;
	}
	if (u.scheme == URI_SSH) {
		/* ssh:// starts remusd --receive with a command: this remus
		 * talks TCP to a remusd --listen, and switching transports
		 * under a running protection is not done. */
		snprintf(why, whylen, "ssh:// starts the backup over ssh (-s "
		    "ssh), this remus connects to a remusd --listen: "
		    "restart remus with the ssh:// URI");
		return -1;
	}
	if (u.scheme == URI_TLS && r->backup.creds == NULL) {
		snprintf(why, whylen, "tls:// needs --psk-file or --tls-creds, "
		    "and this remus runs --insecure");
		return -1;
	}
	if (uri_addr(&u, addr, sizeof addr) == -1) {
		snprintf(why, whylen, "too long");
		return -1;
	}
	if (r->disk_sync != NULL) {
		char sname[256], sport[32];

		/* The disks resync to --disk-sync at every session: a
		 * backup on another host would never get its copies, and
		 * would refuse to activate for ever. */
		if (transport_parse_addr(r->disk_sync, sname, sizeof sname,
		    sport, sizeof sport) == -1 || strcmp(sname, u.host) != 0) {
			snprintf(why, whylen, "the guest's disks resync to "
			    "--disk-sync %s at every session, not to %s: "
			    "restart remus with the new backup's --disk-sync",
			    r->disk_sync, u.host);
			return -1;
		}
	}
	if (ckpt_new_backup(r->ckpt, "backup changed (remusctl reprotect)") ==
	    -1) {
		snprintf(why, whylen, "%s", errno == EOPNOTSUPP ? "this remus "
		    "cannot protect again (--reconnect-interval 0, or a device "
		    "that cannot hold output again)" : strerror(errno));
		return -1;
	}
	/* Two slots: the engine may still print the old one. */
	which ^= 1;
	snprintf(hosts[which], sizeof hosts[which], "%s", addr);
	r->backup.host = hosts[which];
	if (r->backup.creds != NULL && r->backup.tls_host_from_host) {
		snprintf(names[which], sizeof names[which], "%s", u.host);
		r->backup.tls_host = names[which];
	}
	log_info("backup is now %s: protecting again there", addr);
	return 0;
}

/* status's "backup": the TCP backup remus protects to now, connected or
 * not (after a reprotect, the new one). */
static const char *
ctl_backup_desc(void *arg)
{
	static char desc[URI_HOST_MAX + 24];
	struct remus *r = arg;

	if (r->backup.cmd != NULL || r->backup.ops != &transport_tcp_ops)
		return NULL;	/* the link's own description */
	snprintf(desc, sizeof desc, "tcp:%s", r->backup.host);
	return desc;
}

/* 32 hex digits into 16 bytes. */
static int
parse_cookie(const char *s, uint8_t out[STREAM_COOKIE_LEN])
{
	unsigned i, v;

	if (strlen(s) != 2 * STREAM_COOKIE_LEN)
		return -1;
	for (i = 0; i < STREAM_COOKIE_LEN; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    !isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]))
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static const struct ctl_primary_ops ctl_ops = {
	.reprotect = ctl_reprotect,
	.backup = ctl_backup_desc,
};

static int
exit_status(enum ckpt_result res)
{
	switch (res) {
	case CKPT_STOPPED:
	case CKPT_SWITCHED_OVER:	return EXIT_OK;
	case CKPT_SWITCHOVER_UNKNOWN:	return EXIT_SWITCHOVER;
	case CKPT_HANDSHAKE_FAILED:	return EXIT_BACKUP;
	case CKPT_BACKUP_LOST:		return EXIT_LOST;
	case CKPT_GUEST_FAILED:		return EXIT_GUEST;
	case CKPT_GUEST_SHUTDOWN:	return EXIT_SHUTDOWN;
	case CKPT_RUNNING:
	case CKPT_INTERNAL:		break;
	}
	return EXIT_INTERNAL;
}

int
main(int argc, char **argv)
{
	struct remus r;
	struct remus_devopts dopts;
	static char auto_ifs[1024], auto_disks[512];
	/* --disk and --disk-server, in order: disk index i is entry i.
	 * Static: it lives as long as the devices that borrow it. */
	static struct diskmap disks;
	char derr[512];
	struct ckpt_config cfg;
	struct transport tp;
	const struct domain_ops *dops;
	const struct transport_ops *tops;
	struct domain *dom = NULL;
	const char *spec, *rest, *host = NULL, *cmd = NULL, *json = NULL;
	const char *metrics_addr = NULL, *metrics_file = NULL;
	char hbuf[256], pbuf[16];
	const char *psk_file = NULL, *psk_id = NULL, *tls_dir = NULL;
	const char *tls_host = NULL;
	struct tls_creds *creds = NULL;
	int insecure = 0;
	const char *remusd_args = NULL;
	struct uri buri;
	const char *guest_name = NULL;	/* --name */
	static const char *tools[DEVICE_TOOLS_MAX + 1];
	size_t ntools = 0;
	char terr[256];
	const char *backup_arg = NULL;
	uint64_t bandwidth = 0;
	const char *dname = NULL;
	static char *dname_args;
	static char *backup_line;
	int ch, blackhole = 0, compress = 1, no_net = 0, no_disk = 0;
	int unsafe = 0, verbose = 0, status = EXIT_INTERNAL;
	uint64_t v, interval = 200, timeout = TIMEOUT_DEFAULT_MS;
	const char *run_dir = PIDFILE_RUN_DIR;
	static char pids[600];
	char cerr[512];
	const char *ctl_socket = NULL;
	char ctl_buf[128];
	static uint8_t cookie[STREAM_COOKIE_LEN];
	struct domain_opts domopts;

	{	/* first of all: see early_signal */
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		sa.sa_handler = early_signal_cb;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGQUIT, &sa, NULL);
	}
	memset(&r, 0, sizeof r);
	memset(&dopts, 0, sizeof dopts);
	memset(&domopts, 0, sizeof domopts);
	memset(&cfg, 0, sizeof cfg);
	cfg.reconnect_ms = RECONNECT_DEFAULT_MS;
	cfg.trigger = CKPT_TRIGGER_OUTPUT;	/* docs/netbuf.md: measured */
	memset(&tp, 0, sizeof tp);
	tp.rfd = tp.wfd = -1;
	dopts.netbuf_driver = "auto";

	/* remus.conf(5): the file's settings go in front of ours, as flags. */
	if (conf_apply(CONF_PROG_REMUS, optstring, longopts, &argc, &argv,
	    cerr, sizeof cerr) == -1) {
		fprintf(stderr, "%s\n", cerr);
		return CONF_EXIT;
	}
	while ((ch = getopt_long(argc, argv, optstring, longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			blackhole = 1;
			break;
		case 'd':
			no_disk = 1;
			break;
		case 'e':
			/* xl's -e: the backup does not stay behind as the
			 * activated guest's guardian (HELLO asks it). */
			cfg.hello_flags |= STREAM_HELLO_NO_GUARDIAN;
			break;
		/* xl remus flags that cannot mean anything here: refused,
		 * so that a script written for xl learns it at once. */
		case 'c':
			usage("-c: COLO is not implemented, only Remus");
		case 'N':
			usage("-N %s: there are no netbuf scripts: remus "
			    "buffers itself (--netbuf-if, --netbuf-driver)",
			    optarg);
		case 'p':
			usage("-p: the userspace COLO proxy belongs to COLO "
			    "(-c), which is not implemented");
		case 'F':
			unsafe = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			return EXIT_OK;
		case 'i':
			if (parse_uint(optarg, 25, 60000, &interval) == -1)
				usage("-i %s: want milliseconds in 25..60000",
				    optarg);
			break;
		case 'n':
			no_net = 1;
			break;
		case 'u':
			compress = 0;
			break;
		case 's':
			cmd = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case OPT_TIMEOUT:
			if (parse_uint(optarg, 100, 3600000, &timeout) == -1)
				usage("--timeout %s: want milliseconds in "
				    "100..3600000", optarg);
			break;
		case OPT_STATS_JSON:
			json = optarg;
			break;
		case OPT_NETBUF_IF:
			dopts.netbuf_if = optarg;
			break;
		case OPT_NETBUF_DRIVER:
			if (strcmp(optarg, "plug") && strcmp(optarg, "nfqueue") &&
			    strcmp(optarg, "auto"))
				usage("--netbuf-driver %s: want plug, nfqueue "
				    "or auto", optarg);
			dopts.netbuf_driver = optarg;
			break;
		case OPT_NETBUF_LIMIT:
			if (parse_size(optarg, &v) == -1 || v == 0)
				usage("--netbuf-limit %s: want a size in bytes",
				    optarg);
			dopts.netbuf_limit = v;
			break;
		case OPT_DISK:
			if (diskmap_add(&disks, optarg, 0, DEV_DISK_IMAGE,
			    "--disk", derr, sizeof derr) == -1)
				usage("%s", derr);
			break;
		case OPT_NBD_LISTEN:
			dopts.nbd_listen = optarg;
			break;
		case OPT_DISK_SERVER:
			if (diskmap_add(&disks, optarg, 0, DEV_DISK_SERVER,
			    "--disk-server", derr, sizeof derr) == -1)
				usage("%s", derr);
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
		case OPT_RUN_DIR:
			run_dir = optarg;
			break;
		case OPT_RECONNECT_INTERVAL:
			if (parse_uint(optarg, 0, 3600000, &v) == -1)
				usage("--reconnect-interval %s: want milliseconds"
				    " in 0..3600000", optarg);
			cfg.reconnect_ms = (uint32_t)v;
			break;
		case OPT_RECONNECT_LIMIT:
			if (parse_uint(optarg, 0, UINT32_MAX, &v) == -1)
				usage("--reconnect-limit %s: want a count",
				    optarg);
			cfg.reconnect_limit = (uint32_t)v;
			break;
		case OPT_FENCE_BACKUP:
			cfg.fence_backup = optarg;
			break;
		case OPT_PSK_FILE:
			psk_file = optarg;
			break;
		case OPT_PSK_IDENTITY:
			psk_id = optarg;
			break;
		case OPT_TLS_CREDS:
			tls_dir = optarg;
			break;
		case OPT_TLS_HOSTNAME:
			tls_host = optarg;
			break;
		case OPT_INSECURE:
			insecure = 1;
			break;
		case OPT_REMUSD_ARGS:
			remusd_args = optarg;
			break;
		case OPT_CONFIG:
			break;		/* read by conf_apply */
		case OPT_DIRTY_METHOD:
			if (strcmp(optarg, "auto") &&
			    strcmp(optarg, "pagemap-scan") &&
			    strcmp(optarg, "softdirty"))
				usage("--dirty-method %s: want pagemap-scan, "
				    "softdirty or auto", optarg);
			domopts.dirty_method = optarg;
			break;
		case OPT_PRECOPY:
			if (ckpt_precopy_parse(optarg, &cfg.precopy) == -1)
				usage("--precopy %s: want auto, on or off",
				    optarg);
			break;
		case OPT_SCAN_THREADS:
			if (parse_uint(optarg, 1, 2, &v) == -1)
				usage("--scan-threads %s: want 1 or 2", optarg);
			domopts.scan_threads = (unsigned)v;
			break;
		case OPT_XEN_MAPCACHE:
			domopts.xen_mapcache = 1;
			break;
		case OPT_SUSPEND_TIMEOUT:
		case OPT_XEN_ACK_TIMEOUT:
		case OPT_XEN_REFUSE_GRACE:
			if (parse_uint(optarg, 1, 3600000, &v) == -1)
				usage("--%s %s: want milliseconds in "
				    "1..3600000", ch == OPT_SUSPEND_TIMEOUT ?
				    "suspend-timeout" : ch == OPT_XEN_ACK_TIMEOUT ?
				    "xen-ack-timeout" : "xen-refuse-grace",
				    optarg);
			if (ch == OPT_SUSPEND_TIMEOUT)
				domopts.suspend_timeout_ms = (uint32_t)v;
			else if (ch == OPT_XEN_ACK_TIMEOUT)
				domopts.xen_ack_timeout_ms = (uint32_t)v;
			else
				domopts.xen_refuse_grace_ms = (uint32_t)v;
			break;
		case OPT_DISK_SYNC:
			if (transport_parse_addr(optarg, hbuf, sizeof hbuf,
			    pbuf, sizeof pbuf) == -1)
				usage("--disk-sync %s: want host:port", optarg);
			dopts.disk_sync = optarg;
			break;
		case OPT_DISK_SYNC_RATE:
			if (parse_size(optarg, &v) == -1)
				usage("--disk-sync-rate %s: want bytes a second"
				    " (K/M/G suffixes)", optarg);
			dopts.disk_sync_rate = v;
			break;
		case OPT_CTL_SOCKET:
			ctl_socket = optarg;
			break;
		case OPT_COOKIE:
			if (parse_cookie(optarg, cookie) == -1)
				usage("--cookie %s: want the %u hex digits "
				    "remusctl prepare printed", optarg,
				    2 * STREAM_COOKIE_LEN);
			cfg.cookie = cookie;
			break;
		case OPT_TRIGGER:
			if (ckpt_trigger_parse(optarg, &cfg.trigger) == -1)
				usage("--trigger %s: want output or interval",
				    optarg);
			break;
		case OPT_MAX_PAUSED_PCT:
			if (parse_uint(optarg, 1, 90, &v) == -1)
				usage("--max-paused-pct %s: want a percentage "
				    "in 1..90", optarg);
			cfg.max_paused_pct = (uint32_t)v;
			break;
		case OPT_MAX_RATE:
			if (parse_uint(optarg, 1, 2000, &v) == -1)
				usage("--max-rate %s: want epochs a second in "
				    "1..2000", optarg);
			cfg.max_rate_hz = (uint32_t)v;
			break;
		case OPT_NAME:
			if (*optarg == '\0' || strlen(optarg) > 64 ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@+-") !=
			    strlen(optarg) || optarg[0] == '.')
				usage("--name %s: want 1..64 of A-Z a-z 0-9 . _ "
				    ": @ + - (not starting with .)", optarg);
			guest_name = optarg;
			break;
		case OPT_DEVICE_TOOL:
			if (ntools == DEVICE_TOOLS_MAX)
				usage("--device-tool: at most %d tools",
				    DEVICE_TOOLS_MAX);
			if (dev_tool_check_arg(optarg, terr, sizeof terr) == -1)
				usage("--device-tool %s: %s", optarg, terr);
			tools[ntools++] = optarg;
			break;
		case OPT_DEVICE_TOOL_TIMEOUT:
			if (parse_uint(optarg, 1, 3600000, &v) == -1)
				usage("--device-tool-timeout %s: want "
				    "milliseconds in 1..3600000", optarg);
			dopts.device_tool_timeout_ms = (uint32_t)v;
			break;
		case OPT_DNAME:
			dname = optarg;
			break;
		case OPT_BANDWIDTH:
			if (ratelimit_parse_mbit(optarg, &v) == -1)
				usage("--bandwidth %s: want megabits per second"
				    " in 0.001..1000000", optarg);
			r.bandwidth = optarg;
			bandwidth = v;
			break;
		case OPT_CAPABILITIES:
			return caps_print(stdout, "remus") == 0 ? EXIT_OK :
			    EXIT_INTERNAL;
		case OPT_VERSION:
			printf("remus %s\n", REMUS_VERSION);
			return EXIT_OK;
		default:
			usage(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage("no domain given");
	if (argc > 2)
		usage("unexpected argument \"%s\"", argv[2]);
	spec = argv[0];
	if (argc == 2)
		host = backup_arg = argv[1];
	if (!blackhole && host == NULL)
		usage("no backup host given (or -b for blackhole)");
	if ((no_net || no_disk) && !unsafe)
		usage("-%s turns protection off: also give -F",
		    no_net ? "n" : "d");
	if (cmd && blackhole)
		usage("-s and -b exclude each other");
	if (bandwidth && blackhole)
		usage("--bandwidth and -b exclude each other (no link to cap)");
	dopts.disks = &disks;
	if (dopts.disk_sync_rate && !dopts.disk_sync)
		usage("--disk-sync-rate without --disk-sync");
	/* The backup's address (checkpoint/uri.h): host[:port], tcp://,
	 * tls:// (TLS required), or ssh:// (-s ssh: remusd --receive over
	 * ssh).  With -s CMD only an ssh:// URI is parsed (CMD is then the
	 * ssh to run); with -s "" the host is a command. */
	memset(&buri, 0, sizeof buri);
	if (!blackhole && !(cmd && cmd[0] == '\0') &&
	    (cmd == NULL || strstr(host, "://") != NULL)) {
		static char baddr[URI_HOST_MAX + 16], sshcmd[600];
		char uerr[URI_ERR_MAX], portarg[16];

		if (uri_parse(host, 0, &buri, uerr, sizeof uerr) == -1)
			usage("%s: %s", host, uerr);
		if (cmd && buri.scheme != URI_SSH)
			usage("-s and %s:// exclude each other (-s starts the "
			    "backup with a command)",
			    uri_scheme_name(buri.scheme));
		if (buri.scheme == URI_TLS && insecure)
			usage("%s: tls:// and --insecure exclude each other",
			    host);
		if (buri.scheme == URI_TLS && !psk_file && !tls_dir)
			usage("%s: tls:// needs --psk-file or --tls-creds",
			    host);
		if (buri.scheme == URI_SSH) {
			if (uri_ssh_target(&buri, baddr, sizeof baddr, portarg,
			    sizeof portarg) == -1)
				usage("%s: too long", host);
			snprintf(sshcmd, sizeof sshcmd, "%s%s%s", cmd ? cmd :
			    "ssh", portarg[0] ? " " : "", portarg);
			cmd = sshcmd;
		} else if (uri_addr(&buri, baddr, sizeof baddr) == -1)
			usage("%s: too long", host);
		host = baddr;
	}
	if (psk_file && tls_dir)
		usage("--psk-file and --tls-creds exclude each other");
	if (insecure && (psk_file || tls_dir))
		usage("--insecure and --%s exclude each other",
		    psk_file ? "psk-file" : "tls-creds");
	if (psk_id && !psk_file)
		usage("--psk-identity without --psk-file");
	if (tls_host && !tls_dir)
		usage("--tls-hostname without --tls-creds");
	if ((cmd || blackhole) && (psk_file || tls_dir || insecure))
		usage("%s needs no --psk-file, --tls-creds or --insecure "
		    "(TLS is for remusd --listen)", buri.scheme == URI_SSH ?
		    "ssh://" : cmd ? "-s" : "-b");
	/* --dname: the backup's configuration decides the name; the
	 * primary can only ask where it writes that configuration, the
	 * remusd --receive command line (remusd checks the name). */
	if (dname && (cmd == NULL || cmd[0] == '\0'))
		usage("--dname %s: a remusd --listen names guests with its own "
		    "--dname; with -s or ssh:// remus passes it to remusd "
		    "--receive%s", dname, cmd ? " (with -s \"\" the command "
		    "is yours: put --dname in it)" : "");
	if (dname) {
		if (strspn(dname, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(dname))
			usage("--dname %s: want letters, digits, '.', '_' or "
			    "'-'", dname);
		if (asprintf(&dname_args, "%s%s--dname %s", remusd_args ?
		    remusd_args : "", remusd_args ? " " : "", dname) < 0)
			return EXIT_INTERNAL;
		remusd_args = dname_args;
	}
	if (remusd_args && (cmd == NULL || cmd[0] == '\0'))
		usage("--remusd-args goes with -s cmd (with -s \"\" the host "
		    "argument is the whole command)");
	/* remusd --receive must be told how to fence (it refuses to start
	 * otherwise), so -s carries the backup's flags: the line becomes
	 * the whole command, as with -s "". */
	if (remusd_args) {
		if (asprintf(&backup_line, "%s %s remusd --receive %s", cmd,
		    host, remusd_args) < 0) {
			backup_line = NULL;
			return EXIT_INTERNAL;
		}
		host = backup_line;
		cmd = "";
	}
	if (!cmd && !blackhole && !psk_file && !tls_dir && !insecure)
		usage("TCP to the backup without TLS credentials (--psk-file "
		    "or --tls-creds) sends the guest's memory in clear to "
		    "whoever answers: give --insecure to mean it");

	log_init("remus", 0, verbose > 1 ? verbose - 1 : 0);
	if (fault_init() == -1) {
		fprintf(stderr, "remus: REMUS_FAULT=%s: unknown fault name\n",
		    getenv("REMUS_FAULT") ? getenv("REMUS_FAULT") : "");
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);

	/* Files named on the command line are opened before the guest is
	 * touched: a typo must not cost an attach (and, for Xen, a lock). */
	r.stats = stats_new(json, isatty(STDERR_FILENO), verbose);
	if (r.stats == NULL)
		return EXIT_USAGE;
	if ((metrics_addr || metrics_file) && (r.metrics = metrics_new(
	    EV_DEFAULT, r.stats, metrics_addr, metrics_file)) == NULL) {
		stats_free(r.stats);
		return EXIT_USAGE;
	}
	/* Credentials before anything is touched: a bad file is a usage
	 * error, said before the guest is attached. */
	if (psk_file)
		creds = tls_creds_psk(psk_file, TLS_CLIENT, psk_id);
	else if (tls_dir)
		creds = tls_creds_x509(tls_dir, TLS_CLIENT);
	if ((psk_file || tls_dir) && creds == NULL)
		return EXIT_USAGE;	/* tls_creds_* said why */

	/* The guest. */
	dops = domain_ops_lookup(spec, &rest);
	if (dops == NULL) {
		metrics_free(r.metrics);
		stats_free(r.stats);
		fprintf(stderr, "remus: %s: unknown guest type (want proc:PID,"
		    " xen:DOMID|NAME, or a Xen domain%s)\n", spec,
		    domain_ops_lookup("xen:", NULL) ? "" :
		    " -- this build has no Xen driver");
		return EXIT_DOMAIN;
	}
	dom = dops->open(rest, &domopts);
	if (dom == NULL) {
		metrics_free(r.metrics);
		stats_free(r.stats);
		return EXIT_DOMAIN;	/* the driver said why (E4) */
	}
	/* Before the backup is even connected: one that may activate can
	 * fence (fence-remus-proc reads it).  Named as the backup knows the
	 * guest (REMUS_FENCE_NAME): --name, else the spec. */
	if (pidfile_write(run_dir, dops->name, rest,
	    guest_name ? guest_name : spec, pids,
	    sizeof pids) == -1)
		goto out;

	/* Disks remus does not replicate would leave the backup's copy
	 * with memory from one moment and disks from another (or none):
	 * refused unless -F -d says they are shared or do not matter. */
	if (!no_disk && dops->disks != NULL) {
		if (dops->disks(dom, auto_disks, sizeof auto_disks) == -1 ||
		    dev_diskbuf_guest_disks(spec, auto_disks, &dopts) == -1) {
			status = EXIT_DEVICE;
			goto out;
		}
	}

	/* The backup. */
	if (blackhole)
		tops = &transport_blackhole_ops;
	else if (cmd)
		tops = &transport_cmd_ops;
	else
		tops = &transport_tcp_ops;
	r.backup.ops = tops;
	r.backup.host = host ? host : "";
	r.backup.cmd = cmd;
	r.backup.creds = creds;
	if (creds != NULL) {
		static char name[256];
		char port[32];

		/* The certificate must name the host as given, unless
		 * --tls-hostname says which name it carries. */
		if (tls_host == NULL && transport_parse_addr(host, name,
		    sizeof name, port, sizeof port) == 0) {
			tls_host = name;
			r.backup.tls_host_from_host = 1;
		}
		r.backup.tls_host = tls_host;
	}
	/* Device tools' step 0 before the backup hears anything: a device
	 * that cannot be protected refuses it here. */
	dopts.device_tools = tools;
	dopts.backup_host = blackhole ? "blackhole" : backup_arg;
	dopts.guest = spec;
	if (dev_tool_prepare(&dopts) == -1) {
		status = EXIT_DEVICE;
		goto out;
	}

	r.loop = EV_DEFAULT;
	cfg.interval_ms = (uint32_t)interval;
	cfg.compress = compress;
	cfg.timeout_ms = (uint32_t)timeout;
	cfg.cache_bytes = compress ? CODEC_CACHE_DEFAULT : 0;
	cfg.guest_name = guest_name ? guest_name : spec;
	if (bandwidth && (r.rl = ratelimit_new(bandwidth)) == NULL) {
		log_warn("--bandwidth");
		goto out;
	}
	cfg.ratelimit = r.rl;
	r.interval_ms = (uint32_t)interval;
	dopts.ratelimit = r.rl;
	r.ckpt = ckpt_new(r.loop, dops, dom, &tp, &cfg);
	if (r.ckpt == NULL) {
		log_warn("checkpoint engine");
		goto out;
	}
	ckpt_set_callbacks(r.ckpt, on_stats, on_done, &r);
	if (!blackhole)
		ckpt_set_connect(r.ckpt, reconnect, &r);

	dopts.loop = r.loop;
	dopts.guest = spec;
	dopts.interval_ms = (uint32_t)interval;
	dopts.no_net = no_net;
	dopts.trigger_output = cfg.trigger == CKPT_TRIGGER_OUTPUT;
	/* Without --netbuf-if, buffer what the driver knows carries the
	 * guest's output (a Xen domain's vifs), as xl remus does. */
	if (!no_net && dopts.netbuf_if == NULL && !blackhole &&
	    dops->net_ifaces != NULL) {
		if (dops->net_ifaces(dom, auto_ifs, sizeof auto_ifs) == -1) {
			status = EXIT_DEVICE;
			goto out;
		}
		if (auto_ifs[0] != '\0') {
			log_info("%s: buffering the output of %s", spec,
			    auto_ifs);
			dopts.netbuf_if = auto_ifs;
		}
	}
	if (!no_net && dopts.netbuf_if == NULL && !blackhole)
		r.unbuffered = spec;
	dopts.no_disk = no_disk;
	/* Device tools first: step 3 (their commit) runs before netbuf's
	 * commit releases the epoch's output. */
	if (dev_tool_attach(r.ckpt, &dopts) == -1 ||
	    dev_netbuf_attach(r.ckpt, &dopts) == -1 ||
	    dev_diskbuf_attach(r.ckpt, &dopts) == -1) {
		/* The device said why (E4). */
		status = EXIT_DEVICE;
		goto out;
	}
	metrics_set_held(r.metrics, dev_netbuf_held);
	metrics_set_progress(r.metrics, r.ckpt, dev_diskbuf_sync_disk);
	/* Connected only now, with every device set up: the backup drops a
	 * peer whose HELLO does not follow its connect within
	 * --hello-timeout, and a Xen vif's plug qdisc alone took 4.6 s under
	 * the lab's emulation.  HELLO goes out at ckpt_start, moments after.
	 * (The engine touches the transport from ckpt_start on.) */
	if (backup_connect(&r, &tp) == -1) {
		status = EXIT_BACKUP;
		goto out;
	}
	if (!no_disk && dopts.disks != NULL && dopts.disks->n > 0)
		r.disk_sync = dopts.disk_sync;

	/* The control socket (remusctl), once there is an engine to ask. */
	if (ctl_socket == NULL) {
		if (ctl_default_path(ctl_buf, sizeof ctl_buf, run_dir,
		    "remus-", spec) == -1) {
			log_warnx("--run-dir %s: too long for the control "
			    "socket's path: give --ctl-socket", run_dir);
			status = EXIT_USAGE;
			goto out;
		}
		ctl_socket = ctl_buf;
	}
	if (strcmp(ctl_socket, "none") != 0 && (r.ctl = ctl_primary_new(
	    r.loop, ctl_socket, r.ckpt, r.stats, spec, &ctl_ops, &r)) ==
	    NULL) {
		status = EXIT_USAGE;	/* it said why */
		goto out;
	}

	/* P6: INT, TERM and QUIT stop in order; USR1 says where we are;
	 * HUP, USR2 and PIPE change nothing (a closed terminal or a stray
	 * signal must not start the backup's copy). */
	ev_signal_init(&r.sigint, signal_cb, SIGINT);
	ev_signal_init(&r.sigterm, signal_cb, SIGTERM);
	ev_signal_init(&r.sigquit, signal_cb, SIGQUIT);
	ev_signal_init(&r.sigusr1, status_cb, SIGUSR1);
	r.sigint.data = r.sigterm.data = r.sigquit.data = r.sigusr1.data = &r;
	ev_signal_start(r.loop, &r.sigint);
	ev_signal_start(r.loop, &r.sigterm);
	ev_signal_start(r.loop, &r.sigquit);
	ev_signal_start(r.loop, &r.sigusr1);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	if (early_signal)
		raise(early_signal);	/* to the watchers above */

	log_debug("%s: interval %" PRIu64 " ms%s, backup %s", spec, interval,
	    compress ? "" : ", no compression", tp.desc);
	if (ckpt_start(r.ckpt) == -1) {
		status = ckpt_get_result(r.ckpt) == CKPT_HANDSHAKE_FAILED ?
		    EXIT_BACKUP : EXIT_INTERNAL;
		goto out;
	}
	/* Best effort: without it, no progress line. */
	r.progress = progress_new(r.loop, r.ckpt, isatty(STDERR_FILENO));
	if (ckpt_get_result(r.ckpt) == CKPT_RUNNING)
		ev_run(r.loop, 0);
	r.result = ckpt_get_result(r.ckpt);
	status = exit_status(r.result);
	/* The reason for any other end was logged where it happened. */
	if (r.result == CKPT_STOPPED || r.result == CKPT_BACKUP_LOST ||
	    r.result == CKPT_SWITCHED_OVER)
		stats_summary(r.stats, stderr);
out:
	/* Kept where the backup may activate (4, 5, 6): a fence verifies
	 * with it.  Otherwise no backup holds anything of this session. */
	if (status != EXIT_LOST && status != EXIT_INTERNAL &&
	    status != EXIT_GUEST && status != EXIT_SWITCHOVER)
		pidfile_remove(pids);
	if (r.loop) {
		ev_signal_stop(r.loop, &r.sigint);
		ev_signal_stop(r.loop, &r.sigterm);
		ev_signal_stop(r.loop, &r.sigquit);
		ev_signal_stop(r.loop, &r.sigusr1);
	}
	ctl_primary_free(r.ctl);	/* before the engine it asks */
	progress_free(r.progress);
	/* metrics_free writes the final figures: not from a freed engine. */
	metrics_set_progress(r.metrics, NULL, dev_diskbuf_sync_disk);
	ckpt_free(r.ckpt);
	dev_tool_unprepare();		/* tools attach did not take */
	metrics_free(r.metrics);	/* the textfile's final figures */
	stats_free(r.stats);
	/* After a switchover whose answer was lost the guest must stay
	 * suspended: close would resume it.  (A proc guest was held with
	 * SIGSTOP: its control socket closing at our exit does not wake
	 * it.) */
	if (dom && dops->close && r.result != CKPT_SWITCHOVER_UNKNOWN)
		dops->close(dom);
	transport_close(&tp);
	tls_free(r.backup.tls);
	tls_creds_free(creds);
	ratelimit_free(r.rl);
	return status;
}
