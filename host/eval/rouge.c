/* ROUGE-1, ROUGE-2 and ROUGE-L as Google's rouge-score package: RougeScorer(["rouge1", "rouge2",
 * "rougeL"], use_stemmer=False).score(target, prediction) (rouge_score/rouge_scorer.py) with its
 * default tokenizer (rouge_score/tokenize.py: lowercase, [^a-z0-9]+ -> " ", split, keep
 * ^[a-z0-9]+$ tokens). Not here: stemming, rougeLsum, bootstrap aggregation. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "weft/metrics.h"

/* The token stream of one text: NUL-separated tokens in buf, pointers in tok (n,). */
typedef struct rouge_toks { char *buf; const char **tok; int64_t n; } rouge_toks;

/* Python's str.lower() maps only two non-ASCII characters onto [a-z0-9]: U+0130 (to "i" plus
 * U+0307, which is then dropped as non-alphanumeric) and the Kelvin sign U+212A (to "k"). Every
 * other byte of a multi-byte character becomes a separator. Returns the ASCII character or 0
 * and the byte length consumed in *len; *ends is set when a separator follows (U+0307). */
static char lower_alnum(const unsigned char *s, size_t *len, bool *ends) {
    *len = 1, *ends = false;
    if (s[0] >= 'A' && s[0] <= 'Z') return (char)(s[0] - 'A' + 'a');
    if ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')) return (char)s[0];
    if (s[0] == 0xc4 && s[1] == 0xb0) return *len = 2, *ends = true, 'i';
    if (s[0] == 0xe2 && s[1] == 0x84 && s[2] == 0xaa) return *len = 3, 'k';
    return 0;
}

static wf_status tokenize(const char *text, rouge_toks *t) {
    size_t len = strlen(text);
    t->buf = malloc(len + 1);
    t->tok = malloc((len / 2 + 1) * sizeof *t->tok); /* tokens are separated: at most (len+1)/2 */
    t->n = 0;
    if (!t->buf || !t->tok) return wf_error(WF_ERR_OOM, "rouge: out of host memory");
    char *w = t->buf;
    bool in_tok = false;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t k;
        bool ends;
        char c = lower_alnum(p, &k, &ends);
        p += k;
        if (c) {
            if (!in_tok) t->tok[t->n++] = w, in_tok = true;
            *w++ = c;
        }
        if ((!c || ends) && in_tok) {
            *w++ = 0, in_tok = false;
        }
    }
    *w = 0;
    return WF_OK;
}

static void toks_free(rouge_toks *t) { free(t->buf), free(t->tok); }

/* scoring.fmeasure: 2 p r / (p + r), 0 when p + r is 0. */
static wf_rouge_prf prf(double p, double r) {
    return (wf_rouge_prf){p, r, p + r > 0 ? 2 * p * r / (p + r) : 0.0};
}

static bool gram_eq(const char *const *a, const char *const *b, int order) {
    for (int k = 0; k < order; k++)
        if (strcmp(a[k], b[k]) != 0) return false;
    return true;
}

/* _score_ngrams: sum over target n-grams of min(target count, prediction count). Quadratic in
 * the token count, which is fine for evaluation-sized texts. */
static wf_rouge_prf score_ngrams(const rouge_toks *tg, const rouge_toks *pr, int order) {
    int64_t nt = tg->n >= order ? tg->n - order + 1 : 0;
    int64_t np = pr->n >= order ? pr->n - order + 1 : 0;
    int64_t inter = 0;
    for (int64_t i = 0; i < nt; i++) {
        bool first = true; /* count each distinct target n-gram once, at its first position */
        for (int64_t j = 0; j < i && first; j++) first = !gram_eq(tg->tok + j, tg->tok + i, order);
        if (!first) continue;
        int64_t ct = 0, cp = 0;
        for (int64_t j = i; j < nt; j++) ct += gram_eq(tg->tok + j, tg->tok + i, order);
        for (int64_t j = 0; j < np; j++) cp += gram_eq(pr->tok + j, tg->tok + i, order);
        inter += ct < cp ? ct : cp;
    }
    return prf((double)inter / (double)(np > 1 ? np : 1),  /* / max(prediction count, 1) */
               (double)inter / (double)(nt > 1 ? nt : 1)); /* / max(target count, 1) */
}

/* _score_lcs: longest common subsequence of the token lists, one DP row at a time. */
static wf_status score_lcs(const rouge_toks *tg, const rouge_toks *pr, wf_rouge_prf *out) {
    *out = (wf_rouge_prf){0, 0, 0};
    if (tg->n == 0 || pr->n == 0) return WF_OK;
    int64_t *row = calloc((size_t)(2 * (pr->n + 1)), sizeof *row);
    if (!row) return wf_error(WF_ERR_OOM, "rouge: out of host memory");
    int64_t *prev = row, *cur = row + pr->n + 1;
    for (int64_t i = 1; i <= tg->n; i++) {
        for (int64_t j = 1; j <= pr->n; j++)
            cur[j] = strcmp(tg->tok[i - 1], pr->tok[j - 1]) == 0 ? prev[j - 1] + 1
                     : prev[j] > cur[j - 1]                      ? prev[j]
                                                                 : cur[j - 1];
        int64_t *t = prev;
        prev = cur, cur = t;
    }
    int64_t lcs = prev[pr->n];
    free(row);
    *out = prf((double)lcs / (double)pr->n, (double)lcs / (double)tg->n);
    return WF_OK;
}

wf_status wf_metrics_rouge(const char *target, const char *prediction, wf_rouge *out) {
    rouge_toks tg = {0}, pr = {0};
    wf_status s = tokenize(target, &tg);
    if (s == WF_OK) s = tokenize(prediction, &pr);
    if (s == WF_OK) {
        out->rouge1 = score_ngrams(&tg, &pr, 1);
        out->rouge2 = score_ngrams(&tg, &pr, 2);
        s = score_lcs(&tg, &pr, &out->rougeL);
    }
    toks_free(&tg), toks_free(&pr);
    return s;
}

static void prf_add(wf_rouge_prf *acc, const wf_rouge_prf *v) {
    acc->precision += v->precision, acc->recall += v->recall, acc->fmeasure += v->fmeasure;
}

static void prf_div(wf_rouge_prf *acc, double n) {
    acc->precision /= n, acc->recall /= n, acc->fmeasure /= n;
}

wf_status wf_metrics_rouge_mean(const char *const *targets, const char *const *predictions,
                                int64_t n, wf_rouge *mean, wf_rouge *per_pair) {
    memset(mean, 0, sizeof *mean);
    if (n <= 0) return wf_error(WF_ERR_INVALID, "rouge: no pairs to score");
    for (int64_t i = 0; i < n; i++) {
        wf_rouge r;
        WF_TRY(wf_metrics_rouge(targets[i], predictions[i], &r));
        if (per_pair) per_pair[i] = r;
        prf_add(&mean->rouge1, &r.rouge1), prf_add(&mean->rouge2, &r.rouge2);
        prf_add(&mean->rougeL, &r.rougeL);
    }
    prf_div(&mean->rouge1, (double)n), prf_div(&mean->rouge2, (double)n);
    prf_div(&mean->rougeL, (double)n);
    return WF_OK;
}
