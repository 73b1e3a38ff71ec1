/* The model-FLOP count behind the training benchmarks' MFU (bench_train, bench_e2e_vs_hf.py):
 * FLOPs per trained token of one optimizer step, from the architecture alone, so weft and
 * transformers + peft are held to the same count. Not here: timing, memory, the device peak.
 * Convention: PaLM (Chowdhery et al. 2022, appendix B) — 2 FLOPs per multiply-add of a weight
 * matmul forward, twice that backward — with causal attention counted over the keys a query
 * sees (half of T on average), as FlashAttention's benchmarks count it. */
#ifndef WEFT_BENCH_TRAIN_FLOPS_H
#define WEFT_BENCH_TRAIN_FLOPS_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/arch.h"

typedef struct wf_bench_flops {
    int64_t n_matmul;  /* weights that multiply activations: every block linear (no biases) and
                          the LM head (once, tied or not); not the embedding lookups or norms */
    int64_t n_adapter; /* LoRA A and B elements (0 for full fine-tuning) */
    double weights;    /* per token: 6 n_matmul (full) or 4 n_matmul + 6 n_adapter (LoRA) */
    double attention;  /* per token: QK^T and PV, forward + backward, over T keys (T/2 causal) */
    double per_token;  /* weights + attention */
} wf_bench_flops;

/* FLOPs per token of a training step at sequence length T. full: forward (2N) + backward dX and
 * dW (4N) of every matmul weight. LoRA (n_adapter > 0, frozen base): the base's forward and dX
 * (4N, no dW), and each adapter's forward (x A^T, h B^T) and backward (dB, dh, dA, dx): 6 per
 * element. Attention: forward 2 matmuls of 2 H D FLOPs per key per query, backward 4; per layer
 * and token 12 H D T_keys, T_keys = T/2 when causal. Only an LM head is counted (else 0). */
wf_bench_flops wf_bench_flops_per_token(const wf_arch *a, bool full, int64_t n_adapter, int64_t T);

#endif
