/* The data pipeline: JSONL records or IDX images -> tokenized examples (ids + loss mask, or ids +
 * label / value, or pixels + label) -> train/eval split, kept in a tokenized cache -> micro-batches
 * (packed or padded rows), shuffled per epoch, sharded by rank, resumable from a cursor.
 * Chat templates (ChatML, Llama-3, Alpaca) render `messages` records with the spans the loss sees.
 * Not here: the tokenizer itself (tokenizer.h, tokenizer_model.h), moving batches to a device
 * (graph.h wf_batch_upload). Record layouts: ../shared/DESIGN.md "Data". */
#ifndef WEFT_DATA_H
#define WEFT_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/arch.h"
#include "weft/graph.h"
#include "weft/tokenizer.h"

/* Orders match run_config.h's wf_cfg_format / wf_cfg_chat / wf_cfg_bad_lines. */
typedef enum wf_data_format {
    WF_DATA_AUTO,              /* from the first record's keys (IDX from the file's magic) */
    WF_DATA_TEXT,              /* {"text"}: loss on every token */
    WF_DATA_PROMPT_COMPLETION, /* {"prompt","completion"}: loss on the completion (+ eos) */
    WF_DATA_MESSAGES,          /* {"messages":[{"role","content"}]}: loss on assistant turns */
    WF_DATA_ALPACA,            /* {"instruction","input","output"}: loss on the output (+ eos) */
    WF_DATA_CLASSIFICATION,    /* {"text","label"}: label an int, or a string in label2id */
    WF_DATA_REGRESSION,        /* {"text","value"} */
    WF_DATA_IDX,               /* MNIST-style images-idx3 + labels-idx1 files (gzip or not) */
} wf_data_format;

typedef enum wf_chat_kind {
    WF_CHAT_AUTO,
    WF_CHAT_CHATML,
    WF_CHAT_LLAMA3,
    WF_CHAT_ALPACA
} wf_chat_kind;

const char *wf_data_format_name(wf_data_format f);
const char *wf_chat_kind_name(wf_chat_kind k);

/* ---------------------------------------------------------------- chat templates (chat.c) */

typedef struct wf_chat_template {
    wf_chat_kind kind;    /* never AUTO once resolved */
    char *default_system; /* ChatML: system turn used when a conversation has none (the model's
                             template says so, e.g. SmolLM2, Qwen2.5), or NULL */
    char *eos;            /* Alpaca: the end-of-sequence text closing a response, or NULL */
} wf_chat_template;

typedef struct wf_chat_msg {
    const char *role;    /* "system", "user", "assistant" (ChatML / Llama-3 take any role) */
    const char *content; /* (content_len) UTF-8 */
    size_t content_len;
} wf_chat_msg;

/* A rendering: text (NUL-terminated, malloc'd) cut into spans; span i covers
 * [starts[i], starts[i+1]) (the last runs to len). train: the loss sees it (assistant content
 * and its end token). */
typedef struct wf_chat_text {
    char *text;
    size_t len;
    int64_t n_spans;
    size_t *starts; /* (n_spans) */
    bool *train;    /* (n_spans) */
} wf_chat_text;

/* Resolves `kind` for a model: AUTO reads the model's template (wf_model_chat_template):
 * ChatML when it contains "<|im_start|>", Llama-3 when "<|start_header_id|>", else ChatML.
 * For ChatML a default system prompt is taken from the template when one is written there as
 * a literal '<|im_start|>system\n...<|im_end|>'. model_path may be NULL (no model template);
 * tok supplies Alpaca's eos text (may be NULL). */
wf_status wf_chat_template_resolve(wf_chat_kind kind, const char *model_path,
                                   const wf_tokenizer *tok, wf_chat_template *out);
/* The same from a Jinja template text already in memory (NULL: none). */
wf_status wf_chat_template_from_jinja(wf_chat_kind kind, const char *jinja, const wf_tokenizer *tok,
                                      wf_chat_template *out);
void wf_chat_template_free(wf_chat_template *t);

/* ChatML: <|im_start|>role\ncontent<|im_end|>\n; Llama-3: <|begin_of_text|> then
 * <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> (content trimmed, as Meta's
 * template does); Alpaca: preamble (or the system message), "### Instruction:\n...\n\n",
 * "### Input:\n...\n\n" for a user turn following a user turn, "### Response:\n" content eos
 * "\n\n". add_generation_prompt appends the assistant header. An unknown role for Alpaca or an
 * empty list is WF_ERR_INVALID. */
