/* One training step and one evaluation batch over a model and its trainable set: micro-batches
 * through forward, loss and backward with the loss normalized by the loss tokens of the whole
 * step (not a mean of per-micro-batch means), then one fused unscale + finite check + norm pass,
 * AdamW with global-norm clipping, and the step-state update (MATH.md "Optimiser and scaling").
 * The loop around it (data, schedule, eval cadence, logging, checkpoints) is host/train/run.c. */
#ifndef WEFT_TRAINER_H
#define WEFT_TRAINER_H

#include "weft/comm.h"
#include "weft/trainable.h"

typedef enum wf_schedule { WF_SCHED_CONSTANT, WF_SCHED_LINEAR, WF_SCHED_COSINE } wf_schedule;

typedef struct wf_lr_schedule {
    wf_schedule kind;
    double lr, min_lr;
    int64_t warmup_steps, total_steps;
} wf_lr_schedule;

/* The learning rate of optimizer step `step` (0-based): linear warmup from 0 over warmup_steps,
 * then constant, linear to min_lr, or cosine to min_lr at total_steps. */
double wf_lr_at(const wf_lr_schedule *s, int64_t step);

/* Micro-batches whose per-token losses stay on the device before the host reads them back: a
 * step reads its losses and the step state back once (one copy, one sync), and only a step of
 * more micro-batches than this reads back every WF_TRAINER_LOSS_SLOTS of them. */
#define WF_TRAINER_LOSS_SLOTS 16
/* The trainer's arena for summing host values over ranks (trainer_dist.c). */
#define WF_TRAINER_COMM_BYTES (4096 + 256)

/* A contiguous range of the flat gradient that is all-reduced as soon as the backward has
 * finished every parameter in it (trainer_dist.c; graph.h grads_ready). */
typedef struct wf_grad_bucket {
    int64_t off, n; /* elements [off, off + n) of the flat gradient */
    int64_t layer;  /* complete once the backward reports this layer (n_layers: the head and the
                       final norm; -1: the embeddings) */
} wf_grad_bucket;

typedef struct wf_trainer {
    wf_model *m;
    wf_trainable *t;
    wf_acts acts;            /* planned for micro_batch x seq_len, with the backward's buffers */
    wf_arena batch_arena;    /* the step state, the loss slots, then one micro-batch's inputs
                                (reset per micro-batch) */
    wf_batch_stage batch_stage; /* page-locked double buffers the micro-batches go up from */
    wf_step_state *state;    /* device memory */
    float *loss_slots;       /* device (WF_TRAINER_LOSS_SLOTS, B*(T+Nv)), Nv a soft prompt's
                                virtual tokens (0 without): per-token losses of the
                                step's micro-batches, right after the state (one read-back) */
    wf_step_state host;      /* the last state read back (after each step); its loss_scale is
                                the S the next step's backward uses */
    wf_adamw_hparams adamw;  /* lr is set per step */
    wf_scaler_hparams scaler;
    uint64_t seed;           /* LoRA dropout */
    int64_t B, T;
    float *host_out;         /* (max(B*T, B*n_labels)) losses or logits read back, allocated once */
    char *host_step;         /* the state + loss slots as read back, allocated once */
    /* Data parallelism (trainer_dist.c): the rank's communicator (wf_comm_single by default;
     * the caller may set another after init), ZeRO-1 on/off, and a small buffer in backend
     * memory through which host values are summed over ranks. */
    wf_comm *comm;
    bool zero1;
    wf_grad_bucket *buckets; /* (n_buckets) in launch order; NULL: the flat gradient is reduced
                                once after the backward (one rank, ZeRO-1, dist.bucket_mb 0) */
    int n_buckets;
    int buckets_sent;        /* launched so far in this step */
    int buckets_early;       /* of those, launched from inside the backward (last step) */
    float *opt_host;         /* ZeRO-1, rank 0: (2 * total) the gathered m and v for checkpoints */
    wf_arena comm_arena;
    void *stage;
} wf_trainer;

typedef struct wf_step_result {
    double loss;        /* mean over the step's loss tokens */
    int64_t tokens;     /* loss tokens (sequences for sequence heads) */
    int64_t input_tokens;
    double grad_norm;   /* before clipping */
    bool skipped;       /* non-finite gradients (fp16): no update */
    double loss_scale;  /* S this step's backward used (1 unless fp16) */
    double next_scale;  /* S after the step's backoff / growth */
    int64_t skipped_total; /* steps skipped so far */
} wf_step_result;

wf_status wf_trainer_init(wf_trainer *tr, wf_model *m, wf_trainable *t, int64_t B, int64_t T,
                          const wf_adamw_hparams *hp, uint64_t seed);
/* wf_trainer_init, with activation checkpointing (graph.h WF_ACTS_RECOMPUTE) when `recompute`:
 * gradients, losses and weights stay the same bits; activation memory falls to the blocks'
 * outputs plus one block's activations, for one more forward of every block but the last. */
wf_status wf_trainer_init_ex(wf_trainer *tr, wf_model *m, wf_trainable *t, int64_t B, int64_t T,
                             const wf_adamw_hparams *hp, uint64_t seed, bool recompute);
