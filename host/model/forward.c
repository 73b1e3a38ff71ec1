/* The forward pass of every family over the op table (graph.h). Pre-norm blocks (GPT-2,
 * Llama, ViT): x + attn(norm1(x)), then + mlp(norm2(.)); post-norm blocks (BERT):
 * LN1(x + attn(x)), then LN2(. + mlp(.)). Every residual add followed by a norm runs as one
 * fused op (add_*norm_fwd): in pre-norm models a block's output goes straight into the next
 * block's norm1 (or the final norm), so a block ends by writing both. Activation buffers are
 * planned for the largest batch; a smaller batch uses a prefix of each (views with its B, T). */
#include <math.h>
#include <string.h>

#include "views.h"
#include "weft/graph.h"

/* A view of t's data with another shape (a prefix of the buffer). */

typedef struct fctx {
    const wf_model *m;
    const wf_batch *b;
    wf_acts *x;
    wf_backend *be;
    int64_t B, T, N;
} fctx;

/* The LoRA dropout of a site: on only in training, with the adapter's RNG stream. */
static wf_dropout site_dropout(const fctx *f, const wf_lora_adapter *ad) {
    return (wf_dropout){.p = f->x->training ? ad->dropout : 0.0f, .seed = f->x->seed,
                        .step = f->x->step, .stream = ad->stream};
}

/* IA3 on a site: y = (x * l) W^T + b (feed-forward) or (x W^T + b) * l, the scaled input or the
 * unscaled output saved in ia3_x for the backward. */
static wf_status site_ia3_fwd(fctx *f, const wf_ia3_vec *iv, wf_tensor *saved, wf_tensor *y,
                              const wf_tensor *x, const wf_tensor *w, const wf_tensor *b) {
    wf_tensor t = V2(*saved, f->N, iv->l.shape[0]);
    if (iv->ff) {
        WF_TRY(wf_op_ia3_fwd(f->be, &t, x, &iv->l));
        return wf_op_linear_fwd(f->be, y, &t, w, b);
    }
    WF_TRY(wf_op_linear_fwd(f->be, &t, x, w, b));
    return wf_op_ia3_fwd(f->be, y, &t, &iv->l);
}

/* DoRA's row scale of a site: rn (M) = 1 / ||W + scale B A||_row and s (M) = mag * rn. The rows
 * of W + scale B A are formed scaled by sqrt(K) (matmul alpha, beta), so that the RMS norm's
 * rstd = 1 / sqrt(mean(row^2) + eps) is 1 / ||row|| (eps 1e-30 is far below any row's square). */
static wf_status dora_scale(fctx *f, const wf_lora_adapter *ad, const wf_tensor *w, wf_tensor *rn,
                            wf_tensor *s) {
    int64_t M = w->shape[0], K = w->shape[1];
    wf_acts *x = f->x;
    wf_tensor c = V2(x->dora_w1, M, K), y = V2(x->dora_w2, M, K), g = V1(x->dora_ones, K);
    WF_TRY(f->be->copy(f->be, c.data, w->data, wf_tensor_nbytes(w), WF_COPY_D2D));
    float rk = sqrtf((float)K);
    wf_matmul mm = {.c = &c, .a = &ad->b, .b = &ad->a, .alpha = ad->scale * rk, .beta = rk};
    WF_TRY(wf_op_matmul(f->be, &mm));
    WF_TRY(wf_op_rmsnorm_fwd(f->be, &y, rn, &c, &g, 1e-30f));
    wf_tensor mag = wf_view(&ad->mag, 2, 1, M, 0, 0), s2 = wf_view(s, 2, 1, M, 0, 0);
    return wf_op_ia3_fwd(f->be, &s2, &mag, rn);
}

/* DoRA on a LoRA site (peft's DoraLinearLayer with dropout 0): z = x W^T + scale (x A^T) B^T,
 * y = s * z + b; z, s and rn are saved for the backward. The bias is added as row 0 of a
 * one-row table looked up by every row (the embedding op's accumulate). */
