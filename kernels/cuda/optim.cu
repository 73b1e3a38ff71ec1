/* The optimizer-step ops on the GPU (ops.h; MATH.md "Optimiser and scaling"): gradient unscale +
 * sum of squares + finite check, fused AdamW, and the end-of-step scaler update. The
 * wf_step_state lives in device memory and is read and written only by these kernels, so a
 * step needs no host sync (fp16 loss scaling included). The sum of squares is deterministic:
 * fixed chunks of WF_GN_CHUNK elements get a partial each (fp64, fixed order inside a block),
 * then one block adds the partials in a fixed order. References: kernels/cpu/grad_norm.c,
 * adamw.c, step_end.c. */
#include "reduce.cuh"

/* Pass 1: chunk b of g (n) is unscaled in place (when loss_scale != 1), its sum of squares goes
 * to partial[b] and "has a non-finite value" to bad[b]. */
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    grad_norm_partial_kernel(float *g, int64_t n, int64_t nchunks, const wf_step_state *st,
                             double *partial, int32_t *bad) {
    __shared__ double sh[WF_ROW_BLOCK / 32];
    const float scale = st->loss_scale;
    const bool unscale = scale != 1.0f;
    const float inv = 1.0f / scale; /* the fp32 reciprocal, as PyTorch's unscale */
    for (int64_t b = blockIdx.x; b < nchunks; b += gridDim.x) {
        int64_t lo = b * WF_GN_CHUNK, hi = lo + WF_GN_CHUNK < n ? lo + WF_GN_CHUNK : n;
        double s = 0.0;
        int nonfinite = 0;
        for (int64_t i = lo + threadIdx.x; i < hi; i += WF_ROW_BLOCK) {
            float x = g[i];
            if (unscale) g[i] = x = x * inv;
            nonfinite |= !isfinite(x);
            s += (double)x * (double)x;
        }
        s = wf_block_sum<WF_ROW_BLOCK, double>(s, sh);
        nonfinite = __syncthreads_or(nonfinite);
        if (threadIdx.x == 0) partial[b] = s, bad[b] = nonfinite;
    }
}

/* Pass 2, one block: the partials in a fixed order into st->grad_sumsq ("+="), any bad chunk
 * into st->found_inf. */
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    grad_norm_finish_kernel(const double *partial, const int32_t *bad, int64_t nchunks,
                            wf_step_state *st) {
    __shared__ double sh[WF_ROW_BLOCK / 32];
    double s = 0.0;
    int any = 0;
    for (int64_t b = threadIdx.x; b < nchunks; b += WF_ROW_BLOCK) s += partial[b], any |= bad[b];
    s = wf_block_sum<WF_ROW_BLOCK, double>(s, sh);
    any = __syncthreads_or(any);
    if (threadIdx.x == 0) {
        st->grad_sumsq = (float)((double)st->grad_sumsq + s);
        if (any) st->found_inf = 1;
    }
}

extern "C" wf_status wf_cuda_grad_unscale_norm(wf_backend *be, wf_tensor *g, wf_step_state *st) {
    const int64_t n = wf_tensor_numel(g), nchunks = (n + WF_GN_CHUNK - 1) / WF_GN_CHUNK;
    if (n <= 0) return WF_OK;
    cudaStream_t stream = wf_cuda_stream(be);
    size_t mark = wf_arena_mark(&be->scratch);
    void *partial = NULL, *bad = NULL;
    wf_status s = wf_arena_alloc(&be->scratch, (size_t)nchunks * sizeof(double), &partial);
    if (s == WF_OK) s = wf_arena_alloc(&be->scratch, (size_t)nchunks * sizeof(int32_t), &bad);
    if (s == WF_OK) {
        WF_LAUNCH(wf_cuda_grid(be, nchunks, 1), WF_ROW_BLOCK, 0, stream, grad_norm_partial_kernel)(
            (float *)g->data, n, nchunks, st, (double *)partial, (int32_t *)bad);
        s = WF_CUDA_LAUNCH_STATUS("grad_unscale_norm");
    }
    if (s == WF_OK) {
        WF_LAUNCH(1, WF_ROW_BLOCK, 0, stream, grad_norm_finish_kernel)(
            (const double *)partial, (const int32_t *)bad, nchunks, st);
        s = WF_CUDA_LAUNCH_STATUS("grad_unscale_norm");
    }
    wf_arena_reset(&be->scratch, mark);
    return s;
}

