/* LoRA linear on the GPU (MATH.md "Linear and LoRA", PEFT semantics):
 *   h = drop(x) A^T,  y = x W^T + bias + scale h B^T;
 *   dB += scale dy^T h,  dh = scale dy B,  dA += dh^T drop(x),  dx = dy W + drop_bwd(dh A),
 *   dW += dy^T x and dbias += colsum(dy) only when asked (a frozen base runs no dW GEMM).
 * The dropout mask is recomputed in backward from (seed, step, stream, n*K + k), as the CPU.
 * h, dh are stored in x's dtype (fp32 accumulation everywhere), so bf16/fp16 runs round h once
 * where kernels/cpu/lora.c (fp32 only, the reference) does not. Temporaries: be->scratch.
 * Two variants (WF_CUDA_LORA, read at backend open; bench_ops --variant lora=...):
 * - "composed" (default): dropout kernel materializing drop(x), cuBLAS GEMMs, linear_fwd/bwd.
 * - "fused" (opt-in, NEVER RUN on a GPU yet): no drop(x) buffer in forward (lora_down_kernel draws
 *   the mask while it reads x: fp32 partials over <= WF_LORA_KSPLIT chunks of K, summed in order),
 *   y = scale h B^T (+ bias, cuBLASLt epilogue) then the base GEMM adds x W^T with beta = 1 (no
 *   separate pass over y); backward: dx = drop_bwd(dh A) and the dA partials over 128-row blocks
 *   in one pass over x (lora_bwd_x_kernel, r <= WF_LORA_RQ and K % 4 == 0; else drop(x) is
 *   materialized), then the base GEMM adds dy W onto dx with beta = 1.
 * Bytes beyond the base GEMMs (bf16, N = M = 2048 tokens/outputs, r = 16, p > 0, frozen base;
 * base = 2NKM FLOP each way: 17.2 GFLOP at K = 2048, 68.7 at K = 8192, i.e. 19 / 77 us at the
 * measured 890 TFLOP/s), "x" = N K 2 B (8 / 32 MiB), "y" = N M 2 B (8 MiB), at ~3.5 TB/s:
 *   composed fwd: dropout r+w 2x, GEMM h reads x, y += hB^T r+w 2y      = 3x + 2y
 *   composed bwd: dy read twice (dB, dh), dropout 2x, dA reads x, dh A writes x, dropout in place
 *                 2x, add 3x                                            = 9x + 2y
 *   fused fwd:    down kernel reads x + 4 MiB partials, y write, beta=1 read = x + 2y + 4 MiB
 *   fused bwd:    dy twice, x read, dx write, dA partials (N/128) r K 4 B r+w, beta=1 read of dx
 *                 = 3x + 2y + x/2 (partials: 4 MiB at K = 2048, 16 MiB at K = 8192)
 *   K = 2048: composed 12x + 4y = 128 MiB (~38 us), fused 4.5x + 4y + 4 = 72 MiB (~22 us):
 *     expected fwd+bwd 1.5-1.6x the base GEMMs (38.6 us) with fused, ~2x composed (as measured).
 *   K = 8192: composed 416 MiB (~125 us), fused 180 MiB (~54 us) against 154 us of base: ~1.35x.
 *   Extra FLOPs are 2Nr(K+M) each way (1.6% at K = 2048); the down and dx kernels run them on
 *   fp32 CUDA cores next to one Philox draw per 4 elements, which may make them compute-bound at
 *   ~the same time as their bytes. The 1.10x target needs the remaining y / dx passes and the
 *   x / dy reads inside the base GEMM (a custom GEMM epilogue / prologue): not done here. */
#include <string.h>

#include "common.cuh"

extern "C" {
#include "weft/rng.h"
}

/* Scratch for `count` elements of dtype dt; the caller resets the arena. */
static wf_status lora_scratch(wf_backend *be, int64_t count, wf_dtype dt, void **out) {
    return wf_arena_alloc(&be->scratch, (size_t)count * wf_dtype_size(dt), out);
}

/* drop(x) (n, k) into scratch, or x itself when p == 0. */
static wf_status lora_dropped_x(wf_backend *be, const wf_lora *l, const void **out) {
    *out = l->x->data;
    if (l->drop.p == 0.0f) return WF_OK;
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    void *buf = NULL;
    WF_TRY(lora_scratch(be, n * k, l->x->dtype, &buf));
    wf_tensor t = wf_tensor_make(buf, l->x->dtype, 2, n, k);
    WF_TRY(wf_cuda_dropout(be, &t, l->x, &l->drop));
    *out = buf;
    return WF_OK;
}

