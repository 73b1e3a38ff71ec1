/* The encode and decode pipelines and the public lookups (tokenizers/src/tokenizer/mod.rs:
 * encode_single_sequence, decode): added tokens split out of the raw text, each remaining piece
 * normalized then split on the normalized added tokens, pre-tokenized, run through the model,
 * post-processed. Per-thread state (word cache, scratch) lives in a small thread-local table
 * keyed by the tokenizer's unique id, so concurrent encodes need no lock. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---- per-thread state ---- */

#define TL_SLOTS 8 /* tokenizers a thread keeps state for at once */

typedef struct tl_list {
    uint64_t uid[TL_SLOTS];
    tk_state *st[TL_SLOTS];
    int n;
} tl_list;

static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static _Thread_local tl_list *g_tl;
static atomic_uint_fast64_t g_next_uid = 1;

/* uids of the tokenizers alive, consulted when a thread's table is full */
static pthread_mutex_t g_live_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *g_live;
static size_t g_live_n, g_live_cap;

static void state_free(tk_state *st) {
    if (!st) return;
    tk_cache_free(st->cache);
    tk_pieces_free(&st->pa);
    tk_pieces_free(&st->pb);
    tk_pieces_free(&st->pc);
    free(st->ranges.v);
    tk_rx_free(&st->rx);
    tk_buf_free(&st->tmp);
    tk_buf_free(&st->tmp2);
    free(st->sym);
    free(st->heap);
    wf_ids_free(&st->word);
    wf_ids_free(&st->word2);
    free(st);
}

static void tl_destroy(void *p) {
    tl_list *l = p;
    for (int i = 0; i < l->n; i++) state_free(l->st[i]);
    free(l);
}

static void key_init(void) {
    if (pthread_key_create(&g_key, tl_destroy) != 0) abort(); /* only fails when out of keys */
}

static bool uid_live(uint64_t uid) {
    pthread_mutex_lock(&g_live_mu);
    bool live = false;
    for (size_t i = 0; i < g_live_n && !live; i++) live = g_live[i] == uid;
    pthread_mutex_unlock(&g_live_mu);
    return live;
}

static wf_status uid_register(uint64_t uid) {
    pthread_mutex_lock(&g_live_mu);
    wf_status st = tk_grow((void **)&g_live, &g_live_cap, g_live_n + 1, sizeof *g_live);
    if (st == WF_OK) g_live[g_live_n++] = uid;
    pthread_mutex_unlock(&g_live_mu);
    return st;
}

static void uid_unregister(uint64_t uid) {
    pthread_mutex_lock(&g_live_mu);
    for (size_t i = 0; i < g_live_n; i++)
        if (g_live[i] == uid) {
            g_live[i] = g_live[--g_live_n];
            break;
        }
    pthread_mutex_unlock(&g_live_mu);
}

wf_status tk_state_get(const wf_tokenizer *t, tk_state **out) {
    if (!g_tl) {
        pthread_once(&g_key_once, key_init);
        g_tl = calloc(1, sizeof *g_tl);
        if (!g_tl) return wf_error(WF_ERR_OOM, "tokenizer: out of memory (thread state)");
        pthread_setspecific(g_key, g_tl);
    }
    tl_list *l = g_tl;
    for (int i = 0; i < l->n; i++)
        if (l->uid[i] == t->uid) return *out = l->st[i], WF_OK;
    tk_state *st = calloc(1, sizeof *st);
    if (!st) return wf_error(WF_ERR_OOM, "tokenizer: out of memory (thread state)");
    wf_status s = tk_rx_init(&st->rx);
    if (s == WF_OK && t->model.type == TK_MODEL_BPE && !(st->cache = tk_cache_new()))
        s = wf_error(WF_ERR_OOM, "tokenizer: out of memory (word cache)");
    if (s != WF_OK) {
        state_free(st);
        return s;
    }
    int slot = l->n;
    if (l->n == TL_SLOTS) { /* evict the state of a freed tokenizer, else the oldest */
        slot = 0;
        for (int i = 0; i < l->n; i++)
            if (!uid_live(l->uid[i])) {
                slot = i;
                break;
            }
        state_free(l->st[slot]);
    } else {
        l->n++;
    }
    l->uid[slot] = t->uid;
    l->st[slot] = st;
    *out = st;
    return WF_OK;
}

