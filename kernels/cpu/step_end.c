/* End of an optimizer step on the CPU (contract: ops.h step_end; MATH.md "Optimiser and
 * scaling"): records the step's gradient norm and whether it was skipped, advances the step
 * counters, and updates the dynamic loss scale as torch.amp.GradScaler does
 * (aten/src/ATen/native/cuda/AmpKernels.cu, _amp_update_scale_): backoff on a non-finite
 * gradient, growth after `interval` clean steps in a row, and a growth that would overflow
 * the scale to inf is not applied. */
#include <math.h>

#include "cpu_ops.h"

wf_status wf_cpu_step_end(wf_backend *be, wf_step_state *st, const wf_scaler_hparams *sh) {
    (void)be;
    st->last_grad_norm = sqrtf(st->grad_sumsq);
    st->last_skipped = st->found_inf != 0;
    if (st->found_inf) {
        st->skipped_steps++;
        if (sh->dynamic) {
            st->loss_scale *= sh->backoff;
            st->growth_tracker = 0;
        }
    } else {
        st->opt_step++;
        if (sh->dynamic && ++st->growth_tracker >= sh->interval) {
            float grown = st->loss_scale * sh->growth;
            if (isfinite(grown)) st->loss_scale = grown;
            st->growth_tracker = 0;
        }
    }
    st->grad_sumsq = 0.0f;
    st->found_inf = 0;
    return WF_OK;
}
