/* The data pipeline up to datasets, without Python: chat template renderings and spans, every
 * JSONL layout (ids and loss masks exactly, on a byte tokenizer: data_fixture.h), bad lines
 * with their exact "FILE:LINE: what" messages and the skip policy's counts, LM chunking,
 * classification truncation, the eval split, the tokenized cache (hit, rebuilt after corruption
 * or a changed file or setting) and IDX images. Batching is test_data_loader.c's. */
#include <omp.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data_fixture.h"
#include "weft/data.h"

static wf_tokenizer *lm_tok, *cls_tok;

/* ---- chat templates ---- */

static void expect_render(const wf_chat_template *t, const wf_chat_msg *m, int64_t n, bool gen,
                          const char *want, const char *want_train) {
    wf_chat_text r;
    if (wf_chat_render(t, m, n, gen, &r) != WF_OK) {
        CHECK(0, "render: %s", wf_last_error());
        return;
    }
    CHECK(r.len == strlen(r.text) && !strcmp(r.text, want), "render:\n got  %s\n want %s", r.text,
          want);
    char trained[512] = "";
    for (int64_t i = 0; i < r.n_spans; i++) {
        if (!r.train[i]) continue;
        size_t end = i + 1 < r.n_spans ? r.starts[i + 1] : r.len;
        strncat(trained, r.text + r.starts[i], end - r.starts[i]);
        strcat(trained, "|");
    }
    CHECK(!strcmp(trained, want_train), "trained spans: got %s want %s", trained, want_train);
    wf_chat_text_free(&r);
}

#define MSG(role, text)                                                                            \
    { role, text, sizeof text - 1 }

