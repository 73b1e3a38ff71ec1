/* The op-case harness (harness.h): plans, data, guarded buffers, runs, comparisons, and the
 * three checks (CPU vs float64 reference, CPU backward vs finite differences, backend vs CPU). */
#include "harness.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/rng.h"

#define GUARD 256 /* bytes before and after every buffer an op may write */
#define GUARD_BYTE 0xA5
#define MAX_SHOWN 5

/* ---- plans ---- */

static void spec_set(tc_spec *s, const char *name, tc_kind kind, int ndim, const int64_t *shape) {
    WF_ASSERT(ndim >= 0 && ndim <= WF_MAX_DIMS);
    memset(s, 0, sizeof *s);
    s->name = name;
    s->kind = kind;
    s->ndim = ndim;
    for (int i = 0; i < ndim; i++) s->shape[i] = shape[i];
}

void tc_add_in(tc_plan *p, const char *name, tc_kind kind, tc_init init, double a, double b,
               unsigned flags, int ndim, const int64_t *shape) {
    WF_ASSERT(p->nin < TC_MAX_T);
    tc_spec *s = &p->in[p->nin++];
    spec_set(s, name, kind, ndim, shape);
    s->init = init, s->a = a, s->b = b, s->flags = flags;
}

void tc_add_out(tc_plan *p, const char *name, tc_kind kind, unsigned flags, int ndim,
                const int64_t *shape) {
    WF_ASSERT(p->nout < TC_MAX_T);
    tc_spec *s = &p->out[p->nout++];
    spec_set(s, name, kind, ndim, shape);
    s->flags = flags;
}

int64_t tc_numel(const tc_spec *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->shape[i];
    return n;
}

static int find(const tc_spec *v, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0) return i;
    return -1;
}
int tc_in_index(const tc_plan *p, const char *name) { return find(p->in, p->nin, name); }
int tc_out_index(const tc_plan *p, const char *name) { return find(p->out, p->nout, name); }

wf_tensor *tc_in(tc_io *io, const char *name) {
    int i = tc_in_index(io->plan, name);
    return i < 0 ? NULL : &io->in[i];
}
wf_tensor *tc_out(tc_io *io, const char *name) {
    int i = tc_out_index(io->plan, name);
    return i < 0 ? NULL : &io->out[i];
}
wf_tensor *tc_din(tc_io *io, const char *name) {
    int i = tc_in_index(io->plan, name);
    return i < 0 || !(io->plan->in[i].flags & TC_DIFF) ? NULL : &io->din[i];
}
wf_tensor *tc_dout(tc_io *io, const char *name) {
    int i = tc_out_index(io->plan, name);
    return i < 0 || !(io->plan->out[i].flags & TC_LOSS) ? NULL : &io->dout[i];
}
const double *tc_ref_in(const tc_plan *p, double *const *in, const char *name) {
    int i = tc_in_index(p, name);
    return i < 0 ? NULL : in[i];
}
double *tc_ref_out(const tc_plan *p, double *const *out, const char *name) {
    int i = tc_out_index(p, name);
    return i < 0 ? NULL : out[i];
}

/* ---- data ---- */

static wf_dtype kind_dtype(tc_kind k, wf_dtype dt) {
    switch (k) {
    case TC_FLOAT: return dt;
    case TC_I32: return WF_I32;
    case TC_BF16: return WF_BF16;
    case TC_F16: return WF_F16;
    default: return WF_F32;
    }
}

/* The dtype of the gradient of input s in a run of dtype dt: the input's, or fp32 for a
 * parameter in a TC_F32_GRAD case. */
static wf_dtype grad_dtype(const tc_case *c, const tc_spec *s, wf_dtype dt) {
    if ((c->flags & TC_F32_GRAD) && (s->flags & TC_PARAM)) return WF_F32;
    return kind_dtype(s->kind, dt);
}

/* The value a double becomes when stored in dtype dt and read back. */
static double round_to(double v, wf_dtype dt) {
    float f = (float)v;
    if (dt == WF_BF16) return wf_bf16_to_f32(wf_f32_to_bf16(f));
    if (dt == WF_F16) return wf_f16_to_f32(wf_f32_to_f16(f));
    if (dt == WF_I32) return (double)(int32_t)v;
    return f;
}

