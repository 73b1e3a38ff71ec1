/* Tensors: a typed view of backend memory. Row-major and contiguous; up to 4 dims.
 * A tensor does not own its data: arenas do (arena.h). */
#ifndef WEFT_TENSOR_H
#define WEFT_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/dtype.h"

#define WF_MAX_DIMS 4

typedef struct wf_tensor {
    void *data;                  /* backend memory (host for cpu, device for cuda) */
    wf_dtype dtype;
    int ndim;                    /* 0 .. WF_MAX_DIMS */
    int64_t shape[WF_MAX_DIMS];  /* shape[0] is the outermost dim */
} wf_tensor;

/* wf_tensor_make(data, dtype, ndim, d0, d1, ...) */
wf_tensor wf_tensor_make(void *data, wf_dtype dtype, int ndim, ...);
int64_t wf_tensor_numel(const wf_tensor *t);
size_t wf_tensor_nbytes(const wf_tensor *t);
/* Product of all dims but the last, and the last: a tensor seen as (rows, cols). */
int64_t wf_tensor_rows(const wf_tensor *t);
int64_t wf_tensor_cols(const wf_tensor *t);
bool wf_tensor_same_shape(const wf_tensor *a, const wf_tensor *b);
/* "(2, 3, 4) bf16" into buf; returns buf. */
const char *wf_tensor_describe(const wf_tensor *t, char *buf, size_t n);

#endif
