/* remusd/remusctl.c -- remusctl(8): ask a running remus or remusd.
 *
 * One request line to the control socket (docs/control.md), one answer
 * line back; printed as a table, or as the JSON itself with --json.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "compiler.h"
#include "ctl.h"
#include "pidfile.h"
#include "util.h"

#define EXIT_OK		0
#define EXIT_USAGE	1
#define EXIT_CONNECT	2	/* no socket, refused, permission */
#define EXIT_REFUSED	3	/* the program answered "ok": false */
#define EXIT_PROTOCOL	4	/* no answer in time, or not JSON */

#define TIMEOUT_DEFAULT_MS	10000
#define ANSWER_MAX		(256u << 10)

static const char usage_text[] =
"usage: remusctl [--json] [--switchover] [-t ms] [--run-dir dir]\n"
"                (-S socket | -g guest | -b) verb [argument]\n";

static const char help_text[] =
"Ask a running remus (primary) or remusd (backup) through its control\n"
"socket.\n"
"\n"
"  -S socket         the control socket to use\n"
"  -g guest          remus protecting guest (its spec, e.g. proc:1234):\n"
"                    dir/remus-NAME.sock\n"
"  -b                the remusd of this host: dir/remusd.sock\n"
"  --run-dir dir     where remus and remusd keep their sockets (default\n"
"                    " PIDFILE_RUN_DIR ")\n"
"  --json            print the answer as JSON (one object, one line)\n"
"  --switchover      with prepare: reserve the switchover of a guest\n"
"                    protected to this remusd (the perform is remusctl\n"
"                    switchover COOKIE on its remus)\n"
"  -t ms             wait this long for the answer (default 10000; 60000\n"
"                    for switchover)\n"
"  -h, --help        this text\n"
"\n"
"Verbs:\n"
"  status            remus: state, epoch, rate, pauses, bytes per epoch,\n"
"                    ACK lag, held output, disk sync, time since the last\n"
"                    ACK; remusd: its sessions\n"
"  stop              remus: end protection cleanly (END), as SIGTERM does\n"
"  switchover [cookie]  remus: move the guest to the backup (a planned\n"
"                    migration): final epoch, the backup activates, then\n"
"                    the primary's copy is destroyed; prints the downtime.\n"
"                    With the cookie of a prepare --switchover: the\n"
"                    backup checks it before it activates anything\n"
"  failover [guest]  remusd: fail over now, through the fence\n"
"  reprotect host    remus: protect with a new backup at host\n"
"  prepare guest [ttl_ms]  remusd: reserve a session for guest (its spec\n"
"                    as remus is given it); prints the cookie and the URI\n"
"                    for \"remus --cookie COOKIE guest URI\" (the perform);\n"
"                    unused, it expires after ttl_ms (default 60000)\n"
"  finish cookie     remusd: verify the prepared session: protected (or\n"
"                    switched over here, and the guest runs: its name and\n"
"                    pid or domid), else why it failed\n"
"  capabilities      what this build can do (JSON)\n"
"\n"
"Exit status:\n"
"  0  done\n"
"  1  usage error\n"
"  2  the socket cannot be reached (no such program running, or not\n"
"     allowed)\n"
"  3  the program refused or failed the request (it said why)\n"
"  4  no answer in time, or an answer that is not one JSON object\n";

static __dead void usage(const char *fmt, ...) __printf(1, 2);

static __dead void
usage(const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fputs("remusctl: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputs(" (see remusctl --help)\n", stderr);
	} else
		fputs(usage_text, stderr);
	exit(EXIT_USAGE);
}

static int
ms_left(uint64_t deadline_us)
{
	uint64_t now = now_us();

	return now >= deadline_us ? 0 : (int)((deadline_us - now) / 1000 + 1);
}

/* Send LINE, read one answer line into a new string.  Exit status on
 * failure (the reason printed). */
