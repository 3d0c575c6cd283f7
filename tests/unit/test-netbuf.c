/* tests/unit/test-netbuf.c -- netbuf against the real kernel, in network
 * namespaces.
 *
 * Each test (its own process under Criterion) unshares a fresh network
 * namespace H, the "host" that holds the guest interface's host side vh,
 * and creates a namespace G (the guest) holding the peer vg:
 *
 *   G: vg 10.77.0.2 fd77::2  <--veth-->  H: vh 10.77.0.1 fd77::1
 *                                            netbuf on vh
 *
 * UDP datagrams sent from G to H pass vh's ingress, where netbuf holds
 * them; a socket in H counts what arrives.  The plug driver runs where the
 * kernel has sch_plug (skipped otherwise: the kernel lab covers it); the
 * nfqueue driver runs everywhere with nf_tables + nfnetlink_queue.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "netbuf.h"

#define PORT	5555
/* Status 0 if any remus_* nftables table or xtables chain exists. */
#define RULES_LEFT "(nft list tables; iptables-nft -t raw -S; " \
	"ip6tables-nft -t raw -S) 2>/dev/null | grep -q remus_"

static char gname[64];		/* the guest namespace */
static int host_ns = -1, guest_ns = -1;
static int rx4 = -1, rx6 = -1;	/* receivers in H */
static int tx4 = -1, tx6 = -1;	/* senders in G */

static int
sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	cr_assert(rc > 0 && (size_t)rc < sizeof cmd, "command too long");
	rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static int
udp_rx(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
	    .sin6_port = htons(PORT) };
	int one = 1;

	cr_assert(fd >= 0);
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
		cr_assert(bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0);
	} else
		cr_assert(bind(fd, (struct sockaddr *)&a4, sizeof a4) == 0);
	return fd;
}

static int
udp_tx(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	if (family == AF_INET6) {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
		    .sin6_port = htons(PORT) };

		inet_pton(AF_INET6, "fd77::1", &a.sin6_addr);
		cr_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET,
		    .sin_port = htons(PORT) };

		inet_pton(AF_INET, "10.77.0.1", &a.sin_addr);
		cr_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
	}
	return fd;
}

static int count_rx(struct netbuf *nb, int fd, int quiet_ms);

/* Until the kernel's link watcher activates a new veth's qdisc (up to a
 * second later on a loaded machine), packets sent on it are dropped: send
 * until one arrives, then drain. */
static void
wait_path(int tx, int rx)
{
	int i;

	for (i = 0; i < 100; i++) {
		cr_assert(send(tx, "x", 1, 0) == 1 || errno == ECONNREFUSED);
		if (count_rx(NULL, rx, 100) > 0) {
			(void)count_rx(NULL, rx, 200);
			return;
		}
	}
	cr_assert(0, "no datagram crossed the veth in 10 s");
}

static void
resolve_neighbours(void)
{
	wait_path(tx4, rx4);
	wait_path(tx6, rx6);
}

static void
setup_ns(void)
{
	char path[128];

	if (geteuid() != 0)
		cr_skip_test("needs root (network namespaces)");
	snprintf(gname, sizeof gname, "nbt-g-%d", (int)getpid());
	if (unshare(CLONE_NEWNET) == -1)
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
	host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	cr_assert(host_ns >= 0);
	sh("ip netns del %s 2>/dev/null", gname);
	cr_assert(eq(int, sh("ip netns add %s", gname), 0));
	/* The guest side must be silent but for what a test sends: the
	 * stats tests count packets.  No link-local address (so no DAD, no
	 * router solicitations), and MLD's repeated unsolicited reports go
	 * out at once, during set-up, not seconds later in some epoch. */
	cr_assert(eq(int, sh("ip link set lo up && "
	    "ip link add vh type veth peer name vg && "
	    "ip link set vg netns %s && "
	    "ip netns exec %s sh -c 'for k in accept_ra=0 "
	    "router_solicitations=0 addr_gen_mode=1 "
	    "mldv1_unsolicited_report_interval=0 "
	    "mldv2_unsolicited_report_interval=0; do "
	    "sysctl -qw net.ipv6.conf.vg.$k || exit 1; done' && "
	    "ip addr add 10.77.0.1/24 dev vh && "
	    "ip addr add fd77::1/64 dev vh nodad && ip link set vh up && "
	    "ip -n %s link set lo up && "
	    "ip -n %s addr add 10.77.0.2/24 dev vg && "
	    "ip -n %s addr add fd77::2/64 dev vg nodad && "
	    "ip -n %s link set vg up", gname, gname, gname, gname, gname,
	    gname), 0));
	snprintf(path, sizeof path, "/run/netns/%s", gname);
	guest_ns = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(guest_ns >= 0);

	rx4 = udp_rx(AF_INET);
	rx6 = udp_rx(AF_INET6);
	cr_assert(setns(guest_ns, CLONE_NEWNET) == 0);
	tx4 = udp_tx(AF_INET);
	tx6 = udp_tx(AF_INET6);
	cr_assert(setns(host_ns, CLONE_NEWNET) == 0);

	/* Resolve neighbours before buffering starts: IPv6 neighbour
	 * discovery is held like any IPv6 packet (and ARP by the plug
	 * driver), which would delay the test's datagrams by one epoch. */
	resolve_neighbours();
}

