/* The op table: the contract of every op, in one place (DESIGN.md "Backend and op table").
 *
 * Callers use the wf_op_* wrappers (host/ops/): they check shapes and dtypes against the
 * contract below, name the op in any error, then call the backend's entry. A backend entry may
 * assume its arguments passed those checks. A NULL entry gives WF_ERR_UNSUPPORTED.
 *
 * Conventions. Shapes are written (rows, cols) with N = tokens (B*T), C = width, and follow
 * MATH.md (the math every op implements, forward and backward). "=" overwrites the output,
 * "+=" accumulates into it. "Float" means fp32, bf16 or fp16, one dtype per op call unless noted;
 * the CPU backend computes in fp32 and accepts fp32. Saved statistics (mean, rstd, lse) and
 * losses are always fp32. Index tensors are int32. Optional tensors may be NULL.
 * Parameter gradients (dw, dbias, dg, da, db, dl, dtable) have their parameter's dtype or fp32:
 * mixed precision accumulates them ("+=") in one flat fp32 buffer from bf16/fp16 inputs (DESIGN.md
 * "Precision"); the sums are fp32 either way, fp32 outputs are just not rounded back. */
#ifndef WEFT_OPS_H
#define WEFT_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/backend.h"
#include "weft/tensor.h"

/* Dropout: keep an element with probability 1-p and scale it by 1/(1-p). The mask of element i
 * is wf_rng_uniform(seed, step, stream, i) >= p (rng.h); p == 0 is the identity. */
typedef struct wf_dropout {
    float p;
    uint64_t seed;
    uint32_t step;   /* optimizer step */
    uint32_t stream; /* one id per dropout site (layer, tensor), so sites draw different masks */
} wf_dropout;

/* General matmul, optionally batched:  c = alpha * op(a) op(b) + beta * c.
 * c (Bt, M, N); op(a) (Bt, M, K); op(b) (Bt, K, N); op(x) = x^T when trans_x (over the last two
 * dims). 2-D tensors have Bt = 1; a 2-D a or b is shared by every batch of c. Float, one dtype. */
typedef struct wf_matmul {
    wf_tensor *c;
    const wf_tensor *a, *b;
    bool trans_a, trans_b;
    float alpha, beta;
} wf_matmul;

/* LoRA linear (PEFT): h = drop(x) A^T;  y = x W^T + bias + scale * h B^T.
 *   x (N, K), w (M, K), bias (M)?, a (r, K), b (M, r), h (N, r) saved for backward, y (N, M).
 * Backward:  dB += scale dy^T h;  dh = scale dy B;  dA += dh^T drop(x);
 *   dx = dy W + drop_bwd(dh A)  ("=", optional);  dw += dy^T x, dbias += colsum(dy) (optional:
 *   NULL when the base layer is frozen, and then no dW matmul runs). */
typedef struct wf_lora {
    wf_tensor *y, *h;
    const wf_tensor *x, *w, *bias, *a, *b;
    float scale;
    wf_dropout drop;
    wf_tensor *dx, *dw, *dbias, *da, *db; /* backward outputs */
    const wf_tensor *dy;                  /* backward input */
} wf_lora;

/* Attention, FlashAttention-2 semantics (MATH.md "Attention").
 *   q (B, T, H, D), k and v (B, S, Hk, D) with H % Hk == 0 (GQA: query head h reads kv head
 *   h / (H/Hk)), out (B, T, H, D) "=", lse (B, H, T) fp32 "=" (log-sum-exp per query row).
 *   Query i may see key j when: not causal, or j <= i + (S - T) (queries are the last T
 *   positions); and key_mask[b, j] != 0 (key_mask (B, S) int32, optional: padding); and
 *   doc_ids[b, i] == doc_ids[b, j] (doc_ids (B, T) int32, optional, needs S == T: packed rows).
 *   A query that may see no key gets out = 0 and lse = 0 (finite; never -inf or NaN).
 * Backward: dq, dk, dv "=" (same shapes as q, k, v) from dout, with out and lse from forward. */
