/* Checked entry points of RoPE (ops.h, MATH.md "RoPE"), and the host-side table of inverse
 * frequencies wf_rope_inv_freq, as HF transformers' modeling_rope_utils
 * (_compute_default_rope_parameters, _compute_llama3_parameters). Tested by
 * tests/unit/test_rope_freq.c and tests/ops/op_rope.c. */
#include <math.h>

#include "check.h"

/* x (N, H, D) float with D even; pos (N) int32; inv_freq (D/2) fp32; y like x. */
static wf_status chk_rope(const char *op, const char *xn, const wf_tensor *x, const char *yn,
                          const wf_tensor *y, const wf_tensor *pos, const wf_tensor *inv_freq) {
    WF_TRY(wf_chk_present(op, xn, x));
    WF_TRY(wf_chk_float(op, xn, x));
    if (x->ndim != 3 || x->shape[2] < 2 || x->shape[2] % 2) {
        char got[96];
        return wf_error(WF_ERR_INVALID, "op %s: '%s' is %s, expected (N, H, D) with D even", op,
                        xn, wf_tensor_describe(x, got, sizeof got));
    }
    WF_TRY(wf_chk_like(op, yn, y, xn, x));
    WF_CHK_SHAPE(op, "pos", pos, 1, x->shape[0]);
    WF_TRY(wf_chk_dtype(op, "pos", pos, WF_I32));
    WF_CHK_SHAPE(op, "inv_freq", inv_freq, 1, x->shape[2] / 2);
    return wf_chk_dtype(op, "inv_freq", inv_freq, WF_F32);
}

wf_status wf_op_rope_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x, const wf_tensor *pos,
                         const wf_tensor *inv_freq) {
    WF_TRY(chk_rope("rope_fwd", "x", x, "y", y, pos, inv_freq));
    return WF_DISPATCH(be, rope_fwd, y, x, pos, inv_freq);
}

wf_status wf_op_rope_bwd(wf_backend *be, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *pos,
                         const wf_tensor *inv_freq) {
    WF_TRY(chk_rope("rope_bwd", "dy", dy, "dx", dx, pos, inv_freq));
    return WF_DISPATCH(be, rope_bwd, dx, dy, pos, inv_freq);
}

/* HF builds the base table in float32:
 *   inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
 * so the exponent 2j/D is a float32 division, base ** e is a float32 pow (base, a Python float,
 * is promoted to the tensor's float32), and 1.0 / p is a float32 division. Each is reproduced:
 * e and 1/p round exactly as HF rounds them, and p is the correctly rounded float32 pow
 * (PyTorch's CPU pow, SLEEF u10, is within 1 ulp of it). The exponent's rounding only matters
 * when 2j/D is not a dyadic fraction (head dims 80, 96, ...); there it moves theta^e by up to
 * ln(theta) * 2^-25 relative (~7 fp32 ulp for theta = 500000).
 * The llama3 rescaling then runs in double on those float32 values (HF runs it in float32: the
 * two agree to about an ulp of the stored result). */
void wf_rope_inv_freq(float *out, int head_dim, double theta, const wf_rope_scaling *sc) {
    WF_ASSERT(head_dim >= 2 && head_dim % 2 == 0 && theta > 1.0);
    float base = (float)theta;
    for (int j = 0; j < head_dim / 2; j++) {
        float e = (float)(2 * j) / (float)head_dim;
        float p = (float)pow((double)base, (double)e);
        out[j] = 1.0f / p;
    }
    if (!sc || !(sc->factor > 0.0f)) return;
    /* _compute_llama3_parameters: keep high frequencies, divide low ones by factor, blend
     * linearly in 1/wavelength between them. */
    double factor = sc->factor, lo = sc->low_freq_factor, hi = sc->high_freq_factor;
    double orig = sc->original_max_positions;
    WF_ASSERT(hi > lo && orig > 0);
    double low_freq_wavelen = orig / lo, high_freq_wavelen = orig / hi;
    for (int j = 0; j < head_dim / 2; j++) {
        double inv = out[j], wavelen = 2.0 * M_PI / inv;
        if (wavelen > low_freq_wavelen) {
            inv = inv / factor;
        } else if (!(wavelen < high_freq_wavelen)) {
            double smooth = (orig / wavelen - lo) / (hi - lo);
            inv = (1.0 - smooth) * inv / factor + smooth * inv;
        }
        out[j] = (float)inv;
    }
}
