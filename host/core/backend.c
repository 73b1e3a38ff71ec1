/* Backend registry: opening backends by name, and arenas over their memory. */
#include "weft/backend.h"
#include "weft/profile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WF_DEFAULT_SCRATCH ((size_t)256 << 20)

bool wf_backend_available(const char *name) {
    if (strcmp(name, "cpu") == 0) return true;
#if defined(WF_HAVE_CUDA)
    if (strcmp(name, "cuda") == 0) return wf_cuda_backend_available();
#endif
    return false;
}

/* WF_MEMORY_LIMIT_MB: a cap on the arenas' bytes (0 or unset: none). */
static wf_status mem_limit(size_t *out) {
    *out = 0;
    const char *v = getenv("WF_MEMORY_LIMIT_MB");
    if (!v || !*v) return WF_OK;
    char *end;
    double mb = strtod(v, &end);
    if (*end || !(mb >= 0) || mb > 1e9)
        return wf_error(WF_ERR_INVALID, "environment: WF_MEMORY_LIMIT_MB=\"%s\" is not a number of MiB", v);
    *out = (size_t)(mb * (1 << 20));
    return WF_OK;
}

wf_status wf_backend_open(const char *name, const wf_backend_options *opt, wf_backend **out) {
    wf_backend_options o = opt ? *opt : (wf_backend_options){0};
    if (o.scratch_bytes == 0) o.scratch_bytes = WF_DEFAULT_SCRATCH;
    size_t limit;
    WF_TRY(mem_limit(&limit));
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
    be->mem_limit = limit;
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

size_t wf_backend_mem_available(wf_backend *be) {
    size_t free_b = SIZE_MAX;
    if (be->mem_free && be->mem_free(be, &free_b) != WF_OK) free_b = SIZE_MAX;
    if (be->mem_limit) {
        size_t left = be->mem_limit > be->mem_arenas ? be->mem_limit - be->mem_arenas : 0;
        free_b = left < free_b ? left : free_b;
    }
    return free_b;
}

wf_status wf_backend_arena_create(wf_backend *be, wf_arena *a, const char *name, size_t bytes) {
    *a = (wf_arena){.name = name, .size = bytes};
    if (be->mem_limit && be->mem_arenas + bytes > be->mem_limit)
        return wf_error(WF_ERR_OOM, "arena '%s': %.1f MiB would take %s past WF_MEMORY_LIMIT_MB (%.1f MiB "
                        "in arenas, %.1f MiB allowed)", name, wf_mib(bytes), be->name, wf_mib(be->mem_arenas),
                        wf_mib(be->mem_limit));
    void *p = NULL;
    if (bytes) {
        wf_status s = be->alloc(be, bytes, &p);
        if (s == WF_ERR_OOM)
            return wf_error(s, "arena '%s' (%.1f MiB) does not fit on %s (%.1f MiB already in arenas): %s",
                            name, wf_mib(bytes), be->name, wf_mib(be->mem_arenas), wf_last_error());
        WF_TRY(s);
    }
    a->base = p;
    be->mem_arenas += bytes;
    return WF_OK;
}

void wf_backend_arena_destroy(wf_backend *be, wf_arena *a) {
    if (a->base) be->free(be, a->base), be->mem_arenas -= a->size;
    *a = (wf_arena){0};
}
