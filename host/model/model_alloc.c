/* Weight memory for loaded models: one arena sized from the plan, uploads in the model dtype,
 * and the RoPE frequency table (model_load.h). */
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "model_load.h"
#include "weft/rng.h"

void wf_load_transpose(float *dst, const float *src, int64_t r, int64_t c) {
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) dst[j * r + i] = src[i * c + j];
}

static size_t aligned(size_t n) { return (n + WF_ARENA_ALIGN - 1) / WF_ARENA_ALIGN * WF_ARENA_ALIGN; }

wf_status wf_model_alloc(wf_model *m, const void *const *present) {
    const wf_arch *a = &m->arch;
    size_t bytes = 0;
    for (int i = 0; i < m->n_slots; i++) {
        m->slots[i].dst->dtype = m->dtype;
        if (present[i]) bytes += aligned(wf_tensor_nbytes(m->slots[i].dst));
    }
    bool rope = a->pos == WF_POS_ROPE;
    if (rope) bytes += aligned((size_t)a->head_dim / 2 * sizeof(float));
    WF_TRY(wf_backend_arena_create(m->be, &m->arena, "weights", bytes));
    for (int i = 0; i < m->n_slots; i++) {
        wf_tensor *t = m->slots[i].dst;
        t->data = NULL;
        if (present[i]) WF_TRY(wf_arena_alloc(&m->arena, wf_tensor_nbytes(t), &t->data));
    }
    if (a->head == WF_HEAD_LM && a->tied_embeddings) m->w.lm_head = m->w.tok_emb;
    if (rope) {
        int64_t half = a->head_dim / 2;
        m->rope_inv_freq = (wf_tensor){.dtype = WF_F32, .ndim = 1, .shape = {half}};
        WF_TRY(wf_arena_alloc(&m->arena, (size_t)half * sizeof(float), &m->rope_inv_freq.data));
        float *f = malloc((size_t)half * sizeof *f);
        if (!f) return wf_error(WF_ERR_OOM, "model: out of host memory");
        wf_rope_inv_freq(f, (int)a->head_dim, a->rope_theta, &a->rope_scaling);
        wf_status s = m->be->copy(m->be, m->rope_inv_freq.data, f, (size_t)half * sizeof *f, WF_COPY_H2D);
        if (s == WF_OK) s = m->be->sync(m->be);
        free(f);
        WF_TRY(s);
    }
    return WF_OK;
}

wf_status wf_model_upload(wf_model *m, const wf_tensor *t, const float *src) {
    int64_t n = wf_tensor_numel(t);
    if (t->dtype == WF_F32) {
        WF_TRY(m->be->copy(m->be, t->data, src, (size_t)n * sizeof(float), WF_COPY_H2D));
        return m->be->sync(m->be); /* src is the caller's scratch, reused right after */
    }
    uint16_t *h = malloc((size_t)n * sizeof *h + 1);
    if (!h) return wf_error(WF_ERR_OOM, "model: out of host memory");
    /* element-wise rounding: threads change nothing but the time (a 1B model's weights) */
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) wf_store_f32(h, t->dtype, (size_t)i, src[i]);
    wf_status s = m->be->copy(m->be, t->data, h, (size_t)n * sizeof *h, WF_COPY_H2D);
    if (s == WF_OK) s = m->be->sync(m->be);
    free(h);
    return s;
}

wf_status wf_model_load(const char *path, wf_backend *be, wf_dtype dt, wf_model *out) {
    return wf_model_load_ex(path, be, dt, NULL, out);
}

wf_status wf_model_load_ex(const char *path, wf_backend *be, wf_dtype dt, const wf_load_opts *o,
                           wf_model *out) {
    size_t n = strlen(path);
    bool gguf = n > 5 && strcmp(path + n - 5, ".gguf") == 0;
    if (gguf && o && o->random_init)
        return wf_error(WF_ERR_INVALID, "%s: a random init needs a Hugging Face directory with a "
                        "config.json, not a GGUF file", path);
    if (gguf) return wf_model_load_gguf_ex(path, be, dt, o, out);
    return wf_model_load_hf_ex(path, be, dt, o, out);
}

wf_status wf_model_apply_head(wf_model *m, const wf_load_opts *o) {
    wf_arch *a = &m->arch;
    if (!o || o->head == WF_HEAD_NONE) return WF_OK;
    if (o->head == WF_HEAD_LM && a->family != WF_FAMILY_GPT2 && a->family != WF_FAMILY_LLAMA)
        return wf_error(WF_ERR_INVALID, "a causal-LM head needs a decoder (gpt2 or llama family), "
                        "this is %s", a->model_type);
    if (o->head == WF_HEAD_IMAGE_CLS && a->family != WF_FAMILY_VIT)
        return wf_error(WF_ERR_INVALID, "an image-classification head needs a vit model, this is %s",
                        a->model_type);
    if ((o->head == WF_HEAD_SEQ_CLS || o->head == WF_HEAD_REGRESSION) && a->family == WF_FAMILY_VIT)
        return wf_error(WF_ERR_INVALID, "vit models take an image-classification head");
    a->head = o->head;
    if (o->n_labels > 0) a->n_labels = o->n_labels;
    if (a->head == WF_HEAD_REGRESSION) a->n_labels = 1;
    if ((a->head == WF_HEAD_SEQ_CLS || a->head == WF_HEAD_IMAGE_CLS) && a->n_labels < 2)
        return wf_error(WF_ERR_INVALID, "a classification head needs at least 2 labels (got %lld)",
                        (long long)a->n_labels);
    return WF_OK;
}

void wf_model_mark_fresh(wf_model *m, const wf_load_opts *o) {
    if (!o || o->head == WF_HEAD_NONE || o->head == WF_HEAD_LM) return;
    for (int i = 0; i < m->n_slots; i++) {
        wf_slot *s = &m->slots[i];
        bool pooler = s->dst == &m->w.pooler_w || s->dst == &m->w.pooler_b;
        if (s->top_level || pooler) s->fresh = true;
    }
}

wf_status wf_model_init_fresh(wf_model *m, const wf_slot *s, uint64_t seed, int index) {
    int64_t n = wf_tensor_numel(s->dst);
    float *h = calloc((size_t)n + 1, sizeof *h);
    if (!h) return wf_error(WF_ERR_OOM, "model: out of host memory");
    if (s->dst->ndim == 2) /* Box-Muller on the counter-based generator */
        for (int64_t i = 0; i < n; i++) {
            double u1 = wf_rng_uniform(seed, 9, (uint32_t)index, (uint64_t)(2 * i)) + 1e-7;
            double u2 = wf_rng_uniform(seed, 9, (uint32_t)index, (uint64_t)(2 * i + 1));
            h[i] = (float)(0.02 * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        }
    wf_status st = wf_model_upload(m, s->dst, h);
    free(h);
    return st;
}

wf_status wf_model_inspect(const char *path, wf_model *m, wf_checkpoint_info *info) {
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".gguf") == 0) return wf_model_inspect_gguf(path, m, info);
    return wf_model_inspect_hf(path, m, info);
}
