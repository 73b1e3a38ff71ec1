/* The residual add fused with LayerNorm on the GPU (ops.h add_layernorm_fwd): s = x + r and
 * y = (s - mean) * rstd * g + bias in one kernel, one block per row (grid-stride over rows) as
 * layernorm.cu, fp32 row sums in the fixed order of reduce.cuh, the variance by a second pass
 * (no cancellation). It reads x and r once and writes s and y; the later passes read s back
 * while it is still in cache, instead of add writing s and layernorm_fwd reading it from
 * memory. The kernel is layernorm_fwd's (norm_fwd.cuh) given r, so the result is add then
 * layernorm_fwd bit for bit. Reference: kernels/cpu/add_layernorm.c. */
#include "norm_fwd.cuh"

extern "C" wf_status wf_cuda_add_layernorm_fwd(wf_backend *be, wf_tensor *s, wf_tensor *y,
                                               wf_tensor *mean, wf_tensor *rstd,
                                               const wf_tensor *x, const wf_tensor *r,
                                               const wf_tensor *g, const wf_tensor *bias,
                                               float eps) {
    int64_t n = wf_tensor_rows(x), c = wf_tensor_cols(x);
    if (n <= 0 || c <= 0) return WF_OK;
    return wf_cuda_by_dtype("add_layernorm_fwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        unsigned grid = wf_cuda_grid(be, n, 1);
        WF_LAUNCH(grid, WF_ROW_BLOCK, 0, wf_cuda_stream(be), layernorm_fwd_kernel<T>)(
            (T *)s->data, (T *)y->data, mean ? (float *)mean->data : (float *)NULL,
            rstd ? (float *)rstd->data : (float *)NULL, (const T *)x->data, (const T *)r->data,
            (const T *)g->data, bias ? (const T *)bias->data : (const T *)NULL, n, c, eps);
        WF_CUDA_LAUNCHED("add_layernorm_fwd");
        return WF_OK;
    });
}
