/* The training run behind `weft train` (run.h): setup from the resolved config, the memory plan
 * (--dry-run), the step loop with evaluation, early stopping, checkpoints, resume and signals.
 * Logging is run_log.c; exports and checkpoint files are export_*.c / checkpoint.c. */
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "run_internal.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

static wf_status open_backend(wf_run *r) {
    const wf_run_config *c = r->cfg;
    const char *name = c->backend.name == WF_CFG_BACKEND_CUDA ? "cuda"
                     : c->backend.name == WF_CFG_BACKEND_CPU ? "cpu"
                     : wf_backend_available("cuda") ? "cuda" : "cpu";
    if (c->backend.threads > 0) omp_set_num_threads((int)c->backend.threads);
    else if (r->comm->world > 1 && c->dist.cpu_ranks > 1) /* ranks share the cores */
        omp_set_num_threads(omp_get_num_procs() / r->comm->world > 1 ? omp_get_num_procs() / r->comm->world : 1);
    wf_backend_options bo = {.device = (int)c->backend.device};
    WF_TRY(wf_backend_open(name, &bo, &r->be));
    if (r->comm->world > 1) r->comm->be = r->be;
    r->dtype = c->model.dtype == WF_CFG_DTYPE_BF16 ? WF_BF16 : c->model.dtype == WF_CFG_DTYPE_FP16 ? WF_F16 : WF_F32;
    /* no silent fallback: a bf16/fp16 request on the CPU would train (slower, in fp32) with
     * numbers other than the user asked for */
    if (r->dtype != WF_F32 && strcmp(name, "cpu") == 0)
        return wf_error(WF_ERR_INVALID, "'model.dtype' %s needs the cuda backend (backend %s; the "
                        "CPU computes in fp32 only): set model.dtype fp32 or backend.name cuda",
                        r->dtype == WF_BF16 ? "bf16" : "fp16",
                        c->backend.name == WF_CFG_BACKEND_CPU ? "cpu" : "auto found no GPU");
    return WF_OK;
}

static wf_head_kind cfg_head(wf_cfg_head h) {
    static const wf_head_kind map[] = {WF_HEAD_NONE, WF_HEAD_LM, WF_HEAD_SEQ_CLS, WF_HEAD_REGRESSION,
                                       WF_HEAD_IMAGE_CLS};
    return map[h];
}

static wf_status load_model(wf_run *r) {
    const wf_run_config *c = r->cfg;
    wf_load_opts lo = {.head = cfg_head(c->model.head), .n_labels = c->model.num_labels,
                       .seed = (uint64_t)c->train.seed,
                       .random_init = c->model.init == WF_CFG_INIT_RANDOM};
    WF_TRY(wf_model_load_ex(c->model.path, r->be, r->dtype, &lo, &r->m));
    if (r->m.arch.head == WF_HEAD_NONE)
        return wf_error(WF_ERR_INVALID, "%s: the model has no task head (%s): set model.head to lm, "
                        "seq_cls, regression or image_cls", c->model.path, r->m.arch.architecture);
    return WF_OK;
}

static wf_status load_data(wf_run *r) {
    const wf_run_config *c = r->cfg;
    if (r->m.arch.family != WF_FAMILY_VIT) WF_TRY(wf_tokenizer_for_model(c->model.path, &r->tok));
    wf_data_opts o;
    wf_data_opts_init(&o);
    o.format = (wf_data_format)c->data.format;
    o.task = r->m.arch.head;
    o.seq_len = c->data.seq_len;
    o.n_labels = r->m.arch.n_labels;
    o.chat_template = (wf_chat_kind)c->data.chat_template;
    o.skip_bad_lines = c->data.bad_lines == WF_CFG_BAD_LINES_SKIP;
    o.eval_split = c->data.eval[0] ? 0 : c->data.eval_split;
    o.seed = (uint64_t)c->train.seed;
    o.cache = c->data.cache;
    o.model_path = c->model.path;
    WF_TRY(wf_data_load(&o, r->tok, c->data.train, c->data.eval[0] ? c->data.eval : NULL, &r->train,
                        &r->eval, &r->report));
    if (r->comm->rank == 0) wf_data_report_print(&r->report, stderr);
    return WF_OK;
}

