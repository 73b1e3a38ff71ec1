/* Reading safetensors files: header parsing, the reference reader's validation, lookups, fp32.
 * Rejection rules and their order follow huggingface/safetensors safetensors/src/tensor.rs
 * (SafeTensors::read_metadata, Metadata::validate), listed in shared/reference/FORMATS.md:
 * size < 8; N > 1e8; 8 + N past EOF; UTF-8; JSON and field types (in document order); per
 * tensor sorted by offsets: gap/overlap, overflow, whole bytes, size; trailing bytes; and
 * (stricter than the reference, which keeps the last of a repeated key) duplicate names. */
#include "weft/safetensors.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors_json.h"
#include "weft/dtype.h"
#include "weft/mapped_file.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader hands it out unconverted"
#endif

#define MAX_HEADER 100000000u /* the reference's MAX_HEADER_SIZE */

static const int64_t NO_DIMS[1] = {0}; /* shape of rank-0 tensors: a valid pointer, never read */

static const struct {
    const char *name;
    int bits;
} DTYPES[WF_ST_DTYPE_COUNT] = {
    [WF_ST_BOOL] = {"BOOL", 8},
    [WF_ST_F4] = {"F4", 4},
    [WF_ST_F6_E2M3] = {"F6_E2M3", 6},
    [WF_ST_F6_E3M2] = {"F6_E3M2", 6},
    [WF_ST_U8] = {"U8", 8},
    [WF_ST_I8] = {"I8", 8},
    [WF_ST_F8_E5M2] = {"F8_E5M2", 8},
    [WF_ST_F8_E4M3] = {"F8_E4M3", 8},
    [WF_ST_F8_E8M0] = {"F8_E8M0", 8},
    [WF_ST_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [WF_ST_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
    [WF_ST_I16] = {"I16", 16},
    [WF_ST_U16] = {"U16", 16},
    [WF_ST_F16] = {"F16", 16},
    [WF_ST_BF16] = {"BF16", 16},
    [WF_ST_I32] = {"I32", 32},
    [WF_ST_U32] = {"U32", 32},
    [WF_ST_F32] = {"F32", 32},
    [WF_ST_C64] = {"C64", 64},
    [WF_ST_F64] = {"F64", 64},
    [WF_ST_I64] = {"I64", 64},
    [WF_ST_U64] = {"U64", 64},
};

const char *wf_st_dtype_name(wf_st_dtype t) {
    return (unsigned)t < WF_ST_DTYPE_COUNT ? DTYPES[t].name : "?";
}
int wf_st_dtype_bits(wf_st_dtype t) { return (unsigned)t < WF_ST_DTYPE_COUNT ? DTYPES[t].bits : 0; }

bool wf_st_dtype_parse(const char *s, size_t len, wf_st_dtype *out) {
    for (int t = 0; t < WF_ST_DTYPE_COUNT; t++) {
        if (strlen(DTYPES[t].name) == len && memcmp(DTYPES[t].name, s, len) == 0) {
            *out = (wf_st_dtype)t;
            return true;
        }
    }
    return false;
}

struct wf_st_file {
    char *name;
    wf_mapped_file map; /* when opened by path */
    char *pool;         /* decoded names, keys and values */
    int64_t count;
    wf_st_tensor *tensors;        /* (count) by data offset */
    const wf_st_tensor **by_name; /* (count) sorted by name */
    int64_t *dims;                /* every shape, back to back */
    int64_t nmeta;
    wf_st_kv *meta;               /* (nmeta) header order */
    const wf_st_kv **meta_by_key; /* (nmeta) sorted by key */
};

/* One header entry while parsing: shapes live in b->dims until the file is built. */
typedef struct rec {
    const char *name;
    wf_st_dtype dtype;
    int ndim;
    size_t shape_at;
    uint64_t begin, end;
} rec;

typedef struct builder {
    wf_st_file *f;
    wf_stj j;
    rec *recs;
    size_t nrecs, recs_cap;
    int64_t *dims;
    size_t ndims, dims_cap;
    wf_st_kv *meta;
    size_t nmeta, meta_cap;
    bool have_meta;
} builder;

/* Makes room for `need` elements of `elem` bytes; false on overflow or out of memory. */
static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return false;
        nc *= 2;
    }
    void *q = realloc(*p, nc * elem);
    if (!q) return false;
    *p = q, *cap = nc;
    return true;
}

