/* Op benchmarks over the shared op-case table (tests/ops/cases.c): per op and size, time of
 * forward and backward, GFLOP/s (ops that declare FLOPs) and GB/s (bytes the op must touch),
 * on any backend. Usage:
 *   bench_ops [--backend cpu|cuda] [--dtype f32|bf16|f16] [--op NAME]... [--case TEXT]...
 *             [--variant attention=simple|flash|flash2] [--variant lora=composed|fused]
 *             [--smoke] [--min-time S]
 * Default: the benchmark-size cases (B). --case keeps the cases whose label contains TEXT.
 * --variant picks a named kernel variant (STYLE rule 7; CUDA: WF_CUDA_ATTENTION, WF_CUDA_LORA,
 * read at backend open). --smoke runs the small test cases once each, to prove the driver and
 * every op run; its timings mean nothing.
 * Each lora case is followed by a "lora/linear" row: its time over the base linear layer's
 * (tc_op_linear, same N, K, M, bias and frozen/dx switches), forward, backward and both, each
 * timed as WF_BENCH_BATCH calls back to back between syncs (device time once the launches run
 * ahead, so the per-call sync of the other rows does not pull the ratio towards 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops_list.h"

/* Calls between two syncs in the lora/linear ratio rows. */
#define WF_BENCH_BATCH 20

typedef struct opts {
    const char *backend;
    wf_dtype dtype;
    const char *ops[32];
    int nops;
    const char *cases[32];
    int ncases;
    bool smoke;
    double min_time;
} opts;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage(const char *msg) {
    fprintf(stderr, "bench_ops: %s\nusage: bench_ops [--backend cpu|cuda] [--dtype f32|bf16|f16] "
                    "[--op NAME]... [--case TEXT]... [--variant attention=simple|flash|flash2] "
                    "[--variant lora=composed|fused] [--smoke] "
                    "[--min-time SECONDS]\n", msg);
    return 2;
}

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){.backend = "cpu", .dtype = WF_F32, .min_time = 0.5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--smoke") == 0) { o->smoke = true; continue; }
        if (!v) return usage("missing value after an option");
        if (strcmp(a, "--backend") == 0) o->backend = v;
        else if (strcmp(a, "--op") == 0 && o->nops < 32) o->ops[o->nops++] = v;
        else if (strcmp(a, "--case") == 0 && o->ncases < 32) o->cases[o->ncases++] = v;
        else if (strcmp(a, "--min-time") == 0) o->min_time = atof(v);
        else if (strcmp(a, "--variant") == 0) {
            if (strcmp(v, "attention=simple") == 0) setenv("WF_CUDA_ATTENTION", "simple", 1);
            else if (strcmp(v, "attention=flash") == 0) setenv("WF_CUDA_ATTENTION", "flash", 1);
            else if (strcmp(v, "attention=flash2") == 0) setenv("WF_CUDA_ATTENTION", "flash2", 1);
            else if (strcmp(v, "lora=composed") == 0) setenv("WF_CUDA_LORA", "composed", 1);
            else if (strcmp(v, "lora=fused") == 0) setenv("WF_CUDA_LORA", "fused", 1);
            else return usage("--variant must be attention=simple|flash|flash2 or lora=composed|fused");
        }
        else if (strcmp(a, "--dtype") == 0) {
            if (strcmp(v, "f32") == 0) o->dtype = WF_F32;
            else if (strcmp(v, "bf16") == 0) o->dtype = WF_BF16;
            else if (strcmp(v, "f16") == 0) o->dtype = WF_F16;
            else return usage("--dtype must be f32, bf16 or f16");
        } else return usage("unknown option");
        i++;
    }
    return 0;
}

static bool wanted(const opts *o, const tc_case *c) {
    if (!(c->flags & (o->smoke ? TC_TEST : TC_BENCH))) return false;
    if (!(c->op->dtypes & (1u << o->dtype)) && o->dtype != WF_F32) return false;
    bool label_ok = !o->ncases;
    for (int i = 0; i < o->ncases; i++)
        if (strstr(c->label, o->cases[i])) label_ok = true;
    if (!label_ok) return false;
    if (!o->nops) return true;
    for (int i = 0; i < o->nops; i++)
        if (strcmp(o->ops[i], c->op->name) == 0) return true;
    return false;
}

/* Seconds per call of f(r): one warm-up, then batches of `batch` calls, a sync after each,
 * until min_time has passed. */
static wf_status time_it(wf_backend *be, tc_run *r, wf_status (*f)(tc_run *), double min_time,
                         int batch, double *secs) {
    WF_TRY(f(r));
    WF_TRY(be->sync(be));
    int reps = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < batch; i++) WF_TRY(f(r));
        reps += batch;
        WF_TRY(be->sync(be));
        t = now() - t0;
    } while (t < min_time);
    *secs = t / reps;
    return WF_OK;
}

