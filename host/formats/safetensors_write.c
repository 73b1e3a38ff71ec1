/* Writing safetensors files (wf_st_write). Layout as huggingface/safetensors writes it
 * (safetensors/src/tensor.rs, prepare/serialize): u64 LE header length N, the JSON header padded
 * with spaces to a multiple of 8 (so the data starts 8-aligned), then the tensors back to back.
 * Unlike the reference, tensors keep the caller's order, and `__metadata__` always holds
 * {"format": "pt"}, which transformers requires of any file that has metadata. */
#include "weft/safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors_json.h"
#include "weft/mapped_file.h"

#define MAX_HEADER 100000000u /* what readers (ours and the reference) accept */

/* A growing byte buffer; `failed` sticks after an allocation failure. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool failed;
} sbuf;

static void sb_put(sbuf *s, const char *d, size_t n) {
    if (s->failed) return;
    if (n > s->cap - s->n) {
        size_t nc = s->cap ? s->cap : 256;
        while (nc - s->n < n) {
            if (nc > SIZE_MAX / 2) {
                s->failed = true;
                return;
            }
            nc *= 2;
        }
        char *q = realloc(s->p, nc);
        if (!q) {
            s->failed = true;
            return;
        }
        s->p = q, s->cap = nc;
    }
    memcpy(s->p + s->n, d, n);
    s->n += n;
}

static void sb_str(sbuf *s, const char *str) { sb_put(s, str, strlen(str)); }

static void sb_u64(sbuf *s, uint64_t v) {
    char b[24];
    sb_put(s, b, (size_t)snprintf(b, sizeof b, "%" PRIu64, v));
}

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 passes through. */
static void sb_json(sbuf *s, const char *str) {
    sb_put(s, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p;
            sb_put(s, esc, 2);
        } else if (*p < 0x20) {
            sb_put(s, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", *p));
        } else {
            sb_put(s, (const char *)p, 1);
        }
    }
    sb_put(s, "\"", 1);
}

static bool utf8_ok(const char *s) {
    size_t bad;
    return wf_utf8_valid((const unsigned char *)s, strlen(s), &bad);
}

/* Checks one entry and computes its byte count; `streamed`: its data may come from a fill. */
static wf_status check_entry(const char *path, int64_t i, const wf_st_entry *e, bool streamed,
                             uint64_t *nbytes) {
    if (!e->name) return wf_error(WF_ERR_INVALID, "%s: tensor #%" PRId64 " has no name", path, i);
    if (!utf8_ok(e->name))
        return wf_error(WF_ERR_INVALID, "%s: tensor #%" PRId64 ": name is not valid UTF-8", path,
                        i);
    if (strcmp(e->name, "__metadata__") == 0)
        return wf_error(WF_ERR_INVALID,
                        "%s: tensor #%" PRId64 ": \"__metadata__\" is reserved for "
                        "the metadata, not a tensor name",
                        path, i);
    int bits = wf_st_dtype_bits(e->dtype);
    if (bits == 0 || e->ndim < 0 || (e->ndim > 0 && !e->shape))
        return wf_error(WF_ERR_INVALID, "%s: tensor '%.200s': bad dtype (%d) or shape (ndim %d)",
                        path, e->name, (int)e->dtype, e->ndim);
    uint64_t numel = 1;
    bool over = false;
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0)
            return wf_error(WF_ERR_INVALID,
                            "%s: tensor '%.200s': shape[%d] = %" PRId64 " is "
                            "negative",
                            path, e->name, d, e->shape[d]);
        uint64_t v = (uint64_t)e->shape[d];
        if (v != 0 && numel > UINT64_MAX / v) over = true;
        numel *= v;
    }
    if (over || (numel != 0 && (uint64_t)bits > UINT64_MAX / numel) ||
        numel * (uint64_t)bits / 8 > SIZE_MAX)
        return wf_error(WF_ERR_INVALID, "%s: tensor '%.200s': shape overflows a 64-bit byte count",
                        path, e->name);
    if (numel * (uint64_t)bits % 8 != 0)
        return wf_error(WF_ERR_INVALID,
                        "%s: tensor '%.200s': %" PRIu64 " elements of %s do not "
                        "fill whole bytes",
                        path, e->name, numel, wf_st_dtype_name(e->dtype));
    *nbytes = numel * (uint64_t)bits / 8;
    if (*nbytes > 0 && !e->data && !streamed)
        return wf_error(WF_ERR_INVALID, "%s: tensor '%.200s': no data for %" PRIu64 " bytes", path,
                        e->name, *nbytes);
    return WF_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rejects a repeated string among n; `what` names them in the message. */
