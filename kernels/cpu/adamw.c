/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_adamw(wf_backend * a0, wf_tensor * a1, const wf_tensor * a2, wf_tensor * a3, wf_tensor * a4, wf_tensor * a5, int64_t a6, const wf_adamw_hparams * a7, const wf_step_state * a8) {
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    (void)a4;
    (void)a5;
    (void)a6;
    (void)a7;
    (void)a8;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu adamw: not yet implemented");
}
