/* The tokenizer of a model (include/weft/tokenizer_model.h): GGUF tokenizer.ggml.* metadata ->
 * wf_tokenizer_from_vocab, or an HF directory's tokenizer.json with special ids from its config
 * files; the model's chat template text; the fingerprint the data cache keys on.
 * GGUF keys: llama.cpp gguf-py/gguf/constants.py (Keys.Tokenizer); the defaults follow
 * transformers' integrations/gguf/gguf_tokenizer_mapping.py, the interop reference. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "weft/hash.h"
#include "weft/json.h"
#include "weft/mapped_file.h"
#include "weft/tokenizer_model.h"

/* An optional integer id; -1 when absent. */
static wf_status opt_id(const wf_gguf *g, const char *key, int32_t *out) {
    *out = -1;
    if (!wf_gguf_find_kv(g, key)) return WF_OK;
    int64_t v;
    WF_TRY(wf_gguf_get_int(g, key, &v));
    if (v < 0 || v > INT32_MAX)
        return wf_error(WF_ERR_FORMAT, "%s: key '%s': id %lld is out of range", wf_gguf_name(g),
                        key, (long long)v);
    *out = (int32_t)v;
    return WF_OK;
}

static wf_status opt_bool(const wf_gguf *g, const char *key, bool def, bool *out) {
    *out = def;
    return wf_gguf_find_kv(g, key) ? wf_gguf_get_bool(g, key, out) : WF_OK;
}

/* Array lengths must match the token count. */
static wf_status check_len(const wf_gguf *g, const char *key, int64_t n, int64_t want) {
    if (n == want) return WF_OK;
    return wf_error(WF_ERR_FORMAT, "%s: key '%s' has %lld entries, expected %lld (one per token)",
                    wf_gguf_name(g), key, (long long)n, (long long)want);
}

static wf_status read_ids(const wf_gguf *g, wf_tokenizer_vocab *v) {
    WF_TRY(opt_id(g, "tokenizer.ggml.bos_token_id", &v->bos_id));
    WF_TRY(opt_id(g, "tokenizer.ggml.eos_token_id", &v->eos_id));
    WF_TRY(opt_id(g, "tokenizer.ggml.unknown_token_id", &v->unk_id));
    WF_TRY(opt_id(g, "tokenizer.ggml.padding_token_id", &v->pad_id));
    WF_TRY(opt_id(g, "tokenizer.ggml.seperator_token_id", &v->sep_id)); /* llama.cpp's spelling */
    WF_TRY(opt_id(g, "tokenizer.ggml.cls_token_id", &v->cls_id));
    WF_TRY(opt_id(g, "tokenizer.ggml.mask_token_id", &v->mask_id));
    int32_t *ids[] = {&v->bos_id, &v->eos_id, &v->unk_id, &v->pad_id,
                      &v->sep_id, &v->cls_id, &v->mask_id};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (*ids[i] >= (int64_t)v->n_tokens)
            return wf_error(WF_ERR_FORMAT, "%s: special token id %d is outside the %zu tokens",
                            wf_gguf_name(g), *ids[i], v->n_tokens);
    return WF_OK;
}

wf_status wf_tokenizer_from_gguf(const wf_gguf *g, wf_tokenizer **out) {
    *out = NULL;
    const char *name = wf_gguf_name(g), *model;
    WF_TRY(wf_gguf_get_str(g, "tokenizer.ggml.model", &model));
    wf_tokenizer_vocab v;
    wf_tokenizer_vocab_init(&v);
    if (!strcmp(model, "gpt2"))
        v.kind = WF_TOK_BYTE_LEVEL_BPE;
    else if (!strcmp(model, "llama"))
        v.kind = WF_TOK_SPM_BPE;
    else
        return wf_error(WF_ERR_UNSUPPORTED,
                        "%s: tokenizer.ggml.model \"%s\" is not supported "
                        "(gpt2: byte-level BPE, llama: SentencePiece BPE)",
                        name, model);
    const char *const *tokens;
    int64_t n, nt = 0, nm = 0;
    WF_TRY(wf_gguf_get_arr_str(g, "tokenizer.ggml.tokens", &tokens, &n));
    if (n == 0) return wf_error(WF_ERR_FORMAT, "%s: tokenizer.ggml.tokens is empty", name);
    v.tokens = tokens;
    v.n_tokens = (size_t)n;
    const int32_t *types = NULL;
    if (wf_gguf_find_kv(g, "tokenizer.ggml.token_type")) {
        WF_TRY(wf_gguf_get_arr_i32(g, "tokenizer.ggml.token_type", &types, &nt));
        WF_TRY(check_len(g, "tokenizer.ggml.token_type", nt, n));
    }
    v.token_types = types;
    if (v.kind == WF_TOK_BYTE_LEVEL_BPE) {
        WF_TRY(wf_gguf_get_arr_str(g, "tokenizer.ggml.merges", &v.merges, &nm));
        v.n_merges = (size_t)nm;
        if (wf_gguf_find_kv(g, "tokenizer.ggml.pre"))
            WF_TRY(wf_gguf_get_str(g, "tokenizer.ggml.pre", &v.pre));
    } else {
        WF_TRY(wf_gguf_get_arr_f32(g, "tokenizer.ggml.scores", &v.scores, &nt));
        WF_TRY(check_len(g, "tokenizer.ggml.scores", nt, n));
    }
    WF_TRY(read_ids(g, &v));
    WF_TRY(opt_bool(g, "tokenizer.ggml.add_bos_token", v.kind == WF_TOK_SPM_BPE, &v.add_bos));
    WF_TRY(opt_bool(g, "tokenizer.ggml.add_eos_token", false, &v.add_eos));
    WF_TRY(opt_bool(g, "tokenizer.ggml.add_space_prefix", true, &v.add_space_prefix));
    /* token strings may hold NUL bytes: pass the lengths the file gives */
    const wf_gguf_kv *kv = wf_gguf_find_kv(g, "tokenizer.ggml.tokens");
    size_t *lens = malloc((size_t)n * sizeof *lens);
    if (!lens) return wf_error(WF_ERR_OOM, "%s: out of memory", name);
    for (int64_t i = 0; i < n; i++) lens[i] = (size_t)kv->lens[i];
    v.token_lens = lens;
    wf_status st = wf_tokenizer_from_vocab(&v, out);
    free(lens);
    if (st != WF_OK) return wf_error(st, "%s: tokenizer metadata: %s", name, wf_last_error());
    return WF_OK;
}

