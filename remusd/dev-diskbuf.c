/* remusd/dev-diskbuf.c -- diskbuf as a checkpoint device.
 *
 * Primary (remus --disk IMAGE --nbd-listen ADDR): the NBD server starts at
 * attach time and logs every write into epoch 1 from then on, so the
 * backup's copy must equal IMAGE as it is now (remus-disksync before
 * remus; docs/diskbuf.md).  postsuspend closes the epoch's log, save
 * appends its DISK_WRITE records to the epoch in the stream.
 *
 * Backup (remusd --disk IMAGE): DISK_WRITE records are buffered per epoch
 * (spilling into the state directory), applied and fdatasync'ed on commit
 * before the ACK, dropped on discard and failover.
 *
 * Live initial sync (struct remus_devopts, from flags or remus.conf(5)):
 *   remusd: --disk-sync-listen HOST:PORT  receive the copy there
 *   remus:  --disk-sync HOST:PORT         send the copy there
 *           --disk-sync-rate BYTES        per second (K/M/G)
 * Epochs run meanwhile; the backup keeps them until the copy is complete
 * and refuses to activate before (docs/diskbuf.md).
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
#include "log.h"
#include "ratelimit.h"
#include "stream.h"
#include "util.h"

#define NBD_LISTEN_DEFAULT	"127.0.0.1:10809"

/* ---- Primary ------------------------------------------------------ */

/* Test hook: REMUS_DISKBUF_DIGESTS=FILE appends "EPOCH DIGEST" at every
 * postsuspend, the image as of the epoch's cut (taken in the same hold of
 * the write lock as the cut), which is what the backup must hold once the
 * epoch commits.  It reads the whole image while the guest is paused:
 * tests only. */
static const char *
digests_file(void)
{
	const char *path = getenv("REMUS_DISKBUF_DIGESTS");

	return path && *path ? path : NULL;
}

static void
digest_write(uint64_t epoch, const uint8_t dg[16])
{
	static int warned;
	const char *path = digests_file();
	char hex[33], line[64];
	int fd, n;

	diskbuf_hash_hex(dg, hex);
	n = snprintf(line, sizeof line, "%" PRIu64 " %s\n", epoch, hex);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if ((fd == -1 || write(fd, line, (size_t)n) != n) && !warned) {
		warned = 1;
		log_warn("REMUS_DISKBUF_DIGESTS %s", path);
	}
	if (fd != -1)
		close(fd);
}

static void
digest_hook(void *dev, uint64_t epoch)
{
	uint8_t dg[16];

	if (digests_file() && diskbuf_primary_digest(dev, dg) == 0)
		digest_write(epoch, dg);
}

static int
pri_postsuspend(void *dev, uint64_t epoch)
{
	uint8_t dg[16];

	if (digests_file() == NULL)
		return diskbuf_primary_epoch_close(dev, epoch);
	if (diskbuf_primary_epoch_close_digest(dev, epoch, dg) == -1)
		return -1;
	digest_write(epoch, dg);
	return 0;
}

static int
emit_record(void *arg, const struct stream_disk_write *h, const void *data)
{
	if (stream_write_disk(arg, h, data) == -1) {
		log_warn("DISK_WRITE record (offset %" PRIu64 ", length %u)",
		    h->offset, h->length);
		return -1;
	}
	return 0;
}

static int
pri_save(void *dev, uint64_t epoch, struct stream_writer *w)
{
	return diskbuf_primary_save(dev, epoch, emit_record, w);
}

static int
pri_commit(void *dev, uint64_t epoch)
{
	return diskbuf_primary_commit(dev, epoch);
}

static void
pri_release_all(void *dev)
{
	diskbuf_primary_unprotect(dev, "protection ended");
}

/* The disk whose live initial sync started at attach, for
 * dev_diskbuf_sync_state (cleared at its teardown). */
static struct diskbuf_primary *syncing;

static void
pri_teardown(void *dev)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	unsigned n;

	if (dev == NULL)
		return;
	if (dev == syncing)
		syncing = NULL;
	/* The guest's disk lives in this process: while the guest still
	 * has it open, closing the export would pull the disk from under a
	 * running guest.  Serve on, unprotected, until it lets go. */
	n = diskbuf_primary_clients(dev);
	if (n > 0) {
		log_warnx("the guest still uses the disk (%u NBD clients): "
		    "serving it unprotected until they disconnect", n);
		while (diskbuf_primary_clients(dev) > 0)
			nanosleep(&ts, NULL);
	}
	diskbuf_primary_free(dev);
}

#define DISKBUF_NO_REPROTECT "a replicated disk is not re-synchronised " \
	"to a new backup yet"

