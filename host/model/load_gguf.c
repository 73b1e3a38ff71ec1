/* Loading a GGUF file (llama.cpp's format) onto a backend: the architecture from the
 * "<arch>.*" metadata, the llama weight plan (weights.c) with llama.cpp's tensor names
 * (token_embd, blk.N.attn_q, ...), every tensor dequantized to fp32 on load, and llama.cpp's
 * q/k row interleaving undone so RoPE matches the HF weights (convert_hf_to_gguf.py permutes
 * q/k for the "llama" architecture only). Supported: general.architecture llama and qwen2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_load.h"
#include "weft/gguf.h"

/* HF llama slot name -> llama.cpp tensor name. */
static bool gguf_name(const char *hf, char *out, size_t cap) {
    static const char *const whole[][2] = {
        {"embed_tokens.weight", "token_embd.weight"}, {"norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"}};
    static const char *const part[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"}, {"self_attn.q_proj.", "attn_q."},
        {"self_attn.k_proj.", "attn_k."}, {"self_attn.v_proj.", "attn_v."},
        {"self_attn.o_proj.", "attn_output."}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.", "ffn_gate."}, {"mlp.up_proj.", "ffn_up."}, {"mlp.down_proj.", "ffn_down."}};
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++)
        if (strcmp(hf, whole[i][0]) == 0) return snprintf(out, cap, "%s", whole[i][1]) < (int)cap;
    int layer, n = 0;
    if (sscanf(hf, "layers.%d.%n", &layer, &n) != 1 || n == 0) return false;
    const char *rest = hf + n;
    for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
        size_t k = strlen(part[i][0]);
        if (strncmp(rest, part[i][0], k) == 0)
            return snprintf(out, cap, "blk.%d.%s%s", layer, part[i][1], rest + k) < (int)cap;
    }
    return false;
}

static wf_status meta_int(const wf_gguf *g, const char *arch, const char *key, bool required,
                          int64_t def, int64_t *out) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!required && !wf_gguf_find_kv(g, k)) {
        *out = def;
        return WF_OK;
    }
    WF_TRY(wf_gguf_get_int(g, k, out));
    if (*out < 1) return wf_error(WF_ERR_FORMAT, "%s: key '%s' must be >= 1", wf_gguf_name(g), k);
    return WF_OK;
}

