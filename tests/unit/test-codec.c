/* tests/unit/test-codec.c -- page codec: every encoding round-trips, the
 * cache evicts and still round-trips, the decoder survives any input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <lz4.h>

#include "codec.h"
#include "stream-format.h"

#define PS	4096u
#define GUARD	64u

/* xorshift64*: reproducible test data. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void
fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* Text-like, LZ4 shrinks it well. */
static void
fill_text(uint8_t *p, size_t n, unsigned seed)
{
	static const char *words[] = { "remus ", "epoch ", "page ",
	    "backup ", "primary ", "checkpoint ", "delta ", "xor " };
	size_t i = 0;

	while (i < n) {
		const char *w = words[(seed = seed * 1103515245u + 12345u) >> 29];

		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (uint8_t)w[k];
	}
}

/* A page buffer with guard bytes on both sides. */
struct gpage {
	uint8_t	*raw;
	uint8_t	*p;
	size_t	size;
};

static void
gpage_init(struct gpage *g, size_t size, uint8_t fill)
{
	g->raw = malloc(size + 2 * GUARD);
	cr_assert(g->raw != NULL);
	memset(g->raw, 0xa5, size + 2 * GUARD);
	g->p = g->raw + GUARD;
	g->size = size;
	memset(g->p, fill, size);
}

static void
gpage_check(const struct gpage *g)
{
	for (size_t i = 0; i < GUARD; i++) {
		cr_assert(eq(u8, g->raw[i], 0xa5), "guard before OUT hit");
		cr_assert(eq(u8, g->raw[GUARD + g->size + i], 0xa5),
		    "guard after OUT hit");
	}
}

static void
gpage_free(struct gpage *g)
{
	free(g->raw);
}

/* Encode SRC as PFN, check the encoding is WANT (or any if WANT < 0),
 * decode against BASE (out of place and in place), compare. */
static uint32_t
round_trip(struct codec *c, uint64_t pfn, const uint8_t *src,
    const uint8_t *base, int want)
{
	uint8_t dst[PS], out[PS], inplace[PS];
	uint32_t len = 0xdead;
	uint16_t enc = 0xbeef;

	cr_assert(eq(int, codec_encode(c, pfn, src, dst, &len, &enc), 0));
	if (want >= 0)
		cr_assert(eq(u16, enc, (uint16_t)want), "encoding %u, want %d",
		    enc, want);
	cr_assert(le(u32, len, PS));
	if (enc != STREAM_ENC_RAW)
		cr_assert(lt(u32, len, PS));
	memset(out, 0x5a, sizeof(out));
	cr_assert(eq(int, codec_decode(enc, dst, len, base, out, PS), 0));
	cr_assert(eq(int, memcmp(out, src, PS), 0), "out of place differs");
	if (base != NULL) {
		memcpy(inplace, base, PS);
		cr_assert(eq(int, codec_decode(enc, dst, len, inplace, inplace,
		    PS), 0));
		cr_assert(eq(int, memcmp(inplace, src, PS), 0),
		    "in place differs");
	}
	return len;
}

/* ---- Round trips, one per encoding -------------------------------- */

Test(codec, zero_page_is_zero_with_no_bytes)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t z[PS] = { 0 };

	cr_assert(c != NULL);
	cr_assert(eq(u32, round_trip(c, 1, z, NULL, STREAM_ENC_ZERO), 0));
	/* Still ZERO when it is cached (it is not: zero pages take no slot). */
	cr_assert(eq(u32, round_trip(c, 1, z, NULL, STREAM_ENC_ZERO), 0));
	codec_free(c);
}

Test(codec, random_page_does_not_shrink_and_goes_raw)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t p[PS];

	fill_random(p, PS);
	cr_assert(eq(u32, round_trip(c, 7, p, NULL, STREAM_ENC_RAW), PS));
	codec_free(c);
}

Test(codec, compressible_page_goes_lz4)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t p[PS];

	fill_text(p, PS, 1);
	cr_assert(lt(u32, round_trip(c, 7, p, NULL, STREAM_ENC_LZ4), PS / 2));
	codec_free(c);
}

