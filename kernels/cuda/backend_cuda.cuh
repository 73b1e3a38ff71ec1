/* Internal header of the CUDA backend: the backend's private state (stream, cuBLAS handles,
 * workspace), and the extern "C" op entries every .cu file in kernels/cuda/ defines. The op
 * contract is include/weft/ops.h; entries may assume the checked wrappers (host/ops/) validated
 * shapes and dtypes. Every entry enqueues its work on the backend's one stream and never
 * synchronizes; temporaries come from be->scratch (device memory) and are released on return,
 * which is safe because everything after runs on the same stream. */
#ifndef WEFT_KERNELS_CUDA_BACKEND_CUDA_CUH
#define WEFT_KERNELS_CUDA_BACKEND_CUDA_CUH

#include <cublasLt.h>

#include "check.cuh"

extern "C" {
#include "weft/backend.h"
#include "weft/ops.h"
#include "weft/slot_cache.h"
}

/* What the cuBLASLt heuristic's choice depends on (linear.cu: wf_cuda_linear_lt and
 * wf_cuda_linear_lt_epilogue share one plan cache): the cache key of its plans. Compared as
 * bytes, so built zeroed (padding included). Not in the key, and why: alpha (the heuristic never
 * sees it; it is passed to each cublasLtMatmul), the bias and aux addresses (only their
 * alignment; set on the cached descriptor at each call), the workspace size and device (fixed per
 * backend, and the cache is per backend), the compute and scale types (always fp32 here). */
struct wf_lt_key {
    int64_t n, m, k;  /* GEMM shape, column-major D (m, n): the layouts are built from these */
    int32_t dtype;    /* wf_dtype of A, B, D, bias and aux: the layouts' and epilogue's data type */
    int32_t trans_a;  /* cublasOperation_t of A (T: stored (k, m), N: stored (m, k)); B is N */
    int32_t trans_b;
    uint32_t epilogue; /* cublasLtEpilogue_t: BIAS, GELU_AUX(_BIAS), DGELU; changes the kernels */
    /* largest power of two <= 256 dividing each address: told to the heuristic as the minimum
     * alignment, so an algorithm chosen for 256-byte aligned data is never run on a view that
     * is only 2-byte aligned (invalid there); bias and aux: 0 when the call has none (their
     * alignment is keyed since the epilogue reads them) */
    uint32_t align_a, align_b, align_d, align_bias, align_aux;
};

/* A cached plan: descriptors built once (the bias and aux pointers are set on each call) and the
 * heuristic's answer (found: an algorithm; else the caller takes the GEMM path). Valid while
 * the slot cache marks its slot ready (a reused or failed slot is not, and is rebuilt). */
struct wf_lt_plan {
    cublasLtMatmulDescOpaque_t desc;
    cublasLtMatrixLayoutOpaque_t la, lb, lc; /* A, B (k, n), D and aux (m, n): col-major */
    cublasLtMatmulAlgo_t algo;
    bool found;
};

/* CUDA attention kernel variants (attention.cu; WF_CUDA_ATTENTION). */
enum wf_att_variant {
    WF_ATT_FLASH, WF_ATT_SIMPLE, WF_ATT_FLASH_ONLY, WF_ATT_FLASH2, WF_ATT_FLASH2_ONLY
};

struct wf_cuda_impl {
    cudaStream_t stream;
    cublasHandle_t cublas;
    cublasLtHandle_t lt;
    void *workspace; /* WF_CUBLAS_WORKSPACE bytes of device memory for cuBLAS/cuBLASLt */
    size_t workspace_bytes;
    int sm_count; /* caps grid-stride grids; never affects results */
    /* WF_CUDA_ATTENTION, read at open: "flash" (default: tiled kernels where they apply, the
     * simple ones elsewhere), "simple" (simple kernels always), "flash2" (the flash2 tiled kernels
     * where they apply), "flash-only" / "flash2-only" (calls the tiled kernels cannot take fail as
     * unsupported: lets the op tests prove which cases they ran) */
    wf_att_variant attention_variant;
    /* WF_FLASH2_CONFIG, read at open: the flash2 tile configuration, an index into
     * attention.cu's table (0: the default) */
    int flash2_config;
    /* WF_CUDA_LORA, read at open: 0 "composed" (default), 1 "fused" (lora.cu: the mask fused
     * into the low-rank kernels, beta = 1 accumulation into the base GEMM; opt-in until a GPU
     * run verifies it) */
    int lora_variant;
    /* cuBLASLt plans of wf_cuda_linear_lt (linear.cu), WF_LT_CACHE_SLOTS of them, allocated at
     * open; the slot cache evicts first-in first-out when more keys than slots occur. Hits and
     * misses are counted for benchmarks and tests (misses > distinct keys means thrashing). */
    wf_slot_cache lt_cache;
    wf_lt_plan *lt_plans; /* (WF_LT_CACHE_SLOTS) */
    int64_t lt_hits, lt_misses;
};

static inline wf_cuda_impl *wf_cuda_impl_of(const wf_backend *be) {
    return (wf_cuda_impl *)be->impl;
}
static inline cudaStream_t wf_cuda_stream(const wf_backend *be) {
    return wf_cuda_impl_of(be)->stream;
}

