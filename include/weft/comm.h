/* Communicators for data-parallel training (DESIGN.md "Parallelism"): a rank's view of the group
 * and the collectives the trainer needs — sum all-reduce, reduce-scatter and all-gather over
 * contiguous shards, broadcast, barrier — each bounded by a timeout, after which it fails with a
 * message naming the rank that did not answer. Buffers live in the backend's memory (host memory
 * for "cpu", device memory for NCCL). Two implementations: an in-process CPU communicator (one
 * thread per rank, fixed reduction order, so results are deterministic) and NCCL (one process per
 * GPU; host/comm/comm_nccl.c). Not here: the launcher (launch.h) and the trainer hooks. */
#ifndef WEFT_COMM_H
#define WEFT_COMM_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/backend.h"

typedef enum wf_comm_dtype { WF_COMM_F32, WF_COMM_F64, WF_COMM_I32, WF_COMM_I64 } wf_comm_dtype;

typedef struct wf_comm wf_comm;

/* The collectives. Every rank calls the same collectives in the same order with the same count;
 * `buf` (count elements of dtype) is in place. A failure (a peer that failed, or did not arrive
 * within the timeout) leaves a message naming that peer's rank; the communicator is then dead and
 * every later call fails at once. */
typedef struct wf_comm_ops {
    /* buf (count) = the sum over ranks, added in rank order 0, 1, ... where the implementation
     * allows (cpu: always, so every rank gets bit-identical sums) */
    wf_status (*all_reduce)(wf_comm *c, void *buf, int64_t count, wf_comm_dtype dt);
    /* The same sum of fp32 `buf` (count), overlapped with the backend's work (the gradient
     * buckets, trainer_dist.c): it starts once the work enqueued so far on the backend is done
     * and runs beside what is enqueued after it, so the caller must not touch buf until `join`.
     * cpu: the plain all_reduce (it returns complete). NCCL: an event on the compute stream, the
     * communication stream waits for it, then the all-reduce on that stream; no host wait. */
    wf_status (*all_reduce_async)(wf_comm *c, float *buf, int64_t count);
    /* Work enqueued on the backend from now on runs after every all_reduce_async issued so far
     * (NCCL: the compute stream waits for an event recorded on the communication stream); NULL
     * when those return complete (cpu). Call before any other collective or any use of the
     * buffers. */
    wf_status (*join)(wf_comm *c);
    /* buf (count): on return, this rank's shard (wf_comm_shard) holds the sum over ranks of that
     * shard; the rest of buf is unspecified */
    wf_status (*reduce_scatter)(wf_comm *c, float *buf, int64_t count);
    /* Elements [lo, lo + n) of reduce_scatter(buf, count), overlapped with the backend's work as
     * all_reduce_async (ZeRO-1's gradient buckets): each rank's part of its shard inside the range
     * gets the sum over ranks, added in the same order as reduce_scatter's, so reduce-scattering
     * every range of a partition of [0, count) gives reduce_scatter's result bit for bit. Same
     * contract on buf as all_reduce_async (untouched until `join`). NULL: not offered. */
    wf_status (*reduce_scatter_async)(wf_comm *c, float *buf, int64_t count, int64_t lo, int64_t n);
    /* buf (count elements of elem_bytes each): every rank's shard is copied from its owner into
     * all the others */
    wf_status (*all_gather)(wf_comm *c, void *buf, int64_t count, int elem_bytes);
    /* buf (bytes) = root's buf */
    wf_status (*broadcast)(wf_comm *c, void *buf, int64_t bytes, int root);
    wf_status (*barrier)(wf_comm *c);
    /* Waits (bounded by the timeout) until the collectives enqueued so far are complete; nothing
     * for the CPU communicator, whose collectives return complete. NCCL: polls the stream and
     * ncclCommGetAsyncError, aborting the communicator on an error or timeout. */
    wf_status (*wait)(wf_comm *c);
    /* Marks this rank failed with `why` so that the peers stop at their next collective with
     * "rank R failed: why" instead of waiting for the timeout. */
    void (*abort)(wf_comm *c, const char *why);
    void (*destroy)(wf_comm *c);
} wf_comm_ops;

struct wf_comm {
    const wf_comm_ops *ops;
    int rank, world;
    double timeout_s; /* per collective (and per wait) */
    wf_backend *be;   /* NCCL: the backend whose stream the collectives join (set by the run once
                         it opened it); unused by the CPU communicator */
    struct wf_monitor *monitor; /* NCCL: the rank monitor (monitor.h) when the launch has one: each
                                   collective is counted, and a failure's message says which rank
                                   it waited on; NULL otherwise */
    void *impl;
};

