/* Launchers of the tiled attention kernels (attention_flash.cuh, attention_flash2.cuh) for one
 * head dim D, shared by the translation units attention_tiled_d<D>.cu: the kernels' template
 * instantiations are most of the CUDA backend's compile time, so each head dim compiles in its
 * own unit, in parallel (the GPU check builds for one architecture, where attention.cu alone took
 * ~90 s of the build). attention.cu checks the call (flash_applies) and picks the unit by D. */
#ifndef WEFT_KERNELS_CUDA_ATTENTION_TILED_CUH
#define WEFT_KERNELS_CUDA_ATTENTION_TILED_CUH

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <type_traits>

#include "attention_flash2.cuh"
#include "common.cuh"

/* The per-D entry points (attention_tiled_d<D>.cu): the tiled forward / backward of a call
 * flash_applies accepted, through flash (v2 false) or flash2 in the backend's configuration;
 * dvec: scratch of B H T floats. */
#define WF_ATTENTION_TILED_DECL(D)                                                               \
    wf_status wf_cuda_tiled_fwd_d##D(wf_backend *be, const wf_attention *a, bool v2);           \
    wf_status wf_cuda_tiled_bwd_d##D(wf_backend *be, const wf_attention *a, bool v2, float *dvec);
WF_ATTENTION_TILED_DECL(32)
WF_ATTENTION_TILED_DECL(64)
WF_ATTENTION_TILED_DECL(80)
WF_ATTENTION_TILED_DECL(96)
WF_ATTENTION_TILED_DECL(128)

static inline flash_dims flash_dims_of(const wf_attention *a) {
    flash_dims w;
    w.B = a->q->shape[0], w.T = a->q->shape[1], w.H = a->q->shape[2];
    w.S = a->k->shape[1], w.Hk = a->k->shape[2];
    w.group = w.H / w.Hk, w.shift = w.S - w.T;
    w.causal = a->causal, w.scale_log2 = a->scale * FL_LOG2E;
    w.key_mask = a->key_mask ? (const int32_t *)a->key_mask->data : NULL;
    w.doc_ids = a->doc_ids ? (const int32_t *)a->doc_ids->data : NULL;
    return w;
}

/* Allows kernel K the dynamic shared memory it needs beyond the default 48 KiB. The attribute
 * belongs to the function on the current device and stays set, and a kernel's size is a
 * compile-time constant of its instantiation, so it is set once per kernel and device (ordinals
 * below 64; others every launch), not at every launch. */
template <auto K> static wf_status flash_smem(size_t bytes, const char *op) {
    if (bytes <= 48 * 1024) return WF_OK;
    static std::atomic<uint64_t> done{0}; /* bit d: set on device d */
    int dev = -1;
    if (cudaGetDevice(&dev) != cudaSuccess || dev >= 64) dev = -1;
    const uint64_t bit = dev >= 0 ? (uint64_t)1 << dev : 0;
    if (bit && (done.load(std::memory_order_relaxed) & bit)) return WF_OK;
    cudaError_t e = cudaFuncSetAttribute(K, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)bytes);
    if (e == cudaSuccess) {
        done.fetch_or(bit, std::memory_order_relaxed);
        return WF_OK;
    }
    return wf_error(WF_ERR_BACKEND, "op %s on backend 'cuda': %zu bytes of shared memory: %s", op,
                    bytes, cudaGetErrorString(e));
}

/* Backward pass 0 of both tiled variants: Dvec (B H T) = rowwise dO . O (attention_flash.cuh). */
template <typename T, int D>
static wf_status flash_dvec(wf_backend *be, const wf_attention *a, float *dvec, const flash_dims &w) {
    const int64_t qrows = w.B * w.H * w.T;
    WF_LAUNCH(wf_cuda_grid(be, qrows, WF_FLASH_WARPS), WF_FLASH_WARPS * 32, 0, wf_cuda_stream(be),
              attention_flash_dot_kernel<T>)(dvec, (const T *)a->out->data,
                                             (const T *)a->dout->data, D, w);
    return WF_CUDA_LAUNCH_STATUS("attention_bwd");
}

