/* Loading model directories: a complete tiny llama loads; a missing tensor, a wrong shape, a
 * wrong dtype, an unknown architecture and a missing config each give an error naming the file
 * and the tensor or key, and load nothing; a random init from config.json alone follows its rule
 * and stays finite at 30M weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/model.h"
#include "weft/safetensors.h"

static int failures;
static char dir[256];

static const char *config = "{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"],"
                            "\"hidden_size\":8,\"intermediate_size\":16,\"num_hidden_layers\":1,"
                            "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"vocab_size\":10,"
                            "\"tie_word_embeddings\":false}";

static void write_text(const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* Writes model.safetensors with every llama tensor; `skip` is left out, `bad` gets shape [3]. */
static void write_weights(const char *skip, const char *bad, wf_st_dtype dt) {
    static float zeros[256];
    static const struct { const char *name; int nd; int64_t s0, s1; } t[] = {
        {"model.embed_tokens.weight", 2, 10, 8}, {"model.layers.0.input_layernorm.weight", 1, 8, 0},
        {"model.layers.0.self_attn.q_proj.weight", 2, 8, 8}, {"model.layers.0.self_attn.k_proj.weight", 2, 4, 8},
        {"model.layers.0.self_attn.v_proj.weight", 2, 4, 8}, {"model.layers.0.self_attn.o_proj.weight", 2, 8, 8},
        {"model.layers.0.post_attention_layernorm.weight", 1, 8, 0},
        {"model.layers.0.mlp.gate_proj.weight", 2, 16, 8}, {"model.layers.0.mlp.up_proj.weight", 2, 16, 8},
        {"model.layers.0.mlp.down_proj.weight", 2, 8, 16}, {"model.norm.weight", 1, 8, 0},
        {"lm_head.weight", 2, 10, 8}};
    wf_st_entry e[12];
    int64_t shapes[12][2], bad_shape[1] = {3};
    int n = 0;
    for (int i = 0; i < 12; i++) {
        if (skip && strcmp(t[i].name, skip) == 0) continue;
        shapes[n][0] = t[i].s0, shapes[n][1] = t[i].s1;
        bool b = bad && strcmp(t[i].name, bad) == 0;
        e[n] = (wf_st_entry){t[i].name, dt, b ? 1 : t[i].nd, b ? bad_shape : shapes[n], zeros};
        n++;
    }
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (wf_st_write(p, e, n, NULL, 0) != WF_OK) {
        fprintf(stderr, "FAIL cannot write fixture: %s\n", wf_last_error());
        exit(1);
    }
}

static void expect(wf_backend *be, wf_status want, const char *msg1, const char *msg2) {
    wf_model m;
    wf_status s = wf_model_load(dir, be, WF_F32, &m);
    if (s == WF_OK) wf_model_free(&m);
    bool ok = s == want && (!msg1 || strstr(wf_last_error(), msg1)) && (!msg2 || strstr(wf_last_error(), msg2));
    if (!ok) {
        fprintf(stderr, "FAIL expected %s with '%s' / '%s', got %s: %s\n", wf_status_name(want),
                msg1 ? msg1 : "", msg2 ? msg2 : "", wf_status_name(s), s ? wf_last_error() : "");
        failures++;
    }
}

/* model.init random (init_random.c): config.json alone; norm gains 1, biases 0, matrices and the
 * CLS token N(0, initializer_range); the same seed gives the same weights, another seed others. */
static void random_init(wf_backend *be) {
    write_text("config.json", "{\"model_type\":\"vit\",\"image_size\":8,\"patch_size\":4,"
               "\"num_channels\":1,\"hidden_size\":16,\"num_hidden_layers\":1,"
               "\"num_attention_heads\":2,\"intermediate_size\":32,\"initializer_range\":0.05}");
    wf_load_opts o = {.head = WF_HEAD_IMAGE_CLS, .n_labels = 3, .seed = 7, .random_init = true};
    wf_model a, b;
    if (wf_model_load_ex(dir, be, WF_F32, &o, &a) != WF_OK) {
        fprintf(stderr, "FAIL random init: %s\n", wf_last_error());
        failures++;
        return;
    }
    const float *g = a.w.layers[0].ln1_g.data, *bias = a.w.layers[0].bq.data, *wq = a.w.layers[0].wq.data;
    const float *cls = a.w.cls_token.data;
    double ss = 0, cs = 0;
    bool gains = true, zeros = true;
    for (int i = 0; i < 16; i++) gains &= g[i] == 1.0f, zeros &= bias[i] == 0.0f, cs += fabs(cls[i]);
    for (int i = 0; i < 256; i++) ss += (double)wq[i] * wq[i];
    double sd = sqrt(ss / 256);
    /* 256 normal draws: the sample std is within 0.05 * (1 +- 0.16) at ~3.6 standard errors */
    if (!gains || !zeros || !(sd > 0.042 && sd < 0.058) || !(cs > 0)) {
        fprintf(stderr, "FAIL random init rule: gains %d, zero biases %d, std %g, |cls| %g\n", gains, zeros, sd, cs);
        failures++;
    }
    bool same = wf_model_load_ex(dir, be, WF_F32, &o, &b) == WF_OK &&
                !memcmp(b.w.layers[0].wq.data, wq, 256 * sizeof(float));
    if (same) wf_model_free(&b);
    o.seed = 8;
    bool other = wf_model_load_ex(dir, be, WF_F32, &o, &b) == WF_OK &&
                 memcmp(b.w.layers[0].wq.data, wq, 256 * sizeof(float)) != 0;
    if (other) wf_model_free(&b);
    if (!same || !other) {
        fprintf(stderr, "FAIL random init: same seed same weights %d, other seed other weights %d\n", same, other);
        failures++;
    }
    wf_model_free(&a);
}

