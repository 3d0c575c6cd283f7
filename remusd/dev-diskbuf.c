/* remusd/dev-diskbuf.c -- diskbuf as a checkpoint device, for all of a
 * guest's disks at once.
 *
 * A guest may have several replicated disks (DISKBUF_DISKS_MAX), each
 * known by its name (common/diskmap.h): on Xen its vdev.  One device
 * carries them all, so that an epoch is one unit for every disk: the
 * primary cuts every disk's log at postsuspend(n) and sends every disk's
 * records in epoch n; the backup applies epoch n to every disk or to none
 * (diskbuf_backup_commit_set) before the one ACK(n).
 *
 * Primary (remus --disk [NAME=]IMAGE ... --nbd-listen ADDR, and/or
 * --disk-server [NAME=]SOCKET ...): disk index i is the i-th of them.
 * Images remus serves share one NBD address, an export per disk named
 * after it ("disk" for the one unnamed); each logs every write into
 * epoch 1 from attach time on, so the backup's copies must equal them as
 * they are now (remus-disksync before remus, or the live sync below).  A
 * remus-diskd disk is driven over its control socket (diskbuf/ctl.c).
 * Each session's stream declares the disks (DISKS: names and sizes)
 * before its first epoch; postsuspend closes each disk's log, save
 * appends their DISK_WRITE records, each with its disk's index.
 *
 * Backup (remusd --disk [GUEST:][NAME=]IMAGE ...): the guest's images,
 * opened when DISKS comes and matched to the primary's disks by name;
 * records buffered per epoch (spilling into the state directory), applied
 * to every disk and fdatasync'ed on commit before the ACK, dropped on
 * discard and failover.
 *
 * Live initial sync (struct remus_devopts, from flags or remus.conf(5)):
 *   remusd: --disk-sync-listen [GUEST=]HOST:PORT  receive the copies there
 *   remus:  --disk-sync HOST:PORT         send each disk's copy there
 *           --disk-sync-rate BYTES        per second and disk (K/M/G)
 * Each copy names its disk; the backup takes them one after the other.
 * Epochs run meanwhile; the backup keeps them until every copy is
 * complete and refuses to activate before (docs/diskbuf.md).
 *
 * Re-protection (docs/failover.md P4): when remus reconnects after a
 * release, reprotect logs every disk again and runs the same live sync
 * to the same --disk-sync address, so only the blocks that differ move
 * (the writes made while unprotected among them).  Without --disk-sync
 * nothing could bring those writes over: remus then does not reconnect.
 */
#define LOG_PREFIX "diskbuf: "

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "checkpoint.h"
#include "devices.h"
#include "diskbuf.h"
#include "diskmap.h"
#include "log.h"
#include "ratelimit.h"
#include "stream.h"
#include "util.h"

#define NBD_LISTEN_DEFAULT	"127.0.0.1:10809"

_Static_assert(DISKMAP_MAX == STREAM_DISKS_MAX, "one limit on disks");
_Static_assert(DISKMAP_MAX == DISKBUF_DISKS_MAX, "one limit on disks");
_Static_assert(DISKMAP_NAME_MAX + 1 == STREAM_DISK_NAME_LEN,
    "one limit on disk names");

/* ---- Primary ------------------------------------------------------ */

/* Test hook: REMUS_DISKBUF_DIGESTS=FILE appends "EPOCH DIGEST [NAME]" for
 * each disk at every postsuspend, the image as of the epoch's cut (taken
 * in the same hold of the write lock as the cut), which is what the
 * backup must hold once the epoch commits.  It reads the whole image
 * while the guest is paused: tests only. */
static const char *
digests_file(void)
{
	const char *path = getenv("REMUS_DISKBUF_DIGESTS");

	return path && *path ? path : NULL;
}

static void
digest_write(uint64_t epoch, const char *name, const uint8_t dg[16])
{
	static int warned;
	const char *path = digests_file();
	char hex[33], line[96];
	int fd, n;

	diskbuf_hash_hex(dg, hex);
	n = snprintf(line, sizeof line, "%" PRIu64 " %s%s%s\n", epoch, hex,
	    *name ? " " : "", name);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if ((fd == -1 || write(fd, line, (size_t)n) != n) && !warned) {
		warned = 1;
		log_warn("REMUS_DISKBUF_DIGESTS %s", path);
	}
	if (fd != -1)
		close(fd);
}

