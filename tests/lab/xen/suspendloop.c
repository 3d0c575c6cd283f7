/* tests/lab/xen/suspendloop.c -- the hypercalls of a checkpoint, without
 * remus: does a PVH guest survive being suspended and fast-resumed?
 *
 *   xen-suspendloop loop DOMID CYCLES INTERVAL_MS [logdirty] [scan]
 *   xen-suspendloop inspect DOMID
 *   xen-suspendloop resume DOMID
 *
 * loop: CYCLES times: let the guest run INTERVAL_MS, write "suspend" to
 * its control/shutdown node, wait until Xen reports it shut down for
 * suspend, and xc_domain_resume(fast = 1) -- the calls remus and xl remus
 * both make, and nothing else.  With "logdirty", log-dirty is on for the
 * whole loop and each cycle reads and clears the dirty bitmap while the
 * guest is suspended, as a checkpoint does.  With "scan", the guest's
 * whole frame space is mapped (read-only, 1024 frames at a time, holes
 * failing) once before the first cycle while the guest runs, as remus's
 * driver does at open to find the populated frames.  The domain's state
 * is polled
 * every millisecond or so, so a guest that dies is seen in the step of the
 * cycle it died in:
 *   running     the interval after a resume (ms_after_resume says when)
 *   suspending  between the request and Xen reporting the suspend
 * Prints
 *   @@SLOOP death cycle=N step=S ms_after_resume=N ms_after_request=N
 *       reason=R rip=... (inspect's fields)
 * and exits 3 when the guest died; else, at the end,
 *   @@SLOOP done cycles=N secs=X hz=X
 * Progress every 500 cycles (@@SLOOP progress).  Exit 1 on other errors.
 *
 * inspect: one line about a dead or live domain from its HVM context:
 *   reason=R rip=... rsp=... cr2=... cr3=... cs=... gs=... shadow_gs=...
 *   pending=...
 * the vCPU as it was when Xen stopped it (for a triple fault: where the
 * third fault was raised), for symbolising against the guest's System.map.
 *
 * resume: fast-resume a domain left suspended (xl remus -b stops so).
 */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>
#include <xenforeignmemory.h>
#include <sys/mman.h>
#include <xen/hvm/save.h>

/* SIGTERM ends the loop at the next interval, with the guest running:
 * `timeout` bounds a run without leaving the guest suspended. */
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static const char *
reason_str(const xc_dominfo_t *info)
{
	if (info->dying)
		return "dying";
	if (info->crashed)
		return "crash";
	if (!info->shutdown)
		return "running";
	switch (info->shutdown_reason) {
	case SHUTDOWN_poweroff:	return "poweroff";
	case SHUTDOWN_reboot:	return "reboot";	/* an HVM triple fault */
	case SHUTDOWN_suspend:	return "suspend";
	case SHUTDOWN_crash:	return "crash";
	case SHUTDOWN_watchdog:	return "watchdog";
	}
	return "other";
}

/* 1 suspended, 0 running, -1 dead (or gone) with REASON set. */
static int
state(xc_interface *xch, uint32_t domid, const char **reason)
{
	xc_dominfo_t info;

	if (xc_domain_getinfo(xch, domid, 1, &info) != 1 ||
	    info.domid != domid) {
		*reason = "gone";
		return -1;
	}
	*reason = reason_str(&info);
	if (info.dying || info.crashed)
		return -1;
	if (!info.shutdown)
		return 0;
	return info.shutdown_reason == SHUTDOWN_suspend ? 1 : -1;
}

/* The vCPU 0 registers of DOMID, on one line. */
static void
print_cpu(xc_interface *xch, uint32_t domid)
{
	struct hvm_hw_cpu cpu;

	if (xc_domain_hvm_getcontext_partial(xch, domid, HVM_SAVE_CODE(CPU),
	    0, &cpu, sizeof(cpu)) < 0) {
		printf(" rip=na (HVM context: %s)\n", strerror(errno));
		return;
	}
	printf(" rip=%016" PRIx64 " rsp=%#" PRIx64 " cr2=%#" PRIx64
	    " cr3=%#" PRIx64 " cr0=%#" PRIx64 " cs=%#x cs_ar=%#x"
	    " gs=%#" PRIx64 " shadow_gs=%#" PRIx64 " pending=%#x"
	    " rax=%#" PRIx64 "\n", cpu.rip, cpu.rsp, cpu.cr2, cpu.cr3,
	    cpu.cr0, cpu.cs_sel, cpu.cs_arbytes, cpu.gs_base, cpu.shadow_gs,
	    cpu.pending_event, cpu.rax);
}

