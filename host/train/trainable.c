/* Trainable-set construction (trainable.h): which weights train under each method, LoRA
 * adapters (PEFT init and target matching), and the flat fp32 buffers every trainable tensor
 * moves into. PEFT facts: ../shared/reference/FORMATS.md "PEFT adapter directory". */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainable_internal.h"
#include "weft/comm.h"
#include "weft/rng.h"
#include "weft/safetensors.h"

#define ALIGN_ELEMS 64 /* each tensor starts 256-byte aligned in the flat buffers */

void wf_peft_spec_default(wf_peft_spec *s) {
    memset(s, 0, sizeof *s);
    s->method = WF_METHOD_LORA;
    s->lora_r = 8, s->lora_alpha = 16, s->lora_dropout = 0;
    s->n_targets = 2;
    snprintf(s->targets[0], sizeof s->targets[0], "q_proj");
    snprintf(s->targets[1], sizeof s->targets[1], "v_proj");
    s->seed = 42;
    s->n_no_decay = 2;
    snprintf(s->no_decay[0], sizeof s->no_decay[0], "bias");
    snprintf(s->no_decay[1], sizeof s->no_decay[1], "norm");
}

/* HF module path (without the head-model prefix) of a block's linear site; NULL if none. */
const char *wf_tr_site_module(wf_family f, wf_site s) {
    static const char *const llama[] = {"layers.%d.self_attn.q_proj", "layers.%d.self_attn.k_proj",
        "layers.%d.self_attn.v_proj", "layers.%d.self_attn.o_proj", "layers.%d.mlp.gate_proj",
        "layers.%d.mlp.up_proj", "layers.%d.mlp.down_proj"};
    static const char *const gpt2[] = {"h.%d.attn.c_attn", "h.%d.attn.c_attn", "h.%d.attn.c_attn",
        "h.%d.attn.c_proj", NULL, "h.%d.mlp.c_fc", "h.%d.mlp.c_proj"};
    static const char *const bert[] = {"encoder.layer.%d.attention.self.query",
        "encoder.layer.%d.attention.self.key", "encoder.layer.%d.attention.self.value",
        "encoder.layer.%d.attention.output.dense", NULL, "encoder.layer.%d.intermediate.dense",
        "encoder.layer.%d.output.dense"};
    static const char *const vit[] = {"encoder.layer.%d.attention.attention.query",
        "encoder.layer.%d.attention.attention.key", "encoder.layer.%d.attention.attention.value",
        "encoder.layer.%d.attention.output.dense", NULL, "encoder.layer.%d.intermediate.dense",
        "encoder.layer.%d.output.dense"};
    const char *const *t = f == WF_FAMILY_LLAMA ? llama : f == WF_FAMILY_GPT2 ? gpt2 : f == WF_FAMILY_BERT ? bert : vit;
    return t[s];
}

/* The PEFT module path of site s in layer l: with the base-model prefix when the model has a
 * head (PEFT wraps the head model), e.g. "model.layers.3.self_attn.q_proj". */
void wf_tr_module_path(const wf_model *m, int64_t l, wf_site s, char *out, size_t cap) {
    const char *fmt = wf_tr_site_module(m->arch.family, s);
    char mod[128];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(mod, sizeof mod, fmt, (int)l);
#pragma GCC diagnostic pop
    snprintf(out, cap, "%s%s", m->arch.head == WF_HEAD_NONE ? "" : m->prefix, mod);
}

bool wf_tr_target_matches(const char (*targets)[64], int n_targets, const char *path) {
    size_t n = strlen(path);
    for (int i = 0; i < n_targets; i++) {
        const char *t = targets[i];
        size_t k = strlen(t);
        if (strcmp(t, "all-linear") == 0) return true;
        if (strcmp(path, t) == 0 || (n > k && path[n - k - 1] == '.' && strcmp(path + n - k, t) == 0))
            return true;
    }
    return false;
}

wf_status wf_tr_push(wf_tr_plist *l, const char *name, wf_tensor *w, int64_t layer, bool decay) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        wf_param *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return wf_error(WF_ERR_OOM, "trainable: out of memory");
        l->v = v, l->cap = cap;
    }
    wf_param *p = &l->v[l->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->weight = w, p->numel = wf_tensor_numel(w), p->layer = layer, p->decay = decay;
    return WF_OK;
}

bool wf_tr_ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* The full HF name of a slot (with the base prefix when the model has a head); the parts of a
 * fused checkpoint tensor (GPT-2 c_attn) get ":q", ":k", ":v". */
