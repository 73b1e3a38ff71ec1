/* The CUDA backend: device selection, one stream, cuBLAS/cuBLASLt handles and their workspace,
 * device memory for arenas, and the op table of kernels/cuda/ (one .cu per op or small group).
 * Ops not yet written on the GPU are NULL entries (the op wrappers then report them unsupported,
 * naming the op). Private state: backend_cuda.cuh; tuning constants: tuning.cuh. */
#include <stdlib.h>
#include <string.h>

#include "backend_cuda.cuh"
#include "tuning.cuh"

/* Filled by a function rather than designated initializers (C++17 has none). */
static wf_ops make_cuda_ops(void) {
    wf_ops o = {};
    o.embedding_fwd = wf_cuda_embedding_fwd;
    o.embedding_bwd = wf_cuda_embedding_bwd;
    o.matmul = wf_cuda_matmul;
    o.linear_fwd = wf_cuda_linear_fwd;
    o.linear_bwd = wf_cuda_linear_bwd;
    o.linear_gelu_tanh_fwd = wf_cuda_linear_gelu_tanh_fwd;
    o.linear_dgelu_tanh_bwd = wf_cuda_linear_dgelu_tanh_bwd;
    o.add = wf_cuda_add;
    o.add_layernorm_fwd = wf_cuda_add_layernorm_fwd;
    o.add_rmsnorm_fwd = wf_cuda_add_rmsnorm_fwd;
    o.gelu_fwd = wf_cuda_gelu_fwd;
    o.gelu_bwd = wf_cuda_gelu_bwd;
    o.swiglu_fwd = wf_cuda_swiglu_fwd;
    o.swiglu_bwd = wf_cuda_swiglu_bwd;
    o.dropout = wf_cuda_dropout;
    o.ia3_fwd = wf_cuda_ia3_fwd;
    o.ia3_bwd = wf_cuda_ia3_bwd;
    o.cast = wf_cuda_cast;
    o.layernorm_fwd = wf_cuda_layernorm_fwd;
    o.layernorm_bwd = wf_cuda_layernorm_bwd;
    o.rmsnorm_fwd = wf_cuda_rmsnorm_fwd;
    o.rmsnorm_bwd = wf_cuda_rmsnorm_bwd;
    o.rope_fwd = wf_cuda_rope_fwd;
    o.rope_bwd = wf_cuda_rope_bwd;
    o.tanh_fwd = wf_cuda_tanh_fwd;
    o.tanh_bwd = wf_cuda_tanh_bwd;
    o.mse = wf_cuda_mse;
    o.lora_fwd = wf_cuda_lora_fwd;
    o.lora_bwd = wf_cuda_lora_bwd;
    o.attention_fwd = wf_cuda_attention_fwd;
    o.attention_bwd = wf_cuda_attention_bwd;
    o.cross_entropy = wf_cuda_cross_entropy;
    o.grad_unscale_norm = wf_cuda_grad_unscale_norm;
    o.adamw = wf_cuda_adamw;
    o.step_end = wf_cuda_step_end;
    return o;
}

static const wf_ops cuda_ops = make_cuda_ops();

static wf_status cuda_alloc(wf_backend *be, size_t bytes, void **out) {
    (void)be;
    cudaError_t e = cudaMalloc(out, bytes);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError(); /* not sticky: clear it */
        return wf_error(WF_ERR_OOM, "cuda: out of device memory (cudaMalloc of %zu bytes)", bytes);
    }
    WF_CUDA_CHECK(e);
    return WF_OK;
}

static wf_status cuda_mem_free(wf_backend *be, size_t *bytes) {
    (void)be;
    size_t total = 0;
    WF_CUDA_CHECK(cudaMemGetInfo(bytes, &total));
    return WF_OK;
}

static void cuda_free(wf_backend *be, void *p) {
    (void)be;
    cudaFree(p);
}

static wf_status cuda_copy(wf_backend *be, void *dst, const void *src, size_t bytes,
                           wf_copy_kind k) {
    wf_cuda_impl *im = (wf_cuda_impl *)be->impl;
    cudaMemcpyKind kind = k == WF_COPY_H2D   ? cudaMemcpyHostToDevice
                          : k == WF_COPY_D2H ? cudaMemcpyDeviceToHost
                                             : cudaMemcpyDeviceToDevice;
    WF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, im->stream));
    if (k == WF_COPY_D2H) WF_CUDA_CHECK(cudaStreamSynchronize(im->stream)); /* host reads next */
    return WF_OK;
}

