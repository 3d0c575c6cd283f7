/* bench/tls-link.c -- bench-tls-link: what one TLS session carries.
 *
 * A writer process pushes SIZE MiB through a Unix socketpair to a reader
 * process, plain (write/read) and through TLS 1.3 sessions (tls.c) with
 * PSK and with X.509 credentials, measured side by side in one run.  The
 * guest-free half of bench/tls.sh: it says how much of a core the link's
 * crypto costs per byte, whatever the guest manages to dirty.
 *
 *   bench-tls-link CREDS_DIR [SIZE_MIB]
 *
 * CREDS_DIR as tests/tls-creds.sh makes it.  One line per mode:
 *   BENCH tls-link mode=<plain|psk|x509> MBps=X cpu_us_per_MiB=X cipher=S
 * (cpu: writer + reader, user + system; MB = 10^6 bytes)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "tls.h"
#include "util.h"

#define CHUNK	(1 << 20)

static char	 buf[CHUNK];
static const char *dir;

static struct tls_creds *
creds(const char *mode, enum tls_role role)
{
	char p[1024];

	if (strcmp(mode, "psk") == 0) {
		snprintf(p, sizeof p, "%s/%s", dir, role == TLS_SERVER ?
		    "psk-server" : "psk-client");
		return tls_creds_psk(p, role, NULL);
	}
	snprintf(p, sizeof p, "%s/x509", dir);
	return tls_creds_x509(p, role);
}

static void
wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };

	poll(&p, 1, 1000);
}

/* Move TOTAL bytes over FD, reading (WR == 0) or writing; T: TLS or
 * NULL.  0 / -1. */
static int
pump(int fd, struct tls *t, int wr, size_t total)
{
	size_t done = 0, len;
	ssize_t n;

	while (done < total) {
		len = total - done < CHUNK ? total - done : CHUNK;
		if (wr)
			n = t ? tls_write(t, buf, len) : write(fd, buf, len);
		else
			n = t ? tls_read(t, buf, len) : read(fd, buf, len);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			wait_fd(fd, wr ? POLLOUT : POLLIN);
			continue;
		}
		return -1;
	}
	return 0;
}

static struct tls *
session(const char *mode, int fd, enum tls_role role)
{
	struct tls_creds *c;
	struct tls *t;

	if (strcmp(mode, "plain") == 0)
		return NULL;
	c = creds(mode, role);
	if (c == NULL)
		exit(1);
	t = tls_new(c, fd, fd, role == TLS_SERVER ? "writer" : "reader",
	    "localhost");
	if (t == NULL || tls_handshake_wait(t, 10000) == -1)
		exit(1);
	return t;
}

/* CPU (user + system) of WHO (RUSAGE_SELF, or the reaped children). */
static uint64_t
cpu_us(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (uint64_t)ru.ru_utime.tv_sec * 1000000 +
	    (uint64_t)ru.ru_utime.tv_usec +
	    (uint64_t)ru.ru_stime.tv_sec * 1000000 +
	    (uint64_t)ru.ru_stime.tv_usec;
}

static int
run(const char *mode, size_t total)
{
	uint64_t t0, t1, c0;
	struct tls *t;
	pid_t pid;
	int sv[2], st;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		return -1;
	c0 = cpu_us(RUSAGE_SELF) + cpu_us(RUSAGE_CHILDREN);
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid == 0) {
		/* The reader: the backup's side, TLS server. */
		close(sv[0]);
		t = session(mode, sv[1], TLS_SERVER);
		_exit(pump(sv[1], t, 0, total) == 0 ? 0 : 2);
	}
	close(sv[1]);
	t = session(mode, sv[0], TLS_CLIENT);
	t0 = now_us();
	if (pump(sv[0], t, 1, total) == -1 || waitpid(pid, &st, 0) != pid ||
	    !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench-tls-link: %s failed\n", mode);
		return -1;
	}
	t1 = now_us();
	close(sv[0]);
	printf("BENCH tls-link mode=%s MBps=%.0f cpu_us_per_MiB=%.0f "
	    "cipher=%s\n", mode, (double)total / (double)(t1 - t0),
	    (double)(cpu_us(RUSAGE_SELF) + cpu_us(RUSAGE_CHILDREN) - c0) /
	    ((double)total / (1 << 20)), t ? tls_cipher_name(t) : "none");
	tls_free(t);
	return 0;
}

int
main(int argc, char **argv)
{
	static const char *modes[] = { "plain", "psk", "x509" };
	size_t mib = 512, i;
	uint64_t v;

	if (argc < 2 || argc > 3 || (argc == 3 &&
	    parse_uint(argv[2], 1, 65536, &v) == -1)) {
		fprintf(stderr, "usage: bench-tls-link CREDS_DIR [SIZE_MIB]\n"
		    "  (CREDS_DIR made by tests/tls-creds.sh)\n");
		return 1;
	}
	if (argc == 3)
		mib = (size_t)v;
	dir = argv[1];
	log_init("bench-tls-link", 1, 0);
	memset(buf, 0x5a, sizeof buf);
	printf("bench-tls-link: %zu MiB through a socketpair, writer and "
	    "reader in two processes\n", mib);
	for (i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (run(modes[i], mib << 20) == -1)
			return 1;
	return 0;
}
