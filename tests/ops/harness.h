/* The op-case harness: one table of op cases (cases.c) drives
 *   - every op on the CPU against a float64 reference forward   (test_ops_cpu, suite cpu),
 *   - every backward on the CPU against finite differences of that reference (same test),
 *   - every op on every other backend against the CPU            (test_ops_backends, suite gpu),
 *   - the op benchmarks                                           (bench/bench_ops.c).
 * An op is described once (tc_op: its tensors, how to call it, its reference); a case is a row
 * of sizes. Outputs get guard bytes on both sides and start as NaN, so an op that writes out of
 * bounds or leaves an "=" output unwritten fails; "+=" outputs start random and the test checks
 * the increment. */
#ifndef WEFT_TESTS_OPS_HARNESS_H
#define WEFT_TESTS_OPS_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/ops.h"

#define TC_MAX_T 10
#define TC_MAX_CASES 256

typedef enum tc_kind {
    TC_FLOAT, /* the dtype under test (f32 on the CPU; f32/bf16/f16 on other backends) */
    TC_F32,   /* always fp32 (saved statistics, losses, optimizer buffers) */
    TC_I32,   /* ids, targets, positions, masks */
    TC_BF16,  /* fixed low-precision dtypes (e.g. AdamW's p_lowp) */
    TC_F16,
} tc_kind;

typedef enum tc_init {
    TC_INIT_NORMAL,  /* mean a, std b */
    TC_INIT_UNIFORM, /* in [a, b) */
    TC_INIT_INT,     /* integers in [a, b) */
    TC_INIT_HOLES,   /* integers in [0, b), about 1 in 6 replaced by a (e.g. ignore_index) */
    TC_INIT_MASK,    /* 1 with probability 1 - a, else 0 */
    TC_INIT_DOCS,    /* per row of the last dim: non-decreasing document ids, about a docs */
    TC_INIT_CUSTOM,  /* the op's init hook */
} tc_init;

enum {
    TC_DIFF = 1u << 0,    /* input: differentiable; backward writes its gradient */
    TC_GRAD_ACC = 1u << 1, /* input: its gradient accumulates ("+=") rather than overwrites */
    TC_LOSS = 1u << 2,    /* output: enters the finite-difference loss sum(w * y) */
    TC_ACC = 1u << 3,     /* output: the op reads it ("+=" / in place): it starts from the
                             input of the same name + "0" instead of NaN */
    TC_NOCMP = 1u << 4,   /* output: not compared (e.g. scratch) */
    TC_PARAM = 1u << 5,   /* input: a parameter (weight, bias, gain, LoRA A/B, IA3 vector, table):
                             in TC_F32_GRAD cases its gradient is fp32 whatever the dtype */
};

typedef struct tc_spec {
    const char *name;
    tc_kind kind;
    int ndim;
    int64_t shape[WF_MAX_DIMS];
    tc_init init;
    double a, b;
    unsigned flags;
} tc_spec;

typedef struct tc_plan {
    int nin, nout;
    tc_spec in[TC_MAX_T], out[TC_MAX_T];
} tc_plan;

/* Tensors of one run on one backend, by plan position. */
typedef struct tc_io {
    const tc_plan *plan;
    wf_tensor in[TC_MAX_T], out[TC_MAX_T];
    wf_tensor din[TC_MAX_T];  /* for TC_DIFF inputs */
    wf_tensor dout[TC_MAX_T]; /* for TC_LOSS outputs */
} tc_io;

typedef struct tc_tol {
    double rtol; /* |got - want| <= rtol |want| + arel max|want| */
    double arel;
    const char *why;
} tc_tol;

typedef struct tc_case tc_case;

