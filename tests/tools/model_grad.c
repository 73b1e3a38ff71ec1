/* Test tool: one forward + loss + backward of a model on raw binary inputs, writing every
 * trainable tensor's gradient (HF/PEFT names) to a safetensors file and the mean loss to stdout,
 * for the gradient interop test (tests/interop/test_model_grad.py).
 *   model_grad MODEL B T OUT.safetensors [--ids F] [--mask F] [--types F] [--targets F]
 *              [--labels F] [--values F] [--pixels F]
 *              [--bitfit] [--lora R ALPHA TARGET[,TARGET...]] [--ia3 TARGETS FF]
 *              [--prompt NV] [--adapter M] [--dora] [--peft ADAPTER_DIR]
 * --ia3: comma lists or "auto" (PEFT's defaults for the model type); FF may be "none".
 * Inputs are raw int32 (B, T) / (B) files, float32 values (B) and pixels (B, ch, H, W). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/safetensors.h"
#include "weft/trainable.h"
#include "tool_util.h"

static int write_grads(const wf_model *m, const wf_trainable *t, const char *out) {
    wf_st_entry *e = calloc((size_t)t->n_params, sizeof *e);
    float *host = malloc((size_t)t->total * sizeof *host);
    if (m->be->copy(m->be, host, t->g.data, (size_t)t->total * 4, WF_COPY_D2H) != WF_OK) return tool_fail("model_grad", "copy");
    for (int i = 0; i < t->n_params; i++) {
        const wf_param *p = &t->params[i];
        e[i] = (wf_st_entry){p->name, WF_ST_F32, p->weight->ndim, p->weight->shape, host + p->offset};
    }
    if (wf_st_write(out, e, t->n_params, NULL, 0) != WF_OK) return tool_fail("model_grad", "write");
    free(e), free(host);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: model_grad MODEL B T OUT.safetensors [options]\n");
        return 2;
    }
    int64_t B = atoll(argv[2]), T = atoll(argv[3]);
    size_t bt = (size_t)(B * T) * 4, b4 = (size_t)B * 4;
    wf_peft_spec sp;
    wf_peft_spec_default(&sp);
    sp.method = WF_METHOD_FULL;
    sp.n_no_decay = 0;
    const char *peft = NULL;
    wf_batch_host h = {.B = B, .T = T};
    const char *pixels = NULL;
    for (int i = 5; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--ids")) h.ids = tool_slurp("model_grad", v, bt), i++;
        else if (!strcmp(a, "--mask")) h.mask = tool_slurp("model_grad", v, bt), i++;
        else if (!strcmp(a, "--types")) h.types = tool_slurp("model_grad", v, bt), i++;
        else if (!strcmp(a, "--targets")) h.targets = tool_slurp("model_grad", v, bt), i++;
        else if (!strcmp(a, "--labels")) h.labels = tool_slurp("model_grad", v, b4), i++;
        else if (!strcmp(a, "--values")) h.values = tool_slurp("model_grad", v, b4), i++;
        else if (!strcmp(a, "--pixels")) pixels = v, i++;
        else if (!strcmp(a, "--peft")) peft = v, i++;
        else if (!strcmp(a, "--bitfit")) tool_use_method(&sp, WF_METHOD_BITFIT);
        else if (!strcmp(a, "--dora")) sp.dora = true;
        else if (!strcmp(a, "--lora") && i + 3 < argc) tool_parse_lora(&sp, argv + i + 1), i += 3;
        else if (!strcmp(a, "--ia3") && i + 2 < argc) tool_parse_ia3(&sp, argv + i + 1), i += 2;
        else if (!strcmp(a, "--prompt")) tool_use_method(&sp, WF_METHOD_PROMPT), sp.prompt_tokens = atoi(v), i++;
        else if (!strcmp(a, "--top")) tool_use_method(&sp, WF_METHOD_FREEZE), sp.train_top_layers = atoi(v), i++;
        else if (!strcmp(a, "--adapter")) tool_use_method(&sp, WF_METHOD_ADAPTER), sp.adapter_size = atoi(v), i++;
    }
    wf_backend *be = NULL;
    wf_model m;
    wf_trainable t;
    wf_acts x;
    wf_arena ba;
    wf_batch b;
    if (wf_backend_open("cpu", NULL, &be) != WF_OK || wf_model_load(argv[1], be, WF_F32, &m) != WF_OK)
        return tool_fail("model_grad", "load");
    if (pixels) h.pixels = tool_slurp("model_grad", pixels, (size_t)(B * m.arch.channels * m.arch.image_size * m.arch.image_size) * 4);
    if (wf_trainable_build(&m, &sp, &t) != WF_OK) return tool_fail("model_grad", "trainable");
    if (peft && wf_trainable_load_peft(&m, &t, peft) != WF_OK) return tool_fail("model_grad", "peft");
    if (wf_acts_create(&m, B, T, WF_ACTS_TRAIN, &x) != WF_OK) return tool_fail("model_grad", "activations");
    if (wf_backend_arena_create(be, &ba, "batch", wf_batch_bytes(&m, B, T)) != WF_OK ||
        wf_batch_upload(&m, &h, &ba, &b) != WF_OK)
        return tool_fail("model_grad", "batch");
    int64_t count = 0; /* loss tokens: the mean is over them, as PyTorch's CrossEntropyLoss */
    if (m.arch.head == WF_HEAD_LM)
        for (size_t i = 0; i < (size_t)(B * T); i++) count += h.targets[i] != -100;
    else
        count = B;
    if (wf_graph_forward(&m, &b, &x) != WF_OK) return tool_fail("model_grad", "forward");
    if (wf_graph_loss(&m, &b, &x, &t.grads, 1.0f / (float)count) != WF_OK) return tool_fail("model_grad", "loss");
    if (wf_graph_backward(&m, &b, &x, &t.grads) != WF_OK) return tool_fail("model_grad", "backward");
    int64_t nl = m.arch.head == WF_HEAD_LM ? b.B * b.T : B; /* b.T: with a soft prompt's rows */
    float *losses = malloc((size_t)nl * sizeof *losses);
    if (be->copy(be, losses, x.d.tok_loss.data, (size_t)nl * 4, WF_COPY_D2H) != WF_OK) return tool_fail("model_grad", "copy");
    double sum = 0;
    for (int64_t i = 0; i < nl; i++) sum += losses[i];
    printf("%.9g\n", sum / (double)count);
    return write_grads(&m, &t, argv[4]);
}
