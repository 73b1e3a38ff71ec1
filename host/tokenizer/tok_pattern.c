/* Patterns (tokenizers' Pattern trait): literal strings and regexes, found left to right as
 * rust-onig's find_iter does (an empty match right after the previous match is skipped), and the
 * split behaviors applied to the found ranges (NormalizedString::split).
 * tokenizers compiles its regexes with Oniguruma; here they run on PCRE2 (UTF, UCP, JIT) after a
 * small translation of the constructs whose meaning differs (see translate()). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"


static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Appends the ranges of code points Oniguruma puts in general category `cat` ("L", "Lo") and
 * PCRE2's older tables do not; returns whether there were any. */
static bool onig_extras(tk_buf *o, const char *cat, wf_status *st) {
    size_t cl = strlen(cat);
    bool any = false;
    if (cl == 0 || cl > 2) return false;
    for (size_t k = 0; *st == WF_OK && k < tk_tab_onig_extra_n; k++) {
        const tk_cat_range *e = &tk_tab_onig_extra[k];
        if (e->cat[0] != cat[0] || (cl == 2 && e->cat[1] != cat[1])) continue;
        char r[48];
        int m = snprintf(r, sizeof r, "\\x{%X}-\\x{%X}", (unsigned)e->lo, (unsigned)e->hi);
        *st = tk_buf_put(o, r, (size_t)m);
        any = true;
    }
    return any;
}

/* \p{X} (or \P{X}, \d) written as a class that also holds Oniguruma's newer code points. */
static wf_status with_extras(tk_buf *o, const char *esc, size_t esc_len, const char *cat, bool neg,
                             bool in_class) {
    wf_status st = WF_OK;
    size_t mark = o->len;
    if (!in_class) st = tk_buf_put(o, neg ? "[^" : "[", neg ? 2 : 1);
    if (st == WF_OK) st = tk_buf_put(o, esc, esc_len);
    if (neg && st == WF_OK) o->p[o->len - esc_len + 1] = 'p'; /* [^\p{X}...] */
    bool any = st == WF_OK && onig_extras(o, cat, &st);
    if (st != WF_OK) return st;
    if (!any) { /* nothing to add: the escape alone */
        o->len = mark;
        return tk_buf_put(o, esc, esc_len);
    }
    return in_class ? WF_OK : tk_buf_put(o, "]", 1);
}

/* Copies an escape's argument "{...}" (as in \p{L}, \x{41}) starting at src[i] == '{'. */
static size_t copy_braced(tk_buf *o, const char *src, size_t n, size_t i, wf_status *st) {
    size_t j = i;
    while (j < n && src[j] != '}') j++;
    if (j < n) j++;
    *st = tk_buf_put(o, src + i, j - i);
    return j;
}

/* Translates one escape at src[i] == '\\'; returns the index after it. *has_s / *has_S are set
 * for \s / \S, which the caller adjusts (PCRE2's \s also matches U+180E, Oniguruma's does not). */
