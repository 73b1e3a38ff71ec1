/* The residual add fused with RMSNorm on the GPU (ops.h add_rmsnorm_fwd): s = x + r and
 * y = g * (s * rstd) in one kernel, one block per row (grid-stride over rows) as rmsnorm.cu,
 * fp32 row sums in the fixed order of reduce.cuh. It reads x and r once and writes s and y;
 * the passes after the first read s back while it is still in cache, instead of add writing s
 * and rmsnorm_fwd reading it from memory. The loops are rmsnorm_fwd_kernel's with x replaced by
 * the rounded sum, so the result is add then rmsnorm_fwd bit for bit.
 * Reference: kernels/cpu/add_rmsnorm.c. */
#include "reduce.cuh"

template <typename T>
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    add_rmsnorm_fwd_kernel(T *s, T *y, float *rstd, const T *x, const T *r, const T *g, int64_t n,
                           int64_t c, float eps) {
    __shared__ float sh[WF_ROW_BLOCK / 32];
    for (int64_t row = blockIdx.x; row < n; row += gridDim.x) {
        const T *xr = x + row * c, *rr = r + row * c;
        T *sr = s + row * c, *yr = y + row * c;
        float ss = 0.0f;
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK) {
            /* In bf16/fp16 the norm must see the sum rounded to T, as the unfused rmsnorm_fwd
             * reads add's stored output; summing the unrounded fp32 value would change the bits.
             * Element j is read (x, r) before it is written (s) by this thread: s may alias. */
            T sv = wf_from_f32<T>(wf_to_f32(xr[j]) + wf_to_f32(rr[j]));
            sr[j] = sv;
            float v = wf_to_f32(sv);
            ss += v * v;
        }
        ss = wf_block_sum<WF_ROW_BLOCK, float>(ss, sh);
        float rs = 1.0f / sqrtf(ss / (float)c + eps);
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK) /* sr[j]: this thread's own write */
            yr[j] = wf_from_f32<T>(wf_to_f32(g[j]) * (wf_to_f32(sr[j]) * rs));
        if (rstd && threadIdx.x == 0) rstd[row] = rs;
    }
}

extern "C" wf_status wf_cuda_add_rmsnorm_fwd(wf_backend *be, wf_tensor *s, wf_tensor *y,
                                             wf_tensor *rstd, const wf_tensor *x,
                                             const wf_tensor *r, const wf_tensor *g, float eps) {
    int64_t n = wf_tensor_rows(x), c = wf_tensor_cols(x);
    if (n <= 0 || c <= 0) return WF_OK;
    return wf_cuda_by_dtype("add_rmsnorm_fwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, n, 1), WF_ROW_BLOCK, 0, wf_cuda_stream(be),
                  add_rmsnorm_fwd_kernel<T>)(
            (T *)s->data, (T *)y->data, rstd ? (float *)rstd->data : (float *)NULL,
            (const T *)x->data, (const T *)r->data, (const T *)g->data, n, c, eps);
        WF_CUDA_LAUNCHED("add_rmsnorm_fwd");
        return WF_OK;
    });
}
