/* GELU forward and backward on the CPU, erf form and GPT-2's tanh form (MATH.md "Activations"). */
#include <math.h>

#include "cpu_ops.h"

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f

wf_status wf_cpu_gelu_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x, bool tanh_approx) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("gelu_fwd", 2, y, x));
    const float *xp = x->data;
    float *yp = y->data;
    int64_t n = wf_tensor_numel(x);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = xp[i];
        yp[i] = tanh_approx ? 0.5f * v * (1.0f + tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)))
                            : 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
    return WF_OK;
}

wf_status wf_cpu_gelu_bwd(wf_backend *be, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *x,
                          bool tanh_approx) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("gelu_bwd", 3, dx, dy, x));
    const float *xp = x->data, *dyp = dy->data;
    float *dxp = dx->data;
    int64_t n = wf_tensor_numel(x);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = xp[i], d;
        if (tanh_approx) {
            float t = tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
            d = 0.5f * (1.0f + t) +
                0.5f * v * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * v * v);
        } else {
            float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
            float pdf = 0.3989422804014327f * expf(-0.5f * v * v);
            d = cdf + v * pdf;
        }
        dxp[i] = dyp[i] * d;
    }
    return WF_OK;
}
