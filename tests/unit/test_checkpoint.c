/* Checkpoints (host/train/checkpoint.c) on a tiny llama written here: save/load round trips are
 * bit-identical for p, m, v, the step state (non-finite values too) and the trainer's bytes, for
 * LoRA in fp32 and full fine-tuning in bf16 (whose low-precision weights must come back too);
 * keep_last removes the oldest but never the checkpoint just saved; a save over an existing step
 * replaces it; a checkpoint of another trainable set is refused, naming the file and the first
 * differing parameter, with nothing changed; a save that fails at any stage or crashes (injected
 * through the fault hook, the crash in a child process) leaves the previous checkpoints loadable,
 * and the next save cleans up after the crashed one. Also: a PEFT export replaces an existing
 * adapter directory whole, and refusing a trainable set without LoRA leaves it intact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft/checkpoint.h"
#include "weft/export.h"
#include "weft/safetensors.h"

static int failures;
static char root[256], model_dir[300];
static wf_backend *be;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, " (last error: %s)\n", wf_last_error());                              \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "FAIL cannot write %s\n", path);
        exit(1);
    }
}

/* A llama with hidden 8, one layer, 2 heads (1 kv head), vocab 10; weights from a fixed LCG. */
static void write_model(void) {
    static const struct { const char *name; int nd; int64_t s0, s1; } t[] = {
        {"model.embed_tokens.weight", 2, 10, 8}, {"model.layers.0.input_layernorm.weight", 1, 8, 0},
        {"model.layers.0.self_attn.q_proj.weight", 2, 8, 8}, {"model.layers.0.self_attn.k_proj.weight", 2, 4, 8},
        {"model.layers.0.self_attn.v_proj.weight", 2, 4, 8}, {"model.layers.0.self_attn.o_proj.weight", 2, 8, 8},
        {"model.layers.0.post_attention_layernorm.weight", 1, 8, 0},
        {"model.layers.0.mlp.gate_proj.weight", 2, 16, 8}, {"model.layers.0.mlp.up_proj.weight", 2, 16, 8},
        {"model.layers.0.mlp.down_proj.weight", 2, 8, 16}, {"model.norm.weight", 1, 8, 0},
        {"lm_head.weight", 2, 10, 8}};
    static float vals[12][256];
    wf_st_entry e[12];
    int64_t shapes[12][2];
    uint32_t x = 12345;
    for (int i = 0; i < 12; i++) {
        for (int k = 0; k < 256; k++) vals[i][k] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        shapes[i][0] = t[i].s0, shapes[i][1] = t[i].s1;
        e[i] = (wf_st_entry){t[i].name, WF_ST_F32, t[i].nd, shapes[i], vals[i]};
    }
    char p[400];
    mkdir(model_dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", model_dir);
    write_text(p, "{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":8,"
                  "\"intermediate_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
                  "\"num_key_value_heads\":1,\"vocab_size\":10,\"tie_word_embeddings\":false}");
    snprintf(p, sizeof p, "%s/model.safetensors", model_dir);
    if (wf_st_write(p, e, 12, NULL, 0) != WF_OK) {
        fprintf(stderr, "FAIL cannot write the model: %s\n", wf_last_error());
        exit(1);
    }
}

typedef struct run {
    wf_model m;
    wf_trainable t;
} run;

/* Loads the model in dtype dt with LoRA on `targets` (r 2), or full fine-tuning when NULL. */
static void open_run(run *r, wf_dtype dt, const char *targets) {
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    if (targets) {
        sp.lora_r = 2, sp.n_targets = 0;
        char list[64];
        snprintf(list, sizeof list, "%s", targets);
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","))
            snprintf(sp.targets[sp.n_targets++], sizeof sp.targets[0], "%s", tok);
    } else {
        sp.method = WF_METHOD_FULL;
    }
    if (wf_model_load(model_dir, be, dt, &r->m) != WF_OK || wf_trainable_build(&r->m, &sp, &r->t) != WF_OK) {
        fprintf(stderr, "FAIL cannot build the model: %s\n", wf_last_error());
        exit(1);
    }
}

static void close_run(run *r) {
    wf_trainable_free(&r->m, &r->t);
    wf_model_free(&r->m);
}

/* Host copies of a trainable set's flat buffers. */
typedef struct snap {
    float *p, *m, *v;
    uint16_t *lowp;
    int64_t n;
} snap;

