/* The backward pass of every family (graph.h wf_graph_backward), the forward of forward.c in
 * reverse. Gradients "+=" into the weights' gradient views (NULL data = frozen: no gradient
 * and no weight-gradient matmul); the residual-stream gradient lives in a->d.dx and the norms'
 * backward adds into it (ops.h: norm dx is "+="). MATH.md has the math of every step. */
#include <math.h>
#include <string.h>

#include "views.h"
#include "weft/graph.h"


typedef struct bctx {
    const wf_model *m;
    const wf_batch *b;
    wf_acts *x;
    const wf_grads *g;
    wf_backend *be;
    int64_t B, T, N;
} bctx;

static wf_status zero(bctx *c, wf_tensor *t) {
    return c->be->memset(c->be, t->data, 0, wf_tensor_nbytes(t));
}

/* Backward of an IA3 site (forward.c site_ia3_fwd); the gradient between the scaling and the
 * linear passes through d.dia3. */
static wf_status site_ia3_bwd(bctx *c, int64_t li, wf_site s, wf_tensor *dx, const wf_tensor *dy,
                              const wf_tensor *x, const wf_tensor *W, wf_tensor *gW, wf_tensor *gbias) {
    const wf_ia3_vec *iv = &c->m->ia3[li * WF_N_SITES + s];
    wf_tensor *dl = &c->g->ia3[li * WF_N_SITES + s].l;
    int64_t n = iv->l.shape[0];
    wf_tensor saved = V2(c->x->layers[li].ia3_x[s], c->N, n), t = V2(c->x->d.dia3, c->N, n);
    if (iv->ff) { /* y = xs W^T + b, xs = x * l */
        WF_TRY(wf_op_linear_bwd(c->be, &t, OPTW(*gW), gbias, dy, &saved, W));
        return wf_op_ia3_bwd(c->be, dx, dl, &t, x, &iv->l);
    }
    WF_TRY(wf_op_ia3_bwd(c->be, &t, dl, dy, &saved, &iv->l)); /* y = z * l, z = x W^T + b */
    return wf_op_linear_bwd(c->be, dx, OPTW(*gW), gbias, &t, x, W);
}

/* Backward of a DoRA site (forward.c site_dora_fwd), the row scale a constant as in peft:
 * dz = dy * s; d(mag) += colsum(dy * z) * rn; dbias += colsum(dy); then LoRA's backward from dz. */
static wf_status site_dora_bwd(bctx *c, int64_t li, wf_site st, wf_lora *l, wf_tensor *gbias,
                               wf_tensor *gmag) {
    wf_layer_acts *la = &c->x->layers[li];
    int64_t M = l->w->shape[0];
    wf_tensor rn = V1(la->dora_rn[st], M), s = V1(la->dora_s[st], M), z = V2(la->dora_z[st], c->N, M);
    wf_tensor dz = V2(c->x->d.dia3, c->N, M), ds = V1(c->x->d.ddora_s, M);
    wf_tensor ds2 = wf_view(&c->x->d.ddora_s, 2, 1, M, 0, 0), t2 = wf_view(&c->x->d.ddora_t, 2, 1, M, 0, 0);
    WF_TRY(zero(c, &ds));
    WF_TRY(wf_op_ia3_bwd(c->be, &dz, &ds, l->dy, &z, &s));
    if (gmag->data) {
        wf_tensor g2 = wf_view(gmag, 2, 1, M, 0, 0);
        WF_TRY(wf_op_ia3_fwd(c->be, &t2, &ds2, &rn));
        WF_TRY(wf_op_add(c->be, &g2, &g2, &t2));
    }
    if (gbias) {
        wf_tensor rows = V1(c->x->dora_zeros, c->N), table = wf_view(gbias, 2, 1, M, 0, 0);
        WF_TRY(wf_op_embedding_bwd(c->be, &table, &rows, l->dy));
    }
    l->dy = &dz, l->bias = NULL, l->dbias = NULL;
    return wf_op_lora_bwd(c->be, l);
}

