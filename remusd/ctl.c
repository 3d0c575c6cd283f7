/* remusd/ctl.c -- the control socket: framing, limits, JSON (ctl.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <json-c/json.h>

#define LOG_PREFIX "ctl: "
#include "compiler.h"
#include "ctl.h"
#include "log.h"

#define OUT_MAX		(256u << 10)	/* one answer, serialised */

struct ctl_req {
	struct ctl	*ctl;
	struct ctl_req	*next;
	int		 fd;
	ev_io		 rio, wio;
	ev_timer	 deadline;
	char		 in[CTL_LINE_MAX];
	size_t		 inlen;
	char		*out;		/* an answer being written */
	size_t		 outlen, outoff;
	struct json_object *args;	/* the request awaiting its answer */
	int		 pending;	/* the handler has not answered yet */
	int		 gone;		/* closed while pending: free at the
					 * answer */
	int		 eof;		/* the client closed its end */
};

struct ctl {
	struct ev_loop	*loop;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int		 fd;
	dev_t		 dev;		/* the socket file we made, so that */
	ino_t		 ino;		/* ctl_free unlinks only that one */
	ev_io		 accept_io;
	ctl_handler_fn	*fn;
	void		*arg;
	struct ctl_req	*clients;
	unsigned	 nclients;
};

static void	client_next(struct ctl_req *);

int
ctl_default_path(char *buf, size_t len, const char *run_dir,
    const char *prefix, const char *name)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	char *p;
	int n;

	n = snprintf(buf, len, "%s/%s%s.sock", run_dir, prefix, name);
	if (n < 0 || (size_t)n >= len || (size_t)n >= max) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + strlen(run_dir) + 1; *p; p++)
		if (*p == ':' || *p == '/')
			*p = '_';
	return 0;
}

const char *
ctl_path(const struct ctl *c)
{
	return c->path;
}

/* ---- Clients ---------------------------------------------------------- */

static void
client_free(struct ctl_req *r)
{
	struct ctl *c = r->ctl;
	struct ctl_req **rp;

	ev_io_stop(c->loop, &r->rio);
	ev_io_stop(c->loop, &r->wio);
	ev_timer_stop(c->loop, &r->deadline);
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	if (r->pending) {
		/* The handler still owns the request: it frees it when it
		 * answers (ctl_reply sees GONE). */
		r->gone = 1;
		return;
	}
	for (rp = &c->clients; *rp; rp = &(*rp)->next)
		if (*rp == r) {
			*rp = r->next;
			break;
		}
	c->nclients--;
	if (r->args)
		json_object_put(r->args);
	free(r->out);
	free(r);
}

static void
deadline_restart(struct ctl_req *r)
{
	ev_timer_stop(r->ctl->loop, &r->deadline);
	ev_timer_set(&r->deadline, CTL_DEADLINE_MS / 1000., 0.);
	ev_timer_start(r->ctl->loop, &r->deadline);
}

/* Write what the socket takes now.  0 when all of it is out, 1 when some
 * waits for EV_WRITE, -1 when the client is gone (freed). */
static int
client_flush(struct ctl_req *r)
{
	ssize_t n;

	while (r->outoff < r->outlen) {
		n = send(r->fd, r->out + r->outoff, r->outlen - r->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			r->outoff += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(r->ctl->loop, &r->wio);
			return 1;
		}
		client_free(r);
		return -1;
	}
	ev_io_stop(r->ctl->loop, &r->wio);
	free(r->out);
	r->out = NULL;
	r->outlen = r->outoff = 0;
	return 0;
}

/* Queue one line (taken) and start writing it. */
static void
client_send(struct ctl_req *r, char *line, size_t len)
{
	free(r->out);
	r->out = line;
	r->outlen = len;
	r->outoff = 0;
	deadline_restart(r);
	if (client_flush(r) == 0)
		client_next(r);
}

/* Answer and close: a refusal before any request. */
static void
client_refuse(struct ctl_req *r, const char *why)
{
	char *line;
	int n;

	n = asprintf(&line, "{\"ok\":false,\"error\":\"%s\"}\n", why);
	if (n > 0) {
		r->eof = 1;		/* close once written */
		client_send(r, line, (size_t)n);
	} else
		client_free(r);
}

