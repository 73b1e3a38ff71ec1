/* GGUF reader on hand-built buffers: a valid file read back through every getter, each rejection
 * rule (error code plus a message naming the file and the key / tensor), every truncation of a
 * valid file, known dequantized values for hand-built blocks of each supported type, and the
 * q/k unpermute against a direct transcription of convert_hf_to_gguf.py's permute.
 * The byte layouts written here follow shared/reference/FORMATS.md "GGUF" and ggml-common.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/dtype.h"
#include "weft/gguf.h"
#include "expect.h"


/* ---- a little GGUF writer ---- */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u8(buf *b, uint8_t v) { put(b, &v, 1); }
static void u16(buf *b, uint16_t v) { put(b, &v, 2); }
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void key(buf *b, const char *k, wf_gguf_vtype t) {
    str(b, k);
    u32(b, t);
}
static void kv_u32(buf *b, const char *k, uint32_t v) {
    key(b, k, WF_GGUF_U32);
    u32(b, v);
}
static void tinfo(buf *b, const char *name, int n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t off) {
    str(b, name);
    u32(b, (uint32_t)n_dims);
    for (int i = 0; i < n_dims; i++) u64(b, ne[i]);
    u32(b, type);
    u64(b, off);
}
static void pad(buf *b, size_t align) {
    while (b->n % align) u8(b, 0);
}
static void zeros(buf *b, size_t n) {
    for (size_t i = 0; i < n; i++) u8(b, 0);
}

static wf_gguf *parse_ok(const buf *b) {
    wf_gguf *g = NULL;
    wf_status s = wf_gguf_parse(b->p, b->n, "ok.gguf", &g);
    if (s != WF_OK) fprintf(stderr, "unexpected error: %s\n", wf_last_error());
    EXPECT(s == WF_OK && g);
    return g;
}

/* Parsing must fail with `code` and a message holding "bad.gguf" and each given substring. */
static void reject(const char *label, buf *b, wf_status code, const char *sub1, const char *sub2) {
    wf_gguf *g = NULL;
    wf_status s = wf_gguf_parse(b->p, b->n, "bad.gguf", &g);
    const char *m = wf_last_error();
    bool ok = s == code && !g && strstr(m, "bad.gguf") && (!sub1 || strstr(m, sub1)) &&
              (!sub2 || strstr(m, sub2));
    if (!ok && failures < 20)
        fprintf(stderr, "FAIL reject %s: status %s, message \"%s\" (wanted %s, '%s', '%s')\n",
                label, wf_status_name(s), m, wf_status_name(code), sub1 ? sub1 : "",
                sub2 ? sub2 : "");
    failures += !ok;
    wf_gguf_close(g);
    free(b->p);
    *b = (buf){0};
}

/* A valid file: one key of every scalar type, arrays, and three tensors. The last tensor's data
 * ends the file, so every shorter prefix is truncated. */
static void build_valid(buf *b) {
    header(b, 3, 3, 18);
    key(b, "k.u8", WF_GGUF_U8), u8(b, 200);
    key(b, "k.i8", WF_GGUF_I8), u8(b, (uint8_t)-5);
    key(b, "k.u16", WF_GGUF_U16), u16(b, 60000);
    key(b, "k.i16", WF_GGUF_I16), u16(b, (uint16_t)-300);
    kv_u32(b, "k.u32", 4000000000u);
    key(b, "k.i32", WF_GGUF_I32), u32(b, (uint32_t)-70000);
    key(b, "k.u64", WF_GGUF_U64), u64(b, 18000000000000000000ull);
    key(b, "k.i64", WF_GGUF_I64), u64(b, (uint64_t)-5000000000ll);
    float f = 0.1f;
    double d = -2.5e300;
    key(b, "k.f32", WF_GGUF_F32), put(b, &f, 4);
    key(b, "k.f64", WF_GGUF_F64), put(b, &d, 8);
    key(b, "k.bool", WF_GGUF_BOOL), u8(b, 1);
    key(b, "k.str", WF_GGUF_STRING), str(b, "héllo");
    key(b, "k.arr_i32", WF_GGUF_ARRAY), u32(b, WF_GGUF_I32), u64(b, 3);
    u32(b, 7), u32(b, (uint32_t)-8), u32(b, 9);
    key(b, "k.arr_str", WF_GGUF_ARRAY), u32(b, WF_GGUF_STRING), u64(b, 3);
    str(b, "a"), str(b, ""), u64(b, 3), put(b, "x\0y", 3);
    key(b, "k.arr_empty", WF_GGUF_ARRAY), u32(b, WF_GGUF_F32), u64(b, 0);
    key(b, "k.arr_bool", WF_GGUF_ARRAY), u32(b, WF_GGUF_BOOL), u64(b, 2), u8(b, 0), u8(b, 1);
    key(b, "k.arr_f64", WF_GGUF_ARRAY), u32(b, WF_GGUF_F64), u64(b, 1), put(b, &d, 8);
    key(b, "k.arr_u8", WF_GGUF_ARRAY), u32(b, WF_GGUF_U8), u64(b, 3), u8(b, 1), u8(b, 2), u8(b, 3);
    tinfo(b, "w.f32", 2, (uint64_t[]){3, 2}, WF_GGML_F32, 0);            /* 24 bytes */
    tinfo(b, "w.q8", 1, (uint64_t[]){64}, WF_GGML_Q8_0, 32);             /* 68 bytes */
    tinfo(b, "w.f16", 3, (uint64_t[]){2, 1, 3}, WF_GGML_F16, 128);       /* 12 bytes */
    pad(b, 32);
    size_t data = b->n;
    for (int i = 0; i < 6; i++) f = (float)i - 2.5f, put(b, &f, 4);
    pad(b, 32);
    for (int blk = 0; blk < 2; blk++) {
        u16(b, wf_f32_to_f16(0.5f * (float)(blk + 1)));
        for (int j = 0; j < 32; j++) u8(b, (uint8_t)(j - 16));
    }
    zeros(b, data + 128 - b->n);
    for (int i = 0; i < 6; i++) u16(b, wf_f32_to_f16((float)i));
}

