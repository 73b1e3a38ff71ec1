/* Backend registry: opening backends by name, and arenas over their memory. */
#include "weft/backend.h"
#include "weft/profile.h"

#include <string.h>

#define WF_DEFAULT_SCRATCH ((size_t)256 << 20)

bool wf_backend_available(const char *name) {
    if (strcmp(name, "cpu") == 0) return true;
#if defined(WF_HAVE_CUDA)
    if (strcmp(name, "cuda") == 0) return wf_cuda_backend_available();
#endif
    return false;
}

wf_status wf_backend_open(const char *name, const wf_backend_options *opt, wf_backend **out) {
    wf_backend_options o = opt ? *opt : (wf_backend_options){0};
    if (o.scratch_bytes == 0) o.scratch_bytes = WF_DEFAULT_SCRATCH;
    wf_backend *be = NULL;
    if (strcmp(name, "cpu") == 0) {
        WF_TRY(wf_cpu_backend_open(&o, &be));
    } else if (strcmp(name, "cuda") == 0) {
#if defined(WF_HAVE_CUDA)
        WF_TRY(wf_cuda_backend_open(&o, &be));
#else
        return wf_error(WF_ERR_UNSUPPORTED, "backend 'cuda': this build has no CUDA "
                                            "(configure with -Dcuda=enabled)");
#endif
    } else {
        return wf_error(WF_ERR_INVALID, "unknown backend '%s' (expected 'cpu' or 'cuda')", name);
    }
    wf_status s = wf_backend_arena_create(be, &be->scratch, "scratch", o.scratch_bytes);
    if (s != WF_OK) {
        be->close(be);
        return s;
    }
    *out = be;
    return WF_OK;
}

void wf_backend_close(wf_backend *be) {
    if (!be) return;
    wf_profile_detach(be);
    wf_backend_arena_destroy(be, &be->scratch);
    be->close(be);
}

wf_status wf_backend_arena_create(wf_backend *be, wf_arena *a, const char *name, size_t bytes) {
    *a = (wf_arena){.name = name, .size = bytes};
    void *p = NULL;
    if (bytes) WF_TRY(be->alloc(be, bytes, &p));
    a->base = p;
    return WF_OK;
}

void wf_backend_arena_destroy(wf_backend *be, wf_arena *a) {
    if (a->base) be->free(be, a->base);
    *a = (wf_arena){0};
}
