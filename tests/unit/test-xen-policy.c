/* tests/unit/test-xen-policy.c -- the backup's check of a Xen twin's
 * configuration (domain/xen-policy.c) on libxl JSON: the lab's domU as
 * the primary sends it (tests/unit/xen-policy/lab-domu.json, the shape of
 * tests/lab/xen's domu.cfg after libxl), then that config changed the
 * ways an attacker would, one field at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "diskmap.h"
#include "xen-policy.h"

static const char *const bridges[] = { "xenbr0", NULL };
static const char *const kernels[] = { "/guest/vmlinuz", "/guest/initrd",
	NULL };
static const char *const scripts[] = { "/tmp/block-lab", NULL };
static const char *const models[] = { "/usr/lib/xen/bin/qemu-system-i386",
	NULL };

/* The lab's policy: what tests/lab/xen/labtest.sh gives remusd (one
 * unnamed --disk, which is the domain's one disk whatever its vdev). */
static struct diskmap_ent lab_ents[] = {
	{ NULL, (char *)"", (char *)"/tmp/b.img", 0 },
};
static const struct diskmap lab_disks = { lab_ents, 1, 1 };
static const struct xen_policy lab = {
	.disks = &lab_disks,
	.bridges = bridges,
	.kernels = kernels,
	.device_models = models,
	.scripts = scripts,
};

static char *
lab_json(void)
{
	char path[512], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof path, "%s/tests/unit/xen-policy/lab-domu.json",
	    REMUS_SRC_DIR);
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

/* The lab config with FROM replaced by TO (FROM must be there). */
static char *
lab_with(const char *from, const char *to)
{
	char *j = lab_json(), *at = strstr(j, from), *out;

	cr_assert_not_null(at, "\"%s\" not in the sample", from);
	out = calloc(1, strlen(j) - strlen(from) + strlen(to) + 1);
	cr_assert_not_null(out);
	memcpy(out, j, (size_t)(at - j));
	strcat(out, to);
	strcat(out, at + strlen(from));
	free(j);
	return out;
}

/* JSON refused, WHY containing WANT. */
static void
refused(const struct xen_policy *p, char *json, const char *want)
{
	char why[512];

	errno = 0;
	cr_assert(eq(int, xen_policy_check(p, json, why, sizeof why), -1),
	    "accepted, want \"%s\"", want);
	cr_assert(eq(int, errno, EPERM));
	cr_assert_not_null(strstr(why, want), "why: \"%s\", want \"%s\"", why,
	    want);
	free(json);
}

Test(xen_policy, lab_config_accepted)
{
	char why[512], *j = lab_json();

	cr_assert(eq(int, xen_policy_check(&lab, j, why, sizeof why), 0),
	    "%s", why);
	free(j);
}

Test(xen_policy, no_policy_refuses_everything_the_lab_names)
{
	char why[512], *j = lab_json();

	cr_assert(eq(int, xen_policy_check(NULL, j, why, sizeof why), -1));
	cr_assert_not_null(strstr(why, "disks[0] \"/dev/nbd0\": this backup "
	    "has no disk image"), "%s", why);
	free(j);
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
	    "b_info.kernel \"/root/evil\" is not an allowed kernel");
}

Test(xen_policy, ramdisk_reads_a_host_file)
{
	refused(&lab, lab_with("\"/guest/initrd\"", "\"/etc/shadow\""),
	    "b_info.ramdisk \"/etc/shadow\"");
}

Test(xen_policy, pv_kernel_in_the_typed_part)
{
	refused(&lab, lab_with("\"type.pvh\": {",
	    "\"type.pv\": { \"kernel\": \"/tmp/k\", "),
	    "b_info.type.pv.kernel \"/tmp/k\"");
}

Test(xen_policy, device_model_and_bootloader)
{
	refused(&lab, lab_with("\"cmdline\"",
	    "\"device_model\": \"/bin/sh\", \"cmdline\""),
	    "b_info.device_model \"/bin/sh\" is not an allowed device model "
	    "or bootloader (--allow-device-model)");
	refused(&lab, lab_with("\"cmdline\"",
	    "\"bootloader\": \"/tmp/pwn\", \"cmdline\""),
	    "b_info.bootloader \"/tmp/pwn\"");
}

Test(xen_policy, hotplug_scripts)
{
	refused(&lab, lab_with("\"/tmp/block-lab\"", "\"/tmp/x.sh\""),
	    "disks[0].script \"/tmp/x.sh\" is not an allowed hotplug script "
	    "(--allow-script)");
	refused(&lab, lab_with("\"vif-bridge\"", "\"../../tmp/x\""),
	    "nics[0].script \"../../tmp/x\"");
	/* Xen's own, by name or in its directory: fine. */
	{
		char why[512], *j = lab_with("\"vif-bridge\"",
		    "\"/etc/xen/scripts/vif-route\"");

		cr_assert(eq(int, xen_policy_check(&lab, j, why, sizeof why),
		    0), "%s", why);
		free(j);
	}
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
	char why[512], *j = lab_with("\"disks\": [",
	    "\"disks\": [ { \"pdev_path\": \"/dev/nbd1\", \"vdev\": \"xvdb\" },");

	p.disks = &two_disks;
	cr_assert(eq(int, xen_policy_check(&p, j, why, sizeof why), 0), "%s",
	    why);
	free(j);
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
}

Test(xen_policy, passthrough_refused)
{
	refused(&lab, lab_with("\"on_poweroff\"",
	    "\"pcidevs\": [ { \"bdf\": \"0000:03:00.0\" } ], \"on_poweroff\""),
	    "pcidevs: passing host devices or paths");
	refused(&lab, lab_with("\"on_poweroff\"",
	    "\"p9s\": [ { \"tag\": \"root\", \"path\": \"/\" } ], "
	    "\"on_poweroff\""), "p9s: passing host devices or paths");
	refused(&lab, lab_with("\"cmdline\"",
	    "\"iomem\": [ { \"start\": 0, \"number\": 16 } ], \"cmdline\""),
	    "b_info.iomem: passing host devices or paths");
	/* Empty lists name nothing. */
	{
		char why[512], *j = lab_with("\"on_poweroff\"",
		    "\"pcidevs\": [], \"on_poweroff\"");

		cr_assert(eq(int, xen_policy_check(&lab, j, why, sizeof why),
		    0), "%s", why);
		free(j);
	}
}

Test(xen_policy, a_path_that_is_not_a_string)
{
	refused(&lab, lab_with("\"/guest/vmlinuz\"", "42"),
	    "b_info.kernel: not a string");
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
}
