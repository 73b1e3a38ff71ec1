/* Bump allocation from arenas (include/weft/arena.h). */
#include "weft/arena.h"

wf_status wf_arena_alloc(wf_arena *a, size_t bytes, void **out) {
    size_t need = (bytes + WF_ARENA_ALIGN - 1) / WF_ARENA_ALIGN * WF_ARENA_ALIGN;
    if (need > a->size - a->used)
        return wf_error(WF_ERR_OOM, "arena '%s': need %zu bytes, %zu of %zu free", a->name, need,
                        a->size - a->used, a->size);
    *out = a->base + a->used;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return WF_OK;
}

wf_status wf_arena_tensor(wf_arena *a, wf_tensor *out, wf_dtype dtype, int ndim,
                          const int64_t *shape) {
    WF_ASSERT(ndim >= 0 && ndim <= WF_MAX_DIMS);
    wf_tensor t = {.dtype = dtype, .ndim = ndim};
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    WF_TRY(wf_arena_alloc(a, wf_tensor_nbytes(&t), &t.data));
    *out = t;
    return WF_OK;
}
