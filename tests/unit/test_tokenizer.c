/* The tokenizer module without Python: three small tokenizer.json files (byte-level BPE,
 * SentencePiece-style BPE with byte fallback, WordPiece with BertNormalizer and added-token
 * options) whose expected ids and decodes were produced by Hugging Face tokenizers 0.23.3;
 * construction from an in-memory vocabulary (GGUF style) giving the same ids; error messages for
 * malformed files and invalid UTF-8; concurrent encodes from several threads.
 * The exhaustive comparisons against tokenizers are in tests/interop/test_tokenizer.py. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "weft/tokenizer.h"


/* Fixtures are written with ' for " to stay readable; q() turns them into JSON. */
static char *q(const char *s) {
    char *j = strdup(s);
    for (char *p = j; *p; p++)
        if (*p == '\'') *p = '"';
    return j;
}

static const char T1[] = /* byte-level BPE, GPT-2 style; id 14 is a hole in the vocabulary */
    "{'version':'1.0',"
    " 'added_tokens':[{'id':14,'content':'<|endoftext|>','single_word':false,'lstrip':false,"
    "   'rstrip':false,'normalized':false,'special':true}],"
    " 'normalizer':null,"
    " 'pre_tokenizer':{'type':'ByteLevel','add_prefix_space':false,'trim_offsets':true,"
    "   'use_regex':true},"
    " 'post_processor':null,"
    " 'decoder':{'type':'ByteLevel','add_prefix_space':false,'trim_offsets':true,"
    "   'use_regex':true},"
    " 'model':{'type':'BPE','dropout':null,'unk_token':null,'fuse_unk':false,'byte_fallback':false,"
    "  'vocab':{'h':0,'e':1,'l':2,'o':3,'\\u0120':4,'w':5,'r':6,'d':7,'he':8,'ll':9,'hell':10,"
    "   'hello':11,'\\u0120w':12,'\\u0120wor':13,'or':15,'\\u010a':16,'\\u0120\\u0120':17,"
    "   '\\u00c3':18,'\\u00a9':19},"
    "  'merges':['h e','l l','he ll','hell o','\\u0120 w','o r','\\u0120w or','\\u0120 \\u0120']}}";

static const char T2[] = /* SentencePiece-style BPE (Llama-2) with byte fallback */
    "{'version':'1.0',"
    " 'added_tokens':[{'id':0,'content':'<unk>','special':true,'normalized':false,"
    "   'single_word':false,'lstrip':false,'rstrip':false},"
    "  {'id':1,'content':'<s>','special':true,'normalized':false,'single_word':false,"
    "   'lstrip':false,'rstrip':false}],"
    " 'normalizer':{'type':'Sequence','normalizers':[{'type':'Prepend','prepend':'\\u2581'},"
    "   {'type':'Replace','pattern':{'String':' '},'content':'\\u2581'}]},"
    " 'pre_tokenizer':null,"
    " 'post_processor':{'type':'TemplateProcessing',"
    "   'single':[{'SpecialToken':{'id':'<s>','type_id':0}},{'Sequence':{'id':'A','type_id':0}}],"
    "   'pair':[],'special_tokens':{'<s>':{'id':'<s>','ids':[1],'tokens':['<s>']}}},"
    " 'decoder':{'type':'Sequence','decoders':[{'type':'Replace','pattern':{'String':'\\u2581'},"
    "   'content':' '},{'type':'ByteFallback'},{'type':'Fuse'},"
    "   {'type':'Strip','content':' ','start':1,'stop':0}]},"
    " 'model':{'type':'BPE','unk_token':'<unk>','fuse_unk':true,'byte_fallback':true,"
    "  'vocab':{'<unk>':0,'<s>':1,'<0xC3>':2,'<0xA9>':3,'\\u2581':4,'a':5,'b':6,'\\u2581a':7,"
    "   'ab':8,'\\u2581ab':9,'<0xFF>':10},"
    "  'merges':[['\\u2581','a'],['a','b'],['\\u2581a','b']]}}";

