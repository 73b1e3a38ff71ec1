/* Normalizers: Sequence, BertNormalizer, Strip, StripAccents, NFC/NFD/NFKC/NFKD, Lowercase, Nmt,
 * Replace, Prepend - each as the files of tokenizers/src/normalizers and NormalizedString
 * (tokenizer/normalizer.rs) define it, on plain strings: no alignments are kept, only whether
 * the leading character was removed (see tk_norm_run). Sequences are flattened when loaded. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* One character-wise pass: each code point becomes zero or more code points. */
typedef struct char_pass {
    bool clean_text, chinese;  /* BertNormalizer steps 1-2 */
    bool drop_mn, lowercase;   /* BertNormalizer steps 3b-4 / Lowercase */
    bool drop_marks;           /* StripAccents */
    bool nmt;                  /* Nmt */
} char_pass;

/* The Nmt normalizer's control characters and its characters read as spaces. */
static bool nmt_removed(uint32_t c) {
    return (c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           c == 0x8F || c == 0x9F;
}
static bool nmt_space(uint32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
           (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
           c == 0xFEFF || c == 0xFFFD;
}

/* Each output character keeps the alignment of the input character it comes from: the new lead
 * is what the characters inside the old lead became. */
static wf_status run_chars(const char_pass *p, const char *s, size_t n, tk_buf *out,
                           size_t *lead) {
    out->len = 0;
    WF_TRY(tk_buf_reserve(out, n + n / 2));
    size_t old_lead = *lead;
    *lead = 0;
    for (size_t i = 0; i < n;) {
        size_t k;
        uint32_t c = tk_utf8_next(s + i, &k);
        bool in_lead = i < old_lead;
        i += k;
        if (p->nmt) {
            if (nmt_removed(c)) goto next;
            if (nmt_space(c)) c = ' ';
        }
        if (p->clean_text) { /* tokenizers/src/normalizers/bert.rs do_clean_text */
            if (c == 0 || c == 0xFFFD || tk_is_control(c)) goto next;
            if (c == '\t' || c == '\n' || c == '\r' || tk_is_whitespace(c)) c = ' ';
        }
        if (p->drop_mn && tk_is_mn(c)) goto next;
        if (p->drop_marks && tk_is_mark(c)) goto next;
        if (p->chinese && tk_is_cjk(c)) {
            WF_TRY(tk_buf_put(out, " ", 1));
            WF_TRY(tk_buf_put_cp(out, c));
            WF_TRY(tk_buf_put(out, " ", 1));
        } else if (p->lowercase) {
            uint32_t lo[3];
            int m = tk_lowercase(c, lo);
            for (int j = 0; j < m; j++) WF_TRY(tk_buf_put_cp(out, lo[j]));
        } else {
            WF_TRY(tk_buf_put_cp(out, c));
        }
    next:
        if (in_lead) *lead = out->len;
    }
    return WF_OK;
}

/* Stripped characters are dropped; the others keep their alignment. */
static wf_status run_strip(const tk_norm *nm, const char *s, size_t n, tk_buf *out,
                           size_t *lead) {
    size_t a = 0, b = n, k;
    if (nm->left)
        while (a < n && tk_is_whitespace(tk_utf8_next(s + a, &k))) a += k;
    if (nm->right)
        while (b > a) {
            size_t p = tk_utf8_prev(s, b);
            if (!tk_is_whitespace(tk_utf8_next(s + p, &k))) break;
            b = p;
        }
    *lead = *lead > a ? (*lead < b ? *lead : b) - a : 0;
    out->len = 0;
    return tk_buf_put(out, s + a, b - a);
}

/* NormalizedString::replace: each match (rust-onig order) is replaced by the content, which takes
 * the alignment of the match's last character (or, for an empty match, of the character before
 * it; at offset 0, offset 0). */
static wf_status run_replace(const tk_norm *nm, tk_rx *rx, tk_ranges *r, const char *s, size_t n,
                             tk_buf *out, size_t *lead) {
    WF_TRY(tk_pattern_find(&nm->pat, rx, s, n, r));
    out->len = 0;
    size_t old_lead = *lead;
    *lead = 0;
    for (size_t i = 0; i < r->n; i++) {
        const tk_range *g = &r->v[i];
        bool in_lead;
        if (!g->match) {
            WF_TRY(tk_buf_put(out, s + g->start, g->end - g->start));
            if (g->start < old_lead)
                *lead = out->len - (g->end - g->start) +
                        ((old_lead < g->end ? old_lead : g->end) - g->start);
            continue;
        }
        if (g->end > g->start) in_lead = tk_utf8_prev(s, g->end) < old_lead;
        else in_lead = g->start == 0 || g->start <= old_lead;
        WF_TRY(tk_buf_put(out, nm->str, nm->str_len));
        if (in_lead) *lead = out->len;
    }
    return WF_OK;
}

/* A normal form; the lead follows tokenizers' alignments through it (tk_nf_lead). */
static wf_status run_form(tk_nf form, const char *s, size_t n, tk_buf *out, size_t *lead) {
    out->len = 0;
    WF_TRY(tk_normalize_form(form, s, n, out));
    if (*lead) {
        size_t l = tk_nf_lead(form, s, n, *lead);
        *lead = l < out->len ? l : out->len;
    }
    return WF_OK;
}

/* One leaf normalizer: s -> out. */
static wf_status run_leaf(const tk_norm *nm, tk_rx *rx, tk_ranges *r, const char *s, size_t n,
                          tk_buf *out, tk_buf *tmp, size_t *lead) {
    char_pass p = {0};
    switch (nm->type) {
    case TK_NORM_BERT:
        if (nm->strip_accents) { /* clean + chinese, then NFD, then drop Mn + lowercase */
            p.clean_text = nm->clean_text, p.chinese = nm->handle_chinese;
            WF_TRY(run_chars(&p, s, n, out, lead));
            WF_TRY(run_form(TK_NFD, out->p ? out->p : "", out->len, tmp, lead));
            char_pass q = {.drop_mn = true, .lowercase = nm->lowercase};
            return run_chars(&q, tmp->p ? tmp->p : "", tmp->len, out, lead);
        }
        /* one pass: CJK ideographs have no case, so lowercasing the rest keeps the order */
        p.clean_text = nm->clean_text, p.chinese = nm->handle_chinese, p.lowercase = nm->lowercase;
        return run_chars(&p, s, n, out, lead);
    case TK_NORM_STRIP: return run_strip(nm, s, n, out, lead);
    case TK_NORM_STRIP_ACCENTS: p.drop_marks = true; return run_chars(&p, s, n, out, lead);
    case TK_NORM_LOWERCASE: p.lowercase = true; return run_chars(&p, s, n, out, lead);
    case TK_NORM_NMT: p.nmt = true; return run_chars(&p, s, n, out, lead);
    case TK_NORM_NFC: return run_form(TK_NFC, s, n, out, lead);
    case TK_NORM_NFD: return run_form(TK_NFD, s, n, out, lead);
    case TK_NORM_NFKC: return run_form(TK_NFKC, s, n, out, lead);
    case TK_NORM_NFKD: return run_form(TK_NFKD, s, n, out, lead);
    case TK_NORM_REPLACE: return run_replace(nm, rx, r, s, n, out, lead);
    case TK_NORM_PREPEND: /* the prepended text takes the first character's alignment */
        out->len = 0;
        if (n == 0) return tk_buf_put(out, "", 0);
        if (*lead) *lead += nm->str_len;
        WF_TRY(tk_buf_put(out, nm->str, nm->str_len));
        return tk_buf_put(out, s, n);
    case TK_NORM_SEQUENCE: break;
    }
    WF_ASSERT(!"nested sequence left after flattening");
    return WF_OK;
}

wf_status tk_norm_run(const tk_norm *nm, tk_rx *rx, const char *s, size_t n, tk_buf *out,
                      tk_buf *tmp, tk_ranges *ranges, size_t *lead) {
    tk_buf scratch = {0}; /* the leaves' own intermediate results */
    wf_status st = WF_OK;
    if (nm->type != TK_NORM_SEQUENCE) {
        st = run_leaf(nm, rx, ranges, s, n, out, &scratch, lead);
        tk_buf_free(&scratch);
        return st;
    }
    /* ping-pong between out and tmp */
    const char *cur = s;
    size_t cur_n = n;
    tk_buf *dst = out, *other = tmp;
    out->len = 0;
    if (nm->n_items == 0) st = tk_buf_put(out, s, n);
    for (size_t i = 0; st == WF_OK && i < nm->n_items; i++) {
        st = run_leaf(nm->items[i], rx, ranges, cur, cur_n, dst, &scratch, lead);
        cur = dst->p ? dst->p : "";
        cur_n = dst->len;
        tk_buf *t = dst;
        dst = other;
        other = t;
    }
    if (st == WF_OK && cur != out->p && nm->n_items > 0) { /* result ended in tmp */
        out->len = 0;
        st = tk_buf_put(out, cur, cur_n);
    }
    tk_buf_free(&scratch);
    return st;
}

void tk_norm_free(tk_norm *nm) {
    if (!nm) return;
    for (size_t i = 0; i < nm->n_items; i++) tk_norm_free(nm->items[i]);
    free(nm->items);
    tk_pattern_free(&nm->pat);
    free(nm->str);
    free(nm);
}
