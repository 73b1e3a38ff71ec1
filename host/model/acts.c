/* Activation planning: every tensor the forward writes and the backward reads, sized from
 * (B, T) and the architecture, laid out in one arena allocated once (DESIGN.md "Memory"). */
#include <stdlib.h>
#include <string.h>

#include "weft/graph.h"

/* Whether any LoRA site is a DoRA site (it then needs the DoRA buffers). */
static bool has_dora(const wf_model *m) {
    for (int64_t i = 0; m->lora && i < m->arch.n_layers * WF_N_SITES; i++)
        if (m->lora[i].mag.data) return true;
    return false;
}

/* The widest matrix side of a block: DoRA scratch is (W, W), vectors (W). */
static int64_t widest(const wf_arch *a) {
    int64_t w = a->hidden > a->ffn ? a->hidden : a->ffn, hd = a->n_heads * a->head_dim;
    return w > hd ? w : hd;
}

typedef struct layout {
    wf_arena *arena; /* NULL: only count bytes */
    size_t bytes;
    size_t by_dtype[WF_DTYPE_COUNT];
    wf_status status;
} layout;

static void take(layout *l, wf_tensor *t, wf_dtype dt, int ndim, int64_t d0, int64_t d1,
                 int64_t d2, int64_t d3) {
    wf_tensor x = {.dtype = dt, .ndim = ndim, .shape = {d0, d1, d2, d3}};
    size_t n = wf_tensor_nbytes(&x);
    size_t al = (n + WF_ARENA_ALIGN - 1) / WF_ARENA_ALIGN * WF_ARENA_ALIGN;
    l->bytes += al, l->by_dtype[dt] += al;
    if (l->arena && l->status == WF_OK) l->status = wf_arena_alloc(l->arena, n, &x.data);
    *t = x;
}

/* Block li's activations: its output (`out`, the next block's input) from lk, everything else
 * from l. Without recomputation both are the activation layout; with it (WF_ACTS_RECOMPUTE) l
 * is a region every block shares, which the backward refills by rerunning the block's forward
 * (forward.c wf_graph_recompute_block), and only the outputs stay per block. */
static void plan_layer(layout *l, layout *lk, const wf_model *m, int64_t li, int64_t B, int64_t T,
                       wf_layer_acts *la) {
    const wf_arch *a = &m->arch;
    wf_dtype dt = m->dtype;
    int64_t N = B * T, C = a->hidden, F = a->ffn, H = a->n_heads, Hk = a->n_kv_heads, D = a->head_dim;
    take(l, &la->ln1, dt, 2, N, C, 0, 0);
    take(l, &la->ln1_mean, WF_F32, 1, N, 0, 0, 0);
    take(l, &la->ln1_rstd, WF_F32, 1, N, 0, 0, 0);
    take(l, &la->q, dt, 4, B, T, H, D);
    take(l, &la->k, dt, 4, B, T, Hk, D);
    take(l, &la->v, dt, 4, B, T, Hk, D);
    take(l, &la->att, dt, 4, B, T, H, D);
    take(l, &la->lse, WF_F32, 3, B, H, T, 0);
    take(l, &la->s1, dt, 2, N, C, 0, 0);
    take(a->pre_norm ? l : lk, &la->ln2, dt, 2, N, C, 0, 0);
    take(l, &la->ln2_mean, WF_F32, 1, N, 0, 0, 0);
    take(l, &la->ln2_rstd, WF_F32, 1, N, 0, 0, 0);
    if (a->gated_mlp) take(l, &la->gate, dt, 2, N, F, 0, 0);
    take(l, &la->up, dt, 2, N, F, 0, 0);
    take(l, &la->act, dt, 2, N, F, 0, 0);
    take(a->pre_norm ? lk : l, &la->s2, dt, 2, N, C, 0, 0);
    la->out = a->pre_norm ? &la->s2 : &la->ln2;
    for (int s = 0; m->lora && s < WF_N_SITES; s++) {
        const wf_lora_adapter *ad = &m->lora[li * WF_N_SITES + s];
        if (ad->a.data) take(l, &la->lora_h[s], dt, 2, N, ad->a.shape[0], 0, 0);
        if (!ad->mag.data) continue;
        int64_t M = ad->mag.shape[0];
        take(l, &la->dora_z[s], dt, 2, N, M, 0, 0);
        take(l, &la->dora_s[s], dt, 1, M, 0, 0, 0);
        take(l, &la->dora_rn[s], WF_F32, 1, M, 0, 0, 0);
    }
    for (int k = 0; m->adapters && k < 2; k++) {
        int64_t r = m->adapters[2 * li + k].down_w.shape[0];
        take(l, &la->ad_x[k], dt, 2, N, C, 0, 0);
        take(l, &la->ad_h1[k], dt, 2, N, r, 0, 0);
        take(l, &la->ad_h2[k], dt, 2, N, r, 0, 0);
    }
    for (int s = 0; m->ia3 && s < WF_N_SITES; s++) {
        const wf_ia3_vec *iv = &m->ia3[li * WF_N_SITES + s];
        if (iv->l.data) take(l, &la->ia3_x[s], dt, 2, N, iv->l.shape[0], 0, 0);
    }
}

