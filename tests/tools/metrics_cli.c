/* metrics_cli: the evaluation metrics (weft/metrics.h) from the command line, for the interop test
 * against scikit-learn, sacrebleu and rouge-score. Input files are UTF-8, one item per line
 * ('\n' ends a line; the last one may lack it, and "\n" is one empty line). Numbers print with
 * %.17g (round-trips a double).
 *   metrics_cli cls TRUE PRED            integer labels; prints accuracy, macro/micro P/R/F1, then
 *                                        "label L tp fp fn support precision recall f1" per label
 *   metrics_cli bleu HYPS REFS...        one file per reference stream, as many lines as HYPS; a
 *                                        line holding only the byte 0x01 is an absent reference
 *   metrics_cli tok13a FILE              each line through the 13a tokenizer
 *   metrics_cli rouge TARGETS PREDS      "pair I" + 9 numbers per pair, then "mean" + 9 numbers:
 *                                        rouge1 P R F, rouge2 P R F, rougeL P R F
 * Bad input or a failed call prints a message and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/metrics.h"

static int fail(const char *what) {
    fprintf(stderr, "metrics_cli: %s: %s\n", what, wf_last_error());
    return 1;
}

/* The lines of path (malloc'd array of pointers into one malloc'd buffer); exits 1 on error. */
static char **read_lines(const char *path, int64_t *n, char **buf) {
    FILE *f = fopen(path, "rb");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f), rewind(f);
    *buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (!f || !*buf || fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "metrics_cli: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    (*buf)[size] = 0;
    int64_t count = size > 0 && (*buf)[size - 1] != '\n'; /* an unterminated last line counts */
    for (long i = 0; i < size; i++) count += (*buf)[i] == '\n';
    char **lines = malloc((size_t)(count + 1) * sizeof *lines);
    if (!lines) exit(1);
    char *p = *buf;
    for (int64_t i = 0; i < count; i++) {
        lines[i] = p;
        p = strchr(p, '\n');
        if (p) *p++ = 0;
    }
    *n = count;
    return lines;
}

static int count_mismatch(const char *what, int64_t got, int64_t want) {
    fprintf(stderr, "metrics_cli: %s has %lld lines, not %lld\n", what, (long long)got,
            (long long)want);
    return 1;
}

static int64_t *read_labels(const char *path, int64_t *n) {
    char *buf;
    char **lines = read_lines(path, n, &buf);
    int64_t *v = malloc((size_t)(*n + 1) * sizeof *v);
    for (int64_t i = 0; i < *n; i++) {
        char *end;
        v[i] = strtoll(lines[i], &end, 10);
        if (end == lines[i] || *end) {
            fprintf(stderr, "metrics_cli: %s:%lld: not an integer label\n", path, (long long)i + 1);
            exit(1);
        }
    }
    free(lines), free(buf);
    return v;
}

static int run_cls(char **argv) {
    int64_t n, m;
    int64_t *yt = read_labels(argv[0], &n), *yp = read_labels(argv[1], &m);
    if (n != m) return count_mismatch(argv[1], m, n);
    wf_cls_metrics c;
    if (wf_metrics_cls(yt, yp, n, &c) != WF_OK) return fail("cls");
    printf("accuracy %.17g\nmacro %.17g %.17g %.17g\nmicro %.17g %.17g %.17g\n", c.accuracy,
           c.macro_precision, c.macro_recall, c.macro_f1, c.micro_precision, c.micro_recall,
           c.micro_f1);
    for (int64_t k = 0; k < c.n_labels; k++)
        printf("label %lld %lld %lld %lld %lld %.17g %.17g %.17g\n", (long long)c.labels[k],
               (long long)c.tp[k], (long long)c.fp[k], (long long)c.fn[k], (long long)c.support[k],
               c.precision[k], c.recall[k], c.f1[k]);
    wf_metrics_cls_free(&c);
    free(yt), free(yp);
    return 0;
}

