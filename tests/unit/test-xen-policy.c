/* tests/unit/test-xen-policy.c -- the backup's check of a Xen twin's
 * configuration (domain/xen-policy.c) on libxl JSON: the lab's domU as
 * its primary sends it, with and without its disk
 * (tests/unit/xen-policy/lab-domu*.json: tests/lab/xen/labtest.sh's
 * domu.cfg as xl parses it and libxl_retrieve_domain_configuration
 * returns it, written by Xen 4.17's own libxl_domain_config_to_json, see
 * xen-policy/gen-lab-json.c), accepted under the lab's remusd flags;
 * then that config changed the ways an attacker would, one member at a
 * time, each refused with the line that names it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "diskmap.h"
#include "xen-policy.h"

/* tests/lab/xen/labtest.sh remus_protect: --allow-bridge xenbr0
 * --allow-kernel /guest/vmlinuz --allow-kernel /guest/initrd
 * --allow-script /tmp/block-lab, no --allow-device-model; the remusdisk
 * phase adds one unnamed --disk /tmp/b.img. */
static const char *const bridges[] = { "xenbr0", NULL };
static const char *const kernels[] = { "/guest/vmlinuz", "/guest/initrd",
	NULL };
static const char *const scripts[] = { "/tmp/block-lab", NULL };

static struct diskmap_ent lab_ents[] = {
	{ NULL, (char *)"", (char *)"/tmp/b.img", 0 },
};
static const struct diskmap lab_disks = { lab_ents, 1, 1 };
static const struct xen_policy lab_nodisk = {
	.bridges = bridges,
	.kernels = kernels,
	.scripts = scripts,
};
static const struct xen_policy lab = {
	.disks = &lab_disks,
	.bridges = bridges,
	.kernels = kernels,
	.scripts = scripts,
};
/* The same with --allow-hvm. */
static const struct xen_policy lab_hvm = {
	.disks = &lab_disks,
	.bridges = bridges,
	.kernels = kernels,
	.scripts = scripts,
	.allow_hvm = 1,
};

static char *
sample(const char *name)
{
	char path[512], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof path, "%s/tests/unit/xen-policy/%s",
	    REMUS_SRC_DIR, name);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert(eq(sz, fread(buf, 1, (size_t)n, f), (size_t)n));
	fclose(f);
	return buf;
}

static char *
lab_json(void)
{
	return sample("lab-domu-disk.json");
}

/* J with FROM replaced by TO (FROM must be there); J is freed. */
static char *
replace(char *j, const char *from, const char *to)
{
	char *at = strstr(j, from), *out;

	cr_assert_not_null(at, "\"%s\" not in the sample", from);
	out = calloc(1, strlen(j) - strlen(from) + strlen(to) + 1);
	cr_assert_not_null(out);
	memcpy(out, j, (size_t)(at - j));
	strcat(out, to);
	strcat(out, at + strlen(from));
	free(j);
	return out;
}

/* The lab config (with its disk) with FROM replaced by TO. */
static char *
lab_with(const char *from, const char *to)
{
	return replace(lab_json(), from, to);
}

/* Where a member is added: the first member of each object. */
enum where { TOP, C_INFO, B_INFO, PVH, DISK0, NIC0 };

static const char *const anchor[] = {
	[TOP] = "\"c_info\": {",
	[C_INFO] = "\"type\": \"pvh\",",
	[B_INFO] = "\"max_vcpus\": 1,",
	[PVH] = "\"type.pvh\": {",
	[DISK0] = "\"pdev_path\": \"/dev/nbd0\",",
	[NIC0] = "\"devid\": 0,",
};

/* The lab config with MEMBER ("name": value) added in W. */
static char *
lab_plus(enum where w, const char *member)
{
	char to[1024];

	switch (w) {
	case TOP:
		snprintf(to, sizeof to, "%s, %s", member, anchor[w]);
		break;
	case PVH:
		/* type.pvh is empty in the sample */
		snprintf(to, sizeof to, "%s %s", anchor[w], member);
		break;
	default:
		snprintf(to, sizeof to, "%s %s,", anchor[w], member);
		break;
	}
	return lab_with(anchor[w], to);
}

