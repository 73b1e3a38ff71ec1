/* Op cases for the elementwise ops, with float64 references:
 *   add     p = {rows, cols, alias}: alias 1 = out is a, 2 = out is b (in place).
 *   swiglu  p = {rows, cols}.
 *   ia3     p = {rows, cols, dx}: dx 0 = the optional dx is not asked for.
 *   dropout p = {rows, cols, seed, step, stream}, f[0] = p.
 *   cast    p = {n, in kind, out kind} (tc_kind: TC_F32, TC_BF16, TC_F16).
 * MATH.md "Activations", "Linear and LoRA" (IA3), "Numbers" (dropout, rounding). */
#include <math.h>

#include "ops_list.h"
#include "weft/rng.h"

/* ---- add ---- */

static void add_plan(const tc_case *c, tc_plan *p) {
    int64_t R = c->p[0], C = c->p[1];
    tc_add_in(p, c->p[2] == 1 ? "a0" : "a", TC_FLOAT, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(R, C));
    tc_add_in(p, c->p[2] == 2 ? "b0" : "b", TC_FLOAT, TC_INIT_NORMAL, 0, 3, 0, TC_DIMS(R, C));
    tc_add_out(p, c->p[2] == 1 ? "a" : c->p[2] == 2 ? "b" : "out", TC_FLOAT, c->p[2] ? TC_ACC : 0,
               TC_DIMS(R, C));
}

static wf_status add_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    if (c->p[2] == 1) return wf_op_add(be, tc_out(io, "a"), tc_out(io, "a"), tc_in(io, "b"));
    if (c->p[2] == 2) return wf_op_add(be, tc_out(io, "b"), tc_in(io, "a"), tc_out(io, "b"));
    return wf_op_add(be, tc_out(io, "out"), tc_in(io, "a"), tc_in(io, "b"));
}

static void add_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    (void)c;
    const double *a = in[0], *b = in[1]; /* by position: "a" or "a0", "b" or "b0" */
    for (int64_t i = 0; i < tc_numel(&p->in[0]); i++) out[0][i] = a[i] + b[i];
}

const tc_op tc_op_add = {
    .name = "add",
    .plan = add_plan,
    .fwd = add_fwd,
    .ref = add_ref,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1.2e-7, 0, "one fp32 rounding of the exact sum: at most 2^-24 relative"},
    .tol_be = TC_TOL_ELEMENTWISE,
};

/* ---- swiglu ---- */

static void swiglu_plan(const tc_case *c, tc_plan *p) {
    int64_t R = c->p[0], C = c->p[1];
    /* std 4: gates reach the saturated tails of the sigmoid on both sides */
    tc_add_in(p, "gate", TC_FLOAT, TC_INIT_NORMAL, 0, 4, TC_DIFF, TC_DIMS(R, C));
    tc_add_in(p, "up", TC_FLOAT, TC_INIT_NORMAL, 0, 1.5, TC_DIFF, TC_DIMS(R, C));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(R, C));
}

static wf_status swiglu_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_swiglu_fwd(be, tc_out(io, "y"), tc_in(io, "gate"), tc_in(io, "up"));
}

static wf_status swiglu_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_swiglu_bwd(be, tc_din(io, "gate"), tc_din(io, "up"), tc_dout(io, "y"),
                            tc_in(io, "gate"), tc_in(io, "up"));
}

static void swiglu_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    (void)c;
    const double *g = tc_ref_in(p, in, "gate"), *u = tc_ref_in(p, in, "up");
    double *y = tc_ref_out(p, out, "y");
    for (int64_t i = 0; i < tc_numel(&p->in[0]); i++) y[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
}

const tc_op tc_op_swiglu = {
    .name = "swiglu",
    .plan = swiglu_plan,
    .fwd = swiglu_fwd,
    .bwd = swiglu_bwd,
    .ref = swiglu_ref,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-6, 1e-7, "fp32 expf, a division and two products: a few ulp"},
    .tol_grad = {1e-4, 1e-5, "fp32 derivative vs float64 central differences (h = 1e-4)"},
    .tol_be = TC_TOL_ELEMENTWISE,
};

/* ---- ia3 ---- */

