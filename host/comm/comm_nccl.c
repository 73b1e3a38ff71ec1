/* The NCCL communicator (comm.h): one process per GPU, collectives enqueued on the backend's
 * stream (no host synchronisation inside a step). The communicator is non-blocking
 * (ncclConfig_t.blocking = 0), so no NCCL call can hang the host: initialisation and every
 * wf_comm_wait poll ncclCommGetAsyncError and the stream until done, an error, or the timeout,
 * and then ncclCommAbort. NCCL cannot tell which peer is missing: with a rank monitor
 * (monitor.h; c->monitor, set by the launch) every collective is counted and a failure's message
 * says which ranks had not entered it, left, or went silent; weft launch also names a rank whose
 * process died. Uneven shards (count not a multiple of the world) go
 * through grouped ncclReduce / ncclBroadcast, one root per shard. Gradient buckets
 * (all_reduce_async) run on a communication stream of their own: an event recorded on the compute
 * stream, cudaStreamWaitEvent on the communication stream, the all-reduce there; join records an
 * event on the communication stream that the compute stream waits for; ZeRO-1's buckets
 * (reduce_scatter_async) are grouped ncclReduce calls to the shards' owners on that stream. One event of each kind
 * is enough: cudaStreamWaitEvent waits for the record that precedes it in host order.
 * Reference: NCCL user guide, "Fault tolerance", "In-place operations", "CUDA stream semantics";
 * CUDA programming guide, "Events" / cudaStreamWaitEvent. */
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
#include "weft/monitor.h"

_Static_assert(sizeof(ncclUniqueId) == WF_NCCL_ID_BYTES, "ncclUniqueId is 128 bytes");

typedef struct nccl_impl {
    ncclComm_t comm;
    int device;
    bool dead;
    char why[1024];
    int32_t *one; /* device int for the barrier */
    cudaStream_t side;      /* the communication stream of all_reduce_async */
    cudaEvent_t ready;      /* on the compute stream: the work before an all_reduce_async */
    cudaEvent_t done;       /* on the communication stream: the all_reduce_asyncs before a join */
} nccl_impl;

static nccl_impl *im_of(wf_comm *c) { return c->impl; }

static void release_side(nccl_impl *im) {
    if (im->ready) cudaEventDestroy(im->ready);
    if (im->done) cudaEventDestroy(im->done);
    if (im->side) cudaStreamDestroy(im->side);
}

/* The communication stream (at the device's highest priority, so that NCCL's kernels are
 * scheduled ahead of the backward's when both wait for SMs) and its two events, without timing. */
static cudaError_t make_side(nccl_impl *im) {
    int lo = 0, hi = 0;
    cudaError_t e = cudaDeviceGetStreamPriorityRange(&lo, &hi);
    if (e == cudaSuccess) e = cudaStreamCreateWithPriority(&im->side, cudaStreamNonBlocking, hi);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&im->ready, cudaEventDisableTiming);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&im->done, cudaEventDisableTiming);
    return e;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static cudaStream_t stream_of(wf_comm *c) { return (cudaStream_t)wf_cuda_backend_stream(c->be); }

/* Kills the communicator: the message names the failed call and, with a rank monitor, the
 * ranks it was waiting on. */
static wf_status die(wf_comm *c, const char *what, const char *detail) {
    nccl_impl *im = im_of(c);
    char mon[768];
    wf_monitor_explain(c->monitor, mon, sizeof mon);
    const char *sep = mon[0] ? "; " : "";
    if (!im->dead) {
        im->dead = true;
        snprintf(im->why, sizeof im->why, "%s: %s%s%s", what, detail, sep, mon);
        ncclCommAbort(im->comm);
    }
    return wf_error(WF_ERR_BACKEND, "NCCL rank %d of %d (GPU %d): %s: %s%s%s", c->rank, c->world, im->device,
                    what, detail, sep, mon);
}

/* Polls until the communicator's pending work (and, with `stream`, the compute and communication
 * streams) is done. */
