/* Op cases for the losses, softmax cross-entropy and MSE. Both are fused ops (dout_scalar): the
 * descriptor's backward runs the op again with dscale = the loss weight read back from dout,
 * writing the gradient of the logits (of y).
 * The forward may take a device multiplier of dscale ("mul", one fp32 in backend memory: the
 * loss scale); the backward (finite differences) runs without it.
 * cross_entropy: p = {N, V, mode, ignore_index, check rejections, mul}, f = {dscale of the forward,
 *   logit mean, logit std (0: 2)}. mode 0: forward only (dlogits NULL); 1: the forward also
 *   writes "dlogits" (dscale f[0]); 2: dlogits overwrite the logits in place ("z", starting
 *   from "z0"), so the in-place result is checked as a forward output.
 * mse: p = {n, fused, check rejections, mul}, f = {dscale of the forward}. */
#include <math.h>
#include <string.h>

#include "ops_list.h"

enum { CE_FWD = 0, CE_FUSED = 1, CE_INPLACE = 2 };

/* The loss weight of a fused op: every element of dout holds it (dout_scalar). */
static wf_status read_weight(wf_backend *be, const wf_tensor *dout, float *w) {
    WF_TRY(be->copy(be, w, dout->data, sizeof *w, WF_COPY_D2H));
    return be->sync(be);
}

static wf_status expect_invalid(const tc_case *c, const char *what, wf_status s) {
    if (s == WF_ERR_INVALID) return WF_OK;
    return wf_error(WF_ERR_INVALID, "%s [%s]: %s was not rejected (got %s)", c->op->name,
                    c->label, what, wf_status_name(s));
}

/* ---- cross_entropy ---- */

static void ce_plan(const tc_case *c, tc_plan *p) {
    const int64_t n = c->p[0], v = c->p[1];
    const double std = c->f[2] > 0 ? c->f[2] : 2.0;
    if (c->p[2] == CE_INPLACE) {
        tc_add_in(p, "z0", TC_FLOAT, TC_INIT_NORMAL, c->f[1], std, 0, TC_DIMS(n, v));
    } else {
        tc_add_in(p, "logits", TC_FLOAT, TC_INIT_NORMAL, c->f[1], std, TC_DIFF, TC_DIMS(n, v));
    }
    tc_add_in(p, "targets", TC_I32, TC_INIT_HOLES, (double)c->p[3], (double)v, 0, TC_DIMS(n));
    tc_add_out(p, "losses", TC_F32, TC_LOSS, TC_DIMS(n));
    if (c->p[5]) tc_add_in(p, "mul", TC_F32, TC_INIT_INT, 1024, 1025, 0, TC_DIMS(1)); /* 2^10 */
    if (c->p[2] == CE_FUSED) tc_add_out(p, "dlogits", TC_FLOAT, 0, TC_DIMS(n, v));
    if (c->p[2] == CE_INPLACE) tc_add_out(p, "z", TC_FLOAT, TC_ACC, TC_DIMS(n, v));
}

/* A target outside [0, V) that is not the ignore index: the CPU kernel must reject it, naming
 * the row. (Other backends cannot report it without a host sync; their contract is the CPU's
 * check having run on the same batch, so this is a CPU-only check.) */
static wf_status ce_reject_target(wf_backend *be, const tc_case *c, const wf_cross_entropy *good) {
    const int64_t n = good->targets->shape[0], row = n - 1;
    const int32_t bad_value = (int32_t)good->logits->shape[1];
    size_t mark = wf_arena_mark(&be->scratch);
    wf_tensor tg = *good->targets;
    wf_status s = wf_arena_alloc(&be->scratch, (size_t)n * sizeof(int32_t), &tg.data);
    if (s == WF_OK)
        s = be->copy(be, tg.data, good->targets->data, (size_t)n * sizeof(int32_t), WF_COPY_D2D);
    if (s == WF_OK)
        s = be->copy(be, (int32_t *)tg.data + row, &bad_value, sizeof bad_value, WF_COPY_H2D);
    if (s == WF_OK) {
        wf_cross_entropy ce = *good;
        ce.targets = &tg;
        s = expect_invalid(c, "an out-of-range target", wf_op_cross_entropy(be, &ce));
        char want[64];
        snprintf(want, sizeof want, "row %lld is %d", (long long)row, bad_value);
        if (s == WF_OK && !strstr(wf_last_error(), want))
            s = wf_error(WF_ERR_INVALID, "%s [%s]: the error \"%s\" does not name '%s'",
                         c->op->name, c->label, wf_last_error(), want);
    }
    wf_arena_reset(&be->scratch, mark);
    return s;
}

