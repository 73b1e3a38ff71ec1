/* Small containers the tokenizer module is built from: growable byte buffers, the string <-> id
 * vocabulary (open addressing over token texts stored back to back), pipeline piece lists and
 * string lists, and the byte-string hash they share. No Unicode here (tok_unicode.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* Ids above this are rejected when loading: the id -> token tables are sized by the largest id,
 * and no real vocabulary comes near it. */
#define TK_MAX_ID ((1u << 24) - 1)

wf_status tk_grow(void **pp, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return WF_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2) return wf_error(WF_ERR_OOM, "tokenizer: allocation too large");
        c *= 2;
    }
    if (c > SIZE_MAX / elem) return wf_error(WF_ERR_OOM, "tokenizer: allocation too large");
    void *q = realloc(*pp, c * elem);
    if (!q) return wf_error(WF_ERR_OOM, "tokenizer: out of memory (%zu bytes)", c * elem);
    *pp = q;
    *cap = c;
    return WF_OK;
}

wf_status tk_buf_reserve(tk_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1) return wf_error(WF_ERR_OOM, "tokenizer: text too large");
    return tk_grow((void **)&b->p, &b->cap, b->len + extra + 1, 1);
}

wf_status tk_buf_put(tk_buf *b, const void *data, size_t n) {
    WF_TRY(tk_buf_reserve(b, n));
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return WF_OK;
}

wf_status tk_buf_put_cp(tk_buf *b, uint32_t cp) {
    char u[4];
    return tk_buf_put(b, u, tk_utf8_encode(cp, u));
}

void tk_buf_free(tk_buf *b) {
    free(b->p);
    *b = (tk_buf){0};
}

