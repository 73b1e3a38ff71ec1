/* Op cases for the dense ops (MATH.md "Linear and LoRA"): plans, calls, float64 references.
 *   embedding: p = {N ids, V, C, accumulate, all ids = V-1, split ids into (p[5], N/p[5]) (0: 1-D)}
 *   matmul:    p = {batch of c (0: 2-D), M, N, K, trans_a, trans_b, batch of a (0: 2-D),
 *                   batch of b (0: 2-D)}; f = {alpha, beta} (beta != 0: c starts from input c0)
 *   linear:    p = {N, K, M, bias, frozen base (w, bias get no gradient), no dx,
 *                   split x into (p[6], N/p[6], K) (0: 2-D)}
 *   lora:      p = {N, K, M, r, bias, frozen base, no dx}; f = {scale, dropout p} */
#include <math.h>

#include "ops_list.h"
#include "weft/rng.h"

/* Backend vs CPU for GEMM-based ops. Inputs are rounded to the dtype before both sides see them,
 * both accumulate in fp32; what differs is summation order and the output rounding. */
#define TOL_GEMM_BE                                                                                \
    {                                                                                              \
        {1e-4, 1e-5, "fp32: cuBLAS sums in another order (TF32 must be off): ~sqrt(K) 2^-24"},     \
            {1e-2, 5e-3, "bf16 output rounding 2^-9 plus order: ~sqrt(K) 2^-8 of output scale"},   \
            {2e-3, 1e-3, "fp16 output rounding 2^-12 plus order: ~sqrt(K) 2^-11 of output scale"}, \
    }
#define TOL_GEMM_REF {1e-5, 2e-6, "fp32 dots, K <= 384: ~sqrt(K) 2^-24 = 1.2e-6 of output scale"}
#define TOL_GEMM_GRAD                                                                              \
    {1e-5, 2e-6, "fp32 GEMMs vs float64 central differences of a linear map (exact but rounding)"}

/* ---- embedding ---- */

static void emb_plan(const tc_case *c, tc_plan *p) {
    int64_t n = c->p[0], v = c->p[1], cols = c->p[2], split = c->p[5];
    double lo = c->p[4] ? (double)(v - 1) : 0;
    if (split)
        tc_add_in(p, "ids", TC_I32, TC_INIT_INT, lo, (double)v, 0, TC_DIMS(split, n / split));
    else
        tc_add_in(p, "ids", TC_I32, TC_INIT_INT, lo, (double)v, 0, TC_DIMS(n));
    tc_add_in(p, "table", TC_FLOAT, TC_INIT_NORMAL, 0, 1, TC_DIFF | TC_GRAD_ACC | TC_PARAM,
              TC_DIMS(v, cols));
    unsigned acc = c->p[3] ? TC_ACC : 0;
    if (c->p[3]) tc_add_in(p, "out0", TC_FLOAT, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(n, cols));
    if (split)
        tc_add_out(p, "out", TC_FLOAT, TC_LOSS | acc, TC_DIMS(split, n / split, cols));
    else
        tc_add_out(p, "out", TC_FLOAT, TC_LOSS | acc, TC_DIMS(n, cols));
}

static wf_status emb_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    return wf_op_embedding_fwd(be, tc_out(io, "out"), tc_in(io, "ids"), tc_in(io, "table"),
                               c->p[3]);
}

static wf_status emb_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_embedding_bwd(be, tc_din(io, "table"), tc_in(io, "ids"), tc_dout(io, "out"));
}

static void emb_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *ids = tc_ref_in(p, in, "ids"), *table = tc_ref_in(p, in, "table");
    double *o = tc_ref_out(p, out, "out"); /* holds out0 when accumulating */
    int64_t n = c->p[0], cols = c->p[2];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < cols; j++)
            o[i * cols + j] = (c->p[3] ? o[i * cols + j] : 0) + table[(int64_t)ids[i] * cols + j];
}

