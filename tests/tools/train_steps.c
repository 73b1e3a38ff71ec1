/* Test tool: N optimizer steps of a model on fixed micro-batches, for the training interop test
 * (tests/interop/test_train_steps.py): prints each step's loss and grad norm, writes the final
 * trainable tensors (HF/PEFT names) to a safetensors file.
 *   train_steps MODEL B T STEPS OUT.safetensors --micro K --ids F --targets F [--mask F]
 *       [--labels F] [--lr X] [--wd X] [--clip X] [--warmup N] [--schedule constant|linear|cosine]
 *       [--lora R ALPHA T1,T2 [--dropout P]] [--peft DIR]
 * The ids/targets/mask files hold K micro-batches of (B, T) int32 back to back; every step uses
 * all K of them (gradient accumulation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/safetensors.h"
#include "weft/trainer.h"
#include "tool_util.h"

typedef struct args {
    int64_t B, T, steps, K;
    const char *files[4]; /* ids, targets, mask, labels */
    const char *peft, *schedule;
    double lr, wd, clip;
    int64_t warmup;
    wf_peft_spec sp;
} args;

static void parse(int argc, char **argv, args *a) {
    wf_peft_spec_default(&a->sp);
    a->sp.method = WF_METHOD_FULL, a->sp.n_no_decay = 0;
    a->K = 1, a->lr = 1e-3, a->schedule = "constant";
    const char *names[] = {"--ids", "--targets", "--mask", "--labels"};
    for (int i = 6; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        bool used = false;
        for (int k = 0; k < 4; k++)
            if (!strcmp(o, names[k])) a->files[k] = v, used = true;
        if (!strcmp(o, "--micro")) a->K = atoll(v), used = true;
        else if (!strcmp(o, "--lr")) a->lr = atof(v), used = true;
        else if (!strcmp(o, "--wd")) a->wd = atof(v), used = true;
        else if (!strcmp(o, "--clip")) a->clip = atof(v), used = true;
        else if (!strcmp(o, "--warmup")) a->warmup = atoll(v), used = true;
        else if (!strcmp(o, "--schedule")) a->schedule = v, used = true;
        else if (!strcmp(o, "--peft")) a->peft = v, used = true;
        else if (!strcmp(o, "--dropout")) a->sp.lora_dropout = (float)atof(v), used = true;
        else if (!strcmp(o, "--lora") && i + 3 < argc) {
            a->sp.method = WF_METHOD_LORA;
            a->sp.lora_r = atoi(argv[i + 1]), a->sp.lora_alpha = (float)atof(argv[i + 2]);
            a->sp.n_targets = 0;
            char *list = strdup(argv[i + 3]);
            for (char *t = strtok(list, ","); t && a->sp.n_targets < WF_MAX_TARGETS; t = strtok(NULL, ","))
                snprintf(a->sp.targets[a->sp.n_targets++], sizeof a->sp.targets[0], "%s", t);
            free(list);
            i += 2, used = true;
        }
        if (used) i++;
    }
}

static int write_weights(const wf_model *m, const wf_trainable *t, const char *out) {
    wf_st_entry *e = calloc((size_t)t->n_params, sizeof *e);
    float *host = malloc((size_t)t->total * sizeof *host);
    if (m->be->copy(m->be, host, t->p.data, (size_t)t->total * 4, WF_COPY_D2H) != WF_OK) return tool_fail("train_steps", "copy");
    for (int i = 0; i < t->n_params; i++) {
        const wf_param *p = &t->params[i];
        e[i] = (wf_st_entry){p->name, WF_ST_F32, p->weight->ndim, p->weight->shape, host + p->offset};
    }
    if (wf_st_write(out, e, t->n_params, NULL, 0) != WF_OK) return tool_fail("train_steps", "write");
    free(e), free(host);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: train_steps MODEL B T STEPS OUT.safetensors [options]\n");
        return 2;
    }
    args a = {.B = atoll(argv[2]), .T = atoll(argv[3]), .steps = atoll(argv[4])};
    parse(argc, argv, &a);
    size_t bt = (size_t)(a.B * a.T) * 4 * (size_t)a.K, b4 = (size_t)a.B * 4 * (size_t)a.K;
    int32_t *data[4] = {0};
    for (int k = 0; k < 4; k++)
        if (a.files[k]) data[k] = tool_slurp("train_steps", a.files[k], k == 3 ? b4 : bt);
    wf_backend *be = NULL;
    wf_model m;
    wf_trainable t;
    wf_trainer tr;
    if (wf_backend_open("cpu", NULL, &be) != WF_OK || wf_model_load(argv[1], be, WF_F32, &m) != WF_OK)
        return tool_fail("train_steps", "load");
    if (wf_trainable_build(&m, &a.sp, &t) != WF_OK) return tool_fail("train_steps", "trainable");
    if (a.peft && wf_trainable_load_peft(&m, &t, a.peft) != WF_OK) return tool_fail("train_steps", "peft");
    wf_adamw_hparams hp = {.lr = (float)a.lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                           .weight_decay = (float)a.wd, .max_grad_norm = (float)a.clip};
    if (wf_trainer_init(&tr, &m, &t, a.B, a.T, &hp, 1234) != WF_OK) return tool_fail("train_steps", "trainer");
    wf_batch_host *micro = calloc((size_t)a.K, sizeof *micro);
    for (int64_t k = 0; k < a.K; k++) {
        size_t o = (size_t)(k * a.B * a.T);
        micro[k] = (wf_batch_host){.B = a.B, .T = a.T, .ids = data[0] + o,
                                   .targets = data[1] ? data[1] + o : NULL,
                                   .mask = data[2] ? data[2] + o : NULL,
                                   .labels = data[3] ? data[3] + k * a.B : NULL};
    }
    wf_lr_schedule sched = {.kind = !strcmp(a.schedule, "linear") ? WF_SCHED_LINEAR
                                    : !strcmp(a.schedule, "cosine") ? WF_SCHED_COSINE : WF_SCHED_CONSTANT,
                            .lr = a.lr, .warmup_steps = a.warmup, .total_steps = a.steps};
    for (int64_t s = 0; s < a.steps; s++) {
        wf_step_result r;
        if (wf_trainer_step(&tr, micro, (int)a.K, wf_lr_at(&sched, s), (uint32_t)s, &r) != WF_OK)
            return tool_fail("train_steps", "step");
        printf("%lld %.9g %.9g\n", (long long)s, r.loss, r.grad_norm);
    }
    return write_weights(&m, &t, argv[5]);
}
