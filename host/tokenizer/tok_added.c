/* Added tokens (tokenizers/src/tokenizer/added_vocabulary.rs): how their ids are assigned
 * (add_tokens), and how they are split out of the text before the model runs: tokens with
 * normalized = false are found in the raw text, the others in each normalized piece; matching is
 * leftmost-longest and non-overlapping (daachorse's LeftmostLongest), then single_word, lstrip
 * and rstrip apply as in find_matches. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---- trie ---- */

static wf_status trie_node(tk_trie *t, unsigned char byte, uint32_t *out) {
    WF_TRY(tk_grow((void **)&t->nodes, &t->cap, t->n + 1, sizeof *t->nodes));
    t->nodes[t->n] = (tk_trie_node){0, 0, -1, byte};
    *out = (uint32_t)t->n++;
    return WF_OK;
}

static wf_status trie_insert(tk_trie *t, const char *s, size_t n, int32_t token) {
    if (n == 0) return WF_OK; /* an empty pattern never matches */
    if (t->n == 0) {
        uint32_t root;
        WF_TRY(trie_node(t, 0, &root));
    }
    uint32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        uint32_t c = t->nodes[cur].first_child;
        while (c && t->nodes[c].byte != b) c = t->nodes[c].next_sibling;
        if (!c) {
            WF_TRY(trie_node(t, b, &c));
            t->nodes[c].next_sibling = t->nodes[cur].first_child;
            t->nodes[cur].first_child = c;
        }
        cur = c;
    }
    t->nodes[cur].token = token; /* a repeated pattern: the later token wins */
    t->first[(unsigned char)s[0] >> 3] |= (uint8_t)(1u << ((unsigned char)s[0] & 7));
    return WF_OK;
}

/* The longest pattern starting at s[i]: its end, and token index (-1 if none). */
static int32_t trie_longest(const tk_trie *t, const char *s, size_t n, size_t i, size_t *end) {
    int32_t best = -1;
    uint32_t cur = 0;
    for (size_t j = i; j < n; j++) {
        unsigned char b = (unsigned char)s[j];
        uint32_t c = t->nodes[cur].first_child;
        while (c && t->nodes[c].byte != b) c = t->nodes[c].next_sibling;
        if (!c) break;
        cur = c;
        if (t->nodes[c].token >= 0) best = t->nodes[c].token, *end = j + 1;
    }
    return best;
}

/* ---- splitting ---- */

static bool ends_with_word(const char *s, size_t end) {
    if (end == 0) return false;
    size_t k;
    return tk_is_word(tk_utf8_next(s + tk_utf8_prev(s, end), &k));
}

static bool starts_with_word(const char *s, size_t n, size_t start) {
    size_t k;
    return start < n && tk_is_word(tk_utf8_next(s + start, &k));
}

/* A text piece s[a..b) of a piece with the given zero / lead. */
static wf_status push_text(tk_pieces *out, const char *s, size_t a, size_t b, bool zero,
                           size_t lead) {
    return tk_pieces_push(out, s + a, b - a, -1, zero && a < lead, a < lead ? lead - a : 0);
}

wf_status tk_added_split(const tk_added *a, const tk_trie *t, const char *s, size_t n, bool zero,
                         size_t lead, tk_pieces *out) {
    size_t start_offset = 0;
    if (t->n > 0) {
        for (size_t i = 0; i < n;) {
            unsigned char b = (unsigned char)s[i];
            size_t end = 0;
            int32_t ti = -1;
            if (t->first[b >> 3] & (1u << (b & 7))) ti = trie_longest(t, s, n, i, &end);
            if (ti < 0) {
                i++;
                continue;
            }
            const tk_added_token *tok = &a->v[ti];
            size_t start = i, stop = end;
            i = end; /* the search resumes after the match, whatever is done with it */
            if (tok->single_word &&
                (ends_with_word(s, start) || starts_with_word(s, n, stop)))
                continue;
            if (tok->lstrip) { /* absorb the whitespace before, down to the previous split */
                size_t ns = start, k;
                while (ns > 0) {
                    size_t p = tk_utf8_prev(s, ns);
                    if (!tk_is_whitespace(tk_utf8_next(s + p, &k))) break;
                    ns = p;
                }
                start = ns > start_offset ? ns : start_offset;
            }
            if (tok->rstrip) {
                size_t k;
                while (stop < n && tk_is_whitespace(tk_utf8_next(s + stop, &k))) stop += k;
            }
            if (start_offset < start) WF_TRY(push_text(out, s, start_offset, start, zero, lead));
            WF_TRY(tk_pieces_push(out, s + start, stop > start ? stop - start : 0, tok->id, false,
                                  0));
            start_offset = stop;
        }
    }
    if (start_offset < n) WF_TRY(push_text(out, s, start_offset, n, zero, lead));
    return WF_OK;
}

/* ---- adding tokens (AddedVocabulary::add_tokens) ---- */

