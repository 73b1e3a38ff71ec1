/* Decoders (the files of tokenizers/src/decoders and the ByteLevel / Metaspace / Replace decoders):
 * each maps a list of token strings to a new list (decode_chain); the tokenizer joins the final
 * list. Also Rust's String::from_utf8_lossy, which ByteLevel's result goes through. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

wf_status tk_utf8_lossy(const char *s, size_t n, tk_buf *out) {
    const unsigned char *u = (const unsigned char *)s;
    static const char repl[] = "\xEF\xBF\xBD";
    WF_TRY(tk_buf_reserve(out, n));
    size_t i = 0, run = 0; /* s[run..i) is valid and not yet copied */
    while (i < n) {
        unsigned char c = u[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) need = 2;
        else if (c >= 0xE0 && c <= 0xEF) need = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4) need = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else need = 0;
        size_t k = 1; /* bytes of the longest valid prefix */
        if (need) {
            if (i + 1 < n && u[i + 1] >= lo && u[i + 1] <= hi) {
                k = 2;
                while (k < need && i + k < n && (u[i + k] & 0xC0) == 0x80) k++;
            }
        }
        if (need && k == need) {
            i += k;
            continue;
        }
        WF_TRY(tk_buf_put(out, s + run, i - run));
        WF_TRY(tk_buf_put(out, repl, 3)); /* one U+FFFD per maximal invalid subpart */
        i += k;
        run = i;
    }
    return tk_buf_put(out, s + run, i - run);
}

/* Rust's u8::from_str_radix(_, 16) on two characters: hex digits, or '+' and one digit. */
static int hex2(const char *p) {
    int v = 0;
    for (int i = 0; i < 2; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0 && !(i == 0 && c == '+')) return -1;
        v = d < 0 ? 0 : v * 16 + d;
    }
    return v;
}

static wf_status byte_fallback(tk_strs *in, tk_strs *out) {
    tk_buf bytes = {0};
    wf_status st = WF_OK;
    for (size_t i = 0; st == WF_OK && i <= in->n; i++) {
        const char *t = i < in->n ? in->buf.p + in->off[i] : NULL;
        size_t n = i < in->n ? in->len[i] : 0;
        int b = -1;
        if (t && n == 6 && memcmp(t, "<0x", 3) == 0 && t[5] == '>') b = hex2(t + 3);
        if (b >= 0) {
            unsigned char c = (unsigned char)b;
            st = tk_buf_put(&bytes, &c, 1);
            continue;
        }
        if (bytes.len) { /* flush: valid UTF-8 as one string, else one U+FFFD per byte */
            if (tk_utf8_check(bytes.p, bytes.len) == bytes.len) {
                st = tk_strs_push(out, bytes.p, bytes.len);
            } else {
                for (size_t j = 0; st == WF_OK && j < bytes.len; j++)
                    st = tk_strs_push(out, "\xEF\xBF\xBD", 3);
            }
            bytes.len = 0;
        }
        if (st == WF_OK && t) st = tk_strs_push(out, t, n);
    }
    tk_buf_free(&bytes);
    return st;
}

static wf_status byte_level(tk_strs *in, tk_strs *out) {
    tk_buf raw = {0}, txt = {0};
    wf_status st = WF_OK;
    for (size_t i = 0; st == WF_OK && i < in->n; i++) {
        const char *t = in->buf.p + in->off[i];
        size_t n = in->len[i], mark = raw.len;
        bool all = true;
        for (size_t j = 0; st == WF_OK && j < n;) {
            size_t k;
            int b = tk_cp_to_byte(tk_utf8_next(t + j, &k));
            if (b < 0) {
                all = false;
                break;
            }
            unsigned char c = (unsigned char)b;
            st = tk_buf_put(&raw, &c, 1);
            j += k;
        }
        if (st == WF_OK && !all) { /* a token outside the alphabet passes as its own bytes */
            raw.len = mark;
            st = tk_buf_put(&raw, t, n);
        }
    }
    if (st == WF_OK) st = tk_utf8_lossy(raw.p ? raw.p : "", raw.len, &txt);
    if (st == WF_OK) st = tk_strs_push(out, txt.p ? txt.p : "", txt.len);
    tk_buf_free(&raw);
    tk_buf_free(&txt);
    return st;
}

