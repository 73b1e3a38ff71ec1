/* Reading the pipeline components of tokenizer.json: "normalizer", "pre_tokenizer",
 * "post_processor" and "decoder", with the field names and defaults of tokenizers' serde
 * definitions (tokenizers/src/{normalizers,pre_tokenizers,processors,decoders}). Unknown or
 * unsupported types and malformed fields are errors naming the JSON path. Normalizer and
 * pre-tokenizer Sequences are flattened into one level. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static wf_status unsupported(const char *where, const tk_path *p, const char *what,
                             const char *type) {
    return wf_error(WF_ERR_UNSUPPORTED, "%s: %s: %s type \"%s\" is not supported", where,
                    p->s[0] ? p->s : "(top level)", what, type);
}

/* {"String": s} or {"Regex": r} (SplitPattern / ReplacePattern) */
static wf_status parse_pattern(const char *where, const tk_path *p, const cJSON *obj,
                               tk_pattern *out) {
    tk_path pp = tk_path_key(p, "pattern");
    const cJSON *j = tk_jget(obj, "pattern");
    const char *s;
    size_t n;
    if (j && cJSON_IsObject(j) && tk_jget(j, "String")) {
        WF_TRY(tk_jstr(where, &pp, j, "String", true, &s, &n));
        return tk_pattern_literal(out, s, n);
    }
    if (j && cJSON_IsObject(j) && tk_jget(j, "Regex")) {
        WF_TRY(tk_jstr(where, &pp, j, "Regex", true, &s, &n));
        tk_path rp = tk_path_key(&pp, "Regex");
        return tk_pattern_regex(out, s, n, where, rp.s);
    }
    return tk_jerr(where, &pp, "expected {\"String\": ...} or {\"Regex\": ...}");
}

static wf_status parse_behavior(const char *where, const tk_path *p, const cJSON *obj,
                                tk_behavior def, tk_behavior *out) {
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
    const char *s;
    size_t n;
    WF_TRY(tk_jstr(where, p, obj, "behavior", false, &s, &n));
    *out = def;
    if (!s) return WF_OK;
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) return *out = (tk_behavior)i, WF_OK;
    tk_path bp = tk_path_key(p, "behavior");
    return tk_jerr(where, &bp, "expected Removed, Isolated, MergedWithPrevious, MergedWithNext "
                   "or Contiguous, not \"%s\"", s);
}

static wf_status parse_prepend(const char *where, const tk_path *p, const cJSON *obj,
                               tk_prepend *out) {
    const char *s;
    size_t n;
    WF_TRY(tk_jstr(where, p, obj, "prepend_scheme", false, &s, &n));
    *out = TK_PREPEND_ALWAYS;
    if (s && strcmp(s, "first") == 0) *out = TK_PREPEND_FIRST;
    else if (s && strcmp(s, "never") == 0) *out = TK_PREPEND_NEVER;
    else if (s && strcmp(s, "always") != 0) {
        tk_path q = tk_path_key(p, "prepend_scheme");
        return tk_jerr(where, &q, "expected \"always\", \"first\" or \"never\", not \"%s\"", s);
    }
    bool aps; /* legacy add_prefix_space: false means never */
    if (tk_jget(obj, "add_prefix_space")) {
        WF_TRY(tk_jbool(where, p, obj, "add_prefix_space", true, &aps));
        if (!aps) {
            if (s && *out != TK_PREPEND_NEVER) {
                tk_path q = tk_path_key(p, "add_prefix_space");
                return tk_jerr(where, &q, "false contradicts prepend_scheme \"%s\"", s);
            }
            *out = TK_PREPEND_NEVER;
        }
    }
    return WF_OK;
}

/* The array under key (required), for Sequences. */
static wf_status get_array(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                           const cJSON **out) {
    *out = tk_jget(obj, key);
    if (!*out || !cJSON_IsArray(*out)) {
        tk_path q = tk_path_key(p, key);
        return tk_jerr(where, &q, "expected an array");
    }
    return WF_OK;
}

/* ---- normalizers ---- */

