"""weft's evaluation metrics (host/eval, weft/metrics.h) against the reference Python packages.

Run by meson (suite 'interop') as: run-interop.sh test_metrics.py BUILD/tests/metrics_cli
1. classification: random label/prediction arrays (classes missing from either side, negative and
   sparse label values, n = 1..300) against scikit-learn's accuracy_score,
   precision/recall/f1_score (average="macro" | "micro", zero_division=0) and
   precision_recall_fscore_support(average=None) over the sorted label union;
2. the 13a tokenizer line by line against sacrebleu's Tokenizer13a (exact strings), and corpus
   BLEU against sacrebleu's BLEU().corpus_score (defaults) on corpora with punctuation, numbers,
   apostrophes, quotes, hyphens, HTML entities, unicode letters and whitespace, empty hypotheses
   and 1-4 reference streams with absent (None) references;
3. ROUGE-1/2/L per pair and their mean against rouge-score's RougeScorer(use_stemmer=False).
Tolerance: 1e-9 relative (1e-12 absolute near 0). Both sides compute in IEEE double with the same
formulas and the same libm (log, exp); the only differences are summation order (numpy's pairwise
mean in scikit-learn's macro average) and they are a few ulps, so anything beyond 1e-9 is a bug.
Counts and lengths must be equal. Everything is generated here with fixed seeds.
Exit code: 0 pass, 1 fail.
"""
import math
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sklearn.metrics import (accuracy_score, f1_score, precision_recall_fscore_support,
                             precision_score, recall_score)

CLI = sys.argv[1]
failures = []
max_rel = [0.0]
n_checks = [0]
bleu_scores = []
TMP = tempfile.mkdtemp(prefix="weft_metrics_")


def check(cond, what):
    n_checks[0] += 1
    if not cond:
        failures.append(what)
        if len(failures) <= 20:
            print("FAIL", what)


def near(got, want, what):
    """1e-9 relative: both sides are double computations of the same formula (see docstring)."""
    d = abs(got - want)
    if want != 0:
        max_rel[0] = max(max_rel[0], d / abs(want))
    check(math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), f"{what}: weft {got!r} vs {want!r}")


def write_lines(name, lines):
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8", newline="") as f:
        for line in lines:
            assert "\n" not in line
            f.write(line + "\n")
    return path


def cli(*args):
    r = subprocess.run([CLI, *args], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"metrics_cli {args[0]} failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode("utf-8")


# ---- 1. classification ----------------------------------------------------------------------

def check_cls(case, y_true, y_pred):
    out = cli("cls", write_lines("t.txt", map(str, y_true)), write_lines("p.txt", map(str, y_pred)))
    rows = [l.split() for l in out.splitlines()]
    got = {r[0]: [float(x) for x in r[1:]] for r in rows if r[0] != "label"}
    labels = sorted(set(y_true) | set(y_pred))
    near(got["accuracy"][0], accuracy_score(y_true, y_pred), f"{case} accuracy")
    for avg in ("macro", "micro"):
        kw = dict(average=avg, zero_division=0)
        want = [precision_score(y_true, y_pred, **kw), recall_score(y_true, y_pred, **kw),
                f1_score(y_true, y_pred, **kw)]
        for g, w, name in zip(got[avg], want, ("precision", "recall", "f1")):
            near(g, w, f"{case} {avg} {name}")
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None,
                                                 zero_division=0)
    lab_rows = [r_ for r_ in rows if r_[0] == "label"]
    check([int(x[1]) for x in lab_rows] == labels, f"{case} labels")
    for k, row in enumerate(lab_rows[:len(labels)]):
        check(int(row[5]) == s[k], f"{case} support of {labels[k]}")
        for g, w, name in zip(row[6:9], (p[k], r[k], f[k]), ("precision", "recall", "f1")):
            near(float(g), w, f"{case} label {labels[k]} {name}")


