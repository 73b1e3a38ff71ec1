/* The op-case table: every op's cases, used by the op tests and by bench/bench_ops.c.
 * Each op file (op_<name>.c) says what its p[] and f[] mean. T = run by tests, B = benchmark
 * sizes, NF = no finite differences (too big). */
#include "ops_list.h"

#define T TC_TEST
#define B TC_BENCH
#define NF TC_NO_FD
#define G32 TC_F32_GRAD /* parameter gradients in fp32 (mixed precision), whatever the dtype */

const tc_case tc_cases[] = {
    /* ---- gelu: p = {rows, cols, tanh} ---- */
    {&tc_op_gelu, "erf 3x5", {3, 5, 0}, {0}, T},
    {&tc_op_gelu, "tanh 3x5", {3, 5, 1}, {0}, T},
    {&tc_op_gelu, "erf 128x1000", {128, 1000, 0}, {0}, T | NF},
    {&tc_op_gelu, "tanh 4096x3072", {4096, 3072, 1}, {0}, B},

    /* ---- tanh: p = {rows, cols} ---- */
    {&tc_op_tanh, "4x6", {4, 6}, {0}, T},
    {&tc_op_tanh, "128x1000", {128, 1000}, {0}, T | NF},
    {&tc_op_tanh, "64x768 (pooler)", {64, 768}, {0}, B},

    /* ==== embedding, matmul, linear, lora (op_linear.c) ==== */
    /* ---- embedding: p = {N, V, C, accumulate, all ids V-1, ids split (B, N/B)} ---- */
    {&tc_op_embedding, "12 ids into 5x7", {12, 5, 7, 0, 0, 0}, {0}, T},
    {&tc_op_embedding, "accumulate", {12, 5, 7, 1, 0, 0}, {0}, T},
    {&tc_op_embedding, "one id repeated", {9, 6, 4, 0, 1, 0}, {0}, T},
    {&tc_op_embedding, "ids (2, 6)", {12, 5, 7, 0, 0, 2}, {0}, T},
    {&tc_op_embedding, "no ids", {0, 5, 7, 0, 0, 0}, {0}, T},
    {&tc_op_embedding, "600 ids into 3x128 (omp)", {600, 3, 128, 0, 0, 0}, {0}, T},
    {&tc_op_embedding, "512 ids into 1000x256", {512, 1000, 256, 1, 0, 0}, {0}, T | NF},
    {&tc_op_embedding, "f32 dtable, 12 ids into 5x7", {12, 5, 7, 0, 0, 0}, {0}, T | G32},
    {&tc_op_embedding, "f32 dtable, 600 ids into 3x128", {600, 3, 128, 0, 0, 0}, {0}, T | G32},
    {&tc_op_embedding, "GPT-2 wte 2048 ids", {2048, 50257, 768, 0, 0, 0}, {0}, B},
    /* ---- matmul: p = {Bc, M, N, K, trans_a, trans_b, Ba, Bb} (B 0: 2-D); f = {alpha, beta} -- */
    {&tc_op_matmul, "NN 5x7x6", {0, 5, 7, 6, 0, 0, 0, 0}, {1, 0}, T},
    {&tc_op_matmul, "NT 5x7x6", {0, 5, 7, 6, 0, 1, 0, 0}, {1, 0}, T},
    {&tc_op_matmul, "TN 5x7x6", {0, 5, 7, 6, 1, 0, 0, 0}, {1, 0}, T},
    {&tc_op_matmul, "TT 5x7x6", {0, 5, 7, 6, 1, 1, 0, 0}, {1, 0}, T},
    {&tc_op_matmul, "batched NN 3x4x5x6", {3, 4, 5, 6, 0, 0, 3, 3}, {1, 0}, T},
    {&tc_op_matmul, "batched TT 3x4x5x6", {3, 4, 5, 6, 1, 1, 3, 3}, {1, 0}, T},
    {&tc_op_matmul, "batched a, 2-D b (NT)", {3, 4, 5, 6, 0, 1, 3, 0}, {1, 0}, T},
    {&tc_op_matmul, "batched a^T, 2-D b", {3, 4, 5, 6, 1, 0, 3, 0}, {1, 0}, T},
    {&tc_op_matmul, "2-D a, batched b", {3, 4, 5, 6, 0, 0, 0, 3}, {1, 0}, T},
    {&tc_op_matmul, "b batch 1 shared", {3, 4, 5, 6, 0, 1, 3, 1}, {1, 0}, T},
    {&tc_op_matmul, "alpha 0.5 beta 0.75", {0, 5, 7, 6, 0, 1, 0, 0}, {0.5, 0.75}, T},
    {&tc_op_matmul, "batched a, 2-D b, beta 0.5", {3, 4, 5, 6, 0, 0, 3, 0}, {1, 0.5}, T},
    {&tc_op_matmul, "batched alpha 2 beta 1", {2, 4, 5, 6, 1, 1, 2, 2}, {2, 1}, T},
    {&tc_op_matmul, "K 0 beta 0.5", {0, 3, 4, 0, 0, 0, 0, 0}, {1, 0.5}, T},
    {&tc_op_matmul, "K 0 beta 0", {2, 3, 4, 0, 1, 0, 2, 0}, {1, 0}, T},
    {&tc_op_matmul, "M 0", {0, 0, 4, 3, 0, 0, 0, 0}, {1, 0}, T},
    {&tc_op_matmul, "scores 8x128x128x64", {8, 128, 128, 64, 0, 1, 8, 8}, {0.125, 0}, T | NF},
    {&tc_op_matmul, "GPT-2 QK^T 96x1024x1024x64", {96, 1024, 1024, 64, 0, 1, 96, 96}, {0.125, 0},
     B},
    {&tc_op_matmul, "GPT-2 PV 96x1024x64x1024", {96, 1024, 64, 1024, 0, 0, 96, 96}, {1, 0}, B},
    /* ---- linear: p = {N, K, M, bias, frozen base, no dx, x split (B, N/B, K)} ---- */
    {&tc_op_linear, "6x10->8 bias", {6, 10, 8, 1, 0, 0, 0}, {0}, T},
    {&tc_op_linear, "6x10->8 no bias", {6, 10, 8, 0, 0, 0, 0}, {0}, T},
    {&tc_op_linear, "frozen base: dx only", {6, 10, 8, 1, 1, 0, 0}, {0}, T},
    {&tc_op_linear, "x (2, 3, 10)", {6, 10, 8, 1, 0, 0, 2}, {0}, T},
    {&tc_op_linear, "no rows", {0, 10, 8, 1, 0, 0, 0}, {0}, T},
    {&tc_op_linear, "no dx, 520x2->128 (omp)", {520, 2, 128, 1, 0, 1, 0}, {0}, T},
    {&tc_op_linear, "256x384->512 bias", {256, 384, 512, 1, 0, 0, 0}, {0}, T | NF},
    {&tc_op_linear, "f32 dw dbias 6x10->8", {6, 10, 8, 1, 0, 0, 0}, {0}, T | G32},
    {&tc_op_linear, "f32 dw dbias 256x384->512", {256, 384, 512, 1, 0, 0, 0}, {0}, T | NF | G32},
    {&tc_op_linear, "GPT-2 qkv 2048x768->2304", {2048, 768, 2304, 1, 0, 0, 0}, {0}, B},
    {&tc_op_linear, "Llama-1B up 2048x2048->8192", {2048, 2048, 8192, 0, 0, 0, 0}, {0}, B},
    /* ---- lora: p = {N, K, M, r, bias, frozen base, no dx}; f = {scale, dropout p} ---- */
    {&tc_op_lora, "trainable base, bias", {6, 12, 10, 4, 1, 0, 0}, {2, 0}, T},
    {&tc_op_lora, "frozen base", {6, 12, 10, 4, 0, 1, 0}, {2, 0}, T},
    {&tc_op_lora, "frozen, bias, dropout 0.1", {6, 12, 10, 4, 1, 1, 0}, {2, 0.1}, T},
    {&tc_op_lora, "trainable, dropout 0.1", {6, 12, 10, 4, 1, 0, 0}, {0.5, 0.1}, T},
    {&tc_op_lora, "r 1", {5, 8, 6, 1, 0, 1, 0}, {4, 0}, T},
    {&tc_op_lora, "no dx, dropout (omp)", {260, 64, 4, 2, 0, 1, 1}, {2, 0.1}, T},
    {&tc_op_lora, "256x384->256 r 8 p 0.1", {256, 384, 256, 8, 1, 0, 0}, {2, 0.1}, T | NF},
    /* r > 16 and K % 4 != 0: the CUDA variant "fused" takes its other paths (two groups of 16
     * outputs in the down kernel, one Philox draw per element, drop(x) materialized in bwd) */
    {&tc_op_lora, "r 20, K 30, bias, dropout 0.1", {7, 30, 9, 20, 1, 0, 0}, {1.5, 0.1}, T},
    {&tc_op_lora, "r 18, frozen, dropout 0.2", {5, 16, 6, 18, 0, 1, 0}, {2, 0.2}, T},
    {&tc_op_lora, "f32 grads, trainable base, bias", {6, 12, 10, 4, 1, 0, 0}, {2, 0}, T | G32},
    {&tc_op_lora, "f32 dA dB, frozen, dropout 0.1", {6, 12, 10, 4, 1, 1, 0}, {2, 0.1}, T | G32},
    {&tc_op_lora, "f32 grads 256x384->256 r 8", {256, 384, 256, 8, 1, 0, 0}, {2, 0.1}, T | NF | G32},
    {&tc_op_lora, "r 16 on 2048x2048->2048", {2048, 2048, 2048, 16, 0, 1, 0}, {2, 0.05}, B},
    {&tc_op_lora, "r 16 on 2048x8192->2048", {2048, 8192, 2048, 16, 0, 1, 0}, {2, 0.05}, B},
    {&tc_op_lora, "r 16 p 0 on 2048x2048->2048", {2048, 2048, 2048, 16, 0, 1, 0}, {2, 0}, B},

    /* ==== linear + tanh GELU (op_linear_gelu.c): CUDA fuses (cuBLASLt) in bf16/fp16 when the
     * GELU width (M forward, K backward) is a multiple of 8, composes otherwise ==== */
    /* ---- linear_gelu: p = {N, K, M, bias, tail (GELU input near -3)} ---- */
    {&tc_op_linear_gelu, "6x10->8 bias", {6, 10, 8, 1, 0}, {0}, T},
    {&tc_op_linear_gelu, "6x10->8 no bias", {6, 10, 8, 0, 0}, {0}, T},
    {&tc_op_linear_gelu, "M 10: unfused", {5, 12, 10, 1, 0}, {0}, T},
    {&tc_op_linear_gelu, "no rows", {0, 10, 8, 1, 0}, {0}, T},
    {&tc_op_linear_gelu, "tail 6x16->24", {6, 16, 24, 1, 1}, {0}, T},
    {&tc_op_linear_gelu, "tail M 20: unfused", {6, 16, 20, 1, 1}, {0}, T},
    {&tc_op_linear_gelu, "256x384->512 bias", {256, 384, 512, 1, 0}, {0}, T},
    {&tc_op_linear_gelu, "GPT-2 MLP up 2048x768->3072", {2048, 768, 3072, 1, 0}, {0}, B},
    /* ---- linear_dgelu: p = {N, K, M, bias, frozen base, tail} ---- */
    {&tc_op_linear_dgelu, "6x8->10 bias", {6, 8, 10, 1, 0, 0}, {0}, T},
    {&tc_op_linear_dgelu, "no bias", {6, 8, 10, 0, 0, 0}, {0}, T},
    {&tc_op_linear_dgelu, "frozen base: dpre only", {6, 8, 10, 1, 1, 0}, {0}, T},
    {&tc_op_linear_dgelu, "K 12: unfused", {5, 12, 7, 1, 0, 0}, {0}, T},
    {&tc_op_linear_dgelu, "no rows", {0, 8, 10, 1, 0, 0}, {0}, T},
    {&tc_op_linear_dgelu, "tail 6x16->8", {6, 16, 8, 1, 0, 1}, {0}, T},
    {&tc_op_linear_dgelu, "tail K 20: unfused", {6, 20, 8, 1, 0, 1}, {0}, T},
    {&tc_op_linear_dgelu, "f32 dw dbias 6x8->10", {6, 8, 10, 1, 0, 0}, {0}, T | G32},
    {&tc_op_linear_dgelu, "256x512->384", {256, 512, 384, 1, 0, 0}, {0}, T | NF},
    {&tc_op_linear_dgelu, "f32 dw dbias 256x512->384", {256, 512, 384, 1, 0, 0}, {0}, T | NF | G32},
    {&tc_op_linear_dgelu, "GPT-2 MLP down 2048x3072->768", {2048, 3072, 768, 1, 0, 0}, {0}, B},

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
    {&tc_op_layernorm, "f32 dg dbias 8x32", {8, 32, 1, 1, 1, 0, 0}, {1e-5}, T | G32},
    {&tc_op_layernorm, "f32 dg dbias 512x768", {512, 768, 1, 1, 1, 0, 0}, {1e-5}, T | NF | G32},
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
    {&tc_op_rmsnorm, "f32 dg 8x32", {8, 32, 1, 1, 0, 0}, {1e-6}, T | G32},
    {&tc_op_rmsnorm, "f32 dg 512x2048", {512, 2048, 1, 1, 0, 0}, {1e-5}, T | NF | G32},
    {&tc_op_rmsnorm, "gpt2 8192x768", {8192, 768, 1, 1, 0, 0}, {1e-6}, B},
    {&tc_op_rmsnorm, "llama-1b 8192x2048", {8192, 2048, 1, 1, 0, 0}, {1e-5}, B},

    /* ==== add_layernorm, add_rmsnorm: the residual add fused with the norm (op_add_norm.c) ====
     * Row lengths around the CUDA row block (256 threads): 1, 2, 7, 67 (a partial block), 256,
     * 300 and 1000 (a partial second pass); alias 1: s = x, 2: s = r. */
    /* add_layernorm: p = {rows, cols, bias, stats, alias, batch}, f = {eps} */
    {&tc_op_add_layernorm, "8x32", {8, 32, 1, 1, 0, 0}, {1e-5}, T},
    {&tc_op_add_layernorm, "no bias, no stats 5x16", {5, 16, 0, 0, 0, 0}, {1e-5}, T},
    {&tc_op_add_layernorm, "s = x 4x20", {4, 20, 1, 1, 1, 0}, {1e-5}, T},
    {&tc_op_add_layernorm, "s = r 4x20", {4, 20, 1, 1, 2, 0}, {1e-5}, T},
    {&tc_op_add_layernorm, "3-D 2x3x32", {6, 32, 1, 1, 0, 2}, {1e-5}, T},
    {&tc_op_add_layernorm, "C 1, 3x1", {3, 1, 1, 1, 0, 0}, {1e-5}, T},
    {&tc_op_add_layernorm, "C 2, 3x2", {3, 2, 1, 1, 0, 0}, {1e-5}, T},
    {&tc_op_add_layernorm, "C 7, 40x7", {40, 7, 1, 1, 0, 0}, {1e-5}, T},
    {&tc_op_add_layernorm, "bert eps 3x67", {3, 67, 1, 1, 0, 0}, {1e-12}, T},
    {&tc_op_add_layernorm, "2x256", {2, 256, 1, 1, 0, 0}, {1e-5}, T},
    {&tc_op_add_layernorm, "3x300", {3, 300, 0, 1, 0, 0}, {1e-5}, T},
    {&tc_op_add_layernorm, "s = x 64x1000", {64, 1000, 1, 1, 1, 0}, {1e-5}, T | NF},
    {&tc_op_add_layernorm, "512x768", {512, 768, 1, 1, 0, 0}, {1e-5}, T | NF},
    {&tc_op_add_layernorm, "f32 dg dbias 8x32", {8, 32, 1, 1, 0, 0}, {1e-5}, T | G32},
    {&tc_op_add_layernorm, "gpt2 8192x768", {8192, 768, 1, 1, 0, 0}, {1e-5}, B},
    {&tc_op_add_layernorm, "8192x2048", {8192, 2048, 1, 1, 0, 0}, {1e-5}, B},
    /* add_rmsnorm: p = {rows, cols, stats, alias, batch}, f = {eps} */
    {&tc_op_add_rmsnorm, "8x32", {8, 32, 1, 0, 0}, {1e-6}, T},
    {&tc_op_add_rmsnorm, "no stats 5x16", {5, 16, 0, 0, 0}, {1e-6}, T},
    {&tc_op_add_rmsnorm, "s = x 4x20", {4, 20, 1, 1, 0}, {1e-6}, T},
    {&tc_op_add_rmsnorm, "s = r 4x20", {4, 20, 1, 2, 0}, {1e-6}, T},
    {&tc_op_add_rmsnorm, "3-D 2x3x32", {6, 32, 1, 0, 2}, {1e-5}, T},
    {&tc_op_add_rmsnorm, "C 1, 3x1", {3, 1, 1, 0, 0}, {1e-6}, T},
    {&tc_op_add_rmsnorm, "C 7, 40x7", {40, 7, 1, 0, 0}, {1e-6}, T},
    {&tc_op_add_rmsnorm, "3x67", {3, 67, 1, 0, 0}, {1e-6}, T},
    {&tc_op_add_rmsnorm, "2x256", {2, 256, 1, 0, 0}, {1e-6}, T},
    {&tc_op_add_rmsnorm, "3x300", {3, 300, 1, 0, 0}, {1e-6}, T},
    {&tc_op_add_rmsnorm, "s = r 64x1000", {64, 1000, 1, 2, 0}, {1e-5}, T | NF},
    {&tc_op_add_rmsnorm, "512x2048", {512, 2048, 1, 0, 0}, {1e-5}, T | NF},
    {&tc_op_add_rmsnorm, "f32 dg 8x32", {8, 32, 1, 0, 0}, {1e-6}, T | G32},
    {&tc_op_add_rmsnorm, "gpt2 8192x768", {8192, 768, 1, 0, 0}, {1e-6}, B},
    {&tc_op_add_rmsnorm, "llama-1b 8192x2048", {8192, 2048, 1, 0, 0}, {1e-5}, B},


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
    {&tc_op_ia3, "f32 dl 5x12", {5, 12, 1}, {0}, T | G32},
    {&tc_op_ia3, "f32 dl 512x768", {512, 768, 1}, {0}, T | NF | G32},
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
    /* the tiled kernels (CUDA, bf16/fp16, D in {32, 64, 80, 96, 128}): every head dim, partial
     * tiles (T, S not multiples of 64), T < S and T > S, GQA 2/1, 4/1, 8/2, docs, long T */
    {&tc_op_attention, "tiled d32 t70 gqa", {1, 70, 70, 2, 1, 32, 1, 0}, {0}, T | NF},
    {&tc_op_attention, "tiled d80 t100 docs keys", {3, 100, 100, 4, 2, 80, 1, 3}, {0}, T | NF},
    {&tc_op_attention, "tiled d96 bidir t65 s130", {2, 65, 130, 2, 2, 96, 0, 1}, {0}, T | NF},
    {&tc_op_attention, "tiled d128 causal t130 s50", {1, 130, 50, 2, 2, 128, 1, 0}, {0}, T | NF},
    {&tc_op_attention, "tiled d64 gqa 8/2 docs", {2, 200, 200, 8, 2, 64, 1, 2}, {0}, T | NF},
    {&tc_op_attention, "tiled d128 mqa t257 keys", {3, 257, 257, 4, 1, 128, 1, 1}, {0}, T | NF},
    {&tc_op_attention, "tiled d64 bidir t1 s200", {2, 1, 200, 4, 2, 64, 0, 1}, {0}, T | NF},
    {&tc_op_attention, "tiled d64 causal t1024", {1, 1024, 1024, 2, 1, 64, 1, 0}, {0}, T | NF},
    /* T < S by more than a tile: causal shift 250, so key tiles start mid-way into the queries */
    {&tc_op_attention, "tiled d64 causal t150 s400 gqa", {1, 150, 400, 4, 2, 64, 1, 0}, {0},
     T | NF},
    {&tc_op_attention, "tiled d128 docs t1024", {1, 1024, 1024, 2, 2, 128, 1, 2}, {0}, T | NF},
    {&tc_op_attention, "gpt2 1024 causal", {1, 1024, 1024, 12, 12, 64, 1, 0}, {0}, B},
    {&tc_op_attention, "llama1b 2048 gqa", {1, 2048, 2048, 32, 8, 64, 1, 0}, {0}, B},
    /* bench/bench_kernels_vs_torch.py times these against torch SDPA (same shapes, causal) */
    {&tc_op_attention, "sdpa d64 b4 h16 s2048", {4, 2048, 2048, 16, 16, 64, 1, 0}, {0}, B},
    {&tc_op_attention, "sdpa d128 b4 h16 s2048", {4, 2048, 2048, 16, 16, 128, 1, 0}, {0}, B},
    {&tc_op_attention, "sdpa d64 b1 h16 s8192", {1, 8192, 8192, 16, 16, 64, 1, 0}, {0}, B},
    {&tc_op_attention, "sdpa d128 b1 h16 s8192", {1, 8192, 8192, 16, 16, 128, 1, 0}, {0}, B},


    /* ==== cross_entropy, mse (op_loss.c) ==== */
    /* cross_entropy: p = {N, V, mode (0 fwd, 1 fused, 2 in place), ignore_index, rejections},
     * f = {dscale, logit mean, logit std} */
    {&tc_op_cross_entropy, "fwd 6x50", {6, 50, 0, -100}, {0.25, 0, 2}, T},
    {&tc_op_cross_entropy, "fused 6x50", {6, 50, 1, -100}, {0.37, 0, 2}, T},
    {&tc_op_cross_entropy, "in place 5x40", {5, 40, 2, -100}, {0.5, 0, 3}, T},
    {&tc_op_cross_entropy, "ignore=0 rejections 4x33", {4, 33, 0, 0, 1}, {1, 0, 2}, T},
    {&tc_op_cross_entropy, "large logits 4x37", {4, 37, 1, -100}, {0.3, 100, 3}, T},
    {&tc_op_cross_entropy, "one class 3x1", {3, 1, 1, -100}, {0.5, 0, 2}, T},
    {&tc_op_cross_entropy, "fused, device loss scale 6x50", {6, 50, 1, -100, 0, 1}, {0.37 / 1024, 0, 2}, T},
    {&tc_op_cross_entropy, "fused 64x10000", {64, 10000, 1, -100}, {1.0 / 3000, 0, 3}, T | NF},
    {&tc_op_cross_entropy, "in place 16x9000", {16, 9000, 2, -100}, {1.0 / 700, 1, 4}, T | NF},
    {&tc_op_cross_entropy, "GPT-2 2048x50257", {2048, 50257, 1, -100}, {1.0 / 2048, 0, 3}, B},
    {&tc_op_cross_entropy, "Llama-3 1024x128256", {1024, 128256, 1, -100}, {1.0 / 1024, 0, 3}, B},
    /* mse: p = {n, fused, rejections}, f = {dscale} */
    {&tc_op_mse, "fwd rejections 37", {37, 0, 1}, {1}, T},
    {&tc_op_mse, "fused 50", {50, 1}, {0.02}, T},
    {&tc_op_mse, "fused, device loss scale 50", {50, 1, 0, 1}, {0.02 / 1024}, T},
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
