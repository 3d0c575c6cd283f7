/* netbuf/netbuf-tool-kv.c -- remus-netbuf's remus-kvd clients for the
 * end-to-end netbuf tests (Jepsen-style check of acknowledged writes) and
 * the netbuf benchmark.
 *
 *   remus-netbuf kv-client ADDR PORT LOG [DURATION_MS [PREFIX [GAP_US]]]
 *       Connect, then until DURATION_MS (default 1000) passes or the
 *       connection fails: SET PREFIX<i> v<i>, and after every second SET a
 *       GET of a random earlier key.  One line per reply received:
 *         SET <key> <value> <reply...> <t_send_us> <t_recv_us>
 *         GET <key> <reply...> <t_send_us> <t_recv_us>
 *       (monotonic clock, the one remus's REMUS_NETBUF_TRACE uses), and
 *       "END <why>" last.  A request without a reply is not logged: the
 *       client never learnt its outcome.  GAP_US > 0: wait a random
 *       0..GAP_US before each request, so that requests fall at random
 *       phases of the epoch (latency benchmark).
 *   remus-netbuf kv-open ADDR PORT LOG DURATION_MS RATE [PREFIX]
 *       Open loop (the service benchmark): SET PREFIX<i> v<i> at RATE
 *       requests a second on one connection, on a fixed schedule whatever
 *       the replies do (requests pipeline; replies come back in order),
 *       for DURATION_MS, then waits up to 3 s for the last replies.  Logs
 *       as kv-client, t_send_us being the scheduled send time (so a
 *       stalled client does not hide queueing), and "END <why>".
 *       TCP_NODELAY (see there).
 *   remus-netbuf kv-check ADDR PORT LOG
 *       After failover: every SET the log saw answered OK, and every GET
 *       the log saw answered VALUE v, must read back that value.  Prints
 *       "checked W writes R reads: L lost" and exits 1 if L > 0.
 */
#define LOG_PREFIX "remus-netbuf: "

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "netbuf-tool.h"

struct conn {
	int	fd;
	char	buf[8192];
	size_t	have;
};

/* Connect to ADDR:PORT within TIMEOUT_MS.  0, or -1 with errno set. */
static int
conn_open(struct conn *c, const char *addr, const char *port, int timeout_ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	struct pollfd p;
	int e, fd, err = 0;
	socklen_t len = sizeof err;

	c->fd = -1;
	c->have = 0;
	if ((e = getaddrinfo(addr, port, &hints, &ai)) != 0) {
		log_warnx("bad address '%s' port '%s': %s", addr, port,
		    gai_strerror(e));
		errno = EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1) {
		freeaddrinfo(ai);
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		freeaddrinfo(ai);
		close(fd);
		return -1;
	}
	freeaddrinfo(ai);
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, timeout_ms) != 1) {
		close(fd);
		errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err) {
		close(fd);
		errno = err ? err : EIO;
		return -1;
	}
	c->fd = fd;
	return 0;
}

/* Send LINE (without newline), read one reply line into OUT within
 * TIMEOUT_MS.  0, or -1 with errno set (ETIMEDOUT, EPIPE on EOF). */
static int
conn_req(struct conn *c, const char *line, char *out, size_t outlen,
    int timeout_ms)
{
	char req[512];
	int n = snprintf(req, sizeof req, "%s\n", line);
	uint64_t deadline = now_us() + (uint64_t)timeout_ms * 1000;

	if (write_full(c->fd, req, (size_t)n) == -1)
		return -1;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->have);
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		uint64_t now;
		ssize_t r;

		if (nl != NULL) {
			size_t l = (size_t)(nl - c->buf);

			if (l >= outlen)
				l = outlen - 1;
			memcpy(out, c->buf, l);
			out[l] = '\0';
			c->have -= (size_t)(nl + 1 - c->buf);
			memmove(c->buf, nl + 1, c->have);
			return 0;
		}
		if (c->have == sizeof c->buf) {
			errno = EMSGSIZE;
			return -1;
		}
		now = now_us();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&p, 1, (int)((deadline - now) / 1000) + 1) <= 0)
			continue;
		r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
		if (r == 0) {
			errno = EPIPE;
			return -1;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		c->have += (size_t)r;
	}
}

