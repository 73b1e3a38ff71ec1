/* Casts between fp32, bf16 and fp16 on the GPU: out = in converted, same element count; widening
 * is exact, narrowing rounds to nearest even (cvt.rn: NaN stays NaN, fp16 overflow gives inf), as
 * dtype.h does on the host. Same dtype is a device copy. Reference: kernels/cpu/cast.c. */
#include "common.cuh"

template <typename Ti, typename To>
__global__ void __launch_bounds__(WF_EW_BLOCK) cast_kernel(To *out, const Ti *in, int64_t n) {
    for (int64_t i = wf_tid(); i < n; i += wf_nthreads())
        out[i] = wf_from_f32<To>(wf_to_f32(in[i]));
}

extern "C" wf_status wf_cuda_cast(wf_backend *be, wf_tensor *out, const wf_tensor *in) {
    int64_t n = wf_tensor_numel(in);
    if (n <= 0) return WF_OK;
    if (in->dtype == out->dtype) {
        if (in->data != out->data)
            WF_CUDA_CHECK(cudaMemcpyAsync(out->data, in->data, wf_tensor_nbytes(in),
                                          cudaMemcpyDeviceToDevice, wf_cuda_stream(be)));
        return WF_OK;
    }
    return wf_cuda_by_dtype("cast", in->dtype, [&](auto in_tag) {
        using Ti = decltype(in_tag);
        return wf_cuda_by_dtype("cast", out->dtype, [&](auto out_tag) {
            using To = decltype(out_tag);
            WF_LAUNCH(wf_cuda_grid(be, n, WF_EW_BLOCK), WF_EW_BLOCK, 0,
                                  wf_cuda_stream(be), cast_kernel<Ti, To>)(
                                  (To *)out->data, (const Ti *)in->data, n);
            WF_CUDA_LAUNCHED("cast");
            return WF_OK;
        });
    });
}