static wf_status site_dora_fwd(fctx *f, int64_t li, wf_site st, const wf_lora_adapter *ad,
                               wf_tensor *y, const wf_tensor *x, const wf_tensor *w, const wf_tensor *b) {
    wf_layer_acts *la = &f->x->layers[li];
    int64_t M = w->shape[0];
    wf_tensor rn = V1(la->dora_rn[st], M), s = V1(la->dora_s[st], M), z = V2(la->dora_z[st], f->N, M);
    wf_tensor h = V2(la->lora_h[st], f->N, ad->a.shape[0]);
    WF_TRY(dora_scale(f, ad, w, &rn, &s));
    wf_lora l = {.y = &z, .h = &h, .x = x, .w = w, .bias = NULL, .a = &ad->a, .b = &ad->b,
                 .scale = ad->scale, .drop = site_dropout(f, ad)};
    WF_TRY(wf_op_lora_fwd(f->be, &l));
    WF_TRY(wf_op_ia3_fwd(f->be, y, &z, &s));
    if (!b) return WF_OK;
    wf_tensor rows = V1(f->x->dora_zeros, f->N), table = wf_view(b, 2, 1, M, 0, 0);
    return wf_op_embedding_fwd(f->be, y, &rows, &table, true);
}

/* y = x W^T + b through the layer's linear site `s`, with its LoRA adapter or IA3 vector when it
 * has one. */
static wf_status site_fwd(fctx *f, int64_t li, wf_site s, wf_tensor *y, const wf_tensor *x,
                          const wf_tensor *w, const wf_tensor *b) {
    const wf_ia3_vec *iv = f->m->ia3 ? &f->m->ia3[li * WF_N_SITES + s] : NULL;
    if (iv && iv->l.data) return site_ia3_fwd(f, iv, &f->x->layers[li].ia3_x[s], y, x, w, b);
    const wf_lora_adapter *ad = f->m->lora ? &f->m->lora[li * WF_N_SITES + s] : NULL;
    if (!ad || !ad->a.data) return wf_op_linear_fwd(f->be, y, x, w, b);
    if (ad->mag.data) return site_dora_fwd(f, li, s, ad, y, x, w, b);
    wf_tensor h = V2(f->x->layers[li].lora_h[s], f->N, ad->a.shape[0]);
    wf_lora l = {.y = y, .h = &h, .x = x, .w = w, .bias = b, .a = &ad->a, .b = &ad->b,
                 .scale = ad->scale, .drop = site_dropout(f, ad)};
    return wf_op_lora_fwd(f->be, &l);
}

/* Where a norm writes and which weights it reads: y (N, C), mean and rstd (N) (mean unused by
 * RMSNorm), gain g and bias (C) (bias data NULL when the model has none). */
typedef struct norm_site {
    wf_tensor *y, *mean, *rstd;
    const wf_tensor *g, *bias;
} norm_site;

static norm_site ln1_site(const fctx *f, int64_t li) {
    wf_layer_acts *la = &f->x->layers[li];
    const wf_layer *w = &f->m->w.layers[li];
    return (norm_site){&la->ln1, &la->ln1_mean, &la->ln1_rstd, &w->ln1_g, &w->ln1_b};
}

static norm_site ln2_site(const fctx *f, int64_t li) {
    wf_layer_acts *la = &f->x->layers[li];
    const wf_layer *w = &f->m->w.layers[li];
    return (norm_site){&la->ln2, &la->ln2_mean, &la->ln2_rstd, &w->ln2_g, &w->ln2_b};
}

/* Pre-norm: the norm that reads block li's input, block li's ln1, or the final norm after the
 * last block (li == n_layers). */
static norm_site input_norm_site(const fctx *f, int64_t li) {
    if (li < f->m->arch.n_layers) return ln1_site(f, li);
    wf_acts *x = f->x;
    const wf_weights *w = &f->m->w;
    return (norm_site){&x->final, &x->final_mean, &x->final_rstd, &w->final_g, &w->final_b};
}

static wf_status norm(fctx *f, const norm_site *ns, const wf_tensor *x) {
    wf_tensor yv = V2(*ns->y, f->N, x->shape[1]), mv = V1(*ns->mean, f->N);
    wf_tensor rv = V1(*ns->rstd, f->N);
    float eps = f->m->arch.norm_eps;
    if (f->m->arch.norm == WF_NORM_RMSNORM)
        return wf_op_rmsnorm_fwd(f->be, &yv, &rv, x, ns->g, eps);
    return wf_op_layernorm_fwd(f->be, &yv, &mv, &rv, x, ns->g, OPT(*ns->bias), eps);
}

/* s = x + r, the residual stream (saved), then the norm of s, in one op (ops.h add_*norm_fwd:
 * the bits of add then norm). */
