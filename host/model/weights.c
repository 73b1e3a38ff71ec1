/* Weight plans: for each family, every weight of the model with its shape (from wf_arch), the
 * checkpoint tensor it is read from and how (FORMATS.md "HF config.json and tensor names").
 * Loading (load_hf.c, load_gguf.c) and export walk these plans; nothing else knows HF names. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/model.h"

typedef struct planner {
    wf_model *m;
    int cap;
} planner;

static wf_tensor shape(int ndim, int64_t d0, int64_t d1) {
    wf_tensor t = {.dtype = WF_F32, .ndim = ndim};
    t.shape[0] = d0, t.shape[1] = d1;
    return t;
}

/* Adds one slot. `fmt` may contain one %d (the layer index). */
static wf_status add(planner *p, wf_tensor *dst, wf_tensor shp, wf_slot_xform x, bool optional,
                     bool top, int layer, const char *fmt) {
    wf_model *m = p->m;
    if (m->n_slots == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        wf_slot *s = realloc(m->slots, (size_t)cap * sizeof *s);
        if (!s) return wf_error(WF_ERR_OOM, "model plan: out of memory");
        m->slots = s, p->cap = cap;
    }
    wf_slot *s = &m->slots[m->n_slots++];
    memset(s, 0, sizeof *s);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(s->name, sizeof s->name, fmt, layer);
#pragma GCC diagnostic pop
    *dst = shp;
    s->dst = dst, s->xform = x, s->optional = optional, s->top_level = top;
    return WF_OK;
}

#define W(dst, d0, d1, fmt) WF_TRY(add(p, dst, shape(2, d0, d1), WF_XFORM_NONE, false, false, i, fmt))
#define V(dst, d0, fmt) WF_TRY(add(p, dst, shape(1, d0, 0), WF_XFORM_NONE, false, false, i, fmt))
#define X(dst, nd, d0, d1, xf, fmt) WF_TRY(add(p, dst, shape(nd, d0, d1), xf, false, false, i, fmt))

/* The LM / classification head shared by decoder families. */
static wf_status plan_decoder_head(planner *p, const wf_arch *a, wf_weights *w, const char *score) {
    int i = 0;
    if (a->head == WF_HEAD_LM && !a->tied_embeddings)
        WF_TRY(add(p, &w->lm_head, shape(2, a->vocab, a->hidden), WF_XFORM_NONE, false, true, 0, "lm_head.weight"));
    if (a->head == WF_HEAD_SEQ_CLS || a->head == WF_HEAD_REGRESSION)
        WF_TRY(add(p, &w->cls_w, shape(2, a->n_labels, a->hidden), WF_XFORM_NONE, false, true, i, score));
    return WF_OK;
}

static wf_status plan_gpt2(planner *p, const wf_arch *a, wf_weights *w) {
    int64_t C = a->hidden, F = a->ffn, i = 0;
    W(&w->tok_emb, a->vocab, C, "wte.weight");
    W(&w->pos_emb, a->max_positions, C, "wpe.weight");
    for (i = 0; i < a->n_layers; i++) {
        wf_layer *l = &w->layers[i];
        V(&l->ln1_g, C, "h.%d.ln_1.weight");
        V(&l->ln1_b, C, "h.%d.ln_1.bias");
        X(&l->wq, 2, C, C, WF_XFORM_QKV_Q, "h.%d.attn.c_attn.weight");
        X(&l->wk, 2, C, C, WF_XFORM_QKV_K, "h.%d.attn.c_attn.weight");
        X(&l->wv, 2, C, C, WF_XFORM_QKV_V, "h.%d.attn.c_attn.weight");
        X(&l->bq, 1, C, 0, WF_XFORM_QKV_Q, "h.%d.attn.c_attn.bias");
        X(&l->bk, 1, C, 0, WF_XFORM_QKV_K, "h.%d.attn.c_attn.bias");
        X(&l->bv, 1, C, 0, WF_XFORM_QKV_V, "h.%d.attn.c_attn.bias");
        X(&l->wo, 2, C, C, WF_XFORM_TRANSPOSE, "h.%d.attn.c_proj.weight");
        V(&l->bo, C, "h.%d.attn.c_proj.bias");
        V(&l->ln2_g, C, "h.%d.ln_2.weight");
        V(&l->ln2_b, C, "h.%d.ln_2.bias");
        X(&l->w_up, 2, F, C, WF_XFORM_TRANSPOSE, "h.%d.mlp.c_fc.weight");
        V(&l->b_up, F, "h.%d.mlp.c_fc.bias");
        X(&l->w_down, 2, C, F, WF_XFORM_TRANSPOSE, "h.%d.mlp.c_proj.weight");
        V(&l->b_down, C, "h.%d.mlp.c_proj.bias");
    }
    i = 0;
    V(&w->final_g, C, "ln_f.weight");
    V(&w->final_b, C, "ln_f.bias");
    return plan_decoder_head(p, a, w, "score.weight");
}

