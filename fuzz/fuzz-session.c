/* fuzz/fuzz-session.c -- libFuzzer target for the backup's session: the
 * handshake and everything after it, not only the stream reader.
 *
 * Input: one control byte, then the primary -> backup byte stream (stream
 * header, HELLO, epochs, ...).  It drives the real receiver
 * (checkpoint/backup.c over checkpoint/peer.c, the failover policy
 * failover/fo-backup.c) with the real proc replica (domain-proc.c and its
 * store, proc-store.c) in a fresh state directory per input, removed after
 * it.  The bytes reach the link through a fake peer_io_ops table, the one
 * a TLS session would plug into; the descriptor under it is an eventfd
 * that always polls readable and writable, so the libev loop calls the
 * link's reader and writer the way a socket would and the fake io decides
 * what they get.  Control bits 0-4 seed the read chunk sizes (0: all at
 * once); bit 5 ends the link with a reset instead of EOF (the read fails
 * with ECONNRESET and writes from then on with EPIPE); bit 6 leaves the
 * backup without a disk; bit 7 makes the link congested: every other
 * read finds nothing (EAGAIN, back to the loop) and every third write is
 * refused and every third short, so the output queue, its write watcher
 * and the blocking last-words flush run.  When the input is consumed the
 * next read is EOF (or the reset): the loss of the primary.
 *
 * With a disk (bit 6 clear) the backup has remusd's disk device: the real
 * diskbuf backup (diskbuf-backup.c) on a FUZZ_DISK_SIZE image in the
 * state directory, behind a small copy of the adapter remusd/dev-diskbuf.c
 * has (that one is static to remusd): DISKS must declare that one disk
 * of that size, and DISK_WRITE records are buffered, committed into the
 * image with its undo log, or discarded.  Unlike remusd's, it also takes
 * a stream that declares no disk, so that every seed reaches its epochs.
 *
 * The loop runs until the session is over (backup_done_fn).  Oracles,
 * besides ASan/UBSan/LSan:
 *  - the session ends (a hang is libFuzzer's -timeout), with a result
 *    other than "failover failed" (no-activate keeps the replica);
 *  - nothing is activated or executed: the backup runs with no_activate
 *    and no fence command, and fork, vfork and the exec calls the project
 *    uses are wrapped at link time (-Wl,--wrap) to abort (not system():
 *    libFuzzer's -minimize_crash runs itself through it);
 *  - what the backup sent back parses as a back channel (WELCOME before
 *    READY, ACKs increasing: the pure reader's rules), and no ACK names
 *    an epoch beyond what it committed;
 *  - backup_free leaves no watcher in the loop (ev_run returns 0 at once)
 *    and no descriptor open.
 *
 * Deterministic for a given input: the state directory is new each time,
 * T is 60 s so no silence timer fires inside an iteration; only the
 * timing of the backup's heartbeats (every 200 ms) depends on the clock,
 * and those only add BC_HEARTBEAT records to the discarded output.
 *
 * Headers the harness declines (returns at once): a driver other than
 * proc that this binary has (xen would build domains).  A guest bigger
 * than FUZZ_GUEST_MAX (the proc store reserves the whole image on disk,
 * the receiver's slot table is 4 bytes per page) is refused by the
 * backup itself: the harness sets max_guest_mem as remusd
 * --max-guest-mem does.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "fuzz-chunk.h"
#include "backup.h"
#include "checkpoint.h"
#include "diskbuf.h"
#include "domain.h"
#include "log.h"
#include "peer.h"
#include "stream.h"

void	fuzz_ran(const char *what) __attribute__((noreturn));

#define FUZZ_GUEST_MAX	(8u << 20)	/* bytes of guest memory */
#define FUZZ_T_MS	60000u
#define FUZZ_DISK_SIZE	(1u << 20)
#define OUT_KEEP	(1u << 20)	/* back-channel bytes checked */

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- The fake link ------------------------------------------------- */

struct fake {
	const uint8_t	*data;
	size_t		 size, off;
	uint32_t	 rng;		/* read chunk sizes (0: all at once) */
	int		 congested, reset;
	unsigned	 nread, nwrite;
	uint8_t		*out;		/* what the backup sent, first OUT_KEEP */
	size_t		 out_len;
};

static const uint32_t chunk_max[4] = { 7, 64, 4096, 70000 };

