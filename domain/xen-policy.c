/* domain/xen-policy.c -- the backup's check of a Xen twin's configuration
 * (xen-policy.h), on the libxl JSON as it came in the stream, before
 * libxl sees it.
 *
 * Deny by default: every member of every object must be in the tables
 * below, which say what its value may be.  Field names are libxl's
 * (tools/libs/light/libxl_types.idl of Xen 4.17, as
 * libxl_domain_config_to_json writes them: only members that differ from
 * their default, and "type.pvh" for the keyed union of b_info), so a
 * member that is absent has libxl's default.  A field libxl acts on as
 * root on the backup -- a file it opens, a program it runs, a bridge it
 * joins, a device it passes through, an argument it gives QEMU -- is
 * either checked against remusd's --disk and --allow-* sets or refused;
 * tuning that stays inside the guest (memory, vcpus, scheduler weights,
 * timer and TSC modes) may have any value.  A newer libxl that adds a
 * field gets it refused until a line here says what it may be.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "diskmap.h"
#include "util.h"
#include "xen-policy.h"

/* Xen's own hotplug scripts, which libxl finds here by bare name. */

#define NOT_ALLOWED	"not allowed by remusd's policy"

enum rule {
	R_ANY,		/* tuning inside the guest: any value */
	R_NONE,		/* only its default: null, "", [], {}, 0, false */
	R_FALSE,	/* a defbool that is default or "False" */
	R_ONEOF,	/* a string among ARG (NULL-terminated) */
	R_HVMONEOF,	/* among ARG's always, or its hvm with allow_hvm */
	R_WORD,		/* a string of letters, digits, '_', '-', '.' */
	R_ADDR,		/* IP addresses: hex digits, '.', ':', '/', ' ' */
	R_KERNEL,	/* a file among --allow-kernel */
	R_DEVMODEL,	/* a program among --allow-device-model */
	R_BRIDGE,	/* a bridge among --allow-bridge */
	R_SCRIPT,	/* Xen's own hotplug script or one of --allow-script */
	R_OBJECT,	/* an object whose members ARG says */
	R_LIST,		/* an array of objects whose members ARG says */
};

struct key {
	const char	*name;
	enum rule	 rule;
	const void	*arg;		/* R_ONEOF, R_HVMONEOF, R_OBJECT, R_LIST */
	const char	*why;		/* R_NONE, R_*ONEOF: said when refused */
};

/* The values of an R_ONEOF. */
/* An HVM guest's emulated serial port: a pty xenconsoled serves, or none
 * (not a host file, device or socket). */
static const char *const serial_pty[] = { "pty", "none", "null", NULL };
/* Emulated pointing devices (not "host:...", a host USB device). */
static const char *const usb_emulated[] = { "tablet", "mouse", NULL };
/* A VNC server for the twin's display on the backup host: on loopback
 * only (an operator reaches it through ssh), never on its network. */
static const char *const loopback[] = { "127.0.0.1", "localhost", "::1",
	NULL };
static const char *const no_passthrough[] = { "default", "disabled",
	NULL };
static const char *const xen_disk[] = { "unknown", "xen", NULL };
/* The values of an R_HVMONEOF: what --allow-hvm adds. */
struct hvm_oneof {
	const char *const	*always;
	const char *const	*hvm;
};
static const char *const pvh_type[] = { "pvh", NULL };
static const char *const hvm_type[] = { "hvm", NULL };
static const struct hvm_oneof guest_type = { pvh_type, hvm_type };
/* A PV vif; with --allow-hvm also QEMU's emulated NIC beside it (libxl's
 * vif_ioemu, on the tap <vif>-emu in dom0). */
static const char *const vif_only[] = { "unknown", "vif", NULL };
static const char *const vif_ioemu[] = { "vif_ioemu", NULL };
static const struct hvm_oneof nic_type = { vif_only, vif_ioemu };
/* The emulated NIC's model is QEMU's device name (-device MODEL,...):
 * network cards only, not whatever device QEMU can build. */
static const char *const nic_models[] = { "e1000", "e1000e", "rtl8139",
	"virtio-net-pci", "ne2k_pci", "pcnet", "i82551", "i82557b",
	"i82559er", "vmxnet3", NULL };

/* Shared reasons. */
#define HOST_DEVICE	"passes host hardware or host paths to the guest"
#define XSM_LABEL	"an XSM security label"
#define RUNS_ON_HOST	"runs a program on the backup host"
#define QEMU_ARGS	"arguments given to QEMU on the backup host"
#define BACKEND		"devices are served by the backup's dom0"

