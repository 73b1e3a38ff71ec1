/* Loading tokenizer.json (FORMATS.md "tokenizer.json"; tokenizers/src/tokenizer/serialization.rs
 * and models/bpe/serialization.rs): the top level, the model (BPE, WordPiece, WordLevel), the added
 * tokens, and the JSON reading helpers the component readers share. Every malformed field is an
 * error naming the file and the JSON path; the file must be valid UTF-8 JSON. Special ids are
 * inferred at the end (wf_special_ids). */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "weft/mapped_file.h"

/* ---- JSON helpers ---- */

/* Paths longer than tk_path holds are cut short: they only serve messages. */
static void path_cat(tk_path *p, size_t *n, const char *s) {
    while (*s && *n + 1 < sizeof p->s) p->s[(*n)++] = *s++;
    p->s[*n] = 0;
}

tk_path tk_path_key(const tk_path *base, const char *key) {
    tk_path p = {{0}};
    size_t n = 0;
    if (base && base->s[0]) {
        path_cat(&p, &n, base->s);
        path_cat(&p, &n, ".");
    }
    path_cat(&p, &n, key);
    return p;
}

tk_path tk_path_index(const tk_path *base, size_t i) {
    tk_path p = {{0}};
    size_t n = 0;
    char num[32];
    snprintf(num, sizeof num, "[%zu]", i);
    if (base) path_cat(&p, &n, base->s);
    path_cat(&p, &n, num);
    return p;
}

wf_status tk_jerr(const char *where, const tk_path *p, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return wf_error(WF_ERR_FORMAT, "%s: %s: %s", where, p && p->s[0] ? p->s : "(top level)", msg);
}

const cJSON *tk_jget(const cJSON *obj, const char *key) {
    const cJSON *j = obj && cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return j && !cJSON_IsNull(j) ? j : NULL;
}

wf_status tk_jbool(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                   bool def, bool *out) {
    const cJSON *j = tk_jget(obj, key);
    *out = def;
    if (!j) return WF_OK;
    if (!cJSON_IsBool(j)) {
        tk_path q = tk_path_key(p, key);
        return tk_jerr(where, &q, "expected true or false");
    }
    *out = cJSON_IsTrue(j);
    return WF_OK;
}

wf_status tk_jstr(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                  bool required, const char **s, size_t *len) {
    const cJSON *j = tk_jget(obj, key);
    *s = NULL;
    *len = 0;
    tk_path q = tk_path_key(p, key);
    if (!j) return required ? tk_jerr(where, &q, "expected a string") : WF_OK;
    if (!cJSON_IsString(j) || !j->valuestring) return tk_jerr(where, &q, "expected a string");
    *s = j->valuestring;
    *len = strlen(j->valuestring);
    return WF_OK;
}

wf_status tk_juint(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                   uint64_t def, uint64_t max, uint64_t *out) {
    const cJSON *j = tk_jget(obj, key);
    *out = def;
    if (!j) return WF_OK;
    double d = cJSON_IsNumber(j) ? j->valuedouble : -1;
    if (!(d >= 0 && d <= (double)max && d <= 9007199254740992.0 && d == (double)(uint64_t)d)) {
        tk_path q = tk_path_key(p, key);
        return tk_jerr(where, &q, "expected an integer in [0, %llu]", (unsigned long long)max);
    }
    *out = (uint64_t)d;
    return WF_OK;
}

wf_status tk_jchar(const char *where, const tk_path *p, const cJSON *obj, const char *key,
                   uint32_t def, uint32_t *out) {
    const char *s;
    size_t n, k;
    WF_TRY(tk_jstr(where, p, obj, key, false, &s, &n));
    *out = def;
    if (!s) return WF_OK;
    if (n == 0 || tk_utf8_len((unsigned char)s[0]) != n) {
        tk_path q = tk_path_key(p, key);
        return tk_jerr(where, &q, "expected a single character, not \"%s\"", s);
    }
    *out = tk_utf8_next(s, &k);
    return WF_OK;
}

wf_status tk_jtype(const char *where, const tk_path *p, const cJSON *obj, const char **type) {
    size_t n;
    if (!cJSON_IsObject(obj)) return tk_jerr(where, p, "expected an object");
    WF_TRY(tk_jstr(where, p, obj, "type", true, type, &n));
    return WF_OK;
}

