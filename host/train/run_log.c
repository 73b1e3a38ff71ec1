/* A run's evaluation and logging: metrics.jsonl, TensorBoard scalars (loss, lr, grad norm,
 * throughput, eval metrics) and the resolved config as TensorBoard text, progress on stderr,
 * and the --dry-run memory plan. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "run_internal.h"
#include "weft/mapped_file.h"

wf_status wf_run_log_open(wf_run *r) {
    char p[4200];
    if (r->comm->rank != 0) return wf_metrics_open("/dev/null", &r->metrics); /* rank 0 logs */
    WF_TRY(wf_mkdir_p(r->dir));
    snprintf(p, sizeof p, "%s/config.json", r->dir);
    WF_TRY(wf_run_config_write(r->cfg, p));
    snprintf(p, sizeof p, "%s/metrics.jsonl", r->dir);
    WF_TRY(wf_metrics_open(p, &r->metrics));
    if (r->cfg->output.tensorboard) {
        WF_TRY(wf_tb_open(r->dir, &r->tb));
        char *json = wf_run_config_to_json(r->cfg);
        if (json) {
            wf_tb_text(r->tb, "config", 0, json);
            free(json);
        }
    }
    return WF_OK;
}

void wf_run_log_close(wf_run *r) {
    if (r->metrics) wf_metrics_close(r->metrics);
    if (r->tb) wf_tb_close(r->tb);
    r->metrics = NULL, r->tb = NULL;
}

wf_status wf_run_log_step(wf_run *r, const wf_step_result *s, double lr, double secs) {
    double tps = secs > 0 ? (double)s->input_tokens / secs : 0;
    const char *names[] = {"loss", "lr", "grad_norm", "tokens_per_s", "skipped", "loss_scale"};
    double vals[] = {s->loss, lr, s->grad_norm, tps, s->skipped ? 1 : 0, s->loss_scale};
    bool scaled = r->tr.scaler.dynamic; /* fp16: the loss scale is logged too */
    WF_TRY(wf_metrics_write(r->metrics, r->step, "train", names, vals, scaled ? 6 : 5));
    if (r->tb) {
        const char *tags[] = {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s",
                              "train/skipped", "train/loss_scale"};
        for (int i = 0; i < 4; i++) WF_TRY(wf_tb_scalar(r->tb, tags[i], r->step, vals[i]));
        for (int i = 4; scaled && i < 6; i++) WF_TRY(wf_tb_scalar(r->tb, tags[i], r->step, vals[i]));
        if (r->step % 10 == 0) WF_TRY(wf_tb_flush(r->tb));
    }
    if (scaled && !s->skipped && s->next_scale != s->loss_scale)
        wf_progress_note(&r->progress, "step %lld: loss scale grew to %g", (long long)r->step,
                         s->next_scale);
    if (s->skipped)
        wf_progress_note(&r->progress, "step %lld skipped: non-finite gradients at loss scale %g; "
                         "scale now %g (%lld skipped so far)", (long long)r->step, s->loss_scale,
                         s->next_scale, (long long)s->skipped_total);
    wf_progress_step(&r->progress, r->step, s->loss, lr, s->input_tokens);
    return WF_OK;
}

wf_status wf_run_eval(wf_run *r, const char *when, wf_eval_result *out) {
    wf_eval_acc acc;
    memset(&acc, 0, sizeof acc);
    int64_t n = wf_loader_batches_per_epoch(r->eval_loader), max = r->cfg->eval.max_batches;
    if (max > 0 && max < n) n = max;
    WF_TRY(wf_loader_cursor_set(r->eval_loader, (wf_loader_cursor){0, 0}));
    for (int64_t i = 0; i < n; i++) {
        wf_batch_host b;
        WF_TRY(wf_loader_next(r->eval_loader, &b));
        WF_TRY(wf_trainer_eval_batch(&r->tr, &b, &acc));
    }
    WF_TRY(wf_trainer_dist_sum_eval(&r->tr, &acc)); /* each rank evaluated its shard */
    *out = wf_eval_finish(&acc, r->m.arch.head);
    const char *names[] = {"loss", "perplexity", "accuracy", "macro_f1"};
    double vals[] = {out->loss, out->perplexity, out->accuracy, out->macro_f1};
    int nv = r->m.arch.head == WF_HEAD_LM ? 2 : r->m.arch.head == WF_HEAD_REGRESSION ? 1 : 4;
    int nlog = 0;
    const char *ln[4];
    double lv[4];
    for (int i = 0; i < 4; i++)
        if (!isnan(vals[i]) && (i < nv)) ln[nlog] = names[i], lv[nlog++] = vals[i];
    WF_TRY(wf_metrics_write(r->metrics, r->step, "eval", ln, lv, nlog));
    char line[256];
    int k = snprintf(line, sizeof line, "eval %s (step %lld, %lld %s):", when, (long long)r->step,
                     (long long)out->count, r->m.arch.head == WF_HEAD_LM ? "tokens" : "examples");
    for (int i = 0; i < nlog && k < (int)sizeof line; i++) {
        k += snprintf(line + k, sizeof line - (size_t)k, " %s %.4f", ln[i], lv[i]);
        if (r->tb) {
            char tag[64];
            snprintf(tag, sizeof tag, "eval/%s", ln[i]);
            WF_TRY(wf_tb_scalar(r->tb, tag, r->step, lv[i]));
        }
    }
    if (r->tb) WF_TRY(wf_tb_flush(r->tb));
    wf_progress_note(&r->progress, "%s", line);
    return WF_OK;
}