/* The backward's working buffers (graph.h wf_grad_acts). */
static void plan_grads(layout *l, const wf_model *m, int64_t B, int64_t T, wf_grad_acts *d) {
    const wf_arch *a = &m->arch;
    wf_dtype dt = m->dtype;
    int64_t N = B * T, C = a->hidden, F = a->ffn, HD = a->n_heads * a->head_dim;
    int64_t KD = a->n_kv_heads * a->head_dim;
    take(l, &d->dx, dt, 2, N, C, 0, 0);
    take(l, &d->da, dt, 2, N, C, 0, 0);
    take(l, &d->db, dt, 2, N, C, 0, 0);
    take(l, &d->df1, dt, 2, N, F, 0, 0);
    take(l, &d->df2, dt, 2, N, F, 0, 0);
    if (a->gated_mlp) take(l, &d->df3, dt, 2, N, F, 0, 0);
    take(l, &d->datt, dt, 2, N, HD, 0, 0);
    take(l, &d->dq, dt, 2, N, HD, 0, 0);
    take(l, &d->dk, dt, 2, N, KD, 0, 0);
    take(l, &d->dv, dt, 2, N, KD, 0, 0);
    take(l, &d->tok_loss, WF_F32, 1, N, 0, 0, 0);
    if (m->adapters) {
        int64_t r = m->adapters[0].down_w.shape[0];
        take(l, &d->dad, dt, 2, N, C, 0, 0);
        take(l, &d->dad_h1, dt, 2, N, r, 0, 0);
        take(l, &d->dad_h2, dt, 2, N, r, 0, 0);
    }
    if (has_dora(m)) {
        take(l, &d->ddora_s, dt, 1, widest(a), 0, 0, 0);
        take(l, &d->ddora_t, dt, 1, widest(a), 0, 0, 0);
    }
    if (m->ia3 || has_dora(m)) {
        int64_t w = C > F ? C : F;
        take(l, &d->dia3, dt, 2, N, w > HD ? w : HD, 0, 0);
    }
    if (a->head == WF_HEAD_LM) {
        int64_t R = N < WF_LM_CHUNK_ROWS ? N : WF_LM_CHUNK_ROWS;
        take(l, &d->lm_chunk, dt, 2, R, a->vocab, 0, 0);
    } else if (a->head != WF_HEAD_NONE) {
        take(l, &d->dpool, dt, 2, B, C, 0, 0);
        take(l, &d->dpool2, dt, 2, B, C, 0, 0);
    }
    if (a->family == WF_FAMILY_VIT) {
        int64_t side = a->image_size / a->patch_size;
        take(l, &d->dvit_rows, dt, 2, 1 + B * side * side, C, 0, 0);
    }
}

