/* AdamW over flat fp32 buffers on the CPU, with clipping by global norm folded in (MATH.md
 * "Optimiser and scaling"; contract: ops.h adamw). Each element follows torch.optim.AdamW's
 * single-tensor path (torch/optim/adamw.py, _single_tensor_adam with decoupled decay):
 *   p *= 1 - lr*wd (elements < n_decay);  m = lerp(m, g, 1 - b1);  v = b2 v + (1 - b2) g^2;
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc_k = 1 - b_k^t,  t = opt_step + 1,
 * with the step scalars computed in double and rounded to fp32 once, as PyTorch does with its
 * Python-float scalars. The clip coefficient is clip_grad_norm_'s max_norm / (norm + 1e-6),
 * applied only when below 1. Nothing changes when the step found a non-finite gradient. */
#include <math.h>

#include "cpu_ops.h"

typedef struct adamw_scalars {
    float clip;       /* multiplies g (1 when not clipping) */
    float decay;      /* 1 - lr*wd */
    float b1, omb1;   /* beta1, 1 - beta1 */
    float b2, omb2;   /* beta2, 1 - beta2 */
    float step_size;  /* lr / bc1 */
    float bc2_sqrt;   /* sqrt(bc2) */
    float eps;
} adamw_scalars;

static adamw_scalars adamw_prepare(const wf_adamw_hparams *hp, const wf_step_state *st) {
    adamw_scalars s = {.clip = 1.0f, .b1 = hp->beta1, .b2 = hp->beta2, .eps = hp->eps};
    if (hp->max_grad_norm > 0.0f) {
        float c = hp->max_grad_norm / (sqrtf(st->grad_sumsq) + 1e-6f);
        if (c < 1.0f) s.clip = c;
    }
    double t = (double)st->opt_step + 1.0;
    double bc1 = 1.0 - pow((double)hp->beta1, t), bc2 = 1.0 - pow((double)hp->beta2, t);
    s.decay = (float)(1.0 - (double)hp->lr * (double)hp->weight_decay);
    s.omb1 = (float)(1.0 - (double)hp->beta1);
    s.omb2 = (float)(1.0 - (double)hp->beta2);
    s.step_size = (float)((double)hp->lr / bc1);
    s.bc2_sqrt = (float)sqrt(bc2);
    return s;
}

wf_status wf_cpu_adamw(wf_backend *be, wf_tensor *p /* (n) */, const wf_tensor *g /* (n) */,
                       wf_tensor *m /* (n) */, wf_tensor *v /* (n) */,
                       wf_tensor *p_lowp /* (n) bf16/f16, optional */, int64_t n_decay,
                       const wf_adamw_hparams *hp, const wf_step_state *st) {
    (void)be;
    WF_TRY(wf_cpu_need_f32("adamw", 4, p, g, m, v));
    if (st->found_inf) return WF_OK;
    const adamw_scalars s = adamw_prepare(hp, st);
    float *pp = p->data, *mp = m->data, *vp = v->data;
    const float *gp = g->data;
    void *lp = p_lowp ? p_lowp->data : NULL;
    const wf_dtype ldt = p_lowp ? p_lowp->dtype : WF_F32;
    const int64_t n = wf_tensor_numel(p);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float gi = gp[i] * s.clip, pi = pp[i], mi = mp[i];
        if (i < n_decay) pi *= s.decay;
        /* torch.lerp(m, g, w), w = 1 - b1: its two forms keep the rounding small either side */
        mi = s.omb1 < 0.5f ? mi + s.omb1 * (gi - mi) : gi - (gi - mi) * (1.0f - s.omb1);
        float vi = vp[i] * s.b2 + s.omb2 * gi * gi;
        pi -= s.step_size * mi / (sqrtf(vi) / s.bc2_sqrt + s.eps);
        pp[i] = pi, mp[i] = mi, vp[i] = vi;
        if (lp) wf_store_f32(lp, ldt, (size_t)i, pi);
    }
    return WF_OK;
}
