/* The op profiler: where a step's time goes, op by op (the rows of ops.h's table).
 *
 * While a profiler is attached to a backend and enabled, every wf_op_* call records a timed event
 * before and after the backend's entry runs (host/ops/check.h WF_DISPATCH): on CUDA the time
 * between them on the device's stream, on the CPU the host clock around the call (CPU ops are
 * done when they return). An op that waits on the host (a launch-bound run) shows the wait in its
 * time: the sum over ops is the device time the ops kept, not their kernels' time alone.
 * Pending pairs are read when collected (a wait for the last one) or when the pool of pairs is
 * full; collect at points where the host waits anyway (after a step's read-back) so the profile
 * adds no syncs to the steps it measures. What it costs: two event records an op (CUDA: about a
 * microsecond each on the host), nothing when no profiler is attached. Not thread-safe: one
 * profiler per backend, used by the thread that runs that backend's ops (each CPU rank has its
 * own backend). Copies, communication and host work are not ops: they are the wall time the
 * rows do not cover. */
#ifndef WEFT_PROFILE_H
#define WEFT_PROFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/backend.h"

typedef struct wf_profile wf_profile;

typedef struct wf_profile_row {
    const char *op; /* the op table entry, e.g. "linear_fwd" */
    int64_t calls;
    double ms;      /* summed over calls */
} wf_profile_row;

/* Attaches a profiler to be, enabled; fails when one is attached or the events cannot be made. */
wf_status wf_profile_attach(wf_backend *be);
/* Detaches and frees it (pending pairs are dropped); nothing when none is attached. */
void wf_profile_detach(wf_backend *be);
/* Pauses (false) or resumes (true) recording; an attached profiler starts enabled. */
void wf_profile_enable(wf_backend *be, bool on);
/* Waits for every pending pair and adds its time to its op's row. */
wf_status wf_profile_collect(wf_backend *be);
/* Forgets the rows and pending pairs (e.g. after warm-up steps). */
void wf_profile_clear(wf_backend *be);
/* The rows collected so far, most time first (ties by name); at most cap; returns how many. */
int wf_profile_rows(const wf_backend *be, wf_profile_row *out, int cap);
/* Collects, then writes a markdown table of the rows (op, calls, total ms, share of the op
 * time, mean us a call) and a line relating the op time to wall_ms (the caller's wall time of
 * the profiled interval; <= 0: no such line). */
wf_status wf_profile_write(wf_backend *be, FILE *f, double wall_ms);

/* The hooks WF_DISPATCH calls around a backend entry (nested calls are timed once, outermost).
 * op_end returns s, or the profiler's recording error when s is WF_OK. */
void wf_profile_op_begin(wf_backend *be);
wf_status wf_profile_op_end(wf_backend *be, const char *op, wf_status s);

#endif
