/* tests/functional/trust-peer.c -- remus-trust-peer: a hostile primary, for
 * the trust-*.sh tests.  It connects to remusd --listen and sends what an
 * attacker on the network would, well-formed as far as the stream reader
 * is concerned (the stream writer builds it), then reports what remusd did
 * with the connection.
 *
 *   remus-trust-peer [options] MODE HOST:PORT
 *
 *   crafted   stream header naming the proc driver, a guest config whose
 *             command is PROG ARGS (default: /bin/sh -c CMD), HELLO, one
 *             empty full epoch, then close (about 240 bytes)
 *   abandon   the same up to a full epoch of every page, then close before
 *             EPOCH_END: nothing committed
 *   slow      the stream header and HELLO one byte every -i ms (default
 *             800)
 *   slowrec   header and HELLO, then a record one byte every -i ms
 *   silent    connect and send nothing
 *   bigmem    a header announcing a guest of -m MiB
 *   hold      connect and hold the connection (with TLS: handshaken)
 *   hello     the stream header and HELLO, then close
 *   bigstate  one empty full epoch (committed), then an epoch whose
 *             GUEST_STATE records add up to 260 MiB, in 4 MiB records
 *             (each legal alone), until remusd refuses it
 *
 * Options: -n NAME (HELLO's guest name, default "proc:1"), -p PROG and -a
 * "ARGS" (the command in the config; ARGS split at blanks), -c CMD (with
 * the default /bin/sh: its -c argument), -P PAGES (guest size in pages,
 * default 16), -i MS, -m MIB, -w MS (how long to wait for remusd to close,
 * default 30000), --psk-file FILE [--psk-identity ID] (TLS 1.3 with that
 * key, as a primary holding valid credentials), --tls-creds DIR (TLS 1.3
 * with that directory's client certificate).
 *
 * Output, one line: "closed after N ms, sent B bytes, error: REASON" (the
 * ERROR record's reason, or "none"), or "open after N ms, sent B bytes"
 * when remusd kept the connection past -w.  Exit 0, or 1 for a local
 * failure (connect refused, bad usage).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <endian.h>

#include "log.h"
#include "proc-proto.h"
#include "stream.h"
#include "tls.h"
#include "transport.h"
#include "util.h"

#define PS	4096u

static struct tls *tls;
static struct tls_creds *creds;
static struct stream_writer w;
static int fd = -1;
static uint64_t sent, t0;

/* Every exit path (the sanitizers' leak check runs this tool too). */
static void
cleanup(void)
{
	tls_free(tls);
	tls_creds_free(creds);
	stream_writer_free(&w);
	if (fd != -1)
		close(fd);
}

static int
connect_to(const char *spec)
{
	char host[256], port[32];
	struct addrinfo hints, *ai, *a;
	int s = -1;

	if (transport_parse_addr(spec, host, sizeof host, port,
	    sizeof port) == -1)
		return -1;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	for (a = ai; a; a = a->ai_next) {
		s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (s != -1 && connect(s, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (s != -1)
			close(s);
		s = -1;
	}
	freeaddrinfo(ai);
	return s;
}

/* Is the connection closed by remusd (EOF or reset)?  Reads and scans
 * what it sent for an ERROR record; WHY gets its reason. */
static uint8_t inbuf[1 << 16];
static size_t inlen;

static int
closed_yet(int wait_ms, char *why, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	size_t off;

	if (tls == NULL || tls_pending(tls) == 0)
		if (poll(&p, 1, wait_ms) <= 0)
			return 0;
	n = tls ? tls_read(tls, inbuf + inlen, sizeof inbuf - inlen) :
	    read(fd, inbuf + inlen, sizeof inbuf - inlen);
	if (n == -1 && errno == EAGAIN)
		return 0;
	if (n > 0) {
		inlen += (size_t)n;
		if (inlen == sizeof inbuf)
			inlen = 0;	/* only the last records matter */
		/* Records: type u32, length u32, body, pad to 8. */
		for (off = 0; off + 8 <= inlen;) {
			uint32_t type, blen;

			memcpy(&type, inbuf + off, 4);
			memcpy(&blen, inbuf + off + 4, 4);
			type = le32toh(type);
			blen = le32toh(blen);
			if (off + 8 + blen > inlen)
				break;
			if (type == STREAM_REC_ERROR && blen > 8)
				snprintf(why, len, "%.*s", (int)(blen - 8),
				    (const char *)inbuf + off + 16);
			off += 8 + ((blen + 7) & ~7u);
		}
		return 0;
	}
	return 1;
}

static int
send_bytes(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = tls ? tls_write(tls, p, len) : write(fd, p, len);
		if (n == -1 && errno == EAGAIN) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };

			poll(&pf, 1, 100);
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		sent += (uint64_t)n;
	}
	return 0;
}

static int
flush(struct stream_writer *sw)
{
	size_t n = stream_writer_ready(sw);

	if (send_bytes(sw->buf, n) == -1)
		return -1;
	stream_writer_consume(sw, n);
	return 0;
}

