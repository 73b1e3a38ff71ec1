/* Hugging Face config.json -> wf_arch, for the gpt2, llama (llama, mistral, qwen2), bert and vit
 * families. Key names, defaults and meanings: ../shared/reference/FORMATS.md and the
 * transformers configuration_<family>.py files. Unknown keys are ignored (configs carry many
 * that do not change the math); keys that would change the math and are not supported are
 * errors naming the key. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weft/arch.h"
#include "weft/json.h"

#define BIG ((int64_t)1 << 40)

const char *wf_family_name(wf_family f) {
    static const char *n[] = {"gpt2", "llama", "bert", "vit"};
    return (unsigned)f < 4 ? n[f] : "?";
}

const char *wf_head_name(wf_head_kind h) {
    static const char *n[] = {"none", "causal-lm", "sequence-classification", "regression",
                              "image-classification"};
    return (unsigned)h < 5 ? n[h] : "?";
}

static wf_status parse_act(const char *where, const char *key, const char *v, wf_act *out) {
    if (strcmp(v, "gelu") == 0) *out = WF_ACT_GELU_ERF;
    else if (strcmp(v, "gelu_new") == 0 || strcmp(v, "gelu_pytorch_tanh") == 0) *out = WF_ACT_GELU_TANH;
    else if (strcmp(v, "silu") == 0 || strcmp(v, "swish") == 0) *out = WF_ACT_SILU;
    else
        return wf_error(WF_ERR_UNSUPPORTED, "%s: key '%s': activation \"%s\" is not supported "
                        "(expected gelu, gelu_new, gelu_pytorch_tanh or silu)", where, key, v);
    return WF_OK;
}

/* A token id that may be an integer or a list of them (Llama-3 lists several eos ids). */
static wf_status token_id(wf_json_ctx c, const cJSON *root, const char *key, int32_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    *out = -1;
    if (!v || cJSON_IsNull(v)) return WF_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(d >= 0 && d <= INT32_MAX && d == floor(d)))
        return wf_error(WF_ERR_FORMAT, "%s: key '%s': expected a token id (an integer >= 0) or a "
                        "list of them", c.where, key);
    *out = (int32_t)d;
    return WF_OK;
}

/* Number of labels: "num_labels", else the size of "id2label", else 2 (transformers' default). */
static wf_status n_labels(wf_json_ctx c, const cJSON *root, int64_t *out) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    int64_t def = cJSON_IsObject(m) ? cJSON_GetArraySize(m) : 2;
    return wf_json_int(c, root, "num_labels", false, def, 1, 1 << 20, out);
}

/* The head from architectures[0] (e.g. "LlamaForCausalLM", "BertForSequenceClassification"). */
static wf_status head_from_architecture(wf_json_ctx c, const cJSON *root, wf_arch *a,
                                        wf_head_kind bare) {
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *first = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    if (cJSON_IsString(first)) snprintf(a->architecture, sizeof a->architecture, "%s", first->valuestring);
    const char *n = a->architecture;
    char problem[64];
    WF_TRY(wf_json_str(c, root, "problem_type", false, "", problem, sizeof problem));
    WF_TRY(n_labels(c, root, &a->n_labels));
    if (strstr(n, "ForCausalLM") || strstr(n, "LMHeadModel")) a->head = WF_HEAD_LM;
    else if (strstr(n, "ForImageClassification")) a->head = WF_HEAD_IMAGE_CLS;
    else if (strstr(n, "ForSequenceClassification"))
        a->head = strcmp(problem, "regression") == 0 || a->n_labels == 1 ? WF_HEAD_REGRESSION
                                                                         : WF_HEAD_SEQ_CLS;
    else a->head = bare; /* bare model or an unknown head: use the family's natural head */
    if (a->head == WF_HEAD_REGRESSION) a->n_labels = 1;
    return WF_OK;
}

