/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_dropout(wf_backend * a0, wf_tensor * a1, const wf_tensor * a2, const wf_dropout * a3) {
    (void)a0;
    (void)a1;
    (void)a2;
    (void)a3;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu dropout: not yet implemented");
}
