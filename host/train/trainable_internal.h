/* Helpers the trainable-set files share (trainable.c: the core and LoRA; trainable_ia3.c: IA3;
 * trainable_adapter.c: Houlsby adapters). Internal to host/train. */
#ifndef WEFT_HOST_TRAIN_TRAINABLE_INTERNAL_H
#define WEFT_HOST_TRAIN_TRAINABLE_INTERNAL_H

#include "weft/trainable.h"

/* A growing list of parameters before layout. */
typedef struct wf_tr_plist {
    wf_param *v;
    int n, cap;
} wf_tr_plist;

/* PEFT adapter files name tensors "base_model.model.<module path>.lora_A.weight" and save
 * modules_to_save heads as "base_model.model.<path>.<param>" (prompt learning: "base_model."). */
#define PEFT_PREFIX "base_model.model."

/* Appends parameter w; layer as wf_param.layer. */
wf_status wf_tr_push(wf_tr_plist *l, const char *name, wf_tensor *w, int64_t layer, bool decay);
bool wf_tr_ends_with(const char *s, const char *tail);
/* HF module path of a block's linear site without the head-model prefix ("layers.%d.mlp.up_proj"
 * as a format), NULL if the family has no such site. */
const char *wf_tr_site_module(wf_family f, wf_site s);
/* The PEFT module path of site s in layer l (with the base-model prefix when the model has a
 * head), e.g. "model.layers.3.self_attn.q_proj". */
void wf_tr_module_path(const wf_model *m, int64_t l, wf_site s, char *out, size_t cap);
/* PEFT's rule: a target matches the module whose full path equals it or ends in "." + it;
 * "all-linear" matches every block linear. */
bool wf_tr_target_matches(const char (*targets)[64], int n_targets, const char *path);
const wf_param *wf_tr_param_of(const wf_trainable *t, const wf_tensor *w);
/* Rows [r0, r0 + n) of a 2-D tensor. */
wf_tensor wf_tr_row_slice(const wf_tensor *x, int64_t r0, int64_t n);

/* IA3 (trainable_ia3.c): plans the vectors (m->ia3, t->ia3_t, parameters into l) before layout,
 * and points m->ia3 / t->grads.ia3 at the flat buffers after. */
wf_status wf_tr_plan_ia3(wf_model *m, const wf_peft_spec *sp, wf_tr_plist *l, wf_trainable *t);
wf_status wf_tr_wire_ia3(wf_model *m, wf_trainable *t);
/* Houlsby adapters (trainable_adapter.c): the same two steps. */
wf_status wf_tr_plan_adapters(wf_model *m, const wf_peft_spec *sp, wf_tr_plist *l, wf_trainable *t);
void wf_tr_wire_adapters(wf_model *m, wf_trainable *t);

#endif
