/* GGUF parsing and metadata access: header, key-values, tensor infos, layout checks, getters.
 * The rules follow ggml/src/gguf.cpp (gguf_init_from_file_impl) and the facts in
 * shared/reference/FORMATS.md "GGUF"; every count, length and size comes from an untrusted file,
 * so each is bounded by the bytes left before anything is allocated, and every product is checked
 * for overflow. One rule is looser than gguf.cpp's: tensors may sit anywhere in the data section
 * (aligned, inside the file, not overlapping) instead of packed in info order. Block sizes and
 * dequantization live in gguf_dequant.c. */
#include "weft/gguf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "weft/mapped_file.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf_read.c copies little-endian file values as host values"
#endif

_Static_assert(SIZE_MAX >= INT64_MAX, "byte sizes are checked against INT64_MAX and kept in size_t");

#define CLIP 200                /* untrusted names in messages are clipped to this many bytes */
#define DEFAULT_ALIGNMENT 32    /* GGUF_DEFAULT_ALIGNMENT */
#define MIN_KV_BYTES 13         /* u64 key length + u32 type + a 1-byte value */
#define MIN_TENSOR_BYTES 32     /* u64 name length + u32 n_dims + one u64 dim + u32 type + u64 offset */

/* An append-only allocator: everything a wf_gguf owns beyond its tables is freed at once. */
typedef struct pool_chunk {
    struct pool_chunk *next;
    size_t cap, used;
    max_align_t mem[];
} pool_chunk;

struct wf_gguf {
    char *file;
    wf_mapped_file map; /* only for wf_gguf_open */
    uint32_t version;
    size_t alignment, data_offset;
    int64_t n_kv, n_tensors;
    wf_gguf_kv *kvs;                    /* (n_kv) file order */
    const wf_gguf_kv **kv_sorted;       /* (n_kv) by key, for lookup */
    wf_gguf_tensor *tensors;            /* (n_tensors) file order */
    const wf_gguf_tensor **t_sorted;    /* (n_tensors) by name, for lookup */
    pool_chunk *pool;
};

/* Reading state: the position and a description of what is being read, for messages. */
typedef struct cursor {
    const uint8_t *buf;
    size_t size, pos;
    wf_gguf *g;
    char where[CLIP + 64];
} cursor;

static void *pool_alloc(wf_gguf *g, size_t size) {
    if (size > SIZE_MAX / 2) return NULL;
    size = (size + 15) & ~(size_t)15;
    pool_chunk *c = g->pool;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = g->pool;
        g->pool = c;
    }
    void *p = (char *)c->mem + c->used;
    c->used += size;
    return p;
}

static wf_status oom(const cursor *c, size_t bytes) {
    return wf_error(WF_ERR_OOM, "%s: %s: out of memory allocating %zu bytes", c->g->file, c->where,
                    bytes);
}