static void test_chat(void) {
    wf_chat_msg conv[] = {MSG("system", "Be brief."), MSG("user", "Hi"),
                          MSG("assistant", " Hello \n"), MSG("user", "More"),
                          MSG("assistant", "Bye")};
    wf_chat_template t;
    CHECK(wf_chat_template_from_jinja(WF_CHAT_AUTO, NULL, lm_tok, &t) == WF_OK &&
              t.kind == WF_CHAT_CHATML,
          "auto without a template is ChatML");
    CHECK(!t.default_system, "no default system prompt");
    expect_render(&t, conv + 1, 2, true,
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello \n<|im_end|>\n"
                  "<|im_start|>assistant\n",
                  " Hello \n<|im_end|>|");
    wf_chat_template_free(&t);

    /* SmolLM2's template (GGUF tokenizer.chat_template): a default system prompt */
    const char *smol =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != "
        "'system' %}{{ '<|im_start|>system\nYou are SmolLM<|im_end|>\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
        "'<|im_end|>' + '\n'}}{% endfor %}";
    CHECK(wf_chat_template_from_jinja(WF_CHAT_AUTO, smol, lm_tok, &t) == WF_OK &&
              t.default_system && !strcmp(t.default_system, "You are SmolLM"),
          "SmolLM2 default system");
    expect_render(&t, conv + 3, 2, false,
                  "<|im_start|>system\nYou are SmolLM<|im_end|>\n<|im_start|>user\nMore<|im_end|>\n"
                  "<|im_start|>assistant\nBye<|im_end|>\n",
                  "Bye<|im_end|>|");
    expect_render(&t, conv, 3, false,
                  "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                  "<|im_start|>assistant\n Hello \n<|im_end|>\n",
                  " Hello \n<|im_end|>|");
    wf_chat_template_free(&t);

    /* Qwen2.5-style: the default is in an else branch with escaped newlines; the system
     * expression is not taken for a default */
    const char *qwen = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
                       "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>"
                       "system\\nYou are Qwen, it\\'s fine.<|im_end|>\\n' }}{%- endif %}";
    CHECK(wf_chat_template_from_jinja(WF_CHAT_AUTO, qwen, lm_tok, &t) == WF_OK &&
              t.default_system && !strcmp(t.default_system, "You are Qwen, it's fine."),
          "Qwen default system: %s", t.default_system ? t.default_system : "(none)");
    wf_chat_template_free(&t);

    CHECK(wf_chat_template_from_jinja(WF_CHAT_AUTO, "{{ '<|start_header_id|>' }}", lm_tok, &t) ==
                  WF_OK &&
              t.kind == WF_CHAT_LLAMA3,
          "Llama-3 detected");
    expect_render(
        &t, conv, 3, true,
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant"
        "<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        "Hello<|eot_id|>|");
    wf_chat_template_free(&t);

    CHECK(wf_chat_template_from_jinja(WF_CHAT_ALPACA, NULL, lm_tok, &t) == WF_OK && t.eos &&
              !strcmp(t.eos, "<|im_end|>"),
          "Alpaca eos from the tokenizer");
    wf_chat_msg alp[] = {MSG("user", "Sum"), MSG("user", "1 2"), MSG("assistant", "3"),
                         MSG("user", "Again"), MSG("assistant", "4")};
    expect_render(
        &t, alp, 5, false,
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nSum\n\n### Input:\n1 2\n\n### Response:\n3<|im_end|>\n\n"
        "### Instruction:\nAgain\n\n### Response:\n4<|im_end|>",
        "3<|im_end|>|4<|im_end|>|");
    expect_render(&t, conv, 3, false,
                  "Be brief.\n\n### Instruction:\nHi\n\n### Response:\n Hello \n<|im_end|>",
                  " Hello \n<|im_end|>|");
    wf_chat_text r;
    wf_chat_msg tool[] = {MSG("user", "x"), MSG("tool", "y")};
    CHECK(wf_chat_render(&t, tool, 2, false, &r) == WF_ERR_INVALID &&
              strstr(wf_last_error(), "messages[1]: role \"tool\""),
          "Alpaca rejects a tool turn: %s", wf_last_error());
    CHECK(wf_chat_render(&t, tool, 0, false, &r) == WF_ERR_INVALID, "empty conversation");
    wf_chat_template_free(&t);
}

/* ---- loading ---- */

static wf_data_opts opts(wf_head_kind task, int64_t seq_len) {
    wf_data_opts o;
    wf_data_opts_init(&o);
    o.task = task;
    o.seq_len = seq_len;
    o.cache = false;
    return o;
}

/* Loads `text` as a file; returns the train set (eval must come out empty). */
static wf_dataset *load(const wf_data_opts *o, const wf_tokenizer *tok, const char *text,
                        wf_data_report *rep) {
    const char *path = write_file("d.jsonl", text);
    wf_dataset *tr = NULL, *ev = NULL;
    wf_data_report r;
    if (wf_data_load(o, tok, path, NULL, &tr, &ev, rep ? rep : &r) != WF_OK) return NULL;
    CHECK(ev == NULL, "no eval set without eval_split");
    return tr;
}

static void expect_example(const wf_dataset *d, int64_t i, const char *ids_text,
                           const int32_t *extra, int n_extra, const char *loss) {
    int32_t want[256];
    int64_t n = 0;
    for (const char *p = ids_text; *p; p++) want[n++] = (unsigned char)*p;
    for (int k = 0; k < n_extra; k++) want[n++] = extra[k];
    wf_example e = wf_dataset_get(d, i);
    CHECK(e.len == n, "example %lld: %lld tokens, expected %lld", (long long)i, (long long)e.len,
          (long long)n);
    if (e.len != n) return;
    CHECK_IDS(e.ids, want, n, "ids");
    if (!loss) return;
    for (int64_t t = 0; t < n; t++)
        if (e.loss[t] != loss[t] - '0') {
            CHECK(0, "example %lld: loss[%lld] = %d, expected %c", (long long)i, (long long)t,
                  e.loss[t], loss[t]);
            break;
        }
}

static void test_formats(void) {
    wf_data_opts o = opts(WF_HEAD_LM, 64);
    int32_t eos[] = {SP_IM_END};
    wf_data_report rep;
    wf_dataset *d =
        load(&o, lm_tok, "{\"text\":\"ab\"}\r\n\n  \n{\"text\":\"c\",\"id\":7}\n", &rep);
    CHECK(d && wf_dataset_count(d) == 2 && rep.format == WF_DATA_TEXT, "text: %s", wf_last_error());
    if (d) {
        expect_example(d, 0, "ab", eos, 1, "111");
        CHECK(wf_dataset_get(d, 1).record == 4, "record = line number 4, got %lld",
              (long long)wf_dataset_get(d, 1).record);
        CHECK(wf_dataset_loss_tokens(d) == 3, "loss tokens exclude each first token");
    }
    wf_dataset_free(d);

    d = load(&o, lm_tok, "\xEF\xBB\xBF{\"prompt\":\"Q:\",\"completion\":\"A<|im_end|>\"}\n", &rep);
    CHECK(d && rep.format == WF_DATA_PROMPT_COMPLETION, "prompt/completion: %s", wf_last_error());
    if (d) expect_example(d, 0, "Q:A", eos, 1, "0011"); /* eos not doubled */
    wf_dataset_free(d);

    d = load(&o, lm_tok,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
             "{\"role\":\"assistant\",\"content\":\"y\"}]}\n",
             &rep);
    CHECK(d && rep.format == WF_DATA_MESSAGES && rep.chat == WF_CHAT_CHATML, "messages: %s",
          wf_last_error());
    if (d) {
        wf_example e = wf_dataset_get(d, 0);
        int32_t want[] = {SP_IM_START, 'u',         's', 'e',  'r', '\n',      'x', SP_IM_END,
                          '\n',        SP_IM_START, 'a', 's',  's', 'i',       's', 't',
                          'a',         'n',         't', '\n', 'y', SP_IM_END, '\n'};
        CHECK(e.len == 23, "messages: %lld tokens", (long long)e.len);
        if (e.len == 23) CHECK_IDS(e.ids, want, 23, "messages ids");
        for (int t = 0; t < e.len; t++)
            CHECK(e.loss[t] == (t == 20 || t == 21), "messages loss[%d] = %d", t, e.loss[t]);
    }
    wf_dataset_free(d);

    o.seq_len = 512; /* the Alpaca preamble alone is ~100 byte tokens */
    d = load(&o, lm_tok, "{\"instruction\":\"I\",\"output\":\"O\"}\n", &rep);
    CHECK(d && rep.format == WF_DATA_ALPACA, "alpaca: %s", wf_last_error());
    if (d) {
        wf_example e = wf_dataset_get(d, 0);
        const char *tail = "### Response:\nO";
        CHECK(e.len > 17 && e.ids[e.len - 1] == SP_IM_END && e.ids[e.len - 2] == 'O' &&
                  e.loss[e.len - 2] && e.loss[e.len - 1] && !e.loss[e.len - 3],
              "alpaca loss on output + eos");
        for (int k = 0; k < 14 && e.len > 17; k++)
            CHECK(e.ids[e.len - 16 + k] == tail[k], "alpaca prompt ends in ### Response:");
    }
    wf_dataset_free(d);
}

static void test_sequence_tasks(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s", scratch("model"));
    mkdir(dir, 0755);
    write_file("model/config.json", "{\"label2id\": {\"neg\": 0, \"pos\": 1, \"meh\": 2}}");
    wf_data_opts o = opts(WF_HEAD_SEQ_CLS, 6);
    o.model_path = dir;
    wf_data_report rep;
    wf_dataset *d =
        load(&o, cls_tok,
             "{\"text\":\"ab\",\"label\":1}\n{\"text\":\"abcdefgh\",\"label\":\"meh\"}\n", &rep);
    CHECK(d && wf_dataset_count(d) == 2 && rep.truncated == 1, "classification: %s",
          wf_last_error());
    if (d) {
        wf_example e = wf_dataset_get(d, 0);
        CHECK(e.ids[0] == SP_CLS && e.label == 1 && !e.loss, "[CLS] first, label 1");
        e = wf_dataset_get(d, 1);
        int32_t want[] = {SP_CLS, 'a', 'b', 'c', 'd', SP_SEP};
        CHECK(e.len == 6 && e.label == 2, "truncated to 6 keeping [SEP], label from label2id");
        if (e.len == 6) CHECK_IDS(e.ids, want, 6, "truncated ids");
    }
    wf_dataset_free(d);
    o.model_path = NULL;
    o.n_labels = 2;
    const char *path = write_file("bad.jsonl", "{\"text\":\"a\",\"label\":2}\n");
    wf_dataset *tr, *ev;
    CHECK(wf_data_load(&o, cls_tok, path, NULL, &tr, &ev, &rep) == WF_ERR_FORMAT &&
              strstr(wf_last_error(), "bad.jsonl:1: key \"label\": 2 is outside [0, 2)"),
          "label range: %s", wf_last_error());
    o = opts(WF_HEAD_REGRESSION, 8);
    d = load(&o, cls_tok, "{\"text\":\"a\",\"value\":-2.5}\n", &rep);
    CHECK(d && wf_dataset_get(d, 0).value == -2.5f && rep.format == WF_DATA_REGRESSION,
          "regression");
    wf_dataset_free(d);
}

/* Each line's exact message under the error policy, and the skip policy's tally. */
static void test_bad_lines(void) {
    static const struct {
        const char *line, *msg;
        wf_head_kind task;
    } cases[] = {
        {"{\"text\": 5}", "key \"text\": expected a string, got a number", WF_HEAD_LM},
        {"{\"text\":\"unterminated", "invalid JSON at column 10", WF_HEAD_LM},
        {"[\"a\"]", "expected a JSON object, got an array", WF_HEAD_LM},
        {"{\"txt\":\"x\"}", "missing key \"text\"", WF_HEAD_LM},
        {"{\"text\":\"\xff\"}", "invalid UTF-8 at column 10", WF_HEAD_LM},
        {"{\"text\":\"a\xed\xa0\x80\"}", "invalid UTF-8 at column 11", WF_HEAD_LM},
        {"{\"prompt\":\"p\",\"completion\":null}",
         "key \"completion\": expected a string, got null", WF_HEAD_LM},
        {"{\"messages\":[]}", "key \"messages\": the conversation is empty", WF_HEAD_LM},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "messages: no assistant turn",
         WF_HEAD_LM},
        {"{\"messages\":[{\"role\":\"user\"}]}",
         "messages[0]: key \"content\": missing or not a string", WF_HEAD_LM},
        {"{\"messages\":[1]}", "messages[0]: expected an object, got a number", WF_HEAD_LM},
        {"{\"instruction\":\"i\",\"input\":3,\"output\":\"o\"}",
         "key \"input\": expected a string, got a number", WF_HEAD_LM},
        {"{\"text\":\"a\"}", "missing key \"label\"", WF_HEAD_SEQ_CLS},
        {"{\"text\":\"a\",\"label\":1.5}", "key \"label\": expected an integer >= 0, got 1.5",
         WF_HEAD_SEQ_CLS},
        {"{\"text\":\"a\",\"label\":-1}", "key \"label\": expected an integer >= 0, got -1",
         WF_HEAD_SEQ_CLS},
        {"{\"text\":\"a\",\"label\":\"pos\"}",
         "key \"label\": \"pos\" is a name, but the model has no label2id", WF_HEAD_SEQ_CLS},
        {"{\"text\":\"a\",\"value\":\"1\"}", "key \"value\": expected a number, got a string",
         WF_HEAD_REGRESSION},
        {"{\"text\":\"\",\"label\":0}", "the text gives no tokens", WF_HEAD_SEQ_CLS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        wf_data_opts o = opts(cases[i].task, 16);
        const wf_tokenizer *tok = lm_tok;
        const char *good = cases[i].task == WF_HEAD_LM        ? "{\"text\":\"ok\"}"
                           : cases[i].task == WF_HEAD_SEQ_CLS ? "{\"text\":\"ok\",\"label\":0}"
                                                              : "{\"text\":\"ok\",\"value\":1}";
        if (strstr(cases[i].line, "messages"))
            good = "{\"messages\":[{\"role\":\"assistant\",\"content\":\"k\"}]}";
        if (strstr(cases[i].line, "instruction")) good = "{\"instruction\":\"i\",\"output\":\"o\"}";
        if (strstr(cases[i].line, "prompt")) good = "{\"prompt\":\"i\",\"completion\":\"o\"}";
        char text[512], want[512];
        snprintf(text, sizeof text, "%s\n\n%s\n%s\n", good, cases[i].line, good);
        const char *path = write_file("bad.jsonl", text);
        snprintf(want, sizeof want, "%s:3: %s", path, cases[i].msg);
        wf_dataset *tr = NULL, *ev = NULL;
        wf_data_report rep;
        wf_status st = wf_data_load(&o, tok, path, NULL, &tr, &ev, &rep);
        CHECK(st == WF_ERR_FORMAT && !strncmp(wf_last_error(), want, strlen(want)),
              "case %zu:\n got  %s\n want %s", i, wf_last_error(), want);
        o.skip_bad_lines = true;
        st = wf_data_load(&o, tok, path, NULL, &tr, &ev, &rep);
        CHECK(st == WF_OK && wf_dataset_count(tr) == 2 && rep.skipped == 1 && rep.records[0] == 2 &&
                  !strncmp(rep.reasons[0], want, strlen(want)),
              "case %zu skipped: %s / %s", i, wf_last_error(), rep.reasons[0]);
        wf_dataset_free(tr);
    }
    wf_data_opts o = opts(WF_HEAD_LM, 16);
    wf_dataset *tr, *ev;
    wf_data_report rep;
    const char *path = write_file("empty.jsonl", "\n  \n");
    char want[400];
    snprintf(want, sizeof want, "%s: no records (the file is empty)", path);
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &tr, &ev, &rep) == WF_ERR_FORMAT &&
              !strcmp(wf_last_error(), want),
          "empty file: %s", wf_last_error());
    path = write_file("layout.jsonl", "{\"txt\":\"x\",\"a\":1,\"b\":2,\"c\":3,\"d\":4}\n");
    snprintf(
        want, sizeof want,
        "%s:1: cannot tell the record layout from its keys {\"txt\", \"a\", "
        "\"b\", \"c\", ...}: expected text, prompt+completion, messages, or instruction+output",
        path);
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &tr, &ev, &rep) == WF_ERR_FORMAT &&
              !strcmp(wf_last_error(), want),
          "unknown layout:\n got  %s\n want %s", wf_last_error(), want);
    o.format = WF_DATA_CLASSIFICATION;
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &tr, &ev, &rep) == WF_ERR_INVALID &&
              strstr(wf_last_error(),
                     "format \"classification\" does not fit a model with a \"causal-lm\" head"),
          "format vs task: %s", wf_last_error());
    o.format = WF_DATA_AUTO;
    o.skip_bad_lines = true;
    path = write_file("allbad.jsonl",
                      "x\ny\n{\"text\":1}\n{\"text\":2}\n{\"text\":3}\n{\"text\":4}\n");
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &tr, &ev, &rep) == WF_ERR_FORMAT &&
              strstr(wf_last_error(), "no usable records (6 bad lines skipped"),
          "all bad: %s", wf_last_error());
}

