/* netbuf/netbuf-nfqueue.c -- the NFQUEUE driver, for kernels without
 * sch_plug (the development machine's, many distribution kernels).
 *
 *   guest --> IFACE (host side) --> prerouting, priority -300 (before
 *   conntrack), in the namespace that holds IFACE:
 *
 *     table inet remus_<IFACE> {
 *       chain hold {
 *         type filter hook prerouting priority -300; policy accept;
 *         iifname "<IFACE>" queue num <Q>
 *       }
 *     }
 *
 *   The kernel keeps each packet on queue Q and sends remus its metadata
 *   only (NFQNL_COPY_META); remus notes the packet ids:
 *
 *       ids ... r | r+1 ... b | b+1 ... last
 *               ^ released    ^ boundary of the closed epoch (noted while
 *                               the guest was paused)
 *
 *   ACK of the closed epoch: one batch verdict NF_ACCEPT with id b releases
 *   every queued packet with id <= b, in order.  Packet ids grow by one per
 *   queued packet, so "id <= b" is exactly "queued before the pause".  A
 *   packet still in a softirq backlog at the pause is queued later and
 *   lands in the next epoch: held longer, never shorter.
 *
 * Only the inet family passes through these hooks: IPv4 and IPv6 (NDP
 * included) are held, ARP is not (it never reaches a netfilter inet hook;
 * use the plug driver where ARP must be held).  A guest interface on a
 * bridge (a bridged Xen vif) is seen by the inet hooks only with
 * br_netfilter; route the guest (as remus-netns-run does) or use plug.
 *
 * Queue full (cfg.queue_len packets) or the socket overrun: the kernel drops
 * the packet (fail-closed, counted in /proc/net/netfilter/nfnetlink_queue)
 * unless cfg.fail_open, where it is accepted unheld (NFQA_CFG_F_FAIL_OPEN;
 * libnl has no setter for it, so the attribute is added by hand).  If remus
 * dies, the kernel drops what was queued and every later packet (no
 * listener on Q): a dead primary sends nothing unprotected.
 *
 * Kernels built without nft_queue (the development machine's) get the same
 * rule through iptables-nft's xt NFQUEUE target instead: a chain
 * remus_<IFACE> in the raw tables of IPv4 and IPv6, jumped to from
 * PREROUTING (also priority -300).
 *
 * The nftables table is set up through nft(8): libnftables offers only the
 * same text interface with an extra build dependency, and libnftnl would
 * mean hand-building expressions for three objects created once per run.
 */
#define LOG_PREFIX "netbuf: "

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netfilter/queue.h>
#include <netlink/netfilter/queue_msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "log.h"
#include "netbuf-int.h"

#define NFQ_RCVBUF	(16 << 20)	/* absorbs bursts between reads */
#define NFQ_RECVBUF	(64 << 10)
#define NFQ_CLOSED_MAX	64		/* epochs in flight before merging */

struct nfq {
	struct nl_sock	*sock;
	int		bound;
	int		table_created;
	const char	*backend;	/* "nft" or "xt" */
	char		table[IF_NAMESIZE + 8];

	int		have_id;
	uint32_t	last_id;	/* newest packet id read */
	uint64_t	open_pkts;	/* read since the last boundary */
	/* Closed, unreleased epochs, oldest first: the last packet id of
	 * each.  Full: the newest entry absorbs the next epoch (released
	 * with it: later, safe). */
	struct {
		uint64_t epoch;
		uint32_t id;
		uint64_t pkts;
	}		closed[NFQ_CLOSED_MAX];
	unsigned int	nclosed;
	uint64_t	closed_pkts;	/* sum of closed[].pkts */
	uint64_t	pass_pkts;	/* read but not yet accepted (pass) */
	int		pass;		/* released for good: accept all */
	int		discard;	/* discarded for good: drop all */
	uint64_t	overruns;	/* ENOBUFS on the socket */
	uint8_t		*buf;
};

