/* Training parity, CUDA against the CPU reference: a tiny random Llama (GQA, untied head) is
 * written to a temporary directory, then trained for 20 AdamW steps of 2 unequal micro-batches
 * (clipping at 1.0, linear warmup) on each backend from the same weights and batches, once as a
 * full fine-tune and once with LoRA r=4 on q/v/down. Per-step losses and grad norms, and the
 * final trainable weights, must agree.
 *   train_parity [BACKEND [REF]]   (default: cuda against cpu; "cpu cpu" checks the tool itself)
 * Exit 77 (skip) when BACKEND has no device.
 *
 * Tolerances (fp32 on both sides): losses 1e-4 relative, grad norms 1e-3 relative, final weights
 * 5e-4 of each tensor's largest magnitude. cuBLAS and OpenBLAS sum the 32..256-long dot products
 * in different orders (~1e-7 relative per GEMM); AdamW divides by sqrt(v), so after 20 steps a
 * weight whose gradient is near zero moves by up to ~lr away from the other side's, which the
 * weight tolerance (lr = 5e-3 times 0.1 of a scale ~1) covers. A wrong kernel shows as an O(1e-2)
 * loss difference within the first steps: the full fine-tune takes the loss from 5.27 to 0.58 in
 * 20 steps. "train_parity cpu cpu" (suite cpu) runs the tool itself everywhere: the CPU is
 * bit-identical to itself, so it must report zero differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/rng.h"
#include "weft/safetensors.h"
#include "weft/trainer.h"

enum { STEPS = 20, MICRO = 2, B = 2, T = 12, VOCAB = 96, C = 32, FF = 48, LAYERS = 2 };
#define LR 5e-3
#define TOL_LOSS 1e-4
#define TOL_NORM 1e-3
#define TOL_W 5e-4

typedef struct run_out {
    double loss[STEPS], norm[STEPS];
    int n_params;
    char (*names)[192];
    int64_t *offset, *numel;
    float *w; /* final trainable weights, flat */
} run_out;

static int fail(const char *what) {
    fprintf(stderr, "train_parity: %s: %s\n", what, wf_last_error());
    return 1;
}

/* N(0, 1) by Box-Muller from two Philox uniforms. */
static float normal(uint32_t stream, uint64_t i) {
    double u1 = wf_rng_uniform(77, 0, stream, 2 * i), u2 = wf_rng_uniform(77, 0, stream, 2 * i + 1);
    return (float)(sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2));
}

/* config.json + model.safetensors of a tiny Llama, weights N(0, 0.2) (norms 1 + N(0, 0.1)). */
static int write_model(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return perror(path), 1;
    fprintf(f, "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"], "
               "\"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d, "
               "\"num_hidden_layers\": %d, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
               "\"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0, "
               "\"hidden_act\": \"silu\", \"tie_word_embeddings\": false}\n",
            VOCAB, C, FF, LAYERS);
    fclose(f);
    enum { KV = C / 2 }; /* 2 of 4 heads of 8 */
    static const char *lin[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                "mlp.down_proj"};
    static const int64_t lin_shape[][2] = {{C, C}, {KV, C}, {KV, C}, {C, C}, {FF, C}, {FF, C}, {C, FF}};
    enum { MAXT = 4 + LAYERS * 9 };
    wf_st_entry e[MAXT];
    char names[MAXT][96];
    int64_t shapes[MAXT][2];
    float *data[MAXT];
    int n = 0;
