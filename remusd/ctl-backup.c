/* remusd/ctl-backup.c -- remusd(8)'s control socket verbs
 * (ctl-backup.h, docs/control.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define LOG_PREFIX "ctl: "
#include "backup.h"
#include "ctl.h"
#include "ctl-backup.h"
#include "ctl-caps.h"
#include "log.h"

struct ctl_backup {
	struct ctl	*ctl;
	ctl_backup_each_fn *each;
	void		*arg;
};

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
		ctl_reply(r, o);
	} else if (strcmp(verb, "failover") == 0)
		do_failover(r, cb, args);
	else if (strcmp(verb, "capabilities") == 0)
		ctl_reply(r, ctl_caps());
	else
		ctl_reply_error(r, "unknown verb \"%s\" (remusd knows status, "
		    "failover, capabilities)", verb);
}

struct ctl_backup *
ctl_backup_new(struct ev_loop *loop, const char *path,
    ctl_backup_each_fn *each, void *arg)
{
	struct ctl_backup *cb;

	cb = calloc(1, sizeof *cb);
	if (cb == NULL)
		return NULL;
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
	ctl_free(cb->ctl);
	free(cb);
}
