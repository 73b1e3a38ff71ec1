/* Weight memory for loaded models: one arena sized from the plan, uploads in the model dtype,
 * and the RoPE frequency table (model_load.h). */
#include <stdlib.h>
#include <string.h>

#include "model_load.h"

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
    for (int64_t i = 0; i < n; i++) wf_store_f32(h, t->dtype, (size_t)i, src[i]);
    wf_status s = m->be->copy(m->be, t->data, h, (size_t)n * sizeof *h, WF_COPY_H2D);
    if (s == WF_OK) s = m->be->sync(m->be);
    free(h);
    return s;
}

wf_status wf_model_load(const char *path, wf_backend *be, wf_dtype dt, wf_model *out) {
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".gguf") == 0) return wf_model_load_gguf(path, be, dt, out);
    return wf_model_load_hf(path, be, dt, out);
}

wf_status wf_model_inspect(const char *path, wf_model *m, wf_checkpoint_info *info) {
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".gguf") == 0) return wf_model_inspect_gguf(path, m, info);
    return wf_model_inspect_hf(path, m, info);
}
