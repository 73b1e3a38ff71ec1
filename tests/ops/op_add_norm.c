/* Op cases for the residual add fused with LayerNorm / RMSNorm (ops.h add_layernorm_fwd,
 * add_rmsnorm_fwd), with float64 references: s = x + r, then the norm of s (MATH.md
 * "Normalisation").
 *   add_layernorm p = {rows, cols, bias, stats, alias, batch}, f[0] = eps.
 *   add_rmsnorm   p = {rows, cols, stats, alias, batch},       f[0] = eps.
 *   stats: 1 = mean/rstd saved, 0 = NULL; alias: 1 = s is x (in place over the residual stream),
 *   2 = s is r (over the branch output), 0 = s its own buffer; batch > 0: x is (batch, rows/batch,
 *   cols). The fused op has no backward of its own: the graph runs the norm's backward on the
 *   saved s, its dx "+=" carrying the residual gradient. The cases' backward does exactly that
 *   (dx = dr = ds + norm_bwd(dy)), so finite differences of the fused reference check that the
 *   saved s is what that backward needs (the statistics: see aln_bwd). */
#include "ops_list.h"

#include <math.h>

/* Names of x, r and s: with alias 1 s is the output "x" starting from input "x0" (TC_ACC), with
 * alias 2 the output "r" starting from "r0". */
typedef struct an_names {
    const char *x, *r, *s;
} an_names;

static an_names names(int64_t alias) {
    if (alias == 1) return (an_names){"x0", "r", "x"};
    if (alias == 2) return (an_names){"x", "r0", "r"};
    return (an_names){"x", "r", "s"};
}

/* x ~ N(0.3, 1.5) (a nonzero mean: LayerNorm's centring matters), r ~ N(-0.2, 1); x is
 * differentiable unless the output overwrites it (then only r is, and vice versa). */
static void an_plan_common(tc_plan *p, int64_t rows, int64_t cols, int64_t alias, int64_t batch,
                           int *nd, int64_t *xs, int64_t *ss) {
    *nd = 2, xs[0] = ss[0] = rows, xs[1] = cols;
    if (batch > 0)
        *nd = 3, xs[0] = ss[0] = batch, xs[1] = ss[1] = rows / batch, xs[2] = cols;
    an_names n = names(alias);
    unsigned d = TC_DIFF | TC_GRAD_ACC;
    tc_add_in(p, n.x, TC_FLOAT, TC_INIT_NORMAL, 0.3, 1.5, alias == 1 ? 0 : d, *nd, xs);
    tc_add_in(p, n.r, TC_FLOAT, TC_INIT_NORMAL, -0.2, 1.0, alias == 2 ? 0 : d, *nd, xs);
}

/* The tensors of one call (x and r read from the output when s overwrites them). */
static void an_args(tc_io *io, int64_t alias, wf_tensor **s, const wf_tensor **x,
                    const wf_tensor **r) {
    an_names n = names(alias);
    *s = tc_out(io, n.s);
    *x = alias == 1 ? *s : tc_in(io, n.x);
    *r = alias == 2 ? *s : tc_in(io, n.r);
}

/* dx and dr "+=" ds (the residual path), after the norm's backward added its part. */
static wf_status an_bwd_common(wf_backend *be, tc_io *io, int64_t alias) {
    an_names n = names(alias);
    wf_tensor *ds = tc_dout(io, n.s);
    wf_tensor *dx = alias == 1 ? NULL : tc_din(io, n.x), *dr = alias == 2 ? NULL : tc_din(io, n.r);
    if (dx) WF_TRY(wf_op_add(be, dx, dx, ds));
    if (dr) WF_TRY(wf_op_add(be, dr, dr, ds));
    return WF_OK;
}

/* s = x + r from the reference inputs (by plan position: x first, r second). */
static void ref_sum(const tc_plan *p, double *const *in, double *s) {
    for (int64_t i = 0; i < tc_numel(&p->in[0]); i++) s[i] = in[0][i] + in[1][i];
}

/* ---- add_layernorm ---- */