static wf_status plan_llama(planner *p, const wf_arch *a, wf_weights *w) {
    int64_t C = a->hidden, F = a->ffn, Q = a->n_heads * a->head_dim, K = a->n_kv_heads * a->head_dim;
    int i = 0;
    W(&w->tok_emb, a->vocab, C, "embed_tokens.weight");
    for (i = 0; i < a->n_layers; i++) {
        wf_layer *l = &w->layers[i];
        V(&l->ln1_g, C, "layers.%d.input_layernorm.weight");
        W(&l->wq, Q, C, "layers.%d.self_attn.q_proj.weight");
        W(&l->wk, K, C, "layers.%d.self_attn.k_proj.weight");
        W(&l->wv, K, C, "layers.%d.self_attn.v_proj.weight");
        if (a->qkv_bias) {
            V(&l->bq, Q, "layers.%d.self_attn.q_proj.bias");
            V(&l->bk, K, "layers.%d.self_attn.k_proj.bias");
            V(&l->bv, K, "layers.%d.self_attn.v_proj.bias");
        }
        W(&l->wo, C, Q, "layers.%d.self_attn.o_proj.weight");
        if (a->out_bias) V(&l->bo, C, "layers.%d.self_attn.o_proj.bias");
        V(&l->ln2_g, C, "layers.%d.post_attention_layernorm.weight");
        W(&l->w_gate, F, C, "layers.%d.mlp.gate_proj.weight");
        W(&l->w_up, F, C, "layers.%d.mlp.up_proj.weight");
        W(&l->w_down, C, F, "layers.%d.mlp.down_proj.weight");
        if (a->mlp_bias) {
            V(&l->b_up, F, "layers.%d.mlp.up_proj.bias");
            V(&l->b_down, C, "layers.%d.mlp.down_proj.bias");
        }
    }
    i = 0;
    V(&w->final_g, C, "norm.weight");
    return plan_decoder_head(p, a, w, "score.weight");
}

/* The encoder block shared by BERT ("attention.self.*") and ViT ("attention.attention.*"). */
static wf_status plan_encoder_block(planner *p, const wf_arch *a, wf_layer *l, int i,
                                    const char *base, const char *attn) {
    int64_t C = a->hidden, F = a->ffn;
    char n[128];
    const char *parts[][2] = {{"query", "q"}, {"key", "k"}, {"value", "v"}};
    wf_tensor *wt[] = {&l->wq, &l->wk, &l->wv}, *bt[] = {&l->bq, &l->bk, &l->bv};
    for (int k = 0; k < 3; k++) {
        snprintf(n, sizeof n, "%s.%%d.%s.%s.weight", base, attn, parts[k][0]);
        W(wt[k], C, C, n);
        if (a->qkv_bias) {
            snprintf(n, sizeof n, "%s.%%d.%s.%s.bias", base, attn, parts[k][0]);
            V(bt[k], C, n);
        }
    }
    snprintf(n, sizeof n, "%s.%%d.attention.output.dense.weight", base);
    W(&l->wo, C, C, n);
    snprintf(n, sizeof n, "%s.%%d.attention.output.dense.bias", base);
    V(&l->bo, C, n);
    snprintf(n, sizeof n, "%s.%%d.intermediate.dense.weight", base);
    W(&l->w_up, F, C, n);
    snprintf(n, sizeof n, "%s.%%d.intermediate.dense.bias", base);
    V(&l->b_up, F, n);
    snprintf(n, sizeof n, "%s.%%d.output.dense.weight", base);
    W(&l->w_down, C, F, n);
    snprintf(n, sizeof n, "%s.%%d.output.dense.bias", base);
    V(&l->b_down, C, n);
    return WF_OK;
}

