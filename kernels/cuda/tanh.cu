/* tanh forward and backward on the GPU (the BERT pooler's activation), elementwise
 * (elementwise.cuh): y = tanhf(x) in fp32; dx = dy * (1 - y^2) from the forward output.
 * Reference: kernels/cpu/tanh.c. */
#include "elementwise.cuh"

struct tanh_fwd_op {
    __device__ void operator()(int64_t, const float *x, float *y) const { y[0] = tanhf(x[0]); }
};

/* x[0] = dy, x[1] = y. */
struct tanh_bwd_op {
    __device__ void operator()(int64_t, const float *x, float *y) const {
        y[0] = x[0] * (1.0f - x[1] * x[1]);
    }
};

extern "C" wf_status wf_cuda_tanh_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x) {
    return wf_cuda_by_dtype("tanh_fwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        wf_ew_args<T, 1, 1> args = {{(const T *)x->data}, {(T *)y->data}, wf_tensor_numel(x)};
        return wf_ew_launch(be, "tanh_fwd", args, tanh_fwd_op{});
    });
}

extern "C" wf_status wf_cuda_tanh_bwd(wf_backend *be, wf_tensor *dx, const wf_tensor *dy,
                                      const wf_tensor *y) {
    return wf_cuda_by_dtype("tanh_bwd", y->dtype, [&](auto tag) {
        using T = decltype(tag);
        wf_ew_args<T, 2, 1> args = {{(const T *)dy->data, (const T *)y->data}, {(T *)dx->data},
                                    wf_tensor_numel(y)};
        return wf_ew_launch(be, "tanh_bwd", args, tanh_bwd_op{});
    });
}
