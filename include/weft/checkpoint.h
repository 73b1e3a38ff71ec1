/* Training checkpoints (DESIGN.md "Files a run writes"): <root>/step-N/ holds
 *   trainable.safetensors  the flat fp32 master weights, AdamW m and v as F32 tensors "p", "m",
 *                          "v" (total) and, in its metadata, the parameter table (name, offset,
 *                          shape of every trainable tensor);
 *   state.json             format version, step, the step state (loss scale, optimizer step, ...),
 *                          the parameter names and element total, and the trainer's bytes' size
 *                          and checksum;
 *   trainer_state.bin      the trainer's own serialized state (RNG seed, data cursor, schedule
 *                          position, early stopping), opaque here.
 * A checkpoint is built in step-N.tmp.<pid>/, fsynced and renamed into place, so a crash at any
 * point leaves the previous checkpoints complete; loading the root picks the newest complete
 * one. Frozen weights are not saved: they come from the base model. */
#ifndef WEFT_CHECKPOINT_H
#define WEFT_CHECKPOINT_H

#include "weft/trainable.h"

#define WF_CHECKPOINT_VERSION 1

/* Saves <root>/step-<step>/ (replacing one of the same step) and then removes the oldest
 * step-* directories beyond keep_last (<= 0: keep all; never the one just saved), and the
 * temporaries that crashed saves left (their process no longer exists).
 * state_host is the step state copied to the host; extra (extra_len bytes, may be NULL when 0)
 * is stored as given. */
wf_status wf_checkpoint_save(const char *root, int64_t step, const wf_model *m,
                             const wf_trainable *t, const wf_step_state *state_host,
                             const void *extra, size_t extra_len, int keep_last);
/* The same for a trainable set that holds a shard of the AdamW moments (ZeRO-1): host_m and
 * host_v (total) are the whole moments gathered on the host (NULL, NULL: t's own, which must
 * then be whole). The file is the same as a single-rank checkpoint's. */
wf_status wf_checkpoint_save_gathered(const char *root, int64_t step, const wf_model *m,
                                      const wf_trainable *t, const float *host_m,
                                      const float *host_v, const wf_step_state *state_host,
                                      const void *extra, size_t extra_len, int keep_last);

/* Restores a checkpoint into t: `path` is a step directory, or a root whose newest complete
 * step-N is taken. Checks, before changing anything, that the checkpoint was made for the same
 * trainable set (parameter names, shapes, offsets and total); a mismatch is an error naming the
 * checkpoint file and the first differing parameter. Restores p (and the model's low-precision
 * copy, as wf_trainable_set does), m and v bit for bit (only t's shard of them, [opt_off,
 * opt_off + opt_n), under ZeRO-1). Outputs may be NULL; *extra is malloc'ed
 * (NULL when the checkpoint has no trainer bytes) and the caller frees it. */
wf_status wf_checkpoint_load(const char *path, const wf_model *m, wf_trainable *t,
                             wf_step_state *state_host, void **extra, size_t *extra_len,
                             int64_t *step);

/* The newest complete checkpoint under root: its directory (cap bytes) and step. WF_ERR_IO
 * naming root when there is none. */
wf_status wf_checkpoint_latest(const char *root, char *dir, size_t cap, int64_t *step);

/* Fault injection, for the tests that prove a failed or interrupted save loses nothing: before
 * each stage of a save ("trainable", "extra", "state", "commit", "prune") the hook is called;
 * returning true makes that stage fail as an I/O error would. A hook may also end the process
 * there (_exit) to simulate a crash. NULL removes it. Not thread-safe; tests only. */
typedef bool (*wf_checkpoint_fault_fn)(const char *stage, void *ctx);
void wf_checkpoint_set_fault(wf_checkpoint_fault_fn fn, void *ctx);

#endif