static wf_status oom(const builder *b) {
    return wf_error(WF_ERR_OOM, "%s: out of memory while indexing the header", b->f->name);
}

/* Names are C strings here: a decoded U+0000 would make two different names compare equal. */
static wf_status check_nul(const builder *b, const char *s, size_t n, const char *what) {
    if (strlen(s) == n) return WF_OK;
    return wf_error(WF_ERR_UNSUPPORTED,
                    "%s: %s '%s...' contains U+0000, which weft does not accept", b->f->name, what,
                    s);
}

static wf_status parse_metadata(builder *b) {
    wf_stj *j = &b->j;
    if (b->have_meta)
        return wf_error(WF_ERR_FORMAT, "%s: \"__metadata__\" appears twice", b->f->name);
    b->have_meta = true;
    if (wf_stj_peek(j) == 'n') return wf_stj_skip(j); /* null: the reference's Option::None */
    if (wf_stj_peek(j) != '{')
        return wf_error(WF_ERR_FORMAT,
                        "%s: \"__metadata__\" must be an object of strings, found %s", b->f->name,
                        wf_stj_kind(j));
    j->pos++;
    bool more;
    WF_TRY(wf_stj_next(j, '}', true, &more));
    while (more) {
        wf_st_kv kv;
        size_t kn, vn;
        WF_TRY(wf_stj_string(j, &kv.key, &kn));
        WF_TRY(check_nul(b, kv.key, kn, "__metadata__ key"));
        WF_TRY(wf_stj_expect(j, ':', "':'"));
        if (wf_stj_peek(j) != '"')
            return wf_error(WF_ERR_FORMAT,
                            "%s: __metadata__ key '%.200s': value must be a string, "
                            "found %s",
                            b->f->name, kv.key, wf_stj_kind(j));
        WF_TRY(wf_stj_string(j, &kv.value, &vn));
        WF_TRY(check_nul(b, kv.value, vn, "__metadata__ value"));
        if (!grow((void **)&b->meta, &b->meta_cap, b->nmeta + 1, sizeof *b->meta)) return oom(b);
        b->meta[b->nmeta++] = kv;
        WF_TRY(wf_stj_next(j, '}', false, &more));
    }
    return WF_OK;
}

static wf_status parse_shape(builder *b, rec *r) {
    wf_stj *j = &b->j;
    if (wf_stj_peek(j) != '[')
        return wf_error(WF_ERR_FORMAT,
                        "%s: tensor '%.200s': \"shape\" must be an array of "
                        "non-negative integers, found %s",
                        b->f->name, r->name, wf_stj_kind(j));
    j->pos++;
    r->shape_at = b->ndims;
    r->ndim = 0;
    bool more;
    WF_TRY(wf_stj_next(j, ']', true, &more));
    while (more) {
        uint64_t v;
        WF_TRY(wf_stj_uint(j, &v, "tensor '%.200s': shape[%d]", r->name, r->ndim));
        if (v > INT64_MAX) /* the reference takes up to 2^64-1; such a dim can only hold 0 bytes */
            return wf_error(WF_ERR_FORMAT,
                            "%s: tensor '%.200s': shape[%d] = %" PRIu64 " exceeds "
                            "2^63-1",
                            b->f->name, r->name, r->ndim, v);
        if (!grow((void **)&b->dims, &b->dims_cap, b->ndims + 1, sizeof *b->dims)) return oom(b);
        b->dims[b->ndims++] = (int64_t)v;
        r->ndim++; /* at most N/2 < INT_MAX entries fit in a header */
        WF_TRY(wf_stj_next(j, ']', false, &more));
    }
    return WF_OK;
}

static wf_status parse_offsets(builder *b, rec *r) {
    wf_stj *j = &b->j;
    const char *want = "\"data_offsets\" must be [begin, end], two non-negative integers";
    if (wf_stj_peek(j) != '[')
        return wf_error(WF_ERR_FORMAT, "%s: tensor '%.200s': %s, found %s", b->f->name, r->name,
                        want, wf_stj_kind(j));
    j->pos++;
    uint64_t v[2];
    int n = 0;
    bool more;
    WF_TRY(wf_stj_next(j, ']', true, &more));
    while (more) {
        if (n == 2)
            return wf_error(WF_ERR_FORMAT, "%s: tensor '%.200s': %s, found more than two",
                            b->f->name, r->name, want);
        WF_TRY(wf_stj_uint(j, &v[n], "tensor '%.200s': data_offsets[%d]", r->name, n));
        n++;
        WF_TRY(wf_stj_next(j, ']', false, &more));
    }
    if (n != 2)
        return wf_error(WF_ERR_FORMAT, "%s: tensor '%.200s': %s, found %d", b->f->name, r->name,
                        want, n);
    r->begin = v[0], r->end = v[1];
    return WF_OK;
}

