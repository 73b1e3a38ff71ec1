/* RoPE on the GPU, HF half-split layout (MATH.md "RoPE"): the pair (x_j, x_{j+D/2}) of every
 * head of token n rotates by a = pos[n] * inv_freq[j] (backward: by -a). The angle is the fp32
 * product and cos/sin are the full-precision cosf/sinf of it, as HF and kernels/cpu/rope.c.
 * One thread per pair (grid-stride, int64 indices); y may alias x since a pair is read by the
 * thread that writes it, before it writes. */
#include "common.cuh"

template <typename T>
__global__ void __launch_bounds__(WF_EW_BLOCK)
    rope_kernel(T *y, const T *x, const int32_t *pos, const float *inv_freq, int64_t n, int64_t h,
                int64_t d, float sign) {
    int64_t half = d / 2, pairs = n * h * half;
    for (int64_t p = wf_tid(); p < pairs; p += wf_nthreads()) {
        int64_t j = p % half, row = p / half; /* row = token * H + head */
        int64_t tok = row / h;
        float a = (float)pos[tok] * inv_freq[j];
        float cs = cosf(a), sn = sign * sinf(a);
        int64_t i1 = row * d + j, i2 = i1 + half;
        float x1 = wf_to_f32(x[i1]), x2 = wf_to_f32(x[i2]);
        y[i1] = wf_from_f32<T>(x1 * cs - x2 * sn);
        y[i2] = wf_from_f32<T>(x2 * cs + x1 * sn);
    }
}

static wf_status rope_launch(wf_backend *be, const char *op, wf_tensor *y, const wf_tensor *x,
                             const wf_tensor *pos, const wf_tensor *inv_freq, float sign) {
    int64_t n = x->shape[0], h = x->shape[1], d = x->shape[2];
    int64_t pairs = n * h * (d / 2);
    if (pairs <= 0) return WF_OK;
    return wf_cuda_by_dtype(op, x->dtype, [&](auto tag) {
        using T = decltype(tag);
        WF_LAUNCH(wf_cuda_grid(be, pairs, WF_EW_BLOCK), WF_EW_BLOCK, 0,
                         wf_cuda_stream(be), rope_kernel<T>)((T *)y->data, (const T *)x->data,
                                               (const int32_t *)pos->data,
                                               (const float *)inv_freq->data, n, h, d, sign);
        WF_CUDA_LAUNCHED(op);
        return WF_OK;
    });
}

extern "C" wf_status wf_cuda_rope_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x,
                                      const wf_tensor *pos, const wf_tensor *inv_freq) {
    return rope_launch(be, "rope_fwd", y, x, pos, inv_freq, 1.0f);
}

extern "C" wf_status wf_cuda_rope_bwd(wf_backend *be, wf_tensor *dx, const wf_tensor *dy,
                                      const wf_tensor *pos, const wf_tensor *inv_freq) {
    return rope_launch(be, "rope_bwd", dx, dy, pos, inv_freq, -1.0f);
}
