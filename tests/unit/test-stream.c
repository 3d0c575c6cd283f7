/* tests/unit/test-stream.c -- the stream format: writer -> reader round
 * trips, and everything the reader must refuse (STYLE T2).
 *
 * Malformed inputs are made by mutating one field of a valid stream and
 * then recomputing every CRC (fix_crcs), so each case hits the check it
 * is about and not the CRC that would otherwise catch it first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "stream.h"

#undef NDEBUG
#include <assert.h>

uint32_t	stream_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#define PS		4096u
#define NR_PAGES	64u

/* ---- helpers -------------------------------------------------------- */

static uint32_t
ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void
st32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static size_t
pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

struct out {
	uint8_t	*buf;
	size_t	len;
};

/* Take the writer's whole buffer (everything must be complete). */
static struct out
take(struct stream_writer *w)
{
	struct out o;

	cr_assert_eq(stream_writer_ready(w), w->len, "open batch at take()");
	o.len = w->len;
	o.buf = malloc(o.len + 1);
	cr_assert_not_null(o.buf);
	memcpy(o.buf, w->buf, o.len);
	stream_writer_free(w);
	return o;
}

/* The disks the standard stream's DISK_WRITE records refer to. */
static const struct stream_disk_desc std_disks[3] = {
	{ "xvda", 2 << 20 }, { "xvdb", 8192 }, { "data.1", 4096 },
};

static void
std_header(struct stream_writer *w, uint32_t features)
{
	struct stream_header_info hi = {
		.page_size = PS, .features = features, .nr_pages = NR_PAGES,
		.driver = "test", .config = "cfg=1", .config_len = 5,
	};

	cr_assert_eq(stream_write_header(w, &hi), 0);
	cr_assert_eq(stream_write_hello(w, "proc:42", 3000, 200, 0, 0), 0);
	cr_assert_eq(stream_write_disks(w, std_disks, 3), 0);
}

/* The backup's standard answer to HELLO. */
static const struct stream_welcome std_welcome = {
	.resume_epoch = 17, .timeout_ms = 1000, .hb_ms = 200,
	.fence_ms = 10000, .flags = STREAM_WELCOME_FENCES,
};

/* The standard forward stream: header, epoch 1 (FULL) with every
 * forward record type and every page encoding, a heartbeat, epoch 2, END. */
static struct out
std_stream(void)
{
	struct stream_writer w;
	static uint8_t page[PS];
	uint8_t disk[512];
	struct stream_disk_write dw = { .offset = 4096, .length = 512,
	    .disk = 1, .op = STREAM_DISK_WRITE, .flags = STREAM_DISK_FLAG_FUA };
	struct stream_disk_write dz = { .offset = 1 << 20, .length = 8192,
	    .disk = 0, .op = STREAM_DISK_ZERO };
	struct stream_disk_write dt = { .offset = 0, .length = 4096,
	    .disk = 2, .op = STREAM_DISK_TRIM };

	fill(page, sizeof(page), 1);
	fill(disk, sizeof(disk), 2);
	stream_writer_init(&w, PS);
	std_header(&w, STREAM_FEAT_COMPRESS | STREAM_FEAT_DEVICE_MODEL);
	cr_assert_eq(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL), 0);
	cr_assert_eq(stream_write_page(&w, 0, STREAM_ENC_ZERO, NULL, 0), 0);
	cr_assert_eq(stream_write_page(&w, 1, STREAM_ENC_RAW, page, PS), 0);
	cr_assert_eq(stream_write_page(&w, 2, STREAM_ENC_LZ4, page, 100), 0);
	cr_assert_eq(stream_write_page(&w, 3, STREAM_ENC_XOR_LZ4, page + 5, 51), 0);
	cr_assert_eq(stream_write_page(&w, 4, STREAM_ENC_XOR_RLE, page + 9, 13), 0);
	cr_assert_eq(stream_write_page(&w, 5, STREAM_ENC_XOR_RLE, NULL, 0), 0);
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW,
	    "QEVMdev", 7), 0);
	cr_assert_eq(stream_write_blob(&w, STREAM_REC_GUEST_STATE, "vcpu0", 5), 0);
	cr_assert_eq(stream_write_disk(&w, &dw, disk), 0);
	cr_assert_eq(stream_write_disk(&w, &dz, NULL), 0);
	cr_assert_eq(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x42, "hello", 5), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 7), 0);
	cr_assert_eq(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x43, "x", 1), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 2, 0), 0);
	cr_assert_eq(stream_write_page(&w, 63, STREAM_ENC_LZ4, page, 17), 0);
	cr_assert_eq(stream_write_page(&w, 6, STREAM_ENC_ZERO, NULL, 0), 0);
	cr_assert_eq(stream_write_disk(&w, &dt, NULL), 0);
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW,
	    "QEVM2", 5), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_END, 0), 0);
	return take(&w);
}

static struct out
back_stream_opt(int with_optional)
{
	struct stream_writer w;

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_welcome(&w, &std_welcome), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_BC_HEARTBEAT, 1), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_ACK, 1), 0);
	if (with_optional)
		cr_assert_eq(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x200,
		    "opt", 3), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_ACK, 2), 0);
	cr_assert_eq(stream_write_error(&w, EIO, "disk on fire"), 0);
	return take(&w);
}

static struct out
back_stream(void)
{
	return back_stream_opt(1);
}

struct epoch_range {
	uint64_t	epoch;
	size_t		start, end;	/* EPOCH_BEGIN .. EPOCH_END header */
};

struct result {
	enum stream_status st;		/* the status that stopped parsing */
	size_t		off;		/* where */
	int		ended;
	unsigned	nrec, nskipped, npages;
	unsigned	nepochs;
	struct epoch_range ep[8];
};

/* Parse a whole buffer, checking that every borrowed pointer stays in
 * it.  Stops at the first status that is not OK or SKIPPED. */
static struct result
parse_all(const uint8_t *buf, size_t len, enum stream_dir dir)
{
	struct stream_reader r;
	struct stream_header_info hi;
	struct stream_rec rec;
	struct result res;
	size_t used = 0, begin = 0;

	memset(&res, 0, sizeof(res));
	stream_reader_init(&r, dir);
	if (dir == STREAM_DIR_FORWARD) {
		res.st = stream_read_header(&r, buf, len, &used, &hi);
		if (res.st != STREAM_OK)
			return res;
		assert(used <= len);
		res.off = used;
	}
	for (;;) {
		res.st = stream_read_record(&r, buf + res.off, len - res.off,
		    &used, &rec);
		if (res.st != STREAM_OK && res.st != STREAM_SKIPPED)
			break;
		assert(used >= 8 && used <= len - res.off);
		assert(rec.body + rec.length <= buf + len);
		res.nrec++;
		if (res.st == STREAM_SKIPPED)
			res.nskipped++;
		if (rec.type == STREAM_REC_EPOCH_BEGIN && res.st == STREAM_OK)
			begin = res.off;
		if (rec.type == STREAM_REC_PAGE_BATCH && res.st == STREAM_OK) {
			struct stream_batch_iter it;
			struct stream_page pg;
			const uint8_t *d;

			stream_batch_iter_init(&it, &rec);
			while (stream_batch_next(&it, &pg, &d)) {
				assert(d >= rec.body && d + pg.length <=
				    rec.body + rec.length);
				assert(pg.pfn < r.nr_pages);
				res.npages++;
			}
		}
		if (rec.type == STREAM_REC_EPOCH_END && res.st == STREAM_OK &&
		    res.nepochs < 8) {
			res.ep[res.nepochs].epoch = rec.u.end.epoch;
			res.ep[res.nepochs].start = begin;
			res.ep[res.nepochs].end = res.off;
			res.nepochs++;
		}
		res.off += used;
	}
	res.ended = r.ended;
	/* Sticky: asking again gives the same answer. */
	if (res.st != STREAM_NEED_MORE) {
		enum stream_status again = stream_read_record(&r, buf, len,
		    &used, &rec);

		assert(again == res.st);
	}
	return res;
}

/* Recompute the header CRC, every epoch CRC and every control-record CRC
 * of a (possibly mutated) stream, walking it by its lengths only. */
static void
fix_crcs(uint8_t *b, size_t len, enum stream_dir dir)
{
	size_t off = 0, start = 0;
	int in = 0;

	if (dir == STREAM_DIR_FORWARD) {
		size_t total = 56 + pad8(ld32(b + 48));

		if (total > len)
			return;
		st32(b + 52, 0);
		st32(b + 52, stream_crc32c(0, b, total));
		off = total;
	}
	while (off + 8 <= len) {
		uint32_t type = ld32(b + off), length = ld32(b + off + 4);
		size_t total = 8 + pad8(length);

		if (total > len - off)
			break;
		switch (type) {
		case STREAM_REC_EPOCH_BEGIN:
			start = off;
			in = 1;
			break;
		case STREAM_REC_EPOCH_END:
			if (in && length == 16)
				st32(b + off + 8 + 12,
				    stream_crc32c(0, b + start, off - start));
			in = 0;
			break;
		case STREAM_REC_HEARTBEAT:
		case STREAM_REC_END:
		case STREAM_REC_READY:
		case STREAM_REC_ACK:
		case STREAM_REC_BC_HEARTBEAT:
			if (length == 16)
				st32(b + off + 20, stream_crc32c(0, b + off, 20));
			break;
		case STREAM_REC_HELLO:
			if (length == sizeof(struct stream_hello))
				st32(b + off + 8 + 84,
				    stream_crc32c(0, b + off, 8 + 84));
			break;
		case STREAM_REC_WELCOME:
			if (length == sizeof(struct stream_welcome))
				st32(b + off + 8 + 28,
				    stream_crc32c(0, b + off, 8 + 28));
			break;
		case STREAM_REC_DISKS:
			/* Header and count, then the entries. */
			if (length >= 8)
				st32(b + off + 8 + 4, stream_crc32c(stream_crc32c(
				    0, b + off, 8 + 4), b + off + 16,
				    length - 8));
			break;
		case STREAM_REC_ERROR:
			if (length > 8) {
				uint32_t c = stream_crc32c(0, b + off, 12);

				c = stream_crc32c(c, b + off + 16, length - 8);
				st32(b + off + 12, c);
			}
			break;
		}
		off += total;
	}
}

/* Offset of the record header of the NTH (0-based) record of TYPE. */
static size_t
find_rec(const uint8_t *b, size_t len, enum stream_dir dir, uint32_t type,
    unsigned nth)
{
	size_t off = dir == STREAM_DIR_FORWARD ? 56 + pad8(ld32(b + 48)) : 0;

	while (off + 8 <= len) {
		if (ld32(b + off) == type && nth-- == 0)
			return off;
		off += 8 + pad8(ld32(b + off + 4));
	}
	cr_assert_fail("record type %#x not found", type);
	return 0;
}

/* ---- CRC32C --------------------------------------------------------- */

