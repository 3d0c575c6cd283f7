/* tests/lab/xen/labtool.c -- the lab's guest workload and stream meter.
 *
 * Built static on the host and dropped into the initramfs images, so it
 * needs nothing from the guest's userland.
 *
 *   labtool serve PORT MIB RATE [DISK]
 *                            (in the domU) write RATE random pages a
 *                            second in MIB MiB of memory,
 *                            print "@@DOMU-TICK n" each second, and answer
 *                            TCP lines: "INC" -> counter + 1, "GET" ->
 *                            counter; each reply is "count=C tick=T".
 *                            With DISK, 10 times a second: read block 0,
 *                            check it holds the last number written, write
 *                            the next (O_DIRECT | O_DSYNC); replies add
 *                            "disk=N diskbad=B".
 *   labtool count FILE       copy stdin to stdout, keeping the running byte
 *                            total in FILE (for measuring a stream's size).
 *   labtool probe IP PORT SECONDS
 *                            (in dom0) until the service answers GET: a
 *                            new connection every 10 ms, each given 2 s;
 *                            prints "MS REPLY" (milliseconds since the
 *                            start) at the first reply, exit 1 if none
 *                            came in SECONDS.  Times a failover to the
 *                            10 ms, where one connect at a time waits out
 *                            TCP's SYN retries (1 s, then 3 s).
 *
 * The counter lives in guest memory only, so after a failover GET tells
 * which checkpoint the replica resumed from.  The disk number lives in
 * both: memory remembers what was written last, the disk holds it, so a
 * replica whose disk is not the one of its memory's checkpoint (missing
 * or extra writes) counts diskbad on its next read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t counter;
static volatile uint64_t ticks;

static unsigned dirty_mib, dirty_rate;
static const char *disk_path;
static volatile uint64_t disk_last, disk_bad;
static volatile int disk_on;

#define DISK_MAGIC "remus-lab-disk "

static int
disk_read(int fd, uint8_t *blk, uint64_t *v)
{
	if (pread(fd, blk, 4096, 0) != 4096)
		return -1;
	blk[4095] = 0;
	if (memcmp(blk, DISK_MAGIC, strlen(DISK_MAGIC)) != 0) {
		*v = 0;			/* a fresh disk */
		return 0;
	}
	*v = strtoull((char *)blk + strlen(DISK_MAGIC), NULL, 10);
	return 0;
}

static void *
disker(void *arg)
{
	uint8_t *blk;
	uint64_t v;
	int fd;

	(void)arg;
	fd = open(disk_path, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC);
	if (fd < 0 || posix_memalign((void **)&blk, 4096, 4096) != 0 ||
	    disk_read(fd, blk, &v) < 0) {
		printf("@@DOMU-DISK-ERROR %s: %s\n", disk_path, strerror(errno));
		fflush(stdout);
		return NULL;
	}
	disk_last = v;
	disk_on = 1;
	for (;;) {
		if (disk_read(fd, blk, &v) < 0) {
			printf("@@DOMU-DISK-ERROR read: %s\n", strerror(errno));
			fflush(stdout);
			sleep(1);
			continue;
		}
		if (v != disk_last) {
			disk_bad++;
			printf("@@DOMU-DISK-BAD read %llu, wrote %llu last\n",
			    (unsigned long long)v,
			    (unsigned long long)disk_last);
			fflush(stdout);
			disk_last = v;	/* count each divergence once */
		}
		memset(blk, 0, 4096);
		snprintf((char *)blk, 4096, DISK_MAGIC "%llu\n",
		    (unsigned long long)(disk_last + 1));
		if (pwrite(fd, blk, 4096, 0) != 4096) {
			printf("@@DOMU-DISK-ERROR write: %s\n", strerror(errno));
			fflush(stdout);
			sleep(1);
			continue;
		}
		disk_last++;
		usleep(100000);
	}
	return NULL;
}

