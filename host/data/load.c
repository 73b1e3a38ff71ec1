/* wf_data_load (data.h): a JSONL or IDX file -> dataset, through the tokenized cache, then the
 * train/eval split; and the report. The cache key holds everything that changes the result:
 * the file (absolute path, size, mtime, hashes of its first and last MiB), the tokenizer's
 * fingerprint, task, format, seq_len, labels, chat template and bad-line policy. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"
#include "weft/hash.h"
#include "weft/json.h"
#include "weft/mapped_file.h"
#include "weft/tokenizer_model.h"

#define KEY_WINDOW ((size_t)1 << 20) /* bytes hashed at each end of the data file */

void wf_data_opts_init(wf_data_opts *o) {
    *o = (wf_data_opts){.format = WF_DATA_AUTO,
                        .task = WF_HEAD_LM,
                        .seq_len = 512,
                        .chat_template = WF_CHAT_AUTO,
                        .cache = true};
}

typedef struct load_ctx {
    const wf_data_opts *o;
    const wf_tokenizer *tok;
    wf_chat_template chat, alpaca;
    const char *eos;
    cJSON *config; /* the model's config.json (label2id), or NULL */
    const cJSON *label2id;
    int64_t n_labels;
    uint64_t tok_hash;
    bool cache;
    char cache_dir[4096];
    wf_data_format format; /* detected by the first file, imposed on the second */
} load_ctx;

static bool cache_dir(const wf_data_opts *o, char *out, size_t cap) {
    const char *env = getenv("WF_CACHE_DIR"), *home = getenv("HOME");
    int n;
    if (o->cache_dir && *o->cache_dir)
        n = snprintf(out, cap, "%s", o->cache_dir);
    else if (env && *env)
        n = snprintf(out, cap, "%s", env);
    else if (home && *home)
        n = snprintf(out, cap, "%s/.cache/weft/data", home);
    else
        return false;
    return n > 0 && (size_t)n < cap;
}

