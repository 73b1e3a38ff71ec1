/* Dropout on the GPU (ops.h wf_dropout, MATH.md "Numbers"): y = x * (1/(1-p)) where
 * wf_rng_uniform(seed, step, stream, i) >= p, else 0 — the same Philox-4x32-10 stream as the CPU
 * (include/weft/rng.h is shared host/device code), so both backends draw the same mask. One
 * Philox call yields the 4 uniforms of elements 4g..4g+3, so a thread handles such a group.
 * y may alias x (backward applies the same op to dy in place). Reference: kernels/cpu/dropout.c. */
#include "common.cuh"

extern "C" {
#include "weft/rng.h"
}

template <typename T>
__global__ void __launch_bounds__(WF_EW_BLOCK)
    dropout_kernel(T *y, const T *x, int64_t n, float p, float scale, uint64_t seed, uint32_t step,
                   uint32_t stream) {
    int64_t groups = (n + 3) / 4;
    for (int64_t g = wf_tid(); g < groups; g += wf_nthreads()) {
        /* the counter of wf_rng_uniform for idx = 4g + e: {idx >> 2, idx >> 34, step, stream} */
        wf_philox4 c = {{(uint32_t)g, (uint32_t)((uint64_t)g >> 32), step, stream}};
        wf_philox4 r = wf_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int64_t i = 4 * g + e;
            if (i >= n) break;
            float u = (float)(r.v[e] >> 8) * (1.0f / 16777216.0f);
            y[i] = wf_from_f32<T>(u >= p ? wf_to_f32(x[i]) * scale : 0.0f);
        }
    }
}

extern "C" wf_status wf_cuda_dropout(wf_backend *be, wf_tensor *y, const wf_tensor *x,
                                     const wf_dropout *d) {
    int64_t n = wf_tensor_numel(x);
    if (n <= 0) return WF_OK;
    if (d->p == 0.0f) { /* the identity: no mask to draw */
        if (y->data != x->data)
            WF_CUDA_CHECK(cudaMemcpyAsync(y->data, x->data, wf_tensor_nbytes(x),
                                          cudaMemcpyDeviceToDevice, wf_cuda_stream(be)));
        return WF_OK;
    }
    float scale = 1.0f / (1.0f - d->p);
    return wf_cuda_by_dtype("dropout", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, (n + 3) / 4, WF_EW_BLOCK), WF_EW_BLOCK, 0,
                            wf_cuda_stream(be), dropout_kernel<T>)(
                            (T *)y->data, (const T *)x->data, n, d->p, scale,
                                                  d->seed, d->step, d->stream);
        WF_CUDA_LAUNCHED("dropout");
        return WF_OK;
    });
}