/* ---- variant "composed" ---- */

static wf_status lora_fwd_composed(wf_backend *be, const wf_lora *l) {
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    int64_t m = l->w->shape[0], r = l->a->shape[0];
    wf_dtype dt = l->x->dtype;
    const void *xd = NULL;
    WF_TRY(lora_dropped_x(be, l, &xd));
    /* h (n, r) = drop(x) (n, k) A^T (k, r) */
    WF_TRY(wf_cuda_gemm(be, "lora_fwd", false, true, n, r, k, 1.0f, xd, k, 0, l->a->data, k, 0, dt,
                        0.0f, l->h->data, r, 0, dt, 1));
    WF_TRY(wf_cuda_linear_fwd(be, l->y, l->x, l->w, l->bias));
    /* y (n, m) += scale h (n, r) B^T (r, m) */
    return wf_cuda_gemm(be, "lora_fwd", false, true, n, m, r, l->scale, l->h->data, r, 0,
                        l->b->data, r, 0, dt, 1.0f, l->y->data, m, 0, dt, 1);
}


/* The low-rank part of the backward; dx already holds dy W when given. */
static wf_status lora_bwd_lowrank(wf_backend *be, const wf_lora *l) {
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    int64_t m = l->w->shape[0], r = l->a->shape[0];
    wf_dtype dt = l->x->dtype;
    const void *dy = l->dy->data;
    void *dh = NULL;
    WF_TRY(lora_scratch(be, n * r, dt, &dh));
    /* dB (m, r) += scale dy^T (m, n) h (n, r) */
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", true, false, m, r, n, l->scale, dy, m, 0, l->h->data, r, 0,
                        dt, 1.0f, l->db->data, r, 0, l->db->dtype, 1));
    /* dh (n, r) = scale dy (n, m) B (m, r) */
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", false, false, n, r, m, l->scale, dy, m, 0, l->b->data, r, 0,
                        dt, 0.0f, dh, r, 0, dt, 1));
    const void *xd = NULL;
    WF_TRY(lora_dropped_x(be, l, &xd));
    /* dA (r, k) += dh^T (r, n) drop(x) (n, k) */
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", true, false, r, k, n, 1.0f, dh, r, 0, xd, k, 0, dt, 1.0f,
                        l->da->data, k, 0, l->da->dtype, 1));
    if (!l->dx) return WF_OK;
    if (l->drop.p == 0.0f) /* dx (n, k) += dh (n, r) A (r, k) */
        return wf_cuda_gemm(be, "lora_bwd", false, false, n, k, r, 1.0f, dh, r, 0, l->a->data, k,
                            0, dt, 1.0f, l->dx->data, k, 0, l->dx->dtype, 1);
    /* dx += drop_bwd(dh A): dh A into the drop(x) buffer (no longer needed), then the same mask
     * and 1/(1-p) applied and added onto dx in one pass (the same roundings as dropout then add) */
    void *tmp = (void *)xd;
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", false, false, n, k, r, 1.0f, dh, r, 0, l->a->data, k, 0, dt,
                        0.0f, tmp, k, 0, dt, 1));
    wf_tensor t = wf_tensor_make(tmp, dt, 2, n, k);
    return wf_cuda_dropout_add(be, "lora_bwd", l->dx, &t, &l->drop); /* dx is like x (ops) */
}

static wf_status lora_bwd_composed(wf_backend *be, const wf_lora *l) {
    /* Base part first: dx = dy W (the low-rank part adds onto it), dW, dbias when given. */
    WF_TRY(wf_cuda_linear_bwd(be, l->dx, l->dw, l->dbias, l->dy, l->x, l->w));
    return lora_bwd_lowrank(be, l);
}


/* ---- variant "fused" ---- */

static_assert(WF_LORA_KTILE % 4 == 0, "a Philox draw and a float4 read cover 4 columns");
static_assert(WF_LORA_BWD_WARPS >= 2, "lora_bwd_x_kernel adds warps 1.. onto warp 0");

/* The dropout multipliers of the flat elements idx0 .. idx0 + 3 of x: 1/(1-p) where kept, else 0
 * (ops.h wf_dropout). One Philox draw when idx0 % 4 == 0 (its 4 uniforms are exactly these
 * elements', as dropout.cu), else one draw per element (K % 4 != 0). */
