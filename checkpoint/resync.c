/* checkpoint/resync.c -- page hashes for the incremental resync (see
 * resync.h for the choice of XXH3-128). */
#include <string.h>

#include <xxhash.h>

#include "resync.h"

_Static_assert(STREAM_HASH_LEN == sizeof(XXH128_hash_t),
    "the wire hash is one XXH128_hash_t");

static void
st64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void
resync_hash(const void *page, size_t len, uint8_t *out)
{
	XXH128_hash_t h = XXH3_128bits(page, len);

	st64le(out, h.low64);
	st64le(out + 8, h.high64);
}

void
resync_hash_pages(const void *pages, size_t n, uint32_t page_size,
    uint8_t *out)
{
	const uint8_t *p = pages;

	for (size_t i = 0; i < n; i++)
		resync_hash(p + i * page_size, page_size,
		    out + i * STREAM_HASH_LEN);
}

int
resync_page_matches(const void *page, size_t len, const uint8_t *wire)
{
	uint8_t h[STREAM_HASH_LEN];

	resync_hash(page, len, h);
	return memcmp(h, wire, sizeof h) == 0;
}
