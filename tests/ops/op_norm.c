/* Op cases for LayerNorm and RMSNorm (MATH.md "Normalisation"), with float64 references.
 * layernorm p = {rows, cols, bias, stats, train_g, batch, zero_row}, f[0] = eps.
 * rmsnorm   p = {rows, cols, stats, train_g, batch, zero_row},       f[0] = eps.
 *   bias: 1 = the optional bias is given; stats: 1 = forward saves mean/rstd, 0 = forward passes
 *   NULL (backward then recomputes them, as the graph would with activation recomputation);
 *   train_g: 0 = g (and bias) frozen, dg/dbias NULL; batch > 0: x is (batch, rows/batch, cols)
 *   and the statistics (batch, rows/batch); zero_row: row 0 of x is all zeros (a padding row:
 *   var = 0, so rstd = 1/sqrt(eps) is exercised). */
#include <math.h>

#include "ops_list.h"
#include "weft/rng.h"

/* Deterministic normal numbers for the custom x init (Box-Muller over wf_rng_uniform). */
static double tnormal(uint64_t seed, uint64_t i) {
    double u1 = wf_rng_uniform(seed, 0, 7, 2 * i) + 1.0 / 33554432.0;
    double u2 = wf_rng_uniform(seed, 0, 7, 2 * i + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* x ~ N(0.3, 1.5) (a nonzero mean, so LayerNorm's centring matters), row 0 zeros if asked. */
static void init_x(const tc_case *c, int64_t cols, int zero_row, double *v, int64_t n) {
    uint64_t seed = 1469598103934665603ull; /* FNV-1a of the label: each case its own values */
    for (const char *s = c->label; *s; s++) seed = (seed ^ (unsigned char)*s) * 1099511628211ull;
    for (int64_t i = 0; i < n; i++)
        v[i] = (zero_row && i < cols) ? 0.0 : 0.3 + 1.5 * tnormal(seed, (uint64_t)i);
}

/* Shapes of x and of one statistic: (rows, cols) and (rows), or split by batch. */
static int x_shape(int64_t rows, int64_t cols, int64_t batch, int64_t *xs, int64_t *ss) {
    if (batch > 0) {
        xs[0] = ss[0] = batch, xs[1] = ss[1] = rows / batch, xs[2] = cols;
        return 3;
    }
    xs[0] = ss[0] = rows, xs[1] = cols;
    return 2;
}

/* ---- layernorm ---- */

static void ln_plan(const tc_case *c, tc_plan *p) {
    int64_t xs[3], ss[2];
    int nd = x_shape(c->p[0], c->p[1], c->p[5], xs, ss);
    unsigned pf = (c->p[4] ? TC_DIFF | TC_GRAD_ACC : 0) | TC_PARAM, sf = c->p[3] ? 0 : TC_NOCMP;
    tc_add_in(p, "x", TC_FLOAT, TC_INIT_CUSTOM, 0, 0, TC_DIFF | TC_GRAD_ACC, nd, xs);
    tc_add_in(p, "g", TC_FLOAT, TC_INIT_NORMAL, 1, 0.3, pf, TC_DIMS(c->p[1]));
    if (c->p[2]) tc_add_in(p, "bias", TC_FLOAT, TC_INIT_NORMAL, 0, 0.5, pf, TC_DIMS(c->p[1]));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, nd, xs);
    tc_add_out(p, "mean", TC_F32, sf, nd - 1, ss);
    tc_add_out(p, "rstd", TC_F32, sf, nd - 1, ss);
}

static void ln_init(const tc_case *c, const char *name, double *v, int64_t n) {
    (void)name; /* only x is custom */
    init_x(c, c->p[1], (int)c->p[6], v, n);
}

static wf_status ln_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    bool stats = c->p[3];
    return wf_op_layernorm_fwd(be, tc_out(io, "y"), stats ? tc_out(io, "mean") : NULL,
                               stats ? tc_out(io, "rstd") : NULL, tc_in(io, "x"), tc_in(io, "g"),
                               tc_in(io, "bias"), (float)c->f[0]);
}

static wf_status ln_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_tensor *mean = tc_out(io, "mean"), *rstd = tc_out(io, "rstd");
    if (!c->p[3]) /* forward kept no statistics: recompute them */
        WF_TRY(wf_op_layernorm_fwd(be, tc_out(io, "y"), mean, rstd, tc_in(io, "x"), tc_in(io, "g"),
                                   tc_in(io, "bias"), (float)c->f[0]));
    return wf_op_layernorm_bwd(be, tc_din(io, "x"), tc_din(io, "g"), tc_din(io, "bias"),
                               tc_dout(io, "y"), tc_in(io, "x"), mean, rstd, tc_in(io, "g"));
}

