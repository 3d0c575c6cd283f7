/* domain/domain-xen.c -- the "xen" guest driver: a Xen 4.17 PVH domain.
 *
 * Primary (domain_xen_ops), one epoch:
 *   suspend   xenstore control/shutdown = "suspend"; the guest's kernel
 *             freezes, disconnects its devices and makes the
 *             SCHEDOP_shutdown(suspend) hypercall; we poll the domain info
 *             until Xen reports it shut down for suspend (as libxl does).
 *   dirty     Xen's log-dirty bitmap, read and cleared in one domctl
 *             (XEN_DOMCTL_SHADOW_OP_CLEAN).  HAP only: Debian's Xen has no
 *             shadow paging, so PV guests cannot do log-dirty and are
 *             refused at open.
 *   copy      read-only foreign mappings of the guest's frames, kept in a
 *             chunk cache across epochs, memcpy into the staging buffer.
 *             Frames that are not RAM (holes, MMIO) copy as zeros.
 *   state     TSC info + the HVM context (vCPU registers, LAPIC, ...) +
 *             the HVM params libxenguest's migration v2 saves, in one
 *             blob (struct xen_state below).
 *   resume    xc_domain_resume(fast): the suspend hypercall returns 1
 *             ("cancelled") and the guest carries on with its devices.
 *
 * Backup (replica_xen_ops): get_config on the primary is libxl's JSON
 * description of the domain.  create() has libxl build a paused twin
 * ("<name>--backup") from it: libxl does the toolstack work (xenstore,
 * console, vif backends, grant seeding) and we only own the memory and the
 * vCPU state.  page() hands out writable foreign mappings of the twin's
 * RAM, so committed pages are written straight into the paused domain.
 * The xenstore and console rings stay the twin's own (fresh, connected to
 * this host's daemons).  activate() loads the last committed state with
 * the hypercall's return value left at 0: the guest believes it has been
 * migrated, re-attaches to xenstore and reconnects its devices, exactly
 * as after "xl migrate"; then unpause, and rename the twin to the
 * original name once the primary is gone.
 *
 * HVM guests with qemu-xen in dom0 (issue 16): the same, and the device
 * model's state travels with each epoch -- QEMU is stopped over QMP once
 * the domain is suspended (no more emulated DMA into guest memory before
 * the dirty log is read), its state saved (xen-save-devices-state) for
 * the epoch's DEVICE_STATE record, and continued before the domain resumes, as
 * libxl's checkpoint does; its DMA writes reach Xen's dirty log through
 * the global dirty log libxl also turns on.  A guest without PV drivers
 * is suspended by Xen itself.  The twin's QEMU, which libxl started
 * fresh, is replaced once the twin is built by a standby waiting for an
 * incoming migration (dm_standby), its emulated NICs' taps plugged; at
 * failover it is given the committed state over QMP (dm_load) and the
 * guest announced.  Run end to end in the lab on an
 * HVM guest without PV drivers (tests/lab/xen/run hvm, docs/xen.md).
 *
 * Limitations: one vCPU state per blob is whatever xc_domain_hvm_getcontext
 * returns (all vCPUs); guests that balloon are not followed (the frame
 * layout is read at open); an HVM guest's device model must be qemu-xen in
 * dom0 (no stub domain, no qemu-traditional).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>
#include <xenforeignmemory.h>
#include <xentoollog.h>
#include <xen/hvm/params.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <net/if.h>
#include <libxl.h>
#include <libxl_utils.h>

#include "qmp.h"

#define LOG_PREFIX "xen: "
#include "diskmap.h"
#include "log.h"
#include "util.h"
#include "domain.h"
#include "xen-policy.h"
#include "drivers.h"

#define XEN_PAGE		4096u
#define CHUNK_SHIFT		10		/* 1024 frames, 4 MiB a mapping */
#define CHUNK_PAGES		(1u << CHUNK_SHIFT)
#define SUSPEND_TIMEOUT_MS_DEFAULT 10000
/* A guest kernel answers the xenstore watch within milliseconds; half a
 * second keeps the engine's loop (heartbeats) well inside a 1 s backup
 * timeout.  Two minutes covers an orderly shutdown of a full system. */
#define ACK_TIMEOUT_MS_DEFAULT	500
#define REFUSE_GRACE_MS_DEFAULT	120000
/* Each QMP exchange with an HVM guest's QEMU (connect, stop, save, cont):
 * milliseconds even under TCG; a QEMU that takes this long is stuck, and
 * the checkpoint fails as a failed copy would. */
#define QMP_TIMEOUT_MS		5000
/* QEMU's saved device state starts so ("QEVM", then its version 3). */
#define QEVM_MAGIC		"QEVM"
#define STATE_MAGIC		0x31535852u	/* "RXS1" */

/* The HVM params libxenguest's migration v2 carries for HVM/PVH guests
 * (xg_sr_save_x86_hvm.c); zero values are not sent. */
static const uint32_t hvm_params[] = {
	HVM_PARAM_STORE_PFN, HVM_PARAM_IOREQ_PFN, HVM_PARAM_BUFIOREQ_PFN,
	HVM_PARAM_PAGING_RING_PFN, HVM_PARAM_MONITOR_RING_PFN,
	HVM_PARAM_SHARING_RING_PFN, HVM_PARAM_VM86_TSS_SIZED,
	HVM_PARAM_CONSOLE_PFN, HVM_PARAM_ACPI_IOPORTS_LOCATION,
	HVM_PARAM_VIRIDIAN, HVM_PARAM_IDENT_PT,
	HVM_PARAM_VM_GENERATION_ID_ADDR, HVM_PARAM_IOREQ_SERVER_PFN,
	HVM_PARAM_NR_IOREQ_SERVER_PAGES, HVM_PARAM_X87_FIP_WIDTH,
	HVM_PARAM_MCA_CAP,
};
#define NR_HVM_PARAMS	(sizeof(hvm_params) / sizeof(hvm_params[0]))

/* The guest-state blob (little endian, host layout: the backup is the
 * same architecture by construction). */
struct xen_state {
	uint32_t	magic;
	uint32_t	tsc_mode;
	uint64_t	tsc_elapsed_nsec;
	uint32_t	tsc_khz;
	uint32_t	tsc_incarnation;
	uint32_t	nr_params;
	uint32_t	ctx_len;
	uint64_t	params[NR_HVM_PARAMS][2];	/* index, value */
	/* HVM context follows, ctx_len bytes */
};
_Static_assert(sizeof(struct xen_state) == 32 + NR_HVM_PARAMS * 16,
    "xen_state layout");

/* A cached foreign mapping of CHUNK_PAGES consecutive frames. */
struct chunk {
	uint8_t		*map;		/* NULL: not mapped yet */
	int		*err;		/* per frame: 0 = mapped */
	uint8_t		**priv;		/* backup: private pages for holes */
};

struct xen_handles {
	xentoollog_logger_stdiostream *lg;
	xc_interface		*xch;
	xenforeignmemory_handle	*fmem;
	struct xs_handle	*xsh;
};

/* The guest's RAM as runs of frames.  Its frame space has a 4 GiB span
 * (RAM at the bottom, the rings just below 4 GiB) of which a 128 MiB guest
 * populates 3%: the engine sees only populated frames, densely numbered
 * (pfn = index into the runs), and the runs travel in the configuration
 * so that the backup numbers them the same way. */
struct run {
	uint64_t	gfn;
	uint64_t	count;
};
#define RUNS_MAGIC	0x314e5552u	/* "RUN1" */
#define MAX_RUNS	1024

struct frames {
	struct run	*runs;
	size_t		nr_runs;
	uint64_t	*idx2gfn;	/* nr_pages */
	uint64_t	nr_pages;
	uint64_t	gfn_span;	/* max gfn + 1 */
};

struct domain {
	struct xen_handles	h;
	uint32_t		domid;
	char			name[64];
	uint64_t		nr_pages;	/* populated frames */
	struct frames		fr;
	uint32_t		*gfn2idx;	/* gfn_span; UINT32_MAX: none */
	uint64_t		*xbitmap;	/* gfn-indexed copy */
	uint64_t		stray;		/* dirty frames outside the runs */
	struct chunk		*chunks;	/* gfn-indexed */
	size_t			nr_chunks;
	xc_hypercall_buffer_t	hb;		/* the dirty bitmap's */
	unsigned long		*hbitmap;	/* hb's data */
	size_t			bitmap_bytes;
	int			logdirty;
	int			suspended;
	int			suspended_once;	/* xl's daemon has left */
	int			held;		/* hold: paused for the operator */
	int			destroyed;	/* destroy: gone for good */
	int			lockfd;		/* remus-protect flock */
	int			timeout_ms;	/* acknowledged -> suspended */
	int			ack_ms;		/* request -> acknowledged */
	int			grace_ms;	/* refusals before failing */
	uint64_t		refused_since;	/* first refusal, 0: none */
	int			mapcache;	/* keep mappings across epochs */
	char			*json;		/* libxl's config, get_config */
	char			disks[512];	/* "vdev=target,...", at open */
	/* An HVM guest's device model (QEMU, libxl's "qemu-xen"): stopped
	 * while the domain is suspended, its state saved into DM_FILE and
	 * read into DM_BUF for the epoch (save_devices).  The QMP
	 * connection lives from suspend to resume only, as libxl's does:
	 * QEMU serves one client at a time, and xl needs it between. */
	/* A PVH guest's qdisk vbds that QEMU writes through dom0's page
	 * cache (no direct-io-safe): their devices, flushed at each
	 * checkpoint (flush_cached_disks). */
	int			flush_fd[DISKMAP_MAX];
	size_t			nflush;
	int			hvm_dm;
	int			hvm_nopv;	/* no PV drivers: suspended by
						 * the toolstack, as libxl does */
	char			qmp_path[64];
	char			dm_file[64];
	struct qmp		*qmp;
	int			dm_saving;	/* xen-save-devices-state sent,
						 * its reply not yet read */
	uint8_t			*dm_buf;
	size_t			dm_cap;
	int			dm_dirtylog;	/* QEMU reports its DMA writes */
};

struct replica {
	struct xen_handles	h;
	libxl_ctx		*ctx;
	uint32_t		domid;
	char			name[64];	/* the primary's name */
	char			twin[80];	/* ours: name--backup */
	char			dname[80];	/* remusd --dname, or "" */
	int			building;	/* libxl job running */
	int			broken;		/* the build or a commit failed */
	pid_t			job_pid;
	int			job_fd;
	uint64_t		build_us;
	uint64_t		nr_pages;
	struct frames		fr;
	struct chunk		*chunks;	/* gfn-indexed */
	size_t			nr_chunks;
	uint8_t			*scratch;	/* frames the twin lacks */
	uint64_t		nr_scratch;
	uint64_t		special[8];	/* frames kept the twin's own */
	size_t			nr_special;
	uint8_t			*state;
	size_t			state_len;
	uint64_t		epoch;
	int			active;
	char			*json;		/* the twin's libxl config */
	/* The loop devices of the twin's disks (one per vdev), held while
	 * the replica exists. */
	int			loop_fd[DISKMAP_MAX];
	char			loop_dev[DISKMAP_MAX][32];
	size_t			nloop;
	int			no_guardian;	/* remus -e / remusd -e */
	/* An HVM guest's device model state: the committed epoch's, and
	 * the one commit_devices gave for the epoch being committed. */
	int			hvm_dm;
	uint8_t			*dev;
	size_t			dev_len, dev_cap;
	uint8_t			*dev_pending;
	size_t			dev_pending_len, dev_pending_cap;
	uint64_t		dev_pending_epoch;
	/* Its standby device model (dm_standby): QEMU with libxl's command
	 * line (DM_ARGV, ending "-incoming defer") waiting for the state. */
	char			**dm_argv;
	pid_t			dm_pid;
};


/* ---- shared helpers ----------------------------------------------- */

static void
handles_close(struct xen_handles *h)
{
	if (h->xsh)
		xs_close(h->xsh);
	if (h->fmem)
		xenforeignmemory_close(h->fmem);
	if (h->xch)
		xc_interface_close(h->xch);
	if (h->lg)
		xtl_logger_destroy((xentoollog_logger *)h->lg);
	memset(h, 0, sizeof(*h));
}

/* Open libxenctrl, foreign memory and xenstore, with one clear line for
 * "not on Xen" and "not allowed". */
static int
handles_open(struct xen_handles *h)
{
	memset(h, 0, sizeof(*h));
	if (access("/proc/xen/capabilities", F_OK) == -1 &&
	    access("/dev/xen/privcmd", F_OK) == -1) {
		log_warnx("not running on Xen (no /proc/xen, no /dev/xen/privcmd)");
		errno = ENOTSUP;
		return -1;
	}
	h->lg = xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
	h->xch = xc_interface_open((xentoollog_logger *)h->lg, NULL, 0);
	if (h->xch == NULL) {
		int e = errno;
		if (e == EACCES || e == EPERM)
			log_warnx("no privileges for Xen's control interface "
			    "(run as root in dom0)");
		else
			log_warnx("cannot open Xen's control interface: %s "
			    "(not dom0, or xen-privcmd not loaded)", strerror(e));
		handles_close(h);
		errno = e == EACCES ? EPERM : (e ? e : ENOTSUP);
		return -1;
	}
	h->fmem = xenforeignmemory_open((xentoollog_logger *)h->lg, 0);
	if (h->fmem == NULL) {
		log_warn("xenforeignmemory_open");
		goto err;
	}
	h->xsh = xs_open(0);
	if (h->xsh == NULL) {
		log_warn("cannot connect to xenstored");
		goto err;
	}
	return 0;
err:
	{
		int e = errno;
		handles_close(h);
		errno = e;
	}
	return -1;
}

/* The domain named SPEC: a domid, or a name looked up in xenstore. */
static int
resolve_domid(struct xen_handles *h, const char *spec, uint32_t *domid,
    char *name, size_t namesz)
{
	char path[64], *v, **ents;
	unsigned n = 0, i;
	uint64_t id;

	if (spec == NULL || *spec == '\0') {
		log_warnx("empty domain: give a domid or a name (xen:NAME)");
		errno = EINVAL;
		return -1;
	}
	if (parse_uint(spec, 1, 0x7fef, &id) == 0) {
		*domid = (uint32_t)id;
		snprintf(path, sizeof(path), "/local/domain/%u/name", *domid);
		v = xs_read(h->xsh, XBT_NULL, path, NULL);
		snprintf(name, namesz, "%s", v ? v : spec);
		free(v);
		return 0;
	}
	ents = xs_directory(h->xsh, XBT_NULL, "/local/domain", &n);
	for (i = 0; ents && i < n; i++) {
		snprintf(path, sizeof(path), "/local/domain/%s/name", ents[i]);
		v = xs_read(h->xsh, XBT_NULL, path, NULL);
		if (v && strcmp(v, spec) == 0 &&
		    parse_uint(ents[i], 1, 0x7fef, &id) == 0) {
			free(v);
			free(ents);
			*domid = (uint32_t)id;
			snprintf(name, namesz, "%s", spec);
			return 0;
		}
		free(v);
	}
	free(ents);
	log_warnx("no such domain: %s", spec);
	errno = ENOENT;
	return -1;
}

