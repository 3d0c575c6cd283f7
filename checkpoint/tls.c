/* checkpoint/tls.c -- TLS 1.3 sessions and credentials over GnuTLS.
 *
 * See tls.h for the contract.  GnuTLS does the protocol; this file loads
 * and checks the credentials, pins the version and key exchanges, and maps
 * GnuTLS's results onto read(2)/write(2) conventions so the stream code
 * keeps one shape for plain and TLS links.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define LOG_PREFIX "tls: "
#include "log.h"
#include "tls.h"
#include "util.h"

/* TLS 1.3 only.  PSK: only the (EC)DHE-PSK modes, so a key that leaks
 * later does not open recorded replication streams.  A PSK's binder is
 * SHA-256, which leaves the SHA-256 suites, and NORMAL ranks
 * ChaCha20-Poly1305 above AES-128-GCM there: AES-GCM first, it runs on
 * the CPU's AES instructions (35 MB/s against 855 MB/s through one
 * session here).  AES-128 for X.509 too: the cheaper of the two, and the
 * suite every TLS 1.3 peer has. */
#define PRIO_CIPHERS	"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
#define PRIO_X509	"NORMAL:-VERS-ALL:+VERS-TLS1.3:" PRIO_CIPHERS
#define PRIO_PSK	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:" \
			"+DHE-PSK:" PRIO_CIPHERS

#define PSK_FILE_MAX	(1 << 20)	/* a PSK file is a few lines */
#define PSK_ID_MAX	128
#define PSK_KEY_MIN	16		/* 128 bits */
#define PSK_KEY_MAX	64

struct psk_entry {
	char		 id[PSK_ID_MAX + 1];
	uint8_t		 key[PSK_KEY_MAX];
	size_t		 keylen;
};

struct tls_creds {
	enum tls_role	 role;
	int		 psk;		/* else x509 */
	gnutls_priority_t prio;
	gnutls_psk_server_credentials_t psk_srv;
	gnutls_psk_client_credentials_t psk_cli;
	gnutls_certificate_credentials_t x509;
	struct psk_entry *ents;		/* psk server: the accepted peers */
	size_t		 nents;
	char		 client_id[PSK_ID_MAX + 1];	/* psk client */
};

struct tls {
	const struct tls_creds *creds;
	gnutls_session_t s;
	int		 done;		/* handshake complete */
	int		 err;		/* sticky errno after a fatal error */
	int		 eof;		/* the stream ended (sticky) */
	int		 werr;		/* sticky errno of the write side: the
					 * socket's, as on a plain fd, and reads
					 * go on to deliver what arrived */
	int		 psk_known;	/* the client's PSK identity is ours */
	char		 peer[128];
	char		 hostname[256];
	char		 why[160];	/* detail for the handshake failure */
	char		 peer_name[256];
	/* Who the peer is, as the backup's --guest-peer lists name it
	 * (tls_peer_is): the PSK identity or the certificate's one subject
	 * CN, "" when there is none or more than one; the subject DN. */
	char		 peer_id[256];
	char		 peer_dn[512];
	gnutls_typed_vdata_st vdata[2];	/* GnuTLS keeps a pointer to it */
	int		 rfd, wfd;
};

/* ---- Credentials --------------------------------------------------- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Copy S into DST (DSTLEN bytes) with anything unprintable as '?': the
 * string may come from the network. */
