/* Op cases for linear + GPT-2's tanh GELU (ops.h linear_gelu_tanh_fwd, linear_dgelu_tanh_bwd;
 * MATH.md "Linear", "Activations"). The CUDA versions run cuBLASLt's GELU epilogues when the
 * aux ld (the GELU width) is a multiple of 8 and the dtype is bf16/fp16, and compose linear.cu
 * and gelu.cu otherwise: the cases take both sides of that line. "tail" cases put the GELU
 * input near -3, where the erf and tanh GELUs differ by ~10% (values) and ~3% (derivatives),
 * so a backend computing another GELU fails them whatever the dtype.
 *   linear_gelu:  p = {N, K, M, bias, tail}: pre = x W^T + b, y = gelu_tanh(pre); no backward
 *                 of its own (the model's is linear_dgelu below plus linear_bwd).
 *   linear_dgelu: p = {N, K, M, bias, frozen base, tail}: forward act = gelu_tanh(u),
 *                 y = act W^T + b (gelu_fwd then linear_fwd), u (N, K), w (M, K); the backward
 *                 under test is linear_dgelu_tanh_bwd: du = (dy W) gelu_tanh'(u), dW, dbias. */
#include <math.h>

#include "ops_list.h"

static double gelu_tanh(double v) {
    return 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
}

/* Backend vs CPU: GEMM-based (op_linear.c's reasons), plus on the unfused bf16/fp16 path the
 * GELU reads pre rounded to the dtype, which |gelu'(pre) / gelu(pre)| (up to ~4 at pre = -3,
 * the tail cases) turns into a few roundings of y. */
#define TOL_GELU_GEMM_BE                                                                           \
    {                                                                                              \
        {1e-4, 2e-5, "fp32: GEMM order ~sqrt(K) 2^-24; tanhf ulps after 1 + tanh(u) cancels"},     \
            {2e-2, 1e-2, "bf16: GEMM order and output rounding 2^-9, pre rounded before GELU x4"}, \
            {4e-3, 2e-3, "fp16: GEMM order and output rounding 2^-12, pre rounded before GELU x4"},\
    }

/* fp32 GELU of pre < 0: 1 + tanh(u) cancels, an absolute error ~|pre| 2^-24 that is ~1e-5 of
 * max|y| when every pre is near -3 (the tail cases: max|y| ~ 0.03). */
#define TOL_GELU_REF {1e-5, 2e-5, "fp32 dots, then 1 + tanh(u) cancels for pre < 0 (tail cases)"}

/* ---- linear_gelu ---- */

static void lg_plan(const tc_case *c, tc_plan *p) {
    int64_t n = c->p[0], k = c->p[1], m = c->p[2];
    bool tail = c->p[4];
    double ws = (tail ? 0.2 : 1.5) / sqrt((double)(k ? k : 1)); /* x W^T std 0.2 or 1.5 */
    tc_add_in(p, "x", TC_FLOAT, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(n, k));
    tc_add_in(p, "w", TC_FLOAT, TC_INIT_NORMAL, 0, ws, TC_PARAM, TC_DIMS(m, k));
    if (c->p[3])
        tc_add_in(p, "bias", TC_FLOAT, TC_INIT_NORMAL, tail ? -3 : 0, tail ? 0.2 : 0.5, TC_PARAM,
                  TC_DIMS(m));
    tc_add_out(p, "pre", TC_FLOAT, 0, TC_DIMS(n, m));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(n, m));
}

static wf_status lg_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_linear_gelu_tanh_fwd(be, tc_out(io, "y"), tc_out(io, "pre"), tc_in(io, "x"),
                                      tc_in(io, "w"), tc_in(io, "bias"));
}

static void lg_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    int64_t n = c->p[0], k = c->p[1], m = c->p[2];
    const double *x = tc_ref_in(p, in, "x"), *w = tc_ref_in(p, in, "w");
    const double *bias = tc_ref_in(p, in, "bias");
    double *pre = tc_ref_out(p, out, "pre"), *y = tc_ref_out(p, out, "y");
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double s = bias ? bias[j] : 0;
            for (int64_t l = 0; l < k; l++) s += x[i * k + l] * w[j * k + l];
            pre[i * m + j] = s;
            y[i * m + j] = gelu_tanh(s);
        }
}

