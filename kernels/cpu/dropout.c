/* Dropout on the CPU (MATH.md "Numbers"): y = x * (u_i >= p) / (1 - p) with
 * u_i = wf_rng_uniform(seed, step, stream, i) (rng.h), so every backend draws the same mask.
 * One Philox call yields the uniforms of 4 consecutive elements (the counter is i / 4, the word
 * i % 4, exactly as wf_rng_uniform), so it runs once per 4 elements here, 16 calls at a time
 * in vector lanes where the CPU has AVX2 / AVX-512 (keep_mask; LoRA's dropout uses it
 * too). The backward is this same op applied to dy. y may alias x. Reference: tests/ops/op_elementwise.c, and the mask
 * statistics in tests/unit/test_dropout.c. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "weft/rng.h"

/* Philox-4x32-10 (rng.h) for the 16 consecutive counters g0 .. g0 + 15 (words 0, 1 = the
 * counter's low and high halves; 2, 3 = step, stream): out[w][i] is word w of counter g0 + i.
 * Three versions, the same bits: scalar, and on x86-64 AVX2 (8 lanes) and AVX-512 (16 lanes),
 * each 32 x 32 -> 64-bit product by vpmuludq on the even and odd lanes. Measured on the
 * development machine (one thread): 13.8 ns a call scalar, 5.7 with AVX-512. */
typedef void philox16_fn(uint64_t g0, uint32_t step, uint32_t stream, uint32_t k0, uint32_t k1,
                         uint32_t out[4][16]);

static void philox16_scalar(uint64_t g0, uint32_t step, uint32_t stream, uint32_t k0, uint32_t k1,
                            uint32_t out[4][16]) {
    for (int i = 0; i < 16; i++) {
        uint64_t g = g0 + (uint64_t)i;
        wf_philox4 r = wf_philox4x32_10((wf_philox4){{(uint32_t)g, (uint32_t)(g >> 32), step, stream}}, k0, k1);
        for (int w = 0; w < 4; w++) out[w][i] = r.v[w];
    }
}

/* The counters' low and high halves of g0 .. g0 + 15, for the vector versions' loads. */
static void counters16(uint64_t g0, uint32_t lo[16], uint32_t hi[16]) {
    for (int i = 0; i < 16; i++) {
        uint64_t g = g0 + (uint64_t)i;
        lo[i] = (uint32_t)g, hi[i] = (uint32_t)(g >> 32);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

/* One round's mulhilo of the 8 lanes of x by m: *lo, *hi the low and high halves. */
__attribute__((target("avx2"))) static inline void mulhilo8(__m256i x, __m256i m, __m256i *lo, __m256i *hi) {
    __m256i pe = _mm256_mul_epu32(x, m), po = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), m);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

__attribute__((target("avx2"))) static void philox16_avx2(uint64_t g0, uint32_t step, uint32_t stream,
                                                          uint32_t k0, uint32_t k1, uint32_t out[4][16]) {
    const __m256i m0 = _mm256_set1_epi64x(0xD2511F53u), m1 = _mm256_set1_epi64x(0xCD9E8D57u);
    uint32_t lo[16], hi[16];
    counters16(g0, lo, hi);
    for (int h = 0; h < 16; h += 8) { /* two halves of 8 lanes */
        __m256i c0 = _mm256_loadu_si256((const __m256i *)(lo + h)), c1 = _mm256_loadu_si256((const __m256i *)(hi + h));
        __m256i c2 = _mm256_set1_epi32((int)step), c3 = _mm256_set1_epi32((int)stream);
        uint32_t a = k0, b = k1;
        for (int r = 0; r < 10; r++) {
            __m256i lo0, hi0, lo1, hi1;
            mulhilo8(c0, m0, &lo0, &hi0);
            mulhilo8(c2, m1, &lo1, &hi1);
            __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)a));
            __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)b));
            c0 = n0, c1 = lo1, c2 = n2, c3 = lo0;
            a += 0x9E3779B9u, b += 0xBB67AE85u;
        }
        _mm256_storeu_si256((__m256i *)(out[0] + h), c0), _mm256_storeu_si256((__m256i *)(out[1] + h), c1);
        _mm256_storeu_si256((__m256i *)(out[2] + h), c2), _mm256_storeu_si256((__m256i *)(out[3] + h), c3);
    }
}

