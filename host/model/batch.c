/* Host -> device micro-batches (graph.h wf_batch_upload): positions (restarting per packed
 * document), the row each sequence head reads (CLS, or a decoder's last real token), token
 * types, and for ViT the image patches in the conv weight's (ch, P, P) order with the rows each
 * position gathers from [cls; patch embeddings]. With a soft prompt every row starts with its
 * Nv virtual tokens, as PEFT's prompt tuning builds them: no loss, attended by every token,
 * positions 0..Nv-1 with the real tokens after them (forward.c fills their embeddings).
 * The host builds an image of the batch's arena region in a staging buffer and sends it in one
 * H2D copy; wf_batch_upload_staged does so from page-locked double buffers without a sync. */
#include <stdlib.h>
#include <string.h>

#include "weft/graph.h"

/* Where the host image of the batch goes: the arena region from `mark` on, mirrored in
 * `host` (cap bytes). */
typedef struct stage_ctx {
    wf_arena *ar;
    size_t mark;
    char *host;
    size_t cap;
} stage_ctx;

typedef struct host_batch {
    int32_t *pos, *types, *pick, *gather; /* (B, T), (B, T) or NULL, (B), (B*T) or NULL */
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

/* Patch (py, px) of image b as a row of ch*P*P values, (c, i, j) order like the conv weight,
 * stored in dtype dt. */
static void vit_patches(const wf_arch *a, const float *pixels, int64_t B, wf_dtype dt, void *out) {
    int64_t P = a->patch_size, side = a->image_size / P, ch = a->channels, S = a->image_size;
    for (int64_t b = 0; b < B; b++)
        for (int64_t py = 0; py < side; py++)
            for (int64_t px = 0; px < side; px++) {
                int64_t row = ((b * side + py) * side + px) * ch * P * P;
                for (int64_t c = 0; c < ch; c++)
                    for (int64_t i = 0; i < P; i++)
                        for (int64_t j = 0; j < P; j++)
                            wf_store_f32(out, dt, (size_t)(row + (c * P + i) * P + j),
                                         pixels[((b * ch + c) * S + py * P + i) * S + px * P + j]);
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
            if (hb->types) hb->types[i] = h->types ? h->types[i] : 0;
            if (!h->mask || h->mask[i]) last = t;
            if (hb->gather) hb->gather[i] = t == 0 ? 0 : (int32_t)(1 + b * (T - 1) + (t - 1));
        }
        /* encoders read their CLS token; decoders the last real token (HF: the rightmost
         * non-pad position) */
        bool cls = a->family == WF_FAMILY_BERT || a->family == WF_FAMILY_VIT;
        hb->pick[b] = (int32_t)(b * T + (cls ? 0 : last));
    }
}

/* Takes t from the arena and returns where its bytes go in the host image. */
static wf_status place(stage_ctx *c, wf_tensor *t, wf_dtype dt, int ndim, int64_t d0, int64_t d1,
                       void **host) {
    *t = (wf_tensor){.dtype = dt, .ndim = ndim, .shape = {d0, d1}};
    size_t n = wf_tensor_nbytes(t);
    WF_TRY(wf_arena_alloc(c->ar, n, &t->data));
    size_t off = (size_t)((char *)t->data - (c->ar->base + c->mark));
    if (off + n > c->cap)
        return wf_error(WF_ERR_OOM, "batch: the inputs need more than the %zu bytes of host "
                        "staging (planned for a smaller batch)", c->cap);
    *host = c->host + off;
    return WF_OK;
}

static wf_status put(stage_ctx *c, wf_tensor *t, wf_dtype dt, int ndim, int64_t d0, int64_t d1,
                     const void *src) {
    void *h = NULL;
    WF_TRY(place(c, t, dt, ndim, d0, d1, &h));
    memcpy(h, src, wf_tensor_nbytes(t));
    return WF_OK;
}

static wf_status check_batch(const wf_model *m, const wf_batch_host *h) {
    const wf_arch *a = &m->arch;
    bool vit = a->family == WF_FAMILY_VIT;
    if (h->B < 1 || h->T < 1)
        return wf_error(WF_ERR_INVALID, "batch: empty (%lld x %lld)", (long long)h->B, (long long)h->T);
    if (vit && h->T != n_patches(a) + 1)
        return wf_error(WF_ERR_INVALID, "batch: a ViT sequence has %lld positions, got T = %lld",
                        (long long)(n_patches(a) + 1), (long long)h->T);
    if (!vit && !h->ids) return wf_error(WF_ERR_INVALID, "batch: no token ids");
    if (vit && !h->pixels) return wf_error(WF_ERR_INVALID, "batch: no pixels for a ViT model");
    return WF_OK;
}

