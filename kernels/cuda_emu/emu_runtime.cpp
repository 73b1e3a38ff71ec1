/* The CUDA emulator's runtime: the cudart functions the CUDA backend calls, defined on the host
 * (no libcudart is linked). Device memory is host memory (page-aligned, filled with 0xFF so
 * a read of what was never written shows as NaN); every kernel runs to completion at its launch,
 * so streams and events are ordered trivially, but keep their API contract (return codes,
 * cudaStreamQuery succeeding). The device is fake: "weft CUDA emulator (CPU)", compute capability
 * 9.0, 2 SMs, Hopper's 227 KiB opt-in shared memory a block. Device blocks are inaccessible
 * to the host outside kernels and runtime calls (emu_guard.cpp). Launches are checked against the
 * block and shared-memory limits and cudaFuncSetAttribute. Page-locked host memory
 * (cudaHostAlloc) is whole pages the guard remembers (emu_guard.cpp), so cudaFreeHost of anything
 * else fails, an H2D copy from pageable memory is counted, and a host write to the source of an
 * H2D copy before an event after it was waited on (or a sync) faults with a message. An event
 * remembers the last copy issued before its record; any stream sync completes every copy. Streams and events carry a magic
 * number, so a handle this process did not create (or destroyed) fails. Counters:
 * weft/cuda_emu.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>

#include "emu_guard.h"
#include "emu_internal.h"

using namespace wf_emu;

namespace {

const size_t SMEM_DEFAULT = 48 << 10, SMEM_OPTIN = 227 << 10;
const size_t FAKE_MEM = (size_t)16 << 30;
thread_local cudaError_t last_error = cudaSuccess;
size_t live_bytes = 0;
std::map<const void *, int> max_dyn_smem; /* cudaFuncSetAttribute, per kernel function */

struct stream_obj {
    unsigned magic;
};
const unsigned STREAM_MAGIC = 0x5354524d, EVENT_MAGIC = 0x45564e54;

struct event_obj {
    unsigned magic;
    unsigned long long seq; /* the guard's last H2D copy when recorded (0: never recorded) */
    bool timing;            /* created without cudaEventDisableTiming */
    bool recorded;
    double at_ms;           /* the host clock at the last record: the emulator's device time,
                               since work is done when it is enqueued */
};

event_obj *as_event(cudaEvent_t e) {
    event_obj *o = (event_obj *)e;
    return o && o->magic == EVENT_MAGIC ? o : nullptr;
}

cudaError_t fail(cudaError_t e) {
    last_error = e;
    return e;
}

} /* namespace */

namespace wf_emu {

bool launch_check(const launch_info &li, const char **why) {
    const dim3 g = li.grid, b = li.block;
    const unsigned long threads = (unsigned long)b.x * b.y * b.z;
    if (g.x == 0 || g.y == 0 || g.z == 0 || g.y > 65535 || g.z > 65535) {
        *why = "grid dimension 0, or y/z above 65535";
        last_error = cudaErrorInvalidConfiguration;
        return false;
    }
    if (threads == 0 || threads > 1024 || b.z > 64) {
        *why = "block of 0 or more than 1024 threads (or z > 64)";
        last_error = cudaErrorInvalidConfiguration;
        return false;
    }
    auto it = max_dyn_smem.find(li.fn);
    const size_t allowed = it != max_dyn_smem.end() ? (size_t)it->second : SMEM_DEFAULT;
    if (li.smem > allowed || li.smem > SMEM_OPTIN) {
        *why = "dynamic shared memory above the kernel's cudaFuncSetAttribute limit (48 KiB "
               "without one) or above the device's 227 KiB";
        last_error = cudaErrorInvalidValue;
        return false;
    }
    if (li.stream && ((const stream_obj *)li.stream)->magic != STREAM_MAGIC) {
        *why = "not a stream this process created";
        last_error = cudaErrorInvalidResourceHandle;
        return false;
    }
    return true;
}

} /* namespace wf_emu */

cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }

