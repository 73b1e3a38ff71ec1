/* STUB: replaced by the real implementation. */
#include "cpu_ops.h"

wf_status wf_cpu_cross_entropy(wf_backend * a0, const wf_cross_entropy * a1) {
    (void)a0;
    (void)a1;
    return wf_error(WF_ERR_UNSUPPORTED, "cpu cross_entropy: not yet implemented");
}
