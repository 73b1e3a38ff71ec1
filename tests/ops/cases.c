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
    {&tc_op_gelu, "erf 128x1000", {128, 1000, 0}, {0}, T | NF},
    {&tc_op_gelu, "tanh 4096x3072", {4096, 3072, 1}, {0}, B},

    /* ==== embedding, matmul, linear, lora (op_linear.c) ==== */


    /* ==== layernorm, rmsnorm (op_norm.c) ==== */


    /* ==== rope (op_rope.c) ==== */


    /* ==== add, swiglu, ia3, dropout, cast (op_elementwise.c) ==== */


    /* ==== attention (op_attention.c) ==== */
    /* p = {B, T, S, H, Hk, D, causal, masks: 1 key_mask, 2 doc_ids}; f[0] = scale (0: 1/sqrt(D)) */
    {&tc_op_attention, "causal mha", {2, 5, 5, 2, 2, 8, 1, 0}, {0}, T},
    {&tc_op_attention, "bidirectional", {2, 5, 5, 2, 2, 8, 0, 0}, {0}, T},
    {&tc_op_attention, "causal gqa 4/2", {1, 6, 6, 4, 2, 8, 1, 0}, {0}, T},
    {&tc_op_attention, "bidir mqa 4/1 scale", {1, 5, 5, 4, 1, 6, 0, 0}, {0.7}, T},
    {&tc_op_attention, "decode T1 S7", {2, 1, 7, 2, 1, 8, 1, 0}, {0}, T},
    {&tc_op_attention, "causal T3 S7 gqa", {1, 3, 7, 4, 2, 8, 1, 0}, {0}, T},
    {&tc_op_attention, "causal T6 S3", {1, 6, 3, 2, 2, 8, 1, 0}, {0}, T},
    {&tc_op_attention, "bidir keymask", {3, 4, 5, 2, 2, 8, 0, 1}, {0}, T},
    {&tc_op_attention, "causal keymask", {3, 5, 5, 2, 1, 8, 1, 1}, {0}, T},
    {&tc_op_attention, "causal docs", {2, 8, 8, 2, 2, 4, 1, 2}, {0}, T},
    {&tc_op_attention, "bidir docs keymask", {2, 7, 7, 2, 1, 4, 0, 3}, {0}, T},
    {&tc_op_attention, "causal docs keymask", {3, 6, 6, 2, 1, 4, 1, 3}, {0}, T},
    {&tc_op_attention, "causal gqa d64 t128", {2, 128, 128, 4, 2, 64, 1, 3}, {0}, T | NF},
    {&tc_op_attention, "bidir mha d64 t96", {2, 96, 96, 4, 4, 64, 0, 1}, {0}, T | NF},
    {&tc_op_attention, "decode d128 s300", {3, 2, 300, 8, 2, 128, 1, 1}, {0}, T | NF},
    {&tc_op_attention, "gpt2 1024 causal", {1, 1024, 1024, 12, 12, 64, 1, 0}, {0}, B},
    {&tc_op_attention, "llama1b 2048 gqa", {1, 2048, 2048, 32, 8, 64, 1, 0}, {0}, B},


    /* ==== cross_entropy, mse (op_loss.c) ==== */


    /* ==== grad_unscale_norm, adamw, step_end (op_optim.c) ==== */

};

const int tc_ncases = (int)(sizeof tc_cases / sizeof tc_cases[0]);
