/* OpenBLAS kernel selection, once, when the CPU backend opens. A DYNAMIC_ARCH OpenBLAS (Debian's)
 * picks its kernels by CPUID family/model; a model newer than the library falls back to its
 * "Prescott" kernels (SSE3). Debian bookworm's 0.3.21 does that on family 6 model 207 (Emerald
 * Rapids), where it measured 12.7 GFLOP/s for a single-thread 1024^3 SGEMM against 62.2 with its
 * SkylakeX (AVX-512) kernels, and where the Prescott kernels' results change with the thread count
 * (test_ops_cpu: "1 vs 3 threads bit-identical"). So when the library reports Prescott on a CPU
 * with AVX-512F (SkylakeX kernels) or AVX2 + FMA (Haswell kernels), and OPENBLAS_CORETYPE is not
 * set (the user's choice always wins), the kernels are chosen again through the library's own
 * dynamic-arch entry points with OPENBLAS_CORETYPE set, as if the user had set it before the run.
 * Those entry points are exported by DYNAMIC_ARCH builds only: they are weak references here, so
 * another BLAS links and is left alone. Not here: the GEMM wrapper (matmul.c). */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"

/* OpenBLAS driver/others/dynamic.c; not in its headers. */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

static char g_note[256];

static void choose(void) {
    const char *core = openblas_get_corename();
    if (!core || strcmp(core, "Prescott") != 0 || getenv("OPENBLAS_CORETYPE")) return;
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
    __builtin_cpu_init();
    const char *want = __builtin_cpu_supports("avx512f")                                 ? "SkylakeX"
                       : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "Haswell"
                                                                                          : NULL;
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1); /* read by gotoblas_dynamic_init */
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    const char *now = openblas_get_corename();
    snprintf(g_note, sizeof g_note, "OpenBLAS did not recognize this CPU and chose its Prescott (SSE3) "
             "kernels; switched to %s (OPENBLAS_CORETYPE overrides)", now ? now : "?");
    fprintf(stderr, "cpu: %s\n", g_note);
}

const char *wf_cpu_blas_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, choose);
    return g_note[0] ? g_note : NULL;
}