/* One disk of the primary: served here, or by remus-diskd. */
struct pdisk {
	char		 name[STREAM_DISK_NAME_LEN];	/* "" unnamed */
	struct diskbuf_primary *p;	/* remus --disk */
	struct diskbuf_ctl *ctl;	/* remus --disk-server */
	char		*server;	/* its control socket (reprotect) */
	uint64_t	 size;
};

struct pset {
	size_t		 n;
	struct pdisk	 d[DISKMAP_MAX];
	/* The local disk whose NBD server serves every local disk (-1:
	 * none): freed first (pset_free). */
	int		 owner;
	/* --disk-sync: where every sync goes, at attach and at each
	 * reprotect; the rate a remus-diskd sends at. */
	char		*sync_addr;
	uint64_t	 server_rate;
};

/* The disks whose live initial sync started at attach, for
 * dev_diskbuf_sync_state (cleared at their teardown). */
static struct pset *syncing;

static int
pri_declare(void *dev, struct stream_writer *w)
{
	struct pset *s = dev;
	struct stream_disk_desc d[DISKMAP_MAX];
	size_t i;

	memset(d, 0, sizeof d);
	for (i = 0; i < s->n; i++) {
		memcpy(d[i].name, s->d[i].name, sizeof d[i].name);
		d[i].size = s->d[i].size;
	}
	if (stream_write_disks(w, d, (uint32_t)s->n) == -1) {
		log_warn("DISKS record");
		return -1;
	}
	return 0;
}

static int
pri_postsuspend(void *dev, uint64_t epoch)
{
	struct pset *s = dev;
	uint8_t dg[16], *dp = digests_file() ? dg : NULL;
	size_t i;
	int rc;

	/* The guest is paused: every write it saw complete is in a log of
	 * epoch <= EPOCH, on every disk, whatever order they are cut in. */
	for (i = 0; i < s->n; i++) {
		struct pdisk *k = &s->d[i];

		if (k->ctl != NULL)
			rc = diskbuf_ctl_epoch_close(k->ctl, epoch, dp);
		else if (dp != NULL)
			rc = diskbuf_primary_epoch_close_digest(k->p, epoch, dp);
		else
			rc = diskbuf_primary_epoch_close(k->p, epoch);
		if (rc == -1)
			return -1;
		if (dp != NULL)
			digest_write(epoch, k->name, dp);
	}
	return 0;
}

struct emit_ctx {
	struct stream_writer *w;
	uint16_t	 disk;
};

/* A disk's records carry the index this remus gave the disk (remus-diskd
 * knows of one disk only). */
static int
emit_record(void *arg, const struct stream_disk_write *h, const void *data)
{
	struct emit_ctx *e = arg;
	struct stream_disk_write r = *h;

	r.disk = e->disk;
	if (stream_write_disk(e->w, &r, data) == -1) {
		log_warn("DISK_WRITE record (disk %u, offset %" PRIu64
		    ", length %u)", r.disk, h->offset, h->length);
		return -1;
	}
	return 0;
}

static int
pri_save(void *dev, uint64_t epoch, struct stream_writer *w)
{
	struct pset *s = dev;
	struct emit_ctx e = { w, 0 };
	size_t i;
	int rc;

	for (i = 0; i < s->n; i++) {
		e.disk = (uint16_t)i;
		rc = s->d[i].ctl ? diskbuf_ctl_save(s->d[i].ctl, epoch,
		    emit_record, &e) : diskbuf_primary_save(s->d[i].p, epoch,
		    emit_record, &e);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
pri_commit(void *dev, uint64_t epoch)
{
	struct pset *s = dev;
	size_t i;
	int rc = 0;

	for (i = 0; i < s->n; i++)
		if ((s->d[i].ctl ? diskbuf_ctl_commit(s->d[i].ctl, epoch) :
		    diskbuf_primary_commit(s->d[i].p, epoch)) == -1)
			rc = -1;
	return rc;
}

static void
pri_release_all(void *dev)
{
	struct pset *s = dev;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->d[i].ctl)
			diskbuf_ctl_detach(s->d[i].ctl);
		else {
			diskbuf_primary_unprotect(s->d[i].p,
			    "protection ended");
			/* Its backup is gone with the session: a copy to it
			 * can only fail, and a reprotect starts its own. */
			diskbuf_primary_sync_cancel(s->d[i].p);
		}
	}
}

