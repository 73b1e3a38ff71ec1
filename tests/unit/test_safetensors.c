/* safetensors reading, writing and sharded models (include/weft/safetensors.h).
 * Every rejection rule of shared/reference/FORMATS.md gets a hand-built file and must fail with
 * WF_ERR_FORMAT and a message naming the file and the offending tensor / field; then valid
 * edge cases, fp32 conversion, write -> read round trips, atomicity, streamed writes, and sharded
 * directories. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/dtype.h"
#include "weft/mapped_file.h"
#include "weft/safetensors.h"
#include "expect.h"


static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* A file image: u64 LE n, the header text, then `data` bytes 0, 1, 2, ... */
static unsigned char *image(uint64_t n, const char *header, size_t data, size_t *size) {
    size_t hl = strlen(header);
    *size = 8 + hl + data;
    unsigned char *b = malloc(*size + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < data; i++) b[8 + hl + i] = (unsigned char)i;
    return b;
}

/* Checks status `want` and that the message holds every substring (NULL-terminated list). */
static void expect_error(const char *what, wf_status got, wf_status want, ...) {
    const char *msg = wf_last_error();
    bool ok = got == want;
    va_list ap;
    va_start(ap, want);
    for (const char *sub; (sub = va_arg(ap, const char *));) ok = ok && strstr(msg, sub);
    va_end(ap);
    if (!ok && failures++ < 20)
        fprintf(stderr, "FAIL %s: expected %s, got %s: \"%s\"\n", what, wf_status_name(want),
                wf_status_name(got), msg);
}

typedef struct reject_case {
    const char *what, *header;
    size_t data;
    const char *sub[2]; /* must appear in the message, besides the file name */
} reject_case;

#define F32_22 "{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}"

