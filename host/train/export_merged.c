/* Merged model export (export.h): the weight plan (weights.c) walked backwards. Each slot's
 * tensor is read (trained ones from the fp32 master), LoRA is merged in HF Linear layout
 * (W' = W + s B A, MATH.md "Merge for export"; for GPT-2's Conv1D that is the transpose of the
 * stored [in, out] merge) and IA3 vectors scale rows (and the bias) or columns (feed-forward) as
 * PEFT's IA3 merge does, the load transform is undone, and the result is streamed into
 * model.safetensors one tensor at a time. config.json and the tokenizer files come from the
 * source directory, or config.json is generated from the architecture of a GGUF source. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outdir.h"
#include "weft/export.h"
#include "weft/json.h"
#include "weft/safetensors.h"

/* One tensor of the output file. */
typedef struct out_tensor {
    char name[192];
    int ndim;
    int64_t shape[4];
    int slot;   /* the slot it comes from (for fused c_attn: the q part; k and v follow) */
    int slot_k, slot_v;
    int64_t numel;
} out_tensor;

typedef struct merger {
    const wf_model *m;
    const wf_trainable *t;
    out_tensor *out;
    int n;
    wf_dtype dtype;      /* what the file holds */
    int64_t biggest;     /* elements of the largest output tensor */
    float *lin, *hf;     /* (biggest) the tensor in weft's layout, then in HF's */
    void *bytes;         /* (biggest) the tensor in the file's dtype */
    int64_t ready;       /* output tensor whose bytes are in `bytes`, or -1 */
} merger;

static const wf_param *param_of(const wf_trainable *t, const wf_tensor *w) {
    for (int i = 0; t && i < t->n_params; i++)
        if (t->params[i].weight == w) return &t->params[i];
    return NULL;
}

/* fp32 values of a weight: the master copy when it trains, else its backend data widened. */
static wf_status read_values(const merger *g, const wf_tensor *w, float *dst) {
    wf_backend *be = g->m->be;
    int64_t n = wf_tensor_numel(w);
    const wf_param *p = param_of(g->t, w);
    if (p) {
        const float *src = (const float *)g->t->p.data + p->offset;
        WF_TRY(be->copy(be, dst, src, (size_t)n * sizeof *dst, WF_COPY_D2H));
        return be->sync(be);
    }
    WF_TRY(be->copy(be, dst, w->data, (size_t)n * wf_dtype_size(w->dtype), WF_COPY_D2H));
    WF_TRY(be->sync(be));
    if (w->dtype != WF_F32) /* widen in place, from the back */
        for (int64_t i = n - 1; i >= 0; i--) dst[i] = wf_load_f32(dst, w->dtype, (size_t)i);
    return WF_OK;
}

/* The (layer, site) whose weight is `w`, if any. */
static bool site_of(const wf_model *m, const wf_tensor *w, int64_t *layer, wf_site *site) {
    wf_weights *ws = (wf_weights *)&m->w; /* wf_model_site_weight only computes an address */
    for (int64_t l = 0; l < m->arch.n_layers; l++)
        for (int s = 0; s < WF_N_SITES; s++)
            if (wf_model_site_weight(ws, l, (wf_site)s) == w) {
                *layer = l, *site = (wf_site)s;
                return true;
            }
    return false;
}

/* DoRA (peft's merge): W' = (mag / ||W'||_row) W' for W' = W + scale B A already in W. */
static wf_status merge_dora(const merger *g, const wf_param *pm, float *W, int64_t M, int64_t K) {
    WF_ASSERT(pm->numel == M);
    float *mag = malloc((size_t)M * sizeof *mag);
    if (!mag) return wf_error(WF_ERR_OOM, "merge: out of host memory");
    wf_status st = read_values(g, pm->weight, mag);
    for (int64_t i = 0; st == WF_OK && i < M; i++) {
        double ss = 0;
        for (int64_t k = 0; k < K; k++) ss += (double)W[i * K + k] * W[i * K + k];
        float f = mag[i] / (float)sqrt(ss);
        for (int64_t k = 0; k < K; k++) W[i * K + k] *= f;
    }
    free(mag);
    return st;
}

/* W (M, K) += scale * B (M, r) A (r, K) for the adapter on the slot's site, if it has one. The
 * product is summed over r first and then scaled, as PEFT's get_delta_weight does. */
