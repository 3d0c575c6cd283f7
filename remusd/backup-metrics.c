/* remusd/backup-metrics.c -- remusd's per-guest counters in the Prometheus
 * text format (backup-metrics.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "metrics: "
#include "backup.h"
#include "backup-metrics.h"
#include "compiler.h"
#include "log.h"
#include "metrics.h"

struct guest_tot {
	char			*name;
	uint64_t		 sessions;
	struct backup_counters	 c;
};

struct bmetrics {
	struct guest_tot	*g;
	size_t			 n;
};

struct bmetrics *
bmetrics_new(void)
{
	return calloc(1, sizeof(struct bmetrics));
}

void
bmetrics_free(struct bmetrics *bm)
{
	size_t i;

	if (bm == NULL)
		return;
	for (i = 0; i < bm->n; i++)
		free(bm->g[i].name);
	free(bm->g);
	free(bm);
}

static void
sum(struct backup_counters *to, const struct backup_counters *c)
{
	to->epochs += c->epochs;
	to->bytes += c->bytes;
	to->acks += c->acks;
	to->failovers += c->failovers;
	to->fence_runs += c->fence_runs;
	to->fence_ok += c->fence_ok;
}

static struct guest_tot *
find(const struct guest_tot *g, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(g[i].name, name) == 0)
			return (struct guest_tot *)&g[i];
	return NULL;
}

/* Add C to its guest's entry in *G (*N entries), made if new. */
static int
merge(struct guest_tot **g, size_t *n, const struct backup_counters *c)
{
	struct guest_tot *t, *ng;

	/* A connection that never said HELLO names no guest and did
	 * nothing a guest's counters should show. */
	if (c->name == NULL || c->name[0] == '\0')
		return 0;
	t = find(*g, *n, c->name);
	if (t == NULL) {
		ng = realloc(*g, (*n + 1) * sizeof **g);
		if (ng == NULL)
			return -1;
		*g = ng;
		t = &ng[*n];
		memset(t, 0, sizeof *t);
		if ((t->name = strdup(c->name)) == NULL)
			return -1;
		(*n)++;
	}
	t->sessions++;
	sum(&t->c, c);
	return 0;
}

int
bmetrics_add(struct bmetrics *bm, const struct backup_counters *c)
{
	static int warned;

	if (merge(&bm->g, &bm->n, c) == 0)
		return 0;
	if (!warned++)
		log_warn("guest %s: counters lost", c->name);
	return -1;
}

/* A label value as the text format wants it: \, " and newline escaped.
 * The name comes from the primary's HELLO, bounded in length there. */
static void
out_label(struct metrics_out *o, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			metrics_printf(o, "\\%c", *v);
		else if (*v == '\n')
			metrics_printf(o, "\\n");
		else
			metrics_printf(o, "%c", *v);
	}
}

enum field { F_SESSIONS, F_EPOCHS, F_BYTES, F_ACKS, F_FAILOVERS };

static uint64_t
field(const struct guest_tot *t, enum field f)
{
	switch (f) {
	case F_SESSIONS:	return t->sessions;
	case F_EPOCHS:		return t->c.epochs;
	case F_BYTES:		return t->c.bytes;
	case F_ACKS:		return t->c.acks;
	case F_FAILOVERS:	return t->c.failovers;
	}
	return 0;
}

size_t
bmetrics_format(char *buf, size_t len, const struct bmetrics *bm,
    const struct backup_counters *live, size_t nlive)
{
	static const struct {
		enum field	 f;
		const char	*name, *help;
	} fams[] = {
		{ F_SESSIONS, "remusd_sessions_total",
		    "Sessions (connections of its primary) per guest." },
		{ F_EPOCHS, "remusd_epochs_total",
		    "Epochs committed to the replica." },
		{ F_BYTES, "remusd_stream_bytes_total",
		    "Stream records received, in bytes (header, body, "
		    "padding)." },
		{ F_ACKS, "remusd_acks_total",
		    "ACKs sent to the primary." },
		{ F_FAILOVERS, "remusd_failovers_total",
		    "Failovers: the guest activated from its replica." },
	};
	struct metrics_out o = { .buf = buf, .len = len, .n = 0 };
	struct guest_tot *g = NULL;
	size_t n = 0, i, k;

	if (len > 0)
		buf[0] = '\0';
	/* The kept totals and the live sessions, merged per guest (a copy:
	 * formatting changes nothing kept). */
	for (i = 0; i < bm->n; i++) {
		struct backup_counters c = bm->g[i].c;

		c.name = bm->g[i].name;
		if (merge(&g, &n, &c) == -1)
			goto nomem;
		find(g, n, c.name)->sessions = bm->g[i].sessions;
	}
	for (i = 0; i < nlive; i++)
		if (merge(&g, &n, &live[i]) == -1)
			goto nomem;

	metrics_printf(&o, "# HELP remusd_sessions Sessions running now.\n"
	    "# TYPE remusd_sessions gauge\nremusd_sessions %zu\n", nlive);
	for (k = 0; k < sizeof fams / sizeof fams[0]; k++) {
		metrics_printf(&o, "# HELP %s %s\n# TYPE %s counter\n",
		    fams[k].name, fams[k].help, fams[k].name);
		for (i = 0; i < n; i++) {
			metrics_printf(&o, "%s{guest=\"", fams[k].name);
			out_label(&o, g[i].name);
			metrics_printf(&o, "\"} %" PRIu64 "\n",
			    field(&g[i], fams[k].f));
		}
	}
	metrics_printf(&o, "# HELP remusd_fence_runs_total Fence commands run "
	    "for a lost primary, by result.\n"
	    "# TYPE remusd_fence_runs_total counter\n");
	for (i = 0; i < n; i++) {
		metrics_printf(&o, "remusd_fence_runs_total{guest=\"");
		out_label(&o, g[i].name);
		metrics_printf(&o, "\",result=\"fenced\"} %" PRIu64 "\n",
		    g[i].c.fence_ok);
		metrics_printf(&o, "remusd_fence_runs_total{guest=\"");
		out_label(&o, g[i].name);
		metrics_printf(&o, "\",result=\"failed\"} %" PRIu64 "\n",
		    g[i].c.fence_runs - g[i].c.fence_ok);
	}
	goto out;
nomem:
	metrics_printf(&o, "# out of memory\n");
out:
	for (i = 0; i < n; i++)
		free(g[i].name);
	free(g);
	return o.n;
}