static void
teardown_ns(void)
{
	if (gname[0])
		sh("ip netns del %s 2>/dev/null", gname);
}

static void
send_n(int fd, int n)
{
	int i;

	for (i = 0; i < n; i++)
		cr_assert(send(fd, "x", 1, 0) == 1, "send: %s", strerror(errno));
}

/* Datagrams arriving on FD until QUIET_MS pass without one, pumping NB's
 * fd meanwhile (the engine's loop does this for remus). */
static int
count_rx(struct netbuf *nb, int fd, int quiet_ms)
{
	char buf[64];
	int n = 0;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = nb ? netbuf_fd(nb) : -1, .events = POLLIN },
		};
		int r = poll(p, 2, quiet_ms);

		if (r <= 0)
			return n;
		if (p[1].revents & POLLIN)
			cr_assert(eq(int, netbuf_on_readable(nb), 0));
		if (p[0].revents & POLLIN)
			while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
				n++;
	}
}

static struct netbuf *
make(enum netbuf_driver d)
{
	struct netbuf_config cfg = {
		.ifname = "vh", .driver = d, .queue_num = -1,
	};
	struct netbuf *nb;

	nb = netbuf_new(&cfg);
	if (nb == NULL && d == NETBUF_DRIVER_PLUG && errno == EOPNOTSUPP) {
		teardown_ns();	/* a skipped test does not run .fini */
		cr_skip_test("kernel has no sch_plug/ifb (see the kernel lab)");
	}
	cr_assert(nb != NULL, "netbuf_new: %s", strerror(errno));
	return nb;
}

static void
held_until_release(enum netbuf_driver d, int fd_tx, int fd_rx)
{
	struct netbuf *nb = make(d);

	send_n(fd_tx, 20);			/* epoch 1 */
	cr_expect(eq(int, count_rx(nb, fd_rx, 300), 0), "epoch 1 leaked");
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	send_n(fd_tx, 7);			/* epoch 2 */
	cr_expect(eq(int, count_rx(nb, fd_rx, 200), 0), "leaked before ACK(1)");
	cr_assert(eq(int, netbuf_epoch_release(nb, 1), 0));
	cr_expect(eq(int, count_rx(nb, fd_rx, 400), 20),
	    "ACK(1) must release exactly epoch 1's 20 packets");
	cr_assert(eq(int, netbuf_epoch_start(nb, 2), 0));
	cr_expect(eq(int, count_rx(nb, fd_rx, 200), 0), "leaked before ACK(2)");
	cr_assert(eq(int, netbuf_epoch_release(nb, 2), 0));
	cr_expect(eq(int, count_rx(nb, fd_rx, 400), 7));
	netbuf_free(nb);
}

TestSuite(netbuf, .init = setup_ns, .fini = teardown_ns, .timeout = 60);

Test(netbuf, nfqueue_holds_ipv4_until_commit)
{
	held_until_release(NETBUF_DRIVER_NFQUEUE, tx4, rx4);
}