static int
dominfo(xc_interface *xch, uint32_t domid, xc_dominfo_t *info)
{
	if (xc_domain_getinfo(xch, domid, 1, info) != 1 ||
	    info->domid != domid) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

static int
chunks_alloc(struct chunk **c, size_t *nr, uint64_t nr_pages)
{
	*nr = (size_t)((nr_pages + CHUNK_PAGES - 1) >> CHUNK_SHIFT);
	*c = calloc(*nr, sizeof(**c));
	return *c ? 0 : -1;
}

/* Map chunk CI of DOMID (PROT), frames beyond NR_PAGES excluded. */
static int
chunk_map(xenforeignmemory_handle *fmem, uint32_t domid, struct chunk *c,
    size_t ci, uint64_t nr_pages, int prot)
{
	xen_pfn_t gfns[CHUNK_PAGES];
	uint64_t first = (uint64_t)ci << CHUNK_SHIFT;
	size_t n = CHUNK_PAGES, i;

	if (first + n > nr_pages)
		n = (size_t)(nr_pages - first);
	c->err = calloc(CHUNK_PAGES, sizeof(int));
	if (c->err == NULL)
		return -1;
	for (i = 0; i < n; i++)
		gfns[i] = first + i;
	for (; i < CHUNK_PAGES; i++)
		c->err[i] = -ENOENT;
	c->map = xenforeignmemory_map(fmem, domid, prot, n, gfns, c->err);
	if (c->map == NULL) {
		/* Nothing at all mapped (a chunk of holes): keep the error
		 * array so the chunk is not tried again. */
		for (i = 0; i < CHUNK_PAGES; i++)
			c->err[i] = -ENOENT;
		c->map = MAP_FAILED;
	}
	return 0;
}

static void
chunks_free(xenforeignmemory_handle *fmem, struct chunk *c, size_t nr,
    uint64_t nr_pages)
{
	size_t i, j, n;

	for (i = 0; c && i < nr; i++) {
		n = CHUNK_PAGES;
		if (((uint64_t)i << CHUNK_SHIFT) + n > nr_pages)
			n = (size_t)(nr_pages - ((uint64_t)i << CHUNK_SHIFT));
		if (c[i].map && c[i].map != MAP_FAILED && fmem)
			xenforeignmemory_unmap(fmem, c[i].map, n);
		if (c[i].priv) {
			for (j = 0; j < CHUNK_PAGES; j++)
				free(c[i].priv[j]);
			free(c[i].priv);
		}
		free(c[i].err);
	}
	free(c);
}

static void
frames_free(struct frames *f)
{
	free(f->runs);
	free(f->idx2gfn);
	memset(f, 0, sizeof(*f));
}

/* Fill idx2gfn from the runs; checks that they are sane. */
static int
frames_index(struct frames *f)
{
	uint64_t n = 0, i, k, end = 0;
	size_t r;

	for (r = 0; r < f->nr_runs; r++) {
		if (f->runs[r].count == 0 || f->runs[r].gfn < end ||
		    f->runs[r].count > (1ull << 32)) {
			errno = EINVAL;
			return -1;
		}
		end = f->runs[r].gfn + f->runs[r].count;
		n += f->runs[r].count;
	}
	if (n == 0 || n > (1ull << 31)) {
		errno = EINVAL;
		return -1;
	}
	f->idx2gfn = malloc(n * sizeof(*f->idx2gfn));
	if (f->idx2gfn == NULL)
		return -1;
	for (r = 0, k = 0; r < f->nr_runs; r++)
		for (i = 0; i < f->runs[r].count; i++)
			f->idx2gfn[k++] = f->runs[r].gfn + i;
	f->nr_pages = n;
	return 0;
}

static void
chunk_unmap(xenforeignmemory_handle *fmem, struct chunk *c, size_t ci,
    uint64_t span)
{
	uint64_t first = (uint64_t)ci << CHUNK_SHIFT;
	size_t n = CHUNK_PAGES;

	if (first + n > span)
		n = (size_t)(span - first);
	if (c->map && c->map != MAP_FAILED)
		xenforeignmemory_unmap(fmem, c->map, n);
	c->map = NULL;
	free(c->err);
	c->err = NULL;
}

/* Chunk C of the gfn-indexed cache, mapped on first use. */
static struct chunk *
chunk_get(xenforeignmemory_handle *fmem, uint32_t domid, struct chunk *cs,
    size_t nr_chunks, uint64_t span, uint64_t gfn, int prot)
{
	size_t ci = (size_t)(gfn >> CHUNK_SHIFT);

	if (ci >= nr_chunks)
		return NULL;
	if (cs[ci].err == NULL &&
	    chunk_map(fmem, domid, &cs[ci], ci, span, prot) == -1)
		return NULL;
	return &cs[ci];
}

/* Refuse what we cannot protect, one line each.  *HVM_DM: an HVM guest
 * whose device model is libxl's qemu-xen in dom0 (its state is saved at
 * each checkpoint); *NOPV: it has no PV drivers to take a suspend
 * request. */
static int
check_guest_type(struct xen_handles *h, uint32_t domid, const char *name,
    int *hvm_dm, int *nopv)
{
	xc_dominfo_t info;
	char path[80], *type, *dm;

	if (dominfo(h->xch, domid, &info) == -1) {
		log_warnx("no such domain: %s (domid %u)", name, domid);
		errno = ENOENT;
		return -1;
	}
	if (domid == 0) {
		log_warnx("domain 0 cannot be protected");
		errno = EINVAL;
		return -1;
	}
	if (!info.hvm) {
		log_warnx("%s is a PV guest: log-dirty needs shadow paging, "
		    "which this Xen lacks; protect a PVH guest", name);
		errno = ENOTSUP;
		return -1;
	}
	snprintf(path, sizeof(path), "/libxl/%u/type", domid);
	type = xs_read(h->xsh, XBT_NULL, path, NULL);
	snprintf(path, sizeof(path), "/local/domain/0/device-model/%u", domid);
	dm = xs_read(h->xsh, XBT_NULL, path, NULL);
	*hvm_dm = *nopv = 0;
	/* A PVH guest can have a QEMU too: libxl starts one to serve its
	 * qdisk vbds (and other PV backends, "-machine xenpv").  It holds
	 * no guest state -- the frontends reconnect to fresh backends after
	 * a resume elsewhere, as after xl migrate, which saves nothing of
	 * it either -- so there is nothing of it to checkpoint. */
	if (dm && type && strcmp(type, "hvm") != 0)
		log_info("%s: its QEMU serves PV backends only (qdisk): "
		    "nothing of it is saved, the twin has its own backends",
		    name);
	else if ((type && strcmp(type, "hvm") == 0) || dm) {
		char *ver, *stub;
		uint64_t irq = 0;

		snprintf(path, sizeof(path), "/libxl/%u/dm-version", domid);
		ver = xs_read(h->xsh, XBT_NULL, path, NULL);
		snprintf(path, sizeof(path), "/local/domain/%u/image/"
		    "device-model-domid", domid);
		stub = xs_read(h->xsh, XBT_NULL, path, NULL);
		if (ver == NULL || strcmp(ver, "qemu_xen") != 0 ||
		    (stub && strcmp(stub, "0") != 0)) {
			log_warnx("%s is an HVM guest whose device model is "
			    "%s%s: only qemu-xen in dom0 is supported (its "
			    "state is saved over QMP)", name,
			    ver ? ver : "unknown", stub && strcmp(stub, "0") ?
			    " in a stub domain" : "");
			free(ver);
			free(stub);
			free(type);
			free(dm);
			errno = ENOTSUP;
			return -1;
		}
		free(ver);
		free(stub);
		*hvm_dm = 1;
		/* PV drivers register an event callback: without one the
		 * guest cannot answer a suspend request (libxl's test). */
		if (xc_hvm_param_get(h->xch, domid, HVM_PARAM_CALLBACK_IRQ,
		    &irq) == 0 && irq == 0)
			*nopv = 1;
	}
	free(type);
	free(dm);
	if (!info.hap) {
		log_warnx("%s runs without HAP: log-dirty needs HAP here",
		    name);
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

/* ---- children that use libxl ------------------------------------- */

/* libxl runs hotplug scripts as child processes and insists on owning
 * SIGCHLD while it has any (it asserts that no handler is installed), but
 * remus and remusd run libev, whose default loop does own SIGCHLD.  So
 * what spawns children -- building, destroying, restarting a domain --
 * runs in a forked child: the default SIGCHLD disposition, no signal
 * blocked, and a libxl context of its own logging to stderr.  0, or -1. */
static int
child_libxl_ctx(libxl_ctx **ctx)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	xentoollog_logger_stdiostream *lg;
	sigset_t all;

	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	lg = xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
	*ctx = NULL;
	return libxl_ctx_alloc(ctx, LIBXL_VERSION, 0,
	    (xentoollog_logger *)lg) == 0 ? 0 : -1;
}

/* ---- the guardian: a domain's own shutdowns ----------------------- */

/* What the configuration says to do when the guest shuts down for
 * REASON; 0 when nothing (a suspend, an unknown reason). */
static libxl_action_on_shutdown
shutdown_action(const libxl_domain_config *cfg, int reason)
{
	switch (reason) {
	case LIBXL_SHUTDOWN_REASON_POWEROFF:	return cfg->on_poweroff;
	case LIBXL_SHUTDOWN_REASON_REBOOT:	return cfg->on_reboot;
	case LIBXL_SHUTDOWN_REASON_CRASH:	return cfg->on_crash;
	case LIBXL_SHUTDOWN_REASON_WATCHDOG:	return cfg->on_watchdog;
	case LIBXL_SHUTDOWN_REASON_SOFT_RESET:	return cfg->on_soft_reset;
	}
	return 0;
}

/* Wait for DOMID to shut down; its reason, or -1 when it was destroyed
 * (by someone else) or on error.  A suspend is not the end: remus
 * checkpoints a failed-over guest it protects again, and resumes it. */
static int
guardian_wait(libxl_ctx *ctx, uint32_t domid)
{
	libxl_evgen_domain_death *w = NULL;
	libxl_dominfo info;
	libxl_event *ev;
	int reason;

again:
	reason = -1;
	if (libxl_evenable_domain_death(ctx, domid, 0, &w) != 0)
		return -1;
	for (;;) {
		if (libxl_event_wait(ctx, &ev, LIBXL_EVENTMASK_ALL, NULL,
		    NULL) != 0)
			break;
		if (ev->type == LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN) {
			reason = ev->u.domain_shutdown.shutdown_reason;
			libxl_event_free(ctx, ev);
			break;
		}
		if (ev->type == LIBXL_EVENT_TYPE_DOMAIN_DEATH) {
			libxl_event_free(ctx, ev);
			break;
		}
		libxl_event_free(ctx, ev);
	}
	libxl_evdisable_domain_death(ctx, w);
	if (reason != LIBXL_SHUTDOWN_REASON_SUSPEND)
		return reason;
	/* libxl reports a shutdown once per watch: wait for the resume
	 * (or the end), then watch afresh. */
	for (;;) {
		libxl_dominfo_init(&info);
		if (libxl_domain_info(ctx, &info, domid) != 0) {
			libxl_dominfo_dispose(&info);
			return -1;		/* gone */
		}
		int still = info.shutdown && info.shutdown_reason ==
		    LIBXL_SHUTDOWN_REASON_SUSPEND && !info.dying;
		libxl_dominfo_dispose(&info);
		if (!still)
			goto again;
		usleep(20000);
	}
}

/* A remus protecting DOMID holds an exclusive flock on this file for as
 * long as it runs: a second remus is refused, and a guardian waits for
 * protection to end before it acts (remus must see the guest's shutdown
 * as such, not find the domain destroyed under it and fail over). */
static void
lock_path(char *buf, size_t len, const char *what, uint32_t domid)
{
	snprintf(buf, len, "/run/xen/remus-%s.%u", what, domid);
}

/* Wait until no remus protects DOMID. */
static void
protect_wait(uint32_t domid)
{
	char path[64];
	int fd;

	lock_path(path, sizeof(path), "protect", domid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return;
	while (flock(fd, LOCK_SH) == -1 && errno == EINTR)
		;
	close(fd);
}

/* One guardian per domain: an flock on /run/xen/remus-guardian.DOMID,
 * held (the descriptor left open) until the guardian exits. */
static int
guardian_lock(uint32_t domid)
{
	char path[64];
	int fd;

	lock_path(path, sizeof(path), "guardian", domid);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return 0;	/* no lock to be had: watch anyway */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return -1;
	}
	return 0;
}

/* The guardian's life: carry out the guest's on_poweroff / on_reboot /
 * on_crash / on_watchdog as xl's per-domain daemon would -- destroy,
 * restart from the configuration (under the name the guest had then), or
 * preserve -- until the guest is gone. */
static void __dead
guardian_run(const char *json, uint32_t domid)
{
	libxl_domain_config cfg;
	libxl_action_on_shutdown act;
	libxl_ctx *ctx;
	char *name;
	int reason;

	libxl_domain_config_init(&cfg);
	if (child_libxl_ctx(&ctx) == -1 ||
	    libxl_domain_config_from_json(ctx, &cfg, json) != 0) {
		log_warnx("guardian: cannot read the guest's configuration");
		_exit(1);
	}
	for (;;) {
		if (guardian_lock(domid) == -1)
			_exit(0);	/* another guardian has this domain */
		reason = guardian_wait(ctx, domid);
		if (reason < 0)
			_exit(0);		/* destroyed: nothing to do */
		protect_wait(domid);
		act = shutdown_action(&cfg, reason);
		name = libxl_domid_to_name(ctx, domid);
		log_info("guardian: %s (domid %u) shut down (%s): %s",
		    name ? name : "?", domid,
		    libxl_shutdown_reason_to_string(reason) ?
		    libxl_shutdown_reason_to_string(reason) : "?",
		    act ? libxl_action_on_shutdown_to_string(act) : "none");
		switch ((int)act) {
		case 0:			/* an unknown reason */
			_exit(0);
		case LIBXL_ACTION_ON_SHUTDOWN_RESTART:
		case LIBXL_ACTION_ON_SHUTDOWN_RESTART_RENAME:
		case LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_RESTART:
			libxl_domain_destroy(ctx, domid, NULL);
			/* A fresh configuration each time: libxl fills in
			 * the one it creates from (as xl re-reads its own). */
			libxl_domain_config_dispose(&cfg);
			libxl_domain_config_init(&cfg);
			if (libxl_domain_config_from_json(ctx, &cfg,
			    json) != 0)
				_exit(1);
			free(cfg.c_info.name);
			cfg.c_info.name = name ? name : strdup("guest");
			name = NULL;
			if (libxl_domain_create_new(ctx, &cfg, &domid, NULL,
			    NULL) != 0 ||
			    libxl_domain_unpause(ctx, domid, NULL) != 0) {
				log_warnx("guardian: restarting %s failed",
				    cfg.c_info.name);
				_exit(1);
			}
			log_info("guardian: %s restarted as domid %u",
			    cfg.c_info.name, domid);
			continue;
		case LIBXL_ACTION_ON_SHUTDOWN_PRESERVE:
		case LIBXL_ACTION_ON_SHUTDOWN_SOFT_RESET:	/* not done */
			_exit(0);
		default:		/* destroy, coredump-destroy */
			libxl_domain_destroy(ctx, domid, NULL);
			_exit(0);
		}
	}
}

/* libxl's QMP socket of domain DOMID's QEMU (the primary's and the
 * twin's alike), into BUF of LEN bytes. */
static void
dm_qmp_path(uint32_t domid, char *buf, size_t len)
{
	snprintf(buf, len, "/var/run/xen/qmp-libxl-%u", domid);
}

/* In a child about to exec: standard input from /dev/null, not ours. */
static void
stdin_null(void)
{
	int z = open("/dev/null", O_RDONLY);

	if (z > 0) {
		dup2(z, 0);
		close(z);
	}
}

/* Fork a process that outlives us, as libxl spawns its helpers: a child
 * forks it and exits, so that init reaps it.  It has a session of its
 * own, the default action for the signals remus and remusd handle, and
 * nothing blocked; what it inherits of our descriptors is the caller's to
 * close.  0 in the new process; here its pid, or -1 with errno. */
static pid_t
fork_detached(void)
{
	int pfd[2];
	pid_t mid, g = -1;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		return -1;
	mid = fork();
	if (mid == -1) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (mid == 0) {
		struct sigaction sa = { .sa_handler = SIG_DFL };
		sigset_t none;

		g = fork();
		if (g != 0) {
			(void)write(pfd[1], &g, sizeof(g));
			_exit(g == -1);
		}
		close(pfd[0]);
		close(pfd[1]);
		setsid();
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGCHLD, &sa, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		return 0;
	}
	close(pfd[1]);
	if (read_full(pfd[0], &g, sizeof(g), NULL) == -1 || g <= 0) {
		g = -1;
		errno = ECHILD;
	}
	close(pfd[0]);
	while (waitpid(mid, NULL, 0) == -1 && errno == EINTR)
		;
	return g;
}

/* xl's per-domain daemon carries out on_poweroff/on_reboot/on_crash,
 * but it exits at the domain's first suspend ("Domain has suspended"),
 * taking it for a save.  So a domain remus has protected is watched by
 * nobody, and neither is a twin activated on the backup (xl never knew
 * it).  A detached child (it outlives remus and remusd) plays that part,
 * one per domain (a lock file says which domain is taken).  Its own
 * process, for the same SIGCHLD reason as the libxl jobs. */
static void
guardian_start(const char *json, uint32_t domid, const char *name)
{
	pid_t pid;

	if (json == NULL)
		return;
	pid = fork_detached();
	if (pid == -1) {
		log_warn("guardian for %s: fork", name);
		return;
	}
	if (pid == 0) {
		(void)close_range(3, ~0u, 0);	/* our sockets */
		guardian_run(json, domid);
	}
	log_info("%s: a guardian carries out its on_poweroff/on_reboot/"
	    "on_crash actions from now on", name);
}

/* ---- primary ------------------------------------------------------ */

static void xen_close(struct domain *);
static int load_config(struct domain *);

/* Map the whole frame space once (the mappings stay as the copy cache)
 * and record which frames are populated. */
static int
scan_frames(struct domain *d, uint64_t span)
{
	size_t ci, i, cap = 16;
	uint64_t gfn;
	struct chunk *c;

	d->fr.runs = malloc(cap * sizeof(*d->fr.runs));
	if (d->fr.runs == NULL)
		return -1;
	for (ci = 0; ci < d->nr_chunks; ci++) {
		c = chunk_get(d->h.fmem, d->domid, d->chunks, d->nr_chunks,
		    span, (uint64_t)ci << CHUNK_SHIFT, PROT_READ);
		if (c == NULL) {
			log_warn("%s: map frames", d->name);
			return -1;
		}
		for (i = 0; i < CHUNK_PAGES; i++) {
			if (c->map == MAP_FAILED || c->err[i] != 0)
				continue;
			gfn = ((uint64_t)ci << CHUNK_SHIFT) + i;
			struct run *last = d->fr.nr_runs ?
			    &d->fr.runs[d->fr.nr_runs - 1] : NULL;
			if (last && last->gfn + last->count == gfn) {
				last->count++;
				continue;
			}
			if (d->fr.nr_runs == MAX_RUNS) {
				log_warnx("%s: guest memory in more than %d "
				    "pieces", d->name, MAX_RUNS);
				errno = E2BIG;
				return -1;
			}
			if (d->fr.nr_runs == cap) {
				void *p = realloc(d->fr.runs,
				    2 * cap * sizeof(*d->fr.runs));
				if (p == NULL)
					return -1;
				d->fr.runs = p;
				cap *= 2;
			}
			d->fr.runs[d->fr.nr_runs].gfn = gfn;
			d->fr.runs[d->fr.nr_runs].count = 1;
			d->fr.nr_runs++;
		}
		chunk_unmap(d->h.fmem, c, ci, span);
	}
	if (frames_index(&d->fr) == -1) {
		log_warnx("%s: no guest memory could be mapped", d->name);
		errno = EIO;
		return -1;
	}
	d->nr_pages = d->fr.nr_pages;
	d->gfn2idx = malloc(span * sizeof(*d->gfn2idx));
	if (d->gfn2idx == NULL)
		return -1;
	memset(d->gfn2idx, 0xff, span * sizeof(*d->gfn2idx));
	for (gfn = 0; gfn < d->nr_pages; gfn++)
		d->gfn2idx[d->fr.idx2gfn[gfn]] = (uint32_t)gfn;
	return 0;
}

/* Take the domain's remus-protect lock; refused while another remus (or
 * xen-drvtest) has it. */
static int
protect_lock(struct domain *d)
{
	char path[64];

	lock_path(path, sizeof(path), "protect", d->domid);
	d->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lockfd == -1)
		return 0;	/* no /run/xen: go without */
	if (flock(d->lockfd, LOCK_EX | LOCK_NB) == -1) {
		log_warnx("%s (domid %u) is already protected by another "
		    "remus", d->name, d->domid);
		errno = EBUSY;
		return -1;
	}
	return 0;
}

static struct domain *
xen_open(const char *spec, const struct domain_opts *o)
{
	struct domain *d;
	xen_pfn_t gpfns;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->lockfd = -1;
	/* remus --suspend-timeout, --xen-ack-timeout, --xen-refuse-grace. */
	d->timeout_ms = o && o->suspend_timeout_ms ?
	    (int)o->suspend_timeout_ms : SUSPEND_TIMEOUT_MS_DEFAULT;
	d->ack_ms = o && o->xen_ack_timeout_ms ?
	    (int)o->xen_ack_timeout_ms : ACK_TIMEOUT_MS_DEFAULT;
	d->grace_ms = o && o->xen_refuse_grace_ms ?
	    (int)o->xen_refuse_grace_ms : REFUSE_GRACE_MS_DEFAULT;
	d->mapcache = o && o->xen_mapcache;	/* remus --xen-mapcache */
	if (handles_open(&d->h) == -1)
		goto err;
	if (resolve_domid(&d->h, spec, &d->domid, d->name,
	    sizeof(d->name)) == -1)
		goto err;
	if (check_guest_type(&d->h, d->domid, d->name, &d->hvm_dm,
	    &d->hvm_nopv) == -1)
		goto err;
	if (protect_lock(d) == -1)
		goto err;
	/* Only once the lock is ours: xen_close removes dm_file, and a
	 * second remus refused here removed the running one's file
	 * between QEMU's writing it and its reading it back (that epoch
	 * failed, and with it the protection: a lab run saw it). */
	if (d->hvm_dm) {
		/* libxl's QMP socket for the domain's QEMU, and where QEMU
		 * writes its state for us (libxl's is qemu-save.<domid>). */
		dm_qmp_path(d->domid, d->qmp_path, sizeof(d->qmp_path));
		snprintf(d->dm_file, sizeof(d->dm_file),
		    "/var/lib/xen/remus-dm-save.%u", d->domid);
	}
	if (load_config(d) == -1)
		goto err;
	if (xc_domain_nr_gpfns(d->h.xch, d->domid, &gpfns) < 0) {
		log_warn("%s: size of the guest's frame space", d->name);
		goto err;
	}
	d->fr.gfn_span = gpfns;
	if (chunks_alloc(&d->chunks, &d->nr_chunks, gpfns) == -1)
		goto err;
	if (scan_frames(d, gpfns) == -1)
		goto err;
	d->bitmap_bytes = (size_t)((gpfns + 63) / 64 * 8);
	{
		DECLARE_HYPERCALL_BUFFER_SHADOW(unsigned long, bm, &d->hb);
		(void)bm;
		bm = xc_hypercall_buffer_alloc_pages(d->h.xch, bm,
		    (int)((d->bitmap_bytes + XEN_PAGE - 1) / XEN_PAGE));
		d->hbitmap = bm;
	}
	d->xbitmap = malloc(d->bitmap_bytes);
	if (d->hbitmap == NULL || d->xbitmap == NULL) {
		log_warn("%s: dirty bitmap buffer", d->name);
		goto err;
	}
	for (size_t ri = 0; ri < d->fr.nr_runs; ri++)
		log_debug("%s: frames %#" PRIx64 "+%" PRIu64, d->name,
		    d->fr.runs[ri].gfn, d->fr.runs[ri].count);
	log_info("%s: domid %u, %s, %" PRIu64 " frames in %zu runs (span %"
	    PRIu64 ")", d->name, d->domid, !d->hvm_dm ? "PVH" :
	    d->hvm_nopv ? "HVM with qemu-xen, no PV drivers" :
	    "HVM with qemu-xen and PV drivers", d->nr_pages, d->fr.nr_runs,
	    (uint64_t)gpfns);
	return d;
err:
	{
		int e = errno;
		xen_close(d);
		errno = e;
	}
	return NULL;
}

static void
xen_info(struct domain *d, struct domain_info *info)
{
	info->page_size = XEN_PAGE;
	info->nr_pages = d->nr_pages;
	/* XXX: log-dirty's CLEAN is one step per page too (live migration
	 * reads it while the domain runs), so the engine's pre-copy would
	 * be correct here; not measured in the Xen lab yet, so not said. */
	info->flags = d->hvm_dm ? DOMAIN_INFO_DEVICE_MODEL : 0;
}

/* libxl's JSON description of the domain, for the backup to build its
 * twin from.  Read at open: under TCG libxl takes a second or more, and
 * get_config runs inside the handshake, where the backup counts the
 * silence. */
static int
load_config(struct domain *d)
{
	libxl_ctx *ctx = NULL;
	libxl_domain_config cfg;
	int rc = -1;

	libxl_domain_config_init(&cfg);
	if (libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0,
	    (xentoollog_logger *)d->h.lg) != 0) {
		log_warnx("%s: libxl context", d->name);
		errno = EIO;
		goto out;
	}
	if (libxl_retrieve_domain_configuration(ctx, d->domid, &cfg,
	    NULL) != 0) {
		log_warnx("%s: libxl has no configuration for domid %u (not "
		    "created by xl/libxl?)", d->name, d->domid);
		errno = ENOENT;
		goto out;
	}
	for (int i = 0; i < cfg.num_disks; i++) {
		size_t off = strlen(d->disks);

		/* QEMU's qdisk writes through dom0's page cache unless the
		 * vbd is direct-io-safe (O_DIRECT, which Debian 12's
		 * qemu-system-xen cannot do: no Linux AIO in that build): a
		 * write the guest saw complete reaches remus-diskd only at
		 * writeback, after its epoch closed, and a failover would
		 * run the guest on a disk without it (seen in the lab).
		 * Such a device is flushed at each checkpoint.  An HVM
		 * guest's QEMU is stopped then, which flushes its disks. */
		if (!d->hvm_dm && cfg.disks[i].backend ==
		    LIBXL_DISK_BACKEND_QDISK && !cfg.disks[i].direct_io_safe &&
		    cfg.disks[i].pdev_path != NULL) {
			int fd;

			if (d->nflush == DISKMAP_MAX) {
				log_warnx("%s: more than %d qdisk vbds",
				    d->name, DISKMAP_MAX);
				errno = E2BIG;
				goto out;
			}
			fd = open(cfg.disks[i].pdev_path, O_RDONLY | O_CLOEXEC);
			if (fd == -1) {
				log_warn("%s: disk %s: %s", d->name,
				    cfg.disks[i].vdev ? cfg.disks[i].vdev : "?",
				    cfg.disks[i].pdev_path);
				goto out;
			}
			d->flush_fd[d->nflush++] = fd;
			log_info("%s: disk %s: QEMU (qdisk) writes %s through "
			    "dom0's page cache: flushed at each checkpoint",
			    d->name, cfg.disks[i].vdev ? cfg.disks[i].vdev :
			    "?", cfg.disks[i].pdev_path);
		}
		snprintf(d->disks + off, sizeof(d->disks) - off, "%s%s=%s",
		    off ? "," : "", cfg.disks[i].vdev ? cfg.disks[i].vdev : "?",
		    cfg.disks[i].pdev_path ? cfg.disks[i].pdev_path : "");
	}
	d->json = libxl_domain_config_to_json(ctx, &cfg);
	if (d->json == NULL) {
		log_warnx("%s: configuration to JSON", d->name);
		errno = EIO;
		goto out;
	}
	rc = 0;
out:
	libxl_domain_config_dispose(&cfg);
	if (ctx)
		libxl_ctx_free(ctx);
	return rc;
}