/* Backward of site s of layer li: dx "=" (when dx), weight grads "+=". x is the site's input. */
static wf_status site_bwd(bctx *c, int64_t li, wf_site s, wf_tensor *dx, const wf_tensor *dy,
                          const wf_tensor *x) {
    wf_weights *w = (wf_weights *)&c->m->w, *gw = (wf_weights *)&c->g->w;
    const wf_tensor *W = wf_model_site_weight(w, li, s), *bias = wf_model_site_bias(w, li, s);
    wf_tensor *gW = wf_model_site_weight(gw, li, s), *gb = wf_model_site_bias(gw, li, s);
    wf_tensor *gbias = gb && gb->data ? gb : NULL;
    if (c->m->ia3 && c->m->ia3[li * WF_N_SITES + s].l.data)
        return site_ia3_bwd(c, li, s, dx, dy, x, W, gW, gbias);
    const wf_lora_adapter *ad = c->m->lora ? &c->m->lora[li * WF_N_SITES + s] : NULL;
    if (!ad || !ad->a.data) return wf_op_linear_bwd(c->be, dx, OPTW(*gW), gbias, dy, x, W);
    wf_lora_adapter *gad = &c->g->lora[li * WF_N_SITES + s];
    wf_tensor h = V2(c->x->layers[li].lora_h[s], c->N, ad->a.shape[0]);
    wf_lora l = {.h = &h, .x = x, .w = W, .bias = bias && bias->data ? bias : NULL, .a = &ad->a, .b = &ad->b,
                 .scale = ad->scale,
                 .drop = {.p = c->x->training ? ad->dropout : 0.0f, .seed = c->x->seed,
                          .step = c->x->step, .stream = ad->stream},
                 .dx = dx, .dw = OPTW(*gW), .dbias = gbias, .da = &gad->a, .db = &gad->b, .dy = dy};
    if (ad->mag.data) return site_dora_bwd(c, li, s, &l, gbias, &gad->mag);
    return wf_op_lora_bwd(c->be, &l);
}

static wf_status norm_bwd(bctx *c, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *x,
                          const wf_tensor *mean, const wf_tensor *rstd, const wf_tensor *gam,
                          const wf_tensor *bet, wf_tensor *dgam, wf_tensor *dbet) {
    wf_tensor mv = V1(*mean, c->N), rv = V1(*rstd, c->N);
    if (c->m->arch.norm == WF_NORM_RMSNORM)
        return wf_op_rmsnorm_bwd(c->be, dx, OPTW(*dgam), dy, x, &rv, gam);
    (void)bet;
    return wf_op_layernorm_bwd(c->be, dx, OPTW(*dgam), OPTW(*dbet), dy, x, &mv, &rv, gam);
}

/* dh (N, C) "=" gradient of the MLP's input from dy (N, C), the MLP output's gradient. */
static wf_status mlp_bwd(bctx *c, int64_t li, wf_tensor *dh, const wf_tensor *dy, const wf_tensor *h) {
    const wf_arch *a = &c->m->arch;
    wf_layer_acts *la = &c->x->layers[li];
    wf_tensor dact = V2(c->x->d.df1, c->N, a->ffn), dup = V2(c->x->d.df2, c->N, a->ffn);
    wf_tensor act = V2(la->act, c->N, a->ffn), up = V2(la->up, c->N, a->ffn);
    if (!a->gated_mlp && a->act == WF_ACT_GELU_TANH && wf_model_site_plain(c->m, li, WF_SITE_DOWN)) {
        /* the down projection's backward with its dx fed through the GELU's, one op that a
         * backend may fuse into the dx GEMM (ops.h linear_dgelu_tanh_bwd); the CPU runs the same
         * linear and GELU backward as the path below */
        wf_weights *gw = (wf_weights *)&c->g->w;
        wf_tensor *gW = wf_model_site_weight(gw, li, WF_SITE_DOWN);
        wf_tensor *gb = wf_model_site_bias(gw, li, WF_SITE_DOWN);
        WF_TRY(wf_op_linear_dgelu_tanh_bwd(c->be, &dup, OPTW(*gW), gb && gb->data ? gb : NULL, dy,
                                           &act, &c->m->w.layers[li].w_down, &up));
        return site_bwd(c, li, WF_SITE_UP, dh, &dup, h);
    }
    WF_TRY(site_bwd(c, li, WF_SITE_DOWN, &dact, dy, &act));
    if (!a->gated_mlp) {
        WF_TRY(wf_op_gelu_bwd(c->be, &dup, &dact, &up, a->act == WF_ACT_GELU_TANH));
        return site_bwd(c, li, WF_SITE_UP, dh, &dup, h);
    }
    wf_tensor gate = V2(la->gate, c->N, a->ffn), dgate = V2(c->x->d.df3, c->N, a->ffn);
    WF_TRY(wf_op_swiglu_bwd(c->be, &dgate, &dup, &dact, &gate, &up));
    wf_tensor tmp = V2(c->x->d.db, c->N, a->hidden);
    WF_TRY(site_bwd(c, li, WF_SITE_UP, dh, &dup, h));
    WF_TRY(site_bwd(c, li, WF_SITE_GATE, &tmp, &dgate, h));
    return wf_op_add(c->be, dh, dh, &tmp);
}

