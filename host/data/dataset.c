/* Datasets (data.h): storage of tokenized examples, the builder API, the eval split, and the
 * parallel tokenization of parsed records. LM loss masks come from the record's spans the way
 * TRL computes completion masks: a span starting at byte b starts at the token where the ids of
 * text[0:b] stop agreeing with the ids of the whole text, so the ids are those of the whole text
 * (what the model sees at inference) and the boundary token goes to the later span.
 * Parallel over records with OpenMP (the tokenizer is thread-safe); output in record order. */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "weft/hash.h"

wf_status wf_dataset_create(wf_head_kind task, int32_t pad_id, wf_dataset **out) {
    *out = NULL;
    if (task != WF_HEAD_LM && task != WF_HEAD_SEQ_CLS && task != WF_HEAD_REGRESSION &&
        task != WF_HEAD_IMAGE_CLS)
        return wf_error(WF_ERR_INVALID,
                        "dataset: a \"%s\" head has no data (causal-lm, "
                        "sequence-classification, regression, image-classification)",
                        wf_head_name(task));
    if (pad_id < 0) return wf_error(WF_ERR_INVALID, "dataset: pad id %d is negative", pad_id);
    wf_dataset *d = calloc(1, sizeof *d);
    if (!d || !(d->off = calloc(1, sizeof *d->off))) {
        free(d);
        return wf_error(WF_ERR_OOM, "dataset: out of memory");
    }
    d->task = task;
    d->pad_id = pad_id;
    *out = d;
    return WF_OK;
}

wf_status wf_dataset_set_image(wf_dataset *d, int64_t ch, int64_t h, int64_t w) {
    if (d->task != WF_HEAD_IMAGE_CLS || d->n || ch < 1 || h < 1 || w < 1 || ch * h * w > (1 << 26))
        return wf_error(WF_ERR_INVALID, "dataset: image shape %lldx%lldx%lld not settable here",
                        (long long)ch, (long long)h, (long long)w);
    d->ch = ch, d->h = h, d->w = w;
    return WF_OK;
}

void wf_dataset_free(wf_dataset *d) {
    if (!d) return;
    free(d->off), free(d->record), free(d->labels), free(d->values);
    free(d->ids), free(d->loss), free(d->pixels);
    free(d);
}

wf_status wf_dataset_add(wf_dataset *d, const wf_example *e) {
    bool img = d->task == WF_HEAD_IMAGE_CLS, lm = d->task == WF_HEAD_LM;
    if (img && !d->ch) return wf_error(WF_ERR_INVALID, "dataset: image shape not set");
    if (img ? !e->pixels : (e->len < 1 || !e->ids || (lm && !e->loss)))
        return wf_error(WF_ERR_INVALID, "dataset: example of record %lld lacks %s",
                        (long long)e->record,
                        img  ? "pixels"
                        : lm ? "ids or loss"
                             : "ids");
    int64_t c = d->cap, len = img ? 0 : e->len, base = d->off[d->n];
    WF_TRY(dt_grow((void **)&d->off, &c, d->n + 2, sizeof *d->off));
    c = d->cap;
    WF_TRY(dt_grow((void **)&d->record, &c, d->n + 1, sizeof *d->record));
    c = d->cap;
    WF_TRY(dt_grow((void **)&d->labels, &c, d->n + 1, sizeof *d->labels));
    WF_TRY(dt_grow((void **)&d->values, &d->cap, d->n + 1, sizeof *d->values));
    if (len) {
        c = d->tok_cap;
        WF_TRY(dt_grow((void **)&d->ids, &c, base + len, sizeof *d->ids));
        if (lm) {
            c = d->tok_cap;
            WF_TRY(dt_grow((void **)&d->loss, &c, base + len, 1));
        }
        d->tok_cap = c;
        memcpy(d->ids + base, e->ids, (size_t)len * sizeof *d->ids);
        if (lm) memcpy(d->loss + base, e->loss, (size_t)len);
    }
    if (img) {
        int64_t px = d->ch * d->h * d->w;
        WF_TRY(dt_grow((void **)&d->pixels, &d->pix_cap, (d->n + 1) * px, sizeof *d->pixels));
        memcpy(d->pixels + d->n * px, e->pixels, (size_t)px * sizeof *d->pixels);
    }
    d->record[d->n] = e->record;
    d->labels[d->n] = e->label;
    d->values[d->n] = e->value;
    d->off[d->n + 1] = base + len;
    d->n++;
    return WF_OK;
}

