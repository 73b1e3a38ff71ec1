/* Softmax cross-entropy fused with its backward on the CPU (MATH.md "Loss"; contract: ops.h
 * wf_cross_entropy). Per row, the log-sum-exp streams over vocabulary chunks of CE_CHUNK logits:
 * the running max m and sum s of exp(z - m) are carried from chunk to chunk, and a chunk with a
 * larger max first rescales s by exp(m - m_new) (the online softmax of FlashAttention), so one
 * code path serves 50k and 128k vocabularies. dlogits takes one more pass and may overwrite the
 * logits in place. The exponentials are fp32; their sum is kept in double, which costs nothing
 * measurable here and keeps the CPU the tighter reference for the device kernels. */
#include <math.h>

#include "cpu_ops.h"

#define CE_CHUNK 4096 /* logits per chunk: 16 KiB of fp32, stays in L1/L2 between passes */

typedef struct ce_lse {
    float max;  /* running max of the row */
    double sum; /* sum of exp(z - max) */
} ce_lse;

/* Folds z[0..n) into the running (max, sum). A chunk whose max is -inf adds nothing (and would
 * otherwise make exp(-inf - -inf) = NaN). */
static void lse_chunk(ce_lse *r, const float *z, int64_t n) {
    float cm = -INFINITY;
    for (int64_t j = 0; j < n; j++) cm = z[j] > cm ? z[j] : cm;
    if (cm == -INFINITY) return;
    if (cm > r->max) {
        r->sum *= exp((double)r->max - (double)cm);
        r->max = cm;
    }
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += expf(z[j] - r->max);
    r->sum += s;
}

/* Targets must be ignore_index or in [0, V): checked before anything is written, so a bad
 * batch leaves the outputs as they were. Names the first bad row. */
static wf_status check_targets(const int32_t *t, int64_t n, int64_t v, int32_t ignore) {
    for (int64_t i = 0; i < n; i++)
        if (t[i] != ignore && (t[i] < 0 || t[i] >= v))
            return wf_error(WF_ERR_INVALID, "op cross_entropy: target of row %lld is %d, expected "
                                            "a class in [0, %lld) or the ignore index %d",
                            (long long)i, t[i], (long long)v, ignore);
    return WF_OK;
}

/* One row: the loss, and dscale * (softmax - onehot) into d when d is given (d may be z).
 * z, d (V); t in [0, V). */
static float ce_row(const float *z, float *d, int64_t v, int32_t t, float dscale) {
    const float zt = z[t]; /* read before d (possibly z itself) is written */
    ce_lse r = {-INFINITY, 0.0};
    for (int64_t j0 = 0; j0 < v; j0 += CE_CHUNK)
        lse_chunk(&r, z + j0, v - j0 < CE_CHUNK ? v - j0 : CE_CHUNK);
    if (d) {
        const float m = r.max, inv = (float)(1.0 / r.sum);
        for (int64_t j = 0; j < v; j++) d[j] = dscale * (expf(z[j] - m) * inv);
        d[t] = dscale * (expf(zt - m) * inv - 1.0f);
    }
    return (float)((double)r.max + log(r.sum) - (double)zt);
}

wf_status wf_cpu_cross_entropy(wf_backend *be, const wf_cross_entropy *ce) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("cross_entropy", 3, ce->losses, ce->dlogits, ce->logits));
    const int64_t n = ce->logits->shape[0], v = ce->logits->shape[1];
    const int32_t *tg = ce->targets->data, ignore = ce->ignore_index; /* tg (N) */
    WF_TRY(check_targets(tg, n, v, ignore));
    const float *z = ce->logits->data;                  /* (N, V) */
    float *loss = ce->losses->data;                      /* (N) */
    float *dz = ce->dlogits ? ce->dlogits->data : NULL;  /* (N, V), may be z */
    /* the multiplier (the loss scale) is read where the op runs: host memory on the CPU */
    const float dscale = ce->dscale * (ce->dscale_mul ? *ce->dscale_mul : 1.0f);
#pragma omp parallel for schedule(static) if (n * v > 65536)
    for (int64_t i = 0; i < n; i++) {
        float *di = dz ? dz + i * v : NULL;
        if (tg[i] == ignore) {
            loss[i] = 0.0f;
            for (int64_t j = 0; di && j < v; j++) di[j] = 0.0f;
            continue;
        }
        loss[i] = ce_row(z + i * v, di, v, tg[i], dscale);
    }
    return WF_OK;
}
