/* Corpus BLEU as sacrebleu's corpus_bleu with its defaults (sacrebleu/metrics/bleu.py): the 13a
 * tokenizer (sacrebleu/tokenizers/tokenizer_13a.py + tokenizer_re.py), n-grams up to 4 clipped by
 * the per-n-gram maximum over the references, the closest reference length (ties to the shorter),
 * "exp" smoothing and the brevity penalty. Whitespace is Python's str.isspace set, because
 * sacrebleu splits with str.split() and strips with str.rstrip(). Input is UTF-8.
 * Not here: other tokenizers, lowercasing, effective order, sentence BLEU. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "weft/metrics.h"

/* Byte length of the Python-whitespace character at s (0 when it is not one): str.isspace()
 * is true for \t\n\v\f\r, \x1c-\x1f, space, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
 * U+2029, U+202F, U+205F, U+3000. */
static size_t py_space(const unsigned char *s) {
    if ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20)) return 1;
    if (s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3;
    if (s[0] == 0xe2 && s[1] == 0x80 && ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 ||
                                         s[2] == 0xa9 || s[2] == 0xaf))
        return 3;
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3;
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3;
    return 0;
}

/* Python's str.replace(from, to) (non-overlapping, left to right); frees s. */
static char *replace_all(char *s, const char *from, const char *to) {
    if (!s) return NULL;
    size_t lf = strlen(from), lt = strlen(to), len = strlen(s);
    char *o = malloc(len + 1 + (lt > lf ? (len / lf + 1) * (lt - lf) : 0)), *w = o;
    if (!o) return free(s), NULL;
    for (const char *p = s; *p;) {
        if (strncmp(p, from, lf) == 0) memcpy(w, to, lt), w += lt, p += lf;
        else *w++ = *p++;
    }
    *w = 0;
    free(s);
    return o;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* 13a's first rule, [\{-\~\[-\` -\&\(-\+\:-\@\/] -> " \1 ": ASCII punctuation except ' , - . */
static bool is_13a_punct(char c) {
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
           (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

/* The four regex substitutions, one pass each as re.sub does them: each match consumes its
 * characters, so "a.," splits only the period. Working on bytes gives the same result as
 * Python's characters: the multi-byte bytes are all non-digits and never . , - or punctuation.
 * Each pass reads `in` and returns a new buffer (NULL when out of memory); a match turns two
 * bytes into four, so the output is at most twice the input (three times for the first). */
static char *pass_punct(const char *in) { /* ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> " \1 " */
    char *o = malloc(3 * strlen(in) + 1), *w = o;
    if (!o) return NULL;
    for (const char *p = in; *p; p++) {
        if (is_13a_punct(*p)) *w++ = ' ', *w++ = *p, *w++ = ' ';
        else *w++ = *p;
    }
    *w = 0;
    return o;
}

static char *pass_before_dot(const char *in) { /* ([^0-9])([\.,]) -> "\1 \2 " */
    char *o = malloc(2 * strlen(in) + 1), *w = o;
    if (!o) return NULL;
    for (const char *p = in; *p;) {
        if (!is_digit(p[0]) && (p[1] == '.' || p[1] == ',')) {
            *w++ = p[0], *w++ = ' ', *w++ = p[1], *w++ = ' ', p += 2;
        } else {
            *w++ = *p++;
        }
    }
    *w = 0;
    return o;
}

static char *pass_after_dot(const char *in) { /* ([\.,])([^0-9]) -> " \1 \2" */
    char *o = malloc(2 * strlen(in) + 1), *w = o;
    if (!o) return NULL;
    for (const char *p = in; *p;) {
        if ((p[0] == '.' || p[0] == ',') && p[1] && !is_digit(p[1])) {
            *w++ = ' ', *w++ = p[0], *w++ = ' ', *w++ = p[1], p += 2;
        } else {
            *w++ = *p++;
        }
    }
    *w = 0;
    return o;
}

static char *pass_digit_dash(const char *in) { /* ([0-9])(-) -> "\1 \2 " */
    char *o = malloc(2 * strlen(in) + 1), *w = o;
    if (!o) return NULL;
    for (const char *p = in; *p;) {
        if (is_digit(p[0]) && p[1] == '-') {
            *w++ = p[0], *w++ = ' ', *w++ = '-', *w++ = ' ', p += 2;
        } else {
            *w++ = *p++;
        }
    }
    *w = 0;
    return o;
}

static char *regex_passes(const char *s) {
    char *(*const passes[])(const char *) = {pass_punct, pass_before_dot, pass_after_dot,
                                              pass_digit_dash};
    char *cur = NULL;
    for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
        char *next = passes[i](cur ? cur : s);
        free(cur);
        if (!next) return NULL;
        cur = next;
    }
    return cur;
}

/* ' '.join(s.split()) in place, with Python's whitespace. */
static void squeeze_spaces(char *s) {
    char *w = s;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t k = py_space(p);
        if (k) {
            p += k;
            continue;
        }
        if (w != s) *w++ = ' ';
        while (*p && !py_space(p)) *w++ = (char)*p++;
    }
    *w = 0;
}

char *wf_metrics_tok13a(const char *line) {
    size_t len = strlen(line);
    char *s = malloc(len + 3);
    if (!s) return NULL;
    s[0] = ' ', memcpy(s + 1, line, len), s[len + 1] = ' ', s[len + 2] = 0; /* f" {line} " */
    s = replace_all(s, "<skipped>", "");
    s = replace_all(s, "-\n", "");
    s = replace_all(s, "\n", " ");
    if (s && strchr(s, '&')) {
        s = replace_all(s, "&quot;", "\"");
        s = replace_all(s, "&amp;", "&");
        s = replace_all(s, "&lt;", "<");
        s = replace_all(s, "&gt;", ">");
    }
    if (!s) return NULL;
    char *t = regex_passes(s);
    free(s);
    if (t) squeeze_spaces(t);
    return t;
}

/* BLEU's _preprocess_segment: rstrip (Python whitespace), then 13a; the tokens are split in place
 * into *toks (malloc'd array of pointers into the returned buffer). */
static char *segment_tokens(const char *line, const char ***toks, int64_t *n) {
    size_t end = strlen(line), cut = 0;
    for (size_t i = 0; i < end;) {
        size_t k = py_space((const unsigned char *)line + i);
        if (!k) cut = i + 1, i++;
        else i += k;
    }
    char *tmp = malloc(cut + 1);
    if (!tmp) return NULL;
    memcpy(tmp, line, cut), tmp[cut] = 0;
    char *s = wf_metrics_tok13a(tmp);
    free(tmp);
    if (!s) return NULL;
    size_t len = strlen(s), count = len ? 1 : 0;
    for (size_t i = 0; i < len; i++) count += s[i] == ' ';
    *toks = malloc((count + 1) * sizeof **toks);
    if (!*toks) return free(s), NULL;
    *n = 0;
    for (char *p = len ? s : NULL; p;) {
        (*toks)[(*n)++] = p;
        p = strchr(p, ' ');
        if (p) *p++ = 0;
    }
    return s;
}

typedef struct ngram { int order; const char *const *tok; } ngram; /* tok[0..order) */

static int ngram_cmp(const void *a, const void *b) {
    const ngram *x = a, *y = b;
    if (x->order != y->order) return x->order - y->order;
    for (int k = 0; k < x->order; k++) {
        int c = strcmp(x->tok[k], y->tok[k]);
        if (c) return c;
    }
    return 0;
}

/* All n-grams of orders 1..4 of toks, sorted; *count of them. */
static ngram *ngrams_sorted(const char *const *toks, int64_t n, int64_t *count) {
    ngram *g = malloc((size_t)(4 * n + 1) * sizeof *g);
    if (!g) return NULL;
    int64_t c = 0;
    for (int o = 1; o <= WF_BLEU_MAX_ORDER; o++)
        for (int64_t i = 0; i + o <= n; i++) g[c++] = (ngram){o, toks + i};
    qsort(g, (size_t)c, sizeof *g, ngram_cmp);
    *count = c;
    return g;
}

/* Occurrences of key in sorted g (n,). */
static int64_t ngram_count(const ngram *g, int64_t n, const ngram *key) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (ngram_cmp(&g[mid], key) < 0) lo = mid + 1;
        else hi = mid;
    }
    int64_t c = 0;
    while (lo + c < n && ngram_cmp(&g[lo + c], key) == 0) c++;
    return c;
}

