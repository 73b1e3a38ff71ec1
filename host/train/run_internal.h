/* State of one training run (host/train/run*.c). Internal to host/train. */
#ifndef WEFT_HOST_TRAIN_RUN_INTERNAL_H
#define WEFT_HOST_TRAIN_RUN_INTERNAL_H

#include "weft/checkpoint.h"
#include "weft/data.h"
#include "weft/export.h"
#include "weft/run.h"
#include "weft/run_log.h"
#include "weft/tokenizer_model.h"
#include "weft/trainer.h"

typedef struct wf_run {
    const wf_run_config *cfg;
    char dir[4096];              /* output.dir */
    wf_backend *be;
    wf_dtype dtype;
    wf_model m;
    wf_tokenizer *tok;
    wf_dataset *train, *eval;
    wf_data_report report;
    wf_peft_spec spec;
    wf_ids prompt_ids;           /* prompt tuning's TEXT init: the init text's token ids */
    wf_trainable t;
    wf_trainer tr;
    wf_loader *train_loader, *eval_loader;
    wf_lr_schedule sched;
    int64_t step, total_steps, steps_per_epoch;
    wf_batch_host *micro;        /* (grad_accum) one step's micro-batches, pointing into micro_buf */
    struct wf_micro_buf *micro_buf; /* (grad_accum) their arrays, allocated once (run.c) */
    wf_metrics *metrics;
    wf_tb *tb;
    wf_progress progress;
    wf_early_stop stop;          /* early stopping state */
    double train_secs;           /* optimizer steps' wall time in this process (no eval) */
    int64_t train_tokens;        /* input tokens (images: patches + CLS) of those steps */
    wf_comm *comm;               /* this rank's communicator (wf_comm_single for one rank) */
    FILE *quiet;                 /* /dev/null: the progress stream of ranks other than 0 */
    struct {                     /* output.profile_steps (run_profile.c) */
        int64_t first, end;      /* the profiled steps: r->step in [first, end) before the step */
        int64_t steps;           /* profiled so far */
        double secs;             /* their wall time */
        bool written;
    } prof;
} wf_run;

/* The state a checkpoint carries besides the weights (run_ckpt.c). */
typedef struct wf_run_extra {
    uint32_t version;
    int64_t step;
    wf_loader_cursor cursor;
    double best;
    int64_t bad_evals;
    int32_t have_best;
    uint64_t seed;
} wf_run_extra;

/* A fresh run (no --resume, not a dry run) must not land on an earlier run's files (config.json
 * with metrics, checkpoints or an adapter) unless output.overwrite says so; then `rank` 0 deletes
 * them first (run_dir.c). */
wf_status wf_run_claim_dir(const wf_run_config *cfg, const wf_run_opts *o, int rank);
/* One rank's whole run over `comm` (run.c); wf_run_train (run_dist.c) picks the ranks. */
wf_status wf_run_train_rank(const wf_run_config *cfg, const wf_run_opts *o, wf_comm *comm,
                            bool *interrupted);

/* Backend, model, tokenizer, data, trainable set, trainer and loaders from r->cfg. */
wf_status wf_run_setup(wf_run *r);
void wf_run_cleanup(wf_run *r);
wf_status wf_run_eval(wf_run *r, const char *when, wf_eval_result *out);
/* The step loop up to r->total_steps with its evals and checkpoints (run.c); *interrupted on
 * a stop signal. */
wf_status wf_run_loop(wf_run *r, bool *interrupted);
wf_status wf_run_log_open(wf_run *r);
void wf_run_log_close(wf_run *r);
wf_status wf_run_log_step(wf_run *r, const wf_step_result *s, double lr, double secs);
wf_status wf_run_checkpoint(wf_run *r);
wf_status wf_run_resume(wf_run *r, const char *path);
wf_status wf_run_export(wf_run *r);
/* output.profile_steps (run_profile.c): begin attaches the op profiler (rank 0, when asked) and
 * picks the steps; step_start / step_end bracket each optimizer step; finish writes profile.md
 * if the loop ended before the last profiled step. */
wf_status wf_run_profile_begin(wf_run *r);
void wf_run_profile_step_start(wf_run *r);
wf_status wf_run_profile_step_end(wf_run *r, double secs);
wf_status wf_run_profile_finish(wf_run *r);
/* The memory plan (MiB per arena) without allocating anything big. */
void wf_run_print_plan(const wf_run *r, FILE *f);
/* Trained parameters (without the flat buffer's alignment padding). */
int64_t wf_run_trainable_params(const wf_run *r);
/* The plan's total bytes (every arena of the run). */
size_t wf_run_plan_bytes(const wf_run *r);

#endif