static const char T3[] = /* WordPiece (BERT uncased), single_word and lstrip/rstrip tokens */
    "{'version':'1.0',"
    " 'added_tokens':[{'id':0,'content':'[UNK]','special':true,'normalized':false,"
    "   'single_word':false,'lstrip':false,'rstrip':false},"
    "  {'id':1,'content':'[CLS]','special':true,'normalized':false,'single_word':false,"
    "   'lstrip':false,'rstrip':false},"
    "  {'id':2,'content':'[SEP]','special':true,'normalized':false,'single_word':false,"
    "   'lstrip':false,'rstrip':false},"
    "  {'id':13,'content':'[DAY]','special':false,'normalized':false,'single_word':true,"
    "   'lstrip':false,'rstrip':false},"
    "  {'id':14,'content':'<mask>','special':true,'normalized':false,'lstrip':true,'rstrip':true,"
    "   'single_word':false}],"
    " 'normalizer':{'type':'BertNormalizer','clean_text':true,'handle_chinese_chars':true,"
    "   'strip_accents':null,'lowercase':true},"
    " 'pre_tokenizer':{'type':'BertPreTokenizer'},"
    " 'post_processor':{'type':'BertProcessing','sep':['[SEP]',2],'cls':['[CLS]',1]},"
    " 'decoder':{'type':'WordPiece','prefix':'##','cleanup':true},"
    " 'model':{'type':'WordPiece','unk_token':'[UNK]','continuing_subword_prefix':'##',"
    "  'max_input_chars_per_word':10,"
    "  'vocab':{'[UNK]':0,'[CLS]':1,'[SEP]':2,'un':3,'##aff':4,'##able':5,'cafe':6,'!':7,"
    "   '\\u4e2d':8,'a':9,'##a':10,'-':11,'s':12}}}";

typedef struct tcase {
    const char *text;
    size_t len; /* 0: strlen(text) */
    int32_t ids[12]; /* with special tokens */
    int n, n_plain;  /* ids without special tokens: ids[first..n) where first = n - n_plain - tail */
    int first;       /* index of the first non-template id in ids */
    const char *dec, *dec_skip; /* decode(ids, skip_special = false / true) */
} tcase;

static wf_tokenizer *load(const char *name, const char *fixture) {
    char *j = q(fixture);
    wf_tokenizer *t = NULL;
    if (wf_tokenizer_load_json(j, strlen(j), name, &t) != WF_OK)
        CHECK(0, "%s does not load: %s", name, wf_last_error());
    free(j);
    return t;
}

static void check_case(const wf_tokenizer *t, const char *name, const tcase *c) {
    size_t len = c->len ? c->len : strlen(c->text);
    wf_ids ids = {0};
    if (wf_tokenizer_encode(t, c->text, len, true, &ids) != WF_OK) {
        CHECK(0, "%s encode %s: %s", name, c->text, wf_last_error());
        return;
    }
    bool same = ids.len == (size_t)c->n;
    for (size_t i = 0; same && i < ids.len; i++) same = ids.data[i] == c->ids[i];
    CHECK(same, "%s encode \"%s\": %zu ids, expected %d (first: %d, expected %d)", name, c->text,
          ids.len, c->n, ids.len ? ids.data[0] : -1, c->n ? c->ids[0] : -1);
    wf_ids plain = {0};
    CHECK(wf_tokenizer_encode(t, c->text, len, false, &plain) == WF_OK, "%s", wf_last_error());
    same = plain.len == (size_t)c->n_plain;
    for (size_t i = 0; same && i < plain.len; i++) same = plain.data[i] == c->ids[c->first + i];
    CHECK(same, "%s encode \"%s\" without special tokens: %zu ids, expected %d", name, c->text,
          plain.len, c->n_plain);
    for (int skip = 0; skip < 2; skip++) {
        char *out = NULL;
        size_t ol = 0;
        const char *want = skip ? c->dec_skip : c->dec;
        if (wf_tokenizer_decode(t, c->ids, (size_t)c->n, skip, &out, &ol) != WF_OK)
            CHECK(0, "%s decode: %s", name, wf_last_error());
        else
            CHECK(ol == strlen(want) && memcmp(out, want, ol) == 0,
                  "%s decode(skip=%d) of \"%s\": expected \"%s\" got \"%.*s\"", name, skip,
                  c->text, want, (int)ol, out);
        free(out);
    }
    wf_ids_free(&ids);
    wf_ids_free(&plain);
}