static wf_status plan_bert(planner *p, const wf_arch *a, wf_weights *w) {
    int64_t C = a->hidden;
    int i = 0;
    W(&w->tok_emb, a->vocab, C, "embeddings.word_embeddings.weight");
    W(&w->pos_emb, a->max_positions, C, "embeddings.position_embeddings.weight");
    if (a->type_vocab) W(&w->type_emb, a->type_vocab, C, "embeddings.token_type_embeddings.weight");
    V(&w->emb_ln_g, C, "embeddings.LayerNorm.weight");
    V(&w->emb_ln_b, C, "embeddings.LayerNorm.bias");
    for (i = 0; i < a->n_layers; i++) {
        wf_layer *l = &w->layers[i];
        WF_TRY(plan_encoder_block(p, a, l, i, "encoder.layer", "attention.self"));
        V(&l->ln1_g, C, "encoder.layer.%d.attention.output.LayerNorm.weight");
        V(&l->ln1_b, C, "encoder.layer.%d.attention.output.LayerNorm.bias");
        V(&l->ln2_g, C, "encoder.layer.%d.output.LayerNorm.weight");
        V(&l->ln2_b, C, "encoder.layer.%d.output.LayerNorm.bias");
    }
    i = 0;
    bool need_pooler = a->head == WF_HEAD_SEQ_CLS || a->head == WF_HEAD_REGRESSION;
    WF_TRY(add(p, &w->pooler_w, shape(2, C, C), WF_XFORM_NONE, !need_pooler, false, 0, "pooler.dense.weight"));
    WF_TRY(add(p, &w->pooler_b, shape(1, C, 0), WF_XFORM_NONE, !need_pooler, false, 0, "pooler.dense.bias"));
    if (need_pooler) {
        WF_TRY(add(p, &w->cls_w, shape(2, a->n_labels, C), WF_XFORM_NONE, false, true, 0, "classifier.weight"));
        WF_TRY(add(p, &w->cls_b, shape(1, a->n_labels, 0), WF_XFORM_NONE, false, true, 0, "classifier.bias"));
    }
    return WF_OK;
}

static wf_status plan_vit(planner *p, const wf_arch *a, wf_weights *w) {
    int64_t C = a->hidden, patch = a->channels * a->patch_size * a->patch_size;
    int i = 0;
    X(&w->cls_token, 1, C, 0, WF_XFORM_FLATTEN, "embeddings.cls_token");
    X(&w->pos_emb, 2, a->max_positions, C, WF_XFORM_FLATTEN, "embeddings.position_embeddings");
    X(&w->patch_w, 2, C, patch, WF_XFORM_FLATTEN, "embeddings.patch_embeddings.projection.weight");
    V(&w->patch_b, C, "embeddings.patch_embeddings.projection.bias");
    for (i = 0; i < a->n_layers; i++) {
        wf_layer *l = &w->layers[i];
        WF_TRY(plan_encoder_block(p, a, l, i, "encoder.layer", "attention.attention"));
        V(&l->ln1_g, C, "encoder.layer.%d.layernorm_before.weight");
        V(&l->ln1_b, C, "encoder.layer.%d.layernorm_before.bias");
        V(&l->ln2_g, C, "encoder.layer.%d.layernorm_after.weight");
        V(&l->ln2_b, C, "encoder.layer.%d.layernorm_after.bias");
    }
    i = 0;
    V(&w->final_g, C, "layernorm.weight");
    V(&w->final_b, C, "layernorm.bias");
    if (a->head == WF_HEAD_IMAGE_CLS) {
        WF_TRY(add(p, &w->cls_w, shape(2, a->n_labels, C), WF_XFORM_NONE, false, true, 0, "classifier.weight"));
        WF_TRY(add(p, &w->cls_b, shape(1, a->n_labels, 0), WF_XFORM_NONE, false, true, 0, "classifier.bias"));
    }
    return WF_OK;
}