char *tk_strndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* 64-bit multiply-xorshift over 8-byte words; token texts are short, so the tail matters. */
uint64_t tk_hash(const void *data, size_t n) {
    const unsigned char *s = data;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n) memcpy(&w, s, n);
    h = (h ^ w ^ ((uint64_t)n << 59)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

/* ---- vocabulary ---- */

static wf_status vocab_rehash(tk_vocab *v, size_t want) {
    size_t cap = 64;
    while (cap < want * 2) {
        if (cap > SIZE_MAX / 4) return wf_error(WF_ERR_OOM, "tokenizer: vocabulary too large");
        cap *= 2;
    }
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return wf_error(WF_ERR_OOM, "tokenizer: out of memory (vocabulary)");
    for (size_t i = 0; i < v->n_entries; i++) {
        size_t j = tk_hash(v->strs.p + v->e[i].off, v->e[i].len) & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(v->slots);
    v->slots = slots;
    v->mask = cap - 1;
    return WF_OK;
}

/* The slot holding s, or the empty slot where it would go. */
static size_t vocab_slot(const tk_vocab *v, const char *s, size_t n) {
    size_t j = tk_hash(s, n) & v->mask;
    for (;;) {
        uint32_t k = v->slots[j];
        if (!k) return j;
        const tk_vocab_entry *e = &v->e[k - 1];
        if (e->len == n && memcmp(v->strs.p + e->off, s, n) == 0) return j;
        j = (j + 1) & v->mask;
    }
}

int64_t tk_vocab_find(const tk_vocab *v, const char *s, size_t n) {
    if (!v->slots) return -1;
    if (!s) s = "";
    uint32_t k = v->slots[vocab_slot(v, s, n)];
    return k ? (int64_t)v->e[k - 1].id : -1;
}

wf_status tk_vocab_add(tk_vocab *v, const char *s, size_t n, uint32_t id, bool *dup) {
    if (dup) *dup = false;
    if (id > TK_MAX_ID)
        return wf_error(WF_ERR_FORMAT, "id %u is out of range (at most %u)", id, TK_MAX_ID);
    if (n > UINT32_MAX) return wf_error(WF_ERR_FORMAT, "token of %zu bytes is too long", n);
    if (id >= v->n_ids) {
        WF_TRY(tk_grow((void **)&v->by_id, &v->ids_cap, (size_t)id + 1, sizeof *v->by_id));
        for (size_t i = v->n_ids; i <= id; i++) v->by_id[i] = -1;
        v->n_ids = (size_t)id + 1;
    }
    if (v->n_entries >= INT32_MAX - 1)
        return wf_error(WF_ERR_FORMAT, "more than %d vocabulary entries", INT32_MAX - 2);
    if (!v->slots || (v->n_entries + 1) * 2 > v->mask + 1)
        WF_TRY(vocab_rehash(v, v->n_entries + 1));
    size_t j = vocab_slot(v, s, n);
    uint32_t k = v->slots[j];
    if (k) { /* rebinding an existing string: its old id loses its text */
        if (dup) *dup = true;
        tk_vocab_entry *e = &v->e[k - 1];
        if (v->by_id[e->id] == (int32_t)(k - 1)) v->by_id[e->id] = -1;
        e->id = id;
        v->by_id[id] = (int32_t)(k - 1);
        return WF_OK;
    }
    WF_TRY(tk_grow((void **)&v->e, &v->e_cap, v->n_entries + 1, sizeof *v->e));
    size_t off = v->strs.len;
    WF_TRY(tk_buf_put(&v->strs, s, n));
    v->e[v->n_entries] = (tk_vocab_entry){off, (uint32_t)n, id};
    /* a second string for an id already bound: both map to it, it reads back as this one */
    v->by_id[id] = (int32_t)v->n_entries;
    v->slots[j] = (uint32_t)++v->n_entries;
    return WF_OK;
}

void tk_vocab_free(tk_vocab *v) {
    tk_buf_free(&v->strs);
    free(v->e);
    free(v->by_id);
    free(v->slots);
    *v = (tk_vocab){0};
}

/* ---- pieces and string lists ---- */

wf_status tk_pieces_push(tk_pieces *p, const char *s, size_t n, int32_t id, bool zero,
                         size_t lead) {
    WF_TRY(tk_grow((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v));
    size_t off = p->buf.len;
    WF_TRY(tk_buf_put(&p->buf, s, n));
    p->v[p->n++] = (tk_piece){off, n, id, zero, lead < n ? lead : n};
    return WF_OK;
}

void tk_pieces_clear(tk_pieces *p) {
    p->n = 0;
    p->buf.len = 0;
}

void tk_pieces_free(tk_pieces *p) {
    free(p->v);
    tk_buf_free(&p->buf);
    *p = (tk_pieces){0};
}

wf_status tk_strs_push(tk_strs *s, const char *p, size_t n) {
    size_t c_off = s->cap, c_len = s->cap; /* same start and need: same new size */
    WF_TRY(tk_grow((void **)&s->off, &c_off, s->n + 1, sizeof *s->off));
    WF_TRY(tk_grow((void **)&s->len, &c_len, s->n + 1, sizeof *s->len));
    s->cap = c_off;
    size_t off = s->buf.len;
    WF_TRY(tk_buf_put(&s->buf, p, n));
    s->off[s->n] = off;
    s->len[s->n] = n;
    s->n++;
    return WF_OK;
}

void tk_strs_clear(tk_strs *s) {
    s->n = 0;
    s->buf.len = 0;
}

void tk_strs_free(tk_strs *s) {
    tk_buf_free(&s->buf);
    free(s->off);
    free(s->len);
    *s = (tk_strs){0};
}

/* ---- public id arrays ---- */

wf_status wf_ids_reserve(wf_ids *ids, size_t cap) {
    return tk_grow((void **)&ids->data, &ids->cap, cap, sizeof *ids->data);
}

wf_status wf_ids_push(wf_ids *ids, int32_t id) {
    if (ids->len == ids->cap) WF_TRY(wf_ids_reserve(ids, ids->len + 1));
    ids->data[ids->len++] = id;
    return WF_OK;
}

void wf_ids_free(wf_ids *ids) {
    free(ids->data);
    *ids = (wf_ids){0};
}