/* A format error at the current position: "FILE: WHERE: at byte N: MESSAGE". */
static wf_status bad(const cursor *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static wf_status bad(const cursor *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return wf_error(WF_ERR_FORMAT, "%s: %s: at byte %zu: %s", c->g->file, c->where, c->pos, msg);
}

static wf_status need(const cursor *c, size_t n, const char *what) {
    if (c->size - c->pos >= n) return WF_OK;
    return bad(c, "%s needs %zu bytes but the file ends after %zu (file size %zu)", what, n,
               c->size - c->pos, c->size);
}

static wf_status rd_u32(cursor *c, uint32_t *v, const char *what) {
    WF_TRY(need(c, 4, what));
    memcpy(v, c->buf + c->pos, 4);
    c->pos += 4;
    return WF_OK;
}

static wf_status rd_u64(cursor *c, uint64_t *v, const char *what) {
    WF_TRY(need(c, 8, what));
    memcpy(v, c->buf + c->pos, 8);
    c->pos += 8;
    return WF_OK;
}

/* A GGUF string (u64 length, bytes, no terminator) copied into the pool with a NUL added. */
static wf_status rd_str(cursor *c, const char **s, int64_t *len, bool no_nul, const char *what) {
    uint64_t n;
    WF_TRY(rd_u64(c, &n, what));
    if (n > c->size - c->pos)
        return bad(c, "%s length %" PRIu64 " runs past the end of the file (%zu bytes left)", what,
                   n, c->size - c->pos);
    const uint8_t *src = c->buf + c->pos;
    if (no_nul && memchr(src, 0, (size_t)n))
        return bad(c, "%s contains a NUL byte", what);
    char *dst = pool_alloc(c->g, (size_t)n + 1);
    if (!dst) return oom(c, (size_t)n + 1);
    if (n) memcpy(dst, src, (size_t)n);
    dst[n] = 0;
    c->pos += (size_t)n;
    *s = dst;
    *len = (int64_t)n;
    return WF_OK;
}

const char *wf_gguf_vtype_name(wf_gguf_vtype t) {
    static const char *names[WF_GGUF_VTYPE_COUNT] = {"u8",   "i8",     "u16",   "i16", "u32",
                                                     "i32",  "f32",    "bool",  "string",
                                                     "array", "u64",   "i64",   "f64"};
    return (unsigned)t < WF_GGUF_VTYPE_COUNT ? names[t] : "unknown";
}

/* Bytes per element in the file; for strings the smallest possible (an empty one). */
static size_t vtype_size(wf_gguf_vtype t) {
    switch (t) {
    case WF_GGUF_U8: case WF_GGUF_I8: case WF_GGUF_BOOL: return 1;
    case WF_GGUF_U16: case WF_GGUF_I16: return 2;
    case WF_GGUF_U32: case WF_GGUF_I32: case WF_GGUF_F32: return 4;
    default: return 8; /* u64, i64, f64, string (its u64 length) */
    }
}

/* The values of one key: `count` elements of type `elem`, copied to aligned storage. */
static wf_status parse_values(cursor *c, wf_gguf_kv *kv, uint64_t count) {
    size_t esz = vtype_size(kv->elem);
    if (count > (c->size - c->pos) / esz)
        return bad(c, "%" PRIu64 " %s values (at least %zu bytes each) cannot fit in the %zu "
                      "bytes left", count, wf_gguf_vtype_name(kv->elem), esz, c->size - c->pos);
    kv->count = (int64_t)count;
    if (kv->elem == WF_GGUF_STRING) {
        const char **strs = pool_alloc(c->g, count * sizeof *strs + 1);
        int64_t *lens = pool_alloc(c->g, count * sizeof *lens + 1);
        if (!strs || !lens) return oom(c, count * 16);
        for (uint64_t i = 0; i < count; i++) WF_TRY(rd_str(c, &strs[i], &lens[i], false, "string"));
        kv->vals = strs;
        kv->lens = lens;
        return WF_OK;
    }
    const uint8_t *src = c->buf + c->pos;
    size_t bytes = (size_t)count * esz;
    if (kv->elem == WF_GGUF_BOOL) {
        bool *b = pool_alloc(c->g, (size_t)count * sizeof *b + 1);
        if (!b) return oom(c, (size_t)count);
        for (uint64_t i = 0; i < count; i++) {
            if (src[i] > 1) {
                c->pos += (size_t)i;
                return bad(c, "bool element %" PRIu64 " is %u, expected 0 or 1", i, src[i]);
            }
            b[i] = src[i] != 0;
        }
        kv->vals = b;
    } else {
        void *v = pool_alloc(c->g, bytes + 1);
        if (!v) return oom(c, bytes);
        if (bytes) memcpy(v, src, bytes);
        kv->vals = v;
    }
    c->pos += bytes;
    return WF_OK;
}

static wf_status parse_kv(cursor *c, int64_t i, wf_gguf_kv *kv) {
    snprintf(c->where, sizeof c->where, "key-value %" PRId64, i);
    int64_t klen;
    WF_TRY(rd_str(c, &kv->key, &klen, true, "key"));
    snprintf(c->where, sizeof c->where, "key '%.*s'", CLIP, kv->key);
    uint32_t type, elem;
    WF_TRY(rd_u32(c, &type, "value type"));
    if (type >= WF_GGUF_VTYPE_COUNT)
        return bad(c, "value type %" PRIu32 " is not a GGUF type (expected 0..12)", type);
    kv->type = kv->elem = (wf_gguf_vtype)type;
    uint64_t count = 1;
    if (type == WF_GGUF_ARRAY) {
        WF_TRY(rd_u32(c, &elem, "array element type"));
        if (elem >= WF_GGUF_VTYPE_COUNT)
            return bad(c, "array element type %" PRIu32 " is not a GGUF type (expected 0..12)",
                       elem);
        if (elem == WF_GGUF_ARRAY) /* gguf.cpp rejects them too; no known writer makes them */
            return bad(c, "arrays of arrays are not supported");
        kv->elem = (wf_gguf_vtype)elem;
        WF_TRY(rd_u64(c, &count, "array length"));
    }
    return parse_values(c, kv, count);
}

static int cmp_kv(const void *a, const void *b) {
    return strcmp((*(const wf_gguf_kv *const *)a)->key, (*(const wf_gguf_kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const wf_gguf_tensor *const *)a)->name,
                  (*(const wf_gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    uint64_t x = (*(const wf_gguf_tensor *const *)a)->offset;
    uint64_t y = (*(const wf_gguf_tensor *const *)b)->offset;
    return x < y ? -1 : x > y;
}

static wf_status parse_kvs(cursor *c) {
    wf_gguf *g = c->g;
    for (int64_t i = 0; i < g->n_kv; i++) WF_TRY(parse_kv(c, i, &g->kvs[i]));
    for (int64_t i = 0; i < g->n_kv; i++) g->kv_sorted[i] = &g->kvs[i];
    if (g->n_kv > 1) qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    for (int64_t i = 1; i < g->n_kv; i++)
        if (strcmp(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key) == 0)
            return wf_error(WF_ERR_FORMAT, "%s: key '%.*s' appears more than once", g->file, CLIP,
                            g->kv_sorted[i]->key);
    return WF_OK;
}

/* Dims, type and size of one tensor info; all products checked before they are formed. */
static wf_status parse_dims(cursor *c, wf_gguf_tensor *t) {
    uint32_t n_dims, type;
    WF_TRY(rd_u32(c, &n_dims, "n_dims"));
    if (n_dims < 1 || n_dims > 4)
        return bad(c, "n_dims is %" PRIu32 ", expected 1..4", n_dims);
    t->n_dims = (int)n_dims;
    int64_t numel = 1;
    for (int d = 0; d < 4; d++) t->ne[d] = 1, t->shape[d] = 0;
    for (int d = 0; d < t->n_dims; d++) {
        uint64_t v;
        WF_TRY(rd_u64(c, &v, "dimension"));
        if (v == 0 || v > (uint64_t)INT64_MAX)
            return bad(c, "dimension %d is %" PRIu64 ", expected 1..2^63-1", d, v);
        if ((int64_t)v > INT64_MAX / numel)
            return bad(c, "the element count overflows 64 bits at dimension %d", d);
        numel *= (int64_t)v;
        t->ne[d] = (int64_t)v;
        t->shape[t->n_dims - 1 - d] = (int64_t)v;
    }
    t->numel = numel;
    WF_TRY(rd_u32(c, &type, "tensor type"));
    int64_t block, bytes;
    if (!wf_ggml_type_size((int)type, &block, &bytes))
        return bad(c, "tensor type %" PRIu32 " is not a known ggml type", type);
    t->type = (wf_ggml_type)type;
    if (t->ne[0] % block != 0) /* ggml quantizes rows, so a block never spans two rows */
        return bad(c, "row length ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRId64,
                   t->ne[0], wf_ggml_type_name((int)type), block);
    if (numel / block > INT64_MAX / bytes) /* size_t holds INT64_MAX: asserted at the top */
        return bad(c, "the byte size of %" PRId64 " %s elements overflows", numel,
                   wf_ggml_type_name((int)type));
    t->nbytes = (size_t)(numel / block * bytes);
    return WF_OK;
}

static wf_status parse_tensor_info(cursor *c, int64_t i, wf_gguf_tensor *t) {
    snprintf(c->where, sizeof c->where, "tensor info %" PRId64, i);
    int64_t len;
    WF_TRY(rd_str(c, &t->name, &len, true, "tensor name"));
    snprintf(c->where, sizeof c->where, "tensor '%.*s'", CLIP, t->name);
    WF_TRY(parse_dims(c, t));
    WF_TRY(rd_u64(c, &t->offset, "data offset"));
    t->file = c->g->file;
    return WF_OK;
}

/* general.alignment: a u32 power of two (gguf.cpp reads it with gguf_get_val_u32). */
static wf_status read_alignment(wf_gguf *g) {
    g->alignment = DEFAULT_ALIGNMENT;
    const wf_gguf_kv *kv = wf_gguf_find_kv(g, "general.alignment");
    if (!kv) return WF_OK;
    if (kv->type != WF_GGUF_U32)
        return wf_error(WF_ERR_FORMAT, "%s: key 'general.alignment' has type %s, expected u32",
                        g->file, wf_gguf_vtype_name(kv->type));
    uint32_t a = *(const uint32_t *)kv->vals;
    if (a == 0 || (a & (a - 1)) != 0)
        return wf_error(WF_ERR_FORMAT,
                        "%s: key 'general.alignment' is %" PRIu32 ", expected a power of two",
                        g->file, a);
    g->alignment = a;
    return WF_OK;
}

/* Each tensor's data: aligned, inside the file, not shared with another tensor. */
static wf_status check_layout(wf_gguf *g, size_t file_size) {
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const wf_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            return wf_error(WF_ERR_FORMAT,
                            "%s: tensor '%.*s': data offset %" PRIu64
                            " is not a multiple of general.alignment %zu",
                            g->file, CLIP, t->name, t->offset, g->alignment);
        size_t avail = g->data_offset <= file_size ? file_size - g->data_offset : 0;
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return wf_error(WF_ERR_FORMAT,
                            "%s: tensor '%.*s': data at offset %" PRIu64 " (%zu bytes) runs "
                            "past the end of the data section (%zu bytes from file offset %zu)",
                            g->file, CLIP, t->name, t->offset, t->nbytes, avail, g->data_offset);
    }
    const wf_gguf_tensor **s = g->t_sorted;
    for (int64_t i = 0; i < g->n_tensors; i++) s[i] = &g->tensors[i];
    if (g->n_tensors > 1) qsort(s, (size_t)g->n_tensors, sizeof *s, cmp_tensor_offset);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (s[i - 1]->offset + s[i - 1]->nbytes > s[i]->offset)
            return wf_error(WF_ERR_FORMAT,
                            "%s: tensor '%.*s' (data at %" PRIu64 ", %zu bytes) overlaps "
                            "tensor '%.*s' (data at %" PRIu64 ")",
                            g->file, CLIP, s[i - 1]->name, s[i - 1]->offset, s[i - 1]->nbytes,
                            CLIP, s[i]->name, s[i]->offset);
    if (g->n_tensors > 1) qsort(s, (size_t)g->n_tensors, sizeof *s, cmp_tensor_name);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (strcmp(s[i - 1]->name, s[i]->name) == 0)
            return wf_error(WF_ERR_FORMAT, "%s: tensor name '%.*s' appears more than once",
                            g->file, CLIP, s[i]->name);
    return WF_OK;
}

static wf_status parse_header(cursor *c) {
    wf_gguf *g = c->g;
    snprintf(c->where, sizeof c->where, "header");
    if (c->size < 4 || memcmp(c->buf, "GGUF", 4) != 0) {
        if (c->size < 4)
            return bad(c, "the file is %zu bytes, too short for a GGUF header", c->size);
        return bad(c, "not a GGUF file: the first bytes are %02x %02x %02x %02x, expected \"GGUF\"",
                   c->buf[0], c->buf[1], c->buf[2], c->buf[3]);
    }
    c->pos = 4;
    WF_TRY(rd_u32(c, &g->version, "version"));
    uint32_t v = g->version;
    if (v == 1)
        return bad(c, "GGUF version 1 is not supported (it used 32-bit counts); expected version 3 "
                      "- convert the model again with a current llama.cpp");
    if ((v & 0xffffu) == 0 && (v >> 24) >= 1 && (v >> 24) <= 3)
        return bad(c, "version field reads 0x%08" PRIx32 ": a big-endian GGUF, which is not "
                      "supported (expected a little-endian version 3)", v);
    if (v != 2 && v != 3)
        return bad(c, "GGUF version %" PRIu32 " is not supported (expected 3; 2 is also read)", v);
    uint64_t nt, nkv;
    WF_TRY(rd_u64(c, &nt, "tensor count"));
    WF_TRY(rd_u64(c, &nkv, "metadata count"));
    size_t left = c->size - c->pos;
    /* bound both counts by the bytes left before allocating anything for them */
    if (nkv > left / MIN_KV_BYTES)
        return bad(c, "metadata count %" PRIu64 " cannot fit in the %zu bytes left "
                      "(a key-value takes at least %d bytes)", nkv, left, MIN_KV_BYTES);
    if (nt > (left - nkv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return bad(c, "tensor count %" PRIu64 " cannot fit in the %zu bytes left "
                      "(a tensor info takes at least %d bytes)", nt, left, MIN_TENSOR_BYTES);
    g->n_tensors = (int64_t)nt;
    g->n_kv = (int64_t)nkv;
    g->kvs = calloc((size_t)nkv + 1, sizeof *g->kvs);
    g->kv_sorted = calloc((size_t)nkv + 1, sizeof *g->kv_sorted);
    g->tensors = calloc((size_t)nt + 1, sizeof *g->tensors);
    g->t_sorted = calloc((size_t)nt + 1, sizeof *g->t_sorted);
    if (!g->kvs || !g->kv_sorted || !g->tensors || !g->t_sorted)
        return oom(c, (size_t)(nkv + nt) * sizeof(wf_gguf_kv));
    return WF_OK;
}

static wf_status parse_all(wf_gguf *g, const uint8_t *buf, size_t size) {
    cursor c = {.buf = buf, .size = size, .g = g};
    WF_TRY(parse_header(&c));
    WF_TRY(parse_kvs(&c));
    for (int64_t i = 0; i < g->n_tensors; i++) WF_TRY(parse_tensor_info(&c, i, &g->tensors[i]));
    WF_TRY(read_alignment(g));
    /* the data section starts at the next multiple of the alignment (gguf.cpp: GGML_PAD) */
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    if (pad > SIZE_MAX - c.pos)
        return wf_error(WF_ERR_FORMAT, "%s: data offset overflows", g->file);
    g->data_offset = c.pos + pad;
    WF_TRY(check_layout(g, size));
    for (int64_t i = 0; i < g->n_tensors; i++)
        g->tensors[i].data = buf + g->data_offset + g->tensors[i].offset;
    return WF_OK;
}

wf_status wf_gguf_parse(const void *buf, size_t size, const char *name, wf_gguf **out) {
    *out = NULL;
    if (!name) name = "<gguf buffer>";
    if (!buf && size) return wf_error(WF_ERR_INVALID, "%s: NULL buffer of %zu bytes", name, size);
    wf_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->file = strdup(name))) {
        free(g);
        return wf_error(WF_ERR_OOM, "%s: out of memory", name);
    }
    static const uint8_t empty[1];
    wf_status s = parse_all(g, buf ? buf : empty, size);
    if (s != WF_OK) {
        wf_gguf_close(g);
        return s;
    }
    *out = g;
    return WF_OK;
}

wf_status wf_gguf_open(const char *path, wf_gguf **out) {
    *out = NULL;
    wf_mapped_file m;
    WF_TRY(wf_file_map(path, &m));
    wf_status s = wf_gguf_parse(m.data, m.size, path, out);
    if (s != WF_OK) {
        wf_file_unmap(&m);
        return s;
    }
    (*out)->map = m;
    return WF_OK;
}

void wf_gguf_close(wf_gguf *g) {
    if (!g) return;
    wf_file_unmap(&g->map);
    while (g->pool) {
        pool_chunk *next = g->pool->next;
        free(g->pool);
        g->pool = next;
    }
    free(g->kvs);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->t_sorted);
    free(g->file);
    free(g);
}

const char *wf_gguf_name(const wf_gguf *g) { return g->file; }
uint32_t wf_gguf_version(const wf_gguf *g) { return g->version; }
size_t wf_gguf_alignment(const wf_gguf *g) { return g->alignment; }
size_t wf_gguf_data_offset(const wf_gguf *g) { return g->data_offset; }
int64_t wf_gguf_kv_count(const wf_gguf *g) { return g->n_kv; }
int64_t wf_gguf_tensor_count(const wf_gguf *g) { return g->n_tensors; }

const wf_gguf_kv *wf_gguf_kv_at(const wf_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kvs[i] : NULL;
}

const wf_gguf_tensor *wf_gguf_tensor_at(const wf_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const wf_gguf_kv *wf_gguf_find_kv(const wf_gguf *g, const char *key) {
    wf_gguf_kv probe = {.key = key};
    const wf_gguf_kv *pp = &probe;
    const wf_gguf_kv **hit = g->n_kv ? bsearch(&pp, g->kv_sorted, (size_t)g->n_kv,
                                               sizeof *g->kv_sorted, cmp_kv) : NULL;
    return hit ? *hit : NULL;
}

const wf_gguf_tensor *wf_gguf_find_tensor(const wf_gguf *g, const char *name) {
    wf_gguf_tensor probe = {.name = name};
    const wf_gguf_tensor *pp = &probe;
    const wf_gguf_tensor **hit =
        g->n_tensors ? bsearch(&pp, g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted,
                               cmp_tensor_name) : NULL;
    return hit ? *hit : NULL;
}

wf_status wf_gguf_get_tensor(const wf_gguf *g, const char *name, const wf_gguf_tensor **out) {
    *out = wf_gguf_find_tensor(g, name);
    if (!*out) return wf_error(WF_ERR_FORMAT, "%s: tensor '%s' is missing", g->file, name);
    return WF_OK;
}

/* The entry for `key` if it has exactly the wanted type (scalar or array of `want`). */
static wf_status find_typed(const wf_gguf *g, const char *key, wf_gguf_vtype want, bool array,
                            const wf_gguf_kv **out) {
    const char *pre = array ? "array of " : "";
    const wf_gguf_kv *kv = wf_gguf_find_kv(g, key);
    *out = kv;
    if (!kv)
        return wf_error(WF_ERR_FORMAT, "%s: key '%s' is missing (expected %s%s)", g->file, key,
                        pre, wf_gguf_vtype_name(want));
    bool is_array = kv->type == WF_GGUF_ARRAY;
    if (is_array != array || kv->elem != want)
        return wf_error(WF_ERR_FORMAT, "%s: key '%s' has type %s%s, expected %s%s", g->file, key,
                        is_array ? "array of " : "", wf_gguf_vtype_name(kv->elem), pre,
                        wf_gguf_vtype_name(want));
    return WF_OK;
}

#define WF_GGUF_GETTERS(suffix, ctype, vt)                                                         \
    wf_status wf_gguf_get_##suffix(const wf_gguf *g, const char *key, ctype *out) {                \
        const wf_gguf_kv *kv;                                                                      \
        WF_TRY(find_typed(g, key, vt, false, &kv));                                                \
        *out = *(const ctype *)kv->vals;                                                           \
        return WF_OK;                                                                              \
    }                                                                                              \
    wf_status wf_gguf_get_arr_##suffix(const wf_gguf *g, const char *key, const ctype **vals,      \
                                       int64_t *n) {                                               \
        const wf_gguf_kv *kv;                                                                      \
        WF_TRY(find_typed(g, key, vt, true, &kv));                                                 \
        *vals = (const ctype *)kv->vals;                                                           \
        *n = kv->count;                                                                            \
        return WF_OK;                                                                              \
    }

WF_GGUF_GETTERS(u8, uint8_t, WF_GGUF_U8)
WF_GGUF_GETTERS(i8, int8_t, WF_GGUF_I8)
WF_GGUF_GETTERS(u16, uint16_t, WF_GGUF_U16)
WF_GGUF_GETTERS(i16, int16_t, WF_GGUF_I16)
WF_GGUF_GETTERS(u32, uint32_t, WF_GGUF_U32)
WF_GGUF_GETTERS(i32, int32_t, WF_GGUF_I32)
WF_GGUF_GETTERS(u64, uint64_t, WF_GGUF_U64)
WF_GGUF_GETTERS(i64, int64_t, WF_GGUF_I64)
WF_GGUF_GETTERS(f32, float, WF_GGUF_F32)
WF_GGUF_GETTERS(f64, double, WF_GGUF_F64)
WF_GGUF_GETTERS(bool, bool, WF_GGUF_BOOL)

wf_status wf_gguf_get_str(const wf_gguf *g, const char *key, const char **out) {
    const wf_gguf_kv *kv;
    WF_TRY(find_typed(g, key, WF_GGUF_STRING, false, &kv));
    *out = *(const char *const *)kv->vals;
    return WF_OK;
}

wf_status wf_gguf_get_arr_str(const wf_gguf *g, const char *key, const char *const **vals,
                              int64_t *n) {
    const wf_gguf_kv *kv;
    WF_TRY(find_typed(g, key, WF_GGUF_STRING, true, &kv));
    *vals = (const char *const *)kv->vals;
    *n = kv->count;
    return WF_OK;
}

wf_status wf_gguf_get_int(const wf_gguf *g, const char *key, int64_t *out) {
    const wf_gguf_kv *kv = wf_gguf_find_kv(g, key);
    if (!kv) return wf_error(WF_ERR_FORMAT, "%s: key '%s' is missing (expected an integer)",
                             g->file, key);
    const void *p = kv->vals;
    switch (kv->type) {
    case WF_GGUF_U8: *out = *(const uint8_t *)p; return WF_OK;
    case WF_GGUF_I8: *out = *(const int8_t *)p; return WF_OK;
    case WF_GGUF_U16: *out = *(const uint16_t *)p; return WF_OK;
    case WF_GGUF_I16: *out = *(const int16_t *)p; return WF_OK;
    case WF_GGUF_U32: *out = *(const uint32_t *)p; return WF_OK;
    case WF_GGUF_I32: *out = *(const int32_t *)p; return WF_OK;
    case WF_GGUF_I64: *out = *(const int64_t *)p; return WF_OK;
    case WF_GGUF_U64:
        if (*(const uint64_t *)p > (uint64_t)INT64_MAX)
            return wf_error(WF_ERR_FORMAT, "%s: key '%s' is %" PRIu64 ", expected at most 2^63-1",
                            g->file, key, *(const uint64_t *)p);
        *out = (int64_t)*(const uint64_t *)p;
        return WF_OK;
    default:
        return wf_error(WF_ERR_FORMAT, "%s: key '%s' has type %s%s, expected an integer", g->file,
                        key, kv->type == WF_GGUF_ARRAY ? "array of " : "",
                        wf_gguf_vtype_name(kv->elem));
    }
}

wf_status wf_gguf_get_float(const wf_gguf *g, const char *key, double *out) {
    const wf_gguf_kv *kv = wf_gguf_find_kv(g, key);
    if (!kv) return wf_error(WF_ERR_FORMAT, "%s: key '%s' is missing (expected f32 or f64)",
                             g->file, key);
    if (kv->type == WF_GGUF_F32) *out = *(const float *)kv->vals;
    else if (kv->type == WF_GGUF_F64) *out = *(const double *)kv->vals;
    else
        return wf_error(WF_ERR_FORMAT, "%s: key '%s' has type %s%s, expected f32 or f64", g->file,
                        key, kv->type == WF_GGUF_ARRAY ? "array of " : "",
                        wf_gguf_vtype_name(kv->elem));
    return WF_OK;
}
