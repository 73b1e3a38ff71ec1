/* Linear layer on the GPU (MATH.md "Linear and LoRA"): y = x W^T + bias; backward dx = dy W,
 * dW += dy^T x (GEMM with beta = 1), dbias += colsum(dy) (colsum.cuh: deterministic, no
 * atomics). x and dy may have any leading dims: they are seen as (N, K) and (N, M).
 * The forward with a bias runs one cuBLASLt GEMM with the BIAS epilogue (bias added to the fp32
 * accumulator, one rounding). When cuBLASLt offers no algorithm for the shape/alignment, or
 * WF_CUDA_LINEAR=gemm is set (to test that path), it falls back to: y = bias broadcast, then a
 * cuBLAS GEMM with beta = 1 (still one rounding of the fp32 sum, bias first rounded to y's dtype,
 * which is exact since bias has y's dtype). wf_cuda_linear_lt_epilogue is the same kind of GEMM
 * with an aux-matrix epilogue (GELU_AUX_BIAS, DGELU) for linear_gelu.cu; both go through one
 * per-backend cache of cuBLASLt plans (lt_run). Reference: kernels/cpu/matmul.c. */
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

/* One cuBLASLt GEMM, column-major as cuBLASLt sees it: D (m, n) = epi(alpha op(A) (m, k) B (k, n)
 * [+ bias (m)]; aux); A is stored (k, m) with ld k when trans_a, else (m, k) with ld m; B ld k;
 * D and aux ld m; beta 0 (C is not read). bias and aux have D's dtype (the epilogue's default:
 * BIAS_DATA_TYPE and EPILOGUE_AUX_DATA_TYPE are left unset, cublasLt.h). */
struct lt_call {
    const void *a, *b;
    void *d;
    const void *bias, *aux; /* NULL when the epilogue takes none */
    float alpha;
};

/* The key of a call (zeroed first: the cache compares bytes, padding included). */
static wf_lt_key lt_key_of(cublasLtEpilogue_t epi, bool trans_a, const lt_call *c, int64_t m,
                           int64_t n, int64_t k, wf_dtype dt) {
    wf_lt_key key;
    memset(&key, 0, sizeof key);
    key.n = n, key.m = m, key.k = k;
    key.dtype = (int32_t)dt;
    key.trans_a = (int32_t)(trans_a ? CUBLAS_OP_T : CUBLAS_OP_N), key.trans_b = (int32_t)CUBLAS_OP_N;
    key.epilogue = (uint32_t)epi;
    key.align_a = ptr_alignment(c->a), key.align_b = ptr_alignment(c->b), key.align_d = ptr_alignment(c->d);
    key.align_bias = c->bias ? ptr_alignment(c->bias) : 0;
    key.align_aux = c->aux ? ptr_alignment(c->aux) : 0;
    return key;
}

/* Builds a plan's descriptors and asks the heuristic once (the slow part: tens of microseconds
 * of host time, more than the GEMM itself for small shapes). Everything set here comes from the
 * key, except the bias and aux pointers (set again on every call; the heuristic reads them for
 * their alignment, which the key holds). */
static wf_status lt_plan_build(wf_cuda_impl *im, const wf_lt_key *key, const lt_call *c,
                               wf_lt_plan *p) {
    cudaDataType_t t = cuda_type((wf_dtype)key->dtype);
    cublasLtMatmulDesc_t desc = &p->desc;
    p->found = false;
    WF_CUBLAS_CHECK(cublasLtMatmulDescInit(desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_TRANSA, key->trans_a);
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_TRANSB, key->trans_b);
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_EPILOGUE, key->epilogue);
    if (c->bias) LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, c->bias);
    if (c->aux) {
        LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, c->aux);
        LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, key->m);
    }
    uint64_t m = (uint64_t)key->m, n = (uint64_t)key->n, k = (uint64_t)key->k;
    if (key->trans_a == (int32_t)CUBLAS_OP_T) WF_CUBLAS_CHECK(cublasLtMatrixLayoutInit(&p->la, t, k, m, key->k));
    else WF_CUBLAS_CHECK(cublasLtMatrixLayoutInit(&p->la, t, m, k, key->m));
    WF_CUBLAS_CHECK(cublasLtMatrixLayoutInit(&p->lb, t, k, n, key->k));
    WF_CUBLAS_CHECK(cublasLtMatrixLayoutInit(&p->lc, t, m, n, key->m));
    cublasLtMatmulPreferenceOpaque_t pref;
    WF_CUBLAS_CHECK(cublasLtMatmulPreferenceInit(&pref));
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
           (uint64_t)im->workspace_bytes);
    /* split-K partial sums in fp32 only, never in the output's precision */
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
           (uint32_t)CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE);
    /* the heuristic assumes 256-byte aligned matrices unless told; views may be less aligned */
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
           key->align_a);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
           key->align_b);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
           key->align_d);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, &pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
           key->align_d);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(im->lt, desc, &p->la, &p->lb, &p->lc,
                                                       &p->lc, &pref, 1, &res, &found);
    if (hs == CUBLAS_STATUS_NOT_SUPPORTED || (hs == CUBLAS_STATUS_SUCCESS && found == 0)) {
        return WF_OK; /* "no algorithm" is an answer too: cached, the caller takes GEMM */
    }
    WF_CUBLAS_CHECK(hs); /* anything else is a bug in the descriptors above: report it */
    p->algo = res.algo;
    p->found = true;
    return WF_OK;
}

