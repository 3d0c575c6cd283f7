/* fuzz/make-seeds.c -- write the seed corpus with the real writer
 * (STYLE F3): small valid streams covering every record type and page
 * encoding, each prefixed by the fuzz target's control byte (see
 * fuzz-stream.c).  Deterministic, so the golden test can dump one
 * (tests/functional/stream-golden.sh strips the control byte).
 *
 * LZ4 data comes from liblz4 directly, XOR_RLE data is built by hand in
 * the byte format of docs/stream-format.md, so the seeds do not depend on
 * the codec's encoder choices.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4.h>

#include "proc-proto.h"
#include "stream.h"

int	stream_make_seeds(const char *dir);
int	session_make_seeds(const char *dir);
int	primary_make_seeds(const char *dir);

#define PS	4096u

static uint32_t rng_state;

static uint8_t
rnd(void)
{
	uint32_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng_state = x;
	return (uint8_t)(x >> 24);
}

/* A compressible page: text-like runs. */
static void
text_page(uint8_t *p, uint32_t ps, unsigned seed)
{
	static const char words[] = "remus checkpoint epoch backup primary ";

	for (uint32_t i = 0; i < ps; i++)
		p[i] = (uint8_t)words[(i + seed * 7) % (sizeof(words) - 1)];
	for (uint32_t i = 0; i < ps; i += 97)
		p[i] = (uint8_t)('0' + (i / 97 + seed) % 10);
}