static int
run_tool(struct netbuf *nb, char *const argv[], const char *input, int quiet)
{
	char out[1024];
	int rc;

	rc = netbuf_run(argv, input, out, sizeof out);
	if (rc == -1) {
		if (!quiet)
			log_warn("%s: cannot run %s", nb->ifname, argv[0]);
		return -1;
	}
	if (rc != 0) {
		size_t n = strlen(out);

		while (n > 0 && out[n - 1] == '\n')
			out[--n] = '\0';
		if (!quiet)
			log_warnx("%s: %s failed (status %d): %s", nb->ifname,
			    argv[0], rc, out);
		errno = strstr(out, "not permitted") ? EPERM :
		    strstr(out, "No such file") || strstr(out, "not supported") ?
		    EOPNOTSUPP : EIO;
		return -1;
	}
	return 0;
}

static int
nft_apply(struct netbuf *nb, const char *script, int quiet)
{
	char *argv[] = { "nft", "-f", "-", NULL };

	return run_tool(nb, argv, script, quiet);
}

/* Native nftables: one table, removed in one command. */
static int
nft_table_add(struct netbuf *nb, int quiet)
{
	struct nfq *q = nb->drv;
	char script[512];

	/* "table" then "delete table" makes the removal of a stale table
	 * (crashed run) unconditional; the whole file is one transaction. */
	snprintf(script, sizeof script,
	    "table inet %s\n"
	    "delete table inet %s\n"
	    "table inet %s {\n"
	    "  chain hold {\n"
	    "    type filter hook prerouting priority -300; policy accept;\n"
	    "    iifname \"%s\" queue num %d\n"
	    "  }\n"
	    "}\n", q->table, q->table, q->table, nb->ifname, nb->cfg.queue_num);
	return nft_apply(nb, script, quiet);
}

/* The same rule through iptables-nft's xt NFQUEUE target, for kernels
 * built without nft_queue (the development machine's): a chain
 * remus_<ifname> in the raw table of IPv4 and IPv6, jumped to from
 * PREROUTING.  iptables-restore --noflush applies each family atomically. */
static const char *const xt_tools[2] = { "iptables-nft-restore",
    "ip6tables-nft-restore" };

static int
xt_apply(struct netbuf *nb, int add, int quiet)
{
	struct nfq *q = nb->drv;
	char script[512];
	int i, rc = 0;

	for (i = 0; i < 2; i++) {
		char *argv[] = { (char *)xt_tools[i], "--noflush", NULL };

		/* Remove first (a stale chain from a crashed run, or ours);
		 * a missing chain makes this transaction fail harmlessly. */
		snprintf(script, sizeof script,
		    "*raw\n"
		    "-D PREROUTING -i %s -j %s\n"
		    "-F %s\n"
		    "-X %s\n"
		    "COMMIT\n", nb->ifname, q->table, q->table, q->table);
		(void)run_tool(nb, argv, script, 1);
		if (!add)
			continue;
		snprintf(script, sizeof script,
		    "*raw\n"
		    ":%s - [0:0]\n"
		    "-A %s -i %s -j NFQUEUE --queue-num %d\n"
		    "-I PREROUTING -i %s -j %s\n"
		    "COMMIT\n", q->table, q->table, nb->ifname,
		    nb->cfg.queue_num, nb->ifname, q->table);
		if (run_tool(nb, argv, script, quiet) == -1) {
			rc = -1;
			break;
		}
	}
	if (rc == -1 && add) {
		int saved_errno = errno;

		(void)xt_apply(nb, 0, 1);
		errno = saved_errno;
	}
	return rc;
}

static int
rules_add(struct netbuf *nb)
{
	struct nfq *q = nb->drv;

	if (nft_table_add(nb, 1) == 0) {
		q->backend = "nft";
		return 0;
	}
	if (errno == EPERM) {
		log_warnx("%s: nft: needs CAP_NET_ADMIN", nb->ifname);
		return -1;
	}
	/* No nft, or a kernel without nft_queue: try xtables. */
	if (xt_apply(nb, 1, 0) == 0) {
		q->backend = "xt";
		return 0;
	}
	log_warnx("%s: cannot add the NFQUEUE rule with nft or "
	    "iptables-nft (kernel without nft_queue and xt_NFQUEUE?)",
	    nb->ifname);
	return -1;
}