/* wf_arch of a llama-family GGUF: "<arch>.*" hyperparameters and the tokenizer's size. */
static wf_status arch_from_gguf(const wf_gguf *g, wf_arch *a) {
    const char *arch;
    WF_TRY(wf_gguf_get_str(g, "general.architecture", &arch));
    if (strcmp(arch, "llama") != 0 && strcmp(arch, "qwen2") != 0)
        return wf_error(WF_ERR_UNSUPPORTED, "%s: general.architecture \"%s\" is not supported "
                        "(supported: llama, qwen2)", wf_gguf_name(g), arch);
    memset(a, 0, sizeof *a);
    a->family = WF_FAMILY_LLAMA;
    snprintf(a->model_type, sizeof a->model_type, "%s", arch);
    snprintf(a->architecture, sizeof a->architecture, "GGUF %s", arch);
    WF_TRY(meta_int(g, arch, "embedding_length", true, 0, &a->hidden));
    WF_TRY(meta_int(g, arch, "block_count", true, 0, &a->n_layers));
    WF_TRY(meta_int(g, arch, "feed_forward_length", true, 0, &a->ffn));
    WF_TRY(meta_int(g, arch, "attention.head_count", true, 0, &a->n_heads));
    WF_TRY(meta_int(g, arch, "attention.head_count_kv", false, a->n_heads, &a->n_kv_heads));
    WF_TRY(meta_int(g, arch, "attention.key_length", false, a->hidden / a->n_heads, &a->head_dim));
    WF_TRY(meta_int(g, arch, "context_length", false, 2048, &a->max_positions));
    const char *const *tokens;
    int64_t ntok = 0;
    if (wf_gguf_find_kv(g, "tokenizer.ggml.tokens")) WF_TRY(wf_gguf_get_arr_str(g, "tokenizer.ggml.tokens", &tokens, &ntok));
    WF_TRY(meta_int(g, arch, "vocab_size", ntok == 0, ntok, &a->vocab));
    char k[128];
    double v;
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    a->rope_theta = 10000.0;
    if (wf_gguf_find_kv(g, k)) WF_TRY(wf_gguf_get_float(g, k, &a->rope_theta));
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    WF_TRY(wf_gguf_get_float(g, k, &v));
    a->norm_eps = (float)v;
    a->norm = WF_NORM_RMSNORM, a->pre_norm = true, a->causal = true, a->pos = WF_POS_ROPE;
    a->gated_mlp = true, a->act = WF_ACT_SILU, a->head = WF_HEAD_LM, a->n_labels = 0;
    a->qkv_bias = wf_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    a->out_bias = wf_gguf_find_tensor(g, "blk.0.attn_output.bias") != NULL;
    a->tied_embeddings = wf_gguf_find_tensor(g, "output.weight") == NULL;
    a->pad_token_id = a->bos_token_id = a->eos_token_id = -1;
    int64_t id;
    if (wf_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id) == WF_OK) a->bos_token_id = (int32_t)id;
    if (wf_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &id) == WF_OK) a->eos_token_id = (int32_t)id;
    if (wf_gguf_get_int(g, "tokenizer.ggml.padding_token_id", &id) == WF_OK) a->pad_token_id = (int32_t)id;
    if (wf_gguf_find_tensor(g, "rope_freqs.weight"))
        return wf_error(WF_ERR_UNSUPPORTED, "%s: rope scaling stored as rope_freqs.weight (llama3 "
                        "scaling in GGUF) is not supported yet", wf_gguf_name(g));
    if (a->hidden % a->n_heads || a->n_heads % a->n_kv_heads || a->head_dim % 2)
        return wf_error(WF_ERR_FORMAT, "%s: inconsistent attention sizes (hidden %lld, heads %lld, "
                        "kv heads %lld, head dim %lld)", wf_gguf_name(g), (long long)a->hidden,
                        (long long)a->n_heads, (long long)a->n_kv_heads, (long long)a->head_dim);
    return WF_OK;
}

/* The GGUF tensor of each slot, checked against the slot's shape. */
static wf_status match(const wf_model *m, const wf_gguf *g, const wf_gguf_tensor **src, int64_t *big) {
    *big = 0;
    for (int i = 0; i < m->n_slots; i++) {
        char name[160];
        const wf_slot *s = &m->slots[i];
        src[i] = NULL;
        bool named = gguf_name(s->name, name, sizeof name);
        if (s->fresh && (!named || !wf_gguf_find_tensor(g, name))) continue; /* a new head */
        if (!named)
            return wf_error(WF_ERR_UNSUPPORTED, "%s: no GGUF name for weight '%s'", wf_gguf_name(g), s->name);
        WF_TRY(wf_gguf_get_tensor(g, name, &src[i]));
        const wf_gguf_tensor *t = src[i];
        bool ok = t->n_dims == s->dst->ndim;
        for (int d = 0; ok && d < t->n_dims; d++) ok = t->shape[d] == s->dst->shape[d];
        if (!ok)
            return wf_error(WF_ERR_FORMAT, "%s: tensor '%s' has %d dims [%lld, %lld], expected [%lld, "
                            "%lld] (from the metadata)", wf_gguf_name(g), name, t->n_dims,
                            (long long)t->shape[0], (long long)t->shape[1],
                            (long long)s->dst->shape[0], (long long)s->dst->shape[1]);
        if (!wf_ggml_type_can_dequant(t->type))
            return wf_error(WF_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which weft cannot "
                            "dequantize", wf_gguf_name(g), name, wf_ggml_type_name(t->type));
        if (t->numel > *big) *big = t->numel;
    }
    return WF_OK;
}

