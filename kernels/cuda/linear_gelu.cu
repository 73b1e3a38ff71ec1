/* Linear + GPT-2's tanh GELU on the GPU (ops.h linear_gelu_tanh_fwd, linear_dgelu_tanh_bwd),
 * the GELU fused into the GEMM by cuBLASLt epilogues (wf_cuda_linear_lt_epilogue, linear.cu):
 *   forward   GELU_AUX_BIAS (GELU_AUX without a bias): y = gelu(x W^T + b), aux = pre;
 *   backward  DGELU: dpre = (dy W) * gelu'(aux = pre), one GEMM instead of a GEMM and a pass.
 * Which GELU: cublasLt.h and the cuBLAS docs say only "GELU". PyTorch treats it as the tanh
 * form: aten/src/ATen/native/cuda/Blas.cpp, where the Lt GELU epilogue is unavailable, applies
 * at::gelu_(result, "tanh") in its place. So only the tanh activation (gelu_new,
 * gelu_pytorch_tanh) may come here; the erf GELU has no fused op. Not verified on a GPU yet:
 * the "tail" op cases (tests/ops/op_linear_gelu.c) put the GELU input near -3, where the erf and
 * tanh forms differ by ~10% (values) and ~3% (derivatives), so an erf epilogue fails them.
 * Not for fp32: how precisely cuBLASLt evaluates tanh (e.g. the tanh.approx instruction, ~2^-11
 * relative) is not documented, and fp32 is the reference precision; bf16/fp16 outputs round
 * coarser than that. fp32, and what cuBLASLt cannot take (aux ld not a multiple of 8, no
 * algorithm, WF_CUDA_LINEAR=gemm), compose linear.cu and gelu.cu instead.
 * Not DGELU_BGRAD: its bias gradient is "=" in the output dtype (cublasLt.h BIAS_POINTER: "Bias
 * gradient vector elements are the same type as the output elements"), where ops.h accumulates
 * dbias "+=" in fp32 over micro-batches, and NVIDIA documents no reduction order for it
 * (tuning.cuh: results must not depend on scheduling). The up-projection's dbias stays with
 * linear_bwd's deterministic column sum (colsum.cuh). Reference: kernels/cpu/linear_gelu.c. */
#include "backend_cuda.cuh"

static wf_status same_dtype(const char *op, wf_dtype dt, const wf_tensor *a, const wf_tensor *b,
                            const wf_tensor *c) {
    if (a->dtype == dt && b->dtype == dt && (!c || c->dtype == dt)) return WF_OK;
    return wf_error(WF_ERR_UNSUPPORTED, "op %s on backend 'cuda': the tensors must share one dtype",
                    op);
}

extern "C" wf_status wf_cuda_linear_gelu_tanh_fwd(wf_backend *be, wf_tensor *y, wf_tensor *pre,
                                                  const wf_tensor *x, const wf_tensor *w,
                                                  const wf_tensor *bias) {
    int64_t n = wf_tensor_rows(x), k = wf_tensor_cols(x), m = w->shape[0];
    wf_dtype dt = x->dtype;
    WF_TRY(same_dtype("linear_gelu_tanh_fwd", dt, w, y, bias));
    WF_TRY(same_dtype("linear_gelu_tanh_fwd", dt, pre, pre, NULL));
    if (n <= 0 || m <= 0) return WF_OK;
    bool done = false;
    if (k > 0 && dt != WF_F32) /* y^T (m, n) = gelu(W (k, m)^T x^T (k, n) + b), aux pre^T */
        WF_TRY(wf_cuda_linear_lt_epilogue(
            be, bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX, true,
            w->data, x->data, y->data, bias ? bias->data : NULL, pre->data, m, n, k, dt, &done));
    if (done) return WF_OK;
    WF_TRY(wf_cuda_linear_fwd(be, pre, x, w, bias));
    return wf_cuda_gelu_fwd(be, y, pre, true);
}

extern "C" wf_status wf_cuda_linear_dgelu_tanh_bwd(wf_backend *be, wf_tensor *dpre, wf_tensor *dw,
                                                   wf_tensor *dbias, const wf_tensor *dy,
                                                   const wf_tensor *x, const wf_tensor *w,
                                                   const wf_tensor *pre) {
    int64_t n = wf_tensor_rows(dy), m = wf_tensor_cols(dy), k = w->shape[1];
    wf_dtype dt = dy->dtype;
    WF_TRY(same_dtype("linear_dgelu_tanh_bwd", dt, w, x, pre));
    WF_TRY(same_dtype("linear_dgelu_tanh_bwd", dt, dpre, dpre, NULL));
    bool done = false;
    if (n > 0 && m > 0 && k > 0 && dt != WF_F32) /* dpre^T (k, n) = W (k, m) dy^T (m, n) */
        WF_TRY(wf_cuda_linear_lt_epilogue(be, CUBLASLT_EPILOGUE_DGELU, false, w->data, dy->data,
                                          dpre->data, NULL, pre->data, k, n, m, dt, &done));
    if (!done) {
        WF_TRY(wf_cuda_linear_bwd(be, dpre, NULL, NULL, dy, x, w));
        WF_TRY(wf_cuda_gelu_bwd(be, dpre, dpre, pre, true)); /* in place: elementwise.cuh */
    }
    if (!dw && !dbias) return WF_OK;
    return wf_cuda_linear_bwd(be, NULL, dw, dbias, dy, x, w);
}
