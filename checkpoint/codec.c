/* checkpoint/codec.c -- page codec: ZERO, RAW, LZ4, XOR_LZ4, XOR_RLE.
 *
 * Encodings of one page of PAGE_SIZE bytes (enum stream_page_enc):
 *
 *   ZERO     length 0.  The page is all zero.
 *   RAW      length page_size.  The page as is.
 *   LZ4      one LZ4 block (lz4 block format) that decodes to exactly
 *            page_size bytes; 0 < length < page_size.
 *   XOR_LZ4  one LZ4 block that decodes to exactly page_size bytes, the
 *            delta D = new XOR base, where base is the backup's committed
 *            copy of the page; 0 < length < page_size.
 *   XOR_RLE  the delta D = new XOR base as runs, byte format below;
 *            0 <= length < page_size.
 *
 * XOR_RLE byte format
 * -------------------
 * The data is a sequence of zero or more runs, nothing else:
 *
 *     run := ZLEN:uleb128  LLEN:uleb128  LIT[LLEN]
 *
 * Decoding starts at page offset 0.  Each run first skips ZLEN bytes where
 * D is zero (the page keeps the base's bytes), then gives the next LLEN
 * bytes of D literally (page byte = base byte XOR LIT byte).  Every byte
 * after the last run is zero in D.  So an empty XOR_RLE (length 0) means
 * "unchanged from the base".
 *
 * uleb128: 7 value bits per byte, least significant group first, bit 7
 * set on every byte but the last.  At most 3 bytes (values < 2^21), and
 * minimal: a last byte of 0x00 is only allowed as the single byte of the
 * value 0.
 *
 * The decoder rejects (EINVAL) data where:
 *   - a uleb128 is cut short by the end of the data, longer than 3 bytes,
 *     or not minimal;
 *   - ZLEN is 0 in any run but the first (adjacent literals are one run);
 *   - LLEN is 0;
 *   - offset + ZLEN + LLEN exceeds page_size, or LIT runs past the data;
 *   - length >= page_size (such a page must go RAW).
 * The decoder does not require LIT bytes to be non-zero or zero runs to
 * be maximal: an encoder may keep a short zero gap inside a literal.
 *
 * This encoder compares the page with its cached copy 32 bytes at a time,
 * so it only splits literals at gaps of at least one whole equal 32-byte
 * block, and trims each literal to its first and last changed byte.
 * Example, page_size 4096, bytes 100..109 changed: 64 0a <10 delta bytes>
 * (ZLEN 100, LLEN 10), 12 bytes in all.
 *
 * The encoder's cache
 * -------------------
 * The primary remembers the last content it sent for each page in a
 * bounded cache of NSLOTS page-sized slots (one allocation, no per-page
 * malloc).  An open-addressing hash table (linear probing, backward-shift
 * delete) maps pfn -> slot; eviction is CLOCK (second chance) over the
 * slots, so lookup, insert and evict are O(1) expected.  A page found in
 * the cache goes as an XOR delta; a miss goes LZ4 (or RAW) and is then
 * cached.  The cache always equals what the backup holds once the stream
 * so far is applied, because every encode updates it.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "codec.h"
#include "compiler.h"
#include "stream-format.h"

#define BLK		32u		/* compare granularity, bytes */
#define MASK_WORDS	(CODEC_PAGE_MAX / BLK / 64)
#define SLOT_NONE	UINT64_MAX	/* pfn of an unused slot */
#define LZ4_BACKOFF_MAX	6		/* try at least 1 in 64 candidates */

_Static_assert(STREAM_ENC_MAX <= 8, "codec_stats.pages has 8 entries");
_Static_assert(CODEC_PAGE_MIN % (BLK * 64) == 0, "mask words are whole");
/* first_nonzero/last_nonzero_end read bytes out of little-endian words. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian only");

/* Per-CPU-feature kernels, chosen once in codec_new. */
struct codec_kernels {
	/* Set bit b of MASK iff 32-byte block b of SRC and OLD differ;
	 * return whether SRC has any non-zero byte. */
	bool	(*scan)(const uint8_t *src, const uint8_t *old, size_t n,
		    uint64_t *mask);
	/* DELTA = SRC ^ OLD, then OLD = SRC, over N bytes (multiple of BLK). */
	void	(*xor_update)(uint8_t *delta, const uint8_t *src, uint8_t *old,
		    size_t n);
	bool	(*is_zero)(const uint8_t *src, size_t n);
};

