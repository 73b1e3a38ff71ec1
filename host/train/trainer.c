/* The training step and evaluation batches (trainer.h). A step runs its micro-batches without
 * waiting on the device: per-token losses are copied into device slots, and the step state and
 * the losses come back in one copy after the step's last op (the per-step loss stays exact: the
 * same double sums, in the same order, as reading each micro-batch back). Micro-batches go up
 * from the trainer's page-locked double buffers (graph.h wf_batch_stage), so the host never
 * syncs with the device inside a step except for that read-back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weft/data.h"
#include "weft/trainer.h"

static size_t aligned(size_t n) { return (n + WF_ARENA_ALIGN - 1) / WF_ARENA_ALIGN * WF_ARENA_ALIGN; }

/* Per-token losses of one micro-batch: (B, T + a soft prompt's virtual tokens); a sequence head
 * has B of them, fewer. */
static int64_t slot_len(const wf_trainer *tr) { return tr->B * wf_model_seq_len(tr->m, tr->T); }

/* Bytes of the loss slots: WF_TRAINER_LOSS_SLOTS micro-batches of up to slot_len losses. */
static size_t slots_bytes(const wf_trainer *tr) {
    return (size_t)(WF_TRAINER_LOSS_SLOTS * slot_len(tr)) * sizeof(float);
}

/* Where a micro-batch's inputs start in the batch arena: after the state and the loss slots. */
static size_t inputs_mark(const wf_trainer *tr) {
    return aligned(sizeof(wf_step_state)) + aligned(slots_bytes(tr));
}

/* The batch arena: the step state, the loss slots, then one micro-batch's inputs. */
static size_t batch_arena_bytes(const wf_trainer *tr) {
    return inputs_mark(tr) + wf_batch_bytes(tr->m, tr->B, tr->T) + 4096;
}

static unsigned acts_flags(bool recompute) { return WF_ACTS_TRAIN | (recompute ? WF_ACTS_RECOMPUTE : 0); }

size_t wf_trainer_device_bytes(const wf_model *m, int64_t B, int64_t T, bool recompute) {
    wf_trainer probe = {.m = (wf_model *)m, .B = B, .T = T}; /* what batch_arena_bytes reads */
    return wf_acts_bytes(m, B, T, acts_flags(recompute)) + batch_arena_bytes(&probe) + WF_TRAINER_COMM_BYTES;
}

wf_status wf_trainer_init(wf_trainer *tr, wf_model *m, wf_trainable *t, int64_t B, int64_t T,
                          const wf_adamw_hparams *hp, uint64_t seed) {
    return wf_trainer_init_ex(tr, m, t, B, T, hp, seed, false);
}

wf_status wf_trainer_init_ex(wf_trainer *tr, wf_model *m, wf_trainable *t, int64_t B, int64_t T,
                             const wf_adamw_hparams *hp, uint64_t seed, bool recompute) {
    memset(tr, 0, sizeof *tr);
    tr->m = m, tr->t = t, tr->B = B, tr->T = T, tr->adamw = *hp, tr->seed = seed;
    tr->scaler = (wf_scaler_hparams){.dynamic = m->dtype == WF_F16, .growth = 2.0f, .backoff = 0.5f,
                                     .interval = 2000};
    tr->host = (wf_step_state){.loss_scale = m->dtype == WF_F16 ? 65536.0f : 1.0f};
    int64_t K = m->arch.n_labels > 0 ? m->arch.n_labels : 1;
    int64_t Tv = wf_model_seq_len(m, T); /* per-token losses include a soft prompt's rows */
    tr->host_out = malloc((size_t)(B * (Tv > K ? Tv : K)) * sizeof(float));
    tr->host_step = malloc(inputs_mark(tr));
    if (!tr->host_out || !tr->host_step) return wf_error(WF_ERR_OOM, "trainer: out of host memory");
    WF_TRY(wf_acts_create(m, B, T, acts_flags(recompute), &tr->acts));
    WF_TRY(wf_backend_arena_create(m->be, &tr->batch_arena, "batch", batch_arena_bytes(tr)));
    /* as large as the arena's input region: any batch that fits there fits the staging */
    WF_TRY(wf_batch_stage_create(m->be, wf_batch_bytes(m, B, T) + 4096, &tr->batch_stage));
    void *p = NULL;
    WF_TRY(wf_arena_alloc(&tr->batch_arena, sizeof(wf_step_state), &p));
    tr->state = p;
    WF_TRY(wf_arena_alloc(&tr->batch_arena, slots_bytes(tr), &p));
    tr->loss_slots = p;
    WF_ASSERT((char *)tr->loss_slots == (char *)tr->state + aligned(sizeof(wf_step_state)));
    WF_TRY(m->be->copy(m->be, tr->state, &tr->host, sizeof tr->host, WF_COPY_H2D));
    WF_TRY(wf_trainer_dist_init(tr));
    return m->be->sync(m->be);
}