/* The step's scalars from the state and the hyperparameters (the clip coefficient needs
 * grad_sumsq, which only the device has), as kernels/cpu/adamw.c: double math rounded to fp32
 * once, as PyTorch does with its Python-float scalars. */
struct adamw_scalars {
    int32_t skip; /* the step found a non-finite gradient: change nothing */
    float clip, decay, b1, omb1, b2, omb2, step_size, bc2_sqrt, eps;
};

__device__ adamw_scalars adamw_prepare(const wf_adamw_hparams &hp, const wf_step_state *st) {
    adamw_scalars s;
    s.skip = st->found_inf != 0;
    s.clip = 1.0f;
    if (hp.max_grad_norm > 0.0f) {
        float c = hp.max_grad_norm / (sqrtf(st->grad_sumsq) + 1e-6f);
        if (c < 1.0f) s.clip = c;
    }
    double t = (double)st->opt_step + 1.0;
    double bc1 = 1.0 - pow((double)hp.beta1, t), bc2 = 1.0 - pow((double)hp.beta2, t);
    s.decay = (float)(1.0 - (double)hp.lr * (double)hp.weight_decay);
    s.b1 = hp.beta1, s.b2 = hp.beta2, s.eps = hp.eps;
    s.omb1 = (float)(1.0 - (double)hp.beta1);
    s.omb2 = (float)(1.0 - (double)hp.beta2);
    s.step_size = (float)((double)hp.lr / bc1);
    s.bc2_sqrt = (float)sqrt(bc2);
    return s;
}

/* One element, torch.optim.AdamW's single-tensor path (see adamw.c); p, m, v in place. */
__device__ __forceinline__ void adamw_one(const adamw_scalars &s, float &p, float g, float &m,
                                          float &v, bool decay) {
    float gi = g * s.clip;
    if (decay) p *= s.decay;
    /* torch.lerp(m, g, w), w = 1 - b1, in its two forms */
    m = s.omb1 < 0.5f ? m + s.omb1 * (gi - m) : gi - (gi - m) * (1.0f - s.omb1);
    v = v * s.b2 + s.omb2 * gi * gi;
    p -= s.step_size * m / (sqrtf(v) / s.bc2_sqrt + s.eps);
}

/* Fused AdamW, one launch. Each block's thread 0 derives the step scalars from the state (a few
 * double operations, cheaper than a second launch). The bulk runs in packs of 4 elements: 16-byte
 * loads and stores of p, g, m, v (8 bytes of p_lowp), when the caller found every buffer aligned
 * (vec4); the last n % 4 elements (or all, unaligned) go one by one. Memory-bound: 30 bytes per
 * element with a bf16 copy (p, g, m, v read; p, m, v, p_lowp written). The old version read the
 * scalars from a buffer a one-thread kernel wrote, and moved 4-byte words: several times slower
 * on Hopper, whose copy bandwidth needs wide accesses and many bytes in flight per thread. */
