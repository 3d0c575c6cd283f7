/* tests/unit/test-diskbuf.c -- diskbuf without the engine.
 *
 * The backup is fed DISK_WRITE records epoch by epoch and compared with a
 * model; the primary is driven over a socketpair by a minimal NBD client
 * written here, so malformed requests can be sent byte by byte.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskbuf.h"
#include "diskbuf-int.h"
#include "diskmap.h"
#include "fault.h"
#include "log.h"
#include "util.h"

#define SZ	(1u << 20)

static char dir[64];

static void
setup(void)
{
	strcpy(dir, "/tmp/test-diskbuf-XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
	log_init("test-diskbuf", 1, 0);
	signal(SIGPIPE, SIG_IGN);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert(system(cmd) == 0);
}

static char *
path(const char *name)
{
	static char buf[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

static void
make_image(const char *p, uint64_t size, uint8_t fill)
{
	uint8_t *b = malloc(size);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);

	cr_assert(b && fd != -1);
	memset(b, fill, size);
	cr_assert(write_full(fd, b, size) == 0);
	close(fd);
	free(b);
}

static void
read_image(const char *p, uint8_t *out, uint64_t size)
{
	int fd = open(p, O_RDONLY);

	cr_assert(fd != -1);
	cr_assert(pread_full(fd, out, size, 0) == 0);
	close(fd);
}

/* ---- Backup, driven with records ---------------------------------- */

struct model {
	uint8_t	committed[SZ];
	uint8_t	open[SZ];
};

static void
rec(struct diskbuf_backup *b, struct model *m, uint64_t epoch, uint8_t op,
    uint64_t off, uint32_t len, uint8_t fill)
{
	struct stream_disk_write h = { .offset = off, .length = len, .op = op };
	uint8_t *d = NULL;

	if (op == STREAM_DISK_WRITE) {
		d = malloc(len);
		memset(d, fill, len);
		memcpy(m->open + off, d, len);
	} else
		memset(m->open + off, 0, len);
	cr_assert(eq(int, diskbuf_backup_record(b, epoch, &h, d,
	    op == STREAM_DISK_WRITE ? len : 0), 0));
	free(d);
}

static void
check_image(const char *p, const uint8_t *want)
{
	static uint8_t got[SZ];

	read_image(p, got, SZ);
	cr_assert(memcmp(got, want, SZ) == 0, "backup image differs");
}

static void
epochs_commit_discard(uint64_t mem_limit)
{
	struct diskbuf_backup_cfg cfg = { .image = path("b.img"), .size = SZ,
	    .mem_limit = mem_limit, .spill_dir = dir };
	static struct model m;
	struct diskbuf_backup *b;
	uint64_t e;

	make_image(cfg.image, SZ, 0x5a);
	memset(m.committed, 0x5a, SZ);
	memcpy(m.open, m.committed, SZ);
	b = diskbuf_backup_new(&cfg);
	cr_assert(b != NULL);
	for (e = 1; e <= 6; e++) {
		rec(b, &m, e, STREAM_DISK_WRITE, (e * 4096 * 7) % SZ, 8192,
		    (uint8_t)e);
		rec(b, &m, e, STREAM_DISK_WRITE, 100 + e, 3000, (uint8_t)(e + 100));
		/* Overlapping writes in one epoch: order matters. */
		rec(b, &m, e, STREAM_DISK_WRITE, 1000, 5000, (uint8_t)(e + 50));
		rec(b, &m, e, STREAM_DISK_ZERO, 2000, 1000, 0);
		if (e % 2)
			rec(b, &m, e, STREAM_DISK_TRIM, 65536, 65536, 0);
		check_image(cfg.image, m.committed);	/* nothing applied */
		cr_assert(eq(int, diskbuf_backup_commit(b, e), 0));
		memcpy(m.committed, m.open, SZ);
		check_image(cfg.image, m.committed);
	}
	/* Epoch 7 is open when the stream dies. */
	rec(b, &m, 7, STREAM_DISK_WRITE, 0, SZ / 2, 0xee);
	cr_assert(eq(int, diskbuf_backup_activate(b), 0));
	check_image(cfg.image, m.committed);
	cr_assert(eq(u64, diskbuf_backup_committed(b), 6));
	diskbuf_backup_free(b);
}

Test(diskbuf, backup_applies_only_committed_epochs, .init = setup,
    .fini = teardown, .timeout = 20)
{
	epochs_commit_discard(0);
}

Test(diskbuf, backup_spills_past_the_memory_limit, .init = setup,
    .fini = teardown, .timeout = 20)
{
	epochs_commit_discard(4096);
}

Test(diskbuf, backup_discard_drops_the_open_epoch, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_backup_cfg cfg = { .image = path("b.img"), .size = SZ };
	static struct model m;
	struct diskbuf_backup *b;

	make_image(cfg.image, SZ, 0);
	memset(&m, 0, sizeof m);
	b = diskbuf_backup_new(&cfg);
	cr_assert(b != NULL);
	rec(b, &m, 1, STREAM_DISK_WRITE, 0, 4096, 1);
	cr_assert(eq(int, diskbuf_backup_commit(b, 1), 0));
	memcpy(m.committed, m.open, SZ);
	rec(b, &m, 2, STREAM_DISK_WRITE, 0, 4096, 2);
	diskbuf_backup_discard(b, 2);
	/* The epoch is resent after the discard, differently. */
	memcpy(m.open, m.committed, SZ);
	rec(b, &m, 2, STREAM_DISK_WRITE, 8192, 4096, 3);
	cr_assert(eq(int, diskbuf_backup_commit(b, 2), 0));
	memcpy(m.committed, m.open, SZ);
	check_image(cfg.image, m.committed);
	/* An epoch without disk writes commits too. */
	cr_assert(eq(int, diskbuf_backup_commit(b, 3), 0));
	cr_assert(eq(int, diskbuf_backup_commit(b, 3), -1));
	diskbuf_backup_free(b);
}

Test(diskbuf, backup_rejects_malformed_records, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_backup_cfg cfg = { .image = path("b.img"), .size = SZ };
	struct diskbuf_backup *b;
	struct stream_disk_write h = { .offset = SZ - 10, .length = 20,
	    .op = STREAM_DISK_WRITE };
	uint8_t d[64] = { 0 };

	make_image(cfg.image, SZ, 0);
	b = diskbuf_backup_new(&cfg);
	cr_assert(b != NULL);
	/* Beyond the end. */
	errno = 0;
	cr_assert(eq(int, diskbuf_backup_record(b, 1, &h, d, 20), -1));
	cr_assert(eq(int, errno, EINVAL));
	/* Offset overflow. */
	h.offset = UINT64_MAX - 5;
	cr_assert(eq(int, diskbuf_backup_record(b, 1, &h, d, 20), -1));
	/* Data length does not match. */
	h.offset = 0;
	cr_assert(eq(int, diskbuf_backup_record(b, 1, &h, d, 19), -1));
	/* ZERO with data. */
	h.op = STREAM_DISK_ZERO;
	cr_assert(eq(int, diskbuf_backup_record(b, 1, &h, d, 20), -1));
	/* Unknown op, unknown flag. */
	h.op = 9;
	cr_assert(eq(int, diskbuf_backup_record(b, 1, &h, NULL, 0), -1));
	h.op = STREAM_DISK_TRIM;
	h.flags = 0x80;
	cr_assert(eq(int, diskbuf_backup_record(b, 1, &h, NULL, 0), -1));
	/* Another disk's record is not ours: ignored. */
	h.flags = 0;
	h.disk = 1;
	h.op = 9;
	cr_assert(eq(int, diskbuf_backup_record(b, 1, &h, NULL, 0), 0));
	diskbuf_backup_free(b);
}

