/* LoRA linear on the CPU (MATH.md "Linear and LoRA", PEFT semantics):
 *   h = drop(x) A^T,  y = x W^T + bias + scale h B^T;
 *   dB += scale dy^T h,  dh = scale dy B,  dA += dh^T drop(x),  dx = dy W + drop_bwd(dh A),
 *   dW += dy^T x and dbias += colsum(dy) only when asked (a frozen base runs no dW GEMM).
 * The dropout mask is not stored: element (n, k) of x is kept iff
 * wf_rng_uniform(seed, step, stream, n*K + k) >= p (ops.h wf_dropout), so backward recomputes it.
 * Temporaries come from be->scratch. The base GEMMs are linear_fwd/linear_bwd (matmul.c). */
#include <stdio.h>

#include "cpu_ops.h"
#include "weft/rng.h"

/* out (N, K) = drop(in), or out += drop(in) when accumulate (drop_bwd onto dx). The mask of
 * element (n, k) is drawn at index n*K + k (wf_rng_uniform) over the flat range (dropout.c). */
static void dropout_rows(float *out, const float *in, int64_t n, int64_t k, const wf_dropout *d,
                         bool accumulate) {
    wf_cpu_dropout_apply(out, in, n * k, d, 1.0f / (1.0f - d->p), accumulate);
}

/* n floats from the scratch arena; running out names the op (the caller resets the arena). */
static wf_status scratch_floats(wf_backend *be, const char *op, int64_t n, float **out) {
    void *p = NULL;
    if (wf_arena_alloc(&be->scratch, (size_t)n * sizeof(float), &p) != WF_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", wf_last_error());
        return wf_error(WF_ERR_OOM, "op %s: temporaries: %s", op, why);
    }
    *out = p;
    return WF_OK;
}

wf_status wf_cpu_lora_fwd(wf_backend *be, const wf_lora *l) {
    WF_TRY(wf_cpu_need_f32("lora_fwd", 7, l->y, l->h, l->x, l->w, l->bias, l->a, l->b));
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    int64_t m = l->w->shape[0], r = l->a->shape[0];
    const float *x = l->x->data; /* (N, K) */
    float *h = l->h->data;       /* (N, r) */
    size_t mark = wf_arena_mark(&be->scratch);
    const float *xd = x; /* drop(x) (N, K): x itself when p == 0 */
    if (l->drop.p > 0.0f) {
        float *buf = NULL;
        WF_TRY(scratch_floats(be, "lora_fwd", n * k, &buf));
        dropout_rows(buf, x, n, k, &l->drop, false);
        xd = buf;
    }
    /* h (N, r) = drop(x) (N, K) A^T (K, r) */
    wf_cpu_gemm(false, true, n, r, k, 1.0f, xd, k, l->a->data, k, 0.0f, h, r);
    wf_arena_reset(&be->scratch, mark);
    WF_TRY(wf_cpu_linear_fwd(be, l->y, l->x, l->w, l->bias));
    /* y (N, M) += scale h (N, r) B^T (r, M) */
    wf_cpu_gemm(false, true, n, m, r, l->scale, h, r, l->b->data, r, 1.0f, l->y->data, m);
    return WF_OK;
}

/* The low-rank part of the backward, with scratch for dh (N, r) and, when p > 0, one (N, K)
 * buffer that holds drop(x) for dA and is then reused for dh A. */
static wf_status lora_bwd_lowrank(wf_backend *be, const wf_lora *l) {
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    int64_t m = l->w->shape[0], r = l->a->shape[0];
    const float *x = l->x->data, *dy = l->dy->data; /* (N, K), (N, M) */
    const float *a = l->a->data, *b = l->b->data;   /* (r, K), (M, r) */
    bool dropping = l->drop.p > 0.0f;
    float *dh = NULL, *tmp = NULL;
    WF_TRY(scratch_floats(be, "lora_bwd", n * r, &dh));
    if (dropping) WF_TRY(scratch_floats(be, "lora_bwd", n * k, &tmp));
    /* dB (M, r) += scale dy^T (M, N) h (N, r) */
    wf_cpu_gemm(true, false, m, r, n, l->scale, dy, m, l->h->data, r, 1.0f, l->db->data, r);
    /* dh (N, r) = scale dy (N, M) B (M, r) */
    wf_cpu_gemm(false, false, n, r, m, l->scale, dy, m, b, r, 0.0f, dh, r);
    const float *xd = x;
    if (dropping) {
        dropout_rows(tmp, x, n, k, &l->drop, false);
        xd = tmp;
    }
    /* dA (r, K) += dh^T (r, N) drop(x) (N, K) */
    wf_cpu_gemm(true, false, r, k, n, 1.0f, dh, r, xd, k, 1.0f, l->da->data, k);
    if (!l->dx) return WF_OK;
    if (!dropping) { /* dx (N, K) += dh (N, r) A (r, K); dx already holds dy W */
        wf_cpu_gemm(false, false, n, k, r, 1.0f, dh, r, a, k, 1.0f, l->dx->data, k);
        return WF_OK;
    }
    /* dx += drop_bwd(dh A): the same mask and 1/(1-p) applied to dh A */
    wf_cpu_gemm(false, false, n, k, r, 1.0f, dh, r, a, k, 0.0f, tmp, k);
    dropout_rows(l->dx->data, tmp, n, k, &l->drop, true);
    return WF_OK;
}

wf_status wf_cpu_lora_bwd(wf_backend *be, const wf_lora *l) {
    WF_TRY(wf_cpu_need_f32("lora_bwd", 11, l->dy, l->h, l->x, l->w, l->a, l->b, l->dx, l->dw,
                           l->dbias, l->da, l->db));
    /* Base part first: dx = dy W (the low-rank part adds onto it), dW, dbias when given. */
    WF_TRY(wf_cpu_linear_bwd(be, l->dx, l->dw, l->dbias, l->dy, l->x, l->w));
    size_t mark = wf_arena_mark(&be->scratch);
    wf_status s = lora_bwd_lowrank(be, l);
    wf_arena_reset(&be->scratch, mark);
    return s;
}
