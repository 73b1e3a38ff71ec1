/* GEMM on the CPU: the SGEMM wrapper every CPU op uses, batched matmul, and the linear layer
 * (MATH.md "Linear and LoRA": y = x W^T + b; dx = dy W; dW += dy^T x; db += colsum(dy)).
 * The dense products go to OpenBLAS; only the bias broadcast and the bias gradient are loops here.
 * Shapes were checked by the wf_op_* wrappers (host/ops/ops_linear.c). */
#include <cblas.h>
#include <string.h>

#include "cpu_ops.h"

#define COLSUM_BLOCK 256 /* columns per thread task in the bias gradient: a 1 KiB row slice */
#define GEMM_MAX_BLOCKS 16 /* a GEMM's output is cut into at most this many blocks (wf_cpu_gemm) */
/* OpenBLAS runs a GEMM of at most SMP_THRESHOLD_MIN (65536) multiply-adds times its
 * GEMM_MULTITHREAD_THRESHOLD (>= 1; Debian: 4) on the calling thread whatever the thread count
 * (interface/gemm.c), so products this small go to it directly: a parallel region per tiny GEMM
 * costs a thread hand-off each, which on an oversubscribed machine took test_buckets (thousands
 * of tiny GEMMs) past its 30 s timeout. */
#define GEMM_DIRECT_MACS 65536

/* OpenBLAS takes blasint (int unless built with INTERFACE64) for sizes and strides. */
static blasint to_blasint(int64_t v) {
    WF_ASSERT(v >= 0 && (int64_t)(blasint)v == v);
    return (blasint)v;
}

void wf_cpu_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        /* BLAS rejects lda = 0 (it wants >= max(1, k)), so the empty product is done here:
         * c = beta c, and beta == 0 overwrites (never 0 * NaN), as BLAS defines it. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    /* Blocks of the larger output dimension, fixed by the shape alone (at most GEMM_MAX_BLOCKS,
     * whole multiples of 64), each one single-threaded OpenBLAS call on one of our threads:
     * OpenBLAS's own threading splits by the thread count, and some of its kernels (Haswell's,
     * on AVX2 machines: measured) round differently when the split moves, so results would
     * depend on the core count. Inside a parallel region OpenBLAS runs on the calling thread. */
    if (m * n * k <= GEMM_DIRECT_MACS) { /* OpenBLAS keeps it on this thread (below) */
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    to_blasint(m), to_blasint(n), to_blasint(k), alpha, a, to_blasint(lda), b, to_blasint(ldb),
                    beta, c, to_blasint(ldc));
        return;
    }
    bool by_cols = n >= m;
    int64_t dim = by_cols ? n : m, blk = (dim + GEMM_MAX_BLOCKS - 1) / GEMM_MAX_BLOCKS;
    blk = (blk + 63) / 64 * 64;
    int64_t nb = (dim + blk - 1) / blk;
    CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t t = 0; t < nb; t++) {
        int64_t lo = t * blk, len = dim - lo < blk ? dim - lo : blk;
        if (by_cols) /* columns [lo, lo + len) of c: op(b)'s columns */
            cblas_sgemm(CblasRowMajor, ta, tb, to_blasint(m), to_blasint(len), to_blasint(k), alpha, a,
                        to_blasint(lda), b + (trans_b ? lo * ldb : lo), to_blasint(ldb), beta, c + lo,
                        to_blasint(ldc));
        else /* rows [lo, lo + len) of c: op(a)'s rows */
            cblas_sgemm(CblasRowMajor, ta, tb, to_blasint(len), to_blasint(n), to_blasint(k), alpha,
                        a + (trans_a ? lo : lo * lda), to_blasint(lda), b, to_blasint(ldb), beta,
                        c + lo * ldc, to_blasint(ldc));
    }
}

/* Batch count of a 2-D or 3-D matmul operand (2-D: 1). */
static int64_t batch_of(const wf_tensor *t) { return t->ndim == 3 ? t->shape[0] : 1; }

