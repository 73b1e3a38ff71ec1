/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_rope_fwd(wf_backend * a0, wf_tensor * a1, const wf_tensor * a2, const wf_tensor * a3, const wf_tensor * a4) {
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    (void)a4;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu rope_fwd: not yet implemented");
}

wf_status wf_cpu_rope_bwd(wf_backend * a0, wf_tensor * a1, const wf_tensor * a2, const wf_tensor * a3, const wf_tensor * a4) {
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    (void)a4;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu rope_bwd: not yet implemented");
}
