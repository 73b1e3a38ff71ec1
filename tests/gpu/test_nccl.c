/* The NCCL communicator (host/comm/comm_nccl.c) over `--ranks N` processes (default 1: one GPU,
 * since NCCL does not put two ranks on one device; more where each rank has a device of its own:
 * a machine with N GPUs, or the CUDA emulator, whose NCCL stand-in joins processes through shared
 * memory). The communicator initialises (non-blocking, polled); every collective is enqueued on
 * the CUDA backend's stream and leaves the sums a rank-order reduction gives, on data that differs
 * by rank (small integers: exact in fp32), including the in-place reduce-scatter / all-gather
 * offsets of even and uneven shards, 2-byte all-gathers, a broadcast from the last rank and an
 * int64 all-reduce; wait and barrier complete; after one rank aborts, a collective failures on every
 * rank with a message instead of hanging.
 * The bucketed path (comm.h all_reduce_async and ZeRO-1's reduce_scatter_async, + join: a
 * communication stream ordered against the compute stream by events): direct calls between
 * compute-stream work (each rank's shard ends as the sum of sums, the rest as the sums), then two
 * training steps (plain, and ZeRO-1) of a tiny random Llama whose gradient buckets (700
 * elements, so dozens of them) go out from inside the backward; every rank trains on the same
 * batches, so with N a power of two (the 1 / N of the token average is exact) the weights must
 * equal, bit for bit, the same steps on one rank without a communicator (no atomics in
 * kernels/cuda; cuBLAS is reproducible on one stream), and wait must find both streams idle.
 * `--ranks N --kill`: rank 1 exits right after a first all-reduce; rank 0's next collective must
 * fail, naming NCCL, within 15 s instead of hanging.
 * Exit 77 (skip) without NCCL in the build or without a GPU (or an emulated one). */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weft/comm.h"
#include "weft/trainer.h"

#if !defined(WF_HAVE_NCCL)
int main(void) {
    fprintf(stderr, "skip: built without NCCL\n");
    return 77;
}
#else
#include "../unit/expect.h"

