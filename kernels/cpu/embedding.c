/* Embedding lookup on the CPU: out[i] = table[ids[i]] (or +=), and its backward, a scatter-add
 * of dout rows into dtable. The reference is plain indexing (tests/ops/op_linear.c).
 *
 * Ids out of range: the wrapper (host/ops/ops_linear.c) cannot read ids cheaply on a device
 * backend, so each backend checks them itself. Here both directions scan every id before writing
 * anything and fail with WF_ERR_INVALID naming the position and the value, outputs untouched. */
#include <string.h>

#include "cpu_ops.h"

#define EMB_COL_BLOCK 64 /* columns per task in the backward: whole cache lines per row */

static wf_status check_ids(const char *op, const int32_t *ids, int64_t n, int64_t v) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= v)
            return wf_error(WF_ERR_INVALID, "op %s: ids[%lld] = %d is out of range [0, %lld)", op,
                            (long long)i, (int)ids[i], (long long)v);
    return WF_OK;
}

wf_status wf_cpu_embedding_fwd(wf_backend *be, wf_tensor *out, const wf_tensor *ids,
                               const wf_tensor *table, bool accumulate) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("embedding_fwd", 2, out, table));
    const int32_t *id = ids->data;       /* (N) */
    const float *tab = table->data;      /* (V, C) */
    float *o = out->data;                /* (N, C) */
    int64_t n = wf_tensor_numel(ids), v = table->shape[0], c = table->shape[1];
    WF_TRY(check_ids("embedding_fwd", id, n, v));
#pragma omp parallel for schedule(static) if (n * c > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float *src = tab + (int64_t)id[i] * c;
        float *dst = o + i * c;
        if (accumulate)
            for (int64_t j = 0; j < c; j++) dst[j] += src[j];
        else
            memcpy(dst, src, (size_t)c * sizeof(float));
    }
    return WF_OK;
}

/* Parallel over column blocks, not over ids: two ids may name the same row, and a task that owns
 * a column slice and walks i in order sums each element in the same order on any thread count. */
wf_status wf_cpu_embedding_bwd(wf_backend *be, wf_tensor *dtable, const wf_tensor *ids,
                               const wf_tensor *dout) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("embedding_bwd", 2, dtable, dout));
    const int32_t *id = ids->data;       /* (N) */
    const float *d = dout->data;         /* (N, C) */
    float *dt = dtable->data;            /* (V, C) */
    int64_t n = wf_tensor_numel(ids), v = dtable->shape[0], c = dtable->shape[1];
    WF_TRY(check_ids("embedding_bwd", id, n, v));
    int64_t nblocks = (c + EMB_COL_BLOCK - 1) / EMB_COL_BLOCK;
#pragma omp parallel for schedule(static) if (n * c > 65536)
    for (int64_t blk = 0; blk < nblocks; blk++) {
        int64_t c0 = blk * EMB_COL_BLOCK, c1 = c0 + EMB_COL_BLOCK < c ? c0 + EMB_COL_BLOCK : c;
        for (int64_t i = 0; i < n; i++) {
            float *dst = dt + (int64_t)id[i] * c;
            const float *src = d + i * c;
            for (int64_t j = c0; j < c1; j++) dst[j] += src[j];
        }
    }
    return WF_OK;
}
