/* tests/unit/test-resync.c -- the incremental resync's pieces:
 *
 * - the wire records (docs/stream-format.md 7.1): WELCOME with HASHES,
 *   PAGE_HASHES in order and in range, READY only after all of them,
 *   RESYNC first epochs; every rule the reader enforces, the writer
 *   refusing what the reader rejects, every flipped bit caught;
 * - the hash both ends compute (checkpoint/resync.c and the proc store's
 *   hash_pages agree byte for byte, and a changed page differs);
 * - the proc store's resume (domain/proc-store.c): an earlier session's
 *   committed image becomes the base, it stays committed until the
 *   resumed session commits (a session that dies first leaves it as it
 *   was), a resync commit changes exactly the pages it carries, and a
 *   replica of another guest or geometry is not resumed; killed at every
 *   step of the resync's commit, the directory recovers to the old
 *   replica or the resynced one, exactly.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include "fault.h"
#include "log.h"
#include "proc-store.h"
#include "resync.h"
#include "stream.h"

#define PS	4096u
#define NPAGES	10000u		/* 3 PAGE_HASHES records: 4096 + 4096 + 1808 */

static const struct stream_welcome hashes_welcome = {
	.resume_epoch = 41, .timeout_ms = 1000, .hb_ms = 200,
	.flags = STREAM_WELCOME_HASHES,
};

static uint8_t *
fake_hashes(uint64_t n)
{
	uint8_t *h = malloc(n * STREAM_HASH_LEN);

	cr_assert_not_null(h);
	for (uint64_t i = 0; i < n * STREAM_HASH_LEN; i++)
		h[i] = (uint8_t)(i * 131 + (i >> 8));
	return h;
}

/* WELCOME(HASHES), the hashes of NPAGES pages, READY, ACK. */
static void
hashes_stream(struct stream_writer *w, const uint8_t *h)
{
	uint64_t first, n;

	stream_writer_init(w, PS);
	stream_writer_set_hashes(w, NPAGES);
	cr_assert_eq(stream_write_welcome(w, &hashes_welcome), 0);
	for (first = 0; first < NPAGES; first += n) {
		n = NPAGES - first < STREAM_HASHES_MAX ? NPAGES - first :
		    STREAM_HASHES_MAX;
		cr_assert_eq(stream_write_page_hashes(w, first, (uint32_t)n,
		    h + first * STREAM_HASH_LEN), 0);
	}
	cr_assert_eq(stream_write_ctl(w, STREAM_REC_READY, 0), 0);
	cr_assert_eq(stream_write_ctl(w, STREAM_REC_ACK, 42), 0);
}

/* Parse BUF as a back channel of a NR_PAGES guest; copy the hashes into
 * GOT (if not NULL).  Returns the status that stopped it (NEED_MORE at a
 * clean end). */
static int ready_seen;

static enum stream_status
parse_back(const uint8_t *buf, size_t len, uint64_t nr_pages, uint8_t *got,
    unsigned *nhash_recs)
{
	struct stream_reader r;
	struct stream_rec rec;
	enum stream_status st;
	size_t off = 0, used;

	stream_reader_init(&r, STREAM_DIR_BACK);
	stream_reader_set_pages(&r, nr_pages);
	if (nhash_recs)
		*nhash_recs = 0;
	ready_seen = 0;
	for (;;) {
		st = stream_read_record(&r, buf + off, len - off, &used, &rec);
		if (st != STREAM_OK && st != STREAM_SKIPPED)
			return st;
		if (rec.type == STREAM_REC_READY)
			ready_seen = 1;
		if (rec.type == STREAM_REC_PAGE_HASHES) {
			cr_assert_leq((size_t)(rec.u.hashes.hashes - buf) +
			    rec.u.hashes.count * STREAM_HASH_LEN, len);
			if (got)
				memcpy(got + rec.u.hashes.first *
				    STREAM_HASH_LEN, rec.u.hashes.hashes,
				    rec.u.hashes.count * STREAM_HASH_LEN);
			if (nhash_recs)
				(*nhash_recs)++;
		}
		off += used;
	}
}