static wf_status norm_append(tk_norm *seq, tk_norm *item) {
    if (item->type == TK_NORM_SEQUENCE) { /* flatten */
        for (size_t i = 0; i < item->n_items; i++) {
            wf_status st = norm_append(seq, item->items[i]);
            if (st != WF_OK) {
                /* items[i] was freed by the failed call; free the ones after it */
                for (size_t k = i + 1; k < item->n_items; k++) tk_norm_free(item->items[k]);
                free(item->items);
                free(item);
                return st;
            }
        }
        free(item->items);
        free(item);
        return WF_OK;
    }
    size_t cap = seq->n_items;
    wf_status st = tk_grow((void **)&seq->items, &cap, seq->n_items + 1, sizeof *seq->items);
    if (st != WF_OK) {
        tk_norm_free(item);
        return st;
    }
    seq->items[seq->n_items++] = item;
    return WF_OK;
}

static wf_status norm_fields(const char *where, const tk_path *p, const cJSON *j,
                             const char *type, int depth, tk_norm *nm) {
    static const struct { const char *name; tk_norm_type t; } simple[] = {
        {"NFC", TK_NORM_NFC}, {"NFD", TK_NORM_NFD}, {"NFKC", TK_NORM_NFKC},
        {"NFKD", TK_NORM_NFKD}, {"Lowercase", TK_NORM_LOWERCASE}, {"Nmt", TK_NORM_NMT},
        {"StripAccents", TK_NORM_STRIP_ACCENTS},
    };
    for (size_t i = 0; i < sizeof simple / sizeof *simple; i++)
        if (strcmp(type, simple[i].name) == 0) return nm->type = simple[i].t, WF_OK;
    if (strcmp(type, "Sequence") == 0) {
        nm->type = TK_NORM_SEQUENCE;
        const cJSON *arr;
        WF_TRY(get_array(where, p, j, "normalizers", &arr));
        tk_path ap = tk_path_key(p, "normalizers");
        size_t i = 0;
        for (const cJSON *c = arr->child; c; c = c->next, i++) {
            tk_path ip = tk_path_index(&ap, i);
            tk_norm *item;
            WF_TRY(tk_parse_normalizer(where, &ip, c, depth + 1, &item));
            if (!item) return tk_jerr(where, &ip, "expected a normalizer, not null");
            WF_TRY(norm_append(nm, item));
        }
        return WF_OK;
    }
    if (strcmp(type, "BertNormalizer") == 0) {
        nm->type = TK_NORM_BERT;
        WF_TRY(tk_jbool(where, p, j, "clean_text", true, &nm->clean_text));
        WF_TRY(tk_jbool(where, p, j, "handle_chinese_chars", true, &nm->handle_chinese));
        WF_TRY(tk_jbool(where, p, j, "lowercase", true, &nm->lowercase));
        /* strip_accents null follows lowercase */
        return tk_jbool(where, p, j, "strip_accents", nm->lowercase, &nm->strip_accents);
    }
    if (strcmp(type, "Strip") == 0) {
        nm->type = TK_NORM_STRIP;
        WF_TRY(tk_jbool(where, p, j, "strip_left", true, &nm->left));
        return tk_jbool(where, p, j, "strip_right", true, &nm->right);
    }
    if (strcmp(type, "Replace") == 0) {
        nm->type = TK_NORM_REPLACE;
        const char *s;
        size_t n;
        WF_TRY(parse_pattern(where, p, j, &nm->pat));
        WF_TRY(tk_jstr(where, p, j, "content", true, &s, &n));
        return tk_jdup(s, n, &nm->str, &nm->str_len);
    }
    if (strcmp(type, "Prepend") == 0) {
        nm->type = TK_NORM_PREPEND;
        const char *s;
        size_t n;
        WF_TRY(tk_jstr(where, p, j, "prepend", true, &s, &n));
        return tk_jdup(s, n, &nm->str, &nm->str_len);
    }
    return unsupported(where, p, "normalizer", type);
}

wf_status tk_parse_normalizer(const char *where, const tk_path *p, const cJSON *j, int depth,
                              tk_norm **out) {
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return WF_OK;
    if (depth > TK_MAX_DEPTH) return tk_jerr(where, p, "nested more than %d levels", TK_MAX_DEPTH);
    const char *type;
    WF_TRY(tk_jtype(where, p, j, &type));
    tk_norm *nm = calloc(1, sizeof *nm);
    if (!nm) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    wf_status st = norm_fields(where, p, j, type, depth, nm);
    if (st != WF_OK) {
        tk_norm_free(nm);
        return st;
    }
    *out = nm;
    return WF_OK;
}

