/* Run config (include/weft/run_config.h): schema defaults, every kind of error with the words of
 * its message, --set overrides of each value kind, and write -> load giving back the same struct. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/run_config.h"
#include "expect.h"


static char g_dir[64];
static const char *const k_req[] = {"model.path=m", "data.train=t.jsonl"};

/* Writes `text` to g_dir/name and returns the path (static buffer). */
static const char *put_file(const char *name, const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    return path;
}

static void load_ok(const char *json, const char *const *sets, int nsets, wf_run_config *c) {
    const char *path = json ? put_file("cfg.json", json) : NULL;
    if (wf_run_config_load(path, sets, nsets, c) != WF_OK) {
        fprintf(stderr, "FAIL unexpected error: %s\n  for %s\n", wf_last_error(), json);
        failures++;
    }
}

/* Loading must fail with WF_ERR_INVALID and a message containing `msg`. */
static void load_err(const char *json, const char *const *sets, int nsets, const char *msg) {
    static wf_run_config c;
    const char *path = json ? put_file("cfg.json", json) : NULL;
    wf_status s = wf_run_config_load(path, sets, nsets, &c);
    if (s != WF_ERR_INVALID || !strstr(wf_last_error(), msg)) {
        fprintf(stderr, "FAIL expected invalid with \"%s\", got %s: %s\n  for %s\n", msg,
                wf_status_name(s), wf_last_error(), json ? json : "(--set only)");
        failures++;
    }
}

#define REQ_JSON "\"model\": {\"path\": \"m\"}, \"data\": {\"train\": \"t.jsonl\"}"

static void defaults(void) {
    static wf_run_config c;
    load_ok(NULL, k_req, 2, &c);
    EXPECT(!strcmp(c.model.path, "m") && c.model.dtype == WF_CFG_DTYPE_FP32);
    /* fp16 loss scaling: torch.cuda.amp.GradScaler's defaults */
    EXPECT(c.train.loss_scale.init_scale == 65536 && c.train.loss_scale.growth_factor == 2);
    EXPECT(c.train.loss_scale.backoff_factor == 0.5 && c.train.loss_scale.growth_interval == 2000);
    EXPECT(c.model.head == WF_CFG_HEAD_AUTO && c.model.num_labels == 0);
    EXPECT(!strcmp(c.data.train, "t.jsonl") && !strcmp(c.data.eval, ""));
    EXPECT(c.data.format == WF_CFG_FORMAT_AUTO && c.data.eval_split == 0.1 && c.data.seq_len == 512);
    EXPECT(c.data.packing && c.data.chat_template == WF_CFG_CHAT_AUTO && c.data.shuffle);
    EXPECT(c.data.bad_lines == WF_CFG_BAD_LINES_ERROR && c.data.cache);
    EXPECT(c.method.type == WF_CFG_METHOD_LORA && c.method.lora.r == 8);
    EXPECT(c.method.lora.alpha == 16 && c.method.lora.dropout == 0.05 && !c.method.lora.rslora);
    EXPECT(c.method.lora.target_modules.n == 2 &&
           !strcmp(c.method.lora.target_modules.item[0], "q_proj") &&
           !strcmp(c.method.lora.target_modules.item[1], "v_proj"));
    EXPECT(c.method.freeze.train_top_layers == 0 && c.method.freeze.modules.n == 0);
    EXPECT(c.method.extras.n == 0);
    EXPECT(c.train.epochs == 1 && c.train.max_steps == -1 && c.train.micro_batch == 4);
    EXPECT(c.train.grad_accum == 1 && c.train.lr == 2e-4 && c.train.schedule == WF_CFG_SCHEDULE_COSINE);
    EXPECT(c.train.warmup_steps == 0 && c.train.min_lr == 0 && c.train.weight_decay == 0);
    EXPECT(c.train.betas[0] == 0.9 && c.train.betas[1] == 0.999 && c.train.eps == 1e-8);
    EXPECT(c.train.max_grad_norm == 1 && c.train.seed == 42 && c.train.no_decay.n == 3);
    EXPECT(!strcmp(c.train.no_decay.item[2], "embedding"));
    EXPECT(c.eval.every_steps == 0 && c.eval.before_training && c.eval.max_batches == 0);
    EXPECT(!strcmp(c.eval.early_stopping.metric, "") && c.eval.early_stopping.patience == 3);
    EXPECT(c.eval.early_stopping.mode == WF_CFG_MODE_MIN);
    EXPECT(c.checkpoint.every_steps == 0 && c.checkpoint.keep_last == 2);
    EXPECT(!strcmp(c.output.dir, "runs/run") && c.output.tensorboard && c.output.log_every == 1);
    EXPECT(c.backend.name == WF_CFG_BACKEND_AUTO && c.backend.device == 0 && c.backend.threads == 0);

    /* output.dir defaults to runs/<config file stem> */
    const char *p = put_file("lora-gpt2.json", "{" REQ_JSON "}");
    EXPECT(wf_run_config_load(p, NULL, 0, &c) == WF_OK && !strcmp(c.output.dir, "runs/lora-gpt2"));
    EXPECT(!strcmp(wf_run_config_enum_name("train.schedule", WF_CFG_SCHEDULE_LINEAR), "linear"));
    EXPECT(wf_run_config_enum_name("train.lr", 0) == NULL);
}

