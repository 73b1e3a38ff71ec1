/* Small helpers of the data pipeline (data_internal.h): growable buffers, a strict UTF-8
 * check, and the bad-line policy (stop with "FILE:LINE: what", or count and keep the first
 * reasons). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

wf_status dt_grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return WF_OK;
    int64_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > INT64_MAX / 2) return wf_error(WF_ERR_OOM, "data: size overflow");
        c *= 2;
    }
    if ((uint64_t)c > SIZE_MAX / elem) return wf_error(WF_ERR_OOM, "data: size overflow");
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return wf_error(WF_ERR_OOM, "data: out of memory");
    *p = q;
    *cap = c;
    return WF_OK;
}

wf_status dt_buf_put(dt_buf *b, const void *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->len + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) return wf_error(WF_ERR_OOM, "data: out of memory");
        b->p = q;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return WF_OK;
}

size_t dt_utf8_check(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0) lo = 0xA0; /* no overlong forms */
            if (c == 0xED) hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F; /* <= U+10FFFF */
        } else {
            return i;
        }
        if (i + k >= n) return i; /* truncated sequence */
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return i;
        i += k + 1;
    }
    return n;
}

wf_status dt_bad_line(dt_stats *s, bool skip, const char *path, int64_t line, const char *fmt,
                      ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!skip) {
        if (line > 0) return wf_error(WF_ERR_FORMAT, "%s:%lld: %s", path, (long long)line, what);
        return wf_error(WF_ERR_FORMAT, "%s: %s", path, what);
    }
    if (s->skipped < WF_DATA_MAX_REASONS)
        snprintf(s->reasons[s->skipped], sizeof s->reasons[0], "%s:%lld: %s", path, (long long)line,
                 what);
    s->skipped++;
    return WF_OK;
}