Test(resync, hashes_round_trip)
{
	struct stream_writer w;
	uint8_t *h = fake_hashes(NPAGES), *got = calloc(NPAGES, 16);
	unsigned nrec;

	hashes_stream(&w, h);
	cr_assert_eq(parse_back(w.buf, w.len, NPAGES, got, &nrec),
	    STREAM_NEED_MORE);
	cr_assert_eq(nrec, 3u);
	cr_assert_eq(memcmp(h, got, NPAGES * STREAM_HASH_LEN), 0);
	/* A reader that does not know nr_pages (remus-stream -B) skips the
	 * range and completeness checks, not the others. */
	cr_assert_eq(parse_back(w.buf, w.len, 0, NULL, NULL), STREAM_NEED_MORE);
	stream_writer_free(&w);
	free(h);
	free(got);
}

Test(resync, reader_rules)
{
	struct stream_writer w;
	uint8_t *h = fake_hashes(NPAGES);

	/* The guest has fewer pages than the hashes cover: PFN. */
	hashes_stream(&w, h);
	cr_assert_eq(parse_back(w.buf, w.len, NPAGES - 1, NULL, NULL),
	    STREAM_ERR_PFN);
	/* More pages than covered: READY comes too early. */
	cr_assert_eq(parse_back(w.buf, w.len, NPAGES + 1, NULL, NULL),
	    STREAM_ERR_SEQUENCE);
	stream_writer_free(&w);

	/* PAGE_HASHES after a WELCOME without HASHES: a sequence error.
	 * Built by hand: the writer refuses it. */
	{
		struct stream_writer a, b;
		struct stream_welcome wl = hashes_welcome;
		uint8_t *buf;
		size_t wlen;

		wl.flags = 0;
		stream_writer_init(&a, PS);
		cr_assert_eq(stream_write_welcome(&a, &wl), 0);
		stream_writer_init(&b, PS);
		stream_writer_set_hashes(&b, 4);
		cr_assert_eq(stream_write_welcome(&b, &hashes_welcome), 0);
		wlen = b.len;
		cr_assert_eq(stream_write_page_hashes(&b, 0, 4, h), 0);
		buf = malloc(a.len + b.len - wlen);
		memcpy(buf, a.buf, a.len);
		memcpy(buf + a.len, b.buf + wlen, b.len - wlen);
		cr_assert_eq(parse_back(buf, a.len + b.len - wlen, 4, NULL,
		    NULL), STREAM_ERR_SEQUENCE);
		/* Two records out of order (second before first). */
		cr_assert_eq(stream_write_ctl(&b, STREAM_REC_READY, 0), 0);
		free(buf);
		stream_writer_free(&a);
		stream_writer_free(&b);
	}
	{
		struct stream_writer b;
		size_t wlen, r1, r2;
		uint8_t *buf;

		stream_writer_init(&b, PS);
		stream_writer_set_hashes(&b, 8);
		cr_assert_eq(stream_write_welcome(&b, &hashes_welcome), 0);
		wlen = b.len;
		cr_assert_eq(stream_write_page_hashes(&b, 0, 4, h), 0);
		r1 = b.len - wlen;
		cr_assert_eq(stream_write_page_hashes(&b, 4, 4, h), 0);
		r2 = b.len - wlen - r1;
		buf = malloc(b.len);
		memcpy(buf, b.buf, wlen);
		memcpy(buf + wlen, b.buf + wlen + r1, r2);
		memcpy(buf + wlen + r2, b.buf + wlen, r1);
		cr_assert_eq(parse_back(buf, b.len, 8, NULL, NULL),
		    STREAM_ERR_SEQUENCE);
		free(buf);
		stream_writer_free(&b);
	}
	free(h);
}

/* Lengths that cannot hold whole hashes, or too many, are refused from
 * the 8-byte header: the body is never waited for. */
Test(resync, impossible_lengths_from_the_header)
{
	static const uint32_t lens[] = { 0, 8, 16, 16 + 15, 16 + 17,
	    16 + 16 * STREAM_HASHES_MAX + 16, STREAM_REC_LENGTH_MAX };
	struct stream_writer w;
	struct stream_reader r;
	struct stream_rec rec;
	uint8_t buf[8];
	size_t used, wl;

	stream_writer_init(&w, PS);
	stream_writer_set_hashes(&w, NPAGES);
	cr_assert_eq(stream_write_welcome(&w, &hashes_welcome), 0);
	wl = w.len;
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		stream_reader_init(&r, STREAM_DIR_BACK);
		cr_assert_eq(stream_read_record(&r, w.buf, wl, &used, &rec),
		    STREAM_OK);
		memcpy(buf, &(uint32_t){ STREAM_REC_PAGE_HASHES }, 4);
		memcpy(buf + 4, &lens[i], 4);
		enum stream_status st = stream_read_record(&r, buf, 8, &used,
		    &rec);
		cr_assert(st == STREAM_ERR_LENGTH || st == STREAM_ERR_TOO_LONG,
		    "length %u: %s", lens[i], stream_strerror(st));
	}
	stream_writer_free(&w);
}

