/* Linear + GPT-2's tanh GELU on the CPU (ops.h linear_gelu_tanh_fwd, linear_dgelu_tanh_bwd).
 * The plain composition of the CPU linear and GELU entries, in the order the model graph ran
 * them before these ops existed, so a graph that calls the fused op gives bit-identical results.
 * It is the reference the CUDA versions (cuBLASLt GELU epilogues, kernels/cuda/linear_gelu.cu)
 * are tested against; the float64 reference is tests/ops/op_linear_gelu.c. */
#include "cpu_ops.h"

wf_status wf_cpu_linear_gelu_tanh_fwd(wf_backend *be, wf_tensor *y, wf_tensor *pre,
                                      const wf_tensor *x, const wf_tensor *w,
                                      const wf_tensor *bias) {
    WF_TRY(wf_cpu_linear_fwd(be, pre, x, w, bias));
    return wf_cpu_gelu_fwd(be, y, pre, true);
}

/* dpre = dy W first, then the GELU backward in place (gelu.c reads dy[i] and x[i] before it
 * writes dx[i]); dw and dbias read x and dy only, never dpre. */
wf_status wf_cpu_linear_dgelu_tanh_bwd(wf_backend *be, wf_tensor *dpre, wf_tensor *dw,
                                       wf_tensor *dbias, const wf_tensor *dy, const wf_tensor *x,
                                       const wf_tensor *w, const wf_tensor *pre) {
    WF_TRY(wf_cpu_linear_bwd(be, dpre, dw, dbias, dy, x, w));
    return wf_cpu_gelu_bwd(be, dpre, dpre, pre, true);
}
