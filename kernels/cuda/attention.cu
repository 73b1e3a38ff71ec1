/* Attention forward and backward on the GPU (ops.h wf_attention; MATH.md "Attention"):
 * causal or not, GQA, key padding mask, per-document mask. Three variants (STYLE rule 7):
 * - "flash" (default): the tiled tensor-core kernels of attention_flash.cuh, for bf16/fp16 with
 *   head dim 32, 64, 80, 96 or 128 and 16-byte aligned tensors; anything else falls back to
 * - "flash2" (opt-in, WF_CUDA_ATTENTION=flash2, never run on a GPU yet): attention_flash2.cuh,
 *   the same calls with cp.async double-buffered tiles and larger blocks; same fallback; its
 *   tile configuration by name, WF_FLASH2_CONFIG (tuning.cuh WF_FLASH2_ALT_CONFIGS);
 * - "simple": one warp per query row (WF_ATT_WARPS rows per block), keys visited in order with
 *   an online softmax (running max, rescaled sum and output, as FlashAttention), so memory is
 *   O(rows), never O(T^2). Each lane holds D/32 dims of its row; dot products are warp
 *   butterflies, so every sum has a fixed order. Backward mirrors kernels/cpu/attention.c:
 *   pass 1 (a warp per query row) gives D_i = dO_i . O_i and dq; pass 2 (a warp per key row)
 *   gives dk, dv summing over the group's query heads and their queries in order.
 * WF_CUDA_ATTENTION=simple (read at backend open) forces the simple kernels everywhere;
 * WF_CUDA_ATTENTION=flash-only (flash2-only) makes the calls that the tiled kernels cannot take
 * unsupported. All are deterministic (no atomics). Reference: kernels/cpu/attention.c. Head dims above
 * WF_ATT_MAX_D are unsupported. Here: the simple kernels, the choice, the flash2 configuration
 * at backend open; the tiled launchers are in attention_tiled.cuh, compiled once per head dim
 * (attention_tiled_d<D>.cu). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "attention_tiled.cuh"
#include "common.cuh"

#define ATT_R (WF_ATT_MAX_D / 32) /* dims per lane */

struct att_dims {
    int64_t B, T, S, H, Hk, D, group, shift; /* group = H / Hk; shift = S - T */
    bool causal;
    float scale;
    const int32_t *key_mask; /* (B, S)? */
    const int32_t *doc_ids;  /* (B, T)? */
};

__device__ __forceinline__ bool att_visible(const att_dims &w, int64_t b, int64_t i, int64_t j) {
    if (w.causal && j > i + w.shift) return false;
    if (w.key_mask && w.key_mask[b * w.S + j] == 0) return false;
    if (w.doc_ids && w.doc_ids[b * w.T + i] != w.doc_ids[b * w.T + j]) return false;
    return true;
}

/* The lane's dims d = lane + 32 r of a (D) row, as fp32 (0 past D). */
template <typename T>
__device__ __forceinline__ void att_load(float (&x)[ATT_R], const T *row, int64_t D, int lane) {
#pragma unroll
    for (int r = 0; r < ATT_R; r++) {
        int64_t d = lane + 32 * r;
        x[r] = d < D ? wf_to_f32(row[d]) : 0.0f;
    }
}

template <typename T>
__device__ __forceinline__ void att_store(T *row, const float (&x)[ATT_R], float mul, int64_t D,
                                          int lane) {
#pragma unroll
    for (int r = 0; r < ATT_R; r++) {
        int64_t d = lane + 32 * r;
        if (d < D) row[d] = wf_from_f32<T>(x[r] * mul);
    }
}