static void *
dirtier(void *arg)
{
	size_t len = (size_t)dirty_mib << 20, off = 0;
	uint8_t *mem;
	uint64_t x = 88172645463325252ull;

	mem = malloc(len);
	if (mem == NULL)
		return NULL;
	memset(mem, 1, len);
	/* Write one word in RATE / 100 random pages every 10 ms: scattered
	 * small writes over the whole area, the pattern of a busy guest
	 * rather than a streaming one. */
	(void)arg;
	for (;;) {
		for (unsigned i = 0; i < dirty_rate / 100; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			off = (x % (len / 4096)) * 4096;
			*(volatile uint64_t *)(mem + off) = x;
		}
		usleep(10000);
	}
	return NULL;
}

static void *
ticker(void *arg)
{
	(void)arg;
	for (;;) {
		sleep(1);
		ticks++;
		printf("@@DOMU-TICK %llu count=%llu\n",
		    (unsigned long long)ticks, (unsigned long long)counter);
		fflush(stdout);
	}
	return NULL;
}

static void
serve_one(int fd)
{
	char buf[128], out[96];
	ssize_t n;
	size_t have = 0;

	for (;;) {
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *nl;
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			if (strncmp(buf, "INC", 3) == 0)
				counter++;
			int len = disk_on ? snprintf(out, sizeof(out),
			    "count=%llu tick=%llu disk=%llu diskbad=%llu\n",
			    (unsigned long long)counter,
			    (unsigned long long)ticks,
			    (unsigned long long)disk_last,
			    (unsigned long long)disk_bad) :
			    snprintf(out, sizeof(out),
			    "count=%llu tick=%llu\n",
			    (unsigned long long)counter,
			    (unsigned long long)ticks);
			if (write(fd, out, (size_t)len) != len)
				return;
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
		}
		if (have == sizeof(buf) - 1)
			break;
	}
}

static int
serve(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	pthread_t t;
	int s, one = 1;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) < 0 || bind(s, (struct sockaddr *)&sin,
	    sizeof(sin)) < 0 || listen(s, 16) < 0) {
		perror("labtool: listen");
		return 1;
	}
	if (dirty_mib > 0 && dirty_rate >= 100)
		pthread_create(&t, NULL, dirtier, NULL);
	pthread_create(&t, NULL, ticker, NULL);
	if (disk_path != NULL)
		pthread_create(&t, NULL, disker, NULL);
	printf("@@DOMU-SERVICE port=%d mib=%u rate=%u disk=%s\n", port,
	    dirty_mib, dirty_rate, disk_path ? disk_path : "none");
	fflush(stdout);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_one(c);
		close(c);
	}
}

static int
count(const char *file)
{
	static char buf[1 << 16];
	unsigned long long total = 0;
	time_t last = 0;
	ssize_t n;

	for (;;) {
		n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t w = 0, k; w < n; w += k) {
			k = write(1, buf + w, (size_t)(n - w));
			if (k < 0 && errno == EINTR) {
				k = 0;
				continue;
			}
			if (k <= 0)
				return 1;
		}
		total += (unsigned long long)n;
		if (time(NULL) != last) {
			last = time(NULL);
			FILE *f = fopen(file, "w");
			if (f) {
				fprintf(f, "%llu\n", total);
				fclose(f);
			}
		}
	}
	FILE *f = fopen(file, "w");
	if (f) {
		fprintf(f, "%llu\n", total);
		fclose(f);
	}
	return 0;
}

/* run suspend's SUSPEND_SPIN: RDTSC as fast as the guest can, with a
 * system call now and then (the kernel reads the TSC on its way back
 * to user mode), to make the TSC's traps into Xen as frequent as they
 * can be -- the guest deaths of issue 17 were all right after an RDTSC
 * that Xen emulates. */
static void __attribute__((noreturn))
spin(void)
{
	unsigned lo, hi;

	for (;;) {
		for (int i = 0; i < 1000; i++)
			__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		(void)getppid();
	}
}

