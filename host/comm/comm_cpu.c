/* The in-process CPU communicator (comm.h): `world` ranks as threads of one process. A collective
 * is three phases: every rank posts its buffer and waits (timed) until all have posted; each rank
 * then works on its own slice, reading the others' buffers (sums add the ranks in rank order, so
 * the result does not depend on thread timing); then every rank waits (timed) until all are done,
 * so no buffer is reused while a peer still reads it. A rank that fails marks itself dead and the
 * peers stop at once; one that never arrives is named when the timeout runs out.
 * Not here: processes (NCCL, comm_nccl.c). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/comm.h"

typedef enum cop {
    COP_ALL_REDUCE, COP_REDUCE_SCATTER, COP_REDUCE_SCATTER_PART, COP_ALL_GATHER, COP_BROADCAST, COP_BARRIER
} cop;
static const char *const k_cop[] = {"all_reduce", "reduce_scatter", "reduce_scatter (a range)",
                                    "all_gather", "broadcast", "barrier"};

typedef struct slot {
    void *buf;
    int64_t count;     /* elements (bytes for broadcast) */
    cop op;
    int dt, root;      /* dt: wf_comm_dtype, or the element bytes of an all_gather */
    int64_t lo, n;     /* the range of a reduce_scatter_async */
    uint64_t posted;   /* collectives this rank has entered */
    uint64_t done;     /* collectives this rank has finished */
    bool dead;
    char why[512];
} slot;

struct wf_comm_group {
    int world;
    double timeout_s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int first_failed;
    slot *s;        /* (world) */
    wf_comm *comms; /* (world) */
};

static wf_comm_group *grp(wf_comm *c) { return c->impl; }