int64_t wf_run_trainable_params(const wf_run *r) {
    int64_t n = 0;
    for (int i = 0; i < r->t.n_params; i++) n += r->t.params[i].numel;
    return n;
}

/* The activation plan's flags: the backward's buffers, and recomputation when configured. */
static unsigned acts_flags(const wf_run *r) {
    return WF_ACTS_TRAIN | (r->cfg->train.activation_checkpointing ? WF_ACTS_RECOMPUTE : 0);
}

size_t wf_run_plan_bytes(const wf_run *r) {
    int64_t B = r->cfg->train.micro_batch, T = r->tr.T;
    return r->m.arena.size + r->t.arena.size + wf_acts_bytes(&r->m, B, T, acts_flags(r)) +
           r->tr.batch_arena.size + r->be->scratch.size;
}

void wf_run_print_plan(const wf_run *r, FILE *f) {
    const wf_run_config *c = r->cfg;
    int64_t B = c->train.micro_batch, T = r->tr.T;
    const char *dt = wf_dtype_name(r->dtype);
    size_t weights = r->m.arena.size, scratch = r->be->scratch.size;
    /* p and g for every trainable value, m and v for this rank's ZeRO-1 shard (all without) */
    size_t master = (2 * (size_t)r->t.total + 2 * (size_t)r->t.opt_n) * sizeof(float);
    size_t lowp = r->t.arena.size > master ? r->t.arena.size - master : 0;
    size_t by_dt[WF_DTYPE_COUNT];
    size_t acts = wf_acts_bytes_by_dtype(&r->m, B, T, acts_flags(r), by_dt);
    size_t batch = r->tr.batch_arena.size;
    char what[64];
    fprintf(f, "memory plan on %s (%s), micro-batch %lld x %lld, compute dtype %s:\n", r->be->name,
            r->be->device_name, (long long)B, (long long)T, dt);
    snprintf(what, sizeof what, "weights as loaded (%s)", dt);
    fprintf(f, "  %-40s %10.1f MiB\n", what, wf_mib(weights));
    fprintf(f, "  %-40s %10.1f MiB  (%lld trainable values%s)\n",
            "trainable fp32: master, grads, m, v", wf_mib(master), (long long)r->t.total,
            r->t.opt_n < r->t.total ? "; ZeRO-1: m, v for this rank's shard" : "");
    if (r->dtype != WF_F32) {
        snprintf(what, sizeof what, "trainable %s compute copy", dt);
        fprintf(f, "  %-40s %10.1f MiB\n", what, wf_mib(lowp));
    }
    snprintf(what, sizeof what, "activations (fwd + bwd): %s", dt);
    fprintf(f, "  %-40s %10.1f MiB\n", what, wf_mib(r->dtype == WF_F32 ? acts : acts - by_dt[WF_F32]));
    if (r->dtype != WF_F32)
        fprintf(f, "  %-40s %10.1f MiB\n", "activations: fp32 stats and losses", wf_mib(by_dt[WF_F32]));
    if (c->train.activation_checkpointing)
        fprintf(f, "  %-40s %10.1f MiB  (activation checkpointing saves it)\n", "activations without "
                "recomputation", wf_mib(wf_acts_bytes(&r->m, B, T, WF_ACTS_TRAIN)));
    fprintf(f, "  %-40s %10.1f MiB\n", "batch inputs, step state, loss slots", wf_mib(batch));
    fprintf(f, "  %-40s %10.1f MiB\n", "scratch", wf_mib(scratch));
    fprintf(f, "  %-40s %10.1f MiB\n", "total", wf_mib(wf_run_plan_bytes(r)));
    fprintf(f, "trainable parameters: %lld of the model's %lld (%.4f%%; the flat buffer pads each "
            "tensor for alignment)\n", (long long)wf_run_trainable_params(r),
            (long long)wf_model_param_counts(&r->m).total,
            100.0 * (double)wf_run_trainable_params(r) / (double)wf_model_param_counts(&r->m).total);
    fprintf(f, "steps: %lld (%lld per epoch), train rows %lld\n", (long long)r->total_steps,
            (long long)r->steps_per_epoch, (long long)wf_loader_rows(r->train_loader));
}