struct codec {
	uint32_t	page_size;
	int		compress;
	struct codec_kernels k;

	/* Cache.  NSLOTS == 0: no cache. */
	uint32_t	nslots;
	uint32_t	nused;		/* slots handed out so far */
	uint32_t	hand;		/* CLOCK hand */
	uint8_t		*slots;		/* nslots * page_size */
	uint64_t	*slot_pfn;	/* SLOT_NONE when unused */
	uint8_t		*slot_ref;	/* CLOCK reference bits */
	uint32_t	*table;		/* slot + 1, 0 = empty */
	uint32_t	table_mask;
	unsigned	table_shift;	/* 64 - log2(table size) */

	void		*lz4_state;
	uint8_t		*delta;		/* page_size, XOR delta scratch */
	uint8_t		*tmp;		/* page_size, XOR_LZ4 output */
	uint64_t	mask[MASK_WORDS];
	/* XOR_LZ4 back-off: after an attempt that did not win, skip the
	 * next 2^shift - 1 candidates (shift <= LZ4_BACKOFF_MAX), so random
	 * deltas cost little LZ4 time and compressible ones are found fast. */
	uint32_t	xlz4_skip;
	unsigned	xlz4_shift;

	struct codec_stats stats;
};

/* ---- Kernels -------------------------------------------------------- */

static inline uint64_t
load64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
store64(void *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static bool
scan_generic(const uint8_t *src, const uint8_t *old, size_t n, uint64_t *mask)
{
	uint64_t acc = 0;
	size_t b, nb = n / BLK;

	for (b = 0; b < nb; b += 64) {
		uint64_t m = 0;
		unsigned i;

		for (i = 0; i < 64; i++) {
			const uint8_t *s = src + (b + i) * BLK;
			const uint8_t *o = old + (b + i) * BLK;
			uint64_t s0 = load64(s), s1 = load64(s + 8);
			uint64_t s2 = load64(s + 16), s3 = load64(s + 24);
			uint64_t x = (s0 ^ load64(o)) | (s1 ^ load64(o + 8)) |
			    (s2 ^ load64(o + 16)) | (s3 ^ load64(o + 24));

			acc |= s0 | s1 | s2 | s3;
			m |= (uint64_t)(x != 0) << i;
		}
		mask[b / 64] = m;
	}
	return acc != 0;
}

static void
xor_update_generic(uint8_t *delta, const uint8_t *src, uint8_t *old, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 8) {
		uint64_t s = load64(src + i);

		store64(delta + i, s ^ load64(old + i));
		store64(old + i, s);
	}
}

static bool
is_zero_generic(const uint8_t *src, size_t n)
{
	size_t i, j;

	/* Most non-zero pages fail on the first word. */
	if (load64(src) != 0)
		return false;
	for (i = 0; i < n; i += 256) {
		uint64_t acc = 0;

		for (j = 0; j < 256; j += 8)
			acc |= load64(src + i + j);
		if (acc)
			return false;
	}
	return true;
}

static const struct codec_kernels kernels_generic = {
	.scan = scan_generic,
	.xor_update = xor_update_generic,
	.is_zero = is_zero_generic,
};

#if defined(__x86_64__)
__attribute__((target("avx2"))) static bool
scan_avx2(const uint8_t *src, const uint8_t *old, size_t n, uint64_t *mask)
{
	__m256i acc = _mm256_setzero_si256();
	size_t b, nb = n / BLK;

	for (b = 0; b < nb; b += 64) {
		uint64_t m = 0;
		unsigned i;

		for (i = 0; i < 64; i++) {
			const uint8_t *s = src + (b + i) * BLK;
			const uint8_t *o = old + (b + i) * BLK;
			__m256i vs = _mm256_loadu_si256((const __m256i *)s);
			__m256i vx = _mm256_xor_si256(vs,
			    _mm256_loadu_si256((const __m256i *)o));

			acc = _mm256_or_si256(acc, vs);
			m |= (uint64_t)!_mm256_testz_si256(vx, vx) << i;
		}
		mask[b / 64] = m;
	}
	return !_mm256_testz_si256(acc, acc);
}