template <typename L>
__global__ void __launch_bounds__(WF_ADAMW_BLOCK)
    adamw_kernel(float *p, const float *g, float *m, float *v, L *p_lowp, int64_t n,
                 int64_t n_decay, wf_adamw_hparams hp, const wf_step_state *st, bool vec4) {
    __shared__ adamw_scalars sh;
    if (threadIdx.x == 0) sh = adamw_prepare(hp, st);
    __syncthreads();
    const adamw_scalars s = sh;
    if (s.skip) return;
    const int64_t nvec = vec4 ? n / 4 : 0;
    for (int64_t k = wf_tid(); k < nvec; k += wf_nthreads()) {
        const int64_t i = 4 * k;
        float4 pv = reinterpret_cast<float4 *>(p)[k], mv = reinterpret_cast<float4 *>(m)[k];
        float4 vv = reinterpret_cast<float4 *>(v)[k];
        const float4 gv = __ldg(reinterpret_cast<const float4 *>(g) + k);
        adamw_one(s, pv.x, gv.x, mv.x, vv.x, i < n_decay);
        adamw_one(s, pv.y, gv.y, mv.y, vv.y, i + 1 < n_decay);
        adamw_one(s, pv.z, gv.z, mv.z, vv.z, i + 2 < n_decay);
        adamw_one(s, pv.w, gv.w, mv.w, vv.w, i + 3 < n_decay);
        reinterpret_cast<float4 *>(p)[k] = pv, reinterpret_cast<float4 *>(m)[k] = mv;
        reinterpret_cast<float4 *>(v)[k] = vv;
        if (p_lowp) {
            struct alignas(8) pack4 { L x[4]; } o;
            o.x[0] = wf_from_f32<L>(pv.x), o.x[1] = wf_from_f32<L>(pv.y);
            o.x[2] = wf_from_f32<L>(pv.z), o.x[3] = wf_from_f32<L>(pv.w);
            reinterpret_cast<pack4 *>(p_lowp)[k] = o;
        }
    }
    for (int64_t i = 4 * nvec + wf_tid(); i < n; i += wf_nthreads()) {
        float pi = p[i], mi = m[i], vi = v[i];
        adamw_one(s, pi, g[i], mi, vi, i < n_decay);
        p[i] = pi, m[i] = mi, v[i] = vi;
        if (p_lowp) p_lowp[i] = wf_from_f32<L>(pi);
    }
}

extern "C" wf_status wf_cuda_adamw(wf_backend *be, wf_tensor *p, const wf_tensor *g, wf_tensor *m,
                                   wf_tensor *v, wf_tensor *p_lowp, int64_t n_decay,
                                   const wf_adamw_hparams *hp, const wf_step_state *st) {
    const int64_t n = wf_tensor_numel(p);
    if (n <= 0) return WF_OK;
    cudaStream_t stream = wf_cuda_stream(be);
    const bool vec4 = wf_cuda_aligned(p->data, 16) && wf_cuda_aligned(g->data, 16) &&
                      wf_cuda_aligned(m->data, 16) && wf_cuda_aligned(v->data, 16) &&
                      (!p_lowp || wf_cuda_aligned(p_lowp->data, 8));
    const int64_t items = vec4 ? (n + 3) / 4 : n;
    /* p_lowp's dtype picks the kernel; fp32 stands for "none" (the pointer is NULL then) */
    wf_dtype ldt = p_lowp ? p_lowp->dtype : WF_F32;
    return wf_cuda_by_dtype("adamw", ldt, [&](auto tag) {
        using L = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, items, WF_ADAMW_BLOCK), WF_ADAMW_BLOCK, 0, stream,
                  adamw_kernel<L>)(
            (float *)p->data, (const float *)g->data, (float *)m->data, (float *)v->data,
            p_lowp ? (L *)p_lowp->data : (L *)NULL, n, n_decay, *hp, st, vec4);
        return WF_CUDA_LAUNCH_STATUS("adamw");
    });
}

/* One thread: step_end.c's logic on the device-resident state (GradScaler's
 * _amp_update_scale_: backoff on inf, growth after `interval` clean steps unless it overflows). */
__global__ void __launch_bounds__(32) step_end_kernel(wf_step_state *st, wf_scaler_hparams sh) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    st->last_grad_norm = sqrtf(st->grad_sumsq);
    st->last_skipped = st->found_inf != 0;
    if (st->found_inf) {
        st->skipped_steps++;
        if (sh.dynamic) {
            st->loss_scale *= sh.backoff;
            st->growth_tracker = 0;
        }
    } else {
        st->opt_step++;
        if (sh.dynamic && ++st->growth_tracker >= sh.interval) {
            float grown = st->loss_scale * sh.growth;
            if (isfinite(grown)) st->loss_scale = grown;
            st->growth_tracker = 0;
        }
    }
    st->grad_sumsq = 0.0f;
    st->found_inf = 0;
}

extern "C" wf_status wf_cuda_step_end(wf_backend *be, wf_step_state *st,
                                      const wf_scaler_hparams *sh) {
    WF_LAUNCH(1, 32, 0, wf_cuda_stream(be), step_end_kernel)(st, *sh);
    WF_CUDA_LAUNCHED("step_end");
    return WF_OK;
}
