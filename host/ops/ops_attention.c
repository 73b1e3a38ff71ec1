/* Checked entry points of attention (ops.h wf_attention; MATH.md "Attention").
 * Every field of wf_attention that a direction reads or writes is validated here, so a backend
 * may assume q (B, T, H, D), k and v (B, S, Hk, D) with H % Hk == 0, out like q, lse (B, H, T)
 * f32, key_mask (B, S) i32, doc_ids (B, T) i32 with S == T, the gradients like their inputs, and
 * a finite scale. Head-dim limits of a particular kernel are the backend's to report. */
#include <math.h>

#include "check.h"

/* The inputs both directions read: q, k, v, the optional masks, and the scale. */
static wf_status check_inputs(const char *op, const wf_attention *a) {
    if (!a) return wf_error(WF_ERR_INVALID, "op %s: no wf_attention given", op);
    WF_CHK_SHAPE(op, "q", a->q, 4, WF_ANY, WF_ANY, WF_ANY, WF_ANY);
    WF_TRY(wf_chk_float(op, "q", a->q));
    int64_t B = a->q->shape[0], T = a->q->shape[1], H = a->q->shape[2], D = a->q->shape[3];
    WF_CHK_SHAPE(op, "k", a->k, 4, B, WF_ANY, WF_ANY, D);
    WF_TRY(wf_chk_dtype(op, "k", a->k, a->q->dtype));
    WF_TRY(wf_chk_like(op, "v", a->v, "k", a->k));
    int64_t S = a->k->shape[1], Hk = a->k->shape[2];
    if (Hk < 1 || H % Hk != 0)
        return wf_error(WF_ERR_INVALID,
                        "op %s: 'q' has %lld heads and 'k' %lld: the query heads must be a "
                        "multiple of the kv heads (GQA)",
                        op, (long long)H, (long long)Hk);
    if (a->key_mask) {
        WF_CHK_SHAPE(op, "key_mask", a->key_mask, 2, B, S);
        WF_TRY(wf_chk_dtype(op, "key_mask", a->key_mask, WF_I32));
    }
    if (a->doc_ids) {
        if (S != T)
            return wf_error(WF_ERR_INVALID,
                            "op %s: 'doc_ids' needs as many keys as queries (packed rows), got "
                            "T = %lld queries and S = %lld keys",
                            op, (long long)T, (long long)S);
        WF_CHK_SHAPE(op, "doc_ids", a->doc_ids, 2, B, T);
        WF_TRY(wf_chk_dtype(op, "doc_ids", a->doc_ids, WF_I32));
    }
    if (!isfinite(a->scale))
        return wf_error(WF_ERR_INVALID, "op %s: 'scale' must be finite, got %g", op,
                        (double)a->scale);
    return WF_OK;
}

/* out like q, lse (B, H, T) f32: written by forward, read by backward. */
static wf_status check_saved(const char *op, const wf_attention *a) {
    WF_TRY(wf_chk_like(op, "out", a->out, "q", a->q));
    const int64_t *qs = a->q->shape;
    WF_CHK_SHAPE(op, "lse", a->lse, 3, qs[0], qs[2], qs[1]);
    WF_TRY(wf_chk_dtype(op, "lse", a->lse, WF_F32));
    return WF_OK;
}

wf_status wf_op_attention_fwd(wf_backend *be, const wf_attention *a) {
    WF_TRY(check_inputs("attention_fwd", a));
    WF_TRY(check_saved("attention_fwd", a));
    return WF_DISPATCH(be, attention_fwd, a);
}

wf_status wf_op_attention_bwd(wf_backend *be, const wf_attention *a) {
    const char *op = "attention_bwd";
    WF_TRY(check_inputs(op, a));
    WF_TRY(check_saved(op, a));
    WF_TRY(wf_chk_like(op, "dout", a->dout, "out", a->out));
    WF_TRY(wf_chk_like(op, "dq", a->dq, "q", a->q));
    WF_TRY(wf_chk_like(op, "dk", a->dk, "k", a->k));
    WF_TRY(wf_chk_like(op, "dv", a->dv, "v", a->v));
    return WF_DISPATCH(be, attention_bwd, a);
}
