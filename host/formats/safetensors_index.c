/* Hugging Face model weights as one set of tensors: model.safetensors, or
 * model.safetensors.index.json ({"metadata": {...}, "weight_map": {tensor: shard file}}) and its
 * shards, as transformers saves them (shared/reference/FORMATS.md "Sharded"). Only weight_map is
 * read; each shard is opened once and checked whole, like a single file. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "safetensors_json.h"
#include "weft/mapped_file.h"
#include "weft/safetensors.h"

#define SINGLE_NAME "model.safetensors"
#define INDEX_NAME "model.safetensors.index.json"

struct wf_st_model {
    int nfiles;
    wf_st_file **files; /* (nfiles) */
    int64_t count;
    const wf_st_tensor **tensors; /* (count) sorted by name, pointing into files */
};

typedef struct pair {
    const char *tensor, *shard;
} pair;

typedef struct st_index {
    const char *path;
    wf_stj j;
    pair *pairs;
    size_t n, cap;
    const char **shards; /* (nshards) sorted, unique */
    size_t nshards;
} index_t;

static int cmp_tensor_ptr(const void *a, const void *b) {
    return strcmp((*(const wf_st_tensor *const *)a)->name, (*(const wf_st_tensor *const *)b)->name);
}
static int cmp_pair(const void *a, const void *b) {
    return strcmp(((const pair *)a)->tensor, ((const pair *)b)->tensor);
}
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A shard must stay inside the model directory: relative, no ".." component. */
static bool shard_name_ok(const char *s) {
    if (!*s || *s == '/') return false;
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') return false;
        p += n + (p[n] == '/');
    }
    return true;
}

static wf_status parse_weight_map(index_t *x) {
    wf_stj *j = &x->j;
    if (wf_stj_peek(j) != '{')
        return wf_error(WF_ERR_FORMAT,
                        "%s: \"weight_map\" must be an object {tensor: shard file}, "
                        "found %s",
                        x->path, wf_stj_kind(j));
    j->pos++;
    bool more;
    WF_TRY(wf_stj_next(j, '}', true, &more));
    while (more) {
        pair p;
        size_t tn, sn;
        WF_TRY(wf_stj_string(j, &p.tensor, &tn));
        WF_TRY(wf_stj_expect(j, ':', "':'"));
        if (wf_stj_peek(j) != '"')
            return wf_error(WF_ERR_FORMAT,
                            "%s: weight_map entry '%.200s': expected a shard file "
                            "name, found %s",
                            x->path, p.tensor, wf_stj_kind(j));
        WF_TRY(wf_stj_string(j, &p.shard, &sn));
        if (strlen(p.tensor) != tn || strlen(p.shard) != sn || !shard_name_ok(p.shard))
            return wf_error(WF_ERR_FORMAT,
                            "%s: weight_map entry '%.200s': shard '%.200s' must be a "
                            "file name inside the model directory",
                            x->path, p.tensor, p.shard);
        if (x->n == x->cap) {
            size_t nc = x->cap ? 2 * x->cap : 64;
            pair *q = nc < SIZE_MAX / sizeof *q ? realloc(x->pairs, nc * sizeof *q) : NULL;
            if (!q) return wf_error(WF_ERR_OOM, "%s: out of memory", x->path);
            x->pairs = q, x->cap = nc;
        }
        x->pairs[x->n++] = p;
        WF_TRY(wf_stj_next(j, '}', false, &more));
    }
    return WF_OK;
}