/* Dot product of the warp's row x with row y (D); every lane gets the same value. */
template <typename T>
__device__ __forceinline__ float att_dot(const float (&x)[ATT_R], const T *y, int64_t D, int lane) {
    float s = 0.0f;
#pragma unroll
    for (int r = 0; r < ATT_R; r++) {
        int64_t d = lane + 32 * r;
        if (d < D) s += x[r] * wf_to_f32(y[d]);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
}

__device__ __forceinline__ int64_t att_warp(void) {
    return (int64_t)blockIdx.x * WF_ATT_WARPS + threadIdx.x / 32;
}

template <typename T>
__global__ void __launch_bounds__(WF_ATT_WARPS * 32)
    attention_fwd_kernel(T *out, float *lse, const T *q, const T *k, const T *v, att_dims w) {
    const int lane = threadIdx.x % 32;
    const int64_t rows = w.B * w.H * w.T, nwarps = (int64_t)gridDim.x * WF_ATT_WARPS;
    for (int64_t row = att_warp(); row < rows; row += nwarps) { /* row = (b * H + h) * T + i */
        int64_t i = row % w.T, h = (row / w.T) % w.H, b = row / (w.T * w.H), g = h / w.group;
        int64_t qo = ((b * w.T + i) * w.H + h) * w.D;
        int64_t jend = w.causal ? (i + w.shift + 1 < w.S ? i + w.shift + 1 : w.S) : w.S;
        float qi[ATT_R], o[ATT_R];
        att_load(qi, q + qo, w.D, lane);
#pragma unroll
        for (int r = 0; r < ATT_R; r++) o[r] = 0.0f;
        float m = -INFINITY, l = 0.0f;
        for (int64_t j = 0; j < jend; j++) { /* the condition is uniform over the warp */
            if (!att_visible(w, b, i, j)) continue;
            int64_t ko = ((b * w.S + j) * w.Hk + g) * w.D;
            float s = w.scale * att_dot(qi, k + ko, w.D, lane);
            float mn = fmaxf(m, s), corr = expf(m - mn), p = expf(s - mn); /* exp(-inf) = 0 */
            l = l * corr + p;
#pragma unroll
            for (int r = 0; r < ATT_R; r++) {
                int64_t d = lane + 32 * r;
                o[r] = o[r] * corr + (d < w.D ? p * wf_to_f32(v[ko + d]) : 0.0f);
            }
            m = mn;
        }
        bool none = m == -INFINITY; /* no visible key: out = 0, lse = 0 (ops.h) */
        att_store(out + qo, o, none ? 0.0f : 1.0f / l, w.D, lane);
        if (lane == 0) lse[row] = none ? 0.0f : m + logf(l);
    }
}

/* Pass 1: Dvec[row] = dO_i . O_i and dq_i = scale sum_j P_ij (dO_i . v_j - D_i) k_j. */
template <typename T>
__global__ void __launch_bounds__(WF_ATT_WARPS * 32)
    attention_bwd_dq_kernel(T *dq, float *Dvec, const T *q, const T *k, const T *v, const T *out,
                            const T *dout, const float *lse, att_dims w) {
    const int lane = threadIdx.x % 32;
    const int64_t rows = w.B * w.H * w.T, nwarps = (int64_t)gridDim.x * WF_ATT_WARPS;
    for (int64_t row = att_warp(); row < rows; row += nwarps) {
        int64_t i = row % w.T, h = (row / w.T) % w.H, b = row / (w.T * w.H), g = h / w.group;
        int64_t qo = ((b * w.T + i) * w.H + h) * w.D;
        int64_t jend = w.causal ? (i + w.shift + 1 < w.S ? i + w.shift + 1 : w.S) : w.S;
        float qi[ATT_R], doi[ATT_R], acc[ATT_R];
        att_load(qi, q + qo, w.D, lane);
        att_load(doi, dout + qo, w.D, lane);
        const float L = lse[row], Di = att_dot(doi, out + qo, w.D, lane);
#pragma unroll
        for (int r = 0; r < ATT_R; r++) acc[r] = 0.0f;
        for (int64_t j = 0; j < jend; j++) {
            if (!att_visible(w, b, i, j)) continue;
            int64_t ko = ((b * w.S + j) * w.Hk + g) * w.D;
            float p = expf(w.scale * att_dot(qi, k + ko, w.D, lane) - L);
            float ds = p * (att_dot(doi, v + ko, w.D, lane) - Di);
#pragma unroll
            for (int r = 0; r < ATT_R; r++) {
                int64_t d = lane + 32 * r;
                if (d < w.D) acc[r] += ds * wf_to_f32(k[ko + d]);
            }
        }
        att_store(dq + qo, acc, w.scale, w.D, lane);
        if (lane == 0) Dvec[row] = Di;
    }
}

/* Pass 2: for key row j of kv head g, over the group's heads h and the queries i that see j:
 * dv_j = sum P_ij dO_i, dk_j = scale sum dS_ij q_i. */
template <typename T>
__global__ void __launch_bounds__(WF_ATT_WARPS * 32)
    attention_bwd_dkv_kernel(T *dk, T *dv, const T *q, const T *k, const T *v, const T *dout,
                             const float *lse, const float *Dvec, att_dims w) {
    const int lane = threadIdx.x % 32;
    const int64_t rows = w.B * w.Hk * w.S, nwarps = (int64_t)gridDim.x * WF_ATT_WARPS;
    for (int64_t row = att_warp(); row < rows; row += nwarps) { /* row = (b * Hk + g) * S + j */
        int64_t j = row % w.S, g = (row / w.S) % w.Hk, b = row / (w.S * w.Hk);
        int64_t ko = ((b * w.S + j) * w.Hk + g) * w.D;
        float kj[ATT_R], vj[ATT_R], ak[ATT_R], av[ATT_R];
        att_load(kj, k + ko, w.D, lane);
        att_load(vj, v + ko, w.D, lane);
#pragma unroll
        for (int r = 0; r < ATT_R; r++) ak[r] = av[r] = 0.0f;
        bool padded = w.key_mask && w.key_mask[b * w.S + j] == 0;
        int64_t i0 = w.causal && j - w.shift > 0 ? j - w.shift : 0;
        for (int64_t h = g * w.group; !padded && h < (g + 1) * w.group; h++)
            for (int64_t i = i0; i < w.T; i++) {
                if (!att_visible(w, b, i, j)) continue;
                int64_t qo = ((b * w.T + i) * w.H + h) * w.D, qrow = (b * w.H + h) * w.T + i;
                float p = expf(w.scale * att_dot(kj, q + qo, w.D, lane) - lse[qrow]);
                float ds = p * (att_dot(vj, dout + qo, w.D, lane) - Dvec[qrow]);
#pragma unroll
                for (int r = 0; r < ATT_R; r++) {
                    int64_t d = lane + 32 * r;
                    if (d < w.D) {
                        av[r] += p * wf_to_f32(dout[qo + d]);
                        ak[r] += ds * wf_to_f32(q[qo + d]);
                    }
                }
            }
        att_store(dk + ko, ak, w.scale, w.D, lane);
        att_store(dv + ko, av, 1.0f, w.D, lane);
    }
}

static att_dims att_dims_of(const wf_attention *a) {
    att_dims w;
    w.B = a->q->shape[0], w.T = a->q->shape[1], w.H = a->q->shape[2], w.D = a->q->shape[3];
    w.S = a->k->shape[1], w.Hk = a->k->shape[2];
    w.group = w.H / w.Hk, w.shift = w.S - w.T;
    w.causal = a->causal, w.scale = a->scale;
    w.key_mask = a->key_mask ? (const int32_t *)a->key_mask->data : NULL;
    w.doc_ids = a->doc_ids ? (const int32_t *)a->doc_ids->data : NULL;
    return w;
}

static wf_status att_check_d(const char *op, const att_dims &w) {
    if (w.D <= WF_ATT_MAX_D) return WF_OK;
    return wf_error(WF_ERR_UNSUPPORTED, "op %s on backend 'cuda': head dim %lld is above %d", op,
                    (long long)w.D, WF_ATT_MAX_D);
}

/* Blocks for `rows` warp rows. */
static unsigned att_grid(const wf_backend *be, int64_t rows) {
    return wf_cuda_grid(be, (rows + WF_ATT_WARPS - 1) / WF_ATT_WARPS, 1);
}

static wf_status attention_simple_fwd(wf_backend *be, const wf_attention *a) {
    att_dims w = att_dims_of(a);
    WF_TRY(att_check_d("attention_fwd", w));
    int64_t rows = w.B * w.H * w.T;
    if (rows <= 0) return WF_OK;
    return wf_cuda_by_dtype("attention_fwd", a->q->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(att_grid(be, rows), WF_ATT_WARPS * 32, 0, wf_cuda_stream(be),
                  attention_fwd_kernel<T>)(
            (T *)a->out->data, (float *)a->lse->data, (const T *)a->q->data,
            (const T *)a->k->data, (const T *)a->v->data, w);
        WF_CUDA_LAUNCHED("attention_fwd");
        return WF_OK;
    });
}