static const char *family_prefix(wf_family f) {
    static const char *pre[] = {"transformer.", "model.", "bert.", "vit."};
    return pre[f];
}

wf_status wf_model_plan(wf_model *m) {
    const wf_arch *a = &m->arch;
    free(m->slots), free(m->w.layers);
    m->slots = NULL, m->n_slots = 0;
    memset(&m->w, 0, sizeof m->w);
    m->w.layers = calloc((size_t)a->n_layers, sizeof *m->w.layers);
    if (!m->w.layers) return wf_error(WF_ERR_OOM, "model plan: out of memory");
    snprintf(m->prefix, sizeof m->prefix, "%s", family_prefix(a->family));
    planner p = {m, 0};
    switch (a->family) {
    case WF_FAMILY_GPT2: WF_TRY(plan_gpt2(&p, a, &m->w)); break;
    case WF_FAMILY_LLAMA: WF_TRY(plan_llama(&p, a, &m->w)); break;
    case WF_FAMILY_BERT: WF_TRY(plan_bert(&p, a, &m->w)); break;
    case WF_FAMILY_VIT: WF_TRY(plan_vit(&p, a, &m->w)); break;
    }
    if (a->head == WF_HEAD_LM && a->tied_embeddings) m->w.lm_head = m->w.tok_emb; /* data on alloc */
    return WF_OK;
}

size_t wf_model_weight_bytes(const wf_model *m, wf_dtype dt) {
    size_t total = 0;
    for (int i = 0; i < m->n_slots; i++) {
        wf_tensor t = *m->slots[i].dst;
        t.dtype = dt;
        total += (wf_tensor_nbytes(&t) + WF_ARENA_ALIGN - 1) / WF_ARENA_ALIGN * WF_ARENA_ALIGN;
    }
    return total;
}

wf_param_counts wf_model_param_counts(const wf_model *m) {
    wf_param_counts c = {0};
    const wf_weights *w = &m->w;
    for (int i = 0; i < m->n_slots; i++) {
        const wf_tensor *t = m->slots[i].dst;
        int64_t n = wf_tensor_numel(t);
        if (t == &w->tok_emb || t == &w->pos_emb || t == &w->type_emb || t == &w->patch_w ||
            t == &w->patch_b || t == &w->cls_token)
            c.embed += n;
        else if (m->slots[i].top_level || t == &w->pooler_w || t == &w->pooler_b)
            c.head += n;
        else if (t->ndim == 1 && (t == &w->emb_ln_g || t == &w->emb_ln_b || t == &w->final_g ||
                                  t == &w->final_b))
            c.norms += n;
        else
            c.blocks += n;
        c.total += n;
    }
    return c;
}

void wf_model_free(wf_model *m) {
    if (!m) return;
    if (m->be) wf_backend_arena_destroy(m->be, &m->arena);
    free(m->slots);
    free(m->w.layers);
    if (m->prompt_stage) free(m->prompt_stage->buf);
    free(m->prompt_stage);
    memset(m, 0, sizeof *m);
}

wf_tensor *wf_model_site_weight(wf_weights *w, int64_t l, wf_site s) {
    wf_layer *y = &w->layers[l];
    wf_tensor *t[] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down};
    return t[s];
}

wf_tensor *wf_model_site_bias(wf_weights *w, int64_t l, wf_site s) {
    wf_layer *y = &w->layers[l];
    wf_tensor *t[] = {&y->bq, &y->bk, &y->bv, &y->bo, NULL, &y->b_up, &y->b_down};
    return t[s];
}

bool wf_model_site_plain(const wf_model *m, int64_t l, wf_site s) {
    int64_t i = l * WF_N_SITES + s;
    return !(m->lora && m->lora[i].a.data) && !(m->ia3 && m->ia3[i].l.data);
}