static wf_status poll_done(wf_comm *c, const char *what, bool stream) {
    nccl_impl *im = im_of(c);
    double deadline = now_s() + c->timeout_s;
    for (;;) {
        ncclResult_t a = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(im->comm, &a);
        if (r != ncclSuccess) return die(c, what, ncclGetErrorString(r));
        if (a != ncclSuccess && a != ncclInProgress) return die(c, what, ncclGetErrorString(a));
        bool idle = a == ncclSuccess;
        for (int k = 0; k < 2 && idle && stream; k++) { /* the compute stream, then the side one */
            cudaError_t e = cudaStreamQuery(k == 0 ? stream_of(c) : im->side);
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

/* A collective's entry: alive, and counted by the rank monitor. */
static wf_status entered(wf_comm *c, const char *what) {
    WF_TRY(alive(c, what));
    wf_monitor_enter(c->monitor);
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
    WF_TRY(entered(c, "all_reduce"));
    return enqueued(c, ncclAllReduce(buf, buf, (size_t)count, nccl_type(dt), ncclSum, im_of(c)->comm,
                                     stream_of(c)), "all_reduce");
}

/* A CUDA runtime call of the bucket path; an error kills the communicator (the streams are then
 * in an unknown state). */
static wf_status cuda_ok(wf_comm *c, cudaError_t e, const char *what) {
    return e == cudaSuccess ? WF_OK : die(c, what, cudaGetErrorString(e));
}

static wf_status n_all_reduce_async(wf_comm *c, float *buf, int64_t count) {
    WF_TRY(entered(c, "all_reduce_async"));
    nccl_impl *im = im_of(c);
    WF_TRY(cuda_ok(c, cudaEventRecord(im->ready, stream_of(c)), "all_reduce_async: cudaEventRecord"));
    WF_TRY(cuda_ok(c, cudaStreamWaitEvent(im->side, im->ready, 0), "all_reduce_async: cudaStreamWaitEvent"));
    return enqueued(c, ncclAllReduce(buf, buf, (size_t)count, ncclFloat32, ncclSum, im->comm, im->side),
                    "all_reduce_async");
}

/* ZeRO-1's buckets: one ncclReduce to each rank whose shard meets [lo, lo + n), grouped, on the
 * communication stream after the compute stream's work so far (as n_all_reduce_async). */
static wf_status n_reduce_scatter_async(wf_comm *c, float *buf, int64_t count, int64_t lo, int64_t n) {
    WF_TRY(entered(c, "reduce_scatter_async"));
    if (lo < 0 || n < 0 || lo + n > count)
        return wf_error(WF_ERR_INVALID, "reduce_scatter_async: range [%lld, %lld) outside the %lld elements",
                        (long long)lo, (long long)(lo + n), (long long)count);
    nccl_impl *im = im_of(c);
    WF_TRY(cuda_ok(c, cudaEventRecord(im->ready, stream_of(c)), "reduce_scatter_async: cudaEventRecord"));
    WF_TRY(cuda_ok(c, cudaStreamWaitEvent(im->side, im->ready, 0), "reduce_scatter_async: cudaStreamWaitEvent"));
    WF_TRY(enqueued(c, ncclGroupStart(), "reduce_scatter_async"));
    for (int r = 0; r < c->world; r++) {
        int64_t off, k;
        wf_comm_shard(count, c->world, r, &off, &k);
        int64_t a = off > lo ? off : lo, b = off + k < lo + n ? off + k : lo + n;
        if (a >= b) continue;
        ncclResult_t e = ncclReduce(buf + a, buf + a, (size_t)(b - a), ncclFloat32, ncclSum, r, im->comm, im->side);
        if (e != ncclSuccess && e != ncclInProgress) return die(c, "reduce_scatter_async", ncclGetErrorString(e));
    }
    return enqueued(c, ncclGroupEnd(), "reduce_scatter_async");
}

static wf_status n_join(wf_comm *c) {
    WF_TRY(alive(c, "join"));
    nccl_impl *im = im_of(c);
    WF_TRY(cuda_ok(c, cudaEventRecord(im->done, im->side), "join: cudaEventRecord"));
    return cuda_ok(c, cudaStreamWaitEvent(stream_of(c), im->done, 0), "join: cudaStreamWaitEvent");
}

static wf_status n_reduce_scatter(wf_comm *c, float *buf, int64_t count) {
    WF_TRY(entered(c, "reduce_scatter"));
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
    WF_TRY(entered(c, "all_gather"));
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
    WF_TRY(entered(c, "broadcast"));
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
    WF_TRY(entered(c, "barrier"));
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
    release_side(im);
    cudaFree(im->one);
    free(im);
    free(c);
}

static const wf_comm_ops k_nccl_ops = {
    .all_reduce = n_all_reduce, .all_reduce_async = n_all_reduce_async, .join = n_join,
    .reduce_scatter = n_reduce_scatter, .reduce_scatter_async = n_reduce_scatter_async,
    .all_gather = n_all_gather,
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
    if ((ce = cudaMemset(im->one, 0, sizeof(int32_t))) != cudaSuccess ||
        (ce = make_side(im)) != cudaSuccess) {
        release_side(im), cudaFree(im->one), free(im), free(c);
        return wf_error(WF_ERR_BACKEND, "NCCL rank %d: the device flag, the communication stream or "
                        "its events: %s", rank, cudaGetErrorString(ce));
    }
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
        release_side(im), cudaFree(im->one), free(im), free(c);
        return s;
    }
    s = poll_done(c, "init (ncclCommInitRankConfig)", false);
    if (s != WF_OK) {
        release_side(im), cudaFree(im->one), free(im), free(c);
        return s;
    }
    *out = c;
    return WF_OK;
}
