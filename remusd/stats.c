/* remusd/stats.c -- per-epoch statistics for remus. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX ""
#include "checkpoint.h"
#include "log.h"
#include "stats.h"
#include "util.h"

struct series {
	uint64_t	*v;
	size_t		 n, cap;
};

struct stats {
	FILE		*json;
	int		 tty, verbose, status_shown;
	uint64_t	 last_draw_us;
	uint64_t	 epochs, waits, wait_us;
	uint64_t	 dirty, raw, wire;
	uint64_t	 first_us, last_us;
	struct series	 pause, period, rtt, send, dirty_s;
	struct ckpt_epoch_stats last;
};

static void
series_add(struct series *s, uint64_t v)
{
	uint64_t *p;

	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1024;

		p = realloc(s->v, ncap * sizeof *p);
		if (p == NULL)
			return;		/* the summary loses a sample */
		s->v = p;
		s->cap = ncap;
	}
	s->v[s->n++] = v;
}

static uint64_t
series_pct(struct series *s, double p)
{
	return percentile_u64(s->v, s->n, p);
}

struct stats *
stats_new(const char *json_path, int tty, int verbose)
{
	struct stats *s;
	int fd;

	s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->tty = tty;
	s->verbose = verbose;
	if (json_path) {
		if (strcmp(json_path, "-") == 0)
			s->json = stdout;
		else {
			fd = open(json_path, O_WRONLY | O_CREAT | O_TRUNC |
			    O_CLOEXEC, 0644);
			if (fd == -1 || (s->json = fdopen(fd, "w")) == NULL) {
				log_warn("--stats-json %s", json_path);
				if (fd != -1)
					close(fd);
				free(s);
				return NULL;
			}
		}
	}
	return s;
}

static void
draw_status(struct stats *s, const struct ckpt_epoch_stats *e)
{
	char line[160];
	int n;

	n = snprintf(line, sizeof line, "\repoch %" PRIu64 "  pause %" PRIu64
	    " us  dirty %" PRIu64 "  wire %" PRIu64 " KiB  send %" PRIu64
	    " us  ack %" PRIu64 " us  waits %" PRIu64 "   ", e->epoch,
	    e->pause_us, e->dirty_pages, e->wire_bytes >> 10, e->send_us,
	    e->ack_rtt_us, s->waits);
	if (n > 0 && write(STDERR_FILENO, line, strlen(line)) > 0)
		s->status_shown = 1;
}

void
stats_epoch(struct stats *s, const struct ckpt_epoch_stats *e)
{
	uint64_t now = now_us();

	s->epochs++;
	s->waits += e->waits;
	s->wait_us += e->wait_us;
	s->dirty += e->dirty_pages;
	s->raw += e->raw_bytes;
	s->wire += e->wire_bytes;
	if (s->first_us == 0)
		s->first_us = e->start_us;
	s->last_us = e->start_us;
	if (!e->full) {
		series_add(&s->pause, e->pause_us);
		series_add(&s->dirty_s, e->dirty_pages);
	}
	if (e->period_us && !e->full)
		series_add(&s->period, e->period_us);
	series_add(&s->rtt, e->ack_rtt_us);
	series_add(&s->send, e->send_us);
	s->last = *e;
	if (s->json) {
		fprintf(s->json, "{\"epoch\":%" PRIu64 ",\"full\":%u,"
		    "\"start_us\":%" PRIu64 ",\"period_us\":%" PRIu64 ","
		    "\"pause_us\":%" PRIu64 ",\"dirty_pages\":%" PRIu64 ","
		    "\"raw_bytes\":%" PRIu64 ",\"wire_bytes\":%" PRIu64 ","
		    "\"encode_us\":%" PRIu64 ",\"send_us\":%" PRIu64 ","
		    "\"ack_rtt_us\":%" PRIu64 ",\"waits\":%" PRIu64 ","
		    "\"wait_us\":%" PRIu64 ",\"suspend_us\":%" PRIu64 ","
		    "\"dirtylog_us\":%" PRIu64 ",\"copy_us\":%" PRIu64 "}\n",
		    e->epoch, e->full, e->start_us, e->period_us, e->pause_us,
		    e->dirty_pages, e->raw_bytes, e->wire_bytes, e->encode_us,
		    e->send_us, e->ack_rtt_us, e->waits, e->wait_us,
		    e->suspend_us, e->dirtylog_us, e->copy_us);
		fflush(s->json);
	}
	if (s->verbose)
		log_info("epoch %" PRIu64 ": pause %" PRIu64 " us, %" PRIu64
		    " dirty pages, %" PRIu64 " -> %" PRIu64 " bytes, send %"
		    PRIu64 " us, ack rtt %" PRIu64 " us, period %" PRIu64
		    " us, waits %" PRIu64, e->epoch, e->pause_us,
		    e->dirty_pages, e->raw_bytes, e->wire_bytes, e->send_us,
		    e->ack_rtt_us, e->period_us, e->waits);
	else if (s->tty && now - s->last_draw_us >= 100000) {
		s->last_draw_us = now;
		draw_status(s, e);
	}
}

uint64_t
stats_epochs(const struct stats *s)
{
	return s->epochs;
}

void
stats_summary(struct stats *s, FILE *out)
{
	double secs, ratio;

	if (s->status_shown) {
		fputc('\n', stderr);
		s->status_shown = 0;
	}
	secs = s->last_us > s->first_us ?
	    (double)(s->last_us - s->first_us) / 1e6 : 0;
	ratio = s->wire ? (double)s->raw / (double)s->wire : 0;
	fprintf(out, "remus: %" PRIu64 " epochs acknowledged in %.1f s",
	    s->epochs, secs);
	if (s->epochs == 0) {
		fputc('\n', out);
		return;
	}
	fprintf(out, " (last %" PRIu64 ")\n", s->last.epoch);
	fprintf(out, "remus: pause us p50 %" PRIu64 " p99 %" PRIu64 " max %"
	    PRIu64 "; period us p50 %" PRIu64 " p99 %" PRIu64 "\n",
	    series_pct(&s->pause, 50), series_pct(&s->pause, 99),
	    series_pct(&s->pause, 100), series_pct(&s->period, 50),
	    series_pct(&s->period, 99));
	fprintf(out, "remus: dirty pages p50 %" PRIu64 "; %" PRIu64
	    " MiB raw -> %" PRIu64 " MiB on the wire (%.2fx)\n",
	    series_pct(&s->dirty_s, 50), s->raw >> 20, s->wire >> 20, ratio);
	fprintf(out, "remus: send us p50 %" PRIu64 "; ack rtt us p50 %" PRIu64
	    " p99 %" PRIu64 "; waits %" PRIu64 " (%" PRIu64 " us)\n",
	    series_pct(&s->send, 50), series_pct(&s->rtt, 50),
	    series_pct(&s->rtt, 99), s->waits, s->wait_us);
}

void
stats_free(struct stats *s)
{
	if (s == NULL)
		return;
	if (s->json && s->json != stdout)
		fclose(s->json);
	free(s->pause.v);
	free(s->period.v);
	free(s->rtt.v);
	free(s->send.v);
	free(s->dirty_s.v);
	free(s);
}