wf_status tk_jdup(const char *s, size_t n, char **out, size_t *out_len) {
    free(*out);
    *out = tk_strndup(s, n);
    if (out_len) *out_len = n;
    return *out ? WF_OK : wf_error(WF_ERR_OOM, "tokenizer: out of memory");
}

/* ---- the model ---- */

static wf_status parse_vocab(const char *where, const tk_path *mp, const cJSON *model,
                             tk_vocab *v) {
    tk_path vp = tk_path_key(mp, "vocab");
    const cJSON *vocab = tk_jget(model, "vocab");
    if (!vocab || !cJSON_IsObject(vocab)) return tk_jerr(where, &vp, "expected an object");
    for (const cJSON *c = vocab->child; c; c = c->next) {
        double d = cJSON_IsNumber(c) ? c->valuedouble : -1;
        if (!(d >= 0 && d <= 16777215.0 && d == (double)(uint32_t)d)) {
            tk_path q = tk_path_key(&vp, c->string ? c->string : "");
            return tk_jerr(where, &q, "expected an integer id in [0, 16777215]");
        }
        WF_TRY(tk_vocab_add(v, c->string, strlen(c->string), (uint32_t)d, NULL));
    }
    return WF_OK;
}

static wf_status parse_merges(const char *where, const tk_path *mp, const cJSON *model,
                              tk_model *m) {
    tk_path gp = tk_path_key(mp, "merges");
    const cJSON *merges = tk_jget(model, "merges");
    if (!merges) merges = NULL;
    else if (!cJSON_IsArray(merges)) return tk_jerr(where, &gp, "expected an array");
    size_t n = merges ? (size_t)cJSON_GetArraySize(merges) : 0, i = 0;
    WF_TRY(tk_bpe_build_merges(m, n));
    for (const cJSON *c = merges ? merges->child : NULL; c && i < n; c = c->next, i++) {
        const char *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        if (cJSON_IsString(c)) { /* "a b": exactly one space (convert_merges_to_hashmap) */
            const char *s = c->valuestring, *sp = strchr(s, ' ');
            if (sp && !strchr(sp + 1, ' ')) a = s, al = (size_t)(sp - s), b = sp + 1, bl = strlen(b);
        } else if (cJSON_IsArray(c) && cJSON_GetArraySize(c) == 2 && cJSON_IsString(c->child) &&
                   cJSON_IsString(c->child->next)) {
            a = c->child->valuestring, b = c->child->next->valuestring;
            al = strlen(a), bl = strlen(b);
        }
        if (!a) {
            tk_path ip = tk_path_index(&gp, i);
            return tk_jerr(where, &ip, "expected \"a b\" or [\"a\",\"b\"]");
        }
        WF_TRY(tk_bpe_add_merge(m, where, i, a, al, b, bl));
    }
    return WF_OK;
}

static wf_status parse_model(const char *where, const cJSON *j, tk_model *m) {
    tk_path mp = {"model"};
    const char *type, *s;
    size_t n;
    WF_TRY(tk_jtype(where, &mp, j, &type));
    if (strcmp(type, "BPE") == 0) m->type = TK_MODEL_BPE;
    else if (strcmp(type, "WordPiece") == 0) m->type = TK_MODEL_WORDPIECE;
    else if (strcmp(type, "WordLevel") == 0) m->type = TK_MODEL_WORDLEVEL;
    else
        return wf_error(WF_ERR_UNSUPPORTED, "%s: model.type: model \"%s\" is not supported "
                        "(BPE, WordPiece, WordLevel)", where, type);
    WF_TRY(parse_vocab(where, &mp, j, &m->vocab));
    const char *unk_def = m->type == TK_MODEL_BPE ? NULL : "[UNK]";
    WF_TRY(tk_jstr(where, &mp, j, "unk_token", false, &s, &n));
    if (s || unk_def) WF_TRY(tk_jdup(s ? s : unk_def, s ? n : strlen(unk_def), &m->unk, &m->unk_len));
    if (m->type == TK_MODEL_WORDPIECE) {
        uint64_t mc;
        WF_TRY(tk_jstr(where, &mp, j, "continuing_subword_prefix", false, &s, &n));
        WF_TRY(tk_jdup(s ? s : "##", s ? n : 2, &m->prefix, &m->prefix_len));
        WF_TRY(tk_juint(where, &mp, j, "max_input_chars_per_word", 100, SIZE_MAX, &mc));
        m->max_chars = (size_t)mc;
        return tk_model_finish(m);
    }
    if (m->type == TK_MODEL_WORDLEVEL) return tk_model_finish(m);
    const cJSON *drop = tk_jget(j, "dropout");
    if (drop && !(cJSON_IsNumber(drop) && drop->valuedouble == 0.0))
        return wf_error(WF_ERR_UNSUPPORTED, "%s: model.dropout: only null or 0 is supported "
                        "(dropout makes encoding random)", where);
    WF_TRY(tk_jstr(where, &mp, j, "continuing_subword_prefix", false, &s, &n));
    if (s) WF_TRY(tk_jdup(s, n, &m->prefix, &m->prefix_len));
    WF_TRY(tk_jstr(where, &mp, j, "end_of_word_suffix", false, &s, &n));
    if (s) WF_TRY(tk_jdup(s, n, &m->suffix, &m->suffix_len));
    WF_TRY(tk_jbool(where, &mp, j, "fuse_unk", false, &m->fuse_unk));
    WF_TRY(tk_jbool(where, &mp, j, "byte_fallback", false, &m->byte_fallback));
    WF_TRY(tk_jbool(where, &mp, j, "ignore_merges", false, &m->ignore_merges));
    WF_TRY(parse_merges(where, &mp, j, m));
    return tk_model_finish(m);
}