static void test_valid_tensors(wf_gguf *g, const buf *b) {
    const wf_gguf_tensor *t = wf_gguf_find_tensor(g, "w.f16");
    EXPECT(t && t->n_dims == 3 && t->ne[0] == 2 && t->ne[1] == 1 && t->ne[2] == 3 && t->ne[3] == 1);
    EXPECT(t && t->shape[0] == 3 && t->shape[1] == 1 && t->shape[2] == 2 && t->numel == 6);
    EXPECT(t && t->offset == 128 && t->nbytes == 12 && t->type == WF_GGML_F16);
    EXPECT(t && (const uint8_t *)t->data == b->p + wf_gguf_data_offset(g) + 128);
    EXPECT(wf_gguf_tensor_at(g, 1) && strcmp(wf_gguf_tensor_at(g, 1)->name, "w.q8") == 0);
    EXPECT(wf_gguf_tensor_at(g, 1)->nbytes == 68 && wf_gguf_tensor_at(g, 3) == NULL);
    EXPECT(wf_gguf_find_tensor(g, "nope") == NULL);
    EXPECT(wf_gguf_get_tensor(g, "nope", &t) == WF_ERR_FORMAT &&
           strstr(wf_last_error(), "ok.gguf") && strstr(wf_last_error(), "'nope'"));

    float out[64];
    EXPECT(wf_gguf_get_tensor(g, "w.f32", &t) == WF_OK);
    EXPECT(wf_gguf_dequant_f32(t, out, 6) == WF_OK && out[0] == -2.5f && out[5] == 2.5f);
    EXPECT(wf_gguf_dequant_f32(t, out, 5) == WF_ERR_INVALID && strstr(wf_last_error(), "w.f32"));
    t = wf_gguf_find_tensor(g, "w.q8");
    EXPECT(wf_gguf_dequant_f32(t, out, 64) == WF_OK);
    EXPECT(out[0] == -8.0f && out[31] == 7.5f && out[32] == -16.0f && out[63] == 15.0f);
    t = wf_gguf_find_tensor(g, "w.f16");
    EXPECT(wf_gguf_dequant_f32(t, out, 6) == WF_OK && out[3] == 3.0f);
}

/* Typed getters: missing, mistyped, scalar/array confusion. */
static void test_getter_errors(wf_gguf *g) {
    uint32_t u;
    int32_t i;
    int64_t I, n;
    double d;
    const char *const *as;
    EXPECT(wf_gguf_get_u32(g, "k.none", &u) == WF_ERR_FORMAT);
    EXPECT(strstr(wf_last_error(), "ok.gguf: key 'k.none' is missing (expected u32)"));
    EXPECT(wf_gguf_get_u32(g, "k.i32", &u) == WF_ERR_FORMAT);
    EXPECT(strstr(wf_last_error(), "key 'k.i32' has type i32, expected u32"));
    EXPECT(wf_gguf_get_i32(g, "k.arr_i32", &i) == WF_ERR_FORMAT);
    EXPECT(strstr(wf_last_error(), "has type array of i32, expected i32"));
    EXPECT(wf_gguf_get_arr_str(g, "k.str", &as, &n) == WF_ERR_FORMAT);
    EXPECT(strstr(wf_last_error(), "has type string, expected array of string"));
    EXPECT(wf_gguf_get_int(g, "k.u64", &I) == WF_ERR_FORMAT && strstr(wf_last_error(), "k.u64"));
    EXPECT(wf_gguf_get_int(g, "k.str", &I) == WF_ERR_FORMAT);
    EXPECT(wf_gguf_get_float(g, "k.u8", &d) == WF_ERR_FORMAT && strstr(wf_last_error(), "f32"));
}

/* Every truncation fails cleanly and names the file. */
static void test_truncations(const buf *b) {
    int bad = 0;
    for (size_t len = 0; len < b->n; len++) {
        wf_gguf *gt = NULL;
        wf_status st = wf_gguf_parse(b->p, len, "cut.gguf", &gt);
        if (st != WF_ERR_FORMAT || gt || !strstr(wf_last_error(), "cut.gguf")) {
            if (bad++ < 3) fprintf(stderr, "FAIL truncated to %zu: %s\n", len, wf_last_error());
        }
        wf_gguf_close(gt);
    }
    EXPECT(bad == 0);
}

