/* NCCL for the CUDA emulator: nccl.h's API as host/comm/comm_nccl.c uses it, so the NCCL
 * communicator runs without a GPU (suite emu: test_nccl at world 1 and over forked ranks).
 * Ranks are processes, as with NCCL (weft launch --gpus, one emulated device each), joined
 * through a POSIX shared-memory segment named by the unique id. The emulator finishes all stream
 * work when it is enqueued, so a collective runs inside its call, in the order the ranks call
 * them (NCCL requires the same order on every rank; grouped calls are issued in the same order
 * too, so a group needs no deferral): each rank copies its part into its slot of the segment,
 * waits at a barrier, reads what it needs, waits again; sums go in rank order, so results are
 * deterministic. Checked on every call: buffers lie inside one cudaMalloc block (an offset past
 * a shard fails here, where NCCL would read or write out of bounds), counts, roots, dtypes.
 * A barrier gives up when a peer process is gone, when any rank aborted, or after
 * WF_EMU_NCCL_TIMEOUT seconds (default 60): the call returns an error and every later call on
 * every rank fails, as an aborted NCCL communicator does. Reference: NCCL user guide,
 * "Collective operations" (in-place layouts of reduce-scatter and all-gather), "Group calls". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include <nccl.h>

#include "emu_guard.h"
#include "emu_internal.h"

namespace {

constexpr int MAX_RANKS = 64;
constexpr size_t SLOT = (size_t)1 << 20; /* bytes a rank stages per round */
constexpr uint32_t READY = 0x4e43434cu;  /* "NCCL": the creator finished the header */

struct shm_hdr {
    std::atomic<uint32_t> ready;
    pthread_mutex_t mu; /* process-shared, robust: a rank that dies holding it is noticed */
    pthread_cond_t cv;
    int world, joined, arrived;
    uint64_t gen;    /* barrier generation */
    int failed;      /* 0, or 1 + the rank that failed or was found gone */
    char why[160];
    pid_t pid[MAX_RANKS];
};

constexpr size_t HDR = (sizeof(shm_hdr) + 4095) / 4096 * 4096;
constexpr size_t SEG = HDR + (size_t)MAX_RANKS * SLOT; /* sparse: slots past world stay untouched */

double now_s() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double timeout_s() {
    const char *s = getenv("WF_EMU_NCCL_TIMEOUT");
    double v = s ? atof(s) : 0.0;
    return v > 0 ? v : 60.0;
}

} /* namespace */

struct ncclComm {
    shm_hdr *h;
    char *slots;
    int rank, world;
    ncclResult_t err; /* ncclCommGetAsyncError's answer */
    char name[NCCL_UNIQUE_ID_BYTES];
};

namespace {

char *slot(ncclComm *c, int r) { return c->slots + (size_t)r * SLOT; }

/* Locks the header; a previous owner that died leaves the segment failed. */
void lock(ncclComm *c) {
    if (pthread_mutex_lock(&c->h->mu) == EOWNERDEAD) {
        pthread_mutex_consistent(&c->h->mu);
        if (!c->h->failed) {
            c->h->failed = 1 + c->rank;
            snprintf(c->h->why, sizeof c->h->why, "a rank died inside a collective");
        }
    }
}

void unlock(ncclComm *c) { pthread_mutex_unlock(&c->h->mu); }

/* With the header locked: marks the communicator failed (the first reason stays). */
void fail_locked(ncclComm *c, int rank, const char *why) {
    if (!c->h->failed) {
        c->h->failed = 1 + rank;
        snprintf(c->h->why, sizeof c->h->why, "%s", why);
    }
    pthread_cond_broadcast(&c->h->cv);
}

/* With the header locked: a rank whose process is gone (kill(pid, 0) fails with ESRCH). */
int gone_rank(ncclComm *c) {
    for (int r = 0; r < c->world; r++)
        if (r != c->rank && c->h->pid[r] > 0 && kill(c->h->pid[r], 0) != 0 && errno == ESRCH)
            return r;
    return -1;
}

ncclResult_t failed(ncclComm *c, ncclResult_t e) {
    if (c->err == ncclSuccess) {
        c->err = e;
        fprintf(stderr, "weft CUDA emulator: NCCL rank %d of %d: %s (rank %d)\n", c->rank, c->world,
                c->h->why, c->h->failed - 1);
    }
    return e;
}

/* Waits until cond() holds, with the header locked; false when, before that, the communicator
 * failed, a peer was found gone or the timeout passed (the communicator is then failed for every
 * rank). */
template <class F> bool wait_locked(ncclComm *c, F cond) {
    const double deadline = now_s() + timeout_s();
    while (!cond()) {
        if (c->h->failed) return false;
        int g = gone_rank(c);
        if (g >= 0) {
            char why[80];
            snprintf(why, sizeof why, "the process of rank %d is gone", g);
            fail_locked(c, g, why);
            return false;
        }
        if (now_s() > deadline) {
            fail_locked(c, c->rank, "timed out waiting for the other ranks (WF_EMU_NCCL_TIMEOUT)");
            return false;
        }
        timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&c->h->cv, &c->h->mu, &ts);
    }
    return true; /* a failure after cond held (a rank aborting past the barrier) is the next call's */
}