static snap take(const run *r) {
    snap s = {.n = r->t.total};
    size_t b = (size_t)s.n * 4;
    s.p = malloc(b), s.m = malloc(b), s.v = malloc(b), s.lowp = malloc(b);
    be->copy(be, s.p, r->t.p.data, b, WF_COPY_D2H);
    be->copy(be, s.m, r->t.m.data, b, WF_COPY_D2H);
    be->copy(be, s.v, r->t.v.data, b, WF_COPY_D2H);
    if (r->t.p_lowp.data) be->copy(be, s.lowp, r->t.p_lowp.data, (size_t)s.n * 2, WF_COPY_D2H);
    return s;
}

static void drop(snap *s) { free(s->p), free(s->m), free(s->v), free(s->lowp); }

/* Makes p, m and v distinct for version `k` (p through wf_trainable_set, as the trainer's
 * optimizer would leave master and low-precision copy consistent). */
static void perturb(run *r, int k) {
    int64_t n = r->t.total;
    float *h = malloc((size_t)n * 4);
    for (int i = 0; i < r->t.n_params; i++) {
        const wf_param *p = &r->t.params[i];
        for (int64_t j = 0; j < p->numel; j++) h[j] = 0.01f * sinf((float)(p->offset + j + 97 * k));
        wf_trainable_set(&r->m, &r->t, p, h);
    }
    for (int64_t j = 0; j < n; j++) h[j] = 1e-3f * cosf((float)(j * (k + 1)));
    be->copy(be, r->t.m.data, h, (size_t)n * 4, WF_COPY_H2D);
    for (int64_t j = 0; j < n; j++) h[j] = 1e-6f * (float)(j % 7 + k);
    be->copy(be, r->t.v.data, h, (size_t)n * 4, WF_COPY_H2D);
    free(h);
}

static wf_step_state state_for(int k) {
    wf_step_state st = {.loss_scale = 65536.0f / (float)(1 << k), .grad_sumsq = 0.1f * (float)k,
                        .found_inf = k & 1, .growth_tracker = 7 * k, .opt_step = 100 + k,
                        .skipped_steps = k, .last_grad_norm = k == 3 ? INFINITY : 1.0f / 3.0f,
                        .last_skipped = k & 1};
    return st;
}

static bool same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* First differing element of two float buffers, or -1. */
static int64_t first_diff(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!same_bits(&a[i], &b[i], 4)) return i;
    return -1;
}

static void expect_same(const char *what, const snap *want, const snap *got, bool lowp) {
    const float *w[3] = {want->p, want->m, want->v}, *g[3] = {got->p, got->m, got->v};
    for (int k = 0; k < 3; k++) {
        int64_t i = first_diff(w[k], g[k], want->n);
        CHECK(i < 0, "%s: %c[%lld] expected %.9g, got %.9g", what, "pmv"[k], (long long)i,
              i < 0 ? 0.0 : (double)w[k][i], i < 0 ? 0.0 : (double)g[k][i]);
    }
    if (lowp) CHECK(same_bits(want->lowp, got->lowp, (size_t)want->n * 2), "%s: low-precision weights differ", what);
}

static void save(run *r, int64_t step, int k, int keep) {
    wf_step_state st = state_for(k);
    char extra[64];
    int n = snprintf(extra, sizeof extra, "trainer state %d", k);
    CHECK(wf_checkpoint_save(root, step, &r->m, &r->t, &st, extra, (size_t)n + 1, keep) == WF_OK,
          "save step %lld", (long long)step);
}

/* Loads `path` into a fresh run and compares with the state saved as version k. */
static void expect_load(const char *path, wf_dtype dt, const char *targets, const snap *want,
                        int k, int64_t want_step) {
    run r;
    open_run(&r, dt, targets);
    wf_step_state st, ref = state_for(k);
    void *extra = NULL;
    size_t len = 0;
    int64_t step = -1;
    wf_status s = wf_checkpoint_load(path, &r.m, &r.t, &st, &extra, &len, &step);
    CHECK(s == WF_OK, "load %s", path);
    if (s == WF_OK) {
        snap got = take(&r);
        expect_same(path, want, &got, dt != WF_F32);
        drop(&got);
        CHECK(same_bits(&st, &ref, sizeof st), "%s: step state differs (loss scale %g vs %g, last norm %g vs %g)",
              path, (double)st.loss_scale, (double)ref.loss_scale, (double)st.last_grad_norm, (double)ref.last_grad_norm);
        char want_extra[64];
        snprintf(want_extra, sizeof want_extra, "trainer state %d", k);
        CHECK(extra && len == strlen(want_extra) + 1 && !strcmp(extra, want_extra), "%s: trainer bytes differ", path);
        CHECK(step == want_step, "%s: step %lld, expected %lld", path, (long long)step, (long long)want_step);
    }
    free(extra);
    close_run(&r);
}

