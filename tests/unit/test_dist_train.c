/* Data-parallel training end to end over the CPU communicator (host/train/run_dist.c): the same
 * global batch on 1, 2 and 4 ranks, with ZeRO-1, and a resumed 2-rank run, each trained through
 * `weft train`'s own path (wf_run_train) on all-MiniLM-L6-v2 (a sequence-classification head on
 * the top layer, 4 AdamW steps), compared by the trainable weights of the final checkpoint;
 * gradient buckets of several sizes against one flat all-reduce (bit-equal; ZeRO-1's against one
 * reduce-scatter); activation checkpointing bit-equal to none (full, LoRA with dropout, 2 ranks);
 * and a rank that fails mid-run stops the others with an error naming it.
 *   test_dist_train MODELS_DIR   (exit 77 when the model is not there: scripts/get_models.sh)
 *
 * Tolerance: 1 rank sums its micro-batches' gradients in the backward's GEMMs (beta = 1), N ranks
 * sum them afterwards in rank order, so gradients differ by fp32 reassociation (~1e-7 relative);
 * AdamW's first steps move every weight by ~lr whatever the gradient's size, so a weight whose
 * gradient is near zero can differ by up to ~lr (1e-3) between the two: weights must agree within
 * 0.1 lr (measured: ~2e-5). ZeRO-1 sums the same gradients in the same order as plain data
 * parallel, so without clipping it must equal it bit for bit; with clipping the squared norm is
 * added shard by shard (fp32 partial sums over ranks) instead of in one pass, so the clip
 * coefficient can differ in its last bit, and AdamW amplifies that for near-zero gradients as
 * above: within 0.1 lr. Resume equals the uninterrupted run exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"
#include "weft/comm.h"
#include "weft/mapped_file.h"
#include "weft/run.h"
#include "weft/safetensors.h"
#include "weft/trainable.h"

#define TOL_W 1e-4 /* 0.1 lr: see the header */

static char g_model[1024], g_dir[256];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void write_data(const char *path) {
    static const char *const words[] = {"good", "bad", "fine", "awful", "great", "poor", "nice", "sad"};
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 40; i++)
        fprintf(f, "{\"text\": \"this is %s and %s, row %d\", \"label\": %d}\n", words[i % 8],
                words[(i * 3) % 8], i, i % 2);
    fclose(f);
}

/* Trains to `steps` into dir/name with extra settings; 0 on success. */
static wf_status train(const char *name, int steps, const char *const *extra, int nextra,
                       const char *resume) {
    enum { MAX_SETS = 32 };
    char sets[MAX_SETS][1200];
    const char *ptr[MAX_SETS];
    int n = 0;
    snprintf(sets[n++], 1200, "model.path=%s", g_model);
    snprintf(sets[n++], 1200, "data.train=%s/train.jsonl", g_dir);
    snprintf(sets[n++], 1200, "output.dir=%s/%s", g_dir, name);
    snprintf(sets[n++], 1200, "train.max_steps=%d", steps);
    const char *fixed[] = {"model.head=seq_cls", "model.num_labels=2", "data.seq_len=16",
                           "data.eval_split=0.2", "method.type=freeze",
                           "method.freeze.train_top_layers=1", "train.lr=1e-3",
                           "train.schedule=constant", "train.max_grad_norm=0.5", "train.weight_decay=0.01",
                           "checkpoint.every_steps=2", "checkpoint.keep_last=4", "output.tensorboard=false",
                           "backend.name=cpu", "data.cache=false", "dist.timeout_s=20"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) snprintf(sets[n++], 1200, "%s", fixed[i]);
    if (n + nextra > MAX_SETS) return wf_error(WF_ERR_INVALID, "test: more than %d settings", MAX_SETS);
    for (int i = 0; i < nextra; i++) snprintf(sets[n++], 1200, "%s", extra[i]);
    for (int i = 0; i < n; i++) ptr[i] = sets[i];
    wf_run_config cfg;
    wf_status s = wf_run_config_load(NULL, ptr, n, &cfg);
    if (s != WF_OK) return s;
    wf_run_opts o = {.resume = resume};
    bool interrupted;
    return wf_run_train(&cfg, &o, &interrupted);
}