Test(codec, small_delta_goes_xor_rle)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t base[PS], p[PS];
	uint32_t len;

	fill_random(base, PS);
	round_trip(c, 3, base, NULL, STREAM_ENC_RAW);
	memcpy(p, base, PS);
	fill_random(p + 100, 10);
	p[100] = base[100] ^ 0x5a;	/* the run is exactly 100..109 */
	p[109] = base[109] ^ 0x5a;
	p[105] = base[105];	/* an equal byte inside the run */
	p[4095] ^= 0xff;	/* and a run at the very end */
	p[0] ^= 1;		/* and at the very start */
	len = round_trip(c, 3, p, base, STREAM_ENC_XOR_RLE);
	/* run 1: 00 01 + 1 byte; run 2: 63 0a + 10; run 3: 3 bytes + 1 */
	cr_assert(eq(u32, len, 3 + 12 + 4));
	codec_free(c);
}

Test(codec, xor_rle_exact_bytes)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t base[PS], p[PS], dst[PS];
	uint32_t len;
	uint16_t enc;

	fill_random(base, PS);
	cr_assert(eq(int, codec_encode(c, 9, base, dst, &len, &enc), 0));
	memcpy(p, base, PS);
	for (int i = 0; i < 10; i++)
		p[100 + i] = base[100 + i] ^ (uint8_t)(i + 1);
	cr_assert(eq(int, codec_encode(c, 9, p, dst, &len, &enc), 0));
	cr_assert(eq(u16, enc, STREAM_ENC_XOR_RLE));
	cr_assert(eq(u32, len, 12));
	cr_assert(eq(u8, dst[0], 100));
	cr_assert(eq(u8, dst[1], 10));
	for (int i = 0; i < 10; i++)
		cr_assert(eq(u8, dst[2 + i], i + 1));
	codec_free(c);
}

Test(codec, unchanged_page_is_empty_xor_rle)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t p[PS];

	fill_text(p, PS, 2);
	round_trip(c, 5, p, NULL, STREAM_ENC_LZ4);
	cr_assert(eq(u32, round_trip(c, 5, p, p, STREAM_ENC_XOR_RLE), 0));
	codec_free(c);
}

Test(codec, large_compressible_delta_goes_xor_lz4)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t base[PS], p[PS];
	uint32_t len;

	fill_random(base, PS);
	round_trip(c, 11, base, NULL, STREAM_ENC_RAW);
	/* Flip one bit of every byte: the delta is 0x01 repeated. */
	memcpy(p, base, PS);
	for (unsigned i = 0; i < PS * 3 / 4; i++)
		p[i] ^= 1;
	len = round_trip(c, 11, p, base, STREAM_ENC_XOR_LZ4);
	cr_assert(lt(u32, len, 100));
	codec_free(c);
}

Test(codec, xor_lz4_backs_off_on_random_deltas_and_recovers)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t base[PS], p[PS], dst[PS];
	uint32_t len;
	uint16_t enc;
	int i, first = -1;

	/* Many random rewrites: LZ4 of the delta never wins. */
	for (i = 0; i < 200; i++) {
		fill_random(p, PS);
		cr_assert(eq(int, codec_encode(c, 1, p, dst, &len, &enc), 0));
		cr_assert(eq(u16, enc, STREAM_ENC_RAW));
	}
	/* Then compressible deltas: found within one back-off period, and
	 * every later one goes XOR_LZ4 at once. */
	for (i = 0; i < 100; i++) {
		memcpy(base, p, PS);
		for (unsigned k = 0; k < PS; k++)
			p[k] ^= 0x08;
		cr_assert(eq(int, codec_encode(c, 1, p, dst, &len, &enc), 0));
		cr_assert(eq(int, codec_decode(enc, dst, len, base, base, PS),
		    0));
		cr_assert(eq(int, memcmp(base, p, PS), 0));
		if (first < 0 && enc == STREAM_ENC_XOR_LZ4)
			first = i;
		else if (first >= 0)
			cr_assert(eq(u16, enc, STREAM_ENC_XOR_LZ4), "i %d", i);
	}
	cr_assert(ge(int, first, 0));
	cr_assert(lt(int, first, 64));
	codec_free(c);
}

