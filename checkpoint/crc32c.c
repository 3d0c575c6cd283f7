/* checkpoint/crc32c.c -- CRC32C (Castagnoli, reflected polynomial
 * 0x82F63B78), the checksum of the stream format.
 *
 * CRC32C rather than CRC32 or a hash because x86 has an instruction for it
 * (SSE4.2 crc32, one 8-byte step per cycle of throughput), so the backup
 * checks an epoch in one pass at memory speed.  Without SSE4.2 a
 * slice-by-8 table does 8 bytes per step in software.
 *
 * The implementation is chosen once, in a constructor, so every call is a
 * plain indirect call with no check and no race.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define HAVE_SSE42_PATH 1
#endif

#include "stream.h"

#define POLY	0x82F63B78u

static uint32_t	crc_table[8][256];

typedef uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);

static uint32_t
crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	/* Bytewise until 8-aligned so the 8-byte loads below are aligned
	 * (only a speed matter: they go through memcpy anyway). */
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint32_t lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		lo = __builtin_bswap32(lo);
		hi = __builtin_bswap32(hi);
#endif
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^
		    crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^
		    crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^
		    crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^
		    crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#ifdef HAVE_SSE42_PATH
__attribute__((target("sse4.2")))
static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		crc = _mm_crc32_u8(crc, *p++);
		len--;
	}
#ifdef __x86_64__
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
#endif
	while (len >= 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		crc = _mm_crc32_u32(crc, v);
		p += 4;
		len -= 4;
	}
	while (len-- > 0)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}
#endif

static crc_fn	crc_impl = crc_sw;

__attribute__((constructor))
static void
crc_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		crc_table[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = crc_table[0][crc_table[t - 1][i] & 0xff] ^
			    (crc_table[t - 1][i] >> 8);
#ifdef HAVE_SSE42_PATH
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc_impl = crc_hw;
#endif
}

uint32_t
stream_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return ~crc_impl(~crc, buf, len);
}

/* Test hook: the software path alone, to check it against the hardware
 * one.  Not in stream.h: only tests declare it. */
uint32_t	stream_crc32c_sw(uint32_t crc, const void *buf, size_t len);

uint32_t
stream_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	return ~crc_sw(~crc, buf, len);
}