/* Frees the calling thread's state for t (other threads drop theirs when they need the slot). */
static void state_release(const wf_tokenizer *t) {
    tl_list *l = g_tl;
    if (!l) return;
    for (int i = 0; i < l->n; i++)
        if (l->uid[i] == t->uid) {
            state_free(l->st[i]);
            l->uid[i] = l->uid[l->n - 1];
            l->st[i] = l->st[l->n - 1];
            l->n--;
            return;
        }
}

/* ---- construction and teardown ---- */

wf_tokenizer *tk_new(const char *name) {
    wf_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->name = tk_strndup(name, strlen(name));
    t->uid = atomic_fetch_add(&g_next_uid, 1);
    t->special = (wf_special_ids){-1, -1, -1, -1, -1, -1, -1};
    if (!t->name || uid_register(t->uid) != WF_OK) {
        free(t->name);
        free(t);
        return NULL;
    }
    return t;
}

void wf_tokenizer_free(wf_tokenizer *t) {
    if (!t) return;
    state_release(t);
    uid_unregister(t->uid);
    tk_model_free(&t->model);
    tk_added_free(&t->added);
    tk_norm_free(t->normalizer);
    tk_pretok_free(t->pretok);
    tk_post_free(t->post);
    tk_dec_free(t->decoder);
    free(t->name);
    free(t);
}

/* ---- encode ---- */

/* Scratch sized by one huge text is given back rather than kept for the thread's lifetime. */
#define TRIM_BYTES ((size_t)64 << 20)

static void state_trim(tk_state *st) {
    tk_pieces *p[] = {&st->pa, &st->pb, &st->pc};
    for (int i = 0; i < 3; i++)
        if (p[i]->buf.cap > TRIM_BYTES || p[i]->cap * sizeof(tk_piece) > TRIM_BYTES)
            tk_pieces_free(p[i]);
    if (st->tmp.cap > TRIM_BYTES) tk_buf_free(&st->tmp);
    if (st->word.cap * sizeof(int32_t) > TRIM_BYTES) wf_ids_free(&st->word);
    if (st->word2.cap * sizeof(int32_t) > TRIM_BYTES) wf_ids_free(&st->word2);
    if (st->ranges.cap * sizeof(tk_range) > TRIM_BYTES) {
        free(st->ranges.v);
        st->ranges = (tk_ranges){0};
    }
}

/* Added tokens out of the raw text, then normalization and the normalized added tokens. */
static wf_status split_and_normalize(const wf_tokenizer *t, tk_state *st, const char *text,
                                     size_t len) {
    tk_pieces_clear(&st->pa);
    /* the input's first character is the only one aligned with offset 0 */
    size_t first = len ? tk_utf8_len((unsigned char)text[0]) : 0;
    WF_TRY(tk_added_split(&t->added, &t->added.raw, text, len, true, first, &st->pa));
    if (!t->normalizer && t->added.normed.n == 0) return WF_OK;
    tk_pieces_clear(&st->pb);
    for (size_t i = 0; i < st->pa.n; i++) {
        const tk_piece *p = &st->pa.v[i];
        const char *s = st->pa.buf.p + p->off;
        if (p->id >= 0) {
            WF_TRY(tk_pieces_push(&st->pb, s, p->len, p->id, false, 0));
            continue;
        }
        size_t lead = p->lead;
        if (t->normalizer) {
            WF_TRY(tk_norm_run(t->normalizer, &st->rx, s, p->len, &st->tmp, &st->pc.buf,
                               &st->ranges, &lead));
            s = st->tmp.p ? st->tmp.p : "";
        }
        /* tokenizers slices every normalized piece here, which re-bases its offsets on its
         * first character: a piece whose first character left the lead no longer starts at 0 */
        WF_TRY(tk_added_split(&t->added, &t->added.normed, s, t->normalizer ? st->tmp.len : p->len,
                              p->zero && lead > 0, lead, &st->pb));
    }
    tk_pieces x = st->pa;
    st->pa = st->pb;
    st->pb = x;
    return WF_OK;
}