/* JSON refused under P with errno ERR, WHY containing WANT; JSON freed. */
static void
refused_err(const struct xen_policy *p, char *json, int err,
    const char *want)
{
	char why[512];

	errno = 0;
	cr_assert(eq(int, xen_policy_check(p, json, why, sizeof why), -1),
	    "accepted, want \"%s\"", want);
	cr_assert(eq(int, errno, err), "errno %d, want %d (%s)", errno, err,
	    why);
	cr_assert_not_null(strstr(why, want), "why: \"%s\", want \"%s\"", why,
	    want);
	free(json);
}

static void
refused(const struct xen_policy *p, char *json, const char *want)
{
	refused_err(p, json, EPERM, want);
}

static void
accepted(const struct xen_policy *p, char *json)
{
	char why[512];

	cr_assert(eq(int, xen_policy_check(p, json, why, sizeof why), 0),
	    "%s\n%s", why, json);
	free(json);
}

Test(xen_policy, lab_config_accepted)
{
	accepted(&lab_nodisk, sample("lab-domu.json"));
	accepted(&lab, sample("lab-domu-disk.json"));
}

/* What the lab changes between phases, and what remusd's own twin looks
 * like when a later remus protects it (the lab renames the failed-over
 * twin back to domu and protects it again): libxl keeps the JSON the
 * twin was built from, its disk on a loop device (twin_disks). */
Test(xen_policy, lab_variants_accepted)
{
	/* run suspend: on_reboot preserve, labspin */
	accepted(&lab, lab_with("\"on_crash\": \"preserve\"",
	    "\"on_reboot\": \"preserve\", \"on_crash\": \"preserve\""));
	accepted(&lab, lab_with("\"console=hvc0 quiet\"",
	    "\"console=hvc0 quiet labspin\""));
	/* LAB_TSC_MODE=default: no tsc_mode */
	accepted(&lab, lab_with("\"tsc_mode\": \"native\",", ""));
	/* the twin protected in turn */
	accepted(&lab, lab_with("\"pdev_path\": \"/dev/nbd0\",",
	    "\"pdev_path\": \"/dev/loop0\", \"backend\": \"phy\","));
	/* the defaults libxl may write out, and empty lists */
	accepted(&lab, lab_plus(B_INFO, "\"device_model_stubdomain\": "
	    "\"False\", \"stubdomain_memkb\": 0, \"extra_pv\": []"));
	accepted(&lab, lab_plus(C_INFO, "\"passthrough\": \"disabled\", "
	    "\"driver_domain\": \"False\", \"hap\": \"True\""));
	accepted(&lab, lab_plus(TOP, "\"pcidevs\": [], \"vfbs\": [], "
	    "\"on_poweroff\": \"destroy\""));
	accepted(&lab, lab_plus(NIC0, "\"backend_domid\": 0, \"mtu\": 1500, "
	    "\"ip\": \"10.0.0.2 fd00::2/64\", \"model\": \"e1000\""));
	accepted(&lab, lab_plus(DISK0, "\"specification\": \"xen\", "
	    "\"colo_enable\": \"False\", \"discard_enable\": \"True\""));
	accepted(&lab, lab_plus(PVH, "\"pvshim\": \"False\""));
	/* a QEMU-backed vbd (run check's remusqdisk phase): no script */
	accepted(&lab, lab_with("\"pdev_path\": \"/dev/nbd0\",",
	    "\"pdev_path\": \"/dev/nbd0\", \"backend\": \"qdisk\","));
}

Test(xen_policy, no_policy_refuses_everything_the_lab_names)
{
	struct xen_policy p = lab_nodisk;

	refused(NULL, sample("lab-domu.json"), "b_info.kernel "
	    "\"/guest/vmlinuz\" is not an allowed kernel");
	refused(NULL, lab_json(), "b_info.kernel \"/guest/vmlinuz\" is not an "
	    "allowed kernel");
	p.kernels = NULL;
	refused(&p, lab_with("\"/guest/initrd\"", "\"\""), "b_info.kernel "
	    "\"/guest/vmlinuz\"");
	refused(&lab_nodisk, lab_json(), "disks[0] \"/dev/nbd0\": this backup "
	    "has no disk image");
	p = lab_nodisk;
	p.bridges = NULL;
	refused(&p, sample("lab-domu.json"), "nics[0].bridge \"xenbr0\" is not "
	    "an allowed bridge");
}

