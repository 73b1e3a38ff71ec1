/* Dropout masks through the op (wf_op_dropout on the CPU backend): the kept fraction is 1 - p
 * within 5 standard errors, kept values are x / (1 - p), the mask is element i's
 * wf_rng_uniform(seed, step, stream, i) >= p, the same key gives the same mask, and another
 * step, stream or seed gives an independent one. Exit 0 pass, 1 fail. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft/ops.h"
#include "weft/rng.h"

#define N (1 << 20)

static int failures;

static void fail(const char *msg, double got, double want) {
    fprintf(stderr, "FAIL %s: got %.6g, expected %.6g\n", msg, got, want);
    failures++;
}

static void run(wf_backend *be, float *y, const float *x, wf_dropout d) {
    wf_tensor ty = wf_tensor_make(y, WF_F32, 2, (int64_t)1024, (int64_t)(N / 1024));
    wf_tensor tx = wf_tensor_make((void *)x, WF_F32, 2, (int64_t)1024, (int64_t)(N / 1024));
    if (wf_op_dropout(be, &ty, &tx, &d) != WF_OK) {
        fprintf(stderr, "FAIL dropout: %s\n", wf_last_error());
        exit(1);
    }
}

/* Fraction of elements where the masks of a and b differ: independent masks differ with
 * probability 2 p (1 - p). */
static void check_independent(const char *what, const float *a, const float *b, double p) {
    int64_t diff = 0;
    for (int64_t i = 0; i < N; i++) diff += (a[i] != 0) != (b[i] != 0);
    double q = 2 * p * (1 - p), sd = sqrt(q * (1 - q) / N);
    if (fabs((double)diff / N - q) > 5 * sd) fail(what, (double)diff / N, q);
}

int main(void) {
    wf_backend *be = NULL;
    if (wf_backend_open("cpu", NULL, &be) != WF_OK) {
        fprintf(stderr, "cannot open the cpu backend: %s\n", wf_last_error());
        return 1;
    }
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *y2 = malloc(N * sizeof *y2);
    if (!x || !y || !y2) return 1;
    for (int64_t i = 0; i < N; i++) x[i] = 1.0f + (float)(i % 7);
    const double p = 0.1;
    wf_dropout d = {.p = (float)p, .seed = 0x5eed5eed1234ull, .step = 12, .stream = 5};
    run(be, y, x, d);
    int64_t kept = 0, wrong = 0;
    float scale = (float)(1.0 / (1.0 - (double)d.p));
    for (int64_t i = 0; i < N; i++) {
        bool keep = wf_rng_uniform(d.seed, d.step, d.stream, (uint64_t)i) >= d.p;
        kept += y[i] != 0;
        wrong += keep ? y[i] != x[i] * scale : y[i] != 0;
    }
    double sd = sqrt(p * (1 - p) / N); /* binomial standard error of the kept fraction */
    if (fabs((double)kept / N - (1 - p)) > 5 * sd) fail("kept fraction", (double)kept / N, 1 - p);
    if (wrong) fail("elements not x/(1-p) where u >= p, or not 0 elsewhere", (double)wrong, 0);

    run(be, y2, x, d);
    int64_t differ = 0;
    for (int64_t i = 0; i < N; i++) differ += y[i] != y2[i];
    if (differ) fail("the same key drew a different mask (elements)", (double)differ, 0);

    wf_dropout other = d;
    other.step++;
    run(be, y2, x, other);
    check_independent("another step: fraction of differing mask elements", y, y2, p);
    other = d, other.stream++;
    run(be, y2, x, other);
    check_independent("another stream: fraction of differing mask elements", y, y2, p);
    other = d, other.seed += 1ull << 32; /* the high word of the seed is part of the key */
    run(be, y2, x, other);
    check_independent("another seed (high word): fraction of differing mask elements", y, y2, p);

    other = d, other.p = 0; /* p = 0 is the identity */
    run(be, y2, x, other);
    for (int64_t i = 0; i < N; i++)
        if (y2[i] != x[i]) { fail("p = 0 changed an element", y2[i], x[i]); break; }

    printf("dropout: %d failures (kept %.5f, expected %.2f +- %.5f)\n", failures,
           (double)kept / N, 1 - p, 5 * sd);
    free(x), free(y), free(y2);
    wf_backend_close(be);
    return failures ? 1 : 0;
}