static void test_valid(void) {
    buf b = {0};
    build_valid(&b);
    wf_gguf *g = parse_ok(&b);
    if (!g) return;
    EXPECT(wf_gguf_version(g) == 3 && wf_gguf_alignment(g) == 32);
    EXPECT(wf_gguf_kv_count(g) == 18 && wf_gguf_tensor_count(g) == 3);
    EXPECT(wf_gguf_data_offset(g) % 32 == 0 && wf_gguf_data_offset(g) + 140 == b.n);
    uint8_t a; int8_t c; uint16_t e; int16_t h; uint32_t u; int32_t i; uint64_t U; int64_t I;
    float f; double d; bool bo; const char *s;
    EXPECT(wf_gguf_get_u8(g, "k.u8", &a) == WF_OK && a == 200);
    EXPECT(wf_gguf_get_i8(g, "k.i8", &c) == WF_OK && c == -5);
    EXPECT(wf_gguf_get_u16(g, "k.u16", &e) == WF_OK && e == 60000);
    EXPECT(wf_gguf_get_i16(g, "k.i16", &h) == WF_OK && h == -300);
    EXPECT(wf_gguf_get_u32(g, "k.u32", &u) == WF_OK && u == 4000000000u);
    EXPECT(wf_gguf_get_i32(g, "k.i32", &i) == WF_OK && i == -70000);
    EXPECT(wf_gguf_get_u64(g, "k.u64", &U) == WF_OK && U == 18000000000000000000ull);
    EXPECT(wf_gguf_get_i64(g, "k.i64", &I) == WF_OK && I == -5000000000ll);
    EXPECT(wf_gguf_get_f32(g, "k.f32", &f) == WF_OK && f == 0.1f);
    EXPECT(wf_gguf_get_f64(g, "k.f64", &d) == WF_OK && d == -2.5e300);
    EXPECT(wf_gguf_get_bool(g, "k.bool", &bo) == WF_OK && bo);
    EXPECT(wf_gguf_get_str(g, "k.str", &s) == WF_OK && strcmp(s, "héllo") == 0);
    const int32_t *ai; const char *const *as; const float *af; const bool *ab; const double *ad;
    const uint8_t *au;
    int64_t n;
    EXPECT(wf_gguf_get_arr_i32(g, "k.arr_i32", &ai, &n) == WF_OK && n == 3 && ai[1] == -8);
    EXPECT(wf_gguf_get_arr_str(g, "k.arr_str", &as, &n) == WF_OK && n == 3 &&
           strcmp(as[0], "a") == 0 && as[1][0] == 0 && memcmp(as[2], "x\0y", 4) == 0);
    const wf_gguf_kv *kv = wf_gguf_find_kv(g, "k.arr_str");
    EXPECT(kv && kv->lens[2] == 3 && kv->type == WF_GGUF_ARRAY && kv->elem == WF_GGUF_STRING);
    EXPECT(wf_gguf_get_arr_f32(g, "k.arr_empty", &af, &n) == WF_OK && n == 0);
    EXPECT(wf_gguf_get_arr_bool(g, "k.arr_bool", &ab, &n) == WF_OK && n == 2 && !ab[0] && ab[1]);
    EXPECT(wf_gguf_get_arr_f64(g, "k.arr_f64", &ad, &n) == WF_OK && n == 1 && ad[0] == -2.5e300);
    EXPECT(wf_gguf_get_arr_u8(g, "k.arr_u8", &au, &n) == WF_OK && n == 3 && au[2] == 3);
    EXPECT(wf_gguf_get_int(g, "k.u16", &I) == WF_OK && I == 60000);
    EXPECT(wf_gguf_get_int(g, "k.i8", &I) == WF_OK && I == -5);
    EXPECT(wf_gguf_get_float(g, "k.f32", &d) == WF_OK && d == (double)0.1f);
    /* iteration keeps file order */
    EXPECT(strcmp(wf_gguf_kv_at(g, 0)->key, "k.u8") == 0 && wf_gguf_kv_at(g, 18) == NULL);
    EXPECT(strcmp(wf_gguf_kv_at(g, 17)->key, "k.arr_u8") == 0 && wf_gguf_kv_at(g, -1) == NULL);
    test_valid_tensors(g, &b);
    test_getter_errors(g);
    wf_gguf_close(g);
    test_truncations(&b);
    /* version 2 has the same layout */
    b.p[4] = 2;
    g = parse_ok(&b);
    EXPECT(g && wf_gguf_version(g) == 2);
    wf_gguf_close(g);
    free(b.p);
}

static void test_alignment(void) {
    buf b = {0};
    header(&b, 3, 2, 1);
    kv_u32(&b, "general.alignment", 64);
    tinfo(&b, "a", 1, (uint64_t[]){4}, WF_GGML_F32, 0);
    tinfo(&b, "b", 1, (uint64_t[]){4}, WF_GGML_F32, 64);
    pad(&b, 64);
    zeros(&b, 64 + 16);
    wf_gguf *g = parse_ok(&b);
    EXPECT(g && wf_gguf_alignment(g) == 64 && wf_gguf_data_offset(g) % 64 == 0);
    wf_gguf_close(g);
    free(b.p);
    b = (buf){0};
    header(&b, 3, 0, 0);
    g = parse_ok(&b); /* no tensors: no data section, no padding needed */
    EXPECT(g && wf_gguf_tensor_count(g) == 0);
    wf_gguf_close(g);
    free(b.p);
}

