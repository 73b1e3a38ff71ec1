/* The NCCL communicator (comm.h): one process per GPU, collectives enqueued on the backend's
 * stream (no host synchronisation inside a step). The communicator is non-blocking
 * (ncclConfig_t.blocking = 0), so no NCCL call can hang the host: initialisation and every
 * wf_comm_wait poll ncclCommGetAsyncError and the stream until done, an error, or the timeout,
 * and then ncclCommAbort. NCCL cannot tell which peer is missing; the launcher (weft launch)
 * names the rank whose process died. Uneven shards (count not a multiple of the world) go
 * through grouped ncclReduce / ncclBroadcast, one root per shard.
 * Reference: NCCL user guide, "Fault tolerance" and "In-place operations". */
#include <cuda_runtime.h>
/* nccl.h declares `ncclGroupStart();` (no prototype): C11 with -Wstrict-prototypes rejects it */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/comm.h"

_Static_assert(sizeof(ncclUniqueId) == WF_NCCL_ID_BYTES, "ncclUniqueId is 128 bytes");

typedef struct nccl_impl {
    ncclComm_t comm;
    int device;
    bool dead;
    char why[512];
    int32_t *one; /* device int for the barrier */
} nccl_impl;

static nccl_impl *im_of(wf_comm *c) { return c->impl; }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static cudaStream_t stream_of(wf_comm *c) { return (cudaStream_t)wf_cuda_backend_stream(c->be); }

static wf_status die(wf_comm *c, const char *what, const char *detail) {
    nccl_impl *im = im_of(c);
    if (!im->dead) {
        im->dead = true;
        snprintf(im->why, sizeof im->why, "%s: %s", what, detail);
        ncclCommAbort(im->comm);
    }
    return wf_error(WF_ERR_BACKEND, "NCCL rank %d of %d (GPU %d): %s: %s", c->rank, c->world, im->device,
                    what, detail);
}

/* Polls until the communicator's pending work (and, with `stream`, the stream) is done. */
static wf_status poll_done(wf_comm *c, const char *what, bool stream) {
    nccl_impl *im = im_of(c);
    double deadline = now_s() + c->timeout_s;
    for (;;) {
        ncclResult_t a = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(im->comm, &a);
        if (r != ncclSuccess) return die(c, what, ncclGetErrorString(r));
        if (a != ncclSuccess && a != ncclInProgress) return die(c, what, ncclGetErrorString(a));
        bool idle = a == ncclSuccess;
        if (idle && stream) {
            cudaError_t e = cudaStreamQuery(stream_of(c));
            if (e != cudaSuccess && e != cudaErrorNotReady) return die(c, what, cudaGetErrorString(e));
            idle = e == cudaSuccess;
        }
        if (idle) return WF_OK;
        if (now_s() > deadline) {
            char d[200];
            snprintf(d, sizeof d, "not complete after %g s (dist.timeout_s): a rank is missing or hung; "
                     "aborting the communicator", c->timeout_s);
            return die(c, what, d);
        }
        struct timespec ts = {0, 200000L};
        nanosleep(&ts, NULL);
    }
}

/* Checks an enqueue: ncclInProgress (non-blocking communicator) waits for the enqueue only. */
static wf_status enqueued(wf_comm *c, ncclResult_t r, const char *what) {
    if (r == ncclSuccess) return WF_OK;
    if (r == ncclInProgress) return poll_done(c, what, false);
    return die(c, what, ncclGetErrorString(r));
}

static wf_status alive(wf_comm *c, const char *what) {
    nccl_impl *im = im_of(c);
    if (im->dead) return wf_error(WF_ERR_BACKEND, "NCCL rank %d: %s after the communicator failed (%s)",
                                  c->rank, what, im->why);
    if (!c->be) return wf_error(WF_ERR_INVALID, "NCCL rank %d: %s before a backend was bound", c->rank, what);
    return WF_OK;
}

static ncclDataType_t nccl_type(wf_comm_dtype dt) {
    switch (dt) {
    case WF_COMM_F32: return ncclFloat32;
    case WF_COMM_F64: return ncclFloat64;
    case WF_COMM_I32: return ncclInt32;
    default: return ncclInt64;
    }
}

static wf_status n_all_reduce(wf_comm *c, void *buf, int64_t count, wf_comm_dtype dt) {
    WF_TRY(alive(c, "all_reduce"));
    return enqueued(c, ncclAllReduce(buf, buf, (size_t)count, nccl_type(dt), ncclSum, im_of(c)->comm,
                                     stream_of(c)), "all_reduce");
}

static wf_status n_reduce_scatter(wf_comm *c, float *buf, int64_t count) {
    WF_TRY(alive(c, "reduce_scatter"));
    ncclComm_t nc = im_of(c)->comm;
    if (count % c->world == 0) { /* in place: recvbuff = sendbuff + rank * recvcount */
        int64_t n = count / c->world;
        return enqueued(c, ncclReduceScatter(buf, buf + c->rank * n, (size_t)n, ncclFloat32, ncclSum, nc,
                                             stream_of(c)), "reduce_scatter");
    }
    WF_TRY(enqueued(c, ncclGroupStart(), "reduce_scatter"));
    for (int r = 0; r < c->world; r++) {
        int64_t off, n;
        wf_comm_shard(count, c->world, r, &off, &n);
        ncclResult_t e = ncclReduce(buf + off, buf + off, (size_t)n, ncclFloat32, ncclSum, r, nc, stream_of(c));
        if (e != ncclSuccess && e != ncclInProgress) return die(c, "reduce_scatter", ncclGetErrorString(e));
    }
    return enqueued(c, ncclGroupEnd(), "reduce_scatter");
}