typedef struct wf_attention {
    wf_tensor *out, *lse;
    const wf_tensor *q, *k, *v;
    const wf_tensor *key_mask, *doc_ids;
    bool causal;
    float scale; /* usually 1/sqrt(D) */
    wf_tensor *dq, *dk, *dv;
    const wf_tensor *dout;
} wf_attention;

/* Softmax cross-entropy fused with its backward (MATH.md "Loss").
 *   logits (N, V) float, targets (N) int32; losses (N) fp32 "=": LSE(z_i) - z_i[t_i], 0 where
 *   t_i == ignore_index; dlogits (N, V) "=" (optional; may alias logits):
 *   dscale * mul * (softmax(z_i) - onehot(t_i)), zero rows where ignored, with mul =
 *   *dscale_mul (one fp32 in backend memory, read on the device; 1 when NULL). The caller passes
 *   dscale = 1 / (loss tokens in the global batch) and dscale_mul = &step_state->loss_scale (the
 *   loss scale S never visits the host), and sums losses itself. */
typedef struct wf_cross_entropy {
    wf_tensor *losses, *dlogits;
    const wf_tensor *logits, *targets;
    int32_t ignore_index;
    float dscale;
    const float *dscale_mul; /* optional, backend memory */
} wf_cross_entropy;

/* Device-resident state of one optimizer step (fp16 loss scaling needs no host sync).
 * Lives in backend memory; ops read and write it in place. */
typedef struct wf_step_state {
    float loss_scale;        /* S: the loss was multiplied by S before backward (1 = none) */
    float grad_sumsq;        /* sum of g^2 after unscale, accumulated by grad_unscale_norm */
    int32_t found_inf;       /* nonzero if any gradient was inf/NaN this step */
    int32_t growth_tracker;  /* clean steps since the scale last changed */
    int32_t opt_step;        /* optimizer steps taken (skipped steps not counted) */
    int32_t skipped_steps;   /* total steps skipped for non-finite gradients */
    float last_grad_norm;    /* sqrt(grad_sumsq) of the last finished step */
    int32_t last_skipped;    /* whether the last finished step was skipped */
} wf_step_state;

typedef struct wf_adamw_hparams {
    float lr, beta1, beta2, eps, weight_decay;
    float max_grad_norm; /* clip by global norm when > 0 (MATH.md "Optimiser and scaling") */
} wf_adamw_hparams;

typedef struct wf_scaler_hparams {
    bool dynamic;          /* fp16 dynamic loss scaling; false leaves loss_scale alone */
    float growth, backoff; /* 2.0, 0.5 as GradScaler */
    int32_t interval;      /* clean steps before growing: 2000 */
} wf_scaler_hparams;

struct wf_ops {
    /* out (N, C) "=" table[ids] (or "+=" when accumulate); ids (N) int32 in [0, V); table (V, C). */
    wf_status (*embedding_fwd)(wf_backend *, wf_tensor *out, const wf_tensor *ids,
                               const wf_tensor *table, bool accumulate);
    /* dtable (V, C) "+=": row ids[i] += dout[i]. Deterministic (fixed summation order). */
    wf_status (*embedding_bwd)(wf_backend *, wf_tensor *dtable, const wf_tensor *ids,
                               const wf_tensor *dout);

    wf_status (*matmul)(wf_backend *, const wf_matmul *m);

