/* Residual add on the CPU: out = a + b, all one shape; out may alias a or b (element i is read
 * before it is written). Its backward is the identity, so it has no backward entry.
 * The float64 test reference is tests/ops/op_elementwise.c. */
#include "cpu_ops.h"

wf_status wf_cpu_add(wf_backend *be, wf_tensor *out, const wf_tensor *a, const wf_tensor *b) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("add", 3, out, a, b));
    const float *ap = a->data, *bp = b->data;
    float *op = out->data;
    int64_t n = wf_tensor_numel(a);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) op[i] = ap[i] + bp[i];
    return WF_OK;
}
