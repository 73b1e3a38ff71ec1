/* Gradient buckets (host/train/trainer_dist.c): the plan, and when the trainer launches them.
 * A tiny random Llama (tied embeddings; full fine-tune and LoRA on every linear) on the CPU:
 * - the plan for bucket sizes from one element to more than the model (smaller than one tensor,
 *   exactly one block's decayed weights, everything): every element in exactly one bucket, none
 *   over the cap or across the decay boundary, launch order from the head down to the
 *   embeddings;
 * - a step of 2 micro-batches through a recording communicator (world 2, its sums the identity):
 *   each bucket is launched from inside the backward of the last micro-batch, and what it holds
 *   when launched is already the final gradient, bit for bit (a bucket launched before its layer
 *   finished, or during the first micro-batch, holds a partial sum and fails this), and the
 *   trained weights equal those of the same step with one flat all-reduce;
 * - the same under ZeRO-1, whose buckets are ranges of the reduce-scatter.
 * That bucketed sums over real ranks equal the flat ones: tests/unit/test_dist_train.c. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expect.h"
#include "weft/trainer.h"

enum { B = 2, T = 12, VOCAB = 96, C = 32, FF = 48, LAYERS = 3 };
#define LAYER_DECAYED 7680 /* q 1024 + k 512 + v 512 + o 1024 + gate/up/down 3 x 1536 */

static char g_dir[256];

static void write_config(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/config.json", g_dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"], "
               "\"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d, "
               "\"num_hidden_layers\": %d, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
               "\"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0, "
               "\"hidden_act\": \"silu\", \"tie_word_embeddings\": true}\n", VOCAB, C, FF, LAYERS);
    fclose(f);
}

/* ---- a communicator that records the bucket launches (world 2; every sum is the identity) ---- */
typedef struct rec {
    const wf_trainable *t;
    float *snap;     /* (total) each bucket's contents when it was launched */
    int *covered;    /* (total) launches that included the element */
    int launches, joins;
    int64_t bad;     /* elements whose launched value differs from the final gradient */
} rec;
static rec g_rec;

static wf_status r_all_reduce(wf_comm *c, void *buf, int64_t n, wf_comm_dtype dt) {
    (void)c, (void)buf, (void)n, (void)dt;
    return WF_OK;
}
/* Records elements [off, off + n) of the gradient as launched. */
static void record(int64_t off, int64_t n) {
    const float *g = g_rec.t->g.data;
    CHECK(off >= 0 && off + n <= g_rec.t->total, "bucket [%lld, +%lld) outside the gradient", (long long)off,
          (long long)n);
    for (int64_t i = 0; i < n && off >= 0 && off + n <= g_rec.t->total; i++)
        g_rec.snap[off + i] = g[off + i], g_rec.covered[off + i]++;
    g_rec.launches++;
}
static wf_status r_async(wf_comm *c, float *buf, int64_t n) {
    (void)c;
    record(buf - (const float *)g_rec.t->g.data, n);
    return WF_OK;
}
/* ZeRO-1's buckets: the whole gradient and a range of it. */
static wf_status r_rs_async(wf_comm *c, float *buf, int64_t count, int64_t lo, int64_t n) {
    (void)c;
    CHECK(buf == g_rec.t->g.data && count == g_rec.t->total, "ZeRO-1 bucket: not the whole gradient");
    record(lo, n);
    return WF_OK;
}
/* At the join the backward is over and the gradient not yet unscaled: it is final here. */
static wf_status r_join(wf_comm *c) {
    (void)c;
    const float *g = g_rec.t->g.data;
    for (int64_t i = 0; i < g_rec.t->total; i++) g_rec.bad += g_rec.snap[i] != g[i];
    g_rec.joins++;
    return WF_OK;
}
static wf_status r_rs(wf_comm *c, float *b, int64_t n) { (void)c, (void)b, (void)n; return WF_OK; }
static wf_status r_ag(wf_comm *c, void *b, int64_t n, int e) { (void)c, (void)b, (void)n, (void)e; return WF_OK; }
static wf_status r_bc(wf_comm *c, void *b, int64_t n, int r) { (void)c, (void)b, (void)n, (void)r; return WF_OK; }
static wf_status r_barrier(wf_comm *c) { (void)c; return WF_OK; }
static void r_abort(wf_comm *c, const char *why) { (void)c, (void)why; }
static void r_destroy(wf_comm *c) { (void)c; }
static const wf_comm_ops k_rec_ops = {.all_reduce = r_all_reduce, .all_reduce_async = r_async, .join = r_join,
                                      .reduce_scatter = r_rs, .reduce_scatter_async = r_rs_async,
                                      .all_gather = r_ag, .broadcast = r_bc,
                                      .barrier = r_barrier, .abort = r_abort, .destroy = r_destroy};