static void plan_all(layout *l, const wf_model *m, int64_t B, int64_t T, unsigned flags, wf_acts *x) {
    const wf_arch *a = &m->arch;
    wf_dtype dt = m->dtype;
    T = wf_model_seq_len(m, T);
    int64_t N = B * T, C = a->hidden;
    x->B = B, x->T = T;
    take(l, &x->emb, dt, 2, N, C, 0, 0);
    if (a->family == WF_FAMILY_BERT) {
        take(l, &x->emb_pre, dt, 2, N, C, 0, 0);
        take(l, &x->emb_mean, WF_F32, 1, N, 0, 0, 0);
        take(l, &x->emb_rstd, WF_F32, 1, N, 0, 0, 0);
    }
    if (a->family == WF_FAMILY_VIT) {
        int64_t side = a->image_size / a->patch_size;
        take(l, &x->vit_rows, dt, 2, 1 + B * side * side, C, 0, 0);
    }
    x->recompute = (flags & WF_ACTS_RECOMPUTE) && (flags & WF_ACTS_TRAIN);
    if (!x->recompute) {
        for (int64_t i = 0; i < a->n_layers; i++) plan_layer(l, l, m, i, B, T, &x->layers[i]);
    } else { /* one region as large as the largest block's, laid out afresh for every block */
        size_t most = 0;
        for (int64_t i = 0; i < a->n_layers; i++) {
            layout c = {0}, k = {0};
            plan_layer(&c, &k, m, i, B, T, &x->layers[i]);
            most = c.bytes > most ? c.bytes : most;
        }
        wf_tensor region;
        take(l, &region, dt, 1, (int64_t)(most / wf_dtype_size(dt)), 0, 0, 0); /* mostly dt */
        wf_arena shared = {.name = "activations (recomputed blocks)", .base = region.data, .size = most};
        for (int64_t i = 0; i < a->n_layers; i++) {
            layout sub = {.arena = region.data ? &shared : NULL};
            shared.used = 0;
            plan_layer(&sub, l, m, i, B, T, &x->layers[i]);
            if (l->status == WF_OK) l->status = sub.status;
        }
    }
    if (a->pre_norm) {
        take(l, &x->final, dt, 2, N, C, 0, 0);
        take(l, &x->final_mean, WF_F32, 1, N, 0, 0, 0);
        take(l, &x->final_rstd, WF_F32, 1, N, 0, 0, 0);
    }
    take(l, &x->tmp, dt, 2, N, C, 0, 0);
    if (has_dora(m)) {
        int64_t W = widest(a);
        take(l, &x->dora_w1, dt, 2, W, W, 0, 0);
        take(l, &x->dora_w2, dt, 2, W, W, 0, 0);
        take(l, &x->dora_ones, dt, 1, W, 0, 0, 0);
        take(l, &x->dora_zeros, WF_I32, 1, N, 0, 0, 0);
    }
    if (a->head == WF_HEAD_LM) {
        if (flags & WF_ACTS_LOGITS) take(l, &x->head_out, dt, 2, N, a->vocab, 0, 0);
    } else if (a->head != WF_HEAD_NONE) {
        take(l, &x->pooled, dt, 2, B, C, 0, 0);
        if (a->family == WF_FAMILY_BERT) take(l, &x->pooled_act, dt, 2, B, C, 0, 0);
        take(l, &x->head_out, dt, 2, B, a->n_labels, 0, 0);
    }
    if (flags & WF_ACTS_TRAIN) plan_grads(l, m, B, T, &x->d);
}

/* DoRA's constant vectors: ones (the norm's gains), zeros (the bias row index of every row). */
static wf_status fill_dora(const wf_model *m, wf_acts *x) {
    int64_t W = x->dora_ones.shape[0];
    float *one = malloc((size_t)W * sizeof *one);
    if (!one) return wf_error(WF_ERR_OOM, "activations: out of host memory");
    for (int64_t i = 0; i < W; i++) wf_store_f32(one, m->dtype, (size_t)i, 1.0f);
    wf_status s = m->be->copy(m->be, x->dora_ones.data, one, wf_tensor_nbytes(&x->dora_ones), WF_COPY_H2D);
    if (s == WF_OK) s = m->be->sync(m->be);
    free(one);
    if (s == WF_OK) s = m->be->memset(m->be, x->dora_zeros.data, 0, wf_tensor_nbytes(&x->dora_zeros));
    return s;
}