const tc_op tc_op_embedding = {
    .name = "embedding",
    .plan = emb_plan,
    .fwd = emb_fwd,
    .bwd = emb_bwd,
    .ref = emb_ref,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-7, 1e-7, "a copy, or one fp32 add: half an ulp"},
    .tol_grad = {1e-5, 1e-6, "fp32 sums of a few rows; the increment over a random table0 loses "
                             "an ulp of |table0|"},
    .tol_be = {{1e-5, 1e-6, "fp32 sums of the rows of repeated ids, maybe in another order"},
               {1e-2, 4e-3, "bf16 rounding (2^-9) of table0 + a few rows; increments compared"},
               {2e-3, 5e-4, "fp16 rounding (2^-12) of table0 + a few rows; increments compared"}},
};

/* ---- matmul ---- */

/* Stored shape of an operand: rows x cols of op(x) are (r, c), stored transposed when t. */
static void mm_add_operand(tc_plan *p, const char *name, int64_t batch, int64_t r, int64_t c,
                           bool t) {
    int64_t sr = t ? c : r, sc = t ? r : c;
    if (batch) tc_add_in(p, name, TC_FLOAT, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(batch, sr, sc));
    else tc_add_in(p, name, TC_FLOAT, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(sr, sc));
}

static void mm_plan(const tc_case *c, tc_plan *p) {
    int64_t bc = c->p[0], m = c->p[1], n = c->p[2], k = c->p[3];
    mm_add_operand(p, "a", c->p[6], m, k, c->p[4]);
    mm_add_operand(p, "b", c->p[7], k, n, c->p[5]);
    bool acc = c->f[1] != 0;
    if (acc) {
        if (bc) tc_add_in(p, "c0", TC_FLOAT, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(bc, m, n));
        else tc_add_in(p, "c0", TC_FLOAT, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(m, n));
    }
    unsigned fl = acc ? TC_ACC : 0;
    if (bc) tc_add_out(p, "c", TC_FLOAT, fl, TC_DIMS(bc, m, n));
    else tc_add_out(p, "c", TC_FLOAT, fl, TC_DIMS(m, n));
}

static wf_status mm_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_matmul mm = {.c = tc_out(io, "c"), .a = tc_in(io, "a"), .b = tc_in(io, "b"),
                    .trans_a = c->p[4], .trans_b = c->p[5],
                    .alpha = (float)c->f[0], .beta = (float)c->f[1]};
    return wf_op_matmul(be, &mm);
}

static void mm_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *a = tc_ref_in(p, in, "a"), *b = tc_ref_in(p, in, "b");
    double *cc = tc_ref_out(p, out, "c"); /* holds c0 when beta != 0 */
    int64_t bt = c->p[0] ? c->p[0] : 1, m = c->p[1], n = c->p[2], k = c->p[3];
    bool ta = c->p[4], tb = c->p[5];
    double alpha = (float)c->f[0], beta = (float)c->f[1]; /* the op sees them as float */
    for (int64_t bi = 0; bi < bt; bi++) {
        /* a batch of 1 (or a 2-D operand) is shared */
        const double *ab = a + (c->p[6] > 1 ? bi : 0) * m * k;
        const double *bb = b + (c->p[7] > 1 ? bi : 0) * k * n;
        double *cb = cc + bi * m * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t l = 0; l < k; l++)
                    s += (ta ? ab[l * m + i] : ab[i * k + l]) *
                         (tb ? bb[j * k + l] : bb[l * n + j]);
                cb[i * n + j] = alpha * s + (beta != 0 ? beta * cb[i * n + j] : 0);
            }
    }
}

static double mm_flops(const tc_case *c, bool bwd) {
    (void)bwd;
    return 2.0 * (double)(c->p[0] ? c->p[0] : 1) * (double)c->p[1] * (double)c->p[2] *
           (double)c->p[3];
}

const tc_op tc_op_matmul = {
    .name = "matmul",
    .plan = mm_plan,
    .fwd = mm_fwd,
    .bwd = NULL, /* the backward of a matmul is two matmuls */
    .ref = mm_ref,
    .flops = mm_flops,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = TOL_GEMM_REF,
    .tol_be = TOL_GEMM_BE,
};

