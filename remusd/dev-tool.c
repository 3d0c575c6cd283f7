/* remusd/dev-tool.c -- external device tools as checkpoint devices (Xen's
 * external device migration, shared/seeds/000: one configurable tool per
 * device type, called with the step).
 *
 * remus --device-tool TYPE=PATH (repeatable) runs
 *
 *   PATH -type TYPE -step N -host BACKUP -domname NAME [-epoch E]
 *
 * at four steps mapped onto protection:
 *
 *   step 0  before remus connects to the backup (dev_tool_prepare): may
 *           this device be protected at all?  Non-zero refuses protection
 *           (remus exits 7 with the tool's first line, nothing was sent)
 *   step 1  before the first checkpoint (at attach, and again before a new
 *           session's first full epoch after a reconnect)
 *   step 2  at each epoch's suspend, the guest paused (postsuspend): start
 *           the device's transfer for epoch E, in the background if long
 *   step 3  before epoch E's output is released (commit, registered before
 *           the network buffer, so it runs first): wait for what step 2
 *           started
 *
 * and remusd --device-tool TYPE=PATH runs "-step activate" at failover,
 * before the guest is started (a device's activate hook, docs/failover.md
 * B4); -host is then the primary's address.  A tool that exits non-zero,
 * or is not done within --device-tool-timeout, fails its step: at step
 * 2/3 the epoch fails the way any device hook's failure does (the engine
 * treats the backup as lost); at activate the failover fails.
 *
 * A fork + exec per epoch costs what bench/devtool.sh measures; a tool
 * given as TYPE=coproc:PATH runs once, as
 *
 *   PATH -type TYPE -coproc -host BACKUP -domname NAME
 *
 * and gets one line per step on its stdin, "STEP EPOCH\n" ("2 17",
 * "activate 0"), to which it answers one line on stdout: "ok", or
 * "fail REASON".  Its end, or a late answer, fails the step (and the
 * coprocess is not restarted: the protection it served is over).
 *
 * Both run synchronously in the loop thread: step 2 lengthens the pause by
 * the tool's time, by design (the seed's step 2 runs with the domain
 * suspended); a tool that needs longer starts its work in the background
 * and waits for it at step 3.
 */
#define LOG_PREFIX "device-tool: "

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"
#include "checkpoint.h"
#include "compiler.h"
#include "devices.h"
#include "log.h"
#include "util.h"

#define TOOL_OUT_MAX	256	/* the first line kept for messages */
#define COPROC_PREFIX	"coproc:"

extern char **environ;

struct devtool {
	char		*type;
	char		*path;
	int		 coproc;
	char		 host[256];	/* -host */
	char		 domname[256];	/* -domname */
	uint32_t	 timeout_ms;
	struct backup	*b;		/* backup side: names at activate */
	/* Coprocess mode. */
	pid_t		 pid;		/* -1: not running */
	int		 to_fd, from_fd;
	char		 rbuf[TOOL_OUT_MAX + 1];
	size_t		 rlen;
};

static int	spawn(struct devtool *, char *const argv[], int *in_fd,
		    int *out_fd, pid_t *pid);

/* "TYPE=PATH" or "TYPE=coproc:PATH" into T.  -1 with the reason logged. */
static int
parse_spec(struct devtool *t, const char *spec)
{
	const char *eq = strchr(spec, '=');
	const char *path;

	if (eq == NULL || eq == spec || eq[1] == '\0') {
		log_warnx("--device-tool %s: want TYPE=PATH", spec);
		errno = EINVAL;
		return -1;
	}
	path = eq + 1;
	if (strncmp(path, COPROC_PREFIX, strlen(COPROC_PREFIX)) == 0) {
		t->coproc = 1;
		path += strlen(COPROC_PREFIX);
	}
	t->type = strndup(spec, (size_t)(eq - spec));
	t->path = strdup(path);
	if (t->type == NULL || t->path == NULL)
		return -1;
	if (access(t->path, X_OK) == -1) {
		log_warn("--device-tool %s: %s", t->type, t->path);
		return -1;
	}
	return 0;
}

/* ---- Spawning ------------------------------------------------------ */

/* posix_spawn (a vfork underneath: no page tables copied, which matters
 * for a process that maps a guest) with stdin from IN_FD (or /dev/null
 * when NULL) and stdout + stderr into a pipe. */
