/* Argument checks shared by the wf_op_* wrappers. Each names the op and the argument, and says
 * what was expected, so a shape bug reads "op linear_fwd: 'w' is (7, 8) f32, expected (*, 16)". */
#ifndef WEFT_HOST_OPS_CHECK_H
#define WEFT_HOST_OPS_CHECK_H

#include "weft/ops.h"
#include "weft/profile.h"

#define WF_ANY (-1)

/* t must be present (not NULL, and with data unless empty). */
wf_status wf_chk_present(const char *op, const char *arg, const wf_tensor *t);
/* t has `ndim` dims and shape d[i] wherever d[i] != WF_ANY. */
wf_status wf_chk_shape(const char *op, const char *arg, const wf_tensor *t, int ndim,
                       const int64_t *d);
wf_status wf_chk_dtype(const char *op, const char *arg, const wf_tensor *t, wf_dtype dt);
wf_status wf_chk_float(const char *op, const char *arg, const wf_tensor *t);
/* t has the same shape and dtype as ref. */
wf_status wf_chk_like(const char *op, const char *arg, const wf_tensor *t, const char *ref_arg,
                      const wf_tensor *ref);

/* A parameter gradient (dW, dbias, norm gains, LoRA A/B, IA3 vectors, embedding tables): the
 * shape of its parameter `ref` and either the parameter's dtype or fp32 (the flat fp32
 * gradient buffer of mixed precision: fp32 accumulation from bf16/fp16 inputs, DESIGN.md
 * "Precision"). */
wf_status wf_chk_param_grad(const char *op, const char *arg, const wf_tensor *t, const char *ref_arg,
                            const wf_tensor *ref);
/* The same for a (n) vector gradient whose parameter has dtype dt. */
wf_status wf_chk_grad_dtype(const char *op, const char *arg, const wf_tensor *t, wf_dtype dt);

/* Shorthands for the common forms: present + shape. */
#define WF_CHK_SHAPE(op, name, t, nd, ...)                                                         \
    do {                                                                                           \
        WF_TRY(wf_chk_present(op, name, t));                                                       \
        const int64_t wf_chk_d_[] = {__VA_ARGS__};                                                 \
        WF_TRY(wf_chk_shape(op, name, t, nd, wf_chk_d_));                                          \
    } while (0)

/* Calls be->ops->entry(be, ...) or fails naming the op and backend; WF_SYNC_DEBUG=1 syncs after;
 * an attached op profiler (profile.h) times the call. */
wf_status wf_op_unsupported(const wf_backend *be, const char *op);
wf_status wf_op_finish(wf_backend *be, const char *op, wf_status s);
#define WF_DISPATCH(be, entry, ...)                                                                \
    ((be)->ops->entry                                                                              \
         ? wf_op_finish(be, #entry,                                                                \
                        ((be)->profile ? wf_profile_op_begin(be) : (void)0,                        \
                         (be)->ops->entry(be, __VA_ARGS__)))                                       \
         : wf_op_unsupported(be, #entry))

#endif