/* The index's top-level object: weight_map is required; everything else is skipped. */
static wf_status parse_index(index_t *x, const unsigned char *text, size_t len) {
    size_t bad;
    if (!wf_utf8_valid(text, len, &bad))
        return wf_error(WF_ERR_FORMAT, "%s: not valid UTF-8 at byte %zu", x->path, bad);
    WF_TRY(wf_stj_init(&x->j, text, len, x->path, 0));
    wf_stj *j = &x->j;
    bool more, seen = false;
    WF_TRY(wf_stj_expect(j, '{', "'{' opening the index object"));
    WF_TRY(wf_stj_next(j, '}', true, &more));
    while (more) {
        const char *key;
        size_t kn;
        WF_TRY(wf_stj_string(j, &key, &kn));
        WF_TRY(wf_stj_expect(j, ':', "':'"));
        if (kn == 10 && memcmp(key, "weight_map", 10) == 0) {
            if (seen) return wf_error(WF_ERR_FORMAT, "%s: \"weight_map\" appears twice", x->path);
            seen = true;
            WF_TRY(parse_weight_map(x));
        } else {
            j->depth = 1;
            WF_TRY(wf_stj_skip(j));
        }
        WF_TRY(wf_stj_next(j, '}', false, &more));
    }
    WF_TRY(wf_stj_end(j));
    if (!seen) return wf_error(WF_ERR_FORMAT, "%s: no \"weight_map\" object", x->path);
    qsort(x->pairs, x->n, sizeof *x->pairs, cmp_pair);
    for (size_t i = 1; i < x->n; i++)
        if (strcmp(x->pairs[i - 1].tensor, x->pairs[i].tensor) == 0)
            return wf_error(WF_ERR_FORMAT, "%s: weight_map lists tensor '%.200s' twice", x->path,
                            x->pairs[i].tensor);
    x->shards = malloc((x->n ? x->n : 1) * sizeof *x->shards);
    if (!x->shards) return wf_error(WF_ERR_OOM, "%s: out of memory", x->path);
    for (size_t i = 0; i < x->n; i++) x->shards[i] = x->pairs[i].shard;
    qsort(x->shards, x->n, sizeof *x->shards, cmp_str);
    for (size_t i = 0; i < x->n; i++)
        if (i == 0 || strcmp(x->shards[i], x->shards[x->nshards - 1]) != 0)
            x->shards[x->nshards++] = x->shards[i];
    if (x->nshards > INT_MAX) return wf_error(WF_ERR_FORMAT, "%s: too many shards", x->path);
    return WF_OK;
}

static wf_status join(const char *dir, const char *name, char *out, size_t cap) {
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
        return wf_error(WF_ERR_INVALID, "%s/%s: path too long", dir, name);
    return WF_OK;
}

static wf_status open_shards(wf_st_model *m, const index_t *x, const char *dir) {
    m->files = calloc(x->nshards ? x->nshards : 1, sizeof *m->files);
    if (!m->files) return wf_error(WF_ERR_OOM, "%s: out of memory", x->path);
    for (size_t i = 0; i < x->nshards; i++) {
        char path[4096];
        WF_TRY(join(dir, x->shards[i], path, sizeof path));
        wf_status s = wf_st_open(path, &m->files[i]);
        if (s != WF_OK) {
            char inner[1024];
            snprintf(inner, sizeof inner, "%s", wf_last_error());
            const char *first = NULL;
            for (size_t k = 0; k < x->n && !first; k++)
                if (strcmp(x->pairs[k].shard, x->shards[i]) == 0) first = x->pairs[k].tensor;
            return wf_error(s,
                            "%s: shard '%s' (weight_map's file for tensor '%.200s' and maybe "
                            "others): %s",
                            x->path, x->shards[i], first ? first : "?", inner);
        }
        m->nfiles = (int)i + 1;
    }
    return WF_OK;
}

