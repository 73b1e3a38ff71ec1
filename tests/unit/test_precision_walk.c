/* Mixed-precision plumbing, checked without a GPU: a tiny model of every family (gpt2 LM with
 * tied embeddings, llama LM, bert sequence classification, vit image classification) is loaded
 * in bf16 and in fp16 on a "walk" backend, the CPU's memory functions with an op table whose
 * entries do nothing, then trained for two steps of two micro-batches (full fine-tuning and LoRA
 * on every linear layer) and evaluated. Nothing is computed; what runs is every wf_op_* wrapper
 * the graph, the loss heads, the trainer and the optimizer call, with their shape and dtype
 * checks (ops.h): frozen weights and activations in the compute dtype, parameter gradients in
 * the flat fp32 buffer, statistics and losses in fp32. A dtype mix-up anywhere on those paths
 * fails here with the op and argument named, instead of on the first GPU run. The numbers are
 * checked on a GPU by tests/gpu/train_parity.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "weft/safetensors.h"
#include "weft/trainer.h"

/* ---- the walk backend: every op accepts and does nothing ---- */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
typedef wf_backend be_t;
typedef wf_tensor t_t;
typedef const wf_tensor ct_t;
static wf_status emb_f(be_t *b, t_t *o, ct_t *i, ct_t *t, bool a) { return WF_OK; }
static wf_status emb_b(be_t *b, t_t *d, ct_t *i, ct_t *o) { return WF_OK; }
static wf_status mm(be_t *b, const wf_matmul *m) { return WF_OK; }
static wf_status lin_f(be_t *b, t_t *y, ct_t *x, ct_t *w, ct_t *bi) { return WF_OK; }
static wf_status lin_b(be_t *b, t_t *dx, t_t *dw, t_t *db, ct_t *dy, ct_t *x, ct_t *w) { return WF_OK; }
static wf_status lgelu_f(be_t *b, t_t *y, t_t *p, ct_t *x, ct_t *w, ct_t *bi) { return WF_OK; }
static wf_status lgelu_b(be_t *b, t_t *dp, t_t *dw, t_t *db, ct_t *dy, ct_t *x, ct_t *w, ct_t *p) {
    return WF_OK;
}
static wf_status lora(be_t *b, const wf_lora *l) { return WF_OK; }
static wf_status ln_f(be_t *b, t_t *y, t_t *m, t_t *r, ct_t *x, ct_t *g, ct_t *bi, float e) { return WF_OK; }
static wf_status ln_b(be_t *b, t_t *dx, t_t *dg, t_t *db, ct_t *dy, ct_t *x, ct_t *m, ct_t *r,
                      ct_t *g) { return WF_OK; }
static wf_status rms_f(be_t *b, t_t *y, t_t *r, ct_t *x, ct_t *g, float e) { return WF_OK; }
static wf_status rms_b(be_t *b, t_t *dx, t_t *dg, ct_t *dy, ct_t *x, ct_t *r, ct_t *g) { return WF_OK; }
static wf_status add_ln_f(be_t *b, t_t *s, t_t *y, t_t *m, t_t *r, ct_t *x, ct_t *res, ct_t *g,
                         ct_t *bi, float e) { return WF_OK; }
static wf_status add_rms_f(be_t *b, t_t *s, t_t *y, t_t *r, ct_t *x, ct_t *res, ct_t *g, float e) {
    return WF_OK;
}
static wf_status add(be_t *b, t_t *o, ct_t *x, ct_t *y) { return WF_OK; }
static wf_status gelu_f(be_t *b, t_t *y, ct_t *x, bool t) { return WF_OK; }
static wf_status gelu_b(be_t *b, t_t *dx, ct_t *dy, ct_t *x, bool t) { return WF_OK; }
static wf_status tanh_f(be_t *b, t_t *y, ct_t *x) { return WF_OK; }
static wf_status tanh_b(be_t *b, t_t *dx, ct_t *dy, ct_t *y) { return WF_OK; }
static wf_status swi_f(be_t *b, t_t *y, ct_t *g, ct_t *u) { return WF_OK; }
static wf_status swi_b(be_t *b, t_t *dg, t_t *du, ct_t *dy, ct_t *g, ct_t *u) { return WF_OK; }
static wf_status rope(be_t *b, t_t *y, ct_t *x, ct_t *p, ct_t *f) { return WF_OK; }
static wf_status att(be_t *b, const wf_attention *a) { return WF_OK; }
static wf_status ce(be_t *b, const wf_cross_entropy *c) { return WF_OK; }
static wf_status mse(be_t *b, t_t *l, t_t *dy, ct_t *y, ct_t *t, float s, const float *m) { return WF_OK; }
static wf_status drop(be_t *b, t_t *y, ct_t *x, const wf_dropout *d) { return WF_OK; }
static wf_status ia3_f(be_t *b, t_t *y, ct_t *x, ct_t *l) { return WF_OK; }
static wf_status ia3_b(be_t *b, t_t *dx, t_t *dl, ct_t *dy, ct_t *x, ct_t *l) { return WF_OK; }
static wf_status cast(be_t *b, t_t *o, ct_t *i) { return WF_OK; }
static wf_status unscale(be_t *b, t_t *g, wf_step_state *s) { return WF_OK; }
static wf_status adamw(be_t *b, t_t *p, ct_t *g, t_t *m, t_t *v, t_t *pl, int64_t n,
                       const wf_adamw_hparams *h, const wf_step_state *s) { return WF_OK; }