static void slot_name(const wf_model *m, const wf_slot *s, char *out, size_t cap) {
    bool pre = !s->top_level && m->arch.head != WF_HEAD_NONE;
    const char *part = s->xform == WF_XFORM_QKV_Q ? ":q" : s->xform == WF_XFORM_QKV_K ? ":k"
                     : s->xform == WF_XFORM_QKV_V ? ":v" : "";
    snprintf(out, cap, "%s%s%s", pre ? m->prefix : "", s->name, part);
}

/* wf_param.layer of model weight w: the block whose wf_layer holds it, n_layers for the final
 * norm and the heads, -1 for the rest (embeddings). Every gradient of block l is written inside
 * that block's backward, before it reports l (backward.c). */
static int64_t ready_layer(const wf_model *m, const wf_tensor *w) {
    const wf_weights *ws = &m->w;
    int64_t L = m->arch.n_layers;
    const wf_tensor *head[] = {&ws->final_g, &ws->final_b, &ws->lm_head, &ws->pooler_w, &ws->pooler_b,
                               &ws->cls_w, &ws->cls_b};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        if (w == head[i]) return L;
    const char *l0 = (const char *)ws->layers, *pw = (const char *)w;
    if (pw >= l0 && pw < l0 + (size_t)L * sizeof(wf_layer)) return (int64_t)((pw - l0) / (ptrdiff_t)sizeof(wf_layer));
    return -1;
}

static bool no_decay_has(const wf_peft_spec *sp, const char *kind) {
    for (int i = 0; i < sp->n_no_decay; i++)
        if (strcmp(sp->no_decay[i], kind) == 0) return true;
    return false;
}

static bool slot_decays(const wf_model *m, const wf_peft_spec *sp, const wf_slot *s) {
    const wf_weights *w = &m->w;
    const wf_tensor *t = s->dst;
    size_t n = strlen(s->name);
    bool bias = (n > 5 && strcmp(s->name + n - 5, ".bias") == 0);
    bool emb = t == &w->tok_emb || t == &w->pos_emb || t == &w->type_emb || t == &w->cls_token;
    bool norm = !bias && t->ndim == 1 && !emb && (strstr(s->name, "norm") || strstr(s->name, "ln_") ||
                                                 strstr(s->name, "LayerNorm") || strstr(s->name, "ln_f"));
    if (bias && no_decay_has(sp, "bias")) return false;
    if (norm && no_decay_has(sp, "norm")) return false;
    if (emb && no_decay_has(sp, "embedding")) return false;
    return true;
}

/* The block index in a slot name ("layers.3.", "h.3.", "layer.3."), or -1. */
static int64_t slot_layer(const char *name) {
    const char *keys[] = {"layers.", "h.", "layer."};
    for (int k = 0; k < 3; k++) {
        const char *p = strstr(name, keys[k]);
        if (p && (p == name || p[-1] == '.')) return strtoll(p + strlen(keys[k]), NULL, 10);
    }
    return -1;
}

/* Methods compose as a union: a weight trains when any method on trains it. Every PEFT method
 * trains a new classification head (PEFT's modules_to_save for SEQ_CLS). */
static bool slot_trains(const wf_model *m, const wf_peft_spec *sp, const wf_slot *s, const char *full) {
    bool cls_head = s->top_level && m->arch.head != WF_HEAD_LM;
    if (wf_peft_has(sp, WF_METHOD_FULL) || cls_head) return true;
    if (wf_peft_has(sp, WF_METHOD_BITFIT) && wf_tr_ends_with(s->name, ".bias")) return true;
    if (!wf_peft_has(sp, WF_METHOD_FREEZE)) return false;
    for (int i = 0; i < sp->n_modules; i++)
        if (strstr(full, sp->modules[i])) return true;
    if (sp->train_top_layers <= 0) return false;
    int64_t l = slot_layer(s->name), L = m->arch.n_layers;
    if (l >= 0) return l >= L - sp->train_top_layers;
    const wf_weights *w = &m->w; /* outside the blocks: the final norm and an untied LM head */
    return s->dst == &w->final_g || s->dst == &w->final_b || (s->top_level && !m->arch.tied_embeddings);
}

static bool plist_has(const wf_tr_plist *l, const wf_tensor *w) {
    for (int i = 0; i < l->n; i++)
        if (l->v[i].weight == w) return true;
    return false;
}

