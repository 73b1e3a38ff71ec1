/* Deterministic column sums over rows for the CPU kernels (dg, dbias, dl: sums over tokens).
 * Rows are cut into blocks whose size depends only on the row count, never on the thread count;
 * each block sums its rows in order into its own double row of partials (threads take whole
 * blocks), then each column adds the partials in block order. So the sums are bitwise the same
 * for any number of threads, and the row-major data is read contiguously. Partials live in the
 * backend's scratch arena. Used by layernorm.c, rmsnorm.c and ia3.c. */
#ifndef WEFT_KERNELS_CPU_COLSUM_H
#define WEFT_KERNELS_CPU_COLSUM_H

#include <stdint.h>

#define WF_COLSUM_MAX_BLOCKS 256 /* bounds the partials: 256 x C doubles per sum */
#define WF_COLSUM_MIN_ROWS 32    /* and keeps them small next to the data they sum */
#define WF_COLSUM_CHUNK 64       /* columns per task of the final pass */

/* Rows per block for n rows. */
static inline int64_t wf_colsum_block_rows(int64_t n) {
    int64_t r = (n + WF_COLSUM_MAX_BLOCKS - 1) / WF_COLSUM_MAX_BLOCKS;
    return r < WF_COLSUM_MIN_ROWS ? WF_COLSUM_MIN_ROWS : r;
}

/* dst (C) += sum over blocks b < nb of part[b * stride + c], in block order. */
static inline void wf_colsum_finish(float *dst, const double *part, int64_t nb, int64_t stride,
                                    int64_t C) {
    int64_t nchunks = (C + WF_COLSUM_CHUNK - 1) / WF_COLSUM_CHUNK;
#pragma omp parallel for schedule(static) if (nb * C > 65536)
    for (int64_t k = 0; k < nchunks; k++) {
        int64_t c0 = k * WF_COLSUM_CHUNK, w = C - c0 < WF_COLSUM_CHUNK ? C - c0 : WF_COLSUM_CHUNK;
        double acc[WF_COLSUM_CHUNK] = {0};
        for (int64_t b = 0; b < nb; b++)
            for (int64_t c = 0; c < w; c++) acc[c] += part[b * stride + c0 + c];
        for (int64_t c = 0; c < w; c++) dst[c0 + c] = (float)(dst[c0 + c] + acc[c]);
    }
}

#endif