cudaError_t cudaGetDevice(int *d) {
    *d = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    if (d != 0) return fail(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "weft CUDA emulator (CPU)");
    p->major = 9, p->minor = 0;
    p->multiProcessorCount = 2; /* small: fewer emulated threads for the grid-stride grids */
    p->totalGlobalMem = FAKE_MEM;
    p->sharedMemPerBlock = SMEM_DEFAULT;
    p->sharedMemPerBlockOptin = SMEM_OPTIN;
    p->maxThreadsPerBlock = 1024;
    p->warpSize = 32;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff, p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    return cudaSuccess;
}

/* Blocks come from the guard (emu_guard.cpp): whole pages, 0xFF-filled, inaccessible to the host
 * outside kernels and runtime calls. */
std::map<const void *, size_t> dev_bytes; /* live cudaMalloc blocks: start -> requested bytes */

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    *ptr = nullptr;
    if (live_bytes + bytes > FAKE_MEM) return fail(cudaErrorMemoryAllocation);
    void *m = guard_device_alloc(bytes);
    if (!m) return fail(cudaErrorMemoryAllocation);
    dev_bytes[m] = bytes;
    live_bytes += bytes;
    counters.mallocs++;
    *ptr = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
    if (!ptr) return cudaSuccess;
    auto it = dev_bytes.find(ptr);
    if (it == dev_bytes.end() || !guard_device_free(ptr)) {
        fprintf(stderr, "weft CUDA emulator: cudaFree(%p) of memory cudaMalloc did not return\n", ptr);
        return fail(cudaErrorInvalidValue);
    }
    live_bytes -= it->second;
    dev_bytes.erase(it);
    counters.frees++;
    return cudaSuccess;
}

bool wf_emu::device_range_ok(const void *p, size_t n) {
    auto it = dev_bytes.upper_bound(p); /* the first block starting after p */
    if (it == dev_bytes.begin()) return false;
    --it;
    const char *b = (const char *)it->first, *q = (const char *)p;
    return q >= b && n <= it->second && (size_t)(q - b) <= it->second - n;
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total) {
    *free_b = FAKE_MEM - live_bytes;
    *total = FAKE_MEM;
    return cudaSuccess;
}

cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned flags) {
    *ptr = nullptr;
    if (flags != cudaHostAllocDefault) {
        fprintf(stderr, "weft CUDA emulator: cudaHostAlloc flags %u are not emulated\n", flags);
        return fail(cudaErrorInvalidValue);
    }
    void *m = guard_pinned_alloc(bytes);
    if (!m) return fail(cudaErrorMemoryAllocation);
    counters.host_allocs++;
    *ptr = m;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void *ptr) {
    if (!ptr) return cudaSuccess;
    if (guard_pinned_free(ptr)) return cudaSuccess;
    fprintf(stderr, "weft CUDA emulator: cudaFreeHost(%p) of memory cudaHostAlloc did not return\n",
            ptr);
    return fail(cudaErrorInvalidValue);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t) {
    if (n && (!dst || !src)) return fail(cudaErrorInvalidValue);
    device_scope open;
    if (k == cudaMemcpyDeviceToHost) counters.d2h_copies++;
    else if (k == cudaMemcpyHostToDevice) {
        counters.h2d_copies++;
        if (n && !guard_is_pinned(src, n)) counters.h2d_pageable++;
    }
    if (n) memmove(dst, src, n);
    if (k == cudaMemcpyHostToDevice) guard_h2d_issued(src, n);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind k) {
    return cudaMemcpyAsync(dst, src, n, k, nullptr);
}

cudaError_t cudaMemsetAsync(void *dst, int v, size_t n, cudaStream_t) {
    if (n && !dst) return fail(cudaErrorInvalidValue);
    device_scope open;
    if (n) memset(dst, v, n);
    return cudaSuccess;
}

cudaError_t cudaMemset(void *dst, int v, size_t n) { return cudaMemsetAsync(dst, v, n, nullptr); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
    stream_obj *o = new stream_obj{STREAM_MAGIC};
    *s = (cudaStream_t)o;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, 0); }

cudaError_t cudaStreamCreateWithPriority(cudaStream_t *s, unsigned flags, int) {
    return cudaStreamCreateWithFlags(s, flags);
}

