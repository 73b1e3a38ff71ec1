/* Training-step throughput: tokens/s of optimizer steps (forward, loss, backward, clipping,
 * AdamW) of a causal LM on random tokens, for LoRA or full fine-tuning, on the CPU or the GPU.
 * bench/bench_train.py runs it beside PyTorch + peft on the CPU, bench/bench_e2e_vs_hf.py beside
 * transformers + peft on a GPU (bf16); both print the ratio. Not here: the FLOP convention of
 * the MFU (train_flops.h), the torch side.
 *   bench_train MODEL B T STEPS full|lora [R ALPHA T1,T2,...] [--backend cpu|cuda]
 *               [--dtype f32|bf16|fp16] [--random-init] [--warmup N] [--lora-dropout P]
 *               [--peak-tflops X] [--profile N] [--recompute]
 * MODEL: a Hugging Face directory or GGUF file; --random-init: config.json alone, weights drawn
 * as transformers initialises them (bench/shapes/ holds the benchmark shapes). Prints
 * "key value" lines: tokens/s over the timed steps after the warm-up steps, model FLOPs per
 * token, TFLOP/s and MFU against --peak-tflops, and memory (see print_memory). Exits 1 when a
 * step fails or the last loss is not finite (a benchmark of a diverged run measures nothing).
 * --profile N: N more steps after the timed ones under the op profiler (profile.h), its table
 * on stderr (the timed steps stay unprofiled, so the numbers above are unchanged).
 * --recompute: activation checkpointing (trainer.h wf_trainer_init_ex): arena_bytes shows the
 * memory it saves, tokens_per_s what the extra forward costs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(WF_HAVE_CUDA)
#include <cuda_runtime_api.h>
#endif

#include "train_flops.h"
#include "weft/process.h"
#include "weft/profile.h"
#include "weft/rng.h"
#include "weft/trainer.h"

typedef struct bench_opts {
    const char *model, *backend;
    int64_t B, T, steps, warmup, profile;
    wf_dtype dtype;
    bool random_init, recompute;
    double peak_tflops; /* 0: no MFU */
    wf_peft_spec sp;
} bench_opts;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what) {
    fprintf(stderr, "bench_train: %s: %s\n", what, wf_last_error());
    return 1;
}

static int usage(const char *why) {
    fprintf(stderr, "bench_train: %s\nusage: bench_train MODEL B T STEPS full|lora [R ALPHA TARGETS] "
            "[--backend cpu|cuda] [--dtype f32|bf16|fp16] [--random-init] [--warmup N] "
            "[--lora-dropout P] [--peak-tflops X] [--profile N] [--recompute]\n", why);
    return 2;
}

/* Flags anywhere after the five positional arguments; for lora, R ALPHA TARGETS positionally. */
static int parse(int argc, char **argv, bench_opts *o) {
    if (argc < 6) return usage("too few arguments");
    *o = (bench_opts){.model = argv[1], .backend = "cpu", .B = atoll(argv[2]), .T = atoll(argv[3]),
                      .steps = atoll(argv[4]), .warmup = 1, .dtype = WF_F32};
    wf_peft_spec_default(&o->sp);
    if (strcmp(argv[5], "lora") && strcmp(argv[5], "full")) return usage("method must be full or lora");
    o->sp.method = strcmp(argv[5], "lora") == 0 ? WF_METHOD_LORA : WF_METHOD_FULL;
    if (o->B < 1 || o->T < 1 || o->steps < 1) return usage("B, T and STEPS must be >= 1");
    for (int i = 6; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--random-init")) o->random_init = true;
        else if (!strcmp(a, "--recompute")) o->recompute = true;
        else if (!strncmp(a, "--", 2) && !v) return usage("a flag lacks its value");
        else if (!strcmp(a, "--backend")) o->backend = v, i++;
        else if (!strcmp(a, "--warmup")) o->warmup = atoll(v), i++;
        else if (!strcmp(a, "--lora-dropout")) o->sp.lora_dropout = (float)atof(v), i++;
        else if (!strcmp(a, "--peak-tflops")) o->peak_tflops = atof(v), i++;
        else if (!strcmp(a, "--profile")) o->profile = atoll(v), i++;
        else if (!strcmp(a, "--dtype")) {
            o->dtype = !strcmp(v, "bf16") ? WF_BF16 : !strcmp(v, "fp16") ? WF_F16 : WF_F32;
            if (o->dtype == WF_F32 && strcmp(v, "f32")) return usage("--dtype is f32, bf16 or fp16");
            i++;
        } else if (!strncmp(a, "--", 2)) return usage("unknown flag");
        else if (o->sp.method == WF_METHOD_LORA && i + 2 < argc) {
            o->sp.lora_r = atoi(a), o->sp.lora_alpha = (float)atof(argv[i + 1]), o->sp.n_targets = 0;
            for (char *t = strtok(argv[i + 2], ","); t && o->sp.n_targets < WF_MAX_TARGETS; t = strtok(NULL, ","))
                snprintf(o->sp.targets[o->sp.n_targets++], sizeof o->sp.targets[0], "%s", t);
            i += 2;
        } else return usage("unexpected argument");
    }
    if (o->warmup < 0) return usage("--warmup must be >= 0");
    if (o->profile < 0) return usage("--profile must be >= 0");
    if (o->dtype != WF_F32 && strcmp(o->backend, "cuda"))
        return usage("--dtype bf16/fp16 needs --backend cuda (the CPU computes in fp32 only)");
    return 0;
}

