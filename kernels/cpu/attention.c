/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_attention_fwd(wf_backend * a0, const wf_attention * a1) {
    (void)a0;
    (void)a1;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu attention_fwd: not yet implemented");
}

wf_status wf_cpu_attention_bwd(wf_backend * a0, const wf_attention * a1) {
    (void)a0;
    (void)a1;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu attention_bwd: not yet implemented");
}