wf_status wf_tokenizer_encode(const wf_tokenizer *t, const char *text, size_t len,
                              bool add_special, wf_ids *out) {
    if (!t || !out || (!text && len)) return wf_error(WF_ERR_INVALID, "tokenizer: NULL argument");
    size_t bad = tk_utf8_check(text, len);
    if (bad != len)
        return wf_error(WF_ERR_INVALID, "tokenizer: text is not valid UTF-8 at byte %zu", bad);
    tk_state *st;
    WF_TRY(tk_state_get(t, &st));
    WF_TRY(split_and_normalize(t, st, text ? text : "", len));
    tk_pieces *p = &st->pa;
    if (t->pretok) {
        WF_TRY(tk_pretok_run(t->pretok, &st->rx, &st->ranges, &st->pa, &st->pb, &st->pc));
        p = &st->pb;
    }
    st->word.len = 0;
    for (size_t i = 0; i < p->n; i++) {
        const tk_piece *q = &p->v[i];
        if (q->id >= 0) WF_TRY(wf_ids_push(&st->word, q->id));
        else WF_TRY(tk_model_tokenize(&t->model, st, p->buf.p + q->off, q->len, &st->word));
    }
    WF_TRY(tk_post_run(t->post, add_special, &st->word, &st->word2));
    WF_TRY(wf_ids_reserve(out, out->len + st->word.len));
    if (st->word.len) memcpy(out->data + out->len, st->word.data, st->word.len * sizeof(int32_t));
    out->len += st->word.len;
    state_trim(st);
    return WF_OK;
}

/* ---- decode and lookups ---- */

/* The text an id decodes from: an added token's (normalized) content, else the model's. */
static const char *decode_str(const wf_tokenizer *t, int32_t id, size_t *n) {
    if (id < 0) return NULL;
    const tk_added *a = &t->added;
    if ((size_t)id < a->by_id_len && a->by_id[id] >= 0) {
        const tk_added_token *k = &a->v[a->by_id[id]];
        *n = k->norm ? k->norm_len : k->len;
        return k->norm ? k->norm : k->content;
    }
    return tk_vocab_str(&t->model.vocab, (uint32_t)id, n);
}

wf_status wf_tokenizer_decode(const wf_tokenizer *t, const int32_t *ids, size_t n,
                              bool skip_special, char **out, size_t *out_len) {
    if (!t || !out || (!ids && n)) return wf_error(WF_ERR_INVALID, "tokenizer: NULL argument");
    *out = NULL;
    tk_state *st;
    WF_TRY(tk_state_get(t, &st));
    tk_strs a = {0}, b = {0};
    tk_buf txt = {0};
    wf_status s = WF_OK;
    for (size_t i = 0; s == WF_OK && i < n; i++) {
        size_t len;
        const char *tok = decode_str(t, ids[i], &len);
        if (!tok) continue; /* ids outside the vocabulary are dropped */
        if (skip_special && tk_vocab_find(&t->added.specials, tok, len) >= 0) continue;
        s = tk_strs_push(&a, tok, len);
    }
    tk_strs *res = &a;
    if (s == WF_OK && t->decoder) {
        s = tk_dec_run(t->decoder, &st->rx, &a, &b);
        res = &b;
    }
    for (size_t i = 0; s == WF_OK && i < res->n; i++) {
        if (i > 0 && !t->decoder) s = tk_buf_put(&txt, " ", 1); /* no decoder: join with spaces */
        if (s == WF_OK) s = tk_buf_put(&txt, res->buf.p + res->off[i], res->len[i]);
    }
    if (s == WF_OK && !txt.p) s = tk_buf_put(&txt, "", 0);
    tk_strs_free(&a);
    tk_strs_free(&b);
    if (s != WF_OK) {
        tk_buf_free(&txt);
        return s;
    }
    *out = txt.p;
    if (out_len) *out_len = txt.len;
    return WF_OK;
}

int32_t wf_tokenizer_token_to_id(const wf_tokenizer *t, const char *token, size_t len) {
    if (!t || (!token && len)) return -1;
    int64_t id = tk_vocab_find(&t->added.map, token, len);
    if (id < 0) id = tk_vocab_find(&t->model.vocab, token, len);
    return (int32_t)id;
}

