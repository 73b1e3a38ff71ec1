/* Adapter export (export.h): LoRA / DoRA, IA3 and prompt tuning as PEFT writes them:
 * adapter_config.json with the keys peft 0.21 writes (sorted as its save_pretrained sorts them;
 * peft-version-specific blocks at their defaults) and adapter_model.safetensors with the LoRA
 * A/B, IA3 vectors or soft prompt and the modules_to_save tensors from the fp32 master buffer;
 * Houlsby adapters and composed runs in weft's own format (weft_adapter.json), a composed run
 * with its LoRA and soft-prompt parts beside it as PEFT directories. Written into "<dir>.tmp.<pid>" and
 * swapped in whole (outdir.h). Reference: peft/src/peft/tuners/{lora,ia3}/config.py (LoraConfig,
 * IA3Config), peft/utils/save_and_load.py. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "outdir.h"
#include "trainable_internal.h"
#include "weft/export.h"
#include "weft/safetensors.h"


static bool is_lora(const wf_param *p) {
    return wf_tr_ends_with(p->name, ".lora_A.weight") || wf_tr_ends_with(p->name, ".lora_B.weight") ||
           wf_tr_ends_with(p->name, ".lora_magnitude_vector");
}

static bool is_houlsby(const wf_param *p) {
    return strstr(p->name, ".adapter_attn.") || strstr(p->name, ".adapter_mlp.");
}

static bool is_adapter(const wf_param *p) {
    return is_lora(p) || wf_tr_ends_with(p->name, ".ia3_l") || !strcmp(p->name, "prompt_embeddings") || is_houlsby(p);
}

/* What one export holds: every trained tensor, or (a composed run's PEFT parts) the LoRA
 * tensors or the soft prompt, each with the classification head. */
typedef enum part { PART_ALL, PART_LORA, PART_PROMPT } part;

static bool in_part(const wf_model *m, const wf_param *p, part k) {
    bool head = p->weight == &m->w.cls_w || p->weight == &m->w.cls_b;
    return k == PART_ALL || head || (k == PART_LORA ? is_lora(p) : !strcmp(p->name, "prompt_embeddings"));
}

static const char *task_type(const wf_arch *a) {
    switch (a->head) {
    case WF_HEAD_LM: return "CAUSAL_LM";
    case WF_HEAD_SEQ_CLS: case WF_HEAD_REGRESSION: return "SEQ_CLS";
    default: return NULL; /* bare models and ViT image classification: PEFT has no task type */
    }
}

/* Adds `s` to the JSON array unless it is there already. */
static void add_unique(cJSON *arr, const char *s) {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
        if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0) return;
    cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

/* target_modules: the spec's list, with "all-linear" replaced by every adapted module path;
 * `exact`: every adapted module path (a composed run's LoRA skips fully trained weights). */
static cJSON *target_modules(const wf_trainable *t, const wf_peft_spec *sp, bool exact) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < (exact ? 1 : sp->n_targets); i++) {
        if (!exact && strcmp(sp->targets[i], "all-linear") != 0) {
            add_unique(arr, sp->targets[i]);
            continue;
        }
        for (int k = 0; k < t->n_params; k++) {
            char path[192];
            if (!wf_tr_ends_with(t->params[k].name, ".lora_A.weight")) continue;
            snprintf(path, sizeof path, "%s", t->params[k].name);
            path[strlen(path) - strlen(".lora_A.weight")] = 0;
            add_unique(arr, path);
        }
    }
    return arr;
}

/* modules_to_save: the modules of the trained non-LoRA tensors (the task head), or null. */
static cJSON *modules_to_save(const wf_model *m, const wf_trainable *t, part pt) {
    cJSON *arr = NULL;
    for (int k = 0; k < t->n_params; k++) {
        const wf_param *p = &t->params[k];
        if (is_adapter(p) || !in_part(m, p, pt)) continue;
        char mod[192];
        snprintf(mod, sizeof mod, "%s", p->name);
        char *dot = strrchr(mod, '.');
        if (dot) *dot = 0; /* "classifier.weight" -> "classifier" */
        if (!arr) arr = cJSON_CreateArray();
        if (arr) add_unique(arr, mod);
    }
    return arr ? arr : cJSON_CreateNull();
}

static void add_nulls(cJSON *o, const char *const *keys) {
    for (; *keys; keys++) cJSON_AddNullToObject(o, *keys);
}

