/* Device-side helpers shared by the CUDA kernels: fp32 load/store of every float dtype (round to
 * nearest even on store, as MATH.md "Numbers" and dtype.h), the runtime-dtype-to-type dispatch,
 * grid sizing and alignment tests. Kernels compute in fp32 whatever the storage dtype. */
#ifndef WEFT_KERNELS_CUDA_COMMON_CUH
#define WEFT_KERNELS_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "backend_cuda.cuh"
#include "launch.cuh"
#include "tuning.cuh"

__device__ __forceinline__ float wf_to_f32(float v) { return v; }
__device__ __forceinline__ float wf_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float wf_to_f32(__half v) { return __half2float(v); }

/* fp32 -> T, round to nearest even (cvt.rn); NaN stays NaN, fp16 overflow gives inf. */
template <typename T> __device__ __forceinline__ T wf_from_f32(float v);
template <> __device__ __forceinline__ float wf_from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 wf_from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}
template <> __device__ __forceinline__ __half wf_from_f32<__half>(float v) {
    return __float2half_rn(v);
}

/* Calls f(T{}) with T the C++ type of float dtype dt, so one templated body serves f32, bf16 and
 * fp16:  return wf_cuda_by_dtype("op", dt, [&](auto tag) { using T = decltype(tag); ... });  */
template <class F> static inline wf_status wf_cuda_by_dtype(const char *op, wf_dtype dt, F &&f) {
    switch (dt) {
    case WF_F32: return f(float{});
    case WF_BF16: return f(__nv_bfloat16{});
    case WF_F16: return f(__half{});
    default:
        return wf_error(WF_ERR_UNSUPPORTED, "op %s on backend 'cuda': dtype %s is not a float "
                                            "dtype", op, wf_dtype_name(dt));
    }
}

/* Blocks for a grid-stride loop over `items` work items: enough to cover them, at most a few
 * waves of resident blocks (a larger grid only adds scheduling). At least 1; the caller skips
 * the launch when there is no work (a 0-block launch is an error). */
static inline unsigned wf_cuda_grid(const wf_backend *be, int64_t items, int block) {
    int64_t want = (items + block - 1) / block;
    int64_t cap = (int64_t)wf_cuda_impl_of(be)->sm_count * WF_EW_BLOCKS_PER_SM;
    if (cap < 1) cap = 1;
    if (want > cap) want = cap;
    return (unsigned)(want < 1 ? 1 : want);
}

static inline bool wf_cuda_aligned(const void *p, size_t bytes) {
    return p == NULL || (uintptr_t)p % bytes == 0;
}

/* Global thread index and stride of a 1-D grid, in int64 (tensors may exceed 2^31 elements). */
__device__ __forceinline__ int64_t wf_tid(void) {
    return (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t wf_nthreads(void) { return (int64_t)gridDim.x * blockDim.x; }

#endif
