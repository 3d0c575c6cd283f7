/* remusd/remus.c -- remus(8): protect a running guest (the primary).
 *
 * A thin main(): parse the flags (xl remus's, see man/remus.8), attach to
 * the guest through domain_ops, open the transport, plug in the devices
 * (devices.h), and run the epoch engine in the one EV_DEFAULT loop until
 * a signal, the loss of the backup, or a guest failure.
 */
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
#include "checkpoint.h"
#include "codec.h"
#include "compiler.h"
#include "devices.h"
#include "domain.h"
#include "fault.h"
#include "log.h"
#include "pidfile.h"
#include "stats.h"
#include "transport.h"
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

#define CONNECT_TIMEOUT_MS	5000
#define TIMEOUT_DEFAULT_MS	3000
#define RECONNECT_DEFAULT_MS	5000

enum {
	OPT_TIMEOUT = 256, OPT_STATS_JSON, OPT_NETBUF_IF, OPT_NETBUF_DRIVER,
	OPT_NETBUF_LIMIT, OPT_DISK, OPT_NBD_LISTEN, OPT_DISK_SERVER, OPT_VERSION,
	OPT_RUN_DIR, OPT_RECONNECT_INTERVAL, OPT_RECONNECT_LIMIT,
	OPT_FENCE_BACKUP,
};

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
	{ "run-dir",		required_argument,	NULL, OPT_RUN_DIR },
	{ "reconnect-interval",	required_argument,	NULL,
	    OPT_RECONNECT_INTERVAL },
	{ "reconnect-limit",	required_argument,	NULL, OPT_RECONNECT_LIMIT },
	{ "fence-backup",	required_argument,	NULL, OPT_FENCE_BACKUP },
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
"usage: remus [-bdeFnuv] [-i ms] [-s cmd] [--timeout ms] [--stats-json file]\n"
"             [--netbuf-if ifname] [--netbuf-driver plug|nfqueue|auto]\n"
"             [--netbuf-limit bytes] [--disk image] [--nbd-listen addr]\n"
"             [--disk-server socket] [--run-dir dir]\n"
"             [--reconnect-interval ms] [--reconnect-limit n]\n"
"             [--fence-backup cmd]\n"
"             domain [host[:port]]\n";

static const char help_text[] =
"Protect a running guest by checkpointing it to a backup (Remus).\n"
"\n"
"  domain            proc:PID (a cooperating process), xen:DOMID|NAME,\n"
"                    or a bare Xen domain name or domid (as for xl remus)\n"
"  host[:port]       the backup: remusd --listen there (TCP, default port\n"
"                    5270; [v6addr]:port for IPv6), or with -s a command\n"
"  -i ms             checkpoint interval, suspend to suspend (25..60000,\n"
"                    default 200)\n"
"  -u                no memory compression (pages go ZERO or RAW)\n"
"  -s cmd            start the backup with \"cmd host remusd --receive\"\n"
"                    (e.g. ssh) and talk over its stdin/stdout; -s \"\" runs\n"
"                    host itself as the command\n"
"  -e                stay in the foreground (always so; for xl compatibility)\n"
"  -b                blackhole: replicate to /dev/null (no host needed)\n"
"  -n                no network buffering (needs -F)\n"
"  -d                no disk replication (needs -F)\n"
"  -F                allow the unsafe settings -n and -d\n"
"  -v                one line per epoch (more -v: more detail)\n"
"  --timeout ms      the longest silence timeout accepted from the backup\n"
"                    (whose -t is the session's; default 3000)\n"
"  --reconnect-interval ms  after losing the backup, try a new session this\n"
"                    often (default 5000; 0: never, exit 4 once released)\n"
"  --reconnect-limit n      give up after n attempts, exit 4 (default 0:\n"
"                    for ever)\n"
"  --fence-backup cmd       run cmd (/bin/sh -c) to fence a lost backup:\n"
"                    held output is released as soon as it succeeds\n"
"  --stats-json file one JSON object per epoch, one per line (- = stdout)\n"
"  --netbuf-if ifname       buffer this interface's output until the ACK\n"
"  --netbuf-driver drv      plug, nfqueue or auto (default auto)\n"
"  --netbuf-limit bytes     netbuf queue limit (K/M/G suffixes)\n"
"  --disk image      replicate this disk image\n"
"  --nbd-listen addr serve the replicated disk to the guest over NBD here\n"
"  --disk-server socket  replicate the disk remus-diskd serves, attaching\n"
"                    at its control socket (found by itself for a Xen\n"
"                    guest whose disk is phy:/dev/nbdN of a remus-diskd)\n"
"  --run-dir dir     keep dir/NAME.pids there for fence-remus-proc (default\n"
"                    /run/remus)\n"
"  -h, --help        this text;  --version  the version\n"
"\n"
"Environment: REMUS_FAULT, REMUS_FAULT_EPOCH (fault injection, tests).\n"
"\n"
"Exit status:\n"
"  0  stopped by SIGINT, SIGTERM or SIGQUIT (END sent, devices released)\n"
"  1  usage error (bad flag or argument)\n"
"  2  guest not found or not supported (kernel feature missing), or\n"
"     already protected by another remus\n"
"  3  backup unreachable, or its handshake failed\n"
"  4  backup lost, output released, and no more reconnecting (interval\n"
"     0, or the reconnect limit reached): the guest continues unprotected\n"
"  5  internal error\n"
"  6  the guest failed (did not suspend or resume, or exited)\n"
"  7  a network or disk buffer could not be set up (no such interface,\n"
"     no CAP_NET_ADMIN, kernel lacks sch_plug and NFQUEUE, bad image,\n"
"     or a Xen guest's disk not served by remus-diskd, without -F -d)\n"
"  8  the guest shut itself down (poweroff, reboot): END sent, the\n"
"     backup does not start its copy\n";

