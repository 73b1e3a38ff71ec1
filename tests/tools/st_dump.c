/* st_dump: the C side of tests/interop/test_safetensors.py. Not a user tool.
 *   st_dump read PATH          PATH: a .safetensors file or a model directory (wf_st_model_open);
 *                              prints "meta\tKEY\tVALUE" (single file only), then per tensor by
 *                              name "tensor\tNAME\tDTYPE\tD0,D1,..\tRAW-HEX\tFP32-BITS-HEX,.. or -"
 *   st_dump check PATH         exit 0 and "ok N" if wf_st_open accepts it, 2 and the message if not
 *   st_dump copy IN OUT [--reverse] [KEY=VALUE...]
 *                              rewrites IN with wf_st_write, in IN's order (or reversed), keeping
 *                              IN's metadata and adding KEY=VALUE entries */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/dtype.h"
#include "weft/safetensors.h"

static int fail(void) {
    fprintf(stderr, "st_dump: %s\n", wf_last_error());
    return 1;
}

static void print_tensor(const wf_st_tensor *t) {
    printf("tensor\t%s\t%s\t", t->name, wf_st_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) printf(d ? ",%lld" : "%lld", (long long)t->shape[d]);
    printf("\t");
    for (size_t i = 0; i < t->nbytes; i++) printf("%02x", ((const unsigned char *)t->data)[i]);
    if (t->nbytes == 0) printf("-");
    float *v = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *v);
    if (v && wf_st_read_f32(t, v, t->numel) == WF_OK) {
        printf("\t");
        for (int64_t i = 0; i < t->numel; i++) printf(i ? ",%08x" : "%08x", wf_f32_bits(v[i]));
        if (t->numel == 0) printf("-");
    } else {
        printf("\t-");
    }
    free(v);
    printf("\n");
}

static int cmd_read(const char *path) {
    wf_st_model *m;
    if (wf_st_model_open(path, &m) != WF_OK) return fail();
    if (wf_st_model_file_count(m) == 1) {
        const wf_st_file *f = wf_st_model_file(m, 0);
        for (int64_t i = 0; i < wf_st_metadata_count(f); i++)
            printf("meta\t%s\t%s\n", wf_st_metadata_at(f, i)->key, wf_st_metadata_at(f, i)->value);
    }
    for (int64_t i = 0; i < wf_st_model_count(m); i++) print_tensor(wf_st_model_tensor_at(m, i));
    wf_st_model_close(m);
    return 0;
}

static int cmd_check(const char *path) {
    wf_st_file *f;
    wf_status s = wf_st_open(path, &f);
    if (s != WF_OK) {
        printf("%s: %s\n", wf_status_name(s), wf_last_error());
        return 2;
    }
    printf("ok %lld\n", (long long)wf_st_count(f));
    wf_st_close(f);
    return 0;
}

static int cmd_copy(const char *in, const char *out, int argc, char **argv) {
    wf_st_file *f;
    if (wf_st_open(in, &f) != WF_OK) return fail();
    bool reverse = argc > 0 && strcmp(argv[0], "--reverse") == 0;
    int64_t n = wf_st_count(f), nm = wf_st_metadata_count(f), k = 0;
    wf_st_entry *e = calloc((size_t)n + 1, sizeof *e);
    wf_st_kv *kv = calloc((size_t)(nm + argc) + 1, sizeof *kv);
    if (!e || !kv) return 1;
    for (int64_t i = 0; i < n; i++) {
        const wf_st_tensor *t = wf_st_tensor_at(f, reverse ? n - 1 - i : i);
        e[i] = (wf_st_entry){t->name, t->dtype, t->ndim, t->shape, t->data};
    }
    for (int64_t i = 0; i < nm; i++)
        if (strcmp(wf_st_metadata_at(f, i)->key, "format") != 0) kv[k++] = *wf_st_metadata_at(f, i);
    for (int i = reverse; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) return fprintf(stderr, "st_dump: expected KEY=VALUE, got %s\n", argv[i]), 1;
        *eq = 0;
        kv[k++] = (wf_st_kv){argv[i], eq + 1};
    }
    wf_status s = wf_st_write(out, e, n, kv, k);
    free(e);
    free(kv);
    wf_st_close(f);
    return s == WF_OK ? 0 : fail();
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "read") == 0) return cmd_read(argv[2]);
    if (argc == 3 && strcmp(argv[1], "check") == 0) return cmd_check(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "copy") == 0)
        return cmd_copy(argv[2], argv[3], argc - 4, argv + 4);
    fprintf(stderr,
            "usage: st_dump read PATH | check PATH | copy IN OUT [--reverse] [KEY=VALUE...]\n");
    return 1;
}
