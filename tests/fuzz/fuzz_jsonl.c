/* libFuzzer target: arbitrary bytes as a JSONL data file, read the way wf_data_load reads one
 * (host/data/jsonl.c -> dataset.c tokenization -> loader.c batches) on the byte tokenizer of the
 * unit tests. The first byte picks the task, format, chat template, bad-line policy and seq_len,
 * so every layout and both policies are reached. The bytes are also read as a model's chat
 * template (the default-system-prompt scan). Built by tests/fuzz/run.sh. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/data/data_internal.h"
#include "../unit/data_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void batches(const wf_dataset *d, int64_t T, bool packing) {
    wf_loader_opts o = {.B = 2, .T = T, .packing = packing, .shuffle = true, .seed = 1, .world = 1};
    wf_loader *l;
    if (wf_loader_create(d, &o, &l) != WF_OK) return;
    wf_batch_host h;
    for (int i = 0; i < 4 && wf_loader_batches_per_epoch(l) > 0; i++)
        if (wf_loader_next(l, &h) == WF_OK) (void)wf_batch_loss_tokens(&h);
    wf_loader_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static wf_tokenizer *tok, *cls;
    static cJSON *label2id;
    static wf_chat_template chat[3], alpaca;
    if (!tok) {
        tok = byte_tokenizer(false);
        cls = byte_tokenizer(true);
        label2id = cJSON_Parse("{\"neg\": 0, \"pos\": 1}");
        wf_chat_template_from_jinja(WF_CHAT_CHATML, "'<|im_start|>system\\nDefault<|im_end|>'", tok,
                                    &chat[0]);
        wf_chat_template_from_jinja(WF_CHAT_LLAMA3, NULL, tok, &chat[1]);
        wf_chat_template_from_jinja(WF_CHAT_ALPACA, NULL, tok, &chat[2]);
        wf_chat_template_from_jinja(WF_CHAT_ALPACA, NULL, tok, &alpaca);
    }
    if (size < 1) return 0;
    if (size < 4096) { /* the same bytes as a model's Jinja chat template */
        char *jinja = malloc(size + 1);
        memcpy(jinja, data, size);
        jinja[size] = 0;
        wf_chat_template t;
        if (wf_chat_template_from_jinja(WF_CHAT_AUTO, jinja, tok, &t) == WF_OK) {
            wf_chat_msg m[2] = {{"user", "u", 1}, {"assistant", "a", 1}};
            wf_chat_text r;
            if (wf_chat_render(&t, m, 2, true, &r) == WF_OK) wf_chat_text_free(&r);
            wf_chat_template_free(&t);
        }
        free(jinja);
    }
    uint8_t c = data[0];
    static const wf_head_kind tasks[] = {WF_HEAD_LM, WF_HEAD_LM, WF_HEAD_SEQ_CLS,
                                         WF_HEAD_REGRESSION};
    static const wf_data_format fixed[] = {WF_DATA_AUTO, WF_DATA_MESSAGES, WF_DATA_AUTO,
                                           WF_DATA_AUTO};
    wf_head_kind task = tasks[c & 3];
    dt_parse p = {.path = "fuzz.jsonl",
                  .format = fixed[c & 3],
                  .task = task,
                  .chat = &chat[(c >> 2) % 3],
                  .alpaca = &alpaca,
                  .eos = alpaca.eos,
                  .n_labels = (c & 16) ? 2 : 0,
                  .label2id = (c & 32) ? label2id : NULL,
                  .skip = (c & 64) != 0};
    int64_t seq_len = (c & 128) ? 5 : 64;
    wf_dataset *d = NULL;
    if (dt_jsonl_parse(&p, (const char *)data + 1, size - 1) == WF_OK &&
        wf_dataset_create(task, 0, &d) == WF_OK &&
        dt_tokenize(task == WF_HEAD_LM ? tok : cls, p.recs, p.n, seq_len, p.path, p.skip, &p.stats,
                    d) == WF_OK) {
        batches(d, seq_len, true);
        batches(d, seq_len, false);
    }
    wf_dataset_free(d);
    dt_records_free(p.recs, p.n);
    free(p.recs);
    return 0;
}