    /* y (N, M) "=" x (N, K) W^T + bias; w (M, K); bias (M)?. */
    wf_status (*linear_fwd)(wf_backend *, wf_tensor *y, const wf_tensor *x, const wf_tensor *w,
                            const wf_tensor *bias);
    /* dx (N, K) "=" dy W (optional); dw (M, K) "+=" dy^T x (optional); dbias (M) "+=" colsum(dy)
     * (optional). */
    wf_status (*linear_bwd)(wf_backend *, wf_tensor *dx, wf_tensor *dw, wf_tensor *dbias,
                            const wf_tensor *dy, const wf_tensor *x, const wf_tensor *w);
    /* Linear then GPT-2's tanh GELU (MATH.md "Activations"), one op so that a backend can fuse
     * the GELU into the GEMM: pre (N, M) "=" x (N, K) W^T + bias, kept for the backward;
     * y (N, M) "=" gelu_tanh(pre); w (M, K), bias (M)?. y, pre and x are distinct. The tanh form
     * only: the erf GELU (BERT, ViT) has no fused op, so it cannot silently become another. */
    wf_status (*linear_gelu_tanh_fwd)(wf_backend *, wf_tensor *y, wf_tensor *pre,
                                      const wf_tensor *x, const wf_tensor *w,
                                      const wf_tensor *bias);
    /* linear_bwd of a linear whose input is x = gelu_tanh(pre), its dx fed through the GELU's
     * backward: dpre (N, K) "=" (dy W) * gelu_tanh'(pre); dw (M, K) "+=" dy^T x and dbias (M)
     * "+=" colsum(dy) (optional). x, pre (N, K); dy (N, M); w (M, K). dpre is distinct from x
     * and pre. */
    wf_status (*linear_dgelu_tanh_bwd)(wf_backend *, wf_tensor *dpre, wf_tensor *dw,
                                       wf_tensor *dbias, const wf_tensor *dy, const wf_tensor *x,
                                       const wf_tensor *w, const wf_tensor *pre);

    wf_status (*lora_fwd)(wf_backend *, const wf_lora *l);
    wf_status (*lora_bwd)(wf_backend *, const wf_lora *l);

    /* y (N, C) "=" LayerNorm(x) * g + bias; mean, rstd (N) fp32 "=" (optional, saved for bwd). */
    wf_status (*layernorm_fwd)(wf_backend *, wf_tensor *y, wf_tensor *mean, wf_tensor *rstd,
                               const wf_tensor *x, const wf_tensor *g, const wf_tensor *bias,
                               float eps);
    /* dx (N, C) "+=" (it feeds the residual stream); dg, dbias (C) "+=" (optional). */
    wf_status (*layernorm_bwd)(wf_backend *, wf_tensor *dx, wf_tensor *dg, wf_tensor *dbias,
                               const wf_tensor *dy, const wf_tensor *x, const wf_tensor *mean,
                               const wf_tensor *rstd, const wf_tensor *g);
    /* y (N, C) "=" x * rstd * g; rstd (N) fp32 "=" (optional). */
    wf_status (*rmsnorm_fwd)(wf_backend *, wf_tensor *y, wf_tensor *rstd, const wf_tensor *x,
                             const wf_tensor *g, float eps);
    /* dx (N, C) "+="; dg (C) "+=" (optional). */
    wf_status (*rmsnorm_bwd)(wf_backend *, wf_tensor *dx, wf_tensor *dg, const wf_tensor *dy,
                             const wf_tensor *x, const wf_tensor *rstd, const wf_tensor *g);

    /* The residual add fused with the norm that reads its sum (a block's s = x + branch, then
     * norm(s)): s (N, C) "=" x + r, rounded to the dtype, then y, mean, rstd "=" exactly as
     * layernorm_fwd / rmsnorm_fwd of that rounded s. One pass reads x and r once instead of add
     * writing s and the norm reading it back; a backend whose row sums run in the same order as
     * its unfused norm gives the same bits as add then norm. x, r, s, y (N, C) or (..., C),
     * one dtype; g, bias (C); mean, rstd (N) fp32 (optional). s may alias x or r (each element
     * is read before it is written); y may alias none of x, r, s. No backward entry: the
     * backward is the norm's backward of the saved s, whose dx "+=" already carries the
     * residual gradient, and add's backward is the identity. */
    wf_status (*add_layernorm_fwd)(wf_backend *, wf_tensor *s, wf_tensor *y, wf_tensor *mean,
                                   wf_tensor *rstd, const wf_tensor *x, const wf_tensor *r,
                                   const wf_tensor *g, const wf_tensor *bias, float eps);
    wf_status (*add_rmsnorm_fwd)(wf_backend *, wf_tensor *s, wf_tensor *y, wf_tensor *rstd,
                                 const wf_tensor *x, const wf_tensor *r, const wf_tensor *g,
                                 float eps);

