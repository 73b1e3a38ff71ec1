/* Long-sequence check of the tiled CUDA attention (kernels/cuda/attention_flash.cuh and the
 * flash2 variant, attention_flash2.cuh) where the CPU reference of tests/ops would be slow: bf16
 * forward and backward at T = 1000..4096, through WF_CUDA_ATTENTION=flash-only and flash2-only
 * each against the simple kernel (WF_CUDA_ATTENTION=simple) on the same GPU and inputs, and each
 * tiled run repeated to show it is bit-for-bit deterministic (DESIGN.md: reductions that feed the
 * gradient). Not a check of the simple kernel itself: tests/ops does
 * that against the CPU. Exit 0 pass, 1 fail, 77 without a CUDA device.
 * Tolerance: max |tiled - simple| <= 2e-2 max |simple| per tensor. The tiled kernels round P and
 * dS to bf16 (2^-9 relative) before their products with V, dO, K and Q; the simple kernel keeps
 * them in fp32; both store bf16 (another 2^-9). The op tests' bf16 bound (2e-2 of the largest
 * value) applies; a wrong tile or mask shows as O(1) differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/backend.h"
#include "weft/dtype.h"
#include "weft/ops.h"
#include "weft/rng.h"

#define TOL 2e-2

typedef struct cfg {
    int64_t B, T, H, Hk, D;
    bool causal, key_mask;
} cfg;

enum { Q, K, V, DOUT, OUT, DQ, DK, DV, NBUF }; /* bf16 buffers; lse (fp32) apart */

typedef struct run {
    void *d[NBUF], *lse, *mask;
    uint16_t *h[NBUF]; /* outputs read back */
    float *hlse;
} run;

static int64_t heads(const cfg *c, int i) {
    return i == K || i == V || i == DK || i == DV ? c->Hk : c->H;
}

static int64_t numel(const cfg *c, int i) { return c->B * c->T * heads(c, i) * c->D; }

static wf_status run_once(wf_backend *be, const cfg *c, uint16_t *const in[4],
                          const int32_t *mask, run *r) {
    for (int i = 0; i < NBUF; i++) {
        WF_TRY(be->alloc(be, (size_t)numel(c, i) * 2, &r->d[i]));
        if (i <= DOUT) WF_TRY(be->copy(be, r->d[i], in[i], (size_t)numel(c, i) * 2, WF_COPY_H2D));
    }
    WF_TRY(be->alloc(be, (size_t)(c->B * c->H * c->T) * 4, &r->lse));
    WF_TRY(be->alloc(be, (size_t)(c->B * c->T) * 4, &r->mask));
    WF_TRY(be->copy(be, r->mask, mask, (size_t)(c->B * c->T) * 4, WF_COPY_H2D));
    wf_tensor t[NBUF], lse = wf_tensor_make(r->lse, WF_F32, 3, c->B, c->H, c->T);
    wf_tensor km = wf_tensor_make(r->mask, WF_I32, 2, c->B, c->T);
    for (int i = 0; i < NBUF; i++)
        t[i] = wf_tensor_make(r->d[i], WF_BF16, 4, c->B, c->T, heads(c, i), c->D);
    wf_attention a = {.out = &t[OUT], .lse = &lse, .q = &t[Q], .k = &t[K], .v = &t[V],
                      .key_mask = c->key_mask ? &km : NULL, .causal = c->causal,
                      .scale = (float)(1.0 / sqrt((double)c->D)), .dq = &t[DQ], .dk = &t[DK],
                      .dv = &t[DV], .dout = &t[DOUT]};
    WF_TRY(wf_op_attention_fwd(be, &a));
    WF_TRY(wf_op_attention_bwd(be, &a));
    for (int i = OUT; i < NBUF; i++) {
        r->h[i] = malloc((size_t)numel(c, i) * 2);
        WF_TRY(be->copy(be, r->h[i], r->d[i], (size_t)numel(c, i) * 2, WF_COPY_D2H));
    }
    r->hlse = malloc((size_t)(c->B * c->H * c->T) * 4);
    WF_TRY(be->copy(be, r->hlse, r->lse, (size_t)(c->B * c->H * c->T) * 4, WF_COPY_D2H));
    WF_TRY(be->sync(be));
    for (int i = 0; i < NBUF; i++) be->free(be, r->d[i]);
    be->free(be, r->lse), be->free(be, r->mask);
    return WF_OK;
}

static void run_free(run *r) {
    for (int i = 0; i < NBUF; i++) free(r->h[i]);
    free(r->hlse);
}

