/* remusd/metrics.c -- Prometheus text exposition over HTTP and in a
 * textfile (metrics.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#define LOG_PREFIX "metrics: "
#include "checkpoint.h"
#include "compiler.h"
#include "devices.h"
#include "diskmap.h"
#include "hist.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"
#include "transport.h"
#include "util.h"

#define REQ_MAX		2048		/* a GET /metrics is ~100 bytes */
#define CONN_TIMEOUT	5.0		/* seconds for one whole exchange */
#define FILE_EVERY_US	1000000		/* textfile at most once a second */

struct metrics {
	struct ev_loop		*loop;
	const struct stats	*s;
	metrics_format_fn	*fn;		/* instead of s, if set */
	void			*fn_arg;
	void			(*held)(struct dev_netbuf_held *);
	const struct ckpt	*progress;	/* metrics_set_progress */
	int			(*sync_disk)(size_t, struct dev_diskbuf_sync *);
	int			 lfd;		/* -1: no HTTP */
	ev_io			 accept_io;
	/* The one connection being served (cfd -1: none). */
	int			 cfd;
	ev_io			 conn_io;
	ev_timer		 conn_timer;
	char			 req[REQ_MAX];
	size_t			 reqlen;
	char			*resp;
	size_t			 resplen, respoff;
	/* The textfile (path NULL: none). */
	char			*path, *tmppath;
	uint64_t		 last_write_us;
	int			 write_failed;	/* logged already */
};

/* ---- The exposition ----------------------------------------------------- */

void
metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
	va_list ap;
	int m;

	va_start(ap, fmt);
	m = vsnprintf(o->n < o->len ? o->buf + o->n : NULL,
	    o->n < o->len ? o->len - o->n : 0, fmt, ap);
	va_end(ap);
	if (m > 0)
		o->n += (size_t)m;
}

static void
counter(struct metrics_out *o, const char *name, const char *help, uint64_t v)
{
	metrics_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n",
	    name, help, name, name, v);
}

/* Printed buckets: 1, 2.5 and 5 times 10^k between LO and HI, all of
 * them bounds of hist.h, so each cumulative count is exact. */
static int
printed_bound(uint64_t b, uint64_t lo, uint64_t hi)
{
	uint64_t m = b;

	if (b < lo || b > hi || b < 10)
		return 0;
	while (m >= 100 && m % 10 == 0)
		m /= 10;
	return m == 10 || m == 25 || m == 50;
}

/* A histogram of H; SCALE divides its unit into the printed one (1e6 for
 * microseconds printed as seconds, 1 for pages). */
static void
histogram(struct metrics_out *o, const char *name, const char *help,
    const struct hist *h, double scale, uint64_t lo, uint64_t hi)
{
	size_t i;

	metrics_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < HIST_NBOUNDS; i++) {
		uint64_t b = hist_bound(i);

		if (!printed_bound(b, lo, hi))
			continue;
		metrics_printf(o, "%s_bucket{le=\"%.6g\"} %" PRIu64 "\n", name,
		    (double)b / scale, hist_count_le(h, b));
	}
	metrics_printf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
	metrics_printf(o, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name,
	    (double)h->sum / scale, name, h->count);
}