static wf_status merge_lora(const merger *g, const wf_tensor *w, float *W, int64_t M, int64_t K) {
    const wf_model *m = g->m;
    int64_t l;
    wf_site s;
    if (!m->lora || !g->t || !site_of(m, w, &l, &s)) return WF_OK;
    bool fused = m->arch.family == WF_FAMILY_GPT2 && s <= WF_SITE_V; /* c_attn: Q owns A, B */
    int64_t owner = l * WF_N_SITES + (fused ? WF_SITE_Q : s);
    const wf_lora_adapter *ad = &m->lora[owner];
    if (ad->scale == 0) return WF_OK;
    const wf_param *pa = param_of(g->t, &g->t->lora_t[3 * owner]);
    const wf_param *pb = param_of(g->t, &g->t->lora_t[3 * owner + 1]);
    const wf_param *pm = param_of(g->t, &g->t->lora_t[3 * owner + 2]); /* DoRA magnitude, or NULL */
    WF_ASSERT(pa && pb);
    int64_t r = pa->weight->shape[0];
    WF_ASSERT(pa->weight->shape[1] == K && pb->weight->shape[0] == M && pb->weight->shape[1] == r);
    float *A = malloc((size_t)(r * K + M * r) * sizeof *A);
    if (!A) return wf_error(WF_ERR_OOM, "merge: out of host memory");
    float *B = A + r * K;
    wf_status st = read_values(g, pa->weight, A);
    if (st == WF_OK) st = read_values(g, pb->weight, B);
    float scale = ad->scale;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = 0; k < K; k++) {
            float acc = 0;
            for (int64_t j = 0; j < r; j++) acc += B[i * r + j] * A[j * K + k];
            W[i * K + k] += scale * acc;
        }
    free(A);
    if (st == WF_OK && pm) st = merge_dora(g, pm, W, M, K);
    return st;
}

/* The (layer, site) whose bias is `b`, if any. */
static bool bias_site_of(const wf_model *m, const wf_tensor *b, int64_t *layer, wf_site *site) {
    wf_weights *ws = (wf_weights *)&m->w;
    for (int64_t l = 0; l < m->arch.n_layers; l++)
        for (int s = 0; s < WF_N_SITES; s++)
            if (wf_model_site_bias(ws, l, (wf_site)s) == b) {
                *layer = l, *site = (wf_site)s;
                return true;
            }
    return false;
}

/* IA3 merged as PEFT's IA3 Linear.merge: W (M, K) *= l along its rows (output scaling, and the
 * bias too: then K = 1) or along its columns (feed-forward: input scaling; bias untouched). */
static wf_status merge_ia3(const merger *g, const wf_tensor *w, float *W, int64_t M, int64_t K, bool bias) {
    const wf_model *m = g->m;
    int64_t l;
    wf_site s;
    if (!m->ia3 || !g->t || !(bias ? bias_site_of(m, w, &l, &s) : site_of(m, w, &l, &s))) return WF_OK;
    bool fused = m->arch.family == WF_FAMILY_GPT2 && s <= WF_SITE_V; /* c_attn: Q owns the vector */
    int64_t owner = l * WF_N_SITES + (fused ? WF_SITE_Q : s);
    const wf_ia3_vec *iv = &m->ia3[owner];
    if (iv->l.ndim == 0 || (bias && iv->ff)) return WF_OK;
    const wf_param *p = param_of(g->t, &g->t->ia3_t[owner]);
    WF_ASSERT(p && p->numel == (iv->ff ? K : M));
    float *v = malloc((size_t)p->numel * sizeof *v);
    if (!v) return wf_error(WF_ERR_OOM, "merge: out of host memory");
    wf_status st = read_values(g, p->weight, v);
    for (int64_t i = 0; st == WF_OK && i < M; i++)
        for (int64_t k = 0; k < K; k++) W[i * K + k] *= v[iv->ff ? k : i];
    free(v);
    return st;
}

/* Both adapters' merges of a 2-D weight (LoRA and IA3 never share a site). */
static wf_status merge_all(const merger *g, const wf_tensor *w, float *W, int64_t M, int64_t K) {
    WF_TRY(merge_lora(g, w, W, M, K));
    return merge_ia3(g, w, W, M, K, false);
}

/* dst (c, r) = src (r, c)^T */
static void transpose(float *dst, const float *src, int64_t r, int64_t c) {
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) dst[j * r + i] = src[i * c + j];
}