static int
xen_get_config(struct domain *d, void *buf, size_t *len)
{
	/* JSON, its NUL, then the runs: magic, count, (gfn, count)... */
	size_t n = strlen(d->json) + 1;
	size_t need = n + 8 + d->fr.nr_runs * 16;
	uint32_t hdr[2] = { RUNS_MAGIC, (uint32_t)d->fr.nr_runs };

	if (need > *len) {
		log_warnx("%s: configuration is %zu bytes, room for %zu",
		    d->name, need, *len);
		errno = ENOSPC;
		return -1;
	}
	memcpy(buf, d->json, n);
	memcpy((uint8_t *)buf + n, hdr, 8);
	memcpy((uint8_t *)buf + n + 8, d->fr.runs, d->fr.nr_runs * 16);
	*len = need;
	return 0;
}

/* ---- an HVM guest's device model (QEMU over QMP) ------------------- */

/* The connection for this checkpoint, opened at need. */
static struct qmp *
dm_qmp(struct domain *d)
{
	if (d->qmp == NULL)
		d->qmp = qmp_open(d->qmp_path, QMP_TIMEOUT_MS);
	return d->qmp;
}

static void
dm_qmp_close(struct domain *d)
{
	qmp_close(d->qmp);
	d->qmp = NULL;
	d->dm_saving = 0;
}