Test(stream, crc32c_known_vectors)
{
	uint8_t zeros[32] = { 0 }, ones[32];

	memset(ones, 0xff, sizeof(ones));
	cr_assert_eq(stream_crc32c(0, "123456789", 9), 0xE3069283u);
	cr_assert_eq(stream_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	cr_assert_eq(stream_crc32c(0, "", 0), 0u);
	/* RFC 3720 B.4 iSCSI test vectors. */
	cr_assert_eq(stream_crc32c(0, zeros, 32), 0x8A9136AAu);
	cr_assert_eq(stream_crc32c(0, ones, 32), 0x62A8AB43u);
}

Test(stream, crc32c_hw_equals_sw_and_chains)
{
	static uint8_t buf[4096 + 16];

	fill(buf, sizeof(buf), 9);
	for (size_t a = 0; a < 8; a++)
		for (size_t n = 0; n < 100; n += 1 + n / 8) {
			uint32_t whole = stream_crc32c(0, buf + a, n);

			cr_assert_eq(whole, stream_crc32c_sw(0, buf + a, n));
			for (size_t k = 0; k <= n; k += 1 + n / 3)
				cr_assert_eq(whole, stream_crc32c(stream_crc32c(0,
				    buf + a, k), buf + a + k, n - k));
		}
	cr_assert_eq(stream_crc32c(0, buf + 3, 4096),
	    stream_crc32c_sw(0, buf + 3, 4096));
}

/* ---- round trips ---------------------------------------------------- */

Test(stream, round_trip_every_forward_record)
{
	struct out o = std_stream();
	struct stream_reader r;
	struct stream_header_info hi;
	struct stream_rec rec;
	struct stream_batch_iter it;
	struct stream_page pg;
	const uint8_t *d;
	static uint8_t page[PS];
	size_t used, off;

	fill(page, sizeof(page), 1);
	stream_reader_init(&r, STREAM_DIR_FORWARD);
	cr_assert_eq(stream_read_header(&r, o.buf, o.len, &used, &hi), STREAM_OK);
	cr_assert_eq(used, 64u);
	cr_assert_eq(hi.page_size, PS);
	cr_assert_eq(hi.nr_pages, NR_PAGES);
	cr_assert_eq(hi.features, STREAM_FEAT_COMPRESS |
	    STREAM_FEAT_DEVICE_MODEL);
	cr_assert_str_eq(hi.driver, "test");
	cr_assert_eq(hi.config_len, 5u);
	cr_assert_eq(memcmp(hi.config, "cfg=1", 5), 0);
	off = used;

#define NEXT(expect_st, expect_type) do {				\
	cr_assert_eq(stream_read_record(&r, o.buf + off, o.len - off,	\
	    &used, &rec), expect_st, "at %zu", off);			\
	cr_assert_eq(rec.type, expect_type);				\
	off += used;							\
} while (0)

	NEXT(STREAM_OK, STREAM_REC_HELLO);
	cr_assert_eq(used, 8u + 88u);
	cr_assert_str_eq(rec.u.hello.name, "proc:42");
	cr_assert_eq(rec.u.hello.timeout_ms, 3000u);
	cr_assert_eq(rec.u.hello.hb_ms, 200u);
	cr_assert_eq(rec.u.hello.features, 0u);
	cr_assert_eq(rec.u.hello.flags, 0u);
	cr_assert(r.have_hello);

	NEXT(STREAM_OK, STREAM_REC_DISKS);
	cr_assert_eq(used, 8u + 8u + 3 * 32u);
	cr_assert_eq(rec.u.disks.count, 3u);
	cr_assert_str_eq(rec.u.disks.name[0], "xvda");
	cr_assert_str_eq(rec.u.disks.name[2], "data.1");
	cr_assert_eq(rec.u.disks.size[0], 2u << 20);
	cr_assert_eq(rec.u.disks.size[1], 8192u);
	cr_assert_eq(r.nr_disks, 3u);

	NEXT(STREAM_OK, STREAM_REC_EPOCH_BEGIN);
	cr_assert_eq(rec.u.begin.epoch, 1u);
	cr_assert_eq(rec.u.begin.flags, STREAM_EPOCH_FULL);
	cr_assert(r.in_epoch);
	NEXT(STREAM_OK, STREAM_REC_PAGE_BATCH);
	cr_assert_eq(rec.u.batch.count, 6u);
	stream_batch_iter_init(&it, &rec);
	static const struct { uint64_t pfn; uint16_t enc; uint32_t len;
	    size_t src; } want[] = {
		{ 0, STREAM_ENC_ZERO, 0, 0 }, { 1, STREAM_ENC_RAW, PS, 0 },
		{ 2, STREAM_ENC_LZ4, 100, 0 }, { 3, STREAM_ENC_XOR_LZ4, 51, 5 },
		{ 4, STREAM_ENC_XOR_RLE, 13, 9 }, { 5, STREAM_ENC_XOR_RLE, 0, 0 },
	};
	for (size_t i = 0; i < 6; i++) {
		cr_assert_eq(stream_batch_next(&it, &pg, &d), 1);
		cr_assert_eq(pg.pfn, want[i].pfn);
		cr_assert_eq(pg.encoding, want[i].enc);
		cr_assert_eq(pg.length, want[i].len);
		cr_assert_eq(pg.reserved, 0);
		cr_assert_eq(memcmp(d, page + want[i].src, pg.length), 0);
	}
	cr_assert_eq(stream_batch_next(&it, &pg, &d), 0);
	NEXT(STREAM_OK, STREAM_REC_DEVICE_STATE);
	cr_assert_eq(rec.u.devstate.kind, STREAM_DEVSTATE_QEMU);
	cr_assert_eq(rec.u.devstate.len, 7u);
	cr_assert_eq(memcmp(rec.u.devstate.data, "QEVMdev", 7), 0);
	NEXT(STREAM_OK, STREAM_REC_GUEST_STATE);
	cr_assert_eq(rec.length, 5u);
	cr_assert_eq(memcmp(rec.body, "vcpu0", 5), 0);
	NEXT(STREAM_OK, STREAM_REC_DISK_WRITE);
	cr_assert_eq(rec.u.disk.offset, 4096u);
	cr_assert_eq(rec.u.disk.length, 512u);
	cr_assert_eq(rec.u.disk.disk, 1);
	cr_assert_eq(rec.u.disk.op, STREAM_DISK_WRITE);
	cr_assert_eq(rec.u.disk.flags, STREAM_DISK_FLAG_FUA);
	cr_assert_eq(rec.length, 16u + 512u);
	NEXT(STREAM_OK, STREAM_REC_DISK_WRITE);
	cr_assert_eq(rec.u.disk.op, STREAM_DISK_ZERO);
	cr_assert_eq(rec.u.disk.length, 8192u);
	cr_assert_eq(rec.length, 16u);
	NEXT(STREAM_SKIPPED, STREAM_REC_OPTIONAL | 0x42);
	cr_assert_eq(memcmp(rec.body, "hello", 5), 0);
	NEXT(STREAM_OK, STREAM_REC_EPOCH_END);
	cr_assert_eq(rec.u.end.epoch, 1u);
	cr_assert_eq(rec.u.end.nr_records, 7u);
	cr_assert_eq(r.in_epoch, 0);
	cr_assert_eq(r.nr_epochs, 1u);
	NEXT(STREAM_OK, STREAM_REC_HEARTBEAT);
	cr_assert_eq(rec.u.ctl.value, 7u);
	NEXT(STREAM_SKIPPED, STREAM_REC_OPTIONAL | 0x43);
	NEXT(STREAM_OK, STREAM_REC_EPOCH_BEGIN);
	cr_assert_eq(rec.u.begin.epoch, 2u);
	cr_assert_eq(rec.u.begin.flags, 0u);
	NEXT(STREAM_OK, STREAM_REC_PAGE_BATCH);
	cr_assert_eq(rec.u.batch.count, 2u);
	NEXT(STREAM_OK, STREAM_REC_DISK_WRITE);
	cr_assert_eq(rec.u.disk.op, STREAM_DISK_TRIM);
	NEXT(STREAM_OK, STREAM_REC_DEVICE_STATE);
	cr_assert_eq(rec.u.devstate.len, 5u);
	NEXT(STREAM_OK, STREAM_REC_EPOCH_END);
	cr_assert_eq(rec.u.end.nr_records, 4u);
	NEXT(STREAM_OK, STREAM_REC_END);
	cr_assert_eq(rec.u.ctl.value, 2u);
	cr_assert(r.ended);
	cr_assert_eq(off, o.len);
	cr_assert_eq(r.offset, o.len);
	/* Nothing may follow END. */
	cr_assert_eq(stream_read_record(&r, o.buf + 64, o.len - 64, &used, &rec),
	    STREAM_ERR_SEQUENCE);
#undef NEXT
	free(o.buf);
}

Test(stream, round_trip_back_channel)
{
	struct out o = back_stream();
	struct stream_reader r;
	struct stream_rec rec;
	size_t used, off = 0;
	static const uint32_t types[] = { STREAM_REC_WELCOME, STREAM_REC_READY,
	    STREAM_REC_BC_HEARTBEAT, STREAM_REC_ACK, STREAM_REC_OPTIONAL | 0x200,
	    STREAM_REC_ACK, STREAM_REC_ERROR };
	static const uint64_t values[] = { 0, STREAM_VERSION, 1, 1, 0, 2, 0 };

	stream_reader_init(&r, STREAM_DIR_BACK);
	for (size_t i = 0; i < 7; i++) {
		enum stream_status st = stream_read_record(&r, o.buf + off,
		    o.len - off, &used, &rec);

		cr_assert_eq(st, i == 4 ? STREAM_SKIPPED : STREAM_OK, "rec %zu", i);
		cr_assert_eq(rec.type, types[i]);
		if (rec.length == 16 && st == STREAM_OK)
			cr_assert_eq(rec.u.ctl.value, values[i]);
		if (i == 0) {
			cr_assert_eq(rec.u.welcome.resume_epoch, 17u);
			cr_assert_eq(rec.u.welcome.timeout_ms, 1000u);
			cr_assert_eq(rec.u.welcome.hb_ms, 200u);
			cr_assert_eq(rec.u.welcome.fence_ms, 10000u);
			cr_assert_eq(rec.u.welcome.flags, STREAM_WELCOME_FENCES);
			cr_assert(r.have_welcome);
		}
		off += used;
	}
	cr_assert_eq(rec.u.error.code, (uint32_t)EIO);
	cr_assert_eq(rec.u.error.reason_len, 12u);
	cr_assert_eq(memcmp(rec.u.error.reason, "disk on fire", 12), 0);
	cr_assert_eq(r.last_ack, 2u);
	cr_assert(r.ended);
	cr_assert_eq(off, o.len);
	free(o.buf);
}

