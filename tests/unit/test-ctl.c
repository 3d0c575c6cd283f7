/* tests/unit/test-ctl.c -- the control socket (remusd/ctl.c): the request
 * parser on a table of lines, and the server in a real libev loop over a
 * real unix socket: answers, pipelining, a deferred answer, a client that
 * leaves before its answer, the limits, the mode, stale and live sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <ev.h>
#include <json-c/json.h>

#include "ctl.h"
#include "log.h"

/* ---- The parser ---------------------------------------------------------- */

struct pcase {
	const char	*line;
	size_t		 len;		/* 0: strlen */
	int		 ok;
	const char	*verb_or_err;	/* the verb, or a piece of the error */
};

static const struct pcase pcases[] = {
	{ "{\"verb\":\"status\"}", 0, 1, "status" },
	{ "  {\"verb\" : \"stop\", \"x\": [1, {\"y\": null}]}  \r", 0, 1, "stop" },
	{ "{\"verb\":\"a\",\"verb\":\"b\"}", 0, 1, "b" },
	{ "{\"verb\":\"status\"} x", 0, 0, "text after it" },
	{ "{\"verb\":\"status\"}{}", 0, 0, "text after it" },
	{ "{\"verb\":\"status\"", 0, 0, "incomplete" },
	{ "", 0, 0, "incomplete" },
	{ "[\"verb\"]", 0, 0, "string \"verb\"" },
	{ "\"status\"", 0, 0, "string \"verb\"" },
	{ "{\"verb\":3}", 0, 0, "string \"verb\"" },
	{ "{\"verb\":null}", 0, 0, "string \"verb\"" },
	{ "{\"Verb\":\"status\"}", 0, 0, "string \"verb\"" },
	{ "not json", 0, 0, "JSON" },
	/* A NUL inside the line ends json-c's input: the rest is "after". */
	{ "{\"verb\":\"status\"}\0{}", 20, 0, "text after it" },
};

Test(ctl, parse_table)
{
	struct json_object *req;
	const char *verb;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof pcases / sizeof pcases[0]; i++) {
		const struct pcase *c = &pcases[i];
		size_t len = c->len ? c->len : strlen(c->line);
		int rc;

		err[0] = '\0';
		rc = ctl_parse_request(c->line, len, &req, &verb, err,
		    sizeof err);
		if (c->ok) {
			cr_assert_eq(rc, 0, "case %zu: %s", i, err);
			cr_assert_str_eq(verb, c->verb_or_err, "case %zu", i);
			json_object_put(req);
		} else {
			cr_assert_eq(rc, -1, "case %zu accepted", i);
			cr_assert_null(req);
			cr_assert(strstr(err, c->verb_or_err) != NULL,
			    "case %zu: error \"%s\", want \"%s\"", i, err,
			    c->verb_or_err);
		}
	}
}

Test(ctl, parse_refuses_a_line_at_the_limit)
{
	char *line = malloc(CTL_LINE_MAX);
	struct json_object *req;
	const char *verb;
	char err[256];

	cr_assert_not_null(line);
	memset(line, ' ', CTL_LINE_MAX);
	memcpy(line, "{\"verb\":\"status\"}", 17);
	cr_assert_eq(ctl_parse_request(line, CTL_LINE_MAX - 1, &req, &verb,
	    err, sizeof err), 0, "%s", err);
	json_object_put(req);
	cr_assert_eq(ctl_parse_request(line, CTL_LINE_MAX, &req, &verb, err,
	    sizeof err), -1);
	cr_assert(strstr(err, "longer than") != NULL);
	free(line);
}

Test(ctl, default_path_names_the_guest)
{
	char buf[128];

	cr_assert_eq(ctl_default_path(buf, sizeof buf, "/run/remus", "remus-",
	    "proc:12/x"), 0);
	cr_assert_str_eq(buf, "/run/remus/remus-proc_12_x.sock");
	cr_assert_eq(ctl_default_path(buf, sizeof buf, "/run/r:x", "",
	    "remusd"), 0);
	cr_assert_str_eq(buf, "/run/r:x/remusd.sock", "only the name is "
	    "rewritten");
	errno = 0;
	cr_assert_eq(ctl_default_path(buf, sizeof buf, "/a/very/long/run/"
	    "directory/that/does/not/fit/into/a/sockaddr_un/sun_path/at/all/"
	    "not/even/close", "remus-", "proc:1"), -1);
	cr_assert_eq(errno, ENAMETOOLONG);
}