static int
exchange(const char *path, const char *line, int timeout_ms, char **answer)
{
	struct sockaddr_un sa;
	uint64_t deadline = now_us() + (uint64_t)timeout_ms * 1000;
	size_t len = 0, cap = 4096, off = 0, n = strlen(line);
	char *buf = NULL;
	struct pollfd pfd;
	ssize_t r;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "remusctl: %s: path too long for a socket\n",
		    path);
		return EXIT_USAGE;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) ==
	    -1) {
		fprintf(stderr, "remusctl: %s: %s%s\n", path, strerror(errno),
		    errno == ENOENT || errno == ECONNREFUSED ?
		    " (is it running?)" : "");
		if (fd >= 0)
			close(fd);
		return EXIT_CONNECT;
	}
	fd_set_nonblock(fd, 1);
	pfd.fd = fd;
	while (off < n) {
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, ms_left(deadline)) <= 0)
			goto timeout;
		r = send(fd, line + off, n - off, MSG_NOSIGNAL);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			goto io_err;
		off += (size_t)r;
	}
	buf = malloc(cap);
	if (buf == NULL)
		goto io_err;
	for (;;) {
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms_left(deadline)) <= 0)
			goto timeout;
		if (len + 1 >= cap) {
			char *nb;

			if (cap >= ANSWER_MAX) {
				fprintf(stderr, "remusctl: %s: answer longer "
				    "than %u bytes\n", path, ANSWER_MAX);
				goto proto;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL)
				goto io_err;
			buf = nb;
			cap *= 2;
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r == -1)
			goto io_err;
		if (r == 0) {
			fprintf(stderr, "remusctl: %s: closed without a whole "
			    "answer\n", path);
			goto proto;
		}
		len += (size_t)r;
		buf[len] = '\0';
		if (memchr(buf, '\n', len))
			break;
	}
	close(fd);
	*strchr(buf, '\n') = '\0';
	*answer = buf;
	return EXIT_OK;
timeout:
	fprintf(stderr, "remusctl: %s: no answer in %d ms\n", path,
	    timeout_ms);
	goto proto;
io_err:
	fprintf(stderr, "remusctl: %s: %s\n", path, strerror(errno));
proto:
	free(buf);
	close(fd);
	return EXIT_PROTOCOL;
}

static const char *
str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || v == NULL)
		return "-";
	return json_object_get_string(v);
}

/* The rest of a progress row: "512/2048 MiB (25%), 64.0 MiB/s, ETA 24 s". */
static void
print_progress(struct json_object *o)
{
	struct json_object *v;
	uint64_t done = 0, total = 0;
	double rate = 0;

	if (json_object_object_get_ex(o, "done_bytes", &v))
		done = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "total_bytes", &v))
		total = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "rate_bytes_per_s", &v))
		rate = json_object_get_double(v);
	printf("%" PRIu64 "/%" PRIu64 " MiB (%.0f%%), %.1f MiB/s, ETA ",
	    done >> 20, total >> 20, total ? 100.0 * (double)done /
	    (double)total : 100.0, rate / 1048576.0);
	if (json_object_object_get_ex(o, "eta_s", &v) && v != NULL)
		printf("%.1f s\n", json_object_get_double(v));
	else
		printf("-\n");
}

