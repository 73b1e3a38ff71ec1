/* UTF-8 and the Unicode character properties the tokenizer components test, each defined as the
 * Rust function tokenizers calls (char::is_whitespace, char::is_numeric, unicode_categories'
 * is_punctuation / is_other, char::to_lowercase, unicode-normalization's forms). Normal forms and
 * case mapping come from utf8proc; the predicate sets, and where tokenizers' (older or newer)
 * Unicode data differs from utf8proc's, come from tok_unicode_tables.c, which
 * scripts/gen_tokenizer_unicode.py reads off tokenizers itself. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok_internal.h"

size_t tk_utf8_check(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = u[i];
        if (c < 0x80) { /* ASCII runs, 8 bytes at a time */
            uint64_t w;
            while (i + 8 <= len && (memcpy(&w, u + i, 8), (w & 0x8080808080808080ull) == 0)) i += 8;
            if (i < len && u[i] < 0x80) i++;
            continue;
        }
        size_t n;
        uint32_t min, cp;
        if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000, cp = c & 0x07;
        else return i;
        if (len - i < n) return i;
        for (size_t k = 1; k < n; k++) {
            if ((u[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n;
    }
    return len;
}

size_t tk_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t tk_utf8_prev(const char *s, size_t end) {
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    return i;
}

static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return true;
    }
    return false;
}

/* The predicates: ASCII answered inline, the rest from the tables read off tokenizers. */

bool tk_is_whitespace(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return in_ranges(tk_tab_space, tk_tab_space_n, cp);
}

bool tk_is_numeric(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return in_ranges(tk_tab_numeric, tk_tab_numeric_n, cp);
}

