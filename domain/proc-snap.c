/* remus-proc-snap -- drive a guest driver through the engine's epoch
 * sequence without a network, into a local replica (a test and debugging
 * tool; the kernel lab uses it where the full remus may not run).
 *
 *   remus-proc-snap [-n EPOCHS] [-i MS] [-k] [-a] [-v] [-m METHOD]
 *       [-L ADDR] SPEC DIR
 *
 * SPEC is a domain spec ("proc:PID"; a bare PID means proc:PID).  It runs
 * what the epoch engine runs -- clear the dirty log, copy every page while
 * the guest runs, then EPOCHS paused epochs (suspend, read and clear the
 * dirty log, copy, resume) MS milliseconds apart -- and applies each epoch
 * to a replica in DIR, committing it.  -k kills the guest (SIGKILL, proc
 * only) after the last epoch; -a then activates the replica, as a backup
 * does on failover.  -m forces a dirty tracking method (remus
 * --dirty-method), -L where the activated guest listens (remusd
 * --proc-listen).  Output, one line each:
 *
 *   epoch <n> dirty <pages> pause_us <us>
 *   committed <n>
 *   activated                   (-a)
 *
 * (The proc driver's log line on stderr names the dirty tracking used.)
 * Exit status: 0, 1 on a failure (one line says which) or bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "domain.h"

/* Wait up to 5 s until PID is gone or a zombie (its sockets closed). */
static void
wait_dead(long pid)
{
	(void)proc_pid_wait_gone((pid_t)pid, 5000);
}

static void __dead
usage_status(int status)
{
	fprintf(status ? stderr : stdout, "usage: remus-proc-snap [-n EPOCHS] "
	    "[-i MS] [-k] [-a] [-v] [-m METHOD] [-L ADDR] SPEC DIR\n"
	    "       remus-proc-snap -h | --help\n");
	exit(status);
}

static void __dead
usage(void)
{
	usage_status(1);
}

int
main(int argc, char **argv)
{
	const struct domain_ops *ops;
	const struct replica_ops *rops;
	struct domain_info info;
	struct domain *d = NULL;
	struct replica *r = NULL;
	uint64_t epochs = 1, interval = 100, n, i, k, count, *bm = NULL;
	uint64_t *pfns = NULL, t0;
	uint8_t *stage = NULL, cfg[8192];
	size_t cfg_len = sizeof cfg, bm_words, ps;
	const char *spec, *rest, *dir;
	char specbuf[64];
	struct domain_opts dopts;
	int c, kill_guest = 0, activate = 0, verbose = 0, rc = 1;
	long pid = 0;

	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		usage_status(0);
	memset(&dopts, 0, sizeof dopts);
	while ((c = getopt(argc, argv, "n:i:kavhm:L:")) != -1) {
		switch (c) {
		case 'm':
			dopts.dirty_method = optarg;
			break;
		case 'L':
			dopts.proc_listen = optarg;
			break;
		case 'n':
			if (parse_uint(optarg, 1, 1000000, &epochs) == -1) {
				fprintf(stderr, "remus-proc-snap: -n %s: not "
				    "a number of epochs\n", optarg);
				return 1;
			}
			break;
		case 'i':
			if (parse_uint(optarg, 0, 3600000, &interval) == -1) {
				fprintf(stderr, "remus-proc-snap: -i %s: not "
				    "milliseconds\n", optarg);
				return 1;
			}
			break;
		case 'k':
			kill_guest = 1;
			break;
		case 'a':
			activate = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage_status(0);
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	spec = argv[optind];
	dir = argv[optind + 1];
	log_init("remus-proc-snap", 1, verbose);
	if (strchr(spec, ':') == NULL) {
		snprintf(specbuf, sizeof specbuf, "proc:%s", spec);
		spec = specbuf;
	}
	ops = domain_ops_lookup(spec, &rest);
	if (ops == NULL)
		fatalx("%s: unknown guest type", spec);
	rops = replica_ops_lookup(ops->name);
	if (rops == NULL)
		fatalx("%s: no replica driver", ops->name);
	if (strcmp(ops->name, "proc") == 0)
		pid = strtol(rest, NULL, 10);

	d = ops->open(rest, &dopts);
	if (d == NULL)
		goto out;
	ops->info(d, &info);
	ps = info.page_size;
	if (ops->get_config(d, cfg, &cfg_len) == -1) {
		log_warn("get_config");
		goto out;
	}
	r = rops->create(dir, NULL, cfg, cfg_len, &info, &dopts);
	if (r == NULL)
		goto out;
	bm_words = (info.nr_pages + 63) / 64;
	bm = calloc(bm_words, 8);
	pfns = malloc(info.nr_pages * sizeof *pfns);
	stage = malloc(info.nr_pages * ps);
	if (bm == NULL || pfns == NULL || stage == NULL)
		fatal("out of memory");

	/* Epoch 1's full copy, while the guest runs. */
	if (ops->logdirty_enable(d) == -1)
		goto out;
	for (i = 0; i < info.nr_pages; i++)
		pfns[i] = i;
	if (ops->copy_pages(d, pfns, info.nr_pages, stage) == -1)
		goto out;
	for (i = 0; i < info.nr_pages; i++)
		memcpy(rops->page(r, i), stage + i * ps, ps);

	for (n = 1; n <= epochs; n++) {
		if (n > 1)
			usleep((useconds_t)interval * 1000);
		memset(bm, 0, bm_words * 8);
		t0 = now_us();
		if (ops->suspend(d) == -1)
			goto out;
		if (ops->dirty_read_clear(d, bm, &count) == -1)
			goto out;
		for (i = 0, k = 0; i < bm_words; i++) {
			uint64_t w = bm[i];

			while (w) {
				pfns[k++] = i * 64 + (uint64_t)__builtin_ctzll(w);
				w &= w - 1;
			}
		}
		if (k != count) {
			log_warnx("epoch %llu: %llu dirty pages counted, %llu "
			    "in the bitmap", (unsigned long long)n,
			    (unsigned long long)count, (unsigned long long)k);
			goto out;
		}
		if (ops->copy_pages(d, pfns, k, stage) == -1)
			goto out;
		if (ops->resume(d) == -1)
			goto out;
		printf("epoch %llu dirty %llu pause_us %llu\n",
		    (unsigned long long)n, (unsigned long long)k,
		    (unsigned long long)(now_us() - t0));
		for (i = 0; i < k; i++)
			memcpy(rops->page(r, pfns[i]), stage + i * ps, ps);
		/* Epoch 1 also carries the full copy: every page. */
		if (n == 1) {
			for (i = 0; i < info.nr_pages; i++)
				pfns[i] = i;
			k = info.nr_pages;
		}
		if (rops->commit(r, n, pfns, k, NULL, 0) == -1)
			goto out;
	}
	printf("committed %llu\n", (unsigned long long)epochs);
	fflush(stdout);
	ops->close(d);
	d = NULL;
	if (kill_guest && pid > 0) {
		if (kill((pid_t)pid, SIGKILL) == -1)
			log_warn("kill %ld", pid);
		wait_dead(pid);	/* its listening port is free again */
	}
	if (activate) {
		if (rops->activate(r) == -1)
			goto out;
		printf("activated\n");
	}
	rc = 0;
out:
	if (rc)
		log_warnx("%s: failed", spec);
	if (d)
		ops->close(d);
	if (r)
		rops->close(r);
	free(bm);
	free(pfns);
	free(stage);
	return rc;
}
