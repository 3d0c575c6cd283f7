/* tests/unit/test-domain-proc.c -- the proc guest driver against real
 * guests: an in-process fake guest (a forked child using the guest
 * library, driven command by command through a pipe) and remus-dirtier.
 * Needs root (userfaultfd, /proc/PID/pagemap of another process). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain.h"
#include "fault.h"
#include "log.h"
#include "proc-dirty.h"
#include "proc-guest.h"
#include "proc-sum.h"

#define FAKE_PAGES	1024

enum { CMD_WRITE = 1, CMD_SLEEP, CMD_EXIT };

struct cmd {
	uint32_t	op;
	uint32_t	arg;	/* fill byte, or milliseconds */
	uint64_t	pfn;
};

struct fake {
	pid_t	pid;
	int	cmd_w;
	int	ack_r;
};

static long ps;
static const struct domain_ops *ops;
/* The driver's settings, as remus and remusd pass them to open and create
 * (each Test runs in a process of its own). */
static struct domain_opts topts;
static uint64_t fake_pages = FAKE_PAGES;	/* the fake guest's arena */

static int
kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) == -1 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma > major || (ma == major && mi >= minor);
}

/* One timeout for the whole suite: Criterion 2.4 leaks in its parallel
 * runner when a test overrides the suite's timeout. */
static void
setup(void)
{
	const char *rest;

	ps = sysconf(_SC_PAGESIZE);
	log_init("test-domain-proc", 1, 0);
	ops = domain_ops_lookup("proc:1", &rest);
	cr_assert_not_null(ops);
	if (geteuid() != 0)
		cr_skip_test("needs root (userfaultfd, /proc/PID/pagemap)");
	if (!kernel_at_least(6, 7) && !proc_dirty_softdirty_supported())
		cr_skip_test("no dirty tracking on this kernel: needs Linux "
		    ">= 6.7 (PAGEMAP_SCAN) or CONFIG_MEM_SOFT_DIRTY");
}

static void __attribute__((noreturn))
fake_main(int cmd_r, int ack_w, const char *dirty_env)
{
	char *argv[] = { "fake-guest", NULL };
	struct proc_guest_opts o;
	struct proc_guest *g;
	struct pollfd p[2];
	struct cmd c;
	uint8_t *base;

	if (dirty_env)
		setenv("REMUS_PROC_DIRTY", dirty_env, 1);
	memset(&o, 0, sizeof o);
	o.arena_size = fake_pages * (uint64_t)ps;
	o.prog_magic = 1;
	o.argc = 1;
	o.argv = argv;
	g = proc_guest_open(&o);
	if (g == NULL)
		_exit(1);
	base = proc_guest_arena(g, NULL);
	if (write(ack_w, "R", 1) != 1)
		_exit(1);
	for (;;) {
		p[0].fd = cmd_r;
		p[0].events = POLLIN;
		p[1].fd = proc_guest_fd(g);
		p[1].events = POLLIN;
		if (poll(p, 2, -1) == -1)
			continue;
		if (p[1].revents)
			proc_guest_poll(g, 0);
		if (!p[0].revents)
			continue;
		if (read(cmd_r, &c, sizeof c) != (ssize_t)sizeof c)
			_exit(0);
		switch (c.op) {
		case CMD_WRITE:
			memset(base + c.pfn * (uint64_t)ps, (int)c.arg,
			    (size_t)ps);
			break;
		case CMD_SLEEP:
			/* Ack the start too, so the test knows we are
			 * away from any safe point. */
			if (write(ack_w, "S", 1) != 1)
				_exit(1);
			usleep(c.arg * 1000u);
			break;
		case CMD_EXIT:
			_exit(0);
		}
		if (write(ack_w, "A", 1) != 1)
			_exit(1);
	}
}

static struct fake
fake_start(const char *dirty_env)
{
	struct fake f;
	int cmd[2], ack[2];
	char c;

	cr_assert(eq(int, pipe2(cmd, O_CLOEXEC), 0));
	cr_assert(eq(int, pipe2(ack, O_CLOEXEC), 0));
	f.pid = fork();
	cr_assert(f.pid != -1);
	if (f.pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		fake_main(cmd[0], ack[1], dirty_env);
	}
	close(cmd[0]);
	close(ack[1]);
	f.cmd_w = cmd[1];
	f.ack_r = ack[0];
	cr_assert(eq(int, (int)read(f.ack_r, &c, 1), 1), "fake guest failed to start");
	return f;
}

