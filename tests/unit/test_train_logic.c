/* The trainer's host-side logic: LR schedules against transformers' formulas, early stopping,
 * classification metrics against scikit-learn's definitions (values worked out by hand below),
 * and which tensors train under full fine-tuning, freezing and LoRA (with decay groups). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/safetensors.h"
#include "weft/trainer.h"
#include "expect.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) <= 1e-12 * fmax(1.0, fabs((double)(b))))

static void schedules(void) {
    wf_lr_schedule s = {WF_SCHED_LINEAR, 1e-3, 0, 10, 110};
    /* transformers get_linear_schedule_with_warmup: step/warmup, then (total-step)/(total-warmup) */
    EXPECT(NEAR(wf_lr_at(&s, 0), 0) && NEAR(wf_lr_at(&s, 5), 5e-4) && NEAR(wf_lr_at(&s, 10), 1e-3));
    EXPECT(NEAR(wf_lr_at(&s, 60), 1e-3 * 50.0 / 100.0) && NEAR(wf_lr_at(&s, 110), 0));
    s.kind = WF_SCHED_COSINE; /* get_cosine_schedule_with_warmup: 0.5 (1 + cos(pi progress)) */
    EXPECT(NEAR(wf_lr_at(&s, 35), 1e-3 * 0.5 * (1 + cos(M_PI * 0.25))));
    s.min_lr = 1e-4; /* floored: min + (lr - min) * factor */
    EXPECT(NEAR(wf_lr_at(&s, 110), 1e-4) && NEAR(wf_lr_at(&s, 60), 1e-4 + 9e-4 * 0.5));
    s.kind = WF_SCHED_CONSTANT;
    EXPECT(NEAR(wf_lr_at(&s, 3), 3e-4) && NEAR(wf_lr_at(&s, 1000), 1e-3));
}

static void early_stopping(void) {
    wf_early_stop e = {.maximize = false, .patience = 2};
    EXPECT(!wf_early_stop_update(&e, 3.0) && !wf_early_stop_update(&e, 2.5));
    EXPECT(!wf_early_stop_update(&e, 2.6) && wf_early_stop_update(&e, 2.5)); /* no gain twice */
    wf_early_stop m = {.maximize = true, .patience = 1};
    EXPECT(!wf_early_stop_update(&m, 0.5) && !wf_early_stop_update(&m, 0.6));
    EXPECT(wf_early_stop_update(&m, NAN));
}

static void metrics(void) {
    /* y_true = [0 0 1 1 2 3], y_pred = [0 1 1 1 0 3]: sklearn f1_score(average="macro") over
     * labels {0,1,2,3}: class 0 tp1 fp1 fn1 -> 0.5; 1 tp2 fp1 fn0 -> 0.8; 2 tp0 fn1 -> 0;
     * 3 tp1 -> 1; mean 0.575; accuracy 4/6 */
    int yt[] = {0, 0, 1, 1, 2, 3}, yp[] = {0, 1, 1, 1, 0, 3};
    wf_eval_acc acc;
    memset(&acc, 0, sizeof acc);
    acc.n_classes = 5; /* class 4 never occurs: excluded, as sklearn's labels=None does */
    for (int i = 0; i < 6; i++) {
        acc.count++, acc.correct += yt[i] == yp[i];
        if (yt[i] == yp[i]) acc.tp[yt[i]]++;
        else acc.fp[yp[i]]++, acc.fn[yt[i]]++;
    }
    acc.loss_sum = 3.0;
    wf_eval_result r = wf_eval_finish(&acc, WF_HEAD_SEQ_CLS);
    EXPECT(NEAR(r.accuracy, 4.0 / 6) && NEAR(r.macro_f1, 0.575) && NEAR(r.loss, 0.5));
    wf_eval_result lm = wf_eval_finish(&acc, WF_HEAD_LM);
    EXPECT(NEAR(lm.perplexity, exp(0.5)) && isnan(lm.accuracy));
}