static int
spawn(struct devtool *t, char *const argv[], int *in_fd, int *out_fd,
    pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int out[2] = { -1, -1 }, in[2] = { -1, -1 }, rc;

	if (pipe2(out, O_CLOEXEC) == -1)
		return -1;
	if (in_fd != NULL && pipe2(in, O_CLOEXEC) == -1)
		goto err;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	if (in_fd != NULL)
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
		    0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	/* A coprocess's stdout is its answers: what it says on stderr
	 * goes to ours, beside our log. */
	if (in_fd == NULL)
		posix_spawn_file_actions_adddup2(&fa, out[1], 2);
	/* A child starts with no signal blocked and SIGPIPE as default
	 * (remus ignores it), as the style's hook rule says. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(pid, t->path, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(out[1]);
	out[1] = -1;
	if (in_fd != NULL) {
		close(in[0]);
		in[0] = -1;
	}
	if (rc != 0) {
		errno = rc;
		goto err;
	}
	*out_fd = out[0];
	if (in_fd != NULL)
		*in_fd = in[1];
	return 0;
err:
	rc = errno;
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (in[i] >= 0)
			close(in[i]);
	}
	errno = rc;
	return -1;
}

/* Read FD into BUF (first TOOL_OUT_MAX bytes kept) until EOF or the
 * deadline END_US.  0 at EOF, -1 with ETIMEDOUT or the read's errno. */
static int
read_until_eof(int fd, char *buf, size_t *len, uint64_t end_us)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char scratch[512];
	ssize_t n;

	for (;;) {
		uint64_t now = now_us();
		int ms;

		if (now >= end_us) {
			errno = ETIMEDOUT;
			return -1;
		}
		ms = (int)((end_us - now + 999) / 1000);
		n = poll(&pfd, 1, ms);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			continue;
		n = read(fd, scratch, sizeof scratch);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		if (*len < TOOL_OUT_MAX) {
			size_t k = (size_t)n;

			if (k > TOOL_OUT_MAX - *len)
				k = TOOL_OUT_MAX - *len;
			memcpy(buf + *len, scratch, k);
			*len += k;
		}
	}
}

/* The first line of OUT, NUL-terminated in place ("" if none). */
static const char *
first_line(char *out, size_t len)
{
	char *nl;

	out[len] = '\0';
	nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
	return out;
}

/* One step by fork + exec.  0, or -1 with errno set and the reason
 * logged: its exit status (or signal, or timeout) and first line. */
static int
run_exec(struct devtool *t, const char *step, uint64_t epoch)
{
	char ebuf[24], out[TOOL_OUT_MAX + 1];
	char *argv[14];
	size_t len = 0;
	int fd = -1, status, n = 0, rc;
	pid_t pid;

	argv[n++] = t->path;
	argv[n++] = "-type";
	argv[n++] = t->type;
	argv[n++] = "-step";
	argv[n++] = (char *)step;
	argv[n++] = "-host";
	argv[n++] = t->host;
	argv[n++] = "-domname";
	argv[n++] = t->domname;
	if (epoch != 0) {
		snprintf(ebuf, sizeof ebuf, "%" PRIu64, epoch);
		argv[n++] = "-epoch";
		argv[n++] = ebuf;
	}
	argv[n] = NULL;
	if (spawn(t, argv, NULL, &fd, &pid) == -1) {
		log_warn("%s: step %s: %s", t->type, step, t->path);
		return -1;
	}
	rc = read_until_eof(fd, out, &len, now_us() +
	    (uint64_t)t->timeout_ms * 1000);
	close(fd);
	if (rc == -1 && errno == ETIMEDOUT) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		log_warnx("%s: step %s: %s not done in %u ms: killed", t->type,
		    step, t->path, t->timeout_ms);
		errno = ETIMEDOUT;
		return -1;
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			log_warn("%s: step %s: waitpid", t->type, step);
			return -1;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (len > 0)
			log_info("%s: step %s: %s", t->type, step,
			    first_line(out, len));
		return 0;
	}
	if (WIFEXITED(status))
		log_warnx("%s: step %s: %s exited %d%s%s", t->type, step,
		    t->path, WEXITSTATUS(status), len ? ": " : "",
		    first_line(out, len));
	else
		log_warnx("%s: step %s: %s killed by signal %d", t->type,
		    step, t->path, WTERMSIG(status));
	errno = EIO;
	return -1;
}

/* ---- Coprocess mode ------------------------------------------------ */

static void
coproc_stop(struct devtool *t)
{
	int status;

	if (t->pid <= 0)
		return;
	close(t->to_fd);	/* EOF: the tool's cue to exit */
	close(t->from_fd);
	t->to_fd = t->from_fd = -1;
	for (int i = 0; i < 100; i++) {
		if (waitpid(t->pid, &status, WNOHANG) != 0)
			goto out;
		usleep(10000);
	}
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &status, 0);
out:
	t->pid = -1;
}

