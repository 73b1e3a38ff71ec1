/* The NCCL communicator on one GPU (world 1; NCCL does not put two ranks on one device): the
 * communicator initialises (non-blocking, polled), every collective is enqueued on the CUDA
 * backend's stream and leaves the data as a one-rank sum should (the identity), including the
 * in-place reduce-scatter / all-gather offsets and 2-byte all-gathers; wait and barrier complete;
 * a collective after abort fails with a message instead of hanging.
 * The bucketed path (comm.h all_reduce_async and ZeRO-1's reduce_scatter_async, + join: a
 * communication stream ordered against the compute stream by events): direct calls between
 * compute-stream work, then two training steps (plain, and ZeRO-1)
 * of a tiny random Llama on the GPU whose gradient buckets (700 elements, so dozens of them) go
 * out from inside the backward through this world-1 communicator; the weights must equal, bit for
 * bit, the same steps on one rank without a communicator (the same kernels on the same device
 * are bit-reproducible: no atomics in kernels/cuda, and cuBLAS's "results reproducibility"
 * guarantee for one stream; a one-rank all-reduce is the identity), and wait must find both
 * streams idle afterwards. World 1 cannot show a missing event (the identity writes back what it
 * read); two GPUs can: weft launch --gpus 0,1 against --cpu-ranks 2.
 * Exit 77 (skip) without NCCL in the build or without a GPU. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/comm.h"
#include "weft/trainer.h"

#if !defined(WF_HAVE_NCCL)
int main(void) {
    fprintf(stderr, "skip: built without NCCL\n");
    return 77;
}
#else
#define N 4099

static int fails;
#define CHECK(c, ...) \
    do { if (!(c)) { fails++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

enum { B = 2, T = 12, VOCAB = 96, C = 32, FF = 48, LAYERS = 3, BUCKET = 700 };

static int write_config(const char *dir) {
    char path[300];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fprintf(f, "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"], "
               "\"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d, "
               "\"num_hidden_layers\": %d, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
               "\"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0, "
               "\"hidden_act\": \"silu\", \"tie_word_embeddings\": true}\n", VOCAB, C, FF, LAYERS);
    return fclose(f) != 0;
}

/* Two steps of 2 micro-batches of a random model in `dir` on `be`, through communicator c (NULL:
 * one rank, no communicator), with ZeRO-1 (a one-rank shard: its buckets go through
 * reduce_scatter_async) or without; the master weights into w (total). Returns the buckets launched
 * from inside the last backward, or -1 on an error. */
static int train_steps(wf_backend *be, wf_comm *c, bool zero1, const char *dir, float *w, int64_t cap_w) {
    wf_model m;
    wf_trainable t;
    wf_trainer tr;
    wf_load_opts lo = {.seed = 7, .random_init = true};
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.method = WF_METHOD_FULL;
    wf_adamw_hparams hp = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                           .max_grad_norm = 1.0f};
    if (wf_model_load_ex(dir, be, WF_F32, &lo, &m) != WF_OK || wf_trainable_build(&m, &sp, &t) != WF_OK ||
        wf_trainer_init(&tr, &m, &t, B, T, &hp, 1) != WF_OK)
        return fprintf(stderr, "FAIL train setup: %s\n", wf_last_error()), -1;
    if (c) tr.comm = c, tr.zero1 = zero1;
    int early = -1;
    if (wf_trainer_dist_set_buckets(&tr, c ? BUCKET : 0) != WF_OK || (c && tr.n_buckets < 2) || t.total > cap_w) {
        fprintf(stderr, "FAIL bucket plan: %d buckets, %lld weights: %s\n", tr.n_buckets, (long long)t.total,
                wf_last_error());
        goto done;
    }
    static int32_t ids[2][B * T], tg[2][B * T];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < B * T; i++) ids[k][i] = (i * 37 + k * 11 + 5) % VOCAB, tg[k][i] = (i * 53 + k + 1) % VOCAB;
    wf_batch_host mb[2] = {{.B = B, .T = T, .ids = ids[0], .targets = tg[0]},
                           {.B = B, .T = T, .ids = ids[1], .targets = tg[1]}};
    wf_step_result res;
    for (uint32_t step = 0; step < 2; step++)
        if (wf_trainer_step(&tr, mb, 2, 1e-3, step, &res) != WF_OK) {
            fprintf(stderr, "FAIL step %u: %s\n", step, wf_last_error());
            goto done;
        }
    if (be->copy(be, w, t.p.data, (size_t)t.total * 4, WF_COPY_D2H) == WF_OK) early = tr.buckets_early;
done:
    wf_trainer_free(&tr);
    wf_trainable_free(&m, &t);
    wf_model_free(&m);
    return early;
}