/* dh (N, C) "=" gradient of the attention block's input from dy (N, C). */
static wf_status attention_bwd(bctx *c, int64_t li, wf_tensor *dh, const wf_tensor *dy, const wf_tensor *h) {
    const wf_arch *a = &c->m->arch;
    wf_layer_acts *la = &c->x->layers[li];
    int64_t H = a->n_heads, Hk = a->n_kv_heads, D = a->head_dim;
    wf_grad_acts *d = &c->x->d;
    wf_tensor datt = V2(d->datt, c->N, H * D), att2 = V2(la->att, c->N, H * D);
    WF_TRY(site_bwd(c, li, WF_SITE_O, &datt, dy, &att2));
    wf_tensor q4 = wf_view(&la->q, 4, c->B, c->T, H, D), k4 = wf_view(&la->k, 4, c->B, c->T, Hk, D);
    wf_tensor v4 = wf_view(&la->v, 4, c->B, c->T, Hk, D), o4 = wf_view(&la->att, 4, c->B, c->T, H, D);
    wf_tensor lse = wf_view(&la->lse, 3, c->B, H, c->T, 0), do4 = wf_view(&d->datt, 4, c->B, c->T, H, D);
    wf_tensor dq4 = wf_view(&d->dq, 4, c->B, c->T, H, D), dk4 = wf_view(&d->dk, 4, c->B, c->T, Hk, D);
    wf_tensor dv4 = wf_view(&d->dv, 4, c->B, c->T, Hk, D);
    wf_attention at = {.out = &o4, .lse = &lse, .q = &q4, .k = &k4, .v = &v4,
                       .key_mask = OPT(c->b->key_mask), .doc_ids = OPT(c->b->doc_ids),
                       .causal = a->causal, .scale = (float)(1.0 / sqrt((double)D)),
                       .dq = &dq4, .dk = &dk4, .dv = &dv4, .dout = &do4};
    WF_TRY(wf_op_attention_bwd(c->be, &at));
    if (a->pos == WF_POS_ROPE) {
        wf_tensor dq3 = wf_view(&d->dq, 3, c->N, H, D, 0), dk3 = wf_view(&d->dk, 3, c->N, Hk, D, 0);
        wf_tensor pos = V1(c->b->pos, c->N);
        WF_TRY(wf_op_rope_bwd(c->be, &dq3, &dq3, &pos, &c->m->rope_inv_freq));
        WF_TRY(wf_op_rope_bwd(c->be, &dk3, &dk3, &pos, &c->m->rope_inv_freq));
    }
    wf_tensor dq = V2(d->dq, c->N, H * D), dk = V2(d->dk, c->N, Hk * D), dv = V2(d->dv, c->N, Hk * D);
    wf_tensor tmp = V2(d->db, c->N, a->hidden);
    WF_TRY(site_bwd(c, li, WF_SITE_Q, dh, &dq, h));
    WF_TRY(site_bwd(c, li, WF_SITE_K, &tmp, &dk, h));
    WF_TRY(wf_op_add(c->be, dh, dh, &tmp));
    WF_TRY(site_bwd(c, li, WF_SITE_V, &tmp, &dv, h));
    return wf_op_add(c->be, dh, dh, &tmp);
}