static size_t translate_escape(tk_buf *o, const char *src, size_t n, size_t i, bool in_class,
                               bool *has_s, bool *has_S, wf_status *st) {
    if (i + 1 >= n) {
        *st = tk_buf_put(o, "\\\\", 2); /* a trailing backslash: let PCRE2 report it */
        return n;
    }
    char c = src[i + 1];
    i += 2;
    switch (c) {
    case 's':
        *has_s = true;
        *st = tk_buf_put(o, "\\s", 2);
        return i;
    case 'S':
        *has_S = true;
        *st = tk_buf_put(o, "\\S", 2);
        return i;
    case 'h': /* Oniguruma: hexadecimal digit (PCRE2: horizontal space) */
        *st = in_class ? tk_buf_put(o, "0-9a-fA-F", 9) : tk_buf_put(o, "[0-9a-fA-F]", 11);
        return i;
    case 'H':
        *st = in_class ? tk_buf_put(o, "\\x{0}-/:-@G-`g-\\x{10FFFF}", 25)
                       : tk_buf_put(o, "[^0-9a-fA-F]", 12);
        return i;
    case 'w': /* Oniguruma's \w (its own table, generated): no PCRE2 class matches it */
    case 'W':
        if (c == 'W' && in_class) {
            *st = tk_buf_put(o, "\\W", 2);
            return i;
        }
        *st = in_class ? WF_OK : tk_buf_put(o, c == 'W' ? "[^" : "[", c == 'W' ? 2 : 1);
        for (size_t k = 0; *st == WF_OK && k < tk_tab_onig_word_n; k++) {
            char r[48];
            int m = snprintf(r, sizeof r, "\\x{%X}-\\x{%X}", (unsigned)tk_tab_onig_word[k][0],
                             (unsigned)tk_tab_onig_word[k][1]);
            *st = tk_buf_put(o, r, (size_t)m);
        }
        if (*st == WF_OK && !in_class) *st = tk_buf_put(o, "]", 1);
        return i;
    case 'u':
        if (i + 4 <= n && is_hex(src[i]) && is_hex(src[i + 1]) && is_hex(src[i + 2]) &&
            is_hex(src[i + 3])) {
            char tmp[16];
            memcpy(tmp, "\\x{", 3);
            memcpy(tmp + 3, src + i, 4);
            tmp[7] = '}';
            *st = tk_buf_put(o, tmp, 8);
            return i + 4;
        }
        break;
    case 'p': case 'P': { /* a general category gets Oniguruma's newer code points */
        char cat[3] = {0};
        size_t end = i;
        if (i < n && src[i] == '{') {
            size_t j = i + 1;
            while (j < n && src[j] != '}' && j - i <= 3) j++;
            if (j < n && src[j] == '}' && j - i - 1 <= 2) memcpy(cat, src + i + 1, j - i - 1);
            end = j + 1;
        } else if (i < n) {
            cat[0] = src[i], end = i + 1;
        }
        if (cat[0] && !(c == 'P' && in_class)) {
            *st = with_extras(o, src + i - 2, end - (i - 2), cat, c == 'P', in_class);
            return end;
        }
        if (i < n && src[i] == '{') {
            *st = tk_buf_put(o, src + i - 2, 2);
            if (*st != WF_OK) return n;
            return copy_braced(o, src, n, i, st);
        }
        break;
    }
    case 'd':
        *st = with_extras(o, "\\d", 2, "Nd", false, in_class);
        return i;
    case 'x':
        if (i < n && src[i] == '{') {
            *st = tk_buf_put(o, src + i - 2, 2);
            if (*st != WF_OK) return n;
            return copy_braced(o, src, n, i, st);
        }
        break;
    default: break;
    }
    /* any other escape means the same in both: copy it with its whole (UTF-8) character */
    size_t clen = tk_utf8_len((unsigned char)c);
    if (i - 1 + clen > n) clen = n - (i - 1);
    *st = tk_buf_put(o, src + i - 2, 1 + clen);
    return i - 1 + clen;
}

/* Translates a bracket class starting at src[i] == '['. */
static size_t translate_class(tk_buf *o, const char *src, size_t n, size_t i, wf_status *st) {
    tk_buf cls = {0};
    bool has_s = false, has_S = false, neg = false;
    size_t j = i + 1;
    *st = tk_buf_put(&cls, "[", 1);
    if (j < n && src[j] == '^') neg = true, j++, *st = tk_buf_put(&cls, "^", 1);
    if (j < n && src[j] == ']') j++, *st = tk_buf_put(&cls, "]", 1); /* literal ] first */
    while (*st == WF_OK && j < n && src[j] != ']') {
        if (src[j] == '\\') {
            j = translate_escape(&cls, src, n, j, true, &has_s, &has_S, st);
        } else if (src[j] == '[' && j + 1 < n && src[j + 1] == ':') { /* [:alpha:] */
            size_t k = j + 2;
            while (k + 1 < n && !(src[k] == ':' && src[k + 1] == ']')) k++;
            k = k + 1 < n ? k + 2 : n;
            *st = tk_buf_put(&cls, src + j, k - j);
            j = k;
        } else {
            *st = tk_buf_put(&cls, src + j, 1);
            j++;
        }
    }
    if (*st == WF_OK && j < n) j++, *st = tk_buf_put(&cls, "]", 1);
    if (*st == WF_OK) {
        if (has_S && !neg) { /* add U+180E, which Oniguruma's \S holds */
            cls.len--;
            *st = tk_buf_put(&cls, "\\x{180E}]", 9);
        }
        if (*st == WF_OK && ((has_s && neg) || (has_S && neg) || (has_s && !neg))) {
            bool add = has_s && neg; /* [^\s..] must match U+180E; [\s..] must not */
            const char *pre = add ? "(?:" : "(?:(?!\\x{180E})";
            const char *post = add ? "|\\x{180E})" : ")";
            *st = tk_buf_put(o, pre, strlen(pre));
            if (*st == WF_OK) *st = tk_buf_put(o, cls.p, cls.len);
            if (*st == WF_OK) *st = tk_buf_put(o, post, strlen(post));
        } else if (*st == WF_OK) {
            *st = tk_buf_put(o, cls.p, cls.len);
        }
    }
    tk_buf_free(&cls);
    return j;
}

