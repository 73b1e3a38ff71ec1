/* A backend: a device, its memory functions and its op table (ops.h).
 * The model graph and trainer see only this struct; they never ask which backend they run on.
 * Backends register in host/core/backend.c; "cpu" always exists, "cuda" when built with CUDA
 * and a GPU is present. */
#ifndef WEFT_BACKEND_H
#define WEFT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/arena.h"
#include "weft/status.h"

typedef struct wf_ops wf_ops;

typedef enum wf_copy_kind { WF_COPY_H2D, WF_COPY_D2H, WF_COPY_D2D } wf_copy_kind;

/* A marker in the main stream (cudaEvent_t on CUDA); opaque to the host code. */
typedef struct wf_event wf_event;

typedef struct wf_backend wf_backend;
struct wf_backend {
    const char *name;   /* "cpu", "cuda" */
    int device;         /* device ordinal; 0 for cpu */
    char device_name[128];
    const wf_ops *ops;  /* NULL entries are unsupported ops */
    wf_arena scratch;   /* per-op temporaries; each op resets it to where it found it */

    /* Raw blocks for arenas: allocated at init, never inside the step loop. */
    wf_status (*alloc)(wf_backend *be, size_t bytes, void **out);
    void (*free)(wf_backend *be, void *p);
    /* Copies and fills are ordered on the backend's main stream; sync waits for all of it.
     * A D2H copy returns once the bytes are on the host (it waits for the stream); an H2D copy
     * may still read `src` after it returns (cudaMemcpyAsync), so the host must not change or
     * free `src` until an event recorded after it has completed (or a sync). */
    wf_status (*copy)(wf_backend *be, void *dst, const void *src, size_t bytes, wf_copy_kind kind);
    wf_status (*memset)(wf_backend *be, void *dst, int byte, size_t bytes);
    wf_status (*sync)(wf_backend *be);
    /* Page-locked host memory (cudaHostAlloc; malloc on the CPU), the source of H2D copies
     * that the host must not wait for: allocated at init, never inside the step loop. */
    wf_status (*host_alloc)(wf_backend *be, size_t bytes, void **out);
    void (*host_free)(wf_backend *be, void *p);
    /* Events: event_record marks the work enqueued on the main stream so far; event_wait
     * blocks the host until that work is done (cudaEventSynchronize), without waiting for
     * anything enqueued after the record. An event never recorded is complete. The CPU
     * backend runs everything at once, so there record and wait do nothing. */
    wf_status (*event_create)(wf_backend *be, wf_event **out);
    void (*event_destroy)(wf_backend *be, wf_event *e);
    wf_status (*event_record)(wf_backend *be, wf_event *e);
    wf_status (*event_wait)(wf_backend *be, wf_event *e);
    /* Timing, for the op profiler (profile.h). event_create_timed: an event that also marks a
     * time when recorded (CUDA: a timing event, a little dearer to record than the others).
     * event_elapsed: waits for `end`, then gives the milliseconds from `start` to `end`, both
     * recorded timed events: the device's clock on CUDA; on the CPU the host clock at record,
     * which is when all work before it was done. */
    wf_status (*event_create_timed)(wf_backend *be, wf_event **out);
    wf_status (*event_elapsed)(wf_backend *be, wf_event *start, wf_event *end, double *ms);
    /* Memory the device could still hand out (CUDA: cudaMemGetInfo's free bytes; CPU: the
     * kernel's MemAvailable). wf_backend_mem_available also applies the limit below. */
    wf_status (*mem_free)(wf_backend *be, size_t *bytes);
    void (*close)(wf_backend *be);
    void *impl;         /* backend-private state */
    struct wf_profile *profile; /* the op profiler while one is attached (profile.h), else NULL */
    size_t mem_limit;   /* WF_MEMORY_LIMIT_MB at open (0: none): an arena that would take the
                           arenas past it fails as out of memory (to rehearse a smaller device) */
    size_t mem_arenas;  /* bytes of the arenas alive (wf_backend_arena_create/destroy) */
};

typedef struct wf_backend_options {
    int device;           /* device ordinal (cuda) */
    size_t scratch_bytes; /* size of the scratch arena; 0 = default (256 MiB) */
} wf_backend_options;

/* Opens backend `name`; fails with a message when it is not compiled in or has no device. */
wf_status wf_backend_open(const char *name, const wf_backend_options *opt, wf_backend **out);
void wf_backend_close(wf_backend *be);
/* Whether backend `name` is compiled in and has a usable device. */
bool wf_backend_available(const char *name);

/* Arena helpers over the backend's raw blocks. An arena the device (or WF_MEMORY_LIMIT_MB)
 * cannot hold fails with WF_ERR_OOM naming it, its size and what is available. */
wf_status wf_backend_arena_create(wf_backend *be, wf_arena *a, const char *name, size_t bytes);
void wf_backend_arena_destroy(wf_backend *be, wf_arena *a);
/* Bytes more arenas could take now: the device's free memory, within WF_MEMORY_LIMIT_MB. */
size_t wf_backend_mem_available(wf_backend *be);

/* Registration, used by host/core/backend.c. */
wf_status wf_cpu_backend_open(const wf_backend_options *opt, wf_backend **out);
#if defined(WF_HAVE_CUDA)
wf_status wf_cuda_backend_open(const wf_backend_options *opt, wf_backend **out);
bool wf_cuda_backend_available(void);
/* The backend's stream (a cudaStream_t), for the NCCL communicator to enqueue on. */
void *wf_cuda_backend_stream(wf_backend *be);
/* Counters of the cuBLASLt plan cache (kernels/cuda/linear.cu) since open, for benchmarks:
 * misses beyond the number of distinct linear shapes mean the cache is too small. */
void wf_cuda_backend_lt_stats(wf_backend *be, int64_t *hits, int64_t *misses, int64_t *evictions);
#endif

#endif
