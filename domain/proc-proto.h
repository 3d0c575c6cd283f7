/* domain/proc-proto.h -- the control protocol between a proc guest and
 * remus (the proc driver).  Shared by domain-proc.c and the guest library
 * (guest/proc-guest.c); nothing else includes it.
 *
 * Rendezvous: the guest listens on a SOCK_SEQPACKET unix socket at
 *
 *	$REMUS_PROC_RUNDIR/proc-<pid>.sock	(default /run/remus)
 *
 * A filesystem path rather than an abstract name, because abstract names
 * are per network namespace and a protected guest often runs in a netns of
 * its own (netbuf tests) while remus stays in the host's.
 *
 * remus connects; the guest answers at once with one HELLO message carrying
 * the arena memfd as SCM_RIGHTS (and, with PROC_HELLO_RESUME_EFD, an
 * eventfd).  After that remus sends SUSPEND(seq); the guest answers
 * SUSPENDED(seq) from its next safe point and then waits, touching nothing
 * in the arena, until remus resumes it or the connection closes (remus
 * died: the guest carries on unprotected).  One controller at a time: a
 * second connection gets BUSY and is closed -- unless the attached one is
 * dead already (its EOF still queued), which is then replaced.
 *
 * Resume: with PROC_HELLO_RESUME_EFD remus adds 1 to the eventfd
 * (semaphore mode) instead of sending RESUME(seq).  A unix socket send
 * wakes the reader "synchronously" -- the scheduler pulls it onto the
 * sender's CPU, where it preempts remus until its burst of work is done --
 * while an eventfd wakeup lets an idle CPU take it: remus's resume returns
 * at once.  SUSPEND and SUSPENDED stay on the socket: there the sender does
 * go to sleep.  A suspend remus gave up on (timeout) is cancelled the same
 * way; the guest, reaching it late, finds the count and goes on.
 *
 * All fields are host byte order: both ends run on one host.  The replica
 * config (proc_config) is different: it crosses hosts in the stream header
 * and is little-endian.
 */
#ifndef REMUS_PROC_PROTO_H
#define REMUS_PROC_PROTO_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#define PROC_RUNDIR_DEFAULT	"/run/remus"
#define PROC_RUNDIR_ENV		"REMUS_PROC_RUNDIR"

#define PROC_PROTO_MAGIC	0x52505243u	/* "RPRC" */
#define PROC_PROTO_VERSION	1u

/* Default fixed address of the arena in the guest (the arena holds raw
 * pointers, so a restarted guest must map it at the same place).  Chosen
 * inside x86-64's user half, far from where the kernel puts mmaps (top
 * down from 0x7f..) and the heap (0x55..), and in ASan's HighMem range. */
#define PROC_ARENA_BASE_DEFAULT	0x3e0000000000ull

enum proc_msg_type {
	PROC_MSG_HELLO = 1,	/* guest -> remus, + memfd */
	PROC_MSG_SUSPEND,	/* remus -> guest */
	PROC_MSG_SUSPENDED,	/* guest -> remus: paused at a safe point */
	PROC_MSG_RESUME,	/* remus -> guest */
	PROC_MSG_BUSY,		/* guest -> remus: another controller is attached */
};

/* SUSPEND, SUSPENDED, RESUME, BUSY. */
struct proc_msg {
	uint32_t	type;
	uint32_t	reserved;	/* 0 */
	uint64_t	seq;		/* remus's suspend count, from 1 */
};
_Static_assert(sizeof(struct proc_msg) == 16, "proc_msg is a wire struct");

#define PROC_HELLO_UFFD_WP	(1u << 0)	/* arena registered for async uffd-wp */
#define PROC_HELLO_RESUMED	(1u << 1)	/* started from a replica */
#define PROC_HELLO_RESUME_EFD	(1u << 2)	/* 2nd fd: eventfd that resumes */

/* HELLO: this header, then CMD_LEN bytes of the command that restarts the
 * guest: the executable's path and its argv[0..argc-1], each NUL-terminated. */
struct proc_hello {
	uint32_t	type;		/* PROC_MSG_HELLO */
	uint32_t	magic;		/* PROC_PROTO_MAGIC */
	uint32_t	version;	/* PROC_PROTO_VERSION */
	uint32_t	page_size;
	uint64_t	arena_size;	/* bytes, a multiple of page_size */
	uint64_t	arena_base;	/* fixed address in the guest */
	uint32_t	flags;		/* PROC_HELLO_* */
	uint32_t	cmd_len;
	int32_t		pid;
	uint32_t	argc;
};
_Static_assert(sizeof(struct proc_hello) == 48, "proc_hello is a wire struct");

#define PROC_CMD_MAX		4096	/* bytes of command in HELLO / config */
#define PROC_ARGC_MAX		256
#define PROC_HELLO_MAX		(sizeof(struct proc_hello) + PROC_CMD_MAX)

/* Replica config (domain_ops.get_config -> stream header -> replica_ops.
 * create): the arena geometry and the command, little-endian. */
#define PROC_CONFIG_MAGIC	0x47464350u	/* "PCFG" */
struct proc_config {
	uint32_t	magic;		/* PROC_CONFIG_MAGIC */
	uint32_t	version;	/* PROC_PROTO_VERSION */
	uint32_t	page_size;
	uint32_t	argc;
	uint64_t	arena_size;
	uint64_t	arena_base;
	uint32_t	cmd_len;	/* as in proc_hello, follows the struct */
	uint32_t	reserved;	/* 0 */
};
_Static_assert(sizeof(struct proc_config) == 40, "proc_config is a wire struct");

/* The control socket path of guest PID into BUF.  0, or -1 with errno =
 * ENAMETOOLONG (sun_path holds 108 bytes). */
static inline int
proc_sock_path(pid_t pid, char *buf, size_t len)
{
	const char *dir = getenv(PROC_RUNDIR_ENV);
	int n;

	if (dir == NULL || *dir == '\0')
		dir = PROC_RUNDIR_DEFAULT;
	n = snprintf(buf, len, "%s/proc-%d.sock", dir, (int)pid);
	if (n < 0 || (size_t)n >= len || n >= 108) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

#endif /* REMUS_PROC_PROTO_H */