static int
inspect(xc_interface *xch, uint32_t domid)
{
	const char *reason;

	(void)state(xch, domid, &reason);
	printf("reason=%s", reason);
	print_cpu(xch, domid);
	return 0;
}

static void
death(xc_interface *xch, uint32_t domid, unsigned long cycle,
    const char *step, uint64_t resumed, uint64_t requested,
    const char *reason)
{
	uint64_t t = mono_us();

	printf("@@SLOOP death cycle=%lu step=%s ms_after_resume=%" PRIu64
	    " ms_after_request=%s%" PRIu64 " reason=%s", cycle, step,
	    resumed ? (t - resumed) / 1000 : 0,
	    requested ? "" : "-", requested ? (t - requested) / 1000 : 0,
	    reason);
	print_cpu(xch, domid);
	fflush(stdout);
}

/* Map every frame of the guest's space once, 1024 at a time, as
 * domain-xen.c's scan_frames does; returns the number mapped. */
static long
scan(xc_interface *xch, uint32_t domid)
{
	enum { BATCH = 1024 };
	xenforeignmemory_handle *fmem;
	xen_pfn_t gpfns, gfns[BATCH];
	int errs[BATCH];
	uint64_t g, k;
	long n = 0;
	void *map;

	if (xc_domain_nr_gpfns(xch, domid, &gpfns) < 0)
		return -1;
	fmem = xenforeignmemory_open(NULL, 0);
	if (fmem == NULL)
		return -1;
	for (g = 0; g < gpfns; g += BATCH) {
		for (k = 0; k < BATCH; k++)
			gfns[k] = g + k;
		map = xenforeignmemory_map(fmem, domid, PROT_READ, BATCH,
		    gfns, errs);
		if (map == NULL)
			continue;
		for (k = 0; k < BATCH; k++)
			n += errs[k] == 0;
		xenforeignmemory_unmap(fmem, map, BATCH);
	}
	xenforeignmemory_close(fmem);
	return n;
}

static int
loop(xc_interface *xch, struct xs_handle *xsh, uint32_t domid,
    unsigned long cycles, unsigned interval_ms, int logdirty, int scanned)
{
	DECLARE_HYPERCALL_BUFFER(unsigned long, bm);
	xc_shadow_op_stats_t stats;
	char path[64];
	unsigned long c = 0;
	uint64_t t0, resumed = 0, requested, t;
	unsigned long nr_pfns = 0;
	const char *reason;
	int s, rc = 1;

	snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown",
	    domid);
	if (logdirty) {
		xen_pfn_t gpfns;

		/* The bitmap covers the guest's whole frame space, as in
		 * domain-xen.c. */
		if (xc_domain_nr_gpfns(xch, domid, &gpfns) < 0) {
			fprintf(stderr, "xen-suspendloop: nr gpfns: %s\n",
			    strerror(errno));
			return 1;
		}
		nr_pfns = (gpfns + 63) & ~63ul;
		bm = xc_hypercall_buffer_alloc_pages(xch, bm,
		    (int)((nr_pfns / 8 + 4095) / 4096));
		if (bm == NULL) {
			fprintf(stderr, "xen-suspendloop: bitmap buffer\n");
			return 1;
		}
		if (xc_shadow_control(xch, domid,
		    XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0) < 0) {
			fprintf(stderr, "xen-suspendloop: enable log-dirty: "
			    "%s\n", strerror(errno));
			goto out;
		}
	}
	if (scanned) {
		long n = scan(xch, domid);

		printf("@@SLOOP scan mapped=%ld\n", n);
	}
	t0 = mono_us();
	for (c = 0; c < cycles && !stop; c++) {
		/* The guest runs: watch it the whole interval. */
		t = mono_us();
		while (mono_us() - t < (uint64_t)interval_ms * 1000) {
			if (state(xch, domid, &reason) != 0) {
				death(xch, domid, c, "running", resumed, 0,
				    reason);
				rc = 3;
				goto out;
			}
			if (stop)
				break;
			usleep(1000);
		}
		if (stop)
			break;
		requested = mono_us();
		if (!xs_write(xsh, XBT_NULL, path, "suspend", 7)) {
			fprintf(stderr, "xen-suspendloop: write %s: %s\n",
			    path, strerror(errno));
			goto out;
		}
		while ((s = state(xch, domid, &reason)) == 0) {
			if (mono_us() - requested > 30000000) {
				fprintf(stderr, "xen-suspendloop: cycle %lu: "
				    "no suspend in 30 s\n", c);
				goto out;
			}
			usleep(500);
		}
		if (s == -1) {
			death(xch, domid, c, "suspending", resumed, requested,
			    reason);
			rc = 3;
			goto out;
		}
		if (logdirty && xc_logdirty_control(xch, domid,
		    XEN_DOMCTL_SHADOW_OP_CLEAN, HYPERCALL_BUFFER(bm),
		    nr_pfns, 0, &stats) < 0) {
			fprintf(stderr, "xen-suspendloop: read log-dirty: "
			    "%s\n", strerror(errno));
			goto out;
		}
		if (xc_domain_resume(xch, domid, 1) < 0) {
			fprintf(stderr, "xen-suspendloop: resume: %s\n",
			    strerror(errno));
			goto out;
		}
		resumed = mono_us();
		if ((c + 1) % 500 == 0) {
			printf("@@SLOOP progress cycles=%lu\n", c + 1);
			fflush(stdout);
		}
	}
	t = mono_us() - t0;
	printf("@@SLOOP done cycles=%lu secs=%.1f hz=%.2f\n", c, t / 1e6,
	    c / (t / 1e6));
	rc = 0;
