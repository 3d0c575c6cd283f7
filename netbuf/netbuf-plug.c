/* netbuf/netbuf-plug.c -- the sch_plug driver (xl remus's netbuf, without
 * its hotplug scripts and with every ethertype held).
 *
 *   guest --> IFACE (host side)
 *               ingress qdisc ffff:
 *                 filter matchall, protocol all (u32 match-all if the
 *                 kernel lacks cls_matchall)
 *                   action mirred egress redirect dev rmsb<ifindex>, stolen
 *   rmsb<ifindex> (IFB, up)
 *     root qdisc 1: plug limit L
 *         | epoch N-1 released | epoch N closed | epoch N+1 open |
 *         ^ dequeued             ^ RELEASE_ONE    ^ BUFFER closes it
 *
 * xl remus matches "protocol ip" only, so ARP and IPv6 from the guest escape
 * its buffer; matching every protocol closes that hole.
 *
 * Everything is created and removed through libnl-route-3; nothing shells
 * out.  The IFB's name carries the guest interface's ifindex, so a later
 * run finds and removes what a crashed one left behind.
 */
#define LOG_PREFIX "netbuf: "

#include <assert.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/matchall.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/plug.h>
#include <netlink/route/tc.h>

#include "log.h"
#include "netbuf-int.h"

#define PLUG_HANDLE	TC_HANDLE(1, 0)
#define INGRESS_HANDLE	TC_HANDLE(0xffff, 0)

struct plug {
	struct nl_sock	*sock;
	char		ifb_name[IF_NAMESIZE];
	int		ifb_index;
	int		ifb_created;
	int		ingress_created;
	struct rtnl_qdisc *qdisc;	/* the plug qdisc, reused per command */
	int		released;	/* RELEASE_INDEFINITE sent */
	/* sch_plug holds one closed buffer: closed != 0 while a BUFFER
	 * waits for its RELEASE_ONE; closed_epoch is the epoch it ends. */
	int		closed;
	uint64_t	closed_epoch;
	uint64_t	merged;		/* epochs folded into a later buffer */
	/* cfg.track_output: packets the plug qdisc had taken in (sent +
	 * queued + dropped) when the open epoch began; base_ok 0 when that
	 * read failed (output_pending then fails: the interval cuts). */
	uint64_t	base_in;
	int		base_ok;
};

static void	plug_note_base(struct netbuf *nb);

/* libnl's -NLE_* to errno (E8). */
static int
nlerr_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_PERM:
		return EPERM;
	case NLE_EXIST:
		return EEXIST;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_OPNOTSUPP:
		return EOPNOTSUPP;
	case NLE_NODEV:
		return ENODEV;
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_INVAL:
		return EINVAL;
	case NLE_BUSY:
		return EBUSY;
	case NLE_NOACCESS:
		return EACCES;
	default:
		return EIO;
	}
}

static struct nl_sock *
open_route_sock(void)
{
	struct nl_sock *sk;
	int err;

	sk = nl_socket_alloc();
	if (sk == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		log_warnx("netlink route socket: %s", nl_geterror(err));
		nl_socket_free(sk);
		errno = nlerr_errno(err);
		return NULL;
	}
	return sk;
}

static void
ifb_name_for(char *buf, size_t len, int ifindex)
{
	snprintf(buf, len, "rmsb%d", ifindex);
}

