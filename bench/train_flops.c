/* Model FLOPs per trained token (train_flops.h states the convention and its sources). */
#include "train_flops.h"

wf_bench_flops wf_bench_flops_per_token(const wf_arch *a, bool full, int64_t n_adapter, int64_t T) {
    wf_bench_flops f = {0};
    int64_t C = a->hidden, HD = a->n_heads * a->head_dim, KD = a->n_kv_heads * a->head_dim;
    int64_t attn = HD * C + 2 * KD * C + C * HD;             /* q, k, v, o */
    int64_t mlp = (a->gated_mlp ? 3 : 2) * a->ffn * C;       /* gate, up, down / fc, proj */
    f.n_matmul = a->n_layers * (attn + mlp) + (a->head == WF_HEAD_LM ? a->vocab * C : 0);
    f.n_adapter = full ? 0 : n_adapter;
    f.weights = full ? 6.0 * (double)f.n_matmul : 4.0 * (double)f.n_matmul + 6.0 * (double)n_adapter;
    double keys = a->causal ? 0.5 * (double)T : (double)T;
    f.attention = 12.0 * (double)a->n_layers * (double)HD * keys;
    f.per_token = f.weights + f.attention;
    return f;
}