Test(diskbuf, backup_refuses_an_image_size_mismatch, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_backup_cfg cfg = { .image = path("b.img"), .size = SZ };

	make_image(cfg.image, SZ / 2, 0);
	errno = 0;
	cr_assert(diskbuf_backup_new(&cfg) == NULL);
	cr_assert(eq(int, errno, EINVAL));
	/* A missing image is created with the primary's size. */
	cfg.image = path("new.img");
	struct diskbuf_backup *b = diskbuf_backup_new(&cfg);

	cr_assert(b != NULL);
	cr_assert(eq(u64, diskbuf_backup_size(b), SZ));
	diskbuf_backup_free(b);
}

Test(diskbuf, backup_failed_apply_rolls_back_to_the_committed_epoch,
    .init = setup, .fini = teardown, .timeout = 20)
{
	struct diskbuf_backup_cfg cfg = { .image = path("b.img"), .size = SZ };
	static struct model m;
	struct diskbuf_backup *b;
	int i;

	make_image(cfg.image, SZ, 0x33);
	memset(m.committed, 0x33, SZ);
	memcpy(m.open, m.committed, SZ);
	b = diskbuf_backup_new(&cfg);
	cr_assert(b != NULL);
	rec(b, &m, 1, STREAM_DISK_WRITE, 0, 65536, 1);
	cr_assert(eq(int, diskbuf_backup_commit(b, 1), 0));
	memcpy(m.committed, m.open, SZ);
	for (i = 0; i < 8; i++)
		rec(b, &m, 2, i % 3 == 2 ? STREAM_DISK_ZERO : STREAM_DISK_WRITE,
		    (uint64_t)i * 30000, 40000, (uint8_t)(0x80 + i));
	fault_mask = 1u << FI_DISKBUF_EIO;	/* fails half-way */
	errno = 0;
	cr_assert(eq(int, diskbuf_backup_commit(b, 2), -1));
	cr_assert(eq(int, errno, EIO));
	fault_mask = 0;
	check_image(cfg.image, m.committed);
	cr_assert(eq(u64, diskbuf_backup_committed(b), 1));
	cr_assert(eq(int, diskbuf_backup_activate(b), 0));
	check_image(cfg.image, m.committed);
	diskbuf_backup_free(b);
}

Test(diskbuf, write_log_round_trips_through_the_spill_file, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct wlog *w = wlog_new(3, 10000, dir);
	struct stream_disk_write h = { .op = STREAM_DISK_WRITE };
	uint8_t d[6000], *scratch = NULL;
	size_t sl = 0, i;
	const void *p;

	cr_assert(w != NULL);
	for (i = 0; i < 5; i++) {
		memset(d, (int)i + 1, sizeof d);
		h.offset = i * 6000;
		h.length = 6000;
		cr_assert(eq(int, wlog_append(w, &h, d), 0));
	}
	cr_assert(w->spill_len > 0, "past the limit, data spills");
	for (i = 0; i < 5; i++) {
		cr_assert(eq(int, wlog_data(w, i, &p, &scratch, &sl), 0));
		memset(d, (int)i + 1, sizeof d);
		cr_assert(memcmp(p, d, sizeof d) == 0);
		cr_assert(eq(u64, w->ents[i].hdr.offset, i * 6000));
	}
	free(scratch);
	wlog_free(w);
}

/* ---- A minimal NBD client ----------------------------------------- */

struct cli {
	int	fd;
	struct diskbuf_primary *p;
};

static uint64_t
rd_be64(int fd)
{
	uint64_t v;

	cr_assert(read_full(fd, &v, 8, NULL) == 0);
	return be64toh(v);
}

static void
opt_send(int fd, uint32_t opt, const void *data, uint32_t len)
{
	struct nbd_opt_hdr h = { htobe64(NBD_IHAVEOPT), htobe32(opt),
	    htobe32(len) };

	cr_assert(write_full(fd, &h, sizeof h) == 0);
	if (len)
		cr_assert(write_full(fd, data, len) == 0);
}

/* Read one option reply; returns its type, data into BUF. */
static uint32_t
opt_recv(int fd, uint32_t opt, void *buf, uint32_t *len)
{
	struct nbd_opt_reply r;

	cr_assert(read_full(fd, &r, sizeof r, NULL) == 0);
	cr_assert(eq(u64, be64toh(r.magic), NBD_REP_MAGIC));
	cr_assert(eq(u32, be32toh(r.option), opt));
	uint32_t n = be32toh(r.length);

	cr_assert(n <= 512);
	if (n)
		cr_assert(read_full(fd, buf, n, NULL) == 0);
	*len = n;
	return be32toh(r.type);
}

/* Connect a client up to the option phase. */
static int
cli_open(struct diskbuf_primary *p)
{
	int sv[2];
	uint16_t hf;
	uint32_t cf = htobe32(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);

	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	cr_assert(diskbuf_primary_serve_fd(p, sv[0]) == 0);
	cr_assert(eq(u64, rd_be64(sv[1]), NBD_MAGIC));
	cr_assert(eq(u64, rd_be64(sv[1]), NBD_IHAVEOPT));
	cr_assert(read_full(sv[1], &hf, 2, NULL) == 0);
	cr_assert(be16toh(hf) & NBD_FLAG_FIXED_NEWSTYLE);
	cr_assert(write_full(sv[1], &cf, 4) == 0);
	return sv[1];
}

/* NBD_OPT_GO with NAME; returns the export size. */
static uint64_t
cli_go(int fd, const char *name)
{
	uint8_t b[512];
	uint32_t n = (uint32_t)strlen(name), nbe = htobe32(n), len, type;
	uint16_t zero = 0;
	uint64_t size = 0;

	memcpy(b, &nbe, 4);
	memcpy(b + 4, name, n);
	memcpy(b + 4 + n, &zero, 2);
	opt_send(fd, NBD_OPT_GO, b, 6 + n);
	while ((type = opt_recv(fd, NBD_OPT_GO, b, &len)) == NBD_REP_INFO) {
		if (len == 12 && b[1] == NBD_INFO_EXPORT) {
			memcpy(&size, b + 2, 8);
			size = be64toh(size);
		}
	}
	cr_assert(eq(u32, type, NBD_REP_ACK));
	return size;
}

static int
cli_connect(struct diskbuf_primary *p)
{
	int fd = cli_open(p);

	cr_assert(eq(u64, cli_go(fd, ""), diskbuf_primary_size(p)));
	return fd;
}

static void
req_send(int fd, uint16_t type, uint16_t flags, uint64_t off, uint32_t len,
    uint32_t magic)
{
	struct nbd_request r = { htobe32(magic), htobe16(flags), htobe16(type),
	    0x1122334455667788ull, htobe64(off), htobe32(len) };

	cr_assert(write_full(fd, &r, sizeof r) == 0);
}

/* Read a simple reply; returns its error, or -1 on EOF. */
static int
reply_recv(int fd, void *data, uint32_t len)
{
	struct nbd_simple_reply r;

	if (read_full(fd, &r, sizeof r, NULL) == -1)
		return -1;
	cr_assert(eq(u32, be32toh(r.magic), NBD_SIMPLE_REPLY_MAGIC));
	cr_assert(eq(u64, r.handle, 0x1122334455667788ull));
	if (r.error == 0 && len)
		cr_assert(read_full(fd, data, len, NULL) == 0);
	return (int)be32toh(r.error);
}