/* QEMU writes guest memory itself (emulated DMA: disk reads, received
 * frames), through its own mappings, which Xen's log-dirty does not see;
 * with the global dirty log on it reports those writes to Xen
 * (HVMOP_modified_memory), so they show in the next read of the log.
 * libxl turns it on with log-dirty for the same reason. */
static int
dm_dirtylog(struct domain *d, int on)
{
	struct qmp *q = dm_qmp(d);
	int rc;

	if (q == NULL)
		return -1;
	rc = qmp_exec(q, "xen-set-global-dirty-log", on ?
	    "{\"enable\": true}" : "{\"enable\": false}", NULL);
	dm_qmp_close(d);
	if (rc == 0)
		d->dm_dirtylog = on;
	return rc;
}

/* While suspended: QEMU has been writing its device state to dm_file
 * since xen_suspend stopped it (the dirty log was read and the pages
 * copied meanwhile); its reply says the file is whole, and we read it
 * back for the epoch. */
static int
xen_save_devices(struct domain *d, uint32_t *kind, const void **buf,
    size_t *len)
{
	struct stat st;
	size_t got = 0;
	int fd = -1, rc;

	/* Only ever after xen_suspend, which asked for it (dm_saving: the
	 * connection is open). */
	errno = EPROTO;
	rc = d->dm_saving ? qmp_save_devices_end(d->qmp) : -1;
	d->dm_saving = 0;
	if (rc == -1) {
		log_warnx("%s: device model state not saved", d->name);
		goto err;
	}
	fd = open(d->dm_file, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		log_warn("%s: %s", d->name, d->dm_file);
		goto err;
	}
	/* At most a stream record's worth (QEMU of an HVM guest writes
	 * tens to hundreds of KiB -- ~200 with an e1000, its register file
	 * -- and its video RAM is guest memory, not in here). */
	if (st.st_size < 8 || st.st_size > (64 << 20) - 8) {
		log_warnx("%s: device model state of %lld bytes", d->name,
		    (long long)st.st_size);
		errno = EFBIG;
		goto err;
	}
	if (buf_reserve(&d->dm_buf, &d->dm_cap, (size_t)st.st_size) == -1)
		goto err;
	if (read_full(fd, d->dm_buf, (size_t)st.st_size, &got) == -1 ||
	    memcmp(d->dm_buf, QEVM_MAGIC, 4) != 0) {
		log_warnx("%s: %s is not QEMU device state (%zu bytes read)",
		    d->name, d->dm_file, got);
		errno = EPROTO;
		goto err;
	}
	close(fd);
	*kind = DOMAIN_DEVSTATE_QEMU;
	*buf = d->dm_buf;
	*len = (size_t)st.st_size;
	return 0;
err:
	if (fd != -1)
		close(fd);
	if (errno == 0)
		errno = EIO;
	return -1;
}

static int
xen_logdirty_enable(struct domain *d)
{
	xc_shadow_op_stats_t stats;

	if (xc_shadow_control(d->h.xch, d->domid,
	    XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0) < 0) {
		if (errno == EOPNOTSUPP)
			log_warnx("%s: Xen cannot track dirty pages of this "
			    "guest (log-dirty unsupported)", d->name);
		else
			log_warn("%s: enable log-dirty", d->name);
		return -1;
	}
	d->logdirty = 1;
	if (d->hvm_dm && dm_dirtylog(d, 1) == -1) {
		log_warnx("%s: device model cannot report its writes to "
		    "guest memory", d->name);
		return -1;
	}
	/* Start from a clean log. */
	DECLARE_HYPERCALL_BUFFER_SHADOW(unsigned long, bm, &d->hb);
	(void)bm;
	if (xc_logdirty_control(d->h.xch, d->domid,
	    XEN_DOMCTL_SHADOW_OP_CLEAN, HYPERCALL_BUFFER(bm), d->fr.gfn_span,
	    0, &stats) < 0) {
		log_warn("%s: clear log-dirty", d->name);
		return -1;
	}
	return 0;
}

static const char *
shutdown_reason_str(unsigned reason)
{
	switch (reason) {
	case SHUTDOWN_poweroff:		return "poweroff";
	case SHUTDOWN_reboot:		return "reboot";
	case SHUTDOWN_suspend:		return "suspend";
	case SHUTDOWN_crash:		return "crash";
	case SHUTDOWN_watchdog:		return "watchdog";
	case SHUTDOWN_soft_reset:	return "soft reset";
	}
	return "unknown reason";
}

/* 1 if the domain is shut down for suspend, 0 if running, -1 if gone or
 * shut down for another reason: errno ESHUTDOWN when the guest (or its
 * owner, xl shutdown/reboot) chose to stop -- the backup must not start
 * it again -- and ESRCH when it crashed or vanished, which is handled as
 * a lost host.  Xen reports an HVM triple fault as a reboot. */
static int
suspended_state(struct domain *d)
{
	xc_dominfo_t info;

	if (dominfo(d->h.xch, d->domid, &info) == -1) {
		log_warnx("%s: domain %u disappeared", d->name, d->domid);
		errno = ESRCH;
		return -1;
	}
	if (info.dying || info.crashed) {
		log_warnx("%s: domain is %s", d->name,
		    info.crashed ? "crashed" : "dying");
		errno = ESRCH;
		return -1;
	}
	if (!info.shutdown)
		return 0;
	if (info.shutdown_reason == SHUTDOWN_suspend)
		return 1;
	if (info.shutdown_reason == SHUTDOWN_poweroff ||
	    info.shutdown_reason == SHUTDOWN_reboot ||
	    info.shutdown_reason == SHUTDOWN_soft_reset) {
		log_warnx("%s: the guest shut down (%s) instead of suspending",
		    d->name, shutdown_reason_str(info.shutdown_reason));
		errno = ESHUTDOWN;
		return -1;
	}
	log_warnx("%s: domain shut down (%s, reason %u) instead of "
	    "suspending", d->name, shutdown_reason_str(info.shutdown_reason),
	    info.shutdown_reason);
	errno = ESRCH;
	return -1;
}

/* Write "suspend" to the guest's control/shutdown node, unless a request
 * of its owner is pending there (xl shutdown or reboot wrote "poweroff"
 * or "reboot" and the guest has not taken it yet): overwriting that would
 * lose it.  Then the guest acts on it, and the caller sees it shut down.
 * 0: suspend requested, 1: another request pending, -1: error. */
static int
request_suspend(struct domain *d, const char *path)
{
	xs_transaction_t t;
	unsigned len;
	char *v;

	for (;;) {
		t = xs_transaction_start(d->h.xsh);
		if (t == XBT_NULL)
			return -1;
		v = xs_read(d->h.xsh, t, path, &len);
		if (v && len > 0 && strcmp(v, "suspend") != 0) {
			log_info("%s: '%s' pending on control/shutdown: not "
			    "overwritten", d->name, v);
			free(v);
			xs_transaction_end(d->h.xsh, t, true);
			return 1;
		}
		free(v);
		if (!xs_write(d->h.xsh, t, path, "suspend", 7)) {
			xs_transaction_end(d->h.xsh, t, true);
			return -1;
		}
		if (xs_transaction_end(d->h.xsh, t, false))
			return 0;
		if (errno != EAGAIN)
			return -1;
	}
}

/* The guest did not suspend on request (WHY): EAGAIN while that has
 * lasted less than grace_ms, then ETIMEDOUT.  One line per streak. */
static int
refused(struct domain *d, const char *why)
{
	uint64_t now = now_us();

	if (d->refused_since == 0) {
		d->refused_since = now;
		log_warnx("%s: %s: trying again each interval, for up to %d s",
		    d->name, why, d->grace_ms / 1000);
	} else if (now - d->refused_since > (uint64_t)d->grace_ms * 1000) {
		log_warnx("%s: guest has not suspended on request for %d s",
		    d->name, d->grace_ms / 1000);
		errno = ETIMEDOUT;
		return -1;
	}
	errno = EAGAIN;
	return -1;
}

/* Take the suspend request back if the guest has not taken it: in one
 * transaction, so that a guest acknowledging meanwhile is seen as such.
 * 1: withdrawn (or never written), 0: the guest took it, -1: error. */
static int
withdraw_suspend(struct domain *d, const char *path)
{
	xs_transaction_t t;
	char *v;
	int r;

	for (;;) {
		t = xs_transaction_start(d->h.xsh);
		if (t == XBT_NULL)
			return -1;
		v = xs_read(d->h.xsh, t, path, NULL);
		r = v != NULL && strcmp(v, "suspend") == 0;
		free(v);
		if (r && !xs_write(d->h.xsh, t, path, "", 0)) {
			xs_transaction_end(d->h.xsh, t, true);
			return -1;
		}
		if (xs_transaction_end(d->h.xsh, t, false))
			return r;
		if (errno != EAGAIN)
			return -1;
	}
}

/* Ask the guest to suspend and wait until Xen reports it suspended.
 *
 * A guest that does not acknowledge the request within ack_ms is busy or
 * shutting down (Linux ignores "suspend" once it is powering off): the
 * request is withdrawn and EAGAIN tells the engine to try again an interval
 * later, so the event loop keeps the backup's heartbeat going meanwhile.
 * Only after grace_ms of such refusals is it a failure (ETIMEDOUT).  A
 * guest that acknowledged and is not suspended within timeout_ms counts
 * as refusing too: the request it took may have been a shutdown that
 * replaced ours. */
static int
suspend_guest(struct domain *d)
{
	char path[64];
	uint64_t t0 = now_us(), spin = 50, el;
	int s, asked, checked = 0;

	snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown",
	    d->domid);
	if (d->hvm_nopv) {
		/* Nothing in the guest can take a request: Xen suspends it
		 * (libxl does the same for such guests). */
		if (xc_domain_shutdown(d->h.xch, d->domid,
		    SHUTDOWN_suspend) < 0) {
			log_warn("%s: suspend", d->name);
			return -1;
		}
		asked = 2;
	} else
		asked = request_suspend(d, path);
	if (asked == -1) {
		log_warn("%s: request suspend", d->name);
		return -1;
	}
	for (;;) {
		s = suspended_state(d);
		if (s == 1)
			break;
		if (s == -1)
			return -1;
		el = now_us() - t0;
		if (!checked && asked != 2 &&
		    el > (uint64_t)d->ack_ms * 1000) {
			checked = 1;
			s = asked == 1 ? 1 : withdraw_suspend(d, path);
			if (s == -1) {
				log_warn("%s: withdraw suspend request",
				    d->name);
				return -1;
			}
			if (s == 1 && suspended_state(d) == 0)
				return refused(d, "guest did not take the "
				    "suspend request in time (busy, or shutting "
				    "down)");
		}
		if (el > (uint64_t)d->timeout_ms * 1000) {
			if (suspended_state(d) == 1)
				break;
			/* The node was cleared, but maybe not of our
			 * request: xl shutdown overwrites a pending
			 * "suspend" with "poweroff", and the guest took
			 * that.  Such a guest shuts down soon, and the next
			 * try sees it; one really stuck in its suspend runs
			 * into the grace like a guest that refuses. */
			return refused(d, "the suspend request was taken "
			    "(by the guest, or replaced by a shutdown "
			    "request) but the guest did not suspend in time");
		}
		struct timespec ts = { 0, (long)spin * 1000 };
		nanosleep(&ts, NULL);
		if (spin < 1000)
			spin *= 2;
	}
	if (d->refused_since)
		log_info("%s: guest suspends again after %.1f s of refusals",
		    d->name, (double)(now_us() - d->refused_since) / 1e6);
	d->refused_since = 0;
	d->suspended = 1;
	d->suspended_once = 1;
	return 0;
}

/* The guest suspended, its qdisk vbds' writes that dom0's page cache
 * still holds go to their devices (remus-diskd's nbd): before the
 * engine closes the epoch's disk log, every write the guest saw complete
 * is in it.  (A write still in QEMU's hands was not seen complete: the
 * guest's blkfront issues it again after a failover.)  Written out and
 * waited for, without fdatasync's cache flush, which remus-diskd would
 * turn into an fdatasync of its image every epoch: it logs a write when
 * the write arrives, and durability is the backup's, at commit. */
static int
flush_cached_disks(struct domain *d)
{
	size_t i;

	for (i = 0; i < d->nflush; i++)
		if (sync_file_range(d->flush_fd[i], 0, 0,
		    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
		    SYNC_FILE_RANGE_WAIT_AFTER) == -1) {
			log_warn("%s: write-out of a qdisk vbd's device",
			    d->name);
			return -1;
		}
	return 0;
}

static int
xen_suspend(struct domain *d)
{
	/* QMP's connect, greeting and negotiation are three exchanges with
	 * QEMU: done before the guest stops, not in its pause. */
	if (d->hvm_dm && dm_qmp(d) == NULL) {
		log_warnx("%s: device model does not answer", d->name);
		return -1;
	}
	if (suspend_guest(d) == -1) {
		/* Not suspended: QEMU's one QMP client slot is xl's again
		 * until the next try. */
		if (!d->suspended)
			dm_qmp_close(d);
		return -1;
	}
	if (flush_cached_disks(d) == -1)
		return -1;
	/* The device model stops too before the log is read: stopped, QEMU
	 * completes or cancels its I/O and writes no more guest memory
	 * until cont, so the pages copied are the pages it left. */
	if (d->hvm_dm && (dm_qmp(d) == NULL || qmp_stop(d->qmp) == -1)) {
		log_warnx("%s: device model did not stop", d->name);
		return -1;
	}
	/* Stopped, QEMU touches no guest memory: it writes its device
	 * state while the engine reads the dirty log and copies the pages
	 * (xen_save_devices collects the reply). */
	if (d->hvm_dm) {
		if (qmp_save_devices_begin(d->qmp, d->dm_file) == -1) {
			log_warnx("%s: device model state not asked for",
			    d->name);
			return -1;
		}
		d->dm_saving = 1;
	}
	return 0;
}

