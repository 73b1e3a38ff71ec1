/* Softmax cross-entropy fused with its backward on the GPU (ops.h wf_cross_entropy; MATH.md
 * "Loss"). One block per row (grid-stride over rows). The log-sum-exp streams over the
 * vocabulary: each thread folds its logits (see the grouping below) into a running
 * (max, sum of exp(z - max)), rescaling its sum when the max grows (the online softmax of
 * FlashAttention, as kernels/cpu/cross_entropy.c does per 4096-logit chunk); the threads' pairs
 * are then combined in a fixed order (reduce.cuh). A row is read in groups of P = 16 / sizeof(T)
 * adjacent logits (one 16-byte load when the row is 16-byte aligned, P scalar loads otherwise:
 * the same values in the same order either way); thread t folds groups t, t + WF_ROW_BLOCK, ...,
 * each group's logits in index order, so the order depends on V, the dtype and WF_ROW_BLOCK
 * only. fp32 throughout; the CPU sums in double, so the two differ by fp32 rounding of the sum.
 * dlogits takes one more pass and may alias logits: every thread reads z[target] before the
 * first barrier, and writes only elements it read (its own groups).
 * A target outside [0, V) (the CPU rejects it on the host; device data cannot be checked without
 * a sync) gives loss NaN and a NaN dlogits row, so it cannot pass unnoticed. */
#include "elementwise.cuh"
#include "reduce.cuh"

/* Logits a group holds: one 16-byte pack. */
template <typename T> __host__ __device__ constexpr int ce_group() { return 16 / (int)sizeof(T); }

/* Group g of row z (V logits) as a raw pack, and how many of its logits exist (P but for the
 * last group); one 16-byte load when vec (the row is 16-byte aligned) and the group is whole,
 * else element by element (the missing ones zero, never used). cnt 0: g is past the row. */
template <typename T>
__device__ __forceinline__ wf_pack<T> ce_load(const T *z, int64_t v, int64_t g, bool vec,
                                              int *cnt) {
    constexpr int P = ce_group<T>();
    const int64_t j0 = g * P;
    *cnt = j0 >= v ? 0 : v - j0 < P ? (int)(v - j0) : P;
    wf_pack<T> p;
    if (vec && *cnt == P) return *reinterpret_cast<const wf_pack<T> *>(z + j0);
#pragma unroll
    for (int e = 0; e < P; e++) p.v[e] = e < *cnt ? z[j0 + e] : wf_from_f32<T>(0.0f);
    return p;
}

/* Folds logit x into a thread's running (max m, sum s of exp(z - m)). */
__device__ __forceinline__ void ce_fold(float &m, float &s, float x) {
    if (x > m) { /* a -inf max adds nothing (exp(-inf - -inf) would be NaN) */
        s = (m == -INFINITY ? 0.0f : s * expf(m - x)) + 1.0f;
        m = x;
    } else if (m != -INFINITY) {
        s += expf(x - m); /* NaN x lands here and makes the row NaN */
    }
}

/* Pass 1 over a row: this thread's (m, s) over its groups t, t + B, t + 2B, ... (B =
 * WF_ROW_BLOCK), each group's logits in index order. WF_CE_LOADS groups are loaded before any
 * of them is folded (loads in flight while the fold's dependent chain runs); the fold order is
 * the same for any WF_CE_LOADS. */
template <typename T>
__device__ __forceinline__ void ce_row_max_sum(const T *z, int64_t v, bool vec, float &m,
                                               float &s) {
    constexpr int P = ce_group<T>(), U = WF_CE_LOADS;
    const int64_t groups = (v + P - 1) / P;
    m = -INFINITY, s = 0.0f;
    for (int64_t g0 = threadIdx.x; g0 < groups; g0 += (int64_t)U * WF_ROW_BLOCK) {
        wf_pack<T> raw[U];
        int cnt[U];
#pragma unroll
        for (int u = 0; u < U; u++) raw[u] = ce_load(z, v, g0 + (int64_t)u * WF_ROW_BLOCK, vec, &cnt[u]);
#pragma unroll
        for (int u = 0; u < U; u++)
#pragma unroll
            for (int e = 0; e < P; e++)
                if (e < cnt[u]) ce_fold(m, s, wf_to_f32(raw[u].v[e]));
    }
}