static bool exists(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, name);
    return access(p, F_OK) == 0;
}

static void remove_dir(const char *path) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", path);
}

static bool fault_at(const char *stage, void *ctx) { return strcmp(stage, (const char *)ctx) == 0; }
static bool crash_at(const char *stage, void *ctx) {
    if (strcmp(stage, (const char *)ctx) == 0) _exit(3);
    return false;
}

/* Three saves with keep_last 2: step-1 goes; the root loads step 3, step-2 loads explicitly. */
static void test_round_trip(snap *v2, snap *v3) {
    run r;
    open_run(&r, WF_F32, "q_proj,v_proj");
    for (int k = 1; k <= 3; k++) {
        perturb(&r, k);
        if (k == 2) *v2 = take(&r);
        if (k == 3) *v3 = take(&r);
        save(&r, k, k, 2);
    }
    close_run(&r);
    CHECK(!exists("step-1") && exists("step-2") && exists("step-3"), "keep_last 2 should leave step-2 and step-3");
    expect_load(root, WF_F32, "q_proj,v_proj", v3, 3, 3);
    char p[512];
    snprintf(p, sizeof p, "%s/step-2", root);
    expect_load(p, WF_F32, "q_proj,v_proj", v2, 2, 2);
}

/* Another trainable set: refused before anything changes, naming the file and the parameter. */
static void test_mismatch(void) {
    run r;
    open_run(&r, WF_F32, "q_proj,k_proj");
    snap before = take(&r);
    wf_status s = wf_checkpoint_load(root, &r.m, &r.t, NULL, NULL, NULL, NULL);
    CHECK(s == WF_ERR_INVALID && strstr(wf_last_error(), "step-3/state.json") &&
          strstr(wf_last_error(), "k_proj.lora_A.weight"), "other LoRA targets must be refused: %s",
          wf_status_name(s));
    snap after = take(&r);
    expect_same("refused load", &before, &after, false);
    drop(&before), drop(&after);
    close_run(&r);
    open_run(&r, WF_F32, NULL);
    s = wf_checkpoint_load(root, &r.m, &r.t, NULL, NULL, NULL, NULL);
    CHECK(s == WF_ERR_INVALID && strstr(wf_last_error(), "state.json"), "a full fine-tuning set must be refused");
    close_run(&r);
}

/* A failure at each stage keeps the checkpoint of the same step that was there before. */
static void test_failed_saves(const snap *v3) {
    static const char *stages[] = {"trainable", "extra", "state", "commit"};
    run r;
    open_run(&r, WF_F32, "q_proj,v_proj");
    perturb(&r, 5);
    for (int i = 0; i < 4; i++) {
        wf_checkpoint_set_fault(fault_at, (void *)stages[i]);
        wf_step_state st = state_for(5);
        wf_status s = wf_checkpoint_save(root, 3, &r.m, &r.t, &st, NULL, 0, 2);
        CHECK(s == WF_ERR_IO && strstr(wf_last_error(), stages[i]), "fault at '%s' must fail the save", stages[i]);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "step-3.tmp.%ld", (long)getpid());
        CHECK(!exists(tmp), "fault at '%s' left %s behind", stages[i], tmp);
    }
    wf_checkpoint_set_fault(fault_at, "prune"); /* saved, but pruning failed: reported */
    wf_step_state st = state_for(5);
    CHECK(wf_checkpoint_save(root, 9, &r.m, &r.t, &st, NULL, 0, 2) == WF_ERR_IO && exists("step-9"),
          "a failed prune must report the error and keep the new checkpoint");
    wf_checkpoint_set_fault(NULL, NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/step-3", root);
    expect_load(p, WF_F32, "q_proj,v_proj", v3, 3, 3);
    snprintf(p, sizeof p, "%s/step-9", root);
    remove_dir(p);
    /* a successful save over the same step replaces it (then the step-3 content is restored) */
    snap v5 = take(&r);
    save(&r, 3, 5, 2);
    snprintf(p, sizeof p, "%s/step-3", root);
    expect_load(p, WF_F32, "q_proj,v_proj", &v5, 5, 3);
    drop(&v5);
    perturb(&r, 3);
    save(&r, 3, 3, 2);
    close_run(&r);
    expect_load(p, WF_F32, "q_proj,v_proj", v3, 3, 3);
}

