/* diskbuf/hash.c -- a 128-bit block digest: two XXH64 lanes (Yann Collet's
 * public algorithm, reimplemented here) with different seeds.  Fast and
 * good at accidental differences, which is all the initial sync and the
 * tests need; it is not a defence against a malicious primary (the
 * backup trusts the primary for everything anyway). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskbuf.h"
#include "diskbuf-int.h"

#define P1 11400714785074694791ull
#define P2 14029467366897019727ull
#define P3 1609587929392839161ull
#define P4 9650029242287828579ull
#define P5 2870177450012600261ull

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
	return v;
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

static uint64_t
xxh64(const void *buf, size_t len, uint64_t seed)
{
	const uint8_t *p = buf, *end = p + len;
	uint64_t h;

	if (len >= 32) {
		uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed,
		    v4 = seed - P1;

		do {
			v1 = round1(v1, rd64(p));
			v2 = round1(v2, rd64(p + 8));
			v3 = round1(v3, rd64(p + 16));
			v4 = round1(v4, rd64(p + 24));
			p += 32;
		} while (p + 32 <= end);
		h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
		h = merge(h, v1);
		h = merge(h, v2);
		h = merge(h, v3);
		h = merge(h, v4);
	} else
		h = seed + P5;
	h += (uint64_t)len;
	while (p + 8 <= end) {
		h ^= round1(0, rd64(p));
		h = rotl(h, 27) * P1 + P4;
		p += 8;
	}
	if (p + 4 <= end) {
		h ^= (uint64_t)rd32(p) * P1;
		h = rotl(h, 23) * P2 + P3;
		p += 4;
	}
	while (p < end) {
		h ^= (*p++) * P5;
		h = rotl(h, 11) * P1;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

void
diskbuf_hash(const void *buf, size_t len, uint8_t out[16])
{
	uint64_t a = xxh64(buf, len, 0), b = xxh64(buf, len, 0x9e3779b97f4a7c15ull);

	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

/* A whole-file digest: the hash of the per-MiB block hashes, so it does not
 * need the file in memory. */
int
diskbuf_hash_fd(int fd, uint64_t size, uint8_t out[16])
{
	const size_t blk = 1u << 20;
	uint8_t *buf = NULL, *sums = NULL;
	uint64_t nblk = (size + blk - 1) / blk, i;
	int rc = -1, err;

	buf = malloc(blk);
	sums = malloc((size_t)(nblk ? nblk : 1) * 16);
	if (buf == NULL || sums == NULL)
		goto out;
	for (i = 0; i < nblk; i++) {
		uint64_t off = i * blk;
		size_t n = size - off < blk ? (size_t)(size - off) : blk;

		if (pread_full(fd, buf, n, off) == -1)
			goto out;
		diskbuf_hash(buf, n, sums + i * 16);
	}
	diskbuf_hash(sums, (size_t)nblk * 16, out);
	rc = 0;
out:
	err = errno;
	free(buf);
	free(sums);
	errno = err;
	return rc;
}

void
diskbuf_hash_hex(const uint8_t in[16], char out[33])
{
	int i;

	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}