Test(codec, large_random_delta_goes_raw)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t base[PS], p[PS];

	fill_random(base, PS);
	round_trip(c, 11, base, NULL, STREAM_ENC_RAW);
	fill_random(p, PS);
	round_trip(c, 11, p, base, STREAM_ENC_RAW);
	/* The cache now holds P: a small change of P is a small delta. */
	memcpy(base, p, PS);
	p[2000] ^= 0x40;
	cr_assert(eq(u32, round_trip(c, 11, p, base, STREAM_ENC_XOR_RLE), 4));
	codec_free(c);
}

Test(codec, cached_page_turning_zero_then_changing)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t base[PS], z[PS] = { 0 }, p[PS] = { 0 };

	fill_text(base, PS, 3);
	round_trip(c, 2, base, NULL, STREAM_ENC_LZ4);
	round_trip(c, 2, z, base, STREAM_ENC_ZERO);
	p[77] = 1;
	/* The cache followed the page to zero: the delta is one byte. */
	cr_assert(eq(u32, round_trip(c, 2, p, z, STREAM_ENC_XOR_RLE), 3));
	codec_free(c);
}

Test(codec, no_compress_sends_only_zero_and_raw)
{
	struct codec *c = codec_new(PS, 1 << 20, 0);
	uint8_t p[PS], z[PS] = { 0 };
	struct codec_stats st;

	fill_text(p, PS, 4);
	round_trip(c, 1, p, NULL, STREAM_ENC_RAW);
	p[10] ^= 1;
	round_trip(c, 1, p, NULL, STREAM_ENC_RAW);
	round_trip(c, 2, z, NULL, STREAM_ENC_ZERO);
	codec_get_stats(c, &st);
	cr_assert(eq(u64, st.pages[STREAM_ENC_RAW], 2));
	cr_assert(eq(u64, st.pages[STREAM_ENC_ZERO], 1));
	cr_assert(eq(u64, st.cache_hits + st.cache_misses, 0));
	cr_assert(eq(u64, st.raw_bytes, 3 * PS));
	cr_assert(eq(u64, st.wire_bytes, 2 * PS));
	codec_free(c);
}

Test(codec, no_cache_means_no_deltas)
{
	struct codec *c = codec_new(PS, 0, 1);
	uint8_t p[PS];

	fill_text(p, PS, 5);
	round_trip(c, 1, p, NULL, STREAM_ENC_LZ4);
	round_trip(c, 1, p, NULL, STREAM_ENC_LZ4);
	codec_free(c);
}

Test(codec, reset_forgets_cached_pages)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t p[PS];
	struct codec_stats st;

	fill_text(p, PS, 6);
	round_trip(c, 1, p, NULL, STREAM_ENC_LZ4);
	codec_reset(c);
	round_trip(c, 1, p, NULL, STREAM_ENC_LZ4);
	round_trip(c, 1, p, p, STREAM_ENC_XOR_RLE);
	codec_get_stats(c, &st);
	cr_assert(eq(u64, st.cache_misses, 2));
	cr_assert(eq(u64, st.cache_hits, 1));
	codec_free(c);
}

Test(codec, rejects_bad_arguments)
{
	uint8_t p[PS] = { 1 }, d[PS];
	uint32_t len;
	uint16_t enc;
	struct codec *c;

	errno = 0;
	cr_assert(codec_new(1000, 0, 1) == NULL);
	cr_assert(eq(int, errno, EINVAL));
	cr_assert(codec_new(2048, 0, 1) == NULL);
	cr_assert(codec_new(131072, 0, 1) == NULL);
	cr_assert(codec_new(0, 0, 1) == NULL);
	c = codec_new(PS, 0, 1);
	errno = 0;
	cr_assert(eq(int, codec_encode(c, 0, NULL, d, &len, &enc), -1));
	cr_assert(eq(int, errno, EINVAL));
	cr_assert(eq(int, codec_encode(c, 0, p, NULL, &len, &enc), -1));
	codec_free(c);
	codec_free(NULL);
	cr_assert(eq(sz, codec_bound(PS), PS));
}

/* ---- Simulations: a primary and a backup over many epochs ---------- */