__device__ __forceinline__ void lora_keep4(float m[4], uint64_t idx0, float p, float inv_keep,
                                           uint64_t seed, uint32_t step, uint32_t stream) {
    if ((idx0 & 3) == 0) {
        uint64_t g = idx0 >> 2; /* wf_rng_uniform's counter: {idx >> 2, idx >> 34, step, stream} */
        wf_philox4 c = {{(uint32_t)g, (uint32_t)(g >> 32), step, stream}};
        wf_philox4 r = wf_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
#pragma unroll
        for (int e = 0; e < 4; e++)
            m[e] = (float)(r.v[e] >> 8) * (1.0f / 16777216.0f) >= p ? inv_keep : 0.0f;
        return;
    }
#pragma unroll
    for (int e = 0; e < 4; e++)
        m[e] = wf_rng_uniform(seed, step, stream, idx0 + e) >= p ? inv_keep : 0.0f;
}

/* v = p[0..3] as fp32: one 8- or 16-byte load when vec (p aligned to 4 elements), else four. */
template <typename T>
__device__ __forceinline__ void lora_load4(float v[4], const T *p, bool vec) {
    if (!vec) {
#pragma unroll
        for (int e = 0; e < 4; e++) v[e] = wf_to_f32(p[e]);
    } else if constexpr (sizeof(T) == 4) {
        float4 f = *reinterpret_cast<const float4 *>(p);
        v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
    } else {
        uint2 u = *reinterpret_cast<const uint2 *>(p);
        T t[4];
        memcpy(t, &u, sizeof u);
#pragma unroll
        for (int e = 0; e < 4; e++) v[e] = wf_to_f32(t[e]);
    }
}

/* p[0..3] = v rounded to T: one 8- or 16-byte store when vec, else four. */
template <typename T>
__device__ __forceinline__ void lora_store4(T *p, const float v[4], bool vec) {
    T t[4];
#pragma unroll
    for (int e = 0; e < 4; e++) t[e] = wf_from_f32<T>(v[e]);
    if (!vec) {
#pragma unroll
        for (int e = 0; e < 4; e++) p[e] = t[e];
    } else if constexpr (sizeof(T) == 4) {
        *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
    } else {
        uint2 u;
        memcpy(&u, t, sizeof u);
        *reinterpret_cast<uint2 *>(p) = u;
    }
}

/* Partial sums of h = drop(x) A^T over chunk blockIdx.y of K (kc columns, whole tiles), one row
 * of x per thread, outputs q0 .. q0 + WF_LORA_RQ - 1 (q0 = blockIdx.z WF_LORA_RQ):
 *   part (S, n, r) fp32 "=";  x (n, k);  a (r, k).
 * A's tile sits in shared memory as fp32; every lane reads the same 4 elements (a broadcast).
 * vec: k % 4 == 0 and x aligned to 4 elements (4 columns of a row in one load). */
