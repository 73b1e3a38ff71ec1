/* The tokenized-data cache file (data_internal.h): a versioned header, the full cache key
 * (compared byte for byte, so a hash collision of the file name cannot serve the wrong data),
 * the dataset's arrays and per-file statistics, and a checksum over all of it. Anything that
 * does not verify (short, other version or key, bad checksum, inconsistent offsets) is a miss:
 * the caller tokenizes again and rewrites the file. Host byte order: the cache is local. */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "weft/hash.h"
#include "weft/mapped_file.h"

#define CACHE_VERSION 1u
#define CACHE_MAX_ELEMS ((int64_t)1 << 40)

typedef struct cache_head {
    char magic[8]; /* "WFDCACHE" */
    uint32_t version;
    uint32_t task;
    int32_t pad_id;
    uint32_t has_loss;
    int64_t n, n_tokens, key_len;
    dt_stats stats;
} cache_head;

typedef struct part {
    const void *p;
    size_t n;
} part;

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The file's pieces in order: header, key (padded), arrays. */
static int parts(const cache_head *h, const char *key, const wf_dataset *d, part out[8]) {
    static const char zeros[8] = {0};
    size_t n = (size_t)h->n, nt = (size_t)h->n_tokens, k = (size_t)h->key_len;
    int i = 0;
    out[i++] = (part){h, sizeof *h};
    out[i++] = (part){key, k};
    out[i++] = (part){zeros, pad8(k) - k};
    out[i++] = (part){d->off, (n + 1) * sizeof *d->off};
    out[i++] = (part){d->record, n * sizeof *d->record};
    out[i++] = (part){d->labels, n * sizeof *d->labels};
    out[i++] = (part){d->values, n * sizeof *d->values};
    out[i++] = (part){d->ids, nt * sizeof *d->ids};
    return i;
}

static uint64_t checksum(const part *p, int n, const void *loss, size_t nloss) {
    uint64_t h = CACHE_VERSION;
    for (int i = 0; i < n; i++) h = wf_hash_combine(h, wf_hash64(p[i].p, p[i].n, (uint64_t)i));
    return wf_hash_combine(h, wf_hash64(loss, nloss, 99));
}

wf_status dt_cache_write(const char *path, const char *key, const wf_dataset *d,
                         const dt_stats *stats) {
    cache_head h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, "WFDCACHE", 8);
    h.version = CACHE_VERSION;
    h.task = (uint32_t)d->task;
    h.pad_id = d->pad_id;
    h.has_loss = d->loss != NULL;
    h.n = d->n, h.n_tokens = d->off[d->n], h.key_len = (int64_t)strlen(key);
    h.stats = *stats;
    part p[8];
    int np = parts(&h, key, d, p);
    size_t nloss = h.has_loss ? (size_t)h.n_tokens : 0;
    uint64_t sum = checksum(p, np, d->loss, nloss);
    wf_atomic_file f;
    WF_TRY(wf_atomic_open(&f, path));
    wf_status st = WF_OK;
    for (int i = 0; st == WF_OK && i < np; i++) st = wf_atomic_write(&f, p[i].p, p[i].n);
    if (st == WF_OK && nloss) st = wf_atomic_write(&f, d->loss, nloss);
    if (st == WF_OK) st = wf_atomic_write(&f, &sum, sizeof sum);
    if (st == WF_OK) return wf_atomic_commit(&f);
    wf_atomic_abort(&f);
    return st;
}

/* Offsets start at 0, never decrease, give every example a token and end at n_tokens. */
static bool offsets_ok(const int64_t *off, int64_t n, int64_t nt) {
    if (off[0] != 0 || off[n] != nt) return false;
    for (int64_t i = 0; i < n; i++)
        if (off[i + 1] <= off[i]) return false;
    return true;
}

static void *copy(const unsigned char **at, size_t n) {
    void *p = malloc(n ? n : 1);
    if (p && n) memcpy(p, *at, n);
    *at += n;
    return p;
}

static bool load(const unsigned char *b, const cache_head *h, wf_dataset *d) {
    size_t n = (size_t)h->n, nt = (size_t)h->n_tokens;
    const unsigned char *at = b + sizeof *h + pad8((size_t)h->key_len);
    d->off = copy(&at, (n + 1) * sizeof *d->off);
    d->record = copy(&at, n * sizeof *d->record);
    d->labels = copy(&at, n * sizeof *d->labels);
    d->values = copy(&at, n * sizeof *d->values);
    d->ids = copy(&at, nt * sizeof *d->ids);
    d->loss = h->has_loss ? copy(&at, nt) : NULL;
    d->n = d->cap = h->n, d->tok_cap = h->n_tokens;
    return d->off && d->record && d->labels && d->values && d->ids && (!h->has_loss || d->loss) &&
           offsets_ok(d->off, h->n, h->n_tokens);
}

bool dt_cache_read(const char *path, const char *key, wf_dataset **out, dt_stats *stats) {
    *out = NULL;
    wf_mapped_file f;
    if (wf_file_map(path, &f) != WF_OK) return false;
    cache_head h;
    bool ok = f.size >= sizeof h + 8;
    if (ok) memcpy(&h, f.data, sizeof h);
    size_t klen = strlen(key);
    ok = ok && !memcmp(h.magic, "WFDCACHE", 8) && h.version == CACHE_VERSION &&
         h.key_len == (int64_t)klen && h.n >= 1 && h.n < CACHE_MAX_ELEMS && h.n_tokens >= h.n &&
         h.n_tokens < CACHE_MAX_ELEMS && h.pad_id >= 0 && h.has_loss == (h.task == WF_HEAD_LM);
    size_t want = 0;
    if (ok) {
        size_t n = (size_t)h.n, nt = (size_t)h.n_tokens;
        want = sizeof h + pad8(klen) + (n + 1) * 8 + n * 8 + n * 4 + n * 4 + nt * 4 +
               (h.has_loss ? nt : 0) + 8;
        ok = want == f.size && !memcmp(f.data + sizeof h, key, klen);
    }
    wf_dataset *d = NULL;
    if (ok) { /* the checksum over the file as it lies, before trusting any count in it */
        const unsigned char *b = f.data;
        size_t nt = (size_t)h.n_tokens, n = (size_t)h.n, k = pad8(klen);
        size_t arrays = sizeof h + k;
        part p[8] = {{b, sizeof h},
                     {b + sizeof h, klen},
                     {b + sizeof h + klen, k - klen},
                     {b + arrays, (n + 1) * 8},
                     {b + arrays + (n + 1) * 8, n * 8},
                     {b + arrays + (2 * n + 1) * 8, n * 4},
                     {b + arrays + (2 * n + 1) * 8 + n * 4, n * 4},
                     {b + arrays + (2 * n + 1) * 8 + n * 8, nt * 4}};
        const unsigned char *loss = b + arrays + (2 * n + 1) * 8 + n * 8 + nt * 4;
        uint64_t sum;
        memcpy(&sum, b + f.size - 8, 8);
        ok = checksum(p, 8, loss, h.has_loss ? nt : 0) == sum;
    }
    if (ok) ok = (d = calloc(1, sizeof *d)) != NULL;
    if (ok) {
        d->task = (wf_head_kind)h.task;
        d->pad_id = h.pad_id;
        ok = load(f.data, &h, d);
    }
    wf_file_unmap(&f);
    if (!ok) {
        wf_dataset_free(d);
        return false;
    }
    *stats = h.stats;
    *out = d;
    return true;
}