/* One member added, refused by name: every class the policy refuses. */
static const struct {
	enum where	 where;
	const char	*member;
	const char	*want;
} bad[] = {
	/* Arguments to QEMU, a host user, a stub domain. */
	{ B_INFO, "\"extra_pv\": [ \"-chardev\", \"file,id=k,path=/root/.ssh/"
	    "authorized_keys\" ]", "b_info.extra_pv: not allowed by remusd's "
	    "policy (arguments given to QEMU on the backup host)" },
	{ B_INFO, "\"extra\": [ \"-monitor\" ]", "b_info.extra: not allowed" },
	{ B_INFO, "\"extra_hvm\": [ \"-x\" ]",
	    "b_info.extra_hvm: not allowed" },
	{ B_INFO, "\"device_model_user\": \"root\"",
	    "b_info.device_model_user: not allowed" },
	{ B_INFO, "\"device_model_stubdomain\": \"True\"",
	    "b_info.device_model_stubdomain: not allowed" },
	{ B_INFO, "\"stubdomain_kernel\": \"/tmp/k\"",
	    "b_info.stubdomain_kernel: not allowed" },
	{ B_INFO, "\"stubdomain_ramdisk\": \"/tmp/r\"",
	    "b_info.stubdomain_ramdisk: not allowed" },
	{ B_INFO, "\"stubdomain_cmdline\": \"x\"",
	    "b_info.stubdomain_cmdline: not allowed" },
	{ B_INFO, "\"stubdomain_memkb\": 65536",
	    "b_info.stubdomain_memkb: not allowed" },
	/* A bootloader runs on the backup host. */
	{ B_INFO, "\"bootloader\": \"/usr/bin/pygrub\"", "b_info.bootloader: "
	    "not allowed by remusd's policy (runs a program on the backup "
	    "host)" },
	{ B_INFO, "\"bootloader\": \"False\"", "b_info.bootloader: not "
	    "allowed" },
	{ B_INFO, "\"bootloader_args\": [ \"-q\" ]",
	    "b_info.bootloader_args: not allowed" },
	/* Host hardware. */
	{ B_INFO, "\"iomem\": [ { \"start\": 0, \"number\": 16 } ]",
	    "b_info.iomem: not allowed by remusd's policy (passes host "
	    "hardware" },
	{ B_INFO, "\"ioports\": [ { \"first\": 96, \"number\": 1 } ]",
	    "b_info.ioports: not allowed" },
	{ B_INFO, "\"irqs\": [ 7 ]", "b_info.irqs: not allowed" },
	{ B_INFO, "\"tee\": \"optee\"", "b_info.tee: not allowed" },
	/* Security labels. */
	{ B_INFO, "\"exec_ssidref\": 5", "b_info.exec_ssidref: not allowed" },
	{ B_INFO, "\"exec_ssid_label\": \"system_u:system_r:dom0_t\"",
	    "b_info.exec_ssid_label: not allowed" },
	{ B_INFO, "\"device_model_ssid_label\": \"x\"",
	    "b_info.device_model_ssid_label: not allowed" },
	{ C_INFO, "\"ssidref\": 2", "c_info.ssidref: not allowed" },
	{ C_INFO, "\"ssid_label\": \"x\"", "c_info.ssid_label: not allowed" },
	/* Roles and xenstore. */
	{ C_INFO, "\"driver_domain\": \"True\"",
	    "c_info.driver_domain: not allowed" },
	{ C_INFO, "\"driver_domain\": 1", "c_info.driver_domain: not allowed" },
	{ C_INFO, "\"xsdata\": { \"k\": \"v\" }",
	    "c_info.xsdata: not allowed" },
	{ C_INFO, "\"platformdata\": { \"k\": \"v\" }",
	    "c_info.platformdata: not allowed" },
	{ C_INFO, "\"passthrough\": \"sync_pt\"", "c_info.passthrough "
	    "\"sync_pt\": not allowed" },
	/* Other guest types and their parts. */
	{ B_INFO, "\"type.pv\": { \"kernel\": \"/tmp/k\" }",
	    "b_info.type.pv: not allowed by remusd's policy" },
	{ B_INFO, "\"type.hvm\": { \"firmware\": \"/tmp/f\" }",
	    "b_info.type.hvm.firmware \"/tmp/f\" is not an allowed kernel, "
	    "ramdisk or firmware (--allow-kernel)" },
	{ PVH, "\"pvshim_path\": \"/tmp/shim\"", "b_info.type.pvh.pvshim_path "
	    "\"/tmp/shim\" is not an allowed kernel, ramdisk or firmware "
	    "(--allow-kernel)" },
	{ PVH, "\"made_up\": 1", "b_info.type.pvh.made_up: not allowed" },
	/* What this libxl does not have, or a newer one adds. */
	{ B_INFO, "\"made_up_field\": 1", "b_info.made_up_field: not "
	    "allowed by remusd's policy" },
	{ C_INFO, "\"made_up\": \"x\"", "c_info.made_up: not allowed" },
	{ TOP, "\"made_up\": 1", "made_up: not allowed" },
	/* Devices served on the backup host, host devices and paths. */
	{ TOP, "\"vfbs\": [ { \"backend_domname\": \"dm\", \"sdl\": "
	    "{ \"enable\": \"True\", \"xauthority\": \"/root/.Xauthority\" } } "
	    "]", "vfbs: not allowed by remusd's policy (a device served on "
	    "the backup host)" },
	{ TOP, "\"vkbs\": [ { \"devid\": 0 } ]", "vkbs: not allowed" },
	{ TOP, "\"vtpms\": [ { \"devid\": 0 } ]", "vtpms: not allowed" },
	{ TOP, "\"vdispls\": [ { \"devid\": 0 } ]", "vdispls: not allowed" },
	{ TOP, "\"vsnds\": [ { \"devid\": 0 } ]", "vsnds: not allowed" },
	{ TOP, "\"pcidevs\": [ { \"bus\": 3 } ]", "pcidevs: not allowed by "
	    "remusd's policy (passes host hardware" },
	{ TOP, "\"dtdevs\": [ { \"path\": \"/soc\" } ]",
	    "dtdevs: not allowed" },
	{ TOP, "\"rdms\": [ { \"start\": 0 } ]", "rdms: not allowed" },
	{ TOP, "\"p9s\": [ { \"tag\": \"root\", \"path\": \"/\" } ]",
	    "p9s: not allowed" },
	{ TOP, "\"pvcallsifs\": [ { \"devid\": 0 } ]",
	    "pvcallsifs: not allowed" },
	{ TOP, "\"channels\": [ { \"name\": \"c\", \"connection\": \"socket\", "
	    "\"path\": \"/tmp/s\" } ]", "channels: not allowed" },
	{ TOP, "\"usbctrls\": [ { \"devid\": 0 } ]", "usbctrls: not allowed" },
	{ TOP, "\"usbdevs\": [ { \"ctrl\": 0 } ]", "usbdevs: not allowed" },
	/* A vif: its backend, COLO, host interfaces, what reaches its
	 * script. */
	{ NIC0, "\"backend_domname\": \"drv\"",
	    "nics[0].backend_domname: not allowed" },
	{ NIC0, "\"backend_domid\": 3", "nics[0].backend_domid: not allowed" },
	{ NIC0, "\"coloft_forwarddev\": \"eth0\"",
	    "nics[0].coloft_forwarddev: not allowed by remusd's policy" },
	{ NIC0, "\"colo_sock_mirror_ip\": \"10.0.0.9\"",
	    "nics[0].colo_sock_mirror_ip: not allowed" },
	{ NIC0, "\"colo_checkpoint_host\": \"h\"",
	    "nics[0].colo_checkpoint_host: not allowed" },
	{ NIC0, "\"ifname\": \"eth0\"", "nics[0].ifname: not allowed" },
	{ NIC0, "\"ip\": \"10.0.0.2; reboot\"", "nics[0].ip \"10.0.0.2; "
	    "reboot\": not allowed" },
	{ NIC0, "\"model\": \"e1000,romfile=/etc/shadow\"",
	    "nics[0].model \"e1000,romfile=/etc/shadow\": not allowed" },
	{ NIC0, "\"gatewaydev\": \"eth0\"", "nics[0].gatewaydev \"eth0\" is "
	    "not an allowed bridge (--allow-bridge)" },
	/* A disk: its backend, COLO, virtio. */
	{ DISK0, "\"backend_domname\": \"drv\"",
	    "disks[0].backend_domname: not allowed" },
	{ DISK0, "\"backend_domid\": 1",
	    "disks[0].backend_domid: not allowed" },
	{ DISK0, "\"colo_host\": \"10.0.0.9\"", "disks[0].colo_host: not "
	    "allowed" },
	{ DISK0, "\"colo_enable\": \"True\"", "disks[0].colo_enable: not "
	    "allowed" },
	{ DISK0, "\"active_disk\": \"/tmp/a\"", "disks[0].active_disk: not "
	    "allowed" },
	{ DISK0, "\"hidden_disk\": \"/tmp/h\"", "disks[0].hidden_disk: not "
	    "allowed" },
	{ DISK0, "\"specification\": \"virtio\"", "disks[0].specification "
	    "\"virtio\": not allowed" },
	{ DISK0, "\"transport\": \"mmio\"", "disks[0].transport: not allowed" },
	{ DISK0, "\"irq\": 33", "disks[0].irq: not allowed" },
};