static int
cli_write(int fd, uint64_t off, uint32_t len, uint8_t fill, uint16_t flags)
{
	uint8_t *d = malloc(len);

	memset(d, fill, len);
	req_send(fd, NBD_CMD_WRITE, flags, off, len, NBD_REQUEST_MAGIC);
	cr_assert(write_full(fd, d, len) == 0);
	free(d);
	return reply_recv(fd, NULL, 0);
}

static int
cli_read(int fd, uint64_t off, uint32_t len, void *out)
{
	req_send(fd, NBD_CMD_READ, 0, off, len, NBD_REQUEST_MAGIC);
	return reply_recv(fd, out, len);
}

static int
is_closed(int fd)
{
	char c;

	return read(fd, &c, 1) == 0;
}

static struct diskbuf_primary *
primary(int protect)
{
	struct diskbuf_primary_cfg cfg = { .image = path("p.img"),
	    .protect = protect, .spill_dir = dir };
	struct diskbuf_primary *p;

	make_image(cfg.image, SZ, 0);
	p = diskbuf_primary_new(&cfg);
	cr_assert(p != NULL);
	return p;
}

/* ---- Primary -> backup, no engine ---------------------------------- */

struct feed {
	struct diskbuf_backup *b;
	uint64_t epoch;
	int n;
};

static int
feed_backup(void *arg, const struct stream_disk_write *h, const void *data)
{
	struct feed *f = arg;

	f->n++;
	return diskbuf_backup_record(f->b, f->epoch, h, data,
	    h->op == STREAM_DISK_WRITE ? h->length : 0);
}

static void
save_into(struct diskbuf_primary *p, struct diskbuf_backup *b, uint64_t e,
    int *n)
{
	struct feed f = { b, e, 0 };

	cr_assert(eq(int, diskbuf_primary_save(p, e, feed_backup, &f), 0));
	*n = f.n;
}

Test(diskbuf, primary_tags_writes_with_their_epoch, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_primary *p = primary(1);
	struct diskbuf_backup_cfg bc = { .image = path("b.img"), .size = SZ };
	struct diskbuf_backup *b;
	static uint8_t img[SZ];
	uint8_t dg[16], want[16];
	int fd, n;

	make_image(bc.image, SZ, 0);
	b = diskbuf_backup_new(&bc);
	cr_assert(b != NULL);
	fd = cli_connect(p);
	cr_assert(eq(int, cli_write(fd, 0, 4096, 1, 0), 0));
	cr_assert(eq(int, cli_write(fd, 8192, 4096, 2, NBD_CMD_FLAG_FUA), 0));
	req_send(fd, NBD_CMD_WRITE_ZEROES, 0, 0, 1024, NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), 0));
	cr_assert(eq(int, diskbuf_primary_epoch_close(p, 1), 0));
	cr_assert(eq(int, diskbuf_primary_digest(p, want), 0));
	/* Epoch 2's writes are not epoch 1's. */
	cr_assert(eq(int, cli_write(fd, 65536, 4096, 3, 0), 0));
	req_send(fd, NBD_CMD_TRIM, 0, 0, 4096, NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), 0));
	req_send(fd, NBD_CMD_FLUSH, 0, 0, 0, NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), 0));
	save_into(p, b, 1, &n);
	cr_assert(eq(int, n, 3));
	cr_assert(eq(int, diskbuf_backup_commit(b, 1), 0));
	read_image(bc.image, img, SZ);
	diskbuf_hash_fd(open(bc.image, O_RDONLY), SZ, dg);
	cr_assert(memcmp(dg, want, 16) == 0, "backup = primary at epoch 1");
	cr_assert(eq(u8, img[0], 0));		/* zeroed */
	cr_assert(eq(u8, img[2000], 1));
	cr_assert(eq(u8, img[8192], 2));
	cr_assert(eq(u8, img[65536], 0));	/* epoch 2, not applied */
	/* Epoch 2 open, primary dies: the backup stays at epoch 1. */
	cr_assert(eq(int, diskbuf_primary_epoch_close(p, 2), 0));
	save_into(p, b, 2, &n);
	cr_assert(eq(int, n, 2));
	cr_assert(eq(int, diskbuf_backup_activate(b), 0));
	diskbuf_hash_fd(open(bc.image, O_RDONLY), SZ, dg);
	cr_assert(memcmp(dg, want, 16) == 0, "activated = epoch 1");
	req_send(fd, NBD_CMD_DISC, 0, 0, 0, NBD_REQUEST_MAGIC);
	cr_assert(is_closed(fd));
	close(fd);
	diskbuf_primary_free(p);
	diskbuf_backup_free(b);
}

/* A client that keeps writing through the cut (nothing pauses it, as in
 * diskbuf-pair, or a request in flight at postsuspend): the digest taken
 * with the cut must be exactly what the backup holds once the epoch
 * commits.  A digest taken by a separate call after epoch_close also saw
 * writes of the next epoch now and then.  The writer sends a burst of
 * BURST writes each time the test thread starts an epoch, so the bursts
 * race with the cut and an epoch's log stays small. */
#define BURST	64

struct writer {
	int		fd;
	atomic_int	stop;
	atomic_uint	gen;		/* bumped when an epoch starts */
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	static uint8_t d[4096];
	struct nbd_simple_reply r;
	unsigned i = 0, k = 0, seen = 0;

	/* No cr_assert off the test's thread: stop on any error. */
	while (!atomic_load(&w->stop)) {
		struct nbd_request rq = { htobe32(NBD_REQUEST_MAGIC), 0,
		    htobe16(NBD_CMD_WRITE), i, htobe64((i % 251) * 4096ull),
		    htobe32(sizeof d) };

		if (k == BURST) {
			if (atomic_load(&w->gen) == seen) {
				sched_yield();
				continue;
			}
			seen = atomic_load(&w->gen);
			k = 0;
		}
		memset(d, (int)(i++ & 0xff), sizeof d);
		if (write_full(w->fd, &rq, sizeof rq) == -1 ||
		    write_full(w->fd, d, sizeof d) == -1 ||
		    read_full(w->fd, &r, sizeof r, NULL) == -1 || r.error)
			break;
		k++;
	}
	return NULL;
}

/* 60 s: about 7 s under ASan on an idle machine, and it timed out at
 * 20 s with the host's load at 12. */
Test(diskbuf, close_digest_is_the_cut_under_writes, .init = setup,
    .fini = teardown, .timeout = 60)
{
	struct diskbuf_primary *p = primary(1);
	struct diskbuf_backup_cfg bc = { .image = path("b.img"), .size = SZ };
	struct diskbuf_backup *b;
	struct writer w = { .stop = 0, .gen = 0 };
	uint8_t want[16], got[16];
	pthread_t t;
	uint64_t e;
	int fd, n;

	make_image(bc.image, SZ, 0);
	b = diskbuf_backup_new(&bc);
	cr_assert(b != NULL);
	fd = open(bc.image, O_RDONLY);
	cr_assert(fd != -1);
	w.fd = cli_connect(p);
	cr_assert(eq(int, pthread_create(&t, NULL, writer_main, &w), 0));
	for (e = 1; e <= 300; e++) {
		atomic_fetch_add(&w.gen, 1);
		cr_assert(eq(int, diskbuf_primary_epoch_close_digest(p, e,
		    want), 0));
		save_into(p, b, e, &n);
		cr_assert(eq(int, diskbuf_backup_commit(b, e), 0));
		cr_assert(eq(int, diskbuf_hash_fd(fd, SZ, got), 0));
		cr_assert(memcmp(got, want, 16) == 0,
		    "epoch %" PRIu64 ": backup differs from the cut's digest", e);
	}
	atomic_store(&w.stop, 1);
	shutdown(w.fd, SHUT_RDWR);
	pthread_join(t, NULL);
	close(w.fd);
	close(fd);
	diskbuf_primary_free(p);
	diskbuf_backup_free(b);
}