#define ADD(NAME, R, K, NORM)                                                                      \
    do {                                                                                           \
        snprintf(names[n], sizeof names[n], "%s", NAME);                                           \
        shapes[n][0] = (R), shapes[n][1] = (K);                                                    \
        int64_t cnt = (R) * ((K) ? (K) : 1);                                                       \
        data[n] = malloc((size_t)cnt * sizeof(float));                                            \
        for (int64_t i = 0; i < cnt; i++) {                                                        \
            float z = normal((uint32_t)n, (uint64_t)i);                                            \
            data[n][i] = (NORM) ? 1.0f + 0.1f * z : 0.2f * z;                                      \
        }                                                                                          \
        e[n] = (wf_st_entry){names[n], WF_ST_F32, (K) ? 2 : 1, shapes[n], data[n]};                \
        n++;                                                                                       \
    } while (0)
    ADD("model.embed_tokens.weight", VOCAB, C, 0);
    for (int l = 0; l < LAYERS; l++) {
        char nm[96];
        for (int k = 0; k < 7; k++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, lin[k]);
            ADD(nm, lin_shape[k][0], lin_shape[k][1], 0);
        }
        snprintf(nm, sizeof nm, "model.layers.%d.input_layernorm.weight", l);
        ADD(nm, C, 0, 1);
        snprintf(nm, sizeof nm, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(nm, C, 0, 1);
    }
    ADD("model.norm.weight", C, 0, 1);
    ADD("lm_head.weight", VOCAB, C, 0);
#undef ADD
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    wf_status s = wf_st_write(path, e, n, NULL, 0);
    for (int i = 0; i < n; i++) free(data[i]);
    return s == WF_OK ? 0 : fail("write model");
}

/* MICRO micro-batches of (B, T): random ids, next-token targets, the second with fewer loss
 * tokens (its first row's first 5 targets ignored). */
static void make_batches(int32_t *ids, int32_t *targets) {
    for (int k = 0; k < MICRO; k++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                int64_t i = ((int64_t)k * B + b) * T + t;
                ids[i] = (int32_t)(wf_rng_uniform(99, 0, 0, (uint64_t)i) * VOCAB);
            }
    for (int k = 0; k < MICRO; k++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                int64_t i = ((int64_t)k * B + b) * T + t;
                bool ignored = t == T - 1 || (k == 1 && b == 0 && t < 5);
                targets[i] = ignored ? -100 : ids[i + 1];
            }
}

static int train(const char *dir, const char *backend, bool lora, run_out *o) {
    wf_backend *be = NULL;
    wf_model m;
    wf_trainable t;
    wf_trainer tr;
    if (wf_backend_open(backend, NULL, &be) != WF_OK) return fail(backend);
    if (wf_model_load(dir, be, WF_F32, &m) != WF_OK) return fail("load");
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.method = WF_METHOD_FULL;
    if (lora) {
        sp.method = WF_METHOD_LORA, sp.lora_r = 4, sp.lora_alpha = 8, sp.n_targets = 3;
        strcpy(sp.targets[0], "q_proj"), strcpy(sp.targets[1], "v_proj");
        strcpy(sp.targets[2], "down_proj");
    }
    if (wf_trainable_build(&m, &sp, &t) != WF_OK) return fail("trainable");
    wf_adamw_hparams hp = {.lr = (float)LR, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = 0.01f, .max_grad_norm = 1.0f};
    if (wf_trainer_init(&tr, &m, &t, B, T, &hp, 1234) != WF_OK) return fail("trainer");
    static int32_t ids[MICRO * B * T], targets[MICRO * B * T];
    make_batches(ids, targets);
    wf_batch_host micro[MICRO];
    for (int k = 0; k < MICRO; k++)
        micro[k] = (wf_batch_host){.B = B, .T = T, .ids = ids + k * B * T, .targets = targets + k * B * T};
    wf_lr_schedule sched = {.kind = WF_SCHED_LINEAR, .lr = LR, .warmup_steps = 3, .total_steps = STEPS};
    for (int s = 0; s < STEPS; s++) {
        wf_step_result r;
        if (wf_trainer_step(&tr, micro, MICRO, wf_lr_at(&sched, s), (uint32_t)s, &r) != WF_OK)
            return fail("step");
        o->loss[s] = r.loss, o->norm[s] = r.grad_norm;
    }
    o->n_params = t.n_params;
    o->names = calloc((size_t)t.n_params, sizeof *o->names);
    o->offset = calloc((size_t)t.n_params, sizeof *o->offset);
    o->numel = calloc((size_t)t.n_params, sizeof *o->numel);
    o->w = malloc((size_t)t.total * sizeof *o->w);
    for (int i = 0; i < t.n_params; i++) {
        snprintf(o->names[i], sizeof o->names[i], "%s", t.params[i].name);
        o->offset[i] = t.params[i].offset, o->numel[i] = wf_tensor_numel(t.params[i].weight);
    }
    if (be->copy(be, o->w, t.p.data, (size_t)t.total * sizeof(float), WF_COPY_D2H) != WF_OK)
        return fail("read back");
    wf_trainer_free(&tr);
    wf_trainable_free(&m, &t);
    wf_model_free(&m);
    wf_backend_close(be);
    return 0;
}

