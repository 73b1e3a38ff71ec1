/* `weft compare`: one task under several fine-tuning methods with the same data and budget.
 * A compare config names a base run config and a list of variants, each a list of `--set`
 * style overrides of it (the methods are data, so any method.type the schema knows can be a
 * variant); every variant runs in its own child process (so its peak RSS is its own) into
 * <out>/<variant>/, and <out>/compare.{json,md,svg} tabulate trainable parameters, memory,
 * throughput, wall time, task quality before/after, and the change of the loss on a held-out
 * general text (catastrophic forgetting). Keys: configs/README.md "weft compare". */
#ifndef WEFT_COMPARE_H
#define WEFT_COMPARE_H

#include "weft/status.h"

/* Runs every variant of the compare config at `path`; sets (each "a.b=v") apply to every
 * variant after the config's own overrides. Errors name the file and key, or the variant. A
 * failed variant is reported in the outputs and makes the call return an error after the
 * others ran. */
wf_status wf_compare_run(const char *path, const char *const *sets, int nsets);

#endif
