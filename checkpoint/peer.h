/* checkpoint/peer.h -- the replication link, one object used by both ends.
 *
 * A peer is everything about talking to the other end that is not epoch
 * logic: the two descriptors, their ev_io watchers, the input buffer and
 * the pure stream reader (FORWARD on the backup, which also parses the
 * stream header; BACK on the primary), the output queue (a stream_writer:
 * the primary's engine encodes epochs straight into it), heartbeats every
 * H while nothing else went out, silence detection after T, a final
 * blocking flush with a deadline, and an abortive close.  Every read and
 * write goes through a small io ops table (plain descriptors today), so
 * another transport (TLS) is one more table, not a change here.
 *
 * Life cycle:
 *
 *   peer_new(fds)  -- descriptors taken over
 *     -> peer_start: reader + silence timer + heartbeats run
 *        record()/header() for each input record, written() as the
 *        queue drains
 *     -> one of:
 *        lost(kind, why)  once: silence for T, EOF, reset, write error,
 *                         protocol error, or an ERROR record; watchers
 *                         are stopped before it is called
 *        peer_close()     orderly: after peer_flush_blocking (END, ERROR)
 *        peer_abort()     SO_LINGER {1, 0} then close: the other end
 *                         gets a reset, and no byte still queued in our
 *                         kernel reaches it later (docs/failover.md P2)
 *     -> peer_free
 *
 * last_rx is conservative (docs/failover.md, "Stalls"): bytes that a read
 * delivers count as heard at the time the input was last found empty (a
 * read that began then got EAGAIN, or a short read of a plain socket):
 * they arrived after it.  A process that was stopped, or stuck in a long
 * callback, therefore never believes it heard its peer later than it can
 * prove, and a busy one that keeps finding bytes waiting does not either.
 * Silence is declared only after T of listening: a long callback of our
 * own (a big commit) restarts the count, and the input is read once more
 * first.
 *
 * Callbacks may call any peer function except peer_free.
 */
#ifndef REMUS_PEER_H
#define REMUS_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stream.h"

struct ev_loop;
struct peer;
struct ratelimit;

/* Why the link is gone. */
enum peer_loss {
	PEER_LOST_SILENCE,	/* nothing heard for T */
	PEER_LOST_EOF,		/* orderly close by the other end */
	PEER_LOST_RESET,	/* read error (ECONNRESET, ...) */
	PEER_LOST_WRITE,	/* write error (EPIPE, ...) */
	PEER_LOST_PROTOCOL,	/* the reader rejected the input */
	PEER_LOST_ERROR,	/* the other end sent ERROR (back channel) */
};

/* How bytes move: read(2)/write(2) semantics (-1 + errno, EAGAIN).
 * After EAGAIN, write is called again with the same bytes first (TLS
 * has sealed them into a record already).  The optional ones: pending,
 * bytes the layer holds that the fd would not show readable (TLS
 * plaintext already decrypted); bye, a goodbye on an orderly close
 * (TLS close_notify), best effort. */
struct peer_io_ops {
	const char *name;
	ssize_t	(*read)(void *ctx, int fd, void *buf, size_t len);
	ssize_t	(*write)(void *ctx, int fd, const void *buf, size_t len);
	size_t	(*pending)(void *ctx);
	void	(*bye)(void *ctx);
};

extern const struct peer_io_ops peer_io_plain;
extern const struct peer_io_ops peer_io_tls;	/* peer-tls.c; ctx: struct tls */

struct peer_callbacks {
	/* FORWARD only: the stream header.  0 goes on, -1 stops reading
	 * (the owner ended or lost the session). */
	int	(*header)(struct peer *, const struct stream_header_info *,
		    void *arg);
	/* One record, validated by the reader (pointers borrow the input
	 * buffer until the callback returns).  0 / -1 as header. */
	int	(*record)(struct peer *, const struct stream_rec *, void *arg);
	/* Queued bytes left through the write watcher (peer_written grew).
	 * Not called from peer_flush: its caller knows. */
	void	(*written)(struct peer *, void *arg);
	/* The link is gone.  Called once, never from peer_close/abort.
	 * WHY: strerror() text for RESET and WRITE, the reader's error
	 * for PROTOCOL ("stream error at offset N: ..."), "reported
	 * error CODE: REASON" for ERROR. */
	void	(*lost)(struct peer *, enum peer_loss, const char *why,
		    void *arg);
};