static int
xen_dirty_read_clear(struct domain *d, uint64_t *bitmap, uint64_t *count)
{
	xc_shadow_op_stats_t stats;
	uint64_t n = 0, stray = 0, gfn;
	size_t w, words = d->bitmap_bytes / 8;

	DECLARE_HYPERCALL_BUFFER_SHADOW(unsigned long, bm, &d->hb);
	(void)bm;
	if (xc_logdirty_control(d->h.xch, d->domid,
	    XEN_DOMCTL_SHADOW_OP_CLEAN, HYPERCALL_BUFFER(bm), d->fr.gfn_span,
	    0, &stats) < 0) {
		log_warn("%s: read log-dirty", d->name);
		return -1;
	}
	memcpy(d->xbitmap, d->hbitmap, d->bitmap_bytes);
	/* Xen's bitmap is per gfn; ours is per populated frame. */
	for (w = 0; w < words; w++) {
		uint64_t bits = d->xbitmap[w];

		while (bits) {
			gfn = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (gfn >= d->fr.gfn_span ||
			    d->gfn2idx[gfn] == UINT32_MAX) {
				stray++;
				continue;
			}
			uint32_t idx = d->gfn2idx[gfn];
			bitmap[idx / 64] |= 1ull << (idx % 64);
			n++;
		}
	}
	if (stray && d->stray == 0)
		log_warnx("%s: %" PRIu64 " dirty frames outside the memory "
		    "seen at attach (ballooning?) are not replicated",
		    d->name, stray);
	d->stray += stray;
	*count = n;
	return 0;
}

/* Map exactly the frames asked for, copy, unmap: what libxenguest's save
 * does, and the default (remus --xen-mapcache keeps chunk mappings). */
static int
copy_direct(struct domain *d, const uint64_t *pfns, size_t n, void *dst)
{
	xen_pfn_t gfns[CHUNK_PAGES];
	int errs[CHUNK_PAGES];
	uint8_t *out = dst, *map;
	size_t i, k, b;

	for (i = 0; i < n; i += b) {
		b = n - i < CHUNK_PAGES ? n - i : CHUNK_PAGES;
		for (k = 0; k < b; k++) {
			if (pfns[i + k] >= d->nr_pages) {
				log_warnx("%s: pfn %" PRIu64 " beyond %" PRIu64,
				    d->name, pfns[i + k], d->nr_pages);
				errno = EINVAL;
				return -1;
			}
			gfns[k] = d->fr.idx2gfn[pfns[i + k]];
		}
		map = xenforeignmemory_map(d->h.fmem, d->domid, PROT_READ, b,
		    gfns, errs);
		for (k = 0; k < b; k++, out += XEN_PAGE) {
			if (map == NULL || errs[k] != 0)
				memset(out, 0, XEN_PAGE);
			else
				memcpy(out, map + k * XEN_PAGE, XEN_PAGE);
		}
		if (map)
			xenforeignmemory_unmap(d->h.fmem, map, b);
	}
	return 0;
}

static int
xen_copy_pages(struct domain *d, const uint64_t *pfns, size_t n, void *dst)
{
	uint8_t *out = dst;
	size_t i;

	if (!d->mapcache)
		return copy_direct(d, pfns, n, dst);

	for (i = 0; i < n; i++, out += XEN_PAGE) {
		uint64_t gfn;
		size_t off;
		struct chunk *c;

		if (pfns[i] >= d->nr_pages) {
			log_warnx("%s: pfn %" PRIu64 " beyond %" PRIu64,
			    d->name, pfns[i], d->nr_pages);
			errno = EINVAL;
			return -1;
		}
		gfn = d->fr.idx2gfn[pfns[i]];
		off = (size_t)(gfn & (CHUNK_PAGES - 1));
		c = chunk_get(d->h.fmem, d->domid, d->chunks, d->nr_chunks,
		    d->fr.gfn_span, gfn, PROT_READ);
		if (c == NULL) {
			log_warn("%s: map frames", d->name);
			return -1;
		}
		if (c->map == MAP_FAILED || c->err[off] != 0)
			memset(out, 0, XEN_PAGE);
		else
			memcpy(out, c->map + off * XEN_PAGE, XEN_PAGE);
	}
	return 0;
}

static int
xen_save_state(struct domain *d, void *buf, size_t *len)
{
	struct xen_state *st = buf;
	int ctx_len;
	size_t i;

	if (*len < sizeof(*st)) {
		errno = ENOSPC;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->magic = STATE_MAGIC;
	if (xc_domain_get_tsc_info(d->h.xch, d->domid, &st->tsc_mode,
	    &st->tsc_elapsed_nsec, &st->tsc_khz,
	    &st->tsc_incarnation) < 0) {
		log_warn("%s: TSC info", d->name);
		return -1;
	}
	for (i = 0; i < NR_HVM_PARAMS; i++) {
		uint64_t v = 0;

		if (xc_hvm_param_get(d->h.xch, d->domid, hvm_params[i],
		    &v) < 0) {
			log_warn("%s: HVM param %u", d->name, hvm_params[i]);
			return -1;
		}
		if (v == 0)
			continue;
		st->params[st->nr_params][0] = hvm_params[i];
		st->params[st->nr_params][1] = v;
		st->nr_params++;
	}
	ctx_len = xc_domain_hvm_getcontext(d->h.xch, d->domid, NULL, 0);
	if (ctx_len <= 0) {
		log_warn("%s: HVM context size", d->name);
		return -1;
	}
	if (sizeof(*st) + (size_t)ctx_len > *len) {
		log_warnx("%s: HVM context is %d bytes, room for %zu",
		    d->name, ctx_len, *len - sizeof(*st));
		errno = ENOSPC;
		return -1;
	}
	ctx_len = xc_domain_hvm_getcontext(d->h.xch, d->domid,
	    (uint8_t *)buf + sizeof(*st), (uint32_t)(*len - sizeof(*st)));
	if (ctx_len <= 0) {
		log_warn("%s: HVM context", d->name);
		return -1;
	}
	st->ctx_len = (uint32_t)ctx_len;
	*len = sizeof(*st) + (size_t)ctx_len;
	return 0;
}

static int
xen_resume(struct domain *d)
{
	if (!d->suspended)
		return 0;
	/* The device model first, as libxl resumes: stopped, QEMU has
	 * switched its ioreq server off, and Xen drops what a running vCPU
	 * then writes to an emulated device (a UART's THR, a NIC's tail
	 * register) -- the device never sees it and its driver waits for
	 * an interrupt that never comes.  Seen in the lab: an HVM guest's
	 * serial console and e1000 dead after the first epochs. */
	if (d->hvm_dm) {
		int rc;

		/* A checkpoint that failed before taking the state leaves
		 * its reply in the way of cont's. */
		if (d->qmp != NULL && d->dm_saving) {
			(void)qmp_save_devices_end(d->qmp);
			d->dm_saving = 0;
		}
		rc = dm_qmp(d) == NULL ? -1 : qmp_cont(d->qmp);

		dm_qmp_close(d);
		if (rc == -1) {
			log_warnx("%s: device model did not continue",
			    d->name);
			return -1;
		}
	}
	if (xc_domain_resume(d->h.xch, d->domid, 1) < 0) {
		log_warn("%s: resume", d->name);
		return -1;
	}
	d->suspended = 0;
	return 0;
}

static void
xen_close(struct domain *d)
{
	if (d == NULL)
		return;
	if (d->destroyed)
		goto free;
	if (d->suspended)
		(void)xen_resume(d);
	if (d->logdirty && xc_shadow_control(d->h.xch, d->domid,
	    XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0 && errno != ESRCH)
		log_warn("%s: log-dirty off", d->name);
	if (d->dm_dirtylog)
		(void)dm_dirtylog(d, 0);
	/* Our first suspend sent xl's per-domain daemon away; whoever
	 * owns the domain from here, its on_* actions still apply. */
	if (d->suspended_once) {
		xc_dominfo_t info;

		if (dominfo(d->h.xch, d->domid, &info) == 0 && !info.dying)
			guardian_start(d->json, d->domid, d->name);
	}
free:
	dm_qmp_close(d);
	if (d->dm_file[0])
		(void)unlink(d->dm_file);
	free(d->dm_buf);
	if (d->lockfd != -1)
		close(d->lockfd);
	for (size_t i = 0; i < d->nflush; i++)
		close(d->flush_fd[i]);
	chunks_free(d->h.fmem, d->chunks, d->nr_chunks, d->fr.gfn_span);
	free(d->gfn2idx);
	free(d->xbitmap);
	free(d->json);
	frames_free(&d->fr);
	if (d->hbitmap) {
		DECLARE_HYPERCALL_BUFFER_SHADOW(unsigned long, bm, &d->hb);
		(void)bm;
		xc_hypercall_buffer_free_pages(d->h.xch, bm,
		    (int)((d->bitmap_bytes + XEN_PAGE - 1) / XEN_PAGE));
	}
	handles_close(&d->h);
	free(d);
}

/* The tap of QEMU's emulated NIC beside vif VIF, "<vif>-emu" (libxl's
 * name for it), into TAP (IF_NAMESIZE bytes): 1 when that interface
 * exists, 0 when not (a PV-only vif, or a name too long to be one). */
static int
emu_tap(const char *vif, char tap[IF_NAMESIZE])
{
	if (strlen(vif) + 4 >= IF_NAMESIZE)
		return 0;
	snprintf(tap, IF_NAMESIZE, "%s-emu", vif);
	return if_nametoindex(tap) != 0;
}

/* The guest's vifs as dom0 names them: the backend's "vifname" when the
 * configuration set one, else libxl's default vif<domid>.<devid>.  An
 * HVM guest's NIC of type ioemu is also QEMU's emulated NIC, on the tap
 * "<vif>-emu" (libxl's name for it): a guest without PV drivers talks
 * through that tap only, one with them through the vif once they have
 * unplugged the emulated NIC -- so both are buffered when both exist. */
static int
xen_net_ifaces(struct domain *d, char *buf, size_t len)
{
	char path[96], name[64], tap[IF_NAMESIZE], *v, **ents;
	unsigned n = 0, i;
	size_t off = 0;
	int k;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u",
	    d->domid);
	ents = xs_directory(d->h.xsh, XBT_NULL, path, &n);
	for (i = 0; ents && i < n; i++) {
		snprintf(path, sizeof(path),
		    "/local/domain/0/backend/vif/%u/%s/vifname", d->domid,
		    ents[i]);
		v = xs_read(d->h.xsh, XBT_NULL, path, NULL);
		if (v)
			snprintf(name, sizeof(name), "%s", v);
		else
			snprintf(name, sizeof(name), "vif%u.%s", d->domid,
			    ents[i]);
		free(v);
		if (!d->hvm_dm || !emu_tap(name, tap))
			tap[0] = '\0';
		k = snprintf(buf + off, len - off, "%s%s%s%s", off ? "," : "",
		    name, tap[0] ? "," : "", tap);
		if (k < 0 || (size_t)k >= len - off) {
			free(ents);
			log_warnx("%s: too many network interfaces", d->name);
			errno = ENOSPC;
			return -1;
		}
		off += (size_t)k;
	}
	free(ents);
	return 0;
}

static int
xen_disks(struct domain *d, char *buf, size_t len)
{
	size_t n = strlen(d->disks);

	if (n >= len) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(buf, d->disks, n + 1);
	return 0;
}

static int xen_destroy(struct domain *);
static int xen_hold(struct domain *);

const struct domain_ops domain_xen_ops = {
	.name			= "xen",
	.open			= xen_open,
	.info			= xen_info,
	.get_config		= xen_get_config,
	.logdirty_enable	= xen_logdirty_enable,
	.suspend		= xen_suspend,
	.dirty_read_clear	= xen_dirty_read_clear,
	.copy_pages		= xen_copy_pages,
	.save_state		= xen_save_state,
	.save_devices		= xen_save_devices,
	.resume			= xen_resume,
	.close			= xen_close,
	.net_ifaces		= xen_net_ifaces,
	.disks			= xen_disks,
	.destroy		= xen_destroy,
	.hold			= xen_hold,
};

/* ---- backup ------------------------------------------------------- */

static void xrep_close(struct replica *);

static int
is_special(const struct replica *r, uint64_t pfn)
{
	size_t i;

	for (i = 0; i < r->nr_special; i++)
		if (r->special[i] == pfn)
			return 1;
	return 0;
}

/* Building and destroying the twin run in a forked child (see
 * child_libxl_ctx); the result comes back through a pipe. */
struct libxl_job {
	const char	*json;		/* create: the domain's libxl JSON */
	const char	*name;		/* create: the twin's name */
	uint32_t	 domid;		/* destroy: the domain */
};

static int
job_create(libxl_ctx *ctx, const struct libxl_job *j, uint32_t *domid)
{
	libxl_domain_config cfg;
	int rc = -1;

	libxl_domain_config_init(&cfg);
	if (libxl_domain_config_from_json(ctx, &cfg, j->json) != 0)
		goto out;
	free(cfg.c_info.name);
	cfg.c_info.name = strdup(j->name);
	/* The on_* actions stay the guest's own: libxl keeps this
	 * configuration for the twin, and a guardian (or a later remus that
	 * protects the failed-over guest) reads them back from it. */
	/* libxl leaves a new domain paused until libxl_domain_unpause. */
	if (libxl_domain_create_new(ctx, &cfg, domid, NULL, NULL) == 0)
		rc = 0;
out:
	libxl_domain_config_dispose(&cfg);
	return rc;
}

/* Start J in a child: create when J->json is set, else destroy J->domid.
 * *PID and *FD (the result pipe) are for libxl_job_finish. */
static int
libxl_job_start(const struct libxl_job *j, pid_t *pidp, int *fdp)
{
	int fds[2];
	uint32_t out = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	pid = fork();
	if (pid == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		libxl_ctx *ctx;
		int ok = 0;

		close(fds[0]);
		if (child_libxl_ctx(&ctx) == 0) {
			if (j->json)
				ok = job_create(ctx, j, &out) == 0;
			else
				ok = libxl_domain_destroy(ctx, j->domid,
				    NULL) == 0;
		}
		if (ok && write(fds[1], &out, sizeof(out)) != sizeof(out))
			ok = 0;
		_exit(ok ? 0 : 1);
	}
	close(fds[1]);
	*pidp = pid;
	*fdp = fds[0];
	return 0;
}

/* Wait for the job; 0 and *DOMID (create), or -1 with errno = EIO. */
static int
libxl_job_finish(pid_t pid, int fd, uint32_t *domid)
{
	uint32_t out = 0;
	size_t got = 0;
	int status;

	if (read_full(fd, &out, sizeof(out), &got) == -1)
		got = 0;
	close(fd);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (got != sizeof(out)) {
		errno = EIO;
		return -1;
	}
	if (domid)
		*domid = out;
	return 0;
}

static int
libxl_job_run(const struct libxl_job *j, uint32_t *domid)
{
	pid_t pid;
	int fd;

	if (libxl_job_start(j, &pid, &fd) == -1)
		return -1;
	return libxl_job_finish(pid, fd, domid);
}

/* A planned switchover: the backup runs the guest now, from the state
 * this suspended copy has.  The domain goes for good, and its devices
 * with it (libxl's destroy, as `xl destroy`: the vif and vbd backends and
 * their hotplug scripts), so that close neither resumes it nor leaves a
 * guardian for it. */
static int
xen_destroy(struct domain *d)
{
	struct libxl_job j = { .domid = d->domid };

	if (libxl_job_run(&j, NULL) == -1) {
		log_warnx("%s: destroying domid %u failed", d->name, d->domid);
		return -1;
	}
	log_info("%s: domid %u destroyed: the guest runs on the backup",
	    d->name, d->domid);
	d->destroyed = 1;
	d->suspended = 0;
	return 0;
}

/* A switchover whose answer was lost: the backup may run the guest, so
 * this copy must not run again, even after remus is gone, until an
 * operator says.  Xen counts a controller's pause apart from a suspend:
 * paused first, the domain is resumed under the pause (remus does not
 * close a held domain), so that `xl unpause` is all it takes to run it
 * here -- or `xl destroy` to end it -- the operator's decision, as `kill
 * -CONT` is for a proc guest.  Log-dirty goes off, and a guardian takes
 * over its on_* actions as after any protection. */
static int
xen_hold(struct domain *d)
{
	if (xc_domain_pause(d->h.xch, d->domid) < 0) {
		log_warn("%s: pausing domid %u to hold it", d->name, d->domid);
		return -1;
	}
	d->held = 1;
	if (xen_resume(d) == -1)
		log_warnx("%s: domid %u stays suspended as well: `xl unpause` "
		    "will not run it", d->name, d->domid);
	if (d->logdirty && xc_shadow_control(d->h.xch, d->domid,
	    XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0)
		log_warn("%s: log-dirty off", d->name);
	d->logdirty = 0;
	if (d->suspended_once)
		guardian_start(d->json, d->domid, d->name);
	log_warnx("%s: domid %u held (paused): `xl destroy %s` when the "
	    "backup runs the guest, `xl unpause %s` when it does not",
	    d->name, d->domid, d->name, d->name);
	return 0;
}

static int	dm_standby(struct replica *);

/* The twin is built in the background while the first, full epoch
 * arrives (libxl takes tens of seconds under TCG; the handshake must not
 * wait for it).  twin_built reaps the build and maps the twin. */
static int
twin_built(struct replica *r)
{
	static const uint32_t own[] = { HVM_PARAM_STORE_PFN,
	    HVM_PARAM_CONSOLE_PFN, HVM_PARAM_IOREQ_PFN,
	    HVM_PARAM_BUFIOREQ_PFN, HVM_PARAM_PAGING_RING_PFN,
	    HVM_PARAM_MONITOR_RING_PFN, HVM_PARAM_SHARING_RING_PFN };
	xen_pfn_t gpfns;
	size_t i;

	if (r->broken) {
		errno = EIO;
		return -1;
	}
	if (!r->building)
		return 0;
	r->building = 0;
	r->broken = 1;
	if (libxl_job_finish(r->job_pid, r->job_fd, &r->domid) == -1) {
		r->domid = INVALID_DOMID;
		log_warnx("libxl could not build the backup domain %s",
		    r->twin);
		errno = EIO;
		return -1;
	}
	log_info("libxl built %s (domid %u) in %.1f s", r->twin, r->domid,
	    (double)(now_us() - r->build_us) / 1e6);
	if (xc_domain_nr_gpfns(r->h.xch, r->domid, &gpfns) < 0) {
		log_warn("%s: frame space", r->twin);
		return -1;
	}
	{
		const struct run *last = &r->fr.runs[r->fr.nr_runs - 1];
		uint64_t end = last->gfn + last->count;

		r->fr.gfn_span = end > gpfns ? end : gpfns;
	}
	if (chunks_alloc(&r->chunks, &r->nr_chunks, r->fr.gfn_span) == -1)
		return -1;
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		uint64_t v = 0;

		if (xc_hvm_param_get(r->h.xch, r->domid, own[i], &v) == 0 &&
		    v != 0)
			r->special[r->nr_special++] = v;
	}
	log_info("backup domain %s: domid %u, paused, %" PRIu64 " frames",
	    r->twin, r->domid, r->nr_pages);
	r->broken = 0;
	return 0;
}

/* Everything that touches the twin waits here first: built, and an HVM
 * twin's standby device model readied once, since a failover must not
 * wait for QEMU to start (dm_standby; if it cannot be readied now, the
 * failover starts one). */
static int
twin_ready(struct replica *r)
{
	int was_building = r->building;

	if (twin_built(r) == -1)
		return -1;
	if (was_building && r->hvm_dm && dm_standby(r) == -1)
		log_warnx("backup domain %u: no standby device model: a "
		    "failover will start one (seconds more)", r->domid);
	return 0;
}

/* IMAGE as a block device (a vbd needs one): a free loop device, bound
 * with autoclear, so it goes away once the last user (blkback, and our
 * fd, held while the replica exists) lets go.  The fd, or -1. */
static int
loop_attach(const char *image, char *dev, size_t len)
{
	struct loop_info64 li;
	int ctl, ifd = -1, lfd = -1, n, tries;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl == -1) {
		log_warn("/dev/loop-control (is the loop module loaded?)");
		return -1;
	}
	ifd = open(image, O_RDWR | O_CLOEXEC);
	if (ifd == -1) {
		log_warn("disk image %s", image);
		goto err;
	}
	/* Another process may take the free device between GET_FREE and
	 * SET_FD: then ask again. */
	for (tries = 0; tries < 8; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			log_warn("LOOP_CTL_GET_FREE");
			goto err;
		}
		snprintf(dev, len, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd == -1) {
			log_warn("%s", dev);
			goto err;
		}
		if (ioctl(lfd, LOOP_SET_FD, ifd) == 0)
			break;
		close(lfd);
		lfd = -1;
		if (errno != EBUSY) {
			log_warn("%s: LOOP_SET_FD %s", dev, image);
			goto err;
		}
	}
	if (lfd == -1) {
		log_warnx("no free loop device for %s", image);
		errno = EBUSY;
		goto err;
	}
	memset(&li, 0, sizeof(li));
	li.lo_flags = LO_FLAGS_AUTOCLEAR;
	snprintf((char *)li.lo_file_name, sizeof(li.lo_file_name), "%s", image);
	if (ioctl(lfd, LOOP_SET_STATUS64, &li) == -1) {
		log_warn("%s: LOOP_SET_STATUS64", dev);
		ioctl(lfd, LOOP_CLR_FD);
		goto err;
	}
	close(ifd);
	close(ctl);
	return lfd;