wf_status wf_trainer_set_scaler(wf_trainer *tr, float init_scale, const wf_scaler_hparams *sh) {
    if (!(init_scale >= 1.0f && isfinite(init_scale)))
        return wf_error(WF_ERR_INVALID, "loss scale: the initial scale must be finite and >= 1 "
                        "(got %g)", (double)init_scale);
    if (!(sh->growth > 1.0f) || !(sh->backoff > 0.0f && sh->backoff < 1.0f) || sh->interval < 1)
        return wf_error(WF_ERR_INVALID, "loss scale: needs growth > 1, 0 < backoff < 1 and an "
                        "interval >= 1 (got %g, %g, %d)", (double)sh->growth, (double)sh->backoff,
                        (int)sh->interval);
    tr->scaler = *sh;
    tr->host.loss_scale = init_scale;
    WF_TRY(tr->m->be->copy(tr->m->be, tr->state, &tr->host, sizeof tr->host, WF_COPY_H2D));
    return tr->m->be->sync(tr->m->be);
}

void wf_trainer_free(wf_trainer *tr) {
    if (!tr->m) return;
    wf_acts_destroy(tr->m, &tr->acts);
    wf_backend_arena_destroy(tr->m->be, &tr->batch_arena);
    wf_batch_stage_destroy(tr->m->be, &tr->batch_stage);
    wf_backend_arena_destroy(tr->m->be, &tr->comm_arena);
    free(tr->host_out), free(tr->host_step), free(tr->opt_host), free(tr->buckets);
    memset(tr, 0, sizeof *tr);
}

/* Losses per micro-batch: one per token (LM) or per sequence. */
static int64_t n_losses(const wf_model *m, const wf_batch_host *h) {
    return m->arch.head == WF_HEAD_LM ? h->B * wf_model_seq_len(m, h->T) : h->B;
}

/* Sum of the per-token (per-sequence) losses of the last wf_graph_loss (evaluation). */
static wf_status loss_sum(wf_trainer *tr, int64_t n, double *out) {
    float *h = tr->host_out;
    WF_TRY(tr->m->be->copy(tr->m->be, h, tr->acts.d.tok_loss.data, (size_t)n * 4, WF_COPY_D2H));
    WF_TRY(tr->m->be->sync(tr->m->be));
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += h[i];
    *out = sum;
    return WF_OK;
}

/* Forward (+ loss, + backward when training) of one micro-batch; the batch arena holds its
 * inputs (after the step state and the loss slots). Losses stay in a->d.tok_loss. */
static wf_status run_micro(wf_trainer *tr, const wf_batch_host *h, float dscale, bool train) {
    wf_model *m = tr->m;
    wf_arena_reset(&tr->batch_arena, inputs_mark(tr));
    wf_batch b;
    WF_TRY(wf_batch_upload_staged(m, h, &tr->batch_arena, &tr->batch_stage, &b));
    WF_TRY(wf_graph_forward(m, &b, &tr->acts));
    WF_TRY(wf_graph_loss(m, &b, &tr->acts, train ? &tr->t->grads : NULL, dscale));
    if (train) WF_TRY(wf_graph_backward(m, &b, &tr->acts, &tr->t->grads));
    return WF_OK;
}