ncclResult_t barrier(ncclComm *c) {
    if (c->err != ncclSuccess) return c->err;
    lock(c);
    bool ok;
    if (c->h->failed) {
        ok = false;
    } else if (++c->h->arrived == c->world) {
        c->h->arrived = 0, c->h->gen++;
        pthread_cond_broadcast(&c->h->cv);
        ok = true;
    } else {
        const uint64_t g = c->h->gen;
        ok = wait_locked(c, [&] { return c->h->gen != g; });
    }
    unlock(c);
    return ok ? ncclSuccess : failed(c, ncclRemoteError);
}

size_t elem_bytes(ncclDataType_t t) {
    switch (t) {
    case ncclInt8: case ncclUint8: case ncclFloat8e4m3: case ncclFloat8e5m2: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
    default: return 0;
    }
}

/* dst[0, n) = the rank-order sum of every rank's slot elements [0, n). */
template <typename T> void sum_slots(ncclComm *c, void *dst, size_t n) {
    T *d = (T *)dst;
    for (size_t i = 0; i < n; i++) {
        T s = ((const T *)slot(c, 0))[i];
        for (int r = 1; r < c->world; r++) s += ((const T *)slot(c, r))[i];
        d[i] = s;
    }
}

using sum_fn = void (*)(ncclComm *, void *, size_t);

/* The summing function of type t; nullptr for the 16- and 8-bit floats (weft never reduces
 * them), so a reduction of one fails before any rank stages data. */
sum_fn summer(ncclDataType_t t) {
    switch (t) {
    case ncclFloat32: return sum_slots<float>;
    case ncclFloat64: return sum_slots<double>;
    case ncclInt32: return sum_slots<int32_t>;
    case ncclUint32: return sum_slots<uint32_t>;
    case ncclInt64: return sum_slots<int64_t>;
    case ncclUint64: return sum_slots<uint64_t>;
    case ncclInt8: return sum_slots<int8_t>;
    case ncclUint8: return sum_slots<uint8_t>;
    default: return nullptr;
    }
}

/* The checks of every call (c is not null): a live communicator, buffers inside device blocks. */
ncclResult_t usable(ncclComm *c, const char *op, const void *a, const void *b, size_t bytes_a,
                    size_t bytes_b) {
    if (c->err != ncclSuccess) return c->err;
    const void *p[2] = {a, b};
    const size_t n[2] = {bytes_a, bytes_b};
    for (int k = 0; k < 2; k++)
        if (n[k] && !wf_emu::device_range_ok(p[k], n[k])) {
            fprintf(stderr, "weft CUDA emulator: NCCL rank %d: %s: [%p, +%zu bytes) is not inside "
                    "one cudaMalloc block\n", c->rank, op, p[k], n[k]);
            return ncclInvalidArgument;
        }
    return ncclSuccess;
}

/* A collective's data movement, in rounds of at most SLOT bytes (whole units of `unit` bytes):
 * stage(off, n) fills slots from bytes [off, off + n) of the rank's data, every rank waits,
 * collect(off, n) reads the slots, every rank waits again before the slots are reused. Both run
 * with device memory open. */
template <class Stage, class Collect>
ncclResult_t rounds(ncclComm *c, size_t bytes, size_t unit, Stage stage, Collect collect) {
    const size_t chunk = SLOT / unit * unit;
    for (size_t off = 0; off < bytes; off += chunk) {
        const size_t n = bytes - off < chunk ? bytes - off : chunk;
        {
            wf_emu::device_scope open;
            stage(off, n);
        }
        ncclResult_t r = barrier(c);
        if (r != ncclSuccess) return r;
        {
            wf_emu::device_scope open;
            collect(off, n);
        }
        if ((r = barrier(c)) != ncclSuccess) return r;
    }
    return ncclSuccess;
}

