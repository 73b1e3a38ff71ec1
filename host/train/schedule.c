/* Learning-rate schedules and early stopping (MATH.md "LR schedules"): linear warmup from 0, then constant, linear
 * decay or cosine decay to min_lr, as transformers' get_*_schedule_with_warmup with a floor. */
#include <math.h>

#include "weft/trainer.h"

double wf_lr_at(const wf_lr_schedule *s, int64_t step) {
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return s->lr * (double)step / (double)s->warmup_steps;
    if (s->kind == WF_SCHED_CONSTANT) return s->lr;
    int64_t span = s->total_steps - s->warmup_steps;
    double progress = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
    if (progress > 1) progress = 1;
    if (s->kind == WF_SCHED_LINEAR) return s->min_lr + (s->lr - s->min_lr) * (1.0 - progress);
    return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(M_PI * progress));
}

bool wf_early_stop_update(wf_early_stop *e, double v) {
    bool better = !isnan(v) && (!e->have_best || (e->maximize ? v > e->best : v < e->best));
    if (better) {
        e->best = v, e->have_best = true, e->bad = 0;
        return false;
    }
    return ++e->bad >= e->patience;
}