/* Mutate page P in one of several ways; returns the kind used. */
static int
mutate(uint8_t *p, size_t ps)
{
	size_t off, n;
	int kind = (int)(rnd() % 8);

	switch (kind) {
	case 0:		/* untouched */
		break;
	case 1:		/* a few scattered bytes */
		for (int i = 0; i < 5; i++)
			p[rnd() % ps] = (uint8_t)rnd();
		break;
	case 2:		/* one random run */
		n = 1 + rnd() % (ps / 4);
		off = rnd() % (ps - n + 1);
		fill_random(p + off, n);
		break;
	case 3:		/* zero the page */
		memset(p, 0, ps);
		break;
	case 4:		/* rewrite as text */
		fill_text(p, ps, (unsigned)rnd());
		break;
	case 5:		/* rewrite as random */
		fill_random(p, ps);
		break;
	case 6:		/* flip a bit in many bytes */
		n = rnd() % ps;
		for (size_t i = 0; i < n; i++)
			p[i] ^= 0x10;
		break;
	case 7:		/* last byte only */
		p[ps - 1] ^= (uint8_t)(1 + rnd() % 255);
		break;
	}
	return kind;
}

/* NPAGES guest pages, CACHE_PAGES of cache, EPOCHS epochs of DIRTY
 * random pages each; the backup decodes in place into its replica. */
static void
simulate(uint32_t ps, size_t npages, size_t cache_pages, int epochs,
    size_t dirty, struct codec_stats *st)
{
	struct codec *c = codec_new(ps, cache_pages * ps, 1);
	uint8_t *guest = calloc(npages, ps), *replica = calloc(npages, ps);
	uint8_t *dst = malloc(codec_bound(ps));
	uint32_t len;
	uint16_t enc;

	cr_assert(c != NULL && guest != NULL && replica != NULL && dst != NULL);
	for (int e = 0; e < epochs; e++) {
		for (size_t d = 0; d < dirty; d++) {
			size_t pfn = rnd() % npages;
			uint8_t *g = guest + pfn * ps, *r = replica + pfn * ps;

			mutate(g, ps);
			cr_assert(eq(int, codec_encode(c, pfn, g, dst, &len,
			    &enc), 0));
			cr_assert(le(u32, len, ps));
			cr_assert(eq(int, codec_decode(enc, dst, len, r, r, ps),
			    0), "epoch %d pfn %zu enc %u", e, pfn, enc);
			cr_assert(eq(int, memcmp(g, r, ps), 0),
			    "epoch %d pfn %zu enc %u: replica differs", e, pfn,
			    enc);
		}
	}
	codec_get_stats(c, st);
	codec_free(c);
	free(guest);
	free(replica);
	free(dst);
}

Test(codec, simulation_round_trips_every_encoding)
{
	struct codec_stats st;

	simulate(PS, 64, 128, 40, 32, &st);
	for (int e = 0; e < STREAM_ENC_MAX; e++)
		cr_assert(gt(u64, st.pages[e], 0), "encoding %d never used", e);
	cr_assert(eq(u64, st.cache_evictions, 0));
}

Test(codec, cache_smaller_than_working_set_evicts_and_round_trips)
{
	struct codec_stats st;

	simulate(PS, 256, 16, 30, 64, &st);
	cr_assert(gt(u64, st.cache_evictions, 0));
	cr_assert(gt(u64, st.cache_hits, 0));
	cr_assert(gt(u64, st.cache_misses, 16));
	/* Every miss of a non-zero page takes a slot. */
	cr_assert(le(u64, st.cache_evictions, st.cache_misses));
	cr_assert(eq(u64, st.cache_hits + st.cache_misses, 30 * 64));
}

Test(codec, cache_table_survives_churn_with_sparse_pfns)
{
	enum { NP = 40, SLOTS = 8, ROUNDS = 4000 };
	struct codec *c = codec_new(PS, SLOTS * PS, 1);
	uint8_t *guest = calloc(NP, PS), *replica = calloc(NP, PS), dst[PS];
	uint64_t pfns[NP];
	struct codec_stats st;
	uint32_t len;
	uint16_t enc;

	for (int i = 0; i < NP; i++)
		pfns[i] = i < 2 ? (i ? UINT64_MAX : 0) : rnd();
	for (int r = 0; r < ROUNDS; r++) {
		/* Skewed: a hot set that stays cached, a cold tail that churns. */
		int i = (int)(rnd() % 4 ? rnd() % 6 : rnd() % NP);
		uint8_t *g = guest + (size_t)i * PS, *rep = replica + (size_t)i * PS;

		g[rnd() % PS] = (uint8_t)rnd();
		cr_assert(eq(int, codec_encode(c, pfns[i], g, dst, &len, &enc),
		    0));
		cr_assert(eq(int, codec_decode(enc, dst, len, rep, rep, PS), 0));
		cr_assert(eq(int, memcmp(g, rep, PS), 0), "round %d", r);
	}
	codec_get_stats(c, &st);
	cr_assert(gt(u64, st.cache_evictions, 100));
	cr_assert(gt(u64, st.cache_hits, ROUNDS / 2));
	codec_free(c);
	free(guest);
	free(replica);
}

