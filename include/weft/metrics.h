/* Evaluation metrics on labels and strings: classification (accuracy, macro/micro-F1 and the
 * per-class table, as scikit-learn), corpus BLEU (as sacrebleu's corpus_bleu with its defaults)
 * and ROUGE-1/2/L (as Google's rouge-score package without stemming). Everything is computed in
 * double on the host; nothing here touches a backend. The trainer's running accumulator
 * (wf_eval_acc in trainer.h) uses the same F1 formula, 2 tp / (2 tp + fp + fn).
 * References: sklearn/metrics/_classification.py, sacrebleu/metrics/bleu.py,
 * sacrebleu/tokenizers/tokenizer_13a.py, rouge_score/rouge_scorer.py + tokenize.py. */
#ifndef WEFT_METRICS_H
#define WEFT_METRICS_H

#include <stdint.h>

#include "weft/status.h"

/* ---- classification -------------------------------------------------------------------- */

/* Labels are the sorted union of y_true and y_pred (scikit-learn's unique_labels); a ratio with
 * a zero denominator is 0 (zero_division=0). All arrays are malloc'd; wf_metrics_cls_free frees
 * them. */
typedef struct wf_cls_metrics {
    int64_t n;                       /* samples */
    int64_t n_labels;                /* distinct labels */
    int64_t *labels;                 /* (n_labels,) ascending */
    int64_t *tp, *fp, *fn, *support; /* (n_labels,) support = tp + fn (true count) */
    double *precision, *recall, *f1; /* (n_labels,) */
    double accuracy;                 /* correct / n */
    double macro_precision, macro_recall, macro_f1; /* unweighted means over labels */
    double micro_precision, micro_recall, micro_f1; /* from tp, fp, fn summed over labels */
} wf_cls_metrics;

/* y_true, y_pred: (n,). n == 0 is an error (scikit-learn raises too). */
wf_status wf_metrics_cls(const int64_t *y_true, const int64_t *y_pred, int64_t n,
                         wf_cls_metrics *out);
void wf_metrics_cls_free(wf_cls_metrics *m);

/* ---- BLEU ---------------------------------------------------------------------------------- */

#define WF_BLEU_MAX_ORDER 4

/* sacrebleu's BLEUScore: score and precisions in percent (0-100). */
typedef struct wf_bleu {
    double score;
    double precisions[WF_BLEU_MAX_ORDER]; /* per n-gram order, smoothed ("exp") */
    double bp;                            /* brevity penalty */
    double ratio;                         /* sys_len / ref_len (0 when ref_len is 0) */
    int64_t sys_len, ref_len;             /* tokens; ref_len sums the closest reference lengths */
    int64_t counts[WF_BLEU_MAX_ORDER];    /* clipped matching n-grams */
    int64_t totals[WF_BLEU_MAX_ORDER];    /* hypothesis n-grams */
} wf_bleu;

/* Corpus BLEU: hyps (n,); refs (n_refs, n): refs[r][i] is reference r of hypothesis i, or NULL
 * where hypothesis i has fewer references (sacrebleu's None). Tokenizer 13a, exp smoothing,
 * max order 4, case-sensitive. Strings are UTF-8 without newlines. */
wf_status wf_metrics_bleu(const char *const *hyps, const char *const *const *refs, int64_t n,
                          int64_t n_refs, wf_bleu *out);

/* sacrebleu's Tokenizer13a on one line (after BLEU's rstrip): a malloc'd string of tokens joined
 * by single spaces; NULL when out of memory. */
char *wf_metrics_tok13a(const char *line);

/* ---- ROUGE --------------------------------------------------------------------------------- */

typedef struct wf_rouge_prf { double precision, recall, fmeasure; } wf_rouge_prf;
typedef struct wf_rouge { wf_rouge_prf rouge1, rouge2, rougeL; } wf_rouge;

/* RougeScorer(["rouge1","rouge2","rougeL"], use_stemmer=False).score(target, prediction). */
wf_status wf_metrics_rouge(const char *target, const char *prediction, wf_rouge *out);

/* Mean of each number over n pairs (summed in order, then divided by n); per_pair (n,) may be
 * NULL. */
wf_status wf_metrics_rouge_mean(const char *const *targets, const char *const *predictions,
                                int64_t n, wf_rouge *mean, wf_rouge *per_pair);

#endif
