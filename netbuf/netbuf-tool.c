/* netbuf/netbuf-tool.c -- remus-netbuf: drive netbuf by hand, for tests, the
 * kernel lab and debugging.
 *
 *   remus-netbuf hold [-d plug|nfqueue|auto] [-l LIMIT] [-q QLEN] [-n QNUM]
 *                     [-o] IFNAME
 *       Set up buffering on IFNAME, print "ready driver=<name>", then read
 *       commands from stdin, one per line, answering "ok" or "err <why>":
 *         start N        close epoch N (netbuf_epoch_start)
 *         release N      release epoch N (netbuf_epoch_release)
 *         release-all    stop buffering, release everything
 *         stats          "stats driver=.. started=.. released=.. held=..
 *                        pkts_released=.. last_epoch=.. held_now=..
 *                        backlog=.. drops=.."
 *         quit / EOF     tear down and exit 0
 *   remus-netbuf probe      print "plug=1" or "plug=0"
 *   remus-netbuf cleanup [IFNAME]
 *                           remove stale rmsb* IFBs / remus_* tables (of
 *                           interfaces that are gone); with IFNAME, what a
 *                           run left on it (a failed guest's block)
 *   remus-netbuf udp-send ADDR PORT COUNT [GAP_US]
 *       send COUNT datagrams "seq <i>" to ADDR (IPv4 or IPv6)
 *   remus-netbuf udp-recv [-6] PORT TIMEOUT_MS [MAX]
 *       print "received N span_us S" (S: first to last datagram) after
 *       TIMEOUT_MS without a datagram, or after MAX
 *   remus-netbuf pump [-d DRIVER] [-l LIMIT] -i INTERVAL_MS IFNAME DURATION_MS
 *       Run epochs on IFNAME by itself for DURATION_MS: every INTERVAL_MS
 *       close an epoch and release it at once (an instant ACK), then
 *       release all and print "pump driver=.. epochs=.. held=..
 *       released=.. drops=.." (packets per second benchmark)
 *   remus-netbuf kv-client / kv-open / kv-check    see netbuf-tool-kv.c
 */
#define LOG_PREFIX "remus-netbuf: "

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "netbuf.h"
#include "netbuf-tool.h"
#include "util.h"

static void __dead
usage(void)
{
	fprintf(stderr,
	    "usage: remus-netbuf hold [-d plug|nfqueue|auto] [-l LIMIT] "
	    "[-q QLEN] [-n QNUM] [-o] IFNAME\n"
	    "       remus-netbuf probe | cleanup [IFNAME]\n"
	    "       remus-netbuf udp-send ADDR PORT COUNT [GAP_US]\n"
	    "       remus-netbuf udp-recv [-6] PORT TIMEOUT_MS [MAX]\n"
	    "       remus-netbuf pump [-d DRIVER] [-l LIMIT] -i MS IFNAME DURATION_MS\n"
	    "       remus-netbuf kv-client ADDR PORT LOG [DURATION_MS [PREFIX [GAP_US]]]\n"
	    "       remus-netbuf kv-open ADDR PORT LOG DURATION_MS RATE [PREFIX]\n"
	    "       remus-netbuf kv-check ADDR PORT LOG\n");
	exit(2);
}

static void
print_stats(struct netbuf *nb)
{
	struct netbuf_stats st;

	if (netbuf_get_stats(nb, &st) == -1) {
		printf("err stats: %s\n", strerror(errno));
		return;
	}
	printf("stats driver=%s started=%llu released=%llu held=%llu "
	    "pkts_released=%llu last_epoch=%llu held_now=%llu backlog=%llu "
	    "drops=%llu\n", netbuf_driver_name(st.driver),
	    (unsigned long long)st.epochs_started,
	    (unsigned long long)st.epochs_released,
	    (unsigned long long)st.packets_held,
	    (unsigned long long)st.packets_released,
	    (unsigned long long)st.last_epoch_packets,
	    (unsigned long long)st.held_now,
	    (unsigned long long)st.backlog_bytes,
	    (unsigned long long)st.drops);
}

/* One stdin command; 1 to quit. */
static int
command(struct netbuf *nb, char *line)
{
	unsigned long long n;
	int rc;

	line[strcspn(line, "\r\n")] = '\0';
	if (strcmp(line, "quit") == 0)
		return 1;
	if (sscanf(line, "start %llu", &n) == 1)
		rc = netbuf_epoch_start(nb, n);
	else if (sscanf(line, "release %llu", &n) == 1)
		rc = netbuf_epoch_release(nb, n);
	else if (strcmp(line, "release-all") == 0)
		rc = netbuf_release_all(nb);
	else if (strcmp(line, "stats") == 0) {
		print_stats(nb);
		return 0;
	} else if (line[0] == '\0')
		return 0;
	else {
		printf("err unknown command '%s'\n", line);
		return 0;
	}
	if (rc == -1)
		printf("err %s\n", strerror(errno));
	else
		printf("ok\n");
	return 0;
}

