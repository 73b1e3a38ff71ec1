/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_grad_unscale_norm(wf_backend * a0, wf_tensor * a1, wf_step_state * a2) {
    (void)a0;
    (void)a1;
    (void)a2;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu grad_unscale_norm: not yet implemented");
}
