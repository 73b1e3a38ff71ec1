/* The CUDA emulator's cuBLAS and cuBLASLt: exactly what matmul.cu and linear.cu call, defined on
 * the host (no libcublas is linked). Column-major, op N/T, strided batched, bf16/fp16/f32 inputs,
 * f32/bf16/fp16 outputs, CUBLAS_COMPUTE_32F only: each output element is one fp32 sum of the
 * products in k order, then alpha sum + beta C (C not read when beta is 0) (+ bias, cuBLASLt's
 * BIAS epilogue), rounded once to the output type. Scalars in host memory only. The cuBLASLt
 * heuristic offers one algorithm. Anything else (another compute type, epilogue, attribute,
 * pointer mode) is refused loudly: a message on stderr and an error status, so a backend change
 * that needs more emulation shows at once. Reference for the semantics: the cuBLAS docs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "emu_guard.h"
#include "emu_internal.h"

using namespace wf_emu;

struct cublasContext {
    cudaStream_t stream;
    cublasPointerMode_t pointer_mode;
};
struct cublasLtContext {
    int unused;
};

namespace {

cublasStatus_t refuse(const char *what, long long value) {
    fprintf(stderr, "weft CUDA emulator: %s %lld is not emulated\n", what, value);
    return CUBLAS_STATUS_NOT_SUPPORTED;
}

bool type_ok(cudaDataType_t t) {
    return t == CUDA_R_32F || t == CUDA_R_16BF || t == CUDA_R_16F;
}

float load(const void *p, cudaDataType_t t, size_t i) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    if (t == CUDA_R_16BF) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    return __half2float(((const __half *)p)[i]);
}

void store(void *p, cudaDataType_t t, size_t i, float v) {
    if (t == CUDA_R_32F) ((float *)p)[i] = v;
    else if (t == CUDA_R_16BF) ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
    else ((__half *)p)[i] = __float2half_rn(v);
}

/* One column-major GEMM: D (m, n) = alpha op(A) op(B) + beta C + bias[row]. */
struct gemm_args {
    bool ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const void *a, *b, *c, *bias;
    void *d;
    cudaDataType_t at, bt, ct, dt, biast;
    int64_t lda, ldb, ldc, ldd;
    int epi; /* 0 none, 1 GELU (aux out = input), 2 DGELU (aux in) */
    void *aux;
    int64_t aux_ld;
};

float gelu_t(float v) { return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v))); }
float dgelu_t(float v) {
    float t = tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v));
    return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * v * v);
}

void gemm(const gemm_args &g) {
    /* op(A) as rows of k, op(B) as columns of k, in fp32 (conversions are exact) */
    std::vector<float> A((size_t)(g.m * g.k)), B((size_t)(g.n * g.k));
    for (int64_t i = 0; i < g.m; i++)
        for (int64_t p = 0; p < g.k; p++)
            A[(size_t)(i * g.k + p)] =
                load(g.a, g.at, (size_t)(g.ta ? i * g.lda + p : p * g.lda + i));
    for (int64_t j = 0; j < g.n; j++)
        for (int64_t p = 0; p < g.k; p++)
            B[(size_t)(j * g.k + p)] =
                load(g.b, g.bt, (size_t)(g.tb ? p * g.ldb + j : j * g.ldb + p));
    for (int64_t j = 0; j < g.n; j++)
        for (int64_t i = 0; i < g.m; i++) {
            const float *ar = &A[(size_t)(i * g.k)], *bc = &B[(size_t)(j * g.k)];
            float acc = 0.0f;
            for (int64_t p = 0; p < g.k; p++) acc += ar[p] * bc[p];
            float v = g.alpha * acc;
            if (g.beta != 0.0f) v += g.beta * load(g.c, g.ct, (size_t)(j * g.ldc + i));
            if (g.bias) v += load(g.bias, g.biast, (size_t)i);
            if (g.epi == 1) store(g.aux, g.dt, (size_t)(j * g.aux_ld + i), v), v = gelu_t(v);
            if (g.epi == 2) v *= dgelu_t(load(g.aux, g.dt, (size_t)(j * g.aux_ld + i)));
            store(g.d, g.dt, (size_t)(j * g.ldd + i), v);
        }
    counters.gemms++;
}

