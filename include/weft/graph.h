/* The model graph: one forward pass (and, with the training core, its backward) written once
 * over wf_weights and the op table, for every family. A batch and the activations the backward
 * needs live in backend memory, planned from (B, T) and allocated once. */
#ifndef WEFT_GRAPH_H
#define WEFT_GRAPH_H

#include "weft/model.h"

/* Inputs of one micro-batch, in backend memory. Optional tensors have data == NULL. */
typedef struct wf_batch {
    int64_t B, T;
    wf_tensor ids;      /* (B, T) i32 token ids (not ViT) */
    wf_tensor pos;      /* (B, T) i32 positions; restart at 0 per packed document */
    wf_tensor types;    /* (B, T) i32 BERT token type ids, optional (zeros when absent) */
    wf_tensor key_mask; /* (B, T) i32 1 = real token, 0 = padding; optional */
    wf_tensor doc_ids;  /* (B, T) i32 document of each token in packed rows; optional */
    wf_tensor patches;  /* (B*np, ch*P*P) float ViT image patches, row-major per image */
    wf_tensor gather;   /* (B*T) i32 ViT: row of [cls; patch embeddings] each position takes */
    wf_tensor pick;     /* (B) i32 row of the hidden states a sequence head reads: b*T for the
                         * CLS token (BERT, ViT), the last non-pad token for decoders */
    wf_tensor targets;  /* (B, T) i32 LM: the next token at each position, -100 = no loss */
    wf_tensor labels;   /* (B) i32 classification labels */
    wf_tensor values;   /* (B, 1) float regression targets */
} wf_batch;

/* A micro-batch as the data pipeline hands it over, in host memory. */
typedef struct wf_batch_host {
    int64_t B, T;
    const int32_t *ids;     /* (B, T) token ids (not ViT) */
    const int32_t *mask;    /* (B, T) 1 = token, 0 = padding; optional (NULL: all tokens) */
    const int32_t *types;   /* (B, T) BERT token types; optional (NULL: zeros) */
    const int32_t *doc_ids; /* (B, T) packed documents; optional. Positions restart per document */
    const float *pixels;    /* (B, ch, H, W) ViT images */
    const int32_t *targets; /* (B, T) LM targets (already shifted), -100 = no loss; optional */
    const int32_t *labels;  /* (B) class labels; optional */
    const float *values;    /* (B) regression targets; optional */
    int64_t pos_offset;     /* position of each row's first token (generation with a KV cache) */
} wf_batch_host;

/* Builds the device batch: positions, the rows sequence heads read, ViT patches and indices.
 * The tensors are taken from `arena` (backend memory; size it with wf_batch_bytes). */
wf_status wf_batch_upload(const wf_model *m, const wf_batch_host *h, wf_arena *arena, wf_batch *out);
size_t wf_batch_bytes(const wf_model *m, int64_t B, int64_t T);

/* Page-locked staging for uploads inside the step loop: two host buffers, each an image of one
 * micro-batch's arena region, so a batch goes up in one H2D copy while the host fills the other
 * buffer. A buffer is refilled only after the event recorded after its copy has completed
 * (backend event_wait: no stream sync). wf_batch_upload instead stages in a malloc'd buffer and
 * syncs before freeing it (generation, tools). Created once, outside the step loop. */
typedef struct wf_batch_stage {
    char *host[2];         /* page-locked, cap bytes each */
    wf_event *copied[2];   /* recorded after the H2D copy out of host[k] */
    size_t cap;            /* bytes of each: at least the batch's arena region */
    int next;              /* the buffer the next upload fills */
} wf_batch_stage;
wf_status wf_batch_stage_create(wf_backend *be, size_t bytes, wf_batch_stage *st);
void wf_batch_stage_destroy(wf_backend *be, wf_batch_stage *st);
wf_status wf_batch_upload_staged(const wf_model *m, const wf_batch_host *h, wf_arena *arena,
                                 wf_batch_stage *st, wf_batch *out);