/* The plan's invariants for one cap. */
static void check_plan(const wf_model *m, const wf_trainable *t, int64_t cap, bool full) {
    const char *what = full ? "full" : "lora";
    wf_grad_bucket *b;
    int n;
    if (wf_grad_buckets_plan(m, t, cap, &b, &n) != WF_OK) {
        CHECK(0, "%s: plan with cap %lld: %s", what, (long long)cap, wf_last_error());
        return;
    }
    int *cov = calloc((size_t)t->total, sizeof *cov);
    int64_t bad_cov = 0;
    for (int k = 0; k < n; k++) {
        CHECK(b[k].n > 0 && b[k].n <= cap, "%s cap %lld: bucket %d has %lld elements", what, (long long)cap, k,
              (long long)b[k].n);
        CHECK(b[k].off >= t->n_decay || b[k].off + b[k].n <= t->n_decay, "%s cap %lld: bucket %d spans the decay "
              "boundary", what, (long long)cap, k);
        CHECK(k == 0 || b[k].layer <= b[k - 1].layer, "%s cap %lld: bucket %d (layer %lld) after layer %lld", what,
              (long long)cap, k, (long long)b[k].layer, (long long)b[k - 1].layer);
        for (int64_t i = b[k].off; i < b[k].off + b[k].n && i < t->total; i++) cov[i]++;
    }
    for (int64_t i = 0; i < t->total; i++) bad_cov += cov[i] != 1;
    CHECK(bad_cov == 0, "%s cap %lld: %lld elements not in exactly one bucket", what, (long long)cap,
          (long long)bad_cov);
    /* full: the final norm first, the (tied) embeddings last; LoRA: the last block's adapters
     * first, the first block's last. A bucket larger than a tensor may merge the first with the
     * next layers: then it waits for them (first layer lower). */
    int64_t first = full ? m->arch.n_layers : m->arch.n_layers - 1, last = full ? -1 : 0;
    CHECK(n > 0 && (cap <= 64 ? b[0].layer == first : b[0].layer <= first) && b[n - 1].layer == last,
          "%s cap %lld: first layer %lld, last %lld (expected %lld, %lld)", what, (long long)cap,
          n ? (long long)b[0].layer : 0LL,
          n ? (long long)b[n - 1].layer : 0LL, (long long)first, (long long)last);
    if (full && cap == LAYER_DECAYED) /* one bucket per block's decayed weights */
        for (int l = 0; l < LAYERS; l++) {
            int found = 0;
            for (int k = 0; k < n; k++) found += b[k].layer == l && b[k].n == LAYER_DECAYED;
            CHECK(found == 1, "%s: cap of one block: block %d's weights in %d whole buckets", what, l, found);
        }
    printf("%s, cap %lld elements: %d buckets of %lld elements\n", what, (long long)cap, n, (long long)t->total);
    free(cov), free(b);
}

/* One step (2 micro-batches) on a fresh model; the trained master weights into *w (malloc'ed).
 * cap 0: the flat all-reduce (reduce-scatter). zero1: as rank 0 of 2 under ZeRO-1 (the
 * recording communicator's sums are the identity, so only rank 0's shard moves). */