size_t
metrics_format(char *buf, size_t len, const struct stats *s)
{
	struct metrics_out o = { .buf = buf, .len = len, .n = 0 };
	struct stats_totals t;

	if (len > 0)
		buf[0] = '\0';
	stats_get_totals(s, &t);
	counter(&o, "remus_epochs_total", "Epochs acknowledged by the backup.",
	    t.epochs);
	counter(&o, "remus_full_epochs_total", "Of those, full copies of the "
	    "guest (the first).", t.full_epochs);
	metrics_printf(&o, "# HELP remus_last_epoch Number of the last "
	    "acknowledged epoch.\n# TYPE remus_last_epoch gauge\n"
	    "remus_last_epoch %" PRIu64 "\n", t.last_epoch);
	counter(&o, "remus_dirty_pages_total", "Dirty pages sent, summed over "
	    "epochs.", t.dirty_pages);
	counter(&o, "remus_raw_bytes_total", "Page bytes before encoding.",
	    t.raw_bytes);
	counter(&o, "remus_wire_bytes_total", "Page bytes on the wire after "
	    "encoding.", t.wire_bytes);
	counter(&o, "remus_ack_waits_total", "Times an epoch waited for the "
	    "previous one's ACK.", t.waits);
	metrics_printf(&o, "# HELP remus_ack_wait_seconds_total Time spent "
	    "waiting for ACKs.\n# TYPE remus_ack_wait_seconds_total counter\n"
	    "remus_ack_wait_seconds_total %.6f\n", (double)t.wait_us / 1e6);
	metrics_printf(&o, "# HELP remus_ack_lag_seconds ACK round trip of the "
	    "last acknowledged epoch.\n# TYPE remus_ack_lag_seconds gauge\n"
	    "remus_ack_lag_seconds %.6f\n", (double)t.last_ack_rtt_us / 1e6);
	/* 100 us .. 100 s covers a pause at -i 25 and a period at -i 60000. */
	histogram(&o, "remus_pause_seconds", "Guest paused per epoch (full "
	    "epochs left out).", stats_hist(s, STATS_PAUSE), 1e6, 100,
	    100000000);
	histogram(&o, "remus_period_seconds", "Suspend to suspend (full epochs "
	    "left out).", stats_hist(s, STATS_PERIOD), 1e6, 100, 100000000);
	histogram(&o, "remus_ack_rtt_seconds", "Last byte of an epoch sent to "
	    "its ACK.", stats_hist(s, STATS_ACK_RTT), 1e6, 100, 100000000);
	histogram(&o, "remus_send_seconds", "Time to send an epoch.",
	    stats_hist(s, STATS_SEND), 1e6, 100, 100000000);
	histogram(&o, "remus_epoch_dirty_pages", "Dirty pages per epoch (full "
	    "epochs left out).", stats_hist(s, STATS_DIRTY), 1, 10, 10000000);
	return o.n;
}

/* The held output, read now, after the rest. */
static size_t
format_held(char *buf, size_t len, const struct dev_netbuf_held *h)
{
	struct metrics_out o = { .buf = buf, .len = len, .n = 0 };

	if (len > 0)
		buf[0] = '\0';
	metrics_printf(&o, "# HELP remus_netbuf_interfaces Interfaces whose output "
	    "is held until the ACK.\n# TYPE remus_netbuf_interfaces gauge\n"
	    "remus_netbuf_interfaces %u\n", h->ifaces);
	metrics_printf(&o, "# HELP remus_netbuf_held_packets Guest packets held "
	    "now.\n# TYPE remus_netbuf_held_packets gauge\n"
	    "remus_netbuf_held_packets %" PRIu64 "\n", h->packets);
	metrics_printf(&o, "# HELP remus_netbuf_held_bytes Guest bytes held now "
	    "(sch_plug only).\n# TYPE remus_netbuf_held_bytes gauge\n"
	    "remus_netbuf_held_bytes %" PRIu64 "\n", h->bytes);
	counter(&o, "remus_netbuf_drops_total", "Packets the kernel dropped "
	    "while holding (limit or queue full).", h->drops);
	return o.n;
}