/* Houlsby adapter k of layer li (forward.c adapter): with dy the gradient of its output, *dy
 * becomes the gradient of its input, in d.dad (the adapter's skip adds dy back); parameter
 * gradients "+=". Without adapters *dy stays. */
static wf_status adapter_bwd(bctx *c, int64_t li, int k, wf_tensor *dad, const wf_tensor **dy) {
    if (!c->m->adapters) return WF_OK;
    const wf_houlsby *ad = &c->m->adapters[2 * li + k];
    wf_houlsby *g = &c->g->adapters[2 * li + k];
    wf_layer_acts *la = &c->x->layers[li];
    int64_t r = ad->down_w.shape[0], C = c->m->arch.hidden;
    wf_tensor ax = V2(la->ad_x[k], c->N, C), h1 = V2(la->ad_h1[k], c->N, r), h2 = V2(la->ad_h2[k], c->N, r);
    wf_tensor dh1 = V2(c->x->d.dad_h1, c->N, r), dh2 = V2(c->x->d.dad_h2, c->N, r);
    *dad = V2(c->x->d.dad, c->N, C);
    WF_TRY(wf_op_linear_bwd(c->be, &dh2, OPTW(g->up_w), OPTW(g->up_b), *dy, &h2, &ad->up_w));
    WF_TRY(wf_op_gelu_bwd(c->be, &dh1, &dh2, &h1, false));
    WF_TRY(wf_op_linear_bwd(c->be, dad, OPTW(g->down_w), OPTW(g->down_b), &dh1, &ax, &ad->down_w));
    WF_TRY(wf_op_add(c->be, dad, dad, *dy));
    *dy = dad;
    return WF_OK;
}

/* Pre-norm block: dx holds dL/d(block output) on entry and dL/d(block input) on exit. */
static wf_status block_pre_bwd(bctx *c, int64_t li, const wf_tensor *xin, wf_tensor *dx) {
    const wf_layer *w = &c->m->w.layers[li];
    wf_layer *gw = &c->g->w.layers[li];
    wf_layer_acts *la = &c->x->layers[li];
    int64_t C = c->m->arch.hidden;
    wf_tensor dh = V2(c->x->d.da, c->N, C), ln2 = V2(la->ln2, c->N, C), ln1 = V2(la->ln1, c->N, C);
    wf_tensor s1 = V2(la->s1, c->N, C), dad;
    const wf_tensor *dy = dx;
    WF_TRY(adapter_bwd(c, li, 1, &dad, &dy));
    WF_TRY(mlp_bwd(c, li, &dh, dy, &ln2));                  /* s2 = s1 + mlp(norm2(s1)) */
    WF_TRY(norm_bwd(c, dx, &dh, &s1, &la->ln2_mean, &la->ln2_rstd, &w->ln2_g, &w->ln2_b,
                    &gw->ln2_g, &gw->ln2_b));
    dy = dx;
    WF_TRY(adapter_bwd(c, li, 0, &dad, &dy));
    WF_TRY(attention_bwd(c, li, &dh, dy, &ln1));            /* s1 = x + attn(norm1(x)) */
    return norm_bwd(c, dx, &dh, xin, &la->ln1_mean, &la->ln1_rstd, &w->ln1_g, &w->ln1_b,
                    &gw->ln1_g, &gw->ln1_b);
}