int64_t wf_dataset_count(const wf_dataset *d) { return d ? d->n : 0; }
wf_head_kind wf_dataset_task(const wf_dataset *d) { return d->task; }
int32_t wf_dataset_pad_id(const wf_dataset *d) { return d->pad_id; }
int64_t wf_dataset_tokens(const wf_dataset *d) { return d->off[d->n]; }

wf_example wf_dataset_get(const wf_dataset *d, int64_t i) {
    WF_ASSERT(i >= 0 && i < d->n);
    int64_t o = d->off[i];
    return (wf_example){
        .ids = d->ids ? d->ids + o : NULL,
        .loss = d->loss ? d->loss + o : NULL,
        .len = d->off[i + 1] - o,
        .label = d->labels[i],
        .value = d->values[i],
        .pixels = d->pixels ? d->pixels + i * d->ch * d->h * d->w : NULL,
        .record = d->record[i],
    };
}

int64_t wf_dataset_loss_tokens(const wf_dataset *d) {
    if (d->task != WF_HEAD_LM) return d->n;
    int64_t n = 0;
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t t = d->off[i] + 1; t < d->off[i + 1]; t++) n += d->loss[t];
    return n;
}

int64_t dt_dataset_records(const wf_dataset *d) {
    int64_t n = 0;
    for (int64_t i = 0; i < d->n; i++) n += i == 0 || d->record[i] != d->record[i - 1];
    return n;
}

wf_status dt_dataset_split(const wf_dataset *d, double share, uint64_t seed, wf_dataset **a,
                           wf_dataset **b) {
    *a = *b = NULL;
    wf_status st = wf_dataset_create(d->task, d->pad_id, a);
    if (st == WF_OK) st = wf_dataset_create(d->task, d->pad_id, b);
    if (st == WF_OK && d->task == WF_HEAD_IMAGE_CLS) {
        st = wf_dataset_set_image(*a, d->ch, d->h, d->w);
        if (st == WF_OK) st = wf_dataset_set_image(*b, d->ch, d->h, d->w);
    }
    for (int64_t i = 0; st == WF_OK && i < d->n; i++) {
        uint64_t h =
            wf_hash_combine(wf_hash_combine(0x73706C6974ULL, seed), (uint64_t)d->record[i]);
        double u = (double)(wf_hash64(&h, sizeof h, 0) >> 11) * 0x1p-53;
        wf_example e = wf_dataset_get(d, i);
        st = wf_dataset_add(u < share ? *b : *a, &e);
    }
    if (st != WF_OK) {
        wf_dataset_free(*a), wf_dataset_free(*b);
        *a = *b = NULL;
    }
    return st;
}

/* ---- tokenization ---- */

typedef struct tok_result {
    wf_ids ids;
    uint8_t *loss;
    char *err;
} tok_result;

static size_t common_prefix(const wf_ids *a, const wf_ids *b) {
    size_t n = a->len < b->len ? a->len : b->len, i = 0;
    while (i < n && a->data[i] == b->data[i]) i++;
    return i;
}