/* Compares run a (the backend) with run r (the reference); prints a summary line. */
static int compare(const char *what, const run_out *a, const run_out *r) {
    int bad = 0;
    double worst_loss = 0, worst_norm = 0, worst_w = 0;
    for (int s = 0; s < STEPS; s++) {
        double dl = fabs(a->loss[s] - r->loss[s]) / fabs(r->loss[s]);
        double dn = fabs(a->norm[s] - r->norm[s]) / fmax(fabs(r->norm[s]), 1e-12);
        if (!(dl <= TOL_LOSS) || !(dn <= TOL_NORM)) {
            if (bad++ < 5)
                fprintf(stderr, "  %s step %d: loss %.9g vs %.9g, grad norm %.9g vs %.9g\n", what, s,
                        a->loss[s], r->loss[s], a->norm[s], r->norm[s]);
        }
        worst_loss = fmax(worst_loss, dl), worst_norm = fmax(worst_norm, dn);
    }
    if (a->n_params != r->n_params) {
        fprintf(stderr, "  %s: %d trainable tensors vs %d\n", what, a->n_params, r->n_params);
        return 1;
    }
    for (int i = 0; i < r->n_params; i++) {
        const float *x = a->w + a->offset[i], *y = r->w + r->offset[i];
        double scale = 0, d = 0;
        for (int64_t k = 0; k < r->numel[i]; k++) scale = fmax(scale, fabs(y[k]));
        for (int64_t k = 0; k < r->numel[i]; k++) d = fmax(d, fabs((double)x[k] - y[k]));
        double rel = d / fmax(scale, 1e-12);
        if (!(rel <= TOL_W) && bad++ < 10)
            fprintf(stderr, "  %s: %s max |diff| %.3g of scale %.3g\n", what, r->names[i], d, scale);
        worst_w = fmax(worst_w, rel);
    }
    printf("%-4s %-18s steps %d  loss %.6f -> %.6f  worst rel diff: loss %.2e (tol %.0e), grad norm "
           "%.2e (tol %.0e), weights %.2e (tol %.0e)\n",
           bad ? "FAIL" : "ok", what, STEPS, r->loss[0], r->loss[STEPS - 1], worst_loss, TOL_LOSS,
           worst_norm, TOL_NORM, worst_w, TOL_W);
    return bad != 0;
}

static void free_out(run_out *o) { free(o->names), free(o->offset), free(o->numel), free(o->w); }

int main(int argc, char **argv) {
    const char *backend = argc > 1 ? argv[1] : "cuda", *ref = argc > 2 ? argv[2] : "cpu";
    if (!wf_backend_available(backend)) {
        printf("train_parity: no %s device: skipped\n", backend);
        return 77;
    }
    char dir[] = "/tmp/weft-parity-XXXXXX";
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    int rc = write_model(dir);
    for (int lora = 0; !rc && lora < 2; lora++) {
        run_out a = {0}, r = {0};
        char what[64];
        snprintf(what, sizeof what, "%s fp32 %s", lora ? "lora" : "full", backend);
        rc = train(dir, backend, lora, &a) || train(dir, ref, lora, &r);
        if (!rc) rc = compare(what, &a, &r);
        free_out(&a), free_out(&r);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir), remove(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir), remove(path);
    remove(dir);
    return rc;
}