static wf_status parse_gpt2(wf_json_ctx c, const cJSON *r, wf_arch *a) {
    a->family = WF_FAMILY_GPT2;
    WF_TRY(wf_json_int(c, r, "vocab_size", true, 0, 1, INT32_MAX, &a->vocab));
    WF_TRY(wf_json_int(c, r, "n_embd", true, 0, 1, BIG, &a->hidden));
    WF_TRY(wf_json_int(c, r, "n_layer", true, 0, 1, 4096, &a->n_layers));
    WF_TRY(wf_json_int(c, r, "n_head", true, 0, 1, 4096, &a->n_heads));
    WF_TRY(wf_json_int(c, r, "n_positions", true, 0, 1, BIG, &a->max_positions));
    WF_TRY(wf_json_int(c, r, "n_inner", false, 4 * a->hidden, 1, BIG, &a->ffn));
    double eps;
    WF_TRY(wf_json_num(c, r, "layer_norm_epsilon", false, 1e-5, &eps));
    a->norm_eps = (float)eps;
    char act[32];
    WF_TRY(wf_json_str(c, r, "activation_function", false, "gelu_new", act, sizeof act));
    WF_TRY(parse_act(c.where, "activation_function", act, &a->act));
    a->n_kv_heads = a->n_heads;
    a->norm = WF_NORM_LAYERNORM, a->pre_norm = true, a->causal = true, a->pos = WF_POS_LEARNED;
    a->qkv_bias = a->out_bias = a->mlp_bias = true;
    WF_TRY(wf_json_bool(c, r, "tie_word_embeddings", false, true, &a->tied_embeddings));
    return head_from_architecture(c, r, a, WF_HEAD_LM);
}

/* rope_scaling (transformers 4.x) or rope_parameters (5.x); "type" is the older "rope_type". */
static wf_status parse_rope(wf_json_ctx c, const cJSON *r, wf_arch *a) {
    const cJSON *rp = NULL, *rs = NULL;
    WF_TRY(wf_json_obj(c, r, "rope_parameters", &rp));
    WF_TRY(wf_json_obj(c, r, "rope_scaling", &rs));
    WF_TRY(wf_json_num(c, r, "rope_theta", false, 10000.0, &a->rope_theta));
    const cJSON *sc = rs ? rs : rp;
    wf_json_ctx sub = {c.where, rs ? "rope_scaling" : "rope_parameters"};
    if (rp) WF_TRY(wf_json_num((wf_json_ctx){c.where, "rope_parameters"}, rp, "rope_theta", false,
                               a->rope_theta, &a->rope_theta));
    if (!(a->rope_theta > 0)) return wf_error(WF_ERR_FORMAT, "%s: rope_theta must be > 0", c.where);
    if (!sc) return WF_OK;
    char type[32];
    WF_TRY(wf_json_str(sub, sc, "type", false, "default", type, sizeof type));
    WF_TRY(wf_json_str(sub, sc, "rope_type", false, type, type, sizeof type));
    if (strcmp(type, "default") == 0) return WF_OK;
    if (strcmp(type, "llama3") != 0)
        return wf_error(WF_ERR_UNSUPPORTED, "%s: key '%s.rope_type': \"%s\" is not supported "
                        "(expected default or llama3)", c.where, sub.prefix, type);
    double f, lo, hi;
    int64_t orig;
    WF_TRY(wf_json_num(sub, sc, "factor", true, 0, &f));
    WF_TRY(wf_json_num(sub, sc, "low_freq_factor", true, 0, &lo));
    WF_TRY(wf_json_num(sub, sc, "high_freq_factor", true, 0, &hi));
    WF_TRY(wf_json_int(sub, sc, "original_max_position_embeddings", true, 0, 1, BIG, &orig));
    if (!(f > 0) || !(lo > 0) || !(hi > lo))
        return wf_error(WF_ERR_FORMAT, "%s: key '%s': llama3 scaling needs factor > 0 and "
                        "high_freq_factor > low_freq_factor > 0", c.where, sub.prefix);
    a->rope_scaling = (wf_rope_scaling){(float)f, (float)lo, (float)hi, (int)orig};
    return WF_OK;
}

