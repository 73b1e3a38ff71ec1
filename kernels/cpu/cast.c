/* Casts between fp32, bf16 and fp16 on the CPU: out (same numel as in) = in converted with the
 * dtype.h helpers (round to nearest even, NaN stays NaN, fp16 overflow to inf), the same helpers
 * the CUDA kernels use. The one CPU op that accepts dtypes other than fp32. The independent
 * float64 reference is tests/ops/op_elementwise.c. */
#include <string.h>

#include "cpu_ops.h"

wf_status wf_cpu_cast(wf_backend *be, wf_tensor *out, const wf_tensor *in) {
    (void)be;
    int64_t n = wf_tensor_numel(in);
    if (in->dtype == out->dtype) {
        if (out->data != in->data && n) memmove(out->data, in->data, wf_tensor_nbytes(in));
        return WF_OK;
    }
    const void *src = in->data;
    void *dst = out->data;
    wf_dtype ti = in->dtype, to = out->dtype;
    /* Widening to fp32 is exact, so every cast is one rounding of the fp32 value. */
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        wf_store_f32(dst, to, (size_t)i, wf_load_f32(src, ti, (size_t)i));
    return WF_OK;
}