static size_t
put_uleb(uint8_t *p, uint32_t v)
{
	size_t n = 0;

	do {
		p[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			p[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

/* XOR_RLE data for a delta with runs at [100, 110) and [1000, 1004). */
static uint32_t
rle_delta(uint8_t *out)
{
	size_t n = 0;

	n += put_uleb(out + n, 100);
	n += put_uleb(out + n, 10);
	for (int i = 0; i < 10; i++)
		out[n++] = (uint8_t)(0x11 * (i + 1));
	n += put_uleb(out + n, 1000 - 110);
	n += put_uleb(out + n, 4);
	for (int i = 0; i < 4; i++)
		out[n++] = 0xa5;
	return (uint32_t)n;
}

static int
lz4_page(const uint8_t *page, uint32_t ps, uint8_t *out)
{
	int n = LZ4_compress_default((const char *)page, (char *)out, (int)ps,
	    (int)ps - 1);

	if (n <= 0) {
		fprintf(stderr, "make-seeds: page does not compress\n");
		exit(1);
	}
	return n;
}

static int
save(const char *dir, const char *name, uint8_t ctl,
    struct stream_writer *w)
{
	char path[4096];
	int fd;

	if (stream_writer_ready(w) != w->len) {
		errno = EINVAL;
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	if (write(fd, &ctl, 1) != 1 ||
	    write(fd, w->buf, w->len) != (ssize_t)w->len) {
		close(fd);
		return -1;
	}
	stream_writer_free(w);
	return close(fd);
}

#define CHECK(x) do {							\
	if ((x) == -1) {						\
		fprintf(stderr, "make-seeds: %s: %s\n", #x,		\
		    strerror(errno));					\
		return -1;						\
	}								\
} while (0)

static void
header(struct stream_writer *w, uint32_t ps, uint64_t nr_pages,
    uint32_t features, const char *driver, const char *config)
{
	struct stream_header_info hi = {
		.page_size = ps, .features = features, .nr_pages = nr_pages,
		.config = config, .config_len = config ? strlen(config) : 0,
	};

	snprintf(hi.driver, sizeof(hi.driver), "%s", driver);
	stream_writer_init(w, ps);
	if (stream_write_header(w, &hi) == -1 ||
	    stream_write_hello(w, "proc:4242", 3000, 200, 0, 0) == -1) {
		fprintf(stderr, "make-seeds: header: %s\n", strerror(errno));
		exit(1);
	}
}

int
stream_make_seeds(const char *dir)
{
	static uint8_t page[65536], base[PS], delta[PS], enc[65536 + 1024];
	struct stream_writer w;
	struct stream_disk_write dw = { .offset = 8192, .length = 64,
	    .disk = 0, .op = STREAM_DISK_WRITE, .flags = STREAM_DISK_FLAG_FUA };
	struct stream_disk_write dz = { .offset = 1u << 20, .length = 4096,
	    .disk = 1, .op = STREAM_DISK_ZERO };
	struct stream_disk_write dt = { .offset = 0, .length = 512,
	    .disk = 0, .op = STREAM_DISK_TRIM };
	const struct stream_welcome welcome = { .resume_epoch = 0,
	    .timeout_ms = 1000, .hb_ms = 200, .fence_ms = 10000,
	    .flags = STREAM_WELCOME_FENCES };
	const struct stream_welcome welcome_nofence = { .resume_epoch = 12,
	    .timeout_ms = 400, .hb_ms = 100 };
	int n;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "make-seeds: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	rng_state = 0x12345678;

	/* 1 epoch, no END (a primary that died after it). */
	header(&w, PS, 16, STREAM_FEAT_COMPRESS, "proc", NULL);
	CHECK(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL));
	CHECK(stream_write_page(&w, 0, STREAM_ENC_ZERO, NULL, 0));
	text_page(page, PS, 1);
	CHECK(stream_write_page(&w, 1, STREAM_ENC_RAW, page, PS));
	n = lz4_page(page, PS, enc);
	CHECK(stream_write_page(&w, 2, STREAM_ENC_LZ4, enc, (uint32_t)n));
	CHECK(stream_write_epoch_end(&w));
	CHECK(save(dir, "fwd-one-epoch", 0x00, &w));

	/* 2 epochs + heartbeat + END, fed in chunks. */
	header(&w, PS, 16, 0, "proc", "pid=1");
	CHECK(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL));
	for (unsigned i = 0; i < 4; i++) {
		for (uint32_t k = 0; k < PS; k++)
			page[k] = rnd();
		CHECK(stream_write_page(&w, i, STREAM_ENC_RAW, page, PS));
	}
	CHECK(stream_write_epoch_end(&w));
	CHECK(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 1));
	CHECK(stream_write_epoch_begin(&w, 2, 0));
	CHECK(stream_write_page(&w, 3, STREAM_ENC_ZERO, NULL, 0));
	CHECK(stream_write_epoch_end(&w));
	CHECK(stream_write_ctl(&w, STREAM_REC_END, 0));
	CHECK(save(dir, "fwd-two-epochs-end", 0x05, &w));

	/* Everything: every record type, every encoding, optional records
	 * in and between epochs (the golden capture). */
	header(&w, PS, 256, STREAM_FEAT_COMPRESS | STREAM_FEAT_DEVICE_MODEL,
	    "proc", "mem=1M");
	{
		static const struct stream_disk_desc d[2] = {
			{ "xvda", 1u << 20 }, { "xvdb", 2u << 20 },
		};

		CHECK(stream_write_disks(&w, d, 2));
	}
	CHECK(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL));
	CHECK(stream_write_page(&w, 0, STREAM_ENC_ZERO, NULL, 0));
	for (uint32_t k = 0; k < PS; k++)
		page[k] = rnd();
	CHECK(stream_write_page(&w, 1, STREAM_ENC_RAW, page, PS));
	text_page(page, PS, 2);
	n = lz4_page(page, PS, enc);
	CHECK(stream_write_page(&w, 2, STREAM_ENC_LZ4, enc, (uint32_t)n));
	text_page(base, PS, 3);
	memcpy(page, base, PS);
	for (uint32_t k = 1000; k < 1400; k++)
		page[k] ^= rnd();
	for (uint32_t k = 0; k < PS; k++)
		delta[k] = page[k] ^ base[k];
	n = lz4_page(delta, PS, enc);
	CHECK(stream_write_page(&w, 3, STREAM_ENC_XOR_LZ4, enc, (uint32_t)n));
	n = (int)rle_delta(enc);
	CHECK(stream_write_page(&w, 4, STREAM_ENC_XOR_RLE, enc, (uint32_t)n));
	CHECK(stream_write_page(&w, 5, STREAM_ENC_XOR_RLE, NULL, 0));
	CHECK(stream_write_page(&w, 255, STREAM_ENC_ZERO, NULL, 0));
	CHECK(stream_write_blob(&w, STREAM_REC_GUEST_STATE, "vcpu0:rip=0x1000", 16));
	CHECK(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU,
	    STREAM_DEVSTATE_RAW, "QEVM\0\0\0\3dev", 11));
	for (uint32_t k = 0; k < 64; k++)
		page[k] = (uint8_t)k;
	CHECK(stream_write_disk(&w, &dw, page));
	CHECK(stream_write_disk(&w, &dz, NULL));
	CHECK(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x1000, "future", 6));
	CHECK(stream_write_epoch_end(&w));
	CHECK(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 1));
	CHECK(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x1001, NULL, 0));
	CHECK(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 2));
	CHECK(stream_write_epoch_begin(&w, 2, 0));
	n = (int)rle_delta(enc);
	CHECK(stream_write_page(&w, 1, STREAM_ENC_XOR_RLE, enc, (uint32_t)n));
	CHECK(stream_write_disk(&w, &dt, NULL));
	{
		/* packed: le32 raw length, one LZ4 block (codec_blob_pack) */
		uint8_t raw[256] = "QEVM", packed[4 + 300];
		int pn = LZ4_compress_default((const char *)raw,
		    (char *)packed + 4, (int)sizeof(raw), 300);

		if (pn <= 0)
			exit(1);
		packed[0] = (uint8_t)sizeof(raw);
		packed[1] = (uint8_t)(sizeof(raw) >> 8);
		packed[2] = packed[3] = 0;
		CHECK(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU,
		    STREAM_DEVSTATE_LZ4, packed, (uint32_t)pn + 4));
	}
	CHECK(stream_write_epoch_end(&w));
	CHECK(stream_write_ctl(&w, STREAM_REC_END, 0));
	CHECK(save(dir, "fwd-all", 0x00, &w));

	/* Optional records only, between and inside epochs, split small. */
	header(&w, PS, 4, 0, "xen", NULL);
	CHECK(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x77, "abcdefghi", 9));
	CHECK(stream_write_epoch_begin(&w, 7, STREAM_EPOCH_FULL));
	CHECK(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x78, "x", 1));
	CHECK(stream_write_page(&w, 3, STREAM_ENC_ZERO, NULL, 0));
	CHECK(stream_write_epoch_end(&w));
	CHECK(save(dir, "fwd-optional", 0x11, &w));

	/* 64 KiB pages and a multi-batch epoch. */
	header(&w, 65536, 2048, STREAM_FEAT_COMPRESS, "proc", NULL);
	CHECK(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL));
	text_page(page, 65536, 4);
	n = lz4_page(page, 65536, enc);
	CHECK(stream_write_page(&w, 2047, STREAM_ENC_LZ4, enc, (uint32_t)n));
	for (unsigned i = 0; i < 1030; i++)
		CHECK(stream_write_page(&w, i, STREAM_ENC_ZERO, NULL, 0));
	CHECK(stream_write_epoch_end(&w));
	CHECK(save(dir, "fwd-64k-pages", 0x02, &w));

	/* Back channel. */
	stream_writer_init(&w, PS);
	CHECK(stream_write_welcome(&w, &welcome));
	CHECK(stream_write_ctl(&w, STREAM_REC_READY, 0));
	CHECK(stream_write_ctl(&w, STREAM_REC_ACK, 1));
	CHECK(stream_write_ctl(&w, STREAM_REC_BC_HEARTBEAT, 1));
	CHECK(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x300, "o", 1));
	CHECK(stream_write_ctl(&w, STREAM_REC_ACK, 2));
	CHECK(save(dir, "back-acks", 0x80, &w));

	stream_writer_init(&w, PS);
	CHECK(stream_write_welcome(&w, &welcome_nofence));
	CHECK(stream_write_ctl(&w, STREAM_REC_READY, 0));
	CHECK(stream_write_error(&w, 28, "backup: no space left for the replica"));
	CHECK(save(dir, "back-error", 0x83, &w));

	/* Incremental resync: WELCOME with HASHES, two PAGE_HASHES, READY;
	 * and a RESYNC first epoch. */
	{
		const struct stream_welcome welcome_hashes = {
		    .resume_epoch = 41, .timeout_ms = 1000, .hb_ms = 200,
		    .flags = STREAM_WELCOME_HASHES };
		uint8_t h[24 * STREAM_HASH_LEN];

		for (unsigned i = 0; i < sizeof h; i++)
			h[i] = (uint8_t)(i * 37 + 11);
		stream_writer_init(&w, PS);
		stream_writer_set_hashes(&w, 24);
		CHECK(stream_write_welcome(&w, &welcome_hashes));
		CHECK(stream_write_page_hashes(&w, 0, 16, h));
		CHECK(stream_write_page_hashes(&w, 16, 8, h + 16 * STREAM_HASH_LEN));
		CHECK(stream_write_ctl(&w, STREAM_REC_READY, 0));
		CHECK(stream_write_ctl(&w, STREAM_REC_ACK, 42));
		CHECK(save(dir, "back-hashes", 0x85, &w));
	}
	header(&w, PS, 16, STREAM_FEAT_COMPRESS, "proc", NULL);
	CHECK(stream_write_epoch_begin(&w, 42, STREAM_EPOCH_RESYNC));
	text_page(page, PS, 3);
	CHECK(stream_write_page(&w, 5, STREAM_ENC_RAW, page, PS));
	CHECK(stream_write_epoch_end(&w));
	CHECK(stream_write_epoch_begin(&w, 43, 0));
	CHECK(stream_write_page(&w, 5, STREAM_ENC_ZERO, NULL, 0));
	CHECK(stream_write_epoch_end(&w));
	CHECK(save(dir, "fwd-resync", 0x04, &w));
	return 0;
}

