/* Classification metrics from label arrays, as scikit-learn's accuracy_score and
 * precision_recall_fscore_support (average=None | "macro" | "micro", zero_division=0) with the
 * labels being the sorted union of y_true and y_pred. F-score from counts as scikit-learn >= 1.3
 * computes it: F1 = 2 tp / (2 tp + fp + fn), the same formula as wf_eval_finish (trainer.c).
 * Not here: sample weights, multilabel input, beta != 1. */
#include <stdlib.h>
#include <string.h>

#include "weft/metrics.h"

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Index of v in the sorted labels (it is always there). */
static int64_t label_index(const int64_t *labels, int64_t n, int64_t v) {
    const int64_t *p = bsearch(&v, labels, (size_t)n, sizeof *labels, cmp_i64);
    WF_ASSERT(p != NULL);
    return p - labels;
}

static double ratio0(double num, double den) { return den > 0 ? num / den : 0.0; }

/* Sorted distinct values of y_true ∪ y_pred into m->labels; sets m->n_labels. */
static wf_status collect_labels(const int64_t *y_true, const int64_t *y_pred, int64_t n,
                                wf_cls_metrics *m) {
    int64_t *all = malloc((size_t)(2 * n) * sizeof *all);
    if (!all)
        return wf_error(WF_ERR_OOM, "metrics: out of host memory for %lld labels", (long long)n);
    memcpy(all, y_true, (size_t)n * sizeof *all);
    memcpy(all + n, y_pred, (size_t)n * sizeof *all);
    qsort(all, (size_t)(2 * n), sizeof *all, cmp_i64);
    int64_t k = 0;
    for (int64_t i = 0; i < 2 * n; i++)
        if (i == 0 || all[i] != all[k - 1]) all[k++] = all[i];
    m->labels = all, m->n_labels = k;
    return WF_OK;
}

wf_status wf_metrics_cls(const int64_t *y_true, const int64_t *y_pred, int64_t n,
                         wf_cls_metrics *out) {
    memset(out, 0, sizeof *out);
    if (n <= 0) return wf_error(WF_ERR_INVALID, "metrics: no samples to score");
    out->n = n;
    WF_TRY(collect_labels(y_true, y_pred, n, out));
    int64_t L = out->n_labels;
    out->tp = calloc((size_t)L * 4, sizeof(int64_t));
    out->precision = calloc((size_t)L * 3, sizeof(double));
    if (!out->tp || !out->precision) {
        wf_metrics_cls_free(out);
        return wf_error(WF_ERR_OOM, "metrics: out of host memory for %lld classes", (long long)L);
    }
    out->fp = out->tp + L, out->fn = out->tp + 2 * L, out->support = out->tp + 3 * L;
    out->recall = out->precision + L, out->f1 = out->precision + 2 * L;

    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t t = label_index(out->labels, L, y_true[i]);
        int64_t p = label_index(out->labels, L, y_pred[i]);
        out->support[t]++;
        if (t == p) out->tp[t]++, correct++;
        else out->fp[p]++, out->fn[t]++;
    }
    out->accuracy = (double)correct / (double)n;

    int64_t tp = 0, fp = 0, fn = 0;
    for (int64_t k = 0; k < L; k++) {
        double tk = (double)out->tp[k], fpk = (double)out->fp[k], fnk = (double)out->fn[k];
        out->precision[k] = ratio0(tk, tk + fpk);
        out->recall[k] = ratio0(tk, tk + fnk);
        out->f1[k] = ratio0(2.0 * tk, 2.0 * tk + fpk + fnk);
        out->macro_precision += out->precision[k];
        out->macro_recall += out->recall[k];
        out->macro_f1 += out->f1[k];
        tp += out->tp[k], fp += out->fp[k], fn += out->fn[k];
    }
    out->macro_precision /= (double)L, out->macro_recall /= (double)L, out->macro_f1 /= (double)L;
    out->micro_precision = ratio0((double)tp, (double)(tp + fp));
    out->micro_recall = ratio0((double)tp, (double)(tp + fn));
    out->micro_f1 = ratio0(2.0 * (double)tp, 2.0 * (double)tp + (double)fp + (double)fn);
    return WF_OK;
}

void wf_metrics_cls_free(wf_cls_metrics *m) {
    free(m->labels);
    free(m->tp);
    free(m->precision);
    memset(m, 0, sizeof *m);
}
