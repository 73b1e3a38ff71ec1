/* Counter-based random numbers: Philox-4x32-10 (Salmon et al., SC'11, "Parallel random numbers:
 * as easy as 1, 2, 3"; the generator cuRAND and PyTorch use). A value depends only on
 * (seed, step, stream id, element index), so dropout draws the same mask on every backend, in
 * any thread order, and after a resume. Usable from host C and CUDA device code. */
#ifndef WEFT_RNG_H
#define WEFT_RNG_H

#include <stdint.h>

#include "weft/dtype.h" /* WF_HD */

typedef struct wf_philox4 { uint32_t v[4]; } wf_philox4;

WF_HD uint32_t wf_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

WF_HD wf_philox4 wf_philox4x32_10(wf_philox4 ctr, uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = wf_mulhilo32(0xD2511F53u, ctr.v[0], &hi0);
        uint32_t lo1 = wf_mulhilo32(0xCD9E8D57u, ctr.v[2], &hi1);
        wf_philox4 n = {{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
        ctr = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return ctr;
}

/* Uniform in [0, 1) with 24 random bits, for element `idx` of the stream (seed, step, stream). */
WF_HD float wf_rng_uniform(uint64_t seed, uint32_t step, uint32_t stream, uint64_t idx) {
    wf_philox4 c = {{(uint32_t)(idx >> 2), (uint32_t)(idx >> 34), step, stream}};
    wf_philox4 r = wf_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    return (float)(r.v[idx & 3] >> 8) * (1.0f / 16777216.0f);
}

#endif