static wf_status check_unique(const char *path, const char **s, int64_t n, const char *what) {
    if (n > 1) qsort(s, (size_t)n, sizeof *s, cmp_str);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(s[i - 1], s[i]) == 0)
            return wf_error(WF_ERR_INVALID, "%s: %s '%.200s' given twice", path, what, s[i]);
    return WF_OK;
}

static wf_status check_meta(const char *path, const wf_st_kv *meta, int64_t n_meta) {
    for (int64_t i = 0; i < n_meta; i++) {
        const wf_st_kv *kv = &meta[i];
        if (!kv->key || !kv->value || !utf8_ok(kv->key) || !utf8_ok(kv->value))
            return wf_error(WF_ERR_INVALID,
                            "%s: metadata entry #%" PRId64 " needs a UTF-8 key and "
                            "value",
                            path, i);
        if (strcmp(kv->key, "format") == 0 && strcmp(kv->value, "pt") != 0)
            return wf_error(WF_ERR_INVALID,
                            "%s: metadata \"format\" is always \"pt\" (transformers "
                            "loads nothing else), not \"%.100s\"",
                            path, kv->value);
    }
    return WF_OK;
}

/* Builds the padded header; sizes[] receives each tensor's byte count. */
static wf_status build_header(const char *path, const wf_st_entry *e, int64_t n,
                              const wf_st_kv *meta, int64_t n_meta, uint64_t *sizes, sbuf *h) {
    sb_str(h, "{\"__metadata__\":{\"format\":\"pt\"");
    for (int64_t i = 0; i < n_meta; i++) {
        if (strcmp(meta[i].key, "format") == 0) continue;
        sb_str(h, ",");
        sb_json(h, meta[i].key);
        sb_str(h, ":");
        sb_json(h, meta[i].value);
    }
    sb_str(h, "}");
    uint64_t offset = 0;
    for (int64_t i = 0; i < n; i++) {
        if (sizes[i] > UINT64_MAX - offset)
            return wf_error(WF_ERR_INVALID, "%s: total tensor bytes overflow 64 bits", path);
        sb_str(h, ",");
        sb_json(h, e[i].name);
        sb_str(h, ":{\"dtype\":\"");
        sb_str(h, wf_st_dtype_name(e[i].dtype));
        sb_str(h, "\",\"shape\":[");
        for (int d = 0; d < e[i].ndim; d++) {
            if (d) sb_str(h, ",");
            sb_u64(h, (uint64_t)e[i].shape[d]);
        }
        sb_str(h, "],\"data_offsets\":[");
        sb_u64(h, offset);
        sb_str(h, ",");
        sb_u64(h, offset + sizes[i]);
        sb_str(h, "]}");
        offset += sizes[i];
    }
    sb_str(h, "}");
    while (!h->failed && h->n % 8 != 0) sb_str(h, " ");
    if (h->failed) return wf_error(WF_ERR_OOM, "%s: out of memory for the header", path);
    if (h->n > MAX_HEADER)
        return wf_error(WF_ERR_INVALID,
                        "%s: the header would be %zu bytes, over the 100000000 that "
                        "readers accept",
                        path, h->n);
    return WF_OK;
}