#define N 4099

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
 * one rank, no communicator), with ZeRO-1 (this rank's shard of the AdamW moments; its buckets go
 * through reduce_scatter_async) or without; the master weights into w (total). Returns the buckets launched
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
    const int rank = c && zero1 ? c->rank : 0, world = c && zero1 ? c->world : 1; /* ZeRO-1: m, v shards */
    if (wf_model_load_ex(dir, be, WF_F32, &lo, &m) != WF_OK ||
        wf_trainable_build_shard(&m, &sp, rank, world, &t) != WF_OK ||
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

/* Rank r's test data (h) and the sums over the world's ranks (sum): small integers, exact. */
static void rank_data(int rank, int world, float *h, float *sum) {
    for (int i = 0; i < N; i++) {
        h[i] = (float)(i % 97 + rank);
        sum[i] = (float)(world * (i % 97) + world * (world - 1) / 2);
    }
}

/* How many of want[lo, hi) differ from got. */
static int64_t differ(const float *got, const float *want, int64_t lo, int64_t hi) {
    int64_t n = 0;
    for (int64_t i = lo; i < hi; i++) n += got[i] != want[i];
    return n;
}

/* The bucketed path through NCCL (the header). */
static void check_buckets(wf_backend *be, wf_comm *c, void *d) {
    static float h[N], sum[N], back[N], twice[N];
    rank_data(c->rank, c->world, h, sum);
    for (int i = 0; i < N; i++) twice[i] = sum[i] * (float)c->world;
    /* direct: compute-stream work, pieces launched on the communication stream, join, copy back */
    CHECK(be->memset(be, d, 0, N * sizeof(float)) == WF_OK, "memset");
    CHECK(be->copy(be, d, h, N * sizeof(float), WF_COPY_H2D) == WF_OK, "h2d");
    CHECK(c->ops->all_reduce_async(c, d, 1000) == WF_OK, "all_reduce_async: %s", wf_last_error());
    CHECK(c->ops->all_reduce_async(c, (float *)d + 1000, N - 1000) == WF_OK, "all_reduce_async: %s", wf_last_error());
    CHECK(c->ops->reduce_scatter_async(c, d, N, 300, N - 300) == WF_OK, "reduce_scatter_async: %s", wf_last_error());
    CHECK(c->ops->reduce_scatter_async(c, d, N, 0, 300) == WF_OK, "reduce_scatter_async: %s", wf_last_error());
    CHECK(c->ops->join(c) == WF_OK, "join: %s", wf_last_error());
    CHECK(be->copy(be, back, d, sizeof back, WF_COPY_D2H) == WF_OK, "d2h");
    int64_t off, n;
    wf_comm_shard(N, c->world, c->rank, &off, &n);
    const int64_t out = differ(back, sum, 0, off) + differ(back, sum, off + n, N), in = differ(back, twice, off, off + n);
    CHECK(out == 0 && in == 0, "rank %d: bucketed all-reduce then reduce-scatter: %lld wrong outside its shard, "
          "%lld inside", c->rank, (long long)out, (long long)in);
    CHECK(c->ops->wait(c) == WF_OK, "wait after join: %s", wf_last_error());
    /* a trainer: buckets from inside the backward, against one rank without a communicator */
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/weft_nccl_%d_%d", (int)getpid(), c->rank);
    mkdir(dir, 0755);
    enum { CAP_W = 1 << 16 };
    static float w1[CAP_W], wb[CAP_W];
    if (write_config(dir) != 0) {
        CHECK(0, "cannot write %s/config.json", dir);
        return;
    }
    int plain = train_steps(be, NULL, false, dir, w1, CAP_W);
    const bool exact = (c->world & (c->world - 1)) == 0; /* 1 / world exact: see the header */
    for (int z = 0; z < 2; z++) { /* plain data parallel, then ZeRO-1 */
        int early = train_steps(be, c, z, dir, wb, CAP_W);
        CHECK(plain >= 0 && early >= 2, "bucketed steps%s: %d buckets launched from inside the backward",
              z ? " (ZeRO-1)" : "", early);
        CHECK(c->ops->wait(c) == WF_OK, "wait after the steps: %s", wf_last_error());
        int64_t nd = differ(wb, w1, 0, CAP_W);
        CHECK(nd == 0 || !exact, "rank %d: bucketed steps%s: %lld weights differ from the same steps on one rank",
              c->rank, z ? " (ZeRO-1)" : "", (long long)nd);
        printf("nccl world-%d rank %d buckets%s: %d launched from inside the backward, %lld weights differ "
               "from one rank%s\n", c->world, c->rank, z ? " (ZeRO-1)" : "", early, (long long)nd,
               exact ? "" : " (not compared: 1 / world is inexact)");
    }
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path), rmdir(dir);
}