static void ia3_plan(const tc_case *c, tc_plan *p) {
    int64_t R = c->p[0], C = c->p[1];
    tc_add_in(p, "x", TC_FLOAT, TC_INIT_NORMAL, 0, 1, c->p[2] ? TC_DIFF : 0, TC_DIMS(R, C));
    tc_add_in(p, "l", TC_FLOAT, TC_INIT_NORMAL, 1, 0.2, TC_DIFF | TC_GRAD_ACC | TC_PARAM, TC_DIMS(C));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(R, C));
}

static wf_status ia3_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_ia3_fwd(be, tc_out(io, "y"), tc_in(io, "x"), tc_in(io, "l"));
}

static wf_status ia3_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c; /* tc_din is NULL for a non-differentiable x: the optional dx is not asked for */
    return wf_op_ia3_bwd(be, tc_din(io, "x"), tc_din(io, "l"), tc_dout(io, "y"), tc_in(io, "x"),
                         tc_in(io, "l"));
}

static void ia3_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *x = tc_ref_in(p, in, "x"), *l = tc_ref_in(p, in, "l");
    double *y = tc_ref_out(p, out, "y");
    int64_t R = c->p[0], C = c->p[1];
    for (int64_t r = 0; r < R; r++)
        for (int64_t k = 0; k < C; k++) y[r * C + k] = x[r * C + k] * l[k];
}

const tc_op tc_op_ia3 = {
    .name = "ia3",
    .plan = ia3_plan,
    .fwd = ia3_fwd,
    .bwd = ia3_bwd,
    .ref = ia3_ref,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1.2e-7, 0, "one fp32 rounding of the exact product: at most 2^-24 relative"},
    .tol_grad = {1e-5, 1e-6, "bilinear: differences exact but for float64 rounding; dl summed in "
                             "double and rounded once into '+=' storage"},
    .tol_be = TC_TOL_ELEMENTWISE,
};

/* ---- dropout ---- */

static wf_dropout drop_params(const tc_case *c) {
    return (wf_dropout){.p = (float)c->f[0], .seed = (uint64_t)c->p[2], .step = (uint32_t)c->p[3],
                        .stream = (uint32_t)c->p[4]};
}

static void drop_plan(const tc_case *c, tc_plan *p) {
    tc_add_in(p, "x", TC_FLOAT, TC_INIT_NORMAL, 0, 1, TC_DIFF, TC_DIMS(c->p[0], c->p[1]));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(c->p[0], c->p[1]));
}

static wf_status drop_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_dropout d = drop_params(c);
    return wf_op_dropout(be, tc_out(io, "y"), tc_in(io, "x"), &d);
}

static wf_status drop_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_dropout d = drop_params(c); /* backward: the same mask applied to dy */
    return wf_op_dropout(be, tc_din(io, "x"), tc_dout(io, "y"), &d);
}

/* The mask is recomputed element by element with wf_rng_uniform (the contract's definition);
 * the kernel draws 4 elements per Philox call, so this also checks that it keeps to it. */
static void drop_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    wf_dropout d = drop_params(c);
    double scale = 1.0 / (1.0 - (double)d.p);
    for (int64_t i = 0; i < tc_numel(&p->in[0]); i++) {
        bool keep = wf_rng_uniform(d.seed, d.step, d.stream, (uint64_t)i) >= d.p;
        out[0][i] = keep ? in[0][i] * scale : 0.0;
    }
}

const tc_op tc_op_dropout = {
    .name = "dropout",
    .plan = drop_plan,
    .fwd = drop_fwd,
    .bwd = drop_bwd,
    .ref = drop_ref,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {2.5e-7, 0, "fp32 roundings of 1/(1-p) and of the product: 2 x 2^-24 relative"},
    .tol_grad = {1e-5, 1e-6, "linear in x: central differences exact but for float64 rounding"},
    .tol_be = TC_TOL_ELEMENTWISE,
};

/* ---- cast ---- */

/* Round to nearest even with `bits` significant bits, normal exponents >= emin and largest
 * finite value vmax, in float64 with frexp/ldexp (independent of dtype.h's bit tricks). */