size_t type_size(cudaDataType_t t) { return t == CUDA_R_32F ? 4 : 2; }

} /* namespace */

const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED (weft CUDA emulator)";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE (weft CUDA emulator)";
    default: return "a cuBLAS error (weft CUDA emulator)";
    }
}

cublasStatus_t cublasCreate_v2(cublasHandle_t *h) {
    *h = new cublasContext{nullptr, CUBLAS_POINTER_MODE_HOST};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) {
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t, void *, size_t) {
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t h, cublasPointerMode_t m) {
    if (m != CUBLAS_POINTER_MODE_HOST) return refuse("cuBLAS pointer mode", m);
    h->pointer_mode = m;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t m) {
    /* the emulator has no TF32 and never reduces in lower precision: both modes it knows agree */
    const int known = CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    if ((int)m & ~known) return refuse("cuBLAS math mode", m);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
    const void *alpha, const void *A, cudaDataType_t at, int lda, long long sa, const void *B,
    cudaDataType_t bt, int ldb, long long sb, const void *beta, void *C, cudaDataType_t ct,
    int ldc, long long sc, int batch, cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    device_scope open; /* the operands are device memory */
    if (compute != CUBLAS_COMPUTE_32F) return refuse("cuBLAS compute type", compute);
    if (algo != CUBLAS_GEMM_DEFAULT) return refuse("cuBLAS GEMM algorithm", algo);
    if (!type_ok(at) || !type_ok(bt) || !type_ok(ct)) return refuse("cuBLAS data type", at);
    if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
        return refuse("cuBLAS operation", ta);
    const int arows = ta == CUBLAS_OP_N ? m : k, brows = tb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < (arows > 1 ? arows : 1) ||
        ldb < (brows > 1 ? brows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    gemm_args g = {};
    g.ta = ta == CUBLAS_OP_T, g.tb = tb == CUBLAS_OP_T;
    g.m = m, g.n = n, g.k = k;
    g.alpha = *(const float *)alpha, g.beta = *(const float *)beta;
    g.at = at, g.bt = bt, g.ct = g.dt = ct;
    g.lda = lda, g.ldb = ldb, g.ldc = g.ldd = ldc;
    for (int i = 0; i < batch; i++) {
        g.a = (const char *)A + (size_t)(i * sa) * type_size(at);
        g.b = (const char *)B + (size_t)(i * sb) * type_size(bt);
        g.d = (char *)C + (size_t)(i * sc) * type_size(ct);
        g.c = g.d;
        gemm(g);
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- cuBLASLt: descriptors live in the caller's opaque structs ---- */

namespace {

const uint32_t DESC_MAGIC = 0x4c54444d, LAYOUT_MAGIC = 0x4c544c59, PREF_MAGIC = 0x4c545052;

struct lt_desc {
    uint32_t magic;
    cublasComputeType_t compute;
    cudaDataType_t scale;
    int32_t transa, transb;
    uint32_t epilogue;
    const void *bias;
    void *aux;
    int64_t aux_ld;
};
struct lt_layout {
    uint32_t magic;
    cudaDataType_t type;
    uint64_t rows, cols;
    int64_t ld;
};
struct lt_pref {
    uint32_t magic;
    uint64_t max_workspace;
};
static_assert(sizeof(lt_desc) <= sizeof(cublasLtMatmulDescOpaque_t), "fits cuBLASLt's struct");
static_assert(sizeof(lt_layout) <= sizeof(cublasLtMatrixLayoutOpaque_t), "fits");
static_assert(sizeof(lt_pref) <= sizeof(cublasLtMatmulPreferenceOpaque_t), "fits");

template <class T> cublasStatus_t get(const void *buf, size_t size, T *out) {
    if (size != sizeof *out) return CUBLAS_STATUS_INVALID_VALUE;
    memcpy(out, buf, sizeof *out);
    return CUBLAS_STATUS_SUCCESS;
}

} /* namespace */

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) {
    *h = new cublasLtContext{0};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescInit_internal(cublasLtMatmulDesc_t d, size_t size,
                                               cublasComputeType_t compute,
                                               cudaDataType_t scale) {
    if (size < sizeof(lt_desc)) return CUBLAS_STATUS_INVALID_VALUE;
    if (compute != CUBLAS_COMPUTE_32F) return refuse("cuBLASLt compute type", compute);
    if (scale != CUDA_R_32F) return refuse("cuBLASLt scale type", scale);
    lt_desc s = {DESC_MAGIC, compute, scale, CUBLAS_OP_N, CUBLAS_OP_N, CUBLASLT_EPILOGUE_DEFAULT,
                 nullptr, nullptr, 0};
    memcpy(d, &s, sizeof s);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
                                              cublasLtMatmulDescAttributes_t attr, const void *buf,
                                              size_t size) {
    lt_desc *s = (lt_desc *)d;
    if (s->magic != DESC_MAGIC) return CUBLAS_STATUS_INVALID_VALUE;
    switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA: return get(buf, size, &s->transa);
    case CUBLASLT_MATMUL_DESC_TRANSB: return get(buf, size, &s->transb);
    case CUBLASLT_MATMUL_DESC_EPILOGUE: {
        uint32_t e;
        if (get(buf, size, &e) != CUBLAS_STATUS_SUCCESS) return CUBLAS_STATUS_INVALID_VALUE;
        if (e != CUBLASLT_EPILOGUE_DEFAULT && e != CUBLASLT_EPILOGUE_BIAS &&
            e != CUBLASLT_EPILOGUE_GELU_AUX && e != CUBLASLT_EPILOGUE_GELU_AUX_BIAS &&
            e != CUBLASLT_EPILOGUE_DGELU)
            return refuse("cuBLASLt epilogue", e);
        s->epilogue = e;
        return CUBLAS_STATUS_SUCCESS;
    }
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return get(buf, size, &s->bias);
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER: return get(buf, size, &s->aux);
    case CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD: return get(buf, size, &s->aux_ld);
    default: return refuse("cuBLASLt matmul descriptor attribute", attr);
    }
}

cublasStatus_t cublasLtMatrixLayoutInit_internal(cublasLtMatrixLayout_t l, size_t size,
                                                 cudaDataType t, uint64_t rows, uint64_t cols,
                                                 int64_t ld) {
    if (size < sizeof(lt_layout)) return CUBLAS_STATUS_INVALID_VALUE;
    if (!type_ok(t)) return refuse("cuBLASLt matrix type", t);
    if (ld < (int64_t)(rows > 1 ? rows : 1)) return CUBLAS_STATUS_INVALID_VALUE;
    lt_layout s = {LAYOUT_MAGIC, t, rows, cols, ld};
    memcpy(l, &s, sizeof s);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceInit_internal(cublasLtMatmulPreference_t p, size_t size) {
    if (size < sizeof(lt_pref)) return CUBLAS_STATUS_INVALID_VALUE;
    lt_pref s = {PREF_MAGIC, 0};
    memcpy(p, &s, sizeof s);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void *buf, size_t size) {
    lt_pref *s = (lt_pref *)p;
    if (s->magic != PREF_MAGIC) return CUBLAS_STATUS_INVALID_VALUE;
    switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: return get(buf, size, &s->max_workspace);
    /* the emulator has no split-K and needs no alignment: accepted, checked for size only */
    case CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: {
        uint32_t v;
        return get(buf, size, &v);
    }
    default: return refuse("cuBLASLt preference attribute", attr);
    }
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t d,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dl,
                                              cublasLtMatmulPreference_t p, int requested,
                                              cublasLtMatmulHeuristicResult_t *res, int *found) {
    if (!h || ((lt_desc *)d)->magic != DESC_MAGIC || ((lt_pref *)p)->magic != PREF_MAGIC ||
        ((lt_layout *)a)->magic != LAYOUT_MAGIC || ((lt_layout *)b)->magic != LAYOUT_MAGIC ||
        ((lt_layout *)c)->magic != LAYOUT_MAGIC || ((lt_layout *)dl)->magic != LAYOUT_MAGIC ||
        requested < 1)
        return CUBLAS_STATUS_INVALID_VALUE;
    memset(res, 0, sizeof *res);
    res->state = CUBLAS_STATUS_SUCCESS;
    res->wavesCount = 1.0f;
    *found = 1;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t desc, const void *alpha,
                              const void *A, cublasLtMatrixLayout_t al, const void *B,
                              cublasLtMatrixLayout_t bl, const void *beta, const void *C,
                              cublasLtMatrixLayout_t cl, void *D, cublasLtMatrixLayout_t dl,
                              const cublasLtMatmulAlgo_t *, void *, size_t, cudaStream_t) {
    device_scope open; /* the operands, bias and aux are device memory */
    const lt_desc *s = (const lt_desc *)desc;
    const lt_layout *la = (const lt_layout *)al, *lb = (const lt_layout *)bl;
    const lt_layout *lc = (const lt_layout *)cl, *ld = (const lt_layout *)dl;
    if (!h || s->magic != DESC_MAGIC || la->magic != LAYOUT_MAGIC || lb->magic != LAYOUT_MAGIC ||
        lc->magic != LAYOUT_MAGIC || ld->magic != LAYOUT_MAGIC)
        return CUBLAS_STATUS_INVALID_VALUE;
    gemm_args g = {};
    g.ta = s->transa == CUBLAS_OP_T, g.tb = s->transb == CUBLAS_OP_T;
    g.m = (int64_t)(g.ta ? la->cols : la->rows);
    g.k = (int64_t)(g.ta ? la->rows : la->cols);
    g.n = (int64_t)(g.tb ? lb->rows : lb->cols);
    const int64_t kb = (int64_t)(g.tb ? lb->cols : lb->rows);
    if (kb != g.k || (int64_t)ld->rows != g.m || (int64_t)ld->cols != g.n ||
        lc->rows != ld->rows || lc->cols != ld->cols)
        return CUBLAS_STATUS_INVALID_VALUE;
    bool has_bias = s->epilogue == CUBLASLT_EPILOGUE_BIAS || s->epilogue == CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    if (has_bias && !s->bias) return CUBLAS_STATUS_INVALID_VALUE;
    g.epi = s->epilogue == CUBLASLT_EPILOGUE_DGELU ? 2 : (s->epilogue & CUBLASLT_EPILOGUE_GELU_AUX) == CUBLASLT_EPILOGUE_GELU_AUX ? 1 : 0;
    if (g.epi && (!s->aux || s->aux_ld % 8 || s->aux_ld < g.m)) return CUBLAS_STATUS_INVALID_VALUE;
    g.aux = s->aux, g.aux_ld = s->aux_ld;
    g.alpha = *(const float *)alpha, g.beta = *(const float *)beta;
    g.a = A, g.b = B, g.c = C, g.d = D;
    g.at = la->type, g.bt = lb->type, g.ct = lc->type, g.dt = ld->type;
    g.bias = has_bias ? s->bias : nullptr;
    g.biast = ld->type; /* the BIAS epilogue's default bias type: D's */
    g.lda = la->ld, g.ldb = lb->ld, g.ldc = lc->ld, g.ldd = ld->ld;
    gemm(g);
    return CUBLAS_STATUS_SUCCESS;
}
