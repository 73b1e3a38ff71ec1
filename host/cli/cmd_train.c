/* `weft train CONFIG [--set key=value ...] [--resume RUN_DIR] [--dry-run]`: a fine-tuning run
 * from a JSON config (configs/README.md documents every key). Exit codes: 0 done, 1 error (the
 * message names the file, key or line), 2 usage, 130 stopped by a signal (a checkpoint was
 * written; --resume continues it). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "weft/run.h"

static int usage(FILE *f) {
    fprintf(f, "usage: weft train CONFIG.json [--set key=value ...] [--resume RUN_DIR] [--dry-run]\n"
               "  --set key=value  override a config key (e.g. --set train.lr=1e-4); repeatable\n"
               "  --resume DIR     continue the run in DIR from its newest checkpoint\n"
               "  --dry-run        print the memory plan and exit\n"
               "Config keys: configs/README.md\n");
    return f == stderr ? 2 : 0;
}

int wf_cmd_train(int argc, char **argv) {
    const char *cfg_path = NULL, *sets[64];
    int nsets = 0;
    wf_run_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--dry-run")) o.dry_run = true;
        else if (!strcmp(a, "--set") && i + 1 < argc && nsets < 64) sets[nsets++] = argv[++i];
        else if (!strcmp(a, "--resume") && i + 1 < argc) o.resume = argv[++i];
        else if (a[0] != '-' && !cfg_path) cfg_path = a;
        else {
            fprintf(stderr, "weft train: unexpected argument '%s'\n", a);
            return usage(stderr);
        }
    }
    if (!cfg_path && !o.resume) return usage(stderr);
    char resumed_cfg[4200];
    if (!cfg_path) { /* resume with the run's own resolved config */
        snprintf(resumed_cfg, sizeof resumed_cfg, "%s/config.json", o.resume);
        cfg_path = resumed_cfg;
    }
    wf_run_config cfg;
    if (wf_run_config_load(cfg_path, sets, nsets, &cfg) != WF_OK) {
        fprintf(stderr, "weft train: %s\n", wf_last_error());
        return 1;
    }
    bool interrupted = false;
    if (wf_run_train(&cfg, &o, &interrupted) != WF_OK) {
        fprintf(stderr, "weft train: %s\n", wf_last_error());
        return 1;
    }
    return interrupted ? 130 : 0;
}