static const struct key c_info_keys[] = {
	{ "type",	R_HVMONEOF, &guest_type,
	    "only PVH guests, and HVM guests with --allow-hvm, are "
	    "replicated" },
	{ "name",	R_ANY, NULL, NULL },
	{ "domid",	R_ANY, NULL, NULL },	/* the id asked for */
	{ "uuid",	R_ANY, NULL, NULL },
	{ "hap",	R_ANY, NULL, NULL },
	{ "oos",	R_ANY, NULL, NULL },
	{ "poolid",	R_ANY, NULL, NULL },
	{ "pool_name",	R_ANY, NULL, NULL },
	{ "run_hotplug_scripts", R_ANY, NULL, NULL },
	{ "xend_suspend_evtchn_compat", R_ANY, NULL, NULL },
	{ "passthrough", R_ONEOF, no_passthrough, HOST_DEVICE },
	{ "driver_domain", R_FALSE, NULL,
	    "a driver domain serves devices to other domains" },
	{ "ssidref",	R_NONE, NULL, XSM_LABEL },
	{ "ssid_label",	R_NONE, NULL, XSM_LABEL },
	{ "xsdata",	R_NONE, NULL, "writes the backup's xenstore" },
	{ "platformdata", R_NONE, NULL, "writes the backup's xenstore" },
	{ NULL, R_ANY, NULL, NULL }
};

static const struct key pvh_keys[] = {
	{ "pvshim",	R_ANY, NULL, NULL },
	{ "pvshim_path", R_KERNEL, NULL, NULL },
	{ "pvshim_cmdline", R_ANY, NULL, NULL },
	{ "pvshim_extra", R_ANY, NULL, NULL },
	{ NULL, R_ANY, NULL, NULL }
};

/* An HVM guest's device model (QEMU, started by libxl on the backup as
 * root) and firmware.  What stays inside the guest -- its platform's
 * features, clocks, emulated controllers -- may be anything; host files
 * are checked like kernels; what reaches the host (a display, sound, host
 * USB devices, passthrough) is refused. */
static const struct key vga_keys[] = {
	{ "kind",	R_ANY, NULL, NULL },
	{ NULL, R_ANY, NULL, NULL }
};

static const struct key vnc_keys[] = {
	{ "enable",	R_ANY, NULL, NULL },
	{ "display",	R_ANY, NULL, NULL },
	{ "findunused",	R_ANY, NULL, NULL },
	{ "passwd",	R_ANY, NULL, NULL },
	{ "listen",	R_ONEOF, loopback,
	    "a VNC server on the backup host's network" },
	{ NULL, R_ANY, NULL, NULL }
};

static const struct key sdl_keys[] = {
	{ "enable",	R_FALSE, NULL, "a window on the backup host's display" },
	{ "opengl",	R_ANY, NULL, NULL },
	{ NULL, R_ANY, NULL, NULL }
};