static void
printable(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t i;

	if (dstlen == 0)
		return;
	for (i = 0; i < len && i + 1 < dstlen; i++)
		dst[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	dst[i] = '\0';
}

/* Parse one "identity:hexkey" line (no newline) into E.  0 / -1 with the
 * reason in WHY. */
static int
psk_parse_line(const char *line, size_t len, struct psk_entry *e,
    const char **why)
{
	const char *colon = memchr(line, ':', len);
	size_t idlen, hexlen, i;
	int hi, lo;

	if (colon == NULL) {
		*why = "no ':' between identity and key";
		return -1;
	}
	idlen = (size_t)(colon - line);
	hexlen = len - idlen - 1;
	if (idlen == 0 || idlen > PSK_ID_MAX) {
		*why = "identity empty or longer than 128 bytes";
		return -1;
	}
	if (hexlen % 2 != 0 || hexlen / 2 < PSK_KEY_MIN ||
	    hexlen / 2 > PSK_KEY_MAX) {
		*why = "key is not 16..64 bytes of hex (psktool -s 32 makes "
		    "a good one)";
		return -1;
	}
	for (i = 0; i < hexlen / 2; i++) {
		hi = hexval((unsigned char)colon[1 + 2 * i]);
		lo = hexval((unsigned char)colon[2 + 2 * i]);
		if (hi < 0 || lo < 0) {
			*why = "key is not hex";
			return -1;
		}
		e->key[i] = (uint8_t)(hi << 4 | lo);
	}
	e->keylen = hexlen / 2;
	memcpy(e->id, line, idlen);
	e->id[idlen] = '\0';
	return 0;
}

/* Read FILE's entries into C->ents.  0 / -1 + errno (logged). */
static int
psk_load(struct tls_creds *c, const char *file)
{
	struct stat st;
	char *buf = NULL, *line, *end, *nl;
	struct psk_entry *e;
	const char *why;
	size_t lineno = 0, len, i;
	ssize_t n;
	int fd, err;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		log_warn("PSK file %s", file);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("PSK file %s", file);
		goto err;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > PSK_FILE_MAX) {
		log_warnx("PSK file %s: not a regular file of at most 1 MiB",
		    file);
		errno = EINVAL;
		goto err;
	}
	if (st.st_mode & 077)
		log_warnx("PSK file %s: readable by group or others (chmod "
		    "600 it): anyone who reads it can pose as a peer", file);
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		goto err;
	n = read(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		if (n >= 0)
			errno = EIO;
		log_warn("PSK file %s", file);
		goto err;
	}
	buf[n] = '\0';
	for (line = buf, end = buf + n; line < end; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			nl = end;
		len = (size_t)(nl - line);
		lineno++;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0 || line[0] == '#')
			continue;
		e = reallocarray(c->ents, c->nents + 1, sizeof *e);
		if (e == NULL)
			goto err;
		c->ents = e;
		e = &c->ents[c->nents];
		memset(e, 0, sizeof *e);
		if (psk_parse_line(line, len, e, &why) == -1) {
			log_warnx("PSK file %s line %zu: %s", file, lineno,
			    why);
			errno = EINVAL;
			goto err;
		}
		for (i = 0; i < c->nents; i++)
			if (strcmp(c->ents[i].id, e->id) == 0) {
				log_warnx("PSK file %s line %zu: identity "
				    "\"%s\" given twice", file, lineno, e->id);
				errno = EINVAL;
				goto err;
			}
		c->nents++;
	}
	if (c->nents == 0) {
		log_warnx("PSK file %s: no \"identity:hexkey\" line", file);
		errno = EINVAL;
		goto err;
	}
	explicit_bzero(buf, (size_t)st.st_size);
	free(buf);
	close(fd);
	return 0;
err:
	err = errno;
	if (buf) {
		explicit_bzero(buf, (size_t)st.st_size);
		free(buf);
	}
	close(fd);
	errno = err;
	return -1;
}

/* GnuTLS asks for the key of the identity the client offered. */
static int
psk_server_key(gnutls_session_t s, const char *username, gnutls_datum_t *key)
{
	struct tls *t = gnutls_session_get_ptr(s);
	const struct tls_creds *c = t->creds;
	size_t i;

	for (i = 0; i < c->nents; i++) {
		if (strcmp(c->ents[i].id, username) != 0)
			continue;
		key->data = gnutls_malloc(c->ents[i].keylen);
		if (key->data == NULL)
			return -1;
		memcpy(key->data, c->ents[i].key, c->ents[i].keylen);
		key->size = (unsigned)c->ents[i].keylen;
		t->psk_known = 1;
		snprintf(t->why, sizeof t->why, "identity \"%.64s\" is ours: "
		    "a wrong key?", c->ents[i].id);
		return 0;
	}
	printable(t->peer_name, sizeof t->peer_name, username,
	    strlen(username));
	snprintf(t->why, sizeof t->why, "unknown PSK identity \"%.64s\"",
	    t->peer_name);
	t->peer_name[0] = '\0';
	return -1;
}