static wf_status add_norm(fctx *f, wf_tensor *s, const norm_site *ns, const wf_tensor *x,
                          const wf_tensor *r) {
    wf_tensor yv = V2(*ns->y, f->N, x->shape[1]), mv = V1(*ns->mean, f->N);
    wf_tensor rv = V1(*ns->rstd, f->N);
    float eps = f->m->arch.norm_eps;
    if (f->m->arch.norm == WF_NORM_RMSNORM)
        return wf_op_add_rmsnorm_fwd(f->be, s, &yv, &rv, x, r, ns->g, eps);
    return wf_op_add_layernorm_fwd(f->be, s, &yv, &mv, &rv, x, r, ns->g, OPT(*ns->bias), eps);
}

/* Generation: appends this batch's k, v (1, T, Hk, D) to layer li's cache and points k4, v4 at
 * everything cached so far (the attention op treats the queries as the last T positions). */
static wf_status kv_append(fctx *f, int64_t li, wf_tensor *k4, wf_tensor *v4) {
    wf_kv_cache *kv = f->x->kv;
    if (f->B != 1 || kv->len + f->T > kv->cap)
        return wf_error(WF_ERR_INVALID, "kv cache: %lld + %lld tokens exceed its %lld (batch %lld)",
                        (long long)kv->len, (long long)f->T, (long long)kv->cap, (long long)f->B);
    size_t row = wf_tensor_nbytes(k4) / (size_t)f->T, off = (size_t)kv->len * row;
    WF_TRY(f->be->copy(f->be, (char *)kv->k[li].data + off, k4->data, wf_tensor_nbytes(k4), WF_COPY_D2D));
    WF_TRY(f->be->copy(f->be, (char *)kv->v[li].data + off, v4->data, wf_tensor_nbytes(v4), WF_COPY_D2D));
    int64_t S = kv->len + f->T;
    *k4 = wf_view(&kv->k[li], 4, 1, S, k4->shape[2], k4->shape[3]);
    *v4 = wf_view(&kv->v[li], 4, 1, S, v4->shape[2], v4->shape[3]);
    return WF_OK;
}

/* tmp (N, C) = attention block of h (N, C); saves q, k, v, att, lse. */
static wf_status attention(fctx *f, int64_t li, const wf_layer *w, wf_layer_acts *la,
                           const wf_tensor *h, wf_tensor *tmp) {
    const wf_arch *a = &f->m->arch;
    int64_t H = a->n_heads, Hk = a->n_kv_heads, D = a->head_dim;
    wf_tensor q = wf_view(&la->q, 2, f->N, H * D, 0, 0), k = wf_view(&la->k, 2, f->N, Hk * D, 0, 0);
    wf_tensor v = wf_view(&la->v, 2, f->N, Hk * D, 0, 0);
    WF_TRY(site_fwd(f, li, WF_SITE_Q, &q, h, &w->wq, OPT(w->bq)));
    WF_TRY(site_fwd(f, li, WF_SITE_K, &k, h, &w->wk, OPT(w->bk)));
    WF_TRY(site_fwd(f, li, WF_SITE_V, &v, h, &w->wv, OPT(w->bv)));
    wf_tensor q4 = wf_view(&la->q, 4, f->B, f->T, H, D), k4 = wf_view(&la->k, 4, f->B, f->T, Hk, D);
    wf_tensor v4 = wf_view(&la->v, 4, f->B, f->T, Hk, D);
    if (a->pos == WF_POS_ROPE) {
        wf_tensor q3 = wf_view(&la->q, 3, f->N, H, D, 0), k3 = wf_view(&la->k, 3, f->N, Hk, D, 0);
        wf_tensor pos = V1(f->b->pos, f->N);
        WF_TRY(wf_op_rope_fwd(f->be, &q3, &q3, &pos, &f->m->rope_inv_freq));
        WF_TRY(wf_op_rope_fwd(f->be, &k3, &k3, &pos, &f->m->rope_inv_freq));
    }
    if (f->x->kv) WF_TRY(kv_append(f, li, &k4, &v4));
    wf_tensor att = wf_view(&la->att, 4, f->B, f->T, H, D), lse = wf_view(&la->lse, 3, f->B, H, f->T, 0);
    wf_attention at = {.out = &att, .lse = &lse, .q = &q4, .k = &k4, .v = &v4,
                       .key_mask = OPT(f->b->key_mask), .doc_ids = OPT(f->b->doc_ids),
                       .causal = a->causal, .scale = (float)(1.0 / sqrt((double)D))};
    WF_TRY(wf_op_attention_fwd(f->be, &at));
    wf_tensor att2 = wf_view(&la->att, 2, f->N, H * D, 0, 0);
    return site_fwd(f, li, WF_SITE_O, tmp, &att2, &w->wo, OPT(w->bo));
}