/* keep_last 1 in a directory holding a later step: the new (lower) step is not deleted. */
static void test_keep_saved(void) {
    char sub[256];
    snprintf(sub, sizeof sub, "%s", root);
    snprintf(root, sizeof root, "%.200s/restart", sub);
    run r;
    open_run(&r, WF_F32, "q_proj,v_proj");
    perturb(&r, 1);
    save(&r, 900, 1, 0);
    save(&r, 100, 1, 1);
    close_run(&r);
    CHECK(exists("step-100") && exists("step-900"), "the step just saved must survive keep_last");
    snprintf(root, sizeof root, "%s", sub);
}

/* A process that dies after writing everything but before the rename: no step-4 appears, the
 * root still loads step 3, and the next save removes the dead process's temporary. */
static void test_crash(const snap *v3) {
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        run r;
        open_run(&r, WF_F32, "q_proj,v_proj");
        perturb(&r, 4);
        wf_checkpoint_set_fault(crash_at, "commit");
        save(&r, 4, 4, 2);
        _exit(0); /* not reached */
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3, "the child should have crashed at 'commit'");
    char tmp[64];
    snprintf(tmp, sizeof tmp, "step-4.tmp.%ld", (long)child);
    CHECK(exists(tmp) && !exists("step-4"), "a crashed save leaves only its temporary");
    expect_load(root, WF_F32, "q_proj,v_proj", v3, 3, 3);
    run r;
    open_run(&r, WF_F32, "q_proj,v_proj");
    perturb(&r, 6);
    save(&r, 6, 6, 2);
    close_run(&r);
    CHECK(!exists(tmp), "the next save should remove %s", tmp);
    CHECK(!exists("step-2") && exists("step-3") && exists("step-6"), "keep_last 2 after the crash");
}

/* bf16 full fine-tuning: every weight trains; the bf16 copy the model computes with is restored. */
static void test_bf16_full(void) {
    char sub[256];
    snprintf(sub, sizeof sub, "%s", root);
    snprintf(root, sizeof root, "%.200s/full", sub);
    run r;
    open_run(&r, WF_BF16, NULL);
    perturb(&r, 7);
    snap want = take(&r);
    save(&r, 70, 7, 1);
    close_run(&r);
    expect_load(root, WF_BF16, NULL, &want, 7, 70);
    drop(&want);
    snprintf(root, sizeof root, "%s", sub);
}

/* An adapter export replaces the old directory whole; a non-LoRA set is refused, and the old
 * adapter stays. */
static void test_export_replace(void) {
    char dir[400], file[500];
    snprintf(dir, sizeof dir, "%s/adapter", root);
    snprintf(file, sizeof file, "%s/adapter_model.safetensors", dir);
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.lora_r = 2;
    run r;
    open_run(&r, WF_F32, "q_proj,v_proj");
    perturb(&r, 1);
    CHECK(wf_export_peft(&r.m, &r.t, &sp, model_dir, dir) == WF_OK, "first export");
    perturb(&r, 2);
    CHECK(wf_export_peft(&r.m, &r.t, &sp, model_dir, dir) == WF_OK, "export over an existing adapter");
    run r2;
    open_run(&r2, WF_F32, "q_proj,v_proj");
    CHECK(wf_trainable_load_peft(&r2.m, &r2.t, dir) == WF_OK, "import the export");
    snap a = take(&r), b = take(&r2);
    CHECK(first_diff(a.p, b.p, a.n) < 0, "the re-export must hold the new values");
    drop(&a), drop(&b);
    close_run(&r2);
    close_run(&r);
    open_run(&r, WF_F32, NULL);
    sp.method = WF_METHOD_FULL;
    CHECK(wf_export_peft(&r.m, &r.t, &sp, NULL, dir) == WF_ERR_INVALID && access(file, F_OK) == 0,
          "a full fine-tuning set has no adapter; the old one must stay");
    close_run(&r);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/weft-test-checkpoint-%ld", (long)getpid());
    snprintf(model_dir, sizeof model_dir, "%s-model", root);
    if (wf_backend_open("cpu", NULL, &be) != WF_OK) return 1;
    write_model();
    snap v2 = {0}, v3 = {0};
    test_round_trip(&v2, &v3);
    test_mismatch();
    test_failed_saves(&v3);
    test_crash(&v3);
    test_bf16_full();
    test_keep_saved();
    test_export_replace();
    drop(&v2), drop(&v3);
    if (failures == 0) remove_dir(root), remove_dir(model_dir);
    wf_backend_close(be);
    printf("checkpoints: %d failures\n", failures);
    return failures ? 1 : 0;
}