static double round_rne(double v, int bits, int emin, double vmax) {
    if (v == 0 || !isfinite(v)) return v;
    int e;
    frexp(v, &e); /* |v| = m 2^e, m in [0.5, 1): the leading bit has exponent e - 1 */
    int lead = e - 1 < emin ? emin : e - 1; /* below emin: subnormal, fixed quantum */
    double q = ldexp(1.0, lead - (bits - 1)), r = v / q, fl = floor(r), frac = r - fl;
    if (frac > 0.5 || (frac == 0.5 && fmod(fl, 2.0) != 0)) fl += 1;
    double out = fl * q;
    return fabs(out) > vmax ? copysign(INFINITY, v) : out;
}

static double round_kind(double v, int64_t kind) {
    switch (kind) {
    case TC_BF16: return round_rne(v, 8, -126, ldexp(255.0, 120));
    case TC_F16: return round_rne(v, 11, -14, 65504.0);
    default: return round_rne(v, 24, -126, ldexp(16777215.0, 104));
    }
}

static void cast_plan(const tc_case *c, tc_plan *p) {
    tc_add_in(p, "in", (tc_kind)c->p[1], TC_INIT_CUSTOM, 0, 0, 0, TC_DIMS(c->p[0]));
    tc_add_out(p, "out", (tc_kind)c->p[2], 0, TC_DIMS(c->p[0]));
}

/* A mix of the values where rounding is decided: ties to even for bf16 and fp16, fp16
 * subnormals and their ties, values below fp16's smallest subnormal, the top of fp16's range
 * (finite: the comparison fails on inf), and ordinary values over many binades. */
static void cast_init(const tc_case *c, const char *name, double *v, int64_t n) {
    (void)name;
    /* largest input that stays finite in every output dtype once rounded to the input dtype:
     * bf16 rounds anything from 65408 up to 65536, which fp16 cannot hold */
    double top = c->p[1] == TC_BF16 ? 65280.0 + 127 : 65504.0 + 15.99;
    for (int64_t i = 0; i < n; i++) {
        double u = wf_rng_uniform(99, 0, 0, (uint64_t)i);
        double u2 = wf_rng_uniform(99, 0, 1, (uint64_t)i);
        double s = u2 < 0.5 ? -1 : 1;
        int k8 = (int)(u * 128), k11 = (int)(u * 1024), e = (int)((i / 8) % 20) - 10;
        switch (i % 8) {
        case 0: v[i] = s * ldexp(1.0 + u, e); break;
        case 1: v[i] = s * ldexp(1.0 + (2 * k8 + 1) / 256.0, e); break;   /* bf16 ties */
        case 2: v[i] = s * ldexp(1.0 + (2 * k11 + 1) / 2048.0, e); break; /* fp16 ties */
        case 3: v[i] = s * ldexp(2.0 * k11 + 1, -25); break;              /* fp16 subnormal ties */
        case 4: v[i] = s * ldexp(1.0 + u, -25 - e / 2 - 5); break;       /* under fp16's smallest */
        case 5: v[i] = s * (65504.0 - 64 + 80 * u); break;                /* fp16's max */
        case 6: v[i] = s * ldexp(1.0 + u, (int)((i / 8) % 30) - 15); break;
        default: v[i] = i % 16 == 7 ? 0.0 : s * ldexp(1.0 + (2 * k8 + 1) / 16777216.0, e); break;
        }
        if (fabs(v[i]) > top) v[i] = s * top;
    }
}

static wf_status cast_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_cast(be, tc_out(io, "out"), tc_in(io, "in"));
}

static void cast_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    for (int64_t i = 0; i < tc_numel(&p->in[0]); i++) out[0][i] = round_kind(in[0][i], c->p[2]);
}

const tc_op tc_op_cast = {
    .name = "cast",
    .plan = cast_plan,
    .fwd = cast_fwd,
    .ref = cast_ref,
    .init = cast_init,
    .dtypes = 1u << WF_F32, /* the case fixes both dtypes */
    .tol_ref = {0, 0, "round to nearest even is a function of the input: exact"},
    .tol_be = {{0, 0, "exact"}, {0, 0, "exact"}, {0, 0, "exact"}},
};