/* tmp (N, C) = MLP of h (N, C); saves gate, up, act. */
static wf_status mlp(fctx *f, int64_t li, const wf_layer *w, wf_layer_acts *la, const wf_tensor *h,
                     wf_tensor *tmp) {
    const wf_arch *a = &f->m->arch;
    wf_tensor up = V2(la->up, f->N, a->ffn), act = V2(la->act, f->N, a->ffn);
    if (!a->gated_mlp && a->act == WF_ACT_GELU_TANH && wf_model_site_plain(f->m, li, WF_SITE_UP)) {
        /* one op, which a backend may fuse into the GEMM (ops.h linear_gelu_tanh_fwd); the CPU
         * runs the same linear and GELU as the path below */
        WF_TRY(wf_op_linear_gelu_tanh_fwd(f->be, &act, &up, h, &w->w_up, OPT(w->b_up)));
    } else {
        WF_TRY(site_fwd(f, li, WF_SITE_UP, &up, h, &w->w_up, OPT(w->b_up)));
        if (a->gated_mlp) {
            wf_tensor gate = V2(la->gate, f->N, a->ffn);
            WF_TRY(site_fwd(f, li, WF_SITE_GATE, &gate, h, &w->w_gate, NULL));
            WF_TRY(wf_op_swiglu_fwd(f->be, &act, &gate, &up));
        } else {
            WF_TRY(wf_op_gelu_fwd(f->be, &act, &up, a->act == WF_ACT_GELU_TANH));
        }
    }
    return site_fwd(f, li, WF_SITE_DOWN, tmp, &act, &w->w_down, OPT(w->b_down));
}

/* Houlsby adapter k (0: after attention, 1: after the MLP) of layer li on tmp (N, C), in place:
 * tmp = tmp + up(gelu(down(tmp))); the input and the bottleneck are saved for the backward. */
static wf_status adapter(fctx *f, int64_t li, int k, wf_tensor *tmp) {
    if (!f->m->adapters) return WF_OK;
    const wf_houlsby *ad = &f->m->adapters[2 * li + k];
    wf_layer_acts *la = &f->x->layers[li];
    int64_t r = ad->down_w.shape[0];
    wf_tensor ax = V2(la->ad_x[k], f->N, tmp->shape[1]), h1 = V2(la->ad_h1[k], f->N, r);
    wf_tensor h2 = V2(la->ad_h2[k], f->N, r);
    WF_TRY(f->be->copy(f->be, ax.data, tmp->data, wf_tensor_nbytes(&ax), WF_COPY_D2D));
    WF_TRY(wf_op_linear_fwd(f->be, &h1, &ax, &ad->down_w, &ad->down_b));
    WF_TRY(wf_op_gelu_fwd(f->be, &h2, &h1, false));
    WF_TRY(wf_op_linear_fwd(f->be, tmp, &h2, &ad->up_w, &ad->up_b));
    return wf_op_add(f->be, tmp, tmp, &ax);
}

/* Pre-norm: block li's ln1 holds norm1(x) on entry (the previous step's fused add wrote it), and
 * on exit s2 and the next norm of it (block li+1's ln1, or the final norm) are written. With
 * `again` (activation recomputation, wf_graph_recompute_block) the block's ln1 is first
 * recomputed from x (norm(s) has the bits of the fused add's norm, ops.h) and the block stops
 * before its last add: s2 is kept from the first pass, and the next norm must not be written
 * (block li+1's ln1 shares this block's region). Post-norm blocks run whole either way (their
 * output, ln2, is kept and rewritten with the same bits). */