static wf_status attention_simple_bwd(wf_backend *be, const wf_attention *a) {
    att_dims w = att_dims_of(a);
    WF_TRY(att_check_d("attention_bwd", w));
    int64_t qrows = w.B * w.H * w.T, krows = w.B * w.Hk * w.S;
    if (qrows <= 0 && krows <= 0) return WF_OK;
    size_t mark = wf_arena_mark(&be->scratch);
    void *dvec = NULL;
    WF_TRY(wf_arena_alloc(&be->scratch, (size_t)(qrows > 0 ? qrows : 1) * sizeof(float), &dvec));
    wf_status s = wf_cuda_by_dtype("attention_bwd", a->q->dtype, [&](auto tag) {
        using T = decltype(tag);
        cudaStream_t st = wf_cuda_stream(be);
        const T *q = (const T *)a->q->data, *k = (const T *)a->k->data, *v = (const T *)a->v->data;
        const T *dout = (const T *)a->dout->data;
        const float *lse = (const float *)a->lse->data;
        if (qrows > 0) {
            WF_LAUNCH(att_grid(be, qrows), WF_ATT_WARPS * 32, 0, st, attention_bwd_dq_kernel<T>)(
                (T *)a->dq->data, (float *)dvec, q, k, v, (const T *)a->out->data, dout, lse, w);
            WF_TRY(WF_CUDA_LAUNCH_STATUS("attention_bwd"));
        }
        if (krows > 0) {
            WF_LAUNCH(att_grid(be, krows), WF_ATT_WARPS * 32, 0, st, attention_bwd_dkv_kernel<T>)(
                (T *)a->dk->data, (T *)a->dv->data, q, k, v, dout, lse, (const float *)dvec, w);
            WF_TRY(WF_CUDA_LAUNCH_STATUS("attention_bwd"));
        }
        return WF_OK;
    });
    wf_arena_reset(&be->scratch, mark);
    return s;
}