typedef struct seg_ref { char *buf; const char **toks; int64_t n, n_grams; ngram *grams; } seg_ref;

/* One segment's statistics, added to out: hypothesis length, closest reference length, clipped
 * counts and totals per order. refs (k,) are this segment's present references. */
static wf_status segment_stats(const char *hyp, const char *const *refs, int64_t k, wf_bleu *out) {
    wf_status s = WF_OK;
    seg_ref h = {0}, *r = calloc((size_t)k + 1, sizeof *r);
    if (!r || !(h.buf = segment_tokens(hyp, &h.toks, &h.n)) ||
        !(h.grams = ngrams_sorted(h.toks, h.n, &h.n_grams))) {
        s = wf_error(WF_ERR_OOM, "bleu: out of host memory");
        goto done;
    }
    int64_t closest = -1;
    for (int64_t j = 0; j < k; j++) {
        if (!(r[j].buf = segment_tokens(refs[j], &r[j].toks, &r[j].n)) ||
            !(r[j].grams = ngrams_sorted(r[j].toks, r[j].n, &r[j].n_grams))) {
            s = wf_error(WF_ERR_OOM, "bleu: out of host memory");
            goto done;
        }
        int64_t d = llabs(h.n - r[j].n), dc = llabs(h.n - closest);
        if (closest < 0 || d < dc || (d == dc && r[j].n < closest)) closest = r[j].n;
    }
    out->sys_len += h.n, out->ref_len += closest < 0 ? 0 : closest;
    for (int64_t i = 0; i < h.n_grams;) { /* each distinct hypothesis n-gram once */
        int64_t c = 1;
        while (i + c < h.n_grams && ngram_cmp(&h.grams[i], &h.grams[i + c]) == 0) c++;
        int64_t best = 0;
        for (int64_t j = 0; j < k; j++) {
            int64_t rc = ngram_count(r[j].grams, r[j].n_grams, &h.grams[i]);
            if (rc > best) best = rc;
        }
        out->counts[h.grams[i].order - 1] += c < best ? c : best;
        out->totals[h.grams[i].order - 1] += c;
        i += c;
    }
done:
    for (int64_t j = 0; r && j < k; j++) free(r[j].buf), free(r[j].toks), free(r[j].grams);
    free(r), free(h.buf), free(h.toks), free(h.grams);
    return s;
}