static void test_fixtures(void) {
    /* expected values from tokenizers 0.23.3 (Tokenizer.from_str on the same JSON) */
    static const tcase c1[] = {
        {"hello world", 0, {11, 13, 2, 7}, 4, 4, 0, "hello world", "hello world"},
        /* the added token has no vocabulary id: tokenizers gives it the vocabulary's size, 19,
         * which the model also uses for "\u00a9" - and decodes it as the added token */
        {"hello<|endoftext|>  world\n", 0, {11, 19, 4, 13, 2, 7, 16}, 7, 7, 0,
         "hello<|endoftext|>  world\n", "hello  world\n"},
        {"h\xc3\xa9llo", 0, {0, 18, 19, 9, 3}, 5, 5, 0, "h\xef\xbf\xbd<|endoftext|>llo",
         "h\xef\xbf\xbdllo"},
        {" ", 0, {4}, 1, 1, 0, " ", " "},
        {"worldworld", 0, {5, 15, 2, 7, 5, 15, 2, 7}, 8, 8, 0, "worldworld", "worldworld"},
    };
    static const tcase c2[] = {
        {"ab a", 0, {1, 9, 7}, 3, 2, 1, "<s> ab a", "ab a"},
        {"ab \xc3\xa9", 0, {1, 9, 4, 2, 3}, 5, 4, 1, "<s> ab \xc3\xa9", "ab \xc3\xa9"},
        {"xyz ab", 0, {1, 4, 0, 9}, 4, 3, 1, "<s> <unk> ab", " ab"}, /* x, y, z fused to one unk */
        {"", 0, {1}, 1, 0, 1, "<s>", ""},
        {"a\xc3\xbf", 0, {1, 7, 0}, 3, 2, 1, "<s> a<unk>", "a"}, /* no <0xBF>: unk */
    };
    static const tcase c3[] = {
        {"Unaffable caf\xc3\xa9!", 0, {1, 3, 4, 5, 6, 7, 2}, 7, 5, 1, "[CLS] unaffable cafe! [SEP]",
         "unaffable cafe!"},
        {"\xe4\xb8\xad" "a", 0, {1, 8, 9, 2}, 4, 2, 1, "[CLS] \xe4\xb8\xad a [SEP]",
         "\xe4\xb8\xad a"},
        {"aaaaaaaaaaa a", 0, {1, 0, 9, 2}, 4, 2, 1, "[CLS] [UNK] a [SEP]", "a"}, /* > 10 chars */
        {"it-s", 0, {1, 0, 11, 12, 2}, 5, 3, 1, "[CLS] [UNK] - s [SEP]", "- s"},
        {"a[DAY] [DAY] x <mask> a", 0, {1, 9, 0, 0, 0, 13, 0, 14, 9, 2}, 10, 8, 1,
         "[CLS] a [UNK] [UNK] [UNK] [DAY] [UNK] <mask> a [SEP]", "a [DAY] a"},
        {"A\0\tb", 4, {1, 9, 0, 2}, 4, 2, 1, "[CLS] a [UNK] [SEP]", "a"}, /* NUL removed */
    };
    wf_tokenizer *t1 = load("T1.json", T1), *t2 = load("T2.json", T2), *t3 = load("T3.json", T3);
    if (!t1 || !t2 || !t3) return;
    for (size_t i = 0; i < sizeof c1 / sizeof *c1; i++) check_case(t1, "T1", &c1[i]);
    for (size_t i = 0; i < sizeof c2 / sizeof *c2; i++) check_case(t2, "T2", &c2[i]);
    for (size_t i = 0; i < sizeof c3 / sizeof *c3; i++) check_case(t3, "T3", &c3[i]);

    CHECK(wf_tokenizer_vocab_size(t1) == 20, "T1 vocab size %d", wf_tokenizer_vocab_size(t1));
    CHECK(wf_tokenizer_token_to_id(t1, "\xc4\xa0wor", 5) == 13, "token_to_id");
    CHECK(wf_tokenizer_token_to_id(t1, "nope", 4) == -1, "token_to_id of an unknown token");
    size_t n;
    const char *s = wf_tokenizer_id_to_token(t1, 11, &n);
    CHECK(s && n == 5 && memcmp(s, "hello", 5) == 0, "id_to_token");
    CHECK(!wf_tokenizer_id_to_token(t1, 14, &n) && !wf_tokenizer_id_to_token(t1, 99, &n),
          "id_to_token of a hole / out of range");
    wf_special_ids s2 = wf_tokenizer_special_ids(t2), s3 = wf_tokenizer_special_ids(t3);
    CHECK(s2.bos == 1 && s2.unk == 0 && s2.eos == -1, "T2 specials bos %d unk %d eos %d", s2.bos,
          s2.unk, s2.eos);
    CHECK(s3.cls == 1 && s3.sep == 2 && s3.unk == 0 && s3.mask == 14 && s3.bos == -1,
          "T3 specials cls %d sep %d unk %d mask %d", s3.cls, s3.sep, s3.unk, s3.mask);
    CHECK(wf_tokenizer_is_special(t3, 14) && !wf_tokenizer_is_special(t3, 13), "is_special");
    CHECK(wf_tokenizer_set_special(t3, WF_SPECIAL_PAD, 0) == WF_OK &&
              wf_tokenizer_special_ids(t3).pad == 0, "set_special");
    CHECK(wf_tokenizer_set_special(t3, WF_SPECIAL_PAD, 999) != WF_OK, "set_special range");

    /* ids outside the vocabulary are dropped when decoding */
    int32_t odd[] = {11, -5, 1000, 13, 2, 7};
    char *out;
    CHECK(wf_tokenizer_decode(t1, odd, 6, false, &out, NULL) == WF_OK && !strcmp(out, "hello world"),
          "decode with unknown ids");
    free(out);
    wf_tokenizer_free(t1);
    wf_tokenizer_free(t2);
    wf_tokenizer_free(t3);
}