/* ---- tiled variants (attention_tiled.cuh, attention_tiled_d<D>.cu) ---- */

/* Whether the tiled kernels take this call: variant, dtype, head dim, 16-byte rows, grid. */
static bool flash_applies(const wf_backend *be, const wf_attention *a, bool bwd) {
    if (wf_cuda_impl_of(be)->attention_variant == WF_ATT_SIMPLE) return false;
    if (a->q->dtype != WF_BF16 && a->q->dtype != WF_F16) return false;
    const int64_t D = a->q->shape[3];
    if (D != 32 && D != 64 && D != 80 && D != 96 && D != 128) return false;
    const int64_t bh = a->q->shape[0] * a->q->shape[2], bhk = a->k->shape[0] * a->k->shape[2];
    if (bh > 65535 || bhk > 65535) return false; /* gridDim.y */
    const void *ptrs[] = {a->q->data, a->k->data, a->v->data, a->out->data,
                          bwd ? a->dout->data : NULL, bwd ? a->dq->data : NULL,
                          bwd ? a->dk->data : NULL, bwd ? a->dv->data : NULL};
    for (const void *p : ptrs)
        if (!wf_cuda_aligned(p, 16)) return false;
    return true;
}

extern "C" wf_status wf_cuda_flash2_config_open(wf_backend *be, int cc_major) {
    wf_cuda_impl *im = wf_cuda_impl_of(be);
    const char *name = getenv("WF_FLASH2_CONFIG");
    im->flash2_config = 0;
    if (!name) return WF_OK;
    for (int i = 0; i < FL2_NCONFIGS; i++) {
        if (strcmp(name, fl2_rows[i].name) != 0) continue;
        if (i > 0 && cc_major < 9) /* fl2_built: alternatives have bodies on sm_90+ only */
            return wf_error(WF_ERR_UNSUPPORTED, "cuda: WF_FLASH2_CONFIG='%s': the alternative "
                            "flash2 configurations are built for sm_90 and later only (this "
                            "device is sm_%d*)", name, cc_major);
        im->flash2_config = i;
        return WF_OK;
    }
    char valid[256] = "";
    for (int i = 0; i < FL2_NCONFIGS; i++)
        snprintf(valid + strlen(valid), sizeof valid - strlen(valid), "%s'%s'", i ? ", " : "",
                 fl2_rows[i].name);
    return wf_error(WF_ERR_INVALID, "cuda: environment variable WF_FLASH2_CONFIG='%s' is not one "
                    "of %s", name, valid);
}