/* ---- Hugging Face directories ---- */

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A tokenizer.json named directly (any *.json). */
static bool is_json(const char *p) {
    size_t n = strlen(p);
    return n >= 5 && !strcmp(p + n - 5, ".json");
}

static wf_status join(const char *dir, const char *name, char *out, size_t cap) {
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
        return wf_error(WF_ERR_INVALID, "%s: path too long", dir);
    return WF_OK;
}

/* tokenizer_config.json's "<x>_token": a string or {"content": ...}; -1 when absent/unknown. */
static int32_t config_token(const wf_tokenizer *tok, const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) return -1;
    return wf_tokenizer_token_to_id(tok, v->valuestring, strlen(v->valuestring));
}

/* config.json's "<x>_token_id": an integer or a list (the first). */
static int32_t config_id(const wf_tokenizer *tok, const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= wf_tokenizer_vocab_size(tok))
        return -1;
    return (int32_t)v->valuedouble;
}

static wf_status refine_specials(wf_tokenizer *tok, const char *dir) {
    static const struct {
        const char *tok_key, *id_key;
        wf_special_kind kind;
    } map[] = {
        {"bos_token", "bos_token_id", WF_SPECIAL_BOS},
        {"eos_token", "eos_token_id", WF_SPECIAL_EOS},
        {"pad_token", "pad_token_id", WF_SPECIAL_PAD},
        {"unk_token", NULL, WF_SPECIAL_UNK},
    };
    char path[4096];
    cJSON *tc = NULL, *cfg = NULL;
    WF_TRY(join(dir, "tokenizer_config.json", path, sizeof path));
    if (exists(path)) WF_TRY(wf_json_load(path, &tc));
    wf_status st = join(dir, "config.json", path, sizeof path);
    if (st == WF_OK && exists(path)) st = wf_json_load(path, &cfg);
    for (size_t i = 0; st == WF_OK && i < sizeof map / sizeof *map; i++) {
        int32_t id = tc ? config_token(tok, tc, map[i].tok_key) : -1;
        if (id < 0 && cfg && map[i].id_key) id = config_id(tok, cfg, map[i].id_key);
        if (id >= 0) st = wf_tokenizer_set_special(tok, map[i].kind, id);
    }
    cJSON_Delete(tc);
    cJSON_Delete(cfg);
    return st;
}

wf_status wf_tokenizer_for_model(const char *model_path, wf_tokenizer **out) {
    *out = NULL;
    if (is_dir(model_path)) {
        char path[4096];
        WF_TRY(join(model_path, "tokenizer.json", path, sizeof path));
        if (!exists(path))
            return wf_error(WF_ERR_IO, "%s: no tokenizer.json in the model directory", model_path);
        WF_TRY(wf_tokenizer_load(path, out));
        wf_status st = refine_specials(*out, model_path);
        if (st != WF_OK) wf_tokenizer_free(*out), *out = NULL;
        return st;
    }
    if (is_json(model_path)) return wf_tokenizer_load(model_path, out);
    wf_gguf *g;
    WF_TRY(wf_gguf_open(model_path, &g));
    wf_status st = wf_tokenizer_from_gguf(g, out);
    wf_gguf_close(g);
    return st;
}