/* The cache key of one data file; *key is malloc'd. */
static wf_status file_key(const load_ctx *c, const char *path, wf_data_format format,
                          const wf_mapped_file *f, char **key) {
    char abs[PATH_MAX];
    struct stat st;
    if (!realpath(path, abs) || stat(abs, &st) != 0)
        return wf_error(WF_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    size_t w = f->size < KEY_WINDOW ? f->size : KEY_WINDOW;
    const unsigned char *b = f->data ? f->data : (const unsigned char *)"";
    uint64_t head = wf_hash64(b, w, 1), tail = wf_hash64(b + f->size - w, w, 2);
    const wf_data_opts *o = c->o;
    const char *sys = c->chat.default_system ? c->chat.default_system : "";
    char *l2i = c->label2id ? cJSON_PrintUnformatted(c->label2id) : NULL;
    const char *eos = c->eos ? c->eos : "";
    size_t cap = strlen(abs) + 1024;
    *key = malloc(cap);
    if (*key)
        snprintf(
            *key, cap,
            "weft tokenized data\npath %s\nsize %lld\nmtime %lld.%09ld\nhead %016llx\n"
            "tail %016llx\ntokenizer %016llx\ntask %s\nformat %s\nseq_len %lld\n"
            "n_labels %lld\nlabel2id %016llx\nchat %s\nsystem %016llx\neos %016llx\n"
            "bad_lines %s\n",
            abs, (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
            (unsigned long long)head, (unsigned long long)tail, (unsigned long long)c->tok_hash,
            wf_head_name(o->task), wf_data_format_name(format), (long long)o->seq_len,
            (long long)c->n_labels, (unsigned long long)(l2i ? wf_hash64(l2i, strlen(l2i), 3) : 0),
            wf_chat_kind_name(c->chat.kind), (unsigned long long)wf_hash64(sys, strlen(sys), 4),
            (unsigned long long)wf_hash64(eos, strlen(eos), 5),
            o->skip_bad_lines ? "skip" : "error");
    free(l2i);
    return *key ? WF_OK : wf_error(WF_ERR_OOM, "data: out of memory");
}

static int32_t pad_id(const wf_tokenizer *tok) {
    wf_special_ids s = wf_tokenizer_special_ids(tok);
    return s.pad >= 0 ? s.pad : s.eos >= 0 ? s.eos : 0;
}

/* Parse + tokenize one JSONL file (no cache). */
static wf_status tokenize_file(load_ctx *c, const char *path, const wf_mapped_file *f,
                               wf_dataset **out, dt_stats *stats) {
    const wf_data_opts *o = c->o;
    dt_parse p = {.path = path,
                  .format = c->format,
                  .task = o->task,
                  .chat = &c->chat,
                  .alpaca = &c->alpaca,
                  .eos = c->eos,
                  .n_labels = c->n_labels,
                  .label2id = c->label2id,
                  .skip = o->skip_bad_lines};
    wf_status st = dt_jsonl_parse(&p, (const char *)f->data, f->size);
    if (st == WF_OK) st = wf_dataset_create(o->task, pad_id(c->tok), out);
    if (st == WF_OK)
        st = dt_tokenize(c->tok, p.recs, p.n, o->seq_len, path, o->skip_bad_lines, &p.stats, *out);
    dt_records_free(p.recs, p.n);
    free(p.recs);
    p.stats.format = p.format;
    *stats = p.stats;
    if (st == WF_OK && (*out)->n == 0)
        st = wf_error(WF_ERR_FORMAT,
                      "%s: no examples: none of its %lld records has a token to "
                      "predict",
                      path, (long long)p.stats.records);
    if (st != WF_OK) wf_dataset_free(*out), *out = NULL;
    return st;
}

static wf_status load_file(load_ctx *c, const char *path, int which, wf_dataset **out,
                           dt_stats *stats, wf_data_report *rep) {
    wf_mapped_file f;
    WF_TRY(wf_file_map(path, &f));
    char *key = NULL, cpath[4096 + 32] = "";
    wf_status st = WF_OK;
    if (c->cache) {
        st = file_key(c, path, c->format, &f, &key);
        if (st == WF_OK)
            snprintf(cpath, sizeof cpath, "%s/%016llx.wfd", c->cache_dir,
                     (unsigned long long)wf_hash64(key, strlen(key), 0));
        if (st == WF_OK && dt_cache_read(cpath, key, out, stats) && (*out)->task == c->o->task) {
            rep->cache_hit[which] = true;
            snprintf(rep->cache_path[which], sizeof rep->cache_path[which], "%s", cpath);
            wf_file_unmap(&f);
            free(key);
            return WF_OK;
        }
        wf_dataset_free(*out), *out = NULL;
    }
    if (st == WF_OK) st = tokenize_file(c, path, &f, out, stats);
    wf_file_unmap(&f);
    if (st == WF_OK && key && wf_mkdir_p(c->cache_dir) == WF_OK &&
        dt_cache_write(cpath, key, *out, stats) == WF_OK)
        snprintf(rep->cache_path[which], sizeof rep->cache_path[which], "%s", cpath);
    free(key);
    return st;
}

static void add_stats(wf_data_report *r, const dt_stats *s) {
    for (int64_t i = 0;
         i < s->skipped && r->skipped + i < WF_DATA_MAX_REASONS && i < WF_DATA_MAX_REASONS; i++)
        memcpy(r->reasons[r->skipped + i], s->reasons[i], sizeof r->reasons[0]);
    r->skipped += s->skipped;
    r->chunked += s->chunked, r->dropped += s->dropped, r->truncated += s->truncated;
    r->format = (wf_data_format)s->format;
}

static void count(wf_data_report *r, int which, const wf_dataset *d) {
    if (!d) return;
    r->records[which] = dt_dataset_records(d);
    r->examples[which] = d->n;
    r->tokens[which] = d->off[d->n];
    r->loss_tokens[which] = wf_dataset_loss_tokens(d);
}

static wf_status check_opts(const wf_data_opts *o, wf_data_format format) {
    wf_head_kind t = o->task;
    if (t != WF_HEAD_LM && t != WF_HEAD_SEQ_CLS && t != WF_HEAD_REGRESSION &&
        t != WF_HEAD_IMAGE_CLS)
        return wf_error(WF_ERR_INVALID,
                        "data: the model head \"%s\" takes no training data "
                        "(causal-lm, sequence-classification, regression, image-classification)",
                        wf_head_name(t));
    if (!(o->eval_split >= 0 && o->eval_split < 1))
        return wf_error(WF_ERR_INVALID, "data: eval_split %g is outside [0, 1)", o->eval_split);
    if (format != WF_DATA_IDX && o->seq_len < 2)
        return wf_error(WF_ERR_INVALID, "data: seq_len %lld is below 2", (long long)o->seq_len);
    bool lm_format = format == WF_DATA_TEXT || format == WF_DATA_PROMPT_COMPLETION ||
                     format == WF_DATA_MESSAGES || format == WF_DATA_ALPACA;
    bool ok = format == WF_DATA_AUTO || (t == WF_HEAD_LM && lm_format) ||
              (t == WF_HEAD_SEQ_CLS && format == WF_DATA_CLASSIFICATION) ||
              (t == WF_HEAD_REGRESSION && format == WF_DATA_REGRESSION) ||
              (t == WF_HEAD_IMAGE_CLS && format == WF_DATA_IDX);
    if (!ok)
        return wf_error(WF_ERR_INVALID,
                        "data: format \"%s\" does not fit a model with a \"%s\" "
                        "head",
                        wf_data_format_name(format), wf_head_name(t));
    return WF_OK;
}

/* Chat templates, eos text, label2id and the cache settings of a text dataset. */
static wf_status ctx_init(load_ctx *c, const wf_data_opts *o, const wf_tokenizer *tok) {
    *c = (load_ctx){.o = o, .tok = tok, .format = o->format, .n_labels = o->n_labels};
    WF_TRY(wf_chat_template_resolve(o->chat_template, o->model_path, tok, &c->chat));
    WF_TRY(wf_chat_template_from_jinja(WF_CHAT_ALPACA, NULL, tok, &c->alpaca));
    c->eos = c->alpaca.eos;
    struct stat st;
    if (o->model_path && stat(o->model_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char path[4096 + 16];
        snprintf(path, sizeof path, "%s/config.json", o->model_path);
        if (stat(path, &st) == 0) WF_TRY(wf_json_load(path, &c->config));
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(c->config, "label2id");
        if (cJSON_IsObject(l) && l->child) c->label2id = l;
    }
    if (c->n_labels == 0 && c->label2id) c->n_labels = cJSON_GetArraySize(c->label2id);
    c->cache = o->cache && o->model_path && cache_dir(o, c->cache_dir, sizeof c->cache_dir) &&
               wf_tokenizer_model_hash(o->model_path, &c->tok_hash) == WF_OK;
    return WF_OK;
}

static void ctx_free(load_ctx *c) {
    wf_chat_template_free(&c->chat);
    wf_chat_template_free(&c->alpaca);
    cJSON_Delete(c->config);
}

static wf_status load_images(const wf_data_opts *o, const char *train_path, const char *eval_path,
                             wf_dataset **train, wf_dataset **eval, wf_data_report *rep) {
    wf_dataset *all = NULL;
    WF_TRY(dt_idx_load(train_path, o->n_labels, &all));
    wf_status st = WF_OK;
    if (eval_path) {
        *train = all;
        st = dt_idx_load(eval_path, o->n_labels, eval);
    } else if (o->eval_split > 0) {
        st = dt_dataset_split(all, o->eval_split, o->seed, train, eval);
        rep->eval_split = o->eval_split;
        wf_dataset_free(all);
    } else {
        *train = all;
    }
    rep->format = WF_DATA_IDX;
    return st;
}

wf_status wf_data_load(const wf_data_opts *o, const wf_tokenizer *tok, const char *train_path,
                       const char *eval_path, wf_dataset **train, wf_dataset **eval,
                       wf_data_report *rep) {
    *train = *eval = NULL;
    memset(rep, 0, sizeof *rep);
    if (eval_path && !*eval_path) eval_path = NULL;
    wf_data_format format = o->format;
    if (format == WF_DATA_AUTO && (o->task == WF_HEAD_IMAGE_CLS || dt_idx_looks_like(train_path)))
        format = WF_DATA_IDX;
    WF_TRY(check_opts(o, format));
    wf_status st;
    if (format == WF_DATA_IDX) {
        st = load_images(o, train_path, eval_path, train, eval, rep);
    } else if (!tok) {
        st = wf_error(WF_ERR_INVALID, "data: %s: text data needs a tokenizer", train_path);
    } else {
        load_ctx c;
        dt_stats s1 = {0}, s2 = {0};
        wf_dataset *all = NULL;
        st = ctx_init(&c, o, tok);
        if (st == WF_OK) st = load_file(&c, train_path, 0, &all, &s1, rep);
        if (st == WF_OK) add_stats(rep, &s1), c.format = (wf_data_format)s1.format;
        if (st == WF_OK && eval_path) {
            *train = all, all = NULL;
            st = load_file(&c, eval_path, 1, eval, &s2, rep);
            if (st == WF_OK) add_stats(rep, &s2);
        } else if (st == WF_OK && o->eval_split > 0) {
            st = dt_dataset_split(all, o->eval_split, o->seed, train, eval);
            rep->eval_split = o->eval_split;
        } else if (st == WF_OK) {
            *train = all, all = NULL;
        }
        wf_dataset_free(all);
        rep->chat = c.chat.kind;
        ctx_free(&c);
    }
    if (st == WF_OK && *eval && (*eval)->n == 0) wf_dataset_free(*eval), *eval = NULL;
    if (st == WF_OK && (*train)->n == 0)
        st = wf_error(WF_ERR_FORMAT, "%s: no training examples left after the eval split",
                      train_path);
    if (st != WF_OK) {
        wf_dataset_free(*train), wf_dataset_free(*eval);
        *train = *eval = NULL;
        return st;
    }
    count(rep, 0, *train);
    count(rep, 1, *eval);
    return WF_OK;
}

void wf_data_report_print(const wf_data_report *r, FILE *f) {
    static const char *which[] = {"train", "eval"};
    for (int i = 0; i < 2; i++) {
        if (!r->examples[i]) continue;
        fprintf(f, "data: %s: %lld records (%s", which[i], (long long)r->records[i],
                wf_data_format_name(r->format));
        if (r->format == WF_DATA_MESSAGES) fprintf(f, ", %s template", wf_chat_kind_name(r->chat));
        fprintf(f, ") -> %lld examples, %lld tokens, %lld to predict", (long long)r->examples[i],
                (long long)r->tokens[i], (long long)r->loss_tokens[i]);
        if (i == 1 && r->eval_split > 0) fprintf(f, "; split off train (%g)", r->eval_split);
        if (r->cache_hit[i])
            fprintf(f, "; cache hit %s", r->cache_path[i]);
        else if (r->cache_path[i][0])
            fprintf(f, "; cache written %s", r->cache_path[i]);
        fputc('\n', f);
    }
    if (r->chunked || r->dropped || r->truncated)
        fprintf(f,
                "data: %lld records longer than seq_len split into chunks, %lld chunks with "
                "nothing to predict dropped, %lld texts truncated\n",
                (long long)r->chunked, (long long)r->dropped, (long long)r->truncated);
    if (r->skipped) {
        fprintf(f, "data: skipped %lld bad line%s; the first:\n", (long long)r->skipped,
                r->skipped > 1 ? "s" : "");
        for (int64_t i = 0; i < r->skipped && i < WF_DATA_MAX_REASONS; i++)
            fprintf(f, "  %s\n", r->reasons[i]);
    }
}