/* One bad file per rule. */
static void test_rejections(void) {
    buf b = {0};
    reject("empty", &b, WF_ERR_FORMAT, "too short", NULL);
    put(&b, "GGUX", 4), u32(&b, 3), u64(&b, 0), u64(&b, 0);
    reject("magic", &b, WF_ERR_FORMAT, "not a GGUF file", "47 47 55 58");
    header(&b, 1, 0, 0);
    reject("v1", &b, WF_ERR_FORMAT, "version 1 is not supported", NULL);
    header(&b, 4, 0, 0);
    reject("v4", &b, WF_ERR_FORMAT, "version 4 is not supported", "expected 3");
    header(&b, 0x03000000, 0, 0);
    reject("big-endian", &b, WF_ERR_FORMAT, "big-endian", NULL);
    put(&b, "GGUF", 4), u32(&b, 3), u64(&b, 0);
    reject("no kv count", &b, WF_ERR_FORMAT, "metadata count needs 8 bytes", NULL);
    header(&b, 3, 0, 1000000), zeros(&b, 100);
    reject("kv count", &b, WF_ERR_FORMAT, "metadata count 1000000 cannot fit", NULL);
    header(&b, 3, 0xffffffffffffffffull, 0), zeros(&b, 100);
    reject("tensor count", &b, WF_ERR_FORMAT, "tensor count 18446744073709551615", NULL);
    header(&b, 3, 0, 1), u64(&b, 1000), put(&b, "abc", 3), zeros(&b, 20);
    reject("key length", &b, WF_ERR_FORMAT, "key-value 0", "key length 1000 runs past the end");
    header(&b, 3, 0, 1), u64(&b, 3), put(&b, "a\0b", 3), u32(&b, WF_GGUF_U8), u8(&b, 0);
    reject("key NUL", &b, WF_ERR_FORMAT, "key contains a NUL byte", NULL);
    header(&b, 3, 0, 1), key(&b, "k.t", 13), u64(&b, 0);
    reject("value type", &b, WF_ERR_FORMAT, "key 'k.t'", "value type 13 is not a GGUF type");
    header(&b, 3, 0, 1), key(&b, "k.a", WF_GGUF_ARRAY), u32(&b, 99), u64(&b, 0);
    reject("elem type", &b, WF_ERR_FORMAT, "key 'k.a'", "element type 99");
    header(&b, 3, 0, 1), key(&b, "k.n", WF_GGUF_ARRAY), u32(&b, WF_GGUF_ARRAY), u64(&b, 0);
    reject("nested", &b, WF_ERR_FORMAT, "key 'k.n'", "arrays of arrays");
    header(&b, 3, 0, 1), key(&b, "k.big", WF_GGUF_ARRAY), u32(&b, WF_GGUF_U32), u64(&b, 1ull << 61);
    reject("array count", &b, WF_ERR_FORMAT, "key 'k.big'", "2305843009213693952 u32 values");
    header(&b, 3, 0, 1), key(&b, "k.s", WF_GGUF_ARRAY), u32(&b, WF_GGUF_STRING), u64(&b, 2);
    u64(&b, 1), put(&b, "x", 1), u64(&b, 50);
    reject("array string", &b, WF_ERR_FORMAT, "key 'k.s'", "string length 50 runs past");
    header(&b, 3, 0, 1), key(&b, "k.b", WF_GGUF_BOOL), u8(&b, 2);
    reject("bool", &b, WF_ERR_FORMAT, "key 'k.b'", "is 2, expected 0 or 1");
    header(&b, 3, 0, 2), kv_u32(&b, "k.d", 1), kv_u32(&b, "k.d", 2);
    reject("duplicate key", &b, WF_ERR_FORMAT, "key 'k.d' appears more than once", NULL);
    header(&b, 3, 0, 1), key(&b, "general.alignment", WF_GGUF_U64), u64(&b, 32);
    reject("alignment type", &b, WF_ERR_FORMAT, "'general.alignment' has type u64", "u32");
    header(&b, 3, 0, 1), kv_u32(&b, "general.alignment", 48);
    reject("alignment value", &b, WF_ERR_FORMAT, "is 48, expected a power of two", NULL);
    header(&b, 3, 0, 1), kv_u32(&b, "general.alignment", 0);
    reject("alignment zero", &b, WF_ERR_FORMAT, "is 0, expected a power of two", NULL);
}