template <typename T, int D> static wf_status flash_fwd(wf_backend *be, const wf_attention *a) {
    const flash_dims w = flash_dims_of(a);
    constexpr size_t LD = D + WF_FLASH_PAD;
    const size_t smem = (FL_BM + 2 * WF_FLASH_BN) * LD * sizeof(T);
    WF_TRY((flash_smem<attention_flash_fwd_kernel<T, D>>(smem, "attention_fwd")));
    dim3 grid((unsigned)((w.T + FL_BM - 1) / FL_BM), (unsigned)(w.B * w.H));
    WF_LAUNCH(grid, WF_FLASH_WARPS * 32, smem, wf_cuda_stream(be),
              attention_flash_fwd_kernel<T, D>)(
        (T *)a->out->data, (float *)a->lse->data, (const T *)a->q->data, (const T *)a->k->data,
        (const T *)a->v->data, w);
    return WF_CUDA_LAUNCH_STATUS("attention_fwd");
}

template <typename T, int D>
static wf_status flash_bwd(wf_backend *be, const wf_attention *a, float *dvec) {
    const flash_dims w = flash_dims_of(a);
    constexpr size_t LD = D + WF_FLASH_PAD;
    cudaStream_t st = wf_cuda_stream(be);
    const T *q = (const T *)a->q->data, *k = (const T *)a->k->data, *v = (const T *)a->v->data;
    const T *dout = (const T *)a->dout->data;
    const float *lse = (const float *)a->lse->data;
    const int64_t qrows = w.B * w.H * w.T;
    if (qrows > 0) {
        WF_TRY((flash_dvec<T, D>(be, a, dvec, w)));
        const size_t smem = (2 * FL_BM + 2 * WF_FLASH_BN) * LD * sizeof(T);
        WF_TRY((flash_smem<attention_flash_dq_kernel<T, D>>(smem, "attention_bwd")));
        dim3 grid((unsigned)((w.T + FL_BM - 1) / FL_BM), (unsigned)(w.B * w.H));
        WF_LAUNCH(grid, WF_FLASH_WARPS * 32, smem, st, attention_flash_dq_kernel<T, D>)(
            (T *)a->dq->data, q, k, v, dout, lse, dvec, a->scale, w);
        WF_TRY(WF_CUDA_LAUNCH_STATUS("attention_bwd"));
    }
    if (w.B * w.Hk * w.S > 0) { /* with T = 0 this writes dk = dv = 0 */
        const size_t smem = (2 * FL_BM + 2 * WF_FLASH_BQ) * LD * sizeof(T) +
                            2 * WF_FLASH_BQ * sizeof(float);
        WF_TRY((flash_smem<attention_flash_dkv_kernel<T, D>>(smem, "attention_bwd")));
        dim3 grid((unsigned)((w.S + FL_BM - 1) / FL_BM), (unsigned)(w.B * w.Hk));
        WF_LAUNCH(grid, WF_FLASH_WARPS * 32, smem, st, attention_flash_dkv_kernel<T, D>)(
            (T *)a->dk->data, (T *)a->dv->data, q, k, v, dout, lse, dvec, a->scale, w);
        WF_TRY(WF_CUDA_LAUNCH_STATUS("attention_bwd"));
    }
    return WF_OK;
}

/* ---- flash2 variant (attention_flash2.cuh) ---- */

/* flash2 configurations: row 0 the default (tuning.cuh's WF_FLASH2_* constants), then
 * WF_FLASH2_ALT_CONFIGS; WF_FLASH2_CONFIG names one at backend open. */
struct fl2_row {
    const char *name;
    int w_small, bn_small, bq_small, w_large, bn_large, bq_large;
    int mq_small, mk_small, mq_large, mk_large; /* m-tiles a warp: forward/dq, dk/dv */
};
#define FL2_ROW(name, ws, ns, qs, wl, nl, ql, mqs, mks, mql, mkl)                                \
    {name, ws, ns, qs, wl, nl, ql, mqs, mks, mql, mkl},
static constexpr fl2_row fl2_rows[] = {
    {"default", WF_FLASH2_WARPS_SMALL, WF_FLASH2_BN, WF_FLASH2_BQ_SMALL, WF_FLASH2_WARPS_LARGE,
     WF_FLASH2_BN, WF_FLASH2_BQ_LARGE, 1, 1, 1, 1},
    WF_FLASH2_ALT_CONFIGS(FL2_ROW)};