/* ---- The server ---------------------------------------------------------- */

static char dir[] = "/tmp/test-ctl.XXXXXX";
static char sock[96];
static struct ev_loop *loop;
static struct ctl *srv;
static struct ctl_req *deferred;	/* the "later" verb's request */
static int handled;

static void
handler(struct ctl_req *r, const char *verb, struct json_object *args,
    void *arg)
{
	struct json_object *o;

	(void)args;
	(void)arg;
	handled++;
	if (strcmp(verb, "later") == 0) {
		deferred = r;		/* answered by the test */
		return;
	}
	if (strcmp(verb, "fail") == 0) {
		ctl_reply_error(r, "failed on purpose");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "echo", json_object_new_string(verb));
	ctl_reply(r, o);
}

static void
setup(void)
{
	int fd;

	cr_assert(mkdtemp(dir) != NULL);
	snprintf(sock, sizeof sock, "%s/c.sock", dir);
	fd = open("/dev/null", O_WRONLY);
	dup2(fd, STDERR_FILENO);	/* quiet: the refusals log */
	close(fd);
	log_init("test", 1, 0);
	loop = ev_default_loop(0);
	deferred = NULL;
	handled = 0;
	srv = ctl_new(loop, sock, handler, NULL);
	cr_assert_not_null(srv);
}

static void
teardown(void)
{
	char cmd[300];

	ctl_free(srv);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)system(cmd);
}

static int
client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0,
	    "%s", strerror(errno));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void