/* Runs call c through the backend's plan cache (wf_cuda_impl.lt_cache): the heuristic is asked
 * once per key, not once per call; the same key gives the same answer, so caching changes no
 * result. Leaves *done false (running nothing) when the heuristic found no algorithm. */
static wf_status lt_run(wf_backend *be, cublasLtEpilogue_t epi, bool trans_a, const lt_call *c,
                        int64_t m, int64_t n, int64_t k, wf_dtype dt, bool *done) {
    *done = false;
    wf_cuda_impl *im = wf_cuda_impl_of(be);
    wf_lt_key key = lt_key_of(epi, trans_a, c, m, n, k, dt);
    int slot = wf_slot_cache_find(&im->lt_cache, &key);
    if (slot < 0) slot = wf_slot_cache_insert(&im->lt_cache, &key); /* not ready */
    wf_lt_plan *p = &im->lt_plans[slot];
    if (wf_slot_cache_ready(&im->lt_cache, slot)) {
        im->lt_hits++;
    } else { /* a new key, a reused slot, or a key whose build failed before */
        im->lt_misses++;
        WF_TRY(lt_plan_build(im, &key, c, p));
        wf_slot_cache_set_ready(&im->lt_cache, slot);
    }
    if (!p->found) return WF_OK; /* the caller takes the GEMM path */
    /* the per-call attributes: the algorithm depends on these pointers' alignment (keyed), not
     * on their addresses */
    if (c->bias) LT_SET(cublasLtMatmulDescSetAttribute, &p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, c->bias);
    if (c->aux) LT_SET(cublasLtMatmulDescSetAttribute, &p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, c->aux);
    *done = true;
    float beta = 0.0f;
    WF_CUBLAS_CHECK(cublasLtMatmul(im->lt, &p->desc, &c->alpha, c->a, &p->la, c->b, &p->lb, &beta, c->d,
                                   &p->lc, c->d, &p->lc, &p->algo, im->workspace,
                                   im->workspace_bytes, im->stream));
    return WF_OK;
}

/* y (n, m) = alpha x (n, k) w^T + bias with cuBLASLt's BIAS epilogue (the bias is added after
 * alpha: D = alpha AB + bias). Column-major view: y^T (m, n) = op_T(w stored as (k, m)) x^T
 * (k, n), and the bias (m) runs along y^T's rows, as BIAS wants. Leaves *done false (and does
 * nothing) when the heuristic finds no algorithm. Also used by lora.cu (alpha = the LoRA
 * scale). */
wf_status wf_cuda_linear_lt(wf_backend *be, void *y, const void *x, const void *w,
                            const void *bias, int64_t n, int64_t m, int64_t k, wf_dtype dt,
                            float alpha, bool *done) {
    lt_call c = {w, x, y, bias, NULL, alpha}; /* a, b, d, bias, aux, alpha */
    return lt_run(be, CUBLASLT_EPILOGUE_BIAS, true, &c, m, n, k, dt, done);
}

/* The same kind of GEMM with an activation epilogue that reads or writes an aux matrix (the GELU
 * epilogues of linear_gelu.cu), alpha 1. Leaves *done false, running nothing, when cuBLASLt
 * cannot take it: the aux ld (m) is not a multiple of 8 (cublasLt.h, EPILOGUE_AUX_LD for the GELU
 * epilogues), aux is not 16-byte aligned (the ld rule reads as 16-byte vector access; the
 * pointer rule is not written down, so we do not lean on the heuristic to notice), the
 * heuristic finds no algorithm, or WF_CUDA_LINEAR=gemm. */
wf_status wf_cuda_linear_lt_epilogue(wf_backend *be, cublasLtEpilogue_t epi, bool trans_a,
                                     const void *a, const void *b, void *d, const void *bias,
                                     const void *aux, int64_t m, int64_t n, int64_t k,
                                     wf_dtype dt, bool *done) {
    *done = false;
    if (force_gemm_path() || m % 8 != 0 || ptr_alignment(aux) < 16) return WF_OK;
    lt_call c = {a, b, d, bias, aux, 1.0f};
    return lt_run(be, epi, trans_a, &c, m, n, k, dt, done);
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