Test(resync, every_flipped_bit_is_caught)
{
	struct stream_writer w;
	uint8_t *h = fake_hashes(300), *got = malloc(300 * 16);
	size_t bit, wl;
	uint64_t n;

	stream_writer_init(&w, PS);
	stream_writer_set_hashes(&w, 300);
	cr_assert_eq(stream_write_welcome(&w, &hashes_welcome), 0);
	wl = w.len;
	for (uint64_t first = 0; first < 300; first += n) {
		n = 300 - first < 100 ? 300 - first : 100;
		cr_assert_eq(stream_write_page_hashes(&w, first, (uint32_t)n,
		    h + first * 16), 0);
	}
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), 0);
	/* Only the hash records' bits: WELCOME's are test-stream's. */
	for (bit = wl * 8; bit < w.len * 8 - 16 * 8; bit++) {
		uint8_t *copy = malloc(w.len);
		enum stream_status st;

		memcpy(copy, w.buf, w.len);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(got, 0, 300 * 16);
		st = parse_back(copy, w.len, 300, got, NULL);
		/* Caught: an error, or (a length made longer) still
		 * waiting; never READY after hashes other than those
		 * sent. */
		cr_assert(!ready_seen || st != STREAM_NEED_MORE,
		    "bit %zu not caught", bit);
		cr_assert(!ready_seen || memcmp(got, h, 300 * 16) == 0,
		    "bit %zu: altered hashes accepted", bit);
		free(copy);
	}
	stream_writer_free(&w);
	free(h);
	free(got);
}

Test(resync, writer_refuses_what_the_reader_rejects)
{
	struct stream_writer w;
	struct stream_welcome wl = hashes_welcome;
	uint8_t *h = fake_hashes(8);

	stream_writer_init(&w, PS);
	/* HASHES needs the page count, and a replica to hash. */
	cr_assert_eq(stream_write_welcome(&w, &hashes_welcome), -1);
	stream_writer_set_hashes(&w, 8);
	wl.resume_epoch = 0;
	cr_assert_eq(stream_write_welcome(&w, &wl), -1);
	cr_assert_eq(stream_write_page_hashes(&w, 0, 4, h), -1);
	cr_assert_eq(w.len, 0u);
	cr_assert_eq(stream_write_welcome(&w, &hashes_welcome), 0);
	cr_assert_eq(stream_write_page_hashes(&w, 0, 0, h), -1);
	cr_assert_eq(stream_write_page_hashes(&w, 1, 4, h), -1);
	cr_assert_eq(stream_write_page_hashes(&w, 0, 9, h), -1);
	cr_assert_eq(stream_write_page_hashes(&w, 0, 4, h), 0);
	/* READY only once every page's hash went. */
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), -1);
	cr_assert_eq(stream_write_page_hashes(&w, 4, 4, h), 0);
	cr_assert_eq(stream_write_page_hashes(&w, 8, 1, h), -1);
	cr_assert_eq(stream_write_ctl(&w, STREAM_REC_READY, 0), 0);
	stream_writer_free(&w);
	free(h);
}

/* WELCOME with HASHES but no replica epoch is a handshake error. */
Test(resync, welcome_hashes_without_epoch)
{
	struct stream_writer w;
	struct stream_reader r;
	struct stream_rec rec;
	size_t used;

	stream_writer_init(&w, PS);
	stream_writer_set_hashes(&w, 8);
	cr_assert_eq(stream_write_welcome(&w, &hashes_welcome), 0);
	memset(w.buf + 8, 0, 8);		/* resume_epoch = 0 */
	{
		uint32_t crc = stream_crc32c(0, w.buf, 8 + 28);

		memcpy(w.buf + 8 + 28, &crc, 4);
	}
	stream_reader_init(&r, STREAM_DIR_BACK);
	cr_assert_eq(stream_read_record(&r, w.buf, w.len, &used, &rec),
	    STREAM_ERR_HANDSHAKE);
	stream_writer_free(&w);
}