static void aln_plan(const tc_case *c, tc_plan *p) {
    int nd;
    int64_t xs[3], ss[2];
    an_plan_common(p, c->p[0], c->p[1], c->p[4], c->p[5], &nd, xs, ss);
    tc_add_in(p, "g", TC_FLOAT, TC_INIT_NORMAL, 1, 0.3, TC_DIFF | TC_GRAD_ACC | TC_PARAM,
              TC_DIMS(c->p[1]));
    if (c->p[2])
        tc_add_in(p, "bias", TC_FLOAT, TC_INIT_NORMAL, 0, 0.5, TC_DIFF | TC_GRAD_ACC | TC_PARAM,
                  TC_DIMS(c->p[1]));
    tc_add_out(p, names(c->p[4]).s, TC_FLOAT, TC_LOSS | (c->p[4] ? TC_ACC : 0), nd, xs);
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, nd, xs);
    tc_add_out(p, "mean", TC_F32, c->p[3] ? 0 : TC_NOCMP, nd - 1, ss);
    tc_add_out(p, "rstd", TC_F32, c->p[3] ? 0 : TC_NOCMP, nd - 1, ss);
}

static wf_status aln_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_tensor *s;
    const wf_tensor *x, *r;
    an_args(io, c->p[4], &s, &x, &r);
    bool stats = c->p[3];
    return wf_op_add_layernorm_fwd(be, s, tc_out(io, "y"), stats ? tc_out(io, "mean") : NULL,
                                   stats ? tc_out(io, "rstd") : NULL, x, r, tc_in(io, "g"),
                                   tc_in(io, "bias"), (float)c->f[0]);
}

/* The graph's backward of the fused op: the norm's backward at the saved s into dx and dr, then
 * + ds (the residual path). The statistics are taken again from s by the unfused norm forward:
 * on every backend the bits the fused op saved (test_add_norm_bits; the forward checks compare
 * them too), and on the fp32 CPU reference, whose s the harness rounds to the tested dtype after
 * the forward, statistics of that rounded s as the device's are. Without that the reference's
 * mean of the unrounded s meets the rounded s, and at small C (rstd up to 1/sqrt(eps)) the
 * backward multiplies the rounding far past any tolerance. */
static wf_status aln_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    an_names n = names(c->p[4]);
    wf_tensor *s = tc_out(io, n.s), *mean = tc_out(io, "mean"), *rstd = tc_out(io, "rstd");
    WF_TRY(wf_op_layernorm_fwd(be, tc_out(io, "y"), mean, rstd, s, tc_in(io, "g"),
                               tc_in(io, "bias"), (float)c->f[0]));
    const wf_tensor *dy = tc_dout(io, "y"), *g = tc_in(io, "g");
    wf_tensor *dg = tc_din(io, "g"), *db = tc_din(io, "bias");
    if (c->p[4] != 1) {
        WF_TRY(wf_op_layernorm_bwd(be, tc_din(io, n.x), dg, db, dy, s, mean, rstd, g));
        dg = db = NULL; /* the parameters' gradients are taken once */
    }
    if (c->p[4] != 2)
        WF_TRY(wf_op_layernorm_bwd(be, tc_din(io, n.r), dg, db, dy, s, mean, rstd, g));
    return an_bwd_common(be, io, c->p[4]);
}

static void aln_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *g = tc_ref_in(p, in, "g"), *b = tc_ref_in(p, in, "bias");
    double *s = tc_ref_out(p, out, names(c->p[4]).s), *y = tc_ref_out(p, out, "y");
    double *mean = tc_ref_out(p, out, "mean"), *rstd = tc_ref_out(p, out, "rstd");
    int64_t N = c->p[0], C = c->p[1];
    ref_sum(p, in, s);
    for (int64_t n = 0; n < N; n++) {
        const double *sr = s + n * C;
        double mu = 0, var = 0;
        for (int64_t k = 0; k < C; k++) mu += sr[k];
        mu /= (double)C;
        for (int64_t k = 0; k < C; k++) var += (sr[k] - mu) * (sr[k] - mu);
        double rs = 1.0 / sqrt(var / (double)C + c->f[0]);
        for (int64_t k = 0; k < C; k++) y[n * C + k] = g[k] * (sr[k] - mu) * rs + (b ? b[k] : 0.0);
        mean[n] = mu, rstd[n] = rs;
    }
}

/* Backend-vs-CPU tolerances: the norms' (op_norm.c), plus, in bf16/fp16, the backend's norm
 * reading s rounded to the dtype where the CPU reads it in fp32: half an ulp of s, which moves
 * y by at most about as much (2^-9 bf16, 2^-12 fp16 relative), inside the norms' bounds. */
