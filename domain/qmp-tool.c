/* remus-qmp -- the QMP client (qmp.h) from the command line: how it is
 * tested against a real QEMU (tests/functional/qmp-devstate.sh), and a
 * way to try a device model by hand.
 *
 *   remus-qmp [-t MS] [-v] save SOCK FILE
 *   remus-qmp [-t MS] [-v] status SOCK
 *   remus-qmp [-t MS] [-v] exec SOCK COMMAND [ARGS_JSON]
 *   remus-qmp [-t MS] [-v] load SOCK FILE
 *
 * save runs a checkpoint's device-model sequence: stop,
 * xen-save-devices-state into FILE (live false), cont.  It sends cont
 * only if QEMU was running before, since cont also starts a QEMU that was
 * never started (-S, "prelaunch"), and save leaves QEMU as it found it.
 * It sends cont even when the save failed: a failed checkpoint must not
 * leave the guest stopped.  It prints
 *
 *   saved FILE bytes N pause_us U status S
 *
 * U being the time from stop to cont's reply (to the save's reply without
 * cont), S the status before.  status prints query-status's status, exec
 * the "return" value of COMMAND as JSON.  load gives FILE to a QEMU
 * started with -incoming defer (a standby device model: the descriptor
 * over the socket, migrate-incoming) and prints
 *
 *   loaded FILE bytes N load_us U status S
 *
 * U from the descriptor's passing until the load is done, S the status
 * after it.  -t bounds each step (default
 * 10000 ms), -v logs the QEMU version and the events skipped.
 *
 * Exit status: 0 done; 1 QEMU refused or failed a command, or did not
 * answer (one line says which); 2 usage; 3 no QMP connection (no socket,
 * no one listening, no greeting in time, not QMP).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "qmp.h"
#include "util.h"

#define EXIT_QMP	1
#define EXIT_USAGE	2
#define EXIT_CONNECT	3

/* libxl gives QMP commands 10 s (LIBXL_QMP_CMD_TIMEOUT) as well. */
#define TIMEOUT_MS_DEFAULT	10000

static void __dead
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: remus-qmp [-t MS] [-v] save SOCK FILE\n"
	    "       remus-qmp [-t MS] [-v] status SOCK\n"
	    "       remus-qmp [-t MS] [-v] exec SOCK COMMAND [ARGS_JSON]\n"
	    "       remus-qmp [-t MS] [-v] load SOCK FILE\n"
	    "       remus-qmp -h | --help\n"
	    "Exit status:\n"
	    "  0 done\n"
	    "  1 QEMU refused or failed a command, or did not answer\n"
	    "  2 usage\n"
	    "  3 no QMP connection\n");
	exit(status);
}

/* stop, save into FILE, cont if QEMU was running. */
static int
save(struct qmp *q, const char *file)
{
	char status[64], abs[PATH_MAX];
	uint64_t t0, t1;
	struct stat st;
	int running, rc = EXIT_QMP;

	/* QEMU opens FILE in its own working directory, not ours. */
	if (file[0] != '/') {
		if (getcwd(abs, sizeof abs) == NULL) {
			log_warn("getcwd");
			return EXIT_QMP;
		}
		if (strlen(abs) + 1 + strlen(file) >= sizeof abs) {
			log_warnx("%s/%s: longer than PATH_MAX", abs, file);
			return EXIT_QMP;
		}
		strcat(abs, "/");
		strcat(abs, file);
		file = abs;
	}
	if (qmp_status(q, status, sizeof status) == -1)
		return EXIT_QMP;
	running = strcmp(status, "running") == 0;

	t0 = now_us();
	if (qmp_stop(q) == -1)
		return EXIT_QMP;
	if (qmp_save_devices(q, file) == 0)
		rc = 0;
	if (running && qmp_cont(q) == -1)
		rc = EXIT_QMP;
	t1 = now_us();
	if (rc != 0)
		return rc;
	if (stat(file, &st) == -1) {
		log_warn("%s: saved, but", file);
		return EXIT_QMP;
	}
	printf("saved %s bytes %lld pause_us %llu status %s\n", file,
	    (long long)st.st_size, (unsigned long long)(t1 - t0), status);
	return 0;
}

/* FILE into a QEMU waiting with -incoming defer. */
static int
load(struct qmp *q, const char *file)
{
	char status[64];
	struct stat st;
	uint64_t t0;
	int fd, rc = EXIT_QMP;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		log_warn("%s", file);
		goto out;
	}
	t0 = now_us();
	if (qmp_load_devices(q, fd, status, sizeof status) == 0) {
		printf("loaded %s bytes %lld load_us %llu status %s\n", file,
		    (long long)st.st_size,
		    (unsigned long long)(now_us() - t0), status);
		rc = 0;
	}
out:
	if (fd != -1)
		close(fd);
	return rc;
}

int
main(int argc, char **argv)
{
	uint64_t timeout = TIMEOUT_MS_DEFAULT;
	const char *verb, *sock;
	struct qmp *q;
	char status[64], *reply;
	int c, verbose = 0, rc = EXIT_QMP;

	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		usage(0);
	while ((c = getopt(argc, argv, "+t:vh")) != -1) {
		switch (c) {
		case 't':
			if (parse_uint(optarg, 1, 3600000, &timeout) == -1) {
				fprintf(stderr, "remus-qmp: -t %s: not a "
				    "number of milliseconds\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(0);
		default:
			usage(EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2)
		usage(EXIT_USAGE);
	verb = argv[0];
	sock = argv[1];
	if (!(strcmp(verb, "save") == 0 && argc == 3) &&
	    !(strcmp(verb, "load") == 0 && argc == 3) &&
	    !(strcmp(verb, "status") == 0 && argc == 2) &&
	    !(strcmp(verb, "exec") == 0 && (argc == 3 || argc == 4)))
		usage(EXIT_USAGE);
	log_init("remus-qmp", 1, verbose);

	if ((q = qmp_open(sock, (unsigned)timeout)) == NULL)
		return EXIT_CONNECT;
	if (strcmp(verb, "save") == 0) {
		rc = save(q, argv[2]);
	} else if (strcmp(verb, "load") == 0) {
		rc = load(q, argv[2]);
	} else if (strcmp(verb, "status") == 0) {
		if (qmp_status(q, status, sizeof status) == 0) {
			printf("%s\n", status);
			rc = 0;
		}
	} else if (qmp_exec(q, argv[2], argc == 4 ? argv[3] : NULL,
	    &reply) == 0) {
		printf("%s\n", reply);
		free(reply);
		rc = 0;
	}
	qmp_close(q);
	return rc;
}
