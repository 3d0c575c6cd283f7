/* domain/xen-policy.c -- the backup's check of a Xen twin's configuration
 * (xen-policy.h), on the libxl JSON as it came in the stream, before
 * libxl sees it.
 *
 * Field names are libxl's (tools/libs/light/libxl_types.idl, as
 * libxl_domain_config_to_json writes them: "type.pv" for the keyed union
 * of b_info).  An allow-list where a field names a host resource (a file,
 * a program, a bridge), and a refusal of any pass-through of host hardware
 * or host directories at all.  Fields this file does not know are left to
 * libxl: they cannot name host resources in the libxl versions we build
 * against, and a newer libxl that adds one gets a line here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "diskmap.h"
#include "util.h"
#include "xen-policy.h"

/* Xen's own hotplug scripts, which libxl finds here by bare name. */
#define XEN_SCRIPT_DIR	"/etc/xen/scripts/"

static int
listed(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* A hotplug script the backup's admin installed with Xen: a bare name
 * (libxl runs XEN_SCRIPT_DIR/name) or that path, the name without '/'
 * or a leading dot. */
static int
xen_script(const char *s)
{
	if (strncmp(s, XEN_SCRIPT_DIR, strlen(XEN_SCRIPT_DIR)) == 0)
		s += strlen(XEN_SCRIPT_DIR);
	return *s != '\0' && *s != '.' && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(s);
}

/* OBJ's string member KEY, or NULL when absent, null or "". */
static const char *
str_of(struct json_object *obj, const char *key)
{
	struct json_object *v;
	const char *s;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return s && *s ? s : NULL;
}

/* A member that is present and not a string (a number where a path was
 * expected) is refused too: libxl would read it somehow. */
static int
field(struct json_object *obj, const char *key, const char *where,
    const char *const *allowed, const char *what, const char *flag,
    char *why, size_t len)
{
	struct json_object *v;
	const char *s;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return util_refuse(why, len, EPERM,
		    "%s.%s: not a string", where, key);
	s = json_object_get_string(v);
	if (s == NULL || *s == '\0')
		return 0;
	if (strcmp(key, "script") == 0 && xen_script(s))
		return 0;
	if (!listed(allowed, s))
		return util_refuse(why, len, EPERM,
		    "%s.%s \"%.200s\" is not an allowed "
		    "%s (%s)", where, key, s, what, flag);
	return 0;
}

/* Refused whenever present and not empty: host hardware, host paths. */
static int
must_be_empty(struct json_object *obj, const char *key, const char *where,
    char *why, size_t len)
{
	struct json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if ((json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) == 0) ||
	    (json_object_is_type(v, json_type_object) &&
	    json_object_object_length(v) == 0))
		return 0;
	return util_refuse(why, len, EPERM,
	    "%s%s%s: passing host devices or paths to a "
	    "twin is not allowed on this backup", where, *where ? "." : "",
	    key);
}

/* The twin's disks are the images remusd was given (--disk), each matched
 * to its vdev (diskmap.h); the driver puts them in place of whatever path
 * the stream names (the primary's device means nothing here).  Every disk
 * of the twin needs its image, and every image its disk: a disk left out
 * would be the primary's path on this host, an image left out a copy
 * nobody uses.  Their hotplug script is run as root: one of
 * --allow-script, or none (libxl's default). */
static int
check_disks(const struct xen_policy *p, struct json_object *cfg, char *why,
    size_t len)
{
	static const struct diskmap none;
	const struct diskmap *m = p->disks ? p->disks : &none;
	struct json_object *a, *d;
	const char *vdev[DISKMAP_MAX];
	size_t idx[DISKMAP_MAX];
	char where[32];
	size_t i, n = 0;

	/* No disks at all is the empty list: images given for the guest
	 * must still be used. */
	if (!json_object_object_get_ex(cfg, "disks", &a) ||
	    json_object_is_type(a, json_type_null))
		a = NULL;
	else if (!json_object_is_type(a, json_type_array))
		return util_refuse(why, len, EPERM, "disks: not an array");
	else
		n = json_object_array_length(a);
	if (n > 0 && m->n == 0)
		return util_refuse(why, len, EPERM,
		    "disks[0] \"%.200s\": this backup has "
		    "no disk image for the twin (--disk)",
		    str_of(json_object_array_get_idx(a, 0), "pdev_path") ?
		    str_of(json_object_array_get_idx(a, 0), "pdev_path") : "");
	if (n > DISKMAP_MAX)
		return util_refuse(why, len, EPERM,
		    "disks: %zu disks, at most %d are "
		    "replicated", n, DISKMAP_MAX);
	for (i = 0; i < n; i++) {
		d = json_object_array_get_idx(a, i);
		snprintf(where, sizeof where, "disks[%zu]", i);
		if (!json_object_is_type(d, json_type_object))
			return util_refuse(why, len, EPERM,
			    "%s: not an object", where);
		vdev[i] = str_of(d, "vdev");
		if (vdev[i] == NULL || !diskmap_name_ok(vdev[i]))
			return util_refuse(why, len, EPERM,
			    "%s.vdev \"%.40s\": not a disk "
			    "name remus can match", where, vdev[i] ? vdev[i] :
			    "");
		if (field(d, "script", where, p->scripts, "hotplug script",
		    "--allow-script", why, len) == -1)
			return -1;
	}
	if (diskmap_match(m, vdev, n, "the domain", idx, why, len) == -1) {
		errno = EPERM;		/* WHY says which disk */
		return -1;
	}
	return 0;
}