static uint64_t case_seed(const tc_case *c) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the op name and label */
    for (const char *s = c->op->name; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    for (const char *s = c->label; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static double normal(uint64_t seed, uint32_t stream, uint64_t i) {
    double u1 = wf_rng_uniform(seed, 1, stream, 2 * i) + 1.0 / 33554432.0;
    double u2 = wf_rng_uniform(seed, 1, stream, 2 * i + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void fill(const tc_case *c, const tc_spec *s, uint32_t stream, double *v) {
    uint64_t seed = case_seed(c);
    int64_t n = tc_numel(s), cols = s->ndim ? s->shape[s->ndim - 1] : 1;
    for (int64_t i = 0; i < n; i++) {
        double u = wf_rng_uniform(seed, 0, stream, (uint64_t)i);
        switch (s->init) {
        case TC_INIT_NORMAL: v[i] = s->a + s->b * normal(seed, stream, (uint64_t)i); break;
        case TC_INIT_UNIFORM: v[i] = s->a + (s->b - s->a) * u; break;
        case TC_INIT_INT: v[i] = floor(s->a + (s->b - s->a) * u); break;
        case TC_INIT_HOLES: v[i] = u < 1.0 / 6 ? s->a : floor(s->b * (u * 6 - 1) / 5); break;
        case TC_INIT_MASK: v[i] = u < s->a ? 0 : 1; break;
        case TC_INIT_DOCS: /* a new document starts with probability a/cols at each position */
            v[i] = (i % cols == 0) ? 0 : v[i - 1] + (u < s->a / (double)cols ? 1 : 0);
            break;
        case TC_INIT_CUSTOM: break;
        }
    }
    if (s->init == TC_INIT_CUSTOM) c->op->init(c, s->name, v, n);
}

/* ---- guarded backend buffers ---- */

typedef struct tc_buf {
    char *block; /* backend memory: GUARD + bytes + GUARD */
    size_t bytes;
    wf_dtype dt;
} tc_buf;

static wf_status buf_create(wf_backend *be, tc_buf *b, const tc_spec *s, wf_dtype dt,
                            wf_tensor *t) {
    b->dt = dt;
    b->bytes = (size_t)tc_numel(s) * wf_dtype_size(dt);
    void *p = NULL;
    WF_TRY(be->alloc(be, b->bytes + 2 * GUARD, &p));
    b->block = p;
    *t = (wf_tensor){.data = b->block + GUARD, .dtype = dt, .ndim = s->ndim};
    memcpy(t->shape, s->shape, sizeof t->shape);
    return WF_OK;
}

/* Writes values (converted to the buffer's dtype) and fresh guards. */
static wf_status buf_upload(wf_backend *be, tc_buf *b, const double *v, int64_t n) {
    unsigned char *h = malloc(b->bytes + 2 * GUARD);
    WF_ASSERT(h);
    memset(h, GUARD_BYTE, b->bytes + 2 * GUARD);
    for (int64_t i = 0; i < n; i++) {
        if (b->dt == WF_I32) ((int32_t *)(h + GUARD))[i] = (int32_t)v[i];
        else wf_store_f32(h + GUARD, b->dt, (size_t)i, (float)v[i]);
    }
    wf_status s = be->copy(be, b->block, h, b->bytes + 2 * GUARD, WF_COPY_H2D);
    free(h);
    return s;
}

/* Reads values back; returns the number of guard bytes that changed. */
static int64_t buf_download(wf_backend *be, const tc_buf *b, double *v, int64_t n) {
    unsigned char *h = malloc(b->bytes + 2 * GUARD);
    WF_ASSERT(h);
    WF_ASSERT(be->copy(be, h, b->block, b->bytes + 2 * GUARD, WF_COPY_D2H) == WF_OK);
    WF_ASSERT(be->sync(be) == WF_OK);
    int64_t bad = 0;
    for (size_t i = 0; i < GUARD; i++) {
        bad += h[i] != GUARD_BYTE;
        bad += h[GUARD + b->bytes + i] != GUARD_BYTE;
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = b->dt == WF_I32 ? ((int32_t *)(h + GUARD))[i] : wf_load_f32(h + GUARD, b->dt, (size_t)i);
    free(h);
    return bad;
}

/* ---- runs ---- */

struct tc_run {
    wf_backend *be;
    const tc_case *c;
    wf_dtype dt;
    tc_plan plan;
    tc_io io;
    tc_buf bin[TC_MAX_T], bout[TC_MAX_T], bdin[TC_MAX_T], bdout[TC_MAX_T];
    double *hin[TC_MAX_T];   /* input values, rounded to their dtype */
    double *hdin0[TC_MAX_T]; /* initial gradient values (random for "+=", NaN for "=") */
    double *hdout[TC_MAX_T]; /* loss weights w */
};

static double *dalloc(int64_t n) {
    double *p = calloc((size_t)(n ? n : 1), sizeof(double));
    WF_ASSERT(p);
    return p;
}

/* Host data of a run, independent of the backend: the same inputs and weights for every
 * backend when the same values_dt is used for rounding. */
static void run_data(tc_run *r, wf_dtype values_dt) {
    const tc_case *c = r->c;
    uint64_t seed = case_seed(c);
    for (int i = 0; i < r->plan.nin; i++) {
        const tc_spec *s = &r->plan.in[i];
        int64_t n = tc_numel(s);
        r->hin[i] = dalloc(n);
        fill(c, s, (uint32_t)i, r->hin[i]);
        wf_dtype d = kind_dtype(s->kind, values_dt);
        for (int64_t k = 0; k < n; k++) r->hin[i][k] = round_to(r->hin[i][k], d);
        if (s->flags & TC_DIFF) {
            wf_dtype gd = grad_dtype(c, s, values_dt);
            r->hdin0[i] = dalloc(n);
            for (int64_t k = 0; k < n; k++)
                r->hdin0[i][k] = (s->flags & TC_GRAD_ACC)
                                     ? round_to(normal(seed, 100 + (uint32_t)i, (uint64_t)k), gd)
                                     : NAN;
        }
    }
    double scalar = round_to(0.5 + wf_rng_uniform(seed, 2, 0, 0), values_dt);
    for (int j = 0; j < r->plan.nout; j++) {
        const tc_spec *s = &r->plan.out[j];
        if (!(s->flags & TC_LOSS)) continue;
        int64_t n = tc_numel(s);
        r->hdout[j] = dalloc(n);
        wf_dtype d = kind_dtype(s->kind, values_dt);
        for (int64_t k = 0; k < n; k++)
            r->hdout[j][k] = c->op->dout_scalar ? scalar
                                                : round_to(normal(seed, 200 + (uint32_t)j, (uint64_t)k), d);
    }
}

/* Fresh outputs: NaN, or the matching input for TC_ACC outputs. */
static wf_status run_reset_outputs(tc_run *r) {
    for (int j = 0; j < r->plan.nout; j++) {
        const tc_spec *s = &r->plan.out[j];
        int64_t n = tc_numel(s);
        double *v = dalloc(n);
        if (s->flags & TC_ACC) {
            char src[64];
            snprintf(src, sizeof src, "%s0", s->name);
            int i = tc_in_index(&r->plan, src);
            WF_ASSERT(i >= 0);
            memcpy(v, r->hin[i], (size_t)n * sizeof *v);
        } else {
            for (int64_t k = 0; k < n; k++) v[k] = s->kind == TC_I32 ? -12345 : NAN;
        }
        wf_status st = buf_upload(r->be, &r->bout[j], v, n);
        free(v);
        WF_TRY(st);
    }
    for (int i = 0; i < r->plan.nin; i++)
        if (r->plan.in[i].flags & TC_DIFF)
            WF_TRY(buf_upload(r->be, &r->bdin[i], r->hdin0[i], tc_numel(&r->plan.in[i])));
    return WF_OK;
}

static tc_run *run_create(wf_backend *be, const tc_case *c, wf_dtype dt, wf_dtype values_dt) {
    tc_run *r = calloc(1, sizeof *r);
    WF_ASSERT(r);
    r->be = be, r->c = c, r->dt = dt;
    c->op->plan(c, &r->plan);
    r->io.plan = &r->plan;
    run_data(r, values_dt);
    bool ok = true;
    for (int i = 0; ok && i < r->plan.nin; i++) {
        const tc_spec *s = &r->plan.in[i];
        wf_dtype d = kind_dtype(s->kind, dt);
        ok = buf_create(be, &r->bin[i], s, d, &r->io.in[i]) == WF_OK &&
             buf_upload(be, &r->bin[i], r->hin[i], tc_numel(s)) == WF_OK;
        if (ok && (s->flags & TC_DIFF))
            ok = buf_create(be, &r->bdin[i], s, grad_dtype(c, s, dt), &r->io.din[i]) == WF_OK;
    }
    for (int j = 0; ok && j < r->plan.nout; j++) {
        const tc_spec *s = &r->plan.out[j];
        wf_dtype d = kind_dtype(s->kind, dt);
        ok = buf_create(be, &r->bout[j], s, d, &r->io.out[j]) == WF_OK;
        if (ok && (s->flags & TC_LOSS))
            ok = buf_create(be, &r->bdout[j], s, d, &r->io.dout[j]) == WF_OK &&
                 buf_upload(be, &r->bdout[j], r->hdout[j], tc_numel(s)) == WF_OK;
    }
    if (ok) ok = run_reset_outputs(r) == WF_OK;
    if (!ok) {
        fprintf(stderr, "%s [%s]: cannot set up buffers: %s\n", c->op->name, c->label, wf_last_error());
        tc_run_destroy(r);
        return NULL;
    }
    return r;
}

tc_run *tc_run_create(wf_backend *be, const tc_case *c, wf_dtype dt) {
    return run_create(be, c, dt, dt);
}
wf_status tc_run_fwd(tc_run *r) { return r->c->op->fwd(r->be, r->c, &r->io); }
wf_status tc_run_bwd(tc_run *r) { return r->c->op->bwd(r->be, r->c, &r->io); }

double tc_run_bytes(const tc_run *r, bool bwd) {
    double b = 0;
    for (int i = 0; i < r->plan.nin; i++) {
        b += (double)r->bin[i].bytes;
        if (bwd && (r->plan.in[i].flags & TC_DIFF)) b += (double)r->bdin[i].bytes;
    }
    for (int j = 0; j < r->plan.nout; j++)
        b += (double)(bwd && (r->plan.out[j].flags & TC_LOSS) ? r->bdout[j].bytes : r->bout[j].bytes);
    return b;
}

void tc_run_destroy(tc_run *r) {
    if (!r) return;
    tc_buf *bufs[] = {r->bin, r->bout, r->bdin, r->bdout};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < TC_MAX_T; i++)
            if (bufs[k][i].block) r->be->free(r->be, bufs[k][i].block);
    for (int i = 0; i < TC_MAX_T; i++) free(r->hin[i]), free(r->hdin0[i]), free(r->hdout[i]);
    free(r);
}

/* ---- comparisons ---- */

/* What a stored result is compared with, beyond the tolerance itself. */
typedef struct {
    const double *base; /* "+=" gradients: the initial values (got and want are increments), or NULL */
    double abs_floor;   /* an absolute error always allowed (subnormal spacing), or 0 */
} cmp_extra;

/* Compares got against want (n values); prints the first mismatches. Returns true if all pass.
 * A "+=" result is rounded once at the magnitude of the accumulated total, so the relative
 * part of the tolerance applies to max(|increment|, |total|). */
static bool compare_ex(const tc_case *c, const char *what, const char *name, const double *got,
                       const double *want, int64_t n, tc_tol tol, cmp_extra ex) {
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) > scale) scale = fabs(want[i]);
    int64_t bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double mag = fabs(want[i]);
        if (ex.base && fabs(ex.base[i] + want[i]) > mag) mag = fabs(ex.base[i] + want[i]);
        double d = fabs(got[i] - want[i]), allowed = tol.rtol * mag + tol.arel * scale + ex.abs_floor;
        bool ok = isfinite(got[i]) && isfinite(want[i]) && d <= allowed;
        if (isfinite(d) && allowed > 0 && d / allowed > worst) worst = d / allowed;
        if (ok) continue;
        if (bad++ < MAX_SHOWN)
            fprintf(stderr, "  %s [%s] %s '%s'[%lld]: expected %.9g, got %.9g (|diff| %.3g, allowed %.3g)\n",
                    c->op->name, c->label, what, name, (long long)i, want[i], got[i], d, allowed);
    }
    if (bad)
        fprintf(stderr, "FAIL %s [%s] %s '%s': %lld of %lld values off (rtol %g, arel %g: %s)\n",
                c->op->name, c->label, what, name, (long long)bad, (long long)n, tol.rtol, tol.arel,
                tol.why);
    return bad == 0;
}

static bool compare(const tc_case *c, const char *what, const char *name, const double *got,
                    const double *want, int64_t n, tc_tol tol) {
    return compare_ex(c, what, name, got, want, n, tol, (cmp_extra){0});
}

static bool check_guards(const tc_case *c, const char *name, int64_t bad) {
    if (bad)
        fprintf(stderr, "FAIL %s [%s]: %lld guard bytes around '%s' were overwritten\n",
                c->op->name, c->label, (long long)bad, name);
    return bad == 0;
}

static void tally(tc_stats *st, bool ok) {
    st->checks++;
    if (!ok) st->failed++;
}

static bool report_status(const tc_case *c, const char *what, wf_status s, tc_stats *st) {
    if (s == WF_OK) return true;
    fprintf(stderr, "FAIL %s [%s] %s: %s: %s\n", c->op->name, c->label, what, wf_status_name(s),
            wf_last_error());
    tally(st, false);
    return false;
}

/* Downloads every output of r (with guard checks) into out[j]. */
static bool download_outputs(tc_run *r, double **out) {
    bool ok = true;
    for (int j = 0; j < r->plan.nout; j++) {
        int64_t n = tc_numel(&r->plan.out[j]);
        out[j] = dalloc(n);
        ok &= check_guards(r->c, r->plan.out[j].name, buf_download(r->be, &r->bout[j], out[j], n));
    }
    return ok;
}

/* Downloads the gradients of r as increments over their initial values. */
static bool download_grads(tc_run *r, double **din) {
    bool ok = true;
    for (int i = 0; i < r->plan.nin; i++) {
        const tc_spec *s = &r->plan.in[i];
        if (!(s->flags & TC_DIFF)) continue;
        int64_t n = tc_numel(s);
        din[i] = dalloc(n);
        ok &= check_guards(r->c, s->name, buf_download(r->be, &r->bdin[i], din[i], n));
        if (s->flags & TC_GRAD_ACC)
            for (int64_t k = 0; k < n; k++) din[i][k] -= r->hdin0[i][k];
    }
    return ok;
}

static void free_all(double **v) {
    for (int i = 0; i < TC_MAX_T; i++) free(v[i]), v[i] = NULL;
}

/* Reference outputs for the inputs of r (in float64). */
static void ref_outputs(tc_run *r, double **in, double **out) {
    for (int j = 0; j < r->plan.nout; j++) {
        const tc_spec *s = &r->plan.out[j];
        int64_t n = tc_numel(s);
        out[j] = dalloc(n);
        if (s->flags & TC_ACC) { /* in-place outputs start from their input */
            char src[64];
            snprintf(src, sizeof src, "%s0", s->name);
            memcpy(out[j], in[tc_in_index(&r->plan, src)], (size_t)n * sizeof(double));
        }
    }
    r->c->op->ref(r->c, &r->plan, in, out);
}

void tc_check_cpu_ref(wf_backend *cpu, const tc_case *c, tc_stats *st) {
    tc_run *r = run_create(cpu, c, WF_F32, WF_F32);
    if (!r) { tally(st, false); return; }
    double *got[TC_MAX_T] = {0}, *want[TC_MAX_T] = {0};
    if (report_status(c, "forward", tc_run_fwd(r), st)) {
        bool ok = download_outputs(r, got);
        ref_outputs(r, r->hin, want);
        for (int j = 0; j < r->plan.nout; j++)
            if (!(r->plan.out[j].flags & TC_NOCMP))
                ok &= compare(c, "cpu vs f64 reference", r->plan.out[j].name, got[j], want[j],
                              tc_numel(&r->plan.out[j]), c->op->tol_ref);
        tally(st, ok);
    }
    free_all(got), free_all(want);
    tc_run_destroy(r);
}

/* The loss sum_j sum_i w_ji y_ji of the reference at inputs `in`. */
static double ref_loss(tc_run *r, double **in) {
    double *out[TC_MAX_T] = {0}, L = 0;
    ref_outputs(r, in, out);
    for (int j = 0; j < r->plan.nout; j++)
        if (r->plan.out[j].flags & TC_LOSS)
            for (int64_t k = 0; k < tc_numel(&r->plan.out[j]); k++) L += r->hdout[j][k] * out[j][k];
    free_all(out);
    return L;
}

void tc_check_cpu_grad(wf_backend *cpu, const tc_case *c, tc_stats *st) {
    if (!c->op->bwd || (c->flags & TC_NO_FD)) return;
    tc_run *r = run_create(cpu, c, WF_F32, WF_F32);
    if (!r) { tally(st, false); return; }
    double *got[TC_MAX_T] = {0};
    if (report_status(c, "forward", tc_run_fwd(r), st) &&
        report_status(c, "backward", tc_run_bwd(r), st)) {
        bool ok = download_grads(r, got);
        double *x[TC_MAX_T];
        for (int i = 0; i < r->plan.nin; i++) {
            int64_t n = tc_numel(&r->plan.in[i]);
            x[i] = dalloc(n);
            memcpy(x[i], r->hin[i], (size_t)n * sizeof(double));
        }
        for (int i = 0; i < r->plan.nin; i++) {
            if (!(r->plan.in[i].flags & TC_DIFF)) continue;
            int64_t n = tc_numel(&r->plan.in[i]);
            double *num = dalloc(n);
            for (int64_t k = 0; k < n; k++) { /* central differences in float64 */
                double x0 = x[i][k], h = 1e-4 * fmax(1.0, fabs(x0));
                x[i][k] = x0 + h;
                double lp = ref_loss(r, x);
                x[i][k] = x0 - h;
                double lm = ref_loss(r, x);
                x[i][k] = x0;
                num[k] = (lp - lm) / (2 * h);
            }
            ok &= compare(c, "cpu backward vs finite differences", r->plan.in[i].name, got[i], num,
                          n, c->op->tol_grad);
            free(num);
        }
        for (int i = 0; i < r->plan.nin; i++) free(x[i]);
        tally(st, ok);
    }
    free_all(got);
    tc_run_destroy(r);
}

/* Rounds the float outputs of the fp32 reference run to dt in place (want holds them). */
static bool ref_round_outputs(tc_run *ref, double **want, wf_dtype dt) {
    for (int j = 0; j < ref->plan.nout; j++) {
        const tc_spec *s = &ref->plan.out[j];
        if (kind_dtype(s->kind, dt) != dt || !want[j]) continue;
        int64_t n = tc_numel(s);
        double *v = dalloc(n);
        for (int64_t k = 0; k < n; k++) v[k] = round_to(want[j][k], dt);
        wf_status st = buf_upload(ref->be, &ref->bout[j], v, n);
        free(v);
        if (st != WF_OK) {
            fprintf(stderr, "FAIL %s [%s]: cannot round reference output '%s': %s\n", ref->c->op->name,
                    ref->c->label, s->name, wf_last_error());
            return false;
        }
    }
    return true;
}

void tc_check_backend(wf_backend *be, wf_backend *cpu, const tc_case *c, wf_dtype dt, tc_stats *st) {
    tc_run *r = run_create(be, c, dt, dt), *ref = run_create(cpu, c, WF_F32, dt);
    if (!r || !ref) {
        tally(st, false);
        tc_run_destroy(r), tc_run_destroy(ref);
        return;
    }
    tc_tol tol = c->op->tol_be[dt == WF_BF16 ? 1 : dt == WF_F16 ? 2 : 0];
    /* fp16 values below 2^-14 are subnormal: one rounding there errs by up to half their
     * spacing, 2^-25, whatever the relative tolerance says (bf16 shares fp32's exponent range) */
    double floor = dt == WF_F16 ? 0x1p-25 : 0;
    char what[64];
    snprintf(what, sizeof what, "%s %s vs cpu", be->name, wf_dtype_name(dt));
    double *got[TC_MAX_T] = {0}, *want[TC_MAX_T] = {0};
    wf_status s = tc_run_fwd(r);
    if (s == WF_ERR_UNSUPPORTED) {
        st->skipped++;
        printf("skip %s [%s] %s: %s\n", c->op->name, c->label, wf_dtype_name(dt), wf_last_error());
    } else if (report_status(c, what, s, st) && report_status(c, "cpu forward", tc_run_fwd(ref), st)) {
        bool ok = download_outputs(r, got) & download_outputs(ref, want);
        for (int j = 0; j < r->plan.nout; j++)
            if (!(r->plan.out[j].flags & TC_NOCMP))
                ok &= compare_ex(c, what, r->plan.out[j].name, got[j], want[j],
                                 tc_numel(&r->plan.out[j]), tol, (cmp_extra){.abs_floor = floor});
        /* A backward that reads a forward output (tanh's y, attention's out) reads it as the
         * backend stored it: give the fp32 reference the same rounded values, or 1 - y^2 near
         * |y| = 1 amplifies one bf16 rounding of y far beyond the output tolerance. */
        if (ok && dt != WF_F32) ok = ref_round_outputs(ref, want, dt);
        free_all(got), free_all(want);
        if (c->op->bwd) {
            s = tc_run_bwd(r);
            if (s == WF_ERR_UNSUPPORTED) {
                st->skipped++;
                printf("skip %s [%s] %s backward: %s\n", c->op->name, c->label, wf_dtype_name(dt),
                       wf_last_error());
            } else if (report_status(c, "backward", s, st) &&
                       report_status(c, "cpu backward", tc_run_bwd(ref), st)) {
                ok &= download_grads(r, got) & download_grads(ref, want);
                for (int i = 0; i < r->plan.nin; i++)
                    if (r->plan.in[i].flags & TC_DIFF)
                        ok &= compare_ex(c, what, r->plan.in[i].name, got[i], want[i],
                                         tc_numel(&r->plan.in[i]), tol,
                                         (cmp_extra){.base = r->hdin0[i] && (r->plan.in[i].flags &
                                                                             TC_GRAD_ACC)
                                                                 ? r->hdin0[i]
                                                                 : NULL,
                                                     .abs_floor = floor});
            }
        }
        tally(st, ok);
    }
    free_all(got), free_all(want);
    tc_run_destroy(r), tc_run_destroy(ref);
}

/* Runs fwd (+ bwd) of r and downloads outputs and gradients. */
static bool run_all(tc_run *r, double **out, double **din, tc_stats *st) {
    if (!report_status(r->c, "forward", tc_run_fwd(r), st)) return false;
    if (r->c->op->bwd && !report_status(r->c, "backward", tc_run_bwd(r), st)) return false;
    bool ok = download_outputs(r, out);
    if (r->c->op->bwd) ok &= download_grads(r, din);
    return ok;
}

static bool same_bits(const tc_case *c, const char *name, const double *a, const double *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0) {
            fprintf(stderr, "FAIL %s [%s] '%s'[%lld]: %.9g with 1 thread, %.9g with 3 threads\n",
                    c->op->name, c->label, name, (long long)i, a[i], b[i]);
            return false;
        }
    return true;
}

