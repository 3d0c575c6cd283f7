/* remusd/ctl-backup.c -- remusd(8)'s control socket verbs
 * (ctl-backup.h, docs/control.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>

#define LOG_PREFIX "ctl: "
#include "backup.h"
#include "compiler.h"
#include "domain.h"
#include "ctl.h"
#include "ctl-backup.h"
#include "ctl-caps.h"
#include "log.h"
#include "stream-format.h"
#include "transport.h"
#include "util.h"

#define PREPARE_TTL_MS		60000	/* an unused prepare expires */
#define PREPARE_TTL_MAX_MS	3600000
#define PREPARE_MAX		64	/* outstanding at once */

/* One prepare: a session reserved for GUEST, admitted with COOKIE; or
 * (SWITCHOVER) the switchover of the session that receives GUEST now,
 * performed with COOKIE. */
struct prep {
	struct ctl_backup *cb;
	struct prep	*next;
	char		 guest[STREAM_NAME_LEN + 1];
	uint8_t		 cookie[STREAM_COOKIE_LEN];
	char		 hex[2 * STREAM_COOKIE_LEN + 1];
	int		 switchover;
	enum { PREP_WAITING, PREP_BOUND, PREP_OVER } state;
	struct backup	*b;		/* PREP_BOUND: its session */
	int		 result;	/* PREP_OVER: enum backup_result */
	uint64_t	 committed;	/* PREP_OVER: its last epoch */
	/* PREP_OVER after an activation: the guest started here, and the
	 * driver's check that it runs (NULL: none activated, or the driver
	 * cannot say). */
	struct replica_guest guest_here;
	int		(*runs)(const struct replica_guest *);
	ev_timer	 expiry;	/* PREP_WAITING only */
};

struct ctl_backup {
	struct ev_loop	*loop;
	struct ctl	*ctl;
	ctl_backup_each_fn *each;
	void		*arg;
	const char	*listen;	/* NULL: no prepare */
	struct prep	*preps;
	unsigned	 nprep;
};

/* ---- prepare / perform / finish ----------------------------------------- */

static void
prep_free(struct prep *p)
{
	struct ctl_backup *cb = p->cb;
	struct prep **pp;

	ev_timer_stop(cb->loop, &p->expiry);
	for (pp = &cb->preps; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	cb->nprep--;
	free(p);
}

static void
expiry_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	struct prep *p = container_of(w, struct prep, expiry);

	log_info("prepare for %s expired unused: the reservation is gone",
	    p->guest);
	prep_free(p);
}

static struct prep *
prep_by_cookie(struct ctl_backup *cb, const char *hex)
{
	struct prep *p;

	for (p = cb->preps; p; p = p->next)
		if (strcasecmp(p->hex, hex) == 0)
			return p;
	return NULL;
}

void
ctl_backup_set_listen(struct ctl_backup *cb, const char *listen)
{
	if (cb)
		cb->listen = listen;
}