static void test_chunks_and_split(void) {
    wf_data_opts o = opts(WF_HEAD_LM, 4);
    wf_data_report rep;
    /* "abcdefg" + eos = 8 tokens -> chunks of 4 overlapping by 1: abcd, defg, g<eos> */
    wf_dataset *d = load(&o, lm_tok, "{\"prompt\":\"xyzw\",\"completion\":\"abcdefg\"}\n", &rep);
    int32_t eos[] = {SP_IM_END};
    CHECK(d && wf_dataset_count(d) == 3 && rep.chunked == 1 && rep.dropped == 1,
          "chunks: %lld, dropped %lld", d ? (long long)wf_dataset_count(d) : -1LL,
          (long long)rep.dropped);
    if (d && wf_dataset_count(d) == 3) {
        expect_example(d, 0, "wabc", NULL, 0, "0111"); /* "xyzw" alone predicts nothing: dropped */
        expect_example(d, 1, "cdef", NULL, 0, "1111");
        expect_example(d, 2, "fg", eos, 1, "111");
    }
    wf_dataset_free(d);

    char text[64 * 40] = "";
    for (int i = 0; i < 60; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "{\"text\":\"r%d\"}\n", i);
    o = opts(WF_HEAD_LM, 16);
    o.eval_split = 0.25;
    o.seed = 7;
    const char *path = write_file("split.jsonl", text);
    wf_dataset *tr[2], *ev[2];
    for (int k = 0; k < 2; k++)
        CHECK(wf_data_load(&o, lm_tok, path, NULL, &tr[k], &ev[k], &rep) == WF_OK, "split: %s",
              wf_last_error());
    int64_t nt = wf_dataset_count(tr[0]), ne = wf_dataset_count(ev[0]);
    CHECK(nt + ne == 60 && ne >= 6 && ne <= 26, "split 60 -> %lld + %lld", (long long)nt,
          (long long)ne);
    CHECK(rep.records[0] == nt && rep.records[1] == ne, "report counts the split");
    CHECK(wf_dataset_count(tr[1]) == nt, "the split is deterministic");
    for (int64_t i = 0; i < ne; i++)
        for (int64_t j = 0; j < nt; j++)
            CHECK(wf_dataset_get(ev[0], i).record != wf_dataset_get(tr[0], j).record,
                  "disjoint records");
    o.seed = 8;
    wf_dataset *tr3, *ev3;
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &tr3, &ev3, &rep) == WF_OK, "split, other seed");
    bool same = wf_dataset_count(ev3) == ne;
    for (int64_t i = 0; same && i < ne; i++)
        same = wf_dataset_get(ev3, i).record == wf_dataset_get(ev[0], i).record;
    CHECK(!same, "another seed gives another split");
    for (int k = 0; k < 2; k++) wf_dataset_free(tr[k]), wf_dataset_free(ev[k]);
    wf_dataset_free(tr3), wf_dataset_free(ev3);
}