static struct tls_creds *
creds_alloc(enum tls_role role, int psk)
{
	struct tls_creds *c = calloc(1, sizeof *c);
	const char *errpos = NULL;
	int rc;

	if (c == NULL)
		return NULL;
	c->role = role;
	c->psk = psk;
	rc = gnutls_priority_init(&c->prio, psk ? PRIO_PSK : PRIO_X509,
	    &errpos);
	if (rc < 0) {
		log_warnx("priority string at \"%s\": %s",
		    errpos ? errpos : "", gnutls_strerror(rc));
		free(c);
		errno = ENOTSUP;
		return NULL;
	}
	return c;
}

struct tls_creds *
tls_creds_psk(const char *file, enum tls_role role, const char *identity)
{
	struct tls_creds *c;
	gnutls_datum_t key;
	size_t i;
	int rc;

	c = creds_alloc(role, 1);
	if (c == NULL)
		return NULL;
	if (psk_load(c, file) == -1)
		goto err;
	if (role == TLS_SERVER) {
		rc = gnutls_psk_allocate_server_credentials(&c->psk_srv);
		if (rc < 0)
			goto gnutls_err;
		gnutls_psk_set_server_credentials_function(c->psk_srv,
		    psk_server_key);
		return c;
	}
	for (i = 0; identity && i < c->nents; i++)
		if (strcmp(c->ents[i].id, identity) == 0)
			break;
	if (i == c->nents) {
		log_warnx("PSK file %s: no line for identity \"%s\"", file,
		    identity);
		errno = ENOENT;
		goto err;
	}
	snprintf(c->client_id, sizeof c->client_id, "%s", c->ents[i].id);
	rc = gnutls_psk_allocate_client_credentials(&c->psk_cli);
	if (rc < 0)
		goto gnutls_err;
	key.data = c->ents[i].key;
	key.size = (unsigned)c->ents[i].keylen;
	rc = gnutls_psk_set_client_credentials(c->psk_cli, c->client_id, &key,
	    GNUTLS_PSK_KEY_RAW);
	if (rc < 0)
		goto gnutls_err;
	/* The client needs no table: one key, now inside GnuTLS. */
	explicit_bzero(c->ents, c->nents * sizeof *c->ents);
	free(c->ents);
	c->ents = NULL;
	c->nents = 0;
	return c;
gnutls_err:
	log_warnx("PSK credentials: %s", gnutls_strerror(rc));
	errno = ENOMEM;
err:
	tls_creds_free(c);
	return NULL;
}

/* Load DIR/NAME as the trust list (CA), a CRL or a key pair. */
static int
x509_path(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len) {
		log_warnx("X.509 directory %s: path too long", dir);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (access(buf, R_OK) == -1) {
		log_warn("X.509 credentials: %s", buf);
		return -1;
	}
	return 0;
}

struct tls_creds *
tls_creds_x509(const char *dir, enum tls_role role)
{
	const char *side = role == TLS_SERVER ? "server" : "client";
	char ca[4096], crl[4096], cert[4096], key[4096];
	struct tls_creds *c;
	int rc;

	c = creds_alloc(role, 0);
	if (c == NULL)
		return NULL;
	if (x509_path(ca, sizeof ca, dir, "ca-cert.pem") == -1)
		goto err;
	snprintf(crl, sizeof crl, "%s/ca-crl.pem", dir);
	snprintf(cert, sizeof cert, "%s/%s-cert.pem", dir, side);
	snprintf(key, sizeof key, "%s/%s-key.pem", dir, side);
	if (access(cert, R_OK) == -1 || access(key, R_OK) == -1) {
		/* Both ends authenticate: no anonymous side. */
		log_warn("X.509 credentials: %s", access(cert, R_OK) == -1 ?
		    cert : key);
		goto err;
	}
	rc = gnutls_certificate_allocate_credentials(&c->x509);
	if (rc < 0) {
		log_warnx("X.509 credentials: %s", gnutls_strerror(rc));
		errno = ENOMEM;
		goto err;
	}
	rc = gnutls_certificate_set_x509_trust_file(c->x509, ca,
	    GNUTLS_X509_FMT_PEM);
	if (rc <= 0) {
		log_warnx("X.509 credentials: %s: %s", ca, rc == 0 ?
		    "no certificate in it" : gnutls_strerror(rc));
		goto inval;
	}
	if (access(crl, R_OK) == 0) {
		rc = gnutls_certificate_set_x509_crl_file(c->x509, crl,
		    GNUTLS_X509_FMT_PEM);
		if (rc < 0) {
			log_warnx("X.509 credentials: %s: %s", crl,
			    gnutls_strerror(rc));
			goto inval;
		}
	}
	rc = gnutls_certificate_set_x509_key_file(c->x509, cert, key,
	    GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		log_warnx("X.509 credentials: %s with %s: %s", cert, key,
		    gnutls_strerror(rc));
		goto inval;
	}
	return c;
inval:
	errno = EINVAL;
err:
	tls_creds_free(c);
	return NULL;
}

