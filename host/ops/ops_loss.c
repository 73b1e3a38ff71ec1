/* Checked entry points of the losses: softmax cross-entropy (fused with its backward) and MSE.
 * Contract: include/weft/ops.h; math: MATH.md "Loss". Target values are not checked here (they
 * live in backend memory): the CPU kernel rejects out-of-range targets, naming the row. */
#include <math.h>

#include "check.h"

wf_status wf_op_cross_entropy(wf_backend *be, const wf_cross_entropy *ce) {
    const char *op = "cross_entropy";
    if (!ce) return wf_error(WF_ERR_INVALID, "op %s: no arguments (NULL)", op);
    WF_CHK_SHAPE(op, "logits", ce->logits, 2, WF_ANY, WF_ANY);
    WF_TRY(wf_chk_float(op, "logits", ce->logits));
    const int64_t n = ce->logits->shape[0], v = ce->logits->shape[1];
    if (v < 1) return wf_error(WF_ERR_INVALID, "op %s: 'logits' has no classes (V = 0)", op);
    WF_CHK_SHAPE(op, "targets", ce->targets, 1, n);
    WF_TRY(wf_chk_dtype(op, "targets", ce->targets, WF_I32));
    WF_CHK_SHAPE(op, "losses", ce->losses, 1, n);
    WF_TRY(wf_chk_dtype(op, "losses", ce->losses, WF_F32));
    if (ce->dlogits) {
        WF_TRY(wf_chk_like(op, "dlogits", ce->dlogits, "logits", ce->logits));
        if (!isfinite(ce->dscale))
            return wf_error(WF_ERR_INVALID, "op %s: dscale must be finite, got %g", op,
                            (double)ce->dscale);
    }
    return WF_DISPATCH(be, cross_entropy, ce);
}

wf_status wf_op_mse(wf_backend *be, wf_tensor *losses, wf_tensor *dy, const wf_tensor *y,
                    const wf_tensor *t, float dscale, const float *dscale_mul) {
    const char *op = "mse";
    WF_TRY(wf_chk_present(op, "y", y));
    WF_TRY(wf_chk_float(op, "y", y));
    WF_TRY(wf_chk_like(op, "t", t, "y", y));
    WF_TRY(wf_chk_present(op, "losses", losses));
    WF_TRY(wf_chk_dtype(op, "losses", losses, WF_F32));
    if (wf_tensor_numel(losses) != wf_tensor_numel(y))
        return wf_error(WF_ERR_INVALID, "op %s: 'losses' has %lld elements, 'y' has %lld", op,
                        (long long)wf_tensor_numel(losses), (long long)wf_tensor_numel(y));
    if (dy) {
        WF_TRY(wf_chk_like(op, "dy", dy, "y", y));
        if (!isfinite(dscale))
            return wf_error(WF_ERR_INVALID, "op %s: dscale must be finite, got %g", op,
                            (double)dscale);
    }
    return WF_DISPATCH(be, mse, losses, dy, y, t, dscale, dscale_mul);
}