out:
	/* A cycle count for the caller whatever happened. */
	printf("@@SLOOP cycles=%lu\n", c);
	if (logdirty && bm) {
		(void)xc_shadow_control(xch, domid, XEN_DOMCTL_SHADOW_OP_OFF,
		    NULL, 0);
		xc_hypercall_buffer_free_pages(xch, bm,
		    (int)((nr_pfns / 8 + 4095) / 4096));
	}
	return rc;
}

int
main(int argc, char **argv)
{
	xc_interface *xch;
	struct xs_handle *xsh = NULL;
	uint32_t domid;
	unsigned long cycles = 0;
	unsigned interval = 0;
	int i, rc, logdirty = 0, scanned = 0;
	const char *cmd = argc > 1 ? argv[1] : "";

	for (i = 5; strcmp(cmd, "loop") == 0 && i < argc; i++) {
		if (strcmp(argv[i], "logdirty") == 0)
			logdirty = 1;
		else if (strcmp(argv[i], "scan") == 0)
			scanned = 1;
		else
			cmd = "";
	}
	if (!(strcmp(cmd, "loop") == 0 && argc >= 5) &&
	    !((strcmp(cmd, "inspect") == 0 || strcmp(cmd, "resume") == 0) &&
	    argc == 3)) {
		fprintf(stderr, "usage: xen-suspendloop loop DOMID CYCLES "
		    "INTERVAL_MS [logdirty] [scan]\n"
		    "       xen-suspendloop inspect|resume DOMID\n");
		return 2;
	}
	domid = (uint32_t)strtoul(argv[2], NULL, 10);
	if (domid == 0) {
		fprintf(stderr, "xen-suspendloop: not dom0\n");
		return 2;
	}
	xch = xc_interface_open(NULL, NULL, 0);
	if (xch == NULL) {
		fprintf(stderr, "xen-suspendloop: cannot open Xen's control "
		    "interface: %s\n", strerror(errno));
		return 1;
	}
	if (strcmp(cmd, "inspect") == 0) {
		rc = inspect(xch, domid);
		xc_interface_close(xch);
		return rc;
	}
	if (strcmp(cmd, "resume") == 0) {
		const char *reason;

		rc = 0;
		if (state(xch, domid, &reason) == 1 &&
		    xc_domain_resume(xch, domid, 1) < 0) {
			fprintf(stderr, "xen-suspendloop: resume: %s\n",
			    strerror(errno));
			rc = 1;
		}
		xc_interface_close(xch);
		return rc;
	}
	cycles = strtoul(argv[3], NULL, 10);
	interval = (unsigned)strtoul(argv[4], NULL, 10);
	xsh = xs_open(0);
	if (xsh == NULL) {
		fprintf(stderr, "xen-suspendloop: xenstore: %s\n",
		    strerror(errno));
		xc_interface_close(xch);
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	rc = loop(xch, xsh, domid, cycles, interval, logdirty, scanned);
	xs_close(xsh);
	xc_interface_close(xch);
	return rc;
}