const char *
tls_creds_kind(const struct tls_creds *c)
{
	return c->psk ? "psk" : "x509";
}

void
tls_creds_free(struct tls_creds *c)
{
	int err = errno;

	if (c == NULL)
		return;
	if (c->psk_srv)
		gnutls_psk_free_server_credentials(c->psk_srv);
	if (c->psk_cli)
		gnutls_psk_free_client_credentials(c->psk_cli);
	if (c->x509)
		gnutls_certificate_free_credentials(c->x509);
	if (c->prio)
		gnutls_priority_deinit(c->prio);
	if (c->ents) {
		explicit_bzero(c->ents, c->nents * sizeof *c->ents);
		free(c->ents);
	}
	free(c);
	errno = err;
}

/* ---- Sessions ------------------------------------------------------ */

static int
is_ip_literal(const char *h)
{
	unsigned char a[16];

	return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

static int
session_verify_x509(struct tls *t)
{
	gnutls_typed_vdata_st *v = t->vdata;
	unsigned n = 0;

	/* A server certificate must not do as a client's and the other way
	 * round (key purpose, when the certificate states one). */
	if (t->creds->role == TLS_SERVER) {
		gnutls_certificate_server_set_request(t->s,
		    GNUTLS_CERT_REQUIRE);
		v[n].type = GNUTLS_DT_KEY_PURPOSE_OID;
		v[n].data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT;
		v[n++].size = 0;
	} else {
		v[n].type = GNUTLS_DT_KEY_PURPOSE_OID;
		v[n].data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER;
		v[n++].size = 0;
		if (t->hostname[0] != '\0') {
			v[n].type = GNUTLS_DT_DNS_HOSTNAME;
			v[n].data = (unsigned char *)t->hostname;
			v[n++].size = 0;
			if (!is_ip_literal(t->hostname) &&
			    gnutls_server_name_set(t->s, GNUTLS_NAME_DNS,
			    t->hostname, strlen(t->hostname)) < 0)
				return -1;
		}
	}
	/* GnuTLS verifies during the handshake and fails it on a bad
	 * chain, name or purpose: no window where an unverified peer is
	 * "connected". */
	gnutls_session_set_verify_cert2(t->s, v, n, 0);
	return 0;
}

struct tls *
tls_new(const struct tls_creds *c, int rfd, int wfd, const char *peer,
    const char *hostname)
{
	struct tls *t;
	unsigned flags;
	int rc;

	t = calloc(1, sizeof *t);
	if (t == NULL) {
		log_warn("%s: TLS session", peer);
		return NULL;
	}
	t->creds = c;
	snprintf(t->peer, sizeof t->peer, "%s", peer ? peer : "peer");
	if (hostname)
		snprintf(t->hostname, sizeof t->hostname, "%s", hostname);
	/* No session tickets: every connection authenticates afresh, and
	 * the backup keeps no resumption state. */
	flags = (c->role == TLS_SERVER ? GNUTLS_SERVER : GNUTLS_CLIENT) |
	    GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS;
	rc = gnutls_init(&t->s, flags);
	if (rc < 0)
		goto gnutls_err;
	gnutls_session_set_ptr(t->s, t);
	rc = gnutls_priority_set(t->s, c->prio);
	if (rc < 0)
		goto gnutls_err;
	if (c->psk)
		rc = gnutls_credentials_set(t->s, GNUTLS_CRD_PSK,
		    c->role == TLS_SERVER ? (void *)c->psk_srv :
		    (void *)c->psk_cli);
	else
		rc = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE,
		    c->x509);
	if (rc < 0)
		goto gnutls_err;
	if (!c->psk && session_verify_x509(t) == -1) {
		rc = GNUTLS_E_MEMORY_ERROR;
		goto gnutls_err;
	}
	/* The caller's deadline bounds the handshake, not GnuTLS's. */
	gnutls_handshake_set_timeout(t->s, GNUTLS_INDEFINITE_TIMEOUT);
	gnutls_transport_set_int2(t->s, rfd, wfd);
	t->rfd = rfd;
	t->wfd = wfd;
	return t;
gnutls_err:
	log_warnx("%s: TLS session: %s", t->peer, gnutls_strerror(rc));
	tls_free(t);
	errno = ENOMEM;
	return NULL;
}