/* Reduce of count elements of type t to root, recv written on root only; root -1: on every rank
 * (all-reduce). */
ncclResult_t reduce_impl(ncclComm *c, const char *op, const void *send, void *recv, size_t count,
                         ncclDataType_t t, ncclRedOp_t red, int root) {
    const size_t e = elem_bytes(t);
    const sum_fn sum = summer(t);
    if (!c || !sum || red != ncclSum || root < -1 || root >= c->world) return ncclInvalidArgument;
    const bool writes = root < 0 || c->rank == root;
    ncclResult_t u = usable(c, op, send, writes ? recv : nullptr, count * e, writes ? count * e : 0);
    if (u != ncclSuccess) return u;
    return rounds(
        c, count * e, e,
        [&](size_t off, size_t n) { memcpy(slot(c, c->rank), (const char *)send + off, n); },
        [&](size_t off, size_t n) {
            if (writes) sum(c, (char *)recv + off, n / e);
        });
}

} /* namespace */

extern "C" {

const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument (weft CUDA emulator: see the line above)";
    case ncclInvalidUsage: return "invalid usage";
    case ncclRemoteError: return "remote process exited or there was a network error (weft CUDA "
                                 "emulator: a peer is gone, aborted or timed out)";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
    }
}

ncclResult_t ncclGetVersion(int *version) {
    if (!version) return ncclInvalidArgument;
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    if (!id) return ncclInvalidArgument;
    static std::atomic<unsigned> counter{0};
    timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    memset(id, 0, sizeof *id);
    snprintf(id->internal, sizeof id->internal, "/wfemu-nccl-%d-%u-%lx", (int)getpid(),
             counter.fetch_add(1), (unsigned long)t.tv_nsec);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t *out, int nranks, ncclUniqueId id, int rank,
                                    ncclConfig_t *) {
    if (!out || nranks < 1 || nranks > MAX_RANKS || rank < 0 || rank >= nranks ||
        id.internal[0] != '/')
        return ncclInvalidArgument;
    *out = nullptr;
    ncclComm *c = new ncclComm{};
    memcpy(c->name, id.internal, sizeof c->name);
    c->name[sizeof c->name - 1] = 0;
    c->rank = rank, c->world = nranks;
    bool creator = true;
    int fd = shm_open(c->name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 && errno == EEXIST) creator = false, fd = shm_open(c->name, O_RDWR, 0600);
    if (fd < 0) {
        fprintf(stderr, "weft CUDA emulator: NCCL: shm_open %s: %s\n", c->name, strerror(errno));
        delete c;
        return ncclSystemError;
    }
    const double deadline = now_s() + timeout_s();
    bool ok = true;
    if (creator) {
        ok = ftruncate(fd, (off_t)SEG) == 0;
    } else { /* the creator's ftruncate, then its header */
        struct stat st;
        while (ok && (fstat(fd, &st) != 0 || (size_t)st.st_size < SEG)) {
            ok = now_s() < deadline;
            usleep(1000);
        }
    }
    void *m = ok ? mmap(nullptr, SEG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    close(fd);
    if (m == MAP_FAILED) {
        fprintf(stderr, "weft CUDA emulator: NCCL: segment %s: %s\n", c->name,
                ok ? strerror(errno) : "its creator never sized it");
        if (creator) shm_unlink(c->name);
        delete c;
        return ncclSystemError;
    }
    c->h = (shm_hdr *)m, c->slots = (char *)m + HDR;
    if (creator) {
        pthread_mutexattr_t ma;
        pthread_mutexattr_init(&ma);
        pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
        pthread_mutex_init(&c->h->mu, &ma);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
        pthread_cond_init(&c->h->cv, &ca);
        c->h->world = nranks;
        c->h->ready.store(READY, std::memory_order_release);
    } else {
        while (c->h->ready.load(std::memory_order_acquire) != READY && now_s() < deadline)
            usleep(1000);
    }
    ncclResult_t r = ncclSuccess;
    if (c->h->ready.load(std::memory_order_acquire) != READY) {
        r = ncclSystemError;
    } else {
        lock(c);
        if (c->h->world != nranks || c->h->pid[rank] != 0) {
            fail_locked(c, rank, "ranks disagree on the world size, or two claim one rank");
        } else {
            c->h->pid[rank] = getpid();
            c->h->joined++;
            pthread_cond_broadcast(&c->h->cv);
        }
        if (wait_locked(c, [&] { return c->h->joined == c->world; })) {
            if (rank == 0) shm_unlink(c->name); /* every rank holds its mapping */
        } else {
            r = ncclRemoteError;
        }
        unlock(c);
    }
    if (r != ncclSuccess) {
        fprintf(stderr, "weft CUDA emulator: NCCL rank %d of %d: init failed: %s\n", rank, nranks,
                c->h->failed ? c->h->why : "the segment's creator never finished it");
        if (rank == 0) shm_unlink(c->name);
        munmap(c->h, SEG);
        delete c;
        return r;
    }
    *out = c;
    return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *e) {
    if (!c || !e) return ncclInvalidArgument;
    *e = c->err;
    return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t c) {
    if (!c) return ncclSuccess;
    lock(c);
    fail_locked(c, c->rank, "a rank aborted its communicator");
    unlock(c);
    munmap(c->h, SEG);
    delete c;
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t c) {
    if (!c) return ncclSuccess;
    munmap(c->h, SEG);
    delete c;
    return ncclSuccess;
}

ncclResult_t ncclGroupStart() { return ncclSuccess; }
ncclResult_t ncclGroupEnd() { return ncclSuccess; }

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t t,
                           ncclRedOp_t op, ncclComm_t c, cudaStream_t) {
    return reduce_impl(c, "ncclAllReduce", send, recv, count, t, op, -1);
}

