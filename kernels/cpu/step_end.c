/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_step_end(wf_backend * a0, wf_step_state * a1, const wf_scaler_hparams * a2) {
    (void)a0;
    (void)a1;
    (void)a2;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu step_end: not yet implemented");
}