/* Reads back the step state (with `state`) and the losses of micro-batches [i0, i1) from their
 * slots in one copy, then adds each micro-batch's sum (in order, in double) to *sum. The D2H
 * copy returns with the bytes on the host (backend.h), so it is the step's one wait. */
static wf_status read_back(wf_trainer *tr, const wf_batch_host *micro, int i0, int i1, bool state,
                           double *sum) {
    wf_backend *be = tr->m->be;
    int64_t slot = slot_len(tr), used = 0;
    for (int i = i0; i < i1; i++) used = (i - i0) * slot + n_losses(tr->m, &micro[i]);
    size_t off = aligned(sizeof(wf_step_state)), bytes = (size_t)used * sizeof(float);
    if (state) WF_TRY(be->copy(be, tr->host_step, tr->state, off + bytes, WF_COPY_D2H));
    else if (bytes) WF_TRY(be->copy(be, tr->host_step + off, tr->loss_slots, bytes, WF_COPY_D2H));
    if (state) memcpy(&tr->host, tr->host_step, sizeof tr->host);
    const float *l = (const float *)(tr->host_step + off);
    for (int i = i0; i < i1; i++) {
        double part = 0;
        for (int64_t k = 0, n = n_losses(tr->m, &micro[i]); k < n; k++) part += l[(i - i0) * slot + k];
        *sum += part;
    }
    return WF_OK;
}

wf_status wf_trainer_step(wf_trainer *tr, const wf_batch_host *micro, int n, double lr,
                          uint32_t step, wf_step_result *out) {
    wf_model *m = tr->m;
    wf_trainable *t = tr->t;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++) {
        out->tokens += wf_batch_loss_tokens(&micro[i]);
        out->input_tokens += micro[i].B * micro[i].T;
    }
    /* data parallel: the gradient is normalized by the loss tokens of all ranks together */
    int64_t counts[2] = {out->tokens, out->input_tokens};
    WF_TRY(wf_trainer_dist_sum_i64(tr, counts, 2));
    out->tokens = counts[0], out->input_tokens = counts[1];
    if (out->tokens == 0) return wf_error(WF_ERR_INVALID, "train step %u: no loss tokens in the batch", step);
    WF_TRY(wf_trainable_zero_grad(m, t));
    tr->acts.training = true, tr->acts.seed = tr->seed, tr->acts.step = step;
    /* every micro-batch's gradient is scaled by S / (the step's loss tokens), so the sum over
     * micro-batches is S times the gradient of the mean over all of them; S is read on the
     * device from the step state (acts.loss_scale), so the host never needs it to run a step.
     * The value reported is the last read-back's, which is the one the device holds. */
    out->loss_scale = tr->host.loss_scale;
    tr->acts.loss_scale = &tr->state->loss_scale;
    float dscale = 1.0f / (float)out->tokens;
    double sum = 0;
    int first = 0; /* first micro-batch whose losses are still on the device */
    for (int i = 0; i < n; i++) {
        if (i - first == WF_TRAINER_LOSS_SLOTS) {
            WF_TRY(read_back(tr, micro, first, i, false, &sum));
            first = i;
        }
        if (i == n - 1) wf_trainer_dist_arm(tr); /* buckets go out as its backward completes them */
        WF_TRY(run_micro(tr, &micro[i], dscale, true));
        float *slot = tr->loss_slots + (i - first) * slot_len(tr);
        WF_TRY(m->be->copy(m->be, slot, tr->acts.d.tok_loss.data,
                           (size_t)n_losses(m, &micro[i]) * sizeof(float), WF_COPY_D2D));
    }
    tr->acts.training = false, tr->acts.loss_scale = NULL;
    /* the flat fp32 gradient of this rank is complete here (still scaled by S): sum it over ranks
     * (the buckets not yet launched and a join, one all-reduce, or reduce-scatter for ZeRO-1) */
    WF_TRY(wf_trainer_dist_reduce_grads(tr));
    tr->adamw.lr = (float)lr;
    if (tr->zero1) {
        WF_TRY(wf_trainer_dist_zero1_update(tr));
    } else {
        WF_TRY(wf_op_grad_unscale_norm(m->be, &t->g, tr->state));
        WF_TRY(wf_op_adamw(m->be, &t->p, &t->g, &t->m, &t->v, t->p_lowp.data ? &t->p_lowp : NULL,
                           t->n_decay, &tr->adamw, tr->state));
    }
    WF_TRY(wf_op_step_end(m->be, tr->state, &tr->scaler));
    WF_TRY(wf_comm_wait(tr->comm));
    WF_TRY(read_back(tr, micro, first, n, true, &sum));
    WF_TRY(wf_trainer_dist_sum_f64(tr, &sum, 1));
    out->loss = sum / (double)out->tokens;
    out->grad_norm = tr->host.last_grad_norm;
    out->skipped = tr->host.last_skipped != 0;
    out->next_scale = tr->host.loss_scale;
    out->skipped_total = tr->host.skipped_steps;
    return WF_OK;
}

