/* The CPU backend: host memory, synchronous ops, and the op table of kernels/cpu/. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu_ops.h"

static const wf_ops cpu_ops = {
    .embedding_fwd = wf_cpu_embedding_fwd,
    .embedding_bwd = wf_cpu_embedding_bwd,
    .matmul = wf_cpu_matmul,
    .linear_fwd = wf_cpu_linear_fwd,
    .linear_bwd = wf_cpu_linear_bwd,
    .linear_gelu_tanh_fwd = wf_cpu_linear_gelu_tanh_fwd,
    .linear_dgelu_tanh_bwd = wf_cpu_linear_dgelu_tanh_bwd,
    .lora_fwd = wf_cpu_lora_fwd,
    .lora_bwd = wf_cpu_lora_bwd,
    .layernorm_fwd = wf_cpu_layernorm_fwd,
    .layernorm_bwd = wf_cpu_layernorm_bwd,
    .rmsnorm_fwd = wf_cpu_rmsnorm_fwd,
    .rmsnorm_bwd = wf_cpu_rmsnorm_bwd,
    .add_layernorm_fwd = wf_cpu_add_layernorm_fwd,
    .add_rmsnorm_fwd = wf_cpu_add_rmsnorm_fwd,
    .add = wf_cpu_add,
    .gelu_fwd = wf_cpu_gelu_fwd,
    .gelu_bwd = wf_cpu_gelu_bwd,
    .tanh_fwd = wf_cpu_tanh_fwd,
    .tanh_bwd = wf_cpu_tanh_bwd,
    .swiglu_fwd = wf_cpu_swiglu_fwd,
    .swiglu_bwd = wf_cpu_swiglu_bwd,
    .rope_fwd = wf_cpu_rope_fwd,
    .rope_bwd = wf_cpu_rope_bwd,
    .attention_fwd = wf_cpu_attention_fwd,
    .attention_bwd = wf_cpu_attention_bwd,
    .cross_entropy = wf_cpu_cross_entropy,
    .mse = wf_cpu_mse,
    .dropout = wf_cpu_dropout,
    .ia3_fwd = wf_cpu_ia3_fwd,
    .ia3_bwd = wf_cpu_ia3_bwd,
    .cast = wf_cpu_cast,
    .grad_unscale_norm = wf_cpu_grad_unscale_norm,
    .adamw = wf_cpu_adamw,
    .step_end = wf_cpu_step_end,
};

wf_status wf_cpu_need_f32(const char *op, int n, ...) {
    va_list ap;
    va_start(ap, n);
    wf_status s = WF_OK;
    for (int i = 0; i < n && s == WF_OK; i++) {
        const wf_tensor *t = va_arg(ap, const wf_tensor *);
        if (t && t->dtype != WF_F32)
            s = wf_error(WF_ERR_UNSUPPORTED, "op %s on backend 'cpu': dtype %s (the CPU computes "
                                             "in f32; cast first)", op, wf_dtype_name(t->dtype));
    }
    va_end(ap);
    return s;
}

static wf_status cpu_alloc(wf_backend *be, size_t bytes, void **out) {
    (void)be;
    void *p = NULL;
    size_t rounded = (bytes + WF_ARENA_ALIGN - 1) / WF_ARENA_ALIGN * WF_ARENA_ALIGN;
    if (rounded == 0 || !(p = aligned_alloc(WF_ARENA_ALIGN, rounded)))
        return wf_error(WF_ERR_OOM, "cpu: cannot allocate %zu bytes", bytes);
    *out = p;
    return WF_OK;
}

static void cpu_free(wf_backend *be, void *p) { (void)be; free(p); }

static wf_status cpu_copy(wf_backend *be, void *dst, const void *src, size_t bytes, wf_copy_kind k) {
    (void)be, (void)k;
    if (bytes) memmove(dst, src, bytes);
    return WF_OK;
}

static wf_status cpu_memset(wf_backend *be, void *dst, int byte, size_t bytes) {
    (void)be;
    if (bytes) memset(dst, byte, bytes);
    return WF_OK;
}

static wf_status cpu_sync(wf_backend *be) { (void)be; return WF_OK; }

static wf_status cpu_host_alloc(wf_backend *be, size_t bytes, void **out) {
    return cpu_alloc(be, bytes, out);
}

/* Every op and copy is done when it returns, so an event has no work to wait for: it only
 * keeps the host clock's time at its last record (seconds), for event_elapsed. */
static wf_status cpu_event_create(wf_backend *be, wf_event **out) {
    (void)be;
    double *t = calloc(1, sizeof *t);
    if (!t) return wf_error(WF_ERR_OOM, "cpu: cannot allocate an event");
    *out = (wf_event *)t;
    return WF_OK;
}
static void cpu_event_destroy(wf_backend *be, wf_event *e) { (void)be, free(e); }
static wf_status cpu_event_record(wf_backend *be, wf_event *e) {
    (void)be;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    *(double *)e = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    return WF_OK;
}
static wf_status cpu_event_wait(wf_backend *be, wf_event *e) {
    (void)be, (void)e;
    return WF_OK;
}
static wf_status cpu_event_elapsed(wf_backend *be, wf_event *start, wf_event *end, double *ms) {
    (void)be;
    *ms = 1e3 * (*(const double *)end - *(const double *)start);
    return WF_OK;
}
/* The kernel's estimate of memory available without swapping (MemAvailable). */
static wf_status cpu_mem_free(wf_backend *be, size_t *bytes) {
    (void)be;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
    if (f) fclose(f);
    if (!found) return wf_error(WF_ERR_UNSUPPORTED, "cpu: /proc/meminfo has no MemAvailable");
    *bytes = (size_t)kb << 10;
    return WF_OK;
}

static void cpu_close(wf_backend *be) { free(be); }

wf_status wf_cpu_backend_open(const wf_backend_options *opt, wf_backend **out) {
    (void)opt;
    wf_cpu_blas_init();
    wf_backend *be = calloc(1, sizeof *be);
    if (!be) return wf_error(WF_ERR_OOM, "cpu: cannot allocate the backend");
    be->name = "cpu";
    snprintf(be->device_name, sizeof be->device_name, "host CPU (%ld cores online)",
             sysconf(_SC_NPROCESSORS_ONLN));
    be->ops = &cpu_ops;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->copy = cpu_copy;
    be->memset = cpu_memset;
    be->sync = cpu_sync;
    be->host_alloc = cpu_host_alloc;
    be->host_free = cpu_free;
    be->event_create = cpu_event_create;
    be->event_destroy = cpu_event_destroy;
    be->event_record = cpu_event_record;
    be->event_wait = cpu_event_wait;
    be->event_create_timed = cpu_event_create;
    be->event_elapsed = cpu_event_elapsed;
    be->mem_free = cpu_mem_free;
    be->close = cpu_close;
    *out = be;
    return WF_OK;
}
