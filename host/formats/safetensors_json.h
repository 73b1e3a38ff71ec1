/* A strict, pull-style JSON reader for safetensors headers and index files (RFC 8259).
 * Why not cJSON: it accepts "01", "1.", "+1", raw control characters in strings and duplicate
 * keys, and keeps numbers only as doubles (so 2^53+1 and "1.0" are invisible), while the
 * reference reader (serde_json) rejects all of these. Private to host/formats/safetensors_*. */
#ifndef WEFT_SAFETENSORS_JSON_H
#define WEFT_SAFETENSORS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/status.h"

/* serde_json's recursion limit of 128 fails on the 128th nested container (measured against
 * safetensors 0.8: 127 levels load, 128 do not). */
#define WF_STJ_MAX_DEPTH 127

typedef struct wf_stj {
    const unsigned char *s; /* (len) the JSON text, not NUL-terminated */
    size_t len, pos;
    const char *file; /* names the file in messages */
    size_t base;      /* file offset of s[0]: messages quote byte offsets in the file */
    char *pool;       /* decoded strings, NUL-terminated, (len + 1) bytes: never outgrown
                         since a string's decoded bytes + NUL never exceed its quoted text */
    size_t pool_used;
    int depth;
} wf_stj;

/* Checks that s is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF);
 * on failure *bad is the offset of the first bad byte. */
bool wf_utf8_valid(const unsigned char *s, size_t n, size_t *bad);

wf_status wf_stj_init(wf_stj *j, const void *text, size_t len, const char *file, size_t base);
void wf_stj_free(wf_stj *j); /* frees the pool unless the caller took it (set j->pool = NULL) */

/* Next non-whitespace byte without consuming it; -1 at the end. */
int wf_stj_peek(wf_stj *j);
/* Consumes byte c (after whitespace) or fails with "expected <what>". */
wf_status wf_stj_expect(wf_stj *j, char c, const char *what);
/* Object/array iteration. After the opening '{' or '[': *more says whether a member follows;
 * `first` is true before the first member. Consumes ',' and the closing byte. */
wf_status wf_stj_next(wf_stj *j, char close, bool first, bool *more);
/* A string, decoded into the pool (*out stays valid until wf_stj_free; *n is its length). */
wf_status wf_stj_string(wf_stj *j, const char **out, size_t *n);
/* A non-negative integer without sign, fraction or exponent that fits in 64 bits; on failure
 * the message is "<ctx>: expected a non-negative integer, found ..." (ctx is printf-style). */
wf_status wf_stj_uint(wf_stj *j, uint64_t *out, const char *ctx, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Skips one value of any kind, checking its syntax. */
wf_status wf_stj_skip(wf_stj *j);
/* Only whitespace may remain. */
wf_status wf_stj_end(wf_stj *j);
/* "a string", "an object", ... for the value that starts at the next byte. */
const char *wf_stj_kind(wf_stj *j);
/* "<file>: header byte <pos>: expected <what>, found <token>" */
wf_status wf_stj_error(wf_stj *j, const char *what);

#endif