static const struct key hvm_keys[] = {
	{ "bios",	R_WORD, NULL, NULL },	/* libxl's own firmware */
	{ "pae",	R_ANY, NULL, NULL },
	{ "apic",	R_ANY, NULL, NULL },
	{ "acpi",	R_ANY, NULL, NULL },
	{ "acpi_s3",	R_ANY, NULL, NULL },
	{ "acpi_s4",	R_ANY, NULL, NULL },
	{ "acpi_laptop_slate", R_ANY, NULL, NULL },
	{ "nx",		R_ANY, NULL, NULL },
	{ "viridian",	R_ANY, NULL, NULL },
	{ "viridian_enable", R_ANY, NULL, NULL },
	{ "viridian_disable", R_ANY, NULL, NULL },
	{ "timeoffset",	R_ANY, NULL, NULL },
	{ "hpet",	R_ANY, NULL, NULL },
	{ "vpt_align",	R_ANY, NULL, NULL },
	{ "mmio_hole_memkb", R_ANY, NULL, NULL },
	{ "timer_mode",	R_ANY, NULL, NULL },
	{ "nested_hvm",	R_ANY, NULL, NULL },
	{ "altp2m",	R_ANY, NULL, NULL },
	{ "smbios",	R_ANY, NULL, NULL },	/* strings for the guest */
	{ "hdtype",	R_ANY, NULL, NULL },
	{ "nographic",	R_ANY, NULL, NULL },
	{ "boot",	R_ANY, NULL, NULL },
	{ "usb",	R_ANY, NULL, NULL },	/* an emulated controller */
	{ "usbversion",	R_ANY, NULL, NULL },
	{ "vkb_device",	R_ANY, NULL, NULL },
	{ "xen_platform_pci", R_ANY, NULL, NULL },
	{ "vendor_device", R_ANY, NULL, NULL },
	{ "ms_vm_genid", R_ANY, NULL, NULL },
	{ "mca_caps",	R_ANY, NULL, NULL },
	{ "pirq",	R_ANY, NULL, NULL },
	{ "rdm_mem_boundary_memkb", R_ANY, NULL, NULL },
	{ "keymap",	R_WORD, NULL, NULL },
	{ "vga",	R_OBJECT, vga_keys, NULL },
	{ "vnc",	R_OBJECT, vnc_keys, NULL },
	{ "sdl",	R_OBJECT, sdl_keys, NULL },
	{ "serial",	R_ONEOF, serial_pty,
	    "a host file, device or socket as the serial port" },
	{ "usbdevice",	R_ONEOF, usb_emulated, HOST_DEVICE },
	/* Files libxl loads into the guest. */
	{ "firmware",	R_KERNEL, NULL, NULL },
	{ "system_firmware", R_KERNEL, NULL, NULL },
	{ "smbios_firmware", R_KERNEL, NULL, NULL },
	{ "acpi_firmware", R_KERNEL, NULL, NULL },
	/* Refused unless default. */
	{ "serial_list", R_NONE, NULL,
	    "serial ports other than one pty (serial = \"pty\")" },
	{ "usbdevice_list", R_NONE, NULL, HOST_DEVICE },
	{ "spice",	R_NONE, NULL, "a SPICE server on the backup host" },
	{ "soundhw",	R_NONE, NULL, "the backup host's sound device" },
	{ "gfx_passthru", R_FALSE, NULL, HOST_DEVICE },
	{ "gfx_passthru_kind", R_NONE, NULL, HOST_DEVICE },
	{ "rdm",	R_NONE, NULL, HOST_DEVICE },
	{ NULL, R_ANY, NULL, NULL }
};

