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
    /* Copies and fills are ordered on the backend's main stream; sync waits for all of it. */
    wf_status (*copy)(wf_backend *be, void *dst, const void *src, size_t bytes, wf_copy_kind kind);
    wf_status (*memset)(wf_backend *be, void *dst, int byte, size_t bytes);
    wf_status (*sync)(wf_backend *be);
    void (*close)(wf_backend *be);
    void *impl;         /* backend-private state */
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

/* Arena helpers over the backend's raw blocks. */
wf_status wf_backend_arena_create(wf_backend *be, wf_arena *a, const char *name, size_t bytes);
void wf_backend_arena_destroy(wf_backend *be, wf_arena *a);

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