int
tool_kv_client(int argc, char **argv)
{
	const char *prefix = "k";
	uint64_t duration = 1000, end, i, sets = 0, gap = 0;
	struct conn c;
	FILE *log;
	char line[512], reply[512];

	if (argc < 4 || argc > 7)
		return 2;
	if (argc == 7 && parse_uint(argv[6], 0, 10000000, &gap) == -1) {
		log_warnx("bad gap '%s'", argv[6]);
		return 2;
	}
	if (argc >= 5 && parse_uint(argv[4], 1, 3600000, &duration) == -1) {
		log_warnx("bad duration '%s'", argv[4]);
		return 2;
	}
	if (argc >= 6)
		prefix = argv[5];
	if ((log = fopen(argv[3], "we")) == NULL) {
		log_warn("%s", argv[3]);
		return 1;
	}
	if (conn_open(&c, argv[1], argv[2], 5000) == -1) {
		fprintf(log, "END connect: %s\n", strerror(errno));
		fclose(log);
		return 0;
	}
	srandom((unsigned int)getpid());
	end = now_us() + duration * 1000;
	for (i = 1; now_us() < end; i++) {
		uint64_t t0, t1;

		if (gap)
			usleep((useconds_t)((uint64_t)random() % gap));
		snprintf(line, sizeof line, "SET %s%llu v%llu", prefix,
		    (unsigned long long)i, (unsigned long long)i);
		t0 = now_us();
		if (conn_req(&c, line, reply, sizeof reply, 3000) == -1)
			break;
		t1 = now_us();
		fprintf(log, "%s %s %llu %llu\n", line, reply,
		    (unsigned long long)t0, (unsigned long long)t1);
		fflush(log);
		sets++;
		if (i % 2 == 0) {
			uint64_t j = 1 + (uint64_t)random() % i;

			if (gap)
				usleep((useconds_t)((uint64_t)random() % gap));
			snprintf(line, sizeof line, "GET %s%llu", prefix,
			    (unsigned long long)j);
			t0 = now_us();
			if (conn_req(&c, line, reply, sizeof reply, 3000) == -1)
				break;
			t1 = now_us();
			fprintf(log, "%s %s %llu %llu\n", line, reply,
			    (unsigned long long)t0, (unsigned long long)t1);
			fflush(log);
		}
	}
	fprintf(log, "END %s\n", now_us() >= end ? "duration" : strerror(errno));
	fclose(log);
	close(c.fd);
	return 0;
}

#define OPEN_MAX	65536	/* requests outstanding at most */