/* Oniguruma (tokenizers' engine) -> PCRE2: \s and \S without U+180E, \h as hex digit, \w as
 * Unicode word characters, \uHHHH, and the inline option m (dot-all in Oniguruma) as s. The
 * pattern is compiled with PCRE2_MULTILINE since Oniguruma's ^ and $ are line anchors. */
static wf_status translate(const char *src, size_t n, tk_buf *o) {
    wf_status st = WF_OK;
    size_t i = 0;
    while (st == WF_OK && i < n) {
        char c = src[i];
        if (c == '\\') {
            bool has_s = false, has_S = false;
            size_t mark = o->len;
            i = translate_escape(o, src, n, i, false, &has_s, &has_S, &st);
            if (st == WF_OK && (has_s || has_S)) {
                o->len = mark;
                st = has_s ? tk_buf_put(o, "(?:(?!\\x{180E})\\s)", 18)
                           : tk_buf_put(o, "(?:\\S|\\x{180E})", 15);
            }
        } else if (c == '[') {
            i = translate_class(o, src, n, i, &st);
        } else if (c == '(' && i + 2 < n && src[i + 1] == '?' &&
                   (src[i + 2] == '-' || (src[i + 2] >= 'a' && src[i + 2] <= 'z'))) {
            st = tk_buf_put(o, "(?", 2);
            i += 2;
            while (st == WF_OK && i < n && (src[i] == '-' || (src[i] >= 'a' && src[i] <= 'z'))) {
                st = tk_buf_put(o, src[i] == 'm' ? "s" : src + i, 1);
                i++;
            }
        } else {
            st = tk_buf_put(o, src + i, 1);
            i++;
        }
    }
    return st;
}

wf_status tk_pattern_regex(tk_pattern *p, const char *src, size_t len, const char *where,
                           const char *what) {
    *p = (tk_pattern){0};
    tk_buf t = {0};
    wf_status st = translate(src, len, &t);
    if (st != WF_OK) {
        tk_buf_free(&t);
        return st;
    }
    int err;
    PCRE2_SIZE eoff;
    p->re = pcre2_compile((PCRE2_SPTR)(t.p ? t.p : ""), t.len,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NO_UTF_CHECK, &err,
                          &eoff, NULL);
    tk_buf_free(&t);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return wf_error(WF_ERR_FORMAT, "%s: %s: regex does not compile: %s", where, what,
                        (const char *)msg);
    }
    pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* without JIT the interpreter runs */
    return WF_OK;
}

wf_status tk_pattern_literal(tk_pattern *p, const char *s, size_t len) {
    *p = (tk_pattern){0};
    if (len == 0) { /* tokenizers escapes it into an empty regex, which matches everywhere */
        int err;
        PCRE2_SIZE eoff;
        p->re = pcre2_compile((PCRE2_SPTR) "", 0, PCRE2_UTF | PCRE2_UCP, &err, &eoff, NULL);
        return p->re ? WF_OK : wf_error(WF_ERR_OOM, "tokenizer: cannot compile a pattern");
    }
    p->lit = tk_strndup(s, len);
    p->lit_len = len;
    return p->lit ? WF_OK : wf_error(WF_ERR_OOM, "tokenizer: out of memory");
}

void tk_pattern_free(tk_pattern *p) {
    free(p->lit);
    if (p->re) pcre2_code_free(p->re);
    *p = (tk_pattern){0};
}

wf_status tk_rx_init(tk_rx *rx) {
    *rx = (tk_rx){0};
    rx->md = pcre2_match_data_create(1, NULL); /* only the whole match is read */
    rx->mctx = pcre2_match_context_create(NULL);
    /* a larger JIT stack than the 32 KiB default, for long words; reserved, not committed */
    rx->jit = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, NULL);
    if (!rx->md || !rx->mctx) {
        tk_rx_free(rx);
        return wf_error(WF_ERR_OOM, "tokenizer: out of memory (regex state)");
    }
    if (rx->jit) pcre2_jit_stack_assign(rx->mctx, NULL, rx->jit);
    /* bounds the interpreter's backtracking on hostile patterns (an error, not a hang) */
    pcre2_set_match_limit(rx->mctx, 50 * 1000 * 1000);
    return WF_OK;
}