/* The LoraConfig as peft's save_pretrained writes it: keys in sorted order. */
static cJSON *adapter_config(const wf_model *m, const wf_trainable *t, const wf_peft_spec *sp,
                             const char *base, part pt) {
    cJSON *o = cJSON_CreateObject();
    const char *tt = task_type(&m->arch);
    static const char *const n1[] = {"alora_invocation_tokens", NULL};
    static const char *const n2[] = {"arrow_config", "auto_mapping", NULL};
    static const char *const n3[] = {"corda_config", NULL};
    static const char *const n4[] = {"eva_config", "exclude_modules", NULL};
    static const char *const n5[] = {"kasa_config", "layer_replication", "layers_pattern", "layers_to_transform", NULL};
    static const char *const n6[] = {"lora_ga_config", "megatron_config", NULL};
    add_nulls(o, n1);
    cJSON_AddItemToObject(o, "alpha_pattern", cJSON_CreateObject());
    add_nulls(o, n2);
    if (base) cJSON_AddStringToObject(o, "base_model_name_or_path", base);
    else cJSON_AddNullToObject(o, "base_model_name_or_path");
    cJSON_AddStringToObject(o, "bias", "none");
    add_nulls(o, n3);
    cJSON_AddFalseToObject(o, "ensure_weight_tying");
    add_nulls(o, n4);
    cJSON_AddBoolToObject(o, "fan_in_fan_out", m->arch.family == WF_FAMILY_GPT2);
    cJSON_AddTrueToObject(o, "inference_mode");
    cJSON_AddTrueToObject(o, "init_lora_weights");
    add_nulls(o, n5);
    cJSON_AddItemToObject(o, "loftq_config", cJSON_CreateObject());
    wf_json_add_float(o, "lora_alpha", sp->lora_alpha);
    cJSON_AddFalseToObject(o, "lora_bias");
    wf_json_add_float(o, "lora_dropout", sp->lora_dropout);
    add_nulls(o, n6);
    cJSON_AddStringToObject(o, "megatron_core", "megatron.core");
    cJSON_AddItemToObject(o, "modules_to_save", modules_to_save(m, t, pt));
    cJSON_AddNullToObject(o, "monteclora_config");
    cJSON_AddStringToObject(o, "peft_type", "LORA");
    cJSON_AddNumberToObject(o, "qalora_group_size", 16);
    cJSON_AddNumberToObject(o, "r", sp->lora_r);
    cJSON_AddItemToObject(o, "rank_pattern", cJSON_CreateObject());
    cJSON_AddNullToObject(o, "revision");
    cJSON_AddItemToObject(o, "target_modules", target_modules(t, sp, pt != PART_ALL));
    cJSON_AddNullToObject(o, "target_parameters");
    if (tt) cJSON_AddStringToObject(o, "task_type", tt);
    else cJSON_AddNullToObject(o, "task_type");
    cJSON_AddNullToObject(o, "trainable_token_indices");
    cJSON_AddNullToObject(o, "use_bdlora");
    cJSON_AddBoolToObject(o, "use_dora", sp->dora);
    cJSON_AddFalseToObject(o, "use_qalora");
    cJSON_AddBoolToObject(o, "use_rslora", sp->rslora);
    cJSON_AddNullToObject(o, "velora_config");
    return o;
}

/* The IA3Config as peft's save_pretrained writes it (keys sorted); targets as resolved. */
static cJSON *ia3_config(const wf_model *m, const wf_trainable *t, const wf_peft_spec *sp,
                         const char *base) {
    const part pt = PART_ALL;
    cJSON *o = cJSON_CreateObject(), *tm = cJSON_CreateArray(), *ff = cJSON_CreateArray();
    const char *tt = task_type(&m->arch);
    for (int i = 0; i < sp->n_ia3_targets; i++) add_unique(tm, sp->ia3_targets[i]);
    for (int i = 0; i < sp->n_ia3_ff; i++) add_unique(ff, sp->ia3_ff[i]);
    cJSON_AddNullToObject(o, "auto_mapping");
    if (base) cJSON_AddStringToObject(o, "base_model_name_or_path", base);
    else cJSON_AddNullToObject(o, "base_model_name_or_path");
    cJSON_AddNullToObject(o, "exclude_modules");
    cJSON_AddBoolToObject(o, "fan_in_fan_out", m->arch.family == WF_FAMILY_GPT2);
    cJSON_AddItemToObject(o, "feedforward_modules", ff);
    cJSON_AddTrueToObject(o, "inference_mode");
    cJSON_AddTrueToObject(o, "init_ia3_weights");
    cJSON_AddItemToObject(o, "modules_to_save", modules_to_save(m, t, pt));
    cJSON_AddStringToObject(o, "peft_type", "IA3");
    cJSON_AddNullToObject(o, "revision");
    cJSON_AddItemToObject(o, "target_modules", tm);
    if (tt) cJSON_AddStringToObject(o, "task_type", tt);
    else cJSON_AddNullToObject(o, "task_type");
    return o;
}