int
ctl_backup_admit(void *arg, struct backup *b, const char *guest,
    const uint8_t *cookie, int switchover, char *why, size_t whylen)
{
	struct ctl_backup *cb = arg;
	struct prep *p, *mine = NULL, *want = NULL;
	const char *what = switchover ? "switchover" : "session";

	/* Each kind of prepare admits its own step only: a session's does
	 * not let a switchover through, nor the other way round. */
	for (p = cb->preps; p; p = p->next) {
		if (cookie && memcmp(p->cookie, cookie, STREAM_COOKIE_LEN) ==
		    0)
			mine = p;
		if (p->state == PREP_WAITING && p->switchover == switchover &&
		    strcmp(p->guest, guest) == 0)
			want = p;
	}
	if (cookie == NULL && want == NULL)
		return 0;	/* nothing prepared for it: as ever */
	if (cookie == NULL) {
		snprintf(why, whylen, "guest %s was prepared%s: the %s must "
		    "bring its cookie (%s)", guest, switchover ? " for a "
		    "switchover" : "", what, switchover ? "remusctl "
		    "switchover COOKIE" : "remus --cookie");
		return -1;
	}
	if (mine == NULL) {
		snprintf(why, whylen, "unknown or expired cookie for %s of "
		    "guest %s", what, guest);
		return -1;
	}
	if (mine->switchover != switchover) {
		snprintf(why, whylen, "cookie %.8s... is a %s's, not a %s's",
		    mine->hex, mine->switchover ? "switchover" : "session",
		    what);
		return -1;
	}
	if (mine->state != PREP_WAITING || strcmp(mine->guest, guest) != 0) {
		snprintf(why, whylen, "cookie %.8s... is for guest %s%s",
		    mine->hex, mine->guest, mine->state != PREP_WAITING ?
		    ", and used" : "");
		return -1;
	}
	ev_timer_stop(cb->loop, &mine->expiry);
	mine->state = PREP_BOUND;
	mine->b = b;
	log_info("prepared %s for %s performed (cookie %.8s...)", what,
	    guest, mine->hex);
	return 0;
}

void
ctl_backup_session_over(struct ctl_backup *cb, struct backup *b, int r)
{
	struct prep *p;

	for (p = cb ? cb->preps : NULL; p; p = p->next)
		if (p->state == PREP_BOUND && p->b == b) {
			p->state = PREP_OVER;
			p->result = r;
			p->committed = backup_committed(b);
			p->b = NULL;
			/* Who runs here now, while the session can still
			 * say: finish checks it later. */
			if (r == BACKUP_SWITCHED_OVER && backup_activated(b,
			    &p->guest_here, &p->runs) == -1) {
				log_warn("prepared switchover of %s: the "
				    "activated guest", p->guest);
				p->runs = NULL;
			}
		}
}

/* The URI a primary should use: the listen address, a wildcard host made
 * this host's name. */
static void
listen_uri(const struct ctl_backup *cb, char *buf, size_t len)
{
	char host[256], port[32], me[256];

	if (transport_parse_addr(cb->listen, host, sizeof host, port,
	    sizeof port) == -1) {
		snprintf(buf, len, "%s", cb->listen);
		return;
	}
	if (host[0] == '\0' || strcmp(host, "*") == 0 ||
	    strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
		if (gethostname(me, sizeof me) == -1)
			snprintf(me, sizeof me, "localhost");
		me[sizeof me - 1] = '\0';
		snprintf(host, sizeof host, "%s", me);
	}
	snprintf(buf, len, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host,
	    port);
}

static unsigned receiving(struct ctl_backup *, const char *guest);

static void
do_prepare(struct ctl_req *r, struct ctl_backup *cb,
    struct json_object *args)
{
	struct json_object *g, *t, *o, *so;
	struct prep *p;
	uint64_t ttl = PREPARE_TTL_MS;
	char uri[300];
	const char *guest;
	size_t i, n;
	int switchover = 0;