static const struct ckpt_device_ops diskbuf_primary_ops = {
	.name = "diskbuf",
	.postsuspend = pri_postsuspend,
	.save = pri_save,
	.commit = pri_commit,
	.release_all = pri_release_all,
	/* No reprotect: the initial sync runs once, at attach, so a new
	 * backup's disk would miss every write since the release. */
	.no_reprotect = DISKBUF_NO_REPROTECT,
	.teardown = pri_teardown,
};

/* ---- Primary, the disk served by remus-diskd ----------------------- *
 *
 * The same hooks, each a request to the disk server (diskbuf/ctl.c).  The
 * server owns the export and the write logs; remus only cuts epochs and
 * carries their records.  Closing the connection (teardown, or remus
 * dying) ends the protection there while the guest's disk stays up. */

static int
ctl_postsuspend(void *dev, uint64_t epoch)
{
	uint8_t dg[16];

	if (diskbuf_ctl_epoch_close(dev, epoch,
	    digests_file() ? dg : NULL) == -1)
		return -1;
	if (digests_file())
		digest_write(epoch, dg);
	return 0;
}

static int
ctl_save(void *dev, uint64_t epoch, struct stream_writer *w)
{
	return diskbuf_ctl_save(dev, epoch, emit_record, w);
}

static int
ctl_commit(void *dev, uint64_t epoch)
{
	return diskbuf_ctl_commit(dev, epoch);
}

static void
ctl_release_all(void *dev)
{
	diskbuf_ctl_detach(dev);
}

static void
ctl_teardown(void *dev)
{
	diskbuf_ctl_free(dev);
}

static const struct ckpt_device_ops diskbuf_ctl_ops = {
	.name = "diskbuf",
	.postsuspend = ctl_postsuspend,
	.save = ctl_save,
	.commit = ctl_commit,
	.release_all = ctl_release_all,
	/* No reprotect: the initial sync runs once, at attach, so a new
	 * backup's disk would miss every write since the release. */
	.no_reprotect = DISKBUF_NO_REPROTECT,
	.teardown = ctl_teardown,
};

static int
attach_server(struct ckpt *c, const struct remus_devopts *o)
{
	struct diskbuf_ctl *ctl;
	uint8_t dg[16];

	uint64_t rate = o->disk_sync_rate;

	/* remus-diskd sends the sync from its own process: it cannot draw
	 * on our bucket, so it gets the cap as its own rate (with epochs
	 * running meanwhile, the link may carry up to twice the cap until
	 * the sync is done; docs/link.md). */
	if (o->ratelimit != NULL && (rate == 0 ||
	    rate > ratelimit_rate(o->ratelimit)))
		rate = ratelimit_rate(o->ratelimit);
	ctl = diskbuf_ctl_open(o->disk_server, o->disk_sync, rate);
	if (ctl == NULL)
		return -1;
	if (digests_file() && diskbuf_ctl_digest(ctl, dg) == 0)
		digest_write(0, dg);
	if (ckpt_add_device(c, &diskbuf_ctl_ops, ctl) == -1) {
		log_warn("register the disk device");
		diskbuf_ctl_free(ctl);
		return -1;
	}
	return 0;
}

/* The guest's own disks (DISKS: "vdev=target,...", from the driver) can
 * only be replicated when remus-diskd serves them: find its control
 * socket, or say what to do instead. */
int
dev_diskbuf_guest_disks(const char *spec, const char *disks,
    struct remus_devopts *o)
{
	static char ctl[256];
	const char *target;
	struct stat st;

