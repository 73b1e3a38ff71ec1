/* Private pieces of the data pipeline (the files in host/data; public API include/weft/data.h):
 * parsed records before tokenization, the bad-line tally, the dataset's storage, per-file
 * statistics the cache keeps, and small helpers (UTF-8 check, growable buffers). */
#ifndef WEFT_DATA_INTERNAL_H
#define WEFT_DATA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/data.h"

typedef struct cJSON cJSON;

/* ---- growable byte buffer and arrays (data_util.c) ---- */
typedef struct dt_buf {
    char *p;
    size_t len, cap;
} dt_buf;

wf_status dt_buf_put(dt_buf *b, const void *s, size_t n);
static inline wf_status dt_buf_puts(dt_buf *b, const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return dt_buf_put(b, s, n);
}
/* Grows *p (elements of `elem` bytes, capacity *cap) to hold `need`; overflow-checked. */
wf_status dt_grow(void **p, int64_t *cap, int64_t need, size_t elem);
/* Offset of the first byte that is not valid UTF-8 (RFC 3629: no overlongs, no surrogates,
 * <= U+10FFFF), or n when all of s is valid. */
size_t dt_utf8_check(const char *s, size_t n);

/* ---- images (image.c) ---- */
/* Whether fitting (ch, h, w) images to s changes nothing (same shape, mean 0.5, std 0.5). */
bool dt_image_identity(const wf_image_spec *s, int64_t ch, int64_t h, int64_t w);
/* dst (s->ch, s->size, s->size) from src (ch, h, w); ch is 1 or s->ch. */
void dt_image_fit(const wf_image_spec *s, const float *src, int64_t ch, int64_t h, int64_t w,
                  float *dst);

/* ---- bad lines ---- */
typedef struct dt_stats {
    int32_t format;  /* wf_data_format the records were read as */
    int64_t records; /* good records */
    int64_t chunked, dropped, truncated;
    int64_t skipped; /* bad lines skipped */
    char reasons[WF_DATA_MAX_REASONS][320];
} dt_stats;

/* A bad line: with `skip` it is counted (and its reason kept if among the first few) and OK is
 * returned; else WF_ERR_FORMAT with the message "PATH:LINE: what". */
wf_status dt_bad_line(dt_stats *s, bool skip, const char *path, int64_t line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* ---- records: one JSONL line, ready for the tokenizer (jsonl.c) ---- */
typedef struct dt_record {
    int64_t line; /* 1-based line in the file */
    char *text;   /* (len) the whole text the tokenizer sees, NUL-terminated */
    size_t len;
    bool add_special; /* encode with the tokenizer's special tokens (not for chat renderings) */
    int64_t n_spans;  /* LM: spans of text with their loss flag; 0 for sequence tasks */
    size_t *starts;   /* (n_spans) byte offsets, starts[0] == 0 */
    bool *train;      /* (n_spans) */
    int32_t label;    /* classification */
    float value;      /* regression */
} dt_record;

typedef struct dt_parse {
    /* in */
    const char *path;
    wf_data_format format; /* AUTO: detected from the first good record, then fixed */
    wf_head_kind task;
    const wf_chat_template *chat;   /* messages records */
    const wf_chat_template *alpaca; /* alpaca records (kind WF_CHAT_ALPACA) */
    const char *eos;                /* appended to text / completion / output (NULL: none) */
    int64_t n_labels;               /* classification; 0 with label2id: its size */
    const cJSON *label2id;          /* {"name": id} or NULL */
    bool skip;
    /* out */
    dt_record *recs;
    int64_t n, cap;
    dt_stats stats;
} dt_parse;

/* Parses a whole JSONL buffer (lines split on '\n'; a '\r' before it is dropped; blank lines
 * are ignored; a UTF-8 BOM is skipped). Records are appended to p->recs. An empty file (no
 * record at all) is an error. */
wf_status dt_jsonl_parse(dt_parse *p, const char *data, size_t size);
void dt_records_free(dt_record *r, int64_t n);

/* ---- tokenization (dataset.c) ---- */
/* Tokenizes the records in parallel into d (record order), LM spans -> loss mask, chunking or
 * truncation to seq_len; tokenizer failures are bad lines too. */
wf_status dt_tokenize(const wf_tokenizer *tok, const dt_record *recs, int64_t n, int64_t seq_len,
                      const char *path, bool skip, dt_stats *stats, wf_dataset *d);

/* ---- dataset storage (dataset.c) ---- */
struct wf_dataset {
    wf_head_kind task;
    int32_t pad_id;
    int64_t n, cap;  /* examples */
    int64_t *off;    /* (n + 1) token offsets */
    int64_t *record; /* (n) */
    int32_t *labels; /* (n) */
    float *values;   /* (n) */
    int64_t tok_cap;
    int32_t *ids;     /* (off[n]) */
    uint8_t *loss;    /* (off[n]) LM only */
    int64_t ch, h, w; /* images */
    int64_t pix_cap;
    float *pixels; /* (n, ch, h, w) */
};

/* Examples whose record hashes below `share` go to *b, the rest to *a (either may receive none;
 * both are created). */
wf_status dt_dataset_split(const wf_dataset *d, double share, uint64_t seed, wf_dataset **a,
                           wf_dataset **b);
/* Distinct records (runs of equal record numbers). */
int64_t dt_dataset_records(const wf_dataset *d);

/* ---- IDX images (idx.c) ---- */
/* images-idx3 file (its labels-idx1 file found by name) -> pixels normalized to [0, 1] then
 * (x - 0.5) / 0.5, labels checked against n_labels when > 0. */
wf_status dt_idx_load(const char *images_path, int64_t n_labels, wf_dataset **out);
bool dt_idx_looks_like(const char *path);

/* ---- the tokenized cache (cache.c) ---- */
/* A hit fills *out and *stats and returns true; a missing, stale or corrupt file returns false. */
bool dt_cache_read(const char *path, const char *key, wf_dataset **out, dt_stats *stats);
wf_status dt_cache_write(const char *path, const char *key, const wf_dataset *d,
                         const dt_stats *stats);

#endif
