/* tests/unit/test-tls.c -- TLS sessions over socketpairs.
 *
 * The client's and the server's descriptors do not meet directly: each is
 * one end of its own socketpair, and the test moves the bytes between the
 * two other ends (relay_pump), the way an on-path box would.  That lets a
 * test flip one byte of a record in flight.  Credentials come from
 * tests/tls-creds.sh, run once by main() into a temporary directory
 * (exit 77 when certtool or psktool is missing).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tls.h"

#undef NDEBUG
#include <assert.h>

#define CREDS_ENV	"REMUS_TLS_TEST_CREDS"

static char creds_dir[256];

/* ---- helpers -------------------------------------------------------- */

struct link {
	int	c, s;		/* the client's and the server's fds */
	int	cr, sr;		/* the relay's ends */
	size_t	c2s;		/* bytes relayed client -> server */
	size_t	flip_at;	/* flip this byte of c2s (SIZE_MAX: none) */
};

static void
link_open(struct link *l)
{
	int a[2], b[2];

	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a) == 0);
	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b) == 0);
	l->c = a[0];
	l->cr = a[1];
	l->s = b[0];
	l->sr = b[1];
	l->c2s = 0;
	l->flip_at = SIZE_MAX;
}

static void
link_close(struct link *l)
{
	close(l->c);
	close(l->cr);
	close(l->s);
	close(l->sr);
}

/* Move what is readable on FROM to TO, as much as TO takes: peek, send,
 * then consume what went out, so nothing is held here between calls.
 * Returns bytes moved. */
static size_t
move(struct link *l, int from, int to, int c2s)
{
	uint8_t buf[8192];
	size_t total = 0;
	ssize_t n, w;

	for (;;) {
		n = recv(from, buf, sizeof buf, MSG_PEEK);
		if (n <= 0)
			break;
		w = send(to, buf, (size_t)n, MSG_DONTWAIT);
		if (w <= 0)
			break;
		n = recv(from, buf, (size_t)w, 0);
		assert(n == w);
		total += (size_t)w;
		if (c2s)
			l->c2s += (size_t)w;
	}
	return total;
}

/* One round of relaying both ways; applies the flip.  Bytes moved. */
static size_t
relay_pump(struct link *l)
{
	uint8_t buf[8192];
	size_t total = 0;
	ssize_t n, w;

	if (l->flip_at == SIZE_MAX)
		return move(l, l->cr, l->sr, 1) + move(l, l->sr, l->cr, 0);
	/* Byte-exact path for the tampering test. */
	for (;;) {
		n = recv(l->cr, buf, sizeof buf, MSG_PEEK);
		if (n <= 0)
			break;
		if (l->c2s <= l->flip_at && l->flip_at < l->c2s + (size_t)n)
			buf[l->flip_at - l->c2s] ^= 0x20;
		w = send(l->sr, buf, (size_t)n, MSG_DONTWAIT);
		if (w <= 0)
			break;
		n = recv(l->cr, buf, (size_t)w, 0);
		assert(n == w);
		l->c2s += (size_t)w;
		total += (size_t)w;
	}
	return total + move(l, l->sr, l->cr, 0);
}

/* Drive both handshakes until each is done or failed, or nothing moves
 * any more.  *RC / *RS get the last results. */
static void
handshake_both(struct tls *c, struct tls *s, struct link *l, int *rc,
    int *rs)
{
	int idle = 0, i;

	*rc = *rs = TLS_WANT_READ;
	for (i = 0; i < 100000 && idle < 200; i++) {
		if (*rc > 0)
			*rc = tls_handshake(c);
		if (*rs > 0)
			*rs = tls_handshake(s);
		if (*rc <= 0 && *rs <= 0)
			break;
		if (relay_pump(l) == 0) {
			idle++;
			poll(NULL, 0, 1);
		} else
			idle = 0;
	}
}

/* The credentials directory: main() made it; Criterion's workers do not
 * run main() and find it in the environment. */
static const char *
creds(void)
{
	const char *d;

	if (creds_dir[0] == '\0' && (d = getenv(CREDS_ENV)) != NULL)
		snprintf(creds_dir, sizeof creds_dir, "%s", d);
	cr_assert(creds_dir[0] != '\0', "no credentials directory");
	return creds_dir;
}

