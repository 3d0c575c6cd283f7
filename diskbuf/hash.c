/* diskbuf/hash.c -- a 128-bit block digest (XXH3-128).  Fast and
 * good at accidental differences, which is all the initial sync and the
 * tests need; it is not a defence against a malicious primary (the
 * backup trusts the primary for everything anyway). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "diskbuf.h"
#include "diskbuf-int.h"

/* The block digest is XXH3's 128-bit hash from libxxhash: published,
 * maintained, and vectorised, so hashing runs near memory speed. */
void
diskbuf_hash(const void *buf, size_t len, uint8_t out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(buf, len));
	memcpy(out, c.digest, 16);
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
