/* remusd/dev-netbuf.c -- adapt netbuf/ to the engine's ckpt_device_ops.
 *
 * One device per interface named in --netbuf-if (a comma-separated list).
 * The nfqueue driver's netlink socket is read from the engine's loop with
 * an ev_io: the kernel queue must be drained continuously, not only at
 * epoch boundaries.
 *
 * Test mode: REMUS_NETBUF_TRACE=FILE appends "start N T" for each
 * postsuspend and "release N T" for each commit (T = now_us(), the
 * monotonic clock in microseconds, written before netbuf acts: the guest
 * is paused at T, and no packet of epoch N has left before T), and
 * "reprotect N T" when a new session holds output again, so a test
 * can check that no reply reached a client before the epoch that produced
 * it was released.
 *
 * --trigger output: output_watch tells the engine when the open epoch
 * first holds output.  nfqueue: checked after each read of the queue
 * socket (netbuf counts every packet); plug: sch_plug reports nothing by
 * itself, so while armed its counters are polled every OUTPUT_POLL_S.
 */
#define LOG_PREFIX "netbuf: "

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "checkpoint.h"
#include "compiler.h"
#include "devices.h"
#include "log.h"
#include "netbuf.h"
#include "util.h"

#define OUTPUT_POLL_S	0.001	/* plug: poll while an epoch is watched */

struct dev_netbuf {
	struct netbuf	*nb;
	FILE		*trace;		/* REMUS_NETBUF_TRACE, or NULL */
	struct ev_loop	*loop;
	ev_io		 io;
	int		 io_active;
	/* --trigger output: armed while fn is set (see dn_output_watch). */
	ckpt_output_fn	*out_fn;
	void		*out_arg;
	ev_timer	 poll;		/* plug: counters polled while armed */
	struct dev_netbuf *next;	/* on the attached list */
};

/* The attached devices, for dev_netbuf_held(); the engine owns them. */
static struct dev_netbuf *attached;

static void
disarm(struct dev_netbuf *d)
{
	d->out_fn = NULL;
	if (d->loop != NULL)
		ev_timer_stop(d->loop, &d->poll);
}

/* Armed and output held now: tell the engine, once. */
static void
check_output(struct dev_netbuf *d)
{
	ckpt_output_fn *fn = d->out_fn;
	int rc;

	if (fn == NULL)
		return;
	rc = netbuf_output_pending(d->nb);
	if (rc == 0)
		return;
	disarm(d);
	if (rc == 1)
		fn(d->out_arg);
	else
		log_warn("output watch");	/* the interval cuts the epoch */
}

static void
netbuf_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dev_netbuf *d = container_of(w, struct dev_netbuf, io);

	/* A read error is logged by netbuf; the queue stays bound and the
	 * next readable event retries. */
	(void)netbuf_on_readable(d->nb);
	check_output(d);
}

static void
poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	check_output(container_of(w, struct dev_netbuf, poll));
}

static int
dn_output_watch(void *dev, ckpt_output_fn *fn, void *arg)
{
	struct dev_netbuf *d = dev;
	int rc;

	disarm(d);
	if (fn == NULL)
		return 0;
	if ((rc = netbuf_output_pending(d->nb)) != 0)
		return rc;
	d->out_fn = fn;
	d->out_arg = arg;
	/* nfqueue: every packet makes the socket readable (io_cb);
	 * plug: nothing does, poll. */
	if (!d->io_active && d->loop != NULL)
		ev_timer_again(d->loop, &d->poll);
	return 0;
}

static void
trace(struct dev_netbuf *d, const char *what, uint64_t epoch)
{
	if (d->trace == NULL)
		return;
	fprintf(d->trace, "%s %" PRIu64 " %" PRIu64 "\n", what, epoch,
	    now_us());
	fflush(d->trace);
}

static int
dn_postsuspend(void *dev, uint64_t epoch)
{
	struct dev_netbuf *d = dev;

	/* The guest is paused already.  The watch was for the epoch that
	 * closes now. */
	disarm(d);
	trace(d, "start", epoch);
	return netbuf_epoch_start(d->nb, epoch);
}

static int
dn_commit(void *dev, uint64_t epoch)
{
	struct dev_netbuf *d = dev;

	/* Written before any packet of EPOCH leaves: a kill -9 right after
	 * the release must not lose the line. */
	trace(d, "release", epoch);
	return netbuf_epoch_release(d->nb, epoch);
}

static void
dn_release_all(void *dev)
{
	struct dev_netbuf *d = dev;

	if (netbuf_release_all(d->nb) == -1)
		log_warnx("release failed; teardown will release");
}

/* A new session's first epoch EPOCH: hold output again (netbuf.h). */
static int
dn_reprotect(void *dev, uint64_t epoch)
{
	struct dev_netbuf *d = dev;

	trace(d, "reprotect", epoch);
	return netbuf_reprotect(d->nb, epoch);
}