struct peer_config {
	enum stream_dir	 rdir;		/* what we read: FORWARD on the backup */
	uint32_t	 timeout_ms;	/* T; 0: no silence detection */
	uint32_t	 hb_ms;		/* H; 0: no heartbeats */
	uint32_t	 page_size;	/* the writer's (primary: the guest's) */
	uint64_t	 nr_pages;	/* back channel: the guest's, for the
					 * reader's PAGE_HASHES checks (0: none) */
	size_t		 in_max;	/* input buffer limit (0: 64 KiB) */
	int		 blackhole;	/* WFD never blocks and cannot be polled
					 * (/dev/null), RFD is -1: write
					 * synchronously, read nothing */
	const struct peer_io_ops *io;	/* NULL: peer_io_plain */
	void		*io_ctx;
	struct ratelimit *rl;		/* --bandwidth: a token bucket for
					 * what we write (ratelimit.h, may be
					 * shared); NULL: none */
	const char	*desc;		/* for messages ("192.0.2.1:5270") */
};

/* A link over RFD (input) and WFD (output; may equal RFD), taken over:
 * peer_close/abort/free close them.  Both are made nonblocking (but a
 * blackhole's WFD).  NULL + errno. */
struct peer	*peer_new(struct ev_loop *, int rfd, int wfd,
		    const struct peer_config *, const struct peer_callbacks *,
		    void *arg);
/* Start reading, the silence timer and heartbeats. */
int	peer_start(struct peer *);
/* Change T and H (after the handshake agreed them); restarts the count. */
void	peer_set_timing(struct peer *, uint32_t timeout_ms, uint32_t hb_ms);

/* The output queue: append records, then peer_flush(). */
struct stream_writer *peer_writer(struct peer *);
/* Write what the descriptor takes now; the rest goes from the write
 * watcher.  0, or -1 when the link is (or was already) gone: lost() has
 * been called for a new loss. */
int	peer_flush(struct peer *);
/* Write the first N unsent bytes, blocking, then nothing else (fault
 * injection: a torn stream).  0 / -1. */
int	peer_flush_prefix(struct peer *, size_t n);
/* Write everything queued, blocking up to DEADLINE_MS: last words (END,
 * ERROR, the final ACK) before a close.  0 if all went out. */
int	peer_flush_blocking(struct peer *, uint32_t deadline_ms);
/* A heartbeat now: always (FORCE) or only if nothing went out for H.
 * Never inside an epoch, nor behind unsent bytes (they prove life as
 * well).  0 / -1 (link lost). */
int	peer_heartbeat(struct peer *, int force);
/* Read what is there now (a long callback may have delayed the reader).
 * 1 if bytes arrived, 0 if none, -1 if the link is gone. */
int	peer_poll_input(struct peer *);
/* Hold the input: no record() after the current one (call it from
 * there) until peer_resume; what was read stays buffered, nothing more
 * is read, and silence is not watched (we are not listening).  Writes,
 * heartbeats included, go on; a write error meanwhile is told by
 * peer_resume, after the buffered records, as one inside a record()
 * is told after it.  peer_resume hands over the buffered records
 * (record() may pause again), reads on, and counts silence from then.
 * Not from inside a callback of this peer.  0, or -1 if the link is
 * gone (lost() was called). */
void	peer_pause(struct peer *);
int	peer_resume(struct peer *);

/* Stream bytes ever made sendable / ever written. */
uint64_t	peer_queued(const struct peer *);
uint64_t	peer_written(const struct peer *);
/* Bytes ever read from the other end (whole records or not). */
uint64_t	peer_received(const struct peer *);
/* Bytes queued but not yet written. */
size_t		peer_backlog(const struct peer *);
/* Conservative time (monotonic ms) the other end was last heard; the
 * start time until then. */
uint64_t	peer_last_rx(const struct peer *);
const struct stream_reader *peer_reader(const struct peer *);
const char	*peer_desc(const struct peer *);
const char	*peer_loss_str(enum peer_loss);
int		 peer_is_open(const struct peer *);

/* Stop the watchers and close the descriptors, in order (what is queued
 * and unsent is dropped: flush first).  Idempotent. */
void	peer_close(struct peer *);
/* Close abortively: SO_LINGER {1, 0} then close, so the other end sees a
 * reset and nothing queued is delivered later.  Idempotent. */
void	peer_abort(struct peer *);
void	peer_free(struct peer *);		/* closes; NULL ok */

/* Monotonic milliseconds (the clock of last_rx). */
uint64_t	peer_now_ms(void);

#endif /* REMUS_PEER_H */
