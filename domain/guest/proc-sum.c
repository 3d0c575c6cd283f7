/* domain/guest/proc-sum.c -- XXH64 (https://github.com/Cyan4973/xxHash,
 * doc/xxhash_spec.md), written from the specification. */
#include <string.h>

#include "proc-sum.h"

#define P1	0x9E3779B185EBCA87ull
#define P2	0xC2B2AE3D27D4EB4Full
#define P3	0x165667B19E3779F9ull
#define P4	0x85EBCA77C2B2AE63ull
#define P5	0x27D4EB2F165667C5ull

static inline uint64_t
rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t
rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;	/* little-endian hosts only, as the arena itself */
}

static inline uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t
round1(uint64_t acc, uint64_t in)
{
	acc += in * P2;
	acc = rotl(acc, 31);
	return acc * P1;
}

static inline uint64_t
merge(uint64_t acc, uint64_t v)
{
	acc ^= round1(0, v);
	return acc * P1 + P4;
}

void
proc_sum_init(struct proc_sum *s)
{
	memset(s, 0, sizeof *s);
	s->v[0] = P1 + P2;
	s->v[1] = P2;
	s->v[2] = 0;
	s->v[3] = 0 - P1;
}

static void
stripes(struct proc_sum *s, const uint8_t *p, size_t n)
{
	uint64_t v0 = s->v[0], v1 = s->v[1], v2 = s->v[2], v3 = s->v[3];

	for (; n >= 32; p += 32, n -= 32) {
		v0 = round1(v0, rd64(p));
		v1 = round1(v1, rd64(p + 8));
		v2 = round1(v2, rd64(p + 16));
		v3 = round1(v3, rd64(p + 24));
	}
	s->v[0] = v0;
	s->v[1] = v1;
	s->v[2] = v2;
	s->v[3] = v3;
}

void
proc_sum_update(struct proc_sum *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t take, bulk;

	s->total += len;
	if (s->buf_len) {
		take = 32 - s->buf_len;
		if (take > len)
			take = len;
		memcpy(s->buf + s->buf_len, p, take);
		s->buf_len += take;
		p += take;
		len -= take;
		if (s->buf_len < 32)
			return;
		stripes(s, s->buf, 32);
		s->buf_len = 0;
	}
	bulk = len & ~(size_t)31;
	stripes(s, p, bulk);
	memcpy(s->buf, p + bulk, len - bulk);
	s->buf_len = len - bulk;
}

uint64_t
proc_sum_final(const struct proc_sum *s)
{
	const uint8_t *p = s->buf;
	size_t n = s->buf_len;
	uint64_t h;

	if (s->total >= 32) {
		h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) +
		    rotl(s->v[3], 18);
		h = merge(h, s->v[0]);
		h = merge(h, s->v[1]);
		h = merge(h, s->v[2]);
		h = merge(h, s->v[3]);
	} else
		h = P5;
	h += s->total;
	for (; n >= 8; p += 8, n -= 8) {
		h ^= round1(0, rd64(p));
		h = rotl(h, 27) * P1 + P4;
	}
	if (n >= 4) {
		h ^= (uint64_t)rd32(p) * P1;
		h = rotl(h, 23) * P2 + P3;
		p += 4;
		n -= 4;
	}
	for (; n > 0; p++, n--) {
		h ^= (uint64_t)*p * P5;
		h = rotl(h, 11) * P1;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

uint64_t
proc_sum(const void *data, size_t len)
{
	struct proc_sum s;

	proc_sum_init(&s);
	proc_sum_update(&s, data, len);
	return proc_sum_final(&s);
}
