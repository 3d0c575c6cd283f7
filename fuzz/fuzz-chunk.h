/* fuzz/fuzz-chunk.h -- the chunk sizes in which a harness hands its input
 * to the code under test, so that partial-record paths run as a socket
 * would drive them.  One generator for every target; each says which four
 * size classes it wants. */
#ifndef REMUS_FUZZ_CHUNK_H
#define REMUS_FUZZ_CHUNK_H

#include <stdint.h>

/* The next chunk size, 1 .. MAX[class]: xorshift32 on *STATE (nonzero),
 * deterministic for a given input; the class is the state's low 2 bits
 * (MAX[0] small enough to split record headers). */
static inline uint32_t
fuzz_next_chunk(uint32_t *state, const uint32_t max[4])
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return 1 + (x >> 8) % max[x & 3];
}

#endif /* REMUS_FUZZ_CHUNK_H */
