/* The tokenizer of a model (tokenizer_model.h) without Python: a GGUF built here in memory
 * (byte-level tokens, merges, token types, special ids, flags, chat template) gives the ids its
 * vocabulary implies, with and without special tokens; malformed metadata gives errors naming
 * the file and key; an HF directory's tokenizer.json gets its special ids from
 * tokenizer_config.json / config.json; chat templates from each place a model keeps one; the
 * fingerprint follows the files. The real SmolLM2 GGUF is tests/interop/test_data.py's. */
#include <stdint.h>
#include <sys/stat.h>

#include "data_fixture.h"
#include "weft/tokenizer_model.h"

/* ---- a GGUF writer for metadata only (FORMATS.md "GGUF") ---- */
typedef struct gbuf {
    unsigned char b[1 << 16];
    size_t n;
    uint64_t kv;
} gbuf;

static void put(gbuf *g, const void *p, size_t n) {
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void u32(gbuf *g, uint32_t v) { put(g, &v, 4); }
static void u64(gbuf *g, uint64_t v) { put(g, &v, 8); }
static void str(gbuf *g, const char *s) {
    u64(g, strlen(s));
    put(g, s, strlen(s));
}
static void key(gbuf *g, const char *k, uint32_t type) {
    str(g, k);
    u32(g, type);
    g->kv++;
}
static void kv_str(gbuf *g, const char *k, const char *v) {
    key(g, k, WF_GGUF_STRING);
    str(g, v);
}
static void kv_u32(gbuf *g, const char *k, uint32_t v) {
    key(g, k, WF_GGUF_U32);
    u32(g, v);
}
static void kv_bool(gbuf *g, const char *k, bool v) {
    key(g, k, WF_GGUF_BOOL);
    unsigned char c = v;
    put(g, &c, 1);
}
static void kv_strs(gbuf *g, const char *k, const char *const *v, size_t n) {
    key(g, k, WF_GGUF_ARRAY);
    u32(g, WF_GGUF_STRING);
    u64(g, n);
    for (size_t i = 0; i < n; i++) str(g, v[i]);
}
static void kv_i32s(gbuf *g, const char *k, const int32_t *v, size_t n) {
    key(g, k, WF_GGUF_ARRAY);
    u32(g, WF_GGUF_I32);
    u64(g, n);
    put(g, v, n * 4);
}

/* Header (kv count patched in at the end), no tensors. */
static void begin(gbuf *g) {
    g->n = 0, g->kv = 0;
    put(g, "GGUF", 4);
    u32(g, 3);
    u64(g, 0);
    u64(g, 0);
}
static void end(gbuf *g) { memcpy(g->b + 16, &g->kv, 8); }

/* Tokens: the 256 byte characters, merges "h e" -> "he", "he l" -> "hel", then the specials. */
enum { T_HE = 256, T_HEL, T_ENDOFTEXT, T_IM_START, T_IM_END, N_TOK };
static char bytes[256][4];
static const char *tokens[N_TOK];
static int32_t types[N_TOK];

static void vocab(gbuf *g, bool with_types, const char *model) {
    for (int i = 0; i < 256; i++) byte_char(i, bytes[i]), tokens[i] = bytes[i], types[i] = 1;
    tokens[T_HE] = "he", tokens[T_HEL] = "hel";
    tokens[T_ENDOFTEXT] = "<|endoftext|>", tokens[T_IM_START] = "<|im_start|>",
    tokens[T_IM_END] = "<|im_end|>";
    types[T_HE] = types[T_HEL] = 1;
    types[T_ENDOFTEXT] = types[T_IM_START] = types[T_IM_END] = 3;
    static const char *merges[] = {"h e", "he l"};
    kv_str(g, "general.architecture", "llama");
    kv_str(g, "tokenizer.ggml.model", model);
    kv_str(g, "tokenizer.ggml.pre", "smollm");
    kv_strs(g, "tokenizer.ggml.tokens", tokens, N_TOK);
    if (with_types) kv_i32s(g, "tokenizer.ggml.token_type", types, N_TOK);
    kv_strs(g, "tokenizer.ggml.merges", merges, 2);
}

static void expect_ids(const wf_tokenizer *t, const char *text, bool special, const int32_t *want,
                       size_t n) {
    wf_ids ids = {0};
    CHECK(wf_tokenizer_encode(t, text, strlen(text), special, &ids) == WF_OK, "encode: %s",
          wf_last_error());
    CHECK(ids.len == n, "\"%s\": %zu ids, expected %zu", text, ids.len, n);
    if (ids.len == n) CHECK_IDS(ids.data, want, n, text);
    wf_ids_free(&ids);
}

static wf_tokenizer *from(gbuf *g, wf_status want) {
    end(g);
    wf_gguf *f = NULL;
    wf_tokenizer *t = NULL;
    if (wf_gguf_parse(g->b, g->n, "t.gguf", &f) != WF_OK) {
        CHECK(0, "parse: %s", wf_last_error());
        return NULL;
    }
    wf_status st = wf_tokenizer_from_gguf(f, &t);
    CHECK(st == want, "from_gguf: status %d, expected %d: %s", st, want, wf_last_error());
    wf_gguf_close(f);
    return t;
}

static void test_gguf(void) {
    gbuf *g = calloc(1, sizeof *g);
    begin(g);
    vocab(g, true, "gpt2");
    kv_u32(g, "tokenizer.ggml.bos_token_id", T_IM_START);
    kv_u32(g, "tokenizer.ggml.eos_token_id", T_IM_END);
    kv_u32(g, "tokenizer.ggml.padding_token_id", T_ENDOFTEXT);
    kv_bool(g, "tokenizer.ggml.add_bos_token", true);
    wf_tokenizer *t = from(g, WF_OK);
    if (t) {
        /* digits isolated (pre "smollm"), merges applied, specials whole */
        int32_t a[] = {T_IM_START, T_HEL, 'l', 'o', ' ', '1', '2', T_IM_END};
        expect_ids(t, "hello 12<|im_end|>", true, a, 8);
        expect_ids(t, "hello 12<|im_end|>", false, a + 1, 7);
        wf_special_ids s = wf_tokenizer_special_ids(t);
        CHECK(s.bos == T_IM_START && s.eos == T_IM_END && s.pad == T_ENDOFTEXT && s.unk == -1,
              "special ids %d %d %d %d", s.bos, s.eos, s.pad, s.unk);
        CHECK(wf_tokenizer_is_special(t, T_IM_END) && !wf_tokenizer_is_special(t, T_HE),
              "control tokens are special");
        wf_tokenizer_free(t);
    }
    begin(g);
    vocab(g, true, "bert");
    CHECK(!from(g, WF_ERR_UNSUPPORTED) && strstr(wf_last_error(), "tokenizer.ggml.model \"bert\""),
          "unsupported model: %s", wf_last_error());
    begin(g);
    vocab(g, false, "gpt2");
    kv_i32s(g, "tokenizer.ggml.token_type", types, 5);
    CHECK(!from(g, WF_ERR_FORMAT) &&
              strstr(wf_last_error(), "t.gguf: key 'tokenizer.ggml.token_type' has 5 entries"),
          "token_type length: %s", wf_last_error());
    begin(g);
    vocab(g, true, "gpt2");
    kv_u32(g, "tokenizer.ggml.eos_token_id", 9999);
    CHECK(!from(g, WF_ERR_FORMAT) && strstr(wf_last_error(), "special token id 9999 is outside"),
          "eos out of range: %s", wf_last_error());
    begin(g);
    kv_str(g, "tokenizer.ggml.model", "gpt2");
    CHECK(!from(g, WF_ERR_FORMAT) && strstr(wf_last_error(), "tokenizer.ggml.tokens"),
          "no tokens: %s", wf_last_error());

    /* the same file on disk: wf_tokenizer_for_model, the chat template, the fingerprint */
    begin(g);
    vocab(g, true, "gpt2");
    kv_str(g, "tokenizer.chat_template", "{{ '<|im_start|>' }}");
    end(g);
    const char *path = scratch("m.gguf");
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(g->b, 1, g->n, f) == g->n, "write gguf");
    fclose(f);
    char *tpl = NULL;
    uint64_t h1 = 0, h2 = 0;
    CHECK(wf_tokenizer_for_model(path, &t) == WF_OK, "for_model(gguf): %s", wf_last_error());
    wf_tokenizer_free(t);
    CHECK(wf_model_chat_template(path, &tpl) == WF_OK && tpl &&
              !strcmp(tpl, "{{ '<|im_start|>' }}"),
          "GGUF chat template");
    free(tpl);
    CHECK(wf_tokenizer_model_hash(path, &h1) == WF_OK, "hash");
    begin(g);
    vocab(g, true, "gpt2");
    end(g);
    f = fopen(path, "wb");
    CHECK(f && fwrite(g->b, 1, g->n, f) == g->n, "rewrite gguf");
    fclose(f);
    CHECK(wf_tokenizer_model_hash(path, &h2) == WF_OK && h1 != h2,
          "the fingerprint covers tokenizer.* keys");
    free(g);
}

