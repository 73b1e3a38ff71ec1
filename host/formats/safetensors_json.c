/* Strict JSON reading for safetensors headers and index files (safetensors_json.h).
 * Grammar: RFC 8259. What counts as an error follows serde_json, the reference reader's parser:
 * no trailing commas, no leading zeros, no raw control characters in strings, no lone
 * surrogates in \u escapes, nesting at most 127 deep, nothing but whitespace after the value. */
#include "safetensors_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool wf_utf8_valid(const unsigned char *s, size_t n, size_t *bad) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* the second byte's range rules out overlongs (E0, F0), surrogates (ED) and > U+10FFFF */
        size_t k = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            k = 1;
        else if (c == 0xE0)
            k = 2, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
            k = 2;
        else if (c == 0xED)
            k = 2, hi = 0x9F;
        else if (c == 0xF0)
            k = 3, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3)
            k = 3;
        else if (c == 0xF4)
            k = 3, hi = 0x8F;
        bool ok = k > 0 && n - i - 1 >= k && s[i + 1] >= lo && s[i + 1] <= hi;
        for (size_t m = 2; ok && m <= k; m++) ok = (s[i + m] & 0xC0) == 0x80;
        if (!ok) {
            *bad = i;
            return false;
        }
        i += k + 1;
    }
    return true;
}

wf_status wf_stj_init(wf_stj *j, const void *text, size_t len, const char *file, size_t base) {
    *j = (wf_stj){.s = text, .len = len, .file = file, .base = base};
    if (len == SIZE_MAX) return wf_error(WF_ERR_OOM, "%s: JSON text too large", file);
    j->pool = malloc(len + 1);
    if (!j->pool) return wf_error(WF_ERR_OOM, "%s: out of memory for a %zu-byte header", file, len);
    return WF_OK;
}

void wf_stj_free(wf_stj *j) {
    free(j->pool);
    j->pool = NULL;
}

static bool is_ws(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int wf_stj_peek(wf_stj *j) {
    while (j->pos < j->len && is_ws(j->s[j->pos])) j->pos++;
    return j->pos < j->len ? j->s[j->pos] : -1;
}

/* Up to 24 bytes of the text at pos, quoted, with unprintable bytes as \xNN. */
static const char *excerpt(const wf_stj *j, size_t pos, char *buf, size_t cap) {
    if (pos >= j->len) return "the end of the text";
    size_t w = 0;
    buf[w++] = '"';
    for (size_t i = pos; i < j->len && i < pos + 24 && w + 6 < cap; i++) {
        unsigned c = j->s[i];
        w += (size_t)snprintf(buf + w, cap - w, (c >= 0x20 && c < 0x7f) ? "%c" : "\\x%02x", c);
    }
    if (pos + 24 < j->len && w + 5 < cap) w += (size_t)snprintf(buf + w, cap - w, "...");
    snprintf(buf + w, cap - w, "\"");
    return buf;
}

wf_status wf_stj_error(wf_stj *j, const char *what) {
    char buf[160]; /* no whitespace skipping here: inside a string, '\n' is the culprit itself */
    return wf_error(WF_ERR_FORMAT, "%s: invalid JSON at byte %zu: expected %s, found %s", j->file,
                    j->base + j->pos, what, excerpt(j, j->pos, buf, sizeof buf));
}

const char *wf_stj_kind(wf_stj *j) {
    switch (wf_stj_peek(j)) {
    case '"': return "a string";
    case '{': return "an object";
    case '[': return "an array";
    case 't':
    case 'f': return "a boolean";
    case 'n': return "null";
    case -1: return "the end of the text";
    default: return "a number";
    }
}

wf_status wf_stj_expect(wf_stj *j, char c, const char *what) {
    if (wf_stj_peek(j) != (unsigned char)c) return wf_stj_error(j, what);
    j->pos++;
    return WF_OK;
}

wf_status wf_stj_next(wf_stj *j, char close, bool first, bool *more) {
    int c = wf_stj_peek(j);
    *more = false;
    if (c == close) {
        j->pos++;
        return WF_OK;
    }
    if (first || c == ',') {
        j->pos += first ? 0 : 1;
        *more = true;
        return WF_OK;
    }
    return wf_stj_error(j, close == '}' ? "',' or '}'" : "',' or ']'");
}

static int hex4(const unsigned char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *d, uint32_t cp) {
    if (cp < 0x80) return d[0] = (char)cp, 1;
    if (cp < 0x800) return d[0] = (char)(0xC0 | cp >> 6), d[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | cp >> 12), d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | cp >> 18), d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \uXXXX escape (pos at the 'u'), or a surrogate pair of two; returns bytes written. */
static wf_status unicode_escape(wf_stj *j, char *dst, size_t *w) {
    int hi = j->len - j->pos >= 5 ? hex4(j->s + j->pos + 1) : -1;
    if (hi < 0) return wf_stj_error(j, "4 hex digits after \\u");
    j->pos += 5;
    uint32_t cp = (uint32_t)hi;
    if (hi >= 0xDC00 && hi <= 0xDFFF) {
        j->pos -= 6;
        return wf_stj_error(j, "a leading surrogate before a trailing one");
    }
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        int lo = j->len - j->pos >= 6 && j->s[j->pos] == '\\' && j->s[j->pos + 1] == 'u'
                     ? hex4(j->s + j->pos + 2)
                     : -1;
        if (lo < 0xDC00 || lo > 0xDFFF) return wf_stj_error(j, "a \\u trailing surrogate");
        j->pos += 6;
        cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
    }
    *w += put_utf8(dst + *w, cp);
    return WF_OK;
}

