/* A model: its architecture, its weights on a backend, and the map from checkpoint tensor
 * names to those weights. The graph (forward, and backward in training) is written once over
 * wf_weights/wf_layer and the op table; families differ only in their name maps (weights.c)
 * and the wf_arch switches. */
#ifndef WEFT_MODEL_H
#define WEFT_MODEL_H

#include "weft/arch.h"
#include "weft/backend.h"

/* One transformer block. Tensors a family lacks have data == NULL. Shapes in HF Linear layout
 * (out, in); GPT-2's Conv1D weights are transposed into it on load. */
typedef struct wf_layer {
    wf_tensor ln1_g, ln1_b;       /* (C) pre-norm: before attention; BERT: after attention */
    wf_tensor wq, bq;             /* (H*D, C), (H*D) */
    wf_tensor wk, bk;             /* (Hk*D, C), (Hk*D) */
    wf_tensor wv, bv;             /* (Hk*D, C), (Hk*D) */
    wf_tensor wo, bo;             /* (C, H*D), (C) */
    wf_tensor ln2_g, ln2_b;       /* (C) pre-norm: before the MLP; BERT: after the MLP */
    wf_tensor w_gate;             /* (F, C) gated MLP (Llama) */
    wf_tensor w_up, b_up;         /* (F, C), (F) GPT-2 c_fc, BERT intermediate.dense */
    wf_tensor w_down, b_down;     /* (C, F), (C) */
} wf_layer;

typedef struct wf_weights {
    wf_tensor tok_emb;            /* (V, C) */
    wf_tensor pos_emb;            /* (P, C) learned positions (GPT-2, BERT, ViT) */
    wf_tensor type_emb;           /* (Tv, C) BERT token types */
    wf_tensor emb_ln_g, emb_ln_b; /* (C) BERT embedding LayerNorm */
    wf_tensor patch_w, patch_b;   /* (C, ch*P*P), (C) ViT patch projection (a conv as a matmul) */
    wf_tensor cls_token;          /* (C) ViT */
    wf_layer *layers;             /* (L) */
    wf_tensor final_g, final_b;   /* (C) final norm of pre-norm models (ViT: vit.layernorm) */
    wf_tensor lm_head;            /* (V, C); same data as tok_emb when tied */
    wf_tensor pooler_w, pooler_b; /* (C, C), (C) BERT pooler */
    wf_tensor cls_w, cls_b;       /* (n_labels, C), (n_labels) classifier / score head */
    wf_tensor prompt;             /* (Nv, C) soft prompt (prompt tuning), not from a checkpoint;
                                     ndim 0: none */
} wf_weights;

/* How a checkpoint tensor becomes (part of) a weight. */
typedef enum wf_slot_xform {
    WF_XFORM_NONE,
    WF_XFORM_TRANSPOSE,   /* GPT-2 Conv1D [in, out] -> (out, in) */
    WF_XFORM_QKV_Q,       /* GPT-2 c_attn: rows (after transpose) [0, C) */
    WF_XFORM_QKV_K,       /*                                      [C, 2C) */
    WF_XFORM_QKV_V,       /*                                      [2C, 3C) */
    WF_XFORM_FLATTEN,     /* ViT patch conv (C, ch, P, P) and cls/pos tokens: drop leading 1s */
} wf_slot_xform;

/* One weight and the checkpoint tensor it is read from. */
typedef struct wf_slot {
    char name[128];       /* checkpoint name without the head-model prefix */
    wf_tensor *dst;       /* shape set from the arch; data set when allocated */
    wf_slot_xform xform;
    bool optional;        /* absent in some checkpoints (e.g. the BERT pooler) */
    bool top_level;       /* a head tensor (lm_head, score, classifier): never prefixed */
    bool fresh;           /* a new task head: initialised (N(0, 0.02), biases 0) when the
                             checkpoint lacks it */
} wf_slot;