/* Tensor `which` ("p", "m" or "v") of dir/name's checkpoint at `step`; NULL when unreadable. */
static float *flat_of(const char *name, int step, const char *which, int64_t *n) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s/checkpoints/step-%d/trainable.safetensors", g_dir, name, step);
    wf_st_file *f;
    if (wf_st_open(p, &f) != WF_OK) return fprintf(stderr, "%s: %s\n", p, wf_last_error()), NULL;
    const wf_st_tensor *t = wf_st_find(f, which);
    *n = t ? t->shape[0] : 0;
    float *w = t ? malloc((size_t)*n * 4) : NULL;
    if (w && wf_st_read_f32(t, w, *n) != WF_OK) free(w), w = NULL;
    wf_st_close(f);
    return w;
}

static float *weights(const char *name, int step, int64_t *n) { return flat_of(name, step, "p", n); }

/* Largest |a - b| of tensor `which` between two runs' checkpoints at `step`; -1 when either is
 * missing. */
static double diff_of(const char *a, const char *b, int step, const char *which) {
    int64_t na = 0, nb = 0;
    float *wa = flat_of(a, step, which, &na), *wb = flat_of(b, step, which, &nb);
    double d = -1;
    if (wa && wb && na == nb) {
        d = 0;
        for (int64_t i = 0; i < na; i++) d = fmax(d, fabs((double)wa[i] - (double)wb[i]));
    }
    free(wa), free(wb);
    return d;
}
static double diff(const char *a, const char *b, int step) { return diff_of(a, b, step, "p"); }

/* From dir/name/metrics.jsonl: the `key` of each line of `split` (up to cap); the count. */
static int metric(const char *name, const char *split, const char *key, double *out, int cap) {
    char p[600], line[1024], want[64], k[64];
    snprintf(p, sizeof p, "%s/%s/metrics.jsonl", g_dir, name);
    snprintf(want, sizeof want, "\"split\":\"%s\"", split);
    snprintf(k, sizeof k, "\"%s\":", key);
    FILE *f = fopen(p, "r");
    int n = 0;
    while (f && n < cap && fgets(line, sizeof line, f)) {
        const char *v = strstr(line, k);
        if (strstr(line, want) && v) out[n++] = strtod(v + strlen(k), NULL);
    }
    if (f) fclose(f);
    return n;
}

/* Logged train losses and grad norms (global, from rank 0) and the eval loss and accuracy (summed
 * over ranks) of run b against run a: relative 1e-4 (the weights differ by up to 0.1 lr, see the
 * header; a gradient normalized by the wrong token count would be off by the world size). */
static void same_log(const char *a, const char *b) {
    static const char *const what[][2] = {{"train", "loss"}, {"train", "grad_norm"}, {"eval", "loss"},
                                          {"eval", "accuracy"}};
    for (int w = 0; w < 4; w++) {
        double x[16], y[16];
        int nx = metric(a, what[w][0], what[w][1], x, 16), ny = metric(b, what[w][0], what[w][1], y, 16);
        CHECK(nx > 0 && nx == ny, "%s vs %s: %d vs %d %s %s values", a, b, nx, ny, what[w][0], what[w][1]);
        for (int i = 0; i < nx && i < ny; i++)
            CHECK(fabs(x[i] - y[i]) <= 1e-4 * fabs(x[i]), "%s vs %s: %s %s #%d: %.9g vs %.9g", a, b,
                  what[w][0], what[w][1], i, x[i], y[i]);
    }
}

#define TRAIN(name, steps, resume, ...)                                                            \
    do {                                                                                           \
        const char *x_[] = {__VA_ARGS__};                                                          \
        wf_status s_ = train(name, steps, x_, (int)(sizeof x_ / sizeof x_[0]), resume);            \
        CHECK(s_ == WF_OK, "run %s: %s", name, wf_last_error());                                   \
    } while (0)

/* ZeRO-1's trainable set holds 1/world of the AdamW moments. */
static void shard_sizes(void) {
    wf_backend *be;
    wf_model m;
    wf_trainable full, part;
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.method = WF_METHOD_FULL;
    if (wf_backend_open("cpu", NULL, &be) != WF_OK || wf_model_load(g_model, be, WF_F32, &m) != WF_OK) {
        CHECK(0, "load %s: %s", g_model, wf_last_error());
        return;
    }
    EXPECT(wf_trainable_build(&m, &sp, &full) == WF_OK);
    int64_t total = full.total;
    size_t full_bytes = full.arena.size;
    wf_trainable_free(&m, &full);
    wf_model_free(&m); /* the trainable set owned its weights: a fresh model for the next one */
    if (wf_model_load(g_model, be, WF_F32, &m) != WF_OK) {
        CHECK(0, "load %s: %s", g_model, wf_last_error());
        return;
    }
    EXPECT(wf_trainable_build_shard(&m, &sp, 3, 4, &part) == WF_OK);
    int64_t off, n;
    wf_comm_shard(total, 4, 3, &off, &n);
    CHECK(part.opt_off == off && part.opt_n == n && part.m.shape[0] == n && part.total == total,
          "shard 3 of 4: [%lld, +%lld) of %lld", (long long)part.opt_off, (long long)part.opt_n, (long long)total);
    /* p and g whole, m and v a quarter: 2.5 of 4 buffers (+ alignment) */
    CHECK(part.arena.size < full_bytes * 5 / 8 + 4096, "ZeRO-1 arena %zu bytes vs %zu", part.arena.size, full_bytes);
    printf("trainable arena, full fine-tune of all-MiniLM-L6-v2: %.1f MiB, ZeRO-1 shard of 4: %.1f MiB\n",
           (double)full_bytes / (1 << 20), (double)part.arena.size / (1 << 20));
    wf_trainable_free(&m, &part);
    wf_model_free(&m);
    wf_backend_close(be);
}