err:
	n = errno;
	if (lfd != -1)
		close(lfd);
	if (ifd != -1)
		close(ifd);
	close(ctl);
	errno = n;
	return -1;
}

/* The twin's disks are the backup's copies (DISKS), which diskbuf keeps
 * at the last committed epoch, each in place of the primary's device of
 * the same vdev (a /dev/nbdN of remus-diskd over there, meaningless
 * here): every guest disk at its place.  The policy checked already that
 * each vdev has its image (xen-policy.c). */
static int
twin_disks(struct replica *r, libxl_domain_config *cfg,
    const struct diskmap *disks)
{
	const char *vdev[DISKMAP_MAX];
	size_t idx[DISKMAP_MAX];
	char why[256];
	int i;

	if (cfg->num_disks < 0 || cfg->num_disks > DISKMAP_MAX) {
		log_warnx("backup domain %s: %d disks, at most %d replicated",
		    r->twin, cfg->num_disks, DISKMAP_MAX);
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < cfg->num_disks; i++)
		vdev[i] = cfg->disks[i].vdev ? cfg->disks[i].vdev : "";
	if (diskmap_match(disks, vdev, (size_t)cfg->num_disks, "the domain",
	    idx, why, sizeof(why)) == -1) {
		log_warnx("backup domain %s: %s", r->twin, why);
		errno = EPERM;
		return -1;
	}
	for (i = 0; i < cfg->num_disks; i++) {
		libxl_device_disk *dk = &cfg->disks[i];
		const char *image = disks->v[idx[i]].path;
		size_t k = r->nloop;

		r->loop_fd[k] = loop_attach(image, r->loop_dev[k],
		    sizeof(r->loop_dev[k]));
		if (r->loop_fd[k] == -1)
			return -1;
		r->nloop++;
		log_info("backup domain %s: disk %s is %s (%s) here, in place "
		    "of %s%s", r->twin, vdev[i], r->loop_dev[k], image,
		    dk->pdev_path ? dk->pdev_path : "?",
		    dk->backend == LIBXL_DISK_BACKEND_QDISK ? ", served by "
		    "QEMU (qdisk) as there" : "");
		/* The vbd's backend stays the guest's own: QEMU's qdisk
		 * opens the loop device as it opened the nbd one, and a
		 * phy: hotplug script takes either.  (Made phy, a qdisk
		 * vbd would get libxl's default block script, which this
		 * host may not run: a hotplug timeout, seen in the lab.) */
		free(dk->pdev_path);
		dk->pdev_path = strdup(r->loop_dev[k]);
		if (dk->backend != LIBXL_DISK_BACKEND_QDISK)
			dk->backend = LIBXL_DISK_BACKEND_PHY;
		dk->format = LIBXL_DISK_FORMAT_RAW;
		if (dk->pdev_path == NULL)
			return -1;
	}
	return 0;
}

static struct replica *
xrep_create(const char *dir, const struct replica_conf *conf,
    const void *config, size_t config_len, const struct domain_info *di,
    const struct domain_opts *o)
{
	const struct diskmap *disks = conf ? conf->disks : NULL;
	struct replica *r;
	libxl_domain_config cfg;
	char *json = NULL;

	(void)dir;
	(void)o;		/* no replica setting concerns Xen */
	libxl_domain_config_init(&cfg);
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto err;
	r->domid = INVALID_DOMID;
	r->no_guardian = conf ? conf->no_guardian : 0;
	if (di->page_size != XEN_PAGE) {
		log_warnx("page size %u, Xen guests have %u", di->page_size,
		    XEN_PAGE);
		errno = EINVAL;
		goto err;
	}
	/* libxl JSON, NUL, runs header, runs (see xen_get_config) */
	size_t jlen = strnlen(config, config_len);
	uint32_t hdr[2];
	if (jlen == 0 || jlen + 1 + 8 > config_len ||
	    ((const char *)config)[0] != '{') {
		log_warnx("stream configuration is not from the xen driver "
		    "(%zu bytes)", config_len);
		errno = EINVAL;
		goto err;
	}
	memcpy(hdr, (const uint8_t *)config + jlen + 1, 8);
	if (hdr[0] != RUNS_MAGIC || hdr[1] == 0 || hdr[1] > MAX_RUNS ||
	    jlen + 1 + 8 + (size_t)hdr[1] * 16 != config_len) {
		log_warnx("stream configuration: bad frame runs");
		errno = EINVAL;
		goto err;
	}
	/* The backup's policy, before libxl reads a byte of it: what the
	 * twin may attach, run and boot (xen-policy.h).  CONF NULL: a
	 * local tool with the primary's own config (xen-drvtest). */
	if (conf != NULL) {
		char why[320], *j = strndup(config, jlen);
		int bad;

		if (j == NULL)
			goto err;
		bad = xen_policy_check(conf->xen, j, why, sizeof(why));
		free(j);
		if (bad) {
			log_warnx("guest \"%s\" refused: %s",
			    conf->name ? conf->name : "?", why);
			errno = EPERM;
			goto err;
		}
	}
	r->fr.nr_runs = hdr[1];
	r->fr.runs = malloc(r->fr.nr_runs * sizeof(*r->fr.runs));
	if (r->fr.runs == NULL)
		goto err;
	memcpy(r->fr.runs, (const uint8_t *)config + jlen + 9,
	    r->fr.nr_runs * 16);
	if (frames_index(&r->fr) == -1 || r->fr.nr_pages != di->nr_pages) {
		log_warnx("stream configuration: frame runs do not match "
		    "%" PRIu64 " pages", di->nr_pages);
		errno = EINVAL;
		goto err;
	}
	if (handles_open(&r->h) == -1)
		goto err;
	if (libxl_ctx_alloc(&r->ctx, LIBXL_VERSION, 0,
	    (xentoollog_logger *)r->h.lg) != 0) {
		log_warnx("libxl context");
		errno = EIO;
		goto err;
	}
	json = strndup(config, jlen);
	if (json == NULL)
		goto err;
	if (libxl_domain_config_from_json(r->ctx, &cfg, json) != 0) {
		log_warnx("stream configuration: bad libxl JSON");
		errno = EINVAL;
		goto err;
	}
	/* A defbool the JSON left out is "default" (false here: libxl's
	 * default is no stub domain), and libxl_defbool_val asserts on it. */
	if (cfg.c_info.type == LIBXL_DOMAIN_TYPE_HVM &&
	    cfg.b_info.device_model_version ==
	    LIBXL_DEVICE_MODEL_VERSION_QEMU_XEN &&
	    (libxl_defbool_is_default(cfg.b_info.device_model_stubdomain) ||
	    !libxl_defbool_val(cfg.b_info.device_model_stubdomain)))
		r->hvm_dm = 1;
	else if (cfg.c_info.type != LIBXL_DOMAIN_TYPE_PVH) {
		log_warnx("guest type %s: only PVH guests and HVM guests "
		    "with qemu-xen in dom0 are supported",
		    libxl_domain_type_to_string(cfg.c_info.type));
		errno = ENOTSUP;
		goto err;
	}
	snprintf(r->name, sizeof(r->name), "%s",
	    cfg.c_info.name ? cfg.c_info.name : "guest");
	snprintf(r->twin, sizeof(r->twin), "%s--backup", r->name);
	if (disks != NULL && disks->n > 0) {
		if (twin_disks(r, &cfg, disks) == -1)
			goto err;
		free(json);
		json = libxl_domain_config_to_json(r->ctx, &cfg);
		if (json == NULL) {
			log_warnx("backup domain %s: configuration", r->twin);
			errno = EIO;
			goto err;
		}
	}
	r->nr_pages = di->nr_pages;
	r->scratch = calloc(1, XEN_PAGE);
	if (r->scratch == NULL)
		goto err;
	{
		struct libxl_job job = { .json = json, .name = r->twin };

		r->build_us = now_us();
		if (libxl_job_start(&job, &r->job_pid, &r->job_fd) == -1) {
			log_warn("start building %s", r->twin);
			goto err;
		}
		r->building = 1;
	}
	log_info("building backup domain %s in the background", r->twin);
	r->json = json;		/* the guardian restarts the guest from it */
	json = NULL;
	libxl_domain_config_dispose(&cfg);
	return r;
err:
	{
		int e = errno;
		free(json);
		libxl_domain_config_dispose(&cfg);
		xrep_close(r);
		errno = e ? e : EIO;
	}
	return NULL;
}

