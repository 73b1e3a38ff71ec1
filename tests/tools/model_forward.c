/* Test tool: loads a model directory and runs one forward pass on raw binary inputs, writing
 * the head's output as raw little-endian fp32, for the interop tests (tests/interop/).
 *   model_forward DIR B T --out FILE [--ids FILE] [--mask FILE] [--types FILE] [--docs FILE]
 *                 [--pixels FILE] [--backend cpu|cuda]
 * Inputs: int32 (B, T) files; pixels fp32 (B, ch, H, W). Output: LM logits (B*T, V), sequence /
 * image head outputs (B, n_labels), or the hidden states (B*T, C) of a bare model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/graph.h"

static void *read_file(const char *path, size_t want) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "model_forward: cannot open %s\n", path);
        exit(1);
    }
    void *p = malloc(want ? want : 1);
    size_t got = fread(p, 1, want, f);
    fclose(f);
    if (got != want) {
        fprintf(stderr, "model_forward: %s has %zu bytes, expected %zu\n", path, got, want);
        exit(1);
    }
    return p;
}

static int fail(const char *what) {
    fprintf(stderr, "model_forward: %s: %s\n", what, wf_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: model_forward DIR B T --out FILE [--ids F] [--mask F] [--types F] "
                        "[--docs F] [--pixels F] [--backend cpu|cuda]\n");
        return 2;
    }
    const char *dir = argv[1], *out = NULL, *backend = "cpu", *files[5] = {0};
    const char *flags[5] = {"--ids", "--mask", "--types", "--docs", "--pixels"};
    int64_t B = atoll(argv[2]), T = atoll(argv[3]);
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--out") == 0) out = argv[i + 1];
        else if (strcmp(argv[i], "--backend") == 0) backend = argv[i + 1];
        for (int k = 0; k < 5; k++)
            if (strcmp(argv[i], flags[k]) == 0) files[k] = argv[i + 1];
    }
    if (!out) return fail("--out is required");
    wf_backend *be = NULL;
    if (wf_backend_open(backend, NULL, &be) != WF_OK) return fail("backend");
    wf_model m;
    if (wf_model_load(dir, be, WF_F32, &m) != WF_OK) return fail("load");
    size_t bt = (size_t)(B * T) * 4;
    wf_batch_host h = {.B = B, .T = T};
    h.ids = files[0] ? read_file(files[0], bt) : NULL;
    h.mask = files[1] ? read_file(files[1], bt) : NULL;
    h.types = files[2] ? read_file(files[2], bt) : NULL;
    h.doc_ids = files[3] ? read_file(files[3], bt) : NULL;
    if (files[4]) {
        const wf_arch *a = &m.arch;
        h.pixels = read_file(files[4], (size_t)(B * a->channels * a->image_size * a->image_size) * 4);
    }
    wf_arena batch_arena;
    wf_batch b;
    wf_acts acts;
    if (wf_backend_arena_create(be, &batch_arena, "batch", wf_batch_bytes(&m, B, T)) != WF_OK ||
        wf_batch_upload(&m, &h, &batch_arena, &b) != WF_OK)
        return fail("batch");
    if (wf_acts_create(&m, B, T, WF_ACTS_LOGITS, &acts) != WF_OK) return fail("activations");
    if (wf_graph_forward(&m, &b, &acts) != WF_OK) return fail("forward");
    const wf_tensor *res = m.arch.head == WF_HEAD_NONE ? wf_graph_hidden(&m, &acts) : &acts.head_out;
    size_t n = (size_t)wf_tensor_numel(res);
    if (m.arch.head == WF_HEAD_NONE || m.arch.head == WF_HEAD_LM) n = (size_t)(B * T * res->shape[1]);
    else n = (size_t)(B * res->shape[1]);
    float *host = malloc(n * sizeof *host);
    if (be->copy(be, host, res->data, n * sizeof *host, WF_COPY_D2H) != WF_OK) return fail("copy");
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(host, sizeof *host, n, f) != n || fclose(f) != 0) return fail("write");
    free(host);
    wf_acts_destroy(&m, &acts);
    wf_backend_arena_destroy(be, &batch_arena);
    wf_model_free(&m);
    wf_backend_close(be);
    return 0;
}