size_t wf_acts_bytes_by_dtype(const wf_model *m, int64_t B, int64_t T, unsigned flags,
                              size_t by_dtype[WF_DTYPE_COUNT]) {
    wf_acts x = {0};
    x.layers = calloc((size_t)m->arch.n_layers, sizeof *x.layers);
    WF_ASSERT(x.layers);
    layout l = {0};
    plan_all(&l, m, B, T, flags, &x);
    free(x.layers);
    if (by_dtype) memcpy(by_dtype, l.by_dtype, sizeof l.by_dtype);
    return l.bytes;
}

size_t wf_acts_bytes(const wf_model *m, int64_t B, int64_t T, unsigned flags) {
    return wf_acts_bytes_by_dtype(m, B, T, flags, NULL);
}

wf_status wf_acts_create(const wf_model *m, int64_t B, int64_t T, unsigned flags, wf_acts *out) {
    int64_t Tv = wf_model_seq_len(m, T); /* with the soft prompt's virtual tokens */
    if (B < 1 || T < 1 || (m->arch.pos == WF_POS_LEARNED && Tv > m->arch.max_positions))
        return wf_error(WF_ERR_INVALID, "batch %lld x %lld: sequence length (with %lld virtual tokens) "
                        "must be in [1, %lld] for this model", (long long)B, (long long)T,
                        (long long)(Tv - T), (long long)m->arch.max_positions);
    memset(out, 0, sizeof *out);
    out->layers = calloc((size_t)m->arch.n_layers, sizeof *out->layers);
    if (!out->layers) return wf_error(WF_ERR_OOM, "activations: out of host memory");
    size_t bytes = wf_acts_bytes(m, B, T, flags);
    wf_status s = wf_backend_arena_create(m->be, &out->arena, "activations", bytes);
    layout l = {.arena = &out->arena};
    if (s == WF_OK) plan_all(&l, m, B, T, flags, out), s = l.status;
    if (s == WF_OK && out->dora_ones.data) s = fill_dora(m, out);
    if (s != WF_OK) wf_acts_destroy(m, out);
    return s;
}

void wf_acts_destroy(const wf_model *m, wf_acts *a) {
    wf_backend_arena_destroy(m->be, &a->arena);
    free(a->layers);
    memset(a, 0, sizeof *a);
}

wf_status wf_kv_cache_create(const wf_model *m, int64_t cap, wf_kv_cache *out) {
    const wf_arch *a = &m->arch;
    memset(out, 0, sizeof *out);
    out->cap = cap;
    out->k = calloc((size_t)a->n_layers, sizeof *out->k);
    out->v = calloc((size_t)a->n_layers, sizeof *out->v);
    if (!out->k || !out->v) return wf_error(WF_ERR_OOM, "kv cache: out of host memory");
    wf_tensor t = {.dtype = m->dtype, .ndim = 4, .shape = {1, cap, a->n_kv_heads, a->head_dim}};
    size_t one = (wf_tensor_nbytes(&t) + WF_ARENA_ALIGN - 1) / WF_ARENA_ALIGN * WF_ARENA_ALIGN;
    WF_TRY(wf_backend_arena_create(m->be, &out->arena, "kv cache", one * 2 * (size_t)a->n_layers));
    for (int64_t l = 0; l < a->n_layers; l++) {
        out->k[l] = out->v[l] = t;
        WF_TRY(wf_arena_alloc(&out->arena, wf_tensor_nbytes(&t), &out->k[l].data));
        WF_TRY(wf_arena_alloc(&out->arena, wf_tensor_nbytes(&t), &out->v[l].data));
    }
    return WF_OK;
}

void wf_kv_cache_destroy(const wf_model *m, wf_kv_cache *kv) {
    wf_backend_arena_destroy(m->be, &kv->arena);
    free(kv->k), free(kv->v);
    memset(kv, 0, sizeof *kv);
}