typedef struct tc_op {
    const char *name;
    void (*plan)(const tc_case *c, tc_plan *p);
    wf_status (*fwd)(wf_backend *be, const tc_case *c, tc_io *io);
    /* Backward (NULL if the op has none): reads dout of TC_LOSS outputs, writes din of TC_DIFF
     * inputs. Ops whose backward is fused into forward (cross-entropy, MSE) set dout_scalar:
     * every dout element holds the same value, passed as the op's dscale. */
    wf_status (*bwd)(wf_backend *be, const tc_case *c, tc_io *io);
    /* float64 reference forward: in[i] / out[j] follow the plan's order. */
    void (*ref)(const tc_case *c, const tc_plan *p, double *const *in, double *const *out);
    void (*init)(const tc_case *c, const char *name, double *v, int64_t n); /* TC_INIT_CUSTOM */
    double (*flops)(const tc_case *c, bool bwd); /* for benchmarks; NULL: memory-bound op */
    bool dout_scalar;
    unsigned dtypes;         /* bit (1 << wf_dtype) per float dtype other backends run */
    tc_tol tol_ref;          /* CPU vs float64 reference */
    tc_tol tol_grad;         /* CPU backward vs finite differences */
    tc_tol tol_be[3];        /* other backend vs CPU, by dtype: f32, bf16, f16 */
} tc_op;

enum {
    TC_TEST = 1u << 0,  /* run by the tests */
    TC_BENCH = 1u << 1, /* run by the benchmark */
    TC_NO_FD = 1u << 2, /* too big for finite differences */
    TC_F32_GRAD = 1u << 3, /* TC_PARAM inputs' gradients are fp32 (mixed precision's flat
                              gradient buffer: fp32 accumulation from bf16/fp16 inputs) */
};

struct tc_case {
    const tc_op *op;
    const char *label;
    int64_t p[8]; /* sizes and switches; each op file says what p[i] means */
    double f[4];  /* float parameters (eps, scale, p of dropout, ...) */
    unsigned flags;
};

/* Shape argument helper: TC_DIMS(2, 3) expands to "2, (const int64_t[]){2, 3}". */
#define TC_DIMS(...)                                                                               \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]) { __VA_ARGS__ }

void tc_add_in(tc_plan *p, const char *name, tc_kind kind, tc_init init, double a, double b,
               unsigned flags, int ndim, const int64_t *shape);
void tc_add_out(tc_plan *p, const char *name, tc_kind kind, unsigned flags, int ndim,
                const int64_t *shape);

/* Lookup by name; NULL when the plan has no such tensor (optional arguments). */
int tc_in_index(const tc_plan *p, const char *name);
int tc_out_index(const tc_plan *p, const char *name);
wf_tensor *tc_in(tc_io *io, const char *name);
wf_tensor *tc_out(tc_io *io, const char *name);
wf_tensor *tc_din(tc_io *io, const char *name);
wf_tensor *tc_dout(tc_io *io, const char *name);
const double *tc_ref_in(const tc_plan *p, double *const *in, const char *name);
double *tc_ref_out(const tc_plan *p, double *const *out, const char *name);
/* Numel of a spec. */
int64_t tc_numel(const tc_spec *s);

/* The case table (cases.c) and the op descriptors it draws from (tests/ops/op_*.c). */
extern const tc_case tc_cases[];
extern const int tc_ncases;

/* Drivers (harness.c). Each returns the number of failed checks and prints them. */
typedef struct tc_stats { int checks, failed, skipped; } tc_stats;
void tc_check_cpu_ref(wf_backend *cpu, const tc_case *c, tc_stats *st);
void tc_check_cpu_grad(wf_backend *cpu, const tc_case *c, tc_stats *st);
/* The CPU gives bit-identical outputs and gradients with 1 and with 3 threads (DESIGN.md:
 * reductions that feed the loss or the gradient are deterministic). */
void tc_check_cpu_threads(wf_backend *cpu, const tc_case *c, tc_stats *st);
void tc_check_backend(wf_backend *be, wf_backend *cpu, const tc_case *c, wf_dtype dt, tc_stats *st);

/* One run of a case on a backend (for benchmarks): allocate, fill, then call fwd/bwd. */
typedef struct tc_run tc_run;
tc_run *tc_run_create(wf_backend *be, const tc_case *c, wf_dtype dt);
wf_status tc_run_fwd(tc_run *r);
wf_status tc_run_bwd(tc_run *r);
double tc_run_bytes(const tc_run *r, bool bwd); /* bytes the op must read + write */
void tc_run_destroy(tc_run *r);

#endif
