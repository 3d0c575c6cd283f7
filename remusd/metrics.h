/* remusd/metrics.h -- remus's figures for Prometheus.
 *
 * The text exposition format 0.0.4 of what stats.c keeps: counters since
 * start, and histograms with fixed buckets (hist.h) for the pause, the
 * period, the ACK round trip, the send time and the dirty pages per
 * epoch.  Served two ways, both optional:
 *  - HTTP GET /metrics on a TCP address, from the caller's libev loop:
 *    one connection at a time, one strictly parsed request, one response,
 *    then close (no keep-alive, no chunking, 5 s for the whole exchange);
 *  - a textfile for node_exporter's textfile collector, rewritten (a
 *    temporary file renamed over it) at most once a second and at exit.
 */
#ifndef REMUS_METRICS_H
#define REMUS_METRICS_H

#include <stddef.h>

#include <ev.h>

#include "compiler.h"

/* Exposition text built into BUF (LEN bytes, may be short or NULL): N
 * counts the whole text, so a caller learns the size it needs.  The
 * remus and remusd formatters both write through it. */
struct metrics_out {
	char	*buf;
	size_t	 len, n;
};
void	metrics_printf(struct metrics_out *, const char *, ...) __printf(2, 3);

struct dev_netbuf_held;
struct metrics;
struct stats;

/* Serve S's figures: over HTTP at ADDR ("host:port", ":port") and/or in
 * the textfile PATH (either may be NULL).  The socket is bound and the
 * file written once here, so a bad address or path fails before anything
 * else starts.  Returns NULL with errno set (logged) on failure.  S must
 * outlive the result. */
struct metrics	*metrics_new(struct ev_loop *, const struct stats *s,
		    const char *addr, const char *path);
/* The same, serving the text FN writes (as metrics_format does: into BUF
 * of LEN bytes, returning the whole length) instead of a struct stats:
 * remusd's per-guest figures (backup-metrics.c). */
typedef size_t	 metrics_format_fn(char *buf, size_t len, void *arg);
struct metrics	*metrics_new_fn(struct ev_loop *, metrics_format_fn *fn,
		    void *arg, const char *addr, const char *path);
/* An epoch was added to the stats: rewrite the textfile if one is due.
 * NULL ok.  Failures are logged once and retried at the next epoch. */
void		 metrics_epoch(struct metrics *);
/* Also report the guest output held by netbuf, as FN reads it (devices.h:
 * dev_netbuf_held) at each scrape and textfile write.  NULL M ok. */
void		 metrics_set_held(struct metrics *m,
		    void (*fn)(struct dev_netbuf_held *));
/* Also report the full first checkpoint's progress in engine C and the
 * disks' live sync progress as SYNC_DISK reads it (devices.h:
 * dev_diskbuf_sync_disk): done and total bytes, read at each scrape and
 * textfile write.  NULL M ok. */
struct ckpt;
struct dev_diskbuf_sync;
void		 metrics_set_progress(struct metrics *m, const struct ckpt *c,
		    int (*sync_disk)(size_t, struct dev_diskbuf_sync *));
/* Write the textfile a last time, close the socket.  NULL ok. */
void		 metrics_free(struct metrics *);

/* The exposition of S into BUF (LEN bytes, NUL-terminated when LEN > 0).
 * Returns the length of the whole text, as snprintf does: a result >= LEN
 * means BUF was too small. */
size_t		 metrics_format(char *buf, size_t len, const struct stats *s);

#endif /* REMUS_METRICS_H */