/* ---- pre-tokenizers ---- */

static wf_status pretok_append(tk_pretok *seq, tk_pretok *item) {
    if (item->type == TK_PT_SEQUENCE) {
        for (size_t i = 0; i < item->n_items; i++) {
            wf_status st = pretok_append(seq, item->items[i]);
            if (st != WF_OK) {
                for (size_t k = i + 1; k < item->n_items; k++) tk_pretok_free(item->items[k]);
                free(item->items);
                free(item);
                return st;
            }
        }
        free(item->items);
        free(item);
        return WF_OK;
    }
    size_t cap = seq->n_items;
    wf_status st = tk_grow((void **)&seq->items, &cap, seq->n_items + 1, sizeof *seq->items);
    if (st != WF_OK) {
        tk_pretok_free(item);
        return st;
    }
    seq->items[seq->n_items++] = item;
    return WF_OK;
}

static wf_status pretok_fields(const char *where, const tk_path *p, const cJSON *j,
                               const char *type, int depth, tk_pretok *pt) {
    if (strcmp(type, "Sequence") == 0) {
        pt->type = TK_PT_SEQUENCE;
        const cJSON *arr;
        WF_TRY(get_array(where, p, j, "pretokenizers", &arr));
        tk_path ap = tk_path_key(p, "pretokenizers");
        size_t i = 0;
        for (const cJSON *c = arr->child; c; c = c->next, i++) {
            tk_path ip = tk_path_index(&ap, i);
            tk_pretok *item;
            WF_TRY(tk_parse_pretok(where, &ip, c, depth + 1, &item));
            if (!item) return tk_jerr(where, &ip, "expected a pre-tokenizer, not null");
            WF_TRY(pretok_append(pt, item));
        }
        return WF_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        pt->type = TK_PT_BYTE_LEVEL;
        WF_TRY(tk_jbool(where, p, j, "add_prefix_space", true, &pt->add_prefix_space));
        return tk_jbool(where, p, j, "use_regex", true, &pt->use_regex);
    }
    if (strcmp(type, "Split") == 0) {
        pt->type = TK_PT_SPLIT;
        WF_TRY(parse_pattern(where, p, j, &pt->pat));
        WF_TRY(parse_behavior(where, p, j, TK_REMOVED, &pt->behavior));
        return tk_jbool(where, p, j, "invert", false, &pt->invert);
    }
    if (strcmp(type, "Digits") == 0) {
        pt->type = TK_PT_DIGITS;
        return tk_jbool(where, p, j, "individual_digits", false, &pt->individual_digits);
    }
    if (strcmp(type, "Punctuation") == 0) {
        pt->type = TK_PT_PUNCTUATION;
        return parse_behavior(where, p, j, TK_ISOLATED, &pt->behavior);
    }
    if (strcmp(type, "Whitespace") == 0) return pt->type = TK_PT_WHITESPACE, WF_OK;
    if (strcmp(type, "WhitespaceSplit") == 0) return pt->type = TK_PT_WHITESPACE_SPLIT, WF_OK;
    if (strcmp(type, "BertPreTokenizer") == 0) return pt->type = TK_PT_BERT, WF_OK;
    if (strcmp(type, "Metaspace") == 0) {
        pt->type = TK_PT_METASPACE;
        WF_TRY(tk_jchar(where, p, j, "replacement", 0x2581, &pt->replacement));
        WF_TRY(parse_prepend(where, p, j, &pt->prepend));
        return tk_jbool(where, p, j, "split", true, &pt->split);
    }
    if (strcmp(type, "CharDelimiterSplit") == 0) {
        pt->type = TK_PT_CHAR_DELIMITER;
        return tk_jchar(where, p, j, "delimiter", ' ', &pt->replacement);
    }
    return unsupported(where, p, "pre-tokenizer", type);
}

