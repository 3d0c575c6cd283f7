/* remusd/ctl-caps.c -- the capabilities verb's answer (ctl-caps.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "caps.h"
#include "ctl.h"
#include "ctl-caps.h"

struct json_object *
ctl_caps(const char *program)
{
	struct json_object *o;
	char *s;

	/* The very object --capabilities prints: one builder, so the two
	 * cannot drift apart (ctl-verbs.sh compares them). */
	s = caps_json(program);
	if (s == NULL)
		return NULL;
	o = json_tokener_parse(s);
	free(s);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	if (o == NULL)
		errno = EINVAL;
	return o;
}

void
ctl_reply_caps(struct ctl_req *r, const char *program)
{
	struct json_object *o = ctl_caps(program);

	if (o == NULL)
		ctl_reply_error(r, "capabilities: %s", strerror(errno));
	else
		ctl_reply(r, o);
}
