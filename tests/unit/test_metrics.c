/* Evaluation metrics (weft/metrics.h) on cases worked out by hand: classification counts and
 * F1 (and agreement with the trainer's wf_eval_finish), the 13a tokenizer's rules, BLEU with
 * smoothing and brevity penalty, ROUGE n-gram and LCS scores. The interop test
 * (tests/interop/test_metrics.py) checks the same code against the reference Python packages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "weft/metrics.h"
#include "weft/trainer.h"
#include "expect.h"

/* All values below are exact ratios of small integers: only the last bit may differ. */
#define NEAR(a, b) (fabs((double)(a) - (double)(b)) <= 1e-12 * fmax(1.0, fabs((double)(b))))

static void classification(void) {
    /* scikit-learn's f1_score docstring example: macro 0.2666..., micro 0.333... */
    int64_t yt[] = {0, 1, 2, 0, 1, 2}, yp[] = {0, 2, 1, 0, 0, 1};
    wf_cls_metrics c;
    EXPECT(wf_metrics_cls(yt, yp, 6, &c) == WF_OK);
    EXPECT(c.n_labels == 3 && c.labels[0] == 0 && c.labels[2] == 2);
    EXPECT(c.tp[0] == 2 && c.fp[0] == 1 && c.fn[0] == 0 && c.support[0] == 2);
    EXPECT(NEAR(c.f1[0], 0.8) && NEAR(c.f1[1], 0) && NEAR(c.f1[2], 0));
    EXPECT(NEAR(c.precision[0], 2.0 / 3) && NEAR(c.recall[0], 1));
    EXPECT(NEAR(c.accuracy, 1.0 / 3) && NEAR(c.macro_f1, 0.8 / 3) && NEAR(c.micro_f1, 1.0 / 3));
    /* the trainer's accumulator gives the same accuracy and macro-F1 */
    wf_eval_acc acc = {.count = 6, .correct = 2, .n_classes = 3};
    for (int i = 0; i < 6; i++) {
        if (yt[i] == yp[i]) acc.tp[yt[i]]++;
        else acc.fp[yp[i]]++, acc.fn[yt[i]]++;
    }
    wf_eval_result r = wf_eval_finish(&acc, WF_HEAD_SEQ_CLS);
    EXPECT(r.accuracy == c.accuracy && r.macro_f1 == c.macro_f1);
    wf_metrics_cls_free(&c);

    /* a predicted label that never occurs as a true one: precision 1/0 -> recall 0/0 -> 0 */
    int64_t t2[] = {5, 5}, p2[] = {5, 7};
    EXPECT(wf_metrics_cls(t2, p2, 2, &c) == WF_OK);
    EXPECT(c.n_labels == 2 && c.labels[1] == 7 && c.support[1] == 0);
    EXPECT(NEAR(c.precision[0], 1) && NEAR(c.recall[0], 0.5) && NEAR(c.f1[0], 2.0 / 3));
    EXPECT(c.precision[1] == 0 && c.recall[1] == 0 && c.f1[1] == 0);
    EXPECT(NEAR(c.macro_f1, 1.0 / 3) && NEAR(c.micro_f1, 0.5));
    wf_metrics_cls_free(&c);
    EXPECT(wf_metrics_cls(t2, p2, 0, &c) == WF_ERR_INVALID);
}

static void tok13a_is(const char *in, const char *want) {
    char *t = wf_metrics_tok13a(in);
    EXPECT(t && strcmp(t, want) == 0);
    if (t && strcmp(t, want) != 0) fprintf(stderr, "  13a(%s) = [%s], want [%s]\n", in, t, want);
    free(t);
}

static void tokenizer_13a(void) {
    /* punctuation split; , . kept inside numbers; a dash after a digit split */
    tok13a_is("Hello, world! It's 3.5-4 km.", "Hello , world ! It's 3.5 - 4 km .");
    /* entities undone in order quot, amp, lt, gt: &amp;lt; becomes < */
    tok13a_is("&quot;a&quot; &amp;lt; <skipped>x", "\" a \" < x");
    /* one match consumes both characters: "a.," splits the period, then ", " by the third rule */
    tok13a_is("a.,b 1,000", "a . , b 1,000");
    tok13a_is("  \xe2\x80\x83 ", ""); /* U+2003 is Python whitespace */
}