/* BLEU.compute_bleu with smooth_method="exp", effective_order=False; my_log(0) = -9999999999. */
static void compute_bleu(wf_bleu *b) {
    b->bp = b->sys_len < b->ref_len
                ? (b->sys_len > 0 ? exp(1.0 - (double)b->ref_len / (double)b->sys_len) : 0.0)
                : 1.0;
    b->ratio = b->ref_len > 0 ? (double)b->sys_len / (double)b->ref_len : 0.0;
    bool any = false;
    for (int o = 0; o < WF_BLEU_MAX_ORDER; o++) any |= b->counts[o] != 0, b->precisions[o] = 0;
    b->score = 0;
    if (!any) return; /* sacrebleu's early stop (#141): all precisions stay 0 */
    double smooth_mteval = 1.0, logsum = 0;
    for (int o = 0; o < WF_BLEU_MAX_ORDER && b->totals[o] != 0; o++) {
        if (b->counts[o] == 0) {
            smooth_mteval *= 2;
            b->precisions[o] = 100.0 / (smooth_mteval * (double)b->totals[o]);
        } else {
            b->precisions[o] = 100.0 * (double)b->counts[o] / (double)b->totals[o];
        }
    }
    for (int o = 0; o < WF_BLEU_MAX_ORDER; o++)
        logsum += b->precisions[o] == 0.0 ? -9999999999.0 : log(b->precisions[o]);
    b->score = b->bp * exp(logsum / WF_BLEU_MAX_ORDER);
}

wf_status wf_metrics_bleu(const char *const *hyps, const char *const *const *refs, int64_t n,
                          int64_t n_refs, wf_bleu *out) {
    memset(out, 0, sizeof *out);
    if (n_refs <= 0) return wf_error(WF_ERR_INVALID, "bleu: no reference stream");
    const char **seg_refs = malloc((size_t)n_refs * sizeof *seg_refs);
    if (!seg_refs) return wf_error(WF_ERR_OOM, "bleu: out of host memory");
    wf_status s = WF_OK;
    for (int64_t i = 0; i < n && s == WF_OK; i++) {
        int64_t k = 0;
        for (int64_t r = 0; r < n_refs; r++)
            if (refs[r][i]) seg_refs[k++] = refs[r][i];
        if (!hyps[i]) s = wf_error(WF_ERR_INVALID, "bleu: hypothesis %lld is NULL", (long long)i);
        else if (k == 0)
            s = wf_error(WF_ERR_INVALID, "bleu: hypothesis %lld has no reference", (long long)i);
        else s = segment_stats(hyps[i], seg_refs, k, out);
    }
    free(seg_refs);
    if (s == WF_OK) compute_bleu(out);
    return s;
}
