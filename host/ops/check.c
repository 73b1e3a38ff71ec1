/* Argument checks and dispatch for the wf_op_* wrappers (check.h). */
#include "check.h"

#include <stdlib.h>
#include <string.h>

wf_status wf_chk_present(const char *op, const char *arg, const wf_tensor *t) {
    if (!t) return wf_error(WF_ERR_INVALID, "op %s: '%s' is required", op, arg);
    if (!t->data && wf_tensor_numel(t) > 0)
        return wf_error(WF_ERR_INVALID, "op %s: '%s' has no data", op, arg);
    return WF_OK;
}

static const char *expected_shape(int ndim, const int64_t *d, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && k < n; i++) {
        const char *sep = i ? ", " : "";
        k += d[i] == WF_ANY ? (size_t)snprintf(buf + k, n - k, "%s*", sep)
                            : (size_t)snprintf(buf + k, n - k, "%s%lld", sep, (long long)d[i]);
    }
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}

wf_status wf_chk_shape(const char *op, const char *arg, const wf_tensor *t, int ndim,
                       const int64_t *d) {
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = d[i] == WF_ANY || d[i] == t->shape[i];
    if (ok) return WF_OK;
    char got[96], want[96];
    return wf_error(WF_ERR_INVALID, "op %s: '%s' is %s, expected %s", op, arg,
                    wf_tensor_describe(t, got, sizeof got), expected_shape(ndim, d, want, sizeof want));
}

wf_status wf_chk_dtype(const char *op, const char *arg, const wf_tensor *t, wf_dtype dt) {
    if (t->dtype == dt) return WF_OK;
    return wf_error(WF_ERR_INVALID, "op %s: '%s' has dtype %s, expected %s", op, arg,
                    wf_dtype_name(t->dtype), wf_dtype_name(dt));
}

wf_status wf_chk_float(const char *op, const char *arg, const wf_tensor *t) {
    if (wf_dtype_is_float(t->dtype)) return WF_OK;
    return wf_error(WF_ERR_INVALID, "op %s: '%s' has dtype %s, expected f32, bf16 or f16", op, arg,
                    wf_dtype_name(t->dtype));
}

wf_status wf_chk_like(const char *op, const char *arg, const wf_tensor *t, const char *ref_arg,
                      const wf_tensor *ref) {
    WF_TRY(wf_chk_present(op, arg, t));
    if (wf_tensor_same_shape(t, ref) && t->dtype == ref->dtype) return WF_OK;
    char got[96], want[96];
    return wf_error(WF_ERR_INVALID, "op %s: '%s' is %s, expected the same as '%s' %s", op, arg,
                    wf_tensor_describe(t, got, sizeof got), ref_arg,
                    wf_tensor_describe(ref, want, sizeof want));
}

wf_status wf_chk_grad_dtype(const char *op, const char *arg, const wf_tensor *t, wf_dtype dt) {
    if (t->dtype == dt || t->dtype == WF_F32) return WF_OK;
    return wf_error(WF_ERR_INVALID, "op %s: '%s' has dtype %s, expected %s or f32 (a parameter "
                    "gradient)", op, arg, wf_dtype_name(t->dtype), wf_dtype_name(dt));
}

wf_status wf_chk_param_grad(const char *op, const char *arg, const wf_tensor *t, const char *ref_arg,
                            const wf_tensor *ref) {
    WF_TRY(wf_chk_present(op, arg, t));
    if (wf_tensor_same_shape(t, ref)) return wf_chk_grad_dtype(op, arg, t, ref->dtype);
    char got[96], want[96];
    return wf_error(WF_ERR_INVALID, "op %s: '%s' is %s, expected the shape of '%s' %s", op, arg,
                    wf_tensor_describe(t, got, sizeof got), ref_arg,
                    wf_tensor_describe(ref, want, sizeof want));
}

wf_status wf_op_unsupported(const wf_backend *be, const char *op) {
    return wf_error(WF_ERR_UNSUPPORTED, "op %s is not implemented on backend '%s'", op, be->name);
}

static int sync_debug(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("WF_SYNC_DEBUG");
        v = e && strcmp(e, "0") != 0;
    }
    return v;
}

wf_status wf_op_finish(wf_backend *be, const char *op, wf_status s) {
    if (be->profile) s = wf_profile_op_end(be, op, s);
    if (s == WF_OK && sync_debug()) {
        s = be->sync(be);
        if (s != WF_OK) return wf_error(s, "op %s: %s", op, wf_last_error());
    }
    return s;
}