/* Activations of one block, saved for the backward. */
typedef struct wf_layer_acts {
    wf_tensor ln1, ln1_mean, ln1_rstd; /* (N, C), (N), (N) */
    wf_tensor q, k, v;                 /* (B, T, H, D), (B, T, Hk, D), (B, T, Hk, D) after RoPE */
    wf_tensor att, lse;                /* (B, T, H, D), (B, H, T) */
    wf_tensor s1;                      /* (N, C) block input + attention output */
    wf_tensor ln2, ln2_mean, ln2_rstd; /* (N, C), (N), (N) */
    wf_tensor gate;                    /* (N, F) gated MLP only */
    wf_tensor up, act;                 /* (N, F) before and after the activation */
    wf_tensor s2;                      /* (N, C) MLP input + MLP output */
    wf_tensor *out;                    /* the block output: s2 (pre-norm) or ln2 (post-norm) */
    wf_tensor lora_h[WF_N_SITES];      /* (N, r) drop(x) A^T of each LoRA site, for backward */
    wf_tensor ia3_x[WF_N_SITES];       /* IA3 sites: (N, K) the scaled input (feed-forward) or
                                        * (N, M) the output before scaling */
    wf_tensor ad_x[2], ad_h1[2], ad_h2[2]; /* Houlsby adapters (attention, MLP): (N, C) input,
                                        * (N, m) before and after the GELU */
    wf_tensor dora_z[WF_N_SITES];      /* DoRA sites: (N, M) x W^T + LoRA term, before scaling */
    wf_tensor dora_s[WF_N_SITES];      /* (M) mag / ||W + scale B A||_row */
    wf_tensor dora_rn[WF_N_SITES];     /* (M) f32 1 / ||W + scale B A||_row */
} wf_layer_acts;

/* Gradient buffers the backward works in (planned with WF_ACTS_TRAIN). */
typedef struct wf_grad_acts {
    wf_tensor dx, da, db;     /* (N, C) residual-stream gradient and two temporaries */
    wf_tensor df1, df2, df3;  /* (N, F) MLP gradients */
    wf_tensor datt, dq;       /* (N, H*D) */
    wf_tensor dk, dv;         /* (N, Hk*D) */
    wf_tensor dpool, dpool2;  /* (B, C) sequence-head gradients */
    wf_tensor lm_chunk;       /* (R, V) LM logits of R rows at a time (chunked cross-entropy) */
    wf_tensor tok_loss;       /* (N) f32 per-token (LM) or per-sequence losses */
    wf_tensor dvit_rows;      /* (1 + B*np, C) ViT */
    wf_tensor dia3;           /* (N, max(C, F, H*D)) gradient between an IA3 scaling and its linear */
    wf_tensor dad, dad_h1, dad_h2; /* (N, C), (N, m), (N, m) Houlsby adapter backward */
    wf_tensor ddora_s, ddora_t;    /* (W) DoRA: gradient of the scale, and a temporary */
} wf_grad_acts;

enum { WF_ACTS_LOGITS = 1, /* keep full (N, V) LM logits (evaluation, interop checks) */
       WF_ACTS_TRAIN = 2,  /* plan the backward's buffers too */
       /* with WF_ACTS_TRAIN: activation checkpointing (recomputation) per block: only each
        * block's output is kept; the rest of every block shares one region, which the backward
        * refills by rerunning the block's forward from its input before the block's backward
        * (the forward's ops are deterministic and LoRA dropout counter-based, so the gradients
        * are the same bits as without). Memory: the outputs plus one block's activations instead
        * of every block's; time: one more forward of every block but the last. */
       WF_ACTS_RECOMPUTE = 4 };
#define WF_LM_CHUNK_ROWS 256 /* rows of LM logits alive at once in training */

/* Gradients of every weight: a wf_weights of views into the gradient buffer (data NULL =
 * frozen: no gradient, no weight-gradient matmul) and the LoRA adapters' da/db as a/b. */
typedef struct wf_grads {
    wf_weights w;
    wf_lora_adapter *lora; /* (L * WF_N_SITES) like wf_model.lora, or NULL */
    wf_ia3_vec *ia3;       /* (L * WF_N_SITES) like wf_model.ia3 (l = dl), or NULL */
    wf_houlsby *adapters;  /* (2 L) like wf_model.adapters, or NULL */
} wf_grads;

/* Keys and values of the tokens seen so far, per block, for generation (batch of 1): the
 * forward appends its tokens' k, v (after RoPE) and attends over everything cached. */
typedef struct wf_kv_cache {
    int64_t len, cap;  /* tokens cached, capacity */
    wf_tensor *k, *v;  /* (L) each (1, cap, Hk, D) */
    wf_arena arena;
} wf_kv_cache;

wf_status wf_kv_cache_create(const wf_model *m, int64_t cap, wf_kv_cache *out);
void wf_kv_cache_destroy(const wf_model *m, wf_kv_cache *kv);