static void step_run(wf_method method, bool zero1, int64_t cap, float **w, int64_t *total) {
    wf_backend *be;
    wf_model m;
    wf_trainable t;
    wf_trainer tr;
    wf_load_opts lo = {.seed = 7, .random_init = true};
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.method = method, sp.n_targets = 1;
    snprintf(sp.targets[0], sizeof sp.targets[0], "all-linear");
    *w = NULL;
    if (wf_backend_open("cpu", NULL, &be) != WF_OK || wf_model_load_ex(g_dir, be, WF_F32, &lo, &m) != WF_OK ||
        wf_trainable_build_shard(&m, &sp, 0, zero1 ? 2 : 1, &t) != WF_OK) {
        CHECK(0, "setup: %s", wf_last_error());
        return;
    }
    if (cap == 1 && !zero1) { /* the plan checks, on this model */
        int64_t caps[] = {1, 64, 100, 700, LAYER_DECAYED, t.total, (int64_t)1 << 40};
        for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) check_plan(&m, &t, caps[i], method == WF_METHOD_FULL);
    }
    if (cap == 1) cap = 700;
    wf_adamw_hparams hp = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                           .max_grad_norm = 1.0f};
    EXPECT(wf_trainer_init(&tr, &m, &t, B, T, &hp, 1) == WF_OK);
    wf_comm fake = {.ops = &k_rec_ops, .rank = 0, .world = 2, .timeout_s = 10};
    tr.comm = &fake, tr.zero1 = zero1;
    EXPECT(wf_trainer_dist_set_buckets(&tr, cap) == WF_OK);
    CHECK(cap == 0 ? tr.n_buckets == 0 : tr.n_buckets > 0, "cap %lld: %d buckets", (long long)cap, tr.n_buckets);
    g_rec = (rec){.t = &t, .snap = calloc((size_t)t.total, 4), .covered = calloc((size_t)t.total, sizeof(int))};
    int32_t ids[2][B * T], tg[2][B * T];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < B * T; i++) ids[k][i] = (i * 37 + k * 11 + 5) % VOCAB, tg[k][i] = (i * 53 + k + 1) % VOCAB;
    wf_batch_host mb[2] = {{.B = B, .T = T, .ids = ids[0], .targets = tg[0]},
                           {.B = B, .T = T, .ids = ids[1], .targets = tg[1]}};
    wf_step_result res;
    EXPECT(wf_trainer_step(&tr, mb, 2, 1e-3, 0, &res) == WF_OK);
    if (cap > 0) {
        int64_t cov_bad = 0;
        for (int64_t i = 0; i < t.total; i++) cov_bad += g_rec.covered[i] != 1;
        printf("%scap %lld: %d buckets, %d launched from inside the backward, %lld elements differ from the "
               "final gradient at launch\n", zero1 ? "ZeRO-1, " : "", (long long)cap, g_rec.launches,
               tr.buckets_early, (long long)g_rec.bad);
        CHECK(g_rec.launches == tr.n_buckets && tr.buckets_early == tr.n_buckets && g_rec.joins == 1,
              "cap %lld: %d launches (%d from the backward) of %d buckets, %d joins", (long long)cap,
              g_rec.launches, tr.buckets_early, tr.n_buckets, g_rec.joins);
        CHECK(cov_bad == 0, "cap %lld: %lld elements not reduced exactly once", (long long)cap, (long long)cov_bad);
        CHECK(g_rec.bad == 0, "cap %lld: %lld elements were launched before their gradient was final",
              (long long)cap, (long long)g_rec.bad);
    }
    *total = t.total;
    *w = malloc((size_t)t.total * 4);
    EXPECT(be->copy(be, *w, t.p.data, (size_t)t.total * 4, WF_COPY_D2H) == WF_OK);
    free(g_rec.snap), free(g_rec.covered);
    wf_trainer_free(&tr);
    wf_trainable_free(&m, &t);
    wf_model_free(&m);
    wf_backend_close(be);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/weft_buckets_%d", (int)getpid());
    mkdir(g_dir, 0755);
    write_config();
    wf_method methods[] = {WF_METHOD_FULL, WF_METHOD_LORA};
    for (int z = 0; z < 2; z++) /* plain data parallel, then ZeRO-1 */
        for (int k = 0; k < 2; k++) {
            float *flat, *w;
            int64_t n0, n;
            step_run(methods[k], z, 0, &flat, &n0);
            int64_t caps[] = {1 /* plan checks, then 700 */, LAYER_DECAYED, (int64_t)1 << 40};
            for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
                step_run(methods[k], z, caps[c], &w, &n);
                int64_t diff = 0;
                for (int64_t i = 0; flat && w && n == n0 && i < n; i++) diff += flat[i] != w[i];
                CHECK(flat && w && n == n0 && diff == 0, "%s%s, cap %lld: %lld weights differ from the flat step",
                      z ? "ZeRO-1 " : "", k ? "lora" : "full", (long long)caps[c], (long long)diff);
                free(w);
            }
            free(flat);
        }
    char path[300];
    snprintf(path, sizeof path, "%s/config.json", g_dir);
    remove(path), rmdir(g_dir);
    return failures ? 1 : 0;
}