const char *wf_tokenizer_id_to_token(const wf_tokenizer *t, int32_t id, size_t *len) {
    size_t n = 0;
    const char *s = t ? decode_str(t, id, &n) : NULL;
    if (len) *len = n;
    return s;
}

int32_t wf_tokenizer_vocab_size(const wf_tokenizer *t) {
    size_t n = t->model.vocab.n_ids;
    if (t->added.by_id_len > n) n = t->added.by_id_len;
    return (int32_t)n;
}

bool wf_tokenizer_is_special(const wf_tokenizer *t, int32_t id) {
    size_t n;
    const char *s = decode_str(t, id, &n);
    return s && tk_vocab_find(&t->added.specials, s, n) >= 0;
}

wf_special_ids wf_tokenizer_special_ids(const wf_tokenizer *t) { return t->special; }

wf_status wf_tokenizer_set_special(wf_tokenizer *t, wf_special_kind kind, int32_t id) {
    if (id < -1 || id >= wf_tokenizer_vocab_size(t))
        return wf_error(WF_ERR_INVALID, "%s: special id %d is outside the vocabulary (size %d)",
                        t->name, id, wf_tokenizer_vocab_size(t));
    int32_t *f[] = {&t->special.bos, &t->special.eos, &t->special.pad, &t->special.unk,
                    &t->special.cls, &t->special.sep, &t->special.mask};
    if ((unsigned)kind >= sizeof f / sizeof *f)
        return wf_error(WF_ERR_INVALID, "tokenizer: unknown special kind %d", (int)kind);
    *f[kind] = id;
    return WF_OK;
}

/* ---- diagnostics ---- */

wf_status wf_tokenizer_normalize(const wf_tokenizer *t, const char *text, size_t len, char **out,
                                 size_t *out_len) {
    size_t bad = tk_utf8_check(text, len);
    if (bad != len)
        return wf_error(WF_ERR_INVALID, "tokenizer: text is not valid UTF-8 at byte %zu", bad);
    tk_state *st;
    WF_TRY(tk_state_get(t, &st));
    tk_buf o = {0};
    size_t lead = len ? tk_utf8_len((unsigned char)text[0]) : 0;
    wf_status s = t->normalizer ? tk_norm_run(t->normalizer, &st->rx, text, len, &o, &st->tmp,
                                              &st->ranges, &lead)
                                : tk_buf_put(&o, text, len);
    if (s == WF_OK && !o.p) s = tk_buf_put(&o, "", 0);
    if (s != WF_OK) {
        tk_buf_free(&o);
        return s;
    }
    *out = o.p;
    if (out_len) *out_len = o.len;
    return WF_OK;
}

wf_status wf_tokenizer_pre_tokenize(const wf_tokenizer *t, const char *text, size_t len,
                                    char **out, size_t *out_len) {
    size_t bad = tk_utf8_check(text, len);
    if (bad != len)
        return wf_error(WF_ERR_INVALID, "tokenizer: text is not valid UTF-8 at byte %zu", bad);
    tk_state *st;
    WF_TRY(tk_state_get(t, &st));
    tk_pieces_clear(&st->pa);
    tk_pieces *p = &st->pa;
    WF_TRY(tk_pieces_push(&st->pa, text, len, -1, true,
                          len ? tk_utf8_len((unsigned char)text[0]) : 0));
    if (t->pretok) {
        WF_TRY(tk_pretok_run(t->pretok, &st->rx, &st->ranges, &st->pa, &st->pb, &st->pc));
        p = &st->pb;
    }
    tk_buf o = {0};
    wf_status s = tk_buf_put(&o, "", 0);
    for (size_t i = 0; s == WF_OK && i < p->n; i++) {
        if (p->v[i].len == 0) continue;
        char num[32];
        int k = snprintf(num, sizeof num, "%zu:", p->v[i].len);
        s = tk_buf_put(&o, num, (size_t)k);
        if (s == WF_OK) s = tk_buf_put(&o, p->buf.p + p->v[i].off, p->v[i].len);
    }
    if (s != WF_OK) {
        tk_buf_free(&o);
        return s;
    }
    *out = o.p;
    if (out_len) *out_len = o.len;
    return WF_OK;
}