template <typename T>
__global__ void __launch_bounds__(WF_LORA_DOWN_BLOCK)
    lora_down_kernel(float *part, const T *x, const T *a, int64_t n, int64_t k, int64_t r,
                     int64_t kc, bool vec, float p, float inv_keep, uint64_t seed, uint32_t step,
                     uint32_t stream) {
    /* A[q0 + q, kt + j], 0 past r or the chunk; 16-byte rows for the float4 reads */
    __shared__ __align__(16) float as[WF_LORA_RQ][WF_LORA_KTILE];
    int64_t row = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t q0 = (int64_t)blockIdx.z * WF_LORA_RQ;
    int qn = (int)(r - q0 < WF_LORA_RQ ? r - q0 : WF_LORA_RQ);
    int64_t k0 = (int64_t)blockIdx.y * kc, k1 = k0 + kc < k ? k0 + kc : k;
    float acc[WF_LORA_RQ];
#pragma unroll
    for (int q = 0; q < WF_LORA_RQ; q++) acc[q] = 0.0f;
    for (int64_t kt = k0; kt < k1; kt += WF_LORA_KTILE) {
        int len = (int)(k1 - kt < WF_LORA_KTILE ? k1 - kt : WF_LORA_KTILE);
        __syncthreads(); /* every thread is done with the previous tile */
        for (int i = threadIdx.x; i < WF_LORA_RQ * WF_LORA_KTILE; i += blockDim.x) {
            int q = i / WF_LORA_KTILE, j = i % WF_LORA_KTILE;
            as[q][j] = q < qn && j < len ? wf_to_f32(a[(q0 + q) * k + kt + j]) : 0.0f;
        }
        __syncthreads();
        if (row >= n) continue; /* still takes part in the barriers */
        const T *xr = x + row * k + kt;
        for (int j = 0; j < len; j += 4) { /* j + 3 < WF_LORA_KTILE: the tile is a multiple of 4 */
            float m[4], xv[4];
            lora_keep4(m, (uint64_t)(row * k + kt + j), p, inv_keep, seed, step, stream);
            if (vec) { /* k % 4 == 0: len is a multiple of 4 */
                lora_load4(xv, xr + j, true);
            } else {
#pragma unroll
                for (int e = 0; e < 4; e++) xv[e] = j + e < len ? wf_to_f32(xr[j + e]) : 0.0f;
            }
#pragma unroll
            for (int e = 0; e < 4; e++) xv[e] *= m[e];
#pragma unroll
            for (int q = 0; q < WF_LORA_RQ; q++) {
                float4 a4 = *reinterpret_cast<const float4 *>(&as[q][j]);
                acc[q] += xv[0] * a4.x;
                acc[q] += xv[1] * a4.y;
                acc[q] += xv[2] * a4.z;
                acc[q] += xv[3] * a4.w;
            }
        }
    }
    if (row >= n) return;
    float *out = part + ((int64_t)blockIdx.y * n + row) * r + q0;
#pragma unroll
    for (int q = 0; q < WF_LORA_RQ; q++) /* static indices: acc stays in registers */
        if (q < qn) out[q] = acc[q];
}

/* out (count) "=" (or "+=" when accumulate) the sum of part (chunks, count) fp32 over chunks
 * 0, 1, ... in that order: the fixed-order second pass of the down and dA partial sums. */
template <typename T>
__global__ void __launch_bounds__(WF_EW_BLOCK)
    lora_sum_parts_kernel(T *out, const float *part, int64_t count, int64_t chunks,
                          bool accumulate) {
    for (int64_t i = wf_tid(); i < count; i += wf_nthreads()) {
        float s = 0.0f;
        for (int64_t c = 0; c < chunks; c++) s += part[c * count + i];
        out[i] = wf_from_f32<T>(accumulate ? wf_to_f32(out[i]) + s : s);
    }
}

template <typename T>
static wf_status lora_sum_parts(wf_backend *be, const char *op, T *out, const float *part,
                                int64_t count, int64_t chunks, bool accumulate) {
    WF_LAUNCH(wf_cuda_grid(be, count, WF_EW_BLOCK), WF_EW_BLOCK, 0,
                               wf_cuda_stream(be), lora_sum_parts_kernel<T>)(
                               out, part, count, chunks, accumulate);
    WF_CUDA_LAUNCHED(op);
    return WF_OK;
}

/* h (n, r) "=" drop(x) A^T for p > 0 without a drop(x) buffer: the down kernel into fp32
 * partials over S <= WF_LORA_KSPLIT chunks of K, then their sum in chunk order. */
static wf_status lora_down(wf_backend *be, const wf_lora *l) {
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x), r = l->a->shape[0];
    int64_t tiles = (k + WF_LORA_KTILE - 1) / WF_LORA_KTILE;
    int64_t per = (tiles + WF_LORA_KSPLIT - 1) / WF_LORA_KSPLIT; /* tiles a chunk */
    int64_t chunks = (tiles + per - 1) / per, kc = per * WF_LORA_KTILE;
    void *buf = NULL;
    WF_TRY(lora_scratch(be, chunks * n * r, WF_F32, &buf));
    float *part = (float *)buf;
    dim3 grid((unsigned)((n + WF_LORA_DOWN_BLOCK - 1) / WF_LORA_DOWN_BLOCK), (unsigned)chunks,
              (unsigned)((r + WF_LORA_RQ - 1) / WF_LORA_RQ));
    const wf_dropout *d = &l->drop;
    float inv_keep = 1.0f / (1.0f - d->p);
    return wf_cuda_by_dtype("lora_fwd", l->x->dtype, [&](auto tag) {
        using T = decltype(tag);
        bool vec = k % 4 == 0 && wf_cuda_aligned(l->x->data, 4 * sizeof(T));
        WF_LAUNCH(grid, WF_LORA_DOWN_BLOCK, 0, wf_cuda_stream(be), lora_down_kernel<T>)(
            part, (const T *)l->x->data, (const T *)l->a->data, n, k, r, kc, vec, d->p, inv_keep,
            d->seed, d->step, d->stream);
        WF_CUDA_LAUNCHED("lora_fwd");
        return lora_sum_parts<T>(be, "lora_fwd", (T *)l->h->data, part, n * r, chunks, false);
    });
}

