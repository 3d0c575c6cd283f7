/* tests/unit/test-qmp.c -- the QMP client (domain/qmp.c) against a fake
 * QEMU: a child process on a unix socket in a temp dir that plays a
 * script (send a line, read a request, hang, close) and records each
 * request it reads, for the test to look at.  Covered: greeting and
 * capabilities, events and stale replies skipped, QEMU's error, a peer
 * that never answers, a line over the limit and one at it, greetings that
 * are not QMP, a missing socket, no listener, a peer that hangs up,
 * arguments refused before anything is sent, the split save with events
 * between, and the standby load (the descriptor passed with getfd, the
 * status polled until the load is done).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "log.h"
#include "qmp.h"
#include "util.h"

/* What QEMU 7.2 (Debian 12) sends first, verbatim. */
#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, " \
	"\"minor\": 2, \"major\": 7}, \"package\": \"Debian " \
	"1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}"
#define RET_EMPTY "{\"return\": {}, \"id\": $ID}"

/* One step of a fake's script.  In S text, $ID is the id of the last
 * request read and $PREV that of the one before (raw JSON). */
struct step {
	char		 op;	/* S send a line, R read a request, H hang,
				 * L send a line of N bytes: a valid reply,
				 * F read a request that brings a descriptor
				 * (its first bytes go to the file "passed") */
	const char	*text;
	size_t		 n;	/* L: its length, "\r\n" included */
};

#define SEND(t)		{ 'S', (t), 0 }
#define READ		{ 'R', NULL, 0 }
#define READ_FD		{ 'F', NULL, 0 }
#define HANG		{ 'H', NULL, 0 }
#define LONG(n)		{ 'L', NULL, (n) }
#define END		{ 0, NULL, 0 }
/* The start of every session: greeting, capabilities. */
#define HELLO		SEND(GREETING), READ, SEND(RET_EMPTY)

static char dir[] = "/tmp/test-qmp.XXXXXX";
static char sock[128], reqlog[128], logfile[128], passed[128];
static pid_t fakes[8];
static int nfakes;

static void
setup(void)
{
	int fd;

	cr_assert(mkdtemp(dir) != NULL);
	snprintf(sock, sizeof sock, "%s/qmp.sock", dir);
	snprintf(reqlog, sizeof reqlog, "%s/requests", dir);
	snprintf(logfile, sizeof logfile, "%s/log", dir);
	snprintf(passed, sizeof passed, "%s/passed", dir);
	/* The log goes to a file (fd 2), to check what the client says. */
	fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd != -1);
	cr_assert(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	close(fd);
	log_init("test-qmp", 1, 1);
}

static void
teardown(void)
{
	char cmd[200];
	int i;

	for (i = 0; i < nfakes; i++) {
		kill(fakes[i], SIGKILL);
		waitpid(fakes[i], NULL, 0);
	}
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "%s failed\n", cmd);
}

/* ---- The fake QEMU ------------------------------------------------------ */

/* TEXT with $ID and $PREV replaced, and "\r\n", into OUT. */
static size_t
expand(const char *text, const char *id, const char *prev, char *out,
    size_t len)
{
	size_t n = 0;
	const char *sub;

	while (*text != '\0') {
		if (strncmp(text, "$ID", 3) == 0) {
			sub = id;
			text += 3;
		} else if (strncmp(text, "$PREV", 5) == 0) {
			sub = prev;
			text += 5;
		} else {
			if (n + 1 >= len)
				_exit(2);
			out[n++] = *text++;
			continue;
		}
		if (n + strlen(sub) >= len)
			_exit(2);
		memcpy(out + n, sub, strlen(sub));
		n += strlen(sub);
	}
	if (n + 2 > len)
		_exit(2);
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}