	if (cb->listen == NULL) {
		ctl_reply_error(r, "prepare: this remusd does not --listen");
		return;
	}
	if (!json_object_object_get_ex(args, "guest", &g) ||
	    !json_object_is_type(g, json_type_string) ||
	    (n = strlen(guest = json_object_get_string(g))) == 0 ||
	    n > STREAM_NAME_LEN) {
		ctl_reply_error(r, "prepare: want \"guest\": the name remus "
		    "will give (its domain spec, 1..%u characters)",
		    STREAM_NAME_LEN);
		return;
	}
	for (i = 0; i < n; i++)
		if (guest[i] < 0x20 || guest[i] > 0x7e) {
			ctl_reply_error(r, "prepare: the guest name is not "
			    "printable ASCII");
			return;
		}
	if (json_object_object_get_ex(args, "ttl_ms", &t)) {
		int64_t v = json_object_get_int64(t);

		if (!json_object_is_type(t, json_type_int) || v < 1 ||
		    v > PREPARE_TTL_MAX_MS) {
			ctl_reply_error(r, "prepare: ttl_ms wants 1..%u",
			    PREPARE_TTL_MAX_MS);
			return;
		}
		ttl = (uint64_t)v;
	}
	if (json_object_object_get_ex(args, "switchover", &so)) {
		if (!json_object_is_type(so, json_type_boolean)) {
			ctl_reply_error(r, "prepare: switchover wants true or "
			    "false");
			return;
		}
		switchover = json_object_get_boolean(so);
	}
	/* A switchover moves a guest protected here: its session must
	 * receive now (the perform is remusctl switchover on its remus). */
	if (switchover && receiving(cb, guest) == 0) {
		ctl_reply_error(r, "prepare: no session receives guest %s: a "
		    "switchover needs its protection running to this remusd",
		    guest);
		return;
	}
	for (p = cb->preps; p; p = p->next)
		if (p->state == PREP_WAITING && strcmp(p->guest, guest) == 0) {
			ctl_reply_error(r, "prepare: guest %s is prepared "
			    "already (cookie %.8s...)", guest, p->hex);
			return;
		}
	if (cb->nprep >= PREPARE_MAX) {
		ctl_reply_error(r, "prepare: %u prepares outstanding",
		    PREPARE_MAX);
		return;
	}
	p = calloc(1, sizeof *p);
	if (p == NULL || getrandom(p->cookie, sizeof p->cookie, 0) !=
	    (ssize_t)sizeof p->cookie) {
		free(p);
		ctl_reply_error(r, "prepare: %s", strerror(errno));
		return;
	}
	p->cb = cb;
	p->switchover = switchover;
	snprintf(p->guest, sizeof p->guest, "%s", guest);
	for (i = 0; i < STREAM_COOKIE_LEN; i++)
		snprintf(p->hex + 2 * i, 3, "%02x", p->cookie[i]);
	ev_timer_init(&p->expiry, expiry_cb, ttl / 1000., 0.);
	ev_timer_start(cb->loop, &p->expiry);
	p->next = cb->preps;
	cb->preps = p;
	cb->nprep++;
	listen_uri(cb, uri, sizeof uri);
	log_info("prepared a %s for %s (cookie %.8s..., %" PRIu64 " ms)",
	    switchover ? "switchover" : "session", guest, p->hex, ttl);
	o = json_object_new_object();
	json_object_object_add(o, "guest", json_object_new_string(guest));
	json_object_object_add(o, "switchover",
	    json_object_new_boolean(switchover));
	json_object_object_add(o, "cookie", json_object_new_string(p->hex));
	json_object_object_add(o, "uri", json_object_new_string(uri));
	json_object_object_add(o, "expires_in_ms",
	    json_object_new_uint64(ttl));
	ctl_reply(r, o);
}

static void
do_finish(struct ctl_req *r, struct ctl_backup *cb,
    struct json_object *args)
{
	struct json_object *c, *o;
	struct backup_info bi;
	struct prep *p;