/* T->peer_id from CRT's subject CN, if it has exactly one and it is a
 * plain string: with two, which one names the peer would be a guess a
 * certificate's holder could steer; one with a NUL in it could end early
 * where a list's entry does. */
static void
set_peer_cn(struct tls *t, gnutls_x509_crt_t crt)
{
	char cn[sizeof t->peer_id];
	size_t len = sizeof cn;

	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    0, cn, &len) < 0 || len >= sizeof cn || strlen(cn) != len)
		return;
	len = 0;
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1,
	    0, NULL, &len) != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return;
	memcpy(t->peer_id, cn, strlen(cn) + 1);
}

/* Fill T->peer_name once the handshake is done. */
static void
set_peer_name(struct tls *t)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = { NULL, 0 };
	unsigned n = 0;
	const char *id;

	if (t->creds->psk) {
		id = t->creds->role == TLS_SERVER ?
		    gnutls_psk_server_get_username(t->s) : t->creds->client_id;
		snprintf(t->peer_name, sizeof t->peer_name,
		    "psk identity \"%.200s\"", id ? id : "?");
		/* The server looked it up in its file (psk_server_key): an
		 * identity there, proven by its key. */
		if (id != NULL && strlen(id) < sizeof t->peer_id)
			snprintf(t->peer_id, sizeof t->peer_id, "%s", id);
		return;
	}
	snprintf(t->peer_name, sizeof t->peer_name, "certificate ?");
	certs = gnutls_certificate_get_peers(t->s, &n);
	if (certs == NULL || n == 0 || gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0) {
		if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
			snprintf(t->peer_name, sizeof t->peer_name,
			    "certificate \"%.200s\"", (const char *)dn.data);
			/* Whole, or not at all: a truncated DN would match
			 * a shorter one. */
			if (dn.size < sizeof t->peer_dn &&
			    strlen((const char *)dn.data) == dn.size)
				memcpy(t->peer_dn, dn.data, dn.size + 1);
			gnutls_free(dn.data);
		}
		set_peer_cn(t, crt);
	}
	gnutls_x509_crt_deinit(crt);
}

/* The words for a failed handshake: GnuTLS's, plus what it knows more. */
static void
handshake_reason(struct tls *t, int rc, int saved, char *buf, size_t len)
{
	gnutls_datum_t out = { NULL, 0 };
	unsigned status;

	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED ||
	    rc == GNUTLS_E_WARNING_ALERT_RECEIVED) {
		snprintf(buf, len, "%s (%s)", gnutls_strerror(rc),
		    gnutls_alert_get_name(gnutls_alert_get(t->s)));
		return;
	}
	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		status = gnutls_session_get_verify_cert_status(t->s);
		if (gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &out, 0) >= 0) {
			size_t n = strlen((const char *)out.data);

			while (n > 0 && out.data[n - 1] == ' ')
				out.data[--n] = '\0';
			snprintf(buf, len, "%s (%s)", gnutls_strerror(rc),
			    (const char *)out.data);
			gnutls_free(out.data);
			return;
		}
	}
	if (t->why[0] != '\0' && (!t->psk_known ||
	    rc == GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER))
		snprintf(buf, len, "%s (%s)", gnutls_strerror(rc), t->why);
	else if ((rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PUSH_ERROR) &&
	    saved != 0)
		snprintf(buf, len, "%s (%s)", gnutls_strerror(rc),
		    strerror(saved));
	else
		snprintf(buf, len, "%s", gnutls_strerror(rc));
}