#undef FL2_ROW
static constexpr int FL2_NCONFIGS = (int)(sizeof fl2_rows / sizeof fl2_rows[0]);

/* Configuration I of fl2_rows for head dim D (I = 0 is fl2_default<D>, the same type). */
template <int I, int D>
using fl2_config = fl2_tiles<D <= 64 ? fl2_rows[I].w_small : fl2_rows[I].w_large,
                             D <= 64 ? fl2_rows[I].bn_small : fl2_rows[I].bn_large,
                             D <= 64 ? fl2_rows[I].bq_small : fl2_rows[I].bq_large,
                             D <= 64 ? fl2_rows[I].mq_small : fl2_rows[I].mq_large,
                             D <= 64 ? fl2_rows[I].mk_small : fl2_rows[I].mk_large>;
static_assert(std::is_same<fl2_config<0, 64>, fl2_default<64>>::value &&
                  std::is_same<fl2_config<0, 128>, fl2_default<128>>::value,
              "row 0 is the default configuration");

/* Calls f(C{}) with the backend's flash2 configuration C for dtype T, head dim D: any row of
 * fl2_rows for bf16 at D 64 or 128 (where the alternatives are instantiated), else the
 * default. */
template <typename T, int D, int I = 0, class F>
static wf_status fl2_with_config(const wf_backend *be, F &&f) {
    constexpr bool alts = std::is_same<T, __nv_bfloat16>::value && (D == 64 || D == 128);
    if constexpr (!alts || I + 1 >= FL2_NCONFIGS) {
        return f(fl2_config<alts ? I : 0, D>{});
    } else {
        if (wf_cuda_impl_of(be)->flash2_config == I) return f(fl2_config<I, D>{});
        return fl2_with_config<T, D, I + 1>(be, f);
    }
}

/* The forward/dq kernels read W, BN and MQ of a configuration, the dk/dv kernel W, BQ and MK:
 * the launchers instantiate them with the unused sizes set to the default's, so configurations
 * that differ only there share kernels (fewer instantiations; the default's are built
 * everywhere). */
template <int D, class C>
using fl2_q_tiles = fl2_tiles<C::W, C::BN, fl2_default<D>::BQ, C::MQ, fl2_default<D>::MK>;
template <int D, class C>
using fl2_kv_tiles = fl2_tiles<C::W, fl2_default<D>::BN, C::BQ, fl2_default<D>::MQ, C::MK>;

template <typename T, int D, class C>
static wf_status flash2_fwd(wf_backend *be, const wf_attention *a) {
    using QT = fl2_q_tiles<D, C>;
    const flash_dims w = flash_dims_of(a);
    constexpr int BM = C::BMQ, W = C::W;
    constexpr size_t LD = D + WF_FLASH_PAD;
    const size_t smem = (BM + 4 * C::BN) * LD * sizeof(T);
    WF_TRY((flash_smem<attention_flash2_fwd_kernel<T, D, QT>>(smem, "attention_fwd")));
    dim3 grid((unsigned)((w.T + BM - 1) / BM), (unsigned)(w.B * w.H));
    WF_LAUNCH(grid, W * 32, smem, wf_cuda_stream(be), attention_flash2_fwd_kernel<T, D, QT>)(
        (T *)a->out->data, (float *)a->lse->data, (const T *)a->q->data, (const T *)a->k->data,
        (const T *)a->v->data, w);
    return WF_CUDA_LAUNCH_STATUS("attention_fwd");
}