/* Loads `fixture` with `from` replaced by `to`, expecting an error mentioning `want`. */
static void expect_error(const char *fixture, const char *from, const char *to, const char *want) {
    const char *f = strstr(fixture, from);
    CHECK(f, "test bug: \"%s\" not in the fixture", from);
    if (!f) return;
    size_t a = (size_t)(f - fixture), fl = strlen(from), tl = strlen(to), n = strlen(fixture);
    char *m = malloc(n - fl + tl + 1);
    memcpy(m, fixture, a);
    memcpy(m + a, to, tl);
    memcpy(m + a + tl, fixture + a + fl, n - a - fl + 1);
    char *j = q(m);
    wf_tokenizer *t = NULL;
    wf_status st = wf_tokenizer_load_json(j, strlen(j), "bad.json", &t);
    CHECK(st != WF_OK && !t, "no error for %s -> %s", from, to);
    CHECK(st == WF_OK || (strstr(wf_last_error(), want) && strstr(wf_last_error(), "bad.json")),
          "error for %s -> %s: expected \"%s\" in \"%s\"", from, to, want, wf_last_error());
    wf_tokenizer_free(t);
    free(m);
    free(j);
}

static void test_errors(void) {
    expect_error(T1, "'h e','l l'", "'h e',5", "model.merges[1]: expected \"a b\" or [\"a\",\"b\"]");
    expect_error(T1, "'h e','l l'", "'h e','x y'", "model.merges[1]: token \"x\" is not in the");
    expect_error(T1, "'h e','l l'", "'h e','h e e'", "model.merges[1]: expected");
    expect_error(T1, "'h':0", "'h':-1", "model.vocab.h: expected an integer id");
    expect_error(T1, "'h':0", "'h':'0'", "model.vocab.h: expected an integer id");
    expect_error(T1, "'type':'BPE'", "'type':'Unigram'", "model.type: model \"Unigram\" is not");
    expect_error(T1, "'normalizer':null", "'normalizer':{'type':'Foo'}",
                 "normalizer: normalizer type \"Foo\" is not supported");
    expect_error(T1, "'normalizer':null",
                 "'normalizer':{'type':'Sequence','normalizers':[{'type':'NFC'},{'kind':1}]}",
                 "normalizer.normalizers[1].type: expected a string");
    /* the first ByteLevel is the pre-tokenizer; its other fields are ignored by Split */
    expect_error(T1, "'type':'ByteLevel',",
                 "'type':'Split','pattern':{'Regex':'('},'behavior':'Isolated',",
                 "pre_tokenizer.pattern.Regex: regex does not compile");
    expect_error(T1, "'type':'ByteLevel',",
                 "'type':'Split','pattern':{'Regex':'a'},'behavior':'Sideways',",
                 "pre_tokenizer.behavior: expected Removed");
    expect_error(T1, "'add_prefix_space':false", "'add_prefix_space':1",
                 "pre_tokenizer.add_prefix_space: expected true or false");
    expect_error(T2, "'id':'<s>','type_id'", "'id':'<x>','type_id'",
                 "post_processor.single[0].SpecialToken: special token \"<x>\" is missing");
    expect_error(T3, "'max_input_chars_per_word':10", "'max_input_chars_per_word':-3",
                 "model.max_input_chars_per_word: expected an integer");
    expect_error(T2, "'start':1", "'start':1.5", "decoder.decoders[3].start: expected an integer");
    expect_error(T2, "'content':' ','start'", "'content':'ab','start'",
                 "decoder.decoders[3].content: expected a single character");
    expect_error(T1, "'version':'1.0'", "'version':'2.0'", "version: unknown tokenizer version");
    expect_error(T1, "'model':{", "'mode':{", "model: missing");
    expect_error(T1, "'dropout':null", "'dropout':0.1", "model.dropout");
    expect_error(T1, "'merges':['h e'", "'merges':['h e'}", "not valid JSON");

    /* truncated and non-UTF-8 files */
    char *j = q(T1);
    wf_tokenizer *t = NULL;
    CHECK(wf_tokenizer_load_json(j, strlen(j) / 2, "half.json", &t) != WF_OK && !t &&
              strstr(wf_last_error(), "half.json: not valid JSON"), "truncated: %s", wf_last_error());
    j[20] = (char)0xC3; /* a lead byte followed by ASCII */
    CHECK(wf_tokenizer_load_json(j, strlen(j), "utf.json", &t) != WF_OK &&
              strstr(wf_last_error(), "utf.json: not valid UTF-8 at byte 20"), "utf-8: %s",
          wf_last_error());
    free(j);
    CHECK(wf_tokenizer_load("/nonexistent/tokenizer.json", &t) != WF_OK &&
              strstr(wf_last_error(), "/nonexistent/tokenizer.json"), "missing file: %s",
          wf_last_error());

    /* invalid UTF-8 text is an error naming the byte; the output is left as it was */
    t = load("T1.json", T1);
    if (!t) return;
    wf_ids ids = {0};
    wf_ids_push(&ids, 42);
    CHECK(wf_tokenizer_encode(t, "he\xffllo", 6, true, &ids) != WF_OK && ids.len == 1 &&
              strstr(wf_last_error(), "at byte 2"), "invalid text: %s", wf_last_error());
    CHECK(wf_tokenizer_encode(t, "a\xed\xa0\x80", 4, true, &ids) != WF_OK &&
              strstr(wf_last_error(), "at byte 1"), "surrogate: %s", wf_last_error());
    CHECK(wf_tokenizer_encode(t, "ab\xe4\xb8", 4, true, &ids) != WF_OK &&
              strstr(wf_last_error(), "at byte 2"), "truncated character: %s", wf_last_error());
    /* encode appends */
    CHECK(wf_tokenizer_encode(t, "hello", 5, true, &ids) == WF_OK && ids.len == 2 &&
              ids.data[0] == 42 && ids.data[1] == 11, "encode appends");
    wf_ids_free(&ids);
    wf_tokenizer_free(t);
}

