/* diskbuf/disksync-main.c -- remus-disksync: the initial disk sync.
 *
 *   backup:  remus-disksync recv [-c] IMAGE [HOST]:PORT
 *   primary: remus-disksync send [-q] [-b BLOCK] [-n NAME] [-r RATE]
 *            [-w SECS] IMAGE HOST:PORT
 *            (RATE: bytes per second, K/M/G suffixes; NAME: the disk's, for
 *            a receiver of several: remusd --disk-sync-listen)
 *   either:  remus-disksync digest IMAGE
 *
 * Run it after the primary's diskbuf started logging writes (remus --disk
 * does that first), or while the disk is not in use: see docs/diskbuf.md.
 */
#define LOG_PREFIX ""

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskbuf.h"
#include "diskbuf-int.h"
#include "diskmap.h"
#include "log.h"
#include "util.h"

/* Usage on stdout and status 0 for --help; on stderr and status 1 (a
 * usage error, as in every remus program) otherwise. */
static void __dead
usage_status(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: remus-disksync send [-q] [-b BLOCK] [-n NAME] [-r RATE] "
	    "[-w SECS] IMAGE\n"
	    "                           HOST:PORT\n"
	    "       remus-disksync recv [-c] IMAGE [HOST]:PORT\n"
	    "       remus-disksync digest IMAGE\n"
	    "       remus-disksync -h | --help\n");
	exit(status);
}

static void __dead
usage(void)
{
	usage_status(1);
}

static int
open_image(const char *path, int flags, uint64_t *size)
{
	struct stat st;
	int fd = open(path, flags | O_CLOEXEC, 0600);

	if (fd == -1 || fstat(fd, &st) == -1) {
		log_warn("image %s", path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("image %s: not a regular file", path);
		close(fd);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int
main(int argc, char **argv)
{
	struct diskbuf_sync_stats st;
	const char *mode, *name = NULL;
	uint64_t size, v, block = 1u << 20;
	int quiet = 0, create = 0, wait_s = 10, ch, fd, sock, lfd;
	uint8_t dg[16];
	char hex[33];

	log_init("remus-disksync", 1, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		usage_status(0);
	mode = argv[1];
	argc--;
	argv++;
	while ((ch = getopt(argc, argv, "b:cn:qr:vw:")) != -1) {
		switch (ch) {
		case 'b':
			if (parse_size(optarg, &block) == -1 ||
			    block > (16u << 20))
				fatalx("-b %s: expected a block size up to 16M",
				    optarg);
			break;
		case 'c':
			create = 1;
			break;
		case 'n':
			if (!diskmap_name_ok(optarg))
				fatalx("-n %s: want a disk name of 1..%d of "
				    "A-Z a-z 0-9 _ . -", optarg,
				    DISKMAP_NAME_MAX);
			name = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'r':
			if (parse_size(optarg, &v) == -1)
				fatalx("-r %s: expected bytes per second "
				    "(K/M/G suffixes)", optarg);
			diskbuf_sync_set_rate(v);
			break;
		case 'v':
			log_setverbose(log_verbose + 1);
			break;
		case 'w':
			if (parse_uint(optarg, 0, 3600, &v) == -1)
				fatalx("-w %s: expected seconds (0..3600)",
				    optarg);
			wait_s = (int)v;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;

	if (strcmp(mode, "digest") == 0) {
		if (argc != 1)
			usage();
		if ((fd = open_image(argv[0], O_RDONLY, &size)) == -1)
			return 1;
		if (diskbuf_hash_fd(fd, size, dg) == -1)
			fatal("digest %s", argv[0]);
		diskbuf_hash_hex(dg, hex);
		printf("%s\n", hex);
		return 0;
	}
	if (argc != 2)
		usage();
	if (strcmp(mode, "send") == 0) {
		if ((fd = open_image(argv[0], O_RDONLY, &size)) == -1)
			return 1;
		if ((sock = diskbuf_connect_tcp(argv[1], wait_s)) == -1)
			return 1;
		if (diskbuf_sync_send(sock, fd, size, (uint32_t)block, name,
		    !quiet, &st) == -1)
			return 1;
		printf("disksync: done: %" PRIu64 " blocks, %" PRIu64
		    " sent (%" PRIu64 " bytes)\n", st.blocks, st.blocks_sent,
		    st.bytes_sent);
		return 0;
	}
	if (strcmp(mode, "recv") == 0) {
		if ((fd = open_image(argv[0], O_RDWR | (create ? O_CREAT : 0),
		    &size)) == -1)
			return 1;
		if ((lfd = diskbuf_listen_tcp(argv[1])) == -1)
			return 1;
		sock = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (sock == -1)
			fatal("accept");
		close(lfd);
		if (diskbuf_sync_recv(sock, fd, size, create, &st) == -1)
			return 1;
		printf("disksync: received %" PRIu64 " of %" PRIu64
		    " blocks (%" PRIu64 " bytes)\n", st.blocks_sent,
		    st.blocks, st.bytes_sent);
		return 0;
	}
	usage();
}