/* Stop queueing but keep the hooks registered: unregistering a netfilter
 * hook makes the kernel drop every packet queued in the namespace
 * (nf_queue_nf_hook_drop), so the table is deleted only once the queue is
 * empty. */
static int
rules_stop(struct netbuf *nb)
{
	struct nfq *q = nb->drv;
	char script[256];
	int i, rc = 0;

	if (q->backend != NULL && strcmp(q->backend, "xt") == 0) {
		for (i = 0; i < 2; i++) {
			char *argv[] = { (char *)xt_tools[i], "--noflush", NULL };

			snprintf(script, sizeof script, "*raw\n-F %s\nCOMMIT\n",
			    q->table);
			if (run_tool(nb, argv, script, 0) == -1)
				rc = -1;
		}
		return rc;
	}
	snprintf(script, sizeof script, "flush chain inet %s hold\n", q->table);
	return nft_apply(nb, script, 0);
}

/* Queue again after rules_stop: the chain and its hook are still there
 * (nft: the table's chain "hold"; xt: the remus_<ifname> chains). */
static int
rules_resume(struct netbuf *nb)
{
	struct nfq *q = nb->drv;
	char script[256];
	int i;

	if (q->backend != NULL && strcmp(q->backend, "xt") == 0) {
		for (i = 0; i < 2; i++) {
			char *argv[] = { (char *)xt_tools[i], "--noflush", NULL };

			snprintf(script, sizeof script,
			    "*raw\n-F %s\n-A %s -i %s -j NFQUEUE "
			    "--queue-num %d\nCOMMIT\n", q->table, q->table,
			    nb->ifname, nb->cfg.queue_num);
			if (run_tool(nb, argv, script, 0) == -1) {
				/* IPv4 may be queued, IPv6 not: stop both. */
				int saved_errno = errno;

				(void)rules_stop(nb);
				errno = saved_errno;
				return -1;
			}
		}
		return 0;
	}
	snprintf(script, sizeof script,
	    "flush chain inet %s hold\n"
	    "add rule inet %s hold iifname \"%s\" queue num %d\n",
	    q->table, q->table, nb->ifname, nb->cfg.queue_num);
	return nft_apply(nb, script, 0);
}

/* Replace the queue rule with an explicit drop of everything the
 * interface sends, in one transaction (never a moment without either).
 * The chain and its hook stay registered. */
static int
rules_block(struct netbuf *nb)
{
	struct nfq *q = nb->drv;
	char script[256];
	int i, rc = 0;

	if (q->backend != NULL && strcmp(q->backend, "xt") == 0) {
		for (i = 0; i < 2; i++) {
			char *argv[] = { (char *)xt_tools[i], "--noflush", NULL };

			snprintf(script, sizeof script,
			    "*raw\n-F %s\n-A %s -i %s -j DROP\nCOMMIT\n",
			    q->table, q->table, nb->ifname);
			if (run_tool(nb, argv, script, 0) == -1)
				rc = -1;
		}
		return rc;
	}
	snprintf(script, sizeof script,
	    "flush chain inet %s hold\n"
	    "add rule inet %s hold iifname \"%s\" drop\n",
	    q->table, q->table, nb->ifname);
	return nft_apply(nb, script, 0);
}

static int
rules_del(struct netbuf *nb)
{
	struct nfq *q = nb->drv;
	char script[128];

	if (q->backend != NULL && strcmp(q->backend, "xt") == 0)
		return xt_apply(nb, 0, 0);
	snprintf(script, sizeof script, "delete table inet %s\n", q->table);
	return nft_apply(nb, script, 0);
}

