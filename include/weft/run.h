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

/* `weft eval`: the config's model (with a PEFT adapter directory, or the newest checkpoint of a
 * run directory, when `weights` is given) evaluated on the config's eval data. */
wf_status wf_run_evaluate(const wf_run_config *cfg, const char *weights);

/* `weft export`: the run in run_dir (its config.json, then its newest checkpoint, else its
 * adapter/) written as a PEFT adapter (LoRA runs) to adapter_out and/or as a merged model
 * (safetensors + config.json + tokenizer files) to merged_out; either may be NULL. */
wf_status wf_run_export_dirs(const wf_run_config *cfg, const char *run_dir, const char *adapter_out,
                             const char *merged_out);

#endif