/* ---- linear ---- */

static void lin_plan(const tc_case *c, tc_plan *p) {
    int64_t n = c->p[0], k = c->p[1], m = c->p[2], split = c->p[6];
    unsigned base = c->p[4] ? 0 : TC_DIFF | TC_GRAD_ACC, dx = c->p[5] ? 0 : TC_DIFF;
    if (split) {
        tc_add_in(p, "x", TC_FLOAT, TC_INIT_NORMAL, 0, 1, dx, TC_DIMS(split, n / split, k));
    } else {
        tc_add_in(p, "x", TC_FLOAT, TC_INIT_NORMAL, 0, 1, dx, TC_DIMS(n, k));
    }
    tc_add_in(p, "w", TC_FLOAT, TC_INIT_NORMAL, 0, 0.5, base | TC_PARAM, TC_DIMS(m, k));
    if (c->p[3]) tc_add_in(p, "bias", TC_FLOAT, TC_INIT_NORMAL, 0, 1, base | TC_PARAM, TC_DIMS(m));
    if (split) tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(split, n / split, m));
    else tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(n, m));
}

static wf_status lin_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_linear_fwd(be, tc_out(io, "y"), tc_in(io, "x"), tc_in(io, "w"), tc_in(io, "bias"));
}

static wf_status lin_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    (void)c;
    return wf_op_linear_bwd(be, tc_din(io, "x"), tc_din(io, "w"), tc_din(io, "bias"),
                            tc_dout(io, "y"), tc_in(io, "x"), tc_in(io, "w"));
}

/* y (n, m) = x (n, k) w^T + bias (bias may be NULL). */
static void ref_linear(double *y, const double *x, const double *w, const double *bias, int64_t n,
                       int64_t k, int64_t m) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double s = bias ? bias[j] : 0;
            for (int64_t l = 0; l < k; l++) s += x[i * k + l] * w[j * k + l];
            y[i * m + j] = s;
        }
}

static void lin_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    ref_linear(tc_ref_out(p, out, "y"), tc_ref_in(p, in, "x"), tc_ref_in(p, in, "w"),
               tc_ref_in(p, in, "bias"), c->p[0], c->p[1], c->p[2]);
}

static double lin_flops(const tc_case *c, bool bwd) {
    double f = 2.0 * (double)c->p[0] * (double)c->p[1] * (double)c->p[2];
    if (!bwd) return f;
    return (c->p[5] ? 0 : f) + (c->p[4] ? 0 : f); /* dx = dy W; dW = dy^T x */
}

const tc_op tc_op_linear = {
    .name = "linear",
    .plan = lin_plan,
    .fwd = lin_fwd,
    .bwd = lin_bwd,
    .ref = lin_ref,
    .flops = lin_flops,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = TOL_GEMM_REF,
    .tol_grad = TOL_GEMM_GRAD,
    .tol_be = TOL_GEMM_BE,
};

/* ---- LoRA ---- */

/* Fixed dropout identity of the test: the mask depends only on these and the element index. */
static wf_dropout lora_drop(const tc_case *c) {
    return (wf_dropout){.p = (float)c->f[1], .seed = 0x5eedf00dull, .step = 11, .stream = 3};
}

