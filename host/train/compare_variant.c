/* One `weft compare` variant, in its child process: the run of a resolved config (run.c's
 * setup, loop, evals and exports) with what the comparison needs measured: trainable and model
 * parameters, the planned arenas, training tokens and seconds, the task eval before and after,
 * and for causal LMs the loss on a held-out general text before and after (forgetting).
 * Not here: process handling and the reports (compare.c, compare_report.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare_internal.h"
#include "run_internal.h"
#include "weft/mapped_file.h"

/* The general text as LM rows of T tokens overlapping by one, so each token after the first
 * is predicted once (as data.seq_len chunks long records, data.h). */
static wf_status general_set(const wf_run *r, const char *path, wf_dataset **out) {
    wf_mapped_file f;
    WF_TRY(wf_file_map(path, &f));
    wf_ids ids = {0};
    wf_status s = f.size ? wf_tokenizer_encode(r->tok, (const char *)f.data, f.size, false, &ids)
                         : wf_error(WF_ERR_INVALID, "%s: empty general text", path);
    wf_file_unmap(&f);
    if (s == WF_OK) s = wf_dataset_create(WF_HEAD_LM, 0, out);
    int64_t T = r->tr.T, n = (int64_t)ids.len;
    uint8_t *loss = s == WF_OK ? malloc((size_t)T) : NULL;
    if (s == WF_OK && !loss) s = wf_error(WF_ERR_OOM, "compare: out of memory");
    for (int64_t i = 0; s == WF_OK && i < T; i++) loss[i] = i > 0;
    for (int64_t at = 0; s == WF_OK && at + 1 < n; at += T - 1) {
        int64_t len = n - at < T ? n - at : T;
        wf_example e = {.ids = ids.data + at, .loss = loss, .len = len, .record = at};
        s = wf_dataset_add(*out, &e);
    }
    free(loss);
    wf_ids_free(&ids);
    if (s == WF_OK && n < 2) s = wf_error(WF_ERR_INVALID, "%s: fewer than 2 tokens", path);
    return s;
}

/* Loss and perplexity on the general set, logged to metrics.jsonl as split "general". */
static wf_status general_eval(wf_run *r, wf_loader *l, int64_t max_batches, const char *when,
                              wf_eval_result *out) {
    wf_eval_acc acc;
    memset(&acc, 0, sizeof acc);
    int64_t n = wf_loader_batches_per_epoch(l);
    if (max_batches > 0 && max_batches < n) n = max_batches;
    WF_TRY(wf_loader_cursor_set(l, (wf_loader_cursor){0, 0}));
    for (int64_t i = 0; i < n; i++) {
        wf_batch_host b;
        WF_TRY(wf_loader_next(l, &b));
        WF_TRY(wf_trainer_eval_batch(&r->tr, &b, &acc));
    }
    *out = wf_eval_finish(&acc, WF_HEAD_LM);
    const char *names[] = {"loss", "perplexity"};
    double vals[] = {out->loss, out->perplexity};
    WF_TRY(wf_metrics_write(r->metrics, r->step, "general", names, vals, 2));
    wf_progress_note(&r->progress, "general text %s (step %lld, %lld tokens): loss %.4f perplexity %.4f",
                     when, (long long)r->step, (long long)out->count, out->loss, out->perplexity);
    return WF_OK;
}

static wf_status train_and_measure(wf_run *r, wf_loader *gl, int64_t gmax, wf_cmp_result *o) {
    o->head = (int)r->m.arch.head;
    o->trainable = wf_run_trainable_params(r);
    o->model_params = wf_model_param_counts(&r->m).total;
    o->planned_bytes = (int64_t)wf_run_plan_bytes(r);
    wf_progress_init(&r->progress, NULL, r->total_steps, r->cfg->output.log_every);
    WF_TRY(wf_run_log_open(r));
    if (!r->eval_loader)
        return wf_error(WF_ERR_INVALID, "compare: the base config has no eval data (set data.eval "
                        "or data.eval_split > 0): quality before/after needs it");
    WF_TRY(wf_run_eval(r, "before training", &o->before));
    if (gl) WF_TRY(general_eval(r, gl, gmax, "before training", &o->general_before));
    bool interrupted = false;
    WF_TRY(wf_run_loop(r, &interrupted));
    if (interrupted) return wf_error(WF_ERR_INVALID, "compare: stopped by a signal");
    WF_TRY(wf_run_eval(r, "after training", &o->after));
    if (gl) WF_TRY(general_eval(r, gl, gmax, "after training", &o->general_after));
    o->has_general = gl != NULL;
    o->steps = r->step;
    o->train_secs = r->train_secs, o->train_tokens = r->train_tokens;
    return wf_run_export(r);
}

wf_status wf_compare_variant(const wf_run_config *cfg, const char *general_text,
                             int64_t general_max_batches, wf_cmp_result *out) {
    memset(out, 0, sizeof *out);
    wf_run *r = calloc(1, sizeof *r);
    if (!r) return wf_error(WF_ERR_OOM, "compare: out of memory");
    r->cfg = cfg;
    wf_dataset *gd = NULL;
    wf_loader *gl = NULL;
    wf_status s = wf_run_setup(r);
    bool lm = s == WF_OK && r->m.arch.head == WF_HEAD_LM && r->tok;
    if (s == WF_OK && lm && general_text && general_text[0]) {
        s = general_set(r, general_text, &gd);
        wf_loader_opts lo = {.B = r->tr.B, .T = r->tr.T, .world = 1};
        if (s == WF_OK) s = wf_loader_create(gd, &lo, &gl);
    }
    if (s == WF_OK) s = train_and_measure(r, gl, general_max_batches, out);
    wf_loader_free(gl);
    wf_dataset_free(gd);
    wf_run_cleanup(r);
    free(r);
    out->ok = s == WF_OK;
    if (s != WF_OK) snprintf(out->error, sizeof out->error, "%s", wf_last_error());
    return s;
}