static void
send_json(struct ctl_req *r, struct json_object *o)
{
	const char *s;
	char *line;
	size_t len;

	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	len = s ? strlen(s) : 0;
	if (s == NULL || len + 1 > OUT_MAX || (line = malloc(len + 1)) ==
	    NULL) {
		json_object_put(o);
		log_warnx("an answer could not be serialised: dropping the "
		    "client");
		client_free(r);
		return;
	}
	memcpy(line, s, len);
	line[len] = '\n';
	json_object_put(o);
	client_send(r, line, len + 1);
}

void
ctl_reply(struct ctl_req *r, struct json_object *resp)
{
	if (resp == NULL)
		resp = json_object_new_object();
	r->pending = 0;
	if (r->args) {
		json_object_put(r->args);
		r->args = NULL;
	}
	if (r->gone || resp == NULL) {
		if (resp)
			json_object_put(resp);
		r->gone = 0;
		client_free(r);
		return;
	}
	if (!json_object_object_get_ex(resp, "ok", NULL)) {
		/* "ok" first: a reader sees at once whether it worked. */
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "ok", json_object_new_boolean(1));
		json_object_object_foreach(resp, k, v)
			json_object_object_add(o, k, json_object_get(v));
		json_object_put(resp);
		resp = o;
	}
	send_json(r, resp);
}

void
ctl_reply_error(struct ctl_req *r, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (o != NULL) {
		json_object_object_add(o, "ok", json_object_new_boolean(0));
		json_object_object_add(o, "error", json_object_new_string(msg));
	}
	ctl_reply(r, o);
}

int
ctl_parse_request(const char *line, size_t len, struct json_object **req,
    const char **verb, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o, *v;
	enum json_tokener_error jerr;

	*req = NULL;
	*verb = NULL;
	if (len >= CTL_LINE_MAX) {
		snprintf(err, errlen, "request longer than %u bytes",
		    CTL_LINE_MAX);
		return -1;
	}
	tok = json_tokener_new();
	if (tok == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	o = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	/* Anything after the object on the line is an error too. */
	if (o != NULL && jerr == json_tokener_success) {
		size_t i;

		for (i = json_tokener_get_parse_end(tok); i < len; i++)
			if (line[i] != ' ' && line[i] != '\t' &&
			    line[i] != '\r')
				break;
		if (i < len) {
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	if (o == NULL) {
		snprintf(err, errlen, "not one JSON object on the line: %s",
		    jerr == json_tokener_success ? "text after it" :
		    jerr == json_tokener_continue ? "incomplete" :
		    json_tokener_error_desc(jerr));
		return -1;
	}
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "verb", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		json_object_put(o);
		snprintf(err, errlen, "want an object with a string \"verb\"");
		return -1;
	}
	*req = o;
	*verb = json_object_get_string(v);
	return 0;
}

/* One line (without its newline) from the client: parse and dispatch. */
static void
client_line(struct ctl_req *r, const char *line, size_t len)
{
	struct json_object *o;
	const char *verb;
	char err[256];

	r->pending = 1;
	if (ctl_parse_request(line, len, &o, &verb, err, sizeof err) == -1) {
		ctl_reply_error(r, "%s", err);
		return;
	}
	r->args = o;
	/* No deadline while the program works on it: the verb bounds
	 * itself (a switchover has its own). */
	ev_timer_stop(r->ctl->loop, &r->deadline);
	r->ctl->fn(r, verb, o, r->ctl->arg);
}

/* Dispatch the next complete line buffered, if any; else read on. */
static void
client_next(struct ctl_req *r)
{
	char line[CTL_LINE_MAX];
	char *nl;
	size_t len;

	if (r->pending || r->out != NULL)
		return;
	nl = memchr(r->in, '\n', r->inlen);
	if (nl == NULL) {
		if (r->inlen == sizeof r->in) {
			/* No newline in a full buffer: too long.  Answered,
			 * then closed (what follows is not a request). */
			r->inlen = 0;
			r->eof = 1;
			ev_io_stop(r->ctl->loop, &r->rio);
			r->pending = 1;
			ctl_reply_error(r, "request longer than %u bytes",
			    CTL_LINE_MAX);
		} else if (r->eof)
			client_free(r);
		else
			ev_io_start(r->ctl->loop, &r->rio);
		return;
	}
	/* The line leaves the buffer before the handler sees it, so that
	 * a handler answering at once finds the buffer consistent. */
	ev_io_stop(r->ctl->loop, &r->rio);
	len = (size_t)(nl - r->in);
	memcpy(line, r->in, len);
	r->inlen -= len + 1;
	memmove(r->in, nl + 1, r->inlen);
	client_line(r, line, len);
}

static void
client_read(struct ctl_req *r)
{
	ssize_t n;

	n = recv(r->fd, r->in + r->inlen, sizeof r->in - r->inlen,
	    MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		r->eof = 1;
		ev_io_stop(r->ctl->loop, &r->rio);
	} else
		r->inlen += (size_t)n;
	client_next(r);
}

static void
rio_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	client_read(container_of(w, struct ctl_req, rio));
}

static void
wio_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	struct ctl_req *r = container_of(w, struct ctl_req, wio);

	if (client_flush(r) == 0)
		client_next(r);
}