int
tls_handshake(struct tls *t)
{
	char reason[512], *desc;
	int rc, i, saved = 0;

	if (t->err) {
		errno = t->err;
		return -1;
	}
	if (t->done)
		return TLS_DONE;
	/* Warnings (non-fatal results) only call for another go. */
	for (i = 0; i < 16; i++) {
		errno = 0;
		rc = gnutls_handshake(t->s);
		saved = errno;
		if (rc == GNUTLS_E_SUCCESS) {
			t->done = 1;
			set_peer_name(t);
			desc = gnutls_session_get_desc(t->s);
			log_debug("%s: TLS handshake done: %s, key exchange "
			    "%s, group %s, peer %s", t->peer,
			    desc ? desc : "?",
			    gnutls_kx_get_name(gnutls_kx_get(t->s)),
			    gnutls_group_get_name(gnutls_group_get(t->s)),
			    t->peer_name);
			gnutls_free(desc);
			return TLS_DONE;
		}
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
			return gnutls_record_get_direction(t->s) ?
			    TLS_WANT_WRITE : TLS_WANT_READ;
		if (gnutls_error_is_fatal(rc))
			break;
	}
	handshake_reason(t, rc, saved, reason, sizeof reason);
	/* A peer can fail handshakes in a loop (issue 12): rate-limited,
	 * every one still counted. */
	log_rate(LOG_ERR, "tls-handshake", "%sTLS handshake with %s "
	    "failed: %s", LOG_PREFIX, t->peer, reason);
	/* Tell the peer why, if the socket takes it (best effort). */
	if (rc != GNUTLS_E_FATAL_ALERT_RECEIVED &&
	    rc != GNUTLS_E_PUSH_ERROR && rc != GNUTLS_E_PULL_ERROR)
		gnutls_alert_send_appropriate(t->s, rc);
	t->err = EPROTO;
	errno = EPROTO;
	return -1;
}

