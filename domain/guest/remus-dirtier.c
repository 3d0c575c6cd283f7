/* remus-dirtier -- a proc guest that dirties pages at a controlled pace,
 * for tests and benchmarks.
 *
 *   remus-dirtier --pages N --working-set M [--rate R] [--checksum-log FILE]
 *                 [--arena-size SIZE] [--slice-ms MS] [--pidfile FILE]
 *                 [--resume FILE] [--fill]
 *
 * Epoch mode (default): after each suspend/resume cycle of the attached
 * remus (or every --slice-ms when none is attached) it writes N distinct
 * pages of its M-page working set, then waits for the next cycle.
 * Rate mode (--rate R): R page writes per second, continuously.
 * Pages are visited in a fixed permutation (a stride coprime to M), so any
 * M consecutive writes touch M distinct pages.
 *
 * --checksum-log FILE: at each suspend, at the safe point and before the
 * acknowledgement, append "<seq> <xxh64 of the whole arena> <suspends>":
 * seq is remus's suspend number (its epoch number: epoch n is remus's n-th
 * suspend), suspends counts every suspend this arena has seen.  The sum is
 * what remus copies in that window, so a backup that committed epoch n
 * holds an arena whose remus-arena-sum equals line n's.
 *
 * --fill: before it starts, fill the whole working set with pseudo-random
 * bytes, so that its memory does not compress (bench/resync: a full
 * checkpoint then costs what a real guest's would).
 *
 * SIGUSR1 (epoch mode): from the next cycle on, write the whole working
 * set each cycle: a guest whose working set suddenly grows, so that an
 * epoch needs more room on the backup than any before it (the ENOSPC
 * tests: a proc replica's commit rewrites its files in place).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "proc-guest.h"
#include "proc-sum.h"

#define DIRTIER_MAGIC	0x5245495452494431ull	/* "1DIRTIER" */
#define POLL_EVERY	64	/* page writes between safe points */

/* In the arena. */
struct dirtier {
	uint64_t	magic;
	uint64_t	ws_pages;
	uint64_t	stride;
	uint64_t	pos;		/* permutation index of the next write */
	uint64_t	writes;		/* page writes, ever */
	uint64_t	suspends;	/* suspends seen, ever */
	uint8_t		*ws;		/* working set, page-aligned */
};

static volatile sig_atomic_t stop;
static volatile sig_atomic_t grow;	/* SIGUSR1 */
static struct proc_guest *guest;
static struct dirtier *st;
static int log_fd = -1;
static long page_size;

static void __dead
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: remus-dirtier --pages N --working-set M [--rate R]\n"
	    "                     [--checksum-log FILE] [--arena-size SIZE]\n"
	    "                     [--slice-ms MS] [--pidfile FILE] "
	    "[--resume FILE]\n"
	    "                     [--fill]\n");
	exit(status);
}

static uint64_t
gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static void
write_page(void)
{
	uint64_t idx = (st->pos * st->stride) % st->ws_pages;
	uint64_t *w = (uint64_t *)(void *)(st->ws + idx * (uint64_t)page_size);
	uint64_t words = (uint64_t)page_size / 8;

	st->writes++;
	w[0] = st->writes;
	w[1 + st->writes % (words - 1)] = idx ^ (st->writes << 20);
	st->pos++;
}

static void
on_grow(int sig)
{
	(void)sig;
	grow = 1;
}

/* Suspend hook: the arena is now what remus copies. */
static void
on_suspend(void *arg, uint64_t seq)
{
	char line[96];
	void *base;
	size_t size;
	int n;

	(void)arg;
	st->suspends++;		/* before the sum: it is arena state */
	if (log_fd == -1)
		return;
	base = proc_guest_arena(guest, &size);
	n = snprintf(line, sizeof line, "%llu %016llx %llu\n",
	    (unsigned long long)seq,
	    (unsigned long long)proc_sum(base, size),
	    (unsigned long long)st->suspends);
	if (write_full(log_fd, line, (size_t)n) == -1)
		log_warn("checksum log");
}

/* Write COUNT pages, stopping at a safe point every POLL_EVERY writes. */
static int
dirty(uint64_t count)
{
	uint64_t i;

	for (i = 0; i < count && !stop; i++) {
		write_page();
		if ((i + 1) % POLL_EVERY == 0 &&
		    proc_guest_poll(guest, 0) == -1)
			return -1;
	}
	return 0;
}

static int
run_epochs(uint64_t pages, int slice_ms)
{
	uint64_t deadline;
	int64_t left;
	int rc;

	while (!stop) {
		if (grow)
			pages = st->ws_pages;
		if (dirty(pages) == -1)
			return stop ? 0 : -1;
		deadline = now_us() + (uint64_t)slice_ms * 1000;
		/* Wait for the next suspend cycle, or the end of the
		 * slice while nobody is attached. */
		for (;;) {
			if (stop)
				return 0;
			if (proc_guest_attached(guest))
				rc = proc_guest_poll(guest, 1000);
			else {
				left = (int64_t)(deadline - now_us());
				if (left <= 0)
					break;
				rc = proc_guest_poll(guest,
				    (int)((left + 999) / 1000));
			}
			if (rc == -1)
				return stop ? 0 : -1;
			if (rc > 0)
				break;
		}
	}
	return 0;
}