/* The bucketed path through NCCL at world 1 (the header). */
static void check_buckets(wf_backend *be, wf_comm *c, void *d, const float *h) {
    /* direct: compute-stream work, pieces launched on the communication stream, join, copy back */
    CHECK(be->memset(be, d, 0, N * sizeof(float)) == WF_OK, "memset");
    CHECK(be->copy(be, d, h, N * sizeof(float), WF_COPY_H2D) == WF_OK, "h2d");
    CHECK(c->ops->all_reduce_async(c, d, 1000) == WF_OK, "all_reduce_async: %s", wf_last_error());
    CHECK(c->ops->all_reduce_async(c, (float *)d + 1000, N - 1000) == WF_OK, "all_reduce_async: %s", wf_last_error());
    CHECK(c->ops->reduce_scatter_async(c, d, N, 300, N - 300) == WF_OK, "reduce_scatter_async: %s", wf_last_error());
    CHECK(c->ops->reduce_scatter_async(c, d, N, 0, 300) == WF_OK, "reduce_scatter_async: %s", wf_last_error());
    CHECK(c->ops->join(c) == WF_OK, "join: %s", wf_last_error());
    static float back[N];
    CHECK(be->copy(be, back, d, sizeof back, WF_COPY_D2H) == WF_OK, "d2h");
    CHECK(memcmp(h, back, sizeof back) == 0, "a one-rank bucketed all-reduce changed the data");
    CHECK(c->ops->wait(c) == WF_OK, "wait after join: %s", wf_last_error());
    /* a trainer: buckets from inside the backward, against one rank without a communicator */
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/weft_nccl_%d", (int)getpid());
    mkdir(dir, 0755);
    enum { CAP_W = 1 << 16 };
    static float w1[CAP_W], wb[CAP_W];
    if (write_config(dir) != 0) {
        CHECK(0, "cannot write %s/config.json", dir);
        return;
    }
    int plain = train_steps(be, NULL, false, dir, w1, CAP_W);
    for (int z = 0; z < 2; z++) { /* plain data parallel, then ZeRO-1 */
        int early = train_steps(be, c, z, dir, wb, CAP_W);
        CHECK(plain >= 0 && early >= 2, "bucketed steps%s: %d buckets launched from inside the backward",
              z ? " (ZeRO-1)" : "", early);
        CHECK(c->ops->wait(c) == WF_OK, "wait after the steps: %s", wf_last_error());
        int64_t differ = 0;
        for (int i = 0; i < CAP_W; i++) differ += w1[i] != wb[i];
        CHECK(differ == 0, "bucketed steps%s: %lld weights differ from the same steps on one rank",
              z ? " (ZeRO-1)" : "", (long long)differ);
        printf("nccl world-1 buckets%s: %d launched from inside the backward, %lld weights differ from one rank\n",
               z ? " (ZeRO-1)" : "", early, (long long)differ);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path), rmdir(dir);
}

int main(void) {
    if (!wf_backend_available("cuda") || !wf_comm_nccl_available()) {
        fprintf(stderr, "skip: no GPU or no NCCL library\n");
        return 77;
    }
    wf_backend *be;
    unsigned char id[WF_NCCL_ID_BYTES];
    wf_comm *c;
    if (wf_backend_open("cuda", NULL, &be) != WF_OK || wf_comm_nccl_id(id) != WF_OK ||
        wf_comm_nccl_create(0, id, 0, 1, 30.0, &c) != WF_OK) {
        fprintf(stderr, "FAIL setup: %s\n", wf_last_error());
        return 1;
    }
    c->be = be;
    static float h[N], back[N];
    for (int i = 0; i < N; i++) h[i] = (float)i * 0.25f - 7.0f;
    void *d;
    if (be->alloc(be, N * sizeof(float), &d) != WF_OK) return fprintf(stderr, "FAIL alloc\n"), 1;
    CHECK(be->copy(be, d, h, sizeof h, WF_COPY_H2D) == WF_OK, "h2d");
    /* the ops directly: the wf_comm_* wrappers skip world 1 */
    CHECK(c->ops->all_reduce(c, d, N, WF_COMM_F32) == WF_OK, "all_reduce: %s", wf_last_error());
    CHECK(c->ops->reduce_scatter(c, d, N) == WF_OK, "reduce_scatter: %s", wf_last_error());
    CHECK(c->ops->all_gather(c, d, N, 4) == WF_OK, "all_gather: %s", wf_last_error());
    CHECK(c->ops->all_gather(c, d, N, 2) == WF_OK, "all_gather (2-byte): %s", wf_last_error());
    CHECK(c->ops->broadcast(c, d, 64, 0) == WF_OK, "broadcast: %s", wf_last_error());
    CHECK(c->ops->all_reduce(c, d, N / 2, WF_COMM_I64) == WF_OK, "all_reduce i64: %s", wf_last_error());
    CHECK(c->ops->wait(c) == WF_OK, "wait: %s", wf_last_error());
    CHECK(c->ops->barrier(c) == WF_OK, "barrier: %s", wf_last_error());
    CHECK(be->copy(be, back, d, sizeof back, WF_COPY_D2H) == WF_OK, "d2h");
    CHECK(memcmp(h, back, sizeof h) == 0, "a one-rank collective changed the data");
    check_buckets(be, c, d, h);
    c->ops->abort(c, "test abort");
    wf_status s = c->ops->all_reduce(c, d, N, WF_COMM_F32);
    CHECK(s != WF_OK && strstr(wf_last_error(), "test abort"), "after abort: %d '%s'", s, wf_last_error());
    c->ops->destroy(c);
    be->free(be, d);
    wf_backend_close(be);
    printf("nccl world-1: init, all_reduce, reduce_scatter, all_gather, broadcast, barrier, wait, "
           "all_reduce_async + join, a bucketed training step, abort: %s\n",
           fails ? "FAIL" : "ok");
    return fails ? 1 : 0;
}
#endif
