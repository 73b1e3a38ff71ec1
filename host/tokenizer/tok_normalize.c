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

static wf_status run_chars(const char_pass *p, const char *s, size_t n, tk_buf *out,
                           bool *lead_moved) {
    out->len = 0;
    WF_TRY(tk_buf_reserve(out, n + n / 2));
    bool first = true; /* no character kept yet */
    for (size_t i = 0; i < n;) {
        size_t k;
        uint32_t c = tk_utf8_next(s + i, &k);
        i += k;
        if (p->nmt) {
            if (nmt_removed(c)) goto drop;
            if (nmt_space(c)) c = ' ';
        }
        if (p->clean_text) { /* tokenizers/src/normalizers/bert.rs do_clean_text */
            if (c == 0 || c == 0xFFFD || tk_is_control(c)) goto drop;
            if (c == '\t' || c == '\n' || c == '\r' || tk_is_whitespace(c)) c = ' ';
        }
        if (p->drop_mn && tk_is_mn(c)) goto drop;
        if (p->drop_marks && tk_is_mark(c)) goto drop;
        if (p->chinese && tk_is_cjk(c)) {
            WF_TRY(tk_buf_put(out, " ", 1));
            WF_TRY(tk_buf_put_cp(out, c));
            WF_TRY(tk_buf_put(out, " ", 1));
        } else if (p->lowercase) {
            uint32_t lo[2];
            int m = tk_lowercase(c, lo);
            for (int j = 0; j < m; j++) WF_TRY(tk_buf_put_cp(out, lo[j]));
        } else {
            WF_TRY(tk_buf_put_cp(out, c));
        }
        first = false;
        continue;
    drop:
        if (first) *lead_moved = true;
    }
    return WF_OK;
}

static wf_status run_strip(const tk_norm *nm, const char *s, size_t n, tk_buf *out,
                           bool *lead_moved) {
    size_t a = 0, b = n, k;
    if (nm->left)
        while (a < n && tk_is_whitespace(tk_utf8_next(s + a, &k))) a += k;
    if (nm->right)
        while (b > a) {
            size_t p = tk_utf8_prev(s, b);
            if (!tk_is_whitespace(tk_utf8_next(s + p, &k))) break;
            b = p;
        }
    if (a > 0 && a < b) *lead_moved = true;
    out->len = 0;
    return tk_buf_put(out, s + a, b - a);
}

/* NormalizedString::replace: each match (rust-onig order) is replaced by the content. */
static wf_status run_replace(const tk_norm *nm, tk_rx *rx, tk_ranges *r, const char *s, size_t n,
                             tk_buf *out, bool *lead_moved) {
    WF_TRY(tk_pattern_find(&nm->pat, rx, s, n, r));
    out->len = 0;
    for (size_t i = 0; i < r->n; i++) {
        const tk_range *g = &r->v[i];
        if (!g->match) {
            WF_TRY(tk_buf_put(out, s + g->start, g->end - g->start));
            continue;
        }
        /* the inserted text takes the alignment of the match's last character: the lead moves
         * when a match at 0 spans several characters or is deleted */
        if (g->start == 0 && g->end > 0) {
            size_t k;
            tk_utf8_next(s, &k);
            if (k != g->end || nm->str_len == 0) *lead_moved = true;
        }
        WF_TRY(tk_buf_put(out, nm->str, nm->str_len));
    }
    return WF_OK;
}

/* One leaf normalizer: s -> out. */
static wf_status run_leaf(const tk_norm *nm, tk_rx *rx, tk_ranges *r, const char *s, size_t n,
                          tk_buf *out, tk_buf *tmp, bool *lead_moved) {
    char_pass p = {0};
    switch (nm->type) {
    case TK_NORM_BERT:
        if (nm->strip_accents) { /* clean + chinese, then NFD, then drop Mn + lowercase */
            p.clean_text = nm->clean_text, p.chinese = nm->handle_chinese;
            WF_TRY(run_chars(&p, s, n, out, lead_moved));
            tmp->len = 0;
            WF_TRY(tk_normalize_form(TK_NFD, out->p, out->len, tmp));
            char_pass q = {.drop_mn = true, .lowercase = nm->lowercase};
            return run_chars(&q, tmp->p, tmp->len, out, lead_moved);
        }
        /* one pass: CJK ideographs have no case, so lowercasing the rest keeps the order */
        p.clean_text = nm->clean_text, p.chinese = nm->handle_chinese, p.lowercase = nm->lowercase;
        return run_chars(&p, s, n, out, lead_moved);
    case TK_NORM_STRIP: return run_strip(nm, s, n, out, lead_moved);
    case TK_NORM_STRIP_ACCENTS: p.drop_marks = true; return run_chars(&p, s, n, out, lead_moved);
    case TK_NORM_LOWERCASE: p.lowercase = true; return run_chars(&p, s, n, out, lead_moved);
    case TK_NORM_NMT: p.nmt = true; return run_chars(&p, s, n, out, lead_moved);
    case TK_NORM_NFC: out->len = 0; return tk_normalize_form(TK_NFC, s, n, out);
    case TK_NORM_NFD: out->len = 0; return tk_normalize_form(TK_NFD, s, n, out);
    case TK_NORM_NFKC: out->len = 0; return tk_normalize_form(TK_NFKC, s, n, out);
    case TK_NORM_NFKD: out->len = 0; return tk_normalize_form(TK_NFKD, s, n, out);
    case TK_NORM_REPLACE: return run_replace(nm, rx, r, s, n, out, lead_moved);
    case TK_NORM_PREPEND:
        out->len = 0;
        if (n == 0) return tk_buf_put(out, "", 0);
        WF_TRY(tk_buf_put(out, nm->str, nm->str_len));
        return tk_buf_put(out, s, n);
    case TK_NORM_SEQUENCE: break;
    }
    WF_ASSERT(!"nested sequence left after flattening");
    return WF_OK;
}

wf_status tk_norm_run(const tk_norm *nm, tk_rx *rx, const char *s, size_t n, tk_buf *out,
                      tk_buf *tmp, tk_ranges *ranges, bool *lead_moved) {
    *lead_moved = false;
    if (nm->type != TK_NORM_SEQUENCE) {
        tk_buf t2 = {0};
        wf_status st = run_leaf(nm, rx, ranges, s, n, out, &t2, lead_moved);
        tk_buf_free(&t2);
        return st;
    }
    /* ping-pong between out and tmp; `scratch` serves the leaves' own intermediate results */
    tk_buf scratch = {0};
    wf_status st = WF_OK;
    const char *cur = s;
    size_t cur_n = n;
    tk_buf *dst = out, *other = tmp;
    out->len = 0;
    if (nm->n_items == 0) st = tk_buf_put(out, s, n);
    for (size_t i = 0; st == WF_OK && i < nm->n_items; i++) {
        st = run_leaf(nm->items[i], rx, ranges, cur, cur_n, dst, &scratch, lead_moved);
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