static void
gauge_head(struct metrics_out *o, const char *name, const char *help)
{
	metrics_printf(o, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* The full first checkpoint and each disk's live sync, read now: done
 * and total bytes (the rate and the time left are the scraper's to
 * derive: rate(done[1m])). */
static size_t
format_progress(char *buf, size_t len, const struct metrics *m)
{
	const struct ckpt *c = m->progress;
	struct metrics_out o = { .buf = buf, .len = len, .n = 0 };
	struct dev_diskbuf_sync ds;
	uint64_t done = 0, total = 0, start;
	size_t i;

	if (len > 0)
		buf[0] = '\0';
	if (c == NULL || !ckpt_full_progress(c, &done, &total, &start))
		done = total = 0;
	gauge_head(&o, "remus_full_checkpoint_done_bytes", "Bytes of guest "
	    "memory the full first checkpoint has queued so far (0: none "
	    "under way).");
	metrics_printf(&o, "remus_full_checkpoint_done_bytes %" PRIu64 "\n",
	    done);
	gauge_head(&o, "remus_full_checkpoint_total_bytes", "Bytes of guest "
	    "memory the full first checkpoint under way sends (0: none).");
	metrics_printf(&o, "remus_full_checkpoint_total_bytes %" PRIu64 "\n",
	    total);
	/* Disk names are [A-Za-z0-9._-] (diskmap): no escaping needed. */
	gauge_head(&o, "remus_disk_sync_done_bytes", "Bytes of the disk its "
	    "live sync to the backup has compared so far (remus --disk-sync).");
	for (i = 0; m->sync_disk(i, &ds) == 0; i++)
		metrics_printf(&o, "remus_disk_sync_done_bytes{disk=\"%s\"} %"
		    PRIu64 "\n", ds.name, ds.done);
	gauge_head(&o, "remus_disk_sync_total_bytes", "Bytes of the disk its "
	    "live sync compares in all.");
	for (i = 0; m->sync_disk(i, &ds) == 0; i++)
		metrics_printf(&o, "remus_disk_sync_total_bytes{disk=\"%s\"} %"
		    PRIu64 "\n", ds.name, ds.total);
	gauge_head(&o, "remus_disk_sync_sent_bytes", "Bytes of the disk that "
	    "differed on the backup and were sent.");
	for (i = 0; m->sync_disk(i, &ds) == 0; i++)
		metrics_printf(&o, "remus_disk_sync_sent_bytes{disk=\"%s\"} %"
		    PRIu64 "\n", ds.name, ds.sent);
	return o.n;
}

/* The exposition in a malloc'ed buffer; NULL with errno on failure. */
static char *
format_alloc(const struct metrics *m, size_t *lenp)
{
	struct dev_netbuf_held h;
	size_t n, nh = 0, np = 0;
	char *buf;

	if (m->fn != NULL) {
		n = m->fn(NULL, 0, m->fn_arg);
		if ((buf = malloc(n + 1)) == NULL)
			return NULL;
		*lenp = m->fn(buf, n + 1, m->fn_arg);
		return buf;
	}
	if (m->held)
		m->held(&h);
	n = metrics_format(NULL, 0, m->s);
	if (m->held)
		nh = format_held(NULL, 0, &h);
	/* Sized now, written next: a sync thread moves on meanwhile, but
	 * the numbers' widths are bounded (20 digits each), so size with
	 * room for that. */
	if (m->sync_disk)
		np = format_progress(NULL, 0, m) + 64 * (DISKMAP_MAX +
		    2);
	buf = malloc(n + nh + np + 1);
	if (buf == NULL)
		return NULL;
	*lenp = metrics_format(buf, n + 1, m->s);
	if (m->held)
		*lenp += format_held(buf + *lenp, nh + 1, &h);
	if (m->sync_disk) {
		size_t w = format_progress(buf + *lenp, np + 1, m);

		*lenp += w <= np ? w : strlen(buf + *lenp);
	}
	return buf;
}

void
metrics_set_progress(struct metrics *m, const struct ckpt *c,
    int (*sync_disk)(size_t, struct dev_diskbuf_sync *))
{
	if (m != NULL) {
		m->progress = c;
		m->sync_disk = sync_disk;
	}
}

void
metrics_set_held(struct metrics *m, void (*fn)(struct dev_netbuf_held *))
{
	if (m != NULL)
		m->held = fn;
}

/* ---- The textfile ------------------------------------------------------- */

static int
write_file(struct metrics *m)
{
	char *text;
	size_t len;
	int fd = -1;

	text = format_alloc(m, &len);
	if (text == NULL)
		goto err;
	/* node_exporter may read at any moment: it must see the old file or
	 * the new one whole, so write beside it and rename over it. */
	fd = open(m->tmppath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write_full(fd, text, len) == -1 || close(fd) == -1) {
		fd = -1;
		goto err;
	}
	fd = -1;
	if (rename(m->tmppath, m->path) == -1)
		goto err;
	free(text);
	m->last_write_us = now_us();
	m->write_failed = 0;
	return 0;
err:
	if (!m->write_failed)
		log_warn("%s", m->path);
	m->write_failed = 1;
	if (fd != -1)
		close(fd);
	free(text);
	return -1;
}

void
metrics_epoch(struct metrics *m)
{
	if (m == NULL || m->path == NULL)
		return;
	if (now_us() - m->last_write_us >= FILE_EVERY_US)
		write_file(m);
}

/* ---- HTTP --------------------------------------------------------------- */

static void start_accepting(struct metrics *);

static void
conn_close(struct metrics *m)
{
	ev_io_stop(m->loop, &m->conn_io);
	ev_timer_stop(m->loop, &m->conn_timer);
	if (m->cfd != -1)
		close(m->cfd);
	m->cfd = -1;
	free(m->resp);
	m->resp = NULL;
	m->reqlen = m->resplen = m->respoff = 0;
	start_accepting(m);
}

/* Queue the response: STATUS, then BODY (NUL-terminated) or the metrics
 * when BODY is NULL. */
static void
respond(struct metrics *m, const char *status, const char *body)
{
	char *text = NULL;
	size_t len = 0;
	int n;

	if (body == NULL) {
		text = format_alloc(m, &len);
		if (text == NULL) {
			log_warn("response");
			status = "500 Internal Server Error";
			body = "out of memory\n";
		}
	}
	if (body != NULL)
		len = strlen(body);
	n = asprintf(&m->resp, "HTTP/1.1 %s\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n%s"
	    "Connection: close\r\n\r\n%s", status, len,
	    strncmp(status, "405", 3) == 0 ? "Allow: GET\r\n" : "",
	    body ? body : text);
	free(text);
	if (n < 0) {
		m->resp = NULL;
		conn_close(m);
		return;
	}
	m->resplen = (size_t)n;
	m->respoff = 0;
	ev_io_stop(m->loop, &m->conn_io);
	ev_io_set(&m->conn_io, m->cfd, EV_WRITE);
	ev_io_start(m->loop, &m->conn_io);
}

/* A complete request head is in m->req: answer it.  Only the request
 * line matters; headers are skipped (they were length-checked). */
static void
handle_request(struct metrics *m)
{
	char *line = m->req, *eol, *sp1, *sp2;

	eol = strstr(line, "\r\n");
	if (eol == NULL) {
		respond(m, "400 Bad Request", "bad request\n");
		return;
	}
	*eol = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL ||
	    (strcmp(sp2 + 1, "HTTP/1.1") != 0 &&
	    strcmp(sp2 + 1, "HTTP/1.0") != 0)) {
		respond(m, "400 Bad Request", "bad request\n");
		return;
	}
	*sp1 = *sp2 = '\0';
	if (strcmp(line, "GET") != 0)
		respond(m, "405 Method Not Allowed", "only GET\n");
	else if (strcmp(sp1 + 1, "/metrics") != 0)
		respond(m, "404 Not Found", "only /metrics\n");
	else
		respond(m, "200 OK", NULL);
}

static void
conn_cb(struct ev_loop *loop __unused, ev_io *w, int revents)
{
	struct metrics *m = w->data;
	ssize_t n;

	if (revents & EV_WRITE) {
		n = send(m->cfd, m->resp + m->respoff, m->resplen - m->respoff,
		    MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(m);
			return;
		}
		m->respoff += (size_t)n;
		if (m->respoff == m->resplen)
			conn_close(m);
		return;
	}
	n = read(m->cfd, m->req + m->reqlen, sizeof m->req - 1 - m->reqlen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(m);		/* closed before a whole request */
		return;
	}
	m->reqlen += (size_t)n;
	m->req[m->reqlen] = '\0';
	if (memchr(m->req, '\0', m->reqlen) != NULL)
		respond(m, "400 Bad Request", "bad request\n");
	else if (strstr(m->req, "\r\n\r\n") != NULL)
		handle_request(m);
	else if (m->reqlen == sizeof m->req - 1)
		respond(m, "431 Request Header Fields Too Large",
		    "request too large\n");
}

static void
conn_timeout_cb(struct ev_loop *loop __unused, ev_timer *w,
    int revents __unused)
{
	struct metrics *m = w->data;

	log_debug("connection timed out");
	conn_close(m);
}

static void
accept_cb(struct ev_loop *loop __unused, ev_io *w, int revents __unused)
{
	struct metrics *m = w->data;
	int fd;

	fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("accept");
		return;
	}
	/* One connection at a time: the others wait in the backlog, so a
	 * scraper storm costs the checkpoint loop nothing but one socket. */
	ev_io_stop(m->loop, &m->accept_io);
	m->cfd = fd;
	m->reqlen = 0;
	ev_io_set(&m->conn_io, fd, EV_READ);
	ev_io_start(m->loop, &m->conn_io);
	ev_timer_set(&m->conn_timer, CONN_TIMEOUT, 0.);
	ev_timer_start(m->loop, &m->conn_timer);
}