wf_status tk_parse_pretok(const char *where, const tk_path *p, const cJSON *j, int depth,
                          tk_pretok **out) {
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return WF_OK;
    if (depth > TK_MAX_DEPTH) return tk_jerr(where, p, "nested more than %d levels", TK_MAX_DEPTH);
    const char *type;
    WF_TRY(tk_jtype(where, p, j, &type));
    tk_pretok *pt = calloc(1, sizeof *pt);
    if (!pt) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    wf_status st = pretok_fields(where, p, j, type, depth, pt);
    if (st != WF_OK) {
        tk_pretok_free(pt);
        return st;
    }
    *out = pt;
    return WF_OK;
}

/* ---- decoders ---- */

static wf_status dec_fields(const char *where, const tk_path *p, const cJSON *j, const char *type,
                            int depth, tk_dec *d) {
    const char *s;
    size_t n;
    if (strcmp(type, "Sequence") == 0) {
        d->type = TK_DEC_SEQUENCE;
        const cJSON *arr;
        WF_TRY(get_array(where, p, j, "decoders", &arr));
        tk_path ap = tk_path_key(p, "decoders");
        size_t count = (size_t)cJSON_GetArraySize(arr), i = 0;
        d->items = calloc(count ? count : 1, sizeof *d->items);
        if (!d->items) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
        for (const cJSON *c = arr->child; c && i < count; c = c->next, i++) {
            tk_path ip = tk_path_index(&ap, i);
            WF_TRY(tk_parse_decoder(where, &ip, c, depth + 1, &d->items[i]));
            if (!d->items[i]) return tk_jerr(where, &ip, "expected a decoder, not null");
            d->n_items = i + 1;
        }
        return WF_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) return d->type = TK_DEC_BYTE_LEVEL, WF_OK;
    if (strcmp(type, "ByteFallback") == 0) return d->type = TK_DEC_BYTE_FALLBACK, WF_OK;
    if (strcmp(type, "Fuse") == 0) return d->type = TK_DEC_FUSE, WF_OK;
    if (strcmp(type, "Metaspace") == 0) {
        d->type = TK_DEC_METASPACE;
        WF_TRY(tk_jchar(where, p, j, "replacement", 0x2581, &d->replacement));
        return parse_prepend(where, p, j, &d->prepend);
    }
    if (strcmp(type, "WordPiece") == 0) {
        d->type = TK_DEC_WORDPIECE;
        WF_TRY(tk_jstr(where, p, j, "prefix", false, &s, &n));
        WF_TRY(tk_jdup(s ? s : "##", s ? n : 2, &d->str, &d->str_len));
        return tk_jbool(where, p, j, "cleanup", true, &d->cleanup);
    }
    if (strcmp(type, "Replace") == 0) {
        d->type = TK_DEC_REPLACE;
        WF_TRY(parse_pattern(where, p, j, &d->pat));
        WF_TRY(tk_jstr(where, p, j, "content", true, &s, &n));
        return tk_jdup(s, n, &d->str, &d->str_len);
    }
    if (strcmp(type, "Strip") == 0) {
        d->type = TK_DEC_STRIP;
        uint64_t a, b;
        WF_TRY(tk_jchar(where, p, j, "content", ' ', &d->content));
        WF_TRY(tk_juint(where, p, j, "start", 0, SIZE_MAX, &a));
        WF_TRY(tk_juint(where, p, j, "stop", 0, SIZE_MAX, &b));
        d->start = (size_t)a, d->stop = (size_t)b;
        return WF_OK;
    }
    if (strcmp(type, "BPEDecoder") == 0) {
        d->type = TK_DEC_BPE;
        WF_TRY(tk_jstr(where, p, j, "suffix", false, &s, &n));
        return tk_jdup(s ? s : "</w>", s ? n : 4, &d->str, &d->str_len);
    }
    return unsupported(where, p, "decoder", type);
}

wf_status tk_parse_decoder(const char *where, const tk_path *p, const cJSON *j, int depth,
                           tk_dec **out) {
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return WF_OK;
    if (depth > TK_MAX_DEPTH) return tk_jerr(where, p, "nested more than %d levels", TK_MAX_DEPTH);
    const char *type;
    WF_TRY(tk_jtype(where, p, j, &type));
    tk_dec *d = calloc(1, sizeof *d);
    if (!d) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    wf_status st = dec_fields(where, p, j, type, depth, d);
    if (st != WF_OK) {
        tk_dec_free(d);
        return st;
    }
    *out = d;
    return WF_OK;
}