static int
run_rate(uint64_t rate)
{
	uint64_t t0 = now_us(), done = 0, due, next;
	int64_t wait;

	while (!stop) {
		due = (now_us() - t0) * rate / 1000000;
		if (due > done + rate) {
			/* Far behind (a long pause): do not burst. */
			done = due - rate / 10;
		}
		while (done < due && !stop) {
			write_page();
			done++;
			if (done % POLL_EVERY == 0 &&
			    proc_guest_poll(guest, 0) == -1)
				return stop ? 0 : -1;
		}
		next = t0 + (done + 1) * 1000000 / rate;
		wait = (int64_t)(next - now_us());
		if (proc_guest_poll(guest, wait <= 0 ? 0 :
		    (int)(wait > 100000 ? 100 : (wait + 999) / 1000)) == -1)
			return stop ? 0 : -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pages", required_argument, NULL, 'n' },
		{ "working-set", required_argument, NULL, 'w' },
		{ "rate", required_argument, NULL, 'r' },
		{ "checksum-log", required_argument, NULL, 'c' },
		{ "arena-size", required_argument, NULL, 'a' },
		{ "slice-ms", required_argument, NULL, 's' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "resume", required_argument, NULL, 'R' },
		{ "fill", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct proc_guest_opts go;
	struct sigaction sa;
	uint64_t pages = 100, ws = 1024, rate = 0, arena = 0, slice = 100;
	const char *logpath = NULL, *pidfile = NULL, *resume = NULL;
	int c, verbose = 0, rc, fill = 0;
	size_t size;

	page_size = sysconf(_SC_PAGESIZE);
	while ((c = getopt_long(argc, argv, "n:w:r:c:a:s:p:R:fvh", opts,
	    NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_uint(optarg, 0, 1ull << 32, &pages) == -1)
				fatalx("--pages %s: not a page count", optarg);
			break;
		case 'w':
			if (parse_uint(optarg, 1, 1ull << 32, &ws) == -1)
				fatalx("--working-set %s: not a page count "
				    "(1 or more)", optarg);
			break;
		case 'r':
			if (parse_uint(optarg, 1, 100000000, &rate) == -1)
				fatalx("--rate %s: not a rate in pages per "
				    "second", optarg);
			break;
		case 'c':
			logpath = optarg;
			break;
		case 'a':
			if (parse_size(optarg, &arena) == -1)
				fatalx("--arena-size %s: not a size", optarg);
			break;
		case 's':
			if (parse_uint(optarg, 1, 3600000, &slice) == -1)
				fatalx("--slice-ms %s: not milliseconds",
				    optarg);
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'R':
			resume = optarg;
			break;
		case 'f':
			fill = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);
	log_init("remus-dirtier", 1, verbose);
	if (pages > ws)
		fatalx("--pages %llu exceeds --working-set %llu: pages per "
		    "epoch must be distinct", (unsigned long long)pages,
		    (unsigned long long)ws);
	if (arena == 0)
		arena = (ws + 16) * (uint64_t)page_size + (1 << 20);
	else if (arena < (ws + 16) * (uint64_t)page_size)
		fatalx("--arena-size %llu cannot hold a working set of %llu "
		    "pages", (unsigned long long)arena,
		    (unsigned long long)ws);

	memset(&go, 0, sizeof go);
	go.arena_size = arena;
	go.resume_file = resume;
	go.prog_magic = DIRTIER_MAGIC;
	go.argc = argc;
	go.argv = argv;
	guest = proc_guest_start(&go, &stop);
	if (guest == NULL)
		return 1;
	if (proc_guest_resumed(guest)) {
		st = proc_guest_root(guest);
		if (st == NULL || st->magic != DIRTIER_MAGIC)
			fatalx("resume: %s holds no dirtier state", resume);
	} else {
		st = proc_guest_calloc(guest, sizeof *st);
		if (st == NULL)
			fatalx("arena too small");
		st->magic = DIRTIER_MAGIC;
		st->ws_pages = ws;
		st->ws = proc_guest_calloc(guest, ws * (uint64_t)page_size);
		if (st->ws == NULL)
			fatalx("arena too small for the working set");
		for (st->stride = 1000003; gcd(st->stride, ws) != 1;
		    st->stride += 2)
			;
		if (fill) {
			uint64_t *w = (uint64_t *)(void *)st->ws, x = 88172645463325252ull;

			/* xorshift64: incompressible, and cheap enough
			 * for a GiB. */
			for (uint64_t i = 0; i < ws * (uint64_t)page_size / 8; i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				w[i] = x;
			}
		}
		proc_guest_set_root(guest, st);
	}
	if (logpath) {
		log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0644);
		if (log_fd == -1)
			fatal("--checksum-log %s", logpath);
	}
	proc_guest_on_suspend(guest, on_suspend, NULL);
	if (pidfile && proc_guest_write_pidfile(pidfile) == -1)
		fatal("--pidfile %s", pidfile);
	proc_guest_arena(guest, &size);
	printf("remus-dirtier: pid %d arena %zu MiB working set %llu pages "
	    "tracking %s%s\n", (int)getpid(), size >> 20,
	    (unsigned long long)st->ws_pages, proc_guest_tracking(guest),
	    proc_guest_resumed(guest) ? " (resumed)" : "");
	fflush(stdout);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_grow;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	proc_guest_ready(guest);

	rc = rate ? run_rate(rate) : run_epochs(pages, (int)slice);
	proc_guest_close(guest);
	if (log_fd != -1)
		close(log_fd);
	return rc == -1 ? 1 : 0;
}
