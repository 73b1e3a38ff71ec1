/* Process-wide setup for weft's executables. */
#ifndef WEFT_PROCESS_H
#define WEFT_PROCESS_H

/* OpenMP threads that finish an op spin, waiting for the next one (libgomp's default "active"
 * policy); between ops weft runs OpenBLAS and host code, so spinning threads steal the cores
 * those need: measured on a loaded 2-core machine, a SmolLM2 LoRA step ran 3x faster with the
 * passive policy. libgomp reads OMP_WAIT_POLICY once, before main, so when it is unset this
 * sets it to PASSIVE and re-executes the program (same arguments); a user's own setting wins.
 * Returns only if no re-execution happened. */
void wf_process_setup(char **argv);

#endif
