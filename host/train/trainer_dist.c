/* The data-parallel parts of a training step (trainer.h, DESIGN.md "Parallelism"): the global
 * loss-token count, the gradient reduction after backward, ZeRO-1's sharded update, the loss and
 * eval sums over ranks. On one rank (wf_comm_single) every function here is the identity or the
 * plain single-rank update. Host values travel through a small buffer in the backend's memory,
 * since NCCL reduces device memory only.
 * Not here: bucketed reduction overlapped with backward (the NCCL path reduces the flat gradient
 * once after backward, on the compute stream). */
#include <stdlib.h>
#include <string.h>

#include "weft/trainer.h"

#define STAGE_BYTES 4096

wf_status wf_trainer_dist_init(wf_trainer *tr) {
    tr->comm = wf_comm_single();
    WF_TRY(wf_backend_arena_create(tr->m->be, &tr->comm_arena, "comm", STAGE_BYTES + WF_ARENA_ALIGN));
    return wf_arena_alloc(&tr->comm_arena, STAGE_BYTES, &tr->stage);
}

/* vals (n) = their sum over ranks; through the staging buffer. */
static wf_status sum_host(wf_trainer *tr, void *vals, int64_t n, wf_comm_dtype dt) {
    if (tr->comm->world == 1) return WF_OK;
    wf_backend *be = tr->m->be;
    size_t bytes = (size_t)n * (dt == WF_COMM_F32 || dt == WF_COMM_I32 ? 4 : 8);
    WF_ASSERT(bytes <= STAGE_BYTES);
    WF_TRY(be->copy(be, tr->stage, vals, bytes, WF_COPY_H2D));
    WF_TRY(wf_comm_all_reduce(tr->comm, tr->stage, n, dt));
    WF_TRY(wf_comm_wait(tr->comm));
    return be->copy(be, vals, tr->stage, bytes, WF_COPY_D2H);
}

wf_status wf_trainer_dist_sum_i64(wf_trainer *tr, int64_t *vals, int64_t n) {
    return sum_host(tr, vals, n, WF_COMM_I64);
}

wf_status wf_trainer_dist_sum_f64(wf_trainer *tr, double *vals, int64_t n) {
    return sum_host(tr, vals, n, WF_COMM_F64);
}

wf_status wf_trainer_dist_reduce_grads(wf_trainer *tr) {
    wf_trainable *t = tr->t;
    if (tr->zero1) return wf_comm_reduce_scatter(tr->comm, t->g.data, t->total);
    return wf_comm_all_reduce(tr->comm, t->g.data, t->total, WF_COMM_F32);
}

/* A view of elements [off, off + n) of a flat buffer. */
static wf_tensor shard_of(const wf_tensor *flat, int64_t off, int64_t n) {
    wf_tensor v = *flat;
    v.shape[0] = n;
    v.data = (char *)flat->data + (size_t)off * wf_dtype_size(flat->dtype);
    return v;
}

/* ZeRO-1 (Rajbhandari et al. 2020, stage 1): this rank's shard of the reduce-scattered gradient
 * is unscaled and its squares summed; the sums (and the non-finite flags) are added over ranks,
 * so the clip coefficient comes from the global norm; AdamW updates the shard only; the updated
 * weights are all-gathered. */