Test(diskbuf, unprotect_keeps_serving_and_save_fails_loudly, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_primary *p = primary(1);
	uint8_t d[4096];
	int fd = cli_connect(p), n;

	cr_assert(eq(int, cli_write(fd, 0, 4096, 7, 0), 0));
	cr_assert(eq(int, diskbuf_primary_epoch_close(p, 1), 0));
	diskbuf_primary_unprotect(p, "test");
	cr_assert(eq(int, diskbuf_primary_protected(p), 0));
	cr_assert(eq(int, cli_write(fd, 4096, 4096, 8, 0), 0));
	cr_assert(eq(int, cli_read(fd, 4096, 4096, d), 0));
	cr_assert(eq(u8, d[100], 8));
	errno = 0;
	cr_assert(eq(int, diskbuf_primary_save(p, 1, feed_backup, &n), -1));
	close(fd);
	diskbuf_primary_free(p);
}

/* ---- Malformed requests ------------------------------------------- */

/* After each bad client, a fresh client must still be served. */
static void
still_serving(struct diskbuf_primary *p)
{
	uint8_t d[512];
	int fd = cli_connect(p);

	cr_assert(eq(int, cli_write(fd, 512, 512, 0x42, 0), 0));
	cr_assert(eq(int, cli_read(fd, 512, 512, d), 0));
	cr_assert(eq(u8, d[0], 0x42));
	close(fd);
}

Test(nbd, bad_request_magic_disconnects_only_that_client, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_primary *p = primary(0);
	int fd = cli_connect(p), other = cli_connect(p);
	struct diskbuf_stats st;

	req_send(fd, NBD_CMD_READ, 0, 0, 512, 0xdeadbeef);
	cr_assert(is_closed(fd));
	close(fd);
	uint8_t d[512];

	cr_assert(eq(int, cli_read(other, 0, 512, d), 0));
	close(other);
	still_serving(p);
	diskbuf_primary_stats(p, &st);
	cr_assert(eq(u64, st.bad_requests, 1));
	diskbuf_primary_free(p);
}

Test(nbd, oversize_write_disconnects, .init = setup, .fini = teardown,
    .timeout = 20)
{
	struct diskbuf_primary *p = primary(0);
	int fd = cli_connect(p);

	req_send(fd, NBD_CMD_WRITE, 0, 0, DISKBUF_NBD_MAX_LEN + 1,
	    NBD_REQUEST_MAGIC);
	cr_assert(is_closed(fd));
	close(fd);
	still_serving(p);
	diskbuf_primary_free(p);
}

Test(nbd, oversize_read_is_an_error_reply, .init = setup, .fini = teardown,
    .timeout = 20)
{
	struct diskbuf_primary_cfg cfg = { .image = path("big.img") };
	struct diskbuf_primary *p;
	int fd;

	/* Sparse 64 MiB so the length fits the export but not the limit. */
	cr_assert(eq(int, truncate((make_image(cfg.image, 1, 0), cfg.image),
	    64u << 20), 0));
	p = diskbuf_primary_new(&cfg);
	cr_assert(p != NULL);
	fd = cli_connect(p);
	req_send(fd, NBD_CMD_READ, 0, 0, DISKBUF_NBD_MAX_LEN + 1,
	    NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), NBD_EINVAL));
	close(fd);
	diskbuf_primary_free(p);
}

Test(nbd, requests_beyond_the_end_fail_and_the_client_stays, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_primary *p = primary(1);
	int fd = cli_connect(p), n = 0;
	uint8_t d[4096];

	cr_assert(eq(int, cli_write(fd, SZ - 100, 4096, 1, 0), NBD_ENOSPC));
	cr_assert(eq(int, cli_read(fd, SZ, 1, d), NBD_EINVAL));
	req_send(fd, NBD_CMD_READ, 0, UINT64_MAX - 10, 100, NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), NBD_EINVAL));
	req_send(fd, NBD_CMD_WRITE_ZEROES, 0, SZ, 1, NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), NBD_ENOSPC));
	req_send(fd, NBD_CMD_TRIM, 0, SZ - 1, 2, NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), NBD_EINVAL));
	/* The same connection still works, and nothing was logged. */
	cr_assert(eq(int, cli_read(fd, SZ - 4096, 4096, d), 0));
	cr_assert(eq(int, diskbuf_primary_epoch_close(p, 1), 0));
	cr_assert(eq(int, diskbuf_primary_save(p, 1, feed_backup, &n), 0));
	close(fd);
	diskbuf_primary_free(p);
}

Test(nbd, unknown_command_and_flags_fail_and_the_client_stays,
    .init = setup, .fini = teardown, .timeout = 20)
{
	struct diskbuf_primary *p = primary(0);
	int fd = cli_connect(p);
	uint8_t d[16];

	req_send(fd, 77, 0, 0, 0, NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), NBD_EINVAL));
	req_send(fd, NBD_CMD_CACHE, 0, 0, 16, NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), NBD_EINVAL));
	req_send(fd, NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA, 0, 0, NBD_REQUEST_MAGIC);
	cr_assert(eq(int, reply_recv(fd, NULL, 0), NBD_EINVAL));
	cr_assert(eq(int, cli_write(fd, 0, 16, 1, 0x80), NBD_EINVAL));
	cr_assert(eq(int, cli_read(fd, 0, 16, d), 0));
	cr_assert(eq(u8, d[0], 0), "the write with a bad flag did nothing");
	close(fd);
	diskbuf_primary_free(p);
}

Test(nbd, client_vanishing_mid_request_is_survived, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_primary *p = primary(1);
	int fd = cli_connect(p);

	/* Half a header, then half a payload on another client. */
	cr_assert(write_full(fd, "\x25\x60\x95", 3) == 0);
	close(fd);
	fd = cli_connect(p);
	req_send(fd, NBD_CMD_WRITE, 0, 0, 4096, NBD_REQUEST_MAGIC);
	cr_assert(write_full(fd, "abc", 3) == 0);
	close(fd);
	/* A client gone before the handshake ended. */
	fd = cli_open(p);
	close(fd);
	still_serving(p);
	diskbuf_primary_free(p);
}