int
tool_kv_open(int argc, char **argv)
{
	const char *prefix = "o", *why = "duration";
	uint64_t duration, rate, start, end, next_i = 1, done_i = 1, t;
	uint64_t *sent = NULL;
	struct conn c;
	FILE *log;
	char line[512];

	if (argc < 6 || argc > 7)
		return 2;
	if (parse_uint(argv[4], 1, 3600000, &duration) == -1 ||
	    parse_uint(argv[5], 1, 1000000, &rate) == -1) {
		log_warnx("bad duration '%s' or rate '%s'", argv[4], argv[5]);
		return 2;
	}
	if (argc == 7)
		prefix = argv[6];
	if ((sent = calloc(OPEN_MAX, sizeof *sent)) == NULL)
		return 1;
	if ((log = fopen(argv[3], "we")) == NULL) {
		log_warn("%s", argv[3]);
		free(sent);
		return 1;
	}
	if (conn_open(&c, argv[1], argv[2], 5000) == -1) {
		fprintf(log, "END connect: %s\n", strerror(errno));
		goto out;
	}
	/* Pipelined small requests: without this, Nagle holds each one
	 * until the previous is acknowledged, and under Remus the guest's
	 * TCP ACKs are held output too: the client would batch per epoch
	 * by itself and measure Nagle, not the checkpoint. */
	(void)setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
	    sizeof(int));
	start = now_us();
	end = start + duration * 1000;
	for (;;) {
		struct pollfd p = { .fd = c.fd, .events = POLLIN };
		uint64_t due = start + (next_i - 1) * 1000000 / rate;
		char *nl;
		ssize_t r;
		int wait_ms;

		t = now_us();
		/* Send what the schedule says is due. */
		while (due <= t && due < end) {
			int n;

			if (next_i - done_i >= OPEN_MAX) {
				why = "too many outstanding";
				goto done;
			}
			n = snprintf(line, sizeof line, "SET %s%llu v%llu\n",
			    prefix, (unsigned long long)next_i,
			    (unsigned long long)next_i);
			if (write_full(c.fd, line, (size_t)n) == -1) {
				why = strerror(errno);
				goto done;
			}
			sent[next_i % OPEN_MAX] = due;
			next_i++;
			due = start + (next_i - 1) * 1000000 / rate;
		}
		if (t >= end && done_i == next_i)
			break;
		if (t >= end + 3000000) {
			why = "replies missing";
			break;
		}
		wait_ms = due > t && due < end ? (int)((due - t) / 1000) : 10;
		if (poll(&p, 1, wait_ms) <= 0)
			continue;
		r = read(c.fd, c.buf + c.have, sizeof c.buf - c.have);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			why = r == 0 ? "connection closed" : strerror(errno);
			break;
		}
		if (r < 0)
			continue;
		c.have += (size_t)r;
		t = now_us();
		while ((nl = memchr(c.buf, '\n', c.have)) != NULL) {
			*nl = '\0';
			if (done_i < next_i) {
				fprintf(log, "SET %s%llu v%llu %s %llu %llu\n",
				    prefix, (unsigned long long)done_i,
				    (unsigned long long)done_i, c.buf,
				    (unsigned long long)sent[done_i % OPEN_MAX],
				    (unsigned long long)t);
				done_i++;
			}
			c.have -= (size_t)(nl + 1 - c.buf);
			memmove(c.buf, nl + 1, c.have);
		}
	}
done:
	close(c.fd);
	fprintf(log, "END %s\n", why);
out:
	fclose(log);
	free(sent);
	return 0;
}

int
tool_kv_check(int argc, char **argv)
{
	uint64_t writes = 0, reads = 0, lost = 0, t_end;
	struct conn c;
	FILE *log;
	char line[512];

	if (argc != 4)
		return 2;
	if ((log = fopen(argv[3], "re")) == NULL) {
		log_warn("%s", argv[3]);
		return 1;
	}
	/* The activated guest may still be starting. */
	t_end = now_us() + 15 * 1000000ull;
	while (conn_open(&c, argv[1], argv[2], 2000) == -1) {
		if (now_us() > t_end) {
			log_warn("connect %s:%s", argv[1], argv[2]);
			fclose(log);
			return 1;
		}
		usleep(100000);
	}
	while (fgets(line, sizeof line, log) != NULL) {
		char op[8], key[256], val[256], req[300], got[512], want[300];

		if (sscanf(line, "%7s %255s %255s", op, key, val) != 3)
			continue;
		if (strcmp(op, "SET") == 0) {
			char reply[8];

			/* SET key value OK t0 t1 */
			if (sscanf(line, "SET %*s %*s %7s", reply) != 1 ||
			    strcmp(reply, "OK") != 0)
				continue;
			snprintf(want, sizeof want, "VALUE %s", val);
			writes++;
		} else if (strcmp(op, "GET") == 0) {
			char v[256];

			/* GET key VALUE v t0 t1 | GET key NOTFOUND t0 t1 */
			if (strcmp(val, "VALUE") != 0 ||
			    sscanf(line, "GET %*s VALUE %255s", v) != 1)
				continue;
			snprintf(want, sizeof want, "VALUE %s", v);
			reads++;
		} else
			continue;
		snprintf(req, sizeof req, "GET %s", key);
		if (conn_req(&c, req, got, sizeof got, 5000) == -1) {
			log_warn("GET %s after failover", key);
			fclose(log);
			return 1;
		}
		if (strcmp(got, want) != 0) {
			if (lost < 10)
				printf("LOST %s: client saw \"%s\", after "
				    "failover \"%s\"\n", key, want, got);
			lost++;
		}
	}
	fclose(log);
	close(c.fd);
	printf("checked %llu writes %llu reads: %llu lost\n",
	    (unsigned long long)writes, (unsigned long long)reads,
	    (unsigned long long)lost);
	return lost ? 1 : 0;
}