/* LoRA adapters on every targeted site; A and B tensors get shapes here, memory at layout. */
static wf_status plan_lora(wf_model *m, const wf_peft_spec *sp, wf_tr_plist *l, wf_tensor *owned) {
    int64_t L = m->arch.n_layers;
    m->lora = calloc((size_t)(L * WF_N_SITES), sizeof *m->lora);
    if (!m->lora) return wf_error(WF_ERR_OOM, "lora: out of memory");
    float scale = sp->rslora ? sp->lora_alpha / sqrtf((float)sp->lora_r) : sp->lora_alpha / (float)sp->lora_r;
    int matched = 0, skipped = 0;
    for (int64_t li = 0; li < L; li++)
        for (int s = 0; s < WF_N_SITES; s++) {
            if (!wf_tr_site_module(m->arch.family, (wf_site)s)) continue;
            wf_tensor *W = wf_model_site_weight(&m->w, li, (wf_site)s);
            char path[160], name[192];
            wf_tr_module_path(m, li, (wf_site)s, path, sizeof path);
            if (!W->data || !wf_tr_target_matches(sp->targets, sp->n_targets, path)) continue;
            if (plist_has(l, W)) { /* composed with freezing: this base weight trains fully */
                skipped++;
                continue;
            }
            wf_lora_adapter *ad = &m->lora[li * WF_N_SITES + s];
            ad->scale = scale, ad->dropout = sp->lora_dropout;
            ad->stream = (uint32_t)(li * WF_N_SITES + s);
            bool fused_tail = m->arch.family == WF_FAMILY_GPT2 && (s == WF_SITE_K || s == WF_SITE_V);
            if (fused_tail) continue; /* GPT-2 c_attn: K and V share Q's adapter (layout splits B) */
            int64_t M = W->shape[0] * (m->arch.family == WF_FAMILY_GPT2 && s == WF_SITE_Q ? 3 : 1);
            wf_tensor *A = &owned[3 * (li * WF_N_SITES + s)], *B = A + 1, *mag = A + 2;
            *A = (wf_tensor){.dtype = m->dtype, .ndim = 2, .shape = {sp->lora_r, W->shape[1]}};
            *B = (wf_tensor){.dtype = m->dtype, .ndim = 2, .shape = {M, sp->lora_r}};
            snprintf(name, sizeof name, "%s.lora_A.weight", path);
            WF_TRY(wf_tr_push(l, name, A, li, true));
            snprintf(name, sizeof name, "%s.lora_B.weight", path);
            WF_TRY(wf_tr_push(l, name, B, li, true));
            if (sp->dora) { /* peft's file name: "<module>.lora_magnitude_vector", shape (out) */
                *mag = (wf_tensor){.dtype = m->dtype, .ndim = 1, .shape = {M}};
                snprintf(name, sizeof name, "%s.lora_magnitude_vector", path);
                WF_TRY(wf_tr_push(l, name, mag, li, true));
            }
            matched++;
        }
    if (!matched && skipped)
        return wf_error(WF_ERR_INVALID, "lora: every target module's base weight trains fully "
                        "(method.freeze selects them all): nothing left for LoRA");
    if (!matched)
        return wf_error(WF_ERR_INVALID, "lora: no module of this %s model matches the targets "
                        "(e.g. '%s'); examples of module names: %s", m->arch.model_type,
                        sp->n_targets ? sp->targets[0] : "", wf_tr_site_module(m->arch.family, WF_SITE_Q));
    return WF_OK;
}

/* Decayed parameters first, each group in plan order; offsets aligned. */
static void layout(wf_trainable *t, wf_tr_plist *l) {
    wf_param *v = malloc((size_t)(l->n ? l->n : 1) * sizeof *v);
    WF_ASSERT(v);
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < l->n; i++)
            if (l->v[i].decay == (pass == 0)) v[n++] = l->v[i];
    int64_t off = 0;
    t->n_decay = 0;
    for (int i = 0; i < n; i++) {
        v[i].offset = off;
        off += (v[i].numel + ALIGN_ELEMS - 1) / ALIGN_ELEMS * ALIGN_ELEMS;
        if (v[i].decay) t->n_decay = off;
    }
    free(l->v);
    t->params = v, t->n_params = n, t->total = off;
}

static wf_tensor flat_view(const wf_tensor *flat, const wf_tensor *shape_of, int64_t off) {
    wf_tensor v = *shape_of;
    v.dtype = flat->dtype;
    v.data = (char *)flat->data + (size_t)off * wf_dtype_size(flat->dtype);
    return v;
}

/* The soft prompt's initial values (Nv, C): PEFT's TEXT init takes the token embeddings of the
 * init ids cycled to Nv; RANDOM is torch.nn.Embedding's N(0, 1) (Box-Muller on weft's RNG). */