	if (!json_object_object_get_ex(args, "cookie", &c) ||
	    !json_object_is_type(c, json_type_string)) {
		ctl_reply_error(r, "finish: want \"cookie\"");
		return;
	}
	p = prep_by_cookie(cb, json_object_get_string(c));
	if (p == NULL) {
		ctl_reply_error(r, "finish: no prepare with that cookie (never "
		    "made, expired, or finished already)");
		return;
	}
	if (p->state == PREP_WAITING) {
		ctl_reply_error(r, "finish: guest %s: not performed yet (no "
		    "session brought the cookie)", p->guest);
		return;
	}
	if (p->state == PREP_BOUND && p->switchover) {
		ctl_reply_error(r, "finish: guest %s: the switchover is under "
		    "way (ask again)", p->guest);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "guest", json_object_new_string(p->guest));
	if (p->state == PREP_BOUND) {
		backup_get_info(p->b, &bi);
		if (bi.committed == 0) {
			json_object_put(o);
			ctl_reply_error(r, "finish: guest %s: its session has "
			    "committed nothing yet", p->guest);
			return;
		}
		json_object_object_add(o, "state",
		    json_object_new_string(bi.state));
		json_object_object_add(o, "committed_epoch",
		    json_object_new_uint64(bi.committed));
		json_object_object_add(o, "peer",
		    json_object_new_string(bi.peer));
		/* Protected from now on: the reservation has done its job. */
		prep_free(p);
		ctl_reply(r, o);
		return;
	}
	/* Over: only a switchover ends in a domain running here, and
	 * finish says so only if it still runs. */
	if (p->result == BACKUP_SWITCHED_OVER) {
		struct replica_guest *rg = &p->guest_here;
		int runs;

		if (p->runs == NULL) {
			json_object_put(o);
			ctl_reply_error(r, "finish: guest %s: switched over at "
			    "epoch %" PRIu64 ", but this guest driver cannot "
			    "say whether it runs", p->guest, p->committed);
			prep_free(p);
			return;
		}
		runs = p->runs(rg);
		if (runs != 1) {
			json_object_put(o);
			ctl_reply_error(r, "finish: guest %s: switched over at "
			    "epoch %" PRIu64 ", but its copy here (%s %" PRIu64
			    ") %s", p->guest, p->committed, rg->id_kind, rg->id,
			    runs == 0 ? "no longer runs" : strerror(errno));
			prep_free(p);
			return;
		}
		json_object_object_add(o, "state",
		    json_object_new_string("switched over"));
		json_object_object_add(o, "committed_epoch",
		    json_object_new_uint64(p->committed));
		json_object_object_add(o, "running_here",
		    json_object_new_boolean(1));
		json_object_object_add(o, "name", json_object_new_string(
		    rg->name[0] ? rg->name : p->guest));
		json_object_object_add(o, rg->id_kind,
		    json_object_new_uint64(rg->id));
		log_info("finish: %s switched over at epoch %" PRIu64 " runs "
		    "here as %s (%s %" PRIu64 ")", p->guest, p->committed,
		    rg->name[0] ? rg->name : p->guest, rg->id_kind, rg->id);
		prep_free(p);
		ctl_reply(r, o);
		return;
	}
	json_object_put(o);
	ctl_reply_error(r, "finish: guest %s: the %s failed: %s (last "
	    "committed epoch %" PRIu64 ")", p->guest, p->switchover ?
	    "switchover" : "session",
	    backup_result_str((enum backup_result)p->result), p->committed);
	prep_free(p);
}

/* The outstanding prepares, for status. */
static struct json_object *
preps_json(struct ctl_backup *cb)
{
	struct json_object *a = json_object_new_array(), *o;
	struct prep *p;
	static const char *const names[] = { "waiting", "performed", "over" };

	for (p = cb->preps; p; p = p->next) {
		o = json_object_new_object();
		json_object_object_add(o, "guest",
		    json_object_new_string(p->guest));
		json_object_object_add(o, "state",
		    json_object_new_string(names[p->state]));
		json_object_object_add(o, "switchover",
		    json_object_new_boolean(p->switchover));
		if (p->state == PREP_WAITING)
			json_object_object_add(o, "expires_in_ms",
			    json_object_new_uint64((uint64_t)(1000. *
			    ev_timer_remaining(cb->loop, &p->expiry))));
		json_object_array_add(a, o);
	}
	return a;
}

static int
add_session(struct backup *b, int over, void *arg)
{
	struct json_object *a = arg, *o = json_object_new_object();
	struct backup_info bi;

	if (o == NULL)
		return 1;
	backup_get_info(b, &bi);
	json_object_object_add(o, "guest", json_object_new_string(bi.guest));
	json_object_object_add(o, "peer", json_object_new_string(bi.peer));
	json_object_object_add(o, "state", json_object_new_string(
	    over ? backup_result_str(backup_get_result(b)) : bi.state));
	json_object_object_add(o, "committed_epoch",
	    json_object_new_uint64(bi.committed));
	json_object_object_add(o, "last_heartbeat_age_ms",
	    json_object_new_uint64(bi.last_rx_age_ms));
	json_object_array_add(a, o);
	return 0;
}

