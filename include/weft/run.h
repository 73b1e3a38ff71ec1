/* `weft train`: one fine-tuning run from a resolved run configuration (run_config.h): model,
 * tokenizer and data, the trainable set, the step loop with evaluation, logging (stderr
 * progress, metrics.jsonl, TensorBoard), checkpoints and resume, and the exports. Files a run
 * writes: DESIGN.md "Files a run writes". */
#ifndef WEFT_RUN_H
#define WEFT_RUN_H

#include "weft/run_config.h"

typedef struct wf_run_opts {
    const char *resume;  /* a run directory or a checkpoints/step-N directory, or NULL */
    bool dry_run;        /* print the memory plan and exit */
} wf_run_opts;

/* Runs training to the end (or an early stop, or a stop signal: a checkpoint is written and
 * WF_ERR_IO-free exit with *interrupted set). Errors name the file, key or line at fault. */
wf_status wf_run_train(const wf_run_config *cfg, const wf_run_opts *o, bool *interrupted);

#endif