/* Backend memory wf_trainer_init(_ex) takes for micro-batches of B x T: the activations, the
 * batch arena (step state, loss slots, inputs) and the communication buffer. */
size_t wf_trainer_device_bytes(const wf_model *m, int64_t B, int64_t T, bool recompute);
void wf_trainer_free(wf_trainer *tr);
/* Dynamic loss scaling (DESIGN.md "Precision"): the initial scale S and the scaler's growth,
 * backoff and interval; sh->dynamic is taken as given. wf_trainer_init already sets
 * torch.cuda.amp.GradScaler's defaults (2^16, 2.0, 0.5, 2000) for an fp16 model and no scaling
 * otherwise; a run sets its config's values for fp16 only (any dtype is accepted: scaling by a
 * power of two is exact in fp32, which tests use). Call before the first step; writes the
 * device state. */
wf_status wf_trainer_set_scaler(wf_trainer *tr, float init_scale, const wf_scaler_hparams *sh);

/* One optimizer step over n micro-batches with learning rate lr; `step` numbers the dropout
 * masks. */
wf_status wf_trainer_step(wf_trainer *tr, const wf_batch_host *micro, int n, double lr,
                          uint32_t step, wf_step_result *out);

/* Data parallelism (trainer_dist.c). With world 1 each is the identity (or the plain update). */
wf_status wf_trainer_dist_init(wf_trainer *tr);
/* vals (n) = their sums over the ranks (host memory). */
wf_status wf_trainer_dist_sum_i64(wf_trainer *tr, int64_t *vals, int64_t n);
wf_status wf_trainer_dist_sum_f64(wf_trainer *tr, double *vals, int64_t n);
/* Splits the flat gradient into buckets of at most `bucket_elems` elements in the order the
 * backward completes them (wf_grad_buckets_plan), so that a step all-reduces (ZeRO-1:
 * reduce-scatters) each one from inside the backward of its last micro-batch, beside the rest of
 * the backward. Planned only for a communicator with all_reduce_async (ZeRO-1:
 * reduce_scatter_async), so not for wf_comm_single; bucket_elems 0: no buckets. Call after
 * setting comm and zero1; allocates the plan (once, outside the step loop). */
wf_status wf_trainer_dist_set_buckets(wf_trainer *tr, int64_t bucket_elems);
/* The bucket plan of a trainable set: every element of [0, total) in exactly one bucket; a
 * bucket never spans the decay / no-decay boundary and holds at most `cap` elements (a larger
 * tensor is cut); buckets are listed in launch order: by `layer` from the last block down (the
 * head first, the embeddings last), and within a layer from the end of the buffer. *out is
 * malloc'ed (free it). */
wf_status wf_grad_buckets_plan(const wf_model *m, const wf_trainable *t, int64_t cap,
                               wf_grad_bucket **out, int *n);
/* Before the backward of a step's last micro-batch: its layers launch the buckets (when planned). */
void wf_trainer_dist_arm(wf_trainer *tr);
/* After backward: the flat gradient summed over ranks (all-reduce, or the buckets the backward
 * did not launch, then a join), or under ZeRO-1 each rank's shard of it (reduce-scatter, or the
 * buckets' parts of it, then a join). */
wf_status wf_trainer_dist_reduce_grads(wf_trainer *tr);
/* ZeRO-1: unscale + global norm from the shards, AdamW on this rank's shard, all-gather. */
wf_status wf_trainer_dist_zero1_update(wf_trainer *tr);
/* ZeRO-1, before a checkpoint (every rank calls it): the AdamW moments of all ranks gathered on
 * rank 0's host, *host_m and *host_v (total); NULL on the other ranks and when the trainable set
 * holds the whole moments. Overwrites the gradient buffer. */
wf_status wf_trainer_dist_gather_state(wf_trainer *tr, const float **host_m, const float **host_v);

/* Evaluation accumulators: loss over tokens; classification accuracy and per-class counts. */
#define WF_EVAL_MAX_CLASSES 64
typedef struct wf_eval_acc {
    double loss_sum;
    int64_t count;
    int64_t correct, n_classes;
    int64_t tp[WF_EVAL_MAX_CLASSES], fp[WF_EVAL_MAX_CLASSES], fn[WF_EVAL_MAX_CLASSES];
} wf_eval_acc;

wf_status wf_trainer_eval_batch(wf_trainer *tr, const wf_batch_host *b, wf_eval_acc *acc);
/* acc = its sum over the ranks (after each rank evaluated its shard of the eval data). */
wf_status wf_trainer_dist_sum_eval(wf_trainer *tr, wf_eval_acc *acc);
/* loss, perplexity (LM), accuracy and macro-F1 (classification). */
typedef struct wf_eval_result { double loss, perplexity, accuracy, macro_f1; int64_t count; } wf_eval_result;
wf_eval_result wf_eval_finish(const wf_eval_acc *acc, wf_head_kind head);

/* Early stopping: stop after `patience` evaluations without a new best of the metric. */
typedef struct wf_early_stop {
    bool maximize;
    int64_t patience;
    bool have_best;
    double best;
    int64_t bad; /* evaluations since the best */
} wf_early_stop;
/* Records an evaluation; true when training should stop. NaN never improves. */
bool wf_early_stop_update(wf_early_stop *e, double value);

#endif