static void bleu(void) {
    const char *h1[] = {"the cat sat on the mat"}, *r1[] = {"the cat sat on the mat"};
    const char *const *refs1[] = {r1};
    wf_bleu b;
    EXPECT(wf_metrics_bleu(h1, refs1, 1, 1, &b) == WF_OK);
    EXPECT(NEAR(b.score, 100) && b.bp == 1 && b.sys_len == 6 && b.ref_len == 6);

    /* counts 4/5, 2/4, 0/3, 0/2: exp smoothing gives 100/(2*3) and 100/(4*2) */
    const char *h2[] = {"a b c d e"}, *r2[] = {"a b x d e"};
    const char *const *refs2[] = {r2};
    EXPECT(wf_metrics_bleu(h2, refs2, 1, 1, &b) == WF_OK);
    EXPECT(b.counts[0] == 4 && b.counts[1] == 2 && b.counts[2] == 0 && b.totals[3] == 2);
    EXPECT(NEAR(b.precisions[2], 100.0 / 6) && NEAR(b.precisions[3], 12.5));
    double want = exp((log(80.0) + log(50.0) + log(100.0 / 6) + log(12.5)) / 4);
    EXPECT(NEAR(b.score, want));

    /* too short for 3-grams: the order loop stops, the score is 0; bp = exp(1 - 3/2) against
     * the closest of two references (3 and 1 tokens: a tie at distance 1 goes to the shorter) */
    const char *h3[] = {"the cat"}, *ra[] = {"the cat sat"}, *rb[] = {"a"};
    const char *const *refs3[] = {ra, rb};
    EXPECT(wf_metrics_bleu(h3, refs3, 1, 2, &b) == WF_OK);
    EXPECT(b.score == 0 && b.ref_len == 1 && b.bp == 1 && NEAR(b.ratio, 2));
    const char *const *refs3b[] = {ra};
    EXPECT(wf_metrics_bleu(h3, refs3b, 1, 1, &b) == WF_OK);
    EXPECT(b.score == 0 && NEAR(b.bp, exp(-0.5)) && b.precisions[0] == 100 && b.precisions[2] == 0);

    const char *none[] = {NULL};
    const char *const *refs4[] = {none};
    EXPECT(wf_metrics_bleu(h3, refs4, 1, 1, &b) == WF_ERR_INVALID);
}

static void rouge(void) {
    wf_rouge r;
    EXPECT(wf_metrics_rouge("The cat sat on the mat.", "the cat on the mat", &r) == WF_OK);
    EXPECT(NEAR(r.rouge1.precision, 1) && NEAR(r.rouge1.recall, 5.0 / 6));
    EXPECT(NEAR(r.rouge1.fmeasure, 10.0 / 11));
    EXPECT(NEAR(r.rouge2.precision, 0.75) && NEAR(r.rouge2.recall, 0.6));
    EXPECT(NEAR(r.rouge2.fmeasure, 2.0 / 3));
    EXPECT(NEAR(r.rougeL.precision, 1) && NEAR(r.rougeL.recall, 5.0 / 6));
    /* str.lower(): U+0130 -> "i" + U+0307 (dropped), Kelvin sign -> "k" */
    EXPECT(wf_metrics_rouge("\xc4\xb0stanbul \xe2\x84\xaa", "i stanbul k", &r) == WF_OK);
    EXPECT(r.rouge1.fmeasure == 1 && r.rougeL.fmeasure == 1);
    EXPECT(wf_metrics_rouge("", "anything", &r) == WF_OK);
    EXPECT(r.rouge1.fmeasure == 0 && r.rougeL.precision == 0);

    const char *tg[] = {"a b", "a b"}, *pr[] = {"a b", "c"};
    wf_rouge mean, per[2];
    EXPECT(wf_metrics_rouge_mean(tg, pr, 2, &mean, per) == WF_OK);
    EXPECT(NEAR(mean.rouge1.fmeasure, 0.5) && per[1].rouge2.recall == 0);
}

int main(void) {
    classification();
    tokenizer_13a();
    bleu();
    rouge();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
