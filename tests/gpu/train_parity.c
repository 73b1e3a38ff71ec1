/* Training parity, CUDA against the CPU reference: a tiny random Llama (GQA, untied head) is
 * written to a temporary directory, then trained for 20 AdamW steps of 2 unequal micro-batches
 * (clipping at 1.0, linear warmup) on each backend from the same weights and batches, once as a
 * full fine-tune and once with LoRA r=4 on q/v/down. Per-step losses and grad norms, and the
 * final trainable weights, must agree.
 *   train_parity [BACKEND [REF [METHODS]]]   (default: cuda against cpu, every method; "cpu cpu"
 *   checks the tool itself; METHODS e.g. "lora,composed" runs only those)
 * Exit 77 (skip) when BACKEND has no device.
 *
 * Tolerances (fp32 on both sides): losses 1e-4 relative, grad norms 1e-3 relative, final weights
 * 5e-4 of each tensor's largest magnitude. cuBLAS and OpenBLAS sum the 32..256-long dot products
 * in different orders (~1e-7 relative per GEMM); AdamW divides by sqrt(v), so after 20 steps a
 * weight whose gradient is near zero moves by up to ~lr away from the other side's, which the
 * weight tolerance (lr = 5e-3 times 0.1 of a scale ~1) covers. A wrong kernel shows as an O(1e-2)
 * loss difference within the first steps: the full fine-tune takes the loss from 5.27 to 0.58 in
 * 20 steps. "train_parity cpu cpu" (suite cpu) runs the tool itself everywhere: the CPU is
 * bit-identical to itself, so it must report zero differences.
 *
 * Mixed precision (GPU only; DESIGN.md "Precision"): the same full and LoRA runs in bf16 against
 * the fp32 CPU run (tolerances at lowp_tols), and an fp16 run with dynamic loss scaling from
 * 2^40 (growth every 4 clean steps): the first steps overflow and must be skipped with the
 * weights untouched while the scale halves, the scale must follow GradScaler's rule at every
 * attempt and grow at least once, and the clean steps must match fp32 (check_scaler). On the
 * CPU the scaler path runs in fp32 from 2^60 and must match the unscaled run exactly.
 * Last, check_loss_slots: a step of many micro-batches reports the loss their evaluation gives.
 * Then a tiny GPT-2 (random init from config.json alone, tanh GELU, MLP width 64), full and LoRA on
 * c_attn, fp32 and bf16: its MLP runs the fused linear + GELU ops (ops.h linear_gelu_tanh_fwd,
 * linear_dgelu_tanh_bwd: cuBLASLt's GELU epilogues in bf16), against the same CPU reference.
 * Activation checkpointing: every method's fp32 run (and LoRA's bf16 run) again with the blocks
 * recomputed in the backward (trainer.h wf_trainer_init_ex) must equal its run without, bit
 * for bit (losses, grad norms, weights), on the backend under test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/data.h"
#include "weft/rng.h"
#include "weft/safetensors.h"
#include "weft/trainer.h"

enum { STEPS = 20, MICRO = 2, B = 2, T = 12, VOCAB = 96, C = 32, FF = 48, LAYERS = 2 };
#define LR 5e-3
#define TOL_LOSS 1e-4
#define TOL_NORM 1e-3
#define TOL_W 5e-4

/* One training run: its backend, compute dtype, method, and loss scaling (scale0 > 0: dynamic
 * scaling from scale0, growing after `interval` clean steps). */
enum { PM_FULL, PM_LORA, PM_DORA, PM_IA3, PM_PROMPT, PM_ADAPTER, PM_COMPOSE, PM_COUNT };
static const char *const k_method_names[PM_COUNT] = {"full", "lora", "dora", "ia3", "prompt", "adapter",
                                                     "composed"};

typedef struct run_cfg {
    const char *backend;
    wf_dtype dt;
    int method; /* PM_* */
    float scale0;
    int interval;
    bool gpt2; /* the tiny GPT-2 of write_gpt2 instead of the Llama of write_model */
    bool recompute; /* activation checkpointing (trainer.h wf_trainer_init_ex) */
} run_cfg;

enum { MAX_TRIES = STEPS + 64 }; /* 2^40 backs off to ~2^17 in ~23 skipped steps */

