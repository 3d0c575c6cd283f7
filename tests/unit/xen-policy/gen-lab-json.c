/* tests/unit/xen-policy/gen-lab-json.c -- lab-domu.json and
 * lab-domu-disk.json, written by Xen's own libxl_domain_config_to_json.
 *
 * The config is tests/lab/xen/labtest.sh's domu.cfg as the primary's
 * libxl_retrieve_domain_configuration returns it in Xen 4.17: the copy
 * xl's parse_config_data made (with xl.conf's defaults and
 * xl_vmcontrol.c's domid_policy), updated as libxl_create.c's
 * libxl__update_domain_configuration does at create (nic devid, nictype,
 * mac; uuid; video_memkb; arch_x86.msr_relaxed) and as libxl_domain.c's
 * retrieve_domain_configuration_end does (name, uuid, avail_vcpus of
 * max_vcpus bits, memory, scheduler parameters: credit2, Xen 4.17's
 * default).  libxl__domain_config_setdefault works on another copy, so
 * its defaults are not in it.
 *
 * Not built by CMake: it needs libxenlight (libxen-dev).  The JSON writer
 * needs no hypervisor; libxl_ctx_alloc does, so a zeroed context stands
 * in (to_json uses it only to log a failure):
 *
 *	cc gen-lab-json.c -o gen -lxenlight -lxentoollog
 *	./gen > lab-domu.json; ./gen disk > lab-domu-disk.json
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxl.h>
#include <libxl_utils.h>
int main(int argc, char **argv)
{
	static char fake[1 << 16];
	libxl_ctx *ctx = (libxl_ctx *)fake;
	libxl_domain_config d;
	libxl_domain_create_info *c = &d.c_info;
	libxl_domain_build_info *b = &d.b_info;
	int disk = argc > 1;
	char *j;

	libxl_domain_config_init(&d);
	/* xl parse_config_data */
	libxl_defbool_set(&c->run_hotplug_scripts, 1);
	c->type = LIBXL_DOMAIN_TYPE_PVH;
	c->name = strdup("domu");
	/* xl_vmcontrol.c create_domain: domid_policy, INVALID_DOMID */
	c->domid = INVALID_DOMID;
	libxl_uuid_from_string(&c->uuid, "3f8a5c1e-6b2d-4e1a-9c7f-0d2b4a6e8c10");
	libxl_domain_build_info_init_type(b, c->type);
	b->target_memkb = 128 * 1024;
	b->max_memkb = b->target_memkb;
	b->max_vcpus = 1;
	b->max_grant_frames = -1;
	b->max_maptrack_frames = -1;
	b->max_grant_version = LIBXL_MAX_GRANT_DEFAULT;
	libxl_defbool_set(&b->claim_mode, 1);
	d.on_poweroff = LIBXL_ACTION_ON_SHUTDOWN_DESTROY;
	d.on_reboot = LIBXL_ACTION_ON_SHUTDOWN_DESTROY;
	d.on_watchdog = LIBXL_ACTION_ON_SHUTDOWN_DESTROY;
	d.on_crash = LIBXL_ACTION_ON_SHUTDOWN_PRESERVE;
	d.on_soft_reset = LIBXL_ACTION_ON_SHUTDOWN_SOFT_RESET;
	b->tsc_mode = LIBXL_TSC_MODE_NATIVE;
	b->kernel = strdup("/guest/vmlinuz");
	b->ramdisk = strdup("/guest/initrd");
	b->cmdline = strdup("console=hvc0 quiet");
	if (disk) {
		libxl_device_disk *k;
		d.disks = calloc(1, sizeof(*d.disks));
		d.num_disks = 1;
		k = &d.disks[0];
		libxl_device_disk_init(k);
		k->pdev_path = strdup("/dev/nbd0");
		k->vdev = strdup("xvda");
		k->format = LIBXL_DISK_FORMAT_RAW;
		k->readwrite = 1;
		k->script = strdup("/tmp/block-lab");
	}
	d.nics = calloc(1, sizeof(*d.nics));
	d.num_nics = 1;
	libxl_device_nic_init(&d.nics[0]);
	d.nics[0].devid = 0;
	d.nics[0].bridge = strdup("xenbr0");
	{ static const uint8_t m[6] = { 0, 0x16, 0x3e, 0, 0, 2 }; memcpy(d.nics[0].mac, m, 6); }
	/* libxl__update_domain_configuration at create */
	d.nics[0].nictype = LIBXL_NIC_TYPE_VIF;
	b->video_memkb = 0;
	libxl_defbool_set(&b->arch_x86.msr_relaxed, 0);
	/* retrieve: avail_vcpus of max_vcpus bits, vcpu 0 online;
	 * scheduler parameters (credit2) */
	b->avail_vcpus.size = 1;
	b->avail_vcpus.map = calloc(1, 1);
	b->avail_vcpus.map[0] = 1;
	b->sched_params.sched = LIBXL_SCHEDULER_CREDIT2;
	b->sched_params.weight = 256;
	b->sched_params.cap = 0;
	j = libxl_domain_config_to_json(ctx, &d);
	if (j == NULL)
		return 1;
	puts(j);
	return 0;
}