/* Post-norm block (BERT): out = LN2(ln1 + mlp(ln1)), ln1 = LN1(x + attn(x)). */
static wf_status block_post_bwd(bctx *c, int64_t li, const wf_tensor *xin, wf_tensor *dx) {
    const wf_layer *w = &c->m->w.layers[li];
    wf_layer *gw = &c->g->w.layers[li];
    wf_layer_acts *la = &c->x->layers[li];
    int64_t C = c->m->arch.hidden;
    wf_tensor ds = V2(c->x->d.da, c->N, C);
    wf_tensor s1 = V2(la->s1, c->N, C), s2 = V2(la->s2, c->N, C), ln1 = V2(la->ln1, c->N, C);
    WF_TRY(zero(c, &ds));
    WF_TRY(norm_bwd(c, &ds, dx, &s2, &la->ln2_mean, &la->ln2_rstd, &w->ln2_g, &w->ln2_b,
                    &gw->ln2_g, &gw->ln2_b));                     /* ds = dL/ds2 */
    wf_tensor dad;
    const wf_tensor *dy = &ds;
    WF_TRY(adapter_bwd(c, li, 1, &dad, &dy));
    WF_TRY(mlp_bwd(c, li, dx, dy, &ln1));                      /* dx = mlp path to ln1 */
    WF_TRY(wf_op_add(c->be, &ds, &ds, dx));                    /* + residual: dL/d ln1 */
    WF_TRY(zero(c, dx));
    WF_TRY(norm_bwd(c, dx, &ds, &s1, &la->ln1_mean, &la->ln1_rstd, &w->ln1_g, &w->ln1_b,
                    &gw->ln1_g, &gw->ln1_b));                     /* dx = dL/ds1 */
    dy = dx;
    WF_TRY(adapter_bwd(c, li, 0, &dad, &dy));
    WF_TRY(attention_bwd(c, li, &ds, dy, xin));                /* ds = attention path to x */
    return wf_op_add(c->be, dx, dx, &ds);                      /* + residual */
}

/* Prompt tuning: the soft prompt's gradient "+=" the first Nv rows of every sequence of d. With
 * mixed precision d is bf16/fp16 and the gradient fp32: the rows are widened (exactly) into
 * scratch first, since add takes one dtype. */
static wf_status prompt_bwd(bctx *c, const wf_tensor *d) {
    wf_tensor *gp = (wf_tensor *)&c->g->w.prompt;
    if (!gp->data) return WF_OK;
    int64_t Nv = gp->shape[0], C = gp->shape[1];
    wf_tensor wide = {.dtype = gp->dtype, .ndim = 2, .shape = {Nv, C}};
    size_t mark = wf_arena_mark(&c->be->scratch);
    wf_status s = WF_OK;
    if (d->dtype != gp->dtype)
        s = wf_arena_alloc(&c->be->scratch, (size_t)(Nv * C) * wf_dtype_size(gp->dtype),
                           &wide.data);
    for (int64_t b = 0; b < c->B && s == WF_OK; b++) {
        wf_tensor rows = {.dtype = d->dtype, .ndim = 2, .shape = {Nv, C}};
        rows.data = (char *)d->data + (size_t)(b * c->T * C) * wf_dtype_size(d->dtype);
        if (wide.data) s = wf_op_cast(c->be, &wide, &rows);
        if (s == WF_OK) s = wf_op_add(c->be, gp, gp, wide.data ? &wide : &rows);
    }
    wf_arena_reset(&c->be->scratch, mark);
    return s;
}