/* Output tensor i in fp32, HF layout, into g->hf. */
static wf_status produce(merger *g, int64_t i) {
    const out_tensor *o = &g->out[i];
    const wf_slot *sl = &g->m->slots[o->slot];
    const wf_tensor *d = sl->dst;
    int64_t rows = d->ndim == 2 ? d->shape[0] : 1, cols = d->shape[d->ndim == 2 ? 1 : 0];
    switch (sl->xform) {
    case WF_XFORM_NONE: case WF_XFORM_FLATTEN:
        WF_TRY(read_values(g, d, g->hf));
        return d->ndim == 2 ? merge_all(g, d, g->hf, rows, cols) : merge_ia3(g, d, g->hf, cols, 1, true);
    case WF_XFORM_TRANSPOSE: /* Conv1D: merge as Linear (out, in), store [in, out] */
        WF_TRY(read_values(g, d, g->lin));
        WF_TRY(merge_all(g, d, g->lin, rows, cols));
        transpose(g->hf, g->lin, rows, cols);
        return WF_OK;
    case WF_XFORM_QKV_Q: { /* c_attn: q | k | v rows (Linear layout), one adapter over all 3C */
        int parts[3] = {o->slot, o->slot_k, o->slot_v};
        int64_t n = rows * cols;
        for (int k = 0; k < 3; k++) WF_TRY(read_values(g, g->m->slots[parts[k]].dst, g->lin + k * n));
        if (d->ndim == 1) {
            memcpy(g->hf, g->lin, (size_t)(3 * n) * sizeof *g->hf);
            return merge_ia3(g, d, g->hf, 3 * n, 1, true);
        }
        WF_TRY(merge_all(g, d, g->lin, 3 * rows, cols));
        transpose(g->hf, g->lin, 3 * rows, cols);
        return WF_OK;
    }
    case WF_XFORM_QKV_K: case WF_XFORM_QKV_V: break;
    }
    WF_ASSERT(!"k/v parts of c_attn are written with q");
    return WF_ERR_INVALID;
}

static wf_status fill(void *ctx, int64_t i, void *dst, uint64_t offset, size_t bytes) {
    merger *g = ctx;
    if (g->ready != i) {
        g->ready = -1;
        WF_TRY(produce(g, i));
        int64_t n = g->out[i].numel;
        if (g->dtype == WF_F32) memcpy(g->bytes, g->hf, (size_t)n * sizeof(float));
        else
            for (int64_t k = 0; k < n; k++) wf_store_f32(g->bytes, g->dtype, (size_t)k, g->hf[k]);
        g->ready = i;
    }
    memcpy(dst, (const char *)g->bytes + offset, bytes);
    return WF_OK;
}

/* The next slot after `from` with the same checkpoint name and transform x (c_attn's k, v). */
static int find_part(const wf_model *m, int from, wf_slot_xform x) {
    for (int i = from + 1; i < m->n_slots; i++)
        if (m->slots[i].xform == x && strcmp(m->slots[i].name, m->slots[from].name) == 0) return i;
    WF_ASSERT(!"c_attn part missing from the plan");
    return -1;
}

/* The HF shape of a slot's tensor (the inverse of its load transform). */
static void hf_shape(const wf_model *m, const wf_slot *s, out_tensor *o) {
    const wf_tensor *d = s->dst;
    const wf_arch *a = &m->arch;
    o->ndim = d->ndim;
    memcpy(o->shape, d->shape, sizeof o->shape);
    if (s->xform == WF_XFORM_TRANSPOSE) {
        o->shape[0] = d->shape[1], o->shape[1] = d->shape[0];
    } else if (s->xform == WF_XFORM_QKV_Q) {
        if (d->ndim == 1) o->shape[0] = 3 * d->shape[0];
        else o->shape[0] = d->shape[1], o->shape[1] = 3 * d->shape[0];
    } else if (s->xform == WF_XFORM_FLATTEN) {
        if (d == &m->w.patch_w) { /* conv weight (C, ch, P, P) */
            o->ndim = 4;
            o->shape[0] = d->shape[0], o->shape[1] = a->channels;
            o->shape[2] = o->shape[3] = a->patch_size;
        } else { /* cls token (C) -> [1, 1, C]; positions (S, C) -> [1, S, C] */
            o->ndim = 3;
            o->shape[0] = 1, o->shape[1] = d->ndim == 1 ? 1 : d->shape[0];
            o->shape[2] = d->shape[d->ndim - 1];
        }
    }
    o->numel = 1;
    for (int k = 0; k < o->ndim; k++) o->numel *= o->shape[k];
}

/* One output tensor per checkpoint tensor the model has (absent optional slots and the k/v
 * parts of c_attn produce none). Names carry the base-model prefix when the model has a head. */
