/* remusd/caps.c -- the capabilities of this build, as JSON (caps.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "caps.h"
#include "devices.h"
#include "domain.h"
#include "netbuf.h"
#include "stream-format.h"
#include "stream.h"
#include "transport.h"
#include "uri.h"

/* Names here are identifiers from our own tables: no escaping needed,
 * but say so if one ever holds a character JSON would need escaped. */
static void
jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			fputc('?', f);
		else
			fputc(*s, f);
	fputc('"', f);
}

static void
list_begin(FILE *f, const char *key)
{
	fprintf(f, ",\"%s\":[", key);
}

static void
list_item(FILE *f, int *first, const char *s)
{
	if (!*first)
		fputc(',', f);
	*first = 0;
	jstr(f, s);
}

char *
caps_json(const char *program)
{
	const struct transport_ops *tops[] = { &transport_tcp_ops,
	    &transport_cmd_ops, &transport_blackhole_ops };
	const enum netbuf_driver nbd[] = { NETBUF_DRIVER_PLUG,
	    NETBUF_DRIVER_NFQUEUE, NETBUF_DRIVER_AUTO };
	const struct domain_ops *d;
	const struct replica_ops *rp;
	static const char *const remus_verbs[] = { "status", "stop",
	    "switchover", "reprotect", "capabilities", NULL };
	static const char *const remusd_verbs[] = { "status", "failover",
	    "prepare", "finish", "capabilities", NULL };
	const char *const *verbs = strcmp(program, "remusd") == 0 ?
	    remusd_verbs : remus_verbs;
	const char *enc;
	char *buf = NULL;
	size_t len = 0, i;
	int first;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (f == NULL)
		return NULL;
	fputs("{\"program\":", f);
	jstr(f, program);
	fprintf(f, ",\"version\":\"%s\",\"stream_version\":%u", REMUS_VERSION,
	    STREAM_VERSION);

	list_begin(f, "guest_drivers");
	for (first = 1, i = 0; (d = domain_ops_nth(i)) != NULL; i++)
		list_item(f, &first, d->name);
	fputc(']', f);
	list_begin(f, "replica_drivers");
	for (first = 1, i = 0; (rp = replica_ops_nth(i)) != NULL; i++)
		list_item(f, &first, rp->name);
	fputc(']', f);

	list_begin(f, "transports");
	for (first = 1, i = 0; i < sizeof tops / sizeof tops[0]; i++)
		list_item(f, &first, tops[i]->name);
	fputc(']', f);
	/* "" is host[:port] without a scheme. */
	list_begin(f, "uri_schemes");
	first = 1;
	list_item(f, &first, "");
	for (i = 0; uri_schemes[i] != NULL; i++)
		list_item(f, &first, uri_schemes[i]);
	fputc(']', f);
	fprintf(f, ",\"default_port\":%u", TRANSPORT_DEFAULT_PORT);

	list_begin(f, "codecs");
	for (first = 1, i = 0; (enc = stream_enc_name((unsigned)i)) != NULL;
	    i++)
		list_item(f, &first, enc);
	fputc(']', f);

	fputs(",\"netbuf\":{", f);
	fputs("\"drivers\":[", f);
	for (first = 1, i = 0; i < sizeof nbd / sizeof nbd[0]; i++)
		list_item(f, &first, netbuf_driver_name(nbd[i]));
	fputs("]}", f);

	/* The disks: replicated per epoch (--disk, remusd --disk), up to
	 * max_disks per guest matched by name, served by remus itself or by
	 * remus-diskd (--disk-server), synchronised first, and again by
	 * the same live sync when remus reconnects (--disk-sync). */
	fprintf(f, ",\"disk\":{\"replication\":true,\"initial_sync\":true,"
	    "\"disk_server\":true,\"resync_on_reconnect\":true,"
	    "\"max_disks\":%d,\"per_guest\":true}", STREAM_DISKS_MAX);
	/* xl's -e: the activated guest gets no guardian. */
	fputs(",\"no_guardian\":true", f);
	/* --dname: the backup's configuration decides the activated
	 * guest's name (docs/link.md). */
	fputs(",\"rename\":true", f);
	fputs(",\"bandwidth\":{\"cap\":true,\"unit\":\"Mbit/s\","
	    "\"disk_sync\":true}", f);
	fputs(",\"fencing\":{\"fence_cmd\":true,\"no_fence\":true,"
	    "\"fence_backup\":true}", f);
	fputs(",\"tls\":{\"versions\":[\"1.3\"],\"modes\":[\"psk\","
	    "\"x509\",\"insecure\"],\"library\":", f);
	{
		char lib[64];

		snprintf(lib, sizeof lib, "GnuTLS %s",
		    gnutls_check_version(NULL));
		jstr(f, lib);
	}
	fputc('}', f);
	fputs(",\"device_tools\":{\"modes\":[\"exec\",\"coproc\"],"
	    "\"steps\":[\"0\",\"1\",\"2\",\"3\",\"activate\"]}", f);
	fputs(",\"reconnect\":true", f);
	/* What this program's control socket answers (docs/control.md):
	 * the dispatchers in ctl-primary.c and ctl-backup.c; ctl-verbs.sh
	 * asks each listed verb. */
	list_begin(f, "control_verbs");
	for (first = 1, i = 0; verbs[i] != NULL; i++)
		list_item(f, &first, verbs[i]);
	fputs("]}", f);
	if (fclose(f) != 0) {
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	return buf;
}

int
caps_print(FILE *out, const char *program)
{
	char *s = caps_json(program);

	if (s == NULL)
		return -1;
	fprintf(out, "%s\n", s);
	free(s);
	return fflush(out) == 0 ? 0 : -1;
}
