/* Tensor shape helpers and the dtype name table. */
#include "weft/tensor.h"

#include <stdarg.h>
#include <stdio.h>

#include "weft/status.h"

const char *wf_dtype_name(wf_dtype t) {
    static const char *names[] = {"f32", "bf16", "f16", "i32"};
    return (unsigned)t < WF_DTYPE_COUNT ? names[t] : "?";
}

wf_tensor wf_tensor_make(void *data, wf_dtype dtype, int ndim, ...) {
    WF_ASSERT(ndim >= 0 && ndim <= WF_MAX_DIMS);
    wf_tensor t = {.data = data, .dtype = dtype, .ndim = ndim};
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) t.shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    return t;
}

int64_t wf_tensor_numel(const wf_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t wf_tensor_nbytes(const wf_tensor *t) {
    return (size_t)wf_tensor_numel(t) * wf_dtype_size(t->dtype);
}

int64_t wf_tensor_cols(const wf_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

int64_t wf_tensor_rows(const wf_tensor *t) {
    int64_t c = wf_tensor_cols(t);
    return c ? wf_tensor_numel(t) / c : 0;
}

bool wf_tensor_same_shape(const wf_tensor *a, const wf_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

const char *wf_tensor_describe(const wf_tensor *t, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, ") %s", wf_dtype_name(t->dtype));
    return buf;
}