    /* out "=" a + b, all one shape; out may alias a or b. Its backward is the identity. */
    wf_status (*add)(wf_backend *, wf_tensor *out, const wf_tensor *a, const wf_tensor *b);

    /* y "=" GELU(x), erf form or GPT-2's tanh form. */
    wf_status (*gelu_fwd)(wf_backend *, wf_tensor *y, const wf_tensor *x, bool tanh_approx);
    /* dx "=" dy * GELU'(x). */
    wf_status (*gelu_bwd)(wf_backend *, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *x,
                          bool tanh_approx);
    /* y "=" tanh(x) (the BERT pooler's activation). */
    wf_status (*tanh_fwd)(wf_backend *, wf_tensor *y, const wf_tensor *x);
    /* dx "=" dy * (1 - y^2), from the forward output y. */
    wf_status (*tanh_bwd)(wf_backend *, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *y);
    /* y (N, F) "=" silu(gate) * up. */
    wf_status (*swiglu_fwd)(wf_backend *, wf_tensor *y, const wf_tensor *gate, const wf_tensor *up);
    /* dgate, dup (N, F) "=". */
    wf_status (*swiglu_bwd)(wf_backend *, wf_tensor *dgate, wf_tensor *dup, const wf_tensor *dy,
                            const wf_tensor *gate, const wf_tensor *up);

    /* HF half-split RoPE: y (N, H, D) "=" rotate(x) by angle pos[n] * inv_freq[j], j < D/2;
     * pos (N) int32; inv_freq (D/2) fp32 (llama3 scaling is applied when building it, host side).
     * y may alias x. Backward rotates dy by the negative angle (dx may alias dy). */
    wf_status (*rope_fwd)(wf_backend *, wf_tensor *y, const wf_tensor *x, const wf_tensor *pos,
                          const wf_tensor *inv_freq);
    wf_status (*rope_bwd)(wf_backend *, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *pos,
                          const wf_tensor *inv_freq);

    wf_status (*attention_fwd)(wf_backend *, const wf_attention *a);
    wf_status (*attention_bwd)(wf_backend *, const wf_attention *a);

    wf_status (*cross_entropy)(wf_backend *, const wf_cross_entropy *ce);
    /* losses (n) fp32 "=" (y - t)^2; dy (n) "=" dscale * mul * 2 (y - t) (optional; may alias y
     * or t), mul as cross-entropy's (*dscale_mul in backend memory, or 1); y, t (n) float. */
    wf_status (*mse)(wf_backend *, wf_tensor *losses, wf_tensor *dy, const wf_tensor *y,
                     const wf_tensor *t, float dscale, const float *dscale_mul);

    /* y "=" dropout(x); backward is the same op applied to dy with the same wf_dropout. */
    wf_status (*dropout)(wf_backend *, wf_tensor *y, const wf_tensor *x, const wf_dropout *d);

    /* IA3 scaling: y (N, C) "=" x * l, l (C) broadcast over rows. */
    wf_status (*ia3_fwd)(wf_backend *, wf_tensor *y, const wf_tensor *x, const wf_tensor *l);
    /* dx (N, C) "=" dy * l (optional); dl (C) "+=" colsum(dy * x). */
    wf_status (*ia3_bwd)(wf_backend *, wf_tensor *dx, wf_tensor *dl, const wf_tensor *dy,
                         const wf_tensor *x, const wf_tensor *l);