Test(codec, cache_of_one_page_round_trips)
{
	struct codec_stats st;

	simulate(PS, 8, 1, 30, 16, &st);
	cr_assert(gt(u64, st.cache_evictions, 0));
}

Test(codec, large_pages_round_trip)
{
	struct codec_stats st;

	simulate(CODEC_PAGE_MAX, 16, 8, 8, 16, &st);
	cr_assert(gt(u64, st.pages[STREAM_ENC_XOR_RLE], 0));
}

Test(codec, generic_kernels_round_trip)
{
	struct codec_stats st;

	/* codec_new reads this: the portable (non-AVX2) kernels. */
	setenv("REMUS_CODEC_GENERIC", "1", 1);
	simulate(PS, 64, 32, 40, 32, &st);
	for (int e = 0; e < STREAM_ENC_MAX; e++)
		cr_assert(gt(u64, st.pages[e], 0), "encoding %d never used", e);
}

Test(codec, evicted_page_falls_back_to_lz4)
{
	struct codec *c = codec_new(PS, 2 * PS, 1);
	uint8_t p[3][PS];
	struct codec_stats st;

	for (int i = 0; i < 3; i++) {
		fill_text(p[i], PS, 10 + (unsigned)i);
		round_trip(c, (uint64_t)i, p[i], NULL, STREAM_ENC_LZ4);
	}
	/* Page 0 was evicted by page 2. */
	round_trip(c, 0, p[0], NULL, STREAM_ENC_LZ4);
	codec_get_stats(c, &st);
	cr_assert(eq(u64, st.cache_evictions, 2));
	cr_assert(eq(u64, st.cache_hits, 0));
	codec_free(c);
}

/* ---- Decoder robustness ------------------------------------------- */

/* Decode must give 0, or -1/EINVAL leaving OUT untouched; never write
 * outside OUT.  Returns the decode's result. */
static int
decode_checked(uint16_t enc, const uint8_t *data, uint32_t len,
    const uint8_t *base, uint32_t ps)
{
	struct gpage out;
	uint8_t *before = malloc(ps);
	int rc;

	gpage_init(&out, ps, 0x3c);
	memcpy(before, out.p, ps);
	errno = 0;
	rc = codec_decode(enc, data, len, base, out.p, ps);
	if (rc == -1) {
		cr_assert(eq(int, errno, EINVAL));
		cr_assert(eq(int, memcmp(out.p, before, ps), 0),
		    "OUT changed on error");
	} else {
		cr_assert(eq(int, rc, 0));
	}
	gpage_check(&out);
	gpage_free(&out);
	free(before);
	return rc;
}

/* The data in a heap block of exactly LEN bytes, so ASan sees overreads. */
static int
decode_exact(uint16_t enc, const uint8_t *data, uint32_t len,
    const uint8_t *base)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, data, len);
	rc = decode_checked(enc, copy, len, base, PS);
	free(copy);
	return rc;
}

static uint32_t
encode_sample(int want, uint8_t *dst, uint8_t *base)
{
	struct codec *c = codec_new(PS, 1 << 20, 1);
	uint8_t p[PS];
	uint32_t len;
	uint16_t enc;

	fill_random(base, PS);
	memcpy(p, base, PS);
	switch (want) {
	case STREAM_ENC_LZ4:
		fill_text(p, PS, 42);
		break;
	case STREAM_ENC_XOR_LZ4:
		codec_encode(c, 1, base, dst, &len, &enc);
		for (unsigned i = 0; i < PS; i += 3)
			p[i] ^= 0x11;
		break;
	case STREAM_ENC_XOR_RLE:
		codec_encode(c, 1, base, dst, &len, &enc);
		fill_random(p + 1000, 300);
		break;
	}
	cr_assert(eq(int, codec_encode(c, 1, p, dst, &len, &enc), 0));
	cr_assert(eq(u16, enc, (uint16_t)want));
	codec_free(c);
	return len;
}

