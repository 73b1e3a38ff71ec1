/* Op cases for the optimizer-step ops: grad_unscale_norm, adamw, step_end (no backward).
 * The wf_step_state lives in backend memory: input "st0" holds its fields as floats (ST_*
 * order), the descriptor builds the state in backend scratch memory, runs the op on it, and
 * writes the state after the op into output "st". Non-finite values in "st" and in unscaled
 * gradients are compared through codes (coded() below), so an injected inf/NaN is checked too.
 * grad_unscale_norm: p = {n, inject (0 none, 1 +inf, 2 NaN, 3 -inf), found_inf before,
 *   check rejections}, f = {loss_scale, grad_sumsq before}.
 * adamw: p = {n, n_decay, opt_step, p_lowp (0 none, 1 bf16, 2 f16), found_inf, betas (0: 0.9,
 *   0.999, eps 1e-8; 1: 0.9, 0.95, eps 1e-6), check rejections}, f = {lr, weight_decay,
 *   max_grad_norm, grad_sumsq}. p_lowp is checked exactly: "lowp_err" = p_lowp - RNE(p).
 * step_end: p = {dynamic, interval, found_inf, growth_tracker, opt_step, skipped_steps,
 *   check rejections}, f = {loss_scale, grad_sumsq (< 0: +inf), growth, backoff}. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_list.h"
#include "weft/rng.h"

enum {
    ST_SCALE, ST_SUMSQ, ST_INF, ST_TRACKER, ST_STEP, ST_SKIPPED, ST_NORM, ST_LAST_SKIPPED, ST_N
};

/* Non-finite values as negative codes (every compared quantity that can be non-finite is
 * otherwise >= 0 or a gradient element next to finite ones): NaN -1e30, +inf -2e30, -inf -3e30. */
static double coded(double x) {
    return isnan(x) ? -1e30 : isinf(x) ? (x > 0 ? -2e30 : -3e30) : x;
}

static void st_from_values(wf_step_state *s, const float *v) {
    *s = (wf_step_state){.loss_scale = v[ST_SCALE], .grad_sumsq = v[ST_SUMSQ],
                         .found_inf = (int32_t)v[ST_INF], .growth_tracker = (int32_t)v[ST_TRACKER],
                         .opt_step = (int32_t)v[ST_STEP], .skipped_steps = (int32_t)v[ST_SKIPPED],
                         .last_grad_norm = v[ST_NORM], .last_skipped = (int32_t)v[ST_LAST_SKIPPED]};
}

static void st_to_values(const wf_step_state *s, float *v) {
    const double f[ST_N] = {s->loss_scale, s->grad_sumsq, s->found_inf, s->growth_tracker,
                            s->opt_step, s->skipped_steps, s->last_grad_norm, s->last_skipped};
    for (int i = 0; i < ST_N; i++) v[i] = (float)coded(f[i]);
}

typedef wf_status (*state_op)(wf_backend *be, const tc_case *c, tc_io *io, wf_step_state *st);

/* Runs op on a state in backend memory made from "st0"; writes it back into "st" if planned. */
static wf_status with_state(wf_backend *be, const tc_case *c, tc_io *io, state_op op) {
    float v[ST_N];
    wf_step_state h;
    WF_TRY(be->copy(be, v, tc_in(io, "st0")->data, sizeof v, WF_COPY_D2H));
    WF_TRY(be->sync(be));
    st_from_values(&h, v);
    size_t mark = wf_arena_mark(&be->scratch);
    void *d = NULL;
    wf_status s = wf_arena_alloc(&be->scratch, sizeof h, &d);
    if (s == WF_OK) s = be->copy(be, d, &h, sizeof h, WF_COPY_H2D);
    if (s == WF_OK) s = op(be, c, io, d);
    if (s == WF_OK && tc_out(io, "st")) {
        s = be->copy(be, &h, d, sizeof h, WF_COPY_D2H);
        if (s == WF_OK) s = be->sync(be);
        st_to_values(&h, v);
        if (s == WF_OK) s = be->copy(be, tc_out(io, "st")->data, v, sizeof v, WF_COPY_H2D);
    }
    wf_arena_reset(&be->scratch, mark);
    return s;
}

