/* remusd/devices-weak.c -- default device adapters: attach nothing.
 *
 * A real adapter (remusd/dev-netbuf.c, remusd/dev-diskbuf.c) defines the
 * same symbol without the weak attribute and wins at link time, so remus
 * builds and runs before and after the device modules land.
 */
#include <stddef.h>
#include <string.h>

#include "compiler.h"
#include "devices.h"
#include "log.h"

__attribute__((weak)) int
dev_netbuf_attach(struct ckpt *c __unused, const struct remus_devopts *o __unused)
{
	return 0;
}

__attribute__((weak)) void
dev_netbuf_held(struct dev_netbuf_held *h)
{
	memset(h, 0, sizeof *h);
}

__attribute__((weak)) int
dev_diskbuf_attach(struct ckpt *c __unused, const struct remus_devopts *o __unused)
{
	return 0;
}

__attribute__((weak)) int
dev_diskbuf_backup_attach(struct backup *b __unused,
    const struct remus_devopts *o __unused)
{
	return 0;
}

__attribute__((weak)) int
dev_diskbuf_guest_disks(const char *spec, const char *disks,
    struct remus_devopts *o __unused)
{
	if (*disks == '\0')
		return 0;
	log_warnx("%s: its disks (%s) cannot be replicated by this build: "
	    "give -F -d if they are on shared storage", spec, disks);
	return -1;
}
