/* RoPE on the CPU, HF half-split layout (MATH.md "RoPE"): pairs (x_j, x_{j+D/2}) of every head
 * rotate by a = pos[n] * inv_freq[j]; backward rotates by -a. The angle is the fp32 product and
 * cos/sin are fp32 of it, as HF (freqs = inv_freq.float() @ position_ids.float(), then .cos()).
 * y may alias x: each pair is read before it is written. OpenMP over tokens.
 * The float64 test reference is tests/ops/op_rope.c; inv_freq comes from wf_rope_inv_freq. */
#include <math.h>

#include "cpu_ops.h"

#define ROPE_J_CHUNK 64 /* frequencies whose cos/sin are computed once per token and reused */

/* y (N, H, D) = rotate x (N, H, D) by sign * pos[n] * inv_freq[j]. */
static void rope_apply(float *y, const float *x, const int32_t *pos, const float *inv_freq,
                       int64_t N, int64_t H, int64_t D, float sign) {
    int64_t half = D / 2;
#pragma omp parallel for schedule(static) if (N * H * D > 32768)
    for (int64_t n = 0; n < N; n++) {
        float cs[ROPE_J_CHUNK], sn[ROPE_J_CHUNK];
        for (int64_t j0 = 0; j0 < half; j0 += ROPE_J_CHUNK) {
            int64_t w = half - j0 < ROPE_J_CHUNK ? half - j0 : ROPE_J_CHUNK;
            for (int64_t j = 0; j < w; j++) {
                float a = (float)pos[n] * inv_freq[j0 + j];
                cs[j] = cosf(a), sn[j] = sign * sinf(a);
            }
            for (int64_t h = 0; h < H; h++) {
                const float *xr = x + (n * H + h) * D + j0;
                float *yr = y + (n * H + h) * D + j0;
                for (int64_t j = 0; j < w; j++) {
                    float x1 = xr[j], x2 = xr[j + half];
                    yr[j] = x1 * cs[j] - x2 * sn[j];
                    yr[j + half] = x2 * cs[j] + x1 * sn[j];
                }
            }
        }
    }
}

wf_status wf_cpu_rope_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x, const wf_tensor *pos,
                          const wf_tensor *inv_freq) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("rope_fwd", 3, y, x, inv_freq));
    rope_apply(y->data, x->data, pos->data, inv_freq->data, x->shape[0], x->shape[1], x->shape[2],
               1.0f);
    return WF_OK;
}

wf_status wf_cpu_rope_bwd(wf_backend *be, wf_tensor *dx, const wf_tensor *dy, const wf_tensor *pos,
                          const wf_tensor *inv_freq) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("rope_bwd", 3, dx, dy, inv_freq));
    rope_apply(dx->data, dy->data, pos->data, inv_freq->data, dy->shape[0], dy->shape[1],
               dy->shape[2], -1.0f);
    return WF_OK;
}