/* ---- Session seeds (fuzz-session.c) ------------------------------------ */

/* A proc guest's stream header config (domain/proc-proto.h) for a guest of
 * NR_PAGES pages running /bin/true: what replica_proc_create accepts.
 * The harness never runs it. */
static size_t
proc_config(uint8_t *buf, uint64_t nr_pages)
{
	static const char cmd[] = "/bin/true\0true";	/* exe, argv[0] */
	struct proc_config c = {
		.magic = htole32(PROC_CONFIG_MAGIC),
		.version = htole32(PROC_PROTO_VERSION),
		.page_size = htole32(PS),
		.argc = htole32(1),
		.arena_size = htole64(nr_pages * PS),
		.arena_base = htole64(PROC_ARENA_BASE_DEFAULT),
		.cmd_len = htole32(sizeof cmd),
	};

	memcpy(buf, &c, sizeof c);
	memcpy(buf + sizeof c, cmd, sizeof cmd);
	return sizeof c + sizeof cmd;
}

static void
session_header(struct stream_writer *w, const char *driver, uint64_t nr_pages,
    const void *config, size_t config_len)
{
	struct stream_header_info hi = {
		.page_size = PS, .features = STREAM_FEAT_COMPRESS,
		.nr_pages = nr_pages, .config = config,
		.config_len = (uint32_t)config_len,
	};

	snprintf(hi.driver, sizeof(hi.driver), "%s", driver);
	stream_writer_init(w, PS);
	if (stream_write_header(w, &hi) == -1 ||
	    stream_write_hello(w, "proc:4242", 60000, 200, 0, 0) == -1) {
		fprintf(stderr, "make-seeds: header: %s\n", strerror(errno));
		exit(1);
	}
}