static int
cmd_hold(int argc, char **argv)
{
	struct netbuf_config cfg = { .queue_num = -1 };
	struct netbuf *nb;
	uint64_t v;
	char line[256];
	size_t have = 0;
	int c, done = 0;

	while ((c = getopt(argc, argv, "d:l:q:n:o")) != -1) {
		switch (c) {
		case 'd':
			if (netbuf_driver_parse(optarg, &cfg.driver) == -1) {
				log_warnx("-d: '%s' is not plug, nfqueue or auto",
				    optarg);
				return 2;
			}
			break;
		case 'l':
			if (parse_size(optarg, &v) == -1) {
				log_warnx("-l: bad size '%s'", optarg);
				return 2;
			}
			cfg.limit_bytes = v;
			break;
		case 'q':
			if (parse_uint(optarg, 1, UINT32_MAX, &v) == -1) {
				log_warnx("-q: bad queue length '%s'", optarg);
				return 2;
			}
			cfg.queue_len = (uint32_t)v;
			break;
		case 'n':
			if (parse_uint(optarg, 0, 65535, &v) == -1) {
				log_warnx("-n: bad queue number '%s'", optarg);
				return 2;
			}
			cfg.queue_num = (int)v;
			break;
		case 'o':
			cfg.fail_open = 1;
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	cfg.ifname = argv[optind];
	nb = netbuf_new(&cfg);
	if (nb == NULL)
		return 1;
	{
		struct netbuf_stats st;

		netbuf_get_stats(nb, &st);
		printf("ready driver=%s\n", netbuf_driver_name(st.driver));
	}
	fflush(stdout);
	while (!done) {
		struct pollfd p[2] = {
			{ .fd = 0, .events = POLLIN },
			{ .fd = netbuf_fd(nb), .events = POLLIN },
		};
		ssize_t r;
		char *nl;

		if (poll(p, p[1].fd >= 0 ? 2 : 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].fd >= 0 && (p[1].revents & POLLIN))
			(void)netbuf_on_readable(nb);
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		r = read(0, line + have, sizeof line - 1 - have);
		if (r <= 0)
			break;
		have += (size_t)r;
		line[have] = '\0';
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			done = command(nb, line);
			fflush(stdout);
			memmove(line, nl + 1, have - (size_t)(nl + 1 - line) + 1);
			have -= (size_t)(nl + 1 - line);
			if (done)
				break;
		}
		if (have == sizeof line - 1)
			have = 0;	/* overlong line: drop it */
	}
	netbuf_free(nb);
	return 0;
}

static volatile sig_atomic_t pump_stop;

static void
pump_sig(int sig)
{
	pump_stop = 1;
}

static int
cmd_pump(int argc, char **argv)
{
	struct netbuf_config cfg = { .queue_num = -1 };
	struct netbuf_stats st;
	struct netbuf *nb;
	uint64_t v, interval = 0, duration, end, next, epoch = 0;
	int c;

	while ((c = getopt(argc, argv, "d:l:i:")) != -1) {
		switch (c) {
		case 'd':
			if (netbuf_driver_parse(optarg, &cfg.driver) == -1) {
				log_warnx("-d: '%s' is not plug, nfqueue or auto",
				    optarg);
				return 2;
			}
			break;
		case 'l':
			if (parse_size(optarg, &v) == -1) {
				log_warnx("-l: bad size '%s'", optarg);
				return 2;
			}
			cfg.limit_bytes = v;
			break;
		case 'i':
			if (parse_uint(optarg, 1, 60000, &interval) == -1) {
				log_warnx("-i: bad interval '%s'", optarg);
				return 2;
			}
			break;
		default:
			usage();
		}
	}
	if (optind + 2 != argc || interval == 0)
		usage();
	if (parse_uint(argv[optind + 1], 1, 3600000, &duration) == -1) {
		log_warnx("bad duration '%s'", argv[optind + 1]);
		return 2;
	}
	cfg.ifname = argv[optind];
	if ((nb = netbuf_new(&cfg)) == NULL)
		return 1;
	signal(SIGTERM, pump_sig);
	signal(SIGINT, pump_sig);
	printf("ready\n");
	fflush(stdout);
	end = now_us() + duration * 1000;
	next = now_us() + interval * 1000;
	for (;;) {
		struct pollfd p = { .fd = netbuf_fd(nb), .events = POLLIN };
		uint64_t now = now_us();

		if (now >= next) {
			epoch++;
			if (netbuf_epoch_start(nb, epoch) == -1 ||
			    netbuf_epoch_release(nb, epoch) == -1)
				break;
			next += interval * 1000;
			if (now >= end || pump_stop)
				break;
			continue;
		}
		if (poll(&p, p.fd >= 0 ? 1 : 0, (int)((next - now) / 1000) + 1) > 0)
			(void)netbuf_on_readable(nb);
	}
	netbuf_release_all(nb);
	netbuf_get_stats(nb, &st);
	printf("pump driver=%s epochs=%llu held=%llu released=%llu drops=%llu\n",
	    netbuf_driver_name(st.driver), (unsigned long long)epoch,
	    (unsigned long long)st.packets_held,
	    (unsigned long long)st.packets_released,
	    (unsigned long long)st.drops);
	netbuf_free(nb);
	return 0;
}

static int
udp_socket_to(const char *addr, const char *port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	int fd, e;

	if ((e = getaddrinfo(addr, port, &hints, &ai)) != 0) {
		log_warnx("bad address '%s' port '%s': %s", addr, port,
		    gai_strerror(e));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return fd;
}

static int
cmd_udp_send(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	uint64_t count, gap = 0, i;
	int fd;

	if (argc < 4 || argc > 5)
		usage();
	if (parse_uint(argv[3], 1, 100000000, &count) == -1 ||
	    (argc == 5 && parse_uint(argv[4], 0, 10000000, &gap) == -1)) {
		log_warnx("bad count or gap");
		return 2;
	}
	if ((fd = udp_socket_to(argv[1], argv[2], &ss, &len)) == -1)
		return 1;
	for (i = 0; i < count; i++) {
		char msg[32];
		int n = snprintf(msg, sizeof msg, "seq %llu",
		    (unsigned long long)i);

		if (sendto(fd, msg, (size_t)n, 0, (struct sockaddr *)&ss,
		    len) == -1 && errno != ENOBUFS && errno != EAGAIN) {
			log_warn("sendto");
			close(fd);
			return 1;
		}
		if (gap)
			usleep((useconds_t)gap);
	}
	close(fd);
	return 0;
}

static int
cmd_udp_recv(int argc, char **argv)
{
	int v6 = 0, fd, one = 1, rcvbuf = 32 << 20;
	uint64_t port, to, max = UINT64_MAX, got = 0, t_first = 0, t_last = 0;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };

	if (argc > 1 && strcmp(argv[1], "-6") == 0) {
		v6 = 1;
		argc--;
		argv++;
	}
	if (argc < 3 || argc > 4)
		usage();
	if (parse_uint(argv[1], 1, 65535, &port) == -1 ||
	    parse_uint(argv[2], 1, 3600000, &to) == -1 ||
	    (argc == 4 && parse_uint(argv[3], 1, UINT64_MAX, &max) == -1)) {
		log_warnx("bad port, timeout or max");
		return 2;
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* Measure the path, not this socket: a flood must not overrun it. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
	a6.sin6_port = a4.sin_port = htons((uint16_t)port);
	if ((v6 ? bind(fd, (struct sockaddr *)&a6, sizeof a6) :
	    bind(fd, (struct sockaddr *)&a4, sizeof a4)) == -1) {
		log_warn("bind port %llu", (unsigned long long)port);
		return 1;
	}
	/* Tell the caller the socket is bound. */
	printf("listening\n");
	fflush(stdout);
	while (got < max) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[2048];
		int r = poll(&p, 1, (int)to);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (recv(fd, buf, sizeof buf, 0) >= 0) {
			t_last = now_us();
			if (got++ == 0)
				t_first = t_last;
		}
	}
	printf("received %llu span_us %llu\n", (unsigned long long)got,
	    (unsigned long long)(t_last - t_first));
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	int rc;

	log_init("remus-netbuf", 1, getenv("REMUS_VERBOSE") != NULL);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "hold") == 0)
		return cmd_hold(argc - 1, argv + 1);
	if (strcmp(argv[1], "probe") == 0) {
		rc = netbuf_plug_available();
		if (rc == -1)
			return 1;
		printf("plug=%d\n", rc);
		return 0;
	}
	if (strcmp(argv[1], "cleanup") == 0) {
		/* With an interface: also what a run left on one that still
		 * exists (a failed guest's blocked output). */
		rc = argc > 2 ? netbuf_cleanup_if(argv[2]) :
		    netbuf_cleanup_stale();
		if (rc == -1)
			return 1;
		printf("removed %d\n", rc);
		return 0;
	}
	if (strcmp(argv[1], "pump") == 0)
		return cmd_pump(argc - 1, argv + 1);
	if (strcmp(argv[1], "udp-send") == 0)
		return cmd_udp_send(argc - 1, argv + 1);
	if (strcmp(argv[1], "udp-recv") == 0)
		return cmd_udp_recv(argc - 1, argv + 1);
	if (strcmp(argv[1], "kv-client") == 0)
		rc = tool_kv_client(argc - 1, argv + 1);
	else if (strcmp(argv[1], "kv-open") == 0)
		rc = tool_kv_open(argc - 1, argv + 1);
	else if (strcmp(argv[1], "kv-check") == 0)
		rc = tool_kv_check(argc - 1, argv + 1);
	else
		usage();
	if (rc == 2)
		usage();
	return rc;
}
