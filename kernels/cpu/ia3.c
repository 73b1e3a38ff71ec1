/* IA3 scaling on the CPU (PEFT; MATH.md "Linear and LoRA"): y (N, C) = x * l, l (C) broadcast
 * over rows. Backward, in one pass: dl += colsum(dy * x) in double over fixed row blocks
 * (colsum.h: deterministic for any thread count), and dx = dy * l when asked; each dy is read
 * before its dx is written, so dx may alias dy. The float64 test reference is
 * tests/ops/op_elementwise.c. */
#include "colsum.h"
#include "cpu_ops.h"

#define IA3_PAR_MIN 65536 /* elements below which threads cost more than they save */

wf_status wf_cpu_ia3_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x, const wf_tensor *l) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("ia3_fwd", 3, y, x, l));
    const float *xp = x->data, *lp = l->data;
    float *yp = y->data;
    int64_t N = wf_tensor_rows(x), C = wf_tensor_cols(x);
#pragma omp parallel for schedule(static) if (N * C > IA3_PAR_MIN)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) yp[n * C + c] = xp[n * C + c] * lp[c];
    return WF_OK;
}

wf_status wf_cpu_ia3_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dl, const wf_tensor *dy,
                         const wf_tensor *x, const wf_tensor *l) {
    WF_TRY(wf_cpu_need_f32("ia3_bwd", 5, dx, dl, dy, x, l));
    const float *xp = x->data, *lp = l->data, *dyp = dy->data;
    float *dxp = dx ? dx->data : NULL;
    int64_t N = wf_tensor_rows(x), C = wf_tensor_cols(x);
    int64_t rb = wf_colsum_block_rows(N), nb = (N + rb - 1) / rb;
    size_t mark = wf_arena_mark(&be->scratch);
    void *p = NULL; /* dl's partials, (nb, C) */
    WF_TRY(wf_arena_alloc(&be->scratch, (size_t)(nb * C) * sizeof(double), &p));
    double *part = p;
#pragma omp parallel for schedule(static) if (N * C > IA3_PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        double *pl = part + b * C;
        for (int64_t c = 0; c < C; c++) pl[c] = 0;
        for (int64_t n = b * rb; n < N && n < (b + 1) * rb; n++)
            for (int64_t c = 0; c < C; c++) {
                float d = dyp[n * C + c]; /* read before dx (which may alias dy) is written */
                pl[c] += (double)d * xp[n * C + c];
                if (dxp) dxp[n * C + c] = d * lp[c];
            }
    }
    wf_colsum_finish(dl->data, part, nb, C, C);
    wf_arena_reset(&be->scratch, mark);
    return WF_OK;
}
