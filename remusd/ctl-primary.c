/* remusd/ctl-primary.c -- remus(8)'s control socket verbs
 * (ctl-primary.h, docs/control.md). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define LOG_PREFIX "ctl: "
#include "checkpoint.h"
#include "ctl.h"
#include "ctl-caps.h"
#include "ctl-primary.h"
#include "devices.h"
#include "hist.h"
#include "log.h"
#include "stats.h"
#include "stream-format.h"
#include "util.h"

/* Smoothing of the per-epoch figures: about the last 8 epochs count. */
#define EWMA_SHIFT	3

struct ctl_primary {
	struct ctl	*ctl;
	struct ckpt	*ckpt;
	struct stats	*stats;
	const char	*guest;
	const struct ctl_primary_ops *ops;
	void		*arg;
	/* Recent periodic (not full) epochs, smoothed. */
	uint64_t	 period_us, wire_bytes, pause_us;
	struct ckpt_epoch_stats last;
	int		 have_last;
	struct ctl_req	*switchover;	/* waiting for the engine's answer */
};

void
ctl_primary_epoch(struct ctl_primary *p, const struct ckpt_epoch_stats *st)
{
	if (p == NULL)
		return;
	p->last = *st;
	p->have_last = 1;
	if (st->full)
		return;		/* all memory: says nothing of the rate */
#define EWMA(acc, v) ((acc) == 0 ? (v) : (acc) - ((acc) >> EWMA_SHIFT) + \
	((v) >> EWMA_SHIFT))
	if (st->period_us)
		p->period_us = EWMA(p->period_us, st->period_us);
	p->wire_bytes = EWMA(p->wire_bytes, st->wire_bytes);
	p->pause_us = EWMA(p->pause_us, st->pause_us);
#undef EWMA
}

static void
add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

/* DONE of TOTAL bytes since START_US (0: not started): the rate so far
 * and the time left at it (null until there is a rate; 0 once done). */
static void
add_progress(struct json_object *o, uint64_t done, uint64_t total,
    uint64_t start_us, uint64_t now)
{
	double secs = start_us && now > start_us ?
	    (double)(now - start_us) / 1e6 : 0;
	double rate = secs > 0 ? (double)done / secs : 0;

	add_u64(o, "done_bytes", done);
	add_u64(o, "total_bytes", total);
	json_object_object_add(o, "rate_bytes_per_s",
	    json_object_new_double(rate));
	if (done >= total)
		json_object_object_add(o, "eta_s", json_object_new_double(0));
	else if (rate > 0)
		json_object_object_add(o, "eta_s", json_object_new_double(
		    (double)(total - done) / rate));
	else
		json_object_object_add(o, "eta_s", NULL);
}

/* The full first checkpoint while it is sent (else null), and each disk
 * that remus syncs itself. */
static void
add_sync_progress(struct json_object *o, const struct ctl_primary *p,
    const struct ckpt_info *ci, uint64_t now)
{
	struct json_object *f, *a, *d;
	struct dev_diskbuf_sync ds;
	uint64_t done, total, start;
	size_t i;

	if (ckpt_full_progress(p->ckpt, &done, &total, &start)) {
		f = json_object_new_object();
		if (ci->page_size) {
			add_u64(f, "done_pages", done / ci->page_size);
			add_u64(f, "total_pages", total / ci->page_size);
		}
		add_progress(f, done, total, start, now);
		json_object_object_add(o, "full_checkpoint", f);
	} else
		json_object_object_add(o, "full_checkpoint", NULL);
	a = json_object_new_array();
	for (i = 0; dev_diskbuf_sync_disk(i, &ds) == 0; i++) {
		d = json_object_new_object();
		json_object_object_add(d, "disk",
		    json_object_new_string(ds.name));
		json_object_object_add(d, "state",
		    json_object_new_string(ds.state));
		add_progress(d, ds.done, ds.total, ds.start_us, now);
		add_u64(d, "sent_bytes", ds.sent);
		json_object_array_add(a, d);
	}
	json_object_object_add(o, "disk_sync_disks", a);
}