/* Pass 2 over a row: d = dscale * (softmax(z) - onehot(t)) (NaN where the target is invalid),
 * over the same groups as pass 1. A thread writes only its own groups after reading them, so d
 * may alias z. */
template <typename T>
__device__ __forceinline__ void ce_row_grad(T *d, const T *z, int64_t v, bool zvec, bool dvec,
                                            float mx, float inv, int64_t t, bool valid,
                                            float dscale) {
    constexpr int P = ce_group<T>(), U = WF_CE_LOADS;
    const float nan = __int_as_float(0x7fc00000);
    const int64_t groups = (v + P - 1) / P;
    for (int64_t g0 = threadIdx.x; g0 < groups; g0 += (int64_t)U * WF_ROW_BLOCK) {
        wf_pack<T> raw[U];
        int cnt[U];
#pragma unroll
        for (int u = 0; u < U; u++)
            raw[u] = ce_load(z, v, g0 + (int64_t)u * WF_ROW_BLOCK, zvec, &cnt[u]);
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t j0 = (g0 + (int64_t)u * WF_ROW_BLOCK) * P;
            wf_pack<T> out;
#pragma unroll
            for (int e = 0; e < P; e++) {
                const float p = expf(wf_to_f32(raw[u].v[e]) - mx) * inv;
                const float gr = !valid ? nan : j0 + e == t ? p - 1.0f : p;
                out.v[e] = wf_from_f32<T>(dscale * gr);
            }
            if (dvec && cnt[u] == P) {
                *reinterpret_cast<wf_pack<T> *>(d + j0) = out;
            } else { /* unrolled with a predicate: out stays in registers */
#pragma unroll
                for (int e = 0; e < P; e++)
                    if (e < cnt[u]) d[j0 + e] = out.v[e];
            }
        }
    }
}

template <typename T>
__global__ void __launch_bounds__(WF_ROW_BLOCK)
    cross_entropy_kernel(float *losses, T *dlogits, const T *logits, const int32_t *targets,
                         int64_t n, int64_t v, int32_t ignore, float dscale, const float *mul) {
    __shared__ float sh[WF_ROW_BLOCK / 32];
    if (dlogits && mul) dscale *= *mul; /* the loss scale, read on the device: no host sync */
    const float nan = __int_as_float(0x7fc00000);
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const T *z = logits + r * v;
        T *d = dlogits ? dlogits + r * v : NULL;
        const int32_t t = targets[r];
        if (t == ignore) {
            if (threadIdx.x == 0) losses[r] = 0.0f;
            for (int64_t j = threadIdx.x; d && j < v; j += WF_ROW_BLOCK)
                d[j] = wf_from_f32<T>(0.0f);
            continue; /* uniform over the block: no thread reaches a barrier the others skip */
        }
        const bool valid = t >= 0 && (int64_t)t < v;
        const float zt = valid ? wf_to_f32(z[t]) : nan; /* before any write to d (maybe z) */
        const bool zvec = ((uintptr_t)z & 15) == 0, dvec = ((uintptr_t)d & 15) == 0;
        float m, s;
        ce_row_max_sum(z, v, zvec, m, s);
        const float mx = wf_block_max<WF_ROW_BLOCK>(m, sh);
        const float mine = m == -INFINITY ? 0.0f : s * expf(m - mx);
        const float sum = wf_block_sum<WF_ROW_BLOCK, float>(mine, sh);
        if (threadIdx.x == 0) losses[r] = valid ? mx + logf(sum) - zt : nan;
        if (d) ce_row_grad(d, z, v, zvec, dvec, mx, 1.0f / sum, t, valid, dscale);
    }
}

extern "C" wf_status wf_cuda_cross_entropy(wf_backend *be, const wf_cross_entropy *ce) {
    int64_t n = ce->logits->shape[0], v = ce->logits->shape[1];
    if (n <= 0) return WF_OK;
    return wf_cuda_by_dtype("cross_entropy", ce->logits->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, n, 1), WF_ROW_BLOCK, 0, wf_cuda_stream(be),
                  cross_entropy_kernel<T>)(
            (float *)ce->losses->data, ce->dlogits ? (T *)ce->dlogits->data : (T *)NULL,
            (const T *)ce->logits->data, (const int32_t *)ce->targets->data, n, v,
            ce->ignore_index, ce->dscale, ce->dscale_mul);
        WF_CUDA_LAUNCHED("cross_entropy");
        return WF_OK;
    });
}
