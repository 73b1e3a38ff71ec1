/* LayerNorm forward and backward on the GPU (MATH.md "Normalisation"): y = (x - mean) * rstd * g
 * + bias, the variance by a second pass over the row (no cancellation). One block per row
 * (grid-stride over rows), fp32 sums in a fixed order (reduce.cuh; forward kernel in
 * norm_fwd.cuh, shared with add_layernorm.cu); dx "+=" in the row kernel;
 * dg, dbias "+=" by the deterministic two-pass column sum (colsum.cuh), no float atomics, into
 * x's dtype or fp32.
 * Reference: kernels/cpu/layernorm.c. */
#include "colsum.cuh"
#include "norm_fwd.cuh"

/* dx (C) += rstd * (gh - mean(gh) - xh * mean(gh * xh)), gh = dy * g, xh = (x - mean) * rstd. */
template <typename T>
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    layernorm_bwd_kernel(T *dx, const T *dy, const T *x, const float *mean, const float *rstd,
                         const T *g, int64_t n, int64_t c) {
    __shared__ float sh[WF_ROW_BLOCK / 32];
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const T *xr = x + r * c, *dyr = dy + r * c;
        T *dxr = dx + r * c;
        float m = mean[r], rs = rstd[r], s1 = 0.0f, s2 = 0.0f;
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK) {
            float xh = (wf_to_f32(xr[j]) - m) * rs, gh = wf_to_f32(dyr[j]) * wf_to_f32(g[j]);
            s1 += gh, s2 += gh * xh;
        }
        float m1 = wf_block_sum<WF_ROW_BLOCK, float>(s1, sh) / (float)c;
        float m2 = wf_block_sum<WF_ROW_BLOCK, float>(s2, sh) / (float)c;
        for (int64_t j = threadIdx.x; j < c; j += WF_ROW_BLOCK) {
            float xh = (wf_to_f32(xr[j]) - m) * rs, gh = wf_to_f32(dyr[j]) * wf_to_f32(g[j]);
            dxr[j] = wf_from_f32<T>(wf_to_f32(dxr[j]) + rs * (gh - m1 - xh * m2));
        }
    }
}

/* The summands of dg (dy * xh) and dbias (dy) at (r, c). */
template <typename T> struct layernorm_dg_term {
    const T *dy, *x;
    const float *mean, *rstd;
    int64_t cols;
    __device__ float operator()(int64_t r, int64_t c) const {
        int64_t i = r * cols + c;
        return wf_to_f32(dy[i]) * ((wf_to_f32(x[i]) - mean[r]) * rstd[r]);
    }
};
template <typename T> struct layernorm_db_term {
    const T *dy;
    int64_t cols;
    __device__ float operator()(int64_t r, int64_t c) const { return wf_to_f32(dy[r * cols + c]); }
};

extern "C" wf_status wf_cuda_layernorm_fwd(wf_backend *be, wf_tensor *y, wf_tensor *mean,
                                           wf_tensor *rstd, const wf_tensor *x, const wf_tensor *g,
                                           const wf_tensor *bias, float eps) {
    int64_t n = wf_tensor_rows(x), c = wf_tensor_cols(x);
    if (n <= 0 || c <= 0) return WF_OK;
    return wf_cuda_by_dtype("layernorm_fwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, n, 1), WF_ROW_BLOCK, 0, wf_cuda_stream(be),
                  layernorm_fwd_kernel<T>)(
            (T *)NULL, (T *)y->data, mean ? (float *)mean->data : (float *)NULL,
            rstd ? (float *)rstd->data : (float *)NULL, (const T *)x->data, (const T *)NULL,
            (const T *)g->data, bias ? (const T *)bias->data : (const T *)NULL, n, c, eps);
        WF_CUDA_LAUNCHED("layernorm_fwd");
        return WF_OK;
    });
}

extern "C" wf_status wf_cuda_layernorm_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dg,
                                           wf_tensor *dbias, const wf_tensor *dy,
                                           const wf_tensor *x, const wf_tensor *mean,
                                           const wf_tensor *rstd, const wf_tensor *g) {
    int64_t n = wf_tensor_rows(x), c = wf_tensor_cols(x);
    if (n <= 0 || c <= 0) return WF_OK;
    return wf_cuda_by_dtype("layernorm_bwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        const T *dyp = (const T *)dy->data, *xp = (const T *)x->data;
        const float *mp = (const float *)mean->data, *rp = (const float *)rstd->data;
        WF_LAUNCH(wf_cuda_grid(be, n, 1), WF_ROW_BLOCK, 0, wf_cuda_stream(be),
                  layernorm_bwd_kernel<T>)(
            (T *)dx->data, dyp, xp, mp, rp, (const T *)g->data, n, c);
        WF_CUDA_LAUNCHED("layernorm_bwd");
        if (dg) /* dg, dbias: x's dtype or fp32 (mixed precision's flat gradient) */
            WF_TRY(wf_cuda_by_dtype("layernorm_bwd", dg->dtype, [&](auto gtag) {
                using Tg = decltype(gtag);
                return wf_colsum(be, "layernorm_bwd", n, c, (Tg *)dg->data, true,
                                 layernorm_dg_term<T>{dyp, xp, mp, rp, c});
            }));
        if (dbias)
            WF_TRY(wf_cuda_by_dtype("layernorm_bwd", dbias->dtype, [&](auto gtag) {
                using Tg = decltype(gtag);
                return wf_colsum(be, "layernorm_bwd", n, c, (Tg *)dbias->data, true,
                                 layernorm_db_term<T>{dyp, c});
            }));
        return WF_OK;
    });
}