bool tk_is_punct(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
               (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
    return in_ranges(tk_tab_punct, tk_tab_punct_n, cp);
}

/* BertNormalizer's clean_text removal: Cc, Cf, Co (unicode_categories' is_other; unassigned code
 * points are not "other"), except \t \n \r; also NUL and U+FFFD */
bool tk_is_control(uint32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return false;
    return in_ranges(tk_tab_control, tk_tab_control_n, cp);
}

bool tk_is_mn(uint32_t cp) { return cp >= 0x300 && in_ranges(tk_tab_mn, tk_tab_mn_n, cp); }

bool tk_is_mark(uint32_t cp) { return cp >= 0x300 && in_ranges(tk_tab_mark, tk_tab_mark_n, cp); }

bool tk_is_word(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
               cp == '_';
    return in_ranges(tk_tab_word, tk_tab_word_n, cp);
}

int tk_ccc(uint32_t cp) {
    return cp < 0x300 ? 0 : utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
}

/* tokenizers/src/normalizers/bert.rs is_chinese_char */
bool tk_is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* char::to_lowercase: utf8proc's simple mapping, except where Rust's (full, Unicode 16) mapping
 * differs - U+0130 -> "i" U+0307 and the letters newer than utf8proc's tables. */
int tk_lowercase(uint32_t cp, uint32_t out[3]) {
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    size_t lo = 0, hi = tk_tab_lower_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < tk_tab_lower[mid].cp) hi = mid;
        else if (cp > tk_tab_lower[mid].cp) lo = mid + 1;
        else {
            for (uint32_t k = 0; k < tk_tab_lower[mid].n; k++) out[k] = tk_tab_lower[mid].out[k];
            return (int)tk_tab_lower[mid].n;
        }
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

static wf_status map_form(tk_nf form, const char *s, size_t n, tk_buf *out) {
    int opt = UTF8PROC_STABLE;
    switch (form) {
    case TK_NFC: opt |= UTF8PROC_COMPOSE; break;
    case TK_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case TK_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case TK_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    if (n == 0) return WF_OK;
    if (n > (size_t)INT32_MAX / 8) return wf_error(WF_ERR_INVALID, "tokenizer: text too long");
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t r =
        utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res, (utf8proc_option_t)opt);
    if (r < 0) {
        free(res);
        return wf_error(WF_ERR_INVALID, "tokenizer: normalization failed: %s",
                        utf8proc_errmsg(r));
    }
    wf_status st = tk_buf_put(out, res, (size_t)r);
    free(res);
    return st;
}

/* Characters newer than tokenizers' normalization tables stay as they are: they are starters
 * that compose with nothing for tokenizers, so the text is normalized in the stretches between
 * them, which is what tokenizers' algorithm does with characters it does not know. */
wf_status tk_normalize_form(tk_nf form, const char *s, size_t n, tk_buf *out) {
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    if (i == n) return tk_buf_put(out, s, n); /* ASCII is invariant under every form */
    size_t start = 0;
    for (i = 0; i < n;) {
        size_t k;
        uint32_t c = tk_utf8_next(s + i, &k);
        if (c >= tk_tab_nf_keep[0][0] && in_ranges(tk_tab_nf_keep, tk_tab_nf_keep_n, c)) {
            WF_TRY(map_form(form, s + start, i - start, out));
            WF_TRY(tk_buf_put(out, s + i, k));
            start = i + k;
        }
        i += k;
    }
    return map_form(form, s + start, n - start, out);
}

/* ---- where the lead goes through a normal form ----
 * tokenizers normalizes with unicode-normalization-alignments, which yields (char, change) pairs
 * (decompose.rs, recompose.rs): change 0 for the first character a source character decomposes
 * to and 1 for the others (carried along by the canonical reordering), composition adding the
 * changes and subtracting 1. NormalizedString::transform then assigns alignments by position: a
 * change <= 0 takes the next source character's alignment (and skips -change more), a change 1
 * the previous one's. The simulation below runs that on the first few characters only. */

#define NFL_SRC 16 /* source characters simulated */
#define NFL_OUT (NFL_SRC * 20)

typedef struct nfl_ch {
    uint32_t cp;
    int ccc, change;
} nfl_ch;

static uint32_t compose_pair(uint32_t a, uint32_t b) {
    utf8proc_int32_t buf[2] = {(utf8proc_int32_t)a, (utf8proc_int32_t)b};
    utf8proc_ssize_t r = utf8proc_normalize_utf32(buf, 2, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    return r == 1 ? (uint32_t)buf[0] : 0;
}

/* recompose.rs's state machine over dec[0..n) into out; returns the count */
static size_t nfl_recompose(const nfl_ch *dec, size_t n, nfl_ch *out) {
    size_t m = 0, nb = 0;
    nfl_ch k = {0}, buf[NFL_OUT];
    bool have_k = false;
    int last = -1; /* last_ccc, -1 = None */
    for (size_t i = 0; i < n; i++) {
        nfl_ch c = dec[i];
        if (!have_k) {
            if (c.ccc != 0) out[m++] = c;
            else k = c, have_k = true;
            continue;
        }
        uint32_t r = 0;
        if (last >= 0 && last >= c.ccc) { /* blocked */
            if (c.ccc == 0) {
                out[m++] = k;
                for (size_t j = 0; j < nb; j++) out[m++] = buf[j];
                nb = 0, last = -1, k = c;
                continue;
            }
            buf[nb++] = c, last = c.ccc;
            continue;
        }
        if ((r = compose_pair(k.cp, c.cp)) != 0) {
            k = (nfl_ch){r, 0, k.change + c.change - 1};
            continue;
        }
        if (last < 0 && c.ccc == 0) {
            out[m++] = k;
            k = c;
            continue;
        }
        buf[nb++] = c, last = c.ccc;
    }
    if (have_k) out[m++] = k;
    for (size_t j = 0; j < nb; j++) out[m++] = buf[j];
    return m;
}

size_t tk_nf_lead(tk_nf form, const char *s, size_t n, size_t lead) {
    nfl_ch dec[NFL_OUT], out[NFL_OUT];
    size_t nd = 0, lead_chars = 0, src = 0;
    bool compat = form == TK_NFKC || form == TK_NFKD;
    bool last = false; /* the starter after the lead's marks is the last one taken */
    for (size_t i = 0; i < n && src < NFL_SRC && !last;) { /* the lead, its marks, a starter */
        size_t k;
        uint32_t c = tk_utf8_next(s + i, &k);
        if (i >= lead && tk_ccc(c) == 0) last = true;
        utf8proc_int32_t d[20];
        utf8proc_ssize_t m = 1;
        d[0] = (utf8proc_int32_t)c;
        if (!(c >= tk_tab_nf_keep[0][0] && in_ranges(tk_tab_nf_keep, tk_tab_nf_keep_n, c))) {
            m = utf8proc_decompose_char((utf8proc_int32_t)c, d, 20,
                                        UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0), NULL);
            if (m < 1 || m > 20) m = 1, d[0] = (utf8proc_int32_t)c;
        }
        for (utf8proc_ssize_t j = 0; j < m; j++)
            dec[nd++] = (nfl_ch){(uint32_t)d[j], tk_ccc((uint32_t)d[j]), j ? 1 : 0};
        if (i < lead) lead_chars++;
        src++;
        i += k;
    }
    for (size_t a = 0; a < nd;) { /* stable sort of each run of non-starters by class */
        size_t b = a;
        while (b < nd && dec[b].ccc != 0) b++;
        for (size_t x = a + 1; x < b; x++)
            for (size_t y = x; y > a && dec[y - 1].ccc > dec[y].ccc; y--) {
                nfl_ch t = dec[y];
                dec[y] = dec[y - 1], dec[y - 1] = t;
            }
        a = b > a ? b : a + 1;
    }
    size_t no = nd;
    if (form == TK_NFC || form == TK_NFKC) no = nfl_recompose(dec, nd, out);
    else memcpy(out, dec, nd * sizeof *dec);
    size_t consumed = 0, bytes = 0;
    for (size_t j = 0; j < no; j++) {
        bool in = out[j].change <= 0 ? consumed < lead_chars
                                     : consumed == 0 || consumed - 1 < lead_chars;
        if (out[j].change <= 0) consumed += (size_t)(1 - out[j].change);
        if (!in) break;
        char u[4];
        bytes += tk_utf8_encode(out[j].cp, u);
    }
    return bytes;
}
