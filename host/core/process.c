/* Process-wide setup (process.h): the OpenMP wait policy, which libgomp reads before main. */
#include "weft/process.h"

#include <stdlib.h>
#include <unistd.h>

void wf_process_setup(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv); /* on failure: carry on with the active policy */
}
