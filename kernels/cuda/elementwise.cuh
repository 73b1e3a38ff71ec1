/* The generic elementwise kernel behind add, GELU, SwiGLU and IA3 forward: NI inputs and NO
 * outputs of one dtype T and one length n, a functor computing outputs from inputs in fp32.
 * When every pointer is 16-byte aligned the kernel moves 16-byte packs (4 fp32 or 8 bf16/fp16)
 * and finishes the n % pack tail element by element; otherwise it goes element by element.
 * An output may alias an input (add's out = a): each element is read and then written by the
 * same thread, all inputs before any output. */
#ifndef WEFT_KERNELS_CUDA_ELEMENTWISE_CUH
#define WEFT_KERNELS_CUDA_ELEMENTWISE_CUH

#include "common.cuh"

template <typename T> struct alignas(16) wf_pack {
    T v[16 / sizeof(T)];
};

template <typename T, int NI, int NO> struct wf_ew_args {
    const T *in[NI];
    T *out[NO];
    int64_t n;
};

/* f(i, x, y): element i, inputs x[NI] (fp32), outputs y[NO] (fp32) to store. */
template <typename T, int NI, int NO, class F>
__device__ __forceinline__ void wf_ew_one(const wf_ew_args<T, NI, NO> &a, const F &f, int64_t i) {
    float x[NI], y[NO];
#pragma unroll
    for (int j = 0; j < NI; j++) x[j] = wf_to_f32(a.in[j][i]);
    f(i, x, y);
#pragma unroll
    for (int j = 0; j < NO; j++) a.out[j][i] = wf_from_f32<T>(y[j]);
}

template <typename T, int NI, int NO, class F>
__global__ void __launch_bounds__(WF_EW_BLOCK)
    wf_ew_kernel(wf_ew_args<T, NI, NO> a, bool packed, F f) {
    constexpr int P = 16 / (int)sizeof(T);
    int64_t tid = wf_tid(), stride = wf_nthreads();
    int64_t npack = packed ? a.n / P : 0;
    for (int64_t p = tid; p < npack; p += stride) {
        wf_pack<T> vi[NI], vo[NO];
#pragma unroll
        for (int j = 0; j < NI; j++) vi[j] = reinterpret_cast<const wf_pack<T> *>(a.in[j])[p];
#pragma unroll
        for (int e = 0; e < P; e++) {
            float x[NI], y[NO];
#pragma unroll
            for (int j = 0; j < NI; j++) x[j] = wf_to_f32(vi[j].v[e]);
            f(p * P + e, x, y);
#pragma unroll
            for (int j = 0; j < NO; j++) vo[j].v[e] = wf_from_f32<T>(y[j]);
        }
#pragma unroll
        for (int j = 0; j < NO; j++) reinterpret_cast<wf_pack<T> *>(a.out[j])[p] = vo[j];
    }
    for (int64_t i = npack * P + tid; i < a.n; i += stride) wf_ew_one(a, f, i);
}

/* Launches the kernel over n elements on the backend's stream and checks the launch. */
template <typename T, int NI, int NO, class F>
static wf_status wf_ew_launch(wf_backend *be, const char *op, const wf_ew_args<T, NI, NO> &a, F f) {
    if (a.n <= 0) return WF_OK;
    bool packed = true;
    for (int j = 0; j < NI; j++) packed = packed && wf_cuda_aligned(a.in[j], 16);
    for (int j = 0; j < NO; j++) packed = packed && wf_cuda_aligned(a.out[j], 16);
    constexpr int P = 16 / (int)sizeof(T);
    int64_t items = packed ? a.n / P + a.n % P : a.n;
    WF_LAUNCH(wf_cuda_grid(be, items, WF_EW_BLOCK), WF_EW_BLOCK, 0,
                                 wf_cuda_stream(be), wf_ew_kernel<T, NI, NO, F>)(a, packed, f);
    WF_CUDA_LAUNCHED(op);
    return WF_OK;
}

#endif