/* Tensor-info rules: `ne`, type and offsets of a single (or second) tensor. */
static void test_tensor_rejections(void) {
    buf b = {0};
    header(&b, 3, 1, 0), str(&b, "t0"), u32(&b, 0), u32(&b, 0), u64(&b, 0), zeros(&b, 40);
    reject("n_dims 0", &b, WF_ERR_FORMAT, "tensor 't0'", "n_dims is 0, expected 1..4");
    header(&b, 3, 1, 0), str(&b, "t5"), u32(&b, 5), zeros(&b, 60);
    reject("n_dims 5", &b, WF_ERR_FORMAT, "tensor 't5'", "n_dims is 5");
    header(&b, 3, 1, 0), tinfo(&b, "z", 2, (uint64_t[]){4, 0}, WF_GGML_F32, 0), zeros(&b, 64);
    reject("dim 0", &b, WF_ERR_FORMAT, "tensor 'z'", "dimension 1 is 0");
    header(&b, 3, 1, 0);
    tinfo(&b, "huge", 3, (uint64_t[]){1ull << 32, 1ull << 31, 4}, WF_GGML_F32, 0), zeros(&b, 64);
    reject("numel overflow", &b, WF_ERR_FORMAT, "tensor 'huge'", "overflows 64 bits");
    header(&b, 3, 1, 0);
    tinfo(&b, "big", 2, (uint64_t[]){1ull << 31, 1ull << 31}, WF_GGML_F64, 0), zeros(&b, 64);
    reject("bytes overflow", &b, WF_ERR_FORMAT, "tensor 'big'", "byte size");
    header(&b, 3, 1, 0), tinfo(&b, "q", 1, (uint64_t[]){32}, 4, 0), zeros(&b, 64);
    reject("type", &b, WF_ERR_FORMAT, "tensor 'q'", "type 4 is not a known ggml type");
    header(&b, 3, 1, 0), tinfo(&b, "q", 2, (uint64_t[]){16, 2}, WF_GGML_Q4_0, 0), zeros(&b, 64);
    reject("block", &b, WF_ERR_FORMAT, "tensor 'q'", "ne[0] = 16 is not a multiple of the Q4_0");
    header(&b, 3, 1, 0), tinfo(&b, "o", 1, (uint64_t[]){4}, WF_GGML_F32, 8), pad(&b, 32);
    zeros(&b, 64);
    reject("unaligned", &b, WF_ERR_FORMAT, "tensor 'o'", "offset 8 is not a multiple");
    header(&b, 3, 1, 0), tinfo(&b, "p", 1, (uint64_t[]){16}, WF_GGML_F32, 32), pad(&b, 32);
    zeros(&b, 64);
    reject("past end", &b, WF_ERR_FORMAT, "tensor 'p'", "runs past the end");
    header(&b, 3, 1, 0), tinfo(&b, "p", 1, (uint64_t[]){4}, WF_GGML_F32, ~(uint64_t)31), pad(&b, 32);
    zeros(&b, 64);
    reject("offset overflow", &b, WF_ERR_FORMAT, "tensor 'p'", "runs past the end");
    header(&b, 3, 2, 0), tinfo(&b, "a", 1, (uint64_t[]){16}, WF_GGML_F32, 0);
    tinfo(&b, "b", 1, (uint64_t[]){4}, WF_GGML_F32, 32), pad(&b, 32), zeros(&b, 96);
    reject("overlap", &b, WF_ERR_FORMAT, "tensor 'a'", "overlaps tensor 'b'");
    header(&b, 3, 2, 0), tinfo(&b, "d", 1, (uint64_t[]){4}, WF_GGML_F32, 0);
    tinfo(&b, "d", 1, (uint64_t[]){4}, WF_GGML_F32, 32), pad(&b, 32), zeros(&b, 64);
    reject("duplicate", &b, WF_ERR_FORMAT, "tensor name 'd' appears more than once", NULL);
    header(&b, 3, 1, 0), str(&b, "x\0y"), zeros(&b, 64);
    b.p[24] = 3; /* name length 3 over "x" and two zero bytes: a name holding NUL bytes */
    reject("name NUL", &b, WF_ERR_FORMAT, "tensor info 0", "NUL byte");

    /* parses, but has no decoder: the error names tensor and type */
    header(&b, 3, 1, 0), tinfo(&b, "iq", 1, (uint64_t[]){256}, WF_GGML_IQ2_XXS, 0), pad(&b, 32);
    zeros(&b, 66);
    wf_gguf *g = parse_ok(&b);
    float out[256];
    EXPECT(g && wf_gguf_dequant_f32(wf_gguf_tensor_at(g, 0), out, 256) == WF_ERR_UNSUPPORTED);
    EXPECT(strstr(wf_last_error(), "ok.gguf: tensor 'iq'") && strstr(wf_last_error(), "IQ2_XXS"));
    wf_gguf_close(g);
    free(b.p);
}

static void test_open(void) {
    wf_gguf *g = NULL;
    EXPECT(wf_gguf_open("/nonexistent/x.gguf", &g) == WF_ERR_IO && !g);
    EXPECT(strstr(wf_last_error(), "/nonexistent/x.gguf"));
    char path[] = "/tmp/weft_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    EXPECT(fd >= 0);
    if (fd < 0) return;
    buf b = {0};
    build_valid(&b);
    EXPECT(write(fd, b.p, b.n) == (ssize_t)b.n);
    close(fd);
    EXPECT(wf_gguf_open(path, &g) == WF_OK && g);
    EXPECT(g && strcmp(wf_gguf_name(g), path) == 0 && wf_gguf_tensor_count(g) == 3);
    float out[6];
    EXPECT(g && wf_gguf_dequant_f32(wf_gguf_find_tensor(g, "w.f32"), out, 6) == WF_OK);
    EXPECT(out[1] == -1.5f);
    wf_gguf_close(g);
    EXPECT(truncate(path, 0) == 0);
    EXPECT(wf_gguf_open(path, &g) == WF_ERR_FORMAT && strstr(wf_last_error(), path));
    unlink(path);
    free(b.p);
}