static wf_status prompt_init(const wf_model *m, const wf_peft_spec *sp, float *host) {
    int64_t Nv = m->w.prompt.shape[0], C = m->w.prompt.shape[1];
    const wf_tensor *E = &m->w.tok_emb;
    size_t es = wf_dtype_size(E->dtype);
    for (int64_t i = 0; sp->prompt_init_ids && i < Nv; i++) {
        int32_t id = sp->prompt_init_ids[i % sp->n_prompt_init_ids];
        if (id < 0 || id >= E->shape[0])
            return wf_error(WF_ERR_INVALID, "prompt tuning: init token id %d is outside the vocabulary", id);
        WF_TRY(m->be->copy(m->be, host + i * C, (const char *)E->data + (size_t)(id * C) * es,
                           (size_t)C * es, WF_COPY_D2H));
        if (E->dtype != WF_F32)
            for (int64_t k = C - 1; k >= 0; k--) host[i * C + k] = wf_load_f32(host + i * C, E->dtype, (size_t)k);
    }
    if (sp->prompt_init_ids) return m->be->sync(m->be);
    for (int64_t i = 0; i < Nv * C; i++) {
        float u1 = wf_rng_uniform(sp->seed, 1, 0, (uint64_t)i), u2 = wf_rng_uniform(sp->seed, 1, 1, (uint64_t)i);
        host[i] = sqrtf(-2.0f * logf(u1 > 1e-12f ? u1 : 1e-12f)) * cosf(6.2831853f * u2);
    }
    return WF_OK;
}

/* Initial fp32 values of a parameter: LoRA A kaiming-uniform(a = sqrt(5)) as PEFT (bound
 * 1/sqrt(in_features)), LoRA B zeros, anything else its current (loaded) value. */
static wf_status initial_values(const wf_model *m, const wf_peft_spec *sp, const wf_param *p,
                                int index, float *host) {
    if (p->weight == &m->w.prompt) return prompt_init(m, sp, host);
    if (strstr(p->name, ".adapter_attn.") || strstr(p->name, ".adapter_mlp.")) {
        /* Houlsby: down as LoRA A (kaiming-uniform, bound 1/sqrt(C)), the rest zero (identity) */
        bool down_w = wf_tr_ends_with(p->name, ".down.weight");
        float bound = 1.0f / sqrtf((float)p->weight->shape[p->weight->ndim - 1]);
        for (int64_t i = 0; i < p->numel; i++)
            host[i] = down_w ? bound * (2.0f * wf_rng_uniform(sp->seed, 0, (uint32_t)index, (uint64_t)i) - 1.0f) : 0.0f;
        return WF_OK;
    }
    if (wf_tr_ends_with(p->name, ".ia3_l")) { /* PEFT's init_ia3_weights: ones */
        for (int64_t i = 0; i < p->numel; i++) host[i] = 1.0f;
        return WF_OK;
    }
    if (wf_tr_ends_with(p->name, ".lora_A.weight")) {
        float bound = 1.0f / sqrtf((float)p->weight->shape[1]);
        for (int64_t i = 0; i < p->numel; i++)
            host[i] = bound * (2.0f * wf_rng_uniform(sp->seed, 0, (uint32_t)index, (uint64_t)i) - 1.0f);
        return WF_OK;
    }
    if (wf_tr_ends_with(p->name, ".lora_B.weight") || wf_tr_ends_with(p->name, ".lora_magnitude_vector")) {
        /* B = 0; DoRA magnitudes are set from the weights' norms after layout (dora_init) */
        memset(host, 0, (size_t)p->numel * sizeof *host);
        return WF_OK;
    }
    size_t bytes = (size_t)p->numel * wf_dtype_size(p->weight->dtype);
    WF_TRY(m->be->copy(m->be, host, p->weight->data, bytes, WF_COPY_D2H));
    if (p->weight->dtype != WF_F32) /* widen in place, from the back */
        for (int64_t i = p->numel - 1; i >= 0; i--) host[i] = wf_load_f32(host, p->weight->dtype, (size_t)i);
    return WF_OK;
}

wf_status wf_trainable_set(const wf_model *m, wf_trainable *t, const wf_param *p, const float *v) {
    wf_backend *be = m->be;
    wf_tensor master = flat_view(&t->p, p->weight, p->offset);
    WF_TRY(be->copy(be, master.data, v, (size_t)p->numel * sizeof(float), WF_COPY_H2D));
    WF_TRY(be->sync(be));
    if (!t->p_lowp.data) return WF_OK;
    wf_tensor low = flat_view(&t->p_lowp, p->weight, p->offset);
    return wf_op_cast(be, &low, &master);
}

const wf_param *wf_tr_param_of(const wf_trainable *t, const wf_tensor *w) {
    for (int i = 0; i < t->n_params; i++)
        if (t->params[i].weight == w) return &t->params[i];
    return NULL;
}