Test(nbd, handshake_options, .init = setup, .fini = teardown, .timeout = 20)
{
	struct diskbuf_primary *p = primary(0);
	uint8_t b[512], big[NBD_OPT_MAX_LEN + 1] = { 0 };
	uint32_t len;
	int fd = cli_open(p);

	/* LIST names the export. */
	opt_send(fd, NBD_OPT_LIST, NULL, 0);
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_LIST, b, &len), NBD_REP_SERVER));
	cr_assert(eq(u32, len, 8));
	cr_assert(memcmp(b + 4, "disk", 4) == 0);
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_LIST, b, &len), NBD_REP_ACK));
	/* Unsupported options. */
	opt_send(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_STRUCTURED_REPLY, b, &len),
	    NBD_REP_ERR_UNSUP));
	opt_send(fd, NBD_OPT_STARTTLS, NULL, 0);
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_STARTTLS, b, &len),
	    NBD_REP_ERR_UNSUP));
	/* Malformed INFO (name length past the data). */
	memcpy(b, "\0\0\1\0\0\0", 6);
	opt_send(fd, NBD_OPT_INFO, b, 6);
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_INFO, b, &len),
	    NBD_REP_ERR_INVALID));
	/* Oversize option: skipped, answered. */
	opt_send(fd, 42, big, sizeof big);
	cr_assert(eq(u32, opt_recv(fd, 42, b, &len), NBD_REP_ERR_TOO_BIG));
	/* Unknown export. */
	memcpy(b, "\0\0\0\3abc\0\0", 9);
	opt_send(fd, NBD_OPT_GO, b, 9);
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_GO, b, &len),
	    NBD_REP_ERR_UNKNOWN));
	/* The export by its name works; INFO then GO. */
	memcpy(b, "\0\0\0\4disk\0\1\0\3", 12);
	opt_send(fd, NBD_OPT_INFO, b, 12);
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_INFO, b, &len), NBD_REP_INFO));
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_INFO, b, &len), NBD_REP_INFO));
	cr_assert(eq(u32, len, 14), "block size info was asked for");
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_INFO, b, &len), NBD_REP_ACK));
	cr_assert(eq(u64, cli_go(fd, "disk"), SZ));
	close(fd);

	/* ABORT is acknowledged and closes. */
	fd = cli_open(p);
	opt_send(fd, NBD_OPT_ABORT, NULL, 0);
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_ABORT, b, &len), NBD_REP_ACK));
	cr_assert(is_closed(fd));
	close(fd);

	/* Bad option magic closes. */
	fd = cli_open(p);
	struct nbd_opt_hdr h = { htobe64(0x1234), htobe32(NBD_OPT_GO), 0 };

	cr_assert(write_full(fd, &h, sizeof h) == 0);
	cr_assert(is_closed(fd));
	close(fd);

	/* Oldstyle EXPORT_NAME with an unknown name closes. */
	fd = cli_open(p);
	opt_send(fd, NBD_OPT_EXPORT_NAME, "nope", 4);
	cr_assert(is_closed(fd));
	close(fd);

	/* EXPORT_NAME "" enters transmission: size + flags (NO_ZEROES). */
	fd = cli_open(p);
	opt_send(fd, NBD_OPT_EXPORT_NAME, NULL, 0);
	cr_assert(eq(u64, rd_be64(fd), SZ));
	cr_assert(read_full(fd, b, 2, NULL) == 0);
	cr_assert(eq(u16, (uint16_t)((b[0] << 8 | b[1]) & NBD_FLAG_SEND_FLUSH),
	    NBD_FLAG_SEND_FLUSH), "flags 0x%02x%02x", b[0], b[1]);
	close(fd);
	still_serving(p);
	diskbuf_primary_free(p);
}

Test(nbd, unknown_client_flags_disconnect, .init = setup, .fini = teardown,
    .timeout = 20)
{
	struct diskbuf_primary *p = primary(0);
	int sv[2];
	uint8_t hello[18];
	uint32_t cf = htobe32(0x80);

	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	cr_assert(diskbuf_primary_serve_fd(p, sv[0]) == 0);
	cr_assert(read_full(sv[1], hello, sizeof hello, NULL) == 0);
	cr_assert(write_full(sv[1], &cf, 4) == 0);
	cr_assert(is_closed(sv[1]));
	close(sv[1]);
	still_serving(p);
	diskbuf_primary_free(p);
}

/* ---- Initial sync -------------------------------------------------- */

struct recv_arg {
	int sock, fd, create, rc;
	uint64_t size;
	struct diskbuf_sync_stats st;
};

static void *
recv_thread(void *a)
{
	struct recv_arg *r = a;

	r->rc = diskbuf_sync_recv(r->sock, r->fd, r->size, r->create, &r->st);
	return NULL;
}

static int
run_sync(const char *src, const char *dst, int create,
    struct diskbuf_sync_stats *st)
{
	struct recv_arg ra = { .create = create };
	struct stat s;
	pthread_t t;
	int sv[2], sfd, rc;

	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	sfd = open(src, O_RDONLY);
	ra.fd = open(dst, O_RDWR | O_CREAT, 0600);
	cr_assert(sfd != -1 && ra.fd != -1);
	fstat(ra.fd, &s);
	ra.size = (uint64_t)s.st_size;
	ra.sock = sv[1];
	fstat(sfd, &s);
	pthread_create(&t, NULL, recv_thread, &ra);
	rc = diskbuf_sync_send(sv[0], sfd, (uint64_t)s.st_size, 65536, "", 0, st);
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
	close(sfd);
	close(ra.fd);
	return rc == 0 && ra.rc == 0 ? 0 : -1;
}

Test(sync, full_copy_then_only_differing_blocks, .init = setup,
    .fini = teardown, .timeout = 30)
{
	static uint8_t a[SZ], b[SZ];
	struct diskbuf_sync_stats st;
	int fd, i;

	for (i = 0; i < (int)SZ; i++)
		a[i] = (uint8_t)(i * 7 + i / 4096);
	fd = open(path("src"), O_RDWR | O_CREAT, 0600);
	cr_assert(write_full(fd, a, SZ) == 0);
	cr_assert(run_sync(path("src"), path("dst"), 1, &st) == 0);
	cr_assert(eq(u64, st.blocks, SZ / 65536));
	cr_assert(eq(u64, st.blocks_sent, SZ / 65536));
	read_image(path("dst"), b, SZ);
	cr_assert(memcmp(a, b, SZ) == 0);
	/* Change two blocks: only they move. */
	cr_assert(pwrite_full(fd, "x", 1, 5) == 0);
	cr_assert(pwrite_full(fd, "y", 1, SZ - 1) == 0);
	close(fd);
	cr_assert(run_sync(path("src"), path("dst"), 0, &st) == 0);
	cr_assert(eq(u64, st.blocks_sent, 2));
	read_image(path("src"), a, SZ);
	read_image(path("dst"), b, SZ);
	cr_assert(memcmp(a, b, SZ) == 0);
	/* Identical: nothing moves. */
	cr_assert(run_sync(path("src"), path("dst"), 0, &st) == 0);
	cr_assert(eq(u64, st.blocks_sent, 0));
}

Test(sync, size_mismatch_is_refused, .init = setup, .fini = teardown,
    .timeout = 30)
{
	struct diskbuf_sync_stats st;

	make_image(path("src"), SZ, 1);
	make_image(path("dst"), SZ / 2, 1);
	cr_assert(run_sync(path("src"), path("dst"), 0, &st) == -1);
}

/* Live sync: epochs committed during the copy are kept, not applied (the
 * copy would overwrite them), activation is refused, and the first commit
 * after the copy replays them in order. */