Test(xen_policy, each_refused_class)
{
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		refused(&lab, lab_plus(bad[i].where, bad[i].member),
		    bad[i].want);
	/* An emulated NIC instead of the sample's PV one: QEMU's, which
	 * runs as root on the backup only with --allow-hvm. */
	refused(&lab, lab_with("\"nictype\": \"vif\"",
	    "\"nictype\": \"vif_ioemu\""), "nics[0].nictype \"vif_ioemu\": "
	    "not allowed by remusd's policy (only PV network devices, and "
	    "QEMU's emulated NICs with --allow-hvm)");
}

static char *hvm_plus(const char *member);

Test(xen_policy, only_pvh_and_hvm)
{
	refused(&lab_hvm, lab_with("\"type\": \"pvh\"", "\"type\": \"pv\""),
	    "c_info.type \"pv\": not allowed by remusd's policy (only PVH "
	    "guests, and HVM guests with --allow-hvm, are replicated)");
	/* HVM only when remusd said so (its QEMU runs as root here). */
	refused(&lab, hvm_plus(NULL), "c_info.type \"hvm\": not allowed by "
	    "remusd's policy (only PVH guests, and HVM guests with "
	    "--allow-hvm, are replicated)");
}

/* The lab's HVM domU (labtest.sh's hvm phase: the PVH one as type hvm
 * with qemu-xen, serial pty, no display) with MEMBER added to its
 * type.hvm, or as it is with MEMBER NULL. */