/* NFQA_CFG_FLAGS / NFQA_CFG_MASK: not covered by libnl's queue object. */
static int
set_queue_flags(struct netbuf *nb, uint32_t flags, uint32_t mask)
{
	struct nfq *q = nb->drv;
	struct nl_msg *msg;
	int err;

	msg = nfnlmsg_alloc_simple(NFNL_SUBSYS_QUEUE, NFQNL_MSG_CONFIG, 0,
	    AF_UNSPEC, (uint16_t)nb->cfg.queue_num);
	if (msg == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (nla_put_u32(msg, NFQA_CFG_FLAGS, htonl(flags)) < 0 ||
	    nla_put_u32(msg, NFQA_CFG_MASK, htonl(mask)) < 0) {
		nlmsg_free(msg);
		errno = ENOMEM;
		return -1;
	}
	err = nl_send_sync(q->sock, msg);	/* frees msg */
	if (err < 0) {
		log_warnx("%s: queue %d flags: %s", nb->ifname,
		    nb->cfg.queue_num, nl_geterror(err));
		errno = EIO;
		return -1;
	}
	return 0;
}

static int
send_verdict_v(struct netbuf *nb, uint32_t id, unsigned int verdict)
{
	struct nfq *q = nb->drv;
	struct nfnl_queue_msg *m;
	int err;

	m = nfnl_queue_msg_alloc();
	if (m == NULL) {
		errno = ENOMEM;
		return -1;
	}
	nfnl_queue_msg_set_group(m, (uint16_t)nb->cfg.queue_num);
	nfnl_queue_msg_set_family(m, AF_UNSPEC);
	nfnl_queue_msg_set_packetid(m, id);
	nfnl_queue_msg_set_verdict(m, verdict);
	err = nfnl_queue_msg_send_verdict_batch(q->sock, m);
	nfnl_queue_msg_put(m);
	if (err < 0) {
		log_warnx("%s: batch verdict up to id %u: %s", nb->ifname, id,
		    nl_geterror(err));
		errno = EIO;
		return -1;
	}
	return 0;
}

static int
send_verdict(struct netbuf *nb, uint32_t id)
{
	return send_verdict_v(nb, id, NF_ACCEPT);
}

/* One NFQNL_MSG_PACKET: note its id. */
static void
note_packet(struct netbuf *nb, struct nlmsghdr *nlh)
{
	struct nfq *q = nb->drv;
	struct nlattr *tb[NFQA_MAX + 1];
	struct nfqnl_msg_packet_hdr *ph;

	if (nlmsg_parse(nlh, sizeof(struct nfgenmsg), tb, NFQA_MAX, NULL) < 0)
		return;
	if (tb[NFQA_PACKET_HDR] == NULL ||
	    nla_len(tb[NFQA_PACKET_HDR]) < (int)sizeof *ph)
		return;
	ph = nla_data(tb[NFQA_PACKET_HDR]);
	q->last_id = ntohl(ph->packet_id);
	q->have_id = 1;
	nb->st.packets_held++;
	if (q->pass)
		q->pass_pkts++;
	else
		q->open_pkts++;
}

/* Read the messages pending on the socket without blocking: all of them
 * (MAX_READS 0: the guest is paused, the stream is finite), or at most
 * MAX_READS socket reads, so that a flood cannot starve the engine's loop
 * (the fd stays readable and the loop calls again). */
static int
drain(struct netbuf *nb, unsigned int max_reads)
{
	struct nfq *q = nb->drv;
	int fd = nl_socket_get_fd(q->sock);
	unsigned int reads = 0;

	for (;;) {
		struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		if (max_reads && reads++ == max_reads)
			return 0;
		n = recv(fd, q->buf, NFQ_RECVBUF, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS) {
				/* The kernel dropped (or, fail-open, passed)
				 * packets it could not report. */
				q->overruns++;
				log_warnx_once("%s: queue socket overrun: "
				    "packets dropped", nb->ifname);
				continue;
			}
			log_warn("%s: queue recv", nb->ifname);
			return -1;
		}
		len = (int)n;
		for (nlh = (struct nlmsghdr *)q->buf; nlmsg_ok(nlh, len);
		    nlh = nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = nlmsg_data(nlh);

				if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof *e) &&
				    e->error != 0)
					log_warnx("%s: queue: kernel error %d",
					    nb->ifname, -e->error);
				continue;
			}
			if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_QUEUE ||
			    NFNL_MSG_TYPE(nlh->nlmsg_type) != NFQNL_MSG_PACKET)
				continue;
			note_packet(nb, nlh);
		}
	}
}