static char *
path(const char *name)
{
	static char buf[4][512];
	static int k;

	creds();
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", creds_dir, name);
	return buf[k];
}

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* Send LEN bytes from C to S through the relay, reading them on S into
 * OUT.  Returns bytes received before an error (errno in *ERR, 0 if
 * none); counts write EAGAINs in *AGAINS. */
static size_t
transfer(struct tls *c, struct tls *s, struct link *l, const uint8_t *in,
    uint8_t *out, size_t len, int *err, unsigned *agains)
{
	size_t sent = 0, got = 0;
	ssize_t n;
	int idle = 0;

	*err = 0;
	while (got < len && idle < 2000) {
		int moved = 0;

		while (sent < len) {
			n = tls_write(c, in + sent, len - sent);
			if (n > 0) {
				sent += (size_t)n;
				moved = 1;
				continue;
			}
			cr_assert(errno == EAGAIN, "write: %s", strerror(errno));
			if (agains)
				(*agains)++;
			break;
		}
		if (relay_pump(l) > 0)
			moved = 1;
		while (got < len) {
			n = tls_read(s, out + got, len - got);
			if (n > 0) {
				got += (size_t)n;
				moved = 1;
				continue;
			}
			if (n == -1 && errno == EAGAIN)
				break;
			*err = n == 0 ? -1 : errno;	/* -1: EOF */
			return got;
		}
		if (moved)
			idle = 0;
		else {
			idle++;
			poll(NULL, 0, 1);
		}
	}
	return got;
}

struct pair {
	struct tls_creds *cc, *sc;
	struct tls	*c, *s;
	struct link	 l;
	int		 rc, rs;
};

static void
pair_x509(struct pair *p, const char *cdir, const char *sdir,
    const char *hostname)
{
	memset(p, 0, sizeof *p);
	p->cc = tls_creds_x509(path(cdir), TLS_CLIENT);
	p->sc = tls_creds_x509(path(sdir), TLS_SERVER);
	cr_assert(p->cc && p->sc);
	link_open(&p->l);
	p->c = tls_new(p->cc, p->l.c, p->l.c, "server", hostname);
	p->s = tls_new(p->sc, p->l.s, p->l.s, "client", NULL);
	cr_assert(p->c && p->s);
	handshake_both(p->c, p->s, &p->l, &p->rc, &p->rs);
}

static void
pair_psk(struct pair *p, const char *cfile, const char *identity)
{
	memset(p, 0, sizeof *p);
	p->cc = tls_creds_psk(path(cfile), TLS_CLIENT, identity);
	p->sc = tls_creds_psk(path("psk-server"), TLS_SERVER, NULL);
	cr_assert(p->cc && p->sc);
	link_open(&p->l);
	p->c = tls_new(p->cc, p->l.c, p->l.c, "server", "localhost");
	p->s = tls_new(p->sc, p->l.s, p->l.s, "client", NULL);
	cr_assert(p->c && p->s);
	handshake_both(p->c, p->s, &p->l, &p->rc, &p->rs);
}

static void
pair_free(struct pair *p)
{
	tls_free(p->c);
	tls_free(p->s);
	tls_creds_free(p->cc);
	tls_creds_free(p->sc);
	link_close(&p->l);
}

/* Both ways, a few KiB each. */
static void
assert_talks(struct pair *p)
{
	uint8_t in[5000], out[5000];
	int err;

	fill(in, sizeof in, 1);
	cr_assert(transfer(p->c, p->s, &p->l, in, out, sizeof in, &err,
	    NULL) == sizeof in && err == 0, "err %d", err);
	cr_assert(memcmp(in, out, sizeof in) == 0);
	fill(in, sizeof in, 2);
	cr_assert(transfer(p->s, p->c, &p->l, in, out, sizeof in, &err,
	    NULL) == sizeof in && err == 0);
	cr_assert(memcmp(in, out, sizeof in) == 0);
}

/* The client may finish its side of a TLS 1.3 handshake before the server
 * has judged the client's credentials: then the refusal reaches it as an
 * alert on its first read.  Either way it must not get data through. */
