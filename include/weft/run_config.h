/* The training run configuration: a JSON file plus `--set a.b=v` overrides, resolved into one plain
 * struct. One schema table (host/train/run_config_schema.c) gives every key its type, default,
 * range, unit and doc line; loading, validation, the resolved config.json a run writes and the
 * key reference in configs/README.md all come from it. Errors name the file (or the --set) and
 * the JSON path and say what was expected; unknown keys get the nearest valid key suggested.
 * Not here: what the keys mean to the trainer, data loader or PEFT code that read them. */
#ifndef WEFT_RUN_CONFIG_H
#define WEFT_RUN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/status.h"

#define WF_CFG_PATH_MAX 4096 /* bytes of a path value, NUL included */
#define WF_CFG_NAME_MAX 128  /* bytes of a short string (list item, metric name), NUL included */
#define WF_CFG_LIST_MAX 32   /* items of a string list */

/* Enums: the values are in the schema's order of names (run_config_schema.c). */
typedef enum wf_cfg_dtype { WF_CFG_DTYPE_FP32, WF_CFG_DTYPE_BF16, WF_CFG_DTYPE_FP16 } wf_cfg_dtype;
typedef enum wf_cfg_head {
    WF_CFG_HEAD_AUTO,
    WF_CFG_HEAD_LM,
    WF_CFG_HEAD_SEQ_CLS,
    WF_CFG_HEAD_REGRESSION,
    WF_CFG_HEAD_IMAGE_CLS,
} wf_cfg_head;
typedef enum wf_cfg_init { WF_CFG_INIT_CHECKPOINT, WF_CFG_INIT_RANDOM } wf_cfg_init;
typedef enum wf_cfg_format {
    WF_CFG_FORMAT_AUTO,
    WF_CFG_FORMAT_TEXT,
    WF_CFG_FORMAT_PROMPT_COMPLETION,
    WF_CFG_FORMAT_MESSAGES,
    WF_CFG_FORMAT_ALPACA,
    WF_CFG_FORMAT_CLASSIFICATION,
    WF_CFG_FORMAT_REGRESSION,
    WF_CFG_FORMAT_IDX,
} wf_cfg_format;
typedef enum wf_cfg_chat {
    WF_CFG_CHAT_AUTO,
    WF_CFG_CHAT_CHATML,
    WF_CFG_CHAT_LLAMA3,
    WF_CFG_CHAT_ALPACA,
} wf_cfg_chat;
typedef enum wf_cfg_bad_lines { WF_CFG_BAD_LINES_ERROR, WF_CFG_BAD_LINES_SKIP } wf_cfg_bad_lines;
typedef enum wf_cfg_method {
    WF_CFG_METHOD_FULL,
    WF_CFG_METHOD_LORA,
    WF_CFG_METHOD_FREEZE,
    WF_CFG_METHOD_BITFIT,
    WF_CFG_METHOD_IA3,
    WF_CFG_METHOD_PROMPT_TUNING,
    WF_CFG_METHOD_ADAPTER,
} wf_cfg_method;
typedef enum wf_cfg_prompt_init { WF_CFG_PROMPT_INIT_RANDOM, WF_CFG_PROMPT_INIT_TEXT } wf_cfg_prompt_init;
typedef enum wf_cfg_schedule {
    WF_CFG_SCHEDULE_CONSTANT,
    WF_CFG_SCHEDULE_LINEAR,
    WF_CFG_SCHEDULE_COSINE,
} wf_cfg_schedule;
typedef enum wf_cfg_mode { WF_CFG_MODE_MIN, WF_CFG_MODE_MAX } wf_cfg_mode;
typedef enum wf_cfg_backend {
    WF_CFG_BACKEND_AUTO,
    WF_CFG_BACKEND_CPU,
    WF_CFG_BACKEND_CUDA,
} wf_cfg_backend;

typedef struct wf_cfg_list {
    int64_t n;
    char item[WF_CFG_LIST_MAX][WF_CFG_NAME_MAX];
} wf_cfg_list;

