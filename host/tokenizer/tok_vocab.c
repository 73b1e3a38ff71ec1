/* Building a tokenizer from an in-memory vocabulary (GGUF's tokenizer.ggml.* metadata, FORMATS.md
 * "GGUF") without JSON: the same pipeline a tokenizer.json of that family describes.
 * "gpt2" models: byte-level BPE with merges; the pre-tokenizer regex comes from the family name
 * (llama.cpp's tokenizer.ggml.pre; regexes as in the families' tokenizer.json files).
 * "llama" models: SentencePiece-style BPE whose merges are derived from the scores, as
 * transformers' converter does (a pair merges when its concatenation is a piece; higher score
 * of the result first), with byte fallback, Prepend/Replace normalizers and the matching decoder. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static const char LLAMA3_RE[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_RE[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

void wf_tokenizer_vocab_init(wf_tokenizer_vocab *v) {
    memset(v, 0, sizeof *v);
    v->bos_id = v->eos_id = v->unk_id = v->pad_id = v->sep_id = v->cls_id = v->mask_id = -1;
    v->add_space_prefix = true;
}

static size_t tok_len(const wf_tokenizer_vocab *v, size_t i) {
    return v->token_lens ? v->token_lens[i] : strlen(v->tokens[i]);
}

static int32_t tok_type(const wf_tokenizer_vocab *v, size_t i) {
    return v->token_types ? v->token_types[i] : WF_TOK_TYPE_NORMAL;
}

static wf_status new_pretok(tk_pretok_type type, tk_pretok **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    (*out)->type = type;
    return WF_OK;
}

/* Sequence [Split(regex, Isolated) or Digits, ByteLevel] for the family `pre`. */
static wf_status byte_level_pipeline(wf_tokenizer *t, const char *pre) {
    const char *re = NULL;
    bool digits = false, use_regex = false;
    if (!pre || !strcmp(pre, "default") || !strcmp(pre, "gpt2") || !strcmp(pre, "gpt-2"))
        use_regex = true;
    else if (!strcmp(pre, "llama-bpe") || !strcmp(pre, "llama3") || !strcmp(pre, "llama-v3"))
        re = LLAMA3_RE, t->model.ignore_merges = true;
    else if (!strcmp(pre, "qwen2"))
        re = QWEN2_RE;
    else if (!strcmp(pre, "smollm"))
        digits = true, use_regex = true;
    else
        return wf_error(WF_ERR_UNSUPPORTED, "%s: pre-tokenizer family \"%s\" is not supported "
                        "(gpt2, llama-bpe, qwen2, smollm)", t->name, pre);
    if (re == QWEN2_RE) { /* Qwen2's tokenizer.json normalizes to NFC first */
        t->normalizer = calloc(1, sizeof *t->normalizer);
        if (!t->normalizer) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
        t->normalizer->type = TK_NORM_NFC;
    }
    WF_TRY(new_pretok(TK_PT_SEQUENCE, &t->pretok));
    tk_pretok *seq = t->pretok;
    seq->items = calloc(2, sizeof *seq->items);
    if (!seq->items) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    if (re || digits) {
        WF_TRY(new_pretok(re ? TK_PT_SPLIT : TK_PT_DIGITS, &seq->items[seq->n_items]));
        tk_pretok *first = seq->items[seq->n_items++];
        first->behavior = TK_ISOLATED;
        first->individual_digits = true;
        if (re) WF_TRY(tk_pattern_regex(&first->pat, re, strlen(re), t->name, "pre regex"));
    }
    WF_TRY(new_pretok(TK_PT_BYTE_LEVEL, &seq->items[seq->n_items]));
    seq->items[seq->n_items++]->use_regex = use_regex;
    t->decoder = calloc(1, sizeof *t->decoder);
    if (!t->decoder) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    t->decoder->type = TK_DEC_BYTE_LEVEL;
    return WF_OK;
}

typedef struct cand {
    float score;
    uint32_t id, left_len;
} cand;

static int cand_cmp(const void *x, const void *y) {
    const cand *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return a->left_len < b->left_len ? -1 : a->left_len > b->left_len;
}