static wf_status ce_rejects(wf_backend *be, const tc_case *c, const wf_cross_entropy *good) {
    WF_TRY(expect_invalid(c, "NULL arguments", wf_op_cross_entropy(be, NULL)));
    wf_cross_entropy ce = *good;
    wf_tensor bad = *good->targets;
    bad.dtype = WF_F32, ce.targets = &bad;
    WF_TRY(expect_invalid(c, "fp32 targets", wf_op_cross_entropy(be, &ce)));
    ce = *good, bad = *good->losses;
    bad.shape[0]++, ce.losses = &bad;
    WF_TRY(expect_invalid(c, "losses of N+1 rows", wf_op_cross_entropy(be, &ce)));
    ce = *good, bad = *good->logits;
    bad.shape[1]--, ce.dlogits = &bad;
    WF_TRY(expect_invalid(c, "dlogits of V-1 columns", wf_op_cross_entropy(be, &ce)));
    ce = *good, ce.dlogits = (wf_tensor *)good->logits, ce.dscale = NAN;
    WF_TRY(expect_invalid(c, "a NaN dscale", wf_op_cross_entropy(be, &ce)));
    return strcmp(be->name, "cpu") == 0 ? ce_reject_target(be, c, good) : WF_OK;
}

static wf_status ce_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_cross_entropy ce = {.losses = tc_out(io, "losses"),
                           .dlogits = tc_out(io, "dlogits"),
                           .logits = tc_in(io, "logits"),
                           .targets = tc_in(io, "targets"),
                           .ignore_index = (int32_t)c->p[3],
                           .dscale = (float)c->f[0]};
    if (c->p[5]) ce.dscale_mul = tc_in(io, "mul")->data;
    if (c->p[2] == CE_INPLACE) ce.logits = ce.dlogits = tc_out(io, "z");
    if (c->p[4]) WF_TRY(ce_rejects(be, c, &ce));
    return wf_op_cross_entropy(be, &ce);
}

static wf_status ce_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    if (c->p[2] == CE_INPLACE) return WF_OK; /* nothing left to differentiate: see ce_plan */
    float w = 0;
    WF_TRY(read_weight(be, tc_dout(io, "losses"), &w));
    wf_cross_entropy ce = {.losses = tc_out(io, "losses"),
                           .dlogits = tc_din(io, "logits"),
                           .logits = tc_in(io, "logits"),
                           .targets = tc_in(io, "targets"),
                           .ignore_index = (int32_t)c->p[3],
                           .dscale = w};
    return wf_op_cross_entropy(be, &ce);
}

static void ce_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const int64_t n = c->p[0], v = c->p[1];
    const bool inplace = c->p[2] == CE_INPLACE;
    const double *z = tc_ref_in(p, in, inplace ? "z0" : "logits");
    const double *tg = tc_ref_in(p, in, "targets"), *mul = tc_ref_in(p, in, "mul");
    const double dscale = (float)c->f[0] * (mul ? mul[0] : 1);
    double *loss = tc_ref_out(p, out, "losses"), *d = tc_ref_out(p, out, inplace ? "z" : "dlogits");
    for (int64_t i = 0; i < n; i++) {
        const double *zi = z + i * v;
        const int64_t t = (int64_t)tg[i];
        const bool ignored = t == c->p[3];
        double m = -INFINITY, s = 0;
        for (int64_t j = 0; j < v; j++) m = fmax(m, zi[j]);
        for (int64_t j = 0; j < v; j++) s += exp(zi[j] - m);
        const double lse = m + log(s);
        loss[i] = ignored ? 0 : lse - zi[t];
        for (int64_t j = 0; d && j < v; j++)
            d[i * v + j] = ignored ? 0 : dscale * (exp(zi[j] - lse) - (j == t ? 1 : 0));
    }
}

