/* The fused residual add + norm (ops.h add_layernorm_fwd, add_rmsnorm_fwd) gives the bits of
 * add then the norm on the same backend: s, y, mean and rstd compared bit for bit, for both
 * norms, with and without bias, s in its own buffer or over x or over r, on row lengths around
 * the CUDA row block (1, 7, 67, 256, 300, 2049). The forward graph relies on it: fusing changed
 * no CPU result, and a CUDA run equals its unfused path. Runs on the CPU (fp32) and, when a
 * device is there, on CUDA in fp32, bf16 and fp16. Exit 0 pass, 1 fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/dtype.h"
#include "weft/ops.h"
#include "weft/rng.h"

enum { ROWS = 5, MAXC = 2049, MAXN = ROWS * MAXC };

/* One device buffer per tensor of a run: x, r, g, bias, then the outputs (s, y, mean, rstd) of
 * the unfused and of the fused path. */
enum { X, R, G, BIAS, S0, Y0, M0, RS0, S1, Y1, M1, RS1, NBUF };

typedef struct bufs {
    wf_backend *be;
    wf_dtype dt;
    void *p[NBUF];
} bufs;

static int failures;

static wf_status upload(bufs *b, int i, const float *v, int64_t n, wf_dtype dt) {
    uint16_t *h = malloc((size_t)n * 4);
    if (!h) return wf_error(WF_ERR_OOM, "out of host memory");
    for (int64_t k = 0; k < n; k++) wf_store_f32(h, dt, (size_t)k, v[k]);
    wf_status s = b->be->copy(b->be, b->p[i], h, (size_t)n * wf_dtype_size(dt), WF_COPY_H2D);
    free(h);
    return s;
}

/* Compares buffers a and b (n elements of dt) bit for bit; prints the first few differences. */
static void same_bits(const bufs *b, int ia, int ib, int64_t n, wf_dtype dt, const char *what,
                      const char *name) {
    size_t es = wf_dtype_size(dt), bytes = (size_t)n * es;
    unsigned char *ha = malloc(bytes), *hb = malloc(bytes);
    if (!ha || !hb || b->be->copy(b->be, ha, b->p[ia], bytes, WF_COPY_D2H) != WF_OK ||
        b->be->copy(b->be, hb, b->p[ib], bytes, WF_COPY_D2H) != WF_OK) {
        fprintf(stderr, "FAIL %s: cannot download '%s': %s\n", what, name, wf_last_error());
        failures++;
    } else {
        int shown = 0;
        for (int64_t k = 0; k < n && shown < 3; k++)
            if (memcmp(ha + (size_t)k * es, hb + (size_t)k * es, es) != 0) {
                fprintf(stderr, "FAIL %s '%s'[%lld]: unfused %.9g, fused %.9g\n", what, name,
                        (long long)k, (double)wf_load_f32(ha, dt, (size_t)k),
                        (double)wf_load_f32(hb, dt, (size_t)k));
                shown++;
            }
        failures += shown > 0;
    }
    free(ha), free(hb);
}