/* SentencePiece merges from the scores: every split of a piece into two pieces. */
static wf_status spm_merges(wf_tokenizer *t, const wf_tokenizer_vocab *v) {
    cand *c = NULL;
    size_t n = 0, cap = 0;
    wf_status st = WF_OK;
    for (size_t i = 0; st == WF_OK && i < v->n_tokens; i++) {
        if (tok_type(v, i) != WF_TOK_TYPE_NORMAL) continue;
        const char *s = v->tokens[i];
        size_t len = tok_len(v, i);
        for (size_t k = tk_utf8_len((unsigned char)s[0]); st == WF_OK && k < len;
             k += tk_utf8_len((unsigned char)s[k])) {
            if (tk_vocab_find(&t->model.vocab, s, k) < 0 ||
                tk_vocab_find(&t->model.vocab, s + k, len - k) < 0)
                continue;
            st = tk_grow((void **)&c, &cap, n + 1, sizeof *c);
            if (st == WF_OK) c[n++] = (cand){v->scores[i], (uint32_t)i, (uint32_t)k};
        }
    }
    if (st == WF_OK) qsort(c, n, sizeof *c, cand_cmp);
    if (st == WF_OK) st = tk_bpe_build_merges(&t->model, n);
    for (size_t r = 0; st == WF_OK && r < n; r++) {
        const char *s = v->tokens[c[r].id];
        size_t len = tok_len(v, c[r].id), k = c[r].left_len;
        st = tk_bpe_add_merge(&t->model, t->name, r, s, k, s + k, len - k);
    }
    free(c);
    return st;
}

static wf_status spm_pipeline(wf_tokenizer *t, const wf_tokenizer_vocab *v) {
    static const char SP[] = "\xE2\x96\x81"; /* U+2581, SentencePiece's space */
    if (!v->scores) return wf_error(WF_ERR_INVALID, "%s: SentencePiece BPE needs scores", t->name);
    t->model.byte_fallback = true;
    t->model.fuse_unk = true;
    WF_TRY(spm_merges(t, v));
    tk_norm *seq = calloc(1, sizeof *seq);
    t->normalizer = seq;
    if (!seq || !(seq->items = calloc(2, sizeof *seq->items)))
        return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    seq->type = TK_NORM_SEQUENCE;
    for (int i = v->add_space_prefix ? 0 : 1; i < 2; i++) {
        tk_norm *nm = calloc(1, sizeof *nm);
        if (!nm) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
        seq->items[seq->n_items++] = nm;
        nm->type = i == 0 ? TK_NORM_PREPEND : TK_NORM_REPLACE;
        WF_TRY(tk_jdup(SP, 3, &nm->str, &nm->str_len));
        if (i == 1) WF_TRY(tk_pattern_literal(&nm->pat, " ", 1));
    }
    tk_dec *d = calloc(1, sizeof *d);
    t->decoder = d;
    if (!d || !(d->items = calloc(4, sizeof *d->items)))
        return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    d->type = TK_DEC_SEQUENCE;
    static const tk_dec_type chain[] = {TK_DEC_REPLACE, TK_DEC_BYTE_FALLBACK, TK_DEC_FUSE,
                                        TK_DEC_STRIP};
    for (int i = 0; i < (v->add_space_prefix ? 4 : 3); i++) {
        tk_dec *x = calloc(1, sizeof *x);
        if (!x) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
        d->items[d->n_items++] = x;
        x->type = chain[i];
        if (x->type == TK_DEC_REPLACE) {
            WF_TRY(tk_pattern_literal(&x->pat, SP, 3));
            WF_TRY(tk_jdup(" ", 1, &x->str, &x->str_len));
        }
        if (x->type == TK_DEC_STRIP) x->content = ' ', x->start = 1, x->stop = 0;
    }
    return WF_OK;
}

/* bos $A eos as a TemplateProcessing. */
static wf_status template_post(wf_tokenizer *t, const wf_tokenizer_vocab *v) {
    bool bos = v->add_bos && v->bos_id >= 0, eos = v->add_eos && v->eos_id >= 0;
    if (!bos && !eos) return WF_OK;
    tk_post *pp = calloc(1, sizeof *pp);
    t->post = pp;
    if (!pp) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    pp->type = TK_POST_TEMPLATE;
    pp->single = calloc(3, sizeof *pp->single);
    pp->groups = calloc(2, sizeof *pp->groups);
    pp->group_len = calloc(2, sizeof *pp->group_len);
    if (!pp->single || !pp->groups || !pp->group_len)
        return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    int32_t ids[2] = {v->bos_id, v->eos_id};
    for (int i = 0; i < 2; i++) {
        if (!(i == 0 ? bos : eos)) continue;
        pp->groups[pp->n_groups] = malloc(sizeof(int32_t));
        if (!pp->groups[pp->n_groups]) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
        pp->groups[pp->n_groups][0] = ids[i];
        pp->group_len[pp->n_groups] = 1;
        if (i == 1) pp->single[pp->n_single++] = -1;
        pp->single[pp->n_single++] = (int32_t)pp->n_groups++;
    }
    if (!eos) pp->single[pp->n_single++] = -1;
    return WF_OK;
}

