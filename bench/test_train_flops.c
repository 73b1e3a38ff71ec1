/* The benchmark shapes and the FLOP count behind bench_train's MFU (train_flops.h): the shapes
 * in bench/shapes/ parse to the parameter counts transformers reports for those models, and the
 * per-token FLOPs match a hand count. Not here: timing (bench_train's CPU smoke run).
 *   test_train_flops SHAPES_DIR */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train_flops.h"
#include "weft/model.h"

static int failures;

static void check(const char *what, double got, double want) {
    /* exact integers below 2^53, computed in double by both sides */
    if (got != want) {
        fprintf(stderr, "FAIL %s: got %.17g, expected %.17g\n", what, got, want);
        failures++;
    }
}

/* Plans the shape (no weights) and returns its architecture and total parameters. */
static int plan(const char *dir, const char *shape, wf_model *m) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/config.json", dir, shape);
    memset(m, 0, sizeof *m);
    if (wf_arch_from_hf_config(path, &m->arch) != WF_OK || wf_model_plan(m) != WF_OK) {
        fprintf(stderr, "FAIL %s: %s\n", shape, wf_last_error());
        failures++;
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: test_train_flops SHAPES_DIR\n"), 1;
    wf_model m;
    /* Llama-3.2-1B: 1,235,814,400 parameters (the tied head counted once, as
     * model.num_parameters() does); matmul weights: 16 x (2 x 2048^2 + 2 x 512 x 2048 +
     * 3 x 2048 x 8192) + 128256 x 2048 */
    if (!plan(argv[1], "llama-3.2-1b", &m)) {
        wf_param_counts c = wf_model_param_counts(&m);
        check("llama-3.2-1b parameters", (double)c.total, 1235814400.0);
        wf_bench_flops f = wf_bench_flops_per_token(&m.arch, true, 0, 2048);
        double n = 16.0 * (2 * 2048.0 * 2048 + 2 * 512.0 * 2048 + 3 * 2048.0 * 8192) + 128256.0 * 2048;
        check("llama-3.2-1b matmul params", (double)f.n_matmul, n);
        /* causal attention: 12 L H D T/2 = 12 x 16 x 2048 x 1024 */
        check("llama-3.2-1b attention", f.attention, 12.0 * 16 * 2048 * 1024);
        check("llama-3.2-1b full", f.per_token, 6 * n + 12.0 * 16 * 2048 * 1024);
        /* LoRA r 16 on the 7 block linears: r (in + out) each */
        double ad = 16.0 * 16 * ((2048 + 2048) * 2 + (2048 + 512) * 2 + (2048 + 8192) * 3);
        wf_bench_flops g = wf_bench_flops_per_token(&m.arch, false, (int64_t)ad, 2048);
        check("llama-3.2-1b lora", g.per_token, 4 * n + 6 * ad + 12.0 * 16 * 2048 * 1024);
        wf_model_free(&m);
    }
    /* GPT-2: 124,439,808 parameters; matmul weights 12 x (4 x 768^2 + 2 x 768 x 3072) + 50257 x 768 */
    if (!plan(argv[1], "gpt2-124m", &m)) {
        wf_param_counts c = wf_model_param_counts(&m);
        check("gpt2 parameters", (double)c.total, 124439808.0);
        wf_bench_flops f = wf_bench_flops_per_token(&m.arch, true, 0, 1024);
        double n = 12.0 * (4 * 768.0 * 768 + 2 * 768.0 * 3072) + 50257.0 * 768;
        check("gpt2 full", f.per_token, 6 * n + 12.0 * 12 * 768 * 512);
        wf_model_free(&m);
    }
    if (failures) return 1;
    printf("ok: shapes and FLOP counts\n");
    return 0;
}
