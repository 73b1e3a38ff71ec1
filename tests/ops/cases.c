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
    /* layernorm: p = {rows, cols, bias, stats, train_g, batch, zero_row}, f = {eps} */
    {&tc_op_layernorm, "8x32", {8, 32, 1, 1, 1, 0, 0}, {1e-5}, T},
    {&tc_op_layernorm, "no bias 6x24", {6, 24, 0, 1, 1, 0, 0}, {1e-5}, T},
    {&tc_op_layernorm, "no saved stats 5x16", {5, 16, 1, 0, 1, 0, 0}, {1e-5}, T},
    {&tc_op_layernorm, "frozen g, bias 4x20", {4, 20, 1, 1, 0, 0, 0}, {1e-5}, T},
    {&tc_op_layernorm, "3-D 2x3x32 zero row", {6, 32, 1, 1, 1, 2, 1}, {1e-5}, T},
    {&tc_op_layernorm, "bert eps, 2 col chunks 3x67", {3, 67, 1, 1, 1, 0, 0}, {1e-12}, T},
    {&tc_op_layernorm, "2 row blocks 40x6", {40, 6, 1, 1, 1, 0, 0}, {1e-5}, T},
    {&tc_op_layernorm, "512x768", {512, 768, 1, 1, 1, 0, 0}, {1e-5}, T | NF},
    {&tc_op_layernorm, "gpt2 8192x768", {8192, 768, 1, 1, 1, 0, 0}, {1e-5}, B},
    {&tc_op_layernorm, "8192x2048", {8192, 2048, 1, 1, 1, 0, 0}, {1e-5}, B},
    /* rmsnorm: p = {rows, cols, stats, train_g, batch, zero_row}, f = {eps} */
    {&tc_op_rmsnorm, "8x32", {8, 32, 1, 1, 0, 0}, {1e-6}, T},
    {&tc_op_rmsnorm, "no saved rstd 5x16", {5, 16, 0, 1, 0, 0}, {1e-6}, T},
    {&tc_op_rmsnorm, "frozen g 4x20", {4, 20, 1, 0, 0, 0}, {1e-6}, T},
    {&tc_op_rmsnorm, "3-D 2x3x32 zero row", {6, 32, 1, 1, 2, 1}, {1e-5}, T},
    {&tc_op_rmsnorm, "2 col chunks 3x67", {3, 67, 1, 1, 0, 0}, {1e-6}, T},
    {&tc_op_rmsnorm, "2 row blocks 40x6", {40, 6, 1, 1, 0, 0}, {1e-6}, T},
    {&tc_op_rmsnorm, "512x2048", {512, 2048, 1, 1, 0, 0}, {1e-5}, T | NF},
    {&tc_op_rmsnorm, "gpt2 8192x768", {8192, 768, 1, 1, 0, 0}, {1e-6}, B},
    {&tc_op_rmsnorm, "llama-1b 8192x2048", {8192, 2048, 1, 1, 0, 0}, {1e-5}, B},


    /* ==== rope (op_rope.c) ==== */
    /* p = {N, H, D, scaling (0 theta 1e4, 1 llama3.2), in_place, max_pos} */
    {&tc_op_rope, "4x2x16", {4, 2, 16, 0, 0, 64}, {0}, T},
    {&tc_op_rope, "llama3 3x2x64 pos<131072", {3, 2, 64, 1, 0, 131072}, {0}, T},
    {&tc_op_rope, "in place 4x3x8", {4, 3, 8, 0, 1, 512}, {0}, T},
    {&tc_op_rope, "D=2 5x1x2", {5, 1, 2, 0, 0, 100}, {0}, T},
    {&tc_op_rope, "D=160 2x1x160", {2, 1, 160, 1, 0, 4096}, {0}, T},
    {&tc_op_rope, "256x8x64", {256, 8, 64, 1, 0, 8192}, {0}, T | NF},
    {&tc_op_rope, "in place 256x8x128", {256, 8, 128, 0, 1, 8192}, {0}, T | NF},
    {&tc_op_rope, "llama-1b 8192x32x64", {8192, 32, 64, 1, 0, 8192}, {0}, B},


    /* ==== add, swiglu, ia3, dropout, cast (op_elementwise.c) ==== */
    /* add: p = {rows, cols, alias (1 out = a, 2 out = b)} */
    {&tc_op_add, "3x7", {3, 7, 0}, {0}, T},
    {&tc_op_add, "out = a 4x5", {4, 5, 1}, {0}, T},
    {&tc_op_add, "out = b 4x5", {4, 5, 2}, {0}, T},
    {&tc_op_add, "256x1024", {256, 1024, 0}, {0}, T | NF},
    {&tc_op_add, "gpt2 8192x768", {8192, 768, 0}, {0}, B},
    {&tc_op_add, "llama-1b 8192x2048", {8192, 2048, 1}, {0}, B},
    /* swiglu: p = {rows, cols} */
    {&tc_op_swiglu, "4x40", {4, 40}, {0}, T},
    {&tc_op_swiglu, "64x4096", {64, 4096}, {0}, T | NF},
    {&tc_op_swiglu, "llama-1b 8192x8192", {8192, 8192}, {0}, B},
    /* ia3: p = {rows, cols, dx} */
    {&tc_op_ia3, "5x12", {5, 12, 1}, {0}, T},
    {&tc_op_ia3, "no dx 4x9", {4, 9, 0}, {0}, T},
    {&tc_op_ia3, "2 col chunks 3x70", {3, 70, 1}, {0}, T},
    {&tc_op_ia3, "2 row blocks 40x6", {40, 6, 1}, {0}, T},
    {&tc_op_ia3, "512x768", {512, 768, 1}, {0}, T | NF},
    {&tc_op_ia3, "llama-1b 8192x2048", {8192, 2048, 1}, {0}, B},
    /* dropout: p = {rows, cols, seed, step, stream}, f = {p} */
    {&tc_op_dropout, "p=0.1 8x16", {8, 16, 1234, 7, 3}, {0.1}, T},
    {&tc_op_dropout, "p=0.5 7x9 64-bit seed", {7, 9, 0x123456789abcLL, 1, 0}, {0.5}, T},
    {&tc_op_dropout, "p=0 identity 4x6", {4, 6, 5, 0, 0}, {0.0}, T},
    {&tc_op_dropout, "p=0.1 251x1001", {251, 1001, 42, 100000, 17}, {0.1}, T | NF},
    {&tc_op_dropout, "llama-1b 8192x2048", {8192, 2048, 42, 1, 1}, {0.1}, B},
    /* cast: p = {n, in kind, out kind} */
    {&tc_op_cast, "f32->bf16", {800, TC_F32, TC_BF16}, {0}, T},
    {&tc_op_cast, "f32->f16", {800, TC_F32, TC_F16}, {0}, T},
    {&tc_op_cast, "f32->f32", {800, TC_F32, TC_F32}, {0}, T},
    {&tc_op_cast, "bf16->f32", {800, TC_BF16, TC_F32}, {0}, T},
    {&tc_op_cast, "f16->f32", {800, TC_F16, TC_F32}, {0}, T},
    {&tc_op_cast, "bf16->f16", {800, TC_BF16, TC_F16}, {0}, T},
    {&tc_op_cast, "f16->bf16", {800, TC_F16, TC_BF16}, {0}, T},
    {&tc_op_cast, "f32->bf16 300001", {300001, TC_F32, TC_BF16}, {0}, T | NF},
    {&tc_op_cast, "f32->bf16 8192x2048", {8192 * 2048, TC_F32, TC_BF16}, {0}, B},


    /* ==== attention (op_attention.c) ==== */


    /* ==== cross_entropy, mse (op_loss.c) ==== */


    /* ==== grad_unscale_norm, adamw, step_end (op_optim.c) ==== */

};

const int tc_ncases = (int)(sizeof tc_cases / sizeof tc_cases[0]);
