/* Linear layer on the GPU (MATH.md "Linear and LoRA"): y = x W^T + bias; backward dx = dy W,
 * dW += dy^T x (GEMM with beta = 1), dbias += colsum(dy) (colsum.cuh: deterministic, no
 * atomics). x and dy may have any leading dims: they are seen as (N, K) and (N, M).
 * The forward with a bias runs one cuBLASLt GEMM with the BIAS epilogue (bias added to the fp32
 * accumulator, one rounding). When cuBLASLt offers no algorithm for the shape/alignment, or
 * WF_CUDA_LINEAR=gemm is set (to test that path), it falls back to: y = bias broadcast, then a
 * cuBLAS GEMM with beta = 1 (still one rounding of the fp32 sum, bias first rounded to y's dtype,
 * which is exact since bias has y's dtype). Reference: kernels/cpu/matmul.c. */
#include <stdlib.h>
#include <string.h>

#include "colsum.cuh"

static cudaDataType_t cuda_type(wf_dtype dt) {
    return dt == WF_BF16 ? CUDA_R_16BF : dt == WF_F16 ? CUDA_R_16F : CUDA_R_32F;
}

/* Largest power of two (<= 256) dividing the address: what cuBLASLt may assume of it. */
static uint32_t ptr_alignment(const void *p) {
    uint32_t al = 256;
    while (al > 1 && (uintptr_t)p % al) al >>= 1;
    return al;
}

static bool force_gemm_path(void) {
    static int v = -1; /* benign race: every thread computes the same value */
    if (v < 0) {
        const char *e = getenv("WF_CUDA_LINEAR");
        v = e && strcmp(e, "gemm") == 0;
    }
    return v;
}

#define LT_SET(fn, obj, attr, val)                                                                 \
    do {                                                                                           \
        auto lt_v_ = (val);                                                                        \
        WF_CUBLAS_CHECK(fn(obj, attr, &lt_v_, sizeof lt_v_));                                      \
    } while (0)

/* y (n, m) = alpha x (n, k) w^T + bias with cuBLASLt's BIAS epilogue (the bias is added after
 * alpha: D = alpha AB + bias). Column-major view: y^T (m, n) = op_T(w stored as (k, m)) x^T
 * (k, n), and the bias (m) runs along y^T's rows, as BIAS wants. The bias has y's dtype (the
 * epilogue's default). Leaves *done false (and does nothing) when the heuristic finds no
 * algorithm. Also used by lora.cu (alpha = the LoRA scale). */
wf_status wf_cuda_linear_lt(wf_backend *be, void *y, const void *x, const void *w,
                            const void *bias, int64_t n, int64_t m, int64_t k, wf_dtype dt,
                            float alpha, bool *done) {
    *done = false;
    wf_cuda_impl *im = wf_cuda_impl_of(be);
    cudaDataType_t t = cuda_type(dt);
    cublasLtMatmulDescOpaque_t desc_mem;
    cublasLtMatmulDesc_t desc = &desc_mem;
    WF_CUBLAS_CHECK(cublasLtMatmulDescInit(desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_TRANSA, (int32_t)CUBLAS_OP_T);
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_TRANSB, (int32_t)CUBLAS_OP_N);
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
           (uint32_t)CUBLASLT_EPILOGUE_BIAS);
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);
    cublasLtMatrixLayoutOpaque_t la, lb, lc;
    WF_CUBLAS_CHECK(cublasLtMatrixLayoutInit(&la, t, (uint64_t)k, (uint64_t)m, k));
    WF_CUBLAS_CHECK(cublasLtMatrixLayoutInit(&lb, t, (uint64_t)k, (uint64_t)n, k));
    WF_CUBLAS_CHECK(cublasLtMatrixLayoutInit(&lc, t, (uint64_t)m, (uint64_t)n, m));
    cublasLtMatmulPreferenceOpaque_t pref;
    WF_CUBLAS_CHECK(cublasLtMatmulPreferenceInit(&pref));
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
           (uint64_t)im->workspace_bytes);
    /* split-K partial sums in fp32 only, never in the output's precision */
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
           (uint32_t)CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE);
    /* the heuristic assumes 256-byte aligned matrices unless told; views may be less aligned */
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
           ptr_alignment(w));
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
           ptr_alignment(x));
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
           ptr_alignment(y));
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
           ptr_alignment(y));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(im->lt, desc, &la, &lb, &lc, &lc, &pref, 1,
                                                       &res, &found);
    if (hs == CUBLAS_STATUS_NOT_SUPPORTED || (hs == CUBLAS_STATUS_SUCCESS && found == 0))
        return WF_OK; /* no algorithm: the caller takes the GEMM path */
    WF_CUBLAS_CHECK(hs); /* anything else is a bug in the descriptors above: report it */
    *done = true;
    float beta = 0.0f; /* beta 0: y (C) is not read */
    WF_CUBLAS_CHECK(cublasLtMatmul(im->lt, desc, &alpha, w, &la, x, &lb, &beta, y, &lc, y, &lc,
                                   &res.algo, im->workspace, im->workspace_bytes, im->stream));
    return WF_OK;
}

