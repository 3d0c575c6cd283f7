/* remusd/remus-diskd.c -- serve a guest's disk from before the guest
 * exists, for a remus to protect while it runs.
 *
 *   remus-diskd [-v] [--device /dev/nbdN] [--nbd-listen ADDR]
 *               [--control PATH] IMAGE
 *
 * A Xen guest's vbd must name a block device when `xl create` runs, long
 * before any remus, and the disk must keep working after remus stops or
 * dies.  So the export lives here: IMAGE is served as /dev/nbdN (give the
 * guest `disk = ['phy:/dev/nbdN,xvda,w']`) and/or over NBD at ADDR, and
 * `remus` attaches through the control socket (diskbuf/ctl.c) for as long
 * as it protects the guest.  One remus at a time; a second is turned away
 * with the pid of the first.  The server runs in the foreground, logging
 * to stderr, or to the journal or syslog when stderr is no one's (log.c;
 * -d keeps stderr); SIGTERM disconnects the device and exits.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a usage error or when setup
 * failed (as remus and remusd: 1 is usage).
 */
#define LOG_PREFIX ""

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskbuf.h"
#include "log.h"
#include "util.h"

/* A connection must ask for protection this soon, or it is dropped: the
 * one slot is not for peers that say nothing. */
#define PROTECT_WITHIN_MS	5000

static const char usage_text[] =
"usage: remus-diskd [-dv] [--device /dev/nbdN] [--nbd-listen addr]\n"
"                   [--control path] [--export-name name] image\n";

static const char help_text[] =
"Serve a guest's disk from before the guest exists, for remus to protect.\n"
"\n"
"  --device dev       serve the image as this nbd block device\n"
"  --nbd-listen addr  serve it over NBD too (host:port, unix:path)\n"
"  --control path     where remus attaches (default "
DISKBUF_CTL_DIR "/diskd-<device>.sock)\n"
"  --export-name name the NBD export's name (default disk)\n"
"  -d                 log to stderr even when it is not a terminal\n"
"  -v                 more verbose\n"
"  -h, --help         this text\n"
"\n"
"Exit status:\n"
"  0  stopped by SIGTERM or SIGINT\n"
"  1  usage error (bad flag or argument), or setup failed\n";

static void __dead
usage(const char *why)
{
	if (why)
		fprintf(stderr, "remus-diskd: %s (see remus-diskd --help)\n",
		    why);
	exit(1);
}

enum { OPT_DEVICE = 256, OPT_LISTEN, OPT_CONTROL, OPT_EXPORT };

