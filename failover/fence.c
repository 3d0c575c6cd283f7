/* failover/fence.c -- run a fence command, bounded, from the event loop
 * (docs/failover.md, "Fencing"; rules B2, B5).
 *
 * One attempt is one child: /bin/sh -c CMD, leader of a process group of
 * its own, so that the timeout can kill everything the agent started (an
 * ssh, an ipmitool) with one killpg().  Its stdout and stderr share one
 * pipe that an ev_io reads; each line is logged as "fence: <line>", with
 * a cap per attempt so a chatty or looping agent cannot flood the log.
 *
 * libev delivers child status only to the default loop (ev_child is
 * driven by its SIGCHLD handler, which exists only there): fence_new()
 * refuses any other loop with EINVAL.  libev's handler reaps every child
 * (waitpid(-1)), so the program must not wait for children by itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "fence: "
#include "compiler.h"
#include "fence.h"
#include "log.h"

#define FENCE_LINE_MAX		256	/* longer lines are cut */
#define FENCE_LINES_MAX		64	/* lines logged per attempt */
#define FENCE_DRAIN_MAX		65536	/* bytes read after the exit */

extern char **environ;

struct fence {
	struct ev_loop	*loop;
	const char	*cmd;		/* borrowed */
	ev_child	 child;
	ev_timer	 timer;
	ev_io		 out;
	pid_t		 pid;		/* > 0 while an attempt runs */
	int		 fd;		/* read end of the output pipe, or -1 */
	int		 timed_out;
	uint32_t	 timeout_ms;
	fence_done_fn	*done;
	void		*arg;
	/* Output: the line being assembled and what was logged so far. */
	char		 line[FENCE_LINE_MAX + 1];
	size_t		 linelen;
	int		 cut;		/* the current line was too long */
	unsigned	 lines;
	int		 dropped;	/* the cap was reached and said so */
};

static void	child_cb(struct ev_loop *, ev_child *, int);
static void	timer_cb(struct ev_loop *, ev_timer *, int);
static void	out_cb(struct ev_loop *, ev_io *, int);

struct fence *
fence_new(struct ev_loop *loop, const char *cmd)
{
	struct fence *f;

	if (loop == NULL || cmd == NULL || !ev_is_default_loop(loop)) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof *f);
	if (f == NULL)
		return NULL;
	f->loop = loop;
	f->cmd = cmd;
	f->fd = -1;
	ev_init(&f->timer, timer_cb);
	ev_init(&f->out, out_cb);
	return f;
}

int
fence_running(const struct fence *f)
{
	return f != NULL && f->pid > 0;
}

/* Log the line assembled so far (if any) and start the next one. */
static void
line_flush(struct fence *f)
{
	if (f->linelen == 0 && !f->cut)
		return;
	if (f->lines < FENCE_LINES_MAX) {
		f->line[f->linelen] = '\0';
		log_info("%s%s", f->line, f->cut ? " [...]" : "");
	} else if (!f->dropped) {
		f->dropped = 1;
		log_info("(more output of the fence command not logged, "
		    "cap of %d lines reached)", FENCE_LINES_MAX);
	}
	f->lines++;
	f->linelen = 0;
	f->cut = 0;
}

static void
out_feed(struct fence *f, const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = buf[i];

		if (c == '\n') {
			line_flush(f);
			continue;
		}
		/* One log line each: no control bytes from the agent. */
		if ((unsigned char)c < 0x20 && c != '\t')
			c = '?';
		if (f->linelen < FENCE_LINE_MAX)
			f->line[f->linelen++] = c;
		else
			f->cut = 1;
	}
}

static void
out_close(struct fence *f)
{
	if (f->fd == -1)
		return;
	ev_io_stop(f->loop, &f->out);
	close(f->fd);
	f->fd = -1;
}

/* Read what is there.  Returns 1 at EOF or error (the pipe is done),
 * 0 when it would block. */
static int
out_read(struct fence *f, size_t limit)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	while (total < limit) {
		n = read(f->fd, buf, sizeof buf);
		if (n > 0) {
			out_feed(f, buf, (size_t)n);
			total += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		return 1;
	}
	return 0;
}

