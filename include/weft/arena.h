/* Arenas: memory is planned up front and taken from a few arenas allocated once (DESIGN.md
 * "Memory"). An arena is a bump allocator over one block of backend memory; nothing is freed
 * alone, an arena is reset to a mark or released whole. */
#ifndef WEFT_ARENA_H
#define WEFT_ARENA_H

#include <stddef.h>

#include "weft/status.h"
#include "weft/tensor.h"

#define WF_ARENA_ALIGN 256 /* covers cache lines, vector loads and cuBLAS alignment wants */

/* Bytes as MiB, for plans and memory messages. */
static inline double wf_mib(size_t bytes) { return (double)bytes / (1 << 20); }

typedef struct wf_arena {
    const char *name; /* "weights", "grads", "scratch", ... for error messages and plans */
    char *base;       /* backend memory */
    size_t size;
    size_t used;
    size_t peak;
} wf_arena;

/* Takes `bytes` (rounded up to WF_ARENA_ALIGN) or fails with WF_ERR_OOM naming the arena. */
wf_status wf_arena_alloc(wf_arena *a, size_t bytes, void **out);
wf_status wf_arena_tensor(wf_arena *a, wf_tensor *out, wf_dtype dtype, int ndim, const int64_t *shape);
static inline size_t wf_arena_mark(const wf_arena *a) { return a->used; }
static inline void wf_arena_reset(wf_arena *a, size_t mark) { a->used = mark; }

#endif
