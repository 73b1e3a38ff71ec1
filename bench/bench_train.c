/* Training-step throughput: tokens/s of optimizer steps (forward, loss, backward, AdamW) of a
 * model on random tokens, for LoRA or full fine-tuning; bench/bench_train.py runs it beside
 * PyTorch + peft on the same model and prints the ratio.
 *   bench_train MODEL B T STEPS full|lora [R ALPHA T1,T2,...] [--backend cpu|cuda]
 * Prints "tokens_per_s X" (loss tokens per second over the timed steps, after one warm-up). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/process.h"
#include "weft/rng.h"
#include "weft/trainer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what) {
    fprintf(stderr, "bench_train: %s: %s\n", what, wf_last_error());
    return 1;
}

int main(int argc, char **argv) {
    wf_process_setup(argv);
    if (argc < 6) {
        fprintf(stderr, "usage: bench_train MODEL B T STEPS full|lora [R ALPHA TARGETS] [--backend B]\n");
        return 2;
    }
    int64_t B = atoll(argv[2]), T = atoll(argv[3]), steps = atoll(argv[4]);
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.method = strcmp(argv[5], "lora") == 0 ? WF_METHOD_LORA : WF_METHOD_FULL;
    const char *backend = "cpu";
    for (int i = 6; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (sp.method == WF_METHOD_LORA && i + 2 < argc) {
            sp.lora_r = atoi(argv[i]), sp.lora_alpha = (float)atof(argv[i + 1]), sp.n_targets = 0;
            for (char *t = strtok(argv[i + 2], ","); t && sp.n_targets < WF_MAX_TARGETS; t = strtok(NULL, ","))
                snprintf(sp.targets[sp.n_targets++], sizeof sp.targets[0], "%s", t);
            i += 2;
        }
    }
    wf_backend *be;
    wf_model m;
    wf_trainable t;
    wf_trainer tr;
    if (wf_backend_open(backend, NULL, &be) != WF_OK) return fail("backend");
    if (wf_model_load(argv[1], be, WF_F32, &m) != WF_OK) return fail("load");
    if (wf_trainable_build(&m, &sp, &t) != WF_OK) return fail("trainable");
    wf_adamw_hparams hp = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                           .max_grad_norm = 1.0f};
    if (wf_trainer_init(&tr, &m, &t, B, T, &hp, 1) != WF_OK) return fail("trainer");
    int32_t *ids = malloc((size_t)(B * T) * 4), *tg = malloc((size_t)(B * T) * 4);
    for (int64_t i = 0; i < B * T; i++)
        ids[i] = (int32_t)(wf_rng_uniform(7, 0, 0, (uint64_t)i) * (float)m.arch.vocab) % (int32_t)m.arch.vocab;
    for (int64_t i = 0; i < B * T; i++) tg[i] = (i + 1) % T ? ids[i + 1] : -100;
    wf_batch_host h = {.B = B, .T = T, .ids = ids, .targets = tg};
    wf_step_result r;
    if (wf_trainer_step(&tr, &h, 1, 1e-4, 0, &r) != WF_OK) return fail("warm-up step");
    double t0 = now();
    int64_t tokens = 0;
    for (int64_t s = 1; s <= steps; s++) {
        if (wf_trainer_step(&tr, &h, 1, 1e-4, (uint32_t)s, &r) != WF_OK) return fail("step");
        tokens += r.input_tokens;
    }
    double dt = now() - t0;
    printf("trainable_params %lld\nloss %.6f\nseconds_per_step %.4f\ntokens_per_s %.2f\n",
           (long long)t.total, r.loss, dt / (double)steps, (double)tokens / dt);
    return 0;
}