static void
assert_client_refused(struct pair *p)
{
	uint8_t b[16];
	ssize_t n;
	int i;

	if (p->rc == -1)
		return;
	cr_assert(p->rc == TLS_DONE);
	for (i = 0; i < 1000; i++) {
		relay_pump(&p->l);
		n = tls_read(p->c, b, sizeof b);
		if (n == -1 && errno == EAGAIN) {
			poll(NULL, 0, 1);
			continue;
		}
		break;
	}
	cr_assert(n <= 0 && !(n == -1 && errno == EAGAIN),
	    "client read %zd after the server refused it", n);
}

/* ---- tests ---------------------------------------------------------- */

Test(tls, psk_handshake_and_data_both_ways, .timeout = 30)
{
	struct pair p;

	pair_psk(&p, "psk-client", NULL);
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE, "rc %d rs %d", p.rc,
	    p.rs);
	cr_assert(strcmp(tls_peer_name(p.s), "psk identity \"primary\"") == 0,
	    "%s", tls_peer_name(p.s));
	assert_talks(&p);
	pair_free(&p);
}

/* What --guest-peer compares: the identity the key proved, exactly. */
Test(tls, psk_peer_is_its_identity, .timeout = 30)
{
	struct pair p;

	memset(&p, 0, sizeof p);
	pair_psk(&p, "psk-server", "other");
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	cr_assert_str_eq(tls_peer_id(p.s), "other");
	cr_assert(tls_peer_is(p.s, "other"));
	cr_assert(!tls_peer_is(p.s, "primary"));
	cr_assert(!tls_peer_is(p.s, "othe"));
	cr_assert(!tls_peer_is(p.s, "Other"));
	cr_assert(!tls_peer_is(p.s, ""));
	pair_free(&p);
}

/* A certificate goes by its one CN or its whole DN, nothing less. */
Test(tls, x509_peer_is_its_cn_or_dn, .timeout = 30)
{
	struct pair p;

	pair_x509(&p, "x509", "x509", "127.0.0.1");
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	cr_assert_str_eq(tls_peer_id(p.s), "remus test primary a");
	cr_assert(tls_peer_is(p.s, "remus test primary a"));
	cr_assert(tls_peer_is(p.s, "CN=remus test primary a"));
	cr_assert(!tls_peer_is(p.s, "remus test primary"));
	cr_assert(!tls_peer_is(p.s, "CN=remus test primary"));
	cr_assert(!tls_peer_is(p.s, "remus test CA a"));
	/* The client's view of the server: its certificate's CN. */
	cr_assert(tls_peer_is(p.c, "remusd test backup a"));
	pair_free(&p);
	pair_x509(&p, "x509-other", "x509", "127.0.0.1");
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	cr_assert(!tls_peer_is(p.s, "remus test primary a"));
	cr_assert(tls_peer_is(p.s, "remus test intruder a"));
	pair_free(&p);
}

Test(tls, psk_identity_picked_from_file, .timeout = 30)
{
	struct pair p;

	/* The server's own table names "other" second: the client can be
	 * any line of a shared file. */
	memset(&p, 0, sizeof p);
	pair_psk(&p, "psk-server", "other");
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	cr_assert(strcmp(tls_peer_name(p.s), "psk identity \"other\"") == 0);
	assert_talks(&p);
	pair_free(&p);
}

Test(tls, psk_wrong_key_refused, .timeout = 30)
{
	struct pair p;

	pair_psk(&p, "psk-wrong", NULL);
	cr_assert(p.rs == -1 && errno == EPROTO);
	assert_client_refused(&p);
	pair_free(&p);
}

Test(tls, psk_unknown_identity_refused, .timeout = 30)
{
	struct pair p;

	pair_psk(&p, "psk-unknown", NULL);
	cr_assert(p.rs == -1);
	assert_client_refused(&p);
	pair_free(&p);
}

Test(tls, x509_handshake_and_data_both_ways, .timeout = 30)
{
	struct pair p;

	pair_x509(&p, "x509", "x509", "127.0.0.1");
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE, "rc %d rs %d", p.rc,
	    p.rs);
	cr_assert(strstr(tls_peer_name(p.s), "remus test primary a") != NULL,
	    "%s", tls_peer_name(p.s));
	cr_assert(strstr(tls_peer_name(p.c), "remusd test backup a") != NULL,
	    "%s", tls_peer_name(p.c));
	assert_talks(&p);
	pair_free(&p);
}

