"""Encoding speed of weft's tokenizer (tok_cli bench) against Hugging Face `tokenizers`, single
threaded (TOKENIZERS_PARALLELISM=false, no encode_batch), on a multi-megabyte text made from
tests/interop/data/tokenizer_corpus.txt repeated with variations (shuffled and resampled words).
Both sides encode the same granularity: one call per line, then the whole text in 1 MiB chunks.
Tokenizers are trained here on that text (16k vocabularies) plus the real all-MiniLM-L6-v2 one.
Not a test: prints MB/s for both and the ratio (weft / tokenizers; above 1 is faster).

usage: bench_tokenizer.py TOK_CLI [MEGABYTES=4]
"""
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_tokenizer as T  # noqa: E402  (the corpus and the tokenizer recipes)
from tokenizers import Tokenizer  # noqa: E402

CHUNK = 1 << 20


def bench_text(lines, megabytes):
    """The corpus lines and their variations (test_tokenizer.varied_lines) up to the size."""
    n = 1000
    while True:
        out = T.varied_lines(lines, n)
        if sum(len(l.encode()) + 1 for l in out) >= megabytes * 1e6:
            return "\n".join(out) + "\n"
        n *= 2


def chunks(text):
    """~1 MiB pieces cut at line ends, the same for both sides."""
    data = text.encode()
    res, start = [], 0
    while start < len(data):
        end = data.find(b"\n", min(start + CHUNK, len(data)) - 1)
        end = len(data) if end < 0 else end + 1
        res.append(data[start:end].decode())
        start = end
    return res


def hf_speed(tok, pieces, nbytes):
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for p in pieces:
            tok.encode(p, add_special_tokens=False)
        best = max(best, nbytes / (time.perf_counter() - t0) / 1e6)
    return best


def weft_speed(tok_cli, tok_json, path, whole_chunks):
    best = 0.0
    args = [tok_cli, tok_json, "bench", path, "3"] + (["--whole"] if whole_chunks else [])
    r = subprocess.run(args, capture_output=True, text=True, check=True)
    m = re.match(r"([0-9.]+) MB/s", r.stdout)
    best = float(m.group(1))
    return best


def main():
    tok_cli = sys.argv[1]
    mb = float(sys.argv[2]) if len(sys.argv) > 2 else 4
    _, lines = T.read_corpus()
    text = bench_text(lines, mb)
    train = text.split("\n")
    nbytes = len(text.encode())
    d = tempfile.mkdtemp()
    line_file = os.path.join(d, "lines.txt")
    with open(line_file, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    chunk_files = []
    for k, c in enumerate(chunks(text)):
        chunk_files.append(os.path.join(d, "chunk%d.txt" % k))
        with open(chunk_files[-1], "w", encoding="utf-8", newline="") as f:
            f.write(c)

    def trained(fn, *a, **kw):
        old = T.training_text
        T.training_text = lambda _lines: train
        try:
            return fn(lines, *a, **kw)
        finally:
            T.training_text = old

    recipes = [("gpt2 (byte-level BPE)", lambda: trained(T.gpt2_like, vocab_size=16000)),
               ("llama3 (Split+ByteLevel)", lambda: trained(T.llama3_like, vocab_size=16000)),
               ("qwen2 (NFC+Split)", lambda: trained(T.qwen2_like, vocab_size=16000)),
               ("spm (Llama-2 style)", lambda: trained(T.spm_like, vocab_size=16000)),
               ("bert (WordPiece)", lambda: trained(T.wordpiece, vocab_size=16000))]
    real = T.minilm()
    if real is not None:
        recipes.append(("all-MiniLM-L6-v2", lambda: real))
    print("text: %.2f MB, %d lines, %d chunks; MB/s, best of 3" % (nbytes / 1e6, len(train) - 1,
                                                                  len(chunk_files)))
    print("%-26s %-6s %10s %10s %7s" % ("tokenizer", "calls", "tokenizers", "weft", "ratio"))
    for name, make in recipes:
        tok = make()
        tok.no_truncation()
        tok.no_padding()
        tok_json = os.path.join(d, "tokenizer.json")
        tok.save(tok_json)
        tok = Tokenizer.from_file(tok_json)
        tok.no_truncation()
        tok.no_padding()
        for label, pieces in (("line", text.split("\n")[:-1]), ("chunk", chunks(text))):
            hf = hf_speed(tok, pieces, nbytes)
            if label == "line":
                ours = weft_speed(tok_cli, tok_json, line_file, False)
            else:  # every chunk file as one text, weighted by size
                total_t = 0.0
                for cf in chunk_files:
                    total_t += os.path.getsize(cf) / 1e6 / weft_speed(tok_cli, tok_json, cf, True)
                ours = nbytes / 1e6 / total_t
            print("%-26s %-6s %10.2f %10.2f %6.1fx" % (name, label, hf, ours, ours / hf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
