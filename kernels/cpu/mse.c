/* Squared error on the CPU, fused with its backward (MATH.md "Loss"; contract: ops.h mse):
 * losses = (y - t)^2 per element, dy = dscale * mul * 2 (y - t), mul = *dscale_mul (host memory
 * here) or 1. The caller takes the mean by choosing dscale (1 / n), passes the loss scale as
 * dscale_mul, and sums the losses itself. dy may alias y or t: each
 * element is read before it is written. */
#include "cpu_ops.h"

wf_status wf_cpu_mse(wf_backend *be, wf_tensor *losses /* (n) */, wf_tensor *dy /* (n)? */,
                     const wf_tensor *y /* (n) */, const wf_tensor *t /* (n) */, float dscale,
                     const float *dscale_mul) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("mse", 4, losses, dy, y, t));
    const float *yp = y->data, *tp = t->data;
    float *lp = losses->data, *dp = dy ? dy->data : NULL;
    const float two_dscale = 2.0f * dscale * (dscale_mul ? *dscale_mul : 1.0f);
    int64_t n = wf_tensor_numel(y);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float d = yp[i] - tp[i];
        lp[i] = d * d;
        if (dp) dp[i] = two_dscale * d;
    }
    return WF_OK;
}