/* Delete link NAME; 0 if deleted or absent. */
static int
delete_link(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *l;
	int err;

	l = rtnl_link_alloc();
	if (l == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rtnl_link_set_name(l, name);
	err = rtnl_link_delete(sk, l);
	rtnl_link_put(l);
	if (err < 0 && err != -NLE_NODEV && err != -NLE_OBJ_NOTFOUND) {
		errno = nlerr_errno(err);
		return -1;
	}
	return 0;
}

/* Create IFB NAME and bring it up; *IDX gets its ifindex. */
static int
create_ifb(struct nl_sock *sk, const char *name, int *idx)
{
	struct rtnl_link *l = NULL, *cur = NULL, *chg = NULL;
	int err, rc = -1;

	l = rtnl_link_alloc();
	chg = rtnl_link_alloc();
	if (l == NULL || chg == NULL) {
		errno = ENOMEM;
		goto out;
	}
	rtnl_link_set_name(l, name);
	if ((err = rtnl_link_set_type(l, "ifb")) < 0 ||
	    (err = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL)) < 0) {
		errno = nlerr_errno(err);
		goto out;
	}
	if ((err = rtnl_link_get_kernel(sk, 0, name, &cur)) < 0) {
		errno = nlerr_errno(err);
		goto out;
	}
	rtnl_link_set_flags(chg, IFF_UP);
	if ((err = rtnl_link_change(sk, cur, chg, 0)) < 0) {
		errno = nlerr_errno(err);
		goto out;
	}
	*idx = rtnl_link_get_ifindex(cur);
	rc = 0;
out:
	if (cur)
		rtnl_link_put(cur);
	if (chg)
		rtnl_link_put(chg);
	if (l)
		rtnl_link_put(l);
	return rc;
}

static struct rtnl_qdisc *
plug_qdisc_alloc(int ifb_index)
{
	struct rtnl_qdisc *q;

	q = rtnl_qdisc_alloc();
	if (q == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	rtnl_tc_set_ifindex(TC_CAST(q), ifb_index);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), PLUG_HANDLE);
	if (rtnl_tc_set_kind(TC_CAST(q), "plug") < 0) {
		rtnl_qdisc_put(q);
		errno = EINVAL;
		return NULL;
	}
	return q;
}

/* Add the plug qdisc with LIMIT bytes at the root of IFB_INDEX. */
static int
add_plug(struct nl_sock *sk, struct rtnl_qdisc *q, uint32_t limit)
{
	int err;

	rtnl_qdisc_plug_set_limit(q, (int)limit);
	err = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0) {
		errno = nlerr_errno(err);
		return -1;
	}
	return 0;
}

static int
ingress_qdisc(struct nl_sock *sk, int ifindex, int add)
{
	struct rtnl_qdisc *q;
	int err;

	q = rtnl_qdisc_alloc();
	if (q == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
	rtnl_tc_set_kind(TC_CAST(q), "ingress");
	if (add)
		err = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL);
	else
		err = rtnl_qdisc_delete(sk, q);
	rtnl_qdisc_put(q);
	if (err < 0) {
		errno = nlerr_errno(err);
		return -1;
	}
	return 0;
}

static struct rtnl_act *
mirred_to(int ifb_index)
{
	struct rtnl_act *a;

	a = rtnl_act_alloc();
	if (a == NULL)
		return NULL;
	rtnl_tc_set_kind(TC_CAST(a), "mirred");
	rtnl_mirred_set_action(a, TCA_EGRESS_REDIR);
	rtnl_mirred_set_policy(a, TC_ACT_STOLEN);
	rtnl_mirred_set_ifindex(a, ifb_index);
	return a;
}

/* Redirect every frame arriving on IFINDEX (protocol all) to IFB_INDEX.
 * matchall first; u32 with an all-zero key where cls_matchall is missing
 * (it is newer: Linux 4.8). */
