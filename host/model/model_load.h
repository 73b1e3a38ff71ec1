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
/* dst (c, r) = src (r, c)^T */
void wf_load_transpose(float *dst, const float *src, int64_t r, int64_t c);

#endif
