/* `weft inspect MODEL` (HF directory or .gguf): what a model is (family, head, sizes), its parameters per group, the
 * checkpoint's dtypes, and the memory its weights take in each precision. Reads no weights:
 * config.json plus the checkpoint's headers, every weight checked for presence and shape. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "weft/model.h"
#include "weft/gguf.h"
#include "weft/safetensors.h"

static void count(const char *label, int64_t n, int64_t total) {
    printf("  %-12s %14lld  %6.2f%%\n", label, (long long)n, total ? 100.0 * (double)n / (double)total : 0.0);
}

static void print_arch(const wf_arch *a) {
    static const char *acts[] = {"gelu (erf)", "gelu (tanh)", "silu"};
    printf("family       %s (model_type %s, %s)\n", wf_family_name(a->family), a->model_type,
           a->architecture[0] ? a->architecture : "no architectures key");
    printf("head         %s", wf_head_name(a->head));
    if (a->head == WF_HEAD_SEQ_CLS || a->head == WF_HEAD_IMAGE_CLS) printf(", %lld labels", (long long)a->n_labels);
    if (a->head == WF_HEAD_LM) printf(a->tied_embeddings ? ", tied to the token embedding" : ", untied");
    printf("\nsizes        layers %lld, hidden %lld, heads %lld (kv %lld, head dim %lld), mlp %lld%s\n",
           (long long)a->n_layers, (long long)a->hidden, (long long)a->n_heads,
           (long long)a->n_kv_heads, (long long)a->head_dim, (long long)a->ffn,
           a->gated_mlp ? " gated" : "");
    if (a->vocab) printf("vocabulary   %lld tokens\n", (long long)a->vocab);
    if (a->family == WF_FAMILY_VIT)
        printf("images       %lld x %lld x %lld, patch %lld\n", (long long)a->channels,
               (long long)a->image_size, (long long)a->image_size, (long long)a->patch_size);
    printf("blocks       %s, %s eps %g, %s, %s attention\n", a->pre_norm ? "pre-norm" : "post-norm",
           a->norm == WF_NORM_RMSNORM ? "rmsnorm" : "layernorm", (double)a->norm_eps, acts[a->act],
           a->causal ? "causal" : "bidirectional");
    if (a->pos == WF_POS_ROPE) {
        printf("positions    rope theta %g", a->rope_theta);
        if (a->rope_scaling.factor > 0)
            printf(", llama3 scaling factor %g (low %g, high %g, original %d)",
                   (double)a->rope_scaling.factor, (double)a->rope_scaling.low_freq_factor,
                   (double)a->rope_scaling.high_freq_factor, a->rope_scaling.original_max_positions);
        printf(", context %lld\n", (long long)a->max_positions);
    } else {
        printf("positions    learned, %lld\n", (long long)a->max_positions);
    }
}

static int usage(void) {
    fprintf(stderr, "usage: weft inspect MODEL\n"
                    "  MODEL: a Hugging Face model directory (config.json + safetensors, single or\n"
                    "         sharded) or a .gguf file\n");
    return 2;
}

int wf_cmd_inspect(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help")) return argc == 2 ? (usage(), 0) : usage();
    const char *path = argv[1];
    wf_model m;
    wf_checkpoint_info info;
    if (wf_model_inspect(path, &m, &info) != WF_OK) {
        fprintf(stderr, "weft inspect: %s\n", wf_last_error());
        return 1;
    }
    printf("model        %s\n", path);
    print_arch(&m.arch);
    wf_param_counts c = wf_model_param_counts(&m);
    printf("parameters   %lld (%.1fM)\n", (long long)c.total, (double)c.total / 1e6);
    count("embeddings", c.embed, c.total);
    count("blocks", c.blocks, c.total);
    count("norms", c.norms, c.total);
    count("head", c.head, c.total);
    printf("checkpoint   %d file%s, %lld tensors (%lld read), %.1f MiB:", info.files,
           info.files == 1 ? "" : "s", (long long)info.tensors, (long long)info.used,
           (double)info.bytes / (1 << 20));
    for (int d = 0; d < 64; d++)
        if (info.dtype_numel[d])
            printf(" %s %lld", info.gguf ? wf_ggml_type_name(d) : wf_st_dtype_name((wf_st_dtype)d),
                   (long long)info.dtype_numel[d]);
    printf("\nweights      fp32 %.1f MiB, bf16/fp16 %.1f MiB\n",
           (double)wf_model_weight_bytes(&m, WF_F32) / (1 << 20),
           (double)wf_model_weight_bytes(&m, WF_BF16) / (1 << 20));
    wf_model_free(&m);
    return 0;
}