static int
add_redirect(struct nl_sock *sk, int ifindex, int ifb_index)
{
	static const char *const kinds[] = { "matchall", "u32" };
	int err = -NLE_OPNOTSUPP;
	size_t i;

	for (i = 0; i < 2; i++) {
		struct rtnl_cls *c;
		struct rtnl_act *a;

		c = rtnl_cls_alloc();
		a = mirred_to(ifb_index);
		if (c == NULL || a == NULL) {
			if (c)
				rtnl_cls_put(c);
			if (a)
				rtnl_act_put(a);
			errno = ENOMEM;
			return -1;
		}
		rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
		rtnl_tc_set_parent(TC_CAST(c), INGRESS_HANDLE);
		rtnl_tc_set_kind(TC_CAST(c), kinds[i]);
		rtnl_cls_set_protocol(c, ETH_P_ALL);
		rtnl_cls_set_prio(c, 1);
		if (i == 0) {
			err = rtnl_mall_append_action(c, a);
		} else {
			err = rtnl_u32_add_key_uint32(c, 0, 0, 0, 0);
			if (err >= 0)
				err = rtnl_u32_set_cls_terminal(c);
			if (err >= 0)
				err = rtnl_u32_add_action(c, a);
		}
		if (err >= 0)
			err = rtnl_cls_add(sk, c, NLM_F_CREATE | NLM_F_EXCL);
		rtnl_act_put(a);
		rtnl_cls_put(c);
		if (err >= 0)
			return 0;
		if (err != -NLE_OBJ_NOTFOUND && err != -NLE_OPNOTSUPP)
			break;
		log_debug("filter %s unavailable: %s", kinds[i],
		    nl_geterror(err));
	}
	errno = nlerr_errno(err);
	return -1;
}

