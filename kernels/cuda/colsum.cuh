/* Deterministic column sums of a (rows, cols) row-major matrix, for dbias (linear) and dl (IA3):
 *   dst[c] (+)= sum_r f(r, c),  accumulated in fp32, no atomics, a fixed order:
 *   pass 1: rows are cut into chunks (how many depends on `rows` alone, never on the device);
 *           block (column tile, chunk) sums its chunk with WF_COLSUM_TY row lanes, each lane
 *           in row order, then the lanes in lane order, into partial[chunk][c] (scratch);
 *   pass 2: one thread per column adds the chunks in chunk order, then adds the total to dst.
 * f may also write a side output per element (IA3's dx), since it runs exactly once per (r, c). */
#ifndef WEFT_KERNELS_CUDA_COLSUM_CUH
#define WEFT_KERNELS_CUDA_COLSUM_CUH

#include "common.cuh"

template <class F>
__global__ void __launch_bounds__(WF_COLSUM_TX *WF_COLSUM_TY)
    wf_colsum_partial_kernel(int64_t rows, int64_t cols, int64_t rows_per_chunk, float *partial,
                             F f) {
    __shared__ float lanes[WF_COLSUM_TY][WF_COLSUM_TX + 1]; /* +1: no bank conflicts */
    int64_t c = (int64_t)blockIdx.x * WF_COLSUM_TX + threadIdx.x;
    int64_t chunk = blockIdx.y;
    int64_t r0 = chunk * rows_per_chunk;
    int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
    float acc = 0.0f;
    if (c < cols)
        for (int64_t r = r0 + threadIdx.y; r < r1; r += WF_COLSUM_TY) acc += f(r, c);
    lanes[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < WF_COLSUM_TY; k++) s += lanes[k][threadIdx.x];
        partial[chunk * cols + c] = s;
    }
}

template <typename T>
__global__ void __launch_bounds__(WF_EW_BLOCK)
    wf_colsum_finish_kernel(const float *partial, int64_t nchunks, int64_t cols, T *dst,
                            bool accumulate) {
    for (int64_t c = wf_tid(); c < cols; c += wf_nthreads()) {
        float s = 0.0f;
        for (int64_t k = 0; k < nchunks; k++) s += partial[k * cols + c];
        dst[c] = wf_from_f32<T>(accumulate ? wf_to_f32(dst[c]) + s : s);
    }
}

template <typename T, class F>
static wf_status wf_colsum_launch(wf_backend *be, const char *op, int64_t rows, int64_t cols,
                                  int64_t per, int64_t nchunks, float *partial, T *dst,
                                  bool accumulate, F f) {
    cudaStream_t st = wf_cuda_stream(be);
    if (nchunks > 0) {
        dim3 grid((unsigned)((cols + WF_COLSUM_TX - 1) / WF_COLSUM_TX), (unsigned)nchunks);
        dim3 block(WF_COLSUM_TX, WF_COLSUM_TY);
        WF_LAUNCH(grid, block, 0, st, wf_colsum_partial_kernel<F>)(rows, cols, per, partial, f);
        WF_CUDA_LAUNCHED(op);
    }
    WF_LAUNCH(wf_cuda_grid(be, cols, WF_EW_BLOCK), WF_EW_BLOCK, 0, st, wf_colsum_finish_kernel<T>)(
        partial, nchunks, cols, dst, accumulate);
    WF_CUDA_LAUNCHED(op);
    return WF_OK;
}

/* dst (cols) of dtype T "+=" (accumulate) or "=" the column sums of f over (rows, cols).
 * Takes nchunks * cols floats of scratch while it runs (at most 128 * cols). */
template <typename T, class F>
static wf_status wf_colsum(wf_backend *be, const char *op, int64_t rows, int64_t cols, T *dst,
                           bool accumulate, F f) {
    if (cols <= 0) return WF_OK;
    int64_t per = (rows + WF_COLSUM_MAX_CHUNKS - 1) / WF_COLSUM_MAX_CHUNKS;
    if (per < WF_COLSUM_MIN_ROWS) per = WF_COLSUM_MIN_ROWS;
    int64_t nchunks = rows > 0 ? (rows + per - 1) / per : 0; /* <= WF_COLSUM_MAX_CHUNKS */
    size_t mark = wf_arena_mark(&be->scratch);
    void *partial = NULL;
    if (nchunks > 0)
        WF_TRY(wf_arena_alloc(&be->scratch, (size_t)(nchunks * cols) * sizeof(float), &partial));
    wf_status s = wf_colsum_launch(be, op, rows, cols, per, nchunks, (float *)partial, dst,
                                   accumulate, f);
    wf_arena_reset(&be->scratch, mark);
    return s;
}

#endif