static void peft_spec(const wf_run_config *c, wf_peft_spec *s) {
    memset(s, 0, sizeof *s);
    s->method = c->method.type == WF_CFG_METHOD_LORA ? WF_METHOD_LORA
              : c->method.type == WF_CFG_METHOD_FREEZE ? WF_METHOD_FREEZE
              : c->method.type == WF_CFG_METHOD_BITFIT ? WF_METHOD_BITFIT
              : c->method.type == WF_CFG_METHOD_IA3 ? WF_METHOD_IA3
              : c->method.type == WF_CFG_METHOD_PROMPT_TUNING ? WF_METHOD_PROMPT
              : c->method.type == WF_CFG_METHOD_ADAPTER ? WF_METHOD_ADAPTER : WF_METHOD_FULL;
    static const char *const names[] = {"full", "lora", "freeze", "bitfit", "ia3", "prompt_tuning", "adapter"};
    for (int64_t i = 0; i < c->method.extras.n; i++) /* names checked by the config loader */
        for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++)
            if (!strcmp(c->method.extras.item[i], names[k])) s->extras |= WF_METHOD_BIT(k);
    s->adapter_size = (int)c->method.adapter.size;
    s->prompt_tokens = (int)c->method.prompt_tuning.num_virtual_tokens;
    s->lora_r = (int)c->method.lora.r;
    s->lora_alpha = (float)c->method.lora.alpha, s->lora_dropout = (float)c->method.lora.dropout;
    s->rslora = c->method.lora.rslora, s->dora = c->method.lora.use_dora;
    for (int64_t i = 0; i < c->method.lora.target_modules.n && i < WF_MAX_TARGETS; i++)
        snprintf(s->targets[s->n_targets++], sizeof s->targets[0], "%s", c->method.lora.target_modules.item[i]);
    s->seed = (uint64_t)c->train.seed;
    const wf_cfg_list *it = &c->method.ia3.target_modules, *ff = &c->method.ia3.feedforward_modules;
    bool auto_t = it->n == 1 && !strcmp(it->item[0], "auto");
    for (int64_t i = 0; !auto_t && i < it->n && i < WF_MAX_TARGETS; i++)
        snprintf(s->ia3_targets[s->n_ia3_targets++], sizeof s->ia3_targets[0], "%s", it->item[i]);
    s->ia3_ff_auto = ff->n == 1 && !strcmp(ff->item[0], "auto");
    for (int64_t i = 0; !s->ia3_ff_auto && i < ff->n && i < WF_MAX_TARGETS; i++)
        snprintf(s->ia3_ff[s->n_ia3_ff++], sizeof s->ia3_ff[0], "%s", ff->item[i]);
    s->train_top_layers = (int)c->method.freeze.train_top_layers;
    for (int64_t i = 0; i < c->method.freeze.modules.n && i < WF_MAX_NAMES; i++)
        snprintf(s->modules[s->n_modules++], sizeof s->modules[0], "%s", c->method.freeze.modules.item[i]);
    for (int64_t i = 0; i < c->train.no_decay.n && i < WF_MAX_NAMES; i++)
        snprintf(s->no_decay[s->n_no_decay++], sizeof s->no_decay[0], "%s", c->train.no_decay.item[i]);
}

/* The trainer's memory did not fit (DESIGN.md "Memory"): says what the plan needed against
 * what was available, and the largest micro-batch that fits, or that activation checkpointing
 * would, or that nothing would. */