/* ---- dequantization of hand-built blocks ---- */

/* Compares n values bit for bit; prints the first mismatches. */
static void expect_values(const char *what, const float *got, const float *want, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (wf_f32_bits(got[i]) == wf_f32_bits(want[i])) continue;
        if (bad++ < 3)
            fprintf(stderr, "FAIL %s[%d]: expected %.9g got %.9g\n", what, i, want[i], got[i]);
    }
    failures += bad > 0;
}

static void h16(uint8_t *p, float v) {
    uint16_t h = wf_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* (scale, min) pairs of block_q4_K / q5_K packed as in gguf/quants.py's table (Q4_K.get_scale_min) */
static void pack_k4(uint8_t s[12], const int sc[8], const int m[8]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}

/* K-quant blocks whose values can be written down: scales chosen to use the packed high bits. */
static void test_blocks_literal_k(void) {
    uint8_t x[300];
    float y[256], w[256];
    /* Q4_K: d = dmin = 1, scales 7, 15, ..., 63 and mins 63, 55, ..., 7 (high bits in use);
     * every byte 0x21, so sub-block k reads q = 1 (even k, low nibbles) or 2 (odd k) */
    int sc[8], mn[8];
    for (int k = 0; k < 8; k++) sc[k] = 8 * k + 7, mn[k] = 63 - 8 * k;
    memset(x, 0x21, 300);
    h16(x, 1.0f), h16(x + 2, 1.0f);
    pack_k4(x + 4, sc, mn);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q4_K, x, 144, y, 256) == WF_OK);
    static const float q4k[8] = {-56, -25, -24, 23, 8, 71, 40, 119};
    for (int i = 0; i < 256; i++) w[i] = q4k[i / 32];
    expect_values("q4_k", y, w, 256);
    /* Q6_K: d = 0.5, scales k - 8; all bits set gives q = 63 - 32 = 31 everywhere */
    memset(x, 0xFF, 192);
    for (int k = 0; k < 16; k++) x[192 + k] = (uint8_t)(int8_t)(k - 8);
    h16(x + 208, 0.5f);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q6_K, x, 210, y, 256) == WF_OK);
    for (int i = 0; i < 256; i++) { /* scale index: 8 per 128 values, 16 values each */
        int r = i % 128, k = (i / 128) * 8 + (r % 32) / 16 + 2 * (r / 32);
        w[i] = 0.5f * (float)(k - 8) * 31.0f;
    }
    expect_values("q6_k", y, w, 256);
    EXPECT(y[0] == -124.0f && y[255] == 108.5f);
    /* Q3_K: scales all 33 - 32 = 1 (low nibble 1, high bits 2), qs 0xE4 gives q = (i%128)/32;
     * with every hmask bit set nothing is subtracted, with none 4 is */
    memset(x, 0xFF, 32), memset(x + 32, 0xE4, 64), memset(x + 96, 0x11, 8), memset(x + 104, 0xAA, 4);
    h16(x + 108, 1.0f);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q3_K, x, 110, y, 256) == WF_OK);
    for (int i = 0; i < 256; i++) w[i] = (float)((i % 128) / 32);
    expect_values("q3_k hmask set", y, w, 256);
    memset(x, 0, 32);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q3_K, x, 110, y, 256) == WF_OK);
    for (int i = 0; i < 256; i++) w[i] -= 4.0f;
    expect_values("q3_k hmask clear", y, w, 256);
    /* Q2_K: scale 1, min 2 (x dmin 0.5 = 1), qs 0xE4: value (i%128)/32 - 1 */
    memset(x, 0x21, 16), memset(x + 16, 0xE4, 64), h16(x + 80, 1.0f), h16(x + 82, 0.5f);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q2_K, x, 84, y, 256) == WF_OK);
    for (int i = 0; i < 256; i++) w[i] = (float)((i % 128) / 32) - 1.0f;
    expect_values("q2_k", y, w, 256);
}

