/* The CPU communicator (host/comm/comm_cpu.c): every collective on 1-4 ranks against sums computed
 * here in rank order (bit-equal: the communicator adds in that order too), and the faults: a rank
 * that fails makes the others stop at once naming it, a rank that never arrives makes them stop
 * within the timeout naming it. */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "expect.h"
#include "weft/comm.h"

#define N 1001 /* not a multiple of the world: uneven shards */

typedef struct job {
    wf_comm *c;
    int mode; /* 0: collectives; 1: rank 1 aborts; 2: rank 1 arrives late */
    wf_status s;
    char msg[1024];
    double secs;
} job;

static float val(int rank, int64_t i) { return sinf((float)(rank * N + i)) * 1e3f + 1e-3f * (float)i; }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void check_collectives(job *j) {
    wf_comm *c = j->c;
    int W = c->world;
    float a[N], expect[N];
    for (int64_t i = 0; i < N; i++) {
        a[i] = val(c->rank, i);
        float s = val(0, i);
        for (int r = 1; r < W; r++) s += val(r, i); /* rank order, as the communicator */
        expect[i] = s;
    }
    EXPECT(wf_comm_all_reduce(c, a, N, WF_COMM_F32) == WF_OK);
    for (int64_t i = 0; i < N; i++) CHECK(a[i] == expect[i], "all_reduce rank %d [%lld] %g != %g", c->rank, (long long)i, a[i], expect[i]);
    /* the bucket form (cpu: the same rank-order sum, complete on return), in two pieces */
    for (int64_t i = 0; i < N; i++) a[i] = val(c->rank, i);
    EXPECT(wf_comm_all_reduce_async(c, a + 400, N - 400) == WF_OK);
    EXPECT(wf_comm_all_reduce_async(c, a, 400) == WF_OK && wf_comm_join(c) == WF_OK);
    for (int64_t i = 0; i < N; i++) CHECK(a[i] == expect[i], "all_reduce_async rank %d [%lld] %g != %g", c->rank, (long long)i, a[i], expect[i]);
    int64_t t[3] = {c->rank + 1, (int64_t)1 << 40, -c->rank};
    EXPECT(wf_comm_all_reduce(c, t, 3, WF_COMM_I64) == WF_OK);
    EXPECT(t[0] == (int64_t)W * (W + 1) / 2 && t[1] == (int64_t)W << 40 && t[2] == -(int64_t)W * (W - 1) / 2);
    double d = 0.5 * c->rank;
    EXPECT(wf_comm_all_reduce(c, &d, 1, WF_COMM_F64) == WF_OK && d == 0.25 * W * (W - 1));
    for (int64_t i = 0; i < N; i++) a[i] = val(c->rank, i);
    EXPECT(wf_comm_reduce_scatter(c, a, N) == WF_OK);
    int64_t off, n;
    wf_comm_shard(N, W, c->rank, &off, &n);
    for (int64_t i = off; i < off + n; i++) CHECK(a[i] == expect[i], "reduce_scatter rank %d [%lld]", c->rank, (long long)i);
    /* ZeRO-1's bucket form: ranges that cross shard boundaries, lie inside one, or are empty,
     * launched out of order (as the backward does, from the end); together they partition [0, N) */
    for (int64_t i = 0; i < N; i++) a[i] = val(c->rank, i);
    static const int64_t cut[][2] = {{700, N - 700}, {250, 450}, {249, 1}, {249, 0}, {0, 249}};
    for (int k = 0; k < 5; k++) EXPECT(wf_comm_reduce_scatter_async(c, a, N, cut[k][0], cut[k][1]) == WF_OK);
    EXPECT(wf_comm_join(c) == WF_OK);
    for (int64_t i = off; i < off + n; i++)
        CHECK(a[i] == expect[i], "reduce_scatter_async rank %d [%lld]", c->rank, (long long)i);
    if (W > 1)
        CHECK(wf_comm_reduce_scatter_async(c, a, N, 900, 200) != WF_OK, "a range past the end was accepted");
    for (int64_t i = 0; i < N; i++)
        if (i < off || i >= off + n) a[i] = -1;
    EXPECT(wf_comm_all_gather(c, a, N, 4) == WF_OK);
    for (int64_t i = 0; i < N; i++) CHECK(a[i] == expect[i], "all_gather rank %d [%lld]", c->rank, (long long)i);
    char b[32];
    snprintf(b, sizeof b, "from %d", c->rank);
    EXPECT(wf_comm_broadcast(c, b, sizeof b, W - 1) == WF_OK);
    char want[32];
    snprintf(want, sizeof want, "from %d", W - 1);
    EXPECT(strcmp(b, want) == 0);
    EXPECT(wf_comm_barrier(c) == WF_OK);
}