static wf_status parse_dtype(builder *b, rec *r) {
    wf_stj *j = &b->j;
    if (wf_stj_peek(j) != '"')
        return wf_error(WF_ERR_FORMAT, "%s: tensor '%.200s': \"dtype\" must be a string, found %s",
                        b->f->name, r->name, wf_stj_kind(j));
    const char *s;
    size_t n, mark = j->pool_used;
    WF_TRY(wf_stj_string(j, &s, &n));
    if (!wf_st_dtype_parse(s, n, &r->dtype)) {
        char known[256];
        size_t w = 0;
        for (int t = 0; t < WF_ST_DTYPE_COUNT; t++)
            w +=
                (size_t)snprintf(known + w, sizeof known - w, "%s%s", t ? " " : "", DTYPES[t].name);
        return wf_error(WF_ERR_FORMAT,
                        "%s: tensor '%.200s': unknown dtype \"%.40s\" (expected one "
                        "of %s)",
                        b->f->name, r->name, s, known);
    }
    j->pool_used = mark;
    return WF_OK;
}

/* {"dtype": str, "shape": [uint...], "data_offsets": [uint, uint]}; other fields are skipped,
 * as the reference's serde derive does; a repeated field is an error, as there. */
static wf_status parse_tensor(builder *b, const char *name) {
    wf_stj *j = &b->j;
    if (wf_stj_peek(j) != '{')
        return wf_error(WF_ERR_FORMAT,
                        "%s: tensor '%.200s': expected an object with \"dtype\", "
                        "\"shape\" and \"data_offsets\", found %s",
                        b->f->name, name, wf_stj_kind(j));
    j->pos++;
    rec r = {.name = name};
    bool seen[3] = {false, false, false}, more;
    static const char *const FIELDS[3] = {"dtype", "shape", "data_offsets"};
    WF_TRY(wf_stj_next(j, '}', true, &more));
    while (more) {
        const char *key;
        size_t kn, mark = j->pool_used;
        WF_TRY(wf_stj_string(j, &key, &kn));
        int field = -1;
        for (int i = 0; i < 3; i++)
            if (kn == strlen(FIELDS[i]) && memcmp(key, FIELDS[i], kn) == 0) field = i;
        j->pool_used = mark; /* field names are not kept */
        WF_TRY(wf_stj_expect(j, ':', "':'"));
        if (field >= 0 && seen[field])
            return wf_error(WF_ERR_FORMAT, "%s: tensor '%.200s': \"%s\" appears twice", b->f->name,
                            name, FIELDS[field]);
        if (field >= 0) seen[field] = true;
        if (field == 0)
            WF_TRY(parse_dtype(b, &r));
        else if (field == 1)
            WF_TRY(parse_shape(b, &r));
        else if (field == 2)
            WF_TRY(parse_offsets(b, &r));
        else {
            j->depth = 2; /* inside the header object and this tensor's */
            WF_TRY(wf_stj_skip(j));
        }
        WF_TRY(wf_stj_next(j, '}', false, &more));
    }
    for (int i = 0; i < 3; i++)
        if (!seen[i])
            return wf_error(WF_ERR_FORMAT,
                            "%s: tensor '%.200s': missing \"%s\" (each tensor needs "
                            "dtype, shape and data_offsets)",
                            b->f->name, name, FIELDS[i]);
    if (!grow((void **)&b->recs, &b->recs_cap, b->nrecs + 1, sizeof *b->recs)) return oom(b);
    b->recs[b->nrecs++] = r;
    return WF_OK;
}

