/* Block-wide reductions in a fixed order, for the row kernels (norms, cross-entropy, grad norm):
 * each warp reduces with a butterfly of shuffles, then every thread adds the warp results in
 * warp order, so all threads get the same value and the order depends only on the block size
 * (a compile-time constant, tuning.cuh), never on scheduling. No atomics. */
#ifndef WEFT_KERNELS_CUDA_REDUCE_CUH
#define WEFT_KERNELS_CUDA_REDUCE_CUH

#include "common.cuh"

/* Sum of v over a block of BLOCK threads, in A (float, or double for the gradient norm); sh holds
 * BLOCK/32 values of shared memory. Every thread of the block must call it (it synchronizes). */
template <int BLOCK, typename A> __device__ __forceinline__ A wf_block_sum(A v, A *sh) {
    static_assert(BLOCK % 32 == 0 && BLOCK <= 1024, "block of whole warps");
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads(); /* sh may still be read by a previous call */
    if (threadIdx.x % 32 == 0) sh[threadIdx.x / 32] = v;
    __syncthreads();
    A s = 0;
#pragma unroll
    for (int w = 0; w < BLOCK / 32; w++) s += sh[w];
    return s;
}

/* Max of v over the block, as wf_block_sum (max is order-independent; NaN is not propagated by
 * fmaxf, callers that care test for it separately). */
template <int BLOCK> __device__ __forceinline__ float wf_block_max(float v, float *sh) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if (threadIdx.x % 32 == 0) sh[threadIdx.x / 32] = v;
    __syncthreads();
    float m = sh[0];
#pragma unroll
    for (int w = 1; w < BLOCK / 32; w++) m = fmaxf(m, sh[w]);
    return m;
}

#endif
