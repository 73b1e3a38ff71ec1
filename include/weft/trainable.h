/* What trains and where its state lives: the fine-tuning method decides which weights train
 * (full, freezing, LoRA with task heads), and every trainable tensor is laid out in one flat fp32
 * buffer — decayed tensors first — with its gradient, AdamW m and v beside it (DESIGN.md
 * "Memory": one all-reduce, one norm, one AdamW launch). Frozen tensors get no gradient buffer,
 * no optimizer state and no weight-gradient matmul. */
#ifndef WEFT_TRAINABLE_H
#define WEFT_TRAINABLE_H

#include "weft/graph.h"

/* BitFit (Ben Zaken et al. 2022): only the bias vectors train (plus a classification head).
 * IA3 (Liu et al. 2022, as PEFT's IA3): learned vectors scale chosen linear layers' outputs
 * (or inputs, for feed-forward ones); only they train (plus a new task head).
 * Prompt tuning (Lester et al. 2021, as PEFT's PROMPT_TUNING): Nv trained embeddings prepended
 * to every row (model.h wf_model_seq_len); only they train (plus a new task head). A BERT head
 * then reads virtual token 0, as transformers does; a decoder's head reads the last real token
 * (transformers, given embeddings, reads the last position even when it is padding).
 * Adapter: Houlsby bottleneck adapters after every block's attention and MLP (model.h
 * wf_houlsby); only they train (plus a new task head). */
typedef enum wf_method {
    WF_METHOD_FULL, WF_METHOD_LORA, WF_METHOD_FREEZE, WF_METHOD_BITFIT, WF_METHOD_IA3,
    WF_METHOD_PROMPT, WF_METHOD_ADAPTER
} wf_method;

/* Composition (DESIGN.md "PEFT methods (they compose)"): `method` is the primary method and
 * `extras` adds others as bits (1u << WF_METHOD_*): LoRA/DoRA, IA3, BitFit, prompt tuning, Houlsby
 * adapters and freezing combine in one trainable set; a task head trains whenever any PEFT
 * method is on. Freezing with LoRA: the top `train_top_layers` blocks' base weights train fully
 * and LoRA sits only on the blocks below. Refused: LoRA and IA3 together (peft does not put both
 * on one module), anything with full (everything trains already). */
#define WF_METHOD_BIT(m) (1u << (unsigned)(m))

#define WF_MAX_TARGETS 16
#define WF_MAX_NAMES 8

typedef struct wf_peft_spec {
    wf_method method;
    uint32_t extras;          /* WF_METHOD_BIT()s of further methods; 0: `method` alone */
    /* LoRA (PEFT semantics): targets are module names matched as PEFT does (the full module
     * path equals the target or ends with "." + target); "all-linear" = every block linear. */
    int lora_r;
    float lora_alpha, lora_dropout;
    bool rslora;
    bool dora;                /* DoRA on every LoRA site (peft use_dora); needs dropout 0 */
    int n_targets;
    char targets[WF_MAX_TARGETS][64];
    uint64_t seed;            /* LoRA A init */
    /* IA3 (PEFT's IA3Config): target modules matched as LoRA's; 0 targets = PEFT's default for
     * the model type (TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING). A target is
     * feed-forward when its path ends with one of ia3_ff (a plain suffix, as PEFT checks);
     * ia3_ff_auto = PEFT's feed-forward default for the model type. */
    int n_ia3_targets, n_ia3_ff;
    bool ia3_ff_auto;
    char ia3_targets[WF_MAX_TARGETS][64];
    char ia3_ff[WF_MAX_TARGETS][64];
    /* Prompt tuning: Nv virtual tokens; init PEFT's RANDOM (N(0, 1), from `seed`) or TEXT: the
     * token embeddings of prompt_init_ids (the tokenized init text), repeated and cut to Nv. */
    int prompt_tokens;
    const int32_t *prompt_init_ids; /* (n_prompt_init_ids); NULL: random */
    int64_t n_prompt_init_ids;
    const char *prompt_init_text; /* the TEXT init's text, for the exported config; or NULL */
    int adapter_size;             /* Houlsby bottleneck width m */
    /* Freezing: train only the top N blocks (0 = none) and/or the weights whose name contains
     * one of `modules` (with the final norm and an untied head when the top blocks train); the
     * rest stays frozen. Neither set is an error. */
    int train_top_layers;
    int n_modules;
    char modules[WF_MAX_NAMES][64];
    /* No weight decay for tensors whose kind is named here: "bias", "norm", "embedding". */
    int n_no_decay;
    char no_decay[WF_MAX_NAMES][32];
} wf_peft_spec;