Test(codec, truncated_data_is_rejected_at_every_length)
{
	static const int encs[] = { STREAM_ENC_LZ4, STREAM_ENC_XOR_LZ4,
	    STREAM_ENC_XOR_RLE };
	uint8_t dst[PS], base[PS];

	for (size_t e = 0; e < sizeof(encs) / sizeof(encs[0]); e++) {
		uint32_t len = encode_sample(encs[e], dst, base);

		cr_assert(eq(int, decode_exact((uint16_t)encs[e], dst, len,
		    base), 0));
		/* XOR_RLE of length 0 is valid: "unchanged". */
		for (uint32_t l = encs[e] == STREAM_ENC_XOR_RLE; l < len; l++)
			cr_assert(eq(int, decode_exact((uint16_t)encs[e], dst,
			    l, base), -1), "enc %d truncated to %u", encs[e], l);
		/* Trailing garbage. */
		dst[len] = 0;
		cr_assert(eq(int, decode_exact((uint16_t)encs[e], dst,
		    len + 1, base), -1));
	}
}

Test(codec, wrong_lengths_and_encodings_are_rejected)
{
	uint8_t data[PS + 1] = { 0 }, base[PS] = { 0 };

	cr_assert(eq(int, decode_checked(STREAM_ENC_ZERO, data, 1, NULL, PS), -1));
	cr_assert(eq(int, decode_checked(STREAM_ENC_ZERO, NULL, 0, NULL, PS), 0));
	cr_assert(eq(int, decode_checked(STREAM_ENC_RAW, data, PS - 1, NULL, PS), -1));
	cr_assert(eq(int, decode_checked(STREAM_ENC_RAW, data, PS + 1, NULL, PS), -1));
	cr_assert(eq(int, decode_checked(STREAM_ENC_RAW, data, PS, NULL, PS), 0));
	cr_assert(eq(int, decode_checked(STREAM_ENC_LZ4, data, 0, NULL, PS), -1));
	cr_assert(eq(int, decode_checked(STREAM_ENC_LZ4, data, PS, NULL, PS), -1));
	cr_assert(eq(int, decode_checked(STREAM_ENC_XOR_LZ4, data, PS, base, PS), -1));
	cr_assert(eq(int, decode_checked(STREAM_ENC_XOR_RLE, data, PS, base, PS), -1));
	cr_assert(eq(int, decode_checked(STREAM_ENC_XOR_RLE, NULL, 0, base, PS), 0));
	/* XOR encodings need a base. */
	cr_assert(eq(int, decode_checked(STREAM_ENC_XOR_RLE, NULL, 0, NULL, PS), -1));
	cr_assert(eq(int, decode_checked(STREAM_ENC_XOR_LZ4, data, 10, NULL, PS), -1));
	cr_assert(eq(int, decode_checked(STREAM_ENC_MAX, NULL, 0, base, PS), -1));
	cr_assert(eq(int, decode_checked(0xffff, NULL, 0, base, PS), -1));
	/* Bad page sizes. */
	cr_assert(eq(int, codec_decode(STREAM_ENC_ZERO, NULL, 0, NULL, data, 0), -1));
	cr_assert(eq(int, codec_decode(STREAM_ENC_ZERO, NULL, 0, NULL, data, 1000), -1));
	cr_assert(eq(int, errno, EINVAL));
}

static int
decode_rle(const uint8_t *data, uint32_t len)
{
	uint8_t base[PS];

	memset(base, 0x77, PS);
	return decode_exact(STREAM_ENC_XOR_RLE, data, len, base);
}

