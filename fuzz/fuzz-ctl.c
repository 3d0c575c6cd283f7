/* fuzz/fuzz-ctl.c -- the control socket's request parser (STYLE F4):
 * every line of the input goes through ctl_parse_request, as remusd/ctl.c
 * feeds it; an accepted request is serialised again, then freed.
 *
 * Built with a replay main (fuzz-ctl-replay FILE|DIR...) for every test
 * run; with -DREMUS_FUZZ=ON and clang, fuzz-ctl is the libFuzzer binary.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct json_object *req;
	const char *verb;
	char err[256];

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (ctl_parse_request(p, (size_t)(nl - p), &req, &verb, err,
		    sizeof err) == 0) {
			if (verb == NULL || strlen(verb) > (size_t)(nl - p) ||
			    json_object_to_json_string(req) == NULL)
				abort();
			json_object_put(req);
		} else if (err[0] == '\0')
			abort();	/* a refusal always says why */
		p = nl + 1;
	}
	return 0;
}