#define TC_TOL_ADD_NORM                                                                            \
    {                                                                                              \
        {1e-4, 1e-5, "fp32 sums of up to ~1000 terms in another order: ~sqrt(n) ulp of the sum"},  \
            {1.6e-2, 8e-3, "bf16: rounded s read by the norm, y and '+=' gradients rounded, 2^-8"},\
            {2e-3, 1e-3, "fp16: rounded s read by the norm, y and '+=' gradients rounded, 2^-11"}, \
    }

const tc_op tc_op_add_layernorm = {
    .name = "add_layernorm",
    .plan = aln_plan,
    .fwd = aln_fwd,
    .bwd = aln_bwd,
    .ref = aln_ref,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-5, 1e-6, "fp32 s (one rounding), then (s - mean) * rstd * g + b: a few ulp"},
    .tol_grad = {1e-4, 1e-5, "fp32 backward vs float64 central differences (h = 1e-4)"},
    .tol_be = TC_TOL_ADD_NORM,
};

/* ---- add_rmsnorm ---- */

static void arms_plan(const tc_case *c, tc_plan *p) {
    int nd;
    int64_t xs[3], ss[2];
    an_plan_common(p, c->p[0], c->p[1], c->p[3], c->p[4], &nd, xs, ss);
    tc_add_in(p, "g", TC_FLOAT, TC_INIT_NORMAL, 1, 0.3, TC_DIFF | TC_GRAD_ACC | TC_PARAM,
              TC_DIMS(c->p[1]));
    tc_add_out(p, names(c->p[3]).s, TC_FLOAT, TC_LOSS | (c->p[3] ? TC_ACC : 0), nd, xs);
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, nd, xs);
    tc_add_out(p, "rstd", TC_F32, c->p[2] ? 0 : TC_NOCMP, nd - 1, ss);
}

static wf_status arms_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_tensor *s;
    const wf_tensor *x, *r;
    an_args(io, c->p[3], &s, &x, &r);
    return wf_op_add_rmsnorm_fwd(be, s, tc_out(io, "y"), c->p[2] ? tc_out(io, "rstd") : NULL, x,
                                 r, tc_in(io, "g"), (float)c->f[0]);
}

/* As aln_bwd: rstd taken again from the saved s. */
static wf_status arms_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    an_names n = names(c->p[3]);
    wf_tensor *s = tc_out(io, n.s), *rstd = tc_out(io, "rstd");
    WF_TRY(wf_op_rmsnorm_fwd(be, tc_out(io, "y"), rstd, s, tc_in(io, "g"), (float)c->f[0]));
    const wf_tensor *dy = tc_dout(io, "y"), *g = tc_in(io, "g");
    wf_tensor *dg = tc_din(io, "g");
    if (c->p[3] != 1) {
        WF_TRY(wf_op_rmsnorm_bwd(be, tc_din(io, n.x), dg, dy, s, rstd, g));
        dg = NULL; /* the gain's gradient is taken once */
    }
    if (c->p[3] != 2) WF_TRY(wf_op_rmsnorm_bwd(be, tc_din(io, n.r), dg, dy, s, rstd, g));
    return an_bwd_common(be, io, c->p[3]);
}

static void arms_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *g = tc_ref_in(p, in, "g");
    double *s = tc_ref_out(p, out, names(c->p[3]).s), *y = tc_ref_out(p, out, "y");
    double *rstd = tc_ref_out(p, out, "rstd");
    int64_t N = c->p[0], C = c->p[1];
    ref_sum(p, in, s);
    for (int64_t n = 0; n < N; n++) {
        double ms = 0;
        for (int64_t k = 0; k < C; k++) ms += s[n * C + k] * s[n * C + k];
        double rs = 1.0 / sqrt(ms / (double)C + c->f[0]);
        for (int64_t k = 0; k < C; k++) y[n * C + k] = g[k] * s[n * C + k] * rs;
        rstd[n] = rs;
    }
}

const tc_op tc_op_add_rmsnorm = {
    .name = "add_rmsnorm",
    .plan = arms_plan,
    .fwd = arms_fwd,
    .bwd = arms_bwd,
    .ref = arms_ref,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-5, 1e-6, "fp32 s (one rounding), then g * (s * rstd): a few ulp"},
    .tol_grad = {1e-4, 1e-5, "fp32 backward vs float64 central differences (h = 1e-4)"},
    .tol_be = TC_TOL_ADD_NORM,
};