static const char TOKENIZER_JSON[] =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":3,\"content\":\"</s>\",\"single_word\":false,"
    "\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},{\"id\":4,"
    "\"content\":\"<pad>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":"
    "false,"
    "\"special\":true}],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\","
    "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},\"post_processor\":null,"
    "\"decoder\":null,\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
    "\"merges\":[\"a b\"]}}";

static void test_hf_dir(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s", scratch("hf"));
    mkdir(dir, 0755);
    write_file("hf/tokenizer.json", TOKENIZER_JSON);
    write_file("hf/config.json", "{\"pad_token_id\": 4, \"eos_token_id\": [1, 2]}");
    wf_tokenizer *t;
    CHECK(wf_tokenizer_for_model(dir, &t) == WF_OK, "for_model(dir): %s", wf_last_error());
    wf_special_ids s = wf_tokenizer_special_ids(t);
    CHECK(s.pad == 4 && s.eos == 1, "config.json ids: pad %d eos %d", s.pad, s.eos);
    wf_tokenizer_free(t);
    write_file("hf/tokenizer_config.json",
               "{\"eos_token\": {\"content\": \"</s>\"}, \"pad_token\": null,"
               " \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
               " {\"name\": \"default\", \"template\": \"D\"}]}");
    CHECK(wf_tokenizer_for_model(dir, &t) == WF_OK, "for_model(dir): %s", wf_last_error());
    s = wf_tokenizer_special_ids(t);
    CHECK(s.pad == 4 && s.eos == 3, "tokenizer_config.json first: pad %d eos %d", s.pad, s.eos);
    wf_tokenizer_free(t);
    char *tpl = NULL;
    CHECK(wf_model_chat_template(dir, &tpl) == WF_OK && tpl && !strcmp(tpl, "D"),
          "the default template");
    free(tpl);
    uint64_t h1, h2;
    CHECK(wf_tokenizer_model_hash(dir, &h1) == WF_OK, "hash");
    write_file("hf/tokenizer_config.json", "{}");
    write_file("hf/chat_template.jinja", "J");
    CHECK(wf_model_chat_template(dir, &tpl) == WF_OK && tpl && !strcmp(tpl, "J"),
          "chat_template.jinja");
    free(tpl);
    CHECK(wf_tokenizer_model_hash(dir, &h2) == WF_OK && h1 != h2,
          "the fingerprint covers tokenizer_config.json");
    write_file("hf/tokenizer.json", "{");
    CHECK(wf_tokenizer_for_model(dir, &t) != WF_OK && strstr(wf_last_error(), "tokenizer.json"),
          "a broken tokenizer.json is named: %s", wf_last_error());
    char none[300];
    snprintf(none, sizeof none, "%s", scratch("empty"));
    mkdir(none, 0755);
    CHECK(wf_tokenizer_for_model(none, &t) == WF_ERR_IO &&
              strstr(wf_last_error(), "no tokenizer.json"),
          "a directory without tokenizer.json: %s", wf_last_error());
}

int main(void) {
    test_gguf();
    test_hf_dir();
    remove_scratch();
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("tokenizer_model: all checks passed\n");
    return failures ? 1 : 0;
}