/* h, then y = scale h B^T (+ bias in the cuBLASLt epilogue), then y += x W^T with beta = 1:
 * the base GEMM reads y in its epilogue instead of a separate read-modify-write pass. */
static wf_status lora_fwd_fused(wf_backend *be, const wf_lora *l) {
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    int64_t m = l->w->shape[0], r = l->a->shape[0];
    wf_dtype dt = l->x->dtype;
    if (l->drop.p == 0.0f) /* h (n, r) = x (n, k) A^T (k, r): nothing to fuse */
        WF_TRY(wf_cuda_gemm(be, "lora_fwd", false, true, n, r, k, 1.0f, l->x->data, k, 0,
                            l->a->data, k, 0, dt, 0.0f, l->h->data, r, 0, dt, 1));
    else
        WF_TRY(lora_down(be, l));
    if (l->bias) {
        bool done = false;
        WF_TRY(wf_cuda_linear_lt(be, l->y->data, l->h->data, l->b->data, l->bias->data, n, m, r,
                                 dt, l->scale, &done));
        if (!done) { /* no cuBLASLt algorithm (e.g. r = 1): the composed order */
            WF_TRY(wf_cuda_linear_fwd(be, l->y, l->x, l->w, l->bias));
            return wf_cuda_gemm(be, "lora_fwd", false, true, n, m, r, l->scale, l->h->data, r, 0,
                                l->b->data, r, 0, dt, 1.0f, l->y->data, m, 0, dt, 1);
        }
    } else { /* y (n, m) = scale h (n, r) B^T (r, m) */
        WF_TRY(wf_cuda_gemm(be, "lora_fwd", false, true, n, m, r, l->scale, l->h->data, r, 0,
                            l->b->data, r, 0, dt, 0.0f, l->y->data, m, 0, dt, 1));
    }
    /* y (n, m) += x (n, k) W^T (k, m) */
    return wf_cuda_gemm(be, "lora_fwd", false, true, n, m, k, 1.0f, l->x->data, k, 0, l->w->data,
                        k, 0, dt, 1.0f, l->y->data, m, 0, dt, 1);
}

/* Backward's one pass over x for p > 0 (r <= WF_LORA_RQ, k % 4 == 0). Lane l of block-column
 * blockIdx.x owns columns c = col .. col + 3 of x; the block's warps take the rows of row block
 * blockIdx.y round-robin. With m(i, c) = 1/(1-p) where element (i, c) is kept, else 0:
 *   dx[i, c] "=" m(i, c) sum_q dh[i, q] A[q, c]   (drop_bwd(dh A); skipped when dx is NULL)
 *   part[blockIdx.y, q, c] "=" sum over the block's rows i of dh[i, q] m(i, c) x[i, c]
 * dh (n, r), a (r, k), x and dx (n, k), part (row blocks, r, k) fp32. The warps' sums are
 * added in warp order (shared memory), so the result does not depend on scheduling.
 * vec: x and dx aligned to 4 elements (vector loads and stores). */
