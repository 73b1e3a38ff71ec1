/* State of `weft compare` (host/train/compare*.c): the parsed compare config and what each
 * variant measured. Internal to host/train. */
#ifndef WEFT_HOST_TRAIN_COMPARE_INTERNAL_H
#define WEFT_HOST_TRAIN_COMPARE_INTERNAL_H

#include "weft/compare.h"
#include "weft/run_config.h"
#include "weft/trainer.h"

#define WF_CMP_MAX_VARIANTS 16
#define WF_CMP_MAX_SETS 32
#define WF_CMP_SET_LEN 512
#define WF_CMP_MAX_POINTS 64

/* What one variant's child process measured and sends back through a pipe (plain data). */
typedef struct wf_cmp_result {
    bool ok;
    char error[1024];
    int head;                       /* wf_head_kind of the model */
    int64_t trainable, model_params; /* trained values; the base model's parameters */
    int64_t planned_bytes;          /* weights + trainable + activations + batch + scratch */
    int64_t steps, train_tokens;
    double train_secs;              /* optimizer steps only (no eval, no loading) */
    wf_eval_result before, after;   /* task eval set */
    bool has_general;               /* causal LMs: the general-text loss before/after */
    wf_eval_result general_before, general_after;
} wf_cmp_result;

typedef struct wf_cmp_variant {
    char name[64];
    int nsets;
    char sets[WF_CMP_MAX_SETS][WF_CMP_SET_LEN];
    char run_dir[4200];
    wf_cmp_result res;
    double wall_secs;               /* the child process, start to exit */
    double peak_rss_mib;            /* the child's ru_maxrss */
    int npoints;                    /* eval curve from its metrics.jsonl */
    double curve_step[WF_CMP_MAX_POINTS], curve_val[WF_CMP_MAX_POINTS];
} wf_cmp_variant;

typedef struct wf_compare {
    char path[4096];                /* the compare config */
    char name[128];
    char out_dir[4096];
    char base[4200];                /* the base run config (resolved against path's folder) */
    char general_text[4096];        /* "": no forgetting check */
    int64_t general_max_batches;    /* 0: the whole text */
    int nsets;                      /* overrides for every variant (config, then command line) */
    char sets[WF_CMP_MAX_SETS][WF_CMP_SET_LEN];
    int nvariants;
    wf_cmp_variant v[WF_CMP_MAX_VARIANTS];
} wf_compare;

/* Child side (compare_variant.c): trains one resolved config and measures it. */
wf_status wf_compare_variant(const wf_run_config *cfg, const char *general_text,
                             int64_t general_max_batches, wf_cmp_result *out);
/* compare.json, compare.md and compare.svg into c->out_dir (compare_report.c). */
wf_status wf_compare_write_reports(const wf_compare *c);

#endif