/* ---- added tokens ---- */

static wf_status parse_added(const char *where, const cJSON *arr, wf_tokenizer *t) {
    tk_path ap = {"added_tokens"};
    if (!arr) return WF_OK;
    if (!cJSON_IsArray(arr)) return tk_jerr(where, &ap, "expected an array");
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
    tk_added_token *v = calloc(n ? n : 1, sizeof *v);
    if (!v) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    wf_status st = WF_OK;
    for (const cJSON *c = arr->child; st == WF_OK && c && i < n; c = c->next, i++) {
        tk_path ip = tk_path_index(&ap, i);
        const char *s;
        size_t len;
        uint64_t id;
        tk_added_token *k = &v[i];
        if (!cJSON_IsObject(c)) st = tk_jerr(where, &ip, "expected an object");
        if (st == WF_OK) st = tk_jstr(where, &ip, c, "content", true, &s, &len);
        /* the id is checked but not used: tokenizers assigns ids itself (add_tokens) */
        if (st == WF_OK) st = tk_juint(where, &ip, c, "id", 0, UINT32_MAX, &id);
        if (st == WF_OK) st = tk_jbool(where, &ip, c, "special", false, &k->special);
        if (st == WF_OK) st = tk_jbool(where, &ip, c, "single_word", false, &k->single_word);
        if (st == WF_OK) st = tk_jbool(where, &ip, c, "lstrip", false, &k->lstrip);
        if (st == WF_OK) st = tk_jbool(where, &ip, c, "rstrip", false, &k->rstrip);
        if (st == WF_OK) st = tk_jbool(where, &ip, c, "normalized", !k->special, &k->normalized);
        if (st == WF_OK) k->content = (char *)s, k->len = len;
    }
    if (st == WF_OK) st = tk_add_tokens(t, v, n);
    free(v); /* the contents belong to the JSON tree; tk_add_tokens copied them */
    return st;
}

/* ---- special ids ---- */

static int32_t named(const wf_tokenizer *t, const char *const *names) {
    for (; *names; names++) {
        int32_t id = wf_tokenizer_token_to_id(t, *names, strlen(*names));
        if (id >= 0) return id;
    }
    return -1;
}