__attribute__((target("avx2"))) static void
xor_update_avx2(uint8_t *delta, const uint8_t *src, uint8_t *old, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += BLK) {
		__m256i vs = _mm256_loadu_si256((const __m256i *)(src + i));
		__m256i vo = _mm256_loadu_si256((const __m256i *)(old + i));

		_mm256_storeu_si256((__m256i *)(delta + i),
		    _mm256_xor_si256(vs, vo));
		_mm256_storeu_si256((__m256i *)(old + i), vs);
	}
}

__attribute__((target("avx2"))) static bool
is_zero_avx2(const uint8_t *src, size_t n)
{
	size_t i;

	if (load64(src) != 0)
		return false;
	for (i = 0; i < n; i += 256) {
		const __m256i *p = (const __m256i *)(src + i);
		__m256i a = _mm256_or_si256(
		    _mm256_or_si256(_mm256_loadu_si256(p),
			_mm256_loadu_si256(p + 1)),
		    _mm256_or_si256(_mm256_loadu_si256(p + 2),
			_mm256_loadu_si256(p + 3)));
		__m256i b = _mm256_or_si256(
		    _mm256_or_si256(_mm256_loadu_si256(p + 4),
			_mm256_loadu_si256(p + 5)),
		    _mm256_or_si256(_mm256_loadu_si256(p + 6),
			_mm256_loadu_si256(p + 7)));

		a = _mm256_or_si256(a, b);
		if (!_mm256_testz_si256(a, a))
			return false;
	}
	return true;
}

static const struct codec_kernels kernels_avx2 = {
	.scan = scan_avx2,
	.xor_update = xor_update_avx2,
	.is_zero = is_zero_avx2,
};
#endif

/* AVX2 when the CPU has it; REMUS_CODEC_GENERIC=1 forces the portable
 * kernels (the unit tests use it to cover them on any machine). */
static const struct codec_kernels *
pick_kernels(void)
{
#if defined(__x86_64__)
	const char *env = getenv("REMUS_CODEC_GENERIC");

	if ((env == NULL || *env == '\0' || *env == '0') &&
	    __builtin_cpu_supports("avx2"))
		return &kernels_avx2;
#endif
	return &kernels_generic;
}

/* ---- Cache -------------------------------------------------------- */

static inline uint32_t
hash_pfn(const struct codec *c, uint64_t pfn)
{
	return (uint32_t)((pfn * 0x9e3779b97f4a7c15ull) >> c->table_shift);
}

/* Table index holding PFN, or the empty index where it would go. */
static inline uint32_t
table_find(const struct codec *c, uint64_t pfn, bool *found)
{
	uint32_t i = hash_pfn(c, pfn) & c->table_mask, e;

	while ((e = c->table[i]) != 0) {
		if (c->slot_pfn[e - 1] == pfn) {
			*found = true;
			return i;
		}
		i = (i + 1) & c->table_mask;
	}
	*found = false;
	return i;
}

/* Remove table entry I, shifting later entries of its cluster back so
 * lookups never stop early (no tombstones). */
