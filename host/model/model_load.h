/* Helpers shared by the checkpoint loaders (load_hf.c, load_gguf.c): weight allocation and
 * upload in the model dtype. Internal to host/model. */
#ifndef WEFT_HOST_MODEL_LOAD_H
#define WEFT_HOST_MODEL_LOAD_H

#include "weft/model.h"

/* Allocates the weights arena for the slots whose present[i] is non-NULL (plus the RoPE table,
 * which it computes), and points every such slot's tensor at its memory. A tied LM head shares
 * the token embedding. */
wf_status wf_model_alloc(wf_model *m, const void *const *present);
/* Copies fp32 host values (t's shape) into t's backend memory, converting to t's dtype. */
wf_status wf_model_upload(wf_model *m, const wf_tensor *t, const float *src);
/* Applies a head override (before wf_model_plan) and, after it, marks the head slots that may
 * start fresh. */
wf_status wf_model_apply_head(wf_model *m, const wf_load_opts *o);
void wf_model_mark_fresh(wf_model *m, const wf_load_opts *o);
/* Fills a fresh head slot as transformers initialises heads: weights N(0, 0.02), biases 0. */
wf_status wf_model_init_fresh(wf_model *m, const wf_slot *s, uint64_t seed, int index);

/* Allocates every weight and fills it by transformers' init rule (init_random.c): matrices
 * N(0, std), biases 0, norm gains 1. */
wf_status wf_model_init_random(wf_model *m, uint64_t seed, double std);

wf_status wf_model_load_hf_ex(const char *dir, wf_backend *be, wf_dtype dt, const wf_load_opts *o,
                              wf_model *out);
wf_status wf_model_load_gguf_ex(const char *path, wf_backend *be, wf_dtype dt,
                                const wf_load_opts *o, wf_model *out);

/* dst (c, r) = src (r, c)^T */
void wf_load_transpose(float *dst, const float *src, int64_t r, int64_t c);

#endif
