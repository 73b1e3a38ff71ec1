/* The residual add fused with LayerNorm on the CPU (ops.h add_layernorm_fwd): per row, s = x + r,
 * then the row of layernorm_fwd on s (wf_cpu_layernorm_row, the same function), so the outputs
 * are the bits of add then layernorm_fwd; the row's sum is still in cache when the norm reads
 * it. OpenMP over rows. s may alias x or r: element c is read before it is written.
 * The float64 test reference is tests/ops/op_add_norm.c. */
#include "cpu_ops.h"

#define ADD_LN_PAR_MIN 32768 /* elements below which threads cost more than they save */

wf_status wf_cpu_add_layernorm_fwd(wf_backend *be, wf_tensor *s, wf_tensor *y, wf_tensor *mean,
                                   wf_tensor *rstd, const wf_tensor *x, const wf_tensor *r,
                                   const wf_tensor *g, const wf_tensor *bias, float eps) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("add_layernorm_fwd", 8, s, y, mean, rstd, x, r, g, bias));
    const float *xp = x->data, *rp = r->data, *gp = g->data, *bp = bias ? bias->data : NULL;
    float *sp = s->data, *yp = y->data;
    float *mp = mean ? mean->data : NULL, *rsp = rstd ? rstd->data : NULL;
    int64_t N = wf_tensor_rows(x), C = wf_tensor_cols(x);
#pragma omp parallel for schedule(static) if (N * C > ADD_LN_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        float *sr = sp + n * C, m, rs;
        for (int64_t c = 0; c < C; c++) sr[c] = xp[n * C + c] + rp[n * C + c];
        wf_cpu_layernorm_row(yp + n * C, &m, &rs, sr, gp, bp, C, eps);
        if (mp) mp[n] = m;
        if (rsp) rsp[n] = rs;
    }
    return WF_OK;
}
