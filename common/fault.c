/* common/fault.c -- parse REMUS_FAULT. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "util.h"

uint32_t fault_mask;
_Static_assert(FI_MAX <= 32, "fault_mask has one bit per fault");
uint64_t fault_epoch;
int64_t fault_disk = -1;

static const char *const names[FI_MAX] = {
	[FI_NONE] = "none",
	[FI_STREAM_CORRUPT] = "stream-corrupt",
	[FI_STREAM_TRUNCATE] = "stream-truncate",
	[FI_ACK_DROP] = "ack-drop",
	[FI_DISKBUF_EIO] = "diskbuf-eio",
	[FI_PLUG_FAIL] = "plug-fail",
	[FI_REPLICA_CRASH_IN_JOURNAL] = "replica-crash-in-journal",
	[FI_REPLICA_CRASH_BEFORE_RECORD] = "replica-crash-before-record",
	[FI_REPLICA_CRASH_AFTER_JOURNAL] = "replica-crash-after-journal",
	[FI_REPLICA_CRASH_IN_APPLY] = "replica-crash-in-apply",
	[FI_REPLICA_CRASH_AFTER_APPLY] = "replica-crash-after-apply",
	[FI_REPLICA_CRASH_AFTER_SESSION] = "replica-crash-after-session",
	[FI_REPLICA_CRASH_AFTER_EPOCH] = "replica-crash-after-epoch",
	[FI_REPLICA_SLOW_COMMIT] = "replica-slow-commit",
	[FI_ACTIVATED_DROP] = "activated-drop",
	[FI_PRECOPY_SLOW] = "precopy-slow",
	[FI_ACTIVATE_SLOW_PID] = "activate-slow-pid",
	[FI_DEVSTATE_BAD_LZ4] = "devstate-bad-lz4",
};

const char *
fault_name(enum remus_fault f)
{
	return f < FI_MAX ? names[f] : "?";
}

int
fault_init(void)
{
	const char *env = getenv("REMUS_FAULT");
	const char *ep = getenv("REMUS_FAULT_EPOCH");
	const char *dk = getenv("REMUS_FAULT_DISK");
	char buf[256], *tok, *save;
	uint64_t v;
	int i;

	fault_mask = 0;
	fault_epoch = 0;
	fault_disk = -1;
	if (ep && parse_uint(ep, 0, UINT64_MAX, &fault_epoch) == -1)
		return -1;
	if (dk && *dk) {
		if (parse_uint(dk, 0, UINT16_MAX, &v) == -1)
			return -1;
		fault_disk = (int64_t)v;
	}
	if (env == NULL || *env == '\0')
		return 0;
	if (strlen(env) >= sizeof buf) {
		errno = EINVAL;
		return -1;
	}
	strcpy(buf, env);
	for (tok = strtok_r(buf, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		for (i = 1; i < FI_MAX; i++)
			if (strcmp(tok, names[i]) == 0)
				break;
		if (i == FI_MAX) {
			errno = EINVAL;
			return -1;
		}
		fault_mask |= 1u << i;
	}
	return 0;
}