template <typename T>
__global__ void __launch_bounds__(WF_LORA_BWD_WARPS * 32)
    lora_bwd_x_kernel(float *part, T *dx, const T *x, const T *dh, const T *a, int64_t n,
                      int64_t k, int64_t r, bool vec, float p, float inv_keep, uint64_t seed,
                      uint32_t step, uint32_t stream) {
    __shared__ float red[WF_LORA_BWD_WARPS - 1][WF_LORA_RQ * 4][32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    int64_t col = ((int64_t)blockIdx.x * 32 + lane) * 4;
    bool active = col < k; /* k % 4 == 0: a lane's 4 columns are all in range or all out */
    float av[WF_LORA_RQ][4], acc[WF_LORA_RQ][4]; /* A[q, c]; the lane's dA sums */
#pragma unroll
    for (int q = 0; q < WF_LORA_RQ; q++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            av[q][e] = active && q < r ? wf_to_f32(a[q * k + col + e]) : 0.0f;
            acc[q][e] = 0.0f;
        }
    int64_t r0 = (int64_t)blockIdx.y * WF_LORA_BWD_ROWS;
    int64_t r1 = r0 + WF_LORA_BWD_ROWS < n ? r0 + WF_LORA_BWD_ROWS : n;
    for (int64_t i = r0 + warp; active && i < r1; i += WF_LORA_BWD_WARPS) {
        float m[4], xd[4], dhv[WF_LORA_RQ];
        lora_keep4(m, (uint64_t)(i * k + col), p, inv_keep, seed, step, stream);
        lora_load4(xd, x + i * k + col, vec);
#pragma unroll
        for (int e = 0; e < 4; e++) xd[e] *= m[e];
#pragma unroll
        for (int q = 0; q < WF_LORA_RQ; q++) dhv[q] = q < r ? wf_to_f32(dh[i * r + q]) : 0.0f;
        if (dx) {
            float v[4];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float s = 0.0f;
#pragma unroll
                for (int q = 0; q < WF_LORA_RQ; q++) s += dhv[q] * av[q][e];
                v[e] = s * m[e];
            }
            lora_store4(dx + i * k + col, v, vec);
        }
#pragma unroll
        for (int q = 0; q < WF_LORA_RQ; q++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[q][e] += dhv[q] * xd[e];
    }
    if (warp > 0) {
#pragma unroll
        for (int q = 0; q < WF_LORA_RQ; q++)
#pragma unroll
            for (int e = 0; e < 4; e++) red[warp - 1][q * 4 + e][lane] = acc[q][e];
    }
    __syncthreads();
    if (warp > 0 || !active) return;
    for (int w = 0; w < WF_LORA_BWD_WARPS - 1; w++)
#pragma unroll
        for (int q = 0; q < WF_LORA_RQ; q++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[q][e] += red[w][q * 4 + e][lane];
    float *out = part + (int64_t)blockIdx.y * r * k;
#pragma unroll
    for (int q = 0; q < WF_LORA_RQ; q++)
        if (q < r)
#pragma unroll
            for (int e = 0; e < 4; e++) out[q * k + col + e] = acc[q][e];
}

/* dA += dh^T drop(x) and (when dx) dx "=" drop_bwd(dh A) for p > 0 in one pass over x (the
 * kernel above, then the row blocks' partials added in order onto dA); r <= WF_LORA_RQ and
 * k % 4 == 0, else through a drop(x) buffer as the composed variant. */
static wf_status lora_bwd_dropped(wf_backend *be, const wf_lora *l, const void *dh) {
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x), r = l->a->shape[0];
    wf_dtype dt = l->x->dtype;
    int64_t blocks = (n + WF_LORA_BWD_ROWS - 1) / WF_LORA_BWD_ROWS;
    if (r > WF_LORA_RQ || k % 4 != 0 || blocks > 65535) {
        const void *xd = NULL;
        WF_TRY(lora_dropped_x(be, l, &xd));
        WF_TRY(wf_cuda_gemm(be, "lora_bwd", true, false, r, k, n, 1.0f, dh, r, 0, xd, k, 0, dt,
                            1.0f, l->da->data, k, 0, l->da->dtype, 1));
        if (!l->dx) return WF_OK;
        WF_TRY(wf_cuda_gemm(be, "lora_bwd", false, false, n, k, r, 1.0f, dh, r, 0, l->a->data, k,
                            0, dt, 0.0f, l->dx->data, k, 0, dt, 1));
        return wf_cuda_dropout(be, l->dx, l->dx, &l->drop); /* the same mask and 1/(1-p) */
    }
    void *buf = NULL;
    WF_TRY(lora_scratch(be, blocks * r * k, WF_F32, &buf));
    const float *part = (const float *)buf;
    dim3 grid((unsigned)((k / 4 + 31) / 32), (unsigned)blocks);
    const wf_dropout *d = &l->drop;
    float inv_keep = 1.0f / (1.0f - d->p);
    return wf_cuda_by_dtype("lora_bwd", dt, [&](auto tag) {
        using T = decltype(tag);
        T *dx = l->dx ? (T *)l->dx->data : (T *)NULL;
        bool vec = wf_cuda_aligned(l->x->data, 4 * sizeof(T)) && wf_cuda_aligned(dx, 4 * sizeof(T));
        WF_LAUNCH(grid, WF_LORA_BWD_WARPS * 32, 0, wf_cuda_stream(be), lora_bwd_x_kernel<T>)(
            (float *)buf, dx, (const T *)l->x->data, (const T *)dh, (const T *)l->a->data, n, k,
            r, vec, d->p, inv_keep, d->seed, d->step, d->stream);
        WF_CUDA_LAUNCHED("lora_bwd");
        return wf_cuda_by_dtype("lora_bwd", l->da->dtype, [&](auto da_tag) {
            using Ta = decltype(da_tag);
            return lora_sum_parts<Ta>(be, "lora_bwd", (Ta *)l->da->data, part, r * k, blocks,
                                      true);
        });
    });
}

/* dB, dh; the low-rank dx "=" first; then the base GEMM adds dy W onto dx with beta = 1. */
static wf_status lora_bwd_fused(wf_backend *be, const wf_lora *l) {
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    int64_t m = l->w->shape[0], r = l->a->shape[0];
    wf_dtype dt = l->x->dtype;
    const void *dy = l->dy->data;
    if (l->dw || l->dbias) /* dW += dy^T x, dbias += colsum(dy); no dx here */
        WF_TRY(wf_cuda_linear_bwd(be, NULL, l->dw, l->dbias, l->dy, l->x, l->w));
    void *dh = NULL;
    WF_TRY(lora_scratch(be, n * r, dt, &dh));
    /* dB (m, r) += scale dy^T (m, n) h (n, r) */
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", true, false, m, r, n, l->scale, dy, m, 0, l->h->data, r, 0,
                        dt, 1.0f, l->db->data, r, 0, l->db->dtype, 1));
    /* dh (n, r) = scale dy (n, m) B (m, r) */
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", false, false, n, r, m, l->scale, dy, m, 0, l->b->data, r, 0,
                        dt, 0.0f, dh, r, 0, dt, 1));
    if (l->drop.p > 0.0f) {
        WF_TRY(lora_bwd_dropped(be, l, dh));
    } else {
        /* dA (r, k) += dh^T (r, n) x (n, k) */
        WF_TRY(wf_cuda_gemm(be, "lora_bwd", true, false, r, k, n, 1.0f, dh, r, 0, l->x->data, k,
                            0, dt, 1.0f, l->da->data, k, 0, l->da->dtype, 1));
        if (l->dx) /* dx (n, k) = dh (n, r) A (r, k) */
            WF_TRY(wf_cuda_gemm(be, "lora_bwd", false, false, n, k, r, 1.0f, dh, r, 0,
                                l->a->data, k, 0, dt, 0.0f, l->dx->data, k, 0, dt, 1));
    }
    if (!l->dx) return WF_OK;
    /* dx (n, k) += dy (n, m) W (m, k) */
    return wf_cuda_gemm(be, "lora_bwd", false, false, n, k, m, 1.0f, dy, m, 0, l->w->data, k, 0,
                        dt, 1.0f, l->dx->data, k, 0, dt, 1);
}

