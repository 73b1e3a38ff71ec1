/* Gradient unscale + sum of squares + finite check on the CPU, one pass over the flat fp32
 * gradient buffer (MATH.md "Optimiser and scaling"; contract: ops.h grad_unscale_norm).
 * Unscaling multiplies by the fp32 reciprocal of the loss scale, as PyTorch's
 * _amp_foreach_non_finite_check_and_unscale_ does (exact for the power-of-two scales of
 * dynamic scaling). The sum of squares is deterministic whatever the thread count: each fixed
 * block of GN_BLOCK elements gets a partial sum in double (exact enough that the final fp32
 * grad_sumsq is correctly rounded in practice), and the partials are added in block order. */
#include <math.h>

#include "cpu_ops.h"

#define GN_BLOCK 4096 /* elements per partial sum; fixed, so the order never depends on threads */

wf_status wf_cpu_grad_unscale_norm(wf_backend *be, wf_tensor *g /* (n) */, wf_step_state *st) {
    WF_TRY(wf_cpu_need_f32("grad_unscale_norm", 1, g));
    float *gp = g->data;
    const int64_t n = wf_tensor_numel(g), nblocks = (n + GN_BLOCK - 1) / GN_BLOCK;
    if (n == 0) return WF_OK;
    const bool unscale = st->loss_scale != 1.0f;
    const float inv = 1.0f / st->loss_scale;

    size_t mark = wf_arena_mark(&be->scratch);
    void *mem = NULL;
    WF_TRY(wf_arena_alloc(&be->scratch, (size_t)nblocks * sizeof(double), &mem));
    double *partial = mem;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (n > 65536)
    for (int64_t b = 0; b < nblocks; b++) {
        const int64_t lo = b * GN_BLOCK, hi = lo + GN_BLOCK < n ? lo + GN_BLOCK : n;
        double s = 0;
        for (int64_t i = lo; i < hi; i++) {
            float x = unscale ? gp[i] * inv : gp[i];
            if (unscale) gp[i] = x;
            bad |= !isfinite(x);
            s += (double)x * (double)x;
        }
        partial[b] = s;
    }
    double total = 0;
    for (int64_t b = 0; b < nblocks; b++) total += partial[b];
    wf_arena_reset(&be->scratch, mark);

    st->grad_sumsq = (float)((double)st->grad_sumsq + total);
    if (bad) st->found_inf = 1;
    return WF_OK;
}
