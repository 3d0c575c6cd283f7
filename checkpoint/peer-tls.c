/* checkpoint/peer-tls.c -- the link's io ops over a TLS session (tls.h):
 * the peer reads and writes plaintext, the session does the records.
 * The session is the caller's: made and handshaken before the peer
 * exists, freed after it (the peer closes the descriptors). */
#include <errno.h>
#include <sys/types.h>

#include "compiler.h"
#include "peer.h"
#include "tls.h"

static ssize_t
tls_io_read(void *ctx, int fd __unused, void *buf, size_t len)
{
	return tls_read(ctx, buf, len);
}

static ssize_t
tls_io_write(void *ctx, int fd __unused, const void *buf, size_t len)
{
	return tls_write(ctx, buf, len);
}

static size_t
tls_io_pending(void *ctx)
{
	return tls_pending(ctx);
}

static void
tls_io_bye(void *ctx)
{
	int err = errno;

	/* One try: the socket is about to close either way, and the other
	 * end takes a TCP close without close_notify as the end too. */
	(void)tls_bye(ctx);
	errno = err;
}

const struct peer_io_ops peer_io_tls = {
	.name = "tls",
	.read = tls_io_read,
	.write = tls_io_write,
	.pending = tls_io_pending,
	.bye = tls_io_bye,
};