static wf_status oom_advice(wf_run *r, int64_t B, int64_t T) {
    const wf_run_config *c = r->cfg;
    char why[768];
    snprintf(why, sizeof why, "%s", wf_last_error());
    wf_trainer_free(&r->tr); /* whatever the failed init had taken */
    bool ckpt = c->train.activation_checkpointing;
    size_t avail = wf_backend_mem_available(r->be), need = wf_trainer_device_bytes(&r->m, B, T, ckpt);
    int64_t fit = 0;
    for (int64_t lo = 1, hi = B - 1; lo <= hi;) { /* bytes grow with the micro-batch */
        int64_t mid = lo + (hi - lo) / 2;
        if (wf_trainer_device_bytes(&r->m, mid, T, ckpt) <= avail) fit = mid, lo = mid + 1;
        else hi = mid - 1;
    }
    size_t with_ckpt = ckpt ? 0 : wf_trainer_device_bytes(&r->m, B, T, true);
    char advice[512];
    if (!ckpt && with_ckpt <= avail)
        snprintf(advice, sizeof advice, "train.activation_checkpointing true fits micro-batch %lld "
                 "(%.1f MiB)%s", (long long)B, wf_mib(with_ckpt), fit ? "; or " : "");
    else
        advice[0] = 0;
    size_t len = strlen(advice);
    if (fit)
        snprintf(advice + len, sizeof advice - len, "train.micro_batch %lld fits (with train.grad_accum %lld "
                 "for the same rows a step)", (long long)fit,
                 (long long)((B * c->train.grad_accum + fit - 1) / fit));
    else if (!advice[0])
        snprintf(advice, sizeof advice, "not even micro-batch 1 fits%s: shorten data.seq_len, train fewer "
                 "parameters, or use a smaller model or a larger device", ckpt ? "" : " without "
                 "train.activation_checkpointing");
    return wf_error(WF_ERR_OOM, "out of memory on %s (%s): micro-batch %lld x %lld needs %.1f MiB for "
                    "activations and batch buffers%s, %.1f MiB are available after the weights (%.1f MiB), "
                    "the trainable state (%.1f MiB) and the scratch (%.1f MiB); %s (--dry-run prints the "
                    "plan; %s)", r->be->name, r->be->device_name, (long long)B, (long long)T, wf_mib(need),
                    ckpt ? " with activation checkpointing" : "", wf_mib(avail), wf_mib(r->m.arena.size),
                    wf_mib(r->t.arena.size), wf_mib(r->be->scratch.size), advice, why);
}

static int64_t row_len(const wf_run *r) {
    const wf_arch *a = &r->m.arch;
    if (a->family != WF_FAMILY_VIT) return r->cfg->data.seq_len;
    int64_t side = a->image_size / a->patch_size;
    return side * side + 1;
}

/* Prompt tuning's checks and TEXT init ids (the tokenizer's __call__: special tokens added). */
static wf_status prompt_setup(wf_run *r) {
    const wf_run_config *c = r->cfg;
    if (wf_peft_has(&r->spec, WF_METHOD_ADAPTER) && c->output.export_merged)
        return wf_error(WF_ERR_INVALID, "'output.export_merged': Houlsby adapters (method adapter) "
                        "are nonlinear and cannot be merged; the run exports its adapter");
    if (!wf_peft_has(&r->spec, WF_METHOD_PROMPT)) return WF_OK;
    if (c->data.packing)
        return wf_error(WF_ERR_INVALID, "'method.type' / 'method.extras' prompt_tuning needs 'data.packing' false (the "
                        "soft prompt starts every row)");
    if (c->output.export_merged)
        return wf_error(WF_ERR_INVALID, "'output.export_merged': a soft prompt (prompt_tuning) is not a "
                        "weight change and cannot be merged; the run exports its PEFT adapter");
    if (c->method.prompt_tuning.init != WF_CFG_PROMPT_INIT_TEXT) return WF_OK;
    const char *text = c->method.prompt_tuning.init_text;
    if (!text[0] || !r->tok)
        return wf_error(WF_ERR_INVALID, "'method.prompt_tuning.init' text needs a non-empty "
                        "'method.prompt_tuning.init_text' and a tokenizer");
    WF_TRY(wf_tokenizer_encode(r->tok, text, strlen(text), true, &r->prompt_ids));
    if (r->prompt_ids.len == 0)
        return wf_error(WF_ERR_INVALID, "'method.prompt_tuning.init_text' gives no tokens");
    r->spec.prompt_init_ids = r->prompt_ids.data, r->spec.n_prompt_init_ids = (int64_t)r->prompt_ids.len;
    r->spec.prompt_init_text = text;
    return WF_OK;
}