static void __dead
fake_run(int lfd, const struct step *steps)
{
	static char line[QMP_LINE_MAX + 64];
	char id[64] = "null", prev[64] = "null";
	struct json_object *req, *v;
	const struct step *s;
	size_t n;
	int fd, logfd;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(2);
	for (s = steps; s->op != 0; s++) {
		switch (s->op) {
		case 'S':
			n = expand(s->text, id, prev, line, sizeof line);
			if (write_full(fd, line, n) == -1)
				_exit(2);
			break;
		case 'F':
		case 'R':
			n = 0;
			if (s->op == 'F') {
				/* The descriptor comes with the first byte. */
				union {
					struct cmsghdr	h;
					char		b[CMSG_SPACE(sizeof(int))];
				} cm;
				struct iovec iov = { line, 1 };
				struct msghdr msg = { .msg_iov = &iov,
				    .msg_iovlen = 1, .msg_control = cm.b,
				    .msg_controllen = sizeof cm.b };
				struct cmsghdr *c;
				char got[16];
				ssize_t k;
				int pfd, out;

				if (recvmsg(fd, &msg, 0) != 1)
					_exit(3);
				c = CMSG_FIRSTHDR(&msg);
				if (c == NULL || c->cmsg_type != SCM_RIGHTS)
					_exit(4);
				memcpy(&pfd, CMSG_DATA(c), sizeof pfd);
				k = pread(pfd, got, sizeof got, 0);
				out = open(passed, O_WRONLY | O_CREAT, 0644);
				if (k < 0 || out == -1 ||
				    write_full(out, got, (size_t)k) == -1)
					_exit(2);
				close(out);
				close(pfd);
				if (line[0] == '\n')
					goto got_line;
				n = 1;
			}
			/* One request line, a byte at a time: no read-ahead
			 * into the next one. */
			for (; n < sizeof line - 1; n++) {
				if (read(fd, line + n, 1) != 1)
					_exit(3);
				if (line[n] == '\n')
					break;
			}
got_line:
			logfd = open(reqlog, O_WRONLY | O_APPEND | O_CREAT,
			    0644);
			if (logfd == -1 || write_full(logfd, line, n + 1) == -1)
				_exit(2);
			close(logfd);
			line[n] = '\0';
			strcpy(prev, id);
			req = json_tokener_parse(line);
			if (req != NULL &&
			    json_object_object_get_ex(req, "id", &v))
				snprintf(id, sizeof id, "%s",
				    json_object_to_json_string(v));
			else
				strcpy(id, "null");
			json_object_put(req);
			break;
		case 'H':
			sleep(30);
			_exit(0);
		case 'L': {
			const char *head = "{\"return\": {\"pad\": \"";
			char tail[128];
			size_t pad;

			snprintf(tail, sizeof tail, "\"}, \"id\": %s}\r\n", id);
			if (s->n < strlen(head) + strlen(tail) ||
			    s->n > sizeof line)
				_exit(2);
			pad = s->n - strlen(head) - strlen(tail);
			memcpy(line, head, strlen(head));
			memset(line + strlen(head), 'x', pad);
			memcpy(line + strlen(head) + pad, tail, strlen(tail));
			if (write_full(fd, line, s->n) == -1)
				_exit(2);
			break;
		}
		}
	}
	close(fd);
	_exit(0);
}

/* Listen on SOCK and fork a fake that plays STEPS for one client. */
static void
fake_start(const struct step *steps)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd;
	pid_t pid;

	cr_assert(nfakes < (int)(sizeof fakes / sizeof fakes[0]));
	unlink(sock);
	strcpy(sun.sun_path, sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(lfd != -1);
	cr_assert(bind(lfd, (struct sockaddr *)&sun, sizeof sun) == 0);
	cr_assert(listen(lfd, 4) == 0);
	pid = fork();
	cr_assert(pid != -1);
	if (pid == 0)
		fake_run(lfd, steps);
	fakes[nfakes++] = pid;
	close(lfd);
}

/* The Ith request the fake read (0: the first), parsed; NULL if none. */
static struct json_object *
request(int i)
{
	static char buf[2 * QMP_LINE_MAX];
	char *line, *save = NULL;
	ssize_t n;
	int fd;

	if ((fd = open(reqlog, O_RDONLY)) == -1)
		return NULL;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	cr_assert(n >= 0);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL && i > 0; i--)
		line = strtok_r(NULL, "\n", &save);
	return line ? json_tokener_parse(line) : NULL;
}

static int
requests(void)
{
	struct json_object *r;
	int n = 0;

	while ((r = request(n)) != NULL) {
		json_object_put(r);
		n++;
	}
	return n;
}

static const char *
str_at(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
		return NULL;
	return json_object_get_string(v);
}

