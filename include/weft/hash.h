/* A fast non-cryptographic 64-bit hash for cache keys and checksums (the tokenized-data cache,
 * tokenizer fingerprints). Not for security: it only has to make accidental collisions and
 * undetected corruption vanishingly unlikely. Values are stable across runs on one machine
 * (words are read in host byte order). */
#ifndef WEFT_HASH_H
#define WEFT_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t wf_hash64(const void *data, size_t n, uint64_t seed);

/* Mixes v into h (order matters): for hashing a sequence of values. */
static inline uint64_t wf_hash_combine(uint64_t h, uint64_t v) {
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    v ^= v >> 33;
    return (h ^ v) * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
}

#endif