static void ln_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *x = tc_ref_in(p, in, "x"), *g = tc_ref_in(p, in, "g");
    const double *b = tc_ref_in(p, in, "bias");
    double *y = tc_ref_out(p, out, "y"), *mean = tc_ref_out(p, out, "mean");
    double *rstd = tc_ref_out(p, out, "rstd");
    int64_t N = c->p[0], C = c->p[1];
    for (int64_t n = 0; n < N; n++) {
        const double *xr = x + n * C;
        double mu = 0, var = 0;
        for (int64_t k = 0; k < C; k++) mu += xr[k];
        mu /= (double)C;
        for (int64_t k = 0; k < C; k++) var += (xr[k] - mu) * (xr[k] - mu);
        double rs = 1.0 / sqrt(var / (double)C + c->f[0]);
        for (int64_t k = 0; k < C; k++) y[n * C + k] = g[k] * (xr[k] - mu) * rs + (b ? b[k] : 0.0);
        mean[n] = mu, rstd[n] = rs;
    }
}

/* Backend-vs-CPU tolerances shared by both norms. */
#define TC_TOL_NORM                                                                                \
    {                                                                                              \
        {1e-4, 1e-5, "fp32 sums of up to ~1000 terms in another order: ~sqrt(n) ulp of the sum"},  \
            {1.6e-2, 8e-3, "bf16 outputs and '+=' gradients: one rounding of |init + grad|, 2^-8"},\
            {2e-3, 1e-3, "fp16 outputs and '+=' gradients: one rounding of |init + grad|, 2^-11"}, \
    }

const tc_op tc_op_layernorm = {
    .name = "layernorm",
    .plan = ln_plan,
    .fwd = ln_fwd,
    .bwd = ln_bwd,
    .ref = ln_ref,
    .init = ln_init,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-5, 1e-6, "fp32 (x - mean) * rstd * g + b from rounded mean/rstd: a few ulp"},
    .tol_grad = {1e-4, 1e-5, "fp32 backward vs float64 central differences (h = 1e-4)"},
    .tol_be = TC_TOL_NORM,
};

/* ---- rmsnorm ---- */

static void rms_plan(const tc_case *c, tc_plan *p) {
    int64_t xs[3], ss[2];
    int nd = x_shape(c->p[0], c->p[1], c->p[4], xs, ss);
    tc_add_in(p, "x", TC_FLOAT, TC_INIT_CUSTOM, 0, 0, TC_DIFF | TC_GRAD_ACC, nd, xs);
    tc_add_in(p, "g", TC_FLOAT, TC_INIT_NORMAL, 1, 0.3,
              (c->p[3] ? TC_DIFF | TC_GRAD_ACC : 0) | TC_PARAM, TC_DIMS(c->p[1]));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, nd, xs);
    tc_add_out(p, "rstd", TC_F32, c->p[2] ? 0 : TC_NOCMP, nd - 1, ss);
}

static void rms_init(const tc_case *c, const char *name, double *v, int64_t n) {
    (void)name;
    init_x(c, c->p[1], (int)c->p[5], v, n);
}

static wf_status rms_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    return wf_op_rmsnorm_fwd(be, tc_out(io, "y"), c->p[2] ? tc_out(io, "rstd") : NULL,
                             tc_in(io, "x"), tc_in(io, "g"), (float)c->f[0]);
}

static wf_status rms_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_tensor *rstd = tc_out(io, "rstd");
    if (!c->p[2]) /* forward kept no statistics: recompute them */
        WF_TRY(wf_op_rmsnorm_fwd(be, tc_out(io, "y"), rstd, tc_in(io, "x"), tc_in(io, "g"),
                                 (float)c->f[0]));
    return wf_op_rmsnorm_bwd(be, tc_din(io, "x"), tc_din(io, "g"), tc_dout(io, "y"),
                             tc_in(io, "x"), rstd, tc_in(io, "g"));
}

static void rms_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *x = tc_ref_in(p, in, "x"), *g = tc_ref_in(p, in, "g");
    double *y = tc_ref_out(p, out, "y"), *rstd = tc_ref_out(p, out, "rstd");
    int64_t N = c->p[0], C = c->p[1];
    for (int64_t n = 0; n < N; n++) {
        double ms = 0;
        for (int64_t k = 0; k < C; k++) ms += x[n * C + k] * x[n * C + k];
        double rs = 1.0 / sqrt(ms / (double)C + c->f[0]);
        for (int64_t k = 0; k < C; k++) y[n * C + k] = g[k] * x[n * C + k] * rs;
        rstd[n] = rs;
    }
}

const tc_op tc_op_rmsnorm = {
    .name = "rmsnorm",
    .plan = rms_plan,
    .fwd = rms_fwd,
    .bwd = rms_bwd,
    .ref = rms_ref,
    .init = rms_init,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-5, 1e-6, "fp32 g * (x * rstd) from a rounded rstd: a few ulp"},
    .tol_grad = {1e-4, 1e-5, "fp32 backward vs float64 central differences (h = 1e-4)"},
    .tol_be = TC_TOL_NORM,
};
