/* Loading a Hugging Face model directory (config.json + safetensors, single or sharded) onto a
 * backend: the weight plan (weights.c) names every tensor and its shape; this file finds each
 * in the checkpoint (with or without the head-model prefix, legacy gamma/beta names too),
 * checks shape and dtype, converts to the model dtype and uploads it. Every error names the
 * file and the tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_load.h"
#include "weft/json.h"
#include "weft/safetensors.h"
#include <cjson/cJSON.h>

/* The checkpoint tensor of a slot: prefix + name, then name, then legacy LayerNorm names. */
static const wf_st_tensor *find_slot(const wf_st_model *st, const wf_model *m, const wf_slot *s,
                                     bool prefixed) {
    char name[192];
    snprintf(name, sizeof name, "%s%s", s->top_level || !prefixed ? "" : m->prefix, s->name);
    const wf_st_tensor *t = wf_st_model_find(st, name);
    size_t n = strlen(name);
    if (!t && n > 7 && strcmp(name + n - 7, ".weight") == 0 && strstr(name, "LayerNorm")) {
        snprintf(name + n - 7, sizeof name - (n - 7), ".gamma");
        t = wf_st_model_find(st, name);
    } else if (!t && n > 5 && strcmp(name + n - 5, ".bias") == 0 && strstr(name, "LayerNorm")) {
        snprintf(name + n - 5, sizeof name - (n - 5), ".beta");
        t = wf_st_model_find(st, name);
    }
    return t;
}

/* Whether the checkpoint stores the base model under the family prefix ("model.layers.0...")
 * or bare ("layers.0..."): decided by the first non-head slot. */
static bool detect_prefix(const wf_st_model *st, const wf_model *m) {
    for (int i = 0; i < m->n_slots; i++)
        if (!m->slots[i].top_level) return find_slot(st, m, &m->slots[i], true) != NULL;
    return false;
}

static wf_status shape_error(const char *dir, const wf_st_tensor *t, const int64_t *want, int nwant) {
    char got[128] = "[", exp[128] = "[";
    for (int i = 0; i < t->ndim; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    for (int i = 0; i < nwant; i++)
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? ", " : "", (long long)want[i]);
    return wf_error(WF_ERR_FORMAT, "%s: tensor '%s' in %s has shape %s], expected %s] (from "
                    "config.json)", dir, t->name, t->file, got, exp);
}

/* FLATTEN slots: leading 1s of the checkpoint shape dropped, then (d0, rest...) must give the
 * slot's (d0, d1) with d1 the product of the rest (ViT [1, 1, C], [1, S, C], [C, ch, P, P]). */
static bool flatten_matches(const wf_st_tensor *t, const wf_tensor *d) {
    int lead = 0;
    while (lead < t->ndim - 1 && t->shape[lead] == 1) lead++;
    if (d->ndim == 1) return t->numel == d->shape[0];
    int64_t rest = 1;
    for (int i = lead + 1; i < t->ndim; i++) rest *= t->shape[i];
    return t->shape[lead] == d->shape[0] && rest == d->shape[1];
}

/* Checks that checkpoint tensor t can fill slot s. */
static wf_status check_slot(const char *dir, const wf_st_tensor *t, const wf_slot *s) {
    const wf_tensor *d = s->dst;
    int64_t want[4] = {0};
    int nwant = d->ndim;
    bool ok;
    switch (s->xform) {
    case WF_XFORM_TRANSPOSE: want[0] = d->shape[1], want[1] = d->shape[0]; break;
    case WF_XFORM_QKV_Q: case WF_XFORM_QKV_K: case WF_XFORM_QKV_V: /* Conv1D [C, 3C] / [3C] */
        if (d->ndim == 2) want[0] = d->shape[1], want[1] = 3 * d->shape[0];
        else want[0] = 3 * d->shape[0];
        break;
    default: memcpy(want, d->shape, sizeof want); break;
    }
    if (s->xform == WF_XFORM_FLATTEN) {
        ok = flatten_matches(t, d);
    } else {
        ok = t->ndim == nwant;
        for (int i = 0; ok && i < nwant; i++) ok = t->shape[i] == want[i];
    }
    if (!ok) return shape_error(dir, t, want, nwant);
    if (t->dtype != WF_ST_F32 && t->dtype != WF_ST_F16 && t->dtype != WF_ST_BF16 && t->dtype != WF_ST_F64)
        return wf_error(WF_ERR_FORMAT, "%s: tensor '%s' in %s has dtype %s, expected F32, F16, BF16 "
                        "or F64", dir, t->name, t->file, wf_st_dtype_name(t->dtype));
    return WF_OK;
}