/* Mirrors the JSON: cfg.train.lr is "train.lr". Units and meanings: configs/README.md. */
typedef struct wf_run_config {
    struct {
        char path[WF_CFG_PATH_MAX];
        wf_cfg_dtype dtype;
        wf_cfg_head head;
        int64_t num_labels; /* 0: from the model's config.json */
        wf_cfg_init init;
    } model;
    struct {
        char train[WF_CFG_PATH_MAX];
        char eval[WF_CFG_PATH_MAX]; /* "": split off train by eval_split */
        wf_cfg_format format;
        double eval_split;
        int64_t seq_len; /* tokens per row */
        bool packing;
        wf_cfg_chat chat_template;
        wf_cfg_bad_lines bad_lines;
        bool shuffle;
        bool cache;
    } data;
    struct {
        wf_cfg_method type;
        wf_cfg_list extras; /* further methods (k_method names) composed with `type` */
        struct {
            int64_t r;
            double alpha;
            double dropout;
            wf_cfg_list target_modules; /* or the single item "all-linear" */
            bool rslora;
            bool use_dora;
            char init_from[WF_CFG_PATH_MAX]; /* "": fresh init */
        } lora;
        struct {
            wf_cfg_list target_modules;      /* or the single item "auto" */
            wf_cfg_list feedforward_modules; /* or the single item "auto"; may be empty */
        } ia3;
        struct {
            int64_t num_virtual_tokens;
            wf_cfg_prompt_init init;
            char init_text[WF_CFG_PATH_MAX];
        } prompt_tuning;
        struct {
            int64_t size; /* bottleneck width */
        } adapter;
        struct {
            int64_t train_top_layers; /* 0: all layers */
            wf_cfg_list modules;
        } freeze;
    } method;
    struct {
        double epochs;
        int64_t max_steps; /* -1: from epochs */
        int64_t micro_batch;
        int64_t grad_accum;
        double lr;
        wf_cfg_schedule schedule;
        int64_t warmup_steps;
        double min_lr;
        double weight_decay;
        double betas[2];
        double eps;
        double max_grad_norm; /* 0: no clipping */
        wf_cfg_list no_decay;
        int64_t seed;
        bool activation_checkpointing; /* recompute each block in the backward */
        struct { /* fp16 dynamic loss scaling (torch.cuda.amp.GradScaler's defaults) */
            double init_scale, growth_factor, backoff_factor;
            int64_t growth_interval; /* clean steps before the scale grows */
        } loss_scale;
    } train;
    struct {
        int64_t every_steps; /* 0: at the end of each epoch */
        bool before_training;
        int64_t max_batches; /* 0: all */
        struct {
            char metric[WF_CFG_NAME_MAX]; /* "": off */
            int64_t patience;
            wf_cfg_mode mode;
        } early_stopping;
    } eval;
    struct {
        int64_t every_steps; /* 0: off */
        int64_t keep_last;
    } checkpoint;
    struct {
        char dir[WF_CFG_PATH_MAX]; /* resolved: never "" after load */
        bool tensorboard;
        int64_t log_every;
        bool export_merged;
        int64_t profile_steps; /* 0: off */
        bool overwrite;        /* a fresh run may replace an earlier run in dir */
    } output;
    struct {
        wf_cfg_backend name;
        int64_t device;
        int64_t threads; /* 0: all cores */
    } backend;
    struct {
        int64_t cpu_ranks; /* ranks as threads over the CPU communicator; 1: none */
        int64_t zero_stage; /* 0: plain data parallel; 1: ZeRO-1 (sharded AdamW) */
        double bucket_mb;   /* gradient all-reduce buckets (MiB); 0: one flat all-reduce */
        double timeout_s;   /* a collective that waits longer fails, naming the missing rank */
    } dist;
} wf_run_config;

/* Fills *out from the schema's defaults, then the JSON file at `path` (NULL: none), then each
 * "a.b=v" of sets[0..nsets) in order; v is JSON if it parses as JSON, else a plain string.
 * Then checks required keys and cross-key rules and derives output.dir ("" -> runs/<file stem>).
 * Errors are WF_ERR_INVALID (WF_ERR_IO for an unreadable file) with a message naming the source. */
wf_status wf_run_config_load(const char *path, const char *const *sets, int nsets,
                             wf_run_config *out);

/* Writes every key with its resolved value as JSON to `path`, atomically. Loading that file gives
 * back an equal struct. */
wf_status wf_run_config_write(const wf_run_config *cfg, const char *path);

/* The same JSON as a malloc'ed string (NULL when out of memory). */
char *wf_run_config_to_json(const wf_run_config *cfg);

/* Prints the markdown key reference: one table per section (key, type, default, range or values,
 * unit, meaning). configs/README.md holds its output below a marker line. */
void wf_run_config_doc(FILE *out);

/* Name of an enum value as written in the JSON ("cosine"), for logs. */
const char *wf_run_config_enum_name(const char *key, int value);

#endif
