/* Warp-level tensor-core helpers for the tiled kernels (attention_flash.cuh): the sm_80+
 * mma.sync.m16n8k16 (bf16 or fp16 inputs, fp32 accumulators), ldmatrix, and the packing of two
 * 16-bit values into the 32-bit registers the fragments are made of, and cp.async (sm_80+)
 * for tiles loaded while the previous one is computed on. Fragment layouts (PTX ISA,
 * "Matrix Fragments for mma.m16n8k16"), with g = lane / 4 and t = lane % 4:
 *   A (16x16, row-major): a[0] = A[g][2t..2t+1], a[1] = A[g+8][2t..], a[2] = A[g][2t+8..],
 *                         a[3] = A[g+8][2t+8..]  (the lower column in the low half)
 *   B (16x8, B[k][n]):    b[0] = B[2t..2t+1][g], b[1] = B[2t+8..2t+9][g]
 *   C (16x8, fp32):       c[0..1] = C[g][2t..2t+1], c[2..3] = C[g+8][2t..2t+1]
 * Nothing here allocates or synchronizes beyond the warp. Under WF_CUDA_EMU each helper calls the
 * CPU emulator's model of the instruction instead (kernels/cuda_emu/emu_warp.cpp). */
#ifndef WEFT_KERNELS_CUDA_MMA_CUH
#define WEFT_KERNELS_CUDA_MMA_CUH

#include "common.cuh"

/* c += a b for one 16x8x16 tile; T is __nv_bfloat16 or __half (the instruction's input type). */
template <typename T>
__device__ __forceinline__ void wf_mma_16816(float (&c)[4], const uint32_t (&a)[4],
                                             const uint32_t (&b)[2]);

template <>
__device__ __forceinline__ void wf_mma_16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4],
                                                            const uint32_t (&b)[2]) {
#if defined(WF_CUDA_EMU)
    wf_emu_mma_16816(c, a, b, false);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap(); /* never launched below sm_80: the launcher checks the device */
#endif
}

template <>
__device__ __forceinline__ void wf_mma_16816<__half>(float (&c)[4], const uint32_t (&a)[4],
                                                     const uint32_t (&b)[2]) {
#if defined(WF_CUDA_EMU)
    wf_emu_mma_16816(c, a, b, true);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap();
#endif
}

/* ldmatrix.x4 (sm_75+): four 8x8 matrices of 16-bit elements from shared memory; lanes 8 i ..
 * 8 i + 7 give the 16-byte-aligned row addresses of matrix i, and lane l receives in r[i]
 * matrix i's row l / 4, elements 2 (l % 4) and 2 (l % 4) + 1 (the layout of an mma fragment's
 * 8x8 piece). The .trans form gives instead rows 2 (l % 4) and 2 (l % 4) + 1 of column l / 4. */
template <typename T>
__device__ __forceinline__ void wf_ldmatrix_x4(uint32_t (&r)[4], const T *row) {
#if defined(WF_CUDA_EMU)
    wf_emu_ldmatrix_x4(r, row, false);
#else
    const unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
#endif
}

template <typename T>
__device__ __forceinline__ void wf_ldmatrix_x4_trans(uint32_t (&r)[4], const T *row) {
#if defined(WF_CUDA_EMU)
    wf_emu_ldmatrix_x4(r, row, true);
#else
    const unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
#endif
}

/* cp.async (sm_80+): copies `bytes` (4, 8 or 16) from global src to shared dst without passing
 * through registers, so a tile's load overlaps the mma work on the previous one. With valid
 * false nothing is read (src-size 0) and dst is zero-filled; src must still be a mapped address.
 * Copies issued by a thread form a group at wf_cp_async_commit(); wf_cp_async_wait<N>() waits
 * until at most N of the thread's groups are pending (PTX ISA "cp.async", "cp.async.wait_group").
 * Only the issuing thread is ordered: a __syncthreads() after the wait publishes the tile. */
template <int BYTES>
__device__ __forceinline__ void wf_cp_async(void *dst, const void *src, bool valid) {
    static_assert(BYTES == 4 || BYTES == 8 || BYTES == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(WF_CUDA_EMU)
    wf_emu_cp_async(dst, src, BYTES, valid);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    const int n = valid ? BYTES : 0;
    if constexpr (BYTES == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(n));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(d), "l"(src),
                     "n"(BYTES), "r"(n));
#else
    __trap(); /* never launched below sm_80: the launcher checks the device */
#endif
}

__device__ __forceinline__ void wf_cp_async_commit(void) {
#if defined(WF_CUDA_EMU)
    wf_emu_cp_async_commit();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int N> __device__ __forceinline__ void wf_cp_async_wait(void) {
#if defined(WF_CUDA_EMU)
    wf_emu_cp_async_wait(N);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

/* Two 16-bit elements from anywhere: lo in the low half. */
template <typename T> __device__ __forceinline__ uint32_t wf_pack_pair(T lo, T hi) {
    return (uint32_t)__builtin_bit_cast(uint16_t, lo) |
           ((uint32_t)__builtin_bit_cast(uint16_t, hi) << 16);
}

/* Two fp32 values rounded to T (nearest even), lo in the low half. */
template <typename T> __device__ __forceinline__ uint32_t wf_pack_f32(float lo, float hi) {
    return wf_pack_pair<T>(wf_from_f32<T>(lo), wf_from_f32<T>(hi));
}

#endif