void tc_check_cpu_threads(wf_backend *cpu, const tc_case *c, tc_stats *st) {
    int saved = omp_get_max_threads();
    double *out1[TC_MAX_T] = {0}, *out3[TC_MAX_T] = {0}, *d1[TC_MAX_T] = {0}, *d3[TC_MAX_T] = {0};
    tc_run *r1 = run_create(cpu, c, WF_F32, WF_F32), *r3 = run_create(cpu, c, WF_F32, WF_F32);
    bool ok = r1 && r3;
    omp_set_num_threads(1);
    ok = ok && run_all(r1, out1, d1, st);
    omp_set_num_threads(3); /* more threads than CI cores, and an odd count: uneven partitions */
    ok = ok && run_all(r3, out3, d3, st);
    omp_set_num_threads(saved);
    for (int j = 0; ok && j < r1->plan.nout; j++)
        ok = same_bits(c, r1->plan.out[j].name, out1[j], out3[j], tc_numel(&r1->plan.out[j]));
    for (int i = 0; ok && i < r1->plan.nin; i++)
        if (d1[i]) ok = same_bits(c, r1->plan.in[i].name, d1[i], d3[i], tc_numel(&r1->plan.in[i]));
    tally(st, ok);
    free_all(out1), free_all(out3), free_all(d1), free_all(d3);
    tc_run_destroy(r1), tc_run_destroy(r3);
}
