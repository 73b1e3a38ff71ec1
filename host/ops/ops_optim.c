/* Checked entry points of the optimizer-step ops: gradient unscale + norm + finite check,
 * AdamW, and the end-of-step scaler update. Contract: include/weft/ops.h; math: MATH.md
 * "Optimiser and scaling". The wf_step_state lives in backend memory, so only its pointer is
 * checked here; its fields are the kernels' business. */
#include <math.h>

#include "check.h"

/* t is present, fp32, with n elements (n < 0: any). */
static wf_status chk_flat_f32(const char *op, const char *arg, const wf_tensor *t, int64_t n) {
    WF_TRY(wf_chk_present(op, arg, t));
    WF_TRY(wf_chk_dtype(op, arg, t, WF_F32));
    if (n >= 0 && wf_tensor_numel(t) != n)
        return wf_error(WF_ERR_INVALID, "op %s: '%s' has %lld elements, expected %lld (as 'p')",
                        op, arg, (long long)wf_tensor_numel(t), (long long)n);
    return WF_OK;
}

static wf_status chk_state(const char *op, const void *st) {
    if (st) return WF_OK;
    return wf_error(WF_ERR_INVALID, "op %s: the step state is required (NULL)", op);
}

/* lo <= x (or lo < x when open_lo) and x < hi (or x <= hi when closed_hi); NaN fails. */
static wf_status chk_range(const char *op, const char *name, float x, double lo, bool open_lo,
                           double hi, bool closed_hi) {
    double d = x;
    bool ok = (open_lo ? d > lo : d >= lo) && (closed_hi ? d <= hi : d < hi);
    if (ok) return WF_OK;
    return wf_error(WF_ERR_INVALID, "op %s: %s = %g is out of range, expected %s%g, %g%s", op,
                    name, d, open_lo ? "(" : "[", lo, hi, closed_hi ? "]" : ")");
}

wf_status wf_op_grad_unscale_norm(wf_backend *be, wf_tensor *g, wf_step_state *st) {
    WF_TRY(chk_flat_f32("grad_unscale_norm", "g", g, -1));
    WF_TRY(chk_state("grad_unscale_norm", st));
    return WF_DISPATCH(be, grad_unscale_norm, g, st);
}

static wf_status chk_adamw_hparams(const wf_adamw_hparams *hp) {
    const char *op = "adamw";
    if (!hp) return wf_error(WF_ERR_INVALID, "op %s: the hyperparameters are required (NULL)", op);
    WF_TRY(chk_range(op, "lr", hp->lr, 0, false, INFINITY, false));
    WF_TRY(chk_range(op, "beta1", hp->beta1, 0, false, 1, false));
    WF_TRY(chk_range(op, "beta2", hp->beta2, 0, false, 1, false));
    WF_TRY(chk_range(op, "eps", hp->eps, 0, true, INFINITY, false));
    WF_TRY(chk_range(op, "weight_decay", hp->weight_decay, 0, false, INFINITY, false));
    WF_TRY(chk_range(op, "max_grad_norm", hp->max_grad_norm, 0, false, INFINITY, false));
    return WF_OK;
}

wf_status wf_op_adamw(wf_backend *be, wf_tensor *p, const wf_tensor *g, wf_tensor *m, wf_tensor *v,
                      wf_tensor *p_lowp, int64_t n_decay, const wf_adamw_hparams *hp,
                      const wf_step_state *st) {
    const char *op = "adamw";
    WF_TRY(chk_flat_f32(op, "p", p, -1));
    const int64_t n = wf_tensor_numel(p);
    WF_TRY(chk_flat_f32(op, "g", g, n));
    WF_TRY(chk_flat_f32(op, "m", m, n));
    WF_TRY(chk_flat_f32(op, "v", v, n));
    if (p_lowp) {
        WF_TRY(wf_chk_present(op, "p_lowp", p_lowp));
        if (p_lowp->dtype != WF_BF16 && p_lowp->dtype != WF_F16)
            return wf_error(WF_ERR_INVALID, "op %s: 'p_lowp' has dtype %s, expected bf16 or f16",
                            op, wf_dtype_name(p_lowp->dtype));
        if (wf_tensor_numel(p_lowp) != n)
            return wf_error(WF_ERR_INVALID, "op %s: 'p_lowp' has %lld elements, expected %lld "
                                            "(as 'p')", op, (long long)wf_tensor_numel(p_lowp),
                            (long long)n);
    }
    if (n_decay < 0 || n_decay > n)
        return wf_error(WF_ERR_INVALID, "op %s: n_decay = %lld, expected 0 <= n_decay <= %lld", op,
                        (long long)n_decay, (long long)n);
    WF_TRY(chk_adamw_hparams(hp));
    WF_TRY(chk_state(op, st));
    return WF_DISPATCH(be, adamw, p, g, m, v, p_lowp, n_decay, hp, st);
}

wf_status wf_op_step_end(wf_backend *be, wf_step_state *st, const wf_scaler_hparams *sh) {
    const char *op = "step_end";
    WF_TRY(chk_state(op, st));
    if (!sh) return wf_error(WF_ERR_INVALID, "op %s: the scaler settings are required (NULL)", op);
    if (sh->dynamic) {
        WF_TRY(chk_range(op, "growth", sh->growth, 1, true, INFINITY, false));
        WF_TRY(chk_range(op, "backoff", sh->backoff, 0, true, 1, false));
        if (sh->interval <= 0)
            return wf_error(WF_ERR_INVALID, "op %s: interval = %d, expected > 0", op,
                            (int)sh->interval);
    }
    return WF_DISPATCH(be, step_end, st, sh);
}