static wf_status expect_invalid(const tc_case *c, const char *what, wf_status s) {
    if (s == WF_ERR_INVALID) return WF_OK;
    return wf_error(WF_ERR_INVALID, "%s [%s]: %s was not rejected (got %s)", c->op->name,
                    c->label, what, wf_status_name(s));
}

/* A standard normal value for element i of a stream (Box-Muller on the counter-based RNG). */
static double gauss(const tc_case *c, uint32_t stream, int64_t i) {
    uint64_t seed = (uint64_t)c->p[0] * 0x9E3779B97F4A7C15ull + 7;
    double u1 = wf_rng_uniform(seed, 3, stream, 2 * (uint64_t)i) + 1.0 / 33554432.0;
    double u2 = wf_rng_uniform(seed, 3, stream, 2 * (uint64_t)i + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- grad_unscale_norm ---- */

static void gun_plan(const tc_case *c, tc_plan *p) {
    tc_add_in(p, "g0", TC_F32, TC_INIT_CUSTOM, 0, 0, 0, TC_DIMS(c->p[0]));
    tc_add_in(p, "st0", TC_F32, TC_INIT_CUSTOM, 0, 0, 0, TC_DIMS(ST_N));
    tc_add_out(p, "g", TC_F32, TC_ACC, TC_DIMS(c->p[0]));
    tc_add_out(p, "st", TC_F32, 0, TC_DIMS(ST_N));
}

/* Scaled gradients (normal * loss_scale) with the injected value at n/3; a state with other
 * fields set, to see that the op leaves them alone. */
static void gun_init(const tc_case *c, const char *name, double *v, int64_t n) {
    if (strcmp(name, "st0") == 0) {
        const double st[ST_N] = {c->f[0], c->f[1], (double)c->p[2], 5, 7, 2, 0.5, 0};
        memcpy(v, st, sizeof st);
        return;
    }
    for (int64_t i = 0; i < n; i++) v[i] = c->f[0] * gauss(c, 0, i);
    const double inject[] = {0, INFINITY, NAN, -INFINITY};
    if (c->p[1]) v[n / 3] = inject[c->p[1]];
}

static wf_status gun_rejects(wf_backend *be, const tc_case *c, tc_io *io, wf_step_state *st) {
    wf_tensor bad = *tc_out(io, "g");
    WF_TRY(expect_invalid(c, "a NULL state", wf_op_grad_unscale_norm(be, &bad, NULL)));
    bad.dtype = WF_BF16;
    WF_TRY(expect_invalid(c, "bf16 gradients", wf_op_grad_unscale_norm(be, &bad, st)));
    return WF_OK;
}

static wf_status gun_call(wf_backend *be, const tc_case *c, tc_io *io, wf_step_state *st) {
    if (c->p[3]) WF_TRY(gun_rejects(be, c, io, st));
    return wf_op_grad_unscale_norm(be, tc_out(io, "g"), st);
}

/* Replaces non-finite gradients by their codes (small cases with an injected value only). */
static wf_status code_nonfinite(wf_backend *be, wf_tensor *t) {
    const int64_t n = wf_tensor_numel(t);
    float *h = malloc((size_t)n * sizeof *h);
    WF_ASSERT(h);
    wf_status s = be->copy(be, h, t->data, (size_t)n * sizeof *h, WF_COPY_D2H);
    if (s == WF_OK) s = be->sync(be);
    for (int64_t i = 0; i < n; i++) h[i] = (float)coded(h[i]);
    if (s == WF_OK) s = be->copy(be, t->data, h, (size_t)n * sizeof *h, WF_COPY_H2D);
    free(h);
    return s;
}

static wf_status gun_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    WF_TRY(with_state(be, c, io, gun_call));
    return c->p[1] ? code_nonfinite(be, tc_out(io, "g")) : WF_OK;
}

static void gun_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *g0 = tc_ref_in(p, in, "g0"), *st0 = tc_ref_in(p, in, "st0");
    double *g = tc_ref_out(p, out, "g"), *st = tc_ref_out(p, out, "st");
    double sumsq = 0;
    bool bad = false;
    for (int64_t i = 0; i < c->p[0]; i++) {
        double x = st0[ST_SCALE] == 1 ? g0[i] : g0[i] / st0[ST_SCALE];
        sumsq += x * x;
        bad |= !isfinite(x);
        g[i] = coded(x);
    }
    memcpy(st, st0, ST_N * sizeof *st);
    st[ST_SUMSQ] = coded(st0[ST_SUMSQ] + sumsq);
    st[ST_INF] = st0[ST_INF] != 0 || bad;
}