/* The PromptTuningConfig as peft's save_pretrained writes it after get_peft_model (model sizes
 * filled in); a TEXT init names the base model as the tokenizer. */
static cJSON *prompt_config(const wf_model *m, const wf_trainable *t, const wf_peft_spec *sp,
                            const char *base, part pt) {
    cJSON *o = cJSON_CreateObject();
    bool text = sp->prompt_init_ids && sp->prompt_init_text;
    const char *tt = task_type(&m->arch);
    cJSON_AddNullToObject(o, "auto_mapping");
    if (base) cJSON_AddStringToObject(o, "base_model_name_or_path", base);
    else cJSON_AddNullToObject(o, "base_model_name_or_path");
    cJSON_AddTrueToObject(o, "inference_mode");
    cJSON_AddItemToObject(o, "modules_to_save", modules_to_save(m, t, pt));
    cJSON_AddNumberToObject(o, "num_attention_heads", (double)m->arch.n_heads);
    cJSON_AddNumberToObject(o, "num_layers", (double)m->arch.n_layers);
    cJSON_AddNumberToObject(o, "num_transformer_submodules", 1);
    cJSON_AddNumberToObject(o, "num_virtual_tokens", sp->prompt_tokens);
    cJSON_AddStringToObject(o, "peft_type", "PROMPT_TUNING");
    cJSON_AddStringToObject(o, "prompt_tuning_init", text ? "TEXT" : "RANDOM");
    if (text) cJSON_AddStringToObject(o, "prompt_tuning_init_text", sp->prompt_init_text);
    else cJSON_AddNullToObject(o, "prompt_tuning_init_text");
    cJSON_AddNullToObject(o, "revision");
    if (tt) cJSON_AddStringToObject(o, "task_type", tt);
    else cJSON_AddNullToObject(o, "task_type");
    cJSON_AddNumberToObject(o, "token_dim", (double)m->arch.hidden);
    cJSON_AddNullToObject(o, "tokenizer_kwargs");
    if (text && base) cJSON_AddStringToObject(o, "tokenizer_name_or_path", base);
    else cJSON_AddNullToObject(o, "tokenizer_name_or_path");
    return o;
}

/* weft_adapter.json of a Houlsby adapter directory (export.h has the format). */
static cJSON *houlsby_config(const wf_model *m, const wf_trainable *t, const wf_peft_spec *sp,
                             const char *base) {
    const part pt = PART_ALL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "weft-houlsby-adapter");
    cJSON_AddNumberToObject(o, "format_version", 1);
    if (base) cJSON_AddStringToObject(o, "base_model_name_or_path", base);
    else cJSON_AddNullToObject(o, "base_model_name_or_path");
    cJSON_AddNumberToObject(o, "adapter_size", sp->adapter_size);
    cJSON_AddNumberToObject(o, "hidden_size", (double)m->arch.hidden);
    cJSON_AddNumberToObject(o, "num_layers", (double)m->arch.n_layers);
    cJSON_AddStringToObject(o, "nonlinearity", "gelu");
    cJSON_AddStringToObject(o, "placement", "h + up(gelu(down(h))) on the output of each block's attention "
                            "output projection and of its MLP, before the residual add (Houlsby et al. 2019)");
    cJSON_AddItemToObject(o, "modules_to_save", modules_to_save(m, t, pt));
    return o;
}

/* weft_adapter.json of a composed run (export.h): the methods and each one's settings; the
 * tensors are in adapter_model.safetensors under their weft names (PEFT names unprefixed). */
