/* The BPE model (tokenizers/src/models/bpe/{model,word}.rs): a pre-token's characters become
 * symbols (unknown ones go to byte_fallback <0xHH> tokens or unk, fused or not), then merges are
 * applied lowest rank first through a priority queue over a linked list of symbols - O(n log n)
 * per word, with the same tie-breaking (rank, then position) as tokenizers. Results are kept in
 * a per-thread word cache. Also the model dispatch and WordLevel. dropout is not supported. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---- merges: (left id, right id) -> (rank, merged id) ---- */

static inline uint64_t pair_key(uint32_t a, uint32_t b) { return ((uint64_t)a << 32) | b; }
static inline size_t pair_slot(uint64_t k, size_t mask) {
    k *= 0x9E3779B97F4A7C15ull;
    return (size_t)(k >> 32) & mask;
}

wf_status tk_bpe_build_merges(tk_model *m, size_t n_merges) {
    size_t cap = 64;
    while (cap < n_merges * 2 + 2) {
        if (cap > SIZE_MAX / 4 / sizeof *m->merges)
            return wf_error(WF_ERR_FORMAT, "too many merges (%zu)", n_merges);
        cap *= 2;
    }
    free(m->merges);
    m->merges = malloc(cap * sizeof *m->merges);
    if (!m->merges) return wf_error(WF_ERR_OOM, "tokenizer: out of memory (%zu merges)", n_merges);
    for (size_t i = 0; i < cap; i++) m->merges[i].key = UINT64_MAX;
    m->merges_mask = cap - 1;
    m->n_merges = 0;
    return WF_OK;
}