Test(stream, parses_from_unaligned_buffers)
{
	struct out o = std_stream();
	uint8_t *u = malloc(o.len + 8);

	for (size_t a = 1; a < 8; a++) {
		memcpy(u + a, o.buf, o.len);
		struct result res = parse_all(u + a, o.len, STREAM_DIR_FORWARD);

		cr_assert_eq(res.st, STREAM_NEED_MORE);
		cr_assert(res.ended);
		cr_assert_eq(res.nepochs, 2u);
		cr_assert_eq(res.off, o.len);
	}
	free(u);
	free(o.buf);
}

/* ---- writer: batching, draining, zero copy --------------------------- */

Test(stream, writer_splits_batches_by_count_and_bytes)
{
	struct stream_writer w;
	static uint8_t page[PS];
	struct stream_header_info hi = { .page_size = PS, .nr_pages = 1 << 20,
	    .driver = "t" };
	struct stream_reader r;
	struct stream_rec rec;
	size_t off, used;
	unsigned counts[8], n = 0;

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_header(&w, &hi), 0);
	cr_assert_eq(stream_write_hello(&w, "g", 1000, 200, 0, 0), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 5, STREAM_EPOCH_FULL), 0);
	for (unsigned i = 0; i < 2500; i++)
		cr_assert_eq(stream_write_page(&w, i, STREAM_ENC_ZERO, NULL, 0), 0);
	/* A batch is open: only what precedes it may be sent. */
	cr_assert_lt(stream_writer_ready(&w), w.len);
	cr_assert_eq(stream_write_batch_end(&w), 0);
	for (unsigned i = 0; i < 1030; i++)
		cr_assert_eq(stream_write_page(&w, i, STREAM_ENC_RAW, page, PS), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);

	stream_reader_init(&r, STREAM_DIR_FORWARD);
	cr_assert_eq(stream_read_header(&r, w.buf, w.len, &used, NULL), STREAM_OK);
	off = used;
	while (off < w.len) {
		cr_assert_eq(stream_read_record(&r, w.buf + off, w.len - off,
		    &used, &rec), STREAM_OK, "at %zu", off);
		if (rec.type == STREAM_REC_PAGE_BATCH) {
			cr_assert_lt(n, 8u);
			counts[n++] = rec.u.batch.count;
		}
		off += used;
	}
	cr_assert_eq(n, 5u);
	cr_assert_eq(counts[0], 1024u);
	cr_assert_eq(counts[1], 1024u);
	cr_assert_eq(counts[2], 452u);
	/* 1024 raw pages are exactly STREAM_WRITER_BATCH_BYTES of data. */
	cr_assert_eq(counts[3], 1024u);
	cr_assert_eq(counts[4], 6u);
	cr_assert_eq(r.nr_epochs, 1u);
	stream_writer_free(&w);
}

Test(stream, writer_byte_limit_with_large_pages)
{
	struct stream_writer w;
	static uint8_t page[65536];
	struct stream_header_info hi = { .page_size = 65536, .nr_pages = 1000,
	    .driver = "t" };
	struct result res;
	struct out o;

	stream_writer_init(&w, 65536);
	cr_assert_eq(stream_write_header(&w, &hi), 0);
	cr_assert_eq(stream_write_hello(&w, "g", 1000, 200, 0, 0), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL), 0);
	for (unsigned i = 0; i < 130; i++)
		cr_assert_eq(stream_write_page(&w, i, STREAM_ENC_RAW, page,
		    65536), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	o = take(&w);
	res = parse_all(o.buf, o.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_NEED_MORE);
	cr_assert_eq(res.npages, 130u);
	cr_assert_eq(res.nrec, 6u);	/* HELLO, BEGIN, 64 + 64 + 2 pages, END */
	free(o.buf);
}

/* Draining after every call, and the zero-copy page path, give exactly
 * the bytes of the one-buffer writer. */
Test(stream, drain_and_reserve_give_identical_bytes)
{
	struct out ref = std_stream();
	struct stream_writer w;
	static uint8_t page[PS];
	uint8_t *got = malloc(ref.len + 1);
	size_t n = 0;

#define STEP(call) do {							\
	cr_assert_eq((call), 0);					\
	size_t _r = stream_writer_ready(&w);				\
	cr_assert_leq(n + _r, ref.len);					\
	memcpy(got + n, w.buf, _r);					\
	n += _r;							\
	/* half the time consume in two steps */			\
	if (_r > 1 && (n & 1)) {					\
		stream_writer_consume(&w, _r / 2);			\
		stream_writer_consume(&w, _r - _r / 2);			\
	} else								\
		stream_writer_drain(&w);				\
} while (0)

	fill(page, sizeof(page), 1);
	stream_writer_init(&w, PS);
	struct stream_header_info hi = {
		.page_size = PS,
		.features = STREAM_FEAT_COMPRESS | STREAM_FEAT_DEVICE_MODEL,
		.nr_pages = NR_PAGES, .driver = "test", .config = "cfg=1",
		.config_len = 5,
	};
	struct stream_disk_write dw = { .offset = 4096, .length = 512,
	    .disk = 1, .op = STREAM_DISK_WRITE, .flags = STREAM_DISK_FLAG_FUA };
	struct stream_disk_write dz = { .offset = 1 << 20, .length = 8192,
	    .disk = 0, .op = STREAM_DISK_ZERO };
	struct stream_disk_write dt = { .offset = 0, .length = 4096,
	    .disk = 2, .op = STREAM_DISK_TRIM };
	uint8_t disk[512];
	void *p;

	fill(disk, sizeof(disk), 2);
	STEP(stream_write_header(&w, &hi));
	STEP(stream_write_hello(&w, "proc:42", 3000, 200, 0, 0));
	STEP(stream_write_disks(&w, std_disks, 3));
	STEP(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL));
	STEP(stream_write_page(&w, 0, STREAM_ENC_ZERO, NULL, 0));
	p = stream_write_page_reserve(&w, PS);
	cr_assert_not_null(p);
	memcpy(p, page, PS);
	STEP(stream_write_page_commit(&w, 1, STREAM_ENC_RAW, PS));
	p = stream_write_page_reserve(&w, PS);
	memcpy(p, page, 100);
	STEP(stream_write_page_commit(&w, 2, STREAM_ENC_LZ4, 100));
	STEP(stream_write_page(&w, 3, STREAM_ENC_XOR_LZ4, page + 5, 51));
	p = stream_write_page_reserve(&w, 13);
	memcpy(p, page + 9, 13);
	STEP(stream_write_page_commit(&w, 4, STREAM_ENC_XOR_RLE, 13));
	STEP(stream_write_page(&w, 5, STREAM_ENC_XOR_RLE, NULL, 0));
	STEP(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "QEVMdev", 7));
	STEP(stream_write_blob(&w, STREAM_REC_GUEST_STATE, "vcpu0", 5));
	STEP(stream_write_disk(&w, &dw, disk));
	STEP(stream_write_disk(&w, &dz, NULL));
	STEP(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x42, "hello", 5));
	STEP(stream_write_epoch_end(&w));
	STEP(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 7));
	STEP(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x43, "x", 1));
	STEP(stream_write_epoch_begin(&w, 2, 0));
	STEP(stream_write_page(&w, 63, STREAM_ENC_LZ4, page, 17));
	STEP(stream_write_page(&w, 6, STREAM_ENC_ZERO, NULL, 0));
	STEP(stream_write_disk(&w, &dt, NULL));
	STEP(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "QEVM2", 5));
	STEP(stream_write_epoch_end(&w));
	STEP(stream_write_ctl(&w, STREAM_REC_END, 0));
#undef STEP
	cr_assert_eq(n, ref.len);
	cr_assert_eq(memcmp(got, ref.buf, n), 0);
	stream_writer_free(&w);
	free(got);
	free(ref.buf);
}

Test(stream, writer_refuses_what_the_reader_rejects)
{
	struct stream_writer w;
	static uint8_t page[PS];
	struct stream_header_info bad = { .page_size = PS, .nr_pages = 8,
	    .driver = "has space" };
	struct stream_disk_write dw = { .offset = UINT64_MAX, .length = 2,
	    .op = STREAM_DISK_ZERO };
	size_t len;

	stream_writer_init(&w, PS);
	errno = 0;
	cr_assert_eq(stream_write_header(&w, &bad), -1);
	cr_assert_eq(errno, EINVAL);
	std_header(&w, 0);
	len = w.len;
	{
		/* DISKS: once, names as the spec says, sizes >= 1. */
		struct stream_disk_desc d[2] = { { "a", 1 }, { "a", 1 } };

		cr_assert_eq(stream_write_disks(&w, std_disks, 3), -1,
		    "DISKS twice");
		w.nr_disks = 0;
		cr_assert_eq(stream_write_disks(&w, d, 2), -1, "same name");
		memcpy(d[1].name, "", 1);
		cr_assert_eq(stream_write_disks(&w, d, 2), -1, "unnamed of 2");
		memcpy(d[0].name, "a/b", 4);
		cr_assert_eq(stream_write_disks(&w, d, 1), -1, "bad name");
		memset(d[0].name, 'x', sizeof d[0].name);
		cr_assert_eq(stream_write_disks(&w, d, 1), -1, "no NUL");
		memcpy(d[0].name, "a", 2);
		d[0].size = 0;
		cr_assert_eq(stream_write_disks(&w, d, 1), -1, "size 0");
		cr_assert_eq(stream_write_disks(&w, d, 0), -1, "none");
		cr_assert_eq(stream_write_disks(&w, std_disks,
		    STREAM_DISKS_MAX + 1), -1, "too many");
		w.nr_disks = 3;
	}
	cr_assert_eq(stream_write_page(&w, 0, STREAM_ENC_ZERO, NULL, 0), -1);
	cr_assert_eq(stream_write_epoch_begin(&w, 1, 0), -1);	/* not FULL */
	cr_assert_eq(stream_write_epoch_begin(&w, 0, STREAM_EPOCH_FULL), -1);
	cr_assert_eq(stream_write_epoch_begin(&w, 1, 0x2 | STREAM_EPOCH_FULL), -1);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_EPOCH_END, 1), -1);
	cr_assert_eq(stream_write_blob(&w, STREAM_REC_GUEST_STATE, "x", 1), -1);
	cr_assert_eq(stream_write_blob(&w, STREAM_REC_OPTIONAL | 1, "x", 1), -1);
	cr_assert_eq(stream_write_blob(&w, 0x99, "x", 1), -1);
	cr_assert_eq(w.len, len, "EINVAL wrote something");
	cr_assert_eq(stream_write_epoch_begin(&w, 10, STREAM_EPOCH_FULL), 0);
	len = w.len;
	cr_assert_eq(stream_write_page(&w, NR_PAGES, STREAM_ENC_ZERO, NULL, 0), -1);
	cr_assert_eq(stream_write_page(&w, 1, STREAM_ENC_RAW, page, PS - 1), -1);
	cr_assert_eq(stream_write_page(&w, 1, STREAM_ENC_ZERO, page, 1), -1);
	cr_assert_eq(stream_write_page(&w, 1, STREAM_ENC_LZ4, page, 10), -1,
	    "LZ4 without the COMPRESS feature");
	cr_assert_eq(stream_write_page(&w, 1, STREAM_ENC_MAX, page, 10), -1);
	cr_assert_null(stream_write_page_reserve(&w, PS + 1));
	cr_assert_eq(stream_write_disk(&w, &dw, NULL), -1);
	{
		/* A disk DISKS did not declare, a range past its size. */
		struct stream_disk_write d3 = { .offset = 0, .length = 1,
		    .disk = 3, .op = STREAM_DISK_ZERO };
		struct stream_disk_write past = { .offset = 4096,
		    .length = 1, .disk = 2, .op = STREAM_DISK_ZERO };

		cr_assert_eq(stream_write_disk(&w, &d3, NULL), -1);
		cr_assert_eq(stream_write_disk(&w, &past, NULL), -1);
		cr_assert_eq(stream_write_disks(&w, std_disks, 3), -1,
		    "DISKS in an epoch");
	}
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 1), -1);
	cr_assert_eq(stream_write_epoch_begin(&w, 11, 0), -1);
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "d",
	    1), -1, "DEVICE_STATE without DEVICE_MODEL");
	cr_assert_eq(stream_write_blob(&w, STREAM_REC_DEVICE_STATE, "d", 1), -1,
	    "DEVICE_STATE as a blob");
	cr_assert_eq(stream_write_batch_end(&w), 0);
	cr_assert_eq(w.len, len, "EINVAL wrote something");
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 12, 0), -1);	/* not +1 */
	cr_assert_eq(stream_write_epoch_begin(&w, 11, 0), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_error(&w, 1, "bad\nline"), -1);
	cr_assert_eq(stream_write_error(&w, 1, ""), -1);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_END, 0), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 1), -1);

	struct result res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);

	cr_assert_eq(res.nepochs, 2u);
	cr_assert(res.ended);
	cr_assert_eq(res.off, w.len);
	stream_writer_free(&w);
}