__attribute__((target("avx512f"))) static inline void mulhilo16(__m512i x, __m512i m, __m512i *lo, __m512i *hi) {
    __m512i pe = _mm512_mul_epu32(x, m), po = _mm512_mul_epu32(_mm512_srli_epi64(x, 32), m);
    *lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

__attribute__((target("avx512f"))) static void philox16_avx512(uint64_t g0, uint32_t step, uint32_t stream,
                                                               uint32_t k0, uint32_t k1, uint32_t out[4][16]) {
    const __m512i m0 = _mm512_set1_epi64(0xD2511F53u), m1 = _mm512_set1_epi64(0xCD9E8D57u);
    uint32_t lo[16], hi[16];
    counters16(g0, lo, hi);
    __m512i c0 = _mm512_loadu_si512(lo), c1 = _mm512_loadu_si512(hi);
    __m512i c2 = _mm512_set1_epi32((int)step), c3 = _mm512_set1_epi32((int)stream);
    for (int r = 0; r < 10; r++) {
        __m512i lo0, hi0, lo1, hi1;
        mulhilo16(c0, m0, &lo0, &hi0);
        mulhilo16(c2, m1, &lo1, &hi1);
        __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
        __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
        c0 = n0, c1 = lo1, c2 = n2, c3 = lo0;
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
    _mm512_storeu_si512(out[0], c0), _mm512_storeu_si512(out[1], c1);
    _mm512_storeu_si512(out[2], c2), _mm512_storeu_si512(out[3], c3);
}
#endif

/* The widest version this CPU runs, capped by WF_CPU_SIMD=scalar|avx2|avx512 (tests run each);
 * picked once per process. */
static philox16_fn *g_philox16;
static void pick_philox16(void) {
    const char *cap = getenv("WF_CPU_SIMD");
    g_philox16 = philox16_scalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    bool scalar_only = cap && !strcmp(cap, "scalar"), avx2_max = cap && !strcmp(cap, "avx2");
    if (!scalar_only && __builtin_cpu_supports("avx2")) g_philox16 = philox16_avx2;
    if (!scalar_only && !avx2_max && __builtin_cpu_supports("avx512f")) g_philox16 = philox16_avx512;
#else
    (void)cap;
#endif
}

static philox16_fn *philox16(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pick_philox16);
    return g_philox16;
}

#define MASK_BLOCK 64 /* elements a mask block: 16 Philox calls of 4 uniforms */

/* Dropout's keep mask over the flat elements [i0, i0 + n) (n <= MASK_BLOCK, i0 % 4 == 0):
 * keep[j] = wf_rng_uniform(d->seed, d->step, d->stream, i0 + j) >= d->p (rng.h). */
static void keep_mask(philox16_fn *fn, const wf_dropout *d, int64_t i0, int n, unsigned char *keep) {
    uint32_t r[4][16];
    fn((uint64_t)i0 / 4, d->step, d->stream, (uint32_t)d->seed, (uint32_t)(d->seed >> 32), r);
    for (int j = 0; j < n; j++) /* element i0 + j: group j / 4, word j % 4 (wf_rng_uniform) */
        keep[j] = (float)(r[j % 4][j / 4] >> 8) * (1.0f / 16777216.0f) >= d->p;
}

void wf_cpu_dropout_apply(float *out, const float *in, int64_t n, const wf_dropout *d, float scale,
                          bool accumulate) {
    int64_t nblocks = (n + MASK_BLOCK - 1) / MASK_BLOCK;
    philox16_fn *fn = philox16();
    /* a lower threshold than plain copies: each element costs a quarter of a Philox call */
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t i0 = b * MASK_BLOCK;
        int len = (int)(n - i0 < MASK_BLOCK ? n - i0 : MASK_BLOCK);
        unsigned char keep[MASK_BLOCK];
        keep_mask(fn, d, i0, len, keep);
        for (int j = 0; j < len; j++) {
            float v = keep[j] ? in[i0 + j] * scale : 0.0f;
            out[i0 + j] = accumulate ? out[i0 + j] + v : v;
        }
    }
}

wf_status wf_cpu_dropout(wf_backend *be, wf_tensor *y, const wf_tensor *x, const wf_dropout *d) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("dropout", 2, y, x));
    const float *xp = x->data;
    float *yp = y->data;
    int64_t n = wf_tensor_numel(x);
    if (d->p == 0.0f) { /* identity; no draws */
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) yp[i] = xp[i];
        return WF_OK;
    }
    wf_cpu_dropout_apply(yp, xp, n, d, (float)(1.0 / (1.0 - (double)d->p)), false);
    return WF_OK;
}