Test(tls, x509_dns_name_accepted, .timeout = 30)
{
	struct pair p;

	pair_x509(&p, "x509", "x509", "localhost");
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	pair_free(&p);
}

Test(tls, x509_client_cert_from_other_ca_refused, .timeout = 30)
{
	struct pair p;

	pair_x509(&p, "x509-badclient", "x509", "127.0.0.1");
	cr_assert(p.rs == -1);
	assert_client_refused(&p);
	pair_free(&p);
}

Test(tls, x509_server_cert_from_other_ca_refused_by_client, .timeout = 30)
{
	struct pair p;

	pair_x509(&p, "x509", "x509-badserver", "127.0.0.1");
	cr_assert(p.rc == -1 && errno == EPROTO);
	cr_assert(p.rs != TLS_DONE);
	pair_free(&p);
}

Test(tls, x509_server_name_mismatch_refused_by_client, .timeout = 30)
{
	struct pair p;

	pair_x509(&p, "x509", "x509", "backup.example.org");
	cr_assert(p.rc == -1);
	pair_free(&p);
}

Test(tls, x509_client_without_psk_cannot_meet_psk_server, .timeout = 30)
{
	struct pair p;

	memset(&p, 0, sizeof p);
	p.cc = tls_creds_x509(path("x509"), TLS_CLIENT);
	p.sc = tls_creds_psk(path("psk-server"), TLS_SERVER, NULL);
	cr_assert(p.cc && p.sc);
	link_open(&p.l);
	p.c = tls_new(p.cc, p.l.c, p.l.c, "server", "127.0.0.1");
	p.s = tls_new(p.sc, p.l.s, p.l.s, "client", NULL);
	handshake_both(p.c, p.s, &p.l, &p.rc, &p.rs);
	cr_assert(p.rs == -1);
	cr_assert(p.rc != TLS_DONE);
	pair_free(&p);
}

Test(tls, flipped_byte_fails_the_read_not_the_data, .timeout = 30)
{
	static uint8_t in[256 << 10], out[256 << 10];
	struct pair p;
	size_t got;
	int err;

	pair_psk(&p, "psk-client", NULL);
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	/* A byte well inside the third 16 KiB record. */
	p.l.flip_at = p.l.c2s + 2 * (16384 + 22) + 5000;
	fill(in, sizeof in, 3);
	got = transfer(p.c, p.s, &p.l, in, out, sizeof in, &err, NULL);
	cr_assert(err == EBADMSG, "err %d (%s) after %zu bytes", err,
	    strerror(err > 0 ? err : 0), got);
	/* What came out before the failure is exactly what went in, and
	 * the damaged record gave nothing. */
	cr_assert(got <= 2 * 16384, "got %zu", got);
	cr_assert(memcmp(in, out, got) == 0);
	/* The session stays dead. */
	cr_assert(tls_read(p.s, out, 10) == -1 && errno == EBADMSG);
	pair_free(&p);
}

Test(tls, large_transfer_across_eagain, .timeout = 60)
{
	size_t len = 24 << 20, got;
	uint8_t *in = malloc(len), *out = malloc(len);
	unsigned agains = 0;
	struct pair p;
	int err;

	cr_assert(in && out);
	pair_x509(&p, "x509", "x509", "127.0.0.1");
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	fill(in, len, 4);
	memset(out, 0, len);
	got = transfer(p.c, p.s, &p.l, in, out, len, &err, &agains);
	cr_assert(got == len && err == 0, "got %zu err %d", got, err);
	cr_assert(agains > 0, "the socket never filled: test proves nothing");
	cr_assert(memcmp(in, out, len) == 0);
	pair_free(&p);
	free(in);
	free(out);
}

Test(tls, pending_counts_plaintext_the_fd_does_not_show, .timeout = 30)
{
	uint8_t in[10000], out[10000];
	struct pollfd pfd;
	struct pair p;
	ssize_t n;
	int i;

	pair_psk(&p, "psk-client", NULL);
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	fill(in, sizeof in, 5);
	cr_assert(tls_write(p.c, in, sizeof in) == (ssize_t)sizeof in);
	for (i = 0; i < 1000; i++) {
		relay_pump(&p.l);
		n = tls_read(p.s, out, 100);
		if (n > 0)
			break;
		cr_assert(errno == EAGAIN);
		poll(NULL, 0, 1);
	}
	cr_assert(n == 100);
	cr_assert(tls_pending(p.s) == sizeof in - 100, "pending %zu",
	    tls_pending(p.s));
	pfd.fd = p.l.s;
	pfd.events = POLLIN;
	cr_assert(poll(&pfd, 1, 0) == 0, "the fd shows the data after all");
	cr_assert(tls_read(p.s, out + 100, sizeof out) ==
	    (ssize_t)sizeof in - 100);
	cr_assert(memcmp(in, out, sizeof in) == 0);
	cr_assert(tls_pending(p.s) == 0);
	pair_free(&p);
}