/* The linear layers of a block that can carry an adapter (PEFT target names in brackets). */
typedef enum wf_site {
    WF_SITE_Q,    /* q_proj / query / c_attn */
    WF_SITE_K,    /* k_proj / key */
    WF_SITE_V,    /* v_proj / value */
    WF_SITE_O,    /* o_proj / attention.output.dense / attn.c_proj */
    WF_SITE_GATE, /* gate_proj */
    WF_SITE_UP,   /* up_proj / intermediate.dense / mlp.c_fc */
    WF_SITE_DOWN, /* down_proj / output.dense / mlp.c_proj */
    WF_N_SITES
} wf_site;

/* A LoRA adapter on one linear layer: y = x W^T + b + scale * drop(x) A^T B^T (MATH.md). */
typedef struct wf_lora_adapter {
    wf_tensor a, b; /* (r, K), (M, r); data NULL: this site has no adapter */
    float scale;    /* alpha / r, or alpha / sqrt(r) with rsLoRA */
    float dropout;
    wf_tensor mag;  /* (M) DoRA magnitude (Liu et al. 2024, peft use_dora); data NULL: plain LoRA.
                     * y = (mag / ||W + scale B A||_row) * (x W^T + scale x A^T B^T) + bias, the
                     * norm treated as a constant in the backward, as peft detaches it */
    uint32_t stream; /* dropout RNG stream: sites of one fused module (GPT-2 c_attn) share it */
} wf_lora_adapter;

/* An IA3 vector on one linear layer (Liu et al. 2022; PEFT's IA3 Linear): feed-forward sites
 * scale the layer's input, y = (x * l) W^T + b; the others its output, y = (x W^T + b) * l. */
typedef struct wf_ia3_vec {
    wf_tensor l; /* (K) feed-forward, (M) otherwise; data NULL: this site has none */
    bool ff;
} wf_ia3_vec;

/* A Houlsby adapter (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP",
 * Fig. 2): a bottleneck with its own skip, h + up(gelu(down(h))), on the output of a block's
 * attention output projection and of its MLP (down projection), before the block's residual
 * add (and, post-norm, before its LayerNorm). weft uses GELU (erf) as the nonlinearity. */
typedef struct wf_houlsby {
    wf_tensor down_w, down_b; /* (m, C), (m) */
    wf_tensor up_w, up_b;     /* (C, m), (C); zero at init, so the model starts unchanged */
} wf_houlsby;

typedef struct wf_model {
    wf_arch arch;
    wf_backend *be;
    wf_weights w;
    wf_slot *slots;       /* every weight of the model, in load order */
    int n_slots;
    char prefix[32];      /* base-model prefix of head checkpoints: "model.", "transformer.", ... */
    wf_dtype dtype;       /* dtype of weights and activations on the backend */
    wf_tensor rope_inv_freq; /* (D/2) f32, RoPE models only (llama3 scaling applied) */
    wf_arena arena;       /* holds every weight */
    wf_lora_adapter *lora; /* (L * WF_N_SITES), indexed layer * WF_N_SITES + site; NULL: none */
    wf_ia3_vec *ia3;       /* (L * WF_N_SITES) like lora; NULL: none */
    wf_houlsby *adapters;  /* (2 L): [2l] after layer l's attention, [2l+1] after its MLP; NULL: none */
    /* Host staging of prompt-tuned batches (batch.c: ids, mask, types, targets laid out as
     * (B, Nv + T)): created with the soft prompt, grown on the first (largest) upload and reused,
     * so the step loop does not allocate. NULL without a soft prompt. */
    struct wf_prompt_stage *prompt_stage;
} wf_model;

typedef struct wf_prompt_stage {
    int32_t *buf; /* (4, cap) */
    int64_t cap;  /* elements per array */
} wf_prompt_stage;

/* Positions per row the graph runs for T token positions: T plus the soft prompt's Nv virtual
 * tokens (PEFT's prompt tuning prepends them to every row). Activations and batches are sized
 * with it; the batch's own T is already this. */
