/* libFuzzer target: arbitrary bytes as a tokenizer.json (wf_tokenizer_load_json). When they load,
 * the tokenizer also encodes a fixed multilingual text and the input itself, and decodes ids,
 * so the components a file can build are exercised too. Built by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wf_tokenizer *t = NULL;
    if (wf_tokenizer_load_json((const char *)data, size, "fuzz.json", &t) != WF_OK) return 0;
    static const char text[] = "Hello, world! It's 2024:  caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 "
                               "\xf0\x9f\x98\x80\t\n<s>[CLS]<|endoftext|> 12345 \xe2\x96\x81x";
    wf_ids ids = {0};
    for (int special = 0; special < 2; special++) {
        ids.len = 0;
        if (wf_tokenizer_encode(t, text, sizeof text - 1, special, &ids) == WF_OK) {
            char *out = NULL;
            if (wf_tokenizer_decode(t, ids.data, ids.len, special, &out, NULL) == WF_OK) free(out);
        }
    }
    if (size < 4096) { /* the file is valid UTF-8 once it loads: encode it as text too */
        ids.len = 0;
        (void)wf_tokenizer_encode(t, (const char *)data, size, true, &ids);
    }
    int32_t some[64];
    int32_t n = wf_tokenizer_vocab_size(t);
    for (int i = 0; i < 64; i++) some[i] = n > 0 ? (int32_t)((i * 7919) % (n + 2)) - 1 : i;
    char *out = NULL;
    if (wf_tokenizer_decode(t, some, 64, false, &out, NULL) == WF_OK) free(out);
    size_t len;
    (void)wf_tokenizer_id_to_token(t, some[3], &len);
    wf_ids_free(&ids);
    wf_tokenizer_free(t);
    return 0;
}