wf_status wf_cpu_matmul(wf_backend *be, const wf_matmul *mm) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("matmul", 3, mm->c, mm->a, mm->b));
    const wf_tensor *a = mm->a, *b = mm->b;
    int nd = mm->c->ndim;
    int64_t bt = batch_of(mm->c), m = mm->c->shape[nd - 2], n = mm->c->shape[nd - 1];
    int64_t a_rows = a->shape[a->ndim - 2], a_cols = a->shape[a->ndim - 1];
    int64_t b_cols = b->shape[b->ndim - 1];
    int64_t k = mm->trans_a ? a_rows : a_cols;
    /* A batch stride of 0 shares a 2-D (or batch-1) operand across the batches of c. */
    int64_t a_stride = batch_of(a) == 1 ? 0 : a_rows * a_cols;
    int64_t b_stride = batch_of(b) == 1 ? 0 : b->shape[b->ndim - 2] * b_cols;
    const float *ap = a->data, *bp = b->data;
    float *cp = mm->c->data;
    if (bt > 1 && a_stride != 0 && b_stride == 0 && !mm->trans_a) {
        /* Batched a, shared b: the batches stack into one (Bt*M, K) x (K, N) GEMM. */
        wf_cpu_gemm(false, mm->trans_b, bt * m, n, k, mm->alpha, ap, a_cols, bp, b_cols, mm->beta,
                    cp, n);
        return WF_OK;
    }
    for (int64_t i = 0; i < bt; i++)
        wf_cpu_gemm(mm->trans_a, mm->trans_b, m, n, k, mm->alpha, ap + i * a_stride, a_cols,
                    bp + i * b_stride, b_cols, mm->beta, cp + i * m * n, n);
    return WF_OK;
}

wf_status wf_cpu_linear_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x, const wf_tensor *w,
                            const wf_tensor *bias) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("linear_fwd", 4, y, x, w, bias));
    int64_t n = wf_tensor_rows(x), k = wf_tensor_cols(x), m = w->shape[0];
    float *yp = y->data; /* (N, M) */
    if (bias) {
        /* y starts as the bias in every row, and the GEMM adds x W^T onto it (beta = 1). */
        const float *bp = bias->data; /* (M) */
#pragma omp parallel for schedule(static) if (n * m > 65536)
        for (int64_t i = 0; i < n; i++) memcpy(yp + i * m, bp, (size_t)m * sizeof(float));
    }
    wf_cpu_gemm(false, true, n, m, k, 1.0f, x->data, k, w->data, k, bias ? 1.0f : 0.0f, yp, m);
    return WF_OK;
}

/* dbias (M) += colsum(dy (N, M)). Each task owns a block of columns and walks the rows in order,
 * so every sum has the same order whatever the thread count. */
static void colsum_add(float *dbias, const float *dy, int64_t n, int64_t m) {
    int64_t nblocks = (m + COLSUM_BLOCK - 1) / COLSUM_BLOCK;
#pragma omp parallel for schedule(static) if (n * m > 65536)
    for (int64_t blk = 0; blk < nblocks; blk++) {
        int64_t c0 = blk * COLSUM_BLOCK, nc = m - c0 < COLSUM_BLOCK ? m - c0 : COLSUM_BLOCK;
        double acc[COLSUM_BLOCK] = {0}; /* double: the CPU is the reference for this sum */
        for (int64_t i = 0; i < n; i++) {
            const float *row = dy + i * m + c0;
            for (int64_t j = 0; j < nc; j++) acc[j] += row[j];
        }
        for (int64_t j = 0; j < nc; j++) dbias[c0 + j] = (float)(dbias[c0 + j] + acc[j]);
    }
}

wf_status wf_cpu_linear_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dw, wf_tensor *dbias,
                            const wf_tensor *dy, const wf_tensor *x, const wf_tensor *w) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("linear_bwd", 6, dx, dw, dbias, dy, x, w));
    int64_t n = wf_tensor_rows(x), k = wf_tensor_cols(x), m = w->shape[0];
    const float *dyp = dy->data; /* (N, M) */
    if (dx) /* dx (N, K) = dy (N, M) W (M, K) */
        wf_cpu_gemm(false, false, n, k, m, 1.0f, dyp, m, w->data, k, 0.0f, dx->data, k);
    if (dw) /* dw (M, K) += dy^T (M, N) x (N, K) */
        wf_cpu_gemm(true, false, m, k, n, 1.0f, dyp, m, x->data, k, 1.0f, dw->data, k);
    if (dbias) colsum_add(dbias->data, dyp, n, m);
    return WF_OK;
}