static wf_status n_all_gather(wf_comm *c, void *buf, int64_t count, int elem_bytes) {
    WF_TRY(alive(c, "all_gather"));
    ncclComm_t nc = im_of(c)->comm;
    char *b = buf;
    size_t e = (size_t)elem_bytes;
    if (count % c->world == 0) { /* in place: sendbuff = recvbuff + rank * sendcount */
        size_t n = (size_t)(count / c->world) * e;
        return enqueued(c, ncclAllGather(b + (size_t)c->rank * n, b, n, ncclInt8, nc, stream_of(c)),
                        "all_gather");
    }
    WF_TRY(enqueued(c, ncclGroupStart(), "all_gather"));
    for (int r = 0; r < c->world; r++) {
        int64_t off, n;
        wf_comm_shard(count, c->world, r, &off, &n);
        ncclResult_t x = ncclBroadcast(b + (size_t)off * e, b + (size_t)off * e, (size_t)n * e, ncclInt8, r, nc,
                                       stream_of(c));
        if (x != ncclSuccess && x != ncclInProgress) return die(c, "all_gather", ncclGetErrorString(x));
    }
    return enqueued(c, ncclGroupEnd(), "all_gather");
}

static wf_status n_broadcast(wf_comm *c, void *buf, int64_t bytes, int root) {
    WF_TRY(alive(c, "broadcast"));
    if (root < 0 || root >= c->world)
        return wf_error(WF_ERR_INVALID, "broadcast: root %d is not a rank of %d", root, c->world);
    return enqueued(c, ncclBroadcast(buf, buf, (size_t)bytes, ncclInt8, root, im_of(c)->comm, stream_of(c)),
                    "broadcast");
}

static wf_status n_wait(wf_comm *c) {
    WF_TRY(alive(c, "wait"));
    return poll_done(c, "wait", true);
}

static wf_status n_barrier(wf_comm *c) {
    WF_TRY(alive(c, "barrier"));
    WF_TRY(enqueued(c, ncclAllReduce(im_of(c)->one, im_of(c)->one, 1, ncclInt32, ncclSum, im_of(c)->comm,
                                     stream_of(c)), "barrier"));
    return n_wait(c);
}

static void n_abort(wf_comm *c, const char *why) {
    nccl_impl *im = im_of(c);
    if (im->dead) return;
    im->dead = true;
    snprintf(im->why, sizeof im->why, "%s", why);
    ncclCommAbort(im->comm);
}

static void n_destroy(wf_comm *c) {
    nccl_impl *im = im_of(c);
    if (!im->dead) ncclCommDestroy(im->comm);
    cudaFree(im->one);
    free(im);
    free(c);
}

static const wf_comm_ops k_nccl_ops = {
    .all_reduce = n_all_reduce, .reduce_scatter = n_reduce_scatter, .all_gather = n_all_gather,
    .broadcast = n_broadcast, .barrier = n_barrier, .wait = n_wait, .abort = n_abort,
    .destroy = n_destroy,
};

bool wf_comm_nccl_available(void) {
    int v = 0;
    return ncclGetVersion(&v) == ncclSuccess && v > 0;
}

wf_status wf_comm_nccl_id(unsigned char id[WF_NCCL_ID_BYTES]) {
    ncclUniqueId u;
    ncclResult_t r = ncclGetUniqueId(&u);
    if (r != ncclSuccess) return wf_error(WF_ERR_BACKEND, "ncclGetUniqueId: %s", ncclGetErrorString(r));
    memcpy(id, &u, WF_NCCL_ID_BYTES);
    return WF_OK;
}

wf_status wf_comm_nccl_create(int device, const unsigned char id[WF_NCCL_ID_BYTES], int rank, int world,
                              double timeout_s, wf_comm **out) {
    *out = NULL;
    cudaError_t ce = cudaSetDevice(device);
    if (ce != cudaSuccess)
        return wf_error(WF_ERR_BACKEND, "NCCL rank %d: cudaSetDevice(%d): %s", rank, device, cudaGetErrorString(ce));
    wf_comm *c = calloc(1, sizeof *c);
    nccl_impl *im = calloc(1, sizeof *im);
    if (!c || !im || cudaMalloc((void **)&im->one, sizeof(int32_t)) != cudaSuccess) {
        free(c), free(im);
        return wf_error(WF_ERR_OOM, "NCCL rank %d: out of memory", rank);
    }
    cudaMemset(im->one, 0, sizeof(int32_t));
    *c = (wf_comm){.ops = &k_nccl_ops, .rank = rank, .world = world, .timeout_s = timeout_s, .impl = im};
    im->device = device;
    ncclUniqueId u;
    memcpy(&u, id, WF_NCCL_ID_BYTES);
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&im->comm, world, u, rank, &cfg);
    wf_status s = WF_OK;
    if (r != ncclSuccess && r != ncclInProgress) {
        s = wf_error(WF_ERR_BACKEND, "NCCL rank %d of %d: ncclCommInitRankConfig: %s", rank, world,
                     ncclGetErrorString(r));
        cudaFree(im->one), free(im), free(c);
        return s;
    }
    s = poll_done(c, "init (ncclCommInitRankConfig)", false);
    if (s != WF_OK) {
        cudaFree(im->one), free(im), free(c);
        return s;
    }
    *out = c;
    return WF_OK;
}