/* max |a - b| / max |b| over n values, bf16 (lse: fp32). */
static double rel_diff(const void *a, const void *b, int64_t n, bool f32) {
    double d = 0, m = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double x = f32 ? ((const float *)a)[i] : wf_bf16_to_f32(((const uint16_t *)a)[i]);
        double y = f32 ? ((const float *)b)[i] : wf_bf16_to_f32(((const uint16_t *)b)[i]);
        if (!(fabs(x - y) <= d)) d = fabs(x - y); /* NaN propagates */
        if (fabs(y) > m) m = fabs(y);
    }
    return d / m;
}

static int check(const char *variant, wf_backend *flash, wf_backend *simple, const cfg *c) {
    uint16_t *in[4];
    int32_t *mask = malloc((size_t)(c->B * c->T) * 4);
    for (int i = 0; i < 4; i++) {
        in[i] = malloc((size_t)numel(c, i) * 2);
        for (int64_t x = 0; x < numel(c, i); x++) { /* uniform with variance 1 */
            float u = wf_rng_uniform(42, (uint32_t)i, 0, (uint64_t)x);
            in[i][x] = wf_f32_to_bf16((u - 0.5f) * 3.4641016f);
        }
    }
    for (int64_t b = 0; b < c->B; b++) /* row b: the last b * T / 4 keys are padding */
        for (int64_t j = 0; j < c->T; j++) mask[b * c->T + j] = j < c->T - b * c->T / 4;
    run f1 = {0}, f2 = {0}, s = {0};
    wf_status st = run_once(flash, c, in, mask, &f1);
    if (st == WF_OK) st = run_once(flash, c, in, mask, &f2);
    if (st == WF_OK) st = run_once(simple, c, in, mask, &s);
    int bad = 0;
    printf("%-6s B%lld T%lld H%lld Hk%lld D%lld %s%s:", variant, (long long)c->B, (long long)c->T,
           (long long)c->H, (long long)c->Hk, (long long)c->D, c->causal ? "causal" : "bidir",
           c->key_mask ? " key_mask" : "");
    if (st != WF_OK) {
        printf(" FAIL: %s\n", wf_last_error());
        bad = 1;
    } else {
        const char *names[NBUF] = {"", "", "", "", "out", "dq", "dk", "dv"};
        for (int i = OUT; i <= NBUF; i++) {
            bool l = i == NBUF; /* lse */
            int64_t n = l ? c->B * c->H * c->T : numel(c, i);
            const void *a1 = l ? (void *)f1.hlse : f1.h[i], *a2 = l ? (void *)f2.hlse : f2.h[i];
            const void *b = l ? (void *)s.hlse : s.h[i];
            bool same = memcmp(a1, a2, (size_t)n * (l ? 4 : 2)) == 0;
            double r = rel_diff(a1, b, n, l);
            bool ok = same && r <= TOL;
            bad |= !ok;
            printf(" %s %.2e%s%s", l ? "lse" : names[i], r, same ? "" : " (NOT deterministic)",
                   ok ? "" : " FAIL");
        }
        printf("\n");
    }
    run_free(&f1), run_free(&f2), run_free(&s);
    for (int i = 0; i < 4; i++) free(in[i]);
    free(mask);
    return bad;
}

static wf_backend *open_variant(const char *variant) {
    setenv("WF_CUDA_ATTENTION", variant, 1);
    wf_backend *be = NULL;
    if (wf_backend_open("cuda", NULL, &be) != WF_OK) {
        fprintf(stderr, "attention_check: %s\n", wf_last_error());
        return NULL;
    }
    return be;
}

int main(void) {
    if (!wf_backend_available("cuda")) {
        printf("attention_check: no CUDA device: skipped\n");
        return 77;
    }
    wf_backend *flash = open_variant("flash-only"), *flash2 = open_variant("flash2-only");
    wf_backend *simple = open_variant("simple");
    if (!flash || !flash2 || !simple) return 1;
    const cfg cases[] = {
        {2, 2048, 8, 2, 128, true, false},
        {1, 4096, 4, 4, 64, true, false},
        {3, 1000, 4, 1, 80, false, true},
        {2, 777, 6, 3, 96, true, true},
        {2, 1500, 4, 2, 32, true, false},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad += check("flash", flash, simple, &cases[i]);
        bad += check("flash2", flash2, simple, &cases[i]);
    }
    wf_backend_close(flash), wf_backend_close(flash2), wf_backend_close(simple);
    printf("attention_check: %s (tiled vs simple within %.0e of the largest value; tiled "
           "repeated bit for bit)\n", bad ? "FAILED" : "passed", TOL);
    return bad ? 1 : 0;
}
