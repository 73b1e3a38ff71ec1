/* The two spellings every kernel launch and dynamic shared-memory declaration in kernels/cuda/
 * goes through, so the same sources also build for the CPU emulator (kernels/cuda_emu/emu.h,
 * meson option cuda-emu), which cannot parse <<<...>>> or extern __shared__:
 *   WF_LAUNCH(grid, block, smem, stream, kernel<T...>)(args...)   a kernel launch
 *   WF_DYN_SHARED(type, name);                                    extern __shared__ type name[]
 * Under nvcc they are exactly the CUDA forms. */
#ifndef WEFT_KERNELS_CUDA_LAUNCH_CUH
#define WEFT_KERNELS_CUDA_LAUNCH_CUH

#if defined(WF_CUDA_EMU)
#include "emu.h" /* kernels/cuda_emu: the emulator's definitions of both macros */
#else
#define WF_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<grid, block, smem, stream>>>
#define WF_DYN_SHARED(type, name) extern __shared__ type name[]
#endif

#endif
