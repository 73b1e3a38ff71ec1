/* gguf_dump: prints a GGUF file's metadata and tensor infos as JSON on stdout, read through the
 * weft reader (scalars through the typed getters), and optionally writes every tensor weft can
 * dequantize as raw little-endian fp32 to DIR/<index>.f32 (with --unpermute NAME=N_HEAD applied
 * to the named tensors; with --only NAME, only the named ones). Used by tests/interop/test_gguf.py
 * to compare against the gguf package.
 * Usage: gguf_dump FILE [--dequant DIR] [--unpermute NAME=N_HEAD]... [--only NAME]... */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/gguf.h"

static int die(void) {
    fprintf(stderr, "gguf_dump: %s\n", wf_last_error());
    return 1;
}

static void put_str(const char *s, int64_t len) {
    putchar('"');
    for (int64_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f) printf("\\u%04x", ch);
        else putchar(ch); /* UTF-8 bytes pass through */
    }
    putchar('"');
}

static void put_double(double v, const char *fmt) {
    if (isnan(v)) printf("NaN");
    else if (isinf(v)) printf(v > 0 ? "Infinity" : "-Infinity");
    else printf(fmt, v);
}

/* Element i of a kv's values as JSON. */
static void put_elem(const wf_gguf_kv *kv, int64_t i) {
    const void *p = kv->vals;
    switch (kv->elem) {
    case WF_GGUF_U8: printf("%u", ((const uint8_t *)p)[i]); break;
    case WF_GGUF_I8: printf("%d", ((const int8_t *)p)[i]); break;
    case WF_GGUF_U16: printf("%u", ((const uint16_t *)p)[i]); break;
    case WF_GGUF_I16: printf("%d", ((const int16_t *)p)[i]); break;
    case WF_GGUF_U32: printf("%" PRIu32, ((const uint32_t *)p)[i]); break;
    case WF_GGUF_I32: printf("%" PRId32, ((const int32_t *)p)[i]); break;
    case WF_GGUF_U64: printf("%" PRIu64, ((const uint64_t *)p)[i]); break;
    case WF_GGUF_I64: printf("%" PRId64, ((const int64_t *)p)[i]); break;
    case WF_GGUF_F32: put_double(((const float *)p)[i], "%.9g"); break;
    case WF_GGUF_F64: put_double(((const double *)p)[i], "%.17g"); break;
    case WF_GGUF_BOOL: printf(((const bool *)p)[i] ? "true" : "false"); break;
    case WF_GGUF_STRING: put_str(((const char *const *)p)[i], kv->lens[i]); break;
    default: printf("null"); break;
    }
}

/* Reads a scalar again through its typed getter, so the dump checks them on real files. */
static wf_status check_getter(const wf_gguf *g, const wf_gguf_kv *kv) {
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        uint64_t u64; int64_t i64; float f32; double f64; bool b; const char *s;
    } v;
    const void *want = kv->vals, *got = &v;
    size_t n = 0;
    switch (kv->type) {
    case WF_GGUF_U8: WF_TRY(wf_gguf_get_u8(g, kv->key, &v.u8)); n = 1; break;
    case WF_GGUF_I8: WF_TRY(wf_gguf_get_i8(g, kv->key, &v.i8)); n = 1; break;
    case WF_GGUF_U16: WF_TRY(wf_gguf_get_u16(g, kv->key, &v.u16)); n = 2; break;
    case WF_GGUF_I16: WF_TRY(wf_gguf_get_i16(g, kv->key, &v.i16)); n = 2; break;
    case WF_GGUF_U32: WF_TRY(wf_gguf_get_u32(g, kv->key, &v.u32)); n = 4; break;
    case WF_GGUF_I32: WF_TRY(wf_gguf_get_i32(g, kv->key, &v.i32)); n = 4; break;
    case WF_GGUF_U64: WF_TRY(wf_gguf_get_u64(g, kv->key, &v.u64)); n = 8; break;
    case WF_GGUF_I64: WF_TRY(wf_gguf_get_i64(g, kv->key, &v.i64)); n = 8; break;
    case WF_GGUF_F32: WF_TRY(wf_gguf_get_f32(g, kv->key, &v.f32)); n = 4; break;
    case WF_GGUF_F64: WF_TRY(wf_gguf_get_f64(g, kv->key, &v.f64)); n = 8; break;
    case WF_GGUF_BOOL: WF_TRY(wf_gguf_get_bool(g, kv->key, &v.b)); n = sizeof(bool); break;
    case WF_GGUF_STRING: WF_TRY(wf_gguf_get_str(g, kv->key, &v.s)); n = sizeof(char *); break;
    default: return WF_OK;
    }
    if (memcmp(want, got, n) != 0)
        return wf_error(WF_ERR_INVALID, "getter for '%s' disagrees with the kv table", kv->key);
    return WF_OK;
}

