/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_matmul(wf_backend * a0, const wf_matmul * a1) {
    (void)a0;
    (void)a1;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu matmul: not yet implemented");
}

wf_status wf_cpu_linear_fwd(wf_backend * a0, wf_tensor * a1, const wf_tensor * a2, const wf_tensor * a3, const wf_tensor * a4) {
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    (void)a4;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu linear_fwd: not yet implemented");
}

wf_status wf_cpu_linear_bwd(wf_backend * a0, wf_tensor * a1, wf_tensor * a2, wf_tensor * a3, const wf_tensor * a4, const wf_tensor * a5, const wf_tensor * a6) {
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    (void)a4;
    (void)a5;
    (void)a6;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu linear_bwd: not yet implemented");
}
