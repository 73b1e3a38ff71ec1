/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_lora_fwd(wf_backend * a0, const wf_lora * a1) {
    (void)a0;
    (void)a1;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu lora_fwd: not yet implemented");
}

wf_status wf_cpu_lora_bwd(wf_backend * a0, const wf_lora * a1) {
    (void)a0;
    (void)a1;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu lora_bwd: not yet implemented");
}
