/* The run directory a fresh run claims (run_internal.h wf_run_claim_dir): an earlier run's files
 * there are not overwritten by accident. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "outdir.h"
#include "run_internal.h"

/* A run's own files in its directory, besides its TensorBoard events. */
enum { F_CONFIG, F_METRICS, F_CHECKPOINTS, F_ADAPTER, F_MERGED, F_PROFILE, F_COUNT };
static const char *const k_run_files[F_COUNT] = {"config.json", "metrics.jsonl", "checkpoints", "adapter",
                                                 "merged", "profile.md"};

/* The TensorBoard event files in dir: how many; with `remove`, deleted. */
static wf_status tb_events(const char *dir, bool remove, int *count) {
    *count = 0;
    DIR *d = opendir(dir);
    char p[WF_PATH_MAX + 512];
    wf_status s = WF_OK;
    for (struct dirent *de; s == WF_OK && d && (de = readdir(d));) {
        if (strncmp(de->d_name, "events.out.tfevents.", 20) != 0) continue;
        (*count)++;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (remove) s = wf_path_remove_tree(p);
    }
    if (d) closedir(d);
    return s;
}

wf_status wf_run_claim_dir(const wf_run_config *cfg, const wf_run_opts *o, int rank) {
    if (o->resume || o->dry_run) return WF_OK;
    const char *dir = cfg->output.dir;
    char p[WF_PATH_MAX + 64], found[256] = "";
    bool has[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, k_run_files[i]);
        if ((has[i] = wf_path_exists(p)))
            snprintf(found + strlen(found), sizeof found - strlen(found), "%s%s", found[0] ? ", " : "",
                     k_run_files[i]);
    }
    int events;
    WF_TRY(tb_events(dir, false, &events));
    if (events) snprintf(found + strlen(found), sizeof found - strlen(found), "%sevents", found[0] ? ", " : "");
    /* a run writes its config.json first; with a log, a checkpoint or an export it is a run */
    if (!has[F_CONFIG] || !(has[F_METRICS] || has[F_CHECKPOINTS] || has[F_ADAPTER])) return WF_OK;
    if (!cfg->output.overwrite)
        return wf_error(WF_ERR_INVALID, "%s holds an earlier run (%s): continue it with --resume %s, or set "
                        "output.dir to another directory, or output.overwrite true to replace it", dir, found,
                        dir);
    if (rank != 0) return WF_OK; /* rank 0 deletes; the others see the result */
    for (int i = 0; i < F_COUNT; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, k_run_files[i]);
        WF_TRY(wf_path_remove_tree(p));
    }
    WF_TRY(tb_events(dir, true, &events));
    fprintf(stderr, "output.overwrite: replaced the earlier run in %s (%s)\n", dir, found);
    return WF_OK;
}
