/* domain/qmp.h -- a QMP client for QEMU device models (qemu-system-xen).
 *
 * An HVM guest's device model holds the state of the emulated devices
 * (timers, interrupt controllers, the keyboard, ...), which a checkpoint
 * must carry with the guest's memory.  The toolstack asks QEMU for it over
 * QMP, a JSON protocol on a unix socket (libxl's is
 * /var/run/xen/qmp-libxl-<domid>).  At each checkpoint, as libxl does it:
 *
 *   domain suspended -> qmp_stop()
 *                       qmp_save_devices(F)   QEMU writes a "QEVM" stream
 *                                             without RAM to file F
 *                                             (or _begin ... _end, the
 *                                             caller working between)
 *   domain resumed   -> qmp_cont()
 *
 * and on the backup, at failover, into a standby QEMU waiting with
 * "-incoming defer": qmp_load_devices(fd), then qmp_cont().
 *
 * Every call blocks, and is bounded by the timeout given to qmp_open(): a
 * stuck QEMU costs a failed call (ETIMEDOUT), never a hung caller.  One
 * caller at a time per handle; nothing here is thread-safe.  Failures are
 * logged once (common/log.h, prefix "qmp: ", naming the socket), so a
 * caller only decides what to do next.
 */
#ifndef REMUS_QMP_H
#define REMUS_QMP_H

#include <stddef.h>

/* The longest line (a JSON object and its "\r\n") accepted from QEMU.
 * What remus asks for is answered in under 200 bytes (query-status, an
 * error, an event); 64 KiB is ample room for any reply of the commands
 * this client is for, and bounds what a confused or hostile peer can make
 * us buffer.  A longer line is EPROTO. */
#define QMP_LINE_MAX	(64 * 1024)

struct qmp;					/* opaque */

/* Connect to the QMP socket PATH, read QEMU's greeting ({"QMP": ...}) and
 * leave capabilities negotiation (qmp_capabilities), all within
 * TIMEOUT_MS; later calls get TIMEOUT_MS each.  Returns the handle, or
 * NULL with errno: ENOENT / ECONNREFUSED from connect (no QEMU there),
 * ETIMEDOUT (no greeting or answer in time: QEMU serves one client at a
 * time, so another one connected looks like this), EPROTO (the peer does
 * not speak QMP), EIO (QEMU refused qmp_capabilities), EPIPE (it closed
 * the connection), EINVAL (no PATH, or TIMEOUT_MS 0),
 * ENAMETOOLONG (PATH does not fit a sockaddr_un), ENOMEM. */
struct qmp	*qmp_open(const char *path, unsigned timeout_ms);

/* Run COMMAND with ARGS_JSON (a JSON object as text, or NULL for none) and
 * wait for its reply, skipping asynchronous events (STOP, RESUME, ...).
 * On success, if REPLY_JSON is non-NULL, *REPLY_JSON is the reply's
 * "return" value as JSON text (malloc'd, the caller frees it).  0, or -1
 * with errno: EIO (QEMU answered with an error; its "desc" is logged),
 * ETIMEDOUT, EPROTO (not a QMP reply, or a line over QMP_LINE_MAX), EPIPE
 * (QEMU closed the connection), EINVAL (ARGS_JSON not an object),
 * EMSGSIZE (a request over QMP_LINE_MAX), ENOTCONN (an earlier EPROTO or
 * EPIPE ended this connection: close it and open a new one), ENOMEM.
 * After ETIMEDOUT the handle stays usable: the late reply is recognised
 * by its id and skipped. */
int	qmp_exec(struct qmp *q, const char *command, const char *args_json,
	    char **reply_json);

/* The checkpoint verbs.  qmp_save_devices() runs xen-save-devices-state
 * with live false (the guest is stopped: QEMU need not track changes
 * while it writes).  FILE must be absolute, since QEMU opens it in its own
 * working directory (EINVAL otherwise), and is written by QEMU, as QEMU's
 * user.  0, or -1 with errno as qmp_exec(). */
int	qmp_stop(struct qmp *q);
int	qmp_save_devices(struct qmp *q, const char *file);
int	qmp_cont(struct qmp *q);

/* qmp_save_devices in two halves, so that the caller works while QEMU
 * writes the file: _begin sends the command, _end waits for its reply.
 * Nothing else may be sent on Q between them.  0, or -1 with errno as
 * qmp_exec(). */
int	qmp_save_devices_begin(struct qmp *q, const char *file);
int	qmp_save_devices_end(struct qmp *q);

/* Load the device state at FD's offset (a QEVM stream: a file, a memfd)
 * into a QEMU started with "-incoming defer", as a standby device model
 * waits: FD goes over the socket (getfd, SCM_RIGHTS; QEMU gets its own
 * copy), migrate-incoming "fd:..." starts the load, and the call returns
 * once QEMU's status is no longer "inmigrate", that status in STATUS
 * (LEN bytes: "paused" under -S, else "running").  All within the
 * handle's timeout.  0, or -1 with errno as qmp_exec(), ETIMEDOUT (still
 * loading), EPIPE (QEMU exited: 7.2 does when the state does not load),
 * EINVAL (no FD), ERANGE (status too long). */
int	qmp_load_devices(struct qmp *q, int fd, char *status, size_t len);

/* QEMU's run state, query-status's "status" ("running", "paused",
 * "prelaunch", "inmigrate", ...), NUL-terminated into BUF of LEN bytes.
 * 0, or -1 with errno as qmp_exec(), or ERANGE if it does not fit. */
int	qmp_status(struct qmp *q, char *buf, size_t len);

/* The pty of the character device LABEL ("serial0": an HVM guest's
 * serial port, its console), from query-chardev's "pty:PATH", into BUF
 * of LEN bytes.  0, or -1 with errno as qmp_exec(), ENOENT (no such
 * device, or not a pty), ERANGE (does not fit). */
int	qmp_chardev_pty(struct qmp *q, const char *label, char *buf,
	    size_t len);

/* Close the connection and free Q.  NULL is fine. */
void	qmp_close(struct qmp *q);

#endif /* REMUS_QMP_H */