static wf_status block(fctx *f, int64_t li, const wf_tensor *x, wf_tensor *tmp, bool again) {
    const wf_layer *w = &f->m->w.layers[li];
    wf_layer_acts *la = &f->x->layers[li];
    int64_t C = f->m->arch.hidden;
    wf_tensor s1 = V2(la->s1, f->N, C), s2 = V2(la->s2, f->N, C);
    wf_tensor ln1 = V2(la->ln1, f->N, C), ln2 = V2(la->ln2, f->N, C);
    norm_site n1 = ln1_site(f, li), n2 = ln2_site(f, li);
    if (f->m->arch.pre_norm) {
        norm_site next = input_norm_site(f, li + 1);
        if (again) WF_TRY(norm(f, &n1, x));
        WF_TRY(attention(f, li, w, la, &ln1, tmp));
        WF_TRY(adapter(f, li, 0, tmp));
        WF_TRY(add_norm(f, &s1, &n2, x, tmp));          /* s1 = x + attn, ln2 = norm2(s1) */
        WF_TRY(mlp(f, li, w, la, &ln2, tmp));
        WF_TRY(adapter(f, li, 1, tmp));
        if (again) return WF_OK;
        return add_norm(f, &s2, &next, &s1, tmp);       /* s2 = s1 + mlp, then its norm */
    }
    WF_TRY(attention(f, li, w, la, x, tmp));
    WF_TRY(adapter(f, li, 0, tmp));
    WF_TRY(add_norm(f, &s1, &n1, x, tmp));              /* ln1 = LN1(x + attn) */
    WF_TRY(mlp(f, li, w, la, &ln1, tmp));
    WF_TRY(adapter(f, li, 1, tmp));
    return add_norm(f, &s2, &n2, &ln1, tmp);            /* ln2 = LN2(ln1 + mlp) */
}

/* ViT: rows = [cls; patches W^T + b], then emb = rows[gather] (+ positions by the caller). */
static wf_status vit_embed(fctx *f, wf_acts *x, wf_tensor *emb) {
    const wf_model *m = f->m;
    int64_t C = m->arch.hidden, np = f->b->patches.shape[0];
    wf_tensor rows = V2(x->vit_rows, 1 + np, C);
    wf_tensor patch_out = rows;
    patch_out.data = (char *)rows.data + (size_t)C * wf_dtype_size(rows.dtype);
    patch_out.shape[0] = np;
    WF_TRY(m->be->copy(m->be, rows.data, m->w.cls_token.data, wf_tensor_nbytes(&m->w.cls_token),
                       WF_COPY_D2D));
    WF_TRY(wf_op_linear_fwd(f->be, &patch_out, &f->b->patches, &m->w.patch_w, &m->w.patch_b));
    wf_tensor gather = V1(f->b->gather, f->N);
    return wf_op_embedding_fwd(f->be, emb, &gather, &rows, false);
}

/* Prompt tuning: the first Nv rows of every sequence take the soft prompt in place of token
 * embeddings (PEFT concatenates it to inputs_embeds; positions and BERT's types add after). */
static wf_status prompt_rows(fctx *f, wf_tensor *dst) {
    const wf_tensor *p = &f->m->w.prompt;
    if (!p->ndim) return WF_OK;
    size_t row = (size_t)dst->shape[1] * wf_dtype_size(dst->dtype);
    for (int64_t b = 0; b < f->B; b++)
        WF_TRY(f->be->copy(f->be, (char *)dst->data + (size_t)(b * f->T) * row, p->data,
                           wf_tensor_nbytes(p), WF_COPY_D2D));
    return WF_OK;
}

static wf_status embed(fctx *f, wf_acts *x, wf_tensor *emb) {
    const wf_model *m = f->m;
    const wf_weights *w = &m->w;
    int64_t C = m->arch.hidden;
    wf_tensor ids = V1(f->b->ids, f->N), pos = V1(f->b->pos, f->N);
    switch (m->arch.family) {
    case WF_FAMILY_LLAMA:
        WF_TRY(wf_op_embedding_fwd(f->be, emb, &ids, &w->tok_emb, false));
        return prompt_rows(f, emb);
    case WF_FAMILY_GPT2:
        WF_TRY(wf_op_embedding_fwd(f->be, emb, &ids, &w->tok_emb, false));
        WF_TRY(prompt_rows(f, emb));
        return wf_op_embedding_fwd(f->be, emb, &pos, &w->pos_emb, true);
    case WF_FAMILY_VIT:
        WF_TRY(vit_embed(f, x, emb));
        return wf_op_embedding_fwd(f->be, emb, &pos, &w->pos_emb, true);
    case WF_FAMILY_BERT: {
        wf_tensor pre = V2(x->emb_pre, f->N, C);
        WF_TRY(wf_op_embedding_fwd(f->be, &pre, &ids, &w->tok_emb, false));
        WF_TRY(prompt_rows(f, &pre));
        WF_TRY(wf_op_embedding_fwd(f->be, &pre, &pos, &w->pos_emb, true));
        if (w->type_emb.data) {
            if (!f->b->types.data)
                return wf_error(WF_ERR_INVALID, "bert forward: the batch has no token type ids");
            wf_tensor types = V1(f->b->types, f->N);
            WF_TRY(wf_op_embedding_fwd(f->be, &pre, &types, &w->type_emb, true));
        }
        norm_site ns = {emb, &x->emb_mean, &x->emb_rstd, &w->emb_ln_g, &w->emb_ln_b};
        return norm(f, &ns, &pre);
    }
    }
    return WF_OK;
}