const tc_op tc_op_grad_unscale_norm = {
    .name = "grad_unscale_norm",
    .plan = gun_plan,
    .fwd = gun_fwd,
    .ref = gun_ref,
    .init = gun_init,
    .dtypes = 1u << WF_F32,
    .tol_ref = {1e-6, 0, "g * fp32(1/S) vs g / S: two roundings; sum of squares in double then "
                         "one fp32 rounding"},
    .tol_be = {{1e-5, 0, "the device sums squares in fp32 in another order: ~1e-6 relative"},
               {0, 0, "fp32 only"}, {0, 0, "fp32 only"}},
};

/* ---- adamw ---- */

static void adamw_plan(const tc_case *c, tc_plan *p) {
    const int64_t n = c->p[0];
    tc_add_in(p, "p0", TC_F32, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(n));
    tc_add_in(p, "g", TC_F32, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(n));
    tc_add_in(p, "m0", TC_F32, TC_INIT_NORMAL, 0, 0.1, 0, TC_DIMS(n));
    tc_add_in(p, "v0", TC_F32, TC_INIT_UNIFORM, 1e-4, 1e-2, 0, TC_DIMS(n));
    tc_add_in(p, "st0", TC_F32, TC_INIT_CUSTOM, 0, 0, 0, TC_DIMS(ST_N));
    tc_add_out(p, "p", TC_F32, TC_ACC, TC_DIMS(n));
    tc_add_out(p, "m", TC_F32, TC_ACC, TC_DIMS(n));
    tc_add_out(p, "v", TC_F32, TC_ACC, TC_DIMS(n));
    if (c->p[3]) {
        /* starts random: an element the op does not write shows up in lowp_err */
        const tc_kind k = c->p[3] == 1 ? TC_BF16 : TC_F16;
        tc_add_in(p, "p_lowp0", k, TC_INIT_NORMAL, 0, 1, 0, TC_DIMS(n));
        tc_add_out(p, "p_lowp", k, TC_ACC | TC_NOCMP, TC_DIMS(n));
        if (c->flags & TC_TEST) tc_add_out(p, "lowp_err", TC_F32, 0, TC_DIMS(n));
    }
}

static void adamw_init(const tc_case *c, const char *name, double *v, int64_t n) {
    (void)name, (void)n;
    const double st[ST_N] = {1, c->f[3], (double)c->p[4], 0, (double)c->p[2], 0, 0, 0};
    memcpy(v, st, sizeof st);
}

static wf_adamw_hparams adamw_hp(const tc_case *c) {
    wf_adamw_hparams hp = {.lr = (float)c->f[0], .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = (float)c->f[1], .max_grad_norm = (float)c->f[2]};
    if (c->p[5] == 1) hp.beta2 = 0.95f, hp.eps = 1e-6f;
    return hp;
}