static double
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define PROBE_SOCKS 200		/* 2 s of attempts at one per 10 ms */

/* Each attempt: non-blocking connect, "GET" once connected, one line
 * back.  The first whole line beginning "count=" ends the probe. */
static int
probe(const char *ip, int port, int seconds)
{
	struct probe_sock { int fd; int sent; double t0; size_t got; char buf[256]; };
	static struct probe_sock ps[PROBE_SOCKS];
	struct pollfd pfd[PROBE_SOCKS];
	int slot[PROBE_SOCKS];		/* pfd[k] is ps[slot[k]] */
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	double start = mono_ms(), next = start;
	int n;

	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		fprintf(stderr, "labtool probe: bad address %s\n", ip);
		return 2;
	}
	for (int i = 0; i < PROBE_SOCKS; i++)
		ps[i].fd = -1;
	while (mono_ms() - start < seconds * 1e3) {
		double now = mono_ms();

		if (now >= next) {
			for (int i = 0; i < PROBE_SOCKS; i++) {
				if (ps[i].fd >= 0)
					continue;
				ps[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
				if (ps[i].fd < 0)
					break;
				ps[i].sent = 0;
				ps[i].got = 0;
				ps[i].t0 = now;
				if (connect(ps[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
				    errno != EINPROGRESS) {
					close(ps[i].fd);
					ps[i].fd = -1;
				}
				break;
			}
			next = now + 10;
		}
		n = 0;
		for (int i = 0; i < PROBE_SOCKS; i++) {
			if (ps[i].fd < 0)
				continue;
			if (now - ps[i].t0 > 2000) {	/* a lost SYN: give up on it */
				close(ps[i].fd);
				ps[i].fd = -1;
				continue;
			}
			pfd[n].fd = ps[i].fd;
			pfd[n].events = ps[i].sent ? POLLIN : POLLOUT;
			pfd[n].revents = 0;
			slot[n++] = i;
		}
		if (poll(pfd, (nfds_t)n, 5) < 0 && errno != EINTR)
			return 2;
		for (int k = 0; k < n; k++) {
			struct probe_sock *p = &ps[slot[k]];
			int err = 0;
			socklen_t el = sizeof(err);
			ssize_t r;

			if (pfd[k].revents == 0)
				continue;
			if (!p->sent) {
				if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 ||
				    err != 0 || write(p->fd, "GET\n", 4) != 4) {
					close(p->fd);	/* refused: try again later */
					p->fd = -1;
					continue;
				}
				p->sent = 1;
				continue;
			}
			r = read(p->fd, p->buf + p->got, sizeof(p->buf) - 1 - p->got);
			if (r <= 0) {
				close(p->fd);
				p->fd = -1;
				continue;
			}
			p->got += (size_t)r;
			p->buf[p->got] = 0;
			char *nl = strchr(p->buf, '\n');
			if (nl == NULL)
				continue;
			*nl = 0;
			if (strncmp(p->buf, "count=", 6) != 0) {
				close(p->fd);
				p->fd = -1;
				continue;
			}
			printf("%.0f %s\n", mono_ms() - start, p->buf);
			return 0;
		}
	}
	return 1;
}

int
main(int argc, char **argv)
{
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "serve") == 0) {
		if (argc == 6)
			disk_path = argv[5];
		dirty_mib = (unsigned)atoi(argv[3]);
		dirty_rate = (unsigned)atoi(argv[4]);
		return serve(atoi(argv[2]));
	}
	if (argc == 3 && strcmp(argv[1], "count") == 0)
		return count(argv[2]);
	if (argc == 2 && strcmp(argv[1], "spin") == 0)
		spin();
	if (argc == 5 && strcmp(argv[1], "probe") == 0)
		return probe(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: labtool serve PORT MIB RATE [DISK] | labtool count FILE | labtool spin | labtool probe IP PORT SECONDS\n");
	return 2;
}