void tk_infer_specials(wf_tokenizer *t) {
    static const char *const bos[] = {"<|begin_of_text|>", "<s>", "<|startoftext|>", "<bos>",
                                      "[BOS]", NULL};
    static const char *const eos[] = {"<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>",
                                      "[EOS]", NULL};
    static const char *const pad[] = {"<pad>", "[PAD]", "<|pad|>", "<|padding|>", NULL};
    static const char *const unk[] = {"<unk>", "[UNK]", "<|unk|>", NULL};
    static const char *const cls[] = {"[CLS]", "<cls>", NULL};
    static const char *const sep[] = {"[SEP]", "<sep>", NULL};
    static const char *const mask[] = {"[MASK]", "<mask>", NULL};
    wf_special_ids *s = &t->special;
    const tk_post *pp = t->post;
    if (pp && pp->type == TK_POST_SEQUENCE) /* the template inside a Sequence */
        for (size_t i = 0; i < pp->n_items; i++)
            if (pp->items[i]->type != TK_POST_BYTE_LEVEL) pp = pp->items[i];
    if (pp && (pp->type == TK_POST_BERT || pp->type == TK_POST_ROBERTA)) {
        s->cls = pp->cls, s->sep = pp->sep;
        if (pp->type == TK_POST_ROBERTA) s->bos = pp->cls, s->eos = pp->sep;
    } else if (pp && pp->type == TK_POST_TEMPLATE && pp->n_single > 0) {
        int32_t g0 = pp->single[0], g1 = pp->single[pp->n_single - 1];
        bool bert = named(t, cls) >= 0;
        if (g0 >= 0 && pp->group_len[g0] > 0) *(bert ? &s->cls : &s->bos) = pp->groups[g0][0];
        if (g1 >= 0 && pp->group_len[g1] > 0)
            *(bert ? &s->sep : &s->eos) = pp->groups[g1][pp->group_len[g1] - 1];
    }
    if (t->model.unk) s->unk = wf_tokenizer_token_to_id(t, t->model.unk, t->model.unk_len);
    int32_t *f[] = {&s->bos, &s->eos, &s->pad, &s->unk, &s->cls, &s->sep, &s->mask};
    const char *const *names[] = {bos, eos, pad, unk, cls, sep, mask};
    for (int i = 0; i < 7; i++)
        if (*f[i] < 0) *f[i] = named(t, names[i]);
}

/* ---- top level ---- */

static wf_status parse_root(wf_tokenizer *t, const cJSON *root) {
    const char *where = t->name, *ver;
    size_t n;
    tk_path top = {""};
    if (!cJSON_IsObject(root)) return tk_jerr(where, &top, "expected a JSON object");
    WF_TRY(tk_jstr(where, &top, root, "version", false, &ver, &n));
    if (ver && strcmp(ver, "1.0") != 0) {
        tk_path vp = {"version"};
        return tk_jerr(where, &vp, "unknown tokenizer version \"%s\" (expected \"1.0\")", ver);
    }
    const cJSON *model = tk_jget(root, "model");
    if (!model) {
        tk_path mp = {"model"};
        return tk_jerr(where, &mp, "missing");
    }
    WF_TRY(parse_model(where, model, &t->model));
    tk_path np = {"normalizer"}, pp = {"pre_tokenizer"}, op = {"post_processor"}, dp = {"decoder"};
    WF_TRY(tk_parse_normalizer(where, &np, tk_jget(root, "normalizer"), 0, &t->normalizer));
    WF_TRY(tk_parse_pretok(where, &pp, tk_jget(root, "pre_tokenizer"), 0, &t->pretok));
    WF_TRY(tk_parse_post(where, &op, tk_jget(root, "post_processor"), 0, &t->post));
    WF_TRY(tk_parse_decoder(where, &dp, tk_jget(root, "decoder"), 0, &t->decoder));
    /* after the normalizer: normalized added tokens are matched in normalized form */
    WF_TRY(parse_added(where, tk_jget(root, "added_tokens"), t));
    tk_infer_specials(t);
    return WF_OK;
}

wf_status wf_tokenizer_load_json(const char *json, size_t len, const char *name,
                                 wf_tokenizer **out) {
    *out = NULL;
    if (!name) name = "tokenizer.json";
    if (!json && len) return wf_error(WF_ERR_INVALID, "%s: NULL text", name);
    size_t bad = tk_utf8_check(json, len);
    if (bad != len)
        return wf_error(WF_ERR_FORMAT, "%s: not valid UTF-8 at byte %zu", name, bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json ? json : "", len, &end, false);
    if (!root) {
        size_t at = end && json && end >= json ? (size_t)(end - json) : 0;
        const char *e = cJSON_GetErrorPtr();
        if (e && json && e >= json && e <= json + len) at = (size_t)(e - json);
        return wf_error(WF_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", name, at);
    }
    wf_tokenizer *t = tk_new(name);
    wf_status st = t ? parse_root(t, root) : wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    cJSON_Delete(root);
    if (st != WF_OK) {
        wf_tokenizer_free(t);
        return st;
    }
    *out = t;
    return WF_OK;
}

wf_status wf_tokenizer_load(const char *path, wf_tokenizer **out) {
    *out = NULL;
    wf_mapped_file f;
    WF_TRY(wf_file_map(path, &f));
    wf_status st = wf_tokenizer_load_json((const char *)f.data, f.size, path, out);
    wf_file_unmap(&f);
    return st;
}