/* A 2-layer llama written to `dir` (config.json + model.safetensors of small random values). */
static void write_tiny_llama(const char *dir) {
    char p[512];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":8,"
          "\"intermediate_size\":16,\"num_hidden_layers\":2,\"num_attention_heads\":2,"
          "\"num_key_value_heads\":1,\"vocab_size\":10,\"tie_word_embeddings\":false}", f);
    fclose(f);
    static float vals[256];
    for (int i = 0; i < 256; i++) vals[i] = 0.01f * (float)(i % 17);
    char names[32][96];
    int64_t shapes[32][2];
    wf_st_entry e[32];
    int n = 0;
    const char *per[] = {"input_layernorm.weight:8", "self_attn.q_proj.weight:8x8",
                         "self_attn.k_proj.weight:4x8", "self_attn.v_proj.weight:4x8",
                         "self_attn.o_proj.weight:8x8", "post_attention_layernorm.weight:8",
                         "mlp.gate_proj.weight:16x8", "mlp.up_proj.weight:16x8", "mlp.down_proj.weight:8x16"};
    for (int l = -1; l < 3; l++)
        for (int k = 0; k < (l >= 0 && l < 2 ? 9 : 1); k++) {
            const char *spec = l < 0 ? "model.embed_tokens.weight:10x8" : l == 2 ? "model.norm.weight:8" : per[k];
            char name[96];
            const char *colon = strchr(spec, ':');
            if (l >= 0 && l < 2) snprintf(name, sizeof name, "model.layers.%d.%.*s", l, (int)(colon - spec), spec);
            else snprintf(name, sizeof name, "%.*s", (int)(colon - spec), spec);
            snprintf(names[n], sizeof names[n], "%s", name);
            int nd = sscanf(colon + 1, "%ldx%ld", (long *)&shapes[n][0], (long *)&shapes[n][1]);
            e[n] = (wf_st_entry){names[n], WF_ST_F32, nd, shapes[n], vals};
            n++;
        }
    snprintf(names[n], sizeof names[n], "lm_head.weight");
    shapes[n][0] = 10, shapes[n][1] = 8;
    e[n] = (wf_st_entry){names[n], WF_ST_F32, 2, shapes[n], vals};
    n++;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (wf_st_write(p, e, n, NULL, 0) != WF_OK) fprintf(stderr, "fixture: %s\n", wf_last_error()), failures++;
}

static bool has(const wf_trainable *t, const char *name) { return wf_trainable_find(t, name) != NULL; }

/* Builds a trainable set with spec on a fresh load; returns its parameter count (or -1). */
static int build(wf_backend *be, const char *dir, const wf_peft_spec *sp, wf_model *m, wf_trainable *t) {
    if (wf_model_load(dir, be, WF_F32, m) != WF_OK) return -1;
    if (wf_trainable_build(m, sp, t) != WF_OK) {
        wf_model_free(m);
        return -1;
    }
    return t->n_params;
}

static void release(wf_model *m, wf_trainable *t) {
    wf_trainable_free(m, t);
    wf_model_free(m);
}

/* trainable.h composition: the union of what each method trains; LoRA skips fully trained
 * base weights; full with anything and LoRA with IA3 are refused. */
static void composed_sets(wf_backend *be, const char *dir) {
    wf_peft_spec sp;
    wf_model m;
    wf_trainable t;
    wf_peft_spec_default(&sp); /* LoRA on q_proj, v_proj: 2 layers x 2 sites x (A, B) */
    sp.extras = WF_METHOD_BIT(WF_METHOD_ADAPTER) | WF_METHOD_BIT(WF_METHOD_PROMPT) | WF_METHOD_BIT(WF_METHOD_FREEZE);
    sp.adapter_size = 2, sp.prompt_tokens = 3, sp.train_top_layers = 1;
    /* layer 1 (9) + final norm + lm_head; LoRA on layer 0 only (4); 2 x 2 x 4 Houlsby; prompt */
    EXPECT(build(be, dir, &sp, &m, &t) == 11 + 4 + 16 + 1);
    EXPECT(has(&t, "model.layers.0.self_attn.q_proj.lora_A.weight") &&
           !has(&t, "model.layers.1.self_attn.q_proj.lora_A.weight"));
    EXPECT(has(&t, "model.layers.1.self_attn.q_proj.weight") && has(&t, "prompt_embeddings") &&
           has(&t, "model.layers.0.adapter_mlp.up.weight") && !has(&t, "model.layers.0.mlp.up_proj.weight"));
    EXPECT(m.lora[1 * WF_N_SITES + WF_SITE_Q].a.data == NULL && t.grads.w.layers[0].wq.data == NULL);
    release(&m, &t);
    sp.train_top_layers = 2; /* every LoRA target trains fully: nothing left for LoRA */
    EXPECT(build(be, dir, &sp, &m, &t) == -1 && strstr(wf_last_error(), "nothing left for LoRA"));
    sp.extras = WF_METHOD_BIT(WF_METHOD_IA3);
    EXPECT(build(be, dir, &sp, &m, &t) == -1 && strstr(wf_last_error(), "lora and ia3 do not combine"));
    sp.method = WF_METHOD_FULL, sp.extras = WF_METHOD_BIT(WF_METHOD_ADAPTER);
    EXPECT(build(be, dir, &sp, &m, &t) == -1 && strstr(wf_last_error(), "does not combine"));
}

