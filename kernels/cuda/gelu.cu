/* GELU forward and backward on the GPU, erf form and GPT-2's tanh form (MATH.md "Activations").
 * Same formulas as the reference kernels/cpu/gelu.c, in fp32 with the full-precision erff,
 * tanhf and expf (no fast-math intrinsics: a few ulp, within the f32 backend tolerance). */
#include "elementwise.cuh"

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f

struct gelu_fwd_op {
    bool tanh_approx;
    __device__ void operator()(int64_t, const float *x, float *y) const {
        float v = x[0];
        y[0] = tanh_approx ? 0.5f * v * (1.0f + tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)))
                           : 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
};

/* x[0] = dy, x[1] = x. */
struct gelu_bwd_op {
    bool tanh_approx;
    __device__ void operator()(int64_t, const float *x, float *y) const {
        float v = x[1], d;
        if (tanh_approx) {
            float t = tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
            d = 0.5f * (1.0f + t) +
                0.5f * v * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * v * v);
        } else {
            float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
            float pdf = 0.3989422804014327f * expf(-0.5f * v * v);
            d = cdf + v * pdf;
        }
        y[0] = x[0] * d;
    }
};

extern "C" wf_status wf_cuda_gelu_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x,
                                      bool tanh_approx) {
    return wf_cuda_by_dtype("gelu_fwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        wf_ew_args<T, 1, 1> args = {{(const T *)x->data}, {(T *)y->data}, wf_tensor_numel(x)};
        return wf_ew_launch(be, "gelu_fwd", args, gelu_fwd_op{tanh_approx});
    });
}

extern "C" wf_status wf_cuda_gelu_bwd(wf_backend *be, wf_tensor *dx, const wf_tensor *dy,
                                      const wf_tensor *x, bool tanh_approx) {
    return wf_cuda_by_dtype("gelu_bwd", x->dtype, [&](auto tag) {
        using T = decltype(tag);
        wf_ew_args<T, 2, 1> args = {{(const T *)dy->data, (const T *)x->data}, {(T *)dx->data},
                                    wf_tensor_numel(x)};
        return wf_ew_launch(be, "gelu_bwd", args, gelu_bwd_op{tanh_approx});
    });
}