static void deadline_in(double secs, struct timespec *ts) {
    clock_gettime(CLOCK_REALTIME, ts);
    double whole = (double)(time_t)secs;
    ts->tv_sec += (time_t)secs;
    ts->tv_nsec += (long)((secs - whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* Marks `rank` dead (first reason kept); the caller holds the lock. */
static void mark_dead(wf_comm_group *g, int rank, const char *why) {
    slot *s = &g->s[rank];
    if (s->dead) return;
    s->dead = true;
    size_t n = strlen(why) < sizeof s->why - 1 ? strlen(why) : sizeof s->why - 1;
    memcpy(s->why, why, n);
    s->why[n] = 0;
    if (g->first_failed < 0) g->first_failed = rank;
    pthread_cond_broadcast(&g->cv);
}

/* Waits until every rank's counter (posted or done) reaches k; the caller holds the lock. */
static wf_status wait_all(wf_comm *c, bool done, uint64_t k, const char *what) {
    wf_comm_group *g = grp(c);
    struct timespec dl;
    deadline_in(c->timeout_s, &dl);
    for (;;) {
        int missing = -1;
        for (int r = 0; r < g->world; r++) {
            if (r != c->rank && g->s[r].dead) {
                char why[700];
                snprintf(why, sizeof why, "rank %d failed: %s", r, g->s[r].why);
                mark_dead(g, c->rank, why);
                return wf_error(WF_ERR_BACKEND, "%s (rank %d, in %s)", why, c->rank, what);
            }
            uint64_t v = done ? g->s[r].done : g->s[r].posted;
            if (v < k && missing < 0) missing = r;
        }
        if (missing < 0) return WF_OK;
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT) {
            char why[300];
            snprintf(why, sizeof why, "rank %d did not reach collective #%llu (%s) within %g s "
                     "(comm timeout; dist.timeout_s)", missing, (unsigned long long)k, what,
                     c->timeout_s);
            mark_dead(g, c->rank, why);
            return wf_error(WF_ERR_BACKEND, "%s", why);
        }
    }
}

/* buf[i] for i in [lo, hi) of every rank summed in rank order into every rank's buf (all) or
 * only into this rank's (reduce-scatter). */
#define SUM_SLICE(T)                                                                               \
    for (int64_t i = lo; i < hi; i++) {                                                            \
        T acc = ((T *)g->s[0].buf)[i];                                                             \
        for (int r = 1; r < g->world; r++) acc += ((T *)g->s[r].buf)[i];                           \
        if (to_all)                                                                                \
            for (int r = 0; r < g->world; r++) ((T *)g->s[r].buf)[i] = acc;                        \
        else                                                                                       \
            ((T *)g->s[me].buf)[i] = acc;                                                          \
    }

static void sum_slice(wf_comm_group *g, int me, int dt, int64_t lo, int64_t hi, bool to_all) {
    switch (dt) {
    case WF_COMM_F32: SUM_SLICE(float) break;
    case WF_COMM_F64: SUM_SLICE(double) break;
    case WF_COMM_I32: SUM_SLICE(int32_t) break;
    default: SUM_SLICE(int64_t) break;
    }
}

static void work(wf_comm *c) {
    wf_comm_group *g = grp(c);
    const slot *me = &g->s[c->rank];
    int64_t off, n;
    wf_comm_shard(me->count, g->world, c->rank, &off, &n);
    switch (me->op) {
    case COP_ALL_REDUCE: sum_slice(g, c->rank, me->dt, off, off + n, true); break;
    case COP_REDUCE_SCATTER: sum_slice(g, c->rank, WF_COMM_F32, off, off + n, false); break;
    case COP_REDUCE_SCATTER_PART: { /* the shard's part inside [lo, lo + n) */
        int64_t a = off > me->lo ? off : me->lo, b = off + n < me->lo + me->n ? off + n : me->lo + me->n;
        if (a < b) sum_slice(g, c->rank, WF_COMM_F32, a, b, false);
        break;
    }
    case COP_ALL_GATHER:
        for (int r = 0; r < g->world; r++) {
            int64_t o, k;
            wf_comm_shard(me->count, g->world, r, &o, &k);
            size_t e = (size_t)me->dt; /* element bytes */
            if (r != c->rank) memcpy((char *)me->buf + o * e, (const char *)g->s[r].buf + o * e, (size_t)k * e);
        }
        break;
    case COP_BROADCAST:
        if (c->rank != me->root) memcpy(me->buf, g->s[me->root].buf, (size_t)me->count);
        break;
    case COP_BARRIER: break;
    }
}

/* A mismatched collective (another op, count, dtype or root on some rank) is a bug in the caller;
 * it is reported rather than computed on. The caller holds the lock. */
static wf_status check_match(wf_comm *c) {
    wf_comm_group *g = grp(c);
    const slot *a = &g->s[c->rank];
    for (int r = 0; r < g->world; r++) {
        const slot *b = &g->s[r];
        if (b->op != a->op || b->count != a->count || b->dt != a->dt || b->root != a->root || b->lo != a->lo ||
            b->n != a->n) {
            char why[300];
            snprintf(why, sizeof why, "collective #%llu differs between ranks: rank %d called %s "
                     "(%lld), rank %d called %s (%lld)", (unsigned long long)a->posted, c->rank,
                     k_cop[a->op], (long long)a->count, r, k_cop[b->op], (long long)b->count);
            mark_dead(g, c->rank, why);
            return wf_error(WF_ERR_BACKEND, "%s", why);
        }
    }
    return WF_OK;
}

static wf_status collective_range(wf_comm *c, cop op, void *buf, int64_t count, int dt, int root, int64_t lo,
                                  int64_t n) {
    wf_comm_group *g = grp(c);
    slot *me = &g->s[c->rank];
    pthread_mutex_lock(&g->mu);
    if (me->dead) {
        wf_status s = wf_error(WF_ERR_BACKEND, "communicator of rank %d is dead: %s", c->rank, me->why);
        pthread_mutex_unlock(&g->mu);
        return s;
    }
    me->buf = buf, me->count = count, me->op = op, me->dt = dt, me->root = root, me->lo = lo, me->n = n;
    uint64_t k = ++me->posted;
    pthread_cond_broadcast(&g->cv);
    wf_status s = wait_all(c, false, k, k_cop[op]);
    if (s == WF_OK) s = check_match(c);
    pthread_mutex_unlock(&g->mu);
    if (s != WF_OK) return s;
    work(c);
    pthread_mutex_lock(&g->mu);
    me->done = k;
    pthread_cond_broadcast(&g->cv);
    s = wait_all(c, true, k, k_cop[op]);
    pthread_mutex_unlock(&g->mu);
    return s;
}

static wf_status collective(wf_comm *c, cop op, void *buf, int64_t count, int dt, int root) {
    return collective_range(c, op, buf, count, dt, root, 0, 0);
}

static wf_status cpu_all_reduce(wf_comm *c, void *buf, int64_t count, wf_comm_dtype dt) {
    return collective(c, COP_ALL_REDUCE, buf, count, (int)dt, 0);
}
/* Synchronous: it returns with the sum in place, so there is nothing to join. */
static wf_status cpu_all_reduce_async(wf_comm *c, float *buf, int64_t count) {
    return collective(c, COP_ALL_REDUCE, buf, count, WF_COMM_F32, 0);
}
static wf_status cpu_reduce_scatter(wf_comm *c, float *buf, int64_t count) {
    return collective(c, COP_REDUCE_SCATTER, buf, count, WF_COMM_F32, 0);
}
/* Synchronous, as cpu_all_reduce_async. */
static wf_status cpu_reduce_scatter_async(wf_comm *c, float *buf, int64_t count, int64_t lo, int64_t n) {
    if (lo < 0 || n < 0 || lo + n > count)
        return wf_error(WF_ERR_INVALID, "reduce_scatter_async: range [%lld, %lld) outside the %lld elements",
                        (long long)lo, (long long)(lo + n), (long long)count);
    return collective_range(c, COP_REDUCE_SCATTER_PART, buf, count, WF_COMM_F32, 0, lo, n);
}
static wf_status cpu_all_gather(wf_comm *c, void *buf, int64_t count, int elem_bytes) {
    if (elem_bytes != 2 && elem_bytes != 4 && elem_bytes != 8)
        return wf_error(WF_ERR_INVALID, "all_gather: %d-byte elements (expected 2, 4 or 8)", elem_bytes);
    return collective(c, COP_ALL_GATHER, buf, count, elem_bytes, 0);
}
static wf_status cpu_broadcast(wf_comm *c, void *buf, int64_t bytes, int root) {
    if (root < 0 || root >= c->world)
        return wf_error(WF_ERR_INVALID, "broadcast: root %d is not a rank of %d", root, c->world);
    return collective(c, COP_BROADCAST, buf, bytes, 0, root);
}
static wf_status cpu_barrier(wf_comm *c) { return collective(c, COP_BARRIER, NULL, 0, 0, 0); }

static void cpu_abort(wf_comm *c, const char *why) {
    wf_comm_group *g = grp(c);
    pthread_mutex_lock(&g->mu);
    mark_dead(g, c->rank, why);
    pthread_mutex_unlock(&g->mu);
}

static void cpu_destroy(wf_comm *c) { (void)c; /* the group owns it */ }

static const wf_comm_ops k_cpu_ops = {
    .all_reduce = cpu_all_reduce, .all_reduce_async = cpu_all_reduce_async,
    .reduce_scatter = cpu_reduce_scatter, .reduce_scatter_async = cpu_reduce_scatter_async,
    .all_gather = cpu_all_gather, .broadcast = cpu_broadcast,
    .barrier = cpu_barrier,
    .abort = cpu_abort, .destroy = cpu_destroy,
};

wf_status wf_comm_cpu_group_create(int world, double timeout_s, wf_comm_group **out) {
    *out = NULL;
    if (world < 1 || !(timeout_s > 0))
        return wf_error(WF_ERR_INVALID, "cpu communicator: world %d, timeout %g s: expected "
                        "world >= 1 and a positive timeout", world, timeout_s);
    wf_comm_group *g = calloc(1, sizeof *g);
    if (g) g->s = calloc((size_t)world, sizeof *g->s), g->comms = calloc((size_t)world, sizeof *g->comms);
    if (!g || !g->s || !g->comms) {
        if (g) free(g->s), free(g->comms);
        free(g);
        return wf_error(WF_ERR_OOM, "cpu communicator: out of memory");
    }
    g->world = world, g->timeout_s = timeout_s, g->first_failed = -1;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    for (int r = 0; r < world; r++)
        g->comms[r] = (wf_comm){.ops = &k_cpu_ops, .rank = r, .world = world, .timeout_s = timeout_s,
                                .impl = g};
    *out = g;
    return WF_OK;
}

wf_comm *wf_comm_cpu_get(wf_comm_group *g, int rank) {
    WF_ASSERT(rank >= 0 && rank < g->world);
    return &g->comms[rank];
}

int wf_comm_cpu_first_failure(wf_comm_group *g, char *why, size_t cap) {
    pthread_mutex_lock(&g->mu);
    int r = g->first_failed;
    if (r >= 0 && why) snprintf(why, cap, "%s", g->s[r].why);
    pthread_mutex_unlock(&g->mu);
    return r;
}

void wf_comm_cpu_group_destroy(wf_comm_group *g) {
    if (!g) return;
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g->s), free(g->comms), free(g);
}

static wf_status single_identity(wf_comm *c) { (void)c; return WF_OK; }
static void single_abort(wf_comm *c, const char *why) { (void)c, (void)why; }
static void single_destroy(wf_comm *c) { (void)c; }
static const wf_comm_ops k_single_ops = {.barrier = single_identity, .abort = single_abort,
                                         .destroy = single_destroy};

wf_comm *wf_comm_single(void) {
    static wf_comm one = {.ops = &k_single_ops, .rank = 0, .world = 1, .timeout_s = 0};
    return &one;
}
