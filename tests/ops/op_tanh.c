/* Op cases for tanh. p[0]: rows, p[1]: cols. The backward takes the forward output y; the
 * finite differences differentiate the reference through x, so they check dx = dy (1 - y^2). */
#include <math.h>

#include "ops_list.h"

static void plan(const tc_case *c, tc_plan *p) {
    tc_add_in(p, "x", TC_FLOAT, TC_INIT_NORMAL, 0, 1.5, TC_DIFF, TC_DIMS(c->p[0], c->p[1]));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(c->p[0], c->p[1]));
}

static wf_status fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_tanh_fwd(be, tc_out(io, "y"), tc_in(io, "x"));
}

static wf_status bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_tanh_bwd(be, tc_din(io, "x"), tc_dout(io, "y"), tc_out(io, "y"));
}

static void ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    (void)c;
    const double *x = tc_ref_in(p, in, "x");
    double *y = tc_ref_out(p, out, "y");
    for (int64_t i = 0; i < tc_numel(&p->in[0]); i++) y[i] = tanh(x[i]);
}

const tc_op tc_op_tanh = {
    .name = "tanh",
    .plan = plan,
    .fwd = fwd,
    .bwd = bwd,
    .ref = ref,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-6, 1e-7, "one fp32 tanhf: a few ulp"},
    .tol_grad = {1e-4, 1e-5, "fp32 1 - y^2 from a rounded y vs float64 central differences"},
    .tol_be = TC_TOL_ELEMENTWISE,
};