wf_status wf_chat_render(const wf_chat_template *t, const wf_chat_msg *msgs, int64_t n,
                         bool add_generation_prompt, wf_chat_text *out);
void wf_chat_text_free(wf_chat_text *t);

/* ---------------------------------------------------------------- datasets */

typedef struct wf_dataset wf_dataset;

/* One example. Text tasks: ids (len); LM examples carry a loss mask (1: predict this token);
 * classification a label, regression a value. Images: pixels (ch, h, w) and a label. */
typedef struct wf_example {
    const int32_t *ids;  /* (len) */
    const uint8_t *loss; /* (len) LM only, else NULL */
    int64_t len;
    int32_t label;       /* classification / image classification */
    float value;         /* regression */
    const float *pixels; /* (ch, h, w) images, else NULL */
    int64_t record;      /* source line (JSONL, 1-based) or record index (IDX, 0-based) */
} wf_example;

/* An empty dataset for the task (WF_HEAD_LM, _SEQ_CLS, _REGRESSION, _IMAGE_CLS). pad_id fills
 * padding (>= 0). For images, set the pixel shape with wf_dataset_set_image first. */
wf_status wf_dataset_create(wf_head_kind task, int32_t pad_id, wf_dataset **out);
wf_status wf_dataset_set_image(wf_dataset *d, int64_t ch, int64_t h, int64_t w);
/* Appends a copy of e (the fields the task uses). */
wf_status wf_dataset_add(wf_dataset *d, const wf_example *e);
int64_t wf_dataset_count(const wf_dataset *d);
wf_example wf_dataset_get(const wf_dataset *d, int64_t i); /* 0 <= i < count */
wf_head_kind wf_dataset_task(const wf_dataset *d);
int32_t wf_dataset_pad_id(const wf_dataset *d);
int64_t wf_dataset_tokens(const wf_dataset *d);      /* sum of len */
int64_t wf_dataset_loss_tokens(const wf_dataset *d); /* LM: positions that are predicted */
void wf_dataset_free(wf_dataset *d);                 /* NULL is fine */

/* ---------------------------------------------------------------- loading (load.c) */

typedef struct wf_data_opts {
    wf_data_format format;
    wf_head_kind task;          /* LM, SEQ_CLS, REGRESSION or IMAGE_CLS */
    int64_t seq_len;            /* LM: longer records become chunks of seq_len tokens that
                                   overlap by one (every token is predicted once);
                                   classification: truncated, keeping a final [SEP]/eos */
    int64_t n_labels;           /* classification: labels in [0, n_labels); 0: from label2id */
    wf_chat_kind chat_template; /* for `messages` records */
    bool skip_bad_lines;        /* false: the first bad line is an error */
    double eval_split;          /* without eval_path: share of records held out, in [0, 1) */
    uint64_t seed;              /* the eval split's hash */
    bool cache;                 /* use / write the tokenized cache */
    const char *model_path;     /* model dir or .gguf: tokenizer fingerprint for the cache key,
                                   chat template (auto), label2id (config.json); may be NULL
                                   (then no cache) */
    const char *cache_dir;      /* NULL: $WF_CACHE_DIR, else ~/.cache/weft/data */
} wf_data_opts;

/* format auto, task LM, seq_len 512, chat auto, error on bad lines, eval_split 0, seed 0,
 * cache on, no model path. */
void wf_data_opts_init(wf_data_opts *o);

#define WF_DATA_MAX_REASONS 5
typedef struct wf_data_report {
    wf_data_format format;    /* as detected */
    wf_chat_kind chat;        /* resolved (messages records) */
    int64_t records[2];       /* train, eval: records read (bad lines excluded) */
    int64_t examples[2];      /* after LM chunking */
    int64_t tokens[2];        /* in the examples */
    int64_t loss_tokens[2];   /* positions predicted (sequence tasks: examples) */
    int64_t skipped;          /* bad lines skipped (both files) */
    /* the first few skipped lines: "FILE:LINE: what was wrong" */
    char reasons[WF_DATA_MAX_REASONS][320];
    int64_t chunked;          /* LM records longer than seq_len (split into chunks) */
    int64_t dropped;          /* LM chunks with no token to predict (left out) */
    int64_t truncated;        /* classification texts cut to seq_len */
    double eval_split;        /* > 0: the eval set was split off the training file */
    bool cache_hit[2];        /* train, eval file loaded from the cache */
    char cache_path[2][4096]; /* the cache file read or written; "" when none */
} wf_data_report;

