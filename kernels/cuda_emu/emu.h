/* The device side of the CUDA emulator (meson -Dcuda=disabled -Dcuda-emu=true): what the kernels
 * in kernels/cuda/ need so that g++ compiles them, unchanged, as C++17 and runs them on the CPU:
 * threadIdx/blockIdx/blockDim/gridDim, __shared__, __syncthreads, warp shuffles, the launch and
 * dynamic-shared-memory macros of launch.cuh, and the hooks mma.cuh's tensor-core wrappers call.
 * The scheduler (one fiber per CUDA thread, blocks in order) is emu_sched.cpp, the warp
 * instructions emu_warp.cpp, the runtime emu_runtime.cpp, cuBLAS/cuBLASLt emu_blas.cpp.
 * Included (by the generated wrapper of each .cu) after the toolkit headers, which give the
 * types. It checks correctness only: nothing here says anything about speed on a GPU. */
#ifndef WEFT_KERNELS_CUDA_EMU_EMU_H
#define WEFT_KERNELS_CUDA_EMU_EMU_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <utility>

namespace wf_emu {

/* The running CUDA thread's coordinates; set by the scheduler before it resumes a fiber. */
struct coords {
    uint3 tid, bid;
    dim3 bdim, gdim;
};
extern thread_local const coords *cur;

/* One launch as the scheduler sees it. entry(ctx) runs the kernel body of one CUDA thread. */
struct launch_info {
    const char *kernel; /* the kernel expression as written at the launch site */
    const char *file;
    int line;
    const void *fn; /* the kernel function: the key cudaFuncSetAttribute uses */
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    void (*entry)(const void *ctx);
    const void *ctx;
};
void run(const launch_info &li);

/* A kernel function bound to its arguments, converted to the parameter types as a call would
 * (CUDA copies the arguments once; each emulated thread gets its own copy, so a kernel that
 * modifies a by-value parameter changes only its own). */
template <class... P> struct bound {
    void (*fn)(P...);
    std::tuple<P...> args;
    static void entry(const void *ctx) {
        const bound *b = static_cast<const bound *>(ctx);
        std::tuple<P...> mine = b->args;
        std::apply(b->fn, mine);
    }
};

template <class... P> struct launch_site {
    launch_info li;
    void (*fn)(P...);
    template <class... A> void operator()(A &&...a) {
        bound<P...> b{fn, std::tuple<P...>(std::forward<A>(a)...)};
        li.entry = &bound<P...>::entry;
        li.ctx = &b;
        run(li);
    }
};

template <class... P>
launch_site<P...> launcher(const char *kernel, const char *file, int line, dim3 grid, dim3 block,
                           size_t smem, cudaStream_t stream, void (*fn)(P...)) {
    launch_info li = {kernel, file, line, reinterpret_cast<const void *>(fn), grid, block, smem,
                      stream, nullptr, nullptr};
    return launch_site<P...>{li, fn};
}

/* Block-wide barrier; returns the OR of pred over the block (for __syncthreads_or). */
int barrier(int pred, const char *what);
/* Warp collectives: every lane of the warp posts args; the last to arrive performs op for all. */
enum coll_op { OP_SYNCWARP = 1, OP_SHFL_XOR, OP_SHFL_IDX, OP_LDMATRIX, OP_LDMATRIX_T, OP_MMA_BF16,
               OP_MMA_F16 };
void warp_collective(int op, void *args, unsigned mask, const char *what);
struct shfl_args {
    uint64_t in, out;
    int param;
};
void *dyn_smem(void);
[[noreturn]] void kernel_fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

template <class T> T shfl(int op, unsigned mask, T v, int param, int width, const char *what) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    if (width != 32) kernel_fault("%s with width %d: only width 32 is emulated", what, width);
    shfl_args a = {0, 0, param};
    memcpy(&a.in, &v, sizeof v);
    warp_collective(op, &a, mask, what);
    T r;
    memcpy(&r, &a.out, sizeof r);
    return r;
}

} /* namespace wf_emu */

#define threadIdx (wf_emu::cur->tid)
#define blockIdx (wf_emu::cur->bid)
#define blockDim (wf_emu::cur->bdim)
#define gridDim (wf_emu::cur->gdim)

/* __shared__ statics: one object shared by the fibers of the running block (blocks run one after
 * another), per OS thread. Unlike dynamic shared memory they are not refilled with NaN. */
#undef __shared__
#define __shared__ static thread_local
#define __launch_bounds__(...)

#define WF_LAUNCH(grid, block, smem, stream, ...)                                                  \
    wf_emu::launcher(#__VA_ARGS__, __FILE__, __LINE__, dim3(grid), dim3(block), (size_t)(smem),   \
                     (stream), __VA_ARGS__)
#define WF_DYN_SHARED(type, name) type *const name = static_cast<type *>(wf_emu::dyn_smem())

static inline void __syncthreads(void) { (void)wf_emu::barrier(0, "__syncthreads"); }
static inline int __syncthreads_or(int pred) {
    return wf_emu::barrier(pred != 0, "__syncthreads_or");
}
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
    wf_emu::warp_collective(wf_emu::OP_SYNCWARP, nullptr, mask, "__syncwarp");
}
template <class T> T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    return wf_emu::shfl(wf_emu::OP_SHFL_XOR, mask, v, lane_mask, width, "__shfl_xor_sync");
}
template <class T> T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
    return wf_emu::shfl(wf_emu::OP_SHFL_IDX, mask, v, src_lane, width, "__shfl_sync");
}
[[noreturn]] static inline void __trap(void) { wf_emu::kernel_fault("__trap() executed"); }
static inline float __int_as_float(int v) {
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}
static inline float4 __ldg(const float4 *p) { return *p; }

/* cuda_runtime.h's typed overload is nvcc-only: the kernel's address is the attribute's key. */
template <class... P>
cudaError_t cudaFuncSetAttribute(void (*fn)(P...), cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute(reinterpret_cast<const void *>(fn), attr, value);
}

/* mma.cuh's hooks (emu_warp.cpp): the instruction for the whole warp, per the PTX ISA layouts. */
void wf_emu_mma_16816(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], bool fp16);
void wf_emu_ldmatrix_x4(uint32_t (&r)[4], const void *row, bool trans);
void wf_emu_cp_async(void *dst, const void *src, int bytes, bool valid);
void wf_emu_cp_async_commit(void);
void wf_emu_cp_async_wait(int n);

/* CUB's DeviceRadixSort::SortPairs contract for embedding.cu: with tmp NULL only sets
 * tmp_bytes; else a stable sort of (key, value) by key bits [begin_bit, end_bit). */
cudaError_t wf_emu_sort_pairs(void *tmp, size_t &tmp_bytes, const uint32_t *keys_in,
                              uint32_t *keys_out, const int32_t *vals_in, int32_t *vals_out, int n,
                              int begin_bit, int end_bit, cudaStream_t stream);

#endif