void tk_rx_free(tk_rx *rx) {
    if (rx->md) pcre2_match_data_free(rx->md);
    if (rx->mctx) pcre2_match_context_free(rx->mctx);
    if (rx->jit) pcre2_jit_stack_free(rx->jit);
    *rx = (tk_rx){0};
}

static wf_status ranges_push(tk_ranges *r, size_t a, size_t b, bool m) {
    if (r->n == r->cap) WF_TRY(tk_grow((void **)&r->v, &r->cap, r->n + 1, sizeof *r->v));
    r->v[r->n++] = (tk_range){a, b, m};
    return WF_OK;
}

/* Next match at or after `from`: *ms..*me; false when there is none. */
static wf_status next_match(const tk_pattern *p, tk_rx *rx, const char *s, size_t n, size_t from,
                            bool *found, size_t *ms, size_t *me) {
    *found = false;
    if (p->lit) {
        if (n - from < p->lit_len) return WF_OK;
        const char *hit = memmem(s + from, n - from, p->lit, p->lit_len);
        if (!hit) return WF_OK;
        *found = true;
        *ms = (size_t)(hit - s);
        *me = *ms + p->lit_len;
        return WF_OK;
    }
    int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, rx->md, rx->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) return WF_OK;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return wf_error(WF_ERR_INVALID, "tokenizer: regex match failed: %s", (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(rx->md);
    *found = true;
    *ms = ov[0];
    *me = ov[1];
    return WF_OK;
}

wf_status tk_pattern_find(const tk_pattern *p, tk_rx *rx, const char *s, size_t n,
                          tk_ranges *out) {
    out->n = 0;
    if (n == 0) return ranges_push(out, 0, 0, false);
    size_t prev = 0, last_end = 0, last_me = 0;
    bool have_last = false;
    while (last_end <= n) {
        bool found;
        size_t ms, me;
        WF_TRY(next_match(p, rx, s, n, last_end, &found, &ms, &me));
        if (!found) break;
        if (ms == me && have_last && last_me == me) {
            last_end += last_end < n ? tk_utf8_len((unsigned char)s[last_end]) : 1;
            continue;
        }
        last_end = me;
        have_last = true;
        last_me = me;
        if (prev != ms) WF_TRY(ranges_push(out, prev, ms, false));
        WF_TRY(ranges_push(out, ms, me, true));
        prev = me;
    }
    if (prev != n) WF_TRY(ranges_push(out, prev, n, false));
    return WF_OK;
}

void tk_apply_behavior(tk_ranges *r, tk_behavior b) {
    size_t k = 0;
    bool prev = false;
    switch (b) {
    case TK_REMOVED: return; /* match ranges are the ones removed */
    case TK_ISOLATED:
        for (size_t i = 0; i < r->n; i++) r->v[i].match = false;
        return;
    case TK_CONTIGUOUS:
        for (size_t i = 0; i < r->n; i++) {
            bool m = r->v[i].match;
            if (m == prev && k > 0) r->v[k - 1].end = r->v[i].end;
            else r->v[k++] = (tk_range){r->v[i].start, r->v[i].end, false};
            prev = m;
        }
        break;
    case TK_MERGED_PREV:
        for (size_t i = 0; i < r->n; i++) {
            bool m = r->v[i].match;
            if (m && !prev && k > 0) r->v[k - 1].end = r->v[i].end;
            else r->v[k++] = (tk_range){r->v[i].start, r->v[i].end, false};
            prev = m;
        }
        break;
    case TK_MERGED_NEXT: /* the mirror image: walk backwards, fill from the end */
        k = r->n;
        for (size_t i = r->n; i-- > 0;) {
            bool m = r->v[i].match;
            if (m && !prev && k < r->n) r->v[k].start = r->v[i].start;
            else r->v[--k] = (tk_range){r->v[i].start, r->v[i].end, false};
            prev = m;
        }
        memmove(r->v, r->v + k, (r->n - k) * sizeof *r->v);
        k = r->n - k;
        break;
    }
    r->n = k;
}
