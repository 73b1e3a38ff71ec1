/* A model from its config.json alone (model.init "random"): every weight drawn from the seed
 * with transformers' _init_weights rule for ViT/BERT/Llama/GPT-2 (modeling_vit.py
 * ViTPreTrainedModel._init_weights): matrices, the ViT CLS token and position table and the
 * embeddings ~ N(0, initializer_range) (transformers truncates ViT's at +-2, i.e. +-100 std for
 * the usual 0.02, which never binds), biases 0, norm gains 1. Not here: loading a checkpoint
 * (load_hf.c) or a fresh head on a loaded model (model_alloc.c wf_model_init_fresh). */
#include <math.h>
#include <stdlib.h>

#include "model_load.h"
#include "weft/rng.h"

static bool is_gain(const wf_model *m, const wf_tensor *t) {
    const wf_weights *w = &m->w;
    if (t == &w->final_g || t == &w->emb_ln_g) return true;
    for (int64_t l = 0; l < m->arch.n_layers; l++)
        if (t == &w->layers[l].ln1_g || t == &w->layers[l].ln2_g) return true;
    return false;
}

/* Slot `index` filled with its rule; seed and index pick the Philox stream (step 10: apart from
 * the fresh-head stream 9 and dropout). */
static wf_status init_slot(wf_model *m, const wf_slot *s, uint64_t seed, int index, double std) {
    const wf_weights *w = &m->w;
    int64_t n = wf_tensor_numel(s->dst);
    float *h = calloc((size_t)n + 1, sizeof *h);
    if (!h) return wf_error(WF_ERR_OOM, "model: out of host memory");
    bool normal = s->dst->ndim == 2 || s->dst == &w->cls_token;
    if (is_gain(m, s->dst))
        for (int64_t i = 0; i < n; i++) h[i] = 1.0f;
    else if (normal) { /* Box-Muller on the counter-based generator; each element depends on its
                          index alone, so the threads' split never changes a value */
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            /* 1 - u lies in [2^-24, 1]: log(u1) <= 0 always (u + 1e-7 exceeded 1 for the
             * largest u, about once in 8M draws, and gave NaN weights) */
            double u1 = 1.0 - (double)wf_rng_uniform(seed, 10, (uint32_t)index, (uint64_t)(2 * i));
            double u2 = wf_rng_uniform(seed, 10, (uint32_t)index, (uint64_t)(2 * i + 1));
            h[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        }
    }
    wf_status st = wf_model_upload(m, s->dst, h);
    free(h);
    return st;
}

wf_status wf_model_init_random(wf_model *m, uint64_t seed, double std) {
    const void **present = calloc((size_t)m->n_slots + 1, sizeof *present);
    if (!present) return wf_error(WF_ERR_OOM, "model: out of host memory");
    for (int i = 0; i < m->n_slots; i++) present[i] = m;
    wf_status s = wf_model_alloc(m, present);
    free(present);
    for (int i = 0; i < m->n_slots && s == WF_OK; i++) {
        if (m->arch.head == WF_HEAD_LM && m->arch.tied_embeddings && m->slots[i].dst == &m->w.lm_head)
            continue; /* shares tok_emb */
        s = init_slot(m, &m->slots[i], seed, i, std);
    }
    return s;
}