	if (*disks == '\0')
		return 0;
	if (o->disk_image) {
		log_warnx("%s: --disk serves an image from remus itself, which "
		    "this guest's disks (%s) cannot use: serve the disk with "
		    "remus-diskd", spec, disks);
		return -1;
	}
	if (strchr(disks, ',')) {
		log_warnx("%s: disks %s: one replicated disk per guest is "
		    "supported; give -F -d if they are on shared storage",
		    spec, disks);
		return -1;
	}
	if (o->disk_server)
		return 0;
	target = strchr(disks, '=');
	target = target ? target + 1 : disks;
	if (strncmp(target, "/dev/nbd", 8) != 0 ||
	    diskbuf_ctl_path(target, ctl, sizeof ctl) == -1 ||
	    stat(ctl, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		log_warnx("%s: its disk (%s) is not replicated: serve it with "
		    "remus-diskd --device /dev/nbdN and give the guest "
		    "phy:/dev/nbdN, or give -F -d if it is on shared storage",
		    spec, disks);
		return -1;
	}
	log_info("%s: replicating %s through remus-diskd at %s", spec,
	    disks, ctl);
	o->disk_server = ctl;
	return 0;
}

/* --bandwidth: the disk sync draws on the link's bucket. */
static void
sync_budget(void *arg, size_t bytes)
{
	ratelimit_take(arg, bytes);
}

/* --disk-sync: the live initial copy to the backup's remusd
 * --disk-sync-listen, before the first epoch. */
static int
start_sync(struct diskbuf_primary *p, const struct remus_devopts *o)
{
	if (o->disk_sync == NULL)
		return 0;
	diskbuf_sync_set_rate(o->disk_sync_rate);
	if (o->ratelimit != NULL)
		diskbuf_sync_set_budget(sync_budget, o->ratelimit);
	if (diskbuf_primary_sync_start(p, o->disk_sync,
	    DISKBUF_PROGRESS_TTY) == -1)
		return -1;
	syncing = p;
	return 0;
}

const char *
dev_diskbuf_sync_state(void)
{
	if (syncing == NULL)
		return "none";
	switch (diskbuf_primary_sync_done(syncing)) {
	case 0:		return "running";
	case 1:		return "done";
	default:	return "failed";
	}
}

int
dev_diskbuf_attach(struct ckpt *c, const struct remus_devopts *o)
{
	struct diskbuf_primary_cfg cfg = { .protect = 1 };
	struct diskbuf_primary *p;
	const char *addr = o->nbd_listen ? o->nbd_listen : NBD_LISTEN_DEFAULT;

	if (o->no_disk)
		return 0;
	if (o->disk_server)
		return attach_server(c, o);
	if (o->disk_image == NULL)
		return 0;
	cfg.image = o->disk_image;
	p = diskbuf_primary_new(&cfg);
	if (p == NULL)
		return -1;
	if (diskbuf_primary_listen(p, addr) == -1) {
		diskbuf_primary_free(p);
		return -1;
	}
	digest_hook(p, 0);
	if (ckpt_add_device(c, &diskbuf_primary_ops, p) == -1) {
		log_warn("register the disk device");
		diskbuf_primary_free(p);
		return -1;
	}
	/* Registered: from here the engine tears p down. */
	return start_sync(p, o);
}

/* ---- Backup ------------------------------------------------------- */

static const uint32_t backup_rec_types[] = { STREAM_REC_DISK_WRITE, 0 };

static int
bak_record(void *dev, uint64_t epoch, const struct stream_rec *rec)
{
	/* The reader checked that the body holds the header and exactly
	 * the data a WRITE needs; check again, cheaply, before use. */
	if (rec->length < sizeof(struct stream_disk_write)) {
		log_warnx("epoch %" PRIu64 ": DISK_WRITE record of %u bytes "
		    "is too short", epoch, rec->length);
		errno = EINVAL;
		return -1;
	}
	return diskbuf_backup_record(dev, epoch, &rec->u.disk,
	    rec->body + sizeof(struct stream_disk_write),
	    rec->length - sizeof(struct stream_disk_write));
}

static int
bak_commit(void *dev, uint64_t epoch)
{
	return diskbuf_backup_commit(dev, epoch);
}

static void
bak_discard(void *dev, uint64_t epoch)
{
	diskbuf_backup_discard(dev, epoch);
}

static int
bak_activate(void *dev)
{
	return diskbuf_backup_activate(dev);
}

static void
bak_teardown(void *dev)
{
	diskbuf_backup_free(dev);
}

static const struct ckpt_backup_device_ops diskbuf_backup_ops = {
	.name = "diskbuf",
	.rec_types = backup_rec_types,
	.record = bak_record,
	.commit = bak_commit,
	.discard = bak_discard,
	.activate = bak_activate,
	.teardown = bak_teardown,
};

int
dev_diskbuf_backup_attach(struct backup *b, const struct remus_devopts *o)
{
	struct diskbuf_backup_cfg cfg = { 0 };
	struct diskbuf_backup *db;

	if (o->no_disk || o->disk_image == NULL)
		return 0;
	cfg.image = o->disk_image;
	cfg.spill_dir = o->state_dir;
	db = diskbuf_backup_new(&cfg);
	if (db == NULL)
		return -1;
	if (diskbuf_backup_size(db) == 0) {
		log_warnx("backup image %s is empty: run remus-disksync recv "
		    "first", o->disk_image);
		diskbuf_backup_free(db);
		errno = EINVAL;
		return -1;
	}
	if (backup_add_device(b, &diskbuf_backup_ops, db) == -1) {
		log_warn("register the disk device");
		diskbuf_backup_free(db);
		return -1;
	}
	if (o->disk_sync_listen)
		return diskbuf_backup_sync_listen(db, o->disk_sync_listen);
	return 0;
}
