/* remusd/devices-weak.c -- default device adapters: attach nothing.
 *
 * A real adapter (remusd/dev-netbuf.c, remusd/dev-diskbuf.c) defines the
 * same symbol without the weak attribute and wins at link time, so remus
 * builds and runs before and after the device modules land.
 */
#include <stddef.h>

#include "compiler.h"
#include "devices.h"

__attribute__((weak)) int
dev_netbuf_attach(struct ckpt *c __unused, const struct remus_devopts *o __unused)
{
	return 0;
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