Test(tls, bye_is_end_of_stream, .timeout = 30)
{
	struct pair p;
	uint8_t b[8];
	ssize_t n = -1;
	int i;

	pair_psk(&p, "psk-client", NULL);
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	cr_assert(tls_bye(p.c) == 0);
	for (i = 0; i < 1000; i++) {
		relay_pump(&p.l);
		n = tls_read(p.s, b, sizeof b);
		if (n != -1 || errno != EAGAIN)
			break;
		poll(NULL, 0, 1);
	}
	cr_assert(n == 0);
	pair_free(&p);
}

Test(tls, closed_without_close_notify_is_end_of_stream, .timeout = 30)
{
	struct pair p;
	uint8_t b[8];
	ssize_t n = -1;
	int i;

	pair_psk(&p, "psk-client", NULL);
	cr_assert(p.rc == TLS_DONE && p.rs == TLS_DONE);
	/* The primary killed: its socket closes, no TLS goodbye. */
	close(p.l.sr);
	p.l.sr = open("/dev/null", O_RDONLY);
	for (i = 0; i < 1000; i++) {
		n = tls_read(p.s, b, sizeof b);
		if (n != -1 || errno != EAGAIN)
			break;
		poll(NULL, 0, 1);
	}
	cr_assert(n == 0, "n %zd errno %d", n, errno);
	pair_free(&p);
}

Test(tls, handshake_wait_completes_against_a_process, .timeout = 30)
{
	struct tls_creds *cc, *sc;
	struct tls *c, *s;
	int sv[2], st;
	char b[6] = "";
	pid_t pid;

	cc = tls_creds_x509(path("x509"), TLS_CLIENT);
	sc = tls_creds_x509(path("x509"), TLS_SERVER);
	cr_assert(cc && sc);
	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		s = tls_new(sc, sv[1], sv[1], "client", NULL);
		if (s == NULL || tls_handshake_wait(s, 10000) != 0)
			_exit(1);
		while (tls_write(s, "hello", 5) != 5)
			poll(NULL, 0, 1);
		while (tls_bye(s) == 1)
			poll(NULL, 0, 1);
		_exit(0);
	}
	close(sv[1]);
	c = tls_new(cc, sv[0], sv[0], "server", "localhost");
	cr_assert(c != NULL);
	cr_assert(tls_handshake_wait(c, 10000) == 0);
	while (tls_read(c, b, 5) == -1 && errno == EAGAIN)
		poll(NULL, 0, 1);
	cr_assert(strcmp(b, "hello") == 0);
	cr_assert(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0);
	tls_free(c);
	tls_creds_free(cc);
	tls_creds_free(sc);
	close(sv[0]);
}

Test(tls, handshake_wait_times_out_on_a_silent_peer, .timeout = 30)
{
	struct tls_creds *cc;
	struct tls *c;
	uint64_t t0;
	int sv[2];

	cc = tls_creds_psk(path("psk-client"), TLS_CLIENT, NULL);
	cr_assert(cc != NULL);
	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	c = tls_new(cc, sv[0], sv[0], "server", NULL);
	t0 = (uint64_t)time(NULL);
	cr_assert(tls_handshake_wait(c, 300) == -1 && errno == ETIMEDOUT);
	cr_assert((uint64_t)time(NULL) - t0 <= 2);
	tls_free(c);
	tls_creds_free(cc);
	close(sv[0]);
	close(sv[1]);
}

/* ---- credentials ---------------------------------------------------- */

static const char *
write_file(const char *name, const char *text)
{
	const char *p = path(name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0);
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	return p;
}

#define KEY32 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