/* The lowp value as fp32, and fp32 -> lowp -> fp32 with the shared RNE helpers of dtype.h. */
static double lowp_load(const void *p, wf_dtype dt, int64_t i) {
    return wf_load_f32(p, dt, (size_t)i);
}
static double lowp_round(double x, wf_dtype dt) {
    return dt == WF_BF16 ? wf_bf16_to_f32(wf_f32_to_bf16((float)x))
                         : wf_f16_to_f32(wf_f32_to_f16((float)x));
}

/* "lowp_err" = p_lowp - RNE(p), from the op's own p: zero when p_lowp is p rounded. */
static wf_status adamw_lowp_err(wf_backend *be, tc_io *io) {
    const wf_tensor *p = tc_out(io, "p"), *pl = tc_out(io, "p_lowp");
    const int64_t n = wf_tensor_numel(p);
    float *hp = malloc((size_t)n * 4), *err = malloc((size_t)n * 4);
    uint16_t *hl = malloc((size_t)n * 2);
    WF_ASSERT(hp && err && hl);
    wf_status s = be->copy(be, hp, p->data, (size_t)n * 4, WF_COPY_D2H);
    if (s == WF_OK) s = be->copy(be, hl, pl->data, (size_t)n * 2, WF_COPY_D2H);
    if (s == WF_OK) s = be->sync(be);
    for (int64_t i = 0; i < n; i++)
        err[i] = (float)(lowp_load(hl, pl->dtype, i) - lowp_round(hp[i], pl->dtype));
    if (s == WF_OK) s = be->copy(be, tc_out(io, "lowp_err")->data, err, (size_t)n * 4, WF_COPY_H2D);
    free(hp), free(err), free(hl);
    return s;
}

static wf_status adamw_rejects(wf_backend *be, const tc_case *c, tc_io *io, wf_step_state *st) {
    wf_tensor *p = tc_out(io, "p"), *g = tc_in(io, "g"), *m = tc_out(io, "m"), *v = tc_out(io, "v");
    const int64_t n = c->p[0];
    const wf_adamw_hparams good = adamw_hp(c);
    wf_adamw_hparams hp = good;
    WF_TRY(expect_invalid(c, "n_decay > n", wf_op_adamw(be, p, g, m, v, NULL, n + 1, &hp, st)));
    WF_TRY(expect_invalid(c, "n_decay < 0", wf_op_adamw(be, p, g, m, v, NULL, -1, &hp, st)));
    WF_TRY(expect_invalid(c, "a NULL state", wf_op_adamw(be, p, g, m, v, NULL, 0, &hp, NULL)));
    WF_TRY(expect_invalid(c, "NULL hparams", wf_op_adamw(be, p, g, m, v, NULL, 0, NULL, st)));
    const struct { float *field, value; const char *what; } bad_hp[] = {
        {&hp.lr, -1e-3f, "lr < 0"},       {&hp.beta1, 1.0f, "beta1 = 1"},
        {&hp.beta2, -0.1f, "beta2 < 0"},  {&hp.eps, 0.0f, "eps = 0"},
        {&hp.weight_decay, -0.01f, "weight_decay < 0"}, {&hp.lr, NAN, "lr NaN"},
        {&hp.max_grad_norm, -1.0f, "max_grad_norm < 0"},
    };
    for (size_t k = 0; k < sizeof bad_hp / sizeof bad_hp[0]; k++) {
        hp = good;
        *bad_hp[k].field = bad_hp[k].value;
        WF_TRY(expect_invalid(c, bad_hp[k].what, wf_op_adamw(be, p, g, m, v, NULL, 0, &hp, st)));
    }
    wf_tensor bad = *m;
    bad.shape[0]--;
    WF_TRY(expect_invalid(c, "m of n-1 elements",
                          wf_op_adamw(be, p, g, &bad, v, NULL, 0, &good, st)));
    bad = *p; /* an fp32 p_lowp */
    WF_TRY(expect_invalid(c, "an f32 p_lowp", wf_op_adamw(be, p, g, m, v, &bad, 0, &good, st)));
    return WF_OK;
}