static wf_status step_end(be_t *b, wf_step_state *s, const wf_scaler_hparams *h) { return WF_OK; }
#pragma GCC diagnostic pop

static const wf_ops walk_ops = {
    .embedding_fwd = emb_f, .embedding_bwd = emb_b, .matmul = mm, .linear_fwd = lin_f,
    .linear_bwd = lin_b, .linear_gelu_tanh_fwd = lgelu_f,
    .linear_dgelu_tanh_bwd = lgelu_b, .lora_fwd = lora, .lora_bwd = lora, .layernorm_fwd = ln_f,
    .layernorm_bwd = ln_b, .rmsnorm_fwd = rms_f, .rmsnorm_bwd = rms_b,
    .add_layernorm_fwd = add_ln_f, .add_rmsnorm_fwd = add_rms_f, .add = add, .gelu_fwd = gelu_f,
    .gelu_bwd = gelu_b, .tanh_fwd = tanh_f, .tanh_bwd = tanh_b, .swiglu_fwd = swi_f,
    .swiglu_bwd = swi_b, .rope_fwd = rope, .rope_bwd = rope, .attention_fwd = att,
    .attention_bwd = att, .cross_entropy = ce, .mse = mse, .dropout = drop, .ia3_fwd = ia3_f,
    .ia3_bwd = ia3_b, .cast = cast, .grad_unscale_norm = unscale, .adamw = adamw,
    .step_end = step_end};

/* ---- tiny models, written from their own plan ---- */

enum { B = 2, T = 8, V = 40, IMG = 8 };

static const struct family {
    const char *name, *config;
    wf_head_kind head;
} families[] = {
    {"gpt2", "{\"model_type\": \"gpt2\", \"architectures\": [\"GPT2Model\"], \"vocab_size\": 40, "
             "\"n_embd\": 16, \"n_layer\": 2, \"n_head\": 2, \"n_positions\": 16}", WF_HEAD_LM},
    {"llama", "{\"model_type\": \"llama\", \"architectures\": [\"LlamaModel\"], \"vocab_size\": 40, "
              "\"hidden_size\": 16, \"intermediate_size\": 24, \"num_hidden_layers\": 2, "
              "\"num_attention_heads\": 4, \"num_key_value_heads\": 2}", WF_HEAD_LM},
    {"bert", "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"], \"vocab_size\": 40, "
             "\"hidden_size\": 16, \"intermediate_size\": 24, \"num_hidden_layers\": 2, "
             "\"num_attention_heads\": 2, \"max_position_embeddings\": 16}", WF_HEAD_SEQ_CLS},
    {"vit", "{\"model_type\": \"vit\", \"architectures\": [\"ViTModel\"], \"hidden_size\": 16, "
            "\"intermediate_size\": 24, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
            "\"image_size\": 8, \"patch_size\": 4, \"num_channels\": 3}", WF_HEAD_IMAGE_CLS},
};

/* The checkpoint shape of slot s (what load_hf.c's check_slot expects). */
static int ckpt_shape(const wf_slot *s, int64_t *shape) {
    const wf_tensor *d = s->dst;
    switch (s->xform) {
    case WF_XFORM_TRANSPOSE: shape[0] = d->shape[1], shape[1] = d->shape[0]; return 2;
    case WF_XFORM_QKV_Q: case WF_XFORM_QKV_K: case WF_XFORM_QKV_V:
        if (d->ndim == 1) return shape[0] = 3 * d->shape[0], 1;
        shape[0] = d->shape[1], shape[1] = 3 * d->shape[0];
        return 2;
    default: memcpy(shape, d->shape, sizeof d->shape); return d->ndim;
    }
}

