/* remusd/progress.c -- the full checkpoint's progress line (progress.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>

#define LOG_PREFIX ""
#include "checkpoint.h"
#include "compiler.h"
#include "log.h"
#include "progress.h"
#include "util.h"

#define TICK_S	0.1	/* a terminal's line: ten times a second */

struct progress {
	struct ev_loop		*loop;
	const struct ckpt	*c;
	int			 tty;
	ev_timer		 tick;
	int			 running;	/* a full epoch was seen */
	uint64_t		 done, total, start_us, last_us;
	int			 shown;		/* a "\r" line is on screen */
};

void
progress_format(char *buf, size_t len, uint64_t done, uint64_t total,
    uint64_t start_us, uint64_t now, int final)
{
	double secs = now > start_us ? (double)(now - start_us) / 1e6 : 0;
	double rate = secs > 0 ? (double)done / secs : 0;	/* bytes/s */

	if (final) {
		snprintf(buf, len, "full checkpoint: %" PRIu64 " MiB in %.1f s"
		    " (%.1f MiB/s)", total >> 20, secs, rate / 1048576.0);
		return;
	}
	if (rate > 0 && done < total)
		snprintf(buf, len, "full checkpoint: %" PRIu64 "/%" PRIu64
		    " MiB (%.0f%%), %.1f MiB/s, ETA %.1f s", done >> 20,
		    total >> 20, total ? 100.0 * (double)done / (double)total :
		    100.0, rate / 1048576.0, (double)(total - done) / rate);
	else
		snprintf(buf, len, "full checkpoint: %" PRIu64 "/%" PRIu64
		    " MiB (%.0f%%), ETA -", done >> 20, total >> 20,
		    total ? 100.0 * (double)done / (double)total : 100.0);
}

static void
tick_cb(struct ev_loop *loop __unused, ev_timer *w, int revents __unused)
{
	struct progress *p = w->data;
	uint64_t done, total, start;
	char line[160];

	if (ckpt_full_progress(p->c, &done, &total, &start)) {
		if (!p->running || start != p->start_us) {
			p->running = 1;
			p->start_us = start;
		}
		p->done = done;
		p->total = total;
		p->last_us = now_us();
		if (p->tty) {
			progress_format(line, sizeof line, done, total, start,
			    p->last_us, 0);
			/* \033[K: clear what a longer line left; the last
			 * \r: a log line printed meanwhile starts at the
			 * left margin and covers this one. */
			fprintf(stderr, "\r%s\033[K\r", line);
			fflush(stderr);
			p->shown = 1;
		}
		return;
	}
	if (!p->running)
		return;
	/* The full epoch went out (or the session ended): one final line,
	 * through the log so that it lands where the others do. */
	p->running = 0;
	if (p->shown) {
		fputs("\r\033[K", stderr);
		p->shown = 0;
	}
	progress_format(line, sizeof line, p->total, p->total, p->start_us,
	    now_us(), 1);
	log_info("%s", line);
}

struct progress *
progress_new(struct ev_loop *loop, const struct ckpt *c, int tty)
{
	struct progress *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->loop = loop;
	p->c = c;
	p->tty = tty;
	ev_timer_init(&p->tick, tick_cb, 0., TICK_S);
	p->tick.data = p;
	ev_timer_start(loop, &p->tick);
	/* Not a reason to keep the loop running. */
	ev_unref(loop);
	return p;
}

void
progress_free(struct progress *p)
{
	if (p == NULL)
		return;
	ev_ref(p->loop);
	ev_timer_stop(p->loop, &p->tick);
	if (p->shown)
		fputs("\r\033[K", stderr);
	free(p);
}