static int
plug_cmd(struct netbuf *nb, int (*set)(struct rtnl_qdisc *), const char *what)
{
	struct plug *p = nb->drv;
	int err;

	/* Never two BUFFERs without a RELEASE_ONE between them. */
	assert(set != rtnl_qdisc_plug_buffer || !p->closed);
	set(p->qdisc);
	/* A change, not a create: the kernel finds 1: and calls plug_change. */
	err = rtnl_qdisc_add(p->sock, p->qdisc, NLM_F_REQUEST);
	if (err < 0) {
		log_warnx("%s: plug %s on %s: %s", nb->ifname, what,
		    p->ifb_name, nl_geterror(err));
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Remove the ingress redirect and the IFB; what the plug qdisc still
 * holds goes with the device (dropped, never sent). */
static int
remove_redirect(struct netbuf *nb)
{
	struct plug *p = nb->drv;
	struct nl_sock *sk = p->sock;
	int rc = 0;

	if (sk != NULL && p->ingress_created) {
		if (ingress_qdisc(sk, nb->ifindex, 0) == -1 && errno != ENOENT &&
		    errno != EINVAL) {
			log_warn("%s: remove ingress qdisc", nb->ifname);
			rc = -1;
		}
		p->ingress_created = 0;
	}
	if (sk != NULL && p->ifb_created) {
		if (delete_link(sk, p->ifb_name) == -1) {
			log_warn("%s: remove %s", nb->ifname, p->ifb_name);
			rc = -1;
		}
		p->ifb_created = 0;
	}
	return rc;
}

static void
plug_teardown(struct netbuf *nb)
{
	struct plug *p = nb->drv;
	struct nl_sock *sk;

	if (p == NULL)
		return;
	sk = p->sock;
	/* A discarded guest's interface stays redirected into the plugged
	 * IFB (P5): removing either would let its output through. */
	if (!nb->discarded)
		remove_redirect(nb);
	if (p->qdisc) {
		rtnl_qdisc_put(p->qdisc);
		p->qdisc = NULL;
	}
	if (sk) {
		nl_socket_free(sk);	/* closes too */
		p->sock = NULL;
	}
	free(p);
	nb->drv = NULL;
}

static int
plug_setup(struct netbuf *nb)
{
	struct plug *p;

	p = calloc(1, sizeof *p);
	if (p == NULL)
		return -1;
	nb->drv = p;
	ifb_name_for(p->ifb_name, sizeof p->ifb_name, nb->ifindex);
	if ((p->sock = open_route_sock()) == NULL)
		return -1;

	/* A crashed run leaves rmsb<ifindex> and its ingress qdisc: remove
	 * both.  An ingress qdisc without our IFB belongs to someone else
	 * and makes the add below fail with EEXIST. */
	if (if_nametoindex(p->ifb_name) != 0) {
		log_info("%s: removing stale %s and ingress qdisc", nb->ifname,
		    p->ifb_name);
		(void)ingress_qdisc(p->sock, nb->ifindex, 0);
		if (delete_link(p->sock, p->ifb_name) == -1) {
			log_warn("%s: remove stale %s", nb->ifname, p->ifb_name);
			return -1;
		}
	}
	if (create_ifb(p->sock, p->ifb_name, &p->ifb_index) == -1) {
		if (errno == EOPNOTSUPP || errno == ENOENT)
			log_warnx("%s: kernel has no ifb device support",
			    nb->ifname);
		else
			log_warn("%s: create %s", nb->ifname, p->ifb_name);
		if (errno == ENOENT)
			errno = EOPNOTSUPP;
		return -1;
	}
	p->ifb_created = 1;
	if ((p->qdisc = plug_qdisc_alloc(p->ifb_index)) == NULL)
		return -1;
	if (add_plug(p->sock, p->qdisc, (uint32_t)nb->cfg.limit_bytes) == -1) {
		if (errno == ENOENT || errno == EOPNOTSUPP) {
			log_warnx("%s: kernel has no sch_plug", nb->ifname);
			errno = EOPNOTSUPP;
		} else
			log_warn("%s: add plug qdisc to %s", nb->ifname,
			    p->ifb_name);
		return -1;
	}
	if (ingress_qdisc(p->sock, nb->ifindex, 1) == -1) {
		if (errno == EEXIST)
			log_warnx("%s: already has an ingress qdisc that is "
			    "not remus's; remove it first", nb->ifname);
		else if (errno == ENOENT || errno == EOPNOTSUPP) {
			log_warnx("%s: kernel has no ingress qdisc "
			    "(sch_ingress)", nb->ifname);
			errno = EOPNOTSUPP;
		} else
			log_warn("%s: add ingress qdisc", nb->ifname);
		return -1;
	}
	p->ingress_created = 1;
	if (add_redirect(p->sock, nb->ifindex, p->ifb_index) == -1) {
		if (errno == ENOENT || errno == EOPNOTSUPP) {
			log_warnx("%s: kernel lacks cls_matchall/cls_u32 or "
			    "act_mirred", nb->ifname);
			errno = EOPNOTSUPP;
		} else
			log_warn("%s: add redirect filter to %s", nb->ifname,
			    p->ifb_name);
		return -1;
	}
	log_debug("%s: %s (ifindex %d) plug limit %llu", nb->ifname,
	    p->ifb_name, p->ifb_index, (unsigned long long)nb->cfg.limit_bytes);
	plug_note_base(nb);
	return 0;
}

static int
plug_buffer(struct netbuf *nb, uint64_t epoch)
{
	struct plug *p = nb->drv;

	if (p->closed) {
		/* Epoch closed_epoch still waits for its ACK.  A second
		 * BUFFER would overwrite its packet count; instead this
		 * epoch's packets stay in the open buffer and close with the
		 * next epoch (released at that epoch's ACK: later, safe). */
		p->merged++;
		log_debug("%s: epoch %llu: merged into the next buffer "
		    "(epoch %llu unreleased)", nb->ifname,
		    (unsigned long long)epoch,
		    (unsigned long long)p->closed_epoch);
		plug_note_base(nb);
		return 0;
	}
	if (plug_cmd(nb, rtnl_qdisc_plug_buffer, "buffer") == -1)
		return -1;
	p->closed = 1;
	p->closed_epoch = epoch;
	plug_note_base(nb);
	return 0;
}

static int
plug_release(struct netbuf *nb, uint64_t epoch)
{
	struct plug *p = nb->drv;

	/* Only the closed buffer can go; merged epochs wait for the buffer
	 * that closes them. */
	if (!p->closed || p->closed_epoch > epoch)
		return 0;
	if (plug_cmd(nb, rtnl_qdisc_plug_release_one, "release_one") == -1)
		return -1;
	p->closed = 0;
	return 0;
}

static int
plug_release_all(struct netbuf *nb)
{
	struct plug *p = nb->drv;

	if (plug_cmd(nb, rtnl_qdisc_plug_release_indefinite,
	    "release_indefinite") == -1)
		return -1;
	p->released = 1;
	p->closed = 0;
	return 0;
}

/* sch_plug's BUFFER ends the indefinite release (unplug_indefinite) and
 * starts counting a new buffer: the state after setup.  Packets still
 * queued from the released time are not counted in any buffer; they
 * leave first and in place of the next buffer's last ones (FIFO), which
 * then wait for the buffer after: later, never earlier.  The empty
 * buffer BUFFER closes is overwritten by the next BUFFER, harmlessly. */
static int
plug_reprotect(struct netbuf *nb)
{
	struct plug *p = nb->drv;

	if (plug_cmd(nb, rtnl_qdisc_plug_buffer, "buffer (reprotect)") == -1)
		return -1;
	p->released = 0;
	p->closed = 0;
	plug_note_base(nb);
	return 0;
}

static int
plug_discard_all(struct netbuf *nb)
{
	struct plug *p = nb->drv;

	/* Nothing is released, ever: what the qdisc holds and whatever the
	 * dead guest's kernel still sends stays behind the plug until its
	 * limit, then is dropped.  Removing the IFB would drop what is held
	 * but let later packets through unredirected.  The block goes with
	 * the next run's stale cleanup on this interface. */
	p->released = 1;
	log_warnx("%s: the guest's output stays blocked (%s stays plugged); "
	    "the next remus on %s removes it at start, or: remus-netbuf "
	    "cleanup %s", nb->ifname, p->ifb_name, nb->ifname, nb->ifname);
	return 0;
}

static int
plug_stats(struct netbuf *nb, struct netbuf_stats *st)
{
	struct plug *p = nb->drv;
	struct nl_cache *cache = NULL;
	struct rtnl_qdisc *q;
	int err;

	err = rtnl_qdisc_alloc_cache(p->sock, &cache);
	if (err < 0) {
		errno = nlerr_errno(err);
		return -1;
	}
	q = rtnl_qdisc_get(cache, p->ifb_index, PLUG_HANDLE);
	if (q != NULL) {
		st->drops = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_DROPS);
		st->held_now = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_QLEN);
		st->backlog_bytes = rtnl_tc_get_stat(TC_CAST(q),
		    RTNL_TC_BACKLOG);
		st->packets_released = rtnl_tc_get_stat(TC_CAST(q),
		    RTNL_TC_PACKETS);
		st->packets_held = st->packets_released + st->held_now;
		rtnl_qdisc_put(q);
	}
	nl_cache_free(cache);
	return 0;
}