/* A new session after a release (docs/failover.md P4): every disk is
 * logged again from now on, then copied to the backup by the same live
 * sync as at attach.  The writes the guest made while unprotected are in
 * no log, but they are in the images the copies read, which begin after
 * logging did: replaying the logs over the copies gives the primary's
 * disks again (docs/diskbuf.md, "Live").  The backup keeps every epoch
 * instead of applying it, and will not activate, until each copy is
 * complete, exactly as in the first session: its remusd expects the
 * copies at every session (--disk-sync-listen). */
static int
pri_reprotect(void *dev, uint64_t epoch)
{
	struct pset *s = dev;
	struct diskbuf_ctl *ctl;
	size_t i;

	for (i = 0; i < s->n; i++) {
		struct pdisk *k = &s->d[i];

		if (k->server != NULL) {
			/* remus-diskd protects again on a new control
			 * connection (PROTECT), and sends the copy from
			 * its own process.  The detached one is kept
			 * until then: every hook can still call it. */
			ctl = diskbuf_ctl_open(k->server, s->sync_addr, k->name,
			    s->server_rate);
			if (ctl == NULL)
				return -1;
			if (diskbuf_ctl_size(ctl) != k->size) {
				log_warnx("disk %s: remus-diskd at %s now serves "
				    "%" PRIu64 " bytes, not %" PRIu64, *k->name ?
				    k->name : "(unnamed)", k->server,
				    diskbuf_ctl_size(ctl), k->size);
				diskbuf_ctl_free(ctl);
				errno = EINVAL;
				return -1;
			}
			diskbuf_ctl_free(k->ctl);
			k->ctl = ctl;
			continue;
		}
		if (diskbuf_primary_protect(k->p) == -1)
			return -1;
	}
	/* Logging everywhere first, then the copies: none may begin to
	 * read an image before its writes are logged. */
	for (i = 0; i < s->n; i++)
		if (s->d[i].p != NULL && diskbuf_primary_sync_start(s->d[i].p,
		    s->sync_addr, NULL, DISKBUF_PROGRESS_TTY) == -1)
			return -1;
	log_info("protecting %zu disk%s again from epoch %" PRIu64 ": each "
	    "resynced to %s (only the blocks that differ)", s->n,
	    s->n == 1 ? "" : "s", epoch, s->sync_addr);
	return 0;
}

static unsigned
local_clients(const struct pset *s)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->d[i].p != NULL)
			n += diskbuf_primary_clients(s->d[i].p);
	return n;
}

static void
pset_free(struct pset *s)
{
	size_t i;

	if (s == NULL)
		return;
	/* The owner's server serves the other local disks: it goes
	 * first, so that no client thread touches a disk freed after. */
	if (s->owner >= 0)
		diskbuf_primary_free(s->d[s->owner].p);
	for (i = 0; i < s->n; i++) {
		if ((int)i != s->owner)
			diskbuf_primary_free(s->d[i].p);
		diskbuf_ctl_free(s->d[i].ctl);
		free(s->d[i].server);
	}
	free(s->sync_addr);
	free(s);
}

static void
pri_teardown(void *dev)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	struct pset *s = dev;
	unsigned n;

	if (s == NULL)
		return;
	if (s == syncing)
		syncing = NULL;
	/* The guest's disks live in this process: while the guest still
	 * has one open, closing the exports would pull it from under a
	 * running guest.  Serve on, unprotected, until it lets go. */
	n = local_clients(s);
	if (n > 0) {
		log_warnx("the guest still uses its disks (%u NBD clients): "
		    "serving them unprotected until they disconnect", n);
		while (local_clients(s) > 0)
			nanosleep(&ts, NULL);
	}
	pset_free(s);
}

