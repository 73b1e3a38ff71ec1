/* `weft eval` and `weft export`: evaluation of a model or a trained run on a config's eval data,
 * and a run's exports (PEFT adapter, merged model). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "weft/run.h"

static int load_config(const char *cmd, const char *path, const char **sets, int nsets, wf_run_config *c) {
    if (wf_run_config_load(path, sets, nsets, c) == WF_OK) return 0;
    fprintf(stderr, "weft %s: %s\n", cmd, wf_last_error());
    return 1;
}

int wf_cmd_eval(int argc, char **argv) {
    const char *cfg = NULL, *weights = NULL, *sets[64];
    int nsets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc && nsets < 64) sets[nsets++] = argv[++i];
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc) weights = argv[++i];
        else if (argv[i][0] != '-' && !cfg) cfg = argv[i];
        else cfg = NULL, i = argc;
    }
    if (!cfg) {
        fprintf(stderr, "usage: weft eval CONFIG.json [--weights RUN_DIR|ADAPTER_DIR] [--set key=value ...]\n"
                        "  evaluates the config's model (with trained weights) on its eval data\n");
        return 2;
    }
    wf_run_config c;
    if (load_config("eval", cfg, sets, nsets, &c)) return 1;
    if (wf_run_evaluate(&c, weights) != WF_OK) {
        fprintf(stderr, "weft eval: %s\n", wf_last_error());
        return 1;
    }
    return 0;
}

int wf_cmd_export(int argc, char **argv) {
    const char *run = NULL, *adapter = NULL, *merged = NULL, *sets[64];
    int nsets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc && nsets < 64) sets[nsets++] = argv[++i];
        else if (!strcmp(argv[i], "--adapter") && i + 1 < argc) adapter = argv[++i];
        else if (!strcmp(argv[i], "--merged") && i + 1 < argc) merged = argv[++i];
        else if (argv[i][0] != '-' && !run) run = argv[i];
        else run = NULL, i = argc;
    }
    if (!run || (!adapter && !merged)) {
        fprintf(stderr, "usage: weft export RUN_DIR [--adapter OUT_DIR] [--merged OUT_DIR] [--set key=value ...]\n"
                        "  writes a run's trained weights (newest checkpoint, else its adapter/) as a\n"
                        "  PEFT adapter and/or a merged model that transformers loads\n");
        return 2;
    }
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", run);
    wf_run_config c;
    if (load_config("export", cfg, sets, nsets, &c)) return 1;
    if (wf_run_export_dirs(&c, run, adapter, merged) != WF_OK) {
        fprintf(stderr, "weft export: %s\n", wf_last_error());
        return 1;
    }
    if (adapter) printf("adapter: %s\n", adapter);
    if (merged) printf("merged model: %s\n", merged);
    return 0;
}