Test(netbuf, nfqueue_holds_ipv6_until_commit)
{
	held_until_release(NETBUF_DRIVER_NFQUEUE, tx6, rx6);
}

Test(netbuf, plug_holds_ipv4_until_commit)
{
	held_until_release(NETBUF_DRIVER_PLUG, tx4, rx4);
}

Test(netbuf, plug_holds_ipv6_until_commit)
{
	held_until_release(NETBUF_DRIVER_PLUG, tx6, rx6);
}

static void
release_all_frees_everything(enum netbuf_driver d)
{
	struct netbuf *nb = make(d);

	send_n(tx4, 10);
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	send_n(tx4, 5);
	cr_expect(eq(int, count_rx(nb, rx4, 200), 0));
	cr_assert(eq(int, netbuf_release_all(nb), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 400), 15));
	/* Unprotected now: new output passes at once. */
	send_n(tx4, 4);
	cr_expect(eq(int, count_rx(nb, rx4, 400), 4));
	cr_expect(eq(int, netbuf_epoch_start(nb, 2), 0));	/* no-op */
	send_n(tx4, 3);
	cr_expect(eq(int, count_rx(nb, rx4, 400), 3));
	netbuf_free(nb);
}

Test(netbuf, nfqueue_release_all_frees_everything)
{
	release_all_frees_everything(NETBUF_DRIVER_NFQUEUE);
}

Test(netbuf, plug_release_all_frees_everything)
{
	release_all_frees_everything(NETBUF_DRIVER_PLUG);
}

/* The guest failed: what it sent since the last ACK is output of state the
 * backup may not have.  It is dropped, never released, not even by the
 * teardown that follows; and what the interface sends later is dropped
 * too, after teardown, until the block is removed on purpose (P5 of
 * docs/failover.md: a dead proc guest's kernel sockets go on sending). */
static void
discard_all_drops_held(enum netbuf_driver d)
{
	struct netbuf *nb = make(d);

	send_n(tx4, 10);
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	send_n(tx4, 5);
	cr_expect(eq(int, count_rx(nb, rx4, 200), 0));
	cr_assert(eq(int, netbuf_discard_all(nb), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 400), 0),
	    "discarded output must not be released");
	send_n(tx4, 3);
	cr_expect(eq(int, count_rx(nb, rx4, 400), 0),
	    "output after a discard must not pass");
	cr_expect(eq(int, netbuf_epoch_release(nb, 1), 0));	/* no-op */
	cr_expect(eq(int, netbuf_release_all(nb), 0));		/* no-op */
	netbuf_free(nb);
	cr_expect(eq(int, count_rx(NULL, rx4, 400), 0),
	    "teardown after a discard must not release");
	send_n(tx4, 4);
	send_n(tx6, 4);
	cr_expect(eq(int, count_rx(NULL, rx4, 400), 0),
	    "IPv4 output passes after teardown of a discarded netbuf");
	cr_expect(eq(int, count_rx(NULL, rx6, 400), 0),
	    "IPv6 output passes after teardown of a discarded netbuf");
	if (d == NETBUF_DRIVER_PLUG)
		cr_expect(eq(int, sh("ip link show | grep -q rmsb"), 0),
		    "the plugged IFB was removed");
	else
		cr_expect(eq(int, sh(RULES_LEFT), 0), "the drop rule was removed");
	/* Cleared on purpose: everything removed, output passes. */
	cr_expect(gt(int, netbuf_cleanup_if("vh"), 0));
	cr_expect(eq(int, sh(RULES_LEFT), 1), "queue rules left behind");
	cr_expect(eq(int, sh("ip link show | grep -q rmsb"), 1),
	    "IFB left behind");
	cr_expect(eq(int, netbuf_cleanup_if("vh"), 0));
	send_n(tx4, 2);
	cr_expect(eq(int, count_rx(NULL, rx4, 400), 2));
}

/* The next run on the interface takes over a discarded guest's block
 * (remus at start), and buffers normally. */
