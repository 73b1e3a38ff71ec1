/* The residual add fused with RMSNorm on the GPU (ops.h add_rmsnorm_fwd): s = x + r and
 * y = g * (s * rstd) in one kernel, one block per row (grid-stride over rows) as rmsnorm.cu,
 * fp32 row sums in the fixed order of reduce.cuh. It reads x and r once and writes s and y;
 * the passes after the first read s back while it is still in cache, instead of add writing s
 * and rmsnorm_fwd reading it from memory. The kernel is rmsnorm_fwd's (norm_fwd.cuh) given r,
 * so the result is add then rmsnorm_fwd bit for bit.
 * Reference: kernels/cpu/add_rmsnorm.c. */
#include "norm_fwd.cuh"

extern "C" wf_status wf_cuda_add_rmsnorm_fwd(wf_backend *be, wf_tensor *s, wf_tensor *y,
                                             wf_tensor *rstd, const wf_tensor *x,
                                             const wf_tensor *r, const wf_tensor *g, float eps) {
    int64_t n = wf_tensor_rows(x), c = wf_tensor_cols(x);
    if (n <= 0 || c <= 0) return WF_OK;
    return wf_cuda_by_dtype("add_rmsnorm_fwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, n, 1), WF_ROW_BLOCK, 0, wf_cuda_stream(be),
                  rmsnorm_fwd_kernel<T>)(
            (T *)s->data, (T *)y->data, rstd ? (float *)rstd->data : (float *)NULL,
            (const T *)x->data, (const T *)r->data, (const T *)g->data, n, c, eps);
        WF_CUDA_LAUNCHED("add_rmsnorm_fwd");
        return WF_OK;
    });
}
