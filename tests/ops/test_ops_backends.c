/* Every op case on every non-CPU backend (in each float dtype the op lists) against the CPU
 * computing in fp32 on the same rounded inputs. Exit 77 (skip) when no such backend has a
 * device. Usage: test_ops_backends [--dtypes=f32,bf16,f16] [--skip=OP] [OP ...]. Ops a
 * backend does not implement are listed as skipped; any mismatch, NaN or guard-byte damage
 * fails (exit 1). */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#if defined(WF_CUDA_EMU)
#include "weft/cuda_emu.h"
#endif

static bool selected(const tc_case *c, int argc, char **argv) {
    bool any = false;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--skip=", 7) == 0 && strcmp(argv[i] + 7, c->op->name) == 0)
            return false;
        if (strncmp(argv[i], "--", 2) == 0) continue;
        any = true;
        if (strcmp(argv[i], c->op->name) == 0) return true;
    }
    return !any;
}

/* --dtypes=bf16,f16 limits the dtypes (the CUDA emulator's suite uses it to keep time). */
static bool dtype_selected(wf_dtype dt, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--dtypes=", 9) != 0) continue;
        const char *name = wf_dtype_name(dt);
        size_t n = strlen(name);
        for (const char *p = argv[i] + 9; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
            if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == 0)) return true;
        return false;
    }
    return true;
}

int main(int argc, char **argv) {
    const char *names[] = {"cuda"};
    wf_backend *cpu = NULL;
    if (wf_backend_open("cpu", NULL, &cpu) != WF_OK) {
        fprintf(stderr, "cannot open the cpu backend: %s\n", wf_last_error());
        return 1;
    }
    int tested = 0, failed = 0;
    for (size_t b = 0; b < sizeof names / sizeof names[0]; b++) {
        if (!wf_backend_available(names[b])) continue;
        wf_backend *be = NULL;
        if (wf_backend_open(names[b], NULL, &be) != WF_OK) {
            fprintf(stderr, "FAIL cannot open backend %s: %s\n", names[b], wf_last_error());
            failed++;
            continue;
        }
        tested++;
        printf("backend %s: %s\n", be->name, be->device_name);
        tc_stats st = {0};
        for (int i = 0; i < tc_ncases; i++) {
            const tc_case *c = &tc_cases[i];
            if (!(c->flags & TC_TEST) || !selected(c, argc, argv)) continue;
            for (wf_dtype dt = WF_F32; dt <= WF_F16; dt++) {
                if (!(c->op->dtypes & (1u << dt)) || !dtype_selected(dt, argc, argv)) continue;
                int f0 = st.failed;
                tc_check_backend(be, cpu, c, dt, &st);
                printf("%-4s %-18s %-5s %s\n", st.failed > f0 ? "FAIL" : "ok", c->op->name,
                       wf_dtype_name(dt), c->label);
            }
        }
        printf("%s vs cpu: %d checks, %d failed, %d skipped (not implemented)\n", be->name,
               st.checks, st.failed, st.skipped);
        failed += st.failed;
#if defined(WF_CUDA_EMU)
        wf_cuda_emu_counters ec = wf_cuda_emu_counters_get();
        printf("cuda is the CPU emulator (never a GPU run): %lld launches, %lld GEMMs, deepest "
               "fiber stack %zu KiB\n", ec.launches, ec.gemms, ec.stack_peak >> 10);
#endif
        wf_backend_close(be);
    }
    wf_backend_close(cpu);
    if (!tested) {
        printf("no GPU backend with a device: skipped\n");
        return failed ? 1 : 77;
    }
    return failed ? 1 : 0;
}
