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
 * is paused at T, and no packet of epoch N has left before T), so a test
 * can check that no reply reached a client before the epoch that produced
 * it was released.
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

struct dev_netbuf {
	struct netbuf	*nb;
	FILE		*trace;		/* REMUS_NETBUF_TRACE, or NULL */
	struct ev_loop	*loop;
	ev_io		 io;
	int		 io_active;
};

static void
netbuf_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dev_netbuf *d = container_of(w, struct dev_netbuf, io);

	/* A read error is logged by netbuf; the queue stays bound and the
	 * next readable event retries. */
	(void)netbuf_on_readable(d->nb);
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

	/* The guest is paused already. */
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
	if (d->io_active) {
		ev_io_stop(d->loop, &d->io);
		d->io_active = 0;
	}
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
	.discard_all = dn_discard_all,
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
	};
	struct dev_netbuf *d;
	int fd;

	d = calloc(1, sizeof *d);
	if (d == NULL)
		return -1;
	d->loop = o->loop;
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
	if (ckpt_add_device(c, &dev_netbuf_ops, d) == -1) {
		int saved_errno = errno;

		dn_teardown(d);
		errno = saved_errno;
		return -1;
	}
	return 0;
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
