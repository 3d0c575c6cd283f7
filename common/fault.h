/* common/fault.h -- fault injection points (STYLE T6, after CRIU_FAULT).
 *
 * REMUS_FAULT=<name>[,<name>...] in the environment switches points on;
 * REMUS_FAULT_EPOCH=<n> limits epoch-scoped faults to epoch n, and
 * REMUS_FAULT_DISK=<i> disk-scoped ones to the disk of index i.  Code checks
 * fault_injected(FI_X) at the point; it costs one load when unset.
 */
#ifndef REMUS_FAULT_H
#define REMUS_FAULT_H

#include <stdint.h>

enum remus_fault {
	FI_NONE = 0,
	FI_STREAM_CORRUPT,	/* primary: flip one byte of an epoch on the wire */
	FI_STREAM_TRUNCATE,	/* primary: stop mid-epoch and exit */
	FI_ACK_DROP,		/* backup: apply but never send ACK */
	FI_DISKBUF_EIO,		/* backup: disk apply fails with EIO */
	FI_PLUG_FAIL,		/* netbuf: buffer/release fails */
	/* Backup, proc replica commit (domain/proc-store.c): _exit(9) at one
	 * step of the commit of epoch REMUS_FAULT_EPOCH (or any), as if
	 * remusd were killed there.  In commit order: */
	FI_REPLICA_CRASH_IN_JOURNAL,	/* half the journal written */
	FI_REPLICA_CRASH_BEFORE_RECORD,	/* journal whole, no commit record */
	FI_REPLICA_CRASH_AFTER_JOURNAL,	/* journal committed, image untouched */
	FI_REPLICA_CRASH_IN_APPLY,	/* half the pages written to the image */
	FI_REPLICA_CRASH_AFTER_APPLY,	/* image done, epoch files not */
	FI_REPLICA_CRASH_AFTER_SESSION,	/* proc-session new, proc-epoch old */
	FI_REPLICA_CRASH_AFTER_EPOCH,	/* all done but the journal retired */
	FI_REPLICA_SLOW_COMMIT,		/* 2 ms sleeps inside each commit */
	FI_ACTIVATED_DROP,	/* backup: a switchover activates, but the link
				 * is cut instead of sending ACTIVATED */
	FI_PRECOPY_SLOW,	/* primary: 20 ms between the pre-copy and the
				 * suspend, so that the guest writes pages in
				 * that window (copied or not yet) */
	FI_ACTIVATE_SLOW_PID,	/* backup, proc activation: the intermediate
				 * child reports the guest's pid 300 ms late,
				 * as a loaded host's scheduler may */
	FI_DEVSTATE_BAD_LZ4,	/* primary: the epoch's DEVICE_STATE says LZ4
				 * but its block does not decode (well framed:
				 * what a buggy or hostile primary sends) */
	FI_MAX
};

extern uint32_t fault_mask;	/* bit per enum remus_fault; 0 = none */
extern uint64_t fault_epoch;	/* 0 = any epoch */
extern int64_t fault_disk;	/* -1 = any disk */

/* Read REMUS_FAULT / REMUS_FAULT_EPOCH.  Unknown names are an error:
 * 0, or -1 with errno = EINVAL (the caller says which name). */
int	fault_init(void);
const char *fault_name(enum remus_fault f);

static inline int
fault_injected(enum remus_fault f)
{
	return (fault_mask >> f) & 1;
}

static inline int
fault_injected_epoch(enum remus_fault f, uint64_t epoch)
{
	return fault_injected(f) && (fault_epoch == 0 || fault_epoch == epoch);
}

/* A disk-scoped fault (diskbuf-eio) may hit disk index DISK. */
static inline int
fault_disk_ok(unsigned disk)
{
	return fault_disk < 0 || fault_disk == (int64_t)disk;
}

#endif /* REMUS_FAULT_H */