/* The log so far. */
static const char *
logged(void)
{
	static char buf[16384];
	ssize_t n;
	int fd;

	fd = open(logfile, O_RDONLY);
	cr_assert(fd != -1);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	cr_assert(n >= 0);
	buf[n] = '\0';
	return buf;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* ---- The tests ---------------------------------------------------------- */

TestSuite(qmp, .init = setup, .fini = teardown, .timeout = 20);

Test(qmp, greets_negotiates_and_reads_status)
{
	static const struct step script[] = {
		HELLO, READ,
		SEND("{\"return\": {\"status\": \"prelaunch\", \"singlestep\": "
		    "false, \"running\": false}, \"id\": $ID}"),
		END,
	};
	struct json_object *r;
	struct qmp *q;
	char st[32];

	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q, "qmp_open: %s", strerror(errno));
	cr_assert_eq(qmp_status(q, st, sizeof st), 0);
	cr_assert_str_eq(st, "prelaunch");
	qmp_close(q);

	r = request(0);
	cr_assert_str_eq(str_at(r, "execute"), "qmp_capabilities");
	cr_assert_null(str_at(r, "arguments"));
	json_object_put(r);
	r = request(1);
	cr_assert_str_eq(str_at(r, "execute"), "query-status");
	json_object_put(r);
	/* The greeting's version at debug level. */
	cr_assert(strstr(logged(), "QEMU 7.2.22 Debian 1:7.2") != NULL, "%s",
	    logged());
}

/* The serial port's pty, as QEMU 7.2 lists its character devices. */
Test(qmp, chardev_pty_finds_the_label)
{
	static const struct step script[] = {
		HELLO, READ,
		SEND("{\"return\": [{\"frontend-open\": false, \"filename\": "
		    "\"disconnected:unix:/var/run/xen/qmp-libxl-3,server=on\", "
		    "\"label\": \"libxl-cmd\"}, {\"frontend-open\": true, "
		    "\"filename\": \"pty:/dev/pts/4\", \"label\": \"serial0\"}, "
		    "{\"frontend-open\": false, \"filename\": \"null\", "
		    "\"label\": \"serial1\"}], \"id\": $ID}"),
		READ,
		SEND("{\"return\": [{\"filename\": \"null\", \"label\": "
		    "\"serial0\"}], \"id\": $ID}"),
		END,
	};
	struct json_object *r;
	struct qmp *q;
	char pty[64], small[8];

	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q, "qmp_open: %s", strerror(errno));
	cr_assert_eq(qmp_chardev_pty(q, "serial0", pty, sizeof pty), 0, "%s",
	    logged());
	cr_assert_str_eq(pty, "/dev/pts/4");
	/* Not a pty: ENOENT (and a short buffer is never written past). */
	errno = 0;
	cr_assert_eq(qmp_chardev_pty(q, "serial0", small, sizeof small), -1);
	cr_assert_eq(errno, ENOENT);
	qmp_close(q);
	r = request(1);
	cr_assert_str_eq(str_at(r, "execute"), "query-chardev");
	json_object_put(r);
}

Test(qmp, skips_events_and_replies_to_other_ids)
{
	static const struct step script[] = {
		HELLO, READ,
		SEND("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
		    "\"event\": \"STOP\"}"),
		SEND("{\"return\": {\"stale\": true}, \"id\": 12345}"),
		SEND("{\"event\": \"RESUME\", \"data\": {}}"),
		SEND("{\"return\": {\"ok\": 1}, \"id\": $ID}"),
		END,
	};
	struct qmp *q;
	char *reply;

	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	cr_assert_eq(qmp_exec(q, "stop", NULL, &reply), 0);
	cr_assert_str_eq(reply, "{\"ok\":1}");
	free(reply);
	qmp_close(q);
	cr_assert(strstr(logged(), "event STOP") != NULL);
	cr_assert(strstr(logged(), "event RESUME") != NULL);
}

Test(qmp, error_reply_is_eio_with_one_line)
{
	static const struct step script[] = {
		HELLO, READ,
		SEND("{\"error\": {\"class\": \"GenericError\", \"desc\": "
		    "\"Could not open '/nonexistent/f': No such file or "
		    "directory\"}, \"id\": $ID}"),
		READ, SEND(RET_EMPTY),
		END,
	};
	struct qmp *q;
	const char *log;

	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	errno = 0;
	cr_assert_eq(qmp_save_devices(q, "/nonexistent/f"), -1);
	cr_assert_eq(errno, EIO);
	log = logged();
	cr_assert(strstr(log, "qmp: " "/tmp/test-qmp.") != NULL, "%s", log);
	cr_assert(strstr(log, "qmp.sock: xen-save-devices-state: Could not "
	    "open '/nonexistent/f': No such file or directory "
	    "(GenericError)\n") != NULL, "%s", log);
	cr_assert_eq(count(log, "xen-save-devices-state"), 1, "%s", log);
	/* An error is QEMU's answer: the connection goes on. */
	cr_assert_eq(qmp_cont(q), 0);
	qmp_close(q);
}

