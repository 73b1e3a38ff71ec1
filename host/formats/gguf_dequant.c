/* ggml tensor types: block sizes, names, dequantization to fp32, and the Llama q/k row unpermute.
 * Block layouts are ggml/src/ggml-common.h (block_q4_0 ... block_q8_K, QK_K = 256); the arithmetic
 * is ggml/src/ggml-quants.c dequantize_row_*, which the gguf Python package's numpy dequantizers
 * (gguf/quants.py) also follow. Results match both bit for bit whatever the compiler does with
 * the expressions: every product here (an f16 scale times integers of at most 8 + 6 bits) is
 * exact in fp32, so only a final "+ m" / "- m" rounds, and an FMA rounds it identically
 * (Q8_K's f32 scale times q is a single rounded product).
 * Not decoded here: Q8_1, the IQ* and TQ* codebooks, MXFP4/NVFP4, Q1_0 and the integer types. */
#include <stdlib.h>
#include <string.h>

#include "weft/dtype.h"
#include "weft/gguf.h"

#define QK_K 256

typedef void (*dq_fn)(const uint8_t *x, float *y, int64_t nb); /* nb blocks from x to y */

static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static float ldh(const uint8_t *p) { return wf_f16_to_f32(ld16(p)); } /* ggml_fp16_t */

static void dq_f32(const uint8_t *x, float *y, int64_t nb) { memcpy(y, x, (size_t)nb * 4); }

static void dq_f16(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) y[i] = ldh(x + 2 * i);
}

static void dq_bf16(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) y[i] = wf_bf16_to_f32(ld16(x + 2 * i));
}

/* block_q8_0 {f16 d; i8 qs[32]}: y = q*d */
static void dq_q8_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 34, y += 32) {
        float d = ldh(x);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)x[2 + j] * d;
    }
}

/* block_q4_0 {f16 d; u8 qs[16]}: low nibbles are elements 0..15, high nibbles 16..31; y = (q-8)*d */
static void dq_q4_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 18, y += 32) {
        float d = ldh(x);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((x[2 + j] & 0xF) - 8) * d;
            y[j + 16] = (float)((x[2 + j] >> 4) - 8) * d;
        }
    }
}

/* block_q4_1 {f16 d, m; u8 qs[16]}: y = q*d + m */
static void dq_q4_1(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 20, y += 32) {
        float d = ldh(x), m = ldh(x + 2);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(x[4 + j] & 0xF) * d + m;
            y[j + 16] = (float)(x[4 + j] >> 4) * d + m;
        }
    }
}

/* Fifth bits of block_q5_0/q5_1: bit j of the little-endian u32 qh for element j. */
static uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* block_q5_0 {f16 d; u8 qh[4]; u8 qs[16]}: y = (q-16)*d */
static void dq_q5_0(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 22, y += 32) {
        float d = ldh(x);
        uint32_t qh = ld32(x + 2);
        for (int j = 0; j < 16; j++) {
            int x0 = (int)((x[6 + j] & 0xF) | (((qh >> j) << 4) & 0x10)) - 16;
            int x1 = (int)((x[6 + j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
            y[j] = (float)x0 * d;
            y[j + 16] = (float)x1 * d;
        }
    }
}

/* block_q5_1 {f16 d, m; u8 qh[4]; u8 qs[16]}: y = q*d + m */
static void dq_q5_1(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 24, y += 32) {
        float d = ldh(x), m = ldh(x + 2);
        uint32_t qh = ld32(x + 4);
        for (int j = 0; j < 16; j++) {
            int x0 = (int)((x[8 + j] & 0xF) | (((qh >> j) << 4) & 0x10));
            int x1 = (int)((x[8 + j] >> 4) | ((qh >> (j + 12)) & 0x10));
            y[j] = (float)x0 * d + m;
            y[j + 16] = (float)x1 * d + m;
        }
    }
}

/* block_q8_K {f32 d; i8 qs[256]; i16 bsums[16]}: y = d*q */
static void dq_q8_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 292, y += QK_K) {
        float d = wf_bits_f32(ld32(x));
        for (int j = 0; j < QK_K; j++) y[j] = d * (float)(int8_t)x[4 + j];
    }
}

