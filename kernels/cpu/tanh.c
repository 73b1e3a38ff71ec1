/* tanh forward and backward on the CPU (the BERT pooler's activation). The backward uses the
 * forward output: d tanh(x)/dx = 1 - tanh(x)^2. */
#include <math.h>

#include "cpu_ops.h"

wf_status wf_cpu_tanh_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("tanh_fwd", 2, y, x));
    const float *xp = x->data;
    float *yp = y->data;
    int64_t n = wf_tensor_numel(x);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) yp[i] = tanhf(xp[i]);
    return WF_OK;
}

wf_status wf_cpu_tanh_bwd(wf_backend *be, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *y) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("tanh_bwd", 3, dx, dy, y));
    const float *yp = y->data, *dyp = dy->data;
    float *dxp = dx->data;
    int64_t n = wf_tensor_numel(y);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) dxp[i] = dyp[i] * (1.0f - yp[i] * yp[i]);
    return WF_OK;
}