static void file_values(void) {
    static wf_run_config c;
    load_ok("{" REQ_JSON ", \"train\": {\"lr\": 1e-4, \"betas\": [0.8, 0.95], \"seed\": 7},"
            " \"method\": {\"type\": \"full\", \"lora\": {\"target_modules\": \"all-linear\"}},"
            " \"data\": {\"eval\": \"x.jsonl\"}, \"eval\": {\"every_steps\": null},"
            " \"backend.threads\": 3}", NULL, 0, &c);
    EXPECT(c.train.lr == 1e-4 && c.train.betas[0] == 0.8 && c.train.betas[1] == 0.95);
    EXPECT(c.train.seed == 7 && c.method.type == WF_CFG_METHOD_FULL);
    EXPECT(c.method.lora.target_modules.n == 1 &&
           !strcmp(c.method.lora.target_modules.item[0], "all-linear"));
    /* a section may appear twice as long as no key does; a dotted key at the top level is a path */
    EXPECT(!strcmp(c.data.eval, "x.jsonl") && !strcmp(c.data.train, "t.jsonl"));
    EXPECT(c.eval.every_steps == 0 && c.backend.threads == 3);
}

static void errors(void) {
    load_err("{" REQ_JSON ", \"train\": {\"learning_rate\": 1e-4}}", NULL, 0,
             "cfg.json: unknown key 'train.learning_rate' (did you mean 'train.lr'?)");
    load_err("{" REQ_JSON ", \"train\": {\"lrr\": 1e-4}}", NULL, 0,
             "unknown key 'train.lrr' (did you mean 'train.lr'?)");
    load_err("{" REQ_JSON ", \"data\": {\"seq_length\": 128}}", NULL, 0,
             "unknown key 'data.seq_length' (did you mean 'data.seq_len'?)");
    load_err("{" REQ_JSON ", \"trian\": {\"lr\": 1e-4}}", NULL, 0,
             "unknown key 'trian' (did you mean 'train'?)");
    load_err("{" REQ_JSON ", \"lora\": {\"r\": 4}}", NULL, 0,
             "unknown key 'lora' (did you mean 'method.lora'?)");
    load_err("{" REQ_JSON ", \"optim\": {\"weight_decay\": 0.1}}", NULL, 0,
             "unknown key 'optim.weight_decay' (did you mean 'train.weight_decay'?)");
    load_err("{" REQ_JSON ", \"eval\": {\"every\": 10}}", NULL, 0,
             "(did you mean 'eval.every_steps'?)");
    load_err("{" REQ_JSON ", \"zzzqqxx\": 1}", NULL, 0,
             "unknown key 'zzzqqxx' (the keys are listed in configs/README.md)");
    load_err("{" REQ_JSON ", \"train\": {\"lr\": \"fast\"}}", NULL, 0,
             "cfg.json: 'train.lr': expected a number > 0, got \"fast\"");
    load_err("{" REQ_JSON ", \"train\": {\"micro_batch\": 2.5}}", NULL, 0,
             "'train.micro_batch': expected an integer >= 1, got 2.5");
    load_err("{" REQ_JSON ", \"data\": {\"eval_split\": 0.7}}", NULL, 0,
             "cfg.json: 'data.eval_split': 0.7 is out of range [0, 0.5]");
    load_err("{" REQ_JSON ", \"train\": {\"micro_batch\": 0}}", NULL, 0,
             "'train.micro_batch': 0 is out of range: expected an integer >= 1");
    load_err("{" REQ_JSON ", \"train\": {\"lr\": 0}}", NULL, 0,
             "'train.lr': 0 is out of range: expected a number > 0");
    load_err("{" REQ_JSON ", \"method\": {\"lora\": {\"dropout\": 1}}}", NULL, 0,
             "'method.lora.dropout': 1 is out of range [0, 1)");
    /* method.extras: known names only, no repeats, nothing with full, not lora with ia3 */
    load_err("{" REQ_JSON ", \"method\": {\"extras\": [\"adapter\", \"houlsby\"]}}", NULL, 0,
             "cfg.json: 'method.extras[1]': unknown value \"houlsby\"");
    load_err("{" REQ_JSON ", \"method\": {\"extras\": [\"lora\"]}}", NULL, 0,
             "'method.extras' repeats 'method.type' (lora)");
    load_err("{" REQ_JSON ", \"method\": {\"extras\": [\"adapter\", \"adapter\"]}}", NULL, 0,
             "'method.extras' lists \"adapter\" twice");
    load_err("{" REQ_JSON ", \"method\": {\"type\": \"full\", \"extras\": [\"adapter\"]}}", NULL, 0,
             "full fine-tuning trains every weight and combines with nothing");
    load_err("{" REQ_JSON ", \"method\": {\"extras\": [\"bitfit\", \"ia3\"]}}", NULL, 0,
             "lora and ia3 do not combine");
    load_err("{" REQ_JSON ", \"method\": {\"type\": \"ia3\", \"extras\": [\"lora\"]}}", NULL, 0,
             "lora and ia3 do not combine");
    static wf_run_config ce;
    load_ok("{" REQ_JSON ", \"method\": {\"extras\": [\"adapter\", \"prompt_tuning\"]}}", NULL, 0, &ce);
    EXPECT(ce.method.extras.n == 2 && !strcmp(ce.method.extras.item[1], "prompt_tuning"));
    load_err("{" REQ_JSON ", \"train\": {\"betas\": [0.9, 1.0]}}", NULL, 0,
             "'train.betas[1]': 1 is out of range [0, 1)");
    load_err("{" REQ_JSON ", \"train\": {\"betas\": [0.9]}}", NULL, 0,
             "'train.betas': expected a list of two numbers, each in [0, 1), got [0.9]");
    load_err("{" REQ_JSON ", \"train\": {\"loss_scale\": {\"backoff_factor\": 1}}}", NULL, 0,
             "'train.loss_scale.backoff_factor'");
    load_err("{" REQ_JSON ", \"train\": {\"loss_scale\": {\"growth_interval\": 0}}}", NULL, 0,
             "'train.loss_scale.growth_interval'");
    load_err("{" REQ_JSON ", \"model\": {\"dtype\": \"fp8\"}}", NULL, 0,
             "'model.dtype': expected one of fp32, bf16, fp16, got \"fp8\"");
    load_err("{" REQ_JSON ", \"data\": {\"packing\": \"yes\"}}", NULL, 0,
             "'data.packing': expected true or false, got \"yes\"");
    load_err("{" REQ_JSON ", \"method\": {\"lora\": {\"target_modules\": [\"q_proj\", 3]}}}", NULL,
             0, "'method.lora.target_modules[1]': expected a non-empty string");
    load_err("{" REQ_JSON ", \"method\": {\"lora\": {\"target_modules\": [\"all-linear\", \"x\"]}}}",
             NULL, 0, "'method.lora.target_modules': \"all-linear\" must be the only item");
    load_err("{" REQ_JSON ", \"method\": {\"lora\": {\"target_modules\": []}}}", NULL, 0,
             "'method.lora.target_modules': expected at least 1 item(s), got 0");
    load_err("{\"data\": {\"train\": \"t\"}}", NULL, 0,
             "cfg.json: required key 'model.path' is missing (Hugging Face model directory");
    load_err("{\"model\": {\"path\": \"m\"}}", NULL, 0, "required key 'data.train' is missing");
    load_err("{" REQ_JSON ", \"train\": 5}", NULL, 0, "'train': expected an object");
    load_err("{" REQ_JSON ", \"train\": {\"lr\": 1e-4, \"lr\": 2e-4}}", NULL, 0,
             "key 'train.lr' is given twice");
    load_err("[1, 2]", NULL, 0, "cfg.json: expected a JSON object at the top level");
    load_err("{\n  \"train\": {\"lr\": 1e-4,,}\n}", NULL, 0,
             "cfg.json: invalid JSON near line 2, column 25");
    load_err("{" REQ_JSON ", \"train\": {\"min_lr\": 0.1}}", NULL, 0,
             "'train.min_lr' (0.1) must not exceed 'train.lr' (0.0002)");
    load_err("{" REQ_JSON ", \"train\": {\"max_steps\": 10, \"warmup_steps\": 20}}", NULL, 0,
             "'train.warmup_steps' (20) exceeds 'train.max_steps' (10)");
    load_err("{" REQ_JSON ", \"data\": {\"eval_split\": 0}, \"eval\": {\"early_stopping\": "
             "{\"metric\": \"loss\"}}}", NULL, 0, "'eval.early_stopping.metric' needs eval data");

    static wf_run_config c;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/none.json", g_dir);
    EXPECT(wf_run_config_load(missing, NULL, 0, &c) == WF_ERR_IO && strstr(wf_last_error(), missing));
}