/* The human form of remus's status: one "key  value" row each. */
static void
print_primary(struct json_object *o)
{
	struct json_object *h;
	static const struct { const char *key, *label, *unit; } rows[] = {
		{ "guest", "guest", "" },
		{ "backup", "backup", "" },
		{ "state", "state", "" },
		{ "phase", "engine", "" },
		{ "switchover", "switchover", "" },
		{ "epoch", "epoch", "" },
		{ "acked", "acknowledged", "" },
		{ "ack_lag_epochs", "ACK lag", " epochs" },
		{ "last_ack_age_ms", "since last ACK", " ms" },
		{ "ack_rtt_us", "ACK round trip", " us" },
		{ "interval_ms", "interval", " ms" },
		{ "rate_hz", "rate", " epochs/s" },
		{ "pause_us_p50", "pause p50", " us" },
		{ "pause_us_p99", "pause p99", " us" },
		{ "bytes_per_epoch", "bytes per epoch", "" },
		{ "disk_sync", "disk sync", "" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *v = str(o, rows[i].key);

		printf("%-18s %s%s\n", rows[i].label, v,
		    strcmp(v, "-") ? rows[i].unit : "");
	}
	if (json_object_object_get_ex(o, "held_output", &h))
		printf("%-18s %s packets, %s bytes (%s interfaces), oldest "
		    "%s ms\n", "held output", str(h, "packets"),
		    str(h, "bytes"), str(h, "interfaces"), str(h, "since_ms"));
	if (json_object_object_get_ex(o, "full_checkpoint", &h) && h != NULL) {
		printf("%-18s %s/%s pages, ", "full checkpoint",
		    str(h, "done_pages"), str(h, "total_pages"));
		print_progress(h);
	}
	if (json_object_object_get_ex(o, "disk_sync_disks", &h) &&
	    json_object_is_type(h, json_type_array)) {
		size_t j, n = json_object_array_length(h);

		for (j = 0; j < n; j++) {
			struct json_object *d = json_object_array_get_idx(h, j);
			const char *name = str(d, "disk");

			printf("disk sync %-8s %s, ", *name ? name : "(disk)",
			    str(d, "state"));
			print_progress(d);
		}
	}
}

static void
print_backup(struct json_object *o)
{
	struct json_object *a;
	size_t i, n;

	if (!json_object_object_get_ex(o, "sessions", &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	n = json_object_array_length(a);
	printf("%-24s %-22s %-12s %10s %12s\n", "GUEST", "PEER", "STATE",
	    "EPOCH", "HEARTBEAT_MS");
	for (i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(a, i);

		printf("%-24s %-22s %-12s %10s %12s\n", str(s, "guest"),
		    str(s, "peer"), str(s, "state"), str(s, "committed_epoch"),
		    str(s, "last_heartbeat_age_ms"));
	}
	if (n == 0)
		printf("(no session)\n");
}

static void
print_human(const char *verb, struct json_object *o)
{
	const char *role = str(o, "role");

	if (strcmp(verb, "capabilities") == 0) {
		puts(json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		return;
	}
	if (strcmp(role, "backup") == 0)
		print_backup(o);
	else if (strcmp(role, "primary") == 0)
		print_primary(o);
	else if (strcmp(verb, "switchover") == 0)
		printf("switched over: guest runs on the backup from epoch %s;"
		    " downtime %s ms\n", str(o, "epoch"), str(o, "downtime_ms"));
	else if (strcmp(verb, "prepare") == 0 &&
	    json_object_get_boolean(json_object_object_get(o, "switchover")))
		printf("cookie %s\nuri %s\nexpires in %s ms\nperform: "
		    "remusctl -g %s switchover %s (on the primary)\n",
		    str(o, "cookie"), str(o, "uri"), str(o, "expires_in_ms"),
		    str(o, "guest"), str(o, "cookie"));
	else if (strcmp(verb, "prepare") == 0)
		printf("cookie %s\nuri %s\nexpires in %s ms\nperform: remus "
		    "--cookie %s %s %s\n", str(o, "cookie"), str(o, "uri"),
		    str(o, "expires_in_ms"), str(o, "cookie"), str(o, "guest"),
		    str(o, "uri"));
	else if (strcmp(verb, "finish") == 0 &&
	    json_object_object_get_ex(o, "pid", NULL))
		printf("%s: %s at epoch %s, runs here as %s (pid %s)\n",
		    str(o, "guest"), str(o, "state"), str(o, "committed_epoch"),
		    str(o, "name"), str(o, "pid"));
	else if (strcmp(verb, "finish") == 0 &&
	    json_object_object_get_ex(o, "domid", NULL))
		printf("%s: %s at epoch %s, runs here as %s (domid %s)\n",
		    str(o, "guest"), str(o, "state"), str(o, "committed_epoch"),
		    str(o, "name"), str(o, "domid"));
	else if (strcmp(verb, "finish") == 0)
		printf("%s: %s, committed epoch %s\n", str(o, "guest"),
		    str(o, "state"), str(o, "committed_epoch"));
	else if (strcmp(verb, "stop") == 0)
		printf("%s (last acknowledged epoch %s)\n", str(o, "result"),
		    str(o, "acked"));
	else
		printf("ok\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL, 'h' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "run-dir",	required_argument,	NULL, 'R' },
		{ "switchover",	no_argument,		NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *guest = NULL, *run_dir = PIDFILE_RUN_DIR;
	const char *verb, *arg = NULL, *s;
	struct json_object *req, *ans, *ok;
	char path[256], *line, *answer = NULL;
	int ch, json = 0, daemon = 0, timeout_ms = -1, rc, switchover = 0;
	uint64_t v, ttl = 0;

	while ((ch = getopt_long(argc, argv, "bg:hjS:t:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'b':
			daemon = 1;
			break;
		case 'g':
			guest = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			return EXIT_OK;
		case 'j':
			json = 1;
			break;
		case 'R':
			run_dir = optarg;
			break;
		case 'S':
			sock = optarg;
			break;
		case 'W':
			switchover = 1;
			break;
		case 't':
			if (parse_uint(optarg, 1, 3600000, &v) == -1)
				usage("-t %s: want milliseconds in 1..3600000",
				    optarg);
			timeout_ms = (int)v;
			break;
		default:
			usage(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (!!sock + !!guest + daemon != 1)
		usage("give exactly one of -S socket, -g guest and -b");
	if (argc < 1)
		usage("no verb given");
	verb = argv[0];
	if (switchover && strcmp(verb, "prepare") != 0)
		usage("--switchover goes with prepare");
	if (strcmp(verb, "reprotect") == 0) {
		if (argc != 2)
			usage("reprotect wants the new backup's host");
		arg = argv[1];
	} else if (strcmp(verb, "failover") == 0) {
		if (argc > 2)
			usage("failover takes at most a guest name");
		arg = argc == 2 ? argv[1] : NULL;
	} else if (strcmp(verb, "prepare") == 0) {
		if (argc < 2 || argc > 3)
			usage("prepare wants a guest and maybe a ttl in ms");
		arg = argv[1];
		if (argc == 3 && parse_uint(argv[2], 1, 3600000, &ttl) == -1)
			usage("prepare: ttl %s: want milliseconds in "
			    "1..3600000", argv[2]);
	} else if (strcmp(verb, "finish") == 0) {
		if (argc != 2)
			usage("finish wants the cookie prepare printed");
		arg = argv[1];
	} else if (strcmp(verb, "switchover") == 0) {
		if (argc > 2)
			usage("switchover takes at most a cookie");
		arg = argc == 2 ? argv[1] : NULL;
	} else if (strcmp(verb, "status") && strcmp(verb, "stop") &&
	    strcmp(verb, "capabilities"))
		usage("%s: unknown verb (want status, stop, switchover, "
		    "failover, reprotect, prepare, finish or capabilities)",
		    verb);
	else if (argc > 1)
		usage("%s takes no argument", verb);
	if (timeout_ms < 0)
		timeout_ms = strcmp(verb, "switchover") == 0 ? 60000 :
		    TIMEOUT_DEFAULT_MS;
	if (sock)
		snprintf(path, sizeof path, "%s", sock);
	else if (ctl_default_path(path, sizeof path, run_dir,
	    guest ? "remus-" : "", guest ? guest : "remusd") == -1)
		usage("--run-dir %s: too long for a socket path", run_dir);

	req = json_object_new_object();
	json_object_object_add(req, "verb", json_object_new_string(verb));
	if (arg)
		json_object_object_add(req, strcmp(verb, "reprotect") == 0 ?
		    "host" : strcmp(verb, "finish") == 0 ||
		    strcmp(verb, "switchover") == 0 ? "cookie" : "guest",
		    json_object_new_string(arg));
	if (ttl)
		json_object_object_add(req, "ttl_ms",
		    json_object_new_uint64(ttl));
	if (switchover)
		json_object_object_add(req, "switchover",
		    json_object_new_boolean(1));
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (s == NULL || asprintf(&line, "%s\n", s) < 0)
		return EXIT_PROTOCOL;
	json_object_put(req);
	rc = exchange(path, line, timeout_ms, &answer);
	free(line);
	if (rc != EXIT_OK)
		return rc;
	ans = json_tokener_parse(answer);
	if (ans == NULL || !json_object_is_type(ans, json_type_object) ||
	    !json_object_object_get_ex(ans, "ok", &ok)) {
		fprintf(stderr, "remusctl: %s: not an answer: %.200s\n", path,
		    answer);
		free(answer);
		return EXIT_PROTOCOL;
	}
	if (json)
		printf("%s\n", answer);
	free(answer);
	if (!json_object_get_boolean(ok)) {
		/* The error names its verb where that helps. */
		fprintf(stderr, "remusctl: %s\n", str(ans, "error"));
		json_object_put(ans);
		return EXIT_REFUSED;
	}
	if (!json)
		print_human(verb, ans);
	json_object_put(ans);
	return EXIT_OK;
}