/* ViT inputs: the dataset's images fitted to the model as its image processor would (image.c). */
static wf_status image_spec(const wf_run *r, wf_image_spec *s) {
    const wf_arch *a = &r->m.arch;
    WF_TRY(wf_image_spec_for_model(r->cfg->model.path, a->channels, a->image_size, s));
    fprintf(stderr, "images: fitted to the model's %lld x %lld x %lld input (bilinear resize, gray "
            "replicated over channels), normalized with mean %g, std %g (channel 0; %s)\n",
            (long long)a->channels, (long long)a->image_size, (long long)a->image_size, s->mean[0],
            s->std[0], s->source[0] ? s->source : "ViTImageProcessor defaults");
    return WF_OK;
}

static wf_status build(wf_run *r) {
    const wf_run_config *c = r->cfg;
    peft_spec(c, &r->spec);
    WF_TRY(prompt_setup(r));
    /* ZeRO-1: AdamW moments for this rank's shard only (--dry-run on one rank plans rank 0's
     * shard of dist.cpu_ranks) */
    bool zero1 = c->dist.zero_stage == 1;
    int world = r->comm->world > 1 ? r->comm->world : (int)c->dist.cpu_ranks;
    WF_TRY(wf_trainable_build_shard(&r->m, &r->spec, zero1 ? r->comm->rank : 0, zero1 ? world : 1, &r->t));
    if (c->method.lora.init_from[0]) {
        if (!wf_peft_has(&r->spec, WF_METHOD_LORA))
            return wf_error(WF_ERR_INVALID, "'method.lora.init_from' needs lora in method.type or method.extras");
        WF_TRY(wf_trainable_load_peft(&r->m, &r->t, c->method.lora.init_from));
    }
    wf_adamw_hparams hp = {.lr = (float)c->train.lr, .beta1 = (float)c->train.betas[0],
                           .beta2 = (float)c->train.betas[1], .eps = (float)c->train.eps,
                           .weight_decay = (float)c->train.weight_decay,
                           .max_grad_norm = (float)c->train.max_grad_norm};
    int64_t B = c->train.micro_batch, T = row_len(r);
    /* per-rank dropout seeds (rank 0 keeps the single-rank one) */
    uint64_t seed = (uint64_t)c->train.seed ^ ((uint64_t)r->comm->rank * 0x9E3779B97F4A7C15ull);
    wf_status ts = wf_trainer_init_ex(&r->tr, &r->m, &r->t, B, T, &hp, seed, c->train.activation_checkpointing);
    if (ts == WF_ERR_OOM) return oom_advice(r, B, T);
    WF_TRY(ts);
    r->tr.comm = r->comm, r->tr.zero1 = zero1;
    int64_t bucket = (int64_t)(c->dist.bucket_mb * (1 << 20) / sizeof(float)); /* fp32 elements */
    WF_TRY(wf_trainer_dist_set_buckets(&r->tr, c->dist.bucket_mb > 0 && bucket < 1 ? 1 : bucket));
    if (r->tr.n_buckets && r->comm->rank == 0)
        fprintf(stderr, "dist: the gradient is %s in %d buckets of up to %g MiB, each as the "
                "backward finishes it\n", zero1 ? "reduce-scattered" : "all-reduced", r->tr.n_buckets,
                c->dist.bucket_mb);
    if (r->dtype == WF_F16) {
        wf_scaler_hparams sh = {.dynamic = true, .growth = (float)c->train.loss_scale.growth_factor,
                                .backoff = (float)c->train.loss_scale.backoff_factor,
                                .interval = (int32_t)c->train.loss_scale.growth_interval};
        WF_TRY(wf_trainer_set_scaler(&r->tr, (float)c->train.loss_scale.init_scale, &sh));
    }
    wf_loader_opts lo = {.B = B, .T = T, .packing = c->data.packing, .shuffle = c->data.shuffle,
                         .seed = (uint64_t)c->train.seed, .rank = r->comm->rank,
                         .world = r->comm->world, .drop_last = true};
    if (r->m.arch.family == WF_FAMILY_VIT) WF_TRY(image_spec(r, &lo.image));
    WF_TRY(wf_loader_create(r->train, &lo, &r->train_loader));
    if (r->eval) {
        lo.shuffle = false, lo.drop_last = false;
        WF_TRY(wf_loader_create(r->eval, &lo, &r->eval_loader));
    }
    int64_t per_epoch = wf_loader_batches_per_epoch(r->train_loader) / c->train.grad_accum;
    if (per_epoch < 1)
        return wf_error(WF_ERR_INVALID, "%s: %lld training rows make less than one step of %lld x %lld "
                        "rows (train.micro_batch x train.grad_accum)", c->data.train,
                        (long long)wf_loader_rows(r->train_loader), (long long)B,
                        (long long)c->train.grad_accum);
    r->steps_per_epoch = per_epoch;
    r->total_steps = c->train.max_steps > 0 ? c->train.max_steps
                                            : (int64_t)ceil(c->train.epochs * (double)per_epoch);
    r->sched = (wf_lr_schedule){.kind = (wf_schedule)c->train.schedule, .lr = c->train.lr,
                                .min_lr = c->train.min_lr, .warmup_steps = c->train.warmup_steps,
                                .total_steps = r->total_steps};
    return WF_OK;
}