static wf_status parse_header(builder *b) {
    wf_stj *j = &b->j;
    if (wf_stj_peek(j) != '{')
        return wf_error(WF_ERR_FORMAT, "%s: the header must be a JSON object, found %s", b->f->name,
                        wf_stj_kind(j));
    j->pos++;
    bool more;
    WF_TRY(wf_stj_next(j, '}', true, &more));
    while (more) {
        const char *key;
        size_t kn;
        WF_TRY(wf_stj_string(j, &key, &kn));
        WF_TRY(wf_stj_expect(j, ':', "':'"));
        if (kn == 12 && memcmp(key, "__metadata__", 12) == 0) {
            WF_TRY(parse_metadata(b));
        } else {
            WF_TRY(check_nul(b, key, kn, "tensor name"));
            WF_TRY(parse_tensor(b, key));
        }
        WF_TRY(wf_stj_next(j, '}', false, &more));
    }
    return wf_stj_end(j);
}

/* "[2, 3, 4]", cut short with "...]" when it does not fit. */
static const char *shape_str(const int64_t *d, int n, char *buf, size_t cap) {
    size_t w = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && w + 24 < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w, i ? ", %" PRId64 : "%" PRId64, d[i]);
    snprintf(buf + w, cap - w, w + 24 < cap ? "]" : "...]");
    return buf;
}

typedef struct span {
    uint64_t begin, end;
    size_t i;
} span;

static int cmp_span(const void *pa, const void *pb) {
    const span *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static wf_status check_offsets(const builder *b, const rec *r, uint64_t start, const rec *prev) {
    const char *f = b->f->name;
    if (prev && strcmp(prev->name, r->name) == 0) /* a repeated entry overlaps itself */
        return wf_error(WF_ERR_FORMAT,
                        "%s: tensor name '%.200s' appears more than once in the "
                        "header",
                        f, r->name);
    if (r->end < r->begin)
        return wf_error(WF_ERR_FORMAT,
                        "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] end before they begin",
                        f, r->name, r->begin, r->end);
    if (r->begin > start)
        return wf_error(WF_ERR_FORMAT,
                        "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] leave a gap: expected it to begin at %" PRIu64 ", where %s%.200s%s ends",
                        f, r->name, r->begin, r->end, start, prev ? "tensor '" : "",
                        prev ? prev->name : "nothing (the data section's start)", prev ? "'" : "");
    return wf_error(WF_ERR_FORMAT,
                    "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                    "] overlap tensor '%.200s', which ends at %" PRIu64,
                    f, r->name, r->begin, r->end, prev ? prev->name : "?", start);
}

/* The size rules for one tensor: element and bit counts fit in 64 bits, whole bytes, and the
 * offsets hold exactly that many bytes. */
static wf_status check_size(const builder *b, const rec *r) {
    const int64_t *d = r->ndim ? b->dims + r->shape_at : NULL; /* dims is NULL if all are rank 0 */
    char sb[200];
    uint64_t numel = 1, bits = (uint64_t)wf_st_dtype_bits(r->dtype);
    bool over = false;
    for (int i = 0; i < r->ndim; i++) {
        uint64_t v = (uint64_t)d[i];
        if (v != 0 && numel > UINT64_MAX / v) over = true;
        numel *= v;
    }
    if (over || (numel != 0 && bits > UINT64_MAX / numel))
        return wf_error(WF_ERR_FORMAT,
                        "%s: tensor '%.200s': %s shape %s overflows a 64-bit %s count", b->f->name,
                        r->name, wf_st_dtype_name(r->dtype), shape_str(d, r->ndim, sb, sizeof sb),
                        over ? "element" : "bit");
    if (numel * bits % 8 != 0)
        return wf_error(WF_ERR_FORMAT,
                        "%s: tensor '%.200s': %" PRIu64 " elements of %s (%d bits "
                        "each) do not fill whole bytes",
                        b->f->name, r->name, numel, wf_st_dtype_name(r->dtype), (int)bits);
    uint64_t need = numel * bits / 8;
    if (r->end - r->begin != need)
        return wf_error(WF_ERR_FORMAT,
                        "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                        " bytes, but %s shape %s needs %" PRIu64,
                        b->f->name, r->name, r->begin, r->end, r->end - r->begin,
                        wf_st_dtype_name(r->dtype), shape_str(d, r->ndim, sb, sizeof sb), need);
    return WF_OK;
}

/* Offsets, sizes and the file's length, tensor by tensor in offset order (as the reference);
 * on success `order` holds record indices by offset. */