Test(sync, live_sync_keeps_epochs_until_the_copy_is_complete, .init = setup,
    .fini = teardown, .timeout = 30)
{
	struct diskbuf_backup_cfg cfg = { .image = path("b.img"), .size = SZ,
	    .spill_dir = dir };
	static struct model m;
	struct diskbuf_backup *b;
	struct diskbuf_sync_stats st;
	char addr[32];
	int fd, sock, i;

	make_image(path("src"), SZ, 0x21);
	make_image(cfg.image, SZ, 0);
	memset(m.committed, 0x21, SZ);
	memcpy(m.open, m.committed, SZ);
	b = diskbuf_backup_new(&cfg);
	cr_assert(b != NULL);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", 30000 + getpid() % 20000);
	cr_assert(eq(int, diskbuf_backup_sync_listen(b, addr), 0));
	cr_assert(eq(int, diskbuf_backup_sync_done(b), 0));

	/* Epoch 1 commits while the copy has not even started. */
	rec(b, &m, 1, STREAM_DISK_WRITE, 4096, 8192, 0x01);
	rec(b, &m, 1, STREAM_DISK_ZERO, 0, 100, 0);
	cr_assert(eq(int, diskbuf_backup_commit(b, 1), 0));
	cr_assert(eq(u64, diskbuf_backup_committed(b), 1));
	errno = 0;
	cr_assert(eq(int, diskbuf_backup_activate(b), -1),
	    "no activation before the copy is complete");

	fd = open(path("src"), O_RDONLY);
	sock = diskbuf_connect_tcp(addr, 10);
	cr_assert(fd != -1 && sock != -1);
	cr_assert(eq(int, diskbuf_sync_send(sock, fd, SZ, 65536, NULL, 0, &st), 0));
	close(fd);
	for (i = 0; i < 100 && diskbuf_backup_sync_done(b) == 0; i++)
		usleep(50000);
	cr_assert(eq(int, diskbuf_backup_sync_done(b), 1));

	rec(b, &m, 2, STREAM_DISK_WRITE, 4096 + 100, 50, 0x02);
	cr_assert(eq(int, diskbuf_backup_commit(b, 2), 0));
	memcpy(m.committed, m.open, SZ);
	check_image(cfg.image, m.committed);
	cr_assert(eq(int, diskbuf_backup_activate(b), 0));
	close(sock);
	diskbuf_backup_free(b);
}

Test(sync, failed_live_sync_refuses_commit_and_activation, .init = setup,
    .fini = teardown, .timeout = 30)
{
	struct diskbuf_backup_cfg cfg = { .image = path("b.img"), .size = SZ };
	struct diskbuf_backup *b;
	char addr[32];
	int sock, i;

	make_image(cfg.image, SZ, 0);
	b = diskbuf_backup_new(&cfg);
	cr_assert(b != NULL);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", 30000 + (getpid() + 7) % 20000);
	cr_assert(eq(int, diskbuf_backup_sync_listen(b, addr), 0));
	/* A sender that goes away mid-handshake. */
	sock = diskbuf_connect_tcp(addr, 10);
	cr_assert(sock != -1);
	cr_assert(write_full(sock, "RMSD", 4) == 0);
	close(sock);
	for (i = 0; i < 100 && diskbuf_backup_sync_done(b) == 0; i++)
		usleep(50000);
	cr_assert(eq(int, diskbuf_backup_sync_done(b), -1));
	cr_assert(eq(int, diskbuf_backup_commit(b, 1), -1));
	cr_assert(eq(int, diskbuf_backup_activate(b), -1));
	diskbuf_backup_free(b);
}

/* Re-protection (remus reconnecting after a release): the primary logs
 * again and resyncs to the new session's backup.  A write made while
 * unprotected is in no log; it must reach the backup through the copy,
 * and the writes logged meanwhile through the backlog replayed over it:
 * the backup ends equal to the primary, and activates only then. */
Test(sync, reprotect_resyncs_the_writes_made_while_unprotected,
    .init = setup, .fini = teardown, .timeout = 60)
{
	const uint64_t size = 4u << 20;
	struct diskbuf_primary_cfg pc = { .image = path("p.img"),
	    .protect = 1, .spill_dir = dir };
	struct diskbuf_backup_cfg bc = { .image = path("b.img"), .size = size,
	    .spill_dir = dir };
	struct diskbuf_primary *p;
	struct diskbuf_backup *b;
	uint8_t want[16], got[16];
	char addr[32];
	int fd, bfd, n, i;

	make_image(pc.image, size, 0);
	make_image(bc.image, size, 0);
	p = diskbuf_primary_new(&pc);
	b = diskbuf_backup_new(&bc);
	cr_assert(p != NULL && b != NULL);
	fd = cli_connect(p);

	/* Session 1: epoch 1 commits. */
	cr_assert(eq(int, cli_write(fd, 0, 4096, 1, 0), 0));
	cr_assert(eq(int, diskbuf_primary_epoch_close(p, 1), 0));
	save_into(p, b, 1, &n);
	cr_assert(eq(int, n, 1));
	cr_assert(eq(int, diskbuf_backup_commit(b, 1), 0));

	/* The backup is lost: unprotected writes, in two of the 1 MiB
	 * sync blocks, one of them written again once logged. */
	diskbuf_primary_unprotect(p, "test: backup lost");
	diskbuf_primary_sync_cancel(p);		/* none runs: no-op */
	cr_assert(eq(int, cli_write(fd, 4096, 4096, 2, 0), 0));
	cr_assert(eq(int, cli_write(fd, (3u << 20) + 512, 8192, 3, 0), 0));
	diskbuf_backup_free(b);

	/* Session 2: a backup expecting the copy, logging again, then the
	 * copy; an epoch whose write lands on an unprotected one. */
	b = diskbuf_backup_new(&bc);
	cr_assert(b != NULL);
	/* Not getpid() + a small offset like the tests above: Criterion's
	 * workers have neighbouring pids, and two tests of them would meet
	 * on one port. */
	snprintf(addr, sizeof addr, "127.0.0.1:%d", 30000 + (getpid() * 7 +
	    13) % 20000);
	cr_assert(eq(int, diskbuf_backup_sync_listen(b, addr), 0));
	cr_assert(eq(int, diskbuf_primary_protect(p), 0));
	errno = 0;
	cr_assert(eq(int, diskbuf_primary_protect(p), -1));
	cr_assert(eq(int, errno, EBUSY));
	cr_assert(eq(int, diskbuf_primary_sync_start(p, addr, NULL, 0), 0));
	cr_assert(eq(int, cli_write(fd, (3u << 20) + 4096, 4096, 4, 0), 0));
	cr_assert(eq(int, diskbuf_primary_epoch_close(p, 2), 0));
	save_into(p, b, 2, &n);
	cr_assert(eq(int, n, 1), "only the write made since protect is logged");
	cr_assert(eq(int, diskbuf_backup_commit(b, 2), 0));
	for (i = 0; i < 200 && (diskbuf_primary_sync_done(p) == 0 ||
	    diskbuf_backup_sync_done(b) == 0); i++)
		usleep(50000);
	cr_assert(eq(int, diskbuf_primary_sync_done(p), 1));
	cr_assert(eq(int, diskbuf_backup_sync_done(b), 1));
	cr_assert(eq(int, cli_write(fd, 2u << 20, 4096, 5, 0), 0));
	cr_assert(eq(int, diskbuf_primary_epoch_close(p, 3), 0));
	save_into(p, b, 3, &n);
	cr_assert(eq(int, diskbuf_backup_commit(b, 3), 0));
	cr_assert(eq(int, diskbuf_backup_activate(b), 0));
	cr_assert(eq(int, diskbuf_primary_digest(p, want), 0));
	bfd = open(bc.image, O_RDONLY);
	cr_assert(bfd != -1);
	cr_assert(eq(int, diskbuf_hash_fd(bfd, size, got), 0));
	close(bfd);
	cr_assert(memcmp(want, got, 16) == 0,
	    "the backup is not the primary's disk after the resync");
	close(fd);
	diskbuf_backup_free(b);
	diskbuf_primary_free(p);
}

/* A resync to a backup that is gone again (nobody listens: the connect
 * retries for 30 s) gives up at once when protection ends, so that the
 * next reprotect's protect (which joins the thread) does not stall the
 * engine's loop. */