static struct json_object *
status(struct ctl_primary *p)
{
	struct json_object *o = json_object_new_object(), *h;
	struct ckpt_info ci;
	struct stats_totals tot;
	struct dev_netbuf_held held;
	const struct hist *pause;
	uint64_t now = now_us();

	if (o == NULL)
		return NULL;
	ckpt_get_info(p->ckpt, &ci);
	stats_get_totals(p->stats, &tot);
	pause = stats_hist(p->stats, STATS_PAUSE);
	dev_netbuf_held(&held);

	json_object_object_add(o, "role", json_object_new_string("primary"));
	json_object_object_add(o, "guest", json_object_new_string(p->guest));
	json_object_object_add(o, "backup", json_object_new_string(
	    p->ops && p->ops->backup && p->ops->backup(p->arg) ?
	    p->ops->backup(p->arg) : ci.backup));
	json_object_object_add(o, "state", json_object_new_string(ci.state));
	json_object_object_add(o, "phase", json_object_new_string(ci.phase));
	json_object_object_add(o, "switchover",
	    json_object_new_string(ci.switchover));
	add_u64(o, "epoch", ci.epoch);
	add_u64(o, "acked", ci.acked);
	add_u64(o, "ack_lag_epochs", ci.epoch - ci.acked);
	add_u64(o, "epochs_acked", tot.epochs);
	add_u64(o, "interval_ms", ci.interval_ms);
	/* The rate the guest is really checkpointed at: an epoch that waits
	 * for a late ACK stretches the period, and that shows here. */
	json_object_object_add(o, "rate_hz", json_object_new_double(
	    p->period_us ? 1e6 / (double)p->period_us : 0.));
	add_u64(o, "period_us", p->period_us);
	add_u64(o, "pause_us_p50", hist_pct(pause, 50));
	add_u64(o, "pause_us_p99", hist_pct(pause, 99));
	add_u64(o, "bytes_per_epoch", p->wire_bytes);
	add_u64(o, "ack_rtt_us", p->have_last ? p->last.ack_rtt_us : 0);
	if (ci.last_ack_us)
		add_u64(o, "last_ack_age_ms", (now - ci.last_ack_us) / 1000);
	else
		json_object_object_add(o, "last_ack_age_ms", NULL);
	h = json_object_new_object();
	add_u64(h, "interfaces", held.ifaces);
	add_u64(h, "packets", held.packets);
	add_u64(h, "bytes", held.bytes);
	add_u64(h, "drops", held.drops);
	add_u64(h, "since_ms", ci.held_since_us && now > ci.held_since_us ?
	    (now - ci.held_since_us) / 1000 : 0);
	json_object_object_add(o, "held_output", h);
	json_object_object_add(o, "disk_sync",
	    json_object_new_string(dev_diskbuf_sync_state()));
	add_sync_progress(o, p, &ci, now);
	return o;
}

static void
do_stop(struct ctl_req *r, struct ctl_primary *p)
{
	struct json_object *o;
	struct ckpt_info ci;

	log_info("stop requested on the control socket: orderly shutdown");
	/* As SIGTERM: END after the last complete epoch, devices released;
	 * while output is held after a loss, the stop completes when the
	 * policy releases it (then the answer says "stopping"). */
	ckpt_stop(p->ckpt);
	ckpt_get_info(p->ckpt, &ci);
	o = json_object_new_object();
	json_object_object_add(o, "result", json_object_new_string(
	    ckpt_result_str(ckpt_get_result(p->ckpt))));
	json_object_object_add(o, "state", json_object_new_string(ci.state));
	add_u64(o, "acked", ci.acked);
	ctl_reply(r, o);
}

static void
do_reprotect(struct ctl_req *r, struct ctl_primary *p,
    struct json_object *args)
{
	struct json_object *h;
	char why[256];

	if (!json_object_object_get_ex(args, "host", &h) ||
	    !json_object_is_type(h, json_type_string) ||
	    json_object_get_string_len(h) == 0) {
		ctl_reply_error(r, "reprotect: want \"host\": the new backup "
		    "(host[:port], tcp://, tls://)");
		return;
	}
	if (p->ops == NULL || p->ops->reprotect == NULL) {
		ctl_reply_error(r, "reprotect: this remus has no backup to "
		    "change (-b or -s)");
		return;
	}
	why[0] = '\0';
	if (p->ops->reprotect(p->arg, json_object_get_string(h), why,
	    sizeof why) == -1) {
		ctl_reply_error(r, "reprotect %s: %s",
		    json_object_get_string(h), why);
		return;
	}
	ctl_reply(r, status(p));
}

