/* Philox-4x32-10 against the known-answer vectors of Random123 (kat_vectors, philox4x32_10),
 * and the statistics dropout relies on. */
#include <math.h>
#include <stdio.h>

#include "weft/rng.h"

int main(void) {
    static const struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        wf_philox4 c = {{kat[i].ctr[0], kat[i].ctr[1], kat[i].ctr[2], kat[i].ctr[3]}};
        wf_philox4 r = wf_philox4x32_10(c, kat[i].key[0], kat[i].key[1]);
        for (int k = 0; k < 4; k++)
            if (r.v[k] != kat[i].out[k]) {
                fprintf(stderr, "FAIL philox KAT %zu word %d: expected 0x%08x got 0x%08x\n", i, k,
                        kat[i].out[k], r.v[k]);
                failures++;
            }
    }
    /* uniform: mean 1/2, variance 1/12, in [0, 1); different streams and steps differ */
    const int n = 1 << 20;
    double s = 0, s2 = 0;
    int same = 0;
    for (int i = 0; i < n; i++) {
        float u = wf_rng_uniform(1234, 7, 3, (uint64_t)i);
        if (!(u >= 0.0f && u < 1.0f)) failures++;
        s += u, s2 += (double)u * u;
        same += u == wf_rng_uniform(1234, 8, 3, (uint64_t)i);
    }
    double mean = s / n, var = s2 / n - mean * mean;
    /* 6 standard errors: sd(mean) = sqrt(1/12/n) ~ 2.8e-4 */
    if (fabs(mean - 0.5) > 6 * sqrt(1.0 / 12 / n) || fabs(var - 1.0 / 12) > 1e-3) {
        fprintf(stderr, "FAIL uniform: mean %.6f var %.6f\n", mean, var);
        failures++;
    }
    if (same > 16) { /* P(equal) = 2^-24 per draw */
        fprintf(stderr, "FAIL steps 7 and 8 drew %d equal values of %d\n", same, n);
        failures++;
    }
    printf("rng: %d failures (mean %.6f, var %.6f)\n", failures, mean, var);
    return failures ? 1 : 0;
}
