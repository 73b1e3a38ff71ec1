/* SwiGLU forward and backward on the GPU (MATH.md "Activations"): y = silu(gate) * up;
 * dgate = dy * up * silu'(gate), dup = dy * silu(gate), with silu(g) = g sig(g) and
 * silu'(g) = sig(g) (1 + g (1 - sig(g))). fp32 math; reference kernels/cpu/swiglu.c. */
#include "elementwise.cuh"

__device__ __forceinline__ float sigmoidf_(float g) { return 1.0f / (1.0f + expf(-g)); }

/* x[0] = gate, x[1] = up. */
struct swiglu_fwd_op {
    __device__ void operator()(int64_t, const float *x, float *y) const {
        float g = x[0];
        y[0] = g * sigmoidf_(g) * x[1];
    }
};

/* x[0] = dy, x[1] = gate, x[2] = up; y[0] = dgate, y[1] = dup. */
struct swiglu_bwd_op {
    __device__ void operator()(int64_t, const float *x, float *y) const {
        float dy = x[0], g = x[1], u = x[2], s = sigmoidf_(g);
        y[0] = dy * u * (s * (1.0f + g * (1.0f - s)));
        y[1] = dy * (g * s);
    }
};

extern "C" wf_status wf_cuda_swiglu_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *gate,
                                        const wf_tensor *up) {
    return wf_cuda_by_dtype("swiglu_fwd", gate->dtype, [&](auto tag) {
        using T = decltype(tag);
        wf_ew_args<T, 2, 1> args = {{(const T *)gate->data, (const T *)up->data}, {(T *)y->data},
                                    wf_tensor_numel(gate)};
        return wf_ew_launch(be, "swiglu_fwd", args, swiglu_fwd_op{});
    });
}

extern "C" wf_status wf_cuda_swiglu_bwd(wf_backend *be, wf_tensor *dgate, wf_tensor *dup,
                                        const wf_tensor *dy, const wf_tensor *gate,
                                        const wf_tensor *up) {
    return wf_cuda_by_dtype("swiglu_bwd", gate->dtype, [&](auto tag) {
        using T = decltype(tag);
        wf_ew_args<T, 3, 2> args = {
            {(const T *)dy->data, (const T *)gate->data, (const T *)up->data},
            {(T *)dgate->data, (T *)dup->data},
            wf_tensor_numel(gate)};
        return wf_ew_launch(be, "swiglu_bwd", args, swiglu_bwd_op{});
    });
}
