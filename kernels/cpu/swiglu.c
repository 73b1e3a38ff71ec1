/* SwiGLU forward and backward on the CPU (MATH.md "Activations"): y = silu(gate) * up,
 * silu(g) = g * sigmoid(g). sigmoid = 1 / (1 + exp(-g)) saturates cleanly in fp32: exp
 * overflowing to inf gives 0, underflowing gives 1. The float64 test reference is
 * tests/ops/op_elementwise.c. */
#include <math.h>

#include "cpu_ops.h"

wf_status wf_cpu_swiglu_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *gate,
                            const wf_tensor *up) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("swiglu_fwd", 3, y, gate, up));
    const float *gp = gate->data, *up_ = up->data;
    float *yp = y->data;
    int64_t n = wf_tensor_numel(gate);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float g = gp[i], sig = 1.0f / (1.0f + expf(-g));
        yp[i] = g * sig * up_[i];
    }
    return WF_OK;
}

wf_status wf_cpu_swiglu_bwd(wf_backend *be, wf_tensor *dgate, wf_tensor *dup, const wf_tensor *dy,
                            const wf_tensor *gate, const wf_tensor *up) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("swiglu_bwd", 5, dgate, dup, dy, gate, up));
    const float *gp = gate->data, *up_ = up->data, *dyp = dy->data;
    float *dgp = dgate->data, *dup_ = dup->data;
    int64_t n = wf_tensor_numel(gate);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float g = gp[i], u = up_[i], d = dyp[i], sig = 1.0f / (1.0f + expf(-g));
        /* both outputs are computed from the inputs before either is stored */
        float dgv = d * u * sig * (1.0f + g * (1.0f - sig)), duv = d * g * sig;
        dgp[i] = dgv, dup_[i] = duv;
    }
    return WF_OK;
}
