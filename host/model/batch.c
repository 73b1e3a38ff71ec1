/* Host -> device micro-batches (graph.h wf_batch_upload): positions (restarting per packed
 * document), the row each sequence head reads (CLS, or a decoder's last real token), token
 * types, and for ViT the image patches in the conv weight's (ch, P, P) order with the rows each
 * position gathers from [cls; patch embeddings]. With a soft prompt every row starts with its
 * Nv virtual tokens, as PEFT's prompt tuning builds them: no loss, attended by every token,
 * positions 0..Nv-1 with the real tokens after them (forward.c fills their embeddings). */
#include <stdlib.h>
#include <string.h>

#include "weft/graph.h"

typedef struct host_batch {
    int32_t *pos, *types, *pick, *gather;
    float *patches;
} host_batch;

static int64_t n_patches(const wf_arch *a) {
    int64_t side = a->image_size / a->patch_size;
    return side * side;
}

size_t wf_batch_bytes(const wf_model *m, int64_t B, int64_t T) {
    const wf_arch *a = &m->arch;
    T = wf_model_seq_len(m, T);
    size_t al = WF_ARENA_ALIGN, n = (size_t)(B * T) * 4;
    /* 7 (B, T) int32 tensors, and pick, labels, values of (B) */
    size_t bytes = 7 * ((n + al) / al * al) + 3 * (((size_t)B * 4 + al) / al * al);
    if (a->family == WF_FAMILY_VIT)
        bytes += ((size_t)(B * n_patches(a) * a->channels * a->patch_size * a->patch_size) *
                      wf_dtype_size(m->dtype) + al) / al * al;
    return bytes;
}

/* Patch (py, px) of image b as a row of ch*P*P values, (c, i, j) order like the conv weight. */
static void vit_patches(const wf_arch *a, const float *pixels, int64_t B, float *out) {
    int64_t P = a->patch_size, side = a->image_size / P, ch = a->channels, S = a->image_size;
    for (int64_t b = 0; b < B; b++)
        for (int64_t py = 0; py < side; py++)
            for (int64_t px = 0; px < side; px++) {
                float *row = out + ((b * side + py) * side + px) * ch * P * P;
                for (int64_t c = 0; c < ch; c++)
                    for (int64_t i = 0; i < P; i++)
                        for (int64_t j = 0; j < P; j++)
                            row[(c * P + i) * P + j] = pixels[((b * ch + c) * S + py * P + i) * S + px * P + j];
            }
}

static void fill_host(const wf_model *m, const wf_batch_host *h, host_batch *hb) {
    const wf_arch *a = &m->arch;
    int64_t B = h->B, T = h->T;
    for (int64_t b = 0; b < B; b++) {
        int64_t last = 0;
        for (int64_t t = 0; t < T; t++) {
            int64_t i = b * T + t;
            bool new_doc = t == 0 || (h->doc_ids && h->doc_ids[i] != h->doc_ids[i - 1]);
            hb->pos[i] = new_doc ? (int32_t)(t == 0 ? h->pos_offset : 0) : hb->pos[i - 1] + 1;
            hb->types[i] = h->types ? h->types[i] : 0;
            if (!h->mask || h->mask[i]) last = t;
            if (a->family == WF_FAMILY_VIT)
                hb->gather[i] = t == 0 ? 0 : (int32_t)(1 + b * (T - 1) + (t - 1));
        }
        /* encoders read their CLS token; decoders the last real token (HF: the rightmost
         * non-pad position) */
        bool cls = a->family == WF_FAMILY_BERT || a->family == WF_FAMILY_VIT;
        hb->pick[b] = (int32_t)(b * T + (cls ? 0 : last));
    }
}

static wf_status upload(wf_backend *be, wf_arena *ar, wf_tensor *t, wf_dtype dt, int ndim,
                        int64_t d0, int64_t d1, const void *src) {
    *t = (wf_tensor){.dtype = dt, .ndim = ndim, .shape = {d0, d1}};
    WF_TRY(wf_arena_alloc(ar, wf_tensor_nbytes(t), &t->data));
    return be->copy(be, t->data, src, wf_tensor_nbytes(t), WF_COPY_H2D);
}

/* Regression targets (B, 1) in the model dtype. */
static wf_status upload_values(const wf_model *m, wf_arena *ar, wf_tensor *t, const float *v, int64_t B) {
    float *tmp = malloc((size_t)B * sizeof *tmp);
    if (!tmp) return wf_error(WF_ERR_OOM, "batch: out of host memory");
    for (int64_t i = 0; i < B; i++) wf_store_f32(tmp, m->dtype, (size_t)i, v[i]);
    wf_status s = upload(m->be, ar, t, m->dtype, 2, B, 1, tmp);
    if (s == WF_OK) s = m->be->sync(m->be);
    free(tmp);
    return s;
}