Test(codec, malformed_runs_are_rejected)
{
	/* Each case: bytes, length. */
	static const struct {
		uint8_t	b[8];
		uint32_t len;
		int	ok;
	} cases[] = {
		{ { 0x00, 0x01, 0xaa }, 3, 1 },		/* first ZLEN 0 ok */
		{ { 0x05, 0x01, 0xaa, 0x00, 0x01, 0xbb }, 6, 0 }, /* later ZLEN 0 */
		{ { 0x05, 0x00 }, 2, 0 },			/* LLEN 0 */
		{ { 0x80, 0x20, 0x01, 0xaa }, 4, 0 },	/* ZLEN 4096 + 1 */
		{ { 0xff, 0x1f, 0x02, 0xaa, 0xbb }, 5, 0 },	/* 4095 + 2 */
		{ { 0xff, 0x1f, 0x01, 0xaa }, 4, 1 },	/* 4095 + 1: last byte */
		{ { 0x00, 0x80, 0x20 }, 3, 0 },		/* LLEN 4096 */
		{ { 0x05, 0x04, 0xaa, 0xbb }, 4, 0 },	/* LIT past the end */
		{ { 0x85, 0x00, 0x01, 0xaa }, 4, 0 },	/* non-minimal ZLEN */
		{ { 0x80, 0x80, 0x80, 0x01, 0x01, 0xaa }, 6, 0 }, /* 4 bytes */
		{ { 0xff, 0xff, 0x7f, 0x01, 0xaa }, 5, 0 },	/* huge ZLEN */
		{ { 0x01, 0xff, 0xff, 0x7f }, 4, 0 },	/* huge LLEN */
		{ { 0x05 }, 1, 0 },				/* no LLEN */
		{ { 0x85 }, 1, 0 },				/* cut uleb */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert(eq(int, decode_rle(cases[i].b, cases[i].len),
		    cases[i].ok ? 0 : -1), "case %zu", i);
}

Test(codec, runs_at_the_largest_page_size)
{
	static const uint8_t ok[] = { 0xff, 0xff, 0x03, 0x01, 0xaa };
	static const uint8_t over[] = { 0x80, 0x80, 0x04, 0x01, 0xaa };
	uint8_t *base = calloc(1, CODEC_PAGE_MAX);
	uint8_t *data = malloc(sizeof(ok));

	/* ZLEN 65535, LLEN 1: the last byte of the page. */
	memcpy(data, ok, sizeof(ok));
	cr_assert(eq(int, decode_checked(STREAM_ENC_XOR_RLE, data, sizeof(ok),
	    base, CODEC_PAGE_MAX), 0));
	/* ZLEN 65536: past the page. */
	memcpy(data, over, sizeof(over));
	cr_assert(eq(int, decode_checked(STREAM_ENC_XOR_RLE, data,
	    sizeof(over), base, CODEC_PAGE_MAX), -1));
	free(base);
	free(data);
}

Test(codec, lz4_blocks_of_the_wrong_size_are_rejected)
{
	uint8_t in[2 * PS], lz[LZ4_COMPRESSBOUND(2 * PS)], base[PS] = { 0 };
	static const uint32_t sizes[] = { 1, PS / 2, PS - 1, PS + 1, 2 * PS };

	fill_text(in, sizeof(in), 9);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int n = LZ4_compress_default((const char *)in, (char *)lz,
		    (int)sizes[i], (int)sizeof(lz));

		cr_assert(gt(int, n, 0));
		if ((uint32_t)n >= PS)
			continue;
		cr_assert(eq(int, decode_exact(STREAM_ENC_LZ4, lz, (uint32_t)n,
		    NULL), -1), "size %u", sizes[i]);
		cr_assert(eq(int, decode_exact(STREAM_ENC_XOR_LZ4, lz,
		    (uint32_t)n, base), -1), "size %u", sizes[i]);
	}
	/* Exactly a page: fine. */
	int n = LZ4_compress_default((const char *)in, (char *)lz, PS,
	    (int)sizeof(lz));
	cr_assert(eq(int, decode_exact(STREAM_ENC_LZ4, lz, (uint32_t)n, NULL),
	    0));
}

