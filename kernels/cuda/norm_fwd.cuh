/* The LayerNorm and RMSNorm forward kernels, shared by the plain entries (layernorm.cu,
 * rmsnorm.cu) and the ones fused with the residual add before them (add_layernorm.cu,
 * add_rmsnorm.cu): with r given, the row the norm sees is s = x + r rounded to T and written
 * to s (the unfused add's stored output, so fused == add then norm bit for bit), else x. One
 * block per row (grid-stride over rows), fp32 sums in the fixed order of reduce.cuh; LayerNorm's
 * variance by a second pass over the row (no cancellation). The later passes read the row back
 * from s (still in cache) or x. References: kernels/cpu/layernorm.c, rmsnorm.c, add_*.c. */
#ifndef WEFT_KERNELS_CUDA_NORM_FWD_CUH
#define WEFT_KERNELS_CUDA_NORM_FWD_CUH

#include "reduce.cuh"

/* Element j of the row the norm sees. With r: x[j] + r[j] rounded to T (in bf16/fp16 the norm
 * must see the rounded sum, as the unfused norm reads add's output), stored to s[j]; x[j] and
 * r[j] are read before s[j] is written by the same thread, so s may alias x or r. */
template <typename T>
__device__ __forceinline__ float norm_in(const T *xr, const T *rr, T *sr, int64_t j) {
    if (!rr) return wf_to_f32(xr[j]);
    T sv = wf_from_f32<T>(wf_to_f32(xr[j]) + wf_to_f32(rr[j]));
    sr[j] = sv;
    return wf_to_f32(sv);
}

/* y = (v - mean) * rstd * g + bias, v the row above; s and r NULL for the plain norm. */
template <typename T>
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    layernorm_fwd_kernel(T *s, T *y, float *mean, float *rstd, const T *x, const T *r, const T *g,
                         const T *bias, int64_t n, int64_t c, float eps) {
    __shared__ float sh[WF_ROW_BLOCK / 32];
    for (int64_t row = blockIdx.x; row < n; row += gridDim.x) {
        const T *xr = x + row * c, *rr = r ? r + row * c : nullptr;
        T *sr = r ? s + row * c : nullptr, *yr = y + row * c;
        const T *vr = r ? sr : xr; /* the row as the norm sees it, for the passes after the first */
        float sum = 0.0f;
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK) sum += norm_in(xr, rr, sr, j);
        float m = wf_block_sum<WF_ROW_BLOCK, float>(sum, sh) / (float)c, ss = 0.0f;
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK) { /* vr[j]: this thread's write */
            float d = wf_to_f32(vr[j]) - m;
            ss += d * d;
        }
        ss = wf_block_sum<WF_ROW_BLOCK, float>(ss, sh);
        float rs = 1.0f / sqrtf(ss / (float)c + eps);
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK) {
            float v = (wf_to_f32(vr[j]) - m) * rs * wf_to_f32(g[j]);
            yr[j] = wf_from_f32<T>(bias ? v + wf_to_f32(bias[j]) : v);
        }
        if (threadIdx.x == 0) {
            if (mean) mean[row] = m;
            if (rstd) rstd[row] = rs;
        }
    }
}

/* y = g * (v * rstd), as HF's LlamaRMSNorm; s and r NULL for the plain norm. */
template <typename T>
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    rmsnorm_fwd_kernel(T *s, T *y, float *rstd, const T *x, const T *r, const T *g, int64_t n,
                       int64_t c, float eps) {
    __shared__ float sh[WF_ROW_BLOCK / 32];
    for (int64_t row = blockIdx.x; row < n; row += gridDim.x) {
        const T *xr = x + row * c, *rr = r ? r + row * c : nullptr;
        T *sr = r ? s + row * c : nullptr, *yr = y + row * c;
        const T *vr = r ? sr : xr;
        float ss = 0.0f;
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK) {
            float v = norm_in(xr, rr, sr, j);
            ss += v * v;
        }
        ss = wf_block_sum<WF_ROW_BLOCK, float>(ss, sh);
        float rs = 1.0f / sqrtf(ss / (float)c + eps);
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK)
            yr[j] = wf_from_f32<T>(wf_to_f32(g[j]) * (wf_to_f32(vr[j]) * rs));
        if (rstd && threadIdx.x == 0) rstd[row] = rs;
    }
}

#endif