static void sets(void) {
    static wf_run_config c;
    const char *const s1[] = {"train.lr=1e-4", "data.packing=false",
                              "method.lora.target_modules=[\"q_proj\",\"k_proj\",\"o_proj\"]",
                              "train.schedule=linear", "eval.early_stopping.patience=5",
                              "output.dir=123", "train.betas=[0.5,0.6]", "data.eval="};
    load_ok("{" REQ_JSON ", \"train\": {\"lr\": 3e-4}, \"data\": {\"eval\": \"e.jsonl\"}}", s1, 8, &c);
    EXPECT(c.train.lr == 1e-4 && !c.data.packing && c.train.schedule == WF_CFG_SCHEDULE_LINEAR);
    EXPECT(c.method.lora.target_modules.n == 3 &&
           !strcmp(c.method.lora.target_modules.item[2], "o_proj"));
    EXPECT(c.eval.early_stopping.patience == 5 && !strcmp(c.output.dir, "123"));
    EXPECT(c.train.betas[0] == 0.5 && c.train.betas[1] == 0.6 && !strcmp(c.data.eval, ""));

    /* --set only (no file); later sets win; a bare string for a list; null restores the default */
    const char *const s2[] = {"model.path=/models/gpt2", "data.train=t", "train.seed=1",
                              "train.seed=2", "method.lora.target_modules=all-linear",
                              "model.dtype=bf16", "train.max_grad_norm=0.5",
                              "train.max_grad_norm=null", "eval.early_stopping.metric=\"f1\""};
    load_ok(NULL, s2, 9, &c);
    EXPECT(!strcmp(c.model.path, "/models/gpt2") && c.train.seed == 2);
    EXPECT(c.method.lora.target_modules.n == 1 && c.model.dtype == WF_CFG_DTYPE_BF16);
    EXPECT(c.train.max_grad_norm == 1 && !strcmp(c.eval.early_stopping.metric, "f1"));

    const char *const e1[] = {"train.lrr=1e-4"};
    load_err("{" REQ_JSON "}", e1, 1, "--set train.lrr=1e-4: unknown key 'train.lrr' (did you mean 'train.lr'?)");
    const char *const e2[] = {"train.lr=fast"};
    load_err("{" REQ_JSON "}", e2, 1, "--set train.lr=fast: 'train.lr': expected a number > 0, got \"fast\"");
    const char *const e3[] = {"train.lr"};
    load_err("{" REQ_JSON "}", e3, 1, "--set train.lr: expected KEY=VALUE");
    const char *const e4[] = {"train={\"lr\":1}"};
    load_err("{" REQ_JSON "}", e4, 1, "'train' is a section");
    const char *const e5[] = {"data.packing=yes"};
    load_err("{" REQ_JSON "}", e5, 1, "--set data.packing=yes: 'data.packing': expected true or false");
    load_err(NULL, k_req, 1, "--set: required key 'data.train' is missing");
}

