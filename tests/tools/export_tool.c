/* Test tool for the export interop test (tests/interop/test_export.py): loads a model, builds a
 * trainable set, optionally loads a PEFT adapter into it and moves every trainable value
 * deterministically (p += 0.01 sin(i), i the flat index), runs one forward pass writing the
 * head's output as raw fp32, and exports the PEFT adapter and/or the merged model.
 *   export_tool MODEL [--dtype f32|bf16] [--full | --lora R ALPHA T1,T2,.. | --ia3 TARGETS FF |
 *               --prompt NV | --adapter M] [--rslora] [--dora]
 *               [--peft ADAPTER] [--perturb] [--forward B T OUT] [--ids F] [--mask F]
 *               [--types F] [--pixels F] [--export-peft DIR] [--export-merged DIR]
 *               [--roundtrip DIR]
 * --roundtrip imports DIR (a PEFT adapter) into a fresh copy of the same trainable set and
 * exits 1 unless every value equals this run's bit for bit. Inputs as model_forward's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/export.h"
#include "tool_util.h"

typedef struct opts {
    const char *model, *peft, *out, *export_peft, *export_merged, *roundtrip;
    const char *inputs[4]; /* ids, mask, types, pixels */
    wf_dtype dtype;
    wf_peft_spec spec;
    bool perturb;
    int64_t B, T;
} opts;

static int parse(int argc, char **argv, opts *o) {
    static const char *const in_flags[4] = {"--ids", "--mask", "--types", "--pixels"};
    memset(o, 0, sizeof *o);
    o->model = argv[1], o->dtype = WF_F32;
    wf_peft_spec_default(&o->spec);
    o->spec.method = WF_METHOD_FULL, o->spec.n_no_decay = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool used = true;
        if (!strcmp(a, "--full")) o->spec.method = WF_METHOD_FULL, used = false;
        else if (!strcmp(a, "--rslora")) o->spec.rslora = true, used = false;
        else if (!strcmp(a, "--dora")) o->spec.dora = true, used = false;
        else if (!strcmp(a, "--perturb")) o->perturb = true, used = false;
        else if (!strcmp(a, "--lora") && i + 3 < argc) tool_parse_lora(&o->spec, argv + i + 1), i += 2;
        else if (!strcmp(a, "--ia3") && i + 2 < argc) tool_parse_ia3(&o->spec, argv + i + 1), i += 1;
        else if (!strcmp(a, "--forward") && i + 3 < argc)
            o->B = atoll(argv[i + 1]), o->T = atoll(argv[i + 2]), o->out = argv[i + 3], i += 2;
        else if (!v) return fprintf(stderr, "export_tool: %s needs a value\n", a), 2;
        else if (!strcmp(a, "--dtype")) o->dtype = !strcmp(v, "bf16") ? WF_BF16 : WF_F32;
        else if (!strcmp(a, "--peft")) o->peft = v;
        else if (!strcmp(a, "--prompt")) o->spec.method = WF_METHOD_PROMPT, o->spec.prompt_tokens = atoi(v);
        else if (!strcmp(a, "--adapter")) o->spec.method = WF_METHOD_ADAPTER, o->spec.adapter_size = atoi(v);
        else if (!strcmp(a, "--export-peft")) o->export_peft = v;
        else if (!strcmp(a, "--export-merged")) o->export_merged = v;
        else if (!strcmp(a, "--roundtrip")) o->roundtrip = v;
        else {
            int k = 0;
            while (k < 4 && strcmp(a, in_flags[k])) k++;
            if (k == 4) return fprintf(stderr, "export_tool: unknown option %s\n", a), 2;
            o->inputs[k] = v;
        }
        i += used;
    }
    return 0;
}

/* p += 0.01 sin(flat index), through wf_trainable_set (master and low-precision copy). */
static wf_status perturb(const wf_model *m, wf_trainable *t) {
    float *h = malloc((size_t)t->total * sizeof *h);
    wf_status s = m->be->copy(m->be, h, t->p.data, (size_t)t->total * sizeof *h, WF_COPY_D2H);
    for (int i = 0; s == WF_OK && i < t->n_params; i++) {
        const wf_param *p = &t->params[i];
        for (int64_t j = 0; j < p->numel; j++) h[p->offset + j] += 0.01f * sinf((float)(p->offset + j));
        s = wf_trainable_set(m, t, p, h + p->offset);
    }
    free(h);
    return s;
}

/* One forward pass; writes LM logits (B*T, V), sequence/image head outputs (B, n_labels) or
 * the hidden states of a bare model as raw fp32. */