Test(qmp, save_request_quotes_the_file_name)
{
	static const struct step script[] = {
		HELLO, READ, SEND(RET_EMPTY), END,
	};
	const char *file = "/tmp/a \"b\"\\c d/\xc3\xa9/x\ny";
	struct json_object *r, *args, *v;
	struct qmp *q;

	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	cr_assert_eq(qmp_save_devices(q, file), 0);
	qmp_close(q);

	r = request(1);
	cr_assert_not_null(r, "the request is not one line of JSON");
	cr_assert_str_eq(str_at(r, "execute"), "xen-save-devices-state");
	cr_assert(json_object_object_get_ex(r, "arguments", &args));
	cr_assert_str_eq(str_at(args, "filename"), file);
	cr_assert(json_object_object_get_ex(args, "live", &v));
	cr_assert(json_object_is_type(v, json_type_boolean));
	cr_assert_eq(json_object_get_boolean(v), 0);
	cr_assert_eq(json_object_object_length(args), 2);
	/* Requests carry an id, each its own. */
	cr_assert(json_object_object_get_ex(r, "id", &v));
	cr_assert_str_neq(json_object_to_json_string(v), "null");
	json_object_put(r);
}

Test(qmp, silent_peer_times_out)
{
	static const struct step script[] = { HELLO, READ, HANG, END };
	const unsigned timeout = 300, margin = 2000;
	struct qmp *q;
	uint64_t t0, ms;

	fake_start(script);
	q = qmp_open(sock, timeout);
	cr_assert_not_null(q);
	t0 = now_us();
	errno = 0;
	cr_assert_eq(qmp_stop(q), -1);
	ms = (now_us() - t0) / 1000;
	cr_assert_eq(errno, ETIMEDOUT);
	/* Bounded, and not given up before the deadline. */
	cr_assert_lt(ms, timeout + margin, "took %llu ms",
	    (unsigned long long)ms);
	cr_assert_geq(ms, timeout, "gave up after %llu ms",
	    (unsigned long long)ms);
	cr_assert(strstr(logged(), "stop: no reply within 300 ms") != NULL,
	    "%s", logged());
	qmp_close(q);
}

Test(qmp, silent_greeting_times_out)
{
	static const struct step script[] = { HANG, END };
	uint64_t t0, ms;

	fake_start(script);
	t0 = now_us();
	errno = 0;
	cr_assert_null(qmp_open(sock, 300));
	ms = (now_us() - t0) / 1000;
	cr_assert_eq(errno, ETIMEDOUT);
	cr_assert_lt(ms, 300 + 2000);
	cr_assert(strstr(logged(), "no greeting within 300 ms") != NULL);
}

Test(qmp, late_reply_after_a_timeout_is_skipped)
{
	/* The fake answers stop only once query-status is there too, i.e.
	 * after the client gave up on stop: no race on the clock. */
	static const struct step script[] = {
		HELLO, READ, READ,
		SEND("{\"return\": {}, \"id\": $PREV}"),
		SEND("{\"return\": {\"status\": \"running\"}, \"id\": $ID}"),
		END,
	};
	struct qmp *q;
	char st[32];

	fake_start(script);
	q = qmp_open(sock, 300);
	cr_assert_not_null(q);
	cr_assert_eq(qmp_stop(q), -1);
	cr_assert_eq(errno, ETIMEDOUT);
	cr_assert_eq(qmp_status(q, st, sizeof st), 0, "%s", logged());
	cr_assert_str_eq(st, "running");
	cr_assert(strstr(logged(), "a reply to an earlier command") != NULL);
	qmp_close(q);
}

Test(qmp, line_over_the_limit_is_eproto)
{
	static const struct step script[] = {
		HELLO, READ, LONG(QMP_LINE_MAX + 1), HANG, END,
	};
	struct qmp *q;
	char *reply = NULL;

	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	errno = 0;
	cr_assert_eq(qmp_exec(q, "query-status", NULL, &reply), -1);
	cr_assert_eq(errno, EPROTO);
	cr_assert_null(reply);
	cr_assert(strstr(logged(), "query-status: a line longer than 65536 "
	    "bytes") != NULL, "%s", logged());
	/* The stream is lost: no more commands on it. */
	errno = 0;
	cr_assert_eq(qmp_stop(q), -1);
	cr_assert_eq(errno, ENOTCONN);
	qmp_close(q);
}