/* Read (see drain) and, once released for good, accept what was read. */
static int
read_and_pass(struct netbuf *nb, unsigned int max_reads)
{
	struct nfq *q = nb->drv;

	if (drain(nb, max_reads) == -1)
		return -1;
	if (q->pass && q->pass_pkts > 0) {
		if (send_verdict(nb, q->last_id) == -1)
			return -1;
		nb->st.packets_released += q->pass_pkts;
		q->pass_pkts = 0;
	}
	if (q->discard && q->open_pkts > 0) {
		if (send_verdict_v(nb, q->last_id, NF_DROP) == -1)
			return -1;
		q->open_pkts = 0;
	}
	return 0;
}

static int
nfq_on_readable(struct netbuf *nb)
{
	return read_and_pass(nb, 64);
}

static void
nfq_teardown(struct netbuf *nb)
{
	struct nfq *q = nb->drv;

	if (q == NULL)
		return;
	if (q->bound && q->sock != NULL && !nb->discarded) {
		/* Anything still queued is accepted now: deleting the rules
		 * or unbinding would make the kernel drop it. */
		if (q->table_created)
			(void)rules_stop(nb);
		if (read_and_pass(nb, 0) == 0 && q->open_pkts + q->closed_pkts > 0)
			(void)send_verdict(nb, q->last_id);
	}
	/* A discarded guest's rules stay (the drop rule, or, if it could not
	 * be set, the queue rule, which drops once nobody listens on Q);
	 * unbinding below drops whatever is still queued. */
	if (q->table_created && !nb->discarded) {
		(void)rules_del(nb);
		q->table_created = 0;
	}
	if (q->bound && q->sock != NULL) {
		struct nfnl_queue *qq = nfnl_queue_alloc();

		if (qq != NULL) {
			nfnl_queue_set_group(qq, (uint16_t)nb->cfg.queue_num);
			(void)nfnl_queue_delete(q->sock, qq);
			nfnl_queue_put(qq);
		}
		q->bound = 0;
	}
	if (q->sock != NULL) {
		nl_socket_free(q->sock);
		q->sock = NULL;
	}
	nb->fd = -1;
	free(q->buf);
	free(q);
	nb->drv = NULL;
}