send_str(int fd, const char *s)
{
	cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* What the client read so far (pump_for runs the loop until FD has N
 * answer lines in it, or EOF, or ROUNDS of 10 ms). */
static char answer[65536];
static size_t alen;
static int aeof;

static int
lines_in(void)
{
	int n = 0;
	size_t i;

	for (i = 0; i < alen; i++)
		n += answer[i] == '\n';
	return n;
}

static void
pump_for(int fd, int want_lines, int rounds)
{
	int i;

	for (i = 0; i < rounds && lines_in() < want_lines && !aeof; i++) {
		ssize_t n;

		ev_run(loop, EVRUN_NOWAIT);
		n = read(fd, answer + alen, sizeof answer - 1 - alen);
		if (n > 0)
			alen += (size_t)n;
		else if (n == 0)
			aeof = 1;
		else
			usleep(10000);
		answer[alen] = '\0';
	}
}

static void
pump(int fd, int want_lines)
{
	pump_for(fd, want_lines, 300);
}

/* For "nothing comes": 0.2 s of looking. */
static void
pump_briefly(int fd, int want_lines)
{
	pump_for(fd, want_lines, 20);
}

static void
reset_answer(void)
{
	alen = 0;
	aeof = 0;
	answer[0] = '\0';
}

Test(ctl, answers_each_line_in_order, .init = setup, .fini = teardown,
    .timeout = 20)
{
	int fd = client();

	reset_answer();
	/* Pipelined, one write: answered one by one, in order. */
	send_str(fd, "{\"verb\":\"one\"}\n{\"verb\":\"fail\"}\nnope\n"
	    "{\"verb\":\"two\"}\n");
	pump(fd, 4);
	/* (json-c words the third error: only its start is ours.) */
	cr_assert(strncmp(answer, "{\"ok\":true,\"echo\":\"one\"}\n"
	    "{\"ok\":false,\"error\":\"failed on purpose\"}\n"
	    "{\"ok\":false,\"error\":\"not one JSON object on the line: ",
	    strlen("{\"ok\":true,\"echo\":\"one\"}\n"
	    "{\"ok\":false,\"error\":\"failed on purpose\"}\n"
	    "{\"ok\":false,\"error\":\"not one JSON object on the line: "))
	    == 0, "%s", answer);
	cr_assert(strstr(answer, "\"}\n{\"ok\":true,\"echo\":\"two\"}\n") !=
	    NULL && lines_in() == 4, "%s", answer);
	cr_assert_eq(handled, 3);
	/* A line split across writes. */
	reset_answer();
	send_str(fd, "{\"verb\":");
	pump_briefly(fd, 1);
	cr_assert_eq(alen, 0u);
	send_str(fd, "\"three\"}\n");
	pump(fd, 1);
	cr_assert_str_eq(answer, "{\"ok\":true,\"echo\":\"three\"}\n");
	close(fd);
}

Test(ctl, socket_is_0600_and_a_live_one_is_not_taken, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct stat st;

	cr_assert_eq(stat(sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert((st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
	errno = 0;
	cr_assert_null(ctl_new(loop, sock, handler, NULL));
	cr_assert_eq(errno, EADDRINUSE);
}

Test(ctl, a_stale_socket_is_replaced_a_file_is_not, .timeout = 20)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl *c;
	char path[100], file[100], cmd[120];
	int fd;

	cr_assert(mkdtemp(dir) != NULL);
	log_init("test", 1, 0);
	snprintf(path, sizeof path, "%s/stale.sock", dir);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);		/* bound, never listened: stale */
	c = ctl_new(ev_default_loop(0), path, handler, NULL);
	cr_assert_not_null(c, "stale socket not replaced");
	ctl_free(c);
	cr_assert_eq(access(path, F_OK), -1, "ctl_free left the socket");
	snprintf(file, sizeof file, "%s/file", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	errno = 0;
	cr_assert_null(ctl_new(ev_default_loop(0), file, handler, NULL));
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(access(file, F_OK), 0, "a plain file was removed");
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)system(cmd);
}

Test(ctl, a_deferred_answer_and_a_client_gone_meanwhile, .init = setup,
    .fini = teardown, .timeout = 20)
{
	int fd = client();

	reset_answer();
	send_str(fd, "{\"verb\":\"later\"}\n{\"verb\":\"after\"}\n");
	pump_briefly(fd, 1);
	cr_assert_not_null(deferred);
	cr_assert_eq(alen, 0u, "nothing before the deferred answer");
	cr_assert_eq(handled, 1, "the next line waits for the answer");
	ctl_reply(deferred, NULL);
	deferred = NULL;
	pump(fd, 2);
	cr_assert_str_eq(answer, "{\"ok\":true}\n{\"ok\":true,\"echo\":"
	    "\"after\"}\n");
	/* The client leaves while its request is pending: the answer is
	 * dropped, nothing is touched after free (ASan would say). */
	send_str(fd, "{\"verb\":\"later\"}\n");
	pump_briefly(fd, 3);
	cr_assert_not_null(deferred);
	close(fd);
	ev_run(loop, EVRUN_NOWAIT);
	ev_run(loop, EVRUN_NOWAIT);
	ctl_reply_error(deferred, "too late");
	deferred = NULL;
}

Test(ctl, limits_line_length_and_clients, .init = setup, .fini = teardown,
    .timeout = 20)
{
	char *big = malloc(CTL_LINE_MAX + 100);
	int fds[CTL_CLIENTS_MAX], fd, i;

	cr_assert_not_null(big);
	/* A line too long: answered, then the connection is closed. */
	fd = client();
	reset_answer();
	memset(big, 'x', CTL_LINE_MAX + 99);
	big[CTL_LINE_MAX + 99] = '\0';
	(void)write(fd, big, CTL_LINE_MAX + 99);
	pump(fd, 1);
	cr_assert(strstr(answer, "longer than") != NULL, "%s", answer);
	pump(fd, 2);
	cr_assert(aeof, "not closed after a line too long");
	close(fd);
	free(big);
	/* CTL_CLIENTS_MAX clients are served; one more is told busy. */
	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		fds[i] = client();
	ev_run(loop, EVRUN_NOWAIT);
	fd = client();
	reset_answer();
	pump(fd, 1);
	cr_assert(strstr(answer, "busy") != NULL, "%s", answer);
	close(fd);
	reset_answer();
	send_str(fds[0], "{\"verb\":\"still\"}\n");
	pump(fds[0], 1);
	cr_assert_str_eq(answer, "{\"ok\":true,\"echo\":\"still\"}\n");
	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		close(fds[i]);
}
