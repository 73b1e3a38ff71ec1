/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_ia3_fwd(wf_backend * a0, wf_tensor * a1, const wf_tensor * a2, const wf_tensor * a3) {
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu ia3_fwd: not yet implemented");
}

wf_status wf_cpu_ia3_bwd(wf_backend * a0, wf_tensor * a1, wf_tensor * a2, const wf_tensor * a3, const wf_tensor * a4, const wf_tensor * a5) {
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    (void)a4;
    (void)a5;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu ia3_bwd: not yet implemented");
}