static int
nfq_setup(struct netbuf *nb)
{
	struct nfnl_queue *qq = NULL;
	struct nfq *q;
	int err, fd, sz = NFQ_RCVBUF;

	q = calloc(1, sizeof *q);
	if (q == NULL)
		return -1;
	nb->drv = q;
	snprintf(q->table, sizeof q->table, "remus_%s", nb->ifname);
	if ((q->buf = malloc(NFQ_RECVBUF)) == NULL)
		return -1;
	if ((q->sock = nl_socket_alloc()) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	/* Packet messages are unsolicited: no sequence numbers to check. */
	nl_socket_disable_seq_check(q->sock);
	if ((err = nl_connect(q->sock, NETLINK_NETFILTER)) < 0) {
		log_warnx("%s: netfilter netlink socket: %s", nb->ifname,
		    nl_geterror(err));
		errno = err == -NLE_PROTO_MISMATCH ? EOPNOTSUPP : EIO;
		return -1;
	}
	fd = nl_socket_get_fd(q->sock);
	/* Root may exceed rmem_max; otherwise take what SO_RCVBUF gives. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) == -1)
		(void)nl_socket_set_buffer_size(q->sock, NFQ_RCVBUF, 0);
	if ((qq = nfnl_queue_alloc()) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	nfnl_queue_set_group(qq, (uint16_t)nb->cfg.queue_num);
	nfnl_queue_set_copy_mode(qq, NFNL_QUEUE_COPY_META);
	nfnl_queue_set_maxlen(qq, nb->cfg.queue_len);
	err = nfnl_queue_create(q->sock, qq);
	nfnl_queue_put(qq);
	if (err < 0) {
		if (err == -NLE_BUSY || err == -NLE_EXIST)
			log_warnx("%s: queue %d is in use by another process "
			    "(set another queue number)", nb->ifname,
			    nb->cfg.queue_num);
		else if (err == -NLE_PERM)
			log_warnx("%s: queue %d: needs CAP_NET_ADMIN",
			    nb->ifname, nb->cfg.queue_num);
		else
			log_warnx("%s: bind queue %d: %s (kernel without "
			    "nfnetlink_queue?)", nb->ifname, nb->cfg.queue_num,
			    nl_geterror(err));
		errno = err == -NLE_PERM ? EPERM : err == -NLE_BUSY ||
		    err == -NLE_EXIST ? EBUSY : EOPNOTSUPP;
		return -1;
	}
	q->bound = 1;
	/* F_GSO: hand GSO packets over whole (we never look at payloads);
	 * F_FAIL_OPEN: explicit either way. */
	if (set_queue_flags(nb, NFQA_CFG_F_GSO |
	    (nb->cfg.fail_open ? NFQA_CFG_F_FAIL_OPEN : 0),
	    NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN) == -1)
		return -1;
	/* Verdicts need no ACKs: the socket carries packets back to us. */
	nl_socket_disable_auto_ack(q->sock);
	if (nl_socket_set_nonblocking(q->sock) < 0) {
		errno = EIO;
		return -1;
	}
	/* The queue has a listener now, so the rule may send packets to it. */
	if (rules_add(nb) == -1)
		return -1;
	q->table_created = 1;
	nb->fd = fd;
	log_debug("%s: queue %d len %u fail-%s, %s rules %s", nb->ifname,
	    nb->cfg.queue_num, nb->cfg.queue_len,
	    nb->cfg.fail_open ? "open" : "closed", q->backend, q->table);
	return 0;
}

static int
nfq_buffer(struct netbuf *nb, uint64_t epoch)
{
	struct nfq *q = nb->drv;
	unsigned int k;

	/* The guest is paused: everything it sent that has reached the
	 * queue is on the socket now. */
	if (drain(nb, 0) == -1)
		return -1;
	k = q->nclosed;
	if (k == NFQ_CLOSED_MAX)
		k--;		/* merge into the newest */
	else {
		q->closed[k].pkts = 0;
		q->nclosed++;
	}
	q->closed[k].epoch = epoch;
	q->closed[k].id = q->last_id;
	q->closed[k].pkts += q->open_pkts;
	q->closed_pkts += q->open_pkts;
	nb->st.last_epoch_packets = q->open_pkts;
	q->open_pkts = 0;
	return 0;
}

static int
nfq_release(struct netbuf *nb, uint64_t epoch)
{
	struct nfq *q = nb->drv;
	uint64_t pkts = 0;
	unsigned int n = 0, i;
	uint32_t id = 0;

	/* Every closed epoch <= EPOCH goes, with one verdict up to the last
	 * packet id of the newest of them. */
	while (n < q->nclosed && q->closed[n].epoch <= epoch) {
		pkts += q->closed[n].pkts;
		id = q->closed[n].id;
		n++;
	}
	if (n == 0)
		return 0;
	if (pkts > 0 && send_verdict(nb, id) == -1)
		return -1;
	nb->st.packets_released += pkts;
	q->closed_pkts -= pkts;
	for (i = n; i < q->nclosed; i++)
		q->closed[i - n] = q->closed[i];
	q->nclosed -= n;
	return 0;
}

static int
nfq_release_all(struct netbuf *nb)
{
	struct nfq *q = nb->drv;
	int rc = 0;

	/* Stop queueing first, then accept everything already queued;
	 * stragglers are accepted as they are read (pass mode).  The rules
	 * themselves go at teardown, with the queue empty. */
	if (q->table_created && rules_stop(nb) == -1)
		rc = -1;
	q->pass = 1;
	q->pass_pkts += q->open_pkts + q->closed_pkts;
	q->open_pkts = q->closed_pkts = 0;
	q->nclosed = 0;
	if (read_and_pass(nb, 0) == -1)
		rc = -1;
	return rc;
}

static int
nfq_reprotect(struct netbuf *nb)
{
	struct nfq *q = nb->drv;

	if (!q->table_created) {
		errno = EINVAL;
		return -1;
	}
	/* Accept what was read in pass mode, then hold whatever is read
	 * from here on (before the rule is back: a packet queued before
	 * the release and read only now is held too -- later, safe), then
	 * queue again. */
	if (read_and_pass(nb, 0) == -1)
		return -1;
	q->pass = 0;
	q->open_pkts = q->closed_pkts = 0;
	q->nclosed = 0;
	if (rules_resume(nb) == -1) {
		q->pass = 1;
		q->pass_pkts += q->open_pkts;
		q->open_pkts = 0;
		(void)read_and_pass(nb, 0);
		return -1;
	}
	return 0;
}

static int
nfq_discard_all(struct netbuf *nb)
{
	struct nfq *q = nb->drv;
	uint64_t held;
	int rc = 0;

	/* Drop from now on (the rule swap is one transaction), then read
	 * what the kernel had queued and give it a DROP verdict.  Nothing
	 * the interface sends passes again while the rule is there: a dead
	 * proc guest's kernel sockets go on sending (FIN, RST, retransmits
	 * of replies the backup's copy never made), and a hung guest may
	 * wake.  If the swap fails, the queue rule stays: once remus is gone
	 * nobody listens on Q, and the kernel drops (no bypass flag). */
	if (q->table_created && rules_block(nb) == -1)
		rc = -1;
	if (drain(nb, 0) == -1)
		rc = -1;
	held = q->open_pkts + q->closed_pkts;
	if (held > 0 && send_verdict_v(nb, q->last_id, NF_DROP) == -1)
		rc = -1;
	log_info("%s: %llu unacknowledged packets dropped", nb->ifname,
	    (unsigned long long)held);
	q->open_pkts = q->closed_pkts = 0;
	q->nclosed = 0;
	/* Still read, never passed: drop verdicts for stragglers. */
	q->discard = 1;
	log_warnx("%s: the guest's output stays blocked (%s %s drops it); "
	    "the next remus on %s removes it at start, or: remus-netbuf "
	    "cleanup %s", nb->ifname, q->backend && strcmp(q->backend,
	    "xt") == 0 ? "xtables chain" : "nftables table inet", q->table,
	    nb->ifname, nb->ifname);
	return rc;
}

/* Kernel counters for queue Q in this namespace. */
static int
read_proc_counters(int qnum, uint64_t *dropped, uint64_t *total)
{
	FILE *f;
	char line[256];
	int rc = -1;

	f = fopen("/proc/net/netfilter/nfnetlink_queue", "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned int num, portid, qtotal, mode, range, qdrop, udrop, seq;

		if (sscanf(line, "%u %u %u %u %u %u %u %u", &num, &portid,
		    &qtotal, &mode, &range, &qdrop, &udrop, &seq) != 8)
			continue;
		if ((int)num != qnum)
			continue;
		*dropped = (uint64_t)qdrop + udrop;
		*total = qtotal;
		rc = 0;
		break;
	}
	fclose(f);
	if (rc == -1)
		errno = ENOENT;
	return rc;
}

static int
nfq_stats(struct netbuf *nb, struct netbuf_stats *st)
{
	struct nfq *q = nb->drv;
	uint64_t dropped = 0, total = 0;

	if (read_proc_counters(nb->cfg.queue_num, &dropped, &total) == 0) {
		st->drops = dropped;
		st->held_now = total;
	} else {
		st->held_now = q->open_pkts + q->closed_pkts;
	}
	return 0;
}

/* Every held packet passes note_packet, which counts it into open_pkts
 * until the next boundary: output is pending as soon as that count is
 * not zero.  What the kernel queued but we have not read yet is read
 * first (a few reads at most: a flood is pending output anyway). */
static int
nfq_output_pending(struct netbuf *nb)
{
	struct nfq *q = nb->drv;

	if (q->pass || q->discard)
		return 0;
	if (q->open_pkts == 0 && drain(nb, 4) == -1)
		return -1;
	return q->open_pkts > 0;
}

const struct netbuf_driver_ops netbuf_nfqueue_ops = {
	.name = "nfqueue",
	.setup = nfq_setup,
	.on_readable = nfq_on_readable,
	.buffer = nfq_buffer,
	.release = nfq_release,
	.release_all = nfq_release_all,
	.reprotect = nfq_reprotect,
	.discard_all = nfq_discard_all,
	.stats = nfq_stats,
	.output_pending = nfq_output_pending,
	.teardown = nfq_teardown,
};

/* Names "remus_<ifname>" in OUT (one per line, after PREFIX) whose
 * interface is gone; calls DEL for each.  Returns how many. */
static int
remove_stale_names(const char *out, const char *prefix,
    int (*del)(const char *name))
{
	char *copy, *line, *save = NULL;
	size_t plen = strlen(prefix);
	int n = 0;

	if ((copy = strdup(out)) == NULL)
		return 0;
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char name[64];

		if (strncmp(line, prefix, plen) != 0 ||
		    sscanf(line + plen, "%63s", name) != 1)
			continue;
		if (strncmp(name, "remus_", 6) != 0 ||
		    !netbuf_ifname_ok(name + 6) || if_nametoindex(name + 6) != 0)
			continue;
		if (del(name) == 0) {
			log_info("removed stale %s", name);
			n++;
		}
	}
	free(copy);
	return n;
}