template <typename T, int D, class C>
static wf_status flash2_bwd(wf_backend *be, const wf_attention *a, float *dvec) {
    using QT = fl2_q_tiles<D, C>;
    using KT = fl2_kv_tiles<D, C>;
    const flash_dims w = flash_dims_of(a);
    constexpr int BMQ = C::BMQ, BMK = C::BMK, BQ = C::BQ, W = C::W;
    constexpr size_t LD = D + WF_FLASH_PAD;
    cudaStream_t st = wf_cuda_stream(be);
    const T *q = (const T *)a->q->data, *k = (const T *)a->k->data, *v = (const T *)a->v->data;
    const T *dout = (const T *)a->dout->data;
    const float *lse = (const float *)a->lse->data;
    const int64_t qrows = w.B * w.H * w.T;
    if (qrows > 0) {
        WF_TRY((flash_dvec<T, D>(be, a, dvec, w)));
        const size_t smem = (2 * BMQ + 4 * C::BN) * LD * sizeof(T);
        WF_TRY((flash_smem<attention_flash2_dq_kernel<T, D, QT>>(smem, "attention_bwd")));
        dim3 grid((unsigned)((w.T + BMQ - 1) / BMQ), (unsigned)(w.B * w.H));
        WF_LAUNCH(grid, W * 32, smem, st, attention_flash2_dq_kernel<T, D, QT>)(
            (T *)a->dq->data, q, k, v, dout, lse, dvec, a->scale, w);
        WF_TRY(WF_CUDA_LAUNCH_STATUS("attention_bwd"));
    }
    if (w.B * w.Hk * w.S > 0) { /* with T = 0 this writes dk = dv = 0 */
        /* K, V; two buffers of Q, dO and the fp32 lse, Dvec */
        const size_t smem = 2 * BMK * LD * sizeof(T) + 2 * (2 * BQ * LD * sizeof(T) +
                                                           2 * BQ * sizeof(float));
        WF_TRY((flash_smem<attention_flash2_dkv_kernel<T, D, KT>>(smem, "attention_bwd")));
        dim3 grid((unsigned)((w.S + BMK - 1) / BMK), (unsigned)(w.B * w.Hk));
        WF_LAUNCH(grid, W * 32, smem, st, attention_flash2_dkv_kernel<T, D, KT>)(
            (T *)a->dk->data, (T *)a->dv->data, q, k, v, dout, lse, dvec, a->scale, w);
        WF_TRY(WF_CUDA_LAUNCH_STATUS("attention_bwd"));
    }
    return WF_OK;
}

/* The body of wf_cuda_tiled_fwd_d<D> / _bwd_d<D> (bf16 or fp16: flash_applies checked). */
template <int D> static wf_status tiled_fwd(wf_backend *be, const wf_attention *a, bool v2) {
    return wf_cuda_by_dtype("attention_fwd", a->q->dtype, [&](auto tag) -> wf_status {
        using T = decltype(tag);
        if constexpr (std::is_same<T, float>::value) {
            return wf_error(WF_ERR_UNSUPPORTED, "attention: flash kernels take bf16/fp16 only");
        } else {
            if (!v2) return flash_fwd<T, D>(be, a);
            return fl2_with_config<T, D>(
                be, [&](auto c) { return flash2_fwd<T, D, decltype(c)>(be, a); });
        }
    });
}

template <int D>
static wf_status tiled_bwd(wf_backend *be, const wf_attention *a, bool v2, float *dvec) {
    return wf_cuda_by_dtype("attention_bwd", a->q->dtype, [&](auto tag) -> wf_status {
        using T = decltype(tag);
        if constexpr (std::is_same<T, float>::value) {
            return wf_error(WF_ERR_UNSUPPORTED, "attention: flash kernels take bf16/fp16 only");
        } else {
            if (!v2) return flash_bwd<T, D>(be, a, dvec);
            return fl2_with_config<T, D>(
                be, [&](auto c) { return flash2_bwd<T, D, decltype(c)>(be, a, dvec); });
        }
    });
}

/* Defines the entry points of head dim D (one attention_tiled_d<D>.cu each). */
#define WF_ATTENTION_TILED_DEFINE(D)                                                             \
    wf_status wf_cuda_tiled_fwd_d##D(wf_backend *be, const wf_attention *a, bool v2) {          \
        return tiled_fwd<D>(be, a, v2);                                                          \
    }                                                                                            \
    wf_status wf_cuda_tiled_bwd_d##D(wf_backend *be, const wf_attention *a, bool v2,             \
                                     float *dvec) {                                              \
        return tiled_bwd<D>(be, a, v2, dvec);                                                    \
    }

#endif
