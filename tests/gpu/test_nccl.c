/* The NCCL communicator on one GPU (world 1; NCCL does not put two ranks on one device): the
 * communicator initialises (non-blocking, polled), every collective is enqueued on the CUDA
 * backend's stream and leaves the data as a one-rank sum should (the identity), including the
 * in-place reduce-scatter / all-gather offsets and 2-byte all-gathers; wait and barrier complete;
 * a collective after abort fails with a message instead of hanging.
 * Exit 77 (skip) without NCCL in the build or without a GPU. */
#include <stdio.h>
#include <string.h>

#include "weft/comm.h"

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
    c->ops->abort(c, "test abort");
    wf_status s = c->ops->all_reduce(c, d, N, WF_COMM_F32);
    CHECK(s != WF_OK && strstr(wf_last_error(), "test abort"), "after abort: %d '%s'", s, wf_last_error());
    c->ops->destroy(c);
    be->free(be, d);
    wf_backend_close(be);
    printf("nccl world-1: init, all_reduce, reduce_scatter, all_gather, broadcast, barrier, wait, abort: %s\n",
           fails ? "FAIL" : "ok");
    return fails ? 1 : 0;
}
#endif