/* Packets the plug qdisc has taken in so far: what it sent, holds and
 * dropped.  sch_plug has no per-packet signal to userspace; its counters
 * are one RTM_GETQDISC dump away, which is cheap enough to poll at the
 * 1 ms the engine needs (docs/netbuf.md). */
static int
plug_taken_in(struct netbuf *nb, uint64_t *in)
{
	struct netbuf_stats st;

	memset(&st, 0, sizeof st);
	if (plug_stats(nb, &st) == -1)
		return -1;
	*in = st.packets_released + st.held_now + st.drops;
	return 0;
}

/* The open epoch begins: note the count it starts from. */
static void
plug_note_base(struct netbuf *nb)
{
	struct plug *p = nb->drv;

	if (!nb->cfg.track_output)
		return;
	p->base_ok = plug_taken_in(nb, &p->base_in) == 0;
	if (!p->base_ok)
		log_warnx_once("%s: reading the plug qdisc's counters failed: "
		    "output does not trigger epochs", nb->ifname);
}

static int
plug_output_pending(struct netbuf *nb)
{
	struct plug *p = nb->drv;
	uint64_t in;

	if (!nb->cfg.track_output) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (p->released)
		return 0;
	if (!p->base_ok) {
		errno = EIO;
		return -1;
	}
	if (plug_taken_in(nb, &in) == -1)
		return -1;
	return in != p->base_in;
}