static int
coproc_start(struct devtool *t)
{
	char *argv[] = { t->path, "-type", t->type, "-coproc", "-host",
	    t->host, "-domname", t->domname, NULL };

	if (spawn(t, argv, &t->to_fd, &t->from_fd, &t->pid) == -1) {
		log_warn("%s: coprocess %s", t->type, t->path);
		t->pid = -1;
		return -1;
	}
	t->rlen = 0;
	return 0;
}

/* Send "STEP EPOCH", read one answer line. */
static int
run_coproc(struct devtool *t, const char *step, uint64_t epoch)
{
	struct pollfd pfd = { .fd = -1, .events = POLLIN };
	uint64_t end = now_us() + (uint64_t)t->timeout_ms * 1000;
	char req[64], *nl;
	ssize_t n;
	int len;

	if (t->pid <= 0) {
		log_warnx("%s: step %s: the coprocess is gone", t->type, step);
		errno = EPIPE;
		return -1;
	}
	len = snprintf(req, sizeof req, "%s %" PRIu64 "\n", step, epoch);
	if (write_full(t->to_fd, req, (size_t)len) == -1) {
		log_warn("%s: step %s: write to the coprocess", t->type, step);
		goto dead;
	}
	pfd.fd = t->from_fd;
	while ((nl = memchr(t->rbuf, '\n', t->rlen)) == NULL) {
		uint64_t now = now_us();

		if (now >= end) {
			log_warnx("%s: step %s: no answer from the coprocess in"
			    " %u ms", t->type, step, t->timeout_ms);
			errno = ETIMEDOUT;
			goto dead;
		}
		if (t->rlen >= TOOL_OUT_MAX) {
			log_warnx("%s: step %s: answer longer than %d bytes",
			    t->type, step, TOOL_OUT_MAX);
			errno = EPROTO;
			goto dead;
		}
		n = poll(&pfd, 1, (int)((end - now + 999) / 1000));
		if (n <= 0)
			continue;
		n = read(t->from_fd, t->rbuf + t->rlen, TOOL_OUT_MAX - t->rlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warnx("%s: step %s: the coprocess ended", t->type,
			    step);
			errno = EPIPE;
			goto dead;
		}
		t->rlen += (size_t)n;
	}
	*nl = '\0';
	if (strcmp(t->rbuf, "ok") == 0) {
		len = 0;
	} else {
		log_warnx("%s: step %s: %s", t->type, step,
		    strncmp(t->rbuf, "fail", 4) == 0 ? t->rbuf : "bad answer");
		errno = EIO;
		len = -1;
	}
	t->rlen -= (size_t)(nl + 1 - t->rbuf);
	memmove(t->rbuf, nl + 1, t->rlen);
	return len;
dead:
	/* Out of step with us for good: its protection is over. */
	coproc_stop(t);
	return -1;
}

static int
run_step(struct devtool *t, const char *step, uint64_t epoch)
{
	uint64_t t0 = now_us();
	int rc;

	rc = t->coproc ? run_coproc(t, step, epoch) :
	    run_exec(t, step, epoch);
	log_debug("%s: step %s epoch %" PRIu64 ": %s in %" PRIu64 " us",
	    t->type, step, epoch, rc == 0 ? "ok" : "failed", now_us() - t0);
	return rc;
}

/* ---- Primary ------------------------------------------------------- */

static int
tool_postsuspend(void *dev, uint64_t epoch)
{
	return run_step(dev, "2", epoch);
}

static int
tool_commit(void *dev, uint64_t epoch)
{
	return run_step(dev, "3", epoch);
}

static int
tool_reprotect(void *dev, uint64_t epoch)
{
	/* A new backup session: its first checkpoint follows. */
	return run_step(dev, "1", epoch);
}

static void
tool_free(struct devtool *t)
{
	if (t == NULL)
		return;
	coproc_stop(t);
	free(t->type);
	free(t->path);
	free(t);
}

static void
tool_teardown(void *dev)
{
	tool_free(dev);
}

static const struct ckpt_device_ops dev_tool_ops = {
	.name = "device-tool",
	.postsuspend = tool_postsuspend,
	.commit = tool_commit,
	.reprotect = tool_reprotect,
	.teardown = tool_teardown,
};

/* START: a coprocess starts now (primary); the backup's starts at
 * activate, when the names it is given are known. */
