/* The data-parallel parts of a training step (trainer.h, DESIGN.md "Parallelism"): the global
 * loss-token count, the gradient reduction after backward, ZeRO-1's sharded update, the loss and
 * eval sums over ranks. On one rank (wf_comm_single) every function here is the identity or the
 * plain single-rank update. Host values travel through a small buffer in the backend's memory,
 * since NCCL reduces device memory only.
 * Gradient buckets (DESIGN.md "Parallelism"): the flat gradient is cut into buckets in the order
 * the backward completes them (head, last block, ..., first block, embeddings); the backward of
 * a step's last micro-batch reports each finished layer (graph.h grads_ready) and the buckets it
 * completes are all-reduced at once (NCCL: on the communication stream, beside the rest of the
 * backward; comm.h all_reduce_async; under ZeRO-1 each bucket's part of the reduce-scatter,
 * reduce_scatter_async). Each element is still the rank-order sum of the same values, so on the
 * CPU communicator the result is bit-identical to one flat all-reduce (reduce-scatter). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/trainer.h"

#define STAGE_BYTES (WF_TRAINER_COMM_BYTES - WF_ARENA_ALIGN)

wf_status wf_trainer_dist_init(wf_trainer *tr) {
    tr->comm = wf_comm_single();
    WF_TRY(wf_backend_arena_create(tr->m->be, &tr->comm_arena, "comm", WF_TRAINER_COMM_BYTES));
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

/* Buckets of params [i0, i1) (one decay section), walked from its end: whole parameters (with
 * their alignment padding) are added to the open bucket while it stays within cap elements; a
 * parameter larger than cap is cut into cap-sized pieces from its end. A bucket is ready at the
 * least layer among its parameters. Appends to out[n...]; returns the new count. */
static int plan_section(const wf_model *m, const wf_trainable *t, int i0, int i1, int64_t cap,
                        wf_grad_bucket *out, int n) {
    if (i0 >= i1) return n;
    int64_t L = m->arch.n_layers, hi = i1 < t->n_params ? t->params[i1].offset : t->total;
    int64_t lo = hi, layer = L; /* the open bucket [lo, hi) */
    for (int i = i1 - 1; i >= i0; i--) {
        int64_t a = t->params[i].offset, li = t->params[i].layer;
        if (hi - a > cap && lo < hi) { /* it would not fit: close the open bucket */
            out[n++] = (wf_grad_bucket){.off = lo, .n = hi - lo, .layer = layer};
            hi = lo, layer = L;
        }
        for (; hi - a > cap; hi -= cap) out[n++] = (wf_grad_bucket){.off = hi - cap, .n = cap, .layer = li};
        lo = a, layer = li < layer ? li : layer;
    }
    if (lo < hi) out[n++] = (wf_grad_bucket){.off = lo, .n = hi - lo, .layer = layer};
    return n;
}

/* Launch order: the layer that completes first (highest) first; ties keep the planned order. */
typedef struct ordered { wf_grad_bucket b; int k; } ordered;
static int by_launch(const void *x, const void *y) {
    const ordered *a = x, *b = y;
    if (a->b.layer != b->b.layer) return a->b.layer > b->b.layer ? -1 : 1;
    return (a->k > b->k) - (a->k < b->k);
}

#define MAX_BUCKETS 65536

wf_status wf_grad_buckets_plan(const wf_model *m, const wf_trainable *t, int64_t cap,
                               wf_grad_bucket **out, int *n) {
    *out = NULL, *n = 0;
    WF_ASSERT(cap > 0);
    if (t->total / cap > MAX_BUCKETS)
        return wf_error(WF_ERR_INVALID, "gradient buckets of %lld elements cut the %lld trainable "
                        "elements into more than %d buckets (dist.bucket_mb too small)", (long long)cap,
                        (long long)t->total, MAX_BUCKETS);
    int cap_n = t->n_params + (int)(t->total / cap) + 2, nd = 0;
    ordered *o = malloc((size_t)cap_n * sizeof *o);
    wf_grad_bucket *b = malloc((size_t)cap_n * sizeof *b);
    if (!o || !b) return free(o), free(b), wf_error(WF_ERR_OOM, "gradient buckets: out of memory");
    while (nd < t->n_params && t->params[nd].offset < t->n_decay) nd++; /* decayed params first */
    int k = plan_section(m, t, nd, t->n_params, cap, b, 0);
    k = plan_section(m, t, 0, nd, cap, b, k);
    WF_ASSERT(k <= cap_n);
    for (int i = 0; i < k; i++) o[i] = (ordered){b[i], i};
    qsort(o, (size_t)k, sizeof *o, by_launch);
    for (int i = 0; i < k; i++) b[i] = o[i].b;
    free(o);
    *out = b, *n = k;
    return WF_OK;
}

/* graph.h grads_ready: launches every bucket the finished layer completes (ZeRO-1: the bucket's
 * part of the reduce-scatter, so each rank's shard ends up summed exactly as by one
 * reduce_scatter; else its all-reduce). */
static wf_status on_grads_ready(void *ctx, int64_t layer) {
    wf_trainer *tr = ctx;
    wf_comm *c = tr->comm;
    float *g = tr->t->g.data;
    for (; tr->buckets_sent < tr->n_buckets && tr->buckets[tr->buckets_sent].layer >= layer; tr->buckets_sent++) {
        const wf_grad_bucket *b = &tr->buckets[tr->buckets_sent];
        if (tr->zero1)
            WF_TRY(c->ops->reduce_scatter_async(c, g, tr->t->total, b->off, b->n));
        else
            WF_TRY(c->ops->all_reduce_async(c, g + b->off, b->n));
        tr->buckets_early++;
    }
    return WF_OK;
}

wf_status wf_trainer_dist_set_buckets(wf_trainer *tr, int64_t bucket_elems) {
    free(tr->buckets);
    tr->buckets = NULL, tr->n_buckets = 0;
    const wf_comm_ops *ops = tr->comm->ops;
    bool async = tr->zero1 ? ops->reduce_scatter_async != NULL : ops->all_reduce_async != NULL;
    if (bucket_elems <= 0 || !async) return WF_OK;
    return wf_grad_buckets_plan(tr->m, tr->t, bucket_elems, &tr->buckets, &tr->n_buckets);
}

/* Arms the bucket launches for the backward that comes next (a step's last micro-batch). */
void wf_trainer_dist_arm(wf_trainer *tr) {
    tr->buckets_sent = tr->buckets_early = 0;
    tr->acts.grads_ready = tr->buckets ? on_grads_ready : NULL;
    tr->acts.grads_ready_ctx = tr;
}

wf_status wf_trainer_dist_reduce_grads(wf_trainer *tr) {
    wf_trainable *t = tr->t;
    tr->acts.grads_ready = NULL;
    if (!tr->buckets && tr->zero1) return wf_comm_reduce_scatter(tr->comm, t->g.data, t->total);
    if (!tr->buckets) return wf_comm_all_reduce(tr->comm, t->g.data, t->total, WF_COMM_F32);
    int early = tr->buckets_early;
    WF_TRY(on_grads_ready(tr, INT64_MIN)); /* any the backward did not report (none, normally) */
    tr->buckets_early = early;
    return tr->comm->ops->join ? tr->comm->ops->join(tr->comm) : WF_OK;
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