/* Host copies of one step's micro-batches (the loader reuses its arrays on its next call),
 * allocated once for the planned B x T before the loop. */
typedef struct wf_micro_buf {
    int32_t *i32[5]; /* ids, mask, types, doc_ids, targets: (B, T) */
    int32_t *labels; /* (B) */
    float *values;   /* (B) */
    float *pixels;   /* (B, image floats) */
} wf_micro_buf;

static int64_t image_floats(const wf_run *r) {
    const wf_arch *a = &r->m.arch;
    return a->family == WF_FAMILY_VIT ? a->channels * a->image_size * a->image_size : 0;
}

static wf_status alloc_micro(wf_run *r) {
    int64_t K = r->cfg->train.grad_accum, B = r->tr.B, n = B * r->tr.T, px = image_floats(r);
    r->micro = calloc((size_t)K, sizeof *r->micro);
    r->micro_buf = calloc((size_t)K, sizeof *r->micro_buf);
    bool ok = r->micro && r->micro_buf;
    for (int64_t i = 0; ok && i < K; i++) {
        wf_micro_buf *m = &r->micro_buf[i];
        for (int k = 0; k < 5; k++) ok &= (m->i32[k] = malloc((size_t)n * 4)) != NULL;
        ok &= (m->labels = malloc((size_t)B * 4)) && (m->values = malloc((size_t)B * 4));
        if (px) ok &= (m->pixels = malloc((size_t)(B * px) * 4)) != NULL;
    }
    return ok ? WF_OK : wf_error(WF_ERR_OOM, "train: out of memory for the micro-batches");
}

static const void *copy_opt(void *dst, const void *src, size_t bytes) {
    return src ? memcpy(dst, src, bytes) : NULL;
}

/* dst = src with every array copied into buf (absent arrays stay absent). */
static void copy_micro(const wf_run *r, wf_batch_host *dst, wf_micro_buf *buf, const wf_batch_host *src) {
    WF_ASSERT(src->B <= r->tr.B && src->B * src->T <= r->tr.B * r->tr.T);
    size_t n = (size_t)(src->B * src->T) * 4, b = (size_t)src->B * 4;
    *dst = (wf_batch_host){.B = src->B, .T = src->T, .pos_offset = src->pos_offset};
    dst->ids = copy_opt(buf->i32[0], src->ids, n);
    dst->mask = copy_opt(buf->i32[1], src->mask, n);
    dst->types = copy_opt(buf->i32[2], src->types, n);
    dst->doc_ids = copy_opt(buf->i32[3], src->doc_ids, n);
    dst->targets = copy_opt(buf->i32[4], src->targets, n);
    dst->labels = copy_opt(buf->labels, src->labels, b);
    dst->values = copy_opt(buf->values, src->values, b);
    dst->pixels = copy_opt(buf->pixels, src->pixels, b * (size_t)image_floats(r));
}