static wf_status plan_outputs(merger *g) {
    const wf_model *m = g->m;
    g->out = calloc((size_t)m->n_slots + 1, sizeof *g->out);
    if (!g->out) return wf_error(WF_ERR_OOM, "merge: out of memory");
    for (int i = 0; i < m->n_slots; i++) {
        const wf_slot *s = &m->slots[i];
        if (!s->dst->data || s->xform == WF_XFORM_QKV_K || s->xform == WF_XFORM_QKV_V) continue;
        out_tensor *o = &g->out[g->n++];
        bool pre = !s->top_level && m->arch.head != WF_HEAD_NONE;
        snprintf(o->name, sizeof o->name, "%s%s", pre ? m->prefix : "", s->name);
        o->slot = i;
        if (s->xform == WF_XFORM_QKV_Q)
            o->slot_k = find_part(m, i, WF_XFORM_QKV_K), o->slot_v = find_part(m, i, WF_XFORM_QKV_V);
        hf_shape(m, s, o);
        if (o->numel > g->biggest) g->biggest = o->numel;
    }
    g->lin = malloc((size_t)g->biggest * sizeof(float) + 4);
    g->hf = malloc((size_t)g->biggest * sizeof(float) + 4);
    g->bytes = malloc((size_t)g->biggest * sizeof(float) + 4);
    if (!g->lin || !g->hf || !g->bytes) return wf_error(WF_ERR_OOM, "merge: out of host memory");
    return WF_OK;
}

static wf_st_dtype st_dtype(wf_dtype d) {
    return d == WF_BF16 ? WF_ST_BF16 : d == WF_F16 ? WF_ST_F16 : WF_ST_F32;
}

static const char *torch_dtype(wf_dtype d) {
    return d == WF_BF16 ? "bfloat16" : d == WF_F16 ? "float16" : "float32";
}

static wf_status write_weights(const wf_model *m, const wf_trainable *t, const char *path) {
    merger g = {.m = m, .t = t, .dtype = m->dtype, .ready = -1};
    wf_st_entry *e = NULL;
    wf_status s = plan_outputs(&g);
    if (s == WF_OK && !(e = calloc((size_t)g.n + 1, sizeof *e))) s = wf_error(WF_ERR_OOM, "merge: out of memory");
    for (int i = 0; s == WF_OK && i < g.n; i++)
        e[i] = (wf_st_entry){g.out[i].name, st_dtype(g.dtype), g.out[i].ndim, g.out[i].shape, NULL};
    if (s == WF_OK) s = wf_st_write_stream(path, e, g.n, NULL, 0, fill, &g);
    free(e), free(g.out), free(g.lin), free(g.hf), free(g.bytes);
    return s;
}

/* A minimal config.json transformers reads as LlamaConfig / Qwen2Config (GGUF sources). RoPE
 * is written both as v4's "rope_theta" and v5's "rope_parameters". */
static cJSON *config_from_arch(const wf_arch *a, wf_dtype dt) {
    bool qwen2 = strcmp(a->model_type, "qwen2") == 0;
    cJSON *o = cJSON_CreateObject(), *arch = cJSON_CreateArray(), *rope = cJSON_CreateObject();
    cJSON_AddItemToArray(arch, cJSON_CreateString(qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    cJSON_AddItemToObject(o, "architectures", arch);
    if (!qwen2) cJSON_AddBoolToObject(o, "attention_bias", a->qkv_bias);
    if (a->bos_token_id >= 0) cJSON_AddNumberToObject(o, "bos_token_id", a->bos_token_id);
    cJSON_AddStringToObject(o, "dtype", torch_dtype(dt));
    if (a->eos_token_id >= 0) cJSON_AddNumberToObject(o, "eos_token_id", a->eos_token_id);
    cJSON_AddNumberToObject(o, "head_dim", (double)a->head_dim);
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    cJSON_AddNumberToObject(o, "hidden_size", (double)a->hidden);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)a->ffn);
    cJSON_AddNumberToObject(o, "max_position_embeddings", (double)a->max_positions);
    if (!qwen2) cJSON_AddFalseToObject(o, "mlp_bias");
    cJSON_AddStringToObject(o, "model_type", qwen2 ? "qwen2" : "llama");
    cJSON_AddNumberToObject(o, "num_attention_heads", (double)a->n_heads);
    cJSON_AddNumberToObject(o, "num_hidden_layers", (double)a->n_layers);
    cJSON_AddNumberToObject(o, "num_key_value_heads", (double)a->n_kv_heads);
    if (a->pad_token_id >= 0) cJSON_AddNumberToObject(o, "pad_token_id", a->pad_token_id);
    wf_json_add_float(o, "rms_norm_eps", a->norm_eps);
    cJSON_AddNumberToObject(rope, "rope_theta", a->rope_theta);
    cJSON_AddStringToObject(rope, "rope_type", "default");
    cJSON_AddItemToObject(o, "rope_parameters", rope);
    cJSON_AddNumberToObject(o, "rope_theta", a->rope_theta);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", a->tied_embeddings);
    cJSON_AddNumberToObject(o, "vocab_size", (double)a->vocab);
    return o;
}