static wf_status cuda_memset(wf_backend *be, void *dst, int byte, size_t bytes) {
    wf_cuda_impl *im = (wf_cuda_impl *)be->impl;
    WF_CUDA_CHECK(cudaMemsetAsync(dst, byte, bytes, im->stream));
    return WF_OK;
}

static wf_status cuda_sync(wf_backend *be) {
    wf_cuda_impl *im = (wf_cuda_impl *)be->impl;
    WF_CUDA_CHECK(cudaStreamSynchronize(im->stream));
    return WF_OK;
}

static wf_status cuda_host_alloc(wf_backend *be, size_t bytes, void **out) {
    (void)be;
    WF_CUDA_CHECK(cudaHostAlloc(out, bytes, cudaHostAllocDefault));
    return WF_OK;
}

static void cuda_host_free(wf_backend *be, void *p) {
    (void)be;
    if (p) cudaFreeHost(p);
}

/* wf_event is a cudaEvent_t; no timing, so record and wait stay cheap. */
static wf_status cuda_event_create(wf_backend *be, wf_event **out) {
    (void)be;
    cudaEvent_t e;
    WF_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    *out = (wf_event *)e;
    return WF_OK;
}

static void cuda_event_destroy(wf_backend *be, wf_event *e) {
    (void)be;
    if (e) cudaEventDestroy((cudaEvent_t)e);
}

static wf_status cuda_event_record(wf_backend *be, wf_event *e) {
    wf_cuda_impl *im = (wf_cuda_impl *)be->impl;
    WF_CUDA_CHECK(cudaEventRecord((cudaEvent_t)e, im->stream));
    return WF_OK;
}

static wf_status cuda_event_wait(wf_backend *be, wf_event *e) {
    (void)be;
    WF_CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)e));
    return WF_OK;
}

/* A timing event (the op profiler's): recording it costs a little more than the others. */
static wf_status cuda_event_create_timed(wf_backend *be, wf_event **out) {
    (void)be;
    cudaEvent_t e;
    WF_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDefault));
    *out = (wf_event *)e;
    return WF_OK;
}

static wf_status cuda_event_elapsed(wf_backend *be, wf_event *start, wf_event *end, double *ms) {
    (void)be;
    float f = 0;
    WF_CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)end));
    WF_CUDA_CHECK(cudaEventElapsedTime(&f, (cudaEvent_t)start, (cudaEvent_t)end));
    *ms = f;
    return WF_OK;
}

static void cuda_close(wf_backend *be) {
    wf_cuda_impl *im = (wf_cuda_impl *)be->impl;
    if (im) {
        free(im->lt_plans);
        wf_slot_cache_free(&im->lt_cache);
        if (im->lt) cublasLtDestroy(im->lt);
        if (im->cublas) cublasDestroy(im->cublas);
        if (im->workspace) cudaFree(im->workspace);
        if (im->stream) cudaStreamDestroy(im->stream);
        free(im);
    }
    free(be);
}