/* Activation checkpointing (train.activation_checkpointing) on this post-norm model: every block
 * but the last rerun in the backward from its kept output; the weights and every logged loss and
 * grad norm must be the same bits as without, for a full fine-tune (all 6 blocks train), LoRA
 * with dropout (the masks redrawn in the recomputation), and 2 ranks. */
static void recompute_cases(void) {
    const char *const runs[][3] = {{"full", "method.type=full", "dist.cpu_ranks=1"},
                                   {"lora", "method.type=lora", "method.lora.target_modules=all-linear"},
                                   {"two", "dist.cpu_ranks=2", "dist.cpu_ranks=2"}};
    for (int k = 0; k < 3; k++) {
        char rc[64];
        snprintf(rc, sizeof rc, "%s_rc", runs[k][0]);
        TRAIN(runs[k][0], 4, NULL, "train.micro_batch=2", runs[k][1], runs[k][2], "method.lora.dropout=0.1");
        TRAIN(rc, 4, NULL, "train.micro_batch=2", runs[k][1], runs[k][2], "method.lora.dropout=0.1",
              "train.activation_checkpointing=true");
        double d = diff(runs[k][0], rc, 4);
        double x[8], y[8], gx[8], gy[8];
        int n = metric(runs[k][0], "train", "loss", x, 8), m = metric(rc, "train", "loss", y, 8);
        int gn = metric(runs[k][0], "train", "grad_norm", gx, 8), gm = metric(rc, "train", "grad_norm", gy, 8);
        bool same = n == 4 && m == 4 && gn == 4 && gm == 4;
        for (int i = 0; same && i < 4; i++) same = x[i] == y[i] && gx[i] == gy[i];
        printf("activation checkpointing, %s: max |w - w recomputed| %.3g, losses and grad norms %s\n",
               runs[k][0], d, same ? "equal" : "DIFFER");
        CHECK(d == 0 && same, "%s with activation checkpointing: weights differ by %g, logs %s", runs[k][0],
              d, same ? "equal" : "differ");
    }
}