/* One case per rule, in FORMATS.md's order; the header length is always right. */
static const reject_case CASES[] = {
    {"utf8: stray byte", "{\"w\xff\":" F32_22 "}", 16, {"not valid UTF-8", "byte 11"}},
    {"utf8: overlong", "{\"w\xc0\xaf\":" F32_22 "}", 16, {"not valid UTF-8", NULL}},
    {"utf8: surrogate", "{\"w\xed\xa0\x80\":" F32_22 "}", 16, {"not valid UTF-8", NULL}},
    {"json: trailing comma", "{\"w\":" F32_22 ",}", 16, {"invalid JSON", "expected a string"}},
    {"json: unclosed", "{\"w\":" F32_22, 16, {"invalid JSON", "',' or '}'"}},
    {"json: garbage after", "{\"w\":" F32_22 "}x", 16, {"nothing but whitespace", NULL}},
    {"json: not an object", "[1]", 0, {"must be a JSON object", "an array"}},
    {"json: control char",
     "{\"w\n\":" F32_22 "}",
     16,
     {"byte 11: expected no raw control character", "found \"\\x0a\":{"}},
    {"json: lone surrogate", "{\"w\\ud800\":" F32_22 "}", 16, {"trailing surrogate", NULL}},
    {"json: bad escape", "{\"w\\x\":" F32_22 "}", 16, {"invalid JSON", NULL}},
    {"json: leading zero",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}",
     8,
     {"invalid JSON", "',' or ']'"}},
    {"json: bad literal",
     "{\"w\":{\"dtype\":\"F32\",\"x\":tru,\"shape\":[2],\"data_offsets\":[0,8]}}",
     8,
     {"invalid JSON", "a JSON value"}},
    {"unknown dtype",
     "{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w'", "unknown dtype \"Q4_K\""}},
    {"entry not an object", "{\"w\":[1,2]}", 0, {"tensor 'w'", "expected an object"}},
    {"missing dtype",
     "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w'", "missing \"dtype\""}},
    {"missing shape",
     "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w'", "missing \"shape\""}},
    {"missing offsets",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}",
     8,
     {"tensor 'w'", "missing \"data_offsets\""}},
    {"dtype not a string",
     "{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w'", "\"dtype\" must be a string, found a number"}},
    {"shape not an array",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w'", "\"shape\" must be an array"}},
    {"offsets: three",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}",
     8,
     {"tensor 'w'", "more than two"}},
    {"offsets: one",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}",
     8,
     {"tensor 'w'", "found 1"}},
    {"offsets: negative",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-0,8]}}",
     8,
     {"tensor 'w': data_offsets[0]", "non-negative integer"}},
    {"field twice",
     "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w'", "\"dtype\" appears twice"}},
    {"shape: negative",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w': shape[1]", "found a number \"-1"}},
    {"shape: fraction",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w': shape[0]", "non-negative integer"}},
    {"shape: exponent",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w': shape[0]", "non-negative integer"}},
    {"shape: string",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w': shape[0]", "found a string"}},
    {"shape: 2^64",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[18446744073709551616],"
     "\"data_offsets\":[0,8]}}",
     8,
     {"tensor 'w': shape[0]", "does not fit in 64 bits"}},
    {"offsets: gap",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
     10,
     {"tensor 'b'", "leave a gap: expected it to begin at 4, where tensor 'a' ends"}},
    {"offsets: first not at 0",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
     6,
     {"tensor 'a'", "leave a gap: expected it to begin at 0"}},
    {"offsets: overlap",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
     6,
     {"tensor 'b'", "overlap tensor 'a'"}},
    {"offsets: end < begin",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
     "\"c\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
     "\"d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}",
     1,
     {"tensor 'd'", "end before they begin"}},
    {"overflow: elements",
     "{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],"
     "\"data_offsets\":[0,0]}}",
     0,
     {"tensor 'w'", "overflows a 64-bit element count"}},
    {"overflow: bits",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[1152921504606846976],"
     "\"data_offsets\":[0,0]}}",
     0,
     {"tensor 'w'", "overflows a 64-bit bit count"}},
    {"sub-byte remainder",
     "{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}",
     2,
     {"tensor 'w'", "3 elements of F4 (4 bits each) do not fill whole bytes"}},
    {"size mismatch",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}",
     12,
     {"tensor 'w'", "hold 12 bytes, but F32 shape [2, 2] needs 16"}},
    {"trailing bytes", "{\"w\":" F32_22 "}", 17, {"data is 16 bytes", "trailing bytes"}},
    {"truncated data", "{\"w\":" F32_22 "}", 15, {"data is 16 bytes", "truncated file"}},
    {"duplicate name",
     "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
     "\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
     4,
     {"tensor name 'w'", "more than once"}},
    {"duplicate entry",
     "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
     "\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
     2,
     {"tensor name 'w'", "more than once"}},
    {"metadata: value not a string",
     "{\"__metadata__\":{\"format\":\"pt\",\"n\":3}}",
     0,
     {"__metadata__ key 'n'", "must be a string, found a number"}},
    {"metadata: not an object",
     "{\"__metadata__\":[\"pt\"]}",
     0,
     {"\"__metadata__\" must be an object of strings", NULL}},
    {"metadata: twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, {"appears twice", NULL}},
    {"metadata: key twice",
     "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}",
     0,
     {"__metadata__ key 'a'", "more than once"}},
};

static void test_rejections(void) {
    for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
        const reject_case *k = &CASES[c];
        size_t size;
        unsigned char *b = image(strlen(k->header), k->header, k->data, &size);
        wf_st_file *f = (wf_st_file *)1;
        wf_status s = wf_st_parse(b, size, "bad.safetensors", &f);
        expect_error(k->what, s, WF_ERR_FORMAT, "bad.safetensors: ", k->sub[0] ? k->sub[0] : "",
                     k->sub[1] ? k->sub[1] : "", NULL);
        EXPECT(f == NULL);
        free(b);
    }
    /* the three rules before the JSON: the file's length and the header length N */
    size_t size;
    unsigned char *b = image(2, "{}", 0, &size);
    wf_st_file *f;
    expect_error("short file", wf_st_parse(b, 7, "x.st", &f), WF_ERR_FORMAT, "x.st: 7 bytes",
                 "too short", NULL);
    expect_error("empty file", wf_st_parse(NULL, 0, "x.st", &f), WF_ERR_FORMAT, "x.st: 0 bytes",
                 NULL);
    free(b);
    b = image(100000001, "{}", 0, &size);
    expect_error("N too big", wf_st_parse(b, size, "x.st", &f), WF_ERR_FORMAT,
                 "x.st: header length 100000001 exceeds the 100000000-byte limit", NULL);
    free(b);
    b = image(UINT64_MAX, "{}", 0, &size);
    expect_error("N = 2^64-1", wf_st_parse(b, size, "x.st", &f), WF_ERR_FORMAT, "exceeds", NULL);
    free(b);
    b = image(3, "{}", 0, &size);
    expect_error("N past EOF", wf_st_parse(b, size, "x.st", &f), WF_ERR_FORMAT,
                 "x.st: header length 3 runs past the end of the file (10 bytes)", NULL);
    free(b);
    /* 2 objects + 126 arrays = 128 levels of nesting, past serde_json's limit, inside a field
     * the reader otherwise skips; 127 levels are fine */
    for (int arrays = 126; arrays >= 125; arrays--) {
        char deep[600];
        int w = snprintf(deep, sizeof deep, "{\"w\":{\"x\":");
        for (int i = 0; i < arrays; i++) deep[w++] = '[';
        for (int i = 0; i < arrays; i++) deep[w++] = ']';
        snprintf(deep + w, sizeof deep - (size_t)w,
                 ",\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}");
        b = image(strlen(deep), deep, 1, &size);
        if (arrays == 126)
            expect_error("too deep", wf_st_parse(b, size, "x.st", &f), WF_ERR_FORMAT, "127 levels",
                         NULL);
        else
            EXPECT(wf_st_parse(b, size, "x.st", &f) == WF_OK);
        if (arrays == 125) wf_st_close(f);
        free(b);
    }
    /* a name holding U+0000 cannot be a C string: refused, not silently cut */
    const char *h = "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    b = image(strlen(h), h, 1, &size);
    expect_error("NUL in name", wf_st_parse(b, size, "x.st", &f), WF_ERR_UNSUPPORTED, "U+0000",
                 NULL);
    free(b);
}

/* Legal oddities: padding, null metadata, unknown fields, escapes, rank 0, zero size, order. */
static void test_valid(void) {
    const char *h =
        "  {\"__metadata__\":null,"
        "\"z\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8],\"extra\":{\"k\":[1,{}]}},"
        "\"caf\\u00e9\\ud83d\\ude00\\\"\\n\":{\"shape\":[0,3],\"data_offsets\":[4,4],\"dtype\":"
        "\"BF16\"},"
        "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}     ";
    size_t size;
    unsigned char *b = image(strlen(h), h, 8, &size);
    wf_st_file *f = NULL;
    EXPECT(wf_st_parse(b, size, "ok.st", &f) == WF_OK);
    if (!f) {
        fprintf(stderr, "  %s\n", wf_last_error());
        free(b);
        return;
    }
    EXPECT(wf_st_count(f) == 3 && wf_st_metadata_count(f) == 0);
    /* file order is offset order: a [0,4], then the empty tensor [4,4], then z [4,8] */
    EXPECT(strcmp(wf_st_tensor_at(f, 0)->name, "a") == 0);
    EXPECT(strcmp(wf_st_tensor_at(f, 1)->name, "caf\xc3\xa9\xf0\x9f\x98\x80\"\n") == 0);
    EXPECT(strcmp(wf_st_tensor_at(f, 2)->name, "z") == 0);
    EXPECT(wf_st_tensor_at(f, 3) == NULL && wf_st_find(f, "nope") == NULL);
    const wf_st_tensor *z = wf_st_find(f, "z"),
                       *e = wf_st_find(f, "caf\xc3\xa9\xf0\x9f\x98\x80\"\n");
    EXPECT(z && z->ndim == 0 && z->numel == 1 && z->nbytes == 4 && z->dtype == WF_ST_F32);
    EXPECT(z && z->data == b + 8 + strlen(h) + 4 && strcmp(z->file, "ok.st") == 0);
    EXPECT(e && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3 && e->numel == 0 &&
           e->nbytes == 0);
    float v[2] = {0, 0};
    EXPECT(e && wf_st_read_f32(e, v, 0) == WF_OK);
    wf_st_close(f);
    free(b);
    /* the smallest file: "{}" and nothing else */
    b = image(2, "{}", 0, &size);
    EXPECT(wf_st_parse(b, size, "empty.st", &f) == WF_OK && wf_st_count(f) == 0);
    EXPECT(f && wf_st_find(f, "a") == NULL && wf_st_metadata(f, "format") == NULL);
    wf_st_close(f);
    free(b);
}

/* F32/F16/BF16/F64 to fp32 exactly as dtype.h converts; other dtypes and wrong counts refused. */
static void test_read_f32(void) {
    const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
                    "\"f32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]},"
                    "\"f16\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]},"
                    "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[20,22]},"
                    "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[22,26]}}";
    size_t size;
    unsigned char *b = image(strlen(h), h, 26, &size);
    unsigned char *d = b + 8 + strlen(h);
    float f32[2] = {1.5f, -0.0f};
    double f64 = 0.1;
    uint16_t f16[2] = {0x3c00, 0xfc00}, bf16 = 0x4049; /* 1, -inf, 3.140625 */
    memcpy(d, f32, 8), memcpy(d + 8, &f64, 8), memcpy(d + 16, f16, 4), memcpy(d + 20, &bf16, 2);
    wf_st_file *f = NULL;
    EXPECT(wf_st_parse(b, size, "conv.st", &f) == WF_OK);
    if (!f) {
        fprintf(stderr, "  %s\n", wf_last_error());
        free(b);
        return;
    }
    EXPECT(strcmp(wf_st_metadata(f, "format"), "pt") == 0 &&
           strcmp(wf_st_metadata(f, "note"), "x") == 0);
    EXPECT(strcmp(wf_st_metadata_at(f, 1)->key, "note") == 0 && wf_st_metadata(f, "nope") == NULL);
    float out[2];
    EXPECT(wf_st_read_f32(wf_st_find(f, "f32"), out, 2) == WF_OK && out[0] == 1.5f &&
           wf_f32_bits(out[1]) == 0x80000000u);
    EXPECT(wf_st_read_f32(wf_st_find(f, "f64"), out, 1) == WF_OK && out[0] == 0.1f);
    EXPECT(wf_st_read_f32(wf_st_find(f, "f16"), out, 2) == WF_OK && out[0] == 1.0f && out[1] < 0 &&
           out[1] * 0 != 0);
    EXPECT(wf_st_read_f32(wf_st_find(f, "bf16"), out, 1) == WF_OK && out[0] == 3.140625f);
    expect_error("read I32", wf_st_read_f32(wf_st_find(f, "i32"), out, 1), WF_ERR_UNSUPPORTED,
                 "conv.st: tensor 'i32' is I32", NULL);
    expect_error("read count", wf_st_read_f32(wf_st_find(f, "f32"), out, 1), WF_ERR_INVALID,
                 "conv.st: tensor 'f32': asked for 1 values, but it holds 2", NULL);
    wf_st_close(f);
    free(b);
}

static uint64_t file_header_len(const char *path) {
    wf_mapped_file m;
    uint64_t n = 0;
    if (wf_file_map(path, &m) != WF_OK) return 0;
    for (int i = 7; i >= 0 && m.size >= 8; i--) n = n << 8 | m.data[i];
    wf_file_unmap(&m);
    return n;
}

/* write -> read: names (in the given order), dtypes, shapes, bytes, metadata, alignment. */
static void test_round_trip(void) {
    float w[6] = {1, -2, 3.5f, 0, 1e-30f, -7};
    uint16_t h[3] = {0x3c00, 0x4000, 0xbc00};
    int64_t ids[2] = {-1, (int64_t)1 << 40};
    double pi = 3.14159265358979;
    unsigned char mask[3] = {1, 0, 1}, f4[2] = {0x21, 0x43};
    const int64_t s23[] = {2, 3}, s3[] = {3}, s2[] = {2}, s03[] = {0, 3}, s4[] = {4};
    const wf_st_entry e[] = {
        {"model.w \"q\"\\\n\xc3\xa9", WF_ST_F32, 2, s23, w},
        {"half", WF_ST_F16, 1, s3, h},
        {"ids", WF_ST_I64, 1, s2, ids},
        {"scalar", WF_ST_F64, 0, NULL, &pi},
        {"empty", WF_ST_BF16, 2, s03, NULL},
        {"mask", WF_ST_BOOL, 1, s3, mask},
        {"packed", WF_ST_F4, 1, s4, f4},
    };
    const int n = (int)(sizeof e / sizeof *e);
    const wf_st_kv meta[] = {{"format", "pt"}, {"weft.step", "12"}, {"note", "tab\there"}};
    const char *path = tmp_path("rt.safetensors");
    wf_status s = wf_st_write(path, e, n, meta, 3);
    EXPECT(s == WF_OK);
    if (s != WF_OK) fprintf(stderr, "  %s\n", wf_last_error());
    EXPECT(file_header_len(path) % 8 == 0); /* so the data starts at a multiple of 8 */
    wf_st_file *f = NULL;
    EXPECT(wf_st_open(path, &f) == WF_OK);
    if (!f) {
        fprintf(stderr, "  %s\n", wf_last_error());
        return;
    }
    EXPECT(wf_st_count(f) == n && strcmp(wf_st_name(f), path) == 0);
    for (int i = 0; i < n && i < wf_st_count(f); i++) {
        const wf_st_tensor *t = wf_st_tensor_at(f, i);
        bool same = strcmp(t->name, e[i].name) == 0 && t->dtype == e[i].dtype &&
                    t->ndim == e[i].ndim &&
                    (t->nbytes == 0 || memcmp(t->data, e[i].data, t->nbytes) == 0);
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == e[i].shape[d];
        if (!same && failures++ < 20)
            fprintf(stderr, "FAIL round trip: tensor %d ('%s')\n", i, t->name);
    }
    /* the mapping is page-aligned, so this is the file offset 8 + N */
    EXPECT(((uintptr_t)wf_st_tensor_at(f, 0)->data % 8) == 0);
    EXPECT(strcmp(wf_st_metadata(f, "format"), "pt") == 0);
    EXPECT(strcmp(wf_st_metadata(f, "weft.step"), "12") == 0);
    EXPECT(strcmp(wf_st_metadata(f, "note"), "tab\there") == 0 && wf_st_metadata_count(f) == 3);
    EXPECT(wf_st_find(f, "packed")->nbytes == 2 && wf_st_find(f, "empty")->numel == 0);
    wf_st_close(f);
    /* no tensors, no extra metadata: still {"format":"pt"} */
    EXPECT(wf_st_write(path, NULL, 0, NULL, 0) == WF_OK && wf_st_open(path, &f) == WF_OK);
    EXPECT(f && wf_st_count(f) == 0 && strcmp(wf_st_metadata(f, "format"), "pt") == 0);
    wf_st_close(f);
    unlink(path);
}

/* Bad entries fail before anything is written; a failed write keeps the old file. */
static void test_write_errors(void) {
    const char *path = tmp_path("old.safetensors");
    float one = 1;
    const wf_st_entry good = {"w", WF_ST_F32, 0, NULL, &one};
    EXPECT(wf_st_write(path, &good, 1, NULL, 0) == WF_OK);
    const int64_t neg[] = {-2}, three[] = {3};
    const wf_st_entry dup[] = {good, good};
    expect_error("dup", wf_st_write(path, dup, 2, NULL, 0), WF_ERR_INVALID,
                 "tensor name 'w' given twice", NULL);
    const wf_st_entry bad_dim = {"d", WF_ST_F32, 1, neg, &one};
    expect_error("neg dim", wf_st_write(path, &bad_dim, 1, NULL, 0), WF_ERR_INVALID,
                 "shape[0] = -2", NULL);
    const wf_st_entry reserved = {"__metadata__", WF_ST_F32, 0, NULL, &one};
    expect_error("reserved", wf_st_write(path, &reserved, 1, NULL, 0), WF_ERR_INVALID, "reserved",
                 NULL);
    const wf_st_entry nodata = {"n", WF_ST_F32, 1, three, NULL};
    expect_error("no data", wf_st_write(path, &nodata, 1, NULL, 0), WF_ERR_INVALID,
                 "no data for 12 bytes", NULL);
    const wf_st_entry odd = {"o", WF_ST_F6_E2M3, 1, three, &one};
    expect_error("sub-byte", wf_st_write(path, &odd, 1, NULL, 0), WF_ERR_INVALID, "whole bytes",
                 NULL);
    const wf_st_kv tf = {"format", "tf"}, twice[] = {{"k", "1"}, {"k", "2"}};
    expect_error("format", wf_st_write(path, &good, 1, &tf, 1), WF_ERR_INVALID, "always \"pt\"",
                 NULL);
    expect_error("meta dup", wf_st_write(path, &good, 1, twice, 2), WF_ERR_INVALID,
                 "metadata key 'k'", NULL);
    /* an I/O failure mid-write (file size limit hit: EFBIG) */
    static float big[16384];
    const int64_t nbig[] = {16384};
    const wf_st_entry large = {"big", WF_ST_F32, 1, nbig, big};
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        wf_status s = wf_st_write(path, &large, 1, NULL, 0);
        setrlimit(RLIMIT_FSIZE, &old);
        expect_error("EFBIG", s, WF_ERR_IO, "write failed", NULL);
    }
    wf_st_file *f = NULL;
    EXPECT(wf_st_open(path, &f) == WF_OK && f && wf_st_count(f) == 1 && wf_st_find(f, "w"));
    wf_st_close(f);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    EXPECT(access(tmp, F_OK) != 0); /* the temporary is gone */
    unlink(path);
}

/* The byte at `off` of streamed tensor i, so any misplaced chunk shows. */
static unsigned char stream_byte(int64_t i, uint64_t off) { return (unsigned char)(off * 31 + off / 4096 + i); }

typedef struct stream_ctx {
    int64_t calls, fail_at; /* fail the call numbered fail_at (-1: never) */
    uint64_t next[3];       /* where each tensor's next piece must start */
    bool out_of_order;
} stream_ctx;

static wf_status stream_fill(void *ctx, int64_t i, void *dst, uint64_t offset, size_t bytes) {
    stream_ctx *c = ctx;
    if (c->calls++ == c->fail_at) return wf_error(WF_ERR_BACKEND, "injected fill failure");
    if (offset != c->next[i] || bytes > WF_ST_FILL_CHUNK) c->out_of_order = true;
    c->next[i] = offset + bytes;
    for (size_t k = 0; k < bytes; k++) ((unsigned char *)dst)[k] = stream_byte(i, offset + k);
    return WF_OK;
}

/* wf_st_write_stream: a tensor over one chunk arrives in order, in whole pieces, and the file is
 * byte-identical to wf_st_write's; a failing fill keeps the old file and removes the temporary. */
static void test_stream(void) {
    const int64_t big_n = (int64_t)(WF_ST_FILL_CHUNK / 4) + 3, small_n = 5;
    float first[2] = {1, 2};
    unsigned char *big = malloc((size_t)big_n * 4), small[20];
    for (int64_t k = 0; k < big_n * 4; k++) big[k] = stream_byte(1, (uint64_t)k);
    for (int k = 0; k < 20; k++) small[k] = stream_byte(2, (uint64_t)k);
    const int64_t s2[] = {2}, sb[] = {big_n}, ss[] = {small_n};
    wf_st_entry e[3] = {{"a", WF_ST_F32, 1, s2, first}, {"big", WF_ST_F32, 1, sb, big},
                        {"small", WF_ST_F32, 1, ss, small}};
    const char *ref = tmp_path("ref.safetensors"), *path = tmp_path("stream.safetensors");
    EXPECT(wf_st_write(ref, e, 3, NULL, 0) == WF_OK);
    e[1].data = e[2].data = NULL;
    stream_ctx c = {.fail_at = -1};
    EXPECT(wf_st_write_stream(path, e, 3, NULL, 0, stream_fill, &c) == WF_OK);
    EXPECT(c.calls == 3 && !c.out_of_order && c.next[1] == (uint64_t)big_n * 4 && c.next[2] == 20);
    wf_mapped_file a, b;
    EXPECT(wf_file_map(ref, &a) == WF_OK && wf_file_map(path, &b) == WF_OK);
    EXPECT(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
    wf_file_unmap(&a), wf_file_unmap(&b);
    stream_ctx bad = {.fail_at = 1};
    expect_error("fill", wf_st_write_stream(path, e, 3, NULL, 0, stream_fill, &bad), WF_ERR_BACKEND,
                 "injected fill failure", NULL);
    EXPECT(wf_file_map(path, &b) == WF_OK && b.size == (size_t)big_n * 4 + 20 + file_header_len(path) + 16);
    wf_file_unmap(&b);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    EXPECT(access(tmp, F_OK) != 0);
    free(big);
    unlink(ref), unlink(path);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) fputs(text, f), fclose(f);
}

/* Two shards and an index as transformers writes them; then broken variants. */
static void test_sharded(void) {
    float a[2] = {1, 2}, b[3] = {3, 4, 5};
    const int64_t s2[] = {2}, s3[] = {3};
    const wf_st_entry e1[] = {{"model.a", WF_ST_F32, 1, s2, a}, {"unlisted", WF_ST_F32, 1, s2, a}};
    const wf_st_entry e2[] = {{"model.b", WF_ST_F32, 1, s3, b}};
    EXPECT(wf_st_write(tmp_path("model-00001-of-00002.safetensors"), e1, 2, NULL, 0) == WF_OK);
    EXPECT(wf_st_write(tmp_path("model-00002-of-00002.safetensors"), e2, 1, NULL, 0) == WF_OK);
    const char *index = tmp_path("model.safetensors.index.json");
    write_text(index, "{\"metadata\": {\"total_size\": 20, \"nested\": [1, {\"x\": null}]},\n"
                      " \"weight_map\": {\"model.b\": \"model-00002-of-00002.safetensors\",\n"
                      "                \"model.a\": \"model-00001-of-00002.safetensors\"}}\n");
    wf_st_model *m = NULL;
    EXPECT(wf_st_model_open(tmpdir, &m) == WF_OK);
    if (!m) fprintf(stderr, "  %s\n", wf_last_error());
    if (m) {
        EXPECT(wf_st_model_count(m) == 2 && wf_st_model_file_count(m) == 2);
        const wf_st_tensor *ta = wf_st_model_find(m, "model.a"),
                           *tb = wf_st_model_find(m, "model.b");
        float out[3];
        EXPECT(ta && wf_st_read_f32(ta, out, 2) == WF_OK && out[1] == 2);
        EXPECT(tb && wf_st_read_f32(tb, out, 3) == WF_OK && out[2] == 5 &&
               strstr(tb->file, "00002"));
        EXPECT(wf_st_model_find(m, "unlisted") == NULL); /* only weight_map entries are visible */
        EXPECT(strcmp(wf_st_model_tensor_at(m, 0)->name, "model.a") == 0);
    }
    wf_st_model_close(m);
    /* a shard the index names but the directory lacks */
    write_text(index, "{\"weight_map\": {\"model.a\": \"model-00001-of-00002.safetensors\","
                      " \"model.c\": \"model-00003-of-00003.safetensors\"}}");
    expect_error("missing shard", wf_st_model_open(tmpdir, &m), WF_ERR_IO,
                 "model.safetensors.index.json: shard "
                 "'model-00003-of-00003.safetensors'",
                 "tensor 'model.c'", "cannot open", NULL);
    EXPECT(m == NULL);
    /* a tensor mapped to a shard that does not hold it */
    write_text(index, "{\"weight_map\": {\"model.b\": \"model-00001-of-00002.safetensors\"}}");
    expect_error("wrong shard", wf_st_model_open(tmpdir, &m), WF_ERR_FORMAT,
                 "index.json: weight_map puts tensor "
                 "'model.b' in 'model-00001-of-00002.safetensors', but",
                 "has no such tensor", NULL);
    write_text(index, "{\"metadata\": {}}");
    expect_error("no weight_map", wf_st_model_open(tmpdir, &m), WF_ERR_FORMAT, "no \"weight_map\"",
                 NULL);
    write_text(index, "{\"weight_map\": {\"x\": \"../model-00001-of-00002.safetensors\"}}");
    expect_error("escape", wf_st_model_open(tmpdir, &m), WF_ERR_FORMAT,
                 "inside the model directory", NULL);
    write_text(index, "{\"weight_map\": {\"x\": \"a\", \"x\": \"a\"}}");
    expect_error("dup entry", wf_st_model_open(tmpdir, &m), WF_ERR_FORMAT, "lists tensor 'x' twice",
                 NULL);
    /* a corrupt shard: its own error, prefixed with the index and shard */
    write_text(tmp_path("bad.safetensors"), "12345678");
    write_text(index, "{\"weight_map\": {\"x\": \"bad.safetensors\"}}");
    expect_error("bad shard", wf_st_model_open(tmpdir, &m), WF_ERR_FORMAT,
                 "shard 'bad.safetensors'", "header length", NULL);
    unlink(tmp_path("bad.safetensors"));
    unlink(index);
    expect_error("empty dir", wf_st_model_open(tmpdir, &m), WF_ERR_IO, "no model.safetensors or",
                 NULL);
    /* model.safetensors alone, and a file path instead of a directory */
    const char *single = tmp_path("model.safetensors");
    EXPECT(wf_st_write(single, e1, 2, NULL, 0) == WF_OK);
    EXPECT(wf_st_model_open(tmpdir, &m) == WF_OK && m && wf_st_model_count(m) == 2 &&
           wf_st_model_find(m, "unlisted"));
    wf_st_model_close(m);
    EXPECT(wf_st_model_open(single, &m) == WF_OK && m && wf_st_model_file_count(m) == 1);
    wf_st_model_close(m);
    unlink(single);
    unlink(tmp_path("model-00001-of-00002.safetensors"));
    unlink(tmp_path("model-00002-of-00002.safetensors"));
}

int main(void) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/wf_st_XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_rejections();
    test_valid();
    test_read_f32();
    test_round_trip();
    test_write_errors();
    test_stream();
    test_sharded();
    rmdir(tmpdir);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("safetensors: all checks passed (%zu rejection cases)\n",
               sizeof CASES / sizeof *CASES);
    return failures ? 1 : 0;
}
