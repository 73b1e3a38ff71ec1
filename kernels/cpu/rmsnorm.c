/* RMSNorm forward and backward on the CPU, as HF's LlamaRMSNorm (MATH.md "Normalisation"); x is
 * seen as (rows, C). y = g * (x * rstd): HF multiplies the normalised x (cast back to the input
 * dtype, a no-op in fp32) by the weight, in that order. OpenMP over rows; dg is a column sum
 * over fixed row blocks (colsum.h: deterministic), taken in the same pass as dx. Sums
 * accumulate in double.
 * The float64 test reference is tests/ops/op_norm.c. */
#include <math.h>

#include "colsum.h"
#include "cpu_ops.h"

#define RMS_PAR_MIN 32768 /* elements below which threads cost more than they save */

/* One row: y (C) = g * (x * rstd); returns rstd as stored (fp32). add_rmsnorm.c runs the same
 * function on the rounded sum, so the fused op gives the bits of add then rmsnorm_fwd. */

float wf_cpu_rmsnorm_row(float *y, const float *x, const float *g, int64_t C, float eps) {
    double ss = 0;
    for (int64_t c = 0; c < C; c++) ss += (double)x[c] * x[c];
    float rs = (float)(1.0 / sqrt(ss / (double)C + eps));
    for (int64_t c = 0; c < C; c++) y[c] = g[c] * (x[c] * rs);
    return rs;
}

wf_status wf_cpu_rmsnorm_fwd(wf_backend *be, wf_tensor *y, wf_tensor *rstd, const wf_tensor *x,
                             const wf_tensor *g, float eps) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("rmsnorm_fwd", 4, y, rstd, x, g));
    const float *xp = x->data, *gp = g->data;
    float *yp = y->data, *rp = rstd ? rstd->data : NULL;
    int64_t N = wf_tensor_rows(x), C = wf_tensor_cols(x);
#pragma omp parallel for schedule(static) if (N * C > RMS_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        float rs = wf_cpu_rmsnorm_row(yp + n * C, xp + n * C, gp, C, eps);
        if (rp) rp[n] = rs;
    }
    return WF_OK;
}

/* One row: dx (C) += rstd * (gh - xh * mean(gh * xh)), gh = dy * g, xh = x * rstd; and the
 * row's terms of dg (dy * xh) added to the partials pg (C) when given. */
static void rms_bwd_row(float *dx, double *pg, const float *dy, const float *x, const float *g,
                        float rs, int64_t C) {
    double s = 0;
    for (int64_t c = 0; c < C; c++) {
        float xh = x[c] * rs;
        s += (double)(dy[c] * g[c]) * xh;
        if (pg) pg[c] += (double)dy[c] * xh;
    }
    float m = (float)(s / (double)C);
    for (int64_t c = 0; c < C; c++) dx[c] += rs * (dy[c] * g[c] - (x[c] * rs) * m);
}

wf_status wf_cpu_rmsnorm_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dg, const wf_tensor *dy,
                             const wf_tensor *x, const wf_tensor *rstd, const wf_tensor *g) {
    WF_TRY(wf_cpu_need_f32("rmsnorm_bwd", 6, dx, dg, dy, x, rstd, g));
    const float *xp = x->data, *dyp = dy->data, *gp = g->data, *rp = rstd->data;
    float *dxp = dx->data;
    int64_t N = wf_tensor_rows(x), C = wf_tensor_cols(x);
    int64_t rb = wf_colsum_block_rows(N), nb = (N + rb - 1) / rb;
    size_t mark = wf_arena_mark(&be->scratch);
    double *part = NULL; /* dg's partials, (nb, C) */
    if (dg) {
        void *p = NULL;
        WF_TRY(wf_arena_alloc(&be->scratch, (size_t)(nb * C) * sizeof(double), &p));
        part = p;
    }
#pragma omp parallel for schedule(static) if (N * C > RMS_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        double *pg = part ? part + b * C : NULL;
        for (int64_t c = 0; pg && c < C; c++) pg[c] = 0;
        for (int64_t n = b * rb; n < N && n < (b + 1) * rb; n++)
            rms_bwd_row(dxp + n * C, pg, dyp + n * C, xp + n * C, gp, rp[n], C);
    }
    if (dg) wf_colsum_finish(dg->data, part, nb, C, C);
    wf_arena_reset(&be->scratch, mark);
    return WF_OK;
}
