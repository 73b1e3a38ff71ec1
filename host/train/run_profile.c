/* output.profile_steps: the op profiler (profile.h) over a few optimizer steps of `weft train`,
 * written to <run dir>/profile.md and printed. Rank 0 only (its own ops; the others run the same
 * ones). Evaluations, checkpoints and the steps outside the window are not profiled. The step
 * ends with its read-back, so collecting after it adds no wait. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "outdir.h"
#include "run_internal.h"
#include "weft/profile.h"

wf_status wf_run_profile_begin(wf_run *r) {
    int64_t n = r->cfg->output.profile_steps, left = r->total_steps - r->step;
    r->prof.first = r->prof.end = r->step;
    if (n <= 0 || r->comm->rank != 0 || left <= 0) return WF_OK;
    r->prof.first = r->step + (left > 1); /* the first step pays one-time costs */
    r->prof.end = r->prof.first + n < r->total_steps ? r->prof.first + n : r->total_steps;
    WF_TRY(wf_profile_attach(r->be));
    wf_profile_enable(r->be, false);
    return WF_OK;
}

static bool in_window(const wf_run *r) {
    return r->be->profile && r->step >= r->prof.first && r->step < r->prof.end;
}

void wf_run_profile_step_start(wf_run *r) {
    if (in_window(r)) wf_profile_enable(r->be, true);
}

static wf_status write_profile(wf_run *r) {
    r->prof.written = true;
    char path[WF_PATH_MAX], tmp[WF_PATH_MAX + 8];
    WF_TRY(wf_path_join(path, r->dir, "profile.md"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const wf_run_config *c = r->cfg;
    FILE *f = fopen(tmp, "w");
    if (!f) return wf_error(WF_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    fprintf(f, "# Op profile: steps %lld-%lld of %s\n\nbackend %s (%s), model dtype %s, %lld x %lld "
            "tokens a micro-batch, %lld micro-batch(es) a step; wall time: the profiled steps'.\n\n",
            (long long)r->prof.first + 1, (long long)(r->prof.first + r->prof.steps), c->model.path,
            r->be->name, r->be->device_name, wf_dtype_name(r->dtype), (long long)r->tr.B,
            (long long)r->tr.T, (long long)c->train.grad_accum);
    wf_status s = wf_profile_write(r->be, f, 1e3 * r->prof.secs);
    if (s == WF_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        s = wf_error(WF_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && s == WF_OK) s = wf_error(WF_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (s == WF_OK && rename(tmp, path) != 0)
        s = wf_error(WF_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (s != WF_OK) {
        unlink(tmp);
        return s;
    }
    fprintf(stderr, "op profile of %lld step(s) (%s):\n", (long long)r->prof.steps, path);
    WF_TRY(wf_profile_write(r->be, stderr, 1e3 * r->prof.secs));
    wf_profile_detach(r->be);
    return WF_OK;
}

wf_status wf_run_profile_step_end(wf_run *r, double secs) {
    if (!r->be->profile || r->prof.written || r->step - 1 < r->prof.first) return WF_OK;
    wf_profile_enable(r->be, false);
    WF_TRY(wf_profile_collect(r->be));
    r->prof.steps++, r->prof.secs += secs;
    return r->step >= r->prof.end ? write_profile(r) : WF_OK;
}

wf_status wf_run_profile_finish(wf_run *r) {
    if (!r->be->profile || r->prof.written || r->prof.steps == 0) return WF_OK;
    return write_profile(r);
}