static void
discard_block_taken_over(enum netbuf_driver d)
{
	struct netbuf *nb = make(d);

	cr_assert(eq(int, netbuf_discard_all(nb), 0));
	netbuf_free(nb);
	send_n(tx4, 3);
	cr_expect(eq(int, count_rx(NULL, rx4, 400), 0));
	nb = make(d);
	send_n(tx4, 5);
	cr_expect(eq(int, count_rx(nb, rx4, 200), 0));
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	cr_assert(eq(int, netbuf_epoch_release(nb, 1), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 400), 5));
	netbuf_free(nb);
	cr_expect(eq(int, sh(RULES_LEFT), 1), "queue rules left behind");
	cr_expect(eq(int, sh("ip link show | grep -q rmsb"), 1),
	    "IFB left behind");
}

Test(netbuf, nfqueue_discard_block_taken_over)
{
	discard_block_taken_over(NETBUF_DRIVER_NFQUEUE);
}

Test(netbuf, plug_discard_block_taken_over)
{
	discard_block_taken_over(NETBUF_DRIVER_PLUG);
}

Test(netbuf, nfqueue_discard_all_drops_held)
{
	discard_all_drops_held(NETBUF_DRIVER_NFQUEUE);
}

Test(netbuf, plug_discard_all_drops_held)
{
	discard_all_drops_held(NETBUF_DRIVER_PLUG);
}

static void
teardown_leaves_nothing(enum netbuf_driver d)
{
	struct netbuf *nb = make(d);

	send_n(tx4, 6);
	cr_expect(eq(int, count_rx(nb, rx4, 200), 0));
	netbuf_free(nb);	/* releases, then removes */
	cr_expect(eq(int, count_rx(NULL, rx4, 400), 6),
	    "teardown must release what is held");
	cr_expect(eq(int, sh(RULES_LEFT), 1), "queue rules left behind");
	cr_expect(eq(int, sh("ip link show | grep -q rmsb"), 1),
	    "IFB left behind");
	cr_expect(eq(int, sh("tc qdisc show dev vh | grep -q ingress"), 1),
	    "ingress qdisc left behind");
	cr_expect(eq(int, sh("awk '$2 != 0' /proc/net/netfilter/nfnetlink_queue "
	    "2>/dev/null | grep -q ."), 1), "queue still bound");
	send_n(tx4, 2);
	cr_expect(eq(int, count_rx(NULL, rx4, 400), 2));
}

Test(netbuf, nfqueue_teardown_leaves_nothing)
{
	teardown_leaves_nothing(NETBUF_DRIVER_NFQUEUE);
}

Test(netbuf, plug_teardown_leaves_nothing)
{
	teardown_leaves_nothing(NETBUF_DRIVER_PLUG);
}

/* The engine closes epoch N + 1 before ACK(N) arrives when ACKs are slow.
 * nfqueue releases each epoch at its own ACK; plug keeps one closed buffer
 * only, so epoch 2 rides with epoch 3 (held longer, never shorter). */
static void
pipelined_epochs(enum netbuf_driver d)
{
	struct netbuf *nb = make(d);
	int plug = d == NETBUF_DRIVER_PLUG;

	send_n(tx4, 5);				/* epoch 1 */
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	send_n(tx4, 3);				/* epoch 2 */
	cr_assert(eq(int, netbuf_epoch_start(nb, 2), 0));
	send_n(tx4, 2);				/* epoch 3 */
	cr_expect(eq(int, count_rx(nb, rx4, 200), 0));
	cr_assert(eq(int, netbuf_epoch_release(nb, 1), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 400), 5), "ACK(1): epoch 1 only");
	cr_assert(eq(int, netbuf_epoch_release(nb, 2), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 400), plug ? 0 : 3),
	    "ACK(2): epoch 2 (nfqueue) or nothing (plug: merged)");
	cr_assert(eq(int, netbuf_epoch_start(nb, 3), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 200), 0));
	cr_assert(eq(int, netbuf_epoch_release(nb, 3), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 400), plug ? 5 : 2));
	/* Epoch numbers only grow; a repeated ACK is a no-op. */
	cr_assert(eq(int, netbuf_epoch_start(nb, 3), -1));
	cr_assert(eq(int, errno, EINVAL));
	cr_assert(eq(int, netbuf_epoch_release(nb, 2), 0));
	/* One ACK may cover several epochs. */
	send_n(tx4, 4);
	cr_assert(eq(int, netbuf_epoch_start(nb, 4), 0));
	send_n(tx4, 1);
	cr_assert(eq(int, netbuf_epoch_start(nb, 5), 0));
	cr_assert(eq(int, netbuf_epoch_release(nb, 5), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 400), plug ? 4 : 5));
	netbuf_free(nb);
}