/* With DEVICE_MODEL: one DEVICE_STATE of a known kind in every epoch. */
Test(stream, writer_keeps_one_device_state_per_epoch)
{
	struct stream_writer w;
	size_t len;

	stream_writer_init(&w, PS);
	std_header(&w, STREAM_FEAT_DEVICE_MODEL);
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "d",
	    1), -1, "outside an epoch");
	cr_assert_eq(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL), 0);
	len = w.len;
	cr_assert_eq(stream_write_epoch_end(&w), -1, "an epoch without it");
	cr_assert_eq(stream_write_device_state(&w, 0, STREAM_DEVSTATE_RAW, "d", 1), -1, "kind 0");
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_KIND_MAX +
	    1, STREAM_DEVSTATE_RAW, "d", 1), -1, "unknown kind");
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU,
	    STREAM_DEVSTATE_ENC_MAX + 1, "ddddd", 5), -1, "unknown encoding");
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU,
	    STREAM_DEVSTATE_LZ4, "dddd", 4), -1, "packed without a block");
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "d",
	    0), -1, "empty");
	cr_assert_eq(w.len, len, "EINVAL wrote something");
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "d",
	    1), 0);
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "d",
	    1), -1, "twice");
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 2, 0), 0);
	cr_assert_eq(stream_write_epoch_end(&w), -1, "the next one needs its own");
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "dd",
	    2), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_END, 0), 0);

	struct result res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);

	cr_assert_eq(res.nepochs, 2u);
	cr_assert(res.ended);
	stream_writer_free(&w);
}

/* ---- truncation and chunked input ------------------------------------ */

Test(stream, truncation_at_every_offset_needs_more)
{
	struct out o = std_stream();
	struct out b = back_stream();

	for (size_t cut = 0; cut < o.len; cut++) {
		uint8_t *p = malloc(cut + 1);	/* exact size: ASan sees overreads */

		memcpy(p, o.buf, cut);
		struct result res = parse_all(p, cut, STREAM_DIR_FORWARD);

		cr_assert_eq(res.st, STREAM_NEED_MORE, "cut %zu: %s", cut,
		    stream_strerror(res.st));
		cr_assert(!res.ended);
		free(p);
	}
	for (size_t cut = 0; cut < b.len; cut++) {
		struct result res = parse_all(b.buf, cut, STREAM_DIR_BACK);

		cr_assert_eq(res.st, STREAM_NEED_MORE, "cut %zu", cut);
	}
	free(o.buf);
	free(b.buf);
}

/* Feeding the stream in pieces of every size, the way a socket delivers
 * it, gives the same records; reader->need says how much to wait for. */
Test(stream, chunked_feeding_and_need)
{
	struct out o = std_stream();

	for (size_t chunk = 1; chunk < 200; chunk += 7) {
		struct stream_reader r;
		struct stream_rec rec;
		uint8_t *acc = malloc(o.len);
		size_t have = 0, fed = 0, used, nrec = 0;
		enum stream_status st;
		int header = 1;

		stream_reader_init(&r, STREAM_DIR_FORWARD);
		while (fed < o.len || have > 0) {
			if (header)
				st = stream_read_header(&r, acc, have, &used, NULL);
			else
				st = stream_read_record(&r, acc, have, &used, &rec);
			if (st == STREAM_NEED_MORE) {
				size_t n = o.len - fed < chunk ? o.len - fed : chunk;

				cr_assert_gt(r.need, have);
				cr_assert_gt(n, 0u, "stuck at %zu", fed);
				memcpy(acc + have, o.buf + fed, n);
				have += n;
				fed += n;
				continue;
			}
			cr_assert(st == STREAM_OK || st == STREAM_SKIPPED,
			    "chunk %zu: %s", chunk, stream_strerror(st));
			header = 0;
			nrec++;
			memmove(acc, acc + used, have - used);
			have -= used;
		}
		cr_assert_eq(nrec, 19u);
		cr_assert(r.ended);
		free(acc);
	}
	free(o.buf);
}

/* ---- corruption: every single bit ------------------------------------ */

static void
flip_every_bit(struct out o, enum stream_dir dir)
{
	struct result ref = parse_all(o.buf, o.len, dir);
	uint8_t *m = malloc(o.len);

	cr_assert(ref.ended);
	for (size_t bit = 0; bit < o.len * 8; bit++) {
		memcpy(m, o.buf, o.len);
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		struct result res = parse_all(m, o.len, dir);

		/* Never a clean end ... */
		cr_assert(!(res.ended && res.off == o.len &&
		    res.st == STREAM_NEED_MORE),
		    "bit %zu flipped but the stream parsed cleanly", bit);
		/* ... and no epoch completes with content other than
		 * the original's. */
		for (unsigned i = 0; i < res.nepochs; i++) {
			const struct epoch_range *e = &res.ep[i];
			int same = 0;

			for (unsigned j = 0; j < ref.nepochs; j++)
				if (ref.ep[j].epoch == e->epoch &&
				    ref.ep[j].start == e->start &&
				    ref.ep[j].end == e->end &&
				    !(bit / 8 >= e->start && bit / 8 < e->end + 24))
					same = 1;
			cr_assert(same, "bit %zu: epoch %llu completed altered",
			    bit, (unsigned long long)e->epoch);
		}
	}
	free(m);
	free(o.buf);
}

Test(stream, every_flipped_bit_is_caught, .timeout = 120)
{
	struct stream_writer w;
	static uint8_t page[PS];
	struct stream_disk_write dw = { .offset = 512, .length = 24,
	    .op = STREAM_DISK_WRITE };

	/* Small, but every record type and encoding of std_stream. */
	fill(page, sizeof(page), 3);
	stream_writer_init(&w, PS);
	std_header(&w, STREAM_FEAT_COMPRESS | STREAM_FEAT_DEVICE_MODEL);
	cr_assert_eq(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL), 0);
	cr_assert_eq(stream_write_page(&w, 0, STREAM_ENC_ZERO, NULL, 0), 0);
	cr_assert_eq(stream_write_page(&w, 2, STREAM_ENC_LZ4, page, 10), 0);
	cr_assert_eq(stream_write_page(&w, 3, STREAM_ENC_XOR_LZ4, page, 7), 0);
	cr_assert_eq(stream_write_page(&w, 4, STREAM_ENC_XOR_RLE, page, 5), 0);
	cr_assert_eq(stream_write_blob(&w, STREAM_REC_GUEST_STATE, "g", 1), 0);
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "d", 1),
	    0);
	cr_assert_eq(stream_write_disk(&w, &dw, page), 0);
	cr_assert_eq(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x19, "o", 1), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 1), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 2, 0), 0);
	cr_assert_eq(stream_write_page(&w, 1, STREAM_ENC_RAW, page, PS), 0);
	cr_assert_eq(stream_write_device_state(&w, STREAM_DEVSTATE_QEMU, STREAM_DEVSTATE_RAW, "e", 1),
	    0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_END, 0), 0);
	flip_every_bit(take(&w), STREAM_DIR_FORWARD);
}

/* Without the optional record: outside an epoch no CRC covers an unknown
 * optional record (the reader cannot know its layout; see the spec). */
Test(stream, every_flipped_bit_is_caught_back_channel)
{
	flip_every_bit(back_stream_opt(0), STREAM_DIR_BACK);
}

/* ---- table of malformed inputs --------------------------------------- */

struct mutation {
	const char	*name;
	enum stream_dir	dir;
	uint32_t	type;		/* record to mutate; 0: the header */
	unsigned	nth;
	size_t		at;		/* byte offset from the record header */
	unsigned	width;		/* 1, 2, 4 or 8 */
	uint64_t	value;		/* stored (or XORed if xor) */
	int		xor;
	int		keep_crc;	/* do not recompute CRCs */
	enum stream_status want;
};

#define FWD	STREAM_DIR_FORWARD
#define BACK	STREAM_DIR_BACK
#define H	0
#define RH	8	/* record header size: body fields start here */

