/* remusd/pidfile.h -- the pids file remus(8) keeps for the fence agents.
 *
 * DIR/<name>.pids, <name> the guest spec with ':' and '/' made '_'
 * (proc:1234 -> proc_1234.pids), one line:
 *
 *   remus_pid=N remus_start=S guest_pid=N guest_start=S guest=SPEC  (proc)
 *   remus_pid=N remus_start=S domid=N guest=SPEC                    (xen)
 *
 * S is the start time of the process (/proc/PID/stat field 22, clock
 * ticks since boot), so that an agent that finds the pid in use again
 * can tell it is another process.  contrib/fence/fence-remus-proc reads
 * it on the primary's host (docs/failover.md, "Fencing").
 */
#ifndef REMUS_PIDFILE_H
#define REMUS_PIDFILE_H

#include <stddef.h>

#define PIDFILE_RUN_DIR	"/run/remus"

/* Write the file atomically (temporary file, then rename), creating DIR
 * (0755) if it is missing.  DRIVER is the guest driver's name ("proc",
 * "xen"), ID the spec's part after "driver:" (a pid, a domid or a name),
 * SPEC the whole spec.  The file's path goes to PATH.  0, or -1 with
 * errno set and the reason logged. */
int	pidfile_write(const char *dir, const char *driver, const char *id,
	    const char *spec, char *path, size_t pathlen);
/* Remove it (orderly exit).  PATH "" or NULL: nothing. */
void	pidfile_remove(const char *path);

#endif /* REMUS_PIDFILE_H */