/* block_q2_K {u8 scales[16] (low nibble scale, high nibble min); u8 qs[64]; f16 d, dmin} */
static void dq_q2_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 84) {
        const uint8_t *sc = x, *q = x + 16;
        float d = ldh(x + 80), min = ldh(x + 82);
        int is = 0;
        for (int n = 0; n < QK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    uint8_t s = sc[is++];
                    float dl = d * (float)(s & 0xF), ml = min * (float)(s >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * (float)((q[l + 16 * half] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* The 16 six-bit scales of block_q3_K: low 4 bits from scales[0..7] (two nibbles each), high 2
 * bits from scales[8..11]; minus 32 (ggml unpacks them with kmask1/kmask2). */
static void q3_k_scales(const uint8_t *s, int out[16]) {
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? s[i] & 0xF : s[i - 8] >> 4;
        int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (lo | hi << 4) - 32;
    }
}

/* block_q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: y = d*scale * (q - (hbit ? 0 : 4)) */
static void dq_q3_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 110) {
        const uint8_t *hm = x, *q = x + 32;
        float d = ldh(x + 108);
        int sc[16], is = 0;
        q3_k_scales(x + 96, sc);
        uint8_t m = 1;
        for (int n = 0; n < QK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1)) {
                for (int half = 0; half < 2; half++) {
                    float dl = d * (float)sc[is++];
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        *y++ = dl * (float)(((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
            }
        }
    }
}

/* get_scale_min_k4: the 8 six-bit (scale, min) pairs of block_q4_K / block_q5_K. */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* block_q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]}: 8 sub-blocks of 32, y = d*sc*q - dmin*m */
static void dq_q4_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 144) {
        float d = ldh(x), min = ldh(x + 2);
        const uint8_t *scales = x + 4, *q = x + 16;
        for (int is = 0; is < 8; is += 2, q += 32) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            float d1 = d * (float)sc, m1 = min * (float)m;
            scale_min_k4(is + 1, scales, &sc, &m);
            float d2 = d * (float)sc, m2 = min * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

/* block_q5_K {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: Q4_K plus a fifth bit */
static void dq_q5_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 176) {
        float d = ldh(x), min = ldh(x + 2);
        const uint8_t *scales = x + 4, *qh = x + 16, *ql = x + 48;
        uint8_t u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32, u1 = (uint8_t)(u1 << 2), u2 = (uint8_t)(u2 << 2)) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            float d1 = d * (float)sc, m1 = min * (float)m;
            scale_min_k4(is + 1, scales, &sc, &m);
            float d2 = d * (float)sc, m2 = min * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

/* block_q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: y = d*scale * (q6 - 32) */
static void dq_q6_k(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 210) {
        const uint8_t *ql = x, *qh = x + 128;
        const int8_t *sc = (const int8_t *)(x + 192);
        float d = ldh(x + 208);
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q2 = (int)((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q3 = (int)((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

typedef struct type_info {
    const char *name;
    int64_t block, bytes; /* elements and bytes per block (ggml_type_traits blck_size, type_size) */
    dq_fn dq;             /* NULL: layout known, values not decoded here */
} type_info;

/* ggml.c type_traits / gguf constants.py GGML_QUANT_SIZES. */
static const type_info TYPES[WF_GGML_TYPE_LIMIT] = {
    [WF_GGML_F32] = {"F32", 1, 4, dq_f32},
    [WF_GGML_F16] = {"F16", 1, 2, dq_f16},
    [WF_GGML_Q4_0] = {"Q4_0", 32, 18, dq_q4_0},
    [WF_GGML_Q4_1] = {"Q4_1", 32, 20, dq_q4_1},
    [WF_GGML_Q5_0] = {"Q5_0", 32, 22, dq_q5_0},
    [WF_GGML_Q5_1] = {"Q5_1", 32, 24, dq_q5_1},
    [WF_GGML_Q8_0] = {"Q8_0", 32, 34, dq_q8_0},
    [WF_GGML_Q8_1] = {"Q8_1", 32, 40, NULL},
    [WF_GGML_Q2_K] = {"Q2_K", QK_K, 84, dq_q2_k},
    [WF_GGML_Q3_K] = {"Q3_K", QK_K, 110, dq_q3_k},
    [WF_GGML_Q4_K] = {"Q4_K", QK_K, 144, dq_q4_k},
    [WF_GGML_Q5_K] = {"Q5_K", QK_K, 176, dq_q5_k},
    [WF_GGML_Q6_K] = {"Q6_K", QK_K, 210, dq_q6_k},
    [WF_GGML_Q8_K] = {"Q8_K", QK_K, 292, dq_q8_k},
    [WF_GGML_IQ2_XXS] = {"IQ2_XXS", QK_K, 66, NULL},
    [WF_GGML_IQ2_XS] = {"IQ2_XS", QK_K, 74, NULL},
    [WF_GGML_IQ3_XXS] = {"IQ3_XXS", QK_K, 98, NULL},
    [WF_GGML_IQ1_S] = {"IQ1_S", QK_K, 50, NULL},
    [WF_GGML_IQ4_NL] = {"IQ4_NL", 32, 18, NULL},
    [WF_GGML_IQ3_S] = {"IQ3_S", QK_K, 110, NULL},
    [WF_GGML_IQ2_S] = {"IQ2_S", QK_K, 82, NULL},
    [WF_GGML_IQ4_XS] = {"IQ4_XS", QK_K, 136, NULL},
    [WF_GGML_I8] = {"I8", 1, 1, NULL},
    [WF_GGML_I16] = {"I16", 1, 2, NULL},
    [WF_GGML_I32] = {"I32", 1, 4, NULL},
    [WF_GGML_I64] = {"I64", 1, 8, NULL},
    [WF_GGML_F64] = {"F64", 1, 8, NULL},
    [WF_GGML_IQ1_M] = {"IQ1_M", QK_K, 56, NULL},
    [WF_GGML_BF16] = {"BF16", 1, 2, dq_bf16},
    [WF_GGML_TQ1_0] = {"TQ1_0", QK_K, 54, NULL},
    [WF_GGML_TQ2_0] = {"TQ2_0", QK_K, 66, NULL},
    [WF_GGML_MXFP4] = {"MXFP4", 32, 17, NULL},
    [WF_GGML_NVFP4] = {"NVFP4", 64, 36, NULL},
    [WF_GGML_Q1_0] = {"Q1_0", 128, 18, NULL},
};

static const type_info *info(int type) {
    if (type < 0 || type >= WF_GGML_TYPE_LIMIT || !TYPES[type].name) return NULL;
    return &TYPES[type];
}

const char *wf_ggml_type_name(int type) { return info(type) ? info(type)->name : NULL; }

bool wf_ggml_type_size(int type, int64_t *block, int64_t *block_bytes) {
    const type_info *t = info(type);
    if (!t) return false;
    *block = t->block;
    *block_bytes = t->bytes;
    return true;
}

bool wf_ggml_type_can_dequant(int type) { return info(type) && info(type)->dq; }

/* Decodes nb blocks, split into chunks of 64Ki values across threads for large tensors (each
 * chunk writes its own outputs, so the result does not depend on the thread count). */
static void run_blocks(const type_info *t, const uint8_t *src, float *dst, int64_t nb) {
    const int64_t chunk = 65536 / t->block;
    int64_t n_chunks = (nb + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n_chunks > 1)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t b0 = c * chunk, cnt = nb - b0 < chunk ? nb - b0 : chunk;
        t->dq(src + b0 * t->bytes, dst + b0 * t->block, cnt);
    }
}

wf_status wf_ggml_dequant_raw(int type, const void *src, size_t src_bytes, float *dst, int64_t n) {
    const type_info *t = info(type);
    if (!t) return wf_error(WF_ERR_INVALID, "dequantize: %d is not a ggml type", type);
    if (!t->dq)
        return wf_error(WF_ERR_UNSUPPORTED, "dequantize: type %s is not supported", t->name);
    if (n < 0 || n % t->block != 0)
        return wf_error(WF_ERR_INVALID, "dequantize: %lld values of %s: expected a multiple of %lld",
                        (long long)n, t->name, (long long)t->block);
    int64_t nb = n / t->block;
    if (nb > (int64_t)(src_bytes / (size_t)t->bytes))
        return wf_error(WF_ERR_INVALID, "dequantize: %lld values of %s need %lld bytes, got %zu",
                        (long long)n, t->name, (long long)nb * t->bytes, src_bytes);
    run_blocks(t, src, dst, nb);
    return WF_OK;
}

wf_status wf_gguf_dequant_f32(const wf_gguf_tensor *t, float *dst, int64_t n) {
    const type_info *ti = info(t->type);
    if (!ti || !ti->dq)
        return wf_error(WF_ERR_UNSUPPORTED,
                        "%s: tensor '%s': cannot dequantize type %s (%d); supported: F32 F16 "
                        "BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K Q8_K",
                        t->file, t->name, ti ? ti->name : "unknown", (int)t->type);
    if (n != t->numel)
        return wf_error(WF_ERR_INVALID, "%s: tensor '%s': destination holds %lld values, expected %lld",
                        t->file, t->name, (long long)n, (long long)t->numel);
    WF_ASSERT(t->nbytes == (size_t)(t->numel / ti->block * ti->bytes)); /* the parser's invariant */
    run_blocks(ti, t->data, dst, t->numel / ti->block);
    return WF_OK;
}

/* convert_hf_to_gguf.py LlamaModel.permute wrote, per head, row (2*i + j) from row (j*half + i),
 * i < half = rows/n_head/2, j < 2; the inverse copies each head aside and puts rows back. */
wf_status wf_gguf_unpermute_qk(float *w, int64_t rows, int64_t cols, int n_head) {
    if (n_head <= 0 || rows <= 0 || cols <= 0 || rows % (2 * (int64_t)n_head) != 0)
        return wf_error(WF_ERR_INVALID,
                        "unpermute q/k: %lld rows for %d heads: expected a positive multiple of "
                        "2 * n_head rows and positive cols (%lld)",
                        (long long)rows, n_head, (long long)cols);
    int64_t half = rows / n_head / 2;
    if (2 * half > INT64_MAX / cols || 2 * half * cols > (int64_t)(SIZE_MAX / sizeof(float)))
        return wf_error(WF_ERR_INVALID, "unpermute q/k: a head of %lld x %lld overflows",
                        (long long)(2 * half), (long long)cols);
    size_t head_floats = (size_t)(2 * half * cols), row_bytes = (size_t)cols * sizeof(float);
    float *tmp = malloc(head_floats * sizeof(float));
    if (!tmp)
        return wf_error(WF_ERR_OOM, "unpermute q/k: out of memory for %zu floats", head_floats);
    for (int64_t h = 0; h < n_head; h++) {
        float *head = w + (size_t)h * head_floats;
        memcpy(tmp, head, head_floats * sizeof(float));
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(head + (size_t)(j * half + i) * (size_t)cols,
                       tmp + (size_t)(2 * i + j) * (size_t)cols, row_bytes);
    }
    free(tmp);
    return WF_OK;
}
