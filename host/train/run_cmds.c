/* `weft eval` and `weft export` over a run's setup (run.h): the same model, data and trainable
 * set as `weft train` builds from the config, with weights from a checkpoint or an adapter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "run_internal.h"

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Trained weights from `path`: a run directory (newest checkpoint, else its adapter/), a
 * checkpoints/step-N directory, or a PEFT adapter directory. */
static wf_status load_weights(wf_run *r, const char *path) {
    char p[4200];
    snprintf(p, sizeof p, "%s/checkpoints", path);
    if (is_dir(p) || strstr(path, "step-")) return wf_run_resume(r, path);
    snprintf(p, sizeof p, "%s/adapter", path);
    if (is_dir(p)) return wf_trainable_load_peft(&r->m, &r->t, p);
    return wf_trainable_load_peft(&r->m, &r->t, path);
}

wf_status wf_run_evaluate(const wf_run_config *cfg, const char *weights) {
    wf_run *r = calloc(1, sizeof *r);
    if (!r) return wf_error(WF_ERR_OOM, "eval: out of memory");
    r->cfg = cfg;
    wf_status s = wf_run_setup(r);
    if (s == WF_OK && !r->eval_loader)
        s = wf_error(WF_ERR_INVALID, "eval: no eval data (set data.eval, or data.eval_split > 0)");
    wf_progress_init(&r->progress, NULL, 0, 1);
    if (s == WF_OK && weights) s = load_weights(r, weights);
    if (s == WF_OK) s = wf_metrics_open("/dev/null", &r->metrics);
    wf_eval_result e;
    if (s == WF_OK) s = wf_run_eval(r, weights ? weights : "base model", &e);
    if (s == WF_OK) {
        printf("loss %.6f\n", e.loss);
        if (r->m.arch.head == WF_HEAD_LM) printf("perplexity %.6f\n", e.perplexity);
        if (r->m.arch.head == WF_HEAD_SEQ_CLS || r->m.arch.head == WF_HEAD_IMAGE_CLS)
            printf("accuracy %.6f\nmacro_f1 %.6f\n", e.accuracy, e.macro_f1);
        printf("count %lld\n", (long long)e.count);
    }
    wf_run_cleanup(r);
    free(r);
    return s;
}

wf_status wf_run_export_dirs(const wf_run_config *cfg, const char *run_dir, const char *adapter_out,
                             const char *merged_out) {
    wf_run *r = calloc(1, sizeof *r);
    if (!r) return wf_error(WF_ERR_OOM, "export: out of memory");
    r->cfg = cfg;
    wf_status s = wf_run_setup(r);
    wf_progress_init(&r->progress, NULL, 0, 1);
    if (s == WF_OK) s = load_weights(r, run_dir);
    if (s == WF_OK && adapter_out) {
        if (!wf_peft_composed(&r->spec) && (r->spec.method == WF_METHOD_FULL ||
            r->spec.method == WF_METHOD_FREEZE || r->spec.method == WF_METHOD_BITFIT))
            s = wf_error(WF_ERR_INVALID, "export: %s is not a LoRA, IA3, prompt-tuning or adapter run: no "
                         "adapter to write (use --merged)", run_dir);
        else
            s = wf_export_peft(&r->m, &r->t, &r->spec, cfg->model.path, adapter_out);
    }
    if (s == WF_OK && merged_out) s = wf_export_merged(&r->m, &r->t, cfg->model.path, merged_out);
    wf_run_cleanup(r);
    free(r);
    return s;
}