static const tk_merge_slot *merge_find(const tk_model *m, uint32_t a, uint32_t b) {
    if (!m->merges) return NULL;
    uint64_t k = pair_key(a, b);
    for (size_t j = pair_slot(k, m->merges_mask);; j = (j + 1) & m->merges_mask) {
        const tk_merge_slot *s = &m->merges[j];
        if (s->key == k) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}

wf_status tk_bpe_add_merge(tk_model *m, const char *where, size_t index, const char *a,
                           size_t alen, const char *b, size_t blen) {
    int64_t ia = tk_vocab_find(&m->vocab, a, alen), ib = tk_vocab_find(&m->vocab, b, blen);
    if (ia < 0 || ib < 0)
        return wf_error(WF_ERR_FORMAT, "%s: model.merges[%zu]: token \"%.*s\" is not in the vocabulary",
                        where, index, (int)(ia < 0 ? alen : blen), ia < 0 ? a : b);
    /* the merged token drops the right part's continuing_subword_prefix (BpeBuilder::build) */
    if (blen < m->prefix_len)
        return wf_error(WF_ERR_FORMAT, "%s: model.merges[%zu]: \"%.*s\" is shorter than the "
                        "continuing_subword_prefix", where, index, (int)blen, b);
    tk_buf t = {0};
    wf_status st = tk_buf_put(&t, a, alen);
    if (st == WF_OK) st = tk_buf_put(&t, b + m->prefix_len, blen - m->prefix_len);
    int64_t id = st == WF_OK ? tk_vocab_find(&m->vocab, t.p, t.len) : -1;
    if (st == WF_OK && id < 0)
        st = wf_error(WF_ERR_FORMAT, "%s: model.merges[%zu]: merged token \"%.*s\" is not in the "
                      "vocabulary", where, index, (int)t.len, t.p);
    tk_buf_free(&t);
    WF_TRY(st);
    if (index > UINT32_MAX) return wf_error(WF_ERR_FORMAT, "%s: too many merges", where);
    uint64_t k = pair_key((uint32_t)ia, (uint32_t)ib);
    size_t j = pair_slot(k, m->merges_mask);
    while (m->merges[j].key != UINT64_MAX && m->merges[j].key != k) j = (j + 1) & m->merges_mask;
    if (m->merges[j].key == UINT64_MAX) m->n_merges++;
    WF_ASSERT(m->n_merges * 2 <= m->merges_mask + 1);
    /* a repeated pair takes the later rank, as the HashMap collect in tokenizers does */
    m->merges[j] = (tk_merge_slot){k, (uint32_t)index, (uint32_t)id};
    return WF_OK;
}

wf_status tk_model_finish(tk_model *m) {
    for (int c = 0; c < 128; c++) {
        char ch = (char)c;
        int64_t id = tk_vocab_find(&m->vocab, &ch, 1);
        m->ascii_ids[c] = (int32_t)id;
    }
    for (int b = 0; b < 256; b++) {
        static const char hex[] = "0123456789ABCDEF";
        char t[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        m->byte_ids[b] = (int32_t)tk_vocab_find(&m->vocab, t, 6);
    }
    m->max_token_len = 0;
    for (size_t i = 0; i < m->vocab.n_entries; i++)
        if (m->vocab.e[i].len > m->max_token_len) m->max_token_len = m->vocab.e[i].len;
    return WF_OK;
}

void tk_model_free(tk_model *m) {
    tk_vocab_free(&m->vocab);
    free(m->merges);
    free(m->unk);
    free(m->prefix);
    free(m->suffix);
    *m = (tk_model){0};
}

/* ---- the per-thread word cache ---- */

/* Words longer than this are not cached (tokenizers stops at 256 bytes; long words recur in
 * real data too: URLs, repeated characters). When either limit is reached
 * the cache starts over, so memory stays bounded on any input. */
#define CACHE_MAX_WORD 4096
#define CACHE_MAX_ENTRIES (1u << 16)
#define CACHE_MAX_BYTES ((size_t)16 << 20)

typedef struct cache_entry {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, n_ids;
} cache_entry;

struct tk_cache {
    cache_entry *slots; /* 2 * CACHE_MAX_ENTRIES, hash 0 = empty */
    size_t n;
    tk_buf keys;
    int32_t *ids;
    size_t n_ids, ids_cap;
};

tk_cache *tk_cache_new(void) {
    tk_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->slots = calloc(2 * CACHE_MAX_ENTRIES, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    return c;
}

void tk_cache_free(tk_cache *c) {
    if (!c) return;
    free(c->slots);
    tk_buf_free(&c->keys);
    free(c->ids);
    free(c);
}

static void cache_reset(tk_cache *c) {
    memset(c->slots, 0, 2 * CACHE_MAX_ENTRIES * sizeof *c->slots);
    c->n = 0;
    c->keys.len = 0;
    c->n_ids = 0;
}

static uint64_t cache_hash(const char *s, size_t n) { return tk_hash(s, n) | 1; }

static const cache_entry *cache_get(const tk_cache *c, uint64_t h, const char *s, size_t n) {
    const size_t mask = 2 * CACHE_MAX_ENTRIES - 1;
    for (size_t j = h & mask;; j = (j + 1) & mask) {
        const cache_entry *e = &c->slots[j];
        if (!e->hash) return NULL;
        if (e->hash == h && e->key_len == n && memcmp(c->keys.p + e->key_off, s, n) == 0) return e;
    }
}

static wf_status cache_put(tk_cache *c, uint64_t h, const char *s, size_t n, const int32_t *ids,
                           size_t n_ids) {
    if (c->n >= CACHE_MAX_ENTRIES || c->keys.len + n > CACHE_MAX_BYTES ||
        (c->n_ids + n_ids) * sizeof(int32_t) > CACHE_MAX_BYTES)
        cache_reset(c);
    if (n_ids > UINT32_MAX / 2) return WF_OK;
    WF_TRY(tk_grow((void **)&c->ids, &c->ids_cap, c->n_ids + n_ids, sizeof *c->ids));
    size_t key_off = c->keys.len;
    WF_TRY(tk_buf_put(&c->keys, s, n));
    if (n_ids) memcpy(c->ids + c->n_ids, ids, n_ids * sizeof *ids);
    const size_t mask = 2 * CACHE_MAX_ENTRIES - 1;
    size_t j = h & mask;
    while (c->slots[j].hash) j = (j + 1) & mask;
    c->slots[j] = (cache_entry){h, (uint32_t)key_off, (uint32_t)n, (uint32_t)c->n_ids,
                                (uint32_t)n_ids};
    c->n_ids += n_ids;
    c->n++;
    return WF_OK;
}

/* ---- one word ---- */

typedef struct sym {
    int32_t c;          /* token id */
    int32_t prev, next; /* neighbours, -1 = none */
    uint32_t len;       /* bytes covered; 0 = merged into its left neighbour */
} sym;

typedef struct qent {
    uint32_t rank, pos, new_id;
} qent;

static inline bool q_less(qent a, qent b) {
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static void q_push(qent *h, size_t *n, qent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!q_less(e, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static qent q_pop(qent *h, size_t *n) {
    qent top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        qent best = last;
        if (l < *n && q_less(h[l], best)) m = l, best = h[l];
        if (r < *n && q_less(h[r], best)) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n) h[i] = last;
    return top;
}

static wf_status add_sym(tk_state *st, size_t *n, int32_t id, uint32_t len) {
    WF_TRY(tk_grow(&st->sym, &st->sym_cap, *n + 1, sizeof(sym)));
    sym *s = st->sym;
    s[*n] = (sym){id, (int32_t)*n - 1, -1, len};
    if (*n) s[*n - 1].next = (int32_t)*n;
    (*n)++;
    return WF_OK;
}

static wf_status unk_id(const tk_model *m, int32_t *id) {
    int64_t u = tk_vocab_find(&m->vocab, m->unk, m->unk_len);
    if (u < 0)
        return wf_error(WF_ERR_INVALID, "tokenizer: unk_token \"%s\" is not in the vocabulary",
                        m->unk);
    *id = (int32_t)u;
    return WF_OK;
}

/* BPE::merge_word's first part: characters -> symbols. */
static wf_status word_symbols(const tk_model *m, tk_state *st, const char *w, size_t n,
                              size_t *nsym) {
    *nsym = 0;
    int32_t unk = -1;
    uint32_t unk_len = 0;
    bool affixes = m->prefix_len || m->suffix_len;
    for (size_t i = 0; i < n;) {
        size_t k = tk_utf8_len((unsigned char)w[i]);
        int64_t id;
        const char *key = w + i;
        size_t key_len = k;
        if (!affixes && k == 1) {
            id = m->ascii_ids[(unsigned char)w[i]];
        } else if (!affixes) {
            id = tk_vocab_find(&m->vocab, w + i, k);
        } else {
            st->tmp2.len = 0;
            if (i > 0) WF_TRY(tk_buf_put(&st->tmp2, m->prefix, m->prefix_len));
            WF_TRY(tk_buf_put(&st->tmp2, w + i, k));
            if (i + k == n) WF_TRY(tk_buf_put(&st->tmp2, m->suffix, m->suffix_len));
            key = st->tmp2.p, key_len = st->tmp2.len;
            id = tk_vocab_find(&m->vocab, key, key_len);
        }
        if (id >= 0) {
            if (unk >= 0) {
                WF_TRY(add_sym(st, nsym, unk, unk_len));
                unk = -1;
            }
            WF_TRY(add_sym(st, nsym, (int32_t)id, (uint32_t)k));
            i += k;
            continue;
        }
        bool done = false;
        if (m->byte_fallback) { /* every byte of the piece needs its <0xHH> token */
            bool all = true;
            for (size_t j = 0; j < key_len; j++) all = all && m->byte_ids[(unsigned char)key[j]] >= 0;
            if (all) {
                for (size_t j = 0; j < key_len; j++)
                    WF_TRY(add_sym(st, nsym, m->byte_ids[(unsigned char)key[j]], 1));
                done = true;
            }
        }
        if (!done && m->unk) { /* note: a pending unk is not flushed before byte tokens */
            int32_t u = -1;
            WF_TRY(unk_id(m, &u));
            if (unk >= 0 && m->fuse_unk) unk_len += (uint32_t)k;
            else {
                if (unk >= 0) WF_TRY(add_sym(st, nsym, unk, unk_len));
                unk = u, unk_len = (uint32_t)k;
            }
        }
        i += k;
    }
    if (unk >= 0) WF_TRY(add_sym(st, nsym, unk, unk_len));
    return WF_OK;
}

/* Word::merge_all without dropout. */
static wf_status merge_all(const tk_model *m, tk_state *st, size_t nsym) {
    if (nsym < 2) return WF_OK;
    WF_TRY(tk_grow(&st->heap, &st->heap_cap, 4 * nsym + 4, sizeof(qent)));
    sym *s = st->sym;
    qent *h = st->heap;
    size_t nq = 0;
    for (size_t i = 0; i + 1 < nsym; i++) {
        const tk_merge_slot *g = merge_find(m, (uint32_t)s[i].c, (uint32_t)s[i + 1].c);
        if (g) q_push(h, &nq, (qent){g->rank, (uint32_t)i, g->new_id});
    }
    while (nq) {
        qent top = q_pop(h, &nq);
        sym *cur = &s[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        sym right = s[cur->next];
        const tk_merge_slot *g = merge_find(m, (uint32_t)cur->c, (uint32_t)right.c);
        if (!g || g->new_id != top.new_id) continue; /* an outdated entry */
        s[cur->next].len = 0;
        cur->c = (int32_t)top.new_id;
        cur->len += right.len;
        cur->next = right.next;
        if (right.next >= 0) s[right.next].prev = (int32_t)top.pos;
        /* each merge adds at most two entries: 4n bounds the queue (n - 1 initial ones) */
        if (nq + 2 > st->heap_cap) {
            WF_TRY(tk_grow(&st->heap, &st->heap_cap, nq + 2, sizeof(qent)));
            h = st->heap;
        }
        if (cur->prev >= 0) {
            g = merge_find(m, (uint32_t)s[cur->prev].c, (uint32_t)cur->c);
            if (g) q_push(h, &nq, (qent){g->rank, (uint32_t)cur->prev, g->new_id});
        }
        if (cur->next >= 0) {
            g = merge_find(m, (uint32_t)cur->c, (uint32_t)s[cur->next].c);
            if (g) q_push(h, &nq, (qent){g->rank, top.pos, g->new_id});
        }
    }
    return WF_OK;
}

static wf_status bpe_word(const tk_model *m, tk_state *st, const char *w, size_t n, wf_ids *out) {
    size_t nsym;
    WF_TRY(word_symbols(m, st, w, n, &nsym));
    WF_TRY(merge_all(m, st, nsym));
    const sym *s = st->sym;
    for (size_t i = 0; i < nsym; i++)
        if (s[i].len) WF_TRY(wf_ids_push(out, s[i].c));
    return WF_OK;
}

static wf_status bpe_tokenize(const tk_model *m, tk_state *st, const char *w, size_t n,
                              wf_ids *out) {
    if (n == 0) return WF_OK;
    if (m->ignore_merges) {
        int64_t id = tk_vocab_find(&m->vocab, w, n);
        if (id >= 0) return wf_ids_push(out, (int32_t)id);
    }
    if (n >= CACHE_MAX_WORD || !st->cache) return bpe_word(m, st, w, n, out);
    uint64_t h = cache_hash(w, n);
    const cache_entry *e = cache_get(st->cache, h, w, n);
    if (e) {
        if (e->n_ids == 0) return WF_OK; /* every character unknown, no unk token */
        if (out->len + e->n_ids > out->cap) WF_TRY(wf_ids_reserve(out, out->len + e->n_ids));
        memcpy(out->data + out->len, st->cache->ids + e->ids_off, e->n_ids * sizeof(int32_t));
        out->len += e->n_ids;
        return WF_OK;
    }
    size_t start = out->len;
    WF_TRY(bpe_word(m, st, w, n, out));
    return cache_put(st->cache, h, w, n, out->len > start ? out->data + start : NULL,
                     out->len - start);
}

wf_status tk_wordpiece_tokenize(const tk_model *m, tk_state *st, const char *w, size_t n,
                                wf_ids *out);

wf_status tk_model_tokenize(const tk_model *m, tk_state *st, const char *s, size_t n,
                            wf_ids *out) {
    switch (m->type) {
    case TK_MODEL_BPE: return bpe_tokenize(m, st, s, n, out);
    case TK_MODEL_WORDPIECE: return tk_wordpiece_tokenize(m, st, s, n, out);
    case TK_MODEL_WORDLEVEL: {
        int64_t id = tk_vocab_find(&m->vocab, s, n);
        if (id < 0 && m->unk) {
            int32_t u = -1;
            WF_TRY(unk_id(m, &u));
            id = u;
        }
        if (id < 0) return wf_error(WF_ERR_INVALID, "tokenizer: WordLevel has no unk_token");
        return wf_ids_push(out, (int32_t)id);
    }
    }
    return WF_OK;
}
