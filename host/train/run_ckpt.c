/* A run's checkpoints (every N steps, at a stop signal, at early stopping), resume, and the
 * exports at the end: the PEFT adapter (LoRA) and the merged model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

#define EXTRA_VERSION 1

wf_status wf_run_checkpoint(wf_run *r) {
    wf_run_extra x = {.version = EXTRA_VERSION, .step = r->step,
                      .cursor = wf_loader_cursor_get(r->train_loader), .best = r->stop.best,
                      .bad_evals = r->stop.bad, .have_best = r->stop.have_best,
                      .seed = (uint64_t)r->cfg->train.seed};
    char root[4200];
    snprintf(root, sizeof root, "%s/checkpoints", r->dir);
    /* data parallel: every rank holds the same weights (ZeRO-1: each a shard of the moments,
     * gathered on rank 0 first); rank 0 writes, the others wait for it, so none runs ahead of a
     * failed save */
    const float *hm, *hv;
    WF_TRY(wf_trainer_dist_gather_state(&r->tr, &hm, &hv));
    if (r->comm->rank == 0) {
        WF_TRY(wf_checkpoint_save_gathered(root, r->step, &r->m, &r->t, hm, hv, &r->tr.host, &x, sizeof x,
                                           (int)r->cfg->checkpoint.keep_last));
        wf_progress_note(&r->progress, "checkpoint: %s/step-%lld", root, (long long)r->step);
    }
    return wf_comm_barrier(r->comm);
}

/* `path`: a run directory (its newest checkpoint), a checkpoints/ directory, or a step-N dir. */
wf_status wf_run_resume(wf_run *r, const char *path) {
    char root[4200];
    snprintf(root, sizeof root, "%s/checkpoints", path);
    FILE *probe = fopen(root, "r");
    const char *from = probe ? root : path;
    if (probe) fclose(probe);
    void *extra = NULL;
    size_t len = 0;
    int64_t step = 0;
    WF_TRY(wf_checkpoint_load(from, &r->m, &r->t, &r->tr.host, &extra, &len, &step));
    wf_run_extra x;
    if (len != sizeof x) {
        free(extra);
        return wf_error(WF_ERR_FORMAT, "%s: the checkpoint's trainer state has %zu bytes, expected %zu "
                        "(written by another weft version?)", from, len, sizeof x);
    }
    memcpy(&x, extra, sizeof x);
    free(extra);
    if (x.version != EXTRA_VERSION || x.step != step)
        return wf_error(WF_ERR_FORMAT, "%s: inconsistent trainer state (version %u, step %lld vs %lld)",
                        from, x.version, (long long)x.step, (long long)step);
    if (x.seed != (uint64_t)r->cfg->train.seed)
        return wf_error(WF_ERR_INVALID, "%s: the checkpoint was trained with train.seed %llu, the config "
                        "says %lld", from, (unsigned long long)x.seed, (long long)r->cfg->train.seed);
    WF_TRY(r->m.be->copy(r->m.be, r->tr.state, &r->tr.host, sizeof r->tr.host, WF_COPY_H2D));
    WF_TRY(wf_loader_cursor_set(r->train_loader, x.cursor));
    r->step = x.step, r->stop.best = x.best, r->stop.bad = x.bad_evals, r->stop.have_best = x.have_best;
    wf_progress_note(&r->progress, "resumed from %s at step %lld", from, (long long)r->step);
    return WF_OK;
}

wf_status wf_run_export(wf_run *r) {
    char dir[4200];
    if (r->comm->rank != 0) return wf_comm_barrier(r->comm); /* rank 0 writes the exports */
    wf_method mt = r->spec.method;
    bool composed = wf_peft_composed(&r->spec);
    if (composed || (mt != WF_METHOD_FULL && mt != WF_METHOD_FREEZE && mt != WF_METHOD_BITFIT)) {
        snprintf(dir, sizeof dir, "%s/adapter", r->dir);
        WF_TRY(wf_export_peft(&r->m, &r->t, &r->spec, r->cfg->model.path, dir));
        wf_progress_note(&r->progress, "adapter (%s format): %s", composed ? "weft composed"
                         : mt == WF_METHOD_ADAPTER ? "weft Houlsby" : "PEFT", dir);
    }
    if (r->cfg->output.export_merged) {
        snprintf(dir, sizeof dir, "%s/merged", r->dir);
        WF_TRY(wf_export_merged(&r->m, &r->t, r->cfg->model.path, dir));
        wf_progress_note(&r->progress, "merged model: %s", dir);
    }
    return wf_comm_barrier(r->comm);
}