static void
deadline_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	struct ctl_req *r = container_of(w, struct ctl_req, deadline);

	log_debug("client dropped: nothing complete in %u ms",
	    CTL_DEADLINE_MS);
	client_free(r);
}

/* The owner of the socket, or root. */
static int
peer_allowed(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof cr;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		return 0;
	return cr.uid == 0 || cr.uid == geteuid();
}

static void
accept_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	struct ctl *c = container_of(w, struct ctl, accept_io);
	struct ctl_req *r;
	int fd;

	fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		log_warn("client");
		close(fd);
		return;
	}
	r->ctl = c;
	r->fd = fd;
	ev_io_init(&r->rio, rio_cb, fd, EV_READ);
	ev_io_init(&r->wio, wio_cb, fd, EV_WRITE);
	ev_init(&r->deadline, deadline_cb);
	r->next = c->clients;
	c->clients = r;
	c->nclients++;
	if (!peer_allowed(fd)) {
		log_warnx("client refused: not the socket's owner nor root");
		client_refuse(r, "permission denied");
		return;
	}
	if (c->nclients > CTL_CLIENTS_MAX) {
		log_warnx("client refused: %u clients already",
		    CTL_CLIENTS_MAX);
		client_refuse(r, "busy: too many clients");
		return;
	}
	deadline_restart(r);
	ev_io_start(c->loop, &r->rio);
}

/* ---- The socket --------------------------------------------------------- */

/* PATH exists: replace it if it is a socket nobody serves. */
static int
clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
	close(fd);
	if (rc == 0) {
		errno = EADDRINUSE;
		return -1;
	}
	if (errno != ECONNREFUSED)
		return -1;
	return unlink(path);
}

struct ctl *
ctl_new(struct ev_loop *loop, const char *path, ctl_handler_fn *fn,
    void *arg)
{
	struct sockaddr_un sa;
	struct ctl *c;
	struct stat st;
	mode_t old;
	int err;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		log_warn("control socket %s", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->fn = fn;
	c->arg = arg;
	c->fd = -1;
	snprintf(c->path, sizeof c->path, "%s", path);
	if (clear_stale(path, &sa) == -1) {
		log_warn("control socket %s%s", path, errno == EADDRINUSE ?
		    " (another process serves it)" : "");
		goto err;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (c->fd == -1)
		goto err_log;
	/* Born 0600: no window in which another user could connect. */
	old = umask(0177);
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		umask(old);
		goto err_log;
	}
	umask(old);
	if (chmod(path, 0600) == -1 || stat(path, &st) == -1 ||
	    listen(c->fd, CTL_CLIENTS_MAX) == -1) {
		unlink(path);
		goto err_log;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	ev_io_init(&c->accept_io, accept_cb, c->fd, EV_READ);
	ev_io_start(loop, &c->accept_io);
	log_debug("control socket %s", path);
	return c;
err_log:
	log_warn("control socket %s", path);
err:
	err = errno;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	errno = err;
	return NULL;
}

void
ctl_free(struct ctl *c)
{
	struct stat st;

	if (c == NULL)
		return;
	while (c->clients) {
		struct ctl_req *r = c->clients;

		/* A last answer (stop's) leaves if the socket takes it. */
		if (r->out && r->fd >= 0)
			(void)send(r->fd, r->out + r->outoff,
			    r->outlen - r->outoff, MSG_NOSIGNAL |
			    MSG_DONTWAIT);
		r->pending = 0;
		client_free(r);
	}
	ev_io_stop(c->loop, &c->accept_io);
	close(c->fd);
	/* Only our own file: a successor may have replaced it. */
	if (stat(c->path, &st) == 0 && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		unlink(c->path);
	free(c);
}
