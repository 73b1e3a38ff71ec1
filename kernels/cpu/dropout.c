/* Dropout on the CPU (MATH.md "Numbers"): y = x * (u_i >= p) / (1 - p) with
 * u_i = wf_rng_uniform(seed, step, stream, i) (rng.h), so every backend draws the same mask.
 * One Philox call yields the uniforms of 4 consecutive elements (the counter is i / 4, the word
 * i % 4, exactly as wf_rng_uniform), so it runs once per 4 elements here. The backward is this
 * same op applied to dy. y may alias x. Reference: tests/ops/op_elementwise.c, and the mask
 * statistics in tests/unit/test_dropout.c. */
#include "cpu_ops.h"
#include "weft/rng.h"

wf_status wf_cpu_dropout(wf_backend *be, wf_tensor *y, const wf_tensor *x, const wf_dropout *d) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("dropout", 2, y, x));
    const float *xp = x->data;
    float *yp = y->data;
    int64_t n = wf_tensor_numel(x), ngroups = (n + 3) / 4;
    float p = d->p, scale = (float)(1.0 / (1.0 - (double)d->p));
    if (p == 0.0f) { /* identity; no draws */
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) yp[i] = xp[i];
        return WF_OK;
    }
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t gi = 0; gi < ngroups; gi++) {
        uint64_t g = (uint64_t)gi;
        wf_philox4 ctr = {{(uint32_t)g, (uint32_t)(g >> 32), d->step, d->stream}};
        wf_philox4 r = wf_philox4x32_10(ctr, (uint32_t)d->seed, (uint32_t)(d->seed >> 32));
        for (int k = 0; k < 4 && gi * 4 + k < n; k++) {
            int64_t i = gi * 4 + k;
            float u = (float)(r.v[k] >> 8) * (1.0f / 16777216.0f);
            yp[i] = u >= p ? xp[i] * scale : 0.0f;
        }
    }
    return WF_OK;
}