static void
fake_send(struct fake *f, uint32_t op, uint64_t pfn, uint32_t arg)
{
	struct cmd c = { .op = op, .arg = arg, .pfn = pfn };

	cr_assert(eq(int, (int)write(f->cmd_w, &c, sizeof c), (int)sizeof c));
}

static void
fake_ack(struct fake *f)
{
	char c;

	cr_assert(eq(int, (int)read(f->ack_r, &c, 1), 1));
}

static void
fake_write(struct fake *f, uint64_t pfn, uint8_t fill)
{
	fake_send(f, CMD_WRITE, pfn, fill);
	fake_ack(f);
}

/* 1 if the fake acknowledged within MS milliseconds. */
static int
fake_acked_within(struct fake *f, int ms)
{
	struct pollfd p = { .fd = f->ack_r, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static void
fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	close(f->cmd_w);
	close(f->ack_r);
}

static struct domain *
open_pid(pid_t pid)
{
	char spec[32];
	struct domain *d;

	snprintf(spec, sizeof spec, "%d", (int)pid);
	d = ops->open(spec, &topts);
	cr_assert_not_null(d, "open proc:%s: %s", spec, strerror(errno));
	return d;
}

static uint64_t *
new_bitmap(uint64_t nr_pages)
{
	uint64_t *bm = calloc((nr_pages + 63) / 64, 8);

	cr_assert_not_null(bm);
	return bm;
}

static int
bit(const uint64_t *bm, uint64_t i)
{
	return (bm[i / 64] >> (i % 64)) & 1;
}

static const uint64_t small_pfns[] = { 1, 2, 3, 64, 65, 127, 128, 500,
    1000, 1023 };

/* The dirty set after writing PFNS equals PFNS, and is empty next time. */
static void
check_dirty_set(const char *method, const uint64_t *pfns, size_t npfns)
{
	struct domain_info info;
	struct domain *d;
	struct fake f;
	uint64_t *bm, count, i, j;
	int want;

	/* The driver's setting, and the guest's own variable (it skips
	 * its uffd-wp registration for softdirty). */
	if (method) {
		setenv("REMUS_PROC_DIRTY", method, 1);
		topts.dirty_method = method;
	}
	f = fake_start(NULL);
	d = open_pid(f.pid);
	ops->info(d, &info);
	cr_assert(eq(u64, info.nr_pages, fake_pages));
	cr_assert(eq(u32, info.page_size, (uint32_t)ps));
	cr_assert(eq(int, ops->logdirty_enable(d), 0));

	for (i = 0; i < npfns; i++)
		fake_write(&f, pfns[i], (uint8_t)(i + 1));
	/* Rewriting a page counts once. */
	fake_write(&f, pfns[npfns / 2], 0x55);

	bm = new_bitmap(info.nr_pages);
	cr_assert(eq(int, ops->suspend(d), 0));
	cr_assert(eq(int, ops->dirty_read_clear(d, bm, &count), 0));
	cr_assert(eq(int, ops->resume(d), 0));
	cr_assert(eq(u64, count, npfns));
	for (i = 0; i < info.nr_pages; i++) {
		want = 0;
		for (j = 0; j < npfns; j++)
			want |= pfns[j] == i;
		cr_assert(eq(int, bit(bm, i), want), "page %llu",
		    (unsigned long long)i);
	}

	/* Cleared: nothing written since. */
	memset(bm, 0, (info.nr_pages + 63) / 64 * 8);
	cr_assert(eq(int, ops->suspend(d), 0));
	cr_assert(eq(int, ops->dirty_read_clear(d, bm, &count), 0));
	cr_assert(eq(int, ops->resume(d), 0));
	cr_assert(eq(u64, count, 0));

	/* And tracking goes on. */
	fake_write(&f, 7, 1);
	cr_assert(eq(int, ops->suspend(d), 0));
	cr_assert(eq(int, ops->dirty_read_clear(d, bm, &count), 0));
	cr_assert(eq(int, ops->resume(d), 0));
	cr_assert(eq(u64, count, 1));
	cr_assert(eq(int, bit(bm, 7), 1));

	free(bm);
	ops->close(d);
	fake_stop(&f);
}

static void
check_exact_dirty(const char *method)
{
	check_dirty_set(method, small_pfns,
	    sizeof small_pfns / sizeof small_pfns[0]);
}

TestSuite(domain_proc, .init = setup, .timeout = 120);

Test(domain_proc, registry_finds_proc_and_rejects_unknown)
{
	const char *rest = NULL;

	cr_assert(eq(str, (char *)domain_ops_lookup("proc:42", &rest)->name,
	    "proc"));
	cr_assert(eq(str, (char *)rest, "42"));
	errno = 0;
	cr_assert_null(domain_ops_lookup("nosuch:1", &rest));
	cr_assert(eq(int, errno, ENOENT));
	/* No prefix: a Xen domain name where the xen driver is built. */
	rest = NULL;
	if (domain_ops_lookup("xen:", NULL) != NULL) {
		cr_assert(eq(str, (char *)domain_ops_lookup("proc",
		    &rest)->name, "xen"));
		cr_assert(eq(str, (char *)rest, "proc"));
	} else
		cr_assert_null(domain_ops_lookup("proc", &rest));
	cr_assert_null(domain_ops_lookup("pro:1", &rest));
	cr_assert_not_null(replica_ops_lookup("proc"));
	cr_assert_null(replica_ops_lookup("nosuch"));
}

Test(domain_proc, open_rejects_missing_and_non_guests)
{
	char spec[32];

	errno = 0;
	cr_assert_null(ops->open("999999999", &topts));
	cr_assert(eq(int, errno, ENOENT));
	cr_assert_null(ops->open("12abc", &topts));
	cr_assert(eq(int, errno, EINVAL));
	/* We run, but are not a proc guest. */
	snprintf(spec, sizeof spec, "%d", (int)getpid());
	cr_assert_null(ops->open(spec, &topts));
	cr_assert(eq(int, errno, ENOENT));
}

Test(domain_proc, pagemap_scan_available_on_new_kernels)
{
	struct fake f;
	const char *why = NULL;
	void *base = (void *)(uintptr_t)0x3e0000000000ull;
	int ok;

	f = fake_start(NULL);
	ok = proc_dirty_scan_supported(f.pid, (uintptr_t)base,
	    (uint64_t)FAKE_PAGES * (uint64_t)ps, &why);
	fake_stop(&f);
	if (!kernel_at_least(6, 7)) {
		if (!ok)
			cr_skip_test("kernel before 6.7: %s", why);
		return;
	}
	cr_assert(ok, "PAGEMAP_SCAN on Linux >= 6.7: %s", why);
}

Test(domain_proc, dirty_log_is_exact_auto)
{
	check_exact_dirty(NULL);
}

Test(domain_proc, dirty_log_is_exact_pagemap_scan)
{
	const char *why;
	struct fake f = fake_start(NULL);
	int ok = proc_dirty_scan_supported(f.pid, 0x3e0000000000ull,
	    (uint64_t)FAKE_PAGES * (uint64_t)ps, &why);

	fake_stop(&f);
	if (!ok)
		cr_skip_test("pagemap-scan unavailable: %s", why);
	check_exact_dirty("pagemap-scan");
}

/* A vector of 2 regions: every scan fills it and goes on from where the
 * kernel stopped (walk_end). */
Test(domain_proc, dirty_log_is_exact_when_the_scan_vector_fills)
{
	const char *why;
	struct fake f = fake_start(NULL);
	int ok = proc_dirty_scan_supported(f.pid, 0x3e0000000000ull,
	    (uint64_t)FAKE_PAGES * (uint64_t)ps, &why);

	fake_stop(&f);
	if (!ok)
		cr_skip_test("pagemap-scan unavailable: %s", why);
	setenv("REMUS_PROC_SCAN_VEC", "2", 1);
	check_exact_dirty("pagemap-scan");
}

/* An arena big enough for the scan helper thread (three 128 MiB chunks
 * and a partial one): pages on both sides of every chunk boundary. */
Test(domain_proc, dirty_log_is_exact_with_the_scan_helper)
{
	static const uint64_t pfns[] = { 1, 32767, 32768, 32769, 40000,
	    65535, 65536, 98303, 98304, 98309 };

	fake_pages = 3 * 32768 + 10;
	check_dirty_set(NULL, pfns, sizeof pfns / sizeof pfns[0]);
	topts.scan_threads = 1;		/* --scan-threads 1 */
	check_dirty_set(NULL, pfns, sizeof pfns / sizeof pfns[0]);
}

Test(domain_proc, dirty_log_is_exact_softdirty)
{
	if (!proc_dirty_softdirty_supported())
		cr_skip_test("this kernel keeps no soft-dirty bits "
		    "(CONFIG_MEM_SOFT_DIRTY); covered by the kernel lab");
	check_exact_dirty("softdirty");
}

Test(domain_proc, forced_softdirty_fails_cleanly_without_it)
{
	struct fake f;
	char spec[32];

	if (proc_dirty_softdirty_supported())
		cr_skip_test("this kernel has soft-dirty bits");
	setenv("REMUS_PROC_DIRTY", "softdirty", 1);
	topts.dirty_method = "softdirty";
	f = fake_start(NULL);
	snprintf(spec, sizeof spec, "%d", (int)f.pid);
	errno = 0;
	cr_assert_null(ops->open(spec, &topts));
	cr_assert(eq(int, errno, ENOTSUP));
	fake_stop(&f);
}

Test(domain_proc, bad_method_is_rejected)
{
	topts.dirty_method = "bogus";
	errno = 0;
	cr_assert_null(ops->open("1", &topts));
	cr_assert(eq(int, errno, EINVAL));
}

Test(domain_proc, copy_pages_equals_guest_memory)
{
	struct domain_info info;
	struct domain *d;
	struct fake f;
	uint64_t pfns[] = { 3, 4, 5, 9, 700 }, all[FAKE_PAGES], i;
	uint8_t *buf, *want;
	size_t n = sizeof pfns / sizeof pfns[0], k;

	f = fake_start(NULL);
	d = open_pid(f.pid);
	ops->info(d, &info);
	for (i = 0; i < n; i++)
		fake_write(&f, pfns[i], (uint8_t)(0xa0 + i));
	cr_assert(eq(int, ops->suspend(d), 0));
	buf = malloc(n * (size_t)ps);
	want = malloc(n * (size_t)ps);
	cr_assert(eq(int, ops->copy_pages(d, pfns, n, buf), 0));
	cr_assert(eq(int, ops->resume(d), 0));
	for (i = 0; i < n; i++)
		memset(want + i * (size_t)ps, (int)(0xa0 + i), (size_t)ps);
	cr_assert(eq(int, memcmp(buf, want, n * (size_t)ps), 0));

	/* A full copy (runs long enough for the hole check): never-written
	 * pages read as zeroes, written ones as written. */
	for (i = 0; i < FAKE_PAGES; i++)
		all[i] = i;
	free(buf);
	buf = malloc((size_t)FAKE_PAGES * (size_t)ps);
	cr_assert(eq(int, ops->copy_pages(d, all, FAKE_PAGES, buf), 0));
	for (i = 1; i < FAKE_PAGES; i++) {
		uint8_t exp = 0;

		for (k = 0; k < n; k++)
			if (pfns[k] == i)
				exp = (uint8_t)(0xa0 + k);
		cr_assert(eq(u8, buf[i * (size_t)ps], exp), "page %llu",
		    (unsigned long long)i);
		cr_assert(eq(u8, buf[i * (size_t)ps + (size_t)ps - 1], exp));
	}
	/* Out of range. */
	all[0] = FAKE_PAGES;
	cr_assert(eq(int, ops->copy_pages(d, all, 1, buf), -1));
	cr_assert(eq(int, errno, EINVAL));
	free(buf);
	free(want);
	ops->close(d);
	fake_stop(&f);
}

Test(domain_proc, suspend_holds_the_guest_until_resume)
{
	struct domain *d;
	struct fake f;

	f = fake_start(NULL);
	d = open_pid(f.pid);
	cr_assert(eq(int, ops->suspend(d), 0));
	/* Paused at its safe point: it runs no command. */
	fake_send(&f, CMD_WRITE, 10, 1);
	cr_assert(not(fake_acked_within(&f, 300)));
	cr_assert(eq(int, ops->resume(d), 0));
	fake_ack(&f);
	/* Suspend again works (sequence numbers advance). */
	cr_assert(eq(int, ops->suspend(d), 0));
	cr_assert(eq(int, ops->resume(d), 0));
	fake_write(&f, 11, 1);
	ops->close(d);
	fake_stop(&f);
}

Test(domain_proc, close_while_suspended_releases_the_guest)
{
	struct domain *d;
	struct fake f;

	f = fake_start(NULL);
	d = open_pid(f.pid);
	cr_assert(eq(int, ops->suspend(d), 0));
	ops->close(d);
	fake_write(&f, 10, 1);	/* would hang if still paused */
	/* A new controller can attach afterwards. */
	d = open_pid(f.pid);
	ops->close(d);
	fake_stop(&f);
}

Test(domain_proc, suspend_times_out_on_a_busy_guest)
{
	struct domain *d;
	struct fake f;

	topts.suspend_timeout_ms = 200;		/* --suspend-timeout */
	f = fake_start(NULL);
	d = open_pid(f.pid);
	fake_send(&f, CMD_SLEEP, 0, 1500);	/* no safe point for 1.5 s */
	fake_ack(&f);				/* it started sleeping */
	errno = 0;
	cr_assert(eq(int, ops->suspend(d), -1));
	cr_assert(eq(int, errno, ETIMEDOUT));
	fake_ack(&f);
	/* The cancelled suspend does not leave it paused... */
	fake_write(&f, 12, 1);
	/* ...and the next suspend is answered, not the stale one. */
	cr_assert(eq(int, ops->suspend(d), 0));
	cr_assert(eq(int, ops->resume(d), 0));
	ops->close(d);
	fake_stop(&f);
}

Test(domain_proc, dead_guest_is_a_clear_error)
{
	struct domain *d;
	struct fake f;

	f = fake_start(NULL);
	d = open_pid(f.pid);
	kill(f.pid, SIGKILL);
	waitpid(f.pid, NULL, 0);
	errno = 0;
	cr_assert(eq(int, ops->suspend(d), -1));
	cr_assert(eq(int, errno, ESRCH));
	ops->close(d);
	close(f.cmd_w);
	close(f.ack_r);
}

Test(domain_proc, second_controller_is_refused)
{
	struct domain *d;
	struct fake f;
	char spec[32];

	f = fake_start(NULL);
	d = open_pid(f.pid);
	snprintf(spec, sizeof spec, "%d", (int)f.pid);
	errno = 0;
	cr_assert_null(ops->open(spec, &topts));
	cr_assert(eq(int, errno, EBUSY));
	ops->close(d);
	fake_stop(&f);
}

Test(domain_proc, get_config_reports_size_needed)
{
	struct domain *d;
	struct fake f;
	char small[8], big[8192];
	size_t len = sizeof small;

	f = fake_start(NULL);
	d = open_pid(f.pid);
	cr_assert(eq(int, ops->get_config(d, small, &len), -1));
	cr_assert(eq(int, errno, ENOSPC));
	cr_assert(gt(sz, len, sizeof small));
	len = sizeof big;
	cr_assert(eq(int, ops->get_config(d, big, &len), 0));
	ops->close(d);
	fake_stop(&f);
}

/* ---- Replica with remus-dirtier ------------------------------------ */

static void
bin_path(char *buf, size_t len, const char *prog)
{
	const char *b = getenv("REMUS_BUILD");
	char self[PATH_MAX / 2];
	ssize_t n;

	if (b) {
		snprintf(buf, len, "%s/bin/%s", b, prog);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	cr_assert(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';	/* <build>/tests */
	snprintf(buf, len, "%s/../bin/%s", self, prog);
}

static pid_t
read_pidfile(const char *path, int wait_ms)
{
	FILE *fp;
	int pid = -1, i;

	for (i = 0; i < wait_ms / 10; i++) {
		fp = fopen(path, "r");
		if (fp) {
			if (fscanf(fp, "%d", &pid) != 1)
				pid = -1;
			fclose(fp);
			if (pid > 0)
				return pid;
		}
		usleep(10000);
	}
	return -1;
}

/* "<seq> <sum> <suspends>" lines: the last one with SEQ. */
static int
sum_for(const char *log, uint64_t seq, uint64_t *sum, uint64_t *suspends)
{
	unsigned long long a, b, c;
	FILE *fp = fopen(log, "r");
	int found = 0;

	if (fp == NULL)
		return 0;
	while (fscanf(fp, "%llu %llx %llu", &a, &b, &c) == 3) {
		if (a == seq) {
			*sum = b;
			*suspends = c;
			found = 1;
		}
	}
	fclose(fp);
	return found;
}

/* One epoch the way the engine runs it, applied straight to R. */
static void
epoch(struct domain *d, const struct replica_ops *rops, struct replica *r,
    uint64_t n, uint64_t nr_pages)
{
	uint64_t *bm = new_bitmap(nr_pages), count, i, k = 0, *pfns;
	uint8_t *stage;

	cr_assert(eq(int, ops->suspend(d), 0));
	cr_assert(eq(int, ops->dirty_read_clear(d, bm, &count), 0));
	pfns = calloc(count + 1, 8);
	stage = malloc((count + 1) * (size_t)ps);
	for (i = 0; i < nr_pages; i++)
		if (bit(bm, i))
			pfns[k++] = i;
	cr_assert(eq(u64, k, count));
	cr_assert(eq(int, ops->copy_pages(d, pfns, count, stage), 0));
	cr_assert(eq(int, ops->resume(d), 0));
	for (i = 0; i < count; i++)
		memcpy(rops->page(r, pfns[i]), stage + i * (size_t)ps,
		    (size_t)ps);
	/* Epoch 1 also carries the full copy made before it: all pages. */
	if (n == 1) {
		free(pfns);
		pfns = calloc(nr_pages, 8);
		for (i = 0; i < nr_pages; i++)
			pfns[i] = i;
		count = nr_pages;
	}
	cr_assert(eq(int, rops->commit(r, n, pfns, count, NULL, 0), 0));
	free(bm);
	free(pfns);
	free(stage);
}

static void
start_dirtier(const char *prog, const char *log, const char *pidf)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	dup2(fd, 1);
	close_range(3, ~0u, 0);	/* not Criterion's pipes */
	execl(prog, prog, "--pages", "40", "--working-set", "300",
	    "--slice-ms", "5", "--checksum-log", log, "--pidfile", pidf,
	    (char *)NULL);
	_exit(127);
}

Test(domain_proc, replica_preserves_the_arena_and_activates)
{
	const struct replica_ops *rops = replica_ops_lookup("proc");
	char tmpdir[] = "/tmp/test-domain-proc.XXXXXX";
	char prog[PATH_MAX], pidf[PATH_MAX], log[PATH_MAX], dir[PATH_MAX];
	char cfg[8192], gpid[PATH_MAX], cmd[PATH_MAX + 16];
	struct domain_info info;
	struct replica *r;
	struct domain *d;
	uint64_t *all, i, sum = 0, susp = 0, n;
	size_t cfg_len = sizeof cfg;
	pid_t pid, pid2;
	uint8_t *stage;

	/* The activated guest is orphaned on purpose (activate forks
	 * twice); be its reaper rather than Criterion's runner. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	cr_assert_not_null(mkdtemp(tmpdir));
	bin_path(prog, sizeof prog, "remus-dirtier");
	cr_assert(eq(int, access(prog, X_OK), 0), "%s missing", prog);
	snprintf(pidf, sizeof pidf, "%s/dirtier.pid", tmpdir);
	snprintf(log, sizeof log, "%s/sums", tmpdir);
	snprintf(dir, sizeof dir, "%s/replica", tmpdir);
	snprintf(gpid, sizeof gpid, "%s/replica/proc-guest.pid", tmpdir);

	pid = fork();
	cr_assert(pid != -1);
	if (pid == 0)
		start_dirtier(prog, log, pidf);
	cr_assert(eq(int, (int)read_pidfile(pidf, 10000), (int)pid));
	d = open_pid(pid);
	ops->info(d, &info);
	cr_assert(eq(int, ops->get_config(d, cfg, &cfg_len), 0));

	r = rops->create(dir, NULL, cfg, cfg_len, &info, &topts);
	cr_assert_not_null(r);
	errno = 0;
	cr_assert(eq(int, rops->activate(r), -1), "nothing committed yet");
	cr_assert(eq(int, errno, ENOENT));
	cr_assert_null(rops->page(r, info.nr_pages));

	/* Epoch 1: clear, full copy while running, then a paused epoch. */
	cr_assert(eq(int, ops->logdirty_enable(d), 0));
	all = malloc(info.nr_pages * 8);
	stage = malloc(info.nr_pages * (size_t)ps);
	for (i = 0; i < info.nr_pages; i++)
		all[i] = i;
	cr_assert(eq(int, ops->copy_pages(d, all, info.nr_pages, stage), 0));
	for (i = 0; i < info.nr_pages; i++)
		memcpy(rops->page(r, i), stage + i * (size_t)ps, (size_t)ps);
	free(stage);
	free(all);
	for (n = 1; n <= 6; n++) {
		epoch(d, rops, r, n, info.nr_pages);
		usleep(20000);
	}
	ops->close(d);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	/* The replica equals the arena the guest summed at suspend 6. */
	cr_assert(sum_for(log, 6, &sum, &susp), "no checksum line 6");
	cr_assert(eq(u64, susp, 6));
	cr_assert(eq(u64, proc_sum(rops->page(r, 0),
	    info.nr_pages * (size_t)ps), sum));

	/* An activation that cannot be recorded (here a directory in the
	 * place of proc-guest.pid.new, its record until the guest runs; on a real backup a full disk even after
	 * the room set aside at create is freed) must not leave a copy
	 * running that no guard can find: the guest is killed before it
	 * resumes. */
	{
		char res[PATH_MAX + 32], rec[PATH_MAX + 8];
		int st, killed;
		pid_t z;

		snprintf(res, sizeof res, "%s/proc-activation.reserve", dir);
		cr_assert(eq(int, access(res, F_OK), 0), "no room set aside");
		snprintf(rec, sizeof rec, "%s.new", gpid);
		cr_assert(eq(int, mkdir(rec, 0700), 0));
		errno = 0;
		cr_assert(eq(int, rops->activate(r), -1));
		cr_assert(eq(int, errno, EIO));
		z = waitpid(-1, &st, 0);	/* we are its reaper */
		cr_assert(z > 0, "no killed guest to reap");
		killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
		cr_assert(killed, "the unrecorded guest was not killed "
		    "(status %#x)", st);
		cr_assert(eq(int, access(res, F_OK), -1), "room not used");
		cr_assert(eq(int, access(gpid, F_OK), -1), "pid file left");
		cr_assert(eq(int, rmdir(rec), 0));
	}

	/* Failover: the dirtier resumes from the replica and carries on
	 * with its counters (the 7th suspend it ever saw).  Its pid reaches
	 * us 300 ms late (a loaded host): the guest must still wait for
	 * its record before it runs, and the record name it. */
	fault_mask |= 1u << FI_ACTIVATE_SLOW_PID;
	cr_assert(eq(int, rops->activate(r), 0));
	fault_mask &= ~(1u << FI_ACTIVATE_SLOW_PID);
	pid2 = read_pidfile(gpid, 1000);
	cr_assert(pid2 > 0, "no activation record names the guest");
	cr_assert(eq(int, kill(pid2, 0), 0));
	errno = 0;
	cr_assert(eq(int, rops->activate(r), -1));
	cr_assert(eq(int, errno, EALREADY));
	d = open_pid(pid2);
	cr_assert(eq(int, ops->suspend(d), 0));
	cr_assert(eq(int, ops->resume(d), 0));
	ops->close(d);
	cr_assert(sum_for(log, 1, &sum, &susp));
	cr_assert(eq(u64, susp, 7), "the resumed guest lost its counters");
	rops->close(r);
	kill(pid2, SIGKILL);
	waitpid(pid2, NULL, 0);
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	(void)!system(cmd);
}

/* ---- Guest library: the arena allocator and resume ------------------- */

static struct proc_guest *
guest_here(uint64_t size, const char *resume)
{
	char *argv[] = { "unit-guest", NULL };
	struct proc_guest_opts o;

	memset(&o, 0, sizeof o);
	o.arena_size = size;
	o.resume_file = resume;
	o.prog_magic = 42;
	o.argc = 1;
	o.argv = argv;
	return proc_guest_open(&o);
}

Test(domain_proc, arena_allocator_reuses_and_aligns)
{
	struct proc_guest *g = guest_here(4 << 20, NULL);
	uint8_t *a, *b, *c, *big;
	size_t size;
	void *base;

	cr_assert_not_null(g);
	base = proc_guest_arena(g, &size);
	cr_assert(eq(sz, size, (size_t)4 << 20));
	a = proc_guest_alloc(g, 100);
	b = proc_guest_alloc(g, 100);
	cr_assert(a && b && a != b);
	cr_assert(eq(u64, (uintptr_t)a % 16, 0));
	cr_assert(a > (uint8_t *)base && a + 100 <= (uint8_t *)base + size);
	proc_guest_free(g, a);
	c = proc_guest_alloc(g, 90);	/* same size class */
	cr_assert(eq(ptr, c, a));
	big = proc_guest_calloc(g, 2 << 20);
	cr_assert_not_null(big);
	cr_assert(eq(u64, (uintptr_t)big % (uint64_t)ps, 0));
	cr_assert(eq(u8, big[(2 << 20) - 1], 0));
	errno = 0;
	cr_assert_null(proc_guest_alloc(g, 3 << 20));
	cr_assert(eq(int, errno, ENOMEM));
	cr_assert_str_eq(proc_guest_tracking(g), kernel_at_least(6, 7) ?
	    "uffd-wp" : "none");
	proc_guest_close(g);
}

Test(domain_proc, arena_resumes_with_its_root)
{
	char path[] = "/tmp/test-domain-proc-arena.XXXXXX";
	struct proc_guest *g = guest_here(1 << 20, NULL);
	uint64_t *v, sum;
	size_t size;
	void *base;
	int fd;

	cr_assert_not_null(g);
	v = proc_guest_alloc(g, 64);
	v[0] = 0x1234;
	proc_guest_set_root(g, v);
	base = proc_guest_arena(g, &size);
	fd = mkstemp(path);
	cr_assert(fd != -1);
	cr_assert(eq(int, (int)write(fd, base, size), (int)size));
	close(fd);
	sum = proc_sum(base, size);
	proc_guest_close(g);

	g = guest_here(0, path);
	cr_assert_not_null(g, "resume: %s", strerror(errno));
	cr_assert(proc_guest_resumed(g));
	v = proc_guest_root(g);
	cr_assert_not_null(v);
	cr_assert(eq(u64, v[0], 0x1234));
	base = proc_guest_arena(g, &size);
	cr_assert(eq(sz, size, (size_t)1 << 20));
	/* The header counts the resume (its generation). */
	cr_assert(ne(u64, proc_sum(base, size), sum));
	proc_guest_close(g);
	unlink(path);
}

Test(domain_proc, open_by_socket_path)
{
	struct domain_info info;
	struct domain *d;
	struct fake f;
	char spec[128];
	const char *dir = getenv("REMUS_PROC_RUNDIR");

	f = fake_start(NULL);
	snprintf(spec, sizeof spec, "%s/proc-%d.sock", dir ? dir : "/run/remus",
	    (int)f.pid);
	d = ops->open(spec, &topts);
	cr_assert_not_null(d, "open proc:%s: %s", spec, strerror(errno));
	ops->info(d, &info);
	cr_assert(eq(u64, info.nr_pages, FAKE_PAGES));
	cr_assert(eq(int, ops->suspend(d), 0));
	cr_assert(eq(int, ops->resume(d), 0));
	ops->close(d);
	errno = 0;
	cr_assert_null(ops->open("/nonexistent/proc.sock", &topts));
	cr_assert(eq(int, errno, ENOENT));
	fake_stop(&f);
}

/* A remus killed -9 (here: a child that exits without closing) leaves
 * its EOF queued; the next remus is not refused for it, and a guest the
 * dead one had suspended runs again.  The guest is stopped (SIGSTOP) while
 * the old controller dies and the new one connects, so that it finds both
 * at once, as on a loaded machine. */
Test(domain_proc, a_dead_controller_is_replaced)
{
	struct domain *d;
	struct fake f;
	char spec[32], b;
	pid_t c, h;
	int i, st, ok, up[2], go[2];

	f = fake_start(NULL);
	snprintf(spec, sizeof spec, "%d", (int)f.pid);
	for (i = 0; i < 2; i++) {
		cr_assert(eq(int, pipe(up), 0));
		cr_assert(eq(int, pipe(go), 0));
		c = fork();
		cr_assert(c != -1);
		if (c == 0) {
			d = ops->open(spec, &topts);
			if (d == NULL || (i == 1 && ops->suspend(d) == -1))
				_exit(1);
			if (write(up[1], "u", 1) != 1 || read(go[0], &b, 1) != 1)
				_exit(1);
			_exit(0);	/* no close: as if killed */
		}
		cr_assert(eq(int, (int)read(up[0], &b, 1), 1));
		kill(f.pid, SIGSTOP);
		cr_assert(eq(int, (int)write(go[1], "g", 1), 1));
		cr_assert(eq(int, (int)waitpid(c, &st, 0), (int)c));
		ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		cr_assert(ok, "round %d: the first controller failed", i);
		h = fork();
		if (h == 0) {
			usleep(200000);	/* we are in open() by then */
			kill(f.pid, SIGCONT);
			_exit(0);
		}
		d = ops->open(spec, &topts);
		waitpid(h, NULL, 0);
		cr_assert_not_null(d, "round %d: %s", i, strerror(errno));
		fake_write(&f, 20, 1);	/* it runs */
		cr_assert(eq(int, ops->suspend(d), 0));
		cr_assert(eq(int, ops->resume(d), 0));
		ops->close(d);
		close(up[0]);
		close(up[1]);
		close(go[0]);
		close(go[1]);
	}
	fake_stop(&f);
}
