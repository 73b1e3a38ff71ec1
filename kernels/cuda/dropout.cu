/* Dropout on the GPU (ops.h wf_dropout, MATH.md "Numbers"): y = x * (1/(1-p)) where
 * wf_rng_uniform(seed, step, stream, i) >= p, else 0 — the same Philox-4x32-10 stream as the CPU
 * (include/weft/rng.h is shared host/device code), so both backends draw the same mask. One
 * Philox call yields the 4 uniforms of elements 4g..4g+3, so a thread handles whole groups.
 * y may alias x (backward applies the same op to dy in place). Reference: kernels/cpu/dropout.c.
 * Also the CUDA backend's internal dropout-add (y += dropout(x), for lora.cu's backward). */
#include "elementwise.cuh"

extern "C" {
#include "weft/rng.h"
}

/* Which of group g's elements (4g..4g+3) are kept: wf_rng_uniform(seed, step, stream, i) >= p. */
__device__ __forceinline__ void dropout_keep4(bool k[4], int64_t g, float p, uint64_t seed,
                                              uint32_t step, uint32_t stream) {
    /* the counter of wf_rng_uniform for idx = 4g + e: {idx >> 2, idx >> 34, step, stream} */
    wf_philox4 c = {{(uint32_t)g, (uint32_t)((uint64_t)g >> 32), step, stream}};
    wf_philox4 r = wf_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
#pragma unroll
    for (int e = 0; e < 4; e++) {
        float u = (float)(r.v[e] >> 8) * (1.0f / 16777216.0f);
        k[e] = u >= p;
    }
}

/* The stored value of element i: dropout(x) rounded to T, or with ADD, y + that rounded value
 * rounded again (exactly the dropout op followed by the add op: the same two roundings). */
template <typename T, bool ADD>
__device__ __forceinline__ T dropout_out(T yv, float xv, bool keep, float scale) {
    const T d = wf_from_f32<T>(keep ? xv * scale : 0.0f);
    return ADD ? wf_from_f32<T>(wf_to_f32(yv) + wf_to_f32(d)) : d;
}

/* packed (x and y 16-byte aligned): a thread moves one 16-byte pack of P = 16 / sizeof(T)
 * elements (P / 4 Philox groups: 1 for fp32, 2 for bf16/fp16) per iteration; the groups past the
 * last whole pack, or all groups when not packed, go one group (4 scalar accesses) at a time.
 * Either way element i gets the same uniform and the same arithmetic (x * scale, or 0), so the
 * result is bit for bit that of the scalar loop. */
template <typename T, bool ADD>
__global__ void __launch_bounds__(WF_EW_BLOCK)
    dropout_kernel(T *y, const T *x, int64_t n, float p, float scale, uint64_t seed, uint32_t step,
                   uint32_t stream, bool packed) {
    constexpr int P = 16 / (int)sizeof(T);
    static_assert(P % 4 == 0, "a pack holds whole Philox groups");
    const int64_t tid = wf_tid(), stride = wf_nthreads();
    const int64_t npack = packed ? n / P : 0;
    for (int64_t q = tid; q < npack; q += stride) {
        const wf_pack<T> v = reinterpret_cast<const wf_pack<T> *>(x)[q];
        wf_pack<T> o = v; /* only read back with ADD */
        if (ADD) o = reinterpret_cast<const wf_pack<T> *>(y)[q];
#pragma unroll
        for (int j = 0; j < P / 4; j++) {
            bool k[4];
            dropout_keep4(k, q * (P / 4) + j, p, seed, step, stream);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = 4 * j + e;
                o.v[i] = dropout_out<T, ADD>(o.v[i], wf_to_f32(v.v[i]), k[e], scale);
            }
        }
        reinterpret_cast<wf_pack<T> *>(y)[q] = o;
    }
    const int64_t groups = (n + 3) / 4;
    for (int64_t g = npack * (P / 4) + tid; g < groups; g += stride) {
        bool k[4];
        dropout_keep4(k, g, p, seed, step, stream);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int64_t i = 4 * g + e;
            if (i >= n) break;
            y[i] = dropout_out<T, ADD>(ADD ? y[i] : T{}, wf_to_f32(x[i]), k[e], scale);
        }
    }
}

/* Launches dropout_kernel<T, ADD> over x's elements (p > 0). */
template <bool ADD>
static wf_status dropout_launch(wf_backend *be, const char *op, wf_tensor *y, const wf_tensor *x,
                                const wf_dropout *d) {
    const int64_t n = wf_tensor_numel(x);
    const float scale = 1.0f / (1.0f - d->p);
    return wf_cuda_by_dtype(op, x->dtype, [&](auto tag) {
        using T = decltype(tag);
        constexpr int64_t P = 16 / sizeof(T);
        const bool packed = wf_cuda_aligned(x->data, 16) && wf_cuda_aligned(y->data, 16);
        const int64_t items = packed ? n / P + (n % P + 3) / 4 : (n + 3) / 4;
        WF_LAUNCH(wf_cuda_grid(be, items, WF_EW_BLOCK), WF_EW_BLOCK, 0, wf_cuda_stream(be),
                  dropout_kernel<T, ADD>)((T *)y->data, (const T *)x->data, n, d->p, scale, d->seed,
                                          d->step, d->stream, packed);
        WF_CUDA_LAUNCHED(op);
        return WF_OK;
    });
}

extern "C" wf_status wf_cuda_dropout(wf_backend *be, wf_tensor *y, const wf_tensor *x,
                                     const wf_dropout *d) {
    if (wf_tensor_numel(x) <= 0) return WF_OK;
    if (d->p == 0.0f) { /* the identity: no mask to draw */
        if (y->data != x->data)
            WF_CUDA_CHECK(cudaMemcpyAsync(y->data, x->data, wf_tensor_nbytes(x),
                                          cudaMemcpyDeviceToDevice, wf_cuda_stream(be)));
        return WF_OK;
    }
    return dropout_launch<false>(be, "dropout", y, x, d);
}

wf_status wf_cuda_dropout_add(wf_backend *be, const char *op, wf_tensor *y, const wf_tensor *x,
                              const wf_dropout *d) {
    if (wf_tensor_numel(x) <= 0) return WF_OK;
    if (d->p == 0.0f) return wf_cuda_add(be, y, y, x);
    return dropout_launch<true>(be, op, y, x, d);
}
