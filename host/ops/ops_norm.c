/* Checked entry points of LayerNorm and RMSNorm (ops.h, MATH.md "Normalisation"), and of their
 * forms fused with the residual add before them (add_layernorm_fwd, add_rmsnorm_fwd).
 * x is (..., C) with at least 2 dims, seen as (rows, C); g and bias are (C) in x's dtype (their
 * gradients dg, dbias in x's dtype or fp32); the
 * saved statistics mean and rstd are fp32 with one value per row, shaped (rows) or like x
 * without its last dim. */
#include <math.h>

#include "check.h"

/* x: present, float, (..., C) with ndim >= 2 and C > 0. */
static wf_status chk_rows(const char *op, const char *arg, const wf_tensor *x) {
    WF_TRY(wf_chk_present(op, arg, x));
    WF_TRY(wf_chk_float(op, arg, x));
    char got[96];
    if (x->ndim < 2 || wf_tensor_cols(x) < 1)
        return wf_error(WF_ERR_INVALID,
                        "op %s: '%s' is %s, expected (rows, C) or (..., C) with C > 0", op, arg,
                        wf_tensor_describe(x, got, sizeof got));
    return WF_OK;
}

/* A (C) vector in x's dtype: g, bias. (dg, dbias: wf_chk_param_grad, x's dtype or fp32.) */
static wf_status chk_vec(const char *op, const char *arg, const wf_tensor *v, const wf_tensor *x) {
    WF_CHK_SHAPE(op, arg, v, 1, wf_tensor_cols(x));
    return wf_chk_dtype(op, arg, v, x->dtype);
}

/* A saved statistic: fp32, shaped (rows) or like x without its last dim. */
static wf_status chk_stat(const char *op, const char *arg, const wf_tensor *s, const wf_tensor *x) {
    WF_TRY(wf_chk_present(op, arg, s));
    WF_TRY(wf_chk_dtype(op, arg, s, WF_F32));
    bool ok = s->ndim == 1 && s->shape[0] == wf_tensor_rows(x);
    if (!ok && s->ndim == x->ndim - 1) {
        ok = true;
        for (int i = 0; i < s->ndim; i++) ok = ok && s->shape[i] == x->shape[i];
    }
    if (ok) return WF_OK;
    char got[96], xs[96];
    return wf_error(WF_ERR_INVALID, "op %s: '%s' is %s, expected one value per row of 'x' %s "
                    "(shape (%lld) or x's shape without its last dim)", op, arg,
                    wf_tensor_describe(s, got, sizeof got), wf_tensor_describe(x, xs, sizeof xs),
                    (long long)wf_tensor_rows(x));
}

static wf_status chk_eps(const char *op, float eps) {
    if (eps > 0.0f && isfinite(eps)) return WF_OK;
    return wf_error(WF_ERR_INVALID, "op %s: eps must be finite and > 0, got %g", op, (double)eps);
}

wf_status wf_op_layernorm_fwd(wf_backend *be, wf_tensor *y, wf_tensor *mean, wf_tensor *rstd,
                              const wf_tensor *x, const wf_tensor *g, const wf_tensor *bias,
                              float eps) {
    const char *op = "layernorm_fwd";
    WF_TRY(chk_rows(op, "x", x));
    WF_TRY(chk_vec(op, "g", g, x));
    if (bias) WF_TRY(chk_vec(op, "bias", bias, x));
    WF_TRY(wf_chk_like(op, "y", y, "x", x));
    if (mean) WF_TRY(chk_stat(op, "mean", mean, x));
    if (rstd) WF_TRY(chk_stat(op, "rstd", rstd, x));
    WF_TRY(chk_eps(op, eps));
    return WF_DISPATCH(be, layernorm_fwd, y, mean, rstd, x, g, bias, eps);
}

wf_status wf_op_layernorm_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dg, wf_tensor *dbias,
                              const wf_tensor *dy, const wf_tensor *x, const wf_tensor *mean,
                              const wf_tensor *rstd, const wf_tensor *g) {
    const char *op = "layernorm_bwd";
    WF_TRY(chk_rows(op, "x", x));
    WF_TRY(chk_vec(op, "g", g, x));
    WF_TRY(chk_stat(op, "mean", mean, x));
    WF_TRY(chk_stat(op, "rstd", rstd, x));
    WF_TRY(wf_chk_like(op, "dy", dy, "x", x));
    WF_TRY(wf_chk_like(op, "dx", dx, "x", x));
    if (dg) WF_TRY(wf_chk_param_grad(op, "dg", dg, "g", g));
    if (dbias) WF_TRY(wf_chk_param_grad(op, "dbias", dbias, "g", g));
    return WF_DISPATCH(be, layernorm_bwd, dx, dg, dbias, dy, x, mean, rstd, g);
}