typedef struct wf_acts {
    int64_t B, T;
    wf_tensor emb;                        /* (N, C) input of block 0 */
    wf_tensor emb_pre, emb_mean, emb_rstd; /* BERT: sum of embeddings before its LayerNorm */
    wf_tensor vit_rows;                   /* (1 + B*np, C) ViT: [cls; patch embeddings] */
    wf_layer_acts *layers;                /* (L) */
    wf_tensor final, final_mean, final_rstd; /* (N, C) final norm (pre-norm models) */
    wf_tensor tmp;                        /* (N, C) attention / MLP output before the residual */
    wf_tensor dora_w1, dora_w2;           /* (W, W) DoRA: W + scale B A of one site, and scratch;
                                             W = max(C, F, H*D) */
    wf_tensor dora_ones, dora_zeros;      /* (W) ones (norm gains), (N) i32 zeros (bias rows) */
    wf_tensor pooled, pooled_act;         /* (B, C) sequence heads: picked rows, after pooler */
    wf_tensor head_out;                   /* (B, n_labels) sequence heads; (N, V) LM logits when
                                             planned with logits */
    wf_grad_acts d;                       /* backward buffers (WF_ACTS_TRAIN) */
    wf_kv_cache *kv;                      /* generation: attend over the cache (B = 1), or NULL */
    bool training;                        /* LoRA dropout on (trainer sets, with seed and step) */
    bool recompute;                       /* planned with WF_ACTS_RECOMPUTE */
    const float *loss_scale;              /* backend memory: the loss scale S multiplying the
                                             loss gradient (the trainer points it at its step
                                             state), or NULL for 1 */
    uint64_t seed;
    uint32_t step;
    /* Called by wf_graph_backward (when set) as soon as the parameter gradients of a part of the
     * model are complete, i.e. enqueued: layer == n_layers for the head and the final norm (before
     * the blocks), each block's index as it finishes (n_layers - 1 down to 0), and -1 for the
     * embeddings (last). The data-parallel trainer launches its gradient buckets from it. */
    wf_status (*grads_ready)(void *ctx, int64_t layer);
    void *grads_ready_ctx;
    wf_arena arena;
} wf_acts;

/* Sizes the activations for batches of up to B x T (flags WF_ACTS_*) and allocates them on the
 * model's backend. LoRA adapters must be attached before (their saved h is planned here). */
wf_status wf_acts_create(const wf_model *m, int64_t B, int64_t T, unsigned flags, wf_acts *out);
size_t wf_acts_bytes(const wf_model *m, int64_t B, int64_t T, unsigned flags);
/* The same, and by_dtype[d]: the bytes of the tensors of dtype d (the memory plan's arenas). */
size_t wf_acts_bytes_by_dtype(const wf_model *m, int64_t B, int64_t T, unsigned flags,
                              size_t by_dtype[WF_DTYPE_COUNT]);
void wf_acts_destroy(const wf_model *m, wf_acts *a);

/* The forward pass. Output: a->head_out for LM (logits, when planned) and sequence / image
 * heads; the last block output (or a->final) for bare models (wf_graph_hidden). */
wf_status wf_graph_forward(const wf_model *m, const wf_batch *b, wf_acts *a);
/* The hidden states a bare model returns (HF last_hidden_state): (N, C). */
const wf_tensor *wf_graph_hidden(const wf_model *m, const wf_acts *a);

/* Loss of the model's head after wf_graph_forward, and (when g != NULL) its gradient into
 * a->d.dx, the gradient of the final hidden states, plus the head weights' gradients.
 * LM: cross-entropy of each position against b->targets (-100 ignored), computed R rows at a
 * time so full logits never exist; sequence heads: cross-entropy against b->labels, or MSE
 * against b->values. Per-token (per-sequence) losses land in a->d.tok_loss (0 where ignored);
 * gradients are scaled by dscale (= 1 / loss tokens of the whole global batch) times
 * *a->loss_scale (read on the device) when that is set. */
wf_status wf_graph_loss(const wf_model *m, const wf_batch *b, wf_acts *a, const wf_grads *g,
                        float dscale);
/* Activation checkpointing: reruns block li's forward from its input (the previous block's
 * output, or the embeddings) into the shared region, everything its backward reads (pre-norm:
 * its ln1 from the input, then the block up to its MLP output; the output itself is kept).
 * wf_graph_backward calls it for every block but the last (whose activations are still there). */
wf_status wf_graph_recompute_block(const wf_model *m, const wf_batch *b, wf_acts *a, int64_t li);
/* The backward from a->d.dx down to the embeddings: "+=" into every non-NULL gradient. */
wf_status wf_graph_backward(const wf_model *m, const wf_batch *b, wf_acts *a, const wf_grads *g);

#endif