Test(codec, random_garbage_never_escapes_out)
{
	uint8_t data[PS], base[PS];

	fill_random(base, PS);
	for (int i = 0; i < 3000; i++) {
		uint16_t enc = (uint16_t)(rnd() % (STREAM_ENC_MAX + 1));
		uint32_t len = (uint32_t)(rnd() % (i < 2000 ? 64 : PS + 1));

		fill_random(data, len);
		/* Bias toward plausible runs: small uleb values. */
		if (enc == STREAM_ENC_XOR_RLE && (i & 1))
			for (uint32_t k = 0; k < len; k += 1 + rnd() % 16)
				data[k] &= 0x7f;
		decode_exact(enc, data, len, base);
	}
}

Test(codec, mutated_valid_data_never_escapes_out)
{
	static const int encs[] = { STREAM_ENC_LZ4, STREAM_ENC_XOR_LZ4,
	    STREAM_ENC_XOR_RLE };
	uint8_t dst[PS], base[PS], m[PS];

	for (size_t e = 0; e < sizeof(encs) / sizeof(encs[0]); e++) {
		uint32_t len = encode_sample(encs[e], dst, base);

		for (int i = 0; i < 1000; i++) {
			memcpy(m, dst, len);
			for (int k = 0; k < 1 + i % 4; k++)
				m[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
			decode_exact((uint16_t)encs[e], m, len, base);
		}
	}
}

/* Blobs (a device model's state): packed and unpacked to the same bytes;
 * whatever is wrong with a packed blob is EINVAL, and OUT is never
 * written past RAW. */
Test(codec, blobs_round_trip_and_bad_ones_are_refused)
{
	static uint8_t raw[200000], packed[210000], out[200000 + 64];
	size_t n = 0, len = 0, i;

	/* QEMU's state: a few registers in a mostly zero register file */
	memcpy(raw, "QEVM\0\0\0\3", 8);
	for (i = 0; i < 300; i++)
		raw[(i * 7919) % sizeof(raw)] = (uint8_t)(i * 31 + 1);
	cr_assert_geq(codec_blob_bound(sizeof(raw)), sizeof(raw));
	cr_assert_eq(codec_blob_bound(0), 0);
	cr_assert_eq(codec_blob_bound(CODEC_BLOB_MAX + 1), 0);
	cr_assert_eq(codec_blob_pack(raw, sizeof(raw), packed, &n), 0);
	cr_assert_lt(n, sizeof(raw) / 20, "200 KB mostly zero packed to %zu",
	    n);
	cr_assert_eq(codec_blob_len(packed, n, &len), 0);
	cr_assert_eq(len, sizeof(raw));
	memset(out, 0xa5, sizeof(out));
	cr_assert_eq(codec_blob_unpack(packed, n, out, len), 0);
	cr_assert_eq(memcmp(out, raw, sizeof(raw)), 0);
	for (i = sizeof(raw); i < sizeof(out); i++)
		cr_assert_eq(out[i], 0xa5, "wrote past RAW");

	/* the wrong raw length, either way */
	cr_assert_eq(codec_blob_unpack(packed, n, out, len - 1), -1);
	cr_assert_eq(errno, EINVAL);
	packed[0]++;
	cr_assert_eq(codec_blob_unpack(packed, n, out, len + 1), -1);
	packed[0]--;
	/* a length of 0, or over CODEC_BLOB_MAX */
	{
		uint8_t z[8] = { 0, 0, 0, 0, 1, 2, 3, 4 };
		uint8_t big[8] = { 1, 0, 0, 0x10, 1, 2, 3, 4 };

		cr_assert_eq(codec_blob_len(z, sizeof(z), &len), -1);
		cr_assert_eq(codec_blob_len(big, sizeof(big), &len), -1);
		cr_assert_eq(codec_blob_len(z, 4, &len), -1, "no block");
	}
	/* truncated, and a damaged block */
	cr_assert_eq(codec_blob_unpack(packed, n - 1, out, sizeof(raw)), -1);
	for (i = 4; i < n; i += 3) {
		uint8_t keep = packed[i];

		packed[i] ^= 0x5a;
		memset(out + sizeof(raw), 0xa5, 64);
		/* either refused or decoded to exactly RAW bytes: never more */
		(void)codec_blob_unpack(packed, n, out, sizeof(raw));
		for (size_t k = sizeof(raw); k < sizeof(out); k++)
			cr_assert_eq(out[k], 0xa5, "wrote past RAW");
		packed[i] = keep;
	}
}