static void free_micro(wf_run *r) {
    for (int64_t i = 0; r->micro_buf && i < r->cfg->train.grad_accum; i++) {
        wf_micro_buf *m = &r->micro_buf[i];
        for (int k = 0; k < 5; k++) free(m->i32[k]);
        free(m->labels), free(m->values), free(m->pixels);
    }
    free(r->micro), free(r->micro_buf);
    r->micro = NULL, r->micro_buf = NULL;
}

/* Whether evaluation `e` ends training (eval.early_stopping). */
static bool early_stop(wf_run *r, const wf_eval_result *e) {
    const char *name = r->cfg->eval.early_stopping.metric;
    if (!name[0]) return false;
    double v = !strcmp(name, "accuracy") ? e->accuracy : !strcmp(name, "macro_f1") ? e->macro_f1
             : !strcmp(name, "perplexity") ? e->perplexity : e->loss;
    r->stop.maximize = r->cfg->eval.early_stopping.mode == WF_CFG_MODE_MAX;
    r->stop.patience = r->cfg->eval.early_stopping.patience;
    return wf_early_stop_update(&r->stop, v);
}

static wf_status one_step(wf_run *r, double *secs) {
    int64_t K = r->cfg->train.grad_accum;
    for (int64_t i = 0; i < K; i++) {
        wf_batch_host b;
        WF_TRY(wf_loader_next(r->train_loader, &b));
        copy_micro(r, &r->micro[i], &r->micro_buf[i], &b);
    }
    double lr = wf_lr_at(&r->sched, r->step);
    wf_run_profile_step_start(r);
    double t0 = omp_get_wtime();
    wf_step_result res;
    WF_TRY(wf_trainer_step(&r->tr, r->micro, (int)K, lr, (uint32_t)r->step, &res));
    *secs = omp_get_wtime() - t0;
    r->train_secs += *secs, r->train_tokens += res.input_tokens;
    r->step++;
    WF_TRY(wf_run_profile_step_end(r, *secs));
    return wf_run_log_step(r, &res, lr, *secs);
}

/* Fault injection for the tests of rank failures (tests/unit/test_dist_train.c):
 * WEFT_TEST_FAULT=RANK:STEP:fail makes that rank fail after optimizer step STEP, :hang makes it
 * stop answering for 10 x dist.timeout_s. */
static wf_status test_fault(const wf_run *r) {
    const char *f = getenv("WEFT_TEST_FAULT");
    int rank, step;
    char kind[8];
    if (!f || sscanf(f, "%d:%d:%7s", &rank, &step, kind) != 3 || rank != r->comm->rank || step != r->step)
        return WF_OK;
    if (strcmp(kind, "hang") == 0) {
        double t = 10 * r->cfg->dist.timeout_s;
        struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
        nanosleep(&ts, NULL);
        return WF_OK;
    }
    return wf_error(WF_ERR_INVALID, "injected failure at step %d (WEFT_TEST_FAULT)", step);
}

static bool eval_due(const wf_run *r) {
    int64_t every = r->cfg->eval.every_steps ? r->cfg->eval.every_steps : r->steps_per_epoch;
    /* the last step is evaluated as "after training" */
    return r->eval_loader && r->step % every == 0 && r->step < r->total_steps;
}

wf_status wf_run_loop(wf_run *r, bool *interrupted) {
    WF_TRY(alloc_micro(r));
    WF_TRY(wf_run_profile_begin(r));
    int64_t ck = r->cfg->checkpoint.every_steps;
    while (r->step < r->total_steps) {
        double secs;
        WF_TRY(one_step(r, &secs));
        WF_TRY(test_fault(r));
        bool stop_early = false;
        if (eval_due(r)) {
            wf_eval_result e;
            WF_TRY(wf_run_eval(r, "step", &e));
            stop_early = early_stop(r, &e);
        }
        int64_t stop_sig = g_stop; /* every rank stops at the same step */
        WF_TRY(wf_trainer_dist_sum_i64(&r->tr, &stop_sig, 1));
        if (stop_sig && !g_stop) g_stop = SIGTERM;
        if (g_stop || (ck > 0 && r->step % ck == 0) || stop_early) WF_TRY(wf_run_checkpoint(r));
        if (g_stop) {
            wf_progress_note(&r->progress, "stopped by signal %d at step %lld; resume with --resume %s",
                             (int)g_stop, (long long)r->step, r->dir);
            *interrupted = true;
            return wf_run_profile_finish(r);
        }
        if (stop_early) {
            wf_progress_note(&r->progress, "early stopping at step %lld: %s did not improve for %lld "
                             "evaluations", (long long)r->step, r->cfg->eval.early_stopping.metric,
                             (long long)r->stop.bad);
            break;
        }
    }
    wf_progress_end(&r->progress);
    return wf_run_profile_finish(r);
}

