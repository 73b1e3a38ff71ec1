/* LayerNorm forward and backward on the CPU (MATH.md "Normalisation"); x is seen as (rows, C).
 * OpenMP over rows (rows are independent); dg/dbias are column sums over rows in fixed row
 * blocks (colsum.h: the same bits for any thread count), taken in the same pass as dx. Sums
 * accumulate in double so this reference carries only the fp32 rounding of its inputs, saved
 * statistics and outputs; element values are computed in fp32 as on the GPU.
 * The float64 test reference is tests/ops/op_norm.c. */
#include <math.h>

#include "colsum.h"
#include "cpu_ops.h"

#define LN_PAR_MIN 32768 /* elements below which threads cost more than they save */

/* One row: y (C) = g * (x - mean) * rstd + bias; returns mean and rstd as stored (fp32).
 * add_layernorm.c runs the same function on the rounded sum (the fused op's bits are those of
 * add then layernorm_fwd). */
void wf_cpu_layernorm_row(float *y, float *mean_out, float *rstd_out, const float *x,
                          const float *g, const float *bias, int64_t C, float eps) {
    double s = 0, ss = 0;
    for (int64_t c = 0; c < C; c++) s += x[c];
    double mu = s / (double)C;
    for (int64_t c = 0; c < C; c++) ss += (x[c] - mu) * (x[c] - mu); /* two-pass: no cancellation */
    float m = (float)mu, rs = (float)(1.0 / sqrt(ss / (double)C + eps));
    for (int64_t c = 0; c < C; c++) {
        float v = (x[c] - m) * rs * g[c];
        y[c] = bias ? v + bias[c] : v;
    }
    *mean_out = m, *rstd_out = rs;
}

wf_status wf_cpu_layernorm_fwd(wf_backend *be, wf_tensor *y, wf_tensor *mean, wf_tensor *rstd,
                               const wf_tensor *x, const wf_tensor *g, const wf_tensor *bias,
                               float eps) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("layernorm_fwd", 6, y, mean, rstd, x, g, bias));
    const float *xp = x->data, *gp = g->data, *bp = bias ? bias->data : NULL;
    float *yp = y->data, *mp = mean ? mean->data : NULL, *rp = rstd ? rstd->data : NULL;
    int64_t N = wf_tensor_rows(x), C = wf_tensor_cols(x);
#pragma omp parallel for schedule(static) if (N * C > LN_PAR_MIN)
    for (int64_t n = 0; n < N; n++) {
        float m, rs;
        wf_cpu_layernorm_row(yp + n * C, &m, &rs, xp + n * C, gp, bp, C, eps);
        if (mp) mp[n] = m;
        if (rp) rp[n] = rs;
    }
    return WF_OK;
}

/* One row: dx (C) += rstd * (gh - mean(gh) - xh * mean(gh * xh)), gh = dy * g; and the row's
 * terms of dg (dy * xh) and dbias (dy) added to the partials pg, pb (C) when they are given. */
static void ln_bwd_row(float *dx, double *pg, double *pb, const float *dy, const float *x,
                       const float *g, float m, float rs, int64_t C) {
    double s1 = 0, s2 = 0;
    for (int64_t c = 0; c < C; c++) {
        float xh = (x[c] - m) * rs, gh = dy[c] * g[c];
        s1 += gh, s2 += (double)gh * xh;
        if (pg) pg[c] += (double)dy[c] * xh;
        if (pb) pb[c] += dy[c];
    }
    float m1 = (float)(s1 / (double)C), m2 = (float)(s2 / (double)C);
    for (int64_t c = 0; c < C; c++) {
        float xh = (x[c] - m) * rs, gh = dy[c] * g[c];
        dx[c] += rs * (gh - m1 - xh * m2);
    }
}

wf_status wf_cpu_layernorm_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dg, wf_tensor *dbias,
                               const wf_tensor *dy, const wf_tensor *x, const wf_tensor *mean,
                               const wf_tensor *rstd, const wf_tensor *g) {
    WF_TRY(wf_cpu_need_f32("layernorm_bwd", 8, dx, dg, dbias, dy, x, mean, rstd, g));
    const float *xp = x->data, *dyp = dy->data, *gp = g->data, *mp = mean->data, *rp = rstd->data;
    float *dxp = dx->data;
    int64_t N = wf_tensor_rows(x), C = wf_tensor_cols(x);
    int64_t rb = wf_colsum_block_rows(N), nb = (N + rb - 1) / rb;
    /* partials, per block: dg's (C) then dbias's (C) */
    size_t mark = wf_arena_mark(&be->scratch);
    double *part = NULL;
    if (dg || dbias) {
        void *p = NULL;
        WF_TRY(wf_arena_alloc(&be->scratch, (size_t)(nb * 2 * C) * sizeof(double), &p));
        part = p;
    }
#pragma omp parallel for schedule(static) if (N * C > LN_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        double *pg = dg ? part + b * 2 * C : NULL, *pb = dbias ? part + b * 2 * C + C : NULL;
        for (int64_t c = 0; part && c < 2 * C; c++) part[b * 2 * C + c] = 0;
        for (int64_t n = b * rb; n < N && n < (b + 1) * rb; n++)
            ln_bwd_row(dxp + n * C, pg, pb, dyp + n * C, xp + n * C, gp, mp[n], rp[n], C);
    }
    if (dg) wf_colsum_finish(dg->data, part, nb, 2 * C, C);
    if (dbias) wf_colsum_finish(dbias->data, part + C, nb, 2 * C, C);
    wf_arena_reset(&be->scratch, mark);
    return WF_OK;
}