/* ids of the whole text; for LM records the loss flag of every token from the spans. */
static wf_status tokenize_one(const wf_tokenizer *tok, const dt_record *r, wf_ids *tmp,
                              tok_result *out) {
    WF_TRY(wf_tokenizer_encode(tok, r->text, r->len, r->add_special, &out->ids));
    if (!r->n_spans) return WF_OK;
    size_t n = out->ids.len;
    out->loss = malloc(n ? n : 1);
    if (!out->loss) return wf_error(WF_ERR_OOM, "data: out of memory");
    size_t at = 0;
    for (int64_t s = 0; s < r->n_spans; s++) {
        size_t end = n;
        if (s + 1 < r->n_spans) {
            tmp->len = 0;
            WF_TRY(wf_tokenizer_encode(tok, r->text, r->starts[s + 1], r->add_special, tmp));
            end = common_prefix(tmp, &out->ids);
            if (end < at) end = at;
        }
        memset(out->loss + at, r->train[s], end - at);
        at = end;
    }
    return WF_OK;
}

static char OOM[] = "out of memory"; /* when even the message cannot be copied */

static void tokenize_all(const wf_tokenizer *tok, const dt_record *recs, int64_t n,
                         tok_result *res) {
#pragma omp parallel
    {
        wf_ids tmp = {0};
#pragma omp for schedule(dynamic, 8)
        for (int64_t i = 0; i < n; i++) {
            if (tokenize_one(tok, &recs[i], &tmp, &res[i]) != WF_OK) {
                res[i].err = strdup(wf_last_error());
                if (!res[i].err) res[i].err = OOM;
            }
        }
        wf_ids_free(&tmp);
    }
}

/* Example(s) of one tokenized record into d. LM: chunks of seq_len overlapping by one token
 * (the first token of a chunk is only context), each needing a token to predict; sequence
 * tasks: truncation to seq_len keeping a final special token ([SEP], eos). */
static wf_status add_record(wf_dataset *d, const wf_tokenizer *tok, const dt_record *r,
                            tok_result *t, int64_t seq_len, const char *path, bool skip,
                            dt_stats *stats) {
    int64_t n = (int64_t)t->ids.len;
    int32_t *ids = t->ids.data;
    wf_example e = {.ids = ids, .label = r->label, .value = r->value, .record = r->line};
    if (d->task != WF_HEAD_LM) {
        if (n < 1) {
            wf_status st = dt_bad_line(stats, skip, path, r->line, "the text gives no tokens");
            if (st == WF_OK) stats->records--;
            return st;
        }
        e.len = n;
        if (n > seq_len) {
            stats->truncated++;
            e.len = seq_len;
            if (wf_tokenizer_is_special(tok, ids[n - 1])) ids[seq_len - 1] = ids[n - 1];
        }
        return wf_dataset_add(d, &e);
    }
    stats->chunked += n > seq_len;
    for (int64_t start = 0;; start += seq_len - 1) {
        int64_t len = n - start < seq_len ? n - start : seq_len, k = 1;
        while (k < len && !t->loss[start + k]) k++;
        if (k < len) {
            e.ids = ids + start, e.loss = t->loss + start, e.len = len;
            WF_TRY(wf_dataset_add(d, &e));
        } else {
            stats->dropped++;
        }
        if (start + len >= n) break;
    }
    return WF_OK;
}

wf_status dt_tokenize(const wf_tokenizer *tok, const dt_record *recs, int64_t n, int64_t seq_len,
                      const char *path, bool skip, dt_stats *stats, wf_dataset *d) {
    tok_result *res = calloc(n ? (size_t)n : 1, sizeof *res);
    if (!res) return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    tokenize_all(tok, recs, n, res);
    wf_status st = WF_OK;
    for (int64_t i = 0; i < n; i++) {
        if (st == WF_OK && res[i].err) {
            st = dt_bad_line(stats, skip, path, recs[i].line, "%s", res[i].err);
            if (st == WF_OK) stats->records--;
        } else if (st == WF_OK) {
            st = add_record(d, tok, &recs[i], &res[i], seq_len, path, skip, stats);
        }
        wf_ids_free(&res[i].ids);
        free(res[i].loss);
        if (res[i].err != OOM) free(res[i].err);
    }
    free(res);
    return st;
}