/* The source's config.json with "dtype" (v5; "torch_dtype" too where present) set to what
 * model.safetensors holds: transformers v5 loads in the config's dtype by default. */
static wf_status config_from_source(const char *src, wf_dtype dt, cJSON **out) {
    char path[WF_PATH_MAX];
    WF_TRY(wf_path_join(path, src, "config.json"));
    WF_TRY(wf_json_load(path, out));
    cJSON *o = *out;
    if (!cJSON_IsObject(o)) return wf_error(WF_ERR_FORMAT, "%s: not a JSON object", path);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "dtype");
    cJSON_AddStringToObject(o, "dtype", torch_dtype(dt));
    if (cJSON_GetObjectItemCaseSensitive(o, "torch_dtype"))
        cJSON_ReplaceItemInObjectCaseSensitive(o, "torch_dtype", cJSON_CreateString(torch_dtype(dt)));
    return WF_OK;
}

/* Tokenizer (and generation) files: copied when the source directory has them. */
static wf_status copy_side_files(const char *src, const char *tmp) {
    static const char *const names[] = {"tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt", "tokenizer.model",
        "added_tokens.json", "chat_template.jinja", "generation_config.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char from[WF_PATH_MAX], to[WF_PATH_MAX];
        WF_TRY(wf_path_join(from, src, names[i]));
        WF_TRY(wf_path_join(to, tmp, names[i]));
        if (wf_path_exists(from)) WF_TRY(wf_file_copy(from, to));
    }
    return WF_OK;
}

static wf_status write_dir(const wf_model *m, const wf_trainable *t, const char *src, const char *tmp) {
    char path[WF_PATH_MAX];
    bool hf_dir = wf_path_is_dir(src);
    cJSON *cfg = NULL;
    if (hf_dir) WF_TRY(config_from_source(src, m->dtype, &cfg));
    else cfg = config_from_arch(&m->arch, m->dtype);
    wf_status s = cfg ? WF_OK : wf_error(WF_ERR_OOM, "merge: out of memory");
    if (s == WF_OK) s = wf_path_join(path, tmp, "model.safetensors");
    if (s == WF_OK) s = write_weights(m, t, path);
    if (s == WF_OK) s = wf_path_join(path, tmp, "config.json");
    if (s == WF_OK) s = wf_json_write(path, cfg);
    if (s == WF_OK && hf_dir) s = copy_side_files(src, tmp);
    cJSON_Delete(cfg);
    return s;
}

wf_status wf_export_merged(const wf_model *m, const wf_trainable *t, const char *src_model_path,
                           const char *dir) {
    if (!src_model_path || !wf_path_exists(src_model_path))
        return wf_error(WF_ERR_INVALID, "merged export to %s: the source model '%s' (for config.json "
                        "and the tokenizer) does not exist", dir, src_model_path ? src_model_path : "(null)");
    if (m->adapters)
        return wf_error(WF_ERR_INVALID, "merged export to %s: Houlsby adapters are nonlinear and cannot "
                        "be merged into the weights; export the adapter", dir);
    if (m->w.prompt.ndim)
        return wf_error(WF_ERR_INVALID, "merged export to %s: a soft prompt (prompt tuning) cannot be "
                        "merged into the weights; export the PEFT adapter", dir);
    if ((m->lora || m->ia3) && !t)
        return wf_error(WF_ERR_INVALID, "merged export to %s: the model carries LoRA/IA3 adapters; "
                        "pass the trainable set that holds them", dir);
    char tmp[WF_PATH_MAX];
    WF_TRY(wf_outdir_begin(dir, tmp));
    wf_status s = write_dir(m, t, src_model_path, tmp);
    if (s != WF_OK) {
        wf_outdir_abort(tmp);
        return s;
    }
    return wf_outdir_commit(tmp, dir);
}