static void trainable_sets(wf_backend *be, const char *dir) {
    wf_peft_spec sp;
    wf_model m;
    wf_trainable t;
    wf_peft_spec_default(&sp);
    sp.method = WF_METHOD_FULL; /* no_decay: bias, norm */
    EXPECT(build(be, dir, &sp, &m, &t) == 21);
    const wf_param *norm = wf_trainable_find(&t, "model.layers.1.input_layernorm.weight");
    const wf_param *emb = wf_trainable_find(&t, "model.embed_tokens.weight");
    EXPECT(norm && !norm->decay && norm->offset >= t.n_decay && emb && emb->decay && emb->offset < t.n_decay);
    release(&m, &t);

    sp.method = WF_METHOD_FREEZE, sp.train_top_layers = 1;
    EXPECT(build(be, dir, &sp, &m, &t) == 11); /* layer 1 (9) + final norm + lm_head */
    EXPECT(has(&t, "model.layers.1.mlp.up_proj.weight") && !has(&t, "model.layers.0.mlp.up_proj.weight"));
    EXPECT(has(&t, "model.norm.weight") && has(&t, "lm_head.weight") && !has(&t, "model.embed_tokens.weight"));
    EXPECT(t.grads.w.layers[0].wq.data == NULL && t.grads.w.layers[1].wq.data != NULL); /* frozen: no grad */
    release(&m, &t);

    sp.train_top_layers = 0, sp.n_modules = 1;
    snprintf(sp.modules[0], sizeof sp.modules[0], "mlp.down_proj");
    EXPECT(build(be, dir, &sp, &m, &t) == 2 && has(&t, "model.layers.0.mlp.down_proj.weight"));
    release(&m, &t);

    sp.n_modules = 0, sp.method = WF_METHOD_BITFIT; /* the tiny llama has no biases at all */
    EXPECT(build(be, dir, &sp, &m, &t) == -1 && strstr(wf_last_error(), "nothing to train"));

    wf_peft_spec_default(&sp); /* LoRA r 8 on q_proj, v_proj */
    EXPECT(build(be, dir, &sp, &m, &t) == 8);
    const wf_param *A = wf_trainable_find(&t, "model.layers.1.self_attn.v_proj.lora_A.weight");
    const wf_param *B = wf_trainable_find(&t, "model.layers.1.self_attn.v_proj.lora_B.weight");
    EXPECT(A && B && A->weight->shape[0] == 8 && A->weight->shape[1] == 8 && B->weight->shape[0] == 4);
    float amax = 0, bmax = 0;
    for (int64_t i = 0; A && i < A->numel; i++) amax = fmaxf(amax, fabsf(((float *)A->weight->data)[i]));
    for (int64_t i = 0; B && i < B->numel; i++) bmax = fmaxf(bmax, fabsf(((float *)B->weight->data)[i]));
    EXPECT(amax > 0 && amax <= 1.0f / sqrtf(8.0f) && bmax == 0); /* PEFT: A ~ U(+-1/sqrt(in)), B = 0 */
    EXPECT(m.lora[1 * WF_N_SITES + WF_SITE_V].scale == 2.0f && m.lora[WF_SITE_K].a.data == NULL);
    release(&m, &t);

    snprintf(sp.targets[0], sizeof sp.targets[0], "query");
    sp.n_targets = 1;
    EXPECT(build(be, dir, &sp, &m, &t) == -1 && strstr(wf_last_error(), "no module"));
    composed_sets(be, dir);
}

int main(void) {
    schedules();
    early_stopping();
    metrics();
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/weft-test-train-logic-%ld", (long)getpid());
    write_tiny_llama(dir);
    wf_backend *be = NULL;
    if (wf_backend_open("cpu", NULL, &be) != WF_OK) return 1;
    trainable_sets(be, dir);
    wf_backend_close(be);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
    printf("train logic: %d failures\n", failures);
    return failures ? 1 : 0;
}