typedef struct wf_param {
    char name[192];    /* HF name (PEFT name for adapters), e.g. model.layers.0.mlp.up_proj.weight */
    wf_tensor *weight; /* the model's tensor; its data lives in the flat buffer now */
    wf_tensor grad;    /* view into the flat gradient */
    int64_t offset, numel;
    int64_t layer;     /* when its gradient is complete, in graph.h grads_ready numbering: the
                          block l whose backward writes it (a block weight or an adapter of one),
                          n_layers for the final norm and the heads (done before any block), -1
                          for the embeddings and the soft prompt (done only at the end) */
    bool decay;
} wf_param;

typedef struct wf_trainable {
    wf_param *params;
    int n_params;
    int64_t total, n_decay; /* elements; [0, n_decay) get weight decay */
    wf_tensor p, g;         /* (total) fp32 master weights, gradients */
    wf_tensor m, v;         /* (opt_n) AdamW moments of elements [opt_off, opt_off + opt_n) */
    int64_t opt_off, opt_n; /* the optimizer's shard: all of it (0, total), or under ZeRO-1 this
                               rank's wf_comm_shard */
    wf_tensor p_lowp;       /* (total) model-dtype copy when the model is bf16/fp16 */
    wf_grads grads;         /* the graph's view of g */
    wf_tensor *lora_t;      /* (3 * L * WF_N_SITES) LoRA A, B and DoRA magnitude tensors (the
                             * adapters view them); GPT-2 c_attn's live at site Q */
    wf_tensor *ia3_t;       /* (L * WF_N_SITES) IA3 vectors in PEFT's shape: (M, 1), or (1, K)
                             * feed-forward; GPT-2 c_attn's one (3C, 1) lives at site Q */
    wf_arena arena;
} wf_trainable;

/* Attaches LoRA adapters when the method asks for them (A kaiming-uniform as PEFT, B = 0), moves
 * every trainable tensor into the flat buffers and builds the gradient views. Call before
 * wf_acts_create (adapters change the activations). */
wf_status wf_trainable_build(wf_model *m, const wf_peft_spec *spec, wf_trainable *out);
/* The same with the AdamW moments only for shard `rank` of `world` (ZeRO-1, comm.h
 * wf_comm_shard); world 1 is wf_trainable_build. */
wf_status wf_trainable_build_shard(wf_model *m, const wf_peft_spec *spec, int rank, int world,
                                   wf_trainable *out);
void wf_trainable_free(wf_model *m, wf_trainable *t);
/* Zeroes the gradients (before a step's first micro-batch). */
wf_status wf_trainable_zero_grad(const wf_model *m, wf_trainable *t);
/* Copies host fp32 values into a trainable tensor (master and low-precision copy). */
wf_status wf_trainable_set(const wf_model *m, wf_trainable *t, const wf_param *p, const float *v);
/* Parameter i of the adapter/weight named `name`, or NULL. */
const wf_param *wf_trainable_find(const wf_trainable *t, const char *name);
/* Loads LoRA A/B or IA3 vectors (and modules_to_save heads) from a PEFT adapter directory or
 * adapter_model.safetensors into the matching trainable tensors; shapes must match. */
wf_status wf_trainable_load_peft(const wf_model *m, wf_trainable *t, const char *path);

/* The IA3 targets and feed-forward modules in effect: the spec's, or PEFT's defaults for the
 * model type (an error naming the config keys when PEFT has none). */
wf_status wf_ia3_resolve(const wf_model *m, const wf_peft_spec *sp, wf_peft_spec *out);

/* Whether the spec turns method `x` on (as the primary method or an extra). */
static inline bool wf_peft_has(const wf_peft_spec *s, wf_method x) {
    return s->method == x || (s->extras & WF_METHOD_BIT(x)) != 0;
}
/* Whether more than one method is on. */
static inline bool wf_peft_composed(const wf_peft_spec *s) {
    return (s->extras & ~WF_METHOD_BIT(s->method)) != 0;
}

/* The PEFT spec's default, e.g. for tests: LoRA r 8, alpha 16, q_proj/v_proj. */
void wf_peft_spec_default(wf_peft_spec *s);

#endif