/* The same vocabularies as T1 and T2, handed over as GGUF metadata would be. */
static void test_from_vocab(void) {
    static const char *const bl_tokens[] = {
        "h", "e", "l", "o", "\xc4\xa0", "w", "r", "d", "he", "ll", "hell", "hello", "\xc4\xa0w",
        "\xc4\xa0wor", "<|endoftext|>", "or", "\xc4\x8a", "\xc4\xa0\xc4\xa0", "\xc3\x83", "\xc2\xa9"};
    static const char *const bl_merges[] = {"h e", "l l", "he ll", "hell o", "\xc4\xa0 w", "o r",
                                            "\xc4\xa0w or", "\xc4\xa0 \xc4\xa0"};
    int32_t types[20];
    for (int i = 0; i < 20; i++) types[i] = i == 14 ? WF_TOK_TYPE_CONTROL : WF_TOK_TYPE_NORMAL;
    wf_tokenizer_vocab v;
    wf_tokenizer_vocab_init(&v);
    v.kind = WF_TOK_BYTE_LEVEL_BPE;
    v.tokens = bl_tokens, v.n_tokens = 20, v.token_types = types;
    v.merges = bl_merges, v.n_merges = 8;
    v.pre = "gpt2", v.eos_id = 14;
    wf_tokenizer *t;
    if (wf_tokenizer_from_vocab(&v, &t) != WF_OK) {
        CHECK(0, "from_vocab (byte level): %s", wf_last_error());
        return;
    }
    static const tcase c1[] = {
        {"hello world", 0, {11, 13, 2, 7}, 4, 4, 0, "hello world", "hello world"},
        {"hello<|endoftext|>  world\n", 0, {11, 14, 4, 13, 2, 7, 16}, 7, 7, 0,
         "hello<|endoftext|>  world\n", "hello  world\n"},
        {"h\xc3\xa9llo", 0, {0, 18, 19, 9, 3}, 5, 5, 0, "h\xc3\xa9llo", "h\xc3\xa9llo"},
    };
    for (size_t i = 0; i < sizeof c1 / sizeof *c1; i++) check_case(t, "vocab/byte-level", &c1[i]);
    CHECK(wf_tokenizer_special_ids(t).eos == 14, "from_vocab eos");
    wf_tokenizer_free(t);

    /* SentencePiece: merges come from the scores (higher first) */
    static const char *const sp_tokens[] = {"<unk>", "<s>", "<0xC3>", "<0xA9>", "\xe2\x96\x81",
                                            "a", "b", "\xe2\x96\x81" "a", "ab", "\xe2\x96\x81" "ab",
                                            "<0xFF>"};
    static const float scores[] = {0, 0, 0, 0, -1, -2, -3, -4, -5, -6, 0};
    static const int32_t sp_types[] = {WF_TOK_TYPE_UNKNOWN, WF_TOK_TYPE_CONTROL, WF_TOK_TYPE_BYTE,
                                       WF_TOK_TYPE_BYTE, 1, 1, 1, 1, 1, 1, WF_TOK_TYPE_BYTE};
    wf_tokenizer_vocab_init(&v);
    v.kind = WF_TOK_SPM_BPE;
    v.tokens = sp_tokens, v.n_tokens = 11, v.scores = scores, v.token_types = sp_types;
    v.bos_id = 1, v.unk_id = 0, v.add_bos = true;
    if (wf_tokenizer_from_vocab(&v, &t) != WF_OK) {
        CHECK(0, "from_vocab (spm): %s", wf_last_error());
        return;
    }
    static const tcase c2[] = {
        {"ab a", 0, {1, 9, 7}, 3, 2, 1, "<s> ab a", "ab a"},
        {"ab \xc3\xa9", 0, {1, 9, 4, 2, 3}, 5, 4, 1, "<s> ab \xc3\xa9", "ab \xc3\xa9"},
        {"xyz ab", 0, {1, 4, 0, 9}, 4, 3, 1, "<s> <unk> ab", " ab"},
    };
    for (size_t i = 0; i < sizeof c2 / sizeof *c2; i++) check_case(t, "vocab/spm", &c2[i]);
    wf_tokenizer_free(t);

    v.pre = "nonesuch", v.kind = WF_TOK_BYTE_LEVEL_BPE, v.tokens = bl_tokens, v.n_tokens = 20;
    v.merges = bl_merges, v.n_merges = 8, v.token_types = NULL, v.bos_id = -1, v.unk_id = -1;
    CHECK(wf_tokenizer_from_vocab(&v, &t) != WF_OK && strstr(wf_last_error(), "nonesuch"),
          "unknown pre-tokenizer family: %s", wf_last_error());
}