static const struct mutation mutations[] = {
	/* Every reserved field and flag bit. */
	{ "epoch_begin.reserved", FWD, STREAM_REC_EPOCH_BEGIN, 0, RH + 12, 4, 1, 0, 0, STREAM_ERR_RESERVED },
	{ "epoch_begin.flags", FWD, STREAM_REC_EPOCH_BEGIN, 1, RH + 8, 4, 4, 0, 0, STREAM_ERR_RESERVED },
	{ "epoch_begin.flags.hi", FWD, STREAM_REC_EPOCH_BEGIN, 0, RH + 8, 4, 0x80000001u, 0, 0, STREAM_ERR_RESERVED },
	{ "page_batch.reserved", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 4, 4, 0x100, 0, 0, STREAM_ERR_RESERVED },
	{ "page.reserved", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 16 * 3 + 14, 2, 1, 0, 0, STREAM_ERR_RESERVED },
	{ "page.reserved.last", FWD, STREAM_REC_PAGE_BATCH, 1, RH + 8 + 16 + 14, 2, 0x8000, 0, 0, STREAM_ERR_RESERVED },
	{ "disk.flags", FWD, STREAM_REC_DISK_WRITE, 0, RH + 15, 1, 0x2, 0, 0, STREAM_ERR_RESERVED },
	{ "heartbeat.reserved", FWD, STREAM_REC_HEARTBEAT, 0, RH + 8, 4, 1, 0, 0, STREAM_ERR_RESERVED },
	{ "end.reserved", FWD, STREAM_REC_END, 0, RH + 8, 4, 1, 0, 0, STREAM_ERR_RESERVED },
	{ "ready.reserved", BACK, STREAM_REC_READY, 0, RH + 8, 4, 1, 0, 0, STREAM_ERR_RESERVED },
	{ "ack.reserved", BACK, STREAM_REC_ACK, 1, RH + 8, 4, 1, 0, 0, STREAM_ERR_RESERVED },
	{ "bc_heartbeat.reserved", BACK, STREAM_REC_BC_HEARTBEAT, 0, RH + 8, 4, 1, 0, 0, STREAM_ERR_RESERVED },
	{ "optional|defined", FWD, STREAM_REC_HEARTBEAT, 0, 0, 4, STREAM_REC_OPTIONAL, 1, 0, STREAM_ERR_RESERVED },
	{ "optional|ack", BACK, STREAM_REC_ACK, 0, 0, 4, STREAM_REC_OPTIONAL, 1, 0, STREAM_ERR_RESERVED },
	{ "header.features", FWD, H, 0, 20, 4, 0x10, 0, 0, STREAM_ERR_FEATURES },
	/* DEVICE_STATE (docs/stream-format.md 5.5): one in every epoch of a
	 * stream with DEVICE_MODEL, none in another. */
	{ "devstate.encoding.2", FWD, STREAM_REC_DEVICE_STATE, 0, RH + 4, 4, 2, 0, 0, STREAM_ERR_UNKNOWN },
	{ "devstate.kind.0", FWD, STREAM_REC_DEVICE_STATE, 0, RH, 4, 0, 0, 0, STREAM_ERR_UNKNOWN },
	{ "devstate.kind.2", FWD, STREAM_REC_DEVICE_STATE, 1, RH, 4, 2, 0, 0, STREAM_ERR_UNKNOWN },
	{ "devstate.empty", FWD, STREAM_REC_DEVICE_STATE, 0, 4, 4, 8, 0, 0, STREAM_ERR_LENGTH },
	{ "devstate.twice", FWD, STREAM_REC_GUEST_STATE, 0, 0, 4, STREAM_REC_DEVICE_STATE, 0, 0, STREAM_ERR_SEQUENCE },
	{ "devstate.missing", FWD, STREAM_REC_DEVICE_STATE, 1, 0, 4, STREAM_REC_OPTIONAL | 0x77, 0, 0, STREAM_ERR_SEQUENCE },
	{ "devstate.no_feature", FWD, H, 0, 20, 4, STREAM_FEAT_COMPRESS, 0, 0, STREAM_ERR_SEQUENCE },
	{ "devstate.between", FWD, STREAM_REC_HEARTBEAT, 0, 0, 4, STREAM_REC_DEVICE_STATE, 0, 0, STREAM_ERR_SEQUENCE },
	{ "header.driver.pad", FWD, H, 0, 32 + 6, 1, 'x', 0, 0, STREAM_ERR_DRIVER },
	{ "header.driver.empty", FWD, H, 0, 32, 1, 0, 0, 0, STREAM_ERR_DRIVER },
	{ "header.driver.ctrl", FWD, H, 0, 32, 1, '\n', 0, 0, STREAM_ERR_DRIVER },
	/* Header fields. */
	{ "header.magic", FWD, H, 0, 1, 1, 'X', 0, 0, STREAM_ERR_MAGIC },
	{ "header.version.1", FWD, H, 0, 8, 4, 1, 0, 0, STREAM_ERR_VERSION },
	{ "header.version.2", FWD, H, 0, 8, 4, 2, 0, 0, STREAM_ERR_VERSION },
	{ "header.version.4", FWD, H, 0, 8, 4, 4, 0, 0, STREAM_ERR_VERSION },
	{ "header.byte_order", FWD, H, 0, 12, 4, 0x04030201u, 0, 0, STREAM_ERR_BYTE_ORDER },
	{ "header.page_size.small", FWD, H, 0, 16, 4, 2048, 0, 0, STREAM_ERR_PAGE_SIZE },
	{ "header.page_size.odd", FWD, H, 0, 16, 4, 12288, 0, 0, STREAM_ERR_PAGE_SIZE },
	{ "header.page_size.big", FWD, H, 0, 16, 4, 1u << 17, 0, 0, STREAM_ERR_PAGE_SIZE },
	{ "header.nr_pages.0", FWD, H, 0, 24, 8, 0, 0, 0, STREAM_ERR_PFN },
	{ "header.nr_pages.max", FWD, H, 0, 24, 8, (1ull << 40) + 1, 0, 0, STREAM_ERR_PFN },
	{ "header.config_len", FWD, H, 0, 48, 4, STREAM_CONFIG_MAX + 1, 0, 0, STREAM_ERR_TOO_LONG },
	{ "header.config.pad", FWD, H, 0, 56 + 6, 1, 1, 0, 0, STREAM_ERR_PADDING },
	{ "header.crc", FWD, H, 0, 52, 4, 1, 1, 1, STREAM_ERR_CRC },
	/* Framing. */
	{ "padding", FWD, STREAM_REC_GUEST_STATE, 0, RH + 5, 1, 1, 0, 0, STREAM_ERR_PADDING },
	{ "padding.last", FWD, STREAM_REC_GUEST_STATE, 0, RH + 7, 1, 0x80, 0, 0, STREAM_ERR_PADDING },
	{ "padding.optional", FWD, STREAM_REC_OPTIONAL | 0x42, 0, RH + 6, 1, 1, 0, 0, STREAM_ERR_PADDING },
	{ "length.over_max", FWD, STREAM_REC_GUEST_STATE, 0, 4, 4, STREAM_REC_LENGTH_MAX + 1, 0, 0, STREAM_ERR_TOO_LONG },
	{ "length.begin", FWD, STREAM_REC_EPOCH_BEGIN, 0, 4, 4, 24, 0, 0, STREAM_ERR_LENGTH },
	{ "length.end", FWD, STREAM_REC_EPOCH_END, 0, 4, 4, 8, 0, 0, STREAM_ERR_LENGTH },
	{ "length.ctl", FWD, STREAM_REC_HEARTBEAT, 0, 4, 4, 24, 0, 0, STREAM_ERR_LENGTH },
	{ "length.batch.short", FWD, STREAM_REC_PAGE_BATCH, 1, 4, 4, 16, 0, 0, STREAM_ERR_LENGTH },
	{ "length.error", BACK, STREAM_REC_ERROR, 0, 4, 4, 8, 0, 0, STREAM_ERR_LENGTH },
	{ "length.error.max", BACK, STREAM_REC_ERROR, 0, 4, 4, 8 + STREAM_ERROR_REASON_MAX + 1, 0, 0, STREAM_ERR_TOO_LONG },
	{ "unknown.mandatory", FWD, STREAM_REC_OPTIONAL | 0x42, 0, 0, 4, 0x42, 0, 0, STREAM_ERR_UNKNOWN },
	{ "unknown.zero", FWD, STREAM_REC_OPTIONAL | 0x43, 0, 0, 4, 0, 0, 0, STREAM_ERR_UNKNOWN },
	{ "unknown.back", BACK, STREAM_REC_OPTIONAL | 0x200, 0, 0, 4, 0x1ff, 0, 0, STREAM_ERR_UNKNOWN },
	{ "unknown.forward", FWD, STREAM_REC_OPTIONAL | 0x43, 0, 0, 4, 0x7f, 0, 0, STREAM_ERR_UNKNOWN },
	/* Page batches. */
	{ "batch.count.0", FWD, STREAM_REC_PAGE_BATCH, 0, RH, 4, 0, 0, 0, STREAM_ERR_LENGTH },
	{ "batch.count.max", FWD, STREAM_REC_PAGE_BATCH, 0, RH, 4, STREAM_BATCH_MAX + 1, 0, 0, STREAM_ERR_TOO_LONG },
	{ "batch.count.overrun", FWD, STREAM_REC_PAGE_BATCH, 1, RH, 4, 4, 0, 0, STREAM_ERR_LENGTH },
	{ "batch.count.less", FWD, STREAM_REC_PAGE_BATCH, 0, RH, 4, 5, 0, 0, STREAM_ERR_LENGTH },
	{ "batch.length.sum", FWD, STREAM_REC_PAGE_BATCH, 1, 4, 4, 8 + 32 + 17 + 1, 0, 0, STREAM_ERR_LENGTH },
	{ "pfn.nr_pages", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 16 * 2, 8, NR_PAGES, 0, 0, STREAM_ERR_PFN },
	{ "pfn.huge", FWD, STREAM_REC_PAGE_BATCH, 1, RH + 8, 8, UINT64_MAX, 0, 0, STREAM_ERR_PFN },
	{ "enc.unknown", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 12, 2, STREAM_ENC_MAX, 0, 0, STREAM_ERR_ENCODING },
	{ "enc.zero.len", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 8, 4, 1, 0, 0, STREAM_ERR_ENCODING },
	{ "enc.raw.len", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 16 + 8, 4, PS - 1, 0, 0, STREAM_ERR_ENCODING },
	{ "enc.lz4.len0", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 32 + 8, 4, 0, 0, 0, STREAM_ERR_ENCODING },
	{ "enc.lz4.len_ps", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 32 + 8, 4, PS, 0, 0, STREAM_ERR_ENCODING },
	{ "enc.xor_lz4.len0", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 48 + 8, 4, 0, 0, 0, STREAM_ERR_ENCODING },
	{ "enc.xor_rle.len_ps", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 64 + 8, 4, PS, 0, 0, STREAM_ERR_ENCODING },
	{ "enc.lz4.huge", FWD, STREAM_REC_PAGE_BATCH, 0, RH + 8 + 32 + 8, 4, UINT32_MAX, 0, 0, STREAM_ERR_ENCODING },
	{ "enc.no_feature", FWD, H, 0, 20, 4, 0, 0, 0, STREAM_ERR_ENCODING },
	/* Disk writes. */
	{ "disk.op", FWD, STREAM_REC_DISK_WRITE, 0, RH + 14, 1, 3, 0, 0, STREAM_ERR_DISK },
	{ "disk.len0", FWD, STREAM_REC_DISK_WRITE, 1, RH + 8, 4, 0, 0, 0, STREAM_ERR_DISK },
	{ "disk.wrap", FWD, STREAM_REC_DISK_WRITE, 1, RH, 8, UINT64_MAX - 100, 0, 0, STREAM_ERR_DISK },
	{ "disk.write.len", FWD, STREAM_REC_DISK_WRITE, 0, RH + 8, 4, 511, 0, 0, STREAM_ERR_LENGTH },
	{ "disk.zero.data", FWD, STREAM_REC_DISK_WRITE, 0, RH + 14, 1, STREAM_DISK_ZERO, 0, 0, STREAM_ERR_LENGTH },
	{ "disk.index", FWD, STREAM_REC_DISK_WRITE, 1, RH + 12, 2, 3, 0, 0, STREAM_ERR_DISK },
	{ "disk.beyond_its_size", FWD, STREAM_REC_DISK_WRITE, 0, RH, 8, 8192 - 511, 0, 0, STREAM_ERR_DISK },
	{ "disk.smaller_disk", FWD, STREAM_REC_DISKS, 0, RH + 8 + 32 + 24, 8, 4096, 0, 0, STREAM_ERR_DISK },
	/* DISKS (docs/stream-format.md 5.6). */
	{ "disks.crc", FWD, STREAM_REC_DISKS, 0, RH + 4, 4, 1, 1, 1, STREAM_ERR_CRC },
	{ "disks.body_crc", FWD, STREAM_REC_DISKS, 0, RH + 8 + 1, 1, 1, 1, 1, STREAM_ERR_CRC },
	{ "disks.count", FWD, STREAM_REC_DISKS, 0, RH, 4, 2, 0, 0, STREAM_ERR_LENGTH },
	{ "disks.length", FWD, STREAM_REC_DISKS, 0, 4, 4, 8 + 32 * 3 + 8, 0, 0, STREAM_ERR_LENGTH },
	{ "disks.length.max", FWD, STREAM_REC_DISKS, 0, 4, 4, 8 + 32 * 17, 0, 0, STREAM_ERR_TOO_LONG },
	{ "disks.name.char", FWD, STREAM_REC_DISKS, 0, RH + 8 + 1, 1, '/', 0, 0, STREAM_ERR_TEXT },
	{ "disks.name.dot", FWD, STREAM_REC_DISKS, 0, RH + 8, 1, '.', 0, 0, STREAM_ERR_TEXT },
	{ "disks.name.tail", FWD, STREAM_REC_DISKS, 0, RH + 8 + 16, 8, 0x7878787878787878ull, 0, 0, STREAM_ERR_TEXT },
	{ "disks.name.pad", FWD, STREAM_REC_DISKS, 0, RH + 8 + 10, 1, 'x', 0, 0, STREAM_ERR_TEXT },
	{ "disks.name.dup", FWD, STREAM_REC_DISKS, 0, RH + 8 + 32 + 3, 1, 'a', 0, 0, STREAM_ERR_DISK },
	{ "disks.name.empty_of_several", FWD, STREAM_REC_DISKS, 0, RH + 8 + 32, 8, 0, 0, 0, STREAM_ERR_DISK },
	{ "disks.size.0", FWD, STREAM_REC_DISKS, 0, RH + 8 + 24, 8, 0, 0, 0, STREAM_ERR_DISK },
	{ "disks.in_epoch", FWD, STREAM_REC_GUEST_STATE, 0, 0, 4, STREAM_REC_DISKS, 0, 0, STREAM_ERR_SEQUENCE },
	{ "disks.after_an_epoch", FWD, STREAM_REC_HEARTBEAT, 0, 0, 4, STREAM_REC_DISKS, 0, 0, STREAM_ERR_SEQUENCE },
	{ "disks.missing", FWD, STREAM_REC_DISKS, 0, 0, 4, STREAM_REC_OPTIONAL | 0x45, 0, 0, STREAM_ERR_SEQUENCE },
	/* Sequence. */
	{ "epoch.skip", FWD, STREAM_REC_EPOCH_BEGIN, 1, RH, 8, 3, 0, 0, STREAM_ERR_SEQUENCE },
	{ "epoch.same", FWD, STREAM_REC_EPOCH_BEGIN, 1, RH, 8, 1, 0, 0, STREAM_ERR_SEQUENCE },
	{ "epoch.zero", FWD, STREAM_REC_EPOCH_BEGIN, 0, RH, 8, 0, 0, 0, STREAM_ERR_SEQUENCE },
	{ "epoch.first_not_full", FWD, STREAM_REC_EPOCH_BEGIN, 0, RH + 8, 4, 0, 0, 0, STREAM_ERR_SEQUENCE },
	{ "epoch_end.epoch", FWD, STREAM_REC_EPOCH_END, 0, RH, 8, 2, 0, 0, STREAM_ERR_SEQUENCE },
	{ "epoch_end.count", FWD, STREAM_REC_EPOCH_END, 0, RH + 8, 4, 6, 0, 0, STREAM_ERR_COUNT },
	{ "epoch_end.crc", FWD, STREAM_REC_EPOCH_END, 1, RH + 12, 4, 1, 1, 1, STREAM_ERR_CRC },
	{ "epoch.body_crc", FWD, STREAM_REC_GUEST_STATE, 0, RH + 2, 1, 1, 1, 1, STREAM_ERR_CRC },
	{ "end.value", FWD, STREAM_REC_END, 0, RH, 8, 1, 0, 0, STREAM_ERR_SEQUENCE },
	{ "heartbeat.crc", FWD, STREAM_REC_HEARTBEAT, 0, RH, 8, 1, 1, 1, STREAM_ERR_CRC },
	{ "heartbeat.in_epoch", FWD, STREAM_REC_GUEST_STATE, 0, 0, 4, STREAM_REC_HEARTBEAT, 0, 0, STREAM_ERR_SEQUENCE },
	{ "batch.outside", FWD, STREAM_REC_HEARTBEAT, 0, 0, 4, STREAM_REC_PAGE_BATCH, 0, 0, STREAM_ERR_SEQUENCE },
	{ "ack.forward", FWD, STREAM_REC_HEARTBEAT, 0, 0, 4, STREAM_REC_ACK, 0, 0, STREAM_ERR_SEQUENCE },
	{ "begin.in_epoch", FWD, STREAM_REC_GUEST_STATE, 0, 0, 4, STREAM_REC_EPOCH_BEGIN, 0, 0, STREAM_ERR_SEQUENCE },
	{ "end.in_epoch", FWD, STREAM_REC_DEVICE_STATE, 0, 0, 4, STREAM_REC_END, 0, 0, STREAM_ERR_SEQUENCE },
	{ "begin.back", BACK, STREAM_REC_BC_HEARTBEAT, 0, 0, 4, STREAM_REC_EPOCH_BEGIN, 0, 0, STREAM_ERR_SEQUENCE },
	{ "ready.version", BACK, STREAM_REC_READY, 0, RH, 8, 1, 0, 0, STREAM_ERR_VERSION },
	/* The handshake (docs/stream-format.md 5.0, 7). */
	{ "hello.flags.unknown", FWD, STREAM_REC_HELLO, 0, RH + 76, 4, 2, 0, 0, STREAM_ERR_RESERVED },
	{ "hello.flags.hi", FWD, STREAM_REC_HELLO, 0, RH + 79, 1, 0x80, 0, 0, STREAM_ERR_RESERVED },
	{ "hello.reserved", FWD, STREAM_REC_HELLO, 0, RH + 80, 4, 1, 0, 0, STREAM_ERR_RESERVED },
	{ "hello.reserved.hi", FWD, STREAM_REC_HELLO, 0, RH + 83, 1, 0x80, 0, 0, STREAM_ERR_RESERVED },
	{ "hello.crc", FWD, STREAM_REC_HELLO, 0, RH + 84, 4, 1, 1, 1, STREAM_ERR_CRC },
	{ "hello.body_crc", FWD, STREAM_REC_HELLO, 0, RH + 64, 1, 1, 1, 1, STREAM_ERR_CRC },
	{ "hello.name.empty", FWD, STREAM_REC_HELLO, 0, RH, 8, 0, 0, 0, STREAM_ERR_TEXT },
	{ "hello.name.ctrl", FWD, STREAM_REC_HELLO, 0, RH + 2, 1, '\n', 0, 0, STREAM_ERR_TEXT },
	{ "hello.name.pad", FWD, STREAM_REC_HELLO, 0, RH + 63, 1, 'x', 0, 0, STREAM_ERR_TEXT },
	{ "hello.timeout.0", FWD, STREAM_REC_HELLO, 0, RH + 64, 4, 0, 0, 0, STREAM_ERR_HANDSHAKE },
	{ "hello.timeout.max", FWD, STREAM_REC_HELLO, 0, RH + 64, 4, STREAM_TIMEOUT_MAX + 1, 0, 0, STREAM_ERR_HANDSHAKE },
	{ "hello.hb.0", FWD, STREAM_REC_HELLO, 0, RH + 68, 4, 0, 0, 0, STREAM_ERR_HANDSHAKE },
	{ "hello.hb.over_t", FWD, STREAM_REC_HELLO, 0, RH + 68, 4, 3001, 0, 0, STREAM_ERR_HANDSHAKE },
	{ "hello.length", FWD, STREAM_REC_HELLO, 0, 4, 4, 80, 0, 0, STREAM_ERR_LENGTH },
	{ "hello.missing", FWD, STREAM_REC_HELLO, 0, 0, 4, STREAM_REC_OPTIONAL | 0x44, 0, 0, STREAM_ERR_SEQUENCE },
	{ "hello.twice", FWD, STREAM_REC_HEARTBEAT, 0, 0, 4, STREAM_REC_HELLO, 0, 0, STREAM_ERR_SEQUENCE },
	{ "hello.back", BACK, STREAM_REC_BC_HEARTBEAT, 0, 0, 4, STREAM_REC_HELLO, 0, 0, STREAM_ERR_SEQUENCE },
	{ "welcome.reserved", BACK, STREAM_REC_WELCOME, 0, RH + 24, 4, 1, 0, 0, STREAM_ERR_RESERVED },
	{ "welcome.flags", BACK, STREAM_REC_WELCOME, 0, RH + 20, 4, 0x4 | STREAM_WELCOME_FENCES, 0, 0, STREAM_ERR_RESERVED },
	{ "welcome.crc", BACK, STREAM_REC_WELCOME, 0, RH + 28, 4, 1, 1, 1, STREAM_ERR_CRC },
	{ "welcome.body_crc", BACK, STREAM_REC_WELCOME, 0, RH + 3, 1, 1, 1, 1, STREAM_ERR_CRC },
	{ "welcome.fence_no_flag", BACK, STREAM_REC_WELCOME, 0, RH + 20, 4, 0, 0, 0, STREAM_ERR_HANDSHAKE },
	{ "welcome.flag_no_fence", BACK, STREAM_REC_WELCOME, 0, RH + 16, 4, 0, 0, 0, STREAM_ERR_HANDSHAKE },
	{ "welcome.timeout.0", BACK, STREAM_REC_WELCOME, 0, RH + 8, 4, 0, 0, 0, STREAM_ERR_HANDSHAKE },
	{ "welcome.hb.over_t", BACK, STREAM_REC_WELCOME, 0, RH + 12, 4, 1001, 0, 0, STREAM_ERR_HANDSHAKE },
	{ "welcome.length", BACK, STREAM_REC_WELCOME, 0, 4, 4, 16, 0, 0, STREAM_ERR_LENGTH },
	{ "welcome.missing", BACK, STREAM_REC_WELCOME, 0, 0, 4, STREAM_REC_OPTIONAL | 0x201, 0, 0, STREAM_ERR_SEQUENCE },
	{ "welcome.after_ready", BACK, STREAM_REC_BC_HEARTBEAT, 0, 0, 4, STREAM_REC_WELCOME, 0, 0, STREAM_ERR_SEQUENCE },
	{ "welcome.forward", FWD, STREAM_REC_HEARTBEAT, 0, 0, 4, STREAM_REC_WELCOME, 0, 0, STREAM_ERR_SEQUENCE },
	{ "ready.twice", BACK, STREAM_REC_BC_HEARTBEAT, 0, 0, 4, STREAM_REC_READY, 0, 0, STREAM_ERR_SEQUENCE },
	{ "ack.not_first", BACK, STREAM_REC_READY, 0, 0, 4, STREAM_REC_ACK, 0, 0, STREAM_ERR_SEQUENCE },
	{ "ack.repeat", BACK, STREAM_REC_ACK, 1, RH, 8, 1, 0, 0, STREAM_ERR_SEQUENCE },
	{ "ack.crc", BACK, STREAM_REC_ACK, 0, RH, 1, 4, 1, 1, STREAM_ERR_CRC },
	{ "error.crc", BACK, STREAM_REC_ERROR, 0, RH + 9, 1, 1, 1, 1, STREAM_ERR_CRC },
	{ "error.text", BACK, STREAM_REC_ERROR, 0, RH + 9, 1, '\t', 0, 0, STREAM_ERR_TEXT },
};