Test(netbuf, nfqueue_pipelined_epochs)
{
	pipelined_epochs(NETBUF_DRIVER_NFQUEUE);
}

Test(netbuf, plug_pipelined_epochs)
{
	pipelined_epochs(NETBUF_DRIVER_PLUG);
}

Test(netbuf, stats_count_epochs_and_packets)
{
	struct netbuf *nb = make(NETBUF_DRIVER_NFQUEUE);
	struct netbuf_stats st;

	send_n(tx4, 9);
	cr_expect(eq(int, count_rx(nb, rx4, 200), 0));
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	cr_assert(eq(int, netbuf_get_stats(nb, &st), 0));
	/* The guest's own IPv6 chatter (NDP, MLD) may add a packet. */
	cr_expect(ge(u64, st.last_epoch_packets, 9));
	cr_expect(le(u64, st.last_epoch_packets, 12));
	cr_expect(ge(u64, st.held_now, 9));
	cr_assert(eq(int, netbuf_epoch_release(nb, 1), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 400), 9));
	cr_assert(eq(int, netbuf_get_stats(nb, &st), 0));
	cr_expect(eq(u64, st.epochs_started, 1));
	cr_expect(eq(u64, st.epochs_released, 1));
	cr_expect(ge(u64, st.packets_held, 9));
	cr_expect(ge(u64, st.packets_released, 9));
	cr_expect(le(u64, st.packets_held - st.packets_released, 2));
	cr_expect(eq(u64, st.drops, 0));
	netbuf_free(nb);
}

Test(netbuf, nfqueue_full_queue_drops_and_counts)
{
	struct netbuf_config cfg = {
		.ifname = "vh", .driver = NETBUF_DRIVER_NFQUEUE,
		.queue_num = -1, .queue_len = 8,
	};
	struct netbuf *nb = netbuf_new(&cfg);
	struct netbuf_stats st;
	int n;

	cr_assert(nb != NULL);
	send_n(tx4, 20);
	cr_expect(eq(int, count_rx(nb, rx4, 200), 0), "fail-closed leaked");
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	cr_assert(eq(int, netbuf_get_stats(nb, &st), 0));
	/* 8 held, the rest dropped (a stray NDP packet may take a slot). */
	cr_expect(eq(u64, st.last_epoch_packets, 8));
	cr_expect(ge(u64, st.drops, 12));
	cr_expect(le(u64, st.drops, 14));
	cr_assert(eq(int, netbuf_epoch_release(nb, 1), 0));
	n = count_rx(nb, rx4, 400);
	cr_expect(ge(int, n, 6));
	cr_expect(le(int, n, 8));
	cr_expect(ge(u64, n + st.drops, 20));
	netbuf_free(nb);
}

Test(netbuf, nfqueue_fail_open_passes_overflow)
{
	struct netbuf_config cfg = {
		.ifname = "vh", .driver = NETBUF_DRIVER_NFQUEUE,
		.queue_num = -1, .queue_len = 8, .fail_open = 1,
	};
	struct netbuf *nb = netbuf_new(&cfg);
	int n;

	cr_assert(nb != NULL);
	send_n(tx4, 20);
	n = count_rx(nb, rx4, 300);
	cr_expect(ge(int, n, 12), "fail-open: those beyond the queue pass");
	cr_expect(le(int, n, 14));
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	cr_assert(eq(int, netbuf_epoch_release(nb, 1), 0));
	cr_expect(eq(int, n + count_rx(nb, rx4, 400), 20));
	netbuf_free(nb);
}

