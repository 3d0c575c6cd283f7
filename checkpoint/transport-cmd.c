/* checkpoint/transport-cmd.c -- the backup started by a command (-s CMD).
 *
 * As xl remus does with ssh: "exec CMD HOST remusd --receive" runs through
 * /bin/sh -c; the command's stdin and stdout are one end of a socketpair,
 * so one descriptor carries both directions.  CMD "" runs HOST as the
 * whole command (xl's "-s ''").
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "transport: "
#include "log.h"
#include "transport.h"
#include "util.h"

static int
cmd_open(struct transport *t, const char *arg, const char *cmd,
    unsigned timeout_ms)
{
	char *line = NULL;
	int sv[2] = { -1, -1 };
	sigset_t none;
	pid_t pid;
	int n;

	if (cmd == NULL)
		cmd = "ssh";
	if (cmd[0] == '\0')
		n = asprintf(&line, "exec %s", arg);
	else
		n = asprintf(&line, "exec %s %s remusd --receive", cmd, arg);
	if (n < 0) {
		errno = ENOMEM;
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		goto err;
	}
	pid = fork();
	if (pid == -1) {
		log_warn("fork");
		goto err;
	}
	if (pid == 0) {
		/* Child: stdin/stdout = sv[1], stderr inherited so the
		 * backup's log lines show up beside ours. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(sv[1], 0) == -1 || dup2(sv[1], 1) == -1)
			_exit(127);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	if (fd_set_nonblock(sv[0], 1) == -1)
		log_warn("O_NONBLOCK");
	t->rfd = t->wfd = sv[0];
	t->pid = pid;
	snprintf(t->desc, sizeof t->desc, "cmd:%s", line);
	free(line);
	return 0;
err:
	n = errno;
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	free(line);
	errno = n;
	return -1;
}

static void
cmd_close(struct transport *t)
{
	int i, status;

	if (t->wfd >= 0)
		close(t->wfd);
	t->rfd = t->wfd = -1;
	if (t->pid <= 0)
		return;
	/* The child sees EOF and should exit; give it a moment, then ask. */
	for (i = 0; i < 50; i++) {
		if (waitpid(t->pid, &status, WNOHANG) != 0)
			goto out;
		usleep(10000);
	}
	kill(t->pid, SIGTERM);
	waitpid(t->pid, &status, 0);
out:
	t->pid = -1;
}

const struct transport_ops transport_cmd_ops = {
	.name = "cmd",
	.open = cmd_open,
	.close = cmd_close,
};