static const struct ckpt_device_ops diskbuf_primary_ops = {
	.name = "diskbuf",
	.declare = pri_declare,
	.postsuspend = pri_postsuspend,
	.save = pri_save,
	.commit = pri_commit,
	.release_all = pri_release_all,
	.reprotect = pri_reprotect,
	.teardown = pri_teardown,
};

/* Without --disk-sync the disks were made equal before remus started
 * (remus-disksync), once: nothing would bring a new session's backup the
 * writes made while unprotected, so such a remus does not reconnect. */
static const struct ckpt_device_ops diskbuf_primary_nosync_ops = {
	.name = "diskbuf",
	.declare = pri_declare,
	.postsuspend = pri_postsuspend,
	.save = pri_save,
	.commit = pri_commit,
	.release_all = pri_release_all,
	.no_reprotect = "without --disk-sync a replicated disk cannot be "
	    "resynchronised to the backup of a new session",
	.teardown = pri_teardown,
};

/* The guest's own disks (DISKS: "vdev=target,...", from the driver) can
 * only be replicated when remus-diskd serves them: each at its place, by
 * the --disk-server given for its vdev, or found by its /dev/nbdN. */
int
dev_diskbuf_guest_disks(const char *spec, const char *disks,
    struct remus_devopts *o)
{
	static struct diskmap found;
	static char ctl[DISKMAP_MAX][256];
	const struct diskmap *given = o->disks;
	char list[1024], *save, *tok, why[512], arg[512], names[256];
	const char *vdev[DISKMAP_MAX];
	size_t nv = 0, i, j;
	struct stat st;