/* The engine's answer to a switchover: the requester waits for it. */
static void
switchover_done(void *arg, int ok, uint64_t epoch, uint64_t downtime_us,
    const char *why)
{
	struct ctl_primary *p = arg;
	struct ctl_req *r = p->switchover;
	struct json_object *o;

	p->switchover = NULL;
	if (r == NULL)
		return;
	if (!ok) {
		ctl_reply_error(r, "switchover: %s", why ? why : "failed");
		return;
	}
	o = json_object_new_object();
	add_u64(o, "epoch", epoch);
	add_u64(o, "downtime_us", downtime_us);
	json_object_object_add(o, "downtime_ms",
	    json_object_new_double((double)downtime_us / 1000.));
	ctl_reply(r, o);
}

/* "cookie": the 32 hex digits of remusd's prepare (the perform). */
static int
parse_cookie(struct json_object *args, uint8_t out[STREAM_COOKIE_LEN],
    int *have)
{
	struct json_object *c;
	const char *s;
	unsigned i, v;

	*have = 0;
	if (!json_object_object_get_ex(args, "cookie", &c))
		return 0;
	if (!json_object_is_type(c, json_type_string) ||
	    strlen(s = json_object_get_string(c)) != 2 * STREAM_COOKIE_LEN)
		return -1;
	for (i = 0; i < STREAM_COOKIE_LEN; i++) {
		if (!isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*have = 1;
	return 0;
}

static void
do_switchover(struct ctl_req *r, struct ctl_primary *p,
    struct json_object *args)
{
	uint8_t cookie[STREAM_COOKIE_LEN];
	int have;

	if (parse_cookie(args, cookie, &have) == -1) {
		ctl_reply_error(r, "switchover: \"cookie\" wants the 32 hex "
		    "digits remusd's prepare printed");
		return;
	}
	if (p->switchover != NULL) {
		ctl_reply_error(r, "switchover: one is under way");
		return;
	}
	p->switchover = r;
	if (ckpt_switchover(p->ckpt, have ? cookie : NULL, switchover_done,
	    p) == -1) {
		p->switchover = NULL;
		ctl_reply_error(r, "switchover: %s", errno == EOPNOTSUPP ?
		    "this guest driver cannot destroy its copy" :
		    errno == EAGAIN ? "the guest is not protected now" :
		    strerror(errno));
	}
}

static void
handle(struct ctl_req *r, const char *verb, struct json_object *args,
    void *arg)
{
	struct ctl_primary *p = arg;

	if (strcmp(verb, "status") == 0)
		ctl_reply(r, status(p));
	else if (strcmp(verb, "stop") == 0)
		do_stop(r, p);
	else if (strcmp(verb, "capabilities") == 0)
		ctl_reply_caps(r, "remus");
	else if (strcmp(verb, "reprotect") == 0)
		do_reprotect(r, p, args);
	else if (strcmp(verb, "switchover") == 0)
		do_switchover(r, p, args);
	else if (strcmp(verb, "failover") == 0)
		ctl_reply_error(r, "failover is the backup's: ask remusd's "
		    "socket (remusctl -b failover)");
	else
		ctl_reply_error(r, "unknown verb \"%s\" (remus knows status, "
		    "stop, switchover, reprotect, capabilities)", verb);
}

struct ctl_primary *
ctl_primary_new(struct ev_loop *loop, const char *path, struct ckpt *c,
    struct stats *st, const char *guest, const struct ctl_primary_ops *ops,
    void *arg)
{
	struct ctl_primary *p;

	p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	p->ckpt = c;
	p->stats = st;
	p->guest = guest;
	p->ops = ops;
	p->arg = arg;
	p->ctl = ctl_new(loop, path, handle, p);
	if (p->ctl == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void
ctl_primary_free(struct ctl_primary *p)
{
	if (p == NULL)
		return;
	/* The engine answered (or never will): the socket goes with its
	 * requests. */
	p->switchover = NULL;
	ctl_free(p->ctl);
	free(p);
}