wf_tensor wf_tr_row_slice(const wf_tensor *x, int64_t r0, int64_t n) {
    wf_tensor v = *x;
    v.data = (char *)x->data + (size_t)(r0 * x->shape[1]) * wf_dtype_size(x->dtype);
    v.shape[0] = n;
    return v;
}

/* The graph's gradient view of each trainable model weight: the same field in grads.w. */
static void map_grads(const wf_model *m, wf_trainable *t) {
    const char *w0 = (const char *)&m->w, *l0 = (const char *)m->w.layers;
    size_t lsize = (size_t)m->arch.n_layers * sizeof(wf_layer);
    for (int i = 0; i < t->n_params; i++) {
        const char *p = (const char *)t->params[i].weight;
        if (p >= w0 && p < w0 + sizeof m->w)
            *(wf_tensor *)((char *)&t->grads.w + (p - w0)) = t->params[i].grad;
        else if (p >= l0 && p < l0 + lsize)
            *(wf_tensor *)((char *)t->grads.w.layers + (p - l0)) = t->params[i].grad;
    }
    if (m->arch.head == WF_HEAD_LM && m->arch.tied_embeddings) t->grads.w.lm_head = t->grads.w.tok_emb;
}

/* Elements [off, off + n) of a 1-D tensor. */
static wf_tensor vec_slice(const wf_tensor *v, int64_t off, int64_t n) {
    wf_tensor r = *v;
    r.data = (char *)v->data + (size_t)off * wf_dtype_size(v->dtype);
    r.shape[0] = n;
    return r;
}

/* DoRA's initial magnitudes, peft's ||W + scale B A||_row with B = 0: the rows' norms of W
 * (GPT-2 c_attn: of q, k and v's rows in turn), from the frozen weights on the backend. */
static wf_status dora_init(wf_model *m, wf_trainable *t) {
    for (int64_t i = 0; i < m->arch.n_layers * WF_N_SITES; i++) {
        const wf_tensor *mag = &t->lora_t[3 * i + 2];
        if (!mag->ndim) continue;
        const wf_param *p = wf_tr_param_of(t, mag);
        int64_t li = i / WF_N_SITES, s0 = i % WF_N_SITES, M = mag->shape[0], row = 0;
        float *host = malloc((size_t)M * sizeof *host);
        if (!host) return wf_error(WF_ERR_OOM, "dora: out of host memory");
        wf_status st = WF_OK;
        for (int64_t s = s0; st == WF_OK && row < M; s++) { /* c_attn: sites Q, K, V */
            const wf_tensor *W = wf_model_site_weight(&m->w, li, (wf_site)s);
            int64_t R = W->shape[0], K = W->shape[1];
            float *w = malloc((size_t)(R * K) * sizeof *w);
            st = w ? m->be->copy(m->be, w, W->data, (size_t)(R * K) * wf_dtype_size(W->dtype), WF_COPY_D2H)
                   : wf_error(WF_ERR_OOM, "dora: out of host memory");
            if (st == WF_OK) st = m->be->sync(m->be);
            for (int64_t r = 0; st == WF_OK && r < R; r++) {
                double ss = 0;
                for (int64_t k = 0; k < K; k++) {
                    double v = wf_load_f32(w, W->dtype, (size_t)(r * K + k));
                    ss += v * v;
                }
                host[row + r] = (float)sqrt(ss);
            }
            row += R;
            free(w);
        }
        if (st == WF_OK) st = wf_trainable_set(m, t, p, host);
        free(host);
        WF_TRY(st);
    }
    return WF_OK;
}

/* Points every adapter at its A/B (GPT-2 c_attn: q, k, v share A and split B's rows) and the
 * gradient adapters at the matching gradient views. */
static void wire_lora(wf_model *m, wf_trainable *t) {
    int64_t L = m->arch.n_layers;
    for (int64_t li = 0; li < L; li++)
        for (int s = 0; s < WF_N_SITES; s++) {
            int64_t i = li * WF_N_SITES + s;
            wf_lora_adapter *ad = &m->lora[i], *gd = &t->grads.lora[i];
            if (ad->scale == 0) continue;
            bool gpt2_qkv = m->arch.family == WF_FAMILY_GPT2 && s <= WF_SITE_V;
            int64_t owner = gpt2_qkv ? li * WF_N_SITES + WF_SITE_Q : i;
            const wf_tensor *A = &t->lora_t[3 * owner], *B = A + 1, *mag = A + 2;
            const wf_param *pa = wf_tr_param_of(t, A), *pb = wf_tr_param_of(t, B);
            ad->a = *A, gd->a = pa->grad;
            ad->b = *B, gd->b = pb->grad;
            if (mag->ndim) {
                const wf_param *pm = wf_tr_param_of(t, mag);
                ad->mag = *mag, gd->mag = pm->grad;
            }
            if (gpt2_qkv) { /* c_attn's output rows are q | k | v */
                int64_t C = B->shape[0] / 3;
                ad->b = wf_tr_row_slice(B, (s - WF_SITE_Q) * C, C);
                gd->b = wf_tr_row_slice(&pb->grad, (s - WF_SITE_Q) * C, C);
                if (mag->ndim) ad->mag = vec_slice(&ad->mag, (s - WF_SITE_Q) * C, C),
                               gd->mag = vec_slice(&gd->mag, (s - WF_SITE_Q) * C, C);
            }
        }
}

