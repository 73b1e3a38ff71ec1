/* Checked entry points of tanh (the BERT pooler's activation). */
#include "check.h"

wf_status wf_op_tanh_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x) {
    WF_TRY(wf_chk_present("tanh_fwd", "x", x));
    WF_TRY(wf_chk_float("tanh_fwd", "x", x));
    WF_TRY(wf_chk_like("tanh_fwd", "y", y, "x", x));
    return WF_DISPATCH(be, tanh_fwd, y, x);
}

wf_status wf_op_tanh_bwd(wf_backend *be, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *y) {
    WF_TRY(wf_chk_present("tanh_bwd", "y", y));
    WF_TRY(wf_chk_float("tanh_bwd", "y", y));
    WF_TRY(wf_chk_like("tanh_bwd", "dy", dy, "y", y));
    WF_TRY(wf_chk_like("tanh_bwd", "dx", dx, "y", y));
    return WF_DISPATCH(be, tanh_bwd, dx, dy, y);
}