static char *
hvm_plus(const char *member)
{
	char to[1024];

	snprintf(to, sizeof to, "\"type.hvm\": { %s%s\"serial\": \"pty\", "
	    "\"vga\": { \"kind\": \"none\" }, \"vnc\": { \"enable\": "
	    "\"False\" }, \"sdl\": { \"enable\": \"False\" } }",
	    member ? member : "", member ? ", " : "");
	return replace(replace(replace(lab_json(), "\"type\": \"pvh\"",
	    "\"type\": \"hvm\""), "\"type.pvh\": {\n\n        }", to),
	    "\"max_vcpus\": 1,", "\"max_vcpus\": 1, \"device_model_version\": "
	    "\"qemu_xen\",");
}

Test(xen_policy, hvm_accepted)
{
	accepted(&lab_hvm, hvm_plus(NULL));
	accepted(&lab_hvm, hvm_plus("\"acpi_s3\": \"False\", \"viridian\": "
	    "\"True\", \"hpet\": \"True\", \"boot\": \"cd\", \"usb\": "
	    "\"True\", \"usbdevice\": \"tablet\", \"xen_platform_pci\": "
	    "\"True\", \"timeoffset\": \"3600\""));
	/* The lab's unmodified HVM guest: QEMU's e1000 beside the vif. */
	accepted(&lab_hvm, replace(hvm_plus("\"xen_platform_pci\": "
	    "\"False\""), "\"nictype\": \"vif\"", "\"nictype\": "
	    "\"vif_ioemu\", \"model\": \"e1000\""));
	/* A VNC console on the backup's loopback (reached through ssh). */
	accepted(&lab_hvm, replace(hvm_plus(NULL), "\"vnc\": { \"enable\": "
	    "\"False\" }", "\"vnc\": { \"enable\": \"True\", \"listen\": "
	    "\"127.0.0.1\", \"display\": 3 }"));
}

