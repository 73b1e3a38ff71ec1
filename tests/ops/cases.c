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


    /* ==== grad_unscale_norm, adamw, step_end (op_optim.c) ==== */

};

const int tc_ncases = (int)(sizeof tc_cases / sizeof tc_cases[0]);