struct remus {
	struct ev_loop	*loop;
	struct ckpt	*ckpt;
	struct stats	*stats;
	ev_signal	 sigint, sigterm, sigquit, sigusr1;
	struct transport_spec {
		const struct transport_ops *ops;
		const char	*host, *cmd;
	} backup;
	enum ckpt_result result;
	const char	*unbuffered;	/* warn at the first epoch: the spec */
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

static void
on_stats(const struct ckpt_epoch_stats *st, void *arg)
{
	struct remus *r = arg;

	/* Said once protection runs, not on the way to another error. */
	if (r->unbuffered != NULL) {
		log_warnx("%s: no network interface to buffer (--netbuf-if): "
		    "the guest's output is not held until the backup has "
		    "its state", r->unbuffered);
		r->unbuffered = NULL;
	}
	stats_epoch(r->stats, st);
}

static void
on_done(struct ckpt *c __unused, enum ckpt_result res, void *arg)
{
	struct remus *r = arg;

	r->result = res;
	ev_break(r->loop, EVBREAK_ALL);
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
	char line[256];

	ckpt_status(r->ckpt, line, sizeof line);
	log_info("status: %s", line);
}

/* P4: the engine asks for a new transport to the same backup. */
static int
reconnect(struct transport *tp, void *arg)
{
	struct remus *r = arg;

	return transport_open(tp, r->backup.ops, r->backup.host,
	    r->backup.cmd, CONNECT_TIMEOUT_MS);
}

static int
exit_status(enum ckpt_result res)
{
	switch (res) {
	case CKPT_STOPPED:		return EXIT_OK;
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
	struct ckpt_config cfg;
	struct transport tp;
	const struct domain_ops *dops;
	const struct transport_ops *tops;
	struct domain *dom = NULL;
	const char *spec, *rest, *host = NULL, *cmd = NULL, *json = NULL;
	int ch, blackhole = 0, compress = 1, no_net = 0, no_disk = 0;
	int unsafe = 0, verbose = 0, status = EXIT_INTERNAL;
	uint64_t v, interval = 200, timeout = TIMEOUT_DEFAULT_MS;
	const char *run_dir = PIDFILE_RUN_DIR;
	static char pids[600];

	memset(&r, 0, sizeof r);
	memset(&dopts, 0, sizeof dopts);
	memset(&cfg, 0, sizeof cfg);
	cfg.reconnect_ms = RECONNECT_DEFAULT_MS;
	memset(&tp, 0, sizeof tp);
	tp.rfd = tp.wfd = -1;
	dopts.netbuf_driver = "auto";

	while ((ch = getopt_long(argc, argv, "bdeFhi:nus:v", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'b':
			blackhole = 1;
			break;
		case 'd':
			no_disk = 1;
			break;
		case 'e':
			/* xl's "do not daemonise": remus and remusd --receive
			 * always stay in the foreground. */
			break;
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
			dopts.disk_image = optarg;
			break;
		case OPT_NBD_LISTEN:
			dopts.nbd_listen = optarg;
			break;
		case OPT_DISK_SERVER:
			dopts.disk_server = optarg;
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
		host = argv[1];
	if (!blackhole && host == NULL)
		usage("no backup host given (or -b for blackhole)");
	if ((no_net || no_disk) && !unsafe)
		usage("-%s turns protection off: also give -F",
		    no_net ? "n" : "d");
	if (cmd && blackhole)
		usage("-s and -b exclude each other");
	if (dopts.disk_server && dopts.disk_image)
		usage("--disk and --disk-server exclude each other");

	log_init("remus", 1, verbose > 1 ? verbose - 1 : 0);
	if (fault_init() == -1) {
		fprintf(stderr, "remus: REMUS_FAULT=%s: unknown fault name\n",
		    getenv("REMUS_FAULT") ? getenv("REMUS_FAULT") : "");
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);

	/* The guest. */
	dops = domain_ops_lookup(spec, &rest);
	if (dops == NULL) {
		fprintf(stderr, "remus: %s: unknown guest type (want proc:PID,"
		    " xen:DOMID|NAME, or a Xen domain%s)\n", spec,
		    domain_ops_lookup("xen:", NULL) ? "" :
		    " -- this build has no Xen driver");
		return EXIT_DOMAIN;
	}
	dom = dops->open(rest);
	if (dom == NULL)
		return EXIT_DOMAIN;	/* the driver said why (E4) */

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
	if (transport_open(&tp, tops, host ? host : "", cmd,
	    CONNECT_TIMEOUT_MS) == -1) {
		status = EXIT_BACKUP;
		goto out;
	}

	r.loop = EV_DEFAULT;
	cfg.interval_ms = (uint32_t)interval;
	cfg.compress = compress;
	cfg.timeout_ms = (uint32_t)timeout;
	cfg.cache_bytes = compress ? CODEC_CACHE_DEFAULT : 0;
	cfg.guest_name = spec;
	r.ckpt = ckpt_new(r.loop, dops, dom, &tp, &cfg);
	if (r.ckpt == NULL) {
		log_warn("checkpoint engine");
		goto out;
	}
	r.stats = stats_new(json, isatty(STDERR_FILENO), verbose);
	if (r.stats == NULL)
		goto out;
	ckpt_set_callbacks(r.ckpt, on_stats, on_done, &r);
	if (!blackhole)
		ckpt_set_connect(r.ckpt, reconnect, &r);

	dopts.loop = r.loop;
	dopts.guest = spec;
	dopts.interval_ms = (uint32_t)interval;
	dopts.no_net = no_net;
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
	if (dev_netbuf_attach(r.ckpt, &dopts) == -1 ||
	    dev_diskbuf_attach(r.ckpt, &dopts) == -1) {
		/* The device said why (E4). */
		status = EXIT_DEVICE;
		goto out;
	}

	/* Before the first epoch: a backup that may activate can fence. */
	if (pidfile_write(run_dir, dops->name, rest, spec, pids,
	    sizeof pids) == -1)
		goto out;

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

	log_debug("%s: interval %" PRIu64 " ms%s, backup %s", spec, interval,
	    compress ? "" : ", no compression", tp.desc);
	if (ckpt_start(r.ckpt) == -1) {
		status = ckpt_get_result(r.ckpt) == CKPT_HANDSHAKE_FAILED ?
		    EXIT_BACKUP : EXIT_INTERNAL;
		goto out;
	}
	if (ckpt_get_result(r.ckpt) == CKPT_RUNNING)
		ev_run(r.loop, 0);
	r.result = ckpt_get_result(r.ckpt);
	status = exit_status(r.result);
	/* The reason for any other end was logged where it happened. */
	if (r.result == CKPT_STOPPED || r.result == CKPT_BACKUP_LOST)
		stats_summary(r.stats, stderr);
out:
	/* Kept where the backup may fence: it verifies with it. */
	if (status == EXIT_OK || status == EXIT_SHUTDOWN ||
	    status == EXIT_BACKUP)
		pidfile_remove(pids);
	if (r.loop) {
		ev_signal_stop(r.loop, &r.sigint);
		ev_signal_stop(r.loop, &r.sigterm);
		ev_signal_stop(r.loop, &r.sigquit);
		ev_signal_stop(r.loop, &r.sigusr1);
	}
	ckpt_free(r.ckpt);
	stats_free(r.stats);
	if (dom && dops->close)
		dops->close(dom);
	transport_close(&tp);
	return status;
}