/* Row-major GEMM on raw device pointers, batched with element strides (0: shared operand):
 *   c[i] (m, n) = alpha op(a[i]) op(b[i]) + beta c[i], i < batch, fp32 accumulation (no TF32).
 * lda etc. are row strides of the stored matrices. a and b share a dtype; c has that dtype or
 * f32. Defined in matmul.cu, used by every GEMM-backed op. */
wf_status wf_cuda_gemm(wf_backend *be, const char *op, bool trans_a, bool trans_b, int64_t m,
                       int64_t n, int64_t k, float alpha, const void *a, int64_t lda,
                       int64_t stride_a, const void *b, int64_t ldb, int64_t stride_b,
                       wf_dtype ab_dtype, float beta, void *c, int64_t ldc, int64_t stride_c,
                       wf_dtype c_dtype, int64_t batch);

/* y += dropout(x) (ops.h wf_dropout) in one pass (dropout.cu), bit for bit the dropout op into a
 * temporary followed by the add op; y and x share a dtype and an element count and must not
 * overlap. op names the caller in errors. */
wf_status wf_cuda_dropout_add(wf_backend *be, const char *op, wf_tensor *y, const wf_tensor *x,
                              const wf_dropout *d);

/* y (n, m) "=" alpha x (n, k) w^T + bias (m) in one cuBLASLt GEMM with the BIAS epilogue
 * (linear.cu); *done stays false, and nothing runs, when cuBLASLt has no algorithm for it. */
wf_status wf_cuda_linear_lt(wf_backend *be, void *y, const void *x, const void *w,
                            const void *bias, int64_t n, int64_t m, int64_t k, wf_dtype dt,
                            float alpha, bool *done);

/* One cuBLASLt GEMM with an aux-matrix epilogue (GELU_AUX[_BIAS], DGELU), column-major
 * D (m, n) = epi(op(A) B [+ bias]; aux), see linear.cu; *done stays false, and nothing runs,
 * when cuBLASLt cannot take it. */
wf_status wf_cuda_linear_lt_epilogue(wf_backend *be, cublasLtEpilogue_t epi, bool trans_a,
                                     const void *a, const void *b, void *d, const void *bias,
                                     const void *aux, int64_t m, int64_t n, int64_t k,
                                     wf_dtype dt, bool *done);

extern "C" {
wf_status wf_cuda_embedding_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                                bool);
wf_status wf_cuda_embedding_bwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_matmul(wf_backend *, const wf_matmul *);
wf_status wf_cuda_linear_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                             const wf_tensor *);
wf_status wf_cuda_linear_bwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *, const wf_tensor *,
                             const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_linear_gelu_tanh_fwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *,
                                       const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_linear_dgelu_tanh_bwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *,
                                        const wf_tensor *, const wf_tensor *, const wf_tensor *,
                                        const wf_tensor *);
wf_status wf_cuda_add(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_add_layernorm_fwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *,
                                    wf_tensor *, const wf_tensor *, const wf_tensor *,
                                    const wf_tensor *, const wf_tensor *, float);
wf_status wf_cuda_add_rmsnorm_fwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *,
                                  const wf_tensor *, const wf_tensor *, const wf_tensor *, float);
wf_status wf_cuda_gelu_fwd(wf_backend *, wf_tensor *, const wf_tensor *, bool);
wf_status wf_cuda_gelu_bwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *, bool);
wf_status wf_cuda_swiglu_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_swiglu_bwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *,
                             const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_dropout(wf_backend *, wf_tensor *, const wf_tensor *, const wf_dropout *);
wf_status wf_cuda_ia3_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_ia3_bwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *,
                          const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_cast(wf_backend *, wf_tensor *, const wf_tensor *);
wf_status wf_cuda_layernorm_fwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *,
                                const wf_tensor *, const wf_tensor *, const wf_tensor *, float);
wf_status wf_cuda_layernorm_bwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *,
                                const wf_tensor *, const wf_tensor *, const wf_tensor *,
                                const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_rmsnorm_fwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *,
                              const wf_tensor *, float);
wf_status wf_cuda_rmsnorm_bwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *,
                              const wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_rope_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                           const wf_tensor *);
wf_status wf_cuda_rope_bwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                           const wf_tensor *);
wf_status wf_cuda_tanh_fwd(wf_backend *, wf_tensor *, const wf_tensor *);
wf_status wf_cuda_tanh_bwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cuda_attention_fwd(wf_backend *, const wf_attention *);
wf_status wf_cuda_attention_bwd(wf_backend *, const wf_attention *);
/* Reads WF_FLASH2_CONFIG into the impl at open (attention.cu); errors name the valid names. */
wf_status wf_cuda_flash2_config_open(wf_backend *, int cc_major);
wf_status wf_cuda_lora_fwd(wf_backend *, const wf_lora *);
wf_status wf_cuda_lora_bwd(wf_backend *, const wf_lora *);
wf_status wf_cuda_cross_entropy(wf_backend *, const wf_cross_entropy *);
wf_status wf_cuda_grad_unscale_norm(wf_backend *, wf_tensor *, wf_step_state *);
wf_status wf_cuda_adamw(wf_backend *, wf_tensor *, const wf_tensor *, wf_tensor *, wf_tensor *,
                        wf_tensor *, int64_t, const wf_adamw_hparams *, const wf_step_state *);
wf_status wf_cuda_step_end(wf_backend *, wf_step_state *, const wf_scaler_hparams *);
wf_status wf_cuda_mse(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                      float, const float *);
}

#endif