static void
table_delete(struct codec *c, uint32_t i)
{
	uint32_t j = i, e, k;

	for (;;) {
		j = (j + 1) & c->table_mask;
		if ((e = c->table[j]) == 0)
			break;
		k = hash_pfn(c, c->slot_pfn[e - 1]) & c->table_mask;
		/* Entry J may move to I unless its home K lies in (I, J]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		c->table[i] = e;
		i = j;
	}
	c->table[i] = 0;
}

/* Take a slot for PFN (not in the cache), evicting if needed; the slot's
 * content is the caller's to fill. */
static uint8_t *
cache_insert(struct codec *c, uint64_t pfn, uint32_t ti)
{
	uint32_t s;
	bool found;

	if (c->nused < c->nslots) {
		s = c->nused++;
	} else {
		while (c->slot_ref[c->hand]) {
			c->slot_ref[c->hand] = 0;
			if (++c->hand == c->nslots)
				c->hand = 0;
		}
		s = c->hand;
		if (++c->hand == c->nslots)
			c->hand = 0;
		table_delete(c, table_find(c, c->slot_pfn[s], &found));
		assert(found);
		c->stats.cache_evictions++;
		/* The delete may have moved PFN's empty spot. */
		ti = table_find(c, pfn, &found);
	}
	c->slot_pfn[s] = pfn;
	c->slot_ref[s] = 0;
	c->table[ti] = s + 1;
	return c->slots + (size_t)s * c->page_size;
}

void
codec_reset(struct codec *c)
{
	if (c == NULL || c->nslots == 0)
		return;
	memset(c->table, 0, ((size_t)c->table_mask + 1) * sizeof(*c->table));
	memset(c->slot_ref, 0, c->nslots);
	for (uint32_t s = 0; s < c->nslots; s++)
		c->slot_pfn[s] = SLOT_NONE;
	c->nused = 0;
	c->hand = 0;
}

/* ---- Encoder ------------------------------------------------------ */

static inline uint8_t *
put_uleb(uint8_t *p, uint32_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* First index >= FROM whose bit is set (WANT 1) or clear (WANT 0) in the
 * NW-word bitmap M; NW * 64 if none. */
static inline size_t
find_bit(const uint64_t *m, size_t nw, size_t from, int want)
{
	size_t w = from / 64;
	uint64_t x;

	if (w >= nw)
		return nw * 64;
	x = (want ? m[w] : ~m[w]) & (~0ull << (from % 64));
	while (x == 0) {
		if (++w == nw)
			return nw * 64;
		x = want ? m[w] : ~m[w];
	}
	return w * 64 + (size_t)__builtin_ctzll(x);
}

/* Offset of the first non-zero byte in block P (which has one). */
static inline uint32_t
first_nonzero(const uint8_t *p)
{
	for (uint32_t k = 0; k < BLK; k += 8) {
		uint64_t w = load64(p + k);

		if (w)
			return k + (uint32_t)__builtin_ctzll(w) / 8;
	}
	assert(!"block has no non-zero byte");
	return 0;
}

/* One past the last non-zero byte in block P (which has one). */
static inline uint32_t
last_nonzero_end(const uint8_t *p)
{
	for (uint32_t k = BLK; k > 0; k -= 8) {
		uint64_t w = load64(p + k - 8);

		if (w)
			return k - (uint32_t)__builtin_clzll(w) / 8;
	}
	assert(!"block has no non-zero byte");
	return 0;
}

/* The delta of a cached page: c->mask says which blocks changed, OLD is
 * the cached copy (updated here to SRC).  Writes the XOR_RLE coding into
 * DST if it fits in LIMIT bytes and returns its length, or returns
 * UINT32_MAX.  With FULL, c->delta holds the whole delta afterwards (zero
 * in unchanged blocks) for an LZ4 attempt. */
static uint32_t
encode_rle(struct codec *c, const uint8_t *src, uint8_t *old, uint8_t *dst,
    uint32_t limit, bool full)
{
	size_t nw = c->page_size / BLK / 64, nb = nw * 64;
	size_t bs, be = 0;
	uint32_t pos = 0, len = 0;
	bool fits = true;

	for (;;) {
		bs = find_bit(c->mask, nw, be, 1);
		if (full && bs > be)
			memset(c->delta + be * BLK, 0, (bs - be) * BLK);
		if (bs == nb)
			break;
		be = find_bit(c->mask, nw, bs, 0);
		c->k.xor_update(c->delta + bs * BLK, src + bs * BLK,
		    old + bs * BLK, (be - bs) * BLK);
		if (!fits)
			continue;

		uint32_t start = (uint32_t)(bs * BLK) +
		    first_nonzero(c->delta + bs * BLK);
		uint32_t end = (uint32_t)((be - 1) * BLK) +
		    last_nonzero_end(c->delta + (be - 1) * BLK);
		uint32_t llen = end - start;

		/* Two uleb128 of values < 2^17 take at most 6 bytes. */
		if (len + 6 + llen > limit) {
			fits = false;
			continue;
		}
		uint8_t *p = put_uleb(dst + len, start - pos);
		p = put_uleb(p, llen);
		memcpy(p, c->delta + start, llen);
		len = (uint32_t)(p - dst) + llen;
		pos = end;
	}
	return fits ? len : UINT32_MAX;
}

static int
lz4_into(struct codec *c, const uint8_t *in, uint8_t *out, uint32_t limit)
{
	if (limit == 0)
		return 0;
	return LZ4_compress_fast_extState(c->lz4_state, (const char *)in,
	    (char *)out, (int)c->page_size, (int)limit, 1);
}

int
codec_encode(struct codec *c, uint64_t pfn, const void *srcv, void *dstv,
    uint32_t *lenp, uint16_t *encp)
{
	const uint8_t *src = srcv;
	uint8_t *dst = dstv, *old;
	uint32_t ps, len, ti = 0;
	uint16_t enc;
	bool found = false;
	int n;

	if (c == NULL || src == NULL || dst == NULL || lenp == NULL ||
	    encp == NULL) {
		errno = EINVAL;
		return -1;
	}
	ps = c->page_size;

	if (c->nslots == 0)
		goto uncached;
	ti = table_find(c, pfn, &found);
	if (!found) {
		c->stats.cache_misses++;
		goto uncached;
	}
	c->stats.cache_hits++;
	old = c->slots + (size_t)(c->table[ti] - 1) * ps;
	c->slot_ref[c->table[ti] - 1] = 1;

	bool nonzero = c->k.scan(src, old, ps, c->mask);
	size_t nw = ps / BLK / 64, changed = 0;

	for (size_t w = 0; w < nw; w++)
		changed += (size_t)__builtin_popcountll(c->mask[w]);
	/* Beyond 1/8 of the page changed, an LZ4 block of the delta may
	 * beat the runs (compressible new content); below, runs win. */
	bool try_lz4 = nonzero && changed * BLK > ps / 8;

	if (try_lz4 && c->xlz4_skip > 0) {
		c->xlz4_skip--;
		try_lz4 = false;
	}
	len = encode_rle(c, src, old, dst, ps - 1, try_lz4);
	if (!nonzero) {
		enc = STREAM_ENC_ZERO;
		len = 0;
		goto out;
	}
	enc = STREAM_ENC_XOR_RLE;
	if (try_lz4) {
		uint32_t lim = len == UINT32_MAX ? ps - 1 : len - 1;

		n = lz4_into(c, c->delta, c->tmp, lim);
		if (n > 0) {
			memcpy(dst, c->tmp, (size_t)n);
			len = (uint32_t)n;
			enc = STREAM_ENC_XOR_LZ4;
			c->xlz4_shift = 0;
		} else {
			if (c->xlz4_shift < LZ4_BACKOFF_MAX)
				c->xlz4_shift++;
			c->xlz4_skip = (1u << c->xlz4_shift) - 1;
		}
	}
	if (len == UINT32_MAX) {
		memcpy(dst, src, ps);
		len = ps;
		enc = STREAM_ENC_RAW;
	}
	goto out;

uncached:
	if (c->k.is_zero(src, ps)) {
		/* Not cached: a zero page needs no slot, ZERO costs nothing. */
		enc = STREAM_ENC_ZERO;
		len = 0;
		goto out;
	}
	n = c->compress ? lz4_into(c, src, dst, ps - 1) : 0;
	if (n > 0) {
		enc = STREAM_ENC_LZ4;
		len = (uint32_t)n;
	} else {
		memcpy(dst, src, ps);
		enc = STREAM_ENC_RAW;
		len = ps;
	}
	if (c->nslots != 0)
		memcpy(cache_insert(c, pfn, ti), src, ps);

out:
	c->stats.pages[enc]++;
	c->stats.raw_bytes += ps;
	c->stats.wire_bytes += len;
	*encp = enc;
	*lenp = len;
	return 0;
}

/* ---- Setup -------------------------------------------------------- */

static bool
page_size_ok(uint32_t ps)
{
	return ps >= CODEC_PAGE_MIN && ps <= CODEC_PAGE_MAX &&
	    (ps & (ps - 1)) == 0;
}

struct codec *
codec_new(uint32_t page_size, size_t cache_bytes, int compress)
{
	struct codec *c;
	size_t nslots, tsize;
	unsigned bits;

	if (!page_size_ok(page_size)) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->page_size = page_size;
	c->compress = compress != 0;
	c->k = *pick_kernels();

	/* Without compression there are no deltas: no cache. */
	nslots = compress ? cache_bytes / page_size : 0;
	if (nslots > (1u << 30)) {
		errno = EINVAL;
		goto err;
	}
	if (nslots > 0) {
		/* Load factor <= 1/2 keeps probe sequences short. */
		for (bits = 1, tsize = 2; tsize < 2 * nslots; bits++)
			tsize *= 2;
		c->nslots = (uint32_t)nslots;
		c->table_mask = (uint32_t)(tsize - 1);
		c->table_shift = 64 - bits;
		c->slots = aligned_alloc(64, nslots * page_size);
		c->slot_pfn = malloc(nslots * sizeof(*c->slot_pfn));
		c->slot_ref = malloc(nslots);
		c->table = malloc(tsize * sizeof(*c->table));
		if (c->slots == NULL || c->slot_pfn == NULL ||
		    c->slot_ref == NULL || c->table == NULL)
			goto err;
		codec_reset(c);
	}
	if (c->compress) {
		c->lz4_state = malloc((size_t)LZ4_sizeofState());
		c->delta = aligned_alloc(64, page_size);
		c->tmp = aligned_alloc(64, page_size);
		if (c->lz4_state == NULL || c->delta == NULL || c->tmp == NULL)
			goto err;
	}
	return c;
err:
	codec_free(c);
	return NULL;
}

void
codec_free(struct codec *c)
{
	int saved_errno = errno;

	if (c == NULL)
		return;
	free(c->slots);
	free(c->slot_pfn);
	free(c->slot_ref);
	free(c->table);
	free(c->lz4_state);
	free(c->delta);
	free(c->tmp);
	free(c);
	errno = saved_errno;
}

size_t
codec_bound(uint32_t page_size)
{
	return page_size;
}

void
codec_get_stats(const struct codec *c, struct codec_stats *st)
{
	*st = c->stats;
}

/* ---- Decoder ------------------------------------------------------ */

/* Read a uleb128 (at most 3 bytes, minimal) at *PP before END. */
static inline int
get_uleb(const uint8_t **pp, const uint8_t *end, uint32_t *v)
{
	const uint8_t *p = *pp;
	uint32_t r = 0;

	for (unsigned i = 0; i < 3; i++) {
		uint8_t b;

		if (p == end)
			return -1;
		b = *p++;
		r |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return -1;
			*v = r;
			*pp = p;
			return 0;
		}
	}
	return -1;
}

/* Check that DATA is a well-formed XOR_RLE coding for PS bytes. */
static int
rle_check(const uint8_t *p, const uint8_t *end, uint32_t ps)
{
	uint32_t pos = 0, z, l;

	while (p < end) {
		if (get_uleb(&p, end, &z) == -1 || (z == 0 && pos != 0))
			return -1;
		if (get_uleb(&p, end, &l) == -1 || l == 0)
			return -1;
		if (z > ps - pos || l > ps - pos - z ||
		    l > (size_t)(end - p))
			return -1;
		pos += z + l;
		p += l;
	}
	return 0;
}

static void
xor_into(uint8_t *out, const uint8_t *lit, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		store64(out + i, load64(out + i) ^ load64(lit + i));
	for (; i < n; i++)
		out[i] ^= lit[i];
}

/* Scratch for the LZ4 encodings, so OUT is untouched on error and may
 * equal BASE.  Per thread: codec_decode needs no context. */
static __thread uint8_t decode_tmp[CODEC_PAGE_MAX] __attribute__((aligned(64)));

int
codec_decode(uint16_t enc, const void *datav, uint32_t len, const void *basev,
    void *outv, uint32_t page_size)
{
	const uint8_t *data = datav, *base = basev, *p, *end;
	uint8_t *out = outv;
	uint32_t pos = 0, z = 0, l = 0;
	size_t i;

	if (!page_size_ok(page_size) || out == NULL ||
	    (len > 0 && data == NULL))
		goto einval;

	switch (enc) {
	case STREAM_ENC_ZERO:
		if (len != 0)
			goto einval;
		memset(out, 0, page_size);
		return 0;
	case STREAM_ENC_RAW:
		if (len != page_size)
			goto einval;
		memmove(out, data, page_size);
		return 0;
	case STREAM_ENC_LZ4:
	case STREAM_ENC_XOR_LZ4:
		if (len == 0 || len >= page_size ||
		    (enc == STREAM_ENC_XOR_LZ4 && base == NULL))
			goto einval;
		/* Safe variant only: bounded by both LEN and the page. */
		if (LZ4_decompress_safe((const char *)data, (char *)decode_tmp,
		    (int)len, (int)page_size) != (int)page_size)
			goto einval;
		if (enc == STREAM_ENC_LZ4) {
			memcpy(out, decode_tmp, page_size);
			return 0;
		}
		for (i = 0; i < page_size; i += 8)
			store64(out + i, load64(base + i) ^
			    load64(decode_tmp + i));
		return 0;
	case STREAM_ENC_XOR_RLE:
		if (len >= page_size || base == NULL)
			goto einval;
		if (len == 0) {
			if (out != base)
				memmove(out, base, page_size);
			return 0;
		}
		end = data + len;
		/* Validate everything before touching OUT. */
		if (rle_check(data, end, page_size) == -1)
			goto einval;
		if (out != base)
			memmove(out, base, page_size);
		for (p = data; p < end; p += l) {
			get_uleb(&p, end, &z);
			get_uleb(&p, end, &l);
			xor_into(out + pos + z, p, l);
			pos += z + l;
		}
		return 0;
	default:
		goto einval;
	}
einval:
	errno = EINVAL;
	return -1;
}

/* ---- blobs -------------------------------------------------------- */

static int
blob_einval(void)
{
	errno = EINVAL;
	return -1;
}

size_t
codec_blob_bound(size_t len)
{
	if (len == 0 || len > CODEC_BLOB_MAX)
		return 0;
	return 4 + (size_t)LZ4_compressBound((int)len);
}

int
codec_blob_pack(const void *src, size_t len, void *dst, size_t *out)
{
	uint8_t *d = dst;
	int n;

	if (src == NULL || dst == NULL || out == NULL ||
	    codec_blob_bound(len) == 0)
		return blob_einval();
	d[0] = (uint8_t)len;
	d[1] = (uint8_t)(len >> 8);
	d[2] = (uint8_t)(len >> 16);
	d[3] = (uint8_t)(len >> 24);
	n = LZ4_compress_default(src, (char *)d + 4, (int)len,
	    LZ4_compressBound((int)len));
	if (n <= 0)
		return blob_einval();
	*out = 4 + (size_t)n;
	return 0;
}

int
codec_blob_len(const void *data, size_t len, size_t *raw)
{
	const uint8_t *p = data;
	size_t n;

	if (data == NULL || len < 5)
		return blob_einval();
	n = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
	    (size_t)p[3] << 24;
	if (n == 0 || n > CODEC_BLOB_MAX)
		return blob_einval();
	*raw = n;
	return 0;
}

int
codec_blob_unpack(const void *data, size_t len, void *out, size_t raw)
{
	size_t want;

	if (codec_blob_len(data, len, &want) == -1 || want != raw ||
	    out == NULL || len - 4 > INT32_MAX)
		return blob_einval();
	/* Safe variant only: bounded by both the block and OUT. */
	if (LZ4_decompress_safe((const char *)data + 4, out, (int)(len - 4),
	    (int)raw) != (int)raw)
		return blob_einval();
	return 0;
}