static wf_status upload_batch(const wf_model *m, const wf_batch_host *h, wf_arena *arena, wf_batch *out) {
    const wf_arch *a = &m->arch;
    int64_t B = h->B, T = h->T, N = B * T;
    bool vit = a->family == WF_FAMILY_VIT;
    if (B < 1 || T < 1) return wf_error(WF_ERR_INVALID, "batch: empty (%lld x %lld)", (long long)B, (long long)T);
    if (vit && T != n_patches(a) + 1)
        return wf_error(WF_ERR_INVALID, "batch: a ViT sequence has %lld positions, got T = %lld",
                        (long long)(n_patches(a) + 1), (long long)T);
    if (!vit && !h->ids) return wf_error(WF_ERR_INVALID, "batch: no token ids");
    if (vit && !h->pixels) return wf_error(WF_ERR_INVALID, "batch: no pixels for a ViT model");
    memset(out, 0, sizeof *out);
    out->B = B, out->T = T;
    host_batch hb = {malloc((size_t)N * 4), malloc((size_t)N * 4), malloc((size_t)B * 4),
                     malloc((size_t)N * 4), NULL};
    int64_t plen = vit ? B * n_patches(a) * a->channels * a->patch_size * a->patch_size : 0;
    if (vit) hb.patches = malloc((size_t)plen * sizeof(float));
    wf_status s = WF_OK;
    if (!hb.pos || !hb.types || !hb.pick || !hb.gather || (vit && !hb.patches))
        s = wf_error(WF_ERR_OOM, "batch: out of host memory");
    wf_backend *be = m->be;
    if (s == WF_OK) {
        fill_host(m, h, &hb);
        if (!vit) s = upload(be, arena, &out->ids, WF_I32, 2, B, T, h->ids);
        if (s == WF_OK) s = upload(be, arena, &out->pos, WF_I32, 2, B, T, hb.pos);
        if (s == WF_OK && a->type_vocab) s = upload(be, arena, &out->types, WF_I32, 2, B, T, hb.types);
        if (s == WF_OK && h->mask) s = upload(be, arena, &out->key_mask, WF_I32, 2, B, T, h->mask);
        if (s == WF_OK && h->doc_ids) s = upload(be, arena, &out->doc_ids, WF_I32, 2, B, T, h->doc_ids);
        if (s == WF_OK) s = upload(be, arena, &out->pick, WF_I32, 1, B, 0, hb.pick);
        if (s == WF_OK && h->targets) s = upload(be, arena, &out->targets, WF_I32, 2, B, T, h->targets);
        if (s == WF_OK && h->labels) s = upload(be, arena, &out->labels, WF_I32, 1, B, 0, h->labels);
        if (s == WF_OK && h->values) s = upload_values(m, arena, &out->values, h->values, B);
    }
    if (s == WF_OK && vit) {
        vit_patches(a, h->pixels, B, hb.patches);
        int64_t row = a->channels * a->patch_size * a->patch_size;
        s = upload(be, arena, &out->gather, WF_I32, 1, N, 0, hb.gather);
        if (s == WF_OK && m->dtype != WF_F32) /* convert in place to the model dtype */
            for (int64_t i = 0; i < plen; i++) wf_store_f32(hb.patches, m->dtype, (size_t)i, hb.patches[i]);
        if (s == WF_OK) s = upload(be, arena, &out->patches, m->dtype, 2, B * n_patches(a), row, hb.patches);
    }
    if (s == WF_OK) s = be->sync(be); /* host buffers are freed next */
    free(hb.pos), free(hb.types), free(hb.pick), free(hb.gather), free(hb.patches);
    return s;
}

/* h with Nv virtual tokens before each row: ids 0 (forward.c overwrites their embeddings),
 * mask 1, types 0, targets -100; the rest as given. */
static wf_status with_prompt(wf_prompt_stage *st, const wf_batch_host *h, int64_t Nv,
                             wf_batch_host *o) {
    int64_t B = h->B, T = h->T, Tv = T + Nv;
    const int32_t *src[4] = {h->ids, h->mask, h->types, h->targets};
    const int32_t fill[4] = {0, 1, 0, -100};
    if (B * Tv > st->cap) { /* the first (largest) batch; later ones reuse it */
        int32_t *p = realloc(st->buf, (size_t)(4 * B * Tv) * sizeof *p);
        if (!p) return wf_error(WF_ERR_OOM, "batch: out of host memory");
        st->buf = p, st->cap = B * Tv;
    }
    int32_t *bufs[4] = {NULL, NULL, NULL, NULL};
    *o = *h;
    o->T = Tv, o->pos_offset = 0;
    for (int k = 0; k < 4; k++) {
        if (!src[k] && k != 1) continue; /* a mask is needed once some rows have padding only */
        bufs[k] = st->buf + k * st->cap;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < Tv; t++)
                bufs[k][b * Tv + t] = t < Nv ? fill[k] : src[k] ? src[k][b * T + t - Nv] : 1;
    }
    o->ids = bufs[0], o->mask = bufs[1], o->types = bufs[2], o->targets = bufs[3];
    return WF_OK;
}

wf_status wf_batch_upload(const wf_model *m, const wf_batch_host *h, wf_arena *arena, wf_batch *out) {
    int64_t Nv = wf_model_seq_len(m, 0);
    if (Nv == 0) return upload_batch(m, h, arena, out);
    if (h->doc_ids || h->pos_offset)
        return wf_error(WF_ERR_INVALID, "batch: a soft prompt (prompt tuning) needs unpacked rows "
                        "(data.packing false) and no KV cache");
    if (!h->ids) return wf_error(WF_ERR_INVALID, "batch: no token ids");
    if (!m->prompt_stage) return wf_error(WF_ERR_INVALID, "batch: the soft prompt has no staging buffer");
    wf_batch_host hp;
    WF_TRY(with_prompt(m->prompt_stage, h, Nv, &hp));
    return upload_batch(m, &hp, arena, out);
}
