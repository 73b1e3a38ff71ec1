/* data_cli: the data pipeline from the command line, for the interop tests (test_data.py).
 *   data_cli encode MODEL FILE [--no-special]   lines of hex text -> lines of ids, with the
 *       model's tokenizer (wf_tokenizer_for_model: HF dir or .gguf)
 *   data_cli info MODEL                         vocabulary size and special ids
 *   data_cli chat MODEL KIND FILE [--gen]       each line {"messages": [...]} -> a line
 *       "HEXTEXT START:TRAIN START:TRAIN ..." (KIND auto|chatml|llama3|alpaca)
 *   data_cli dataset MODEL FILE [--format F] [--task lm|seq_cls|regression|image_cls] [--seq-len N]
 *       [--chat KIND] [--skip] [--n-labels K] [--cache-dir DIR] [--eval FILE] [--eval-split F]
 *       [--summary]
 *       one JSON line per training example: {"record", "ids", "loss", "label", "value"}, the
 *       report on stderr; --summary: only the report, on stdout (--task image_cls: IDX files)
 * Errors print the message and exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "weft/data.h"
#include "weft/mapped_file.h"
#include "weft/tokenizer_model.h"

static int fail(const char *what) {
    fprintf(stderr, "data_cli: %s: %s\n", what, wf_last_error());
    return 1;
}

static char *slurp(const char *path, size_t *n) {
    wf_mapped_file f;
    if (wf_file_map(path, &f) != WF_OK) return NULL;
    char *b = malloc(f.size + 1);
    if (b) {
        if (f.size) memcpy(b, f.data, f.size);
        b[f.size] = 0;
        *n = f.size;
    }
    wf_file_unmap(&f);
    return b;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int encode(const wf_tokenizer *tok, char *buf, bool special) {
    wf_ids ids = {0};
    for (char *line = buf, *nl; *line; line = nl + 1) { /* every line, empty ones too */
        nl = strchr(line, '\n');
        if (!nl) break;
        size_t n = (size_t)(nl - line) / 2;
        for (size_t i = 0; i < n; i++)
            line[i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
        ids.len = 0;
        if (wf_tokenizer_encode(tok, line, n, special, &ids) != WF_OK) return fail("encode");
        for (size_t i = 0; i < ids.len; i++) printf(i ? " %d" : "%d", ids.data[i]);
        putchar('\n');
    }
    wf_ids_free(&ids);
    return 0;
}

static wf_chat_kind chat_kind(const char *s) {
    return !strcmp(s, "chatml")   ? WF_CHAT_CHATML
           : !strcmp(s, "llama3") ? WF_CHAT_LLAMA3
           : !strcmp(s, "alpaca") ? WF_CHAT_ALPACA
                                  : WF_CHAT_AUTO;
}

static int chat(const char *model, const wf_tokenizer *tok, const char *kind, char *buf, bool gen) {
    wf_chat_template t;
    if (wf_chat_template_resolve(chat_kind(kind), model, tok, &t) != WF_OK) return fail("template");
    int rc = 0;
    for (char *line = strtok(buf, "\n"); line && !rc; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "messages"), *m;
        int64_t n = 0;
        wf_chat_msg msgs[64];
        cJSON_ArrayForEach(m, arr) {
            if (n == 64) break;
            const char *c = cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring;
            msgs[n++] = (wf_chat_msg){cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, c,
                                      strlen(c)};
        }
        wf_chat_text r;
        if (wf_chat_render(&t, msgs, n, gen, &r) != WF_OK) rc = fail("render");
        for (size_t i = 0; !rc && i < r.len; i++) printf("%02x", (unsigned char)r.text[i]);
        for (int64_t i = 0; !rc && i < r.n_spans; i++) printf(" %zu:%d", r.starts[i], r.train[i]);
        if (!rc) putchar('\n');
        wf_chat_text_free(&r);
        cJSON_Delete(o);
    }
    wf_chat_template_free(&t);
    return rc;
}