Test(qmp, line_at_the_limit_is_read)
{
	static const struct step script[] = {
		HELLO, READ, LONG(QMP_LINE_MAX), END,
	};
	struct qmp *q;
	char *reply = NULL;

	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	cr_assert_eq(qmp_exec(q, "query-status", NULL, &reply), 0, "%s",
	    logged());
	/* {"return": {"pad": "x..."}, "id": 2}\r\n minus the outer part. */
	cr_assert_gt(strlen(reply), QMP_LINE_MAX - 40);
	free(reply);
	qmp_close(q);
}

Test(qmp, greeting_that_is_not_qmp_is_eproto)
{
	static const struct step ssh[] = {
		SEND("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"), HANG, END,
	};
	static const struct step other[] = {
		SEND("{\"hello\": \"world\"}"), HANG, END,
	};
	static const struct step notobj[] = {
		SEND("{\"QMP\": 1}"), HANG, END,
	};
	static const struct step two[] = {
		SEND(GREETING " {}"), HANG, END,
	};
	static const struct step *const cases[] = { ssh, other, notobj, two };
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fake_start(cases[i]);
		errno = 0;
		cr_assert_null(qmp_open(sock, 2000), "case %zu", i);
		cr_assert_eq(errno, EPROTO, "case %zu: %s", i,
		    strerror(errno));
	}
	cr_assert(strstr(logged(), "greeting: not a QMP message: \"SSH-2.0-"
	    "OpenSSH_9.2p1") != NULL, "%s", logged());
	cr_assert(strstr(logged(), "not a QMP greeting: "
	    "\"{\"hello\":\"world\"}\"") != NULL, "%s", logged());
	cr_assert_eq(count(logged(), ": err: qmp: "), 4, "%s", logged());
}

Test(qmp, missing_socket_is_enoent)
{
	char path[160];

	snprintf(path, sizeof path, "%s/no-such.sock", dir);
	errno = 0;
	cr_assert_null(qmp_open(path, 1000));
	cr_assert_eq(errno, ENOENT);
	cr_assert(strstr(logged(), "no-such.sock: connect: No such file or "
	    "directory") != NULL, "%s", logged());
}

Test(qmp, socket_without_listener_is_econnrefused)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	strcpy(sun.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
	errno = 0;
	cr_assert_null(qmp_open(sock, 1000));
	cr_assert_eq(errno, ECONNREFUSED);
	close(fd);
}