static wf_status head(fctx *f, wf_acts *x, const wf_tensor *hidden) {
    const wf_model *m = f->m;
    const wf_arch *a = &m->arch;
    const wf_weights *w = &m->w;
    if (a->head == WF_HEAD_NONE || !x->head_out.data) return WF_OK;
    if (a->head == WF_HEAD_LM) {
        wf_tensor logits = V2(x->head_out, f->N, a->vocab);
        return wf_op_linear_fwd(f->be, &logits, hidden, &w->lm_head, NULL);
    }
    wf_tensor pooled = V2(x->pooled, f->B, a->hidden), pick = V1(f->b->pick, f->B);
    wf_tensor out = V2(x->head_out, f->B, a->n_labels);
    WF_TRY(wf_op_embedding_fwd(f->be, &pooled, &pick, hidden, false));
    const wf_tensor *feat = &pooled;
    wf_tensor act;
    if (a->family == WF_FAMILY_BERT) { /* pooler: tanh(dense(CLS)) */
        act = V2(x->pooled_act, f->B, a->hidden);
        WF_TRY(wf_op_linear_fwd(f->be, &act, &pooled, &w->pooler_w, &w->pooler_b));
        WF_TRY(wf_op_tanh_fwd(f->be, &act, &act));
        feat = &act;
    }
    return wf_op_linear_fwd(f->be, &out, feat, &w->cls_w, OPT(w->cls_b));
}

const wf_tensor *wf_graph_hidden(const wf_model *m, const wf_acts *a) {
    if (m->arch.pre_norm) return &a->final;
    return a->layers[m->arch.n_layers - 1].out;
}

wf_status wf_graph_forward(const wf_model *m, const wf_batch *b, wf_acts *x) {
    if (b->B > x->B || b->T > x->T || b->B * b->T > x->B * x->T)
        return wf_error(WF_ERR_INVALID, "forward: batch %lld x %lld exceeds the planned %lld x %lld",
                        (long long)b->B, (long long)b->T, (long long)x->B, (long long)x->T);
    if (m->w.prompt.ndim && x->kv)
        return wf_error(WF_ERR_UNSUPPORTED, "forward: generation with a soft prompt (prompt tuning) "
                        "is not supported");
    fctx f = {m, b, x, m->be, b->B, b->T, b->B * b->T};
    int64_t C = m->arch.hidden;
    wf_tensor emb = V2(x->emb, f.N, C), tmp = V2(x->tmp, f.N, C);
    WF_TRY(embed(&f, x, &emb));
    if (m->arch.pre_norm) { /* block 0's ln1; every later pre-norm norm is fused with its add */
        norm_site first = input_norm_site(&f, 0);
        WF_TRY(norm(&f, &first, &emb));
    }
    wf_tensor cur = emb;
    for (int64_t i = 0; i < m->arch.n_layers; i++) {
        WF_TRY(block(&f, i, &cur, &tmp, false));
        cur = V2(*x->layers[i].out, f.N, C);
    }
    if (m->arch.pre_norm) cur = V2(x->final, f.N, C); /* written by the last block's fused add */
    return head(&f, x, &cur);
}

wf_status wf_graph_recompute_block(const wf_model *m, const wf_batch *b, wf_acts *x, int64_t li) {
    fctx f = {m, b, x, m->be, b->B, b->T, b->B * b->T};
    int64_t C = m->arch.hidden;
    wf_tensor tmp = V2(x->tmp, f.N, C);
    wf_tensor in = li ? V2(*x->layers[li - 1].out, f.N, C) : V2(x->emb, f.N, C);
    return block(&f, li, &in, &tmp, true);
}