template <typename T>
__global__ void __launch_bounds__(WF_EW_BLOCK)
    bias_rows_kernel(T *y, const T *bias, int64_t n, int64_t m) {
    for (int64_t i = wf_tid(); i < n * m; i += wf_nthreads()) y[i] = bias[i % m];
}

extern "C" wf_status wf_cuda_linear_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x,
                                        const wf_tensor *w, const wf_tensor *bias) {
    int64_t n = wf_tensor_rows(x), k = wf_tensor_cols(x), m = w->shape[0];
    wf_dtype dt = x->dtype;
    if (w->dtype != dt || y->dtype != dt || (bias && bias->dtype != dt))
        return wf_error(WF_ERR_UNSUPPORTED, "op linear_fwd on backend 'cuda': x, w, bias and y "
                                            "must share one dtype");
    if (n <= 0 || m <= 0) return WF_OK;
    float beta = 0.0f;
    if (bias) {
        bool done = false;
        if (k > 0 && !force_gemm_path())
            WF_TRY(wf_cuda_linear_lt(be, y->data, x->data, w->data, bias->data, n, m, k, dt,
                                     1.0f, &done));
        if (done) return WF_OK;
        WF_TRY(wf_cuda_by_dtype("linear_fwd", dt, [&](auto tag) {
            using T = decltype(tag);
            WF_LAUNCH(wf_cuda_grid(be, n * m, WF_EW_BLOCK), WF_EW_BLOCK, 0,
                                  wf_cuda_stream(be), bias_rows_kernel<T>)(
                                  (T *)y->data, (const T *)bias->data, n, m);
            WF_CUDA_LAUNCHED("linear_fwd");
            return WF_OK;
        }));
        beta = 1.0f;
    }
    return wf_cuda_gemm(be, "linear_fwd", false, true, n, m, k, 1.0f, x->data, k, 0, w->data, k, 0,
                        dt, beta, y->data, m, 0, dt, 1);
}

/* The summand of dbias at (r, c): dy[r, c]. */
template <typename T> struct dy_term {
    const T *dy;
    int64_t cols;
    __device__ float operator()(int64_t r, int64_t c) const { return wf_to_f32(dy[r * cols + c]); }
};

extern "C" wf_status wf_cuda_linear_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dw,
                                        wf_tensor *dbias, const wf_tensor *dy, const wf_tensor *x,
                                        const wf_tensor *w) {
    int64_t n = wf_tensor_rows(dy), m = wf_tensor_cols(dy);
    wf_dtype dt = dy->dtype;
    if ((dx && w->dtype != dt) || (dw && x->dtype != dt))
        return wf_error(WF_ERR_UNSUPPORTED, "op linear_bwd on backend 'cuda': dy, x and w must "
                                            "share one dtype");
    if (dx) { /* dx (n, k) = dy (n, m) w (m, k) */
        int64_t k = w->shape[1];
        WF_TRY(wf_cuda_gemm(be, "linear_bwd", false, false, n, k, m, 1.0f, dy->data, m, 0, w->data,
                            k, 0, dt, 0.0f, dx->data, k, 0, dx->dtype, 1));
    }
    if (dw) { /* dw (m, k) += dy^T (m, n) x (n, k) */
        int64_t k = wf_tensor_cols(x);
        WF_TRY(wf_cuda_gemm(be, "linear_bwd", true, false, m, k, n, 1.0f, dy->data, m, 0, x->data,
                            k, 0, dt, 1.0f, dw->data, k, 0, dw->dtype, 1));
    }
    if (!dbias) return WF_OK;
    return wf_cuda_by_dtype("linear_bwd", dt, [&](auto dy_tag) {
        using Ty = decltype(dy_tag);
        return wf_cuda_by_dtype("linear_bwd", dbias->dtype, [&](auto b_tag) {
            using Tb = decltype(b_tag);
            return wf_colsum(be, "linear_bwd", n, m, (Tb *)dbias->data, true,
                             dy_term<Ty>{(const Ty *)dy->data, m});
        });
    });
}