/* What an HVM guest's device model would reach on the backup host. */
Test(xen_policy, hvm_host_facing_refused)
{
	/* libxl builds -device MODEL,...: a network card, nothing else */
	refused(&lab_hvm, replace(hvm_plus(NULL), "\"nictype\": \"vif\"",
	    "\"nictype\": \"vif_ioemu\", \"model\": \"vfio-pci\""),
	    "nics[0].model \"vfio-pci\": not allowed by remusd's policy (not "
	    "one of QEMU's emulated network cards)");
	static const struct { const char *member, *want; } hvm_bad[] = {
		{ "\"serial_list\": [ \"file:/etc/shadow\" ]",
		    "b_info.type.hvm.serial_list: not allowed" },
		{ "\"soundhw\": \"hda\"", "b_info.type.hvm.soundhw: not "
		    "allowed by remusd's policy (the backup host's sound "
		    "device)" },
		{ "\"usbdevice\": \"host:1234:5678\"",
		    "b_info.type.hvm.usbdevice \"host:1234:5678\": not "
		    "allowed" },
		{ "\"usbdevice_list\": [ \"tablet\" ]",
		    "b_info.type.hvm.usbdevice_list: not allowed" },
		{ "\"spice\": { \"enable\": \"True\" }",
		    "b_info.type.hvm.spice: not allowed" },
		{ "\"gfx_passthru\": \"True\"",
		    "b_info.type.hvm.gfx_passthru" },
		{ "\"rdm\": { \"strategy\": \"host\" }",
		    "b_info.type.hvm.rdm: not allowed" },
		{ "\"system_firmware\": \"/etc/shadow\"",
		    "b_info.type.hvm.system_firmware \"/etc/shadow\" is not "
		    "an allowed kernel" },
		{ "\"keymap\": \"../../x\"", "b_info.type.hvm.keymap" },
		{ "\"new_thing\": 1", "b_info.type.hvm.new_thing: not "
		    "allowed" },
	};
	size_t i;

	for (i = 0; i < sizeof hvm_bad / sizeof hvm_bad[0]; i++)
		refused(&lab_hvm, hvm_plus(hvm_bad[i].member), hvm_bad[i].want);
	refused(&lab_hvm, replace(hvm_plus(NULL), "\"serial\": \"pty\"",
	    "\"serial\": \"file:/etc/shadow\""), "b_info.type.hvm.serial "
	    "\"file:/etc/shadow\": not allowed by remusd's policy (a host "
	    "file, device or socket as the serial port)");
	refused(&lab_hvm, replace(hvm_plus(NULL), "\"vnc\": { \"enable\": "
	    "\"False\" }", "\"vnc\": { \"enable\": \"True\", "
	    "\"listen\": \"0.0.0.0\" }"), "b_info.type.hvm.vnc.listen "
	    "\"0.0.0.0\": not allowed by remusd's policy (a VNC server on "
	    "the backup host's network)");
	refused(&lab_hvm, replace(hvm_plus(NULL), "\"sdl\": { \"enable\": "
	    "\"False\" }", "\"sdl\": { \"enable\": \"True\" }"),
	    "b_info.type.hvm.sdl.enable");
}

Test(xen_policy, other_bridge)
{
	refused(&lab, lab_with("\"bridge\": \"xenbr0\"",
	    "\"bridge\": \"br-mgmt\""),
	    "nics[0].bridge \"br-mgmt\" is not an allowed bridge "
	    "(--allow-bridge)");
}

Test(xen_policy, default_bridge_must_be_allowed)
{
	static const char *const other[] = { "br1", NULL };
	struct xen_policy p = lab;

	p.bridges = other;
	refused(&p, lab_with("\"bridge\": \"xenbr0\",", ""),
	    "nics[0].bridge (default xenbr0) is not an allowed bridge");
}