/* Streams tensor i's bytes from `fill` through `buf` (WF_ST_FILL_CHUNK bytes). */
static wf_status write_filled(wf_atomic_file *f, int64_t i, uint64_t size, wf_st_fill_fn fill,
                              void *ctx, unsigned char *buf) {
    for (uint64_t off = 0; off < size;) {
        size_t k = size - off < WF_ST_FILL_CHUNK ? (size_t)(size - off) : WF_ST_FILL_CHUNK;
        wf_status s = fill(ctx, i, buf, off, k);
        if (s != WF_OK) {
            wf_atomic_abort(f);
            return s;
        }
        WF_TRY(wf_atomic_write(f, buf, k));
        off += k;
    }
    return WF_OK;
}

static wf_status write_file(const char *path, const wf_st_entry *e, int64_t n,
                            const uint64_t *sizes, const sbuf *h, wf_st_fill_fn fill, void *ctx) {
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)h->n >> (8 * i));
    unsigned char *buf = NULL;
    for (int64_t i = 0; fill && !buf && i < n; i++)
        if (!e[i].data && sizes[i] > 0 && !(buf = malloc(WF_ST_FILL_CHUNK)))
            return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    wf_atomic_file f;
    wf_status s = wf_atomic_open(&f, path);
    /* each failed wf_atomic_write has already removed the temporary */
    if (s == WF_OK) s = wf_atomic_write(&f, len, 8);
    if (s == WF_OK) s = wf_atomic_write(&f, h->p, h->n);
    for (int64_t i = 0; s == WF_OK && i < n; i++) {
        if (sizes[i] == 0) continue;
        if (e[i].data) s = wf_atomic_write(&f, e[i].data, (size_t)sizes[i]);
        else s = write_filled(&f, i, sizes[i], fill, ctx, buf);
    }
    free(buf);
    return s == WF_OK ? wf_atomic_commit(&f) : s;
}

wf_status wf_st_write(const char *path, const wf_st_entry *entries, int64_t n, const wf_st_kv *meta,
                      int64_t n_meta) {
    return wf_st_write_stream(path, entries, n, meta, n_meta, NULL, NULL);
}

wf_status wf_st_write_stream(const char *path, const wf_st_entry *entries, int64_t n,
                             const wf_st_kv *meta, int64_t n_meta, wf_st_fill_fn fill, void *ctx) {
    if (n < 0 || n_meta < 0 || (n > 0 && !entries) || (n_meta > 0 && !meta))
        return wf_error(WF_ERR_INVALID, "%s: bad tensor or metadata list", path);
    if ((uint64_t)n > SIZE_MAX / sizeof(uint64_t) || (uint64_t)n_meta > SIZE_MAX / sizeof(char *))
        return wf_error(WF_ERR_INVALID, "%s: too many tensors", path);
    uint64_t *sizes = malloc((size_t)(n ? n : 1) * sizeof *sizes);
    const char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
    const char **keys = malloc((size_t)(n_meta ? n_meta : 1) * sizeof *keys);
    sbuf h = {0};
    wf_status s = sizes && names && keys ? WF_OK : wf_error(WF_ERR_OOM, "%s: out of memory", path);
    for (int64_t i = 0; s == WF_OK && i < n; i++) {
        s = check_entry(path, i, &entries[i], fill != NULL, &sizes[i]);
        names[i] = entries[i].name;
    }
    if (s == WF_OK) s = check_unique(path, names, n, "tensor name");
    if (s == WF_OK) s = check_meta(path, meta, n_meta);
    for (int64_t i = 0; s == WF_OK && i < n_meta; i++) keys[i] = meta[i].key;
    if (s == WF_OK) s = check_unique(path, keys, n_meta, "metadata key");
    if (s == WF_OK) s = build_header(path, entries, n, meta, n_meta, sizes, &h);
    if (s == WF_OK) s = write_file(path, entries, n, sizes, &h, fill, ctx);
    free(h.p);
    free(sizes);
    free(names);
    free(keys);
    return s;
}