static int run_bleu(int argc, char **argv) {
    int64_t n, n_refs = argc - 1;
    char *hbuf, **rbuf = malloc((size_t)n_refs * sizeof *rbuf);
    char **hyps = read_lines(argv[0], &n, &hbuf);
    const char *const **refs = malloc((size_t)n_refs * sizeof *refs);
    for (int64_t r = 0; r < n_refs; r++) {
        int64_t m;
        char **lines = read_lines(argv[1 + r], &m, &rbuf[r]);
        if (m != n) return count_mismatch(argv[1 + r], m, n);
        for (int64_t i = 0; i < n; i++)
            if (strcmp(lines[i], "\x01") == 0) lines[i] = NULL;
        refs[r] = (const char *const *)lines;
    }
    wf_bleu b;
    if (wf_metrics_bleu((const char *const *)hyps, refs, n, n_refs, &b) != WF_OK)
        return fail("bleu");
    printf("score %.17g\nprecisions", b.score);
    for (int o = 0; o < WF_BLEU_MAX_ORDER; o++) printf(" %.17g", b.precisions[o]);
    printf("\nbp %.17g\nratio %.17g\nsys_len %lld\nref_len %lld\ncounts", b.bp, b.ratio,
           (long long)b.sys_len, (long long)b.ref_len);
    for (int o = 0; o < WF_BLEU_MAX_ORDER; o++) printf(" %lld", (long long)b.counts[o]);
    printf("\ntotals");
    for (int o = 0; o < WF_BLEU_MAX_ORDER; o++) printf(" %lld", (long long)b.totals[o]);
    printf("\n");
    for (int64_t r = 0; r < n_refs; r++) free((void *)refs[r]), free(rbuf[r]);
    free(refs), free(rbuf), free(hyps), free(hbuf);
    return 0;
}

static int run_tok13a(char **argv) {
    int64_t n;
    char *buf, **lines = read_lines(argv[0], &n, &buf);
    for (int64_t i = 0; i < n; i++) {
        char *t = wf_metrics_tok13a(lines[i]);
        if (!t) return fprintf(stderr, "metrics_cli: out of memory\n"), 1;
        printf("%s\n", t);
        free(t);
    }
    free(lines), free(buf);
    return 0;
}

static void print_rouge(const wf_rouge *r) {
    const wf_rouge_prf *v[3] = {&r->rouge1, &r->rouge2, &r->rougeL};
    for (int k = 0; k < 3; k++)
        printf(" %.17g %.17g %.17g", v[k]->precision, v[k]->recall, v[k]->fmeasure);
    printf("\n");
}

static int run_rouge(char **argv) {
    int64_t n, m;
    char *tbuf, *pbuf, **tg = read_lines(argv[0], &n, &tbuf), **pr = read_lines(argv[1], &m, &pbuf);
    if (n != m) return count_mismatch(argv[1], m, n);
    wf_rouge mean, *per = malloc((size_t)(n + 1) * sizeof *per);
    wf_status s = wf_metrics_rouge_mean((const char *const *)tg, (const char *const *)pr, n, &mean,
                                        per);
    if (s != WF_OK) return fail("rouge");
    for (int64_t i = 0; i < n; i++) printf("pair %lld", (long long)i), print_rouge(&per[i]);
    printf("mean"), print_rouge(&mean);
    free(per), free(tg), free(pr), free(tbuf), free(pbuf);
    return 0;
}

int main(int argc, char **argv) {
    const char *usage = "usage: metrics_cli cls TRUE PRED | bleu HYPS REFS... | tok13a FILE | "
                        "rouge TARGETS PREDS\n";
    if (argc >= 4 && strcmp(argv[1], "cls") == 0) return run_cls(argv + 2);
    if (argc >= 4 && strcmp(argv[1], "bleu") == 0) return run_bleu(argc - 2, argv + 2);
    if (argc >= 3 && strcmp(argv[1], "tok13a") == 0) return run_tok13a(argv + 2);
    if (argc >= 4 && strcmp(argv[1], "rouge") == 0) return run_rouge(argv + 2);
    fputs(usage, stderr);
    return 2;
}