static const struct option longopts[] = {
	{ "device",	required_argument,	NULL, OPT_DEVICE },
	{ "nbd-listen",	required_argument,	NULL, OPT_LISTEN },
	{ "control",	required_argument,	NULL, OPT_CONTROL },
	{ "export-name", required_argument,	NULL, OPT_EXPORT },
	{ "help",	no_argument,		NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static pid_t
peer_pid(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof uc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return 0;
	return uc.pid;
}

int
main(int argc, char **argv)
{
	struct diskbuf_primary_cfg cfg = { .protect = 0 };
	struct diskbuf_primary *p = NULL;
	const char *device = NULL, *listen_at = NULL, *control = NULL;
	char ctlpath[256], why[128];
	struct pollfd pfd[3];
	sigset_t sigs;
	pid_t remus_pid = 0;
	uint64_t accepted_us = 0;
	int attached = 0;
	int ch, verbose = 0, foreground = 0, lfd = -1, cfd = -1, sfd = -1;
	int rc = 1;

	while ((ch = getopt_long(argc, argv, "dhv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			foreground = 1;
			break;
		case 'v':
			verbose++;
			break;
		case OPT_DEVICE:
			device = optarg;
			break;
		case OPT_LISTEN:
			listen_at = optarg;
			break;
		case OPT_CONTROL:
			control = optarg;
			break;
		case OPT_EXPORT:
			cfg.export_name = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			return 0;
		default:
			usage(NULL);
		}
	}
	if (argc - optind != 1)
		usage("expected one image");
	if (device == NULL && listen_at == NULL)
		usage("give --device, --nbd-listen or both");
	if (control == NULL && device == NULL)
		usage("--control is needed without --device");
	log_init("remus-diskd", foreground, verbose);
	cfg.image = argv[optind];

	if (control == NULL) {
		if (diskbuf_ctl_path(device, ctlpath, sizeof ctlpath) == -1) {
			log_warn("control socket for %s", device);
			return 1;
		}
		control = ctlpath;
		if (mkdir(DISKBUF_CTL_DIR, 0700) == -1 && errno != EEXIST) {
			log_warn("%s", DISKBUF_CTL_DIR);
			return 1;
		}
	}
	/* Signals arrive through a signalfd, so the one loop below sees
	 * them between requests and never inside one. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd == -1) {
		log_warn("signalfd");
		goto out;
	}
	/* The control socket first: it refuses to start next to a live
	 * server of the same disk, before the device is touched. */
	lfd = diskbuf_ctl_listen(control);
	if (lfd == -1)
		goto out;
	p = diskbuf_primary_new(&cfg);
	if (p == NULL)
		goto out;
	if (listen_at && diskbuf_primary_listen(p, listen_at) == -1)
		goto out;
	if (device && diskbuf_primary_attach_device(p, device) == -1)
		goto out;
	log_info("serving %s%s%s%s%s; remus attaches at %s", cfg.image,
	    device ? " as " : "", device ? device : "",
	    listen_at ? " on " : "", listen_at ? listen_at : "", control);

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = cfd, .events = POLLIN };
		if (poll(pfd, cfd == -1 ? 2 : 3,
		    cfd != -1 && !attached ? 500 : -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			goto out;
		}
		if (cfd != -1 && !attached && pfd[2].revents == 0 &&
		    now_us() - accepted_us > PROTECT_WITHIN_MS * 1000ull) {
			log_warnx("pid %d: no protect request within %d ms: "
			    "connection dropped", (int)remus_pid,
			    PROTECT_WITHIN_MS);
			close(cfd);
			cfd = -1;
			continue;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof si) == sizeof si)
				log_info("signal %u: stopping", si.ssi_signo);
			rc = 0;
			goto out;
		}
		if (cfd != -1 && pfd[2].revents) {
			if (diskbuf_ctl_serve_one(p, cfd, cfg.image) == 0) {
				if (!attached && diskbuf_primary_protected(p)) {
					attached = 1;
					log_info("remus (pid %d) attached",
					    (int)remus_pid);
				}
			} else {
				if (errno == EPIPE)
					log_info("%s (pid %d) detached",
					    attached ? "remus" :
					    "control connection",
					    (int)remus_pid);
				else if (errno == EPROTO)
					log_warnx("pid %d: bad control message",
					    (int)remus_pid);
				else
					log_warn("pid %d: control connection",
					    (int)remus_pid);
				diskbuf_primary_unprotect(p, "remus detached");
				/* Its backup went with it; the next remus
				 * starts its own copy. */
				diskbuf_primary_sync_cancel(p);
				close(cfd);
				cfd = -1;
				attached = 0;
			}
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd == -1)
				continue;
			if (cfd != -1) {
				snprintf(why, sizeof why, "%s is protected by "
				    "another remus (pid %d)", cfg.image,
				    (int)remus_pid);
				diskbuf_ctl_refuse(fd, why);
				log_warnx("turned away a second remus (pid %d): "
				    "%s", (int)peer_pid(fd), why);
				close(fd);
				continue;
			}
			cfd = fd;
			accepted_us = now_us();
			remus_pid = peer_pid(fd);
			log_debug("control connection from pid %d",
			    (int)remus_pid);
		}
	}
out:
	if (cfd != -1)
		close(cfd);
	diskbuf_primary_free(p);
	if (lfd != -1) {
		close(lfd);
		unlink(control);
	}
	if (sfd != -1)
		close(sfd);
	return rc;
}