static bool same_props(const tk_added_token *x, const tk_added_token *y) {
    return x->len == y->len && memcmp(x->content, y->content, x->len) == 0 &&
           x->single_word == y->single_word && x->lstrip == y->lstrip &&
           x->rstrip == y->rstrip && x->normalized == y->normalized && x->special == y->special;
}

static wf_status set_by_id(tk_added *a, int32_t id, int32_t index) {
    size_t need = (size_t)id + 1;
    WF_TRY(tk_grow((void **)&a->by_id, &a->by_id_cap, need, sizeof *a->by_id));
    for (size_t i = a->by_id_len; i < need; i++) a->by_id[i] = -1;
    if (need > a->by_id_len) a->by_id_len = need;
    a->by_id[id] = index;
    return WF_OK;
}

/* Runs the tokenizer's normalizer over a token's content. */
static wf_status normalize_content(const wf_tokenizer *t, const tk_added_token *k, char **out,
                                   size_t *out_len) {
    *out = NULL;
    if (!k->normalized || !t->normalizer) return WF_OK;
    tk_rx rx;
    WF_TRY(tk_rx_init(&rx));
    tk_buf o = {0}, tmp = {0};
    tk_ranges r = {0};
    size_t lead = 0;
    wf_status st = tk_norm_run(t->normalizer, &rx, k->content, k->len, &o, &tmp, &r, &lead);
    tk_rx_free(&rx);
    tk_buf_free(&tmp);
    free(r.v);
    if (st == WF_OK && (o.len != k->len || memcmp(o.p, k->content, k->len) != 0)) {
        *out = tk_strndup(o.p ? o.p : "", o.len);
        *out_len = o.len;
        if (!*out) st = wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    }
    tk_buf_free(&o);
    return st;
}

static wf_status add_one(wf_tokenizer *t, const tk_added_token *k, uint32_t *next_id) {
    tk_added *a = &t->added;
    int64_t have = tk_vocab_find(&a->map, k->content, k->len);
    if (have >= 0 && (size_t)have < a->by_id_len && a->by_id[have] >= 0 &&
        same_props(&a->v[a->by_id[have]], k))
        return WF_OK;
    int64_t id = have >= 0 ? have : tk_vocab_find(&t->model.vocab, k->content, k->len);
    if (id < 0) id = (*next_id)++;
    tk_added_token nt = *k;
    nt.id = (int32_t)id;
    nt.content = tk_strndup(k->content, k->len);
    if (!nt.content) return wf_error(WF_ERR_OOM, "tokenizer: out of memory");
    wf_status st = normalize_content(t, k, &nt.norm, &nt.norm_len);
    if (st == WF_OK) st = tk_vocab_add(&a->map, k->content, k->len, (uint32_t)id, NULL);
    if (st == WF_OK && k->special) st = tk_vocab_add(&a->specials, k->content, k->len, 0, NULL);
    int32_t idx = (size_t)id < a->by_id_len ? a->by_id[id] : -1;
    if (st == WF_OK && idx < 0) {
        st = tk_grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v);
        if (st == WF_OK) idx = (int32_t)a->n++, a->v[idx] = (tk_added_token){0};
    }
    if (st != WF_OK) {
        free(nt.content);
        free(nt.norm);
        return st;
    }
    free(a->v[idx].content); /* an id given again: the later token replaces the earlier */
    free(a->v[idx].norm);
    a->v[idx] = nt;
    return set_by_id(a, (int32_t)id, idx);
}

wf_status tk_add_tokens(wf_tokenizer *t, const tk_added_token *toks, size_t n) {
    tk_added *a = &t->added;
    size_t vsize = t->model.vocab.n_entries;
    uint32_t next_id = (uint32_t)vsize;
    if (a->n > 0) {
        int32_t max = -1;
        for (size_t i = 0; i < a->n; i++) max = a->v[i].id > max ? a->v[i].id : max;
        next_id = ((size_t)max >= vsize || vsize == 0) ? (uint32_t)max + 1 : (uint32_t)vsize;
    }
    for (size_t i = 0; i < n; i++)
        if (toks[i].len > 0) WF_TRY(add_one(t, &toks[i], &next_id));
    /* rebuild both tries from scratch */
    free(a->raw.nodes);
    free(a->normed.nodes);
    a->raw = (tk_trie){0};
    a->normed = (tk_trie){0};
    for (size_t i = 0; i < a->n; i++) {
        const tk_added_token *k = &a->v[i];
        if (k->normalized)
            WF_TRY(trie_insert(&a->normed, k->norm ? k->norm : k->content,
                               k->norm ? k->norm_len : k->len, (int32_t)i));
        else
            WF_TRY(trie_insert(&a->raw, k->content, k->len, (int32_t)i));
    }
    return WF_OK;
}

void tk_added_free(tk_added *a) {
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].content);
        free(a->v[i].norm);
    }
    free(a->v);
    tk_vocab_free(&a->map);
    tk_vocab_free(&a->specials);
    free(a->by_id);
    free(a->raw.nodes);
    free(a->normed.nodes);
    *a = (tk_added){0};
}