static struct out
stream_for(enum stream_dir dir)
{
	return dir == FWD ? std_stream() : back_stream();
}

Test(stream, malformed_table)
{
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		const struct mutation *mu = &mutations[i];
		struct out o = stream_for(mu->dir);
		size_t at = mu->type == H ? 0 :
		    find_rec(o.buf, o.len, mu->dir, mu->type, mu->nth);
		uint8_t *p = o.buf + at + mu->at;
		uint64_t v = 0;

		cr_assert_leq(at + mu->at + mu->width, o.len, "%s", mu->name);
		memcpy(&v, p, mu->width);
		v = mu->xor ? v ^ mu->value : mu->value;
		memcpy(p, &v, mu->width);
		if (!mu->keep_crc)
			fix_crcs(o.buf, o.len, mu->dir);
		struct result res = parse_all(o.buf, o.len, mu->dir);

		cr_expect_eq(res.st, mu->want, "%s: got \"%s\", want \"%s\"",
		    mu->name, stream_strerror(res.st), stream_strerror(mu->want));
		free(o.buf);
	}
}

/* A length that can never be valid is refused from the 8-byte record
 * header alone: the body is never waited for. */
Test(stream, impossible_lengths_rejected_from_the_header_alone)
{
	static const struct { uint32_t type, length; enum stream_status want;
	    int in_epoch; } cases[] = {
		{ STREAM_REC_GUEST_STATE, STREAM_REC_LENGTH_MAX + 1, STREAM_ERR_TOO_LONG, 1 },
		{ STREAM_REC_OPTIONAL | 5, UINT32_MAX, STREAM_ERR_TOO_LONG, 0 },
		{ 0x77, STREAM_REC_LENGTH_MAX + 8, STREAM_ERR_TOO_LONG, 0 },
		{ STREAM_REC_PAGE_BATCH, 23, STREAM_ERR_LENGTH, 1 },
		{ STREAM_REC_EPOCH_END, 1 << 20, STREAM_ERR_LENGTH, 1 },
		{ STREAM_REC_DISK_WRITE, 15, STREAM_ERR_LENGTH, 1 },
		{ STREAM_REC_DEVICE_STATE, 8, STREAM_ERR_LENGTH, 1 },
		{ STREAM_REC_DEVICE_STATE, STREAM_REC_LENGTH_MAX + 1, STREAM_ERR_TOO_LONG, 1 },
		{ STREAM_REC_DEVICE_STATE, 16, STREAM_ERR_SEQUENCE, 0 },
		{ STREAM_REC_HEARTBEAT, 24, STREAM_ERR_LENGTH, 0 },
		{ STREAM_REC_PAGE_BATCH, 64, STREAM_ERR_SEQUENCE, 0 },
		{ STREAM_REC_DISKS, 8 + 16, STREAM_ERR_LENGTH, 0 },
		{ STREAM_REC_DISKS, 8 + 32 + 1, STREAM_ERR_LENGTH, 0 },
		{ STREAM_REC_DISKS, 8 + 32 * 17, STREAM_ERR_TOO_LONG, 0 },
	};
	struct out o = std_stream();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stream_reader r;
		struct stream_rec rec;
		uint8_t rh[8];
		size_t used, off;

		stream_reader_init(&r, STREAM_DIR_FORWARD);
		cr_assert_eq(stream_read_header(&r, o.buf, o.len, &used, NULL),
		    STREAM_OK);
		off = used;
		cr_assert_eq(stream_read_record(&r, o.buf + off, o.len - off,
		    &used, &rec), STREAM_OK);	/* HELLO */
		off += used;
		while (cases[i].in_epoch && !r.in_epoch) {	/* DISKS, BEGIN */
			cr_assert_eq(stream_read_record(&r, o.buf + off,
			    o.len - off, &used, &rec), STREAM_OK);
			off += used;
		}
		st32(rh, cases[i].type);
		st32(rh + 4, cases[i].length);
		cr_expect_eq(stream_read_record(&r, rh, sizeof(rh), &used, &rec),
		    cases[i].want, "case %zu", i);
	}
	/* The header's config length too. */
	struct stream_reader r;
	uint8_t h[56];

	memcpy(h, o.buf, 56);
	st32(h + 48, UINT32_MAX);
	stream_reader_init(&r, STREAM_DIR_FORWARD);
	size_t used;
	cr_assert_eq(stream_read_header(&r, h, sizeof(h), &used, NULL),
	    STREAM_ERR_TOO_LONG);
	free(o.buf);
}