/* Epoch 1 (full) of a 16-page guest: zero, raw and LZ4 pages, guest state. */
static int
session_epoch1(struct stream_writer *w)
{
	static uint8_t page[PS], enc[PS + 1024];
	int n;

	CHECK(stream_write_epoch_begin(w, 1, STREAM_EPOCH_FULL));
	CHECK(stream_write_page(w, 0, STREAM_ENC_ZERO, NULL, 0));
	for (uint32_t k = 0; k < PS; k++)
		page[k] = rnd();
	CHECK(stream_write_page(w, 1, STREAM_ENC_RAW, page, PS));
	text_page(page, PS, 5);
	n = lz4_page(page, PS, enc);
	CHECK(stream_write_page(w, 2, STREAM_ENC_LZ4, enc, (uint32_t)n));
	CHECK(stream_write_page(w, 15, STREAM_ENC_ZERO, NULL, 0));
	CHECK(stream_write_blob(w, STREAM_REC_GUEST_STATE, "vcpu0:rip=0x1000",
	    16));
	CHECK(stream_write_epoch_end(w));
	return 0;
}

/* Epoch N (dirty): deltas against epoch 1's pages, a page written twice
 * in the epoch, a page zeroed again. */
static int
session_epoch(struct stream_writer *w, uint64_t epoch)
{
	static uint8_t page[PS], delta[PS], enc[PS + 1024];
	int n;

	CHECK(stream_write_epoch_begin(w, epoch, 0));
	n = (int)rle_delta(enc);
	CHECK(stream_write_page(w, 1, STREAM_ENC_XOR_RLE, enc, (uint32_t)n));
	CHECK(stream_write_page(w, 1, STREAM_ENC_XOR_RLE, enc, (uint32_t)n));
	memset(delta, 0, PS);
	for (uint32_t k = 2000; k < 2600; k++)
		delta[k] = rnd();
	n = lz4_page(delta, PS, enc);
	CHECK(stream_write_page(w, 2, STREAM_ENC_XOR_LZ4, enc, (uint32_t)n));
	CHECK(stream_write_page(w, 1, STREAM_ENC_ZERO, NULL, 0));
	text_page(page, PS, (unsigned)epoch);
	CHECK(stream_write_page(w, 7, STREAM_ENC_RAW, page, PS));
	CHECK(stream_write_epoch_end(w));
	return 0;
}