static const char *const CLEANUP[][2] = {
    {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
    {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
};

/* str::replace of every occurrence, left to right, for each pair in turn */
static wf_status cleanup(tk_buf *t, tk_buf *tmp) {
    for (size_t r = 0; r < sizeof CLEANUP / sizeof *CLEANUP; r++) {
        const char *from = CLEANUP[r][0], *to = CLEANUP[r][1];
        size_t fl = strlen(from), tl = strlen(to);
        tmp->len = 0;
        size_t i = 0;
        bool any = false;
        while (i < t->len) {
            const char *hit = t->len - i >= fl ? memmem(t->p + i, t->len - i, from, fl) : NULL;
            size_t end = hit ? (size_t)(hit - t->p) : t->len;
            WF_TRY(tk_buf_put(tmp, t->p + i, end - i));
            if (!hit) break;
            WF_TRY(tk_buf_put(tmp, to, tl));
            any = true;
            i = end + fl;
        }
        if (any) {
            tk_buf x = *t;
            *t = *tmp;
            *tmp = x;
        }
    }
    return WF_OK;
}

static wf_status leaf(const tk_dec *d, tk_rx *rx, tk_strs *in, tk_strs *out, tk_buf *t,
                      tk_buf *tmp, tk_ranges *r) {
    tk_strs_clear(out);
    if (d->type == TK_DEC_BYTE_LEVEL) return byte_level(in, out);
    if (d->type == TK_DEC_BYTE_FALLBACK) return byte_fallback(in, out);
    if (d->type == TK_DEC_FUSE) {
        t->len = 0;
        for (size_t i = 0; i < in->n; i++) WF_TRY(tk_buf_put(t, in->buf.p + in->off[i], in->len[i]));
        return tk_strs_push(out, t->p ? t->p : "", t->len);
    }
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->buf.p + in->off[i];
        size_t n = in->len[i];
        t->len = 0;
        switch (d->type) {
        case TK_DEC_METASPACE:
            for (size_t j = 0; j < n;) {
                size_t k;
                uint32_t c = tk_utf8_next(s + j, &k);
                if (c != d->replacement) WF_TRY(tk_buf_put(t, s + j, k));
                else if (i != 0 || d->prepend == TK_PREPEND_NEVER) WF_TRY(tk_buf_put(t, " ", 1));
                j += k;
            }
            break;
        case TK_DEC_WORDPIECE:
            if (i != 0 && n >= d->str_len && memcmp(s, d->str, d->str_len) == 0) {
                WF_TRY(tk_buf_put(t, s + d->str_len, n - d->str_len));
            } else {
                if (i != 0) WF_TRY(tk_buf_put(t, " ", 1));
                WF_TRY(tk_buf_put(t, s, n));
            }
            if (d->cleanup) WF_TRY(cleanup(t, tmp));
            break;
        case TK_DEC_REPLACE:
            WF_TRY(tk_pattern_find(&d->pat, rx, s, n, r));
            for (size_t j = 0; j < r->n; j++)
                WF_TRY(r->v[j].match ? tk_buf_put(t, d->str, d->str_len)
                                     : tk_buf_put(t, s + r->v[j].start, r->v[j].end - r->v[j].start));
            break;
        case TK_DEC_STRIP: {
            size_t a = 0, b = n, k;
            for (size_t j = 0; j < d->start && a < n && tk_utf8_next(s + a, &k) == d->content; j++)
                a += k;
            for (size_t j = 0; j < d->stop && b > a; j++) {
                size_t p = tk_utf8_prev(s, b);
                if (tk_utf8_next(s + p, &k) != d->content) break;
                b = p;
            }
            WF_TRY(tk_buf_put(t, s + a, b - a));
            break;
        }
        case TK_DEC_BPE: { /* suffix -> " ", or "" in the last token */
            const char *rep = i + 1 == in->n ? "" : " ";
            for (size_t j = 0; j < n;) {
                if (d->str_len && n - j >= d->str_len && memcmp(s + j, d->str, d->str_len) == 0) {
                    WF_TRY(tk_buf_put(t, rep, strlen(rep)));
                    j += d->str_len;
                } else {
                    WF_TRY(tk_buf_put(t, s + j, 1));
                    j++;
                }
            }
            break;
        }
        default: WF_ASSERT(!"decoder type handled above"); break;
        }
        WF_TRY(tk_strs_push(out, t->p ? t->p : "", t->len));
    }
    return WF_OK;
}

wf_status tk_dec_run(const tk_dec *d, tk_rx *rx, tk_strs *in, tk_strs *out) {
    tk_buf t = {0}, tmp = {0};
    tk_ranges r = {0};
    wf_status st = WF_OK;
    if (d->type != TK_DEC_SEQUENCE) {
        st = leaf(d, rx, in, out, &t, &tmp, &r);
    } else {
        /* ping-pong; the result must end in out */
        tk_strs *src = in, *dst = out;
        for (size_t i = 0; st == WF_OK && i < d->n_items; i++) {
            st = tk_dec_run(d->items[i], rx, src, dst);
            tk_strs *x = src;
            src = dst;
            dst = x;
        }
        if (st == WF_OK && src != out) {
            tk_strs x = *in;
            *in = *out;
            *out = x;
        }
    }
    tk_buf_free(&t);
    tk_buf_free(&tmp);
    free(r.v);
    return st;
}

void tk_dec_free(tk_dec *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n_items; i++) tk_dec_free(d->items[i]);
    free(d->items);
    free(d->str);
    tk_pattern_free(&d->pat);
    free(d);
}