Test(stream, unknown_optional_skipped_unknown_mandatory_rejected)
{
	struct out o = std_stream();
	struct result res = parse_all(o.buf, o.len, STREAM_DIR_FORWARD);

	cr_assert_eq(res.nskipped, 2u);		/* one in, one between epochs */
	cr_assert(res.ended);
	/* The skipped record inside epoch 1 counts and is CRCed: change
	 * its body and the epoch no longer validates. */
	o.buf[find_rec(o.buf, o.len, FWD, STREAM_REC_OPTIONAL | 0x42, 0) + 8] ^= 1;
	res = parse_all(o.buf, o.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_ERR_CRC);
	cr_assert_eq(res.nepochs, 0u);
	free(o.buf);
}

Test(stream, errors_are_sticky)
{
	struct stream_reader r;
	struct stream_rec rec;
	uint8_t rh[16] = { 0 };
	size_t used;

	stream_reader_init(&r, STREAM_DIR_BACK);
	st32(rh, 0x55);
	cr_assert_eq(stream_read_record(&r, rh, 16, &used, &rec), STREAM_ERR_UNKNOWN);
	/* A valid READY afterwards is still refused. */
	struct stream_writer w;

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_welcome(&w, &std_welcome), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), 0);
	cr_assert_eq(stream_read_record(&r, w.buf, w.len, &used, &rec),
	    STREAM_ERR_UNKNOWN);
	cr_assert_eq(r.err, STREAM_ERR_UNKNOWN);
	stream_writer_free(&w);
	/* Header on the back channel is a sequence error. */
	stream_reader_init(&r, STREAM_DIR_BACK);
	cr_assert_eq(stream_read_header(&r, rh, 16, &used, NULL),
	    STREAM_ERR_SEQUENCE);
	/* Records before the header too. */
	stream_reader_init(&r, STREAM_DIR_FORWARD);
	cr_assert_eq(stream_read_record(&r, rh, 16, &used, &rec),
	    STREAM_ERR_SEQUENCE);
}

Test(stream, first_epoch_any_number_then_plus_one)
{
	struct stream_writer w;
	struct result res;

	stream_writer_init(&w, PS);
	std_header(&w, 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 1000, STREAM_EPOCH_FULL), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 1001, STREAM_EPOCH_FULL), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 1002, 0), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_NEED_MORE);
	cr_assert_eq(res.nepochs, 3u);
	cr_assert_eq(res.ep[2].epoch, 1002u);
	stream_writer_free(&w);
}

Test(stream, strerror_names_every_status)
{
	for (int s = 0; s < STREAM_ERR_MAX; s++) {
		const char *t = stream_strerror((enum stream_status)s);

		cr_assert_not_null(t);
		cr_assert_neq(strcmp(t, "unknown stream status"), 0, "%d", s);
	}
	cr_assert_str_eq(stream_rec_name(STREAM_REC_PAGE_BATCH), "PAGE_BATCH");
	cr_assert_null(stream_rec_name(0x99));
	cr_assert_str_eq(stream_enc_name(STREAM_ENC_XOR_RLE), "XOR_RLE");
}

/* A backup still creating its replica may heartbeat before READY; it may
 * not ACK before it. */
Test(stream, back_heartbeat_before_ready)
{
	struct stream_writer w;
	struct result res;

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_BC_HEARTBEAT, 1), 0);
	cr_assert_eq(stream_write_welcome(&w, &std_welcome), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_BC_HEARTBEAT, 2), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_ACK, 4), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_BACK);
	cr_assert_eq(res.st, STREAM_NEED_MORE);
	cr_assert_eq(res.nrec, 5u);
	stream_writer_free(&w);

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_BC_HEARTBEAT, 1), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_ACK, 1), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_BACK);
	cr_assert_eq(res.st, STREAM_ERR_SEQUENCE);
	cr_assert_eq(res.off, 24u);
	stream_writer_free(&w);
}

/* ---- the handshake ----------------------------------------------------- */

/* HELLO carries any printable name up to 64 bytes (spaces too, a Xen
 * domain may have them; exactly 64 leaves no NUL on the wire). */
Test(stream, hello_round_trip_names)
{
	static const char *const names[] = { "x", "xen:web server 1",
	    "0123456789012345678901234567890123456789012345678901234567890123" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct stream_writer w;
		struct stream_rec rec;
		struct result res;
		size_t used, off;
		struct stream_reader r;

		stream_writer_init(&w, PS);
		struct stream_header_info hi = { .page_size = PS,
		    .nr_pages = 8, .driver = "t" };
		cr_assert_eq(stream_write_header(&w, &hi), 0);
		cr_assert_eq(stream_write_hello(&w, names[i], 77, 77,
		    0xf0000000u, 0), 0);
		stream_reader_init(&r, STREAM_DIR_FORWARD);
		cr_assert_eq(stream_read_header(&r, w.buf, w.len, &used, NULL),
		    STREAM_OK);
		off = used;
		cr_assert_eq(stream_read_record(&r, w.buf + off, w.len - off,
		    &used, &rec), STREAM_OK);
		cr_assert_str_eq(rec.u.hello.name, names[i]);
		cr_assert_eq(rec.u.hello.timeout_ms, 77u);
		/* Offered features the reader does not know are no error. */
		cr_assert_eq(rec.u.hello.features, 0xf0000000u);
		res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
		cr_assert_eq(res.st, STREAM_NEED_MORE);
		stream_writer_free(&w);
	}
}

