/* The weft command line: `weft COMMAND [ARGS]`. Each command lives in its own cmd_<name>.c.
 * Exit codes: 0 success, 1 failure (the message names what failed), 2 usage errors. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "weft/process.h"

static const struct {
    const char *name, *summary;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"train", "CONFIG  fine-tune a model (full, LoRA, freezing) as the JSON config says", wf_cmd_train},
    {"eval", "CONFIG  evaluate a model or a trained run on the config's eval data", wf_cmd_eval},
    {"export", "RUN_DIR  write a run as a PEFT adapter and/or a merged model", wf_cmd_export},
    {"generate", "MODEL  text from a causal LM (greedy or sampled, KV cache, chat template)", wf_cmd_generate},
    {"compare", "CONFIG  one task under several methods: parameters, memory, speed, quality", wf_cmd_compare},
    {"inspect", "MODEL  family, sizes, parameter counts, dtype and memory of a model", wf_cmd_inspect},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: weft COMMAND [ARGS]\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`weft COMMAND --help` describes one command.\n");
}

int main(int argc, char **argv) {
    wf_process_setup(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "weft: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
