/* `weft generate MODEL --prompt TEXT`: text from a model with an LM head (HF directory or GGUF),
 * greedy or sampled, with a KV cache; --chat wraps the prompt in the model's chat template. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "weft/data.h"
#include "weft/generate.h"
#include "weft/tokenizer_model.h"

typedef struct gen_args {
    const char *model, *prompt, *prompt_ids;
    bool chat, print_ids;
    wf_gen_opts o;
} gen_args;

static int usage(void) {
    fprintf(stderr, "usage: weft generate MODEL (--prompt TEXT | --prompt-ids 1,2,3) [--chat]\n"
                    "       [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--ids]\n"
                    "  greedy by default (temperature 0); --ids also prints the generated ids to stderr\n");
    return 2;
}

static bool parse(int argc, char **argv, gen_args *a) {
    *a = (gen_args){.o = {.max_new_tokens = 64, .top_p = 1.0f, .seed = 1}};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--chat")) a->chat = true;
        else if (!strcmp(k, "--ids")) a->print_ids = true;
        else if (k[0] != '-' && !a->model) a->model = k;
        else if (!v) return false;
        else if (!strcmp(k, "--prompt")) a->prompt = v, i++;
        else if (!strcmp(k, "--prompt-ids")) a->prompt_ids = v, i++;
        else if (!strcmp(k, "--max-new-tokens")) a->o.max_new_tokens = atoll(v), i++;
        else if (!strcmp(k, "--temperature")) a->o.temperature = (float)atof(v), i++;
        else if (!strcmp(k, "--top-k")) a->o.top_k = atoi(v), i++;
        else if (!strcmp(k, "--top-p")) a->o.top_p = (float)atof(v), i++;
        else if (!strcmp(k, "--seed")) a->o.seed = strtoull(v, NULL, 10), i++;
        else return false;
    }
    return a->model && (a->prompt || a->prompt_ids) && a->o.max_new_tokens > 0;
}

/* The prompt's ids: given directly, the text encoded, or the text as a chat user turn. */
static wf_status prompt_ids(const gen_args *a, const wf_tokenizer *tok, wf_ids *ids) {
    if (a->prompt_ids) {
        char *list = strdup(a->prompt_ids);
        for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) WF_TRY(wf_ids_push(ids, (int32_t)atol(t)));
        free(list);
        return WF_OK;
    }
    if (!a->chat) return wf_tokenizer_encode(tok, a->prompt, strlen(a->prompt), true, ids);
    wf_chat_template tpl;
    WF_TRY(wf_chat_template_resolve(WF_CHAT_AUTO, a->model, tok, &tpl));
    wf_chat_msg msg = {"user", a->prompt, strlen(a->prompt)};
    wf_chat_text text;
    wf_status s = wf_chat_render(&tpl, &msg, 1, true, &text);
    if (s == WF_OK) s = wf_tokenizer_encode(tok, text.text, text.len, false, ids);
    if (s == WF_OK) wf_chat_text_free(&text);
    wf_chat_template_free(&tpl);
    return s;
}

static int fail(const char *what) {
    fprintf(stderr, "weft generate: %s: %s\n", what, wf_last_error());
    return 1;
}

int wf_cmd_generate(int argc, char **argv) {
    gen_args a;
    if (!parse(argc, argv, &a)) return usage();
    wf_backend *be = NULL;
    wf_model m;
    wf_tokenizer *tok = NULL;
    const char *backend = wf_backend_available("cuda") ? "cuda" : "cpu";
    if (wf_backend_open(backend, NULL, &be) != WF_OK) return fail("backend");
    if (wf_model_load(a.model, be, WF_F32, &m) != WF_OK) return fail("model");
    if (wf_tokenizer_for_model(a.model, &tok) != WF_OK) return fail("tokenizer");
    wf_ids ids = {0}, out = {0};
    if (prompt_ids(&a, tok, &ids) != WF_OK) return fail("prompt");
    wf_special_ids sp = wf_tokenizer_special_ids(tok);
    int32_t stops[3] = {sp.eos, m.arch.eos_token_id, wf_tokenizer_token_to_id(tok, "<|im_end|>", 10)};
    a.o.stop_ids = stops, a.o.n_stop = 3;
    if (wf_generate(&m, ids.data, (int64_t)ids.len, &a.o, &out) != WF_OK) return fail("generate");
    char *text = NULL;
    size_t len = 0;
    if (wf_tokenizer_decode(tok, out.data, out.len, true, &text, &len) != WF_OK) return fail("decode");
    fwrite(text, 1, len, stdout);
    printf("\n");
    if (a.print_ids) {
        fprintf(stderr, "ids:");
        for (size_t i = 0; i < out.len; i++) fprintf(stderr, " %d", out.data[i]);
        fprintf(stderr, "\n");
    }
    free(text);
    wf_ids_free(&ids), wf_ids_free(&out);
    wf_tokenizer_free(tok);
    wf_model_free(&m);
    wf_backend_close(be);
    return 0;
}