Test(resync, resync_epoch_rules)
{
	struct stream_header_info hi = { .page_size = PS, .nr_pages = 8,
	    .driver = "t" };
	struct stream_writer w;

	stream_writer_init(&w, PS);
	cr_assert_eq(stream_write_header(&w, &hi), 0);
	cr_assert_eq(stream_write_hello(&w, "g", 1000, 200,
	    STREAM_HELLO_RESYNC, 0), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 5, STREAM_EPOCH_RESYNC |
	    STREAM_EPOCH_FULL), -1);
	cr_assert_eq(stream_write_epoch_begin(&w, 5, STREAM_EPOCH_RESYNC), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);
	cr_assert_eq(stream_write_epoch_begin(&w, 6, STREAM_EPOCH_RESYNC), -1);
	cr_assert_eq(stream_write_epoch_begin(&w, 6, 0), 0);
	cr_assert_eq(stream_write_epoch_end(&w), 0);

	/* The reader: RESYNC first is fine; later, or with FULL, is not. */
	for (int k = 0; k < 3; k++) {
		struct stream_reader r;
		struct stream_rec rec;
		struct stream_header_info got;
		uint8_t *buf = malloc(w.len);
		size_t off = 0, used;
		enum stream_status st;
		int n = 0;

		memcpy(buf, w.buf, w.len);
		if (k == 1) {		/* first: FULL | RESYNC */
			size_t at = 56 + 8 + 88;
			buf[at + 8 + 8] |= STREAM_EPOCH_FULL;
		} else if (k == 2) {	/* second: RESYNC */
			size_t at = 56 + 8 + 88 + 24 + 24;
			buf[at + 8 + 8] |= STREAM_EPOCH_RESYNC;
		}
		stream_reader_init(&r, STREAM_DIR_FORWARD);
		cr_assert_eq(stream_read_header(&r, buf, w.len, &used, &got),
		    STREAM_OK);
		off = used;
		while ((st = stream_read_record(&r, buf + off, w.len - off,
		    &used, &rec)) == STREAM_OK) {
			off += used;
			n++;
		}
		cr_assert_eq(st, k == 0 ? STREAM_NEED_MORE :
		    STREAM_ERR_SEQUENCE, "case %d: %s", k, stream_strerror(st));
		free(buf);
	}
	stream_writer_free(&w);
}

/* ---- The hash --------------------------------------------------------- */

