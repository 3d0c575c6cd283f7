/* fuzz/fuzz-norun.c -- nothing may run from a fuzz target: the session and
 * primary targets are linked with -Wl,--wrap for fork, vfork and the exec
 * calls the project makes (fuzz.cmake), so a call from the receiver, a
 * replica, a fence or a transport lands here and aborts: a finding (the
 * backup activated or executed something a peer chose).  Not system():
 * libFuzzer's -minimize_crash runs itself through it; the sanitizers
 * start their symbolizer with raw system calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void	fuzz_ran(const char *what) __attribute__((noreturn));

pid_t	__wrap_fork(void);
pid_t	__wrap_vfork(void);
int	__wrap_execve(const char *, char *const[], char *const[]);
int	__wrap_execv(const char *, char *const[]);
int	__wrap_execvp(const char *, char *const[]);
int	__wrap_execl(const char *, const char *, ...);

void
fuzz_ran(const char *what)
{
	fprintf(stderr, "fuzz: %s called: something was activated or "
	    "executed\n", what);
	abort();
}

pid_t __wrap_fork(void) { fuzz_ran("fork"); }
pid_t __wrap_vfork(void) { fuzz_ran("vfork"); }
int __wrap_execve(const char *p, char *const a[], char *const e[]) { fuzz_ran("execve"); }
int __wrap_execv(const char *p, char *const a[]) { fuzz_ran("execv"); }
int __wrap_execvp(const char *p, char *const a[]) { fuzz_ran("execvp"); }
int __wrap_execl(const char *p, const char *a, ...) { fuzz_ran("execl"); }