/* Several threads encode the same texts; each must get the single-threaded ids. */
#define N_TEXTS 64
typedef struct job {
    const wf_tokenizer *t;
    char texts[N_TEXTS][64];
    wf_ids want[N_TEXTS];
    int bad;
} job;

static void *worker(void *p) {
    job *j = p;
    wf_ids ids = {0};
    for (int r = 0; r < 200; r++)
        for (int i = 0; i < N_TEXTS; i++) {
            ids.len = 0;
            if (wf_tokenizer_encode(j->t, j->texts[i], strlen(j->texts[i]), true, &ids) != WF_OK ||
                ids.len != j->want[i].len ||
                memcmp(ids.data, j->want[i].data, ids.len * sizeof *ids.data) != 0)
                __atomic_add_fetch(&j->bad, 1, __ATOMIC_RELAXED);
        }
    wf_ids_free(&ids);
    return NULL;
}

static void test_threads(void) {
    static job j;
    j.t = load("T1.json", T1);
    if (!j.t) return;
    static const char *const words[] = {"hello", "world", "hell", "or", "\n", "  ", "wor", "d"};
    for (int i = 0; i < N_TEXTS; i++) {
        char *s = j.texts[i];
        s[0] = 0;
        for (int k = 0; k < 1 + i % 7; k++) {
            strcat(s, words[(i * 7 + k * 3) % 8]);
            strcat(s, k % 2 ? " " : "");
        }
        wf_tokenizer_encode(j.t, s, strlen(s), true, &j.want[i]);
    }
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, worker, &j);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK(j.bad == 0, "%d concurrent encodes differ from the single-threaded ones", j.bad);
    for (int i = 0; i < N_TEXTS; i++) wf_ids_free(&j.want[i]);
    wf_tokenizer_free((wf_tokenizer *)j.t);
}