Test(resync, hash_is_xxh3_128_little_endian)
{
	static uint8_t page[PS];
	uint8_t out[STREAM_HASH_LEN];
	XXH128_hash_t x;

	for (unsigned i = 0; i < PS; i++)
		page[i] = (uint8_t)(i * 7);
	resync_hash(page, PS, out);
	x = XXH3_128bits(page, PS);
	for (int b = 0; b < 8; b++) {
		cr_assert_eq(out[b], (uint8_t)(x.low64 >> (8 * b)));
		cr_assert_eq(out[8 + b], (uint8_t)(x.high64 >> (8 * b)));
	}
	cr_assert(resync_page_matches(page, PS, out));
	/* Any single changed bit changes the hash. */
	for (unsigned bit = 0; bit < PS * 8; bit += 97) {
		page[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert(!resync_page_matches(page, PS, out), "bit %u", bit);
		page[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

/* ---- The proc store's resume -------------------------------------------- */

static char dir[64];

static void
setup(void)
{
	strcpy(dir, "/tmp/test-resync.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	log_init("test-resync", 1, 0);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)!system(cmd);
}

#define SP	64u		/* store pages */

static void
fill_page(uint8_t *p, uint64_t pfn, unsigned gen)
{
	for (unsigned i = 0; i < PS; i += 8) {
		uint64_t v = pfn * 1000003u + gen * 7919u + i;

		memcpy(p + i, &v, 8);
	}
}

static uint64_t
committed_epoch(void)
{
	struct store_state st;

	cr_assert_eq(store_recover(dir, &st), 0);
	return st.committed ? st.epoch : 0;
}

/* Session 1 commits every page (generation 1) as epoch 10. */
static void
first_session(const char *name)
{
	struct store *s = store_open(dir, SP, PS, 0, NULL);
	uint64_t pfns[SP], e;

	cr_assert_not_null(s);
	cr_assert_eq(store_resume(s, name, 1, &e), 0, "nothing to resume");
	for (uint64_t i = 0; i < SP; i++) {
		fill_page(store_page(s, i), i, 1);
		pfns[i] = i;
	}
	cr_assert_eq(store_commit(s, 10, pfns, SP), 0);
	store_close(s);
	cr_assert_eq(committed_epoch(), 10u);
}

Test(resync, store_resume_hashes_and_commit, .init = setup,
    .fini = teardown)
{
	struct store *s;
	uint8_t h[SP * STREAM_HASH_LEN], page[PS];
	uint64_t e, pfns[3] = { 3, 17, 40 };

	first_session("proc:kvd");
	/* A session that resumes, hashes, and dies before committing:
	 * the replica is still epoch 10, whole. */
	s = store_open(dir, SP, PS, 0, NULL);
	cr_assert_not_null(s);
	cr_assert_eq(store_resume(s, "proc:kvd", 1, &e), 1);
	cr_assert_eq(e, 10u);
	cr_assert_eq(store_hash_pages(s, 0, SP, h), 0);
	for (uint64_t i = 0; i < SP; i++) {
		fill_page(page, i, 1);
		cr_assert(resync_page_matches(page, PS, h + i * 16),
		    "pfn %lu", (unsigned long)i);
		/* The working copy reads the resumed image. */
		cr_assert_eq(memcmp(store_page(s, i), page, PS), 0);
	}
	cr_assert_eq(store_hash_pages(s, SP - 1, 2, h), -1);
	/* Written but never committed. */
	fill_page(store_page(s, 5), 5, 9);
	store_close(s);
	cr_assert_eq(committed_epoch(), 10u);

	/* The next one commits three changed pages as epoch 11. */
	s = store_open(dir, SP, PS, 0, NULL);
	cr_assert_eq(store_resume(s, "proc:kvd", 1, &e), 1);
	cr_assert_eq(store_hash_pages(s, 5, 1, h), 0);
	fill_page(page, 5, 1);
	cr_assert(resync_page_matches(page, PS, h), "uncommitted write seen");
	for (int k = 0; k < 3; k++)
		fill_page(store_page(s, pfns[k]), pfns[k], 2);
	cr_assert_eq(store_check_committed(s, 10), -1,
	    "an earlier session's replica counted as this one's");
	cr_assert_eq(store_commit(s, 11, pfns, 3), 0);
	cr_assert_eq(store_check_committed(s, 11), 0);
	store_close(s);
	cr_assert_eq(committed_epoch(), 11u);

	/* A third session sees generation 2 exactly in those pages. */
	s = store_open(dir, SP, PS, 0, NULL);
	cr_assert_eq(store_resume(s, "proc:kvd", 1, &e), 1);
	cr_assert_eq(e, 11u);
	cr_assert_eq(store_hash_pages(s, 0, SP, h), 0);
	for (uint64_t i = 0; i < SP; i++) {
		int changed = i == 3 || i == 17 || i == 40;

		fill_page(page, i, changed ? 2 : 1);
		cr_assert(resync_page_matches(page, PS, h + i * 16),
		    "pfn %lu", (unsigned long)i);
	}
	/* A restarted primary counts from 1 again: a lower epoch is
	 * still a commit of this session. */
	fill_page(store_page(s, 7), 7, 3);
	cr_assert_eq(store_commit(s, 2, (uint64_t[]){ 7 }, 1), 0);
	cr_assert_eq(store_check_committed(s, 2), 0);
	store_close(s);
	cr_assert_eq(committed_epoch(), 2u);
}

Test(resync, store_resumes_only_the_same_guest, .init = setup,
    .fini = teardown)
{
	struct store *s;
	uint64_t e = 99, pfns[1] = { 0 };

	first_session("proc:kvd");
	/* Another name: not resumed; the working copy is empty and the
	 * old replica stays committed until the new first commit. */
	s = store_open(dir, SP, PS, 0, NULL);
	cr_assert_eq(store_resume(s, "proc:other", 1, &e), 0);
	cr_assert_eq(e, 0u);
	cr_assert_eq(((uint8_t *)store_page(s, 1))[8], 0);
	store_close(s);
	cr_assert_eq(committed_epoch(), 10u);
	/* Not allowed (the primary cannot resync): not resumed. */
	s = store_open(dir, SP, PS, 0, NULL);
	cr_assert_eq(store_resume(s, "proc:kvd", 0, &e), 0);
	store_close(s);
	/* Another geometry: not resumed. */
	s = store_open(dir, SP * 2, PS, 0, NULL);
	cr_assert_eq(store_resume(s, "proc:kvd", 1, &e), 0);
	cr_assert_eq(store_commit(s, 3, pfns, 1), 0);
	store_close(s);
	cr_assert_eq(committed_epoch(), 3u);
	/* It names the new guest now. */
	s = store_open(dir, SP * 2, PS, 0, NULL);
	cr_assert_eq(store_resume(s, "proc:kvd", 1, &e), 1);
	cr_assert_eq(e, 3u);
	store_close(s);
}

/* ---- A crash during the resync ---------------------------------------- */

/* XXH3-64 of the image file: which epoch it holds. */
static uint64_t
image_sum(void)
{
	char path[128];
	uint8_t *buf = malloc(SP * PS);
	FILE *f;
	uint64_t h;

	snprintf(path, sizeof path, "%s/proc-arena.img", dir);
	f = fopen(path, "rb");
	cr_assert_not_null(f);
	cr_assert_eq(fread(buf, PS, SP, f), SP);
	fclose(f);
	h = XXH3_64bits(buf, SP * PS);
	free(buf);
	return h;
}

/* The image as the model says: generation 1 everywhere, generation 2 in
 * the pages the resync carried if it is in. */
static uint64_t
model_sum(int resynced)
{
	uint8_t *buf = malloc(SP * PS);
	uint64_t h;

	for (uint64_t i = 0; i < SP; i++)
		fill_page(buf + i * PS, i, resynced && i % 5 == 0 ? 2 : 1);
	h = XXH3_64bits(buf, SP * PS);
	free(buf);
	return h;
}

/* In a child: resume the replica and commit a resync of every fifth page
 * as epoch 11, dying at FAULT; exits 0 if it got through. */
static pid_t
resync_child(const char *fault)
{
	struct store *s;
	uint64_t e, pfns[SP], n = 0;
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid)
		return pid;
	setenv("REMUS_FAULT", fault, 1);
	setenv("REMUS_FAULT_EPOCH", "11", 1);
	if (fault_init() == -1)
		_exit(2);
	s = store_open(dir, SP, PS, 0, NULL);
	if (s == NULL || store_resume(s, "proc:kvd", 1, &e) != 1)
		_exit(3);
	for (uint64_t i = 0; i < SP; i += 5) {
		fill_page(store_page(s, i), i, 2);
		pfns[n++] = i;
	}
	if (store_commit(s, 11, pfns, n) == -1)
		_exit(4);
	store_close(s);
	_exit(0);
}

/* Killed at every step of the resync's commit, the directory recovers to
 * the old replica (epoch 10, untouched) or to the resynced one (epoch 11,
 * exactly), never to something else, and never to nothing. */
Test(resync, crash_at_every_step_of_the_resync_commit, .init = setup,
    .fini = teardown)
{
	static const struct { const char *fault; int done; } steps[] = {
		{ "replica-crash-in-journal", 0 },
		{ "replica-crash-before-record", 0 },
		{ "replica-crash-after-journal", 1 },
		{ "replica-crash-in-apply", 1 },
		{ "replica-crash-after-apply", 1 },
		{ "replica-crash-after-session", 1 },
		{ "replica-crash-after-epoch", 1 },
	};
	uint64_t old = model_sum(0), new = model_sum(1);

	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		struct store_state st;
		int ws;

		teardown();
		setup();
		first_session("proc:kvd");
		cr_assert_eq(image_sum(), old);
		pid_t pid = resync_child(steps[k].fault);
		cr_assert_eq(waitpid(pid, &ws, 0), pid);
		cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 9,
		    "%s: did not crash there (status %d)", steps[k].fault, ws);
		cr_assert_eq(store_recover(dir, &st), 0);
		cr_assert(st.committed, "%s: no committed replica",
		    steps[k].fault);
		cr_assert_eq(st.epoch, steps[k].done ? 11u : 10u, "%s: epoch %lu",
		    steps[k].fault, (unsigned long)st.epoch);
		cr_assert_eq(image_sum(), steps[k].done ? new : old,
		    "%s: the image is not epoch %lu", steps[k].fault,
		    (unsigned long)st.epoch);
	}
}
