/* The CPU backend's op entries (one op per file in kernels/cpu/) and shared helpers.
 * The CPU backend is the numerical reference: plain fp32 loops (OpenMP over rows where it pays),
 * OpenBLAS for GEMM, deterministic reductions. */
#ifndef WEFT_KERNELS_CPU_OPS_H
#define WEFT_KERNELS_CPU_OPS_H

#include "weft/ops.h"

/* Fails with WF_ERR_UNSUPPORTED unless every non-NULL tensor given is fp32. Use as
 * WF_TRY(wf_cpu_need_f32("op", 3, a, b, c)). */
wf_status wf_cpu_need_f32(const char *op, int n, ...);

/* Chooses OpenBLAS's kernels where its own CPU detection fell back to generic ones (blas_core.c);
 * once per process (the CPU backend's open), before any GEMM. Returns the note it printed to
 * stderr saying what it switched, or NULL when it left the library's choice alone. */
const char *wf_cpu_blas_init(void);

/* Row-major SGEMM on raw pointers: c (M, N) = alpha op(a) op(b) + beta c; lda etc. are the
 * row strides of the stored matrices. */
void wf_cpu_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc);

wf_status wf_cpu_embedding_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *, bool);
wf_status wf_cpu_embedding_bwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cpu_matmul(wf_backend *, const wf_matmul *);
wf_status wf_cpu_linear_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                            const wf_tensor *);
wf_status wf_cpu_linear_bwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *, const wf_tensor *,
                            const wf_tensor *, const wf_tensor *);
wf_status wf_cpu_lora_fwd(wf_backend *, const wf_lora *);
wf_status wf_cpu_lora_bwd(wf_backend *, const wf_lora *);
wf_status wf_cpu_layernorm_fwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *, const wf_tensor *,
                               const wf_tensor *, const wf_tensor *, float);
wf_status wf_cpu_layernorm_bwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *, const wf_tensor *,
                               const wf_tensor *, const wf_tensor *, const wf_tensor *,
                               const wf_tensor *);
wf_status wf_cpu_rmsnorm_fwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *,
                             const wf_tensor *, float);
wf_status wf_cpu_rmsnorm_bwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *,
                             const wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cpu_add_layernorm_fwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *, wf_tensor *,
                                   const wf_tensor *, const wf_tensor *, const wf_tensor *,
                                   const wf_tensor *, float);
wf_status wf_cpu_add_rmsnorm_fwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *,
                                 const wf_tensor *, const wf_tensor *, const wf_tensor *, float);
/* One row of each norm's forward (C values), shared by the norm and its fused-add form so the
 * two give the same bits: layernorm stores mean and rstd; rmsnorm returns rstd. */
void wf_cpu_layernorm_row(float *y, float *mean_out, float *rstd_out, const float *x,
                          const float *g, const float *bias, int64_t C, float eps);
float wf_cpu_rmsnorm_row(float *y, const float *x, const float *g, int64_t C, float eps);
wf_status wf_cpu_add(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cpu_linear_gelu_tanh_fwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *,
                                      const wf_tensor *, const wf_tensor *);
wf_status wf_cpu_linear_dgelu_tanh_bwd(wf_backend *, wf_tensor *, wf_tensor *, wf_tensor *,
                                       const wf_tensor *, const wf_tensor *, const wf_tensor *,
                                       const wf_tensor *);
wf_status wf_cpu_gelu_fwd(wf_backend *, wf_tensor *, const wf_tensor *, bool);
wf_status wf_cpu_gelu_bwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *, bool);
wf_status wf_cpu_tanh_fwd(wf_backend *, wf_tensor *, const wf_tensor *);
wf_status wf_cpu_tanh_bwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cpu_swiglu_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cpu_swiglu_bwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *,
                            const wf_tensor *, const wf_tensor *);
wf_status wf_cpu_rope_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                          const wf_tensor *);
wf_status wf_cpu_rope_bwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                          const wf_tensor *);
wf_status wf_cpu_attention_fwd(wf_backend *, const wf_attention *);
wf_status wf_cpu_attention_bwd(wf_backend *, const wf_attention *);
wf_status wf_cpu_cross_entropy(wf_backend *, const wf_cross_entropy *);
wf_status wf_cpu_mse(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                     float, const float *);
wf_status wf_cpu_dropout(wf_backend *, wf_tensor *, const wf_tensor *, const wf_dropout *);
/* Dropout over the flat elements [0, n) of d's stream (keep = wf_rng_uniform(...) >= p, rng.h;
 * Philox in vector lanes where the CPU has them, WF_CPU_SIMD caps it): out (n) = keep ?
 * in * scale : 0, or out += that when accumulate (LoRA's drop_bwd onto dx); the caller's scale is
 * 1 / (1 - p) as its op defines it. out may alias in. */
void wf_cpu_dropout_apply(float *out, const float *in, int64_t n, const wf_dropout *d, float scale,
                          bool accumulate);
wf_status wf_cpu_ia3_fwd(wf_backend *, wf_tensor *, const wf_tensor *, const wf_tensor *);
wf_status wf_cpu_ia3_bwd(wf_backend *, wf_tensor *, wf_tensor *, const wf_tensor *, const wf_tensor *,
                         const wf_tensor *);
wf_status wf_cpu_cast(wf_backend *, wf_tensor *, const wf_tensor *);
wf_status wf_cpu_grad_unscale_norm(wf_backend *, wf_tensor *, wf_step_state *);
wf_status wf_cpu_adamw(wf_backend *, wf_tensor *, const wf_tensor *, wf_tensor *, wf_tensor *,
                       wf_tensor *, int64_t, const wf_adamw_hparams *, const wf_step_state *);
wf_status wf_cpu_step_end(wf_backend *, wf_step_state *, const wf_scaler_hparams *);

#endif