static void *
xrep_page(struct replica *r, uint64_t pfn)
{
	uint64_t gfn;
	size_t off;
	struct chunk *c;

	if (pfn >= r->nr_pages || twin_ready(r) == -1)
		return NULL;
	gfn = r->fr.idx2gfn[pfn];
	off = (size_t)(gfn & (CHUNK_PAGES - 1));
	c = chunk_get(r->h.fmem, r->domid, r->chunks, r->nr_chunks,
	    r->fr.gfn_span, gfn, PROT_READ | PROT_WRITE);
	if (c == NULL)
		return NULL;
	if (is_special(r, gfn)) {
		/* A ring the twin keeps as its own: a private page holds
		 * what the primary sent, so deltas still decode. */
		if (c->priv == NULL) {
			c->priv = calloc(CHUNK_PAGES, sizeof(*c->priv));
			if (c->priv == NULL)
				return NULL;
		}
		if (c->priv[off] == NULL) {
			c->priv[off] = calloc(1, XEN_PAGE);
			if (c->priv[off] == NULL)
				return NULL;
		}
		return c->priv[off];
	}
	if (c->map != MAP_FAILED && c->err[off] == 0)
		return c->map + off * XEN_PAGE;
	/* Populated on the primary, not in the twin (a frame the guest
	 * remapped, e.g. its shared-info or grant-table gfn): nothing
	 * there to keep, one shared scratch page takes the writes. */
	if (r->nr_scratch++ == 0)
		log_info("backup domain %u: frame %#" PRIx64 " is not RAM "
		    "here; such frames are not kept", r->domid, gfn);
	return r->scratch;
}

/* Nothing of a Xen replica is on disk, so nothing needs a journal: the
 * memory is the paused twin's and the vCPU state lives only in this
 * process (r->state).  A remusd killed mid-commit leaves a paused twin
 * with torn memory but without the state to start it: nothing can
 * activate or offer it, and a restarted remusd builds a new twin.  Pages
 * are written straight into the twin (page() has no private copy): the
 * twin's memory is never durable, and a failed commit ends the session
 * without activation (failover.md B1), so the torn twin is never run. */
static int
xrep_commit(struct replica *r, uint64_t epoch, const uint64_t *pfns,
    size_t npfns, const void *state, size_t state_len)
{
	const struct xen_state *st = state;
	uint8_t *copy;

	(void)pfns;
	(void)npfns;
	if (r->broken) {
		errno = EIO;
		return -1;
	}
	if (state_len < sizeof(*st) || st->magic != STATE_MAGIC ||
	    st->nr_params > NR_HVM_PARAMS ||
	    sizeof(*st) + st->ctx_len != state_len) {
		log_warnx("epoch %" PRIu64 ": bad guest state (%zu bytes)",
		    epoch, state_len);
		r->broken = 1;	/* the twin holds epoch n's pages */
		errno = EINVAL;
		return -1;
	}
	copy = malloc(state_len);
	if (copy == NULL) {
		r->broken = 1;
		return -1;
	}
	memcpy(copy, state, state_len);
	/* An HVM guest's memory goes only with its own epoch's devices
	 * (the backup hands them over first, domain.h). */
	if (r->hvm_dm) {
		uint8_t *t;
		size_t c;

		if (r->dev_pending_epoch != epoch || r->dev_pending_len == 0) {
			log_warnx("epoch %" PRIu64 ": no device model state "
			    "for it", epoch);
			free(copy);
			r->broken = 1;
			errno = EPROTO;
			return -1;
		}
		t = r->dev;
		c = r->dev_cap;
		r->dev = r->dev_pending;
		r->dev_cap = r->dev_pending_cap;
		r->dev_len = r->dev_pending_len;
		r->dev_pending = t;
		r->dev_pending_cap = c;
		r->dev_pending_len = 0;
	}
	free(r->state);
	r->state = copy;
	r->state_len = state_len;
	r->epoch = epoch;
	return 0;
}

static int
xrep_commit_devices(struct replica *r, uint64_t epoch, uint32_t kind,
    const void *buf, size_t len)
{
	if (!r->hvm_dm || kind != DOMAIN_DEVSTATE_QEMU || len < 4 ||
	    memcmp(buf, QEVM_MAGIC, 4) != 0) {
		log_warnx("epoch %" PRIu64 ": device model state of kind %u "
		    "(%zu bytes) is not for this %s guest", epoch, kind, len,
		    r->hvm_dm ? "HVM" : "PVH");
		errno = EPROTO;
		return -1;
	}
	if (buf_reserve(&r->dev_pending, &r->dev_pending_cap, len) == -1)
		return -1;
	memcpy(r->dev_pending, buf, len);
	r->dev_pending_len = len;
	r->dev_pending_epoch = epoch;
	return 0;
}

/* ---- an HVM twin's device model at activation --------------------- */

/* The command line of process PID as a NULL-terminated argv with room for
 * EXTRA more entries (one malloc'd block; free it once).  NULL, errno. */
