/* tb_write: writes a TensorBoard event file through wf_tb_* into DIR: scalars loss, lr and
 * grad_norm for steps 1..20 and two text entries, and prints on stdout, one JSON object per line,
 * what it wrote ({"tag","step","value"} with the float32 value, or {"tag","step","text"}) and
 * finally {"file": PATH}. tests/interop/test_tensorboard.py reads DIR with TensorBoard's own
 * reader and compares. Usage: tb_write DIR */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weft/run_log.h"

static int die(void) {
    fprintf(stderr, "tb_write: %s\n", wf_last_error());
    return 1;
}

/* JSON string body: the texts below hold quotes, newlines and UTF-8 but no other controls. */
static void put_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if (*s == '\n') printf("\\n");
        else putchar(*s);
    }
    putchar('"');
}

static int text(wf_tb *tb, const char *tag, int64_t step, const char *t) {
    if (wf_tb_text(tb, tag, step, t) != WF_OK) return die();
    printf("{\"tag\":\"%s\",\"step\":%lld,\"text\":", tag, (long long)step);
    put_json_string(t);
    printf("}\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: tb_write DIR\n");
        return 2;
    }
    wf_tb *tb = NULL;
    if (wf_tb_open(argv[1], &tb) != WF_OK) return die();
    if (text(tb, "config", 0, "# run\n\n| key | value |\n|---|---|\n| train.lr | `2e-4` |\n\n"
                              "\"quoted\", ünïcödé ✓"))
        return 1;
    const char *tags[] = {"train/loss", "train/lr", "train/grad_norm"};
    for (int64_t step = 1; step <= 20; step++) {
        double v[3] = {3.0 * exp(-0.15 * (double)step) + 0.01 * (double)step,
                       2e-4 * fmin(1.0, (double)step / 5.0), 1.0 + 0.5 * sin((double)step)};
        for (int i = 0; i < 3; i++) {
            if (wf_tb_scalar(tb, tags[i], step, v[i]) != WF_OK) return die();
            printf("{\"tag\":\"%s\",\"step\":%lld,\"value\":%.9g}\n", tags[i], (long long)step,
                   (double)(float)v[i]);
        }
        if (step == 10 && wf_tb_flush(tb) != WF_OK) return die();
    }
    if (text(tb, "notes", 20, "done")) return 1;
    printf("{\"file\":");
    put_json_string(wf_tb_path(tb));
    printf("}\n");
    if (wf_tb_close(tb) != WF_OK) return die();
    return 0;
}