/* Classification bookkeeping: argmax of each row of the head's logits against the labels. */
static wf_status score_classes(wf_trainer *tr, const wf_batch_host *b, wf_eval_acc *acc) {
    int64_t K = tr->m->arch.n_labels, B = b->B;
    float *logits = tr->host_out; /* (B, K) */
    size_t esz = wf_dtype_size(tr->m->dtype);
    wf_status s = tr->m->be->copy(tr->m->be, logits, tr->acts.head_out.data, (size_t)(B * K) * esz,
                                  WF_COPY_D2H);
    if (tr->m->dtype != WF_F32) /* widen from the back */
        for (int64_t i = B * K - 1; i >= 0; i--) logits[i] = wf_load_f32(logits, tr->m->dtype, (size_t)i);
    acc->n_classes = K < WF_EVAL_MAX_CLASSES ? K : WF_EVAL_MAX_CLASSES;
    for (int64_t r = 0; r < B && s == WF_OK; r++) {
        int64_t best = 0;
        for (int64_t k = 1; k < K; k++)
            if (logits[r * K + k] > logits[r * K + best]) best = k;
        int64_t y = b->labels[r];
        acc->correct += best == y;
        if (best < WF_EVAL_MAX_CLASSES && y < WF_EVAL_MAX_CLASSES) {
            if (best == y) acc->tp[y]++;
            else acc->fp[best]++, acc->fn[y]++;
        }
    }
    return s;
}

wf_status wf_trainer_eval_batch(wf_trainer *tr, const wf_batch_host *b, wf_eval_acc *acc) {
    int64_t n = wf_batch_loss_tokens(b);
    double sum;
    WF_TRY(run_micro(tr, b, 1.0f, false));
    WF_TRY(loss_sum(tr, n_losses(tr->m, b), &sum));
    acc->loss_sum += sum, acc->count += n;
    wf_head_kind h = tr->m->arch.head;
    if (h == WF_HEAD_SEQ_CLS || h == WF_HEAD_IMAGE_CLS) WF_TRY(score_classes(tr, b, acc));
    return WF_OK;
}

wf_eval_result wf_eval_finish(const wf_eval_acc *acc, wf_head_kind head) {
    wf_eval_result r = {.count = acc->count};
    r.loss = acc->count ? acc->loss_sum / (double)acc->count : NAN;
    r.perplexity = head == WF_HEAD_LM ? exp(r.loss) : NAN;
    r.accuracy = r.macro_f1 = NAN;
    if (head == WF_HEAD_SEQ_CLS || head == WF_HEAD_IMAGE_CLS) {
        r.accuracy = acc->count ? (double)acc->correct / (double)acc->count : NAN;
        /* macro-F1 as scikit-learn's f1_score(average="macro"): over the classes that occur as a
         * label or a prediction, F1 = 2 tp / (2 tp + fp + fn) */
        double f1 = 0;
        int64_t classes = 0;
        for (int64_t k = 0; k < acc->n_classes; k++) {
            double d = 2.0 * (double)acc->tp[k] + (double)acc->fp[k] + (double)acc->fn[k];
            if (d > 0) f1 += 2.0 * (double)acc->tp[k] / d, classes++;
        }
        r.macro_f1 = classes ? f1 / (double)classes : NAN;
    }
    return r;
}