Test(sync, cancelled_resync_gives_up_its_connect, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_primary *p = primary(1);
	char addr[32];
	uint64_t t0;
	int i;

	snprintf(addr, sizeof addr, "127.0.0.1:%d", 30000 + (getpid() * 7 +
	    17) % 20000);
	diskbuf_primary_unprotect(p, "test");
	cr_assert(eq(int, diskbuf_primary_protect(p), 0));
	cr_assert(eq(int, diskbuf_primary_sync_start(p, addr, NULL, 0), 0));
	usleep(300000);
	cr_assert(eq(int, diskbuf_primary_sync_done(p), 0), "still connecting");
	t0 = now_us();
	diskbuf_primary_unprotect(p, "test: lost again");
	diskbuf_primary_sync_cancel(p);
	for (i = 0; i < 100 && diskbuf_primary_sync_done(p) == 0; i++)
		usleep(20000);
	cr_assert(eq(int, diskbuf_primary_sync_done(p), -1));
	cr_assert(now_us() - t0 < 2000000, "the cancel took %" PRIu64 " us",
	    now_us() - t0);
	/* And protection starts again at once, with a sync of its own. */
	cr_assert(eq(int, diskbuf_primary_protect(p), 0));
	cr_assert(eq(int, diskbuf_primary_sync_done(p), 1));
	diskbuf_primary_free(p);
}

/* ---- Several disks of one guest ------------------------------------- */

/* One record for disk DISK of backup B (model M). */
static void
rec_disk(struct diskbuf_backup *b, uint16_t disk, struct model *m,
    uint64_t epoch, uint64_t off, uint32_t len, uint8_t fill)
{
	struct stream_disk_write h = { .offset = off, .length = len,
	    .disk = disk, .op = STREAM_DISK_WRITE };
	uint8_t *d = malloc(len);

	memset(d, fill, len);
	memcpy(m->open + off, d, len);
	cr_assert(eq(int, diskbuf_backup_record(b, epoch, &h, d, len), 0));
	free(d);
}

#define NDISK	3

static struct diskbuf_backup *
disk_n(int i, struct model *m, uint8_t fill)
{
	char name[16];
	struct diskbuf_backup_cfg cfg = { .size = SZ, .spill_dir = dir,
	    .disk = (uint16_t)i };
	struct diskbuf_backup *b;

	snprintf(name, sizeof name, "b%d.img", i);
	cfg.image = path(name);
	make_image(cfg.image, SZ, fill);
	memset(m->committed, fill, SZ);
	memcpy(m->open, m->committed, SZ);
	b = diskbuf_backup_new(&cfg);
	cr_assert(b != NULL);
	return b;
}

static void
check_disk(int i, const uint8_t *want)
{
	char name[16];

	snprintf(name, sizeof name, "b%d.img", i);
	check_image(path(name), want);
}

/* Epoch N goes to every disk of the guest or to none: when one disk
 * cannot apply it (an injected EIO on that disk only), the disks before it,
 * which applied and fdatasync'ed N already, are rolled back, and the
 * disks after it are never touched: all stay at N - 1.  Each disk failing
 * in turn. */
Test(disks, epoch_commits_on_every_disk_or_none, .init = setup,
    .fini = teardown, .timeout = 30)
{
	static struct model m[NDISK];
	struct diskbuf_backup *b[NDISK];
	uint64_t e = 1;
	int i, bad;

	for (i = 0; i < NDISK; i++)
		b[i] = disk_n(i, &m[i], (uint8_t)(0x10 * (i + 1)));
	/* Epoch 1 commits everywhere. */
	for (i = 0; i < NDISK; i++)
		rec_disk(b[i], (uint16_t)i, &m[i], e, 4096 * (uint64_t)i, 65536,
		    (uint8_t)(0xa0 + i));
	cr_assert(eq(int, diskbuf_backup_commit_set(b, NDISK, e), 0));
	for (i = 0; i < NDISK; i++) {
		memcpy(m[i].committed, m[i].open, SZ);
		check_disk(i, m[i].committed);
	}
	for (bad = 0; bad < NDISK; bad++) {
		e++;
		for (i = 0; i < NDISK; i++) {
			int k;

			/* Several writes each, so that the failing one has
			 * applied some before its EIO (half-way). */
			for (k = 0; k < 6; k++)
				rec_disk(b[i], (uint16_t)i, &m[i], e,
				    (uint64_t)k * 50000 + 777 * (uint64_t)i,
				    30000, (uint8_t)(e * 16 + (uint64_t)k));
		}
		fault_mask = 1u << FI_DISKBUF_EIO;
		fault_disk = bad;
		errno = 0;
		cr_assert(eq(int, diskbuf_backup_commit_set(b, NDISK, e), -1),
		    "disk %d failing must fail the epoch", bad);
		fault_mask = 0;
		fault_disk = -1;
		for (i = 0; i < NDISK; i++) {
			check_disk(i, m[i].committed);
			cr_assert(eq(u64, diskbuf_backup_committed(b[i]), 1),
			    "disk %d moved on without disk %d", i, bad);
			memcpy(m[i].open, m[i].committed, SZ);
		}
	}
	/* The next epoch commits everywhere again, on top of epoch 1. */
	e++;
	for (i = 0; i < NDISK; i++)
		rec_disk(b[i], (uint16_t)i, &m[i], e, 0, 100, (uint8_t)(0xc0 + i));
	cr_assert(eq(int, diskbuf_backup_commit_set(b, NDISK, e), 0));
	for (i = 0; i < NDISK; i++) {
		memcpy(m[i].committed, m[i].open, SZ);
		check_disk(i, m[i].committed);
		cr_assert(eq(int, diskbuf_backup_activate(b[i]), 0));
		check_disk(i, m[i].committed);
		diskbuf_backup_free(b[i]);
	}
}

/* While one disk's initial copy is still running and another's is done,
 * an epoch is kept for the first and applied on the second; a failure of
 * the second then drops the first's kept epoch too (it never commits). */
Test(disks, commit_set_with_one_disk_still_syncing, .init = setup,
    .fini = teardown, .timeout = 30)
{
	static struct model m[2];
	struct diskbuf_backup *b[2];

	b[0] = disk_n(0, &m[0], 0x01);
	b[1] = disk_n(1, &m[1], 0x02);
	cr_assert(eq(int, diskbuf_backup_sync_expect(b[0]), 0));
	rec_disk(b[0], 0, &m[0], 1, 0, 4096, 0x71);
	rec_disk(b[1], 1, &m[1], 1, 0, 4096, 0x72);
	fault_mask = 1u << FI_DISKBUF_EIO;
	fault_disk = 1;
	cr_assert(eq(int, diskbuf_backup_commit_set(b, 2, 1), -1));
	fault_mask = 0;
	fault_disk = -1;
	check_disk(1, m[1].committed);
	cr_assert(eq(u64, diskbuf_backup_committed(b[0]), 0));
	cr_assert(eq(u64, diskbuf_backup_committed(b[1]), 0));
	diskbuf_backup_free(b[0]);
	diskbuf_backup_free(b[1]);
}

/* The initial copies of a guest's disks come over one address, one
 * connection each, in any order: each goes to the disk its hello names. */