static void
dn_discard_all(void *dev)
{
	struct dev_netbuf *d = dev;

	/* Even on failure nothing held is released, and teardown leaves
	 * the interface blocked (netbuf.h, P5 of docs/failover.md). */
	(void)netbuf_discard_all(d->nb);
}

static void
dn_teardown(void *dev)
{
	struct dev_netbuf *d = dev;

	if (d == NULL)
		return;
	for (struct dev_netbuf **p = &attached; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	if (d->io_active) {
		ev_io_stop(d->loop, &d->io);
		d->io_active = 0;
	}
	disarm(d);
	/* Releases what is held and removes state; after a discard, drops
	 * what is held and leaves the block. */
	netbuf_free(d->nb);
	d->nb = NULL;
	if (d->trace)
		fclose(d->trace);
	free(d);
}

static const struct ckpt_device_ops dev_netbuf_ops = {
	.name = "netbuf",
	.postsuspend = dn_postsuspend,
	.commit = dn_commit,
	.release_all = dn_release_all,
	.reprotect = dn_reprotect,
	.discard_all = dn_discard_all,
	.teardown = dn_teardown,
};

/* The same with --trigger output. */
static const struct ckpt_device_ops dev_netbuf_watch_ops = {
	.name = "netbuf",
	.postsuspend = dn_postsuspend,
	.commit = dn_commit,
	.release_all = dn_release_all,
	.reprotect = dn_reprotect,
	.discard_all = dn_discard_all,
	.output_watch = dn_output_watch,
	.teardown = dn_teardown,
};

static int
attach_one(struct ckpt *c, const struct remus_devopts *o,
    enum netbuf_driver drv, const char *ifname)
{
	struct netbuf_config cfg = {
		.ifname = ifname,
		.driver = drv,
		.limit_bytes = o->netbuf_limit,
		.queue_num = -1,
		.track_output = o->trigger_output,
	};
	struct dev_netbuf *d;
	int fd;

	d = calloc(1, sizeof *d);
	if (d == NULL)
		return -1;
	d->loop = o->loop;
	ev_timer_init(&d->poll, poll_cb, OUTPUT_POLL_S, OUTPUT_POLL_S);
	d->nb = netbuf_new(&cfg);
	if (d->nb == NULL) {
		free(d);
		return -1;
	}
	if (getenv("REMUS_NETBUF_TRACE") != NULL &&
	    (d->trace = fopen(getenv("REMUS_NETBUF_TRACE"), "ae")) == NULL)
		log_warn("REMUS_NETBUF_TRACE %s", getenv("REMUS_NETBUF_TRACE"));
	fd = netbuf_fd(d->nb);
	if (fd >= 0 && o->loop != NULL) {
		ev_io_init(&d->io, netbuf_io_cb, fd, EV_READ);
		ev_io_start(o->loop, &d->io);
		d->io_active = 1;
	}
	/* From here the engine owns d and tears it down. */
	if (ckpt_add_device(c, o->trigger_output ? &dev_netbuf_watch_ops :
	    &dev_netbuf_ops, d) == -1) {
		int saved_errno = errno;

		dn_teardown(d);
		errno = saved_errno;
		return -1;
	}
	d->next = attached;
	attached = d;
	return 0;
}

void
dev_netbuf_held(struct dev_netbuf_held *h)
{
	struct netbuf_stats st;
	struct dev_netbuf *d;

	memset(h, 0, sizeof *h);
	for (d = attached; d; d = d->next) {
		h->ifaces++;
		if (netbuf_get_stats(d->nb, &st) == -1)
			continue;	/* a scrape is no reason to log */
		h->packets += st.held_now;
		h->bytes += st.backlog_bytes;
		h->drops += st.drops;
	}
}

int
dev_netbuf_attach(struct ckpt *c, const struct remus_devopts *o)
{
	enum netbuf_driver drv = NETBUF_DRIVER_AUTO;
	char *list, *name, *save = NULL;
	int rc = 0;

	if (o->no_net || o->netbuf_if == NULL || o->netbuf_if[0] == '\0')
		return 0;
	if (o->netbuf_driver != NULL &&
	    netbuf_driver_parse(o->netbuf_driver, &drv) == -1) {
		log_warnx("--netbuf-driver: '%s' is not plug, nfqueue or auto",
		    o->netbuf_driver);
		return -1;
	}
	/* State a crashed run left on interfaces that are gone. */
	(void)netbuf_cleanup_stale();
	if ((list = strdup(o->netbuf_if)) == NULL)
		return -1;
	for (name = strtok_r(list, ",", &save); name != NULL;
	    name = strtok_r(NULL, ",", &save)) {
		if (attach_one(c, o, drv, name) == -1) {
			rc = -1;
			break;
		}
	}
	free(list);
	return rc;
}