/* A random init large enough to draw the largest uniform (2^24 - 1) / 2^24 in its Box-Muller
 * pairs: every weight stays finite (30.7M draws of the embedding; seed 1234 hit it 3 times when
 * the radius was sqrt(-2 log(u + 1e-7))). */
static void random_init_large(wf_backend *be) {
    write_text("config.json", "{\"model_type\":\"gpt2\",\"architectures\":[\"GPT2LMHeadModel\"],"
               "\"vocab_size\":40000,\"n_embd\":768,\"n_layer\":1,\"n_head\":12,\"n_positions\":64}");
    wf_load_opts o = {.seed = 1234, .random_init = true};
    wf_model m;
    if (wf_model_load_ex(dir, be, WF_F32, &o, &m) != WF_OK) {
        fprintf(stderr, "FAIL large random init: %s\n", wf_last_error());
        failures++;
        return;
    }
    const float *e = m.w.tok_emb.data;
    int64_t n = wf_tensor_numel(&m.w.tok_emb), bad = 0;
    for (int64_t i = 0; i < n; i++) bad += !isfinite(e[i]);
    if (bad) {
        fprintf(stderr, "FAIL large random init: %lld of %lld embedding weights are not finite\n",
                (long long)bad, (long long)n);
        failures++;
    }
    wf_model_free(&m);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/weft-test-model-load-%ld", (long)getpid());
    mkdir(dir, 0755);
    wf_backend *be = NULL;
    if (wf_backend_open("cpu", NULL, &be) != WF_OK) return 1;
    write_text("config.json", config);
    write_weights(NULL, NULL, WF_ST_F32);
    expect(be, WF_OK, NULL, NULL);
    write_weights(NULL, NULL, WF_ST_BF16);
    expect(be, WF_OK, NULL, NULL);
    { /* a new classification head on a causal-LM checkpoint starts fresh: N(0, 0.02) */
        wf_model m;
        wf_load_opts o = {.head = WF_HEAD_SEQ_CLS, .n_labels = 3, .seed = 1};
        float w[24];
        bool ok = wf_model_load_ex(dir, be, WF_F32, &o, &m) == WF_OK && m.w.cls_w.data &&
                  m.w.cls_w.shape[0] == 3 && m.w.cls_w.shape[1] == 8;
        if (ok) memcpy(w, m.w.cls_w.data, sizeof w);
        double ss = 0;
        for (int i = 0; ok && i < 24; i++) ss += (double)w[i] * w[i];
        if (!ok || !(ss > 0 && ss < 24 * 0.1 * 0.1)) {
            fprintf(stderr, "FAIL fresh seq-cls head: %s (sum of squares %g)\n", ok ? "bad values" : wf_last_error(), ss);
            failures++;
        }
        if (ok) wf_model_free(&m);
        o.head = WF_HEAD_IMAGE_CLS;
        if (wf_model_load_ex(dir, be, WF_F32, &o, &m) != WF_ERR_INVALID || !strstr(wf_last_error(), "vit")) {
            fprintf(stderr, "FAIL an image head on a llama: %s\n", wf_last_error());
            failures++;
        }
    }
    write_weights("model.layers.0.self_attn.k_proj.weight", NULL, WF_ST_F32);
    expect(be, WF_ERR_FORMAT, "'model.layers.0.self_attn.k_proj.weight' is missing", dir);
    write_weights(NULL, "model.layers.0.mlp.up_proj.weight", WF_ST_F32);
    expect(be, WF_ERR_FORMAT, "'model.layers.0.mlp.up_proj.weight'", "has shape [3], expected [16, 8]");
    write_weights(NULL, NULL, WF_ST_I32);
    expect(be, WF_ERR_FORMAT, "has dtype I32", "embed_tokens");
    random_init(be);
    random_init_large(be);
    write_text("config.json", "{\"model_type\":\"mamba\"}");
    expect(be, WF_ERR_UNSUPPORTED, "config.json", "model_type \"mamba\" is not supported");
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    expect(be, WF_ERR_IO, "config.json", "cannot open");
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
    wf_model m;
    if (wf_model_load("/nonexistent/model.gguf", be, WF_F32, &m) != WF_ERR_IO ||
        !strstr(wf_last_error(), "/nonexistent/model.gguf")) {
        fprintf(stderr, "FAIL a missing GGUF file: %s\n", wf_last_error());
        failures++;
    }
    wf_backend_close(be);
    printf("model loading: %d failures\n", failures);
    return failures ? 1 : 0;
}
