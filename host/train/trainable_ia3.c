/* IA3 (trainable.h WF_METHOD_IA3) as PEFT's IA3: which linear layers carry a vector (PEFT's
 * per-model-type defaults when the spec names none), the vectors' PEFT names and shapes, and
 * their wiring into the graph (model.h wf_ia3_vec). Init (ones) is in trainable.c.
 * Reference: peft 0.21.2 tuners/ia3/{layer,model,config}.py and utils/constants.py
 * (TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING / _FEEDFORWARD_MODULES_MAPPING). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainable_internal.h"

/* PEFT's mapping, for the model types weft loads (ViT has none there: targets must be given). */
typedef struct ia3_default {
    const char *model_type;
    const char *targets[3], *ff;
} ia3_default;
static const ia3_default k_defaults[] = {
    {"gpt2", {"c_attn", "mlp.c_proj", NULL}, "mlp.c_proj"},
    {"llama", {"k_proj", "v_proj", "down_proj"}, "down_proj"},
    {"mistral", {"k_proj", "v_proj", "down_proj"}, "down_proj"},
    {"qwen2", {"q_proj", "v_proj", "down_proj"}, "down_proj"},
    {"bert", {"key", "value", "output.dense"}, "output.dense"},
};

/* IA3Config.__post_init__: feedforward_modules given with target_modules must be a subset. */
static wf_status check_subset(const wf_peft_spec *sp) {
    for (int i = 0; i < sp->n_ia3_targets; i++)
        if (!strcmp(sp->ia3_targets[i], "all-linear"))
            return wf_error(WF_ERR_INVALID, "ia3: method.ia3.target_modules: \"all-linear\" is not "
                            "supported for IA3; list the modules (or \"auto\")");
    if (sp->n_ia3_targets == 0 || sp->ia3_ff_auto) return WF_OK;
    for (int i = 0; i < sp->n_ia3_ff; i++) {
        bool in = false;
        for (int k = 0; k < sp->n_ia3_targets; k++) in = in || !strcmp(sp->ia3_ff[i], sp->ia3_targets[k]);
        if (!in)
            return wf_error(WF_ERR_INVALID, "ia3: method.ia3.feedforward_modules entry '%s' is not in "
                            "method.ia3.target_modules (PEFT requires a subset)", sp->ia3_ff[i]);
    }
    return WF_OK;
}

wf_status wf_ia3_resolve(const wf_model *m, const wf_peft_spec *sp, wf_peft_spec *out) {
    *out = *sp;
    WF_TRY(check_subset(sp));
    if (sp->n_ia3_targets > 0 && !sp->ia3_ff_auto) return WF_OK;
    const ia3_default *d = NULL;
    for (size_t i = 0; i < sizeof k_defaults / sizeof k_defaults[0]; i++)
        if (strcmp(k_defaults[i].model_type, m->arch.model_type) == 0) d = &k_defaults[i];
    if (!d)
        return wf_error(WF_ERR_INVALID, "ia3: PEFT has no default target/feedforward modules for "
                        "model_type \"%s\": set method.ia3.target_modules and "
                        "method.ia3.feedforward_modules", m->arch.model_type);
    if (sp->n_ia3_targets == 0)
        for (int i = 0; i < 3 && d->targets[i]; i++)
            snprintf(out->ia3_targets[out->n_ia3_targets++], sizeof out->ia3_targets[0], "%s", d->targets[i]);
    if (sp->ia3_ff_auto) {
        out->ia3_ff_auto = false, out->n_ia3_ff = 1;
        snprintf(out->ia3_ff[0], sizeof out->ia3_ff[0], "%s", d->ff);
    }
    return WF_OK;
}

/* PEFT's _check_target_module_feedforward: the module path ends with one of them (no dot rule). */
static bool is_ff(const wf_peft_spec *sp, const char *path) {
    for (int i = 0; i < sp->n_ia3_ff; i++)
        if (wf_tr_ends_with(path, sp->ia3_ff[i])) return true;
    return false;
}

