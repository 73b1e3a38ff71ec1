/* Softmax cross-entropy fused with its backward on the GPU (ops.h wf_cross_entropy; MATH.md
 * "Loss"). One block per row (grid-stride over rows). The log-sum-exp streams over the
 * vocabulary: each thread folds its logits (one per WF_ROW_BLOCK-wide chunk) into a running
 * (max, sum of exp(z - max)), rescaling its sum when the max grows (the online softmax of
 * FlashAttention, as kernels/cpu/cross_entropy.c does per 4096-logit chunk); the threads' pairs
 * are then combined in a fixed order (reduce.cuh). fp32 throughout; the CPU sums in double, so
 * the two differ by fp32 rounding of the sum. dlogits takes one more pass and may alias logits:
 * every thread reads z[target] before the first barrier, and writes only elements it read.
 * A target outside [0, V) (the CPU rejects it on the host; device data cannot be checked without
 * a sync) gives loss NaN and a NaN dlogits row, so it cannot pass unnoticed. */
#include "reduce.cuh"

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
        float m = -INFINITY, s = 0.0f;
        for (int64_t j = threadIdx.x; j < v; j += WF_ROW_BLOCK) {
            float x = wf_to_f32(z[j]);
            if (x > m) { /* a -inf max adds nothing (exp(-inf - -inf) would be NaN) */
                s = (m == -INFINITY ? 0.0f : s * expf(m - x)) + 1.0f;
                m = x;
            } else if (m != -INFINITY) {
                s += expf(x - m); /* NaN x lands here and makes the row NaN */
            }
        }
        const float mx = wf_block_max<WF_ROW_BLOCK>(m, sh);
        const float mine = m == -INFINITY ? 0.0f : s * expf(m - mx);
        const float sum = wf_block_sum<WF_ROW_BLOCK, float>(mine, sh);
        if (threadIdx.x == 0) losses[r] = valid ? mx + logf(sum) - zt : nan;
        if (!d) continue;
        const float inv = 1.0f / sum;
        for (int64_t j = threadIdx.x; j < v; j += WF_ROW_BLOCK) {
            float p = expf(wf_to_f32(z[j]) - mx) * inv;
            float g = !valid ? nan : j == t ? p - 1.0f : p;
            d[j] = wf_from_f32<T>(dscale * g);
        }
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
