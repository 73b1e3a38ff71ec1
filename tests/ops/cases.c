/* The op-case table: every op's cases, used by the op tests and by bench/bench_ops.c.
 * Each op file (op_<name>.c) says what its p[] and f[] mean. T = run by tests, B = benchmark
 * sizes, NF = no finite differences (too big). */
#include "ops_list.h"

#define T TC_TEST
#define B TC_BENCH
#define NF TC_NO_FD

const tc_case tc_cases[] = {
    /* ---- gelu: p = {rows, cols, tanh} ---- */
    {&tc_op_gelu, "erf 3x5", {3, 5, 0}, {0}, T},
    {&tc_op_gelu, "tanh 3x5", {3, 5, 1}, {0}, T},
    {&tc_op_gelu, "erf 64x1000", {64, 1000, 0}, {0}, T | NF},
    {&tc_op_gelu, "tanh 4096x3072", {4096, 3072, 1}, {0}, B},

    /* ==== embedding, matmul, linear, lora (op_linear.c) ==== */


    /* ==== layernorm, rmsnorm (op_norm.c) ==== */


    /* ==== rope (op_rope.c) ==== */


    /* ==== add, swiglu, ia3, dropout, cast (op_elementwise.c) ==== */


    /* ==== attention (op_attention.c) ==== */


    /* ==== cross_entropy, mse (op_loss.c) ==== */
    /* cross_entropy: p = {N, V, mode (0 fwd, 1 fused, 2 in place), ignore_index, rejections},
     * f = {dscale, logit mean, logit std} */
    {&tc_op_cross_entropy, "fwd 6x50", {6, 50, 0, -100}, {0.25, 0, 2}, T},
    {&tc_op_cross_entropy, "fused 6x50", {6, 50, 1, -100}, {0.37, 0, 2}, T},
    {&tc_op_cross_entropy, "in place 5x40", {5, 40, 2, -100}, {0.5, 0, 3}, T},
    {&tc_op_cross_entropy, "ignore=0 rejections 4x33", {4, 33, 0, 0, 1}, {1, 0, 2}, T},
    {&tc_op_cross_entropy, "large logits 4x37", {4, 37, 1, -100}, {0.3, 100, 3}, T},
    {&tc_op_cross_entropy, "one class 3x1", {3, 1, 1, -100}, {0.5, 0, 2}, T},
    {&tc_op_cross_entropy, "fused 64x10000", {64, 10000, 1, -100}, {1.0 / 3000, 0, 3}, T | NF},
    {&tc_op_cross_entropy, "in place 16x9000", {16, 9000, 2, -100}, {1.0 / 700, 1, 4}, T | NF},
    {&tc_op_cross_entropy, "GPT-2 2048x50257", {2048, 50257, 1, -100}, {1.0 / 2048, 0, 3}, B},
    {&tc_op_cross_entropy, "Llama-3 1024x128256", {1024, 128256, 1, -100}, {1.0 / 1024, 0, 3}, B},
    /* mse: p = {n, fused, rejections}, f = {dscale} */
    {&tc_op_mse, "fwd rejections 37", {37, 0, 1}, {1}, T},
    {&tc_op_mse, "fused 50", {50, 1}, {0.02}, T},
    {&tc_op_mse, "fused 200000", {200000, 1}, {5e-6}, T | NF},
    {&tc_op_mse, "fused 4M", {4 << 20, 1}, {1.0 / (4 << 20)}, B},


    /* ==== grad_unscale_norm, adamw, step_end (op_optim.c) ==== */
    /* grad_unscale_norm: p = {n, inject (1 +inf, 2 NaN, 3 -inf), found_inf, rejections},
     * f = {loss_scale, grad_sumsq before} */
    {&tc_op_grad_unscale_norm, "scale 1, 300", {300, 0, 0, 1}, {1, 0}, T},
    {&tc_op_grad_unscale_norm, "scale 65536, 300", {300}, {65536, 2.5}, T},
    {&tc_op_grad_unscale_norm, "scale 1000, 300", {300}, {1000, 0}, T},
    {&tc_op_grad_unscale_norm, "inf, 300", {300, 1}, {65536, 0}, T},
    {&tc_op_grad_unscale_norm, "NaN, 300", {300, 2}, {65536, 0}, T},
    {&tc_op_grad_unscale_norm, "-inf scale 1, 300", {300, 3}, {1, 0}, T},
    {&tc_op_grad_unscale_norm, "inf flag kept, 300", {300, 0, 1}, {8, 1}, T},
    {&tc_op_grad_unscale_norm, "scale 32768, 1000003", {1000003}, {32768, 0}, T | NF},
    {&tc_op_grad_unscale_norm, "GPT-2 124M", {124439808}, {65536, 0}, B},
    /* adamw: p = {n, n_decay, opt_step, p_lowp (1 bf16, 2 f16), found_inf, betas, rejections},
     * f = {lr, weight_decay, max_grad_norm, grad_sumsq} */
    {&tc_op_adamw, "t=1 decay half", {300, 150, 0, 0, 0, 0, 1}, {1e-3, 0.01, 0, 0}, T},
    {&tc_op_adamw, "t=1000 clipped", {300, 300, 999, 0, 0, 1}, {3e-4, 0.1, 1, 400}, T},
    {&tc_op_adamw, "clip inactive", {300, 100, 4}, {1e-3, 0.01, 100, 400}, T},
    {&tc_op_adamw, "bf16 p_lowp", {300, 150, 9, 1}, {1e-3, 0.01, 1, 2}, T},
    {&tc_op_adamw, "f16 p_lowp t=1000", {300, 0, 999, 2, 0, 1}, {2e-5, 0.1, 0, 0}, T},
    {&tc_op_adamw, "found_inf skips", {300, 150, 5, 1, 1}, {1e-3, 0.01, 1, 400}, T},
    {&tc_op_adamw, "bf16 1000003", {1000003, 500001, 20, 1, 0, 0}, {1e-3, 0.01, 1, 9}, T | NF},
    {&tc_op_adamw, "GPT-2 124M bf16", {124439808, 85000000, 100, 1}, {6e-4, 0.1, 1, 4}, B},
    {&tc_op_adamw, "LoRA 16M", {16 << 20, 16 << 20, 100}, {2e-4, 0, 1, 4}, B},
    /* step_end: p = {dynamic, interval, found_inf, tracker, opt_step, skipped, rejections},
     * f = {loss_scale, grad_sumsq (< 0: inf), growth, backoff} */
    {&tc_op_step_end, "clean step", {1, 2000, 0, 5, 10, 1, 1}, {65536, 2.25, 2, 0.5}, T},
    {&tc_op_step_end, "growth at interval", {1, 2000, 0, 1999, 10, 1}, {65536, 2.25, 2, 0.5}, T},
    {&tc_op_step_end, "backoff on inf", {1, 2000, 1, 1999, 10, 1}, {65536, -1, 2, 0.5}, T},
    {&tc_op_step_end, "growth not to inf", {1, 3, 0, 2, 10, 0}, {3e38, 1, 2, 0.5}, T},
    {&tc_op_step_end, "static, inf", {0, 2000, 1, 5, 10, 1}, {1, 7, 2, 0.5}, T},
    {&tc_op_step_end, "static, clean", {0, 2, 0, 1, 10, 1}, {1, 7, 2, 0.5}, T},

};

const int tc_ncases = (int)(sizeof tc_cases / sizeof tc_cases[0]);
