/* remusd/stats.c -- per-epoch statistics for remus.
 *
 * Memory is flat: totals and fixed-size histograms (hist.h), never the
 * samples themselves -- keeping them cost 17 MB a day at -i 200.
 */
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

struct stats {
	FILE		*json;
	int		 tty, verbose, status_shown;
	uint64_t	 last_draw_us;
	struct stats_totals t;
	uint64_t	 first_us, last_us;
	/* Full epochs (the first) are left out of pause, period and dirty:
	 * they would be the max of each forever. */
	struct hist	 h[STATS_NHIST];
	struct ckpt_epoch_stats last;
};

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
	    e->ack_rtt_us, s->t.waits);
	if (n > 0 && write(STDERR_FILENO, line, strlen(line)) > 0)
		s->status_shown = 1;
}

void
stats_epoch(struct stats *s, const struct ckpt_epoch_stats *e)
{
	uint64_t now = now_us();

	s->t.epochs++;
	s->t.full_epochs += e->full != 0;
	s->t.waits += e->waits;
	s->t.wait_us += e->wait_us;
	s->t.dirty_pages += e->dirty_pages;
	s->t.raw_bytes += e->raw_bytes;
	s->t.wire_bytes += e->wire_bytes;
	s->t.last_epoch = e->epoch;
	s->t.last_ack_rtt_us = e->ack_rtt_us;
	s->t.output_epochs += e->trigger == CKPT_TRIGGER_OUTPUT;
	if (!e->full && e->period_us) {
		s->t.paused_us += e->pause_us;
		s->t.period_us += e->period_us;
	}
	if (s->first_us == 0)
		s->first_us = e->start_us;
	s->last_us = e->start_us;
	if (!e->full) {
		hist_add(&s->h[STATS_PAUSE], e->pause_us);
		hist_add(&s->h[STATS_DIRTY], e->dirty_pages);
	}
	if (e->period_us && !e->full)
		hist_add(&s->h[STATS_PERIOD], e->period_us);
	hist_add(&s->h[STATS_ACK_RTT], e->ack_rtt_us);
	hist_add(&s->h[STATS_SEND], e->send_us);
	s->last = *e;
	if (s->json) {
		fprintf(s->json, "{\"epoch\":%" PRIu64 ",\"full\":%u,"
		    "\"start_us\":%" PRIu64 ",\"period_us\":%" PRIu64 ","
		    "\"pause_us\":%" PRIu64 ",\"dirty_pages\":%" PRIu64 ","
		    "\"raw_bytes\":%" PRIu64 ",\"wire_bytes\":%" PRIu64 ","
		    "\"encode_us\":%" PRIu64 ",\"send_us\":%" PRIu64 ","
		    "\"ack_rtt_us\":%" PRIu64 ",\"waits\":%" PRIu64 ","
		    "\"wait_us\":%" PRIu64 ",\"suspend_us\":%" PRIu64 ","
		    "\"dirtylog_us\":%" PRIu64 ",\"copy_us\":%" PRIu64 ","
		    "\"state_us\":%" PRIu64 ",\"resume_us\":%" PRIu64 ","
		    "\"precopy_us\":%" PRIu64 ",\"precopy_pages\":%" PRIu64
		    ",\"recopy_pages\":%" PRIu64 ","
		    "\"trigger\":\"%s\"}\n",
		    e->epoch, e->full, e->start_us, e->period_us, e->pause_us,
		    e->dirty_pages, e->raw_bytes, e->wire_bytes, e->encode_us,
		    e->send_us, e->ack_rtt_us, e->waits, e->wait_us,
		    e->suspend_us, e->dirtylog_us, e->copy_us, e->state_us,
		    e->resume_us, e->precopy_us,
		    e->precopy_pages, e->recopy_pages,
		    ckpt_trigger_str(e->trigger));
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
	return s->t.epochs;
}

void
stats_get_totals(const struct stats *s, struct stats_totals *t)
{
	*t = s->t;
}

const struct hist *
stats_hist(const struct stats *s, enum stats_hist which)
{
	return &s->h[which];
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
	ratio = s->t.wire_bytes ?
	    (double)s->t.raw_bytes / (double)s->t.wire_bytes : 0;
	fprintf(out, "remus: %" PRIu64 " epochs acknowledged in %.1f s",
	    s->t.epochs, secs);
	if (s->t.epochs == 0) {
		fputc('\n', out);
		return;
	}
	fprintf(out, " (last %" PRIu64 ")\n", s->last.epoch);
	fprintf(out, "remus: pause us p50 %" PRIu64 " p99 %" PRIu64 " max %"
	    PRIu64 "; period us p50 %" PRIu64 " p99 %" PRIu64 "\n",
	    hist_pct(&s->h[STATS_PAUSE], 50), hist_pct(&s->h[STATS_PAUSE], 99),
	    hist_pct(&s->h[STATS_PAUSE], 100),
	    hist_pct(&s->h[STATS_PERIOD], 50),
	    hist_pct(&s->h[STATS_PERIOD], 99));
	fprintf(out, "remus: dirty pages p50 %" PRIu64 "; %" PRIu64
	    " MiB raw -> %" PRIu64 " MiB on the wire (%.2fx)\n",
	    hist_pct(&s->h[STATS_DIRTY], 50), s->t.raw_bytes >> 20,
	    s->t.wire_bytes >> 20, ratio);
	fprintf(out, "remus: send us p50 %" PRIu64 "; ack rtt us p50 %" PRIu64
	    " p99 %" PRIu64 "; waits %" PRIu64 " (%" PRIu64 " us)\n",
	    hist_pct(&s->h[STATS_SEND], 50), hist_pct(&s->h[STATS_ACK_RTT], 50),
	    hist_pct(&s->h[STATS_ACK_RTT], 99), s->t.waits, s->t.wait_us);
	fprintf(out, "remus: trigger: %" PRIu64 " epochs cut by output, %"
	    PRIu64 " by the interval; guest paused %.1f%% of the time\n",
	    s->t.output_epochs, s->t.epochs - s->t.output_epochs,
	    s->t.period_us ? 100.0 * (double)s->t.paused_us /
	    (double)s->t.period_us : 0.);
}

void
stats_free(struct stats *s)
{
	if (s == NULL)
		return;
	if (s->json && s->json != stdout)
		fclose(s->json);
	free(s);
}