static wf_status parse_llama(wf_json_ctx c, const cJSON *r, wf_arch *a) {
    a->family = WF_FAMILY_LLAMA;
    WF_TRY(wf_json_int(c, r, "vocab_size", true, 0, 1, INT32_MAX, &a->vocab));
    WF_TRY(wf_json_int(c, r, "hidden_size", true, 0, 1, BIG, &a->hidden));
    WF_TRY(wf_json_int(c, r, "intermediate_size", true, 0, 1, BIG, &a->ffn));
    WF_TRY(wf_json_int(c, r, "num_hidden_layers", true, 0, 1, 4096, &a->n_layers));
    WF_TRY(wf_json_int(c, r, "num_attention_heads", true, 0, 1, 4096, &a->n_heads));
    WF_TRY(wf_json_int(c, r, "num_key_value_heads", false, a->n_heads, 1, a->n_heads, &a->n_kv_heads));
    WF_TRY(wf_json_int(c, r, "head_dim", false, a->hidden / a->n_heads, 1, BIG, &a->head_dim));
    WF_TRY(wf_json_int(c, r, "max_position_embeddings", false, 2048, 1, BIG, &a->max_positions));
    double eps;
    WF_TRY(wf_json_num(c, r, "rms_norm_eps", false, 1e-6, &eps));
    a->norm_eps = (float)eps;
    char act[32];
    WF_TRY(wf_json_str(c, r, "hidden_act", false, "silu", act, sizeof act));
    WF_TRY(parse_act(c.where, "hidden_act", act, &a->act));
    bool qwen2 = strcmp(a->model_type, "qwen2") == 0;
    WF_TRY(wf_json_bool(c, r, "attention_bias", false, false, &a->qkv_bias));
    a->out_bias = a->qkv_bias;
    if (qwen2) a->qkv_bias = true, a->out_bias = false; /* Qwen2: q/k/v biases, none on o_proj */
    WF_TRY(wf_json_bool(c, r, "mlp_bias", false, false, &a->mlp_bias));
    WF_TRY(wf_json_bool(c, r, "tie_word_embeddings", false, false, &a->tied_embeddings));
    WF_TRY(parse_rope(c, r, a));
    a->norm = WF_NORM_RMSNORM, a->pre_norm = true, a->causal = true, a->pos = WF_POS_ROPE;
    a->gated_mlp = true;
    if (a->head_dim % 2)
        return wf_error(WF_ERR_FORMAT, "%s: head_dim %lld must be even for RoPE", c.where,
                        (long long)a->head_dim);
    return head_from_architecture(c, r, a, WF_HEAD_LM);
}

static wf_status parse_encoder_common(wf_json_ctx c, const cJSON *r, wf_arch *a, double eps_def) {
    WF_TRY(wf_json_int(c, r, "hidden_size", true, 0, 1, BIG, &a->hidden));
    WF_TRY(wf_json_int(c, r, "num_hidden_layers", true, 0, 1, 4096, &a->n_layers));
    WF_TRY(wf_json_int(c, r, "num_attention_heads", true, 0, 1, 4096, &a->n_heads));
    WF_TRY(wf_json_int(c, r, "intermediate_size", true, 0, 1, BIG, &a->ffn));
    double eps;
    WF_TRY(wf_json_num(c, r, "layer_norm_eps", false, eps_def, &eps));
    a->norm_eps = (float)eps;
    char act[32];
    WF_TRY(wf_json_str(c, r, "hidden_act", false, "gelu", act, sizeof act));
    WF_TRY(parse_act(c.where, "hidden_act", act, &a->act));
    if (a->act == WF_ACT_SILU)
        return wf_error(WF_ERR_UNSUPPORTED, "%s: key 'hidden_act': silu is not supported for %s",
                        c.where, a->model_type);
    a->n_kv_heads = a->n_heads;
    a->norm = WF_NORM_LAYERNORM, a->causal = false, a->pos = WF_POS_LEARNED;
    a->out_bias = a->mlp_bias = true;
    return WF_OK;
}

static wf_status parse_bert(wf_json_ctx c, const cJSON *r, wf_arch *a) {
    a->family = WF_FAMILY_BERT;
    WF_TRY(wf_json_int(c, r, "vocab_size", true, 0, 1, INT32_MAX, &a->vocab));
    WF_TRY(parse_encoder_common(c, r, a, 1e-12));
    WF_TRY(wf_json_int(c, r, "max_position_embeddings", false, 512, 1, BIG, &a->max_positions));
    WF_TRY(wf_json_int(c, r, "type_vocab_size", false, 2, 0, 1 << 20, &a->type_vocab));
    char pos[32];
    WF_TRY(wf_json_str(c, r, "position_embedding_type", false, "absolute", pos, sizeof pos));
    if (strcmp(pos, "absolute") != 0)
        return wf_error(WF_ERR_UNSUPPORTED, "%s: key 'position_embedding_type': \"%s\" is not "
                        "supported (expected absolute)", c.where, pos);
    a->pre_norm = false, a->qkv_bias = true, a->has_pooler = true;
    return head_from_architecture(c, r, a, WF_HEAD_NONE);
}