static bool flash2_selected(const wf_backend *be) {
    const wf_att_variant v = wf_cuda_impl_of(be)->attention_variant;
    return v == WF_ATT_FLASH2 || v == WF_ATT_FLASH2_ONLY;
}

/* The simple kernels, unless the variant is "flash-only" (then: unsupported, named). */
static wf_status attention_fallback(wf_backend *be, const wf_attention *a, bool bwd) {
    const wf_att_variant v = wf_cuda_impl_of(be)->attention_variant;
    if (v == WF_ATT_FLASH_ONLY || v == WF_ATT_FLASH2_ONLY)
        return wf_error(WF_ERR_UNSUPPORTED, "op attention_%s on backend 'cuda': "
                        "WF_CUDA_ATTENTION=%s and the tiled kernels do not take %s, "
                        "head dim %lld", bwd ? "bwd" : "fwd",
                        v == WF_ATT_FLASH_ONLY ? "flash-only" : "flash2-only",
                        wf_dtype_name(a->q->dtype), (long long)a->q->shape[3]);
    return bwd ? attention_simple_bwd(be, a) : attention_simple_fwd(be, a);
}

extern "C" wf_status wf_cuda_attention_fwd(wf_backend *be, const wf_attention *a) {
    if (!flash_applies(be, a, false)) return attention_fallback(be, a, false);
    if (a->q->shape[0] * a->q->shape[1] * a->q->shape[2] <= 0) return WF_OK;
    const bool v2 = flash2_selected(be);
    switch (a->q->shape[3]) { /* one of these: flash_applies */
    case 32: return wf_cuda_tiled_fwd_d32(be, a, v2);
    case 64: return wf_cuda_tiled_fwd_d64(be, a, v2);
    case 80: return wf_cuda_tiled_fwd_d80(be, a, v2);
    case 96: return wf_cuda_tiled_fwd_d96(be, a, v2);
    default: return wf_cuda_tiled_fwd_d128(be, a, v2);
    }
}

extern "C" wf_status wf_cuda_attention_bwd(wf_backend *be, const wf_attention *a) {
    if (!flash_applies(be, a, true)) return attention_fallback(be, a, true);
    const int64_t qrows = a->q->shape[0] * a->q->shape[2] * a->q->shape[1];
    const int64_t krows = a->k->shape[0] * a->k->shape[2] * a->k->shape[1];
    if (qrows <= 0 && krows <= 0) return WF_OK;
    size_t mark = wf_arena_mark(&be->scratch);
    void *dvec = NULL;
    WF_TRY(wf_arena_alloc(&be->scratch, (size_t)(qrows > 0 ? qrows : 1) * sizeof(float), &dvec));
    const bool v2 = flash2_selected(be);
    float *dv = (float *)dvec;
    wf_status s;
    switch (a->q->shape[3]) {
    case 32: s = wf_cuda_tiled_bwd_d32(be, a, v2, dv); break;
    case 64: s = wf_cuda_tiled_bwd_d64(be, a, v2, dv); break;
    case 80: s = wf_cuda_tiled_bwd_d80(be, a, v2, dv); break;
    case 96: s = wf_cuda_tiled_bwd_d96(be, a, v2, dv); break;
    default: s = wf_cuda_tiled_bwd_d128(be, a, v2, dv); break;
    }
    wf_arena_reset(&be->scratch, mark);
    return s;
}