static char **
proc_argv(pid_t pid, size_t extra)
{
	char path[64], *buf = NULL, **argv;
	size_t len = 0, cap = 0, n = 0, i;
	ssize_t k;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	for (;;) {
		if (len + 4096 > cap) {
			char *p = realloc(buf, cap += 65536);

			if (p == NULL)
				goto err;
			buf = p;
		}
		k = read(fd, buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			goto err;
		if (k == 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	fd = -1;
	if (len == 0) {
		errno = ESRCH;		/* a zombie, or a kernel thread */
		goto err;
	}
	buf[len] = '\0';
	for (i = 0; i < len; i++)
		n += buf[i] == '\0';
	/* The vector and the strings in one block. */
	argv = malloc((n + extra + 1) * sizeof(*argv) + len + 1);
	if (argv == NULL)
		goto err;
	memcpy(argv + n + extra + 1, buf, len + 1);
	{
		char *q = (char *)(argv + n + extra + 1);

		for (i = 0; i < n; i++) {
			argv[i] = q;
			q += strlen(q) + 1;
		}
	}
	for (i = n; i <= n + extra; i++)
		argv[i] = NULL;
	free(buf);
	return argv;
err:
	if (fd != -1)
		close(fd);
	free(buf);
	return NULL;
}

/* Run the hotplug script ARGV[0] as libxl does (its environment plus
 * ENV, "NAME=value" strings, NULL-terminated) and wait at most TIMEOUT_MS:
 * its exit status, or -1 with errno (ETIMEDOUT).  libev owns SIGCHLD
 * here and reaps whatever exits, so a detached process runs the script,
 * waits for it with the default disposition and reports its status on a
 * pipe. */
static int
run_script(char *const argv[], char *const env[], unsigned timeout_ms)
{
	struct pollfd pfd;
	int p[2], code = -1, k;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	pid = fork_detached();
	if (pid == 0) {
		pid_t sp;
		int ws;

		close(p[0]);
		if (p[1] != 3 && (dup2(p[1], 3) == -1))
			_exit(1);
		(void)close_range(4, ~0u, 0);
		sp = fork();
		if (sp == 0) {
			stdin_null();
			close(3);
			for (size_t i = 0; env[i] != NULL; i++)
				(void)putenv(env[i]);
			execv(argv[0], argv);
			_exit(127);
		}
		while (sp > 0 && waitpid(sp, &ws, 0) == -1 && errno == EINTR)
			;
		code = sp == -1 ? 126 : WIFEXITED(ws) ? WEXITSTATUS(ws) :
		    128 + WTERMSIG(ws);
		(void)write(3, &code, sizeof(code));
		_exit(0);
	}
	close(p[1]);
	if (pid == -1) {
		close(p[0]);
		return -1;
	}
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while ((k = poll(&pfd, 1, (int)timeout_ms)) == -1 && errno == EINTR)
		;
	if (k == 1 && read_full(p[0], &code, sizeof(code), NULL) == 0)
		k = code;
	else {
		errno = k == 0 ? ETIMEDOUT : EIO;
		k = -1;
	}
	close(p[0]);
	return k;
}

/* A restarted device model makes its emulated NICs' taps (<vif>-emu)
 * anew, and a new tap is on no bridge: libxl ran the NIC's hotplug script
 * for the first one ("add type_if=tap"), so it runs again for each tap
 * there is now.  An HVM guest without PV drivers has no other way out.
 * 0, or -1 (a tap left unplugged: the guest would run cut off). */
static int
dm_taps_plug(struct replica *r)
{
	libxl_domain_config cfg;
	int rc = 0, i;

	libxl_domain_config_init(&cfg);
	if (libxl_domain_config_from_json(r->ctx, &cfg, r->json) != 0) {
		log_warnx("backup domain %u: its configuration", r->domid);
		libxl_domain_config_dispose(&cfg);
		return -1;
	}
	for (i = 0; i < cfg.num_nics && rc == 0; i++) {
		const libxl_device_nic *nic = &cfg.nics[i];
		char vif[64], tap[IF_NAMESIZE], script[PATH_MAX], e_path[96],
		    e_tap[80], e_script[PATH_MAX + 8], e_netdev[80];
		char *argv[] = { script, "add", "type_if=tap", NULL };
		char *env[] = { e_script, "XENBUS_TYPE=vif", e_path,
			"XENBUS_BASE_PATH=backend", e_netdev, e_tap, NULL };
		int code;

		if (nic->ifname)
			snprintf(vif, sizeof(vif), "%s", nic->ifname);
		else
			snprintf(vif, sizeof(vif), "vif%u.%d", r->domid,
			    nic->devid);
		if (!emu_tap(vif, tap))
			continue;	/* a PV-only vif */
		/* The policy let only Xen's scripts or --allow-script in. */
		snprintf(script, sizeof(script), "%s%s",
		    nic->script && nic->script[0] == '/' ? "" :
		    XEN_SCRIPT_DIR, nic->script ? nic->script : "vif-bridge");
		snprintf(e_script, sizeof(e_script), "script=%s", script);
		snprintf(e_path, sizeof(e_path), "XENBUS_PATH=backend/vif/%u/%d",
		    r->domid, nic->devid);
		snprintf(e_netdev, sizeof(e_netdev), "netdev=%s",
		    nic->gatewaydev ? nic->gatewaydev : "");
		snprintf(e_tap, sizeof(e_tap), "INTERFACE=%s", tap);
		code = run_script(argv, env, 30000);
		if (code != 0) {
			log_warnx("backup domain %u: %s add type_if=tap for %s: "
			    "%s %d", r->domid, script, tap, code == -1 ?
			    "did not finish, errno" : "exit status",
			    code == -1 ? errno : code);
			rc = -1;
		} else
			log_info("backup domain %u: %s plugged by %s",
			    r->domid, tap, script);
	}
	libxl_domain_config_dispose(&cfg);
	return rc;
}

/* The twin's device model was started by libxl when it built the twin,
 * with every emulated device reset.  Activated, the guest needs the
 * committed ones: as libxl's own restore starts QEMU (-incoming with the
 * saved state), QEMU runs with the same command line as an incoming
 * migration.  Restarting it at failover costs seconds (a process start,
 * its devices built, the NIC's hotplug script), so it is restarted once
 * the twin is built: a standby with "-incoming defer" (dm_standby), its
 * taps plugged and its serial pty published then, and at failover it is
 * given the committed state over QMP (dm_load) and continued.  The fresh
 * one goes long before Xen is given the guest's platform state (vCPUs,
 * interrupt controllers, the IRQ lines' levels), as in libxl's restore,
 * where no QEMU exists while Xen loads it: nothing a dying QEMU does
 * reaches the loaded state.
 * dm_stop_fresh: the fresh one's command line with room for -incoming
 * (free it), once it is gone; NULL (the twin is not started). */
static char **
dm_stop_fresh(struct replica *r)
{
	char path[96], *pidstr;
	char **argv = NULL;
	pid_t old;
	size_t i;

	snprintf(path, sizeof(path), "/local/domain/%u/image/"
	    "device-model-pid", r->domid);
	pidstr = xs_read(r->h.xsh, XBT_NULL, path, NULL);
	old = pidstr ? (pid_t)strtol(pidstr, NULL, 10) : 0;
	if (old <= 1 || (argv = proc_argv(old, 2)) == NULL) {
		log_warnx("backup domain %u: no device model to restart "
		    "(pid '%s')", r->domid, pidstr ? pidstr : "");
		goto err;
	}
	for (i = 0; argv[i] != NULL; i++)
		if (strcmp(argv[i], "-incoming") == 0 ||
		    strstr(argv[i], ",fd=") != NULL) {
			log_warnx("backup domain %u: device model started "
			    "with '%s': cannot start it again with state",
			    r->domid, argv[i]);
			goto err;
		}
	if (kill(old, SIGTERM) == -1 || !proc_pid_wait_gone(old, 5000)) {
		log_warnx("backup domain %u: its fresh device model (pid %d) "
		    "did not stop", r->domid, (int)old);
		(void)kill(old, SIGKILL);
		if (!proc_pid_wait_gone(old, 2000))
			goto err;
	}
	free(pidstr);
	return argv;
err:
	free(pidstr);
	free(argv);
	return NULL;
}

/* Start QEMU from ARGV ("-incoming X" appended in the room
 * dm_stop_fresh left), SFD (unless -1) as its descriptor 3, its output
 * in libxl's log file; its pid where libxl keeps it (xl destroy kills
 * that one).  The pid, or -1. */
static pid_t
dm_spawn(struct replica *r, char **argv, const char *incoming, int sfd)
{
	char path[96], logf[128], v[16];
	int lfd;
	pid_t dm;
	size_t i;

	for (i = 0; argv[i] != NULL && strcmp(argv[i], "-incoming") != 0;
	    i++)
		;
	argv[i] = "-incoming";
	argv[i + 1] = (char *)incoming;
	snprintf(logf, sizeof(logf), "/var/log/xen/qemu-dm-%s.log", r->twin);
	lfd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (lfd == -1)
		lfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	/* The device model outlives us, as libxl's does. */
	dm = fork_detached();
	if (dm == 0) {
		/* Output first: LFD may be 3.  A descriptor already at 3
		 * keeps its close-on-exec flag through dup2: clear it. */
		if (dup2(lfd, 1) == -1 || dup2(lfd, 2) == -1 ||
		    (sfd != -1 && ((sfd != 3 && dup2(sfd, 3) == -1) ||
		    fcntl(3, F_SETFD, 0) == -1)))
			_exit(127);
		stdin_null();
		(void)close_range(sfd != -1 ? 4 : 3, ~0u, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	if (lfd != -1)
		close(lfd);
	if (dm == -1) {
		log_warn("backup domain %u: device model not started",
		    r->domid);
		return -1;
	}
	snprintf(v, sizeof(v), "%d", (int)dm);
	snprintf(path, sizeof(path), "/local/domain/%u/image/"
	    "device-model-pid", r->domid);
	if (!xs_write(r->h.xsh, XBT_NULL, path, v, strlen(v)))
		log_warn("backup domain %u: %s", r->domid, path);
	return dm;
}

/* Wait until QEMU DM answers QMP with a status other than SKIP ("" for
 * none), that status in ST.  The connection, or NULL (logged). */
static struct qmp *
dm_wait(struct replica *r, pid_t dm, const char *skip, char *st, size_t len)
{
	struct qmp *q = NULL;
	char path[96];
	uint64_t t0 = now_us();

	st[0] = '\0';
	dm_qmp_path(r->domid, path, sizeof(path));
	while (now_us() - t0 < (uint64_t)QMP_TIMEOUT_MS * 1000 * 4) {
		if (q == NULL)
			q = qmp_open(path, QMP_TIMEOUT_MS);
		if (q != NULL && qmp_status(q, st, len) == 0 &&
		    strcmp(st, skip) != 0)
			return q;
		if (proc_pid_wait_gone(dm, 0)) {
			log_warnx("backup domain %u: the device model (pid %d) "
			    "exited (/var/log/xen/qemu-dm-%s.log)", r->domid,
			    (int)dm, r->twin);
			goto err;
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	log_warnx("backup domain %u: the device model (pid %d) in state '%s' "
	    "after %d ms", r->domid, (int)dm, st, QMP_TIMEOUT_MS * 4);
err:
	qmp_close(q);
	return NULL;
}

/* Its serial port (the console) is a new pty: where xl console finds it,
 * as libxl writes it after starting QEMU (serial/0/tty for xl console -t
 * serial, console/tty for the default). */
static void
dm_publish_pty(struct replica *r, struct qmp *q)
{
	static const char *const node[] = { "serial/0/tty", "console/tty" };
	char pty[64], tpath[64];
	size_t i;

	if (qmp_chardev_pty(q, "serial0", pty, sizeof(pty)) == -1)
		return;
	for (i = 0; i < 2; i++) {
		snprintf(tpath, sizeof(tpath), "/local/domain/%u/%s",
		    r->domid, node[i]);
		if (!xs_write(r->h.xsh, XBT_NULL, tpath, pty, strlen(pty)))
			log_warn("backup domain %u: %s", r->domid, tpath);
	}
}

/* The twin's standby device model, once the twin is built: libxl's fresh
 * QEMU gone, the same command line with "-incoming defer" up, its pty
 * published and its taps plugged.  0, or -1: the failover then starts
 * QEMU itself (dm_start), seconds slower. */
static int
dm_standby(struct replica *r)
{
	char st[32];
	struct qmp *q;
	uint64_t t0 = now_us();

	if ((r->dm_argv = dm_stop_fresh(r)) == NULL)
		return -1;
	if ((r->dm_pid = dm_spawn(r, r->dm_argv, "defer", -1)) == -1) {
		r->dm_pid = 0;
		return -1;
	}
	if ((q = dm_wait(r, r->dm_pid, "", st, sizeof(st))) == NULL)
		goto err;
	if (strcmp(st, "inmigrate") != 0) {
		log_warnx("backup domain %u: standby device model in state "
		    "'%s', not waiting for a state", r->domid, st);
		qmp_close(q);
		goto err;
	}
	dm_publish_pty(r, q);
	qmp_close(q);
	if (dm_taps_plug(r) == -1)
		goto err;
	log_info("backup domain %u: standby device model (pid %d) up in "
	    "%.2f s", r->domid, (int)r->dm_pid,
	    (double)(now_us() - t0) / 1e6);
	return 0;
err:
	(void)kill(r->dm_pid, SIGKILL);
	(void)proc_pid_wait_gone(r->dm_pid, 2000);
	r->dm_pid = 0;
	return -1;
}

/* The device model continued with the loaded state Q's QEMU holds (in
 * state ST), the guest announced.  0, or -1. */
static int
dm_go(struct replica *r, struct qmp *q, const char *st)
{
	if (strcmp(st, "running") != 0 && strcmp(st, "paused") != 0 &&
	    strcmp(st, "prelaunch") != 0 && strcmp(st, "postmigrate") != 0) {
		log_warnx("backup domain %u: device model in state '%s' "
		    "after loading the state", r->domid, st);
		return -1;
	}
	if (strcmp(st, "running") != 0 && qmp_cont(q) == -1)
		return -1;
	/* The network still sends the guest's MAC to where the primary was
	 * (a switch, dom0's bridge: its old tap while the primary is only
	 * paused).  QEMU announces an incoming guest itself, but maybe
	 * before its taps were plugged; now, as a migration's end does
	 * (RARP from each emulated NIC, 5 rounds over ~1 s).  PV vifs: the
	 * guest's netfront announces itself when it reconnects. */
	if (qmp_exec(q, "announce-self", "{\"initial\": 50, \"max\": 550, "
	    "\"rounds\": 5, \"step\": 100}", NULL) == -1)
		log_warn("backup domain %u: announce-self (the network may "
		    "reach the guest only once it sends)", r->domid);
	return 0;
}

/* The committed device state in a memfd, at its start, for QEMU to read
 * (no file: nothing of it is left behind).  The descriptor, or -1. */
static int
dm_state_fd(struct replica *r)
{
	int fd = memfd_create("remus-dm-state", MFD_CLOEXEC);

	if (fd == -1 || write_full(fd, r->dev, r->dev_len) == -1 ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		log_warn("backup domain %u: the state for QEMU", r->domid);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* dm_load: the standby given the committed state over QMP.  0 once it
 * runs with the state, or -1 (logged). */
static int
dm_load(struct replica *r)
{
	char path[96], st[32];
	struct qmp *q = NULL;
	uint64_t t0 = now_us(), t_open = 0, t_load = 0, t_end;
	int fd, rc = -1;

	if ((fd = dm_state_fd(r)) == -1)
		goto out;
	dm_qmp_path(r->domid, path, sizeof(path));
	if ((q = qmp_open(path, QMP_TIMEOUT_MS)) == NULL)
		goto out;
	t_open = now_us();
	if (qmp_load_devices(q, fd, st, sizeof(st)) == -1)
		goto out;
	t_load = now_us();
	if (dm_go(r, q, st) == -1)
		goto out;
	t_end = now_us();
	/* Where a failover's time goes: the connection, QEMU's load, and
	 * cont with the announcement. */
	log_info("backup domain %u: standby device model (pid %d) runs from "
	    "epoch %" PRIu64 "'s state (%zu bytes) in %.3f s (connect %.3f, "
	    "load %.3f, cont %.3f)", r->domid, (int)r->dm_pid, r->epoch,
	    r->dev_len, (double)(t_end - t0) / 1e6,
	    (double)(t_open - t0) / 1e6, (double)(t_load - t_open) / 1e6,
	    (double)(t_end - t_load) / 1e6);
	rc = 0;
out:
	qmp_close(q);
	if (fd != -1)
		close(fd);
	return rc;
}

/* dm_start: QEMU started at failover from ARGV (dm_stop_fresh's) with
 * the committed state on descriptor 3 -- when there is no standby, or it
 * failed.  0 once it runs with the state loaded, or -1. */
static int
dm_start(struct replica *r, char **argv)
{
	char st[32] = "";
	pid_t dm;
	int sfd, rc = -1;
	struct qmp *q = NULL;
	uint64_t t0 = now_us();

	if ((sfd = dm_state_fd(r)) == -1 ||
	    (dm = dm_spawn(r, argv, "fd:3", sfd)) == -1)
		goto out;
	/* QMP answers once QEMU has started, and says "inmigrate" until
	 * the incoming migration is done. */
	if ((q = dm_wait(r, dm, "inmigrate", st, sizeof(st))) == NULL)
		goto out;
	dm_publish_pty(r, q);
	if (dm_taps_plug(r) == -1 || dm_go(r, q, st) == -1)
		goto out;
	log_info("backup domain %u: device model (pid %d) runs from epoch "
	    "%" PRIu64 "'s state (%zu bytes) in %.2f s", r->domid, (int)dm,
	    r->epoch, r->dev_len, (double)(now_us() - t0) / 1e6);
	rc = 0;
out:
	qmp_close(q);
	if (sfd != -1)
		close(sfd);
	return rc;
}

/* The twin's device model running with the committed state: the standby
 * loaded, or -- none, or it failed -- QEMU started with it. */
static int
dm_activate(struct replica *r)
{
	if (r->dm_pid > 0) {
		if (dm_load(r) == 0)
			return 0;
		log_warnx("backup domain %u: standby device model failed: "
		    "starting it again with the state", r->domid);
		(void)kill(r->dm_pid, SIGKILL);
		if (!proc_pid_wait_gone(r->dm_pid, 2000))
			return -1;
		r->dm_pid = 0;
	}
	if (r->dm_argv == NULL)
		return -1;
	return dm_start(r, r->dm_argv);
}

static int
xrep_activate(struct replica *r)
{
	const struct xen_state *st = (const struct xen_state *)r->state;
	uint32_t old;
	size_t i;

	if (r->state == NULL) {
		log_warnx("nothing committed: cannot activate");
		errno = ENOENT;
		return -1;
	}
	if (twin_ready(r) == -1)
		return -1;
	/* The images are final (the disk buffer applied the last committed
	 * epoch to the files).  A loop device's own page cache can hold
	 * blocks read through it before -- by a QEMU serving the twin's
	 * disk, as it starts -- which the disk buffer's writes to the file
	 * went around: dropped, or the guest would read stale blocks (seen
	 * in the lab with a qdisk vbd: diskbad=1). */
	for (i = 0; i < r->nloop; i++)
		if (ioctl(r->loop_fd[i], BLKFLSBUF, 0) == -1) {
			log_warn("backup domain %u: %s: drop its cache",
			    r->domid, r->loop_dev[i]);
			return -1;
		}
	/* No standby (it could not be started): the fresh one still runs,
	 * and goes now, before the platform state is loaded. */
	if (r->hvm_dm && r->dm_argv == NULL &&
	    (r->dm_argv = dm_stop_fresh(r)) == NULL)
		return -1;
	if (xc_domain_set_tsc_info(r->h.xch, r->domid, st->tsc_mode,
	    st->tsc_elapsed_nsec, st->tsc_khz, st->tsc_incarnation) < 0) {
		log_warn("backup domain %u: TSC info", r->domid);
		return -1;
	}
	for (i = 0; i < st->nr_params; i++) {
		uint32_t idx = (uint32_t)st->params[i][0];

		/* The twin's rings and ioreq pages stay its own. */
		if (idx == HVM_PARAM_STORE_PFN || idx == HVM_PARAM_CONSOLE_PFN ||
		    idx == HVM_PARAM_IOREQ_PFN || idx == HVM_PARAM_BUFIOREQ_PFN)
			continue;
		if (xc_hvm_param_set(r->h.xch, r->domid, idx,
		    st->params[i][1]) < 0)
			log_warn("backup domain %u: HVM param %u (ignored)",
			    r->domid, idx);
	}
	if (xc_domain_hvm_setcontext(r->h.xch, r->domid,
	    (uint8_t *)r->state + sizeof(*st), st->ctx_len) < 0) {
		log_warn("backup domain %u: load vCPU state", r->domid);
		return -1;
	}
	/* The emulated devices must be there before a vCPU runs: its first
	 * port access would find no device model to answer it. */
	if (r->hvm_dm && dm_activate(r) == -1)
		return -1;
	if (xc_domain_unpause(r->h.xch, r->domid) < 0) {
		log_warn("backup domain %u: unpause", r->domid);
		return -1;
	}
	r->active = 1;
	/* Take the guest's name back once the primary no longer holds it,
	 * or the one remusd --dname gave it. */
	{
		const char *final = r->dname[0] ? r->dname : r->name;

		if (libxl_name_to_domid(r->ctx, final, &old) != 0 &&
		    libxl_domain_rename(r->ctx, r->domid, NULL, final) == 0)
			log_info("backup domain %u is now %s", r->domid,
			    final);
		log_info("activated %s at epoch %" PRIu64 ": domid %u "
		    "running", final, r->epoch, r->domid);
	}
	/* xl's -e: nobody stays behind for the guest's death. */
	if (r->no_guardian)
		log_info("%s: no guardian (remus -e): its on_poweroff/"
		    "on_reboot/on_crash are nobody's to carry out", r->name);
	else
		guardian_start(r->json, r->domid, r->name);
	return 0;
}

static void
xrep_close(struct replica *r)
{
	if (r == NULL)
		return;
	/* The build's job is reaped; the twin goes below (no standby
	 * device model for it). */
	if (r->building)
		(void)twin_built(r);
	chunks_free(r->h.fmem, r->chunks, r->nr_chunks, r->fr.gfn_span);
	frames_free(&r->fr);
	free(r->scratch);
	/* A replica that never ran is of no use once the stream is gone. */
	if (!r->active && r->domid != (uint32_t)INVALID_DOMID) {
		struct libxl_job job = { .domid = r->domid };

		if (libxl_job_run(&job, NULL) == -1)
			log_warnx("backup domain %u: destroy failed", r->domid);
		else
			log_info("backup domain %s (domid %u) destroyed: it "
			    "was never activated", r->twin, r->domid);
	}
	if (r->ctx)
		libxl_ctx_free(r->ctx);
	handles_close(&r->h);
	free(r->state);
	free(r->dev);
	free(r->dev_pending);
	free(r->dm_argv);
	free(r->json);
	/* Autoclear: the loop device goes when blkback lets go too. */
	for (size_t i = 0; i < r->nloop; i++)
		close(r->loop_fd[i]);
	free(r);
}

/* remusd --dname: the name the twin takes at activation. */
static int
xrep_set_name(struct replica *r, const char *name)
{
	if (strlen(name) >= sizeof r->dname || name[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	snprintf(r->dname, sizeof r->dname, "%s", name);
	return 0;
}

/* The twin activate started: its domid, and the name it runs under. */
static int
xrep_activated(struct replica *r, struct replica_guest *g)
{
	char *name;

	if (!r->active) {
		errno = ENOENT;
		return -1;
	}
	memset(g, 0, sizeof *g);
	g->id_kind = "domid";
	g->id = r->domid;
	name = libxl_domid_to_name(r->ctx, r->domid);
	snprintf(g->name, sizeof g->name, "%s", name ? name : r->twin);
	free(name);
	return 0;
}

/* The domain exists and is neither dying nor shut down. */
static int
xrep_guest_runs(const struct replica_guest *g)
{
	xc_interface *xch;
	xc_dominfo_t info;
	int rc;

	if (g->id > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	xch = xc_interface_open(NULL, NULL, 0);
	if (xch == NULL)
		return -1;
	rc = dominfo(xch, (uint32_t)g->id, &info) == -1 ? 0 :
	    !info.dying && !info.shutdown;
	xc_interface_close(xch);
	return rc;
}

const struct replica_ops replica_xen_ops = {
	.name		= "xen",
	.create		= xrep_create,
	.page		= xrep_page,
	.commit		= xrep_commit,
	.commit_devices	= xrep_commit_devices,
	.activate	= xrep_activate,
	.set_name	= xrep_set_name,
	.activated	= xrep_activated,
	.guest_runs	= xrep_guest_runs,
	.close		= xrep_close,
};