/* A failing rank, a hung rank, and an error on every rank. */
static void fault_cases(void) {
    /* a rank that fails mid-run: the others stop at once with an error naming it */
    /* (a generous timeout: a failure must stop the others at once, not by timing out, and a
     * loaded machine must not turn a slow healthy collective into a timeout) */
    const char *two_slow[] = {"train.micro_batch=2", "dist.cpu_ranks=2", "dist.timeout_s=30"};
    const char *two[] = {"train.micro_batch=2", "dist.cpu_ranks=2", "dist.timeout_s=1"};
    setenv("WEFT_TEST_FAULT", "1:2:fail", 1);
    double t0 = now();
    wf_status s = train("fail", 4, two_slow, 3, NULL);
    double took = now() - t0;
    CHECK(s != WF_OK && strstr(wf_last_error(), "rank 1 of 2: injected failure at step 2"),
          "a failing rank: status %d, '%s'", s, wf_last_error());
    CHECK(took < 20, "a failing rank held the run for %.1f s (it must not wait for the timeout)", took);
    /* a rank that stops answering: the others stop after dist.timeout_s, naming it */
    setenv("WEFT_TEST_FAULT", "1:2:hang", 1);
    t0 = now();
    s = train("hang", 4, two, 3, NULL);
    double hung = now() - t0;
    unsetenv("WEFT_TEST_FAULT");
    CHECK(s != WF_OK && strstr(wf_last_error(), "rank 1 did not reach collective"),
          "a hung rank: status %d, '%s'", s, wf_last_error());
    printf("runs with a failing rank: %.2f s; with a hung rank (timeout 1 s): %.2f s\n", took, hung);
    /* the hung rank sleeps 10 s; the run must end before it wakes: the timeout (1 s) + 1 s for
     * the others to stop + up to 3 steps of setup and training (measured ~2 s) */
    CHECK(hung < 9, "a hung rank held the run for %.1f s", hung);

    /* rank 0 cannot write a checkpoint (a file sits where step-2 goes): every rank stops at
     * that checkpoint, rank 1 naming rank 0, none waiting for dist.timeout_s */
    char blocker[700];
    snprintf(blocker, sizeof blocker, "%s/ckfail/checkpoints", g_dir);
    wf_mkdir_p(blocker);
    snprintf(blocker, sizeof blocker, "%s/ckfail/checkpoints/step-2", g_dir);
    FILE *bf = fopen(blocker, "w");
    if (bf) fclose(bf);
    t0 = now();
    s = train("ckfail", 4, two_slow, 3, NULL);
    double ck = now() - t0;
    CHECK(s != WF_OK && strstr(wf_last_error(), "step-2"), "a failed checkpoint: status %d, '%s'", s,
          wf_last_error());
    CHECK(ck < 20, "a failed checkpoint held the run for %.1f s (the other rank must not wait for "
          "the timeout)", ck);
    printf("a checkpoint rank 0 cannot write stops the run in %.2f s: %s\n", ck, wf_last_error());

    /* a bad setting on all ranks is an ordinary error; a rank-local failure names the rank */
    const char *bad[] = {"train.micro_batch=2", "dist.cpu_ranks=2", "model.dtype=bf16"};
    s = train("bad", 4, bad, 3, NULL);
    CHECK(s != WF_OK && strstr(wf_last_error(), "rank "), "bf16 on 2 cpu ranks: %d '%s'", s, wf_last_error());
}

