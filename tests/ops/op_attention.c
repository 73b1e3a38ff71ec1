/* Op cases for attention (ops.h wf_attention; MATH.md "Attention").
 * p[0] B, p[1] T (queries), p[2] S (keys), p[3] H, p[4] Hk, p[5] D, p[6] 1 = causal,
 * p[7] mask bits: 1 = key_mask, 2 = doc_ids (needs S == T). f[0] scale (0: 1/sqrt(D)).
 * The key mask is fixed per batch row b (see init): b % 3 == 0 left padding (with causal, its
 * first queries see no key), 1 scattered holes, 2 every key masked (out = 0, lse = 0). */
#include <math.h>
#include <stdlib.h>

#include "ops_list.h"
#include "weft/rng.h"

enum { MASK_KEYS = 1, MASK_DOCS = 2 };

/* The fp32 scale the op gets, so the reference uses the same value. */
static float case_scale(const tc_case *c) {
    return c->f[0] != 0 ? (float)c->f[0] : (float)(1.0 / sqrt((double)c->p[5]));
}

static void plan(const tc_case *c, tc_plan *p) {
    int64_t B = c->p[0], T = c->p[1], S = c->p[2], H = c->p[3], Hk = c->p[4], D = c->p[5];
    tc_add_in(p, "q", TC_FLOAT, TC_INIT_NORMAL, 0, 1, TC_DIFF, TC_DIMS(B, T, H, D));
    tc_add_in(p, "k", TC_FLOAT, TC_INIT_NORMAL, 0, 1, TC_DIFF, TC_DIMS(B, S, Hk, D));
    tc_add_in(p, "v", TC_FLOAT, TC_INIT_NORMAL, 0, 1, TC_DIFF, TC_DIMS(B, S, Hk, D));
    if (c->p[7] & MASK_KEYS)
        tc_add_in(p, "key_mask", TC_I32, TC_INIT_CUSTOM, 0, 0, 0, TC_DIMS(B, S));
    if (c->p[7] & MASK_DOCS) /* about 3 documents per packed row */
        tc_add_in(p, "doc_ids", TC_I32, TC_INIT_DOCS, 3, 0, 0, TC_DIMS(B, T));
    tc_add_out(p, "out", TC_FLOAT, TC_LOSS, TC_DIMS(B, T, H, D));
    tc_add_out(p, "lse", TC_F32, 0, TC_DIMS(B, H, T));
}

static void init(const tc_case *c, const char *name, double *v, int64_t n) {
    (void)name; /* key_mask is the only custom input */
    int64_t S = c->p[2];
    for (int64_t x = 0; x < n; x++) {
        int64_t b = x / S, j = x % S;
        switch (b % 3) {
        case 0: v[x] = j >= (S + 2) / 3; break;
        case 1: v[x] = wf_rng_uniform(0x5eed, 0, 0, (uint64_t)x) >= 0.3; break;
        default: v[x] = 0; break;
        }
    }
}

static wf_attention args(const tc_case *c, tc_io *io) {
    return (wf_attention){
        .out = tc_out(io, "out"), .lse = tc_out(io, "lse"),
        .q = tc_in(io, "q"), .k = tc_in(io, "k"), .v = tc_in(io, "v"),
        .key_mask = tc_in(io, "key_mask"), .doc_ids = tc_in(io, "doc_ids"),
        .causal = c->p[6] != 0, .scale = case_scale(c),
        .dq = tc_din(io, "q"), .dk = tc_din(io, "k"), .dv = tc_din(io, "v"),
        .dout = tc_dout(io, "out"),
    };
}

static wf_status fwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_attention a = args(c, io);
    return wf_op_attention_fwd(be, &a);
}

static wf_status bwd(wf_backend *be, const tc_case *c, tc_io *io) {
    wf_attention a = args(c, io);
    return wf_op_attention_bwd(be, &a);
}