static const char *method_name(wf_method x) {
    static const char *const k[] = {"full", "lora", "freeze", "bitfit", "ia3", "prompt_tuning", "adapter"};
    return k[x];
}

/* The combinations that make no sense: full with anything (everything trains already), LoRA
 * and IA3 together (peft never puts both on one module; weft would have to order them). */
static wf_status check_compose(const wf_peft_spec *sp) {
    if (sp->extras >> (WF_METHOD_ADAPTER + 1))
        return wf_error(WF_ERR_INVALID, "method: unknown extra method bit in 0x%x", (unsigned)sp->extras);
    if (!wf_peft_composed(sp)) return WF_OK;
    if (wf_peft_has(sp, WF_METHOD_FULL))
        return wf_error(WF_ERR_INVALID, "method: full fine-tuning trains every weight and does not "
                        "combine with other methods (method.type %s, method.extras)", method_name(sp->method));
    if (wf_peft_has(sp, WF_METHOD_LORA) && wf_peft_has(sp, WF_METHOD_IA3))
        return wf_error(WF_ERR_INVALID, "method: lora and ia3 do not combine (peft does not put both "
                        "on one module); choose one of them in method.type / method.extras");
    return WF_OK;
}

static wf_status check_spec(const wf_peft_spec *sp) {
    WF_TRY(check_compose(sp));
    bool lora = wf_peft_has(sp, WF_METHOD_LORA);
    if (lora && sp->dora && sp->lora_dropout != 0)
        return wf_error(WF_ERR_INVALID, "lora: DoRA (method.lora.use_dora) needs method.lora.dropout 0");
    if (lora && (sp->lora_r < 1 || !(sp->lora_alpha > 0) ||
                 !(sp->lora_dropout >= 0 && sp->lora_dropout < 1) || !sp->n_targets))
        return wf_error(WF_ERR_INVALID, "lora: needs r >= 1, alpha > 0, dropout in [0, 1) and at "
                        "least one target module");
    if (wf_peft_has(sp, WF_METHOD_FREEZE) && sp->train_top_layers <= 0 && sp->n_modules == 0)
        return wf_error(WF_ERR_INVALID, "freeze: set the number of top layers to train or the "
                        "modules to train");
    if (wf_peft_has(sp, WF_METHOD_PROMPT) && (sp->prompt_tokens < 1 || (sp->prompt_init_ids && sp->n_prompt_init_ids < 1)))
        return wf_error(WF_ERR_INVALID, "prompt tuning: needs at least one virtual token and a "
                        "non-empty init text");
    if (wf_peft_has(sp, WF_METHOD_ADAPTER) && sp->adapter_size < 1)
        return wf_error(WF_ERR_INVALID, "adapter: needs a bottleneck size >= 1");
    return WF_OK;
}

/* p and g whole; m and v for the optimizer's shard [opt_off, opt_off + opt_n). */
static wf_status alloc_flat(const wf_model *m, wf_trainable *t) {
    bool lowp = m->dtype != WF_F32;
    size_t n = (size_t)t->total, k = (size_t)t->opt_n;
    size_t bytes = 2 * (n * 4 + WF_ARENA_ALIGN) + 2 * (k * 4 + WF_ARENA_ALIGN) + (lowp ? n * 2 + WF_ARENA_ALIGN : 0);
    WF_TRY(wf_backend_arena_create(m->be, &t->arena, "trainable", bytes));
    wf_tensor *bufs[] = {&t->p, &t->g, &t->m, &t->v};
    for (int i = 0; i < 4; i++) {
        int64_t len = i < 2 ? t->total : t->opt_n;
        *bufs[i] = (wf_tensor){.dtype = WF_F32, .ndim = 1, .shape = {len}};
        WF_TRY(wf_arena_alloc(&t->arena, (size_t)len * 4, &bufs[i]->data));
        WF_TRY(m->be->memset(m->be, bufs[i]->data, 0, (size_t)len * 4));
    }
    if (lowp) {
        t->p_lowp = (wf_tensor){.dtype = m->dtype, .ndim = 1, .shape = {t->total}};
        WF_TRY(wf_arena_alloc(&t->arena, n * 2, &t->p_lowp.data));
        WF_TRY(m->be->memset(m->be, t->p_lowp.data, 0, n * 2));
    }
    return WF_OK;
}