int
tls_handshake_wait(struct tls *t, unsigned timeout_ms)
{
	uint64_t deadline = now_us() + (uint64_t)timeout_ms * 1000, now;
	struct pollfd pfd;
	int rc, n;

	for (;;) {
		rc = tls_handshake(t);
		if (rc <= 0)
			return rc;
		now = now_us();
		if (now >= deadline) {
			log_rate(LOG_ERR, "tls-handshake", "%sTLS "
			    "handshake with %s failed: no answer in %u ms",
			    LOG_PREFIX, t->peer, timeout_ms);
			t->err = ETIMEDOUT;
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = rc == TLS_WANT_WRITE ?
		    t->wfd : t->rfd;
		pfd.events = rc == TLS_WANT_WRITE ? POLLOUT : POLLIN;
		n = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

const char *
tls_peer_name(const struct tls *t)
{
	return t->peer_name[0] ? t->peer_name : "unauthenticated peer";
}

int
tls_peer_is(const struct tls *t, const char *id)
{
	if (!t->done || id == NULL || *id == '\0')
		return 0;
	return (t->peer_id[0] != '\0' && strcmp(t->peer_id, id) == 0) ||
	    (t->peer_dn[0] != '\0' && strcmp(t->peer_dn, id) == 0);
}

const char *
tls_peer_id(const struct tls *t)
{
	return t->peer_id;
}

const char *
tls_cipher_name(const struct tls *t)
{
	const char *n = gnutls_cipher_get_name(gnutls_cipher_get(t->s));

	return n ? n : "?";
}

/* errno for GnuTLS's transport errors: the socket's, from send/recv. */
static int
socket_errno(int saved, int fallback)
{
	return saved != 0 && saved != EAGAIN && saved != EINTR ? saved :
	    fallback;
}

/* Classify a gnutls_record_recv() failure: the errno to report, with
 * fatal ones made sticky (and logged); -1 for the end of the stream. */
static int
recv_error(struct tls *t, int rc, int saved)
{
	switch (rc) {
	case GNUTLS_E_AGAIN:
		return EAGAIN;
	case GNUTLS_E_INTERRUPTED:
		return EINTR;
	case GNUTLS_E_PREMATURE_TERMINATION:
		/* TCP closed without close_notify: the primary died (or
		 * someone cut the link): the end of the stream either way,
		 * as on a plain socket. */
		log_debug("%s: TCP closed without TLS close_notify", t->peer);
		t->eof = 1;
		return -1;
	case GNUTLS_E_PULL_ERROR:
		t->err = socket_errno(saved, ECONNRESET);
		return t->err;
	case GNUTLS_E_DECRYPTION_FAILED:
		log_warnx("TLS record from %s failed authentication (altered "
		    "on the way?): %s", t->peer, gnutls_strerror(rc));
		t->err = EBADMSG;
		return t->err;
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		log_warnx("TLS with %s: %s (%s)", t->peer, gnutls_strerror(rc),
		    gnutls_alert_get_name(gnutls_alert_get(t->s)));
		t->err = EPROTO;
		return t->err;
	default:
		if (!gnutls_error_is_fatal(rc))
			return EINTR;	/* e.g. a key update: call again */
		log_warnx("TLS with %s: %s", t->peer, gnutls_strerror(rc));
		t->err = EPROTO;
		return t->err;
	}
}

ssize_t
tls_read(struct tls *t, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	ssize_t rc;
	int saved, e = 0;

	if (t->err) {
		errno = t->err;
		return -1;
	}
	if (t->eof)
		return 0;
	if (!t->done) {
		errno = EAGAIN;
		return -1;
	}
	/* One call returns one record at most (16 KiB): gather as many as
	 * the buffer holds, so a caller sizing reads for a plain socket
	 * does not pay one trip through its loop per record.  An error
	 * after some data is kept for the next call. */
	while (got < len) {
		errno = 0;
		rc = gnutls_record_recv(t->s, p + got, len - got);
		saved = errno;
		if (rc > 0) {
			got += (size_t)rc;
			continue;
		}
		if (rc == 0) {
			t->eof = 1;
			break;
		}
		e = recv_error(t, (int)rc, saved);
		break;
	}
	if (got > 0)
		return (ssize_t)got;
	if (t->eof)
		return 0;
	errno = e;
	return -1;
}

ssize_t
tls_write(struct tls *t, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t put = 0;
	ssize_t rc;
	int saved;

	if (t->err || t->werr) {
		errno = t->err ? t->err : t->werr;
		return -1;
	}
	if (!t->done) {
		errno = EAGAIN;
		return -1;
	}
	/* Record by record until the socket is full.  A record sealed but
	 * not flushed when EAGAIN comes is the one the next call (same
	 * bytes at BUF + what we return) flushes and counts. */
	while (put < len) {
		errno = 0;
		rc = gnutls_record_send(t->s, p + put, len - put);
		saved = errno;
		if (rc > 0) {
			put += (size_t)rc;
			continue;
		}
		if (put > 0)
			break;
		switch (rc) {
		case GNUTLS_E_AGAIN:
			errno = EAGAIN;
			return -1;
		case GNUTLS_E_INTERRUPTED:
			errno = EINTR;
			return -1;
		case GNUTLS_E_PUSH_ERROR:
			t->werr = socket_errno(saved, EPIPE);
			errno = t->werr;
			return -1;
		case GNUTLS_E_PREMATURE_TERMINATION:
			/* The TCP connection is closed: EPIPE, as on a
			 * plain socket; what it sent before is still read. */
			t->werr = EPIPE;
			errno = EPIPE;
			return -1;
		default:
			log_warnx("TLS with %s: %s", t->peer,
			    gnutls_strerror((int)rc));
			t->err = EPROTO;
			errno = EPROTO;
			return -1;
		}
	}
	return (ssize_t)put;
}

size_t
tls_pending(const struct tls *t)
{
	return t->done && !t->err ? gnutls_record_check_pending(t->s) : 0;
}

int
tls_bye(struct tls *t)
{
	int rc;

	if (!t->done || t->err) {
		errno = t->err ? t->err : ENOTCONN;
		return -1;
	}
	rc = gnutls_bye(t->s, GNUTLS_SHUT_WR);
	if (rc == GNUTLS_E_SUCCESS)
		return 0;
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
		return 1;
	errno = EPIPE;
	return -1;
}

void
tls_free(struct tls *t)
{
	int err = errno;

	if (t == NULL)
		return;
	if (t->s)
		gnutls_deinit(t->s);
	free(t);
	errno = err;
}