extern "C" bool wf_cuda_backend_available(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

static wf_status cuda_init(wf_backend *be, int device) {
    int n = 0;
    WF_CUDA_CHECK(cudaGetDeviceCount(&n));
    if (device < 0 || device >= n)
        return wf_error(WF_ERR_INVALID, "cuda: device %d does not exist (%d visible)", device, n);
    WF_CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop;
    WF_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(be->device_name, sizeof be->device_name, "%.80s (sm_%d%d, %.1f GiB)", prop.name,
             prop.major, prop.minor, (double)prop.totalGlobalMem / (1 << 30));
    wf_cuda_impl *im = (wf_cuda_impl *)be->impl;
    WF_CUDA_CHECK(cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking));
    WF_CUBLAS_CHECK(cublasCreate(&im->cublas));
    WF_CUBLAS_CHECK(cublasSetStream(im->cublas, im->stream));
    WF_CUBLAS_CHECK(cublasLtCreate(&im->lt));
    /* the cuBLASLt plan cache: all its memory now, none in the step loop */
    WF_TRY(wf_slot_cache_init(&im->lt_cache, WF_LT_CACHE_SLOTS, sizeof(wf_lt_key)));
    im->lt_plans = (wf_lt_plan *)calloc(WF_LT_CACHE_SLOTS, sizeof *im->lt_plans);
    if (!im->lt_plans) return wf_error(WF_ERR_OOM, "cuda: cannot allocate the cuBLASLt plan cache");
    im->sm_count = prop.multiProcessorCount;
    /* Attention variant, read once here (bench_ops --variant sets it). */
    const char *att = getenv("WF_CUDA_ATTENTION");
    if (!att || strcmp(att, "flash") == 0) im->attention_variant = WF_ATT_FLASH;
    else if (strcmp(att, "simple") == 0) im->attention_variant = WF_ATT_SIMPLE;
    else if (strcmp(att, "flash-only") == 0) im->attention_variant = WF_ATT_FLASH_ONLY;
    else if (strcmp(att, "flash2") == 0) im->attention_variant = WF_ATT_FLASH2;
    else if (strcmp(att, "flash2-only") == 0) im->attention_variant = WF_ATT_FLASH2_ONLY;
    else
        return wf_error(WF_ERR_INVALID, "cuda: environment variable WF_CUDA_ATTENTION='%s' is "
                        "not 'flash', 'simple', 'flash-only', 'flash2' or 'flash2-only'", att);
    WF_TRY(wf_cuda_flash2_config_open(be, prop.major)); /* WF_FLASH2_CONFIG (attention.cu) */
    /* LoRA variant, read once here (bench_ops --variant lora=... sets it). */
    const char *lv = getenv("WF_CUDA_LORA");
    if (!lv || strcmp(lv, "composed") == 0) im->lora_variant = 0;
    else if (strcmp(lv, "fused") == 0) im->lora_variant = 1;
    else
        return wf_error(WF_ERR_INVALID, "cuda: environment variable WF_CUDA_LORA='%s' is not "
                                        "'composed' or 'fused'", lv);
    /* One workspace, set up front, so cuBLAS never allocates inside the step loop (and a step can
     * be captured in a CUDA graph); cuBLASLt calls get the same one (same stream, in order). */
    WF_CUDA_CHECK(cudaMalloc(&im->workspace, WF_CUBLAS_WORKSPACE));
    im->workspace_bytes = WF_CUBLAS_WORKSPACE;
    WF_CUBLAS_CHECK(cublasSetWorkspace(im->cublas, im->workspace, im->workspace_bytes));
    /* Host scalars; no TF32 (math mode default), and split-K reductions in fp32, never in a
     * bf16/fp16 output's precision. */
    WF_CUBLAS_CHECK(cublasSetPointerMode(im->cublas, CUBLAS_POINTER_MODE_HOST));
    WF_CUBLAS_CHECK(cublasSetMathMode(
        im->cublas,
        (cublasMath_t)(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    return WF_OK;
}

extern "C" void *wf_cuda_backend_stream(wf_backend *be) { return (void *)wf_cuda_stream(be); }

extern "C" void wf_cuda_backend_lt_stats(wf_backend *be, int64_t *hits, int64_t *misses,
                                         int64_t *evictions) {
    const wf_cuda_impl *im = wf_cuda_impl_of(be);
    *hits = im->lt_hits, *misses = im->lt_misses, *evictions = im->lt_cache.evictions;
}

extern "C" wf_status wf_cuda_backend_open(const wf_backend_options *opt, wf_backend **out) {
    wf_backend *be = (wf_backend *)calloc(1, sizeof *be);
    wf_cuda_impl *im = (wf_cuda_impl *)calloc(1, sizeof *im);
    if (!be || !im) {
        free(be), free(im);
        return wf_error(WF_ERR_OOM, "cuda: cannot allocate the backend");
    }
    be->name = "cuda";
    be->device = opt ? opt->device : 0;
    be->ops = &cuda_ops;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->copy = cuda_copy;
    be->memset = cuda_memset;
    be->sync = cuda_sync;
    be->host_alloc = cuda_host_alloc;
    be->host_free = cuda_host_free;
    be->event_create = cuda_event_create;
    be->event_destroy = cuda_event_destroy;
    be->event_record = cuda_event_record;
    be->event_wait = cuda_event_wait;
    be->event_create_timed = cuda_event_create_timed;
    be->event_elapsed = cuda_event_elapsed;
    be->mem_free = cuda_mem_free;
    be->close = cuda_close;
    be->impl = im;
    wf_status s = cuda_init(be, be->device);
    if (s != WF_OK) {
        cuda_close(be);
        return s;
    }
    *out = be;
    return WF_OK;
}