static const struct key b_info_keys[] = {
	/* The guest's own size, placement and timing. */
	{ "max_vcpus",	R_ANY, NULL, NULL },
	{ "avail_vcpus", R_ANY, NULL, NULL },
	{ "cpumap",	R_ANY, NULL, NULL },
	{ "nodemap",	R_ANY, NULL, NULL },
	{ "vcpu_hard_affinity", R_ANY, NULL, NULL },
	{ "vcpu_soft_affinity", R_ANY, NULL, NULL },
	{ "numa_placement", R_ANY, NULL, NULL },
	{ "vnuma_nodes", R_ANY, NULL, NULL },
	{ "tsc_mode",	R_ANY, NULL, NULL },
	{ "max_memkb",	R_ANY, NULL, NULL },
	{ "target_memkb", R_ANY, NULL, NULL },
	{ "video_memkb", R_ANY, NULL, NULL },
	{ "shadow_memkb", R_ANY, NULL, NULL },
	{ "iommu_memkb", R_ANY, NULL, NULL },
	{ "rtc_timeoffset", R_ANY, NULL, NULL },
	{ "localtime",	R_ANY, NULL, NULL },
	{ "disable_migrate", R_ANY, NULL, NULL },
	{ "cpuid",	R_ANY, NULL, NULL },
	{ "blkdev_start", R_ANY, NULL, NULL },
	{ "max_grant_frames", R_ANY, NULL, NULL },
	{ "max_maptrack_frames", R_ANY, NULL, NULL },
	{ "max_grant_version", R_ANY, NULL, NULL },
	{ "sched_params", R_ANY, NULL, NULL },
	{ "claim_mode",	R_ANY, NULL, NULL },
	{ "event_channels", R_ANY, NULL, NULL },
	{ "cmdline",	R_ANY, NULL, NULL },	/* the guest kernel's */
	{ "acpi",	R_ANY, NULL, NULL },
	{ "timer_mode",	R_ANY, NULL, NULL },
	{ "nested_hvm",	R_ANY, NULL, NULL },
	{ "apic",	R_ANY, NULL, NULL },
	{ "dm_restrict", R_ANY, NULL, NULL },
	{ "arch_arm",	R_ANY, NULL, NULL },
	{ "arch_x86",	R_ANY, NULL, NULL },
	{ "altp2m",	R_ANY, NULL, NULL },
	{ "vmtrace_buf_kb", R_ANY, NULL, NULL },
	{ "vpmu",	R_ANY, NULL, NULL },
	{ "device_model_version", R_ANY, NULL, NULL },
	/* Files libxl loads into the guest, a program it runs. */
	{ "kernel",	R_KERNEL, NULL, NULL },
	{ "ramdisk",	R_KERNEL, NULL, NULL },
	{ "device_tree", R_KERNEL, NULL, NULL },
	{ "device_model", R_DEVMODEL, NULL, NULL },
	{ "type.pvh",	R_OBJECT, pvh_keys, NULL },
	{ "type.hvm",	R_OBJECT, hvm_keys, NULL },
	/* Refused unless default. */
	{ "bootloader",	R_NONE, NULL, RUNS_ON_HOST },
	{ "bootloader_args", R_NONE, NULL, RUNS_ON_HOST },
	{ "extra",	R_NONE, NULL, QEMU_ARGS },
	{ "extra_pv",	R_NONE, NULL, QEMU_ARGS },
	{ "extra_hvm",	R_NONE, NULL, QEMU_ARGS },
	{ "device_model_user", R_NONE, NULL,
	    "the host user QEMU runs as" },
	{ "device_model_stubdomain", R_FALSE, NULL,
	    "a stub domain built from host files" },
	{ "stubdomain_memkb", R_NONE, NULL,
	    "a stub domain built from host files" },
	{ "stubdomain_kernel", R_NONE, NULL,
	    "a stub domain built from host files" },
	{ "stubdomain_cmdline", R_NONE, NULL,
	    "a stub domain built from host files" },
	{ "stubdomain_ramdisk", R_NONE, NULL,
	    "a stub domain built from host files" },
	{ "device_model_ssidref", R_NONE, NULL, XSM_LABEL },
	{ "device_model_ssid_label", R_NONE, NULL, XSM_LABEL },
	{ "exec_ssidref", R_NONE, NULL, XSM_LABEL },
	{ "exec_ssid_label", R_NONE, NULL, XSM_LABEL },
	{ "ioports",	R_NONE, NULL, HOST_DEVICE },
	{ "irqs",	R_NONE, NULL, HOST_DEVICE },
	{ "iomem",	R_NONE, NULL, HOST_DEVICE },
	{ "tee",	R_NONE, NULL, "the host's trusted execution "
	    "environment" },
	{ NULL, R_ANY, NULL, NULL }
};

/* pdev_path, backend and format are replaced by the backup's image on a
 * loop device (phy, or qdisk as the primary's; raw) before libxl sees
 * them (domain-xen.c twin_disks); vdev is matched to its image
 * (check_disks). */
static const struct key disk_keys[] = {
	{ "pdev_path",	R_ANY, NULL, NULL },
	{ "vdev",	R_ANY, NULL, NULL },
	{ "backend",	R_ANY, NULL, NULL },
	{ "format",	R_ANY, NULL, NULL },
	{ "script",	R_SCRIPT, NULL, NULL },
	{ "removable",	R_ANY, NULL, NULL },
	{ "readwrite",	R_ANY, NULL, NULL },
	{ "is_cdrom",	R_ANY, NULL, NULL },
	{ "direct_io_safe", R_ANY, NULL, NULL },
	{ "discard_enable", R_ANY, NULL, NULL },
	{ "trusted",	R_ANY, NULL, NULL },
	{ "specification", R_ONEOF, xen_disk,
	    "only Xen's block protocol is served" },
	{ "transport",	R_NONE, NULL, "only Xen's block protocol is served" },
	{ "irq",	R_NONE, NULL, "only Xen's block protocol is served" },
	{ "base",	R_NONE, NULL, "only Xen's block protocol is served" },
	{ "backend_domid", R_NONE, NULL, BACKEND },
	{ "backend_domname", R_NONE, NULL, BACKEND },
	{ "colo_enable", R_FALSE, NULL, "COLO" },
	{ "colo_restore_enable", R_FALSE, NULL, "COLO" },
	{ NULL, R_ANY, NULL, NULL }
};