static ssize_t
fake_read(void *ctx, int fd, void *buf, size_t len)
{
	struct fake *f = ctx;
	size_t n;

	(void)fd;
	if (f->congested && (f->nread++ & 1)) {
		errno = EAGAIN;
		return -1;
	}
	if (f->off == f->size) {
		if (!f->reset)
			return 0;		/* the primary is gone */
		errno = ECONNRESET;
		return -1;
	}
	n = f->rng ? fuzz_next_chunk(&f->rng, chunk_max) : f->size - f->off;
	if (n > f->size - f->off)
		n = f->size - f->off;
	if (n > len)
		n = len;
	memcpy(buf, f->data + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

static ssize_t
fake_write(void *ctx, int fd, const void *buf, size_t len)
{
	struct fake *f = ctx;
	size_t n = len, keep;

	(void)fd;
	if (f->reset && f->off == f->size) {
		errno = EPIPE;
		return -1;
	}
	if (f->congested) {
		switch (f->nwrite++ % 3) {
		case 0:
			errno = EAGAIN;
			return -1;
		case 1:
			n = len > 1 ? len / 2 : len;
			break;
		default:
			break;
		}
	}
	keep = OUT_KEEP - f->out_len < n ? OUT_KEEP - f->out_len : n;
	memcpy(f->out + f->out_len, buf, keep);
	f->out_len += keep;
	return (ssize_t)n;
}

static const struct peer_io_ops fake_io = {
	.name = "fuzz",
	.read = fake_read,
	.write = fake_write,
};

/* ---- The disk: remusd/dev-diskbuf.c's backup adapter ------------------ */

static const uint32_t disk_rec_types[] = {
	STREAM_REC_DISKS, STREAM_REC_DISK_WRITE, 0
};

static int
disk_declare(void *dev, const struct stream_rec *rec, char *why, size_t len)
{
	(void)dev;
	if (rec == NULL)
		return 0;
	if (rec->u.disks.count != 1 ||
	    rec->u.disks.size[0] != FUZZ_DISK_SIZE) {
		snprintf(why, len, "want one disk of %u bytes", FUZZ_DISK_SIZE);
		return -1;
	}
	return 0;
}

static int
disk_record(void *dev, uint64_t epoch, const struct stream_rec *rec)
{
	if (rec->type != STREAM_REC_DISK_WRITE ||
	    rec->length < sizeof(struct stream_disk_write)) {
		errno = EINVAL;
		return -1;
	}
	return diskbuf_backup_record(dev, epoch, &rec->u.disk,
	    rec->body + sizeof(struct stream_disk_write),
	    rec->length - sizeof(struct stream_disk_write));
}

static int
disk_commit(void *dev, uint64_t epoch)
{
	struct diskbuf_backup *db = dev;

	return diskbuf_backup_commit_set(&db, 1, epoch);
}

static void
disk_discard(void *dev, uint64_t epoch)
{
	diskbuf_backup_discard(dev, epoch);
}

static int
disk_activate(void *dev)
{
	(void)dev;
	fuzz_ran("the disk device's activate");
}

static void
disk_teardown(void *dev)
{
	diskbuf_backup_free(dev);
}

static const struct ckpt_backup_device_ops disk_ops = {
	.name = "diskbuf",
	.rec_types = disk_rec_types,
	.declare = disk_declare,
	.record = disk_record,
	.commit = disk_commit,
	.discard = disk_discard,
	.activate = disk_activate,
	.teardown = disk_teardown,
};

/* ---- The session ----------------------------------------------------- */

static struct ev_loop *loop;
static char base_dir[256];

struct outcome {
	int			 done;
	enum backup_result	 result;
};

static void
session_done(struct backup *b, enum backup_result r, void *arg)
{
	struct outcome *o = arg;

	(void)b;
	o->done = 1;
	o->result = r;
}

/* 1 if the harness runs this input (see the top of the file). */
static int
acceptable(const uint8_t *data, size_t size)
{
	struct stream_reader r;
	struct stream_header_info hi;
	size_t used;
	const struct replica_ops *ro;

	stream_reader_init(&r, STREAM_DIR_FORWARD);
	if (stream_read_header(&r, data, size, &used, &hi) != STREAM_OK)
		return 1;			/* refused by the backup */
	ro = replica_ops_lookup(hi.driver);
	return ro == NULL || strcmp(ro->name, "proc") == 0;
}

/* Everything the backup sent must be a back channel the primary's reader
 * takes; a tail cut by the end of the session is fine. */
static void
check_back_channel(const struct fake *f, uint64_t committed)
{
	struct stream_reader r;
	struct stream_rec rec;
	enum stream_status st;
	size_t off = 0, used;

	stream_reader_init(&r, STREAM_DIR_BACK);
	while (off < f->out_len) {
		st = stream_read_record(&r, f->out + off, f->out_len - off,
		    &used, &rec);
		if (st == STREAM_NEED_MORE)
			break;
		if (st != STREAM_OK && st != STREAM_SKIPPED) {
			fprintf(stderr, "fuzz-session: the backup sent a bad "
			    "back channel at offset %zu: %s\n", off,
			    stream_strerror(st));
			abort();
		}
		if (st == STREAM_OK && rec.type == STREAM_REC_ACK &&
		    rec.u.ctl.value > committed) {
			fprintf(stderr, "fuzz-session: ACK(%llu) but only "
			    "epoch %llu committed\n",
			    (unsigned long long)rec.u.ctl.value,
			    (unsigned long long)committed);
			abort();
		}
		off += used;
	}
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
remove_base(void)
{
	if (base_dir[0] != '\0')
		nftw(base_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The lowest free descriptor: the same after an input as before it, or
 * the input left one open. */
static int
lowest_free_fd(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);

	if (fd == -1)
		abort();
	close(fd);
	return fd;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	/* stderr whatever it is (libFuzzer's -close_fd_mask=2 makes it
	 * /dev/null): never the journal or syslog. */
	log_init("fuzz-session", 1, 0);
	if (tmp == NULL || *tmp == '\0')
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(base_dir, sizeof base_dir, "%s/fuzz-session.XXXXXX", tmp);
	if (mkdtemp(base_dir) == NULL) {
		fprintf(stderr, "fuzz-session: mkdtemp %s: %s\n", base_dir,
		    strerror(errno));
		exit(1);
	}
	atexit(remove_base);
	loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	if (loop == NULL) {
		fprintf(stderr, "fuzz-session: no event loop\n");
		exit(1);
	}
	return 0;
}

/* The backup decides what it starts (remusd --guest NAME=COMMAND): every
 * guest the fuzzer names is configured to run /bin/true, the program the
 * seeds' streams name, so that sessions get past HELLO into their epochs;
 * a stream naming another program is refused, as remusd would.  Nothing
 * is ever started here (no_activate, and fork/exec abort). */
static int
fuzz_hello(struct backup *b, const char *name, const char *driver,
    const char **dir, struct replica_conf *conf, char *why, size_t len,
    void *arg)
{
	static char *const argv[] = { "/bin/true", NULL };

	(void)b; (void)name; (void)driver; (void)dir; (void)why; (void)len;
	(void)arg;
	conf->argv = argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned seq;
	struct fake f;
	struct outcome o = { 0 };
	struct backup_config cfg;
	struct backup *b;
	char dir[sizeof base_dir + 32], img[sizeof dir + 16];
	uint64_t committed;
	int fd, with_disk, fd0;

	if (loop == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 1)
		return 0;
	memset(&f, 0, sizeof f);
	f.rng = (data[0] & 0x1f) ? (data[0] & 0x1f) * 2654435761u : 0;
	f.reset = (data[0] >> 5) & 1;
	with_disk = !(data[0] & 0x40);
	f.congested = data[0] >> 7;
	f.data = data + 1;
	f.size = size - 1;
	if (!acceptable(f.data, f.size))
		return 0;
	f.out = malloc(OUT_KEEP);
	if (f.out == NULL)
		abort();
	fd0 = lowest_free_fd();

	snprintf(dir, sizeof dir, "%s/%u", base_dir, seq++);
	if (mkdir(dir, 0700) == -1) {
		fprintf(stderr, "fuzz-session: mkdir %s: %s\n", dir,
		    strerror(errno));
		abort();
	}
	fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd == -1)
		abort();
	memset(&cfg, 0, sizeof cfg);
	cfg.state_dir = dir;
	cfg.timeout_ms = FUZZ_T_MS;
	cfg.no_activate = 1;
	/* The backup's own limit refuses bigger guests at the header, as
	 * remusd --max-guest-mem does: that refusal is fuzzed too. */
	cfg.max_guest_mem = FUZZ_GUEST_MAX;
	cfg.io = &fake_io;
	cfg.io_ctx = &f;
	cfg.hello = fuzz_hello;
	b = backup_new(loop, fd, fd, &cfg, session_done, &o);
	if (b == NULL)
		abort();
	backup_set_peer(b, "fuzz");
	if (with_disk) {
		struct diskbuf_backup_cfg dc = {
			.image = img, .size = FUZZ_DISK_SIZE, .spill_dir = dir,
		};
		struct diskbuf_backup *db;

		snprintf(img, sizeof img, "%s/disk.img", dir);
		db = diskbuf_backup_new(&dc);
		if (db == NULL || backup_add_device(b, &disk_ops, db) == -1)
			abort();
	}
	if (backup_start(b) == -1 && !o.done)
		abort();
	while (!o.done)
		ev_run(loop, EVRUN_ONCE);
	if (o.result == BACKUP_RUNNING || o.result == BACKUP_FAILOVER_FAILED ||
	    backup_get_result(b) != o.result) {
		fprintf(stderr, "fuzz-session: session ended with %s\n",
		    backup_result_str(o.result));
		abort();
	}
	committed = backup_committed(b);
	backup_free(b);
	/* Nothing of the session may be left in the loop. */
	if (ev_run(loop, EVRUN_NOWAIT)) {
		fprintf(stderr, "fuzz-session: watchers left after "
		    "backup_free\n");
		abort();
	}
	if (lowest_free_fd() != fd0) {
		fprintf(stderr, "fuzz-session: descriptor %d left open\n", fd0);
		abort();
	}
	check_back_channel(&f, committed);
	free(f.out);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
