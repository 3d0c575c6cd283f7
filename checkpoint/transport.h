/* checkpoint/transport.h -- the channel between primary and backup.
 *
 * A transport is a pair of file descriptors: WFD carries the stream
 * (primary -> backup), RFD the back channel (READY, ACK, BC_HEARTBEAT,
 * ERROR).  They may be the same socket.  The engine owns the I/O on them
 * (ev_io, nonblocking); a transport only opens and closes them:
 *
 *   tcp        host[:port], [v6addr]:port -- own TCP, TCP_NODELAY, big
 *              socket buffers (default port TRANSPORT_DEFAULT_PORT)
 *   cmd        "exec CMD HOST remusd --receive" via /bin/sh -c, stdin and
 *              stdout of the command are one end of a socketpair (xl's -s);
 *              CMD "" runs HOST itself as the command
 *   blackhole  WFD is /dev/null, no back channel: the engine writes
 *              synchronously and acknowledges each epoch itself (-b)
 *   fd         two descriptors handed in (tests, remusd --receive)
 *
 * Every descriptor is O_CLOEXEC and, except for the blackhole, nonblocking.
 */
#ifndef REMUS_TRANSPORT_H
#define REMUS_TRANSPORT_H

#include <sys/types.h>

#define TRANSPORT_DEFAULT_PORT	5270
#define TRANSPORT_DEFAULT_PORT_STR "5270"
#define TRANSPORT_DESC_MAX	256

struct transport_ops;
struct peer_io_ops;

struct transport {
	const struct transport_ops *ops;
	int		rfd;		/* back channel; -1: none (blackhole) */
	int		wfd;		/* stream */
	int		blackhole;	/* write synchronously, ack locally */
	pid_t		pid;		/* cmd: the child, else -1 */
	/* How the link moves bytes over the fds: NULL for plain, or
	 * &peer_io_tls with its session (set by the caller after a
	 * handshake; the session stays the caller's). */
	const struct peer_io_ops *io;
	void		*io_ctx;
	char		desc[TRANSPORT_DESC_MAX];	/* for messages */
};

struct transport_ops {
	const char	*name;
	/* Open the channel named by ARG (meaning per transport; CMD is the
	 * cmd transport's command, ignored by others).  Blocks at most
	 * about TIMEOUT_MS for a connect.  0, or -1 with errno set and
	 * the reason logged (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT, ...). */
	int	(*open)(struct transport *, const char *arg, const char *cmd,
		    unsigned timeout_ms);
	/* Close the descriptors (and reap a child).  Safe after a failed
	 * or no open. */
	void	(*close)(struct transport *);
};

extern const struct transport_ops transport_tcp_ops;
extern const struct transport_ops transport_cmd_ops;
extern const struct transport_ops transport_blackhole_ops;

/* Initialise T (fds -1) and open it with OPS.  0 / -1 + errno. */
int	transport_open(struct transport *t, const struct transport_ops *ops,
	    const char *arg, const char *cmd, unsigned timeout_ms);
/* Wrap two existing descriptors (taken over: closed by transport_close). */
void	transport_from_fds(struct transport *t, int rfd, int wfd,
	    const char *desc);
void	transport_close(struct transport *t);	/* NULL and closed ok */

/* Split "host", "host:port", "[v6]:port" or a bare IPv6 address into
 * HOST (NUL-terminated, HOSTLEN bytes) and PORT ("5270" if none).
 * HOST may be empty (":port").  The port must be a number in 1..65535.
 * 0, or -1 with errno = EINVAL. */
int	transport_parse_addr(const char *spec, char *host, size_t hostlen,
	    char *port, size_t portlen);

/* Backup side: a listening TCP socket for "ADDR[:PORT]" (ADDR "" or "*"
 * means every address).  Returns the fd (nonblocking, CLOEXEC), or -1
 * with errno set (logged). */
int	transport_tcp_listen(const char *spec);

/* Tune an accepted or connected TCP socket (TCP_NODELAY, buffers,
 * nonblocking).  Errors are logged and ignored but O_NONBLOCK's. */
int	transport_tcp_tune(int fd);

#endif /* REMUS_TRANSPORT_H */
