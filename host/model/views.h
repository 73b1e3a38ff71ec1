/* Views of planned activation buffers for the batch at hand (the graph's files). A buffer is
 * planned for the largest batch; a smaller batch uses a prefix of it with its own shape.
 * Internal to host/model. */
#ifndef WEFT_HOST_MODEL_VIEWS_H
#define WEFT_HOST_MODEL_VIEWS_H

#include "weft/tensor.h"
#include "weft/status.h"

static inline wf_tensor wf_view(const wf_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2,
                                int64_t d3) {
    wf_tensor v = {.data = t->data, .dtype = t->dtype, .ndim = ndim, .shape = {d0, d1, d2, d3}};
    WF_ASSERT(wf_tensor_nbytes(&v) <= wf_tensor_nbytes(t) || !t->data);
    return v;
}
#define V2(t, a, b) wf_view(&(t), 2, a, b, 0, 0)
#define V1(t, a) wf_view(&(t), 1, a, 0, 0, 0)
/* An optional tensor argument: NULL when the model has no such tensor (data NULL). */
#define OPT(t) ((t).data ? &(t) : NULL)
#define OPTW(t) ((t).data ? (wf_tensor *)&(t) : NULL)

#endif
