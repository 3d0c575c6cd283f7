/* domain/qmp.c -- the QMP client (qmp.h).
 *
 * QMP (QEMU's docs/interop/qmp-spec) is a stream of JSON objects; QEMU
 * ends each one it sends with "\r\n" and never splits one over lines, so a
 * message is read as a line and parsed whole, and a line that does not
 * fit QMP_LINE_MAX is refused rather than grown into.
 *
 * A session is QEMU's greeting ({"QMP": {"version": ...}}), then
 * qmp_capabilities (QEMU refuses every other command until then), then
 * one command at a time.  Asynchronous events ({"event": "STOP", ...}) may
 * come before any reply -- stop and cont are answered after their STOP and
 * RESUME events -- and are skipped.
 *
 * Every request carries an "id", which QEMU copies into its reply.  A
 * command that timed out may still be answered later: that reply has an
 * older id and is skipped, where without ids it would be taken for the
 * next command's reply and every reply after it would be off by one.  A
 * line that is not QMP, or the end of the connection, leaves no telling
 * where the stream is: the handle then refuses further commands
 * (ENOTCONN) and the caller opens a new one.
 *
 * The socket is non-blocking and every wait is a poll() bounded by the
 * command's deadline, the sends included: a QEMU that stopped reading
 * must not hang a checkpoint either.
 */
#define LOG_PREFIX "qmp: "

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "qmp.h"
#include "util.h"

/* A listener whose backlog is full refuses a non-blocking AF_UNIX connect
 * with EAGAIN and, unlike TCP, leaves nothing in progress to poll for:
 * the connect is retried this often until the deadline. */
#define QMP_CONNECT_RETRY_US	10000

/* How much of a peer's text goes into a log line: of a line that is not
 * QMP, enough to tell what it is; of QEMU's error text, enough for a
 * file name and strerror. */
#define QMP_EXCERPT	80
#define QMP_DESC_MAX	400

/* Serialised the way QEMU's parser takes them: no pretty-printing, and
 * "/" unescaped so that a file name reads in QEMU's logs as it was given
 * ("\/" would be valid JSON too). */
#define QMP_JSON_FLAGS	\
	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct qmp {
	int		 fd;		/* non-blocking */
	unsigned	 timeout_ms;	/* per command; qmp_open: in all */
	int64_t		 id;		/* the last request's "id" */
	int		 dead;		/* stream lost (EPROTO, EPIPE) */
	json_tokener	*tok;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t		 len;		/* bytes in buf not yet consumed */
	char		 buf[QMP_LINE_MAX];	/* a line and its '\n' */
};

/* A peer's N bytes at S made fit for a log line: printable ASCII, at
 * most MAX characters, "..." when cut.  OUT holds MAX + 4 bytes. */