static const struct key nic_keys[] = {
	{ "devid",	R_ANY, NULL, NULL },
	{ "mtu",	R_ANY, NULL, NULL },
	{ "mac",	R_ANY, NULL, NULL },
	{ "rate_bytes_per_interval", R_ANY, NULL, NULL },
	{ "rate_interval_usecs", R_ANY, NULL, NULL },
	{ "trusted",	R_ANY, NULL, NULL },
	{ "model",	R_ONEOF, nic_models,
	    "not one of QEMU's emulated network cards" },
	{ "ip",		R_ADDR, NULL, NULL },	/* to the vif script */
	{ "bridge",	R_BRIDGE, NULL, NULL },
	{ "gatewaydev",	R_BRIDGE, NULL, NULL },
	{ "script",	R_SCRIPT, NULL, NULL },
	{ "nictype",	R_HVMONEOF, &nic_type,
	    "only PV network devices, and QEMU's emulated NICs with "
	    "--allow-hvm" },
	{ "ifname",	R_NONE, NULL, "names an interface of the backup host" },
	{ "backend_domid", R_NONE, NULL, BACKEND },
	{ "backend_domname", R_NONE, NULL, BACKEND },
	{ NULL, R_ANY, NULL, NULL }
};

static const struct key config_keys[] = {
	{ "c_info",	R_OBJECT, c_info_keys, NULL },
	{ "b_info",	R_OBJECT, b_info_keys, NULL },
	{ "disks",	R_LIST, disk_keys, NULL },
	{ "nics",	R_LIST, nic_keys, NULL },
	/* What the guardian (domain-xen.c) carries out. */
	{ "on_poweroff", R_ANY, NULL, NULL },
	{ "on_reboot",	R_ANY, NULL, NULL },
	{ "on_watchdog", R_ANY, NULL, NULL },
	{ "on_crash",	R_ANY, NULL, NULL },
	{ "on_soft_reset", R_ANY, NULL, NULL },
	/* Host hardware, host directories, and devices backed by QEMU or
	 * a program on the backup host: only none. */
	{ "pcidevs",	R_NONE, NULL, HOST_DEVICE },
	{ "rdms",	R_NONE, NULL, HOST_DEVICE },
	{ "dtdevs",	R_NONE, NULL, HOST_DEVICE },
	{ "usbctrls",	R_NONE, NULL, HOST_DEVICE },
	{ "usbdevs",	R_NONE, NULL, HOST_DEVICE },
	{ "p9s",	R_NONE, NULL, HOST_DEVICE },
	{ "pvcallsifs",	R_NONE, NULL, HOST_DEVICE },
	{ "channels",	R_NONE, NULL, HOST_DEVICE },
	{ "vtpms",	R_NONE, NULL, "a device served on the backup host" },
	{ "vfbs",	R_NONE, NULL, "a device served on the backup host" },
	{ "vkbs",	R_NONE, NULL, "a device served on the backup host" },
	{ "vdispls",	R_NONE, NULL, "a device served on the backup host" },
	{ "vsnds",	R_NONE, NULL, "a device served on the backup host" },
	{ NULL, R_ANY, NULL, NULL }
};

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

/* The default of any field, as libxl would write or read it. */
static int
is_default(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return 1;
	case json_type_boolean:
		return !json_object_get_boolean(v);
	case json_type_int:
		return json_object_get_int64(v) == 0 &&
		    json_object_get_uint64(v) == 0;
	case json_type_string:
		return json_object_get_string_len(v) == 0;
	case json_type_array:
		return json_object_array_length(v) == 0;
	case json_type_object:
		return json_object_object_length(v) == 0;
	default:
		return 0;
	}
}

static int check_object(const struct xen_policy *, struct json_object *,
	    const struct key *, const char *, char *, size_t);