static cJSON *composed_config(const wf_model *m, const wf_trainable *t, const wf_peft_spec *sp,
                              const char *base) {
    static const char *const names[] = {"full", "lora", "freeze", "bitfit", "ia3", "prompt_tuning", "adapter"};
    cJSON *o = cJSON_CreateObject(), *ms = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "format", "weft-composed-adapter");
    cJSON_AddNumberToObject(o, "format_version", 1);
    if (base) cJSON_AddStringToObject(o, "base_model_name_or_path", base);
    else cJSON_AddNullToObject(o, "base_model_name_or_path");
    for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++)
        if (wf_peft_has(sp, (wf_method)k)) cJSON_AddItemToArray(ms, cJSON_CreateString(names[k]));
    cJSON_AddItemToObject(o, "methods", ms);
    if (wf_peft_has(sp, WF_METHOD_LORA)) {
        cJSON *l = cJSON_AddObjectToObject(o, "lora");
        cJSON_AddNumberToObject(l, "r", sp->lora_r);
        wf_json_add_float(l, "lora_alpha", sp->lora_alpha);
        cJSON_AddBoolToObject(l, "use_rslora", sp->rslora);
        cJSON_AddBoolToObject(l, "use_dora", sp->dora);
        cJSON_AddItemToObject(l, "target_modules", target_modules(t, sp, true));
    }
    if (wf_peft_has(sp, WF_METHOD_ADAPTER)) cJSON_AddNumberToObject(o, "adapter_size", sp->adapter_size);
    if (wf_peft_has(sp, WF_METHOD_PROMPT)) cJSON_AddNumberToObject(o, "num_virtual_tokens", sp->prompt_tokens);
    if (wf_peft_has(sp, WF_METHOD_FREEZE)) cJSON_AddNumberToObject(o, "train_top_layers", sp->train_top_layers);
    cJSON_AddNumberToObject(o, "num_layers", (double)m->arch.n_layers);
    cJSON_AddNumberToObject(o, "hidden_size", (double)m->arch.hidden);
    cJSON *names_arr = cJSON_AddArrayToObject(o, "tensors");
    for (int i = 0; i < t->n_params; i++) cJSON_AddItemToArray(names_arr, cJSON_CreateString(t->params[i].name));
    return o;
}

/* adapter_model.safetensors: the part's trained tensors under their PEFT names (`bare`: weft's
 * names, a composed run's whole set), from the fp32 master. */
static wf_status write_tensors(const wf_model *m, const wf_trainable *t, part pt, bool bare_all, const char *path) {
    float *host = malloc((size_t)t->total * sizeof *host + 4);
    wf_st_entry *e = calloc((size_t)t->n_params, sizeof *e);
    char (*names)[256] = calloc((size_t)t->n_params, sizeof *names);
    wf_status s = host && e && names ? WF_OK : wf_error(WF_ERR_OOM, "%s: out of memory", path);
    if (s == WF_OK) s = m->be->copy(m->be, host, t->p.data, (size_t)t->total * sizeof *host, WF_COPY_D2H);
    if (s == WF_OK) s = m->be->sync(m->be);
    int n = 0;
    for (int i = 0; s == WF_OK && i < t->n_params; i++) {
        const wf_param *p = &t->params[i];
        if (!in_part(m, p, pt)) continue;
        /* peft saves the soft prompt unprefixed and prompt learning's heads under "base_model."
         * (its base model is the transformers model itself); weft's Houlsby format is bare */
        bool bare = bare_all || !strcmp(p->name, "prompt_embeddings") || (pt == PART_ALL && m->adapters);
        bool prompt_learning = pt == PART_PROMPT || (pt == PART_ALL && m->w.prompt.ndim);
        const char *pre = bare ? "" : prompt_learning ? "base_model." : PEFT_PREFIX;
        snprintf(names[n], sizeof names[n], "%s%s", pre, p->name);
        e[n] = (wf_st_entry){names[n], WF_ST_F32, p->weight->ndim, p->weight->shape, host + p->offset};
        n++;
    }
    if (s == WF_OK) s = wf_st_write(path, e, n, NULL, 0);
    free(host), free(e), free(names);
    return s;
}

/* A PEFT directory `sub` inside a composed export: cfg and the part's tensors. */
static wf_status write_part(const wf_model *m, const wf_trainable *t, part pt, cJSON *cfg,
                            const char *tmp, const char *sub) {
    char d[WF_PATH_MAX], path[WF_PATH_MAX];
    wf_status s = cfg ? wf_path_join(d, tmp, sub) : wf_error(WF_ERR_OOM, "%s: out of memory", tmp);
    if (s == WF_OK && mkdir(d, 0755) != 0) s = wf_error(WF_ERR_IO, "%s: cannot create: %s", d, strerror(errno));
    if (s == WF_OK) s = wf_path_join(path, d, "adapter_model.safetensors");
    if (s == WF_OK) s = write_tensors(m, t, pt, false, path);
    if (s == WF_OK) s = wf_path_join(path, d, "adapter_config.json");
    if (s == WF_OK) s = wf_json_write(path, cfg);
    cJSON_Delete(cfg);
    return s;
}

