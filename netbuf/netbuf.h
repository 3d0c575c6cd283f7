/* netbuf/netbuf.h -- hold a guest's network output until the backup holds
 * the epoch that produced it.
 *
 * One struct netbuf protects one host-side guest interface (the veth end of
 * a proc guest, or a Xen vif).  Two drivers sit behind one ops table:
 *
 *   plug     guest -> IFACE --ingress qdisc, matchall (all ethertypes)
 *                              + mirred egress redirect--> IFB "rmsb<ifindex>"
 *                              --> sch_plug at the IFB root --> network
 *   nfqueue  guest -> IFACE --nftables "table inet remus_<iface>" prerouting
 *                              rule: queue num Q (or iptables-nft chains
 *                              remus_<iface> with -j NFQUEUE where the
 *                              kernel lacks nft_queue)--> NFQUEUE Q, held in
 *                              the kernel, metadata copied to remus -->
 *                              released by a batch verdict (IPv4 and IPv6
 *                              only; ARP and other ethertypes pass unheld)
 *
 * docs/netbuf.md describes both drivers, what they create and clean.
 *
 * Epochs (the vocabulary of checkpoint.h's struct ckpt_device_ops):
 *
 *   ... guest runs, output of epoch N accumulates ...
 *   guest paused   netbuf_epoch_start(N)    close epoch N's buffer
 *                                           (plug: TCQ_PLUG_BUFFER;
 *                                           nfqueue: note the last packet id)
 *   guest resumes  ... output of epoch N+1 accumulates behind it ...
 *   ACK(N)         netbuf_epoch_release(N)  release epoch N's output
 *                                           (plug: TCQ_PLUG_RELEASE_ONE;
 *                                           nfqueue: batch verdict ACCEPT
 *                                           up to that id)
 *
 * Several closed epochs may be outstanding (the engine pipelines epochs
 * while ACKs travel); netbuf_epoch_release(N) releases every epoch <= N.
 * nfqueue releases each epoch exactly at its ACK.  sch_plug keeps one
 * closed buffer only (a second BUFFER would overwrite the first one's
 * packet count and release unacknowledged packets), so the plug driver
 * never issues two BUFFERs without a RELEASE_ONE between them: an epoch
 * that closes while another closed one waits is merged into the next
 * buffer and released with the epoch after it -- later, never earlier.
 * Output produced before the first netbuf_epoch_start() belongs to the
 * first epoch.
 *
 * Every function runs in the caller's thread and network namespace (the one
 * holding IFACE) and needs CAP_NET_ADMIN.  Nothing blocks longer than a
 * netlink round trip, except netbuf_new / netbuf_free which may run nft(8).
 */
#ifndef REMUS_NETBUF_H
#define REMUS_NETBUF_H

#include <stdint.h>

enum netbuf_driver {
	NETBUF_DRIVER_AUTO = 0,	/* plug if the kernel has sch_plug, else nfqueue */
	NETBUF_DRIVER_PLUG,
	NETBUF_DRIVER_NFQUEUE,
};

#define NETBUF_LIMIT_DEFAULT	(10u << 20)	/* plug: bytes held at most */
#define NETBUF_QUEUE_LEN_DEFAULT 65536u		/* nfqueue: packets held at most */

struct netbuf_config {
	const char *ifname;		/* host-side guest interface; borrowed */
	enum netbuf_driver driver;
	uint64_t limit_bytes;		/* plug: sch_plug limit; 0 = default */
	uint32_t queue_len;		/* nfqueue: kernel queue length; 0 = default */
	int	queue_num;		/* nfqueue: queue number; -1 = ifindex */
	/* nfqueue: when the queue is full, accept packets unheld
	 * (NFQA_CFG_F_FAIL_OPEN) instead of dropping them.  Off by
	 * default: Remus's promise beats availability; drops are counted. */
	int	fail_open;
	/* --trigger output: netbuf_output_pending will be asked.  plug:
	 * each netbuf_epoch_start then also reads the qdisc's counters (one
	 * more netlink round trip while the guest is paused); nfqueue: no
	 * cost, it counts every packet anyway. */
	int	track_output;
};

struct netbuf_stats {
	enum netbuf_driver driver;
	uint64_t epochs_started;	/* netbuf_epoch_start calls */
	uint64_t epochs_released;	/* netbuf_epoch_release calls */
	uint64_t packets_held;		/* nfqueue: packets queued to remus */
	uint64_t packets_released;	/* nfqueue: packets given ACCEPT */
	uint64_t last_epoch_packets;	/* nfqueue: packets in the last closed epoch */
	uint64_t held_now;		/* packets held right now (plug: qlen) */
	uint64_t backlog_bytes;		/* plug: bytes held right now */
	uint64_t drops;			/* kernel drops (limit, queue full) */
};

struct netbuf;