static wf_status adamw_call(wf_backend *be, const tc_case *c, tc_io *io, wf_step_state *st) {
    if (c->p[6]) WF_TRY(adamw_rejects(be, c, io, st));
    const wf_adamw_hparams hp = adamw_hp(c);
    return wf_op_adamw(be, tc_out(io, "p"), tc_in(io, "g"), tc_out(io, "m"), tc_out(io, "v"),
                       tc_out(io, "p_lowp"), c->p[1], &hp, st);
}

static wf_status adamw_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    WF_TRY(with_state(be, c, io, adamw_call));
    return tc_out(io, "lowp_err") ? adamw_lowp_err(be, io) : WF_OK;
}

static void adamw_ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    const double *p0 = tc_ref_in(p, in, "p0"), *g = tc_ref_in(p, in, "g"),
                 *m0 = tc_ref_in(p, in, "m0"), *v0 = tc_ref_in(p, in, "v0"),
                 *st = tc_ref_in(p, in, "st0"), *pl0 = tc_ref_in(p, in, "p_lowp0");
    double *po = tc_ref_out(p, out, "p"), *mo = tc_ref_out(p, out, "m"),
           *vo = tc_ref_out(p, out, "v"), *err = tc_ref_out(p, out, "lowp_err");
    const wf_dtype ldt = c->p[3] == 1 ? WF_BF16 : WF_F16;
    const wf_adamw_hparams hp = adamw_hp(c);
    const double lr = hp.lr, b1 = hp.beta1, b2 = hp.beta2, eps = hp.eps, t = (double)c->p[2] + 1;
    const double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
    double clip = 1;
    if (hp.max_grad_norm > 0) clip = fmin(1.0, hp.max_grad_norm / (sqrt(st[ST_SUMSQ]) + 1e-6));
    for (int64_t i = 0; i < c->p[0]; i++) {
        if (st[ST_INF] != 0) { /* skipped step: everything stays; p_lowp keeps its old value */
            po[i] = p0[i], mo[i] = m0[i], vo[i] = v0[i];
            if (err) err[i] = pl0[i] - lowp_round(p0[i], ldt);
            continue;
        }
        const double gi = g[i] * clip;
        const double pi = i < c->p[1] ? p0[i] * (1 - lr * hp.weight_decay) : p0[i];
        mo[i] = b1 * m0[i] + (1 - b1) * gi;
        vo[i] = b2 * v0[i] + (1 - b2) * gi * gi;
        po[i] = pi - lr * (mo[i] / bc1) / (sqrt(vo[i] / bc2) + eps);
        if (err) err[i] = 0;
    }
}

const tc_op tc_op_adamw = {
    .name = "adamw",
    .plan = adamw_plan,
    .fwd = adamw_fwd,
    .ref = adamw_ref,
    .init = adamw_init,
    .dtypes = 1u << WF_F32,
    .tol_ref = {1e-6, 1e-7, "one fp32 step: p, m, v within a few ulp (p's own rounding ~6e-8)"},
    .tol_be = {{2e-6, 1e-7, "fp32 step on the device: fused multiply-adds and sqrt/div "
                            "intrinsics move p, m, v by a few ulp"},
               {0, 0, "fp32 only"}, {0, 0, "fp32 only"}},
};

/* ---- step_end ---- */

static void step_end_plan(const tc_case *c, tc_plan *p) {
    (void)c;
    tc_add_in(p, "st0", TC_F32, TC_INIT_CUSTOM, 0, 0, 0, TC_DIMS(ST_N));
    tc_add_out(p, "st", TC_F32, 0, TC_DIMS(ST_N));
}

/* last_grad_norm and last_skipped start as values the op must overwrite. */
static void step_end_init(const tc_case *c, const char *name, double *v, int64_t n) {
    (void)name, (void)n;
    const double st[ST_N] = {c->f[0], c->f[1] < 0 ? INFINITY : c->f[1], (double)c->p[2],
                             (double)c->p[3], (double)c->p[4], (double)c->p[5], 123, 7};
    memcpy(v, st, sizeof st);
}

