/* LoRA linear on the GPU (MATH.md "Linear and LoRA", PEFT semantics), composed from cuBLAS GEMMs
 * (wf_cuda_gemm, linear_fwd/bwd) and the dropout kernel; no fusion yet:
 *   h = drop(x) A^T,  y = x W^T + bias + scale h B^T;
 *   dB += scale dy^T h,  dh = scale dy B,  dA += dh^T drop(x),  dx = dy W + drop_bwd(dh A),
 *   dW += dy^T x and dbias += colsum(dy) only when asked (a frozen base runs no dW GEMM).
 * The dropout mask is recomputed in backward from (seed, step, stream, n*K + k), as the CPU.
 * h, dh and the temporaries are stored in x's dtype (each GEMM accumulates in fp32), so bf16/fp16
 * runs round h once where kernels/cpu/lora.c (fp32 only) does not. Temporaries: be->scratch. */
#include "common.cuh"

/* Scratch for `count` elements of dtype dt; the caller resets the arena. */
static wf_status lora_scratch(wf_backend *be, int64_t count, wf_dtype dt, void **out) {
    return wf_arena_alloc(&be->scratch, (size_t)count * wf_dtype_size(dt), out);
}

/* drop(x) (n, k) into scratch, or x itself when p == 0. */
static wf_status lora_dropped_x(wf_backend *be, const wf_lora *l, const void **out) {
    *out = l->x->data;
    if (l->drop.p == 0.0f) return WF_OK;
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    void *buf = NULL;
    WF_TRY(lora_scratch(be, n * k, l->x->dtype, &buf));
    wf_tensor t = wf_tensor_make(buf, l->x->dtype, 2, n, k);
    WF_TRY(wf_cuda_dropout(be, &t, l->x, &l->drop));
    *out = buf;
    return WF_OK;
}

static wf_status lora_fwd_run(wf_backend *be, const wf_lora *l) {
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    int64_t m = l->w->shape[0], r = l->a->shape[0];
    wf_dtype dt = l->x->dtype;
    const void *xd = NULL;
    WF_TRY(lora_dropped_x(be, l, &xd));
    /* h (n, r) = drop(x) (n, k) A^T (k, r) */
    WF_TRY(wf_cuda_gemm(be, "lora_fwd", false, true, n, r, k, 1.0f, xd, k, 0, l->a->data, k, 0, dt,
                        0.0f, l->h->data, r, 0, dt, 1));
    WF_TRY(wf_cuda_linear_fwd(be, l->y, l->x, l->w, l->bias));
    /* y (n, m) += scale h (n, r) B^T (r, m) */
    return wf_cuda_gemm(be, "lora_fwd", false, true, n, m, r, l->scale, l->h->data, r, 0,
                        l->b->data, r, 0, dt, 1.0f, l->y->data, m, 0, dt, 1);
}

extern "C" wf_status wf_cuda_lora_fwd(wf_backend *be, const wf_lora *l) {
    if (wf_tensor_rows(l->x) <= 0) return WF_OK;
    size_t mark = wf_arena_mark(&be->scratch);
    wf_status s = lora_fwd_run(be, l);
    wf_arena_reset(&be->scratch, mark);
    return s;
}

/* The low-rank part of the backward; dx already holds dy W when given. */
static wf_status lora_bwd_lowrank(wf_backend *be, const wf_lora *l) {
    int64_t n = wf_tensor_rows(l->x), k = wf_tensor_cols(l->x);
    int64_t m = l->w->shape[0], r = l->a->shape[0];
    wf_dtype dt = l->x->dtype;
    const void *dy = l->dy->data;
    void *dh = NULL;
    WF_TRY(lora_scratch(be, n * r, dt, &dh));
    /* dB (m, r) += scale dy^T (m, n) h (n, r) */
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", true, false, m, r, n, l->scale, dy, m, 0, l->h->data, r, 0,
                        dt, 1.0f, l->db->data, r, 0, l->db->dtype, 1));
    /* dh (n, r) = scale dy (n, m) B (m, r) */
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", false, false, n, r, m, l->scale, dy, m, 0, l->b->data, r, 0,
                        dt, 0.0f, dh, r, 0, dt, 1));
    const void *xd = NULL;
    WF_TRY(lora_dropped_x(be, l, &xd));
    /* dA (r, k) += dh^T (r, n) drop(x) (n, k) */
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", true, false, r, k, n, 1.0f, dh, r, 0, xd, k, 0, dt, 1.0f,
                        l->da->data, k, 0, l->da->dtype, 1));
    if (!l->dx) return WF_OK;
    if (l->drop.p == 0.0f) /* dx (n, k) += dh (n, r) A (r, k) */
        return wf_cuda_gemm(be, "lora_bwd", false, false, n, k, r, 1.0f, dh, r, 0, l->a->data, k,
                            0, dt, 1.0f, l->dx->data, k, 0, l->dx->dtype, 1);
    /* dx += drop_bwd(dh A): dh A into the drop(x) buffer (no longer needed), the same mask and
     * 1/(1-p) applied in place, then added onto dx */
    void *tmp = (void *)xd;
    WF_TRY(wf_cuda_gemm(be, "lora_bwd", false, false, n, k, r, 1.0f, dh, r, 0, l->a->data, k, 0, dt,
                        0.0f, tmp, k, 0, dt, 1));
    wf_tensor t = wf_tensor_make(tmp, dt, 2, n, k);
    WF_TRY(wf_cuda_dropout(be, &t, &t, &l->drop));
    return wf_cuda_add(be, l->dx, l->dx, &t);
}

extern "C" wf_status wf_cuda_lora_bwd(wf_backend *be, const wf_lora *l) {
    if (wf_tensor_rows(l->x) <= 0) return WF_OK;
    /* Base part first: dx = dy W (the low-rank part adds onto it), dW, dbias when given. */
    WF_TRY(wf_cuda_linear_bwd(be, l->dx, l->dw, l->dbias, l->dy, l->x, l->w));
    size_t mark = wf_arena_mark(&be->scratch);
    wf_status s = lora_bwd_lowrank(be, l);
    wf_arena_reset(&be->scratch, mark);
    return s;
}