static double lg_flops(const tc_case *c, bool bwd) {
    (void)bwd;
    return 2.0 * (double)c->p[0] * (double)c->p[1] * (double)c->p[2];
}

const tc_op tc_op_linear_gelu = {
    .name = "linear_gelu",
    .plan = lg_plan,
    .fwd = lg_fwd,
    .bwd = NULL,
    .ref = lg_ref,
    .flops = lg_flops,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = TOL_GELU_REF,
    .tol_be = TOL_GELU_GEMM_BE,
};

/* ---- linear_dgelu ---- */

static void ldg_plan(const tc_case *c, tc_plan *p) {
    int64_t n = c->p[0], k = c->p[1], m = c->p[2];
    unsigned base = c->p[4] ? 0 : TC_DIFF | TC_GRAD_ACC;
    bool tail = c->p[5];
    tc_add_in(p, "u", TC_FLOAT, TC_INIT_NORMAL, tail ? -3 : 0, tail ? 0.3 : 2, TC_DIFF,
              TC_DIMS(n, k));
    tc_add_in(p, "w", TC_FLOAT, TC_INIT_NORMAL, 0, 0.5, base | TC_PARAM, TC_DIMS(m, k));
    if (c->p[3]) tc_add_in(p, "bias", TC_FLOAT, TC_INIT_NORMAL, 0, 1, base | TC_PARAM, TC_DIMS(m));
    tc_add_out(p, "act", TC_FLOAT, 0, TC_DIMS(n, k));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(n, m));
}

/* The forward the backward belongs to, as the model's MLP runs it (two ops). */
static wf_status ldg_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    WF_TRY(wf_op_gelu_fwd(be, tc_out(io, "act"), tc_in(io, "u"), true));
    return wf_op_linear_fwd(be, tc_out(io, "y"), tc_out(io, "act"), tc_in(io, "w"),
                            tc_in(io, "bias"));
}

static wf_status ldg_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_linear_dgelu_tanh_bwd(be, tc_din(io, "u"), tc_din(io, "w"), tc_din(io, "bias"),
                                       tc_dout(io, "y"), tc_out(io, "act"), tc_in(io, "w"),
                                       tc_in(io, "u"));
}

static void ldg_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    int64_t n = c->p[0], k = c->p[1], m = c->p[2];
    const double *u = tc_ref_in(p, in, "u"), *w = tc_ref_in(p, in, "w");
    const double *bias = tc_ref_in(p, in, "bias");
    double *act = tc_ref_out(p, out, "act"), *y = tc_ref_out(p, out, "y");
    for (int64_t i = 0; i < n * k; i++) act[i] = gelu_tanh(u[i]);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double s = bias ? bias[j] : 0;
            for (int64_t l = 0; l < k; l++) s += act[i * k + l] * w[j * k + l];
            y[i * m + j] = s;
        }
}

static double ldg_flops(const tc_case *c, bool bwd) {
    double f = 2.0 * (double)c->p[0] * (double)c->p[1] * (double)c->p[2];
    if (!bwd) return f;
    return f + (c->p[4] ? 0 : f); /* dpre = dy W (GELU fused); dW = dy^T act */
}

const tc_op tc_op_linear_dgelu = {
    .name = "linear_dgelu",
    .plan = ldg_plan,
    .fwd = ldg_fwd,
    .bwd = ldg_bwd,
    .ref = ldg_ref,
    .flops = ldg_flops,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-5, 2e-6, "one fp32 tanh (a few ulp), then fp32 dots (K <= 512: ~sqrt(K) 2^-24 "
                            "of output scale)"},
    .tol_grad = {1e-4, 1e-5, "fp32 GELU derivative vs float64 central differences (h = 1e-4) of "
                             "a nonlinear map"},
    .tol_be = TOL_GELU_GEMM_BE,
};