    /* out "=" in converted (fp32/bf16/fp16 to any of them, round to nearest even); same numel. */
    wf_status (*cast)(wf_backend *, wf_tensor *out, const wf_tensor *in);

    /* One pass over a flat fp32 gradient buffer g (n): g *= 1/st->loss_scale (when != 1);
     * st->grad_sumsq += sum g^2 (after unscaling); st->found_inf |= any g not finite.
     * The sum has a fixed order (independent of threads) so the norm is deterministic. */
    wf_status (*grad_unscale_norm)(wf_backend *, wf_tensor *g, wf_step_state *st);

    /* AdamW (as PyTorch) over flat fp32 buffers p, g, m, v (n); elements [0, n_decay) get weight
     * decay, the rest do not. Does nothing when st->found_inf. Step t = st->opt_step + 1.
     * Gradients are first multiplied by the clip coefficient from st->grad_sumsq when
     * max_grad_norm > 0. p_lowp (n) bf16/fp16 (optional) "=" the updated p in that dtype. */
    wf_status (*adamw)(wf_backend *, wf_tensor *p, const wf_tensor *g, wf_tensor *m, wf_tensor *v,
                       wf_tensor *p_lowp, int64_t n_decay, const wf_adamw_hparams *hp,
                       const wf_step_state *st);

    /* Ends a step: records last_grad_norm / last_skipped; if found_inf, counts a skipped step
     * and (dynamic) scale *= backoff, tracker = 0; else opt_step++ and (dynamic) after `interval`
     * clean steps scale *= growth. Then zeroes grad_sumsq and found_inf for the next step. */
    wf_status (*step_end)(wf_backend *, wf_step_state *st, const wf_scaler_hparams *sh);
};

/* Checked entry points: validate against the contract above, then dispatch. */
wf_status wf_op_embedding_fwd(wf_backend *, wf_tensor *out, const wf_tensor *ids,
                              const wf_tensor *table, bool accumulate);
wf_status wf_op_embedding_bwd(wf_backend *, wf_tensor *dtable, const wf_tensor *ids,
                              const wf_tensor *dout);
wf_status wf_op_matmul(wf_backend *, const wf_matmul *m);
wf_status wf_op_linear_fwd(wf_backend *, wf_tensor *y, const wf_tensor *x, const wf_tensor *w,
                           const wf_tensor *bias);
wf_status wf_op_linear_bwd(wf_backend *, wf_tensor *dx, wf_tensor *dw, wf_tensor *dbias,
                           const wf_tensor *dy, const wf_tensor *x, const wf_tensor *w);
wf_status wf_op_linear_gelu_tanh_fwd(wf_backend *, wf_tensor *y, wf_tensor *pre, const wf_tensor *x,
                                    const wf_tensor *w, const wf_tensor *bias);
wf_status wf_op_linear_dgelu_tanh_bwd(wf_backend *, wf_tensor *dpre, wf_tensor *dw,
                                      wf_tensor *dbias, const wf_tensor *dy, const wf_tensor *x,
                                      const wf_tensor *w, const wf_tensor *pre);
wf_status wf_op_lora_fwd(wf_backend *, const wf_lora *l);
wf_status wf_op_lora_bwd(wf_backend *, const wf_lora *l);
wf_status wf_op_layernorm_fwd(wf_backend *, wf_tensor *y, wf_tensor *mean, wf_tensor *rstd,
                              const wf_tensor *x, const wf_tensor *g, const wf_tensor *bias,
                              float eps);
wf_status wf_op_layernorm_bwd(wf_backend *, wf_tensor *dx, wf_tensor *dg, wf_tensor *dbias,
                              const wf_tensor *dy, const wf_tensor *x, const wf_tensor *mean,
                              const wf_tensor *rstd, const wf_tensor *g);
wf_status wf_op_rmsnorm_fwd(wf_backend *, wf_tensor *y, wf_tensor *rstd, const wf_tensor *x,
                            const wf_tensor *g, float eps);
