/* wf_rope_inv_freq (host/ops/ops_rope.c) against values computed here in double: the plain
 * table 1 / theta^(2j/D) (theta 1e4, 5e5, 1e6; head dims where 2j/D is and is not exact in
 * float32), and HF's llama3 rescaling (_compute_llama3_parameters) with Llama-3.2's config:
 * theta 500000, factor 32, low 1, high 4, original 8192, head_dim 64. Exit 0 pass, 1 fail. */
#include <math.h>
#include <stdio.h>

#include "weft/ops.h"

static int failures;

static void check(const char *what, int j, double got, double want, double rtol) {
    if (fabs(got - want) <= rtol * fabs(want)) return;
    if (failures++ < 10)
        fprintf(stderr, "FAIL %s [%d]: expected %.9g, got %.9g (rel %.3g, allowed %.3g)\n", what, j,
                want, got, fabs(got - want) / fabs(want), rtol);
}

/* The plain table: exactly in double, and as HF rounds it (exponent 2j/D in float32). */
static void check_plain(double theta, int D) {
    float out[128]; /* head dims up to 256 */
    wf_rope_inv_freq(out, D, theta, NULL);
    for (int j = 0; j < D / 2; j++) {
        /* float32 exponent error moves theta^e by <= ln(theta) * 2^-25 relative (4.1e-7 for
         * 1e6), plus the two fp32 roundings of pow and 1/p (1.2e-7) */
        check("plain vs exact double", j, out[j], pow(theta, -2.0 * j / D), 6e-7);
        /* the same with HF's float32 exponent: only the two fp32 roundings remain, and
         * PyTorch's pow may be 1 ulp off the correctly rounded one: 3 ulp */
        double e32 = (float)(2 * j) / (float)D;
        check("plain vs fp32 exponent", j, out[j], 1.0 / pow(theta, e32), 1.8e-7);
    }
}

/* HF's rescaling of one inverse frequency, written out here in double. Returns its region:
 * 0 kept (high frequency), 1 blended, 2 divided by factor (low frequency). */
static int llama3(double inv, double factor, double lo, double hi, double orig, double *out) {
    double wavelen = 2 * M_PI / inv;
    if (wavelen < orig / hi) { *out = inv; return 0; }
    if (wavelen > orig / lo) { *out = inv / factor; return 2; }
    double s = (orig / wavelen - lo) / (hi - lo);
    *out = (1 - s) * inv / factor + s * inv;
    return 1;
}

static void check_llama32(void) {
    const int D = 64;
    const wf_rope_scaling sc = {.factor = 32, .low_freq_factor = 1, .high_freq_factor = 4,
                                .original_max_positions = 8192};
    float base[32], out[32];
    wf_rope_inv_freq(base, D, 500000.0, NULL);
    wf_rope_inv_freq(out, D, 500000.0, &sc);
    int count[3] = {0, 0, 0};
    for (int j = 0; j < D / 2; j++) {
        double want, exact;
        /* rescaling the library's own fp32 base table: one rounding to fp32 at the end */
        int r = llama3(base[j], 32, 1, 4, 8192, &want);
        check("llama3 of the fp32 table", j, out[j], want, 6e-8);
        /* fully in double: the base error (6e-7, above) passes through the blend weight, which
         * can amplify it by up to factor * 1/(high - low) ~ 11 where the blend is near 1/factor */
        llama3(pow(500000.0, -2.0 * j / D), 32, 1, 4, 8192, &exact);
        check("llama3 vs exact double", j, out[j], exact, r == 1 ? 7e-6 : 6e-7);
        count[r]++;
    }
    /* wavelen = 2 pi 500000^(j/32) < 2048 for j <= 14, > 8192 for j >= 18 */
    if (count[0] != 15 || count[1] != 3 || count[2] != 14) {
        fprintf(stderr, "FAIL llama3 regions: %d kept, %d blended, %d divided; "
                        "expected 15, 3, 14\n", count[0], count[1], count[2]);
        failures++;
    }
    /* factor 0 means no scaling */
    const wf_rope_scaling none = {0};
    float same[32];
    wf_rope_inv_freq(same, D, 500000.0, &none);
    for (int j = 0; j < D / 2; j++)
        if (same[j] != base[j]) {
            fprintf(stderr, "FAIL factor 0 changed inv_freq[%d]\n", j);
            failures++;
        }
}

int main(void) {
    check_plain(10000.0, 64);
    check_plain(10000.0, 128);
    check_plain(500000.0, 64);
    /* head dims where 2j/D is not exact in float32, so HF's fp32 exponent matters */
    check_plain(10000.0, 80);
    check_plain(500000.0, 96);
    check_plain(1000000.0, 160);
    check_llama32();
    printf("rope_freq: %d failures\n", failures);
    return failures ? 1 : 0;
}