wf_status wf_stj_string(wf_stj *j, const char **out, size_t *n) {
    if (wf_stj_peek(j) != '"') return wf_stj_error(j, "a string");
    j->pos++;
    char *dst = j->pool + j->pool_used;
    size_t w = 0;
    for (;;) {
        if (j->pos >= j->len) return wf_stj_error(j, "the closing '\"' of a string");
        unsigned c = j->s[j->pos];
        if (c == '"') break;
        if (c < 0x20) return wf_stj_error(j, "no raw control character inside a string");
        if (c != '\\') {
            dst[w++] = (char)c;
            j->pos++;
            continue;
        }
        if (++j->pos >= j->len) return wf_stj_error(j, "an escape after '\\'");
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = j->s[j->pos] ? strchr(from, j->s[j->pos]) : NULL;
        if (hit) {
            dst[w++] = to[hit - from];
            j->pos++;
        } else if (j->s[j->pos] == 'u') {
            WF_TRY(unicode_escape(j, dst, &w));
        } else {
            return wf_stj_error(j, "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
        }
    }
    j->pos++;
    dst[w] = 0;
    j->pool_used += w + 1;
    *out = dst;
    *n = w;
    return WF_OK;
}

/* Scans a number token at pos (RFC 8259 grammar); *is_uint says it has no sign, fraction or
 * exponent. Returns false (pos unchanged) if the grammar does not match. */
static bool scan_number(wf_stj *j, size_t *end, bool *is_uint) {
    const unsigned char *s = j->s;
    size_t p = j->pos, n = j->len;
#define DIGIT(i) ((i) < n && s[i] >= '0' && s[i] <= '9')
    *is_uint = true;
    if (p < n && s[p] == '-') p++, *is_uint = false;
    if (!DIGIT(p)) return false;
    if (s[p] == '0')
        p++;
    else
        while (DIGIT(p)) p++;
    if (p < n && s[p] == '.') {
        *is_uint = false;
        if (!DIGIT(p + 1)) return false;
        for (p++; DIGIT(p);) p++;
    }
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        *is_uint = false;
        p++;
        if (p < n && (s[p] == '+' || s[p] == '-')) p++;
        if (!DIGIT(p)) return false;
        while (DIGIT(p)) p++;
    }
#undef DIGIT
    *end = p;
    return true;
}

wf_status wf_stj_uint(wf_stj *j, uint64_t *out, const char *ctx, ...) {
    int c = wf_stj_peek(j);
    size_t start = j->pos, end = 0;
    bool is_uint = false, is_num = (c == '-' || (c >= '0' && c <= '9'));
    if (is_num && !scan_number(j, &end, &is_uint)) return wf_stj_error(j, "a valid number");
    uint64_t v = 0;
    bool fits = true;
    for (size_t i = start; is_uint && i < end; i++) {
        unsigned d = j->s[i] - '0';
        if (v > (UINT64_MAX - d) / 10) fits = false;
        v = v * 10 + d;
    }
    if (is_uint && fits) {
        j->pos = end;
        *out = v;
        return WF_OK;
    }
    char where[256], buf[160];
    va_list ap;
    va_start(ap, ctx);
    vsnprintf(where, sizeof where, ctx, ap);
    va_end(ap);
    if (is_uint)
        return wf_error(WF_ERR_FORMAT, "%s: %s: %s (byte %zu) does not fit in 64 bits", j->file,
                        where, excerpt(j, start, buf, sizeof buf), j->base + start);
    return wf_error(WF_ERR_FORMAT,
                    "%s: %s: expected a non-negative integer, found %s %s (byte %zu)", j->file,
                    where, wf_stj_kind(j), excerpt(j, start, buf, sizeof buf), j->base + start);
}

static wf_status skip_literal(wf_stj *j, const char *word) {
    size_t n = strlen(word);
    if (j->len - j->pos < n || memcmp(j->s + j->pos, word, n) != 0)
        return wf_stj_error(j, "a JSON value");
    j->pos += n;
    return WF_OK;
}

static wf_status skip_container(wf_stj *j, char close) {
    if (j->depth >= WF_STJ_MAX_DEPTH) return wf_stj_error(j, "at most 127 levels of nesting");
    j->depth++, j->pos++;
    bool more;
    WF_TRY(wf_stj_next(j, close, true, &more));
    while (more) {
        if (close == '}') {
            const char *k;
            size_t kn, mark = j->pool_used;
            WF_TRY(wf_stj_string(j, &k, &kn));
            j->pool_used = mark; /* the key is not kept */
            WF_TRY(wf_stj_expect(j, ':', "':'"));
        }
        WF_TRY(wf_stj_skip(j));
        WF_TRY(wf_stj_next(j, close, false, &more));
    }
    j->depth--;
    return WF_OK;
}

wf_status wf_stj_skip(wf_stj *j) {
    int c = wf_stj_peek(j);
    if (c == '{' || c == '[') return skip_container(j, c == '{' ? '}' : ']');
    if (c == '"') {
        const char *s;
        size_t n, mark = j->pool_used;
        WF_TRY(wf_stj_string(j, &s, &n));
        j->pool_used = mark;
        return WF_OK;
    }
    if (c == 't') return skip_literal(j, "true");
    if (c == 'f') return skip_literal(j, "false");
    if (c == 'n') return skip_literal(j, "null");
    size_t end;
    bool is_uint;
    if (!scan_number(j, &end, &is_uint)) return wf_stj_error(j, "a JSON value");
    j->pos = end;
    return WF_OK;
}

wf_status wf_stj_end(wf_stj *j) {
    if (wf_stj_peek(j) != -1) return wf_stj_error(j, "nothing but whitespace after the JSON value");
    return WF_OK;
}