Test(xen_policy, other_kernel)
{
	refused(&lab, lab_with("\"/guest/vmlinuz\"", "\"/root/evil\""),
	    "b_info.kernel \"/root/evil\" is not an allowed kernel, ramdisk or "
	    "firmware (--allow-kernel)");
	refused(&lab, lab_plus(B_INFO, "\"device_tree\": \"/tmp/dt\""),
	    "b_info.device_tree \"/tmp/dt\" is not an allowed kernel");
}

Test(xen_policy, ramdisk_reads_a_host_file)
{
	refused(&lab, lab_with("\"/guest/initrd\"", "\"/etc/shadow\""),
	    "b_info.ramdisk \"/etc/shadow\"");
}

Test(xen_policy, device_model)
{
	static const char *const models[] = {
		"/usr/lib/xen/bin/qemu-system-i386", NULL };
	struct xen_policy p = lab;

	/* The lab gives no --allow-device-model: none may run. */
	refused(&lab, lab_plus(B_INFO, "\"device_model\": "
	    "\"/usr/lib/xen/bin/qemu-system-i386\""),
	    "b_info.device_model \"/usr/lib/xen/bin/qemu-system-i386\" is not "
	    "an allowed device model (--allow-device-model)");
	p.device_models = models;
	accepted(&p, lab_plus(B_INFO, "\"device_model\": "
	    "\"/usr/lib/xen/bin/qemu-system-i386\""));
	refused(&p, lab_plus(B_INFO, "\"device_model\": \"/bin/sh\""),
	    "b_info.device_model \"/bin/sh\" is not an allowed device model");
}

Test(xen_policy, hotplug_scripts)
{
	refused(&lab, lab_with("\"/tmp/block-lab\"", "\"/tmp/x.sh\""),
	    "disks[0].script \"/tmp/x.sh\" is not an allowed hotplug script "
	    "(--allow-script)");
	refused(&lab, lab_plus(NIC0, "\"script\": \"../../tmp/x\""),
	    "nics[0].script \"../../tmp/x\"");
	/* Xen's own, by name or in its directory: fine. */
	accepted(&lab, lab_plus(NIC0, "\"script\": \"vif-bridge\""));
	accepted(&lab, lab_plus(NIC0, "\"script\": "
	    "\"/etc/xen/scripts/vif-route\""));
}

Test(xen_policy, two_disks_one_image)
{
	refused(&lab, lab_with("\"disks\": [",
	    "\"disks\": [ { \"pdev_path\": \"/dev/sda\", \"vdev\": \"xvdb\" },"),
	    "the domain has 2 disks (xvdb, xvda), this backup holds 1 image "
	    "for the guest ((unnamed))");
}

/* Several disks, each by its vdev: in any order the images are given,
 * each disk gets its own; a vdev without an image, or an image without a
 * disk, is refused by name. */
static struct diskmap_ent two_ents[] = {
	{ NULL, (char *)"xvdb", (char *)"/tmp/b-xvdb.img", 0 },
	{ NULL, (char *)"xvda", (char *)"/tmp/b-xvda.img", 0 },
};
static const struct diskmap two_disks = { two_ents, 2, 1 };

Test(xen_policy, two_disks_by_vdev)
{
	struct xen_policy p = lab;

	p.disks = &two_disks;
	accepted(&p, lab_with("\"disks\": [",
	    "\"disks\": [ { \"pdev_path\": \"/dev/nbd1\", \"vdev\": \"xvdb\" },"));
	/* xvdc instead of xvdb: no image for it. */
	refused(&p, lab_with("\"disks\": [",
	    "\"disks\": [ { \"pdev_path\": \"/dev/nbd1\", \"vdev\": \"xvdc\" },"),
	    "the domain's disk xvdc has no image on this backup (it holds "
	    "xvdb, xvda)");
	/* Only xvda: xvdb's image would be nobody's. */
	refused(&p, lab_json(), "the domain has 1 disk (xvda), this backup "
	    "holds 2 images for the guest (xvdb, xvda)");
	/* A vdev remus cannot name. */
	refused(&p, lab_with("\"disks\": [",
	    "\"disks\": [ { \"pdev_path\": \"/dev/nbd1\", \"vdev\": \"x/y\" },"),
	    "disks[0].vdev \"x/y\": not a disk name remus can match");
	/* The second disk's members are checked like the first's. */
	refused(&p, lab_with("\"disks\": [",
	    "\"disks\": [ { \"vdev\": \"xvdb\", \"colo_port\": 9 },"),
	    "disks[0].colo_port: not allowed");
}

