/* Element types and scalar conversions.
 * fp32 -> bf16/fp16 round to nearest even, NaN stays NaN (MATH.md "Numbers"). The helpers are
 * static inline and usable from CUDA device code too (WF_HD), so both backends round identically. */
#ifndef WEFT_DTYPE_H
#define WEFT_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define WF_HD __host__ __device__ __forceinline__
#else
#define WF_HD static inline
#endif

typedef enum wf_dtype { WF_F32 = 0, WF_BF16, WF_F16, WF_I32, WF_DTYPE_COUNT } wf_dtype;

static inline size_t wf_dtype_size(wf_dtype t) { return (t == WF_BF16 || t == WF_F16) ? 2 : 4; }
static inline int wf_dtype_is_float(wf_dtype t) { return t == WF_F32 || t == WF_BF16 || t == WF_F16; }
const char *wf_dtype_name(wf_dtype t);

WF_HD uint32_t wf_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
WF_HD float wf_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

WF_HD uint16_t wf_f32_to_bf16(float f) {
    uint32_t u = wf_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
WF_HD float wf_bf16_to_f32(uint16_t h) { return wf_bits_f32((uint32_t)h << 16); }

/* IEEE binary16, round to nearest even, overflow to inf, subnormals kept. */
WF_HD uint16_t wf_f32_to_f16(float f) {
    uint32_t u = wf_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {                                    /* below 2^-14: subnormal or zero */
        if (a < 0x33000000u) return sign;                     /* below half the smallest subnormal */
        uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(a >> 23); /* 14..24 */
        uint32_t r = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15 */
    uint32_t lsb = (r >> 13) & 1u;
    r += 0xfffu + lsb;
    return (uint16_t)(sign | (r >> 13));
}
WF_HD float wf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return wf_bits_f32(sign | 0x7f800000u | (m << 13));
    if (e == 0) { /* zero or subnormal: m * 2^-24 */
        float v = (float)m * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return wf_bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

/* Reads element i of a float buffer of dtype t as fp32. */
static inline float wf_load_f32(const void *p, wf_dtype t, size_t i) {
    switch (t) {
    case WF_BF16: return wf_bf16_to_f32(((const uint16_t *)p)[i]);
    case WF_F16: return wf_f16_to_f32(((const uint16_t *)p)[i]);
    case WF_I32: return (float)((const int32_t *)p)[i];
    default: return ((const float *)p)[i];
    }
}
static inline void wf_store_f32(void *p, wf_dtype t, size_t i, float v) {
    switch (t) {
    case WF_BF16: ((uint16_t *)p)[i] = wf_f32_to_bf16(v); break;
    case WF_F16: ((uint16_t *)p)[i] = wf_f32_to_f16(v); break;
    case WF_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    default: ((float *)p)[i] = v; break;
    }
}

#endif
