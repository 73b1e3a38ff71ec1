/* Every op case on the CPU: forward against the float64 reference, backward against finite
 * differences of it, and bit-identical results with 1 and 3 threads. Usage: test_ops_cpu [OP ...] (only those ops). Exit 0 pass, 1 fail. */
#include <stdio.h>
#include <string.h>

#include "harness.h"

static bool selected(const tc_case *c, int argc, char **argv) {
    if (argc < 2) return true;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], c->op->name) == 0) return true;
    return false;
}

int main(int argc, char **argv) {
    wf_backend *cpu = NULL;
    if (wf_backend_open("cpu", NULL, &cpu) != WF_OK) {
        fprintf(stderr, "cannot open the cpu backend: %s\n", wf_last_error());
        return 1;
    }
    tc_stats ref = {0}, grad = {0}, thr = {0};
    for (int i = 0; i < tc_ncases; i++) {
        const tc_case *c = &tc_cases[i];
        if (!(c->flags & TC_TEST) || !selected(c, argc, argv)) continue;
        int f0 = ref.failed + grad.failed + thr.failed;
        tc_check_cpu_ref(cpu, c, &ref);
        tc_check_cpu_grad(cpu, c, &grad);
        tc_check_cpu_threads(cpu, c, &thr);
        printf("%-4s %-18s %s\n", ref.failed + grad.failed + thr.failed > f0 ? "FAIL" : "ok",
               c->op->name, c->label);
    }
    wf_backend_close(cpu);
    printf("cpu vs f64 reference: %d checks, %d failed; backward vs finite differences: %d checks, "
           "%d failed; 1 vs 3 threads bit-identical: %d checks, %d failed\n", ref.checks,
           ref.failed, grad.checks, grad.failed, thr.checks, thr.failed);
    return ref.failed + grad.failed + thr.failed ? 1 : 0;
}