static void round_trip(void) {
    static wf_run_config a, b;
    const char *const s[] = {"method.freeze.modules=[\"embed\",\"lm_head\"]", "train.epochs=2.5",
                             "train.max_steps=1000", "train.seed=123456789012",
                             "data.eval_split=0.25", "train.lr=3.3e-5", "train.min_lr=1e-7",
                             "data.format=messages", "backend.name=cuda",
                             "eval.early_stopping.metric=acc", "eval.early_stopping.mode=max",
                             "train.no_decay=[]", "model.path=dir with \"quotes\" and \\ and é"};
    load_ok("{" REQ_JSON ", \"train\": {\"betas\": [0.9, 0.98765432109876]}}", s, 13, &a);
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", g_dir);
    EXPECT(wf_run_config_write(&a, path) == WF_OK);
    EXPECT(wf_run_config_load(path, NULL, 0, &b) == WF_OK);
    char *ja = wf_run_config_to_json(&a), *jb = wf_run_config_to_json(&b);
    EXPECT(ja && jb && !strcmp(ja, jb));
    EXPECT(memcmp(&a, &b, sizeof a) == 0);
    if (memcmp(&a, &b, sizeof a) != 0) fprintf(stderr, "written:\n%s\nread back:\n%s\n", ja, jb);
    EXPECT(ja && strstr(ja, "\"train\": {\n    \"epochs\": 2.5,") && strstr(ja, "\"seed\": 123456789012"));
    EXPECT(ja && strstr(ja, "\"threads\": 0") && ja[strlen(ja) - 1] == '\n');
    free(ja);
    free(jb);
    /* the written file names the run directory it was derived for, not its own stem */
    EXPECT(!strcmp(b.output.dir, "runs/cfg"));
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/weft_test_run_config_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    defaults();
    file_values();
    errors();
    sets();
    round_trip();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_dir);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("run_config: all checks passed\n");
    return 0;
}