/* Reads slot s from t into dst (fp32, the slot's shape), applying its transform. */
static wf_status read_slot(const wf_st_tensor *t, const wf_slot *s, float *src, float *dst) {
    WF_TRY(wf_st_read_f32(t, src, t->numel));
    const wf_tensor *d = s->dst;
    int64_t n = wf_tensor_numel(d);
    switch (s->xform) {
    case WF_XFORM_NONE: case WF_XFORM_FLATTEN: memcpy(dst, src, (size_t)n * sizeof *dst); break;
    case WF_XFORM_TRANSPOSE: wf_load_transpose(dst, src, t->shape[0], t->shape[1]); break;
    case WF_XFORM_QKV_Q: case WF_XFORM_QKV_K: case WF_XFORM_QKV_V: {
        int part = s->xform - WF_XFORM_QKV_Q;
        if (d->ndim == 1) {
            memcpy(dst, src + part * d->shape[0], (size_t)n * sizeof *dst);
        } else { /* Conv1D [C, 3C]: output rows part*C .. of the transpose */
            int64_t C = d->shape[0], K = d->shape[1];
            for (int64_t o = 0; o < C; o++)
                for (int64_t i = 0; i < K; i++) dst[o * K + i] = src[i * 3 * C + part * C + o];
        }
        break;
    }
    }
    return WF_OK;
}

/* Finds and checks the checkpoint tensor of every slot: src[i] is NULL for an absent
 * optional slot. */
static wf_status match_slots(const wf_model *m, const wf_st_model *st, const char *dir,
                             const wf_st_tensor **src, int64_t *biggest) {
    bool prefixed = detect_prefix(st, m);
    *biggest = 0;
    for (int i = 0; i < m->n_slots; i++) {
        const wf_slot *sl = &m->slots[i];
        src[i] = find_slot(st, m, sl, prefixed);
        if (!src[i] && !sl->optional && !sl->fresh)
            return wf_error(WF_ERR_FORMAT, "%s: tensor '%s%s' is missing from the checkpoint (%s "
                            "model, %s)", dir, sl->top_level || !prefixed ? "" : m->prefix, sl->name,
                            m->arch.model_type, m->arch.architecture[0] ? m->arch.architecture : "bare");
        if (!src[i]) continue;
        WF_TRY(check_slot(dir, src[i], sl));
        if (src[i]->numel > *biggest) *biggest = src[i]->numel;
    }
    return WF_OK;
}

static wf_status load_weights(wf_model *m, const wf_st_model *st, const char *dir, uint64_t seed) {
    const wf_st_tensor **src = calloc((size_t)m->n_slots, sizeof *src);
    const void **present = calloc((size_t)m->n_slots, sizeof *present);
    if (!src || !present) {
        free(src), free(present);
        return wf_error(WF_ERR_OOM, "%s: out of memory", dir);
    }
    int64_t biggest = 0;
    wf_status s = match_slots(m, st, dir, src, &biggest);
    for (int i = 0; i < m->n_slots; i++) present[i] = src[i] ? (const void *)src[i] : m->slots[i].fresh ? dir : NULL;
    if (s == WF_OK) s = wf_model_alloc(m, present);
    for (int i = 0; i < m->n_slots && s == WF_OK; i++)
        if (!src[i] && m->slots[i].fresh) s = wf_model_init_fresh(m, &m->slots[i], seed, i);
    free(present);
    float *buf = s == WF_OK ? malloc((size_t)biggest * 2 * sizeof(float) + 1) : NULL;
    if (s == WF_OK && !buf) s = wf_error(WF_ERR_OOM, "%s: out of host memory", dir);
    for (int i = 0; i < m->n_slots && s == WF_OK; i++)
        if (src[i]) {
            s = read_slot(src[i], &m->slots[i], buf, buf + biggest);
            if (s == WF_OK) s = wf_model_upload(m, m->slots[i].dst, buf + biggest);
        }
    free(buf);
    free(src);
    return s;
}

