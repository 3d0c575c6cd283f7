/* fuzz/fuzz-xenpolicy.c -- the backup's check of a Xen twin's libxl JSON
 * (domain/xen-policy.c): the input, NUL-terminated, checked under the
 * Xen lab's remusd flags (tests/lab/xen/labtest.sh) with one disk image.
 * A refusal must say why, with errno EPERM or EINVAL; an acceptance must
 * be JSON that json-c reads back as an object.
 *
 * Built with a replay main (fuzz-xenpolicy-replay FILE|DIR...) for every
 * test run; with -DREMUS_FUZZ=ON and clang, fuzz-xenpolicy is the
 * libFuzzer binary.  Seeds: fuzz/corpus/xenpolicy (the unit test's lab
 * samples and some refused variants).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "diskmap.h"
#include "xen-policy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const bridges[] = { "xenbr0", NULL };
static const char *const kernels[] = { "/guest/vmlinuz", "/guest/initrd",
	NULL };
static const char *const scripts[] = { "/tmp/block-lab", NULL };
static struct diskmap_ent ents[] = {
	{ NULL, (char *)"", (char *)"/tmp/b.img", 0 },
};
static const struct diskmap disks = { ents, 1, 1 };
static const struct xen_policy lab = {
	.disks = &disks,
	.bridges = bridges,
	.kernels = kernels,
	.scripts = scripts,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[320], *json;
	struct json_object *o;
	int rc;

	json = malloc(size + 1);
	if (json == NULL)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	errno = 0;
	rc = xen_policy_check(&lab, json, why, sizeof why);
	if (rc == -1 && (why[0] == '\0' || (errno != EPERM &&
	    errno != EINVAL && errno != ENOMEM)))
		abort();	/* a refusal always says why */
	if (rc == 0) {
		o = json_tokener_parse(json);
		if (o == NULL || !json_object_is_type(o, json_type_object))
			abort();
		json_object_put(o);
	} else if (rc != -1)
		abort();
	free(json);
	return 0;
}