static wf_status hf_chat_template(const char *dir, char **out) {
    char path[4096];
    cJSON *tc = NULL;
    WF_TRY(join(dir, "tokenizer_config.json", path, sizeof path));
    if (exists(path)) WF_TRY(wf_json_load(path, &tc));
    const cJSON *t = tc ? cJSON_GetObjectItemCaseSensitive(tc, "chat_template") : NULL;
    const cJSON *e;
    if (cJSON_IsArray(t)) /* [{"name": "default", "template": ...}, ...] */
        cJSON_ArrayForEach(e, t) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
            if (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default")) {
                t = cJSON_GetObjectItemCaseSensitive(e, "template");
                break;
            }
        }
    if (cJSON_IsString(t)) {
        *out = strdup(t->valuestring);
        cJSON_Delete(tc);
        return *out ? WF_OK : wf_error(WF_ERR_OOM, "%s: out of memory", dir);
    }
    cJSON_Delete(tc);
    WF_TRY(join(dir, "chat_template.jinja", path, sizeof path));
    if (!exists(path)) return WF_OK;
    wf_mapped_file f;
    WF_TRY(wf_file_map(path, &f));
    *out = malloc(f.size + 1);
    if (*out) {
        if (f.size) memcpy(*out, f.data, f.size);
        (*out)[f.size] = 0;
    }
    wf_file_unmap(&f);
    return *out ? WF_OK : wf_error(WF_ERR_OOM, "%s: out of memory", path);
}

wf_status wf_model_chat_template(const char *model_path, char **out) {
    *out = NULL;
    if (is_dir(model_path)) return hf_chat_template(model_path, out);
    wf_gguf *g;
    WF_TRY(wf_gguf_open(model_path, &g));
    const char *t = NULL;
    wf_status st = WF_OK;
    if (wf_gguf_find_kv(g, "tokenizer.chat_template"))
        st = wf_gguf_get_str(g, "tokenizer.chat_template", &t);
    if (st == WF_OK && t && !(*out = strdup(t))) st = wf_error(WF_ERR_OOM, "out of memory");
    wf_gguf_close(g);
    return st;
}

/* ---- fingerprints ---- */

static size_t elem_size(wf_gguf_vtype t) {
    switch (t) {
    case WF_GGUF_U8:
    case WF_GGUF_I8:
    case WF_GGUF_BOOL: return 1;
    case WF_GGUF_U16:
    case WF_GGUF_I16: return 2;
    case WF_GGUF_U32:
    case WF_GGUF_I32:
    case WF_GGUF_F32: return 4;
    default: return 8;
    }
}

static uint64_t gguf_tokenizer_hash(const wf_gguf *g) {
    uint64_t h = 0x746F6B2D67677566ULL;
    for (int64_t i = 0; i < wf_gguf_kv_count(g); i++) {
        const wf_gguf_kv *kv = wf_gguf_kv_at(g, i);
        if (strncmp(kv->key, "tokenizer.", 10) != 0) continue;
        h = wf_hash_combine(h, wf_hash64(kv->key, strlen(kv->key), 1));
        h = wf_hash_combine(h, (uint64_t)kv->elem << 32 | (uint64_t)kv->count);
        if (kv->elem == WF_GGUF_STRING) {
            const char *const *s = kv->vals;
            for (int64_t k = 0; k < kv->count; k++)
                h = wf_hash_combine(h, wf_hash64(s[k], (size_t)kv->lens[k], 2));
        } else {
            h = wf_hash_combine(h, wf_hash64(kv->vals, (size_t)kv->count * elem_size(kv->elem), 3));
        }
    }
    return h;
}

wf_status wf_tokenizer_model_hash(const char *model_path, uint64_t *out) {
    if (!is_dir(model_path) && !is_json(model_path)) {
        wf_gguf *g;
        WF_TRY(wf_gguf_open(model_path, &g));
        *out = gguf_tokenizer_hash(g);
        wf_gguf_close(g);
        return WF_OK;
    }
    static const char *names[] = {"tokenizer.json", "tokenizer_config.json", "config.json"};
    uint64_t h = 0x746F6B2D6A736F6EULL;
    for (int i = 0; i < 3; i++) {
        char path[4096];
        if (is_dir(model_path))
            WF_TRY(join(model_path, names[i], path, sizeof path));
        else if (i == 0)
            snprintf(path, sizeof path, "%s", model_path);
        else
            break;
        if (!exists(path)) continue;
        wf_mapped_file f;
        WF_TRY(wf_file_map(path, &f));
        h = wf_hash_combine(h, (uint64_t)i << 56 | f.size);
        h = wf_hash_combine(h, wf_hash64(f.data, f.size, (uint64_t)i));
        wf_file_unmap(&f);
    }
    *out = h;
    return WF_OK;
}
