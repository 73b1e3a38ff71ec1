/* Houlsby adapters (trainable.h WF_METHOD_ADAPTER; model.h wf_houlsby for the placement): two
 * bottlenecks per block, their weft names, and their gradient views. Init (down: LoRA A's
 * kaiming-uniform, up and biases zero) is in trainable.c. peft has no Houlsby adapter: the
 * tensors are exported in weft's own format (export.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainable_internal.h"

/* "<block path>.adapter_<attn|mlp>.", e.g. "model.layers.3.adapter_mlp." (the block path is
 * the site modules' prefix up to the layer index, with the base-model prefix under a head). */
static void adapter_prefix(const wf_model *m, int64_t l, int k, char *out, size_t cap) {
    char path[160];
    wf_tr_module_path(m, l, WF_SITE_Q, path, sizeof path);
    char num[24];
    snprintf(num, sizeof num, ".%lld.", (long long)l);
    char *p = strstr(path, num); /* cut after the layer index */
    if (p) p[strlen(num) - 1] = 0;
    snprintf(out, cap, "%s.adapter_%s.", path, k ? "mlp" : "attn");
}

wf_status wf_tr_plan_adapters(wf_model *m, const wf_peft_spec *sp, wf_tr_plist *l, wf_trainable *t) {
    int64_t L = m->arch.n_layers, C = m->arch.hidden, r = sp->adapter_size;
    m->adapters = calloc((size_t)(2 * L), sizeof *m->adapters);
    t->grads.adapters = calloc((size_t)(2 * L), sizeof *t->grads.adapters);
    if (!m->adapters || !t->grads.adapters) return wf_error(WF_ERR_OOM, "adapter: out of memory");
    bool bias_decays = true;
    for (int i = 0; i < sp->n_no_decay; i++) bias_decays = bias_decays && strcmp(sp->no_decay[i], "bias") != 0;
    for (int64_t li = 0; li < L; li++)
        for (int k = 0; k < 2; k++) {
            wf_houlsby *ad = &m->adapters[2 * li + k];
            ad->down_w = (wf_tensor){.dtype = m->dtype, .ndim = 2, .shape = {r, C}};
            ad->down_b = (wf_tensor){.dtype = m->dtype, .ndim = 1, .shape = {r}};
            ad->up_w = (wf_tensor){.dtype = m->dtype, .ndim = 2, .shape = {C, r}};
            ad->up_b = (wf_tensor){.dtype = m->dtype, .ndim = 1, .shape = {C}};
            char pre[192], name[224];
            adapter_prefix(m, li, k, pre, sizeof pre);
            wf_tensor *ts[4] = {&ad->down_w, &ad->down_b, &ad->up_w, &ad->up_b};
            static const char *const tail[4] = {"down.weight", "down.bias", "up.weight", "up.bias"};
            for (int j = 0; j < 4; j++) {
                snprintf(name, sizeof name, "%s%s", pre, tail[j]);
                WF_TRY(wf_tr_push(l, name, ts[j], li, (j & 1) ? bias_decays : true));
            }
        }
    return WF_OK;
}

void wf_tr_wire_adapters(wf_model *m, wf_trainable *t) {
    for (int64_t i = 0; i < 2 * m->arch.n_layers; i++) {
        wf_houlsby *ad = &m->adapters[i], *g = &t->grads.adapters[i];
        wf_tensor *ts[4] = {&ad->down_w, &ad->down_b, &ad->up_w, &ad->up_b};
        wf_tensor *gs[4] = {&g->down_w, &g->down_b, &g->up_w, &g->up_b};
        for (int j = 0; j < 4; j++) {
            const wf_param *p = wf_tr_param_of(t, ts[j]);
            WF_ASSERT(p);
            *gs[j] = p->grad;
        }
    }
}