/* The fused kernels need K, r and M > 0 (grids, chunk arithmetic); the composed path already
 * handles the empty cases through cuBLAS's k = 0 rule and linear_fwd/bwd. */
static bool lora_use_fused(const wf_backend *be, const wf_lora *l) {
    return wf_cuda_impl_of(be)->lora_variant == 1 && wf_tensor_cols(l->x) > 0 &&
           l->a->shape[0] > 0 && l->w->shape[0] > 0;
}

extern "C" wf_status wf_cuda_lora_fwd(wf_backend *be, const wf_lora *l) {
    if (wf_tensor_rows(l->x) <= 0) return WF_OK;
    size_t mark = wf_arena_mark(&be->scratch);
    wf_status s = lora_use_fused(be, l) ? lora_fwd_fused(be, l) : lora_fwd_composed(be, l);
    wf_arena_reset(&be->scratch, mark);
    return s;
}

extern "C" wf_status wf_cuda_lora_bwd(wf_backend *be, const wf_lora *l) {
    if (wf_tensor_rows(l->x) <= 0) return WF_OK;
    size_t mark = wf_arena_mark(&be->scratch);
    wf_status s = lora_use_fused(be, l) ? lora_bwd_fused(be, l) : lora_bwd_composed(be, l);
    wf_arena_reset(&be->scratch, mark);
    return s;
}