static void lora_plan(const tc_case *c, tc_plan *p) {
    int64_t n = c->p[0], k = c->p[1], m = c->p[2], r = c->p[3];
    unsigned base = c->p[5] ? 0 : TC_DIFF | TC_GRAD_ACC, dx = c->p[6] ? 0 : TC_DIFF;
    tc_add_in(p, "x", TC_FLOAT, TC_INIT_NORMAL, 0, 1, dx, TC_DIMS(n, k));
    tc_add_in(p, "w", TC_FLOAT, TC_INIT_NORMAL, 0, 0.5, base | TC_PARAM, TC_DIMS(m, k));
    if (c->p[4]) tc_add_in(p, "bias", TC_FLOAT, TC_INIT_NORMAL, 0, 1, base | TC_PARAM, TC_DIMS(m));
    /* B is not PEFT's zero init: a zero B would leave dA = 0 and test nothing. */
    tc_add_in(p, "a", TC_FLOAT, TC_INIT_NORMAL, 0, 0.5, TC_DIFF | TC_GRAD_ACC | TC_PARAM, TC_DIMS(r, k));
    tc_add_in(p, "b", TC_FLOAT, TC_INIT_NORMAL, 0, 0.5, TC_DIFF | TC_GRAD_ACC | TC_PARAM, TC_DIMS(m, r));
    tc_add_out(p, "y", TC_FLOAT, TC_LOSS, TC_DIMS(n, m));
    tc_add_out(p, "h", TC_FLOAT, 0, TC_DIMS(n, r));
}

static wf_lora lora_args(const tc_case *c, tc_io *io) {
    return (wf_lora){.y = tc_out(io, "y"), .h = tc_out(io, "h"), .x = tc_in(io, "x"),
                     .w = tc_in(io, "w"), .bias = tc_in(io, "bias"), .a = tc_in(io, "a"),
                     .b = tc_in(io, "b"), .scale = (float)c->f[0], .drop = lora_drop(c),
                     .dx = tc_din(io, "x"), .dw = tc_din(io, "w"), .dbias = tc_din(io, "bias"),
                     .da = tc_din(io, "a"), .db = tc_din(io, "b"), .dy = tc_dout(io, "y")};
}

static wf_status lora_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_lora l = lora_args(c, io);
    return wf_op_lora_fwd(be, &l);
}

static wf_status lora_bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_lora l = lora_args(c, io);
    return wf_op_lora_bwd(be, &l);
}

static void lora_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    int64_t n = c->p[0], k = c->p[1], m = c->p[2], r = c->p[3];
    const double *x = tc_ref_in(p, in, "x"), *a = tc_ref_in(p, in, "a");
    const double *b = tc_ref_in(p, in, "b");
    double *y = tc_ref_out(p, out, "y"), *h = tc_ref_out(p, out, "h");
    wf_dropout d = lora_drop(c);
    double scale = (float)c->f[0], keep = 1.0 / (1.0 - (double)d.p);
    for (int64_t i = 0; i < n; i++) /* h = drop(x) A^T, mask as ops.h wf_dropout */
        for (int64_t j = 0; j < r; j++) {
            double s = 0;
            for (int64_t l = 0; l < k; l++) {
                bool kept = wf_rng_uniform(d.seed, d.step, d.stream, (uint64_t)(i * k + l)) >= d.p;
                if (kept) s += x[i * k + l] * keep * a[j * k + l];
            }
            h[i * r + j] = s;
        }
    ref_linear(y, x, tc_ref_in(p, in, "w"), tc_ref_in(p, in, "bias"), n, k, m);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double s = 0;
            for (int64_t q = 0; q < r; q++) s += h[i * r + q] * b[j * r + q];
            y[i * m + j] += scale * s;
        }
}

static double lora_flops(const tc_case *c, bool bwd) {
    double n = (double)c->p[0], k = (double)c->p[1], m = (double)c->p[2], r = (double)c->p[3];
    double base = 2 * n * m * k, down = 2 * n * r * k, up = 2 * n * m * r;
    if (!bwd) return base + down + up;
    double f = up + up + down; /* dB = dy^T h; dh = dy B; dA = dh^T drop(x) */
    if (!c->p[6]) f += base + down; /* dx = dy W + dh A */
    if (!c->p[5]) f += base;        /* dW = dy^T x */
    return f;
}

const tc_op tc_op_lora = {
    .name = "lora",
    .plan = lora_plan,
    .fwd = lora_fwd,
    .bwd = lora_bwd,
    .ref = lora_ref,
    .flops = lora_flops,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = TOL_GEMM_REF,
    .tol_grad = TOL_GEMM_GRAD,
    .tol_be = TOL_GEMM_BE,
};