static wf_status dump_meta(const wf_gguf *g) {
    printf("{\"version\": %" PRIu32 ", \"alignment\": %zu, \"data_offset\": %zu,\n\"kv\": [",
           wf_gguf_version(g), wf_gguf_alignment(g), wf_gguf_data_offset(g));
    for (int64_t i = 0; i < wf_gguf_kv_count(g); i++) {
        const wf_gguf_kv *kv = wf_gguf_kv_at(g, i);
        WF_TRY(check_getter(g, kv));
        printf("%s\n{\"key\": ", i ? "," : "");
        put_str(kv->key, (int64_t)strlen(kv->key));
        printf(", \"type\": \"%s\", \"elem\": \"%s\", \"value\": ", wf_gguf_vtype_name(kv->type),
               wf_gguf_vtype_name(kv->elem));
        if (kv->type == WF_GGUF_ARRAY) putchar('[');
        for (int64_t j = 0; j < kv->count; j++) {
            if (j) putchar(',');
            put_elem(kv, j);
        }
        printf(kv->type == WF_GGUF_ARRAY ? "]}" : "}");
    }
    printf("],\n\"tensors\": [");
    for (int64_t i = 0; i < wf_gguf_tensor_count(g); i++) {
        const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
        printf("%s\n{\"name\": ", i ? "," : "");
        put_str(t->name, (int64_t)strlen(t->name));
        printf(", \"type\": \"%s\", \"type_id\": %d, \"ne\": [", wf_ggml_type_name(t->type),
               (int)t->type);
        for (int d = 0; d < t->n_dims; d++) printf("%s%" PRId64, d ? ", " : "", t->ne[d]);
        printf("], \"shape\": [");
        for (int d = 0; d < t->n_dims; d++) printf("%s%" PRId64, d ? ", " : "", t->shape[d]);
        printf("], \"numel\": %" PRId64 ", \"offset\": %" PRIu64 ", \"nbytes\": %zu, "
               "\"dequant\": %s}", t->numel, t->offset, t->nbytes,
               wf_ggml_type_can_dequant(t->type) ? "true" : "false");
    }
    printf("]}\n");
    return WF_OK;
}

/* N_HEAD for `name` from the --unpermute arguments, 0 if none. */
static int heads_for(const char *name, char **argv, int argc) {
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--unpermute") != 0) continue;
        const char *eq = strrchr(argv[i + 1], '=');
        if (eq && (size_t)(eq - argv[i + 1]) == strlen(name) &&
            strncmp(argv[i + 1], name, strlen(name)) == 0)
            return atoi(eq + 1);
    }
    return 0;
}

/* Whether `name` is to be written: no --only arguments, or one of them names it. */
static bool wanted(const char *name, char **argv, int argc) {
    bool any = false;
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--only") != 0) continue;
        any = true;
        if (strcmp(argv[i + 1], name) == 0) return true;
    }
    return !any;
}

static wf_status dump_data(const wf_gguf *g, const char *dir, char **argv, int argc) {
    for (int64_t i = 0; i < wf_gguf_tensor_count(g); i++) {
        const wf_gguf_tensor *t = wf_gguf_tensor_at(g, i);
        if (!wf_ggml_type_can_dequant(t->type) || !wanted(t->name, argv, argc)) continue;
        float *buf = malloc((size_t)t->numel * sizeof(float));
        if (!buf) return wf_error(WF_ERR_OOM, "no memory for tensor '%s'", t->name);
        wf_status s = wf_gguf_dequant_f32(t, buf, t->numel);
        int heads = heads_for(t->name, argv, argc);
        if (s == WF_OK && heads > 0)
            s = wf_gguf_unpermute_qk(buf, t->shape[0], t->numel / t->shape[0], heads);
        char path[4096];
        snprintf(path, sizeof path, "%s/%" PRId64 ".f32", dir, i);
        FILE *f = s == WF_OK ? fopen(path, "wb") : NULL;
        if (s == WF_OK && !f) s = wf_error(WF_ERR_IO, "%s: cannot create", path);
        if (f && fwrite(buf, sizeof(float), (size_t)t->numel, f) != (size_t)t->numel)
            s = wf_error(WF_ERR_IO, "%s: write failed", path);
        if (f && fclose(f) != 0 && s == WF_OK) s = wf_error(WF_ERR_IO, "%s: close failed", path);
        free(buf);
        WF_TRY(s);
    }
    return WF_OK;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: gguf_dump FILE [--dequant DIR] [--unpermute NAME=N_HEAD]... "
                        "[--only NAME]...\n");
        return 2;
    }
    const char *dir = NULL;
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], "--dequant") == 0) dir = argv[i + 1];
    wf_gguf *g;
    if (wf_gguf_open(argv[1], &g) != WF_OK) return die();
    wf_status s = dump_meta(g);
    if (s == WF_OK && dir) s = dump_data(g, dir, argv + 2, argc - 2);
    wf_gguf_close(g);
    return s == WF_OK ? 0 : die();
}