static wf_status parse_vit(wf_json_ctx c, const cJSON *r, wf_arch *a) {
    a->family = WF_FAMILY_VIT;
    WF_TRY(parse_encoder_common(c, r, a, 1e-12));
    WF_TRY(wf_json_int(c, r, "image_size", false, 224, 1, 1 << 16, &a->image_size));
    WF_TRY(wf_json_int(c, r, "patch_size", false, 16, 1, 1 << 16, &a->patch_size));
    WF_TRY(wf_json_int(c, r, "num_channels", false, 3, 1, 64, &a->channels));
    WF_TRY(wf_json_bool(c, r, "qkv_bias", false, true, &a->qkv_bias));
    if (a->image_size % a->patch_size)
        return wf_error(WF_ERR_FORMAT, "%s: image_size %lld is not a multiple of patch_size %lld",
                        c.where, (long long)a->image_size, (long long)a->patch_size);
    int64_t side = a->image_size / a->patch_size;
    a->max_positions = side * side + 1; /* patches + CLS */
    a->pre_norm = true;
    return head_from_architecture(c, r, a, WF_HEAD_NONE);
}

/* Shape invariants every family shares. */
static wf_status check_sizes(const char *where, wf_arch *a) {
    if (!a->head_dim) {
        if (a->hidden % a->n_heads)
            return wf_error(WF_ERR_FORMAT, "%s: hidden size %lld is not a multiple of the %lld "
                            "attention heads", where, (long long)a->hidden, (long long)a->n_heads);
        a->head_dim = a->hidden / a->n_heads;
    }
    if (a->n_heads % a->n_kv_heads)
        return wf_error(WF_ERR_FORMAT, "%s: %lld attention heads are not a multiple of the %lld "
                        "key/value heads", where, (long long)a->n_heads, (long long)a->n_kv_heads);
    if (!(a->norm_eps > 0)) return wf_error(WF_ERR_FORMAT, "%s: the norm epsilon must be > 0", where);
    return WF_OK;
}

static wf_status arch_from_root(const cJSON *root, const char *path, wf_arch *out) {
    wf_arch a = {0};
    wf_json_ctx c = {path, ""};
    if (!cJSON_IsObject(root)) return wf_error(WF_ERR_FORMAT, "%s: expected a JSON object", path);
    WF_TRY(wf_json_str(c, root, "model_type", true, NULL, a.model_type, sizeof a.model_type));
    const char *t = a.model_type;
    if (strcmp(t, "gpt2") == 0) WF_TRY(parse_gpt2(c, root, &a));
    else if (!strcmp(t, "llama") || !strcmp(t, "mistral") || !strcmp(t, "qwen2")) WF_TRY(parse_llama(c, root, &a));
    else if (strcmp(t, "bert") == 0) WF_TRY(parse_bert(c, root, &a));
    else if (strcmp(t, "vit") == 0) WF_TRY(parse_vit(c, root, &a));
    else
        return wf_error(WF_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not supported (supported: "
                        "gpt2, llama, mistral, qwen2, bert, vit)", path, t);
    WF_TRY(token_id(c, root, "pad_token_id", &a.pad_token_id));
    WF_TRY(token_id(c, root, "bos_token_id", &a.bos_token_id));
    WF_TRY(token_id(c, root, "eos_token_id", &a.eos_token_id));
    WF_TRY(check_sizes(path, &a));
    *out = a;
    return WF_OK;
}

wf_status wf_arch_from_hf_json(const char *json, const char *path, wf_arch *out) {
    cJSON *root = NULL;
    WF_TRY(wf_json_parse(json, path, &root));
    wf_status s = arch_from_root(root, path, out);
    cJSON_Delete(root);
    return s;
}

wf_status wf_arch_from_hf_config(const char *path, wf_arch *out) {
    cJSON *root = NULL;
    WF_TRY(wf_json_load(path, &root));
    wf_status s = arch_from_root(root, path, out);
    cJSON_Delete(root);
    return s;
}