/* One case: norm kind (rms), C, bias, alias (0 none, 1 s = x, 2 s = r). */
static wf_status run_case(bufs *b, bool rms, int64_t C, bool bias, int alias) {
    wf_dtype dt = b->dt;
    int64_t n = ROWS * C;
    static float v[MAXN];
    uint64_t seed = (uint64_t)(C * 131 + (int)rms * 7 + (int)bias * 3 + alias);
    for (int t = X; t <= BIAS; t++) {
        int64_t m = t <= R ? n : C;
        for (int64_t k = 0; k < m; k++) {
            float u = wf_rng_uniform(seed, 0, (uint32_t)t, (uint64_t)k) * 4.0f - 2.0f;
            v[k] = t == G ? 1.0f + 0.3f * u : t == X ? 0.3f + u : u; /* x: a nonzero mean */
        }
        WF_TRY(upload(b, t, v, m, dt));
    }
    wf_tensor x = wf_tensor_make(b->p[X], dt, 2, (int64_t)ROWS, C);
    wf_tensor r = x, g = wf_tensor_make(b->p[G], dt, 1, C);
    wf_tensor bt = wf_tensor_make(b->p[BIAS], dt, 1, C);
    r.data = b->p[R];
    wf_tensor out[NBUF];
    for (int t = S0; t < NBUF; t++) {
        bool stat = t == M0 || t == RS0 || t == M1 || t == RS1;
        out[t] = stat ? wf_tensor_make(b->p[t], WF_F32, 1, (int64_t)ROWS) : x;
        out[t].data = b->p[t];
    }
    float eps = 1e-5f;
    const wf_tensor *bp = bias ? &bt : NULL;
    /* unfused: s = x + r into S0, norm into Y0 */
    WF_TRY(wf_op_add(b->be, &out[S0], &x, &r));
    if (rms) WF_TRY(wf_op_rmsnorm_fwd(b->be, &out[Y0], &out[RS0], &out[S0], &g, eps));
    else WF_TRY(wf_op_layernorm_fwd(b->be, &out[Y0], &out[M0], &out[RS0], &out[S0], &g, bp, eps));
    /* fused, s into S1, or over a copy of x or r in S1 */
    const wf_tensor *xa = &x, *ra = &r;
    if (alias) {
        WF_TRY(b->be->copy(b->be, b->p[S1], b->p[alias == 1 ? X : R], (size_t)n * wf_dtype_size(dt),
                           WF_COPY_D2D));
        if (alias == 1) xa = &out[S1];
        else ra = &out[S1];
    }
    if (rms) WF_TRY(wf_op_add_rmsnorm_fwd(b->be, &out[S1], &out[Y1], &out[RS1], xa, ra, &g, eps));
    else
        WF_TRY(wf_op_add_layernorm_fwd(b->be, &out[S1], &out[Y1], &out[M1], &out[RS1], xa, ra, &g,
                                       bp, eps));
    WF_TRY(b->be->sync(b->be));
    char what[128];
    snprintf(what, sizeof what, "%s %s %s C %lld%s%s", b->be->name, wf_dtype_name(dt),
             rms ? "add_rmsnorm" : "add_layernorm", (long long)C, bias ? " bias" : "",
             alias == 1 ? " s = x" : alias == 2 ? " s = r" : "");
    int f0 = failures;
    same_bits(b, S0, S1, n, dt, what, "s");
    same_bits(b, Y0, Y1, n, dt, what, "y");
    same_bits(b, RS0, RS1, ROWS, WF_F32, what, "rstd");
    if (!rms) same_bits(b, M0, M1, ROWS, WF_F32, what, "mean");
    if (failures == f0) printf("ok   %s\n", what);
    return WF_OK;
}

static void run_backend(wf_backend *be, wf_dtype dt) {
    bufs b = {.be = be, .dt = dt};
    wf_status s = WF_OK;
    for (int i = 0; i < NBUF && s == WF_OK; i++) s = be->alloc(be, (size_t)MAXN * 4, &b.p[i]);
    static const int64_t cols[] = {1, 7, 67, 256, 300, 2049};
    /* LayerNorm with its bias except where s is x, so both forms run */
    for (size_t k = 0; s == WF_OK && k < sizeof cols / sizeof cols[0]; k++)
        for (int rms = 0; s == WF_OK && rms < 2; rms++)
            for (int alias = 0; s == WF_OK && alias < 3; alias++)
                s = run_case(&b, rms, cols[k], !rms && alias != 1, alias);
    if (s != WF_OK) {
        fprintf(stderr, "FAIL %s %s: %s\n", be->name, wf_dtype_name(dt), wf_last_error());
        failures++;
    }
    for (int i = 0; i < NBUF; i++)
        if (b.p[i]) be->free(be, b.p[i]);
}

int main(void) {
    const char *names[] = {"cpu", "cuda"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!wf_backend_available(names[i])) {
            printf("skip %s: not available\n", names[i]);
            continue;
        }
        wf_backend *be = NULL;
        if (wf_backend_open(names[i], NULL, &be) != WF_OK) {
            fprintf(stderr, "FAIL cannot open backend %s: %s\n", names[i], wf_last_error());
            failures++;
            continue;
        }
        bool cpu = strcmp(names[i], "cpu") == 0; /* the CPU computes in fp32 only */
        for (wf_dtype dt = WF_F32; dt <= WF_F16; dt++)
            if (!cpu || dt == WF_F32) run_backend(be, dt);
        wf_backend_close(be);
    }
    printf("add+norm fused vs unfused, bit for bit: %d failures\n", failures);
    return failures ? 1 : 0;
}