/* config.json + model.safetensors (every tensor 0.01) of family f into dir. */
static bool write_model(const char *dir, const struct family *f) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "w");
    if (!fp) return false;
    fputs(f->config, fp);
    fclose(fp);
    wf_model m = {0};
    if (wf_arch_from_hf_json(f->config, path, &m.arch) != WF_OK || wf_model_plan(&m) != WF_OK)
        return false;
    wf_st_entry *e = calloc((size_t)m.n_slots, sizeof *e);
    int64_t(*shapes)[4] = calloc((size_t)m.n_slots, sizeof *shapes);
    static float data[1 << 16];
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++) data[i] = 0.01f;
    int n = 0;
    for (int i = 0; i < m.n_slots; i++) {
        const wf_slot *s = &m.slots[i];
        bool dup = false; /* GPT-2's c_attn: three slots, one tensor */
        for (int k = 0; k < n; k++) dup |= strcmp(e[k].name, s->name) == 0;
        if (dup) continue;
        int nd = ckpt_shape(s, shapes[n]);
        e[n] = (wf_st_entry){s->name, WF_ST_F32, nd, shapes[n], data};
        n++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    bool ok = wf_st_write(path, e, n, NULL, 0) == WF_OK;
    free(e), free(shapes);
    wf_model_free(&m);
    return ok;
}

/* ---- the walk ---- */

static int32_t ids[2][B * T], targets[2][B * T], labels[2][B];
static float pixels[2][B * 3 * IMG * IMG];

static wf_status walk(wf_backend *be, const char *dir, const struct family *f, wf_dtype dt,
                      bool use_lora) {
    wf_model m;
    wf_load_opts lo = {.head = f->head, .n_labels = f->head == WF_HEAD_LM ? 0 : 3, .seed = 1};
    WF_TRY(wf_model_load_ex(dir, be, dt, &lo, &m));
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.method = WF_METHOD_FULL;
    if (use_lora) sp.method = WF_METHOD_LORA, sp.n_targets = 1, strcpy(sp.targets[0], "all-linear");
    wf_trainable t;
    wf_status s = wf_trainable_build(&m, &sp, &t);
    wf_adamw_hparams hp = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .max_grad_norm = 1};
    int64_t rows = f->head == WF_HEAD_IMAGE_CLS ? (IMG / 4) * (IMG / 4) + 1 : T;
    wf_trainer tr = {0};
    if (s == WF_OK) s = wf_trainer_init(&tr, &m, &t, B, rows, &hp, 7);
    wf_scaler_hparams sh = {.dynamic = true, .growth = 2, .backoff = 0.5f, .interval = 3};
    if (s == WF_OK && dt == WF_F16) s = wf_trainer_set_scaler(&tr, 1024.0f, &sh);
    wf_batch_host micro[2];
    for (int k = 0; k < 2; k++) {
        micro[k] = (wf_batch_host){.B = B, .T = rows};
        if (f->head == WF_HEAD_IMAGE_CLS) micro[k].pixels = pixels[k], micro[k].labels = labels[k];
        else micro[k].ids = ids[k];
        if (f->head == WF_HEAD_LM) micro[k].targets = targets[k];
        if (f->head == WF_HEAD_SEQ_CLS) micro[k].labels = labels[k];
    }
    for (int step = 0; step < 2 && s == WF_OK; step++) {
        wf_step_result r;
        s = wf_trainer_step(&tr, micro, 2, 1e-3, (uint32_t)step, &r);
    }
    wf_eval_acc acc = {0};
    if (s == WF_OK) s = wf_trainer_eval_batch(&tr, &micro[0], &acc);
    wf_trainer_free(&tr);
    if (t.params) wf_trainable_free(&m, &t);
    wf_model_free(&m);
    return s;
}

int main(void) {
    wf_backend *cpu = NULL;
    if (wf_backend_open("cpu", NULL, &cpu) != WF_OK) return fprintf(stderr, "no cpu backend\n"), 1;
    wf_backend be = *cpu;
    be.name = "walk", be.ops = &walk_ops;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < B * T; i++) {
            ids[k][i] = (i * 7 + k) % V;
            targets[k][i] = i % T == T - 1 ? -100 : (i * 3 + k) % V;
        }
    labels[0][0] = 0, labels[0][1] = 2, labels[1][0] = 1, labels[1][1] = 1;
    char dir[] = "/tmp/weft-walk-XXXXXX";
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    for (size_t fi = 0; fi < sizeof families / sizeof families[0]; fi++) {
        const struct family *f = &families[fi];
        if (!write_model(dir, f)) {
            fprintf(stderr, "FAIL %s: cannot write the model: %s\n", f->name, wf_last_error());
            failures++;
            continue;
        }
        for (int d = 0; d < 2; d++)
            for (int use_lora = 0; use_lora < 2; use_lora++) {
                wf_dtype dt = d ? WF_F16 : WF_BF16;
                wf_status s = walk(&be, dir, f, dt, use_lora);
                if (s != WF_OK) {
                    fprintf(stderr, "FAIL %s %s %s: %s\n", f->name, wf_dtype_name(dt),
                            use_lora ? "lora" : "full", wf_last_error());
                    failures++;
                }
            }
    }
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir), remove(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir), remove(path);
    remove(dir);
    wf_backend_close(cpu);
    if (!failures) printf("precision walk: 4 families x bf16/fp16 x full/LoRA: every op call passed its checks\n");
    return failures ? 1 : 0;
}