const tc_op tc_op_cross_entropy = {
    .name = "cross_entropy",
    .plan = ce_plan,
    .fwd = ce_fwd,
    .bwd = ce_bwd,
    .ref = ce_ref,
    .dout_scalar = true,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-6, 2e-7, "fp32 exp (~1 ulp each) summed in double: loss and softmax within "
                            "~3e-8 of the largest value (measured), 2e-7 allowed"},
    .tol_grad = {1e-4, 1e-5, "fp32 gradient vs float64 central differences (h = 1e-4 max(1, |z|))"},
    .tol_be = {{1e-5, 1e-6, "fp32 exp and LSE summed in another order on the device: ~1e-6 "
                            "relative of the loss"},
               {8e-3, 1e-3, "bf16 dlogits: one rounding (2^-8); losses stay fp32"},
               {1e-3, 1e-4, "f16 dlogits: one rounding (2^-11); losses stay fp32"}},
};

/* ---- mse ---- */

static void mse_plan(const tc_case *c, tc_plan *p) {
    const int64_t n = c->p[0];
    tc_add_in(p, "y", TC_FLOAT, TC_INIT_NORMAL, 0, 1, TC_DIFF, TC_DIMS(n));
    tc_add_in(p, "t", TC_FLOAT, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(n));
    if (c->p[3]) tc_add_in(p, "mul", TC_F32, TC_INIT_INT, 1024, 1025, 0, TC_DIMS(1)); /* 2^10 */
    tc_add_out(p, "losses", TC_F32, TC_LOSS, TC_DIMS(n));
    if (c->p[1]) tc_add_out(p, "dy", TC_FLOAT, 0, TC_DIMS(n));
}

static wf_status mse_rejects(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_tensor *y = tc_in(io, "y"), *t = tc_in(io, "t"), *l = tc_out(io, "losses");
    wf_tensor bad = *t;
    bad.ndim = 2, bad.shape[0] = 1, bad.shape[1] = t->shape[0];
    WF_TRY(expect_invalid(c, "t of another shape", wf_op_mse(be, l, NULL, y, &bad, 1.0f, NULL)));
    bad = *l, bad.dtype = WF_F16;
    WF_TRY(expect_invalid(c, "f16 losses", wf_op_mse(be, &bad, NULL, y, t, 1.0f, NULL)));
    bad = *l, bad.shape[0]--;
    WF_TRY(expect_invalid(c, "losses of n-1 elements", wf_op_mse(be, &bad, NULL, y, t, 1.0f, NULL)));
    bad = *y, bad.dtype = y->dtype == WF_F32 ? WF_BF16 : WF_F32;
    WF_TRY(expect_invalid(c, "dy of another dtype", wf_op_mse(be, l, &bad, y, t, 1.0f, NULL)));
    return WF_OK;
}

static wf_status mse_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    if (c->p[2]) WF_TRY(mse_rejects(be, c, io));
    wf_tensor *mul = tc_in(io, "mul");
    return wf_op_mse(be, tc_out(io, "losses"), tc_out(io, "dy"), tc_in(io, "y"), tc_in(io, "t"),
                     (float)c->f[0], mul ? (const float *)mul->data : NULL);
}

static wf_status mse_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    float w = 0;
    WF_TRY(read_weight(be, tc_dout(io, "losses"), &w));
    return wf_op_mse(be, tc_out(io, "losses"), tc_din(io, "y"), tc_in(io, "y"), tc_in(io, "t"), w,
                     NULL);
}

static void mse_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *y = tc_ref_in(p, in, "y"), *t = tc_ref_in(p, in, "t"), *mul = tc_ref_in(p, in, "mul");
    const double dscale = (float)c->f[0] * (mul ? mul[0] : 1);
    double *loss = tc_ref_out(p, out, "losses"), *dy = tc_ref_out(p, out, "dy");
    for (int64_t i = 0; i < c->p[0]; i++) {
        loss[i] = (y[i] - t[i]) * (y[i] - t[i]);
        if (dy) dy[i] = dscale * 2 * (y[i] - t[i]);
    }
}

const tc_op tc_op_mse = {
    .name = "mse",
    .plan = mse_plan,
    .fwd = mse_fwd,
    .bwd = mse_bwd,
    .ref = mse_ref,
    .dout_scalar = true,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-6, 0, "y - t and its square (or 2 dscale times it) in fp32: two roundings"},
    .tol_grad = {1e-5, 1e-6, "quadratic loss: central differences exact up to float64 rounding; "
                             "the fp32 gradient has two roundings"},
    .tol_be = TC_TOL_ELEMENTWISE,
};