cudaError_t cudaDeviceGetStreamPriorityRange(int *least, int *greatest) {
    if (least) *least = 0;
    if (greatest) *greatest = -1;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    stream_obj *o = (stream_obj *)s;
    if (!o || o->magic != STREAM_MAGIC) return fail(cudaErrorInvalidResourceHandle);
    o->magic = 0;
    delete o;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) {
    counters.stream_syncs++;
    guard_retire(guard_seq());
    return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; } /* all work is done */

cudaError_t cudaDeviceSynchronize(void) {
    counters.stream_syncs++;
    guard_retire(guard_seq());
    return cudaSuccess;
}

/* Events: work is complete when enqueued, so an event is complete once recorded (and one never
 * recorded is complete, as in CUDA). */
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) {
    *e = (cudaEvent_t) new event_obj{EVENT_MAGIC, 0, !(flags & cudaEventDisableTiming), false, 0};
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    event_obj *o = as_event(e);
    if (!o) return fail(cudaErrorInvalidResourceHandle);
    o->magic = 0;
    delete o;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
    event_obj *o = as_event(e);
    if (!o) return fail(cudaErrorInvalidResourceHandle);
    o->seq = guard_seq();
    o->recorded = true;
    o->at_ms = std::chrono::duration<double, std::milli>(
                   std::chrono::steady_clock::now().time_since_epoch()).count();
    return cudaSuccess;
}
/* As CUDA: both events timed and recorded, else cudaErrorInvalidResourceHandle. */
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    event_obj *a = as_event(start), *b = as_event(end);
    if (!ms) return fail(cudaErrorInvalidValue);
    if (!a || !b || !a->timing || !b->timing || !a->recorded || !b->recorded)
        return fail(cudaErrorInvalidResourceHandle);
    *ms = (float)(b->at_ms - a->at_ms);
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    event_obj *o = as_event(e);
    if (!o) return fail(cudaErrorInvalidResourceHandle);
    counters.event_syncs++;
    guard_retire(o->seq);
    return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned) {
    return as_event(e) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaFuncSetAttribute(const void *fn, cudaFuncAttribute attr, int value) {
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) {
        fprintf(stderr, "weft CUDA emulator: cudaFuncSetAttribute attribute %d is not emulated\n",
                (int)attr);
        return fail(cudaErrorInvalidValue);
    }
    if (value < 0 || (size_t)value > SMEM_OPTIN) return fail(cudaErrorInvalidValue);
    max_dyn_smem[fn] = value;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return last_error; }

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument (weft CUDA emulator)";
    case cudaErrorMemoryAllocation: return "out of memory (weft CUDA emulator)";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument (weft CUDA emulator)";
    case cudaErrorInvalidDevice: return "invalid device ordinal (weft CUDA emulator)";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle (weft CUDA emulator)";
    default: return "unknown error (weft CUDA emulator)";
    }
}

const char *cudaGetErrorName(cudaError_t e) { return cudaGetErrorString(e); }

cudaError_t wf_emu_sort_pairs(void *tmp, size_t &tmp_bytes, const uint32_t *keys_in,
                              uint32_t *keys_out, const int32_t *vals_in, int32_t *vals_out, int n,
                              int begin_bit, int end_bit, cudaStream_t) {
    if (!tmp) {
        tmp_bytes = 16; /* CUB asks for scratch; the host sort below needs none of it */
        return cudaSuccess;
    }
    if (n < 0 || begin_bit < 0 || end_bit > 32 || begin_bit >= end_bit)
        return fail(cudaErrorInvalidValue);
    device_scope open;
    const uint32_t mask = (end_bit - begin_bit == 32 ? 0xffffffffu
                                                     : ((1u << (end_bit - begin_bit)) - 1u))
                          << begin_bit;
    std::vector<int> idx((size_t)n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int a, int b) { return (keys_in[a] & mask) < (keys_in[b] & mask); });
    std::vector<uint32_t> k((size_t)n);
    std::vector<int32_t> v((size_t)n);
    for (int i = 0; i < n; i++) k[(size_t)i] = keys_in[idx[(size_t)i]],
                                v[(size_t)i] = vals_in[idx[(size_t)i]];
    memcpy(keys_out, k.data(), (size_t)n * sizeof *keys_out);
    memcpy(vals_out, v.data(), (size_t)n * sizeof *vals_out);
    return cudaSuccess;
}