wf_status wf_trainer_dist_zero1_update(wf_trainer *tr) {
    wf_backend *be = tr->m->be;
    wf_trainable *t = tr->t;
    wf_comm *c = tr->comm;
    int64_t off, n;
    wf_comm_shard(t->total, c->world, c->rank, &off, &n);
    WF_ASSERT(t->opt_off == off && t->opt_n == n); /* built by wf_trainable_build_shard */
    wf_tensor g = shard_of(&t->g, off, n), p = shard_of(&t->p, off, n), lp = {0};
    if (t->p_lowp.data) lp = shard_of(&t->p_lowp, off, n);
    if (n > 0) WF_TRY(wf_op_grad_unscale_norm(be, &g, tr->state));
    WF_TRY(wf_comm_all_reduce(c, &tr->state->grad_sumsq, 1, WF_COMM_F32));
    WF_TRY(wf_comm_all_reduce(c, &tr->state->found_inf, 1, WF_COMM_I32));
    int64_t n_decay = t->n_decay - off;
    n_decay = n_decay < 0 ? 0 : n_decay > n ? n : n_decay;
    if (n > 0)
        WF_TRY(wf_op_adamw(be, &p, &g, &t->m, &t->v, t->p_lowp.data ? &lp : NULL, n_decay, &tr->adamw,
                           tr->state));
    WF_TRY(wf_comm_all_gather(c, t->p.data, t->total, 4));
    if (t->p_lowp.data)
        WF_TRY(wf_comm_all_gather(c, t->p_lowp.data, t->total, (int)wf_dtype_size(t->p_lowp.dtype)));
    return WF_OK;
}

/* Each rank's shard of m, then of v, goes into its place in the gradient buffer (free between
 * steps), is all-gathered there, and rank 0 copies the whole to the host buffer, allocated at the
 * first checkpoint and kept. */
wf_status wf_trainer_dist_gather_state(wf_trainer *tr, const float **host_m, const float **host_v) {
    *host_m = *host_v = NULL;
    wf_trainable *t = tr->t;
    if (t->opt_n == t->total) return WF_OK;
    wf_backend *be = tr->m->be;
    size_t whole = (size_t)t->total * sizeof(float);
    if (tr->comm->rank == 0 && !tr->opt_host && !(tr->opt_host = malloc(2 * whole)))
        return wf_error(WF_ERR_OOM, "checkpoint: out of host memory for the gathered AdamW moments "
                        "(%zu MiB)", 2 * whole >> 20);
    const wf_tensor *mv[2] = {&t->m, &t->v};
    for (int k = 0; k < 2; k++) {
        float *g = t->g.data;
        WF_TRY(be->copy(be, g + t->opt_off, mv[k]->data, (size_t)t->opt_n * sizeof(float), WF_COPY_D2D));
        WF_TRY(wf_comm_all_gather(tr->comm, g, t->total, 4));
        WF_TRY(wf_comm_wait(tr->comm));
        if (tr->comm->rank == 0) WF_TRY(be->copy(be, tr->opt_host + (size_t)k * t->total, g, whole, WF_COPY_D2H));
    }
    if (tr->comm->rank == 0) *host_m = tr->opt_host, *host_v = tr->opt_host + t->total;
    return WF_OK;
}

wf_status wf_trainer_dist_sum_eval(wf_trainer *tr, wf_eval_acc *acc) {
    if (tr->comm->world == 1) return WF_OK;
    WF_TRY(wf_trainer_dist_sum_f64(tr, &acc->loss_sum, 1));
    int64_t v[3 + 3 * WF_EVAL_MAX_CLASSES];
    v[0] = acc->count, v[1] = acc->correct, v[2] = acc->n_classes;
    memcpy(v + 3, acc->tp, sizeof acc->tp);
    memcpy(v + 3 + WF_EVAL_MAX_CLASSES, acc->fp, sizeof acc->fp);
    memcpy(v + 3 + 2 * WF_EVAL_MAX_CLASSES, acc->fn, sizeof acc->fn);
    WF_TRY(wf_trainer_dist_sum_i64(tr, v, 3 + 3 * WF_EVAL_MAX_CLASSES));
    acc->count = v[0], acc->correct = v[1];
    /* n_classes: the head's classes on every rank that scored (0 on a rank with no eval rows) */
    int64_t K = tr->m->arch.n_labels;
    acc->n_classes = v[2] > 0 ? (K < WF_EVAL_MAX_CLASSES ? K : WF_EVAL_MAX_CLASSES) : 0;
    memcpy(acc->tp, v + 3, sizeof acc->tp);
    memcpy(acc->fp, v + 3 + WF_EVAL_MAX_CLASSES, sizeof acc->fp);
    memcpy(acc->fn, v + 3 + 2 * WF_EVAL_MAX_CLASSES, sizeof acc->fn);
    return WF_OK;
}