static bool same_data(const wf_dataset *a, const wf_dataset *b) {
    if (wf_dataset_count(a) != wf_dataset_count(b)) return false;
    for (int64_t i = 0; i < wf_dataset_count(a); i++) {
        wf_example x = wf_dataset_get(a, i), y = wf_dataset_get(b, i);
        if (x.len != y.len || x.record != y.record || memcmp(x.ids, y.ids, (size_t)x.len * 4) ||
            memcmp(x.loss, y.loss, (size_t)x.len))
            return false;
    }
    return true;
}

/* The cache file of the last load (there is one file per key in the directory). */
static void corrupt(const char *path, long at) {
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    fseek(f, at, at < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(c ^ 0x5A, f);
    fclose(f);
}

static void test_cache(void) {
    char model[300], cdir[300];
    snprintf(model, sizeof model, "%s", scratch("model"));
    snprintf(cdir, sizeof cdir, "%s", scratch("cache/sub"));
    mkdir(model, 0755);
    const char *path = write_file(
        "cached.jsonl",
        "{\"prompt\":\"p1\",\"completion\":\"c1\"}\n{\"prompt\":\"p2\",\"completion\":\"c22\"}\n"
        "{\"prompt\":\"p3\",\"completion\":\"c333\"}\nbroken\n");
    wf_data_opts o = opts(WF_HEAD_LM, 32);
    o.cache = true, o.cache_dir = cdir, o.model_path = model, o.skip_bad_lines = true;
    wf_dataset *ref, *d, *ev;
    wf_data_report rep;
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &ref, &ev, &rep) == WF_OK && !rep.cache_hit[0] &&
              rep.cache_path[0][0] && rep.skipped == 1,
          "first load writes the cache: %s", wf_last_error());
    char cfile[4096];
    snprintf(cfile, sizeof cfile, "%s", rep.cache_path[0]);
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &d, &ev, &rep) == WF_OK && rep.cache_hit[0] &&
              same_data(ref, d) && rep.skipped == 1 && strstr(rep.reasons[0], ":4: invalid JSON") &&
              rep.format == WF_DATA_PROMPT_COMPLETION,
          "second load hits the cache with the same report");
    wf_dataset_free(d);
    static const long spots[] = {3, 200, 900, -1, -9};
    for (size_t k = 0; k < sizeof spots / sizeof *spots; k++) {
        corrupt(cfile, spots[k]);
        CHECK(wf_data_load(&o, lm_tok, path, NULL, &d, &ev, &rep) == WF_OK && !rep.cache_hit[0] &&
                  same_data(ref, d) && !strcmp(rep.cache_path[0], cfile),
              "a byte flipped at %ld: rebuilt and rewritten", spots[k]);
        wf_dataset_free(d);
        CHECK(wf_data_load(&o, lm_tok, path, NULL, &d, &ev, &rep) == WF_OK && rep.cache_hit[0],
              "hit again");
        wf_dataset_free(d);
    }
    CHECK(truncate(cfile, 100) == 0, "truncate");
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &d, &ev, &rep) == WF_OK && !rep.cache_hit[0] &&
              same_data(ref, d),
          "a truncated cache is rebuilt");
    wf_dataset_free(d);
    o.seq_len = 4; /* another setting: another key */
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &d, &ev, &rep) == WF_OK && !rep.cache_hit[0] &&
              strcmp(rep.cache_path[0], cfile) != 0,
          "seq_len is part of the key");
    wf_dataset_free(d);
    o.seq_len = 32;
    write_file("model/config.json", "{}"); /* the tokenizer's files changed */
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &d, &ev, &rep) == WF_OK && !rep.cache_hit[0],
          "the tokenizer fingerprint is part of the key");
    wf_dataset_free(d);
    write_file("cached.jsonl", "{\"prompt\":\"p1\",\"completion\":\"c1\"}\n");
    CHECK(wf_data_load(&o, lm_tok, path, NULL, &d, &ev, &rep) == WF_OK && !rep.cache_hit[0] &&
              wf_dataset_count(d) == 1,
          "a changed data file is tokenized again");
    wf_dataset_free(d);
    wf_dataset_free(ref);
}