def test_classification():
    rng = random.Random(1234)
    check_cls("docstring", [0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1])
    check_cls("one sample", [3], [3])
    check_cls("all wrong", [1, 1, 1], [2, 2, 2])
    for i in range(60):
        n = rng.choice([1, 2, 5, 17, 64, 300])
        k = rng.randint(1, 12)
        values = rng.sample(range(-5, 40), k)  # sparse, possibly negative label values
        true_pool = values[:max(1, k - rng.randint(0, 2))]  # some classes only predicted
        pred_pool = values[rng.randint(0, min(2, k - 1)):]  # some classes never predicted
        acc = rng.random()
        y_true = [rng.choice(true_pool) for _ in range(n)]
        y_pred = [t if rng.random() < acc and t in pred_pool else rng.choice(pred_pool)
                  for t in y_true]
        check_cls(f"cls#{i}(n={n},k={k})", y_true, y_pred)


# ---- 2. 13a tokenizer and BLEU ----------------------------------------------------------------

WORDS = ["the", "The", "cat", "sat", "on", "mat", "a", "dog", "runs", "quickly", "and", "is",
         "Hello,", "world.", "world!", "3.5", "1,000", "2,5", "5-6", "10-", "-7", "it's", "don't",
         "'quoted'", '"double"', "well-known", "e.g.", "U.S.", "etc.,", "end.", "x,y", "(paren)",
         "[x]", "{y}", "a/b", "$5", "100%", "#tag", "@user", "~", "^", "`tick`", "|", "\\",
         "a;b", "q?", "café", "naïve", "Straße", "日本語", "😀", "—", "–dash", "…", "«guillemets»",
         "&amp;", "&quot;hi&quot;", "&lt;b&gt;", "&amp;lt;", "<skipped>", "1.", ".5", "a.b.c",
         "x--y", "9-", "-", ".", ",", "...", ",,", "İstanbul", "\u212a"]
SPACES = [" ", " ", " ", " ", "  ", "\t", "\u00a0", "\u2003", "\u3000", "\x0b", "\x1f",
          "\u2028", "\x85", "\r"]


def sentence(rng, lo=0, hi=14):
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    out = ""
    for i, w in enumerate(words):
        out += (rng.choice(SPACES) if i else "") + w
    if rng.random() < 0.2:
        out += rng.choice([" ", "  ", "\t", "\u00a0", "\u2003 "])  # trailing: BLEU rstrips it
    return out


def mutate(rng, s):
    """A hypothesis near a reference: words dropped, replaced, swapped; sometimes empty."""
    r = rng.random()
    if r < 0.06:
        return ""
    if r < 0.1:
        return "   "
    words = s.split(" ")
    out = []
    for w in words:
        x = rng.random()
        if x < 0.15:
            continue
        out.append(rng.choice(WORDS) if x < 0.3 else w)
    if len(out) > 2 and rng.random() < 0.3:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def test_tok13a(rng):
    lines = [sentence(rng) for _ in range(400)] + [w for w in WORDS] + [
        "", " ", "a.,b", "1.2.3", "A-1-2", "x.-y", "&amp;quot;", "a <skipped> b", "-\u00a0-",
        "trailing space ", "Mr. Smith's", '"Hi," she said.']
    lines = [l for l in lines if l != "\x01"]
    out = cli("tok13a", write_lines("tok.txt", lines)).split("\n")[:-1]
    tok = Tokenizer13a()
    check(len(out) == len(lines), f"tok13a: {len(out)} lines for {len(lines)}")
    for line, got in zip(lines, out):
        want = tok(line)
        check(got == want, f"tok13a({line!r}): weft {got!r} vs sacrebleu {want!r}")


def check_bleu(case, hyps, refs):
    """refs: list of reference streams, each len(hyps) long; None marks an absent reference."""
    paths = [write_lines(f"ref{r}.txt", ["\x01" if x is None else x for x in stream])
             for r, stream in enumerate(refs)]
    out = cli("bleu", write_lines("hyp.txt", hyps), *paths)
    got = {l.split()[0]: l.split()[1:] for l in out.splitlines()}
    want = BLEU().corpus_score(hyps, refs)
    bleu_scores.append(want.score)
    near(float(got["score"][0]), want.score, f"{case} score")
    for n in range(4):
        near(float(got["precisions"][n]), want.precisions[n], f"{case} precision {n + 1}")
    near(float(got["bp"][0]), want.bp, f"{case} bp")
    near(float(got["ratio"][0]), want.ratio, f"{case} ratio")
    check(int(got["sys_len"][0]) == want.sys_len, f"{case} sys_len {got['sys_len']} vs {want.sys_len}")
    check(int(got["ref_len"][0]) == want.ref_len, f"{case} ref_len {got['ref_len']} vs {want.ref_len}")
    check([int(x) for x in got["counts"]] == list(want.counts), f"{case} counts {got['counts']} vs {want.counts}")
    check([int(x) for x in got["totals"]] == list(want.totals), f"{case} totals {got['totals']} vs {want.totals}")