static void test_blocks_literal(void) {
    uint8_t x[300];
    float y[256], w[256];
    /* F16 / BF16 / F32 scalars */
    uint16_t hv[3] = {0x3c00, 0xc000, 0x0001}, bv[2] = {0x3f80, 0xc2f7};
    EXPECT(wf_ggml_dequant_raw(WF_GGML_F16, hv, 6, y, 3) == WF_OK);
    EXPECT(y[0] == 1.0f && y[1] == -2.0f && y[2] == 5.9604644775390625e-8f);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_BF16, bv, 4, y, 2) == WF_OK && y[0] == 1.0f &&
           y[1] == -123.5f);
    /* Q8_0: d = 0.5, q = j - 16 */
    h16(x, 0.5f);
    for (int j = 0; j < 32; j++) x[2 + j] = (uint8_t)(int8_t)(j - 16), w[j] = (float)(j - 16) * 0.5f;
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q8_0, x, 34, y, 32) == WF_OK);
    expect_values("q8_0", y, w, 32);
    /* Q4_0: d = 2, low nibble j -> element j, high nibble 15-j -> element 16+j, value (q-8)*d */
    h16(x, 2.0f);
    for (int j = 0; j < 16; j++) {
        x[2 + j] = (uint8_t)(j | (15 - j) << 4);
        w[j] = (float)(j - 8) * 2.0f, w[16 + j] = (float)(7 - j) * 2.0f;
    }
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q4_0, x, 18, y, 32) == WF_OK);
    expect_values("q4_0", y, w, 32);
    EXPECT(y[0] == -16.0f && y[31] == -16.0f && y[15] == 14.0f);
    /* Q4_1: d = 0.5, m = -1, value q*d + m */
    h16(x, 0.5f), h16(x + 2, -1.0f);
    for (int j = 0; j < 16; j++) {
        x[4 + j] = (uint8_t)(j | (15 - j) << 4);
        w[j] = (float)j * 0.5f - 1.0f, w[16 + j] = (float)(15 - j) * 0.5f - 1.0f;
    }
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q4_1, x, 20, y, 32) == WF_OK);
    expect_values("q4_1", y, w, 32);
    /* Q5_0 / Q5_1: fifth bits set for elements 0 and 31 only */
    h16(x, 1.0f);
    x[2] = 0x01, x[3] = 0, x[4] = 0, x[5] = 0x80;
    for (int j = 0; j < 16; j++) x[6 + j] = (uint8_t)(j | (15 - j) << 4);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q5_0, x, 22, y, 32) == WF_OK);
    EXPECT(y[0] == 0.0f && y[1] == -15.0f && y[16] == -1.0f && y[31] == 0.0f && y[15] == -1.0f);
    h16(x, 1.0f), h16(x + 2, 0.5f);
    x[4] = 0x01, x[5] = 0, x[6] = 0, x[7] = 0x80;
    for (int j = 0; j < 16; j++) x[8 + j] = (uint8_t)(j | (15 - j) << 4);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q5_1, x, 24, y, 32) == WF_OK);
    EXPECT(y[0] == 16.5f && y[1] == 1.5f && y[16] == 15.5f && y[31] == 16.5f);
    /* Q8_K: f32 d = 0.25, q = j - 128 */
    float d = 0.25f;
    memcpy(x, &d, 4);
    for (int j = 0; j < 256; j++) x[4 + j] = (uint8_t)(j - 128), w[j] = (float)(j - 128) * 0.25f;
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q8_K, x, 292, y, 256) == WF_OK);
    expect_values("q8_k", y, w, 256);
    /* argument checks */
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q4_K, x, 143, y, 256) == WF_ERR_INVALID);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_Q4_0, x, 100, y, 31) == WF_ERR_INVALID);
    EXPECT(wf_ggml_dequant_raw(WF_GGML_IQ1_S, x, 100, y, 256) == WF_ERR_UNSUPPORTED);
    EXPECT(wf_ggml_dequant_raw(5, x, 100, y, 32) == WF_ERR_INVALID);
    EXPECT(wf_ggml_type_name(WF_GGML_Q6_K) && strcmp(wf_ggml_type_name(WF_GGML_Q6_K), "Q6_K") == 0);
    EXPECT(wf_ggml_type_name(4) == NULL && wf_ggml_type_name(-1) == NULL && !wf_ggml_type_name(99));
}

static uint32_t rng_state = 12345;
static uint8_t rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 17, rng_state ^= rng_state << 5;
    return (uint8_t)(rng_state >> 8);
}

/* Per-element restatements of the K-quant layouts (ggml-common.h), checked on random blocks with
 * finite scales. They index each value directly instead of walking ggml's nested loops. */
