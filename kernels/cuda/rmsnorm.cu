/* RMSNorm forward and backward on the GPU, as HF's LlamaRMSNorm (MATH.md "Normalisation"):
 * y = g * (x * rstd). One block per row (grid-stride over rows), fp32 sums in a fixed order
 * (reduce.cuh; forward kernel in norm_fwd.cuh, shared with add_rmsnorm.cu); dx "+=" in the row
 * kernel; dg "+=" by the deterministic two-pass column sum
 * (colsum.cuh) of dy * x * rstd, no float atomics. Reference: kernels/cpu/rmsnorm.c. */
#include "colsum.cuh"
#include "norm_fwd.cuh"

/* dx (C) += rstd * (gh - xh * mean(gh * xh)), gh = dy * g, xh = x * rstd, per row. */
template <typename T>
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    rmsnorm_bwd_kernel(T *dx, const T *dy, const T *x, const float *rstd, const T *g, int64_t n,
                       int64_t c) {
    __shared__ float sh[WF_ROW_BLOCK / 32];
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const T *xr = x + r * c, *dyr = dy + r * c;
        T *dxr = dx + r * c;
        float rs = rstd[r], s = 0.0f;
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK)
            s += wf_to_f32(dyr[j]) * wf_to_f32(g[j]) * (wf_to_f32(xr[j]) * rs);
        float m = wf_block_sum<WF_ROW_BLOCK, float>(s, sh) / (float)c;
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK) {
            float gh = wf_to_f32(dyr[j]) * wf_to_f32(g[j]), xh = wf_to_f32(xr[j]) * rs;
            dxr[j] = wf_from_f32<T>(wf_to_f32(dxr[j]) + rs * (gh - xh * m));
        }
    }
}

/* The summand of dg at (r, c): dy * x * rstd[r]. */
template <typename T> struct rmsnorm_dg_term {
    const T *dy, *x;
    const float *rstd;
    int64_t cols;
    __device__ float operator()(int64_t r, int64_t c) const {
        int64_t i = r * cols + c;
        return wf_to_f32(dy[i]) * (wf_to_f32(x[i]) * rstd[r]);
    }
};

extern "C" wf_status wf_cuda_rmsnorm_fwd(wf_backend *be, wf_tensor *y, wf_tensor *rstd,
                                         const wf_tensor *x, const wf_tensor *g, float eps) {
    int64_t n = wf_tensor_rows(x), c = wf_tensor_cols(x);
    if (n <= 0 || c <= 0) return WF_OK;
    return wf_cuda_by_dtype("rmsnorm_fwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, n, 1), WF_ROW_BLOCK, 0, wf_cuda_stream(be),
                  rmsnorm_fwd_kernel<T>)(
            (T *)NULL, (T *)y->data, rstd ? (float *)rstd->data : (float *)NULL, (const T *)x->data,
            (const T *)NULL, (const T *)g->data, n, c, eps);
        WF_CUDA_LAUNCHED("rmsnorm_fwd");
        return WF_OK;
    });
}

extern "C" wf_status wf_cuda_rmsnorm_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dg,
                                         const wf_tensor *dy, const wf_tensor *x,
                                         const wf_tensor *rstd, const wf_tensor *g) {
    int64_t n = wf_tensor_rows(x), c = wf_tensor_cols(x);
    if (n <= 0 || c <= 0) return WF_OK;
    return wf_cuda_by_dtype("rmsnorm_bwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        const T *dyp = (const T *)dy->data, *xp = (const T *)x->data;
        const float *rp = (const float *)rstd->data;
        WF_LAUNCH(wf_cuda_grid(be, n, 1), WF_ROW_BLOCK, 0, wf_cuda_stream(be),
                  rmsnorm_bwd_kernel<T>)(
            (T *)dx->data, dyp, xp, rp, (const T *)g->data, n, c);
        WF_CUDA_LAUNCHED("rmsnorm_bwd");
        if (!dg) return WF_OK;
        return wf_cuda_by_dtype("rmsnorm_bwd", dg->dtype, [&](auto gtag) { /* x's dtype or fp32 */
            using Tg = decltype(gtag);
            return wf_colsum(be, "rmsnorm_bwd", n, c, (Tg *)dg->data, true,
                             rmsnorm_dg_term<T>{dyp, xp, rp, c});
        });
    });
}
