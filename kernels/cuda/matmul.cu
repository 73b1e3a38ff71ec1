/* General (batched) matmul on the GPU with cuBLAS, and the row-major GEMM helper every GEMM-backed
 * op uses (backend_cuda.cuh: wf_cuda_gemm). Reference: kernels/cpu/matmul.c.
 * - Compute is CUBLAS_COMPUTE_32F: fp32 accumulation for every dtype, and for fp32 inputs *no
 *   TF32* (the f32 backend-vs-CPU tolerance of the matmul tests assumes full fp32 products).
 *   The handle's math mode also forbids split-K reductions in the output's precision.
 * - Row-major is handled by swapping operands: a row-major (m, n) matrix is a column-major
 *   (n, m) one, so c^T = op(b)^T op(a)^T is one column-major GEMM with b first.
 * - A 2-D operand of a batched matmul is shared through batch stride 0. */
#include <limits.h>

#include "elementwise.cuh"

static cudaDataType_t cuda_type(wf_dtype dt) {
    return dt == WF_BF16 ? CUDA_R_16BF : dt == WF_F16 ? CUDA_R_16F : CUDA_R_32F;
}

/* c = beta c over `count` contiguous elements: what a GEMM with k = 0 leaves (beta 0 gives 0,
 * even where c held NaN, as BLAS). */
struct scale_op {
    float beta;
    __device__ void operator()(int64_t, const float *x, float *y) const {
        y[0] = beta == 0.0f ? 0.0f : beta * x[0];
    }
};

static wf_status gemm_k0(wf_backend *be, const char *op, float beta, void *c, int64_t count,
                         wf_dtype c_dtype) {
    if (beta == 1.0f) return WF_OK;
    return wf_cuda_by_dtype(op, c_dtype, [&](auto tag) {
        using T = decltype(tag);
        wf_ew_args<T, 1, 1> args = {{(const T *)c}, {(T *)c}, count};
        return wf_ew_launch(be, op, args, scale_op{beta});
    });
}

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

wf_status wf_cuda_gemm(wf_backend *be, const char *op, bool trans_a, bool trans_b, int64_t m,
                       int64_t n, int64_t k, float alpha, const void *a, int64_t lda,
                       int64_t stride_a, const void *b, int64_t ldb, int64_t stride_b,
                       wf_dtype ab_dtype, float beta, void *c, int64_t ldc, int64_t stride_c,
                       wf_dtype c_dtype, int64_t batch) {
    if (!wf_dtype_is_float(ab_dtype) || (c_dtype != ab_dtype && c_dtype != WF_F32))
        return wf_error(WF_ERR_UNSUPPORTED, "op %s on backend 'cuda': GEMM of %s inputs into a %s "
                        "output (supported: the inputs' dtype or f32)", op,
                        wf_dtype_name(ab_dtype), wf_dtype_name(c_dtype));
    if (m <= 0 || n <= 0 || batch <= 0) return WF_OK;
    if (k <= 0) { /* c is contiguous in every caller: (batch, m, n) with ldc = n */
        WF_ASSERT(ldc == n && (batch == 1 || stride_c == m * n));
        return gemm_k0(be, op, beta, c, batch * m * n, c_dtype);
    }
    if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(lda) || !fits_int(ldb) ||
        !fits_int(ldc))
        return wf_error(WF_ERR_UNSUPPORTED, "op %s on backend 'cuda': GEMM dims (%lld, %lld, %lld) "
                        "exceed cuBLAS's int range", op, (long long)m, (long long)n, (long long)k);
    wf_cuda_impl *im = wf_cuda_impl_of(be);
    size_t ab_size = wf_dtype_size(ab_dtype), c_size = wf_dtype_size(c_dtype);
    cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    for (int64_t i0 = 0; i0 < batch; i0 += WF_GEMM_MAX_BATCH) {
        int64_t nb = batch - i0 < WF_GEMM_MAX_BATCH ? batch - i0 : WF_GEMM_MAX_BATCH;
        const char *ap = (const char *)a + (size_t)(i0 * stride_a) * ab_size;
        const char *bp = (const char *)b + (size_t)(i0 * stride_b) * ab_size;
        char *cp = (char *)c + (size_t)(i0 * stride_c) * c_size;
        WF_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
            im->cublas, op_b, op_a, (int)n, (int)m, (int)k, &alpha, bp, cuda_type(ab_dtype),
            (int)ldb, stride_b, ap, cuda_type(ab_dtype), (int)lda, stride_a, &beta, cp,
            cuda_type(c_dtype), (int)ldc, stride_c, (int)nb, CUBLAS_COMPUTE_32F,
            CUBLAS_GEMM_DEFAULT));
    }
    return WF_OK;
}

/* The last two dims of t as (rows, cols), and how many such matrices t holds. */
static void mat_dims(const wf_tensor *t, int64_t *rows, int64_t *cols, int64_t *count) {
    *rows = t->ndim >= 2 ? t->shape[t->ndim - 2] : 1;
    *cols = wf_tensor_cols(t);
    int64_t per = *rows * *cols;
    *count = per > 0 ? wf_tensor_numel(t) / per : 0;
}

extern "C" wf_status wf_cuda_matmul(wf_backend *be, const wf_matmul *mm) {
    if (mm->b->dtype != mm->a->dtype)
        return wf_error(WF_ERR_UNSUPPORTED, "op matmul on backend 'cuda': 'a' is %s but 'b' is %s "
                        "(one dtype)", wf_dtype_name(mm->a->dtype), wf_dtype_name(mm->b->dtype));
    int64_t m, n, bt, ra, ca, na, rb, cb, nbt;
    mat_dims(mm->c, &m, &n, &bt);
    mat_dims(mm->a, &ra, &ca, &na);
    mat_dims(mm->b, &rb, &cb, &nbt);
    int64_t k = mm->trans_a ? ra : ca;
    /* one matrix (2-D, or a batch of 1) is shared by every batch of c */
    int64_t stride_a = na > 1 ? ra * ca : 0, stride_b = nbt > 1 ? rb * cb : 0;
    return wf_cuda_gemm(be, "matmul", mm->trans_a, mm->trans_b, m, n, k, mm->alpha, mm->a->data,
                        ca, stride_a, mm->b->data, cb, stride_b, mm->a->dtype, mm->beta,
                        mm->c->data, n, m * n, mm->c->dtype, bt);
}