static const char *
qmp_excerpt(const char *s, size_t n, size_t max, char *out)
{
	size_t i, m = n < max ? n : max;

	for (i = 0; i < m; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	strcpy(out + m, n > m ? "..." : "");
	return out;
}

/* OBJ's member KEY if it is a string, else NULL. */
static const char *
qmp_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Parse S (LEN bytes) as exactly one JSON object, whitespace around it
 * allowed.  The object, or NULL: not JSON, not an object, or something
 * after it (two objects, or a NUL, which ends json-c's input). */
static struct json_object *
qmp_parse(json_tokener *tok, const char *s, size_t len)
{
	struct json_object *obj;
	size_t end;

	if (len > INT_MAX)
		return NULL;
	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, s, (int)len);
	if (obj == NULL ||
	    json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return NULL;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (strchr(" \t\r\n", s[end]) == NULL) {
			json_object_put(obj);
			return NULL;
		}
	return obj;
}

/* Milliseconds left until DEADLINE (a now_us() time), rounded up so that
 * poll() does not wake just before it; 0 once it has passed. */
static int
qmp_left_ms(uint64_t deadline)
{
	uint64_t now = now_us(), ms;

	if (now >= deadline)
		return 0;
	ms = (deadline - now + 999) / 1000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static uint64_t
qmp_deadline(const struct qmp *q)
{
	return now_us() + (uint64_t)q->timeout_ms * 1000;
}

/* Wait until the socket is ready for EVENTS.  What is ready by DEADLINE
 * still counts (a last poll with timeout 0).  0, or -1 with errno
 * (ETIMEDOUT, or poll's). */
static int
qmp_wait(struct qmp *q, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = q->fd, .events = events };
	int ms, n;

	for (;;) {
		ms = qmp_left_ms(deadline);
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;	/* POLLHUP/POLLERR: the I/O says */
		if (n == -1 && errno != EINTR)
			return -1;
		if (n == 0 && ms == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
}

/* Send LEN bytes of S by DEADLINE; FD, unless -1, goes with the first
 * byte (SCM_RIGHTS: QEMU's getfd takes the descriptor that came with its
 * command).  0, or -1 with errno (ETIMEDOUT, EPIPE if QEMU is gone, or
 * send's). */
static int
qmp_send(struct qmp *q, const char *s, size_t len, uint64_t deadline, int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov;
	struct msghdr msg;
	ssize_t n;

	while (len > 0) {
		/* MSG_NOSIGNAL: a dead QEMU is EPIPE here, not a SIGPIPE
		 * that kills the caller. */
		if (fd == -1) {
			n = send(q->fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			memset(&msg, 0, sizeof msg);
			memset(&cm, 0, sizeof cm);
			iov.iov_base = (void *)s;
			iov.iov_len = len;
			msg.msg_iov = &iov;
			msg.msg_iovlen = 1;
			msg.msg_control = cm.buf;
			msg.msg_controllen = sizeof cm.buf;
			cm.hdr.cmsg_level = SOL_SOCKET;
			cm.hdr.cmsg_type = SCM_RIGHTS;
			cm.hdr.cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(&cm.hdr), &fd, sizeof(int));
			n = sendmsg(q->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (n > 0) {
			s += n;
			len -= (size_t)n;
			fd = -1;	/* it went with those bytes */
		} else if (n == 0) {
			errno = EPIPE;
			return -1;
		} else if (errno == EAGAIN) {
			if (qmp_wait(q, POLLOUT, deadline) == -1)
				return -1;
		} else if (errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

/* Make q->buf start with a whole line.  *LINELEN is its length without
 * its "\n" or "\r\n", *USED with it (what qmp_consume drops).  0, or -1
 * with errno: ETIMEDOUT, EPROTO (no '\n' in QMP_LINE_MAX bytes), EPIPE
 * (end of the connection), or read's. */
static int
qmp_read_line(struct qmp *q, uint64_t deadline, size_t *linelen,
    size_t *used)
{
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(q->buf, '\n', q->len);
		if (nl != NULL) {
			*used = (size_t)(nl - q->buf) + 1;
			*linelen = (size_t)(nl - q->buf);
			if (*linelen > 0 && q->buf[*linelen - 1] == '\r')
				(*linelen)--;
			return 0;
		}
		if (q->len == sizeof q->buf) {
			errno = EPROTO;
			return -1;
		}
		n = read(q->fd, q->buf + q->len, sizeof q->buf - q->len);
		if (n > 0) {
			q->len += (size_t)n;
		} else if (n == 0 || errno == ECONNRESET) {
			/* A QEMU that exits with our request unread resets
			 * the connection: gone all the same. */
			errno = EPIPE;
			return -1;
		} else if (errno == EAGAIN) {
			if (qmp_wait(q, POLLIN, deadline) == -1)
				return -1;
		} else if (errno != EINTR) {
			return -1;
		}
	}
}

static void
qmp_consume(struct qmp *q, size_t used)
{
	memmove(q->buf, q->buf + used, q->len - used);
	q->len -= used;
}

/* The next JSON object from QEMU; WHAT names what we wait for ("greeting",
 * a command), for the log.  The object (the caller puts it), or NULL with
 * errno, logged: ETIMEDOUT, or EPROTO, EPIPE and read's errors, which end
 * the connection. */
static struct json_object *
qmp_next(struct qmp *q, const char *what, uint64_t deadline)
{
	struct json_object *obj;
	char ex[QMP_EXCERPT + 4];
	size_t linelen, used;

	for (;;) {
		if (qmp_read_line(q, deadline, &linelen, &used) == -1)
			break;
		if (linelen == 0) {	/* not sent by QEMU; harmless */
			qmp_consume(q, used);
			continue;
		}
		obj = qmp_parse(q->tok, q->buf, linelen);
		if (obj == NULL) {
			log_warnx("%s: %s: not a QMP message: \"%s\"", q->path,
			    what,
			    qmp_excerpt(q->buf, linelen, QMP_EXCERPT, ex));
			qmp_consume(q, used);
			q->dead = 1;
			errno = EPROTO;
			return NULL;
		}
		qmp_consume(q, used);
		return obj;
	}

	switch (errno) {
	case ETIMEDOUT:
		if (strcmp(what, "greeting") == 0)
			log_warnx("%s: no greeting within %u ms (QEMU serves "
			    "one QMP client at a time: is another one "
			    "connected?)", q->path, q->timeout_ms);
		else
			log_warnx("%s: %s: no reply within %u ms", q->path,
			    what, q->timeout_ms);
		break;
	case EPROTO:
		log_warnx("%s: %s: a line longer than %d bytes: not QMP",
		    q->path, what, QMP_LINE_MAX);
		q->dead = 1;
		break;
	case EPIPE:
		log_warnx("%s: %s: QEMU closed the connection", q->path, what);
		q->dead = 1;
		break;
	default:
		log_warn("%s: %s: read", q->path, what);
		q->dead = 1;
		break;
	}
	return NULL;
}

/* Add VAL (a new reference, NULL if its allocation failed) to OBJ as KEY.
 * 0, or -1 with errno ENOMEM, VAL put. */
static int
qmp_add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (val == NULL || json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Send CMD with ARGS (an object, borrowed; NULL for none), and FD unless
 * -1, by DEADLINE; its reply is qmp_reply's to wait for.  0, or -1 with
 * errno, logged: ETIMEDOUT, EPIPE, ENOTCONN, EMSGSIZE, ENOMEM. */
static int
qmp_request(struct qmp *q, const char *cmd, struct json_object *args,
    uint64_t deadline, int fd)
{
	struct json_object *req = NULL;
	const char *text;
	char *line = NULL;
	size_t len;
	int saved;

	if (q->dead) {
		log_warnx("%s: %s: not sent: the connection failed before",
		    q->path, cmd);
		errno = ENOTCONN;
		return -1;
	}

	q->id++;
	if ((req = json_object_new_object()) == NULL ||
	    qmp_add(req, "execute", json_object_new_string(cmd)) == -1 ||
	    (args != NULL &&
	    qmp_add(req, "arguments", json_object_get(args)) == -1) ||
	    qmp_add(req, "id", json_object_new_int64(q->id)) == -1) {
		errno = ENOMEM;
		log_warn("%s: %s", q->path, cmd);
		goto err;
	}
	text = json_object_to_json_string_length(req, QMP_JSON_FLAGS, &len);
	/* Our requests are far below it; the same bound as for what we
	 * read keeps a caller's mistake from becoming QEMU's problem. */
	if (text != NULL && len + 1 > QMP_LINE_MAX) {
		log_warnx("%s: %s: a request of %zu bytes (more than %d)",
		    q->path, cmd, len + 1, QMP_LINE_MAX);
		errno = EMSGSIZE;
		goto err;
	}
	if (text == NULL || (line = malloc(len + 1)) == NULL) {
		errno = ENOMEM;
		log_warn("%s: %s", q->path, cmd);
		goto err;
	}
	memcpy(line, text, len);
	line[len] = '\n';
	if (qmp_send(q, line, len + 1, deadline, fd) == -1) {
		/* Part of a request may be on the wire: the stream is lost
		 * whatever the error. */
		q->dead = 1;
		if (errno == ETIMEDOUT)
			log_warnx("%s: %s: QEMU took no request within %u ms",
			    q->path, cmd, q->timeout_ms);
		else if (errno == EPIPE || errno == ECONNRESET) {
			/* As qmp_next says it: a QEMU that exited (7.2 does
			 * when a state does not load) is gone whichever of
			 * the two we were at. */
			log_warnx("%s: %s: QEMU closed the connection",
			    q->path, cmd);
			errno = EPIPE;
		} else
			log_warn("%s: %s: send", q->path, cmd);
		goto err;
	}
	json_object_put(req);
	free(line);
	return 0;
err:
	saved = errno;
	json_object_put(req);
	free(line);
	errno = saved;
	return -1;
}

/* Wait until DEADLINE for the reply to the last request, CMD (for the
 * log).  On success *RET (if RET) holds a new reference to the "return"
 * value.  0, or -1 with errno, logged: EIO (QEMU's error), ETIMEDOUT,
 * EPROTO, EPIPE. */
static int
qmp_reply(struct qmp *q, const char *cmd, uint64_t deadline,
    struct json_object **ret)
{
	struct json_object *reply = NULL, *v, *err;
	char ex[QMP_EXCERPT + 4], desc[QMP_DESC_MAX + 4];
	const char *s, *cls;
	int saved;

	if (ret != NULL)
		*ret = NULL;
	for (;;) {
		if ((reply = qmp_next(q, cmd, deadline)) == NULL)
			goto err;
		if (json_object_object_get_ex(reply, "event", &v)) {
			log_debug("%s: %s: event %s", q->path, cmd,
			    json_object_get_string(v));
		} else if (json_object_object_get_ex(reply, "id", &v) &&
		    (!json_object_is_type(v, json_type_int) ||
		    json_object_get_int64(v) != q->id)) {
			/* The late reply to a command we gave up on.  (One
			 * without an id is ours: QEMU leaves it out only
			 * when it could not parse the request, this one.) */
			log_debug("%s: %s: a reply to an earlier command "
			    "(id %s) skipped", q->path, cmd,
			    json_object_get_string(v));
		} else if (json_object_object_get_ex(reply, "return", &v)) {
			if (ret != NULL)
				*ret = json_object_get(v);
			json_object_put(reply);
			return 0;
		} else if (json_object_object_get_ex(reply, "error", &err)) {
			s = qmp_str(err, "desc");
			cls = qmp_str(err, "class");
			if (s != NULL)
				s = qmp_excerpt(s, strlen(s), QMP_DESC_MAX,
				    desc);
			if (cls != NULL)
				cls = qmp_excerpt(cls, strlen(cls),
				    QMP_EXCERPT, ex);
			log_warnx("%s: %s: %s (%s)", q->path, cmd,
			    s ? s : "an error without a description",
			    cls ? cls : "no class");
			errno = EIO;
			goto err;
		} else {
			s = json_object_to_json_string_ext(reply,
			    QMP_JSON_FLAGS);
			log_warnx("%s: %s: not a QMP reply: \"%s\"", q->path,
			    cmd, qmp_excerpt(s, strlen(s), QMP_EXCERPT, ex));
			q->dead = 1;
			errno = EPROTO;
			goto err;
		}
		json_object_put(reply);
	}

err:
	saved = errno;
	json_object_put(reply);
	errno = saved;
	return -1;
}

/* Run CMD with ARGS (an object, borrowed; NULL for none) and wait until
 * DEADLINE for its reply, as qmp_request and qmp_reply. */
static int
qmp_call(struct qmp *q, const char *cmd, struct json_object *args,
    uint64_t deadline, struct json_object **ret)
{
	if (ret != NULL)
		*ret = NULL;
	if (qmp_request(q, cmd, args, deadline, -1) == -1)
		return -1;
	return qmp_reply(q, cmd, deadline, ret);
}

static int
qmp_int(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
		return -1;
	return json_object_get_int(v);
}

struct qmp *
qmp_open(const char *path, unsigned timeout_ms)
{
	struct json_object *greeting = NULL, *v, *ver = NULL, *qemu = NULL;
	char ex[QMP_EXCERPT + 4], pkg[QMP_EXCERPT + 4];
	struct sockaddr_un sun;
	struct qmp *q = NULL;
	uint64_t deadline;
	const char *s;
	int saved;

	if (path == NULL || path[0] == '\0' || timeout_ms == 0) {
		log_warnx("qmp_open: %s", path == NULL || path[0] == '\0' ?
		    "no socket path" : "a timeout of 0 ms");
		errno = EINVAL;
		return NULL;
	}
	if (strlen(path) >= sizeof sun.sun_path) {
		log_warnx("%s: longer than a unix socket path may be (%zu "
		    "bytes)", path, sizeof sun.sun_path - 1);
		errno = ENAMETOOLONG;
		return NULL;
	}
	deadline = now_us() + (uint64_t)timeout_ms * 1000;
	if ((q = calloc(1, sizeof *q)) == NULL) {
		log_warn("%s", path);
		return NULL;
	}
	q->fd = -1;
	q->timeout_ms = timeout_ms;
	memcpy(q->path, path, strlen(path) + 1);
	if ((q->tok = json_tokener_new()) == NULL) {
		errno = ENOMEM;
		log_warn("%s", path);
		goto err;
	}

	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (q->fd == -1) {
		log_warn("%s: socket", path);
		goto err;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	while (connect(q->fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == EAGAIN && now_us() < deadline) {
			usleep(QMP_CONNECT_RETRY_US);
			continue;
		}
		if (errno == EAGAIN)
			errno = ETIMEDOUT;
		log_warn("%s: connect", path);
		goto err;
	}

	if ((greeting = qmp_next(q, "greeting", deadline)) == NULL)
		goto err;
	if (!json_object_object_get_ex(greeting, "QMP", &v) ||
	    !json_object_is_type(v, json_type_object)) {
		s = json_object_to_json_string_ext(greeting, QMP_JSON_FLAGS);
		log_warnx("%s: not a QMP greeting: \"%s\"", path,
		    qmp_excerpt(s, strlen(s), QMP_EXCERPT, ex));
		errno = EPROTO;
		goto err;
	}
	/* {"QMP": {"version": {"qemu": {"major": 7, ...}, "package": ..}}} */
	if (json_object_object_get_ex(v, "version", &ver))
		json_object_object_get_ex(ver, "qemu", &qemu);
	s = qmp_str(ver, "package");
	log_debug("%s: QEMU %d.%d.%d%s%s", path, qmp_int(qemu, "major"),
	    qmp_int(qemu, "minor"), qmp_int(qemu, "micro"), s && *s ? " " : "",
	    s ? qmp_excerpt(s, strlen(s), QMP_EXCERPT, pkg) : "");

	if (qmp_call(q, "qmp_capabilities", NULL, deadline, NULL) == -1)
		goto err;
	json_object_put(greeting);
	return q;

err:
	saved = errno;
	json_object_put(greeting);
	qmp_close(q);
	errno = saved;
	return NULL;
}

int
qmp_exec(struct qmp *q, const char *command, const char *args_json,
    char **reply_json)
{
	struct json_object *args = NULL, *ret = NULL;
	const char *s;
	size_t len;
	int rc = -1, saved;

	if (reply_json != NULL)
		*reply_json = NULL;
	if (command == NULL || command[0] == '\0') {
		log_warnx("%s: no command", q->path);
		errno = EINVAL;
		return -1;
	}
	if (args_json != NULL) {
		len = strlen(args_json);
		if (len >= QMP_LINE_MAX) {
			log_warnx("%s: %s: arguments of %zu bytes (more than "
			    "%d)", q->path, command, len, QMP_LINE_MAX);
			errno = EMSGSIZE;
			return -1;
		}
		if ((args = qmp_parse(q->tok, args_json, len)) == NULL) {
			log_warnx("%s: %s: the arguments are not one JSON "
			    "object", q->path, command);
			errno = EINVAL;
			return -1;
		}
	}
	if (qmp_call(q, command, args, qmp_deadline(q), &ret) == -1)
		goto out;
	if (reply_json != NULL) {
		/* A "return": null (not QEMU's, but valid JSON) is "null". */
		s = json_object_to_json_string_ext(ret, QMP_JSON_FLAGS);
		if (s == NULL || (*reply_json = strdup(s)) == NULL) {
			errno = ENOMEM;
			log_warn("%s: %s: the reply", q->path, command);
			goto out;
		}
	}
	rc = 0;
out:
	saved = errno;
	json_object_put(args);
	json_object_put(ret);
	errno = saved;
	return rc;
}

int
qmp_stop(struct qmp *q)
{
	return qmp_call(q, "stop", NULL, qmp_deadline(q), NULL);
}

int
qmp_cont(struct qmp *q)
{
	return qmp_call(q, "cont", NULL, qmp_deadline(q), NULL);
}

/* xen-save-devices-state's arguments for FILE, or NULL (logged). */
static struct json_object *
qmp_save_args(struct qmp *q, const char *file)
{
	struct json_object *args;

	if (file == NULL || file[0] != '/') {
		log_warnx("%s: xen-save-devices-state: \"%s\" is not an "
		    "absolute path (QEMU would open it in its own working "
		    "directory)", q->path, file ? file : "");
		errno = EINVAL;
		return NULL;
	}
	if ((args = json_object_new_object()) == NULL ||
	    qmp_add(args, "filename", json_object_new_string(file)) == -1 ||
	    qmp_add(args, "live", json_object_new_boolean(0)) == -1) {
		json_object_put(args);
		errno = ENOMEM;
		log_warn("%s: xen-save-devices-state", q->path);
		return NULL;
	}
	return args;
}

int
qmp_save_devices_begin(struct qmp *q, const char *file)
{
	struct json_object *args;
	int rc, saved;

	if ((args = qmp_save_args(q, file)) == NULL)
		return -1;
	rc = qmp_request(q, "xen-save-devices-state", args, qmp_deadline(q),
	    -1);
	saved = errno;
	json_object_put(args);
	errno = saved;
	return rc;
}

int
qmp_save_devices_end(struct qmp *q)
{
	return qmp_reply(q, "xen-save-devices-state", qmp_deadline(q), NULL);
}

int
qmp_save_devices(struct qmp *q, const char *file)
{
	if (qmp_save_devices_begin(q, file) == -1)
		return -1;
	return qmp_save_devices_end(q);
}

/* How often qmp_load_devices asks whether the load is done: QEMU loads a
 * device model's few hundred KB in milliseconds, and the activation that
 * waits for it is a failover's downtime. */
#define QMP_LOAD_POLL_US	2000

int
qmp_load_devices(struct qmp *q, int fd, char *status, size_t len)
{
	static const char name[] = "remus-devstate";
	char uri[sizeof "fd:" + sizeof name];
	struct json_object *args = NULL;
	uint64_t deadline = qmp_deadline(q);
	int rc = -1, saved;

	if (fd < 0 || len == 0) {
		log_warnx("%s: load: no descriptor to load from", q->path);
		errno = EINVAL;
		return -1;
	}
	/* getfd keeps the descriptor under NAME (not a number: QEMU would
	 * take "fd:N" for its own descriptor N); migrate-incoming takes
	 * it from there. */
	if ((args = json_object_new_object()) == NULL ||
	    qmp_add(args, "fdname", json_object_new_string(name)) == -1) {
		errno = ENOMEM;
		log_warn("%s: getfd", q->path);
		goto out;
	}
	if (qmp_request(q, "getfd", args, deadline, fd) == -1 ||
	    qmp_reply(q, "getfd", deadline, NULL) == -1)
		goto out;
	json_object_put(args);
	snprintf(uri, sizeof uri, "fd:%s", name);
	if ((args = json_object_new_object()) == NULL ||
	    qmp_add(args, "uri", json_object_new_string(uri)) == -1) {
		errno = ENOMEM;
		log_warn("%s: migrate-incoming", q->path);
		goto out;
	}
	if (qmp_call(q, "migrate-incoming", args, deadline, NULL) == -1)
		goto out;
	/* The load runs in QEMU's main loop: done when the status is no
	 * longer "inmigrate" (a load that fails makes QEMU 7.2 exit: the
	 * connection ends, EPIPE). */
	for (;;) {
		if (qmp_status(q, status, len) == -1)
			goto out;
		if (strcmp(status, "inmigrate") != 0)
			break;
		if (now_us() >= deadline) {
			log_warnx("%s: device state not loaded within %u ms "
			    "(still \"inmigrate\")", q->path, q->timeout_ms);
			errno = ETIMEDOUT;
			goto out;
		}
		usleep(QMP_LOAD_POLL_US);
	}
	rc = 0;
out:
	saved = errno;
	json_object_put(args);
	errno = saved;
	return rc;
}

int
qmp_status(struct qmp *q, char *buf, size_t len)
{
	struct json_object *ret;
	char ex[QMP_EXCERPT + 4];
	const char *s;
	size_t n;

	if (qmp_call(q, "query-status", NULL, qmp_deadline(q), &ret) == -1)
		return -1;
	if ((s = qmp_str(ret, "status")) == NULL) {
		log_warnx("%s: query-status: no \"status\" in the reply",
		    q->path);
		json_object_put(ret);
		errno = EPROTO;
		return -1;
	}
	n = strlen(s);
	if (n >= len) {
		log_warnx("%s: query-status: status \"%s\" does not fit %zu "
		    "bytes", q->path, qmp_excerpt(s, n, QMP_EXCERPT, ex),
		    len);
		json_object_put(ret);
		errno = ERANGE;
		return -1;
	}
	memcpy(buf, s, n + 1);
	json_object_put(ret);
	return 0;
}

int
qmp_chardev_pty(struct qmp *q, const char *label, char *buf, size_t len)
{
	struct json_object *ret;
	size_t i, n;
	const char *f = NULL;

	if (qmp_call(q, "query-chardev", NULL, qmp_deadline(q), &ret) == -1)
		return -1;
	if (!json_object_is_type(ret, json_type_array)) {
		log_warnx("%s: query-chardev: not a list", q->path);
		json_object_put(ret);
		errno = EPROTO;
		return -1;
	}
	for (i = 0; i < json_object_array_length(ret); i++) {
		struct json_object *c = json_object_array_get_idx(ret, i);
		const char *l = qmp_str(c, "label");

		if (l != NULL && strcmp(l, label) == 0) {
			f = qmp_str(c, "filename");
			break;
		}
	}
	/* "pty:/dev/pts/N": anything else is not a pty. */
	if (f == NULL || strncmp(f, "pty:", 4) != 0 || f[4] != '/') {
		log_warnx("%s: query-chardev: no pty \"%s\"", q->path, label);
		json_object_put(ret);
		errno = ENOENT;
		return -1;
	}
	n = strlen(f + 4);
	if (n >= len) {
		json_object_put(ret);
		errno = ERANGE;
		return -1;
	}
	memcpy(buf, f + 4, n + 1);
	json_object_put(ret);
	return 0;
}

void
qmp_close(struct qmp *q)
{
	int saved = errno;

	if (q == NULL)
		return;
	if (q->fd != -1)
		close(q->fd);
	if (q->tok != NULL)
		json_tokener_free(q->tok);
	free(q);
	errno = saved;
}