/* Device memory in use (total - free, device-wide) on a CUDA backend, else -1. */
static double device_used_bytes(const char *backend) {
#if defined(WF_HAVE_CUDA)
    size_t free_b = 0, total_b = 0;
    if (!strcmp(backend, "cuda") && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
        return (double)(total_b - free_b);
#endif
    (void)backend;
    return -1;
}

/* Memory: the arenas weft reserved up front (weights, trainable state, activations, batch,
 * op scratch); nothing is allocated inside the step loop, so this is the peak of weft's own
 * allocations. On CUDA also the device-wide use after the timed steps minus the use before the
 * backend opened (after the CUDA context existed): the arenas plus the cuBLAS workspace and
 * whatever cuBLAS/cuBLASLt and the loaded kernels hold. */
static void print_memory(const wf_model *m, const wf_trainable *t, const wf_trainer *tr,
                         const wf_backend *be, double used_before, double used_after) {
    size_t arenas = m->arena.size + t->arena.size + tr->acts.arena.size + tr->batch_arena.size +
                    tr->comm_arena.size + be->scratch.size;
    printf("arena_bytes %zu\n", arenas);
    if (used_before >= 0 && used_after >= 0)
        printf("device_used_bytes %.0f\n", used_after - used_before);
}

static void print_flops(const bench_opts *o, const wf_model *m, const wf_trainable *t, double tok_s) {
    bool full = o->sp.method == WF_METHOD_FULL;
    wf_bench_flops f = wf_bench_flops_per_token(&m->arch, full, full ? 0 : t->total, o->T);
    printf("matmul_params %lld\nflops_per_token %.6g\nattention_flops_per_token %.6g\n",
           (long long)f.n_matmul, f.per_token, f.attention);
    printf("tflops %.4g\n", f.per_token * tok_s * 1e-12);
    if (o->peak_tflops > 0) printf("mfu %.4f\n", f.per_token * tok_s * 1e-12 / o->peak_tflops);
}

/* Random tokens in [0, V) from a fixed seed; targets the next token, -100 at each row's end. */
static wf_status make_batch(const wf_model *m, int64_t B, int64_t T, int32_t **ids, int32_t **tg) {
    *ids = malloc((size_t)(B * T) * 4), *tg = malloc((size_t)(B * T) * 4);
    if (!*ids || !*tg) return wf_error(WF_ERR_OOM, "bench_train: out of host memory");
    for (int64_t i = 0; i < B * T; i++)
        (*ids)[i] = (int32_t)(wf_rng_uniform(7, 0, 0, (uint64_t)i) * (float)m->arch.vocab) % (int32_t)m->arch.vocab;
    for (int64_t i = 0; i < B * T; i++) (*tg)[i] = (i + 1) % T ? (*ids)[i + 1] : -100;
    return WF_OK;
}

int main(int argc, char **argv) {
    wf_process_setup(argv);
    bench_opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    double used0 = device_used_bytes(o.backend); /* creates the CUDA context first */
    wf_backend *be;
    wf_model m;
    wf_trainable t;
    wf_trainer tr;
    if (wf_backend_open(o.backend, NULL, &be) != WF_OK) return fail("backend");
    wf_load_opts lo = {.seed = 1234, .random_init = o.random_init};
    if (wf_model_load_ex(o.model, be, o.dtype, &lo, &m) != WF_OK) return fail("load");
    if (m.arch.head != WF_HEAD_LM) return usage("the model must be a causal LM");
    if (wf_trainable_build(&m, &o.sp, &t) != WF_OK) return fail("trainable");
    wf_adamw_hparams hp = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                           .max_grad_norm = 1.0f};
    if (wf_trainer_init_ex(&tr, &m, &t, o.B, o.T, &hp, 1, o.recompute) != WF_OK) return fail("trainer");
    int32_t *ids, *tg;
    if (make_batch(&m, o.B, o.T, &ids, &tg) != WF_OK) return fail("batch");
    wf_batch_host h = {.B = o.B, .T = o.T, .ids = ids, .targets = tg};
    wf_step_result r;
    for (int64_t s = 0; s < o.warmup; s++)
        if (wf_trainer_step(&tr, &h, 1, 1e-4, (uint32_t)s, &r) != WF_OK) return fail("warm-up step");
    /* each step reads its loss back (a device sync), so the host clock brackets device work */
    if (be->sync(be) != WF_OK) return fail("sync");
    double t0 = now();
    int64_t tokens = 0;
    for (int64_t s = 0; s < o.steps; s++) {
        if (wf_trainer_step(&tr, &h, 1, 1e-4, (uint32_t)(o.warmup + s), &r) != WF_OK) return fail("step");
        tokens += r.input_tokens;
    }
    if (be->sync(be) != WF_OK) return fail("sync");
    double dt = now() - t0, tok_s = (double)tokens / dt;
    printf("trainable_params %lld\nloss %.6f\nseconds_per_step %.4f\ntokens_per_s %.2f\n",
           (long long)t.total, r.loss, dt / (double)o.steps, tok_s);
    print_flops(&o, &m, &t, tok_s);
    print_memory(&m, &t, &tr, be, used0, device_used_bytes(o.backend));
    printf("device %s\n", be->device_name[0] ? be->device_name : be->name);
#if defined(WF_HAVE_CUDA)
    if (!strcmp(o.backend, "cuda")) { /* the cuBLASLt plan cache: misses should stay at the
                                        * number of distinct biased linear shapes */
        int64_t hits, misses, evictions;
        wf_cuda_backend_lt_stats(be, &hits, &misses, &evictions);
        printf("lt_cache_hits %lld\nlt_cache_misses %lld\nlt_cache_evictions %lld\n",
               (long long)hits, (long long)misses, (long long)evictions);
    }
#endif
    if (o.profile > 0) { /* each step ends with its read-back: collecting after it adds no wait */
        if (wf_profile_attach(be) != WF_OK) return fail("profile");
        double wall = 0;
        for (int64_t s = 0; s < o.profile; s++) {
            double p0 = now();
            if (wf_trainer_step(&tr, &h, 1, 1e-4, (uint32_t)(o.warmup + o.steps + s), &r) != WF_OK)
                return fail("profiled step");
            wall += now() - p0;
            if (wf_profile_collect(be) != WF_OK) return fail("profile");
        }
        fprintf(stderr, "op profile of %lld step(s) after the timed ones:\n", (long long)o.profile);
        if (wf_profile_write(be, stderr, 1e3 * wall) != WF_OK) return fail("profile");
    }
    if (!isfinite(r.loss)) {
        fprintf(stderr, "bench_train: the loss is %g after %lld steps\n", r.loss, (long long)(o.warmup + o.steps));
        return 1;
    }
    free(ids), free(tg);
    wf_trainer_free(&tr);
    wf_trainable_free(&m, &t);
    wf_model_free(&m);
    wf_backend_close(be);
    return 0;
}
