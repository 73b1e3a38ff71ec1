/* Op cases for GELU. p[0]: rows, p[1]: cols, p[2]: 1 = tanh form. */
#include <math.h>

#include "ops_list.h"

static void plan(const tc_case *c, tc_plan *p) {
    tc_add_in(p, "x", TC_FLOAT, TC_INIT_NORMAL, 0, 2, TC_DIFF, TC_DIMS(c->p[0], c->p[1]));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(c->p[0], c->p[1]));
}

static wf_status fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    return wf_op_gelu_fwd(be, tc_out(io, "y"), tc_in(io, "x"), c->p[2]);
}

static wf_status bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    return wf_op_gelu_bwd(be, tc_din(io, "x"), tc_dout(io, "y"), tc_in(io, "x"), c->p[2]);
}

static void ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *x = tc_ref_in(p, in, "x");
    double *y = tc_ref_out(p, out, "y");
    for (int64_t i = 0; i < tc_numel(&p->in[0]); i++) {
        double v = x[i];
        y[i] = c->p[2] ? 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))
                       : 0.5 * v * (1 + erf(v / sqrt(2.0)));
    }
}

const tc_op tc_op_gelu = {
    .name = "gelu",
    .plan = plan,
    .fwd = fwd,
    .bwd = bwd,
    .ref = ref,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-6, 1e-7, "one fp32 erf/tanh evaluation: a few ulp"},
    .tol_grad = {1e-4, 1e-5, "fp32 derivative vs float64 central differences (h = 1e-4)"},
    .tol_be = TC_TOL_ELEMENTWISE,
};
