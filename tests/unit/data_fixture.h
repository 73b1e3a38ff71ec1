/* Shared by the data pipeline's unit tests: a CHECK macro that counts failures, a scratch
 * directory, and a byte tokenizer (byte-level BPE without merges, built with
 * wf_tokenizer_from_vocab) whose ids are the bytes of the text, so expected ids are readable:
 * "ab" -> 97 98. Special tokens follow at 256: see the SP_* ids. */
#ifndef WEFT_TEST_DATA_FIXTURE_H
#define WEFT_TEST_DATA_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect.h"
#include "weft/tokenizer.h"


enum {
    SP_EOT = 256,
    SP_IM_START,
    SP_IM_END,
    SP_BOT,
    SP_HDR_START,
    SP_HDR_END,
    SP_EOT_ID,
    SP_CLS,
    SP_SEP,
    N_VOCAB
};
static const char *const SPECIALS[] = {"<|endoftext|>",
                                       "<|im_start|>",
                                       "<|im_end|>",
                                       "<|begin_of_text|>",
                                       "<|start_header_id|>",
                                       "<|end_header_id|>",
                                       "<|eot_id|>",
                                       "[CLS]",
                                       "[SEP]"};

/* GPT-2's byte -> code point map (FORMATS.md "tokenizer.json"), UTF-8 encoded. */
static inline void byte_char(int b, char out[4]) {
    int cp = b, n = 0;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
        for (int k = 0; k < b; k++)
            n +=
                !((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF));
        cp = 256 + n;
    }
    if (cp < 0x80)
        out[0] = (char)cp, out[1] = 0;
    else
        out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

/* classify: [CLS] text [SEP] on encode with specials; else eos = <|im_end|>, pad = <|endoftext|>.
 */
static inline wf_tokenizer *byte_tokenizer(bool classify) {
    static char bytes[256][4];
    const char *tokens[N_VOCAB];
    int32_t types[N_VOCAB];
    for (int i = 0; i < N_VOCAB; i++) {
        if (i < 256)
            byte_char(i, bytes[i]), tokens[i] = bytes[i], types[i] = WF_TOK_TYPE_NORMAL;
        else
            tokens[i] = SPECIALS[i - 256], types[i] = WF_TOK_TYPE_CONTROL;
    }
    wf_tokenizer_vocab v;
    wf_tokenizer_vocab_init(&v);
    v.kind = WF_TOK_BYTE_LEVEL_BPE;
    v.n_tokens = N_VOCAB;
    v.tokens = tokens;
    v.token_types = types;
    v.pre = "gpt2";
    if (classify)
        v.bos_id = SP_CLS, v.eos_id = SP_SEP, v.add_bos = v.add_eos = true;
    else
        v.eos_id = SP_IM_END, v.pad_id = SP_EOT;
    wf_tokenizer *t = NULL;
    if (wf_tokenizer_from_vocab(&v, &t) != WF_OK) {
        fprintf(stderr, "byte tokenizer: %s\n", wf_last_error());
        exit(1);
    }
    return t;
}

static char scratch_dir[256];

static inline const char *scratch(const char *name) {
    static char path[8][512];
    static int k;
    if (!scratch_dir[0]) {
        snprintf(scratch_dir, sizeof scratch_dir, "/tmp/weft-data-test-XXXXXX");
        if (!mkdtemp(scratch_dir)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    k = (k + 1) % 8;
    snprintf(path[k], sizeof path[k], "%s/%s", scratch_dir, name);
    return path[k];
}

static inline const char *write_file(const char *name, const char *text) {
    const char *p = scratch(name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(text, 1, strlen(text), f) != strlen(text)) {
        perror(p);
        exit(1);
    }
    fclose(f);
    return p;
}

static inline void remove_scratch(void) {
    if (!scratch_dir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch_dir);
}

/* Compares n ids; prints the first mismatch. */
#define CHECK_IDS(got, want, n, what)                                                              \
    do {                                                                                           \
        for (int64_t ci_ = 0; ci_ < (int64_t)(n); ci_++)                                           \
            if ((got)[ci_] != (want)[ci_]) {                                                       \
                CHECK(0, "%s: index %lld: expected %d got %d", what, (long long)ci_,               \
                      (int)(want)[ci_], (int)(got)[ci_]);                                          \
                break;                                                                             \
            }                                                                                      \
    } while (0)

#endif