static int forward(const wf_model *m, const opts *o) {
    size_t bt = (size_t)(o->B * o->T) * 4;
    const wf_arch *a = &m->arch;
    wf_batch_host h = {.B = o->B, .T = o->T};
    h.ids = o->inputs[0] ? tool_slurp("export_tool", o->inputs[0], bt) : NULL;
    h.mask = o->inputs[1] ? tool_slurp("export_tool", o->inputs[1], bt) : NULL;
    h.types = o->inputs[2] ? tool_slurp("export_tool", o->inputs[2], bt) : NULL;
    h.pixels = o->inputs[3] ? tool_slurp("export_tool", o->inputs[3], (size_t)(o->B * a->channels * a->image_size * a->image_size) * 4) : NULL;
    wf_arena ba;
    wf_batch b;
    wf_acts x;
    if (wf_backend_arena_create(m->be, &ba, "batch", wf_batch_bytes(m, o->B, o->T)) != WF_OK ||
        wf_batch_upload(m, &h, &ba, &b) != WF_OK)
        return tool_fail("export_tool", "batch");
    if (wf_acts_create(m, o->B, o->T, WF_ACTS_LOGITS, &x) != WF_OK) return tool_fail("export_tool", "activations");
    if (wf_graph_forward(m, &b, &x) != WF_OK) return tool_fail("export_tool", "forward");
    const wf_tensor *res = a->head == WF_HEAD_NONE ? wf_graph_hidden(m, &x) : &x.head_out;
    bool per_token = a->head == WF_HEAD_NONE || a->head == WF_HEAD_LM;
    size_t n = (size_t)((per_token ? b.B * b.T : o->B) * res->shape[1]); /* b.T: with a soft prompt */
    float *host = malloc(n * sizeof *host);
    if (m->be->copy(m->be, host, res->data, n * sizeof *host, WF_COPY_D2H) != WF_OK) return tool_fail("export_tool", "copy");
    FILE *f = fopen(o->out, "wb");
    if (!f || fwrite(host, sizeof *host, n, f) != n || fclose(f) != 0) return tool_fail("export_tool", "write");
    free(host);
    wf_acts_destroy(m, &x);
    wf_backend_arena_destroy(m->be, &ba);
    return 0;
}

/* Imports the adapter at dir into a fresh model + trainable set and compares every value. */
static int roundtrip(const opts *o, wf_backend *be, const wf_trainable *t) {
    wf_model m2;
    wf_trainable t2;
    if (wf_model_load(o->model, be, o->dtype, &m2) != WF_OK || wf_trainable_build(&m2, &o->spec, &t2) != WF_OK)
        return tool_fail("export_tool", "roundtrip: build");
    if (wf_trainable_load_peft(&m2, &t2, o->roundtrip) != WF_OK) return tool_fail("export_tool", "roundtrip: import");
    size_t bytes = (size_t)t->total * sizeof(float);
    float *a = malloc(bytes), *b = malloc(bytes);
    if (be->copy(be, a, t->p.data, bytes, WF_COPY_D2H) != WF_OK || be->copy(be, b, t2.p.data, bytes, WF_COPY_D2H) != WF_OK)
        return tool_fail("export_tool", "roundtrip: copy");
    int bad = 0;
    for (int i = 0; i < t->n_params; i++) {
        const wf_param *p = &t->params[i];
        for (int64_t j = 0; j < p->numel && bad < 5; j++) {
            if (memcmp(&a[p->offset + j], &b[p->offset + j], 4) == 0) continue;
            fprintf(stderr, "roundtrip: %s[%lld]: exported %.9g, imported %.9g\n", p->name,
                    (long long)j, (double)a[p->offset + j], (double)b[p->offset + j]);
            bad++;
        }
    }
    printf("roundtrip: %d parameters, %s\n", t->n_params, bad ? "DIFFER" : "bit-identical");
    free(a), free(b);
    wf_trainable_free(&m2, &t2);
    wf_model_free(&m2);
    return bad ? 1 : 0;
}

int main(int argc, char **argv) {
    opts o;
    if (argc < 2) {
        fprintf(stderr, "usage: export_tool MODEL [options] (see the file's header)\n");
        return 2;
    }
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    wf_backend *be = NULL;
    wf_model m;
    wf_trainable t;
    if (wf_backend_open("cpu", NULL, &be) != WF_OK || wf_model_load(o.model, be, o.dtype, &m) != WF_OK)
        return tool_fail("export_tool", "load");
    if (wf_trainable_build(&m, &o.spec, &t) != WF_OK) return tool_fail("export_tool", "trainable");
    if (o.peft && wf_trainable_load_peft(&m, &t, o.peft) != WF_OK) return tool_fail("export_tool", "peft");
    if (o.perturb && perturb(&m, &t) != WF_OK) return tool_fail("export_tool", "perturb");
    if (o.out && (rc = forward(&m, &o)) != 0) return rc;
    if (o.export_peft && wf_export_peft(&m, &t, &o.spec, o.model, o.export_peft) != WF_OK)
        return tool_fail("export_tool", "export peft");
    if (o.export_merged && wf_export_merged(&m, &t, o.model, o.export_merged) != WF_OK)
        return tool_fail("export_tool", "export merged");
    if (o.roundtrip && (rc = roundtrip(&o, be, &t)) != 0) return rc;
    wf_trainable_free(&m, &t);
    wf_model_free(&m);
    wf_backend_close(be);
    return 0;
}