typedef struct run_out {
    double loss[STEPS], norm[STEPS];
    int n_params;
    char (*names)[192];
    int64_t *offset, *numel;
    float *w; /* final trainable weights, flat */
    /* loss scaling: every attempt (skipped or not), in order */
    int tries;
    bool skipped[MAX_TRIES];
    double scale[MAX_TRIES], next[MAX_TRIES];
    int moved_on_skip; /* skipped attempts after which a master weight had changed */
    int64_t lowp_mismatch; /* compute-copy values != the master rounded to the compute dtype */
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

/* config.json of a tiny GPT-2 in dir2 (weights drawn at load: wf_load_opts.random_init, std
 * 0.2 so the GELU sees inputs of order 1; biases start at 0 and train). n_inner 64: a multiple
 * of 8, so the CUDA backend fuses the GELU into the GEMMs in bf16. */
static int write_gpt2(const char *dir2) {
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir2);
    FILE *f = fopen(path, "w");
    if (!f) return perror(path), 1;
    fprintf(f, "{\"model_type\": \"gpt2\", \"architectures\": [\"GPT2LMHeadModel\"], "
               "\"vocab_size\": %d, \"n_embd\": %d, \"n_inner\": 64, \"n_layer\": %d, "
               "\"n_head\": 4, \"n_positions\": 64, \"activation_function\": \"gelu_new\", "
               "\"initializer_range\": 0.2}\n", VOCAB, C, LAYERS);
    fclose(f);
    return 0;
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

/* Counts compute-copy values that differ from their master value rounded to the compute
 * dtype (AdamW writes both in one pass; the copy is what the next forward uses). */
static int64_t lowp_mismatches(wf_backend *be, const wf_trainable *t, const float *p) {
    if (!t->p_lowp.data) return 0;
    uint16_t *h = malloc((size_t)t->total * sizeof *h);
    int64_t bad = 0;
    if (!h || be->copy(be, h, t->p_lowp.data, (size_t)t->total * 2, WF_COPY_D2H) != WF_OK ||
        be->sync(be) != WF_OK)
        bad = -1;
    for (int64_t i = 0; bad >= 0 && i < t->total; i++) {
        uint16_t r = t->p_lowp.dtype == WF_BF16 ? wf_f32_to_bf16(p[i]) : wf_f32_to_f16(p[i]);
        bad += h[i] != r;
    }
    free(h);
    return bad < 0 ? t->total : bad;
}

static int read_master(wf_backend *be, const wf_trainable *t, float *w) {
    if (be->copy(be, w, t->p.data, (size_t)t->total * sizeof(float), WF_COPY_D2H) != WF_OK ||
        be->sync(be) != WF_OK)
        return fail("read back");
    return 0;
}

#if defined(WF_CUDA_EMU)
#include "weft/cuda_emu.h"
/* On the CUDA emulator the runtime counts calls, so the design's promise for a training step is
 * checked on every attempt of every run:
 * - no cudaMalloc/cudaFree (DESIGN.md: memory is planned once, STYLE.md rule 5);
 * - exactly one device-to-host read (trainer.c read_back: the step state and the loss slots of up
 *   to WF_TRAINER_LOSS_SLOTS micro-batches in one copy; MICRO is 2) and exactly one stream sync,
 *   the one that read waits with: the host never drains the device to upload a micro-batch;
 * - every H2D copy from page-locked memory (graph.h wf_batch_stage), since the driver stages a
 *   pageable one and the host may wait for it;
 * - at most one event wait per micro-batch (wf_batch_upload_staged: its staging buffer's last
 *   copy, two uploads back; it waits for that copy, never for the batch behind it). */
static int emu_steps_checked;
static int emu_step_check(const wf_backend *be, const wf_cuda_emu_counters *c0, int attempt) {
    if (strcmp(be->name, "cuda") != 0) return 0;
    wf_cuda_emu_counters c1 = wf_cuda_emu_counters_get();
    long long mallocs = c1.mallocs - c0->mallocs, frees = c1.frees - c0->frees;
    long long d2h = c1.d2h_copies - c0->d2h_copies, syncs = c1.stream_syncs - c0->stream_syncs;
    long long pageable = c1.h2d_pageable - c0->h2d_pageable;
    long long ev = c1.event_syncs - c0->event_syncs;
    emu_steps_checked++;
    if (mallocs == 0 && frees == 0 && d2h == 1 && syncs == 1 && pageable == 0 && ev <= MICRO)
        return 0;
    fprintf(stderr, "FAIL emu step budget: attempt %d made %lld cudaMalloc, %lld cudaFree, %lld "
            "device-to-host reads, %lld stream syncs, %lld pageable H2D copies and %lld event "
            "waits (want 0, 0, 1, 1, 0, <= %d)\n", attempt, mallocs, frees, d2h, syncs, pageable,
            ev, MICRO);
    return 1;
}
#endif

/* The steps: an attempt whose gradients overflow is skipped and retried with the same batch,
 * learning rate and dropout step (the optimizer step it did not take), so the k-th clean step
 * of a scaled run is comparable with step k of an unscaled one. */
static int steps(wf_backend *be, wf_trainer *tr, const wf_trainable *t, const run_cfg *cfg,
                 const wf_batch_host *micro, run_out *o) {
    wf_lr_schedule sched = {.kind = WF_SCHED_LINEAR, .lr = LR, .warmup_steps = 3, .total_steps = STEPS};
    float *before = malloc((size_t)t->total * sizeof *before);
    float *after = malloc((size_t)t->total * sizeof *after);
    int s = 0, rc = 0;
    while (!rc && s < STEPS) {
        if (o->tries == MAX_TRIES) {
            fprintf(stderr, "train_parity: %d attempts for %d steps\n", MAX_TRIES, s);
            rc = 1;
            break;
        }
        if (cfg->scale0 > 0) rc = read_master(be, t, before);
        wf_step_result r;
#if defined(WF_CUDA_EMU)
        const wf_cuda_emu_counters c0 = wf_cuda_emu_counters_get();
#endif
        if (!rc && wf_trainer_step(tr, micro, MICRO, wf_lr_at(&sched, s), (uint32_t)s, &r) != WF_OK)
            rc = fail("step");
#if defined(WF_CUDA_EMU)
        if (!rc) rc = emu_step_check(be, &c0, o->tries);
#endif
        if (rc) break;
        int k = o->tries++;
        o->skipped[k] = r.skipped, o->scale[k] = r.loss_scale, o->next[k] = r.next_scale;
        if (r.skipped) {
            rc = read_master(be, t, after);
            if (!rc && memcmp(before, after, (size_t)t->total * sizeof(float)) != 0) o->moved_on_skip++;
            continue;
        }
        o->loss[s] = r.loss, o->norm[s] = r.grad_norm;
        s++;
    }
    free(before), free(after);
    return rc;
}

/* The mean loss over the loss tokens of `micro` at the current weights, straight from the
 * graph: forward + loss per micro-batch, then every entry of the per-token loss tensor (ignored
 * targets and virtual tokens hold 0) summed on the host. */
static int graph_loss(wf_model *m, const wf_batch_host *micro, double *out) {
    wf_acts acts;
    wf_arena arena;
    if (wf_acts_create(m, B, T, WF_ACTS_TRAIN, &acts) != WF_OK) return fail("acts");
    if (wf_backend_arena_create(m->be, &arena, "parity batch", wf_batch_bytes(m, B, T) + 4096) != WF_OK)
        return fail("batch arena");
    int64_t n = wf_tensor_numel(&acts.d.tok_loss), count = 0;
    float *host = malloc((size_t)n * sizeof *host);
    double sum = 0;
    int rc = 0;
    for (int k = 0; !rc && k < MICRO; k++) {
        wf_batch b;
        wf_arena_reset(&arena, 0);
        if (wf_batch_upload(m, &micro[k], &arena, &b) != WF_OK || wf_graph_forward(m, &b, &acts) != WF_OK ||
            wf_graph_loss(m, &b, &acts, NULL, 1.0f) != WF_OK ||
            m->be->copy(m->be, host, acts.d.tok_loss.data, (size_t)n * sizeof *host, WF_COPY_D2H) != WF_OK ||
            m->be->sync(m->be) != WF_OK) {
            rc = fail("graph loss");
            break;
        }
        for (int64_t i = 0; i < n; i++) sum += host[i];
        count += wf_batch_loss_tokens(&micro[k]);
    }
    free(host);
    wf_backend_arena_destroy(m->be, &arena);
    wf_acts_destroy(m, &acts);
    *out = sum / (double)count;
    return rc;
}

static int train(const char *dir, const run_cfg *cfg, run_out *o) {
    wf_backend *be = NULL;
    wf_model m;
    wf_trainable t;
    wf_trainer tr;
    if (wf_backend_open(cfg->backend, NULL, &be) != WF_OK) return fail(cfg->backend);
    wf_load_opts lo = {.seed = 5, .random_init = true};
    if (cfg->gpt2 ? wf_model_load_ex(dir, be, cfg->dt, &lo, &m) != WF_OK
                  : wf_model_load(dir, be, cfg->dt, &m) != WF_OK)
        return fail("load");
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.method = WF_METHOD_FULL;
    if (cfg->gpt2 && cfg->method == PM_LORA) { /* the MLP stays a plain linear: fused */
        sp.method = WF_METHOD_LORA, sp.lora_r = 4, sp.lora_alpha = 8, sp.n_targets = 1;
        strcpy(sp.targets[0], "c_attn");
    } else if (cfg->method == PM_LORA || cfg->method == PM_DORA) {
        sp.method = WF_METHOD_LORA, sp.lora_r = 4, sp.lora_alpha = 8, sp.n_targets = 3;
        strcpy(sp.targets[0], "q_proj"), strcpy(sp.targets[1], "v_proj");
        strcpy(sp.targets[2], "down_proj");
        sp.dora = cfg->method == PM_DORA;
    } else if (cfg->method == PM_IA3) { /* PEFT's llama default: k, v (output), down (input) */
        sp.method = WF_METHOD_IA3, sp.n_ia3_targets = 0, sp.ia3_ff_auto = true;
    } else if (cfg->method == PM_PROMPT) { /* random init */
        sp.method = WF_METHOD_PROMPT, sp.prompt_tokens = 5;
    } else if (cfg->method == PM_ADAPTER) {
        sp.method = WF_METHOD_ADAPTER, sp.adapter_size = 8;
    } else if (cfg->method == PM_COMPOSE) { /* LoRA below the trained top block + Houlsby + prompt */
        sp.method = WF_METHOD_LORA, sp.lora_r = 4, sp.lora_alpha = 8, sp.n_targets = 3;
        strcpy(sp.targets[0], "q_proj"), strcpy(sp.targets[1], "v_proj"), strcpy(sp.targets[2], "down_proj");
        sp.extras = WF_METHOD_BIT(WF_METHOD_ADAPTER) | WF_METHOD_BIT(WF_METHOD_PROMPT) | WF_METHOD_BIT(WF_METHOD_FREEZE);
        sp.adapter_size = 8, sp.prompt_tokens = 5, sp.train_top_layers = 1;
    }
    if (wf_trainable_build(&m, &sp, &t) != WF_OK) return fail("trainable");
    wf_adamw_hparams hp = {.lr = (float)LR, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = 0.01f, .max_grad_norm = 1.0f};
    size_t arenas0 = be->mem_arenas;
    if (wf_trainer_init_ex(&tr, &m, &t, B, T, &hp, 1234, cfg->recompute) != WF_OK) return fail("trainer");
    /* the trainer takes what wf_trainer_device_bytes says (the out-of-memory advice relies on it) */
    size_t took = be->mem_arenas - arenas0, said = wf_trainer_device_bytes(&m, B, T, cfg->recompute);
    if (took != said) {
        fprintf(stderr, "train_parity: the trainer took %zu bytes of arenas, wf_trainer_device_bytes "
                "says %zu\n", took, said);
        return 1;
    }
    wf_scaler_hparams sh = {.dynamic = true, .growth = 2.0f, .backoff = 0.5f, .interval = cfg->interval};
    if (cfg->scale0 > 0 && wf_trainer_set_scaler(&tr, cfg->scale0, &sh) != WF_OK) return fail("scaler");
    static int32_t ids[MICRO * B * T], targets[MICRO * B * T];
    make_batches(ids, targets);
    wf_batch_host micro[MICRO];
    for (int k = 0; k < MICRO; k++)
        micro[k] = (wf_batch_host){.B = B, .T = T, .ids = ids + k * B * T, .targets = targets + k * B * T};
    /* the first step's reported loss is the loss at the initial weights: the graph's own
     * per-token losses, every one of them summed here (not through the trainer's bookkeeping),
     * must give it (exact on the CPU; elsewhere cuBLAS may pick another algorithm: 1e-6 in
     * fp32, 2e-3 when activations round to bf16/fp16 between layers) */
    double eval0 = 0;
    if (graph_loss(&m, micro, &eval0)) return 1;
    if (steps(be, &tr, &t, cfg, micro, o)) return 1;
    double tol0 = !strcmp(cfg->backend, "cpu") ? 0 : cfg->dt == WF_F32 ? 1e-6 : 2e-3;
    if (!(fabs(o->loss[0] - eval0) <= tol0 * eval0)) {
        fprintf(stderr, "train_parity: %s %s on %s: step 0 reports loss %.9g, evaluating the same "
                "batches gives %.9g\n", k_method_names[cfg->method], wf_dtype_name(cfg->dt),
                cfg->backend, o->loss[0], eval0);
        return 1;
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
    if (read_master(be, &t, o->w)) return 1;
    o->lowp_mismatch = lowp_mismatches(be, &t, o->w);
    wf_trainer_free(&tr);
    wf_trainable_free(&m, &t);
    wf_model_free(&m);
    wf_backend_close(be);
    return 0;
}

/* Tolerances of a run against the fp32 reference. */
typedef struct tols {
    double loss, norm, w;
    int norm_steps; /* grad norms compared over the first norm_steps steps */
} tols;

/* fp32 on both sides: see the file comment. */
static const tols k_tol_f32 = {TOL_LOSS, TOL_NORM, TOL_W, STEPS};
/* bf16/fp16 against fp32: 20 units of roundoff u (bf16 2^-9, fp16 2^-11) for losses, and for the
 * grad norms of the first 5 steps. Each op rounds its output to the compute dtype once (an
 * accumulation in fp32 before it), a forward + backward is ~30 such roundings deep here, and
 * their relative errors add up like a random walk (~sqrt(30) u ~ 5u) in the logits and the
 * gradients; the loss of a token whose target probability is near 1 has a relative error ~ the
 * logits' absolute error, so at the end (loss ~0.6, logits ~10) it reaches several u; 20u leaves
 * room for the trajectories' drift over 20 steps (the fp32 runs drift to ~3 u32, 2e-7). A
 * scaling bug (no unscale: grad norms x S; a stale compute copy; gradients rounded to bf16 and
 * misread) is orders of magnitude above that. Later grad norms measure the residual error the
 * training has left, which rounding changes most, so they are not compared. Weights: AdamW
 * turns a rounding-sized gradient difference into a full +-lr step on weights whose gradient is
 * near 0, so low-precision weights are checked through their losses, and through the compute
 * copy (exactly the master rounded) instead. */
static tols lowp_tols(wf_dtype dt) {
    double u = dt == WF_BF16 ? 0x1p-9 : 0x1p-11;
    return (tols){20 * u, 20 * u, -1, 5};
}

/* GPT-2's key bias (c_attn.bias:k) gets only rounding noise: its exact gradient is 0 (q . b_k
 * adds the same to every score of a row, which softmax ignores), and AdamW turns that noise into
 * +-lr steps that differ between backends. The losses check it instead of its weights. */
static bool noise_only(const char *name) {
    const char *suffix = "c_attn.bias:k";
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcmp(name + n - s, suffix) == 0;
}

/* Compares run a (the backend) with run r (the reference); prints a summary line. */
static int compare(const char *what, const run_out *a, const run_out *r, tols tol) {
    int bad = 0;
    double worst_loss = 0, worst_norm = 0, worst_w = 0;
    for (int s = 0; s < STEPS; s++) {
        double dl = fabs(a->loss[s] - r->loss[s]) / fabs(r->loss[s]);
        double dn = s < tol.norm_steps ? fabs(a->norm[s] - r->norm[s]) / fmax(fabs(r->norm[s]), 1e-12) : 0;
        if (!(dl <= tol.loss) || !(dn <= tol.norm)) {
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
    for (int i = 0; tol.w >= 0 && i < r->n_params; i++) {
        if (noise_only(r->names[i])) continue;
        const float *x = a->w + a->offset[i], *y = r->w + r->offset[i];
        double scale = 0, d = 0;
        for (int64_t k = 0; k < r->numel[i]; k++) scale = fmax(scale, fabs(y[k]));
        for (int64_t k = 0; k < r->numel[i]; k++) d = fmax(d, fabs((double)x[k] - y[k]));
        double rel = d / fmax(scale, 1e-12);
        if (!(rel <= tol.w) && bad++ < 10)
            fprintf(stderr, "  %s: %s max |diff| %.3g of scale %.3g\n", what, r->names[i], d, scale);
        worst_w = fmax(worst_w, rel);
    }
    if (a->lowp_mismatch && bad++ < 10)
        fprintf(stderr, "  %s: %lld compute-copy values are not the master weight rounded\n", what,
                (long long)a->lowp_mismatch);
    char wtxt[64] = "weights via compute copy (exact)";
    if (tol.w >= 0) snprintf(wtxt, sizeof wtxt, "weights %.2e (tol %.0e)", worst_w, tol.w);
    printf("%-4s %-20s steps %d  loss %.6f -> %.6f  worst rel diff: loss %.2e (tol %.1e), grad norm "
           "%.2e (tol %.1e, %d steps), %s\n",
           bad ? "FAIL" : "ok", what, STEPS, r->loss[0], r->loss[STEPS - 1], worst_loss, tol.loss,
           worst_norm, tol.norm, tol.norm_steps, wtxt);
    return bad != 0;
}

/* The loss-scale record of a scaled run: every skipped attempt left the weights alone; the
 * scale followed GradScaler's rule (x0.5 on a skipped step, x2 after `interval` clean steps in
 * a row, else unchanged) at every attempt; and, when asked, at least one backoff came first and
 * at least one growth happened. */
static int check_scaler(const char *what, const run_out *a, const run_cfg *cfg, bool want_backoff) {
    int bad = 0, tracker = 0, backoffs = 0, growths = 0, lead = 0;
    double s = cfg->scale0;
    for (int k = 0; k < a->tries; k++) {
        double want = s;
        if (a->skipped[k]) want = s * 0.5, tracker = 0, backoffs++;
        else if (++tracker >= cfg->interval) want = s * 2, tracker = 0, growths++;
        if (a->skipped[k] && k == lead) lead++;
        if (a->scale[k] != s || a->next[k] != want) {
            if (bad++ < 5)
                fprintf(stderr, "  %s attempt %d (%s): scale %g -> %g, expected %g -> %g\n", what, k,
                        a->skipped[k] ? "skipped" : "clean", a->scale[k], a->next[k], s, want);
        }
        s = a->next[k];
    }
    if (a->moved_on_skip && bad++ < 10)
        fprintf(stderr, "  %s: %d skipped steps changed the weights\n", what, a->moved_on_skip);
    if (want_backoff && lead == 0 && bad++ < 10)
        fprintf(stderr, "  %s: the first step did not overflow at scale %g\n", what, cfg->scale0);
    if (growths == 0 && bad++ < 10) fprintf(stderr, "  %s: the scale never grew\n", what);
    printf("%-4s %-20s scale %g: %d steps skipped first (scale then %g), %d backoffs, %d growths "
           "(interval %d), %d attempts for %d steps, weights unchanged on skipped steps: %s\n",
           bad ? "FAIL" : "ok", what, (double)cfg->scale0, lead, lead < a->tries ? a->scale[lead] : 0.0,
           backoffs, growths, cfg->interval, a->tries, STEPS, a->moved_on_skip ? "no" : "yes");
    return bad != 0;
}

static void free_out(run_out *o) { free(o->names), free(o->offset), free(o->numel), free(o->w); }

/* Runs cfg and compares it with the reference ref (and the scaler record when scaled). With
 * `recompute`, the same run again with activation checkpointing must give the same bits: every
 * loss, grad norm and weight (the recomputed activations are the first pass's, since the ops are
 * deterministic and dropout is counter-based). */
static int check(const char *dir, const run_cfg *cfg, const run_out *ref, tols tol, bool backoff,
                 bool recompute) {
    run_out a = {0};
    char what[64];
    snprintf(what, sizeof what, "%s%s %s %s%s", cfg->gpt2 ? "gpt2 " : "",
             k_method_names[cfg->method], wf_dtype_name(cfg->dt), cfg->backend,
             cfg->scale0 > 0 ? " scaled" : "");
    int rc = train(dir, cfg, &a);
    if (!rc) rc = compare(what, &a, ref, tol);
    if (!rc && cfg->scale0 > 0) rc = check_scaler(what, &a, cfg, backoff);
    if (!rc && recompute) {
        run_out b = {0};
        run_cfg rc_cfg = *cfg;
        rc_cfg.recompute = true;
        char what2[80];
        snprintf(what2, sizeof what2, "%s recomputed", what);
        rc = train(dir, &rc_cfg, &b);
        if (!rc) rc = compare(what2, &b, &a, (tols){0, 0, 0, STEPS});
        free_out(&b);
    }
    free_out(&a);
    return rc;
}

/* A step of more micro-batches than the trainer keeps losses of on the device
 * (WF_TRAINER_LOSS_SLOTS), each with its own ignored targets, must report the loss that
 * evaluating the same batches at the same weights gives: the same per-token losses summed in
 * the same order. This checks the slots, their flush mid-step and the one read-back at the end.
 * Exact on the CPU; elsewhere within 1e-6 (the same kernels on the same inputs; cuBLAS does not
 * promise bitwise-equal repeats). */
enum { MANY = 2 * WF_TRAINER_LOSS_SLOTS + 3 };
static int check_loss_slots(const char *dir, const char *backend) {
    wf_backend *be = NULL;
    wf_model m;
    wf_trainable t;
    wf_trainer tr;
    if (wf_backend_open(backend, NULL, &be) != WF_OK) return fail(backend);
    if (wf_model_load(dir, be, WF_F32, &m) != WF_OK) return fail("load");
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.method = WF_METHOD_FULL;
    wf_adamw_hparams hp = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (wf_trainable_build(&m, &sp, &t) != WF_OK || wf_trainer_init(&tr, &m, &t, B, T, &hp, 1) != WF_OK)
        return fail("setup");
    static int32_t ids[MANY * B * T], targets[MANY * B * T];
    wf_batch_host micro[MANY];
    for (int k = 0; k < MANY; k++) {
        for (int i = 0; i < B * T; i++)
            ids[k * B * T + i] = (int32_t)(wf_rng_uniform(99, 0, 1, (uint64_t)(k * B * T + i)) * VOCAB);
        for (int i = 0; i < B * T; i++) { /* row 0 loses its first k % 7 targets */
            bool ignored = i % T == T - 1 || i < k % 7;
            targets[k * B * T + i] = ignored ? -100 : ids[k * B * T + i + 1];
        }
        micro[k] = (wf_batch_host){.B = B, .T = T, .ids = ids + k * B * T, .targets = targets + k * B * T};
    }
    wf_eval_acc acc = {0};
    for (int k = 0; k < MANY; k++)
        if (wf_trainer_eval_batch(&tr, &micro[k], &acc) != WF_OK) return fail("eval");
    wf_step_result r;
    if (wf_trainer_step(&tr, micro, MANY, 1e-3, 0, &r) != WF_OK) return fail("step");
    double want = acc.loss_sum / (double)acc.count, tol = strcmp(backend, "cpu") ? 1e-6 : 0;
    bool ok = r.tokens == acc.count && fabs(r.loss - want) <= tol * want;
    printf("%-4s %-20s %d micro-batches (%d loss slots): step loss %.9g, eval loss %.9g, %lld vs "
           "%lld tokens\n", ok ? "ok" : "FAIL", "loss slots", MANY, WF_TRAINER_LOSS_SLOTS, r.loss,
           want, (long long)r.tokens, (long long)acc.count);
    wf_trainer_free(&tr);
    wf_trainable_free(&m, &t);
    wf_model_free(&m);
    wf_backend_close(be);
    return !ok;
}

/* argv[3], when given: a comma-separated list of the methods to run (e.g. "lora,composed"). */
static bool method_selected(int argc, char **argv, int pm) {
    if (argc < 4) return true;
    const char *name = k_method_names[pm];
    size_t n = strlen(name);
    for (const char *p = argv[3]; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == 0)) return true;
    return false;
}

int main(int argc, char **argv) {
    const char *backend = argc > 1 ? argv[1] : "cuda", *ref = argc > 2 ? argv[2] : "cpu";
    if (!wf_backend_available(backend)) {
        printf("train_parity: no %s device: skipped\n", backend);
        return 77;
    }
    bool lowp = strcmp(backend, "cpu") != 0; /* the CPU computes in fp32 only */
    char dir[] = "/tmp/weft-parity-XXXXXX";
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    int rc = write_model(dir);
    for (int pm = 0; !rc && pm < PM_COUNT; pm++) {
        if (!method_selected(argc, argv, pm)) continue;
        run_out r = {0};
        run_cfg rcfg = {ref, WF_F32, pm, 0, 0, false, false}, f32 = {backend, WF_F32, pm, 0, 0, false, false};
        run_cfg bf16 = {backend, WF_BF16, pm, 0, 0, false, false};
        rc = train(dir, &rcfg, &r);
        if (!rc) rc = check(dir, &f32, &r, k_tol_f32, false, true);
        /* DoRA computes its row norms in fp32 only (README) */
        if (!rc && lowp && pm != PM_DORA) rc = check(dir, &bf16, &r, lowp_tols(WF_BF16), false, pm == PM_LORA);
        if (!rc && pm == PM_FULL) {
            /* fp16 dynamic loss scaling from 2^40: the first steps overflow (fp16 holds up to
             * 65504) and are skipped while the scale halves; then the scale grows every 4 clean
             * steps. On the CPU (self-check) the same path runs in fp32 from 2^60, where every
             * scale is a power of two: scaling and unscaling are exact, so the losses must equal
             * the unscaled run's bit for bit (whether or not a step overflows). */
            run_cfg sc = lowp ? (run_cfg){backend, WF_F16, PM_FULL, 0x1p40f, 4, false, false}
                              : (run_cfg){backend, WF_F32, PM_FULL, 0x1p60f, 2, false, false};
            tols t = lowp ? lowp_tols(WF_F16) : (tols){0, 0, 0, STEPS};
            rc = check(dir, &sc, &r, t, lowp, false);
        }
        if (!lowp && !rc) printf("skip bf16/fp16 runs: the %s backend computes in fp32 only\n", backend);
        free_out(&r);
    }
    if (!rc) rc = check_loss_slots(dir, backend);
    /* the GPT-2 runs happen whatever the Llama runs gave: a failure there must not hide them */
    char dir2[] = "/tmp/weft-parity-gpt2-XXXXXX";
    if (!mkdtemp(dir2)) return perror("mkdtemp"), 1;
    int rc2 = write_gpt2(dir2);
    for (int pm = PM_FULL; !rc2 && pm <= PM_LORA; pm++) {
        if (!method_selected(argc, argv, pm)) continue;
        run_out r = {0};
        run_cfg rcfg = {ref, WF_F32, pm, 0, 0, true, false}, f32 = {backend, WF_F32, pm, 0, 0, true, false};
        run_cfg bf16 = {backend, WF_BF16, pm, 0, 0, true, false};
        rc2 = train(dir2, &rcfg, &r);
        if (!rc2) rc2 = check(dir2, &f32, &r, k_tol_f32, false, true);
        if (!rc2 && lowp) rc2 = check(dir2, &bf16, &r, lowp_tols(WF_BF16), false, false);
        free_out(&r);
    }
    rc = rc || rc2;
#if defined(WF_CUDA_EMU)
    if (!rc && emu_steps_checked > 0)
        printf("ok   emu step budget      %d step attempts on the emulator: no cudaMalloc or "
               "cudaFree, one device-to-host read and one stream sync each, no pageable H2D "
               "copy, <= %d event waits\n", emu_steps_checked, MICRO);
#endif
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir2), remove(path);
    remove(dir2);
    snprintf(path, sizeof path, "%s/config.json", dir), remove(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir), remove(path);
    remove(dir);
    return rc;
}