/* Copies every parameter's initial value into the flat buffers, then points the model at them. */
static wf_status move_params(wf_model *m, const wf_peft_spec *sp, wf_trainable *t) {
    int64_t big = 0;
    for (int i = 0; i < t->n_params; i++) big = t->params[i].numel > big ? t->params[i].numel : big;
    float *host = malloc((size_t)big * sizeof(float) + 4);
    if (!host) return wf_error(WF_ERR_OOM, "trainable: out of host memory");
    wf_status s = WF_OK;
    for (int i = 0; i < t->n_params && s == WF_OK; i++) {
        wf_param *p = &t->params[i];
        s = initial_values(m, sp, p, i, host);
        if (s == WF_OK) s = wf_trainable_set(m, t, p, host);
        if (s != WF_OK) break;
        wf_tensor home = flat_view(t->p_lowp.data ? &t->p_lowp : &t->p, p->weight, p->offset);
        p->weight->data = home.data;
        p->grad = flat_view(&t->g, p->weight, p->offset);
    }
    free(host);
    if (m->arch.head == WF_HEAD_LM && m->arch.tied_embeddings) m->w.lm_head.data = m->w.tok_emb.data;
    return s;
}

wf_status wf_trainable_build(wf_model *m, const wf_peft_spec *sp, wf_trainable *t) {
    return wf_trainable_build_shard(m, sp, 0, 1, t);
}

wf_status wf_trainable_build_shard(wf_model *m, const wf_peft_spec *sp, int rank, int world,
                                   wf_trainable *t) {
    memset(t, 0, sizeof *t);
    WF_ASSERT(world >= 1 && rank >= 0 && rank < world);
    WF_TRY(check_spec(sp));
    int64_t L = m->arch.n_layers;
    t->lora_t = calloc((size_t)(3 * L * WF_N_SITES), sizeof *t->lora_t);
    t->grads.w.layers = calloc((size_t)L, sizeof *t->grads.w.layers);
    if (!t->lora_t || !t->grads.w.layers) return wf_error(WF_ERR_OOM, "trainable: out of memory");
    wf_tr_plist l = {0};
    for (int i = 0; i < m->n_slots; i++) {
        const wf_slot *s = &m->slots[i];
        char full[192];
        slot_name(m, s, full, sizeof full);
        if (s->dst->data && slot_trains(m, sp, s, full))
            WF_TRY(wf_tr_push(&l, full, s->dst, ready_layer(m, s->dst), slot_decays(m, sp, s)));
    }
    if (wf_peft_has(sp, WF_METHOD_LORA)) {
        WF_TRY(plan_lora(m, sp, &l, t->lora_t));
        t->grads.lora = calloc((size_t)(L * WF_N_SITES), sizeof *t->grads.lora);
        if (!t->grads.lora) return wf_error(WF_ERR_OOM, "trainable: out of memory");
    }
    if (wf_peft_has(sp, WF_METHOD_IA3)) WF_TRY(wf_tr_plan_ia3(m, sp, &l, t));
    if (wf_peft_has(sp, WF_METHOD_ADAPTER)) WF_TRY(wf_tr_plan_adapters(m, sp, &l, t));
    if (wf_peft_has(sp, WF_METHOD_PROMPT)) {
        if (m->arch.family == WF_FAMILY_VIT)
            return wf_error(WF_ERR_UNSUPPORTED, "prompt tuning: needs a text model (this is a %s model)",
                            m->arch.model_type);
        m->w.prompt = (wf_tensor){.dtype = m->dtype, .ndim = 2, .shape = {sp->prompt_tokens, m->arch.hidden}};
        if (!m->prompt_stage && !(m->prompt_stage = calloc(1, sizeof *m->prompt_stage)))
            return wf_error(WF_ERR_OOM, "trainable: out of host memory");
        WF_TRY(wf_tr_push(&l, "prompt_embeddings", &m->w.prompt, -1, !no_decay_has(sp, "embedding")));
    }
    if (l.n == 0) {
        free(l.v);
        return wf_error(WF_ERR_INVALID, "nothing to train: the method selects no weight");
    }
    layout(t, &l);
    wf_comm_shard(t->total, world, rank, &t->opt_off, &t->opt_n);
    WF_TRY(alloc_flat(m, t));
    WF_TRY(move_params(m, sp, t));
    map_grads(m, t);
    if (m->lora) wire_lora(m, t);
    if (m->lora && sp->dora) WF_TRY(dora_init(m, t));
    if (m->ia3) WF_TRY(wf_tr_wire_ia3(m, t));
    if (m->adapters) wf_tr_wire_adapters(m, t);
    return wf_trainable_zero_grad(m, t);
}