Test(qmp, peer_hanging_up_is_epipe)
{
	static const struct step script[] = { HELLO, READ, END };
	struct qmp *q;

	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	errno = 0;
	cr_assert_eq(qmp_save_devices(q, "/tmp/x"), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert(strstr(logged(), "xen-save-devices-state: QEMU closed the "
	    "connection") != NULL, "%s", logged());
	errno = 0;
	cr_assert_eq(qmp_cont(q), -1);
	cr_assert_eq(errno, ENOTCONN);
	qmp_close(q);
}

Test(qmp, bad_arguments_are_refused_before_sending)
{
	static const struct step script[] = {
		HELLO, READ,
		SEND("{\"return\": {\"status\": \"prelaunch\"}, \"id\": $ID}"),
		END,
	};
	char st[9];	/* "prelaunch" is 9 characters */
	struct qmp *q;

	cr_assert_null(qmp_open(sock, 0));
	cr_assert_eq(errno, EINVAL);
	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	errno = 0;
	cr_assert_eq(qmp_save_devices(q, "devst"), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(qmp_exec(q, "x", "[1]", NULL), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(qmp_exec(q, "x", "{} {}", NULL), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(qmp_exec(q, "x", "{\"a\": ", NULL), -1);
	cr_assert_eq(errno, EINVAL);
	/* The reply arrives but does not fit. */
	cr_assert_eq(qmp_status(q, st, sizeof st), -1);
	cr_assert_eq(errno, ERANGE);
	qmp_close(q);
	qmp_close(NULL);
	/* Only qmp_capabilities and query-status were sent. */
	cr_assert_eq(requests(), 2);
}

Test(qmp, split_save_skips_events_between)
{
	static const struct step script[] = {
		HELLO, READ,
		SEND("{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, "
		    "\"microseconds\": 2}}"),
		SEND(RET_EMPTY),
		END,
	};
	struct json_object *r, *a;
	struct qmp *q;

	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	cr_assert_eq(qmp_save_devices_begin(q, "/var/lib/x"), 0);
	/* The caller's work here; the reply waits in the socket. */
	usleep(20000);
	cr_assert_eq(qmp_save_devices_end(q), 0);
	qmp_close(q);
	r = request(1);
	cr_assert_str_eq(str_at(r, "execute"), "xen-save-devices-state");
	cr_assert(json_object_object_get_ex(r, "arguments", &a));
	cr_assert_str_eq(str_at(a, "filename"), "/var/lib/x");
	cr_assert_str_eq(str_at(a, "live"), "false");
	json_object_put(r);
}

Test(qmp, load_passes_the_descriptor_and_waits)
{
	static const struct step script[] = {
		HELLO, READ_FD, SEND(RET_EMPTY),
		READ, SEND(RET_EMPTY),
		READ, SEND("{\"return\": {\"status\": \"inmigrate\"}, "
		    "\"id\": $ID}"),
		READ, SEND("{\"event\": \"RESUME\"}"),
		SEND("{\"return\": {\"status\": \"running\"}, \"id\": $ID}"),
		END,
	};
	struct json_object *r, *a;
	char st[32], got[16] = "";
	struct qmp *q;
	int fd, pf;

	fake_start(script);
	fd = memfd_create("state", MFD_CLOEXEC);
	cr_assert(fd != -1);
	cr_assert_eq(write(fd, "QEVMtest", 8), 8);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	cr_assert_eq(qmp_load_devices(q, fd, st, sizeof st), 0, "%s",
	    logged());
	cr_assert_str_eq(st, "running");
	qmp_close(q);
	close(fd);
	/* The fake read the state through the descriptor it was given. */
	pf = open(passed, O_RDONLY);
	cr_assert(pf != -1);
	cr_assert_eq(read(pf, got, sizeof got), 8);
	close(pf);
	cr_assert_eq(memcmp(got, "QEVMtest", 8), 0);
	r = request(1);
	cr_assert_str_eq(str_at(r, "execute"), "getfd");
	cr_assert(json_object_object_get_ex(r, "arguments", &a));
	cr_assert_str_eq(str_at(a, "fdname"), "remus-devstate");
	json_object_put(r);
	r = request(2);
	cr_assert_str_eq(str_at(r, "execute"), "migrate-incoming");
	cr_assert(json_object_object_get_ex(r, "arguments", &a));
	cr_assert_str_eq(str_at(a, "uri"), "fd:remus-devstate");
	json_object_put(r);
	cr_assert_eq(requests(), 5);
}

/* A fresh fake playing SCRIPT: qmp_load_devices fails with WANT_ERRNO
 * and logs WANT. */
static void
load_fails(const struct step *script, int fd, int want_errno,
    const char *want)
{
	char st[32];
	struct qmp *q;

	unlink(reqlog);
	unlink(passed);
	fake_start(script);
	q = qmp_open(sock, 2000);
	cr_assert_not_null(q);
	errno = 0;
	cr_assert_eq(qmp_load_devices(q, fd, st, sizeof st), -1);
	cr_assert_eq(errno, want_errno);
	cr_assert(strstr(logged(), want) != NULL, "%s", logged());
	qmp_close(q);
}

Test(qmp, load_refused_or_qemu_gone)
{
	static const struct step refused[] = {
		HELLO, READ_FD, SEND(RET_EMPTY), READ,
		SEND("{\"error\": {\"class\": \"GenericError\", \"desc\": "
		    "\"'-incoming' was not specified on the command line\"}, "
		    "\"id\": $ID}"),
		END,
	};
	static const struct step gone[] = {
		HELLO, READ_FD, SEND(RET_EMPTY), READ, SEND(RET_EMPTY), READ,
		END,
	};
	static const struct step idle[] = { HELLO, END };
	int fd;

	fd = memfd_create("state", MFD_CLOEXEC);
	cr_assert(fd != -1);
	load_fails(idle, -1, EINVAL, "load: no descriptor to load from");
	load_fails(refused, fd, EIO, "migrate-incoming: '-incoming' was not "
	    "specified");
	load_fails(gone, fd, EPIPE, "query-status: QEMU closed the "
	    "connection");
	close(fd);
}