static int
del_nft_table(const char *name)
{
	char *argv[] = { "nft", "delete", "table", "inet", (char *)name, NULL };

	return netbuf_run(argv, NULL, NULL, 0) == 0 ? 0 : -1;
}

static int
del_xt_chain(const char *name)
{
	struct netbuf nb = { .ifname = "" };
	struct nfq q = { .backend = "xt" };

	/* The interface is gone, so its jump rule went with it ... except
	 * that iptables matches -i by name: remove the jump explicitly. */
	snprintf(nb.ifname, sizeof nb.ifname, "%s", name + 6);
	snprintf(q.table, sizeof q.table, "%s", name);
	nb.drv = &q;
	(void)xt_apply(&nb, 0, 1);
	return 0;
}

int
netbuf_nfqueue_cleanup_if(const char *ifname)
{
	char *nft[] = { "nft", "list", "tables", NULL };
	char *xt[2][5] = {
		{ "iptables-nft", "-t", "raw", "-S", NULL },
		{ "ip6tables-nft", "-t", "raw", "-S", NULL },
	};
	char out[16384], name[IF_NAMESIZE + 8], line[IF_NAMESIZE + 32];
	int n = 0, i, xt_found = 0;

	snprintf(name, sizeof name, "remus_%s", ifname);
	snprintf(line, sizeof line, "table inet %s\n", name);
	if (netbuf_run(nft, NULL, out, sizeof out) == 0 &&
	    strstr(out, line) != NULL) {
		if (del_nft_table(name) == -1) {
			log_warnx("%s: cannot delete table inet %s", ifname,
			    name);
			errno = EIO;
			return -1;
		}
		log_info("%s: removed table inet %s", ifname, name);
		n++;
	}
	snprintf(line, sizeof line, "-N %s\n", name);
	for (i = 0; i < 2; i++)
		if (netbuf_run(xt[i], NULL, out, sizeof out) == 0 &&
		    strstr(out, line) != NULL)
			xt_found = 1;
	if (xt_found) {
		(void)del_xt_chain(name);
		log_info("%s: removed xtables chains %s", ifname, name);
		n++;
	}
	return n;
}

int
netbuf_nfqueue_cleanup_stale(void)
{
	char *nft[] = { "nft", "list", "tables", NULL };
	char *xt4[] = { "iptables-nft", "-t", "raw", "-S", NULL };
	char *xt6[] = { "ip6tables-nft", "-t", "raw", "-S", NULL };
	char out[16384];
	int n = 0;

	if (netbuf_run(nft, NULL, out, sizeof out) == 0)
		n += remove_stale_names(out, "table inet ", del_nft_table);
	/* del_xt_chain cleans both families: IPv6 finds only what IPv4
	 * did not have. */
	if (netbuf_run(xt4, NULL, out, sizeof out) == 0)
		n += remove_stale_names(out, "-N ", del_xt_chain);
	if (netbuf_run(xt6, NULL, out, sizeof out) == 0)
		n += remove_stale_names(out, "-N ", del_xt_chain);
	return n;
}