Test(stream, writer_refuses_handshake_misuse)
{
	struct stream_writer w;
	struct stream_header_info hi = { .page_size = PS, .nr_pages = 8,
	    .driver = "t" };
	struct stream_welcome wl = std_welcome;
	char longname[STREAM_NAME_LEN + 2];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	stream_writer_init(&w, PS);
	/* HELLO only right after the header. */
	cr_assert_eq(stream_write_hello(&w, "g", 1000, 200, 0, 0), -1);
	cr_assert_eq(stream_write_header(&w, &hi), 0);
	/* Nothing else before it, optional records included. */
	cr_assert_eq(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL), -1);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 1), -1);
	cr_assert_eq(stream_write_blob(&w, STREAM_REC_OPTIONAL | 0x42, "o", 1), -1);
	cr_assert_eq(stream_write_hello(&w, "", 1000, 200, 0, 0), -1);
	cr_assert_eq(stream_write_hello(&w, longname, 1000, 200, 0, 0), -1);
	cr_assert_eq(stream_write_hello(&w, "a\tb", 1000, 200, 0, 0), -1);
	cr_assert_eq(stream_write_hello(&w, "g", 0, 0, 0, 0), -1);
	cr_assert_eq(stream_write_hello(&w, "g", 100, 200, 0, 0), -1);
	cr_assert_eq(stream_write_hello(&w, "g", STREAM_TIMEOUT_MAX + 1, 200, 0, 0), -1);
	cr_assert_eq(stream_write_hello(&w, "g", 1000, 200, 0, 0), 0);
	cr_assert_eq(stream_write_hello(&w, "g", 1000, 200, 0, 0), -1);
	/* WELCOME is the back channel's. */
	cr_assert_eq(stream_write_welcome(&w, &std_welcome), -1);
	stream_writer_free(&w);

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), -1);
	wl.flags = 0;		/* F without FENCES */
	cr_assert_eq(stream_write_welcome(&w, &wl), -1);
	wl = std_welcome;
	wl.hb_ms = wl.timeout_ms + 1;
	cr_assert_eq(stream_write_welcome(&w, &wl), -1);
	wl = std_welcome;
	wl.flags |= 0x4;
	cr_assert_eq(stream_write_welcome(&w, &wl), -1);
	cr_assert_eq(w.len, 0u, "EINVAL wrote something");
	cr_assert_eq(stream_write_welcome(&w, &std_welcome), 0);
	cr_assert_eq(stream_write_welcome(&w, &std_welcome), -1);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), 0);
	stream_writer_free(&w);
}

/* ---- planned switchover (SWITCHOVER / ACTIVATED) ------------------------ */

/* SWITCHOVER names the last closed epoch; only HEARTBEATs may follow it.
 * The writer refuses what the reader rejects; bytes the writer would not
 * produce (made by resetting its flags) are rejected by the reader. */
Test(stream, switchover_after_the_final_epoch_then_heartbeats_only)
{
	struct stream_writer w;
	struct result res;
	size_t at;

	stream_writer_init(&w, PS);
	std_header(&w, 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_SWITCHOVER, 0), -1,
	    "SWITCHOVER before any epoch");
	cr_assert_eq(stream_write_epoch_begin(&w, 5, STREAM_EPOCH_FULL), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_SWITCHOVER, 0), -1,
	    "SWITCHOVER inside an epoch");
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_SWITCHOVER, 99), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 1), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_SWITCHOVER, 0), -1);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_END, 0), -1);
	cr_assert_eq(stream_write_epoch_begin(&w, 6, 0), -1);
	res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_NEED_MORE, "%s", stream_strerror(res.st));
	cr_assert_eq(res.nepochs, 1u);
	/* The writer put the final epoch, not the value it was given. */
	at = w.len - 2 * (8 + sizeof(struct stream_ctl));
	cr_assert_eq(*(uint32_t *)(void *)(w.buf + at), STREAM_REC_SWITCHOVER);
	cr_assert_eq(*(uint64_t *)(void *)(w.buf + at + 8), 5u);
	/* An epoch after SWITCHOVER. */
	w.switchover = 0;
	at = w.len;
	cr_assert_eq(stream_write_epoch_begin(&w, 6, 0), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_ERR_SEQUENCE);
	cr_assert_eq(res.off, at);
	stream_writer_free(&w);

	/* SWITCHOVER with no epoch closed. */
	stream_writer_init(&w, PS);
	std_header(&w, 0);
	w.epoch = 1;
	at = w.len;
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_SWITCHOVER, 0), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_ERR_SEQUENCE);
	cr_assert_eq(res.off, at);
	stream_writer_free(&w);
}

/* ACTIVATED(n) answers SWITCHOVER: after ACK(n), n the last ACK, and
 * nothing after it. */
Test(stream, activated_names_the_last_ack_and_ends_the_back_channel)
{
	struct stream_writer w;
	struct result res;
	size_t at;

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_welcome(&w, &std_welcome), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_ACK, 3), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_ACTIVATED, 3), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_BC_HEARTBEAT, 9), -1,
	    "a record after ACTIVATED");
	res = parse_all(w.buf, w.len, STREAM_DIR_BACK);
	cr_assert_eq(res.st, STREAM_NEED_MORE, "%s", stream_strerror(res.st));
	cr_assert(res.ended);
	w.ended = 0;
	at = w.len;
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_BC_HEARTBEAT, 9), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_BACK);
	cr_assert_eq(res.st, STREAM_ERR_SEQUENCE);
	cr_assert_eq(res.off, at);
	stream_writer_free(&w);

	/* Not the last ACK's epoch. */
	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_welcome(&w, &std_welcome), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), 0);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_ACK, 3), 0);
	at = w.len;
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_ACTIVATED, 4), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_BACK);
	cr_assert_eq(res.st, STREAM_ERR_SEQUENCE);
	cr_assert_eq(res.off, at);
	stream_writer_free(&w);

	/* Before READY. */
	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_welcome(&w, &std_welcome), 0);
	at = w.len;
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_ACTIVATED, 1), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_BACK);
	cr_assert_eq(res.st, STREAM_ERR_SEQUENCE);
	cr_assert_eq(res.off, at);
	stream_writer_free(&w);
}

/* ---- COOKIE (prepare / perform / finish) --------------------------------- */

Test(stream, cookie_once_before_the_first_epoch_and_once_before_switchover)
{
	static const uint8_t ck[STREAM_COOKIE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8,
	    9, 10, 11, 12, 13, 14, 15, 16 };
	struct stream_writer w;
	struct stream_reader r;
	struct stream_header_info hi;
	struct stream_rec rec;
	struct result res;
	size_t used, off = 0, at;

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_cookie(&w, ck), -1, "COOKIE before HELLO");
	std_header(&w, 0);
	cr_assert_eq(stream_write_cookie(&w, ck), 0);
	cr_assert_eq(stream_write_cookie(&w, ck), -1, "a second COOKIE");
	cr_assert_eq(stream_write_epoch_begin(&w, 1, STREAM_EPOCH_FULL), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	stream_reader_init(&r, STREAM_DIR_FORWARD);
	cr_assert_eq(stream_read_header(&r, w.buf, w.len, &used, &hi),
	    STREAM_OK);
	off += used;
	cr_assert_eq(stream_read_record(&r, w.buf + off, w.len - off, &used,
	    &rec), STREAM_OK);
	cr_assert_eq(rec.type, STREAM_REC_HELLO);
	off += used;
	cr_assert_eq(stream_read_record(&r, w.buf + off, w.len - off, &used,
	    &rec), STREAM_OK);
	cr_assert_eq(rec.type, STREAM_REC_DISKS);
	off += used;
	cr_assert_eq(stream_read_record(&r, w.buf + off, w.len - off, &used,
	    &rec), STREAM_OK);
	cr_assert_eq(rec.type, STREAM_REC_COOKIE);
	cr_assert_arr_eq(rec.u.cookie.cookie, ck, sizeof ck);
	res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_NEED_MORE, "%s", stream_strerror(res.st));
	/* After an epoch a COOKIE is a switchover's (docs/control.md):
	 * once, and only SWITCHOVER may follow it. */
	cr_assert_eq(stream_write_cookie(&w, ck), 0);
	cr_assert_eq(stream_write_cookie(&w, ck), -1, "a second one");
	res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_NEED_MORE, "%s", stream_strerror(res.st));
	at = w.len;
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_HEARTBEAT, 0), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_ERR_SEQUENCE, "HEARTBEAT after it");
	cr_assert_eq(res.off, at);
	w.len = at;
	w.so_cookie_sent = 0;
	cr_assert_eq(stream_write_cookie(&w, ck), 0);
	res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_ERR_SEQUENCE, "a second one read");
	cr_assert_eq(res.off, at);
	w.len = at;
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_SWITCHOVER, 0), 0);
	cr_assert_eq(stream_write_cookie(&w, ck), -1, "after SWITCHOVER");
	res = parse_all(w.buf, w.len, STREAM_DIR_FORWARD);
	cr_assert_eq(res.st, STREAM_NEED_MORE, "%s", stream_strerror(res.st));
	stream_writer_free(&w);
}

/* ---- HELLO's flags (remus -e) ------------------------------------------- */

Test(stream, hello_flags_round_trip_and_unknown_refused)
{
	struct stream_writer w;
	struct stream_reader r;
	struct stream_header_info hi = {
		.page_size = PS, .nr_pages = NR_PAGES, .driver = "test",
	};
	struct stream_rec rec;
	size_t used, off;

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_header(&w, &hi), 0);
	cr_assert_eq(stream_write_hello(&w, "g", 1000, 200, 0, 0x2), -1,
	    "a flag the spec does not define");
	cr_assert_eq(stream_write_hello(&w, "g", 1000, 200,
	    STREAM_HELLO_RESYNC, STREAM_HELLO_NO_GUARDIAN), 0);
	stream_reader_init(&r, STREAM_DIR_FORWARD);
	cr_assert_eq(stream_read_header(&r, w.buf, w.len, &used, NULL),
	    STREAM_OK);
	off = used;
	cr_assert_eq(stream_read_record(&r, w.buf + off, w.len - off, &used,
	    &rec), STREAM_OK);
	cr_assert_eq(rec.type, STREAM_REC_HELLO);
	cr_assert_eq(rec.u.hello.flags, STREAM_HELLO_NO_GUARDIAN);
	cr_assert_eq(rec.u.hello.features, STREAM_HELLO_RESYNC);
	stream_writer_free(&w);
}