/* Resolves every weight_map entry to its tensor in the named shard. */
static wf_status resolve(wf_st_model *m, const index_t *x) {
    m->tensors = malloc((x->n ? x->n : 1) * sizeof *m->tensors);
    if (!m->tensors) return wf_error(WF_ERR_OOM, "%s: out of memory", x->path);
    for (size_t i = 0; i < x->n; i++) {
        const char *const *hit =
            bsearch(&x->pairs[i].shard, x->shards, x->nshards, sizeof *x->shards, cmp_str);
        WF_ASSERT(hit != NULL); /* every shard name went into x->shards */
        const wf_st_file *f = m->files[hit - x->shards];
        const wf_st_tensor *t = wf_st_find(f, x->pairs[i].tensor);
        if (!t)
            return wf_error(WF_ERR_FORMAT,
                            "%s: weight_map puts tensor '%.200s' in '%s', but %s has "
                            "no such tensor",
                            x->path, x->pairs[i].tensor, x->pairs[i].shard, wf_st_name(f));
        m->tensors[m->count++] = t; /* pairs are sorted by tensor name already */
    }
    return WF_OK;
}

static wf_status open_sharded(wf_st_model *m, const char *dir, const char *index_path) {
    index_t x = {.path = index_path};
    wf_mapped_file map;
    WF_TRY(wf_file_map(index_path, &map));
    wf_status s = parse_index(&x, map.data, map.size);
    if (s == WF_OK) s = open_shards(m, &x, dir);
    if (s == WF_OK) s = resolve(m, &x);
    wf_stj_free(&x.j);
    free(x.pairs);
    free(x.shards);
    wf_file_unmap(&map);
    return s;
}

static wf_status open_single(wf_st_model *m, const char *path) {
    m->files = calloc(1, sizeof *m->files);
    if (!m->files) return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    WF_TRY(wf_st_open(path, &m->files[0]));
    m->nfiles = 1;
    int64_t n = wf_st_count(m->files[0]);
    m->tensors = malloc((size_t)(n ? n : 1) * sizeof *m->tensors);
    if (!m->tensors) return wf_error(WF_ERR_OOM, "%s: out of memory", path);
    for (int64_t i = 0; i < n; i++) m->tensors[i] = wf_st_tensor_at(m->files[0], i);
    m->count = n;
    qsort(m->tensors, (size_t)n, sizeof *m->tensors, cmp_tensor_ptr);
    return WF_OK;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

wf_status wf_st_model_open(const char *dir, wf_st_model **out) {
    *out = NULL;
    wf_st_model *m = calloc(1, sizeof *m);
    if (!m) return wf_error(WF_ERR_OOM, "%s: out of memory", dir);
    char single[4096], idx[4096];
    wf_status s = join(dir, SINGLE_NAME, single, sizeof single);
    if (s == WF_OK) s = join(dir, INDEX_NAME, idx, sizeof idx);
    if (s == WF_OK) {
        /* transformers' order: the single file wins when both are present */
        if (is_file(dir))
            s = open_single(m, dir);
        else if (is_file(single))
            s = open_single(m, single);
        else if (is_file(idx))
            s = open_sharded(m, dir, idx);
        else
            s = wf_error(WF_ERR_IO,
                         "%s: no %s or %s there (expected a Hugging Face model "
                         "directory or a .safetensors file)",
                         dir, SINGLE_NAME, INDEX_NAME);
    }
    if (s != WF_OK) {
        wf_st_model_close(m);
        return s;
    }
    *out = m;
    return WF_OK;
}

void wf_st_model_close(wf_st_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nfiles; i++) wf_st_close(m->files[i]);
    free(m->files);
    free(m->tensors);
    free(m);
}

int64_t wf_st_model_count(const wf_st_model *m) { return m->count; }

const wf_st_tensor *wf_st_model_tensor_at(const wf_st_model *m, int64_t i) {
    return i >= 0 && i < m->count ? m->tensors[i] : NULL;
}

const wf_st_tensor *wf_st_model_find(const wf_st_model *m, const char *name) {
    int64_t lo = 0, hi = m->count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->tensors[mid]->name, name);
        if (c == 0) return m->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int wf_st_model_file_count(const wf_st_model *m) { return m->nfiles; }
const wf_st_file *wf_st_model_file(const wf_st_model *m, int i) {
    return i >= 0 && i < m->nfiles ? m->files[i] : NULL;
}