int
session_make_seeds(const char *dir)
{
	/* The harness's disk: one, unnamed, of its FUZZ_DISK_SIZE. */
	static const struct stream_disk_desc one_disk[1] = { { "", 1u << 20 } };
	static uint8_t cfg[256], enc[64], page[PS];
	struct stream_writer w;
	struct stream_disk_write dw = { .offset = 8192, .length = 64,
	    .op = STREAM_DISK_WRITE };
	struct stream_disk_write dz = { .offset = 65536, .length = 8192,
	    .op = STREAM_DISK_ZERO };
	struct stream_disk_write dt = { .offset = 0, .length = 4096,
	    .op = STREAM_DISK_TRIM };
	size_t cl;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "make-seeds: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	rng_state = 0x9e3779b9;
	cl = proc_config(cfg, 16);

	/* Two epochs, heartbeats, END: a clean session, all at once. */
	session_header(&w, "proc", 16, cfg, cl);
	if (session_epoch1(&w) == -1)
		return -1;
	CHECK(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 1));
	if (session_epoch(&w, 2) == -1)
		return -1;
	CHECK(stream_write_ctl(&w, STREAM_REC_END, 0));
	CHECK(save(dir, "s-two-epochs-end", 0x00, &w));

	/* Three epochs, then EOF: the primary lost (no-activate keeps the
	 * replica), in small chunks. */
	session_header(&w, "proc", 16, cfg, cl);
	if (session_epoch1(&w) == -1 || session_epoch(&w, 2) == -1 ||
	    session_epoch(&w, 3) == -1)
		return -1;
	CHECK(save(dir, "s-three-epochs-eof", 0x05, &w));

	/* The clean session over a congested link. */
	session_header(&w, "proc", 16, cfg, cl);
	if (session_epoch1(&w) == -1 || session_epoch(&w, 2) == -1)
		return -1;
	CHECK(stream_write_ctl(&w, STREAM_REC_END, 0));
	CHECK(save(dir, "s-congested", 0x83, &w));

	/* EOF inside epoch 2: dropped, epoch 1 kept. */
	session_header(&w, "proc", 16, cfg, cl);
	if (session_epoch1(&w) == -1)
		return -1;
	CHECK(stream_write_epoch_begin(&w, 2, 0));
	CHECK(stream_write_page(&w, 3, STREAM_ENC_ZERO, NULL, 0));
	CHECK(stream_write_batch_end(&w));
	CHECK(save(dir, "s-eof-mid-epoch", 0x00, &w));

	/* Page data that does not decode (an XOR_RLE run past the page):
	 * the backup stands down. */
	session_header(&w, "proc", 16, cfg, cl);
	if (session_epoch1(&w) == -1)
		return -1;
	CHECK(stream_write_epoch_begin(&w, 2, 0));
	{
		size_t n = put_uleb(enc, PS - 4);

		n += put_uleb(enc + n, 8);
		memset(enc + n, 0x5a, 8);
		CHECK(stream_write_page(&w, 4, STREAM_ENC_XOR_RLE, enc,
		    (uint32_t)(n + 8)));
	}
	CHECK(stream_write_epoch_end(&w));
	CHECK(save(dir, "s-bad-page", 0x00, &w));

	/* Disks declared to a backup without a disk (control bit 6):
	 * refused before the first epoch. */
	session_header(&w, "proc", 16, cfg, cl);
	CHECK(stream_write_disks(&w, one_disk, 1));
	if (session_epoch1(&w) == -1)
		return -1;
	CHECK(stream_write_epoch_begin(&w, 2, 0));
	memset(enc, 0xd1, sizeof enc);
	CHECK(stream_write_disk(&w, &dw, enc));
	CHECK(stream_write_epoch_end(&w));
	CHECK(save(dir, "s-disk-no-device", 0x40, &w));

	/* Disk writes (write, zero, trim, FUA) committed with their epochs,
	 * the last one at the end of the 1 MiB disk.  (A write past it is
	 * the reader's to refuse now: DISKS gave the size.) */
	session_header(&w, "proc", 16, cfg, cl);
	CHECK(stream_write_disks(&w, one_disk, 1));
	CHECK(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL));
	CHECK(stream_write_page(&w, 0, STREAM_ENC_ZERO, NULL, 0));
	CHECK(stream_write_disk(&w, &dw, enc));
	CHECK(stream_write_epoch_end(&w));
	CHECK(stream_write_epoch_begin(&w, 2, 0));
	CHECK(stream_write_disk(&w, &dz, NULL));
	CHECK(stream_write_disk(&w, &dt, NULL));
	dw.flags = STREAM_DISK_FLAG_FUA;
	dw.offset = 4096 + 512;
	CHECK(stream_write_disk(&w, &dw, enc));
	CHECK(stream_write_epoch_end(&w));
	CHECK(stream_write_epoch_begin(&w, 3, 0));
	dw.offset = (1u << 20) - 64;
	CHECK(stream_write_disk(&w, &dw, enc));
	CHECK(stream_write_epoch_end(&w));
	CHECK(save(dir, "s-disk", 0x03, &w));

	/* A full epoch of 1500 distinct pages of a 1536-page guest: the
	 * receiver grows its pending area past its first 1024 slots; then
	 * the link is reset (control bit 5). */
	cl = proc_config(cfg, 1536);
	session_header(&w, "proc", 1536, cfg, cl);
	CHECK(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL));
	for (unsigned i = 0; i < 1500; i++)
		CHECK(stream_write_page(&w, i, STREAM_ENC_ZERO, NULL, 0));
	text_page(page, PS, 9);
	CHECK(stream_write_page(&w, 1535, STREAM_ENC_RAW, page, PS));
	CHECK(stream_write_epoch_end(&w));
	CHECK(save(dir, "s-big-epoch-reset", 0x20, &w));
	cl = proc_config(cfg, 16);

	/* Regressions.  A first (full) epoch that carries no page: the
	 * proc store sorted a NULL pfn list (qsort(NULL, 0), undefined). */
	session_header(&w, "proc", 16, cfg, cl);
	CHECK(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL));
	CHECK(stream_write_epoch_end(&w));
	CHECK(stream_write_ctl(&w, STREAM_REC_END, 0));
	CHECK(save(dir, "crash-empty-first-epoch", 0x00, &w));

	/* An empty GUEST_STATE as the first state of the session: the
	 * receiver copied 0 bytes into its still NULL state buffer
	 * (memcpy(NULL, .., 0), undefined). */
	session_header(&w, "proc", 16, cfg, cl);
	CHECK(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL));
	CHECK(stream_write_page(&w, 0, STREAM_ENC_ZERO, NULL, 0));
	CHECK(stream_write_blob(&w, STREAM_REC_GUEST_STATE, NULL, 0));
	CHECK(stream_write_epoch_end(&w));
	CHECK(save(dir, "crash-empty-guest-state", 0x00, &w));

	/* Headers the backup refuses: not a proc config; no such driver. */
	session_header(&w, "proc", 16, "pid=1", 5);
	if (session_epoch1(&w) == -1)
		return -1;
	CHECK(save(dir, "s-bad-config", 0x00, &w));
	session_header(&w, "nosuch", 16, cfg, cl);
	CHECK(save(dir, "s-unknown-driver", 0x00, &w));
	return 0;
}