static int
check_nics(const struct xen_policy *p, struct json_object *cfg, char *why,
    size_t len)
{
	struct json_object *a, *n;
	char where[32];
	size_t i;

	if (!json_object_object_get_ex(cfg, "nics", &a) ||
	    json_object_is_type(a, json_type_null))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return util_refuse(why, len, EPERM, "nics: not an array");
	for (i = 0; i < json_object_array_length(a); i++) {
		n = json_object_array_get_idx(a, i);
		snprintf(where, sizeof where, "nics[%zu]", i);
		if (!json_object_is_type(n, json_type_object))
			return util_refuse(why, len, EPERM,
			    "%s: not an object", where);
		/* No bridge named: libxl's default, xenbr0, which must be
		 * allowed like any other. */
		if (str_of(n, "bridge") == NULL &&
		    !listed(p->bridges, "xenbr0"))
			return util_refuse(why, len, EPERM,
			    "%s.bridge (default xenbr0) is "
			    "not an allowed bridge (--allow-bridge)", where);
		if (field(n, "bridge", where, p->bridges, "bridge",
		    "--allow-bridge", why, len) == -1 ||
		    field(n, "script", where, p->scripts, "hotplug script",
		    "--allow-script", why, len) == -1 ||
		    field(n, "gatewaydev", where, p->bridges, "bridge",
		    "--allow-bridge", why, len) == -1)
			return -1;
	}
	return 0;
}

static int
check_build(const struct xen_policy *p, struct json_object *cfg, char *why,
    size_t len)
{
	static const char *const files[] = { "kernel", "ramdisk",
	    "device_tree", "stubdomain_kernel", "stubdomain_ramdisk", NULL };
	static const char *const progs[] = { "device_model", "bootloader",
	    NULL };
	static const char *const host[] = { "iomem", "ioports", "irqs", NULL };
	/* Kernels and firmware inside the per-type part. */
	static const struct { const char *type, *key; int prog; } typed[] = {
		{ "type.pv", "kernel", 0 }, { "type.pv", "ramdisk", 0 },
		{ "type.pv", "bootloader", 1 },
		{ "type.pvh", "pvshim_path", 0 },
		{ "type.hvm", "firmware", 0 },
		{ "type.hvm", "acpi_firmware", 0 },
		{ "type.hvm", "smbios_firmware", 0 },
		{ "type.hvm", "system_firmware", 0 },
	};
	struct json_object *b, *t;
	char where[32];
	size_t i;

	if (!json_object_object_get_ex(cfg, "b_info", &b) ||
	    json_object_is_type(b, json_type_null))
		return 0;
	if (!json_object_is_type(b, json_type_object))
		return util_refuse(why, len, EPERM, "b_info: not an object");
	for (i = 0; files[i]; i++)
		if (field(b, files[i], "b_info", p->kernels, "kernel or "
		    "ramdisk", "--allow-kernel", why, len) == -1)
			return -1;
	for (i = 0; progs[i]; i++)
		if (field(b, progs[i], "b_info", p->device_models, "device "
		    "model or bootloader", "--allow-device-model", why,
		    len) == -1)
			return -1;
	for (i = 0; host[i]; i++)
		if (must_be_empty(b, host[i], "b_info", why, len) == -1)
			return -1;
	for (i = 0; i < sizeof typed / sizeof typed[0]; i++) {
		if (!json_object_object_get_ex(b, typed[i].type, &t))
			continue;
		snprintf(where, sizeof where, "b_info.%s", typed[i].type);
		if (typed[i].prog ?
		    field(t, typed[i].key, where, p->device_models, "device "
		    "model or bootloader", "--allow-device-model", why,
		    len) == -1 :
		    field(t, typed[i].key, where, p->kernels, "kernel or "
		    "firmware", "--allow-kernel", why, len) == -1)
			return -1;
	}
	return 0;
}

int
xen_policy_check(const struct xen_policy *p, const char *json, char *why,
    size_t len)
{
	static const struct xen_policy none;
	/* Host hardware and host directories: never. */
	static const char *const passthrough[] = { "pcidevs", "dtdevs",
	    "usbdevs", "usbctrls", "rdms", "p9s", "pvcallsifs", "channels",
	    NULL };
	struct json_object *cfg, *ci;
	enum json_tokener_error jerr;
	size_t i;
	int rc = -1;

	if (p == NULL)
		p = &none;
	why[0] = '\0';
	cfg = json_tokener_parse_verbose(json, &jerr);
	if (cfg == NULL || !json_object_is_type(cfg, json_type_object) ||
	    !json_object_object_get_ex(cfg, "c_info", &ci) ||
	    !json_object_is_type(ci, json_type_object)) {
		snprintf(why, len, "not a libxl domain configuration%s%s",
		    cfg == NULL ? ": " : "", cfg == NULL ?
		    json_tokener_error_desc(jerr) : "");
		json_object_put(cfg);
		errno = EINVAL;
		return -1;
	}
	for (i = 0; passthrough[i]; i++)
		if (must_be_empty(cfg, passthrough[i], "", why, len) == -1)
			goto out;
	if (check_disks(p, cfg, why, len) == -1 ||
	    check_nics(p, cfg, why, len) == -1 ||
	    check_build(p, cfg, why, len) == -1)
		goto out;
	rc = 0;
out:
	json_object_put(cfg);
	if (rc == -1)
		errno = EPERM;
	return rc;
}