static void print_example(const wf_example *e) {
    printf("{\"record\": %lld, \"ids\": [", (long long)e->record);
    for (int64_t t = 0; t < e->len; t++) printf(t ? ", %d" : "%d", e->ids[t]);
    printf("]");
    if (e->loss) {
        printf(", \"loss\": [");
        for (int64_t t = 0; t < e->len; t++) printf(t ? ", %d" : "%d", e->loss[t]);
        printf("]");
    }
    printf(", \"label\": %d, \"value\": %.9g}\n", e->label, (double)e->value);
}

static int dataset(const char *model, const wf_tokenizer *tok, const char *file, int argc,
                   char **argv) {
    wf_data_opts o;
    wf_data_opts_init(&o);
    o.model_path = model;
    o.cache = false;
    static const char *formats[] = {"auto",   "text",           "prompt_completion", "messages",
                                    "alpaca", "classification", "regression",        "idx"};
    const char *eval_path = NULL;
    bool summary = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--skip"))
            o.skip_bad_lines = true;
        else if (!strcmp(a, "--summary"))
            summary = true;
        else if (!strcmp(a, "--seq-len"))
            o.seq_len = atoll(v), i++;
        else if (!strcmp(a, "--n-labels"))
            o.n_labels = atoll(v), i++;
        else if (!strcmp(a, "--eval-split"))
            o.eval_split = atof(v), i++;
        else if (!strcmp(a, "--eval"))
            eval_path = v, i++;
        else if (!strcmp(a, "--chat"))
            o.chat_template = chat_kind(v), i++;
        else if (!strcmp(a, "--cache-dir"))
            o.cache_dir = v, o.cache = true, i++;
        else if (!strcmp(a, "--task")) {
            o.task = !strcmp(v, "seq_cls")      ? WF_HEAD_SEQ_CLS
                     : !strcmp(v, "regression") ? WF_HEAD_REGRESSION
                     : !strcmp(v, "image_cls")  ? WF_HEAD_IMAGE_CLS
                                                : WF_HEAD_LM;
            i++;
        } else if (!strcmp(a, "--format")) {
            for (int k = 0; k < 8; k++)
                if (!strcmp(v, formats[k])) o.format = (wf_data_format)k;
            i++;
        }
    }
    wf_dataset *train, *eval;
    wf_data_report rep;
    if (wf_data_load(&o, tok, file, eval_path, &train, &eval, &rep) != WF_OK) return fail("load");
    for (int64_t i = 0; !summary && i < wf_dataset_count(train); i++) {
        wf_example e = wf_dataset_get(train, i);
        print_example(&e);
    }
    wf_data_report_print(&rep, summary ? stdout : stderr);
    wf_dataset_free(train);
    wf_dataset_free(eval);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: data_cli encode|info|chat|dataset MODEL ...\n");
        return 2;
    }
    const char *cmd = argv[1], *model = argv[2];
    wf_tokenizer *tok;
    if (wf_tokenizer_for_model(model, &tok) != WF_OK) return fail(model);
    int rc = 0;
    if (!strcmp(cmd, "info")) {
        wf_special_ids s = wf_tokenizer_special_ids(tok);
        printf("vocab_size %d bos %d eos %d pad %d unk %d cls %d sep %d mask %d\n",
               wf_tokenizer_vocab_size(tok), s.bos, s.eos, s.pad, s.unk, s.cls, s.sep, s.mask);
    } else {
        const char *file =
            !strcmp(cmd, "chat") ? (argc > 4 ? argv[4] : NULL) : (argc > 3 ? argv[3] : NULL);
        size_t n = 0;
        char *buf = file && strcmp(cmd, "dataset") ? slurp(file, &n) : NULL;
        if (!file || (strcmp(cmd, "dataset") && !buf))
            rc = fail(file ? file : "no input file");
        else if (!strcmp(cmd, "encode"))
            rc = encode(tok, buf, !(argc > 4 && !strcmp(argv[4], "--no-special")));
        else if (!strcmp(cmd, "chat"))
            rc = chat(model, tok, argv[3], buf, argc > 5 && !strcmp(argv[5], "--gen"));
        else if (!strcmp(cmd, "dataset"))
            rc = dataset(model, tok, file, argc - 4, argv + 4);
        else
            rc = (fprintf(stderr, "data_cli: unknown command %s\n", cmd), 2);
        free(buf);
    }
    wf_tokenizer_free(tok);
    return rc;
}
