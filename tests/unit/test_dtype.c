/* fp32 <-> bf16 / fp16 conversions against independent references: the compiler's _Float16
 * (IEEE round to nearest even) for fp16, and a float64 nearest-candidate search for bf16. */
#include <math.h>
#include <stdio.h>

#include "weft/dtype.h"

#pragma GCC diagnostic ignored "-Wpedantic" /* _Float16 is an ISO/IEC TS 18661-3 extension */

static int failures;

static void fail(const char *what, uint32_t in, uint32_t want, uint32_t got) {
    if (failures++ < 10)
        fprintf(stderr, "FAIL %s: input 0x%08x expected 0x%04x got 0x%04x\n", what, in, want, got);
}

/* Round-to-nearest-even fp32 -> bf16 by comparing the two neighbouring bf16 values in float64. */
static uint16_t bf16_reference(uint32_t u) {
    float f = wf_bits_f32(u);
    if (isnan(f)) return 0; /* handled by the caller */
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    double dlo = fabs((double)f - wf_bf16_to_f32(lo));
    double dhi = (lo & 0x7fff) == 0x7f7f ? INFINITY : fabs((double)f - wf_bf16_to_f32(hi));
    if ((u & 0xffff) == 0) return lo;
    if ((lo & 0x7f80) == 0x7f80) return lo; /* inf */
    if ((uint16_t)(lo & 0x7fff) == 0x7f7f) { /* above max finite: ties and beyond go to inf */
        double half_ulp = ldexp(1.0, 127 - 8);
        return fabs((double)f) - fabs((double)wf_bf16_to_f32(lo)) >= half_ulp ? (uint16_t)(lo + 1) : lo;
    }
    if (dlo < dhi) return lo;
    if (dhi < dlo) return hi;
    return (lo & 1) ? hi : lo;
}

int main(void) {
    /* every fp16 value survives fp16 -> fp32 -> fp16, and fp16 -> fp32 matches the compiler */
    for (uint32_t h = 0; h < 65536; h++) {
        _Float16 ref;
        uint16_t hb = (uint16_t)h;
        memcpy(&ref, &hb, 2);
        float want = (float)ref, got = wf_f16_to_f32(hb);
        if (isnan(want) ? !isnan(got) : wf_f32_bits(want) != wf_f32_bits(got))
            fail("f16->f32", h, wf_f32_bits(want) >> 16, wf_f32_bits(got) >> 16);
        if (!isnan(want) && wf_f32_to_f16(got) != hb) fail("f16 round trip", h, hb, wf_f32_to_f16(got));
    }
    /* a dense sweep of fp32 bit patterns (every 97th, both signs, all exponents) */
    for (uint64_t u = 0; u <= 0xffffffffu; u += 97) {
        float f = wf_bits_f32((uint32_t)u);
        _Float16 r = (_Float16)f;
        uint16_t want;
        memcpy(&want, &r, 2);
        uint16_t got = wf_f32_to_f16(f);
        if (isnan(f) ? (got & 0x7c00) != 0x7c00 || (got & 0x3ff) == 0 : got != want)
            fail("f32->f16", (uint32_t)u, want, got);
        uint16_t b = wf_f32_to_bf16(f);
        if (isnan(f)) {
            if (!isnan(wf_bf16_to_f32(b))) fail("f32->bf16 NaN", (uint32_t)u, 0x7fc0, b);
        } else if (b != bf16_reference((uint32_t)u)) {
            fail("f32->bf16", (uint32_t)u, bf16_reference((uint32_t)u), b);
        }
    }
    /* named values */
    struct { float f; uint16_t bf, h; } named[] = {
        {1.0f, 0x3f80, 0x3c00}, {-2.0f, 0xc000, 0xc000}, {65504.0f, 0x4780, 0x7bff},
        {65520.0f, 0x4780, 0x7c00}, {1.00390625f, 0x3f80, 0x3c04}, {5.9604645e-8f, 0x3380, 0x0001},
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (wf_f32_to_bf16(named[i].f) != named[i].bf)
            fail("named f32->bf16", wf_f32_bits(named[i].f), named[i].bf, wf_f32_to_bf16(named[i].f));
        if (wf_f32_to_f16(named[i].f) != named[i].h)
            fail("named f32->f16", wf_f32_bits(named[i].f), named[i].h, wf_f32_to_f16(named[i].f));
    }
    printf("dtype conversions: %d failures\n", failures);
    return failures ? 1 : 0;
}