/* A composed run: one directory in weft's format (export.h), every trained tensor in it. */
static wf_status export_composed(const wf_model *m, const wf_trainable *t, const wf_peft_spec *spec,
                                 const char *base, const char *dir) {
    char tmp[WF_PATH_MAX], path[WF_PATH_MAX];
    WF_TRY(wf_outdir_begin(dir, tmp));
    cJSON *cfg = composed_config(m, t, spec, base);
    wf_status s = cfg ? WF_OK : wf_error(WF_ERR_OOM, "%s: out of memory", dir);
    if (s == WF_OK) s = wf_path_join(path, tmp, "adapter_model.safetensors");
    if (s == WF_OK) s = write_tensors(m, t, PART_ALL, true, path);
    if (s == WF_OK) s = wf_path_join(path, tmp, "weft_adapter.json");
    if (s == WF_OK) s = wf_json_write(path, cfg);
    cJSON_Delete(cfg);
    if (s == WF_OK && wf_peft_has(spec, WF_METHOD_LORA))
        s = write_part(m, t, PART_LORA, adapter_config(m, t, spec, base, PART_LORA), tmp, "peft-lora");
    if (s == WF_OK && wf_peft_has(spec, WF_METHOD_PROMPT))
        s = write_part(m, t, PART_PROMPT, prompt_config(m, t, spec, base, PART_PROMPT), tmp, "peft-prompt");
    if (s != WF_OK) {
        wf_outdir_abort(tmp);
        return s;
    }
    return wf_outdir_commit(tmp, dir);
}

wf_status wf_export_peft(const wf_model *m, const wf_trainable *t, const wf_peft_spec *spec,
                         const char *base_model_path, const char *dir) {
    if (wf_peft_composed(spec)) return export_composed(m, t, spec, base_model_path, dir);
    int n_adapter = 0;
    for (int i = 0; i < t->n_params; i++) n_adapter += is_adapter(&t->params[i]);
    bool ia3 = spec->method == WF_METHOD_IA3, prompt = spec->method == WF_METHOD_PROMPT;
    bool houlsby = spec->method == WF_METHOD_ADAPTER;
    bool wired = ia3 ? m->ia3 != NULL : prompt ? m->w.prompt.ndim != 0 : houlsby ? m->adapters != NULL : m->lora != NULL;
    if ((spec->method != WF_METHOD_LORA && !ia3 && !prompt && !houlsby) || n_adapter == 0 || !wired)
        return wf_error(WF_ERR_INVALID, "%s: a PEFT adapter holds LoRA or IA3 weights, and this run "
                        "trains none (method %s); export a merged model instead", dir,
                        spec->method == WF_METHOD_FULL ? "full" : spec->method == WF_METHOD_FREEZE ? "freeze"
                        : spec->method == WF_METHOD_BITFIT ? "bitfit" : "lora");
    wf_peft_spec resolved;
    if (ia3) WF_TRY(wf_ia3_resolve(m, spec, &resolved));
    for (int i = 0; i < t->n_params; i++) /* the config's r must describe the tensors */
        if (wf_tr_ends_with(t->params[i].name, ".lora_A.weight") && t->params[i].weight->shape[0] != spec->lora_r)
            return wf_error(WF_ERR_INVALID, "%s: the spec says r = %d but '%s' has rank %lld (pass the "
                            "spec the trainable set was built with)", dir, spec->lora_r,
                            t->params[i].name, (long long)t->params[i].weight->shape[0]);
    char tmp[WF_PATH_MAX], path[WF_PATH_MAX];
    WF_TRY(wf_outdir_begin(dir, tmp));
    cJSON *cfg = ia3 ? ia3_config(m, t, &resolved, base_model_path)
               : prompt ? prompt_config(m, t, spec, base_model_path, PART_ALL)
               : houlsby ? houlsby_config(m, t, spec, base_model_path)
               : adapter_config(m, t, spec, base_model_path, PART_ALL);
    wf_status s = cfg ? WF_OK : wf_error(WF_ERR_OOM, "%s: out of memory", dir);
    if (s == WF_OK) s = wf_path_join(path, tmp, "adapter_model.safetensors");
    if (s == WF_OK) s = write_tensors(m, t, PART_ALL, false, path);
    if (s == WF_OK) s = wf_path_join(path, tmp, houlsby ? "weft_adapter.json" : "adapter_config.json");
    if (s == WF_OK) s = wf_json_write(path, cfg);
    cJSON_Delete(cfg);
    if (s != WF_OK) {
        wf_outdir_abort(tmp);
        return s;
    }
    return wf_outdir_commit(tmp, dir);
}