static void
out_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	struct fence *f = container_of(w, struct fence, out);

	/* Bounded per callback, so that a flood cannot starve the loop. */
	if (out_read(f, 4 * 4096) == 1) {
		line_flush(f);
		out_close(f);
	}
}

/* End of an attempt: stop everything, then tell the owner (last, so that
 * DONE may start the next attempt). */
static void
finish(struct fence *f, int status)
{
	fence_done_fn *done = f->done;
	void *arg = f->arg;
	char why[96];
	int ok = 0;

	ev_timer_stop(f->loop, &f->timer);
	ev_child_stop(f->loop, &f->child);
	if (f->fd != -1) {
		/* What the command wrote just before it exited; not more
		 * than a bound, in case a leftover process keeps writing. */
		(void)out_read(f, FENCE_DRAIN_MAX);
		line_flush(f);
		out_close(f);
	}
	if (f->timed_out)
		snprintf(why, sizeof why, "fence command timed out after %"
		    PRIu32 " ms", f->timeout_ms);
	else if (WIFEXITED(status)) {
		ok = WEXITSTATUS(status) == 0;
		snprintf(why, sizeof why, "fence command exited %d",
		    WEXITSTATUS(status));
	} else if (WIFSIGNALED(status))
		snprintf(why, sizeof why, "fence command killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(why, sizeof why, "fence command ended, status %#x",
		    (unsigned)status);
	f->pid = 0;
	f->done = NULL;
	f->arg = NULL;
	if (done)
		done(f, ok, why, arg);
}

static void
child_cb(struct ev_loop *loop __unused, ev_child *w, int revents __unused)
{
	struct fence *f = container_of(w, struct fence, child);

	/* Stopped or continued (libev reports those too): not the end. */
	if (!WIFEXITED(w->rstatus) && !WIFSIGNALED(w->rstatus))
		return;
	finish(f, w->rstatus);
}