/* Embeddings: dx is dL/d(block 0 input). "+=" into the tables that train. */
static wf_status embed_bwd(bctx *c, wf_tensor *dx) {
    const wf_model *m = c->m;
    const wf_weights *gw = &c->g->w;
    int64_t C = m->arch.hidden;
    wf_tensor ids = V1(c->b->ids, c->N), pos = V1(c->b->pos, c->N);
    wf_tensor *d = dx;
    if (m->arch.family == WF_FAMILY_BERT) { /* emb = LN(word + pos + type) */
        wf_tensor pre = V2(c->x->emb_pre, c->N, C), dpre = V2(c->x->d.da, c->N, C);
        WF_TRY(zero(c, &dpre));
        WF_TRY(norm_bwd(c, &dpre, dx, &pre, &c->x->emb_mean, &c->x->emb_rstd, &m->w.emb_ln_g,
                        &m->w.emb_ln_b, (wf_tensor *)&gw->emb_ln_g, (wf_tensor *)&gw->emb_ln_b));
        d = &dpre;
        if (gw->type_emb.data) {
            wf_tensor types = V1(c->b->types, c->N);
            WF_TRY(wf_op_embedding_bwd(c->be, (wf_tensor *)&gw->type_emb, &types, d));
        }
    }
    if (gw->pos_emb.data) WF_TRY(wf_op_embedding_bwd(c->be, (wf_tensor *)&gw->pos_emb, &pos, d));
    WF_TRY(prompt_bwd(c, d));
    if (m->arch.family != WF_FAMILY_VIT) {
        if (gw->tok_emb.data) WF_TRY(wf_op_embedding_bwd(c->be, (wf_tensor *)&gw->tok_emb, &ids, d));
        return WF_OK;
    }
    /* ViT: emb = rows[gather] with rows = [cls; patches W^T + b] */
    if (!gw->cls_token.data && !gw->patch_w.data) return WF_OK;
    int64_t np = c->b->patches.shape[0];
    wf_tensor drows = V2(c->x->d.dvit_rows, 1 + np, C), gather = V1(c->b->gather, c->N);
    WF_TRY(zero(c, &drows));
    WF_TRY(wf_op_embedding_bwd(c->be, &drows, &gather, d));
    if (gw->cls_token.data) { /* row 0 is the CLS token's gradient: dcls "+=" it, through the
                                 * embedding backward (gather[0] is 0), which also takes an fp32
                                 * gradient from bf16 rows */
        wf_tensor row0 = V2(c->x->d.dvit_rows, 1, C), id0 = V1(c->b->gather, 1);
        wf_tensor dcls = {.data = gw->cls_token.data, .dtype = gw->cls_token.dtype, .ndim = 2,
                          .shape = {1, C}};
        WF_TRY(wf_op_embedding_bwd(c->be, &dcls, &id0, &row0));
    }
    wf_tensor dpatch = drows;
    dpatch.data = (char *)drows.data + (size_t)C * wf_dtype_size(drows.dtype);
    dpatch.shape[0] = np;
    return wf_op_linear_bwd(c->be, NULL, OPTW(gw->patch_w), OPTW(gw->patch_b), &dpatch,
                            &c->b->patches, &m->w.patch_w);
}

/* Tells the caller (graph.h grads_ready) that the gradients of `layer` are complete. */
static wf_status ready(wf_acts *x, int64_t layer) {
    return x->grads_ready ? x->grads_ready(x->grads_ready_ctx, layer) : WF_OK;
}

wf_status wf_graph_backward(const wf_model *m, const wf_batch *b, wf_acts *x, const wf_grads *g) {
    if (!x->d.dx.data) return wf_error(WF_ERR_INVALID, "backward: activations were planned without WF_ACTS_TRAIN");
    bctx c = {m, b, x, g, m->be, b->B, b->T, b->B * b->T};
    int64_t C = m->arch.hidden, L = m->arch.n_layers;
    wf_tensor dx = V2(x->d.dx, c.N, C);
    if (m->arch.pre_norm) { /* a->d.dx holds dL/d(final norm output): move it to its input */
        wf_tensor dfin = V2(x->d.db, c.N, C), last = V2(*x->layers[L - 1].out, c.N, C);
        WF_TRY(m->be->copy(m->be, dfin.data, dx.data, wf_tensor_nbytes(&dfin), WF_COPY_D2D));
        WF_TRY(zero(&c, &dx));
        WF_TRY(norm_bwd(&c, &dx, &dfin, &last, &x->final_mean, &x->final_rstd, &m->w.final_g,
                        &m->w.final_b, (wf_tensor *)&g->w.final_g, (wf_tensor *)&g->w.final_b));
    }
    WF_TRY(ready(x, L));
    for (int64_t li = L - 1; li >= 0; li--) {
        wf_tensor xin = li ? V2(*x->layers[li - 1].out, c.N, C) : V2(x->emb, c.N, C);
        /* activation checkpointing: the last block's activations are still in the shared region */
        if (x->recompute && li < L - 1) WF_TRY(wf_graph_recompute_block(m, b, x, li));
        WF_TRY(m->arch.pre_norm ? block_pre_bwd(&c, li, &xin, &dx) : block_post_bwd(&c, li, &xin, &dx));
        WF_TRY(ready(x, li));
    }
    WF_TRY(embed_bwd(&c, &dx));
    return ready(x, -1);
}
