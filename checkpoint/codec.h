/* checkpoint/codec.h -- page codec: ZERO, RAW, LZ4, XOR deltas.
 *
 * The primary keeps a bounded cache of the last content it sent for each
 * page, so the next send of that page can be an XOR delta against what the
 * backup holds.  The backup needs no cache: it decodes against its replica.
 * A page whose encoding does not shrink it goes RAW; an all-zero page costs
 * only its header.
 */
#ifndef REMUS_CODEC_H
#define REMUS_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Page sizes the codec handles: powers of two in this range (the stream
 * format's range). */
#define CODEC_PAGE_MIN	4096u
#define CODEC_PAGE_MAX	65536u

/* Default XOR cache budget. */
#define CODEC_CACHE_DEFAULT	((size_t)64 << 20)

struct codec;

struct codec_stats {
	uint64_t	pages[8];	/* per enum stream_page_enc */
	uint64_t	cache_hits, cache_misses, cache_evictions;
	uint64_t	raw_bytes, wire_bytes;
};

/* PAGE_SIZE: guest page size.  CACHE_BYTES: XOR cache budget (0 = none;
 * it holds CACHE_BYTES / PAGE_SIZE pages, evicted CLOCK-wise).
 * COMPRESS: 0 means ZERO/RAW only (remus -u; no cache then).  NULL with
 * errno on failure (EINVAL: bad page size).  Caller frees with codec_free
 * (NULL ok).  One codec is not thread-safe; use one per encoding thread. */
struct codec	*codec_new(uint32_t page_size, size_t cache_bytes, int compress);
void		 codec_free(struct codec *);

/* Encode page PFN whose current content is SRC (page_size bytes, borrowed
 * for the call) into DST (caller's, at least codec_bound() bytes).  Sets
 * *ENC and *LEN (LEN <= page_size) and remembers SRC for the next delta:
 * the backup must apply the encoded pages in encode order, and pages
 * encoded but never applied (lost epoch, new backup) need codec_reset().
 * 0, or -1 with errno set (EINVAL: NULL argument). */
int	codec_encode(struct codec *, uint64_t pfn, const void *src,
	    void *dst, uint32_t *len, uint16_t *enc);

/* Forget every cached page (the backup's copy is no longer known, e.g.
 * after a new full checkpoint to a new backup). */
void	codec_reset(struct codec *);

/* Largest encoded size of one page (page_size: RAW). */
size_t	codec_bound(uint32_t page_size);
/* Counters since codec_new (codec_reset keeps them). */
void	codec_get_stats(const struct codec *, struct codec_stats *);

/* Decode DATA (LEN bytes, encoding ENC) into OUT (PAGE_SIZE bytes).  BASE
 * is the backup's committed copy of the page, used by the XOR encodings
 * (may be NULL for the others); OUT may equal BASE.  Never writes outside
 * OUT, whatever the input, and leaves OUT untouched on error: 0, or -1
 * with errno = EINVAL on malformed data (unknown encoding, wrong length
 * for it, bad LZ4 block or one not decoding to exactly PAGE_SIZE bytes,
 * bad runs, trailing bytes) or a bad PAGE_SIZE.  Thread-safe. */
int	codec_decode(uint16_t enc, const void *data, uint32_t len,
	    const void *base, void *out, uint32_t page_size);

/* Blobs: a device model's state, sent once per epoch whole (tens to
 * hundreds of KB, mostly zero: QEMU's e1000 alone carries its 128 KB
 * register file).  Packed as le32 raw length, then one LZ4 block.
 * codec_blob_bound: the most codec_blob_pack writes for LEN bytes (0 when
 * LEN is over CODEC_BLOB_MAX).  codec_blob_pack: SRC (LEN >= 1 bytes) into
 * DST (codec_blob_bound(LEN) bytes), *OUT its length; 0, or -1 with errno
 * EINVAL.  codec_blob_len: the raw length packed DATA (LEN bytes) says it
 * holds, 1 .. CODEC_BLOB_MAX, so that the caller bounds and allocates
 * first; 0, or -1 EINVAL.  codec_blob_unpack: DATA into OUT of exactly RAW
 * bytes (codec_blob_len's); never writes outside OUT; 0, or -1 EINVAL when
 * the block is bad, short, or decodes to another length.  Thread-safe. */
#define CODEC_BLOB_MAX	((size_t)64 << 20)
size_t	codec_blob_bound(size_t len);
int	codec_blob_pack(const void *src, size_t len, void *dst, size_t *out);
int	codec_blob_len(const void *data, size_t len, size_t *raw);
int	codec_blob_unpack(const void *data, size_t len, void *out, size_t raw);

#endif /* REMUS_CODEC_H */