static struct devtool *
tool_new(const char *spec, const struct remus_devopts *o, const char *host,
    const char *domname, int start)
{
	struct devtool *t;

	t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->pid = -1;
	t->to_fd = t->from_fd = -1;
	t->timeout_ms = o->device_tool_timeout_ms ?
	    o->device_tool_timeout_ms : DEVICE_TOOL_TIMEOUT_DEFAULT_MS;
	snprintf(t->host, sizeof t->host, "%s", host ? host : "");
	snprintf(t->domname, sizeof t->domname, "%s", domname ? domname : "");
	if (parse_spec(t, spec) == -1 || (start && t->coproc &&
	    coproc_start(t) == -1)) {
		tool_free(t);
		return NULL;
	}
	return t;
}

/* Tools that passed step 0 (dev_tool_prepare), waiting for attach. */
static struct devtool *prepared[DEVICE_TOOLS_MAX];
static size_t nprepared;

static void
drop_prepared(void)
{
	while (nprepared > 0)
		tool_free(prepared[--nprepared]);
}

void
dev_tool_unprepare(void)
{
	drop_prepared();
}

int
dev_tool_check_arg(const char *arg, char *err, size_t len)
{
	const char *tool = strchr(arg, '=');

	if (tool == NULL || arg[0] == '=') {
		snprintf(err, len, "want TYPE=PATH");
		errno = EINVAL;
		return -1;
	}
	tool++;
	if (strncmp(tool, "coproc:", 7) == 0)
		tool += 7;
	if (access(tool, X_OK) == -1) {
		snprintf(err, len, "%s: not an executable file (%s)", tool,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
dev_tool_prepare(const struct remus_devopts *o)
{
	struct devtool *t;

	for (size_t i = 0; o->device_tools && o->device_tools[i]; i++) {
		if (nprepared == DEVICE_TOOLS_MAX) {
			log_warnx("more than %d device tools", DEVICE_TOOLS_MAX);
			goto err;
		}
		t = tool_new(o->device_tools[i], o, o->backup_host,
		    o->domname ? o->domname : o->guest, 1);
		if (t == NULL)
			goto err;
		prepared[nprepared++] = t;
		/* Step 0: may it be protected at all? */
		if (run_step(t, "0", 0) == -1) {
			log_warnx("%s: %s refuses protection of %s", t->type,
			    t->path, t->domname);
			drop_prepared();
			errno = EPERM;
			return -1;
		}
	}
	return 0;
err:
	drop_prepared();
	return -1;
}

int
dev_tool_attach(struct ckpt *c, const struct remus_devopts *o)
{
	struct devtool *t;

	if (nprepared == 0 && dev_tool_prepare(o) == -1)
		return -1;
	for (size_t i = 0; i < nprepared; i++) {
		t = prepared[i];
		prepared[i] = NULL;
		if (ckpt_add_device(c, &dev_tool_ops, t) == -1) {
			log_warn("register device tool %s", t->type);
			tool_free(t);
			goto err;
		}
		/* Registered: the engine tears it down from here.  Step 1:
		 * the first checkpoint follows attach. */
		if (run_step(t, "1", 0) == -1)
			goto err;
		log_info("%s: %s%s attached (steps 0 and 1 done)", t->type,
		    t->coproc ? "coprocess " : "", t->path);
	}
	nprepared = 0;
	return 0;
err:
	/* The ones not registered yet are still ours. */
	for (size_t i = 0; i < nprepared; i++)
		tool_free(prepared[i]);
	nprepared = 0;
	return -1;
}

/* ---- Backup -------------------------------------------------------- */

static const uint32_t no_records[] = { 0 };

static int
bak_activate(void *dev)
{
	struct devtool *t = dev;
	const char *name;

	/* The names are known by now: the primary's address and, unless
	 * --dname renamed it, the guest's (HELLO). */
	if (t->host[0] == '\0')
		snprintf(t->host, sizeof t->host, "%s", backup_peer(t->b));
	if (t->domname[0] == '\0' && (name = backup_name(t->b)))
		snprintf(t->domname, sizeof t->domname, "%s", name);
	if (t->coproc && t->pid <= 0 && coproc_start(t) == -1)
		return -1;
	return run_step(t, "activate", 0);
}

static void
bak_teardown(void *dev)
{
	tool_free(dev);
}

static const struct ckpt_backup_device_ops dev_tool_backup_ops = {
	.name = "device-tool",
	.rec_types = no_records,
	.activate = bak_activate,
	.teardown = bak_teardown,
};

int
dev_tool_backup_attach(struct backup *b, const struct remus_devopts *o)
{
	struct devtool *t;

	for (size_t i = 0; o->device_tools && o->device_tools[i]; i++) {
		t = tool_new(o->device_tools[i], o, NULL, o->domname, 0);
		if (t == NULL)
			return -1;
		t->b = b;
		if (backup_add_device(b, &dev_tool_backup_ops, t) == -1) {
			tool_free(t);
			return -1;
		}
	}
	return 0;
}