/* Whether query i of row b may see key j (ops.h), from float64 copies of the masks. */
static bool ref_visible(const tc_case *c, const double *key_mask, const double *doc_ids,
                        int64_t b, int64_t i, int64_t j) {
    int64_t T = c->p[1], S = c->p[2];
    if (c->p[6] && j > i + (S - T)) return false;
    if (key_mask && key_mask[b * S + j] == 0) return false;
    if (doc_ids && doc_ids[b * T + i] != doc_ids[b * T + j]) return false;
    return true;
}

/* float64, the textbook way: all scores of a row, max, exp, normalise, P V. */
static void ref(const tc_case *c, const tc_plan *p, double *const *in, double *const *out) {
    int64_t B = c->p[0], T = c->p[1], S = c->p[2], H = c->p[3], Hk = c->p[4], D = c->p[5];
    const double *q = tc_ref_in(p, in, "q"), *k = tc_ref_in(p, in, "k"), *v = tc_ref_in(p, in, "v");
    const double *km = tc_ref_in(p, in, "key_mask"), *docs = tc_ref_in(p, in, "doc_ids");
    double *o = tc_ref_out(p, out, "out"), *lse = tc_ref_out(p, out, "lse");
    double scale = case_scale(c), *s = malloc((size_t)(S ? S : 1) * sizeof *s); /* scores */
    WF_ASSERT(s);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++) {
                const double *qi = q + ((b * T + i) * H + h) * D;
                double *oi = o + ((b * T + i) * H + h) * D, m = -INFINITY, l = 0;
                int64_t g = h / (H / Hk);
                for (int64_t j = 0; j < S; j++) {
                    s[j] = -INFINITY;
                    if (!ref_visible(c, km, docs, b, i, j)) continue;
                    s[j] = 0;
                    for (int64_t d = 0; d < D; d++) s[j] += qi[d] * k[((b * S + j) * Hk + g) * D + d];
                    s[j] *= scale;
                    m = fmax(m, s[j]);
                }
                for (int64_t d = 0; d < D; d++) oi[d] = 0;
                lse[(b * H + h) * T + i] = 0;
                if (m == -INFINITY) continue;
                for (int64_t j = 0; j < S; j++) {
                    if (s[j] == -INFINITY) continue;
                    double e = exp(s[j] - m);
                    l += e;
                    for (int64_t d = 0; d < D; d++) oi[d] += e * v[((b * S + j) * Hk + g) * D + d];
                }
                for (int64_t d = 0; d < D; d++) oi[d] /= l;
                lse[(b * H + h) * T + i] = m + log(l);
            }
    free(s);
}

/* MATH.md "Counting FLOPs": forward 4 B H T S D, backward 2.5x; causal halves both. */
static double flops(const tc_case *c, bool bwd) {
    double f = 4.0 * (double)c->p[0] * (double)c->p[3] * (double)c->p[1] * (double)c->p[2] *
               (double)c->p[5];
    if (c->p[6]) f *= 0.5;
    return bwd ? 2.5 * f : f;
}

const tc_op tc_op_attention = {
    .name = "attention",
    .plan = plan,
    .fwd = fwd,
    .bwd = bwd,
    .ref = ref,
    .init = init,
    .flops = flops,
    .dtypes = TC_ALL_FLOATS,
    .tol_ref = {1e-5, 2e-6, "fp32 scores (D-term dots), exp and S-term sums: ~(D+S) ulp"},
    .tol_grad = {2e-5, 2e-6, "fp32 backward (D- and S-term sums): ~1e-6; float64 central "
                             "differences (h = 1e-4): ~1e-8"},
    .tol_be = {
        {1e-4, 1e-5, "fp32 in another order (tiles, fast exp): ~1e-6, margin for S-long sums"},
        {2e-2, 1e-2, "bf16 P and O/dQ/dK/dV accumulated on the device from bf16 P (2^-8)"},
        {4e-3, 2e-3, "fp16 P and O/dQ/dK/dV accumulated on the device from fp16 P (2^-11)"},
    },
};
