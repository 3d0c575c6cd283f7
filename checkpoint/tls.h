/* checkpoint/tls.h -- TLS 1.3 on the replication link (GnuTLS).
 *
 * The primary is the TLS client, the backup the TLS server.  Two kinds of
 * credentials, both mutual:
 *
 *   psk   a file of "identity:hexkey" lines (psktool's format).  The
 *         server accepts every identity in it, each with its own key; the
 *         client uses one line (the one named, or the first).  Only the
 *         (EC)DHE-PSK key exchanges: forward secrecy for the replica.
 *   x509  a directory laid out as QEMU's tls-creds-x509 wants it:
 *         ca-cert.pem, server-cert.pem, server-key.pem (server),
 *         client-cert.pem, client-key.pem (client), optional ca-crl.pem.
 *         The server requires a client certificate and verifies it against
 *         ca-cert.pem; the client verifies the server's against ca-cert.pem
 *         and, unless given none, the host name it connected to.
 *
 * A session wraps a connected nonblocking descriptor pair.  Nothing here
 * blocks and nothing here owns a timer: the caller drives tls_handshake()
 * from its ev_io watchers and enforces the handshake deadline itself.
 *
 *   tls_new -> tls_handshake ... TLS_DONE -> tls_read / tls_write ...
 *           -> tls_bye (orderly end) -> tls_free (the fds stay open)
 *
 * Plaintext can sit inside the session after a tls_read (a record bigger
 * than the caller's buffer): tls_pending() says so, and a level-triggered
 * ev_io on the fd would not, so a reader must drain it before waiting.
 */
#ifndef REMUS_TLS_H
#define REMUS_TLS_H

#include <stddef.h>
#include <sys/types.h>

enum tls_role {
	TLS_CLIENT,		/* the primary */
	TLS_SERVER,		/* the backup */
};

/* tls_handshake() results besides -1. */
enum tls_step {
	TLS_DONE = 0,
	TLS_WANT_READ = 1,	/* wait for the fd to become readable */
	TLS_WANT_WRITE = 2,	/* wait for it to become writable */
};

struct tls_creds;		/* opaque; shared by any number of sessions */
struct tls;			/* opaque; one per connection */

/* PSK credentials from FILE.  ROLE TLS_SERVER: every line is a peer the
 * server accepts.  TLS_CLIENT: the line of IDENTITY (NULL: the first).
 * Keys shorter than 128 bits are refused.  NULL + errno (EINVAL for a bad
 * file, ENOENT for an identity not in it), the reason logged. */
struct tls_creds *tls_creds_psk(const char *file, enum tls_role role,
		    const char *identity);

/* X.509 credentials from DIR (layout above) for ROLE.  NULL + errno, the
 * reason logged (which file, GnuTLS's words). */
struct tls_creds *tls_creds_x509(const char *dir, enum tls_role role);

/* "psk" or "x509", for messages. */
const char	*tls_creds_kind(const struct tls_creds *);
void		 tls_creds_free(struct tls_creds *);	/* NULL ok */

/* A session for a connected pair RFD (read) / WFD (write, may equal RFD),
 * both nonblocking.  PEER names the other end in messages.  HOSTNAME: a
 * client with X.509 credentials checks the server certificate names it
 * (NULL: the CA's signature only); ignored otherwise.  The descriptors
 * stay the caller's.  NULL + errno (logged). */
struct tls	*tls_new(const struct tls_creds *, int rfd, int wfd,
		    const char *peer, const char *hostname);

/* One step of the handshake: TLS_DONE, TLS_WANT_READ, TLS_WANT_WRITE, or
 * -1 with errno = EPROTO (or the socket's errno) after logging
 * "TLS handshake with PEER failed: <reason>".  Call again on readiness. */
int		 tls_handshake(struct tls *);

/* The handshake to its end, polling the fds, for at most TIMEOUT_MS: for
 * the primary, which has nothing else to serve before protection starts.
 * 0, or -1 with errno EPROTO (logged), ETIMEDOUT (logged) or the socket's. */
int		 tls_handshake_wait(struct tls *, unsigned timeout_ms);

/* After TLS_DONE: who the peer is ("psk identity NAME", or the X.509
 * subject DN), for the log. */
const char	*tls_peer_name(const struct tls *);

/* After TLS_DONE: does the peer go by ID (remusd --guest-peer)?  psk: ID
 * is the identity it proved with its key.  x509: ID is its certificate's
 * subject CN (only when the certificate has exactly one), or its whole
 * subject DN as RFC 4514 writes it ("CN=primary-a,O=Example").  Exact,
 * case-sensitive comparison.  1 / 0 (0 before the handshake is done). */
int		 tls_peer_is(const struct tls *, const char *id);

/* After TLS_DONE: the PSK identity or the certificate's CN, as
 * tls_peer_is compares it; "" when there is none (a certificate without
 * one CN). */
const char	*tls_peer_id(const struct tls *);

/* After TLS_DONE: the record cipher ("AES-128-GCM"), for the log and the
 * bench. */
const char	*tls_cipher_name(const struct tls *);

/* Like read(2): bytes read (> 0), 0 at the end of the stream (the peer's
 * close_notify, or the TCP connection closed without one: the replica
 * treats both as the primary's loss), or -1 with errno EAGAIN (nothing
 * yet; wait for readability unless tls_pending()), EBADMSG (a record
 * failed authentication: tampered with, logged), EPROTO (other TLS
 * failure, logged) or the socket's errno.  Only after TLS_DONE. */
ssize_t		 tls_read(struct tls *, void *buf, size_t len);

/* Like write(2): bytes taken (> 0, at most one record's worth), or -1 with
 * errno EAGAIN or the socket's (EPIPE, ECONNRESET) or EPROTO (logged).
 * After EAGAIN call again with the same bytes at the start of BUF (more
 * may follow): the record is already sealed inside the session, and the
 * call that flushes it returns its length. */
ssize_t		 tls_write(struct tls *, const void *buf, size_t len);

/* Plaintext bytes received and decrypted but not yet read. */
size_t		 tls_pending(const struct tls *);

/* Send close_notify (without waiting for the peer's).  0 sent, 1 the
 * socket was full (call again on writability, or give up), -1 + errno. */
int		 tls_bye(struct tls *);

/* Free the session; the descriptors are left open.  NULL ok. */
void		 tls_free(struct tls *);

#endif /* REMUS_TLS_H */