Test(tls, psk_file_accepts_comments_and_crlf, .timeout = 10)
{
	const char *f = write_file("psk-ok", "# peers\n\nalpha:" KEY32
	    "\r\nbeta:" KEY32 "\n");
	struct tls_creds *c = tls_creds_psk(f, TLS_CLIENT, "beta");

	cr_assert(c != NULL);
	cr_assert(strcmp(tls_creds_kind(c), "psk") == 0);
	tls_creds_free(c);
}

Test(tls, psk_file_errors_refused, .timeout = 10)
{
	static const char *bad[] = {
		"alpha" KEY32 "\n",				/* no colon */
		":" KEY32 "\n",					/* no identity */
		"alpha:0011\n",					/* 16 bits */
		"alpha:" KEY32 "0\n",				/* odd */
		"alpha:zz112233445566778899aabbccddeeff\n",	/* not hex */
		"alpha:" KEY32 "\nalpha:" KEY32 "\n",		/* twice */
		"# nothing\n",					/* empty */
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *f = write_file("psk-bad", bad[i]);

		errno = 0;
		cr_assert(tls_creds_psk(f, TLS_SERVER, NULL) == NULL,
		    "case %zu accepted", i);
		cr_assert(errno == EINVAL, "case %zu: errno %d", i, errno);
	}
	errno = 0;
	cr_assert(tls_creds_psk(path("psk-client"), TLS_CLIENT, "nobody") ==
	    NULL && errno == ENOENT);
	cr_assert(tls_creds_psk(path("no-such-file"), TLS_SERVER, NULL) ==
	    NULL && errno == ENOENT);
}

Test(tls, x509_missing_files_refused, .timeout = 10)
{
	/* x509-badclient has no server pair; x509-badserver no client
	 * pair; the top directory no ca-cert.pem. */
	cr_assert(tls_creds_x509(path("x509-badclient"), TLS_SERVER) == NULL);
	cr_assert(tls_creds_x509(path("x509-badserver"), TLS_CLIENT) == NULL);
	cr_assert(tls_creds_x509(creds(), TLS_CLIENT) == NULL);
	cr_assert(tls_creds_x509(path("psk-server"), TLS_CLIENT) == NULL);
}

Test(tls, x509_key_not_matching_cert_refused, .timeout = 10)
{
	char cmd[2048];

	snprintf(cmd, sizeof cmd, "set -e; d=%s; mkdir -p $d/mismatch; "
	    "cp $d/x509/ca-cert.pem $d/x509/client-cert.pem $d/mismatch/; "
	    "cp $d/x509/server-key.pem $d/mismatch/client-key.pem",
	    creds());
	cr_assert(system(cmd) == 0);
	cr_assert(tls_creds_x509(path("mismatch"), TLS_CLIENT) == NULL);
	cr_assert(errno == EINVAL);
}

/* ---- main: credentials once, then Criterion ------------------------ */

static int
make_creds(void)
{
	const char *src = getenv("REMUS_SRC");
	char cmd[1024];
	int st;

	snprintf(creds_dir, sizeof creds_dir, "/tmp/remus-test-tls.XXXXXX");
	if (mkdtemp(creds_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cmd, sizeof cmd, "sh %s/tests/tls-creds.sh %s",
	    src ? src : REMUS_SRC_DIR, creds_dir);
	st = system(cmd);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		return 77;
	if (st != 0) {
		fprintf(stderr, "test-tls: %s failed\n", cmd);
		return 1;
	}
	setenv(CREDS_ENV, creds_dir, 1);
	return 0;
}

int
main(int argc, char **argv)
{
	struct criterion_test_set *tests;
	const char *dir = getenv(CREDS_ENV);
	char cmd[512];
	int rc, own = 0;

	if (dir == NULL) {
		rc = make_creds();
		if (rc == 77) {
			fprintf(stderr, "test-tls: skipped, certtool/psktool "
			    "missing (scripts/setup installs gnutls-bin)\n");
			return 77;
		}
		if (rc != 0)
			return 1;
		own = 1;
	} else
		snprintf(creds_dir, sizeof creds_dir, "%s", dir);

	tests = criterion_initialize();
	rc = 0;
	if (criterion_handle_args(argc, argv, true))
		rc = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	if (own) {
		snprintf(cmd, sizeof cmd, "rm -rf %s", creds_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "test-tls: could not remove %s\n",
			    creds_dir);
	}
	return rc;
}