/* The value V of member K at PATH. */
static int
check_value(const struct xen_policy *p, struct json_object *v,
    const struct key *k, const char *path, char *why, size_t len)
{
	const char *const *set = NULL;
	const char *s, *what = NULL, *flag = NULL, *chars = NULL;
	char sub[256];
	size_t i;

	switch (k->rule) {
	case R_ANY:
		return 0;
	case R_NONE:
		if (is_default(v))
			return 0;
		return util_refuse(why, len, EPERM, "%s: " NOT_ALLOWED " (%s)",
		    path, k->why);
	case R_FALSE:
		/* libxl's defbool: "<default>", "True" or "False" */
		if (json_object_is_type(v, json_type_null) ||
		    (json_object_is_type(v, json_type_string) &&
		    (strcmp(json_object_get_string(v), "False") == 0 ||
		    strcmp(json_object_get_string(v), "<default>") == 0)))
			return 0;
		return util_refuse(why, len, EPERM, "%s: " NOT_ALLOWED " (%s)",
		    path, k->why);
	case R_OBJECT:
		if (!json_object_is_type(v, json_type_object))
			return util_refuse(why, len, EPERM,
			    "%s: not an object", path);
		return check_object(p, v, k->arg, path, why, len);
	case R_LIST:
		if (json_object_is_type(v, json_type_null))
			return 0;
		if (!json_object_is_type(v, json_type_array))
			return util_refuse(why, len, EPERM,
			    "%s: not an array", path);
		for (i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i);

			snprintf(sub, sizeof sub, "%.150s[%zu]", path, i);
			if (!json_object_is_type(e, json_type_object))
				return util_refuse(why, len, EPERM,
				    "%s: not an object", sub);
			if (check_object(p, e, k->arg, sub, why, len) == -1)
				return -1;
		}
		return 0;
	default:
		break;
	}
	/* The rest are strings; null or "" is the default, none. */
	if (json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return util_refuse(why, len, EPERM, "%s: not a string", path);
	s = json_object_get_string(v);	/* no NUL inside: see below */
	if (*s == '\0')
		return 0;
	switch (k->rule) {
	case R_HVMONEOF: {
		const struct hvm_oneof *o = k->arg;

		if (listed(o->always, s) || (p->allow_hvm &&
		    listed(o->hvm, s)))
			return 0;
		}
		return util_refuse(why, len, EPERM, "%s \"%.100s\": "
		    NOT_ALLOWED " (%s)", path, s, k->why);
	case R_ONEOF:
		if (listed(k->arg, s))
			return 0;
		return util_refuse(why, len, EPERM, "%s \"%.100s\": "
		    NOT_ALLOWED " (%s)", path, s, k->why);
	case R_WORD:
		chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-.";
		break;
	case R_ADDR:
		chars = "0123456789abcdefABCDEF.:/ ";
		break;
	case R_KERNEL:
		set = p->kernels;
		what = "kernel, ramdisk or firmware";
		flag = "--allow-kernel";
		break;
	case R_DEVMODEL:
		set = p->device_models;
		what = "device model";
		flag = "--allow-device-model";
		break;
	case R_BRIDGE:
		set = p->bridges;
		what = "bridge";
		flag = "--allow-bridge";
		break;
	case R_SCRIPT:
		if (xen_script(s))
			return 0;
		set = p->scripts;
		what = "hotplug script";
		flag = "--allow-script";
		break;
	default:
		return util_refuse(why, len, EPERM, "%s: " NOT_ALLOWED, path);
	}
	if (chars != NULL) {
		if (strspn(s, chars) == strlen(s))
			return 0;
		return util_refuse(why, len, EPERM, "%s \"%.100s\": "
		    NOT_ALLOWED " (unexpected characters)", path, s);
	}
	if (listed(set, s))
		return 0;
	return util_refuse(why, len, EPERM, "%s \"%.200s\" is not an allowed "
	    "%s (%s)", path, s, what, flag);
}

/* Every member of OBJ (at PATH, "" for the top) must be one of KEYS. */
static int
check_object(const struct xen_policy *p, struct json_object *obj,
    const struct key *keys, const char *path, char *why, size_t len)
{
	char sub[256];
	size_t i;

	json_object_object_foreach(obj, name, v) {
		for (i = 0; keys[i].name; i++)
			if (strcmp(keys[i].name, name) == 0)
				break;
		snprintf(sub, sizeof sub, "%.150s%s%.60s", path,
		    *path ? "." : "", name);
		if (keys[i].name == NULL)
			return util_refuse(why, len, EPERM, "%s: " NOT_ALLOWED,
			    sub);
		if (check_value(p, v, &keys[i], sub, why, len) == -1)
			return -1;
	}
	return 0;
}

/* The twin's disks are the images remusd was given (--disk), each matched
 * to its vdev (diskmap.h); the driver puts them in place of whatever path
 * the stream names (the primary's device means nothing here).  Every disk
 * of the twin needs its image, and every image its disk: a disk left out
 * would be the primary's path on this host, an image left out a copy
 * nobody uses.  Their other members passed check_object. */
