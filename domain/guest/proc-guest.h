/* domain/guest/proc-guest.h -- the guest side of the proc driver: a
 * library for programs that remus can protect (remus-kvd, remus-dirtier).
 *
 * A proc guest keeps ALL of its state in one arena: a memfd mapped at a
 * fixed address, so that raw pointers inside it stay valid when a backup
 * restarts the program from a replica of the arena (resume mode).  The
 * arena starts with a header (allocator, root pointer); everything else is
 * allocated from it with proc_guest_alloc().  Process memory outside the
 * arena (sockets, buffers, the stack) is lost on failover and must be
 * rebuildable from the arena.
 *
 * The guest listens on a control socket (proc-proto.h) and must call
 * proc_guest_poll() at safe points -- where the arena is consistent --
 * often enough (remus waits a bounded time for a suspend acknowledgement,
 * 3 s by default) and whenever proc_guest_fd() is readable.
 *
 * Environment read here:
 *   REMUS_PROC_RUNDIR      directory of the control socket (/run/remus)
 *   REMUS_PROC_DIRTY=softdirty   do not register the arena with userfaultfd
 *   REMUS_PROC_READY_FD    set by a backup's activate: proc_guest_ready()
 *                          writes one byte there
 *
 * Every int function returns 0 (or a count), or -1 with errno set and the
 * reason logged; pointer functions return NULL with errno set.
 */
#ifndef REMUS_PROC_GUEST_H
#define REMUS_PROC_GUEST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct proc_guest;

struct proc_guest_opts {
	uint64_t	arena_size;	/* fresh arena, bytes (rounded up to pages) */
	uint64_t	arena_base;	/* 0: PROC_ARENA_BASE_DEFAULT */
	const char	*resume_file;	/* NULL: fresh arena; else a replica */
	uint64_t	prog_magic;	/* the program's root layout; checked on resume */
	/* The command line that restarts this program (a backup appends
	 * "--resume FILE"): borrowed during open only. */
	int		argc;
	char		**argv;
};

/* Create (or resume) the arena and start listening.  Logs one line and
 * returns NULL on failure. */
struct proc_guest *proc_guest_open(const struct proc_guest_opts *);

/* Stop listening, remove the socket; the arena is unmapped.  NULL ok. */
void	proc_guest_close(struct proc_guest *);

/* 1 if the arena came from a replica (resume mode). */
int	proc_guest_resumed(const struct proc_guest *);

/* The program's root object in the arena (NULL in a fresh arena). */
void	*proc_guest_root(const struct proc_guest *);
void	 proc_guest_set_root(struct proc_guest *, void *);

/* Arena base and size (for checksums). */
void	*proc_guest_arena(const struct proc_guest *, size_t *size);

/* Allocate LEN bytes in the arena, 16-byte aligned (page-aligned for 1 MiB
 * and more).  NULL with errno = ENOMEM when the arena is full.
 * proc_guest_free returns small blocks to per-size free lists; large
 * blocks are not reused. */
void	*proc_guest_alloc(struct proc_guest *, size_t len);
void	*proc_guest_calloc(struct proc_guest *, size_t len);
void	 proc_guest_free(struct proc_guest *, void *);

/* A file descriptor that becomes readable when proc_guest_poll() has work
 * (a controller connects, or sends a command). */
int	proc_guest_fd(const struct proc_guest *);

/* Safe point.  Wait up to TIMEOUT_MS (0: just look, -1: forever) for
 * control traffic and handle it.  A SUSPEND is answered from here, after
 * the suspend hook ran, and the call then blocks until RESUME or until the
 * controller goes away.  Returns the number of completed suspend cycles
 * (0 or more).  -1 + EINTR if *STOP (proc_guest_set_stop) became non-zero
 * while waiting. */
int	proc_guest_poll(struct proc_guest *, int timeout_ms);

/* Called at each SUSPEND, at the safe point, before the acknowledgement:
 * the arena is exactly what remus is going to copy.  SEQ is remus's suspend
 * count (1 for its first).  The hook must not write to the arena after
 * it computed anything that describes the arena. */
typedef void	(*proc_guest_suspend_fn)(void *arg, uint64_t seq);
void	proc_guest_on_suspend(struct proc_guest *, proc_guest_suspend_fn,
	    void *arg);
void	proc_guest_set_stop(struct proc_guest *, volatile sig_atomic_t *stop);

/* What every guest program's main() does: SIGINT and SIGTERM set *STOP
 * (without SA_RESTART, so they wake a waiting proc_guest_poll), SIGPIPE
 * is ignored, then proc_guest_open and proc_guest_set_stop.  NULL as
 * proc_guest_open. */
struct proc_guest *proc_guest_start(const struct proc_guest_opts *,
	    volatile sig_atomic_t *stop);

/* 1 while a controller (remus) is attached. */
int	proc_guest_attached(const struct proc_guest *);

/* The dirty tracking the arena is set up for: "uffd-wp" or "none" (soft
 * dirty needs nothing from the guest). */
const char *proc_guest_tracking(const struct proc_guest *);

/* Tell whoever started us in resume mode that we run (no-op otherwise). */
void	proc_guest_ready(struct proc_guest *);

/* Write "PID\n" to PATH (atomically, via rename).  0 / -1 + errno. */
int	proc_guest_write_pidfile(const char *path);

#endif /* REMUS_PROC_GUEST_H */
