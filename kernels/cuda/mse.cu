/* Squared error on the GPU, fused with its backward (ops.h mse; MATH.md "Loss"):
 * losses (n) fp32 = (y - t)^2, dy = 2 dscale mul (y - t) in y's dtype (optional), mul read
 * from device memory (the loss scale) or 1. dy may alias y or
 * t: each element is read and then written by the same thread. Reference: kernels/cpu/mse.c. */
#include "common.cuh"

template <typename T>
__global__ void __launch_bounds__(WF_EW_BLOCK)
    mse_kernel(float *losses, T *dy, const T *y, const T *t, int64_t n, float two_dscale,
               const float *mul) {
    if (dy && mul) two_dscale *= *mul;
    for (int64_t i = wf_tid(); i < n; i += wf_nthreads()) {
        float d = wf_to_f32(y[i]) - wf_to_f32(t[i]);
        losses[i] = d * d;
        if (dy) dy[i] = wf_from_f32<T>(two_dscale * d);
    }
}

extern "C" wf_status wf_cuda_mse(wf_backend *be, wf_tensor *losses, wf_tensor *dy,
                                 const wf_tensor *y, const wf_tensor *t, float dscale,
                                 const float *dscale_mul) {
    int64_t n = wf_tensor_numel(y);
    if (n <= 0) return WF_OK;
    return wf_cuda_by_dtype("mse", y->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, n, WF_EW_BLOCK), WF_EW_BLOCK, 0, wf_cuda_stream(be),
                  mse_kernel<T>)(
            (float *)losses->data, dy ? (T *)dy->data : (T *)NULL, (const T *)y->data,
            (const T *)t->data, n, 2.0f * dscale, dscale_mul);
        WF_CUDA_LAUNCHED("mse");
        return WF_OK;
    });
}