void wf_run_cleanup(wf_run *r) {
    free_micro(r);
    wf_run_log_close(r);
    wf_loader_free(r->train_loader), wf_loader_free(r->eval_loader);
    wf_trainer_free(&r->tr);
    if (r->t.params) wf_trainable_free(&r->m, &r->t);
    if (r->m.slots) wf_model_free(&r->m);
    wf_dataset_free(r->train), wf_dataset_free(r->eval);
    wf_tokenizer_free(r->tok);
    wf_ids_free(&r->prompt_ids);
    wf_backend_close(r->be);
    if (r->quiet) fclose(r->quiet);
}

wf_status wf_run_setup(wf_run *r) {
    if (!r->comm) r->comm = wf_comm_single();
    snprintf(r->dir, sizeof r->dir, "%s", r->cfg->output.dir);
    const char *metric = r->cfg->eval.early_stopping.metric;
    if (metric[0] && strcmp(metric, "loss") && strcmp(metric, "perplexity") && strcmp(metric, "accuracy") &&
        strcmp(metric, "macro_f1"))
        return wf_error(WF_ERR_INVALID, "'eval.early_stopping.metric': \"%s\" is not a metric (expected "
                        "loss, perplexity, accuracy or macro_f1)", metric);
    WF_TRY(open_backend(r));
    WF_TRY(load_model(r));
    /* rank 0 tokenizes first (and writes the data cache); the others then read the cache instead
     * of writing the same file at the same time */
    if (r->comm->rank != 0) WF_TRY(wf_comm_barrier(r->comm));
    WF_TRY(load_data(r));
    if (r->comm->rank == 0) WF_TRY(wf_comm_barrier(r->comm));
    return build(r);
}

wf_status wf_run_train_rank(const wf_run_config *cfg, const wf_run_opts *o, wf_comm *comm,
                            bool *interrupted) {
    wf_run *r = calloc(1, sizeof *r);
    if (!r) return wf_error(WF_ERR_OOM, "train: out of memory");
    r->cfg = cfg, r->comm = comm;
    *interrupted = false;
    g_stop = 0;
    wf_status s = wf_run_setup(r);
    if (s == WF_OK && o->dry_run) {
        wf_run_print_plan(r, stdout);
    } else if (s == WF_OK) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        if (comm->rank != 0 && !(r->quiet = fopen("/dev/null", "w")))
            s = wf_error(WF_ERR_IO, "/dev/null: cannot open");
        wf_progress_init(&r->progress, r->quiet, r->total_steps, cfg->output.log_every);
        s = wf_run_log_open(r);
        if (s == WF_OK && o->resume) s = wf_run_resume(r, o->resume);
        wf_eval_result e;
        if (s == WF_OK && r->eval_loader && cfg->eval.before_training && r->step == 0)
            s = wf_run_eval(r, "before training", &e);
        if (s == WF_OK) s = wf_run_loop(r, interrupted);
        if (s == WF_OK && !*interrupted && r->eval_loader) s = wf_run_eval(r, "after training", &e);
        if (s == WF_OK && !*interrupted) s = wf_run_export(r);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    char why[1024]; /* the cleanup may leave messages of its own */
    snprintf(why, sizeof why, "%s", s == WF_OK ? "" : wf_last_error());
    wf_run_cleanup(r);
    free(r);
    return s == WF_OK ? WF_OK : wf_error(s, "%s", why);
}