static void
timer_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	struct fence *f = container_of(w, struct fence, timer);

	/* The whole group: an agent's ssh or ipmitool must not live on and
	 * fence later, behind the backup's back.  DONE follows when the
	 * leader is reaped (SIGKILL: at once). */
	f->timed_out = 1;
	if (killpg(f->pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("killpg %d", (int)f->pid);
}

/* The environment of the command: ours without any REMUS_FENCE_*, plus
 * the attempt's.  Built before fork, so the child only calls execve. */
static char *envvar(const char *fmt, ...) __printf(1, 2);

static char *
envvar(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static char **
env_build(const struct fence_env *e)
{
	char **env, **p;
	size_t n = 0, i = 0, first, k;
	int bad = 0;

	for (p = environ; p && *p; p++)
		n++;
	env = calloc(n + 7, sizeof *env);
	if (env == NULL)
		return NULL;
	for (p = environ; p && *p; p++)
		if (strncmp(*p, "REMUS_FENCE_", 12) != 0)
			env[i++] = *p;
	/* Entries from FIRST on are ours to free (env_free). */
	first = i;
	env[i++] = envvar("REMUS_FENCE_GUEST=%s", e->guest ? e->guest : "");
	env[i++] = envvar("REMUS_FENCE_NAME=%s", e->name ? e->name : "");
	env[i++] = envvar("REMUS_FENCE_PRIMARY=%s",
	    e->primary ? e->primary : "");
	env[i++] = envvar("REMUS_FENCE_EPOCH=%" PRIu64, e->epoch);
	env[i++] = envvar("REMUS_FENCE_ATTEMPT=%u", e->attempt);
	env[i++] = envvar("REMUS_FENCE_TIMEOUT_MS=%" PRIu32, e->timeout_ms);
	env[i] = NULL;
	for (k = first; k < i; k++)
		bad |= env[k] == NULL;
	if (bad) {
		for (k = first; k < i; k++)
			free(env[k]);
		free(env);
		errno = ENOMEM;
		return NULL;
	}
	return env;
}

static void
env_free(char **env)
{
	char **p;

	if (env == NULL)
		return;
	for (p = env; *p; p++)
		if (strncmp(*p, "REMUS_FENCE_", 12) == 0)
			free(*p);
	free(env);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static __dead void
child_exec(const char *cmd, int wfd, char **env)
{
	struct sigaction sa;
	sigset_t all;
	int sig, nul;

	/* A group of its own, led by the shell: the timeout's killpg. */
	setpgid(0, 0);
	/* libev blocks and catches signals for its watchers; the command
	 * gets the defaults and an empty mask (STYLE V6). */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);

	nul = open("/dev/null", O_RDONLY);
	if (nul != -1 && nul != STDIN_FILENO) {
		dup2(nul, STDIN_FILENO);
		close(nul);
	}
	if (dup2(wfd, STDOUT_FILENO) == -1 || dup2(wfd, STDERR_FILENO) == -1)
		_exit(127);
	/* None of the daemon's sockets and files go to the agent. */
	if (close_range(3, ~0U, 0) == -1) {
		int fd;

		for (fd = 3; fd < 1024; fd++)
			close(fd);
	}
	execve("/bin/sh", (char *const[]){ "sh", "-c", (char *)cmd, NULL },
	    env);
	_exit(127);
}

int
fence_start(struct fence *f, const struct fence_env *e,
    fence_done_fn *done, void *arg)
{
	int p[2] = { -1, -1 }, saved;
	char **env = NULL;
	pid_t pid;

	if (f == NULL || e == NULL || e->timeout_ms == 0) {
		errno = EINVAL;
		return -1;
	}
	if (f->pid > 0) {
		errno = EBUSY;
		return -1;
	}
	env = env_build(e);
	if (env == NULL)
		goto err;
	if (pipe2(p, O_CLOEXEC) == -1)
		goto err;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1)
		goto err;
	pid = fork();
	if (pid == -1)
		goto err;
	if (pid == 0)
		child_exec(f->cmd, p[1], env);
	/* Both sides set the group: whichever runs first, the timer's
	 * killpg finds it (EACCES after the exec is harmless). */
	(void)setpgid(pid, pid);
	close(p[1]);
	env_free(env);

	f->pid = pid;
	f->fd = p[0];
	f->timed_out = 0;
	f->timeout_ms = e->timeout_ms;
	f->done = done;
	f->arg = arg;
	f->linelen = 0;
	f->cut = 0;
	f->lines = 0;
	f->dropped = 0;
	ev_child_init(&f->child, child_cb, pid, 0);
	ev_child_start(f->loop, &f->child);
	ev_io_set(&f->out, f->fd, EV_READ);
	ev_io_start(f->loop, &f->out);
	/* The loop's cached time may be old (we are called from the
	 * callback that noticed the loss, perhaps right after a stall of
	 * this process): F counts from now, or a stalled remusd would see
	 * its fence "time out" at once. */
	ev_now_update(f->loop);
	ev_timer_set(&f->timer, e->timeout_ms / 1000.0, 0.);
	ev_timer_start(f->loop, &f->timer);
	log_debug("attempt %u: pid %d, timeout %" PRIu32 " ms: %s",
	    e->attempt, (int)pid, e->timeout_ms, f->cmd);
	return 0;
err:
	saved = errno;
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	env_free(env);
	errno = saved;
	return -1;
}

void
fence_cancel(struct fence *f)
{
	if (f == NULL || f->pid <= 0)
		return;
	ev_timer_stop(f->loop, &f->timer);
	ev_child_stop(f->loop, &f->child);
	out_close(f);
	if (killpg(f->pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("killpg %d", (int)f->pid);
	/* The leader was SIGKILLed: reaping it here does not block for
	 * long, and leaves no zombie when the loop stops next. */
	while (waitpid(f->pid, NULL, 0) == -1 && errno == EINTR)
		;
	f->pid = 0;
	f->done = NULL;
	f->arg = NULL;
}

void
fence_free(struct fence *f)
{
	if (f == NULL)
		return;
	fence_cancel(f);
	free(f);
}