const struct netbuf_driver_ops netbuf_plug_ops = {
	.name = "plug",
	.setup = plug_setup,
	.buffer = plug_buffer,
	.release = plug_release,
	.release_all = plug_release_all,
	.reprotect = plug_reprotect,
	.discard_all = plug_discard_all,
	.stats = plug_stats,
	.output_pending = plug_output_pending,
	.teardown = plug_teardown,
};

int
netbuf_plug_available(void)
{
	struct nl_sock *sk;
	struct rtnl_qdisc *q = NULL;
	char name[IF_NAMESIZE];
	int idx, rc = -1, saved_errno;

	if ((sk = open_route_sock()) == NULL)
		return -1;
	snprintf(name, sizeof name, "rmsbp%d", (int)(getpid() % 100000));
	(void)delete_link(sk, name);
	if (create_ifb(sk, name, &idx) == -1) {
		if (errno == EOPNOTSUPP || errno == ENOENT)
			rc = 0;
		else
			log_warn("probe: create ifb %s", name);
		goto out;
	}
	if ((q = plug_qdisc_alloc(idx)) == NULL)
		goto out;
	if (add_plug(sk, q, 1500) == -1) {
		if (errno == EOPNOTSUPP || errno == ENOENT)
			rc = 0;
		else
			log_warn("probe: add plug qdisc");
		goto out;
	}
	rc = 1;
out:
	saved_errno = errno;
	if (q)
		rtnl_qdisc_put(q);
	(void)delete_link(sk, name);
	nl_socket_free(sk);
	errno = saved_errno;
	return rc;
}

int
netbuf_plug_cleanup_if(const char *ifname)
{
	char ifb[IF_NAMESIZE];
	struct nl_sock *sk;
	unsigned int idx;
	int n = 0;

	/* Gone: its IFB is stale and netbuf_plug_cleanup_stale's. */
	idx = if_nametoindex(ifname);
	if (idx == 0)
		return 0;
	ifb_name_for(ifb, sizeof ifb, (int)idx);
	if (if_nametoindex(ifb) == 0)
		return 0;
	if ((sk = open_route_sock()) == NULL)
		return -1;
	/* Ingress first: nothing is redirected to a missing device. */
	(void)ingress_qdisc(sk, (int)idx, 0);
	if (delete_link(sk, ifb) == -1) {
		log_warn("%s: remove %s", ifname, ifb);
		nl_socket_free(sk);
		return -1;
	}
	log_info("%s: removed %s and its ingress qdisc", ifname, ifb);
	n++;
	nl_socket_free(sk);
	return n;
}

int
netbuf_plug_cleanup_stale(void)
{
	struct if_nameindex *ifs, *i;
	struct nl_sock *sk;
	int n = 0;

	ifs = if_nameindex();
	if (ifs == NULL)
		return -1;
	if ((sk = open_route_sock()) == NULL) {
		if_freenameindex(ifs);
		return -1;
	}
	for (i = ifs; i->if_index != 0; i++) {
		char *end;
		long guest;

		if (strncmp(i->if_name, "rmsb", 4) != 0)
			continue;
		guest = strtol(i->if_name + 4, &end, 10);
		if (end == i->if_name + 4 || *end != '\0')
			continue;
		if (guest > 0 && guest <= INT32_MAX) {
			char gname[IF_NAMESIZE];

			if (if_indextoname((unsigned int)guest, gname) != NULL)
				continue;	/* interface alive: not stale */
		}
		if (delete_link(sk, i->if_name) == 0) {
			log_info("removed stale %s", i->if_name);
			n++;
		}
	}
	nl_socket_free(sk);
	if_freenameindex(ifs);
	return n;
}