/* The contiguous shard [*off, *off + *n) of count elements that `rank` of `world` owns:
 * rank r gets [r*count/world, (r+1)*count/world). */
static inline void wf_comm_shard(int64_t count, int world, int rank, int64_t *off, int64_t *n) {
    int64_t lo = count * rank / world, hi = count * (rank + 1) / world;
    *off = lo, *n = hi - lo;
}

/* ---- The in-process CPU communicator (host/comm/comm_cpu.c) ----
 * A group of `world` ranks that live in one process as threads. Creating the group gives
 * `world` communicators; thread r uses comms[r]. The sums are computed by every rank on its own
 * slice of the elements, adding the ranks' values in rank order. */
typedef struct wf_comm_group wf_comm_group;
wf_status wf_comm_cpu_group_create(int world, double timeout_s, wf_comm_group **out);
wf_comm *wf_comm_cpu_get(wf_comm_group *g, int rank);
/* The first rank that failed (aborted) and why, or -1 when none has. */
int wf_comm_cpu_first_failure(wf_comm_group *g, char *why, size_t cap);
/* Frees the group and its communicators; every rank's thread must have finished with them. */
void wf_comm_cpu_group_destroy(wf_comm_group *g);

/* A one-rank communicator (world 1): every collective is the identity. */
wf_comm *wf_comm_single(void);

/* ---- Convenience wrappers ---- */
static inline wf_status wf_comm_all_reduce(wf_comm *c, void *buf, int64_t count, wf_comm_dtype dt) {
    return c->world == 1 ? WF_OK : c->ops->all_reduce(c, buf, count, dt);
}
static inline wf_status wf_comm_reduce_scatter(wf_comm *c, float *buf, int64_t count) {
    return c->world == 1 ? WF_OK : c->ops->reduce_scatter(c, buf, count);
}
static inline wf_status wf_comm_all_gather(wf_comm *c, void *buf, int64_t count, int elem_bytes) {
    return c->world == 1 ? WF_OK : c->ops->all_gather(c, buf, count, elem_bytes);
}
static inline wf_status wf_comm_broadcast(wf_comm *c, void *buf, int64_t bytes, int root) {
    return c->world == 1 ? WF_OK : c->ops->broadcast(c, buf, bytes, root);
}
static inline wf_status wf_comm_barrier(wf_comm *c) {
    return c->world == 1 ? WF_OK : c->ops->barrier(c);
}
static inline wf_status wf_comm_all_reduce_async(wf_comm *c, float *buf, int64_t count) {
    return c->world == 1 ? WF_OK : c->ops->all_reduce_async(c, buf, count);
}
static inline wf_status wf_comm_reduce_scatter_async(wf_comm *c, float *buf, int64_t count, int64_t lo,
                                                     int64_t n) {
    return c->world == 1 ? WF_OK : c->ops->reduce_scatter_async(c, buf, count, lo, n);
}
static inline wf_status wf_comm_join(wf_comm *c) {
    return c->world == 1 || !c->ops->join ? WF_OK : c->ops->join(c);
}
static inline wf_status wf_comm_wait(wf_comm *c) {
    return c->world == 1 || !c->ops->wait ? WF_OK : c->ops->wait(c);
}
static inline void wf_comm_abort(wf_comm *c, const char *why) {
    if (c && c->world > 1) c->ops->abort(c, why);
}

/* ---- NCCL (host/comm/comm_nccl.c; only with WF_HAVE_NCCL) ----
 * One process per GPU. `id` is the 128-byte ncclUniqueId: rank 0 makes it (wf_comm_nccl_id) and
 * hands it to the others (wf_launch_exchange_id). Collectives run on the stream of c->be, except
 * all_reduce_async, which runs on the communicator's own (higher-priority) stream, ordered
 * against the compute stream by events. */
#define WF_NCCL_ID_BYTES 128
bool wf_comm_nccl_available(void);
wf_status wf_comm_nccl_id(unsigned char id[WF_NCCL_ID_BYTES]);
wf_status wf_comm_nccl_create(int device, const unsigned char id[WF_NCCL_ID_BYTES], int rank,
                              int world, double timeout_s, wf_comm **out);

#endif