static void
start_accepting(struct metrics *m)
{
	if (m->lfd != -1)
		ev_io_start(m->loop, &m->accept_io);
}

/* ---- Life cycle --------------------------------------------------------- */

static struct metrics *
metrics_create(struct ev_loop *loop, const struct stats *s,
    metrics_format_fn *fn, void *arg, const char *addr, const char *path)
{
	struct metrics *m;

	m = calloc(1, sizeof *m);
	if (m == NULL) {
		log_warn("metrics");
		return NULL;
	}
	m->loop = loop;
	m->s = s;
	m->fn = fn;
	m->fn_arg = arg;
	m->lfd = m->cfd = -1;
	ev_io_init(&m->accept_io, accept_cb, -1, EV_READ);
	ev_io_init(&m->conn_io, conn_cb, -1, EV_READ);
	ev_timer_init(&m->conn_timer, conn_timeout_cb, CONN_TIMEOUT, 0.);
	m->accept_io.data = m->conn_io.data = m->conn_timer.data = m;
	if (path != NULL) {
		m->path = strdup(path);
		if (m->path == NULL ||
		    asprintf(&m->tmppath, "%s.tmp", path) < 0) {
			m->tmppath = NULL;
			log_warn("metrics");
			goto err;
		}
		if (write_file(m) == -1)
			goto err;
	}
	if (addr != NULL) {
		m->lfd = transport_tcp_listen(addr);	/* logs */
		if (m->lfd == -1)
			goto err;
		ev_io_set(&m->accept_io, m->lfd, EV_READ);
		start_accepting(m);
	}
	return m;
err:
	metrics_free(m);
	return NULL;
}

struct metrics *
metrics_new(struct ev_loop *loop, const struct stats *s, const char *addr,
    const char *path)
{
	return metrics_create(loop, s, NULL, NULL, addr, path);
}

struct metrics *
metrics_new_fn(struct ev_loop *loop, metrics_format_fn *fn, void *arg,
    const char *addr, const char *path)
{
	return metrics_create(loop, NULL, fn, arg, addr, path);
}

void
metrics_free(struct metrics *m)
{
	int err = errno;

	if (m == NULL)
		return;
	if (m->cfd != -1)
		conn_close(m);
	ev_io_stop(m->loop, &m->accept_io);
	if (m->lfd != -1)
		close(m->lfd);
	if (m->path && m->tmppath && m->last_write_us != 0)
		write_file(m);		/* the final figures */
	free(m->path);
	free(m->tmppath);
	free(m);
	errno = err;
}