static wf_status build(wf_tokenizer *t, const wf_tokenizer_vocab *v) {
    t->model.type = TK_MODEL_BPE;
    for (size_t i = 0; i < v->n_tokens; i++) {
        const char *s = v->tokens[i];
        size_t n = s ? tok_len(v, i) : 0;
        if (!s || tk_utf8_check(s, n) != n)
            return wf_error(WF_ERR_INVALID, "%s: token %zu is not valid UTF-8", t->name, i);
        WF_TRY(tk_vocab_add(&t->model.vocab, s, n, (uint32_t)i, NULL));
    }
    if (v->unk_id >= 0 && (size_t)v->unk_id < v->n_tokens)
        WF_TRY(tk_jdup(v->tokens[v->unk_id], tok_len(v, (size_t)v->unk_id), &t->model.unk,
                       &t->model.unk_len));
    if (v->kind == WF_TOK_BYTE_LEVEL_BPE) {
        WF_TRY(tk_bpe_build_merges(&t->model, v->n_merges));
        for (size_t i = 0; i < v->n_merges; i++) {
            const char *s = v->merges[i], *sp = s ? strchr(s, ' ') : NULL;
            if (!sp || strchr(sp + 1, ' '))
                return wf_error(WF_ERR_INVALID, "%s: merges[%zu]: expected \"a b\"", t->name, i);
            WF_TRY(tk_bpe_add_merge(&t->model, t->name, i, s, (size_t)(sp - s), sp + 1,
                                    strlen(sp + 1)));
        }
        WF_TRY(byte_level_pipeline(t, v->pre));
    } else {
        WF_TRY(spm_pipeline(t, v));
    }
    WF_TRY(tk_model_finish(&t->model));
    /* control tokens are special added tokens, user-defined ones plain added tokens */
    tk_added_token *add = calloc(v->n_tokens ? v->n_tokens : 1, sizeof *add);
    if (!add) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    size_t na = 0;
    for (size_t i = 0; i < v->n_tokens; i++) {
        int32_t ty = tok_type(v, i);
        if (ty != WF_TOK_TYPE_CONTROL && ty != WF_TOK_TYPE_USER_DEFINED && ty != WF_TOK_TYPE_UNKNOWN)
            continue;
        add[na++] = (tk_added_token){.content = (char *)v->tokens[i], .len = tok_len(v, i),
                                     .special = ty != WF_TOK_TYPE_USER_DEFINED};
    }
    wf_status st = tk_add_tokens(t, add, na);
    free(add);
    WF_TRY(st);
    WF_TRY(template_post(t, v));
    wf_special_ids *s = &t->special;
    *s = (wf_special_ids){v->bos_id, v->eos_id, v->pad_id, v->unk_id, v->cls_id, v->sep_id,
                          v->mask_id};
    return WF_OK;
}

wf_status wf_tokenizer_from_vocab(const wf_tokenizer_vocab *v, wf_tokenizer **out) {
    *out = NULL;
    if (!v || !v->tokens || v->n_tokens == 0)
        return wf_error(WF_ERR_INVALID, "tokenizer: empty vocabulary");
    if (v->n_tokens > (1u << 24))
        return wf_error(WF_ERR_INVALID, "tokenizer: %zu tokens is too many", v->n_tokens);
    int32_t ids[] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id, v->sep_id, v->cls_id, v->mask_id};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (ids[i] < -1 || ids[i] >= (int64_t)v->n_tokens)
            return wf_error(WF_ERR_INVALID, "tokenizer: special id %d is outside the %zu tokens",
                            ids[i], v->n_tokens);
    wf_tokenizer *t = tk_new("vocabulary");
    if (!t) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    wf_status st = build(t, v);
    if (st != WF_OK) {
        wf_tokenizer_free(t);
        return st;
    }
    *out = t;
    return WF_OK;
}
