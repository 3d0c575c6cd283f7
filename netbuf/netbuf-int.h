/* netbuf/netbuf-int.h -- the driver ops table behind struct netbuf.
 * Private to netbuf/. */
#ifndef REMUS_NETBUF_INT_H
#define REMUS_NETBUF_INT_H

#include <net/if.h>
#include <stdint.h>

#include "netbuf.h"

struct netbuf;

/* Every hook returns 0, or -1 with errno set and the error logged.  netbuf.c
 * checks the epoch discipline before calling buffer/release, so drivers may
 * assume: buffer() gets growing epoch numbers; release(E) comes only when
 * some started epoch <= E is unreleased, and releases every epoch <= E
 * (the engine may pipeline: several epochs closed before the first ACK). */
struct netbuf_driver_ops {
	const char *name;
	int	(*setup)(struct netbuf *nb);
	int	(*on_readable)(struct netbuf *nb);
	int	(*buffer)(struct netbuf *nb, uint64_t epoch);
	int	(*release)(struct netbuf *nb, uint64_t epoch);
	int	(*release_all)(struct netbuf *nb);
	/* Buffer again after release_all (netbuf_reprotect).  On failure
	 * the driver is left released (passing everything). */
	int	(*reprotect)(struct netbuf *nb);
	int	(*discard_all)(struct netbuf *nb);
	int	(*stats)(struct netbuf *nb, struct netbuf_stats *st);
	/* netbuf_output_pending: 1 if output reached the buffer since the
	 * last buffer() (or setup, reprotect), 0 if not; only while
	 * buffering.  Must be cheap: the engine may ask every millisecond. */
	int	(*output_pending)(struct netbuf *nb);
	/* Runs even after a failed setup: frees what exists, NULLs it. */
	void	(*teardown)(struct netbuf *nb);
};

extern const struct netbuf_driver_ops netbuf_plug_ops;
extern const struct netbuf_driver_ops netbuf_nfqueue_ops;

struct netbuf {
	const struct netbuf_driver_ops *ops;
	struct netbuf_config cfg;	/* cfg.ifname points at ifname[] */
	char	ifname[IF_NAMESIZE];
	int	ifindex;
	int	fd;			/* -1 unless the driver has one */

	/* Epochs closed (started) and released so far: started > released
	 * means output is waiting for an ACK.  Epoch numbers only grow. */
	uint64_t last_started;
	uint64_t last_released;
	int	released_all;		/* buffering stopped (until a
					 * netbuf_reprotect) */
	/* discard_all ran: the guest failed here, and its output stays
	 * blocked (dropped) after netbuf_free, until the next run on the
	 * interface or netbuf_cleanup_if() removes the block (P5). */
	int	discarded;

	struct netbuf_stats st;		/* counters kept by netbuf.c + driver */
	void	*drv;			/* driver state */
};

/* Run ARGV (argv[0] a program looked up in PATH) with INPUT on stdin
 * (may be NULL), stdout/stderr captured into OUT (NUL-terminated, may be
 * truncated; may be NULL).  Returns the exit status (0..255), or -1 with
 * errno set if it could not run. */
int	netbuf_run(char *const argv[], const char *input, char *out, size_t outlen);

/* Valid interface name for use in object names and nft(8) input. */
int	netbuf_ifname_ok(const char *s);

/* Plug driver: remove rmsb<ifindex> IFBs whose interface is gone.  Count
 * removed, or -1 with errno set. */
int	netbuf_plug_cleanup_stale(void);

/* nfqueue driver: remove remus_<ifname> nftables tables and xtables chains
 * whose interface is gone.  Count removed (never fails). */
int	netbuf_nfqueue_cleanup_stale(void);

/* What a run left on IFNAME, which may still exist (a discarded guest's
 * block): plug: rmsb<ifindex> and the ingress qdisc; nfqueue: the
 * remus_<ifname> table or chains.  Count removed, or -1 with errno set. */
int	netbuf_plug_cleanup_if(const char *ifname);
int	netbuf_nfqueue_cleanup_if(const char *ifname);

#endif /* REMUS_NETBUF_INT_H */