wf_status wf_op_rmsnorm_fwd(wf_backend *be, wf_tensor *y, wf_tensor *rstd, const wf_tensor *x,
                            const wf_tensor *g, float eps) {
    const char *op = "rmsnorm_fwd";
    WF_TRY(chk_rows(op, "x", x));
    WF_TRY(chk_vec(op, "g", g, x));
    WF_TRY(wf_chk_like(op, "y", y, "x", x));
    if (rstd) WF_TRY(chk_stat(op, "rstd", rstd, x));
    WF_TRY(chk_eps(op, eps));
    return WF_DISPATCH(be, rmsnorm_fwd, y, rstd, x, g, eps);
}

wf_status wf_op_rmsnorm_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dg, const wf_tensor *dy,
                            const wf_tensor *x, const wf_tensor *rstd, const wf_tensor *g) {
    const char *op = "rmsnorm_bwd";
    WF_TRY(chk_rows(op, "x", x));
    WF_TRY(chk_vec(op, "g", g, x));
    WF_TRY(chk_stat(op, "rstd", rstd, x));
    WF_TRY(wf_chk_like(op, "dy", dy, "x", x));
    WF_TRY(wf_chk_like(op, "dx", dx, "x", x));
    if (dg) WF_TRY(wf_chk_param_grad(op, "dg", dg, "g", g));
    return WF_DISPATCH(be, rmsnorm_bwd, dx, dg, dy, x, rstd, g);
}

/* The fused add's tensors: r, s and y like x; y aliases none of x, r, s (s may alias x or r). */
static wf_status chk_add_norm(const char *op, const wf_tensor *s, const wf_tensor *y,
                              const wf_tensor *x, const wf_tensor *r) {
    WF_TRY(chk_rows(op, "x", x));
    WF_TRY(wf_chk_like(op, "r", r, "x", x));
    WF_TRY(wf_chk_like(op, "s", s, "x", x));
    WF_TRY(wf_chk_like(op, "y", y, "x", x));
    if (y->data && (y->data == x->data || y->data == r->data || y->data == s->data))
        return wf_error(WF_ERR_INVALID, "op %s: 'y' may not alias 'x', 'r' or 's' (only 's' may "
                        "alias 'x' or 'r')", op);
    return WF_OK;
}

wf_status wf_op_add_layernorm_fwd(wf_backend *be, wf_tensor *s, wf_tensor *y, wf_tensor *mean,
                                  wf_tensor *rstd, const wf_tensor *x, const wf_tensor *r,
                                  const wf_tensor *g, const wf_tensor *bias, float eps) {
    const char *op = "add_layernorm_fwd";
    WF_TRY(chk_add_norm(op, s, y, x, r));
    WF_TRY(chk_vec(op, "g", g, x));
    if (bias) WF_TRY(chk_vec(op, "bias", bias, x));
    if (mean) WF_TRY(chk_stat(op, "mean", mean, x));
    if (rstd) WF_TRY(chk_stat(op, "rstd", rstd, x));
    WF_TRY(chk_eps(op, eps));
    return WF_DISPATCH(be, add_layernorm_fwd, s, y, mean, rstd, x, r, g, bias, eps);
}

wf_status wf_op_add_rmsnorm_fwd(wf_backend *be, wf_tensor *s, wf_tensor *y, wf_tensor *rstd,
                                const wf_tensor *x, const wf_tensor *r, const wf_tensor *g,
                                float eps) {
    const char *op = "add_rmsnorm_fwd";
    WF_TRY(chk_add_norm(op, s, y, x, r));
    WF_TRY(chk_vec(op, "g", g, x));
    if (rstd) WF_TRY(chk_stat(op, "rstd", rstd, x));
    WF_TRY(chk_eps(op, eps));
    return WF_DISPATCH(be, add_rmsnorm_fwd, s, y, rstd, x, r, g, eps);
}
