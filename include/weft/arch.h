/* Architecture description of a transformer model: everything the model graph needs to know
 * about a family, read from a Hugging Face config.json (or GGUF metadata). A family is a weight
 * name map plus these fields; the graph never branches on the family name itself.
 * Field facts per family: ../shared/reference/FORMATS.md "HF config.json and tensor names". */
#ifndef WEFT_ARCH_H
#define WEFT_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/ops.h"
#include "weft/status.h"

typedef enum wf_family { WF_FAMILY_GPT2, WF_FAMILY_LLAMA, WF_FAMILY_BERT, WF_FAMILY_VIT } wf_family;
typedef enum wf_norm_kind { WF_NORM_LAYERNORM, WF_NORM_RMSNORM } wf_norm_kind;
typedef enum wf_act { WF_ACT_GELU_ERF, WF_ACT_GELU_TANH, WF_ACT_SILU } wf_act;
typedef enum wf_pos_kind { WF_POS_LEARNED, WF_POS_ROPE, WF_POS_NONE } wf_pos_kind;
typedef enum wf_head_kind {
    WF_HEAD_NONE,       /* bare encoder/decoder: hidden states */
    WF_HEAD_LM,         /* causal LM: logits over the vocabulary */
    WF_HEAD_SEQ_CLS,    /* sequence classification: BERT pooled CLS, decoders last non-pad token */
    WF_HEAD_REGRESSION, /* sequence regression (MSE), one output */
    WF_HEAD_IMAGE_CLS,  /* ViT: classifier on the CLS token */
} wf_head_kind;

typedef struct wf_arch {
    wf_family family;
    char model_type[32];    /* config "model_type": gpt2, llama, mistral, qwen2, bert, vit */
    char architecture[64];  /* config "architectures"[0], e.g. LlamaForCausalLM */

    int64_t vocab;          /* V (0 for vit) */
    int64_t hidden;         /* C */
    int64_t n_layers;       /* L */
    int64_t n_heads;        /* H */
    int64_t n_kv_heads;     /* Hk (GQA); == H for MHA */
    int64_t head_dim;       /* D; H * D may differ from C (Mistral sets head_dim) */
    int64_t ffn;            /* MLP inner width */
    int64_t max_positions;  /* learned position table size / context length */

    wf_norm_kind norm;
    bool pre_norm;          /* GPT-2, Llama, ViT: x + f(norm(x)); BERT: norm(x + f(x)) */
    float norm_eps;
    wf_act act;
    bool gated_mlp;         /* down(act(gate(x)) * up(x)) (Llama family) */
    bool causal;

    wf_pos_kind pos;
    double rope_theta;
    wf_rope_scaling rope_scaling; /* factor 0: none */

    bool qkv_bias, out_bias, mlp_bias; /* biases on q/k/v, attention output, MLP linears */
    bool tied_embeddings;   /* LM head shares the token embedding */

    int64_t type_vocab;     /* BERT token types (0: none) */
    bool has_pooler;        /* BERT pooler (dense + tanh on token 0) */

    int64_t image_size, patch_size, channels; /* ViT */

    wf_head_kind head;
    int64_t n_labels;       /* classification classes (1 for regression) */
    int32_t pad_token_id, bos_token_id, eos_token_id; /* -1 when absent */
} wf_arch;

/* Parses a Hugging Face config.json. Errors name the file and key, and say what was expected;
 * an unsupported model_type lists the supported ones. */
wf_status wf_arch_from_hf_config(const char *path, wf_arch *out);
/* The same from JSON text already in memory (`path` only names it in errors). */
wf_status wf_arch_from_hf_json(const char *json, const char *path, wf_arch *out);

const char *wf_family_name(wf_family f);
const char *wf_head_name(wf_head_kind h);

#endif