static wf_status open_hf(const char *dir, const wf_load_opts *o, wf_model *out, wf_st_model **st) {
    memset(out, 0, sizeof *out);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
        return wf_error(WF_ERR_INVALID, "%s: path too long", dir);
    WF_TRY(wf_arch_from_hf_config(path, &out->arch));
    WF_TRY(wf_model_apply_head(out, o));
    WF_TRY(wf_model_plan(out));
    wf_model_mark_fresh(out, o);
    return wf_st_model_open(dir, st);
}

wf_status wf_model_inspect_hf(const char *dir, wf_model *out, wf_checkpoint_info *info) {
    wf_st_model *st = NULL;
    wf_status s = open_hf(dir, NULL, out, &st);
    const wf_st_tensor **src = s == WF_OK ? calloc((size_t)out->n_slots, sizeof *src) : NULL;
    int64_t biggest;
    if (s == WF_OK && !src) s = wf_error(WF_ERR_OOM, "%s: out of memory", dir);
    if (s == WF_OK) s = match_slots(out, st, dir, src, &biggest);
    if (s == WF_OK) {
        memset(info, 0, sizeof *info);
        info->files = wf_st_model_file_count(st);
        info->tensors = wf_st_model_count(st);
        for (int64_t i = 0; i < info->tensors; i++) {
            const wf_st_tensor *t = wf_st_model_tensor_at(st, i);
            info->bytes += (int64_t)t->nbytes;
            info->dtype_numel[t->dtype < WF_ST_DTYPE_COUNT ? t->dtype : 0] += t->numel;
        }
        for (int i = 0; i < out->n_slots; i++) info->used += src[i] != NULL;
    }
    free(src);
    wf_st_model_close(st);
    return s;
}

wf_status wf_model_load_hf(const char *dir, wf_backend *be, wf_dtype dt, wf_model *out) {
    return wf_model_load_hf_ex(dir, be, dt, NULL, out);
}

/* A model from config.json alone: std is its initializer_range (transformers' default 0.02). */
static wf_status load_random(const char *dir, wf_backend *be, wf_dtype dt, const wf_load_opts *o,
                             wf_model *out) {
    memset(out, 0, sizeof *out);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
        return wf_error(WF_ERR_INVALID, "%s: path too long", dir);
    cJSON *root = NULL;
    double std = 0.02;
    WF_TRY(wf_json_load(path, &root));
    wf_status s = wf_json_num((wf_json_ctx){path, ""}, root, "initializer_range", false, 0.02, &std);
    cJSON_Delete(root);
    if (s == WF_OK && !(std > 0 && std < 10))
        s = wf_error(WF_ERR_FORMAT, "%s: key 'initializer_range': %g is outside (0, 10)", path, std);
    if (s == WF_OK) s = wf_arch_from_hf_config(path, &out->arch);
    if (s == WF_OK) s = wf_model_apply_head(out, o);
    if (s == WF_OK) s = wf_model_plan(out);
    out->be = be, out->dtype = dt;
    if (s == WF_OK) s = wf_model_init_random(out, o->seed, std);
    if (s != WF_OK) wf_model_free(out);
    return s;
}

wf_status wf_model_load_hf_ex(const char *dir, wf_backend *be, wf_dtype dt, const wf_load_opts *o,
                              wf_model *out) {
    if (o && o->random_init) return load_random(dir, be, dt, o, out);
    wf_st_model *st = NULL;
    wf_status s = open_hf(dir, o, out, &st);
    out->be = be, out->dtype = dt;
    if (s == WF_OK) s = load_weights(out, st, dir, o ? o->seed : 0);
    wf_st_model_close(st);
    if (s != WF_OK) wf_model_free(out);
    return s;
}