/* Set up buffering on CFG->ifname: remove stale state a crashed run left on
 * that interface, create the IFB/qdiscs/filter or the nftables table and the
 * queue.  On return, output is held (it belongs to the first epoch).  With
 * NETBUF_DRIVER_AUTO the plug driver is tried first and nfqueue is used when
 * the kernel lacks sch_plug or ifb.  Returns NULL with errno set (logged):
 * EPERM without CAP_NET_ADMIN, ENODEV no such interface, EOPNOTSUPP the
 * kernel lacks a needed feature, EINVAL a bad config.  Caller frees with
 * netbuf_free(). */
struct netbuf	*netbuf_new(const struct netbuf_config *cfg);

/* The fd to watch for readability (nfqueue: the queue's netlink socket,
 * which must be read continuously), or -1 when there is none (plug).  Owned
 * by the netbuf. */
int	netbuf_fd(const struct netbuf *nb);

/* Read what is pending on netbuf_fd() without blocking.  0, or -1 with
 * errno set (logged). */
int	netbuf_on_readable(struct netbuf *nb);

/* The guest is paused at the end of EPOCH: close that epoch's buffer.
 * 0, or -1 with errno set: EINVAL if EPOCH is not above every epoch
 * started before, EIO if the kernel refused. */
int	netbuf_epoch_start(struct netbuf *nb, uint64_t epoch);

/* The backup acknowledged EPOCH: release the output of every epoch up to
 * EPOCH.  A no-op when nothing up to EPOCH waits.  0, or -1 with errno
 * set. */
int	netbuf_epoch_release(struct netbuf *nb, uint64_t epoch);

/* Protection ended: release everything held and stop buffering (later
 * output passes unheld).  0, or -1 with errno set if the kernel refused
 * (logged); the caller cannot do better than tear down, which also
 * releases. */
int	netbuf_release_all(struct netbuf *nb);

/* After netbuf_release_all, a new session is about to send its first
 * epoch EPOCH: hold output again from now, as after netbuf_new (what the
 * interface sends from now on belongs to EPOCH, released only by
 * netbuf_epoch_release(EPOCH) or later; plug: packets still queued from
 * the released time are counted with it, so they may delay EPOCH's last
 * ones, never release any earlier).  Epoch numbers keep growing across
 * sessions: EPOCH must be above every epoch started before.  A no-op
 * while buffering.  0, or -1 with errno set (logged): EINVAL for a
 * lower EPOCH or after netbuf_discard_all, EIO if the kernel refused;
 * output then stays released. */
int	netbuf_reprotect(struct netbuf *nb, uint64_t epoch);

/* The guest failed: drop everything held (it is output of state the
 * backup may not have), and keep dropping everything the interface
 * sends, also after netbuf_free(): a dead proc guest's kernel sockets
 * would otherwise retransmit replies of unacknowledged state (P5 of
 * docs/failover.md).  nfqueue: an explicit drop rule replaces the queue
 * rule; plug: the qdisc stays plugged.  The block is removed by the next
 * netbuf_new() on the interface, by netbuf_cleanup_stale() once the
 * interface is gone, or by netbuf_cleanup_if().  0, or -1 with errno set
 * (logged); even then nothing held is released. */
int	netbuf_discard_all(struct netbuf *nb);

/* Does the open epoch (output since the last netbuf_epoch_start, or
 * setup or netbuf_reprotect) hold any output?  1 yes, 0 no (also when
 * not buffering), -1 with errno set: EOPNOTSUPP without
 * cfg.track_output on plug, EIO on a netlink error.  nfqueue: reads what
 * is pending on the queue socket first (a bounded read), then counts;
 * plug: one RTM_GETQDISC dump of the IFB's qdisc counters (see
 * docs/netbuf.md, "Output-triggered epochs"). */
int	netbuf_output_pending(struct netbuf *nb);

/* Fill *ST (kernel counters are read now).  0, or -1 with errno set. */
int	netbuf_get_stats(struct netbuf *nb, struct netbuf_stats *st);

/* Release everything, remove what netbuf_new created, free NB.  NULL ok. */
void	netbuf_free(struct netbuf *nb);

/* Driver name ("auto", "plug", "nfqueue") and its parser (0, or -1 with
 * errno = EINVAL). */
const char *netbuf_driver_name(enum netbuf_driver d);
int	netbuf_driver_parse(const char *s, enum netbuf_driver *out);

/* 1 if this kernel has sch_plug and ifb (probed with a scratch IFB in the
 * current namespace), 0 if not, -1 with errno set (e.g. EPERM). */
int	netbuf_plug_available(void);

/* Remove every IFB named rmsb<ifindex> whose interface no longer exists and
 * every nftables table remus_<ifname> whose interface no longer exists in
 * the current namespace (state left by a crashed run).  Returns the number
 * of objects removed, or -1 with errno set. */
int	netbuf_cleanup_stale(void);

/* Remove what a run left on IFNAME, whether or not the interface still
 * exists: the block a discarded guest left (see netbuf_discard_all), or a
 * crashed run's state.  Only when no remus runs on IFNAME.  The number of
 * objects removed, or -1 with errno set. */
int	netbuf_cleanup_if(const char *ifname);

#endif /* REMUS_NETBUF_H */
