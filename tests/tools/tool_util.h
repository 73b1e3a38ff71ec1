/* Helpers shared by the test tools (tests/tools/): reading raw input files, reporting a
 * failed weft call, and parsing "--lora R ALPHA T1,T2,..." into a PEFT spec. */
#ifndef WEFT_TESTS_TOOLS_UTIL_H
#define WEFT_TESTS_TOOLS_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/trainable.h"

/* `want` bytes of `path` (malloc'd); exits 1 when the file is shorter or unreadable. */
static inline void *tool_slurp(const char *tool, const char *path, size_t want) {
    FILE *f = fopen(path, "rb");
    void *p = malloc(want + 1);
    if (!f || !p || fread(p, 1, want, f) != want) {
        fprintf(stderr, "%s: cannot read %zu bytes from %s\n", tool, want, path);
        exit(1);
    }
    fclose(f);
    return p;
}

static inline int tool_fail(const char *tool, const char *what) {
    fprintf(stderr, "%s: %s: %s\n", tool, what, wf_last_error());
    return 1;
}

/* Turns method x on: the primary method while that is still full (the tools' default), else an
 * extra (trainable.h composition), so options combine. */
static inline void tool_use_method(wf_peft_spec *sp, wf_method x) {
    if (sp->method == WF_METHOD_FULL || sp->method == x) sp->method = x;
    else sp->extras |= WF_METHOD_BIT(x);
}

/* argv[0] = r, argv[1] = alpha, argv[2] = comma-separated target modules. */
static inline void tool_parse_lora(wf_peft_spec *sp, char **argv) {
    tool_use_method(sp, WF_METHOD_LORA);
    sp->lora_r = atoi(argv[0]), sp->lora_alpha = (float)atof(argv[1]);
    sp->n_targets = 0;
    char *list = strdup(argv[2]);
    for (char *t = strtok(list, ","); t && sp->n_targets < WF_MAX_TARGETS; t = strtok(NULL, ","))
        snprintf(sp->targets[sp->n_targets++], sizeof sp->targets[0], "%s", t);
    free(list);
}

/* --ia3 TARGETS FF: comma lists, "auto" = PEFT's default for the model type, "none" = no
 * feed-forward module. */
static inline void tool_parse_ia3(wf_peft_spec *sp, char **argv) {
    tool_use_method(sp, WF_METHOD_IA3);
    sp->n_ia3_targets = sp->n_ia3_ff = 0;
    sp->ia3_ff_auto = strcmp(argv[1], "auto") == 0;
    for (int k = 0; k < 2; k++) {
        if (!strcmp(argv[k], "auto") || !strcmp(argv[k], "none")) continue;
        char *list = strdup(argv[k]);
        for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
            if (k == 0 && sp->n_ia3_targets < WF_MAX_TARGETS)
                snprintf(sp->ia3_targets[sp->n_ia3_targets++], sizeof sp->ia3_targets[0], "%s", t);
            if (k == 1 && sp->n_ia3_ff < WF_MAX_TARGETS)
                snprintf(sp->ia3_ff[sp->n_ia3_ff++], sizeof sp->ia3_ff[0], "%s", t);
        }
        free(list);
    }
}

#endif