static void write_gz(const char *name, const unsigned char *b, size_t n, bool gz) {
    const char *p = scratch(name);
    gzFile f = gzopen(p, gz ? "wb" : "wbT");
    CHECK(f && gzwrite(f, b, (unsigned)n) == (int)n, "write %s", p);
    gzclose(f);
}

static void test_idx(void) {
    unsigned char img[16 + 3 * 6] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 3};
    unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 2, 0, 1};
    for (int i = 0; i < 18; i++) img[16 + i] = (unsigned char)(i * 15);
    for (int gz = 0; gz < 2; gz++) {
        write_gz(gz ? "t-images-idx3-ubyte.gz" : "t-images-idx3-ubyte", img, sizeof img, gz);
        write_gz(gz ? "t-labels-idx1-ubyte.gz" : "t-labels-idx1-ubyte", lab, sizeof lab, gz);
        wf_data_opts o = opts(WF_HEAD_IMAGE_CLS, 0);
        o.n_labels = 3;
        wf_dataset *tr, *ev;
        wf_data_report rep;
        const char *p = scratch(gz ? "t-images-idx3-ubyte.gz" : "t-images-idx3-ubyte");
        CHECK(wf_data_load(&o, NULL, p, NULL, &tr, &ev, &rep) == WF_OK &&
                  wf_dataset_count(tr) == 3 && rep.format == WF_DATA_IDX,
              "IDX (gz %d): %s", gz, wf_last_error());
        if (wf_dataset_count(tr) == 3) {
            wf_example e = wf_dataset_get(tr, 1);
            CHECK(e.label == 0 && e.pixels[0] == (90.0f / 255.0f - 0.5f) / 0.5f &&
                      e.pixels[5] == (165.0f / 255.0f - 0.5f) / 0.5f,
                  "pixels normalized, label");
        }
        wf_dataset_free(tr);
        o.n_labels = 2;
        CHECK(wf_data_load(&o, NULL, p, NULL, &tr, &ev, &rep) == WF_ERR_FORMAT &&
                  strstr(wf_last_error(), "label 2 of image 0 is outside [0, 2)"),
              "label range: %s", wf_last_error());
    }
    lab[7] = 2;
    write_gz("t-labels-idx1-ubyte", lab, sizeof lab - 1, false);
    wf_data_opts o = opts(WF_HEAD_IMAGE_CLS, 0);
    wf_dataset *tr, *ev;
    wf_data_report rep;
    CHECK(wf_data_load(&o, NULL, scratch("t-images-idx3-ubyte"), NULL, &tr, &ev, &rep) ==
                  WF_ERR_FORMAT &&
              strstr(wf_last_error(), "has 3 images but"),
          "count mismatch: %s", wf_last_error());
}