static wf_status load_tensors(wf_model *m, const wf_gguf *g, uint64_t seed) {
    const wf_gguf_tensor **src = calloc((size_t)m->n_slots, sizeof *src);
    const void **present = calloc((size_t)m->n_slots, sizeof *present);
    if (!src || !present) {
        free(src), free(present);
        return wf_error(WF_ERR_OOM, "%s: out of memory", wf_gguf_name(g));
    }
    int64_t big = 0;
    wf_status s = match(m, g, src, &big);
    for (int i = 0; i < m->n_slots; i++) present[i] = src[i] ? (const void *)src[i] : m->slots[i].fresh ? g : NULL;
    if (s == WF_OK) s = wf_model_alloc(m, present);
    free(present);
    float *buf = s == WF_OK ? malloc((size_t)big * sizeof(float) + 1) : NULL;
    if (s == WF_OK && !buf) s = wf_error(WF_ERR_OOM, "%s: out of host memory", wf_gguf_name(g));
    bool permuted = strcmp(m->arch.model_type, "llama") == 0;
    for (int i = 0; i < m->n_slots && s == WF_OK; i++) {
        wf_tensor *dst = m->slots[i].dst;
        if (!src[i]) {
            s = wf_model_init_fresh(m, &m->slots[i], seed, i);
            continue;
        }
        s = wf_gguf_dequant_f32(src[i], buf, src[i]->numel);
        bool wq = strstr(m->slots[i].name, "self_attn.q_proj.weight") != NULL;
        bool wk = strstr(m->slots[i].name, "self_attn.k_proj.weight") != NULL;
        if (s == WF_OK && permuted && (wq || wk))
            s = wf_gguf_unpermute_qk(buf, dst->shape[0], dst->shape[1],
                                     (int)(wq ? m->arch.n_heads : m->arch.n_kv_heads));
        if (s == WF_OK) s = wf_model_upload(m, dst, buf);
    }
    free(buf);
    free(src);
    return s;
}

wf_status wf_model_load_gguf(const char *path, wf_backend *be, wf_dtype dt, wf_model *out) {
    return wf_model_load_gguf_ex(path, be, dt, NULL, out);
}

wf_status wf_model_load_gguf_ex(const char *path, wf_backend *be, wf_dtype dt,
                                const wf_load_opts *o, wf_model *out) {
    memset(out, 0, sizeof *out);
    wf_gguf *g = NULL;
    WF_TRY(wf_gguf_open(path, &g));
    out->be = be, out->dtype = dt;
    wf_status s = arch_from_gguf(g, &out->arch);
    if (s == WF_OK) s = wf_model_apply_head(out, o);
    if (s == WF_OK) s = wf_model_plan(out);
    if (s == WF_OK) wf_model_mark_fresh(out, o);
    if (s == WF_OK) s = load_tensors(out, g, o ? o->seed : 0);
    wf_gguf_close(g);
    if (s != WF_OK) wf_model_free(out);
    return s;
}

wf_status wf_model_inspect_gguf(const char *path, wf_model *out, wf_checkpoint_info *info) {
    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    wf_gguf *g = NULL;
    WF_TRY(wf_gguf_open(path, &g));
    wf_status s = arch_from_gguf(g, &out->arch);
    if (s == WF_OK) s = wf_model_plan(out);
    const wf_gguf_tensor **src = s == WF_OK ? calloc((size_t)out->n_slots, sizeof *src) : NULL;
    int64_t big;
    if (s == WF_OK && !src) s = wf_error(WF_ERR_OOM, "%s: out of memory", path);
    if (s == WF_OK) s = match(out, g, src, &big);
    if (s == WF_OK) {
        info->gguf = true, info->files = 1, info->used = out->n_slots;
        info->tensors = wf_gguf_tensor_count(g);
        for (int64_t i = 0; i < info->tensors; i++) {
            const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
            info->bytes += (int64_t)t->nbytes;
            if ((unsigned)t->type < 64) info->dtype_numel[t->type] += t->numel;
        }
    }
    free(src);
    wf_gguf_close(g);
    return s;
}