/* Forward and backward seconds per call of case c, `batch` calls between syncs. */
static wf_status time_pair(wf_backend *be, const tc_case *c, wf_dtype dt, double min_time,
                           int batch, double t[2]) {
    tc_run *r = tc_run_create(be, c, dt);
    if (!r) return wf_error(WF_ERR_INVALID, "bench: cannot set up case %s", c->label);
    wf_status s = time_it(be, r, tc_run_fwd, min_time, batch, &t[0]);
    if (s == WF_OK) s = time_it(be, r, tc_run_bwd, min_time, batch, &t[1]);
    tc_run_destroy(r);
    return s;
}

/* The lora/linear row of lora case c (p = {N, K, M, r, bias, frozen base, no dx}): the same
 * layer without the low-rank path is linear p = {N, K, M, bias, frozen base, no dx, 0}. */
static wf_status lora_ratio(wf_backend *be, const opts *o, const tc_case *c) {
    tc_case lin = {&tc_op_linear, c->label, {c->p[0], c->p[1], c->p[2], c->p[4], c->p[5], c->p[6], 0},
                   {0}, c->flags};
    double min_time = o->smoke ? 0 : o->min_time, tl[2], tb[2];
    int batch = o->smoke ? 1 : WF_BENCH_BATCH; /* smoke: prove the row runs, cheaply */
    WF_TRY(time_pair(be, c, o->dtype, min_time, batch, tl));
    WF_TRY(time_pair(be, &lin, o->dtype, min_time, batch, tb));
    printf("%-18s %-28s ratio fwd %.3f bwd %.3f fwd+bwd %.3f (lora %.3f + %.3f ms, linear %.3f + "
           "%.3f ms, %d calls a sync)\n", "lora/linear", c->label, tl[0] / tb[0], tl[1] / tb[1],
           (tl[0] + tl[1]) / (tb[0] + tb[1]), tl[0] * 1e3, tl[1] * 1e3, tb[0] * 1e3, tb[1] * 1e3,
           batch);
    return WF_OK;
}

static void row(const tc_case *c, const char *dir, double secs, double flops, double bytes) {
    printf("%-18s %-28s %-4s %10.3f", c->op->name, c->label, dir, secs * 1e3);
    if (flops > 0) printf(" %10.1f", flops / secs * 1e-9); else printf(" %10s", "-");
    printf(" %10.1f\n", bytes / secs * 1e-9);
}

static bool bench_case(wf_backend *be, const opts *o, const tc_case *c) {
    tc_run *r = tc_run_create(be, c, o->dtype);
    if (!r) return false;
    double secs, min_time = o->smoke ? 0 : o->min_time;
    wf_status s = time_it(be, r, tc_run_fwd, min_time, 1, &secs);
    if (s == WF_OK) {
        row(c, "fwd", secs, c->op->flops ? c->op->flops(c, false) : 0, tc_run_bytes(r, false));
        if (c->op->bwd && (s = time_it(be, r, tc_run_bwd, min_time, 1, &secs)) == WF_OK)
            row(c, "bwd", secs, c->op->flops ? c->op->flops(c, true) : 0, tc_run_bytes(r, true));
    }
    tc_run_destroy(r);
    if (s == WF_OK && c->op == &tc_op_lora) s = lora_ratio(be, o, c);
    if (s == WF_ERR_UNSUPPORTED) printf("%-18s %-28s skipped: %s\n", c->op->name, c->label, wf_last_error());
    else if (s != WF_OK) fprintf(stderr, "FAIL %s [%s]: %s\n", c->op->name, c->label, wf_last_error());
    return s == WF_OK || s == WF_ERR_UNSUPPORTED;
}

int main(int argc, char **argv) {
    opts o;
    if (parse(argc, argv, &o)) return 2;
    wf_backend *be = NULL;
    if (wf_backend_open(o.backend, NULL, &be) != WF_OK) {
        fprintf(stderr, "bench_ops: %s\n", wf_last_error());
        return strcmp(o.backend, "cpu") && !wf_backend_available(o.backend) ? 77 : 1;
    }
    printf("backend %s: %s, dtype %s%s\n", be->name, be->device_name, wf_dtype_name(o.dtype),
           o.smoke ? " (smoke: single runs of the test sizes, timings meaningless)" : "");
    printf("%-18s %-28s %-4s %10s %10s %10s\n", "op", "case", "dir", "ms", "GFLOP/s", "GB/s");
    int failed = 0, ran = 0;
    for (int i = 0; i < tc_ncases; i++) {
        const tc_case *c = &tc_cases[i];
        if (!wanted(&o, c)) continue;
        ran++;
        failed += !bench_case(be, &o, c);
    }
    wf_backend_close(be);
    if (!ran) fprintf(stderr, "bench_ops: no case matched\n");
    return failed || !ran ? 1 : 0;
}