static void *
send_named(void *a)
{
	const char **arg = a;	/* addr, image, name */
	struct diskbuf_sync_stats st;
	int fd = open(arg[1], O_RDONLY), sock;
	struct stat s;
	intptr_t rc = -1;

	if (fd == -1 || fstat(fd, &s) == -1)
		return (void *)rc;
	sock = diskbuf_connect_tcp(arg[0], 10);
	if (sock != -1) {
		rc = diskbuf_sync_send(sock, fd, (uint64_t)s.st_size, 65536,
		    arg[2], 0, &st);
		close(sock);
	}
	close(fd);
	return (void *)rc;
}

Test(disks, sync_routes_each_copy_by_its_name, .init = setup,
    .fini = teardown, .timeout = 30)
{
	static struct model m[2];
	static uint8_t want[SZ];
	struct diskbuf_backup *b[2];
	struct diskbuf_sync_rx *rx;
	const char *names[2] = { "xvda", "xvdb" };
	char addr[32], *pa, *pb;
	const char *arg_b[3], *arg_a[3];
	pthread_t tb, ta;
	void *rb, *ra;
	int i;

	b[0] = disk_n(0, &m[0], 0);
	b[1] = disk_n(1, &m[1], 0);
	pa = strdup(path("pa.img"));
	pb = strdup(path("pb.img"));
	make_image(pa, SZ, 0xaa);
	make_image(pb, SZ, 0xbb);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", 30000 + (getpid() + 11) %
	    20000);
	rx = diskbuf_sync_rx_start(addr, b, names, 2);
	cr_assert_not_null(rx);
	cr_assert(eq(int, diskbuf_backup_sync_done(b[0]), 0));
	/* xvdb's copy first, then xvda's, at once. */
	arg_b[0] = addr; arg_b[1] = pb; arg_b[2] = "xvdb";
	arg_a[0] = addr; arg_a[1] = pa; arg_a[2] = "xvda";
	pthread_create(&tb, NULL, send_named, arg_b);
	usleep(100000);
	pthread_create(&ta, NULL, send_named, arg_a);
	pthread_join(tb, &rb);
	pthread_join(ta, &ra);
	cr_assert(eq(int, (int)(intptr_t)rb, 0));
	cr_assert(eq(int, (int)(intptr_t)ra, 0));
	for (i = 0; i < 100 && (diskbuf_backup_sync_done(b[0]) == 0 ||
	    diskbuf_backup_sync_done(b[1]) == 0); i++)
		usleep(50000);
	cr_assert(eq(int, diskbuf_backup_sync_done(b[0]), 1));
	cr_assert(eq(int, diskbuf_backup_sync_done(b[1]), 1));
	memset(want, 0xaa, SZ);
	check_disk(0, want);
	memset(want, 0xbb, SZ);
	check_disk(1, want);
	diskbuf_sync_rx_free(rx);
	diskbuf_backup_free(b[0]);
	diskbuf_backup_free(b[1]);
	free(pa);
	free(pb);
}

/* A copy for a disk the guest does not have fails the sync of every disk
 * not yet copied: commits and activation are refused. */
Test(disks, sync_of_an_unknown_disk_fails_them_all, .init = setup,
    .fini = teardown, .timeout = 30)
{
	static struct model m[2];
	struct diskbuf_backup *b[2];
	struct diskbuf_sync_rx *rx;
	const char *names[2] = { "xvda", "xvdb" };
	const char *arg[3];
	char addr[32], *pa;
	void *r;
	pthread_t t;
	int i;

	b[0] = disk_n(0, &m[0], 0);
	b[1] = disk_n(1, &m[1], 0);
	pa = strdup(path("pa.img"));
	make_image(pa, SZ, 0xaa);
	/* Not getpid() + a small offset like the tests above: Criterion's
	 * workers have neighbouring pids, and two tests of them would meet
	 * on one port. */
	snprintf(addr, sizeof addr, "127.0.0.1:%d", 30000 + (getpid() * 7 +
	    13) % 20000);
	rx = diskbuf_sync_rx_start(addr, b, names, 2);
	cr_assert_not_null(rx);
	arg[0] = addr; arg[1] = pa; arg[2] = "xvdc";
	pthread_create(&t, NULL, send_named, arg);
	pthread_join(t, &r);
	cr_assert(eq(int, (int)(intptr_t)r, -1));
	for (i = 0; i < 100 && diskbuf_backup_sync_done(b[1]) == 0; i++)
		usleep(50000);
	cr_assert(eq(int, diskbuf_backup_sync_done(b[0]), -1));
	cr_assert(eq(int, diskbuf_backup_sync_done(b[1]), -1));
	cr_assert(eq(int, diskbuf_backup_commit_set(b, 2, 1), -1));
	cr_assert(eq(int, diskbuf_backup_activate(b[0]), -1));
	diskbuf_sync_rx_free(rx);
	diskbuf_backup_free(b[0]);
	diskbuf_backup_free(b[1]);
	free(pa);
}

/* Several disks on one NBD server: each export by its name; the empty
 * name chooses none once there are two; LIST names both. */
Test(disks, one_nbd_server_serves_each_disk_by_name, .init = setup,
    .fini = teardown, .timeout = 20)
{
	struct diskbuf_primary_cfg ca = { .image = path("pa.img"),
	    .name = "xvda", .spill_dir = dir };
	struct diskbuf_primary_cfg cb = { .image = path("pb.img"),
	    .name = "xvdb", .spill_dir = dir };
	struct diskbuf_primary *pa, *pb;
	uint8_t buf[512], got[4096];
	uint32_t len, nbe = 0, type;
	uint16_t zero = 0;
	int fd, seen = 0;

	make_image(ca.image, SZ, 0x01);
	make_image(cb.image, SZ / 2, 0x02);
	pa = diskbuf_primary_new(&ca);
	pb = diskbuf_primary_new(&cb);
	cr_assert(pa != NULL && pb != NULL);
	cr_assert(eq(int, diskbuf_primary_share(pa, pb), 0));
	/* xvdb: its own size, its own image. */
	fd = cli_open(pa);
	cr_assert(eq(u64, cli_go(fd, "xvdb"), SZ / 2));
	cr_assert(eq(int, cli_write(fd, 0, 4096, 0x5b, 0), 0));
	cr_assert(eq(int, cli_read(fd, 0, 4096, got), 0));
	cr_assert(eq(u8, got[100], 0x5b));
	close(fd);
	read_image(cb.image, got, 4096);
	cr_assert(eq(u8, got[4095], 0x5b), "the write went to another disk");
	read_image(ca.image, got, 4096);
	cr_assert(eq(u8, got[0], 0x01));
	/* The empty name: which one?  None. */
	fd = cli_open(pa);
	memcpy(buf, &nbe, 4);
	memcpy(buf + 4, &zero, 2);
	opt_send(fd, NBD_OPT_GO, buf, 6);
	cr_assert(eq(u32, opt_recv(fd, NBD_OPT_GO, buf, &len),
	    NBD_REP_ERR_UNKNOWN));
	/* LIST: both. */
	opt_send(fd, NBD_OPT_LIST, NULL, 0);
	while ((type = opt_recv(fd, NBD_OPT_LIST, buf, &len)) ==
	    NBD_REP_SERVER) {
		cr_assert(len >= 4);
		seen |= len == 8 && memcmp(buf + 4, "xvda", 4) == 0 ? 1 :
		    len == 8 && memcmp(buf + 4, "xvdb", 4) == 0 ? 2 : 4;
	}
	cr_assert(eq(u32, type, NBD_REP_ACK));
	cr_assert(eq(int, seen, 3));
	close(fd);
	diskbuf_primary_free(pa);	/* its server serves pb: first */
	diskbuf_primary_free(pb);
}