/* A long word (past the word cache's limit) and a long text give the same ids twice. */
static void test_long(void) {
    wf_tokenizer *t = load("T2.json", T2);
    if (!t) return;
    size_t n = 100000;
    char *s = malloc(n);
    for (size_t i = 0; i < n; i++) s[i] = "ab a"[i % 4 == 3 ? 2 : i % 2];
    wf_ids a = {0}, b = {0};
    CHECK(wf_tokenizer_encode(t, s, n, false, &a) == WF_OK, "%s", wf_last_error());
    CHECK(wf_tokenizer_encode(t, s, n, false, &b) == WF_OK, "%s", wf_last_error());
    CHECK(a.len == b.len && a.len > 1000 && !memcmp(a.data, b.data, a.len * sizeof *a.data),
          "long text: %zu then %zu ids", a.len, b.len);
    char *dec;
    size_t dl;
    CHECK(wf_tokenizer_decode(t, a.data, a.len, true, &dec, &dl) == WF_OK && dl == n &&
              !memcmp(dec, s, n), "long text round trip");
    free(dec);
    free(s);
    wf_ids_free(&a);
    wf_ids_free(&b);
    wf_tokenizer_free(t);
}

int main(void) {
    test_fixtures();
    test_errors();
    test_from_vocab();
    test_threads();
    test_long();
    printf("tokenizer: %d failures\n", failures);
    return failures ? 1 : 0;
}