wf_status wf_trainable_zero_grad(const wf_model *m, wf_trainable *t) {
    return m->be->memset(m->be, t->g.data, 0, (size_t)t->total * sizeof(float));
}

const wf_param *wf_trainable_find(const wf_trainable *t, const char *name) {
    for (int i = 0; i < t->n_params; i++)
        if (strcmp(t->params[i].name, name) == 0) return &t->params[i];
    return NULL;
}

void wf_trainable_free(wf_model *m, wf_trainable *t) {
    wf_backend_arena_destroy(m->be, &t->arena);
    free(t->params), free(t->lora_t), free(t->grads.w.layers), free(t->grads.lora);
    free(t->ia3_t), free(t->grads.ia3), free(t->grads.adapters);
    free(m->lora), free(m->ia3), free(m->adapters);
    m->lora = NULL, m->ia3 = NULL, m->adapters = NULL;
    m->w.prompt = (wf_tensor){0};
    if (m->prompt_stage) free(m->prompt_stage->buf);
    free(m->prompt_stage), m->prompt_stage = NULL;
    memset(t, 0, sizeof *t);
}


static bool is_adapter(const char *name) {
    return strstr(name, ".lora_") != NULL || wf_tr_ends_with(name, ".ia3_l") ||
           strstr(name, ".adapter_attn.") != NULL || strstr(name, ".adapter_mlp.") != NULL ||
           strcmp(name, "prompt_embeddings") == 0;
}

static wf_status load_peft_tensor(const wf_model *m, wf_trainable *t, const wf_st_tensor *st,
                                  const char *file, int *loaded) {
    size_t k = strlen(PEFT_PREFIX), k2 = strlen("base_model."); /* prompt learning: "base_model." */
    const char *name = strncmp(st->name, PEFT_PREFIX, k) == 0 ? st->name + k
                     : strncmp(st->name, "base_model.", k2) == 0 ? st->name + k2 : st->name;
    const wf_param *p = wf_trainable_find(t, name);
    if (!p)
        return wf_error(WF_ERR_FORMAT, "%s: tensor '%s' has no trainable counterpart here (is the "
                        "adapter for this model, with the same target modules?)", file, st->name);
    bool ok = st->ndim == p->weight->ndim;
    for (int d = 0; ok && d < st->ndim; d++) ok = st->shape[d] == p->weight->shape[d];
    if (!ok)
        return wf_error(WF_ERR_FORMAT, "%s: tensor '%s' has a shape other than the model's (%lld x "
                        "%lld; rank r or the target differs?)", file, st->name,
                        (long long)p->weight->shape[0], (long long)p->weight->shape[1]);
    float *host = malloc((size_t)st->numel * sizeof *host + 4);
    if (!host) return wf_error(WF_ERR_OOM, "%s: out of memory", file);
    wf_status s = wf_st_read_f32(st, host, st->numel);
    if (s == WF_OK) s = wf_trainable_set(m, t, p, host);
    free(host);
    *loaded += s == WF_OK && is_adapter(name);
    return s;
}

wf_status wf_trainable_load_peft(const wf_model *m, wf_trainable *t, const char *path) {
    char file[4096];
    size_t n = strlen(path);
    if (n > 12 && strcmp(path + n - 12, ".safetensors") == 0) snprintf(file, sizeof file, "%s", path);
    else snprintf(file, sizeof file, "%s/adapter_model.safetensors", path);
    wf_st_file *f = NULL;
    WF_TRY(wf_st_open(file, &f));
    int loaded = 0, want = 0;
    wf_status s = WF_OK;
    for (int64_t i = 0; i < wf_st_count(f) && s == WF_OK; i++)
        s = load_peft_tensor(m, t, wf_st_tensor_at(f, i), file, &loaded);
    for (int i = 0; i < t->n_params && s == WF_OK; i++)
        if (is_adapter(t->params[i].name)) want++;
    if (s == WF_OK && loaded < want)
        s = wf_error(WF_ERR_FORMAT, "%s: holds %d adapter tensors but this model has %d "
                     "(different method or target modules?)", file, loaded, want);
    wf_st_close(f);
    return s;
}
