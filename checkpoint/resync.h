/* checkpoint/resync.h -- incremental resynchronisation: page hashes.
 *
 * When a backup still holds a committed replica of the guest, it reports
 * one hash per page (PAGE_HASHES, docs/stream-format.md 7.1) and the
 * primary's first epoch carries only the pages whose hash differs from
 * its own copy.  Both ends hash with this module, so they agree on the
 * function and its byte order.
 *
 * The hash is XXH3-128 (seed 0), stored low 64 bits then high 64 bits,
 * each little-endian.  Why 128 bits: a page whose hash collides with the
 * backup's stale copy is silently not sent, so the collision probability
 * is the probability of a wrong replica.  With 2^28 pages per resync
 * (1 TiB of 4 KiB pages) and a hash that behaves as random over 128 bits,
 * it is below 2^28 * 2^-128 = 2^-100 per resync; 64 bits would give
 * 2^-36, which a fleet running resyncs for years could meet.  (XXH3 is not
 * cryptographic: a guest that crafts a page colliding with the backup's
 * older copy of the same page only corrupts its own replica, which it
 * could do by writing the page.)
 */
#ifndef REMUS_RESYNC_H
#define REMUS_RESYNC_H

#include <stddef.h>
#include <stdint.h>

#include "stream-format.h"

/* OUT (STREAM_HASH_LEN bytes) = the wire hash of the LEN bytes at PAGE. */
void	resync_hash(const void *page, size_t len, uint8_t *out);

/* Hash N pages of PAGE_SIZE bytes starting at PAGES into OUT
 * (N * STREAM_HASH_LEN bytes). */
void	resync_hash_pages(const void *pages, size_t n, uint32_t page_size,
	    uint8_t *out);

/* 1 when the page at PAGE hashes to WIRE (a received hash, unaligned
 * ok), else 0. */
int	resync_page_matches(const void *page, size_t len, const uint8_t *wire);

#endif /* REMUS_RESYNC_H */