static int
check_disks(const struct xen_policy *p, struct json_object *cfg, char *why,
    size_t len)
{
	static const struct diskmap none;
	const struct diskmap *m = p->disks ? p->disks : &none;
	struct json_object *a = NULL, *d;
	const char *vdev[DISKMAP_MAX];
	size_t idx[DISKMAP_MAX];
	size_t i, n = 0;

	/* No disks at all is the empty list: images given for the guest
	 * must still be used. */
	if (json_object_object_get_ex(cfg, "disks", &a) &&
	    json_object_is_type(a, json_type_array))
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
		vdev[i] = str_of(d, "vdev");
		if (vdev[i] == NULL || !diskmap_name_ok(vdev[i]))
			return util_refuse(why, len, EPERM,
			    "disks[%zu].vdev \"%.40s\": not a disk "
			    "name remus can match", i, vdev[i] ? vdev[i] : "");
	}
	if (diskmap_match(m, vdev, n, "the domain", idx, why, len) == -1) {
		errno = EPERM;		/* WHY says which disk */
		return -1;
	}
	return 0;
}

/* A vif without a bridge joins libxl's default, xenbr0, which must be
 * allowed like any other. */
static int
check_default_bridge(const struct xen_policy *p, struct json_object *cfg,
    char *why, size_t len)
{
	struct json_object *a;
	size_t i;

	if (!json_object_object_get_ex(cfg, "nics", &a) ||
	    !json_object_is_type(a, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(a); i++)
		if (str_of(json_object_array_get_idx(a, i), "bridge") == NULL &&
		    !listed(p->bridges, "xenbr0"))
			return util_refuse(why, len, EPERM,
			    "nics[%zu].bridge (default xenbr0) is "
			    "not an allowed bridge (--allow-bridge)", i);
	return 0;
}

/* Members in the tree. */
static size_t
members(struct json_object *v)
{
	size_t n = 0, i;

	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, name, m) {
			(void)name;
			n += 1 + members(m);
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (i = 0; i < json_object_array_length(v); i++)
			n += members(json_object_array_get_idx(v, i));
	}
	return n;
}

/* Name-value separators in the text: outside strings a ':' is one in
 * strict JSON.  -1 for a quote json-c takes and JSON has not (a
 * single-quoted string, which json-c's strict mode still reads). */
static long
separators(const char *s)
{
	long n = 0;
	int in = 0;

	for (; *s; s++) {
		if (in && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			in = !in;
		else if (!in && *s == '\'')
			return -1;
		else if (!in && *s == ':')
			n++;
	}
	return n;
}

int
xen_policy_check(const struct xen_policy *p, const char *json, char *why,
    size_t len)
{
	static const struct xen_policy none;
	struct json_tokener *tok;
	struct json_object *cfg = NULL, *ci;
	enum json_tokener_error jerr;
	int rc = -1;

	if (p == NULL)
		p = &none;
	why[0] = '\0';
	/* Strict: no comments, single quotes or trailing commas, which
	 * libxl's parser (yajl) may read otherwise; and the whole text. */
	tok = json_tokener_new();
	if (tok == NULL)
		return util_refuse(why, len, ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	cfg = json_tokener_parse_ex(tok, json, -1);
	jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		json_object_put(cfg);
		cfg = NULL;
	}
	if (cfg != NULL && separators(json) == -1) {
		json_object_put(cfg);
		return util_refuse(why, len, EINVAL, "not a libxl domain "
		    "configuration: a single-quoted string");
	}
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
	/* A name given twice: json-c keeps the last, libxl reads the
	 * first, so the check would not be of what libxl builds.  A NUL
	 * escaped in a name or value: json-c and libxl could cut it at
	 * different places; nothing legitimate has one. */
	if ((long)members(cfg) != separators(json)) {
		util_refuse(why, len, EPERM, "a member is given twice");
		goto out;
	}
	if (strstr(json, "\\u0000") != NULL) {
		util_refuse(why, len, EPERM, "an escaped NUL (\\u0000)");
		goto out;
	}
	if (check_object(p, cfg, config_keys, "", why, len) == -1 ||
	    check_disks(p, cfg, why, len) == -1 ||
	    check_default_bridge(p, cfg, why, len) == -1)
		goto out;
	rc = 0;
out:
	json_object_put(cfg);
	if (rc == -1)
		errno = EPERM;
	return rc;
}