/* One rank's checks (the header); returns its exit status. */
static int run_rank(const unsigned char id[WF_NCCL_ID_BYTES], int rank, int world, bool kill_test) {
    wf_backend *be;
    wf_comm *c;
    if (wf_backend_open("cuda", NULL, &be) != WF_OK ||
        wf_comm_nccl_create(0, id, rank, world, 30.0, &c) != WF_OK) {
        fprintf(stderr, "FAIL rank %d setup: %s\n", rank, wf_last_error());
        return 1;
    }
    c->be = be;
    static float h[N], sum[N], back[N], want[N];
    rank_data(rank, world, h, sum);
    for (int i = 0; i < N; i++) want[i] = sum[i] * (float)world;
    void *d;
    if (be->alloc(be, N * sizeof(float), &d) != WF_OK) return fprintf(stderr, "FAIL alloc\n"), 1;
    CHECK(be->copy(be, d, h, sizeof h, WF_COPY_H2D) == WF_OK, "h2d");
    /* the ops directly (the wf_comm_* wrappers skip world 1) */
    CHECK(c->ops->all_reduce(c, d, N, WF_COMM_F32) == WF_OK, "all_reduce: %s", wf_last_error());
    CHECK(be->copy(be, back, d, sizeof back, WF_COPY_D2H) == WF_OK, "d2h");
    CHECK(differ(back, sum, 0, N) == 0, "rank %d: all_reduce: %lld sums wrong", rank, (long long)differ(back, sum, 0, N));
    if (kill_test) {
        if (rank == 1) _exit(3); /* gone without a word, as a crashed process */
        const time_t t0 = time(NULL);
        wf_status s = c->ops->all_reduce(c, d, N, WF_COMM_F32);
        if (s == WF_OK) s = c->ops->wait(c);
        const double took = difftime(time(NULL), t0);
        CHECK(s != WF_OK && strstr(wf_last_error(), "NCCL") && took < 15,
              "rank 0 after rank 1 died: status %d after %.0f s: '%s'", s, took, wf_last_error());
        printf("nccl world-%d: rank 1 gone, rank 0's next collective failed after %.0f s: %s\n", world, took,
               wf_last_error());
        return failures ? 1 : 0; /* the communicator is dead (as after an abort): the process ends */
    }
    /* reduce-scatter then all-gather, uneven shards (N odd) and even ones */
    for (int even = 0; even < 2; even++) {
        const int64_t count = even ? N - N % world : N;
        CHECK(be->copy(be, d, sum, sizeof sum, WF_COPY_H2D) == WF_OK, "h2d");
        CHECK(c->ops->reduce_scatter(c, d, count) == WF_OK, "reduce_scatter: %s", wf_last_error());
        CHECK(c->ops->all_gather(c, d, count, 4) == WF_OK, "all_gather: %s", wf_last_error());
        CHECK(be->copy(be, back, d, sizeof back, WF_COPY_D2H) == WF_OK, "d2h");
        const int64_t bad = differ(back, want, 0, count) + differ(back, sum, count, N);
        CHECK(bad == 0, "rank %d: reduce_scatter + all_gather of %lld: %lld wrong", rank, (long long)count,
              (long long)bad);
    }
    /* a 2-byte all-gather of 2 N halves: rank r's shard (in halves) comes from rank r's data */
    CHECK(be->copy(be, d, h, sizeof h, WF_COPY_H2D) == WF_OK, "h2d");
    CHECK(c->ops->all_gather(c, d, 2 * N, 2) == WF_OK, "all_gather (2-byte): %s", wf_last_error());
    CHECK(be->copy(be, back, d, sizeof back, WF_COPY_D2H) == WF_OK, "d2h");
    for (int r = 0; r < world; r++) {
        int64_t off, n;
        wf_comm_shard(2 * N, world, r, &off, &n);
        static float hr[N], sr[N];
        rank_data(r, world, hr, sr);
        CHECK(memcmp((const char *)back + 2 * off, (const char *)hr + 2 * off, (size_t)(2 * n)) == 0,
              "rank %d: 2-byte all_gather: rank %d's shard wrong", rank, r);
    }
    /* broadcast from the last rank */
    float tag[16];
    for (int i = 0; i < 16; i++) tag[i] = (float)(1000 * rank + i);
    CHECK(be->copy(be, d, tag, sizeof tag, WF_COPY_H2D) == WF_OK, "h2d");
    CHECK(c->ops->broadcast(c, d, sizeof tag, world - 1) == WF_OK, "broadcast: %s", wf_last_error());
    CHECK(be->copy(be, tag, d, sizeof tag, WF_COPY_D2H) == WF_OK, "d2h");
    for (int i = 0; i < 16; i++)
        CHECK(tag[i] == (float)(1000 * (world - 1) + i), "rank %d: broadcast element %d: %g", rank, i, tag[i]);
    /* int64 */
    static int64_t iv[N / 2];
    for (int i = 0; i < N / 2; i++) iv[i] = (int64_t)i + ((int64_t)rank << 40);
    CHECK(be->copy(be, d, iv, sizeof iv, WF_COPY_H2D) == WF_OK, "h2d");
    CHECK(c->ops->all_reduce(c, d, N / 2, WF_COMM_I64) == WF_OK, "all_reduce i64: %s", wf_last_error());
    CHECK(be->copy(be, iv, d, sizeof iv, WF_COPY_D2H) == WF_OK, "d2h");
    int64_t ibad = 0;
    for (int i = 0; i < N / 2; i++)
        ibad += iv[i] != (int64_t)world * i + (((int64_t)world * (world - 1) / 2) << 40);
    CHECK(ibad == 0, "rank %d: all_reduce i64: %lld wrong", rank, (long long)ibad);
    CHECK(c->ops->wait(c) == WF_OK, "wait: %s", wf_last_error());
    CHECK(c->ops->barrier(c) == WF_OK, "barrier: %s", wf_last_error());
    check_buckets(be, c, d);
    CHECK(c->ops->barrier(c) == WF_OK, "barrier: %s", wf_last_error()); /* every rank done before the abort */
    if (rank == 0) c->ops->abort(c, "test abort");
    wf_status s = c->ops->all_reduce(c, d, N, WF_COMM_F32);
    if (s == WF_OK) s = c->ops->wait(c);
    CHECK(s != WF_OK && (rank != 0 || strstr(wf_last_error(), "test abort")), "rank %d after rank 0's abort: %d '%s'",
          rank, s, wf_last_error());
    c->ops->destroy(c);
    be->free(be, d);
    wf_backend_close(be);
    printf("nccl world-%d rank %d: init, all_reduce, reduce_scatter, all_gather, broadcast, barrier, wait, "
           "all_reduce_async + join, bucketed training steps, abort: %s\n", world, rank, failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    int world = 1;
    bool kill_test = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ranks") && i + 1 < argc) world = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kill")) kill_test = true;
        else return fprintf(stderr, "usage: test_nccl [--ranks N] [--kill]\n"), 2;
    }
    if (world < 1 || world > 8 || (kill_test && world < 2))
        return fprintf(stderr, "test_nccl: --ranks 1..8 (--kill: at least 2)\n"), 2;
    if (!wf_comm_nccl_available()) {
        fprintf(stderr, "skip: no NCCL library\n");
        return 77;
    }
    unsigned char id[WF_NCCL_ID_BYTES];
    if (world == 1) {
        if (!wf_backend_available("cuda")) return fprintf(stderr, "skip: no GPU\n"), 77;
        if (wf_comm_nccl_id(id) != WF_OK) return fprintf(stderr, "FAIL id: %s\n", wf_last_error()), 1;
        return run_rank(id, 0, 1, false);
    }
    /* a process per rank, forked before anything touches a device; rank 0 makes the id and hands
     * it to the others through one pipe, a copy each (writes under PIPE_BUF are atomic), as weft
     * launch does over TCP; rank r uses the r-th GPU */
    int fd[2];
    pid_t pid[8];
    fflush(stdout);
    if (pipe(fd) != 0) return perror("pipe"), 1;
    for (int r = 0; r < world; r++) {
        if ((pid[r] = fork()) < 0) return perror("fork"), 1;
        if (pid[r] > 0) continue;
        char dev[8];
        snprintf(dev, sizeof dev, "%d", r);
        setenv("CUDA_VISIBLE_DEVICES", dev, 1);
        if (r == 0) {
            if (!wf_backend_available("cuda")) _exit(77);
            if (wf_comm_nccl_id(id) != WF_OK) _exit(1);
            for (int k = 1; k < world; k++)
                if (write(fd[1], id, sizeof id) != (ssize_t)sizeof id) _exit(1);
        } else if (read(fd[0], id, sizeof id) != (ssize_t)sizeof id) {
            _exit(1);
        }
        const int code = run_rank(id, r, world, kill_test);
        fflush(stdout);
        _exit(code);
    }
    close(fd[0]), close(fd[1]);
    int bad = 0;
    for (int k = 0; k < world; k++) {
        int st;
        const pid_t p = waitpid(-1, &st, 0); /* in exit order: a dead rank is reaped at once */
        int r = 0;
        while (r < world && pid[r] != p) r++;
        const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (code == 77) return fprintf(stderr, "skip: no GPU for rank %d\n", r), 77;
        if (code != (kill_test && r == 1 ? 3 : 0)) {
            fprintf(stderr, "FAIL rank %d exited with %d\n", r, code);
            bad = 1;
        }
    }
    return bad;
}
#endif
