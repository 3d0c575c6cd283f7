/* domain/xen-policy.h -- what a Xen twin may be built from, decided by the
 * backup (remusd --disk, --allow-bridge, --allow-kernel,
 * --allow-device-model, --allow-script), checked against the libxl JSON a
 * primary sends before any domain is built.
 *
 * libxl acts on what the JSON says as root on the backup: it attaches the
 * disks and files it names, runs the hotplug scripts it names, boots the
 * kernel and ramdisk it names, starts the device model, bootloader or
 * stub domain it names with the arguments it names, passes through the
 * PCI devices and I/O ranges it names.  A stream from anyone but the
 * backup's own primary could otherwise read or write any file of the
 * backup host and run any program there.  So the check denies by
 * default: every member of the configuration must be one the policy
 * knows (xen-policy.c lists them), with a value it allows.
 */
#ifndef REMUS_XEN_POLICY_H
#define REMUS_XEN_POLICY_H

#include <stddef.h>

struct diskmap;

/* Where Xen's hotplug scripts live: libxl runs a bare script name from
 * here (the policy's test of a script, and the backup's re-run of one). */
#define XEN_SCRIPT_DIR	"/etc/xen/scripts/"

struct xen_policy {
	/* The backup's copies of the guest's disks (remusd --disk
	 * [GUEST:]NAME=IMAGE), or NULL.  Each of the twin's disks is the
	 * image of its vdev (common/diskmap.h) whatever path the stream
	 * gives; every one must have its image, and without any a twin may
	 * have no disk. */
	const struct diskmap *disks;
	/* NULL-terminated lists; NULL or empty allows nothing. */
	const char *const *bridges;	/* bridges a vif may join */
	const char *const *kernels;	/* kernel, ramdisk, firmware files */
	const char *const *device_models;	/* device model programs */
	const char *const *scripts;	/* hotplug scripts (disk, vif) */
	/* HVM guests may be replicated (remusd --allow-hvm): the twin's
	 * device model, QEMU, runs as root on the backup. */
	int		 allow_hvm;
};

/* Check JSON (a libxl_domain_config as libxl_domain_config_to_json writes
 * it, NUL-terminated) against P.  0 if every member is one the policy
 * knows and every field that names a host resource names one P allows;
 * -1 with errno EPERM and one line in WHY naming the field by its path
 * ("nics[0].bridge \"br-evil\" is not an allowed bridge (--allow-bridge)",
 * "b_info.extra_pv: not allowed by remusd's policy (...)"), or EINVAL for
 * text that is not a domain configuration.  Pure: no I/O, no libxl. */
int	xen_policy_check(const struct xen_policy *p, const char *json,
	    char *why, size_t len);

#endif /* REMUS_XEN_POLICY_H */
