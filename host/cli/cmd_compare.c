/* `weft compare CONFIG [--set key=value ...]`: one task under several fine-tuning methods
 * (compare.h); writes <output>/compare.{md,json,svg} and one run folder per variant. Exit
 * codes: 0 done, 1 error or a failed variant, 2 usage. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "weft/compare.h"

static int usage(FILE *f) {
    fprintf(f, "usage: weft compare CONFIG.json [--set key=value ...]\n"
               "  CONFIG.json      {\"base\": RUN_CONFIG, \"set\": [...], \"variants\": [{\"name\": ..., "
               "\"set\": [...]}, ...],\n"
               "                   \"general_text\": FILE, \"general_max_batches\": N}\n"
               "  --set key=value  override a run-config key in every variant; repeatable\n"
               "Keys: configs/README.md \"weft compare\"\n");
    return f == stderr ? 2 : 0;
}

int wf_cmd_compare(int argc, char **argv) {
    const char *cfg = NULL, *sets[32];
    int nsets = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout);
        if (!strcmp(a, "--set") && i + 1 < argc) {
            if (nsets == 32) return fprintf(stderr, "weft compare: more than 32 --set overrides\n"), 2;
            sets[nsets++] = argv[++i];
        } else if (a[0] != '-' && !cfg) cfg = a;
        else {
            fprintf(stderr, "weft compare: unexpected argument '%s'\n", a);
            return usage(stderr);
        }
    }
    if (!cfg) return usage(stderr);
    if (wf_compare_run(cfg, sets, nsets) != WF_OK) {
        fprintf(stderr, "weft compare: %s\n", wf_last_error());
        return 1;
    }
    return 0;
}