Test(netbuf, stale_state_of_a_crashed_run_is_removed)
{
	pid_t pid = fork();
	int status;

	cr_assert(pid >= 0);
	if (pid == 0) {
		struct netbuf_config cfg = { .ifname = "vh",
		    .driver = NETBUF_DRIVER_NFQUEUE, .queue_num = -1 };

		_exit(netbuf_new(&cfg) == NULL ? 1 : 0);	/* "crash" */
	}
	cr_assert(waitpid(pid, &status, 0) == pid);
	cr_assert(eq(int, WEXITSTATUS(status), 0));
	cr_assert(eq(int, sh(RULES_LEFT), 0),
	    "the crashed run should have left its rules");
	/* A new run on the same interface takes over cleanly. */
	held_until_release(NETBUF_DRIVER_NFQUEUE, tx4, rx4);
	cr_expect(eq(int, sh(RULES_LEFT), 1));

	/* A table whose interface is gone is removed by cleanup_stale. */
	cr_assert(eq(int, sh("ip link add vx type veth peer name vy && "
	    "nft add table inet remus_vx && ip link del vx"), 0));
	cr_expect(eq(int, netbuf_cleanup_stale(), 1));
	cr_expect(eq(int, sh("nft list tables 2>/dev/null | grep -q remus_vx"), 1));
}

Test(netbuf, bad_config_is_refused)
{
	struct netbuf_config cfg = { .ifname = "no-such-if0", .queue_num = -1 };
	enum netbuf_driver d;

	cr_assert(eq(ptr, netbuf_new(&cfg), NULL));
	cr_assert(eq(int, errno, ENODEV));
	cfg.ifname = "vh\"; flush ruleset";
	cr_assert(eq(ptr, netbuf_new(&cfg), NULL));
	cr_assert(eq(int, errno, EINVAL));
	cfg.ifname = "vh";
	cfg.limit_bytes = 1ull << 40;
	cr_assert(eq(ptr, netbuf_new(&cfg), NULL));
	cr_assert(eq(int, errno, EINVAL));
	cr_assert(eq(int, netbuf_driver_parse("plug", &d), 0));
	cr_assert(eq(int, d, NETBUF_DRIVER_PLUG));
	cr_assert(eq(int, netbuf_driver_parse("nfqueue", &d), 0));
	cr_assert(eq(int, netbuf_driver_parse("auto", &d), 0));
	cr_assert(eq(int, netbuf_driver_parse("pcap", &d), -1));
	cr_assert(eq(str, (char *)netbuf_driver_name(NETBUF_DRIVER_NFQUEUE),
	    "nfqueue"));
}

Test(netbuf, refuses_without_cap_net_admin)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];
	struct netbuf_config cfg = { .ifname = "vh", .queue_num = -1 };

	cr_assert(syscall(SYS_capget, &hdr, data) == 0);
	data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	cr_assert(syscall(SYS_capset, &hdr, data) == 0);
	cr_assert(eq(ptr, netbuf_new(&cfg), NULL));
	cr_assert(eq(int, errno, EPERM));
}

Test(netbuf, auto_picks_a_working_driver)
{
	struct netbuf *nb = make(NETBUF_DRIVER_AUTO);
	struct netbuf_stats st;
	int plug = netbuf_plug_available();

	cr_assert(plug == 0 || plug == 1);
	cr_assert(eq(int, netbuf_get_stats(nb, &st), 0));
	cr_expect(eq(int, st.driver, plug ? NETBUF_DRIVER_PLUG :
	    NETBUF_DRIVER_NFQUEUE));
	send_n(tx4, 3);
	cr_expect(eq(int, count_rx(nb, rx4, 200), 0));
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	cr_assert(eq(int, netbuf_epoch_release(nb, 1), 0));
	cr_expect(eq(int, count_rx(nb, rx4, 400), 3));
	netbuf_free(nb);
	cr_expect(eq(int, sh("ip link show | grep -q rmsbp"), 1),
	    "probe IFB left behind");
}

Test(netbuf, injected_fault_fails_the_epoch)
{
	struct netbuf *nb = make(NETBUF_DRIVER_NFQUEUE);

	fault_mask |= 1u << FI_PLUG_FAIL;
	fault_epoch = 2;
	cr_assert(eq(int, netbuf_epoch_start(nb, 1), 0));
	cr_assert(eq(int, netbuf_epoch_release(nb, 1), 0));
	cr_assert(eq(int, netbuf_epoch_start(nb, 2), -1));
	cr_assert(eq(int, errno, EIO));
	fault_mask = 0;
	netbuf_free(nb);
}
