/* fuzz/fuzz-stream.c -- libFuzzer target for the stream reader (STYLE F1).
 *
 * Input: one control byte, then stream bytes.  Control bit 7 picks the
 * back channel (records only) instead of the forward stream (header +
 * records); bits 0-6 seed the chunk sizes in which the bytes are handed
 * to the reader (0: all at once), so the NEED_MORE paths and resumption
 * are fuzzed as a socket would exercise them.  Every buffer handed to the
 * reader is a heap block of exactly the bytes it may read, so ASan sees
 * any over-read, and starts at an odd address every other call, so
 * unaligned loads are exercised.  Every page of every batch is decoded
 * through codec_decode (the LZ4 and XOR_RLE paths) into a page buffer.
 *
 * The reader is pure (no I/O, no allocation), so no fork or socketpair
 * is needed, unlike nbdkit's fuzzer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-chunk.h"
#include "stream.h"
#ifdef REMUS_HAVE_CODEC
#include "codec.h"
#endif

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t chunk_max[4] = { 7, 64, 4096, 70000 };

static void
decode_batch(const struct stream_reader *r, const struct stream_rec *rec)
{
#ifdef REMUS_HAVE_CODEC
	struct stream_batch_iter it;
	struct stream_page pg;
	const uint8_t *d;
	uint8_t *base = calloc(1, r->page_size), *out = malloc(r->page_size);

	if (base == NULL || out == NULL)
		abort();
	stream_batch_iter_init(&it, rec);
	while (stream_batch_next(&it, &pg, &d)) {
		/* Bounds the reader promised. */
		if (d < rec->body || d + pg.length > rec->body + rec->length ||
		    pg.pfn >= r->nr_pages)
			abort();
		(void)codec_decode(pg.encoding, d, pg.length, base, out,
		    r->page_size);
		/* In place, as the backup decodes into its replica. */
		(void)codec_decode(pg.encoding, d, pg.length, base, base,
		    r->page_size);
	}
	free(base);
	free(out);
#else
	struct stream_batch_iter it;
	struct stream_page pg;
	const uint8_t *d;

	stream_batch_iter_init(&it, rec);
	while (stream_batch_next(&it, &pg, &d))
		if (d < rec->body || d + pg.length > rec->body + rec->length ||
		    pg.pfn >= r->nr_pages)
			abort();
#endif
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream_reader r;
	struct stream_header_info hi;
	struct stream_rec rec;
	enum stream_status st;
	uint8_t *pend = NULL;		/* bytes fed, not yet consumed */
	size_t have = 0, fed = 0, used;
	uint32_t rng;
	int header, odd = 0;

	if (size < 1)
		return 0;
	rng = data[0] & 0x7f;
	stream_reader_init(&r, data[0] & 0x80 ? STREAM_DIR_BACK :
	    STREAM_DIR_FORWARD);
	header = r.dir == STREAM_DIR_FORWARD;
	data++;
	size--;
	rng = rng ? rng * 2654435761u : 0;

	for (;;) {
		/* Exactly HAVE bytes, at an odd address every other time. */
		uint8_t *blk, *p;

		odd ^= 1;
		blk = malloc(have + (size_t)odd > 0 ? have + (size_t)odd : 1);
		if (blk == NULL)
			abort();
		p = blk + odd;
		if (have > 0)
			memcpy(p, pend, have);
		if (header)
			st = stream_read_header(&r, p, have, &used, &hi);
		else
			st = stream_read_record(&r, p, have, &used, &rec);
		if (st == STREAM_OK && !header &&
		    rec.type == STREAM_REC_PAGE_BATCH)
			decode_batch(&r, &rec);
		free(blk);

		if (st == STREAM_NEED_MORE) {
			size_t n = rng ? fuzz_next_chunk(&rng, chunk_max) : size;

			if (fed == size)
				break;
			if (n > size - fed)
				n = size - fed;
			pend = realloc(pend, have + n);
			if (pend == NULL)
				abort();
			memcpy(pend + have, data + fed, n);
			have += n;
			fed += n;
			continue;
		}
		if (st != STREAM_OK && st != STREAM_SKIPPED) {
			/* Sticky. */
			if (stream_read_record(&r, pend, have, &used, &rec) != st)
				abort();
			break;
		}
		if (used > have)
			abort();
		header = 0;
		memmove(pend, pend + used, have - used);
		have -= used;
	}
	free(pend);
	return 0;
}