static wf_scaler_hparams step_end_hp(const tc_case *c) {
    return (wf_scaler_hparams){.dynamic = c->p[0] != 0, .growth = (float)c->f[2],
                               .backoff = (float)c->f[3], .interval = (int32_t)c->p[1]};
}

static wf_status step_end_rejects(wf_backend *be, const tc_case *c, wf_step_state *st) {
    const wf_scaler_hparams good = {.dynamic = true, .growth = 2, .backoff = 0.5f,
                                    .interval = 2000};
    wf_scaler_hparams sh = good;
    WF_TRY(expect_invalid(c, "a NULL state", wf_op_step_end(be, NULL, &sh)));
    WF_TRY(expect_invalid(c, "NULL settings", wf_op_step_end(be, st, NULL)));
    sh.growth = 1;
    WF_TRY(expect_invalid(c, "growth = 1", wf_op_step_end(be, st, &sh)));
    sh = good, sh.backoff = 1;
    WF_TRY(expect_invalid(c, "backoff = 1", wf_op_step_end(be, st, &sh)));
    sh = good, sh.backoff = 0;
    WF_TRY(expect_invalid(c, "backoff = 0", wf_op_step_end(be, st, &sh)));
    sh = good, sh.interval = 0;
    WF_TRY(expect_invalid(c, "interval = 0", wf_op_step_end(be, st, &sh)));
    return WF_OK;
}

static wf_status step_end_call(wf_backend *be, const tc_case *c, tc_io *io, wf_step_state *st) {
    (void)io;
    if (c->p[6]) WF_TRY(step_end_rejects(be, c, st));
    const wf_scaler_hparams sh = step_end_hp(c);
    return wf_op_step_end(be, st, &sh);
}

static wf_status step_end_fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    return with_state(be, c, io, step_end_call);
}

/* GradScaler's _amp_update_scale_ plus the step counters, in double on the fp32 state. */
static void step_end_ref(const tc_case *c, const tc_plan *p, double *const *in,
                         double *const *out) {
    const double *s0 = tc_ref_in(p, in, "st0");
    double *s = tc_ref_out(p, out, "st");
    const wf_scaler_hparams sh = step_end_hp(c);
    memcpy(s, s0, ST_N * sizeof *s);
    s[ST_NORM] = coded(sqrt(s0[ST_SUMSQ]));
    s[ST_LAST_SKIPPED] = s0[ST_INF] != 0;
    if (s0[ST_INF] != 0) {
        s[ST_SKIPPED] += 1;
        if (sh.dynamic) s[ST_SCALE] = (float)(s0[ST_SCALE] * sh.backoff), s[ST_TRACKER] = 0;
    } else {
        s[ST_STEP] += 1;
        if (sh.dynamic && s0[ST_TRACKER] + 1 >= sh.interval) {
            double grown = (float)(s0[ST_SCALE] * sh.growth);
            if (isfinite(grown)) s[ST_SCALE] = grown;
            s[ST_TRACKER] = 0;
        } else if (sh.dynamic) {
            s[ST_TRACKER] += 1;
        }
    }
    s[ST_SUMSQ] = 0, s[ST_INF] = 0;
}

const tc_op tc_op_step_end = {
    .name = "step_end",
    .plan = step_end_plan,
    .fwd = step_end_fwd,
    .ref = step_end_ref,
    .init = step_end_init,
    .dtypes = 1u << WF_F32,
    .tol_ref = {1e-6, 0, "counters exact; scale products exact (powers of two); sqrt one rounding"},
    .tol_be = {{1e-6, 0, "same fp32 arithmetic on the device"}, {0, 0, "fp32 only"},
               {0, 0, "fp32 only"}},
};