ncclResult_t ncclReduce(const void *send, void *recv, size_t count, ncclDataType_t t,
                        ncclRedOp_t op, int root, ncclComm_t c, cudaStream_t) {
    if (root < 0) return ncclInvalidArgument;
    return reduce_impl(c, "ncclReduce", send, recv, count, t, op, root);
}

ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t recvcount, ncclDataType_t t,
                               ncclRedOp_t op, ncclComm_t c, cudaStream_t) {
    const size_t e = elem_bytes(t);
    if (!c || !e) return ncclInvalidArgument;
    ncclResult_t u = usable(c, "ncclReduceScatter", send, recv, recvcount * e * c->world,
                            recvcount * e);
    if (u != ncclSuccess) return u;
    /* one reduce per destination rank, in rank order; in place (recv = send + rank recvcount)
     * the root overwrites its own part only after every rank staged it */
    for (int r = 0; r < c->world; r++) {
        ncclResult_t x = reduce_impl(c, "ncclReduceScatter", (const char *)send + r * recvcount * e,
                                     recv, recvcount, t, op, r);
        if (x != ncclSuccess) return x;
    }
    return ncclSuccess;
}

ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t t, int root,
                           ncclComm_t c, cudaStream_t) {
    const size_t e = elem_bytes(t);
    if (!c || !e || root < 0 || root >= c->world) return ncclInvalidArgument;
    ncclResult_t u = usable(c, "ncclBroadcast", c->rank == root ? send : nullptr, recv,
                            c->rank == root ? count * e : 0, count * e);
    if (u != ncclSuccess) return u;
    return rounds(
        c, count * e, 1,
        [&](size_t off, size_t n) {
            if (c->rank == root) memcpy(slot(c, root), (const char *)send + off, n);
        },
        [&](size_t off, size_t n) { memcpy((char *)recv + off, slot(c, root), n); });
}

ncclResult_t ncclAllGather(const void *send, void *recv, size_t sendcount, ncclDataType_t t,
                           ncclComm_t c, cudaStream_t) {
    const size_t e = elem_bytes(t);
    if (!c || !e) return ncclInvalidArgument;
    const size_t part = sendcount * e;
    ncclResult_t u = usable(c, "ncclAllGather", send, recv, part, part * c->world);
    if (u != ncclSuccess) return u;
    /* in place (send = recv + rank part): a round writes only the chunk it staged of that part */
    return rounds(
        c, part, 1, [&](size_t off, size_t n) { memcpy(slot(c, c->rank), (const char *)send + off, n); },
        [&](size_t off, size_t n) {
            for (int k = 0; k < c->world; k++) memcpy((char *)recv + k * part + off, slot(c, k), n);
        });
}

} /* extern "C" */