def test_bleu(rng):
    check_bleu("identical", ["the cat sat on the mat ."], [["the cat sat on the mat ."]])
    check_bleu("all empty", ["", ""], [["a b c", "d"]])
    check_bleu("short", ["the cat"], [["the cat sat"]])
    check_bleu("no match", ["x y z w"], [["a b c d"]])
    for i in range(40):
        n = rng.choice([1, 2, 5, 20, 80])
        n_refs = rng.randint(1, 4)
        base = [sentence(rng, 1) for _ in range(n)]
        refs = [base] + [[mutate(rng, s) for s in base] for _ in range(n_refs - 1)]
        for stream in refs[1:]:  # variable reference counts: sacrebleu's None
            for j in range(n):
                if rng.random() < 0.2:
                    stream[j] = None
        hyps = [mutate(rng, s) for s in base]
        check_bleu(f"bleu#{i}(n={n},refs={n_refs})", hyps, refs)


# ---- 3. ROUGE -------------------------------------------------------------------------------

ROUGE_WORDS = ["The", "cat", "sat", "on", "the", "mat", "A", "dog", "ran", "Hello,", "world!",
               "it's", "well-known", "3.5", "1,000", "x2", "Straße", "café", "İstanbul",
               "\u212aelvin", "日本", "naïve", "e.g.", "U.S.A.", "--", "(a)", "b_c", "CAT", "Mat."]


def rouge_pair(rng):
    target = " ".join(rng.choice(ROUGE_WORDS) for _ in range(rng.randint(0, 25)))
    words = target.split(" ")
    kind = rng.randrange(7)
    if kind == 0:
        pred = target
    elif kind == 1:
        rng.shuffle(words)
        pred = " ".join(words)
    elif kind == 2:
        pred = " ".join(w for w in words if rng.random() < 0.6)
    elif kind == 3:
        pred = " ".join(rng.choice(["zebra", "quux", "9"]) for _ in range(rng.randint(0, 8)))
    elif kind == 4:
        pred = ""
    elif kind == 5:
        pred = target.upper() + " extra words here"
    else:
        pred = " ".join(rng.choice(ROUGE_WORDS) for _ in range(rng.randint(0, 25)))
    return target, pred


def test_rouge(rng):
    pairs = [("The cat sat on the mat.", "the cat on the mat"), ("", ""), ("a", ""), ("", "a"),
             ("a a a b", "a b b b"), ("İstanbul", "i stanbul")]
    pairs += [rouge_pair(rng) for _ in range(300)]
    out = cli("rouge", write_lines("tg.txt", [t for t, _ in pairs]),
              write_lines("pr.txt", [p for _, p in pairs]))
    rows = [l.split() for l in out.splitlines()]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    sums = [0.0] * 9
    check(len(rows) == len(pairs) + 1, f"rouge: {len(rows)} rows for {len(pairs)} pairs")
    for i, (t, p) in enumerate(pairs):
        s = scorer.score(t, p)
        want = [v for k in ("rouge1", "rouge2", "rougeL")
                for v in (s[k].precision, s[k].recall, s[k].fmeasure)]
        for j in range(9):
            sums[j] += want[j]  # in pair order, as wf_metrics_rouge_mean sums
            near(float(rows[i][2 + j]), want[j], f"rouge pair {i} ({t!r}, {p!r}) value {j}")
    for j in range(9):
        near(float(rows[-1][1 + j]), sums[j] / len(pairs), f"rouge mean value {j}")


def main():
    rng = random.Random(20261128)
    np.random.seed(0)
    test_classification()
    test_tok13a(rng)
    test_bleu(rng)
    test_rouge(rng)
    print(f"{n_checks[0]} checks; BLEU scores from {min(bleu_scores):.2f} to {max(bleu_scores):.2f}, "
          f"{sum(0 < b < 100 for b in bleu_scores)} of {len(bleu_scores)} strictly between; "
          f"max relative difference seen: {max_rel[0]:.3g}")
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("metrics interop: all checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