/* Many records of varied lengths: 1 thread and 4 threads give the same dataset. */
static void test_threads(void) {
    char *text = malloc(400 * 200), *p = text;
    for (int i = 0; i < 400; i++) {
        p += sprintf(p,
                     "{\"messages\":[{\"role\":\"user\",\"content\":\"q%d\"},"
                     "{\"role\":\"assistant\",\"content\":\"",
                     i);
        for (int k = 0; k < (i * 37) % 90; k++) *p++ = (char)('a' + (i + k) % 26);
        p += sprintf(p, "\"}]}\n");
    }
    *p = 0;
    const char *path = write_file("threads.jsonl", text);
    free(text);
    wf_data_opts o = opts(WF_HEAD_LM, 48);
    wf_dataset *d[2], *ev;
    wf_data_report rep;
    int saved = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k ? 4 : 1);
        CHECK(wf_data_load(&o, lm_tok, path, NULL, &d[k], &ev, &rep) == WF_OK, "load: %s",
              wf_last_error());
    }
    omp_set_num_threads(saved);
    CHECK(d[0] && d[1] && wf_dataset_count(d[0]) > 400 && same_data(d[0], d[1]),
          "the same examples with 1 and 4 threads");
    wf_dataset_free(d[0]), wf_dataset_free(d[1]);
}

int main(void) {
    lm_tok = byte_tokenizer(false);
    cls_tok = byte_tokenizer(true);
    test_chat();
    test_formats();
    test_sequence_tasks();
    test_bad_lines();
    test_chunks_and_split();
    test_cache();
    test_threads();
    test_idx();
    wf_tokenizer_free(lm_tok);
    wf_tokenizer_free(cls_tok);
    remove_scratch();
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("data: all checks passed\n");
    return failures ? 1 : 0;
}
