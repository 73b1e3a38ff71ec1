/* Op cases for RoPE, HF half-split layout (MATH.md "RoPE"), with a float64 reference.
 * p = {N, H, D, scaling, in_place, max_pos}: x (N, H, D); scaling 0 = theta 10000, no scaling;
 * 1 = Llama-3.2's (theta 500000, llama3 factor 32, low 1, high 4, original 8192); in_place 1 =
 * the op is called with y == x (and the backward with dx == dy); positions in [0, max_pos).
 * The reference takes the same fp32 angle a = (float)pos * inv_freq[j] as the op (HF computes
 * the angles in fp32 too), then double cos/sin: it checks the rotation, not the rounding of a. */
#include <math.h>

#include "ops_list.h"

static void plan(const tc_case *c, tc_plan *p) {
    int64_t N = c->p[0], H = c->p[1], D = c->p[2];
    bool inplace = c->p[4];
    /* in place: input "x0" is copied into output "x" by the harness, and the op rotates "x" */
    tc_add_in(p, inplace ? "x0" : "x", TC_FLOAT, TC_INIT_NORMAL, 0, 1, TC_DIFF, TC_DIMS(N, H, D));
    tc_add_in(p, "pos", TC_I32, TC_INIT_INT, 0, (double)c->p[5], 0, TC_DIMS(N));
    tc_add_in(p, "inv_freq", TC_F32, TC_INIT_CUSTOM, 0, 0, 0, TC_DIMS(D / 2));
    if (inplace) tc_add_out(p, "x", TC_FLOAT, TC_ACC | TC_LOSS, TC_DIMS(N, H, D));
    else tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(N, H, D));
}

static void init(const tc_case *c, const char *name, double *v, int64_t n) {
    (void)name; /* only inv_freq is custom */
    float f[256];
    WF_ASSERT(n <= 256);
    const wf_rope_scaling llama32 = {.factor = 32, .low_freq_factor = 1, .high_freq_factor = 4,
                                     .original_max_positions = 8192};
    wf_rope_inv_freq(f, (int)c->p[2], c->p[3] ? 500000.0 : 10000.0, c->p[3] ? &llama32 : NULL);
    for (int64_t i = 0; i < n; i++) v[i] = f[i];
}

static wf_status fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_tensor *pos = tc_in(io, "pos"), *inv = tc_in(io, "inv_freq");
    if (c->p[4]) return wf_op_rope_fwd(be, tc_out(io, "x"), tc_out(io, "x"), pos, inv);
    return wf_op_rope_fwd(be, tc_out(io, "y"), tc_in(io, "x"), pos, inv);
}

static wf_status bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_tensor *pos = tc_in(io, "pos"), *inv = tc_in(io, "inv_freq");
    if (!c->p[4]) return wf_op_rope_bwd(be, tc_din(io, "x"), tc_dout(io, "y"), pos, inv);
    wf_tensor *dx = tc_din(io, "x0"); /* in place: copy dy into dx, then rotate dx itself */
    WF_TRY(be->copy(be, dx->data, tc_dout(io, "x")->data, wf_tensor_nbytes(dx), WF_COPY_D2D));
    return wf_op_rope_bwd(be, dx, dx, pos, inv);
}

static void ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    int64_t N = c->p[0], H = c->p[1], D = c->p[2], half = D / 2;
    const double *x = tc_ref_in(p, in, c->p[4] ? "x0" : "x"), *pos = tc_ref_in(p, in, "pos");
    const double *inv = tc_ref_in(p, in, "inv_freq");
    double *y = tc_ref_out(p, out, c->p[4] ? "x" : "y");
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < half; j++) {
            float a = (float)pos[n] * (float)inv[j]; /* the op's fp32 angle (see the top) */
            double cs = cos((double)a), sn = sin((double)a);
            for (int64_t h = 0; h < H; h++) {
                const double *xr = x + (n * H + h) * D;
                double *yr = y + (n * H + h) * D;
                yr[j] = xr[j] * cs - xr[j + half] * sn;
                yr[j + half] = xr[j + half] * cs + xr[j] * sn;
            }
        }
}

const tc_op tc_op_rope = {
    .name = "rope",
    .plan = plan,
    .fwd = fwd,
    .bwd = bwd,
    .ref = ref,
    .init = init,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-5, 1e-6, "fp32 cosf/sinf (1 ulp) and two products and a sum: a few ulp"},
    .tol_grad = {1e-5, 1e-6, "linear in x: central differences are exact but for float64 rounding"},
    .tol_be =
        {
            {1e-5, 1e-6, "fp32 cos/sin of the same fp32 angle: 1-2 ulp apart"},
            {1.6e-2, 8e-3, "bf16 output (2^-8), and bf16 cos/sin where a backend rounds as HF"},
            {2e-3, 1e-3, "fp16 output (2^-11), and fp16 cos/sin where a backend rounds them as HF"},
        },
};