/* Builds the host image of the batch in c (same arena order as the device tensors). */
static wf_status build_batch(const wf_model *m, const wf_batch_host *h, stage_ctx *c, wf_batch *out) {
    const wf_arch *a = &m->arch;
    int64_t B = h->B, T = h->T, N = B * T;
    bool vit = a->family == WF_FAMILY_VIT;
    WF_TRY(check_batch(m, h));
    memset(out, 0, sizeof *out);
    out->B = B, out->T = T;
    host_batch hb = {0};
    void *p = NULL;
    if (!vit) WF_TRY(put(c, &out->ids, WF_I32, 2, B, T, h->ids));
    WF_TRY(place(c, &out->pos, WF_I32, 2, B, T, &p));
    hb.pos = p;
    if (a->type_vocab) {
        WF_TRY(place(c, &out->types, WF_I32, 2, B, T, &p));
        hb.types = p;
    }
    if (h->mask) WF_TRY(put(c, &out->key_mask, WF_I32, 2, B, T, h->mask));
    if (h->doc_ids) WF_TRY(put(c, &out->doc_ids, WF_I32, 2, B, T, h->doc_ids));
    WF_TRY(place(c, &out->pick, WF_I32, 1, B, 0, &p));
    hb.pick = p;
    if (h->targets) WF_TRY(put(c, &out->targets, WF_I32, 2, B, T, h->targets));
    if (h->labels) WF_TRY(put(c, &out->labels, WF_I32, 1, B, 0, h->labels));
    if (h->values) { /* regression targets (B, 1) in the model dtype */
        WF_TRY(place(c, &out->values, m->dtype, 2, B, 1, &p));
        for (int64_t i = 0; i < B; i++) wf_store_f32(p, m->dtype, (size_t)i, h->values[i]);
    }
    if (vit) {
        WF_TRY(place(c, &out->gather, WF_I32, 1, N, 0, &p));
        hb.gather = p;
        int64_t row = a->channels * a->patch_size * a->patch_size;
        WF_TRY(place(c, &out->patches, m->dtype, 2, B * n_patches(a), row, &p));
        vit_patches(a, h->pixels, B, m->dtype, p);
    }
    fill_host(m, h, &hb);
    return WF_OK;
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

/* The host image of h (with a soft prompt's rows) in host[0, cap), from the arena's current
 * mark on; *used is the length of the region, which one H2D copy sends. */
static wf_status build(const wf_model *m, const wf_batch_host *h, wf_arena *arena, char *host,
                       size_t cap, wf_batch *out, size_t *used) {
    stage_ctx c = {arena, arena->used, host, cap};
    int64_t Nv = wf_model_seq_len(m, 0);
    wf_batch_host hp = *h;
    if (Nv > 0) {
        if (h->doc_ids || h->pos_offset)
            return wf_error(WF_ERR_INVALID, "batch: a soft prompt (prompt tuning) needs unpacked "
                            "rows (data.packing false) and no KV cache");
        if (!h->ids) return wf_error(WF_ERR_INVALID, "batch: no token ids");
        if (!m->prompt_stage)
            return wf_error(WF_ERR_INVALID, "batch: the soft prompt has no staging buffer");
        WF_TRY(with_prompt(m->prompt_stage, h, Nv, &hp));
    }
    WF_TRY(build_batch(m, &hp, &c, out));
    *used = arena->used - c.mark;
    return WF_OK;
}

wf_status wf_batch_upload(const wf_model *m, const wf_batch_host *h, wf_arena *arena, wf_batch *out) {
    wf_backend *be = m->be;
    size_t cap = wf_batch_bytes(m, h->B > 0 ? h->B : 1, h->T > 0 ? h->T : 1), used = 0;
    char *host = calloc(1, cap); /* zeroed: the alignment gaps go up too */
    if (!host) return wf_error(WF_ERR_OOM, "batch: out of host memory");
    char *dev = arena->base + arena->used;
    wf_status s = build(m, h, arena, host, cap, out, &used);
    if (s == WF_OK) s = be->copy(be, dev, host, used, WF_COPY_H2D);
    if (s == WF_OK) s = be->sync(be); /* the host buffer is freed next */
    free(host);
    return s;
}

wf_status wf_batch_stage_create(wf_backend *be, size_t bytes, wf_batch_stage *st) {
    memset(st, 0, sizeof *st);
    st->cap = bytes;
    for (int k = 0; k < 2; k++) {
        WF_TRY(be->host_alloc(be, bytes, (void **)&st->host[k]));
        memset(st->host[k], 0, bytes); /* the alignment gaps go up too: defined bytes */
        WF_TRY(be->event_create(be, &st->copied[k]));
    }
    return WF_OK;
}

void wf_batch_stage_destroy(wf_backend *be, wf_batch_stage *st) {
    for (int k = 0; k < 2; k++) {
        if (st->copied[k]) be->event_destroy(be, st->copied[k]);
        if (st->host[k]) be->host_free(be, st->host[k]);
    }
    memset(st, 0, sizeof *st);
}

wf_status wf_batch_upload_staged(const wf_model *m, const wf_batch_host *h, wf_arena *arena,
                                 wf_batch_stage *st, wf_batch *out) {
    wf_backend *be = m->be;
    int k = st->next;
    /* host[k] was last read by the copy two uploads ago: wait for that copy only (the device
     * keeps running the batch in between), never for the whole stream */
    WF_TRY(be->event_wait(be, st->copied[k]));
    char *dev = arena->base + arena->used;
    size_t used = 0;
    WF_TRY(build(m, h, arena, st->host[k], st->cap, out, &used));
    WF_TRY(be->copy(be, dev, st->host[k], used, WF_COPY_H2D));
    WF_TRY(be->event_record(be, st->copied[k]));
    st->next = 1 - k;
    return WF_OK;
}