int main(int argc, char **argv) {
    snprintf(g_model, sizeof g_model, "%s/all-MiniLM-L6-v2", argc > 1 ? argv[1] : "models");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/model.safetensors", g_model);
    struct stat st;
    if (stat(probe, &st) != 0) {
        fprintf(stderr, "skip: %s not found (scripts/get_models.sh)\n", probe);
        return 77;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/weft_dist_%d", (int)getpid());
    mkdir(g_dir, 0755);
    char data[300];
    snprintf(data, sizeof data, "%s/train.jsonl", g_dir);
    write_data(data);

    /* the same global batch of 4 rows per step */
    TRAIN("r1", 4, NULL, "train.micro_batch=2", "train.grad_accum=2");
    /* with the data cache (in the test directory): rank 0 writes it, the other rank reads it */
    char cdir[300];
    snprintf(cdir, sizeof cdir, "%s/cache", g_dir);
    setenv("WF_CACHE_DIR", cdir, 1);
    TRAIN("r2", 4, NULL, "train.micro_batch=2", "dist.cpu_ranks=2", "data.cache=true");
    TRAIN("r4", 4, NULL, "train.micro_batch=1", "dist.cpu_ranks=4", "dist.bucket_mb=0.5");
    TRAIN("z2", 4, NULL, "train.micro_batch=2", "dist.cpu_ranks=2", "dist.zero_stage=1");
    TRAIN("z4", 4, NULL, "train.micro_batch=1", "dist.cpu_ranks=4", "dist.zero_stage=1");
    TRAIN("r2n", 4, NULL, "train.micro_batch=2", "dist.cpu_ranks=2", "train.max_grad_norm=0");
    TRAIN("z2n", 4, NULL, "train.micro_batch=2", "dist.cpu_ranks=2", "dist.zero_stage=1",
          "train.max_grad_norm=0");
    /* ZeRO-1's buckets (z2n: the default 25 MiB, 4 buckets) against its one reduce-scatter, and
     * buckets of 0.5 MiB (many cross the shard boundary) */
    TRAIN("zf", 4, NULL, "train.micro_batch=2", "dist.cpu_ranks=2", "dist.zero_stage=1",
          "train.max_grad_norm=0", "dist.bucket_mb=0");
    TRAIN("zs", 4, NULL, "train.micro_batch=2", "dist.cpu_ranks=2", "dist.zero_stage=1",
          "train.max_grad_norm=0", "dist.bucket_mb=0.5");
    /* gradient buckets against one flat all-reduce (two blocks train: 6.8 MiB of gradient per
     * block): buckets smaller than one weight matrix (0.5 MiB), of one block's weight matrices
     * (6.75 MiB), larger than the whole gradient; r2 above uses the default (25 MiB) */
    const char *const bucket_runs[][2] = {{"bf", "dist.bucket_mb=0"}, {"bs", "dist.bucket_mb=0.5"},
                                          {"bl", "dist.bucket_mb=6.75"}, {"bb", "dist.bucket_mb=1000"}};
    for (int k = 0; k < 4; k++)
        TRAIN(bucket_runs[k][0], 4, NULL, "train.micro_batch=1", "train.grad_accum=2", "dist.cpu_ranks=2",
              "method.freeze.train_top_layers=2", bucket_runs[k][1]);
    /* 2 steps, then resumed to 4 (a new run dir, the checkpoint copied by --resume) */
    TRAIN("half", 2, NULL, "train.micro_batch=2", "dist.cpu_ranks=2", "dist.zero_stage=1");
    char from[600];
    snprintf(from, sizeof from, "%s/half", g_dir);
    TRAIN("half", 4, from, "train.micro_batch=2", "dist.cpu_ranks=2", "dist.zero_stage=1");

    double d12 = diff("r1", "r2", 4), d14 = diff("r1", "r4", 4), dz2 = diff("r2", "z2", 4);
    double dz4 = diff("r4", "z4", 4), dzn = diff("r2n", "z2n", 4), dres = diff("z2", "half", 4);
    double moved = diff("r1", "r1", 2);
    char cached[600];
    snprintf(cached, sizeof cached, "ls %s/*.wfd >/dev/null 2>&1", cdir);
    CHECK(system(cached) == 0, "no data cache file in %s", cdir);
    printf("max |w1 - w2| %.3g, |w1 - w4| %.3g, |zero1 - dp| %.3g (2 ranks) %.3g (4 ranks) %.3g "
           "(2 ranks, no clipping), |resumed - straight| %.3g\n", d12, d14, dz2, dz4, dzn, dres);
    CHECK(d12 >= 0 && d12 <= TOL_W, "1 vs 2 ranks: %g", d12);
    CHECK(d14 >= 0 && d14 <= TOL_W, "1 vs 4 ranks: %g", d14);
    CHECK(dz2 >= 0 && dz2 <= TOL_W, "ZeRO-1 vs plain, 2 ranks: %g", dz2);
    CHECK(dz4 >= 0 && dz4 <= TOL_W, "ZeRO-1 vs plain, 4 ranks: %g", dz4);
    CHECK(dzn == 0, "ZeRO-1 vs plain, 2 ranks, no clipping: %g (must be bit-equal)", dzn);
    /* ZeRO-1 keeps a shard of m and v per rank; the checkpoint gathers them whole */
    double dm = diff_of("r2n", "z2n", 4, "m"), dv = diff_of("r2n", "z2n", 4, "v");
    CHECK(dm == 0 && dv == 0, "ZeRO-1 vs plain AdamW moments in the checkpoint: %g, %g", dm, dv);
    CHECK(dres == 0, "resumed vs uninterrupted: %g", dres);
    double dzb = diff("zf", "z2n", 4), dzs = diff("zf", "zs", 4);
    printf("ZeRO-1: max |bucketed (25 MiB) - one reduce-scatter| %.3g, |bucketed (0.5 MiB) - one| %.3g\n", dzb,
           dzs);
    CHECK(dzb == 0 && dzs == 0, "ZeRO-1 buckets vs one reduce-scatter: %g, %g (must be bit-equal)", dzb, dzs);
    /* buckets sum the same values in the same rank order as the flat all-reduce: bit-equal */
    for (int k = 1; k < 4; k++) {
        double db = diff("bf", bucket_runs[k][0], 4);
        printf("max |bucketed (%s) - flat| %.3g\n", bucket_runs[k][1], db);
        CHECK(db == 0, "%s vs one flat all-reduce: %g (must be bit-equal)", bucket_runs[k][1], db);
    }
    CHECK(moved == 0, "self-compare: %g", moved);
    same_log("r1", "r2"), same_log("r1", "r4"), same_log("r1", "z4");
    /* the weights did train: step 2 and step 4 differ by far more than the tolerance */
    int64_t na, nb;
    float *a = weights("r1", 2, &na), *b = weights("r1", 4, &nb);
    double change = 0;
    for (int64_t i = 0; a && b && i < na; i++) change = fmax(change, fabs((double)a[i] - (double)b[i]));
    free(a), free(b);
    CHECK(change > 10 * TOL_W, "the weights barely moved between steps 2 and 4: %g", change);

    recompute_cases();
    fault_cases();
    shard_sizes();
    if (!failures && !getenv("KEEP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    }
    return failures ? 1 : 0;
}