/* An image given but the guest has no disk: the image would be nobody's. */
Test(xen_policy, image_without_disk)
{
	refused(&lab, sample("lab-domu.json"), "the domain has 0 disks");
}

Test(xen_policy, a_path_that_is_not_a_string)
{
	refused(&lab, lab_with("\"/guest/vmlinuz\"", "42"),
	    "b_info.kernel: not a string");
	refused(&lab_nodisk, replace(sample("lab-domu.json"), "\"nics\": [",
	    "\"disks\": { \"a\": 1 }, \"nics\": ["), "disks: not an array");
	refused(&lab, lab_with("\"nics\": [", "\"nics\": [ 1,"),
	    "nics[0]: not an object");
	refused(&lab, lab_with("\"type.pvh\": {", "\"type.pvh\": 1, \"x\": {"),
	    "b_info.type.pvh: not an object");
}

/* What json-c and libxl's parser (yajl) could read differently: the
 * check must be of what libxl builds. */
Test(xen_policy, smuggling)
{
	/* Twice: json-c keeps the last, libxl takes the first. */
	refused(&lab, lab_with("\"kernel\": \"/guest/vmlinuz\"",
	    "\"kernel\": \"/root/evil\", \"kernel\": \"/guest/vmlinuz\""),
	    "a member is given twice");
	refused(&lab, lab_with("\"nics\": [", "\"vfbs\": [ {} ], \"vfbs\": [], "
	    "\"nics\": ["), "a member is given twice");
	/* A NUL inside a name or a value. */
	refused(&lab, lab_with("\"/guest/vmlinuz\"",
	    "\"/guest/vmlinuz\\u0000/../../root/k\""), "an escaped NUL");
	refused(&lab, lab_plus(B_INFO, "\"extra\\u0000x\": [ \"-x\" ]"),
	    "an escaped NUL");
	/* A ':' inside a string is not a member. */
	accepted(&lab, lab_with("\"console=hvc0 quiet\"",
	    "\"console=hvc0 quiet x:y \\\" a:b\""));
	/* Comments, single quotes, trailing commas, trailing text. */
	refused_err(&lab, lab_with("\"c_info\": {",
	    "/* \"extra\": 1 */ \"c_info\": {"), EINVAL,
	    "not a libxl domain configuration");
	refused_err(&lab, lab_with("\"max_vcpus\": 1,", "'max_vcpus': 1,"),
	    EINVAL, "not a libxl domain configuration: a single-quoted string");
	refused_err(&lab, lab_with("\"max_vcpus\": 1,", "'ex:tra': 1,"),
	    EINVAL, "a single-quoted string");
	refused_err(&lab, lab_with("\"max_vcpus\": 1,", "\"max_vcpus\": 1,,"),
	    EINVAL, "not a libxl domain configuration");
	{
		char *j = lab_json();
		size_t n = strlen(j);

		j = realloc(j, n + 16);
		cr_assert_not_null(j);
		strcpy(j + n, " {\"x\": 1}");
		refused_err(&lab, j, EINVAL, "not a libxl domain "
		    "configuration");
	}
}

Test(xen_policy, not_a_domain_config)
{
	char why[512];

	errno = 0;
	cr_assert(eq(int, xen_policy_check(&lab, "{\"x\": 1}", why,
	    sizeof why), -1));
	cr_assert(eq(int, errno, EINVAL));
	cr_assert(eq(int, xen_policy_check(&lab, "{\"c_info\": {", why,
	    sizeof why), -1));
	cr_assert_not_null(strstr(why, "not a libxl domain configuration"),
	    "%s", why);
	cr_assert(eq(int, xen_policy_check(&lab, "", why, sizeof why), -1));
	cr_assert(eq(int, errno, EINVAL));
}