static float ref_kquant(int type, const uint8_t *x, int i) {
    int n = i / 128, r = i % 128, s = r / 32, half = (r % 32) / 16, l = r % 16, sub = i / 32;
    if (type == WF_GGML_Q2_K || type == WF_GGML_Q3_K) {
        int is = n * 8 + s * 2 + half, q = (x[(type == WF_GGML_Q2_K ? 16 : 32) + n * 32 + half * 16 + l] >> (2 * s)) & 3;
        if (type == WF_GGML_Q2_K)
            return wf_f16_to_f32(x[80] | x[81] << 8) * (float)(x[is] & 0xF) * (float)q -
                   wf_f16_to_f32(x[82] | x[83] << 8) * (float)(x[is] >> 4);
        uint32_t aux[4], tmp; /* ggml's kmask unpacking of the 16 six-bit scales */
        memcpy(aux, x + 96, 12);
        tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & 0x0f0f0f0f) | (((tmp >> 4) & 0x03030303) << 4);
        aux[3] = ((aux[1] >> 4) & 0x0f0f0f0f) | (((tmp >> 6) & 0x03030303) << 4);
        aux[0] = (aux[0] & 0x0f0f0f0f) | (((tmp >> 0) & 0x03030303) << 4);
        aux[1] = (aux[1] & 0x0f0f0f0f) | (((tmp >> 2) & 0x03030303) << 4);
        int scale = (int)((const int8_t *)aux)[is] - 32;
        int hbit = (x[half * 16 + l] >> (n * 4 + s)) & 1;
        return wf_f16_to_f32(x[108] | x[109] << 8) * (float)scale * (float)(q - (hbit ? 0 : 4));
    }
    if (type == WF_GGML_Q6_K) {
        int quarter = r / 32, ll = r % 32;
        int byte = x[n * 64 + ll + (quarter & 1) * 32], nib = quarter < 2 ? byte & 0xF : byte >> 4;
        int q = (nib | ((x[128 + n * 32 + ll] >> (2 * quarter)) & 3) << 4) - 32;
        int scale = (int8_t)x[192 + n * 8 + ll / 16 + 2 * quarter];
        return wf_f16_to_f32(x[208] | x[209] << 8) * (float)scale * (float)q;
    }
    /* Q4_K and Q5_K: table of gguf/quants.py Q4_K.get_scale_min */
    const uint8_t *s6 = x + 4;
    int j = sub % 4, sc, m;
    if (sub < 4) sc = s6[j] & 63, m = s6[j + 4] & 63;
    else sc = (s6[j + 8] & 0xF) | (s6[j] >> 6) << 4, m = (s6[j + 8] >> 4) | (s6[j + 4] >> 6) << 4;
    int qoff = type == WF_GGML_Q4_K ? 16 : 48, byte = x[qoff + (i / 64) * 32 + i % 32];
    int q = (sub & 1) ? byte >> 4 : byte & 0xF;
    if (type == WF_GGML_Q5_K) q += ((x[16 + i % 32] >> sub) & 1) << 4;
    return wf_f16_to_f32(x[0] | x[1] << 8) * (float)sc * (float)q -
           wf_f16_to_f32(x[2] | x[3] << 8) * (float)m;
}

static void test_blocks_kquant_random(void) {
    static const struct { int type, bytes, d_at[2]; } K[] = {
        {WF_GGML_Q2_K, 84, {80, 82}}, {WF_GGML_Q3_K, 110, {108, -1}}, {WF_GGML_Q4_K, 144, {0, 2}},
        {WF_GGML_Q5_K, 176, {0, 2}},  {WF_GGML_Q6_K, 210, {208, -1}},
    };
    uint8_t x[3 * 210];
    float y[3 * 256], w[3 * 256];
    for (size_t k = 0; k < sizeof K / sizeof K[0]; k++) {
        for (int rep = 0; rep < 20; rep++) {
            for (int b = 0; b < 3; b++) {
                uint8_t *blk = x + b * K[k].bytes;
                for (int i = 0; i < K[k].bytes; i++) blk[i] = rnd();
                for (int f = 0; f < 2; f++) /* finite scales, about 2^-8 .. 2^3 */
                    if (K[k].d_at[f] >= 0) h16(blk + K[k].d_at[f], (float)(rnd() - 128) / 16.0f);
                for (int i = 0; i < 256; i++) w[b * 256 + i] = ref_kquant(K[k].type, blk, i);
            }
            EXPECT(wf_ggml_dequant_raw(K[k].type, x, 3 * (size_t)K[k].bytes, y, 768) == WF_OK);
            expect_values(wf_ggml_type_name(K[k].type), y, w, 768);
        }
    }
}

/* llama.cpp's permute transcribed from numpy: W'[h, i, j] = W[h, j, i] over (n_head, half, 2) */
static void permute_ref(const float *w, float *out, int64_t rows, int64_t cols, int n_head) {
    int64_t half = rows / n_head / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(out + ((h * half + i) * 2 + j) * cols, w + ((h * 2 + j) * half + i) * cols,
                       (size_t)cols * sizeof(float));
}

static void test_unpermute(void) {
    float w4[4] = {0, 2, 1, 3}; /* one head, 4 rows of 1: the converter wrote rows 0, 2, 1, 3 */
    EXPECT(wf_gguf_unpermute_qk(w4, 4, 1, 1) == WF_OK);
    EXPECT(w4[0] == 0 && w4[1] == 1 && w4[2] == 2 && w4[3] == 3);
    enum { R = 48, C = 5 };
    float w[R * C], p[R * C];
    for (int i = 0; i < R * C; i++) w[i] = (float)i;
    for (int heads = 1; heads <= 24; heads++) {
        if (R % (2 * heads)) continue;
        permute_ref(w, p, R, C, heads);
        EXPECT(wf_gguf_unpermute_qk(p, R, C, heads) == WF_OK);
        EXPECT(memcmp(p, w, sizeof w) == 0);
    }
    EXPECT(wf_gguf_unpermute_qk(p, R, C, 5) == WF_ERR_INVALID);
    EXPECT(strstr(wf_last_error(), "48 rows for 5 heads"));
    EXPECT(wf_gguf_unpermute_qk(p, R, C, 0) == WF_ERR_INVALID);
    EXPECT(wf_gguf_unpermute_qk(p, R, 0, 2) == WF_ERR_INVALID);
}

int main(void) {
    test_valid();
    test_alignment();
    test_rejections();
    test_tensor_rejections();
    test_open();
    test_blocks_literal();
    test_blocks_literal_k();
    test_blocks_kquant_random();
    test_unpermute();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    else printf("gguf: all checks passed\n");
    return failures ? 1 : 0;
}
