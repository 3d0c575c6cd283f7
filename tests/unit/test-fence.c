/* tests/unit/test-fence.c -- the fence runner (failover/fence.c) with real
 * commands in the default libev loop: status, timeout of a whole process
 * group, the REMUS_FENCE_* environment, output to the log, cancel, EBUSY.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <ev.h>

#include "fence.h"
#include "log.h"

static char dir[] = "/tmp/test-fence.XXXXXX";
static char path_buf[512];

static const char *
path(const char *name)
{
	snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
	return path_buf;
}

/* The log goes to a file in DIR (fd 2), to check what the runner logs. */
static void
setup(void)
{
	int fd;

	cr_assert(mkdtemp(dir) != NULL);
	fd = open(path("log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd != -1);
	dup2(fd, STDERR_FILENO);
	close(fd);
	log_init("test", 1, 0);
}

static void
teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)system(cmd);
}

struct result {
	int		 calls;
	int		 ok;
	char		 why[128];
	ev_tstamp	 at;
};

static void
on_done(struct fence *f, int ok, const char *why, void *arg)
{
	struct result *r = arg;

	(void)f;
	r->calls++;
	r->ok = ok;
	snprintf(r->why, sizeof r->why, "%s", why);
	r->at = ev_time();
	ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static void
guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until DONE (it breaks) or SECONDS pass. */
static void
run_for(double seconds)
{
	ev_timer guard;

	ev_timer_init(&guard, guard_cb, seconds, 0.);
	ev_timer_start(EV_DEFAULT, &guard);
	ev_run(EV_DEFAULT, 0);
	ev_timer_stop(EV_DEFAULT, &guard);
}

static struct fence_env
env_of(uint32_t timeout_ms)
{
	struct fence_env e = {
		.guest = "proc:4242",
		.name = "web one",
		.primary = "192.0.2.1:40312",
		.epoch = 17,
		.attempt = 2,
		.timeout_ms = timeout_ms,
	};
	return e;
}

/* Gone: no such process, or a zombie nobody reaps (an orphan whose new
 * parent does not wait in this container). */
static int
pid_gone(pid_t pid)
{
	char p[64], buf[512], *s;
	FILE *fp;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 1;
	snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
	fp = fopen(p, "r");
	if (fp == NULL)
		return 1;
	s = fgets(buf, sizeof buf, fp);
	fclose(fp);
	if (s == NULL)
		return 1;
	s = strrchr(buf, ')');
	return s != NULL && s[1] == ' ' && (s[2] == 'Z' || s[2] == 'X');
}

static pid_t
read_pid(const char *file)
{
	double deadline = ev_time() + 5;
	FILE *fp;
	int pid = 0;

	while (ev_time() < deadline) {
		fp = fopen(file, "r");
		if (fp) {
			if (fscanf(fp, "%d", &pid) != 1)
				pid = 0;
			fclose(fp);
			if (pid > 0)
				return pid;
		}
		usleep(10000);
	}
	return 0;
}

static char *
slurp(const char *file)
{
	static char buf[65536];
	FILE *fp = fopen(file, "r");
	size_t n;

	cr_assert(fp != NULL, "%s: %s", file, strerror(errno));
	n = fread(buf, 1, sizeof buf - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

TestSuite(fence, .init = setup, .fini = teardown, .timeout = 20);

Test(fence, exit_zero_is_ok)
{
	struct fence_env e = env_of(5000);
	struct result r = { 0 };
	struct fence *f = fence_new(EV_DEFAULT, "exit 0");

	cr_assert(f != NULL);
	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	cr_assert(eq(int, fence_running(f), 1));
	run_for(5);
	cr_assert(eq(int, r.calls, 1));
	cr_assert(eq(int, r.ok, 1));
	cr_assert(eq(str, r.why, "fence command exited 0"));
	cr_assert(eq(int, fence_running(f), 0));
	fence_free(f);
}

Test(fence, exit_three_is_not_ok_with_reason)
{
	struct fence_env e = env_of(5000);
	struct result r = { 0 };
	struct fence *f = fence_new(EV_DEFAULT, "echo no route to host; exit 3");

	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	run_for(5);
	cr_assert(eq(int, r.calls, 1));
	cr_assert(eq(int, r.ok, 0));
	cr_assert(eq(str, r.why, "fence command exited 3"));
	cr_assert(strstr(slurp(path("log")),
	    "test: fence: no route to host\n") != NULL, "log: %s",
	    slurp(path("log")));
	fence_free(f);
}

Test(fence, killed_by_signal_is_not_ok)
{
	struct fence_env e = env_of(5000);
	struct result r = { 0 };
	struct fence *f = fence_new(EV_DEFAULT, "kill -TERM $$; exit 0");

	/* An ignored signal stays ignored across exec (and a shell cannot
	 * undo it): the runner must reset dispositions in the child. */
	signal(SIGTERM, SIG_IGN);
	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	run_for(5);
	cr_assert(eq(int, r.calls, 1));
	cr_assert(eq(int, r.ok, 0));
	cr_assert(eq(str, r.why, "fence command killed by signal 15"));
	fence_free(f);
}

Test(fence, child_gets_an_empty_signal_mask)
{
	struct fence_env e = env_of(5000);
	struct result r = { 0 };
	struct fence *f = fence_new(EV_DEFAULT, "kill -HUP $$; exit 0");
	sigset_t set;

	/* The mask is inherited across exec too. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	run_for(5);
	cr_assert(eq(int, r.calls, 1));
	cr_assert(eq(str, r.why, "fence command killed by signal 1"));
	fence_free(f);
}

Test(fence, timeout_kills_the_whole_group)
{
	struct fence_env e = env_of(500);
	struct result r = { 0 };
	char cmd[700];
	struct fence *f;
	pid_t gpid;
	ev_tstamp t0;

	/* The shell's background sleep is a second member of the group. */
	snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > %s; sleep 60",
	    path("gpid"));
	f = fence_new(EV_DEFAULT, cmd);
	t0 = ev_time();
	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	gpid = read_pid(path("gpid"));
	cr_assert(gpid > 0);
	cr_assert(eq(int, pid_gone(gpid), 0));
	run_for(10);
	cr_assert(eq(int, r.calls, 1));
	cr_assert(eq(int, r.ok, 0));
	cr_assert(eq(str, r.why, "fence command timed out after 500 ms"));
	cr_assert(r.at - t0 >= 0.5, "DONE after %.3f s", r.at - t0);
	cr_assert(r.at - t0 <= 1.5, "DONE after %.3f s", r.at - t0);
	/* SIGKILL of the group is delivered by the time killpg returns;
	 * the orphan's exit may take a moment to show. */
	for (int i = 0; i < 100 && !pid_gone(gpid); i++)
		usleep(10000);
	cr_assert(eq(int, pid_gone(gpid), 1), "grandchild %d survived",
	    (int)gpid);
	fence_free(f);
}

Test(fence, environment_arrives)
{
	struct fence_env e = env_of(5000);
	struct result r = { 0 };
	char cmd[700];
	struct fence *f;
	const char *env;

	setenv("REMUS_FENCE_EPOCH", "999", 1);	/* ours replace it */
	snprintf(cmd, sizeof cmd, "env > %s", path("env"));
	f = fence_new(EV_DEFAULT, cmd);
	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	run_for(5);
	cr_assert(eq(int, r.ok, 1));
	env = slurp(path("env"));
	cr_assert(strstr(env, "REMUS_FENCE_GUEST=proc:4242\n") != NULL, "%s",
	    env);
	cr_assert(strstr(env, "REMUS_FENCE_NAME=web one\n") != NULL);
	cr_assert(strstr(env, "REMUS_FENCE_PRIMARY=192.0.2.1:40312\n") != NULL);
	cr_assert(strstr(env, "REMUS_FENCE_EPOCH=17\n") != NULL);
	cr_assert(strstr(env, "REMUS_FENCE_EPOCH=999") == NULL);
	cr_assert(strstr(env, "REMUS_FENCE_ATTEMPT=2\n") != NULL);
	cr_assert(strstr(env, "REMUS_FENCE_TIMEOUT_MS=5000\n") != NULL);
	/* The rest of the environment is kept. */
	cr_assert(strstr(env, "PATH=") != NULL);
	fence_free(f);
}

Test(fence, cancel_kills_without_done)
{
	struct fence_env e = env_of(800);
	struct result r = { 0 };
	char cmd[700];
	struct fence *f;
	pid_t gpid;

	snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > %s; sleep 60",
	    path("gpid"));
	f = fence_new(EV_DEFAULT, cmd);
	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	gpid = read_pid(path("gpid"));
	cr_assert(gpid > 0);
	run_for(0.1);
	fence_cancel(f);
	cr_assert(eq(int, fence_running(f), 0));
	/* Past the timeout: no DONE, from the timer or the child. */
	run_for(1.5);
	cr_assert(eq(int, r.calls, 0));
	for (int i = 0; i < 100 && !pid_gone(gpid); i++)
		usleep(10000);
	cr_assert(eq(int, pid_gone(gpid), 1));
	fence_free(f);
}

Test(fence, second_start_is_ebusy)
{
	struct fence_env e = env_of(5000);
	struct result r = { 0 };
	struct fence *f = fence_new(EV_DEFAULT, "sleep 60");

	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	errno = 0;
	cr_assert(eq(int, fence_start(f, &e, on_done, &r), -1));
	cr_assert(eq(int, errno, EBUSY));
	fence_cancel(f);
	/* After a cancel, a new attempt may start (and DONE may restart). */
	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	fence_free(f);
	cr_assert(eq(int, r.calls, 0));
}

Test(fence, output_is_logged_and_capped)
{
	struct fence_env e = env_of(5000);
	struct result r = { 0 };
	struct fence *f;
	const char *log;
	int n = 0;

	f = fence_new(EV_DEFAULT, "echo first; echo to-stderr >&2; "
	    "i=0; while [ $i -lt 5000 ]; do echo flood $i; i=$((i+1)); done");
	cr_assert(eq(int, fence_start(f, &e, on_done, &r), 0));
	run_for(10);
	cr_assert(eq(int, r.ok, 1));
	log = slurp(path("log"));
	cr_assert(strstr(log, "test: fence: first\n") != NULL, "%s", log);
	cr_assert(strstr(log, "test: fence: to-stderr\n") != NULL);
	for (const char *p = log; (p = strstr(p, "fence: flood ")); p++)
		n++;
	cr_assert(n > 0 && n < 100, "%d flood lines logged", n);
	cr_assert(strstr(log, "not logged, cap of") != NULL);
	fence_free(f);
}

Test(fence, refuses_a_loop_other_than_the_default)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	errno = 0;
	cr_assert(fence_new(loop, "true") == NULL);
	cr_assert(eq(int, errno, EINVAL));
	ev_loop_destroy(loop);
}

Test(fence, zero_timeout_is_refused)
{
	struct fence_env e = env_of(0);
	struct fence *f = fence_new(EV_DEFAULT, "true");

	errno = 0;
	cr_assert(eq(int, fence_start(f, &e, on_done, NULL), -1));
	cr_assert(eq(int, errno, EINVAL));
	fence_free(f);
}
