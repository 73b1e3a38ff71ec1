/* Loss heads (graph.h wf_graph_loss): the LM head's cross-entropy computed WF_LM_CHUNK_ROWS
 * rows at a time, so full (N, V) logits never exist (MATH.md "Loss": logits = h W^T for a chunk,
 * loss and dlogits in place, dh = dlogits W, dW += dlogits^T h); and the sequence / image heads
 * (cross-entropy on classes, MSE for regression) with their backward to the picked rows. */
#include <string.h>

#include "weft/graph.h"

#define IGNORE_INDEX (-100)

static wf_tensor rows(const wf_tensor *t, int64_t r0, int64_t n) {
    wf_tensor v = *t;
    int64_t cols = t->ndim == 1 ? 1 : t->shape[1];
    v.data = (char *)t->data + (size_t)(r0 * cols) * wf_dtype_size(t->dtype);
    v.shape[0] = n;
    return v;
}

static wf_tensor view2(const wf_tensor *t, int64_t d0, int64_t d1) {
    wf_tensor v = {.data = t->data, .dtype = t->dtype, .ndim = d1 ? 2 : 1, .shape = {d0, d1}};
    return v;
}

static wf_status lm_loss(const wf_model *m, const wf_batch *b, wf_acts *x, const wf_grads *g,
                         float dscale) {
    int64_t N = b->B * b->T, C = m->arch.hidden, V = m->arch.vocab;
    int64_t R = x->d.lm_chunk.shape[0];
    if (!b->targets.data) return wf_error(WF_ERR_INVALID, "lm loss: the batch has no targets");
    wf_tensor hid = view2(wf_graph_hidden(m, x), N, C), dh = view2(&x->d.dx, N, C);
    wf_tensor tgt = view2(&b->targets, N, 0), loss = view2(&x->d.tok_loss, N, 0);
    wf_tensor *dW = g && g->w.lm_head.data ? (wf_tensor *)&g->w.lm_head : NULL;
    for (int64_t r0 = 0; r0 < N; r0 += R) {
        int64_t n = N - r0 < R ? N - r0 : R;
        wf_tensor h = rows(&hid, r0, n), logits = view2(&x->d.lm_chunk, n, V);
        wf_tensor t = rows(&tgt, r0, n), l = rows(&loss, r0, n);
        WF_TRY(wf_op_linear_fwd(m->be, &logits, &h, &m->w.lm_head, NULL));
        wf_cross_entropy ce = {.losses = &l, .dlogits = g ? &logits : NULL, .logits = &logits,
                               .targets = &t, .ignore_index = IGNORE_INDEX, .dscale = dscale,
                               .dscale_mul = x->loss_scale};
        WF_TRY(wf_op_cross_entropy(m->be, &ce));
        if (!g) continue;
        wf_tensor dhr = rows(&dh, r0, n);
        WF_TRY(wf_op_linear_bwd(m->be, &dhr, dW, NULL, &logits, &h, &m->w.lm_head));
    }
    return WF_OK;
}

/* Sequence heads: the forward already left logits (B, n_labels) in x->head_out. */
static wf_status seq_loss(const wf_model *m, const wf_batch *b, wf_acts *x, const wf_grads *g,
                          float dscale) {
    const wf_arch *a = &m->arch;
    int64_t B = b->B, N = B * b->T, C = a->hidden, K = a->n_labels;
    wf_tensor out = view2(&x->head_out, B, K), loss = view2(&x->d.tok_loss, B, 0);
    if (a->head == WF_HEAD_REGRESSION) {
        if (!b->values.data) return wf_error(WF_ERR_INVALID, "regression loss: the batch has no values");
        wf_tensor t = view2(&b->values, B, 1);
        WF_TRY(wf_op_mse(m->be, &loss, g ? &out : NULL, &out, &t, dscale, x->loss_scale)); /* in place */
    } else {
        if (!b->labels.data) return wf_error(WF_ERR_INVALID, "classification loss: the batch has no labels");
        wf_tensor t = view2(&b->labels, B, 0);
        wf_cross_entropy ce = {.losses = &loss, .dlogits = g ? &out : NULL, .logits = &out,
                               .targets = &t, .ignore_index = IGNORE_INDEX, .dscale = dscale,
                               .dscale_mul = x->loss_scale};
        WF_TRY(wf_op_cross_entropy(m->be, &ce));
    }
    if (!g) return WF_OK;
    const wf_weights *w = &m->w, *gw = &g->w;
    bool bert = a->family == WF_FAMILY_BERT;
    wf_tensor feat = view2(bert ? &x->pooled_act : &x->pooled, B, C);
    wf_tensor dfeat = view2(&x->d.dpool, B, C);
    WF_TRY(wf_op_linear_bwd(m->be, &dfeat, gw->cls_w.data ? (wf_tensor *)&gw->cls_w : NULL,
                            gw->cls_b.data ? (wf_tensor *)&gw->cls_b : NULL, &out, &feat, &w->cls_w));
    wf_tensor dpool = dfeat;
    if (bert) { /* pooled_act = tanh(pooled W_p^T + b_p) */
        wf_tensor dpre = view2(&x->d.dpool2, B, C), pooled = view2(&x->pooled, B, C);
        WF_TRY(wf_op_tanh_bwd(m->be, &dpre, &dfeat, &feat));
        dpool = view2(&x->d.dpool, B, C);
        WF_TRY(wf_op_linear_bwd(m->be, &dpool, gw->pooler_w.data ? (wf_tensor *)&gw->pooler_w : NULL,
                                gw->pooler_b.data ? (wf_tensor *)&gw->pooler_b : NULL, &dpre,
                                &pooled, &w->pooler_w));
    }
    wf_tensor dh = view2(&x->d.dx, N, C), pick = view2(&b->pick, B, 0);
    WF_TRY(m->be->memset(m->be, dh.data, 0, wf_tensor_nbytes(&dh)));
    return wf_op_embedding_bwd(m->be, &dh, &pick, &dpool); /* scatter to the picked rows */
}

wf_status wf_graph_loss(const wf_model *m, const wf_batch *b, wf_acts *x, const wf_grads *g,
                        float dscale) {
    if (!x->d.tok_loss.data)
        return wf_error(WF_ERR_INVALID, "loss: activations were planned without WF_ACTS_TRAIN");
    switch (m->arch.head) {
    case WF_HEAD_LM: return lm_loss(m, b, x, g, dscale);
    case WF_HEAD_SEQ_CLS: case WF_HEAD_REGRESSION: case WF_HEAD_IMAGE_CLS: return seq_loss(m, b, x, g, dscale);
    case WF_HEAD_NONE: break;
    }
    return wf_error(WF_ERR_INVALID, "loss: the model has no head (architecture %s)", m->arch.architecture);
}