wf_status wf_tr_plan_ia3(wf_model *m, const wf_peft_spec *spec, wf_tr_plist *l, wf_trainable *t) {
    wf_peft_spec sp;
    WF_TRY(wf_ia3_resolve(m, spec, &sp));
    const wf_peft_spec *rsp = &sp;
    int64_t L = m->arch.n_layers;
    m->ia3 = calloc((size_t)(L * WF_N_SITES), sizeof *m->ia3);
    t->ia3_t = calloc((size_t)(L * WF_N_SITES), sizeof *t->ia3_t);
    t->grads.ia3 = calloc((size_t)(L * WF_N_SITES), sizeof *t->grads.ia3);
    if (!m->ia3 || !t->ia3_t || !t->grads.ia3) return wf_error(WF_ERR_OOM, "ia3: out of memory");
    int matched = 0;
    for (int64_t li = 0; li < L; li++)
        for (int s = 0; s < WF_N_SITES; s++) {
            wf_tensor *W = wf_model_site_weight(&m->w, li, (wf_site)s);
            char path[160], name[192];
            if (!wf_tr_site_module(m->arch.family, (wf_site)s) || !W->data) continue;
            wf_tr_module_path(m, li, (wf_site)s, path, sizeof path);
            if (!wf_tr_target_matches(rsp->ia3_targets, sp.n_ia3_targets, path)) continue;
            wf_ia3_vec *iv = &m->ia3[li * WF_N_SITES + s];
            iv->ff = is_ff(&sp, path);
            iv->l = (wf_tensor){.dtype = m->dtype, .ndim = 1, .shape = {W->shape[iv->ff ? 1 : 0]}};
            bool gpt2_qkv = m->arch.family == WF_FAMILY_GPT2 && s <= WF_SITE_V;
            if (gpt2_qkv && s != WF_SITE_Q) continue; /* c_attn: one vector, owned by Q (wire_ia3) */
            int64_t M = W->shape[0] * (gpt2_qkv ? 3 : 1);
            wf_tensor *v = &t->ia3_t[li * WF_N_SITES + s]; /* PEFT: (out, 1), feed-forward (1, in) */
            *v = (wf_tensor){.dtype = m->dtype, .ndim = 2, .shape = {iv->ff ? 1 : M, iv->ff ? W->shape[1] : 1}};
            snprintf(name, sizeof name, "%s.ia3_l", path);
            WF_TRY(wf_tr_push(l, name, v, li, true));
            matched++;
        }
    if (!matched)
        return wf_error(WF_ERR_INVALID, "ia3: no module of this %s model matches the targets (e.g. "
                        "'%s'); examples of module names: %s", m->arch.model_type, sp.ia3_targets[0],
                        wf_tr_site_module(m->arch.family, WF_SITE_V));
    return WF_OK;
}

/* A 1-D view of n elements of v starting at element off. */
static wf_tensor vec_view(const wf_tensor *v, int64_t off, int64_t n) {
    wf_tensor r = {.dtype = v->dtype, .ndim = 1, .shape = {n}};
    r.data = (char *)v->data + (size_t)off * wf_dtype_size(v->dtype);
    return r;
}

wf_status wf_tr_wire_ia3(wf_model *m, wf_trainable *t) {
    int64_t L = m->arch.n_layers;
    for (int64_t li = 0; li < L; li++)
        for (int s = 0; s < WF_N_SITES; s++) {
            wf_ia3_vec *iv = &m->ia3[li * WF_N_SITES + s], *gv = &t->grads.ia3[li * WF_N_SITES + s];
            if (iv->l.ndim == 0) continue;
            bool gpt2_qkv = m->arch.family == WF_FAMILY_GPT2 && s <= WF_SITE_V;
            const wf_tensor *v = &t->ia3_t[li * WF_N_SITES + (gpt2_qkv ? WF_SITE_Q : s)];
            const wf_param *p = wf_tr_param_of(t, v);
            WF_ASSERT(p);
            int64_t n = iv->l.shape[0]; /* c_attn's output rows are q | k | v: slice a part */
            int64_t off = gpt2_qkv && !iv->ff ? (s - WF_SITE_Q) * n : 0;
            iv->l = vec_view(v, off, n);
            *gv = (wf_ia3_vec){.l = vec_view(&p->grad, off, n), .ff = iv->ff};
        }
    return WF_OK;
}