/* Reads, tokenizes (in parallel, deterministic order), splits. eval_path NULL or "": the eval
 * set is split off train_path by eval_split (*eval NULL when eval_split is 0). Bad lines: an
 * error "FILE:LINE: what" (WF_ERR_FORMAT) or, with skip_bad_lines, counted in the report.
 * tok may be NULL for IDX data. On error nothing is returned. */
wf_status wf_data_load(const wf_data_opts *o, const wf_tokenizer *tok, const char *train_path,
                       const char *eval_path, wf_dataset **train, wf_dataset **eval,
                       wf_data_report *report);
/* A few lines: format, counts, skipped lines and their first reasons, "cache hit"/"cache
 * written" per file. */
void wf_data_report_print(const wf_data_report *r, FILE *f);

/* ---------------------------------------------------------------- images (image.c) */

#define WF_IMAGE_MAX_CH 8

/* How dataset images (pixels normalized with mean 0.5, std 0.5, any h x w, 1 or ch channels)
 * become a model's input, as its Hugging Face image processor would: bilinear resize to
 * size x size, a gray image replicated over the channels, then (x * scale - mean[c]) / std[c]
 * with x in [0, 1]. */
typedef struct wf_image_spec {
    int64_t ch, size;           /* the model's num_channels, image_size; ch 0: images as stored */
    float scale;                /* rescale_factor * 255 (1: the usual 1/255) */
    float mean[WF_IMAGE_MAX_CH], std[WF_IMAGE_MAX_CH];
    char source[4200];          /* the preprocessor_config.json read, "" for ViT's defaults */
} wf_image_spec;

/* The spec for a model of `channels` x size x size inputs: model_dir/preprocessor_config.json's
 * image_mean, image_std, do_normalize, do_rescale, rescale_factor when the file exists (errors
 * name it and the key), else ViTImageProcessor's defaults (mean 0.5, std 0.5). */
wf_status wf_image_spec_for_model(const char *model_dir, int64_t channels, int64_t size,
                                  wf_image_spec *out);

/* ---------------------------------------------------------------- batching (loader.c) */

typedef struct wf_loader_opts {
    int64_t B, T;    /* rows per micro-batch, tokens per row (images: the model's sequence) */
    bool packing;    /* LM only: whole examples packed best-fit-decreasing into rows, once (a
                        shuffle permutes rows); other tasks always pad, one example per row */
    bool shuffle;    /* rows permuted per (seed, epoch); false: dataset order */
    uint64_t seed;
    int rank, world; /* drop_last: batch i of rank r is rows [(i*world + r)*B, +B) of the
                        epoch's order, so a global batch is the ranks' batches in rank order;
                        else rank r takes rows r, r + world, ... */
    bool drop_last;  /* true: equal full batches on every rank, the remainder dropped;
                        false (eval): every row once, the last batch may have fewer rows */
    wf_image_spec image; /* images: fitted to this input (image.ch 0: pixels as stored) */
} wf_loader_opts;

/* The position of the next batch; a checkpoint saves it, a resume sets it back. */
typedef struct wf_loader_cursor {
    int64_t epoch, batch;
} wf_loader_cursor;

typedef struct wf_loader wf_loader;

/* An example longer than T is WF_ERR_INVALID (build the dataset with seq_len <= T). The
 * loader keeps a pointer to d, which must outlive it. */
wf_status wf_loader_create(const wf_dataset *d, const wf_loader_opts *o, wf_loader **out);
/* The next micro-batch; after the last batch of an epoch the next epoch starts. The arrays
 * belong to the loader and stay valid until the next call. LM rows: ids, mask (0 on padding),
 * targets (ids[t+1] when it is in the same document and its loss mask is 1, else -100), and in
 * packed rows doc_ids (0, 1, ... per document, -1 on padding). Sequence tasks: ids, mask,
 * labels or values. Images: pixels and labels. */
wf_status wf_loader_next(wf_loader *l, wf_batch_host *out);
wf_loader_cursor wf_loader_cursor_get(const wf_loader *l);
wf_status wf_loader_cursor_set(wf_loader *l, wf_loader_cursor c);
/* Batches this rank sees per epoch (the same on every rank when drop_last). */
int64_t wf_loader_batches_per_epoch(const wf_loader *l);
int64_t wf_loader_rows(const wf_loader *l); /* rows per epoch, all ranks together */
void wf_loader_free(wf_loader *l);          /* NULL is fine */

/* Loss positions of a batch: targets != -100 when it has targets, else its rows. */
int64_t wf_batch_loss_tokens(const wf_batch_host *b);

#endif