static wf_status validate(const builder *b, uint64_t n, size_t size, span *order) {
    for (size_t i = 0; i < b->nrecs; i++) order[i] = (span){b->recs[i].begin, b->recs[i].end, i};
    if (b->nrecs > 1) qsort(order, b->nrecs, sizeof *order, cmp_span);
    uint64_t start = 0;
    const rec *prev = NULL;
    for (size_t k = 0; k < b->nrecs; k++) {
        const rec *r = &b->recs[order[k].i];
        if (r->begin != start || r->end < r->begin) return check_offsets(b, r, start, prev);
        WF_TRY(check_size(b, r));
        start = r->end, prev = r;
    }
    uint64_t have = (uint64_t)size - 8 - n; /* 8 + n <= size was checked first */
    if (start != have)
        return wf_error(WF_ERR_FORMAT,
                        "%s: the tensors' data is %" PRIu64 " bytes, but the file "
                        "holds %" PRIu64 " after its 8 + %" PRIu64 " header bytes (%s)",
                        b->f->name, start, have, n,
                        start < have ? "trailing bytes" : "truncated file");
    return WF_OK;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const wf_st_tensor *const *)a)->name, (*(const wf_st_tensor *const *)b)->name);
}
static int cmp_kv_key(const void *a, const void *b) {
    return strcmp((*(const wf_st_kv *const *)a)->key, (*(const wf_st_kv *const *)b)->key);
}

/* Moves the parsed records into f in offset order, sorts the lookup tables, and rejects
 * repeated names and metadata keys. */
static wf_status build(builder *b, const unsigned char *data, const span *order) {
    wf_st_file *f = b->f;
    size_t n = b->nrecs;
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    f->meta_by_key = calloc(b->nmeta ? b->nmeta : 1, sizeof *f->meta_by_key);
    if (!f->tensors || !f->by_name || !f->meta_by_key) return oom(b);
    f->dims = b->dims, b->dims = NULL;
    f->meta = b->meta, b->meta = NULL;
    f->nmeta = (int64_t)b->nmeta;
    f->count = (int64_t)n;
    for (size_t k = 0; k < n; k++) {
        const rec *r = &b->recs[order[k].i];
        wf_st_tensor *t = &f->tensors[k];
        *t = (wf_st_tensor){.name = r->name,
                            .dtype = r->dtype,
                            .ndim = r->ndim,
                            .shape = r->ndim ? f->dims + r->shape_at : NO_DIMS,
                            .numel = 1,
                            .nbytes = (size_t)(r->end - r->begin),
                            .data = data + r->begin,
                            .file = f->name};
        uint64_t numel = 1; /* partial products fit in u64 (check_size), maybe not in int64 */
        for (int i = 0; i < r->ndim; i++) numel *= (uint64_t)t->shape[i];
        t->numel = (int64_t)numel; /* numel * bits / 8 == nbytes <= size, so it fits */
        f->by_name[k] = t;
    }
    qsort(f->by_name, n, sizeof *f->by_name, cmp_tensor_name);
    for (size_t k = 1; k < n; k++)
        if (strcmp(f->by_name[k - 1]->name, f->by_name[k]->name) == 0)
            return wf_error(WF_ERR_FORMAT,
                            "%s: tensor name '%.200s' appears more than once in the "
                            "header",
                            f->name, f->by_name[k]->name);
    for (int64_t k = 0; k < f->nmeta; k++) f->meta_by_key[k] = &f->meta[k];
    qsort(f->meta_by_key, b->nmeta, sizeof *f->meta_by_key, cmp_kv_key);
    for (size_t k = 1; k < b->nmeta; k++)
        if (strcmp(f->meta_by_key[k - 1]->key, f->meta_by_key[k]->key) == 0)
            return wf_error(WF_ERR_FORMAT, "%s: __metadata__ key '%.200s' appears more than once",
                            f->name, f->meta_by_key[k]->key);
    return WF_OK;
}

