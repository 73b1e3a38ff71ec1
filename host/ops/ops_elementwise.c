/* Checked entry points of the elementwise ops: add, GELU, SwiGLU, dropout, IA3, cast. */
#include "check.h"

wf_status wf_op_add(wf_backend *be, wf_tensor *out, const wf_tensor *a, const wf_tensor *b) {
    WF_TRY(wf_chk_present("add", "a", a));
    WF_TRY(wf_chk_float("add", "a", a));
    WF_TRY(wf_chk_like("add", "b", b, "a", a));
    WF_TRY(wf_chk_like("add", "out", out, "a", a));
    return WF_DISPATCH(be, add, out, a, b);
}

wf_status wf_op_gelu_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x, bool tanh_approx) {
    WF_TRY(wf_chk_present("gelu_fwd", "x", x));
    WF_TRY(wf_chk_float("gelu_fwd", "x", x));
    WF_TRY(wf_chk_like("gelu_fwd", "y", y, "x", x));
    return WF_DISPATCH(be, gelu_fwd, y, x, tanh_approx);
}

wf_status wf_op_gelu_bwd(wf_backend *be, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *x,
                         bool tanh_approx) {
    WF_TRY(wf_chk_present("gelu_bwd", "x", x));
    WF_TRY(wf_chk_float("gelu_bwd", "x", x));
    WF_TRY(wf_chk_like("gelu_bwd", "dy", dy, "x", x));
    WF_TRY(wf_chk_like("gelu_bwd", "dx", dx, "x", x));
    return WF_DISPATCH(be, gelu_bwd, dx, dy, x, tanh_approx);
}

wf_status wf_op_swiglu_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *gate, const wf_tensor *up) {
    WF_TRY(wf_chk_present("swiglu_fwd", "gate", gate));
    WF_TRY(wf_chk_float("swiglu_fwd", "gate", gate));
    WF_TRY(wf_chk_like("swiglu_fwd", "up", up, "gate", gate));
    WF_TRY(wf_chk_like("swiglu_fwd", "y", y, "gate", gate));
    return WF_DISPATCH(be, swiglu_fwd, y, gate, up);
}

wf_status wf_op_swiglu_bwd(wf_backend *be, wf_tensor *dgate, wf_tensor *dup, const wf_tensor *dy,
                           const wf_tensor *gate, const wf_tensor *up) {
    WF_TRY(wf_chk_present("swiglu_bwd", "gate", gate));
    WF_TRY(wf_chk_float("swiglu_bwd", "gate", gate));
    WF_TRY(wf_chk_like("swiglu_bwd", "up", up, "gate", gate));
    WF_TRY(wf_chk_like("swiglu_bwd", "dy", dy, "gate", gate));
    WF_TRY(wf_chk_like("swiglu_bwd", "dgate", dgate, "gate", gate));
    WF_TRY(wf_chk_like("swiglu_bwd", "dup", dup, "gate", gate));
    return WF_DISPATCH(be, swiglu_bwd, dgate, dup, dy, gate, up);
}

wf_status wf_op_dropout(wf_backend *be, wf_tensor *y, const wf_tensor *x, const wf_dropout *d) {
    WF_TRY(wf_chk_present("dropout", "x", x));
    WF_TRY(wf_chk_float("dropout", "x", x));
    WF_TRY(wf_chk_like("dropout", "y", y, "x", x));
    if (!d || !(d->p >= 0.0f && d->p < 1.0f))
        return wf_error(WF_ERR_INVALID, "op dropout: p must be in [0, 1), got %g", d ? d->p : -1.0);
    return WF_DISPATCH(be, dropout, y, x, d);
}

wf_status wf_op_ia3_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x, const wf_tensor *l) {
    WF_TRY(wf_chk_present("ia3_fwd", "x", x));
    WF_TRY(wf_chk_float("ia3_fwd", "x", x));
    WF_CHK_SHAPE("ia3_fwd", "l", l, 1, wf_tensor_cols(x));
    WF_TRY(wf_chk_dtype("ia3_fwd", "l", l, x->dtype));
    WF_TRY(wf_chk_like("ia3_fwd", "y", y, "x", x));
    return WF_DISPATCH(be, ia3_fwd, y, x, l);
}

wf_status wf_op_ia3_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dl, const wf_tensor *dy,
                        const wf_tensor *x, const wf_tensor *l) {
    WF_TRY(wf_chk_present("ia3_bwd", "x", x));
    WF_TRY(wf_chk_float("ia3_bwd", "x", x));
    WF_CHK_SHAPE("ia3_bwd", "l", l, 1, wf_tensor_cols(x));
    WF_TRY(wf_chk_dtype("ia3_bwd", "l", l, x->dtype));
    WF_TRY(wf_chk_param_grad("ia3_bwd", "dl", dl, "l", l));
    WF_TRY(wf_chk_like("ia3_bwd", "dy", dy, "x", x));
    if (dx) WF_TRY(wf_chk_like("ia3_bwd", "dx", dx, "x", x));
    return WF_DISPATCH(be, ia3_bwd, dx, dl, dy, x, l);
}

wf_status wf_op_cast(wf_backend *be, wf_tensor *out, const wf_tensor *in) {
    WF_TRY(wf_chk_present("cast", "in", in));
    WF_TRY(wf_chk_present("cast", "out", out));
    WF_TRY(wf_chk_float("cast", "in", in));
    WF_TRY(wf_chk_float("cast", "out", out));
    if (wf_tensor_numel(in) != wf_tensor_numel(out))
        return wf_error(WF_ERR_INVALID, "op cast: 'out' has %lld elements, 'in' has %lld",
                        (long long)wf_tensor_numel(out), (long long)wf_tensor_numel(in));
    return WF_DISPATCH(be, cast, out, in);
}