static void *rank_main(void *arg) {
    job *j = arg;
    double t0 = now();
    if (j->mode == 0) {
        check_collectives(j);
    } else if (j->mode == 1 && j->c->rank == 1) {
        wf_comm_abort(j->c, "out of memory at step 3");
    } else if (j->mode == 2 && j->c->rank == 1) {
        struct timespec ts = {1, 500000000L}; /* well past the 0.3 s timeout */
        nanosleep(&ts, NULL);
        j->s = wf_comm_barrier(j->c);
    } else {
        float x = 1;
        j->s = wf_comm_all_reduce(j->c, &x, 1, WF_COMM_F32);
        if (j->s == WF_OK) j->s = wf_comm_barrier(j->c);
    }
    j->secs = now() - t0;
    snprintf(j->msg, sizeof j->msg, "%s", wf_last_error());
    return NULL;
}

static void run(int W, int mode, double timeout, job *jobs) {
    wf_comm_group *g;
    EXPECT(wf_comm_cpu_group_create(W, timeout, &g) == WF_OK);
    pthread_t th[4];
    for (int r = 0; r < W; r++) {
        jobs[r] = (job){.c = wf_comm_cpu_get(g, r), .mode = mode};
        pthread_create(&th[r], NULL, rank_main, &jobs[r]);
    }
    for (int r = 0; r < W; r++) pthread_join(th[r], NULL);
    char why[600];
    int first = wf_comm_cpu_first_failure(g, why, sizeof why);
    if (mode == 0) CHECK(first < 0, "no rank should fail: rank %d: %s", first, why);
    if (mode == 1) CHECK(first == 1 && strstr(why, "out of memory"), "first failure %d: %s", first, why);
    wf_comm_cpu_group_destroy(g);
}

int main(void) {
    job jobs[4];
    for (int W = 1; W <= 4; W++) {
        run(W, 0, 10.0, jobs);
        for (int r = 0; r < W; r++) CHECK(jobs[r].s == WF_OK, "W %d rank %d: %s", W, r, jobs[r].msg);
    }
    /* a rank that fails: the others stop at once (well before the 30 s timeout), naming it */
    run(3, 1, 30.0, jobs);
    for (int r = 0; r < 3; r += 2) {
        CHECK(jobs[r].s != WF_OK && strstr(jobs[r].msg, "rank 1 failed: out of memory"),
              "rank %d after rank 1 aborted: status %d, '%s'", r, jobs[r].s, jobs[r].msg);
        CHECK(jobs[r].secs < 5.0, "rank %d took %.2f s to notice", r, jobs[r].secs);
    }
    /* a rank that does not answer: the others stop after the timeout, naming it */
    run(3, 2, 0.3, jobs);
    for (int r = 0; r < 3; r += 2) {
        CHECK(jobs[r].s != WF_OK && strstr(jobs[r].msg, "rank 1 did not reach collective #1"),
              "rank %d with rank 1 hung: status %d, '%s'", r, jobs[r].s, jobs[r].msg);
        /* >= 0.25: the wait runs on CLOCK_REALTIME, the measurement on CLOCK_MONOTONIC */
        CHECK(jobs[r].secs >= 0.25 && jobs[r].secs < 1.4, "rank %d stopped after %.2f s (timeout 0.3 s)", r, jobs[r].secs);
    }
    CHECK(jobs[1].s != WF_OK, "the late rank's barrier must fail too: '%s'", jobs[1].msg);
    /* bad arguments are statuses */
    wf_comm_group *g;
    EXPECT(wf_comm_cpu_group_create(0, 1.0, &g) == WF_ERR_INVALID);
    EXPECT(wf_comm_cpu_group_create(2, 0.0, &g) == WF_ERR_INVALID);
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