static wf_status parse_into(wf_st_file *f, const unsigned char *buf, size_t size) {
    if (size < 8)
        return wf_error(WF_ERR_FORMAT,
                        "%s: %zu bytes is too short for a safetensors file (expected "
                        "at least the 8-byte header length)",
                        f->name, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n > MAX_HEADER)
        return wf_error(WF_ERR_FORMAT,
                        "%s: header length %" PRIu64 " exceeds the 100000000-byte "
                        "limit (not a safetensors file?)",
                        f->name, n);
    if (n > size - 8)
        return wf_error(WF_ERR_FORMAT,
                        "%s: header length %" PRIu64 " runs past the end of the "
                        "file (%zu bytes)",
                        f->name, n, size);
    size_t bad;
    if (!wf_utf8_valid(buf + 8, (size_t)n, &bad))
        return wf_error(WF_ERR_FORMAT, "%s: header is not valid UTF-8 at byte %zu", f->name,
                        8 + bad);
    builder b = {.f = f};
    span *order = NULL;
    wf_status s = wf_stj_init(&b.j, buf + 8, (size_t)n, f->name, 8);
    if (s == WF_OK) s = parse_header(&b);
    if (s == WF_OK && !(order = malloc((b.nrecs ? b.nrecs : 1) * sizeof *order))) s = oom(&b);
    if (s == WF_OK) s = validate(&b, n, size, order);
    if (s == WF_OK) s = build(&b, buf + 8 + n, order);
    f->pool = b.j.pool; /* names point into it: the file owns it from here on */
    free(order);
    free(b.recs);
    free(b.dims);
    free(b.meta);
    return s;
}

wf_status wf_st_parse(const void *buf, size_t size, const char *name, wf_st_file **out) {
    *out = NULL;
    wf_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name ? name : "(buffer)"))) {
        free(f);
        return wf_error(WF_ERR_OOM, "%s: out of memory", name ? name : "(buffer)");
    }
    wf_status s = parse_into(f, buf, size);
    if (s != WF_OK) {
        wf_st_close(f);
        return s;
    }
    *out = f;
    return WF_OK;
}

wf_status wf_st_open(const char *path, wf_st_file **out) {
    *out = NULL;
    wf_mapped_file m;
    WF_TRY(wf_file_map(path, &m));
    wf_status s = wf_st_parse(m.data, m.size, path, out);
    if (s != WF_OK) {
        wf_file_unmap(&m);
        return s;
    }
    (*out)->map = m;
    return WF_OK;
}

void wf_st_close(wf_st_file *f) {
    if (!f) return;
    wf_file_unmap(&f->map);
    free(f->name);
    free(f->pool);
    free(f->tensors);
    free(f->by_name);
    free(f->dims);
    free(f->meta);
    free(f->meta_by_key);
    free(f);
}

const char *wf_st_name(const wf_st_file *f) { return f->name; }
int64_t wf_st_count(const wf_st_file *f) { return f->count; }

const wf_st_tensor *wf_st_tensor_at(const wf_st_file *f, int64_t i) {
    return i >= 0 && i < f->count ? &f->tensors[i] : NULL;
}

const wf_st_tensor *wf_st_find(const wf_st_file *f, const char *name) {
    int64_t lo = 0, hi = f->count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *wf_st_metadata(const wf_st_file *f, const char *key) {
    int64_t lo = 0, hi = f->nmeta;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->meta_by_key[mid]->key, key);
        if (c == 0) return f->meta_by_key[mid]->value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int64_t wf_st_metadata_count(const wf_st_file *f) { return f->nmeta; }
const wf_st_kv *wf_st_metadata_at(const wf_st_file *f, int64_t i) {
    return i >= 0 && i < f->nmeta ? &f->meta[i] : NULL;
}

wf_status wf_st_read_f32(const wf_st_tensor *t, float *dst, int64_t n) {
    if (n != t->numel)
        return wf_error(WF_ERR_INVALID,
                        "%s: tensor '%.200s': asked for %" PRId64 " values, but it "
                        "holds %" PRId64,
                        t->file, t->name, n, t->numel);
    const unsigned char *p = t->data; /* copied element by element: foreign files may misalign */
    switch (t->dtype) {
    case WF_ST_F32:
        if (n > 0) memcpy(dst, p, t->nbytes);
        return WF_OK;
    case WF_ST_F16:
    case WF_ST_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->dtype == WF_ST_F16 ? wf_f16_to_f32(h) : wf_bf16_to_f32(h);
        }
        return WF_OK;
    case WF_ST_F64:
        for (int64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return WF_OK;
    default:
        return wf_error(WF_ERR_UNSUPPORTED,
                        "%s: tensor '%.200s' is %s; only F32, F16, BF16 and F64 "
                        "convert to fp32",
                        t->file, t->name, wf_st_dtype_name(t->dtype));
    }
}