	if (*disks == '\0')
		return 0;
	for (i = 0; given && i < given->n; i++)
		if (given->v[i].tag == DEV_DISK_IMAGE) {
			log_warnx("%s: --disk serves an image from remus "
			    "itself, which this guest's disks (%s) cannot "
			    "use: serve each with remus-diskd", spec, disks);
			return -1;
		}
	snprintf(list, sizeof list, "%s", disks);
	diskmap_free(&found);
	for (tok = strtok_r(list, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const char *target = eq ? eq + 1 : "", *sock = NULL;

		if (eq)
			*eq = '\0';
		if (nv == DISKMAP_MAX) {
			log_warnx("%s: more than %d disks; give -F -d if they "
			    "are on shared storage", spec, DISKMAP_MAX);
			return -1;
		}
		vdev[nv] = tok;
		/* Given for its vdev, or the one given for a one-disk
		 * guest; else the remus-diskd of its /dev/nbdN. */
		for (j = 0; given && j < given->n; j++)
			if (strcmp(given->v[j].name, tok) == 0 ||
			    (given->n == 1 && *given->v[j].name == '\0' &&
			    strchr(disks, ',') == NULL))
				sock = given->v[j].path;
		if (sock == NULL && strncmp(target, "/dev/nbd", 8) == 0 &&
		    diskbuf_ctl_path(target, ctl[nv], sizeof ctl[nv]) == 0 &&
		    stat(ctl[nv], &st) == 0 && S_ISSOCK(st.st_mode))
			sock = ctl[nv];
		if (sock == NULL) {
			log_warnx("%s: its disk %s (%s) is not replicated: serve "
			    "it with remus-diskd --device /dev/nbdN and give "
			    "the guest phy:/dev/nbdN (or --disk-server %s="
			    "SOCKET), or give -F -d if it is on shared "
			    "storage", spec, tok, target, tok);
			return -1;
		}
		snprintf(arg, sizeof arg, "%s=%s", tok, sock);
		if (diskmap_add(&found, arg, 0, DEV_DISK_SERVER,
		    "--disk-server", why, sizeof why) == -1) {
			log_warnx("%s: %s", spec, why);
			return -1;
		}
		nv++;
	}
	/* A --disk-server for a disk the guest does not have is a typo
	 * that would leave the real one unreplicated. */
	for (j = 0; given && j < given->n; j++) {
		if (*given->v[j].name == '\0')
			continue;
		for (i = 0; i < nv; i++)
			if (strcmp(given->v[j].name, vdev[i]) == 0)
				break;
		if (i == nv) {
			diskmap_names(&found, names, sizeof names);
			log_warnx("%s: --disk-server %s=%s: the guest has no disk "
			    "%s (its disks: %s)", spec, given->v[j].name,
			    given->v[j].path, given->v[j].name, names);
			return -1;
		}
	}
	for (i = 0; i < found.n; i++)
		log_info("%s: replicating %s through remus-diskd at %s", spec,
		    found.v[i].name, found.v[i].path);
	o->disks = &found;
	return 0;
}

/* --bandwidth: the disk sync draws on the link's bucket. */
static void
sync_budget(void *arg, size_t bytes)
{
	ratelimit_take(arg, bytes);
}

const char *
dev_diskbuf_sync_state(void)
{
	int running = 0, any = 0;
	size_t i;

	for (i = 0; syncing != NULL && i < syncing->n; i++) {
		if (syncing->d[i].p == NULL)
			continue;
		any = 1;
		switch (diskbuf_primary_sync_done(syncing->d[i].p)) {
		case -1:
			return "failed";
		case 0:
			running = 1;
			break;
		}
	}
	return !any ? "none" : running ? "running" : "done";
}

int
dev_diskbuf_sync_disk(size_t idx, struct dev_diskbuf_sync *out)
{
	struct diskbuf_sync_progress sp;
	size_t i;

	for (i = 0; syncing != NULL && i < syncing->n; i++) {
		if (syncing->d[i].p == NULL || idx-- > 0)
			continue;
		out->name = syncing->d[i].name;
		switch (diskbuf_primary_sync_progress(syncing->d[i].p, &sp)) {
		case -1:
			out->state = "failed";
			break;
		case 0:
			out->state = "running";
			break;
		default:
			out->state = "done";
		}
		out->done = sp.done;
		out->total = sp.total ? sp.total : syncing->d[i].size;
		out->sent = sp.sent;
		out->start_us = sp.start_us;
		return 0;
	}
	return -1;
}

/* One --disk-server: protection through remus-diskd, which sends the
 * sync from its own process.  0 / -1. */
static int
attach_server(struct pset *s, struct pdisk *k, const char *sock,
    const struct remus_devopts *o)
{
	uint64_t rate = o->disk_sync_rate;
	uint8_t dg[16];

	/* It cannot draw on our bucket, so it gets the cap as its own rate
	 * (with epochs running meanwhile, the link may carry up to twice
	 * the cap until the sync is done; docs/link.md). */
	if (o->ratelimit != NULL && (rate == 0 ||
	    rate > ratelimit_rate(o->ratelimit)))
		rate = ratelimit_rate(o->ratelimit);
	s->server_rate = rate;
	k->server = strdup(sock);
	if (k->server == NULL)
		return -1;
	k->ctl = diskbuf_ctl_open(sock, o->disk_sync, k->name, rate);
	if (k->ctl == NULL)
		return -1;
	k->size = diskbuf_ctl_size(k->ctl);
	if (digests_file() && diskbuf_ctl_digest(k->ctl, dg) == 0)
		digest_write(0, k->name, dg);
	return 0;
}

/* One --disk: served here.  0 / -1. */
static int
attach_image(struct pdisk *k, const char *image, uint16_t index)
{
	struct diskbuf_primary_cfg cfg = { .protect = 1 };
	uint8_t dg[16];

	cfg.image = image;
	cfg.name = k->name;
	cfg.disk = index;
	k->p = diskbuf_primary_new(&cfg);
	if (k->p == NULL)
		return -1;
	k->size = diskbuf_primary_size(k->p);
	if (digests_file() && diskbuf_primary_digest(k->p, dg) == 0)
		digest_write(0, k->name, dg);
	return 0;
}

int
dev_diskbuf_attach(struct ckpt *c, const struct remus_devopts *o)
{
	const char *addr = o->nbd_listen ? o->nbd_listen : NBD_LISTEN_DEFAULT;
	const struct diskmap *m = o->disks;
	struct pset *s;
	size_t i;

	if (o->no_disk || m == NULL || m->n == 0)
		return 0;
	if (m->n > DISKMAP_MAX) {
		errno = EINVAL;
		return -1;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return -1;
	s->owner = -1;
	if (o->disk_sync != NULL &&
	    (s->sync_addr = strdup(o->disk_sync)) == NULL)
		goto err;
	for (i = 0; i < m->n; i++) {
		struct pdisk *k = &s->d[i];

		snprintf(k->name, sizeof k->name, "%s", m->v[i].name);
		s->n = i + 1;
		if ((m->v[i].tag == DEV_DISK_SERVER ?
		    attach_server(s, k, m->v[i].path, o) :
		    attach_image(k, m->v[i].path, (uint16_t)i)) == -1)
			goto err;
		if (k->p == NULL)
			continue;
		/* Every local disk on one NBD address, one export each. */
		if (s->owner < 0)
			s->owner = (int)i;
		else if (diskbuf_primary_share(s->d[s->owner].p, k->p) == -1)
			goto err;
	}
	if (s->owner >= 0 && diskbuf_primary_listen(s->d[s->owner].p,
	    addr) == -1)
		goto err;
	if (ckpt_add_device(c, o->disk_sync != NULL ? &diskbuf_primary_ops :
	    &diskbuf_primary_nosync_ops, s) == -1) {
		log_warn("register the disk device");
		goto err;
	}
	/* Registered: from here the engine tears s down.  --disk-sync: the
	 * live initial copy of each disk served here (remus-diskd started
	 * its own at attach). */
	if (o->disk_sync == NULL || s->owner < 0)
		return 0;
	diskbuf_sync_set_rate(o->disk_sync_rate);
	if (o->ratelimit != NULL)
		diskbuf_sync_set_budget(sync_budget, o->ratelimit);
	syncing = s;
	for (i = 0; i < s->n; i++)
		if (s->d[i].p != NULL && diskbuf_primary_sync_start(s->d[i].p,
		    o->disk_sync, NULL, DISKBUF_PROGRESS_TTY) == -1)
			return -1;
	return 0;
err:
	pset_free(s);
	return -1;
}

/* ---- Backup ------------------------------------------------------- */

static const uint32_t backup_rec_types[] = {
	STREAM_REC_DISKS, STREAM_REC_DISK_WRITE, 0
};

struct bset {
	const struct diskmap *map;	/* the guest's images (borrowed) */
	char		*state_dir;
	char		*sync_listen;	/* or NULL */
	size_t		 n;		/* disks DISKS declared, matched */
	struct diskbuf_backup *d[DISKMAP_MAX];
	char		 pname[DISKMAP_MAX][STREAM_DISK_NAME_LEN];
	struct diskbuf_sync_rx *rx;
};

static void
bset_close(struct bset *s)
{
	size_t i;

	diskbuf_sync_rx_free(s->rx);
	s->rx = NULL;
	for (i = 0; i < s->n; i++)
		diskbuf_backup_free(s->d[i]);
	s->n = 0;
}

/* Open image PATH for disk I, declared with SIZE bytes.  NULL with WHY. */
static struct diskbuf_backup *
open_disk(struct bset *s, const char *path, size_t i, uint64_t size,
    char *why, size_t len)
{
	struct diskbuf_backup_cfg cfg = { 0 };
	struct diskbuf_backup *db;

	cfg.image = path;
	cfg.disk = (uint16_t)i;
	cfg.spill_dir = s->state_dir;
	db = diskbuf_backup_new(&cfg);
	if (db == NULL) {
		snprintf(why, len, "disk image %s: %s", path, strerror(errno));
		return NULL;
	}
	if (diskbuf_backup_size(db) == 0) {
		snprintf(why, len, "backup image %s is empty: run "
		    "remus-disksync recv first", path);
		diskbuf_backup_free(db);
		return NULL;
	}
	if (diskbuf_backup_size(db) != size) {
		snprintf(why, len, "image size mismatch: the backup image %s "
		    "is %" PRIu64 " bytes, the primary's disk %s %" PRIu64
		    " bytes", path, diskbuf_backup_size(db), *s->pname[i] ?
		    s->pname[i] : "(unnamed)", size);
		diskbuf_backup_free(db);
		return NULL;
	}
	return db;
}

/* DISKS, or NULL: the primary declared none.  Each of its disks must
 * have its image here, and each image its disk. */
static int
bak_declare(void *dev, const struct stream_rec *rec, char *why, size_t len)
{
	struct bset *s = dev;
	const char *names[DISKMAP_MAX] = { NULL };
	char ours[256];
	size_t idx[DISKMAP_MAX], i, n = rec ? rec->u.disks.count : 0;

	if (rec == NULL) {
		diskmap_names(s->map, ours, sizeof ours);
		snprintf(why, len, "this backup holds disk images for the "
		    "guest (%s), the primary replicates none (remus --disk "
		    "or --disk-server)", ours);
		return -1;
	}
	for (i = 0; i < n; i++)
		names[i] = rec->u.disks.name[i];
	if (diskmap_match(s->map, names, n, "the primary", idx, why,
	    len) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(s->pname[i], sizeof s->pname[i], "%s", names[i]);
		s->d[i] = open_disk(s, s->map->v[idx[i]].path, i,
		    rec->u.disks.size[i], why, len);
		if (s->d[i] == NULL) {
			bset_close(s);
			return -1;
		}
		s->n = i + 1;
		log_info("disk %s (index %zu) of the primary is %s here",
		    *names[i] ? names[i] : "(unnamed)", i,
		    s->map->v[idx[i]].path);
	}
	if (s->sync_listen == NULL)
		return 0;
	s->rx = diskbuf_sync_rx_start(s->sync_listen, s->d, names, s->n);
	if (s->rx == NULL) {
		snprintf(why, len, "initial disk sync: listen on %s: %s",
		    s->sync_listen, strerror(errno));
		bset_close(s);
		return -1;
	}
	return 0;
}

static int
bak_record(void *dev, uint64_t epoch, const struct stream_rec *rec)
{
	struct bset *s = dev;
	const struct stream_disk_write *h = &rec->u.disk;

	/* The reader checked that the body holds the header and exactly
	 * the data a WRITE needs, and that the disk is one DISKS declared;
	 * check again, cheaply, before use. */
	if (rec->type != STREAM_REC_DISK_WRITE ||
	    rec->length < sizeof(struct stream_disk_write) ||
	    h->disk >= s->n) {
		log_warnx("epoch %" PRIu64 ": DISK_WRITE record (%u bytes, "
		    "disk %u) for no disk of this session", epoch, rec->length,
		    h->disk);
		errno = EINVAL;
		return -1;
	}
	return diskbuf_backup_record(s->d[h->disk], epoch, h,
	    rec->body + sizeof(struct stream_disk_write),
	    rec->length - sizeof(struct stream_disk_write));
}

static int
bak_commit(void *dev, uint64_t epoch)
{
	struct bset *s = dev;

	return diskbuf_backup_commit_set(s->d, s->n, epoch);
}

static void
bak_discard(void *dev, uint64_t epoch)
{
	struct bset *s = dev;
	size_t i;

	for (i = 0; i < s->n; i++)
		diskbuf_backup_discard(s->d[i], epoch);
}

/* Every disk at the committed epoch, or no activation. */
static int
bak_activate(void *dev)
{
	struct bset *s = dev;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (diskbuf_backup_activate(s->d[i]) == -1)
			return -1;
	return 0;
}

static void
bak_teardown(void *dev)
{
	struct bset *s = dev;

	if (s == NULL)
		return;
	bset_close(s);
	free(s->state_dir);
	free(s->sync_listen);
	free(s);
}

static const struct ckpt_backup_device_ops diskbuf_backup_ops = {
	.name = "diskbuf",
	.rec_types = backup_rec_types,
	.declare = bak_declare,
	.record = bak_record,
	.commit = bak_commit,
	.discard = bak_discard,
	.activate = bak_activate,
	.teardown = bak_teardown,
};

int
dev_diskbuf_backup_attach(struct backup *b, const struct remus_devopts *o)
{
	struct bset *s;

	if (o->no_disk || o->disks == NULL || o->disks->n == 0)
		return 0;
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return -1;
	s->map = o->disks;
	if ((o->state_dir && (s->state_dir = strdup(o->state_dir)) == NULL) ||
	    (o->disk_sync_listen &&
	    (s->sync_listen = strdup(o->disk_sync_listen)) == NULL)) {
		bak_teardown(s);
		return -1;
	}
	if (backup_add_device(b, &diskbuf_backup_ops, s) == -1) {
		log_warn("register the disk device");
		bak_teardown(s);
		return -1;
	}
	return 0;
}