wf_status wf_op_rmsnorm_bwd(wf_backend *, wf_tensor *dx, wf_tensor *dg, const wf_tensor *dy,
                            const wf_tensor *x, const wf_tensor *rstd, const wf_tensor *g);
wf_status wf_op_add_layernorm_fwd(wf_backend *, wf_tensor *s, wf_tensor *y, wf_tensor *mean,
                                  wf_tensor *rstd, const wf_tensor *x, const wf_tensor *r,
                                  const wf_tensor *g, const wf_tensor *bias, float eps);
wf_status wf_op_add_rmsnorm_fwd(wf_backend *, wf_tensor *s, wf_tensor *y, wf_tensor *rstd,
                                const wf_tensor *x, const wf_tensor *r, const wf_tensor *g,
                                float eps);
wf_status wf_op_add(wf_backend *, wf_tensor *out, const wf_tensor *a, const wf_tensor *b);
wf_status wf_op_gelu_fwd(wf_backend *, wf_tensor *y, const wf_tensor *x, bool tanh_approx);
wf_status wf_op_gelu_bwd(wf_backend *, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *x,
                         bool tanh_approx);
wf_status wf_op_tanh_fwd(wf_backend *, wf_tensor *y, const wf_tensor *x);
wf_status wf_op_tanh_bwd(wf_backend *, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *y);
wf_status wf_op_swiglu_fwd(wf_backend *, wf_tensor *y, const wf_tensor *gate, const wf_tensor *up);
wf_status wf_op_swiglu_bwd(wf_backend *, wf_tensor *dgate, wf_tensor *dup, const wf_tensor *dy,
                           const wf_tensor *gate, const wf_tensor *up);
wf_status wf_op_rope_fwd(wf_backend *, wf_tensor *y, const wf_tensor *x, const wf_tensor *pos,
                         const wf_tensor *inv_freq);
wf_status wf_op_rope_bwd(wf_backend *, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *pos,
                         const wf_tensor *inv_freq);
wf_status wf_op_attention_fwd(wf_backend *, const wf_attention *a);
wf_status wf_op_attention_bwd(wf_backend *, const wf_attention *a);
wf_status wf_op_cross_entropy(wf_backend *, const wf_cross_entropy *ce);
wf_status wf_op_mse(wf_backend *, wf_tensor *losses, wf_tensor *dy, const wf_tensor *y,
                    const wf_tensor *t, float dscale, const float *dscale_mul);
wf_status wf_op_dropout(wf_backend *, wf_tensor *y, const wf_tensor *x, const wf_dropout *d);
wf_status wf_op_ia3_fwd(wf_backend *, wf_tensor *y, const wf_tensor *x, const wf_tensor *l);
wf_status wf_op_ia3_bwd(wf_backend *, wf_tensor *dx, wf_tensor *dl, const wf_tensor *dy,
                        const wf_tensor *x, const wf_tensor *l);
wf_status wf_op_cast(wf_backend *, wf_tensor *out, const wf_tensor *in);
wf_status wf_op_grad_unscale_norm(wf_backend *, wf_tensor *g, wf_step_state *st);
wf_status wf_op_adamw(wf_backend *, wf_tensor *p, const wf_tensor *g, wf_tensor *m, wf_tensor *v,
                      wf_tensor *p_lowp, int64_t n_decay, const wf_adamw_hparams *hp,
                      const wf_step_state *st);
wf_status wf_op_step_end(wf_backend *, wf_step_state *st, const wf_scaler_hparams *sh);

/* Builds the inverse frequencies for RoPE (D/2 values), with "llama3" scaling when factor > 0:
 * HF's _compute_llama3_parameters (factor, low/high_freq_factor, original max positions). */
typedef struct wf_rope_scaling {
    float factor; /* 0: none */
    float low_freq_factor, high_freq_factor;
    int original_max_positions;
} wf_rope_scaling;
void wf_rope_inv_freq(float *out, int head_dim, double theta, const wf_rope_scaling *sc);

#endif