static void __dead
usage(void)
{
	fprintf(stderr, "usage: remus-trust-peer [-n name] [-p prog] "
	    "[-a args] [-c cmd] [-P pages] [-i ms] [-m MiB] [-w ms]\n"
	    "       [--psk-file file [--psk-identity id] | --tls-creds dir] "
	    "crafted|abandon|slow|slowrec|silent|bigmem|hold|hello host:port\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "psk-file", required_argument, NULL, 'K' },
		{ "psk-identity", required_argument, NULL, 'I' },
		{ "tls-creds", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = "proc:1", *prog = "/bin/sh", *args = NULL;
	const char *cmd = "true", *psk = NULL, *ident = NULL, *mode, *addr;
	const char *x509 = NULL;
	uint64_t pages = 16, interval = 800, mib = 0, wait_ms = 30000;
	struct stream_header_info hi;
	struct proc_config pc;
	char cbuf[PROC_CMD_MAX + sizeof pc], why[1100] = "none", *copy, *tok;
	char *save;
	size_t clen;
	uint32_t nargs = 0;
	uint64_t i;
	int ch;

	while ((ch = getopt_long(argc, argv, "n:p:a:c:P:i:m:w:", lo,
	    NULL)) != -1) {
		switch (ch) {
		case 'n': name = optarg; break;
		case 'p': prog = optarg; break;
		case 'a': args = optarg; break;
		case 'c': cmd = optarg; break;
		case 'P': if (parse_uint(optarg, 1, 1ull << 30, &pages)) usage();
			break;
		case 'i': if (parse_uint(optarg, 1, 60000, &interval)) usage();
			break;
		case 'm': if (parse_uint(optarg, 1, 1ull << 30, &mib)) usage();
			break;
		case 'w': if (parse_uint(optarg, 1, 600000, &wait_ms)) usage();
			break;
		case 'K': psk = optarg; break;
		case 'I': ident = optarg; break;
		case 'X': x509 = optarg; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	mode = argv[optind];
	addr = argv[optind + 1];
	log_init("remus-trust-peer", 1, 0);
	/* A write to a connection remusd closed is an answer, not a death. */
	signal(SIGPIPE, SIG_IGN);

	/* The config: exe, then argv (as the proc driver packs it). */
	clen = sizeof pc;
	memcpy(cbuf + clen, prog, strlen(prog) + 1);
	clen += strlen(prog) + 1;
	if (args == NULL) {
		const char *sh[] = { "sh", "-c", cmd };

		for (i = 0; i < 3; i++) {
			memcpy(cbuf + clen, sh[i], strlen(sh[i]) + 1);
			clen += strlen(sh[i]) + 1;
			nargs++;
		}
	} else {
		copy = strdup(args);
		for (tok = strtok_r(copy, " ", &save); tok;
		    tok = strtok_r(NULL, " ", &save)) {
			if (clen + strlen(tok) + 1 > sizeof cbuf)
				usage();
			memcpy(cbuf + clen, tok, strlen(tok) + 1);
			clen += strlen(tok) + 1;
			nargs++;
		}
		free(copy);
	}
	if (mib)
		pages = mib * (1024 * 1024 / PS);
	memset(&pc, 0, sizeof pc);
	pc.magic = htole32(PROC_CONFIG_MAGIC);
	pc.version = htole32(PROC_PROTO_VERSION);
	pc.page_size = htole32(PS);
	pc.argc = htole32(nargs);
	pc.arena_size = htole64(pages * PS);
	pc.arena_base = htole64(0x7f0000000000ull);
	pc.cmd_len = htole32((uint32_t)(clen - sizeof pc));
	memcpy(cbuf, &pc, sizeof pc);

	memset(&hi, 0, sizeof hi);
	hi.page_size = PS;
	hi.nr_pages = pages;
	snprintf(hi.driver, sizeof hi.driver, "proc");
	hi.config = cbuf;
	hi.config_len = (uint32_t)clen;
	stream_writer_init(&w, PS);
	atexit(cleanup);
	if (stream_write_header(&w, &hi) == -1 ||
	    stream_write_hello(&w, name, 1000, 250, 0, 0) == -1) {
		fprintf(stderr, "remus-trust-peer: cannot build the stream: "
		    "%s\n", strerror(errno));
		return 1;
	}

	fd = connect_to(addr);
	if (fd == -1) {
		fprintf(stderr, "remus-trust-peer: connect %s: %s\n", addr,
		    strerror(errno));
		return 1;
	}
	t0 = now_us();
	if (psk || x509) {
		creds = psk ? tls_creds_psk(psk, TLS_CLIENT, ident) :
		    tls_creds_x509(x509, TLS_CLIENT);
		fd_set_nonblock(fd, 1);
		if (creds == NULL ||
		    (tls = tls_new(creds, fd, fd, addr, NULL)) == NULL ||
		    tls_handshake_wait(tls, 10000) == -1)
			return 1;
	}

	if (strcmp(mode, "hello") == 0) {
		flush(&w);
		usleep(500000);
		closed_yet(0, why, sizeof why);
		if (tls)
			tls_bye(tls);
		shutdown(fd, SHUT_WR);
		for (i = 0; i < 50 && !closed_yet(100, why, sizeof why); i++)
			;
		printf("closed after %" PRIu64 " ms, sent %" PRIu64 " bytes, "
		    "error: %s\n", (now_us() - t0) / 1000, sent, why);
		return 0;
	}
	if (strcmp(mode, "crafted") == 0 || strcmp(mode, "abandon") == 0) {
		int full = strcmp(mode, "abandon") == 0;
		static uint8_t page[PS];

		if (stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL) == -1)
			return 1;
		for (i = 0; full && i < pages; i++) {
			memset(page, (int)(i + 1), sizeof page);
			if (stream_write_page(&w, i, STREAM_ENC_RAW, page,
			    PS) == -1)
				return 1;
			if (w.len > (1u << 20) && stream_write_batch_end(&w) == 0)
				flush(&w);
		}
		if (full)
			stream_write_batch_end(&w);
		else if (stream_write_epoch_end(&w) == -1)
			return 1;
		flush(&w);
		/* Then close: the "loss of the primary". */
		usleep(200000);
		closed_yet(0, why, sizeof why);
		if (tls)
			tls_bye(tls);
		shutdown(fd, SHUT_WR);
		for (i = 0; i < 50 && !closed_yet(100, why, sizeof why); i++)
			;
		printf("closed after %" PRIu64 " ms, sent %" PRIu64 " bytes, "
		    "error: %s\n", (now_us() - t0) / 1000, sent, why);
		return 0;
	}
	if (strcmp(mode, "bigstate") == 0) {
		/* Each record alone is legal (under STREAM_REC_LENGTH_MAX);
		 * their sum in one epoch is what the backup must bound. */
		static uint8_t blob[4u << 20];
		uint64_t n = 260 / 4;

		if (stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL) == -1 ||
		    stream_write_epoch_end(&w) == -1 ||
		    stream_write_epoch_begin(&w, 2, 0) == -1 || flush(&w) == -1)
			return 1;
		memset(blob, 0xa5, sizeof blob);
		for (i = 0; i < n; i++) {
			if (stream_write_blob(&w, STREAM_REC_GUEST_STATE, blob,
			    sizeof blob) == -1)
				return 1;
			/* Its ERROR is read as it comes: our next write
			 * to the closed connection would reset it. */
			if (flush(&w) == -1 || closed_yet(0, why, sizeof why) ||
			    strcmp(why, "none") != 0)
				break;
		}
		for (i = 0; i < wait_ms / 100 && !closed_yet(100, why,
		    sizeof why); i++)
			;
		printf("closed after %" PRIu64 " ms, sent %" PRIu64 " bytes, "
		    "error: %s\n", (now_us() - t0) / 1000, sent, why);
		return 0;
	}
	if (strcmp(mode, "slow") == 0 || strcmp(mode, "slowrec") == 0) {
		size_t n = stream_writer_ready(&w), off = 0;
		/* slowrec: a PAGE_BATCH of 16 MiB in an open epoch, its
		 * header at once, its body a byte at a time. */
		static const uint8_t rec[8] = { 0x02, 0, 0, 0, 0, 0, 0, 0x01 };
		static const uint8_t zero;

		if (strcmp(mode, "slowrec") == 0) {
			if (stream_write_epoch_begin(&w, 1,
			    STREAM_EPOCH_FULL) == -1 || flush(&w) == -1 ||
			    send_bytes(rec, sizeof rec) == -1)
				return 1;
			n = 0;
		}
		while (now_us() - t0 < wait_ms * 1000) {
			const uint8_t *b = off < n ? w.buf + off : &zero;

			if (send_bytes(b, 1) == -1 ||
			    closed_yet((int)interval, why, sizeof why)) {
				printf("closed after %" PRIu64 " ms, sent %"
				    PRIu64 " bytes, error: %s\n",
				    (now_us() - t0) / 1000, sent, why);
				return 0;
			}
			off++;
		}
	} else if (strcmp(mode, "bigmem") == 0) {
		flush(&w);
	} else if (strcmp(mode, "silent") != 0 && strcmp(mode, "hold") != 0)
		usage();
	while (now_us() - t0 < wait_ms * 1000)
		if (closed_yet(200, why, sizeof why)) {
			printf("closed after %" PRIu64 " ms, sent %" PRIu64
			    " bytes, error: %s\n", (now_us() - t0) / 1000,
			    sent, why);
			return 0;
		}
	printf("open after %" PRIu64 " ms, sent %" PRIu64 " bytes\n",
	    (now_us() - t0) / 1000, sent);
	return 0;
}