/* ---- Primary seeds (fuzz-primary.c): what a backup answers ------------ */

int
primary_make_seeds(const char *dir)
{
	struct stream_writer w;
	struct stream_welcome wl = { .timeout_ms = 1000, .hb_ms = 200 };

	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "make-seeds: %s: %s\n", dir, strerror(errno));
		return -1;
	}

	/* WELCOME, READY, heartbeat, ACK(1): a good backup; the harness
	 * then stops the primary (END).  One record at a time; chunked;
	 * congested. */
	static const uint8_t ctls[] = { 0x00, 0x05, 0x80 };
	static const char *const names[] = { "p-ack", "p-ack-chunked",
	    "p-ack-congested" };
	for (size_t i = 0; i < sizeof ctls; i++) {
		stream_writer_init(&w, PS);
		CHECK(stream_write_welcome(&w, &wl));
		CHECK(stream_write_ctl(&w, STREAM_REC_READY, STREAM_VERSION));
		CHECK(stream_write_ctl(&w, STREAM_REC_BC_HEARTBEAT, 1));
		CHECK(stream_write_ctl(&w, STREAM_REC_ACK, 1));
		CHECK(save(dir, names[i], ctls[i], &w));
	}

	/* Five epochs acknowledged one by one, the last ACK covering two
	 * (ACK is cumulative). */
	stream_writer_init(&w, PS);
	CHECK(stream_write_welcome(&w, &wl));
	CHECK(stream_write_ctl(&w, STREAM_REC_READY, STREAM_VERSION));
	for (uint64_t e = 1; e <= 4; e++)
		CHECK(stream_write_ctl(&w, STREAM_REC_ACK, e));
	CHECK(stream_write_ctl(&w, STREAM_REC_BC_HEARTBEAT, 2));
	CHECK(stream_write_ctl(&w, STREAM_REC_ACK, 6));
	CHECK(save(dir, "p-acks", 0x00, &w));

	/* A backup that fences, then closes after ACK(1) (bit 6: EOF). */
	stream_writer_init(&w, PS);
	wl.fence_ms = 5000;
	wl.flags = STREAM_WELCOME_FENCES;
	CHECK(stream_write_welcome(&w, &wl));
	CHECK(stream_write_ctl(&w, STREAM_REC_READY, STREAM_VERSION));
	CHECK(stream_write_ctl(&w, STREAM_REC_ACK, 1));
	CHECK(save(dir, "p-fence-eof", 0x40, &w));
	wl.fence_ms = 0;
	wl.flags = 0;

	/* Stands down after READY. */
	stream_writer_init(&w, PS);
	CHECK(stream_write_welcome(&w, &wl));
	CHECK(stream_write_ctl(&w, STREAM_REC_READY, STREAM_VERSION));
	CHECK(stream_write_error(&w, 28, "no space left for the replica"));
	CHECK(save(dir, "p-error", 0x00, &w));

	/* Acknowledges an epoch never sent. */
	stream_writer_init(&w, PS);
	CHECK(stream_write_welcome(&w, &wl));
	CHECK(stream_write_ctl(&w, STREAM_REC_READY, STREAM_VERSION));
	CHECK(stream_write_ctl(&w, STREAM_REC_ACK, 1));
	CHECK(stream_write_ctl(&w, STREAM_REC_ACK, 7));
	CHECK(save(dir, "p-ack-unsent", 0x00, &w));

	/* A T longer than the primary's --timeout (60 s here): refused. */
	stream_writer_init(&w, PS);
	wl.timeout_ms = 120000;
	CHECK(stream_write_welcome(&w, &wl));
	CHECK(stream_write_ctl(&w, STREAM_REC_READY, STREAM_VERSION));
	CHECK(save(dir, "p-long-timeout", 0x00, &w));
	return 0;
}
