/* remusd/ctl-caps.c -- what this build can do (ctl-caps.h). */
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "ctl-caps.h"
#include "domain.h"

static struct json_object *
strings(const char *const *v)
{
	struct json_object *a = json_object_new_array();

	for (; a && *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

struct json_object *
ctl_caps(void)
{
	static const char *const transports[] = { "tcp", "cmd", "blackhole",
	    NULL };
	static const char *const tls[] = { "psk", "x509", "insecure", NULL };
	static const char *const codecs[] = { "zero", "raw", "lz4", "xor_rle",
	    "xor_lz4", NULL };
	static const char *const netbuf[] = { "plug", "nfqueue", NULL };
	static const char *const verbs[] = { "status", "stop", "switchover",
	    "failover", "reprotect", "capabilities", NULL };
	static const char *const drivers[] = { "proc", "xen", NULL };
	struct json_object *o = json_object_new_object(), *g;
	size_t i;

	if (o == NULL)
		return NULL;
	/* Guest drivers as this binary has them, not as the source does. */
	g = json_object_new_array();
	for (i = 0; drivers[i]; i++) {
		char spec[16];

		snprintf(spec, sizeof spec, "%s:", drivers[i]);
		if (domain_ops_lookup(spec, NULL) != NULL)
			json_object_array_add(g,
			    json_object_new_string(drivers[i]));
	}
	json_object_object_add(o, "guest_drivers", g);
	json_object_object_add(o, "transports", strings(transports));
	json_object_object_add(o, "tls", strings(tls));
	json_object_object_add(o, "codecs", strings(codecs));
	json_object_object_add(o, "netbuf_drivers", strings(netbuf));
	json_object_object_add(o, "disk_replication",
	    json_object_new_boolean(1));
	json_object_object_add(o, "fencing", json_object_new_boolean(1));
	json_object_object_add(o, "switchover", json_object_new_boolean(1));
	json_object_object_add(o, "rename", json_object_new_boolean(0));
	json_object_object_add(o, "bandwidth", json_object_new_boolean(0));
	json_object_object_add(o, "control_verbs", strings(verbs));
	return o;
}