/* The session of guest NAME that still receives, or NULL. */
struct find {
	const char	*name;
	struct backup	*found;
	unsigned	 n;
};

static int
find_session(struct backup *b, int over, void *arg)
{
	struct find *f = arg;
	struct backup_info bi;

	if (over)
		return 0;
	backup_get_info(b, &bi);
	if (f->name == NULL || strcmp(f->name, bi.guest) == 0) {
		f->found = b;
		f->n++;
	}
	return 0;
}

/* Sessions receiving GUEST now. */
static unsigned
receiving(struct ctl_backup *cb, const char *guest)
{
	struct find f = { .name = guest };

	cb->each(cb->arg, find_session, &f);
	return f.n;
}

static void
do_failover(struct ctl_req *r, struct ctl_backup *cb,
    struct json_object *args)
{
	struct json_object *g;
	struct find f = { 0 };

	if (json_object_object_get_ex(args, "guest", &g) &&
	    json_object_is_type(g, json_type_string))
		f.name = json_object_get_string(g);
	cb->each(cb->arg, find_session, &f);
	if (f.n == 0) {
		ctl_reply_error(r, "failover: no session receiving%s%s",
		    f.name ? " guest " : "", f.name ? f.name : "");
		return;
	}
	if (f.n > 1) {
		ctl_reply_error(r, "failover: %u sessions: name the guest",
		    f.n);
		return;
	}
	/* Through the policy: fenced within the window, then activated;
	 * the answer says it started, status says how it ends. */
	if (backup_failover(f.found, "manual failover (control socket)") ==
	    -1) {
		ctl_reply_error(r, "failover: %s", strerror(errno));
		return;
	}
	ctl_reply(r, NULL);
}

static void
handle(struct ctl_req *r, const char *verb, struct json_object *args,
    void *arg)
{
	struct ctl_backup *cb = arg;

	if (strcmp(verb, "status") == 0) {
		struct json_object *o = json_object_new_object();
		struct json_object *a = json_object_new_array();

		cb->each(cb->arg, add_session, a);
		json_object_object_add(o, "role",
		    json_object_new_string("backup"));
		json_object_object_add(o, "sessions", a);
		json_object_object_add(o, "prepared", preps_json(cb));
		ctl_reply(r, o);
	} else if (strcmp(verb, "failover") == 0)
		do_failover(r, cb, args);
	else if (strcmp(verb, "prepare") == 0)
		do_prepare(r, cb, args);
	else if (strcmp(verb, "finish") == 0)
		do_finish(r, cb, args);
	else if (strcmp(verb, "capabilities") == 0)
		ctl_reply_caps(r, "remusd");
	else
		ctl_reply_error(r, "unknown verb \"%s\" (remusd knows status, "
		    "failover, prepare, finish, capabilities)", verb);
}

struct ctl_backup *
ctl_backup_new(struct ev_loop *loop, const char *path,
    ctl_backup_each_fn *each, void *arg)
{
	struct ctl_backup *cb;

	cb = calloc(1, sizeof *cb);
	if (cb == NULL)
		return NULL;
	cb->loop = loop;
	cb->each = each;
	cb->arg = arg;
	cb->ctl = ctl_new(loop, path, handle, cb);
	if (cb->ctl == NULL) {
		free(cb);
		return NULL;
	}
	return cb;
}

void
ctl_backup_free(struct ctl_backup *cb)
{
	if (cb == NULL)
		return;
	while (cb->preps)
		prep_free(cb->preps);
	ctl_free(cb->ctl);
	free(cb);
}