static inline int64_t wf_model_seq_len(const wf_model *m, int64_t T) {
    return T + (m->w.prompt.ndim ? m->w.prompt.shape[0] : 0);
}

/* The weight of site `s` of layer `l`, and its bias slot (NULL for the gate, which has none;
 * a slot's data is NULL when the model has no such bias). */
wf_tensor *wf_model_site_weight(wf_weights *w, int64_t l, wf_site s);
wf_tensor *wf_model_site_bias(wf_weights *w, int64_t l, wf_site s);
/* Whether site `s` of layer `l` is a plain linear layer: no LoRA (or DoRA) adapter and no IA3
 * vector on it (the graph may then fuse it with its neighbours, e.g. the MLP's GELU). */
bool wf_model_site_plain(const wf_model *m, int64_t l, wf_site s);

/* Loads a Hugging Face model directory (config.json + model.safetensors or a sharded index)
 * onto backend `be`, weights in dtype `dt`. Errors name the file and the tensor. */
wf_status wf_model_load_hf(const char *dir, wf_backend *be, wf_dtype dt, wf_model *out);

/* Loading with another task head than the checkpoint's config names (e.g. sequence
 * classification on a bare BERT or a causal LM): head WF_HEAD_NONE keeps the config's. A head
 * the checkpoint lacks starts fresh (as transformers initialises it). */
typedef struct wf_load_opts {
    wf_head_kind head; /* WF_HEAD_NONE: as config.json says */
    int64_t n_labels;  /* classes for a classification head; 0: from config.json */
    uint64_t seed;     /* fresh head init, and every weight with random_init */
    bool random_init;  /* HF directories: config.json alone, every weight drawn from `seed`
                          (init_random.c states the rule); no safetensors are read */
} wf_load_opts;
wf_status wf_model_load_ex(const char *path, wf_backend *be, wf_dtype dt, const wf_load_opts *o,
                           wf_model *out);

/* Loads a GGUF file (general.architecture llama or qwen2), dequantizing every tensor. */
wf_status wf_model_load_gguf(const char *path, wf_backend *be, wf_dtype dt, wf_model *out);
/* A directory is a Hugging Face model, a file ending in .gguf a GGUF model. */
wf_status wf_model_load(const char *path, wf_backend *be, wf_dtype dt, wf_model *out);

/* What a checkpoint holds, for `weft inspect` (no weights are read). */
typedef struct wf_checkpoint_info {
    int files;                /* safetensors files (shards) */
    int64_t tensors, used;    /* tensors in the checkpoint, and how many the model reads */
    int64_t bytes;            /* bytes of tensor data */
    bool gguf;                /* dtype_numel is indexed by wf_ggml_type, else by wf_st_dtype */
    int64_t dtype_numel[64];  /* elements per checkpoint dtype */
} wf_checkpoint_info;
/* Parses config.json, plans the model and checks every weight's presence, shape and dtype in
 * the checkpoint, without loading. m->be stays NULL; free with wf_model_free. */
wf_status wf_model_inspect_hf(const char *dir, wf_model *m, wf_checkpoint_info *info);
wf_status wf_model_inspect_gguf(const char *path, wf_model *m, wf_checkpoint_info *info);
/* Either, by the path as wf_model_load decides. */
wf_status wf_model_inspect(const char *path, wf_model *m, wf_checkpoint_info *info);

/* Fills m->slots (names, shapes, transforms) and m->w's tensor shapes from m->arch. */
wf_status wf_model_plan(wf_model *m);
/* Bytes of all weights in dtype `dt` (what the weights arena needs). */
size_t wf_model_weight_bytes(const wf_model *m, wf_dtype dt);
/* Parameter counts: embeddings (token/position/type/patch), transformer blocks, head. */
typedef struct wf_param_counts { int64_t embed, blocks, norms, head, total; } wf_param_counts;
wf_param_counts wf_model_param_counts(const wf_model *m);
void wf_model_free(wf_model *m);

#endif
